"""Crafting AIS lines for tests, independent of testbed.ais.encode: bit fields -> 6-bit armouring ->
NMEA sentences with valid checksums (and tag blocks). Only what the hostile-input tests need."""

from __future__ import annotations


def checksum(body: str | bytes) -> int:
    """NMEA checksum: XOR of the characters between the delimiter and ``*``."""
    x = 0
    for c in body.encode("latin-1") if isinstance(body, str) else body:
        x ^= c
    return x


def bits(*fields: tuple[int, int]) -> str:
    """Concatenate ``(value, width)`` fields into a bit string (negative values in two's complement)."""
    out = []
    for value, width in fields:
        out.append(format(value & ((1 << width) - 1), f"0{width}b"))
    return "".join(out)


def text6(s: str, nchars: int) -> str:
    """AIS 6-bit text of ``nchars`` characters (padded with '@')."""
    s = s.upper().ljust(nchars, "@")[:nchars]
    return bits(*[((ord(c) - 64 if ord(c) >= 64 else ord(c)), 6) for c in s])


def armour(b: str) -> tuple[str, int]:
    """Bit string -> (payload characters, fill bits)."""
    fill = (-len(b)) % 6
    b = b + "0" * fill
    out = []
    for i in range(0, len(b), 6):
        v = int(b[i:i + 6], 2) + 48
        out.append(chr(v + 8 if v > 87 else v))
    return "".join(out), fill


def sentence(payload: str, fill: int = 0, *, count: int = 1, num: int = 1, seq: str = "", channel: str = "A",
             talker: str = "AIVDM") -> str:
    body = f"{talker},{count},{num},{seq},{channel},{payload},{fill}"
    return f"!{body}*{checksum(body):02X}"


def tag(body: str) -> str:
    """An NMEA 4.0 tag block with a valid checksum."""
    return f"\\{body}*{checksum(body):02X}\\"


def resize(b: str, nbits: int) -> str:
    """Cut a bit string to ``nbits`` or pad it with zeros."""
    return b[:nbits] if nbits <= len(b) else b + "0" * (nbits - len(b))


def type1(mmsi: int, lat: float = 51.45, lon: float = 6.73, *, sog_kn: float = 5.0, cog: float = 90.0,
          heading: int = 91, second: int = 10, mtype: int = 1) -> str:
    """168 bits of a type 1/2/3 position report."""
    return bits((mtype, 6), (0, 2), (mmsi, 30), (0, 4), (0, 8), (round(sog_kn * 10), 10), (1, 1),
                (round(lon * 600000), 28), (round(lat * 600000), 27), (round(cog * 10), 12), (heading, 9),
                (second, 6), (0, 2), (0, 3), (0, 1), (0, 19))


def type27(mmsi: int, lat: float = 51.45, lon: float = 6.73, *, sog_kn: int = 5, cog: int = 90) -> str:
    """96 bits of a type 27 long-range position report."""
    return bits((27, 6), (0, 2), (mmsi, 30), (0, 1), (0, 1), (0, 4), (round(lon * 600), 18),
                (round(lat * 600), 17), (sog_kn, 6), (cog, 9), (0, 1), (0, 1))


def type5(mmsi: int, name: str = "RHEINLAND", callsign: str = "DA1234", dest: str = "DUISBURG") -> str:
    """424 bits of a type 5 static and voyage report (110 m x 11 m)."""
    return (bits((5, 6), (0, 2), (mmsi, 30), (0, 2), (0, 30)) + text6(callsign, 7) + text6(name, 20)
            + bits((79, 8), (100, 9), (10, 9), (5, 6), (6, 6), (1, 4), (6, 4), (1, 5), (12, 5), (0, 6),
                   (25, 8)) + text6(dest, 20) + bits((0, 1), (0, 1)))


def type24a(mmsi: int, name: str = "PLEASURE") -> str:
    return bits((24, 6), (0, 2), (mmsi, 30), (0, 2)) + text6(name, 20)  # 160 bits


def type24b(mmsi: int) -> str:
    return (bits((24, 6), (0, 2), (mmsi, 30), (1, 2), (37, 8)) + text6("ACME", 7) + text6("DB9999", 7)
            + bits((8, 9), (4, 9), (2, 6), (2, 6), (0, 6)))  # 168 bits


def lines_of(b: str, *, seq: str = "1", channel: str = "A", split: int = 60, tag_bodies=None) -> list[str]:
    """A message as one sentence, or as several fragments of ``split`` payload characters."""
    payload, fill = armour(b)
    parts = [payload[i:i + split] for i in range(0, len(payload), split)]
    if len(parts) == 1:
        out = [sentence(payload, fill, channel=channel)]
    else:
        out = [sentence(p, fill if k == len(parts) else 0, count=len(parts), num=k, seq=seq, channel=channel)
               for k, p in enumerate(parts, 1)]
    if tag_bodies:
        out = [tag(t) + s if t else s for t, s in zip(tag_bodies, out, strict=True)]
    return out
