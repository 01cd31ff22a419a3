"""AIS out of the simulation (testbed run --emit) and live shadow mode (testbed live) over UDP."""

import json
import socket
import threading
import time

from testbed.ais.ingest import ingest
from testbed.ais.replay import recording_path
from testbed.ais.world_io import EGO_MMSI
from testbed.cli import main


def test_run_emits_ais_that_our_decoder_reads_back(tmp_path):
    nmea = tmp_path / "out.nmea"
    rc = main(["run", "Channel-v0", "time_limit_s=60", "--agent", "random", "--emit", str(nmea),
               "--out", str(tmp_path / "run")])  # fmt: skip
    assert rc == 0
    msgs, report = ingest(str(nmea))
    assert report.lines_read > 0 and report.used == report.lines_read  # every line is valid AIS
    mmsis = {m.mmsi for m in msgs}
    assert EGO_MMSI in mmsis and len(mmsis) == 3  # the ego and the two traffic vessels of Channel-v0
    ego_pos = [m for m in msgs if m.mmsi == EGO_MMSI and m.kind == "position"]
    assert 4 <= len(ego_pos) <= 13  # 10 s class A interval over 60 s (3 1/3 s while turning)
    statics = [m for m in msgs if m.mmsi == EGO_MMSI and m.kind == "static"]
    assert statics and statics[0].length == 110


def _free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_live_shadow_mode_over_udp(tmp_path):
    lines = recording_path("duisburg_synth_2h").read_text().splitlines()[:3000]
    expected = {m.mmsi for m in ingest(lines)[0]}
    port = _free_udp_port()
    stop = threading.Event()

    def sender():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        while not stop.is_set():
            for ln in lines:
                if stop.is_set():
                    break
                sock.sendto((ln + "\r\n").encode(), ("127.0.0.1", port))
                time.sleep(0.0002)
        sock.close()

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    try:
        rc = main(["live", "PortEntry-v0", "traffic.count=10", "--ais", f"udp://127.0.0.1:{port}",
                   "--duration", "30", "--speed", "30", "--agent", "random", "--out", str(tmp_path)])  # fmt: skip
    finally:
        stop.set()
        th.join(timeout=5)
    assert rc == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ais_lines_read"] > 100
    seen = set(summary["live_vessels_seen"])
    assert seen and seen <= expected  # the ego saw vessels of the feed, and only those
    assert summary["max_shown"] >= 3
