"""Demonstrations as Minari datasets, and behaviour cloning from them.

``record_demos(agent, scenario, episodes, out)`` runs an agent of :mod:`agents.loader` (normally the
autopilot) and writes its episodes with ``minari.create_dataset_from_buffers`` (``DataCollector``
would need jax) as a Minari dataset (HDF5, Minari 0.5) into
``out/<dataset_id>/``. Episode ``k`` is reset with seed ``DEMO_SEED0 + k`` (200,000,000 and up:
disjoint from the validation seeds and the benchmark seeds, see :mod:`agents.train`).
``testbed demos`` (``testbed/cli/demos_cmd.py``) is the command line.

``behaviour_clone(model, dataset_dir, ...)`` warm-starts an SB3 PPO/SAC/TD3 policy from such a
dataset: the observation normalisation statistics are set from the demonstrations, then the actor's
deterministic action is regressed onto the demonstrated actions (mean squared error, Adam). ``testbed
train algo.pretrain=bc pretrain.dataset=DIR`` runs it before RL.
"""

from __future__ import annotations

import os
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

DEMO_SEED0 = 200_000_000


@contextmanager
def _datasets_root(path: Path):
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path.resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def _env_id(name: str) -> str | None:
    import gymnasium

    return f"testbed/{name}" if f"testbed/{name}" in gymnasium.registry else None


def dataset_id_for(scenario: str, agent: str) -> str:
    name = "".join(c if c.isalnum() else "-" for c in scenario.lower())
    return f"testbed/{name}-{agent.split(':')[0]}-v0"


def record_demos(agent: str, scenario: str, episodes: int, out, overrides: list[str] | None = None,
                 seed0: int = DEMO_SEED0, dataset_id: str | None = None, progress: bool = True) -> dict:  # fmt: skip
    """Record ``episodes`` episodes of ``agent`` on ``scenario`` as a Minari dataset under ``out``."""
    import minari

    from agents.loader import load_policy
    from testbed.env import DuisburgEnv
    from testbed.scenarios import compose_scenario

    out = Path(out)
    cfg = compose_scenario(scenario, overrides or [])
    env = DuisburgEnv(cfg)
    policy = load_policy(agent, env.observation_space, env.action_space, scenario=cfg, seed=seed0)
    dataset_id = dataset_id or dataset_id_for(cfg.name, agent)
    from minari.data_collector.episode_buffer import EpisodeBuffer

    t0 = time.perf_counter()
    if agent == "autopilot":
        episodes_data = _run_autopilot_batched(cfg, episodes, seed0)
    else:
        episodes_data = []
        for k in range(episodes):
            obs, _ = env.reset(seed=seed0 + k)
            policy.reset(seed0 + k)
            o_list, a_list, rews, terms, truncs = [obs], [], [], [], []
            while True:
                action = policy.act(obs)
                obs, r, term, trunc, info = env.step(action)
                o_list.append(obs)
                a_list.append(action)
                rews.append(float(r))
                terms.append(bool(term))
                truncs.append(bool(trunc))
                if term or trunc:
                    break
            episodes_data.append((o_list, a_list, rews, terms, truncs, info["outcome"]))
    buffers, outcomes, steps = [], {}, 0
    for k, (o_list, a_list, rews, terms, truncs, outcome) in enumerate(episodes_data):
        steps += len(a_list)
        buffers.append(EpisodeBuffer(id=k, seed=seed0 + k, observations=np.asarray(o_list, dtype=np.float32),
                                     actions=np.asarray(a_list, dtype=np.float32), rewards=rews,
                                     terminations=terms, truncations=truncs, infos={}))  # fmt: skip
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if progress:
        print(f"{episodes} episodes, {steps} steps, outcomes {outcomes}", flush=True)
    with _datasets_root(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # minari warns about the optional fields we leave out
        if (out / dataset_id).exists():
            raise ValueError(f"{out / dataset_id}: a dataset with this id exists already; choose another --out")
        minari.create_dataset_from_buffers(
            dataset_id=dataset_id, buffer=buffers, env=_env_id(cfg.name),
            observation_space=env.observation_space, action_space=env.action_space,
            algorithm_name=agent, author="testbed demos",
            description=f"{agent} on {cfg.name} (overrides {overrides or []}), seeds {seed0}..{seed0 + episodes - 1}; "
                        f"outcomes {outcomes}")  # fmt: skip
    env.close()
    return {"dataset_id": dataset_id, "path": str(out / dataset_id), "episodes": episodes, "steps": steps,
            "outcomes": outcomes, "wall_s": time.perf_counter() - t0}  # fmt: skip


def _run_autopilot_batched(cfg, episodes: int, seed0: int, n_envs: int = 32) -> list:
    """The autopilot's episodes k = 0..episodes-1 (seed ``seed0 + k``), N at a time in one batched world.
    Env e of the world with seed s is bit-identical to the single env with seed s, and the autopilot
    is vectorised row by row, so this records exactly what the single-env loop would."""
    from agents.autopilot import Autopilot
    from testbed.world import World

    n = min(n_envs, episodes)
    world = World(cfg, n)
    oc = cfg.observation
    ap = Autopilot(n_rays=oc.n_rays, n_targets=oc.n_targets)
    ap.act_batch(world.obs)  # allocate its state for n envs
    slot_ep = [-1] * n
    data: list = [None] * episodes
    bufs: dict[int, tuple] = {}
    next_k = 0
    for e in range(n):
        world.reset_env(e, seed0 + next_k)
        slot_ep[e] = next_k
        bufs[next_k] = ([world.obs[e].copy()], [], [], [], [])
        next_k += 1
    ap.reset()
    while bufs:
        obs = world.obs.copy()
        acts = np.asarray(ap.act_batch(obs), dtype=np.float32)
        reward, term, trunc, _ = world.step(acts.astype(np.float64))
        outs = world.outcomes()
        for e in range(n):
            k = slot_ep[e]
            if k < 0:
                continue
            o_list, a_list, rews, terms, truncs = bufs[k]
            o_list.append(world.obs[e].copy())
            a_list.append(acts[e])
            rews.append(float(reward[e]))
            terms.append(bool(term[e]))
            truncs.append(bool(trunc[e] and not term[e]))
            if term[e] or trunc[e]:
                data[k] = (*bufs.pop(k), str(outs[e]))
                if next_k < episodes:
                    world.reset_env(e, seed0 + next_k)
                    slot_ep[e] = next_k
                    bufs[next_k] = ([world.obs[e].copy()], [], [], [], [])
                    next_k += 1
                else:
                    slot_ep[e] = -1
                    world.reset_env(e, seed0)  # idle slot: keeps stepping a valid episode, not recorded
                ap.reset(np.array([e]))
    return data


def load_demos(path, only_success: bool = False) -> tuple[np.ndarray, np.ndarray, dict]:
    """(observations (N, D), actions (N, 2), metadata) of the Minari dataset folder ``path``.
    ``only_success``: keep the episodes that ended in the goal (terminated with a positive last reward:
    the goal reward; a collision or grounding ends with a negative one)."""
    import minari

    path = Path(path)
    if not (path / "data").is_dir():
        raise ValueError(f"{path}: not a Minari dataset folder (no data/); write one with `testbed demos`")
    ids = path.relative_to(path.parent.parent)
    with _datasets_root(path.parent.parent):
        ds = minari.load_dataset(str(ids))
        obs, act = [], []
        kept = 0
        for ep in ds.iterate_episodes():
            if only_success and not (bool(ep.terminations[-1]) and float(ep.rewards[-1]) > 0):
                continue
            kept += 1
            obs.append(np.asarray(ep.observations, dtype=np.float32)[:-1])  # the last one has no action
            act.append(np.asarray(ep.actions, dtype=np.float32))
        meta = {"dataset_id": ds.spec.dataset_id, "episodes": ds.total_episodes, "steps": ds.total_steps,
                "episodes_used": kept}
        dim = int(np.prod(ds.observation_space.shape))
    if not obs:
        return np.zeros((0, dim), np.float32), np.zeros((0, 2), np.float32), meta
    return np.concatenate(obs), np.concatenate(act), meta


def behaviour_clone(model, dataset, vecnorm=None, epochs: int = 10, batch_size: int = 512,
                    learning_rate: float = 1e-3, seed: int = 0, only_success: bool = False) -> dict:  # fmt: skip
    """Regress the actor of ``model`` (PPO, SAC, TD3) onto the demonstrations; returns the losses."""

    name = type(model).__name__
    if name not in ("PPO", "SAC", "TD3"):
        raise ValueError(f"algo.pretrain=bc supports ppo, sac and td3, not {name}")
    obs, act, meta = load_demos(dataset, only_success)
    if len(obs) == 0:
        raise ValueError(f"{dataset}: no episodes to clone (only_success={only_success})")
    if obs.shape[1] != model.observation_space.shape[0]:
        raise ValueError(f"{dataset}: observations of size {obs.shape[1]}, the scenario's are "
                         f"{model.observation_space.shape[0]}")  # fmt: skip
    if vecnorm is not None and vecnorm.norm_obs:
        vecnorm.obs_rms.mean = obs.mean(0).astype(np.float64)
        vecnorm.obs_rms.var = obs.var(0).astype(np.float64)
        vecnorm.obs_rms.count = float(len(obs))
    losses = clone_arrays(model, obs, act, vecnorm, epochs, batch_size, learning_rate, seed)
    return {**meta, "epochs": epochs, "loss_first": losses[0], "loss_last": losses[-1]}


def clone_arrays(model, obs, act, vecnorm=None, epochs: int = 10, batch_size: int = 512,
                 learning_rate: float = 1e-3, seed: int = 0) -> list[float]:  # fmt: skip
    """Regress the actor's deterministic action onto ``act`` for the (raw) observations ``obs``."""
    import torch

    name = type(model).__name__
    x = vecnorm.normalize_obs(obs) if vecnorm is not None and vecnorm.norm_obs else obs
    policy = model.policy
    if name == "PPO":
        params = (list(policy.features_extractor.parameters()) + list(policy.mlp_extractor.policy_net.parameters())
                  + list(policy.action_net.parameters()))  # fmt: skip

        def forward(o):
            return policy.action_net(policy.mlp_extractor.forward_actor(policy.extract_features(o, policy.pi_features_extractor)))
    else:
        params = list(policy.actor.parameters())

        def forward(o):
            return policy.actor(o, deterministic=True) if name == "SAC" else policy.actor(o)

    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.as_tensor(x), torch.as_tensor(act)
    opt = torch.optim.Adam(params, lr=learning_rate)
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        tot = 0.0
        for i in range(0, len(xt), batch_size):
            idx = perm[i:i + batch_size]
            loss = torch.nn.functional.mse_loss(forward(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
        losses.append(tot / len(xt))
    if name in ("SAC", "TD3"):  # the target actor starts where the actor is
        if getattr(policy, "actor_target", None) is not None:
            policy.actor_target.load_state_dict(policy.actor.state_dict())
    return losses


def dagger(model, vecnorm, cfg, base_obs, base_act, iterations: int = 3, episodes: int = 64, seed0: int = DEMO_SEED0,
           epochs: int = 5, batch_size: int = 512, learning_rate: float = 1e-3, n_envs: int = 32,
           log=print) -> list[dict]:  # fmt: skip
    """DAgger with the autopilot as the expert: roll out the cloned policy (mixed with the autopilot's
    action with probability ``0.5 ** (i + 1)`` per step in iteration i), label every visited state with
    the autopilot's action (the autopilot runs in shadow, its state following the same observations),
    aggregate with the demonstrations and clone again. Episode seeds continue after the demonstrations'
    (``seed0 + 1_000_000 * (i + 1) + k``). Returns per-iteration stats."""
    from agents.autopilot import Autopilot
    from testbed.world import World

    obs_all, act_all = [base_obs], [base_act]
    oc = cfg.observation
    stats = []
    rng = np.random.default_rng(seed0)
    for it in range(iterations):
        beta = 0.5 ** (it + 1)
        n = min(n_envs, episodes)
        world = World(cfg, n)
        ap = Autopilot(n_rays=oc.n_rays, n_targets=oc.n_targets)
        ap.act_batch(world.obs)
        nxt, slot, outs = 0, [-1] * n, []
        base = seed0 + 1_000_000 * (it + 1)
        for e in range(n):
            world.reset_env(e, base + nxt)
            slot[e] = nxt
            nxt += 1
        ap.reset()
        new_o, new_a = [], []
        while any(s >= 0 for s in slot):
            o = world.obs.copy()
            expert = np.asarray(ap.act_batch(o), dtype=np.float32)
            x = vecnorm.normalize_obs(o) if vecnorm is not None and vecnorm.norm_obs else o
            mine, _ = model.predict(x, deterministic=True)
            live = np.array([s >= 0 for s in slot])
            new_o.append(o[live])
            new_a.append(expert[live])
            use_expert = rng.random(n) < beta
            acts = np.where(use_expert[:, None], expert, np.clip(mine, -1, 1))
            _, term, trunc, _ = world.step(acts.astype(np.float64))
            done = term | trunc
            if done.any():
                oc_ = world.outcomes()
                for e in np.flatnonzero(done):
                    if slot[e] < 0:
                        world.reset_env(int(e), base)
                        continue
                    outs.append(str(oc_[e]))
                    if nxt < episodes:
                        world.reset_env(int(e), base + nxt)
                        slot[e] = nxt
                        nxt += 1
                    else:
                        slot[e] = -1
                        world.reset_env(int(e), base)
                    ap.reset(np.array([e]))
        obs_all.append(np.concatenate(new_o))
        act_all.append(np.concatenate(new_a))
        losses = clone_arrays(model, np.concatenate(obs_all), np.concatenate(act_all), vecnorm, epochs, batch_size,
                              learning_rate, seed0 + it)  # fmt: skip
        st = {"iteration": it, "beta": beta, "rollout_success": outs.count("goal") / max(len(outs), 1),
              "samples": int(sum(len(a) for a in act_all)), "loss_last": losses[-1]}  # fmt: skip
        stats.append(st)
        log(f"dagger: {st}")
    return stats
