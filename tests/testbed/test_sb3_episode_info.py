"""SB3VecEnv reports episode statistics like SB3's Monitor / VecMonitor (info["episode"] = {r, l, t})."""

import numpy as np
import pytest


def test_episode_info_sums_the_rewards_of_the_episode():
    from testbed.vector_env import SB3VecEnv

    env = SB3VecEnv("Channel-v0", num_envs=2, seed=3, overrides=["time_limit_s=12"])
    env.reset()
    returns, lengths, seen = np.zeros(2), np.zeros(2, dtype=int), []
    for _ in range(30):
        obs, rew, done, infos = env.step(np.zeros((2, 2), dtype=np.float32))
        returns += rew
        lengths += 1
        for e in np.flatnonzero(done):
            ep = infos[e]["episode"]
            assert set(ep) == {"r", "l", "t"} and ep["t"] >= 0.0
            assert ep["l"] == lengths[e] == 12
            assert ep["r"] == pytest.approx(returns[e], abs=1e-5)
            seen.append(e)
            returns[e], lengths[e] = 0.0, 0
        for e in np.flatnonzero(~done):
            assert "episode" not in infos[e]
    assert sorted(seen) == [0, 0, 1, 1]  # two episodes each, every one reported once
    env.close()


def test_ppo_logger_gets_episode_returns_without_vecmonitor():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecMonitor, is_vecenv_wrapped

    from testbed.vector_env import SB3VecEnv

    env = SB3VecEnv("Channel-v0", num_envs=4, seed=0, overrides=["time_limit_s=20"])
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    assert not is_vecenv_wrapped(model.get_env(), VecMonitor)  # SB3 added no monitor of its own
    model.learn(total_timesteps=256)
    buf = list(model.ep_info_buffer)
    assert len(buf) >= 8, buf  # 4 envs x 64 steps / 20-step episodes
    assert all(set(e) >= {"r", "l", "t"} and e["l"] == 20 for e in buf)
    mean, _ = evaluate_policy(model, env, n_eval_episodes=4, warn=True)
    assert np.isfinite(mean)
    env.close()
