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
- **Handed-over AIS vessels** (``traffic.source == "ais"``, :meth:`ScriptedTraffic._take_over`): join the
  nearest lane at their speed through the water (at least ``speed_ms[0]``); small craft keep their
  bank-side offset from the lane line and slow for larger vessels (§ 6.02, :func:`_small_speed`); at
  their lane's end they leave for good. Replayed vessels carry their speed through the water and the
  current separately (:func:`_through_water`), as the rule checker reads them.
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
# high water on (1/0), navigation stopped (1/0), § 6.16 clearance beyond the half lengths, time window, § 1.01
# small-craft length, § 6.02 clearance beyond the half lengths and time window
ZP_LIM_MOUTH, ZP_LIM_HW, ZP_HIGH, ZP_STOP, ZP_CROSS_CPA, ZP_CROSS_TCPA, ZP_SMALL_M, ZP_SMALL_CPA, ZP_SMALL_TCPA = range(9)
N_ZP = 9
SMALL_OFFSET_M = 110.0  # a handed-over small craft keeps up to this far to starboard of its lane (the synthesiser's)


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
            xy = _without_hairpins(np.asarray(ln.xy, dtype=np.float64))
            ids.append(ln.id)
            xys.append(xy)
            if ln.direction == "both":
                ids.append(ln.id + "~rev")
                xys.append(xy[::-1])
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
        """(lane index, along-track s) of the lane to join at (x, y) heading ``psi``: the nearest segment
        running within 90 deg of the heading, each degree off the heading counting as 4 m (a vessel sailing
        along the river joins the river lane, not a harbour lane that starts beside it). One vectorised
        pass over every lane's segments; :meth:`_nearest_loop` is the lane-by-lane reference."""
        if not hasattr(self, "_segs"):
            self._segs = self._segments()
        p0x, p0y, dx, dy, l2, hd, s0, lane = self._segs
        t = np.clip(((x - p0x) * dx + (y - p0y) * dy) / l2, 0.0, 1.0)
        dist = np.hypot(p0x + t * dx - x, p0y + t * dy - y)
        off = np.abs((hd - psi + np.pi) % (2.0 * np.pi) - np.pi)
        dist = np.where(off < 0.5 * np.pi, dist + 4.0 * np.degrees(off), np.inf)
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
            off = np.abs((np.arctan2(d[:, 0], d[:, 1]) - psi + np.pi) % (2.0 * np.pi) - np.pi)
            dist = np.where(off < 0.5 * np.pi, dist + 4.0 * np.degrees(off), np.inf)
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
        self._s_lane = np.zeros(n)
        self.offset = np.zeros(n)  # per vessel: keep this far to starboard of the lane line (handed small craft)
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
        self.zp = np.zeros(N_ZP)
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
        self.offset[sl] = 0.0
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
                if self._in_mouth(x, y, psi):  # not across a harbour mouth (§ 6.16: it would have waited)
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
        if self.zbits.shape[0] > 1:  # start within the § 6.20 limit where it applies or is reached soon
            st0 = self.state
            z = self._zone_table_bits(st0.x[sl], st0.y[sl])
            for j in np.flatnonzero(self.active[sl]):  # the zones ahead along the lane, as the kernel looks
                i = e * T + j
                la = max(2.5 * self.length[i], 150.0)
                b = lt.start[self.lane[i] + 1]
                s0 = self._s_of(i)
                for d in (25.0, 50.0, 100.0, 0.5 * la, la, 1.5 * la, 2.0 * la, 3.0 * la):
                    x, y, _ = lt.point_at(self.lane[i], min(s0 + d, float(lt.s[b - 1])))
                    z[j] |= self._zone_table_bits(np.array([x]), np.array([y]))[0]
            slow = (z & (self.zmasks[M_MOUTH] | self.zmasks[M_BERTH] | self.zmasks[M_NARROW])) != 0
            slow |= (z & self.zmasks[M_ENTRY]) != 0
            st0.u[sl] = np.where(slow, np.minimum(st0.u[sl], self.zp[ZP_LIM_MOUTH]), st0.u[sl])
            st0.n[sl] = st0.u[sl] / self.speed_per_rev[sl]
        st = self._clear_motion(sl)
        if mapk is not None:  # the current at the new positions (perception uses ground velocities)
            current_xy_batch(*mapk, st.x[sl], st.y[sl], self.current[sl])

    def _s_of(self, i: int) -> float:
        """Along-lane position of vessel i (reset time)."""
        lt = self.lanes
        a, b = lt.start[self.lane[i]], lt.start[self.lane[i] + 1]
        p = np.array([self.state.x[i], self.state.y[i]])
        p0, d = lt.xy[a:b - 1], np.diff(lt.xy[a:b], axis=0)
        t = np.clip(((p - p0) * d).sum(1) / np.maximum((d * d).sum(1), 1e-12), 0.0, 1.0)
        dist = np.hypot(*(p0 + t[:, None] * d - p).T)
        m = int(np.argmin(dist))
        return float(lt.s[a + m] + t[m] * math.hypot(*d[m]))

    def _in_mouth(self, x: float, y: float, psi: float) -> bool:
        """Whether a vessel at (x, y) heading ``psi`` would be leaving, entering or crossing at a harbour
        mouth (reset time; False while the rules are off)."""
        if self.zbits.shape[0] <= 1:
            return False
        z = int(self._zone_table_bits(np.array([x]), np.array([y]))[0])
        c = self.hmap.current(np.array([[x, y]]))[0]
        fl = math.hypot(c[0], c[1])
        c_up = (math.sin(psi) * c[0] + math.cos(psi) * c[1]) / fl if fl > 0.05 else 0.0
        return bool(_crossing(z, c_up, self.zmasks))

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
                            1.0 if high else 0.0, 1.0 if stop else 0.0, rules_cfg.harbour_cpa_m + 80.0,
                            rules_cfg.harbour_tcpa_s + 60.0, rules_cfg.small_craft_m, rules_cfg.small_craft_cpa_m + 15.0,
                            rules_cfg.small_craft_tcpa_s + 20.0])  # fmt: skip

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
        self.offset[sl] = 0.0
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
        self._replay_step(e, e + 1, np.zeros(self.E), None, mapk)

    def _replay_step(self, e0: int, e1: int, t_sim: np.ndarray, ego, mapk=None) -> None:
        """Place the replayed vessels of envs e0..e1 at their recorded positions; with ``ego`` = (x, y, psi,
        u, v, current, length, active) of the egos (E * n_agents each; None at reset: nothing to react to)
        and ``cfg.reactive``, hand over those about to come near an ego. With ``mapk`` (the map kernels'
        current lookup) their recorded ground velocity is split into the speed through the water along
        the heading and the current plus drift (:func:`_through_water`), as the rule checker reads them."""
        from testbed.ais.replay import handover_kernel, replay_kernel

        pk = self.replay
        st = self.state
        T = self.T
        sl = slice(e0 * T, e1 * T)
        E = e1 - e0
        replay_kernel(
            E, T, t_sim[e0:e1], self.replay_t0[e0:e1], float(self.cfg.ais_speedup), self.track_of[sl],
            self.cursor[sl], pk.t, pk.x, pk.y, pk.vx, pk.vy, pk.psi, pk.start, self.mode[sl], st.x[sl], st.y[sl],
            st.psi[sl], st.u[sl], self.active[sl], self.current[sl],
        )  # fmt: skip
        if mapk is not None:
            _through_water(st.x[sl], st.y[sl], st.psi[sl], st.u[sl], self.current[sl], self.mode[sl], self.active[sl],
                           *mapk)  # fmt: skip
        if ego is not None and self.cfg.reactive:
            ex, ey, epsi, eu, ev, ecur, elen, eact = ego
            handover_kernel(E, T, self.n_agents, st.x[sl], st.y[sl], st.psi[sl], st.u[sl], self.current[sl],
                            self.length[sl], self.active[sl], self.mode[sl], ex, ey, epsi, eu, ev, ecur, elen, eact,
                            float(self.cfg.handover_cpa_m), float(self.cfg.handover_tcpa_s), self.handed[sl])  # fmt: skip

    def _take_over(self, hmap_kernels) -> None:
        """Replayed vessels just handed over: join the nearest lane, at their speed through the water (the
        recorded ground velocity less the current here; at least the lower end of ``cfg.speed_ms``, so
        that a vessel handed over at rest or slow against the current gets under way)."""
        idx = np.flatnonzero(self.handed == 1)
        if not idx.size:
            return
        st = self.state
        sn, cs = np.sin(st.psi[idx]), np.cos(st.psi[idx])
        c = np.zeros((idx.size, 2))
        current_xy_batch(*hmap_kernels, st.x[idx], st.y[idx], c)
        gx = st.u[idx] * sn + self.current[idx, 0]  # the recorded ground velocity
        gy = st.u[idx] * cs + self.current[idx, 1]
        stw = np.maximum((gx - c[:, 0]) * sn + (gy - c[:, 1]) * cs, 0.0)
        st.u[idx] = stw
        st.n[idx] = stw / self.speed_per_rev[idx]
        self.u_target[idx] = np.maximum(stw, float(self.cfg.speed_ms[0]))
        self.current[idx] = c
        self.handed[idx] = 2
        for i in idx:
            k, s = self.lanes.nearest(float(st.x[i]), float(st.y[i]), float(st.psi[i]))
            a, b = self.lanes.start[k], self.lanes.start[k + 1]
            self.lane[i] = k
            self.seg[i] = int(np.clip(np.searchsorted(self.lanes.s[a:b], s) - 1, 0, b - a - 2))
            if self.length[i] < self.zp[ZP_SMALL_M]:
                # small craft (§ 1.01) keep the bank-side track they had (up to SMALL_OFFSET_M to starboard of
                # the lane line), out of the larger vessels' way (§ 6.02)
                lx, ly, lh = self.lanes.point_at(k, s)
                side = (st.x[i] - lx) * math.cos(lh) - (st.y[i] - ly) * math.sin(lh)
                self.offset[i] = min(max(side, 0.0), SMALL_OFFSET_M)

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
            self.zp, self.lanes.keep_right, KA, eact, self._s_lane, self.offset, self.handed,
        )  # fmt: skip
        nomoto.step_inplace(self.batch, st, self.rudder_cmd, self.revs_cmd, self.current, self.dt)
        if self.replay is not None:
            self._replay_step(0, self.E, t_next, (ego.x, ego.y, ego.psi, ego.u, ego.v, ego_cur, ego_len, eact),
                              hmap_kernels)  # fmt: skip
            self._take_over(hmap_kernels)


def _without_hairpins(xy: np.ndarray, max_turn_deg: float = 120.0) -> np.ndarray:
    """The lane polyline without the vertices where it doubles back (turns by more than ``max_turn_deg``),
    e.g. a lane drawn past a junction and back: a vessel cannot follow such a turn, it would circle."""
    pts = [p for p in xy]
    changed = True
    while changed and len(pts) > 2:
        changed = False
        for k in range(1, len(pts) - 1):
            d0 = pts[k] - pts[k - 1]
            d1 = pts[k + 1] - pts[k]
            n = math.hypot(*d0) * math.hypot(*d1)
            if n > 0 and float(d0 @ d1) / n < math.cos(math.radians(max_turn_deg)):
                del pts[k]
                changed = True
                break
    return np.array(pts)


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
def _through_water(x, y, psi, u, cur, mode, active, geo, widx, cfield, creach, speeds):
    """Replayed vessels (mode 1): the recorded ground velocity ``u`` along the heading + ``cur`` split into
    the speed through the water along the heading (ground velocity less the local current, projected) and
    the rest (the current plus the vessel's drift), so that ``u`` is what the rules limit through the water
    (§ 6.20) and ``cur`` tells up- from downstream (§ 6.16, § 9.07). The ground velocity is unchanged."""
    for i in range(x.shape[0]):
        if mode[i] != 1 or active[i] == 0:
            continue
        sn = math.sin(psi[i])
        cs = math.cos(psi[i])
        gx = u[i] * sn + cur[i, 0]
        gy = u[i] * cs + cur[i, 1]
        ce, cn = current_at(geo, widx, cfield, creach, speeds, x[i], y[i])
        w = (gx - ce) * sn + (gy - cn) * cs
        u[i] = w
        cur[i, 0] = gx - w * sn
        cur[i, 1] = gy - w * cs


@numba.njit(cache=True)
def _wrap(a):
    return (a + math.pi) % (2.0 * math.pi) - math.pi


@numba.njit(cache=True)
def _crossing(z, c_up, zmasks):
    """Whether a vessel in zone bits ``z`` heading ``c_up`` (+-1 along the current) leaves, enters or
    crosses at a harbour mouth (§ 6.16; the rule checker's test)."""
    if z & zmasks[M_ENTRY] != 0:
        return True
    return z & zmasks[M_MOUTH] != 0 and abs(c_up) < 0.7 and z & zmasks[M_NARROW] == 0


@numba.njit(cache=True)
def _lane_point(lxy, ls, k, b, s):
    """The point at along-lane distance ``s`` (from segment k on, clamped to the lane's end b)."""
    while k + 2 < b and ls[k + 1] < s:
        k += 1
    t = min(max((s - ls[k]) / max(ls[k + 1] - ls[k], 1e-9), 0.0), 1.0)
    return lxy[k, 0] + t * (lxy[k + 1, 0] - lxy[k, 0]), lxy[k, 1] + t * (lxy[k + 1, 1] - lxy[k, 1])


@numba.njit(cache=True)
def _is_other(e, T, KA, kk, i, active, eact):
    """Is entry kk of env e (traffic vessel kk < T, ego kk - T) present and not traffic vessel i itself?"""
    if kk >= T:
        return eact[e * KA + kk - T] != 0
    m = e * T + kk
    return m != i and active[m] != 0


@numba.njit(cache=True)
def _other(e, T, KA, kk, x, y, psi, length, cur, vx, vy, ex, ey, epsi, eu, ev, ecur, elen):
    """(x, y, length, ground vx, vy, current x, y, heading) of traffic vessel kk < T or ego kk - T of env e."""
    if kk >= T:
        me = e * KA + kk - T
        sn = math.sin(epsi[me])
        cs = math.cos(epsi[me])
        return (ex[me], ey[me], elen[me], eu[me] * sn + ev[me] * cs + ecur[me, 0],
                eu[me] * cs - ev[me] * sn + ecur[me, 1], ecur[me, 0], ecur[me, 1], epsi[me])
    m = e * T + kk
    return x[m], y[m], length[m], vx[m] + cur[m, 0], vy[m] + cur[m, 1], cur[m, 0], cur[m, 1], psi[m]


@numba.njit(cache=True)
def _passage_conflict(e, T, i, lxy, ls, k, b, s0, u0, vmax, x, y, psi, length, active, cur, vx, vy, ex, ey, epsi, eu,
                      ev, ecur, elen, geo, widx, cfield, creach, speeds, zbits, zmasks, cpa_m, tcpa, KA, eact, lstart,
                      lane, seg, s_lane, mode, cand):  # fmt: skip
    """Whether vessel i, sailing on along its lane from ``s0`` (speed ``u0``, gathering way at 0.015 m/s^2 up
    to ``vmax``), would at any time in the next 6 minutes be leaving, entering or crossing at a harbour mouth
    with a through vessel (or an ego; both kept at their velocity) coming within the half lengths + ``cpa_m``
    within ``tcpa`` seconds: what the rule checker calls a § 6.16 conflict. Ends where the lane ends. Other
    lane followers are predicted along their lanes at their speed over ground. ``cand`` is scratch (T + KA)."""
    m_side = zmasks[M_ENTRY] | zmasks[M_NARROW]
    dt = 5.0
    n_steps = 72
    # the through vessels that can matter: on the river, sailing along it, not moving away out of reach
    n_cand = 0
    for kk in range(T + KA):
        if not _is_other(e, T, KA, kk, i, active, eact):
            continue
        ox, oy, olen, ovx, ovy, ocx, ocy, opsi = _other(e, T, KA, kk, x, y, psi, length, cur, vx, vy, ex, ey, epsi,
                                                        eu, ev, ecur, elen)
        if zbits[widx[cell_index(geo, ox, oy)]] & m_side != 0:
            continue  # in an entrance or a canal: not through traffic on the river
        ofl = math.hypot(ocx, ocy)
        if not (ofl > 0.05 and abs((math.sin(opsi) * ocx + math.cos(opsi) * ocy) / ofl) >= 0.7):
            continue  # not sailing along the river
        rx = ox - x[i]
        ry = oy - y[i]
        d = math.hypot(rx, ry)
        near = 0.5 * (length[i] + olen) + cpa_m + 200.0
        if d > near and rx * ovx + ry * ovy > 0.0:
            continue  # moving away from here
        if d > near + (n_steps * dt + tcpa) * (math.hypot(ovx, ovy) + vmax + 1.0):
            continue  # cannot get here in time
        cand[n_cand] = kk
        n_cand += 1
    if n_cand == 0:
        return False
    s_end = ls[b - 1] - 0.5 * length[i] - 5.0  # the vessel leaves the simulation at its lane's end
    s = s0
    v = u0
    for step in range(n_steps):
        t = step * dt
        if s > s_end:
            return False
        mx, my = _lane_point(lxy, ls, k, b, s)
        nx, ny = _lane_point(lxy, ls, k, b, s + 10.0)
        tl = max(math.hypot(nx - mx, ny - my), 1e-9)
        hx = (nx - mx) / tl
        hy = (ny - my) / tl
        ce, cn = current_at(geo, widx, cfield, creach, speeds, mx, my)
        fl = math.hypot(ce, cn)
        c_up = (hx * ce + hy * cn) / fl if fl > 0.05 else 0.0
        if v > 0.3 and _crossing(zbits[widx[cell_index(geo, mx, my)]], c_up, zmasks):
            mgx = v * hx + ce
            mgy = v * hy + cn
            for c in range(n_cand):
                kk = cand[c]
                ox, oy, olen, ovx, ovy, ocx, ocy, opsi = _other(e, T, KA, kk, x, y, psi, length, cur, vx, vy, ex, ey,
                                                                epsi, eu, ev, ecur, elen)
                m = e * T + kk
                if kk < T and mode[m] == 0 and s_lane[m] >= 0.0:  # along its lane
                    og = math.hypot(ovx, ovy)
                    ob = lstart[lane[m] + 1]
                    ok0 = lstart[lane[m]] + seg[m]
                    px, py = _lane_point(lxy, ls, ok0, ob, s_lane[m] + og * t)
                    qx, qy = _lane_point(lxy, ls, ok0, ob, s_lane[m] + og * t + 10.0)
                    ql = max(math.hypot(qx - px, qy - py), 1e-9)
                    ovx = og * (qx - px) / ql
                    ovy = og * (qy - py) / ql
                    rx = px - mx
                    ry = py - my
                else:
                    rx = ox + ovx * t - mx
                    ry = oy + ovy * t - my
                dvx = ovx - mgx
                dvy = ovy - mgy
                dv2 = dvx * dvx + dvy * dvy
                tc = -(rx * dvx + ry * dvy) / dv2 if dv2 > 1e-6 else 0.0
                tc = min(max(tc, 0.0), tcpa)
                if math.hypot(rx + dvx * tc, ry + dvy * tc) < 0.5 * (length[i] + olen) + cpa_m:
                    return True
        v = min(v + 0.015 * dt, vmax)
        s += v * dt
    return False


@numba.njit(cache=True)
def _small_speed(e, T, i, x, y, psi, sh, ch, length, active, cur, vx, vy, ex, ey, epsi, eu, ev, ecur, elen, eact, KA, v_des,
                 small_m, cpa_m, tcpa_s, u_cruise):  # fmt: skip
    """§ 1.01/6.02 for small craft i: the fastest of v_des, 3/4, 1/2, 1/4 of it and 0 at which no vessel of
    ``small_m`` or longer (kept at its ground velocity) comes within the half lengths + ``cpa_m`` within
    ``tcpa_s`` seconds; where none is free, the one that keeps the most room."""
    best_v = 0.0
    best_room = -math.inf
    for q in range(5):
        v = v_des * (1.0 - 0.25 * q)
        gx = v * sh + cur[i, 0]
        gy = v * ch + cur[i, 1]
        # slowing down only postpones a meeting with a vessel that stays in the way: at a fraction of its
        # cruising speed it looks as much further ahead in time (creeping on so that the meeting stays just
        # beyond the window would still end next to the other vessel)
        horizon = tcpa_s * max(u_cruise, v_des, 0.5) / max(v, 0.5)
        room = math.inf
        for kk in range(T + KA):
            if not _is_other(e, T, KA, kk, i, active, eact):
                continue
            ox, oy, olen, ovx, ovy, _, _, _ = _other(e, T, KA, kk, x, y, psi, length, cur, vx, vy, ex, ey,
                                                     epsi, eu, ev, ecur, elen)
            if olen < small_m:
                continue
            rx = ox - x[i]
            ry = oy - y[i]
            dvx = ovx - gx
            dvy = ovy - gy
            dv2 = dvx * dvx + dvy * dvy
            tc = -(rx * dvx + ry * dvy) / dv2 if dv2 > 1e-6 else -1.0
            if 0.0 < tc < horizon:
                room = min(room, math.hypot(rx + dvx * tc, ry + dvy * tc) - 0.5 * (length[i] + olen))
        if room >= cpa_m:
            return v
        if room > best_room:
            best_room = room
            best_v = v
    return best_v


@numba.njit(cache=True)
def _rule_speed(e, T, i, x, y, psi, sh, ch, length, active, cur, vx, vy, ex, ey, epsi, eu, ev, ecur, elen, geo, widx,
                zbits, zmasks, zp, v_des, KA, eact, lxy, ls, k, b, s_here, cfield, creach, speeds, lstart, lane, seg,
                s_lane, mode, cand, off):  # fmt: skip
    """The speed the traffic rules allow vessel i (see the module docstring); zones ahead are looked up
    along its lane (segment k of the lane ending at point b, at ``s_here``), ``off`` metres to starboard of
    the lane line where the vessel keeps that far off it (a handed-over small craft)."""
    la = max(2.5 * length[i], 150.0)
    z_here = zbits[widx[cell_index(geo, x[i], y[i])]]
    # the zones along the lane at 0.5, 1, 1.5, 2 and 3 look-aheads (one walk along the lane)
    z_ahead = 0
    z_far = 0
    z3 = 0
    z_slow = z_here
    kq = k
    for q in (0.5, 1.0, 1.5, 2.0, 3.0):
        sq = s_here + q * la
        while kq + 2 < b and ls[kq + 1] < sq:
            kq += 1
        tq = min(max((sq - ls[kq]) / max(ls[kq + 1] - ls[kq], 1e-9), 0.0), 1.0)
        qdx = lxy[kq + 1, 0] - lxy[kq, 0]
        qdy = lxy[kq + 1, 1] - lxy[kq, 1]
        qx = lxy[kq, 0] + tq * qdx
        qy = lxy[kq, 1] + tq * qdy
        if off > 0.0:
            ql = max(math.sqrt(qdx * qdx + qdy * qdy), 1e-9)
            qx += off * qdy / ql
            qy -= off * qdx / ql
        zq = zbits[widx[cell_index(geo, qx, qy)]]
        z_slow |= zq
        if q == 1.0:
            z_ahead = zq
        elif q == 2.0:
            z_far = zq
        elif q == 3.0:
            z3 = zq
    zz = z_here | z_ahead
    # § 6.20 (reached at the limit: looked for up to 3 look-aheads ahead; in the basins throughout)
    m_slow = zmasks[M_MOUTH] | zmasks[M_BERTH] | zmasks[M_NARROW]
    if z_slow & m_slow != 0:
        v_des = min(v_des, zp[ZP_LIM_MOUTH])
    if zp[ZP_HIGH] > 0.5 and zz & zmasks[M_HIGHWATER] != 0:  # § 10.01
        if zp[ZP_STOP] > 0.5:
            v_des = 0.0
        else:
            v_des = min(v_des, max(zp[ZP_LIM_HW] - (cur[i, 0] * sh + cur[i, 1] * ch), 0.0))
    # § 6.16: leaving, entering or crossing at a harbour mouth: only when no through vessel must change
    # course or speed. Judged before the vessel gets there (it stops short of the mouth and waits), and
    # while it waits at rest in a mouth; once under way in the mouth it carries on (stopping there
    # would take longer than crossing)
    fl = math.hypot(cur[i, 0], cur[i, 1])
    c_up = (sh * cur[i, 0] + ch * cur[i, 1]) / fl if fl > 0.05 else 0.0
    here = _crossing(z_here, c_up, zmasks)
    if not here and not _crossing(z_ahead, c_up, zmasks) and not _crossing(z_far, c_up, zmasks):
        if not _crossing(z3, c_up, zmasks):  # (far enough ahead to wait short of a mouth's approaches)
            return v_des
    if here and math.hypot(vx[i] + cur[i, 0], vy[i] + cur[i, 1]) > 0.5:
        return v_des  # under way in the mouth: carry on (it looked before it went; stopping would take longer)
    if _passage_conflict(e, T, i, lxy, ls, k, b, s_here, math.hypot(vx[i], vy[i]), max(v_des, 1.0), x, y, psi, length,
                         active, cur, vx, vy, ex, ey, epsi, eu, ev, ecur, elen, geo, widx, cfield, creach, speeds, zbits,
                         zmasks, zp[ZP_CROSS_CPA], zp[ZP_CROSS_TCPA], KA, eact, lstart, lane, seg, s_lane,
                         mode, cand):  # fmt: skip
        # wait (short of the mouth, or in it) until the passage is clear, holding its position against the
        # current (it does not drift into the fairway)
        return min(max(-(sh * cur[i, 0] + ch * cur[i, 1]), -1.0), 1.0)
    return v_des


@numba.njit(cache=True)
def _lane_offset(lxy, ls, k, b, px, py, s_max):
    """(along-lane position, distance) of the point of the lane nearest to (px, py), searched from segment k
    on up to along-lane ``s_max``."""
    best_d = math.inf
    best_s = 0.0
    while k + 1 < b and ls[k] <= s_max:
        dx = lxy[k + 1, 0] - lxy[k, 0]
        dy = lxy[k + 1, 1] - lxy[k, 1]
        l2 = max(dx * dx + dy * dy, 1e-12)
        t = min(max(((px - lxy[k, 0]) * dx + (py - lxy[k, 1]) * dy) / l2, 0.0), 1.0)
        d = math.hypot(lxy[k, 0] + t * dx - px, lxy[k, 1] + t * dy - py)
        if d < best_d:
            best_d = d
            best_s = ls[k] + t * math.sqrt(l2)
        k += 1
    return best_s, best_d


@numba.njit(cache=True)
def _project(lxy, ls, a, b, seg, i, px, py):
    """Along-lane position of (px, py) on the lane of points lxy[a:b], advancing vessel i's segment index."""
    k = a + seg[i]
    back = True  # a vessel that drifted back past its segment's start goes back a segment (once per call)
    while True:
        dx = lxy[k + 1, 0] - lxy[k, 0]
        dy = lxy[k + 1, 1] - lxy[k, 1]
        l2 = dx * dx + dy * dy
        t = ((px - lxy[k, 0]) * dx + (py - lxy[k, 1]) * dy) / max(l2, 1e-12)
        if t > 1.0 and k + 2 < b:
            k += 1
            back = False
            continue
        if t < 0.0 and k > a and back:
            k -= 1
            continue
        break
    seg[i] = k - a
    t = min(max(t, 0.0), 1.0)
    return ls[k] + t * math.sqrt(l2)


@numba.njit(cache=True)
def control_kernel(E, T, lxy, ls, lstart, llen, x, y, psi, u, r, lane, seg, u_tgt, active, length, beam, spr,
                   rmax, ex, ey, epsi, eu, ev, ecur, elen, ebeam, keep_clear, min_gap, rud_out, rev_out,
                   geo, widx, cfield, creach, speeds, cur_out, vx, vy, mode, zbits, zmasks, zp, keep_right, KA, eact,
                   s_lane, offset, handed):  # fmt: skip
    cand = np.zeros(T + KA, dtype=np.int64)  # scratch of the § 6.16 passage check
    for e in range(E):
        for j in range(T):
            i = e * T + j
            vx[i] = u[i] * math.sin(psi[i])
            vy[i] = u[i] * math.cos(psi[i])
            # where each lane follower is along its lane (followers on one lane keep their order)
            s_lane[i] = -1.0
            if mode[i] == 0 and active[i] == 1:
                s_lane[i] = _project(lxy, ls, lstart[lane[i]], lstart[lane[i] + 1], seg, i, x[i], y[i])
        for j in range(T):
            i = e * T + j
            if mode[i] != 0:  # replayed from AIS (1) or from a live feed (2): positioned after the step
                rud_out[i] = 0.0
                rev_out[i] = 0.0
                continue
            ln = lane[i]
            a = lstart[ln]
            b = lstart[ln + 1]
            if active[i] == 0 and handed[i] != 0:
                # a handed-over vessel that reached its lane's end has finished its voyage: it does not re-enter
                # (a vessel that left a harbour would otherwise reappear at its lane's start, inside it)
                rud_out[i] = 0.0
                rev_out[i] = 0.0
                continue
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
                spsi = math.atan2(lxy[a + 1, 0] - sx, lxy[a + 1, 1] - sy)
                if clear and zbits.shape[0] > 1:
                    # a lane that starts in a harbour mouth: appear only when no through vessel is near (§ 6.16)
                    zs = zbits[widx[cell_index(geo, sx, sy)]]
                    ce, cn = current_at(geo, widx, cfield, creach, speeds, sx, sy)
                    fl = math.hypot(ce, cn)
                    c_up = (math.sin(spsi) * ce + math.cos(spsi) * cn) / fl if fl > 0.05 else 0.0
                    v0 = min(u_tgt[i], zp[ZP_LIM_MOUTH])
                    if _crossing(zs, c_up, zmasks) and _passage_conflict(
                            e, T, i, lxy, ls, a, b, 0.0, v0, v0, x, y, psi, length, active, cur_out, vx, vy, ex, ey,
                            epsi, eu, ev, ecur, elen, geo, widx, cfield, creach, speeds, zbits, zmasks, zp[ZP_CROSS_CPA],
                            zp[ZP_CROSS_TCPA], KA, eact, lstart, lane, seg, s_lane, mode, cand):  # fmt: skip
                        clear = False
                if clear:
                    x[i] = sx
                    y[i] = sy
                    psi[i] = spsi
                    u[i] = u_tgt[i]
                    if zbits.shape[0] > 1:
                        zs = zbits[widx[cell_index(geo, sx, sy)]]
                        if zs & (zmasks[M_MOUTH] | zmasks[M_BERTH] | zmasks[M_NARROW] | zmasks[M_ENTRY]) != 0:
                            u[i] = min(u[i], zp[ZP_LIM_MOUTH])
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
            s_here = _project(lxy, ls, a, b, seg, i, x[i], y[i])
            s_lane[i] = s_here
            k = a + seg[i]
            behind = 0.0  # how far it drifted back past its lane's start (the map's edge for river lanes)
            if k == a:
                dx0 = lxy[a + 1, 0] - lxy[a, 0]
                dy0 = lxy[a + 1, 1] - lxy[a, 1]
                behind = -((x[i] - lxy[a, 0]) * dx0 + (y[i] - lxy[a, 1]) * dy0) / max(math.hypot(dx0, dy0), 1e-9)
            if s_here > llen[ln] - 0.5 * length[i] - 5.0 or behind > 20.0:
                active[i] = 0  # lane end (or pushed back off its start): re-enter at the start when clear
                x[i] = 1e9
                y[i] = 1e9
                u[i] = 0.0
                rud_out[i] = 0.0
                rev_out[i] = 0.0
                cur_out[i, 0] = 0.0
                cur_out[i, 1] = 0.0
                continue
            # line-of-sight target (a short lookahead: a long one cuts the bends towards the other lane)
            s_t = min(s_here + max(1.2 * length[i], 120.0), llen[ln])
            kk = k
            while kk + 2 < b and ls[kk + 1] < s_t:
                kk += 1
            tt = (s_t - ls[kk]) / max(ls[kk + 1] - ls[kk], 1e-9)
            tx = lxy[kk, 0] + tt * (lxy[kk + 1, 0] - lxy[kk, 0])
            ty = lxy[kk, 1] + tt * (lxy[kk + 1, 1] - lxy[kk, 1])
            off = max(keep_right[ln], offset[i])
            if off > 0.0:  # two-way lane (or a small craft): keep to starboard of the line
                sdx = lxy[kk + 1, 0] - lxy[kk, 0]
                sdy = lxy[kk + 1, 1] - lxy[kk, 1]
                sl = max(math.sqrt(sdx * sdx + sdy * sdy), 1e-9)
                tx += off * sdy / sl
                ty -= off * sdx / sl
            # steer the course over ground onto the target (the current sets a vessel sideways): the
            # heading error is corrected by the drift angle once the vessel makes way
            err = _wrap(math.atan2(tx - x[i], ty - y[i]) - psi[i])
            gvx = vx[i] + cur_out[i, 0]
            gvy = vy[i] + cur_out[i, 1]
            if u[i] > 1.0 and gvx * gvx + gvy * gvy > 1.0:
                drift = _wrap(math.atan2(gvx, gvy) - psi[i])
                err = _wrap(err - max(min(drift, 0.15), -0.15))
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
                    ovx = vx[m] + cur_out[m, 0]  # over ground, as the ego's
                    ovy = vy[m] + cur_out[m, 1]
                    same = mode[m] == 0 and lane[m] == ln
                    ds = s_lane[m] - s_here
                    if mode[m] == 0 and not same and s_lane[m] >= 0.0:
                        # two lanes that end at one place (harbour lanes into one entrance) merge there: the
                        # one nearer its end goes first, the other follows it as on one lane
                        bm = lstart[lane[m] + 1] - 1
                        if math.hypot(lxy[bm, 0] - lxy[b - 1, 0], lxy[bm, 1] - lxy[b - 1, 1]) < 100.0:
                            rem_m = llen[lane[m]] - s_lane[m]
                            if rem_m < llen[ln] - s_here and llen[ln] - s_here < 600.0:
                                same = True
                                ds = llen[ln] - s_here - rem_m
                    if same:  # on my lane: keep the order along it, never overtake
                        if ds > 0.0:
                            gap = ds - 0.5 * (length[i] + olen)
                            margin = max(gap - keep_clear, 0.0)
                            allowed = min(margin / 40.0, math.sqrt(2.0 * 0.015 * margin)) + max(u[m], 0.0)
                            if gap < keep_clear:
                                allowed = 0.0
                            v_des = min(v_des, allowed)
                        continue
                rx = ox - x[i]
                ry = oy - y[i]
                reach = 0.5 * (length[i] + olen) + keep_clear + 120.0 * (ui + 5.0)
                if rx * rx + ry * ry > reach * reach:
                    continue
                along = rx * sh + ry * ch
                lat = rx * ch - ry * sh
                half = 0.5 * (beam[i] + obeam) + 25.0
                if not is_ego and mode[m] == 0 and keep_right[ln] == 0.0 and keep_right[lane[m]] == 0.0 and \
                        math.cos(psi[m] - psi[i]) < -0.5:
                    # an oncoming follower of the other one-way lane, off my lane's line (the river's other
                    # half, even where a bend shows it on my starboard bow), passes port-to-port
                    if _lane_offset(lxy, ls, k, b, ox, oy, s_here + reach)[1] > half:
                        continue
                # an oncoming vessel on my port side with room between the hulls passes port-to-port
                oncoming = (ovx * sh + ovy * ch) < -0.3 and lat < -(0.5 * (beam[i] + obeam) + 6.0)
                ahead = along > 0.0 and abs(lat) < half and not (oncoming and not is_ego)
                if is_ego and not ahead and along > 0.0:  # an ego on my lane ahead, round a bend
                    se, de = _lane_offset(lxy, ls, k, b, ox, oy, s_here + reach)
                    if de < half and se > s_here:
                        ahead = True
                        along = se - s_here
                if ahead:
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
                dvx = ovx - ui * sh - cur_out[i, 0]  # relative over ground
                dvy = ovy - ui * ch - cur_out[i, 1]
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
                                # traffic converging from starboard (courses 20-120 deg apart, e.g. two lanes
                                # that join): give way by stopping, not only slowing
                                if not is_ego:
                                    cdh = math.cos(psi[m] - psi[i])
                                    crossing = -0.5 < cdh < 0.94
                                v_des = min(v_des, 0.0 if crossing else 0.25 * u_tgt[i])
            if zbits.shape[0] > 1:
                v_des = _rule_speed(e, T, i, x, y, psi, sh, ch, length, active, cur_out, vx, vy, ex, ey, epsi, eu, ev, ecur,
                                    elen, geo, widx, zbits, zmasks, zp, v_des, KA, eact, lxy, ls, k, b, s_here, cfield,
                                    creach, speeds, lstart, lane, seg, s_lane, mode, cand, offset[i])
                if length[i] < zp[ZP_SMALL_M]:  # § 1.01/6.02: small craft keep out of the way of the others
                    v_des = _small_speed(e, T, i, x, y, psi, sh, ch, length, active, cur_out, vx, vy, ex, ey, epsi, eu, ev,
                                         ecur, elen, eact, KA, v_des, zp[ZP_SMALL_M], zp[ZP_SMALL_CPA],
                                         zp[ZP_SMALL_TCPA], u_tgt[i])  # fmt: skip
            # proportional speed control: astern revs when faster than wanted (clipped by the actuator)
            rev_out[i] = (v_des + 4.0 * (v_des - ui)) / spr[i]
            ce, cn = current_at(geo, widx, cfield, creach, speeds, x[i], y[i])
            cur_out[i, 0] = ce
            cur_out[i, 1] = cn
