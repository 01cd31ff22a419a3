r"""Batched MMG 3-DOF manoeuvring model (Yasukawa & Yoshimura 2015).

Reference: H. Yasukawa, Y. Yoshimura (2015), *Introduction of MMG standard method for ship
manoeuvring predictions*, J Mar Sci Technol 20:37-52, doi:10.1007/s00773-014-0293-y.
The force formulas follow the open-source ``shipmmg`` 0.0.11 implementation term by term (it is
used side by side as the validation reference in ``tests/vessels``), with the robustness changes
listed under *Low speed, reverse revs* below.

Equations of motion (midship origin, x_G = longitudinal position of the centre of gravity)::

    (m + m_x) du/dt - (m + m_y) v r - x_G m r^2              = X_H + X_R + X_P
    (m + m_y) dv/dt + (m + m_x) u r + x_G m dr/dt            = Y_H + Y_R
    (I_zG + x_G^2 m + J_z) dr/dt + x_G m (dv/dt + u r)       = N_H + N_R

Hull (U = sqrt(u^2 + v_m^2), v' = v/U, r' = r L/U; shipmmg uses v_m = v - x_G r in U and beta)::

    X_H = 1/2 rho L d U^2 (-R'_0 + X'_vv v'^2 + X'_vr v' r' + X'_rr r'^2 + X'_vvvv v'^4)
    Y_H = 1/2 rho L d U^2 (Y'_v v' + Y'_r r' + Y'_vvv v'^3 + Y'_vvr v'^2 r' + Y'_vrr v' r'^2 + Y'_rrr r'^3)
    N_H = 1/2 rho L^2 d U^2 (N'_v v' + N'_r r' + N'_vvv v'^3 + N'_vvr v'^2 r' + N'_vrr v' r'^2 + N'_rrr r'^3)

Propeller (beta = asin(-v_m/U), beta_P = beta - x'_P r')::

    w_P = w_P0 exp(-4 beta_P^2),  J = (1 - w_P) u / (n D_p),  K_T = k_0 + k_1 J + k_2 J^2
    X_P = (1 - t_P) rho n^2 D_p^4 K_T

Rudder (beta_R = beta - l'_R r', gamma_R = gamma_R_minus if beta_R < 0 else gamma_R_plus)::

    u_R = eps u (1 - w_P) sqrt(eta {1 + kappa (sqrt(1 + 8 K_T/(pi J^2)) - 1)}^2 + (1 - eta))
    v_R = U gamma_R beta_R,  alpha_R = delta - atan2(v_R, u_R),  U_R^2 = u_R^2 + v_R^2
    F_N = 1/2 rho A_R f_alpha U_R^2 sin(alpha_R)
    X_R = -(1 - t_R) F_N sin(delta),  Y_R = -(1 + a_H) F_N cos(delta),
    N_R = -(x_R + a_H x_H) F_N cos(delta)

Signs: positive rudder gives F_N > 0, Y_R < 0 at the stern and N_R > 0, i.e. a turn to
starboard (r > 0, heading increasing clockwise) -- the MMG convention, identical to shipmmg.

Low speed, reverse revs (documented deviations from the textbook formulas, which divide by U, J):

* The products are expanded so that nothing divides by n or J: with u_a = (1 - w_P) u,
  ``n^2 D^2 K_T = k_0 n^2 D^2 + k_1 n D u_a + k_2 u_a^2`` and
  ``u_a^2 (1 + 8 K_T / (pi J^2)) = u_a^2 + 8/pi n^2 D^2 K_T``. For n > 0 and u > 0 this is the
  same formula (to rounding); at u = 0 it gives the correct bollard-pull limit of u_R (shipmmg
  has a dimensionally inconsistent special case there). The inner square root is clamped at 0.
* v', r', beta use U_t = max(U, U_floor) with U_floor = 0.01 sqrt(g L) (a Froude number of
  0.01), so they stay bounded as the ship stops; the forces still scale with the true U^2 and
  vanish at rest. Above U_floor the model is exactly the formula above.
* n <= 0 (engine stopped or astern): the propeller gives astern thrust
  ``X_P = -(1 - t_P) rho D^2 c_astern (k_0 n^2 D^2 + k_1 n D clip(u_a, -|n| D, |n| D))``,
  i.e. the ahead K_T curve mirrored, with the advance ratio clipped to |J| <= 1 and an astern
  efficiency ``c_astern`` (default 0.7, typical of fixed-pitch propellers running astern).
  The rudder then sees no propeller race: u_R = eps u_a (negative when moving astern).
* The ahead K_T polynomial is used unchanged for n > 0 (also when moving astern).

Shallow water (optional, ``MMGParams.water_depth`` = h in metres; None or inf = deep water):
the linear hull derivatives Y'_v, N'_v and N'_r are multiplied by the factors of Kijima et al.
(1990) in the form used by Maimun et al. (2011, Ocean Eng 38, doi:10.1016/j.oceaneng.2011.05.011)
and nikpau/mmgdynamics, with q = d/h and f(n) = (1 - q)^(-n) - q (1 in deep water)::

    f_Yv = f(0.4 C_b B/d),  f_Nv = f(0.425 C_b B/d),  f_Nr = f(1.5 - 7.14 k),  k = 2 d / L

Applying ratios keeps each ship's calibrated deep-water values as the baseline. Added masses
are not corrected: the Clarke-type factors (m'_y x 7 at h/d = 1.3 for a B/d = 3.6 inland hull)
narrow the turning circle through the (m + m_y) v r surge coupling, against the observed widening
in shallow water. With these factors the M8's 35 deg tactical diameter grows from 1.9 L (deep)
to 2.6 L at h/d = 1.3 and 3.9 L at h/d = 1.2. Valid for h/d >= 1.1; ``validate()`` rejects
smaller depths. Non-linear derivatives, wake and thrust deduction are not corrected.

Integration: classical RK4 on (u, v, r, x, y, psi) with a fixed step. Rudder angle and
revolutions are first moved towards their commands at the rate limits (see
:func:`vessels.state.apply_actuators`) and ramp linearly over the step (exact for a rate-limited
actuator). A call with ``dt`` larger than ``batch.max_substep`` is split into equal sub-steps;
``max_substep`` is a property of the batch, not of its vessels, so a vessel gives bit-identical
results alone or in any batch.

The step is a numba kernel (``_step_kernel``, ``@njit(cache=True, fastmath=False)``) that loops
over the vessels in compiled code, each vessel through all its sub-steps and RK4 stages with
scalar arithmetic, reading its constants from one row of ``MMGBatch.consts``. Why: the former
numpy version paid ufunc call overhead for ~150 array operations per RK4 stage, ~0.4 ms per call
even for one vessel, while the environment steps the ego ship and its traffic every ~40 us; the
kernel costs a few microseconds at N = 1 and is several times faster at N = 10,000 as well (no
temporary arrays). Bit-reproducibility: no fastmath (no reassociation, no FMA contraction) and no
``parallel=True``; each vessel runs the same scalar code whatever the batch, so a vessel's result
is bit-identical alone or in any batch and run to run. The formulas and their operation order are
those of the former numpy code; only ``sin``, ``cos``, ``exp``, ``asin`` now come from the C
math library instead of numpy's SIMD loops, which can differ in the last bit. Input validation
(shapes, dt) stays in Python; the NaN / inf scan of commands and current runs in the kernel before
anything is written. Commands are passed as float64 arrays of length N or 1 and the current as
(N, 2) or (1, 2), so each kernel has one compiled signature (cached on disk in ``__pycache__``).
:func:`step` returns a new state; :func:`step_inplace` writes into existing arrays (the
environment's hot path). :func:`accelerations` calls the same compiled per-vessel function.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import numba
import numpy as np

from vessels.errors import ParameterError
from vessels.state import (
    ActuatorLimits,
    VesselBatch,
    VesselState,
    actuate,
    check_kernel_inputs,
    kernel_inputs,
    out_state,
    raise_kernel_error,
)

G = 9.81

# Parameters that must be > 0, >= 0, or lie in [0, 1).
_POSITIVE = ("L", "B", "d", "m", "I_zG", "D_p", "A_R", "H_R", "rho", "kappa", "epsilon", "f_alpha", "C_b")
_NON_NEGATIVE = ("m_x_dash", "m_y_dash", "J_z_dash", "gamma_R_minus", "gamma_R_plus", "astern_thrust_factor")
_UNIT_INTERVAL = ("t_P", "w_P0", "t_R")


@dataclass(frozen=True)
class MMGParams:
    """One ship's MMG parameter set. Dimensional values in SI units, ``*_dash`` non-dimensional.

    Non-dimensionalisation as in Yasukawa & Yoshimura (2015): masses by 1/2 rho L^2 d, inertia by
    1/2 rho L^4 d, forces by 1/2 rho L d U^2, moments by 1/2 rho L^2 d U^2, v' = v/U, r' = r L/U.
    ``x_P`` and ``x_R`` are dimensional longitudinal positions [m] (negative = aft of midship);
    ``x_H_dash`` and ``l_R_dash`` are fractions of L.
    """

    name: str
    L: float  # length between perpendiculars [m]
    B: float  # breadth [m]
    d: float  # draught [m]
    m: float  # mass [kg]
    x_G: float  # centre of gravity, forward of midship [m]
    I_zG: float  # yaw moment of inertia about G [kg m^2]
    D_p: float  # propeller diameter [m]
    A_R: float  # rudder area [m^2]
    H_R: float  # rudder span [m]
    x_P: float  # propeller position [m]
    x_R: float  # rudder position [m]
    C_b: float
    m_x_dash: float
    m_y_dash: float
    J_z_dash: float
    k_0: float
    k_1: float
    k_2: float
    R_0_dash: float
    X_vv_dash: float
    X_vr_dash: float
    X_rr_dash: float
    X_vvvv_dash: float
    Y_v_dash: float
    Y_r_dash: float
    Y_vvv_dash: float
    Y_vvr_dash: float
    Y_vrr_dash: float
    Y_rrr_dash: float
    N_v_dash: float
    N_r_dash: float
    N_vvv_dash: float
    N_vvr_dash: float
    N_vrr_dash: float
    N_rrr_dash: float
    t_P: float
    w_P0: float
    t_R: float
    a_H: float
    x_H_dash: float
    gamma_R_minus: float
    gamma_R_plus: float
    l_R_dash: float
    kappa: float
    epsilon: float
    f_alpha: float
    rho: float = 1000.0
    water_depth: float | None = None
    astern_thrust_factor: float = 0.7

    # -- derived ------------------------------------------------------------------------------
    @property
    def eta(self) -> float:
        """Propeller diameter / rudder span."""
        return self.D_p / self.H_R

    @property
    def nabla(self) -> float:
        """Displacement volume [m^3]."""
        return self.m / self.rho

    def validate(self) -> MMGParams:
        """Raise :class:`ParameterError` naming the first bad parameter; return self."""
        for f in fields(self):
            if f.name in ("name", "water_depth"):
                continue
            val = getattr(self, f.name)
            if isinstance(val, bool) or not isinstance(val, (int, float)):
                raise ParameterError(f"MMGParams({self.name}).{f.name} must be a number, got {type(val).__name__}")
            if not math.isfinite(val):
                raise ParameterError(f"MMGParams({self.name}).{f.name} is not finite ({val!r})")
        for k in _POSITIVE:
            if getattr(self, k) <= 0.0:
                raise ParameterError(f"MMGParams({self.name}).{k} must be > 0, got {getattr(self, k)!r}")
        for k in _NON_NEGATIVE:
            if getattr(self, k) < 0.0:
                raise ParameterError(f"MMGParams({self.name}).{k} must be >= 0, got {getattr(self, k)!r}")
        for k in _UNIT_INTERVAL:
            if not 0.0 <= getattr(self, k) < 1.0:
                raise ParameterError(f"MMGParams({self.name}).{k} must be in [0, 1), got {getattr(self, k)!r}")
        if self.C_b > 1.0:
            raise ParameterError(f"MMGParams({self.name}).C_b must be <= 1, got {self.C_b!r}")
        if self.k_0 <= 0.0:
            raise ParameterError(f"MMGParams({self.name}).k_0 must be > 0 (bollard thrust), got {self.k_0!r}")
        if self.R_0_dash <= 0.0:
            raise ParameterError(f"MMGParams({self.name}).R_0_dash must be > 0, got {self.R_0_dash!r}")
        if self.Y_v_dash >= 0.0 or self.N_r_dash >= 0.0:
            raise ParameterError(
                f"MMGParams({self.name}): Y_v_dash and N_r_dash must be < 0 (damping), "
                f"got {self.Y_v_dash!r}, {self.N_r_dash!r}"
            )
        if self.x_R >= 0.0 or self.x_P >= 0.0:
            raise ParameterError(f"MMGParams({self.name}): x_R and x_P must be aft of midship (< 0)")
        if abs(self.x_G) > 0.5 * self.L:
            raise ParameterError(f"MMGParams({self.name}).x_G must lie within the ship, got {self.x_G!r}")
        if self.water_depth is not None:
            h = self.water_depth
            if isinstance(h, bool) or not isinstance(h, (int, float)) or math.isnan(h):
                raise ParameterError(f"MMGParams({self.name}).water_depth must be a number or None, got {h!r}")
            if h < 1.1 * self.d:
                raise ParameterError(
                    f"MMGParams({self.name}).water_depth = {h!r} m is below 1.1 x draught ({1.1 * self.d:.3f} m); "
                    "the shallow-water corrections are not valid there"
                )
        return self

    def with_depth(self, water_depth: float | None) -> MMGParams:
        """A copy for another water depth (None = deep water)."""
        return replace(self, water_depth=water_depth).validate()

    def to_dict(self) -> dict:
        return asdict(self)

    # -- shallow water ------------------------------------------------------------------------
    def shallow_water_factors(self) -> dict[str, float]:
        """Multipliers for Y'_v, N'_v, N'_r at ``water_depth`` (1.0 in deep water); see the module doc."""
        keys = ("Y_v_dash", "N_v_dash", "N_r_dash")
        h = self.water_depth
        if h is None or math.isinf(h):
            return dict.fromkeys(keys, 1.0)
        q = self.d / h
        k = 2.0 * self.d / self.L
        cbd = self.C_b * self.B / self.d

        def f(n: float) -> float:
            return (1.0 - q) ** (-n) - q

        return {"Y_v_dash": f(0.4 * cbd), "N_v_dash": f(0.425 * cbd), "N_r_dash": f(1.5 - 7.14 * k)}

    def effective(self) -> MMGParams:
        """The parameter set with the shallow-water factors applied (self in deep water)."""
        f = self.shallow_water_factors()
        if all(v == 1.0 for v in f.values()):
            return self
        return replace(self, **{k: getattr(self, k) * v for k, v in f.items()})

    # -- steady state -------------------------------------------------------------------------
    def self_propulsion_revs(self, speed: float) -> float:
        """Propeller revs [rev/s] that hold ``speed`` [m/s] straight ahead (closed form).

        In steady straight motion beta = r' = 0, w_P = w_P0 and the rudder force is zero, so
        X_P = -X_H gives a quadratic in n: (1 - t_P) rho D^2 (k_0 n^2 D^2 + k_1 n D u_a + k_2 u_a^2)
        = 1/2 rho L d R'_0 U^2 with u_a = (1 - w_P0) U.
        """
        p = self.effective()
        if not math.isfinite(speed) or speed < 0.0:
            raise ParameterError(f"speed must be a finite number >= 0, got {speed!r}")
        ua = (1.0 - p.w_P0) * speed
        D = p.D_p
        resist = 0.5 * p.rho * p.L * p.d * p.R_0_dash * speed**2 / ((1.0 - p.t_P) * p.rho * D * D)
        a = p.k_0 * D * D
        b = p.k_1 * D * ua
        c = p.k_2 * ua * ua - resist
        return (-b + math.sqrt(b * b - 4.0 * a * c)) / (2.0 * a)

    def steady_speed(self, revs: float) -> float:
        """Straight-ahead steady speed [m/s] at ``revs`` > 0 (inverse of self_propulsion_revs)."""
        if revs <= 0.0:
            return 0.0
        lo, hi = 0.0, 1.0
        while self.self_propulsion_revs(hi) < revs:
            hi *= 2.0
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if self.self_propulsion_revs(mid) < revs:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)


# Per-vessel constant arrays of the batch, computed once in MMGBatch.__init__.
_BATCH_ARRAYS = (
    "L", "xG", "u_floor", "cX", "cN", "R0", "Xvv", "Xvr", "Xrr", "Xvvvv",
    "Yv", "Yr", "Yvvv", "Yvvr", "Yvrr", "Yrrr", "Nv", "Nr", "Nvvv", "Nvvr", "Nvrr", "Nrrr",
    "wP0", "xP", "D", "k0", "k1", "k2", "cT", "cTa", "kappa", "one_m_kappa", "eps", "eta", "one_m_eta",
    "lR", "gm", "gp", "cF", "cXR", "cYR", "cNR",
    "inv_mmx", "mmy", "xGm", "Izz", "inv_det", "inv_Izz", "mmx", "xGm2", "neg_xGm", "gdiff",
)  # fmt: skip


class MMGBatch(VesselBatch):
    """Structure-of-arrays form of N (possibly different) MMG parameter sets plus actuator limits.

    Build with :meth:`from_params`. ``params`` keeps the original :class:`MMGParams` objects;
    the shallow-water factors are applied here, once. ``consts`` is the (N, n_consts) C-contiguous
    float64 table the step kernel reads: the per-vessel arrays named in ``_BATCH_ARRAYS`` followed by
    the actuator limits, one row per vessel, packed at construction (the per-vessel arrays and
    ``limits`` are copies for reading: changing them afterwards does not change ``consts``).
    """

    _ARRAYS = _BATCH_ARRAYS
    DEFAULT_SUBSTEP = 0.5

    def __init__(self, params: list[MMGParams], limits: list[ActuatorLimits], max_substep: float = 0.5) -> None:
        self._init_common(params, limits, max_substep, MMGParams)
        eff = [p.effective() for p in params]

        def arr(fn) -> np.ndarray:
            return np.array([fn(p) for p in eff], dtype=np.float64)

        self.L = arr(lambda p: p.L)
        self.xG = arr(lambda p: p.x_G)
        self.u_floor = arr(lambda p: 0.01 * math.sqrt(G * p.L))
        self.cX = arr(lambda p: 0.5 * p.rho * p.L * p.d)
        self.cN = arr(lambda p: 0.5 * p.rho * p.L**2 * p.d)
        for attr, key in (
            ("R0", "R_0_dash"), ("Xvv", "X_vv_dash"), ("Xvr", "X_vr_dash"), ("Xrr", "X_rr_dash"),
            ("Xvvvv", "X_vvvv_dash"), ("Yv", "Y_v_dash"), ("Yr", "Y_r_dash"), ("Yvvv", "Y_vvv_dash"),
            ("Yvvr", "Y_vvr_dash"), ("Yvrr", "Y_vrr_dash"), ("Yrrr", "Y_rrr_dash"), ("Nv", "N_v_dash"),
            ("Nr", "N_r_dash"), ("Nvvv", "N_vvv_dash"), ("Nvvr", "N_vvr_dash"), ("Nvrr", "N_vrr_dash"),
            ("Nrrr", "N_rrr_dash"), ("wP0", "w_P0"), ("D", "D_p"), ("k0", "k_0"), ("k1", "k_1"),
            ("k2", "k_2"), ("kappa", "kappa"), ("eps", "epsilon"), ("gm", "gamma_R_minus"),
            ("gp", "gamma_R_plus"), ("lR", "l_R_dash"),
        ):  # fmt: skip
            setattr(self, attr, arr(lambda p, key=key: getattr(p, key)))
        self.xP = arr(lambda p: p.x_P / p.L)
        self.cT = arr(lambda p: (1.0 - p.t_P) * p.rho * p.D_p**2)
        self.cTa = arr(lambda p: (1.0 - p.t_P) * p.rho * p.D_p**2 * p.astern_thrust_factor)
        self.one_m_kappa = 1.0 - self.kappa
        self.eta = arr(lambda p: p.eta)
        self.one_m_eta = 1.0 - self.eta
        self.cF = arr(lambda p: 0.5 * p.rho * p.A_R * p.f_alpha)
        self.cXR = arr(lambda p: -(1.0 - p.t_R))
        self.cYR = arr(lambda p: -(1.0 + p.a_H))
        self.cNR = arr(lambda p: -(p.x_R + p.a_H * p.x_H_dash * p.L))
        m = arr(lambda p: p.m)
        mx = arr(lambda p: p.m_x_dash * 0.5 * p.rho * p.L**2 * p.d)
        my = arr(lambda p: p.m_y_dash * 0.5 * p.rho * p.L**2 * p.d)
        jz = arr(lambda p: p.J_z_dash * 0.5 * p.rho * p.L**4 * p.d)
        izg = arr(lambda p: p.I_zG)
        self.mmx = m + mx
        self.inv_mmx = 1.0 / self.mmx
        self.mmy = m + my
        self.xGm = self.xG * m
        self.Izz = izg + jz + self.xG**2 * m
        self.inv_det = 1.0 / (self.Izz * self.mmy - self.xGm**2)
        self.inv_Izz = 1.0 / self.Izz
        self.xGm2 = self.xGm * self.xGm
        self.neg_xGm = -self.xGm
        self.gdiff = self.gm - self.gp
        self.consts = _pack_consts(self)



# Column indices of MMGBatch.consts: the _BATCH_ARRAYS in order, then the actuator limits.
(
    _L, _XG, _UFLOOR, _CX, _CN, _R0, _XVV, _XVR, _XRR, _XVVVV,
    _YV, _YR, _YVVV, _YVVR, _YVRR, _YRRR, _NV, _NR, _NVVV, _NVVR, _NVRR, _NRRR,
    _WP0, _XP, _D, _K0, _K1, _K2, _CT, _CTA, _KAPPA, _ONE_M_KAPPA, _EPS, _ETA, _ONE_M_ETA,
    _LR, _GM, _GP, _CF, _CXR, _CYR, _CNR,
    _INV_MMX, _MMY, _XGM, _IZZ, _INV_DET, _INV_IZZ, _MMX, _XGM2, _NEG_XGM, _GDIFF,
    _RUDDER_MAX, _RUDDER_RATE, _REVS_MAX, _REVS_MIN, _REVS_RATE,
) = range(len(_BATCH_ARRAYS) + 5)  # fmt: skip
_N_CONSTS = len(_BATCH_ARRAYS) + 5
_EIGHT_OVER_PI = 8.0 / math.pi


def _pack_consts(b: MMGBatch) -> np.ndarray:
    """The (N, _N_CONSTS) C-contiguous float64 table the kernels read (one row per vessel)."""
    lim = b.limits
    cols = [getattr(b, name) for name in _BATCH_ARRAYS]
    cols += [lim.rudder_max, lim.rudder_rate, lim.revs_max, lim.revs_min, lim.revs_rate]
    if not cols[0].shape[0]:
        return np.zeros((0, _N_CONSTS))
    return np.ascontiguousarray(np.stack(cols, axis=1), dtype=np.float64)


@numba.njit(cache=True, fastmath=False)
def _accel(c: np.ndarray, i: int, u: float, v: float, r: float, sd: float, cd: float, n: float):
    """(du/dt, dv/dt, dr/dt) of vessel ``i`` (row of the constant table ``c``); sd, cd = sin, cos of the rudder.

    Scalar transcription of the formulas in the module docstring, in the operation order of the former
    numpy implementation; the astern branch (n <= 0) replaces X_P and u_R as documented there.
    """
    # kinematic non-dimensional quantities (shipmmg: U and beta from v_m = v - x_G r)
    vm = v - r * c[i, _XG]
    U2 = u * u + vm * vm
    U = math.sqrt(U2)
    inv = 1.0 / max(U, c[i, _UFLOOR])
    vd = v * inv
    rd = (r * c[i, _L]) * inv
    beta = math.asin(-(vm * inv))
    # propeller: w_P = w_P0 exp(-4 (beta - x'_P r')^2), u_a = (1 - w_P) u
    t = beta - c[i, _XP] * rd
    t = math.exp((t * t) * -4.0)
    ua = (1.0 - c[i, _WP0] * t) * u
    nD = n * c[i, _D]
    # Tn = n^2 D^2 K_T = k0 (nD)^2 + k1 nD ua + k2 ua^2
    Tn = (c[i, _K2] * ua + c[i, _K1] * nD) * ua + (c[i, _K0] * nD) * nD
    eps = c[i, _EPS]
    if n <= 0.0:  # astern thrust, no propeller race at the rudder
        lim = abs(nD)
        uac = min(max(ua, -lim), lim)
        Ta = (c[i, _K1] * nD) * uac + (c[i, _K0] * nD) * nD
        XP = -(Ta * c[i, _CTA])
        uR = eps * ua
    else:
        XP = c[i, _CT] * Tn
        # rudder inflow: u_R = eps sqrt(eta P^2 + (1 - eta) u_a^2), P = (1-kappa)|u_a| + kappa sqrt(u_a^2 + 8/pi Tn)
        race = max(Tn, 0.0) * _EIGHT_OVER_PI + ua * ua
        P = math.sqrt(race) * c[i, _KAPPA] + c[i, _ONE_M_KAPPA] * abs(ua)
        P = (P * P) * c[i, _ETA] + (c[i, _ONE_M_ETA] * ua) * ua
        uR = math.sqrt(P) * eps
    # v_R = U gamma_R beta_R, gamma_R = gamma_minus if beta_R < 0 else gamma_plus
    bR = beta - c[i, _LR] * rd
    g = c[i, _GDIFF] * (1.0 if bR < 0.0 else 0.0) + c[i, _GP]
    vR = ((g * U) * bR)
    UR = math.sqrt(uR * uR + vR * vR)
    # F_N = cF U_R^2 sin(delta - atan2(v_R, u_R)) = cF U_R (u_R sin(delta) - v_R cos(delta))
    FN = ((uR * sd - vR * cd) * UR) * c[i, _CF]
    FNc = FN * cd
    # hull
    vd2 = vd * vd
    rd2 = rd * rd
    X = c[i, _XVV] * vd2 + (c[i, _XVR] * vd) * rd
    X = X + c[i, _XRR] * rd2
    X = X + (c[i, _XVVVV] * vd2) * vd2
    X = ((X - c[i, _R0]) * U2) * c[i, _CX]
    X = X + XP
    X = X + (c[i, _CXR] * FN) * sd
    Y = ((c[i, _YV] + c[i, _YVVV] * vd2) + c[i, _YVRR] * rd2) * vd
    t2 = ((c[i, _YR] + c[i, _YRRR] * rd2) + c[i, _YVVR] * vd2) * rd
    Y = ((Y + t2) * U2) * c[i, _CX] + c[i, _CYR] * FNc
    N = ((c[i, _NV] + c[i, _NVVV] * vd2) + c[i, _NVRR] * rd2) * vd
    t2 = ((c[i, _NR] + c[i, _NRRR] * rd2) + c[i, _NVVR] * vd2) * rd
    N = ((N + t2) * U2) * c[i, _CN] + c[i, _CNR] * FNc
    # equations of motion, solved for the accelerations as in shipmmg
    ur = u * r
    du = (((c[i, _MMY] * v) * r + (c[i, _XGM] * r) * r) + X) * c[i, _INV_MMX]
    dv = (((Y - c[i, _MMX] * ur) * c[i, _IZZ] - N * c[i, _XGM]) + c[i, _XGM2] * ur) * c[i, _INV_DET]
    dr = ((dv + ur) * c[i, _NEG_XGM] + N) * c[i, _INV_IZZ]
    return du, dv, dr


@numba.njit(cache=True, fastmath=False)
def _accel_kernel(c, u, v, r, sd, cd, n, du, dv, dr) -> None:
    for i in range(u.shape[0]):
        du[i], dv[i], dr[i] = _accel(c, i, u[i], v[i], r[i], sd[i], cd[i], n[i])


def accelerations(
    b: MMGBatch,
    u: np.ndarray,
    v: np.ndarray,
    r: np.ndarray,
    sin_d: np.ndarray,
    cos_d: np.ndarray,
    n: np.ndarray,
    astern: np.ndarray | None = None,
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """du/dt, dv/dt, dr/dt of the MMG model for water-relative (u, v, r), rudder and revs.

    ``sin_d``, ``cos_d`` are sin and cos of the rudder angle, all (N,) arrays. ``astern`` is kept
    for compatibility and ignored: the astern branch is chosen per vessel from n <= 0 (the mask the
    argument used to carry). ``out`` receives the result. A Python entry to the same compiled
    per-vessel function :func:`step` uses (not used by the step itself).
    """
    nv = b.n_vessels
    args = []
    for name, a in (("u", u), ("v", v), ("r", r), ("sin_d", sin_d), ("cos_d", cos_d), ("n", n)):
        a = np.ascontiguousarray(a, dtype=np.float64)
        if a.ndim == 0:
            a = np.full(nv, float(a))
        if a.shape != (nv,):
            raise ParameterError(f"{name} must have shape ({nv},), got {a.shape}")
        args.append(a)
    if out is None:
        out = (np.empty(nv), np.empty(nv), np.empty(nv))
    res = [o if (type(o) is np.ndarray and o.dtype == np.float64 and o.flags.c_contiguous) else np.empty(nv)
           for o in out]  # fmt: skip
    _accel_kernel(b.consts, *args, *res)
    for o, rr in zip(out, res, strict=True):
        if o is not rr:
            o[...] = rr
    return tuple(out)


@numba.njit(cache=True, fastmath=False)
def _step_kernel(c, x, y, psi, u, v, r, delta, n, rud, rev, cur, nsub, h, ox, oy, opsi, ou, ov, orr, odelta, on) -> int:
    """``nsub`` RK4 sub-steps of length ``h`` for every vessel; writes the o* arrays (may be the inputs).

    Returns 0, or an ERR_* code of vessels.state (NaN / inf in a command or the current) before
    writing anything. A command or current array of length 1 applies to every vessel.
    """
    err = check_kernel_inputs(rud, rev, cur)
    if err:
        return err
    nv = x.shape[0]
    rud_all = rud.shape[0] > 1
    rev_all = rev.shape[0] > 1
    cur_all = cur.shape[0] > 1
    hh = 0.5 * h
    h6 = h / 6.0
    for i in range(nv):
        dcmd = rud[i if rud_all else 0]
        ncmd = rev[i if rev_all else 0]
        ci = i if cur_all else 0
        ce = cur[ci, 0]
        cn = cur[ci, 1]
        x0, y0, p0, u0, v0, r0, d0, n0 = x[i], y[i], psi[i], u[i], v[i], r[i], delta[i], n[i]
        for _ in range(nsub):
            d1 = actuate(d0, dcmd, -c[i, _RUDDER_MAX], c[i, _RUDDER_MAX], c[i, _RUDDER_RATE], h)
            n1 = actuate(n0, ncmd, c[i, _REVS_MIN], c[i, _REVS_MAX], c[i, _REVS_RATE], h)
            dm = 0.5 * (d0 + d1)
            nm = 0.5 * (n0 + n1)
            sdm = math.sin(dm)
            cdm = math.cos(dm)
            # stage 1 (start of step)
            a1u, a1v, a1r = _accel(c, i, u0, v0, r0, math.sin(d0), math.cos(d0), n0)
            sp, cp = math.sin(p0), math.cos(p0)
            k1x = (u0 * sp + v0 * cp) + ce
            k1y = (u0 * cp - v0 * sp) + cn
            # stage 2 (mid-step actuators)
            u2, v2, r2 = u0 + hh * a1u, v0 + hh * a1v, r0 + hh * a1r
            p2 = p0 + hh * r0
            a2u, a2v, a2r = _accel(c, i, u2, v2, r2, sdm, cdm, nm)
            sp, cp = math.sin(p2), math.cos(p2)
            k2x = (u2 * sp + v2 * cp) + ce
            k2y = (u2 * cp - v2 * sp) + cn
            # stage 3
            u3, v3, r3 = u0 + hh * a2u, v0 + hh * a2v, r0 + hh * a2r
            p3 = p0 + hh * r2
            a3u, a3v, a3r = _accel(c, i, u3, v3, r3, sdm, cdm, nm)
            sp, cp = math.sin(p3), math.cos(p3)
            k3x = (u3 * sp + v3 * cp) + ce
            k3y = (u3 * cp - v3 * sp) + cn
            # stage 4 (end-of-step actuators)
            u4, v4, r4 = u0 + h * a3u, v0 + h * a3v, r0 + h * a3r
            p4 = p0 + h * r3
            a4u, a4v, a4r = _accel(c, i, u4, v4, r4, math.sin(d1), math.cos(d1), n1)
            sp, cp = math.sin(p4), math.cos(p4)
            k4x = (u4 * sp + v4 * cp) + ce
            k4y = (u4 * cp - v4 * sp) + cn
            # y0 + h/6 (k1 + 2 k2 + 2 k3 + k4), summed in the order of the former numpy code
            x0 = ((((k2x + k3x) * 2.0 + k1x) + k4x) * h6) + x0
            y0 = ((((k2y + k3y) * 2.0 + k1y) + k4y) * h6) + y0
            p0n = ((((r2 + r3) * 2.0 + r0) + r4) * h6) + p0
            u0n = ((((a2u + a3u) * 2.0 + a1u) + a4u) * h6) + u0
            v0n = ((((a2v + a3v) * 2.0 + a1v) + a4v) * h6) + v0
            r0 = ((((a2r + a3r) * 2.0 + a1r) + a4r) * h6) + r0
            p0, u0, v0, d0, n0 = p0n, u0n, v0n, d1, n1
        ox[i], oy[i], opsi[i], ou[i], ov[i], orr[i], odelta[i], on[i] = x0, y0, p0, u0, v0, r0, d0, n0
    return 0


def step(
    batch: MMGBatch,
    state: VesselState,
    rudder_cmd,
    revs_cmd,
    current: np.ndarray | None,
    dt: float,
) -> VesselState:
    """Advance N vessels by ``dt`` seconds; returns a new :class:`VesselState`.

    ``rudder_cmd`` [rad] and ``revs_cmd`` [rev/s] are scalars or (N,) arrays, held for the step;
    ``current`` is (N, 2) east/north [m/s] (or one (2,) vector for all) or None. The input state is
    not modified. Runs the compiled kernel; see :func:`step_inplace` for the allocation-free form.
    """
    out = VesselState.__new__(VesselState)
    out.x, out.y, out.psi, out.u, out.v, out.r, out.delta, out.n = np.empty((8, batch.n_vessels))
    return step_inplace(batch, state, rudder_cmd, revs_cmd, current, dt, out=out)


def step_inplace(
    batch: MMGBatch,
    state: VesselState,
    rudder_cmd,
    revs_cmd,
    current: np.ndarray | None,
    dt: float,
    out: VesselState | None = None,
) -> VesselState:
    """:func:`step` without allocating: writes the new state into ``out`` (default: ``state`` itself).

    ``out`` is a :class:`VesselState` of the same size (its arrays are float64 and contiguous by
    construction); it may be ``state``. Returns ``out``. For the environment's hot path: keep the
    state, command and current arrays (float64, C-contiguous, of shape (N,) / (N, 2)) alive between
    calls so that no conversion happens. On a ParameterError nothing is written.
    Same numbers as :func:`step`, bit for bit.
    """
    nv = batch.n_vessels
    rud, rev, cur, nsub, h = kernel_inputs(nv, state, rudder_cmd, revs_cmd, current, dt, batch.max_substep)
    o = out_state(state, out)
    err = _step_kernel(batch.consts, state.x, state.y, state.psi, state.u, state.v, state.r, state.delta, state.n,
                       rud, rev, cur, nsub, h, o.x, o.y, o.psi, o.u, o.v, o.r, o.delta, o.n)  # fmt: skip
    if err:
        raise_kernel_error(err)
    return o
