"""The link as a part of the world: what the ego's data and commands go through each step.

:class:`EnvLink` composes the radio map (:mod:`testbed.link.radio`, precomputed per map, profile and
radio seed) and the per-packet channel (:mod:`testbed.link.channel`) for the E egos of a world:

- **Data path** (shore to ship, ``link.data_path``): the shore-side traffic picture (AIS relayed from
  shore) goes out once per step; when that packet is lost, the AIS reports of the step never reach the
  ego (its picture ages, visible in the targets' age features). Latency (milliseconds, much less than
  the step) is reported in ``info`` and in the observation.
- **Command path** (``link.mode == "remote"``: remote operation from shore): the action of a step is a
  command packet. Delivered with latency L <= dt/2 it acts in this step, with a longer latency from the
  next step; lost, the vessel keeps its last command. When no command has arrived for
  ``command_timeout_s`` the fail-safe engages: ``slow_ahead`` (rudder amidships, engine 0.3 ahead),
  ``stop`` (rudder amidships, engine stop) or ``hold`` (rudder amidships, engine against the speed over
  ground, holding position). Onboard autonomy (``mode == "onboard"``) uses the data path only.

Observation block (4 values, appended after the targets): SINR / 30 dB, data latency / 100 ms (last
delivered packet), data loss rate (exponential average over ~20 steps), seconds since the last command
arrived / ``command_timeout_s`` (0 onboard). ``info["link"]`` holds SINR, serving cell, handover, the
latencies and losses of both paths and whether the fail-safe is engaged.

Randomness: one ``link`` generator per env (spawned from the episode seed) seeds the channel's
per-vessel blocks at reset; the radio map's shadowing and LOS fields come from ``link.radio_seed``
(the same world for every episode).
"""

from __future__ import annotations

import math

import numpy as np

N_LINK = 4
FAILSAFES = ("slow_ahead", "stop", "hold")


class EnvLink:
    def __init__(self, cfg, hmap, n_envs: int, dt: float) -> None:
        from testbed.link.channel import LinkChannel
        from testbed.link.profiles import load_profile

        self.cfg = cfg
        self.E = n_envs
        self.dt = dt
        self.profile = load_profile(cfg.profile)
        self.ideal = bool(self.profile.ideal)
        self.remote = cfg.mode == "remote"
        self.radio = None
        self.n_cells = 0
        if not self.ideal:
            from testbed.link.radio import RadioMap

            self.radio = RadioMap(hmap, self.profile, seed=cfg.radio_seed, resolution_m=cfg.radio_resolution_m)
            self.n_cells = self.radio.n_cells
        self.channel = LinkChannel(self.profile, n_envs, vessels_per_env=1)
        self.xy = np.zeros((n_envs, 2))
        self.applied = np.zeros((n_envs, 2))  # the command acting on the vessel
        self.pending = np.zeros((n_envs, 2))
        self.pending_valid = np.zeros(n_envs, dtype=bool)
        self.last_cmd_t = np.zeros(n_envs)
        self.failsafe = np.zeros(n_envs, dtype=bool)
        self.delivered = np.ones(n_envs, dtype=bool)
        self.loss_avg = np.zeros(n_envs)
        self.last_latency = np.zeros(n_envs)
        self.features = np.zeros((n_envs, N_LINK))
        self.last = None

    def reset_env(self, e: int, rng: np.random.Generator) -> None:
        self.channel.reset(e, rng)
        self.applied[e] = 0.0
        self.pending_valid[e] = False
        self.last_cmd_t[e] = 0.0
        self.failsafe[e] = False
        self.delivered[e] = True
        self.loss_avg[e] = 0.0
        self.last_latency[e] = 0.0
        self.features[e] = (1.0, 0.0, 0.0, 0.0)

    def step(self, t: np.ndarray, x: np.ndarray, y: np.ndarray, actions: np.ndarray, sog_along: np.ndarray) -> np.ndarray:
        """One link step at episode time ``t`` (E,) for egos at (x, y); ``actions`` (E, 2) are what the
        agent sends. Returns the actions that act on the vessels (E, 2)."""
        self.xy[:, 0] = x
        self.xy[:, 1] = y
        rsrp = None if self.radio is None else self.radio.rsrp_at(self.xy)
        ls = self.channel.step(t, self.xy, rsrp)
        self.last = ls
        lost = ls.data_lost
        self.delivered[:] = ~lost if self.cfg.data_path else True
        self.loss_avg += 0.05 * (lost.astype(np.float64) - self.loss_avg)
        np.copyto(self.last_latency, ls.data_latency_s, where=~lost)
        f = self.features
        f[:, 0] = np.clip(ls.sinr_db / 30.0, -10.0, 10.0)
        f[:, 1] = np.clip(self.last_latency / 0.1, 0.0, 10.0)
        f[:, 2] = self.loss_avg
        if not self.remote:
            return actions
        # command path: this step's command, the pending one from the last step, or the last one kept
        arrived_now = ~ls.cmd_lost & (ls.cmd_latency_s <= 0.5 * self.dt)
        arrived_late = ~ls.cmd_lost & ~arrived_now
        use_pending = self.pending_valid & ~arrived_now
        self.applied[use_pending] = self.pending[use_pending]
        self.applied[arrived_now] = actions[arrived_now]
        got = arrived_now | use_pending
        self.last_cmd_t[got] = t[got]
        self.pending[arrived_late] = actions[arrived_late]
        self.pending_valid = arrived_late.copy()
        age = t - self.last_cmd_t
        self.failsafe = age > self.cfg.command_timeout_s
        f[:, 3] = np.clip(age / self.cfg.command_timeout_s, 0.0, 10.0)
        out = self.applied.copy()
        if self.failsafe.any():
            fs = self.failsafe
            out[fs, 0] = 0.0
            if self.cfg.failsafe == "slow_ahead":
                out[fs, 1] = 0.3
            elif self.cfg.failsafe == "stop":
                out[fs, 1] = 0.0
            else:  # hold position: engine against the speed over ground along the heading
                out[fs, 1] = np.clip(-0.5 * sog_along[fs], -1.0, 1.0)
        return out

    def info(self, e: int) -> dict:
        ls = self.last
        if ls is None:
            return {}
        serving = int(ls.serving[e])
        return {
            "sinr_db": float(ls.sinr_db[e]),
            "serving_cell": (self.radio.cell_ids[serving] if self.radio is not None and serving >= 0 else None),
            "handover": bool(ls.handover[e]),
            "interrupted": bool(ls.interrupted[e]),
            "outage": bool(ls.outage[e]),
            "data_latency_ms": float(ls.data_latency_s[e] * 1e3) if not ls.data_lost[e] else math.inf,
            "data_lost": bool(ls.data_lost[e]),
            "cmd_latency_ms": float(ls.cmd_latency_s[e] * 1e3) if not ls.cmd_lost[e] else math.inf,
            "cmd_lost": bool(ls.cmd_lost[e]),
            "failsafe": bool(self.failsafe[e]),
        }
