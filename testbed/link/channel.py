"""Per-step, per-vessel link process: cell selection / handover, SINR, per-packet latency and loss.

Everything is batched over N vessels (N = environments x vessels per environment) and compiled with
numba; there is no Python loop per vessel in :meth:`LinkChannel.step`. Each step every vessel sends one
packet on each of two independent paths, ``data`` (shore -> ship: observations, sensor data) and
``command`` (remote-control commands). All times are seconds here (the profile's ``*_ms`` knobs are
converted once).

Models
------
**Cell selection and handover** (:func:`handover_kernel`), after the A3 event of 3GPP TS 38.331
§5.5.4.4 with layer-3 filtered received powers: a neighbour ``n`` triggers when
``P_n > P_serving + a3_offset + hysteresis`` holds continuously for ``time-to-trigger`` (TTT); the vessel
then hands over and user-plane traffic is interrupted for ``handover_interruption_ms``. If the entering
condition fails before TTT has elapsed the timer is cancelled, which suppresses ping-pong. A vessel
without a serving cell attaches at once to the strongest cell (initial attach: no interruption). A
serving cell that disappears (received power at or below ``rsrp_floor_dbm``, or not finite) triggers an
immediate re-selection of the strongest cell (radio-link failure + re-establishment), which interrupts
traffic like a handover. With no detectable cell at all the vessel is detached (serving = -1: outage).

**SINR** of the serving cell: ``S / (load * sum(other cells) + noise)`` in linear power, ``noise`` the
thermal noise over the channel (:attr:`LinkProfile.noise_dbm`), ``load`` = ``cell_load`` (the share of
time/frequency resources on which the other cells transmit).

**Latency** of a delivered packet = radio + HARQ + transport/core + queueing (+ handover delay):

- radio access: wait for the next slot boundary ``U(0, slot)``, the scheduling delay
  ``U(0, 2 * scheduling_ms)`` (mean ``scheduling_ms``: grant / TDD pattern wait) and one slot of
  transmission;
- HARQ (TS 38.321 §5.3.2 / TS 38.214 §5.1.3 link adaptation): the scheduler picks the MCS so that the
  first transmission meets ``bler_target`` (0.1 typ.). That works as long as the SINR is above the
  threshold of the most robust MCS (:data:`MCS0_SINR_DB`); below it the BLER follows the waterfall of
  that MCS, a logistic curve in dB of width :data:`BLER_WIDTH_DB`. Transmission ``k`` (1-based)
  soft-combines the earlier ones (chase combining, gain ``10 log10(k)`` dB), so its conditional failure
  probability is ``1 / (1 + exp((sinr + 10 log10 k - s50) / w))`` with
  ``s50 = max(sinr, MCS0_SINR_DB) - w ln(1 / bler_target - 1)``. Each retransmission adds
  ``harq_rtt_ms``; after ``harq_max_tx`` failed transmissions the packet is lost (residual BLER);
- transport + core (edge or cloud, ``backhaul``): lognormal with the profile's mean and standard
  deviation (jitter), drawn by inversion (P. J. Acklam's normal quantile, one uniform);
- queueing in a loaded cell: M/M/1 waiting time with utilisation ``rho = min(cell_load, 0.95)`` and
  service time ``queueing_ms``: zero with probability ``1 - rho``, else exponential with mean
  ``queueing_ms / (1 - rho)`` (mean ``queueing_ms * rho / (1 - rho)``);
- a packet sent during a handover interruption is buffered and forwarded (lossless handover with data
  forwarding, TS 38.300 §9.2.3.2) and so delayed by the remaining interruption; with
  ``handover_drops=True`` it is lost instead.

**Loss** (a packet is lost if any of these holds):

- bursty loss: a Gilbert-Elliott two-state Markov chain per vessel and path (E. N. Gilbert, Bell Syst.
  Tech. J. 39, 1960; E. O. Elliott, ibid. 42, 1963). Each packet the chain moves good->bad with
  ``LinkProfile.ge_p_good_to_bad(sinr)`` (rising as the SINR falls below ``ge_sinr_knee_db``) and
  bad->good with ``ge_p_bg``; the packet is then lost with ``ge_loss_good`` / ``ge_loss_bad`` in the
  state reached;
- HARQ failure (all ``harq_max_tx`` transmissions failed, above);
- outage: SINR below ``outage_sinr_db`` or no serving cell;
- a scheduled coverage hole (``outages`` rows ``[x, y, radius, t_start, t_end]``, episode time);
- (only with ``handover_drops=True``) sent during a handover interruption.

A lost packet has latency :data:`LOST_LATENCY_S` (``inf``: it never arrives); read the ``*_lost`` masks.
The ``ideal`` profile gives latency 0 and no loss (cell selection and SINR are still reported).

Randomness and reproducibility
------------------------------
No global (numba or numpy) RNG is used. At reset every vessel gets its own ``numpy`` generator, seeded
from the environment's generator (``rng.integers`` draws one seed per vessel, in vessel order), and a
pre-drawn block of uniforms ``(block_steps * UNIFORMS_PER_STEP,)``. Every step consumes exactly
:data:`UNIFORMS_PER_STEP` uniforms per vessel (a fixed layout, whatever happens to the packet), from a
per-vessel cursor; :meth:`LinkChannel.step` refills a vessel's block from its own generator when it is
exhausted. Hence the trace of a vessel depends only on its environment's generator and its index in
that environment, and is bit-identical whatever the batch size and whatever the other vessels do.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from testbed.link.profiles import LinkProfile

# --- knobs that the profile does not have: documented defaults ------------------------------------------
MCS0_SINR_DB = -5.0
"""SINR (dB) at which the most robust MCS (QPSK, code rate ~0.12, TS 38.214 Table 5.1.3.1-1 index 0)
still meets the BLER target: below it link adaptation cannot compensate and the BLER rises."""
BLER_WIDTH_DB = 1.0
"""Width (dB) of the logistic BLER waterfall of one MCS (BLER 10% -> 1% over ~2.4 dB)."""
HARQ_COMBINING = True
"""Chase combining of retransmissions: transmission k sees SINR + 10 log10(k)."""
HANDOVER_DROPS = False
"""Packets sent during a handover interruption are delayed (False, data forwarding) or lost (True)."""
QUEUE_RHO_MAX = 0.95
"""Cap on the M/M/1 utilisation (the profile's docstring: rho = min(cell_load, 0.95))."""

LOST_LATENCY_S = math.inf
"""Latency reported for a lost packet."""
SINR_NO_CELL_DB = -60.0
"""SINR reported for a vessel with no detectable cell."""
UNIFORMS_PER_PACKET = 8
UNIFORMS_PER_STEP = 2 * UNIFORMS_PER_PACKET  # data + command
_EPS = 1e-9

# handover kinds written by handover_kernel into handovers_out
HO_NONE = 0
HO_A3 = 1  # A3 handover after time-to-trigger
HO_REESTABLISH = 2  # serving cell lost: immediate re-selection
HO_ATTACH = 3  # initial attach (or re-attach after having no cell)

# --- parameter vector layout (float64) ------------------------------------------------------------------
_P_MARGIN = 0
_P_TTT = 1
_P_INTR = 2
_P_FLOOR = 3
_P_LOAD = 4
_P_NOISE_MW = 5
_P_SLOT = 6
_P_SCHED = 7
_P_HARQ_RTT = 8
_P_HARQ_MAX = 9
_P_BLER_T = 10
_P_MCS0 = 11
_P_BLER_W = 12
_P_COMBINE = 13
_P_BH_MU = 14
_P_BH_SIGMA = 15
_P_BH_ON = 16
_P_Q_RHO = 17
_P_Q_SCALE = 18
_P_GE_KNEE = 19
_P_GE_SCALE = 20
_P_GE_GB_MIN = 21
_P_GE_GB_MAX = 22
_P_GE_BG = 23
_P_GE_LOSS_G = 24
_P_GE_LOSS_B = 25
_P_OUTAGE = 26
_P_HO_DROP = 27
_P_IDEAL = 28
_P_BLER_L = 29
_N_P = 30
_DB2LN = 0.1 * math.log(10.0)  # 10 ** (x / 10) == exp(x * _DB2LN)


def profile_params(profile: LinkProfile, *, handover_drops: bool = HANDOVER_DROPS) -> np.ndarray:
    """The profile as the float64 parameter vector the kernels read (seconds, linear units)."""
    p = np.zeros(_N_P, dtype=np.float64)
    p[_P_MARGIN] = profile.handover_a3_offset_db + profile.handover_hysteresis_db
    p[_P_TTT] = profile.handover_ttt_ms * 1e-3
    p[_P_INTR] = profile.handover_interruption_ms * 1e-3
    p[_P_FLOOR] = profile.rsrp_floor_dbm
    p[_P_LOAD] = profile.cell_load
    p[_P_NOISE_MW] = 10.0 ** (profile.noise_dbm / 10.0)
    p[_P_SLOT] = profile.slot_ms * 1e-3
    p[_P_SCHED] = profile.scheduling_ms * 1e-3
    p[_P_HARQ_RTT] = profile.harq_rtt_ms * 1e-3
    p[_P_HARQ_MAX] = profile.harq_max_tx
    p[_P_BLER_T] = min(max(profile.bler_target, 1e-9), 1.0 - 1e-9)
    p[_P_BLER_L] = math.log(1.0 / p[_P_BLER_T] - 1.0)
    p[_P_MCS0] = MCS0_SINR_DB
    p[_P_BLER_W] = BLER_WIDTH_DB
    p[_P_COMBINE] = 1.0 if HARQ_COMBINING else 0.0
    mean_ms, std_ms = profile.backhaul_latency_ms
    if mean_ms > 0.0:
        sigma2 = math.log1p((std_ms / mean_ms) ** 2)
        p[_P_BH_MU] = math.log(mean_ms * 1e-3) - 0.5 * sigma2
        p[_P_BH_SIGMA] = math.sqrt(sigma2)
        p[_P_BH_ON] = 1.0
    rho = min(profile.cell_load, QUEUE_RHO_MAX)
    p[_P_Q_RHO] = rho
    p[_P_Q_SCALE] = profile.queueing_ms * 1e-3 / (1.0 - rho)
    p[_P_GE_KNEE] = profile.ge_sinr_knee_db
    p[_P_GE_SCALE] = profile.ge_sinr_scale_db
    p[_P_GE_GB_MIN] = profile.ge_p_gb_min
    p[_P_GE_GB_MAX] = profile.ge_p_gb_max
    p[_P_GE_BG] = profile.ge_p_bg
    p[_P_GE_LOSS_G] = profile.ge_loss_good
    p[_P_GE_LOSS_B] = profile.ge_loss_bad
    p[_P_OUTAGE] = profile.outage_sinr_db
    p[_P_HO_DROP] = 1.0 if handover_drops else 0.0
    p[_P_IDEAL] = 1.0 if profile.ideal else 0.0
    return p


# ============================================================================================ kernels
@numba.njit(cache=True, inline="always")
def _valid(p, floor_dbm):
    return p > floor_dbm and p < math.inf  # False for NaN, -inf and the floor


@numba.njit(cache=True)
def _handover_one(i, rsrp, serving, ttt_left, candidate, interrupt_left, dt, margin_db, ttt_s, intr_s,
                  floor_dbm):  # fmt: skip
    """One vessel's cell selection / A3 state machine; returns the HO_* kind."""
    il = interrupt_left[i] - dt
    interrupt_left[i] = il if il > _EPS else 0.0
    n_cells = rsrp.shape[1]
    best = -1
    best_p = -math.inf
    for c in range(n_cells):
        p = rsrp[i, c]
        if _valid(p, floor_dbm) and p > best_p:
            best = c
            best_p = p
    s = serving[i]
    if best < 0:  # no detectable cell: detached
        serving[i] = -1
        candidate[i] = -1
        ttt_left[i] = 0.0
        return HO_NONE
    if s < 0 or s >= n_cells or not _valid(rsrp[i, s], floor_dbm):
        serving[i] = best
        candidate[i] = -1
        ttt_left[i] = 0.0
        if s < 0 or s >= n_cells:
            return HO_ATTACH
        interrupt_left[i] = intr_s
        return HO_REESTABLISH
    ps = rsrp[i, s]
    cand = candidate[i]
    if 0 <= cand < n_cells and cand != s and _valid(rsrp[i, cand], floor_dbm) and rsrp[i, cand] > ps + margin_db:
        t = ttt_left[i] - dt  # entering condition still holds: count down
    elif best != s and best_p > ps + margin_db:
        cand = best  # entering condition starts now
        t = ttt_s
    else:  # entering condition not fulfilled: cancel the timer (ping-pong suppression)
        candidate[i] = -1
        ttt_left[i] = 0.0
        return HO_NONE
    if t <= _EPS:
        serving[i] = cand
        candidate[i] = -1
        ttt_left[i] = 0.0
        interrupt_left[i] = intr_s
        return HO_A3
    candidate[i] = cand
    ttt_left[i] = t
    return HO_NONE


@numba.njit(cache=True)
def handover_kernel(rsrp, serving, ttt_left, candidate, interrupt_left, dt, hysteresis_db, ttt_s, interruption_s,
                    handovers_out, floor_dbm=-math.inf):  # fmt: skip
    """A3 cell selection for N vessels, in place.

    rsrp (N, C) dBm (NaN, -inf or <= ``floor_dbm``: no signal); serving (N,) int (-1: none);
    ttt_left (N,) s; candidate (N,) int; interrupt_left (N,) s; ``dt`` the step (s); ``hysteresis_db``
    the total entering margin (A3 offset + hysteresis); ``ttt_s`` time-to-trigger; ``interruption_s``
    user-plane interruption of a handover. ``handovers_out[i]`` gets HO_NONE / HO_A3 / HO_REESTABLISH /
    HO_ATTACH. The interruption counter is decremented by ``dt`` first, then set by a new handover, so a
    vessel is interrupted (``interrupt_left > 0``) on ceil(interruption_s / dt) steps from the handover.
    """
    for i in range(rsrp.shape[0]):
        handovers_out[i] = _handover_one(i, rsrp, serving, ttt_left, candidate, interrupt_left, dt, hysteresis_db,
                                         ttt_s, interruption_s, floor_dbm)  # fmt: skip


@numba.njit(cache=True)
def _sinr_one(i, rsrp, s, load, noise_mw):
    sig = 0.0
    interf = 0.0
    for c in range(rsrp.shape[1]):
        p = rsrp[i, c]
        if not (p > -math.inf and p < math.inf):
            continue
        w = math.exp(_DB2LN * p)
        if c == s:
            sig = w
        else:
            interf += w
    den = load * interf + noise_mw
    if sig <= 0.0:
        return SINR_NO_CELL_DB
    return 10.0 * math.log10(sig / den)


@numba.njit(cache=True)
def sinr_kernel(rsrp, serving, load, noise_dbm, out):
    """SINR (dB) of the serving cell: S / (load * sum(others) + noise); SINR_NO_CELL_DB without a cell."""
    noise_mw = 10.0 ** (0.1 * noise_dbm)
    for i in range(rsrp.shape[0]):
        s = serving[i]
        out[i] = _sinr_one(i, rsrp, s, load, noise_mw) if s >= 0 else SINR_NO_CELL_DB


@numba.njit(cache=True, inline="always")
def _bler_fail(sinr_db, k, p):
    """Conditional failure probability of HARQ transmission k (1-based) at sinr_db."""
    w = p[_P_BLER_W]
    s50 = max(sinr_db, p[_P_MCS0]) - w * p[_P_BLER_L]
    g = 10.0 * math.log10(k) if (p[_P_COMBINE] > 0.5 and k > 1) else 0.0
    z = (sinr_db + g - s50) / w
    if z > 700.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(z))


_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
      -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
      -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
      4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)


@numba.njit(cache=True, inline="always")
def _norm_ppf(u):
    """Standard normal quantile (P. J. Acklam's rational approximation, |rel. error| < 1.2e-9): one
    uniform per normal draw, no transcendental function in the central 95 %."""
    q = min(max(u, 1e-16), 1.0 - 1e-16)
    if q < 0.02425:
        r = math.sqrt(-2.0 * math.log(q))
        return ((((((_C[0] * r + _C[1]) * r + _C[2]) * r + _C[3]) * r + _C[4]) * r + _C[5])
                / ((((_D[0] * r + _D[1]) * r + _D[2]) * r + _D[3]) * r + 1.0))
    if q > 1.0 - 0.02425:
        r = math.sqrt(-2.0 * math.log(1.0 - q))
        return -((((((_C[0] * r + _C[1]) * r + _C[2]) * r + _C[3]) * r + _C[4]) * r + _C[5])
                 / ((((_D[0] * r + _D[1]) * r + _D[2]) * r + _D[3]) * r + 1.0))
    a = q - 0.5
    r = a * a
    return ((((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * a
            / (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0))


# Uniforms of one packet, u[o + k]: 0 Gilbert-Elliott transition, 1 Gilbert-Elliott loss, 2 slot
# alignment, 3 scheduling delay, 4 HARQ (number of transmissions by inversion), 5 transport/core
# (lognormal by inversion), 6 reserved, 7 queueing.
@numba.njit(cache=True)
def _radio_latency(sinr_db, u, i, o, p):
    """Radio + HARQ + transport + queueing latency of one packet from uniforms u[i, o:o+8];
    returns -1.0 if HARQ fails on every transmission."""
    max_tx = int(p[_P_HARQ_MAX])
    pfail = 1.0
    ntx = 0
    ok = False
    for k in range(1, max_tx + 1):
        if k == 1 and sinr_db >= p[_P_MCS0]:
            pfail = p[_P_BLER_T]  # link adaptation meets the target (_bler_fail(s, 1) == target)
        else:
            pfail *= _bler_fail(sinr_db, k, p)
        ntx = k
        if u[i, o + 4] >= pfail:
            ok = True
            break
    if not ok:
        return -1.0
    lat = u[i, o + 2] * p[_P_SLOT] + 2.0 * u[i, o + 3] * p[_P_SCHED] + p[_P_SLOT] + (ntx - 1) * p[_P_HARQ_RTT]
    if p[_P_BH_ON] > 0.5:
        lat += math.exp(p[_P_BH_MU] + p[_P_BH_SIGMA] * _norm_ppf(u[i, o + 5]))
    rho = p[_P_Q_RHO]
    uq = u[i, o + 7]
    if uq < rho:
        lat += -math.log(1.0 - uq / rho) * p[_P_Q_SCALE]  # 1 - uq/rho is in (0, 1]
    return lat


@numba.njit(cache=True)
def _packet(sinr_db, p_gb, u, i, o, ge, path, p, down, intr_left):
    """One packet: advances the Gilbert-Elliott state (good->bad probability p_gb), returns
    (latency_s, lost)."""
    st = ge[i, path]
    if st == 0:
        if u[i, o] < p_gb:
            st = 1
    elif u[i, o] < p[_P_GE_BG]:
        st = 0
    ge[i, path] = st
    ploss = p[_P_GE_LOSS_B] if st == 1 else p[_P_GE_LOSS_G]
    lost = down or u[i, o + 1] < ploss
    if intr_left > 0.0 and p[_P_HO_DROP] > 0.5:
        lost = True
    lat = 0.0
    if not lost:
        lat = _radio_latency(sinr_db, u, i, o, p)
        if lat < 0.0:
            lost = True
        else:
            lat += intr_left
    if lost:
        lat = LOST_LATENCY_S
    return lat, lost


@numba.njit(cache=True)
def step_kernel(t, xy, rsrp, p, holes, fstate, istate, ge, u, o_flt, o_bool, o_serving):
    """Advance N vessels one step in place (see the module docstring); returns True when some vessel
    has fewer than UNIFORMS_PER_STEP uniforms left (refill before the next step).

    ``t`` (N,) episode time; ``fstate`` (3, N) float64 rows ttt_left, interrupt_left, t_prev (NaN after
    reset: dt = 0 on the first step); ``istate`` (3, N) int64 rows serving, candidate, cursor;
    ``ge`` (N, 2) int8 Gilbert-Elliott state per path; ``u`` (N, K) uniform blocks (the caller
    guarantees cursor + UNIFORMS_PER_STEP <= K); outputs ``o_flt`` (3, N) rows sinr_db, data latency,
    command latency; ``o_bool`` (5, N) rows handover, interrupted, outage, data lost, command lost;
    ``o_serving`` (N,)."""
    n = rsrp.shape[0]
    kmax = u.shape[1]
    ideal = p[_P_IDEAL] > 0.5
    ttt_left = fstate[0]
    interrupt_left = fstate[1]
    t_prev = fstate[2]
    serving = istate[0]
    candidate = istate[1]
    cursor = istate[2]
    refill = False
    for i in range(n):
        ti = t[i]
        dt = ti - t_prev[i]
        if not (dt > 0.0):  # first step after reset (NaN) or a repeated time
            dt = 0.0
        t_prev[i] = ti
        kind = _handover_one(i, rsrp, serving, ttt_left, candidate, interrupt_left, dt, p[_P_MARGIN], p[_P_TTT],
                             p[_P_INTR], p[_P_FLOOR])  # fmt: skip
        s = serving[i]
        sinr = _sinr_one(i, rsrp, s, p[_P_LOAD], p[_P_NOISE_MW]) if s >= 0 else SINR_NO_CELL_DB
        o_flt[0, i] = sinr
        o_serving[i] = s
        o_bool[0, i] = kind == HO_A3 or kind == HO_REESTABLISH
        if ideal:
            o_flt[1, i] = 0.0
            o_flt[2, i] = 0.0
            for r in range(1, 5):
                o_bool[r, i] = False
            continue
        il = interrupt_left[i]
        o_bool[1, i] = il > 0.0
        down = s < 0 or sinr < p[_P_OUTAGE]
        x = xy[i, 0]
        y = xy[i, 1]
        for h in range(holes.shape[0]):
            if holes[h, 3] <= ti < holes[h, 4]:
                dx = x - holes[h, 0]
                dy = y - holes[h, 1]
                if dx * dx + dy * dy <= holes[h, 2] * holes[h, 2]:
                    down = True
        o_bool[2, i] = down
        o = cursor[i]
        z = min(max((sinr - p[_P_GE_KNEE]) / p[_P_GE_SCALE], -60.0), 60.0)
        p_gb = p[_P_GE_GB_MIN] + (p[_P_GE_GB_MAX] - p[_P_GE_GB_MIN]) / (1.0 + math.exp(z))
        o_flt[1, i], o_bool[3, i] = _packet(sinr, p_gb, u, i, o, ge, 0, p, down, il)
        o_flt[2, i], o_bool[4, i] = _packet(sinr, p_gb, u, i, o + UNIFORMS_PER_PACKET, ge, 1, p, down, il)
        o += UNIFORMS_PER_STEP
        cursor[i] = o
        if o + UNIFORMS_PER_STEP > kmax:
            refill = True
    return refill


@numba.njit(cache=True)
def _quantile_sorted(b, q):
    """numpy's default ('linear') percentile q (0..100) of the sorted array b."""
    m = b.shape[0]
    pos = q / 100.0 * (m - 1)
    a = int(math.floor(pos))
    c = min(a + 1, m - 1)
    return b[a] + (pos - a) * (b[c] - b[a])


@numba.njit(cache=True)
def _latency_samples(sinr_db, p, u, q_lo, q_hi, out_lo, out_hi, buf):
    """Percentiles q_lo, q_hi (0..100, numpy 'linear') of the delivered-packet latency per SINR from the
    common uniforms u (n, 8). inf where nothing is delivered."""
    n = u.shape[0]
    for j in range(sinr_db.shape[0]):
        s = sinr_db[j]
        m = 0
        if s >= p[_P_OUTAGE]:
            for k in range(n):
                lat = _radio_latency(s, u, k, 0, p)
                if lat >= 0.0:
                    buf[m] = lat
                    m += 1
        if m == 0:
            out_lo[j] = LOST_LATENCY_S
            out_hi[j] = LOST_LATENCY_S
            continue
        b = np.sort(buf[:m])
        out_lo[j] = _quantile_sorted(b, q_lo)
        out_hi[j] = _quantile_sorted(b, q_hi)


# ============================================================================================ Python API
class LinkStep(NamedTuple):
    """One step of the link for N vessels. The arrays are the channel's preallocated buffers: they are
    overwritten by the next :meth:`LinkChannel.step` (copy what you keep)."""

    sinr_db: np.ndarray  # (N,) float64, serving-cell SINR (SINR_NO_CELL_DB without a cell)
    serving: np.ndarray  # (N,) int64, serving cell index (-1: none)
    handover: np.ndarray  # (N,) bool, a handover (A3 or re-establishment) happened this step
    interrupted: np.ndarray  # (N,) bool, user plane interrupted by a handover this step
    outage: np.ndarray  # (N,) bool, SINR below outage_sinr_db, no cell, or a scheduled hole
    data_latency_s: np.ndarray  # (N,) float64, shore->ship packet latency (inf if lost)
    data_lost: np.ndarray  # (N,) bool
    cmd_latency_s: np.ndarray  # (N,) float64, command packet latency (inf if lost)
    cmd_lost: np.ndarray  # (N,) bool


class LinkChannel:
    """State of the link of N = E x V vessels (E environments of V vessels each; vessel i belongs to
    environment i // V).

    ``rng_per_env``: one generator per environment; when given, every environment is reset at
    construction. Otherwise call :meth:`reset` for each environment before stepping it.
    ``block_steps``: steps of uniforms pre-drawn per vessel (memory N x block_steps x 16 x 8 bytes).
    """

    def __init__(self, profile: LinkProfile, n_vessels: int, rng_per_env: list[np.random.Generator] | None = None,
                 vessels_per_env: int = 1, *, block_steps: int = 128, handover_drops: bool = HANDOVER_DROPS):  # fmt: skip
        if vessels_per_env < 1 or n_vessels % vessels_per_env:
            raise ValueError(f"n_vessels={n_vessels} is not a multiple of vessels_per_env={vessels_per_env}")
        if block_steps < 1:
            raise ValueError(f"block_steps={block_steps}: must be >= 1")
        self.profile = profile
        self.N = int(n_vessels)
        self.V = int(vessels_per_env)
        self.E = self.N // self.V
        self.params = profile_params(profile, handover_drops=handover_drops)
        self.holes = np.ascontiguousarray(profile.outages_array())
        N = self.N
        self._fstate = np.zeros((3, N))
        self._istate = np.zeros((3, N), dtype=np.int64)
        self.ttt_left, self.interrupt_left, self.t_prev = self._fstate  # views
        self.serving, self.candidate, self.cursor = self._istate
        self.serving.fill(-1)
        self.candidate.fill(-1)
        self.t_prev.fill(np.nan)
        self.ge = np.zeros((N, 2), dtype=np.int8)  # Gilbert-Elliott state per path: 0 good, 1 bad
        self.K = int(block_steps) * UNIFORMS_PER_STEP
        self.u = np.zeros((N, self.K))
        self.cursor.fill(self.K)
        self._need_refill = True
        self._vessel_rng: list[np.random.Generator | None] = [None] * N
        self._t = np.zeros(N)
        self._no_cells = np.zeros((N, 0))
        self._o_flt = np.zeros((3, N))
        self._o_bool = np.zeros((5, N), dtype=bool)
        self._o_serving = np.full(N, -1, dtype=np.int64)
        f, b = self._o_flt, self._o_bool
        self._out = LinkStep(sinr_db=f[0], serving=self._o_serving, handover=b[0], interrupted=b[1], outage=b[2],
                             data_latency_s=f[1], data_lost=b[3], cmd_latency_s=f[2], cmd_lost=b[4])  # fmt: skip
        if rng_per_env is not None:
            if len(rng_per_env) != self.E:
                raise ValueError(f"rng_per_env has {len(rng_per_env)} generators for {self.E} environments")
            for e, rng in enumerate(rng_per_env):
                self.reset(e, rng)

    def reset(self, index: int, rng: np.random.Generator) -> None:
        """Reset environment ``index``'s vessels: detached, no timers, Gilbert-Elliott good, fresh
        uniforms. Draws one seed per vessel (in vessel order) from ``rng``."""
        a, b = index * self.V, (index + 1) * self.V
        self.serving[a:b] = -1
        self.ttt_left[a:b] = 0.0
        self.candidate[a:b] = -1
        self.interrupt_left[a:b] = 0.0
        self.t_prev[a:b] = np.nan
        self.ge[a:b] = 0
        seeds = rng.integers(0, 2**63, size=self.V, dtype=np.int64)
        for j in range(self.V):
            g = np.random.Generator(np.random.PCG64(int(seeds[j])))
            self._vessel_rng[a + j] = g
            g.random(out=self.u[a + j])
        self.cursor[a:b] = 0

    def _refill(self) -> None:
        for i in np.flatnonzero(self.cursor + UNIFORMS_PER_STEP > self.K):
            g = self._vessel_rng[i]
            if g is None:
                raise RuntimeError(f"link channel: vessel {i} (environment {i // self.V}) stepped before reset")
            g.random(out=self.u[i])
            self.cursor[i] = 0
        self._need_refill = False

    def step(self, t, xy: np.ndarray, rsrp: np.ndarray | None) -> LinkStep:
        """Advance all vessels to episode time ``t`` (scalar or (N,)); ``xy`` (N, 2) positions (m) for
        the scheduled holes; ``rsrp`` (N, C) received power of every cell (dBm), None for no cells.
        The step length is the time since the vessel's previous step (0 on the first step after reset)."""
        if isinstance(t, np.ndarray):
            tt = t
        else:
            self._t.fill(t)
            tt = self._t
        if rsrp is None:
            rsrp = self._no_cells
        if self._need_refill:
            self._refill()
        o = self._out
        self._need_refill = step_kernel(tt, xy, rsrp, self.params, self.holes, self._fstate, self._istate, self.ge,
                                        self.u, self._o_flt, self._o_bool, self._o_serving)  # fmt: skip
        return o


# ============================================================================================ analysis
def latency_percentiles(sinr_db, profile: LinkProfile, n: int = 2000, seed: int = 0, q=(50.0, 95.0)):
    """(p50_s, p95_s) of the one-way latency of delivered packets at each SINR (array, any shape).

    Monte Carlo over radio + HARQ + transport + queueing with ``n`` common random samples from
    ``default_rng(seed)`` (no handover interruption, no Gilbert-Elliott state: those affect loss, not the
    latency of a delivered packet). The distribution only depends on the SINR through the BLER, which is
    constant above :data:`MCS0_SINR_DB`; so it is sampled on a 0.05 dB grid between the outage threshold
    and that SINR and interpolated. ``inf`` in outage (SINR < ``outage_sinr_db``); 0 for ``ideal``.
    """
    s = np.asarray(sinr_db, dtype=np.float64)
    if profile.ideal:
        z = np.zeros(s.shape)
        return z, z.copy()
    p = profile_params(profile)
    u = np.random.default_rng(seed).random((n, UNIFORMS_PER_PACKET))
    lo_s = profile.outage_sinr_db
    hi_s = max(MCS0_SINR_DB, lo_s)
    grid = np.arange(lo_s, hi_s + 0.05, 0.05) if hi_s > lo_s else np.array([lo_s])
    grid = np.concatenate([grid, [hi_s + 1.0]])
    g_lo = np.empty(len(grid))
    g_hi = np.empty(len(grid))
    _latency_samples(grid, p, u, float(q[0]), float(q[1]), g_lo, g_hi, np.empty(n))
    flat = np.nan_to_num(s.ravel(), nan=-np.inf)
    out = []
    for g in (g_lo, g_hi):
        finite = np.isfinite(g)
        v = np.interp(np.clip(flat, grid[finite][0], grid[-1]), grid[finite], g[finite])
        v[flat < lo_s] = LOST_LATENCY_S
        out.append(v.reshape(s.shape))
    return out[0], out[1]


def harq_residual_bler(sinr_db, profile: LinkProfile):
    """Probability that all ``harq_max_tx`` transmissions fail at ``sinr_db`` (vectorised)."""
    s = np.asarray(sinr_db, dtype=np.float64)
    w, t = BLER_WIDTH_DB, min(max(profile.bler_target, 1e-9), 1.0 - 1e-9)
    s50 = np.maximum(s, MCS0_SINR_DB) - w * math.log(1.0 / t - 1.0)
    res = np.ones(s.shape)
    for k in range(1, profile.harq_max_tx + 1):
        g = 10.0 * math.log10(k) if HARQ_COMBINING else 0.0
        res = res / (1.0 + np.exp(np.clip((s + g - s50) / w, -700.0, 700.0)))
    return res


def loss_probability(sinr_db, profile: LinkProfile):
    """Long-run packet loss rate at a constant ``sinr_db`` (vectorised): 1 in outage, else
    1 - (1 - Gilbert-Elliott stationary loss) (1 - HARQ residual BLER). 0 for ``ideal``."""
    s = np.asarray(sinr_db, dtype=np.float64)
    if profile.ideal:
        return np.zeros(s.shape)
    p_gb = profile.ge_p_good_to_bad(s)
    p_bg = profile.ge_p_bg
    denom = p_gb + p_bg
    pi_bad = np.where(denom > 0.0, p_gb / np.where(denom > 0.0, denom, 1.0), 0.0)
    ge = (1.0 - pi_bad) * profile.ge_loss_good + pi_bad * profile.ge_loss_bad
    loss = 1.0 - (1.0 - ge) * (1.0 - harq_residual_bler(s, profile))
    return np.where(s < profile.outage_sinr_db, 1.0, loss)


__all__ = [
    "HO_A3", "HO_ATTACH", "HO_NONE", "HO_REESTABLISH", "LOST_LATENCY_S", "LinkChannel", "LinkStep",
    "SINR_NO_CELL_DB", "UNIFORMS_PER_STEP", "handover_kernel", "harq_residual_bler", "latency_percentiles",
    "loss_probability", "profile_params", "sinr_kernel", "step_kernel",
]
