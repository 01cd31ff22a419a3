"""Per-vessel tracks from ingested AIS messages.

:func:`build_tracks` groups the position reports of :mod:`testbed.ais.ingest` by MMSI into a
:class:`Track` (structure of arrays ``t, lat, lon, sog, cog, heading``; sog m/s, angles radians, NaN where
not available) and merges the static data of messages 5, 19, 24A/B and inland FI 10 (FI 10 wins for
length, beam, draught; ``inland`` is True once an FI 10 message was seen).

Rejected points are counted per track in ``Track.rejected`` by reason:

* ``no_time``: the report has no receive time (configure ``assume_rate_hz`` for files without times);
* ``duplicate_time``: a second report at the same time as the previous accepted one;
* ``speed_jump``: the jump from the previous accepted point implies a speed above
  ``max(2 x the larger reported SOG, 15 m/s inland / 30 m/s otherwise)`` (an outlier; the next point is
  compared with the last accepted one again).

A gap longer than ``gap_s`` (default 600 s) starts a new segment (``Track.segment``, 0, 1, ...); no speed
check is made across a gap.

:meth:`Track.interpolate` evaluates a cubic Hermite curve per segment in a local metric frame, with the
SOG/COG velocity as the tangent at each sample (finite differences where SOG or COG is not available), so
the curve passes exactly through the samples and has no jumps (C1 within a segment); heading is
interpolated linearly along the shorter arc (COG where no heading), SOG linearly. Times outside a segment
(before the first sample, after the last, inside a gap) give NaN.
"""

from __future__ import annotations

import csv
import math
import os
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from atomicio import atomic_open
from testbed.ais.ingest import AISMessage

__all__ = ["Track", "build_tracks", "write_tracks_csv", "TRACK_REJECT_REASONS"]

EARTH_R = 6_371_000.0
TRACK_REJECT_REASONS = ("no_time", "duplicate_time", "speed_jump")
_STATIC_KEYS = ("name", "callsign", "ship_type", "imo", "destination", "to_bow", "to_stern", "to_port",
                "to_starboard", "length", "beam", "draught", "eni", "eri_type", "hazard", "loaded")


def _dist_m(lat0, lon0, lat1, lon1):
    """Equirectangular distance (metres); good to well below 0.1 % at the distances checked here."""
    k = math.cos(math.radians(0.5 * (lat0 + lat1)))
    dx = math.radians(lon1 - lon0) * k
    dy = math.radians(lat1 - lat0)
    return EARTH_R * math.hypot(dx, dy)


@dataclass
class Track:
    """Time series of one vessel. Arrays are float64 (``segment`` int64), sorted by ``t``."""

    mmsi: int
    t: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    sog: np.ndarray
    cog: np.ndarray
    heading: np.ndarray
    segment: np.ndarray
    static: dict = field(default_factory=dict)
    inland: bool = False
    rejected: dict = field(default_factory=lambda: dict.fromkeys(TRACK_REJECT_REASONS, 0))

    def __len__(self) -> int:
        return len(self.t)

    @property
    def n_segments(self) -> int:
        return int(self.segment[-1]) + 1 if len(self.segment) else 0

    def segment_slices(self) -> list[slice]:
        if not len(self.t):
            return []
        cuts = np.flatnonzero(np.diff(self.segment)) + 1
        bounds = [0, *cuts.tolist(), len(self.t)]
        return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def interpolate(self, t) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(lat, lon, heading, sog) at times ``t`` (scalar or array); NaN outside the segments."""
        tq = np.atleast_1d(np.asarray(t, dtype=float))
        lat = np.full(tq.shape, np.nan)
        lon = np.full(tq.shape, np.nan)
        hdg = np.full(tq.shape, np.nan)
        sog = np.full(tq.shape, np.nan)
        for sl in self.segment_slices():
            ts = self.t[sl]
            inside = (tq >= ts[0]) & (tq <= ts[-1])
            if not inside.any():
                continue
            q = tq[inside]
            if len(ts) == 1:
                lat[inside], lon[inside] = self.lat[sl][0], self.lon[sl][0]
                hdg[inside], sog[inside] = self._hdg_samples(sl)[0], self.sog[sl][0]
                continue
            la, lo = self.lat[sl], self.lon[sl]
            lat0 = float(la.mean())
            kx = EARTH_R * math.cos(math.radians(lat0)) * math.pi / 180.0
            ky = EARTH_R * math.pi / 180.0
            x = (lo - lo[0]) * kx
            y = (la - la[0]) * ky
            vx, vy = self._tangents(ts, x, y, self.sog[sl], self.cog[sl])
            i = np.clip(np.searchsorted(ts, q, side="right") - 1, 0, len(ts) - 2)
            h = ts[i + 1] - ts[i]
            s = (q - ts[i]) / h
            s2, s3 = s * s, s * s * s
            h00, h10, h01, h11 = 2 * s3 - 3 * s2 + 1, s3 - 2 * s2 + s, -2 * s3 + 3 * s2, s3 - s2
            xq = h00 * x[i] + h10 * h * vx[i] + h01 * x[i + 1] + h11 * h * vx[i + 1]
            yq = h00 * y[i] + h10 * h * vy[i] + h01 * y[i + 1] + h11 * h * vy[i + 1]
            lat[inside] = la[0] + yq / ky
            lon[inside] = lo[0] + xq / kx
            sg = self.sog[sl]
            sog[inside] = sg[i] + s * (sg[i + 1] - sg[i])
            hs = self._hdg_samples(sl)
            d = (hs[i + 1] - hs[i] + math.pi) % (2 * math.pi) - math.pi
            hdg[inside] = (hs[i] + s * d) % (2 * math.pi)
        if np.ndim(t) == 0:
            return lat[0], lon[0], hdg[0], sog[0]
        return lat, lon, hdg, sog

    def _hdg_samples(self, sl: slice) -> np.ndarray:
        h = self.heading[sl]
        return np.where(np.isnan(h), self.cog[sl], h)

    @staticmethod
    def _tangents(ts, x, y, sog, cog):
        # finite-difference tangents (central inside, one-sided at the ends)
        gx = np.gradient(x, ts)
        gy = np.gradient(y, ts)
        ok = ~(np.isnan(sog) | np.isnan(cog))
        vx = np.where(ok, sog * np.sin(cog), gx)
        vy = np.where(ok, sog * np.cos(cog), gy)
        return np.nan_to_num(vx), np.nan_to_num(vy)


def build_tracks(
    messages: Iterable[AISMessage],
    *,
    gap_s: float = 600.0,
    max_speed_inland: float = 15.0,
    max_speed_other: float = 30.0,
) -> dict[int, Track]:
    """Tracks by MMSI from messages (any order; position reports are sorted by time per vessel).

    ``messages`` may be a stream (e.g. :meth:`AISIngestor.iter_source`): it is read once and no message
    object is kept, only six float64 numbers per position report (in a growable ``array``) and the static
    fields of each vessel, so memory grows with the number of positions, not with the messages.
    """
    pts: dict[int, array] = {}
    static: dict[int, dict] = {}
    inland: set[int] = set()
    owned: dict[int, set] = {}
    no_time: dict[int, int] = {}
    nan = float("nan")
    for m in messages:
        if m.kind == "position":
            if m.t is None:
                no_time[m.mmsi] = no_time.get(m.mmsi, 0) + 1
                continue
            a = pts.get(m.mmsi)
            if a is None:
                a = pts[m.mmsi] = array("d")
            a.extend((m.t, m.lat, m.lon, nan if m.sog is None else m.sog, nan if m.cog is None else m.cog,
                      nan if m.heading is None else m.heading))
        if m.kind in ("static", "inland_static") or (m.kind == "position" and m.msg_type == 19):
            st = static.setdefault(m.mmsi, {})
            own = owned.setdefault(m.mmsi, set())
            for k in _STATIC_KEYS:
                v = getattr(m, k)
                if v is None:
                    continue
                if m.kind == "inland_static":
                    st[k] = v
                    if k in ("length", "beam", "draught"):
                        own.add(k)
                elif k not in own:
                    st[k] = v
            if m.kind == "inland_static":
                inland.add(m.mmsi)
    tracks: dict[int, Track] = {}
    for mmsi in sorted(set(pts) | set(static) | set(no_time)):
        rej = dict.fromkeys(TRACK_REJECT_REASONS, 0)
        rej["no_time"] = no_time.get(mmsi, 0)
        vmax = max_speed_inland if mmsi in inland else max_speed_other
        raw = pts.pop(mmsi, None)
        arr = np.frombuffer(raw, dtype=np.float64).reshape(-1, 6) if raw is not None else np.zeros((0, 6))
        rows = arr[np.argsort(arr[:, 0], kind="stable")].tolist()
        del raw, arr
        kept: list[list] = []
        seg: list[int] = []
        cur = 0
        for r in rows:
            if kept:
                p = kept[-1]
                dt = r[0] - p[0]
                if dt <= 0:
                    rej["duplicate_time"] += 1
                    continue
                if dt > gap_s:
                    cur += 1
                else:
                    v = _dist_m(p[1], p[2], r[1], r[2]) / dt
                    rep = max((x for x in (p[3], r[3]) if not math.isnan(x)), default=0.0)
                    if v > max(2.0 * rep, vmax):
                        rej["speed_jump"] += 1
                        continue
            kept.append(r)
            seg.append(cur)
        a = np.array(kept, dtype=float).reshape(-1, 6)
        tracks[mmsi] = Track(
            mmsi=mmsi, t=a[:, 0].copy(), lat=a[:, 1].copy(), lon=a[:, 2].copy(), sog=a[:, 3].copy(),
            cog=a[:, 4].copy(), heading=a[:, 5].copy(), segment=np.array(seg, dtype=np.int64),
            static=static.get(mmsi, {}), inland=mmsi in inland, rejected=rej,
        )
    return tracks


def write_tracks_csv(tracks: dict[int, Track], path: str | os.PathLike) -> int:
    """Write all track points to ``path`` atomically (temp file + os.replace); returns the row count."""
    n = 0
    with atomic_open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["mmsi", "segment", "t", "lat", "lon", "sog_ms", "cog_rad", "heading_rad", "name"])
        for mmsi, tr in sorted(tracks.items()):
            name = tr.static.get("name", "")
            for i in range(len(tr)):
                w.writerow([mmsi, int(tr.segment[i]), repr(float(tr.t[i])), repr(float(tr.lat[i])),
                            repr(float(tr.lon[i])), _f(tr.sog[i]), _f(tr.cog[i]), _f(tr.heading[i]), name])
                n += 1
    return n


def _f(v) -> str:
    v = float(v)
    return "" if math.isnan(v) else repr(v)
