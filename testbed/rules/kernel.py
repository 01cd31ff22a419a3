"""The compiled rule check: one pass over all vessels and vessel pairs of all E envs per step.

Vessels of env e are ``e * N + i`` (the egos first, then the traffic). Each rule fires an *event* on the
onset of a violation (a flag per vessel or per ordered vessel pair remembers that it is already being
violated, so a vessel that keeps speeding is one event, not one per step). Events are written into a
preallocated buffer (``ev``: env, rule, vessel a, vessel b, x, y, v1, v2, zone, variant, fault) and
counted per env and rule (``counts``) and per vessel at fault and rule (``vcounts``). ``variant`` picks the
explanation of a rule with several clauses (§ 6.16: 0 leaving/entering/crossing, 1 the downstream vessel
turning to enter); ``fault`` has bit 1 when vessel a is at fault and bit 2 when b is. No Python per vessel,
no allocation.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from harbour_maps.kernels import cell_index
from testbed.rules.articles import (
    R_BRIDGE,
    R_HARBOUR,
    R_HIGHWATER,
    R_MEET_604,
    R_MEET_904,
    R_NARROW,
    R_OVERTAKE,
    R_SMALL,
    R_SPEED,
    R_STILL,
    R_TURN,
)
from testbed.rules.zones import (
    M_BERTH,
    M_BRIDGE,
    M_BRIDGE_NARROW,
    M_ENTRY,
    M_ENTRY_TURN,
    M_HIGHWATER,
    M_MOUTH,
    M_NARROW,
    M_REGULATED,
    M_TURN,
)

# per-vessel onset flags
VF_SPEED, VF_HW, VF_STILL = 1, 2, 4
# per ordered pair onset flags
PF_CLOSE, PF_HARBOUR, PF_SMALL, PF_TURN = 1, 2, 4, 8
EV_COLS = 11
P_LIM_MOUTH, P_LIM_HW, P_LEVEL, P_MARK1, P_MARK2, P_STILL_S, P_PASS_GAP, P_SMALL_LEN, P_CROSS_CPA, \
    P_CROSS_TCPA, P_SMALL_CPA, P_SMALL_TCPA, P_MEET_LAT, P_PAIR_RANGE = range(14)
N_PARAMS = 14


@numba.njit(cache=True, inline="always")
def _lowbit(v):
    if v == 0:
        return -1
    k = 0
    while (v >> k) & 1 == 0:
        k += 1
    return k


@numba.njit(cache=True)
def _emit(ev, ev_n, counts, vcounts, e, N, rule, a, b, fa, fb, x, y, v1, v2, zone, variant=0):
    counts[e, rule] += 1
    if fa:
        vcounts[e * N + a, rule] += 1
    if fb and b >= 0:
        vcounts[e * N + b, rule] += 1
    n = ev_n[0]
    if n < ev.shape[0]:
        ev[n, 0] = e
        ev[n, 1] = rule
        ev[n, 2] = a
        ev[n, 3] = b
        ev[n, 4] = x
        ev[n, 5] = y
        ev[n, 6] = v1
        ev[n, 7] = v2
        ev[n, 8] = zone
        ev[n, 9] = variant
        ev[n, 10] = (1 if fa else 0) + (2 if fb and b >= 0 else 0)
    ev_n[0] = n + 1  # counted even when the buffer is full: the caller reports the overflow


@numba.njit(cache=True)
def gather_kernel(E, K, T, ex, ey, epsi, eu, ev, ecur, elen, ebeam, tx, ty, tpsi, tu, tact, tlen, tbeam, tcur,
                  x, y, psi, gx, gy, u, cx, cy, length, beam, active):  # fmt: skip
    """Pack K egos and T traffic vessels per env into the checker's (E * (K + T)) arrays."""
    N = K + T
    for e in range(E):
        for k in range(N):
            i = e * N + k
            if k < K:
                m = e * K + k
                s = math.sin(epsi[m])
                c = math.cos(epsi[m])
                x[i] = ex[m]
                y[i] = ey[m]
                psi[i] = epsi[m]
                u[i] = eu[m]
                cx[i] = ecur[m, 0]
                cy[i] = ecur[m, 1]
                gx[i] = eu[m] * s + ev[m] * c + cx[i]
                gy[i] = eu[m] * c - ev[m] * s + cy[i]
                length[i] = elen[m]
                beam[i] = ebeam[m]
                active[i] = 1
            else:
                m = e * T + (k - K)
                x[i] = tx[m]
                y[i] = ty[m]
                psi[i] = tpsi[m]
                u[i] = tu[m]
                cx[i] = tcur[m, 0]
                cy[i] = tcur[m, 1]
                gx[i] = tu[m] * math.sin(tpsi[m]) + cx[i]
                gy[i] = tu[m] * math.cos(tpsi[m]) + cy[i]
                length[i] = tlen[m]
                beam[i] = tbeam[m]
                active[i] = tact[m]


@numba.njit(cache=True)
def _same_water(geo, widx, xa, ya, xb, yb):
    """Whether the straight line between two vessels stays on water (sampled at 1/4, 1/2 and 3/4): vessels in
    two basins side by side do not meet or overtake each other."""
    for q in (0.25, 0.5, 0.75):
        if widx[cell_index(geo, xa + q * (xb - xa), ya + q * (yb - ya))] < 0:  # land
            return False
    return True


@numba.njit(cache=True)
def check_kernel(E, N, dt, x, y, psi, gx, gy, u, cx, cy, length, beam, active, blue, geo, widx, cell_bits,
                 masks, p, prev_z, faced_up, still_t, vflags, prev_along, pflags, counts, vcounts, ev, ev_n,
                 lane_dir):  # fmt: skip
    m_mouth = masks[M_MOUTH]
    m_entry = masks[M_ENTRY]
    m_turn = masks[M_TURN]
    m_narrow = masks[M_NARROW]
    m_bridge = masks[M_BRIDGE]
    m_berth = masks[M_BERTH]
    m_reg = masks[M_REGULATED]
    m_hw = masks[M_HIGHWATER]
    m_entry_turn = masks[M_ENTRY_TURN]
    m_bridge_narrow = masks[M_BRIDGE_NARROW]
    m_still = m_bridge | m_entry | m_mouth | m_turn
    high = p[P_LEVEL] >= p[P_MARK1]
    stopped = p[P_LEVEL] >= p[P_MARK2]
    zbuf = np.zeros(N, dtype=np.int64)
    wrong = np.zeros(N, dtype=np.uint8)  # heading against the one-way lane it is nearest to
    cup = np.zeros(N)
    sn = np.zeros(N)
    cs = np.zeros(N)
    r2max = p[P_PAIR_RANGE] * p[P_PAIR_RANGE]
    for e in range(E):
        # --- per vessel ---
        for k in range(N):
            i = e * N + k
            if active[i] == 0:
                prev_z[i] = 0
                faced_up[i] = 1  # a vessel that (re)appears: its approach is unknown
                still_t[i] = 0.0
                vflags[i] = 0
                zbuf[k] = 0
                continue
            wc = widx[cell_index(geo, x[i], y[i])]
            z = cell_bits[wc]
            zbuf[k] = z
            sp = math.sin(psi[i])
            cp = math.cos(psi[i])
            sn[k] = sp
            cs[k] = cp
            wrong[k] = 1 if sp * lane_dir[wc, 0] + cp * lane_dir[wc, 1] < -0.5 else 0
            fl = math.hypot(cx[i], cy[i])
            c_up = (sp * cx[i] + cp * cy[i]) / fl if fl > 0.05 else 0.0  # +1 heading downstream
            cup[k] = c_up
            sog = math.hypot(gx[i], gy[i])
            # § 6.20: reduced speed in front of harbour mouths and near berths (speed through the water)
            zs = z & (m_mouth | m_berth)
            if zs != 0 and abs(u[i]) > p[P_LIM_MOUTH]:
                if vflags[i] & VF_SPEED == 0:
                    vflags[i] |= VF_SPEED
                    _emit(ev, ev_n, counts, vcounts, e, N, R_SPEED, k, -1, True, False, x[i], y[i],
                          abs(u[i]) * 3.6, p[P_LIM_MOUTH] * 3.6, _lowbit(zs))
            elif zs == 0 or abs(u[i]) < p[P_LIM_MOUTH] - 0.2:
                vflags[i] &= ~VF_SPEED
            # § 10.01: high-water speed limit (over ground) between the marks; stop above mark II
            if high and (z & m_hw) != 0:
                bad = abs(u[i]) > 0.5 if stopped else sog > p[P_LIM_HW]
                ok = abs(u[i]) < 0.3 if stopped else sog < p[P_LIM_HW] - 0.2
                if bad and vflags[i] & VF_HW == 0:
                    vflags[i] |= VF_HW
                    _emit(ev, ev_n, counts, vcounts, e, N, R_HIGHWATER, k, -1, True, False, x[i], y[i],
                          sog * 3.6, p[P_LEVEL], _lowbit(z & m_hw))
                elif ok:
                    vflags[i] &= ~VF_HW
            # § 7.02: no lying still under bridges, in harbour entrances and mouths, on turning areas
            zst = z & m_still
            if zst != 0 and sog < 0.3:
                still_t[i] += dt
                if still_t[i] >= p[P_STILL_S] and vflags[i] & VF_STILL == 0:
                    vflags[i] |= VF_STILL
                    _emit(ev, ev_n, counts, vcounts, e, N, R_STILL, k, -1, True, False, x[i], y[i],
                          still_t[i], 0.0, _lowbit(zst))
            else:
                still_t[i] = 0.0
                vflags[i] &= ~VF_STILL
            # § 9.07 Nr. 5: a downstream vessel turns to face upstream before entering a Ruhrort harbour
            pz = prev_z[i]
            newly = z & m_entry_turn & ~pz
            if newly != 0 and (pz & m_turn) != 0 and faced_up[i] == 0:
                _emit(ev, ev_n, counts, vcounts, e, N, R_TURN, k, -1, True, False, x[i], y[i], c_up, 0.0,
                      _lowbit(newly))
            # facing upstream since it last headed downstream (a turn in the harbour keeps the state)
            if c_up < -0.5:
                faced_up[i] = 1
            elif c_up > 0.8:  # within ~37 deg of downstream
                faced_up[i] = 0
            prev_z[i] = z
        # --- per ordered pair ---
        for a in range(N):
            ia = e * N + a
            for b in range(N):
                if b == a:
                    continue
                ib = e * N + b
                rx = x[ib] - x[ia]
                ry = y[ib] - y[ia]
                d2 = rx * rx + ry * ry
                if active[ia] == 0 or active[ib] == 0 or d2 > r2max:
                    if pflags[e, a, b] != 0 or not math.isnan(prev_along[e, a, b]):
                        prev_along[e, a, b] = math.nan
                        pflags[e, a, b] = 0
                    continue
                sa = sn[a]
                ca = cs[a]
                along = rx * sa + ry * ca
                lat = rx * ca - ry * sa  # + : b on a's starboard side
                pa = prev_along[e, a, b]
                prev_along[e, a, b] = along
                cosh = ca * cs[b] + sa * sn[b]
                half_l = 0.5 * (length[ia] + length[ib])
                small_a = length[ia] < p[P_SMALL_LEN]
                small_b = length[ib] < p[P_SMALL_LEN]
                za = zbuf[a]
                zb = zbuf[b]
                passed = pa > 0.0 and along <= 0.0  # b came abeam of a this step
                # vessels passing each other (meeting, overtaking) in the same water, not in two basins
                passing = abs(lat) < p[P_MEET_LAT] and not small_a and not small_b
                if passing and (passed or cosh > 0.7):
                    passing = _same_water(geo, widx, x[ia], y[ia], x[ib], y[ib])
                # meeting (§ 9.04 on a regulated section, § 6.04 elsewhere): port-to-port unless the
                # upstream vessel shows the blue board; small craft are exempt (§ 6.02); courses within 30 deg of
                # opposite. At fault: the one found heading against the lane on its side of the fairway
                # (the other kept to its side), else both
                if a < b and passed and cosh < -0.866 and passing:
                    if lat > 0.0:
                        up = a if cup[a] < cup[b] else b
                        if blue[e * N + up] == 0:
                            rule = R_MEET_904 if ((za | zb) & m_reg) != 0 else R_MEET_604
                            fa = wrong[a] == 1 or wrong[b] == 0
                            fb = wrong[b] == 1 or wrong[a] == 0
                            _emit(ev, ev_n, counts, vcounts, e, N, rule, a, b, fa, fb, 0.5 * (x[ia] + x[ib]),
                                  0.5 * (y[ia] + y[ib]), abs(lat), 0.0, _lowbit((za | zb) & m_reg))
                # overtaking: a passed b going the same way
                if cosh > 0.7 and passing:
                    if passed:
                        zn = (za | zb) & m_narrow
                        zbn = (za | zb) & m_bridge_narrow
                        if zbn != 0:
                            _emit(ev, ev_n, counts, vcounts, e, N, R_BRIDGE, a, b, True, False, x[ia], y[ia],
                                  abs(lat), 0.0, _lowbit(zbn))
                        elif zn != 0:
                            _emit(ev, ev_n, counts, vcounts, e, N, R_NARROW, a, b, True, False, x[ia], y[ia],
                                  abs(lat), 0.0, _lowbit(zn))
                    # § 6.09/6.10: hulls alongside with too little room while a is the faster one
                    gap = abs(lat) - 0.5 * (beam[ia] + beam[ib])
                    va = gx[ia] * sa + gy[ia] * ca
                    vb = gx[ib] * sa + gy[ib] * ca
                    alongside = abs(along) < half_l
                    if alongside and gap < p[P_PASS_GAP] and va > vb + 0.2:
                        if pflags[e, a, b] & PF_CLOSE == 0:
                            pflags[e, a, b] |= PF_CLOSE
                            _emit(ev, ev_n, counts, vcounts, e, N, R_OVERTAKE, a, b, True, False, x[ia], y[ia],
                                  max(gap, 0.0), 0.0, -1)
                    elif not alongside:
                        pflags[e, a, b] &= ~PF_CLOSE
                # § 6.16: a leaves, enters or crosses at a harbour mouth into the path of a through vessel b
                zh = za & (m_mouth | m_entry)
                crossing_a = zh != 0 and abs(cup[a]) < 0.7 and (za & m_narrow) == 0 or (za & m_entry) != 0
                through_b = (zb & (m_entry | m_narrow)) == 0 and abs(cup[b]) >= 0.7
                # § 6.16 Nr. 1, 2nd sentence: a downstream vessel that turns to enter a harbour (on the turning
                # area, no longer heading downstream, not yet facing upstream) gives way to an upstream vessel
                # there (on the same turning area, heading upstream); the more specific clause where both apply
                zt_ab = za & zb & m_turn
                # under way = moving over ground (a vessel holding its position against the current is waiting)
                moving_a = gx[ia] * gx[ia] + gy[ia] * gy[ia] > 0.09
                turning = (zt_ab != 0 and faced_up[ia] == 0 and cup[a] < 0.7 and moving_a
                           and cup[b] <= -0.7 and not small_b)
                harbour = zh != 0 and crossing_a and through_b and not small_b and moving_a and not turning
                small = small_a and not small_b
                if not harbour and not small and not turning and \
                        (pflags[e, a, b] & (PF_HARBOUR | PF_SMALL | PF_TURN)) == 0:
                    continue
                # closest approach of the pair (only where a rule needs it)
                dvx = gx[ib] - gx[ia]
                dvy = gy[ib] - gy[ia]
                dv2 = dvx * dvx + dvy * dvy
                tcpa = -(rx * dvx + ry * dvy) / dv2 if dv2 > 1e-6 else -1.0
                cpa = math.hypot(rx + dvx * tcpa, ry + dvy * tcpa) if tcpa > 0.0 else math.sqrt(d2)
                conflict = 0.0 < tcpa < p[P_CROSS_TCPA] and cpa < half_l + p[P_CROSS_CPA]
                if harbour and conflict:
                    if pflags[e, a, b] & PF_HARBOUR == 0:
                        pflags[e, a, b] |= PF_HARBOUR
                        _emit(ev, ev_n, counts, vcounts, e, N, R_HARBOUR, a, b, True, False, x[ia], y[ia], cpa,
                              tcpa, _lowbit(zh))
                elif not conflict:
                    pflags[e, a, b] &= ~PF_HARBOUR
                if turning and conflict:
                    if pflags[e, a, b] & PF_TURN == 0:
                        pflags[e, a, b] |= PF_TURN
                        _emit(ev, ev_n, counts, vcounts, e, N, R_HARBOUR, a, b, True, False, x[ia], y[ia], cpa,
                              tcpa, _lowbit(zt_ab), 1)
                elif not conflict:
                    pflags[e, a, b] &= ~PF_TURN
                # § 1.01/6.02: small craft leave all other vessels the room they need
                sconf = 0.0 < tcpa < p[P_SMALL_TCPA] and cpa < half_l + p[P_SMALL_CPA]
                if small and sconf:
                    if pflags[e, a, b] & PF_SMALL == 0:
                        pflags[e, a, b] |= PF_SMALL
                        _emit(ev, ev_n, counts, vcounts, e, N, R_SMALL, a, b, True, False, x[ia], y[ia], cpa, tcpa,
                              -1)
                elif not sconf:
                    pflags[e, a, b] &= ~PF_SMALL
