"""Export a replay as MCAP for Foxglove (``testbed replay FILE --export out.mcap``).

Conventions: JSON message encoding with JSON schemas (zstd-compressed chunks); log and publish time =
unix time of the frame (frame 0 as in the GeoJSON export), in nanoseconds. Topics:

==========================  ======================  ===============================================
topic                       schema                  content
==========================  ======================  ===============================================
``/map``                    ``foxglove.GeoJSON``    the map file (WGS84 GeoJSON), once at frame 0
``/route``                  ``foxglove.GeoJSON``    the planned route (LineString) and the goal (Point)
``/vessels/ego``            ``foxglove.LocationFix``  the ego's position every exported frame
``/vessels/traffic_NN``     ``foxglove.LocationFix``  traffic slot NN while it is active (frame_id =
                                                    its name)
``/ego``                    ``testbed.Ego``         plottable: speed, heading, rudder, revs, actions,
                                                    commands, cross-track, distance to goal, min CPA
``/link``                   ``testbed.Link``        plottable: SINR, serving cell, latencies, flags
                                                    (null where not finite)
``/reward``                 ``testbed.Reward``      plottable: total and each weighted component
``/events``                 ``foxglove.Log``        one message per event (level WARNING for
                                                    collision, grounding, near miss, outage)
==========================  ======================  ===============================================
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from atomicio import atomic_path
from testbed.replay import _tracks as tk
from testbed.replay.format import ReplayReader, to_jsonable

TIME = {"type": "object", "title": "time", "properties": {"sec": {"type": "integer", "minimum": 0},
                                                          "nsec": {"type": "integer", "minimum": 0}}}  # fmt: skip
SCHEMAS = {
    "foxglove.GeoJSON": {"title": "foxglove.GeoJSON", "description": "GeoJSON data for annotating maps",
                         "type": "object", "properties": {"geojson": {"type": "string"}}},
    "foxglove.LocationFix": {
        "title": "foxglove.LocationFix", "description": "A navigation satellite fix for any GNSS", "type": "object",
        "properties": {
            "timestamp": TIME, "frame_id": {"type": "string"}, "latitude": {"type": "number"},
            "longitude": {"type": "number"}, "altitude": {"type": "number"},
            "position_covariance": {"type": "array", "items": {"type": "number"}, "minItems": 9, "maxItems": 9},
            "position_covariance_type": {"type": "integer", "enum": [0, 1, 2, 3]},
        },
    },
    "foxglove.Log": {
        "title": "foxglove.Log", "description": "A log message", "type": "object",
        "properties": {"timestamp": TIME, "level": {"type": "integer", "enum": [0, 1, 2, 3, 4, 5]},
                       "message": {"type": "string"}, "name": {"type": "string"}, "file": {"type": "string"},
                       "line": {"type": "integer", "minimum": 0}},
    },
}  # fmt: skip
WARN_KINDS = {"collision", "grounding", "near_miss", "outage", "failsafe", "left_map"}


def _plot_schema(title: str, fields: list[str]) -> dict:
    props = {"timestamp": TIME, "t": {"type": "number"}}
    props.update({f: {"type": ["number", "null"]} for f in fields})
    return {"title": title, "type": "object", "properties": props}


def _ts(t: float) -> dict:
    ns = int(round(t * 1e9))
    return {"sec": ns // 1_000_000_000, "nsec": ns % 1_000_000_000}


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else None


def export_mcap(path: str | Path, out: str | Path, every: int = 1) -> str:
    """Write ``out`` (atomically); returns a one-line summary."""
    from mcap.writer import CompressionType, Writer

    from harbour_maps.map import MapError, map_path

    with ReplayReader(path) as r:
        h = r.header
        frame = tk.local_frame(r)
        t0 = tk.epoch(r)
        idx = tk.frame_index(r, every)
        t = r.times[idx]
        ego = tk.ego_ground(r, idx)
        tr = tk.traffic_ground(r, idx)
        cols = {name: r.column(name)[idx] for name in r.columns
                if name.startswith(("link/", "reward", "action", "command"))
                or name in ("ego/rudder", "ego/revs", "ego/cross_track", "ego/dist_goal", "ego/min_cpa")}  # fmt: skip
        events = r.events
    names = h["reward_names"]
    lon_e, lat_e = frame.to_wgs84(ego["x"], ego["y"])
    n, T = len(t), tr["x"].shape[1]
    lon_t, lat_t = frame.to_wgs84(tr["x"], tr["y"])
    ego_fields = ["sog_ms", "speed_kn", "heading_deg", "course_deg", "rudder_deg", "revs", "action_rudder",
                  "action_engine", "command_rudder", "command_engine", "cross_track_m", "dist_goal_m", "min_cpa_m"]
    link_fields = ["sinr_db", "cell", "data_latency_ms", "cmd_latency_ms", "handover", "interrupted", "outage",
                   "data_lost", "cmd_lost", "failsafe"]
    counts = {}
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        w = Writer(fh, compression=CompressionType.ZSTD)
        w.start(profile="", library="testbed.replay")
        sid = {name: w.register_schema(name=name, encoding="jsonschema", data=json.dumps(s).encode())
               for name, s in SCHEMAS.items()}  # fmt: skip
        sid["testbed.Ego"] = w.register_schema(name="testbed.Ego", encoding="jsonschema",
                                               data=json.dumps(_plot_schema("testbed.Ego", ego_fields)).encode())
        sid["testbed.Link"] = w.register_schema(name="testbed.Link", encoding="jsonschema",
                                                data=json.dumps(_plot_schema("testbed.Link", link_fields)).encode())
        sid["testbed.Reward"] = w.register_schema(name="testbed.Reward", encoding="jsonschema",
                                                  data=json.dumps(_plot_schema("testbed.Reward", ["total", *names])).encode())
        chans = {}

        def chan(topic, schema):
            if topic not in chans:
                chans[topic] = w.register_channel(topic=topic, message_encoding="json", schema_id=sid[schema])
            return chans[topic]

        def put(topic, schema, tt, msg):
            ns = int(round((t0 + tt) * 1e9))
            w.add_message(chan(topic, schema), log_time=ns, publish_time=ns,
                          data=json.dumps(to_jsonable(msg), allow_nan=False, separators=(",", ":")).encode())
            counts[topic.split("/")[1]] = counts.get(topic.split("/")[1], 0) + 1

        try:
            mp = map_path(h["map"]["name"])
            put("/map", "foxglove.GeoJSON", 0.0, {"geojson": mp.read_text(encoding="utf-8")})
        except MapError:
            pass  # the map is not installed: vessels, plots and events are still exported
        rx, ry = np.asarray(h["route"]).T if h.get("route") else (np.zeros(0), np.zeros(0))
        rlon, rlat = frame.to_wgs84(rx, ry)
        g = h["goal"]
        glon, glat = frame.to_wgs84(g["x"], g["y"])
        route = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": "route"},
             "geometry": {"type": "LineString", "coordinates": np.column_stack([rlon, rlat]).tolist()}},
            {"type": "Feature", "properties": {"name": f"goal {g['name']}"},
             "geometry": {"type": "Point", "coordinates": [float(glon), float(glat)]}}]}  # fmt: skip
        put("/route", "foxglove.GeoJSON", 0.0, {"geojson": json.dumps(route)})
        vs = h["vessels"]
        cov = [0.0] * 9
        for i in range(n):
            tt = float(t[i])
            stamp = _ts(t0 + tt)
            put("/vessels/ego", "foxglove.LocationFix", tt, {
                "timestamp": stamp, "frame_id": vs["ego"]["name"], "latitude": float(lat_e[i]),
                "longitude": float(lon_e[i]), "altitude": 0.0, "position_covariance": cov, "position_covariance_type": 0})
            for j in np.flatnonzero(tr["active"][i] > 0):
                put(f"/vessels/traffic_{j:02d}", "foxglove.LocationFix", tt, {
                    "timestamp": stamp, "frame_id": vs["traffic"][j]["name"], "latitude": float(lat_t[i, j]),
                    "longitude": float(lon_t[i, j]), "altitude": 0.0, "position_covariance": cov,
                    "position_covariance_type": 0})
            a, c = cols["action"][i], cols["command"][i]
            put("/ego", "testbed.Ego", tt, {
                "timestamp": stamp, "t": tt, "sog_ms": _num(ego["sog"][i]), "speed_kn": _num(ego["sog"][i] * 3600 / 1852),
                "heading_deg": _num(math.degrees(float(frame.grid_to_true(ego["psi"][i])))),
                "course_deg": _num(math.degrees(float(frame.grid_to_true(ego["cog"][i])))),
                "rudder_deg": _num(math.degrees(cols["ego/rudder"][i])), "revs": _num(cols["ego/revs"][i]),
                "action_rudder": _num(a[0]), "action_engine": _num(a[1]), "command_rudder": _num(c[0]),
                "command_engine": _num(c[1]), "cross_track_m": _num(cols["ego/cross_track"][i]),
                "dist_goal_m": _num(cols["ego/dist_goal"][i]),
                "min_cpa_m": _num(cols["ego/min_cpa"][i]) if cols["ego/min_cpa"][i] < 1e8 else None})
            put("/link", "testbed.Link", tt, {
                "timestamp": stamp, "t": tt, "sinr_db": _num(cols["link/sinr"][i]), "cell": int(cols["link/cell"][i]),
                "data_latency_ms": _num(cols["link/data_latency_ms"][i]),
                "cmd_latency_ms": _num(cols["link/cmd_latency_ms"][i]),
                **{k: int(cols[f"link/{k}"][i]) for k in link_fields[4:]}})
            rw = {"timestamp": stamp, "t": tt, "total": _num(cols["reward/total"][i])}
            rw.update({k: _num(v) for k, v in zip(names, cols["reward"][i], strict=True)})
            put("/reward", "testbed.Reward", tt, rw)
        for e in events:
            put("/events", "foxglove.Log", float(e["t"]), {
                "timestamp": _ts(t0 + e["t"]), "level": 3 if e["kind"] in WARN_KINDS else 2,
                "message": f"{e['kind']}: {e['text']}", "name": e["kind"], "file": str(Path(path).name),
                "line": int(e["step"])})
        w.finish()
    del T
    return ", ".join(f"{k} {v}" for k, v in counts.items()) + " messages"
