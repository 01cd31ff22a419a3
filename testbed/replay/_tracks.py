"""Shared by the exports: the map frame and clock of a replay, and per-vessel ground tracks."""

from __future__ import annotations

import math

import numpy as np

from testbed.replay.format import ReplayError, ReplayReader

DEFAULT_EPOCH = 1717200000.0  # 2024-06-01T00:00:00Z, as testbed.ais.emit


def local_frame(reader: ReplayReader):
    """The recorded map's :class:`harbour_maps.geodesy.LocalFrame` (from the header; no map needed)."""
    from harbour_maps.geodesy import LocalFrame

    m = reader.header.get("map") or {}
    try:
        return LocalFrame(m["crs"], float(m["origin_lon"]), float(m["origin_lat"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ReplayError(f"{reader.path}: header map has no usable crs/origin ({exc})") from None


def epoch(reader: ReplayReader) -> float:
    """Unix time of frame 0: the AIS recording's time at the episode start (whole seconds) when the
    traffic is an AIS replay, else 2024-06-01T00:00:00Z."""
    t0 = reader.header.get("ais_replay_t0")
    return float(math.floor(t0)) if isinstance(t0, int | float) and math.isfinite(t0) and t0 > 1e8 else DEFAULT_EPOCH


def frame_index(reader: ReplayReader, every: int) -> np.ndarray:
    """Frames 0, every, 2 every, ... and always the last one."""
    idx = np.arange(0, reader.n_frames, max(int(every), 1))
    if idx[-1] != reader.n_frames - 1:
        idx = np.append(idx, reader.n_frames - 1)
    return idx


def ego_ground(reader: ReplayReader, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Ego x, y, heading, speed and course over ground, rate of turn at the frames ``idx``."""
    c = {k: reader.column(f"ego/{k}")[idx] for k in ("x", "y", "psi", "u", "v", "r")}
    cur = reader.column("ego/current")[idx]
    s, co = np.sin(c["psi"]), np.cos(c["psi"])
    vx = c["u"] * s + c["v"] * co + cur[:, 0]
    vy = c["u"] * co - c["v"] * s + cur[:, 1]
    return {"x": c["x"], "y": c["y"], "psi": c["psi"], "sog": np.hypot(vx, vy), "cog": np.arctan2(vx, vy),
            "r": c["r"]}  # fmt: skip


def traffic_ground(reader: ReplayReader, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Traffic x, y, psi, sog, cog, r, active (n, T) at the frames ``idx``."""
    return {k: reader.column(f"traffic/{k}")[idx] for k in ("x", "y", "psi", "sog", "cog", "r", "active")}


def segments(active: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) runs of True in a 1-d mask."""
    a = np.concatenate([[False], np.asarray(active, dtype=bool), [False]])
    d = np.diff(a.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))
