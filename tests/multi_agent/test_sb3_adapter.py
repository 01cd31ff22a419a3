"""The SB3 VecEnv adapter over the multi-agent world: one SB3 env per agent slot, autoreset per world env,
bit-identical to the ParallelEnv, and a tiny PPO run of a shared policy."""

from __future__ import annotations

import numpy as np
import pytest

from testbed.multi_agent import SB3MultiAgentVecEnv, parallel_env


def test_slots_match_the_parallel_env_bit_for_bit():
    venv = SB3MultiAgentVecEnv("RhineTransit-v0", n_agents=2, n_envs=2, seed=11)
    obs = venv.reset()
    assert obs.shape == (4, venv.observation_space.shape[0])
    envs = [parallel_env("RhineTransit-v0", n_agents=2) for _ in range(2)]
    ref = [e.reset(seed=11 + i)[0] for i, e in enumerate(envs)]
    for e in range(2):
        for k in range(2):
            assert obs[2 * e + k].tobytes() == ref[e][f"ego_{k}"].tobytes()
    rng = np.random.default_rng(0)
    for _ in range(100):
        act = rng.uniform(-1, 1, (4, 2)).astype(np.float32)
        obs, rew, done, _ = venv.step(act)
        for e, env in enumerate(envs):
            o, r, *_ = env.step({f"ego_{k}": act[2 * e + k] for k in range(2)})
            for k in range(2):
                assert obs[2 * e + k].tobytes() == o[f"ego_{k}"].tobytes()
                assert np.float32(r[f"ego_{k}"]) == rew[2 * e + k]
        assert not done.any()


def test_autoreset_per_world_env():
    venv = SB3MultiAgentVecEnv("RhineTransit-v0", n_agents=2, n_envs=1, seed=3, time_limit_s=20.0, traffic={"count": 0})
    venv.reset()
    dones = []
    for _ in range(45):
        obs, rew, done, infos = venv.step(np.zeros((2, 2), np.float32))
        dones.append(done.copy())
        for i in np.flatnonzero(done):
            assert infos[i]["TimeLimit.truncated"] and infos[i]["outcome"] == "time_limit"
            assert infos[i]["terminal_observation"].shape == obs[i].shape
    d = np.array(dones)
    assert d.sum() == 4 and d[19].all() and d[39].all()  # both agents at 20 s, then again after the reset
    assert venv.world.t[0] == 5.0


def test_finished_agent_slot_waits_for_the_others():
    venv = SB3MultiAgentVecEnv("RhineTransit-v0", n_agents=2, n_envs=1, seed=3, traffic={"count": 0})
    venv.reset()
    venv.world.ego.x[0] = venv.world.ego.y[0] = -1e7  # agent 0 leaves the map
    obs, rew, done, infos = venv.step(np.zeros((2, 2), np.float32))
    assert done.tolist() == [True, False] and infos[0]["outcome"] in ("left_map", "grounding")
    obs, rew, done, _ = venv.step(np.zeros((2, 2), np.float32))
    assert not done.any() and rew[0] == 0.0 and not obs[0].any() and obs[1].any()


def test_tiny_ppo_trains_a_shared_policy():
    torch = pytest.importorskip("torch")
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    venv = SB3MultiAgentVecEnv("MA-RhineMeeting-v0", n_envs=1, seed=0)
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu",
                policy_kwargs={"net_arch": [16]})  # fmt: skip
    model.learn(256)
    assert model.num_timesteps == 256
    act, _ = model.predict(venv.reset(), deterministic=True)
    assert act.shape == (2, 2) and np.isfinite(act).all()


def test_the_parallel_env_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; import testbed.multi_agent as m; m.parallel_env('RhineTransit-v0', n_agents=2).reset(seed=0); "
            "print('torch' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
