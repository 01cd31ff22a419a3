"""Several autonomous vessels in one world: a PettingZoo ``ParallelEnv`` and an SB3 VecEnv adapter.

``parallel_env(scenario, n_agents=K, **overrides)`` puts K learning vessels (agents ``ego_0`` ..
``ego_{K-1}``) into one env of the batched :class:`testbed.world.World` (``n_agents=K``): the same
physics, perception, reward, rules and link code as the single env, with the ego arrays holding K
slots. Each agent has its own observation (the other vessels appear among its targets, by truth),
reward, termination, truncation, ``info`` and, under remote operation, its own link. Collisions between
the vessels count. An agent that terminates leaves the world (its vessel is removed) until the next
reset; the others sail on.

Scenarios: every registered scenario runs with K agents where its start region holds K starts at least
``min_separation_m`` apart along its start lanes (more agents than start slots is one ``ConfigError``
naming K and the limit); the dedicated scenarios in :data:`MA_SCENARIOS` give each agent its own start
and goal. With K = 1 the env is bit-identical to ``gymnasium.make`` of the scenario.

``SB3MultiAgentVecEnv(scenario, n_agents=K, n_envs=N)`` is a Stable-Baselines3 ``VecEnv`` over a world
of N envs x K agents: each agent slot is one SB3 env, so one policy is trained for all vessels (parameter
sharing). An env resets when all its agents are done; until then the slots of finished agents return
zero observations and rewards and are marked done only once.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from testbed import observation as ob
from testbed.config import ConfigError, GoalConfig, ScenarioConfig, StartConfig, TrafficConfig
from testbed.env import make_spaces, resolve_config
from testbed.scenarios import get as get_scenario
from testbed.world import World

# The dedicated multi-agent scenarios: base scenario, overrides of the base, one (start, goal) per agent.
MA_SCENARIOS: dict[str, tuple[str, dict, list[tuple[StartConfig, GoalConfig]]]] = {
    # two vessels meeting in the Rhine at Ruhrort: one upstream, one downstream, with scripted traffic
    "MA-RhineMeeting-v0": ("RhineTransit-v0", {
        "time_limit_s": 2400.0,
        "traffic": TrafficConfig(count=6, lanes=["lane-rhine-down", "lane-rhine-up"], source="scripted"),
        "observation": {"targets": "truth"}}, [
        (StartConfig(lanes=["lane-rhine-up"], km=[782.6, 783.0], speed_ms=[3.0, 3.5]),
         GoalConfig(lane="lane-rhine-up", km=778.0, position_tol_m=80.0, heading_tol_deg=math.nan, speed_tol_ms=10.0)),
        (StartConfig(lanes=["lane-rhine-down"], km=[776.5, 776.9], speed_ms=[2.5, 3.0]),
         GoalConfig(lane="lane-rhine-down", km=781.5, position_tol_m=80.0, heading_tol_deg=math.nan, speed_tol_ms=10.0)),
    ]),
    # a convoy of three coming down the Rhine and entering the port, each to its own berth
    "MA-ConvoyEntry-v0": ("PortEntry-v0", {
        "traffic": TrafficConfig(count=4, lanes=["lane-rhine-down", "lane-rhine-up"], source="scripted"),
        "observation": {"targets": "truth"}}, [
        (StartConfig(lanes=["lane-rhine-down"], km=[778.9, 779.0], speed_ms=[2.5, 3.0]),
         GoalConfig(berths=["berth-01"], position_tol_m=40.0, heading_tol_deg=30.0, speed_tol_ms=1.0)),
        (StartConfig(lanes=["lane-rhine-down"], km=[778.2, 778.3], speed_ms=[2.5, 3.0]),
         GoalConfig(berths=["berth-03"], position_tol_m=40.0, heading_tol_deg=30.0, speed_tol_ms=1.0)),
        (StartConfig(lanes=["lane-rhine-down"], km=[777.5, 777.6], speed_ms=[2.5, 3.0]),
         GoalConfig(berths=["berth-05"], position_tol_m=40.0, heading_tol_deg=30.0, speed_tol_ms=1.0)),
    ]),
    # a crossing at the harbour mouth: one vessel enters the port from upstream while one passes by
    # upstream along the Rhine
    "MA-HarbourCrossing-v0": ("PortEntry-v0", {
        "traffic": TrafficConfig(count=4, lanes=["lane-rhine-down", "lane-rhine-up"], source="scripted"),
        "observation": {"targets": "truth"}}, [
        (StartConfig(lanes=["lane-rhine-down"], km=[778.8, 779.1], speed_ms=[2.5, 3.0]),
         GoalConfig(berths=["berth-02", "berth-04"], position_tol_m=40.0, heading_tol_deg=30.0, speed_tol_ms=1.0)),
        (StartConfig(lanes=["lane-rhine-up"], km=[781.4, 781.8], speed_ms=[3.0, 3.5]),
         GoalConfig(lane="lane-rhine-up", km=777.5, position_tol_m=80.0, heading_tol_deg=math.nan, speed_tol_ms=10.0)),
    ]),
}


def _strip(name: str) -> str:
    return name.split("/", 1)[1] if name.startswith("testbed/") else name


def resolve(scenario: str | ScenarioConfig, n_agents: int | None, overrides=None, kwargs=None,
            min_separation_m: float = 300.0) -> tuple[ScenarioConfig, list[ScenarioConfig] | None, int]:
    """(config, per-agent configs or None, K) of a multi-agent run; checks K against the start slots."""
    if isinstance(scenario, str) and _strip(scenario) in MA_SCENARIOS:
        base, fixed, agents = MA_SCENARIOS[_strip(scenario)]
        cfg = replace(get_scenario(base), name=_strip(scenario), **{k: v for k, v in fixed.items() if k != "observation"})
        kw = {"observation": fixed["observation"], **(kwargs or {})} if "observation" in fixed else kwargs
        cfg = resolve_config(cfg, overrides, kw)
        k = len(agents) if n_agents is None else int(n_agents)
        if k != len(agents):
            raise ConfigError(f"scenario {cfg.name!r}: n_agents = {k}, but it has exactly {len(agents)} agents")
        return cfg, [replace(cfg, start=s, goal=g) for s, g in agents], k
    cfg = resolve_config(scenario, overrides, kwargs)
    k = 1 if n_agents is None else int(n_agents)
    if k < 1:
        raise ConfigError(f"scenario {cfg.name!r}: n_agents = {k}; expected at least 1")
    return cfg, None, k


def _check_slots(world: World) -> None:
    if world.agent_tasks is None and world.K > 1:
        if world.K > world.task.start_slots(world.min_separation_m):
            raise world.task.slots_error(world.K, world.min_separation_m)


def _import_parallel_env():
    from pettingzoo import ParallelEnv

    return ParallelEnv


class MultiAgentEnv(_import_parallel_env()):
    """PettingZoo ``ParallelEnv``: K vessels in one env of the batched world (see the module docstring)."""

    metadata = {"name": "testbed_multi_agent_v0", "render_modes": ["human", "rgb_array"], "render_fps": 10,
                "is_parallelizable": True}  # fmt: skip

    def __init__(self, scenario: str | ScenarioConfig = "RhineTransit-v0", n_agents: int | None = None,
                 render_mode: str | None = None, min_separation_m: float = 300.0, camera: str = "map",
                 overrides: list[str] | None = None, **kwargs) -> None:  # fmt: skip
        if render_mode not in (None, "rgb_array", "human"):
            raise ValueError(f"render_mode={render_mode!r}; expected None, 'rgb_array' or 'human'")
        self.cfg, agent_cfgs, k = resolve(scenario, n_agents, overrides, kwargs, min_separation_m)
        self.world = World(self.cfg, 1, n_agents=k, agent_cfgs=agent_cfgs, min_separation_m=min_separation_m)
        _check_slots(self.world)
        self.K = k
        self.possible_agents = [f"ego_{i}" for i in range(k)]
        self.agents: list[str] = []
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        self._obs_space, self._act_space = make_spaces(self.cfg)
        self.observation_spaces = {a: self._obs_space for a in self.possible_agents}
        self.action_spaces = {a: self._act_space for a in self.possible_agents}
        self._act = np.zeros((k, 2))
        self._flat = self.cfg.observation.kind == "flat"
        self.render_mode = render_mode
        self.camera = camera
        self._renderer = None

    def observation_space(self, agent):
        return self.observation_spaces[agent]

    def action_space(self, agent):
        return self.action_spaces[agent]

    def _obs(self, i: int):
        o = self.world.obs[i].copy()
        if self._flat:
            return o
        oc = self.cfg.observation
        return {key: v.copy() for key, v in ob.split_dict(o, oc.n_rays, oc.n_targets).items()}

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.world.reset_env(0, seed)
        self.agents = list(self.possible_agents)
        return ({a: self._obs(i) for i, a in enumerate(self.agents)},
                {a: self.world.info(i) for i, a in enumerate(self.agents)})  # fmt: skip

    def step(self, actions: dict):
        a = self._act
        a[:] = 0.0
        for name, act in actions.items():
            if name not in self._index or name not in self.agents:
                raise ValueError(f"action for {name!r}, which is not a live agent; live: {self.agents}")
            i = self._index[name]
            a[i, 0], a[i, 1] = act[0], act[1]
            if not (math.isfinite(a[i, 0]) and math.isfinite(a[i, 1])):
                raise ValueError(f"action {act!r} of {name!r} is not finite")
        reward, term, trunc, _ = self.world.step(a)
        obs, rew, te, tr, infos = {}, {}, {}, {}, {}
        for name in self.agents:
            i = self._index[name]
            obs[name] = self._obs(i)
            rew[name] = float(reward[i])
            te[name] = bool(term[i])
            tr[name] = bool(trunc[i])
            infos[name] = self.world.info(i)
        if self.render_mode == "human":
            self.render()
            if self._renderer.quit_requested:  # window closed, q/Esc, Ctrl-C or SIGTERM: end the episode
                for name in self.agents:
                    if not te[name]:
                        tr[name] = True
                        infos[name]["outcome"] = "user_quit"
        for name in self.agents:
            if te[name] or tr[name]:
                self.world.remove_agent(self._index[name])
        self.agents = [n for n in self.agents if not (te[n] or tr[n])]
        return obs, rew, te, tr, infos

    def scene(self):
        """The render scene: the first live agent as the ego, the other live agents and the traffic."""
        from testbed.env import DuisburgEnv
        from testbed.render import VesselSprite

        w = self.world
        live = [self._index[a] for a in self.agents] or [0]
        sc = DuisburgEnv.scene(self, live[0])  # the single env's scene of ego slot live[0] (reads self.world)
        sc.ego.name = f"{self.possible_agents[live[0]]} ({sc.ego.name})"
        for i in live[1:]:
            sc.traffic.append(VesselSprite(float(w.ego.x[i]), float(w.ego.y[i]), float(w.ego.psi[i]),
                                           float(w.ego_len[i]), float(w.ego_beam[i]), f"{self.possible_agents[i]} ({w.ego_type.id})",
                                           kind="ego"))  # fmt: skip
        return sc

    def render(self):
        if self.render_mode is None:
            return None
        if self._renderer is None:
            from testbed.render import Renderer

            fps = self.metadata["render_fps"] if self.render_mode == "rgb_array" else 30  # human: draws/s cap
            self._renderer = Renderer(self.world.map, render_mode=self.render_mode, camera=self.camera, fps=fps)
        return self._renderer.render(self.scene())

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def parallel_env(scenario: str | ScenarioConfig = "RhineTransit-v0", n_agents: int | None = None,
                 **kwargs) -> MultiAgentEnv:
    """The PettingZoo ``ParallelEnv`` of ``scenario`` with ``n_agents`` vessels (default: 1, or the
    dedicated scenario's count); keyword arguments are scenario overrides (as for ``gymnasium.make``) or
    ``render_mode``, ``min_separation_m``, ``camera``, ``overrides``."""
    return MultiAgentEnv(scenario, n_agents, **kwargs)


def _sb3_class():
    """Build :class:`SB3MultiAgentVecEnv` on first use (importing Stable-Baselines3 imports torch)."""
    global _SB3_CLASS
    if _SB3_CLASS is not None:
        return _SB3_CLASS
    from stable_baselines3.common.vec_env import VecEnv

    class SB3MultiAgentVecEnv(VecEnv):
        """Stable-Baselines3 ``VecEnv`` over a world of ``n_envs`` envs x K agents (one SB3 env per agent
        slot, slot ``e * K + k``): train one shared policy for every vessel. Autoreset per world env: when
        all its agents are done it resets (the next base-seed episode) and the finished step's observation
        of each slot is in ``info["terminal_observation"]``."""

        def __init__(self, scenario: str | ScenarioConfig = "RhineTransit-v0", n_agents: int | None = None,
                     n_envs: int = 1, seed: int | None = None, min_separation_m: float = 300.0, **kwargs) -> None:  # fmt: skip
            self.cfg, agent_cfgs, k = resolve(scenario, n_agents, None, kwargs, min_separation_m)
            self.world = World(self.cfg, n_envs, n_agents=k, agent_cfgs=agent_cfgs, min_separation_m=min_separation_m)
            _check_slots(self.world)
            self.K, self.n_world = k, int(n_envs)
            obs_space, act_space = make_spaces(self.cfg)
            if self.cfg.observation.kind != "flat":
                raise ConfigError(f"scenario {self.cfg.name!r}: the SB3 adapter needs observation.kind = 'flat'")
            self.render_mode = None
            super().__init__(self.world.E, obs_space, act_space)
            self._seed = seed
            self._acts = np.zeros((self.world.E, 2))
            self._live = np.ones(self.world.E, dtype=bool)

        def reset(self):
            for e in range(self.n_world):
                self.world.reset_env(e, None if self._seed is None else self._seed + e)
            self._seed = None  # later resets draw the next episode of each env's base seed
            self._live[:] = True
            return self.world.obs.copy()

        def step_async(self, actions) -> None:
            self._acts[:] = np.asarray(actions, dtype=np.float64).reshape(-1, 2)

        def step_wait(self):
            w, K = self.world, self.K
            self._acts[~self._live] = 0.0
            reward, term, trunc, _ = w.step(self._acts)
            done = (term | trunc) & self._live
            obs = w.obs.copy()
            rew = np.where(self._live, reward, 0.0).astype(np.float32)
            infos = [{} for _ in range(w.E)]
            for i in np.flatnonzero(done):
                infos[i] = w.info(int(i))
                infos[i]["terminal_observation"] = obs[i].copy()
                infos[i]["TimeLimit.truncated"] = bool(trunc[i] and not term[i])
                w.remove_agent(int(i))
                self._live[i] = False
            obs[~self._live] = 0.0
            for e in range(self.n_world):
                sl = slice(e * K, (e + 1) * K)
                if not self._live[sl].any():
                    w.reset_env(e)
                    self._live[sl] = True
                    obs[sl] = w.obs[sl]
            return obs, rew, done, infos

        def close(self) -> None:
            pass

        def get_attr(self, attr_name, indices=None):
            return [getattr(self, attr_name)] * len(self._idx(indices))

        def set_attr(self, attr_name, value, indices=None) -> None:
            setattr(self, attr_name, value)

        def env_method(self, method_name, *args, indices=None, **kwargs):
            return [getattr(self, method_name)(*args, **kwargs) for _ in self._idx(indices)]

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False] * len(self._idx(indices))

        def _idx(self, indices):
            if indices is None:
                return range(self.num_envs)
            return [indices] if isinstance(indices, int) else list(indices)

        def seed(self, seed=None):
            self._seed = seed
            return [None if seed is None else seed + e for e in range(self.num_envs)]

    SB3MultiAgentVecEnv.__module__ = __name__
    SB3MultiAgentVecEnv.__qualname__ = "SB3MultiAgentVecEnv"
    _SB3_CLASS = SB3MultiAgentVecEnv
    return _SB3_CLASS


_SB3_CLASS = None


def __getattr__(name: str):
    if name == "SB3MultiAgentVecEnv":  # lazily: torch is imported only when the adapter is used
        return _sb3_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def aec_env(scenario: str | ScenarioConfig = "RhineTransit-v0", n_agents: int | None = None, **kwargs):
    """The same env as a PettingZoo AEC env (agents act in turn; PettingZoo's ``parallel_to_aec``)."""
    from pettingzoo.utils.conversions import parallel_to_aec

    return parallel_to_aec(parallel_env(scenario, n_agents, **kwargs))
