"""Line level parsing of AIS receiver logs: one input line -> one :class:`ParsedLine`.

Accepted line formats (all bytes; ``str`` lines are encoded as UTF-8 first, and surrounding whitespace,
CR and LF are stripped):

* a plain AIS sentence, ``!AIVDM``/``!AIVDO`` with any talker (``!SAVDM``, ``!BSVDM``, ``!ABVDM`` ...);
  ``$xxVDM`` is accepted too, and a sentence that lost its ``!`` (``AIVDM,2,2,...``) is repaired;
* an NMEA 4.0 tag block in front of the sentence, ``\\c:1428621738,s:station*5F\\!AIVDM,...``: the tag
  block checksum is checked; ``c`` is the receive time in unix seconds, or milliseconds when the value is
  larger than 1e11; ``s`` is the receiving station; ``g:n-m-id`` the group id that the fragments of one
  multipart message share. A *malformed* tag block (wrong or missing checksum, no closing ``\\``, a
  ``c:`` or ``g:`` that does not parse) does not cost the sentence behind it: the sentence is checked
  and decoded on its own, without the tag block's time and station when its checksum is wrong, and the
  line carries ``warning="tag_block"`` (pyais and libais also decode such lines);
* a receiver timestamp in front of the sentence: ``2020-01-01 12:00:00.123 !AIVDM...`` (also ``T`` as
  separator, ``/`` in the date, a trailing ``Z``), ``18/05/2012 18:15:37`` (day first), quoted or not,
  or a unix time ``1577880000.123 !AIVDM...`` / ``1577880000.123,!AIVDM...`` (times are UTC);
* trailing metadata after the checksum (``...*hh,b003660465``, the AISHub/gpsd ``,s36310,d-081,T59.0,
  x147521,r08TPHI1,1242958962`` fields): a trailing field that is an integer unix time (1e8 .. 1e11 s, or
  1e11 .. 1e14 ms) gives the receive time, everything else is ignored;
* a Gatehouse ``$PGHP,1,yyyy,m,d,h,m,s,ms,...*hh`` wrapper line: its checksum is checked and its time
  applies to the next AIS sentence (see :mod:`testbed.ais.ingest`);
* comments (``#``), blank lines, other NMEA sentences (``$GPGGA``, ``$IIMWV`` ...) and garbage are
  classified ``non_ais``.

The NMEA checksum (XOR of the characters between the delimiter and ``*``) is always verified here;
pyais does not check it by default. A sentence without ``*hh`` is ``bad_checksum`` too.

:func:`parse_line` never raises for any input.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from functools import reduce
from operator import xor

__all__ = [
    "ParsedLine",
    "parse_line",
    "nmea_checksum",
    "KIND_AIS",
    "KIND_GATEHOUSE",
    "KIND_NON_AIS",
    "KIND_BAD_CHECKSUM",
    "TIME_TAG_BLOCK",
    "TIME_RECEIVER",
    "TIME_TRAILING",
    "TIME_GATEHOUSE",
    "TIME_RATE",
]

KIND_AIS = "ais"
KIND_GATEHOUSE = "gatehouse"
KIND_NON_AIS = "non_ais"
KIND_BAD_CHECKSUM = "bad_checksum"

TIME_TAG_BLOCK = "tag_block"
TIME_RECEIVER = "receiver"
TIME_TRAILING = "trailing"
TIME_GATEHOUSE = "gatehouse"
TIME_RATE = "rate"


@dataclass(slots=True)
class ParsedLine:
    """What one input line holds.

    ``kind`` is ``"ais"`` (``sentence`` is the bare AIS sentence ``!AIVDM,...*hh``), ``"gatehouse"``
    (a ``$PGHP`` wrapper line carrying ``time``), ``"non_ais"`` or ``"bad_checksum"``. ``time`` is the
    receive time in unix seconds (or None) and ``time_source`` one of the ``TIME_*`` names.
    """

    kind: str
    sentence: bytes | None = None
    time: float | None = None
    time_source: str | None = None
    station: str | None = None
    group: str | None = None  # tag block ``g:`` group id (the fragments of one message share it)
    warning: str | None = None  # ``"tag_block"``: a malformed tag block was ignored, the sentence kept


_NON_AIS = ParsedLine(KIND_NON_AIS)
_BAD = ParsedLine(KIND_BAD_CHECKSUM)
_HEX = frozenset(b"0123456789abcdefABCDEF")

_ISO_RE = re.compile(
    rb"^\W*(\d{4})[-/](\d{1,2})[-/](\d{1,2})[ T_](\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s*(?:Z|UTC|[+-]00:?00)?\W*$"
)
_DMY_RE = re.compile(rb"^\W*(\d{1,2})/(\d{1,2})/(\d{4})[ T_](\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\W*$")
_NUM_RE = re.compile(rb"^\W*(\d{9,14}(?:\.\d+)?)\W*$")
_NO_DELIM_RE = re.compile(rb"^[A-Z]{2}VD[MO],")


def nmea_checksum(body: bytes) -> int:
    """XOR of all bytes of ``body`` (the text between the delimiter and ``*``)."""
    return reduce(xor, body, 0)


def _unix_from_number(text: bytes) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    if 1e8 <= v < 1e11:
        return v
    if 1e11 <= v < 1e14:
        return v / 1000.0
    return None


def _timegm(y, mo, d, h, mi, s, frac) -> float | None:
    try:
        y, mo, d, h, mi, s = int(y), int(mo), int(d), int(h), int(mi), int(s)
        if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
            return None
        t = float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))
    except (ValueError, OverflowError):
        return None
    if frac:
        t += int(frac) / 10 ** len(frac)
    return t


def parse_time_text(text: bytes) -> float | None:
    """Parse a receiver timestamp (ISO-like, day-first ``dd/mm/yyyy hh:mm:ss``, or unix s/ms)."""
    m = _ISO_RE.match(text)
    if m:
        return _timegm(*m.groups())
    m = _DMY_RE.match(text)
    if m:
        d, mo, y, h, mi, s, frac = m.groups()
        return _timegm(y, mo, d, h, mi, s, frac)
    m = _NUM_RE.match(text)
    if m:
        return _unix_from_number(m.group(1))
    return None


def _trailing_time(trailing: bytes) -> float | None:
    for f in reversed(trailing.split(b",")):
        f = f.strip()
        if f.isdigit() and 9 <= len(f) <= 14:
            t = _unix_from_number(f)
            if t is not None:
                return t
    return None


def _sentence(s: bytes, t: float | None, src: str | None, station: str | None) -> ParsedLine:
    """Check one ``!xxVDM,...*hh[trailing]`` sentence (``s`` starts at the delimiter)."""
    if s[3:7] not in (b"VDM,", b"VDO,"):
        return _NON_AIS
    star = s.find(b"*", 7)
    if star < 0:
        return _BAD
    end = star + 3
    hx = s[star + 1:end]
    if len(hx) != 2 or hx[0] not in _HEX or hx[1] not in _HEX:
        return _BAD
    if reduce(xor, s[1:star], 0) != int(hx, 16):
        return _BAD
    if len(s) > end:
        if t is None:
            t = _trailing_time(s[end:])
            if t is not None:
                src = TIME_TRAILING
        s = s[:end]
    return ParsedLine(KIND_AIS, s, t, src, station)


def _after_bad_tag(line: bytes) -> ParsedLine:
    """A malformed tag block: ignore it (its time and station are not trusted) and keep the sentence."""
    i = line.find(b"!")
    if i < 0:
        i = line.find(b"$")
    if i < 0:
        return _NON_AIS
    p = _sentence(line[i:], None, None, None)
    if p.kind == KIND_AIS:  # a fresh object (the shared _NON_AIS/_BAD are never changed)
        p.warning = "tag_block"
    return p


def _tag_block(line: bytes) -> ParsedLine:
    end = line.find(b"\\", 1)
    if end < 0:  # no closing backslash
        return _after_bad_tag(line)
    tag = line[1:end]
    rest = line[end + 1:].strip()
    star = tag.rfind(b"*")
    if star < 0:
        return _after_bad_tag(rest)
    hx = tag[star + 1:]
    if not hx or len(hx) > 2 or any(c not in _HEX for c in hx):
        return _after_bad_tag(rest)
    if reduce(xor, tag[:star], 0) != int(hx, 16):
        return _after_bad_tag(rest)
    t = None
    station = None
    group = None
    bad = False
    for field in tag[:star].split(b","):
        key, _, val = field.partition(b":")
        if key == b"c":
            t = _unix_from_number(val)
            bad |= t is None
        elif key == b"s":
            station = val.decode("ascii", "replace")
        elif key == b"g":
            parts = val.split(b"-")
            if len(parts) == 3 and all(x.isdigit() for x in parts):
                group = parts[2].decode("ascii")
            else:
                bad = True
    if not rest or rest[0] not in b"!$":
        return _NON_AIS
    p = _sentence(rest, t, TIME_TAG_BLOCK if t is not None else None, station)
    if p.kind == KIND_AIS:
        p.group = group
        if bad:
            p.warning = "tag_block"
    return p


def _gatehouse(line: bytes) -> ParsedLine:
    star = line.find(b"*")
    if star < 0:
        return _BAD
    hx = line[star + 1:star + 3]
    if len(hx) != 2 or hx[0] not in _HEX or hx[1] not in _HEX or reduce(xor, line[1:star], 0) != int(hx, 16):
        return _BAD
    f = line[1:star].split(b",")
    if len(f) < 9:
        return _NON_AIS
    ms = f[8]
    t = _timegm(f[2], f[3], f[4], f[5], f[6], f[7], None)
    if t is not None and ms.isdigit():
        t += int(ms) / 1000.0
    return ParsedLine(KIND_GATEHOUSE, None, t, TIME_GATEHOUSE if t is not None else None)


def parse_line(raw: bytes | str) -> ParsedLine:
    """Classify one input line; never raises (garbage is ``non_ais``)."""
    try:
        if not isinstance(raw, bytes):
            raw = raw.encode("utf-8", "replace") if isinstance(raw, str) else bytes(raw)
        line = raw.strip()
        if not line:
            return _NON_AIS
        c = line[0]
        if c == 0x21:  # '!': the common case
            return _sentence(line, None, None, None)
        if c == 0x5C:  # '\': NMEA 4.0 tag block
            return _tag_block(line)
        if c == 0x24:  # '$'
            if line[1:6] == b"PGHP,":
                return _gatehouse(line)
            if line[3:7] in (b"VDM,", b"VDO,"):
                return _sentence(line, None, None, None)
            return _NON_AIS
        if c == 0x23:  # '#'
            return _NON_AIS
        if _NO_DELIM_RE.match(line):
            return _sentence(b"!" + line, None, None, None)
        i = line.find(b"!")
        j = line.find(b"\\")
        if 0 <= j and (i < 0 or j < i):
            # receiver time in front of a tag block
            p = _tag_block(line[j:])
            if p.kind == KIND_AIS and p.time is None:
                t = parse_time_text(line[:j])
                if t is not None:
                    p.time, p.time_source = t, TIME_RECEIVER
            return p
        if i <= 0:
            return _NON_AIS
        t = parse_time_text(line[:i])
        return _sentence(line[i:], t, TIME_RECEIVER if t is not None else None, None)
    except Exception:  # noqa: BLE001 - the contract is: never raise on a line
        return _NON_AIS
