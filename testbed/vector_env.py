"""The native batched environment: N environments stepped in one numpy/numba batch.

``gymnasium.make_vec("testbed/PortEntry-v0", num_envs=N, vectorization_mode="vector_entry_point")``
returns a :class:`DuisburgVectorEnv`: the same :class:`~testbed.world.World` as the single env, with
E = N. There is no second implementation of anything: env i of the batch gives bit-identical
observations, rewards and info to ``gymnasium.make`` reset with the same seed (``reset(seed=s)``
seeds env i with ``s + i``, as Gymnasium's vector envs do).

Autoreset follows Gymnasium 1.x ``NEXT_STEP`` semantics: the step in which an env terminates or
truncates returns its final observation; the next ``step`` resets it (its action is ignored) and
returns the first observation of the new episode with reward 0 and both flags False.

``infos`` is a dict of arrays over the envs: ``is_success``, ``time_s``, ``distance_to_goal_m``,
``min_cpa_m``, ``outcome`` (object array of str or None) and ``reward_<component>`` for each named
reward component (weighted).

:class:`SB3VecEnv` adapts the same world to Stable-Baselines3's ``VecEnv`` (SB3 resets inside the
step and puts the final observation into ``infos[i]["terminal_observation"]``). At the end of an
episode ``infos[i]["episode"]`` holds ``{"r": return, "l": length, "t": seconds}`` as SB3's ``Monitor``
/ ``VecMonitor`` write it, so SB3's logger shows ``ep_rew_mean`` / ``ep_len_mean`` without a wrapper. The info of an env whose
episode ended also holds ``is_success``, ``outcome`` and ``reward_components`` (the weighted reward
components summed over the episode).
"""

from __future__ import annotations

import time

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from testbed import observation as ob
from testbed.config import ScenarioConfig
from testbed.env import make_spaces, resolve_config
from testbed.world import World


def _seeds(seed, n: int) -> list[int | None]:
    if seed is None:
        return [None] * n
    if isinstance(seed, int | np.integer):
        return [int(seed) + i for i in range(n)]
    seeds = list(seed)
    if len(seeds) != n:
        raise ValueError(f"got {len(seeds)} seeds for {n} envs")
    return seeds


def _infos(world: World) -> dict:
    f = world.feats
    wc = world.comps * world.weights
    out = {
        "is_success": f[:, ob.F_REACHED] > 0,
        "time_s": world.t.copy(),
        "distance_to_goal_m": f[:, ob.F_DGOAL].copy(),
        "min_cpa_m": np.where(f[:, ob.F_MINCPA] < 1e8, f[:, ob.F_MINCPA], np.inf),
        "outcome": world.outcomes(),
    }
    for k, name in enumerate(ob.COMPONENTS):
        out[f"reward_{name}"] = wc[:, k].copy()
    return out


class DuisburgVectorEnv(VectorEnv):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, scenario: str | ScenarioConfig = "Channel-v0",
                 render_mode: str | None = None, overrides: list[str] | None = None, **kwargs) -> None:  # fmt: skip
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r}; the vector env renders env 0 as 'rgb_array' or None")
        self.cfg = resolve_config(scenario, overrides, kwargs)
        if self.cfg.observation.kind != "flat":
            raise ValueError("the vector env supports observation.kind='flat'")
        self.num_envs = int(num_envs)
        self.world = World(self.cfg, self.num_envs)
        self.single_observation_space, self.single_action_space = make_spaces(self.cfg)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = render_mode
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._renderer = None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        for e, s in enumerate(_seeds(seed, self.num_envs)):
            self.world.reset_env(e, s)
        self._autoreset[:] = False
        return self.world.obs.copy(), _infos(self.world)

    def step(self, actions):
        a = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, 2)
        reward, term, trunc, _ = self.world.step(a)
        reward, term, trunc = reward.copy(), term.copy(), trunc.copy()
        if self._autoreset.any():
            for e in np.flatnonzero(self._autoreset):
                self.world.reset_env(int(e))
            reward[self._autoreset] = 0.0
            term = term & ~self._autoreset
            trunc = trunc & ~self._autoreset
        self._autoreset = term | trunc
        return self.world.obs.copy(), reward, term, trunc, _infos(self.world)

    def render(self):
        if self.render_mode is None:
            return None
        if self._renderer is None:
            from testbed.render import Renderer

            self._renderer = Renderer(self.world.map, render_mode="rgb_array")
        from testbed.env import DuisburgEnv

        return self._renderer.render(DuisburgEnv.scene(self, 0))  # same scene builder, env 0

    def close_extras(self, **kwargs):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def SB3VecEnv(scenario: str | ScenarioConfig = "Channel-v0", num_envs: int = 8, seed: int | None = None,
              overrides: list[str] | None = None, **kwargs):  # fmt: skip
    """A Stable-Baselines3 ``VecEnv`` over the batched world (imports stable_baselines3 lazily)."""
    from stable_baselines3.common.vec_env.base_vec_env import VecEnv

    class _SB3VecEnv(VecEnv):
        def __init__(self) -> None:
            self.venv = DuisburgVectorEnv(num_envs, scenario, overrides=overrides, **kwargs)
            super().__init__(num_envs, self.venv.single_observation_space, self.venv.single_action_space)
            self._seed = seed
            self._actions = None
            # episode statistics, as SB3's Monitor / VecMonitor put them into info["episode"]
            self._t_start = time.time()
            self._ep_return = np.zeros(num_envs, dtype=np.float64)
            self._ep_length = np.zeros(num_envs, dtype=np.int64)
            self._ep_comps = np.zeros((num_envs, len(ob.COMPONENTS)))  # weighted components, episode sums
            self._wc = np.zeros_like(self._ep_comps)

        def reset(self):
            obs, _ = self.venv.reset(seed=self._seed)
            self._seed = None
            self._ep_return[:] = 0.0
            self._ep_length[:] = 0
            self._ep_comps[:] = 0.0
            return obs

        def step_async(self, actions):
            self._actions = np.asarray(actions)

        def step_wait(self):
            w = self.venv.world
            reward, term, trunc, _ = w.step(self._actions.reshape(self.num_envs, 2))
            reward = reward.astype(np.float32)
            self._ep_return += reward
            self._ep_length += 1
            np.multiply(w.comps, w.weights, out=self._wc)
            self._ep_comps += self._wc
            done = term | trunc
            obs = w.obs.copy()
            # a fresh empty dict per env (SB3 and wrappers may write into them); the per-env figures only
            # for the envs whose episode ended, read before their reset
            infos = [{} for _ in range(self.num_envs)]
            for e in (np.flatnonzero(done).tolist() if done.any() else ()):
                infos[e] = {
                    "terminal_observation": obs[e].copy(),
                    "TimeLimit.truncated": bool(trunc[e] and not term[e]),
                    "is_success": bool(w.feats[e, ob.F_REACHED] > 0),
                    "outcome": w.outcome(e),
                    # what SB3's Monitor adds: return, length, wall-clock seconds since the env was made
                    "episode": {"r": round(float(self._ep_return[e]), 6), "l": int(self._ep_length[e]),
                                "t": round(time.time() - self._t_start, 6)},
                    "reward_components": dict(zip(ob.COMPONENTS, self._ep_comps[e].tolist(), strict=True)),
                }  # fmt: skip
                self._ep_return[e] = 0.0
                self._ep_length[e] = 0
                self._ep_comps[e] = 0.0
                w.reset_env(e)
                obs[e] = w.obs[e]
            return obs, reward, done, infos

        def close(self):
            self.venv.close()

        def get_attr(self, attr_name, indices=None):
            return [getattr(self.venv, attr_name) for _ in self._get_indices(indices)]

        def set_attr(self, attr_name, value, indices=None):
            setattr(self.venv, attr_name, value)

        def env_method(self, method_name, *method_args, indices=None, **method_kwargs):
            return [getattr(self.venv, method_name)(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

        def env_is_wrapped(self, wrapper_class, indices=None):
            # the episode statistics of Monitor are built in (info["episode"]), so SB3's evaluate_policy
            # may rely on them as it does for Monitor-wrapped envs
            from stable_baselines3.common.monitor import Monitor

            return [wrapper_class is Monitor for _ in self._get_indices(indices)]

        def seed(self, seed=None):
            self._seed = seed
            return [None if seed is None else seed + i for i in range(self.num_envs)]

    return _SB3VecEnv()
