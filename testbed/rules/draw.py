"""A picture of a map's rule zones (``testbed rules zones``), for a person to check the geometry."""

from __future__ import annotations

COLOURS = {"harbour_mouth": "#e6550d", "harbour_entry": "#a50f15", "turning_area": "#fdae6b",
           "narrow": "#756bb1", "bridge_opening": "#31a354", "berth_area": "#3182bd",
           "regulated_meeting": "#bdbdbd", "high_water": "#bdbdbd"}
SECTIONS = ("regulated_meeting", "high_water")


def draw_zones(hmap, out, bbox=None, width_px: int = 1600) -> None:
    """Water, the rule zones by kind (sections as an outline) and their names, to the PNG ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shapely
    from matplotlib.patches import Patch

    from atomicio import atomic_path
    from harbour_maps.render import _add_polygon

    zones = [f for f in hmap.features.values() if f.type == "rule_zone"]
    if not zones:
        raise ValueError(f"map {hmap.name!r} has no rule zones (rule_zone features, harbour_maps/FORMAT.md)")
    if bbox is None:
        local = [z.geometry for z in zones if z.properties["kind"] not in SECTIONS] or [z.geometry for z in zones]
        x0, y0, x1, y1 = shapely.union_all(local).bounds
        bbox = (x0 - 300.0, y0 - 300.0, x1 + 300.0, y1 + 300.0)
    x0, y0, x1, y1 = bbox
    fig_w = width_px / 100.0
    fig = plt.figure(figsize=(fig_w, fig_w * (y1 - y0) / (x1 - x0) + 0.6), dpi=100)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0 - 0.6 / (fig_w * (y1 - y0) / (x1 - x0) + 0.6)))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_facecolor("#ece6d9")
    ax.set_xticks([])
    ax.set_yticks([])
    _add_polygon(ax, hmap.water, facecolor="#a6cee3", edgecolor="#1f78b4", linewidth=0.5)
    view = shapely.box(x0, y0, x1, y1)
    for z in sorted(zones, key=lambda z: -z.geometry.area):
        kind = z.properties["kind"]
        if kind in SECTIONS:
            _add_polygon(ax, z.geometry, facecolor="none", edgecolor="#636363", linewidth=1.0, linestyle="--")
            continue
        _add_polygon(ax, z.geometry, facecolor=COLOURS[kind], edgecolor=COLOURS[kind], alpha=0.5, linewidth=1.0)
        g = z.geometry.intersection(view)
        if g.is_empty:
            continue
        if kind == "harbour_entry":  # one label per harbour, beside its entrance
            gx0, gy0, gx1, gy1 = g.bounds
            turn = " (turn first, §9.07)" if z.properties.get("turn_before_entry") else ""
            ax.text(gx1 + 15.0, 0.5 * (gy0 + gy1), z.properties["name"].split(":")[0] + turn, fontsize=8,
                    ha="left", va="center", color="#67000d",
                    bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1.0})
        elif kind == "bridge_opening":
            p = g.representative_point()
            ax.text(p.x + 60.0, p.y, z.properties["name"], fontsize=8, ha="left", va="center", color="#00441b")
    ax.legend(handles=[Patch(facecolor=c, alpha=0.5, label=k.replace("_", " ")) for k, c in COLOURS.items()
                       if k not in SECTIONS], loc="lower right", fontsize=8)
    fig.suptitle(f"{hmap.name}: rule zones (RheinSchPV); dashed: regulated-meeting / high-water section",
                 fontsize=10)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
