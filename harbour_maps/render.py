"""Draw a harbour map to a PNG for a person to check (matplotlib, Agg backend, imported lazily).

Shows water and land, banks, lanes with direction arrows, km markers, berths, bridges, piers and
other obstacles, locks, gauges, 5G cell sites with their sector azimuths, current arrows, a scale
bar, a (grid) north arrow and a title with the map name and its accuracy statement.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import shapely

from atomicio import atomic_path

__all__ = ["render_map", "WATER_COLOUR", "LAND_COLOUR"]

WATER_COLOUR = "#a6cee3"
LAND_COLOUR = "#ece6d6"
BANK_COLOUR = "#1f4e79"
OBSTACLE_COLOUR = "#4d4d4d"
LANE_COLOURS = {"downstream": "#1f78b4", "upstream": "#e31a1c", "channel": "#33a02c", None: "#6a3d9a"}


def _polygon_path(geom):
    from matplotlib.path import Path as MPath

    verts, codes = [], []
    polys = getattr(geom, "geoms", [geom])
    for p in polys:
        if p.geom_type != "Polygon" or p.is_empty:
            continue
        for ring in [p.exterior, *p.interiors]:
            c = np.asarray(ring.coords)
            verts.append(c)
            codes.append(np.r_[MPath.MOVETO, np.full(len(c) - 2, MPath.LINETO), MPath.CLOSEPOLY])
    if not verts:
        return None
    return MPath(np.concatenate(verts), np.concatenate(codes).astype(np.uint8))


def _add_polygon(ax, geom, **kw):
    from matplotlib.patches import PathPatch

    path = _polygon_path(geom)
    if path is not None:
        ax.add_patch(PathPatch(path, **kw))


def _nice_length(x):
    exp = 10 ** math.floor(math.log10(x))
    for m in (5, 2, 1):
        if m * exp <= x:
            return m * exp
    return exp


def render_map(m, out, width_px: int = 1600, bbox=None, discharge: float | None = None,
               show_current: bool = True) -> Path:
    """Render ``m`` (a :class:`HarbourMap`) to the PNG ``out`` (written atomically).

    ``bbox``: optional ``(xmin, ymin, xmax, ymax)`` in local metres (default: the map bounds)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    if width_px < 200 or width_px > 20000:
        raise ValueError(f"width {width_px} px out of range (200-20000)")
    xmin, ymin, xmax, ymax = (m.bounds if bbox is None else tuple(float(v) for v in bbox))
    if not (xmax > xmin and ymax > ymin):
        raise ValueError(f"empty bounding box {bbox}")
    view = shapely.box(xmin, ymin, xmax, ymax)
    span = max(xmax - xmin, ymax - ymin)
    dpi = 100.0
    title_h = 0.9  # inches
    fig_w = width_px / dpi
    ax_h = fig_w * (ymax - ymin) / (xmax - xmin)
    fig = Figure(figsize=(fig_w, ax_h + title_h), dpi=dpi, facecolor="white")
    ax = fig.add_axes((0.0, 0.0, 1.0, ax_h / (ax_h + title_h)))
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal", adjustable="box")
    ax.set_facecolor(LAND_COLOUR)
    ax.set_xticks([])
    ax.set_yticks([])
    fs = max(5.0, min(9.0, width_px / 220.0))

    # water, banks, obstacles, locks
    water = m.water.intersection(view.buffer(span * 0.05))
    _add_polygon(ax, water, facecolor=WATER_COLOUR, edgecolor=BANK_COLOUR, linewidth=0.6, zorder=1)
    for f in m.features.values():
        if f.type == "obstacle" and f.geometry.intersects(view):
            _add_polygon(ax, f.geometry, facecolor=OBSTACLE_COLOUR, edgecolor="black", linewidth=0.4, zorder=3)
    for lk in m.locks:
        if lk.polygon.intersects(view):
            _add_polygon(ax, lk.polygon, facecolor="none", edgecolor="black", hatch="////", linewidth=0.8,
                         zorder=3)
            c = lk.polygon.centroid
            ax.annotate(f"{lk.name}\n{lk.chamber_length_m:g} x {lk.chamber_width_m:g} m", (c.x, c.y),
                        xytext=(6, 6), textcoords="offset points", fontsize=fs, zorder=9)

    # current arrows (below the lanes)
    if show_current and m.current_reaches:
        n = 45
        step = span / n
        gx, gy = np.meshgrid(np.arange(xmin + step / 2, xmax, step), np.arange(ymin + step / 2, ymax, step))
        pts = np.column_stack([gx.ravel(), gy.ravel()])
        v = m.current(pts, discharge=discharge)
        sp = np.hypot(v[:, 0], v[:, 1])
        k = sp > 0.05
        if k.any():
            ax.quiver(pts[k, 0], pts[k, 1], v[k, 0], v[k, 1], color="#08519c", alpha=0.55, zorder=2,
                      angles="xy", scale_units="xy", scale=max(sp.max(), 0.1) / (0.8 * step), width=0.0015)

    # lanes with direction arrows
    for lane in m.lanes:
        line = shapely.LineString(lane.xy)
        if not line.intersects(view):
            continue
        col = LANE_COLOURS.get(lane.role, LANE_COLOURS[None])
        ax.plot(lane.xy[:, 0], lane.xy[:, 1], color=col, linewidth=1.0,
                linestyle="-" if lane.direction == "forward" else "--", zorder=4)
        spacing = span / 12.0
        for s in np.arange(spacing / 2, line.length, spacing):
            a = np.asarray(line.interpolate(s).coords[0])
            b = np.asarray(line.interpolate(min(s + span / 150.0, line.length)).coords[0])
            if not view.contains(shapely.Point(a)) or np.allclose(a, b):
                continue
            style = "-|>" if lane.direction == "forward" else "<|-|>"
            ax.annotate("", xy=b, xytext=a, zorder=5,
                        arrowprops={"arrowstyle": style, "color": col, "lw": 1.0, "mutation_scale": 9})

    # km markers
    kms = [k for k in m.km_markers if view.contains(shapely.Point(k.xy))]
    label_every = 1.0 if len(kms) > 25 else 0.5
    for k in kms:
        ax.plot(*k.xy, marker="|", color="black", markersize=6, zorder=6)
        if abs(k.km / label_every - round(k.km / label_every)) < 1e-6:
            ax.annotate(f"{k.km:g}", k.xy, xytext=(4, 0), textcoords="offset points", fontsize=fs * 0.9,
                        color="black", zorder=9)

    # bridges
    for b in m.bridges:
        if not shapely.LineString(b.xy).intersects(view):
            continue
        ax.plot(b.xy[:, 0], b.xy[:, 1], color="#b2182b", linewidth=2.5, solid_capstyle="butt", zorder=7)
        label = f"{b.name} ({b.clearance_m:g} m)"
        ax.annotate(label, b.xy[-1], xytext=(4, -4), textcoords="offset points", fontsize=fs * 0.85,
                    color="#b2182b", zorder=9)

    # berths, gauges, cell sites
    for bt in m.berths:
        if not view.contains(shapely.Point(bt.xy)):
            continue
        u = np.array([math.sin(bt.heading), math.cos(bt.heading)]) * bt.length_m / 2.0
        ax.plot([bt.xy[0] - u[0], bt.xy[0] + u[0]], [bt.xy[1] - u[1], bt.xy[1] + u[1]], color="#ff7f00",
                linewidth=3, solid_capstyle="butt", zorder=6)
        ax.annotate(bt.name, bt.xy, xytext=(5, 3), textcoords="offset points", fontsize=fs * 0.8, zorder=9)
    for g in m.gauges:
        if view.contains(shapely.Point(g.xy)):
            ax.plot(*g.xy, marker="^", color="#6a3d9a", markersize=8, zorder=8)
            ax.annotate(g.name + (f" (km {g.km:g})" if g.km is not None else ""), g.xy, xytext=(5, -10),
                        textcoords="offset points", fontsize=fs * 0.9, color="#6a3d9a", zorder=9)
    tick = span / 60.0
    for c in m.cell_sites:
        if not view.contains(shapely.Point(c.xy)):
            continue
        ax.plot(*c.xy, marker="o", color="#e7298a", markersize=5, zorder=8)
        for az in np.atleast_1d(c.sectors):
            ax.plot([c.xy[0], c.xy[0] + tick * math.sin(az)], [c.xy[1], c.xy[1] + tick * math.cos(az)],
                    color="#e7298a", linewidth=1.2, zorder=8)
        ax.annotate(f"5G {c.name}" + (" (assumed)" if c.assumed else ""), c.xy, xytext=(5, 5),
                    textcoords="offset points", fontsize=fs * 0.75, color="#e7298a", zorder=9)

    # scale bar and north arrow
    L = _nice_length((xmax - xmin) / 5.0)
    x0, y0 = xmin + 0.04 * (xmax - xmin), ymin + 0.04 * (ymax - ymin)
    ax.plot([x0, x0 + L], [y0, y0], color="black", linewidth=3, solid_capstyle="butt", zorder=10)
    ax.annotate(f"{L:g} m" if L < 1000 else f"{L / 1000:g} km", (x0 + L / 2, y0), xytext=(0, 4),
                textcoords="offset points", ha="center", fontsize=fs, zorder=10)
    nx_, ny_ = xmax - 0.05 * (xmax - xmin), ymax - 0.12 * (ymax - ymin)
    ax.annotate("N", xy=(nx_, ny_ + 0.06 * (ymax - ymin)), xytext=(nx_, ny_), ha="center", fontsize=fs * 1.3,
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5}, zorder=10)
    ax.annotate(f"grid north ({math.degrees(m.frame.convergence_rad):+.2f} deg from true)",
                (nx_, ny_), xytext=(0, -12), textcoords="offset points", ha="right", fontsize=fs * 0.7,
                zorder=10)

    acc = m.metadata.get("accuracy", {})
    head = f"{m.name}: {m.metadata.get('title', '')}"
    body = f"accuracy +-{acc.get('horizontal_m', '?')} m: {acc.get('statement', '')}"
    chars = max(40, int(0.97 * width_px / (0.6 * fs * 0.85 * dpi / 72.0)))  # ~0.6 em per character
    fig.text(0.01, 1.0 - 0.08 * title_h / (ax_h + title_h), head, fontsize=fs * 1.4, weight="bold", va="top")
    fig.text(0.01, 1.0 - 0.40 * title_h / (ax_h + title_h), "\n".join(textwrap.wrap(body, chars)[:3]),
             fontsize=fs * 0.85, va="top")

    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, facecolor="white")
    return out
