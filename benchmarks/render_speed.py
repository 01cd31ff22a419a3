"""Cost of one rendered frame (a script, not a test).

    python benchmarks/render_speed.py [--map duisburg_ruhrort] [--n 200]

For the follow and the map camera (800x600 rgb_array, SDL dummy driver): median ms per frame of a
full scene as the env draws it (72 rays, 4 traffic ships with names, route, goal, 7 HUD rows and
the reward bar, coverage overlay with legend) and, measured in the same run, of the bare frame
(background and frame copy only: no rays, ships, HUD or labels), with the ratio full / bare.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from harbour_maps import load_map  # noqa: E402
from testbed.render import CAMERAS, Renderer, RenderScene, VesselSprite  # noqa: E402

COMPONENTS = {"progress": 0.05, "cross_track": -0.002, "heading": -0.001, "collision": 0.0, "grounding": 0.0,
              "near_miss": 0.0, "speed_limit": -0.03, "energy": -0.005, "smoothness": -0.01, "goal": 0.0}
HUD = {"time": "1:05.0", "SOG": "9.1 kn", "heading": "037.4 deg", "rudder": "-0.6 deg", "engine": "+98 %",
       "to goal": "2.99 km", "link SINR": "9.2 dB"}


def scenes(m, n: int, full: bool):
    ln = m.lanes[0]
    xy = ln.xy[len(ln.xy) // 2]
    psi = float(m.lane_coordinates([xy]).lane_heading[0])
    fwd = np.array([np.sin(psi), np.cos(psi)])
    ang = psi + np.linspace(-np.pi, np.pi, 72, endpoint=False)
    for i in range(n):
        p = xy + fwd * (0.5 * i)
        ego = VesselSprite(p[0], p[1], psi, 110.0, 11.4, "M8", "ego")
        if not full:
            yield RenderScene(i * 1.0, ego, hud={"time": "0"})
            continue
        tr = [VesselSprite(*(p + fwd * d), psi, 85.0, 9.5, f"TMS {k}") for k, d in enumerate((-300, -120, 150, 320))]
        rays = m.cast_rays([p], [0.0], ang)[0]
        yield RenderScene(i * 1.0, ego, tr, tuple(p), ang, rays, tuple(p + 400 * fwd), psi, 40.0,
                          np.array([p, p + 400 * fwd]), dict(HUD), dict(COMPONENTS))


def median_ms(r: Renderer, sc_iter) -> float:
    ts = []
    for sc in sc_iter:
        t0 = time.perf_counter()
        r.render(sc)
        ts.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(ts))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--map", default="duisburg_ruhrort")
    ap.add_argument("--n", type=int, default=200)
    a = ap.parse_args(argv)
    m = load_map(a.map)
    r = Renderer(m, "rgb_array", 800, 600)
    xmin, ymin, xmax, ymax = m.bounds
    r.set_overlay(np.linspace(-10, 30, 50 * 80).reshape(50, 80), (xmin, ymin, xmax, ymax), "viridis", 0.45,
                  -10.0, 30.0, "best-server SINR [dB]")  # fmt: skip
    print(f"map {m.name}, 800x600, median of {a.n} frames")
    for cam in CAMERAS:
        r.set_camera(cam)
        bare = median_ms(r, scenes(m, a.n, False))
        full = median_ms(r, scenes(m, a.n, True))
        print(f"  {cam:6s}: full scene {full:6.2f} ms  bare frame {bare:6.2f} ms  ratio {full / bare:5.2f}")
    r.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
