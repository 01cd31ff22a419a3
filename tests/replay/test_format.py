"""The replay file format: lossless round trip, random access, no pickle, clear errors."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from testbed.replay import FORMAT_VERSION, ReplayError, ReplayReader
from testbed.replay.format import decode_xor, encode_xor, write_replay


def _cols(n=1300, T=5, seed=0):
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(size=(n, T)), axis=0)
    x[5, 2] = np.nan
    x[6, 1] = -0.0
    x[7, 0] = np.inf
    return {"t": np.arange(n) * 0.5, "traffic/x": x, "ego/rays": rng.random((n, 3)).astype(np.float32),
            "flag": rng.random(n) > 0.5, "cell": rng.integers(-1, 9, n).astype(np.int16),
            "reward": rng.normal(size=(n, 4))}  # fmt: skip


def _write(path, cols=None, **kw):
    cols = cols or _cols()
    write_replay(path, {"scenario": "test", "reward_names": ["a", "b", "c", "d"]}, cols,
                 [{"step": 3, "t": 1.5, "kind": "goal", "vessel": None, "x": 0.0, "y": 0.0, "text": "x"}], **kw)
    return cols


def _bits(a):
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.kind == "f" else a


def test_round_trip_is_bit_identical_across_chunks(tmp_path):
    p = tmp_path / "a.replay"
    cols = _write(p, chunk_steps=256)
    with ReplayReader(p) as r:
        assert r.n_frames == 1300 and r.n_steps == 1299 and r.header["n_chunks"] == 6
        assert r.header["format_version"] == FORMAT_VERSION
        for name, a in cols.items():
            b = r.column(name)
            assert b.dtype == a.dtype and b.shape == a.shape
            assert np.array_equal(_bits(a), _bits(b)), name
        # ranges over chunk boundaries, frames, time lookup
        assert np.array_equal(_bits(r.column("traffic/x", 250, 600)), _bits(cols["traffic/x"][250:600]))
        assert r.column("traffic/x", 10, 10).shape == (0, 5)
        f = r.frame(700)
        assert f["cell"] == cols["cell"][700] and np.array_equal(f["traffic/x"], cols["traffic/x"][700])
        assert r.frame(3)["events"][0]["kind"] == "goal"
        assert r.step_at_time(100.25) == 200 and r.step_at_time(-5) == 0 and r.step_at_time(1e9) == 1299
        with pytest.raises(KeyError, match="no column 'nope'"):
            r.column("nope")
        with pytest.raises(IndexError):
            r.frame(1300)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(st.sampled_from([np.float64, np.float32]), hnp.array_shapes(min_dims=1, max_dims=3, max_side=7),
                  elements=st.floats(allow_nan=True, width=32)))
def test_xor_encoding_is_lossless(a):
    b = decode_xor(encode_xor(a), a.dtype, a.shape)
    assert np.array_equal(_bits(a), _bits(b))


def test_same_content_gives_the_same_bytes(tmp_path):
    _write(tmp_path / "a.replay")
    _write(tmp_path / "b.replay")
    assert (tmp_path / "a.replay").read_bytes() == (tmp_path / "b.replay").read_bytes()


def test_members_are_plain_npy_without_pickle(tmp_path):
    p = tmp_path / "a.replay"
    _write(p, chunk_steps=256)
    with zipfile.ZipFile(p) as zf:
        names = zf.namelist()
        assert names[:3] == ["header.json", "events.json", "times.npy"] and len(names) == 3 + 6
        for name in names[3:]:
            a = np.load(io.BytesIO(zstandard.ZstdDecompressor().decompress(zf.read(name))), allow_pickle=False)
            assert a.dtype == np.uint8 and a.ndim == 1


def test_a_pickled_member_is_refused(tmp_path):
    p = tmp_path / "a.replay"
    _write(p)
    q = tmp_path / "evil.replay"
    with zipfile.ZipFile(p) as zin, zipfile.ZipFile(q, "w") as zout:
        for zi in zin.infolist():
            data = zin.read(zi.filename)
            if zi.filename == "c0000.npy.zst":
                buf = io.BytesIO()
                np.save(buf, np.array([{"x": 1}] * 3, dtype=object), allow_pickle=True)
                data = zstandard.ZstdCompressor().compress(buf.getvalue())
            zout.writestr(zi, data)
    with ReplayReader(q) as r, pytest.raises(ReplayError, match=r"evil.replay: corrupted member c0000.npy.zst: Object"):
        r.column("cell")


def test_newer_format_version_is_refused(tmp_path):
    p = tmp_path / "a.replay"
    write_replay(p, {}, {"t": np.zeros(3)}, [])
    q = tmp_path / "new.replay"
    with zipfile.ZipFile(p) as zin, zipfile.ZipFile(q, "w") as zout:
        for zi in zin.infolist():
            data = zin.read(zi.filename)
            if zi.filename == "header.json":
                data = data.replace(b'"format_version":1', b'"format_version":7')
            zout.writestr(zi, data)
    with pytest.raises(ReplayError, match=r"new.replay: written in replay format version 7, newer than this reader"):
        ReplayReader(q)


def test_truncated_file_is_refused(tmp_path):
    p = tmp_path / "a.replay"
    _write(p)
    data = p.read_bytes()
    for cut in (len(data) // 2, len(data) - 30, 10):
        q = tmp_path / f"cut{cut}.replay"
        q.write_bytes(data[:cut])
        with pytest.raises(ReplayError, match=rf"cut{cut}.replay: not a replay file, or truncated"):
            ReplayReader(q)


def test_corrupted_member_is_refused(tmp_path):
    p = tmp_path / "a.replay"
    _write(p)
    with zipfile.ZipFile(p) as zf:
        zi = zf.getinfo("c0001.npy.zst")
        off = zi.header_offset + 30 + len(zi.filename) + len(zi.extra) + zi.compress_size // 2
    data = bytearray(p.read_bytes())
    data[off] ^= 0xFF
    q = tmp_path / "bad.replay"
    q.write_bytes(bytes(data))
    with ReplayReader(q) as r:
        r.column("traffic/x", 0, 10)  # chunk 0 is intact
        with pytest.raises(ReplayError, match=r"bad.replay: corrupted member c0001.npy.zst"):
            r.column("traffic/x")


def test_missing_member_and_not_a_replay(tmp_path):
    p = tmp_path / "a.replay"
    _write(p)
    q = tmp_path / "partial.replay"
    with zipfile.ZipFile(p) as zin, zipfile.ZipFile(q, "w") as zout:
        for zi in zin.infolist():
            if zi.filename != "c0001.npy.zst":
                zout.writestr(zi, zin.read(zi.filename))
    with pytest.raises(ReplayError, match=r"partial.replay: incomplete replay: missing c0001.npy.zst"):
        ReplayReader(q)
    txt = tmp_path / "notes.replay"
    txt.write_text("hello")
    with pytest.raises(ReplayError, match="notes.replay: not a replay file"):
        ReplayReader(txt)
    z = tmp_path / "other.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("header.json", "{}")
    with pytest.raises(ReplayError, match="other.zip: not a testbed replay"):
        ReplayReader(z)
    with pytest.raises(ReplayError, match="no such replay file"):
        ReplayReader(tmp_path / "missing.replay")


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path, monkeypatch):
    p = tmp_path / "a.replay"
    _write(p)
    before = p.read_bytes()
    bad = _cols()
    bad["reward"] = bad["reward"][:-1]
    with pytest.raises(ValueError, match="column 'reward' has 1299 frames"):
        _write(p, bad)
    calls = []
    real = zipfile.ZipFile.writestr

    def dying(self, *args, **kw):  # the process dies after the first members are in the file
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(self, *args, **kw)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", dying)
    with pytest.raises(KeyboardInterrupt):
        _write(p, _cols(seed=1))
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["a.replay"]  # no temporary file left behind


def test_any_flipped_byte_or_cut_is_a_replay_error_or_harmless(tmp_path):
    """Bad input: whatever byte of a file is damaged, reading it either raises ReplayError (one message
    naming the file) or gives exactly the original data; it never raises anything else."""
    p = tmp_path / "a.replay"
    cols = _write(p, _cols(n=300, T=3), chunk_steps=128)
    data = p.read_bytes()
    rng = np.random.default_rng(0)
    q = tmp_path / "b.replay"
    outcomes = {"error": 0, "same": 0}
    for k in range(160):
        bad = bytearray(data)
        if k % 4 == 3:
            bad = bad[: int(rng.integers(0, len(data)))]
        else:
            pos = int(rng.integers(0, len(data)))
            bad[pos] ^= int(rng.integers(1, 256))
        q.write_bytes(bytes(bad))
        try:
            with ReplayReader(q) as r:
                got = r.read_all()
                events = r.events
        except ReplayError as exc:
            assert str(exc).startswith(f"{q}: ") and "\n" not in str(exc)
            outcomes["error"] += 1
            continue
        assert events[0]["kind"] == "goal"
        for name, a in cols.items():
            assert np.array_equal(_bits(a), _bits(got[name])), name
        outcomes["same"] += 1
    assert outcomes["error"] > 100
