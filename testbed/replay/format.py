"""The replay file: a ZIP archive of a JSON header, a JSON event list, a time index and columnar chunks.

Layout (format version 1)::

    header.json      magic, format_version, the episode's header (see testbed.replay), the column table
                     {name: {dtype, shape, group, offset, unit, doc}}, chunk_steps, n_chunks, the chunk
                     codec and ``chunk_bytes`` (per chunk: the byte length of each group's block)
    events.json      [{"step", "t", "kind", "vessel", "x", "y", "text"}, ...]
    times.npy        the time of every frame (float64): the index for seeking by time
    c0000.npy.zst    frames 0 .. chunk_steps-1 of every column, a zstd-compressed uint8 ``.npy``
    c0001.npy.zst    the next chunk_steps frames, and so on

A chunk holds three groups one after the other: ``f8`` (all float64 columns side by side, a matrix of
``frames x f8 width``), ``f4`` (the float32 columns, likewise) and ``raw`` (every other column's bytes,
C order, in table order). A column's ``offset`` is its first matrix column within its group (``raw``:
its byte offset per frame; times the chunk's frames, its byte offset in the block). Float groups are stored losslessly transformed: each matrix column is XOR-ed with its
previous frame as unsigned integers and the bytes are shuffled into planes (``uint8 (itemsize, n x
width)``), so smooth trajectories and held values (AIS reports, flags) become runs of zero bytes that
compress well; what is read back is bit-identical to what was written.

Every member is JSON or a plain ``.npy`` array read with ``allow_pickle=False`` (no pickle anywhere).
The ZIP container stores a CRC-32 of every member (checked on reading) and is written to a temporary
name and renamed (:mod:`atomicio`), with its central directory last: an aborted run leaves either no
file or a complete one, and a truncated file does not open. Chunks are read on demand: opening reads
the central directory, the header, the events and the time index; scrubbing inflates one chunk.
Reading a newer format version, a truncated or a corrupted file raises :class:`ReplayError` naming
the file and the problem.
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
CODEC = "zstd"
GROUPS = ("f8", "f4", "raw")
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
    """Strict JSON (no NaN/Infinity tokens) of ``obj``; the slow path only when something needs it."""
    try:
        return json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
    except (ValueError, TypeError):
        return json.dumps(to_jsonable(obj), allow_nan=False, separators=(",", ":")).encode()


# -- encodings ------------------------------------------------------------------------------------------
def encode_xor(a: np.ndarray) -> np.ndarray:
    """Lossless float transform (see the module docstring): (n, ...) floats -> uint8 (itemsize, n * k)."""
    n = a.shape[0]
    it = a.dtype.itemsize
    u = np.ascontiguousarray(a.reshape(n, -1)).view(f"u{it}")
    d = np.empty((u.shape[1], n), dtype=u.dtype)  # column-major: each matrix column's frames together
    if n:
        d[:, 0] = u[0]
        np.bitwise_xor(u[1:].T, u[:-1].T, out=d[:, 1:])
    return d.view(np.uint8).reshape(-1, it).T.copy()


def decode_xor(b: np.ndarray, dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`encode_xor`."""
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


def member_name(chunk: int) -> str:
    return f"c{chunk:04d}.npy.zst"


def _group_of(a: np.ndarray) -> str:
    return "f8" if a.dtype == np.float64 else "f4" if a.dtype == np.float32 else "raw"


def _width(shape) -> int:
    return int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1


# -- writing -------------------------------------------------------------------------------------------
def write_replay(path: str | Path, header: dict, columns: dict[str, np.ndarray], events: list[dict],
                 column_docs: dict[str, tuple[str, str]] | None = None, chunk_steps: int = CHUNK_STEPS,
                 level: int = 1) -> Path:  # fmt: skip
    """Write a replay file atomically. ``columns`` map names to arrays whose first axis is the frame
    (``t`` is required); ``column_docs`` name -> (unit, description). Returns the path."""
    import zstandard

    path = Path(path)
    if "t" not in columns:
        raise ValueError("a replay needs the time column 't'")
    n = len(columns["t"])
    docs = column_docs or {}
    table = {}
    fill = dict.fromkeys(GROUPS, 0)
    for name, a in columns.items():
        if a.shape[0] != n:
            raise ValueError(f"column {name!r} has {a.shape[0]} frames, expected {n}")
        if a.dtype.hasobject:
            raise ValueError(f"column {name!r} is an object array")
        g = _group_of(a)
        unit, doc = docs.get(name, ("", ""))
        table[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "group": g, "offset": fill[g], "unit": unit,
                       "doc": doc}  # fmt: skip
        fill[g] += _width(a.shape) * (a.dtype.itemsize if g == "raw" else 1)
    n_chunks = max(1, -(-n // chunk_steps))
    by_group = {g: [name for name in columns if table[name]["group"] == g] for g in GROUPS}
    cz = zstandard.ZstdCompressor(level=level)
    blobs, sizes = [], []
    for c in range(n_chunks):
        i0, i1 = c * chunk_steps, min(n, (c + 1) * chunk_steps)
        m = i1 - i0
        parts = []
        for g in ("f8", "f4"):
            names = by_group[g]
            mat = (np.concatenate([columns[k][i0:i1].reshape(m, -1) for k in names], axis=1) if names
                   else np.zeros((m, 0), dtype=np.float64 if g == "f8" else np.float32))  # fmt: skip
            parts.append([encode_xor(mat)])
        parts.append([np.ascontiguousarray(columns[k][i0:i1]) for k in by_group["raw"]])
        sizes.append([sum(p.nbytes for p in group) for group in parts])
        # the chunk is one uint8 .npy array, compressed as a stream (no copy of the joined parts)
        hdr = np.lib.format.header_data_from_array_1_0(np.empty(0, np.uint8))
        hdr["shape"] = (sum(sizes[-1]),)
        head_buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(head_buf, hdr)
        hb = head_buf.getvalue()
        co = cz.compressobj(size=len(hb) + sum(sizes[-1]))  # the frame header records the content size
        out = [co.compress(hb)]
        out += [co.compress(p.reshape(-1).view(np.uint8)) for group in parts for p in group if p.nbytes]
        out.append(co.flush())
        blobs.append(b"".join(out))
    head = {"magic": MAGIC, "format_version": FORMAT_VERSION}
    head.update({k: v for k, v in header.items() if k not in ("magic", "format_version")})
    head.update(n_frames=n, chunk_steps=int(chunk_steps), n_chunks=n_chunks, chunk_codec=CODEC,
                chunk_groups=list(GROUPS), chunk_bytes=sizes, columns=table)  # fmt: skip

    def put(zf, name, data, deflate=True):
        zi = zipfile.ZipInfo(name, _DATE)
        zi.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
        zi.external_attr = 0o644 << 16
        zf.writestr(zi, data)

    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        put(zf, "header.json", dumps(head))
        put(zf, "events.json", dumps(events))
        put(zf, "times.npy", _npy_bytes(np.asarray(columns["t"], dtype=np.float64)))
        for c, blob in enumerate(blobs):
            put(zf, member_name(c), blob, deflate=False)
    return path


# -- reading -------------------------------------------------------------------------------------------
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError, json.JSONDecodeError)


class ReplayReader:
    """Random access to a replay file (see :mod:`testbed.replay` for the columns).

    ``header`` (dict), ``n_frames``, ``n_steps`` (= n_frames - 1: frame 0 is the reset state), ``times``
    (float64, per frame), ``events`` (list of dicts), ``reward_names``, ``column(name, i0, i1)``,
    ``frame(i)``, ``step_at_time(t)``. Chunks are inflated on demand and kept in a small cache
    (``cache_chunks`` decoded chunks).
    """

    def __init__(self, path: str | Path, cache_chunks: int = 16) -> None:
        self.path = Path(path)
        self._cache: OrderedDict[int, dict] = OrderedDict()
        self._cache_max = max(int(cache_chunks), 1)
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
            self._open()
        except BaseException:
            self._zf.close()
            raise

    def _open(self) -> None:
        try:
            head = json.loads(self._read("header.json"))
        except ValueError as exc:
            if isinstance(exc, ReplayError):
                raise
            raise ReplayError(f"{self.path}: header.json is not JSON: {exc}") from None
        if not isinstance(head, dict) or head.get("magic") != MAGIC:
            raise ReplayError(f"{self.path}: not a testbed replay (header.json has no magic {MAGIC!r})")
        ver = head.get("format_version")
        if not isinstance(ver, int) or ver < 1:
            raise ReplayError(f"{self.path}: bad format_version {ver!r}")
        if ver > FORMAT_VERSION:
            raise ReplayError(f"{self.path}: written in replay format version {ver}, newer than this reader "
                              f"(version {FORMAT_VERSION}); upgrade the testbed to read it")  # fmt: skip
        self.header: dict = head
        try:
            self.columns: dict = dict(head["columns"])
            self.n_frames = int(head["n_frames"])
            self.chunk_steps = int(head["chunk_steps"])
            self.n_chunks = int(head["n_chunks"])
            sizes = [[int(x) for x in z] for z in head["chunk_bytes"]]
            codec = head["chunk_codec"]
            self._spec = {}
            for name, spec in self.columns.items():
                dt = np.dtype(spec["dtype"])
                if dt.hasobject or spec["group"] not in GROUPS:
                    raise ValueError(f"column {name}: {spec}")
                self._spec[name] = (spec["group"], int(spec["offset"]), _width(spec["shape"]), dt,
                                    tuple(int(x) for x in spec["shape"][1:]))  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise ReplayError(f"{self.path}: header.json lacks or has a bad {exc}") from None
        if codec != CODEC:
            raise ReplayError(f"{self.path}: unknown chunk codec {codec!r}")
        if len(sizes) != self.n_chunks or any(len(z) != len(GROUPS) for z in sizes) or self.n_frames < 1:
            raise ReplayError(f"{self.path}: header.json has a bad chunk table")
        self._sizes = sizes
        names = set(self._zf.namelist())
        missing = [m for m in ("events.json", "times.npy") if m not in names]
        missing += [member_name(c) for c in range(self.n_chunks) if member_name(c) not in names]
        if missing or "t" not in self.columns:
            what = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            raise ReplayError(f"{self.path}: incomplete replay: missing {what or 'column t'}")
        try:
            self.events: list[dict] = json.loads(self._read("events.json"))
        except ValueError as exc:
            if isinstance(exc, ReplayError):
                raise
            raise ReplayError(f"{self.path}: events.json: {exc}") from None
        try:
            t = np.lib.format.read_array(io.BytesIO(self._read("times.npy")), allow_pickle=False)
            if t.dtype != np.float64 or t.shape != (self.n_frames,):
                raise ValueError(f"{t.shape} {t.dtype}, expected ({self.n_frames},) float64")
        except ReplayError:
            raise
        except (ValueError, TypeError, OSError, EOFError) as exc:
            raise ReplayError(f"{self.path}: corrupted member times.npy: {exc}") from None
        t.flags.writeable = False
        self.times = t
        self.n_steps = self.n_frames - 1
        self.reward_names: list[str] = list(head.get("reward_names", []))

    # -- low level ---------------------------------------------------------------------------------------
    def _read(self, member: str) -> bytes:
        try:
            return self._zf.read(member)
        except KeyError:
            raise ReplayError(f"{self.path}: incomplete replay: member {member} is missing") from None
        except _READ_ERRORS as exc:
            raise ReplayError(f"{self.path}: corrupted member {member}: {exc}") from None

    def _chunk(self, c: int) -> dict:
        """Chunk ``c``: {"f8": (m, W8) float64, "f4": (m, W4) float32, "raw": uint8 bytes}."""
        got = self._cache.get(c)
        if got is not None:
            self._cache.move_to_end(c)
            return got
        import zstandard

        member = member_name(c)
        raw = self._read(member)
        m = min(self.n_frames, (c + 1) * self.chunk_steps) - c * self.chunk_steps
        try:
            blob = np.lib.format.read_array(io.BytesIO(zstandard.ZstdDecompressor().decompress(raw)),
                                            allow_pickle=False)  # fmt: skip
            if blob.dtype != np.uint8 or blob.ndim != 1:
                raise ValueError(f"array {blob.shape} {blob.dtype}, expected 1-d uint8")
            s8, s4, sr = self._sizes[c]
            if blob.size != s8 + s4 + sr or s8 % (8 * m) or s4 % (4 * m):
                raise ValueError(f"{blob.size} bytes do not fit the chunk table {self._sizes[c]} for {m} frames")
            w8, w4 = s8 // (8 * m), s4 // (4 * m)
            got = {"f8": decode_xor(blob[:s8].reshape(8, -1), np.float64, (m, w8)),
                   "f4": decode_xor(blob[s8:s8 + s4].reshape(4, -1), np.float32, (m, w4)),
                   "raw": blob[s8 + s4:], "m": m}  # fmt: skip
        except (ValueError, TypeError, OSError, EOFError, zstandard.ZstdError) as exc:
            raise ReplayError(f"{self.path}: corrupted member {member}: {exc}") from None
        for k in ("f8", "f4", "raw"):
            got[k].flags.writeable = False
        self._cache[c] = got
        if len(self._cache) > self._cache_max:
            self._cache.popitem(last=False)
        return got

    def _part(self, c: int, name: str) -> np.ndarray:
        g, off, k, dt, tail = self._spec[name]
        ch = self._chunk(c)
        m = ch["m"]
        shape = (m, *tail)
        try:
            if g == "raw":
                nb = m * k * dt.itemsize
                return ch["raw"][off * m:off * m + nb].view(dt).reshape(shape)
            return ch[g][:, off:off + k].reshape(shape)
        except ValueError as exc:
            raise ReplayError(f"{self.path}: corrupted column {name} in {member_name(c)}: {exc}") from None

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
            g, off, k, dt, tail = self._spec[name]
            return np.zeros((0, *tail), dtype=dt)
        c0, c1 = i0 // cs, (i1 - 1) // cs
        parts = [self._part(c, name)[max(i0 - c * cs, 0):i1 - c * cs] for c in range(c0, c1 + 1)]
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
