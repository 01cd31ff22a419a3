"""Scenario configuration: frozen dataclasses per component, registered as Hydra structured configs.

A scenario is a :class:`ScenarioConfig` made of one frozen dataclass per component (ego, start, goal,
traffic, observation, reward, termination). The same strict merge serves both faces:

- ``gymnasium.make("testbed/PortEntry-v0", traffic={"count": 5}, dt=0.5)`` — keyword overrides;
- ``gymnasium.make(..., overrides=["traffic.count=5", "reward.collision=-500"])`` — Hydra-style dotlist;
- ``testbed run PortEntry-v0 traffic.count=5`` and ``conf/`` YAML through Hydra's ``compose``.

A mistyped key or a value of the wrong type is an error that names the key and the scenario
(:class:`ConfigError`); nothing is silently ignored. The frozen dataclasses are turned into writable
OmegaConf schemas for merging (OmegaConf refuses to merge into frozen dataclass nodes) and back into
frozen instances with ``OmegaConf.to_object``, which re-checks every type.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """A bad scenario configuration: names the key, the value and the problem."""


@dataclass(frozen=True)
class EgoConfig:
    """The controlled vessel."""

    vessel_type: str = "M8"  # catalogue id (testbed vessel list)
    model: str = "mmg"  # "mmg" (full MMG 3-DOF) or "nomoto" (fast first-order model)
    max_revs_fraction: float = 1.0  # engine command +1 maps to this fraction of the type's max revs


@dataclass(frozen=True)
class StartConfig:
    """Where an episode starts: a point on one of ``lanes`` (chosen uniformly)."""

    lanes: list[str] = field(default_factory=list)  # lane ids; one is drawn per episode
    # river-km ranges on the lane (lanes with km): [] (use along_m), [lo, hi] for every lane, or one
    # [lo, hi] pair per lane, flattened: [lo_0, hi_0, lo_1, hi_1, ...]
    km: list[float] = field(default_factory=list)
    along_m: list[float] = field(default_factory=lambda: [0.0, 0.0])  # [lo, hi] metres from the lane start
    cross_m: float = 10.0  # uniform +- cross-track offset [m]
    heading_deg: float = 5.0  # uniform +- heading offset from the lane direction [deg]
    speed_ms: list[float] = field(default_factory=lambda: [2.5, 3.5])  # [lo, hi] through the water [m/s]


@dataclass(frozen=True)
class GoalConfig:
    """Where an episode should end."""

    berths: list[str] = field(default_factory=list)  # berth ids; one is drawn per episode
    lane: str = ""  # or: a point on this lane ...
    km: float = math.nan  # ... at this river-km (lanes with km)
    along_m: float = math.nan  # ... or this many metres from the lane start
    position_tol_m: float = 30.0
    heading_tol_deg: float = 30.0  # NaN: heading not required
    speed_tol_ms: float = 1.0  # speed through the water at the goal
    # RheinSchPV § 9.07 Nr. 5: a downstream route into a Ruhrort harbour first loops to face upstream
    # (testbed.rules.passage; berth goals); False: the shortest route (v0, v1)
    turn_before_entry: bool = False


@dataclass(frozen=True)
class TrafficConfig:
    """Scripted traffic following the fairway lanes (issue 3); AIS sources come later."""

    count: int = 0
    lanes: list[str] = field(default_factory=list)  # empty: every lane with direction "forward" or "both"
    vessel_types: list[str] = field(default_factory=lambda: ["M8", "M6", "M9", "C3L", "TANKER", "PAX"])
    speed_ms: list[float] = field(default_factory=lambda: [2.5, 4.0])  # through the water
    min_gap_m: float = 250.0  # spacing along a lane at spawn, bow to stern
    keep_clear_m: float = 80.0  # give-way: a traffic vessel slows down to keep this gap to anyone ahead
    # AIS replay ("ais"): up to ``count`` vessels of an AIS recording follow their recorded tracks
    source: str = "scripted"  # "scripted" or "ais"
    ais_file: str = "duisburg_synth_2h"  # a shipped recording (testbed/data/ais/<name>.nmea[.gz]) or a path
    ais_start_s: float = math.nan  # replay start, seconds after the recording's first report; NaN: random
    ais_speedup: float = 1.0  # replay time runs this many times faster than simulation time
    reactive: bool = True  # hand a replayed vessel over to the scripted model when it would hit the ego
    handover_cpa_m: float = 150.0  # closest approach to the ego beyond the two half lengths
    handover_tcpa_s: float = 300.0  # long enough for a handed-over vessel to stop (0.015 m/s^2)
    # scripted: the first len(placed_lanes) vessels start at fixed places (encounter scenarios), each on
    # its lane at river-km placed_km[j] (lanes with km) or else placed_along_m[j] metres from the lane start
    placed_lanes: list[str] = field(default_factory=list)
    placed_km: list[float] = field(default_factory=list)
    placed_along_m: list[float] = field(default_factory=list)
    placed_speed_ms: list[float] = field(default_factory=list)  # through the water
    placed_types: list[str] = field(default_factory=list)  # catalogue ids (each in vessel_types); [] = the first


@dataclass(frozen=True)
class ObservationConfig:
    """What the ego perceives (the flat Box layout is documented in :mod:`testbed.env`)."""

    kind: str = "flat"  # "flat" (Box) or "dict" (Dict of Boxes)
    n_rays: int = 32
    ray_fov_deg: float = 360.0
    ray_range_m: float = 1000.0
    n_targets: int = 8
    target_range_m: float = 2000.0
    targets: str = "truth"  # "truth" (every step) or "ais" (last AIS report received, with its age)
    ais_position_noise_m: float = 0.0  # std of the Gaussian noise on reported positions ("ais")


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the named reward components (each component is reported in ``info``)."""

    progress: float = 1.0  # per 100 m of progress along the route
    cross_track: float = -0.02  # per step, times |cross-track| / lane half width (capped at 3)
    heading: float = -0.02  # per step, times |heading error to the route| / pi
    collision: float = -100.0  # once, terminal
    grounding: float = -100.0  # once, terminal
    near_miss: float = -0.5  # per step while a target's CPA < near_miss_cpa_m within near_miss_tcpa_s
    speed_limit: float = -0.1  # per step, times the excess over the harbour speed limit in m/s
    energy: float = -0.005  # per step, times (revs / max revs)^3
    smoothness: float = -0.01  # per step, times the squared change of the action
    goal: float = 100.0  # once, on reaching the goal
    near_miss_cpa_m: float = 50.0
    near_miss_tcpa_s: float = 120.0
    harbour_speed_limit_ms: float = 2.5  # inside harbour water (basins, canals); 9 km/h
    rules: float = 0.0  # per traffic-rule violation of the ego (every article; testbed.rules)
    # per article id, e.g. {"9.07": -5.0}; on the command line {9.07: -5.0, 6.20: -1} (numbers are read
    # with two decimals, so 6.20 and 6.2 are the same article)
    rules_articles: dict[Any, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LinkConfig:
    """The 5G link between ship and shore (see :mod:`testbed.link.env_link`)."""

    profile: str = "ideal"  # conf/link/<profile>.yaml: ideal, 5g_sa, 5g_nsa, lte, degraded, with_outages
    mode: str = "onboard"  # "onboard" (autonomy: data path only) or "remote" (commands over the link)
    data_path: bool = True  # the shore-side traffic picture (AIS relayed from shore) goes over the link
    command_timeout_s: float = 3.0  # remote: fail-safe after this long without a command
    failsafe: str = "slow_ahead"  # "slow_ahead", "stop" or "hold"
    radio_seed: int = 0  # shadow fading / LOS fields of the radio map (a property of the world)
    radio_resolution_m: float = 20.0


@dataclass(frozen=True)
class RulesConfig:
    """The inland traffic rules checker (RheinSchPV; :mod:`testbed.rules`)."""

    enabled: bool = True  # check the rules every step (violations in info, episode JSON, reward "rules")
    water_level_m: float = math.nan  # reading of the high-water gauge (Duisburg-Ruhrort); NaN: below mark I
    blue_board: bool = False  # the ego shows the blue board (asks for starboard-to-starboard meeting)
    harbour_mouth_speed_kmh: float = 11.0  # § 6.20: through the water, in front of harbour mouths, at berths
    high_water_speed_kmh: float = 20.0  # § 10.01: over ground between high-water marks I and II
    lying_still_s: float = 300.0  # § 7.02: stopped this long under a bridge, at an entrance, on a turning area
    overtake_gap_m: float = 10.0  # § 6.09: fewer metres between the hulls while alongside is unsafe
    passing_range_m: float = 150.0  # vessels passing abeam closer than this meet or overtake (§ 6.04-6.10)
    harbour_cpa_m: float = 50.0  # § 6.16: closest approach (beyond the half lengths) that forces others ...
    harbour_tcpa_s: float = 90.0  # ... within this time
    small_craft_m: float = 20.0  # § 1.01: hulls shorter than this are small craft
    small_craft_cpa_m: float = 30.0  # § 6.02: closest approach (beyond the half lengths) ...
    small_craft_tcpa_s: float = 60.0  # ... within this time
    # rule-zone kinds the scenario needs on its map (harbour_maps/FORMAT.md "Rule zones"); a missing kind
    # is an error naming it, e.g. [harbour_entry, turning_area] for a Ruhrort entry
    require_zones: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ScenarioConfig:
    """One scenario. ``dt`` is the fixed control step [s]; ``time_limit_s`` truncates the episode."""

    name: str = "scenario"
    map: str = "synthetic_channel"
    discharge_m3s: float = math.nan  # NaN: the map's default discharge
    dt: float = 1.0
    time_limit_s: float = 1800.0
    ego: EgoConfig = field(default_factory=EgoConfig)
    start: StartConfig = field(default_factory=StartConfig)
    goal: GoalConfig = field(default_factory=GoalConfig)
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    observation: ObservationConfig = field(default_factory=ObservationConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)

    def validate(self) -> ScenarioConfig:
        def bad(key: str, value: Any, problem: str) -> ConfigError:
            return ConfigError(f"scenario {self.name!r}: {key} = {value!r}: {problem}")

        if not (self.dt > 0 and math.isfinite(self.dt)):
            raise bad("dt", self.dt, "must be a finite number > 0")
        if not self.time_limit_s > self.dt:
            raise bad("time_limit_s", self.time_limit_s, "must exceed dt")
        if self.ego.model not in ("mmg", "nomoto"):
            raise bad("ego.model", self.ego.model, "must be 'mmg' or 'nomoto'")
        if not 0 < self.ego.max_revs_fraction <= 1:
            raise bad("ego.max_revs_fraction", self.ego.max_revs_fraction, "must lie in (0, 1]")
        if not self.start.lanes:
            raise bad("start.lanes", self.start.lanes, "needs at least one lane id")
        for key, rng in (("start.speed_ms", self.start.speed_ms), ("start.along_m", self.start.along_m),
                         ("traffic.speed_ms", self.traffic.speed_ms)):  # fmt: skip
            if len(rng) != 2 or rng[0] > rng[1]:
                raise bad(key, rng, "must be [lo, hi] with lo <= hi")
        km = self.start.km
        if km and (len(km) not in (2, 2 * len(self.start.lanes)) or any(a > b for a, b in zip(km[::2], km[1::2], strict=False))):
            raise bad("start.km", km, "must be [], [lo, hi] or one [lo, hi] pair per start lane, lo <= hi")
        if not self.goal.berths and not self.goal.lane:
            raise bad("goal", "", "set goal.berths or goal.lane")
        if self.goal.lane and math.isnan(self.goal.km) and math.isnan(self.goal.along_m):
            raise bad("goal.km", self.goal.km, "a lane goal needs goal.km or goal.along_m")
        if self.traffic.count < 0:
            raise bad("traffic.count", self.traffic.count, "must be >= 0")
        if self.traffic.source not in ("scripted", "ais"):
            raise bad("traffic.source", self.traffic.source, "must be 'scripted' or 'ais'")
        if not self.traffic.ais_speedup > 0:
            raise bad("traffic.ais_speedup", self.traffic.ais_speedup, "must be > 0")
        if self.traffic.count and not self.traffic.vessel_types:
            raise bad("traffic.vessel_types", self.traffic.vessel_types, "needs at least one type")
        tc = self.traffic
        if tc.placed_lanes:
            n = len(tc.placed_lanes)
            if n > tc.count:
                raise bad("traffic.placed_lanes", tc.placed_lanes, f"places {n} vessels but traffic.count is {tc.count}")
            where = tc.placed_km or tc.placed_along_m
            for key, val in (("traffic.placed_km or traffic.placed_along_m", where),
                             ("traffic.placed_speed_ms", tc.placed_speed_ms)):
                if len(val) != n:
                    raise bad(key, val, f"needs one value per placed lane ({n})")
            if tc.placed_types and len(tc.placed_types) != n:
                raise bad("traffic.placed_types", tc.placed_types, f"needs one type per placed lane ({n}) or none")
            missing = [t for t in tc.placed_types if t not in tc.vessel_types]
            if missing:
                raise bad("traffic.placed_types", tc.placed_types, f"{missing} not in traffic.vessel_types")
        if self.link.mode not in ("onboard", "remote"):
            raise bad("link.mode", self.link.mode, "must be 'onboard' or 'remote'")
        if self.link.failsafe not in ("slow_ahead", "stop", "hold"):
            raise bad("link.failsafe", self.link.failsafe, "must be 'slow_ahead', 'stop' or 'hold'")
        if not self.link.command_timeout_s > 0:
            raise bad("link.command_timeout_s", self.link.command_timeout_s, "must be > 0")
        if self.observation.targets not in ("truth", "ais"):
            raise bad("observation.targets", self.observation.targets, "must be 'truth' or 'ais'")
        if not self.observation.ais_position_noise_m >= 0:
            raise bad("observation.ais_position_noise_m", self.observation.ais_position_noise_m, "must be >= 0")
        if self.observation.kind not in ("flat", "dict"):
            raise bad("observation.kind", self.observation.kind, "must be 'flat' or 'dict'")
        if self.observation.n_rays < 1 or self.observation.n_targets < 0:
            raise bad("observation.n_rays/n_targets", (self.observation.n_rays, self.observation.n_targets),
                      "need n_rays >= 1 and n_targets >= 0")  # fmt: skip
        if not 0 < self.observation.ray_fov_deg <= 360:
            raise bad("observation.ray_fov_deg", self.observation.ray_fov_deg, "must lie in (0, 360]")
        if self.goal.position_tol_m <= 0:
            raise bad("goal.position_tol_m", self.goal.position_tol_m, "must be > 0")
        if self.reward.rules_articles:
            from testbed.rules.articles import ARTICLE_IDS, article_key

            unknown = [a for a in self.reward.rules_articles if article_key(a) not in ARTICLE_IDS]
            if unknown:
                raise bad("reward.rules_articles", dict(self.reward.rules_articles),
                          f"unknown article id(s) {unknown}; known: {', '.join(ARTICLE_IDS)}")
        rl = self.rules
        for key in ("harbour_mouth_speed_kmh", "high_water_speed_kmh", "lying_still_s", "small_craft_m",
                    "harbour_tcpa_s", "small_craft_tcpa_s"):
            if not getattr(rl, key) > 0:
                raise bad(f"rules.{key}", getattr(rl, key), "must be > 0")
        self._validate_names(bad)
        return self

    def _validate_names(self, bad) -> None:
        """Names that refer to catalogues (vessel types, link profiles): an unknown one names its key,
        the nearest valid name and the valid ones."""
        from vessels.catalogue import VesselTypeError, list_types
        from vessels.catalogue import get as get_type

        for key, tid in [("ego.vessel_type", self.ego.vessel_type)] + [
            (f"traffic.vessel_types[{i}]", t) for i, t in enumerate(self.traffic.vessel_types)
        ]:
            try:
                get_type(tid)
            except VesselTypeError:
                raise bad(key, tid, f"unknown vessel type{did_you_mean(tid, list_types())}; "
                                    f"known: {', '.join(list_types())}") from None
        prof = self.link.profile
        if not (prof.endswith((".yaml", ".yml")) or "/" in prof):
            from testbed.link.profiles import list_profiles

            names = list_profiles()
            if prof not in names:
                raise bad("link.profile", prof, f"unknown link profile{did_you_mean(prof, names)}; "
                                                f"known: {', '.join(names)}")


def _writable(node):
    from omegaconf import DictConfig

    node._set_flag("readonly", None)
    if isinstance(node, DictConfig):
        for key in node.keys():
            _writable(node._get_node(key))
    return node


def schema(cfg: ScenarioConfig):
    """A writable, typed OmegaConf node for ``cfg`` (unknown keys and wrong types are rejected)."""
    from omegaconf import OmegaConf

    node = _writable(OmegaConf.structured(cfg))
    # a free-keyed dict: Hydra's struct mode must let an override add article ids to it
    node.reward._get_node("rules_articles")._set_flag("struct", False)
    return node


def did_you_mean(name: str, choices, n: int = 1) -> str:
    """`` (did you mean 'x'?)`` for the nearest of ``choices`` (difflib, like ``gymnasium.make``), or ``""``."""
    import difflib

    choices = list(choices)
    best = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    if not best:  # case-insensitive second chance: 'portentry-v0' -> 'PortEntry-v0'
        low = {c.lower(): c for c in choices}
        best = [low[m] for m in difflib.get_close_matches(name.lower(), list(low), n=n, cutoff=0.5)]
    return f" (did you mean {' or '.join(repr(b) for b in best)}?)" if best else ""


@functools.lru_cache(maxsize=8)
def config_keys(cls: type = ScenarioConfig, prefix: str = "") -> dict[str, Any]:
    """Every dotted key of the scenario schema (groups and leaves) -> its type (a dataclass for groups).
    Cached: do not modify the returned dict."""
    import typing

    out: dict[str, Any] = {}
    for name, tp in typing.get_type_hints(cls).items():
        key = prefix + name
        out[key] = tp
        if dataclasses.is_dataclass(tp):
            out.update(config_keys(tp, key + "."))
    return out


def describe_type(tp: Any) -> str:
    """A user's name for a schema type: 'an integer', 'a list of numbers, e.g. [1.0, 2.5]', ..."""
    import typing

    if dataclasses.is_dataclass(tp):
        return f"a group of keys ({', '.join(f.name for f in dataclasses.fields(tp))}), not a single value"
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp) or (Any,)
        return {float: "a list of numbers, e.g. [1.0, 2.5]", int: "a list of integers, e.g. [1, 2]",
                str: "a list of names, e.g. [a, b]"}.get(item, "a list")  # fmt: skip
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def unknown_key_error(where: str, key: str, shown: str | None = None) -> ConfigError:
    """``scenario 'X': unknown key 'trafic.count' (did you mean 'traffic.count'?)``."""
    keys = config_keys()
    hint = did_you_mean(key, keys)
    if not hint and "." in key:  # a good group with a bad leaf: suggest among the group's leaves
        group = key.rsplit(".", 1)[0]
        if group in keys:
            leaves = [k for k in keys if k.startswith(group + ".")]
            hint = f" ({group} has: {', '.join(k.rsplit('.', 1)[1] for k in leaves)})"
    return ConfigError(f"{where}: unknown key {key!r}{f' in {shown!r}' if shown else ''}{hint}")


def check_value(where: str, key: str, value: Any, shown: str | None = None) -> None:
    """Raise a ConfigError naming ``key``, the value and the expected type unless ``value`` fits ``key``'s
    type (checked by OmegaConf on the default schema, the same check the merge makes)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    keys = config_keys()
    if key not in keys:
        raise unknown_key_error(where, key, shown)
    node = schema(ScenarioConfig())
    try:
        OmegaConf.update(node, key, value, merge=True)
        OmegaConf.to_object(node)
    except OmegaConfBaseException:
        raise ConfigError(f"{where}: {key} = {value!r}: expected {describe_type(keys[key])}") from None


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, Any]]:
    keys = config_keys()
    out = []
    for k, v in d.items():
        tp = keys.get(prefix + str(k))
        if isinstance(v, dict) and v and (tp is None or dataclasses.is_dataclass(tp)):  # a group, or a typo
            out.extend(_flatten(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", v))
    return out


def apply_overrides(
    cfg: ScenarioConfig, overrides: dict[str, Any] | None = None, dotlist: list[str] | None = None
) -> ScenarioConfig:
    """Merge keyword overrides (nested dicts) and a Hydra-style dotlist into ``cfg``, strictly.

    An unknown key names the nearest valid key; a value of the wrong type names the key, the value and
    the expected type (:class:`ConfigError`)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not overrides and not dotlist:
        return cfg.validate()
    where = f"scenario {cfg.name!r}"
    for key, value in _flatten(dict(overrides or {})):
        check_value(where, key, value)
    dl = OmegaConf.from_dotlist(list(dotlist)) if dotlist else None
    if dl is not None:
        for key, value in _flatten(OmegaConf.to_container(dl)):
            check_value(where, key, value, shown=next((d for d in dotlist if d.split("=", 1)[0] == key), None))
    node = schema(cfg)
    try:
        if overrides:
            node = OmegaConf.merge(node, overrides)
        if dl is not None:
            node = OmegaConf.merge(node, dl)
        out = OmegaConf.to_object(node)
    except OmegaConfBaseException as exc:
        first = str(exc).splitlines()[0]
        key = getattr(exc, "full_key", None)
        raise ConfigError(f"{where}: bad override{f' {key!r}' if key else ''}: {first}") from None
    return _retuple(out).validate()


def _retuple(obj):
    """OmegaConf turns list defaults into ListConfig-backed lists: make them plain lists again."""
    if dataclasses.is_dataclass(obj):
        changes = {f.name: _retuple(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return dataclasses.replace(obj, **changes)
    if isinstance(obj, list | tuple):
        return [_retuple(v) for v in obj]
    return obj
