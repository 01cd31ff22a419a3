"""Streaming AIS ingestion: lines -> checked, reassembled, decoded and normalised messages, with accounting.

Use::

    ing = AISIngestor(assume_rate_hz=None)
    for msg in ing.iter_source("log.nmea.gz"):      # or iter_lines(lines), or "udp://0.0.0.0:10110"
        ...
    print(ing.report)                                # Report: lines_read, used, rejected, messages_by_type

or ``messages, report = ingest(source)``. Line formats are described in :mod:`testbed.ais.nmea`.

**Accounting.** Every input line is counted exactly once, either as *used* (it contributed to a yielded
message; all fragments of a successfully assembled multipart message count as used) or *rejected* with
one reason, checked in this order:

* ``non_ais``: blank lines, comments, other NMEA sentences (``$GPGGA`` ...), garbage, and the Gatehouse
  ``$PGHP`` wrapper lines (they are not AIS messages; a valid one gives its time to the next AIS sentence);
* ``bad_checksum``: an AIS sentence (or ``$PGHP`` line) whose checksum is missing or wrong;
* ``decode_error``: a sentence with a valid checksum but malformed fields (field count, fragment numbers,
  fill bits), or a payload pyais cannot decode;
* ``bad_payload``: a payload character outside the 64 characters of the 6-bit armouring (``0``..``W``,
  ```` ` ````..``w``), e.g. a NUL or a space: the bits would be wrong (a wrong MMSI), so the line is dropped;
* ``empty_payload``: an AIS sentence (or fragment) with no payload;
* ``incomplete_multipart``: fragments that never formed a whole message: a fragment whose first
  fragment never came, a fragment that repeats, a message replaced by a new fragment 1 with the same
  key, or still open at the end of the stream;
* ``multipart_expired``: the fragments of a message that was not complete within ``multipart_max_lines``
  lines (default 10) or ``multipart_timeout_s`` seconds (default 10, compared within one station) of its
  first fragment. Fragments are matched by the full key: channel, sequence id, fragment count, and,
  where the lines carry them, the tag block's station ``s:`` and group ``g:``; the window is what keeps
  fragment 1 of one message from being joined with fragment 2 of a later message that reuses the key;
* ``duplicate``: a message (single sentence, or the assembled payload of a multipart message) whose
  payload and fill bits were already seen within ``dup_window_s`` seconds (when both lines carry a real
  receive time) or within ``dup_window_lines`` lines (otherwise), e.g. received by two stations;
* ``unsupported_type``: message types other than 1, 2, 3, 4, 5, 8 (DAC 200 FI 10 and FI 55 only), 18, 19,
  24 and 27; also unknown types;
* ``bad_length``: the message's bit count is not the one ITU-R M.1371 defines for its type (see
  :data:`BIT_LENGTHS`: 168 for 1/2/3, 4 and 18, 420..426 for 5, 312 for 19, 160 or 168 for 24A, 168 for 24B,
  96 or 168 for 27, at least 56 for 8 and 168 for its inland FI 10, at least 85 for FI 55). pyais pads
  short payloads with zeros, so a short message would be decoded into invented values;
* ``out_of_range``: a position report (1, 2, 3, 18, 19, 27) without a valid position (latitude 91 / longitude
  181 "not available", or outside +-90/+-180). Decision: such a report is *rejected*, not passed on as a
  partial record, so that every yielded position report has a position; the other not-available fields
  (SOG 102.3 kn, COG 360, heading 511, time stamp 60-63, ROT -128) just become None. An inland FI 10
  message with an ERI type outside 1000..9999 or a hazard code above 5 is ``out_of_range`` as well.

``Report.check()`` asserts ``lines_read == used + sum(rejected) + pending`` (``pending`` are fragment lines
still waiting in the multipart buffers; 0 after the end of a stream). Ingestion never raises on any line.

**Warnings** (``Report.warnings``) are counted separately and are *not* rejections: ``tag_block`` counts
lines whose tag block was malformed (wrong checksum, no closing backslash, a ``c:``/``g:`` that does not
parse) while the sentence behind it was read normally (and then used or rejected on its own merits).

**Loaded code (inland FI 10).** ``loaded`` is True for code 1, False for code 2, None for 0 and 3, as in
the IALA ASM register ("Inland ship static and voyage related data", ECE/TRANS/SC.3/176): 1 = loaded,
2 = unloaded. pyais 3.3.1 agrees (``InlandLoadedType.Loaded == 1``); gpsd (and its sample file's comment
"Loaded: 1 Unloaded") has the two swapped. The raw code is kept in ``loaded_code``.

**Units of the records** (:class:`AISMessage`): lat/lon degrees WGS84, ``sog`` m/s, ``cog`` and ``heading``
radians clockwise from north in [0, 2 pi), ``rot`` degrees per minute as pyais converts it (None for -128
"not available" and for +-127 "turning, no turn indicator"), lengths metres, ``t`` unix seconds.

**Times.** From the tag block ``c:``, a receiver timestamp in front of the line, a unix time in the
trailing fields or the preceding ``$PGHP`` line; otherwise, when ``assume_rate_hz`` is set,
``start_time + line_index / assume_rate_hz`` (``time_source="rate"``); otherwise None. A multipart
message takes the time of its first fragment that has one.

**Sources** (:func:`open_lines`): a path (plain or gzip, detected by the magic bytes), ``-`` (stdin), an
iterable of lines (bytes or str; each item is one line), ``udp://host:port`` (listens there) and
``tcp://host:port`` (connects there). Files, stdin and streams may end their lines with ``\\n``, ``\\r\\n`` or a
bare ``\\r`` (old Mac style), even mixed. A path that cannot be read (missing, a directory, no permission)
raises :class:`AISSourceError` when the source is opened; a gzip file that is truncated or corrupt
raises it where the data ends, naming the compressed byte offset and the lines read before; the
ingestor's ``report`` then holds the accounting of those lines. Live sources stop when ``stop`` (a
``threading.Event``) is set, after ``idle_timeout`` seconds without data, or (TCP) when the peer closes.

Memory is constant: the multipart buffers expire and the duplicate window is bounded.
"""

from __future__ import annotations

import calendar
import gzip
import math
import os
import socket
import sys
import threading
import zlib
from binascii import a2b_base64
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pyais.bit_vector import _ARMOR_TO_B64
from pyais.constants import ManeuverIndicator, NavigationStatus
from pyais.messages import MSG_CLASS, NMEAMessage, to_turn

from testbed.ais.nmea import (
    KIND_AIS,
    KIND_BAD_CHECKSUM,
    KIND_GATEHOUSE,
    TIME_RATE,
    parse_line,
)

__all__ = [
    "REASONS",
    "AISMessage",
    "Report",
    "AISIngestor",
    "ingest",
    "open_lines",
    "parse_source_url",
    "AISSourceError",
    "split_lines",
    "WARNINGS",
    "BIT_LENGTHS",
    "ARMOUR_CHARS",
]

REASONS = (
    "bad_checksum",
    "incomplete_multipart",
    "multipart_expired",
    "empty_payload",
    "bad_payload",
    "bad_length",
    "unsupported_type",
    "out_of_range",
    "duplicate",
    "non_ais",
    "decode_error",
)
WARNINGS = ("tag_block",)

# The 64 characters of the AIS 6-bit payload armouring: "0".."W" and "`".."w" (ITU-R M.1371, IEC 61162-1).
ARMOUR_CHARS = bytes(range(48, 88)) + bytes(range(96, 120))

# Bit lengths (ITU-R M.1371-5) of the message types we decode: (min, max) inclusive.
# 1/2/3, 4, 18: 168 exactly; 19: 312. 27: 96, or 168 (a full slot: gpsd's sample notes "it's apparently
# more common for these to be 168 bits long"; gpsd accepts 96..168, libais only 96). Type 5 is 424 bits, but
# "a lot of transmitters in the wild ship with a length of 420 or 422" (gpsd, which accepts >= 420;
# pyais decodes anything): we accept 420..426 (426 = the 71 payload characters with 0 fill bits).
# 24 (checked after reading the part number): part A 160, or 168 as many transmitters pad it to the
# part B length (gpsd accepts both); part B 168. Type 8: at least the 56-bit header (DAC, FI); the
# inland FIs are checked against their own lengths in _decode.
BIT_LENGTHS = {1: (168, 168), 2: (168, 168), 3: (168, 168), 4: (168, 168), 5: (420, 426), 8: (56, 1008),
               18: (168, 168), 19: (312, 312), 24: (160, 168), 27: (96, 168)}
_LENGTH_HOLES = {24: frozenset(range(161, 168)), 27: frozenset(range(97, 168))}  # inside (min, max) but wrong

KN = 1852.0 / 3600.0
TWO_PI = 2.0 * math.pi
DEG = math.pi / 180.0
POSITION_TYPES = frozenset((1, 2, 3, 18, 19, 27))
SUPPORTED_TYPES = frozenset((1, 2, 3, 4, 5, 8, 18, 19, 24, 27))


@dataclass(slots=True)
class AISMessage:
    """One normalised AIS message. Fields a message type does not carry are None.

    ``kind``: ``position`` (1, 2, 3, 18, 19, 27), ``base_station`` (4), ``static`` (5, 24A, 24B),
    ``inland_static`` (8 / DAC 200 / FI 10), ``persons`` (8 / DAC 200 / FI 55).
    """

    msg_type: int
    mmsi: int
    kind: str
    t: float | None = None
    time_source: str | None = None
    channel: str | None = None
    station: str | None = None
    line: int = 0  # 0-based index of the (first) input line
    # position reports
    lat: float | None = None
    lon: float | None = None
    sog: float | None = None  # m/s
    cog: float | None = None  # rad
    heading: float | None = None  # rad
    rot: float | None = None  # deg/min
    nav_status: int | None = None
    second: int | None = None
    accuracy: bool | None = None
    maneuver: int | None = None  # special manoeuvre indicator: 0 n/a, 1 no, 2 engaged (blue sign)
    blue_sign: bool | None = None
    # base station
    utc: float | None = None
    # static (5, 19, 24, inland)
    name: str | None = None
    callsign: str | None = None
    ship_type: int | None = None
    to_bow: int | None = None
    to_stern: int | None = None
    to_port: int | None = None
    to_starboard: int | None = None
    length: float | None = None
    beam: float | None = None
    draught: float | None = None
    destination: str | None = None
    imo: int | None = None
    part: str | None = None  # "A" / "B" for type 24
    # inland FI 10
    eni: str | None = None
    eri_type: int | None = None
    hazard: int | None = None  # 0-3 blue cones, 4 B-flag; None for 5 (unknown)
    loaded: bool | None = None
    loaded_code: int | None = None
    # inland FI 55
    crew: int | None = None
    passengers: int | None = None
    personnel: int | None = None

    def to_dict(self, drop_none: bool = True) -> dict[str, Any]:
        d = asdict(self)
        return {k: v for k, v in d.items() if v is not None} if drop_none else d


@dataclass
class Report:
    """Accounting of one ingestion run."""

    lines_read: int = 0
    used: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    messages_by_type: dict[int, int] = field(default_factory=dict)
    pending: int = 0
    warnings: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WARNINGS, 0))

    @property
    def messages(self) -> int:
        return sum(self.messages_by_type.values())

    def check(self) -> None:
        total = self.used + sum(self.rejected.values()) + self.pending
        assert total == self.lines_read, f"AIS accounting broken: {total} counted != {self.lines_read} read"

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines_read": self.lines_read,
            "used": self.used,
            "rejected": dict(self.rejected),
            "rejected_total": sum(self.rejected.values()),
            "pending": self.pending,
            "messages": self.messages,
            "messages_by_type": {str(k): v for k, v in sorted(self.messages_by_type.items())},
            "warnings": dict(self.warnings),
        }


class _Partial:
    __slots__ = ("frags", "first_line", "t", "src", "station", "group", "nlines")

    def __init__(self, first_line: int, station: str | None, group: str | None):
        self.frags: dict[int, NMEAMessage] = {}
        self.first_line = first_line
        self.t: float | None = None
        self.src: str | None = None
        self.station = station
        self.group = group
        self.nlines = 0

    def matches(self, station: str | None, group: str | None) -> bool:
        """Same source: station and tag-block group agree wherever both lines carry them."""
        return (self.station is None or station is None or self.station == station) and (
            self.group is None or group is None or self.group == group)


def _bits(payload: bytes, fill: int) -> tuple[int, int]:
    """The payload as an integer and its bit count."""
    v = 0
    for c in payload:
        c -= 48
        if c > 40:
            c -= 8
        v = (v << 6) | (c & 0x3F)
    n = 6 * len(payload)
    return v >> fill, n - fill


def _raw(nm: NMEAMessage, start: int, width: int) -> int | None:
    """Raw unsigned field (pyais's ShipType enum folds reserved codes, e.g. 28 -> 25)."""
    v, n = _bits(nm.payload, nm.fill_bits)
    if start + width > n:
        return None
    return (v >> (n - start - width)) & ((1 << width) - 1)


def _str(v: Any) -> str | None:
    if not isinstance(v, str):
        return None
    v = v.replace("@", " ").strip()
    return v or None


def _pos(lat: Any, lon: Any) -> tuple[float | None, float | None]:
    if lat is None or lon is None or not (-90.0 <= lat <= 90.0) or not (-180.0 <= lon <= 180.0):
        return None, None
    return float(lat), float(lon)


# ---------------------------------------------------------------------- fast path tables
# The common line, a single-fragment 168-bit position report (types 1, 2, 3, 18) without tag block,
# timestamp or trailing fields, is checked and decoded directly from the payload bits in
# AISIngestor.process_line. Every value is computed with pyais's own converters (tabulated here over
# all raw values), so the records are identical to those of the pyais path (tests/ais verify it on every
# position message of the real files). Anything else goes through parse_line + pyais.
_FAST_TYPES = {ord("1"): 1, ord("2"): 2, ord("3"): 3, ord("B"): 18}  # first payload char -> type
_FAST_CHANNELS = {b"A": "A", b"B": "B", b"1": "1", b"2": "2", b"": ""}
_FAST_SEQ = frozenset((b"", b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9"))
_HEX2 = {f"{a}{b}".encode(): int(f"{a}{b}", 16) for a in "0123456789abcdefABCDEF" for b in "0123456789abcdefABCDEF"}


def _rot_value(raw: int) -> float | None:
    r = to_turn(raw - 256 if raw > 127 else raw)
    return float(r) if r is not None and abs(r) < 127 else None


def _sog_value(raw: int) -> float | None:
    sp = raw / 10.0
    return sp * KN if 0 <= sp <= 102.2 else None


def _cog_value(raw: int) -> float | None:
    c = raw / 10.0
    return c * DEG if 0 <= c < 360 else None


_ROT = tuple(_rot_value(r) for r in range(256))
_SOG = tuple(_sog_value(r) for r in range(1024))
_COG = tuple(_cog_value(r) for r in range(4096))
_HDG = tuple(h * DEG if h < 360 else None for h in range(512))
_SEC = tuple(s if s < 60 else None for s in range(64))
_NAV = tuple(int(NavigationStatus.from_value(s)) for s in range(16))
_MAN = tuple(int(ManeuverIndicator.from_value(m)) for m in range(4))
_BLUE = tuple(True if m == 2 else (False if m == 1 else None) for m in _MAN)


class AISIngestor:
    """Streaming ingestor; see the module docstring for the rules. Not thread safe."""

    def __init__(
        self,
        *,
        assume_rate_hz: float | None = None,
        start_time: float = 0.0,
        dup_window_s: float = 5.0,
        dup_window_lines: int = 50,
        multipart_max_lines: int = 10,
        multipart_timeout_s: float = 10.0,
    ):
        if assume_rate_hz is not None and not assume_rate_hz > 0:
            raise ValueError(f"assume_rate_hz must be > 0, got {assume_rate_hz}")
        self.assume_rate_hz = assume_rate_hz
        self.start_time = float(start_time)
        self.dup_window_s = float(dup_window_s)
        self.dup_window_lines = int(dup_window_lines)
        self.multipart_max_lines = int(multipart_max_lines)
        self.multipart_timeout_s = float(multipart_timeout_s)
        self.report = Report()
        self._partials: dict[tuple, list[_Partial]] = {}
        self._seen: dict[bytes, tuple[int, float | None]] = {}
        self._seen_q: deque[tuple[bytes, int]] = deque()
        self._gh_time: float | None = None
        self._counted = False

    # ------------------------------------------------------------------ accounting
    def _reject(self, reason: str, n: int = 1) -> None:
        self.report.rejected[reason] += n
        self._counted = True

    def _use(self, msg: AISMessage, n: int) -> AISMessage:
        rep = self.report
        rep.used += n
        mbt = rep.messages_by_type
        mbt[msg.msg_type] = mbt.get(msg.msg_type, 0) + 1
        self._counted = True
        return msg

    # ------------------------------------------------------------------ streaming API
    def iter_lines(self, lines: Iterable[bytes | str]) -> Iterator[AISMessage]:
        """Yield the messages of ``lines``; at the end, open multipart buffers count as incomplete.

        When the source fails (:class:`AISSourceError`, e.g. a truncated gzip) or the user interrupts
        (``KeyboardInterrupt``), the accounting of the lines read so far is closed the same way (open
        fragments count as incomplete) before the exception propagates, so ``report`` still adds up.
        """
        process = self.process_line
        try:
            for line in lines:
                m = process(line)
                if m is not None:
                    yield m
        except BaseException:
            rep = self.report
            if rep.used + sum(rep.rejected.values()) + rep.pending == rep.lines_read - 1:
                rep.lines_read -= 1  # interrupted inside process_line: that line was not taken
            self.flush(check=False)
            raise
        self.flush()

    def iter_source(self, source: Any, **kwargs: Any) -> Iterator[AISMessage]:
        """:meth:`iter_lines` over :func:`open_lines` ``(source, **kwargs)``."""
        return self.iter_lines(open_lines(source, **kwargs))

    def flush(self, check: bool = True) -> None:
        """Count all open multipart buffers as ``incomplete_multipart`` and check the accounting."""
        for lst in self._partials.values():
            for p in lst:
                self.report.pending -= p.nlines
                self.report.rejected["incomplete_multipart"] += p.nlines
        self._partials.clear()
        if check:
            self.report.check()

    def process_line(self, line: bytes | str) -> AISMessage | None:
        """Account one line; return the message it completes, if any. Never raises."""
        rep = self.report
        idx = rep.lines_read
        rep.lines_read = idx + 1
        self._counted = False
        try:
            if line.__class__ is bytes and self._gh_time is None:
                m = self._fast(line, idx)
                if m is not self:
                    return m
            return self._process(line, idx)
        except Exception:  # noqa: BLE001 - never raise on input
            if not self._counted:
                rep.rejected["decode_error"] += 1
            return None

    # ------------------------------------------------------------------ internals
    def _fast(self, line: bytes, idx: int) -> Any:
        """The common single-fragment position report; returns ``self`` (nothing done) for any other line.

        Equivalent to ``_process``: it only takes lines for which parse_line gives ``ais`` without a time
        or station and pyais's NMEAMessage would accept the sentence (ASCII, fragment 1 of 1, 0 fill bits,
        28 payload characters = 168 bits).
        """
        s = line.strip()
        n = len(s)
        if not (20 < n < 128 and s[0] == 33 and s.find(b"*", 7) == n - 3 and s[3:7] in (b"VDM,", b"VDO,")):
            return self
        ck = _HEX2.get(s[-2:])
        if ck is None or not s.isascii():
            return self
        # NMEA checksum: XOR of the bytes between '!' and '*'. Folding the little-endian integer of the
        # (< 128) bytes by 512, 256, ..., 8 bits XORs every byte into the lowest one exactly once.
        x = int.from_bytes(s[1:-3], "little")
        if n > 68:
            x ^= x >> 512
        x ^= x >> 256
        x ^= x >> 128
        x ^= x >> 64
        x ^= x >> 32
        x ^= x >> 16
        x ^= x >> 8
        if x & 255 != ck:
            return self
        f = s.split(b",")
        if len(f) != 7:
            return self
        _, f1, f2, f3, ch, payload, f6 = f
        if f1 != b"1" or f2 != b"1" or len(payload) != 28 or f6[0] != 48 or len(f6) != 4 or f3 not in _FAST_SEQ:
            return self
        mtype = _FAST_TYPES.get(payload[0])
        channel = _FAST_CHANNELS.get(ch)
        if mtype is None or channel is None or payload.translate(None, ARMOUR_CHARS):
            return self
        # from here on this is the line's only path
        if self._partials:
            self._expire(idx, None, None)
        rep = self.report
        # duplicate check (as _is_duplicate with no receive time)
        key = payload + b"0"
        seen = self._seen
        q = self._seen_q
        dwl = self.dup_window_lines
        horizon = dwl if dwl > 1000 else 1000
        while q and idx - q[0][1] > horizon:
            k, i = q.popleft()
            if seen.get(k, (None,))[0] == i:
                del seen[k]
        prev = seen.get(key)
        if prev is not None and idx - prev[0] <= dwl:
            rep.rejected["duplicate"] += 1
            self._counted = True
            return None
        seen[key] = (idx, None)
        q.append((key, idx))
        v = int.from_bytes(a2b_base64(payload.translate(_ARMOR_TO_B64)), "big")
        if mtype == 18:
            sh = 4
            lon = (v >> 83) & 0xFFFFFFF
            lat = (v >> 56) & 0x7FFFFFF
        else:
            sh = 0
            lon = (v >> 79) & 0xFFFFFFF
            lat = (v >> 52) & 0x7FFFFFF
        if lon & 0x8000000:
            lon -= 0x10000000
        if lat & 0x4000000:
            lat -= 0x8000000
        lon = ((10 * lon + 3) // 6) / 1e6  # pyais to_lat_lon
        lat = ((10 * lat + 3) // 6) / 1e6
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            rep.rejected["out_of_range"] += 1
            self._counted = True
            return None
        if self.assume_rate_hz is not None:
            t, src = self.start_time + idx / self.assume_rate_hz, TIME_RATE
        else:
            t = src = None
        if sh:
            m = AISMessage(18, (v >> 130) & 0x3FFFFFFF, "position", t, src, channel, None, idx, lat, lon,
                           _SOG[(v >> 112) & 1023], _COG[(v >> 44) & 4095], _HDG[(v >> 35) & 511], None, None,
                           _SEC[(v >> 29) & 63], bool((v >> 111) & 1))
        else:
            mi = (v >> 23) & 3
            m = AISMessage(mtype, (v >> 130) & 0x3FFFFFFF, "position", t, src, channel, None, idx, lat, lon,
                           _SOG[(v >> 108) & 1023], _COG[(v >> 40) & 4095], _HDG[(v >> 31) & 511],
                           _ROT[(v >> 118) & 255], _NAV[(v >> 126) & 15], _SEC[(v >> 25) & 63],
                           bool((v >> 107) & 1), _MAN[mi], _BLUE[mi])
        rep.used += 1
        mbt = rep.messages_by_type
        mbt[mtype] = mbt.get(mtype, 0) + 1
        self._counted = True
        return m

    def _process(self, line: bytes | str, idx: int) -> AISMessage | None:
        p = parse_line(line)
        kind = p.kind
        if kind != KIND_AIS:
            if kind == KIND_GATEHOUSE:
                self._gh_time = p.time
                self._reject("non_ais")
            elif kind == KIND_BAD_CHECKSUM:
                self._reject("bad_checksum")
            else:
                self._reject("non_ais")
            return None
        if p.warning is not None:
            self.report.warnings[p.warning] += 1
        t, src = p.time, p.time_source
        if self._gh_time is not None:
            if t is None:
                t, src = self._gh_time, "gatehouse"
            self._gh_time = None
        s = p.sentence
        fields = s.split(b",")
        if len(fields) != 7:
            self._reject("decode_error")
            return None
        if self._partials:
            self._expire(idx, t, p.station)
        payload = fields[5]
        if payload.translate(None, ARMOUR_CHARS):
            self._reject("bad_payload")  # a character outside the 6-bit alphabet (NUL, space, 'x', ...)
            return None
        fill = fields[6][:1]
        if fill and fill not in b"012345":
            self._reject("decode_error")
            return None
        if fields[1] == b"1":
            if not payload:
                self._reject("empty_payload")
                return None
            nm = NMEAMessage(s, fields)
            nm.is_valid = True  # verified in parse_line
            key = payload + fields[6][:1]
            if self._is_duplicate(key, idx, t, src):
                self._reject("duplicate")
                return None
            return self._decode(nm, idx, t, src, p.station, 1)
        # multipart
        try:
            nm = NMEAMessage(s, fields)
        except Exception:  # noqa: BLE001
            self._reject("decode_error")
            return None
        nm.is_valid = True
        if not nm.payload:
            self._reject("empty_payload")
            return None
        if not 1 <= nm.frag_num <= nm.frag_cnt:
            self._reject("decode_error")
            return None
        key = (nm.channel, nm.seq_id, nm.frag_cnt)
        lst = self._partials.get(key)
        station, group = p.station, p.group
        part = None
        if nm.frag_num == 1:
            # a new message from the same source with the same key: the open one lost its last fragments
            if lst:
                for old in [q for q in lst if q.matches(station, group)]:
                    self._orphan(key, old, "incomplete_multipart")
            part = _Partial(idx, station, group)
            self._partials.setdefault(key, []).append(part)
        else:
            if lst:
                for q in lst:
                    if q.matches(station, group):
                        part = q
                        break
            if part is None:  # its first fragment never came (or expired)
                self._reject("incomplete_multipart")
                return None
            if nm.frag_num in part.frags:  # the fragment repeats: both copies are broken
                self._orphan(key, part, "incomplete_multipart")
                self._reject("incomplete_multipart")
                return None
            if part.station is None:
                part.station = station
            if part.group is None:
                part.group = group
        part.frags[nm.frag_num] = nm
        part.nlines += 1
        self.report.pending += 1
        self._counted = True
        if part.t is None and t is not None:
            part.t, part.src = t, src
        if len(part.frags) < nm.frag_cnt:
            return None
        self._drop(key, part)
        self.report.pending -= part.nlines
        n = part.nlines
        frags = [part.frags[i] for i in sorted(part.frags)]
        whole = NMEAMessage.assemble_from_iterable(frags)
        whole.fill_bits = frags[-1].fill_bits  # pyais keeps the first fragment's (its bits are right)
        if not whole.is_valid:  # cannot happen: each fragment was checked
            self._reject("bad_checksum", n)
            return None
        dkey = whole.payload + b"," + str(whole.fill_bits).encode()
        if self._is_duplicate(dkey, part.first_line, part.t, part.src):
            self._reject("duplicate", n)
            return None
        return self._decode(whole, part.first_line, part.t, part.src, part.station, n)

    def _drop(self, key: tuple, part: _Partial) -> None:
        lst = self._partials[key]
        lst.remove(part)
        if not lst:
            del self._partials[key]

    def _orphan(self, key: tuple, part: _Partial, reason: str) -> None:
        self._drop(key, part)
        self.report.pending -= part.nlines
        self.report.rejected[reason] += part.nlines

    def _expire(self, idx: int, t: float | None, station: str | None) -> None:
        # times are compared only within one station: merged feeds (satellite AIS) are not time ordered
        max_lines, max_s = self.multipart_max_lines, self.multipart_timeout_s
        for key, lst in list(self._partials.items()):
            for part in list(lst):
                if idx - part.first_line > max_lines or (
                    t is not None and part.t is not None and station == part.station
                    and abs(t - part.t) > max_s
                ):
                    self._orphan(key, part, "multipart_expired")

    def _is_duplicate(self, key: bytes, idx: int, t: float | None, src: str | None) -> bool:
        if src == TIME_RATE:
            t = None
        seen = self._seen
        q = self._seen_q
        horizon = max(self.dup_window_lines, 1000)
        while q and idx - q[0][1] > horizon:
            k, i = q.popleft()
            if seen.get(k, (None,))[0] == i:
                del seen[k]
        prev = seen.get(key)
        if prev is not None:
            pi, pt = prev
            if t is not None and pt is not None:
                dup = abs(t - pt) <= self.dup_window_s
            else:
                dup = idx - pi <= self.dup_window_lines
            if dup:
                return True
        seen[key] = (idx, t)
        q.append((key, idx))
        return False

    def _decode(self, nm: NMEAMessage, idx: int, t, src, station, n: int) -> AISMessage | None:
        mtype = nm.ais_id
        if mtype not in SUPPORTED_TYPES:
            self._reject("unsupported_type", n)
            return None
        nbits = 6 * len(nm.payload) - nm.fill_bits
        lo, hi = BIT_LENGTHS[mtype]
        if not lo <= nbits <= hi or nbits in _LENGTH_HOLES.get(mtype, ()):
            self._reject("bad_length", n)  # pyais would pad a short payload with zeros: invented values
            return None
        if t is None and self.assume_rate_hz is not None:
            t, src = self.start_time + idx / self.assume_rate_hz, TIME_RATE
        try:
            d = MSG_CLASS[mtype].from_vector(nm.bv)
        except Exception:  # noqa: BLE001
            self._reject("decode_error", n)
            return None
        mmsi = d.mmsi
        if mtype in POSITION_TYPES:
            lat, lon = _pos(d.lat, d.lon)
            if lat is None:
                self._reject("out_of_range", n)
                return None
            m = AISMessage(mtype, mmsi, "position", t, src, nm.channel, station, idx, lat, lon)
            sp = d.speed
            if mtype == 27:
                m.sog = sp * KN if sp is not None and 0 <= sp < 63 else None
                c = d.course
                m.cog = c * DEG if c is not None and 0 <= c < 360 else None
                m.nav_status = int(d.status) if d.status is not None else None
                m.accuracy = d.accuracy
                return self._use(m, n)
            m.sog = sp * KN if sp is not None and 0 <= sp <= 102.2 else None
            c = d.course
            m.cog = c * DEG if c is not None and 0 <= c < 360 else None
            h = d.heading
            m.heading = h * DEG if h is not None and 0 <= h < 360 else None
            sec = d.second
            m.second = sec if sec is not None and 0 <= sec < 60 else None
            m.accuracy = d.accuracy
            if mtype <= 3:
                m.nav_status = int(d.status) if d.status is not None else None
                r = d.turn
                m.rot = float(r) if r is not None and abs(r) < 127 else None
                mi = d.maneuver
                if mi is not None:
                    mi = int(mi)
                    m.maneuver = mi
                    m.blue_sign = True if mi == 2 else (False if mi == 1 else None)
            elif mtype == 19:
                self._static_dims(m, d)
                m.name = _str(d.shipname)
                m.ship_type = _raw(nm, 263, 8)
            return self._use(m, n)
        if mtype == 5:
            m = AISMessage(5, mmsi, "static", t, src, nm.channel, station, idx)
            m.name = _str(d.shipname)
            m.callsign = _str(d.callsign)
            m.ship_type = _raw(nm, 232, 8)
            self._static_dims(m, d)
            m.draught = float(d.draught) if d.draught else None
            m.destination = _str(d.destination)
            m.imo = d.imo or None
            return self._use(m, n)
        if mtype == 24:
            m = AISMessage(24, mmsi, "static", t, src, nm.channel, station, idx)
            if d.partno == 1 and nbits != 168:
                self._reject("bad_length", n)
                return None
            if d.partno == 0:
                m.part = "A"
                m.name = _str(d.shipname)
            elif d.partno == 1:
                m.part = "B"
                m.ship_type = _raw(nm, 40, 8)
                m.callsign = _str(d.callsign)
                self._static_dims(m, d)
            else:
                self._reject("out_of_range", n)
                return None
            return self._use(m, n)
        if mtype == 4:
            m = AISMessage(4, mmsi, "base_station", t, src, nm.channel, station, idx)
            m.lat, m.lon = _pos(d.lat, d.lon)
            m.accuracy = d.accuracy
            try:
                if d.year and 1 <= d.month <= 12 and 1 <= d.day <= 31 and d.hour < 24 and d.minute < 60 \
                        and d.second < 60:
                    m.utc = float(calendar.timegm((d.year, d.month, d.day, d.hour, d.minute, d.second)))
            except (TypeError, ValueError, OverflowError):
                m.utc = None
            return self._use(m, n)
        # type 8: inland only
        dac, fid = getattr(d, "dac", None), getattr(d, "fid", None)
        if dac == 200 and fid == 10:
            if not 168 <= nbits < 176:  # 168 bits, padded to whole bytes at most
                self._reject("bad_length", n)
                return None
            st = d.shiptype
            hz = d.hazard
            if st is None or not 1000 <= st <= 9999 or hz is None or hz > 5:
                self._reject("out_of_range", n)
                return None
            m = AISMessage(8, mmsi, "inland_static", t, src, nm.channel, station, idx)
            m.eni = _str(d.vin)
            m.length = float(d.length) if d.length else None
            m.beam = float(d.beam) if d.beam else None
            m.eri_type = int(st)
            m.hazard = int(hz) if hz < 5 else None
            m.draught = float(d.draught) if d.draught else None
            code = int(d.loaded) if d.loaded is not None else 0
            m.loaded_code = code
            m.loaded = True if code == 1 else (False if code == 2 else None)
            return self._use(m, n)
        if dac == 200 and fid == 55:
            v, nbits = _bits(nm.payload, nm.fill_bits)
            if nbits < 85:
                self._reject("bad_length", n)
                return None
            v >>= nbits - 85  # keep bits 0..84
            personnel, pax, crew = v & 0xFF, (v >> 8) & 0x1FFF, (v >> 21) & 0xFF
            m = AISMessage(8, mmsi, "persons", t, src, nm.channel, station, idx)
            m.crew = crew if crew != 255 else None
            m.passengers = pax if pax != 8191 else None
            m.personnel = personnel if personnel != 255 else None
            return self._use(m, n)
        self._reject("unsupported_type", n)
        return None

    @staticmethod
    def _static_dims(m: AISMessage, d: Any) -> None:
        a, b, c, e = d.to_bow, d.to_stern, d.to_port, d.to_starboard
        m.to_bow, m.to_stern, m.to_port, m.to_starboard = a, b, c, e
        m.length = float(a + b) if a and b else None
        m.beam = float(c + e) if c and e else None


# ---------------------------------------------------------------------- sources
def parse_source_url(url: str) -> tuple[str, str, int]:
    """``udp://host:port`` / ``tcp://host:port`` -> (scheme, host, port); ValueError otherwise."""
    u = urlsplit(url)
    if u.scheme not in ("udp", "tcp"):
        raise ValueError(f"unsupported AIS source URL {url!r}: expected udp://host:port or tcp://host:port")
    try:
        port = u.port
    except ValueError as exc:
        raise ValueError(f"bad port in AIS source URL {url!r}") from exc
    if port is None or not u.hostname:
        raise ValueError(f"AIS source URL {url!r} needs host and port")
    return u.scheme, u.hostname, port


class AISSourceError(ValueError):
    """A source that cannot be read: missing, a directory, not readable, a truncated or corrupt gzip.

    The message names the file and, for a broken gzip, where its data ended. The CLI prints it as one
    line (exit status 2) after the accounting of the lines read before."""


MAX_LINE = 1 << 20  # a "line" longer than 1 MiB without a line end is passed on in pieces (garbage anyway)
_CHUNK = 1 << 20


def split_lines(chunks: Iterable[bytes], counter: list[int] | None = None) -> Iterator[bytes]:
    """Lines (without their ends) of a byte stream given in chunks; ends are ``\\n``, ``\\r\\n`` or ``\\r``.

    A ``\\r`` at the end of a chunk waits for the next chunk (it may be the first half of ``\\r\\n``).
    ``counter[0]`` (when given) counts the lines yielded. A last line without an end is yielded too.
    """
    buf = b""
    n = 0
    for chunk in chunks:
        if not chunk:
            continue
        buf += chunk
        lines = buf.splitlines(keepends=True)
        last = lines[-1]
        if last.endswith(b"\n"):
            buf = b""
        else:
            lines.pop()
            buf = last
            if len(buf) > MAX_LINE:
                lines.append(buf)
                buf = b""
        for ln in lines:
            n += 1
            if counter is not None:
                counter[0] = n
            yield ln.rstrip(b"\r\n")
    if buf:
        if counter is not None:
            counter[0] = n + 1
        yield buf.rstrip(b"\r\n")


def _open_path(path: str | os.PathLike):
    name = os.fspath(path)
    try:
        return open(name, "rb")
    except FileNotFoundError:
        raise AISSourceError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise AISSourceError(f"{name}: is a directory, not an AIS log file") from None
    except PermissionError:
        raise AISSourceError(f"{name}: permission denied") from None
    except OSError as exc:
        raise AISSourceError(f"{name}: cannot open: {exc.strerror or exc}") from None


def _file_lines(path: str | os.PathLike) -> Iterator[bytes]:
    """Opens ``path`` now (errors are raised here, not at the first line), then streams its lines."""
    fh = _open_path(path)
    try:
        magic = fh.read(2)
        fh.seek(0)
    except OSError as exc:  # e.g. EISDIR on some systems, EIO
        fh.close()
        raise AISSourceError(f"{os.fspath(path)}: cannot read: {exc.strerror or exc}") from None
    return _stream_file(fh, os.fspath(path), magic == b"\x1f\x8b")


def _stream_file(fh, name: str, gz: bool) -> Iterator[bytes]:
    counter = [0]
    with fh:
        if not gz:
            def chunks():
                try:
                    while chunk := fh.read(_CHUNK):
                        yield chunk
                except OSError as exc:
                    raise AISSourceError(f"{name}: read error after {counter[0]} lines: "
                                         f"{exc.strerror or exc}") from None
            yield from split_lines(chunks(), counter)
            return
        gzf = gzip.GzipFile(fileobj=fh, mode="rb")
        done = [0]

        def gz_chunks():
            try:
                while chunk := gzf.read1(1 << 16):  # read1: what was decompressed survives an EOFError
                    done[0] += len(chunk)
                    yield chunk
            except EOFError:
                size = os.fstat(fh.fileno()).st_size
                raise AISSourceError(
                    f"{name}: truncated gzip: the compressed data ends at byte {size} before the end of the "
                    f"stream; {counter[0]} complete lines ({done[0]} bytes uncompressed) were read before it"
                ) from None
            except (gzip.BadGzipFile, zlib.error, OSError) as exc:
                raise AISSourceError(
                    f"{name}: corrupt gzip ({exc}) after {counter[0]} complete lines ({done[0]} bytes "
                    "uncompressed)") from None

        # a line cut off by the truncation is still in split_lines' buffer when the error comes: not passed on
        yield from split_lines(gz_chunks(), counter)


def _udp_lines(host: str, port: int, stop: threading.Event | None, idle_timeout: float | None,
               ready: threading.Event | None = None, poll_s: float = 0.1) -> Iterator[bytes]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.settimeout(poll_s)
        if ready is not None:
            ready.set()
        idle = 0.0
        while stop is None or not stop.is_set():
            try:
                data = sock.recv(65535)
            except TimeoutError:
                idle += poll_s
                if idle_timeout is not None and idle >= idle_timeout:
                    return
                continue
            idle = 0.0
            yield from data.splitlines()  # bytes.splitlines: \n, \r\n and \r
    finally:
        sock.close()


def _tcp_lines(host: str, port: int, stop: threading.Event | None, idle_timeout: float | None,
               poll_s: float = 0.1, connect_timeout: float = 5.0) -> Iterator[bytes]:
    sock = socket.create_connection((host, port), timeout=connect_timeout)
    try:
        sock.settimeout(poll_s)

        def chunks():
            idle = 0.0
            while stop is None or not stop.is_set():
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    idle += poll_s
                    if idle_timeout is not None and idle >= idle_timeout:
                        return
                    continue
                if not data:
                    return
                idle = 0.0
                yield data

        yield from split_lines(chunks())
    finally:
        sock.close()


def open_lines(source: Any, *, stop: threading.Event | None = None, idle_timeout: float | None = None,
               ready: threading.Event | None = None) -> Iterator[bytes | str]:
    """Lines of a path (plain/gzip), ``-`` (stdin), ``udp://``/``tcp://`` URL, or an iterable of lines.

    ``stop``/``idle_timeout`` end live streams; ``ready`` is set once a UDP socket is bound.
    """
    if isinstance(source, str) and source.startswith(("udp://", "tcp://")):
        scheme, host, port = parse_source_url(source)
        if scheme == "udp":
            return _udp_lines(host, port, stop, idle_timeout, ready)
        return _tcp_lines(host, port, stop, idle_timeout)
    if isinstance(source, str) and source == "-":
        return split_lines(iter(lambda: sys.stdin.buffer.read1(_CHUNK), b""))
    if isinstance(source, str | os.PathLike):
        return _file_lines(source)
    if isinstance(source, bytes | bytearray):
        return split_lines([bytes(source)])
    return iter(source)


def ingest(source: Any, **kwargs: Any) -> tuple[list[AISMessage], Report]:
    """Read a whole source; returns (messages, report). Options as for :class:`AISIngestor`."""
    src_kw = {k: kwargs.pop(k) for k in ("stop", "idle_timeout", "ready") if k in kwargs}
    ing = AISIngestor(**kwargs)
    msgs = list(ing.iter_source(source, **src_kw))
    return msgs, ing.report
