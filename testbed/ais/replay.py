"""AIS replay: recorded tracks packed for the compiled traffic step.

:func:`pack_tracks` converts decoded tracks (:mod:`testbed.ais.tracks`) into the map's local metric frame:
positions via the map's :class:`~harbour_maps.geodesy.LocalFrame`, SOG/COG into a grid-frame ground
velocity, true headings into grid headings. :func:`replay_kernel` places each replayed vessel at the
replay time ``t_file = start + speedup * t_sim`` by cubic Hermite interpolation between its samples
(the reported ground velocities are the tangents, so the path is smooth and passes through every
report); its heading is the reported heading where there is one, else the direction of motion, and it
is inactive outside its track's time span.

Reactive mode (:func:`handover_kernel`): a replayed vessel whose CPA with an ego would fall below
``handover_cpa_m`` beyond the two half lengths within ``handover_tcpa_s`` is handed over to the scripted
traffic model (it keeps its position and heading, takes its speed through the water, joins the nearest
lane and from then on follows the lanes and the rules like scripted traffic; small craft keep their
bank-side offset); it is never handed back in that episode, and leaves the simulation at its lane's end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np


@dataclass
class PackedTracks:
    t: np.ndarray  # (S,) file time [s]
    x: np.ndarray  # (S,) local metres
    y: np.ndarray
    vx: np.ndarray  # (S,) ground velocity, grid frame [m/s]
    vy: np.ndarray
    psi: np.ndarray  # (S,) grid heading [rad], NaN where not reported
    start: np.ndarray  # (V + 1,) sample offsets of each track
    length: np.ndarray  # (V,) metres
    beam: np.ndarray
    type_ids: list[str]  # catalogue type of each track
    mmsi: np.ndarray  # (V,)
    names: list[str]

    @property
    def n_tracks(self) -> int:
        return len(self.start) - 1

    def span(self) -> tuple[float, float]:
        return float(self.t.min()), float(self.t.max())


def pack_tracks(tracks, frame, default_length: float = 85.0, default_beam: float = 9.5) -> PackedTracks:
    """Pack ``tracks`` (each with arrays ``t``, ``lat``, ``lon``, ``sog`` [m/s], ``cog`` [rad true],
    ``heading`` [rad true, NaN where unknown] and static ``mmsi``, ``name``, ``length``, ``beam``,
    ``ship_type``, ``eri``) into the local frame of ``frame``."""
    from vessels import catalogue

    cols: dict[str, list] = {k: [] for k in ("t", "x", "y", "vx", "vy", "psi")}
    start, length, beam, type_ids, mmsi, names = [0], [], [], [], [], []
    gamma = frame.convergence_rad
    for tr in tracks:
        t = np.asarray(tr.t, dtype=np.float64)
        if t.size < 2:
            continue
        x, y = frame.to_local(np.asarray(tr.lon, dtype=np.float64), np.asarray(tr.lat, dtype=np.float64))
        sog = np.nan_to_num(np.asarray(tr.sog, dtype=np.float64), nan=0.0)
        cog = np.asarray(tr.cog, dtype=np.float64)
        # where COG is missing, take the direction of the track itself
        d = np.gradient(np.column_stack([x, y]), t, axis=0)
        cog_grid = np.where(np.isfinite(cog), cog - gamma, np.arctan2(d[:, 0], d[:, 1]))
        hdg = np.asarray(tr.heading, dtype=np.float64) - gamma
        cols["t"].append(t)
        cols["x"].append(np.asarray(x, dtype=np.float64))
        cols["y"].append(np.asarray(y, dtype=np.float64))
        cols["vx"].append(sog * np.sin(cog_grid))
        cols["vy"].append(sog * np.cos(cog_grid))
        cols["psi"].append(hdg)
        start.append(start[-1] + t.size)
        vt = None
        if getattr(tr, "eri", None):
            try:
                vt = catalogue.from_eri_code(int(tr.eri))
            except (ValueError, KeyError):
                vt = None
        if vt is None and getattr(tr, "ship_type", None):
            try:
                vt = catalogue.from_ais_ship_type(int(tr.ship_type))
            except (ValueError, KeyError):
                vt = None
        vt = vt or catalogue.get("M8")
        ln = getattr(tr, "length", None)
        bm = getattr(tr, "beam", None)
        length.append(float(ln) if ln and ln > 0 else (vt.L_oa if vt else default_length))
        beam.append(float(bm) if bm and bm > 0 else (vt.B if vt else default_beam))
        type_ids.append(vt.id)
        mmsi.append(int(tr.mmsi))
        names.append(str(getattr(tr, "name", "") or ""))
    if len(start) == 1:
        raise ValueError("no track with at least two positions to replay")
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    return PackedTracks(cat["t"], cat["x"], cat["y"], cat["vx"], cat["vy"], cat["psi"],
                        np.asarray(start, dtype=np.int64), np.asarray(length), np.asarray(beam), type_ids,
                        np.asarray(mmsi, dtype=np.int64), names)  # fmt: skip


@numba.njit(cache=True)
def replay_kernel(E, T, t_sim, t_start, speedup, track_of, cursor, pt, px, py, pvx, pvy, ppsi, pstart,
                  mode, x, y, psi, u, active, cur):  # fmt: skip
    """Place every replayed vessel (mode 1) at its track position at the replay time of its env."""
    for e in range(E):
        tf = t_start[e] + speedup * t_sim[e]
        for j in range(T):
            i = e * T + j
            if mode[i] != 1:
                continue
            k = track_of[i]
            if k < 0:
                active[i] = 0
                continue
            a = pstart[k]
            b = pstart[k + 1]
            if tf < pt[a] or tf > pt[b - 1]:
                active[i] = 0
                x[i] = 1e9
                y[i] = 1e9
                u[i] = 0.0
                continue
            c = max(cursor[i], a)
            while c + 2 < b and pt[c + 1] < tf:
                c += 1
            while c > a and pt[c] > tf:
                c -= 1
            cursor[i] = c
            h = pt[c + 1] - pt[c]
            s = (tf - pt[c]) / h if h > 1e-9 else 0.0
            s2 = s * s
            s3 = s2 * s
            h00 = 2 * s3 - 3 * s2 + 1
            h10 = s3 - 2 * s2 + s
            h01 = -2 * s3 + 3 * s2
            h11 = s3 - s2
            x[i] = h00 * px[c] + h10 * h * pvx[c] + h01 * px[c + 1] + h11 * h * pvx[c + 1]
            y[i] = h00 * py[c] + h10 * h * pvy[c] + h01 * py[c + 1] + h11 * h * pvy[c + 1]
            # velocity: derivative of the Hermite curve
            d00 = (6 * s2 - 6 * s) / h if h > 1e-9 else 0.0
            d10 = 3 * s2 - 4 * s + 1
            d01 = -d00
            d11 = 3 * s2 - 2 * s
            vx = d00 * px[c] + d10 * pvx[c] + d01 * px[c + 1] + d11 * pvx[c + 1]
            vy = d00 * py[c] + d10 * pvy[c] + d01 * py[c + 1] + d11 * pvy[c + 1]
            sp = math.sqrt(vx * vx + vy * vy)
            h0 = ppsi[c]
            h1 = ppsi[c + 1]
            if h0 == h0 and h1 == h1:  # reported headings: interpolate on the circle
                dpsi = (h1 - h0 + math.pi) % (2.0 * math.pi) - math.pi
                psi[i] = h0 + s * dpsi
            elif sp > 0.3:
                psi[i] = math.atan2(vx, vy)
            u[i] = sp
            # u along the heading plus this "current" reproduces the recorded ground velocity exactly
            cur[i, 0] = vx - sp * math.sin(psi[i])
            cur[i, 1] = vy - sp * math.cos(psi[i])
            active[i] = 1


@numba.njit(cache=True)
def handover_kernel(E, T, KA, x, y, psi, u, cur, length, active, mode, ex, ey, epsi, eu, ev, ecur, elen, eact,
                    handover_cpa, handover_tcpa, handed):  # fmt: skip
    """Reactive mode: hand every replayed vessel (mode 1) whose closest approach to one of the env's KA egos
    would fall below ``handover_cpa`` beyond the two half lengths within ``handover_tcpa`` seconds over to the
    scripted model (mode 0, ``handed`` 1). Ground velocities: the replayed ``u`` along the heading plus
    ``cur`` (the recorded ground velocity), the ego's through the water plus its current."""
    for e in range(E):
        for j in range(T):
            i = e * T + j
            if mode[i] != 1 or active[i] == 0:
                continue
            vx = u[i] * math.sin(psi[i]) + cur[i, 0]
            vy = u[i] * math.cos(psi[i]) + cur[i, 1]
            for k in range(KA):
                m = e * KA + k
                if eact[m] == 0:
                    continue
                ovx = eu[m] * math.sin(epsi[m]) + ev[m] * math.cos(epsi[m]) + ecur[m, 0]
                ovy = eu[m] * math.cos(epsi[m]) - ev[m] * math.sin(epsi[m]) + ecur[m, 1]
                rx = x[i] - ex[m]
                ry = y[i] - ey[m]
                dvx = vx - ovx
                dvy = vy - ovy
                dv2 = dvx * dvx + dvy * dvy
                tc = -(rx * dvx + ry * dvy) / dv2 if dv2 > 1e-9 else 0.0
                if 0.0 <= tc <= handover_tcpa:
                    cx = rx + dvx * tc
                    cy = ry + dvy * tc
                    if math.sqrt(cx * cx + cy * cy) < handover_cpa + 0.5 * (length[i] + elen[m]):
                        mode[i] = 0  # handed over to the scripted model from the next step on
                        handed[i] = 1
                        break


DATA_DIR = __import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "ais"


def recording_path(name_or_path: str):
    """A shipped recording (``testbed/data/ais/<name>.nmea`` or ``.nmea.gz``) or a file path."""
    from pathlib import Path

    p = Path(name_or_path)
    if p.suffix in (".nmea", ".gz", ".txt", ".ais", ".aivdm") or p.exists():
        if not p.exists():
            raise FileNotFoundError(f"AIS recording {str(p)!r} does not exist")
        return p
    for suffix in (".nmea", ".nmea.gz"):
        q = DATA_DIR / f"{name_or_path}{suffix}"
        if q.exists():
            return q
    known = sorted(f.name.split(".")[0] for f in DATA_DIR.glob("*.nmea*"))
    raise FileNotFoundError(f"unknown AIS recording {name_or_path!r}; shipped: {', '.join(known)}")


class _Segment:
    """One gap-free segment of a decoded track, with the static data of its vessel."""

    def __init__(self, track, sl: slice) -> None:
        st = track.static
        self.mmsi = track.mmsi
        self.t, self.lat, self.lon = track.t[sl], track.lat[sl], track.lon[sl]
        self.sog, self.cog, self.heading = track.sog[sl], track.cog[sl], track.heading[sl]
        self.name = st.get("name") or ""
        self.length = st.get("length")
        self.beam = st.get("beam")
        self.ship_type = st.get("ship_type")
        self.eri = st.get("eri_type")


_CACHE: dict = {}


def load_replay(name_or_path: str, hmap) -> PackedTracks:
    """Decode a recording through the same ingestion path as a live feed (:mod:`testbed.ais.ingest`),
    build its tracks (:mod:`testbed.ais.tracks`) and pack every gap-free segment for replay on
    ``hmap``. Cached per process by (file, size, mtime, map)."""
    from testbed.ais.ingest import ingest
    from testbed.ais.tracks import build_tracks

    path = recording_path(name_or_path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, hmap.name, hmap.sha256)
    if key not in _CACHE:
        msgs, _report = ingest(str(path))
        tracks = build_tracks(msgs)
        segs = [_Segment(tr, sl) for tr in tracks.values() for sl in tr.segment_slices() if sl.stop - sl.start >= 2]
        _CACHE[key] = pack_tracks(segs, hmap.frame)
    return _CACHE[key]
