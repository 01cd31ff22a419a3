"""Recording episodes of the batched world into replay files.

The per-step cost is one ``np.concatenate`` of preallocated views of the world's arrays into a row of a
preallocated buffer (``(rows, E, W)`` float64, grown by doubling, compacted when old episodes are done):
no Python loop over vessels and no I/O in ``step()``. When an episode ends its rows are split into
typed columns, the derived columns and the events are computed with numpy, and the file is written
atomically (:func:`testbed.replay.format.write_replay`).

Faces:

- :class:`WorldRecorder` — the core, for any :class:`~testbed.world.World` (E envs): ``begin(e)`` after
  ``reset_env(e)``, ``capture(actions)`` after each reset/step, ``end(e)`` when env e's episode ends;
- :class:`EnvRecorder` — a :class:`~testbed.env.DuisburgEnv` (``gymnasium.make(..., record=PATH)``);
- :class:`RecordEpisode` — the same as a Gymnasium wrapper;
- :class:`Recorder` — a :class:`~testbed.vector_env.DuisburgVectorEnv` (a VectorWrapper) or a bare World.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import gymnasium as gym
import numpy as np

from testbed import observation as ob
from testbed.replay.format import ReplayError, write_replay

EGO_MMSI = 211_999_000  # as testbed.ais.world_io
SCRIPTED_MMSI_BASE = 211_999_100

FEATS = (("ego/route_s", ob.F_S, "m", "distance travelled along the planned route"),
         ("ego/cross_track", ob.F_CROSS, "m", "cross-track error to the route (+ starboard)"),
         ("ego/dist_goal", ob.F_DGOAL, "m", "distance to the goal"),
         ("ego/goal_heading_err", ob.F_GOALHEAD, "rad", "heading error to the goal heading"),
         ("ego/sog", ob.F_SOG, "m/s", "speed over ground"),
         ("ego/min_cpa", ob.F_MINCPA, "m", "smallest CPA of the targets this step (1e9: none)"),
         ("ego/min_sdf", ob.F_MIN_SDF, "m", "smallest signed distance of the hull points to land"))  # fmt: skip
FLAGS = (("ego/collided", ob.F_COLLIDED, "hull overlaps a traffic vessel"),
         ("ego/grounded", ob.F_GROUNDED, "a hull point is on land"),
         ("ego/left_map", ob.F_OUT, "outside the map"),
         ("ego/reached", ob.F_REACHED, "goal reached"),
         ("ego/in_harbour", ob.F_HARBOUR, "inside harbour water (speed limit applies)"))  # fmt: skip
LINK_FLAGS = ("link/handover", "link/interrupted", "link/outage", "link/data_lost", "link/cmd_lost")

DOCS: dict[str, tuple[str, str]] = {
    "t": ("s", "episode time of the frame"),
    "ego/x": ("m", "ego midship x (east), local map frame"),
    "ego/y": ("m", "ego midship y (north), local map frame"),
    "ego/psi": ("rad", "ego heading, grid north = 0, clockwise (not wrapped)"),
    "ego/u": ("m/s", "surge through the water"),
    "ego/v": ("m/s", "sway through the water (+ starboard)"),
    "ego/r": ("rad/s", "yaw rate (+ starboard)"),
    "ego/rudder": ("rad", "rudder angle (+ turns to starboard)"),
    "ego/revs": ("rev/s", "propeller revolutions (+ ahead)"),
    "ego/current": ("m/s", "current (east, north) at the ego"),
    "ego/rays": ("1", "ray lengths / rays.range_m, angles in header rays.angles_rad (relative to heading)"),
    "action": ("1", "[rudder, engine] as the agent sent it (NaN at frame 0)"),
    "command": ("1", "[rudder, engine] as applied to the vessel (clipped; after the link in remote mode)"),
    "reward/total": ("1", "reward of the step (0 at frame 0)"),
    "reward": ("1", "weighted reward components of the step, columns named by reward_names"),
    "traffic/x": ("m", "traffic x per slot (1e9 while inactive)"),
    "traffic/y": ("m", "traffic y per slot"),
    "traffic/psi": ("rad", "traffic heading (grid, clockwise)"),
    "traffic/u": ("m/s", "traffic surge through the water"),
    "traffic/r": ("rad/s", "traffic yaw rate"),
    "traffic/active": ("bool", "slot active (drawn, perceived, collidable)"),
    "traffic/sog": ("m/s", "traffic speed over ground"),
    "traffic/cog": ("rad", "traffic course over ground (grid, clockwise, [-pi, pi))"),
    "ais/x": ("m", "x of the last AIS report of each traffic vessel the ego received (NaN: none)"),
    "ais/y": ("m", "y of the last AIS report received (NaN: none)"),
    "ais/age": ("s", "age of the last AIS report received (inf: none)"),
    "link/sinr": ("dB", "serving-cell SINR (NaN at frame 0; +inf with the ideal link)"),
    "link/cell": ("1", "serving cell index into header link.cells (-1: none)"),
    "link/data_latency_ms": ("ms", "shore->ship data packet latency (inf: lost)"),
    "link/cmd_latency_ms": ("ms", "command packet latency, remote mode (inf: lost)"),
    "link/handover": ("bool", "a handover happened this step"),
    "link/interrupted": ("bool", "user plane interrupted by a handover"),
    "link/outage": ("bool", "link outage"),
    "link/data_lost": ("bool", "the data packet of the step was lost"),
    "link/cmd_lost": ("bool", "the command packet of the step was lost"),
    "link/failsafe": ("bool", "command fail-safe engaged (remote mode)"),
}
DOCS.update({name: (unit, doc) for name, _, unit, doc in FEATS})
DOCS.update({name: ("bool", doc) for name, _, doc in FLAGS})


@lru_cache(maxsize=1)
def git_hash() -> str | None:
    """The git commit of the testbed checkout, where known (None for an installed wheel)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    h = out.stdout.strip()
    return h if out.returncode == 0 and len(h) == 40 else None


def config_dict(cfg) -> dict:
    """The resolved config as a plain dict (non-finite floats become "nan"/"inf" in the JSON)."""
    return dataclasses.asdict(cfg)


class WorldTap:
    """The column layout of one frame of a world and the views that fill it (one ``concatenate``)."""

    def __init__(self, world) -> None:
        self.world = w = world
        E = w.E
        tr = w.traffic
        T = tr.T
        ts = tr.state
        st = w.ego
        K = len(w.angles)
        self.T, self.K, self.E = T, K, E
        self.sent = np.zeros((E, 2))  # the actions as sent (set by the caller before capture)
        parts: list[tuple[str, np.ndarray]] = []

        def add(name, view):
            parts.append((name, view))

        def col(a):
            return a.reshape(E, 1)

        def per_vessel(a):
            return a[:E * T].reshape(E, T)

        add("t", col(w.t))
        for name, a in (("x", st.x), ("y", st.y), ("psi", st.psi), ("u", st.u), ("v", st.v), ("r", st.r),
                        ("rudder", st.delta), ("revs", st.n)):  # fmt: skip
            add(f"ego/{name}", col(a))
        add("ego/current", w.ego_cur)
        add("_feats", w.feats)
        add("ego/rays", w.obs[:, ob.N_EGO:ob.N_EGO + K])
        add("action", self.sent)
        add("command", w.actions)
        add("reward/total", col(w.reward))
        add("_comps", w.comps)
        for name, a in (("x", ts.x), ("y", ts.y), ("psi", ts.psi), ("u", ts.u), ("r", ts.r)):
            add(f"traffic/{name}", per_vessel(a))
        add("traffic/active", per_vessel(tr.active))
        add("_tcur", tr.current[:E * T].reshape(E, 2 * T))
        rt, rx, ry = w._rep[0], w._rep[1], w._rep[2]
        add("_ais_t", per_vessel(rt))
        add("_ais_x", per_vessel(rx))
        add("_ais_y", per_vessel(ry))
        link = w.link
        if link is not None:
            ch = link.channel
            add("_link_f", ch._o_flt[:, :E].T)  # sinr, data latency, cmd latency
            add("_link_b", ch._o_bool[:, :E].T)  # handover, interrupted, outage, data lost, cmd lost
            add("link/cell", col(ch._o_serving[:E]))
            add("link/failsafe", col(link.failsafe))
        else:  # the ideal link: constant values
            self._ideal_f = np.tile([math.inf, 0.0, 0.0], (E, 1))
            add("_link_f", self._ideal_f)
            add("_link_b", np.zeros((E, 5), dtype=bool))
            add("link/cell", np.full((E, 1), -1.0))
            add("link/failsafe", np.zeros((E, 1), dtype=bool))
        self.views = [v for _, v in parts]
        self.slices: dict[str, slice] = {}
        o = 0
        for name, v in parts:
            self.slices[name] = slice(o, o + v.shape[1])
            o += v.shape[1]
        self.width = o

    def capture(self, out: np.ndarray) -> None:
        """Write the current frame of all E envs into ``out`` (E, width)."""
        np.concatenate(self.views, axis=1, out=out)

    # -- rows -> columns ---------------------------------------------------------------------------
    def columns(self, rows: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Typed columns of one episode from its rows (n, width); frame 0 is the reset state."""
        s = self.slices
        n = rows.shape[0]
        T = self.T

        def get(name):
            return np.ascontiguousarray(rows[:, s[name]])

        def one(name):
            return np.ascontiguousarray(rows[:, s[name].start])

        cols: dict[str, np.ndarray] = {"t": one("t")}
        for name in ("x", "y", "psi", "u", "v", "r", "rudder", "revs"):
            cols[f"ego/{name}"] = one(f"ego/{name}")
        cols["ego/current"] = get("ego/current")
        feats = rows[:, s["_feats"]]
        for name, k, _, _ in FEATS:
            cols[name] = np.ascontiguousarray(feats[:, k])
        for name, k, _ in FLAGS:
            cols[name] = feats[:, k] > 0
        cols["ego/rays"] = get("ego/rays").astype(np.float32)
        act = get("action")
        act[0] = np.nan
        cols["action"] = act
        cols["command"] = get("command")
        rt = one("reward/total")
        rt[0] = 0.0
        cols["reward/total"] = rt
        comps = get("_comps") * weights
        comps[0] = 0.0
        cols["reward"] = comps
        for name in ("x", "y", "psi", "u", "r"):
            cols[f"traffic/{name}"] = get(f"traffic/{name}")
        cols["traffic/active"] = get("traffic/active").astype(np.uint8)
        cur = rows[:, s["_tcur"]].reshape(n, T, 2)
        psi, u = cols["traffic/psi"], cols["traffic/u"]
        vx = u * np.sin(psi) + cur[:, :, 0]
        vy = u * np.cos(psi) + cur[:, :, 1]
        cols["traffic/sog"] = np.hypot(vx, vy)
        cols["traffic/cog"] = np.arctan2(vx, vy)
        at = get("_ais_t")
        have = np.isfinite(at)
        cols["ais/x"] = np.where(have, get("_ais_x"), np.nan)
        cols["ais/y"] = np.where(have, get("_ais_y"), np.nan)
        cols["ais/age"] = np.where(have, cols["t"][:, None] - at, np.inf)
        lf = get("_link_f")
        lb = rows[:, s["_link_b"]] > 0
        sinr = np.ascontiguousarray(lf[:, 0])
        dl = np.where(lb[:, 3], np.inf, lf[:, 1] * 1e3)
        cl = np.where(lb[:, 4], np.inf, lf[:, 2] * 1e3)
        cell = one("link/cell").astype(np.int16)
        fs = one("link/failsafe") > 0
        sinr[0], dl[0], cl[0], cell[0], lb[0], fs[0] = np.nan, np.nan, np.nan, -1, False, False
        cols["link/sinr"] = sinr
        cols["link/cell"] = cell
        cols["link/data_latency_ms"] = dl
        cols["link/cmd_latency_ms"] = cl
        for k, name in enumerate(LINK_FLAGS):
            cols[name] = np.ascontiguousarray(lb[:, k])
        cols["link/failsafe"] = fs
        return cols


def episode_meta(world, e: int) -> dict:
    """What is known about env ``e``'s episode right after ``reset_env(e)``."""
    w = world
    tr = w.traffic
    T = tr.T
    pk = tr.replay
    cfg = w.cfg
    traffic = []
    for j in range(T):
        i = e * T + j
        k = int(tr.track_of[i])
        if pk is not None and k >= 0 and tr.mode[i] == 1:
            mmsi, name, source = int(pk.mmsi[k]), pk.names[k] or f"VESSEL {int(pk.mmsi[k])}", "ais"
        else:
            mmsi, name, source = SCRIPTED_MMSI_BASE + i, f"TRAFFIC {i}", "scripted"
        traffic.append({"slot": j, "name": name, "mmsi": mmsi, "type": tr.type_ids[int(tr.type_index[i])],
                        "length_m": float(tr.length[i]), "beam_m": float(tr.beam[i]), "source": source})  # fmt: skip
    n = int(w.route_n[e])
    g = w.goal[e]
    meta = {
        "seed": int(w._base_seed[e]),
        "episode": int(w._episode[e]) - 1,
        "vessels": {
            "ego": {"name": "TESTBED EGO", "mmsi": EGO_MMSI, "type": w.ego_type.id, "model": cfg.ego.model,
                    "length_m": float(w.ego_len[e]), "beam_m": float(w.ego_beam[e])},
            "traffic": traffic,
        },
        "route": w.route[e, :n].tolist(),
        "goal": {"name": w.goal_name[e], "x": float(g[0]), "y": float(g[1]),
                 "psi": float(g[2]) if g[3] > 0 else None, "position_tol_m": float(w.goal_tol[e, 0]),
                 "heading_tol_rad": float(w.goal_tol[e, 1]), "speed_tol_ms": float(w.goal_tol[e, 2])},
        "ais_replay_t0": float(tr.replay_t0[e]) if pk is not None else None,
    }  # fmt: skip
    return meta


def static_header(world, agent: str | None) -> dict:
    """Header fields that are the same for every episode of a world."""
    import testbed

    w = world
    cfg = w.cfg
    link = w.link
    return {
        "simulator_version": testbed.__version__,
        "git_hash": git_hash(),
        "scenario": cfg.name,
        "config": config_dict(cfg),
        "map": {"name": w.map.name, "sha256": w.map.sha256},
        "link": {"profile": cfg.link.profile, "mode": cfg.link.mode,
                 "cells": list(link.radio.cell_ids) if link is not None and link.radio is not None else []},
        "agent": agent or "unknown",
        "dt": float(w.dt),
        "reward_names": list(ob.COMPONENTS),
        "reward_weights": [float(x) for x in w.weights],
        "rays": {"angles_rad": [float(a) for a in w.angles], "range_m": float(w.ray_range)},
        "frame": "local map frame: x east, y north [m]; headings grid north = 0, clockwise [rad]",
    }  # fmt: skip


# -- events --------------------------------------------------------------------------------------------
def _onsets(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask, dtype=bool)
    prev = np.concatenate([[False], m[:-1]])
    return np.flatnonzero(m & ~prev)


def derive_events(cols: dict[str, np.ndarray], header: dict) -> list[dict]:
    """Events of an episode from its columns (a structured list, sorted by step)."""
    t = cols["t"]
    ex, ey = cols["ego/x"], cols["ego/y"]
    tx, ty, act = cols["traffic/x"], cols["traffic/y"], cols["traffic/active"]
    names = header["reward_names"]
    rew = cols["reward"]
    traffic = header["vessels"]["traffic"]
    cells = header["link"]["cells"]
    out: list[dict] = []

    def nearest(i):
        if not tx.shape[1]:
            return None, math.inf
        d = np.where(act[i] > 0, np.hypot(tx[i] - ex[i], ty[i] - ey[i]), np.inf)
        j = int(np.argmin(d))
        return (j, float(d[j])) if np.isfinite(d[j]) else (None, math.inf)

    def ev(i, kind, text, vessel=None):
        out.append({"step": int(i), "t": float(t[i]), "kind": kind, "vessel": vessel, "x": float(ex[i]),
                    "y": float(ey[i]), "text": text})  # fmt: skip

    def vname(j):
        return f"{traffic[j]['name']} (MMSI {traffic[j]['mmsi']})" if j is not None else "unknown vessel"

    nm = rew[:, names.index("near_miss")] != 0
    for i in _onsets(nm):
        j, d = nearest(i)
        ev(i, "near_miss", f"near miss begins with {vname(j)} at {d:.0f} m", j)
    sl = rew[:, names.index("speed_limit")] != 0
    for i in _onsets(sl):
        ev(i, "rule_violation", f"harbour speed limit exceeded: {cols['ego/sog'][i]:.2f} m/s over ground")
    for i in np.flatnonzero(cols["link/handover"]):
        c = int(cols["link/cell"][i])
        prev = int(cols["link/cell"][i - 1]) if i > 0 else -1
        cname = cells[c] if 0 <= c < len(cells) else "none"
        pname = cells[prev] if 0 <= prev < len(cells) else "none"
        ev(i, "handover", f"handover {pname} -> {cname}")
    out_on = cols["link/outage"]
    for i in _onsets(out_on):
        k = i
        while k < len(out_on) and out_on[k]:
            k += 1
        ev(i, "outage", f"link outage for {t[k - 1] - t[i] + float(header['dt']):.0f} s "
                        f"(SINR {cols['link/sinr'][i]:.1f} dB)")  # fmt: skip
    for i in _onsets(cols["link/failsafe"]):
        ev(i, "failsafe", f"command fail-safe engaged ({header['config']['link']['failsafe']})")
    last = len(t) - 1
    if cols["ego/collided"][last]:
        j, d = nearest(last)
        ev(last, "collision", f"collision with {vname(j)}", j)
    if cols["ego/grounded"][last]:
        ev(last, "grounding", "grounding: a hull point is on land")
    if cols["ego/left_map"][last]:
        ev(last, "left_map", "left the map")
    if cols["ego/reached"][last]:
        ev(last, "goal", f"goal {header['goal']['name']} reached")
    out.sort(key=lambda e: (e["step"], e["kind"]))
    return out


# -- the core recorder -----------------------------------------------------------------------------------
class WorldRecorder:
    """Buffers frames of the E envs of a world and hands each finished episode to ``sink(e, header,
    columns, events)``. Protocol: ``begin(e)`` after ``world.reset_env(e)``; ``capture(actions)`` after
    each reset and step (for every env: one row); ``end(e, outcome)`` when env e's episode ended."""

    def __init__(self, world, sink: Callable[[int, dict, dict, list], None], agent: str | None = None,
                 capacity: int = 1024) -> None:  # fmt: skip
        self.world = world
        self.sink = sink
        self.tap = WorldTap(world)
        self.E = world.E
        self.buf = np.empty((max(int(capacity), 2), self.E, self.tap.width))
        self.valid = np.zeros((self.buf.shape[0], self.E), dtype=bool)
        self.row = 0
        self.start = np.zeros(self.E, dtype=np.int64)
        self.open = np.zeros(self.E, dtype=bool)
        self.meta: list[dict | None] = [None] * self.E
        self.static = static_header(world, agent)
        self._weights = np.asarray(world.weights, dtype=np.float64)

    def begin(self, e: int) -> None:
        """Env ``e`` was just reset: its next captured row is frame 0 of a new episode."""
        self.start[e] = self.row
        self.open[e] = True
        self.meta[e] = episode_meta(self.world, e)

    def capture(self, actions=None, only=None) -> None:
        """One row for every env (the frame after a reset or a step); ``actions`` as sent (E, 2).
        ``only``: the envs this row belongs to (the others skip it); default all."""
        if self.row == self.buf.shape[0]:
            self._make_room()
        if actions is not None:
            self.tap.sent[...] = actions
        self.tap.capture(self.buf[self.row])
        if only is None:
            self.valid[self.row] = True
        else:
            self.valid[self.row] = False
            self.valid[self.row, only] = True
        self.row += 1

    def _make_room(self) -> None:
        lo = int(self.start[self.open].min()) if self.open.any() else self.row
        if lo >= self.buf.shape[0] // 2:  # drop rows of finished episodes
            n = self.row - lo
            self.buf[:n] = self.buf[lo:self.row]
            self.valid[:n] = self.valid[lo:self.row]
            self.start -= lo
            self.row = n
            return
        cap = self.buf.shape[0] * 2
        grown = np.empty((cap, *self.buf.shape[1:]))
        grown[:self.row] = self.buf[:self.row]
        self.buf = grown
        valid = np.zeros((cap, self.E), dtype=bool)
        valid[:self.row] = self.valid[:self.row]
        self.valid = valid

    def episode(self, e: int, outcome: str | None) -> tuple[dict, dict, list]:
        """(header, columns, events) of env ``e``'s episode so far."""
        a, b = self.start[e], self.row
        rows = self.buf[a:b, e, :]
        ok = self.valid[a:b, e]
        if not ok.all():
            rows = rows[ok]
        cols = self.tap.columns(rows, self._weights)
        header = dict(self.static)
        header.update(self.meta[e] or {})
        header["env_index"] = int(e)
        header["outcome"] = outcome
        header["n_steps"] = int(rows.shape[0] - 1)
        header["duration_s"] = float(cols["t"][-1])
        header["return"] = float(cols["reward/total"].sum())
        events = derive_events(cols, header)
        counts: dict[str, int] = {}
        for ev in events:
            counts[ev["kind"]] = counts.get(ev["kind"], 0) + 1
        header["event_counts"] = counts
        return header, cols, events

    def end(self, e: int, outcome: str | None = None) -> None:
        """Env ``e``'s episode ended (its last row is captured): hand it to the sink."""
        if not self.open[e]:
            return
        if outcome is None:
            outcome = self.world.outcome(e)
        header, cols, events = self.episode(e, outcome)
        self.open[e] = False
        self.sink(e, header, cols, events)

    def abort(self, e: int) -> None:
        """Env ``e``'s episode was cut short (reset or close before it ended): recorded as 'unfinished'."""
        if self.open[e] and self.valid[self.start[e]:self.row, e].sum() > 1:
            self.end(e, "unfinished")
        self.open[e] = False


def write_episode(path: str | Path, header: dict, cols: dict, events: list) -> Path:
    return write_replay(path, header, cols, events, column_docs=DOCS)


# -- where the files go ----------------------------------------------------------------------------------
class _Paths:
    """``record`` target: a directory ("DIR/" or an existing folder) -> ``DIR/episode_NNN.replay``; a file
    path -> that file for the first episode, ``stem-001.replay``, ``stem-002.replay``, ... after it."""

    def __init__(self, target: str | Path, pattern: str = "episode_{k:03d}.replay") -> None:
        s = str(target)
        if not s:
            raise ValueError("record: empty path")
        self.is_dir = s.endswith(("/", "\\")) or Path(s).is_dir()
        self.target = Path(s)
        self.pattern = pattern
        self.count = 0
        self.written: list[Path] = []
        if self.is_dir:
            self.target.mkdir(parents=True, exist_ok=True)
        elif self.target.parent and not self.target.parent.exists():
            self.target.parent.mkdir(parents=True, exist_ok=True)

    def next(self, **kw) -> Path:
        k = self.count
        self.count += 1
        if self.is_dir:
            p = self.target / self.pattern.format(k=k, **kw)
        elif k == 0:
            p = self.target
        else:
            p = self.target.with_name(f"{self.target.stem}-{k:03d}{self.target.suffix or '.replay'}")
        self.written.append(p)
        return p


class EnvRecorder:
    """Records every episode of a :class:`~testbed.env.DuisburgEnv` (E = 1) into ``target``."""

    def __init__(self, env, target: str | Path, agent: str | None = None) -> None:
        self.env = env
        self.paths = _Paths(target)
        self.rec = WorldRecorder(env.world, self._write, agent=agent)

    @property
    def written(self) -> list[Path]:
        return self.paths.written

    def _write(self, e, header, cols, events) -> None:
        write_episode(self.paths.next(), header, cols, events)

    def on_reset(self) -> None:
        self.rec.abort(0)
        self.rec.begin(0)
        self.rec.capture(np.nan)

    def on_step(self, done: bool) -> None:
        self.rec.capture(self.env._act)
        if done:
            self.rec.end(0)

    def close(self) -> None:
        self.rec.abort(0)


class RecordEpisode(gym.Wrapper):
    """Gymnasium wrapper: record every episode of a testbed env into ``path`` (a file, or a directory
    with one ``episode_NNN.replay`` per episode). ``agent`` names the agent in the header."""

    def __init__(self, env: gym.Env, path: str | Path, agent: str | None = None) -> None:
        super().__init__(env)
        from testbed.env import DuisburgEnv

        base = env.unwrapped
        if not isinstance(base, DuisburgEnv):
            raise TypeError(f"RecordEpisode records testbed envs, got {type(base).__name__}")
        self.recorder = EnvRecorder(base, path, agent=agent)

    def reset(self, **kwargs):
        out = self.env.reset(**kwargs)
        self.recorder.on_reset()
        return out

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        self.recorder.on_step(term or trunc)
        return obs, r, term, trunc, info

    def close(self):
        self.recorder.close()
        super().close()


class Recorder(gym.vector.VectorWrapper):
    """Record every finished episode of every env of a :class:`~testbed.vector_env.DuisburgVectorEnv`
    into ``directory/env_EEE_episode_KKKK.replay`` (KKKK counts the episodes of env EEE).

    ``Recorder(venv, dir)`` is a VectorWrapper (use it like the venv). ``Recorder(world, dir)`` records
    a bare :class:`~testbed.world.World` that the caller steps: call ``after_reset(e)`` after
    ``world.reset_env(e)``, ``after_step(actions, done)`` after ``world.step`` (``done`` (E,) bool: the
    envs whose episode ended in this step; reset those with ``reset_env`` and ``after_reset`` before
    the next ``after_step``)."""

    def __init__(self, venv_or_world, directory: str | Path, agent: str | None = None) -> None:
        from testbed.world import World

        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.written: list[Path] = []
        if isinstance(venv_or_world, World):
            self._bare = True
            self.world = venv_or_world
        else:
            super().__init__(venv_or_world)
            self._bare = False
            base = venv_or_world.unwrapped if hasattr(venv_or_world, "unwrapped") else venv_or_world
            if not hasattr(base, "world"):
                raise TypeError(f"Recorder records a DuisburgVectorEnv or a World, got {type(base).__name__}")
            self.world = base.world
            self._base = base
        self._counts = np.zeros(self.world.E, dtype=np.int64)
        self.rec = WorldRecorder(self.world, self._write, agent=agent)
        self._pending = np.zeros(self.world.E, dtype=bool)  # bare world: reset since the last row

    def _write(self, e, header, cols, events) -> None:
        p = self.directory / f"env_{e:03d}_episode_{int(self._counts[e]):04d}.replay"
        self._counts[e] += 1
        write_episode(p, header, cols, events)
        self.written.append(p)

    # -- VectorWrapper face ----------------------------------------------------------------------------
    def reset(self, *, seed=None, options=None):
        out = self.env.reset(seed=seed, options=options)
        for e in range(self.world.E):
            self.rec.abort(e)
            self.rec.begin(e)
        self.rec.capture(np.nan)
        return out

    def step(self, actions):
        was_reset = self._base._autoreset.copy()  # these envs reset inside this step (NEXT_STEP)
        obs, rew, term, trunc, info = self.env.step(actions)
        a = np.asarray(actions, dtype=np.float64).reshape(self.world.E, 2)
        self.rec.capture(a)
        for e in np.flatnonzero(was_reset):
            self.rec.start[e] = self.rec.row - 1
            self.rec.open[e] = True
            self.rec.meta[e] = episode_meta(self.world, int(e))
        for e in np.flatnonzero(term | trunc):
            self.rec.end(int(e), info["outcome"][e] if "outcome" in info else None)
        return obs, rew, term, trunc, info

    def close(self, **kwargs):
        self.flush()
        if not self._bare:
            return super().close(**kwargs)

    def flush(self) -> None:
        """Write the unfinished episodes (outcome 'unfinished')."""
        for e in range(self.world.E):
            self.rec.abort(e)

    # -- bare World face -------------------------------------------------------------------------------
    def after_reset(self, envs) -> None:
        """Envs ``envs`` (an index or a list) were just reset with ``world.reset_env``: capture their frame 0."""
        if not self._bare:
            raise ReplayError("after_reset is for a bare World; the VectorWrapper records by itself")
        idx = np.atleast_1d(np.asarray(envs, dtype=np.int64))
        for e in idx:
            self.rec.abort(int(e))
            self.rec.begin(int(e))
        self.rec.capture(np.nan, only=idx)

    def after_step(self, actions, done) -> None:
        """Capture the frame after ``world.step(actions)``; the envs in ``done`` (E,) bool ended."""
        self.rec.capture(np.asarray(actions, dtype=np.float64).reshape(self.world.E, 2))
        for e in np.flatnonzero(np.asarray(done)):
            self.rec.end(int(e))
