"""AIS out: send our vessels as AIVDM sentences to a UDP port or a file, at the ITU-R M.1371 intervals.

:class:`AISEmitter` keeps, per MMSI, the nominal time of the last position report and of the last
static report.  Each :meth:`AISEmitter.emit` call (simulation time ``t`` in seconds, any step size)
sends, for each vessel given:

* a type 1 position report when the class A interval of its current state has passed since its last
  nominal report time (:func:`testbed.ais.reporting.report_interval`: moored or at anchor and <= 3 kn
  180 s; 0-14 kn 10 s, 3 1/3 s when changing course (|ROT| > 5 deg per 30 s); 14-23 kn 6 s / 2 s;
  > 23 kn 2 s).  The next nominal time is the previous one plus the interval (or ``t`` when a report
  was more than one interval late), so a 3 1/3 s rate stepped in 1 s steps comes out at 4, 3, 3, 4 ...
  seconds, 3 1/3 s on average;
* type 5 (two sentences) and, for vessels with an ENI, type 8 DAC 200 FI 10 at first sight and every
  6 minutes after.

Every message starts with an NMEA 4.0 tag block ``\\c:<unix seconds>*hh\\`` (``epoch`` + ``t``); the
type 1 time stamp field is that time's UTC second.  Channels alternate A/B.  Targets:

* ``udp://HOST:PORT``: one datagram per message (its sentences joined by CRLF);
* a file path: lines are buffered and appended with one ``os.write`` of whole lines per flush (every
  ``flush_lines`` lines and at :meth:`AISEmitter.close`), so the file only ever holds complete
  lines and a crash loses at most the buffer; ``append=False`` (default) truncates the file first;
* ``None``: nothing is written; :meth:`AISEmitter.emit` returns the lines either way;
* a callable: called with each line.

**Pacing.** With ``pace=X`` each :meth:`AISEmitter.emit` call waits until simulation time runs at ``X`` times
real time (from the first call on); the simulation is never sped up, and a jump of more than
``max_jump_s`` (5 s) of simulation time between two calls (the pause between two episodes) is not
waited for. ``pace=None`` (the default of the class) sends at once. ``testbed run --emit`` paces UDP at
real time by default and leaves files unpaced (:func:`cli_pace`, ``--speed``). :meth:`AISEmitter.summary`
says what was sent, per message type.

:func:`state_to_ais` maps our state (local x, y in metres, GRID heading in radians, speeds in m/s)
to AIS fields with a map's frame (``frame.to_wgs84``, ``frame.grid_to_true``).
"""

from __future__ import annotations

import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from testbed.ais.encode import (
    NAV_AT_ANCHOR,
    NAV_MOORED,
    armor,
    payload_type1,
    payload_type5,
    payload_type8_fi10,
    sentences,
    tag_block,
)
from testbed.ais.reporting import report_interval

__all__ = ["AISStatic", "AISVessel", "AISEmitter", "state_to_ais", "position_interval", "STATIC_INTERVAL_S",
           "KN", "cli_pace"]

KN = 1852.0 / 3600.0  # m/s per knot
STATIC_INTERVAL_S = 360.0
DEFAULT_EPOCH = 1717200000  # 2024-06-01T00:00:00Z


@dataclass
class AISStatic:
    """Static and voyage data of a vessel (type 5 and inland FI 10).  Dimensions in metres from the GNSS
    antenna; ``eni`` None -> no FI 10 is sent (e.g. recreational craft)."""

    name: str = ""
    callsign: str = ""
    imo: int = 0
    ship_type: int = 0
    to_bow: int = 0
    to_stern: int = 0
    to_port: int = 0
    to_starboard: int = 0
    draught_m: float = 0.0
    destination: str = ""
    eta: tuple[int, int, int, int] = (0, 0, 24, 60)  # month, day, hour, minute
    eni: str | None = None
    eri_code: int = 8000
    length_m: float = 0.0
    beam_m: float = 0.0
    hazard: int = 5
    loaded: int = 0  # 1 loaded, 2 unloaded (IALA register)

    @classmethod
    def from_dimensions(cls, length_m: float, beam_m: float, antenna_from_stern_m: float | None = None,
                        **kw) -> AISStatic:
        """Reference point on the centre line, ``antenna_from_stern_m`` (default 10 % of the length)
        ahead of the stern; type 5 dimensions are whole metres, FI 10 length/beam 0.1 m."""
        a = 0.1 * length_m if antenna_from_stern_m is None else antenna_from_stern_m
        stern = int(round(a))
        port = int(beam_m // 2)
        return cls(to_bow=int(round(length_m)) - stern, to_stern=stern, to_port=port,
                   to_starboard=int(round(beam_m)) - port, length_m=length_m, beam_m=beam_m, **kw)


@dataclass(slots=True)
class AISVessel:
    """One vessel's AIS state: position in WGS84 degrees, SOG in knots, COG and heading TRUE degrees,
    ROT deg/min (+ to starboard), nav status (0 under way, 1 at anchor, 5 moored)."""

    mmsi: int
    lat: float
    lon: float
    sog_kn: float = 0.0
    cog_deg: float = 0.0
    heading_deg: float | None = None
    rot_deg_min: float | None = 0.0
    nav_status: int = 0
    maneuver: int = 0
    static: AISStatic = field(default_factory=AISStatic)


def cli_pace(target, speed: float | None) -> float | None:
    """The pacing of ``testbed run --emit TARGET [--speed X]``: ``X`` when given (0: unpaced), otherwise real
    time (1) for ``udp://`` and unpaced for a file."""
    if speed is not None:
        if speed < 0 or not math.isfinite(speed):
            raise ValueError(f"--speed must be >= 0 (0: as fast as possible), got {speed}")
        return speed or None
    return 1.0 if isinstance(target, str) and target.startswith("udp://") else None


def position_interval(sog_kn: float, rot_deg_min: float | None, nav_status: int) -> float:
    """Class A position report interval (s) for this state (ITU-R M.1371-5 Table 1)."""
    rot = 0.0 if rot_deg_min is None else math.radians(rot_deg_min) / 60.0
    return float(report_interval(sog_kn * KN, rot, False, nav_status in (NAV_AT_ANCHOR, NAV_MOORED)))


def state_to_ais(frame, x, y, heading_grid, sog_ms, cog_grid=None, rot_rad_s=None) -> dict[str, np.ndarray]:
    """Our state -> AIS fields.  ``frame`` is a :class:`harbour_maps.geodesy.LocalFrame` (or a
    HarbourMap, whose ``frame`` is taken); x, y local metres; headings GRID radians (0 = grid north,
    clockwise); ``cog_grid`` None -> the heading; speeds m/s, ``rot_rad_s`` rad/s (+ to starboard).
    Returns arrays ``lat``, ``lon`` (deg), ``sog_kn``, ``cog_deg``, ``heading_deg`` (TRUE, [0, 360)) and
    ``rot_deg_min`` (the grid -> true rotation is constant, so ROT is unchanged)."""
    frame = getattr(frame, "frame", frame)
    lon, lat = frame.to_wgs84(x, y)
    hdg = np.degrees(frame.grid_to_true(np.asarray(heading_grid, dtype=np.float64)))
    cog = hdg if cog_grid is None else np.degrees(frame.grid_to_true(np.asarray(cog_grid, dtype=np.float64)))
    rot = np.zeros_like(hdg) if rot_rad_s is None else np.degrees(np.asarray(rot_rad_s, dtype=np.float64)) * 60
    return {"lat": np.asarray(lat), "lon": np.asarray(lon), "sog_kn": np.asarray(sog_ms, dtype=np.float64) / KN,
            "cog_deg": np.mod(cog, 360.0), "heading_deg": np.mod(hdg, 360.0), "rot_deg_min": rot}


class AISEmitter:
    """Send vessels' AIS messages at the ITU-R M.1371 intervals (see the module docstring)."""

    def __init__(self, target=None, *, epoch: float = DEFAULT_EPOCH, tag_blocks: bool = True,
                 append: bool = False, flush_lines: int = 4096, static_interval_s: float = STATIC_INTERVAL_S,
                 pace: float | None = None, max_jump_s: float = 5.0):
        if pace is not None and not (pace > 0 and math.isfinite(pace)):
            raise ValueError(f"AIS pacing factor must be > 0 (or None: unpaced), got {pace}")
        self.pace = pace
        self.max_jump_s = float(max_jump_s)
        self._wall0: float | None = None
        self._t0 = self._last_t = 0.0
        self.target = target if isinstance(target, str | os.PathLike) else ("callback" if target else None)
        self.sentences = 0
        self.epoch = float(epoch)
        self.tag_blocks = tag_blocks
        self.static_interval_s = float(static_interval_s)
        self.flush_lines = int(flush_lines)
        self._pos_slot: dict[int, float] = {}
        self._static_due: dict[int, float] = {}
        self._static_cache: dict[int, tuple[AISStatic, str, int, str | None]] = {}
        self._seq = 0
        self._chan = 0
        self._buf: list[str] = []
        self._fd: int | None = None
        self._sock: socket.socket | None = None
        self._addr = None
        self._call = None
        self.counts = {1: 0, 5: 0, 8: 0}
        if target is None:
            pass
        elif callable(target):
            self._call = target
        elif isinstance(target, str) and target.startswith("udp://"):
            host, _, port = target[6:].rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"bad UDP target {target!r}; expected udp://HOST:PORT")
            self._addr = (host.strip("[]"), int(port))
            fam = socket.AF_INET6 if ":" in self._addr[0] else socket.AF_INET
            self._sock = socket.socket(fam, socket.SOCK_DGRAM)
        else:
            path = Path(target)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (0 if append else os.O_TRUNC)
            self._fd = os.open(path, flags, 0o644)

    # -- helpers ------------------------------------------------------------------------------------
    def _channel(self) -> str:
        self._chan ^= 1
        return "B" if self._chan == 0 else "A"

    def _statics(self, mmsi: int, st: AISStatic) -> tuple[str, int, str | None]:
        """Armoured type 5 / FI 10 payloads, cached until the AISStatic object or its contents change."""
        c = self._static_cache.get(mmsi)
        if c is not None and c[0] == st:
            return c[1], c[2], c[3]
        p5, f5 = armor(*payload_type5(mmsi, name=st.name, callsign=st.callsign, imo=st.imo,
                                      ship_type=st.ship_type, to_bow=st.to_bow, to_stern=st.to_stern,
                                      to_port=st.to_port, to_starboard=st.to_starboard,
                                      draught_m=st.draught_m, destination=st.destination, eta=st.eta))
        p8 = None
        if st.eni is not None:
            p8 = armor(*payload_type8_fi10(mmsi, eni=st.eni, length_m=st.length_m, beam_m=st.beam_m,
                                           eri_code=st.eri_code, hazard=st.hazard,
                                           draught_m=st.draught_m, loaded=st.loaded))[0]
        self._static_cache[mmsi] = (AISStatic(**st.__dict__), p5, f5, p8)
        return p5, f5, p8

    def _out(self, lines: list[str]) -> None:
        self.sentences += len(lines)
        if self._sock is not None:
            self._sock.sendto(("\r\n".join(lines) + "\r\n").encode("ascii"), self._addr)
        elif self._fd is not None:
            self._buf.extend(lines)
            if len(self._buf) >= self.flush_lines:
                self.flush()
        elif self._call is not None:
            for ln in lines:
                self._call(ln)

    # -- API ----------------------------------------------------------------------------------------
    def emit(self, t: float, vessels) -> list[str]:
        """Send what is due at simulation time ``t`` (s) for ``vessels`` (iterable of :class:`AISVessel`);
        returns the NMEA lines sent (tag blocks included, no line ends)."""
        if self.pace is not None:
            self._wait(t)
        unix = self.epoch + t
        tag = tag_block(unix) if self.tag_blocks else None
        second = int(math.floor(unix)) % 60
        out: list[str] = []
        for v in vessels:
            m = v.mmsi
            slot = self._pos_slot.get(m)
            sdue = self._static_due.get(m)
            if sdue is None or t >= sdue - 1e-9:
                p5, f5, p8 = self._statics(m, v.static)
                msg = sentences(p5, f5, channel=self._channel(), seq_id=self._seq, tag=tag)
                self._seq = (self._seq + 1) % 10
                out += msg
                self.counts[5] += 1
                self._out(msg)
                if p8 is not None:
                    msg = sentences(p8, 0, channel=self._channel(), tag=tag)
                    out += msg
                    self.counts[8] += 1
                    self._out(msg)
                self._static_due[m] = (t if sdue is None or t - sdue >= self.static_interval_s else sdue) \
                    + self.static_interval_s
            if slot is not None:
                iv = position_interval(v.sog_kn, v.rot_deg_min, v.nav_status)
                due = slot + iv
                if t < due - 1e-9:
                    continue
                self._pos_slot[m] = due if t - due < iv else t
            else:
                self._pos_slot[m] = t
            msg = sentences(*armor(*payload_type1(m, v.lat, v.lon, sog_kn=v.sog_kn, cog_deg=v.cog_deg,
                                                  heading_deg=v.heading_deg, rot_deg_min=v.rot_deg_min,
                                                  status=v.nav_status, second=second, maneuver=v.maneuver)),
                            channel=self._channel(), tag=tag)
            out += msg
            self.counts[1] += 1
            self._out(msg)
        return out

    def _wait(self, t: float) -> None:
        now = time.monotonic()
        if self._wall0 is None or t < self._last_t or t - self._last_t > self.max_jump_s:
            self._wall0, self._t0 = now, t  # first call, or a jump (next episode): start the clock again
        else:
            wait = self._wall0 + (t - self._t0) / self.pace - now
            if wait > 0:
                time.sleep(wait)
        self._last_t = t

    def summary(self) -> str:
        """One line: what was sent where, per message type."""
        c = self.counts
        where = f" to {os.fspath(self.target)}" if self.target is not None else ""
        pace = f", paced at {self.pace:g}x real time" if self.pace is not None else ", unpaced"
        return (f"AIS sent{where}: {c[1]} type 1 (position), {c[5]} type 5 (static), {c[8]} type 8 "
                f"(DAC 200 FI 10 inland static); {self.sentences} sentences{pace}")

    def forget(self, mmsi: int) -> None:
        """Drop a vessel's schedule (it left); it is 'first seen' again if it comes back."""
        self._pos_slot.pop(mmsi, None)
        self._static_due.pop(mmsi, None)
        self._static_cache.pop(mmsi, None)

    def flush(self) -> None:
        """Append the buffered lines to the file (one write of whole lines)."""
        if self._fd is not None and self._buf:
            data = ("\n".join(self._buf) + "\n").encode("ascii")
            self._buf.clear()
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]

    def close(self) -> None:
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> AISEmitter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
