"""Passages that obey RheinSchPV § 9.07 Nr. 5: a downstream vessel turns to face upstream before it enters
the Hafenmund, Hafenkanal or Parallelhafen (the map's ``harbour_entry`` zones with ``turn_before_entry``).

One implementation serves the AIS synthesiser (:mod:`testbed.ais.synth`, its port calls) and the ego's
route (:mod:`testbed.task`, scenarios with ``goal.turn_before_entry``):

- :meth:`Passage.turn_violation` reads a path the way the checker (:mod:`testbed.rules.kernel`) reads a
  vessel's track: entering a turn-first entry zone from a turning area without having faced upstream
  (heading within ~53 deg of upstream, :data:`FACED_UP`) since it last headed downstream (within ~37 deg,
  :data:`HEADED_DOWN`). The path's tangent stands for the heading, with a margin on the checker's -0.5.
- :meth:`Passage.turn_loop` puts a loop into a path that would violate: from ``back`` metres before the
  entry zone, corners stepped ahead and to the side (:class:`LoopShape`: the synthesiser's ``r`` ahead,
  ``1.6 r`` to the side, ``1.2 r`` back against the current), then the planner's route on to the goal;
  smoothed by the caller's ``smooth``; the first candidate (in the order given) that keeps its clearance
  from the banks and passes the turn test wins.

The synthesiser draws its loops for AIS kinematics (r 100-180 m: a trapezoid, rounded); the ego, an MMG
M8 (tactical diameter 1.9 L = 209 m) that the 1.3 m/s current sets downstream while it turns, gets
:data:`EGO_LOOP`: a circle of r = 100 m carried 1.5 r downstream per turn (a trochoid, the track over ground
of a ship turning at a steady rate in a current), 300 deg round to port from 200 m before the Hafenmund
entrance, with only the loop rounded (:func:`local_smooth`). The river there is ~335 m wide; the shape
was chosen by sailing the autopilot through candidates on 16 downstream starts with and without traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from testbed.route import densify  # noqa: F401  (used here and by the synthesiser, the task and tests)

FACED_UP = -0.6  # heading . current direction below this: facing upstream (the checker: -0.5)
HEADED_DOWN = 0.8  # ... above this: heading downstream again (the checker's value)


@dataclass(frozen=True)
class LoopShape:
    """The candidate loops :meth:`Passage.turn_loop` tries, in this order: for each ``back``, each side,
    each radius ``r``. A loop's corners are steps from the point ``back`` metres before the entry zone,
    each ``(ahead, aside)`` in units of ``r``: ahead along the route's direction there, aside to the side
    (+1 starboard, -1 port)."""

    backs: tuple[float, ...] = (150.0, 250.0, 350.0, 450.0)  # loop start before the entry zone [m]
    sides: tuple[float, ...] = (1.0, -1.0)  # +1 starboard, -1 port
    radii: tuple[float, ...] = (100.0, 140.0, 180.0)  # r [m]
    margin_m: float = 3.0  # clearance beyond half the beam to the banks
    # r ahead, 1.6 r aside, 1.2 r back against the current
    steps: tuple[tuple[float, float], ...] = ((1.0, 0.0), (0.0, 1.6), (-1.2, 0.0))
    clear_within_m: float = math.inf  # the bank clearance is checked this close to the loop's corners (inf: all)


def loop_steps(ahead: float, aside: float, end_deg: float, drift: float = 0.0, every_deg: float = 30.0) -> tuple:
    """Steps (units of r) around a loop from its start: an ellipse ``ahead`` r along the route and ``aside``
    r across (``aside`` = 2: a circle's width), carried ``drift`` r along the route per full turn (the track
    over ground of a ship turning at a constant rate in a current: a trochoid), to ``end_deg`` of turn."""
    ph = np.radians(np.r_[np.arange(every_deg, end_deg, every_deg), end_deg])
    pts = np.column_stack([ahead * np.sin(ph) + drift * ph / (2.0 * np.pi), 0.5 * aside * (1.0 - np.cos(ph))])
    d = np.diff(np.vstack([[0.0, 0.0], pts]), axis=0)
    return tuple((float(a), float(b)) for a, b in d)


SYNTH_LOOP = LoopShape()
# the ego (see the module docstring): a trochoid to port from 200 m (or 175-250 m) before the entrance
EGO_LOOP = LoopShape(backs=(200.0, 225.0, 175.0, 250.0), sides=(-1.0,), radii=(100.0, 90.0), margin_m=5.0,
                     steps=loop_steps(1.0, 2.0, 300.0, 1.5), clear_within_m=300.0)


def chaikin(p: np.ndarray, it: int) -> np.ndarray:
    """``it`` rounds of Chaikin corner cutting (the end points stay)."""
    for _ in range(it):
        q = 0.75 * p[:-1] + 0.25 * p[1:]
        r = 0.25 * p[:-1] + 0.75 * p[1:]
        p = np.vstack([p[:1], np.column_stack([q, r]).reshape(-1, 2), p[-1:]])
    return p


class Passage:
    """§ 9.07 Nr. 5 on one map: the turn test and the loop, with the map's route planner."""

    def __init__(self, hmap, planner) -> None:
        from testbed.rules import zones as rz

        self.map = hmap
        self.planner = planner
        self.zt = rz.zone_table(hmap)
        m = self.zt.masks
        self.m_turn = int(m[rz.M_TURN])
        self.m_entry_turn = int(m[rz.M_ENTRY_TURN])

    def bits(self, xy: np.ndarray) -> np.ndarray:
        from testbed.rules.zones import bits_at

        return bits_at(self.zt, self.map, xy[:, 0], xy[:, 1]).astype(np.int64)

    def cup_at(self, xy: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """The checker's heading . current direction (0 where the current is below 0.05 m/s)."""
        c = self.map.current(xy)
        f = np.hypot(c[:, 0], c[:, 1])
        return np.where(f > 0.05, (np.sin(theta) * c[:, 0] + np.cos(theta) * c[:, 1]) / np.maximum(f, 1e-9), 0.0)

    def turn_violation(self, p: np.ndarray) -> bool:
        """Would a vessel sailing ``p`` enter a Ruhrort harbour without having faced upstream (§ 9.07 Nr. 5)?"""
        q = densify(p, 4.0)
        d = np.diff(q, axis=0)
        th = np.r_[np.arctan2(d[:, 0], d[:, 1]), math.atan2(d[-1, 0], d[-1, 1])]
        zb = self.bits(q)
        cup = self.cup_at(q, th)
        faced = 0  # it comes down the Rhine
        for k in range(1, len(q)):
            newly = int(zb[k]) & self.m_entry_turn & ~int(zb[k - 1])
            if newly and (int(zb[k - 1]) & self.m_turn) and not faced:
                return True
            if cup[k] < FACED_UP:
                faced = 1
            elif cup[k] > HEADED_DOWN:
                faced = 0
        return False

    def turn_loop(self, p: np.ndarray, goal: np.ndarray, beam: float, smooth,
                  shape: LoopShape = SYNTH_LOOP) -> np.ndarray | None:
        """``p`` (a path to ``goal`` that violates § 9.07 Nr. 5) with a loop to face upstream before the
        entry zone: the first of ``shape``'s candidates that ``smooth`` (raw polyline, index of the loop's
        first corner in it -> path) turns into a
        path ``0.5 beam + shape.margin_m`` clear of the banks that passes :meth:`turn_violation`; None when
        none fits the water."""
        zb = self.bits(p)
        ie = int(np.argmax((zb & self.m_entry_turn) != 0))
        s = np.r_[0.0, np.cumsum(np.hypot(*np.diff(p, axis=0).T))]
        for back in shape.backs:
            ia = int(np.searchsorted(s, s[ie] - back))
            if ia < 2:
                continue
            a = p[ia]
            t = p[ia] - p[ia - 2]
            t /= max(math.hypot(*t), 1e-9)
            n = np.array([t[1], -t[0]])
            for side in shape.sides:
                for r in shape.radii:
                    corners = [a]
                    for da, dc in shape.steps:
                        corners.append(corners[-1] + da * r * t + side * dc * r * n)
                    try:
                        rest = self.planner.plan(corners[-1], goal)
                    except ValueError:
                        continue
                    raw = np.vstack([p[:ia + 1], *corners[1:], rest[1:]])
                    q = smooth(raw, ia + 1, ia + len(corners))
                    qd = densify(q, 5.0)
                    if math.isfinite(shape.clear_within_m):
                        near = np.hypot(*(qd[:, None, :] - np.array(corners)[None]).transpose(2, 0, 1))
                        qd = qd[near.min(axis=1) <= shape.clear_within_m]
                    if self.map.signed_distance(qd).min() < 0.5 * beam + shape.margin_m:
                        continue
                    if not self.turn_violation(q) and len(q) > 3:
                        return q
        return None


def local_smooth(raw: np.ndarray, k0: int, k1: int, pad: int = 3) -> np.ndarray:
    """``raw`` with only the loop rounded (its corners ``raw[k0:k1]``): Chaikin corner cutting, points every
    10 m, from ``pad`` points before the loop to ``pad`` after it; the route before and after stays."""
    i0, i1 = max(k0 - pad, 0), min(k1 + pad, len(raw))
    mid = densify(chaikin(densify(raw[i0:i1], 20.0), 3), 10.0)
    return np.vstack([raw[:i0], mid, raw[i1:]])
