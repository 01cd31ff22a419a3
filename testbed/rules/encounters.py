"""Hand-built inland encounter cases (in the spirit of the Imazu cases) for the rule checker.

Each :class:`Encounter` places vessels on paths built from the map's *named* features (the Rhine lanes
and their river-km, the Hafenmund lane, the bridges), moves them kinematically at a set speed through
the water (ground speed = that speed plus the current along the path) and states which rules must fire
and which must not. :func:`run_encounter` runs one through the real :class:`~testbed.rules.RuleChecker`
on the map's rule zones. Vessel 0 is ``ego``; the others are ``traffic_<j>``.

The same situations are registered as simulation scenarios ``testbed/Encounter-<Name>-v0``
(:mod:`testbed.rules.scenarios`), where an agent sails the ego.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from testbed.rules.checker import RuleChecker, Violation

MAP = "duisburg_ruhrort"


# -- paths from named features --------------------------------------------------------------------------
def lane(hmap, lane_id: str):
    for ln in hmap.lanes:
        if ln.id == lane_id:
            return ln
    raise KeyError(f"map {hmap.name!r} has no lane {lane_id!r}")


def lane_km(hmap, lane_id: str, km0: float, km1: float, step: float = 50.0) -> np.ndarray:
    """Points of lane ``lane_id`` from river-km ``km0`` to ``km1`` (in the lane's direction)."""
    ln = lane(hmap, lane_id)
    km = np.asarray(ln.km)
    order = np.argsort(km)
    s0 = float(np.interp(km0, km[order], ln.s[order]))
    s1 = float(np.interp(km1, km[order], ln.s[order]))
    return lane_along(hmap, lane_id, s0, s1, step)


def lane_along(hmap, lane_id: str, s0: float, s1: float, step: float = 50.0) -> np.ndarray:
    """Points of lane ``lane_id`` from ``s0`` to ``s1`` metres along it (reversed when s1 < s0)."""
    ln = lane(hmap, lane_id)
    n = max(int(abs(s1 - s0) / step), 1) + 1
    s = np.linspace(s0, s1, n)
    return np.column_stack([np.interp(s, ln.s, ln.xy[:, 0]), np.interp(s, ln.s, ln.xy[:, 1])])


def offset(xy: np.ndarray, d: float) -> np.ndarray:
    """``xy`` moved ``d`` metres to starboard of its direction of travel (negative: to port)."""
    t = np.gradient(xy, axis=0)
    t /= np.maximum(np.hypot(t[:, 0], t[:, 1]), 1e-9)[:, None]
    return xy + d * np.column_stack([t[:, 1], -t[:, 0]])


def flow_at(hmap, p) -> np.ndarray:
    """Unit flow direction of the current at ``p``."""
    c = hmap.current(np.asarray(p, dtype=float)[None])[0]
    return c / max(float(np.hypot(*c)), 1e-9)


def junction(hmap) -> np.ndarray:
    """Where the Hafenmund lane leaves the Rhine (its first point)."""
    return lane(hmap, "lane-hafenkanal").xy[0].copy()


def _join(*parts) -> np.ndarray:
    pts = [np.asarray(p, dtype=float).reshape(-1, 2) for p in parts]
    xy = np.concatenate(pts)
    keep = np.r_[True, np.hypot(*np.diff(xy, axis=0).T) > 1e-6]
    return xy[keep]


def _entry_direct(hmap):
    return _join(lane_km(hmap, "lane-rhine-down", 778.9, 779.6), junction(hmap),
                 lane_along(hmap, "lane-hafenkanal", 0.0, 450.0)[1:])


def _entry_turned(hmap):
    j = junction(hmap)
    f = flow_at(hmap, j)
    n = np.array([f[1], -f[0]])  # starboard of the flow (towards the right bank)
    return _join(lane_km(hmap, "lane-rhine-down", 778.9, 779.6), j + 250.0 * f, j + 250.0 * f - 200.0 * n,
                 j + 120.0 * f - 120.0 * n, j, lane_along(hmap, "lane-hafenkanal", 0.0, 450.0)[1:])


def _leave_mouth(hmap):
    j = junction(hmap)
    n = np.array([flow_at(hmap, j)[1], -flow_at(hmap, j)[0]])
    return _join(lane_along(hmap, "lane-hafenkanal", 500.0, 0.0), j - 300.0 * n)


def _down_from_junction(d0: float, d1: float):
    """The downstream Rhine lane from ``d0`` to ``d1`` metres along it from the Hafenmund junction."""
    def path(hmap):
        ln = lane(hmap, "lane-rhine-down")
        j = junction(hmap)
        sj = float(ln.s[np.argmin(np.hypot(*(ln.xy - j).T))])
        return lane_along(hmap, ln.id, sj + d0, sj + d1)
    return path


def _cross_river(hmap):
    p = lane_km(hmap, "lane-rhine-down", 777.0, 777.05)[0]
    f = flow_at(hmap, p)
    n = np.array([f[1], -f[0]])
    return _join(p - 170.0 * n, p + 60.0 * n)


@dataclass(frozen=True)
class Track:
    vessel_type: str
    path: Callable  # hmap -> (P, 2) waypoints
    speed_ms: float  # through the water (0: holds its position)
    hold_end_s: float = 0.0  # stays at the path's end this long (speed 0 over ground), then leaves
    blue_board: bool = False


@dataclass(frozen=True)
class Encounter:
    name: str
    description: str
    tracks: tuple[Track, ...]
    duration_s: float
    must_fire: frozenset[str]
    must_not: frozenset[str]
    water_level_m: float = math.nan
    at_fault: str = "ego"  # who must be at fault in the events of must_fire
    overrides: dict = field(default_factory=dict)
    explains: str = ""  # a must_fire event's explanation contains this (picks the clause of an article)


def _down(km0, km1, d=0.0):
    return lambda h: offset(lane_km(h, "lane-rhine-down", km0, km1), d)


def _up(km0, km1, d=0.0):
    return lambda h: offset(lane_km(h, "lane-rhine-up", km0, km1), d)


def _up_line_downstream(km0, km1, d):
    """Downstream along the upstream lane's line, ``d`` metres to starboard of it."""
    return lambda h: offset(lane_km(h, "lane-rhine-up", km0, km1), d)


ALL = frozenset({"9.04", "6.04", "6.09", "6.07", "6.24", "6.16", "9.07", "6.20", "10.01", "7.02", "6.02"})

ENCOUNTERS: dict[str, Encounter] = {e.name: e for e in (
    Encounter("HeadOnDownstream", "ego downstream meets an upstream vessel port-to-port on its own lane",
              (Track("M8", _down(776.0, 778.0), 3.0), Track("M8", _up(778.0, 776.0), 3.0)), 500.0,
              frozenset(), ALL),
    Encounter("HeadOnUpstream", "ego upstream meets a downstream vessel port-to-port on its own lane",
              (Track("M8", _up(778.0, 776.0), 3.0), Track("M8", _down(776.0, 778.0), 3.0)), 500.0,
              frozenset(), ALL),
    Encounter("HeadOnStarboard", "ego downstream keeps left of the upstream vessel: starboard-to-starboard "
              "without the blue board", (Track("M8", _up_line_downstream(776.0, 778.0, -60.0), 3.0),
                                         Track("M8", _up(778.0, 776.0), 3.0)), 500.0,
              frozenset({"9.04"}), ALL - {"9.04"}),
    Encounter("HeadOnBlueBoard", "as HeadOnStarboard, but the upstream vessel shows the blue board",
              (Track("M8", _up_line_downstream(776.0, 778.0, -60.0), 3.0),
               Track("M8", _up(778.0, 776.0), 3.0, blue_board=True)), 500.0, frozenset(), ALL),
    Encounter("HeadOnUpstreamStarboard", "ego upstream keeps left of a downstream vessel: starboard-to-"
              "starboard", (Track("M8", lambda h: offset(lane_km(h, "lane-rhine-down", 778.0, 776.0), -60.0), 3.0),
                            Track("M8", _down(776.0, 778.0), 3.0)), 500.0, frozenset({"9.04"}), ALL - {"9.04"}),
    Encounter("Overtaking", "ego overtakes a slower vessel on the Rhine with 50 m between the tracks",
              (Track("M8", _down(777.0, 779.4, -50.0), 4.0), Track("M8", _down(777.3, 779.6), 1.5)), 420.0,
              frozenset(), ALL),
    Encounter("OvertakingClose", "ego overtakes with 15 m between the tracks (4 m between the hulls)",
              (Track("M8", _down(777.0, 779.4, -15.0), 4.0), Track("M8", _down(777.3, 779.6), 1.5)), 420.0,
              frozenset({"6.09"}), ALL - {"6.09"}),
    Encounter("OvertakingNarrow", "ego overtakes in the Hafenkanal, a narrow fairway (40 m between the tracks)",
              (Track("M8", lambda h: offset(lane_along(h, "lane-hafenkanal", 500.0, 1800.0), -40.0), 2.8),
               Track("M8", lambda h: lane_along(h, "lane-hafenkanal", 750.0, 2000.0), 1.2)), 500.0,
              frozenset({"6.07"}), ALL - {"6.07"}),
    Encounter("HarbourCrossing", "ego leaves the Hafenmund across the path of a downstream vessel",
              (Track("M8", _leave_mouth, 2.5), Track("M8", _down_from_junction(-850.0, 800.0), 3.0)),
              330.0, frozenset({"6.16"}), ALL - {"6.16"}),
    Encounter("HarbourCrossingClear", "ego leaves the Hafenmund after the downstream vessel has passed",
              (Track("M8", _leave_mouth, 2.5), Track("M8", _down_from_junction(-150.0, 1200.0), 3.0)),
              330.0, frozenset(), ALL),
    Encounter("RuhrortEntryDirect", "ego comes downstream and turns straight into the Hafenmund",
              (Track("M8", _entry_direct, 2.5),), 600.0, frozenset({"9.07"}), ALL - {"9.07"}),
    Encounter("RuhrortEntryTurned", "ego comes downstream, turns to face upstream, then enters the Hafenmund",
              (Track("M8", _entry_turned, 2.5),), 800.0, frozenset(), ALL),
    Encounter("RuhrortTurnInWay", "ego comes downstream and turns on the turning area to enter the Hafenmund "
              "in the way of an upstream vessel (§ 6.16: the downstream vessel that must turn gives way)",
              (Track("M8", _entry_turned, 2.5), Track("M8", _up(781.7, 779.7), 3.0)), 800.0, frozenset({"6.16"}),
              ALL - {"6.16"}, explains="must turn to enter gives way"),
    Encounter("RuhrortTurnGiveWay", "as RuhrortTurnInWay, but the upstream vessel has passed before the ego turns",
              (Track("M8", _entry_turned, 2.5), Track("M8", _up(781.0, 779.0), 3.0)), 800.0, frozenset(), ALL),
    Encounter("ParallelBasins", "ego sails into the Parallelhafen while a vessel leaves the Aussenhafen next to it: "
              "starboard-to-starboard 145 m apart, but with the mole between them they do not meet",
              (Track("M8", lambda h: offset(lane_along(h, "lane-parallelhafen", 300.0, 1100.0), 15.0), 2.5),
               Track("M8", lambda h: offset(lane_along(h, "lane-aussenhafen", 1100.0, 300.0), 12.0), 2.5)), 350.0,
              frozenset(), ALL),
    Encounter("BridgeStill", "ego stops under the Bruecke der Solidaritaet for 6 minutes",
              (Track("M8", lambda h: lane_km(h, "lane-rhine-down", 775.0, 775.29), 2.5, hold_end_s=360.0),), 520.0,
              frozenset({"7.02"}), ALL - {"7.02"}),
    Encounter("BridgePassing", "ego passes under the Bruecke der Solidaritaet without stopping",
              (Track("M8", _down(775.0, 775.8), 2.5),), 250.0, frozenset(), ALL),
    Encounter("BridgeShortStop", "ego waits 2 minutes under the Bruecke der Solidaritaet (not lying still)",
              (Track("M8", lambda h: lane_km(h, "lane-rhine-down", 775.0, 775.29), 2.5, hold_end_s=120.0),), 300.0,
              frozenset(), ALL),
    Encounter("HighWaterSpeeding", "ego makes 5 m/s through the water downstream at gauge 10.0 m (above mark I)",
              (Track("M8", _down(777.1, 779.1), 5.0),), 250.0, frozenset({"10.01"}), ALL - {"10.01"},
              water_level_m=10.0),
    Encounter("HighWaterSlow", "ego at 3 m/s through the water at gauge 10.0 m: within 20 km/h over ground",
              (Track("M8", _down(777.1, 779.1), 3.0),), 250.0, frozenset(), ALL, water_level_m=10.0),
    Encounter("HighWaterNormal", "ego makes 5 m/s through the water at gauge 8.0 m (below mark I)",
              (Track("M8", _down(777.1, 779.1), 5.0),), 250.0, frozenset(), ALL, water_level_m=8.0),
    Encounter("HighWaterStopped", "ego under way at gauge 11.5 m (above mark II: navigation stopped)",
              (Track("M8", _down(777.1, 779.1), 2.0),), 100.0, frozenset({"10.01"}), ALL - {"10.01"},
              water_level_m=11.5),
    Encounter("MouthSpeeding", "ego passes the Ruhrort harbour mouths at 4 m/s through the water",
              (Track("M8", _down(779.0, 780.6), 4.0),), 350.0, frozenset({"6.20"}), ALL - {"6.20"}),
    Encounter("MouthSlow", "ego passes the Ruhrort harbour mouths at 2.5 m/s through the water",
              (Track("M8", _down(779.0, 780.6), 2.5),), 450.0, frozenset(), ALL),
    Encounter("SmallCraft", "a small craft (ego, 12 m) crosses ahead of a downstream motor vessel",
              (Track("REC", _cross_river, 2.0), Track("M8", lambda h: lane_km(h, "lane-rhine-down", 776.55, 777.6),
                                                      3.0)), 150.0, frozenset({"6.02"}), ALL - {"6.02"}),
)}


def run_encounter(enc: Encounter, dt: float = 1.0) -> list[Violation]:
    """Run ``enc`` through the rule checker; returns every event."""
    from harbour_maps import kernels as mk
    from testbed.config import RulesConfig
    from testbed.world import map_bundle
    from vessels import catalogue

    hmap = map_bundle(MAP)[0]  # loaded once per process
    V = len(enc.tracks)
    cfg = RulesConfig(water_level_m=enc.water_level_m)
    rc = RuleChecker(hmap, cfg, 1, 1, V - 1, dt).bind_map(mk.pack_geo(hmap.rasters), hmap._widx_k)
    paths = [np.asarray(tr.path(hmap), dtype=float) for tr in enc.tracks]
    cum = [np.r_[0.0, np.cumsum(np.hypot(*np.diff(p, axis=0).T))] for p in paths]
    s = np.zeros(V)
    held = np.zeros(V)
    for k, tr in enumerate(enc.tracks):
        vt = catalogue.get(tr.vessel_type)
        rc.length[k] = vt.L_oa
        rc.beam[k] = vt.B
        rc.blue[k] = 1 if tr.blue_board else 0
    rc.active[:] = 1
    t = np.zeros(1)
    for _ in range(int(round(enc.duration_s / dt))):
        xy = np.zeros((V, 2))
        hd = np.zeros((V, 2))
        for k in range(V):
            p, c = paths[k], cum[k]
            j = int(np.clip(np.searchsorted(c, s[k], side="right") - 1, 0, len(p) - 2))
            seg = p[j + 1] - p[j]
            hd[k] = seg / max(float(np.hypot(*seg)), 1e-9)
            f = (s[k] - c[j]) / max(c[j + 1] - c[j], 1e-9)
            xy[k] = p[j] + min(f, 1.0) * seg
        cur = hmap.current(xy)
        for k, tr in enumerate(enc.tracks):
            at_end = s[k] >= cum[k][-1] - 1e-9
            if at_end and held[k] >= tr.hold_end_s:
                rc.active[k] = 0
            u = 0.0 if at_end else tr.speed_ms
            g = 0.0 if (u == 0.0) else max(u + float(cur[k] @ hd[k]), 0.2)
            rc.x[k], rc.y[k] = xy[k]
            rc.psi[k] = math.atan2(hd[k, 0], hd[k, 1])
            rc.u[k] = u
            rc.gx[k], rc.gy[k] = g * hd[k]
            rc.cx[k], rc.cy[k] = cur[k]
            if at_end:
                held[k] += dt
            s[k] = min(s[k] + g * dt, cum[k][-1])
        t[0] += dt
        rc.check(t)
    return list(rc.events[0])


def verdict(enc: Encounter, events: list[Violation]) -> list[str]:
    """The problems of ``events`` against ``enc``'s expectations (empty: the case passes)."""
    fired = {ev.rule for ev in events}
    out = []
    for r in sorted(enc.must_fire):
        hits = [ev for ev in events if ev.rule == r]
        if not hits:
            out.append(f"{enc.name}: §{r} must fire and did not")
        elif not any(enc.at_fault in ev.at_fault for ev in hits):
            out.append(f"{enc.name}: §{r} fired but not with {enc.at_fault} at fault: {hits[0].explanation}")
        elif enc.explains and not any(enc.explains in ev.explanation for ev in hits):
            out.append(f"{enc.name}: §{r} fired but not as {enc.explains!r}: {hits[0].explanation}")
    for r in sorted(enc.must_not & fired):
        ev = next(ev for ev in events if ev.rule == r)
        out.append(f"{enc.name}: §{r} must not fire and did: {ev.explanation}")
    return out
