"""Check a whole AIS recording against the traffic rules, outside any episode (``testbed rules check-ais``).

The file is decoded by the project's ingestion (:func:`testbed.ais.ingest.ingest`), grouped into tracks
(:func:`testbed.ais.tracks.build_tracks`, a report gap over 10 min starts a new segment) and packed like
the world's AIS replay (:func:`testbed.ais.replay.pack_tracks`). On a fixed time grid (``step_s``) the
compiled replay kernel places every segment by the same cubic Hermite interpolation the world's replay
uses, and the rule checker's compiled kernel (:meth:`RuleChecker.check_state`) checks the state: the same
rules, thresholds (``RulesConfig``) and onset logic as in the world. No Python loop per vessel and step.

Vessels are counted once each, and the counts add up to the decoded MMSIs:

* ``no_timed_position``: no position report with a receive time (static data only, or a file without
  times: those cannot be placed on a time grid);
* ``single_report``: no gap-free segment with two or more timed positions (nothing to interpolate);
* ``outside_map``: checkable, but no report inside the map's bounds;
* ``inside_map``: at least one report inside the map's bounds.

Vessels inside the map are checked with the map: its rule zones and its current (speed through the water
= ground velocity minus the map's current, along the heading). Vessels outside it are checked with the
map-independent rules only (meeting § 6.04, overtaking § 6.09/6.10, small craft § 6.02: no zones, no
current, so speed through the water is taken as the ground speed along the heading) in a local
azimuthal-equidistant frame centred on them. A vessel's blue board is the special-manoeuvre flag of its
position reports (set once seen).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from testbed.rules.articles import ARTICLE_IDS

COUNT_KEYS = ("no_timed_position", "single_report", "outside_map", "inside_map")


def _segments(tracks):
    from testbed.ais.replay import _Segment

    return {mmsi: [_Segment(tr, sl) for sl in tr.segment_slices() if sl.stop - sl.start >= 2]
            for mmsi, tr in tracks.items()}


def _inside(hmap, segs) -> bool:
    R = hmap.rasters
    ny, nx = R.shape
    x1, y1 = R.x0 + nx * R.resolution, R.y0 + ny * R.resolution
    for s in segs:
        x, y = hmap.frame.to_local(s.lon, s.lat)
        if np.any((x >= R.x0) & (x <= x1) & (y >= R.y0) & (y <= y1)):
            return True
    return False


def _run_group(hmap, cfg, packed, names, blue, step_s, t0, t1, with_map: bool) -> tuple[dict, list]:
    """Check the packed segments on the grid t0, t0 + step, ... <= t1; returns (counts, events)."""
    from harbour_maps.kernels import pack_geo
    from testbed.ais.replay import replay_kernel
    from testbed.rules.checker import RuleChecker

    V = packed.n_tracks
    rc = RuleChecker(hmap, cfg, 1, 0, V, step_s).bind_map(pack_geo(hmap.rasters), hmap._widx_k)
    if not with_map:
        rc.zones = dataclasses.replace(rc.zones, cell_bits=np.zeros_like(rc.zones.cell_bits))
    rc.names = names
    rc.blue[:] = blue
    x, y, psi, u = (np.zeros(V) for _ in range(4))
    active = np.zeros(V, dtype=np.uint8)
    cur = np.zeros((V, 2))
    track_of = np.arange(V, dtype=np.int64)
    cursor = np.zeros(V, dtype=np.int64)
    mode = np.ones(V, dtype=np.int64)
    z1 = np.zeros(1)
    zc = np.zeros(V)
    length, beam = packed.length.astype(np.float64), packed.beam.astype(np.float64)
    tt = np.zeros(1)
    n = int(math.floor((t1 - t0) / step_s + 1e-9)) + 1 if t1 >= t0 else 0
    for k in range(n):
        tt[0] = t0 + k * step_s
        replay_kernel(1, V, tt, z1, 1.0, track_of, cursor, packed.t, packed.x, packed.y, packed.vx, packed.vy,
                      packed.psi, packed.start, mode, x, y, psi, u, active, cur)  # fmt: skip
        s, c = np.sin(psi), np.cos(psi)
        gx = u * s + cur[:, 0]  # the recorded ground velocity
        gy = u * c + cur[:, 1]
        if with_map:
            cm = hmap.current(np.column_stack([np.where(active == 1, x, 0.0), np.where(active == 1, y, 0.0)]))
            cx, cy = cm[:, 0], cm[:, 1]
            stw = (gx - cx) * s + (gy - cy) * c
        else:
            cx = cy = zc
            stw = gx * s + gy * c
        rc.check_state(tt, x, y, psi, gx, gy, stw, cx, cy, length, beam, active)
    counts = rc.counts_by_article(0)
    return counts, [{k: w for k, w in v.to_dict().items() if k != "env"} for v in rc.take_events(0)]


def check_recording(path, map_name: str = "duisburg_ruhrort", step_s: float = 1.0, t_from: float | None = None,
                    t_to: float | None = None, cfg=None, assume_rate_hz: float | None = None) -> dict:
    """Check the AIS recording ``path`` against the rules (see the module doc). ``t_from`` / ``t_to``:
    seconds after the first timed report (default: the whole file). ``assume_rate_hz``: for a file without
    receive times, line ``i`` is taken to arrive at ``i / rate`` seconds (the ingestion's option; a guess,
    reported as such). Returns a JSON-able dict."""
    from harbour_maps import load_map
    from harbour_maps.geodesy import LocalFrame
    from testbed.ais.ingest import ingest
    from testbed.ais.replay import pack_tracks
    from testbed.ais.tracks import build_tracks
    from testbed.config import RulesConfig

    if not step_s > 0:
        raise ValueError(f"step_s must be > 0, got {step_s}")
    cfg = cfg or RulesConfig()
    hmap = load_map(map_name)
    msgs, report = ingest(str(path), assume_rate_hz=assume_rate_hz)
    blue_mmsi = {m.mmsi for m in msgs if m.kind == "position" and m.blue_sign}
    tracks = build_tracks(msgs)
    del msgs
    segs = _segments(tracks)
    cls: dict[str, list[int]] = {k: [] for k in COUNT_KEYS}
    for mmsi, tr in tracks.items():
        if len(tr) == 0:
            cls["no_timed_position"].append(mmsi)
        elif not segs[mmsi]:
            cls["single_report"].append(mmsi)
        elif _inside(hmap, segs[mmsi]):
            cls["inside_map"].append(mmsi)
        else:
            cls["outside_map"].append(mmsi)
    times = [tr.t for tr in tracks.values() if len(tr)]
    first = float(min(t.min() for t in times)) if times else math.nan
    last = float(max(t.max() for t in times)) if times else math.nan
    t0 = first + (t_from or 0.0) if times else math.nan
    t1 = min(last, first + t_to) if (times and t_to is not None) else last
    out = {"file": str(path), "map": hmap.name, "step_s": step_s, "assume_rate_hz": assume_rate_hz, "first_report_t": first, "last_report_t": last,
           "checked_from_t": t0, "checked_to_t": t1,
           "vessels": {"decoded": len(tracks)} | {k: len(v) for k, v in cls.items()},
           "lines": report.lines_read, "messages": report.messages, "ingest": report.as_dict(),
           "groups": {}}
    for group, with_map in (("inside_map", True), ("outside_map", False)):
        sel = [s for mmsi in cls[group] for s in segs[mmsi]]
        res = {"vessels": len(cls[group]), "segments": len(sel), "violations": dict.fromkeys(ARTICLE_IDS, 0),
               "events": []}
        if sel and t1 >= t0:
            if with_map:
                frame = hmap.frame
            else:
                lat0 = float(np.median(np.concatenate([s.lat for s in sel])))
                lon0 = float(np.median(np.concatenate([s.lon for s in sel])))
                frame = LocalFrame(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m", lon0, lat0)
                res["frame"] = {"proj": "aeqd", "lat0": lat0, "lon0": lon0}
            packed = pack_tracks(sel, frame)
            names = [str(m) for m in packed.mmsi.tolist()]
            blue = np.array([m in blue_mmsi for m in packed.mmsi.tolist()], dtype=np.uint8)
            counts, events = _run_group(hmap, cfg, packed, names, blue, step_s, t0, t1, with_map)
            res["violations"] = counts
            res["events"] = events
        out["groups"][group] = res
    return out


def format_report(res: dict) -> str:
    """The human-readable summary ``testbed rules check-ais`` prints."""
    v = res["vessels"]
    span = res["checked_to_t"] - res["checked_from_t"] if not math.isnan(res["checked_from_t"]) else 0.0
    lines = [f"{Path(res['file']).name}: {res['lines']} lines, {res['messages']} messages, {v['decoded']} vessels "
             f"decoded = {v['inside_map']} inside map {res['map']} + {v['outside_map']} outside it + "
             f"{v['single_report']} with a single report + {v['no_timed_position']} without a timed position",
             f"checked {span:.0f} s on a {res['step_s']:g} s grid"
             + (f" (times assumed: {res['assume_rate_hz']:g} lines/s where the file has none)"
                if res.get("assume_rate_hz") else ""),
             f"{'article':8s} {'inside':>7s} {'outside':>8s}"]
    gi, go = res["groups"]["inside_map"], res["groups"]["outside_map"]
    for a in ARTICLE_IDS:
        lines.append(f"{a:8s} {gi['violations'][a]:7d} {go['violations'][a]:8d}")
    lines.append(f"{'total':8s} {sum(gi['violations'].values()):7d} {sum(go['violations'].values()):8d}")
    lines.append("(outside the map: map-independent rules only, 6.04 / 6.09 / 6.02)")
    return "\n".join(lines)
