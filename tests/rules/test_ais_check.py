"""``testbed rules check-ais``: whole AIS recordings against the rules (the shipped synthetic recording is
rule-compliant; a recording with a starboard-to-starboard meeting and a speeding vessel is not)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from testbed.ais.emit import AISEmitter, AISStatic, AISVessel, state_to_ais
from testbed.ais.replay import recording_path
from testbed.cli import main
from testbed.rules.ais_check import COUNT_KEYS, check_recording

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "ais" / "data"


def _counts_add_up(res):
    v = res["vessels"]
    assert v["decoded"] == sum(v[k] for k in COUNT_KEYS), v
    assert res["groups"]["inside_map"]["vessels"] == v["inside_map"]
    assert res["groups"]["outside_map"]["vessels"] == v["outside_map"]


def test_shipped_recording_is_rule_compliant():
    """The whole 2 h of the shipped recording on a 1 s grid: no violation of any article."""
    res = check_recording(recording_path("duisburg_synth_2h"))
    _counts_add_up(res)
    assert res["vessels"]["inside_map"] >= 50 and res["vessels"]["outside_map"] == 0
    assert res["checked_to_t"] - res["checked_from_t"] > 7000
    g = res["groups"]["inside_map"]
    assert g["events"] == [] and not any(g["violations"].values()), g["events"][:5]


def _rhine_pair(tmp_path, blue: bool, speed_up: float = 3.0) -> Path:
    """Two inland vessels on the Duisburg Rhine passing starboard-to-starboard 30 m apart (the upstream one
    with the blue board when ``blue``), written as NMEA with tag-block times by the project's AIS emitter."""
    from harbour_maps import load_map

    m = load_map("duisburg_ruhrort")
    lane = {ln.id: ln for ln in m.lanes}["lane-rhine-down"]
    i = len(lane.xy) // 3
    p = lane.xy[i]
    t = lane.xy[i + 3] - lane.xy[i - 3]
    t /= np.hypot(*t)
    n = np.array([t[1], -t[0]])  # starboard of the downstream vessel
    st = AISStatic.from_dimensions(110.0, 11.4, name="DOWN", ship_type=79, eri_code=8010, eni="04000001")
    down = AISVessel(211000001, 0.0, 0.0, static=st)
    up = AISVessel(211000002, 0.0, 0.0, static=AISStatic.from_dimensions(
        110.0, 11.4, name="UP", ship_type=79, eri_code=8010, eni="04000002"), maneuver=2 if blue else 1)
    em = AISEmitter(None)
    lines = []
    cur = m.current(p[None])[0]
    for k in range(600):
        tt = float(k)
        a = p + t * (-700.0 + (speed_up + float(cur @ t)) * tt)  # downstream: current helps
        b = p + 30.0 * n + t * (700.0 - (speed_up - float(cur @ t)) * tt)
        xy = np.array([a, b])
        hdg = np.array([math.atan2(t[0], t[1]), math.atan2(-t[0], -t[1])])
        sog = np.array([speed_up + float(cur @ t), speed_up - float(cur @ t)])
        f = state_to_ais(m, xy[:, 0], xy[:, 1], hdg, sog, cog_grid=hdg)
        for j, v in enumerate((down, up)):
            v.lat, v.lon = float(f["lat"][j]), float(f["lon"][j])
            v.sog_kn, v.cog_deg, v.heading_deg = float(f["sog_kn"][j]), float(f["cog_deg"][j]), float(f["heading_deg"][j])
        lines += list(em.emit(tt, [down, up]))
    out = tmp_path / f"pair_{int(blue)}.nmea"
    out.write_text("\n".join(lines) + "\n")
    return out


def test_check_ais_reports_a_starboard_meeting_and_honours_the_blue_board(tmp_path):
    bad = check_recording(_rhine_pair(tmp_path, blue=False))
    _counts_add_up(bad)
    g = bad["groups"]["inside_map"]
    assert bad["vessels"]["inside_map"] == 2
    assert g["violations"]["9.04"] == 1, g["events"]
    ev = [e for e in g["events"] if e["rule"] == "9.04"][0]
    assert set(ev["vessels"]) == {"211000001", "211000002"}  # vessels named by MMSI
    ok = check_recording(_rhine_pair(tmp_path, blue=True))
    assert ok["groups"]["inside_map"]["violations"]["9.04"] == 0


def test_check_ais_cli_json_and_bad_input(tmp_path, capsys):
    f = _rhine_pair(tmp_path, blue=False)
    out = tmp_path / "r.json"
    assert main(["rules", "check-ais", str(f), "--step", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 vessels decoded = 2 inside map duisburg_ruhrort" in text and "§9.04" in text
    res = json.loads(out.read_text())
    assert res["groups"]["inside_map"]["violations"]["9.04"] == 1 and res["step_s"] == 2.0
    for argv, what in ((["--step", "0"], "--step"), (["--from", "50", "--to", "10"], "--to"),
                       (["--assume-rate", "-1"], "--assume-rate"), (["--to", "-5"], "--to")):
        assert main(["rules", "check-ais", str(f), *argv]) == 2
        err = capsys.readouterr().err
        assert what in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["rules", "check-ais", str(tmp_path / "missing.nmea")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(p.name for p in REAL.iterdir() if p.suffix != ".md"))
def test_real_recordings_are_accounted_for(name):
    """Real AIS (not Duisburg): every decoded vessel is counted once; without receive times nothing can be
    placed on a time grid, so those vessels are counted as such, not dropped."""
    res = check_recording(REAL / name)
    _counts_add_up(res)
    assert res["vessels"]["inside_map"] == 0


def test_real_recording_with_assumed_times_is_checked_outside_the_map():
    res = check_recording(REAL / "pyais__tests_nmea_data_sample.txt", assume_rate_hz=1.0)
    _counts_add_up(res)
    assert res["vessels"]["outside_map"] > 100 and res["groups"]["outside_map"]["segments"] > 100
    assert res["groups"]["outside_map"]["frame"]["proj"] == "aeqd"


def test_synthesiser_is_rule_compliant_for_another_seed(tmp_path):
    """Not only the shipped file: half an hour of seed 1 (port calls, departures and small craft included)."""
    from testbed.ais.synth import write_synth

    out = tmp_path / "seed1.nmea"
    st = write_synth(out, hours=0.5, seed=1)
    assert st["vessels"] >= 20
    res = check_recording(out)
    _counts_add_up(res)
    g = res["groups"]["inside_map"]
    assert g["events"] == [], g["events"][:5]
