"""What the viewer plays: a recorded episode as columns, read in chunks, and one interpolated frame.

Anything with the reader's interface can be played (:class:`testbed.replay.ReplayReader` has it):
``header`` (dict), ``times`` (N frames), ``column(name, i0, i1)``, ``events`` and either ``columns`` (a
dict keyed by column name) or ``column_names``. Columns used (the replay format's names, see
:mod:`testbed.replay`): ``ego/x``, ``ego/y``, ``ego/psi``, ``ego/u``, ``ego/v``, ``ego/rudder``,
``ego/revs`` (N,), ``ego/rays`` (N, K, length / range); ``traffic/x``, ``traffic/y``, ``traffic/psi``,
``traffic/sog``, ``traffic/cog`` (N, T) with ``traffic/active`` (a slot that is not active, or a
position of 1e9 or NaN, is not drawn); ``ais/x``, ``ais/y``, ``ais/age`` (N, T, the ego's AIS picture);
``link/sinr``, ``link/cell``, ``link/data_latency_ms``, ``link/failsafe`` (N,); ``reward`` (N, C);
``action`` (N, 2). Missing columns are simply not drawn.

:class:`ArrayReplay` is the same interface over in-memory arrays; :func:`ais_log_replay` builds one
from a raw AIS log (``recording.nmea``) through the project's decoder (``testbed/ais/ingest.py``,
``tracks.py``, ``replay.py``), resampled on a regular time grid, with no ego.

:class:`Frames` reads columns in chunks of :data:`CHUNK` steps (random access: a jump reads two chunks,
never the whole file) and builds a :class:`FrameState` at any fractional step (positions linear,
headings along the shorter arc), so playback at x0.25 is smooth even with dt = 1 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["ArrayReplay", "Frames", "FrameState", "Event", "VesselInfo", "ais_log_replay", "CHUNK",
           "EVENT_COLOURS", "vessel_infos"]

CHUNK = 256
EVENT_COLOURS = {
    "collision": (230, 40, 40), "grounding": (150, 75, 20), "near_miss": (255, 150, 0),
    "handover": (60, 140, 255), "outage": (170, 60, 200), "failsafe": (200, 0, 120), "goal": (40, 180, 80),
    "rule_violation": (255, 220, 0),
}
_DEFAULT_EVENT_COLOUR = (200, 200, 200)


@dataclass(frozen=True)
class Event:
    step: int
    t: float
    kind: str
    vessel: str = ""
    x: float = math.nan
    y: float = math.nan
    text: str = ""

    @property
    def colour(self):
        return EVENT_COLOURS.get(self.kind, _DEFAULT_EVENT_COLOUR)


@dataclass
class VesselInfo:
    """What the details panel shows about a vessel."""

    name: str
    mmsi: int | None = None
    type: str = ""
    length: float = 85.0
    beam: float = 9.5
    agent: str = ""
    extra: dict = field(default_factory=dict)


def _as_event(e) -> Event:
    if isinstance(e, Event):
        return e
    if isinstance(e, dict):
        get = e.get
    else:
        def get(k, d=None):
            return getattr(e, k, d)
    x, y = get("x", math.nan), get("y", math.nan)
    return Event(int(get("step", 0)), float(get("t", 0.0)), str(get("kind", "event")), str(get("vessel", "") or ""),
                 math.nan if x is None else float(x), math.nan if y is None else float(y),
                 str(get("text", "") or ""))


def _vinfo(d, default_name: str) -> VesselInfo:
    if d is None:
        return VesselInfo(default_name)
    if isinstance(d, VesselInfo):
        return d
    mmsi = d.get("mmsi")
    known = {"name", "mmsi", "type", "length", "beam", "length_m", "beam_m", "agent"}
    length = d.get("length_m", d.get("length")) or 85.0
    beam = d.get("beam_m", d.get("beam")) or 9.5
    return VesselInfo(str(d.get("name") or default_name), int(mmsi) if mmsi not in (None, "") else None,
                      str(d.get("type") or ""), float(length), float(beam),
                      str(d.get("agent") or ""), {k: v for k, v in d.items() if k not in known})


def vessel_infos(header: dict, n_traffic: int) -> tuple[VesselInfo | None, list[VesselInfo]]:
    """(ego, traffic) metadata from a replay header (``header["vessels"]`` = ``{"ego": {...},
    "traffic": [{...}, ...]}`` with name, mmsi, type, length, beam, agent)."""
    v = header.get("vessels") or {}
    ego = v.get("ego")
    ego_info = _vinfo(ego, "ego") if ego is not None or header.get("has_ego", True) else None
    if ego_info is not None and not ego_info.agent:
        ego_info.agent = str(header.get("agent") or "")
    tr = list(v.get("traffic") or [])
    out = [_vinfo(tr[j] if j < len(tr) else None, f"vessel {j}") for j in range(n_traffic)]
    return ego_info, out


class ArrayReplay:
    """The reader interface over in-memory arrays: ``columns`` maps names to arrays of N rows."""

    def __init__(self, times, columns: dict, header: dict | None = None, events=()):
        self.times = np.ascontiguousarray(times, dtype=np.float64).reshape(-1)
        self.n_steps = len(self.times)
        if self.n_steps < 1:
            raise ValueError("a replay needs at least one step")
        self._cols = {}
        for k, v in columns.items():
            a = np.asarray(v)
            if a.shape[0] != self.n_steps:
                raise ValueError(f"column {k!r} has {a.shape[0]} rows, the replay has {self.n_steps} steps")
            self._cols[k] = a
        self.header = dict(header or {})
        self.events = [_as_event(e) for e in events]
        self.reward_names = list(self.header.get("reward_names", []))

    def has(self, name: str) -> bool:
        return name in self._cols

    @property
    def column_names(self) -> list[str]:
        return list(self._cols)

    def column(self, name: str, i0: int = 0, i1: int | None = None) -> np.ndarray:
        if name not in self._cols:
            raise KeyError(f"no column {name!r} in this replay")
        return self._cols[name][i0:i1]

    def step_at_time(self, t: float) -> int:
        return int(np.clip(np.searchsorted(self.times, t, side="right") - 1, 0, self.n_steps - 1))


@dataclass
class FrameState:
    """Everything drawn at one (fractional) step; traffic arrays are (T,), NaN where absent."""

    i: int  # the recorded step at or before the playhead
    t: float
    ego: dict | None  # x, y, psi, sog, cog, u, v, rudder, revs
    tx: np.ndarray
    ty: np.ndarray
    tpsi: np.ndarray
    tsog: np.ndarray
    tcog: np.ndarray
    ais_x: np.ndarray | None = None
    ais_y: np.ndarray | None = None
    ais_age: np.ndarray | None = None
    link: dict = field(default_factory=dict)
    reward: np.ndarray | None = None
    action: np.ndarray | None = None
    rays: np.ndarray | None = None  # recorded ray lengths / range (K,)


def _lerp_angle(a, b, w):
    d = (b - a + np.pi) % (2 * np.pi) - np.pi
    return a + w * d


class Frames:
    """Chunked, cached column access and interpolated frames of one replay (see the module docstring)."""

    def __init__(self, reader, max_chunks: int = 64):
        self.r = reader
        self.times = np.asarray(reader.times, dtype=np.float64)
        self.n = len(self.times)  # frames (a ReplayReader's frame 0 is the reset state)
        self._cache: dict = {}
        self._order: list = []
        self._max = max_chunks
        self._missing: set[str] = set()
        self.names = set()
        probe = getattr(reader, "columns", None)
        if not isinstance(probe, dict):
            probe = getattr(reader, "column_names", None)
        if probe is not None:
            self.names = set(probe)
        else:
            for name in ("ego/x", "ego/y", "ego/psi", "ego/u", "ego/v", "ego/rudder", "ego/revs", "traffic/x",
                         "traffic/y", "traffic/psi", "traffic/sog", "traffic/cog", "ais/x", "ais/y", "ais/age",
                         "link/sinr", "link/cell", "link/failsafe", "link/latency_ul", "reward", "action",
                         "command"):
                try:
                    reader.column(name, 0, 1)
                except (KeyError, ValueError, IndexError):
                    continue
                self.names.add(name)
        tr = self.get("traffic/x", 0, 1) if "traffic/x" in self.names else None
        self.n_traffic = 0 if tr is None else (tr.shape[1] if tr.ndim == 2 else 0)
        self.has_ego = "ego/x" in self.names
        self._active = "traffic/active" in self.names

    def has(self, name: str) -> bool:
        return name in self.names

    def _chunk(self, name: str, c: int) -> np.ndarray:
        key = (name, c)
        a = self._cache.get(key)
        if a is None:
            a = np.asarray(self.r.column(name, c * CHUNK, min(self.n, (c + 1) * CHUNK)))
            self._cache[key] = a
            self._order.append(key)
            if len(self._order) > self._max:
                self._cache.pop(self._order.pop(0), None)
        return a

    def get(self, name: str, i0: int, i1: int) -> np.ndarray:
        """Rows ``i0:i1`` (clipped to the replay) of column ``name``."""
        i0, i1 = max(0, int(i0)), min(self.n, int(i1))
        if i1 <= i0:
            i1 = i0 + 1
        c0, c1 = i0 // CHUNK, (i1 - 1) // CHUNK
        if c0 == c1:
            return self._chunk(name, c0)[i0 - c0 * CHUNK:i1 - c0 * CHUNK]
        parts = [self._chunk(name, c) for c in range(c0, c1 + 1)]
        return np.concatenate(parts)[i0 - c0 * CHUNK:i1 - c0 * CHUNK]

    def traffic_xy(self, i0: int, i1: int):
        """(x, y) of the traffic over frames i0..i1-1, NaN where a slot is inactive."""
        x = np.asarray(self.get("traffic/x", i0, i1), dtype=np.float64)
        y = np.asarray(self.get("traffic/y", i0, i1), dtype=np.float64)
        bad = ~np.isfinite(x) | (np.abs(x) > 1e8)
        if self._active:
            bad |= np.asarray(self.get("traffic/active", i0, i1)) == 0
        if bad.any():
            x = np.where(bad, np.nan, x)
            y = np.where(bad, np.nan, y)
        return x, y

    def row(self, name: str, i: int):
        return self.get(name, i, i + 1)[0]

    def opt_row(self, name: str, i: int):
        return self.row(name, i) if name in self.names else None

    def step_at_time(self, t: float) -> int:
        return int(np.clip(np.searchsorted(self.times, t, side="right") - 1, 0, self.n - 1))

    def position(self, t: float) -> float:
        """Fractional step of time ``t`` (clipped to the replay)."""
        i = self.step_at_time(t)
        if i >= self.n - 1:
            return float(self.n - 1)
        t0, t1 = self.times[i], self.times[i + 1]
        return i + (float(np.clip((t - t0) / (t1 - t0), 0.0, 1.0)) if t1 > t0 else 0.0)

    def frame(self, pos: float) -> FrameState:
        """The interpolated frame at fractional step ``pos``."""
        pos = float(np.clip(pos, 0.0, self.n - 1))
        i = int(math.floor(pos))
        w = pos - i
        j = min(i + 1, self.n - 1)
        if j == i:
            w = 0.0

        def lerp(name):
            a = self.get(name, i, j + 1)
            return a[0] if w == 0.0 else a[0] + w * (a[-1] - a[0])

        def alerp(name):
            a = self.get(name, i, j + 1)
            return a[0] if w == 0.0 else _lerp_angle(a[0], a[-1], w)

        t = float(self.times[i] + w * (self.times[j] - self.times[i]))
        ego = None
        if self.has_ego:
            ego = {k: float(lerp(f"ego/{k}")) for k in ("x", "y")}
            ego["psi"] = float(alerp("ego/psi"))
            for k in ("u", "v", "rudder", "revs"):
                if f"ego/{k}" in self.names:
                    ego[k] = float(lerp(f"ego/{k}"))
            # speed and course over ground from the recorded track (includes the current)
            a = self.get("ego/x", max(0, i - 1), j + 1)
            b = self.get("ego/y", max(0, i - 1), j + 1)
            tt = self.times[max(0, i - 1):j + 1]
            if len(a) >= 2 and tt[-1] > tt[0]:
                vx, vy = (a[-1] - a[0]) / (tt[-1] - tt[0]), (b[-1] - b[0]) / (tt[-1] - tt[0])
                ego["sog"] = float(math.hypot(vx, vy))
                ego["cog"] = float(math.atan2(vx, vy) % (2 * math.pi))
            else:
                ego["sog"] = float(math.hypot(ego.get("u", 0.0), ego.get("v", 0.0)))
                ego["cog"] = ego["psi"]
        T = self.n_traffic
        if T:
            x2, y2 = self.traffic_xy(i, j + 1)
            if w == 0.0:
                tx, ty = x2[0], y2[0]
            else:  # a vessel that appears or leaves between the frames is drawn where it is known
                tx = np.where(np.isfinite(x2[-1]), x2[0] + w * (x2[-1] - x2[0]), x2[0])
                ty = np.where(np.isfinite(y2[-1]), y2[0] + w * (y2[-1] - y2[0]), y2[0])
            tpsi = np.nan_to_num(np.asarray(alerp("traffic/psi"), dtype=np.float64))  # unknown heading: north
            tsog = lerp("traffic/sog") if "traffic/sog" in self.names else np.full(T, np.nan)
            tcog = alerp("traffic/cog") if "traffic/cog" in self.names else tpsi
        else:
            tx = ty = tpsi = tsog = tcog = np.zeros(0)
        st = FrameState(i, t, ego, np.asarray(tx, float), np.asarray(ty, float), np.asarray(tpsi, float),
                        np.asarray(tsog, float), np.asarray(tcog, float))
        if T and "ais/x" in self.names:
            st.ais_x, st.ais_y = self.row("ais/x", i), self.row("ais/y", i)
            st.ais_age = self.row("ais/age", i) if "ais/age" in self.names else None
        for k, name in (("sinr", "sinr"), ("cell", "cell"), ("failsafe", "failsafe"), ("latency", "data_latency_ms"),
                        ("latency", "latency_ul"), ("outage", "outage"), ("cmd_latency", "cmd_latency_ms")):
            if f"link/{name}" in self.names:
                st.link[k] = self.row(f"link/{name}", i)
        if "ego/rays" in self.names:
            st.rays = np.asarray(self.row("ego/rays", i), dtype=np.float64)
        st.reward = self.opt_row("reward", i)
        st.action = self.opt_row("action", i)
        return st

    def traffic_history(self, i: int, n_back: int, stride: int = 1):
        """(x, y) of the traffic at frames ``i - n_back .. i`` every ``stride``, ending at ``i`` (NaN: inactive)."""
        x, y = self.traffic_xy(i - n_back, i + 1)
        return x[::-1][::stride][::-1], y[::-1][::stride][::-1]

    def history(self, name: str, i: int, n_back: int, stride: int = 1) -> np.ndarray:
        """Rows ``i - n_back .. i`` of ``name`` every ``stride`` steps, ending exactly at ``i``."""
        a = self.get(name, i - n_back, i + 1)
        return a[::-1][::stride][::-1]


def ais_log_replay(path: str | Path, hmap, dt: float = 2.0) -> ArrayReplay:
    """A raw AIS log as a replay without an ego: every decoded track (through the project's decoder and
    track builder) resampled every ``dt`` seconds on ``hmap``'s local frame."""
    from testbed.ais.replay import load_replay

    pk = load_replay(str(path), hmap)
    t0, t1 = pk.span()
    if not t1 > t0:
        raise ValueError(f"{path}: the AIS log spans no time (one report time only)")
    n = int(math.floor((t1 - t0) / dt)) + 1
    if n > 200_000:
        dt = (t1 - t0) / 199_999
        n = 200_000
    times = np.arange(n) * dt
    # one column per vessel (MMSI); its gap-free segments fill their own time spans
    mmsis = list(dict.fromkeys(int(m) for m in pk.mmsi))
    col = {m: k for k, m in enumerate(mmsis)}
    V = len(mmsis)
    X = np.full((n, V), np.nan)
    Y = np.full((n, V), np.nan)
    P = np.full((n, V), np.nan)
    S = np.full((n, V), np.nan)
    C = np.full((n, V), np.nan)
    meta: list[dict | None] = [None] * V
    tq = t0 + times
    for s in range(pk.n_tracks):
        a, b = int(pk.start[s]), int(pk.start[s + 1])
        ts = pk.t[a:b]
        k = col[int(pk.mmsi[s])]
        m = (tq >= ts[0]) & (tq <= ts[-1])
        if not m.any():
            continue
        q = tq[m]
        i = np.clip(np.searchsorted(ts, q, side="right") - 1, 0, len(ts) - 2)
        h = ts[i + 1] - ts[i]
        u = (q - ts[i]) / np.where(h > 0, h, 1.0)
        x, y, vx, vy = pk.x[a:b], pk.y[a:b], pk.vx[a:b], pk.vy[a:b]
        u2, u3 = u * u, u * u * u
        h00, h10, h01, h11 = 2 * u3 - 3 * u2 + 1, u3 - 2 * u2 + u, -2 * u3 + 3 * u2, u3 - u2
        X[m, k] = h00 * x[i] + h10 * h * vx[i] + h01 * x[i + 1] + h11 * h * vx[i + 1]
        Y[m, k] = h00 * y[i] + h10 * h * vy[i] + h01 * y[i + 1] + h11 * h * vy[i + 1]
        gvx = vx[i] + u * (vx[i + 1] - vx[i])
        gvy = vy[i] + u * (vy[i + 1] - vy[i])
        S[m, k] = np.hypot(gvx, gvy)
        cog = np.arctan2(gvx, gvy) % (2 * np.pi)
        C[m, k] = cog
        psi = pk.psi[a:b]
        hd = np.where(np.isfinite(psi[i]), psi[i], cog)
        P[m, k] = np.where(S[m, k] > 0.3, np.where(np.isfinite(psi[i]), hd, cog), hd)
        if meta[k] is None:
            meta[k] = {"name": pk.names[s] or f"MMSI {int(pk.mmsi[s])}", "mmsi": int(pk.mmsi[s]),
                       "type": pk.type_ids[s], "length": float(pk.length[s]), "beam": float(pk.beam[s])}
    header = {"scenario": "raw AIS log", "map": hmap.name, "dt": dt, "source": str(path), "has_ego": False,
              "vessels": {"ego": None, "traffic": meta}, "outcome": f"{V} vessels"}
    cols = {"traffic/x": X, "traffic/y": Y, "traffic/psi": P, "traffic/sog": S, "traffic/cog": C}
    return ArrayReplay(times, cols, header)
