"""Raster cache and determinism tests."""

from __future__ import annotations

import json
import os
import time
import warnings

import numpy as np
import pytest

from harbour_maps import load_map, map_path
from harbour_maps import rasters as R

ARRAYS = ("water", "sdf", "water_index", "current_field", "current_reach", "lane_segment", "ray_table")


def _copy(tmp_path, name="synthetic_river_bend"):
    p = tmp_path / f"{name}.geojson"
    p.write_bytes(map_path(name).read_bytes())
    return p


def test_second_load_hits_cache(tmp_path):
    p = _copy(tmp_path)
    cache = tmp_path / "cache"
    t0 = time.perf_counter()
    a = load_map(p, cache_dir=cache)
    cold = time.perf_counter() - t0
    assert not a.rasters.from_cache
    files = list(cache.glob("*.npz"))
    assert len(files) == 1 and a.rasters.cache_path == files[0]
    assert not list(cache.glob("*.tmp"))
    t0 = time.perf_counter()
    b = load_map(p, cache_dir=cache)
    warm = time.perf_counter() - t0
    assert b.rasters.from_cache
    assert warm < cold
    for k in ARRAYS:
        np.testing.assert_array_equal(getattr(a.rasters, k), getattr(b.rasters, k))
        assert getattr(a.rasters, k).dtype == getattr(b.rasters, k).dtype


def test_env_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTBED_CACHE_DIR", str(tmp_path / "envcache"))
    m = load_map(_copy(tmp_path, "synthetic_channel"))
    assert m.rasters.cache_path.parent == tmp_path / "envcache"


def test_changed_file_rebuilds(tmp_path):
    p = _copy(tmp_path, "synthetic_channel")
    cache = tmp_path / "cache"
    a = load_map(p, cache_dir=cache)
    d = json.loads(p.read_text())
    d["metadata"]["title"] = "changed"
    p.write_text(json.dumps(d))
    b = load_map(p, cache_dir=cache)
    assert a.sha256 != b.sha256
    assert not b.rasters.from_cache
    assert len(list(cache.glob("*.npz"))) == 2


def test_changed_parameters_rebuild(tmp_path):
    p = _copy(tmp_path, "synthetic_channel")
    cache = tmp_path / "cache"
    load_map(p, cache_dir=cache)
    m = load_map(p, cache_dir=cache, ray_directions=36)
    assert not m.rasters.from_cache and m.rasters.ray_directions == 36


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_key", "wrong_shape"])
def test_corrupt_cache_is_rebuilt(tmp_path, damage):
    p = _copy(tmp_path, "synthetic_channel")
    cache = tmp_path / "cache"
    a = load_map(p, cache_dir=cache)
    f = a.rasters.cache_path
    if damage == "truncate":
        f.write_bytes(f.read_bytes()[: os.path.getsize(f) // 2])
    elif damage == "garbage":
        f.write_bytes(b"\x00garbage" * 100)
    else:
        with np.load(f, allow_pickle=False) as z:
            arrs = {k: z[k] for k in z.files}
        if damage == "wrong_key":
            h = json.loads(arrs["header"].tobytes())
            h["sha256"] = "0" * 64
            arrs["header"] = np.frombuffer(json.dumps(h).encode(), dtype=np.uint8)
        else:
            arrs["ray_table"] = arrs["ray_table"][:, :5]
        with open(f, "wb") as fh:
            np.savez(fh, **arrs)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        b = load_map(p, cache_dir=cache)
    assert not b.rasters.from_cache
    assert any("raster cache" in str(x.message) for x in w)
    for k in ARRAYS:
        np.testing.assert_array_equal(getattr(a.rasters, k), getattr(b.rasters, k))
    c = load_map(p, cache_dir=cache)
    assert c.rasters.from_cache  # the rebuilt file replaced the damaged one


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    """A crash while writing leaves neither a partial cache file nor a temp file behind."""
    p = _copy(tmp_path, "synthetic_channel")
    cache = tmp_path / "cache"

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(R.np, "savez", boom)
    with pytest.warns(RuntimeWarning, match="could not write raster cache"):
        m = load_map(p, cache_dir=cache)
    assert m.rasters.n_water > 0
    assert list(cache.iterdir()) == []
    monkeypatch.undo()
    load_map(p, cache_dir=cache)
    (f,) = cache.iterdir()
    assert f.suffix == ".npz"


def test_no_cache(tmp_path):
    p = _copy(tmp_path, "synthetic_channel")
    m = load_map(p, cache_dir=tmp_path / "c", use_cache=False)
    assert not (tmp_path / "c").exists() and not m.rasters.from_cache


def test_determinism(tmp_path):
    p = _copy(tmp_path, "synthetic_basin_entry")
    a = load_map(p, use_cache=False)
    b = load_map(p, use_cache=False)
    for k in ARRAYS:
        x, y = getattr(a.rasters, k), getattr(b.rasters, k)
        assert x.tobytes() == y.tobytes(), k
    rng = np.random.default_rng(1)
    xy = rng.uniform([-1600, -250], [1600, 900], size=(500, 2))
    h = rng.uniform(0, 2 * np.pi, 500)
    ang = np.radians(np.arange(-90, 91, 10.0))
    assert a.signed_distance(xy).tobytes() == b.signed_distance(xy).tobytes()
    assert a.current(xy).tobytes() == b.current(xy).tobytes()
    assert a.cast_rays(xy, h, ang).tobytes() == b.cast_rays(xy, h, ang).tobytes()
    la, lb = a.lane_coordinates(xy), b.lane_coordinates(xy)
    for u, v in zip(la, lb, strict=True):
        assert u.tobytes() == v.tobytes()
