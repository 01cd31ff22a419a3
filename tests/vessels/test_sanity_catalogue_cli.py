import dataclasses
import json
import math

import numpy as np
import pytest

from testbed.cli import main
from vessels import catalogue, manoeuvres, mmg, nomoto
from vessels.errors import ParameterError, VesselTypeError
from vessels.state import VesselState


def _run(batch, stepper, s, rudder, revs, cur, dt, nsteps):
    for _ in range(nsteps):
        s = stepper(batch, s, rudder, revs, cur, dt)
    return s


def test_zero_rudder_straight_and_accelerates_from_rest():
    b = catalogue.mmg_batch(["KVLCC2_L7"])
    s = _run(b, mmg.step, VesselState.zeros(1), 0.0, 15.0, None, 0.05, 2000)
    assert s.u[0] > 0.5 and abs(s.x[0]) < 1e-9 and abs(s.psi[0]) < 1e-12 and s.y[0] > 50


def test_positive_rudder_turns_starboard_mmg_and_nomoto():
    for stepper, b in ((mmg.step, catalogue.mmg_batch(["KVLCC2_L7"])), (nomoto.step, catalogue.nomoto_batch(["KVLCC2_L7"]))):
        s = VesselState.zeros(1)
        s.u[:] = 1.17
        s.n[:] = 11.8
        s = _run(b, stepper, s, math.radians(20), 11.8, None, 0.05, 200)
        assert s.r[0] > 0 and s.psi[0] > 0.1 and s.x[0] > 0


def test_steady_speed_monotonic_in_revs():
    p = catalogue.get("KVLCC2_L7").mmg
    speeds = [p.steady_speed(n) for n in (4.0, 8.0, 12.0, 16.0)]
    assert all(a < b for a, b in zip(speeds, speeds[1:], strict=False))
    assert p.self_propulsion_revs(speeds[2]) == pytest.approx(12.0, rel=1e-9)


def test_stopped_ship_drifts_with_current():
    b = catalogue.mmg_batch(["M6", "KVLCC2_L7"])
    cur = np.array([[0.7, -0.3], [0.2, 0.1]])
    s = _run(b, mmg.step, VesselState.zeros(2), 0.0, 0.0, cur, 0.5, 100)
    assert np.allclose(s.x, cur[:, 0] * 50.0, rtol=1e-12) and np.allclose(s.y, cur[:, 1] * 50.0, rtol=1e-12)
    assert np.all(s.u == 0) and np.all(s.psi == 0)


def test_batch_equals_individual_bit_identical_and_deterministic():
    ids = ["M6", "M8", "KVLCC2_L7", "REC", "TUG"]
    b = catalogue.mmg_batch(ids)
    s0 = VesselState.zeros(5)
    s0.u[:] = [3.0, 4.0, 1.1, 3.0, 2.0]
    s0.n[:] = [6.0, 6.0, 11.0, 10.0, -1.0]
    rud = np.radians([10, -20, 35, 5, 0])
    revs = np.array([6.0, 5.0, 11.0, -5.0, 2.0])
    s = _run(b, mmg.step, s0.copy(), rud, revs, None, 0.25, 40)
    s_again = _run(b, mmg.step, s0.copy(), rud, revs, None, 0.25, 40)
    assert np.array_equal(s.as_array(), s_again.as_array())
    for i in range(5):
        bi = b.take([i])
        si = VesselState(*(a[i : i + 1].copy() for a in s0.as_array()))
        si = _run(bi, mmg.step, si, rud[i], revs[i], None, 0.25, 40)
        assert np.array_equal(si.as_array()[:, 0], s.as_array()[:, i]), ids[i]


def test_step_inplace_matches_step_and_large_batches_are_bit_identical():
    ids = ["M6", "M8", "KVLCC2_L7", "REC", "TUG", "C3L", "PAX"] * 3
    rng = np.random.default_rng(7)
    for stepper, inplace, b in (
        (mmg.step, mmg.step_inplace, catalogue.mmg_batch(ids)),
        (nomoto.step, nomoto.step_inplace, catalogue.nomoto_batch(ids)),
    ):
        s0 = VesselState.zeros(len(ids))
        s0.u[:] = rng.uniform(0.0, 4.0, len(ids))
        s0.n[:] = rng.uniform(-2.0, 8.0, len(ids))
        rud, revs, cur = rng.uniform(-0.6, 0.6, len(ids)), rng.uniform(-5, 9, len(ids)), rng.uniform(-1, 1, (len(ids), 2))
        s = _run(b, stepper, s0.copy(), rud, revs, cur, 0.8, 20)
        t, o = s0.copy(), VesselState.zeros(len(ids))
        for _ in range(20):
            assert inplace(b, t, rud, revs, cur, 0.8, out=o) is o
            t, o = o, t
        assert np.array_equal(s.as_array(), t.as_array())
        t = s0.copy()
        for _ in range(20):
            inplace(b, t, rud, revs, cur, 0.8)
        assert np.array_equal(s.as_array(), t.as_array())
        i = 16
        si = VesselState(*(a[i : i + 1].copy() for a in s0.as_array()))
        si = _run(b.take([i]), stepper, si, float(rud[i]), revs[i], cur[i], 0.8, 20)
        assert np.array_equal(si.as_array()[:, 0], s.as_array()[:, i])
        with pytest.raises(ParameterError, match="revs_cmd"):
            inplace(b, t, rud, np.full(len(ids), np.nan), cur, 0.8)
        assert np.array_equal(s.as_array(), t.as_array())  # nothing written on error


def test_actuator_rate_limits_and_no_nan_extremes():
    vt = catalogue.get("M8")
    b = catalogue.mmg_batch(["M8"] * 3)
    s = VesselState.zeros(3)
    s.u[:] = [0.0, 4.0, -1.0]
    s1 = mmg.step(b, s, math.radians(90), [-100.0, -100.0, 100.0], None, 1.0)
    assert np.allclose(s1.delta, vt.limits.rudder_rate * 1.0)
    assert np.allclose(np.abs(s1.n), vt.limits.revs_rate * 1.0)
    s2 = _run(b, mmg.step, s1, math.radians(35), [-100.0, -100.0, 100.0], None, 0.5, 200)
    assert np.all(np.isfinite(s2.as_array()))
    assert np.all(np.abs(s2.delta) <= vt.limits.rudder_max + 1e-12)


def test_bad_inputs():
    b = catalogue.mmg_batch(["M8"])
    with pytest.raises(ParameterError, match="dt"):
        mmg.step(b, VesselState.zeros(1), 0.0, 0.0, None, float("nan"))
    with pytest.raises(ParameterError, match="current"):
        mmg.step(b, VesselState.zeros(1), 0.0, 0.0, np.zeros((2, 2)), 0.1)
    import dataclasses

    with pytest.raises(ParameterError, match="R_0_dash"):
        dataclasses.replace(catalogue.get("M8").mmg, R_0_dash=-1.0).validate()
    with pytest.raises(ParameterError, match="water_depth"):
        catalogue.get("M8").mmg.with_depth(2.0)


def test_shallow_water_factors_and_their_effect_on_turning():
    p = catalogue.get("M8").mmg
    very_shallow = p.with_depth(1.2 * p.d).shallow_water_factors()
    assert all(v > 1.0 for v in very_shallow.values()), very_shallow
    moderate = p.with_depth(1.5 * p.d).shallow_water_factors()
    assert all(moderate[k] < very_shallow[k] for k in moderate)
    deep = p.with_depth(200.0 * p.d).shallow_water_factors()
    assert all(v == pytest.approx(1.0, abs=0.05) for v in deep.values()), deep
    assert all(v == 1.0 for v in p.shallow_water_factors().values())
    # The known effect: in shallow water the turning circle widens.
    vt = catalogue.get("M8")
    deep_td = manoeuvres.turning_circle(vt, 35.0).metrics["tactical_diameter_m"]
    shallow_vt = dataclasses.replace(vt, mmg=p.with_depth(1.3 * p.d))
    shallow_td = manoeuvres.turning_circle(shallow_vt, 35.0).metrics["tactical_diameter_m"]
    assert shallow_td > 1.1 * deep_td


@pytest.mark.parametrize("tid", ["M8", "C3L", "PAX"])
def test_inland_turning_circles_are_plausible(tid):
    """IMO MSC.137(76) limits (advance < 4.5 L, tactical diameter < 5 L) and a real turn (> 1 L)."""
    m = manoeuvres.turning_circle(catalogue.get(tid), 35.0).metrics
    assert 1.0 < m["advance_L"] < 4.5
    assert 1.0 < m["tactical_diameter_L"] < 5.0
    assert m["transfer_m"] > 0.0


def test_cached_nomoto_fit_matches_a_fresh_fit_and_the_mmg_zigzag():
    vt = catalogue.get("M8")
    K, T = manoeuvres.fit_nomoto(vt)
    assert (K, T) == pytest.approx(vt.nomoto_KT, rel=1e-4)
    mmg_zz = manoeuvres.zigzag(vt, 10.0, 10.0).metrics
    nom_zz = manoeuvres.zigzag(vt, 10.0, 10.0, model="nomoto").metrics
    assert nom_zz["first_overshoot_deg"] == pytest.approx(mmg_zz["first_overshoot_deg"], abs=2.5)
    assert nom_zz["initial_turning_time_s"] == pytest.approx(mmg_zz["initial_turning_time_s"], rel=0.2)


def test_catalogue_all_validate_and_mappings():
    for tid in catalogue.list_types():
        catalogue.get(tid).validate()
    with pytest.raises(VesselTypeError, match="unknown vessel type 'M99'; known: M6, M8"):
        catalogue.get("M99")
    assert catalogue.from_ais_ship_type(85).id == "TANKER"
    assert catalogue.from_ais_ship_type(60).id == "PAX"
    assert catalogue.from_ais_ship_type(52).id == "TUG"
    assert catalogue.from_ais_ship_type(37).id == "REC"
    assert catalogue.from_ais_ship_type(70).id == "M8"
    assert catalogue.from_eri_code(8020).id == "TANKER"
    assert catalogue.from_eri_code(8210).id == "C2L"
    assert catalogue.from_eri_code(8443).id == "PAX"
    assert catalogue.from_eri_code(8161).id == "TUG"
    with pytest.raises(VesselTypeError):
        catalogue.from_ais_ship_type(120)
    assert catalogue.get("GMS1").mmg.J_z_dash == pytest.approx(0.01357, rel=1e-3)


def test_cli_manoeuvre_writes_png_and_json(tmp_path, capsys):
    assert main(["vessel", "manoeuvre", "KVLCC2_L7", "--turning", "35", "--out", str(tmp_path)]) == 0
    png = (tmp_path / "KVLCC2_L7_turning35.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "KVLCC2_L7_turning35.json").read_text())
    assert data["metrics"]["tactical_diameter_L"] > 1.5
    assert main(["vessel", "manoeuvre", "M99", "--stopping", "--out", str(tmp_path)]) == 2
    assert "M99" in capsys.readouterr().err
    assert main(["vessel", "manoeuvre", "M8", "--zigzag", "20x20", "--out", str(tmp_path)]) == 2
    assert "20x20" in capsys.readouterr().err
