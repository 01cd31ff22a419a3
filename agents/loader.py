"""The one policy loader: every place that runs a policy (``testbed run``, the evaluator, the server) uses it.

``load_policy(spec, observation_space=None, action_space=None, scenario=None) -> Policy``

``spec`` is one of

- ``"autopilot"`` — the classical baseline (:class:`agents.autopilot.Autopilot`);
- ``"random"`` — uniform random actions from a seeded ``np.random.Generator`` (``reset(seed)`` reseeds);
- ``"idle"`` — always ``[0, 0]`` (rudder amidships, engine stopped);
- ``"policy:DIR"`` or a folder path ``DIR``: a policy folder, either

  * an **exported policy** (``testbed export``): ``policy.json`` + ``policy.onnx`` (+ optional
    ``obs_norm.npz``), run with onnxruntime — nothing is unpickled, ``np.load(allow_pickle=False)``; or
  * a **hackathon submission**: ``submission.yaml`` + ``policy.py`` whose
    ``make_policy(observation_space, action_space)`` returns an object with ``reset(seed)`` and
    ``act(observation) -> action``; weights only as ``.onnx``, ``.safetensors`` or ``.npz``. Loading a
    submission imports its ``policy.py`` in *this* process: do that only inside the evaluator's sandbox
    or for code you trust. An exported folder (with or without a ``submission.yaml``) needs no code.

Every returned object has ``reset(seed: int | None = None)`` (call it before each episode) and
``act(obs) -> np.ndarray`` of shape (2,), dtype float32, inside the action space.

``policy.json`` (written by ``testbed export``)::

    {"format": "duisburg-testbed-policy", "format_version": 1,
     "obs_layout_version": "1-6b7d...", "obs_layout": [[index, meaning, unit, range], ...],
     "obs_dim": 315, "n_rays": 32, "n_targets": 8,
     "action": {"shape": [2], "low": [-1, -1], "high": [1, 1]},
     "scenario": "PortEntry-v0", "algorithm": "ppo", "recurrent": false,
     "onnx": {"file": "policy.onnx", "opset": 17, "inputs": [...], "outputs": [...]},
     "obs_norm": "obs_norm.npz" or null, "training_command": "testbed train ..."}

The ONNX graph takes ``obs`` (B, D) float32 (already normalised) and returns ``action`` (B, 2), the
deterministic action before clipping; a recurrent policy also takes ``state_h``, ``state_c``
(layers, B, H) and ``episode_start`` (B,) and returns ``state_h_out``, ``state_c_out``. ``obs_norm.npz``
holds ``mean``, ``var`` (D,), ``clip_obs`` and ``epsilon`` (VecNormalize's statistics as plain arrays):
``obs' = clip((obs - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)``.

Every problem (missing file, corrupt ONNX, wrong layout version, wrong dimensions) raises
:class:`PolicyLoadError` (a ``ValueError``) with one line naming the file and what is wrong.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import zipfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np

FORMAT = "duisburg-testbed-policy"
FORMAT_VERSION = 1
WEIGHT_SUFFIXES = (".onnx", ".safetensors", ".npz")
# files a submission may hold besides its weights; anything else (a .pt, .pkl, .zip, ...) is refused
TEXT_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".md", ".txt", ".csv", ".png")
BUILTINS = ("autopilot", "random", "idle")


class PolicyLoadError(ValueError):
    """A policy cannot be loaded; the message names the file and the problem in one line."""


class Policy(Protocol):
    def reset(self, seed: int | None = None) -> None: ...

    def act(self, obs) -> np.ndarray: ...


# -- built-in policies --------------------------------------------------------------------------------
class AutopilotPolicy:
    """The autopilot behind the common interface."""

    def __init__(self, n_rays: int, n_targets: int) -> None:
        from agents.autopilot import Autopilot

        self.autopilot = Autopilot(n_rays=n_rays, n_targets=n_targets)

    def reset(self, seed: int | None = None) -> None:
        self.autopilot.reset()

    def act(self, obs) -> np.ndarray:
        return np.asarray(self.autopilot.act(obs), dtype=np.float32)

    batched = True  # act_batch / reset_envs: N envs at once (agents.compare)

    def act_batch(self, obs) -> np.ndarray:
        return np.asarray(self.autopilot.act_batch(obs), dtype=np.float32)

    def reset_envs(self, idx) -> None:
        self.autopilot.reset(idx)


class RandomPolicy:
    """Uniform random actions in [low, high]; ``reset(seed)`` reseeds (None continues the stream)."""

    def __init__(self, low, high, seed: int | None = 0) -> None:
        self.low = np.asarray(low, dtype=np.float32)
        self.high = np.asarray(high, dtype=np.float32)
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.rng = np.random.default_rng(seed)

    def act(self, obs) -> np.ndarray:
        return self.rng.uniform(self.low, self.high).astype(np.float32)


class IdlePolicy:
    """Does nothing: rudder amidships, engine stopped."""

    def reset(self, seed: int | None = None) -> None:
        pass

    def act(self, obs) -> np.ndarray:
        return np.zeros(2, dtype=np.float32)


# -- exported (ONNX) policies -------------------------------------------------------------------------
def layout_difference(recorded: dict) -> str | None:
    """None when ``recorded`` (policy.json) matches this testbed's observation layout, else what differs."""
    from testbed import observation as ob

    version = recorded.get("obs_layout_version")
    if version == ob.OBS_LAYOUT_VERSION:
        return None
    rows = [tuple(r) for r in recorded.get("obs_layout") or []]
    diffs = []
    if rows:
        mine = list(ob.OBS_LAYOUT)
        for i in range(max(len(rows), len(mine))):
            a = rows[i] if i < len(rows) else None
            b = mine[i] if i < len(mine) else None
            if a != b:
                diffs.append(f"row {i}: policy {_row(a)} vs testbed {_row(b)}")
    detail = "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more rows" if len(diffs) > 3 else "")
    return (f"observation layout version {version!r} (policy) != {ob.OBS_LAYOUT_VERSION!r} (this testbed)"
            + (f": {detail}" if detail else " (the policy records no layout rows to compare)"))  # fmt: skip


def _row(r) -> str:
    return "(missing)" if r is None else f"[{r[0]}] {r[1]!r} ({r[2]}, {r[3]})"


class OnnxPolicy:
    """An exported policy folder run with onnxruntime (single-threaded, CPU)."""

    def __init__(self, folder: Path, observation_space=None, action_space=None) -> None:
        self.folder = folder
        meta_path = folder / "policy.json"
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            raise PolicyLoadError(f"{meta_path}: missing (an exported policy folder needs policy.json)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PolicyLoadError(f"{meta_path}: not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise PolicyLoadError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
        self.meta = meta

        def need(key, kind):
            if key not in meta:
                raise PolicyLoadError(f"{meta_path}: missing key {key!r}")
            if not isinstance(meta[key], kind):
                raise PolicyLoadError(f"{meta_path}: key {key!r} = {meta[key]!r} is not {getattr(kind, '__name__', kind)}")
            return meta[key]

        if need("format", str) != FORMAT:
            raise PolicyLoadError(f"{meta_path}: format {meta['format']!r}, expected {FORMAT!r}")
        if need("format_version", int) > FORMAT_VERSION:
            raise PolicyLoadError(f"{meta_path}: format_version {meta['format_version']} is newer than this "
                                  f"loader's {FORMAT_VERSION}; update the testbed")  # fmt: skip
        need("obs_layout_version", str)
        diff = layout_difference(meta)
        if diff:
            raise PolicyLoadError(f"{meta_path}: {diff}")
        self.obs_dim = need("obs_dim", int)
        act = need("action", dict)
        try:
            self.low = np.asarray(act["low"], dtype=np.float32)
            self.high = np.asarray(act["high"], dtype=np.float32)
            shape = tuple(act["shape"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PolicyLoadError(f"{meta_path}: bad 'action' spec {act!r} ({exc})") from None
        if shape != (2,) or self.low.shape != (2,) or self.high.shape != (2,):
            raise PolicyLoadError(f"{meta_path}: action shape {list(shape)}, low/high {act.get('low')}/"
                                  f"{act.get('high')}; the testbed's action is (2,) [rudder, engine]")  # fmt: skip
        self.recurrent = bool(need("recurrent", bool))
        if observation_space is not None:
            shp = getattr(observation_space, "shape", None)
            if shp != (self.obs_dim,):
                raise PolicyLoadError(f"{meta_path}: obs_dim {self.obs_dim} but the environment's observation "
                                      f"space has shape {shp} (n_rays/n_targets differ?)")  # fmt: skip
        if action_space is not None and getattr(action_space, "shape", None) != (2,):
            raise PolicyLoadError(f"{meta_path}: the environment's action space {action_space} is not (2,)")
        # normalisation statistics (plain arrays, never a pickle)
        self.norm = None
        norm_name = meta.get("obs_norm")
        if norm_name:
            self.norm = _load_norm(folder / str(norm_name), self.obs_dim)
        onnx_meta = meta.get("onnx") or {}
        self.onnx_path = folder / str(onnx_meta.get("file", "policy.onnx"))
        self.session = _onnx_session(self.onnx_path)
        names = {i.name for i in self.session.get_inputs()}
        want = {"obs", "state_h", "state_c", "episode_start"} if self.recurrent else {"obs"}
        if names != want:
            raise PolicyLoadError(f"{self.onnx_path}: graph inputs {sorted(names)}, expected {sorted(want)} "
                                  f"(recurrent={self.recurrent} in policy.json)")  # fmt: skip
        self.batched = not self.recurrent
        if self.recurrent:
            st = self.session.get_inputs()
            shp = {i.name: i.shape for i in st}["state_h"]
            try:
                self.state_shape = (int(shp[0]), 1, int(shp[2]))
            except (TypeError, ValueError):
                raise PolicyLoadError(f"{self.onnx_path}: state_h has shape {shp}; layers and size must be "
                                      "fixed") from None  # fmt: skip
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        if self.recurrent:
            self.h = np.zeros(self.state_shape, dtype=np.float32)
            self.c = np.zeros(self.state_shape, dtype=np.float32)
            self.start = np.ones(1, dtype=np.float32)

    def normalise(self, obs: np.ndarray) -> np.ndarray:
        if self.norm is None:
            return obs
        mean, std, clip = self.norm
        return np.clip((obs - mean) / std, -clip, clip).astype(np.float32)

    def act(self, obs) -> np.ndarray:
        o = np.asarray(obs, dtype=np.float32).reshape(1, -1)
        if o.shape[1] != self.obs_dim:
            raise ValueError(f"{self.folder}: observation of size {o.shape[1]}, the policy expects {self.obs_dim}")
        o = self.normalise(o)
        if self.recurrent:
            a, self.h, self.c = self.session.run(
                ["action", "state_h_out", "state_c_out"],
                {"obs": o, "state_h": self.h, "state_c": self.c, "episode_start": self.start})
            self.start = np.zeros(1, dtype=np.float32)
        else:
            (a,) = self.session.run(["action"], {"obs": o})
        return np.clip(np.asarray(a, dtype=np.float32).reshape(-1)[:2], self.low, self.high)


    def act_batch(self, obs) -> np.ndarray:
        """(N, D) -> (N, 2) for a non-recurrent policy."""
        if self.recurrent:
            raise ValueError(f"{self.folder}: a recurrent policy acts one env at a time")
        o = self.normalise(np.asarray(obs, dtype=np.float32))
        (a,) = self.session.run(["action"], {"obs": o})
        return np.clip(np.asarray(a, dtype=np.float32), self.low, self.high)

    def reset_envs(self, idx) -> None:
        pass


def _load_norm(path: Path, dim: int):
    try:
        with np.load(path, allow_pickle=False) as z:
            mean = np.asarray(z["mean"], dtype=np.float64)
            var = np.asarray(z["var"], dtype=np.float64)
            clip = float(z["clip_obs"])
            eps = float(z["epsilon"])
    except FileNotFoundError:
        raise PolicyLoadError(f"{path}: missing (policy.json names it as obs_norm)") from None
    except KeyError as exc:
        raise PolicyLoadError(f"{path}: missing array {exc} (needs mean, var, clip_obs, epsilon)") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise PolicyLoadError(f"{path}: not a readable npz without pickles ({exc})") from None
    if mean.shape != (dim,) or var.shape != (dim,):
        raise PolicyLoadError(f"{path}: mean/var of shape {mean.shape}/{var.shape}, expected ({dim},)")
    if not (np.isfinite(mean).all() and np.isfinite(var).all() and (var >= 0).all()):
        raise PolicyLoadError(f"{path}: mean/var hold non-finite or negative values")
    return mean.astype(np.float32), np.sqrt(var + eps).astype(np.float32), np.float32(clip)


def _onnx_session(path: Path):
    import onnxruntime as ort

    if not path.is_file():
        raise PolicyLoadError(f"{path}: missing (an exported policy folder needs the ONNX graph)")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a corrupt model
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PolicyLoadError(f"{path}: not a loadable ONNX model ({msg[:200]})") from None


# -- submissions --------------------------------------------------------------------------------------
def check_submission_files(folder: Path) -> None:
    """Refuse files that could carry pickles or other executable payloads (weights: onnx/safetensors/npz)."""
    for p in sorted(folder.rglob("*")):
        if p.is_dir() or "__pycache__" in p.parts:
            continue
        if p.is_symlink():
            raise PolicyLoadError(f"{p}: symbolic links are not allowed in a policy folder")
        suffix = p.suffix.lower()
        if suffix not in WEIGHT_SUFFIXES + TEXT_SUFFIXES:
            raise PolicyLoadError(f"{p}: file type {suffix or '(none)'!r} not allowed; weights must be "
                                  f"{', '.join(WEIGHT_SUFFIXES)}")  # fmt: skip
        if suffix == ".npz":
            try:
                with np.load(p, allow_pickle=False) as z:
                    for k in z.files:
                        z[k]
            except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
                raise PolicyLoadError(f"{p}: not an npz of plain arrays ({exc})") from None


class SubmissionPolicy:
    """A submission's ``make_policy`` result, checked to behave like a Policy."""

    def __init__(self, folder: Path, observation_space, action_space) -> None:
        self.folder = folder
        import yaml

        sub = folder / "submission.yaml"
        try:
            meta = yaml.safe_load(sub.read_text())
        except FileNotFoundError:
            raise PolicyLoadError(f"{sub}: missing (a submission needs submission.yaml)") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise PolicyLoadError(f"{sub}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(meta, dict):
            raise PolicyLoadError(f"{sub}: expected a mapping, got {type(meta).__name__}")
        self.meta = meta
        check_submission_files(folder)
        if observation_space is None or action_space is None:
            raise PolicyLoadError(f"{folder}: a submission's make_policy needs the observation and action spaces")
        src = folder / "policy.py"
        name = f"_testbed_submission_{abs(hash(str(folder.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, src)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(folder))
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise PolicyLoadError(f"{src}: import failed: {type(exc).__name__}: {exc}") from None
        finally:
            sys.path.remove(str(folder))
        make = getattr(module, "make_policy", None)
        if not callable(make):
            raise PolicyLoadError(f"{src}: no make_policy(observation_space, action_space) function")
        try:
            inner = make(observation_space, action_space)
        except Exception as exc:
            raise PolicyLoadError(f"{src}: make_policy failed: {type(exc).__name__}: {exc}") from None
        for m in ("reset", "act"):
            if not callable(getattr(inner, m, None)):
                raise PolicyLoadError(f"{src}: make_policy returned {type(inner).__name__} without {m}()")
        self.inner = inner

    def reset(self, seed: int | None = None) -> None:
        self.inner.reset(seed)

    def act(self, obs) -> np.ndarray:
        a = np.asarray(self.inner.act(obs), dtype=np.float32)
        if a.shape != (2,):
            raise ValueError(f"{self.folder / 'policy.py'}: act() returned shape {a.shape}, expected (2,)")
        if not np.isfinite(a).all():
            raise ValueError(f"{self.folder / 'policy.py'}: act() returned a non-finite action {a.tolist()}")
        return a


# -- the entry point ----------------------------------------------------------------------------------
def _n_rays_targets(observation_space, scenario) -> tuple[int, int]:
    if scenario is not None:
        from testbed.scenarios import get

        oc = (get(scenario) if isinstance(scenario, str) else scenario).observation
        return oc.n_rays, oc.n_targets
    from testbed.observation import N_EGO, N_LINK, TARGET_FEATURES

    n_rays = 32
    if observation_space is None:
        return n_rays, 8
    d = int(np.prod(observation_space.shape))
    rest = d - N_EGO - N_LINK - n_rays
    if rest < 0 or rest % TARGET_FEATURES:
        raise PolicyLoadError(f"autopilot: cannot infer rays/targets from an observation of size {d}; "
                              "pass scenario=")  # fmt: skip
    return n_rays, rest // TARGET_FEATURES


def load_policy(spec: str | Path, observation_space=None, action_space=None, *, scenario: Any = None,
                seed: int | None = 0) -> Policy:  # fmt: skip
    """The policy named by ``spec`` (see the module docstring). ``scenario`` (id or ScenarioConfig) tells
    the autopilot the numbers of rays and targets; ``seed`` seeds ``"random"``."""
    if isinstance(spec, str) and spec in BUILTINS:
        if spec == "autopilot":
            return AutopilotPolicy(*_n_rays_targets(observation_space, scenario))
        if spec == "random":
            low = getattr(action_space, "low", -np.ones(2))
            high = getattr(action_space, "high", np.ones(2))
            return RandomPolicy(low, high, seed)
        return IdlePolicy()
    s = str(spec)
    folder = Path(s[len("policy:"):] if s.startswith("policy:") else s)
    if not s.startswith("policy:") and not folder.exists():
        raise PolicyLoadError(f"unknown agent {s!r}: use {', '.join(BUILTINS)}, policy:DIR or a policy folder")
    if not folder.is_dir():
        raise PolicyLoadError(f"{folder}: no such policy folder")
    if (folder / "policy.py").exists():
        return SubmissionPolicy(folder, observation_space, action_space)
    if (folder / "policy.json").exists():
        if (folder / "submission.yaml").exists():
            check_submission_files(folder)
        return OnnxPolicy(folder, observation_space, action_space)
    raise PolicyLoadError(f"{folder}: neither policy.json (exported policy) nor policy.py (submission) found")
