"""The step of :class:`testbed.world.World` (one ego per env) as two compiled calls instead of about ten.

Each stage of a step is a compiled kernel of its own part (commands and perception in
:mod:`testbed.observation`, the current in :mod:`harbour_maps.kernels`, the dynamics in :mod:`vessels`,
traffic control in :mod:`testbed.traffic`, the AIS replay and reports in :mod:`testbed.ais`, the rule
check in :mod:`testbed.rules.kernel`). Called one by one from Python, each call unboxes its array
arguments again (about 0.1 us per array, some 300 per step) and the glue between them costs as much again.
The two kernels here call the same part kernels, in the same order, on the same arrays, from compiled
code: they add no physics or perception of their own, and the results are bit for bit those of the
stage-by-stage step (tests/testbed/test_fused_step.py).

- :func:`advance_kernel`: actions -> commands, the current at the egos, the ego dynamics (MMG or
  Nomoto), the traffic's commands and dynamics, the episode clocks, the AIS replay. It stops there
  when a replayed vessel was just handed over (its lane is looked up in Python, rarely) and because
  the traffic's ground velocities for the AIS reports are taken with numpy's ``sin`` / ``cos`` (which
  may round differently from the compiled ones).
- :func:`observe_kernel`: the AIS reports of the traffic, perception, reward and termination, then the
  rule check (``rules_params is None``: the rules are off; numba drops that branch when compiling).

The vessel states are passed as their (8, N) blocks (:meth:`vessels.state.VesselState.zeros` allocates
the eight fields as rows of one array), so one argument carries eight arrays.
"""

from __future__ import annotations

import numba

from harbour_maps.kernels import current_xy_batch
from testbed.ais.replay import handover_kernel, replay_kernel
from testbed.ais.reporting import update_reports_kernel
from testbed.observation import command_kernel, perceive_kernel
from testbed.rules.kernel import check_kernel, gather_kernel
from testbed.traffic import _through_water, control_kernel
from vessels import mmg, nomoto

HANDOVER = 1  # advance_kernel: a replayed vessel was handed over (``traffic._take_over`` is due)


@numba.njit(cache=True)
def advance_kernel(
    acts, actions, ermax, enmax, rud, rev,
    geo, widx, cfield, creach, speeds,
    ego_nomoto, econsts, es, ecur, ensub, eh, elen, ebeam, eactive,
    T, lxy, ls, lstart, llen, ts, lane, seg, u_tgt, tactive, tlen, tbeam, tspr, trmax, keep_clear, min_gap,
    rcmd, ncmd, tcur, vx, vy, mode, zbits, zmasks, zp, keep_right, s_lane, toffset, tconsts, tnsub, th,
    t, dt,
    replay, t0, speedup, track_of, cursor, pt, px, py, pvx, pvy, ppsi, pstart, reactive, hcpa, htcpa, handed,
):  # fmt: skip
    """Commands, current, ego and traffic dynamics, clocks, replay (see the module doc). Returns 0,
    :data:`HANDOVER`, or minus the ERR_* code of :mod:`vessels.state` (the ego's: -1..-3; the
    traffic's: -11..-13) before the failing dynamics wrote anything."""
    command_kernel(acts, actions, ermax, enmax, rud, rev)
    x, y, psi, u, v, r, delta, n = es[0], es[1], es[2], es[3], es[4], es[5], es[6], es[7]
    current_xy_batch(geo, widx, cfield, creach, speeds, x, y, ecur)
    if ego_nomoto:
        err = nomoto._step_kernel(econsts, x, y, psi, u, r, delta, n, rud, rev, ecur, ensub, eh,
                                  x, y, psi, u, v, r, delta, n)  # fmt: skip
    else:
        err = mmg._step_kernel(econsts, x, y, psi, u, v, r, delta, n, rud, rev, ecur, ensub, eh,
                               x, y, psi, u, v, r, delta, n)  # fmt: skip
    if err:
        return -err
    E = t.shape[0]
    tx, ty, tpsi, tu, tv, tr, tdelta, tn = ts[0], ts[1], ts[2], ts[3], ts[4], ts[5], ts[6], ts[7]
    if T > 0:
        control_kernel(E, T, lxy, ls, lstart, llen, tx, ty, tpsi, tu, tr, lane, seg, u_tgt, tactive, tlen, tbeam,
                       tspr, trmax, x, y, psi, u, v, ecur, elen, ebeam, keep_clear, min_gap, rcmd, ncmd,
                       geo, widx, cfield, creach, speeds, tcur, vx, vy, mode, zbits, zmasks, zp, keep_right, 1,
                       eactive, s_lane, toffset, handed)  # fmt: skip
        err = nomoto._step_kernel(tconsts, tx, ty, tpsi, tu, tr, tdelta, tn, rcmd, ncmd, tcur, tnsub, th,
                                  tx, ty, tpsi, tu, tv, tr, tdelta, tn)  # fmt: skip
        if err:
            return -10 - err
    for e in range(E):
        t[e] += dt
    if T > 0 and replay:
        replay_kernel(E, T, t, t0, speedup, track_of, cursor, pt, px, py, pvx, pvy, ppsi, pstart, mode,
                      tx, ty, tpsi, tu, tactive, tcur)  # fmt: skip
        _through_water(tx, ty, tpsi, tu, tcur, mode, tactive, geo, widx, cfield, creach, speeds)
        if reactive:
            handover_kernel(E, T, 1, tx, ty, tpsi, tu, tcur, tlen, tactive, mode, x, y, psi, u, v, ecur, elen,
                            eactive, hcpa, htcpa, handed)  # fmt: skip
        for i in range(handed.shape[0]):
            if handed[i] == 1:
                return HANDOVER
    return 0


@numba.njit(cache=True)
def observe_kernel(
    reports, T, t, es, ecur, elen, ebeam, ermax, enmax, eactive,
    ts, tactive, tlen, tbeam, tcur, gvx, gvy, class_b, next_due, rep_t, rep_x, rep_y, rep_vx, rep_vy, rep_psi,
    noise, noise_pos, noise_sigma, delivered, ais_mode,
    route, route_s, route_n, route_seg, goal, goal_tol, geo, sdf, widx, rays, harbour_cell,
    angles, cos_a, sin_a, ray_range, M, target_range, near_cpa, near_tcpa, speed_limit,
    actions, prev_actions, prev_s, weights, obs, feats, comps, reward, done, tbuf,
    erep_t, erep_x, erep_y, erep_vx, erep_vy,
    rules_params, rx, ry, rpsi, rgx, rgy, ru, rcx, rcy, rlen, rbeam, ractive, blue, cell_bits, masks,
    prev_z, faced_up, still_t, vflags, prev_along, pflags, counts, vcounts, ev, ev_n, lane_dir, rdt,
):  # fmt: skip
    """AIS reports, perception (obs, reward, termination), rule check (see the module doc). Returns the
    number of new rule events (0 with the rules off)."""
    x, y, psi, u, v, r, delta, n = es[0], es[1], es[2], es[3], es[4], es[5], es[6], es[7]
    tx, ty, tpsi, tu, tr = ts[0], ts[1], ts[2], ts[3], ts[5]
    E = x.shape[0]
    if reports:
        update_reports_kernel(E, T, t, tx, ty, tpsi, gvx, gvy, tr, tactive, class_b, next_due, rep_t, rep_x,
                              rep_y, rep_vx, rep_vy, rep_psi, noise, noise_pos, noise_sigma, delivered)  # fmt: skip
    perceive_kernel(
        0, E, T, x, y, psi, u, v, r, delta, n, ecur, elen, ebeam, ermax, enmax,
        tx, ty, tpsi, tu, tactive, tlen, tbeam, tcur,
        ais_mode, t, rep_t, rep_x, rep_y, rep_vx, rep_vy,
        route, route_s, route_n, route_seg, goal, goal_tol,
        geo, sdf, widx, rays, harbour_cell,
        angles, cos_a, sin_a, ray_range, M, target_range, near_cpa, near_tcpa, speed_limit,
        actions, prev_actions, prev_s, weights, obs, feats, comps, reward, done, tbuf, 1, eactive,
        erep_t, erep_x, erep_y, erep_vx, erep_vy,
    )  # fmt: skip
    if rules_params is None:
        return 0
    gather_kernel(E, 1, T, x, y, psi, u, v, ecur, elen, ebeam, tx, ty, tpsi, tu, tactive, tlen, tbeam, tcur,
                  rx, ry, rpsi, rgx, rgy, ru, rcx, rcy, rlen, rbeam, ractive)  # fmt: skip
    ev_n[0] = 0
    check_kernel(E, 1 + T, rdt, rx, ry, rpsi, rgx, rgy, ru, rcx, rcy, rlen, rbeam, ractive, blue, geo, widx,
                 cell_bits, masks, rules_params, prev_z, faced_up, still_t, vflags, prev_along, pflags, counts,
                 vcounts, ev, ev_n, lane_dir)  # fmt: skip
    return ev_n[0]
