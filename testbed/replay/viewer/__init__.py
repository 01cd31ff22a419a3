"""The replay viewer (``testbed replay FILE``) and the headless video exports.

- :func:`run` opens the pygame window (pygame is imported only here, lazily): one replay; two or more
  replays of the same scenario, seed and map overlaid as ghosts (comparison); or a raw AIS log
  (``recording.nmea``, with ``map_name``) decoded through the project's AIS path, with no agent.
- :func:`export_video` renders a replay without a display to ``.mp4`` (H.264 through imageio-ffmpeg),
  ``.gif`` (Pillow), a series of PNG frames (``out`` is a directory or ends with ``/``: ``frame_00000.png``
  ...; ``OUT.png``: ``OUT_00000.png`` ... next to it; or a pattern with ``%05d`` / ``{i}``), or one picture (``*.thumb.png``, or any ``.png`` with ``thumbnail=True``:
  the frame of the first collision, else the first grounding, else the first near miss, else the middle
  of the episode).
- :class:`~testbed.replay.viewer.app.Viewer` is the whole viewer without a window: ``handle_event``,
  ``update(dt)``, ``draw(surface)``; the window loop, the exporter and the tests drive the same object.

Conventions of the video exports: playback ``speed`` x (simulated seconds per video second), ``fps``
frames per video second, so frame k shows simulated time ``t0 + k * speed / fps``; the last frame is the
last recorded step; the camera follows the ego (whole map for a raw AIS log); all default layers on
(``layers={"coverage": True, ...}`` to change).  Every file is written atomically (a temporary file
in the target directory, then renamed); an existing output needs ``force=True`` (``--force``).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

__all__ = ["run", "export_video", "open_replays", "ExportError", "Viewer", "AIS_SUFFIXES"]

AIS_SUFFIXES = (".nmea", ".gz", ".txt", ".ais", ".aivdm", ".log")
VIDEO_FORMATS = ("mp4", "gif", "png-series", "thumbnail")


class ExportError(ValueError):
    """A bad export request (existing output without force, unknown format, bad numbers)."""


def __getattr__(name):
    if name == "Viewer":
        from .app import Viewer

        return Viewer
    raise AttributeError(name)


def _is_ais_log(path: str) -> bool:
    p = str(path).lower()
    return p.endswith(AIS_SUFFIXES) and not p.endswith((".replay", ".replay.gz"))


def open_replays(paths, map_name: str | None = None):
    """(readers, map) for ``paths``: replay files (their header names the map; ``map_name`` overrides
    it) or one raw AIS log (``map_name`` required)."""
    from harbour_maps import load_map

    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("no replay given")
    for p in paths:
        if not Path(p).exists():
            raise FileNotFoundError(f"{p}: no such file")
    if any(_is_ais_log(p) for p in paths):
        if len(paths) != 1:
            raise ValueError(f"a raw AIS log plays alone, not with other files: {paths}")
        if not map_name:
            raise ValueError(f"{paths[0]}: a raw AIS log needs a map (--map NAME, e.g. duisburg_ruhrort)")
        from .source import ais_log_replay

        hmap = load_map(map_name)
        return [ais_log_replay(paths[0], hmap)], hmap
    from testbed.replay import ReplayReader

    readers = [ReplayReader(p) for p in paths]
    hm = readers[0].header.get("map")
    name = map_name or (hm.get("name") if isinstance(hm, dict) else hm)
    if not name:
        raise ValueError(f"{paths[0]}: the header names no map; pass --map NAME")
    hmap = load_map(name)
    want = hm.get("sha256") if isinstance(hm, dict) and not map_name else None
    if want and getattr(hmap, "sha256", None) and want != hmap.sha256:
        print(f"warning: {paths[0]} was recorded on map {name!r} sha256 {str(want)[:12]}..., the installed map "
              f"is {hmap.sha256[:12]}...; playing the recorded states on the installed map", file=sys.stderr)
    import testbed

    for p, r in zip(paths, readers, strict=True):
        ver = r.header.get("simulator_version")
        if ver is not None and ver != testbed.__version__:
            print(f"note: {p} was recorded with simulator version {ver}, installed is {testbed.__version__}; "
                  f"the viewer plays the recorded states (testbed replay verify re-simulates)", file=sys.stderr)
    return readers, hmap


def run(paths: list[str], map_name: str | None = None, size=(1280, 800), **opts) -> int:
    """Open the viewer window on ``paths`` (see the module docstring).  ``opts``: ``speed`` (x0.25-x64),
    ``paused``, ``layers`` ({name: bool}), ``fps`` (window frame cap, 60), ``start`` (seconds into the
    episode), ``max_frames`` (close after that many frames; for scripted use).  Returns 0."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    from .app import Viewer, window_loop

    readers, hmap = open_replays(paths, map_name)
    fps = int(opts.pop("fps", 60))
    max_frames = opts.pop("max_frames", None)
    start = opts.pop("start", None)
    unknown = set(opts) - {"speed", "paused", "layers", "follow"}
    if unknown:
        raise ValueError(f"unknown viewer option(s): {', '.join(sorted(unknown))}")
    v = Viewer(readers, hmap, size, **opts)
    if start is not None:
        v.seek(v.t0 + float(start))
    return window_loop(v, fps=fps, max_frames=max_frames)


def _video_kind(out: str, thumbnail: bool) -> str:
    o = out.lower()
    if o.endswith(".thumb.png") or (thumbnail and o.endswith(".png")):
        return "thumbnail"
    if o.endswith(".mp4"):
        return "mp4"
    if o.endswith(".gif"):
        return "gif"
    if o.endswith(("/", os.sep)) or Path(out).is_dir() or "%" in out or "{i" in out or not Path(out).suffix:
        return "png-series"
    if o.endswith(".png"):
        return "png-series"  # OUT.png: frames OUT_00000.png, OUT_00001.png, ... next to it
    raise ExportError(f"{out}: unknown export format (video exports: .mp4, .gif, a directory or pattern of "
                      f"PNG frames, *.thumb.png)")


def _frame_rgb(surf):
    import numpy as np
    import pygame as pg

    return np.ascontiguousarray(np.transpose(pg.surfarray.array3d(surf), (1, 0, 2)))


def export_video(path, out: str, fps: float | None = None, speed: float | None = None, size=None,
                 force: bool = False, *, thumbnail: bool = False, layers: dict | None = None,
                 map_name: str | None = None, max_frames: int = 20000, readers=None, hmap=None,
                 compare: str | None = None) -> dict:
    """Render ``path`` (a replay, or a raw AIS log with ``map_name``) to ``out`` without a display.

    Defaults: mp4 30 fps at x8, 1280x720; gif 10 fps at x16, 800x500; PNG series 10 fps at x8,
    1280x720; thumbnail 1280x720.  Without ``speed``, a long episode plays faster (the next power of two)
    so that an mp4 has at most 3600 frames, a gif 400 and a PNG series 1200.  Returns ``{"path", "kind", "frames", "fps", "speed", "size"}``.
    ``compare``: a second replay of the same scenario and seed, drawn as a ghost.
    ``readers``/``hmap``: already opened replays (then ``path`` is only used in messages)."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    out = str(out)
    kind = _video_kind(out, thumbnail)
    defaults = {"mp4": (30.0, 8.0, (1280, 720)), "gif": (10.0, 16.0, (800, 500)),
                "png-series": (10.0, 8.0, (1280, 720)), "thumbnail": (1.0, 1.0, (1280, 720))}[kind]
    fps = float(defaults[0] if fps is None else fps)
    auto_speed = speed is None
    speed = float(defaults[1] if speed is None else speed)
    W, H = (int(v) for v in (defaults[2] if size is None else size))
    if not (math.isfinite(fps) and 0 < fps <= 120):
        raise ExportError(f"fps={fps}: must be in (0, 120]")
    if not (math.isfinite(speed) and 0.25 <= speed <= 4096):
        raise ExportError(f"speed={speed}: must be in [0.25, 4096]")
    if not (480 <= W <= 3840 and 360 <= H <= 2160):
        raise ExportError(f"size {W}x{H}: must be between 480x360 and 3840x2160")
    if kind == "mp4":
        W, H = W - W % 2, H - H % 2  # H.264 4:2:0 needs even sizes
    # the output: refuse to overwrite without force
    series_dir, pattern = None, None
    if kind == "png-series":
        if "%" in out or "{i" in out:
            series_dir, pattern = Path(out).parent, Path(out).name
        elif out.lower().endswith(".png"):
            series_dir, pattern = Path(out).parent, Path(out).stem + "_%05d.png"
        else:
            series_dir, pattern = Path(out), "frame_%05d.png"
        first = series_dir / (pattern % 0 if "%" in pattern else pattern.format(i=0))
        if not force and (first.exists() or (pattern == "frame_%05d.png" and series_dir.exists()
                                              and any(series_dir.iterdir()))):
            raise ExportError(f"{first if first.exists() else series_dir}: exists; pass --force to overwrite")
    elif Path(out).exists() and not force:
        raise ExportError(f"{out}: exists; pass --force to overwrite")
    if readers is None:
        readers, hmap = open_replays([path] + ([compare] if compare else []), map_name)
    if kind != "png-series":
        Path(out).parent.mkdir(parents=True, exist_ok=True)

    import pygame as pg

    from .app import Viewer

    if not pg.font.get_init():
        pg.font.init()
    v = Viewer(readers, hmap, (W, H), layers=layers, paused=True, follow=True)
    surf = pg.Surface((W, H))
    t0, t1 = v.t0, v.t1
    if auto_speed and kind != "thumbnail":  # long episodes: faster, so that the video stays watchable
        cap = {"mp4": 3600, "gif": 400, "png-series": 1200}[kind]
        speed = max(speed, float(2.0 ** math.ceil(math.log2(max((t1 - t0) * fps / cap, 1e-9)))))
    v.export_speed = None if kind == "thumbnail" else speed
    if kind == "thumbnail":
        pick = next((e for kind in ("collision", "grounding", "near_miss") for e in v.events if e.kind == kind), None)
        v.seek(pick.t if pick is not None else 0.5 * (t0 + t1))
        v.draw(surf)
        from testbed.render import save_png

        save_png(_frame_rgb(surf), out)
        return {"path": out, "kind": kind, "frames": 1, "fps": fps, "speed": speed, "size": (W, H)}
    n = int(math.floor((t1 - t0) * fps / speed + 1e-9)) + 1
    if (t0 + (n - 1) * speed / fps) < t1 - 1e-9:
        n += 1  # the last frame shows the last recorded step
    if n > max_frames:
        raise ExportError(f"{n} frames at x{speed:g} and {fps:g} fps exceed {max_frames}; raise --speed")
    times = [min(t1, t0 + k * speed / fps) for k in range(n)]

    def frames():
        for t in times:
            v.seek(t)
            v.draw(surf)
            yield _frame_rgb(surf)

    if kind == "mp4":
        import imageio_ffmpeg

        from atomicio import atomic_path

        with atomic_path(out) as tmp:
            w = imageio_ffmpeg.write_frames(tmp, (W, H), fps=fps, codec="libx264", quality=7, macro_block_size=2,
                                            output_params=["-f", "mp4"], ffmpeg_log_level="error")
            w.send(None)
            try:
                for f in frames():
                    w.send(f)
            finally:
                w.close()
    elif kind == "gif":
        from PIL import Image

        from atomicio import atomic_path

        if n > 1500:
            raise ExportError(f"{n} GIF frames at x{speed:g} and {fps:g} fps: at most 1500 (raise --speed or use .mp4)")
        # each frame is palettised as it is drawn (one byte a pixel), so a long GIF does not hold RGB frames
        imgs = [Image.fromarray(f, "RGB").quantize(255, method=Image.Quantize.FASTOCTREE) for f in frames()]
        with atomic_path(out) as tmp:
            imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], loop=0,
                         duration=max(int(round(1000.0 / fps)), 10), disposal=1)
    else:
        from testbed.render import save_png

        series_dir.mkdir(parents=True, exist_ok=True)
        for k, f in enumerate(frames()):
            name = pattern % k if "%" in pattern else pattern.format(i=k)
            save_png(f, series_dir / name)
    return {"path": out, "kind": kind, "frames": n, "fps": fps, "speed": speed, "size": (W, H)}


def __dir__():
    return sorted(__all__)
