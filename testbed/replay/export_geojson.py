"""Export a replay as GeoJSON trajectories for kepler.gl (``testbed replay FILE --export out.geojson``).

Conventions: a ``FeatureCollection`` in WGS84. Every vessel track is a ``LineString`` feature whose
positions are ``[longitude, latitude, altitude = 0, unix time in seconds]`` (kepler.gl's Trip layer
reads the 4th coordinate as the timestamp); a traffic vessel gets one feature per stretch in which it is
active. Feature properties: ``role`` (ego / traffic), ``slot``, ``name``, ``mmsi``, ``type``,
``length_m``, ``beam_m``, ``start_time`` and ``end_time`` (ISO 8601 UTC). Events are ``Point``
features with ``role`` "event", ``kind``, ``text``, ``t`` (episode seconds) and ``timestamp`` (unix).
Unix time of frame 0: the AIS recording time of the episode start for AIS-replayed traffic, else
2024-06-01T00:00:00Z. The top-level member ``testbed`` holds the scenario, seed, episode, agent and
outcome.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from atomicio import atomic_open
from testbed.replay import _tracks as tk
from testbed.replay.format import ReplayReader, to_jsonable


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _line(frame, x, y, t) -> list:
    lon, lat = frame.to_wgs84(x, y)
    return np.column_stack([np.round(lon, 7), np.round(lat, 7), np.zeros(len(t)), np.round(t, 3)]).tolist()


def export_geojson(path: str | Path, out: str | Path, every: int = 1) -> str:
    """Write ``out`` (atomically); returns a one-line summary."""
    with ReplayReader(path) as r:
        h = r.header
        frame = tk.local_frame(r)
        t0 = tk.epoch(r)
        idx = tk.frame_index(r, every)
        t = r.times[idx] + t0
        ego = tk.ego_ground(r, idx)
        tr = tk.traffic_ground(r, idx)
        events = r.events
    feats = []
    ev = h["vessels"]["ego"]
    feats.append({"type": "Feature", "geometry": {"type": "LineString", "coordinates": _line(frame, ego["x"], ego["y"], t)},
                  "properties": {"role": "ego", "slot": None, **ev, "start_time": _iso(t[0]), "end_time": _iso(t[-1])}})  # fmt: skip
    n_pts = len(t)
    for j, tv in enumerate(h["vessels"]["traffic"]):
        for a, b in tk.segments(tr["active"][:, j] > 0):
            if b - a < 2:
                continue
            coords = _line(frame, tr["x"][a:b, j], tr["y"][a:b, j], t[a:b])
            n_pts += b - a
            feats.append({"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords},
                          "properties": {"role": "traffic", **tv, "start_time": _iso(t[a]), "end_time": _iso(t[b - 1])}})  # fmt: skip
    for e in events:
        lon, lat = frame.to_wgs84(e["x"], e["y"])
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(float(lon), 7), round(float(lat), 7)]},
                      "properties": {"role": "event", "kind": e["kind"], "text": e["text"], "t": e["t"],
                                     "timestamp": t0 + e["t"], "vessel": e["vessel"]}})  # fmt: skip
    doc = {"type": "FeatureCollection", "features": feats,
           "testbed": {k: h.get(k) for k in ("scenario", "seed", "episode", "agent", "outcome", "dt")}}  # fmt: skip
    with atomic_open(out, "w") as fh:
        json.dump(to_jsonable(doc), fh, allow_nan=False, separators=(",", ":"))
    return f"{len(feats) - len(events)} trajectories ({n_pts} positions), {len(events)} events"
