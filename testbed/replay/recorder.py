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

import atexit
import dataclasses
import math
import queue
import subprocess
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import gymnasium as gym
import numba
import numpy as np

from testbed import observation as ob
from testbed.replay.format import ReplayError, to_jsonable, write_replay

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
    """The column layout of one frame of a world, the views that fill it and one compiled gather call."""

    def __init__(self, world, sent: np.ndarray | None = None) -> None:
        self.world = w = world
        E = w.E
        tr = w.traffic
        T = tr.T
        ts = tr.state
        st = w.ego
        K = len(w.angles)
        self.T, self.K, self.E = T, K, E
        # the actions as sent: the caller's own (E, 2) float64 array, or one set before each capture
        self.sent = sent if sent is not None else np.zeros((E, 2))
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
        # the same frame, gathered by one compiled call (about twice as fast as the concatenate)
        if link is not None:
            lk = (ch._o_flt, ch._o_bool, ch._o_serving, link.failsafe)
        else:
            lk = (np.ascontiguousarray(self._ideal_f.T), np.zeros((5, E), dtype=bool), np.full(E, -1, dtype=np.int64),
                  np.zeros(E, dtype=bool))  # fmt: skip
        self._args = (w.t, st.x, st.y, st.psi, st.u, st.v, st.r, st.delta, st.n, w.ego_cur, w.feats, w.obs,
                      ob.N_EGO, K, self.sent, w.actions, w.reward, w.comps, T, ts.x, ts.y, ts.psi, ts.u, ts.r,
                      tr.active, tr.current, rt, rx, ry, *lk)  # fmt: skip

    def capture(self, out: np.ndarray) -> None:
        """Write the current frame of all E envs into ``out`` (E, width)."""
        gather_kernel(out, *self._args)

    def capture_views(self, out: np.ndarray) -> None:
        """The same as :meth:`capture` with numpy (the reference the kernel is tested against)."""
        np.concatenate(self.views, axis=1, out=out)

    # -- rows -> columns ---------------------------------------------------------------------------
    def columns(self, rows: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Typed columns of one episode from its rows (n, width); frame 0 is the reset state."""
        s = self.slices
        n = rows.shape[0]
        T = self.T

        def get(name):  # views of the episode's own rows (copied where changed below)
            return rows[:, s[name]]

        def one(name):
            return rows[:, s[name].start]

        cols: dict[str, np.ndarray] = {"t": one("t")}
        for name in ("x", "y", "psi", "u", "v", "r", "rudder", "revs"):
            cols[f"ego/{name}"] = one(f"ego/{name}")
        cols["ego/current"] = get("ego/current")
        feats = rows[:, s["_feats"]]
        for name, k, _, _ in FEATS:
            cols[name] = feats[:, k]
        for name, k, _ in FLAGS:
            cols[name] = feats[:, k] > 0
        cols["ego/rays"] = get("ego/rays").astype(np.float32)
        act = get("action").copy()
        act[0] = np.nan
        cols["action"] = act
        cols["command"] = get("command")
        rt = one("reward/total").copy()
        rt[0] = 0.0
        cols["reward/total"] = rt
        raw = get("_comps").copy()
        raw[0] = 0.0
        cols["reward"] = raw * weights
        cols["_comps_raw"] = raw  # for the events (not stored: the weights are in the header)
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
        sinr = lf[:, 0].copy()
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
            cols[name] = lb[:, k]
        cols["link/failsafe"] = fs
        return cols


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


@numba.njit(cache=True)
def gather_kernel(out, t, ex, ey, epsi, eu, ev, er, ed, en, ecur, feats, obs, k0, K, sent, acts, reward, comps,
                  T, tx, ty, tpsi, tu, tr, tact, tcur, rt, rx, ry, lf, lb, cell, fs):  # fmt: skip
    """One frame of E envs into ``out`` (E, width), in the column order of :class:`WorldTap`."""
    for e in range(out.shape[0]):
        o = out[e]
        o[0] = t[e]
        o[1], o[2], o[3], o[4], o[5], o[6], o[7], o[8] = ex[e], ey[e], epsi[e], eu[e], ev[e], er[e], ed[e], en[e]
        o[9], o[10] = ecur[e, 0], ecur[e, 1]
        j = 11
        for k in range(feats.shape[1]):
            o[j + k] = feats[e, k]
        j += feats.shape[1]
        for k in range(K):
            o[j + k] = obs[e, k0 + k]
        j += K
        o[j], o[j + 1], o[j + 2], o[j + 3], o[j + 4] = sent[e, 0], sent[e, 1], acts[e, 0], acts[e, 1], reward[e]
        j += 5
        for k in range(comps.shape[1]):
            o[j + k] = comps[e, k]
        j += comps.shape[1]
        b = e * T
        for k in range(T):
            o[j + k] = tx[b + k]
            o[j + T + k] = ty[b + k]
            o[j + 2 * T + k] = tpsi[b + k]
            o[j + 3 * T + k] = tu[b + k]
            o[j + 4 * T + k] = tr[b + k]
            o[j + 5 * T + k] = tact[b + k]
            o[j + 6 * T + 2 * k] = tcur[b + k, 0]
            o[j + 6 * T + 2 * k + 1] = tcur[b + k, 1]
            o[j + 8 * T + k] = rt[b + k]
            o[j + 9 * T + k] = rx[b + k]
            o[j + 10 * T + k] = ry[b + k]
        j += 11 * T
        for k in range(3):
            o[j + k] = lf[k, e]
        for k in range(5):
            o[j + 3 + k] = 1.0 if lb[k, e] else 0.0
        o[j + 8] = cell[e]
        o[j + 9] = 1.0 if fs[e] else 0.0


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
                 "psi": float(g[2]) if g[3] > 0 else None, "position_tol_m": _finite(w.goal_tol[e, 0]),
                 "heading_tol_rad": _finite(w.goal_tol[e, 1]), "speed_tol_ms": _finite(w.goal_tol[e, 2])},
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
        "config": to_jsonable(config_dict(cfg)),
        "map": {"name": w.map.name, "sha256": w.map.sha256, "crs": w.map.frame.crs_string,
                "origin_lon": w.map.frame.origin_lon, "origin_lat": w.map.frame.origin_lat},
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
    rew = cols["_comps_raw"] if "_comps_raw" in cols else cols["reward"]  # raw: events even with weight 0
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


# -- the writer thread ------------------------------------------------------------------------------------
class BackgroundWriter:
    """One daemon thread per process that finishes and writes episodes off the stepping thread (zlib and
    numpy release the GIL while they work). ``flush()`` waits until everything submitted is on disk and
    re-raises a failed write; it also runs at interpreter exit. The queue is bounded: a recorder that
    outruns the disk waits instead of growing without limit."""

    def __init__(self, max_pending: int = 32) -> None:
        self._q: queue.Queue = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._errors: list[BaseException] = []
        atexit.register(self.flush, raise_errors=False)

    def _run(self) -> None:
        while True:
            job = self._q.get()
            try:
                job()
            except BaseException as exc:  # reported by the next submit() or flush(), never lost
                self._errors.append(exc)
            finally:
                self._q.task_done()

    def _raise(self) -> None:
        if self._errors:
            exc = self._errors.pop(0)
            raise ReplayError(f"writing a replay failed: {exc}") from exc

    def submit(self, job: Callable[[], None]) -> None:
        self._raise()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="replay-writer", daemon=True)
                self._thread.start()
        self._q.put(job)

    def flush(self, raise_errors: bool = True) -> None:
        if self._thread is not None:
            self._q.join()
        if raise_errors:
            self._raise()


WRITER = BackgroundWriter()


def flush() -> None:
    """Wait until every replay submitted to the background writer is written (re-raises a failed write)."""
    WRITER.flush()


# -- the core recorder -----------------------------------------------------------------------------------
class WorldRecorder:
    """Buffers frames of the E envs of a world and hands each finished episode to ``sink(e, header,
    columns, events)``. Protocol: ``begin(e)`` after ``world.reset_env(e)``; ``capture(actions)`` after
    each reset and step (for every env: one row); ``end(e, outcome)`` when env e's episode ended."""

    def __init__(self, world, sink: Callable[[int, dict, dict, list], None], agent: str | None = None,
                 capacity: int = 1024, background: bool = False, sent: np.ndarray | None = None) -> None:  # fmt: skip
        self.world = world
        self.sink = sink
        self.writer = WRITER if background else None
        self.tap = WorldTap(world, sent)
        self.E = world.E
        self.buf = np.empty((max(int(capacity), 2), self.E, self.tap.width))
        self.valid = np.ones((self.buf.shape[0], self.E), dtype=bool)  # False: a row another env's reset added
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
        if only is not None:
            self.valid[self.row] = False
            self.valid[self.row, only] = True
        self.row += 1

    def _make_room(self) -> None:
        lo = int(self.start[self.open].min()) if self.open.any() else self.row
        if lo >= self.buf.shape[0] // 2:  # drop rows of finished episodes
            n = self.row - lo
            self.buf[:n] = self.buf[lo:self.row]
            self.valid[:n] = self.valid[lo:self.row]
            self.valid[n:] = True
            self.start -= lo
            self.row = n
            return
        cap = self.buf.shape[0] * 2
        grown = np.empty((cap, *self.buf.shape[1:]))
        grown[:self.row] = self.buf[:self.row]
        self.buf = grown
        valid = np.ones((cap, self.E), dtype=bool)
        valid[:self.row] = self.valid[:self.row]
        self.valid = valid

    def _rows(self, e: int) -> np.ndarray:
        a, b = self.start[e], self.row
        ok = self.valid[a:b, e]
        return self.buf[a:b, e, :][ok] if not ok.all() else self.buf[a:b, e, :].copy()

    def _rule_events(self, e: int) -> list[dict]:
        """The inland-rule violations of env ``e``'s episode (``testbed.rules``) as replay events."""
        rc = getattr(self.world, "rules", None)
        if rc is None:
            return []
        from testbed.rules.report import replay_events

        return replay_events(list(rc.events[e]), self.world.dt)

    def _build(self, e: int, rows: np.ndarray, meta: dict | None, outcome: str | None,
               rule_events: list[dict] | None = None) -> tuple[dict, dict, list]:  # fmt: skip
        cols = self.tap.columns(rows, self._weights)
        header = dict(self.static)
        header.update(meta or {})
        header["env_index"] = int(e)
        header["outcome"] = outcome
        header["n_steps"] = int(rows.shape[0] - 1)
        header["duration_s"] = float(cols["t"][-1])
        header["return"] = float(cols["reward/total"].sum())
        events = derive_events(cols, header)
        if rule_events:  # the rule checker's events (article, explanation), in time order with the rest
            events = sorted(events + rule_events, key=lambda ev: (ev["step"], ev["kind"]))
        cols.pop("_comps_raw", None)
        counts: dict[str, int] = {}
        for ev in events:
            counts[ev["kind"]] = counts.get(ev["kind"], 0) + 1
        header["event_counts"] = counts
        return header, cols, events

    def episode(self, e: int, outcome: str | None) -> tuple[dict, dict, list]:
        """(header, columns, events) of env ``e``'s episode so far."""
        return self._build(e, self._rows(e), self.meta[e], outcome, self._rule_events(e))

    def end(self, e: int, outcome: str | None = None) -> None:
        """Env ``e``'s episode ended (its last row is captured): hand it to the sink; with a background
        writer, only the rows are copied here and the rest happens on the writer thread."""
        if not self.open[e]:
            return
        if outcome is None:
            outcome = self.world.outcome(e)
        self.open[e] = False
        rows, meta, rule_events = self._rows(e), self.meta[e], self._rule_events(e)

        def job():
            self.sink(e, *self._build(e, rows, meta, outcome, rule_events))

        if self.writer is not None:
            self.writer.submit(job)
        else:
            job()

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
        try:
            if self.is_dir:
                self.target.mkdir(parents=True, exist_ok=True)
            elif self.target.parent and not self.target.parent.exists():
                self.target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"record={s!r}: cannot create the folder: {exc.strerror or exc}") from None
        if not self.is_dir and self.target.is_dir():
            raise ValueError(f"record={s!r} is a folder")

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

    def __init__(self, env, target: str | Path, agent: str | None = None, background: bool = True) -> None:
        self.env = env
        self.paths = _Paths(target)
        self.rec = WorldRecorder(env.world, self._write, agent=agent, background=background, sent=env._act)

    @property
    def written(self) -> list[Path]:
        return self.paths.written

    def _write(self, e, header, cols, events) -> None:
        write_episode(self.paths.next(), header, cols, events)

    def on_reset(self) -> None:
        self.rec.abort(0)
        self.rec.begin(0)
        self.rec.capture()  # frame 0; its action is stored as NaN

    def on_step(self, done: bool) -> None:
        self.rec.capture()  # the tap reads the action from env._act
        if done:
            self.rec.end(0)

    def close(self) -> None:
        self.rec.abort(0)
        self.flush()

    def flush(self) -> None:
        """Wait until the finished episodes are written."""
        if self.rec.writer is not None:
            self.rec.writer.flush()


class RecordEpisode(gym.Wrapper):
    """Gymnasium wrapper: record every episode of a testbed env into ``path`` (a file, or a directory
    with one ``episode_NNN.replay`` per episode). ``agent`` names the agent in the header."""

    def __init__(self, env: gym.Env, path: str | Path, agent: str | None = None, background: bool = True) -> None:
        super().__init__(env)
        from testbed.env import DuisburgEnv

        base = env.unwrapped
        if not isinstance(base, DuisburgEnv):
            raise TypeError(f"RecordEpisode records testbed envs, got {type(base).__name__}")
        self.recorder = EnvRecorder(base, path, agent=agent, background=background)

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

    def __init__(self, venv_or_world, directory: str | Path, agent: str | None = None,
                 background: bool = True) -> None:  # fmt: skip
        from testbed.world import World

        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"Recorder: cannot create the folder {str(directory)!r}: {exc.strerror or exc}") from None
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
        self.rec = WorldRecorder(self.world, self._write, agent=agent, background=background)

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
        """Write the unfinished episodes (outcome 'unfinished') and wait until every file is written."""
        for e in range(self.world.E):
            self.rec.abort(e)
        if self.rec.writer is not None:
            self.rec.writer.flush()

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
