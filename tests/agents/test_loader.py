"""agents.loader: built-in agents, exported ONNX folders, submissions, and every bad-input error."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from agents.export import policy_meta
from agents.loader import PolicyLoadError, load_policy
from testbed.cli import main
from testbed.env import make_spaces
from testbed.scenarios import get

CFG = get("Channel-v0")
OBS_SPACE, ACT_SPACE = make_spaces(CFG)
D = OBS_SPACE.shape[0]
_rng = np.random.default_rng(0)
W, B = _rng.normal(scale=0.1, size=(D, 2)), np.array([0.1, 0.5])
MEAN, VAR = _rng.normal(size=D), _rng.uniform(0.5, 2.0, size=D)


def _linear_onnx(w: np.ndarray, b: np.ndarray) -> bytes:
    """obs (B, D) -> action = obs @ w + b, built with onnx.helper (no torch needed)."""
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["obs", "W", "b"], ["action"])], "linear",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", D])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(w.astype(np.float32), "W"), numpy_helper.from_array(b.astype(np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.fixture()
def folder(tmp_path):
    w, b, mean, var = W, B, MEAN, VAR
    d = tmp_path / "pol"
    d.mkdir()
    (d / "policy.onnx").write_bytes(_linear_onnx(w, b))
    np.savez(d / "obs_norm.npz", mean=mean, var=var, clip_obs=np.float64(5.0), epsilon=np.float64(1e-8))
    meta = policy_meta(CFG, "ppo", False, {"inputs": ["obs"], "outputs": ["action"]}, True, "test")
    (d / "policy.json").write_text(json.dumps(meta))
    return d


def test_builtins():
    obs = np.zeros(D, np.float32)
    ap = load_policy("autopilot", OBS_SPACE, ACT_SPACE, scenario=CFG)
    ap.reset(0)
    a = ap.act(obs)
    assert a.shape == (2,) and a.dtype == np.float32
    r1, r2 = load_policy("random", OBS_SPACE, ACT_SPACE, seed=3), load_policy("random", OBS_SPACE, ACT_SPACE, seed=3)
    seq1 = [r1.act(obs) for _ in range(5)]
    assert all(np.array_equal(x, r2.act(obs)) for x in seq1)
    assert all(x.dtype == np.float32 and np.all(np.abs(x) <= 1) for x in seq1)
    r1.reset(7)
    r2.reset(7)
    assert np.array_equal(r1.act(obs), r2.act(obs))
    assert not np.array_equal(r1.act(obs), seq1[0])
    idle = load_policy("idle")
    assert np.array_equal(idle.act(obs), np.zeros(2, np.float32))


def test_exported_folder_computes_the_graph_with_normalisation(folder):
    pol = load_policy(f"policy:{folder}", OBS_SPACE, ACT_SPACE)
    rng = np.random.default_rng(1)
    for _ in range(20):
        obs = rng.normal(size=D).astype(np.float32)
        z = np.clip((obs - MEAN) / np.sqrt(VAR + 1e-8), -5, 5)
        want = np.clip(z @ W + B, -1, 1)
        got = pol.act(obs)
        assert got.shape == (2,) and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert load_policy(folder, OBS_SPACE, ACT_SPACE).act(obs).shape == (2,)  # a bare path works too


def test_missing_and_corrupt_files(folder):
    (folder / "policy.onnx").write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(PolicyLoadError, match=r"policy\.onnx: not a loadable ONNX model"):
        load_policy(f"policy:{folder}")
    (folder / "policy.onnx").unlink()
    with pytest.raises(PolicyLoadError, match=r"policy\.onnx: missing"):
        load_policy(f"policy:{folder}")
    (folder / "obs_norm.npz").write_bytes(b"not a zip")
    with pytest.raises(PolicyLoadError, match=r"obs_norm\.npz: not a readable npz"):
        load_policy(f"policy:{folder}")
    (folder / "policy.json").write_text("{ nope")
    with pytest.raises(PolicyLoadError, match=r"policy\.json: not valid JSON"):
        load_policy(f"policy:{folder}")
    (folder / "policy.json").unlink()
    with pytest.raises(PolicyLoadError, match="neither policy.json"):
        load_policy(f"policy:{folder}")
    with pytest.raises(PolicyLoadError, match="no such policy folder"):
        load_policy(f"policy:{folder}/nope")
    with pytest.raises(PolicyLoadError, match="unknown agent 'autopliot'"):
        load_policy("autopliot")


def test_pickled_norm_stats_are_refused(folder):
    np.save(folder / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(folder / "obs_norm.npz", mean=np.array([{"a": 1}], dtype=object), var=np.ones(D),
             clip_obs=np.float64(5.0), epsilon=np.float64(1e-8))  # fmt: skip
    with pytest.raises(PolicyLoadError, match=r"obs_norm\.npz: not a readable npz without pickles"):
        load_policy(f"policy:{folder}")


def test_layout_version_mismatch_names_the_rows(folder):
    meta = json.loads((folder / "policy.json").read_text())
    meta["obs_layout_version"] = "1-000000000000"
    meta["obs_layout"][6][1] = "cross-track error to the route / 50 (+ starboard)"
    (folder / "policy.json").write_text(json.dumps(meta))
    with pytest.raises(PolicyLoadError) as exc:
        load_policy(f"policy:{folder}")
    msg = str(exc.value)
    assert "\n" not in msg and "policy.json" in msg and "'1-000000000000' (policy)" in msg
    assert "row 6" in msg and "/ 50" in msg and "/ 100" in msg


def test_dimension_and_action_mismatch(folder):
    small_obs, _ = make_spaces(get("PortEntry-v0").__class__(observation=CFG.observation.__class__(n_rays=8)))
    with pytest.raises(PolicyLoadError, match=f"obs_dim {D} but the environment's observation space"):
        load_policy(f"policy:{folder}", small_obs, ACT_SPACE)
    meta = json.loads((folder / "policy.json").read_text())
    meta["action"]["shape"] = [3]
    (folder / "policy.json").write_text(json.dumps(meta))
    with pytest.raises(PolicyLoadError, match=r"action shape \[3\]"):
        load_policy(f"policy:{folder}")
    meta["action"]["shape"] = [2]
    del meta["recurrent"]
    (folder / "policy.json").write_text(json.dumps(meta))
    with pytest.raises(PolicyLoadError, match="missing key 'recurrent'"):
        load_policy(f"policy:{folder}")


SUBMISSION_PY = """
import numpy as np

class P:
    def __init__(self, w):
        self.w = w
    def reset(self, seed=None):
        self.t = 0
    def act(self, obs):
        self.t += 1
        return np.array([self.w[0], min(1.0, 0.1 * self.t)], dtype=np.float32)

def make_policy(observation_space, action_space):
    import pathlib
    with np.load(pathlib.Path(__file__).with_name("weights.npz"), allow_pickle=False) as z:
        return P(z["w"])
"""


def test_submission_folder(tmp_path):
    d = tmp_path / "sub"
    d.mkdir()
    (d / "submission.yaml").write_text("team: t\nname: n\nspec_version: 1\n")
    (d / "policy.py").write_text(SUBMISSION_PY)
    np.savez(d / "weights.npz", w=np.array([0.25]))
    pol = load_policy(f"policy:{d}", OBS_SPACE, ACT_SPACE)
    pol.reset(0)
    assert np.allclose(pol.act(np.zeros(D)), [0.25, 0.1]) and np.allclose(pol.act(np.zeros(D)), [0.25, 0.2])
    with open(d / "weights.pkl", "wb") as fh:
        pickle.dump({"w": 1}, fh)
    with pytest.raises(PolicyLoadError, match=r"weights\.pkl: file type '\.pkl' not allowed"):
        load_policy(f"policy:{d}", OBS_SPACE, ACT_SPACE)
    (d / "weights.pkl").unlink()
    (d / "policy.py").write_text("x = 1\n")
    with pytest.raises(PolicyLoadError, match=r"policy\.py: no make_policy"):
        load_policy(f"policy:{d}", OBS_SPACE, ACT_SPACE)
    (d / "submission.yaml").write_text("team: [unclosed\n")
    with pytest.raises(PolicyLoadError, match=r"submission\.yaml: not valid YAML"):
        load_policy(f"policy:{d}", OBS_SPACE, ACT_SPACE)


def test_exported_folder_is_a_submission_too(folder):
    (folder / "submission.yaml").write_text("team: t\nname: n\nspec_version: 1\n")
    assert load_policy(f"policy:{folder}", OBS_SPACE, ACT_SPACE).act(np.zeros(D)).shape == (2,)
    shutil.copy(folder / "policy.onnx", folder / "extra.pt")
    with pytest.raises(PolicyLoadError, match=r"extra\.pt: file type '\.pt' not allowed"):
        load_policy(f"policy:{folder}", OBS_SPACE, ACT_SPACE)


def test_cli_run_with_a_policy_folder(folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "Channel-v0", "--agent", f"policy:{folder}", "--episodes", "1", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["agent"] == f"policy:{folder}" and len(summary["episodes"]) == 1
    (folder / "policy.onnx").write_bytes(b"junk")
    capsys.readouterr()
    assert main(["run", "Channel-v0", "--agent", f"policy:{folder}", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "policy.onnx: not a loadable ONNX model" in err


def test_batched_compare_equals_single_env_evaluation(folder):
    from agents.compare import run_episodes
    from agents.evaluate import evaluate

    seeds = [0, 1, 2]
    for spec in ("autopilot", f"policy:{folder}"):
        pol = load_policy(spec, OBS_SPACE, ACT_SPACE, scenario=CFG)
        assert pol.batched
        batched = run_episodes(pol, CFG, seeds, n_envs=2)
        single = evaluate(load_policy(spec, OBS_SPACE, ACT_SPACE, scenario=CFG), "Channel-v0", seeds)["episodes"]
        assert [e["outcome"] for e in batched] == [e["outcome"] for e in single]
        assert [e["return"] for e in batched] == pytest.approx([e["return"] for e in single], abs=1e-6)


@pytest.mark.parametrize("name", ["channel", "port_entry", "port_entry_no_traffic", "berthing", "rhine_transit"])
def test_shipped_policies_load_and_act(name):
    """The shipped policies match this testbed's observation layout and run without pickle."""
    from pathlib import Path

    import agents

    folder = Path(agents.__file__).parent / "policies" / name
    meta = json.loads((folder / "policy.json").read_text())
    cfg = get(meta["scenario"])
    obs_space, act_space = make_spaces(cfg)
    pol = load_policy(f"policy:{folder}", obs_space, act_space)
    assert (folder / "README.md").is_file() and (folder / "policy.onnx").stat().st_size < 500_000
    if name == "channel":  # one whole episode, as the model card's table says
        from agents.compare import run_episodes

        assert [e["outcome"] for e in run_episodes(pol, get("Channel-v0"), [0, 1])] == ["goal", "goal"]
    else:
        assert pol.act(np.zeros(obs_space.shape, np.float32)).shape == (2,)


def test_compare_names_a_broken_policy_folder_in_one_line(tmp_path, capsys):
    from agents.compare import cli

    assert cli(["--seeds", "0-1", "Channel-v0", f"policy:{tmp_path / 'nope'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0] and "no such policy folder" in err[0]
