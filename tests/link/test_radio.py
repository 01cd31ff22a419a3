"""Validation of the radio model against 3GPP TR 38.901 / TS 38.214, computed independently here.

The reference formulas below are written out from TR 38.901 Table 7.4.1-1 (path loss) and Table
7.4.2-1 (LOS probability) with scalar ``math`` code that does not use the implementation; the literal
numbers in ``PL_CASES`` were worked out from those formulas (e.g. UMa LOS, fc = 3.5 GHz, h_BS = 25 m,
h_UT = 1.5 m, d_2D = 100 m: d_3D = sqrt(100^2 + 23.5^2) = 102.72 m, d'_BP = 4 * 24 * 0.5 * 3.5e9 / 3e8
= 560 m > d_2D so PL1 = 28 + 22 log10(102.72) + 20 log10(3.5) = 28 + 44.257 + 10.881 = 83.138 dB;
at d_2D = 1000 m > d'_BP: PL2 = 28 + 40 log10(1000.28) + 10.881 - 9 log10(560^2 + 23.5^2)
= 28 + 120.005 + 10.881 - 49.474 = 109.412 dB).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from testbed.link import nr_tables, radio
from testbed.link.profiles import CARRIERS, LinkError, LinkProfile, list_profiles, load_profile

L = math.log10
C = 3.0e8


# --- independent scalar reference (TR 38.901 Table 7.4.1-1) -----------------------------------------
def ref_uma_los(d2, hb, hu, fc):
    d3 = math.hypot(d2, hb - hu)
    dbp = 4 * (hb - 1.0) * (hu - 1.0) * fc * 1e9 / C  # h_E = 1 m (h_UT < 13 m)
    if d2 <= dbp:
        return 28.0 + 22 * L(d3) + 20 * L(fc)
    return 28.0 + 40 * L(d3) + 20 * L(fc) - 9 * L(dbp**2 + (hb - hu) ** 2)


def ref_uma_nlos(d2, hb, hu, fc):
    d3 = math.hypot(d2, hb - hu)
    return max(ref_uma_los(d2, hb, hu, fc), 13.54 + 39.08 * L(d3) + 20 * L(fc) - 0.6 * (hu - 1.5))


def ref_umi_los(d2, hb, hu, fc):
    d3 = math.hypot(d2, hb - hu)
    dbp = 4 * (hb - 1.0) * (hu - 1.0) * fc * 1e9 / C
    if d2 <= dbp:
        return 32.4 + 21 * L(d3) + 20 * L(fc)
    return 32.4 + 40 * L(d3) + 20 * L(fc) - 9.5 * L(dbp**2 + (hb - hu) ** 2)


def ref_umi_nlos(d2, hb, hu, fc):
    d3 = math.hypot(d2, hb - hu)
    return max(ref_umi_los(d2, hb, hu, fc), 35.3 * L(d3) + 22.4 + 21.3 * L(fc) - 0.3 * (hu - 1.5))


def ref_rma_pl1(d, fc, h=5.0):
    return (20 * L(40 * math.pi * d * fc / 3) + min(0.03 * h**1.72, 10) * L(d) - min(0.044 * h**1.72, 14.77)
            + 0.002 * L(h) * d)


def ref_rma_los(d2, hb, hu, fc):
    d3 = math.hypot(d2, hb - hu)
    dbp = 2 * math.pi * hb * hu * fc * 1e9 / C
    if d2 <= dbp:
        return ref_rma_pl1(d3, fc)
    return ref_rma_pl1(dbp, fc) + 40 * L(d3 / dbp)


def ref_rma_nlos(d2, hb, hu, fc, h=5.0, W=20.0):
    d3 = math.hypot(d2, hb - hu)
    nl = (161.04 - 7.1 * L(W) + 7.5 * L(h) - (24.37 - 3.7 * (h / hb) ** 2) * L(hb)
          + (43.42 - 3.1 * L(hb)) * (L(d3) - 3) + 20 * L(fc) - (3.2 * L(11.75 * hu) ** 2 - 4.97))
    return max(ref_rma_los(d2, hb, hu, fc), nl)


REF = {"UMa": (ref_uma_los, ref_uma_nlos), "UMi": (ref_umi_los, ref_umi_nlos), "RMa": (ref_rma_los, ref_rma_nlos)}

# (scenario, h_BS, h_UT, fc GHz, d_2D, PL_LOS, PL_NLOS); breakpoints: UMa 3.5 GHz/1.5 m 560 m, 0.7 GHz
# 112 m, 1.8 GHz/6 m (h_BS 35) 4080 m; UMi 3.5 GHz 210 m, 0.7 GHz 42 m, 1.8 GHz/6 m 1080 m;
# RMa 0.7 GHz 769.7 m, 1.8 GHz 1979 m, 3.5 GHz/1.5 m 3848 m, 3.5 GHz/6 m 15394 m.
PL_CASES = [
    ("UMa", 25, 1.5, 3.5, 100, 83.1382, 103.0375),   # before d'_BP
    ("UMa", 25, 1.5, 3.5, 1000, 109.4119, 141.6660),  # after
    ("UMa", 25, 1.5, 0.7, 50, 63.2328, 78.5314),
    ("UMa", 25, 1.5, 0.7, 500, 95.8256, 115.9364),
    ("UMa", 35, 6, 1.8, 300, 87.6466, 112.8303),
    ("UMa", 35, 6, 1.8, 3000, 109.6026, 151.8321),
    ("UMi", 10, 1.5, 3.5, 100, 85.3142, 104.6438),
    ("UMi", 10, 1.5, 3.5, 400, 103.2388, 125.8448),
    ("UMi", 10, 1.5, 0.7, 30, 60.6736, 71.8349),
    ("UMi", 10, 1.5, 0.7, 200, 90.3515, 100.3408),
    ("UMi", 10, 6, 1.8, 2000, 111.9116, 143.0137),
    ("RMa", 35, 1.5, 0.7, 500, 84.6325, 104.8433),
    ("RMa", 35, 1.5, 0.7, 2000, 105.4155, 128.0677),
    ("RMa", 35, 1.5, 1.8, 1000, 99.6837, 124.6484),
    ("RMa", 35, 1.5, 3.5, 4000, 122.0928, 153.6751),
    ("RMa", 35, 6, 3.5, 4000, 121.9770, 147.7135),
]


@pytest.mark.parametrize("sc,hb,hu,fc,d2,pl_los,pl_nlos", PL_CASES)
def test_pathloss_literal_values(sc, hb, hu, fc, d2, pl_los, pl_nlos):
    d3 = math.hypot(d2, hb - hu)
    assert REF[sc][0](d2, hb, hu, fc) == pytest.approx(pl_los, abs=1e-3)
    assert REF[sc][1](d2, hb, hu, fc) == pytest.approx(pl_nlos, abs=1e-3)
    assert float(radio.pathloss_los(sc, d2, d3, fc, hb, hu)) == pytest.approx(pl_los, abs=1e-3)
    assert float(radio.pathloss_nlos(sc, d2, d3, fc, hb, hu)) == pytest.approx(pl_nlos, abs=1e-3)


@pytest.mark.parametrize("sc", ["UMa", "UMi", "RMa"])
@pytest.mark.parametrize("fc", [0.7, 1.8, 3.5])
@pytest.mark.parametrize("hb,hu", [(25.0, 1.5), (35.0, 6.0), (10.0, 3.0)])
def test_pathloss_grid_both_sides_of_breakpoint(sc, fc, hb, hu):
    if sc == "RMa":
        dbp = 2 * math.pi * hb * hu * fc * 1e9 / C
    else:
        dbp = 4 * (hb - 1) * (hu - 1) * fc * 1e9 / C
    assert float(radio.breakpoint_distance(sc, fc, hb, hu)) == pytest.approx(dbp, rel=1e-12)
    d2 = np.array([10.0, 0.5 * dbp, 0.99 * dbp, 1.01 * dbp, 2 * dbp, 4900.0])
    d2 = d2[d2 >= 10.0]
    d3 = np.hypot(d2, hb - hu)
    los = radio.pathloss_los(sc, d2, d3, fc, hb, hu)
    nlos = radio.pathloss_nlos(sc, d2, d3, fc, hb, hu)
    for k, d in enumerate(d2):
        assert los[k] == pytest.approx(REF[sc][0](d, hb, hu, fc), abs=1e-9)
        assert nlos[k] == pytest.approx(REF[sc][1](d, hb, hu, fc), abs=1e-9)
    assert np.all(nlos >= los)
    # LOS path loss is continuous at the breakpoint (PL1(d_BP) == PL2(d_BP)) for UMa/UMi/RMa
    eps = 1e-6 * dbp
    a = radio.pathloss_los(sc, [dbp - eps, dbp + eps], np.hypot([dbp - eps, dbp + eps], hb - hu), fc, hb, hu)
    assert abs(a[1] - a[0]) < (0.05 if sc == "RMa" else 1e-3)  # RMa: PL1 uses d_3D, PL2 anchors at d_BP


def test_pathloss_selects_by_los_flag_and_clamps_near_field():
    d2 = np.array([5.0, 300.0])
    d3 = np.hypot(d2, 23.5)
    pl = radio.pathloss("UMa", d2, d3, 3.5, 25.0, 1.5, los=np.array([True, False]))
    assert pl[0] == pytest.approx(ref_uma_los(10.0, 25.0, 1.5, 3.5))  # d_2D < 10 m clamped to 10 m
    assert pl[1] == pytest.approx(ref_uma_nlos(300.0, 25.0, 1.5, 3.5))


def test_uma_h_e_rule():
    # C(d2D, hUT) = 0 below 13 m: h_E = 1 m deterministically, no rng needed
    assert np.all(radio.uma_h_e([20.0, 200.0, 2000.0], 6.0) == 1.0)
    # above 13 m it is random: values in {1} U {12, 15, ..., hUT - 1.5}
    he = radio.uma_h_e(np.full(2000, 150.0), 22.5, np.random.default_rng(1))
    assert set(np.unique(he)) <= {1.0, 12.0, 15.0, 18.0, 21.0}
    g = 1.25 * 1.5**3 * math.exp(-1.0)
    c = ((22.5 - 13) / 10) ** 1.5 * g
    assert np.mean(he == 1.0) == pytest.approx(1 / (1 + c), abs=0.04)
    with pytest.raises(LinkError, match="h_UT"):
        radio.uma_h_e([150.0], 20.0)


def ref_plos(sc, d, hu=1.5):
    if sc == "RMa":
        return 1.0 if d <= 10 else math.exp(-(d - 10) / 1000)
    if sc == "UMi":
        return 1.0 if d <= 18 else 18 / d + math.exp(-d / 36) * (1 - 18 / d)
    cp = 0.0 if hu <= 13 else ((hu - 13) / 10) ** 1.5
    return 1.0 if d <= 18 else (18 / d + math.exp(-d / 63) * (1 - 18 / d)) * (1 + cp * 1.25 * (d / 100) ** 3 * math.exp(-d / 150))


def test_los_probability():
    # literal: UMa 100 m: 0.18 + exp(-100/63) * 0.82 = 0.18 + 0.20453 * 0.82 = 0.34771
    assert float(radio.los_probability("UMa", 100.0)) == pytest.approx(0.34771, abs=1e-4)
    # UMi 100 m: 0.18 + exp(-100/36) * 0.82 = 0.18 + 0.062177 * 0.82 = 0.23099
    assert float(radio.los_probability("UMi", 100.0)) == pytest.approx(0.23099, abs=1e-4)
    # RMa 1010 m: exp(-1) = 0.36788
    assert float(radio.los_probability("RMa", 1010.0)) == pytest.approx(0.36788, abs=1e-4)
    # UMa with h_UT = 20 m, 150 m: C' = 0.7^1.5 = 0.58566; (18/150 + e^(-150/63) 0.88)(1 + C' 1.25 1.5^3 e^-1)
    assert float(radio.los_probability("UMa", 150.0, 20.0)) == pytest.approx(
        (0.12 + math.exp(-150 / 63) * 0.88) * (1 + 0.7**1.5 * 1.25 * 3.375 * math.exp(-1)), rel=1e-9)
    d = np.array([1.0, 10.0, 18.0, 19.0, 50.0, 200.0, 1000.0, 5000.0])
    for sc in ("UMa", "UMi", "RMa"):
        for hu in (1.5, 6.0, 18.0):
            p = radio.los_probability(sc, d, hu)
            assert np.allclose(p, [ref_plos(sc, x, hu) for x in d], rtol=0, atol=1e-12)
            assert np.all((p >= 0) & (p <= 1.0 + 1e-12))


def test_applicability_reported():
    msgs = radio.check_applicability("UMa", d_2d=[5.0, 100.0, 6000.0], fc_ghz=3.5, h_bs=30.0, h_ut=6.0)
    assert any("d_2d" in m for m in msgs) and any("h_bs" in m for m in msgs)
    assert radio.check_applicability("RMa", d_2d=[100.0], fc_ghz=3.5, h_bs=35.0, h_ut=1.5) == []
    with pytest.raises(LinkError, match="fc_ghz"):
        radio.check_applicability("RMa", fc_ghz=40.0, strict=True)


def test_sector_pattern():
    # A(phi) = -min(12 (phi/65)^2, 30); G = 8 dBi
    g = radio.sector_gain_db(np.radians([0.0, 32.5, -32.5, 65.0, 180.0, 360.0 + 10.0]))
    assert g[0] == pytest.approx(8.0)
    assert g[1] == pytest.approx(8.0 - 3.0)  # 3 dB at half the beamwidth
    assert g[2] == pytest.approx(8.0 - 3.0)
    assert g[3] == pytest.approx(8.0 - 12.0)
    assert g[4] == pytest.approx(8.0 - 30.0)  # front-to-back capped at A_max
    assert g[5] == pytest.approx(8.0 - 12 * (10 / 65) ** 2)  # wrapped
    assert radio.bearing(0.0, 1.0) == pytest.approx(0.0)  # north
    assert radio.bearing(1.0, 0.0) == pytest.approx(math.pi / 2)  # east, clockwise


def test_shadow_table_matches_copied_data():
    path = Path(radio.__file__).parent / "data" / "tr38901_shadow_fading_from_sionna_json.csv"
    rows = {r["file"]: r for r in csv.DictReader(path.open())}
    for (sc, los), (sigma, dcorr) in radio.SHADOW.items():
        r = rows[f"{sc}_{'LoS' if los else 'NLoS'}.json"]
        assert float(r["sigmaSF"]) == pytest.approx(sigma) if not (sc == "RMa" and los) else True
        assert float(r["corrDistSF_m"]) == pytest.approx(dcorr)
    assert float(rows["RMa_LoS.json"]["sigmaSF1"]) == radio.SHADOW[("RMa", True)][0]
    assert float(rows["RMa_LoS.json"]["sigmaSF2"]) == radio.RMA_LOS_SIGMA2


def test_shadow_field_statistics():
    sigma, dcorr, res = 6.0, 50.0, 10.0
    f = sigma * radio.correlated_gaussian_field((500, 500), res, dcorr, np.random.default_rng(3))
    assert abs(f.std() / sigma - 1.0) < 0.10
    assert abs(f.mean()) < 0.2 * sigma
    lag = int(dcorr / res)
    z = (f - f.mean()) / f.std()
    rho = 0.5 * (np.mean(z[:, :-lag] * z[:, lag:]) + np.mean(z[:-lag, :] * z[lag:, :]))
    assert rho == pytest.approx(math.exp(-1.0), abs=0.06)
    rho2 = 0.5 * (np.mean(z[:, :-2 * lag] * z[:, 2 * lag:]) + np.mean(z[:-2 * lag, :] * z[2 * lag:, :]))
    assert rho2 == pytest.approx(math.exp(-2.0), abs=0.06)


def test_sinr_formula():
    p = np.array([[-70.0, -80.0, -90.0]])
    s = radio.sinr_db(p, np.array([0]), 0.5, -100.0)
    expect = 10 * L(1e-7 / (0.5 * (1e-8 + 1e-9) + 1e-10))
    assert float(s[0]) == pytest.approx(expect, abs=1e-9)
    serving, s2 = radio.best_server_sinr_db(p, 0.5, -100.0)
    assert serving[0] == 0 and s2[0] == pytest.approx(expect)


def test_noise_and_carriers():
    p = load_profile("5g_sa")
    assert p.noise_dbm == pytest.approx(-174 + 10 * L(100e6) + 7.0)
    assert set(CARRIERS) >= {"n78", "n28", "lte800", "lte1800"}
    assert CARRIERS["n78"].fc_ghz == 3.5 and CARRIERS["n78"].duplex == "TDD"
    assert CARRIERS["n28"].fc_ghz == 0.7 and CARRIERS["n28"].duplex == "FDD"


# --- RadioMap ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hmap():
    from harbour_maps import load_map

    return load_map("duisburg_ruhrort")


def test_radiomap_deterministic_and_seeded(hmap, tmp_path):
    p = load_profile("5g_sa")
    a = radio.RadioMap(hmap, p, seed=7, resolution_m=80, use_cache=False)
    b = radio.RadioMap(hmap, p, seed=7, resolution_m=80, use_cache=False)
    c = radio.RadioMap(hmap, p, seed=8, resolution_m=80, use_cache=False)
    assert a.rsrp.dtype == np.float32 and a.rsrp.shape == (a.n_cells, a.ny, a.nx)
    assert a.n_cells == sum(len(s.sectors) for s in hmap.cell_sites)
    assert np.array_equal(a.rsrp, b.rsrp) and np.array_equal(a.best_sinr_db, b.best_sinr_db)
    assert not np.array_equal(a.rsrp, c.rsrp)
    # disk cache round trip is bit-identical
    d = radio.RadioMap(hmap, p, seed=7, resolution_m=80, cache_dir=tmp_path)
    e = radio.RadioMap(hmap, p, seed=7, resolution_m=80, cache_dir=tmp_path)
    assert d.precompute_s > 0 and e.precompute_s == 0.0 and e.cache_path.is_file()
    assert np.array_equal(a.rsrp, e.rsrp)
    # the lookup kernel returns the raster values at pixel centres (nearest and bilinear)
    X, Y = a.grid_xy()
    idx = [(3, 4), (10, 2), (a.ny - 1, a.nx - 1)]
    pts = np.array([[X[j, i], Y[j, i]] for j, i in idx])
    for bil in (False, True):
        v = a.rsrp_at(pts, bilinear=bil)
        assert v.shape == (3, a.n_cells)
        for k, (j, i) in enumerate(idx):
            assert np.allclose(v[k], a.rsrp[:, j, i], atol=1e-4)
    # bilinear half way between two pixels is the mean
    mid = np.array([[X[3, 4] + 0.5 * a.res, Y[3, 4]]])
    assert np.allclose(a.rsrp_at(mid)[0], 0.5 * (a.rsrp[:, 3, 4].astype(float) + a.rsrp[:, 3, 5]), atol=1e-4)


def test_shadow_fading_off_gives_pure_pathloss(hmap):
    p = load_profile("5g_sa", {"scenario": "UMa", "shadow_fading": False, "bridge_blockage": False})
    rm = radio.RadioMap(hmap, p, seed=0, resolution_m=100, use_cache=False)
    X, Y = rm.grid_xy()
    site = hmap.cell_sites[0]
    j, i = 5, 7
    d2 = math.hypot(X[j, i] - site.xy[0], Y[j, i] - site.xy[1])
    los = bool(rm.los[0, j, i])
    pl = (ref_uma_los if los else ref_uma_nlos)(d2, site.height_m, 6.0, 3.5)
    phi = radio.bearing(X[j, i] - site.xy[0], Y[j, i] - site.xy[1]) - site.sectors[0]
    phi_deg = math.degrees((phi + math.pi) % (2 * math.pi) - math.pi)
    expect = p.tx_power_dbm + 8.0 - min(12 * (phi_deg / 65) ** 2, 30) - pl
    assert float(rm.rsrp[0, j, i]) == pytest.approx(expect, abs=1e-3)


def test_bridge_blockage_forces_nlos(hmap):
    p = load_profile("5g_sa", {"bridge_blockage_m": 60.0})
    on = radio.RadioMap(hmap, p, seed=0, resolution_m=20, use_cache=False)
    off = radio.RadioMap(hmap, p.replace(bridge_blockage=False), seed=0, resolution_m=20, use_cache=False)
    X, Y = on.grid_xy()
    mask = radio.bridge_mask(hmap, X, Y, 60.0)
    assert mask.sum() > 50
    assert not on.los[:, mask].any()
    assert off.los[:, mask].any()  # without blockage some of those pixels see a site
    assert np.array_equal(on.los[:, ~mask], off.los[:, ~mask])
    extra = radio.RadioMap(hmap, p.replace(bridge_extra_loss_db=10.0), seed=0, resolution_m=20, use_cache=False)
    assert np.allclose(extra.rsrp[:, mask], np.maximum(on.rsrp[:, mask] - 10.0, p.rsrp_floor_dbm), atol=1e-3)
    assert np.array_equal(extra.rsrp[:, ~mask], on.rsrp[:, ~mask])


# --- NR tables ------------------------------------------------------------------------------------------
def test_nr_tables():
    assert nr_tables.CQI_TABLE_1.shape == (16, 3)
    assert tuple(nr_tables.CQI_TABLE_1[15]) == (6, 948, 5.5547)
    assert tuple(nr_tables.CQI_TABLE_1[7]) == (4, 378, 1.4766)
    # efficiency = Qm * R / 1024 (rounded to 4 decimals in the standard)
    for q, r, e in nr_tables.CQI_TABLE_1[1:]:
        assert e == pytest.approx(q * r / 1024, abs=6e-5)
    for q, r, e in nr_tables.MCS_TABLE_1[:29]:
        assert e == pytest.approx(q * r / 1024, abs=6e-5)
    assert np.array_equal(nr_tables.sinr_to_cqi([-20.0, -6.7, 0.0, 22.7, 40.0, np.nan]), [0, 1, 3, 15, 15, 0])
    p = load_profile("5g_sa")
    t = nr_tables.throughput_mbps(np.array([-10.0, 0.0, 10.0, 30.0]), p)
    assert t[0] == 0.0 and np.all(np.diff(t) > 0)
    # peak: 4 layers * 5.5547 * 12 * 273 * 14 / 0.5 ms * 0.86 * 0.74 * 0.9
    assert t[-1] == pytest.approx(4 * 5.5547 * 12 * 273 * 14 / 0.5e-3 * 0.86 * 0.74 * 0.9 / 1e6, rel=1e-9)


# --- profiles -----------------------------------------------------------------------------------------
def test_all_profiles_load():
    names = list_profiles()
    assert {"ideal", "5g_sa", "5g_nsa", "lte", "degraded", "with_outages"} <= set(names)
    for n in names:
        assert load_profile(n).name == n
    assert load_profile("ideal").ideal
    wo = load_profile("with_outages")
    assert len(wo.outages) >= 2 and all(o[2] == 150.0 for o in wo.outages)
    assert wo.in_outage([[wo.outages[0][0], wo.outages[0][1]]], wo.outages[0][3] + 1.0)[0]
    assert not wo.in_outage([[wo.outages[0][0], wo.outages[0][1]]], wo.outages[0][4] + 1.0)[0]


def test_profile_errors_name_key_and_value(tmp_path):
    with pytest.raises(LinkError, match=r"'tx_pwr'.*12"):
        load_profile("5g_sa", {"tx_pwr": 12})
    with pytest.raises(LinkError, match=r"cell_load=1\.5"):
        load_profile("5g_sa", {"cell_load": 1.5})
    with pytest.raises(LinkError, match=r"carrier='n99'"):
        load_profile("5g_sa", {"carrier": "n99"})
    with pytest.raises(LinkError, match=r"shadow_fading='yes'"):
        load_profile("5g_sa", {"shadow_fading": "yes"})
    with pytest.raises(LinkError, match=r"harq_max_tx=2\.5"):
        load_profile("5g_sa", {"harq_max_tx": 2.5})
    with pytest.raises(LinkError, match=r"outages\[0\]"):
        load_profile("5g_sa", {"outages": [[0, 0, 100, 50, 10]]})
    f = tmp_path / "bad.yaml"
    f.write_text("extends: 5g_sa\nnoise_figur_db: 9\n")
    with pytest.raises(LinkError, match=r"bad\.yaml.*'noise_figur_db'"):
        load_profile(str(f))
    with pytest.raises(LinkError, match="unknown link profile .no_such_profile.; known: 5g_nsa"):
        load_profile("no_such_profile")
    with pytest.raises(LinkError, match="tx_power_dbm"):
        LinkProfile(tx_power_dbm=float("nan")).validate()


def test_coverage_cli_writes_png(tmp_path):
    from testbed.cli import main

    out = tmp_path / "cov.png"
    rc = main(["link", "coverage", "--map", "duisburg_ruhrort", "--profile", "5g_sa", "--out", str(out),
               "--resolution", "100", "--no-cache", "--metric", "throughput"])
    assert rc == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
