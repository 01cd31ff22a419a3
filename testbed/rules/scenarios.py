"""The encounter cases as simulation scenarios ``testbed/Encounter-<Name>-v0`` (scripted traffic placed
at fixed places; the ego is the agent's). The kinematic versions with stated outcomes are in
:mod:`testbed.rules.encounters`; here an agent sails the ego and the checker reports what it did.

======================================  ================================================================
id                                      situation
======================================  ================================================================
Encounter-HeadOnDownstream-v0           ego downstream (km 776.0) meets an upstream M8 (km 778.0)
Encounter-HeadOnUpstream-v0             ego upstream (km 778.0) meets a downstream M8 (km 776.0)
Encounter-Overtaking-v0                 ego (3-3.5 m/s) behind a slow M8 (1.5 m/s) on the downstream lane
Encounter-HarbourCrossing-v0            ego downstream (km 779.3) past the Hafenmund; an M8 leaves it
Encounter-RuhrortEntry-v0               ego comes downstream (km 779.0) to a berth in basin A: turn first
Encounter-HighWater-v0                  ego downstream at gauge 10.0 m (above mark I; discharge 6500 m3/s)
======================================  ================================================================
"""

from __future__ import annotations

import math

from testbed.config import GoalConfig, RulesConfig, ScenarioConfig, StartConfig, TrafficConfig

_PORT = RulesConfig(require_zones=["harbour_mouth", "harbour_entry", "turning_area", "regulated_meeting"])
_RHINE = RulesConfig(require_zones=["regulated_meeting"])

_BASE = dict(map="duisburg_ruhrort", dt=1.0)


def _sc(name, time_limit_s, start, goal, traffic=None, **kw) -> ScenarioConfig:
    return ScenarioConfig(name=name, time_limit_s=time_limit_s, start=start, goal=goal,
                          traffic=traffic or TrafficConfig(count=0), **_BASE, **kw)


def _one(lane, km=None, along=None, speed=3.0, vtype="M8") -> TrafficConfig:
    return TrafficConfig(count=1, source="scripted", vessel_types=[vtype], placed_lanes=[lane],
                         placed_km=[km] if km is not None else [], placed_along_m=[along] if along is not None else [],
                         placed_speed_ms=[speed])


def _start(lane, km=None, along=None, speed=(2.8, 3.2)) -> StartConfig:
    """A start near the given place: +- 5 m across, +- 2 deg, the speed range (a seed still matters)."""
    if km is not None:
        return StartConfig(lanes=[lane], km=[km - 0.02, km + 0.02], cross_m=5.0, heading_deg=2.0,
                           speed_ms=list(speed))
    return StartConfig(lanes=[lane], along_m=[along - 20.0, along + 20.0], cross_m=5.0, heading_deg=2.0,
                       speed_ms=list(speed))


def _lane_goal(lane, km) -> GoalConfig:
    return GoalConfig(lane=lane, km=km, position_tol_m=80.0, heading_tol_deg=math.nan, speed_tol_ms=10.0)


ENCOUNTER_SCENARIOS: dict[str, ScenarioConfig] = {s.name: s for s in (
    _sc("Encounter-HeadOnDownstream-v0", 900.0, _start("lane-rhine-down", km=776.0),
        _lane_goal("lane-rhine-down", 778.6), _one("lane-rhine-up", km=778.0), rules=_RHINE),
    _sc("Encounter-HeadOnUpstream-v0", 1200.0, _start("lane-rhine-up", km=778.0),
        _lane_goal("lane-rhine-up", 775.7), _one("lane-rhine-down", km=776.0), rules=_RHINE),
    _sc("Encounter-Overtaking-v0", 1200.0, _start("lane-rhine-down", km=775.6, speed=(3.0, 3.5)),
        _lane_goal("lane-rhine-down", 778.2), _one("lane-rhine-down", km=775.95, speed=1.5), rules=_RHINE),
    _sc("Encounter-HarbourCrossing-v0", 900.0, _start("lane-rhine-down", km=779.3),
        _lane_goal("lane-rhine-down", 781.5), _one("lane-hafenkanal~rev", along=3231.0, speed=2.0), rules=_PORT),
    _sc("Encounter-RuhrortEntry-v0", 2400.0, _start("lane-rhine-down", km=779.0, speed=(2.5, 3.0)),
        GoalConfig(berths=["berth-01"], position_tol_m=40.0, heading_tol_deg=30.0, speed_tol_ms=1.0), rules=_PORT),
    _sc("Encounter-HighWater-v0", 900.0, _start("lane-rhine-down", km=776.0, speed=(3.8, 4.2)),
        _lane_goal("lane-rhine-down", 779.0), discharge_m3s=6500.0, rules=RulesConfig(water_level_m=10.0, require_zones=["high_water"])),
)}
