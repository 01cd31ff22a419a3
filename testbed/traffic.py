"""Scripted traffic: vessels that follow the fairway lanes with heading and speed keeping and give way.

:class:`ScriptedTraffic` places ``count`` vessels per environment on the lanes at reset (seeded by the
env's traffic generator) and, every step, computes their rudder and propeller commands in one compiled
kernel (:func:`control_kernel`); the vessels themselves move with the batched Nomoto model of
:mod:`vessels.nomoto`. The same object serves one env or a batch of E envs (arrays of E x T vessels).

Behaviour of each traffic vessel (all in the kernel, no Python per vessel):

- **Heading keeping**: line-of-sight guidance towards the lane point ``lookahead`` metres ahead of its
  projection on the lane (lookahead = max(2.5 L, 150 m)), PD rudder on the heading error.
- **Speed keeping**: propeller revs for its target speed through the water (the Nomoto model's
  speed per rev), limited as below.
- **Giving way** (to each other and to the ego): a vessel slows down for anyone in its path, i.e. ahead
  within a corridor of the two half beams plus 25 m, so that the bow-to-stern gap does not fall below
  ``keep_clear_m``: the allowed speed is the lower of margin / 40 s and the speed from which it can
  still stop within the margin, plus the other's speed along its heading; revs follow a proportional
  speed law, going astern when it must slow down. When the ego would come within a ship length (CPA)
  within 120 s it stops short of the ego's track if it is crossing it (headings more than 45 deg
  apart), and otherwise slows to a quarter of its speed, as it does for a crossing vessel on its
  starboard side. A stopped vessel never moves into anyone; the ego can still ram it.
- **Traffic rules** (when the scenario's rules are on, :meth:`ScriptedTraffic.set_rules`): slow to the
  § 6.20 limit in front of harbour mouths, at berths and in the harbour canals and basins (looking
  ``max(2.5 L, 150 m)`` and twice that ahead), keep the
  § 10.01 high-water limit over ground (stop above mark II), and when leaving, entering or crossing at a
  harbour mouth wait while a through vessel would come within its half length + the § 6.16 clearance
  (§ 6.16). Meeting port-to-port is the lanes' geometry (each on the starboard side of its direction).
- **Lane ends**: a vessel that reaches the end of its lane re-enters at the lane's start once that is
  clear (``min_gap_m``); until then it is inactive (not drawn, not perceived, not collidable).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from harbour_maps.kernels import cell_index, current_at, current_xy_batch
from testbed.rules.zones import M_BERTH, M_ENTRY, M_HIGHWATER, M_MOUTH, M_NARROW
from vessels import catalogue, nomoto
from vessels.state import VesselState

# rule parameters of the traffic (set_rules): § 6.20 limit through the water, § 10.01 limit over ground,
# high water on (1/0), navigation stopped (1/0), § 6.16 clearance beyond the half lengths, time window
ZP_LIM_MOUTH, ZP_LIM_HW, ZP_HIGH, ZP_STOP, ZP_CROSS_CPA, ZP_CROSS_TCPA = range(6)


class TrafficError(ValueError):
    pass


class LaneTable:
    """All lanes of the map packed into flat arrays for the compiled kernels; lanes with
    ``direction == "both"`` appear twice, the second time reversed (id suffix ``~rev``)."""

    def __init__(self, hmap) -> None:
        if not hmap.lanes:
            raise TrafficError(f"map {hmap.name!r} has no lanes for traffic")
        ids, xys = [], []
        for ln in hmap.lanes:
            ids.append(ln.id)
            xys.append(ln.xy)
            if ln.direction == "both":
                ids.append(ln.id + "~rev")
                xys.append(ln.xy[::-1])
        self.ids = ids
        self.xy = np.ascontiguousarray(np.concatenate(xys), dtype=np.float64)
        ss = [np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(a, axis=0).T))]) for a in xys]
        self.s = np.concatenate(ss).astype(np.float64)
        self.start = np.cumsum([0] + [len(a) for a in xys]).astype(np.int64)
        self.length = np.array([a[-1] for a in ss], dtype=np.float64)
        # two-way lanes: each direction keeps this far to its starboard of the line (meets port-to-port)
        width = {ln.id: ln.width_m for ln in hmap.lanes}
        self.keep_right = np.array([min(0.4 * width[i.removesuffix("~rev")], 15.0)
                                    if (i.endswith("~rev") or i + "~rev" in ids) else 0.0 for i in ids])

    def select(self, lane_ids: list[str] | None, map_name: str) -> np.ndarray:
        """Indices of the given lane ids (all lanes, both directions, when empty)."""
        if not lane_ids:
            return np.arange(len(self.ids))
        missing = [i for i in lane_ids if i not in self.ids]
        if missing:
            raise TrafficError(f"map {map_name!r}: unknown traffic lane(s) {missing}; known: {sorted(self.ids)}")
        return np.array([self.ids.index(i) for i in lane_ids])

    def nearest(self, x: float, y: float, psi: float) -> tuple[int, float]:
        """(lane index, along-track s) of the nearest lane running within 90 deg of heading ``psi``."""
        if not hasattr(self, "_segs"):
            self._segs = self._segments()
        p0x, p0y, dx, dy, l2, hd, s0, lane = self._segs
        t = np.clip(((x - p0x) * dx + (y - p0y) * dy) / l2, 0.0, 1.0)
        dist = np.hypot(p0x + t * dx - x, p0y + t * dy - y)
        dist = np.where(np.cos(hd - psi) > 0.0, dist, np.inf)
        m = int(np.argmin(dist))  # the first smallest: the lowest lane, then the first segment, as per lane
        if not dist[m] < math.inf:
            return 0, 0.0
        return int(lane[m]), float(s0[m] + t[m] * math.sqrt(l2[m]))

    def _segments(self) -> tuple:
        """Every lane's segments in lane order, for :meth:`nearest` (computed lane by lane as
        :meth:`_nearest_loop` does, so the values are the same)."""
        cols: list[list] = [[] for _ in range(8)]
        for k in range(len(self.ids)):
            a, b = self.start[k], self.start[k + 1]
            p0, p1 = self.xy[a:b - 1], self.xy[a + 1:b]
            d = p1 - p0
            l2 = np.maximum((d * d).sum(1), 1e-12)
            for c, v in zip(cols, (p0[:, 0], p0[:, 1], d[:, 0], d[:, 1], l2, np.arctan2(d[:, 0], d[:, 1]),
                                   self.s[a:b - 1], np.full(b - a - 1, k)), strict=True):  # fmt: skip
                c.append(v)
        return tuple(np.concatenate(c) for c in cols)

    def _nearest_loop(self, x: float, y: float, psi: float) -> tuple[int, float]:
        """:meth:`nearest` lane by lane (the reference the tests compare it with)."""
        best = (math.inf, 0, 0.0)
        for k in range(len(self.ids)):
            a, b = self.start[k], self.start[k + 1]
            p0, p1 = self.xy[a:b - 1], self.xy[a + 1:b]
            d = p1 - p0
            l2 = np.maximum((d * d).sum(1), 1e-12)
            t = np.clip(((x - p0[:, 0]) * d[:, 0] + (y - p0[:, 1]) * d[:, 1]) / l2, 0.0, 1.0)
            dist = np.hypot(p0[:, 0] + t * d[:, 0] - x, p0[:, 1] + t * d[:, 1] - y)
            heading_ok = np.cos(np.arctan2(d[:, 0], d[:, 1]) - psi) > 0.0
            dist = np.where(heading_ok, dist, np.inf)
            m = int(np.argmin(dist))
            if dist[m] < best[0]:
                best = (float(dist[m]), k, float(self.s[a + m] + t[m] * math.sqrt(l2[m])))
        return best[1], best[2]

    def point_at(self, lane: int, s: float) -> tuple[float, float, float]:
        """(x, y, heading) at along-track distance s on lane ``lane`` (python, reset time only)."""
        a, b = self.start[lane], self.start[lane + 1]
        xy, ss = self.xy[a:b], self.s[a:b]
        k = int(np.clip(np.searchsorted(ss, s) - 1, 0, len(ss) - 2))
        t = (s - ss[k]) / max(ss[k + 1] - ss[k], 1e-9)
        p = xy[k] + t * (xy[k + 1] - xy[k])
        d = xy[k + 1] - xy[k]
        return float(p[0]), float(p[1]), math.atan2(d[0], d[1])


class ScriptedTraffic:
    """T scripted vessels in each of E environments (flat index ``e * T + j``)."""

    def __init__(self, hmap, cfg, n_envs: int, dt: float) -> None:
        self.cfg = cfg
        self.E = n_envs
        self.n_agents = 1  # egos per env (set by the World; ego slot e * n_agents + k)
        self.T = int(cfg.count)
        self.dt = dt
        self.lanes = LaneTable(hmap)
        self.spawn_lanes = self.lanes.select(list(cfg.lanes), hmap.name)
        self.type_ids = [catalogue.get(t).id for t in cfg.vessel_types]
        vts = [catalogue.get(t) for t in self.type_ids]
        n = self.E * self.T
        proto = nomoto.NomotoBatch.from_params([vt.nomoto for vt in vts], [vt.limits for vt in vts])
        self._type_consts = proto.consts.copy()
        self._type_spr = np.array([vt.nomoto.speed_per_rev for vt in vts])
        self._type_len = np.array([vt.L_oa for vt in vts])
        self._type_beam = np.array([vt.B for vt in vts])
        self._type_rmax = np.array([vt.limits.rudder_max for vt in vts])
        self.batch = nomoto.NomotoBatch.from_params([vts[0].nomoto] * max(n, 1), [vts[0].limits] * max(n, 1))
        self.state = VesselState.zeros(n)
        self.lane = np.zeros(n, dtype=np.int64)
        self.seg = np.zeros(n, dtype=np.int64)
        self.u_target = np.zeros(n)
        self.active = np.zeros(n, dtype=np.uint8)
        self.type_index = np.zeros(n, dtype=np.int64)
        self.length = np.zeros(n)
        self.beam = np.zeros(n)
        self.speed_per_rev = np.ones(n)
        self.rudder_max = np.ones(n)
        self.rudder_cmd = np.zeros(n)
        self.revs_cmd = np.zeros(n)
        self.current = np.zeros((n, 2))
        self._vx = np.zeros(n)
        self._vy = np.zeros(n)
        # AIS replay (traffic.source == "ais"): per vessel 1 while it follows its recorded track
        self.mode = np.zeros(n, dtype=np.uint8)
        self.track_of = np.full(n, -1, dtype=np.int64)
        self.cursor = np.zeros(n, dtype=np.int64)
        self.handed = np.zeros(n, dtype=np.uint8)
        self.live_mmsi = np.zeros(n, dtype=np.int64)
        self.replay_t0 = np.zeros(n_envs)
        self.replay = None
        self.hmap = hmap
        # rule zones (set_rules); one land row and no masks: the rules are off
        self.zbits = np.zeros(1, dtype=np.int64)
        self.zmasks = np.zeros(10, dtype=np.int64)
        self.zp = np.zeros(6)
        if cfg.source == "ais" and self.T:
            from testbed.ais.replay import load_replay

            self.replay = load_replay(cfg.ais_file, hmap)
            self._replay_types = {t: k for k, t in enumerate(self.type_ids)}

    # -- reset ---------------------------------------------------------------------------------------
    def reset_env(self, e: int, rng: np.random.Generator, ego_xy: np.ndarray, ego_clear_m: float = 400.0,
                  mapk=None, goal_xy: np.ndarray | None = None) -> None:
        """Place env ``e``'s vessels on the lanes (uniform along the lanes, at least ``min_gap_m``
        apart on a lane and ``ego_clear_m`` from the ego's start)."""
        T = self.T
        if T == 0:
            return
        if self.replay is not None:
            self._reset_replay(e, rng, ego_xy, ego_clear_m, mapk, goal_xy)
            return
        lt = self.lanes
        w = lt.length[self.spawn_lanes] / lt.length[self.spawn_lanes].sum()
        sl = slice(e * T, (e + 1) * T)
        placed: list[tuple[int, float, float, float]] = []  # lane, s, x, y
        for j in range(T):
            i = e * T + j
            k = int(rng.integers(len(self.type_ids)))
            self._assign_type(i, k)
            self.u_target[i] = rng.uniform(*self.cfg.speed_ms)
            ok = False
            for _ in range(50):
                lane = int(self.spawn_lanes[rng.choice(len(w), p=w)])
                s = rng.uniform(0.0, max(lt.length[lane] - self.length[i], 1.0))
                x, y, psi = lt.point_at(lane, s)
                if _near_egos(ego_xy, x, y, ego_clear_m):
                    continue
                if any(math.hypot(x - px, y - py) < self.cfg.min_gap_m + self.length[i] for _, _, px, py in placed):
                    continue
                ok = True
                break
            if ok:
                placed.append((lane, s, x, y))
                self.lane[i] = lane
                self.seg[i] = int(np.clip(np.searchsorted(lt.s[lt.start[lane]:lt.start[lane + 1]], s) - 1, 0, None))
                self._set_pose(i, x, y, psi, self.u_target[i])
                self.active[i] = 1
            else:  # no room: stays inactive until its lane start is clear
                self.lane[i] = lane
                self.seg[i] = 0
                self._set_pose(i, 1e9, 1e9, 0.0, 0.0)
                self.active[i] = 0
        if self.cfg.placed_lanes:
            self._place_fixed(e)
        if self.zbits.shape[0] > 1:  # start within the § 6.20 limit where it applies
            st0 = self.state
            z = self._zone_table_bits(st0.x[sl], st0.y[sl])
            slow = (z & (self.zmasks[M_MOUTH] | self.zmasks[M_BERTH] | self.zmasks[M_NARROW])) != 0
            st0.u[sl] = np.where(slow, np.minimum(st0.u[sl], self.zp[ZP_LIM_MOUTH]), st0.u[sl])
            gate = (z & (self.zmasks[M_MOUTH] | self.zmasks[M_ENTRY])) != 0  # start from rest (§ 6.16)
            st0.u[sl] = np.where(gate, 0.0, st0.u[sl])
            st0.n[sl] = st0.u[sl] / self.speed_per_rev[sl]
        st = self._clear_motion(sl)
        if mapk is not None:  # the current at the new positions (perception uses ground velocities)
            current_xy_batch(*mapk, st.x[sl], st.y[sl], self.current[sl])

    def _zone_table_bits(self, x, y):
        from testbed.rules.zones import bits_at

        return bits_at(self._zones, self.hmap, x, y)

    def set_rules(self, zones, rules_cfg) -> None:
        """Make the scripted vessels obey the traffic rules on ``zones`` (a :class:`testbed.rules.zones.ZoneTable`)."""
        self._zones = zones
        self.zbits = zones.cell_bits
        self.zmasks = zones.masks
        lvl = rules_cfg.water_level_m
        marks = zones.gauge_marks
        high = not math.isnan(lvl) and bool(marks) and lvl >= marks[0]
        stop = high and len(marks) > 1 and lvl >= marks[1]
        self.zp = np.array([rules_cfg.harbour_mouth_speed_kmh / 3.6 - 0.3, rules_cfg.high_water_speed_kmh / 3.6 - 0.3,
                            1.0 if high else 0.0, 1.0 if stop else 0.0, rules_cfg.harbour_cpa_m + 30.0,
                            rules_cfg.harbour_tcpa_s + 30.0])  # fmt: skip

    def _place_fixed(self, e: int) -> None:
        """The first ``len(cfg.placed_lanes)`` vessels of env ``e`` at their fixed places (encounters)."""
        cfg, lt = self.cfg, self.lanes
        for j, lane_id in enumerate(cfg.placed_lanes):
            i = e * self.T + j
            lane = int(lt.select([lane_id], self.hmap.name)[0])
            if cfg.placed_km:
                s = self._s_at_km(lane_id, float(cfg.placed_km[j]))
            else:
                s = float(cfg.placed_along_m[j])
            s = min(max(s, 0.0), lt.length[lane] - 1.0)
            k = self.type_ids.index(catalogue.get(cfg.placed_types[j]).id) if cfg.placed_types else 0
            self._assign_type(i, k)
            self.u_target[i] = float(cfg.placed_speed_ms[j])
            x, y, psi = lt.point_at(lane, s)
            self.lane[i] = lane
            self.seg[i] = int(np.clip(np.searchsorted(lt.s[lt.start[lane]:lt.start[lane + 1]], s) - 1, 0, None))
            self._set_pose(i, x, y, psi, self.u_target[i])
            self.active[i] = 1

    def _s_at_km(self, lane_id: str, km: float) -> float:
        base = lane_id.removesuffix("~rev")
        ln = next(ln for ln in self.hmap.lanes if ln.id == base)
        if ln.km is None:
            raise TrafficError(f"map {self.hmap.name!r}: lane {base!r} has no river-km; use traffic.placed_along_m")
        km_arr = np.asarray(ln.km, dtype=float)
        order = np.argsort(km_arr)
        s = float(np.interp(km, km_arr[order], ln.s[order]))
        return ln.s[-1] - s if lane_id.endswith("~rev") else s

    def _reset_replay(self, e: int, rng: np.random.Generator, ego_xy, ego_clear_m: float, mapk,
                      goal_xy=None, goal_clear_m: float = 150.0) -> None:
        """Env ``e`` replays up to T recorded tracks from a start time in the recording. Tracks that come
        within ``goal_clear_m`` of the ego's goal during the episode are left out (a recorded vessel
        moored at the goal berth would make the task impossible), and so are tracks within
        ``ego_clear_m`` of the ego's start during the first minute (no episode starts in a collision)."""
        from vessels import catalogue

        pk = self.replay
        T = self.T
        t0, t1 = pk.span()
        cfg = self.cfg
        horizon = 3600.0 * cfg.ais_speedup
        if math.isnan(cfg.ais_start_s):
            start = t0 + rng.uniform(0.0, max(t1 - t0 - horizon, 0.0))
        else:
            start = t0 + cfg.ais_start_s
        self.replay_t0[e] = start
        first = pk.t[pk.start[:-1]]
        last = pk.t[pk.start[1:] - 1]
        live = np.flatnonzero((last >= start) & (first <= start + horizon))
        if len(live):  # per live track: its smallest distance to a goal / ego start within the window
            pts = np.empty((0, 2)) if goal_xy is None else np.reshape(np.asarray(goal_xy, dtype=np.float64), (-1, 2))
            drop = _tracks_near(pk.t, pk.x, pk.y, pk.start, live, start, start + horizon, pts, goal_clear_m)
            drop |= _tracks_near(pk.t, pk.x, pk.y, pk.start, live, start - 30.0, start + 60.0 * cfg.ais_speedup,
                                 np.reshape(np.asarray(ego_xy, dtype=np.float64), (-1, 2)), ego_clear_m)  # fmt: skip
            live = live[~drop].astype(np.int64)
        # tracks live at the start first (nearest first), then those that appear later (earliest first)
        order = live[np.lexsort((live, first[live], first[live] > start))]
        chosen = order[:T]
        sl = slice(e * T, (e + 1) * T)
        self.mode[sl] = 0
        self.active[sl] = 0
        self.track_of[sl] = -1
        self.handed[sl] = 0
        for j, k in enumerate(chosen):
            i = e * T + j
            tid = pk.type_ids[k]
            if tid not in self._replay_types:  # a type outside the scripted list: add its constants
                vt = catalogue.get(tid)
                proto = nomoto.NomotoBatch.from_params([vt.nomoto], [vt.limits])
                self._replay_types[tid] = len(self.type_ids)
                self.type_ids.append(tid)
                self._type_consts = np.vstack([self._type_consts, proto.consts])
                self._type_spr = np.append(self._type_spr, vt.nomoto.speed_per_rev)
                self._type_len = np.append(self._type_len, vt.L_oa)
                self._type_beam = np.append(self._type_beam, vt.B)
                self._type_rmax = np.append(self._type_rmax, vt.limits.rudder_max)
            self._assign_type(i, self._replay_types[tid])
            self.length[i] = pk.length[k]
            self.beam[i] = pk.beam[k]
            self.mode[i] = 1
            self.track_of[i] = k
            self.cursor[i] = pk.start[k]
        self._clear_motion(sl)
        self.current[sl] = 0.0
        self._replay_step(e, e + 1, np.zeros(self.E), None)

    def _replay_step(self, e0: int, e1: int, t_sim: np.ndarray, ego) -> None:
        from testbed.ais.replay import replay_kernel

        pk = self.replay
        st = self.state
        T = self.T
        sl = slice(e0 * T, e1 * T)
        E = e1 - e0
        if ego is None:  # at reset: nothing to react to
            z = np.zeros(E)
            ex = ey = epsi = eu = ev = z
            ecur = np.zeros((E, 2))
            reactive = False
        else:
            ex, ey, epsi, eu, ev, ecur = ego
            reactive = self.cfg.reactive
        replay_kernel(
            E, T, t_sim[e0:e1], self.replay_t0[e0:e1], float(self.cfg.ais_speedup), self.track_of[sl],
            self.cursor[sl], pk.t, pk.x, pk.y, pk.vx, pk.vy, pk.psi, pk.start, self.mode[sl], st.x[sl], st.y[sl],
            st.psi[sl], st.u[sl], self.active[sl], self.current[sl], ex, ey, epsi, eu, ev, ecur, reactive,
            float(self.cfg.handover_cpa_m), float(self.cfg.handover_tcpa_s), self.handed[sl],
        )  # fmt: skip

    def _take_over(self) -> None:
        """Replayed vessels just handed over: join the nearest lane at their current speed."""
        idx = np.flatnonzero(self.handed == 1)
        if not idx.size:
            return
        st = self.state
        for i in idx:
            k, s = self.lanes.nearest(float(st.x[i]), float(st.y[i]), float(st.psi[i]))
            a, b = self.lanes.start[k], self.lanes.start[k + 1]
            self.lane[i] = k
            self.seg[i] = int(np.clip(np.searchsorted(self.lanes.s[a:b], s) - 1, 0, b - a - 2))
            self.u_target[i] = max(float(st.u[i]), 1.0)
            st.n[i] = st.u[i] / self.speed_per_rev[i]
            self.current[i] = 0.0
            self.handed[i] = 2

    def _clear_motion(self, sl: slice) -> VesselState:
        """Zero the turn, sway, rudder and commands of the vessels in ``sl`` (at reset)."""
        st = self.state
        st.r[sl] = 0.0
        st.v[sl] = 0.0
        st.delta[sl] = 0.0
        self.rudder_cmd[sl] = 0.0
        self.revs_cmd[sl] = 0.0
        return st

    def _assign_type(self, i: int, k: int) -> None:
        self.type_index[i] = k
        self.batch.consts[i] = self._type_consts[k]
        self.speed_per_rev[i] = self._type_spr[k]
        self.length[i] = self._type_len[k]
        self.beam[i] = self._type_beam[k]
        self.rudder_max[i] = self._type_rmax[k]

    def _set_pose(self, i: int, x: float, y: float, psi: float, u: float) -> None:
        st = self.state
        st.x[i], st.y[i], st.psi[i], st.u[i] = x, y, psi, u
        st.n[i] = u / self.speed_per_rev[i]

    # -- step ----------------------------------------------------------------------------------------
    def step(self, hmap_kernels, ego: VesselState, ego_len: np.ndarray, ego_beam: np.ndarray,
             ego_cur: np.ndarray, t_next: np.ndarray | None = None, ego_active: np.ndarray | None = None) -> None:  # fmt: skip
        """Commands for every traffic vessel, then one Nomoto step (``hmap_kernels`` = (geo, widx,
        cfield, creach, speeds) for the current lookup)."""
        if self.T == 0:
            return
        geo, widx, cfield, creach, speeds = hmap_kernels
        st = self.state
        KA = self.n_agents  # egos per env (slot e * KA + k)
        eact = np.ones(len(ego.x), dtype=np.uint8) if ego_active is None else ego_active
        control_kernel(
            self.E, self.T, self.lanes.xy, self.lanes.s, self.lanes.start, self.lanes.length,
            st.x, st.y, st.psi, st.u, st.r, self.lane, self.seg, self.u_target, self.active, self.length,
            self.beam, self.speed_per_rev, self.rudder_max, ego.x, ego.y, ego.psi, ego.u, ego.v, ego_cur,
            ego_len, ego_beam, self.cfg.keep_clear_m, self.cfg.min_gap_m, self.rudder_cmd, self.revs_cmd,
            geo, widx, cfield, creach, speeds, self.current, self._vx, self._vy, self.mode, self.zbits, self.zmasks,
            self.zp, self.lanes.keep_right, KA, eact,
        )  # fmt: skip
        nomoto.step_inplace(self.batch, st, self.rudder_cmd, self.revs_cmd, self.current, self.dt)
        if self.replay is not None:
            if KA == 1:
                self._replay_step(0, self.E, t_next, (ego.x, ego.y, ego.psi, ego.u, ego.v, ego_cur))
            else:  # one pass per agent slot: placement is idempotent, each ego may trigger a handover
                for k in range(KA):
                    self._replay_step(0, self.E, t_next, (ego.x[k::KA], ego.y[k::KA], ego.psi[k::KA],
                                                          ego.u[k::KA], ego.v[k::KA], ego_cur[k::KA]))  # fmt: skip
            self._take_over()


def _near_egos(ego_xy, x: float, y: float, clear: float) -> bool:
    """Whether (x, y) is within ``clear`` of the ego start ``ego_xy`` (2,) or of any of several (K, 2)."""
    if np.ndim(ego_xy) == 1:
        return math.hypot(x - ego_xy[0], y - ego_xy[1]) < clear
    return any(math.hypot(x - p[0], y - p[1]) < clear for p in ego_xy)


def _min_dist(xs: np.ndarray, ys: np.ndarray, p) -> float:
    """The smallest distance from the points (xs, ys) to ``p``; inf without points."""
    d = np.hypot(xs - p[0], ys - p[1])
    return float(d.min()) if d.size else math.inf


@numba.njit(cache=True)
def _tracks_near(pt, px, py, pstart, live, lo, hi, pts, clear):
    """Per track ``live[q]``: whether :func:`_min_dist` of its samples with ``lo <= t <= hi`` to any of the
    points ``pts`` (P, 2) is ``<= clear`` (a NaN distance in the window makes that minimum NaN: not near,
    as ``ndarray.min``). Only samples within ``clear`` on both axes can be that close (hypot is never
    below either leg), so the distance is computed for those alone."""
    out = np.zeros(len(live), dtype=np.bool_)
    for q in range(len(live)):
        k = live[q]
        for g in range(pts.shape[0]):
            near = False
            nan = False
            for s in range(pstart[k], pstart[k + 1]):
                if not (pt[s] >= lo and pt[s] <= hi):
                    continue
                dx = px[s] - pts[g, 0]
                dy = py[s] - pts[g, 1]
                if dx != dx or dy != dy:
                    d = math.hypot(dx, dy)
                    if d != d:
                        nan = True
                        break
                    continue
                if abs(dx) > clear or abs(dy) > clear:
                    continue
                if math.hypot(dx, dy) <= clear:
                    near = True
            if near and not nan:
                out[q] = True
                break
    return out


@numba.njit(cache=True)
def _wrap(a):
    return (a + math.pi) % (2.0 * math.pi) - math.pi


@numba.njit(cache=True)
def _rule_speed(e, T, i, x, y, psi, sh, ch, length, active, cur, vx, vy, ex, ey, epsi, eu, ev, ecur, elen, geo, widx,
                zbits, zmasks, zp, v_des, KA, eact):  # fmt: skip
    """The speed the traffic rules allow vessel i (see the module docstring)."""
    la = max(2.5 * length[i], 150.0)
    z_here = zbits[widx[cell_index(geo, x[i], y[i])]]
    z_ahead = zbits[widx[cell_index(geo, x[i] + la * sh, y[i] + la * ch)]]
    z_far = zbits[widx[cell_index(geo, x[i] + 2.0 * la * sh, y[i] + 2.0 * la * ch)]]
    zz = z_here | z_ahead
    if (zz | z_far) & (zmasks[M_MOUTH] | zmasks[M_BERTH] | zmasks[M_NARROW]) != 0:  # § 6.20 (in time; in basins)
        v_des = min(v_des, zp[ZP_LIM_MOUTH])
    if zp[ZP_HIGH] > 0.5 and zz & zmasks[M_HIGHWATER] != 0:  # § 10.01
        if zp[ZP_STOP] > 0.5:
            v_des = 0.0
        else:
            v_des = min(v_des, max(zp[ZP_LIM_HW] - (cur[i, 0] * sh + cur[i, 1] * ch), 0.0))
    # § 6.16: leaving, entering or crossing at a harbour mouth: wait for the through traffic
    m_gate = zmasks[M_MOUTH] | zmasks[M_ENTRY]
    if z_here & m_gate == 0:
        return v_des
    fl = math.hypot(cur[i, 0], cur[i, 1])
    c_up = (sh * cur[i, 0] + ch * cur[i, 1]) / fl if fl > 0.05 else 0.0
    if abs(c_up) >= 0.7 and z_here & zmasks[M_ENTRY] == 0:
        return v_des  # sailing along the river: a through vessel itself
    m_side = zmasks[M_ENTRY] | zmasks[M_NARROW]
    # the conflict is judged at the speed it would go (not the speed it has while waiting), so that it
    # does not start off into a conflict and stop again
    ui = max(math.hypot(vx[i], vy[i]), v_des, 1.0)
    gx = ui * sh + cur[i, 0]
    gy = ui * ch + cur[i, 1]
    for k in range(T + KA):
        if k >= T:  # an ego
            me = e * KA + k - T
            if eact[me] == 0:
                continue
            ox = ex[me]
            oy = ey[me]
            olen = elen[me]
            s = math.sin(epsi[me])
            c = math.cos(epsi[me])
            ovx = eu[me] * s + ev[me] * c + ecur[me, 0]
            ovy = eu[me] * c - ev[me] * s + ecur[me, 1]
            ocx = ecur[me, 0]
            ocy = ecur[me, 1]
            opsi = epsi[me]
        else:
            m = e * T + k
            if m == i or active[m] == 0:
                continue
            ox = x[m]
            oy = y[m]
            olen = length[m]
            ovx = vx[m] + cur[m, 0]
            ovy = vy[m] + cur[m, 1]
            ocx = cur[m, 0]
            ocy = cur[m, 1]
            opsi = psi[m]
        rx = ox - x[i]
        ry = oy - y[i]
        dvx = ovx - gx
        dvy = ovy - gy
        dv2 = dvx * dvx + dvy * dvy
        if dv2 < 1e-6:
            continue
        tcpa = -(rx * dvx + ry * dvy) / dv2
        if not 0.0 < tcpa < zp[ZP_CROSS_TCPA]:
            continue
        if math.hypot(rx + dvx * tcpa, ry + dvy * tcpa) >= 0.5 * (length[i] + olen) + zp[ZP_CROSS_CPA]:
            continue
        if zbits[widx[cell_index(geo, ox, oy)]] & m_side != 0:
            continue
        ofl = math.hypot(ocx, ocy)
        if ofl > 0.05 and abs((math.sin(opsi) * ocx + math.cos(opsi) * ocy) / ofl) >= 0.7:
            return 0.0  # a through vessel would come too close: wait
    return v_des


@numba.njit(cache=True)
def control_kernel(E, T, lxy, ls, lstart, llen, x, y, psi, u, r, lane, seg, u_tgt, active, length, beam, spr,
                   rmax, ex, ey, epsi, eu, ev, ecur, elen, ebeam, keep_clear, min_gap, rud_out, rev_out,
                   geo, widx, cfield, creach, speeds, cur_out, vx, vy, mode, zbits, zmasks, zp, keep_right, KA, eact):  # fmt: skip
    for e in range(E):
        for j in range(T):
            i = e * T + j
            vx[i] = u[i] * math.sin(psi[i])
            vy[i] = u[i] * math.cos(psi[i])
        for j in range(T):
            i = e * T + j
            if mode[i] != 0:  # replayed from AIS (1) or from a live feed (2): positioned after the step
                rud_out[i] = 0.0
                rev_out[i] = 0.0
                continue
            ln = lane[i]
            a = lstart[ln]
            b = lstart[ln + 1]
            if active[i] == 0:
                # re-enter at the lane start when it is clear
                sx = lxy[a, 0]
                sy = lxy[a, 1]
                clear = True
                for ka in range(KA):
                    me = e * KA + ka
                    if eact[me] != 0 and math.hypot(sx - ex[me], sy - ey[me]) <= min_gap + elen[me]:
                        clear = False
                for k in range(T):
                    m = e * T + k
                    if m != i and active[m] == 1 and math.hypot(sx - x[m], sy - y[m]) < min_gap + length[m]:
                        clear = False
                if clear:
                    x[i] = sx
                    y[i] = sy
                    psi[i] = math.atan2(lxy[a + 1, 0] - sx, lxy[a + 1, 1] - sy)
                    u[i] = u_tgt[i]
                    if zbits.shape[0] > 1:
                        zs = zbits[widx[cell_index(geo, sx, sy)]]
                        if zs & (zmasks[M_MOUTH] | zmasks[M_BERTH] | zmasks[M_NARROW]) != 0:
                            u[i] = min(u[i], zp[ZP_LIM_MOUTH])
                        if zs & (zmasks[M_MOUTH] | zmasks[M_ENTRY]) != 0:
                            u[i] = 0.0  # at a harbour mouth: start from rest, go when the way is clear (§ 6.16)
                    r[i] = 0.0
                    seg[i] = 0
                    active[i] = 1
                else:
                    rud_out[i] = 0.0
                    rev_out[i] = 0.0
                    cur_out[i, 0] = 0.0
                    cur_out[i, 1] = 0.0
                    u[i] = 0.0
                    continue
            # projection on the lane, advancing the segment index
            k = a + seg[i]
            while True:
                dx = lxy[k + 1, 0] - lxy[k, 0]
                dy = lxy[k + 1, 1] - lxy[k, 1]
                l2 = dx * dx + dy * dy
                t = ((x[i] - lxy[k, 0]) * dx + (y[i] - lxy[k, 1]) * dy) / max(l2, 1e-12)
                if t > 1.0 and k + 2 < b:
                    k += 1
                    continue
                break
            seg[i] = k - a
            t = min(max(t, 0.0), 1.0)
            s_here = ls[k] + t * math.sqrt(l2)
            if s_here > llen[ln] - 0.5 * length[i] - 5.0:
                active[i] = 0  # lane end: re-enter at the start when clear
                x[i] = 1e9
                y[i] = 1e9
                u[i] = 0.0
                rud_out[i] = 0.0
                rev_out[i] = 0.0
                cur_out[i, 0] = 0.0
                cur_out[i, 1] = 0.0
                continue
            # line-of-sight target
            s_t = min(s_here + max(2.5 * length[i], 150.0), llen[ln])
            kk = k
            while kk + 2 < b and ls[kk + 1] < s_t:
                kk += 1
            tt = (s_t - ls[kk]) / max(ls[kk + 1] - ls[kk], 1e-9)
            tx = lxy[kk, 0] + tt * (lxy[kk + 1, 0] - lxy[kk, 0])
            ty = lxy[kk, 1] + tt * (lxy[kk + 1, 1] - lxy[kk, 1])
            if keep_right[ln] > 0.0:  # two-way lane: keep to starboard of the line
                sdx = lxy[kk + 1, 0] - lxy[kk, 0]
                sdy = lxy[kk + 1, 1] - lxy[kk, 1]
                sl = max(math.sqrt(sdx * sdx + sdy * sdy), 1e-9)
                tx += keep_right[ln] * sdy / sl
                ty -= keep_right[ln] * sdx / sl
            err = _wrap(math.atan2(tx - x[i], ty - y[i]) - psi[i])
            rud = 1.5 * err - 20.0 * r[i]
            rud_out[i] = min(max(rud, -rmax[i]), rmax[i])
            # speed keeping and giving way
            sh = math.sin(psi[i])
            ch = math.cos(psi[i])
            ui = u[i]
            v_des = u_tgt[i]
            for kk2 in range(T + KA):
                me = e * KA + kk2 - T  # the ego slot (kk2 >= T)
                if kk2 >= T:  # an ego
                    if eact[me] == 0:
                        continue
                    ox, oy, olen, obeam, is_ego = ex[me], ey[me], elen[me], ebeam[me], True
                    ovx = eu[me] * math.sin(epsi[me]) + ev[me] * math.cos(epsi[me]) + ecur[me, 0]
                    ovy = eu[me] * math.cos(epsi[me]) - ev[me] * math.sin(epsi[me]) + ecur[me, 1]
                else:
                    m = e * T + kk2
                    if m == i or active[m] == 0:
                        continue
                    ox, oy, olen, obeam, is_ego = x[m], y[m], length[m], beam[m], False
                    ovx = vx[m]
                    ovy = vy[m]
                rx = ox - x[i]
                ry = oy - y[i]
                reach = 0.5 * (length[i] + olen) + keep_clear + 120.0 * (ui + 5.0)
                if rx * rx + ry * ry > reach * reach:
                    continue
                along = rx * sh + ry * ch
                lat = rx * ch - ry * sh
                half = 0.5 * (beam[i] + obeam) + 25.0
                if along > 0.0 and abs(lat) < half:
                    gap = along - 0.5 * (length[i] + olen)
                    # the other's speed along my heading, relative to the water I move in (u is
                    # through the water: a vessel drifting with the current is "stopped" for me)
                    o_along = ovx * sh + ovy * ch - (cur_out[i, 0] * sh + cur_out[i, 1] * ch)
                    margin = max(gap - keep_clear, 0.0)
                    # the speed from which the vessel can still stop in the margin (assuming 0.015 m/s^2
                    # astern deceleration), and never more than closing the margin in 40 s
                    allowed = min(margin / 40.0, math.sqrt(2.0 * 0.015 * margin)) + max(o_along, 0.0)
                    if gap < keep_clear:
                        allowed = 0.0
                    v_des = min(v_des, allowed)
                # crossing / ego encounter: CPA within a ship length in the next 120 s
                dvx = ovx - ui * sh
                dvy = ovy - ui * ch
                dv2 = dvx * dvx + dvy * dvy
                if dv2 > 1e-6:
                    tcpa = -(rx * dvx + ry * dvy) / dv2
                    if 0.0 < tcpa < 120.0:
                        cx = rx + dvx * tcpa
                        cy = ry + dvy * tcpa
                        if math.sqrt(cx * cx + cy * cy) < 0.5 * (length[i] + olen) + 20.0 and (is_ego or lat > 0.0):
                            if along > -0.5 * length[i]:
                                # the ego has right of way over scripted traffic: when crossing its track
                                # (headings more than 45 deg apart) stop short of it; in meeting or
                                # overtaking situations, and for a crossing vessel on the starboard
                                # side, slow to a quarter
                                crossing = is_ego and abs(math.cos(epsi[me] - psi[i])) < 0.7071
                                v_des = min(v_des, 0.0 if (is_ego and crossing) else 0.25 * u_tgt[i])
            if zbits.shape[0] > 1:
                v_des = _rule_speed(e, T, i, x, y, psi, sh, ch, length, active, cur_out, vx, vy, ex, ey, epsi, eu, ev, ecur,
                                    elen, geo, widx, zbits, zmasks, zp, v_des, KA, eact)
            # proportional speed control: astern revs when faster than wanted (clipped by the actuator)
            rev_out[i] = (v_des + 4.0 * (v_des - ui)) / spr[i]
            ce, cn = current_at(geo, widx, cfield, creach, speeds, x[i], y[i])
            cur_out[i, 0] = ce
            cur_out[i, 1] = cn
