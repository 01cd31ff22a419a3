"""Re-simulate a replay from its header and recorded actions and check every recorded column bit for bit.

:func:`verify` builds the scenario from the header's resolved config, a one-env
:class:`~testbed.world.World`, reseeds it exactly as the recorded episode was seeded (base seed and
episode index), feeds the recorded actions (as sent) step by step and records the re-simulation with
the same recorder. Every column of the file is then compared with the re-simulated one as raw bits
(NaN payloads and signed zeros included); events, the outcome and the number of steps are compared
too. A different simulator version or map file (sha256) is reported plainly; the check still runs with
what is installed, so it shows whether the difference matters.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from testbed.replay.format import ReplayError, ReplayReader


@dataclasses.dataclass
class Mismatch:
    column: str
    step: int
    index: tuple  # position within the frame's value (e.g. the traffic slot), () for scalars
    recorded: object
    simulated: object

    def __str__(self) -> str:
        where = f"[{', '.join(map(str, self.index))}]" if self.index else ""
        return f"step {self.step}: {self.column}{where} recorded {self.recorded!r}, re-simulated {self.simulated!r}"


@dataclasses.dataclass
class VerifyResult:
    path: str
    identical: bool
    n_frames: int
    columns_checked: int
    first_step: int | None = None  # first frame where anything differs
    mismatches: list[Mismatch] = dataclasses.field(default_factory=list)  # at first_step, one per column
    notes: list[str] = dataclasses.field(default_factory=list)  # version / map differences, outcome, events

    def summary(self) -> str:
        lines = [f"{self.path}: " + (
            f"bit-identical: {self.n_frames} frames x {self.columns_checked} columns re-simulated exactly"
            if self.identical else f"MISMATCH: first difference at step {self.first_step}")]  # fmt: skip
        lines += [f"  {m}" for m in self.mismatches[:12]]
        if len(self.mismatches) > 12:
            lines.append(f"  ... and {len(self.mismatches) - 12} more columns differ at that step")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def config_from_header(header: dict, path) -> object:
    from testbed.config import ConfigError, ScenarioConfig, apply_overrides

    cfg = header.get("config")
    if not isinstance(cfg, dict):
        raise ReplayError(f"{path}: header has no config")
    try:
        return apply_overrides(ScenarioConfig(), overrides=cfg)
    except ConfigError as exc:
        raise ReplayError(f"{path}: the recorded config does not fit this simulator: {exc}") from None


def _first_diff(a: np.ndarray, b: np.ndarray) -> int | None:
    """First frame where a and b differ bitwise (None: identical)."""
    if a.dtype.kind == "f":
        a = a.view(f"u{a.dtype.itemsize}")
        b = b.view(f"u{b.dtype.itemsize}")
    ne = a != b
    if ne.ndim > 1:
        ne = ne.reshape(ne.shape[0], -1).any(axis=1)
    idx = np.flatnonzero(ne)
    return int(idx[0]) if idx.size else None


def _value(a):
    return a.item() if isinstance(a, np.generic) else a


def resimulate(header: dict, actions: np.ndarray, path="replay") -> tuple[dict, dict, list, int | None]:
    """Re-simulate an episode: (header, columns, events, step at which the world ended early or None)."""
    from testbed.replay.recorder import WorldRecorder
    from testbed.world import World

    cfg = config_from_header(header, path)
    try:
        seed, episode = int(header["seed"]), int(header["episode"])
    except (KeyError, TypeError, ValueError):
        raise ReplayError(f"{path}: header lacks seed/episode") from None
    world = World(cfg, 1)
    world._base_seed[0] = seed
    world._episode[0] = episode
    world.reset_env(0)
    got: dict = {}
    rec = WorldRecorder(world, lambda e, h, c, ev: got.update(h=h, c=c, ev=ev), agent=header.get("agent"),
                        capacity=len(actions) + 1)  # fmt: skip
    rec.begin(0)
    rec.capture(np.nan)
    act = np.zeros((1, 2))
    ended = None
    n = len(actions)
    for i in range(1, n):
        act[0] = actions[i]
        _, term, trunc, _ = world.step(act)
        rec.capture(act)
        if (term[0] or trunc[0]) and i < n - 1:
            ended = i
            break
    done = bool(world.done[0]) or world.outcome(0) is not None
    rec.end(0, world.outcome(0) if done else "unfinished")
    return got["h"], got["c"], got["ev"], ended


def verify(path: str | Path) -> VerifyResult:
    """Re-simulate the replay at ``path`` and compare (see the module docstring). Raises
    :class:`ReplayError` for a file that cannot be read or a header that does not fit this simulator."""
    import testbed

    with ReplayReader(path) as r:
        h = r.header
        recorded = r.read_all()
        events = r.events
    notes = []
    if h.get("simulator_version") != testbed.__version__:
        notes.append(f"recorded with simulator version {h.get('simulator_version')}, installed "
                     f"{testbed.__version__}")  # fmt: skip
    from testbed.world import map_bundle

    mh = h.get("map") or {}
    try:
        installed = map_bundle(mh.get("name", h.get("config", {}).get("map", "")))[0]
    except (ValueError, KeyError, FileNotFoundError) as exc:
        raise ReplayError(f"{path}: map {mh.get('name')!r} is not installed: {exc}") from None
    if mh.get("sha256") != installed.sha256:
        notes.append(f"map {installed.name}: recorded sha256 {str(mh.get('sha256'))[:12]}..., installed "
                     f"{installed.sha256[:12]}...; re-simulated on the installed map")  # fmt: skip
    sh, sim, sev, ended = resimulate(h, recorded["action"], path)
    res = VerifyResult(str(path), True, len(recorded["t"]), len(recorded), notes=notes)
    first = None
    per_col = {}
    for name, a in recorded.items():
        b = sim.get(name)
        if b is None:
            notes.append(f"column {name} is not produced by this simulator")
            res.identical = False
            continue
        if a.dtype != b.dtype or a.shape[1:] != b.shape[1:]:
            notes.append(f"column {name}: recorded {a.dtype} {a.shape}, re-simulated {b.dtype} {b.shape}")
            res.identical = False
            continue
        m = min(len(a), len(b))
        d = _first_diff(a[:m], b[:m])
        if d is None and len(a) != len(b):
            d = m
        if d is not None:
            per_col[name] = d
            first = d if first is None else min(first, d)
    if ended is not None:
        notes.append(f"the re-simulation ended at step {ended} ({sh['outcome']}); the recording has "
                     f"{len(recorded['t']) - 1} steps")  # fmt: skip
    if first is not None:
        res.identical = False
        res.first_step = first
        for name, d in per_col.items():
            if d != first:
                continue
            a, b = recorded[name], sim[name]
            if first >= len(a) or first >= len(b):
                res.mismatches.append(Mismatch(name, first, (), "end" if first >= len(a) else a[first].tolist(),
                                               "end" if first >= len(b) else b[first].tolist()))  # fmt: skip
                continue
            ra, rb = a[first], b[first]
            if ra.ndim:
                fa = ra.view(f"u{ra.dtype.itemsize}") if ra.dtype.kind == "f" else ra
                fb = rb.view(f"u{rb.dtype.itemsize}") if rb.dtype.kind == "f" else rb
                k = tuple(int(x) for x in np.argwhere(fa != fb)[0])
                res.mismatches.append(Mismatch(name, first, k, _value(ra[k]), _value(rb[k])))
            else:
                res.mismatches.append(Mismatch(name, first, (), _value(ra), _value(rb)))
    if h.get("outcome") != sh["outcome"]:
        res.identical = False
        notes.append(f"outcome: recorded {h.get('outcome')!r}, re-simulated {sh['outcome']!r}")
    if events != sev and first is None:
        res.identical = False
        notes.append(f"events differ: recorded {len(events)}, re-simulated {len(sev)}")
    for key in ("seed", "episode", "scenario", "dt"):
        if h.get(key) != sh.get(key):
            notes.append(f"header {key}: recorded {h.get(key)!r}, re-simulation {sh.get(key)!r}")
    if res.identical is False and first is None and not res.mismatches and not notes:
        notes.append("differs")
    return res
