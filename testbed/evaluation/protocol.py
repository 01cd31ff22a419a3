"""The evaluator <-> policy wire format: length-prefixed msgpack frames, arrays as raw little-endian bytes.

Frame: an 8-byte header ``b"TB" | version u8 | 0 u8 | payload length u32 (little-endian)`` followed by a
msgpack map. numpy arrays travel as ``{"__nd__": dtype string ("<f4"), "shape": [...], "data": bytes}``
(C order, little-endian); nothing is ever unpickled. A frame larger than the reader's ``max_bytes`` or
with a bad header is a :class:`ProtocolError` (a hostile policy cannot make the evaluator allocate
without bound). Messages::

    evaluator -> policy   {"op": "init", "observation_space": BOX, "action_space": BOX}
                          {"op": "reset", "seed": int}
                          {"op": "act", "i": step index, "obs": array}
                          {"op": "close"}
    policy -> evaluator   {"ok": true}  |  {"i": step index, "act": array}  |  {"error": "one line"}

``BOX`` is ``{"low": array, "high": array, "dtype": "<f4"}``.
"""

from __future__ import annotations

import os
import select
import struct
import time

import msgpack
import numpy as np

MAGIC = b"TB"
VERSION = 1
HEADER = struct.Struct("<2sBxI")
_ALLOWED_KINDS = "biuf"  # bool, signed, unsigned, float: no object or void dtypes


class ProtocolError(Exception):
    """A malformed or oversized frame."""


class PeerClosed(Exception):
    """The other side closed its end of the pipe."""


class RecvTimeout(Exception):
    """No complete frame arrived before the deadline."""


def _default(obj):
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        a = a.astype(dt, copy=False)
        return {"__nd__": dt.str, "shape": list(a.shape), "data": a.tobytes()}
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _hook(d):
    if "__nd__" in d:
        dt = np.dtype(str(d["__nd__"]))
        if dt.kind not in _ALLOWED_KINDS or dt.itemsize > 16:
            raise ProtocolError(f"array dtype {dt.str!r} not allowed")
        shape = tuple(int(s) for s in d["shape"])
        if any(s < 0 for s in shape) or len(shape) > 8:
            raise ProtocolError(f"bad array shape {shape}")
        data = d["data"]
        if not isinstance(data, bytes) or len(data) != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise ProtocolError("array data does not match its shape and dtype")
        return np.frombuffer(data, dtype=dt).reshape(shape).copy()
    return d


def encode(msg: dict) -> bytes:
    payload = msgpack.packb(msg, default=_default, use_bin_type=True)
    return HEADER.pack(MAGIC, VERSION, len(payload)) + payload


def decode_payload(payload: bytes) -> dict:
    try:
        msg = msgpack.unpackb(payload, object_hook=_hook, raw=False, strict_map_key=True)
    except ProtocolError:
        raise
    except Exception as exc:  # msgpack raises several types for garbage
        raise ProtocolError(f"undecodable frame: {type(exc).__name__}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("a frame must hold a map")
    return msg


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class FrameReader:
    """Reads frames from a file descriptor with an optional deadline (non-blocking reads + select)."""

    def __init__(self, fd: int, max_bytes: int = 1 << 20):
        self.fd = fd
        self.max_bytes = max_bytes
        self.buf = bytearray()

    def _take(self):
        if len(self.buf) < HEADER.size:
            return None
        magic, version, n = HEADER.unpack_from(self.buf)
        if magic != MAGIC or version != VERSION:
            raise ProtocolError("bad frame header")
        if n > self.max_bytes:
            raise ProtocolError(f"frame of {n} bytes exceeds the limit of {self.max_bytes}")
        if len(self.buf) < HEADER.size + n:
            return None
        payload = bytes(self.buf[HEADER.size:HEADER.size + n])
        del self.buf[:HEADER.size + n]
        return decode_payload(payload)

    def recv(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            msg = self._take()
            if msg is not None:
                return msg
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RecvTimeout()
                r, _, _ = select.select([self.fd], [], [], left)
                if not r:
                    raise RecvTimeout()
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise PeerClosed()
            self.buf += chunk
            if len(self.buf) > self.max_bytes + HEADER.size:
                self._take()  # raises on an oversized frame before buffering more


def box_spec(space) -> dict:
    return {"low": np.asarray(space.low), "high": np.asarray(space.high), "dtype": np.dtype(space.dtype).str}
