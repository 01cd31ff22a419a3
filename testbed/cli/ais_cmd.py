"""``testbed ais``: inspect a real AIS log (accounting, vessels, extent) and write per-vessel tracks.

Both commands stream: messages are aggregated per vessel as they are decoded (``inspect``) or reduced to
six numbers per position report (``tracks``), so memory does not grow with the messages of the file.

Exit status: 0 done; 2 bad input (a file that is missing, a directory, a truncated or corrupt gzip: the
accounting of the lines read before is printed first, then one line naming the file and where its data
ended; ``tracks`` when no usable point was written); 130 interrupted with Ctrl-C (the counts so far are
printed, no traceback; ``tracks`` writes nothing); 2 also when the reader of the output went away
(``testbed ais inspect F | head -1``): one line on stderr, no traceback.
"""

from __future__ import annotations

import json
import math
import os
import sys

EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 2


def register(sub) -> None:
    p = sub.add_parser("ais", help="AIS logs: inspect (accounting, vessels), tracks (per-vessel CSV), synth",
                       description="Read AIS NMEA logs (plain or gzip, tag blocks, Gatehouse, receiver times).")
    asub = p.add_subparsers(dest="ais_command", metavar="AIS_COMMAND")
    asub.required = True

    ip = asub.add_parser("inspect", help="lines read, messages by type, rejections, vessels, time span, bbox",
                         description="Account for every line of an AIS log and list its vessels. Exit "
                                     "status: 0 done (also when the file holds no AIS: then it says so), 2 "
                                     "unreadable input, 130 Ctrl-C (counts so far are printed).")
    ip.add_argument("file", metavar="FILE",
                    help="AIS log (plain or gzip), - for stdin, udp://host:port or tcp://host:port")
    ip.add_argument("--json", action="store_true", help="print JSON instead of text")
    _common(ip)
    ip.set_defaults(func=_cmd_inspect)

    tp = asub.add_parser("tracks", help="write per-vessel tracks (outliers removed, gaps split) to CSV",
                         description="Write per-vessel tracks to CSV. Exit status: 0 done, 2 unreadable "
                                     "input or no usable point (e.g. no receive times: use --rate), 130 "
                                     "Ctrl-C (nothing written).")
    tp.add_argument("file", metavar="FILE", help="AIS log (plain or gzip), - for stdin")
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
    p.add_argument("--multipart-lines", type=int, default=10, metavar="N",
                   help="a multipart message must be complete within N lines of its first fragment (default 10)")
    p.add_argument("--multipart-seconds", type=float, default=10.0, metavar="S",
                   help="... and within S seconds of receive time from one station (default 10)")


class _Stream:
    """The messages of ``args.file``, streamed; a source error or Ctrl-C ends the stream and is kept."""

    def __init__(self, args):
        from testbed.ais.ingest import AISIngestor
        from testbed.cli import CLIError

        if args.rate is not None and not args.rate > 0:
            raise CLIError(f"--rate must be > 0 Hz, got {args.rate}")
        if args.multipart_lines < 1 or not args.multipart_seconds > 0:
            raise CLIError(f"--multipart-lines must be >= 1 and --multipart-seconds > 0, got "
                           f"{args.multipart_lines} and {args.multipart_seconds}")
        self.ing = AISIngestor(assume_rate_hz=args.rate, start_time=args.start,
                               multipart_max_lines=args.multipart_lines, multipart_timeout_s=args.multipart_seconds)
        self.file = str(args.file)
        self.kw = {"idle_timeout": args.idle_timeout} if self.file.startswith(("udp://", "tcp://")) else {}
        self.error: str | None = None
        self.interrupted = False

    @property
    def report(self):
        return self.ing.report

    def __iter__(self):
        self._gen = self._messages()
        return self._gen

    def interrupt(self) -> None:
        """Ctrl-C arrived while a consumer held a message: close the stream (the ingestor counts the
        fragments still open as incomplete, so the accounting adds up)."""
        self.interrupted = True
        gen = getattr(self, "_gen", None)
        if gen is not None:
            gen.close()

    def raise_if_nothing_read(self) -> None:
        """A source that failed before its first line (missing file, directory): just the one line."""
        if self.error is not None and self.report.lines_read == 0:
            from testbed.cli import CLIError

            raise CLIError(self.error)

    def _messages(self):
        from testbed.ais.ingest import AISSourceError

        try:
            # opening (missing file, directory) raises here, before any line
            yield from self.ing.iter_source(self.file, **self.kw)
        except AISSourceError as exc:
            self.error = str(exc)
        except KeyboardInterrupt:
            self.interrupted = True
        except OSError as exc:  # a live source: bind/connect failures
            self.error = f"{self.file}: {exc.strerror or exc}"


class Summary:
    """Per-vessel aggregate of a message stream (constant memory per vessel; no message is kept)."""

    def __init__(self):
        self.vessels: dict[int, dict] = {}
        self.t0 = self.t1 = None
        self.lat0 = self.lat1 = self.lon0 = self.lon1 = None

    def add(self, m) -> None:
        v = self.vessels.get(m.mmsi)
        if v is None:
            v = self.vessels[m.mmsi] = {"mmsi": m.mmsi, "name": None, "ship_type": None, "eri_type": None,
                                        "length": None, "beam": None, "draught": None, "first_time": None,
                                        "last_time": None, "positions": 0, "messages": 0}
        v["messages"] += 1
        if m.kind != "position" or m.msg_type == 19:
            for k in ("name", "ship_type", "eri_type", "length", "beam", "draught"):
                val = getattr(m, k)
                if val is not None and (v[k] is None or m.kind == "inland_static"):
                    v[k] = val
        t = m.t
        if t is not None:
            if self.t0 is None:
                self.t0 = self.t1 = t
            elif t < self.t0:
                self.t0 = t
            elif t > self.t1:
                self.t1 = t
            if v["first_time"] is None or t < v["first_time"]:
                v["first_time"] = t
            if v["last_time"] is None or t > v["last_time"]:
                v["last_time"] = t
        if m.kind == "position":
            v["positions"] += 1
        la, lo = m.lat, m.lon
        if la is not None and lo is not None:
            if self.lat0 is None:
                self.lat0 = self.lat1 = la
                self.lon0 = self.lon1 = lo
            else:
                self.lat0, self.lat1 = min(self.lat0, la), max(self.lat1, la)
                self.lon0, self.lon1 = min(self.lon0, lo), max(self.lon1, lo)

    def result(self, report) -> dict:
        rep = report.as_dict()
        rep["sum_check"] = report.used + sum(report.rejected.values()) + report.pending == report.lines_read
        return {
            **rep,
            "time_span": [self.t0, self.t1] if self.t0 is not None else None,
            "bbox": [self.lon0, self.lat0, self.lon1, self.lat1] if self.lat0 is not None else None,
            "vessels": [self.vessels[k] for k in sorted(self.vessels)],
        }


def summarise(msgs, report) -> dict:
    """The inspect summary as a JSON-able dict (``msgs`` may be a stream; ``report`` is read after it)."""
    s = Summary()
    for m in msgs:
        s.add(m)
    return s.result(report)


def _fmt_t(t) -> str:
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return "-"
    import datetime

    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _quiet_broken_pipe() -> int:
    """The reader of stdout went away: the Python docs' recipe (no traceback at exit), one line, exit 2."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    try:
        print("testbed: error: output closed early (broken pipe); nothing more was written", file=sys.stderr)
    except OSError:
        pass
    return EXIT_BROKEN_PIPE


def _finish(stream: _Stream, what: str) -> int:
    """Exit status of a command after its output was printed; source errors as one line on stderr."""
    if stream.error is not None:
        print(f"testbed: error: {stream.error} (the counts above are of the lines read before)", file=sys.stderr)
        return 2
    if stream.interrupted:
        print(f"testbed: interrupted (Ctrl-C) after {stream.report.lines_read} lines; {what}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _accounting_lines(s: dict) -> list[str]:
    rej_total = s["rejected_total"]
    counted = s["used"] + rej_total + s["pending"]
    out = [f"lines read: {s['lines_read']}  used: {s['used']}  rejected: {rej_total}"
           + (f"  pending fragments: {s['pending']}" if s["pending"] else "")
           + f"  (used + rejected = {counted}: {'OK' if s['sum_check'] else 'MISMATCH'})",
           "messages by type: " + (", ".join(f"{k}: {v}" for k, v in s["messages_by_type"].items()) or "none"),
           "rejected by reason: " + (", ".join(f"{k}: {v}" for k, v in s["rejected"].items() if v) or "none")]
    warn = {k: v for k, v in s.get("warnings", {}).items() if v}
    if warn:
        out.append("warnings (lines still used or rejected as above): "
                   + ", ".join(f"{k}: {v}" for k, v in warn.items()))
    return out


def _cmd_inspect(args) -> int:
    stream = _Stream(args)
    summ = Summary()
    try:
        for m in stream:
            summ.add(m)
    except KeyboardInterrupt:
        stream.interrupt()
    stream.raise_if_nothing_read()
    s = summ.result(stream.report)
    no_ais = s["messages"] == 0
    if stream.interrupted:
        s["interrupted"] = True
    if stream.error is not None:
        s["error"] = stream.error
    try:
        if args.json:
            print(json.dumps(s, indent=1))
        else:
            _print_inspect(s, args.file, no_ais)
        sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_broken_pipe()
    if no_ais and stream.error is None and not stream.interrupted:
        print(f"testbed: warning: no AIS messages in {args.file} ({s['lines_read']} lines, none usable)",
              file=sys.stderr)
    return _finish(stream, "the counts above are of the lines read so far")


def _print_inspect(s: dict, name, no_ais: bool) -> None:
    if no_ais:
        why = ", ".join(f"{k}: {v}" for k, v in s["rejected"].items() if v) or "the file is empty"
        print(f"*** NO AIS MESSAGES in {name}: {s['lines_read']} lines read, none usable ({why}) ***")
    for line in _accounting_lines(s):
        print(line)
    if s["time_span"]:
        print(f"time span: {_fmt_t(s['time_span'][0])} .. {_fmt_t(s['time_span'][1])} UTC")
    elif not no_ais:
        print("time span: no receive times (use --rate HZ, or a log with tag blocks or receiver timestamps)")
    if s["bbox"]:
        print("bbox (lon0, lat0, lon1, lat1): " + ", ".join(f"{x:.5f}" for x in s["bbox"]) + " deg")
    if no_ais:
        return
    print(f"vessels: {len(s['vessels'])}")
    print(f"{'MMSI':>10} {'name':20} {'type':>5} {'L x B m':>11} {'first':>19} {'last':>19} {'pos':>5}")
    for v in s["vessels"]:
        typ = v["eri_type"] or v["ship_type"] or ""
        dims = f"{v['length']:.1f}x{v['beam']:.1f}" if v["length"] and v["beam"] else "-"
        print(f"{v['mmsi']:>10} {(v['name'] or '')[:20]:20} {typ!s:>5} {dims:>11} {_fmt_t(v['first_time']):>19} "
              f"{_fmt_t(v['last_time']):>19} {v['positions']:>5}")


def _cmd_tracks(args) -> int:
    from testbed.ais.tracks import build_tracks, write_tracks_csv
    from testbed.cli import CLIError

    stream = _Stream(args)
    try:
        tracks = build_tracks(stream, gap_s=args.gap)
    except KeyboardInterrupt:  # while a track point was taken, or while sorting the points after reading
        stream.interrupt()
        tracks = {}
    stream.raise_if_nothing_read()
    rep = stream.report
    s = Summary().result(rep)
    rej: dict[str, int] = {}
    for tr in tracks.values():
        for k, v in tr.rejected.items():
            rej[k] = rej.get(k, 0) + v
    n_pts = sum(len(tr) for tr in tracks.values())
    try:
        for line in _accounting_lines(s):
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_broken_pipe()
    if stream.error is not None or stream.interrupted:
        return _finish(stream, f"nothing written to {args.out}")
    n_pos = sum(v for k, v in rep.messages_by_type.items() if k in (1, 2, 3, 18, 19, 27))
    if n_pts == 0:
        if n_pos == 0:
            raise CLIError(f"{args.file}: no position reports (types 1, 2, 3, 18, 19, 27) in "
                           f"{rep.lines_read} lines; nothing written to {args.out}")
        if rej.get("no_time", 0) == n_pos:
            raise CLIError(f"{args.file}: {n_pos} position reports but none has a receive time (no tag block "
                           "c:, receiver timestamp, trailing unix time or $PGHP line); use --rate HZ to assume "
                           f"a line rate, or a log with tag blocks; nothing written to {args.out}")
        raise CLIError(f"{args.file}: no usable track point among {n_pos} position reports (rejected: "
                       + ", ".join(f"{k}: {v}" for k, v in rej.items() if v) + f"); nothing written to {args.out}")
    n = write_tracks_csv(tracks, args.out)
    try:
        print(f"{len(tracks)} vessels, {n} points written to {args.out}; rejected points: "
              + ", ".join(f"{k}: {v}" for k, v in rej.items()))
        if rej.get("no_time"):
            print(f"note: {rej['no_time']} position reports without a receive time were left out (use --rate HZ)")
        sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_broken_pipe()
    return 0
