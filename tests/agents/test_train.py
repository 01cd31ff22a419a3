"""testbed train: run directory contents, reproducibility, resume after kill -9, bad input, a joblib sweep.

Every run is tiny (a few hundred steps, tiny nets, short episodes)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ["scenario=Channel-v1", 'overrides=["time_limit_s=60"]', "n_envs=2", "eval.episodes=2", "log_every=64",
        "progress_bar=false", "algo.net_arch=[8]"]  # fmt: skip
PPO = ["algo=ppo", "algo.kwargs.n_steps=32", "algo.kwargs.batch_size=32", "algo.kwargs.n_epochs=2"]


def _train(run_dir, *extra) -> int:
    return main(["train", *TINY, f"run_dir={run_dir}", *extra])


def test_run_directory_contents(tmp_path, capsys):
    rd = tmp_path / "run"
    assert _train(rd, *PPO, "total_steps=256", "checkpoint_every=128", "eval.every=128") == 0
    for f in ("config.yaml", "progress.csv", "evaluations.csv", "report.json", "best/model.zip",
              "best/vecnormalize.npz"):  # fmt: skip
        assert (rd / f).is_file(), f
    assert sorted(p.name for p in (rd / "checkpoints").iterdir()) == ["step_0000000128", "step_0000000256"]
    assert list((rd / "tb").glob("events.out.tfevents.*"))
    rep = json.loads((rd / "report.json").read_text())
    assert rep["total_steps"] == 256 and rep["algorithm"] == "ppo" and rep["validation_seeds"] == [1_000_000, 1_000_001]
    assert rep["final_eval"]["episodes"] == 2 and sum(rep["final_eval"]["outcomes"].values()) == 2
    assert set(rep["final_eval"]["reward_components"]) >= {"progress", "goal", "near_miss"}
    rows = list(csv.DictReader(open(rd / "progress.csv")))
    assert [int(r["step"]) for r in rows] == [64, 128, 192, 256]
    assert float(rows[-1]["steps_per_s"]) > 0
    evals = list(csv.DictReader(open(rd / "evaluations.csv")))
    assert [int(r["step"]) for r in evals] == [128, 256]
    assert "testbed train" in (rd / "config.yaml").read_text()
    # the TensorBoard file holds the scalars the issue asks for
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set(EventAccumulator(str(rd / "tb")).Reload().Tags()["scalars"])
    assert {"eval/success_rate", "eval/return", "time/env_steps_per_s", "eval_reward/progress",
            "eval_outcomes/goal"} <= tags, tags  # fmt: skip
    # an existing run directory is never overwritten silently
    capsys.readouterr()
    assert _train(rd, *PPO, "total_steps=256") == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "resume" in err and err.count("\n") == 1
    assert _train(rd, *PPO, "total_steps=128", "checkpoint_every=128", "eval.every=128", "--force") == 0
    assert json.loads((rd / "report.json").read_text())["total_steps"] == 128


@pytest.mark.parametrize("algo", [PPO, ["algo=sac", "algo.kwargs.learning_starts=64", "algo.kwargs.buffer_size=1000",
                                        "algo.kwargs.batch_size=16"]])  # fmt: skip
def test_same_seed_same_checkpoint_bytes(tmp_path, algo):
    args = [*algo, "total_steps=192", "checkpoint_every=192", "eval.every=1000"]
    names = ("a", "b", "c") if algo is PPO else ("a", "b")  # another seed differs (checked once, for PPO)
    for name in names:
        assert _train(tmp_path / name, *args, f"seed={int(name == 'c')}") == 0
    ck = "checkpoints/step_0000000192"
    zips = [(tmp_path / n / ck / "model.zip").read_bytes() for n in names]
    assert zips[0] == zips[1] and all(z != zips[0] for z in zips[2:])
    assert (tmp_path / "a" / ck / "vecnormalize.npz").read_bytes() == (tmp_path / "b" / ck / "vecnormalize.npz").read_bytes()


def test_resume_after_sigkill(tmp_path):
    rd = tmp_path / "run"
    cmd = [sys.executable, "-m", "testbed", "train", *TINY, *PPO, f"run_dir={rd}", "total_steps=3200",
           "checkpoint_every=320", "eval.every=100000", "eval.episodes=1"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (rd / "checkpoints" / "step_0000000640" / "state.json").exists():
            time.sleep(0.05)
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (rd / "report.json").exists()
    steps_at_kill = max(int(p.name[5:]) for p in (rd / "checkpoints").glob("step_*") if (p / "state.json").exists())
    assert 640 <= steps_at_kill < 3200
    assert main(["train", "resume", str(rd)]) == 0
    rep = json.loads((rd / "report.json").read_text())
    assert rep["total_steps"] == 3200 and rep["segments"] == 2
    steps = [int(r["step"]) for r in csv.DictReader(open(rd / "progress.csv"))]
    assert steps == list(range(64, 3201, 64))  # rows after the checkpoint were dropped and logged again


def test_bad_input_is_one_line(tmp_path, capsys):
    cases = [
        (["algo=dqn"], "unknown algorithm"),
        (["scenario=Nowhere-v0"], "unknown scenario 'Nowhere-v0'"),
        (["lerning_rate=3"], "lerning_rate"),
        (["total_steps=0"], "total_steps=0"),
        (['overrides=["reward.colision=-1"]'], "colision"),
    ]
    for args, want in cases:
        capsys.readouterr()
        assert main(["train", *args, f"run_dir={tmp_path / 'x'}"]) == 2, args
        err = capsys.readouterr().err
        assert want in err and err.count("\n") == 1, (args, err)
    assert main(["train", "resume", str(tmp_path / "nothing")]) == 2
    assert "config.yaml: missing" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_joblib_sweep_two_tiny_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "-m", *TINY, *PPO, "total_steps=64", "checkpoint_every=64", "eval.every=64",
                 "eval.episodes=1", "seed=0,1", f"hydra.sweep.dir={tmp_path / 'sweep'}"]) == 0  # fmt: skip
    runs = sorted((tmp_path / "sweep").glob("*_Channel-v1_ppo_seed*"))
    assert [r.name for r in runs] == ["0_Channel-v1_ppo_seed0", "1_Channel-v1_ppo_seed1"]
    for r in runs:
        rep = json.loads((r / "report.json").read_text())
        assert rep["total_steps"] == 64 and str(rep["seed"]) == r.name[-1]
        assert "seed=" in (r / "config.yaml").read_text()


def test_curriculum_promotes_on_eval_success(tmp_path):
    rd = tmp_path / "run"
    stages = ('curriculum={stages: [{scenario: Channel-v1, overrides: ["time_limit_s=60"], promote_at: 0.0}, '
              '{scenario: Crossing-v1, overrides: ["time_limit_s=60"]}]}')  # fmt: skip
    assert _train(rd, *PPO, "total_steps=192", "eval.every=64", "checkpoint_every=1000", stages) == 0
    rep = json.loads((rd / "report.json").read_text())
    assert rep["curriculum"]["promotions"] == [{"stage": 1, "step": 64}]
    assert [e["stage"] for e in rep["evaluations"]] == [0, 1, 1]
    assert rep["best_eval"]["step"] in (128, 192)  # best/ only from the last stage


def test_launchers_compose():
    """joblib is the default sweep launcher; hydra/launcher=slurm selects submitit's SLURM launcher."""
    from hydra import compose, initialize_config_dir

    from testbed.cli.train_cmd import conf_dir

    with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
        joblib = compose("train/config", return_hydra_config=True).hydra.launcher
        slurm = compose("train/config", overrides=["hydra/launcher=slurm"], return_hydra_config=True).hydra.launcher
    assert joblib._target_.endswith("JoblibLauncher")
    assert slurm._target_.endswith("SlurmLauncher") and slurm.cpus_per_task == 2 and slurm.timeout_min == 240


def test_critic_warmup_trains_only_the_value_function_first(tmp_path, capsys):
    """pretrain.critic_warmup_steps: during the first N steps only the critic changes; after them the actor too."""
    import torch
    from stable_baselines3 import PPO as SB3PPO

    rd = tmp_path / "w"
    assert _train(rd, *PPO, "total_steps=192", "checkpoint_every=64", "eval.every=1000", "keep_checkpoints=5",
                  "pretrain.critic_warmup_steps=128") == 0  # fmt: skip
    ck = {n: SB3PPO.load(rd / "checkpoints" / f"step_{n:010d}" / "model.zip", device="cpu").policy.state_dict()
          for n in (64, 128, 192)}  # fmt: skip
    actor = [k for k in ck[64] if not k.startswith(("value_net.", "mlp_extractor.value_net."))]
    critic = [k for k in ck[64] if k.startswith(("value_net.", "mlp_extractor.value_net."))]
    assert actor and critic
    assert all(torch.equal(ck[64][k], ck[128][k]) for k in actor)  # frozen while warming up
    assert not all(torch.equal(ck[64][k], ck[128][k]) for k in critic)  # the critic learned
    assert not all(torch.equal(ck[128][k], ck[192][k]) for k in actor)  # then the actor learns too
    capsys.readouterr()
    assert _train(tmp_path / "s", "algo=sac", "total_steps=64", "pretrain.critic_warmup_steps=10") == 2
    assert "critic_warmup_steps=10: only for ppo" in capsys.readouterr().err
