"""testbed export: ONNX (run by onnxruntime through agents.loader) agrees with SB3 to 1e-5 on 1,000 recorded
observations, for an MLP (PPO, SAC) and a recurrent (RecurrentPPO) policy, normalisation included."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.loader import load_policy
from agents.train import _algo_class, load_norm_into
from testbed.cli import main

TINY = ["scenario=Channel-v1", 'overrides=["time_limit_s=60"]', "n_envs=2", "eval.episodes=1", "log_every=1000",
        "progress_bar=false", "total_steps=128", "checkpoint_every=128", "eval.every=128"]  # fmt: skip
ALGOS = {
    "ppo": ["algo=ppo", "algo.kwargs.n_steps=32", "algo.kwargs.batch_size=32", "algo.net_arch=[16,16]"],
    "sac": ["algo=sac", "algo.kwargs.learning_starts=32", "algo.kwargs.batch_size=16", "algo.net_arch=[16,16]",
            "algo.kwargs.buffer_size=500"],
    "recurrent_ppo": ["algo=recurrent_ppo", "algo.kwargs.n_steps=32", "algo.kwargs.batch_size=32",
                      "algo.net_arch=[16]", "algo.policy_kwargs.lstm_hidden_size=8"],
}  # fmt: skip


@pytest.fixture(scope="module")
def recorded():
    """1,000 observations of two autopilot episodes of Channel-v1 (the episode boundary is kept)."""
    import gymnasium as gym

    env = gym.make("testbed/Channel-v1")
    ap = load_policy("autopilot", env.observation_space, env.action_space, scenario="Channel-v1")
    obs_list, starts = [], []
    seed = 0
    obs, _ = env.reset(seed=seed)
    start = True
    while len(obs_list) < 1000:
        obs_list.append(obs)
        starts.append(start)
        obs, _, term, trunc, _ = env.step(ap.act(obs))
        start = term or trunc
        if start:
            seed += 1
            obs, _ = env.reset(seed=seed)
    return np.array(obs_list, dtype=np.float32), np.array(starts)


@pytest.mark.parametrize("algo", list(ALGOS))
def test_onnx_matches_sb3(tmp_path, recorded, algo, capsys):
    obs, starts = recorded
    rd, out = tmp_path / "run", tmp_path / "policy"
    assert main(["train", *TINY, *ALGOS[algo], f"run_dir={rd}"]) == 0
    assert main(["export", str(rd), "--out", str(out), "--which", "last"]) == 0
    meta = json.loads((out / "policy.json").read_text())
    assert meta["algorithm"] == algo and meta["recurrent"] == (algo == "recurrent_ppo")
    assert meta["obs_norm"] == "obs_norm.npz" and "testbed train" in meta["training_command"]
    assert (out / "policy.onnx").stat().st_size < 200_000
    # SB3 with the run's own normalisation statistics
    from stable_baselines3.common.vec_env import VecNormalize

    from testbed.vector_env import SB3VecEnv

    snap = sorted((rd / "checkpoints").iterdir())[-1]
    model = _algo_class(algo).load(snap / "model.zip", device="cpu")
    vn = VecNormalize(SB3VecEnv("Channel-v1", num_envs=1), clip_obs=10.0)
    load_norm_into(vn, snap / "vecnormalize.npz")
    x = vn.normalize_obs(obs)
    pol = load_policy(f"policy:{out}")
    if algo == "recurrent_ppo":
        want, state = [], None
        for i in range(len(obs)):
            a, state = model.predict(x[i:i + 1], state=state, episode_start=starts[i:i + 1], deterministic=True)
            want.append(a[0])
        got = []
        for i in range(len(obs)):
            if starts[i]:
                pol.reset()
            got.append(pol.act(obs[i]))
        want, got = np.array(want), np.array(got)
    else:
        want = model.predict(x, deterministic=True)[0]
        got = np.array([pol.act(o) for o in obs])
    assert got.shape == (1000, 2) and got.dtype == np.float32
    assert np.abs(want - got).max() <= 1e-5
    assert np.abs(got).max() > 1e-3  # not a trivially constant policy


def test_export_errors(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "config.yaml: missing" in err and err.count("\n") == 1
