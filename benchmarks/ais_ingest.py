"""AIS ingestion speed and memory (a script, not a test): ``python benchmarks/ais_ingest.py``.

1. Replicates the 898-line pyais sample to >= 100,000 lines and times :class:`AISIngestor` against
   pyais's own bare loop ``NMEAMessage(b).decode()`` over the same lines (best of 3, same run).
2. Streams generated files of 100,000 and 1,000,000 lines through the ingestor and reports the
   tracemalloc peak of each: it must not grow with the file length.
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from pyais import NMEAMessage

from testbed.ais.ingest import AISIngestor

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


def peak_streaming(path: Path) -> tuple[int, int]:
    tracemalloc.start()
    ing = AISIngestor(dup_window_lines=0)
    for _ in ing.iter_source(path):
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, ing.report.lines_read


def main(n: int = 100_000, big: int = 1_000_000) -> int:
    lines = _lines(n)
    tb = best(bare, lines)
    to = best(ours, lines)
    rep = ours(lines)
    print(f"{n} lines: pyais bare loop {n / tb:,.0f} lines/s, AISIngestor {n / to:,.0f} lines/s, "
          f"ratio {tb / to:.2f} (target >= 0.7); used {rep.used}, rejected {sum(rep.rejected.values())}")
    with tempfile.TemporaryDirectory() as d:
        peaks = {}
        for m in (n, big):
            p = Path(d) / f"ais_{m}.nmea"
            with open(p, "wb") as fh:
                for b in _lines(m):
                    fh.write(b + b"\n")
            peaks[m], read = peak_streaming(p)
            print(f"streaming {read:,} lines: tracemalloc peak {peaks[m] / 1024:.0f} KiB")
    print(f"peak ratio {big:,} / {n:,} lines: {peaks[big] / peaks[n]:.2f} (constant memory: ~1)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:])))
