"""Raster precompute for harbour maps, and its disk cache.

Everything a per-step query needs is precomputed here once per map file, so that the queries in
:mod:`harbour_maps.map` are a few numpy gathers and never touch shapely.

Grid
    Cell size ``resolution`` (m).  The grid covers the projected extent plus a margin of
    ``MARGIN_CELLS`` cells, aligned to multiples of the resolution.  Cell ``(i, j)`` (row ``i`` = y,
    column ``j`` = x) has its centre at ``(x0 + (j + .5) r, y0 + (i + .5) r)``.  Because every
    feature lies inside the extent, the margin is always land; queries clamp outside points into
    the margin, so "outside the raster" behaves as land without extra tests.

Water mask
    ``shapely.contains_xy`` on cell centres (prepared geometry).  To save time, blocks of 8x8 cells
    are first classified with ``contains_properly`` / ``intersects`` on their boxes; only blocks
    that straddle a bank are tested cell by cell (result identical to testing every cell).

Signed distance (``sdf``, float32, metres)
    Exact Euclidean distance transform (``scipy.ndimage.distance_transform_edt``) of the water and
    of the land, between cell centres, minus half a cell (the bank lies half-way between a water
    and a land centre): ``sdf = (d_water - .5) r`` in water, ``-(d_land - .5) r`` on land.

Water index
    ``water_index`` (int32, -1 on land) numbers the water cells in row-major order.  Per-water-cell
    tables have ``n_water + 1`` rows; the last row is a sentinel (zero current, no lane, zero ray
    length), so index ``-1`` from a land cell selects it without a branch.

Current
    For each ``current`` reach (a line in flow direction) the water cells whose nearest reach
    segment (``STRtree.query_nearest``) belongs to that reach and lies within its ``influence_m``
    get ``unit tangent of that segment x bank profile`` in ``current_field`` and the reach number in
    ``current_reach``.  Bank profile: ``p = clip(sdf / bank_ramp_m, 0, 1) ** (1/3)`` (1 in the
    fairway, falling to 0 at the bank with a power-law shape).  The speed of the reach for a
    discharge is applied at query time, so a change of discharge only rescales.

Lanes
    ``lane_segment`` gives, for each water cell, the global index of the nearest lane segment
    (``STRtree.query_nearest`` on the cell centre); -1 if the map has no lanes.

Rays
    ``ray_table`` (uint16, decimetres, clipped to ``ray_max_range`` + one cell) holds for every water cell
    centre and ``D`` directions (``2 pi d / D``, nautical: 0 = grid north, clockwise) the distance
    to the bank or the next obstacle.  Algorithm ("parallel-line scan", exact on the raster up to
    a quarter cell): for each direction pair ``theta, theta + pi`` the raster is resampled on a
    rotated lattice of lines parallel to ``theta`` (0.5 cell apart, samples every 0.5 cell); along
    each line a running min/max gives the next land sample ahead / behind every sample; a water
    cell centre reads its line (nearest line, at most a quarter cell sideways) and takes the
    distance to the edge of the first land sample beyond it.  Outside the raster is land.

Cache
    ``np.savez`` (uncompressed, no pickles; loaded with ``allow_pickle=False``) in ``cache_dir``,
    keyed by the map file's sha256, the raster parameters and ``RASTER_VERSION``.  Written to a
    temporary file in the same directory and moved into place with ``os.replace``.  A cache file
    that cannot be read or does not match its key is rebuilt (with a warning), never trusted.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from scipy import ndimage

from atomicio import atomic_open

__all__ = ["MapRasters", "build_rasters", "load_or_build_rasters", "RASTER_VERSION", "default_cache_dir",
           "cache_file_for"]

RASTER_VERSION = 2
MARGIN_CELLS = 2
BLOCK = 8
RAY_LATTICE = 0.5  # lattice spacing of the ray scan, in cells (must be <= 0.5, see module doc)


def default_cache_dir() -> Path:
    env = os.environ.get("TESTBED_CACHE_DIR")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "duisburg-testbed"


@dataclass(eq=False)
class MapRasters:
    """Precomputed rasters of one map (see module docstring for the meaning of each array)."""

    resolution: float
    x0: float
    y0: float
    shape: tuple[int, int]  # (ny, nx)
    water: np.ndarray  # (ny, nx) bool
    sdf: np.ndarray  # (ny, nx) float32, metres
    water_index: np.ndarray  # (ny, nx) int32, -1 on land
    current_field: np.ndarray  # (n_water + 1, 2) float32: unit direction x bank profile
    current_reach: np.ndarray  # (n_water + 1,) int16: reach number, n_reaches where none
    lane_segment: np.ndarray  # (n_water + 1,) int32: global lane segment, -1 where none
    ray_table: np.ndarray  # (n_water + 1, D) uint16 decimetres
    ray_max_range: float
    timings: dict = field(default_factory=dict)
    from_cache: bool = False
    cache_path: Path | None = None

    @property
    def n_water(self) -> int:
        return int(self.ray_table.shape[0] - 1)

    @property
    def ray_directions(self) -> int:
        return int(self.ray_table.shape[1])

    @property
    def ray_table_m(self) -> np.ndarray:
        return self.ray_table.astype(np.float32) * np.float32(0.1)

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x and y of all cell centres as (nx,) and (ny,) arrays."""
        ny, nx = self.shape
        r = self.resolution
        return self.x0 + (np.arange(nx) + 0.5) * r, self.y0 + (np.arange(ny) + 0.5) * r

    def water_xy(self) -> np.ndarray:
        """(n_water, 2) centres of the water cells, in water-index order."""
        i, j = np.nonzero(self.water)
        r = self.resolution
        return np.column_stack([self.x0 + (j + 0.5) * r, self.y0 + (i + 0.5) * r])


# ------------------------------------------------------------------------------------------------
# individual rasters

def grid_for_bounds(bounds, resolution: float):
    xmin, ymin, xmax, ymax = bounds
    r = float(resolution)
    j0 = math.floor(xmin / r) - MARGIN_CELLS
    j1 = math.ceil(xmax / r) + MARGIN_CELLS
    i0 = math.floor(ymin / r) - MARGIN_CELLS
    i1 = math.ceil(ymax / r) + MARGIN_CELLS
    return j0 * r, i0 * r, (i1 - i0, j1 - j0)


def water_mask(water, x0: float, y0: float, r: float, shape) -> np.ndarray:
    ny, nx = shape
    shapely.prepare(water)
    nby, nbx = -(-ny // BLOCK), -(-nx // BLOCK)
    bj, bi = np.meshgrid(np.arange(nbx), np.arange(nby))
    # boxes spanning the cell centres of each block
    bx0 = x0 + (bj * BLOCK + 0.5) * r
    by0 = y0 + (bi * BLOCK + 0.5) * r
    bx1 = x0 + (np.minimum(bj * BLOCK + BLOCK, nx) - 0.5) * r
    by1 = y0 + (np.minimum(bi * BLOCK + BLOCK, ny) - 0.5) * r
    boxes = shapely.box(bx0.ravel(), by0.ravel(), bx1.ravel(), by1.ravel())
    inside = shapely.contains_properly(water, boxes).reshape(nby, nbx)
    touch = shapely.intersects(water, boxes).reshape(nby, nbx)
    mixed = touch & ~inside
    expand = np.ones((BLOCK, BLOCK), dtype=bool)
    mask = np.kron(inside, expand)[:ny, :nx].astype(bool)
    mixed_cells = np.kron(mixed, expand)[:ny, :nx].astype(bool)
    mi, mj = np.nonzero(mixed_cells)
    if mi.size:
        mask[mi, mj] = shapely.contains_xy(water, x0 + (mj + 0.5) * r, y0 + (mi + 0.5) * r)
    return mask


def signed_distance_field(mask: np.ndarray, r: float) -> np.ndarray:
    dw = ndimage.distance_transform_edt(mask)
    dl = ndimage.distance_transform_edt(~mask)
    sdf = np.where(mask, dw - 0.5, 0.5 - dl) * r
    return sdf.astype(np.float32)


def _segments_tree(segments: np.ndarray):
    lines = shapely.linestrings(segments)  # (S, 2, 2) -> S lines
    return shapely.STRtree(lines)


def current_rasters(wxy: np.ndarray, sdf_w: np.ndarray, reaches):
    """reaches: list of (coords (P,2), influence_m, bank_ramp_m)."""
    nw = wxy.shape[0]
    nr = len(reaches)
    field_ = np.zeros((nw + 1, 2), dtype=np.float32)
    reach = np.full(nw + 1, nr, dtype=np.int16)
    if nr == 0 or nw == 0:
        return field_, reach
    segs, seg_reach = [], []
    for k, (coords, _, _) in enumerate(reaches):
        c = np.asarray(coords, dtype=np.float64)
        segs.append(np.stack([c[:-1], c[1:]], axis=1))
        seg_reach.append(np.full(len(c) - 1, k))
    segs = np.concatenate(segs)
    seg_reach = np.concatenate(seg_reach)
    infl = np.array([x[1] for x in reaches])
    ramp = np.array([x[2] for x in reaches])
    tree = _segments_tree(segs)
    pts = shapely.points(wxy)
    (pi, si), dist = tree.query_nearest(pts, max_distance=float(infl.max()), return_distance=True,
                                        all_matches=False)
    rk = seg_reach[si]
    ok = dist <= infl[rk]
    pi, si, rk = pi[ok], si[ok], rk[ok]
    d = segs[si, 1] - segs[si, 0]
    d /= np.hypot(d[:, 0], d[:, 1])[:, None]
    prof = np.clip(sdf_w[pi] / ramp[rk], 0.0, 1.0) ** (1.0 / 3.0)
    field_[pi] = (d * prof[:, None]).astype(np.float32)
    reach[pi] = rk
    return field_, reach


def lane_rasters(wxy: np.ndarray, lane_segments: np.ndarray) -> np.ndarray:
    nw = wxy.shape[0]
    out = np.full(nw + 1, -1, dtype=np.int32)
    if len(lane_segments) == 0 or nw == 0:
        return out
    tree = _segments_tree(lane_segments)
    pi, si = tree.query_nearest(shapely.points(wxy), all_matches=False)
    out[pi] = si
    return out


def ray_table(mask: np.ndarray, r: float, directions: int, max_range: float,
              chunk_samples: int = 1 << 22) -> np.ndarray:
    """(n_water + 1, D) uint16 decimetre ray lengths (see module docstring, "Rays")."""
    if directions % 2 or directions < 4:
        raise ValueError("ray_directions must be an even number >= 4")
    ny, nx = mask.shape
    land_flat = ~mask.ravel()
    wi, wj = np.nonzero(mask)
    nw = wi.size
    out = np.zeros((nw + 1, directions), dtype=np.uint16)
    if nw == 0:
        return out
    xc = wj + 0.5
    yc = wi + 0.5
    g = h = RAY_LATTICE
    # stored up to max_range + one cell, so that subtracting an origin's offset from its cell centre
    # at query time cannot pull a ray that reaches max_range below it
    max_dm = min(int(round((max_range + r) * 10)), 65535)
    half = directions // 2
    xmax32 = np.float32(nx - 1e-3)
    ymax32 = np.float32(ny - 1e-3)
    for f in range(half):
        th = 2.0 * math.pi * f / directions
        ux, uy = math.sin(th), math.cos(th)
        vx, vy = uy, -ux
        cx = np.array([0.0, nx, 0.0, nx])
        cy = np.array([0.0, 0.0, ny, ny])
        ca, cb = cx * ux + cy * uy, cx * vx + cy * vy
        amin, bmin = ca.min(), cb.min()
        nl = int(math.ceil((ca.max() - amin) / g))
        nk = int(math.ceil((cb.max() - bmin) / h))
        aw = xc * ux + yc * uy - amin
        bw = xc * vx + yc * vy - bmin
        kw = np.minimum((bw / h).astype(np.int64), nk - 1)
        lw = np.minimum((aw / g).astype(np.int64), nl - 1)
        order = np.argsort(kw, kind="stable")
        ks = kw[order]
        # columns: 0 and nl + 1 are land sentinels; column c <-> sample l = c - 1
        cols = np.arange(nl + 2, dtype=np.int32)
        al = (amin + (np.arange(-1, nl + 1) + 0.5) * g)
        axl = (al * ux).astype(np.float32)
        ayl = (al * uy).astype(np.float32)
        rows = max(1, chunk_samples // (nl + 2))
        fwd = np.empty(nw)
        bwd = np.empty(nw)
        for k0 in range(0, nk, rows):
            k1 = min(nk, k0 + rows)
            s0, s1 = np.searchsorted(ks, [k0, k1])
            if s0 == s1:
                continue
            bk = bmin + (np.arange(k0, k1) + 0.5) * h
            X = axl[None, :] + (bk * vx).astype(np.float32)[:, None]
            Y = ayl[None, :] + (bk * vy).astype(np.float32)[:, None]
            np.clip(X, 0, xmax32, out=X)
            np.clip(Y, 0, ymax32, out=Y)
            flat = Y.astype(np.int32)
            flat *= nx
            flat += X.astype(np.int32)
            land = land_flat[flat]
            land[:, 0] = True
            land[:, -1] = True
            nxt = np.where(land, cols, nl + 1)
            nxt = np.minimum.accumulate(nxt[:, ::-1], axis=1)[:, ::-1]
            prv = np.where(land, cols, 0)
            prv = np.maximum.accumulate(prv, axis=1)
            sel = order[s0:s1]
            kk = kw[sel] - k0
            ll = lw[sel]
            n = nxt[kk, ll + 2] - 1  # first land sample with l >= ll + 1
            p = prv[kk, ll] - 1  # last land sample with l <= ll - 1
            fwd[sel] = n * g - aw[sel]
            bwd[sel] = aw[sel] - (p + 1) * g
        out[:nw, f] = np.minimum(np.rint(fwd * (r * 10.0)), max_dm).astype(np.uint16)
        out[:nw, f + half] = np.minimum(np.rint(bwd * (r * 10.0)), max_dm).astype(np.uint16)
    return out


def build_rasters(water, bounds, resolution: float, reaches, lane_segments: np.ndarray,
                  ray_directions: int = 72, ray_max_range: float = 1500.0) -> MapRasters:
    t = {}
    t0 = time.perf_counter()
    x0, y0, shape = grid_for_bounds(bounds, resolution)
    r = float(resolution)
    mask = water_mask(water, x0, y0, r, shape)
    t["water_mask"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sdf = signed_distance_field(mask, r)
    widx = np.full(shape, -1, dtype=np.int32)
    nw = int(mask.sum())
    widx[mask] = np.arange(nw, dtype=np.int32)
    t["sdf"] = time.perf_counter() - t0
    i, j = np.nonzero(mask)
    wxy = np.column_stack([x0 + (j + 0.5) * r, y0 + (i + 0.5) * r])
    t0 = time.perf_counter()
    cfield, creach = current_rasters(wxy, sdf[mask].astype(np.float64), reaches)
    t["current"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lseg = lane_rasters(wxy, lane_segments)
    t["lanes"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rays = ray_table(mask, r, ray_directions, ray_max_range)
    t["rays"] = time.perf_counter() - t0
    return MapRasters(r, float(x0), float(y0), tuple(int(v) for v in shape), mask, sdf, widx, cfield,
                      creach, lseg, rays, float(ray_max_range), t)


# ------------------------------------------------------------------------------------------------
# cache

_ARRAYS = ("water", "sdf", "water_index", "current_field", "current_reach", "lane_segment", "ray_table")


def cache_key(sha256: str, resolution: float, ray_directions: int, ray_max_range: float) -> dict:
    return {"raster_version": RASTER_VERSION, "sha256": sha256, "resolution": float(resolution),
            "ray_directions": int(ray_directions), "ray_max_range": float(ray_max_range),
            "margin": MARGIN_CELLS, "ray_lattice": RAY_LATTICE}


def cache_file_for(cache_dir, name: str, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    safe = "".join(c if (c.isalnum() or c in "-_") else "_" for c in name)[:60]
    return Path(cache_dir) / f"{safe}-{digest}.npz"


def save_rasters(path: Path, rasters: MapRasters, key: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = dict(key, x0=rasters.x0, y0=rasters.y0, shape=list(rasters.shape))
    arrays = {k: getattr(rasters, k) for k in _ARRAYS}
    arrays["header"] = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
    with atomic_open(path, "wb", fsync=True) as fh:
        np.savez(fh, **arrays)


def load_cached(path: Path, key: dict) -> MapRasters | None:
    """Return the cached rasters, or None if absent/unreadable/mismatching."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(z["header"].tobytes().decode())
            if any(header.get(k) != v for k, v in key.items()):
                raise ValueError("cache key mismatch")
            arrs = {k: z[k] for k in _ARRAYS}
        shape = tuple(int(v) for v in header["shape"])
        nw = int(arrs["water"].sum())
        checks = [
            arrs["water"].shape == shape and arrs["water"].dtype == np.bool_,
            arrs["sdf"].shape == shape and arrs["sdf"].dtype == np.float32,
            arrs["water_index"].shape == shape and arrs["water_index"].dtype == np.int32,
            arrs["current_field"].shape == (nw + 1, 2) and arrs["current_field"].dtype == np.float32,
            arrs["current_reach"].shape == (nw + 1,) and arrs["current_reach"].dtype == np.int16,
            arrs["lane_segment"].shape == (nw + 1,) and arrs["lane_segment"].dtype == np.int32,
            arrs["ray_table"].shape == (nw + 1, key["ray_directions"]) and arrs["ray_table"].dtype == np.uint16,
        ]
        if not all(checks):
            raise ValueError("cache arrays have unexpected shapes or types")
    except Exception as e:  # noqa: BLE001 - any damage to the cache means: rebuild
        warnings.warn(f"ignoring unreadable raster cache {path}: {e}", RuntimeWarning, stacklevel=3)
        return None
    return MapRasters(key["resolution"], float(header["x0"]), float(header["y0"]), shape, arrs["water"],
                      arrs["sdf"], arrs["water_index"], arrs["current_field"], arrs["current_reach"],
                      arrs["lane_segment"], arrs["ray_table"], key["ray_max_range"], {}, True, path)


def load_or_build_rasters(name: str, sha256: str, build, resolution: float, ray_directions: int,
                          ray_max_range: float, cache_dir=None, use_cache: bool = True) -> MapRasters:
    """``build()`` -> MapRasters is called on a cache miss; the result is cached when use_cache."""
    key = cache_key(sha256, resolution, ray_directions, ray_max_range)
    path = cache_file_for(cache_dir if cache_dir is not None else default_cache_dir(), name, key)
    if use_cache:
        t0 = time.perf_counter()
        cached = load_cached(path, key)
        if cached is not None:
            cached.timings["cache_load"] = time.perf_counter() - t0
            return cached
    rasters = build()
    if use_cache:
        try:
            t0 = time.perf_counter()
            save_rasters(path, rasters, key)
            rasters.cache_path = path
            rasters.timings["cache_save"] = time.perf_counter() - t0
        except OSError as e:
            warnings.warn(f"could not write raster cache {path}: {e}", RuntimeWarning, stacklevel=2)
    return rasters
