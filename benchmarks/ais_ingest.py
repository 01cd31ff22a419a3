"""AIS ingestion speed and memory (a script, not a test): ``python benchmarks/ais_ingest.py``.

1. Replicates the 898-line pyais sample to >= 100,000 lines and times :class:`AISIngestor` against
   pyais's own bare loop ``NMEAMessage(b).decode()`` over the same lines (best of 3, same run).
2. Memory: for generated files of 100,000 and 2,000,000 lines (``--mem-lines``), runs in a fresh
   interpreter each (so that the peaks are comparable): the streaming API alone (the baseline: an
   :class:`AISIngestor` loop that keeps nothing), ``testbed ais inspect FILE`` and ``testbed ais tracks FILE
   --rate 10`` (the replicated sample has no receive times), and prints their peak RSS side by side
   (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end of each child) with the ratio to the baseline
   of the same size. ``inspect`` must stay flat (it aggregates per vessel); ``tracks`` keeps 48 bytes per
   position report (six float64) and nothing else, so it grows by that much. With ``--tracemalloc`` the
   streaming run also reports its tracemalloc peak.

``python benchmarks/ais_ingest.py`` takes a few minutes on a shared 2-core machine; ``--tracemalloc`` adds
a few more (tracemalloc slows CPython 3.11 down a lot), ``--lines``/``--mem-lines`` change the sizes.
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's testbed, not an installed one (also in the child runs)

from pyais import NMEAMessage  # noqa: E402

from testbed.ais.ingest import AISIngestor  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "ais" / "data" / "pyais__tests_nmea_data_sample.txt"


def _lines(n: int) -> list[bytes]:
    base = [b for b in SAMPLE.read_bytes().splitlines() if b]
    return (base * (n // len(base) + 1))[:n]


def bare(lines):
    for b in lines:
        try:
            NMEAMessage(b).decode()
        except Exception:  # noqa: BLE001 - empty payloads etc., as a real loop would
            pass


def ours(lines):
    ing = AISIngestor(dup_window_lines=0)  # the replicated file repeats itself: no duplicate rejects
    for _ in ing.iter_lines(lines):
        pass
    return ing.report


def best(f, lines, k=3):
    ts = []
    for _ in range(k):
        t0 = time.perf_counter()
        f(lines)
        ts.append(time.perf_counter() - t0)
    return min(ts)


def _stream_child(path: str, trace: bool) -> None:
    """Run in a fresh interpreter: stream ``path`` without keeping messages, print the peaks as JSON."""
    import json
    import resource

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    prof = None
    if trace:
        # CPython 3.11's tracemalloc is very slow (~0.5 ms per line here); with a C profiler enabled it
        # runs several times faster (empirically). The profiler's own tables are bounded (one entry per
        # function), so they do not make the peak grow with the file length.
        import cProfile

        prof = cProfile.Profile()
        tracemalloc.start()
        prof.enable()
    t0 = time.perf_counter()
    ing = AISIngestor(dup_window_lines=0)
    for _ in ing.iter_source(path):
        pass
    dt = time.perf_counter() - t0
    peak = None
    if trace:
        prof.disable()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"lines": ing.report.lines_read, "seconds": dt, "tracemalloc_peak": peak,
                      "maxrss_kib": rss1, "maxrss_growth_kib": rss1 - rss0}))


def _cli_child(argv: list[str]) -> None:
    """Run in a fresh interpreter: ``testbed`` with ``argv`` (output to /dev/null); print its peak as JSON."""
    import contextlib
    import json
    import os
    import resource

    from testbed.cli import main as cli_main

    t0 = time.perf_counter()
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        rc = cli_main(argv)
    dt = time.perf_counter() - t0
    print(json.dumps({"rc": rc, "seconds": dt, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def peak_cli(argv: list[str]) -> dict:
    import json
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--_cli", *argv], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def peak_streaming(path: Path, trace: bool) -> dict:
    """Stream ``path`` in a fresh interpreter (so that peaks are comparable); returns its JSON report."""
    import json
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--_stream", str(path)] + (["--trace"] if trace else []),
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=100_000, help="lines of the speed comparison (default 100,000)")
    ap.add_argument("--mem-lines", type=int, nargs="*", default=[100_000, 2_000_000],
                    help="file lengths of the memory check (default 100,000 2,000,000; none: skip)")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="also measure the tracemalloc peak of each streaming run (slow: ~0.1 ms per line)")
    ap.add_argument("--_stream", help=argparse.SUPPRESS)
    ap.add_argument("--_cli", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._cli:
        _cli_child(a._cli)
        return 0
    if a._stream:
        _stream_child(a._stream, a.trace)
        return 0
    n = a.lines
    lines = _lines(n)
    tb = best(bare, lines)
    to = best(ours, lines)
    rep = ours(lines)
    print(f"{n:,} lines: pyais bare loop {n / tb:,.0f} lines/s, AISIngestor {n / to:,.0f} lines/s, "
          f"ratio {tb / to:.2f} (target >= 0.7); used {rep.used}, rejected {sum(rep.rejected.values())}",
          flush=True)
    if not a.mem_lines:
        return 0
    del lines
    with tempfile.TemporaryDirectory() as d:
        res = {}
        empty = Path(d) / "empty.nmea"
        empty.write_bytes(b"")
        cli0 = peak_cli(["ais", "inspect", str(empty)])["maxrss_kib"]
        print(f"testbed ais inspect of an empty file (the CLI's imports): peak RSS {cli0:,} KiB", flush=True)
        for m in a.mem_lines:
            p = Path(d) / f"ais_{m}.nmea"
            base = [b for b in SAMPLE.read_bytes().splitlines() if b]
            with open(p, "wb") as fh:  # written in chunks: the generator keeps no list of m lines either
                left = m
                while left > 0:
                    k = min(left, len(base))
                    fh.write(b"\n".join(base[:k]) + b"\n")
                    left -= k
            res[m] = r = peak_streaming(p, False)
            msg = (f"streaming {r['lines']:,} lines: {r['lines'] / r['seconds']:,.0f} lines/s, "
                   f"peak RSS {r['maxrss_kib']:,} KiB (+{r['maxrss_growth_kib']:,} KiB while streaming)")
            if a.tracemalloc:
                rt = peak_streaming(p, True)
                r["tracemalloc_peak"] = rt["tracemalloc_peak"]
                msg += f", tracemalloc peak {rt['tracemalloc_peak'] / 1024:,.0f} KiB"
            print(msg, flush=True)
            r["inspect"] = peak_cli(["ais", "inspect", str(p)])
            r["tracks"] = peak_cli(["ais", "tracks", str(p), "--rate", "10", "--out", str(Path(d) / "t.csv")])
            for k in ("inspect", "tracks"):
                c = r[k]
                assert c["rc"] == 0, (k, c)
                print(f"testbed ais {k} {m:,} lines: {m / c['seconds']:,.0f} lines/s, peak RSS "
                      f"{c['maxrss_kib']:,} KiB", flush=True)
            p.unlink()
    sizes = sorted(res)
    print()
    print("peak RSS (MiB) and ratio to the streaming API of the same size:")
    print(f"{'lines':>12} {'streaming API':>14} {'ais inspect':>18} {'ais tracks':>18}")
    for m in sizes:
        r = res[m]
        base = r["maxrss_kib"]
        print(f"{m:>12,} {base / 1024:>14.1f} "
              + " ".join(f"{r[k]['maxrss_kib'] / 1024:>9.1f} ({r[k]['maxrss_kib'] / base:4.2f}x)"
                         for k in ("inspect", "tracks")))
    lo, hi = sizes[0], sizes[-1]
    if hi != lo:
        print(f"growth {hi:,} / {lo:,} lines: streaming {res[hi]['maxrss_kib'] / res[lo]['maxrss_kib']:.3f}, "
              f"inspect {res[hi]['inspect']['maxrss_kib'] / res[lo]['inspect']['maxrss_kib']:.3f}, "
              f"tracks {res[hi]['tracks']['maxrss_kib'] / res[lo]['tracks']['maxrss_kib']:.3f} "
              "(constant memory: ~1; tracks hold 48 B per position)")
        print(f"the CLI's own imports (an empty file): {cli0 / 1024:.1f} MiB")
        if a.tracemalloc:
            print(f"tracemalloc peak {hi:,} / {lo:,} lines: "
                  f"{res[hi]['tracemalloc_peak'] / res[lo]['tracemalloc_peak']:.3f} (constant memory: ~1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
