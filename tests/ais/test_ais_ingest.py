"""AIS ingestion on the real logs in tests/ais/data: accounting, decoding, times, multipart, live sources."""

from __future__ import annotations

import gzip
import math
import socket
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.ais.ingest import REASONS, AISIngestor, ingest, parse_source_url
from testbed.ais.nmea import parse_line

DATA = Path(__file__).parent / "data"
KN = 1852.0 / 3600.0


def _rej(**kw):
    d = dict.fromkeys(REASONS, 0)
    d.update(kw)
    return d


# Expected accounting, verified by reading the files (see the comments).
EXPECTED = {
    # 1121 lines: 1002 comments/blank lines; 30 used lines = 27 messages (3 two-fragment type 5);
    # 84 lines of types we do not use (6, 7, other 8, 9-17, 20-23, 25, 26); line 978 "AIVDM,2,2,1,B" lost
    # its first fragment; lines 946 and 1034 repeat 926 and 1030 within the window; bad_length: the
    # garbage two-fragment inland message (lines 458-459, 424 bits instead of 168) and the type 1 of
    # 163 bits at line 1098 (the file's comment: "type=1 length=163").
    "gpsd__test_sample.aivdm": (1121, 29, _rej(non_ais=1002, unsupported_type=84, incomplete_multipart=1,
                                                duplicate=2, bad_length=3)),
    # 898 sentences: 100 empty payloads, 20 first fragments whose second never comes (expired after 10
    # lines), 4 position reports with lat 91 / lon 181, 4 type 15 repeats and 4 other type 15/20 lines.
    "pyais__tests_nmea_data_sample.txt": (898, 766, _rej(empty_payload=100, multipart_expired=20,
                                                          out_of_range=4, duplicate=4, unsupported_type=4)),
    # three tag blocks with checksum "*A": the sentences behind two of them are decoded (tag_block
    # warnings) but repeat lines 14 and 4 (duplicate); the third sentence has no "*hh" (bad_checksum).
    # One $PGHP with year 2009 but the 2008 checksum.
    "pyais__tests_mixed.txt": (35, 12, _rej(non_ais=19, bad_checksum=2, duplicate=2)),
    "pyais__tests_timestamped.ais": (11, 4, _rej(non_ais=6, bad_checksum=1)),
    "pyais__examples_gatehouse.nmea": (11, 4, _rej(non_ais=6, bad_checksum=1)),
    "libais__test_data_tagblock.nmea": (5, 5, _rej()),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_line_accounted(name):
    path = DATA / name
    n_lines = len(path.read_bytes().splitlines())
    msgs, rep = ingest(path)
    lines, used, rejected = EXPECTED[name]
    assert rep.lines_read == n_lines == lines
    assert rep.used + sum(rep.rejected.values()) == rep.lines_read
    assert rep.pending == 0
    assert rep.used == used
    assert rep.rejected == rejected
    assert sum(rep.messages_by_type.values()) == len(msgs)


def test_gzip_same_as_plain(tmp_path):
    src = DATA / "pyais__tests_nmea_data_sample.txt"
    gz = tmp_path / "log.nmea.gz"  # detected by magic bytes, not by the name
    gz.write_bytes(gzip.compress(src.read_bytes()))
    (tmp_path / "plain.gz").write_bytes(src.read_bytes())
    a, ra = ingest(src)
    b, rb = ingest(gz)
    c, rc = ingest(tmp_path / "plain.gz")
    assert ra.as_dict() == rb.as_dict() == rc.as_dict()
    assert [m.to_dict() for m in a] == [m.to_dict() for m in b]


def test_inland_fi10_real_message():
    msgs, _ = ingest(DATA / "gpsd__test_sample.aivdm")
    inland = [m for m in msgs if m.kind == "inland_static"]
    assert len(inland) == 1  # the garbage two-fragment copy is rejected
    m = inland[0]
    assert m.mmsi == 244650946 and m.msg_type == 8
    assert m.eni == "02103547"
    assert m.eri_type == 8010  # motor freighter
    assert m.length == pytest.approx(39.0) and m.beam == pytest.approx(5.0)
    assert m.draught == pytest.approx(2.04)
    assert m.hazard == 0
    # code 1: loaded per the IALA register and pyais; gpsd's comment says "Unloaded" (swapped)
    assert m.loaded_code == 1 and m.loaded is True


def test_inland_garbage_rejected_not_crash():
    lines = ["!AIVDM,2,1,4,A,83aDChPj2d<dL<uM=hhhI?a@6HP0e9QvUEEEOPPrE4t880>p2JqA6wimt:Ow,0*22",
             "!AIVDM,2,2,4,A,UPP8k;JvOeD,2*7F"]
    msgs, rep = ingest(lines)
    assert msgs == [] and rep.rejected["bad_length"] == 2  # 424 bits instead of 168


def test_gpsd_annotated_values():
    msgs, _ = ingest(DATA / "gpsd__test_sample.aivdm")
    by = {(m.mmsi, m.msg_type): m for m in msgs}
    m = by[(371798000, 1)]
    assert m.lat == pytest.approx(48.381633, abs=1e-5) and m.lon == pytest.approx(-123.395383, abs=1e-5)
    assert m.sog == pytest.approx(12.3 * KN)
    assert m.cog == pytest.approx(math.radians(224.0))
    assert m.heading == pytest.approx(math.radians(215))
    assert m.second == 33 and m.nav_status == 0
    assert m.rot is None  # -127: turning left, no turn indicator
    m = by[(440348000, 1)]
    assert m.heading is None  # 511
    assert m.sog == 0.0 and m.cog == pytest.approx(math.radians(93.4))
    m = by[(351759000, 5)]
    assert m.name == "EVER DIADEM" and m.callsign == "3FOF8" and m.imo == 9134270
    assert m.ship_type == 70 and m.length == 295 and m.beam == 32
    assert m.draught == pytest.approx(12.2) and m.destination == "NEW YORK"
    m = by[(3669702, 4)]
    assert m.utc == pytest.approx(1179172659.0)  # 2007-05-14 19:57:39
    # interleaved type 5 on channels A and B (lines 1011-1014) both assemble
    assert sum(1 for x in msgs if x.mmsi == 271010059 and x.msg_type == 5) == 2


def test_not_available_values_become_none():
    msgs, _ = ingest(DATA / "gpsd__test_sample.aivdm")
    base = [m for m in msgs if m.mmsi == 2470052][0]  # type 4 with everything n/a
    assert base.lat is None and base.lon is None and base.utc is None
    _, rep = ingest(["!AIVDM,1,1,,A,13cc3o?P?w<tSF0l4Q@>4?wv0PRr,0*0F"])  # lat 91, lon 181
    assert rep.rejected["out_of_range"] == 1
    for m in ingest(DATA / "pyais__tests_nmea_data_sample.txt")[0]:
        if m.kind == "position":
            assert -90 <= m.lat <= 90 and -180 <= m.lon <= 180
            assert m.sog is None or 0 <= m.sog <= 102.2 * KN
            assert m.cog is None or 0 <= m.cog < 2 * math.pi
            assert m.heading is None or 0 <= m.heading < 2 * math.pi
            assert m.second is None or 0 <= m.second < 60


def test_tag_block_times_and_stations():
    msgs, _ = ingest(DATA / "libais__test_data_tagblock.nmea")
    got = [(m.msg_type, m.t, m.station, m.time_source) for m in msgs]
    assert got == [(1, 1418172113.0, "rORBCOMM104", "tag_block"),
                   (5, 1418169601.0, "rORBCOMM008", "tag_block"),  # two fragments, lines 1 and 3
                   (1, 1418171722.0, "rORBCOMM007", "tag_block"),
                   (1, 1418171561.0, "rORBCOMM007", "tag_block")]


def test_gatehouse_times():
    msgs, _ = ingest(DATA / "pyais__examples_gatehouse.nmea")
    t0 = 1210291200.010  # $PGHP 2008-05-09 00:00:00.010
    assert [m.t for m in msgs] == [pytest.approx(t0), None, None, None]
    assert msgs[0].time_source == "gatehouse"
    # the $PGHP line with year 2009 has the 2008 checksum: bad_checksum, and its time is not used
    assert msgs[2].t is None


def test_other_time_formats():
    s = "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A"
    cases = {
        f"2020-01-01 12:00:00.123 {s}": 1577880000.123,
        f"2020-01-01T12:00:00Z,{s}": 1577880000.0,
        f'"01/01/2020 12:00:00" {s}': 1577880000.0,
        f"1577880000.5 {s}": 1577880000.5,
        f"{s},1577880000": 1577880000.0,
        f"{s},s36310,d-081,r08TPHI1,1577880000123": 1577880000.123,
        f"\\c:1577880000123*{_cs('c:1577880000123'):02X}\\{s}": 1577880000.123,
    }
    for line, t in cases.items():
        p = parse_line(line)
        assert p.kind == "ais" and p.time == pytest.approx(t), line
    msgs, _ = ingest([s, "# x", s.replace(",A,", ",B,").replace("*4A", "*49")], assume_rate_hz=2.0,
                     start_time=100.0, dup_window_lines=0)
    assert [m.t for m in msgs] == [100.0, 101.0] and msgs[0].time_source == "rate"


def _cs(body: str) -> int:
    x = 0
    for c in body.encode():
        x ^= c
    return x


def _sentence(body: str) -> str:
    return f"!{body}*{_cs(body):02X}"


def test_bad_checksum():
    good = "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A"
    lines = [good.replace("*4A", "*4B"), good[:-3], good.replace("15RT", "15RU"), good + "\n"]
    _, rep = ingest(lines)
    assert rep.rejected["bad_checksum"] == 3 and rep.used == 1


def test_interleaved_multipart(tmp_path):
    a1 = "!AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C"
    a2 = "!AIVDM,2,2,1,A,88888888880,2*25"
    b1 = "!AIVDM,2,1,6,B,542M92h00001@<7;?G0PD4i@R0<tqA8tj37>220o0h:2240Ht50000000000,0*3B"
    b2 = "!AIVDM,2,2,6,B,00000000000,2*21"
    p = tmp_path / "interleaved.nmea"
    p.write_text("\n".join([a1, b1, "$GPGGA,1*00", b2, a2, a2]) + "\n")
    msgs, rep = ingest(p)
    assert sorted(m.mmsi for m in msgs) == [271010059, 351759000]
    assert all(m.msg_type == 5 for m in msgs)
    assert rep.used == 4 and rep.rejected["non_ais"] == 1 and rep.rejected["incomplete_multipart"] == 1
    assert [m for m in msgs if m.mmsi == 351759000][0].name == "EVER DIADEM"


def test_multipart_expiry_and_orphans():
    a1 = "!AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C"
    a2 = "!AIVDM,2,2,1,A,88888888880,2*25"
    filler = ["# filler"] * 60
    msgs, rep = ingest([a1, *filler, a2], multipart_max_lines=50)
    assert msgs == [] and rep.rejected["multipart_expired"] == 1 and rep.rejected["incomplete_multipart"] == 1
    msgs, rep = ingest([a1, a1, a2])  # a repeated first fragment orphans the first one
    assert len(msgs) == 1 and rep.rejected["incomplete_multipart"] == 1 and rep.used == 2
    msgs, rep = ingest([a1])  # still open at the end of the stream
    assert rep.rejected["incomplete_multipart"] == 1 and rep.pending == 0


def test_duplicates_from_two_stations():
    s = "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A"
    t1 = f"\\s:st1,c:1577880000*{_cs('s:st1,c:1577880000'):02X}\\{s}"
    t2 = f"\\s:st2,c:1577880001*{_cs('s:st2,c:1577880001'):02X}\\{s}"
    t3 = f"\\s:st2,c:1577880100*{_cs('s:st2,c:1577880100'):02X}\\{s}"
    msgs, rep = ingest([t1, t2, t3])
    assert len(msgs) == 2 and rep.rejected["duplicate"] == 1


def test_unsupported_and_empty():
    _, rep = ingest(["!AIVDM,1,1,,B,,0*25", "!AIVDM,1,1,,A,702R5`hwCjq8,0*6B", "!AIVDM,1,1,,A,@@@@@@,0*00"])
    assert rep.rejected["empty_payload"] == 1 and rep.rejected["unsupported_type"] == 1
    assert rep.rejected["bad_checksum"] == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.binary(max_size=120),
    st.text(max_size=120),
    st.sampled_from([
        "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A", "!AIVDM,2,2,1,A,88888888880,2*25",
        "!AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C",
        "\\c:1*", "$PGHP,1,2008,5,9,0,0,0,10,338,2,,1,09*17", "!AIVDM,9,9,9,9,9*", "!AIVDM,1,1,,A,,7*",
    ]),
    st.builds(lambda b: _sentence(b), st.text(alphabet="AIVDM,0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVW`abcdefghijklmnopqrstuvw", max_size=80)),
), max_size=40))
def test_fuzz_never_raises_and_counts_add_up(lines):
    ing = AISIngestor(multipart_max_lines=5)
    for _ in ing.iter_lines(lines):
        pass
    rep = ing.report
    assert rep.lines_read == len(lines)
    assert rep.used + sum(rep.rejected.values()) == rep.lines_read


def test_source_url_parser():
    assert parse_source_url("udp://0.0.0.0:10110") == ("udp", "0.0.0.0", 10110)
    assert parse_source_url("tcp://localhost:5631") == ("tcp", "localhost", 5631)
    for bad in ("http://x:1", "udp://host", "tcp://:12"):
        with pytest.raises(ValueError):
            parse_source_url(bad)


SAMPLE = (DATA / "pyais__tests_mixed.txt").read_bytes().splitlines()


def _free_port(kind) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_udp_live_source():
    port = _free_port(socket.SOCK_DGRAM)
    ready, stop = threading.Event(), threading.Event()

    def sender():
        ready.wait(5)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(0, len(SAMPLE), 3):  # several lines per datagram
                s.sendto(b"\r\n".join(SAMPLE[i:i + 3]) + b"\r\n", ("127.0.0.1", port))
                time.sleep(0.002)
        time.sleep(0.3)
        stop.set()

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    msgs, rep = ingest(f"udp://127.0.0.1:{port}", stop=stop, ready=ready, idle_timeout=10)
    th.join(5)
    _, ref = ingest(SAMPLE)
    assert rep.as_dict() == ref.as_dict()
    assert len(msgs) == 10


def test_tcp_live_source():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def server():
        conn, _ = srv.accept()
        with conn:
            data = b"\n".join(SAMPLE) + b"\n"
            for i in range(0, len(data), 97):  # lines split across packets
                conn.sendall(data[i:i + 97])
        srv.close()

    th = threading.Thread(target=server, daemon=True)
    th.start()
    msgs, rep = ingest(f"tcp://127.0.0.1:{port}", idle_timeout=10)
    th.join(5)
    _, ref = ingest(SAMPLE)
    assert rep.as_dict() == ref.as_dict() and len(msgs) == 10


def test_tcp_stop_event():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    msgs, rep = ingest(f"tcp://127.0.0.1:{port}", stop=stop)  # silent server: only the event ends it
    assert time.monotonic() - t0 < 5 and rep.lines_read == 0
    srv.close()
