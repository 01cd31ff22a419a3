"""Frame time of the replay viewer (a script, not a test).

    python benchmarks/viewer_speed.py [--frames 300] [--vessels 200] [--size 1280x800] [--video x11]

A synthetic episode on ``duisburg_ruhrort``: an ego, ``--vessels`` traffic vessels spread along the
fairway lanes around it (all within the window), the ego's AIS picture of every one of them, a 5G link
(``5g_sa`` cells, SINR), reward components, 32 rays and events.  Every layer is on (including the 5G
coverage heat map), labels on, the camera follows the ego while playing at x4, so the static tiles scroll.
Each frame is the viewer's full work: ``update`` + ``draw`` + ``display.flip``.

Baseline in the same run: a bare pygame loop that fills the same window and flips it.  Reported: median
and 95th percentile frame time (wall clock), FPS, the process's CPU time per frame (what the viewer itself
costs on a shared machine), and the ratio to the baseline.  The window uses SDL's dummy driver
unless ``--video`` names another (``x11`` with a ``DISPLAY``).  The first frames (tile rendering after a
zoom change) are reported separately as "warm-up".
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def synthetic_episode(hmap, n_vessels: int, n_steps: int, seed: int = 0):
    from testbed.replay.viewer.source import ArrayReplay

    rng = np.random.default_rng(seed)
    lanes = [ln for ln in hmap.lanes if ln.length_m > 1500] or list(hmap.lanes)
    main = max(lanes, key=lambda ln: ln.length_m)
    dt = 1.0
    t = np.arange(n_steps) * dt

    def along(lane, s):
        s = np.clip(s, 0, lane.s[-1] - 1e-6)
        i = np.clip(np.searchsorted(lane.s, s, side="right") - 1, 0, len(lane.s) - 2)
        w = (s - lane.s[i]) / np.maximum(lane.s[i + 1] - lane.s[i], 1e-9)
        p = lane.xy[i] + w[..., None] * (lane.xy[i + 1] - lane.xy[i])
        d = lane.xy[i + 1] - lane.xy[i]
        return p[..., 0], p[..., 1], np.arctan2(d[..., 0], d[..., 1])

    s_ego = 0.3 * main.s[-1] + 3.0 * t
    ex, ey, epsi = along(main, s_ego)
    # traffic: on the main lane around the ego, offset sideways, both directions
    off = rng.uniform(-1200, 1200, n_vessels)
    side = rng.uniform(-90, 90, n_vessels)
    v = rng.uniform(1.0, 4.0, n_vessels) * rng.choice([-1, 1], n_vessels)
    S = s_ego[:, None] * 0 + (0.3 * main.s[-1] + off)[None, :] + v[None, :] * t[:, None]
    tx, ty, tpsi = along(main, S)
    tx = tx + side * np.cos(tpsi)
    ty = ty - side * np.sin(tpsi)
    tpsi = np.where(v[None, :] < 0, tpsi + np.pi, tpsi)
    age = (t[:, None] + rng.uniform(0, 10, n_vessels)) % 10.0
    ais_x = tx - np.sin(tpsi) * np.abs(v) * age
    ais_y = ty - np.cos(tpsi) * np.abs(v) * age
    cells = [f"{s.id}/{k}" for s in hmap.cell_sites for k in range(len(s.sectors))]
    K = 10
    cols = {
        "ego/x": ex, "ego/y": ey, "ego/psi": epsi, "ego/u": np.full(n_steps, 3.0), "ego/v": np.zeros(n_steps),
        "ego/rudder": 0.2 * np.sin(t / 20), "ego/revs": np.full(n_steps, 2.0), "ego/rays": rng.uniform(0.1, 1, (n_steps, 32)),
        "traffic/x": tx, "traffic/y": ty, "traffic/psi": tpsi, "traffic/sog": np.abs(v)[None].repeat(n_steps, 0),
        "traffic/cog": tpsi, "traffic/active": np.ones((n_steps, n_vessels), np.uint8),
        "ais/x": ais_x, "ais/y": ais_y, "ais/age": age,
        "link/sinr": 10 + 8 * np.sin(t / 15), "link/cell": (t // 40 % len(cells)).astype(np.int16),
        "reward": rng.normal(0, 0.01, (n_steps, K)),
    }  # fmt: skip
    header = {
        "scenario": "benchmark", "seed": seed, "map": {"name": hmap.name}, "dt": dt, "agent": "synthetic",
        "link": {"profile": "5g_sa", "mode": "data", "cells": cells},
        "rays": {"angles_rad": np.linspace(-np.pi, np.pi, 32, endpoint=False).tolist(), "range_m": 1000.0},
        "reward_names": [f"c{k}" for k in range(K)],
        "vessels": {"ego": {"name": "EGO", "type": "M8", "length_m": 110.0, "beam_m": 11.4},
                    "traffic": [{"name": f"VESSEL {j}", "mmsi": 211000000 + j, "type": "M8", "length_m": 85.0,
                                 "beam_m": 9.5} for j in range(n_vessels)]},
        "route": np.column_stack([ex[::50], ey[::50]]).tolist(),
        "goal": {"x": float(ex[-1]), "y": float(ey[-1]), "psi": None, "position_tol_m": 40.0},
    }  # fmt: skip
    kinds = ("near_miss", "handover", "outage", "rule_violation")
    events = [{"step": k, "t": float(t[k]), "kind": kinds[n % 4], "x": float(ex[k]), "y": float(ey[k])}
              for n, k in enumerate(range(20, n_steps, 60))]
    return ArrayReplay(t, cols, header, events)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--vessels", type=int, default=200)
    ap.add_argument("--size", default="1280x800")
    ap.add_argument("--video", default=None, help="SDL video driver (default: dummy)")
    args = ap.parse_args(argv)
    os.environ["SDL_VIDEODRIVER"] = args.video or os.environ.get("BENCH_SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    W, H = (int(v) for v in args.size.lower().split("x"))
    import pygame as pg

    from harbour_maps import load_map
    from testbed.replay.viewer.app import LAYERS, Viewer

    hmap = load_map("duisburg_ruhrort")
    rep = synthetic_episode(hmap, args.vessels, 2000)
    pg.display.init()
    pg.font.init()
    screen = pg.display.set_mode((W, H))

    # baseline: fill and flip
    ts = []
    for k in range(args.frames):
        t0 = time.perf_counter()
        screen.fill((k % 255, 80, 120))
        pg.display.flip()
        ts.append(time.perf_counter() - t0)
    base = np.array(ts[10:])

    v = Viewer([rep], hmap, (W, H), layers={name: True for name, *_ in LAYERS}, speed=4.0)
    v.zoom(-1)  # a view of about 2.5 km: most of the 200 vessels are in the window
    t0 = time.perf_counter()
    for _ in range(5):
        v.update(1 / 60)
        v.draw(screen)
        pg.display.flip()
    warm = (time.perf_counter() - t0) / 5
    ts = []
    cpu = []
    on_screen = []
    for _ in range(args.frames):
        c0 = time.process_time()
        t0 = time.perf_counter()
        for ev in pg.event.get():
            v.handle_event(ev)
        v.update(1 / 60)
        v.draw(screen)
        pg.display.flip()
        ts.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        on_screen.append(int(sum(1 for k in v._hit[0] if k == "traffic")))
    f = np.array(ts)
    med, p95 = float(np.median(f)), float(np.percentile(f, 95))
    bmed = float(np.median(base))
    print(f"viewer {W}x{H}, {args.vessels} vessels ({int(np.median(on_screen))} in the window, median), "
          f"all {len(LAYERS)} layers on, driver {pg.display.get_driver()}, {args.frames} frames")
    print(f"  baseline fill+flip : {1e3 * bmed:7.2f} ms/frame  ({1 / bmed:8.0f} FPS)")
    print(f"  viewer             : {1e3 * med:7.2f} ms/frame median, {1e3 * p95:.2f} ms p95  "
          f"({1 / med:.0f} FPS median, {1 / p95:.0f} FPS p95)")
    print(f"  percentiles 50/75/90/95/99: {' / '.join(f'{1e3 * np.percentile(f, q):.1f}' for q in (50, 75, 90, 95, 99))} ms; "
          f"baseline p95 {1e3 * float(np.percentile(base, 95)):.2f} ms (the machine's own hiccups)")
    print(f"  CPU time of the process per frame (not counting time the machine gave to others): median "
          f"{1e3 * float(np.median(cpu)):.2f} ms, p95 {1e3 * float(np.percentile(cpu, 95)):.2f} ms")
    print(f"  ratio viewer / baseline (median): {med / bmed:.1f}")
    print(f"  warm-up (first frames, tiles rendered): {1e3 * warm:.1f} ms/frame; tiles rendered: {v.tiles.rendered}")
    print(f"  target >= 60 FPS: {'met' if med <= 1 / 60 else 'NOT met'} (median)")
    pg.display.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
