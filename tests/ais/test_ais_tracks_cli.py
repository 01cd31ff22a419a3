"""AIS tracks (gaps, outliers, interpolation) and the ``testbed ais`` CLI on the real files."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from testbed.ais.ingest import AISMessage, ingest
from testbed.ais.tracks import build_tracks
from testbed.cli import main

DATA = Path(__file__).parent / "data"
KN = 1852.0 / 3600.0


def _pos(t, lat, lon, sog=5.0, cog=0.0, heading=None, mmsi=211000001):
    return AISMessage(1, mmsi, "position", t=t, lat=lat, lon=lon, sog=sog, cog=cog, heading=heading)


def _north(t0, n, dt=10.0, v=5.0, lat0=51.45, lon0=6.73, **kw):
    return [_pos(t0 + i * dt, lat0 + v * i * dt / 111_195.0, lon0, sog=v, cog=0.0, **kw) for i in range(n)]


def test_gap_split_and_outlier():
    msgs = _north(0.0, 10) + _north(2000.0, 5)  # 1910 s gap > 600 s
    bad = _pos(45.0, 51.50, 6.73)  # 5 km jump in 5 s
    tr = build_tracks([*msgs, bad])[211000001]
    assert tr.n_segments == 2 and len(tr) == 15
    assert tr.rejected["speed_jump"] == 1
    lat, *_ = tr.interpolate(np.array([-1.0, 1000.0, 50.0]))
    assert np.isnan(lat[0]) and np.isnan(lat[1]) and not np.isnan(lat[2])  # outside / in the gap / inside


def test_inland_speed_limit_and_static_merge():
    msgs = _north(0.0, 3, v=5.0)
    msgs.append(_pos(30.0 + 10.0, msgs[-1].lat + 20.0 * 20 / 111_195.0, 6.73, sog=5.0))  # 20 m/s
    inland = AISMessage(8, 211000001, "inland_static", eni="04001234", eri_type=8010, length=110.0, beam=11.45,
                        draught=2.5, loaded=True)
    static5 = AISMessage(5, 211000001, "static", name="RHEIN", length=100.0, beam=11.0)
    tr_sea = build_tracks(msgs)[211000001]
    tr_inl = build_tracks([*msgs, static5, inland])[211000001]
    assert tr_sea.rejected["speed_jump"] == 0 and tr_inl.rejected["speed_jump"] == 1
    assert tr_inl.inland and tr_inl.static["length"] == 110.0 and tr_inl.static["name"] == "RHEIN"


def test_interpolation_matches_samples_and_is_continuous():
    rng = np.random.default_rng(1)
    msgs, lat, lon, t = [], 51.45, 6.73, 0.0
    for _ in range(30):
        cog = rng.uniform(0, 2 * math.pi)
        msgs.append(_pos(t, lat, lon, sog=4.0, cog=cog, heading=(cog + 0.1) % (2 * math.pi)))
        dt = rng.uniform(3, 12)
        lat += 4.0 * dt * math.cos(cog) / 111_195.0
        lon += 4.0 * dt * math.sin(cog) / (111_195.0 * math.cos(math.radians(51.45)))
        t += dt
    tr = build_tracks(msgs)[211000001]
    la, lo, hd, sg = tr.interpolate(tr.t)
    np.testing.assert_allclose(la, tr.lat, atol=1e-12)
    np.testing.assert_allclose(lo, tr.lon, atol=1e-12)
    np.testing.assert_allclose(sg, tr.sog)
    assert np.allclose(np.angle(np.exp(1j * (hd - tr.heading))), 0, atol=1e-9)
    tq = np.linspace(tr.t[0], tr.t[-1], 20001)
    la, lo, hd, _ = tr.interpolate(tq)
    step = np.hypot(np.diff(la) * 111_195.0, np.diff(lo) * 111_195.0 * math.cos(math.radians(51.45)))
    assert step.max() < 0.5  # dt ~0.014 s, 4 m/s: no jumps
    dh = np.abs(np.angle(np.exp(1j * np.diff(hd))))
    assert dh.max() < 0.05  # heading on the circle: no 2 pi jumps
    lat_s, lon_s, _, _ = tr.interpolate(float(tr.t[3]))
    assert lat_s == pytest.approx(tr.lat[3]) and np.isnan(tr.interpolate(tr.t[-1] + 1)[0])


def test_tracks_from_real_tagblock_file():
    msgs, _ = ingest(DATA / "libais__test_data_tagblock.nmea")
    tracks = build_tracks(msgs)
    tr = tracks[224651000]
    assert len(tr) == 3 and list(tr.t) == sorted(tr.t)
    assert tracks[219005012].static["name"] == "ROSINANTE"


def test_cli_inspect_json(capsys):
    assert main(["ais", "inspect", str(DATA / "gpsd__test_sample.aivdm"), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["lines_read"] == 1121 and s["sum_check"]
    assert s["used"] + s["rejected_total"] == s["lines_read"]
    v = {x["mmsi"]: x for x in s["vessels"]}[244650946]
    assert v["eri_type"] == 8010 and v["length"] == 39.0 and v["draught"] == 2.04
    assert main(["ais", "inspect", str(DATA / "libais__test_data_tagblock.nmea")]) == 0
    out = capsys.readouterr().out
    assert "lines read: 5" in out and "2014-12-10 00:00:01" in out and "OK" in out


def test_cli_tracks_csv(tmp_path, capsys):
    out = tmp_path / "tracks.csv"
    assert main(["ais", "tracks", str(DATA / "pyais__tests_nmea_data_sample.txt"), "--rate", "1",
                 "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert rows and {"mmsi", "segment", "t", "lat", "lon", "sog_ms", "cog_rad", "heading_rad"} <= set(rows[0])
    assert not list(tmp_path.glob(".tracks-*"))  # temp file replaced
    assert "points written" in capsys.readouterr().out
