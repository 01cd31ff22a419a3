"""``testbed multi``: the autopilot (or idle / random) drives every vessel; summary JSON; one-line errors."""

from __future__ import annotations

import json

from testbed.cli import main


def test_multi_autopilot_every_vessel(tmp_path, capsys):
    rc = main(["multi", "RhineTransit-v0", "time_limit_s=120", "--agents", "2", "--episodes", "2",
               "--out", str(tmp_path)])  # fmt: skip
    assert rc == 0
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["n_agents"] == 2 and [len(e["agents"]) for e in s["episodes"]] == [2, 2]
    for e in s["episodes"]:
        for a in e["agents"]:
            assert a["outcome"] == "time_limit" and a["time_s"] == 120.0 and a["reward"] > 0.0  # making way
    out = capsys.readouterr().out
    assert out.count("episode 1 ego_") == 2


def test_multi_dedicated_scenario_idle(tmp_path):
    assert main(["multi", "MA-RhineMeeting-v0", "time_limit_s=30", "--agent", "idle", "--out", str(tmp_path)]) == 0
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["scenario"] == "MA-RhineMeeting-v0" and s["n_agents"] == 2


def test_multi_errors_are_one_line(tmp_path, capsys):
    assert main(["multi", "RhineTransit-v0", "--agents", "3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "n_agents = 3 is more than its 2 start slots" in err and "Traceback" not in err
    assert main(["multi", "RhineTransit-v0", "--agent", "pilot", "--out", str(tmp_path)]) == 2
    assert "--agent 'pilot'" in capsys.readouterr().err
    assert main(["multi", "RhineTransit-v0", "traffic.cont=3", "--out", str(tmp_path)]) == 2
    assert "traffic.cont" in capsys.readouterr().err
    assert not (tmp_path / "summary.json").exists()
