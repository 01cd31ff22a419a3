"""Coverage rasters of a link profile over a harbour map, and their heat maps.

:func:`coverage` returns a :class:`Coverage` with four layers on the :class:`~testbed.link.radio.RadioMap`
grid (row 0 = south edge, column 0 = west edge):

- ``sinr_db``: best-server SINR at the profile's cell load, mean (in dB) over ``n_seeds`` shadow-fading /
  LOS realisations (seeds ``seed .. seed + n_seeds - 1``);
- ``throughput_mbps``: mean over the realisations of :func:`~testbed.link.nr_tables.throughput_mbps`
  (full resource share: the ship alone in its cell);
- ``latency_p50_ms`` / ``latency_p95_ms``: one-way latency percentiles of delivered packets from
  :func:`testbed.link.channel.latency_percentiles` at the mean SINR (``inf`` -> NaN in outage).

Layers are cached on disk (``<cache>/link/coverage_*.npz``, keyed by the radio map key, the whole
profile, ``n_seeds`` and a version). :func:`draw_coverage` writes a PNG heat map (matplotlib Agg,
atomic) with the water outline, the sites and sector azimuths, a colour bar and the profile name;
:meth:`Coverage.overlay` hands a layer to ``testbed.render.Renderer.set_overlay``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from testbed.link.profiles import LinkError, LinkProfile
from testbed.link.radio import RadioMap, default_cache_dir

COVERAGE_VERSION = 1
METRICS = {
    # metric: (attribute, label, cmap, vmin, vmax)
    "sinr": ("sinr_db", "best-server SINR [dB]", "viridis", -10.0, 30.0),
    "throughput": ("throughput_mbps", "downlink throughput [Mbit/s]", "plasma", 0.0, None),
    "latency_p50": ("latency_p50_ms", "one-way latency p50 [ms]", "magma_r", 0.0, None),
    "latency_p95": ("latency_p95_ms", "one-way latency p95 [ms]", "magma_r", 0.0, None),
}


@dataclass
class Coverage:
    profile_name: str
    map_name: str
    sinr_db: np.ndarray
    throughput_mbps: np.ndarray
    latency_p50_ms: np.ndarray
    latency_p95_ms: np.ndarray
    extent: tuple  # (xmin, xmax, ymin, ymax) for imshow(origin="lower")
    resolution_m: float
    n_seeds: int

    @property
    def overlay_extent(self) -> tuple:
        """(xmin, ymin, xmax, ymax): the order ``Renderer.set_overlay`` wants."""
        x0, x1, y0, y1 = self.extent
        return (x0, y0, x1, y1)

    def layer(self, metric: str) -> np.ndarray:
        if metric not in METRICS:
            raise LinkError(f"metric={metric!r}: one of {list(METRICS)}")
        return getattr(self, METRICS[metric][0])

    def overlay(self, renderer, metric: str = "sinr", alpha: float = 0.45) -> None:
        """Show ``metric`` on a ``testbed.render.Renderer`` (NaN transparent)."""
        _, _, cmap, vmin, vmax = METRICS[metric]
        a = self.layer(metric)
        if vmax is None:
            vmax = float(np.nanmax(a)) if np.isfinite(a).any() else 1.0
        renderer.set_overlay(a, self.overlay_extent, cmap=cmap.replace("_r", ""), alpha=alpha, vmin=vmin, vmax=vmax)


def _key(rm: RadioMap, profile: LinkProfile, n_seeds: int) -> str:
    d = {"radio": rm.cache_key(), "profile": profile.to_dict(), "n": n_seeds, "v": COVERAGE_VERSION}
    d["profile"].pop("name", None)
    d["profile"].pop("description", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:20]


def coverage(hmap, profile: LinkProfile, seed: int = 0, resolution_m: float = 20.0, n_seeds: int = 1,
             cache_dir: str | os.PathLike | None = None, use_cache: bool = True) -> Coverage:
    """The coverage layers (see the module docstring); cached."""
    from testbed.link.nr_tables import throughput_mbps

    if n_seeds < 1:
        raise LinkError(f"n_seeds={n_seeds!r}: must be >= 1")
    maps = [RadioMap(hmap, profile, seed=seed + k, resolution_m=resolution_m, cache_dir=cache_dir,
                     use_cache=use_cache) for k in range(n_seeds)]
    rm = maps[0]
    path = None
    if use_cache:
        cdir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = cdir / f"coverage_{hmap.name}_{_key(rm, profile, n_seeds)}.npz"
        try:
            with np.load(path, allow_pickle=False) as z:
                return Coverage(profile.name, hmap.name, z["sinr"], z["thr"], z["p50"], z["p95"], rm.extent,
                                rm.res, n_seeds)
        except (OSError, KeyError, ValueError):
            pass
    sinr = np.mean([m.best_sinr_db.astype(np.float64) for m in maps], axis=0)
    thr = np.mean([throughput_mbps(m.best_sinr_db, profile) for m in maps], axis=0)
    p50, p95 = _latency_layers(sinr, profile)
    cov = Coverage(profile.name, hmap.name, sinr.astype(np.float32), thr.astype(np.float32), p50, p95,
                   rm.extent, rm.res, n_seeds)
    if path is not None:
        from atomicio import atomic_open

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as fh:
            np.savez(fh, sinr=cov.sinr_db, thr=cov.throughput_mbps, p50=cov.latency_p50_ms, p95=cov.latency_p95_ms)
    return cov


def _latency_layers(sinr: np.ndarray, profile: LinkProfile):
    from testbed.link.channel import latency_percentiles

    lo, hi = latency_percentiles(sinr, profile)
    out = []
    for a in (lo, hi):
        a = np.asarray(a, dtype=np.float64) * 1e3
        a[~np.isfinite(a) | (a >= 1e5)] = np.nan  # outage: no delivered packets
        out.append(a.astype(np.float32))
    return out[0], out[1]


def draw_coverage(hmap, cov: Coverage, out: str | os.PathLike, metric: str = "sinr", width_px: int = 1400) -> Path:
    """Heat map of ``metric`` over the map: water outline, sites with sector azimuths, colour bar,
    profile name. Atomic PNG write; returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from atomicio import atomic_path

    attr, label, cmap, vmin, vmax = METRICS[metric] if metric in METRICS else (None,) * 5
    if attr is None:
        raise LinkError(f"metric={metric!r}: one of {list(METRICS)}")
    a = cov.layer(metric)
    if vmax is None:
        finite = a[np.isfinite(a)]
        vmax = float(np.percentile(finite, 99)) if finite.size else 1.0
    x0, x1, y0, y1 = cov.extent
    aspect = (y1 - y0) / (x1 - x0)
    w_in = width_px / 100.0
    fig, ax = plt.subplots(figsize=(w_in, max(3.0, w_in * aspect * 0.9)), dpi=100)
    try:
        im = ax.imshow(a, origin="lower", extent=cov.extent, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        geoms = getattr(hmap.water, "geoms", [hmap.water])
        for g in geoms:
            for ring in [g.exterior, *g.interiors]:
                xy = np.asarray(ring.coords)
                ax.plot(xy[:, 0], xy[:, 1], color="white", lw=0.6, alpha=0.9)
        for b in hmap.bridges:
            ax.plot(b.xy[:, 0], b.xy[:, 1], color="black", lw=2.0)
        L = 0.04 * (x1 - x0)
        for s in hmap.cell_sites:
            ax.plot(*s.xy, marker="^", color="red", mec="black", ms=8)
            for az in s.sectors:
                ax.plot([s.xy[0], s.xy[0] + L * math.sin(az)], [s.xy[1], s.xy[1] + L * math.cos(az)], color="red", lw=1.5)
            ax.annotate(s.id, s.xy, xytext=(4, 4), textcoords="offset points", fontsize=7, color="black")
        cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
        cb.set_label(label)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
        ax.set_title(f"{cov.map_name} - link profile '{cov.profile_name}' - {label}"
                     + (f" (mean of {cov.n_seeds} seeds)" if cov.n_seeds > 1 else ""))
        fig.tight_layout()
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return out


__all__ = ["Coverage", "coverage", "draw_coverage", "METRICS"]
