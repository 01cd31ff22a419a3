import os

import numpy as np
import pytest

from testbed.evaluation.protocol import FrameReader, PeerClosed, ProtocolError, RecvTimeout, encode, write_all


def test_round_trip_arrays_exact():
    r, w = os.pipe()
    try:
        a = np.array([1.5, -np.inf, np.nan], dtype=np.float32)
        write_all(w, encode({"op": "act", "i": 3, "obs": a, "x": np.float64(2.0)}))
        msg = FrameReader(r).recv(1.0)
        assert msg["i"] == 3 and msg["x"] == 2.0
        assert msg["obs"].dtype == np.float32 and msg["obs"].tobytes() == a.tobytes()
        with pytest.raises(RecvTimeout):
            FrameReader(r).recv(0.01)
    finally:
        os.close(r)
        os.close(w)


def test_oversized_bad_and_closed():
    r, w = os.pipe()
    write_all(w, encode({"blob": b"x" * 5000}))
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        FrameReader(r, max_bytes=1000).recv(1.0)
    os.close(r)
    os.close(w)
    r, w = os.pipe()
    write_all(w, b"XX\x01\x00\x04\x00\x00\x00abcd")
    with pytest.raises(ProtocolError, match="bad frame header"):
        FrameReader(r).recv(1.0)
    os.close(r)
    os.close(w)
    r, w = os.pipe()
    import msgpack

    payload = msgpack.packb({"a": {"__nd__": "|O", "shape": [1], "data": b"12345678"}})
    write_all(w, b"TB\x01\x00" + len(payload).to_bytes(4, "little") + payload)
    with pytest.raises(ProtocolError, match="not allowed"):
        FrameReader(r).recv(1.0)
    os.close(w)
    with pytest.raises(PeerClosed):
        FrameReader(r).recv(1.0)
    os.close(r)
