"""Scripted traffic obeys the rules; the encounter scenarios; the ``testbed rules`` command and the episode JSON."""

import json
import math

import gymnasium as gym
import numpy as np
import pytest

import testbed  # noqa: F401
from testbed.cli import main
from testbed.config import apply_overrides
from testbed.rules.scenarios import ENCOUNTER_SCENARIOS
from testbed.scenarios import get
from testbed.world import World


def _traffic_violations(obey: bool, seconds: int = 900) -> int:
    cfg = apply_overrides(get("PortEntry-v0"), {"traffic": {"count": 20, "source": "scripted", "lanes": []}})
    w = World(cfg, 1)
    if not obey:  # the same traffic without the rule behaviour (the checker still runs)
        w.traffic.zbits = np.zeros(1, dtype=np.int64)
    w.reset_env(0, seed=1)
    w.ego.x[0], w.ego.y[0], w.ego.u[0], w.ego.n[0] = 2000.0, 300.0, 0.0, 0.0  # parked in basin C
    for _ in range(seconds):
        w.step(np.zeros((1, 2)))
    return sum(w.rules.traffic_counts(0).values())


def test_scripted_traffic_obeys_the_rules():
    without = _traffic_violations(False)
    with_rules = _traffic_violations(True)
    assert without >= 10, without
    assert with_rules <= 0.2 * without, (with_rules, without)


@pytest.mark.parametrize("sid", sorted(ENCOUNTER_SCENARIOS))
def test_encounter_scenarios_place_their_traffic(sid):
    env = gym.make(f"testbed/{sid}")
    env.reset(seed=0)
    w = env.unwrapped.world
    tc = w.cfg.traffic
    for j, lane_id in enumerate(tc.placed_lanes):
        lane = int(w.traffic.lanes.select([lane_id], w.map.name)[0])
        s = w.traffic._s_at_km(lane_id, tc.placed_km[j]) if tc.placed_km else tc.placed_along_m[j]
        x, y, _ = w.traffic.lanes.point_at(lane, s)
        assert math.hypot(w.traffic.state.x[j] - x, w.traffic.state.y[j] - y) < 1.0
        assert w.traffic.u_target[j] == tc.placed_speed_ms[j]
    for _ in range(5):
        env.step(np.array([0.0, 0.5]))


def test_high_water_encounter_flags_full_speed_downstream():
    env = gym.make("testbed/Encounter-HighWater-v0")
    env.reset(seed=0)
    fired = []
    for _ in range(200):
        _, _, te, tr, info = env.step(np.array([0.0, 1.0]))
        fired += [e["rule"] for e in info["rule_events"]]
        if te or tr:
            break
    assert "10.01" in fired


def test_placed_traffic_errors():
    with pytest.raises(ValueError, match=r"traffic.placed_lanes.*places 2 vessels but traffic.count is 1"):
        gym.make("testbed/Encounter-HeadOnDownstream-v0",
                 traffic={"placed_lanes": ["lane-rhine-up", "lane-rhine-up"], "placed_km": [778.0, 777.0],
                          "placed_speed_ms": [3.0, 3.0]})


def test_cli_rules_list_and_encounters(capsys):
    assert main(["rules", "list"]) == 0
    out = capsys.readouterr().out
    assert "RheinSchPV §9.07 Nr. 5" in out and "§10.01" in out
    assert main(["rules", "encounters", "HeadOnStarboard", "RuhrortEntryTurned"]) == 0
    out = capsys.readouterr().out
    # the ego keeps to the wrong side of the fairway, the traffic to its own: the ego alone is at fault
    assert "2 passed, 0 failed" in out and "§9.04 (ego, t=" in out
    assert main(["rules", "encounters", "HeadOnStarbord"]) == 2
    assert "unknown encounter(s) ['HeadOnStarbord']" in capsys.readouterr().err


def test_cli_rules_check_and_episode_json(tmp_path, capsys):
    out = tmp_path / "check.json"
    assert main(["rules", "check", "Channel-v0", "--hours", "0.02", "--agent", "idle", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["hours"] >= 0.02 and set(res["traffic_violations"]) == set(res["ego_violations"])
    assert main(["rules", "check", "Channel-v0", "--hours", "0"]) == 2
    capsys.readouterr()
    run = tmp_path / "run"
    assert main(["run", "Channel-v0", "time_limit_s=30", "--out", str(run)]) == 0
    ep = json.loads((run / "episode_000.json").read_text())
    assert "rule_violations" in ep and "traffic_rule_violations" in ep and isinstance(ep["rule_events"], list)


def test_cli_rules_zones_picture(tmp_path, capsys):
    out = tmp_path / "zones.png"
    assert main(["rules", "zones", "--map", "synthetic_basin_entry", "--out", str(out)]) == 0
    from PIL import Image

    img = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert img.std() > 20  # not blank
    assert ((img[..., 0] - img[..., 2]) > 60).sum() > 1000  # the orange harbour-mouth zones are drawn
    assert main(["rules", "zones", "--map", "synthetic_channel", "--out", str(tmp_path / "n.png")]) == 2
    assert "synthetic_channel' has no rule zones" in capsys.readouterr().err


def test_cli_article_weights_and_unknown_ids(tmp_path, capsys):
    run = tmp_path / "hw"
    assert main(["run", "Encounter-HighWater-v0", "reward.rules_articles={10.01:-5.0,6.20:-1}", "time_limit_s=30",
                 "--out", str(run)]) == 0
    ep = json.loads((run / "episode_000.json").read_text())
    assert ep["rule_violations"]["10.01"] == 1 and ep["reward_components"]["rules"] == -5.0
    assert ep["rule_events"][0]["article"] == "RheinSchPV §10.01"
    capsys.readouterr()
    assert main(["run", "Channel-v0", "reward.rules_articles={9.99:-5.0,6.2:-1}", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "unknown article id(s) [9.99]" in err and err.count("\n") == 1
