"""Replays recorded once per test session (real episodes of real scenarios)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import testbed  # noqa: F401  (registers the scenarios)


def run_episode(path, scenario="testbed/Channel-v0", seed=0, max_steps=None, actions=None, **kw):
    """Record one episode driven by the autopilot (or by ``actions``); returns (env, per-step log)."""
    from agents.autopilot import Autopilot

    env = gym.make(scenario, record=str(path), record_agent="autopilot", **kw)
    obs, _ = env.reset(seed=seed)
    base = env.unwrapped
    oc = base.cfg.observation
    pol = Autopilot(n_rays=oc.n_rays, n_targets=oc.n_targets)
    pol.reset()
    log = {"x": [float(base.world.ego.x[0])], "reward": [], "action": [], "t": [0.0]}
    k = 0
    while True:
        a = np.asarray(actions[k] if actions is not None else pol.act(obs), dtype=np.float32)
        obs, r, term, trunc, info = env.step(a)
        log["x"].append(float(base.world.ego.x[0]))
        log["t"].append(info["time_s"])
        log["reward"].append(r)
        log["action"].append(a.astype(np.float64))
        k += 1
        if term or trunc or (max_steps is not None and k >= max_steps):
            break
    log["done"] = term or trunc
    log["outcome"] = info["outcome"]
    env.close()
    return env, log


@pytest.fixture(scope="session")
def channel_replay(tmp_path_factory):
    """A full Channel-v0 episode with the autopilot (goal reached) and its log."""
    p = tmp_path_factory.mktemp("rec") / "channel.replay"
    _, log = run_episode(p, seed=1)
    return p, log


@pytest.fixture(scope="session")
def port_replay(tmp_path_factory):
    """A 150 s PortEntry-v0 episode with AIS-replayed traffic and a remote link with outages."""
    p = tmp_path_factory.mktemp("rec") / "port.replay"
    _, log = run_episode(p, "testbed/PortEntry-v0", seed=4, time_limit_s=150.0,
                         link={"profile": "with_outages", "mode": "remote"})  # fmt: skip
    return p, log


@pytest.fixture(scope="session")
def record_episode():
    """The :func:`run_episode` helper, for tests that record their own episodes."""
    return run_episode
