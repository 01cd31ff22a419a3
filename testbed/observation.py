"""Perception: the observation vector, contacts and the raw reward features, in one compiled pass.

:func:`perceive_kernel` runs once per step over all E environments. For each it casts the range rays
(a table lookup, :mod:`harbour_maps.kernels`), projects the ego on its planned route, finds the nearest
targets with CPA/TCPA, checks grounding (hull points against the signed distance) and collisions
(hull capsules), and writes the observation row and the raw reward components.

Flat observation layout (``float32``, every entry clipped to [-10, 10]); ``K`` rays, ``M`` targets
(:data:`LAYOUT_TABLE`, appended here; :data:`OBS_LAYOUT_VERSION` is derived from it):

Targets are the M nearest traffic vessels within the target range, nearest first, as the ego
perceives them: ground truth every step (``observation.targets="truth"``), or the last AIS report
that has arrived (``"ais"``: ITU-R M.1371 reporting intervals, optional position noise, see
:mod:`testbed.ais.reporting`); relative velocities are over ground. Collisions and the near-miss
reward always use the truth. The
``dict`` observation holds the same numbers split into ``ego`` (0-5), ``route`` (6-16), ``current``
(17-18), ``rays`` (K), ``targets`` (M x 9) and ``link`` (4).
"""

from __future__ import annotations

import hashlib
import math
import re

import numba
import numpy as np

from harbour_maps.kernels import ray_at, sdf_at

# The flat observation layout. Policies record OBS_LAYOUT_VERSION (and the rows) when exported, and
# agents.loader refuses a policy trained on a different layout, naming the rows that differ. Any change
# to this table changes the hash; bump OBS_LAYOUT_FORMAT when the meaning changes without the text.
LAYOUT_TABLE = """\
====================  ===================================================  ========  ==============
index                 meaning                                              unit      typical range
====================  ===================================================  ========  ==============
0                     surge u through the water / 5                        m/s       [-1, 1.5]
1                     sway v / 2                                           m/s       [-1, 1]
2                     yaw rate r / 0.05                                    rad/s     [-2, 2]
3                     rudder angle / max rudder                            -         [-1, 1]
4                     propeller revs / max revs                            -         [-0.7, 1]
5                     speed over ground / 5                                m/s       [0, 1.5]
6                     cross-track error to the route / 100 (+ starboard)   m         [-5, 5]
7, 8                  sin, cos of (route direction - heading)              -         [-1, 1]
9, 10                 sin, cos of (bearing of the line-of-sight point      -         [-1, 1]
                      on the route - heading)
11                    distance to the goal / 2000                          m         [0, 5]
12, 13                sin, cos of (bearing to the goal - heading)          -         [-1, 1]
14, 15                sin, cos of the goal heading error (either way       -         [-1, 1]
                      along a quay counts)
16                    route remaining / 5000                               m         [0, 5]
17, 18                current at the ego in the body frame / 3 (fwd, stb)  m/s       [-1, 1]
19 .. 19+K-1          ray k length / ray range (angle k of the fan,        -         [0, 1]
                      relative to the heading, + to starboard)
19+K + 9 m + 0        target m present (1) or padding (0)                  -         {0, 1}
          + 1, 2      relative position, body frame (fwd, stb) / range     m         [-1, 1]
          + 3, 4      relative velocity, body frame / 5                    m/s       [-2, 2]
          + 5         CPA / 1000                                           m         [0, 2]
          + 6         TCPA / 600 (negative: diverging)                     s         [-1, 1]
          + 7         target length / 200                                  m         [0, 1.5]
          + 8         age of the target information / 60 (0 with          s         [0, 6]
                      ``observation.targets="truth"``; the age of the
                      last AIS report with ``"ais"``)
19+K+9M + 0           link SINR / 30 (1.0 with the ideal link)             dB        [-1, 1.5]
          + 1         latency of the last delivered data packet / 100     ms        [0, 10]
          + 2         data-path loss rate (exponential mean, ~20 steps)   -         [0, 1]
          + 3         time since the last command arrived / timeout        -         [0, 10]
                      (remote operation; 0 onboard)
====================  ===================================================  ========  ==============
"""
if __doc__:
    __doc__ += "\n" + LAYOUT_TABLE
OBS_LAYOUT_FORMAT = 1


def layout_rows(table: str = LAYOUT_TABLE) -> list[tuple[str, str, str, str]]:
    """The rows of :data:`LAYOUT_TABLE` as (index, meaning, unit, typical range); wrapped meanings joined."""
    lines = table.splitlines()
    meaning_col = lines[0].index("=", lines[0].index(" "))
    rows: list[list[str]] = []
    for line in lines[3:]:
        if not line.strip() or line.startswith("="):
            continue
        if not line[:meaning_col].strip() and rows:  # the meaning wraps onto this line
            rows[-1][1] += " " + line.strip()
            continue
        cells = re.split(r"\s{2,}", line.strip())
        rows.append((cells + ["", "", "", ""])[:4])
    return [tuple(r) for r in rows]


OBS_LAYOUT = layout_rows()
OBS_LAYOUT_VERSION = f"{OBS_LAYOUT_FORMAT}-" + hashlib.sha256(
    "\n".join("|".join(r) for r in OBS_LAYOUT).encode()).hexdigest()[:12]  # fmt: skip

N_EGO = 19
TARGET_FEATURES = 9
OBS_CLIP = 10.0

# raw reward components (columns of ``comps``), in this order
COMPONENTS = ("progress", "cross_track", "heading", "collision", "grounding", "near_miss", "speed_limit",
              "energy", "smoothness", "goal")  # fmt: skip
# extra per-env features (columns of ``feats``)
F_S, F_CROSS, F_DGOAL, F_GOALHEAD, F_SOG, F_COLLIDED, F_GROUNDED, F_OUT, F_MINCPA, F_REACHED, F_HARBOUR, \
    F_MIN_SDF = range(12)  # fmt: skip
N_FEATS = 12


N_LINK = 4  # link block at the end: SINR, data latency, data loss rate, command age (testbed.link.env_link)


def obs_dim(n_rays: int, n_targets: int) -> int:
    return N_EGO + n_rays + TARGET_FEATURES * n_targets + N_LINK


def ray_angles(n_rays: int, fov_deg: float) -> np.ndarray:
    """Ray angles relative to the heading (radians, + to starboard), spread evenly over the fan."""
    if fov_deg >= 360.0:
        return np.linspace(-math.pi, math.pi, n_rays, endpoint=False)
    half = math.radians(fov_deg) / 2
    return np.linspace(-half, half, n_rays) if n_rays > 1 else np.zeros(1)


def split_dict(obs: np.ndarray, n_rays: int, n_targets: int) -> dict[str, np.ndarray]:
    """The flat observation(s) (..., D) split into the ``dict`` observation."""
    k0 = N_EGO
    return {
        "ego": obs[..., 0:6],
        "route": obs[..., 6:17],
        "current": obs[..., 17:19],
        "rays": obs[..., k0:k0 + n_rays],
        "targets": obs[..., k0 + n_rays:k0 + n_rays + TARGET_FEATURES * n_targets].reshape(
            *obs.shape[:-1], n_targets, TARGET_FEATURES),
        "link": obs[..., obs.shape[-1] - N_LINK:],
    }


@numba.njit(cache=True, inline="always")
def _wrap(a):
    return (a + math.pi) % (2.0 * math.pi) - math.pi


@numba.njit(cache=True, inline="always")
def _clip(v):
    return min(max(v, -OBS_CLIP), OBS_CLIP)


@numba.njit(cache=True)
def _seg_seg_dist(p1x, p1y, q1x, q1y, p2x, p2y, q2x, q2y):
    """Distance between segments p1-q1 and p2-q2 (Ericson, Real-Time Collision Detection 5.1.9)."""
    d1x, d1y = q1x - p1x, q1y - p1y
    d2x, d2y = q2x - p2x, q2y - p2y
    rx, ry = p1x - p2x, p1y - p2y
    a = d1x * d1x + d1y * d1y
    e = d2x * d2x + d2y * d2y
    f = d2x * rx + d2y * ry
    if a <= 1e-12 and e <= 1e-12:
        return math.sqrt(rx * rx + ry * ry)
    if a <= 1e-12:
        s = 0.0
        t = min(max(f / e, 0.0), 1.0)
    else:
        c = d1x * rx + d1y * ry
        if e <= 1e-12:
            t = 0.0
            s = min(max(-c / a, 0.0), 1.0)
        else:
            b = d1x * d2x + d1y * d2y
            den = a * e - b * b
            s = min(max((b * f - c * e) / den, 0.0), 1.0) if den > 1e-12 else 0.0
            t = (b * s + f) / e
            if t < 0.0:
                t = 0.0
                s = min(max(-c / a, 0.0), 1.0)
            elif t > 1.0:
                t = 1.0
                s = min(max((b - c) / a, 0.0), 1.0)
    cx = p1x + d1x * s - (p2x + d2x * t)
    cy = p1y + d1y * s - (p2y + d2y * t)
    return math.sqrt(cx * cx + cy * cy)


@numba.njit(cache=True)
def command_kernel(actions_in, actions, rmax, nmax, rud, rev):
    """Clip the actions to [-1, 1] (NaN -> 0) and scale them to rudder [rad] and revs [rev/s] commands."""
    for e in range(actions.shape[0]):
        for k in range(2):
            a = actions_in[e, k]
            actions[e, k] = min(max(a, -1.0), 1.0) if a == a else 0.0
        rud[e] = actions[e, 0] * rmax[e]
        rev[e] = actions[e, 1] * nmax[e]


@numba.njit(cache=True)
def _cpa_tcpa(rx, ry, dvx, dvy):
    """(CPA, TCPA) of a target at (rx, ry) relative to the ego, moving at (dvx, dvy) relative to it."""
    dv2 = dvx * dvx + dvy * dvy
    tcpa = -(rx * dvx + ry * dvy) / dv2 if dv2 > 1e-9 else 0.0
    cpx, cpy = rx + dvx * max(tcpa, 0.0), ry + dvy * max(tcpa, 0.0)
    return math.sqrt(cpx * cpx + cpy * cpy), tcpa


@numba.njit(cache=True)
def _capsules_touch(e1x, e1y, e2x, e2y, hb, px, py, psi, length, beam):
    """Whether the ego's hull capsule (segment e1-e2, radius hb) touches another hull's capsule."""
    st, ct = math.sin(psi), math.cos(psi)
    ht = max(0.5 * (length - beam), 0.0)
    dd = _seg_seg_dist(e1x, e1y, e2x, e2y, px + ht * st, py + ht * ct, px - ht * st, py - ht * ct)
    return dd < hb + 0.5 * beam


@numba.njit(cache=True)
def _insert_target(o, tbuf, K, base, M, ntar, dist, rx, ry, dvx, dvy, cpa, tcpa, length, age, sh, ch, target_range):
    """Insert one target into the distance-sorted list of the M nearest (as in :func:`perceive_kernel`);
    returns the new count."""
    pos = ntar
    while pos > 0 and tbuf[K + pos - 1] > dist:
        pos -= 1
    if pos < M:
        last = min(ntar, M - 1)
        for q in range(last, pos, -1):
            tbuf[K + q] = tbuf[K + q - 1]
            for f in range(TARGET_FEATURES):
                o[base + q * TARGET_FEATURES + f] = o[base + (q - 1) * TARGET_FEATURES + f]
        tbuf[K + pos] = dist
        b = base + pos * TARGET_FEATURES
        o[b] = 1.0
        o[b + 1] = _clip((rx * sh + ry * ch) / target_range)
        o[b + 2] = _clip((rx * ch - ry * sh) / target_range)
        o[b + 3] = _clip((dvx * sh + dvy * ch) / 5.0)
        o[b + 4] = _clip((dvx * ch - dvy * sh) / 5.0)
        o[b + 5] = _clip(cpa / 1000.0)
        o[b + 6] = _clip(tcpa / 600.0)
        o[b + 7] = _clip(length / 200.0)
        o[b + 8] = _clip(age / 60.0)
        if ntar < M:
            ntar += 1
    return ntar


@numba.njit(cache=True)
def perceive_kernel(
    e0, e1, T, ex, ey, epsi, eu, ev, er, edelta, en, ecur, elen, ebeam, ermax, enmax,
    tx, ty, tpsi, tu, tactive, tlen, tbeam, tcur,
    ais_mode, tnow, rep_t, rep_x, rep_y, rep_vx, rep_vy,
    route, route_s, route_n, route_seg, goal, goal_tol,
    geo, sdf, widx, rays, harbour_cell,
    angles, cos_a, sin_a, ray_range, M, target_range, near_cpa, near_tcpa, speed_limit,
    actions, prev_actions, prev_s, weights, obs, feats, comps, reward, done, tbuf, KA, eactive,
    erep_t, erep_x, erep_y, erep_vx, erep_vy,
):  # fmt: skip
    """Ego slots e0..e1 (env ``e // KA``: KA egos per env share its traffic; the other active egos of
    the env are targets too, by truth or, with ``ais_mode``, by their last AIS report ``erep_*``; collisions
    between egos count)."""
    K = angles.shape[0]
    xmax = geo[0] + geo[4] * geo[3]
    ymax = geo[1] + geo[5] * geo[3]
    for e in range(e0, e1):
        env = e // KA
        x, y, psi = ex[e], ey[e], epsi[e]
        sh, ch = math.sin(psi), math.cos(psi)
        ce, cn = ecur[e, 0], ecur[e, 1]
        gvx = eu[e] * sh + ev[e] * ch + ce
        gvy = eu[e] * ch - ev[e] * sh + cn
        sog = math.sqrt(gvx * gvx + gvy * gvy)
        o = obs[e]
        o[0] = _clip(eu[e] / 5.0)
        o[1] = _clip(ev[e] / 2.0)
        o[2] = _clip(er[e] / 0.05)
        o[3] = _clip(edelta[e] / ermax[e])
        o[4] = _clip(en[e] / enmax[e])
        o[5] = _clip(sog / 5.0)
        # --- route projection (search around the last segment) ---
        n = route_n[e]
        k0 = max(route_seg[e] - 1, 0)
        k1 = min(route_seg[e] + 12, n - 1)
        best = 1e300
        bk = k0
        bt = 0.0
        for k in range(k0, k1):
            ax, ay = route[e, k, 0], route[e, k, 1]
            dx, dy = route[e, k + 1, 0] - ax, route[e, k + 1, 1] - ay
            l2 = dx * dx + dy * dy
            t = ((x - ax) * dx + (y - ay) * dy) / l2 if l2 > 1e-12 else 0.0
            t = min(max(t, 0.0), 1.0)
            px, py = ax + t * dx - x, ay + t * dy - y
            d2 = px * px + py * py
            if d2 < best:
                best, bk, bt = d2, k, t
        route_seg[e] = bk
        ax, ay = route[e, bk, 0], route[e, bk, 1]
        dx, dy = route[e, bk + 1, 0] - ax, route[e, bk + 1, 1] - ay
        seglen = math.sqrt(dx * dx + dy * dy)
        s_here = route_s[e, bk] + bt * seglen
        path_dir = math.atan2(dx, dy)
        # + cross-track to starboard of the route direction
        cross = ((x - ax) * dy - (y - ay) * dx) / max(seglen, 1e-9)
        # line-of-sight point
        look = min(max(2.0 * elen[e], 100.0), 300.0)
        s_t = min(s_here + look, route_s[e, n - 1])
        kk = bk
        while kk + 2 < n and route_s[e, kk + 1] < s_t:
            kk += 1
        ll = route_s[e, kk + 1] - route_s[e, kk]
        tt = (s_t - route_s[e, kk]) / ll if ll > 1e-9 else 1.0
        lx = route[e, kk, 0] + tt * (route[e, kk + 1, 0] - route[e, kk, 0])
        ly = route[e, kk, 1] + tt * (route[e, kk + 1, 1] - route[e, kk, 1])
        los_err = _wrap(math.atan2(lx - x, ly - y) - psi)
        path_err = _wrap(path_dir - psi)
        gx, gy = goal[e, 0], goal[e, 1]
        dgoal = math.sqrt((gx - x) ** 2 + (gy - y) ** 2)
        gbear = _wrap(math.atan2(gx - x, gy - y) - psi)
        gerr = 0.0
        if goal[e, 3] > 0.5:
            gerr = _wrap(goal[e, 2] - psi)
            if goal[e, 3] > 1.5 and abs(gerr) > 0.5 * math.pi:  # either way along the quay
                gerr = _wrap(gerr + math.pi)
        o[6] = _clip(cross / 100.0)
        o[7] = math.sin(path_err)
        o[8] = math.cos(path_err)
        o[9] = math.sin(los_err)
        o[10] = math.cos(los_err)
        o[11] = _clip(dgoal / 2000.0)
        o[12] = math.sin(gbear)
        o[13] = math.cos(gbear)
        o[14] = math.sin(gerr)
        o[15] = math.cos(gerr)
        o[16] = _clip((route_s[e, n - 1] - s_here) / 5000.0)
        o[17] = _clip((ce * sh + cn * ch) / 3.0)
        o[18] = _clip((ce * ch - cn * sh) / 3.0)
        # --- rays ---
        ray_at(geo, widx, rays, x, y, psi, angles, cos_a, sin_a, tbuf, ray_range)
        for k in range(K):
            o[N_EGO + k] = tbuf[k] / ray_range
        # --- grounding: hull points against the signed distance ---
        hl = 0.5 * elen[e]
        hb = 0.5 * ebeam[e]
        min_sdf = 1e300
        for q in range(6):
            if q == 0:
                a_, b_ = hl, 0.0
            elif q == 1:
                a_, b_ = -hl, 0.0
            else:
                a_ = 0.5 * hl if q < 4 else -0.5 * hl
                b_ = hb if q % 2 == 0 else -hb
            px = x + a_ * sh + b_ * ch
            py = y + a_ * ch - b_ * sh
            d = sdf_at(geo, sdf, px, py)
            if d < min_sdf:
                min_sdf = d
        out_of_map = x < geo[0] or y < geo[1] or x > xmax or y > ymax
        # --- targets: nearest M, CPA / TCPA, collisions ---
        base = N_EGO + K
        collided = 0.0
        min_cpa = 1e9
        # ego hull capsule
        he = max(hl - hb, 0.0)
        e1x, e1y, e2x, e2y = x + he * sh, y + he * ch, x - he * sh, y - he * ch
        ntar = 0
        for j in range(T):
            i = env * T + j
            if tactive[i] == 0:
                continue
            rx, ry = tx[i] - x, ty[i] - y
            dist = math.sqrt(rx * rx + ry * ry)
            # collision: capsule distance
            if dist < 0.5 * (elen[e] + tlen[i]) + 5.0 and _capsules_touch(e1x, e1y, e2x, e2y, hb, tx[i], ty[i],
                                                                        tpsi[i], tlen[i], tbeam[i]):
                collided = 1.0
            # truth (over ground, with the current at the target) for the near-miss measure
            tvx = tu[i] * math.sin(tpsi[i]) + tcur[i, 0]
            tvy = tu[i] * math.cos(tpsi[i]) + tcur[i, 1]
            dvx, dvy = tvx - gvx, tvy - gvy
            cpa, tcpa = _cpa_tcpa(rx, ry, dvx, dvy)
            if 0.0 <= tcpa <= near_tcpa and cpa < min_cpa:
                min_cpa = cpa
            # what the ego perceives: the truth, or the last AIS report that has arrived
            age = 0.0
            if ais_mode:
                ir = (e % KA) * (rep_t.shape[0] // KA) + i  # each ego's own AIS picture (i with KA = 1)
                if rep_t[ir] < -1e300:
                    continue  # not reported yet (or lost)
                age = tnow[env] - rep_t[ir]
                rx, ry = rep_x[ir] - x, rep_y[ir] - y
                dist = math.sqrt(rx * rx + ry * ry)
                dvx, dvy = rep_vx[ir] - gvx, rep_vy[ir] - gvy
                cpa, tcpa = _cpa_tcpa(rx, ry, dvx, dvy)
            if dist <= target_range and M > 0:
                # insertion into the sorted list of the M nearest (tbuf holds distances after K)
                ntar = _insert_target(o, tbuf, K, base, M, ntar, dist, rx, ry, dvx, dvy, cpa, tcpa, tlen[i], age,
                                      sh, ch, target_range)  # fmt: skip
        for a in range(KA if KA > 1 else 0):  # the other egos of this env
            m = env * KA + a
            if m == e or eactive[m] == 0:
                continue
            rx, ry = ex[m] - x, ey[m] - y
            dist = math.sqrt(rx * rx + ry * ry)
            if dist < 0.5 * (elen[e] + elen[m]) + 5.0 and _capsules_touch(e1x, e1y, e2x, e2y, hb, ex[m], ey[m],
                                                                        epsi[m], elen[m], ebeam[m]):
                collided = 1.0
            sm, cm = math.sin(epsi[m]), math.cos(epsi[m])
            dvx = eu[m] * sm + ev[m] * cm + ecur[m, 0] - gvx
            dvy = eu[m] * cm - ev[m] * sm + ecur[m, 1] - gvy
            cpa, tcpa = _cpa_tcpa(rx, ry, dvx, dvy)
            if 0.0 <= tcpa <= near_tcpa and cpa < min_cpa:
                min_cpa = cpa
            age = 0.0
            if ais_mode:  # its last AIS report
                if erep_t[m] < -1e300:
                    continue
                age = tnow[env] - erep_t[m]
                rx, ry = erep_x[m] - x, erep_y[m] - y
                dist = math.sqrt(rx * rx + ry * ry)
                dvx, dvy = erep_vx[m] - gvx, erep_vy[m] - gvy
                cpa, tcpa = _cpa_tcpa(rx, ry, dvx, dvy)
            if dist <= target_range and M > 0:
                ntar = _insert_target(o, tbuf, K, base, M, ntar, dist, rx, ry, dvx, dvy, cpa, tcpa, elen[m],
                                      age, sh, ch, target_range)  # fmt: skip
        for q in range(ntar, M):
            for f in range(TARGET_FEATURES):
                o[base + q * TARGET_FEATURES + f] = 0.0
        # --- harbour zone (speed limit) ---
        w = widx[int(min(max((x - geo[0]) * geo[2], 0.0), geo[4] - 1e-9))
                 + int(min(max((y - geo[1]) * geo[2], 0.0), geo[5] - 1e-9)) * int(geo[4])]  # fmt: skip
        in_harbour = harbour_cell[w]
        # --- goal ---
        reached = dgoal <= goal_tol[e, 0] and abs(eu[e]) <= goal_tol[e, 2]
        if goal[e, 3] > 0.5 and abs(gerr) > goal_tol[e, 1]:
            reached = False
        f_ = feats[e]
        f_[F_S] = s_here
        f_[F_CROSS] = cross
        f_[F_DGOAL] = dgoal
        f_[F_GOALHEAD] = gerr
        f_[F_SOG] = sog
        f_[F_COLLIDED] = collided
        f_[F_GROUNDED] = 1.0 if min_sdf < 0.0 else 0.0
        f_[F_OUT] = 1.0 if out_of_map else 0.0
        f_[F_MINCPA] = min_cpa
        f_[F_REACHED] = 1.0 if reached else 0.0
        f_[F_HARBOUR] = in_harbour
        f_[F_MIN_SDF] = min_sdf
        # --- raw reward components ---
        c = comps[e]
        c[0] = (s_here - prev_s[e]) / 100.0
        c[1] = min(abs(cross) / 50.0, 3.0)
        c[2] = abs(path_err) / math.pi
        c[3] = collided
        c[4] = f_[F_GROUNDED]
        c[5] = 1.0 if min_cpa < near_cpa else 0.0
        c[6] = max(sog - speed_limit, 0.0) * in_harbour
        nr = en[e] / enmax[e]
        c[7] = abs(nr * nr * nr)
        da0 = actions[e, 0] - prev_actions[e, 0]
        da1 = actions[e, 1] - prev_actions[e, 1]
        c[8] = da0 * da0 + da1 * da1
        c[9] = f_[F_REACHED]
        rew = 0.0  # summed in a fixed order: bit-identical whatever the batch size (unlike BLAS)
        for q in range(c.shape[0]):
            rew += c[q] * weights[q]
        reward[e] = rew
        done[e] = reached or collided > 0.0 or min_sdf < 0.0 or out_of_map
        prev_s[e] = s_here
        prev_actions[e, 0] = actions[e, 0]
        prev_actions[e, 1] = actions[e, 1]
