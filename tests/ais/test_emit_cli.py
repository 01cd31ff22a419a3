"""``testbed run --emit``: types 1, 5 and 8/FI 10 as --help says, a one-line summary, pacing for UDP."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from testbed.ais.emit import AISEmitter, AISVessel, cli_pace
from testbed.ais.ingest import ingest
from testbed.ais.world_io import EGO_MMSI, eni_for_mmsi
from testbed.cli import main


def test_run_emit_file_sends_types_1_5_8_and_says_so(tmp_path, capsys):
    nmea = tmp_path / "out.nmea"
    t0 = time.monotonic()
    rc = main(["run", "Channel-v0", "time_limit_s=60", "--agent", "random", "--emit", str(nmea),
               "--out", str(tmp_path / "run")])
    wall = time.monotonic() - t0
    assert rc == 0
    out = capsys.readouterr().out
    msgs, rep = ingest(nmea)
    by_type = rep.messages_by_type
    assert set(by_type) == {1, 5, 8} and rep.used == rep.lines_read
    line = [ln for ln in out.splitlines() if ln.startswith("AIS sent")]
    assert line == [f"AIS sent to {nmea}: {by_type[1]} type 1 (position), {by_type[5]} type 5 (static), "
                    f"{by_type[8]} type 8 (DAC 200 FI 10 inland static); {rep.lines_read} sentences, unpaced"]
    fi10 = [m for m in msgs if m.kind == "inland_static" and m.mmsi == EGO_MMSI]
    assert fi10 and fi10[0].eni == eni_for_mmsi(EGO_MMSI) and fi10[0].length == pytest.approx(110.0)
    assert wall < 60  # a file is not paced


def test_run_emit_udp_is_paced(tmp_path, capsys):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.2)
    port = rx.getsockname()[1]
    got: list[tuple[float, str]] = []
    stop = threading.Event()

    def receive():
        while not stop.is_set():
            try:
                data = rx.recv(65535)
            except TimeoutError:
                continue
            got.extend((time.monotonic(), ln) for ln in data.decode().splitlines())

    th = threading.Thread(target=receive, daemon=True)
    th.start()
    try:
        rc = main(["run", "Channel-v0", "time_limit_s=40", "--agent", "random", "--emit",
                   f"udp://127.0.0.1:{port}", "--speed", "20", "--out", str(tmp_path / "run")])
        time.sleep(0.3)
    finally:
        stop.set()
        th.join(timeout=5)
        rx.close()
    assert rc == 0
    assert "paced at 20x real time" in capsys.readouterr().out
    msgs, rep = ingest([ln for _, ln in got])
    assert set(rep.messages_by_type) == {1, 5, 8}
    first = got[0][0]
    span = got[-1][0] - first
    assert span >= 0.7 * 40 / 20  # 40 s of simulation at 20x real time: about 2 s


def test_emitter_pacing_and_jumps():
    v = AISVessel(211234560, 51.45, 6.73, sog_kn=8.0)
    em = AISEmitter(None, pace=10.0)
    t0 = time.monotonic()
    for k in range(11):
        em.emit(k * 0.5, [v])  # 5 s of simulation at 10x: 0.5 s
    em.emit(100.0, [v])  # a jump (next episode): not waited for
    em.emit(100.5, [v])
    wall = time.monotonic() - t0
    assert 0.45 <= wall < 1.5
    fast = AISEmitter(None)
    t0 = time.monotonic()
    for k in range(11):
        fast.emit(k * 10.0, [v])
    assert time.monotonic() - t0 < 0.5


def test_cli_pace_defaults():
    assert cli_pace("udp://127.0.0.1:10110", None) == 1.0
    assert cli_pace("out.nmea", None) is None
    assert cli_pace("udp://127.0.0.1:10110", 0.0) is None
    assert cli_pace("out.nmea", 5.0) == 5.0
    with pytest.raises(ValueError, match="--speed"):
        cli_pace("udp://x:1", -1.0)
    with pytest.raises(ValueError, match="pacing"):
        AISEmitter(None, pace=0.0)
