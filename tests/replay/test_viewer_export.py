"""Headless video exports of the replay viewer, read back: mp4 (imageio-ffmpeg), gif, PNG series, thumbnail."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("pygame")
iio = pytest.importorskip("imageio.v3")


@pytest.fixture(scope="module")
def replay_file(tmp_path_factory, record_episode):
    path = tmp_path_factory.mktemp("export") / "ep.replay"
    record_episode(path, "testbed/PortEntry-v0", seed=3, traffic={"count": 4}, link={"profile": "5g_sa"},
                   overrides=["time_limit_s=60"])
    return path


def _expected_frames(replay_file, fps, speed):
    from testbed.replay import ReplayReader

    t = ReplayReader(replay_file).times
    d = float(t[-1] - t[0])
    n = math.floor(d * fps / speed + 1e-9) + 1
    return n + (1 if (n - 1) * speed / fps < d - 1e-9 else 0)


def _non_uniform(frames):
    frames = np.asarray(frames)
    assert frames.ndim == 4 and frames.shape[-1] == 3
    assert all(f.std() > 20 for f in frames[:: max(1, len(frames) // 5)])  # pictures, not flat colour
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1.0  # the scene moves


def test_mp4_reads_back_with_the_right_frame_count(replay_file, tmp_path):
    from testbed.replay.viewer import export_video

    out = tmp_path / "ep.mp4"
    res = export_video(str(replay_file), str(out), fps=10, speed=8, size=(640, 400))
    n = _expected_frames(replay_file, 10, 8)
    assert res["frames"] == n and res["kind"] == "mp4"
    frames = iio.imread(out)
    assert frames.shape == (n, 400, 640, 3)
    _non_uniform(frames)
    meta = iio.immeta(out)
    assert meta.get("fps") == pytest.approx(10.0)


def test_gif_and_png_series_and_thumbnail(replay_file, tmp_path):
    from PIL import Image

    from testbed.replay.viewer import export_video

    gif = tmp_path / "ep.gif"
    res = export_video(str(replay_file), str(gif), fps=5, speed=16, size=(640, 400))
    n = _expected_frames(replay_file, 5, 16)
    with Image.open(gif) as im:
        assert im.n_frames == res["frames"] == n
        assert im.info["duration"] == 200
        frames = []
        for k in range(im.n_frames):
            im.seek(k)
            frames.append(np.asarray(im.convert("RGB")))
    _non_uniform(frames)
    # a directory of PNG frames, and OUT.png -> OUT_00000.png ...
    res = export_video(str(replay_file), str(tmp_path / "frames") + "/", fps=2, speed=16, size=(640, 400))
    files = sorted((tmp_path / "frames").glob("frame_*.png"))
    assert len(files) == res["frames"] == _expected_frames(replay_file, 2, 16)
    _non_uniform([iio.imread(f) for f in files])
    res = export_video(str(replay_file), str(tmp_path / "shot.png"), fps=1, speed=32, size=(640, 400))
    assert len(list(tmp_path.glob("shot_*.png"))) == res["frames"]
    # one picture
    thumb = tmp_path / "ep.thumb.png"
    res = export_video(str(replay_file), str(thumb), size=(800, 500))
    img = iio.imread(thumb)
    assert res["frames"] == 1 and img.shape == (500, 800, 3) and img.std() > 20


def test_exports_refuse_to_overwrite_without_force(replay_file, tmp_path):
    from testbed.replay.viewer import ExportError, export_video

    out = tmp_path / "a.gif"
    out.write_bytes(b"keep me")
    with pytest.raises(ExportError, match="exists; pass --force"):
        export_video(str(replay_file), str(out))
    assert out.read_bytes() == b"keep me"
    export_video(str(replay_file), str(out), fps=2, speed=32, size=(480, 360), force=True)
    assert out.read_bytes()[:3] == b"GIF"
    d = tmp_path / "frames"
    d.mkdir()
    (d / "x.txt").write_text("x")
    with pytest.raises(ExportError, match="exists"):
        export_video(str(replay_file), str(d) + "/")
    with pytest.raises(ExportError, match="unknown export format"):
        export_video(str(replay_file), str(tmp_path / "a.avi"))
    with pytest.raises(ExportError, match="speed"):
        export_video(str(replay_file), str(tmp_path / "b.mp4"), speed=0)
    assert not (tmp_path / "b.mp4").exists()


def test_cli_export_gif(replay_file, tmp_path, capsys):
    from testbed.cli import main

    out = tmp_path / "cli.gif"
    assert main(["replay", str(replay_file), "--export", str(out)]) == 0
    assert iio.imread(out, index=None).shape[0] == _expected_frames(replay_file, 10, 16)
    assert main(["replay", str(replay_file), "--export", str(out)]) == 2  # exists, no --force
    assert "exists" in capsys.readouterr().err


def test_cli_export_options_reach_the_renderer(replay_file, tmp_path, capsys):
    from testbed.cli import main

    out = tmp_path / "opts.gif"
    assert main(["replay", str(replay_file), "--export", str(out), "--fps", "5", "--speed", "32",
                 "--size", "640x400"]) == 0  # fmt: skip
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == _expected_frames(replay_file, 5, 32) and frames.shape[1:3] == (400, 640)
    thumb = tmp_path / "one.png"
    assert main(["replay", str(replay_file), "--export", str(thumb), "--thumbnail"]) == 0
    assert iio.imread(thumb).ndim == 3
    assert main(["replay", str(replay_file), "--export", str(tmp_path / "x.gif"), "--size", "big"]) == 2
    assert "--size 'big'" in capsys.readouterr().err


def test_comparison_export(replay_file, tmp_path):
    import gymnasium as gym

    import testbed  # noqa: F401
    from testbed.replay.viewer import export_video

    b = tmp_path / "b.replay"
    env = gym.make("testbed/PortEntry-v0", record=str(b), record_agent="hold", traffic={"count": 4},
                   link={"profile": "5g_sa"}, overrides=["time_limit_s=30"])
    env.reset(seed=3)
    while True:
        _, _, term, trunc, _ = env.step(np.array([0.0, 0.3], dtype=np.float32))
        if term or trunc:
            break
    env.close()
    res = export_video(str(replay_file), str(tmp_path / "ab.thumb.png"), compare=str(b), size=(640, 400))
    export_video(str(replay_file), str(tmp_path / "a.thumb.png"), size=(640, 400))
    ab, a = iio.imread(res["path"]), iio.imread(tmp_path / "a.thumb.png")
    assert ab.shape == a.shape and np.any(ab != a)  # the ghost (and its legend row) is drawn
    # the ghost's colour is in the picture only with the comparison
    from testbed.replay.viewer.app import GHOST_COLOURS

    def has(img, c):
        return int(np.all(img == np.array(c), axis=-1).sum())

    assert has(ab, GHOST_COLOURS[0]) > 10 and has(a, GHOST_COLOURS[0]) == 0


def test_other_map_or_simulator_version_still_plays(replay_file, tmp_path, capsys):
    """A replay recorded on another map file or simulator version: a plain note, and the recorded states play."""
    import json
    import zipfile

    from testbed.replay.viewer import export_video

    other = tmp_path / "other.replay"
    with zipfile.ZipFile(replay_file) as z, zipfile.ZipFile(other, "w") as o:
        for it in z.infolist():
            data = z.read(it.filename)
            if it.filename == "header.json":
                h = json.loads(data)
                h["map"]["sha256"] = "0" * 64
                h["simulator_version"] = "0.0.0-old"
                data = json.dumps(h).encode()
            o.writestr(it, data)
    res = export_video(str(other), str(tmp_path / "o.thumb.png"), size=(640, 400))
    err = capsys.readouterr().err
    assert "sha256 000000000000" in err and "playing the recorded states" in err
    assert "simulator version 0.0.0-old" in err
    assert iio.imread(res["path"]).std() > 20


def test_importing_the_viewer_does_not_import_pygame():
    import subprocess
    import sys

    code = ("import sys, testbed.replay.viewer, testbed.replay.viewer.app, testbed.replay.viewer.draw, "
            "testbed.replay.viewer.source; print('pygame' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "False"
