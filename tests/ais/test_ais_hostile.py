"""Hostile and odd AIS input (issue 8 section 2), each from crafted lines with valid checksums."""

from __future__ import annotations

import gzip
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nmea_craft import armour, lines_of, resize, sentence, tag, type1, type5, type24a, type24b, type27

from testbed.ais.ingest import AISIngestor, AISSourceError, ingest, split_lines
from testbed.ais.nmea import parse_line
from testbed.cli import main

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"


def _added_up(rep):
    assert rep.used + sum(rep.rejected.values()) + rep.pending == rep.lines_read
    return rep


# ------------------------------------------------------------------------------------------- bit lengths
@pytest.mark.parametrize("nbits", [60, 84, 120, 162, 167, 169, 174, 198])
def test_type1_of_wrong_length_is_bad_length(nbits):
    line = lines_of(resize(type1(211000001), nbits))[0]
    assert parse_line(line).kind == "ais"  # the checksum is valid
    msgs, rep = ingest([line])
    assert msgs == [] and rep.rejected["bad_length"] == 1 and rep.rejected["out_of_range"] == 0
    _added_up(rep)


def test_type1_of_168_bits_is_used_on_both_paths():
    line = lines_of(type1(211000001))[0]
    for ln in (line, line.encode(), tag("c:1577880000") + line):  # fast path (bytes), str and tag block
        msgs, rep = ingest([ln])
        assert len(msgs) == 1 and msgs[0].mmsi == 211000001
        assert msgs[0].lat == pytest.approx(51.45) and msgs[0].lon == pytest.approx(6.73)


@pytest.mark.parametrize("nbits,ok", [(64, False), (80, False), (88, False), (95, False), (96, True),
                                      (120, False), (168, True), (170, False)])
def test_type27_lengths(nbits, ok):
    msgs, rep = ingest(lines_of(resize(type27(211000002), nbits)))
    assert (len(msgs) == 1) is ok
    assert rep.rejected["bad_length"] == (0 if ok else 1)
    if ok:
        assert msgs[0].lat == pytest.approx(51.45, abs=1e-3) and msgs[0].sog == pytest.approx(5 * 1852 / 3600)


@pytest.mark.parametrize("nbits,ok", [(360, False), (418, False), (420, True), (422, True), (424, True),
                                      (426, True), (432, False)])
def test_type5_lengths(nbits, ok):
    lines = lines_of(resize(type5(211000003), nbits))
    msgs, rep = ingest(lines)
    assert (len(msgs) == 1) is ok, rep.rejected
    assert rep.rejected["bad_length"] == (0 if ok else len(lines))  # every fragment line is counted
    _added_up(rep)


def test_type24_and_19_lengths():
    ok = [lines_of(type24a(211000004))[0], lines_of(resize(type24a(211000005), 168))[0],
          lines_of(type24b(211000004))[0]]
    bad = [lines_of(resize(type24a(211000006), 150))[0], lines_of(resize(type24b(211000007), 160))[0],
           lines_of(resize(type24a(211000008), 164))[0],
           lines_of(resize("010011" + "0" * 2 + format(211000009, "030b"), 300))[0]]  # type 19, 300 bits
    msgs, rep = ingest(ok + bad)
    assert len(msgs) == 3 and rep.rejected["bad_length"] == 4


def test_inland_fi10_length_is_bad_length():
    from testbed.ais.encode import payload_type8_fi10

    v, nbits = payload_type8_fi10(211000010, eni="04001234", length_m=110.0, beam_m=11.4, eri_code=8010)
    b = format(v, f"0{nbits}b")
    msgs, rep = ingest(lines_of(b) + lines_of(resize(b, 140)) + lines_of(resize(b, 40)))
    assert len(msgs) == 1 and msgs[0].eni == "04001234" and rep.rejected["bad_length"] == 2


# ------------------------------------------------------------------------------------------- payload
@pytest.mark.parametrize("bad", ["\x00", " ", "x", "~", "X", "\x7f", "\xe9"])
def test_character_outside_the_6bit_alphabet_is_bad_payload(bad):
    payload, fill = armour(type1(211000001))
    for pos in (3, 27):  # inside the MMSI, and the last character
        p = payload[:pos] + bad + payload[pos + 1:]
        line = sentence(p, fill)
        assert parse_line(line.encode("latin-1")).kind == "ais"  # the checksum is valid
        for ln in (line.encode("latin-1"),) + ((line,) if bad.isascii() else ()):  # str lines are UTF-8
            msgs, rep = ingest([ln])
            assert msgs == [] and rep.rejected["bad_payload"] == 1, (bad, pos)


def test_nul_in_a_fragment_rejects_the_fragment():
    l1, l2 = lines_of(type5(211000003))
    payload = l2.split(",")[5]
    l2bad = sentence(payload[:3] + "\x00" + payload[4:], 2, count=2, num=2, seq="1")
    msgs, rep = ingest([l1, l2bad])
    assert msgs == [] and rep.rejected["bad_payload"] == 1 and rep.rejected["incomplete_multipart"] == 1


# ------------------------------------------------------------------------------------------- multipart
def test_fragments_of_two_messages_with_the_same_key_are_not_joined():
    a1, _ = lines_of(type5(211000011, name="ALPHA"), seq="3")
    _, b2 = lines_of(type5(211000012, name="BRAVO"), seq="3")
    filler = [lines_of(type1(211000100 + k, lat=51.4 + k * 1e-3))[0] for k in range(20)]
    msgs, rep = ingest([a1, *filler, b2])
    assert [m.msg_type for m in msgs] == [1] * 20  # no type 5 made of ALPHA's first and BRAVO's last part
    assert rep.rejected["multipart_expired"] == 1 and rep.rejected["incomplete_multipart"] == 1
    _added_up(rep)
    # the window is an option; within it, adjacent fragments of one message still join
    msgs, rep = ingest([*lines_of(type5(211000011, name="ALPHA"), seq="3")])
    assert msgs[0].name == "ALPHA"


def test_fragments_from_different_stations_or_groups_are_not_joined():
    a = lines_of(type5(211000013, name="ALPHA"), seq="2")
    b = lines_of(type5(211000014, name="BRAVO"), seq="2")
    # interleaved, same channel and sequence id, told apart by the tag block station
    lines = [tag("s:st1") + a[0], tag("s:st2") + b[0], tag("s:st2") + b[1], tag("s:st1") + a[1]]
    msgs, rep = ingest(lines)
    assert sorted(m.name for m in msgs) == ["ALPHA", "BRAVO"] and rep.used == 4
    # fragment 2 of a different tag-block group is not joined, even on the next line
    lines = [tag("g:1-2-100") + a[0], tag("g:2-2-200") + b[1]]
    msgs, rep = ingest(lines)
    assert msgs == [] and rep.rejected["incomplete_multipart"] == 2
    # same group: joined although only the first fragment names the station (as in pyais's mixed.txt)
    lines = [tag("g:1-2-100,s:st1,c:1577880000") + a[0], tag("g:2-2-100") + a[1]]
    msgs, rep = ingest(lines)
    assert [m.name for m in msgs] == ["ALPHA"] and msgs[0].t == 1577880000 and msgs[0].station == "st1"


def test_multipart_expires_in_seconds_within_a_station():
    a = lines_of(type5(211000015), seq="4")
    lines = [tag("s:st1,c:1577880000") + a[0], tag("s:st1,c:1577880030") + lines_of(type1(211000016))[0],
             tag("s:st1,c:1577880031") + a[1]]
    msgs, rep = ingest(lines)
    assert [m.msg_type for m in msgs] == [1] and rep.rejected["multipart_expired"] == 1
    _added_up(rep)


# ------------------------------------------------------------------------------------------- line ends
@pytest.mark.parametrize("end", [b"\r", b"\n", b"\r\n", b"mixed"])
def test_line_endings(tmp_path, end):
    lines = [lines_of(type1(211000020 + k))[0].encode() for k in range(3)]
    ends = [b"\r", b"\n", b"\r\n"] if end == b"mixed" else [end] * 3
    data = b"".join(ln + e for ln, e in zip(lines, ends, strict=True))
    for name, blob in (("plain.nmea", data), ("zipped.nmea.gz", gzip.compress(data))):
        p = tmp_path / name
        p.write_bytes(blob)
        msgs, rep = ingest(p)
        assert rep.lines_read == 3 and rep.used == 3 and len(msgs) == 3, (end, name)
    msgs, rep = ingest(data)  # a bytes source
    assert rep.lines_read == 3 and len(msgs) == 3


def test_split_lines_at_every_chunk_boundary():
    data = b"a\r\nb\rc\n\rd\r\r\ne"
    want = [b"a", b"b", b"c", b"", b"d", b"", b"e"]
    assert list(split_lines([data])) == want
    for i in range(len(data) + 1):
        for j in range(i, len(data) + 1):
            assert list(split_lines([data[:i], data[i:j], data[j:]])) == want, (i, j)


def test_cr_only_stdin(tmp_path):
    lines = [lines_of(type1(211000030 + k))[0] for k in range(3)]
    p = tmp_path / "cr.nmea"
    p.write_bytes("\r".join(lines).encode() + b"\r")
    r = subprocess.run([sys.executable, "-m", "testbed", "ais", "inspect", "-", "--json"], stdin=open(p, "rb"),
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    import json

    s = json.loads(r.stdout)
    assert r.returncode == 0 and s["lines_read"] == 3 and s["used"] == 3


# ------------------------------------------------------------------------------------------- tag blocks
def test_malformed_tag_block_keeps_the_sentence_and_warns():
    s1 = lines_of(type1(211000040))[0]
    s2 = lines_of(type1(211000041))[0]
    s3 = lines_of(type1(211000042))[0]
    s4 = lines_of(type1(211000043))[0]
    good = tag("c:1577880000,s:st1")
    bad_ck = good.replace("*", "*0").replace("*0", "*", 1)[:-3] + "00\\"  # wrong checksum
    lines = [bad_ck + s1, "\\c:1577880000*" + s2, tag("c:notatime") + s3, good + s4]
    assert parse_line(lines[0]).warning == "tag_block"
    msgs, rep = ingest(lines)
    assert [m.mmsi for m in msgs] == [211000040, 211000041, 211000042, 211000043]
    assert [m.t for m in msgs] == [None, None, None, 1577880000]  # an untrusted tag block gives no time
    assert rep.warnings["tag_block"] == 3 and rep.used == 4 and rep.lines_read == 4
    _added_up(rep)


def test_warning_is_not_a_rejection_in_the_cli(tmp_path, capsys):
    p = tmp_path / "tb.nmea"
    p.write_text("\\c:1577880000*00\\" + lines_of(type1(211000044))[0] + "\n")
    assert main(["ais", "inspect", str(p)]) == 0
    out = capsys.readouterr().out
    assert "used: 1  rejected: 0" in out and "warnings (lines still used or rejected as above): tag_block: 1" in out


# ------------------------------------------------------------------------------------------- crashes
@pytest.fixture
def sample_gz(tmp_path):
    src = (DATA / "pyais__tests_nmea_data_sample.txt").read_bytes()
    gz = gzip.compress(src)
    p = tmp_path / "trunc.nmea.gz"
    p.write_bytes(gz[: len(gz) // 2])
    return p


def test_truncated_gzip_keeps_counts_and_says_where(sample_gz, capsys):
    ing = AISIngestor()
    with pytest.raises(AISSourceError, match=r"truncated gzip.*byte \d+.*\d+ complete lines"):
        for _ in ing.iter_source(sample_gz):
            pass
    assert ing.report.lines_read > 100
    _added_up(ing.report)
    assert main(["ais", "inspect", str(sample_gz)]) == 2
    cap = capsys.readouterr()
    assert f"lines read: {ing.report.lines_read}" in cap.out and "OK" in cap.out
    err = cap.err.strip().splitlines()
    assert len(err) == 1 and "truncated gzip" in err[0] and f"ends at byte {sample_gz.stat().st_size}" in err[0]
    assert f"{ing.report.lines_read} complete lines" in err[0]


@pytest.mark.parametrize("kind", ["header", "directory", "missing"])
def test_unreadable_sources_are_one_line(tmp_path, capsys, kind):
    p = tmp_path / "x.nmea.gz"
    if kind == "header":
        p.write_bytes(b"\x1f\x8b")
    elif kind == "directory":
        p.mkdir()
    for cmd in (["ais", "inspect", str(p)], ["ais", "tracks", str(p), "--out", str(tmp_path / "o.csv")]):
        assert main(cmd) == 2
        cap = capsys.readouterr()
        assert cap.out == ""
        err = cap.err.strip().splitlines()
        assert len(err) == 1 and str(p) in err[0] and "Errno" not in err[0]
        assert {"header": "truncated gzip", "directory": "is a directory", "missing": "no such file"}[kind] in err[0]
    assert not (tmp_path / "o.csv").exists()


def test_broken_pipe_is_one_line_exit_2(tmp_path):
    src = DATA / "pyais__tests_nmea_data_sample.txt"
    proc = subprocess.Popen([sys.executable, "-m", "testbed", "ais", "inspect", str(src)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader goes away before the first line, as `| head -0` would
    err = proc.stderr.read().decode()
    rc = proc.wait(timeout=60)
    assert rc == 2 and "broken pipe" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err and "BrokenPipe" not in err, err
    # and through a real shell pipe
    r = subprocess.run(f"{sys.executable} -m testbed ais inspect {src} | head -1", shell=True, cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.startswith("lines read: 898") and "Traceback" not in r.stderr
    assert r.stderr in ("", "testbed: error: output closed early (broken pipe); nothing more was written\n")


# ------------------------------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_in_process_prints_counts(monkeypatch, capsys):
    real = AISIngestor.process_line

    def process_line(self, line):
        if self.report.lines_read == 300:
            raise KeyboardInterrupt
        return real(self, line)

    monkeypatch.setattr(AISIngestor, "process_line", process_line)
    rc = main(["ais", "inspect", str(DATA / "pyais__tests_nmea_data_sample.txt")])
    cap = capsys.readouterr()
    assert rc == 130
    assert "lines read: 300" in cap.out and "OK" in cap.out
    assert "interrupted" in cap.err and "Traceback" not in cap.err


def test_ctrl_c_on_a_live_source_is_clean():
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(60)
    port = srv.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "testbed", "ais", "inspect", f"tcp://127.0.0.1:{port}",
                             "--idle-timeout", "60"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        conn, _ = srv.accept()  # the command is up and connected
        lines = [lines_of(type1(211000050 + k))[0] for k in range(5)]
        a = lines_of(type5(211000060), seq="1")[0]  # an open fragment when Ctrl-C comes
        conn.sendall(("\r\n".join([*lines, a]) + "\r\n").encode())
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        conn.close()
    finally:
        srv.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert "lines read: 6  used: 5  rejected: 1" in out and "incomplete_multipart: 1" in out and "OK" in out
    assert "211000050" in out


# ------------------------------------------------------------------------------------------- CLI outcomes
def test_tracks_without_times_says_why_and_fails(tmp_path, capsys):
    out = tmp_path / "t.csv"
    rc = main(["ais", "tracks", str(DATA / "pyais__tests_nmea_data_sample.txt"), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "receive time" in err and "--rate" in err and "nothing written" in err
    assert not out.exists()
    rc = main(["ais", "tracks", str(DATA / "pyais__tests_nmea_data_sample.txt"), "--out", str(out), "--rate", "1"])
    assert rc == 0 and out.exists()


def test_inspect_without_ais_says_so(tmp_path, capsys):
    p = tmp_path / "gps.nmea"
    p.write_text("$GPGGA,184353.07,1929.045,S,02410.506,E,1,04,2.6,100.00,M,-33.9,M,,0000*6D\n# hello\n")
    assert main(["ais", "inspect", str(p)]) == 0
    cap = capsys.readouterr()
    assert cap.out.splitlines()[0].startswith("*** NO AIS MESSAGES in")
    assert "no AIS messages" in cap.err
    p.write_bytes(b"")
    assert main(["ais", "inspect", str(p)]) == 0
    assert "the file is empty" in capsys.readouterr().out


def test_fragments_pending_at_interrupt_are_counted(monkeypatch):
    a = lines_of(type5(211000060), seq="1")
    lines = [a[0]] + [lines_of(type1(211000061))[0]] * 3

    def gen():
        yield from lines
        raise KeyboardInterrupt

    ing = AISIngestor(dup_window_lines=0)
    with pytest.raises(KeyboardInterrupt):
        for _ in ing.iter_lines(gen()):
            pass
    assert ing.report.pending == 0 and ing.report.rejected["incomplete_multipart"] == 1
    _added_up(ing.report)


def test_ctrl_c_in_synth_writes_nothing(tmp_path, monkeypatch, capsys):
    import testbed.ais.synth as synth

    def interrupted(**kw):  # the real generator costs a map load; the write path is what is tested
        yield from lines_of(type1(211000070))
        raise KeyboardInterrupt

    monkeypatch.setattr(synth, "synthesize", interrupted)
    out = tmp_path / "s.nmea.gz"
    assert main(["ais", "synth", "--hours", "0.05", "--out", str(out)]) == 130
    assert "nothing written" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one


# ------------------------------------------------------------------------------------------- memory
@pytest.mark.parametrize("cmd", ["inspect", "tracks"])
def test_cli_commands_keep_no_message_objects(tmp_path, monkeypatch, capsys, cmd):
    """``ais inspect``/``ais tracks`` stream: deep into the file, no earlier AISMessage is still alive."""
    import gc

    from testbed.ais.ingest import AISMessage

    base = [b for b in (DATA / "pyais__tests_nmea_data_sample.txt").read_bytes().splitlines() if b]
    p = tmp_path / "big.nmea"
    p.write_bytes(b"\n".join(base * 5) + b"\n")  # 4490 lines, > 3000 messages
    real = AISIngestor.iter_lines
    alive = []

    def iter_lines(self, lines):
        for k, m in enumerate(real(self, lines)):
            if k == 3000:
                alive.append(sum(isinstance(o, AISMessage) for o in gc.get_objects()))
            yield m

    monkeypatch.setattr(AISIngestor, "iter_lines", iter_lines)
    argv = ["ais", cmd, str(p)] + (["--rate", "10", "--out", str(tmp_path / "t.csv")] if cmd == "tracks" else [])
    assert main(argv) == 0
    assert len(alive) == 1 and alive[0] <= 3, alive  # the message in hand (and its neighbours), not 3000


def test_multipart_window_is_a_cli_option(tmp_path, capsys):
    a1, a2 = lines_of(type5(211000080, name="ALPHA"), seq="5")
    filler = [lines_of(type1(211000200 + k, lat=51.4 + k * 1e-3))[0] for k in range(15)]
    p = tmp_path / "far.nmea"
    p.write_text("\n".join([a1, *filler, a2]) + "\n")
    assert main(["ais", "inspect", str(p), "--json"]) == 0
    import json

    s = json.loads(capsys.readouterr().out)
    assert s["rejected"]["multipart_expired"] == 1 and "5" not in s["messages_by_type"]
    assert main(["ais", "inspect", str(p), "--json", "--multipart-lines", "20"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["messages_by_type"]["5"] == 1 and s["used"] == 17
    assert main(["ais", "inspect", str(p), "--multipart-lines", "0"]) == 2
