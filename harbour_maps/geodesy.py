"""Local metric frame of a harbour map (geodesy through pyproj).

A map declares a projected CRS (e.g. ``EPSG:32632``, UTM 32N) and an origin in WGS84.  The local
frame is the projected (grid) frame shifted so that the origin is ``(0, 0)``: ``x`` east (grid),
``y`` north (grid), metres.  Because it is a grid frame, grid north differs from true north by the
meridian convergence ``gamma``; :class:`LocalFrame` converts bearings both ways.

Conventions: bearings/headings are radians, 0 = north, clockwise positive.  ``convergence_rad`` is
PROJ's meridian convergence at the origin (the angle from true north to grid north, positive when
grid north lies east of true north; about -1.87 deg at Duisburg, west of the UTM 32 central
meridian).  Hence ``grid = true - gamma`` and ``true = grid + gamma``.  The convergence at the
origin is used for the whole map (it changes by ~0.01 deg per km east-west at 51 deg N).
"""

from __future__ import annotations

import math

import numpy as np
import pyproj

__all__ = ["LocalFrame", "wrap_angle"]

TWO_PI = 2.0 * math.pi


def wrap_angle(a):
    """Wrap angle(s) in radians to [0, 2*pi)."""
    return np.mod(a, TWO_PI)


class LocalFrame:
    """WGS84 <-> local metric frame (projected CRS minus projected origin)."""

    def __init__(self, crs: str, origin_lon: float, origin_lat: float):
        self.crs = pyproj.CRS.from_user_input(crs)
        if not self.crs.is_projected:
            raise ValueError(f"CRS {crs!r} is not a projected CRS")
        self.crs_string = str(crs)
        self.origin_lon = float(origin_lon)
        self.origin_lat = float(origin_lat)
        self._fwd = pyproj.Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        self._inv = pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        ox, oy = self._fwd.transform(self.origin_lon, self.origin_lat)
        if not (math.isfinite(ox) and math.isfinite(oy)):
            raise ValueError(f"origin ({origin_lon}, {origin_lat}) cannot be projected to {crs}")
        self.origin_projected = (float(ox), float(oy))
        factors = pyproj.Proj(self.crs).get_factors(self.origin_lon, self.origin_lat)
        self.convergence_rad = math.radians(float(factors.meridian_convergence))
        self.scale_factor = float(factors.meridional_scale)

    # -- coordinates -------------------------------------------------------------------------
    def to_local(self, lon, lat):
        """WGS84 lon/lat (degrees, arrays) -> local (x, y) metres (float64 arrays)."""
        x, y = self._fwd.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
        return np.asarray(x) - self.origin_projected[0], np.asarray(y) - self.origin_projected[1]

    def to_wgs84(self, x, y):
        """Local (x, y) metres -> WGS84 (lon, lat) degrees (float64 arrays)."""
        lon, lat = self._inv.transform(
            np.asarray(x, dtype=np.float64) + self.origin_projected[0],
            np.asarray(y, dtype=np.float64) + self.origin_projected[1],
        )
        return np.asarray(lon), np.asarray(lat)

    def coords_to_local(self, coords: np.ndarray) -> np.ndarray:
        """(N, 2) lon/lat -> (N, 2) local metres (shapely.transform-compatible)."""
        c = np.asarray(coords, dtype=np.float64)
        x, y = self.to_local(c[:, 0], c[:, 1])
        return np.column_stack([x, y])

    def coords_to_wgs84(self, coords: np.ndarray) -> np.ndarray:
        """(N, 2) local metres -> (N, 2) lon/lat."""
        c = np.asarray(coords, dtype=np.float64)
        lon, lat = self.to_wgs84(c[:, 0], c[:, 1])
        return np.column_stack([lon, lat])

    # -- bearings ----------------------------------------------------------------------------
    def true_to_grid(self, bearing_rad):
        """True bearing (rad, 0 = true north, clockwise) -> grid bearing in [0, 2*pi)."""
        return wrap_angle(np.asarray(bearing_rad, dtype=np.float64) - self.convergence_rad)

    def grid_to_true(self, bearing_rad):
        """Grid bearing (rad, 0 = grid north, clockwise) -> true bearing in [0, 2*pi)."""
        return wrap_angle(np.asarray(bearing_rad, dtype=np.float64) + self.convergence_rad)

    def __repr__(self) -> str:
        return (f"LocalFrame(crs={self.crs_string!r}, origin=({self.origin_lon}, {self.origin_lat}), "
                f"convergence={math.degrees(self.convergence_rad):.4f} deg)")
