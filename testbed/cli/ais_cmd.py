"""``testbed ais``: inspect a real AIS log (accounting, vessels, extent) and write per-vessel tracks."""

from __future__ import annotations

import json
import math


def register(sub) -> None:
    p = sub.add_parser("ais", help="AIS logs: inspect (accounting, vessels), tracks (per-vessel CSV), synth",
                       description="Read AIS NMEA logs (plain or gzip, tag blocks, Gatehouse, receiver times).")
    asub = p.add_subparsers(dest="ais_command", metavar="AIS_COMMAND")
    asub.required = True

    ip = asub.add_parser("inspect", help="lines read, messages by type, rejections, vessels, time span, bbox")
    ip.add_argument("file", metavar="FILE", help="AIS log (plain or gzip), udp://host:port or tcp://host:port")
    ip.add_argument("--json", action="store_true", help="print JSON instead of text")
    _common(ip)
    ip.set_defaults(func=_cmd_inspect)

    tp = asub.add_parser("tracks", help="write per-vessel tracks (outliers removed, gaps split) to CSV")
    tp.add_argument("file", metavar="FILE", help="AIS log (plain or gzip)")
    tp.add_argument("--out", required=True, help="output CSV (written atomically)")
    tp.add_argument("--gap", type=float, default=600.0, help="gap in seconds that splits a track (default 600)")
    _common(tp)
    tp.set_defaults(func=_cmd_tracks)

    from testbed.ais.synth import add_synth_parser

    add_synth_parser(asub)


def _common(p) -> None:
    p.add_argument("--rate", type=float, default=None, metavar="HZ",
                   help="assume this line rate for lines without a receive time (time = line / HZ)")
    p.add_argument("--start", type=float, default=0.0, help="start time (unix s) for --rate (default 0)")
    p.add_argument("--idle-timeout", type=float, default=5.0, help="stop a live source after this idle time")


def _read(args):
    from testbed.ais.ingest import AISIngestor

    ing = AISIngestor(assume_rate_hz=args.rate, start_time=args.start)
    kw = {"idle_timeout": args.idle_timeout} if str(args.file).startswith(("udp://", "tcp://")) else {}
    msgs = list(ing.iter_source(args.file, **kw))
    return msgs, ing.report


def summarise(msgs, report) -> dict:
    """The inspect summary as a JSON-able dict."""
    vessels: dict[int, dict] = {}
    lats, lons, times = [], [], []
    for m in msgs:
        v = vessels.setdefault(m.mmsi, {"mmsi": m.mmsi, "name": None, "ship_type": None, "eri_type": None,
                                        "length": None, "beam": None, "draught": None, "first_time": None,
                                        "last_time": None, "positions": 0, "messages": 0})
        v["messages"] += 1
        for k in ("name", "ship_type", "eri_type", "length", "beam", "draught"):
            val = getattr(m, k)
            if val is not None and (v[k] is None or m.kind == "inland_static"):
                v[k] = val
        if m.t is not None:
            times.append(m.t)
            v["first_time"] = m.t if v["first_time"] is None else min(v["first_time"], m.t)
            v["last_time"] = m.t if v["last_time"] is None else max(v["last_time"], m.t)
        if m.kind == "position":
            v["positions"] += 1
        if m.lat is not None and m.lon is not None:
            lats.append(m.lat)
            lons.append(m.lon)
    rep = report.as_dict()
    rep["sum_check"] = report.used + sum(report.rejected.values()) + report.pending == report.lines_read
    return {
        **rep,
        "time_span": [min(times), max(times)] if times else None,
        "bbox": [min(lons), min(lats), max(lons), max(lats)] if lats else None,
        "vessels": [vessels[k] for k in sorted(vessels)],
    }


def _fmt_t(t) -> str:
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return "-"
    import datetime

    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cmd_inspect(args) -> int:
    msgs, report = _read(args)
    s = summarise(msgs, report)
    if args.json:
        print(json.dumps(s, indent=1))
        return 0
    rej_total = s["rejected_total"]
    print(f"lines read: {s['lines_read']}  used: {s['used']}  rejected: {rej_total}  "
          f"(used + rejected = {s['used'] + rej_total}: {'OK' if s['sum_check'] else 'MISMATCH'})")
    print("messages by type: " + ", ".join(f"{k}: {v}" for k, v in s["messages_by_type"].items()))
    print("rejected by reason: " + ", ".join(f"{k}: {v}" for k, v in s["rejected"].items() if v))
    if s["time_span"]:
        print(f"time span: {_fmt_t(s['time_span'][0])} .. {_fmt_t(s['time_span'][1])} UTC")
    else:
        print("time span: no receive times (use --rate)")
    if s["bbox"]:
        print("bbox (lon0, lat0, lon1, lat1): " + ", ".join(f"{x:.5f}" for x in s["bbox"]))
    print(f"vessels: {len(s['vessels'])}")
    print(f"{'MMSI':>10} {'name':20} {'type':>5} {'L x B m':>11} {'first':>19} {'last':>19} {'pos':>5}")
    for v in s["vessels"]:
        typ = v["eri_type"] or v["ship_type"] or ""
        dims = f"{v['length']:.1f}x{v['beam']:.1f}" if v["length"] and v["beam"] else "-"
        print(f"{v['mmsi']:>10} {(v['name'] or '')[:20]:20} {typ!s:>5} {dims:>11} {_fmt_t(v['first_time']):>19} "
              f"{_fmt_t(v['last_time']):>19} {v['positions']:>5}")
    return 0


def _cmd_tracks(args) -> int:
    from testbed.ais.tracks import build_tracks, write_tracks_csv

    msgs, report = _read(args)
    tracks = build_tracks(msgs, gap_s=args.gap)
    n = write_tracks_csv(tracks, args.out)
    rej: dict[str, int] = {}
    for tr in tracks.values():
        for k, v in tr.rejected.items():
            rej[k] = rej.get(k, 0) + v
    print(f"{len(tracks)} vessels, {n} points written to {args.out}; rejected points: "
          + ", ".join(f"{k}: {v}" for k, v in rej.items()))
    return 0
