"""Drawing parts of the replay viewer (pygame is passed in; this module does not import it).

- :class:`MapTiles`: the static map (land, water, banks; lanes and km markers; berths, bridges and
  piers; the 5G coverage heat map) rendered into 512-px tiles per zoom level on demand and kept in an
  LRU cache, so a frame blits at most a dozen tiles whatever the zoom.  Lanes are drawn by
  :class:`testbed.render.Renderer`'s lane painter (dashes and direction chevrons), colours are the
  renderer's.
- :func:`hull_polygons`: every vessel's hull silhouette to scale (blunt stern, rounded bow) in screen
  pixels, all vessels in one numpy expression.
- :class:`LabelPlacer`: greedy, priority-ordered label placement that never overlaps (a label with no
  free spot is not drawn).
- :class:`Text`: cached text surfaces.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import shapely

from testbed.render import (
    BANK_COLOUR,
    BERTH_COLOUR,
    KM_COLOUR,
    LAND_COLOUR,
    LOCK_COLOUR,
    Renderer,
    _polys,
    _ring_area,
    _View,
    colour_ramp,
    draw_bridges_and_berths,
    fill_water,
)

TILE = 512

# unit hull outline (forward, starboard) as fractions of length and beam: square-ish stern with
# rounded corners, parallel midbody, rounded bow
_HULL = np.array([
    [-0.50, -0.40], [-0.48, -0.50], [0.30, -0.50], [0.40, -0.44], [0.46, -0.32], [0.50, -0.12],
    [0.50, 0.12], [0.46, 0.32], [0.40, 0.44], [0.30, 0.50], [-0.48, 0.50], [-0.50, 0.40],
])


# the same silhouette with fewer points, for hulls drawn small (a 7-point outline looks the same there)
_HULL_SMALL = np.array([[-0.50, -0.50], [0.30, -0.50], [0.46, -0.30], [0.50, 0.0], [0.46, 0.30], [0.30, 0.50],
                        [-0.50, 0.50]])


def hull_polygons(cx, cy, psi, length_px, beam_px, small: bool = False) -> np.ndarray:
    """(V, P, 2) screen outlines: centres ``cx, cy`` [px], headings ``psi`` [rad, nautical],
    sizes in pixels; ``small``: the 7-point outline (hulls shorter than ~40 px)."""
    hull = _HULL_SMALL if small else _HULL
    sp, cp = np.sin(psi), np.cos(psi)
    fx, fy = sp, -cp  # screen direction of the bow
    sx, sy = cp, sp  # screen direction of starboard
    a = hull[None, :, 0] * length_px[:, None]
    b = hull[None, :, 1] * beam_px[:, None]
    out = np.empty((len(cx), len(hull), 2))
    out[..., 0] = cx[:, None] + a * fx[:, None] + b * sx[:, None]
    out[..., 1] = cy[:, None] + a * fy[:, None] + b * sy[:, None]
    return out


def _box_hits(b, x0, y0, x1, y1) -> bool:
    """Whether bounds ``b`` = (minx, miny, maxx, maxy) overlap the box."""
    return b[0] <= x1 and b[2] >= x0 and b[1] <= y1 and b[3] >= y0


class Text:
    """Cached text surfaces in a few sizes (pygame's built-in font: the same everywhere)."""

    def __init__(self, pg):
        self.pg = pg
        if not pg.font.get_init():
            pg.font.init()
        self.fonts = {k: pg.font.Font(None, s) for k, s in (("s", 16), ("m", 19), ("l", 24), ("xl", 30))}
        self._cache: OrderedDict = OrderedDict()

    def surf(self, text: str, colour=(240, 240, 240), size: str = "m", bg=None):
        key = (text, colour, size, bg)
        t = self._cache.get(key)
        if t is None:
            f = self.fonts[size]
            t = f.render(text, True, colour, bg) if bg is not None else f.render(text, True, colour)
            self._cache[key] = t
            if len(self._cache) > 4000:
                self._cache.popitem(last=False)
        return t

    def halo(self, text: str, colour, size: str = "s", halo=(255, 255, 255)):
        """Text with a 1-px halo, legible on water, land and ships alike."""
        key = ("__halo__", text, colour, size, halo)
        t = self._cache.get(key)
        if t is None:
            pg = self.pg
            inner = self.fonts[size].render(text, True, colour)
            ring = self.fonts[size].render(text, True, halo)
            w, h = inner.get_width() + 2, inner.get_height() + 2
            t = pg.Surface((w, h), pg.SRCALPHA, 32)
            for dx, dy in ((0, 1), (2, 1), (1, 0), (1, 2), (0, 0), (2, 2), (0, 2), (2, 0)):
                t.blit(ring, (dx, dy))
            t.blit(inner, (1, 1))
            self._cache[key] = t
            if len(self._cache) > 4000:
                self._cache.popitem(last=False)
        return t


class LabelPlacer:
    """Place labels without overlap: each label tries a few spots around its anchor, in priority order;
    the first free one wins, a label with none is dropped.  ``blocked``: screen rects to keep free."""

    OFFSETS = ((1, -0.5), (-1, -0.5), (0, -1.2), (0, 0.2), (1, -1.2), (-1, -1.2), (1, 0.2), (-1, 0.2))

    def __init__(self, pg, blocked=()):
        self.pg = pg
        self.rects = [pg.Rect(r) for r in blocked]
        self.placed = 0
        self.dropped = 0

    def place(self, surf_w, surf_h, ax, ay, gap=6.0):
        """Top-left of a free spot for a (w, h) label anchored at (ax, ay), or None."""
        Rect = self.pg.Rect
        return self._first_free(Rect(int(ax + (gap if ox > 0 else -gap - surf_w if ox < 0 else -surf_w / 2)),
                                     int(ay + oy * surf_h + (gap * 0.5 if oy > 0 else 0)), surf_w, surf_h)
                                for ox, oy in self.OFFSETS)  # fmt: skip

    def _first_free(self, rects):
        """Top-left of the first of ``rects`` that overlaps nothing placed so far (and reserve it), or None."""
        for r in rects:
            if r.collidelist(self.rects) < 0:
                self.rects.append(r.inflate(4, 2))
                self.placed += 1
                return r.x, r.y
        self.dropped += 1
        return None


    def block_hulls(self, cx, cy, psi, half_len, half_beam) -> None:
        """Keep labels off the hulls: three squares (bow, midship, stern) per vessel."""
        Rect = self.pg.Rect
        ok = np.isfinite(cx) & np.isfinite(cy) & np.isfinite(psi)
        cx, cy, psi, half_len, half_beam = cx[ok], cy[ok], psi[ok], half_len[ok], half_beam[ok]
        fx, fy = np.sin(psi) * half_len * 0.6, -np.cos(psi) * half_len * 0.6
        r = np.maximum(half_beam, 3.0)
        for k in (-1.0, 0.0, 1.0):
            xs, ys = cx + k * fx, cy + k * fy
            for x, y, rr in np.column_stack([xs, ys, r]).tolist():
                self.rects.append(Rect(int(x - rr), int(y - rr), int(2 * rr) + 1, int(2 * rr) + 1))

    def place_hull(self, w, h, cx, cy, psi, half_len, half_beam):
        """Top-left of a free spot for a (w, h) label beside a hull (midship to starboard or port, then
        the quarters, stern and bow), or None."""
        Rect = self.pg.Rect
        fx, fy = math.sin(psi), -math.cos(psi)  # bow direction on screen
        nx, ny = -fy, fx  # starboard
        g = half_beam + 5.0
        cands = []
        for side in (1.0, -1.0):
            cands.append((cx + side * nx * g, cy + side * ny * g, side * nx, side * ny))
        for side in (1.0, -1.0):
            for along in (-0.5, 0.5):
                cands.append((cx + side * nx * g + fx * along * half_len, cy + side * ny * g + fy * along * half_len,
                              side * nx, side * ny))
        cands.append((cx - fx * (half_len + 5), cy - fy * (half_len + 5), -fx, -fy))
        cands.append((cx + fx * (half_len + 5), cy + fy * (half_len + 5), fx, fy))
        return self._first_free(Rect(int(px if dx > 0.35 else (px - w if dx < -0.35 else px - w / 2)),
                                     int(py if dy > 0.35 else (py - h if dy < -0.35 else py - h / 2)), w, h)
                                for px, py, dx, dy in cands)  # fmt: skip


class MapTiles:
    """Static map layers rendered per zoom level into cached tiles (see the module docstring).

    ``world``: (x0, y0, x1, y1) in local metres; tile (tx, ty) of level scale ``s`` [px/m] covers
    pixels ``[tx*TILE, (tx+1)*TILE)`` of the level raster whose origin is the world's north-west
    corner.  ``flags``: frozenset of the static layers on ("lanes", "berths", "coverage")."""

    def __init__(self, pg, hmap, world, max_tiles: int = 160):
        self.pg = pg
        self.map = hmap
        self.world = world
        self._cache: OrderedDict = OrderedDict()
        self.max_tiles = max_tiles
        self.coverage = None  # (array (ny, nx) row 0 south, extent (x0, y0, x1, y1), label)
        self._cov_rgba = None
        self.rendered = 0
        self._painter = type("_LanePainter", (), {"_pg": pg})()  # Renderer._draw_lane needs only ._pg
        self._water = sorted(_polys(hmap.water), key=lambda p: -abs(_ring_area(p.exterior.coords)))
        self._lane_bounds = [(*ln.xy.min(axis=0), *ln.xy.max(axis=0)) for ln in hmap.lanes]

    def set_coverage(self, array, extent, vmin=-10.0, vmax=30.0, alpha=0.55) -> None:
        a = np.asarray(array, dtype=np.float64)
        rgb = colour_ramp(a, "viridis", vmin, vmax)
        al = np.where(np.isfinite(a), int(alpha * 255), 0).astype(np.uint8)
        self.coverage = (a, tuple(float(v) for v in extent))
        self._cov_rgba = np.concatenate([rgb, al[..., None]], axis=-1)
        self._cache = OrderedDict((k, v) for k, v in self._cache.items() if "coverage" not in k[3])

    def origin_px(self, view_x0: float, view_y1: float, s: float) -> tuple[int, int]:
        """Screen position of the level raster's origin for a view with top-left (view_x0, view_y1)."""
        return (int(round((self.world[0] - view_x0) * s)), int(round((view_y1 - self.world[3]) * s)))

    def blit(self, surface, view_x0: float, view_y1: float, s: float, level: int, flags: frozenset) -> None:
        W, H = surface.get_size()
        ox, oy = self.origin_px(view_x0, view_y1, s)
        surface.fill(LAND_COLOUR)
        nx = int(math.ceil((self.world[2] - self.world[0]) * s / TILE))
        ny = int(math.ceil((self.world[3] - self.world[1]) * s / TILE))
        tx0, tx1 = max(0, (-ox) // TILE), min(nx, (W - ox) // TILE + 1)
        ty0, ty1 = max(0, (-oy) // TILE), min(ny, (H - oy) // TILE + 1)
        for ty in range(ty0, ty1):
            for tx in range(tx0, tx1):
                surface.blit(self.tile(level, s, tx, ty, flags), (ox + tx * TILE, oy + ty * TILE))

    def tile(self, level: int, s: float, tx: int, ty: int, flags: frozenset):
        key = (level, tx, ty, flags)
        t = self._cache.get(key)
        if t is not None:
            self._cache.move_to_end(key)
            return t
        t = self._render(s, tx, ty, flags)
        self._cache[key] = t
        self.rendered += 1
        while len(self._cache) > self.max_tiles:
            self._cache.popitem(last=False)
        return t

    def _render(self, s: float, tx: int, ty: int, flags: frozenset):
        pg = self.pg
        m = self.map
        surf = pg.Surface((TILE, TILE))
        surf.fill(LAND_COLOUR)
        view = _View(self.world[0] + tx * TILE / s, self.world[3] - ty * TILE / s, s)
        # only the water inside the tile (and a margin for line widths): pygame fills a polygon over its
        # whole bounding box, so the unclipped river would cost the same in every tile
        m_px = 8.0 / s
        bx0, by1 = view.x0 - m_px, view.y1 + m_px
        bx1, by0 = view.x0 + TILE / s + m_px, view.y1 - TILE / s - m_px
        water = _polys(shapely.clip_by_rect(self.map.water, bx0, by0, bx1, by1))
        water.sort(key=lambda p: -abs(_ring_area(p.exterior.coords)))
        fill_water(pg, surf, view, water)
        if "coverage" in flags and self._cov_rgba is not None:
            self._draw_coverage(surf, view)
        for p in self._water:  # the banks: outlines of the whole water polygons (the clip's edges are not banks)
            for ring in [p.exterior, *p.interiors]:
                if not _box_hits(ring.bounds, bx0, by0, bx1, by1):
                    continue
                r = view.px(np.asarray(ring.coords))
                if len(r) >= 2:
                    pg.draw.aalines(surf, BANK_COLOUR, True, r)
        for lk in getattr(m, "locks", []):
            for p in _polys(lk.polygon):
                pg.draw.aalines(surf, LOCK_COLOUR, True, view.px(np.asarray(p.exterior.coords)))
        if "lanes" in flags:
            for ln, lb in zip(m.lanes, self._lane_bounds, strict=True):
                if _box_hits(lb, bx0 - 20 / s, by0 - 20 / s, bx1 + 20 / s, by1 + 20 / s):
                    Renderer._draw_lane(self._painter, surf, view, ln)
            r_km = max(2, min(4, int(round(12 * s))))
            for k in m.km_markers:
                p = view.px(k.xy)
                pg.draw.circle(surf, KM_COLOUR, p, r_km)
                pg.draw.circle(surf, (255, 255, 255), p, max(1, r_km - 2))
        if "berths" in flags:
            draw_bridges_and_berths(pg, surf, view, m, max(3, int(round(12.0 * s))), max(3, int(round(4 * s))))
            for bt in m.berths:  # the quay line's ends
                d = np.array([math.sin(bt.heading), math.cos(bt.heading)]) * 0.5 * bt.length_m
                for e in (view.px(bt.xy - d), view.px(bt.xy + d)):
                    pg.draw.circle(surf, BERTH_COLOUR, e, 2)
        return surf

    def _draw_coverage(self, surf, view: _View) -> None:
        """Nearest-cell lookup of the coverage raster on a half-resolution grid of the tile (numpy), water
        only (the map's water raster), scaled up and alpha-blitted."""
        pg = self.pg
        a, (ex0, ey0, ex1, ey1) = self.coverage
        ny, nx = a.shape
        n = TILE // 2
        xs = view.x0 + (np.arange(n) + 0.5) * 2.0 / view.s
        ys = view.y1 - (np.arange(n) + 0.5) * 2.0 / view.s
        if xs[-1] < ex0 or xs[0] > ex1 or ys[0] < ey0 or ys[-1] > ey1:
            return
        ci = np.floor((xs - ex0) / (ex1 - ex0) * nx).astype(np.int64)
        rj = np.floor((ys - ey0) / (ey1 - ey0) * ny).astype(np.int64)
        okx = (ci >= 0) & (ci < nx)
        oky = (rj >= 0) & (rj < ny)
        rgba = self._cov_rgba[np.clip(rj, 0, ny - 1)][:, np.clip(ci, 0, nx - 1)]  # (rows, cols, 4)
        gx, gy = np.meshgrid(xs, ys)
        wet = self.map.is_water(np.column_stack([gx.ravel(), gy.ravel()])).reshape(n, n)
        alpha = np.where(wet & oky[:, None] & okx[None, :], rgba[..., 3], 0).astype(np.uint8)
        src = pg.Surface((n, n), pg.SRCALPHA, 32)
        pg.surfarray.pixels3d(src)[...] = np.transpose(rgba[..., :3], (1, 0, 2))
        pg.surfarray.pixels_alpha(src)[...] = alpha.T
        surf.blit(pg.transform.scale(src, (TILE, TILE)), (0, 0))
