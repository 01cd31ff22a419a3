"""AIS reporting intervals (ITU-R M.1371-5, Tables 1 and 2) and the ego's AIS picture of its targets.

Class A (commercial vessels): at anchor or moored and <= 3 kn: 180 s (> 3 kn: 10 s); 0-14 kn: 10 s,
3 1/3 s when changing course; 14-23 kn: 6 s, 2 s when changing course; > 23 kn: 2 s.
Class B "SO" (recreational craft here): <= 2 kn: 180 s; 2-14 kn: 30 s; 14-23 kn: 15 s; > 23 kn: 5 s.
"Changing course" is taken as a rate of turn above 5 deg/min... the standard leaves the threshold to
the equipment; we use 5 deg per 30 s (0.167 deg/s), a common transponder setting.

:func:`update_reports_kernel` runs each step: a vessel whose next report is due sends one (its true
position, plus optional Gaussian position noise from a per-env pre-drawn block, and its ground
velocity); the ego's picture of a target is its last report, and the observation carries the report's
age. Targets that have not reported yet are not perceived; reports older than ``MAX_AGE_S`` are
dropped (an ECDIS removes lost targets).
"""

from __future__ import annotations

import math

import numba
import numpy as np

KN = 1852.0 / 3600.0
MAX_AGE_S = 360.0
TURNING_RAD_S = math.radians(5.0) / 30.0


@numba.njit(cache=True)
def report_interval(sog_ms, rot_rad_s, class_b, moored):
    """Seconds to the next position report (ITU-R M.1371-5 Tables 1 and 2)."""
    kn = sog_ms / KN
    if class_b:
        if kn <= 2.0:
            return 180.0
        if kn <= 14.0:
            return 30.0
        if kn <= 23.0:
            return 15.0
        return 5.0
    turning = abs(rot_rad_s) > TURNING_RAD_S
    if moored and kn <= 3.0:
        return 180.0
    if kn <= 14.0:
        return 3.333333333333333 if turning else 10.0
    if kn <= 23.0:
        return 2.0 if turning else 6.0
    return 2.0


@numba.njit(cache=True)
def update_reports_kernel(E, T, t, x, y, psi, vx, vy, r, active, class_b, next_due, rep_t, rep_x, rep_y,
                          rep_vx, rep_vy, rep_psi, noise, noise_pos, noise_sigma, delivered):  # fmt: skip
    """Send the due reports of all E x T vessels at time ``t[e]`` (see module doc). Reports of env e
    reach the ego only when ``delivered[e]`` (the shore-to-ship data packet of the step got through)."""
    for e in range(E):
        for j in range(T):
            i = e * T + j
            if active[i] == 0:
                continue
            if rep_t[i] > -1e300 and t[e] - rep_t[i] > MAX_AGE_S:
                rep_t[i] = -math.inf
            if t[e] + 1e-9 < next_due[i]:
                continue
            nx = 0.0
            ny = 0.0
            if noise_sigma > 0.0:
                k = noise_pos[e]
                nx = noise[e, k, 0] * noise_sigma
                ny = noise[e, k, 1] * noise_sigma
                noise_pos[e] = (k + 1) % noise.shape[1]
            sog = math.sqrt(vx[i] * vx[i] + vy[i] * vy[i])
            next_due[i] = t[e] + report_interval(sog, r[i], class_b[i] != 0, False)
            if not delivered[e]:
                continue
            rep_t[i] = t[e]
            rep_x[i] = x[i] + nx
            rep_y[i] = y[i] + ny
            rep_vx[i] = vx[i]
            rep_vy[i] = vy[i]
            rep_psi[i] = psi[i]


def first_reports(rng: np.random.Generator, n: int, t0: float = 0.0) -> np.ndarray:
    """Next-due times of n vessels at the start of an episode: a random phase within 10 s, so that
    reports are staggered as on a real channel."""
    return t0 + rng.uniform(0.0, 10.0, n)
