"""The event configuration: a frozen dataclass schema read from ``conf/event/NAME.yaml``.

An event has phases (each evaluates uploads on one suite), per-team limits, evaluation workers and a
data folder with the server's SQLite store. Unknown keys and wrong types are errors that name the file
and the key (:class:`EventConfigError`). Relative paths are resolved against the config file's folder.

    name: duisburg-2026
    data_dir: ../../events/duisburg-2026     # store, uploads, results, replays, logs
    phases:
      - name: dev
        suite: dev
        uploads: open                        # open | closed
        visibility: public                   # public | hidden (admin only until revealed)
        quota: 50                            # uploads per team in this phase
    limits: {upload_max_mb: 20, uploads_per_window: 5, window_s: 60}
    workers: {count: 2, backend: local}
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path


class EventConfigError(ValueError):
    """A malformed event config: names the file and the key."""


@dataclass(frozen=True)
class PhaseConfig:
    """One phase of the event: uploads are evaluated on ``suite``."""

    name: str
    suite: str = "dev"  # an evaluation suite (dev, test, final)
    uploads: str = "open"  # "open": teams may upload; "closed": no uploads
    visibility: str = "public"  # "public": leaderboard for everyone; "hidden": admin only until revealed
    reveal_at: str = ""  # ISO 8601 UTC time at which a hidden phase becomes public ("" = by the admin)
    quota: int = 20  # uploads charged per team in this phase (cancelled and infrastructure failures are free)
    max_episodes: int = 0  # evaluate at most this many episodes per submission (0 = the whole suite)
    cases: tuple[str, ...] = ()  # only these cases (ids or tags) of the suite (empty = all)
    seeds_per_case: int = 0  # only the first N seeds of each case (0 = all)
    time_limit_s: float = 0.0  # cap every case's episode time limit [simulated s] (0 = the suite's own)


@dataclass(frozen=True)
class LimitsConfig:
    upload_max_mb: float = 20.0  # size of an uploaded zip
    unpacked_max_mb: float = 200.0  # total size once unpacked (zip bomb guard)
    max_ratio: float = 200.0  # unpacked/compressed size ratio (zip bomb guard)
    max_files: int = 500
    uploads_per_window: int = 5  # uploads per team per window (429 beyond)
    window_s: float = 60.0
    log_max_kb: int = 64  # logs shown to a team are capped to this many kB


@dataclass(frozen=True)
class WorkersConfig:
    count: int = 2  # evaluation worker processes
    backend: str = "local"  # "local" or "ray" (the evaluator's Ray backend)
    ray_address: str = ""  # a Ray cluster ("" = local Ray when backend is "ray")
    fallback_local: bool = True  # if Ray is unreachable, evaluate with local workers (else refuse to start)
    episode_workers: int = 1  # evaluator --workers per submission
    lease_s: float = 60.0  # a job whose worker sent no heartbeat for this long is taken over by another
    heartbeat_s: float = 2.0
    max_attempts: int = 3  # infrastructure failures retried this often before the job is marked failed
    submission_timeout_s: float = 3600.0  # hard limit on one submission's evaluation
    sandbox: bool = True  # False passes --no-sandbox to the evaluator (trusted code only)
    thumbnails: bool = True  # render a GIF per episode after the evaluation


@dataclass(frozen=True)
class StoreConfig:
    busy_timeout_ms: int = 2000  # how long a write waits for a locked database before it is refused


@dataclass(frozen=True)
class EventConfig:
    name: str
    phases: tuple[PhaseConfig, ...]
    data_dir: str = "."  # relative to the config file's folder
    title: str = ""
    refresh_s: float = 3.0  # leaderboard page polling interval
    baselines: tuple[str, ...] = ("autopilot", "do-nothing")  # reference rows, evaluated by the server
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    source: str = ""  # the file this was read from (set by load_event)

    @property
    def root(self) -> Path:
        base = Path(self.source).parent if self.source else Path.cwd()
        return (base / self.data_dir).resolve()

    @property
    def db_path(self) -> Path:
        return self.root / "event.sqlite"

    @property
    def results_path(self) -> Path:
        return self.root / "results.sqlite"

    def phase(self, name: str) -> PhaseConfig:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def display_title(self) -> str:
        return self.title or self.name


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _coerce(tp, value, where: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin is tuple:
        (inner, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise EventConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise EventConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EventConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise EventConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise EventConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise EventConfigError(f"{where}: unsupported type {tp}")  # pragma: no cover


def _build(cls, data, where: str):
    if not isinstance(data, dict):
        raise EventConfigError(f"{where or 'the file'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    for key in data:
        if key not in fields:
            full = f"{where}.{key}" if where else str(key)
            raise EventConfigError(f"unknown key {full!r} (known here: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], f"{where}.{name}" if where else name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            full = f"{where}.{name}" if where else name
            raise EventConfigError(f"missing key {full!r}")
    return cls(**kwargs)


def validate(cfg: EventConfig, where: str) -> None:
    def bad(key, msg):
        raise EventConfigError(f"{where}: {key}: {msg}")

    if not _NAME.match(cfg.name):
        bad("name", f"{cfg.name!r} must be letters, digits, '_', '-', '.' (at most 64)")
    if not cfg.phases:
        bad("phases", "at least one phase is needed")
    seen = set()
    for i, p in enumerate(cfg.phases):
        k = f"phases[{i}]"
        if not _NAME.match(p.name):
            bad(f"{k}.name", f"{p.name!r} must be letters, digits, '_', '-', '.'")
        if p.name in seen:
            bad(f"{k}.name", f"duplicate phase {p.name!r}")
        seen.add(p.name)
        if p.uploads not in ("open", "closed"):
            bad(f"{k}.uploads", f"{p.uploads!r} must be 'open' or 'closed'")
        if p.visibility not in ("public", "hidden"):
            bad(f"{k}.visibility", f"{p.visibility!r} must be 'public' or 'hidden'")
        if p.quota < 0 or p.max_episodes < 0 or p.time_limit_s < 0 or p.seeds_per_case < 0:
            bad(f"{k}.quota", "quota and max_episodes must be >= 0")
        if p.reveal_at:
            from datetime import datetime

            try:
                datetime.fromisoformat(p.reveal_at)
            except ValueError:
                bad(f"{k}.reveal_at", f"{p.reveal_at!r} is not an ISO 8601 time")
    L = cfg.limits
    for key in ("upload_max_mb", "unpacked_max_mb", "max_ratio", "window_s"):
        if getattr(L, key) <= 0:
            bad(f"limits.{key}", "must be > 0")
    if L.uploads_per_window < 1 or L.max_files < 1 or L.log_max_kb < 1:
        bad("limits", "uploads_per_window, max_files and log_max_kb must be >= 1")
    W = cfg.workers
    if W.backend not in ("local", "ray"):
        bad("workers.backend", f"{W.backend!r} must be 'local' or 'ray'")
    if W.count < 0 or W.episode_workers < 1 or W.max_attempts < 1:
        bad("workers", "count >= 0, episode_workers >= 1 and max_attempts >= 1")
    if W.lease_s <= W.heartbeat_s or W.heartbeat_s <= 0:
        bad("workers.lease_s", "must be longer than workers.heartbeat_s (> 0)")
    for b in cfg.baselines:
        if b not in ("autopilot", "do-nothing", "random"):
            bad("baselines", f"{b!r} is not one of autopilot, do-nothing, random")
    if cfg.refresh_s <= 0:
        bad("refresh_s", "must be > 0")


def load_event(path) -> EventConfig:
    """Read and validate an event config; errors name the file and the key."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise EventConfigError(f"{path}: no such event config (create one with: testbed event init NAME)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EventConfigError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    if data is None:
        data = {}
    try:
        cfg = _build(EventConfig, data, "")
    except EventConfigError as exc:
        raise EventConfigError(f"{path}: {exc}") from None
    cfg = dataclasses.replace(cfg, source=str(path.resolve()))
    validate(cfg, str(path))
    return cfg


def starter_yaml(name: str) -> str:
    """The starter config ``testbed event init NAME`` writes (every key, with comments)."""
    if not _NAME.match(name):
        raise EventConfigError(f"event name {name!r}: use letters, digits, '_', '-', '.' (at most 64)")
    return f"""\
# Event config for `testbed serve --event conf/event/{name}.yaml` (keys: testbed/server/config.py).
# Relative paths are resolved against this file's folder.
name: {name}
title: "{name}"
data_dir: ../../events/{name}     # event.sqlite (teams, submissions, jobs), results, uploads, replays, logs
refresh_s: 3.0                    # leaderboard polling interval of the pages [s]
baselines: [autopilot, do-nothing]  # reference rows on the leaderboard, evaluated by the server
phases:
  - name: dev                     # open all weekend, scores public
    suite: dev
    uploads: open                 # open | closed
    visibility: public            # public | hidden (admin only until revealed)
    reveal_at: ""                 # ISO time at which a hidden phase opens; "" = the admin reveals it
    quota: 50                     # uploads per team in this phase
    max_episodes: 0               # 0 = the whole suite
    cases: []                     # only these case ids or tags ([] = every case of the suite)
    seeds_per_case: 0             # only the first N seeds of each case (0 = all)
    time_limit_s: 0               # cap the episodes' time limit [simulated s] (0 = the suite's own)
  - name: final                   # hidden seeds; ranked by the jury, revealed at the end
    suite: final
    uploads: closed
    visibility: hidden
    reveal_at: ""
    quota: 3
    max_episodes: 0
    cases: []
    seeds_per_case: 0
    time_limit_s: 0
limits:
  upload_max_mb: 20
  unpacked_max_mb: 200
  max_ratio: 200                  # zip bomb guard: unpacked / compressed
  max_files: 500
  uploads_per_window: 5           # rate limit per team
  window_s: 60
  log_max_kb: 64
workers:
  count: 2                        # local evaluation worker processes
  backend: local                  # local | ray (or: testbed serve --ray-address ...)
  ray_address: ""
  fallback_local: true            # Ray unreachable -> keep working with local workers
  episode_workers: 1
  lease_s: 60
  heartbeat_s: 2
  max_attempts: 3
  submission_timeout_s: 3600
  sandbox: true
  thumbnails: true
store:
  busy_timeout_ms: 2000
"""
