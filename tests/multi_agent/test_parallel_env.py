"""The multi-agent env (testbed.multi_agent): PettingZoo conformance, determinism, K = 1 against the
single env, the vessels seeing and hitting each other, starts apart, the start-slot error."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test, render_test

import testbed  # noqa: F401
from testbed import observation as ob
from testbed.config import ConfigError
from testbed.multi_agent import MA_SCENARIOS, aec_env, parallel_env


def _rollout(env, seed: int, steps: int, act_seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(act_seed)
    obs, _ = env.reset(seed=seed)
    out = [b"".join(obs[a].tobytes() for a in env.agents)]
    for _ in range(steps):
        if not env.agents:
            obs, _ = env.reset()
            continue
        acts = {a: rng.uniform(-1, 1, 2).astype(np.float32) for a in env.agents}
        obs, rew, te, tr, _ = env.step(acts)
        out.append(b"".join(obs[a].tobytes() + np.float64(rew[a]).tobytes() + bytes([te[a], tr[a]]) for a in obs))
    return out


def test_parallel_api():
    parallel_api_test(parallel_env("RhineTransit-v0", n_agents=2), num_cycles=200)


def test_parallel_api_dedicated_scenario():
    parallel_api_test(parallel_env("MA-RhineMeeting-v0"), num_cycles=100)


def test_parallel_seed():
    parallel_seed_test(lambda: parallel_env("RhineTransit-v0", n_agents=2), num_cycles=100)


def test_render():
    render_test(lambda render_mode=None: aec_env("MA-RhineMeeting-v0", render_mode=render_mode))


def test_render_shows_both_vessels():
    env = parallel_env("MA-RhineMeeting-v0", render_mode="rgb_array")
    env.reset(seed=0)
    sc = env.scene()
    assert [s.name for s in sc.traffic if s.kind == "ego"] == ["ego_1 (M8)"] and sc.ego.name == "ego_0 (M8)"
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.std() > 5.0
    env.close()


@pytest.mark.parametrize("sid,kw", [
    ("RhineTransit-v0", {}),
    ("MA-HarbourCrossing-v0", {"link": {"profile": "degraded", "mode": "remote"}}),
])  # fmt: skip
def test_same_seed_and_actions_are_bit_identical(sid, kw):
    k = 2 if sid == "RhineTransit-v0" else None
    a = _rollout(parallel_env(sid, n_agents=k, **kw), seed=7, steps=300)
    b = _rollout(parallel_env(sid, n_agents=k, **kw), seed=7, steps=300)
    assert a == b
    c = _rollout(parallel_env(sid, n_agents=k, **kw), seed=8, steps=20)
    assert a[:21] != c


@pytest.mark.parametrize("sid", ["RhineTransit-v0", "PortEntry-v0"])
def test_one_agent_is_the_single_env_bit_for_bit(sid):
    single = gym.make(f"testbed/{sid}")
    multi = parallel_env(sid, n_agents=1)
    o1, i1 = single.reset(seed=5)
    o2, i2 = multi.reset(seed=5)
    assert o1.tobytes() == o2["ego_0"].tobytes()
    rng = np.random.default_rng(1)
    for _ in range(300):
        act = rng.uniform(-1, 1, 2).astype(np.float32)
        o1, r1, t1, u1, i1 = single.step(act)
        o2, r2, t2, u2, i2 = multi.step({"ego_0": act})
        assert o1.tobytes() == o2["ego_0"].tobytes()
        assert (r1, t1, u1) == (r2["ego_0"], t2["ego_0"], u2["ego_0"])
        assert i1["outcome"] == i2["ego_0"]["outcome"]
        if t1 or u1:
            assert multi.agents == []
            o1, _ = single.reset()
            o2, _ = multi.reset()
            assert o1.tobytes() == o2["ego_0"].tobytes()


def test_agents_see_each_other_as_targets():
    env = parallel_env("RhineTransit-v0", n_agents=2, traffic={"count": 0}, observation={"targets": "truth"})
    obs, _ = env.reset(seed=3)
    w = env.world
    d = math.hypot(w.ego.x[1] - w.ego.x[0], w.ego.y[1] - w.ego.y[0])
    assert d >= 300.0
    K = w.cfg.observation.n_rays
    for me, other in ((0, 1), (1, 0)):
        t = obs[f"ego_{me}"][ob.N_EGO + K:ob.N_EGO + K + ob.TARGET_FEATURES]
        assert t[0] == 1.0  # the other vessel is the nearest target
        rng = w.cfg.observation.target_range_m
        assert math.isclose(math.hypot(t[1], t[2]) * rng, d, rel_tol=1e-5)
        assert math.isclose(t[7], w.ego_len[other] / 200.0, rel_tol=1e-6)


def test_collision_between_agents_ends_both():
    env = parallel_env("RhineTransit-v0", n_agents=2, traffic={"count": 0})
    env.reset(seed=3)
    w = env.world
    w.ego.x[1], w.ego.y[1], w.ego.psi[1] = w.ego.x[0] + 5.0, w.ego.y[0] + 3.0, w.ego.psi[0]  # overlapping hulls
    _, rew, te, _, info = env.step({a: np.zeros(2, np.float32) for a in env.agents})
    assert te == {"ego_0": True, "ego_1": True}
    assert info["ego_0"]["outcome"] == info["ego_1"]["outcome"] == "collision"
    assert rew["ego_0"] < -1.0 and env.agents == []


def test_a_finished_agent_leaves_the_world():
    env = parallel_env("RhineTransit-v0", n_agents=2, traffic={"count": 0})
    obs, _ = env.reset(seed=3)
    w = env.world
    w.ego.x[0] = w.ego.y[0] = -1e7  # ego_0 leaves the map
    obs, _, te, _, _ = env.step({a: np.zeros(2, np.float32) for a in env.agents})
    assert te["ego_0"] and not te["ego_1"]
    assert env.agents == ["ego_1"]
    obs, *_ = env.step({"ego_1": np.zeros(2, np.float32)})
    K = w.cfg.observation.n_rays
    assert obs["ego_1"][ob.N_EGO + K] == 0.0  # ego_0 is no longer a target
    with pytest.raises(ValueError, match="ego_0"):
        env.step({"ego_0": np.zeros(2, np.float32)})


def test_starts_apart_and_per_agent_goals():
    for seed in range(5):
        env = parallel_env("PortEntry-v0", n_agents=4, min_separation_m=250.0)
        env.reset(seed=seed)
        w = env.world
        xy = np.c_[w.ego.x, w.ego.y]
        d = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))
        assert d[np.triu_indices(4, 1)].min() >= 250.0 - 25.0  # along-lane separation, +- cross offsets
    env = parallel_env("MA-ConvoyEntry-v0")
    env.reset(seed=0)
    assert env.world.goal_name == ["berth-01", "berth-03", "berth-05"]
    assert len(env.possible_agents) == 3


def test_more_agents_than_start_slots_is_one_clear_error():
    with pytest.raises(ConfigError, match=r"n_agents = 3 is more than its 2 start slots"):
        parallel_env("RhineTransit-v0", n_agents=3)
    with pytest.raises(ConfigError, match=r"n_agents = 2 is more than its 1 start slots"):
        parallel_env("Berthing-v0", n_agents=2)
    with pytest.raises(ConfigError, match="exactly 2 agents"):
        parallel_env("MA-RhineMeeting-v0", n_agents=3)
    with pytest.raises(ConfigError, match="unknown scenario"):
        parallel_env("NoSuch-v0", n_agents=2)


@pytest.mark.parametrize("sid", sorted(MA_SCENARIOS))
def test_dedicated_scenarios_run(sid):
    env = parallel_env(f"testbed/{sid}")
    obs, infos = env.reset(seed=0)
    assert set(obs) == set(env.possible_agents)
    for _ in range(30):
        obs, rew, te, tr, infos = env.step({a: np.array([0.0, 0.6], np.float32) for a in env.agents})
    assert all(i["outcome"] is None for i in infos.values())  # 30 s straight on: nobody ended yet


def test_one_agent_with_remote_link_is_the_single_env_bit_for_bit():
    kw = {"link": {"profile": "5g_sa", "mode": "remote"}}
    single = gym.make("testbed/RhineTransit-v0", **kw)
    multi = parallel_env("RhineTransit-v0", n_agents=1, **kw)
    o1, _ = single.reset(seed=2)
    o2, _ = multi.reset(seed=2)
    rng = np.random.default_rng(4)
    for _ in range(200):
        act = rng.uniform(-1, 1, 2).astype(np.float32)
        o1, r1, *_, i1 = single.step(act)
        o2, r2, *_, i2 = multi.step({"ego_0": act})
        assert o1.tobytes() == o2["ego_0"].tobytes() and r1 == r2["ego_0"]
        assert i1["link"] == i2["ego_0"]["link"]


def test_vessels_in_one_cell_share_its_load():
    from testbed.link.env_link import EGO_CELL_LOAD

    kw = {"link": {"profile": "5g_sa", "mode": "remote"}, "traffic": {"count": 0}}
    both = parallel_env("RhineTransit-v0", n_agents=2, **kw)
    alone = parallel_env("RhineTransit-v0", n_agents=2, **kw)
    both.reset(seed=6)
    alone.reset(seed=6)
    alone.world.remove_agent(1)  # the same ego_0, without ego_1 in the world
    prof = both.world.link.profile
    rho0 = min(prof.cell_load, 0.95)
    rho = min(rho0 + EGO_CELL_LOAD, 0.95)
    extra_ms = prof.queueing_ms * (rho / (1 - rho) - rho0 / (1 - rho0))
    shared = 0
    for _ in range(60):
        act = np.array([0.0, 0.5], np.float32)
        _, _, _, _, ib = both.step({a: act for a in both.agents})
        _, _, _, _, ia = alone.step({"ego_0": act})
        lb, la = ib["ego_0"]["link"], ia["ego_0"]["link"]
        if lb["data_lost"] or la["data_lost"]:
            continue
        if lb["serving_cell"] == ib["ego_1"]["link"]["serving_cell"] is not None:
            shared += 1
            assert math.isclose(lb["data_latency_ms"] - la["data_latency_ms"], extra_ms, rel_tol=1e-6)
        else:
            assert lb["data_latency_ms"] == la["data_latency_ms"]
    assert shared > 10 and extra_ms > 0.0


@pytest.mark.parametrize("remove", [False, True])
def test_traffic_gives_way_to_every_vessel(remove):
    env = parallel_env("Channel-v0", n_agents=2, min_separation_m=100.0)
    env.reset(seed=0)
    w = env.world
    tr, ts = w.traffic, w.traffic.state
    j = int(np.flatnonzero(tr.active)[0])
    # ego_1 lies stopped 200 m ahead of traffic vessel j, on its track; ego_0 is far away
    w.ego.x[1] = ts.x[j] + 200.0 * math.sin(ts.psi[j])
    w.ego.y[1] = ts.y[j] + 200.0 * math.cos(ts.psi[j])
    w.ego.psi[1], w.ego.u[1], w.ego.n[1] = ts.psi[j], 0.0, 0.0
    if remove:
        w.remove_agent(1)
    env.step({a: np.zeros(2, np.float32) for a in env.agents})
    slows = tr.revs_cmd[j] < 0.5 * tr.u_target[j] / tr.speed_per_rev[j]
    assert slows != remove  # it stops short of ego_1, and sails on when ego_1 has left the world


@pytest.mark.parametrize("profile", ["ideal", "degraded"])
def test_each_vessel_has_its_own_ais_picture(profile):
    env = parallel_env("RhineTransit-v0", n_agents=2, link={"profile": profile})
    env.reset(seed=4)
    w = env.world
    assert w._ais_mode and w.traffic.T > 0
    nt = w._rep[0].shape[0]
    differ = lost = 0
    for _ in range(300):
        env.step({a: np.array([0.0, 0.5], np.float32) for a in env.agents})
        bc = w._rep[0]
        mine = [w._rep_view[0][k * nt:(k + 1) * nt] for k in range(2)]
        for k in range(2):  # never newer than the broadcast
            assert (mine[k] <= bc).all()
        if profile == "ideal":
            assert all(np.array_equal(m, bc) for m in mine)
        differ += int(not np.array_equal(mine[0], mine[1]))
        lost += int((~w._delivered).sum())
    if profile == "degraded":
        assert lost > 0 and differ > 0  # lost data packets leave holes in one vessel's picture, not the other's


def test_human_window_quit_ends_the_episode():
    env = parallel_env("MA-RhineMeeting-v0", render_mode="human")  # headless (SDL dummy, tests/conftest.py)
    env.reset(seed=0)
    _, _, _, tr, _ = env.step({a: np.zeros(2, np.float32) for a in env.agents})
    assert not any(tr.values()) and env.render() is None
    env._renderer.controls.quit = True  # what closing the window or q does
    _, _, te, tr, infos = env.step({a: np.zeros(2, np.float32) for a in env.agents})
    assert all(tr.values()) and {i["outcome"] for i in infos.values()} == {"user_quit"} and env.agents == []
    env.close()


def test_agents_see_each_other_through_ais():
    env = parallel_env("RhineTransit-v0", n_agents=2, traffic={"count": 0})  # observation.targets = "ais"
    obs, _ = env.reset(seed=3)
    w = env.world
    K = w.cfg.observation.n_rays
    b = ob.N_EGO + K
    assert obs["ego_0"][b] == 0.0 and obs["ego_1"][b] == 0.0  # nothing reported yet
    seen_age = []
    for _ in range(40):
        obs, *_ = env.step({a: np.array([0.0, 0.5], np.float32) for a in env.agents})
        t = obs["ego_0"][b:b + ob.TARGET_FEATURES]
        if t[0] == 1.0:
            seen_age.append(float(t[8]) * 60.0)
            # the report is where ego_1 was when it reported: within its speed x the age of the truth
            rng = w.cfg.observation.target_range_m
            px, py = w.ego.x[0], w.ego.y[0]
            d_rep = math.hypot(t[1], t[2]) * rng
            d_true = math.hypot(w.ego.x[1] - px, w.ego.y[1] - py)
            assert abs(d_rep - d_true) <= 8.0 * (seen_age[-1] + 1.0)
    assert seen_age and max(seen_age) > 0.0 and min(seen_age) == 0.0  # ages grow between reports
