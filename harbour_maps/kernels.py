"""Compiled (numba) point queries on the precomputed rasters: the one implementation of the map queries.

:class:`harbour_maps.HarbourMap` methods (``is_water``, ``signed_distance``, ``current``,
``cast_rays``) are thin wrappers around the batch kernels here, and the environment's own compiled
step calls the scalar functions directly (numba inlines calls between ``njit`` functions), so a
query costs a few nanoseconds per point and no Python call per vessel.

All functions take the raster arrays of :class:`harbour_maps.rasters.MapRasters` plus a small
float64 vector ``geo`` (see :func:`pack_geo`):

``geo = [x0, y0, inv_res, res, nx, ny, n_directions, ray_max_range]``

Semantics (identical to the module docstring of :mod:`harbour_maps.rasters`): points outside the
raster are clamped into its land margin; the signed distance is interpolated bilinearly between cell
centres and extended beyond the raster by the distance to it; ray lengths interpolate the two nearest
table directions and subtract the origin's offset from its cell centre along the ray.
"""

from __future__ import annotations

import math

import numba
import numpy as np

TWO_PI = 2.0 * math.pi
G_X0, G_Y0, G_INV, G_RES, G_NX, G_NY, G_D, G_RAYMAX = range(8)


def pack_geo(R) -> np.ndarray:
    """The ``geo`` vector of a :class:`~harbour_maps.rasters.MapRasters`."""
    ny, nx = R.shape
    return np.array([R.x0, R.y0, 1.0 / R.resolution, R.resolution, nx, ny, R.ray_table.shape[1],
                     float(R.ray_max_range)], dtype=np.float64)  # fmt: skip


@numba.njit(cache=True, inline="always")
def _clamp(f, hi):
    """f clamped to [0, hi]; NaN goes to 0 (the land margin)."""
    if f > hi:
        return hi
    if not f >= 0.0:
        return 0.0
    return f


@numba.njit(cache=True, inline="always")
def cell_index(geo, x, y):
    """Flat row-major index of the cell containing (x, y), clamped into the raster."""
    nx = geo[G_NX]
    ny = geo[G_NY]
    fx = (x - geo[G_X0]) * geo[G_INV]
    fy = (y - geo[G_Y0]) * geo[G_INV]
    fx = _clamp(fx, nx - 1e-9)
    fy = _clamp(fy, ny - 1e-9)
    return int(fx) + int(fy) * int(nx)


@numba.njit(cache=True, inline="always")
def sdf_at(geo, sdf, x, y):
    """Signed distance to the bank at (x, y): + water, - land (``sdf`` flat float64)."""
    nx = geo[G_NX]
    ny = geo[G_NY]
    res = geo[G_RES]
    fx = (x - geo[G_X0]) * geo[G_INV] - 0.5
    fy = (y - geo[G_Y0]) * geo[G_INV] - 0.5
    cx = _clamp(fx, nx - 1.0 - 1e-9)
    cy = _clamp(fy, ny - 1.0 - 1e-9)
    ix = int(cx)
    iy = int(cy)
    tx = cx - ix
    ty = cy - iy
    k = ix + iy * int(nx)
    v00 = sdf[k]
    v10 = sdf[k + 1]
    v01 = sdf[k + int(nx)]
    v11 = sdf[k + int(nx) + 1]
    top = v00 + tx * (v10 - v00)
    bot = v01 + tx * (v11 - v01)
    out = top + ty * (bot - top)
    dx = fx - cx
    dy = fy - cy
    return out - math.sqrt(dx * dx + dy * dy) * res


@numba.njit(cache=True, inline="always")
def current_at(geo, widx, cfield, creach, speeds, x, y):
    """(east, north) surface current at (x, y); ``speeds`` per reach plus a trailing 0."""
    w = widx[cell_index(geo, x, y)]
    s = speeds[creach[w]]
    return cfield[w, 0] * s, cfield[w, 1] * s


@numba.njit(cache=True, inline="always")
def ray_at(geo, widx, rays, x, y, heading, angles, cos_a, sin_a, out, max_range):
    """Fill ``out[k]`` with the ray length from (x, y) towards ``heading + angles[k]``
    (``cos_a``, ``sin_a``: cos and sin of the angles, precomputed by the caller)."""
    res = geo[G_RES]
    D = int(geo[G_D])
    stride = D + 2
    nx = geo[G_NX]
    ny = geo[G_NY]
    fx = (x - geo[G_X0]) * geo[G_INV]
    fy = (y - geo[G_Y0]) * geo[G_INV]
    fx = _clamp(fx, nx - 1e-9)
    fy = _clamp(fy, ny - 1e-9)
    ix = int(fx)
    iy = int(fy)
    w = widx[ix + iy * int(nx)]
    if w < 0:
        for k in range(angles.shape[0]):
            out[k] = 0.0
        return
    offx = (fx - ix - 0.5) * res
    offy = (fy - iy - 0.5) * res
    sh = math.sin(heading)
    ch = math.cos(heading)
    A = offx * sh + offy * ch
    B = offx * ch - offy * sh
    scale = D / TWO_PI
    base = w * stride
    for k in range(angles.shape[0]):
        a = angles[k]
        phi = (heading + a) * scale
        phi = phi - math.floor(phi / D) * D
        d0 = int(phi)
        if d0 >= D:  # phi rounded up to D
            d0 = D - 1
        t = phi - d0
        v0 = rays[base + d0]
        v1 = rays[base + d0 + 1]
        v = v0 + t * (v1 - v0) - A * cos_a[k] - B * sin_a[k]
        out[k] = min(max(v, 0.0), max_range)


# -- batch kernels used by HarbourMap ----------------------------------------------------------------
@numba.njit(cache=True)
def is_water_batch(geo, water, xy, out):
    for i in range(xy.shape[0]):
        out[i] = water[cell_index(geo, xy[i, 0], xy[i, 1])]


@numba.njit(cache=True)
def sdf_batch(geo, sdf, xy, out):
    for i in range(xy.shape[0]):
        out[i] = sdf_at(geo, sdf, xy[i, 0], xy[i, 1])


@numba.njit(cache=True)
def current_batch(geo, widx, cfield, creach, speeds, xy, out):
    for i in range(xy.shape[0]):
        ce, cn = current_at(geo, widx, cfield, creach, speeds, xy[i, 0], xy[i, 1])
        out[i, 0] = ce
        out[i, 1] = cn


@numba.njit(cache=True)
def rays_batch(geo, widx, rays, xy, headings, angles, max_range, out):
    cos_a = np.cos(angles)
    sin_a = np.sin(angles)
    for i in range(xy.shape[0]):
        ray_at(geo, widx, rays, xy[i, 0], xy[i, 1], headings[i], angles, cos_a, sin_a, out[i], max_range)


@numba.njit(cache=True)
def current_xy_batch(geo, widx, cfield, creach, speeds, x, y, out):
    """Like :func:`current_batch` for separate x and y arrays (the vessel state's layout)."""
    for i in range(x.shape[0]):
        ce, cn = current_at(geo, widx, cfield, creach, speeds, x[i], y[i])
        out[i, 0] = ce
        out[i, 1] = cn
