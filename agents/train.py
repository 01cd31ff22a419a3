"""Training runs: Stable-Baselines3 on the native batched VectorEnv, with checkpoints, evaluation and logs.

:func:`train` runs one configured job into a run directory; ``testbed train`` (Hydra,
``testbed/cli/train_cmd.py``) builds the config and calls it, and ``testbed train resume RUN_DIR`` calls
it again with ``resume=True``. The config is a plain dict (the resolved Hydra config): see
``testbed/conf/train/config.yaml`` and ``testbed/conf/algo/*.yaml``.

Run directory::

    config.yaml              the resolved config (what ``resume`` reads back)
    checkpoints/step_N/      model.zip, vecnormalize.npz, replay_buffer.npz (SAC/TD3), state.json;
                             each written to a temporary folder and renamed (atomic); the newest
                             ``keep_checkpoints`` are kept
    best/                    the model with the best evaluation score so far (same files)
    tb/                      TensorBoard event files
    progress.csv             one row per log interval (steps, wall time, steps/s, episode stats,
                             outcome fractions, reward components, latest evaluation)
    evaluations.csv          one row per evaluation
    report.json              the final summary (written at the end)

**Seeds.** Training env ``i`` of segment ``g`` (g = 0 at the start, the checkpoint index after a
resume) starts from base seed ``TRAIN_SEED0 + 1_000_000 * seed + 1000 * g + i`` and draws its later
episodes from that base (``SeedSequence(base, spawn_key=(k,))``). Evaluation resets env ``j`` with
``VAL_SEED0 + j`` (j < ``eval.episodes``): seeds 1,000,000 and up. Benchmark suites and the model
cards use seeds below 1,000,000, so training, validation and test episodes never coincide.

**Curriculum.** ``curriculum.stages`` is a list of ``{scenario, overrides, promote_at, max_steps}``;
training starts on the first, evaluates on the current stage's scenario, and moves to the next stage
(same model, normalisation statistics carried over) when the evaluation success rate reaches
``promote_at`` (default ``curriculum.promote_at``, 0.8) or the stage has run ``max_steps``. ``best/``
holds the best evaluation of the last stage. ``testbed/conf/train/curriculum_port_entry.yaml`` is an
example: Channel -> Crossing -> Berthing -> PortEntry without traffic -> with AIS traffic -> with a
degraded link.

**Score.** An evaluation's score is the success rate, ties broken by the mean return; the best
score so far is kept in ``best/``.

**Reproducibility.** With ``torch_threads=1`` the same config and seed give bit-identical checkpoints
(``model.zip`` is written with fixed zip timestamps) for PPO, RecurrentPPO, SAC and TD3 on the CPU;
tests/agents/test_train.py checks PPO and SAC. A run that was resumed is not bit-identical to one
that was not (the training envs restart from fresh seeds at the checkpoint; SB3's rollout buffer and
the episode in progress are not saved).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import time
import zipfile
from collections import Counter, deque
from pathlib import Path

import numpy as np

from atomicio import atomic_open

TRAIN_SEED0 = 100_000_000
VAL_SEED0 = 1_000_000
OUTCOMES = ("goal", "collision", "grounding", "time_limit", "out_of_map")
ALGOS = ("ppo", "sac", "td3", "recurrent_ppo")


class TrainError(ValueError):
    """Bad training config or run directory (one line, names the key or the file)."""


def _algo_class(name: str):
    if name == "ppo":
        from stable_baselines3 import PPO

        return PPO
    if name == "sac":
        from stable_baselines3 import SAC

        return SAC
    if name == "td3":
        from stable_baselines3 import TD3

        return TD3
    if name == "recurrent_ppo":
        from sb3_contrib import RecurrentPPO

        return RecurrentPPO
    raise TrainError(f"algo.name={name!r}: unknown algorithm; known: {', '.join(ALGOS)}")


def train_seeds(seed: int, segment: int, n_envs: int) -> list[int]:
    return [TRAIN_SEED0 + 1_000_000 * int(seed) + 1000 * int(segment) + i for i in range(n_envs)]


def val_seeds(n: int) -> list[int]:
    return [VAL_SEED0 + j for j in range(n)]


def scenario_config(cfg: dict):
    from hydra.core.global_hydra import GlobalHydra

    from testbed.scenarios import compose_scenario

    gh = GlobalHydra.instance()
    saved = gh.hydra if gh.is_initialized() else None  # inside a Hydra job (multirun): compose beside it
    if saved is not None:
        gh.clear()
    try:
        return compose_scenario(str(cfg["scenario"]), [str(o) for o in cfg.get("overrides") or []])
    finally:
        if saved is not None:
            GlobalHydra.instance().clear()
            GlobalHydra.instance().initialize(saved)


# -- files --------------------------------------------------------------------------------------------
def _write_json(path: Path, data) -> None:
    with atomic_open(path, "w") as fh:
        json.dump(data, fh, indent=2, default=_json_default)


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def model_zip_bytes(model) -> bytes:
    """``model.save`` made byte-reproducible: fixed zip timestamps; no wall-clock fields (``start_time``,
    the episode buffers' times); class entries without their ``repr`` (memory addresses); the spaces
    without their sampling RNG. What SB3 needs to load the model is kept."""
    raw = io.BytesIO()
    spaces = [model.observation_space, model.action_space]
    rngs = [sp._np_random for sp in spaces]
    try:
        for sp in spaces:
            sp._np_random = None
        model.save(raw)
    finally:
        for sp, rng in zip(spaces, rngs, strict=True):
            sp._np_random = rng
    src = zipfile.ZipFile(io.BytesIO(raw.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "data":
                d = json.loads(data)
                for key in ("start_time", "ep_info_buffer", "ep_success_buffer"):
                    d.pop(key, None)
                for key, val in d.items():
                    if isinstance(val, dict) and ":serialized:" in val:
                        d[key] = {k: v for k, v in val.items() if k in (":serialized:", ":type:")}
                data = json.dumps(d, indent=4, sort_keys=True).encode()
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, data)
    return out.getvalue()


def _save_norm(vn, path: Path) -> None:
    with atomic_open(path, "wb") as fh:
        np.savez(fh, mean=vn.obs_rms.mean, var=vn.obs_rms.var, count=np.float64(vn.obs_rms.count),
                 ret_mean=np.float64(vn.ret_rms.mean), ret_var=np.float64(vn.ret_rms.var),
                 ret_count=np.float64(vn.ret_rms.count), clip_obs=np.float64(vn.clip_obs),
                 clip_reward=np.float64(vn.clip_reward), epsilon=np.float64(vn.epsilon))  # fmt: skip


def load_norm_into(vn, path: Path) -> None:
    with np.load(path, allow_pickle=False) as z:
        vn.obs_rms.mean, vn.obs_rms.var, vn.obs_rms.count = z["mean"].copy(), z["var"].copy(), float(z["count"])
        vn.ret_rms.mean, vn.ret_rms.var = float(z["ret_mean"]), float(z["ret_var"])
        vn.ret_rms.count = float(z["ret_count"])


BUFFER_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def _save_buffer(buf, path: Path) -> None:
    arrays = {k: getattr(buf, k) for k in BUFFER_FIELDS if getattr(buf, k, None) is not None}
    with atomic_open(path, "wb") as fh:
        np.savez(fh, pos=np.int64(buf.pos), full=np.bool_(buf.full), **arrays)


def _load_buffer(buf, path: Path) -> None:
    with np.load(path, allow_pickle=False) as z:
        for k in BUFFER_FIELDS:
            if k in z.files:
                getattr(buf, k)[...] = z[k]
        buf.pos, buf.full = int(z["pos"]), bool(z["full"])


def save_snapshot(folder: Path, model, vecnorm, state: dict, with_buffer: bool) -> None:
    """Write model.zip (+ vecnormalize.npz, replay_buffer.npz) and state.json into ``folder`` atomically:
    everything goes to a temporary sibling folder that is renamed into place."""
    tmp = folder.with_name(f".{folder.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    (tmp / "model.zip").write_bytes(model_zip_bytes(model))
    if vecnorm is not None:
        _save_norm(vecnorm, tmp / "vecnormalize.npz")
    if with_buffer and getattr(model, "replay_buffer", None) is not None:
        _save_buffer(model.replay_buffer, tmp / "replay_buffer.npz")
    _write_json(tmp / "state.json", state)
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    old = folder.with_name(f".{folder.name}.old")
    if folder.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old.exists():
        shutil.rmtree(old)


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints (step_N folders with state.json), oldest first."""
    d = run_dir / "checkpoints"
    if not d.is_dir():
        return []
    out = [p for p in d.iterdir() if p.name.startswith("step_") and (p / "state.json").is_file()]
    return sorted(out, key=lambda p: int(p.name[5:]))


# -- evaluation ---------------------------------------------------------------------------------------
def evaluate_model(model, scenario_cfg, seeds, normalize=None, deterministic: bool = True) -> dict:
    """One episode per seed, all in one batched VectorEnv; ``normalize`` maps raw obs to the model's input."""
    from testbed import observation as ob
    from testbed.vector_env import DuisburgVectorEnv

    n = len(seeds)
    venv = DuisburgVectorEnv(n, scenario_cfg)
    seeds = [int(s) for s in seeds]
    venv.reset(seed=seeds[0])  # env j gets seeds[0] + j ...
    for e, s in enumerate(seeds):
        if s != seeds[0] + e:  # ... unless the seeds are not consecutive
            venv.world.reset_env(e, s)
    obs = venv.world.obs.copy()
    active = np.ones(n, dtype=bool)
    ret = np.zeros(n)
    comps = np.zeros((n, len(ob.COMPONENTS)))
    outcomes: list[str | None] = [None] * n
    state, start = None, np.ones(n, dtype=bool)
    recurrent = type(model).__name__ == "RecurrentPPO"
    while active.any():
        x = normalize(obs) if normalize is not None else obs
        if recurrent:
            act, state = model.predict(x, state=state, episode_start=start, deterministic=deterministic)
            start = np.zeros(n, dtype=bool)
        else:
            act, _ = model.predict(x, deterministic=deterministic)
        obs, r, term, trunc, info = venv.step(act)
        ret[active] += r[active]
        for k, name in enumerate(ob.COMPONENTS):
            comps[active, k] += info[f"reward_{name}"][active]
        done = (term | trunc) & active
        for e in np.flatnonzero(done):
            outcomes[e] = str(info["outcome"][e])
        active &= ~done
    venv.close()
    cnt = Counter(outcomes)
    return {
        "episodes": n,
        "success_rate": cnt.get("goal", 0) / n,
        "mean_return": float(ret.mean()),
        "outcomes": dict(cnt),
        "reward_components": {name: float(comps[:, k].mean()) for k, name in enumerate(ob.COMPONENTS)},
    }


def score(ev: dict) -> tuple[float, float]:
    return (ev["success_rate"], ev["mean_return"])


# -- the callback -------------------------------------------------------------------------------------
# the value-function parameters of SB3's actor-critic policies (MLP and recurrent); all others are the actor's
CRITIC_PREFIXES = ("value_net.", "mlp_extractor.value_net.", "lstm_critic.", "critic.")


def _make_callback(run_dir: Path, cfg: dict, ctx: dict, state: dict, total: int):
    """``ctx`` holds the current stage's ``scen`` (ScenarioConfig) and ``vecnorm``; a curriculum swaps them."""
    from stable_baselines3.common.callbacks import BaseCallback

    from testbed import observation as ob

    ev_cfg = cfg["eval"]
    eval_every = int(ev_cfg["every"])
    ckpt_every = int(cfg["checkpoint_every"])
    log_every = int(cfg.get("log_every", 10_000))
    keep = int(cfg.get("keep_checkpoints", 3))
    off_policy = cfg["algo"]["name"] in ("sac", "td3")
    seeds = val_seeds(int(ev_cfg["episodes"]))
    warmup = int(float((cfg.get("pretrain") or {}).get("critic_warmup_steps", 0) or 0))
    if warmup > 0 and cfg["algo"]["name"] not in ("ppo", "recurrent_ppo"):
        raise TrainError(f"pretrain.critic_warmup_steps={warmup}: only for ppo and recurrent_ppo "
                         f"(algo {cfg['algo']['name']!r} has no separate value function to warm up)")
    fields = (["step", "wall_s", "steps_per_s", "episodes", "ep_return", "ep_length", "success_rate"]
              + [f"outcome_{k}" for k in OUTCOMES] + [f"reward_{c}" for c in ob.COMPONENTS]
              + ["eval_success_rate", "eval_return"])  # fmt: skip

    class TrainCallback(BaseCallback):
        def _on_training_start(self) -> None:
            if getattr(self, "bar_started", False):  # learn() again after a curriculum promotion
                return
            self.bar_started = True
            self.t0 = time.perf_counter() - float(state.get("wall_s", 0.0))
            self.t_log, self.n_log = time.perf_counter(), self.num_timesteps
            self.window: deque = deque(maxlen=100)
            self.next_eval = (self.num_timesteps // eval_every + 1) * eval_every
            self.next_ckpt = (self.num_timesteps // ckpt_every + 1) * ckpt_every
            self.next_log = (self.num_timesteps // log_every + 1) * log_every
            self.bar = None
            if cfg.get("progress_bar", True):
                from tqdm import tqdm

                self.bar = tqdm(total=total, initial=self.num_timesteps, unit="step", unit_scale=True,
                                dynamic_ncols=True, desc=f"{cfg['algo']['name']} {cfg['scenario']}")  # fmt: skip
                self._postfix()
            if state.get("pretrain") and not state.get("evals"):
                self._evaluate()  # the cloned policy, before any RL
            self._freeze_actor()

        def _on_rollout_end(self) -> None:
            self._freeze_actor()

        def _freeze_actor(self) -> None:
            """Critic warm-up (``pretrain.critic_warmup_steps``): while fewer steps than that have run, only
            the value function learns, so that PPO's first updates of a cloned policy use advantages from a
            fitted critic instead of an untrained one."""
            if warmup <= 0:
                return
            frozen = self.num_timesteps < warmup
            for name, p in self.model.policy.named_parameters():
                if not name.startswith(CRITIC_PREFIXES):
                    p.requires_grad_(not frozen)

        def _postfix(self) -> None:
            last = state.get("last_eval")
            if self.bar is not None and last:
                self.bar.set_postfix_str(f"eval success {last['success_rate']:.0%} return {last['mean_return']:.1f}")

        def _on_step(self) -> bool:
            dones = self.locals.get("dones")
            if dones is not None and dones.any():
                for info in (self.locals["infos"][i] for i in np.flatnonzero(dones)):
                    rc = info.get("reward_components")
                    if rc is None:
                        continue
                    self.window.append((sum(rc.values()), info.get("episode", {}).get("l", 0),
                                        info.get("outcome"), rc))  # fmt: skip
                    state["episodes"] = state.get("episodes", 0) + 1
            t = self.num_timesteps
            if self.bar is not None:
                self.bar.update(t - self.bar.n)
            if t >= self.next_log:
                self.next_log += log_every
                self._log()
            if t >= self.next_eval:
                self.next_eval += eval_every
                self._evaluate()
            if t >= self.next_ckpt:
                self.next_ckpt += ckpt_every
                self._checkpoint()
            return not state.get("promote", False)  # stop learn(): the curriculum moves on

        def _log(self) -> None:
            now = time.perf_counter()
            sps = (self.num_timesteps - self.n_log) / max(now - self.t_log, 1e-9)
            self.t_log, self.n_log = now, self.num_timesteps
            row = {"step": self.num_timesteps, "wall_s": round(now - self.t0, 2), "steps_per_s": round(sps, 1),
                   "episodes": state.get("episodes", 0)}  # fmt: skip
            self.logger.record("time/env_steps_per_s", sps)
            if self.window:
                w = list(self.window)
                row["ep_return"] = float(np.mean([x[0] for x in w]))
                row["ep_length"] = float(np.mean([x[1] for x in w]))
                cnt = Counter(x[2] for x in w)
                row["success_rate"] = cnt.get("goal", 0) / len(w)
                self.logger.record("train/ep_return", row["ep_return"])
                self.logger.record("train/success_rate", row["success_rate"])
                for k in OUTCOMES:
                    row[f"outcome_{k}"] = cnt.get(k, 0) / len(w)
                    self.logger.record(f"outcomes/{k}", row[f"outcome_{k}"])
                for c in ob.COMPONENTS:
                    row[f"reward_{c}"] = float(np.mean([x[3][c] for x in w]))
                    self.logger.record(f"reward/{c}", row[f"reward_{c}"])
            last = state.get("last_eval")
            if last:
                row["eval_success_rate"], row["eval_return"] = last["success_rate"], last["mean_return"]
            self._append_csv(run_dir / "progress.csv", fields, row)
            self.logger.dump(self.num_timesteps)

        def _append_csv(self, path: Path, cols, row) -> None:
            new = not path.exists()
            with open(path, "a", newline="") as fh:
                wr = csv.DictWriter(fh, fieldnames=cols)
                if new:
                    wr.writeheader()
                wr.writerow({k: row.get(k, "") for k in cols})
                fh.flush()
                os.fsync(fh.fileno())

        def _normalize(self):
            return None if ctx["vecnorm"] is None else ctx["vecnorm"].normalize_obs

        def _evaluate(self) -> None:
            ev = evaluate_model(self.model, ctx["scen"], seeds, self._normalize(), bool(ev_cfg["deterministic"]))
            ev["stage"] = state.get("stage", 0)
            ev["step"] = self.num_timesteps
            state["last_eval"] = ev
            state.setdefault("evals", []).append({k: ev[k] for k in ("step", "stage", "success_rate", "mean_return")})
            self.logger.record("eval/success_rate", ev["success_rate"])
            self.logger.record("eval/return", ev["mean_return"])
            for k in OUTCOMES:
                self.logger.record(f"eval_outcomes/{k}", ev["outcomes"].get(k, 0) / ev["episodes"])
            for c, v in ev["reward_components"].items():
                self.logger.record(f"eval_reward/{c}", v)
            self._append_csv(run_dir / "evaluations.csv", ["step", "success_rate", "mean_return"]
                             + [f"outcome_{k}" for k in OUTCOMES],
                             {"step": ev["step"], "success_rate": ev["success_rate"], "mean_return": ev["mean_return"],
                              **{f"outcome_{k}": ev["outcomes"].get(k, 0) for k in OUTCOMES}})  # fmt: skip
            stages = ctx["stages"]
            stage = state.get("stage", 0)
            if stage < len(stages) - 1:  # a curriculum stage before the last: promote or go on
                st = stages[stage]
                ran = self.num_timesteps - state.get("stage_start", 0)
                if ev["success_rate"] >= float(st.get("promote_at", 0.8)) or ran >= int(float(st.get("max_steps", 1e18))):
                    state["promote"] = True
                self._postfix()
                self.logger.record("curriculum/stage", stage)
                self.logger.dump(self.num_timesteps)
                return
            best = state.get("best")
            if best is None or score(ev) > (best["success_rate"], best["mean_return"]):
                state["best"] = {k: ev[k] for k in ("step", "success_rate", "mean_return", "outcomes")}
                save_snapshot(run_dir / "best", self.model, ctx["vecnorm"], self._state(), False)
            self._postfix()
            self.logger.dump(self.num_timesteps)

        def _state(self) -> dict:
            state["num_timesteps"] = int(self.num_timesteps)
            state["wall_s"] = time.perf_counter() - self.t0
            return dict(state)

        def _checkpoint(self) -> None:
            folder = run_dir / "checkpoints" / f"step_{self.num_timesteps:010d}"
            save_snapshot(folder, self.model, ctx["vecnorm"], self._state(), off_policy)
            for old in checkpoints(run_dir)[:-keep]:
                shutil.rmtree(old)

        def _on_training_end(self) -> None:
            if self.bar is not None:
                self.bar.close()

    return TrainCallback()


# -- the job ------------------------------------------------------------------------------------------
def _policy_kwargs(algo: dict) -> dict:
    import torch

    kw = dict(algo.get("policy_kwargs") or {})
    if "net_arch" in algo and algo["net_arch"] is not None:
        kw["net_arch"] = list(algo["net_arch"])
    act = algo.get("activation")
    if act:
        acts = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "elu": torch.nn.ELU}
        if act not in acts:
            raise TrainError(f"algo.activation={act!r}: unknown; known: {', '.join(acts)}")
        kw["activation_fn"] = acts[act]
    return kw


def _trim_csv(path: Path, max_step: int) -> None:
    """After a resume, drop the rows logged after the checkpoint (they will be logged again)."""
    if not path.exists():
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return
    keep = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= max_step]
    with atomic_open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(keep)


def stages_of(cfg: dict) -> list[dict]:
    """The curriculum's stages (scenario, overrides, promote_at, max_steps), or one stage: the scenario."""
    cur = cfg.get("curriculum") or {}
    stages = [dict(st) for st in cur.get("stages") or []]
    if not stages:
        return [{"scenario": cfg["scenario"], "overrides": cfg.get("overrides") or []}]
    for i, st in enumerate(stages):
        if "scenario" not in st:
            raise TrainError(f"curriculum.stages[{i}]: missing key 'scenario'")
        unknown = set(st) - {"scenario", "overrides", "promote_at", "max_steps"}
        if unknown:
            raise TrainError(f"curriculum.stages[{i}]: unknown key(s) {sorted(unknown)}")
        st.setdefault("overrides", [])
        st.setdefault("promote_at", cur.get("promote_at", 0.8))
    return stages


def build(cfg: dict, run_dir: Path, segment: int):
    """(scenario config, training VecEnv (maybe VecNormalize), the VecNormalize or None)."""
    from stable_baselines3.common.vec_env import VecNormalize

    from testbed.vector_env import SB3VecEnv

    scen = scenario_config(cfg)
    n_envs = int(cfg["n_envs"])
    if not 1 <= n_envs <= 1000:
        raise TrainError(f"n_envs={n_envs}: must lie in 1..1000")
    base = SB3VecEnv(scen, num_envs=n_envs)
    base.seed(train_seeds(int(cfg["seed"]), segment, n_envs)[0])
    venv = base  # SB3VecEnv writes info['episode'] itself, as SB3's Monitor does (no VecMonitor needed)
    nc = cfg.get("normalize") or {}
    vecnorm = None
    if nc.get("obs") or nc.get("reward"):
        gamma = float((cfg["algo"].get("kwargs") or {}).get("gamma", 0.99))
        vecnorm = VecNormalize(venv, norm_obs=bool(nc.get("obs")), norm_reward=bool(nc.get("reward")),
                               clip_obs=float(nc.get("clip_obs", 10.0)), gamma=gamma)  # fmt: skip
        venv = vecnorm
    return scen, venv, vecnorm


def train(cfg: dict, run_dir: str | Path, resume: bool = False) -> dict:
    """Run (or continue) the job ``cfg`` in ``run_dir``; returns the report (also in report.json)."""
    import torch
    from omegaconf import OmegaConf
    from stable_baselines3.common.logger import configure

    run_dir = Path(run_dir)
    threads = int(cfg.get("torch_threads", 1))
    torch.set_num_threads(threads)
    algo = cfg["algo"]
    cls = _algo_class(str(algo["name"]))
    total = int(float(cfg["total_steps"]))
    ckpts = checkpoints(run_dir) if resume else []
    segment = len(ckpts) and int(ckpts[-1].name[5:]) // max(int(cfg["checkpoint_every"]), 1)
    stages = stages_of(cfg)
    state: dict = {"segments": 1, "stage": 0, "stage_start": 0}
    if ckpts:
        state = json.loads((ckpts[-1] / "state.json").read_text())
        state["segments"] = state.get("segments", 1) + 1
        state.pop("promote", None)
    stage = int(state.get("stage", 0))
    scen, venv, vecnorm = build({**cfg, **stages[stage]}, run_dir, segment)
    if ckpts:
        last = ckpts[-1]
        model = cls.load(last / "model.zip", env=venv, device="cpu")
        model._last_obs = None  # the envs are new: learn() resets them (from this segment's seeds)
        if vecnorm is not None:
            load_norm_into(vecnorm, last / "vecnormalize.npz")
        if (last / "replay_buffer.npz").exists():
            _load_buffer(model.replay_buffer, last / "replay_buffer.npz")
        for name in ("progress.csv", "evaluations.csv"):
            _trim_csv(run_dir / name, int(state["num_timesteps"]))
        print(f"resuming {run_dir} from {last.name} ({state['num_timesteps']} of {total} steps)", flush=True)
    else:
        if not resume:
            run_dir.mkdir(parents=True, exist_ok=True)
            with atomic_open(run_dir / "config.yaml", "w") as fh:
                fh.write(OmegaConf.to_yaml(OmegaConf.create(cfg)))
        kwargs = dict(algo.get("kwargs") or {})
        if cls.__name__ in ("SAC", "TD3") and "action_noise_std" in kwargs:
            from stable_baselines3.common.noise import NormalActionNoise

            std = float(kwargs.pop("action_noise_std"))
            kwargs["action_noise"] = NormalActionNoise(np.zeros(2), np.full(2, std))
        try:
            model = cls(str(algo["policy"]), venv, seed=int(cfg["seed"]), device="cpu", verbose=0,
                        policy_kwargs=_policy_kwargs(algo), **kwargs)  # fmt: skip
        except TypeError as exc:
            raise TrainError(f"algo.kwargs for {algo['name']}: {exc}") from None
        pre = algo.get("pretrain")
        if pre:
            if pre != "bc":
                raise TrainError(f"algo.pretrain={pre!r}: unknown; known: bc")
            from agents.demos import behaviour_clone

            pc = cfg.get("pretrain") or {}
            if not pc.get("dataset"):
                raise TrainError("algo.pretrain=bc needs pretrain.dataset=DIR (a dataset of `testbed demos`)")
            try:
                state["pretrain"] = behaviour_clone(
                    model, pc["dataset"], vecnorm, epochs=int(pc.get("epochs", 10)),
                    batch_size=int(pc.get("batch_size", 512)), learning_rate=float(pc.get("learning_rate", 1e-3)),
                    seed=int(cfg["seed"]), only_success=bool(pc.get("only_success", False)))  # fmt: skip
            except ValueError as exc:
                raise TrainError(f"pretrain.dataset: {str(exc).splitlines()[0]}") from None
            print(f"behaviour cloning: {state['pretrain']}", flush=True)
            if int(pc.get("dagger_iterations", 0)) > 0:
                from agents.demos import dagger, load_demos

                obs0, act0, _ = load_demos(pc["dataset"], bool(pc.get("only_success", False)))
                state["pretrain"]["dagger"] = dagger(
                    model, vecnorm, scen, obs0, act0, iterations=int(pc["dagger_iterations"]),
                    episodes=int(pc.get("dagger_episodes", 64)), epochs=int(pc.get("dagger_epochs", 5)),
                    batch_size=int(pc.get("batch_size", 512)), learning_rate=float(pc.get("learning_rate", 1e-3)),
                    log=lambda m: print(m, flush=True))  # fmt: skip
    model.set_logger(configure(str(run_dir / "tb"), ["tensorboard"]))
    ctx = {"scen": scen, "vecnorm": vecnorm, "stages": stages}
    cb = _make_callback(run_dir, cfg, ctx, state, total)
    t0 = time.perf_counter()
    start_steps = int(model.num_timesteps)
    while total > model.num_timesteps:
        model.learn(total - model.num_timesteps, callback=cb, reset_num_timesteps=False, log_interval=10**9)
        if not state.pop("promote", False):
            break
        # curriculum: the next stage, with the normalisation statistics carried over
        stage = state["stage"] = state.get("stage", 0) + 1
        state["stage_start"] = int(model.num_timesteps)
        state.setdefault("promotions", []).append({"stage": stage, "step": int(model.num_timesteps)})
        scen, new_venv, new_norm = build({**cfg, **stages[stage]}, run_dir, segment + 100 * stage)
        if vecnorm is not None and new_norm is not None:
            new_norm.obs_rms, new_norm.ret_rms = vecnorm.obs_rms, vecnorm.ret_rms
        venv.close()
        venv, vecnorm = new_venv, new_norm
        ctx.update(scen=scen, vecnorm=vecnorm)
        model.set_env(venv)
        print(f"curriculum: stage {stage} ({stages[stage]['scenario']} {stages[stage]['overrides']}) "
              f"from step {model.num_timesteps}", flush=True)  # fmt: skip
    wall = time.perf_counter() - t0
    # the final checkpoint and evaluation
    if not checkpoints(run_dir) or int(checkpoints(run_dir)[-1].name[5:]) < model.num_timesteps:
        cb._checkpoint()
    if state.get("last_eval", {}).get("step") != model.num_timesteps:
        cb._evaluate()
    venv.close()
    report = {
        "run_dir": str(run_dir),
        "scenario": cfg["scenario"],
        "algorithm": algo["name"],
        "seed": cfg["seed"],
        "total_steps": int(model.num_timesteps),
        "wall_s_this_segment": round(wall, 1),
        "wall_s_total": round(float(state.get("wall_s", wall)), 1),
        "steps_per_s_this_segment": round((model.num_timesteps - start_steps) / max(wall, 1e-9), 1),
        "segments": state.get("segments", 1),
        "episodes": state.get("episodes", 0),
        "final_eval": state.get("last_eval"),
        "best_eval": state.get("best"),
        "evaluations": state.get("evals", []),
        "pretrain": state.get("pretrain"),
        "curriculum": {"stages": stages, "stage": state.get("stage", 0), "promotions": state.get("promotions", [])}
        if len(stages) > 1 else None,
        "validation_seeds": [VAL_SEED0, VAL_SEED0 + int(cfg["eval"]["episodes"]) - 1],
        "torch_threads": threads,
    }
    _write_json(run_dir / "report.json", report)
    return report
