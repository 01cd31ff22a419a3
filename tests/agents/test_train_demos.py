"""testbed demos (Minari dataset) and algo.pretrain=bc (behaviour cloning before RL)."""

from __future__ import annotations

import json

import numpy as np

from agents.demos import DEMO_SEED0, load_demos
from testbed.cli import main


def test_demos_then_bc(tmp_path, capsys):
    out = tmp_path / "demos"
    assert main(["demos", "--agent", "autopilot", "--scenario", "Channel-v1", "--episodes", "2", "--out", str(out)]) == 0
    path = out / "testbed" / "channel-v1-autopilot-v0"
    obs, act, meta = load_demos(path)
    assert meta["episodes"] == 2 and obs.shape == (meta["steps"], 127) and act.shape == (meta["steps"], 2)
    import os

    import minari

    os.environ["MINARI_DATASETS_PATH"] = str(out)
    try:
        ds = minari.load_dataset("testbed/channel-v1-autopilot-v0")
        eps = list(ds.iterate_episodes())
        assert [int(e.id) for e in eps] == [0, 1] and eps[0].terminations[-1]
        assert ds.spec.env_spec is not None and ds.spec.env_spec.id == "testbed/Channel-v1"
    finally:
        del os.environ["MINARI_DATASETS_PATH"]
    # the demonstrations are the autopilot's actions on the seeds 200,000,000 + k
    from agents.loader import load_policy
    from testbed.env import DuisburgEnv
    from testbed.scenarios import get

    env = DuisburgEnv(get("Channel-v1"))
    o, _ = env.reset(seed=DEMO_SEED0)
    ap = load_policy("autopilot", scenario="Channel-v1")
    assert np.array_equal(o, obs[0]) and np.array_equal(ap.act(o), act[0])
    # the same id again is refused
    capsys.readouterr()
    assert main(["demos", "--scenario", "Channel-v1", "--episodes", "1", "--out", str(out)]) == 2
    assert "exists already" in capsys.readouterr().err
    # behaviour cloning warm start, evaluated before any RL
    rd = tmp_path / "run"
    assert main(["train", "scenario=Channel-v1", 'overrides=["time_limit_s=60"]', "n_envs=2", "eval.episodes=1",
                 "progress_bar=false", "total_steps=64", "algo.kwargs.n_steps=32", "algo.kwargs.batch_size=32",
                 "algo.pretrain=bc", f"pretrain.dataset={path}", "pretrain.epochs=5", "pretrain.dagger_iterations=1",
                 "pretrain.dagger_episodes=2", f"run_dir={rd}"]) == 0  # fmt: skip
    rep = json.loads((rd / "report.json").read_text())
    assert rep["pretrain"]["steps"] == meta["steps"] and rep["pretrain"]["loss_last"] < rep["pretrain"]["loss_first"]
    assert rep["evaluations"][0]["step"] == 0
    (dg,) = rep["pretrain"]["dagger"]  # one DAgger round: the learner's states labelled by the autopilot
    assert dg["samples"] > meta["steps"] and 0 <= dg["rollout_success"] <= 1
    capsys.readouterr()
    assert main(["train", "algo.pretrain=bc", f"run_dir={tmp_path / 'r2'}", "total_steps=64"]) == 2
    assert not (tmp_path / "r2").exists()
    assert "pretrain.dataset" in capsys.readouterr().err


def test_only_successful_demonstrations(tmp_path):
    from agents.demos import record_demos

    idle = record_demos("idle", "Channel-v1", 2, tmp_path, ["time_limit_s=20"], progress=False)
    ap = record_demos("autopilot", "Channel-v1", 2, tmp_path / "ap", progress=False)
    assert idle["outcomes"] == {"time_limit": 2} and ap["outcomes"] == {"goal": 2}
    assert load_demos(idle["path"])[2]["episodes_used"] == 2
    assert load_demos(idle["path"], only_success=True)[2]["episodes_used"] == 0
    assert load_demos(ap["path"], only_success=True)[2]["episodes_used"] == 2
