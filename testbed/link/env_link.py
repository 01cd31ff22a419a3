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

Several egos per env (``vessels_per_env`` = K, :mod:`testbed.multi_agent`) each have their own link,
and they share the cells' load: the queueing utilisation of a cell serving ``n`` of the env's egos is
``rho = min(cell_load + (n - 1) * EGO_CELL_LOAD, 0.95)`` instead of ``min(cell_load, 0.95)``, and each
delivered packet of those egos waits the difference of the M/M/1 mean waits, ``queueing_ms * (rho / (1 -
rho) - rho_0 / (1 - rho_0))``, on top of the channel's latency (deterministic: no extra random draws, so
K = 1 is unchanged). So two vessels in one cell see each other's traffic in their latencies and, under
remote operation, in late commands.

Randomness: one ``link`` generator per env (spawned from the episode seed) seeds the channel's
per-vessel blocks at reset; the radio map's shadowing and LOS fields come from ``link.radio_seed``
(the same world for every episode).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from testbed.link.channel import step_kernel
from testbed.link.radio import rsrp_at

N_LINK = 4
EGO_CELL_LOAD = 0.1  # share of a cell's capacity one remote-operated ego's traffic takes (several egos per env)
FAILSAFES = ("slow_ahead", "stop", "hold")


class EnvLink:
    def __init__(self, cfg, hmap, n_envs: int, dt: float, vessels_per_env: int = 1) -> None:
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
        self._out = np.zeros((n_envs, 2))
        self._fs_code = FAILSAFES.index(cfg.failsafe)
        self._rsrp = np.zeros((n_envs, self.n_cells))  # (E, 0) without a radio map (ideal profile)
        self._no_rsrp = np.full((1, 1, 1), -np.inf, dtype=np.float32)
        self.V = int(vessels_per_env)
        rho0 = min(self.profile.cell_load, 0.95)
        self._load = np.array([self.V, self.profile.queueing_ms * 1e-3, rho0, EGO_CELL_LOAD])
        self._active = np.ones(n_envs, dtype=np.uint8)
        self._geo = ((self.radio.x0, self.radio.y0, self.radio.res) if self.radio is not None else (0.0, 0.0, 1.0))

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

    def step(self, t: np.ndarray, ego, ego_cur: np.ndarray, actions: np.ndarray,
             active: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        """One link step at episode time ``t`` (E,) for the egos (a VesselState) with the current
        ``ego_cur`` at them; ``actions`` (E, 2) are what the agent sends. Returns the actions that act on the vessels (E, 2). One compiled call
        (:func:`link_step_kernel`) does the radio lookup, the channel step, the features and the
        command path."""
        ch = self.channel
        if ch._need_refill:
            ch._refill()
        r = self.radio
        rs = r.rsrp if r is not None else self._no_rsrp
        geo = self._geo
        ch._need_refill = link_step_kernel(
            t, ego.x, ego.y, ego.u, ego.psi, ego_cur, self.xy, rs, geo[0], geo[1], geo[2], r is not None, self._rsrp, ch.params, ch.holes,
            ch._fstate, ch._istate, ch.ge, ch.u, ch._o_flt, ch._o_bool, ch._o_serving,
            actions, self.dt, self.remote, bool(self.cfg.data_path), float(self.cfg.command_timeout_s),
            self._fs_code, self.applied, self.pending, self.pending_valid, self.last_cmd_t, self.failsafe,
            self.delivered, self.loss_avg, self.last_latency, self.features, self._out, self._load,
            self._active if active is None else active,
        )  # fmt: skip
        self.last = ch._out
        return self._out if self.remote else actions

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


@numba.njit(cache=True)
def link_step_kernel(t, x, y, eu, epsi, ecur, xy, rasters, x0, y0, res, has_radio, rsrp, params, holes, fstate, istate, ge, u,
                     o_flt, o_bool, o_serving, actions, dt, remote, data_path, timeout, fs_code,
                     applied, pending, pending_valid, last_cmd_t, failsafe, delivered, loss_avg, last_latency,
                     features, out, load, active):  # fmt: skip
    """The link step of E egos (see :class:`EnvLink`): received powers (bilinear on the radio map),
    the channel (:func:`testbed.link.channel.step_kernel`), the observation features and the command
    path with the fail-safe. Returns True when the channel's uniform blocks need a refill."""
    E = x.shape[0]
    for e in range(E):
        xy[e, 0] = x[e]
        xy[e, 1] = y[e]
    if has_radio:
        rsrp = rsrp_at(rasters, x0, y0, res, xy, True)  # bilinear, the radio map's own lookup
    refill = step_kernel(t, xy, rsrp, params, holes, fstate, istate, ge, u, o_flt, o_bool, o_serving)
    V = int(load[0])
    if V > 1:  # the env's egos share their cells' load (module docstring)
        q, rho0, per = load[1], load[2], load[3]
        base = rho0 / (1.0 - rho0)
        for e in range(E):
            s = o_serving[e]
            if s < 0 or active[e] == 0:
                continue
            nc = 0
            for j in range((e // V) * V, (e // V + 1) * V):
                if active[j] != 0 and o_serving[j] == s:
                    nc += 1
            if nc > 1:
                rho = min(rho0 + (nc - 1) * per, 0.95)
                extra = q * (rho / (1.0 - rho) - base)
                if not o_bool[3, e]:
                    o_flt[1, e] += extra
                if not o_bool[4, e]:
                    o_flt[2, e] += extra
    for e in range(E):
        sinr = o_flt[0, e]
        lost = o_bool[3, e]
        delivered[e] = (not lost) or (not data_path)
        loss_avg[e] += 0.05 * ((1.0 if lost else 0.0) - loss_avg[e])
        if not lost:
            last_latency[e] = o_flt[1, e]
        features[e, 0] = min(max(sinr / 30.0, -10.0), 10.0)
        features[e, 1] = min(max(last_latency[e] / 0.1, 0.0), 10.0)
        features[e, 2] = loss_avg[e]
        if not remote:
            continue
        cmd_lost = o_bool[4, e]
        now = (not cmd_lost) and o_flt[2, e] <= 0.5 * dt
        late = (not cmd_lost) and not now
        if now:
            applied[e, 0] = actions[e, 0]
            applied[e, 1] = actions[e, 1]
            last_cmd_t[e] = t[e]
        elif pending_valid[e]:
            applied[e, 0] = pending[e, 0]
            applied[e, 1] = pending[e, 1]
            last_cmd_t[e] = t[e]
        if late:
            pending[e, 0] = actions[e, 0]
            pending[e, 1] = actions[e, 1]
        pending_valid[e] = late
        age = t[e] - last_cmd_t[e]
        failsafe[e] = age > timeout
        features[e, 3] = min(max(age / timeout, 0.0), 10.0)
        out[e, 0] = applied[e, 0]
        out[e, 1] = applied[e, 1]
        if failsafe[e]:
            out[e, 0] = 0.0
            if fs_code == 0:  # slow ahead
                out[e, 1] = 0.3
            elif fs_code == 1:  # stop
                out[e, 1] = 0.0
            else:  # hold position: engine against the speed over ground along the heading
                sog_along = eu[e] + ecur[e, 0] * math.sin(epsi[e]) + ecur[e, 1] * math.cos(epsi[e])
                out[e, 1] = min(max(-0.5 * sog_along, -1.0), 1.0)
    return refill
