"""Export a trained Stable-Baselines3 policy as a folder that :mod:`agents.loader` runs without pickle.

``export_model(model, out, scenario=..., algorithm=..., obs_norm=None, training_command="")`` writes

- ``policy.onnx`` — the deterministic actor (TorchScript-based ``torch.onnx.export``, opset
  :data:`OPSET`, which onnxruntime supports): input ``obs`` (B, D) float32, already normalised, output
  ``action`` (B, 2) before clipping to the action bounds; RecurrentPPO adds ``state_h``, ``state_c``
  (layers, B, H), ``episode_start`` (B,) and outputs ``state_h_out``, ``state_c_out``;
- ``obs_norm.npz`` — VecNormalize's observation mean/var, clip and epsilon as plain arrays (when the
  run normalised observations; never VecNormalize's pickle);
- ``policy.json`` — format, observation layout version and rows, dimensions, action spec, scenario,
  algorithm, recurrent flag, the training command (see :mod:`agents.loader`).

``testbed export RUN_DIR --out DIR`` (``testbed/cli/export_cmd.py``) calls :func:`export_run`.
Every file is written atomically.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from agents.loader import FORMAT, FORMAT_VERSION
from atomicio import atomic_open

OPSET = 17


def _actor_module(model):
    """A torch module obs -> deterministic action (pre-clip) for PPO/A2C, SAC, TD3 (and RecurrentPPO)."""
    import torch
    from torch import nn

    policy = model.policy
    space = model.action_space
    low = torch.as_tensor(space.low, dtype=torch.float32)
    high = torch.as_tensor(space.high, dtype=torch.float32)
    name = type(model).__name__

    class OnPolicyActor(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = policy

        def forward(self, obs):
            feats = self.p.extract_features(obs, self.p.pi_features_extractor)
            a = self.p.action_net(self.p.mlp_extractor.forward_actor(feats))
            if self.p.squash_output:
                a = low + 0.5 * (torch.tanh(a) + 1.0) * (high - low)
            return a

    class SquashedActor(nn.Module):  # SAC / TD3: the actor's tanh output in [-1, 1], scaled to the bounds
        def __init__(self) -> None:
            super().__init__()
            self.actor = policy.actor

        def forward(self, obs):
            a = self.actor(obs, deterministic=True) if name == "SAC" else self.actor(obs)
            return low + 0.5 * (a + 1.0) * (high - low)

    class RecurrentActor(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = policy

        def forward(self, obs, state_h, state_c, episode_start):
            feats = self.p.extract_features(obs, self.p.pi_features_extractor)
            keep = (1.0 - episode_start).view(1, -1, 1)
            out, (h, c) = self.p.lstm_actor(feats.unsqueeze(0), (state_h * keep, state_c * keep))
            a = self.p.action_net(self.p.mlp_extractor.forward_actor(out.squeeze(0)))
            if self.p.squash_output:
                a = low + 0.5 * (torch.tanh(a) + 1.0) * (high - low)
            return a, h, c

    if name == "RecurrentPPO":
        return RecurrentActor().eval(), True
    if name in ("SAC", "TD3", "DDPG"):
        return SquashedActor().eval(), False
    if name in ("PPO", "A2C"):
        return OnPolicyActor().eval(), False
    raise ValueError(f"export: algorithm {name} is not supported (PPO, A2C, SAC, TD3, RecurrentPPO)")


def onnx_bytes(model) -> tuple[bytes, bool, dict]:
    """(ONNX model bytes, recurrent, {"inputs", "outputs", "state_shape"}) of the model's actor."""
    import warnings

    import torch

    module, recurrent = _actor_module(model)
    d = int(np.prod(model.observation_space.shape))
    obs = torch.zeros(1, d, dtype=torch.float32)
    buf = io.BytesIO()
    info: dict = {}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if recurrent:
            lstm = model.policy.lstm_actor
            shape = (lstm.num_layers, 1, lstm.hidden_size)
            args = (obs, torch.zeros(shape), torch.zeros(shape), torch.ones(1))
            inputs = ["obs", "state_h", "state_c", "episode_start"]
            outputs = ["action", "state_h_out", "state_c_out"]
            dyn = {"obs": {0: "batch"}, "episode_start": {0: "batch"}, "action": {0: "batch"}}
            info["state_shape"] = [lstm.num_layers, lstm.hidden_size]
        else:
            args = (obs,)
            inputs, outputs = ["obs"], ["action"]
            dyn = {"obs": {0: "batch"}, "action": {0: "batch"}}
        torch.onnx.export(module, args, buf, input_names=inputs, output_names=outputs, dynamic_axes=dyn,
                          opset_version=OPSET, dynamo=False, do_constant_folding=True)  # fmt: skip
    info.update(inputs=inputs, outputs=outputs)
    return buf.getvalue(), recurrent, info


def policy_meta(scenario_cfg, algorithm: str, recurrent: bool, onnx_info: dict, obs_norm: bool,
                training_command: str, extra: dict | None = None) -> dict:  # fmt: skip
    from testbed import observation as ob
    from testbed.env import make_spaces

    obs_space, act_space = make_spaces(scenario_cfg)
    oc = scenario_cfg.observation
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "obs_layout_version": ob.OBS_LAYOUT_VERSION,
        "obs_layout": [list(r) for r in ob.OBS_LAYOUT],
        "obs_dim": int(obs_space.shape[0]),
        "n_rays": oc.n_rays,
        "n_targets": oc.n_targets,
        "action": {"shape": [2], "low": act_space.low.tolist(), "high": act_space.high.tolist(),
                   "meaning": ["rudder", "engine"]},
        "scenario": scenario_cfg.name,
        "algorithm": algorithm,
        "recurrent": recurrent,
        "onnx": {"file": "policy.onnx", "opset": OPSET, **onnx_info},
        "obs_norm": "obs_norm.npz" if obs_norm else None,
        "training_command": training_command,
        **(extra or {}),
    }


def export_model(model, out, scenario_cfg, algorithm: str, obs_rms=None, clip_obs: float = 10.0,
                 epsilon: float = 1e-8, training_command: str = "", extra: dict | None = None) -> Path:  # fmt: skip
    """Write policy.onnx, obs_norm.npz (when ``obs_rms`` is given) and policy.json into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data, recurrent, info = onnx_bytes(model)
    with atomic_open(out / "policy.onnx", "wb") as fh:
        fh.write(data)
    if obs_rms is not None:
        with atomic_open(out / "obs_norm.npz", "wb") as fh:
            np.savez(fh, mean=np.asarray(obs_rms.mean, dtype=np.float64), var=np.asarray(obs_rms.var, dtype=np.float64),
                     clip_obs=np.float64(clip_obs), epsilon=np.float64(epsilon))  # fmt: skip
    elif (out / "obs_norm.npz").exists():
        (out / "obs_norm.npz").unlink()
    meta = policy_meta(scenario_cfg, algorithm, recurrent, info, obs_rms is not None, training_command, extra)
    with atomic_open(out / "policy.json", "w") as fh:
        json.dump(meta, fh, indent=2)
    return out


class _Stats:
    def __init__(self, mean, var) -> None:
        self.mean, self.var = mean, var


def export_run(run_dir, out, which: str = "best") -> Path:
    """Export a ``testbed train`` run: ``which`` is ``best`` (best evaluation) or ``last`` (last checkpoint)."""
    import json as _json

    from omegaconf import OmegaConf

    from agents.loader import PolicyLoadError
    from agents.train import _algo_class, checkpoints, scenario_config

    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise PolicyLoadError(f"{cfg_path}: missing; not a run directory of `testbed train`")
    cfg = OmegaConf.to_container(OmegaConf.load(cfg_path), resolve=True)
    if which == "best":
        snap = run_dir / "best"
    elif which == "last":
        ck = checkpoints(run_dir)
        snap = ck[-1] if ck else run_dir / "checkpoints"
    else:
        raise PolicyLoadError(f"--which {which!r}: use best or last")
    if not (snap / "model.zip").is_file():
        raise PolicyLoadError(f"{snap / 'model.zip'}: missing (no {which} snapshot in this run yet)")
    model = _algo_class(cfg["algo"]["name"]).load(snap / "model.zip", device="cpu")
    stats, clip, eps = None, 10.0, 1e-8
    if (snap / "vecnormalize.npz").exists() and (cfg.get("normalize") or {}).get("obs"):
        with np.load(snap / "vecnormalize.npz", allow_pickle=False) as z:
            stats = _Stats(z["mean"].copy(), z["var"].copy())
            clip, eps = float(z["clip_obs"]), float(z["epsilon"])
    state = _json.loads((snap / "state.json").read_text()) if (snap / "state.json").exists() else {}
    extra = {"trained_steps": state.get("num_timesteps"), "snapshot": which, "seed": cfg.get("seed"),
             "scenario_overrides": cfg.get("overrides") or [], "best_eval": state.get("best")}  # fmt: skip
    return export_model(model, out, scenario_config(cfg), cfg["algo"]["name"], stats, clip, eps,
                        cfg.get("command") or "", extra)  # fmt: skip
