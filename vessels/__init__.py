"""Batched inland-vessel dynamics, the vessel catalogue and standard manoeuvres.

- :mod:`vessels.state`: :class:`VesselState` (structure of arrays over N vessels), actuator limits.
- :mod:`vessels.mmg`: MMG 3-DOF model (Yasukawa & Yoshimura 2015), batched, RK4.
- :mod:`vessels.nomoto`: first-order Nomoto + surge model for cheap background traffic.
- :mod:`vessels.catalogue`: inland classes (CEMT/RWS), KVLCC2 and GMS1 reference sets,
  AIS ship type and Inland ERI code mapping.
- :mod:`vessels.manoeuvres`: turning circle, zig-zag, crash stop (IMO MSC.137(76) style).

Conventions: SI units; local frame x east, y north; heading 0 = north, clockwise; u, v are
velocities through the water (the caller passes the current at each vessel); positive rudder
turns to starboard. This package knows nothing of maps or RL.
"""

from vessels import catalogue, manoeuvres, mmg, nomoto
from vessels.errors import ParameterError, VesselError, VesselTypeError
from vessels.state import ActuatorLimits, VesselState

__all__ = [
    "ActuatorLimits",
    "ParameterError",
    "VesselError",
    "VesselState",
    "VesselTypeError",
    "catalogue",
    "manoeuvres",
    "mmg",
    "nomoto",
]
