"""The autopilot baseline: reaches goals, is vectorised and deterministic, reads only the observation."""

from __future__ import annotations

import numpy as np
import pytest

from agents.autopilot import N_EGO, N_LINK, TARGET_FEATURES, Autopilot
from agents.evaluate import evaluate

K, M = 32, 8
D = N_EGO + K + TARGET_FEATURES * M + N_LINK


def _open_water_obs(u=4.0) -> np.ndarray:
    """A hand-made observation: on the route, heading along it, open water, no targets."""
    o = np.zeros(D, dtype=np.float32)
    o[0] = u / 5.0
    o[3] = 0.0
    o[4] = 0.7
    o[5] = u / 5.0
    o[8] = 1.0  # route direction error 0
    o[10] = 1.0  # LOS error 0
    o[11] = 3000 / 2000  # goal 3 km ahead
    o[13] = 1.0
    o[15] = 1.0
    o[16] = 3000 / 5000
    o[N_EGO:N_EGO + K] = 1.0  # rays: nothing within range
    return o


def test_channel_reaches_goal():
    res = evaluate(Autopilot(n_rays=K, n_targets=M), "Channel-v0", range(4))
    assert res["success_rate"] == 1.0, res["outcomes"]


def test_port_entry_reaches_goal():
    # seeds 2, 4, 5, 9: berths 06 (basin C, quay to port), 05 (basin C, quay to starboard), 02 (basin A)
    res = evaluate(Autopilot(n_rays=K, n_targets=M), "PortEntry-v0", [2, 4, 5, 9], {"traffic": {"count": 0}})
    assert res["success_rate"] == 1.0, res["outcomes"]


def test_act_batch_equals_act_row_by_row():
    rng = np.random.default_rng(0)
    obs = np.stack([_open_water_obs() for _ in range(5)])
    obs[:, :19] += rng.normal(0, 0.2, (5, 19)).astype(np.float32)
    obs[:, N_EGO:N_EGO + K] = rng.uniform(0.05, 1.0, (5, K))
    batch = Autopilot()
    singles = [Autopilot() for _ in range(5)]
    for _ in range(3):  # a few steps, so that the integrators take part
        a = batch.act_batch(obs)
        b = np.stack([ap.act(row) for ap, row in zip(singles, obs, strict=True)])
        assert a.shape == (5, 2) and a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # reset(mask) clears only the chosen envs' state
    batch.reset(np.array([True, False, False, False, False]))
    fresh = Autopilot().act(obs[0])
    np.testing.assert_allclose(batch.act_batch(obs)[0], fresh, atol=1e-7)


def test_reads_only_the_observation_and_is_deterministic():
    o = _open_water_obs()
    a1 = Autopilot().act(o)
    a2 = Autopilot().act(o.copy())
    assert a1.shape == (2,) and np.all(np.abs(a1) <= 1.0)
    np.testing.assert_array_equal(a1, a2)
    with pytest.raises(ValueError):
        Autopilot().act_batch(o[None, :-1])


def test_slows_down_for_a_target_dead_ahead_with_small_cpa():
    clear = _open_water_obs()
    danger = clear.copy()
    b = N_EGO + K
    danger[b:b + TARGET_FEATURES] = [1.0, 600 / 2000, 0.0, -6.0 / 5, 0.0, 5 / 1000, 100 / 600, 110 / 200, 0.0]
    a_clear = Autopilot().act(clear)
    a_danger = Autopilot().act(danger)
    assert a_danger[1] < a_clear[1] - 0.1  # less engine
    assert a_danger[0] > a_clear[0]  # and an alteration to starboard (meeting: port to port)
