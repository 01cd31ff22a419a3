"""The native VectorEnv: same world as the single env, Gymnasium 1.x autoreset, SB3 adapter."""

import gymnasium as gym
import numpy as np
import pytest

import testbed  # noqa: F401
from testbed.vector_env import DuisburgVectorEnv, SB3VecEnv


def _vec(n, env_id="testbed/Channel-v0", **kw):
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kw)


def test_make_vec_gives_the_native_vector_env():
    venv = _vec(4)
    assert isinstance(venv, DuisburgVectorEnv)
    obs, infos = venv.reset(seed=0)
    assert obs.shape == (4, venv.single_observation_space.shape[0])
    assert venv.observation_space.contains(obs)
    assert infos["outcome"].shape == (4,)


@pytest.mark.parametrize("env_id", ["testbed/Channel-v0", "testbed/PortEntry-v0"])
def test_env_i_of_the_batch_equals_the_single_env(env_id):
    n, i, steps = 6, 4, 400
    rng = np.random.default_rng(5)
    acts = rng.uniform(-1, 1, (steps, n, 2)).astype(np.float32)
    acts[..., 1] = np.abs(acts[..., 1])
    venv = _vec(n, env_id, traffic={"count": 5})
    vo, _ = venv.reset(seed=100)
    env = gym.make(env_id, traffic={"count": 5})
    so, _ = env.reset(seed=100 + i)
    assert vo[i].tobytes() == so.tobytes()
    reset_next = False
    for k in range(steps):
        vo, vr, vt, vtr, vinfo = venv.step(acts[k])
        if reset_next:  # NEXT_STEP autoreset: this step returned the new episode's first observation
            so, _ = env.reset()
            assert vr[i] == 0.0 and not vt[i] and not vtr[i]
            reset_next = False
        else:
            so, sr, st, strunc, sinfo = env.step(acts[k, i])
            assert vr[i] == sr and vt[i] == st and vtr[i] == strunc
            assert vinfo["outcome"][i] == sinfo["outcome"]
            assert vinfo["reward_progress"][i] == sinfo["reward_components"]["progress"]
            reset_next = st or strunc
        assert vo[i].tobytes() == so.tobytes(), k


def test_next_step_autoreset_semantics():
    venv = _vec(2, time_limit_s=5.0, traffic={"count": 0})
    venv.reset(seed=0)
    a = np.tile([0.0, 0.5], (2, 1)).astype(np.float32)
    for _ in range(4):
        _, _, term, trunc, _ = venv.step(a)
        assert not (term.any() or trunc.any())
    obs5, _, term, trunc, info = venv.step(a)
    assert trunc.all() and not term.any() and list(info["outcome"]) == ["time_limit", "time_limit"]
    obs6, r, term, trunc, info = venv.step(a)
    assert (r == 0).all() and not trunc.any() and (info["time_s"] == 0).all()
    assert not np.array_equal(obs5, obs6)


def test_sb3_vecenv_adapter_trains():
    pytest.importorskip("stable_baselines3")
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env.util import obs_space_info

    torch.set_num_threads(1)
    venv = SB3VecEnv("Channel-v0", num_envs=4, seed=0, time_limit_s=40.0, traffic={"count": 0})
    obs_space_info(venv.observation_space)
    obs = venv.reset()
    assert obs.shape == (4, venv.observation_space.shape[0])
    obs, rew, done, infos = venv.step(np.zeros((4, 2), dtype=np.float32))
    assert rew.shape == (4,) and not done.any()
    for _ in range(45):
        obs, rew, done, infos = venv.step(np.tile([0.0, 0.5], (4, 1)))
        if done.any():
            break
    assert done.all() and "terminal_observation" in infos[0] and infos[0]["TimeLimit.truncated"]
    model = PPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, verbose=0, device="cpu")
    model.learn(total_timesteps=256)
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (4, 2)
