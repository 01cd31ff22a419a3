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


def _river_obs(gap=None, inner_bend=False) -> np.ndarray:
    """In a straight river 300 m wide at 4 m/s, 120 m off the starboard bank; ``gap`` = (from, to) metres
    ahead: an opening in the starboard bank there (the rays through it run out of range);
    ``inner_bend``: the port bank falls away ahead (every forward port ray runs out of range)."""
    o = _open_water_obs()
    ang = np.linspace(-np.pi, np.pi, K, endpoint=False)
    s, c = np.sin(ang), np.cos(ang)
    lens = np.where(s > 0, 120.0 / np.maximum(np.abs(s), 1e-9), 180.0 / np.maximum(np.abs(s), 1e-9))
    along = np.where(s > 0, 120.0, 180.0) * c / np.maximum(np.abs(s), 1e-9)
    if gap is not None:
        lens = np.where((s > 0) & (along > gap[0]) & (along < gap[1]), 1000.0, lens)
    if inner_bend:
        lens = np.where((s < 0) & (c > 0.3), 1000.0, lens)
    o[N_EGO:N_EGO + K] = np.minimum(lens, 1000.0) / 1000.0
    return o


def test_slows_to_the_harbour_mouth_speed_for_an_opening_in_the_bank_ahead():
    """RheinSchPV § 6.20: an opening in the bank ~180 m ahead (a ray runs through it, the bank goes on
    beyond it) caps the speed through the water at v_mouth; a straight bank or the inner side of a bend
    does not; the cap holds until the opening is astern, and ends inside the harbour."""
    ap = Autopilot()
    straight = ap.act(_river_obs())
    assert ap.mouth_m[0] == 0.0
    ap.reset()
    bend = ap.act(_river_obs(inner_bend=True))
    assert ap.mouth_m[0] == 0.0
    np.testing.assert_array_equal(bend[1], straight[1])
    ap.reset()
    mouth = ap.act(_river_obs(gap=(150.0, 250.0)))
    assert ap.mouth_m[0] > 150.0 + ap.cfg.mouth_hold_m  # held until the opening is astern
    assert mouth[1] < straight[1] - 0.3  # engine eased off towards v_mouth (3 m/s) from 4 m/s
    held = ap.act(_river_obs())  # the opening out of sight (abeam): the limit holds
    assert 0.0 < ap.mouth_m[0] and held[1] < straight[1] - 0.3
    narrow = _river_obs()
    narrow[N_EGO:N_EGO + K] = np.minimum(narrow[N_EGO:N_EGO + K], 0.06)  # a 120 m wide harbour canal
    ap.act(narrow)
    assert ap.mouth_m[0] == 0.0
    # against a strong current (2 m/s, high discharge) the limit still leaves 1.6 m/s over ground
    ap.reset()
    calm = ap.act(_river_obs(gap=(150.0, 250.0)))
    ap.reset()
    strong = _river_obs(gap=(150.0, 250.0))
    strong[17] = -2.0 / 3.0
    against = ap.act(strong)
    assert ap.mouth_m[0] > 0.0 and against[1] > calm[1] + 0.2


def test_port_entry_hafenmund_at_reduced_speed():
    """On real episodes: the autopilot passes the Ruhrort Hafenmund's mouth zone at about the § 6.20 limit
    (11 km/h through the water; before the limit it made 11.7-13.0 km/h there on seeds 0 and 2) and
    still berths."""
    from testbed.env import DuisburgEnv
    from testbed.rules.zones import bits_at
    from testbed.scenarios import compose_scenario

    cfg = compose_scenario("PortEntry-v0", ["traffic.count=0"])
    env = DuisburgEnv(cfg)
    rc = env.world.rules
    zt = rc.zones
    bit = np.int64(1) << np.int64(zt.names.index("Hafenmund Ruhrort: harbour mouth"))
    ap = Autopilot(n_rays=cfg.observation.n_rays, n_targets=cfg.observation.n_targets)
    for seed in (0, 2):
        obs, _ = env.reset(seed=seed)
        ap.reset()
        u_max = 0.0
        while True:
            obs, _, term, trunc, info = env.step(ap.act(obs))
            if bits_at(zt, env.world.map, rc.x[:1], rc.y[:1])[0] & bit:
                u_max = max(u_max, abs(float(rc.u[0])))
            if term or trunc:
                break
        assert info["outcome"] == "goal"
        assert 2.0 < u_max * 3.6 < 11.2, u_max * 3.6
