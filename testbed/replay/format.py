"""The replay file: a ZIP archive of a JSON header, a JSON event list and columnar ``.npy`` chunks.

Layout (format version 1)::

    header.json                   magic, format_version, the episode's header (see testbed.replay), the
                                  column table {name: {dtype, shape, encoding, unit, doc}}, chunk_steps
    events.json                   [{"step", "t", "kind", "vessel", "x", "y", "text"}, ...]
    c0000/ego/x.npy ...           column ``ego/x`` for frames 0 .. chunk_steps-1
    c0001/ego/x.npy ...           the next chunk_steps frames, and so on

Every member is a plain ``.npy`` array read with ``allow_pickle=False`` (no pickle anywhere) and
deflated by the ZIP container, whose CRC-32 per member catches corruption. Columns are chunked by time
(``chunk_steps`` frames per chunk), so a reader decodes only the chunks it touches: opening reads the
central directory, the header, the events and the ``t`` column; scrubbing to a frame decodes one chunk.

Encodings: ``plain`` (the array as is) and ``xor`` (floats: within a chunk, each vessel's time series
is XOR-ed with its previous value as unsigned integers and the bytes are shuffled into planes, stored as
``uint8 (itemsize, n)``; smooth trajectories and held values such as AIS reports turn into runs of
zero bytes that deflate well). Both are lossless: what is read back is bit-identical to what was written.

The ZIP central directory is written last, and files are written to a temporary name and renamed
(:mod:`atomicio`), so an aborted run leaves either no file or a complete one; a truncated file has no
central directory and does not open. Reading a newer format version, a truncated or a corrupted file
raises :class:`ReplayError` naming the file and the problem.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np

from atomicio import atomic_path

MAGIC = "testbed-replay"
FORMAT_VERSION = 1
CHUNK_STEPS = 512
_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member time stamps: same episode -> byte-identical file


class ReplayError(ValueError):
    """A replay file that cannot be read: names the file and the problem."""


# -- JSON with non-finite floats as strings (strict JSON for every reader) ---------------------------
def to_jsonable(obj):
    """``obj`` with non-finite floats as the strings "nan", "inf", "-inf" and numpy scalars as Python."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def dumps(obj) -> bytes:
    return json.dumps(to_jsonable(obj), allow_nan=False, separators=(",", ":"), sort_keys=False).encode()


# -- encodings ------------------------------------------------------------------------------------------
def encode_xor(a: np.ndarray) -> np.ndarray:
    """Lossless float encoding (see the module docstring): (n, ...) floats -> uint8 (itemsize, n * k)."""
    n = a.shape[0]
    it = a.dtype.itemsize
    u = np.ascontiguousarray(a.reshape(n, -1)).view(f"u{it}")
    d = u.copy()
    d[1:] ^= u[:-1]
    return np.ascontiguousarray(d.T).view(np.uint8).reshape(-1, it).T.copy()


def decode_xor(b: np.ndarray, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    dtype = np.dtype(dtype)
    it = dtype.itemsize
    n = shape[0]
    k = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    if b.dtype != np.uint8 or b.shape != (it, n * k):
        raise ValueError(f"xor block of shape {b.shape} {b.dtype}, expected ({it}, {n * k}) uint8")
    d = np.ascontiguousarray(b.T).view(f"u{it}").reshape(k, n).T
    u = np.bitwise_xor.accumulate(d, axis=0)
    return np.ascontiguousarray(u).view(dtype).reshape(shape)


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def member_name(chunk: int, column: str) -> str:
    return f"c{chunk:04d}/{column}.npy"


# -- writing -------------------------------------------------------------------------------------------
def write_replay(path: str | Path, header: dict, columns: dict[str, np.ndarray], events: list[dict],
                 column_docs: dict[str, tuple[str, str]] | None = None, chunk_steps: int = CHUNK_STEPS,
                 compresslevel: int = 6) -> Path:  # fmt: skip
    """Write a replay file atomically. ``columns`` map names to arrays whose first axis is the frame;
    ``column_docs`` name -> (unit, description). Returns the path."""
    path = Path(path)
    n = len(columns["t"])
    docs = column_docs or {}
    table = {}
    for name, a in columns.items():
        if a.shape[0] != n:
            raise ValueError(f"column {name!r} has {a.shape[0]} frames, expected {n}")
        enc = "xor" if a.dtype.kind == "f" else "plain"
        unit, doc = docs.get(name, ("", ""))
        table[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "encoding": enc, "unit": unit, "doc": doc}
    n_chunks = max(1, -(-n // chunk_steps))
    head = dict(header)
    head.update(magic=MAGIC, format_version=FORMAT_VERSION, n_frames=n, chunk_steps=int(chunk_steps),
                n_chunks=n_chunks, columns=table)  # fmt: skip
    head = {"magic": MAGIC, "format_version": FORMAT_VERSION, **{k: v for k, v in head.items()
                                                                 if k not in ("magic", "format_version")}}

    def put(zf, name, data):
        zi = zipfile.ZipInfo(name, _DATE)
        zi.compress_type = zipfile.ZIP_DEFLATED
        zi.external_attr = 0o644 << 16
        zf.writestr(zi, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=compresslevel)

    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        put(zf, "header.json", dumps(head))
        put(zf, "events.json", dumps(events))
        for c in range(n_chunks):
            i0, i1 = c * chunk_steps, min(n, (c + 1) * chunk_steps)
            for name, a in columns.items():
                part = a[i0:i1]
                put(zf, member_name(c, name), _npy_bytes(encode_xor(part) if table[name]["encoding"] == "xor" else part))
    return path


# -- reading -------------------------------------------------------------------------------------------
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError, json.JSONDecodeError)


class ReplayReader:
    """Random access to a replay file (see :mod:`testbed.replay` for the columns).

    ``header`` (dict), ``n_frames``, ``n_steps`` (= n_frames - 1: frame 0 is the reset state), ``times``
    (float64, per frame), ``events`` (list of dicts), ``reward_names``, ``column(name, i0, i1)``,
    ``frame(i)``, ``step_at_time(t)``. Chunks are decoded on demand and kept in a small cache.
    """

    def __init__(self, path: str | Path, cache_chunks: int = 256) -> None:
        self.path = Path(path)
        self._cache: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
        self._cache_max = int(cache_chunks)
        try:
            self._zf = zipfile.ZipFile(self.path, "r")
        except FileNotFoundError:
            raise ReplayError(f"{self.path}: no such replay file") from None
        except IsADirectoryError:
            raise ReplayError(f"{self.path}: is a directory, not a replay file") from None
        except zipfile.BadZipFile as exc:
            raise ReplayError(f"{self.path}: not a replay file, or truncated (no ZIP central directory: {exc})") from None
        except OSError as exc:
            raise ReplayError(f"{self.path}: cannot read: {exc}") from None
        try:
            head = json.loads(self._read("header.json"))
        except ReplayError:
            self._zf.close()
            raise
        if not isinstance(head, dict) or head.get("magic") != MAGIC:
            self._zf.close()
            raise ReplayError(f"{self.path}: not a testbed replay (header.json has no magic {MAGIC!r})")
        ver = head.get("format_version")
        if not isinstance(ver, int) or ver < 1:
            self._zf.close()
            raise ReplayError(f"{self.path}: bad format_version {ver!r}")
        if ver > FORMAT_VERSION:
            self._zf.close()
            raise ReplayError(f"{self.path}: written in replay format version {ver}, newer than this reader "
                              f"(version {FORMAT_VERSION}); upgrade the testbed to read it")  # fmt: skip
        self.header: dict = head
        self.columns: dict = head.get("columns") or {}
        try:
            self.n_frames = int(head["n_frames"])
            self.chunk_steps = int(head["chunk_steps"])
            self.n_chunks = int(head["n_chunks"])
        except (KeyError, TypeError, ValueError) as exc:
            self._zf.close()
            raise ReplayError(f"{self.path}: header.json lacks or has a bad {exc}") from None
        names = set(self._zf.namelist())
        missing = [member_name(c, k) for c in range(self.n_chunks) for k in self.columns
                   if member_name(c, k) not in names]  # fmt: skip
        if "events.json" not in names:
            missing.insert(0, "events.json")
        if missing or "t" not in self.columns:
            self._zf.close()
            what = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            raise ReplayError(f"{self.path}: incomplete replay: missing {what or 'column t'}")
        try:
            ev = json.loads(self._read("events.json"))
        except ValueError as exc:
            self._zf.close()
            raise ReplayError(f"{self.path}: events.json: {exc}") from None
        self.events: list[dict] = ev
        self.n_steps = self.n_frames - 1
        self.reward_names: list[str] = list(head.get("reward_names", []))
        self.times = self.column("t")

    # -- low level ---------------------------------------------------------------------------------------
    def _read(self, member: str) -> bytes:
        try:
            return self._zf.read(member)
        except KeyError:
            raise ReplayError(f"{self.path}: incomplete replay: member {member} is missing") from None
        except _READ_ERRORS as exc:
            raise ReplayError(f"{self.path}: corrupted member {member}: {exc}") from None

    def _chunk(self, c: int, name: str) -> np.ndarray:
        key = (c, name)
        a = self._cache.get(key)
        if a is not None:
            self._cache.move_to_end(key)
            return a
        spec = self.columns[name]
        member = member_name(c, name)
        raw = self._read(member)
        n = min(self.n_frames, (c + 1) * self.chunk_steps) - c * self.chunk_steps
        shape = (n, *spec["shape"][1:])
        try:
            arr = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
            if spec["encoding"] == "xor":
                arr = decode_xor(arr, np.dtype(spec["dtype"]), shape)
            elif spec["encoding"] != "plain":
                raise ValueError(f"unknown encoding {spec['encoding']!r}")
            if arr.shape != shape or arr.dtype != np.dtype(spec["dtype"]):
                raise ValueError(f"array {arr.shape} {arr.dtype}, header says {shape} {spec['dtype']}")
        except (ValueError, TypeError, OSError, EOFError) as exc:
            raise ReplayError(f"{self.path}: corrupted member {member}: {exc}") from None
        arr.flags.writeable = False
        self._cache[key] = arr
        if len(self._cache) > self._cache_max:
            self._cache.popitem(last=False)
        return arr

    # -- API ---------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n_frames

    def has(self, name: str) -> bool:
        return name in self.columns

    def column(self, name: str, i0: int = 0, i1: int | None = None) -> np.ndarray:
        """Frames ``i0 .. i1-1`` of column ``name`` (a read-only array when it lies in one chunk)."""
        if name not in self.columns:
            raise KeyError(f"{self.path}: no column {name!r}; columns: {', '.join(self.columns)}")
        n = self.n_frames
        i1 = n if i1 is None else min(max(int(i1), 0), n)
        i0 = min(max(int(i0), 0), i1)
        cs = self.chunk_steps
        if i0 == i1:
            spec = self.columns[name]
            return np.zeros((0, *spec["shape"][1:]), dtype=np.dtype(spec["dtype"]))
        c0, c1 = i0 // cs, (i1 - 1) // cs
        parts = [self._chunk(c, name)[max(i0 - c * cs, 0):i1 - c * cs] for c in range(c0, c1 + 1)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def step_at_time(self, t: float) -> int:
        """The last frame at or before time ``t`` (clamped to the episode)."""
        i = int(np.searchsorted(self.times, t + 1e-9, side="right")) - 1
        return min(max(i, 0), self.n_frames - 1)

    def frame(self, i: int) -> dict:
        """Everything at frame ``i``: {column name: value} plus ``events`` (those at frame ``i``)."""
        if not -self.n_frames <= i < self.n_frames:
            raise IndexError(f"frame {i} outside 0..{self.n_frames - 1} of {self.path}")
        i %= self.n_frames
        out = {name: self.column(name, i, i + 1)[0] for name in self.columns}
        out["events"] = [e for e in self.events if e["step"] == i]
        return out

    def read_all(self) -> dict[str, np.ndarray]:
        """Every column in full (checks every member's CRC)."""
        return {name: self.column(name) for name in self.columns}

    def close(self) -> None:
        self._zf.close()

    def __enter__(self) -> ReplayReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        h = self.header
        return (f"ReplayReader({str(self.path)!r}: {h.get('scenario')} seed {h.get('seed')} episode "
                f"{h.get('episode')}, {self.n_steps} steps, outcome {h.get('outcome')})")
