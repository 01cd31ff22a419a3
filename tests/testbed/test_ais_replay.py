"""AIS replay traffic: recorded tracks through the decoder path, into the environment."""

import math

import gymnasium as gym
import numpy as np
import pytest

import testbed  # noqa: F401
from harbour_maps import load_map
from testbed.ais.encode import encode_type1, encode_type5, tag_block
from testbed.ais.replay import load_replay, recording_path

T0 = 1_700_000_000


def _write_recording(path, vessels, duration=900, step=10):
    """NMEA with tag-block times: each vessel (mmsi, lane id, start s, speed m/s) follows its lane."""
    hmap = load_map("duisburg_ruhrort")
    lanes = {ln.id: ln for ln in hmap.lanes}
    lines = []
    for k, (mmsi, _lane, _s0, _speed) in enumerate(vessels):
        lines += encode_type5(mmsi, seq_id=k % 10, tag=tag_block(T0), name=f"TEST {k}", ship_type=79,
                              to_bow=55, to_stern=55, to_port=6, to_starboard=5)  # fmt: skip
    for t in range(0, duration + 1, step):
        for mmsi, lane_id, s0, speed in vessels:
            ln = lanes[lane_id]
            s = s0 + speed * t
            x, y = np.interp(s, ln.s, ln.xy[:, 0]), np.interp(s, ln.s, ln.xy[:, 1])
            k = min(np.searchsorted(ln.s, s), len(ln.s) - 1)
            d = ln.xy[k] - ln.xy[k - 1]
            cog = math.degrees(hmap.frame.grid_to_true(math.atan2(d[0], d[1]))) % 360
            lon, lat = hmap.frame.to_wgs84(x, y)
            lines += encode_type1(mmsi, float(lat), float(lon), sog_kn=speed / 0.514444, cog_deg=cog,
                                  heading_deg=round(cog) % 360, tag=tag_block(T0 + t))  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return hmap


def test_replayed_vessels_follow_their_recorded_tracks(tmp_path):
    rec = tmp_path / "two.nmea"
    hmap = _write_recording(rec, [(211000001, "lane-rhine-down", 3000.0, 4.0),
                                  (211000002, "lane-rhine-up", 2000.0, 2.0)])  # fmt: skip
    pk = load_replay(str(rec), hmap)
    assert pk.n_tracks == 2 and list(pk.mmsi) == [211000001, 211000002]
    assert np.allclose(pk.length, 110.0) and np.allclose(pk.beam, 11.0)
    env = gym.make("testbed/PortEntry-v0", traffic={"source": "ais", "ais_file": str(rec), "count": 4,
                                                    "ais_start_s": 100.0, "reactive": False})  # fmt: skip
    env.reset(seed=0)
    tr = env.unwrapped.world.traffic
    assert list(tr.mode[:2]) == [1, 1] and list(tr.active) == [1, 1, 0, 0]
    lanes = {ln.id: ln for ln in hmap.lanes}
    for _ in range(60):
        env.step(np.array([0.0, 0.5], dtype=np.float32))
    # after 60 s of simulation the replay is at recording time 160 s
    ln = lanes["lane-rhine-down"]
    s = 3000.0 + 4.0 * 160.0
    expect = np.array([np.interp(s, ln.s, ln.xy[:, 0]), np.interp(s, ln.s, ln.xy[:, 1])])
    got = np.array([tr.state.x[0], tr.state.y[0]])
    assert np.hypot(*(got - expect)) < 3.0  # 1/10000 min rounding and Hermite between reports
    # over ground the recorded 4 m/s; through the water (state u, what the rules limit) less the current
    h = np.array([math.sin(tr.state.psi[0]), math.cos(tr.state.psi[0])])
    assert np.hypot(*(tr.state.u[0] * h + tr.current[0])) == pytest.approx(4.0, abs=0.1)
    c = hmap.current(np.array([got]))[0]
    assert tr.state.u[0] == pytest.approx(4.0 - float(c @ h), abs=0.1) and float(c @ h) > 0.5
    # determinism: same seed, same replay
    env2 = gym.make("testbed/PortEntry-v0", traffic={"source": "ais", "ais_file": str(rec), "count": 4,
                                                     "ais_start_s": 100.0, "reactive": False})  # fmt: skip
    env2.reset(seed=0)
    for _ in range(60):
        env2.step(np.array([0.0, 0.5], dtype=np.float32))
    assert env2.unwrapped.world.traffic.state.x[0] == tr.state.x[0]


def test_reactive_handover_gives_way_to_the_ego(tmp_path):
    rec = tmp_path / "headon.nmea"
    _write_recording(rec, [(244000001, "lane-rhine-down", 5200.0, 3.0)], duration=1500)
    env = gym.make("testbed/PortEntry-v0", traffic={"source": "ais", "ais_file": str(rec), "count": 1,
                                                    "ais_start_s": 0.0, "reactive": True},
                   start={"lanes": ["lane-rhine-down"], "km": [779.6, 779.6], "cross_m": 0.0,
                          "heading_deg": 0.0, "speed_ms": [0.0, 0.0]})  # fmt: skip
    env.reset(seed=0)
    w = env.unwrapped.world
    tr = w.traffic
    assert tr.mode[0] == 1
    # stop the ego on the downstream lane ahead of the recorded vessel: it must be handed over and stop
    handed_at = None
    for k in range(900):
        w.ego.u[0] = 0.0
        w.ego.n[0] = 0.0
        _, _, term, trunc, info = env.step(np.array([0.0, 0.0], dtype=np.float32))
        if handed_at is None and tr.mode[0] == 0:
            handed_at = k
        if term or trunc:
            break
    assert handed_at is not None
    assert info["outcome"] != "collision"
    gap = math.hypot(tr.state.x[0] - w.ego.x[0], tr.state.y[0] - w.ego.y[0]) - 0.5 * (tr.length[0] + 110.0)
    assert gap > 20.0 and abs(tr.state.u[0]) < 0.5


def test_unknown_recording_names_the_shipped_ones():
    with pytest.raises(FileNotFoundError, match="no_such"):
        recording_path("no_such_recording")
