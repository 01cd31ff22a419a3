"""``testbed replay info`` / ``--export``: each export read back (mcap reader, the project's AIS decoder, json)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from testbed.cli import main
from testbed.replay import ReplayReader


def test_info(channel_replay, capsys):
    p, _ = channel_replay
    assert main(["replay", "info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "Channel-v0  seed 1 episode 0  agent autopilot" in out and "outcome     goal" in out
    assert "TRAFFIC 0" in out and "goal 1" in out
    assert main(["replay", "info", str(p), "--json"]) == 0
    h = json.loads(capsys.readouterr().out)
    assert h["scenario"] == "Channel-v0" and h["events"][-1]["kind"] == "goal"


def test_run_record_flag(tmp_path, capsys):
    assert main(["run", "Channel-v0", "--episodes", "2", "--seed", "3", "--out", str(tmp_path / "out"),
                 "--record", str(tmp_path / "rec")]) == 0  # fmt: skip
    files = sorted(p.name for p in (tmp_path / "rec").iterdir())
    assert files == ["episode_000.replay", "episode_001.replay"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    for k, f in enumerate(files):
        with ReplayReader(tmp_path / "rec" / f) as r:
            assert r.header["seed"] == 3 + k and r.header["agent"] == "autopilot"
            ep = summary["episodes"][k]
            assert r.header["outcome"] == ep["outcome"] and r.n_steps == ep["steps"]
            assert r.header["return"] == pytest.approx(ep["return"], abs=1e-9)


def test_export_needs_force_and_a_known_format(channel_replay, tmp_path, capsys):
    p, _ = channel_replay
    out = tmp_path / "x.geojson"
    out.write_text("keep")
    assert main(["replay", str(p), "--export", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err and out.read_text() == "keep"
    assert main(["replay", str(p), "--export", str(out), "--force"]) == 0
    assert out.read_text() != "keep"
    assert main(["replay", str(p), str(p), "--export", str(tmp_path / "y.geojson")]) == 2
    assert "--export .geojson takes one replay, got 2" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "none.replay")]) == 2
    assert "none.replay: no such file" in capsys.readouterr().err


def test_viewer_missing_is_one_line(channel_replay, monkeypatch, capsys):
    p, _ = channel_replay
    import testbed.replay

    monkeypatch.setitem(sys.modules, "testbed.replay.viewer", None)
    # an earlier test in this process may have imported it: `from testbed.replay import viewer` would then
    # find the package attribute and open the real window (forever, under the dummy video driver)
    monkeypatch.delattr(testbed.replay, "viewer", raising=False)
    for argv in (["replay", str(p)], ["replay", str(p), "--export", str(p) + ".mp4"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err == "testbed: error: the replay viewer (testbed.replay.viewer) is not installed in this checkout"


def epoch(reader):
    from testbed.replay._tracks import epoch

    t0 = epoch(reader)
    assert t0 == int(reader.header["ais_replay_t0"])  # AIS-replayed traffic: the recording's clock
    return t0


def _local(reader, lon, lat):
    from testbed.replay._tracks import local_frame

    return local_frame(reader).to_local(lon, lat)


def test_geojson_export_read_back(port_replay, tmp_path):
    p, _ = port_replay
    out = tmp_path / "t.geojson"
    assert main(["replay", str(p), "--export", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["type"] == "FeatureCollection" and doc["testbed"]["scenario"] == "PortEntry-v0"
    with ReplayReader(p) as r:
        t0 = epoch(r)
        lines = [f for f in doc["features"] if f["geometry"]["type"] == "LineString"]
        ego = [f for f in lines if f["properties"]["role"] == "ego"]
        assert len(ego) == 1 and ego[0]["properties"]["mmsi"] == r.header["vessels"]["ego"]["mmsi"]
        c = np.array(ego[0]["geometry"]["coordinates"])
        assert c.shape == (r.n_frames, 4)
        np.testing.assert_allclose(c[:, 3], r.times + t0)  # time as the 4th coordinate (unix seconds)
        x, y = _local(r, c[:, 0], c[:, 1])
        np.testing.assert_allclose(x, r.column("ego/x"), atol=0.02)
        np.testing.assert_allclose(y, r.column("ego/y"), atol=0.02)
        act = r.column("traffic/active")
        n_traffic = sum(f["properties"]["role"] == "traffic" for f in lines)
        assert n_traffic >= int((act.sum(axis=0) > 1).sum())
        tr = [f for f in lines if f["properties"]["role"] == "traffic" and f["properties"]["slot"] == 0][0]
        tc = np.array(tr["geometry"]["coordinates"])
        k = np.searchsorted(r.times + t0, tc[:, 3])
        tx, _ = _local(r, tc[:, 0], tc[:, 1])
        np.testing.assert_allclose(tx, r.column("traffic/x")[k, 0], atol=0.02)
        evs = [f for f in doc["features"] if f["properties"]["role"] == "event"]
        assert len(evs) == len(r.events)


def test_nmea_export_read_back_with_the_projects_decoder(port_replay, tmp_path):
    from testbed.ais.ingest import ingest

    p, _ = port_replay
    out = tmp_path / "t.nmea"
    assert main(["replay", str(p), "--export", str(out)]) == 0
    msgs, report = ingest(str(out))
    pos = [m for m in msgs if m.kind == "position"]
    static = {m.mmsi: m for m in msgs if m.kind == "static"}
    with ReplayReader(p) as r:
        h = r.header
        t0 = epoch(r)
        mmsis = {h["vessels"]["ego"]["mmsi"]} | {v["mmsi"] for v in h["vessels"]["traffic"]}
        assert {m.mmsi for m in pos} <= mmsis and h["vessels"]["ego"]["mmsi"] in {m.mmsi for m in pos}
        assert static[h["vessels"]["ego"]["mmsi"]].name == "TESTBED EGO"
        ex, ey = r.column("ego/x"), r.column("ego/y")
        tx, ty = r.column("traffic/x"), r.column("traffic/y")
        slot = {v["mmsi"]: j for j, v in enumerate(h["vessels"]["traffic"])}
        worst = 0.0
        for m in pos:
            i = int(round(m.t - t0))  # tag-block time = frame time (dt = 1 s)
            x, y = _local(r, m.lon, m.lat)
            if m.mmsi == h["vessels"]["ego"]["mmsi"]:
                d = np.hypot(x - ex[i], y - ey[i])
            else:
                j = slot[m.mmsi]
                d = np.hypot(x - tx[i, j], y - ty[i, j])
            worst = max(worst, float(d))
        assert len(pos) > 20 and worst < 0.5  # AIS resolution 1/10000 minute = 0.19 m
    assert sum(report.rejected.values()) == 0 and report.pending == 0  # every line decodes
    assert report.messages_by_type.get(1) == len(pos)


def test_mcap_export_read_back(port_replay, tmp_path):
    from mcap.reader import make_reader

    p, _ = port_replay
    out = tmp_path / "t.mcap"
    assert main(["replay", str(p), "--export", str(out)]) == 0
    with open(out, "rb") as fh:
        reader = make_reader(fh)
        summary = reader.get_summary()
        schemas = {s.name for s in summary.schemas.values()}
        assert {"foxglove.GeoJSON", "foxglove.LocationFix", "foxglove.Log", "testbed.Ego", "testbed.Link",
                "testbed.Reward"} <= schemas  # fmt: skip
        msgs: dict[str, list] = {}
        for schema, channel, message in reader.iter_messages():
            assert channel.message_encoding == "json" and schema.encoding == "jsonschema"
            msgs.setdefault(channel.topic, []).append((message.log_time, json.loads(message.data)))
    with ReplayReader(p) as r:
        t0 = epoch(r)
        n = r.n_frames
        geo = json.loads(msgs["/map"][0][1]["geojson"])
        assert geo["type"] == "FeatureCollection" and geo["features"]
        ego = msgs["/vessels/ego"]
        assert len(ego) == n and ego[5][0] == int(round((t0 + r.times[5]) * 1e9))
        fix = ego[-1][1]
        x, y = _local(r, fix["longitude"], fix["latitude"])
        assert abs(x - r.column("ego/x")[-1]) < 1e-3 and abs(y - r.column("ego/y")[-1]) < 1e-3
        assert fix["timestamp"]["sec"] == int(t0 + r.times[-1])
        link = [m for _, m in msgs["/link"]]
        assert len(link) == n and link[0]["sinr_db"] is None
        np.testing.assert_allclose([m["sinr_db"] for m in link[1:]], r.column("link/sinr")[1:])
        rew = [m for _, m in msgs["/reward"]]
        np.testing.assert_allclose([m["total"] for m in rew], r.column("reward/total"))
        active = r.column("traffic/active")
        assert len(msgs.get("/vessels/traffic_00", [])) == int(active[:, 0].sum())
        assert len(msgs.get("/events", [])) == len(r.events)
