"""Tagged, versioned benchmark suites (in the spirit of dm_control's ``SUITE.add``).

A :class:`Suite` lists :class:`Case` s: a registered scenario, keyword overrides (short time limits,
goals moved closer, traffic, link, discharge) and the seeds. Three suites share the same cases:

=========  ======================================================================================
``dev``    public seeds 0-1 per case, for teams to iterate
``test``   public seeds 100-103 per case, for papers
``final``  hidden seeds: ``seed_i = int(HMAC-SHA256(secret, f"{suite}/{version}/{case}/{i}")[:8]) % 2**31``;
           the organiser's secret comes from ``$TESTBED_FINAL_SECRET`` or the file named by
           ``$TESTBED_FINAL_SECRET_FILE``; without it ``get_suite("final")`` refuses
=========  ======================================================================================

Cases (one tag each; ``testbed evaluate --suite dev --case TAG`` picks a tag):

- ``port_entry`` — PortEntry-v0 with 6 AIS-replayed vessels, downstream starts near the mouth, the route
  looping to face upstream before the Hafenmund (``goal.turn_before_entry``, RheinSchPV § 9.07 Nr. 5);
- ``rhine_transit`` — RhineTransit-v0, km 783 -> 780.5 upstream with 8 AIS vessels;
- ``berthing`` — Berthing-v0 (basin B);
- ``encounter`` — ``crossing`` (Crossing-v0), ``head_on`` (Channel-v0, traffic on the opposite lane)
  and ``overtaking`` (Channel-v0, slow traffic ahead on the ego's lane);
- ``link`` — ``degraded_link`` (RhineTransit, ``link.profile=degraded``, onboard) and
  ``remote_coverage_hole`` (RhineTransit in remote operation, ``with_outages``: a coverage hole at
  km 782 during minutes 5-10, fail-safe ``slow_ahead``);
- ``high_discharge`` — RhineTransit at 6000 m3/s (about 2.7 times the mean discharge).

Every case's resolved :class:`~testbed.config.ScenarioConfig` is hashed
(:func:`config_hash`: SHA-256 of its canonical JSON); every result row stores that hash, the suite
version and the simulator version, so that rows from a changed case never mix with new ones.

``SUITE_VERSION`` changes whenever a case, override or seed list, or the score formula changes. Rows
are stored per suite version, so results of an older version stay readable (``testbed results show
--suite-version 1.1``) and are never mixed with the current ones.

Each suite carries the penalty per rule violation, per article id (:data:`RULE_PENALTY`; the episode
quality's rule factor, :mod:`testbed.evaluation.metrics`): 0.1 for the articles about meeting, overtaking,
crossing at harbour mouths, turning before the Ruhrort entries and giving way; 0.05 for speeding and
lying still.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

SUITE_VERSION = "1.3"  # 1.3: port_entry's route turns to face upstream before the Hafenmund (RheinSchPV § 9.07
# Nr. 5, goal.turn_before_entry), its time limit 4200 s for the loop, and the autopilot baseline keeps steerage in
# the current (turning, giving way) and holds the harbour-mouth speed downstream; 1.2: the rule factor in the episode quality (RULE_PENALTY), the autopilot baseline
# slows at harbour mouths (issue 13); 1.1: port_entry time limit 3600 s for the redrawn port (issue 14); 1.0: 2400 s
RULE_PENALTY: dict[str, float] = {
    "9.04": 0.1, "6.04": 0.1, "6.09": 0.1, "6.07": 0.1, "6.24": 0.1, "6.16": 0.1, "9.07": 0.1,
    "6.20": 0.05, "10.01": 0.05, "7.02": 0.05, "6.02": 0.1,
}  # fmt: skip
SECRET_ENV = "TESTBED_FINAL_SECRET"
SECRET_FILE_ENV = "TESTBED_FINAL_SECRET_FILE"


class SuiteError(ValueError):
    """An unknown suite or case, or a ``final`` suite without the organiser's secret."""


@dataclass(frozen=True)
class Case:
    """One benchmark case: a scenario with overrides, evaluated on ``seeds``."""

    id: str
    scenario: str
    overrides: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    description: str = ""
    seeds: tuple[int, ...] = ()

    def resolve(self):
        """The resolved, validated :class:`~testbed.config.ScenarioConfig` of this case."""
        from testbed.config import apply_overrides
        from testbed.scenarios import get

        return apply_overrides(get(self.scenario), self.overrides or None)

    def config_hash(self) -> str:
        return config_hash(self.resolve())

    def env_kwargs(self) -> dict[str, Any]:
        return dict(self.overrides)


@dataclass(frozen=True)
class Suite:
    name: str
    version: str
    cases: tuple[Case, ...]
    public: bool = True
    rule_penalty: dict[str, float] = field(default_factory=lambda: dict(RULE_PENALTY))  # per article id

    def __post_init__(self):
        from testbed.rules.articles import check_article_ids

        check_article_ids(list(self.rule_penalty), f"suite {self.name!r}: rule_penalty")
        bad = {k: v for k, v in self.rule_penalty.items() if not (isinstance(v, int | float) and 0 <= v <= 1)}
        if bad:
            raise SuiteError(f"suite {self.name!r}: rule_penalty {bad}: each penalty must lie in [0, 1]")

    def case(self, case_id: str) -> Case:
        for c in self.cases:
            if c.id == case_id:
                return c
        raise SuiteError(f"suite {self.name!r}: unknown case {case_id!r}; known: {', '.join(c.id for c in self.cases)}")

    def episodes(self) -> list[tuple[Case, int]]:
        """Every (case, seed) of the suite, in a fixed order (cases as listed, then seeds)."""
        return [(c, s) for c in self.cases for s in c.seeds]

    def select(self, tags: list[str] | None) -> Suite:
        """The sub-suite of cases whose id or one of whose tags is in ``tags`` (all when empty)."""
        if not tags:
            return self
        known = {c.id for c in self.cases} | {t for c in self.cases for t in c.tags}
        bad = [t for t in tags if t not in known]
        if bad:
            raise SuiteError(f"suite {self.name!r}: unknown case or tag {bad[0]!r}; known: {', '.join(sorted(known))}")
        keep = tuple(c for c in self.cases if c.id in tags or set(c.tags) & set(tags))
        return dataclasses.replace(self, cases=keep)


def config_hash(cfg) -> str:
    """SHA-256 (16 hex digits) of the canonical JSON of a (resolved) scenario config."""

    def enc(o):
        if isinstance(o, float) and not math.isfinite(o):
            return repr(o)
        if isinstance(o, dict):
            return {k: enc(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [enc(v) for v in o]
        return o

    data = enc(dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else cfg)
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


# -- the cases --------------------------------------------------------------------------------------
_RHINE_SHORT = {"goal": {"km": 780.5}, "time_limit_s": 1500.0, "traffic": {"count": 8}}
_CASES: tuple[Case, ...] = (
    Case("port_entry", "PortEntry-v0", {"start": {"lanes": ["lane-rhine-down"], "km": [777.8, 779.0]},
                                        "goal": {"turn_before_entry": True}, "time_limit_s": 4200.0},
         ("port_entry", "traffic"),
         "enter the Ruhrort harbour from the Rhine (downstream, turning to face upstream first, § 9.07 Nr. 5) "
         "and berth in basin A-C, 6 AIS vessels"),
    Case("rhine_transit", "RhineTransit-v0", _RHINE_SHORT, ("rhine_transit", "traffic"),
         "upstream transit km 783 -> 780.5 against the current among 8 AIS vessels"),
    Case("berthing", "Berthing-v0", {"time_limit_s": 900.0}, ("berthing",),
         "low-speed approach in basin B to a berth on its quay"),
    Case("crossing", "Crossing-v0", {"time_limit_s": 1000.0}, ("encounter",),
         "a river crossed by a canal with 4 crossing vessels"),
    Case("head_on", "Channel-v0", {"traffic": {"count": 2, "lanes": ["lane_west"]}, "time_limit_s": 700.0},
         ("encounter",), "2 km canal, 2 vessels meeting head-on on the opposite lane"),
    Case("overtaking", "Channel-v0", {"traffic": {"count": 1, "lanes": ["lane_east"], "speed_ms": [1.0, 1.4]},
                                      "time_limit_s": 800.0},
         ("encounter",), "2 km canal, a slow vessel ahead on the ego's lane"),
    Case("degraded_link", "RhineTransit-v0", {**_RHINE_SHORT, "link": {"profile": "degraded"}}, ("link",),
         "the Rhine transit with a degraded 5G data path (late, lost AIS relay)"),
    Case("remote_coverage_hole", "RhineTransit-v0",
         {**_RHINE_SHORT, "link": {"profile": "with_outages", "mode": "remote", "failsafe": "slow_ahead"}},
         ("link", "remote"), "remote operation over 5G through a coverage hole at km 782 (minutes 5-10)"),
    Case("high_discharge", "RhineTransit-v0", {**_RHINE_SHORT, "discharge_m3s": 6000.0}, ("high_discharge",),
         "the Rhine transit at 6000 m3/s (strong current)"),
)

_PUBLIC_SEEDS = {"dev": (0, 1), "test": (100, 101, 102, 103)}
FINAL_SEEDS_PER_CASE = 5


def _with_seeds(seeds_of) -> tuple[Case, ...]:
    return tuple(dataclasses.replace(c, seeds=tuple(seeds_of(c))) for c in _CASES)


def final_seeds(secret: bytes, case_id: str, n: int = FINAL_SEEDS_PER_CASE, version: str = SUITE_VERSION) -> tuple[int, ...]:
    """The hidden seeds of a ``final`` case: HMAC-SHA256(secret, "final/<version>/<case>/<i>")."""
    out = []
    for i in range(n):
        d = hmac.new(secret, f"final/{version}/{case_id}/{i}".encode(), hashlib.sha256).digest()
        out.append(int.from_bytes(d[:8], "little") % 2**31)
    return tuple(out)


def _secret(secret: bytes | str | None) -> bytes:
    if secret is None:
        secret = os.environ.get(SECRET_ENV) or None
        path = os.environ.get(SECRET_FILE_ENV)
        if secret is None and path:
            try:
                with open(path, "rb") as fh:
                    secret = fh.read().strip()
            except OSError as exc:
                raise SuiteError(f"{path}: cannot read the final suite's secret ({SECRET_FILE_ENV}): {exc.strerror}") from None
    if not secret:
        raise SuiteError(f"suite 'final' has hidden seeds: set {SECRET_ENV} or {SECRET_FILE_ENV} (organisers only)")
    return secret.encode() if isinstance(secret, str) else bytes(secret)


SUITE_NAMES = ("dev", "test", "final")


def case_hashes() -> dict[str, str]:
    """{case id: config hash} of the current cases (the same in every suite)."""
    return {c.id: c.config_hash() for c in _CASES}


def get_suite(name: str, secret: bytes | str | None = None) -> Suite:
    """The suite ``name`` (``dev``, ``test`` or ``final``; ``final`` needs the organiser's secret)."""
    if name in _PUBLIC_SEEDS:
        return Suite(name, SUITE_VERSION, _with_seeds(lambda c: _PUBLIC_SEEDS[name]))
    if name == "final":
        key = _secret(secret)
        return Suite(name, SUITE_VERSION, _with_seeds(lambda c: final_seeds(key, c.id)), public=False)
    raise SuiteError(f"unknown suite {name!r}; known: {', '.join(SUITE_NAMES)}")
