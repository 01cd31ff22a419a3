"""Speed of harbour map loading and queries (a script, not a test).

    python benchmarks/map_speed.py [--quick]

Reports, for the synthetic maps, a Duisburg-sized synthetic map (10 km x 6 km at 5 m) and, if it
exists, the shipped ``duisburg_ruhrort`` map: cold load (parse + raster precompute + cache write,
with the precompute breakdown) and cached load; then rays/s for N origins x 32 rays and points/s
for is_water, signed_distance, current and lane_coordinates at N = 1,000 and 100,000, each also as
a ratio to a plain numpy pass (``a * 1.0001 + b``, benchmarks/_timing.py) over the same number of floats
(2 N, the xy array; N x 32 for rays), measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time, numpy_pass  # noqa: E402

from harbour_maps import load_map, map_path  # noqa: E402
from harbour_maps.build import synthetic  # noqa: E402


def bench_load(path: Path, cache: Path) -> dict:
    t0 = time.perf_counter()
    m = load_map(path, cache_dir=cache)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    m2 = load_map(path, cache_dir=cache)
    warm = time.perf_counter() - t0
    note = "" if m2.rasters.from_cache else "  (NOT from cache: file changed in between?)"
    ny, nx = m.rasters.shape
    print(f"  {m.name:24s} raster {nx}x{ny} ({nx * ny / 1e6:.2f} M cells, {m.rasters.n_water / (nx * ny):.1%} "
          f"water): cold {cold:6.2f} s, cached {warm * 1000:6.1f} ms{note}")
    print("      precompute: " + ", ".join(f"{k} {v:.2f} s" for k, v in m.rasters.timings.items()))
    return {"map": m2, "cold": cold, "warm": warm}


def bench_queries(m, sizes) -> None:
    rng = np.random.default_rng(42)
    wxy = m.rasters.water_xy()
    print(f"  queries on {m.name} (points: 80 % in water cells, 20 % anywhere in the extent)")
    xmin, ymin, xmax, ymax = m.bounds
    for n in sizes:
        k = rng.integers(0, len(wxy), n)
        xy = wxy[k] + rng.uniform(-2.5, 2.5, (n, 2))
        anyw = rng.random(n) < 0.2
        xy[anyw] = rng.uniform([xmin, ymin], [xmax, ymax], (int(anyw.sum()), 2))
        base = numpy_pass(2 * n)
        for label, fn in [("is_water", lambda xy=xy: m.is_water(xy)),
                          ("signed_distance", lambda xy=xy: m.signed_distance(xy)),
                          ("current", lambda xy=xy: m.current(xy)),
                          ("lane_coordinates", lambda xy=xy: m.lane_coordinates(xy))]:
            t = best_time(fn)
            print(f"    N={n:>7,d} {label:17s} {t * 1e6:9.1f} us/call  {n / t / 1e6:7.2f} M points/s  "
                  f"ratio to numpy pass {t / base:6.1f}")
        inw = xy[m.is_water(xy)]
        t = best_time(lambda inw=inw: m.lane_coordinates(inw))
        print(f"    N={len(inw):>7,d} lane_coordinates (water points only) {t * 1e6:9.1f} us/call  "
              f"{len(inw) / t / 1e6:7.2f} M points/s")
        # rays
        n_rays = 32
        h = rng.uniform(0, 2 * np.pi, n)
        ang = np.radians(np.linspace(-180, 180, n_rays, endpoint=False))
        t = best_time(lambda xy=xy, h=h, ang=ang: m.cast_rays(xy, h, ang))
        base_r = numpy_pass(n * n_rays)
        print(f"    N={n:>7,d} cast_rays x{n_rays:<4d}    {t * 1e6:9.1f} us/call  {n * n_rays / t / 1e6:7.2f} M rays/s  "
              f"ratio to numpy pass {t / base_r:6.1f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the Duisburg-sized synthetic map")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache"
        print("map load (cold = parse + precompute + cache write; cached = parse + cache read)")
        loaded = {}
        for name in synthetic.BUILDERS:
            loaded[name] = bench_load(map_path(name), cache)
        if not a.quick:
            b = synthetic.benchmark_map()
            p = b.write(b.bounds, tmp)
            loaded["benchmark"] = bench_load(p, cache)
        duis = Path(__file__).resolve().parents[1] / "harbour_maps" / "maps" / "duisburg_ruhrort.geojson"
        if duis.exists():
            loaded["duisburg"] = bench_load(duis, cache)
        print()
        for key in ("synthetic_river_bend", "benchmark", "duisburg"):
            if key in loaded:
                bench_queries(loaded[key]["map"], (1_000, 100_000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
