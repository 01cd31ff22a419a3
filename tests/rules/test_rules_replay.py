"""The rule checker's violations reach the replay file as ``rule_violation`` events (issue 13 x issue 9)."""

import gymnasium as gym
import numpy as np

import testbed  # noqa: F401  (registers the scenarios)
from testbed.replay import ReplayReader, flush


def test_high_water_violation_is_a_replay_event(tmp_path):
    path = tmp_path / "hw.replay"
    env = gym.make("testbed/Encounter-HighWater-v0", record=str(path))
    env.reset(seed=0)
    while True:
        _, _, term, trunc, info = env.step(np.zeros(2, np.float32))
        if term or trunc:
            break
    env.close()
    flush()
    assert info["rule_violations"]["10.01"] == 1
    rule = [e for e in ReplayReader(path).events if e["text"].startswith("RheinSchPV")]
    assert [e["kind"] for e in rule] == ["rule_violation"]
    assert rule[0]["text"].startswith("RheinSchPV §10.01") and rule[0]["vessel"] is None  # the ego
    assert np.isfinite(rule[0]["x"]) and 0 <= rule[0]["step"] <= ReplayReader(path).n_steps
