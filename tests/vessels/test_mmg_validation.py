"""Our MMG vs shipmmg 0.0.11 on the KVLCC2 L7 fixture (same parameters, rho = 1025, n = 17.95 rps)."""

import math

import numpy as np
import pytest

from vessels import catalogue, manoeuvres

shipmmg = pytest.importorskip("shipmmg.mmg_3dof")
U0 = 2.29 * 0.512
NPS = 17.95


def _shipmmg_kwargs(p):
    rho, L, d = p.rho, p.L, p.d
    nd = 0.5 * rho * L * L * d
    return dict(
        L_pp=L, B=p.B, d=d, x_G=p.x_G, D_p=p.D_p, m=p.m, I_zG=p.I_zG, A_R=p.A_R, η=p.eta,
        m_x=p.m_x_dash * nd, m_y=p.m_y_dash * nd, J_z=p.J_z_dash * nd * L * L, f_α=p.f_alpha, ϵ=p.epsilon,
        t_R=p.t_R, x_R=p.x_R, a_H=p.a_H, x_H=p.x_H_dash * L, γ_R_minus=p.gamma_R_minus, γ_R_plus=p.gamma_R_plus,
        l_R=p.l_R_dash, κ=p.kappa, t_P=p.t_P, w_P0=p.w_P0, x_P=p.x_P / L, k_0=p.k_0, k_1=p.k_1, k_2=p.k_2,
        R_0_dash=p.R_0_dash, X_vv_dash=p.X_vv_dash, X_vr_dash=p.X_vr_dash, X_rr_dash=p.X_rr_dash,
        X_vvvv_dash=p.X_vvvv_dash, Y_v_dash=p.Y_v_dash, Y_r_dash=p.Y_r_dash, Y_vvv_dash=p.Y_vvv_dash,
        Y_vvr_dash=p.Y_vvr_dash, Y_vrr_dash=p.Y_vrr_dash, Y_rrr_dash=p.Y_rrr_dash, N_v_dash=p.N_v_dash,
        N_r_dash=p.N_r_dash, N_vvv_dash=p.N_vvv_dash, N_vvr_dash=p.N_vvr_dash, N_vrr_dash=p.N_vrr_dash,
        N_rrr_dash=p.N_rrr_dash,
    )  # fmt: skip


def test_turning_35_matches_shipmmg():
    vt = catalogue.get("KVLCC2_L7")
    p = vt.mmg
    tl = np.linspace(0.0, 200.0, 4001)
    sol = shipmmg.simulate(**_shipmmg_kwargs(p), time_list=tl, δ_list=np.full(tl.size, math.radians(35)),
                           nps_list=np.full(tl.size, NPS), u0=U0, ρ=p.rho, rtol=1e-8, atol=1e-10)  # fmt: skip
    u, v, r, xn, ye, psi = sol.sol(tl)[:6]
    # shipmmg: x north, y east -> ours: x east, y north
    ref = manoeuvres.turning_metrics(tl, ye, xn, psi, u, v, r)
    ours = manoeuvres.turning_circle(vt, 35.0, speed=U0, revs=NPS, dt=0.05, max_time=200.0,
                                     rudder_rate_deg=35.0 / 0.05).metrics  # fmt: skip
    for k in ("advance_m", "tactical_diameter_m"):
        assert ours[k] == pytest.approx(ref[k], rel=0.03), k
    assert ref["advance_m"] > 2 * p.L  # a real turn happened


@pytest.mark.parametrize("angle", [10.0, 20.0])
def test_zigzag_matches_shipmmg(angle):
    vt = catalogue.get("KVLCC2_L7")
    p = vt.mmg
    rate = 15.68
    tl = np.linspace(0.0, 80.0, 8001)
    δ, u, v, r, x, y, psi = shipmmg.zigzag_test_mmg_3dof(
        shipmmg.Mmg3DofBasicParams(**{k: val for k, val in _shipmmg_kwargs(p).items()
                                      if k in shipmmg.Mmg3DofBasicParams.__dataclass_fields__}),
        shipmmg.Mmg3DofManeuveringParams(**{k: val for k, val in _shipmmg_kwargs(p).items()
                                            if k in shipmmg.Mmg3DofManeuveringParams.__dataclass_fields__}),
        math.radians(angle), math.radians(angle), tl, np.full(tl.size, NPS),
        δ_rad_rate=math.radians(rate), u0=U0, ρ=p.rho,
    )  # fmt: skip
    ref = manoeuvres.zigzag_metrics(tl, np.asarray(psi), angle)
    ours = manoeuvres.zigzag(vt, angle, angle, speed=U0, revs=NPS, dt=0.01, max_time=80.0,
                             rudder_rate_deg=rate).metrics  # fmt: skip
    assert ours["first_overshoot_deg"] == pytest.approx(ref["first_overshoot_deg"], abs=1.5)
    assert ours["initial_turning_time_s"] == pytest.approx(ref["initial_turning_time_s"], rel=0.07)
    assert ref["first_overshoot_deg"] > 1.0
