"""The 5G link in the environment: data path, command path with fail-safe, info, determinism."""

import math

import gymnasium as gym
import numpy as np
import pytest

import testbed  # noqa: F401
from testbed.config import ConfigError


def _run(steps=60, seed=0, action=(0.0, 0.5), **kw):
    env = gym.make("testbed/PortEntry-v0", traffic={"count": 4}, **kw)
    obs, info = env.reset(seed=seed)
    out = []
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(np.array(action, dtype=np.float32))
        out.append((obs.copy(), r, info["link"]))
        if term or trunc:
            break
    return env, out


def test_ideal_link_is_free_and_reported():
    _, out = _run(10)
    obs, _, link = out[-1]
    assert list(obs[-4:]) == [1.0, 0.0, 0.0, 0.0]
    assert link["data_latency_ms"] == 0.0 and not link["data_lost"] and link["sinr_db"] == math.inf


def test_5g_link_reports_sinr_latency_and_is_deterministic():
    _, a = _run(60, link={"profile": "5g_sa"})
    _, b = _run(60, link={"profile": "5g_sa"})
    assert all(x[0].tobytes() == y[0].tobytes() and x[1] == y[1] and x[2] == y[2] for x, y in zip(a, b, strict=True))
    lat = [x[2]["data_latency_ms"] for x in a if not x[2]["data_lost"]]
    assert lat and 0.5 < np.median(lat) < 50.0  # one-way milliseconds
    assert all(x[2]["serving_cell"] for x in a)
    sinr = np.array([x[2]["sinr_db"] for x in a])
    assert np.all(np.isfinite(sinr)) and np.allclose([x[0][-4] for x in a], np.clip(sinr / 30.0, -10, 10))
    _, c = _run(60, seed=1, link={"profile": "5g_sa"})
    assert [x[2]["data_latency_ms"] for x in c] != [x[2]["data_latency_ms"] for x in a]


def test_remote_failsafe_engages_when_commands_stop_arriving():
    env = gym.make("testbed/PortEntry-v0", traffic={"count": 0},
                   link={"profile": "5g_sa", "mode": "remote", "failsafe": "stop", "command_timeout_s": 3.0})  # fmt: skip
    env.reset(seed=0)
    w = env.unwrapped.world
    link = w.link
    for _ in range(5):
        env.step(np.array([0.0, 1.0], dtype=np.float32))
    assert not link.failsafe[0]
    # cut the command path: every command is lost from now on
    real_step = link.channel.step

    def lossy(*args, **kwargs):
        ls = real_step(*args, **kwargs)
        ls.cmd_lost[:] = True
        return ls

    link.channel.step = lossy
    engaged = []
    for _ in range(8):
        _, _, _, _, info = env.step(np.array([1.0, 1.0], dtype=np.float32))  # hard starboard: never arrives
        engaged.append(info["link"]["failsafe"])
    assert engaged[:2] == [False, False] and all(engaged[4:])
    assert w.actions[0, 0] == 0.0 and w.actions[0, 1] == 0.0  # "stop": rudder amidships, engine stop
    assert abs(w.ego.delta[0]) < 1e-9 or abs(w.ego.delta[0]) < abs(math.radians(35))  # the 1.0 rudder never acted
    assert env.unwrapped.world.obs[0, -1] > 1.0  # command age beyond the timeout


def test_data_path_loss_ages_the_ais_picture():
    kw = {"observation": {"targets": "ais"}, "link": {"profile": "5g_sa"}}
    env = gym.make("testbed/PortEntry-v0", traffic={"count": 4}, **kw)
    env.reset(seed=0)
    link = env.unwrapped.world.link
    real_step = link.channel.step

    def dead(*args, **kwargs):
        ls = real_step(*args, **kwargs)
        ls.data_lost[:] = True
        return ls

    base = 19 + 32
    ages = []
    link.channel.step = dead
    for _ in range(40):
        obs, *_ = env.step(np.array([0.0, 0.5], dtype=np.float32))
        present = obs[base::9][:8] > 0
        ages.append(obs[base + 8::9][:8][present].min() * 60 if present.any() else np.inf)
    assert ages[-1] >= 35.0  # no report got through for 40 s
    assert obs[-2] > 0.8  # the loss-rate feature saw it


def test_bad_link_config_names_the_key():
    with pytest.raises(ConfigError, match="no_such_profile"):
        gym.make("testbed/Channel-v0", link={"profile": "no_such_profile"})
    with pytest.raises(ConfigError, match="link.mode"):
        gym.make("testbed/Channel-v0", link={"mode": "telepathy"})
