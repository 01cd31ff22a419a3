"""The ego's AIS picture: ITU-R M.1371 report intervals, report age in the observation, noise."""

import math

import gymnasium as gym
import numpy as np
import pytest

import testbed  # noqa: F401
from testbed.ais.reporting import KN, report_interval


def test_itu_intervals():
    assert report_interval(10 * KN, 0.0, False, False) == 10.0
    assert report_interval(10 * KN, math.radians(1.0), False, False) == pytest.approx(10 / 3)
    assert report_interval(18 * KN, 0.0, False, False) == 6.0
    assert report_interval(18 * KN, math.radians(1.0), False, False) == 2.0
    assert report_interval(30 * KN, 0.0, False, False) == 2.0
    assert report_interval(1 * KN, 0.0, False, True) == 180.0
    assert report_interval(1 * KN, 0.0, True, False) == 180.0
    assert report_interval(8 * KN, 0.0, True, False) == 30.0
    assert report_interval(20 * KN, 0.0, True, False) == 15.0


def _ages(env_kw, steps=40):
    env = gym.make("testbed/PortEntry-v0", traffic={"source": "scripted"}, **env_kw)
    obs, _ = env.reset(seed=1)
    base = 19 + 32
    ages, positions = [], []
    for _ in range(steps):
        obs, *_ = env.step(np.array([0.0, 0.6], dtype=np.float32))
        ages.append(obs[base + 8::9][:8] * 60.0)
        positions.append(obs[base + 1::9][:8].copy())
    return np.array(ages), np.array(positions)


def test_report_age_cycles_with_the_class_a_interval():
    ages, pos = _ages({"observation": {"targets": "ais"}})
    present = ages[:, 0]
    assert present.max() <= 10.0 + 1e-9 and present.max() >= 5.0  # 10 s interval at under 14 kn
    # between reports the perceived relative position of the nearest target only moves with the ego
    truth_ages, _ = _ages({"observation": {"targets": "truth"}})
    assert np.all(truth_ages == 0.0)


def test_ais_noise_is_seeded_and_changes_the_picture():
    a1, p1 = _ages({"observation": {"targets": "ais", "ais_position_noise_m": 20.0}})
    a2, p2 = _ages({"observation": {"targets": "ais", "ais_position_noise_m": 20.0}})
    a0, p0 = _ages({"observation": {"targets": "ais"}})
    assert p1.tobytes() == p2.tobytes()  # same seed: same noise
    assert not np.array_equal(p1, p0)  # noise moves the reported positions
    assert np.array_equal(a1, a0)  # but not the report timing


def test_duisburg_defaults_are_ais_fed_end_to_end():
    env = gym.make("testbed/PortEntry-v0")
    env.reset(seed=3)
    w = env.unwrapped.world
    tr = w.traffic
    assert w.cfg.traffic.source == "ais" and w.cfg.observation.targets == "ais"
    assert tr.replay is not None and tr.replay.n_tracks > 20  # the shipped synthetic recording, decoded
    assert tr.mode.sum() >= 1 and tr.active.sum() >= 1
    mmsis = {int(tr.replay.mmsi[k]) for k in tr.track_of if k >= 0}
    assert all(200_000_000 <= m < 300_000_000 for m in mmsis)  # European MMSIs of the recording (MID 2xx)
