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
    "latency_p50": ("latency_p50_ms", "one-way latency p50 [ms]", "magma_r", None, None),
    "latency_p95": ("latency_p95_ms", "one-way latency p95 [ms]", "magma_r", None, None),
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
        """Show ``metric`` on the water of a ``testbed.render.Renderer`` (land and NaN cells
        transparent) with a legend: the
        colour range of :func:`display_range` over the water cells, the metric's label and unit
        (``"uniform"`` added for a flat field)."""
        a = self.layer(metric)
        _, label, cmap, _, _ = METRICS[metric]
        # cells whose centre lies within one cell of the water count as water (no gaps at the banks)
        water = (renderer.map.signed_distance(np.column_stack(self.cell_centres())) > -self.resolution_m).reshape(a.shape)
        vmin, vmax, uniform = display_range(metric, a[water] if water.any() else a)
        if uniform is not None:
            label = f"{label}: uniform {uniform:.3g}"
        a = np.where(water, a, np.nan)  # land stays land: the waterway is what the ship sees
        renderer.set_overlay(a, self.overlay_extent, cmap=cmap, alpha=alpha, vmin=vmin, vmax=vmax, label=label)

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of every cell centre, flattened in row-major order (row 0 = south)."""
        x0, _, y0, _ = self.extent
        ny, nx = self.sinr_db.shape
        r = self.resolution_m
        X, Y = np.meshgrid(x0 + r * (np.arange(nx) + 0.5), y0 + r * (np.arange(ny) + 0.5))
        return X.ravel(), Y.ravel()


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


def _unit(label: str) -> str:
    i, j = label.rfind("["), label.rfind("]")
    return label[i + 1:j] if 0 <= i < j else ""


def display_range(metric: str, values: np.ndarray) -> tuple[float, float, float | None]:
    """``(vmin, vmax, uniform)``: the colour range of ``metric`` for ``values`` (the cells to show,
    e.g. those on water).  Fixed ends of :data:`METRICS` are kept; open ends come from the 1st / 99th
    percentile of the finite values.  A flat field (every value the same, e.g. an LTE p95 latency
    that the backhaul dominates) gets a range of +-5 % (at least +-0.5) around its value, so it
    shows in the middle of the colour ramp instead of collapsing onto one end; ``uniform`` is then
    that value (None otherwise)."""
    if metric not in METRICS:
        raise LinkError(f"metric={metric!r}: one of {list(METRICS)}")
    _, _, _, vmin, vmax = METRICS[metric]
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if not v.size:
        return (0.0 if vmin is None else vmin), (1.0 if vmax is None else vmax), None
    lo, hi = (float(x) for x in np.percentile(v, [1, 99]))
    if float(v.max() - v.min()) <= 1e-6 * max(1.0, abs(float(v.max()))):
        c = float(np.median(v))
        eps = max(0.05 * abs(c), 0.5)
        return c - eps, c + eps, c
    lo = lo if vmin is None else vmin
    hi = hi if vmax is None else vmax
    if hi <= lo:
        hi = lo + max(0.05 * abs(lo), 0.5)
    return lo, hi, None


def _land_path(hmap, extent):
    """A matplotlib Path of everything in ``extent`` (xmin, xmax, ymin, ymax) that is not water."""
    import shapely
    from matplotlib.path import Path as MplPath

    x0, x1, y0, y1 = extent
    land = shapely.box(x0, y0, x1, y1).difference(hmap.water)
    polys = [land] if land.geom_type == "Polygon" else [g for g in getattr(land, "geoms", []) if g.geom_type == "Polygon"]
    paths = []
    for poly in polys:
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)
            if len(xy) >= 3:
                codes = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
                codes[0], codes[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
                paths.append(MplPath(xy, codes))
    return MplPath.make_compound_path(*paths) if paths else None


def _place_labels(ax, items, fontsize=10):
    """Place text labels next to points without overlapping each other or leaving the axes: for each
    ``(xy, text)`` try 8 offsets around the point and keep the first whose box is free and inside
    (else the least overlapping one).  Labels get a white halo.  Returns the Text objects."""
    import matplotlib.patheffects as pe

    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    axbox = ax.get_window_extent(renderer)
    cands = [((7, 7), "left", "bottom"), ((7, -7), "left", "top"), ((-7, 7), "right", "bottom"),
             ((-7, -7), "right", "top"), ((0, 11), "center", "bottom"), ((0, -11), "center", "top"),
             ((11, 0), "left", "center"), ((-11, 0), "right", "center")]  # fmt: skip
    placed, texts = [], []
    halo = [pe.withStroke(linewidth=3, foreground="white")]
    for xy, text in items:
        best = None
        for off, ha, va in cands:
            t = ax.annotate(text, xy, xytext=off, textcoords="offset points", ha=ha, va=va, fontsize=fontsize,
                            fontweight="bold", color="black", zorder=8, path_effects=halo)  # fmt: skip
            bb = t.get_window_extent(renderer).expanded(1.08, 1.15)
            inside = (bb.x0 >= axbox.x0 and bb.x1 <= axbox.x1 and bb.y0 >= axbox.y0 and bb.y1 <= axbox.y1)
            overlap = sum(max(0.0, min(bb.x1, o.x1) - max(bb.x0, o.x0)) * max(0.0, min(bb.y1, o.y1) - max(bb.y0, o.y0))
                          for o in placed)  # fmt: skip
            cost = overlap + (0.0 if inside else 1e9)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, t, bb)
            else:
                t.remove()
            if cost == 0.0:
                break
        placed.append(best[2])
        texts.append(best[1])
    return texts


def draw_coverage(hmap, cov: Coverage, out: str | os.PathLike, metric: str = "sinr", width_px: int = 1400) -> Path:
    """Heat map of ``metric`` over the map: land dimmed (the waterway stands out), water outline,
    bridges, sites with sector azimuths and legible names, colour bar with units, x and y axis labels,
    the profile name; a flat field gets a +-epsilon colour range and a "uniform: V unit" note, cells
    in outage (NaN) are grey with a note.  Atomic PNG write; returns the path."""
    import matplotlib.pyplot as plt

    from atomicio import atomic_path

    fig = coverage_figure(hmap, cov, metric, width_px)
    try:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return out


def coverage_figure(hmap, cov: Coverage, metric: str = "sinr", width_px: int = 1400):
    """The matplotlib figure :func:`draw_coverage` saves (the caller closes it)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import PathPatch

    if metric not in METRICS:
        raise LinkError(f"metric={metric!r}: one of {list(METRICS)}")
    _, label, cmap_name, _, _ = METRICS[metric]
    a = cov.layer(metric)
    x0, x1, y0, y1 = cov.extent
    on_water = hmap.is_water(np.column_stack(cov.cell_centres())).reshape(a.shape)
    vmin, vmax, uniform = display_range(metric, a[on_water] if on_water.any() else a)
    unit = _unit(label)
    cmap = matplotlib.colormaps[cmap_name].with_extremes(bad=(0.55, 0.55, 0.55))
    aspect = (y1 - y0) / (x1 - x0)
    w_in = width_px / 100.0
    fig, ax = plt.subplots(figsize=(w_in, max(3.0, w_in * aspect * 0.9)), dpi=100, layout="constrained")
    try:
        im = ax.imshow(np.ma.masked_invalid(a), origin="lower", extent=cov.extent, cmap=cmap, vmin=vmin,
                       vmax=vmax, interpolation="nearest", zorder=1)  # fmt: skip
        land = _land_path(hmap, cov.extent)
        if land is not None:  # dim land: the values there are drawn, but the waterway stands out
            ax.add_patch(PathPatch(land, facecolor=(0.94, 0.92, 0.87), alpha=0.82, edgecolor="none", zorder=2))
        geoms = getattr(hmap.water, "geoms", [hmap.water])
        for g in geoms:
            for ring in [g.exterior, *g.interiors]:
                xy = np.asarray(ring.coords)
                ax.plot(xy[:, 0], xy[:, 1], color=(0.12, 0.31, 0.47), lw=0.8, zorder=3)
        for b in hmap.bridges:
            ax.plot(b.xy[:, 0], b.xy[:, 1], color=(0.45, 0.25, 0.1), lw=2.5, zorder=4, solid_capstyle="butt")
        L = 0.04 * (x1 - x0)
        for s in hmap.cell_sites:
            for az in s.sectors:
                ax.plot([s.xy[0], s.xy[0] + L * math.sin(az)], [s.xy[1], s.xy[1] + L * math.cos(az)], color="red",
                        lw=1.5, zorder=5)  # fmt: skip
            ax.plot(*s.xy, marker="^", color="red", mec="black", ms=9, zorder=6)
        wide = aspect < 0.8  # a wide map: the colour bar below it, so it is not taller than the map
        cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, location="bottom" if wide else "right",
                          shrink=0.6 if wide else 1.0)  # fmt: skip
        cb.set_label(label)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.set_xlabel("x (east) [m]")
        ax.set_ylabel("y (north) [m]")
        ax.set_title(f"{cov.map_name} - link profile '{cov.profile_name}' - {label}"
                     + (f" (mean of {cov.n_seeds} seeds)" if cov.n_seeds > 1 else ""))
        notes = []
        if uniform is not None:
            notes.append(f"uniform: {uniform:.3g} {unit}".rstrip())
        if np.isnan(a[on_water]).any():
            notes.append("grey: no coverage (outage)")
        notes.append("land dimmed")
        ax.text(0.02, 0.985, "\n".join(notes), transform=ax.transAxes, ha="left", va="top", fontsize=12,
                zorder=9, bbox=dict(boxstyle="round,pad=0.4", facecolor="white", alpha=0.9, edgecolor="0.4"))
        fig.canvas.draw()  # fixes the layout, so label boxes are measured where they end up
        _place_labels(ax, [(tuple(s.xy), s.id) for s in hmap.cell_sites])
    except BaseException:
        plt.close(fig)
        raise
    return fig


__all__ = ["Coverage", "coverage", "coverage_figure", "draw_coverage", "display_range", "METRICS"]
