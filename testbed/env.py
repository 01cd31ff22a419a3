"""The single Gymnasium environment: the batched :class:`~testbed.world.World` with E = 1.

## Description
An inland ship (by default an M8 motor vessel, 110 x 11.45 m, MMG 3-DOF dynamics on the velocity
through the water, river current from the map) navigates the Duisburg port or a synthetic curriculum
map among scripted traffic. The scenario (``testbed/PortEntry-v0``, ``RhineTransit-v0``,
``Berthing-v0``, ``Channel-v0``, ``Crossing-v0``; see :mod:`testbed.scenarios`) sets the map, the
start and goal distributions, traffic, discharge, time step, time limit, reward weights and
observation options.

## Action Space
``Box(-1, 1, (2,), float32)``: ``[rudder, engine]``. ``rudder`` x the type's maximum rudder angle
(+ to starboard) is the rudder command; ``engine`` x the maximum revs (x ``ego.max_revs_fraction``)
is the propeller revs command (negative: astern, limited to the type's astern revs). Both actuators
move towards their commands at their rate limits. :class:`testbed.wrappers.DiscreteActions` gives a
discrete version.

## Observation Space
``Box(-10, 10, (19 + K + 9 M,), float32)`` (``observation.kind="flat"``, K rays, M targets; default
K = 32, M = 8: 123 values) or a ``Dict`` of the same numbers (``observation.kind="dict"``). The
layout, with index, meaning, unit and range, is the table in :mod:`testbed.observation`.

## Rewards
Named components x weights (:mod:`testbed.reward`): progress along the route, cross-track error,
heading error, collision, grounding, near miss, harbour speed limit, energy, smoothness, goal.
``info["reward_components"]`` holds each weighted component; they sum to the reward.

## Starting State
A point on one of the start lanes (river-km or along-track range), a cross-track offset, a heading
offset and a speed, all drawn from the episode's ``start`` generator; traffic placed on its lanes by
the ``traffic`` generator.

## Episode End
Terminated: goal reached, collision (hull capsules overlap), grounding (a hull point on land),
leaving the map. Truncated: ``time_limit_s``. ``info["outcome"]`` names which.

## Arguments
``gymnasium.make("testbed/PortEntry-v0", render_mode=None | "rgb_array" | "human",
camera="follow" | "map", overlay=None | "sinr" | "throughput" | "latency_p50" | "latency_p95",
overrides=["traffic.count=10"], record=None | "ep.replay" | "DIR/", record_agent=None, **keyword_overrides)``;
``record`` writes a replay file per episode (:mod:`testbed.replay`); ``overlay`` draws the 5G coverage of the
link profile under the scene; keyword overrides are
nested dicts or values of :class:`testbed.config.ScenarioConfig` (``traffic={"count": 10}``,
``dt=0.5``). Unknown keys and wrong types raise :class:`testbed.config.ConfigError`.

``render_mode="human"`` opens a window that runs at x8 real time (simulation time) and takes the
keys of :mod:`testbed.ui.controls` (Space pause, ``+``/``-`` speed, ``.`` one step while paused,
``f`` follow / whole-map camera, ``h`` help, ``q``/Esc quit). Closing the window, ``q``, Ctrl-C
(SIGINT) or SIGTERM ends the episode cleanly: that ``step()`` returns ``truncated=True`` with
``info["outcome"] == "user_quit"`` (and :attr:`DuisburgEnv.user_quit` is True), so a loop that stops
on ``info["outcome"] == "user_quit"`` exits without a traceback; ``close()`` restores the previous
signal handlers. A second Ctrl-C raises ``KeyboardInterrupt`` as usual.

## Reproducibility
``reset(seed=s)`` makes the episode and every later step bit-identical for the same actions; later
``reset()`` calls draw the next episodes of the same seed.

## Version History
* v0: initial release (issue 3): scripted traffic, perfect perception of targets.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from testbed import observation as ob
from testbed.config import ScenarioConfig, apply_overrides
from testbed.scenarios import get as get_scenario
from testbed.world import World


def make_spaces(cfg: ScenarioConfig) -> tuple[spaces.Space, spaces.Space]:
    """(observation space, action space) of one env of this scenario."""
    oc = cfg.observation
    d = ob.obs_dim(oc.n_rays, oc.n_targets)
    act = spaces.Box(-1.0, 1.0, (2,), np.float32)
    if oc.kind == "flat":
        return spaces.Box(-ob.OBS_CLIP, ob.OBS_CLIP, (d,), np.float32), act
    lim = ob.OBS_CLIP
    return spaces.Dict({
        "ego": spaces.Box(-lim, lim, (6,), np.float32),
        "route": spaces.Box(-lim, lim, (11,), np.float32),
        "current": spaces.Box(-lim, lim, (2,), np.float32),
        "rays": spaces.Box(-lim, lim, (oc.n_rays,), np.float32),
        "targets": spaces.Box(-lim, lim, (oc.n_targets, ob.TARGET_FEATURES), np.float32),
        "link": spaces.Box(-lim, lim, (ob.N_LINK,), np.float32),
    }), act  # fmt: skip


def resolve_config(scenario: str | ScenarioConfig, overrides=None, kwargs=None) -> ScenarioConfig:
    cfg = get_scenario(scenario) if isinstance(scenario, str) else scenario
    return apply_overrides(cfg, kwargs or None, list(overrides) if overrides else None)


class DuisburgEnv(gym.Env):
    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 10}

    def __init__(self, scenario: str | ScenarioConfig = "Channel-v0", render_mode: str | None = None,
                 camera: str = "follow", overrides: list[str] | None = None, overlay: str | None = None,
                 record: str | None = None, record_agent: str | None = None, **kwargs) -> None:  # fmt: skip
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r}; expected None, 'rgb_array' or 'human'")
        self.cfg = resolve_config(scenario, overrides, kwargs)
        self.world = World(self.cfg, 1)
        self.observation_space, self.action_space = make_spaces(self.cfg)
        self.render_mode = render_mode
        self.camera = camera
        self.overlay = overlay  # "sinr", "throughput", "latency_p50", "latency_p95": 5G coverage under the scene
        if overlay is not None and self.world.link is None:
            raise ValueError(f"overlay={overlay!r} needs a link profile other than 'ideal' (link.profile)")
        self._renderer = None
        self._act = np.zeros((1, 2))
        self._flat = self.cfg.observation.kind == "flat"
        self._needs_reset = True
        self._recorder = None  # record=PATH: testbed.replay (one replay file per episode)
        if record is not None:
            from testbed.replay.recorder import EnvRecorder

            self._recorder = EnvRecorder(self, record, agent=record_agent)

    def _obs(self):
        o = self.world.obs[0].copy()
        if self._flat:
            return o
        oc = self.cfg.observation
        return {k: v.copy() for k, v in ob.split_dict(o, oc.n_rays, oc.n_targets).items()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.world.reset_env(0, seed)
        self._needs_reset = False
        if self._recorder is not None:
            self._recorder.on_reset()
        if self.render_mode == "human":
            self.render()
        return self._obs(), self.world.info(0)

    def step(self, action):
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (and after an episode ended)")
        a = self._act
        a[0, 0] = action[0]
        a[0, 1] = action[1]
        if not (math.isfinite(a[0, 0]) and math.isfinite(a[0, 1])):
            raise ValueError(f"action {action!r} is not finite")
        reward, term, trunc, _ = self.world.step(a)
        if self._recorder is not None:  # record=...: one buffer row, no I/O (testbed.replay)
            self._recorder.on_step(bool(term[0] or trunc[0]))
        terminated, truncated = bool(term[0]), bool(trunc[0])
        info = self.world.info(0)
        if self.render_mode == "human":
            self.render()
            if self.user_quit and not terminated:  # window closed, q/Esc, Ctrl-C or SIGTERM
                truncated = True
                info["outcome"] = "user_quit"
        self._needs_reset = terminated or truncated
        return self._obs(), float(reward[0]), terminated, truncated, info

    @property
    def user_quit(self) -> bool:
        """True once the user closed the ``render_mode="human"`` window, pressed ``q``/Esc, or sent
        SIGINT/SIGTERM while it was open; the next ``step()`` then returns ``truncated=True`` with
        ``info["outcome"] == "user_quit"``, and so does every later episode's first step."""
        r = self._renderer
        return r is not None and r.quit_requested

    # -- rendering --------------------------------------------------------------------------------
    def scene(self, e: int = 0):
        """The :class:`testbed.render.RenderScene` of env ``e`` (what the renderer draws)."""
        from testbed.render import RenderScene, VesselSprite

        w = self.world
        st = w.ego
        tr = w.traffic
        ts = tr.state
        ego = VesselSprite(float(st.x[e]), float(st.y[e]), float(st.psi[e]), float(w.ego_len[e]),
                           float(w.ego_beam[e]), w.ego_type.id, kind="ego")  # fmt: skip
        env = e // w.K  # ego slot e of env e // K (multi-agent worlds; e with K = 1)
        traffic = []
        for j in range(tr.T):
            i = env * tr.T + j
            if tr.active[i]:
                traffic.append(VesselSprite(float(ts.x[i]), float(ts.y[i]), float(ts.psi[i]), float(tr.length[i]),
                                            float(tr.beam[i]), f"{tr.type_ids[tr.type_index[i]]} #{j}"))  # fmt: skip
        n = int(w.route_n[e])
        comps = w.comps[e] * w.weights
        t = float(w.t[env])
        dgoal = float(w.feats[e, ob.F_DGOAL])
        hud = {  # the few numbers that matter, formatted with their units
            "time": f"{int(t // 60):d}:{t % 60:04.1f}",
            "SOG": f"{float(w.feats[e, ob.F_SOG]) * 3600 / 1852:.1f} kn",
            "heading": f"{math.degrees(float(st.psi[e])) % 360.0:05.1f}\u00b0",
            "rudder": f"{math.degrees(float(st.delta[e])):+.1f}\u00b0",
            "engine": f"{100.0 * float(st.n[e]) / float(w.ego_nmax[e]):+.0f} %",
            "to goal": f"{dgoal / 1000:.2f} km" if dgoal >= 1000 else f"{dgoal:.0f} m",
        }
        li = w.link.info(e) if w.link is not None else {}
        if "sinr_db" in li:  # before the first step there is no link state yet
            hud["link SINR"] = "outage" if li.get("outage") else f"{li['sinr_db']:.1f} dB"
        rays = w.obs[e, ob.N_EGO:ob.N_EGO + len(w.angles)].astype(np.float64) * w.ray_range
        return RenderScene(
            t=float(w.t[env]), ego=ego, traffic=traffic, ray_origin=(float(st.x[e]), float(st.y[e])),
            ray_world_angles=w.angles + float(st.psi[e]), ray_lengths=rays,
            goal_xy=(float(w.goal[e, 0]), float(w.goal[e, 1])),
            goal_psi=float(w.goal[e, 2]) if w.goal[e, 3] > 0 else None, goal_radius=float(w.goal_tol[e, 0]),
            route_xy=w.route[e, :n].copy(), hud=hud,
            reward_components={name: float(v) for name, v in zip(ob.COMPONENTS, comps, strict=True)},
        )  # fmt: skip

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called with render_mode=None; pass render_mode='rgb_array' or 'human'")
            return None
        if self._renderer is None:
            from testbed.render import Renderer

            fps = self.metadata["render_fps"] if self.render_mode == "rgb_array" else 30  # human: draws/s cap
            self._renderer = Renderer(self.world.map, render_mode=self.render_mode, camera=self.camera, fps=fps)
            if self.overlay is not None:
                from testbed.link.coverage import coverage

                link = self.world.link
                coverage(self.world.map, link.profile, seed=self.cfg.link.radio_seed,
                         resolution_m=self.cfg.link.radio_resolution_m).overlay(self._renderer, self.overlay)
        return self._renderer.render(self.scene(0))

    def close(self):
        if self._recorder is not None:
            self._recorder.close()
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
