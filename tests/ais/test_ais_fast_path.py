"""The fast path of :class:`AISIngestor` (single-fragment 168-bit position reports, types 1/2/3/18,
decoded from the payload bits with int arithmetic) must give exactly what the pyais path gives."""

from __future__ import annotations

import random
from functools import reduce
from operator import xor
from pathlib import Path

import pytest
from pyais import NMEAMessage

from testbed.ais.ingest import DEG, KN, AISIngestor

DATA = Path(__file__).parent / "data"
SYNTH = Path(__file__).resolve().parents[2] / "testbed" / "data" / "ais" / "duisburg_synth_2h.nmea"
FILES = sorted(p for p in DATA.iterdir() if p.suffix != ".md") + [SYNTH]
ARMOR = "0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVW`abcdefghijklmnopqrstuvw"


class _CountingIngestor(AISIngestor):
    """Counts the messages the fast path produced."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.fast_msgs = []

    def _fast(self, line, idx):
        m = super()._fast(line, idx)
        if m is not self and m is not None:
            self.fast_msgs.append(m)
        return m


class _PyaisIngestor(AISIngestor):
    """The fast path switched off: every line goes through parse_line + pyais."""

    def _fast(self, line, idx):
        return self


def _run(cls, lines, **kw):
    ing = cls(**kw)
    msgs = [m.to_dict(drop_none=False) for m in ing.iter_lines(lines)]
    return ing, msgs


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("kw", [{}, {"assume_rate_hz": 2.0, "start_time": 10.0}, {"dup_window_lines": 0}])
def test_fast_path_equals_pyais_path_on_real_files(path, kw):
    lines = path.read_bytes().splitlines(keepends=True)
    fast, msgs_fast = _run(_CountingIngestor, lines, **kw)
    slow, msgs_slow = _run(_PyaisIngestor, lines, **kw)
    assert msgs_fast == msgs_slow
    assert fast.report.as_dict() == slow.report.as_dict()


def test_fast_path_values_equal_pyais_decode_on_every_position_message():
    """Every fast-path record against pyais's own decode of its line, field by field."""
    n = 0
    for path in FILES:
        lines = path.read_bytes().splitlines()
        ing, _ = _run(_CountingIngestor, lines)
        for m in ing.fast_msgs:
            d = NMEAMessage(lines[m.line].strip()).decode()
            assert (m.msg_type, m.mmsi, m.lat, m.lon) == (d.msg_type, d.mmsi, d.lat, d.lon)
            assert m.accuracy == d.accuracy
            assert m.sog == (d.speed * KN if d.speed <= 102.2 else None)
            assert m.cog == (d.course * DEG if d.course < 360 else None)
            assert m.heading == (d.heading * DEG if d.heading < 360 else None)
            assert m.second == (d.second if d.second < 60 else None)
            if m.msg_type <= 3:
                assert m.nav_status == int(d.status) and m.maneuver == int(d.maneuver)
                assert m.rot == (float(d.turn) if abs(d.turn) < 127 else None)
            n += 1
    assert n > 700  # 779 fast-path position messages in these files


def _sentence(payload: str, channel: str = "A") -> bytes:
    body = f"AIVDM,1,1,,{channel},{payload},0"
    return f"!{body}*{reduce(xor, body.encode(), 0):02X}\n".encode()


def test_fast_path_equals_pyais_path_on_random_position_reports():
    """All raw values (ROT, SOG, COG, heading, second, status, manoeuvre, lat/lon incl. not available)."""
    rng = random.Random(1234)
    lines = []
    for i in range(20000):
        mtype = (1, 2, 3, 18)[i % 4]
        bits = (mtype << 162) | rng.getrandbits(162)
        if i % 3:  # mostly valid positions, so that the records are compared and not just rejected
            lat = rng.randint(-54_000_000, 54_000_000) & 0x7FFFFFF
            lon = rng.randint(-108_000_000, 108_000_000) & 0xFFFFFFF
            if mtype == 18:
                bits = bits & ~(((1 << 28) - 1) << 83) & ~(((1 << 27) - 1) << 56) | lon << 83 | lat << 56
            else:
                bits = bits & ~(((1 << 28) - 1) << 79) & ~(((1 << 27) - 1) << 52) | lon << 79 | lat << 52
        payload = "".join(ARMOR[(bits >> (162 - 6 * k)) & 63] for k in range(28))
        lines.append(_sentence(payload, "AB"[i % 2]))
    for kw in ({}, {"dup_window_lines": 0}):
        fast, msgs_fast = _run(_CountingIngestor, lines, **kw)
        slow, msgs_slow = _run(_PyaisIngestor, lines, **kw)
        assert len(fast.fast_msgs) > 10000
        assert msgs_fast == msgs_slow
        assert fast.report.as_dict() == slow.report.as_dict()


def test_fast_path_leaves_other_lines_alone():
    ok = _sentence("15M67FC000G?ufbE`FepT@3n00Sa")
    variants = [
        ok, ok.replace(b"*", b"*0"), ok[:-3] + b"00\n", ok.replace(b",0*", b",1*"), b"  " + ok,
        ok.rstrip() + b",1428621738\n", ok.replace(b"!AIVDM", b"!AIVDO"), "\u00e9".encode() + ok,
        ok.replace(b",,A,", b",x,A,"), ok.replace(b",,A,", b",,C,"), ok.decode(),
    ]
    for kw in ({}, {"dup_window_lines": 0}):
        _, a = _run(_CountingIngestor, variants, **kw)
        _, b = _run(_PyaisIngestor, variants, **kw)
        assert a == b
