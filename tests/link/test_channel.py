"""The per-step link process: A3 handover, interruption, Gilbert-Elliott loss, latency, outages,
determinism (testbed.link.channel)."""

import math

import numpy as np
import pytest

from testbed.link import channel as ch
from testbed.link.channel import (
    HO_A3,
    HO_ATTACH,
    HO_NONE,
    HO_REESTABLISH,
    LinkChannel,
    handover_kernel,
    latency_percentiles,
    loss_probability,
    sinr_kernel,
)
from testbed.link.profiles import LinkProfile, load_profile

SA = load_profile("5g_sa")
NOISE = SA.noise_dbm


def _one_cell(sinr_db, n=1):
    """(n, 1) received power giving ``sinr_db`` with one cell (no interference)."""
    return np.full((n, 1), NOISE + sinr_db)


def _run(chan, rsrp, steps, dt=0.1, xy=None, t0=0.0):
    """Step ``chan`` with a constant (or per-step callable) rsrp; stack the LinkStep fields."""
    xy = np.zeros((chan.N, 2)) if xy is None else xy
    rec = {k: [] for k in ch.LinkStep._fields}
    for k in range(steps):
        r = rsrp(k) if callable(rsrp) else rsrp
        out = chan.step(t0 + k * dt, xy, r)
        for f in ch.LinkStep._fields:
            rec[f].append(getattr(out, f).copy())
    return {k: np.array(v) for k, v in rec.items()}


def _chan(profile, n=1, seed=0, vessels_per_env=1, **kw):
    e = n // vessels_per_env
    rngs = [np.random.default_rng(seed + j) for j in range(e)]
    return LinkChannel(profile, n, rngs, vessels_per_env, **kw)


# ------------------------------------------------------------------------------------------ handover
def _ho_state(n=1):
    return (np.full(n, -1, dtype=np.int64), np.zeros(n), np.full(n, -1, dtype=np.int64), np.zeros(n),
            np.zeros(n, dtype=np.int64))  # fmt: skip


def _ho_trace(levels, dt, margin, ttt, intr=0.03):
    """Serving cell / kinds / interrupt for a sequence of (C,) received powers (one vessel)."""
    serving, ttt_left, cand, intr_left, kinds = _ho_state()
    sv, kd, il = [], [], []
    for lv in levels:
        handover_kernel(np.asarray(lv, dtype=np.float64)[None, :], serving, ttt_left, cand, intr_left, dt, margin,
                        ttt, intr, kinds)  # fmt: skip
        sv.append(int(serving[0]))
        kd.append(int(kinds[0]))
        il.append(float(intr_left[0]))
    return np.array(sv), np.array(kd), np.array(il)


@pytest.mark.parametrize("dt,ttt", [(0.04, 0.16), (0.1, 0.3), (0.01, 0.32), (0.1, 0.0)])
def test_a3_handover_after_exactly_ttt(dt, ttt):
    margin = 4.0
    k0 = 5  # cell 1 becomes better by more than the margin at step k0
    levels = [[-80.0, -90.0]] * k0 + [[-80.0, -80.0 + margin + 0.5]] * 60
    serving, kinds, _ = _ho_trace(levels, dt, margin, ttt)
    assert kinds[0] == HO_ATTACH and serving[0] == 0  # initial attach to the strongest
    k_ho = int(np.flatnonzero(kinds == HO_A3)[0])
    assert k_ho == k0 + round(ttt / dt)  # entering condition held for exactly TTT
    assert (serving[:k_ho] == 0).all() and (serving[k_ho:] == 1).all()
    assert (kinds[1:] != HO_NONE).sum() == 1


def test_no_handover_within_margin():
    levels = [[-80.0, -90.0]] + [[-80.0, -80.0 + 3.9]] * 100  # better by less than offset + hysteresis
    serving, kinds, _ = _ho_trace(levels, 0.1, 4.0, 0.16)
    assert (serving == 0).all() and (kinds[1:] == HO_NONE).all()


def test_ping_pong_suppressed():
    # the neighbour is better by 6 dB for 3 steps (0.3 s < TTT 0.32 s), then not, repeatedly
    pattern = [[-80.0, -74.0]] * 3 + [[-80.0, -78.0]]
    serving, kinds, _ = _ho_trace([[-80.0, -90.0]] + pattern * 40, 0.1, 4.0, 0.32)
    assert (serving == 0).all() and (kinds[1:] == HO_NONE).all()
    # ... held for 5 steps it hands over at the first step at which TTT has elapsed (0.4 s >= 0.32 s)
    pattern = [[-80.0, -74.0]] * 5 + [[-80.0, -78.0]]
    serving, kinds, _ = _ho_trace([[-80.0, -90.0]] + pattern, 0.1, 4.0, 0.32)
    assert np.flatnonzero(kinds == HO_A3).tolist() == [1 + 4]


def test_serving_cell_lost_reselects_at_once_and_detach():
    nan = np.nan
    levels = [[-80.0, -95.0, -99.0], [nan, -95.0, -99.0], [nan, -95.0, -150.0], [-np.inf, -np.inf, -np.inf],
              [-120.0, -110.0, -np.inf]]  # fmt: skip
    serving, kinds, intr = _ho_trace(levels, 0.1, 4.0, 0.32, intr=0.05)
    assert serving.tolist() == [0, 1, 1, -1, 1]
    assert kinds.tolist() == [HO_ATTACH, HO_REESTABLISH, HO_NONE, HO_NONE, HO_ATTACH]
    assert intr[1] == pytest.approx(0.05) and intr[0] == 0.0
    # the floor counts as no signal
    s, t, c, il, k = _ho_state()
    handover_kernel(np.array([[-140.0, -141.0]]), s, t, c, il, 0.1, 4.0, 0.1, 0.03, k, -140.0)
    assert s[0] == -1


@pytest.mark.parametrize("intr_ms,dt", [(30.0, 0.01), (50.0, 0.02), (30.0, 0.1)])
def test_interruption_duration_and_delay(intr_ms, dt):
    prof = SA.replace(handover_interruption_ms=intr_ms, handover_ttt_ms=0.0, ge_p_gb_min=0.0, ge_p_gb_max=0.0)
    chan = _chan(prof)
    strong = NOISE + 30.0

    def rsrp(k):
        return np.array([[strong, strong - 20.0]]) if k < 10 else np.array([[strong - 20.0, strong]])

    rec = _run(chan, rsrp, 40, dt=dt)
    assert np.flatnonzero(rec["handover"][:, 0]).tolist() == [10]
    n_int = math.ceil(intr_ms * 1e-3 / dt - 1e-9)
    assert np.flatnonzero(rec["interrupted"][:, 0]).tolist() == list(range(10, 10 + n_int))
    # packets sent at the handover are delayed by the whole interruption (buffered + forwarded)
    assert rec["data_latency_s"][10, 0] >= intr_ms * 1e-3
    assert not rec["data_lost"][10:, 0].any()
    drop = _chan(prof, handover_drops=True)
    rec = _run(drop, rsrp, 40, dt=dt)
    assert rec["data_lost"][10:10 + n_int, 0].all() and rec["cmd_lost"][10:10 + n_int, 0].all()
    assert not rec["data_lost"][10 + n_int:, 0].any()


# ------------------------------------------------------------------------------------------ loss
def _runs(lost):
    """Lengths of the runs of consecutive True values along axis 0, all columns."""
    out = []
    for col in lost.T:
        d = np.diff(np.concatenate([[0], col.astype(np.int8), [0]]))
        out.append(np.flatnonzero(d == -1) - np.flatnonzero(d == 1))
    return np.concatenate(out)


def test_loss_is_bursty_gilbert_elliott():
    n, steps = 64, 2500
    chan = _chan(SA, n)
    rec = _run(chan, _one_cell(0.0, n), steps)  # at the knee: p_gb ~ 0.1, p_bg 0.3, loss 0.5 in bad
    lost = rec["data_lost"]
    rate = lost.mean()
    assert rate == pytest.approx(float(loss_probability(0.0, SA)), rel=0.08)
    p_ll = (lost[1:] & lost[:-1]).sum() / lost[:-1].sum()  # P(lost | previous lost)
    assert p_ll > 2.0 * rate
    runs = _runs(lost)
    bern = _runs(np.random.default_rng(1).random(lost.shape) < rate)
    assert runs.mean() > 1.15 * bern.mean()  # longer bursts than Bernoulli loss at the same rate
    assert (runs >= 4).mean() > 3.0 * (bern >= 4).mean()
    # the two paths are independent chains
    c = np.corrcoef(rec["data_lost"].ravel(), rec["cmd_lost"].ravel())[0, 1]
    assert abs(c) < 0.05


def test_loss_and_latency_rise_as_sinr_falls():
    sinrs = [25.0, 5.0, -2.0, -5.7]
    n = 400
    loss, mean_lat, p95 = [], [], []
    for s in sinrs:
        rec = _run(_chan(SA, n, seed=7), _one_cell(s, n), 60)
        lat = rec["data_latency_s"][~rec["data_lost"]]
        loss.append(rec["data_lost"].mean())
        mean_lat.append(lat.mean())
        p95.append(np.percentile(lat, 95))
        assert rec["sinr_db"][0, 0] == pytest.approx(s)
    assert np.all(np.diff(loss) > 0)
    assert mean_lat[-1] > mean_lat[0] and p95[-1] > p95[0]
    grid = np.linspace(-6.0, 30.0, 200)
    lp = loss_probability(grid, SA)
    assert np.all(np.diff(lp) <= 1e-15)
    p50, p95a = latency_percentiles(grid, SA)
    assert np.all(np.diff(p50) <= 1e-12) and np.all(np.diff(p95a) <= 1e-12)
    assert p95a[0] > p95a[-1]
    assert ch.harq_residual_bler(-5.9, SA) > ch.harq_residual_bler(10.0, SA)


def test_outage_below_threshold_loses_everything():
    n = 50
    rec = _run(_chan(SA, n), _one_cell(SA.outage_sinr_db - 0.1, n), 20)
    assert rec["outage"].all() and rec["data_lost"].all() and rec["cmd_lost"].all()
    assert np.isinf(rec["data_latency_s"]).all()
    rec = _run(_chan(SA, n), np.full((n, 2), -np.inf), 5)  # no cell at all
    assert (rec["serving"] == -1).all() and rec["outage"].all() and rec["data_lost"].all()
    assert np.isfinite(rec["sinr_db"]).all()
    assert latency_percentiles(np.array([SA.outage_sinr_db - 1.0]), SA)[0][0] == np.inf
    assert loss_probability(SA.outage_sinr_db - 0.01, SA) == 1.0


def test_scheduled_holes():
    prof = load_profile("with_outages")
    x, y, r, t0, t1 = prof.outages[0]
    xy = np.array([[x, y], [x + 0.9 * r, y], [x + 1.1 * r, y]])
    chan = _chan(prof, 3)
    rsrp = _one_cell(30.0, 3)
    ts = [t0 - 1.0, t0, 0.5 * (t0 + t1), t1 - 0.1, t1]
    rec = {}
    for t in ts:
        o = chan.step(t, xy, rsrp)
        rec[t] = (o.outage.copy(), o.data_lost.copy(), o.cmd_lost.copy())
    for t in ts:
        inside = t0 <= t < t1
        assert rec[t][0].tolist() == [inside, inside, False]
        if inside:
            assert rec[t][1][:2].all() and rec[t][2][:2].all()
    # ideal ignores holes
    ideal = _chan(prof.replace(ideal=True), 3)
    o = ideal.step(0.5 * (t0 + t1), xy, rsrp)
    assert not o.outage.any() and not o.data_lost.any()


def test_ideal_profile_zero_latency_no_loss():
    prof = load_profile("ideal")
    n = 20
    levels = np.linspace(-20.0, 30.0, n)[:, None] + NOISE
    rec = _run(_chan(prof, n), levels, 50)
    assert (rec["data_latency_s"] == 0).all() and (rec["cmd_latency_s"] == 0).all()
    assert not rec["data_lost"].any() and not rec["cmd_lost"].any() and not rec["outage"].any()
    assert (rec["serving"] == 0).all()
    o = _chan(prof, n).step(0.0, np.zeros((n, 2)), None)  # no radio at all
    assert (o.data_latency_s == 0).all() and not o.cmd_lost.any()
    p50, p95 = latency_percentiles(np.array([-30.0, 0.0, 30.0]), prof)
    assert (p50 == 0).all() and (p95 == 0).all()
    assert (loss_probability(np.array([-30.0, 30.0]), prof) == 0).all()


def test_latency_percentiles_plausible():
    s = np.array([30.0])
    sa50, sa95 = (v[0] for v in latency_percentiles(s, SA))
    assert 0.002 < sa50 < 0.010 and sa50 < sa95 < 0.020  # one way, edge
    for other in (load_profile("lte"), SA.replace(backhaul="cloud"), load_profile("5g_nsa")):
        o50, o95 = (v[0] for v in latency_percentiles(s, other))
        assert o50 > sa50 + 0.005 and o95 > sa95
    # Monte Carlo agrees with the simulated channel
    n = 500
    rec = _run(_chan(SA, n, seed=3), _one_cell(30.0, n), 20)
    lat = rec["cmd_latency_s"][~rec["cmd_lost"]]
    assert np.percentile(lat, 50) == pytest.approx(sa50, rel=0.05)
    assert np.percentile(lat, 95) == pytest.approx(sa95, rel=0.08)
    # fixed seed: reproducible; shape preserved
    a = latency_percentiles(np.full((2, 3), 10.0), SA)
    assert a[0].shape == (2, 3) and np.array_equal(a[0], latency_percentiles(np.full((2, 3), 10.0), SA)[0])


def test_sinr_matches_radio_formula():
    radio = pytest.importorskip("testbed.link.radio")
    rng = np.random.default_rng(0)
    rsrp = rng.uniform(-120.0, -60.0, (100, 5))
    serving = rng.integers(0, 5, 100)
    out = np.empty(100)
    sinr_kernel(rsrp, serving, 0.7, NOISE, out)
    np.testing.assert_allclose(out, radio.sinr_db(rsrp, serving, 0.7, NOISE), rtol=0, atol=1e-9)


# ------------------------------------------------------------------------------------------ determinism
def _cells(k, n, offset=0.0):
    """Moving received powers for n vessels over 3 cells: handovers and a dip into outage."""
    i = np.arange(n)[:, None] + offset
    c = np.arange(3)[None, :]
    dip = 40.0 * ((k + 3 * i) % 50 < 4)  # every vessel fades out for 4 steps in 50
    return NOISE + 8.0 + 14.0 * np.sin(0.05 * k + 0.7 * i + 2.1 * c) - dip


def test_same_seed_bit_identical_and_batch_independent():
    prof = SA.replace(ge_sinr_knee_db=8.0)
    E, V, steps = 5, 2, 70  # block_steps=8: many refills
    kw = dict(block_steps=8)
    big = LinkChannel(prof, E * V, [np.random.default_rng(100 + e) for e in range(E)], V, **kw)
    big2 = LinkChannel(prof, E * V, [np.random.default_rng(100 + e) for e in range(E)], V, **kw)
    rec = _run(big, lambda k: _cells(k, E * V), steps)
    rec2 = _run(big2, lambda k: _cells(k, E * V), steps)
    for f in ch.LinkStep._fields:
        assert np.array_equal(rec[f], rec2[f]), f
    assert rec["handover"].any() and rec["outage"].any() and rec["data_lost"].any()
    # environment 3 alone, same inputs -> the same bits
    e = 3
    alone = LinkChannel(prof, V, [np.random.default_rng(100 + e)], V, **kw)
    rec1 = _run(alone, lambda k: _cells(k, V, offset=e * V), steps)
    for f in ch.LinkStep._fields:
        assert np.array_equal(rec[f][:, e * V:(e + 1) * V], rec1[f]), f
    # other environments resetting and seeing other powers do not change environment 3
    big3 = LinkChannel(prof, E * V, [np.random.default_rng(100 + j) for j in range(E)], V, **kw)
    xy = np.zeros((E * V, 2))
    for k in range(steps):
        if k == 20:
            big3.reset(1, np.random.default_rng(999))
        r = _cells(k, E * V)
        r[: e * V] -= 7.0
        o = big3.step(k * 0.1, xy, r)
        assert np.array_equal(o.data_latency_s[e * V:(e + 1) * V], rec["data_latency_s"][k, e * V:(e + 1) * V])
        assert np.array_equal(o.cmd_lost[e * V:(e + 1) * V], rec["cmd_lost"][k, e * V:(e + 1) * V])
    # vessel 0 of an environment does not depend on how many vessels the environment has
    one = LinkChannel(prof, 1, [np.random.default_rng(100 + e)], 1, **kw)
    rec_one = _run(one, lambda k: _cells(k, 1, offset=e * V), steps)
    assert np.array_equal(rec_one["data_latency_s"][:, 0], rec1["data_latency_s"][:, 0])
    # a different seed gives a different trace
    other = LinkChannel(prof, V, [np.random.default_rng(5)], V, **kw)
    rec_o = _run(other, lambda k: _cells(k, V, offset=e * V), steps)
    assert not np.array_equal(rec_o["data_latency_s"], rec1["data_latency_s"])


def test_no_nan_and_finite_where_delivered():
    rng = np.random.default_rng(0)
    n = 64
    chan = _chan(load_profile("degraded"), n, vessels_per_env=4)

    def rsrp(k):
        r = rng.uniform(-130.0, -70.0, (n, 4))
        r[rng.random((n, 4)) < 0.1] = np.nan
        r[rng.random((n, 4)) < 0.1] = -np.inf
        return r

    rec = _run(chan, rsrp, 100, xy=rng.uniform(-1000, 1000, (n, 2)))
    for f in ch.LinkStep._fields:
        assert not np.isnan(rec[f].astype(np.float64)).any(), f
    assert np.isfinite(rec["sinr_db"]).all()
    for lat, lost in (("data_latency_s", "data_lost"), ("cmd_latency_s", "cmd_lost")):
        assert np.isfinite(rec[lat][~rec[lost]]).all() and (rec[lat][~rec[lost]] > 0).all()
        assert np.isinf(rec[lat][rec[lost]]).all()


def test_step_time_array_and_errors():
    chan = LinkChannel(SA, 4, None, 2)
    with pytest.raises(RuntimeError, match="before reset"):
        chan.step(0.0, np.zeros((4, 2)), _one_cell(10.0, 4))
    chan.reset(0, np.random.default_rng(0))
    chan.reset(1, np.random.default_rng(1))
    o = chan.step(np.array([0.0, 0.0, 5.0, 5.0]), np.zeros((4, 2)), _one_cell(10.0, 4))
    assert (o.serving == 0).all()
    with pytest.raises(ValueError, match="multiple"):
        LinkChannel(SA, 5, None, 2)
    with pytest.raises(ValueError, match="generators"):
        LinkChannel(SA, 4, [np.random.default_rng(0)], 2)
    assert isinstance(SA, LinkProfile)
