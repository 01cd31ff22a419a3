"""harbour_maps: harbour/river maps for the Duisburg Smart Shipping Testbed.

A map is a GeoJSON file (contract: ``FORMAT.md``) that :func:`load_map` validates, projects into a
local metric frame and turns into precomputed rasters, so that the per-step queries of
:class:`HarbourMap` (``is_water``, ``signed_distance``, ``current``, ``lane_coordinates``,
``cast_rays``) are a few vectorised numpy operations.  The package knows nothing of ships or RL.
"""

from .format import Feature, MapError
from .geodesy import LocalFrame
from .map import (
    Berth,
    Bridge,
    CellSite,
    CurrentReach,
    Gauge,
    HarbourMap,
    KmMarker,
    Lane,
    LaneCoords,
    Lock,
    list_maps,
    load_map,
    map_path,
    maps_dir,
)
from .rasters import MapRasters

__all__ = [
    "Berth", "Bridge", "CellSite", "CurrentReach", "Feature", "Gauge", "HarbourMap", "KmMarker", "Lane",
    "LaneCoords", "LocalFrame", "Lock", "MapError", "MapRasters", "list_maps", "load_map", "map_path", "maps_dir",
]
