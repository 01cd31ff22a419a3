"""Recording: what the file holds matches the episode, files per episode, determinism, the VectorEnv."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from testbed.replay import RecordEpisode, Recorder, ReplayReader
from testbed.replay.verify import verify


def _bits(a):
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.kind == "f" else a


def test_file_matches_the_episode(channel_replay):
    p, log = channel_replay
    with ReplayReader(p) as r:
        h = r.header
        assert h["scenario"] == "Channel-v0" and h["seed"] == 1 and h["episode"] == 0
        assert h["agent"] == "autopilot" and h["outcome"] == log["outcome"] == "goal"
        assert h["map"]["name"] == "synthetic_channel" and len(h["map"]["sha256"]) == 64
        assert h["link"]["profile"] == "ideal" and h["dt"] == 1.0 and h["config"]["traffic"]["count"] == 2
        assert h["simulator_version"] and "git_hash" in h
        assert r.n_steps == len(log["reward"]) and r.n_frames == r.n_steps + 1
        assert [tv["slot"] for tv in h["vessels"]["traffic"]] == [0, 1]
        assert {"name", "mmsi", "type", "length_m", "beam_m"} <= set(h["vessels"]["ego"])
        assert np.array_equal(r.times, log["t"])
        assert np.array_equal(r.column("ego/x"), log["x"])
        assert np.array_equal(r.column("reward/total")[1:], log["reward"])
        assert np.isnan(r.column("action")[0]).all()
        assert np.array_equal(r.column("action")[1:], np.array(log["action"]))
        # weighted components sum to the reward (as in info["reward_components"])
        np.testing.assert_allclose(r.column("reward").sum(axis=1), r.column("reward/total"), atol=1e-9)
        assert r.reward_names[0] == "progress" and r.column("reward").shape == (r.n_frames, len(r.reward_names))
        assert r.column("traffic/x").shape == (r.n_frames, 2)
        assert r.column("link/sinr")[1] == np.inf and r.column("link/cell")[1] == -1  # ideal link
        goal = [e for e in r.events if e["kind"] == "goal"]
        assert len(goal) == 1 and goal[0]["step"] == r.n_steps
        assert h["event_counts"]["goal"] == 1


def test_ais_and_link_columns(port_replay):
    p, _ = port_replay
    with ReplayReader(p) as r:
        h = r.header
        assert h["link"]["profile"] == "with_outages" and h["link"]["cells"]
        assert all(tv["source"] == "ais" for tv in h["vessels"]["traffic"])
        age = r.column("ais/age")
        x, ax = r.column("traffic/x"), r.column("ais/x")
        seen = np.isfinite(age)
        assert seen[-1].any() and (age[seen] >= 0).all()
        fresh = seen & (age == 0)  # a report received this step is where the vessel was
        assert fresh.any() and np.array_equal(ax[fresh], x[fresh])
        cell = r.column("link/cell")
        assert (cell[1:] >= 0).any() and cell.max() < len(h["link"]["cells"])
        sinr = r.column("link/sinr")
        assert np.isnan(sinr[0]) and np.isfinite(sinr[1:]).all()
        kinds = {e["kind"] for e in r.events}
        assert kinds <= {"handover", "outage", "failsafe", "near_miss", "rule_violation", "collision",
                         "grounding", "goal", "left_map"}  # fmt: skip
        ho = np.flatnonzero(r.column("link/handover"))
        assert [e["step"] for e in r.events if e["kind"] == "handover"] == ho.tolist()
        np.testing.assert_array_equal(r.column("traffic/sog") >= 0, True)


def test_record_directory_and_file_series(tmp_path):
    env = gym.make("testbed/Channel-v0", record=str(tmp_path / "runs") + "/", time_limit_s=20.0)
    for s in range(3):
        env.reset(seed=s)
        done = False
        while not done:
            _, _, te, tr, _ = env.step(np.array([0.0, 0.5], dtype=np.float32))
            done = te or tr
    env.close()
    files = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert files == ["episode_000.replay", "episode_001.replay", "episode_002.replay"]
    assert [ReplayReader(tmp_path / "runs" / f).header["seed"] for f in files] == [0, 1, 2]
    env = gym.make("testbed/Channel-v0", record=str(tmp_path / "one.replay"), time_limit_s=10.0)
    for _ in range(2):
        env.reset(seed=7)
        while not any(env.step(np.zeros(2, dtype=np.float32))[2:4]):
            pass
    env.close()
    assert (tmp_path / "one.replay").is_file() and (tmp_path / "one-001.replay").is_file()


def test_no_file_until_the_episode_ends_and_unfinished_on_close(tmp_path, monkeypatch):
    from testbed.replay import recorder

    writes = []
    real = recorder.write_replay
    monkeypatch.setattr(recorder, "write_replay", lambda *a, **k: writes.append(a[0]) or real(*a, **k))
    p = tmp_path / "ep.replay"
    env = gym.make("testbed/Channel-v0", record=str(p))
    env.reset(seed=0)
    for _ in range(50):
        env.step(np.array([0.0, 0.5], dtype=np.float32))
    assert writes == [] and not p.exists()  # nothing written while the episode runs (no I/O per step)
    env.close()  # cut short: recorded as unfinished
    with ReplayReader(p) as r:
        assert r.header["outcome"] == "unfinished" and r.n_steps == 50
    assert verify(p).identical


def test_record_episode_wrapper_over_discrete_actions(tmp_path):
    from testbed.wrappers import DiscreteActions

    env = RecordEpisode(DiscreteActions(gym.make("testbed/Channel-v0", time_limit_s=30.0)), tmp_path / "d.replay",
                        agent="discrete")  # fmt: skip
    env.reset(seed=3)
    for k in range(30):
        _, _, te, tr, _ = env.step(k % 20)
        if te or tr:
            break
    env.close()
    with ReplayReader(tmp_path / "d.replay") as r:
        a = r.column("action")
        assert r.header["agent"] == "discrete" and r.n_steps == 30
        assert np.array_equal(a[1], [-1.0, -0.5])  # the continuous action DiscreteActions sent for k = 0
    assert verify(tmp_path / "d.replay").identical
    with pytest.raises(TypeError, match="records testbed envs"):
        RecordEpisode(gym.make("CartPole-v1"), tmp_path / "x.replay")


def test_same_seed_and_actions_give_identical_replays(tmp_path, record_episode):
    run_episode = record_episode
    rng = np.random.default_rng(5)
    acts = rng.uniform(-1, 1, (120, 2))
    run_episode(tmp_path / "a.replay", "testbed/PortEntry-v0", seed=9, actions=acts, max_steps=120,
                link={"profile": "5g_sa"})  # fmt: skip
    run_episode(tmp_path / "b.replay", "testbed/PortEntry-v0", seed=9, actions=acts, max_steps=120,
                link={"profile": "5g_sa"})  # fmt: skip
    with ReplayReader(tmp_path / "a.replay") as a, ReplayReader(tmp_path / "b.replay") as b:
        assert a.columns.keys() == b.columns.keys()
        for name in a.columns:
            assert np.array_equal(_bits(a.column(name)), _bits(b.column(name))), name
        assert a.events == b.events
    assert (tmp_path / "a.replay").read_bytes() == (tmp_path / "b.replay").read_bytes()
    run_episode(tmp_path / "c.replay", "testbed/PortEntry-v0", seed=10, actions=acts, max_steps=120,
                link={"profile": "5g_sa"})  # fmt: skip
    with ReplayReader(tmp_path / "a.replay") as a, ReplayReader(tmp_path / "c.replay") as c:
        assert not np.array_equal(a.column("ego/x"), c.column("ego/x"))


def test_vector_env_recorder_one_file_per_episode_per_env(tmp_path):
    from testbed.vector_env import DuisburgVectorEnv

    venv = Recorder(DuisburgVectorEnv(3, "Channel-v0", time_limit_s=40.0), tmp_path, agent="random")
    venv.reset(seed=20)
    rng = np.random.default_rng(1)
    rewards = []
    for _ in range(100):
        _, r, _, _, _ = venv.step(rng.uniform(-1, 1, (3, 2)))
        rewards.append(r)
    venv.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    # 100 steps = 2 episodes of 40 steps, the autoreset step, and 19 steps of a third (unfinished)
    assert names == [f"env_{e:03d}_episode_{k:04d}.replay" for e in range(3) for k in range(3)]
    for e in range(3):
        eps = [ReplayReader(tmp_path / f"env_{e:03d}_episode_{k:04d}.replay") for k in range(3)]
        assert [r.header["outcome"] for r in eps] == ["time_limit", "time_limit", "unfinished"]
        assert [r.header["episode"] for r in eps] == [0, 1, 2] and {r.header["seed"] for r in eps} == {20 + e}
        assert [r.n_steps for r in eps] == [40, 40, 18]
        assert np.array_equal(eps[0].column("reward/total")[1:], np.array(rewards)[:40, e])
        assert np.array_equal(eps[1].column("reward/total")[1:], np.array(rewards)[41:81, e])
    # env 2's second episode re-simulates bit-identically in a single env
    assert verify(tmp_path / "env_002_episode_0001.replay").identical


def test_bare_world_recorder(tmp_path):
    from testbed.scenarios import get
    from testbed.world import World

    world = World(get("Channel-v0"), 2)
    rec = Recorder(world, tmp_path)
    for e in range(2):
        world.reset_env(e, seed=30 + e)
    rec.after_reset([0, 1])
    for k in range(25):
        _, term, trunc, _ = world.step(np.tile([0.1, 0.6], (2, 1)))
        done = term | trunc
        if k == 9:
            done = done | np.array([True, False])  # env 0 stops early (e.g. an evaluation budget)
        rec.after_step(np.tile([0.1, 0.6], (2, 1)), done)
        for e in np.flatnonzero(done):
            world.reset_env(int(e))
            rec.after_reset(int(e))
    rec.flush()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["env_000_episode_0000.replay", "env_000_episode_0001.replay", "env_001_episode_0000.replay"]
    with ReplayReader(tmp_path / "env_001_episode_0000.replay") as r:
        assert r.n_steps == 25 and np.array_equal(r.times, np.arange(26.0))
    with ReplayReader(tmp_path / "env_000_episode_0001.replay") as r:
        assert r.n_steps == 15 and r.header["episode"] == 1
    assert verify(tmp_path / "env_000_episode_0001.replay").identical


def test_a_failed_background_write_is_reported_not_lost(tmp_path, monkeypatch):
    from testbed.replay import ReplayError, recorder

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(recorder, "write_replay", broken)
    env = gym.make("testbed/Channel-v0", record=str(tmp_path) + "/", time_limit_s=5.0)
    env.reset(seed=0)
    while not any(env.step(np.zeros(2, dtype=np.float32))[2:4]):
        pass
    with pytest.raises(ReplayError, match="writing a replay failed: disk full"):
        env.close()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kw", [{}, {"traffic": {"count": 0}}, {"link": {"profile": "5g_sa", "mode": "remote"}}])
def test_compiled_gather_equals_the_numpy_views(kw):
    from testbed.env import resolve_config
    from testbed.replay.recorder import WorldTap
    from testbed.world import World

    world = World(resolve_config("PortEntry-v0", kwargs=kw), 3)
    for e in range(3):
        world.reset_env(e, seed=e)
    tap = WorldTap(world)
    rng = np.random.default_rng(0)
    for _ in range(30):
        a = rng.uniform(-1, 1, (3, 2))
        world.step(a)
        tap.sent[...] = a
        fast, ref = np.full((3, tap.width), np.nan), np.full((3, tap.width), np.nan)
        tap.capture(fast)
        tap.capture_views(ref)
        assert np.array_equal(fast.view(np.uint64), ref.view(np.uint64))
