"""Pygame renderer behind the environments' ``render()``.

The environment builds one :class:`RenderScene` per ``render()`` call and hands it to
:meth:`Renderer.render`; in ``"rgb_array"`` mode that returns an ``(H, W, 3)`` uint8 frame, in
``"human"`` mode it draws to a window (keys and pacing: see "Human window" below) and returns
None.  pygame is imported lazily inside :class:`Renderer` (``import testbed.render`` does not import
it), and everything works headless (``SDL_VIDEODRIVER=dummy``; text uses ``pygame.font``'s built-in
font).

What is drawn
    Static map, pre-rendered ONCE at construction into background surfaces: land
    (:data:`LAND_COLOUR`) and navigable water (:data:`WATER_COLOUR`, filled from the exact water
    polygons, holes/islands as land), banks as outlines (:data:`BANK_COLOUR`), lanes as thin dashed
    lines in a colour per role with chevrons pointing along their direction (``direction ==
    "forward"``), km markers (dot + ``km`` label), bridges (deck axis, brown) with their piers (dark
    grey), locks (outline) and berths (quay line of ``length_m`` along the berth heading + name).
    Per frame, on top of the background: the optional overlay (see :meth:`Renderer.set_overlay`, it
    is composited into the backgrounds once, so it costs nothing per frame) with its legend (colour
    bar, end values, label with units; bottom right), the planned route (purple polyline), the goal
    (green circle of ``goal_radius`` + heading arrow), the range-sensor rays (thin translucent lines
    from the hull OUTLINE, not its centre, to the hit point, with a dot where they hit; red when
    short -> yellow -> green when at least ``ray_colour_range_m`` long; under the hulls, so the hull
    is never buried), the traffic (:data:`TRAFFIC_COLOUR`) and the ego (:data:`EGO_COLOUR`) as
    filled hull outlines to scale (a pointed-bow polygon of ``length`` x ``beam`` rotated by the
    heading, never smaller than ``min_hull_px`` x ``min_beam_px`` pixels so ships stay visible in
    the whole-map view) with a heading line ahead of the bow, a HUD panel (top left) with every
    ``hud`` entry in order (preceded by ``time [s]`` = ``t`` unless a key starts with "time" or
    "t [") and, when the scene has ``reward_components``, this step's reward as a signed stacked
    bar (positive components right of the zero mark, negative left, one colour each, scaled to the
    larger side) with the three largest components named; a scale bar and a north arrow.
    Labels: ship names (ego first, always shown) and map labels (km, berth and bridge names; drawn
    per frame, sharp, in the follow camera; baked into the map-camera background) are placed by a
    greedy placer: each takes the first of 8 positions around its point / hull whose box overlaps
    no HUD, legend, scale bar, hull or earlier label, shifted inside the frame; a map label with no
    free position is left out, a ship name takes the least crowded one.  Labels have a white halo.
    ``Renderer.last_labels`` / ``last_hud_rect`` hold the last frame's label and HUD rectangles.
    Headings are nautical radians everywhere (0 = north = +y, clockwise positive).

Cameras
    ``"follow"``: north-up, centred on the ego, ``follow_span_m`` metres across the window width.
    The map is pre-rendered at ``max(follow_span_m / width, longest map side / MAX_BG_PX)`` m/px
    (1.5 m/px for the defaults; 2.5 m/px for the 10 km ``duisburg_ruhrort`` map); each frame crops
    the visible rectangle (``subsurface``) and scales it to the window (a plain blit when the scales
    match).  Beyond the map the window shows land.  ``"map"``: the whole map fitted to the window
    (aspect kept, letterboxed with land), pre-rendered at exactly that scale, so a frame is a blit.

Human window
    ``render_mode="human"`` draws into a window and reads the shared controls of
    :mod:`testbed.ui.controls` (``Renderer.controls``): Space pause, ``+``/``-`` speed (x0.25 ... x64
    of real time; ``speed=`` sets the start, x8), ``.`` one frame while paused, ``f`` follow / map
    camera, ``h`` help overlay, ``q``/Esc quit; closing the window, SIGINT or SIGTERM (handlers
    installed while the renderer is open, restored by :meth:`Renderer.close`) set
    :attr:`Renderer.quit_requested`, which the env turns into ``truncated`` with
    ``info["outcome"] == "user_quit"``.  :meth:`Renderer.render` paces the caller to ``speed`` x real
    time (simulation time ``scene.t``), draws at most ``fps`` frames per wall-clock second, and
    blocks while paused (redrawing on key presses).  A status line (bottom right) shows the speed.

Performance (``benchmarks/render_speed.py``: 800x600, duisburg_ruhrort, 72 rays, 4 named ships,
7 HUD rows + reward bar, overlay legend): 1.5-2.3 ms per follow-camera frame, 0.8 ms with the map
camera, 2.7-3.2x the bare frame (background + copy) of the same run.  Older figures
(800x600 rgb_array, 2 shared CPU cores, pygame-ce 2.5; ``_benchmark()``: 36 rays,
3 traffic ships, route, goal, 8 HUD entries): median 1.3-2.1 ms per frame with the follow camera
(``duisburg_ruhrort``, background smoothscaled) and 1.0-1.3 ms with the map camera; about 0.4 ms
of that is the frame copy (the canvas is blitted into a 24-bit RGB surface and memcpy'd, 5x faster
than ``surfarray.array3d`` + transpose, same result).  Construction (background pre-render):
5 ms (``synthetic_channel``) to 60 ms (``duisburg_ruhrort``).

Files
    :func:`save_png` and :func:`save_gif` write atomically (temporary file in the target directory,
    then ``os.replace``) with Pillow (PNG falls back to pygame when Pillow is missing).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from atomicio import atomic_path

__all__ = ["VesselSprite", "RenderScene", "Renderer", "save_gif", "save_png", "colour_ramp",
           "RENDER_MODES", "CAMERAS", "WATER_COLOUR", "LAND_COLOUR", "BANK_COLOUR", "EGO_COLOUR",
           "TRAFFIC_COLOUR", "MAX_BG_PX"]

RENDER_MODES = ("human", "rgb_array")
CAMERAS = ("follow", "map")
MAX_BG_PX = 4096  # longest side of the pre-rendered follow-camera background

WATER_COLOUR = (166, 206, 227)
LAND_COLOUR = (236, 230, 214)
BANK_COLOUR = (31, 78, 121)
LANE_COLOURS = {"downstream": (31, 120, 180), "upstream": (227, 26, 28), "channel": (51, 160, 44),
                None: (106, 61, 154)}
KM_COLOUR = (70, 70, 70)
BRIDGE_COLOUR = (140, 80, 30)
PIER_COLOUR = (77, 77, 77)
LOCK_COLOUR = (90, 90, 160)
BERTH_COLOUR = (0, 110, 0)
EGO_COLOUR = (220, 30, 30)
TRAFFIC_COLOUR = (255, 170, 0)
HULL_EDGE_COLOUR = (20, 20, 20)
ROUTE_COLOUR = (150, 40, 170)
GOAL_COLOUR = (0, 150, 60)
TEXT_COLOUR = (20, 20, 20)
HUD_BG = (20, 24, 32, 190)
HUD_TEXT = (240, 240, 240)

_VIRIDIS = np.array([[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
                     [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]],
                    dtype=np.float64)
_RAMPS = {
    "viridis": _VIRIDIS,
    "gray": np.array([[0, 0, 0], [255, 255, 255]], dtype=np.float64),
    "rdylgn": np.array([[215, 48, 39], [254, 224, 139], [26, 152, 80]], dtype=np.float64),
    "magma": np.array([[0, 0, 4], [29, 17, 71], [81, 18, 124], [131, 38, 129], [183, 55, 121], [231, 82, 99],
                       [252, 137, 97], [254, 196, 136], [252, 253, 191]], dtype=np.float64),
    "plasma": np.array([[13, 8, 135], [76, 2, 161], [126, 3, 168], [170, 35, 149], [204, 71, 120], [230, 108, 92],
                        [248, 149, 64], [253, 197, 39], [240, 249, 33]], dtype=np.float64),
}


# ------------------------------------------------------------------------------------------------
# scene description

@dataclass
class VesselSprite:
    """One hull to draw: centre ``(x, y)`` [m], heading ``psi`` [rad, nautical], size [m]."""

    x: float
    y: float
    psi: float
    length: float
    beam: float
    name: str
    kind: str = "traffic"  # "ego" | "traffic"


@dataclass
class RenderScene:
    """One frame's content, produced by the environment at each ``render()`` call."""

    t: float  # simulation time [s]
    ego: VesselSprite
    traffic: list[VesselSprite] = field(default_factory=list)
    ray_origin: tuple[float, float] | None = None
    ray_world_angles: np.ndarray | None = None  # (K,) nautical world angles [rad]
    ray_lengths: np.ndarray | None = None  # (K,) [m]
    goal_xy: tuple[float, float] | None = None
    goal_psi: float | None = None
    goal_radius: float = 0.0
    route_xy: np.ndarray | None = None  # (P, 2)
    hud: dict[str, float | str] = field(default_factory=dict)
    reward_components: dict[str, float] | None = None  # this step's weighted components (HUD bar)


def colour_ramp(values: np.ndarray, cmap="viridis", vmin: float | None = None,
                vmax: float | None = None) -> np.ndarray:
    """Map ``values`` to RGB (``values.shape + (3,)``, uint8) through a colour ramp.

    ``cmap``: ``"viridis"``, ``"magma"``, ``"plasma"``, ``"gray"``, ``"rdylgn"`` (a ``"_r"`` suffix
    reverses it) or an ``(N, 3)`` array of RGB control points (0-255), interpolated linearly between
    ``vmin`` and ``vmax`` (default: finite min/max).  NaN values get the low end (callers mask them
    separately)."""
    if isinstance(cmap, str):
        ramp = _RAMPS.get(cmap.removesuffix("_r"))
        if ramp is not None and cmap.endswith("_r"):
            ramp = ramp[::-1]
    else:
        ramp = np.asarray(cmap, dtype=np.float64)
    if ramp is None:
        raise ValueError(f"unknown colour ramp {cmap!r} (available: {', '.join(_RAMPS)})")
    if ramp.ndim != 2 or ramp.shape[1] != 3 or ramp.shape[0] < 2:
        raise ValueError("a colour ramp must be an (N >= 2, 3) array of RGB values")
    v = np.asarray(values, dtype=np.float64)
    fin = np.isfinite(v)
    lo = float(np.min(v[fin])) if vmin is None and fin.any() else float(vmin or 0.0)
    hi = float(np.max(v[fin])) if vmax is None and fin.any() else float(1.0 if vmax is None else vmax)
    u = np.clip((np.where(fin, v, lo) - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    pos = u * (ramp.shape[0] - 1)
    i0 = np.minimum(pos.astype(np.intp), ramp.shape[0] - 2)
    w = (pos - i0)[..., None]
    return np.rint(ramp[i0] * (1.0 - w) + ramp[i0 + 1] * w).astype(np.uint8)


# ------------------------------------------------------------------------------------------------
# files

def _atomic_write(path, write) -> Path:
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def _check_frame(frame) -> np.ndarray:
    a = np.asarray(frame)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"a frame must be an (H, W, 3) array, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.uint8)


def save_png(frame: np.ndarray, path) -> Path:
    """Write one ``(H, W, 3)`` uint8 frame as PNG, atomically.  Returns the path."""
    a = _check_frame(frame)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        def write(tmp):
            import pygame
            surf = pygame.surfarray.make_surface(np.transpose(a, (1, 0, 2)))
            pygame.image.save(surf, tmp, "x.png")
    else:
        def write(tmp):
            Image.fromarray(a, "RGB").save(tmp, format="PNG")
    return _atomic_write(path, write)


def save_gif(frames: list[np.ndarray], path, fps: float = 10) -> Path:
    """Write ``(H, W, 3)`` uint8 frames as a looping animated GIF at ``fps``, atomically (Pillow).

    Note that Pillow merges consecutive identical frames (their durations add up)."""
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover
        raise ImportError("save_gif needs Pillow (pip install pillow)") from e
    if not len(frames):
        raise ValueError("save_gif: no frames")
    if not fps > 0:
        raise ValueError(f"save_gif: fps must be > 0, got {fps}")
    imgs = [Image.fromarray(_check_frame(f), "RGB") for f in frames]
    duration = max(int(round(1000.0 / fps)), 10)

    def write(tmp):
        imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], duration=duration, loop=0)

    return _atomic_write(path, write)


# ------------------------------------------------------------------------------------------------
# geometry helpers

def _hull_body(length: float, beam: float) -> np.ndarray:
    """(5, 2) hull outline in body coordinates (forward, starboard): box with a pointed bow."""
    hl, hb = 0.5 * length, 0.5 * beam
    bow = min(0.18 * length, 1.5 * beam)
    return np.array([[-hl, -hb], [hl - bow, -hb], [hl, 0.0], [hl - bow, hb], [-hl, hb]])


def _polys(geom):
    if geom is None or geom.is_empty:
        return []
    if geom.geom_type == "Polygon":
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if g.geom_type == "Polygon" and not g.is_empty]


def _nice_length(target: float) -> float:
    if target <= 0:
        return 1.0
    e = 10.0 ** math.floor(math.log10(target))
    for m in (5.0, 2.0, 1.0):
        if m * e <= target:
            return m * e
    return e


class _View:
    """World -> pixel transform: px = (x - x0) * s, py = (y1 - y) * s."""

    def __init__(self, x0: float, y1: float, s: float):
        self.x0, self.y1, self.s = float(x0), float(y1), float(s)

    def px(self, xy) -> np.ndarray:
        a = np.asarray(xy, dtype=np.float64)
        out = np.empty(a.shape)
        out[..., 0] = (a[..., 0] - self.x0) * self.s
        out[..., 1] = (self.y1 - a[..., 1]) * self.s
        return out


# ------------------------------------------------------------------------------------------------

class Renderer:
    """Draw :class:`RenderScene` frames of one harbour map (see the module docstring).

    ``render_mode``: ``"rgb_array"`` (off-screen, :meth:`render` returns the frame) or ``"human"``
    (window).  ``camera``: ``"follow"`` or ``"map"`` (:meth:`set_camera`).  ``overlay``: None or
    ``(array, extent)`` / ``(array, extent, cmap)`` passed to :meth:`set_overlay`.
    ``ray_colour_range_m``: ray length that is drawn fully green.  ``min_hull_px`` /
    ``min_beam_px``: minimum on-screen hull size."""

    def __init__(self, harbour_map, render_mode: str = "rgb_array", width: int = 800, height: int = 600,
                 camera: str = "follow", follow_span_m: float = 1200.0, fps: int = 10, overlay=None, *,
                 ray_colour_range_m: float = 300.0, min_hull_px: float = 10.0, min_beam_px: float = 4.0,
                 smooth: bool = True, controls=None, speed: float = 8.0):
        if render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode {render_mode!r} is not supported (use one of {RENDER_MODES})")
        if camera not in CAMERAS:
            raise ValueError(f"camera {camera!r} is not supported (use one of {CAMERAS})")
        if int(width) < 16 or int(height) < 16:
            raise ValueError(f"window {width}x{height} is too small (at least 16x16)")
        if not follow_span_m > 0:
            raise ValueError(f"follow_span_m must be > 0, got {follow_span_m}")
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import pygame

        self._pg = pygame
        self.map = harbour_map
        self.render_mode = render_mode
        self.width, self.height = int(width), int(height)
        self.camera = camera
        self.follow_span_m = float(follow_span_m)
        self.fps = int(fps)
        self.ray_colour_range_m = float(ray_colour_range_m)
        self.min_hull_px = float(min_hull_px)
        self.min_beam_px = float(min_beam_px)
        self.smooth = bool(smooth)
        self._closed = False
        # human window: the shared keyboard / window / signal controls (testbed.ui.controls)
        self.controls = None
        self._signals = None
        self._pace = None  # (wall clock, simulation time, speed) the playback pace is anchored at
        self._last_draw = -math.inf
        self._last_scene = None
        self._notice = None  # (text, wall clock until which it shows)
        if not pygame.font.get_init():
            pygame.font.init()
        self._font = pygame.font.Font(None, 18)
        self._font_small = pygame.font.Font(None, 15)
        self._text_cache: dict = {}

        self._window = None
        if render_mode == "human":
            pygame.display.init()
            self._window = pygame.display.set_mode((self.width, self.height))
            pygame.display.set_caption(f"Duisburg Smart Shipping Testbed - {harbour_map.name}  (h: help)")
            from testbed.ui.controls import PlaybackControls

            self.controls = controls if controls is not None else PlaybackControls(
                speed=speed, follow=camera == "follow")
            self.controls.follow = camera == "follow"
            self._signals = self.controls.install_signal_handlers()
            self._signals.__enter__()
        self._canvas = pygame.Surface((self.width, self.height))
        self._rgb = pygame.Surface((self.width, self.height), 0, 24, (0xFF, 0xFF00, 0xFF0000, 0))

        xmin, ymin, xmax, ymax = harbour_map.bounds
        pad = 0.02 * max(xmax - xmin, ymax - ymin) + 20.0
        self._world = (xmin - pad, ymin - pad, xmax + pad, ymax + pad)
        wx0, wy0, wx1, wy1 = self._world
        # follow-camera background
        self._bg_res = max(self.follow_span_m / self.width, max(wx1 - wx0, wy1 - wy0) / MAX_BG_PX)
        s = 1.0 / self._bg_res
        self._bg_view = _View(wx0, wy1, s)
        self._bg_size = (int(math.ceil((wx1 - wx0) * s)), int(math.ceil((wy1 - wy0) * s)))
        # map-camera background: whole world fitted, centred
        sm = min(self.width / (wx1 - wx0), self.height / (wy1 - wy0))
        cx, cy = 0.5 * (wx0 + wx1), 0.5 * (wy0 + wy1)
        self._map_view = _View(cx - 0.5 * self.width / sm, cy + 0.5 * self.height / sm, sm)

        # map labels: (world xy, pixel offset, text, colour, minimum px/m to show it); baked into the
        # map-camera background, drawn per frame (sharp, culled) in the follow camera
        labels = [(b.xy[-1], (4, -6), b.name, BRIDGE_COLOUR, 0.1) for b in harbour_map.bridges]
        labels += [(bt.xy, (5, 2), bt.name, BERTH_COLOUR, 0.2) for bt in harbour_map.berths]
        labels += [(k.xy, (5, -5), f"km {k.km:g}", KM_COLOUR, 0.0 if float(k.km).is_integer() else 0.08)
                   for k in harbour_map.km_markers]
        self._labels = labels
        self._label_xy = np.array([lb[0] for lb in labels], dtype=np.float64).reshape(-1, 2)
        self._baked_labels: list = []  # (text, rect) of the map-camera labels baked into its background
        self.last_labels: list = []  # (text, rect) of every label on the last frame (tests, tools)
        self.last_hud_rect = None
        self._ray_layer = None  # translucent layer for the range-sensor rays
        t0 = time.perf_counter()
        self._bg_base = self._draw_background(self._bg_view, self._bg_size, labels=False)
        self._map_base = self._draw_background(self._map_view, (self.width, self.height), labels=True)
        self.timings = {"background_s": time.perf_counter() - t0}
        self._bg = self._bg_base
        self._map_bg = self._map_base
        self.overlay = None
        self._legend = None
        if overlay is not None:
            if isinstance(overlay, dict):
                self.set_overlay(**overlay)
            else:
                self.set_overlay(*overlay)

    # -- public -----------------------------------------------------------------------------------
    def set_camera(self, camera: str) -> None:
        """``"follow"`` (ego-centred, north-up, ``follow_span_m`` across) or ``"map"`` (whole map)."""
        if camera not in CAMERAS:
            raise ValueError(f"camera {camera!r} is not supported (use one of {CAMERAS})")
        self.camera = camera
        if self.controls is not None:
            self.controls.follow = camera == "follow"

    @property
    def quit_requested(self) -> bool:
        """True once the user closed the human window, pressed ``q``/Esc or sent SIGINT/SIGTERM."""
        return self.controls is not None and self.controls.quit

    def set_overlay(self, array, extent=None, cmap="viridis", alpha: float = 0.45,
                    vmin: float | None = None, vmax: float | None = None, label: str | None = None) -> None:
        """Draw a scalar raster semi-transparently over the map (e.g. a 5G coverage map).

        ``array``: ``(H_r, W_r)`` floats; row 0 is the SOUTH edge (``ymin``) and column 0 the west
        edge, like the map rasters (row ``i`` = y).  ``extent``: ``(xmin, ymin, xmax, ymax)`` in
        local metres of the whole array.  Colours from :func:`colour_ramp` (``cmap``, ``vmin``,
        ``vmax``), scaled nearest-neighbour (cells stay visible as blocks); NaN cells are transparent;
        ``alpha`` in [0, 1].  The overlay is composited into
        the pre-rendered backgrounds once (per-frame cost unchanged).  Every frame then shows a
        legend (bottom right): the colour bar from ``vmin`` to ``vmax`` with both values and
        ``label`` (e.g. ``"SINR [dB]"``, units in brackets).  ``set_overlay(None)`` removes it."""
        pg = self._pg
        if array is None:
            self.overlay = None
            self._legend = None
            self._bg, self._map_bg = self._bg_base, self._map_base
            return
        a = np.asarray(array, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
            raise ValueError(f"overlay must be a 2-D (H_r, W_r) array, got shape {a.shape}")
        if extent is None or len(extent) != 4:
            raise ValueError("overlay extent must be (xmin, ymin, xmax, ymax)")
        ex0, ey0, ex1, ey1 = (float(v) for v in extent)
        if not (ex1 > ex0 and ey1 > ey0):
            raise ValueError(f"overlay extent {extent} is empty")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"overlay alpha must be in [0, 1], got {alpha}")
        fin = a[np.isfinite(a)]
        lo = float(vmin) if vmin is not None else (float(fin.min()) if fin.size else 0.0)
        hi = float(vmax) if vmax is not None else (float(fin.max()) if fin.size else 1.0)
        rgb = colour_ramp(a, cmap, lo, hi)[::-1]  # north row first
        al = np.where(np.isfinite(a), int(round(alpha * 255)), 0).astype(np.uint8)[::-1]
        src = pg.Surface((a.shape[1], a.shape[0]), pg.SRCALPHA, 32)
        pg.surfarray.pixels3d(src)[...] = np.transpose(rgb, (1, 0, 2))
        pg.surfarray.pixels_alpha(src)[...] = al.T
        self.overlay = (a, (ex0, ey0, ex1, ey1), cmap, alpha)
        self._legend = self._make_legend(cmap, lo, hi, alpha, label)
        self._bg = self._composite(self._bg_base, self._bg_view, src, (ex0, ey0, ex1, ey1))
        self._map_bg = self._composite(self._map_base, self._map_view, src, (ex0, ey0, ex1, ey1))

    def _make_legend(self, cmap, lo: float, hi: float, alpha: float, label: str | None):
        """The overlay's legend surface: label, colour bar (blended on water as drawn), end values."""
        pg = self._pg
        bw, bh = 160, 12
        ramp = colour_ramp(np.linspace(lo, hi, bw), cmap, lo, hi).astype(np.float64)
        ramp = np.rint(ramp * alpha + np.asarray(WATER_COLOUR, np.float64) * (1.0 - alpha)).astype(np.uint8)
        title = self._text_surf(label or "overlay", HUD_TEXT, True)
        tl = self._text_surf(_fmt_tick(lo, hi, lo), HUD_TEXT, True)
        th = self._text_surf(_fmt_tick(lo, hi, hi), HUD_TEXT, True)
        w = max(bw, title.get_width()) + 12
        h = title.get_height() + bh + tl.get_height() + 14
        surf = pg.Surface((w, h), pg.SRCALPHA, 32)
        surf.fill(HUD_BG)
        surf.blit(title, (6, 4))
        bar = pg.Surface((bw, bh))
        pg.surfarray.pixels3d(bar)[...] = ramp[:, None, :]
        y = 6 + title.get_height()
        surf.blit(bar, (6, y))
        pg.draw.rect(surf, HUD_TEXT, (6, y, bw, bh), 1)
        surf.blit(tl, (6, y + bh + 2))
        surf.blit(th, (6 + bw - th.get_width(), y + bh + 2))
        return surf

    def view_for(self, ego_xy=None) -> _View:
        """The world -> pixel transform of the current camera (``ego_xy`` needed for "follow")."""
        if self.camera == "map":
            return self._map_view
        if ego_xy is None:
            raise ValueError("the follow camera needs ego_xy")
        s = self.width / self.follow_span_m
        ex, ey = float(ego_xy[0]), float(ego_xy[1])
        return _View(ex - 0.5 * self.width / s, ey + 0.5 * self.height / s, s)

    def pixel_of(self, xy, ego_xy=None) -> np.ndarray:
        """Pixel coordinates ``(column, row)`` (floats, ``(..., 2)``) of world points ``xy`` in the
        current camera (``ego_xy``: the ego position, needed for the follow camera)."""
        return self.view_for(ego_xy).px(xy)

    @property
    def scale_px_per_m(self) -> float:
        """Pixels per metre of the current camera."""
        return self._map_view.s if self.camera == "map" else self.width / self.follow_span_m

    def render(self, scene: RenderScene):
        """Draw ``scene``; ``"rgb_array"``: return the (H, W, 3) uint8 frame; ``"human"``: None."""
        if self._closed:
            raise RuntimeError("Renderer is closed")
        if self.render_mode == "human":
            self._render_human(scene)
            return None
        self._draw_frame(scene)
        # == np.transpose(pg.surfarray.array3d(surf), (1, 0, 2)), but ~5x faster: SDL converts the
        # canvas into a 24-bit surface whose bytes are R, G, B in row-major order, then one memcpy
        rgb = self._rgb
        rgb.blit(self._canvas, (0, 0))
        buf = rgb.get_buffer()
        W, H = self.width, self.height
        frame = np.frombuffer(buf, np.uint8).reshape(H, rgb.get_pitch())[:, :3 * W].reshape(H, W, 3).copy()
        del buf  # unlock the surface
        return frame

    def _draw_frame(self, scene: RenderScene) -> None:
        surf = self._canvas
        if self.camera == "follow":
            view = self._draw_follow_background(surf, scene.ego.x, scene.ego.y)
        else:
            view = self._map_view
            surf.blit(self._map_bg, (0, 0))
        self._draw_dynamic(surf, view, scene)

    # -- human window -----------------------------------------------------------------------------
    def _poll(self) -> None:
        c = self.controls
        c.handle_events(self._pg.event.get())
        if c.step_frames < 0:  # a live simulation cannot go back
            c.step_frames = 0
            self._notice = ("a live run cannot step back", time.perf_counter() + 2.0)
        cam = "follow" if c.follow else "map"
        if cam != self.camera:
            self.camera = cam

    def _present(self, scene: RenderScene) -> None:
        pg = self._pg
        self._draw_frame(scene)
        self._draw_status(self._canvas)
        if self.controls.show_help:
            self._draw_help(self._canvas)
        self._window.blit(self._canvas, (0, 0))
        pg.display.flip()
        self._last_draw = time.perf_counter()

    def _render_human(self, scene: RenderScene) -> None:
        """Show ``scene``, then hold the simulation to ``controls.speed`` x real time (simulation time
        ``scene.t``), and block while paused (redrawing on key presses) until resumed, a frame
        step (``.``) or quit.  Frames are drawn at most ``fps`` times per wall-clock second (frames in
        between are skipped, the simulation is not slowed by drawing)."""
        c = self.controls
        self._last_scene = scene
        self._poll()
        now = time.perf_counter()
        if c.paused or self.fps <= 0 or now - self._last_draw >= 1.0 / self.fps:
            self._present(scene)
        t = float(scene.t)
        pace = self._pace
        if pace is None or t < pace[1] or pace[2] != c.speed:
            pace = self._pace = (time.perf_counter(), t, c.speed)
        while not c.quit and not c.paused:  # pacing: wall = anchor + (t - t_anchor) / speed
            wait = pace[0] + (t - pace[1]) / c.speed - time.perf_counter()
            if wait <= 0 or pace[2] != c.speed:
                break
            time.sleep(min(wait, 0.02))
            self._poll()
        if not c.paused and time.perf_counter() - (pace[0] + (t - pace[1]) / c.speed) > 0.25:
            self._pace = None  # cannot keep up (slow steps): re-anchor instead of rushing later
        if c.paused:
            shown = None
            while c.paused and not c.quit:
                state = (c.show_help, c.follow, c.speed, self._notice)
                if state != shown:
                    self._present(scene)
                    shown = state
                if c.step_frames > 0:
                    c.step_frames -= 1
                    break
                time.sleep(1.0 / 30.0)
                self._poll()
            self._pace = None

    def _draw_status(self, surf) -> None:
        """Bottom right: ``paused  x8   h: help`` (and a short-lived notice above it)."""
        c = self.controls
        text = f"{c.status_text()}   h: help"
        t = self._text_surf(text, HUD_TEXT, False)
        w, h = t.get_width() + 12, t.get_height() + 6
        x, y = self.width - w - 6, self.height - h - 6
        self._panel(surf, (x, y, w, h))
        surf.blit(t, (x + 6, y + 3))
        if self._notice is not None:
            msg, until = self._notice
            if time.perf_counter() < until:
                n = self._text_surf(msg, HUD_TEXT, False)
                self._panel(surf, (self.width - n.get_width() - 18, y - h - 4, n.get_width() + 12, h))
                surf.blit(n, (self.width - n.get_width() - 12, y - h - 1))
            else:
                self._notice = None

    def _draw_help(self, surf) -> None:
        """The controls' key table on a translucent panel, top right (the ego in the centre stays visible)."""
        rows = self.controls.help_lines()
        keys = [self._text_surf(k, (255, 220, 120), False) for k, _ in rows]
        vals = [self._text_surf(v, HUD_TEXT, False) for _, v in rows]
        title = self._text_surf("Keys", HUD_TEXT, False)
        lh = self._font.get_linesize() + 2
        kw = max(k.get_width() for k in keys)
        w = min(self.width - 8, kw + max(v.get_width() for v in vals) + 36)
        h = min(self.height - 8, lh * (len(rows) + 1) + 16)
        x, y = max(4, self.width - w - 40), max(4, min(40, self.height - h - 40))  # right: the ego stays visible
        self._panel(surf, (x, y, w, h), (20, 24, 32, 225))
        surf.blit(title, (x + 12, y + 8))
        for i, (k, v) in enumerate(zip(keys, vals, strict=True)):
            yy = y + 8 + lh * (i + 1)
            surf.blit(k, (x + 12, yy))
            surf.blit(v, (x + 24 + kw, yy))

    def _panel(self, surf, rect, colour=HUD_BG) -> None:
        x, y, w, h = (int(v) for v in rect)
        if w < 1 or h < 1:
            return
        key = ("__panel__", w, h, colour)
        panel = self._text_cache.get(key)
        if panel is None:
            panel = self._pg.Surface((w, h), self._pg.SRCALPHA, 32)
            panel.fill(colour)
            self._text_cache[key] = panel
        surf.blit(panel, (x, y))

    def close(self) -> None:
        """Close the window (human mode); the renderer cannot draw afterwards.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._signals is not None:
            self._signals.__exit__(None, None, None)
            self._signals = None
        if self._window is not None:
            self._pg.display.quit()
            self._window = None

    # -- static background ----------------------------------------------------------------------
    def _draw_background(self, view: _View, size, labels: bool):
        pg = self._pg
        m = self.map
        surf = pg.Surface(size)
        surf.fill(LAND_COLOUR)
        s = view.s
        polys = sorted(_polys(m.water), key=lambda p: -abs(_ring_area(p.exterior.coords)))
        fill_water(pg, surf, view, polys)  # exterior water, then its holes land; bigger first
        for p in polys:
            for ring in [p.exterior, *p.interiors]:
                r = view.px(np.asarray(ring.coords))
                if len(r) >= 2:
                    pg.draw.lines(surf, BANK_COLOUR, True, r, 1)
        for lk in getattr(m, "locks", []):
            for p in _polys(lk.polygon):
                pg.draw.lines(surf, LOCK_COLOUR, True, view.px(np.asarray(p.exterior.coords)), 1)
        for ln in m.lanes:
            self._draw_lane(surf, view, ln)
        draw_bridges_and_berths(pg, surf, view, m, max(2, int(round(8.0 * s))), 3)
        for bt in m.berths:
            pg.draw.circle(surf, BERTH_COLOUR, view.px(bt.xy), 2)
        for k in m.km_markers:
            p = view.px(k.xy)
            pg.draw.circle(surf, KM_COLOUR, p, 3)
            pg.draw.circle(surf, (255, 255, 255), p, 1)
        if labels:
            self._baked_labels = self._draw_labels(surf, view)
        return surf

    def _draw_labels(self, surf, view: _View, placer: _LabelPlacer | None = None) -> list:
        """Map labels (bridges, berths, km) whose anchor is in the frame, each placed next to its
        point where it overlaps nothing placed before (else left out) and inside the frame.  Returns
        ``(text, rectangle)`` of each label drawn."""
        if not self._labels:
            return []
        W, H = surf.get_size()
        if placer is None:
            placer = _LabelPlacer(self._pg, W, H)
        p = view.px(self._label_xy)
        vis = (p[:, 0] >= 0) & (p[:, 0] < W) & (p[:, 1] >= 0) & (p[:, 1] < H)
        out = []
        for i in np.flatnonzero(vis):
            _, _, text, colour, min_s = self._labels[i]
            if view.s >= min_s:
                t = self._text_surf(text, colour, True, halo=True)
                r = placer.place(t.get_size(), _around_point(p[i], 5), force=False)
                if r is not None:
                    surf.blit(t, r.topleft)
                    out.append((text, r))
        return out

    def _draw_lane(self, surf, view: _View, ln) -> None:
        pg = self._pg
        col = LANE_COLOURS.get(ln.role, LANE_COLOURS[None])
        pts = view.px(ln.xy)
        if len(pts) < 2:
            return
        seg = np.diff(pts, axis=0)
        seg_len = np.hypot(seg[:, 0], seg[:, 1])
        dash, gap, arrow_every = 8.0, 6.0, 90.0
        pos = 0.0  # distance along the polyline (px) at the start of the segment
        next_arrow = 0.5 * arrow_every
        for a, d, L in zip(pts[:-1], seg, seg_len, strict=True):
            if L <= 1e-9:
                continue
            u = d / L
            t = -(pos % (dash + gap))
            while t < L:
                t0, t1 = max(t, 0.0), min(t + dash, L)
                if t1 > t0:
                    pg.draw.line(surf, col, a + u * t0, a + u * t1, 1)
                t += dash + gap
            if ln.direction == "forward":
                while next_arrow < pos + L:
                    c = a + u * (next_arrow - pos)
                    nrm = np.array([-u[1], u[0]])
                    pg.draw.lines(surf, col, False, [c - 5 * u + 4 * nrm, c, c - 5 * u - 4 * nrm], 2)
                    next_arrow += arrow_every
            pos += L

    def _composite(self, base, view: _View, src, extent):
        pg = self._pg
        ex0, ey0, ex1, ey1 = extent
        p0 = view.px((ex0, ey1))
        w = int(round((ex1 - ex0) * view.s))
        h = int(round((ey1 - ey0) * view.s))
        out = base.copy()
        if w >= 1 and h >= 1:
            bw, bh = base.get_size()
            # clip to the background before scaling (huge extents would otherwise cost memory)
            x0, y0 = max(0, int(math.floor(p0[0]))), max(0, int(math.floor(p0[1])))
            x1, y1 = min(bw, int(math.ceil(p0[0] + w))), min(bh, int(math.ceil(p0[1] + h)))
            if x1 > x0 and y1 > y0:
                sw, sh = src.get_size()
                fx, fy = sw / w, sh / h
                sx0 = max(0, int(math.floor((x0 - p0[0]) * fx)))
                sy0 = max(0, int(math.floor((y0 - p0[1]) * fy)))
                sx1 = min(sw, int(math.ceil((x1 - p0[0]) * fx)))
                sy1 = min(sh, int(math.ceil((y1 - p0[1]) * fy)))
                if sx1 > sx0 and sy1 > sy0:
                    part = src.subsurface((sx0, sy0, sx1 - sx0, sy1 - sy0))
                    dw = max(1, int(round((sx1 - sx0) / fx)))
                    dh = max(1, int(round((sy1 - sy0) / fy)))
                    scaled = pg.transform.scale(part, (dw, dh))
                    out.blit(scaled, (int(round(p0[0] + sx0 / fx)), int(round(p0[1] + sy0 / fy))))
        return out

    # -- per frame --------------------------------------------------------------------------------
    def _draw_follow_background(self, surf, ex: float, ey: float) -> _View:
        pg = self._pg
        W, H = self.width, self.height
        view = self.view_for((ex, ey))
        s = view.s
        bgv = self._bg_view
        k = bgv.s / s  # background px per screen px
        # visible rectangle in background pixels
        fx0 = (view.x0 - bgv.x0) * bgv.s
        fy0 = (bgv.y1 - view.y1) * bgv.s
        bw, bh = self._bg_size
        i0, j0 = max(0, math.floor(fx0)), max(0, math.floor(fy0))
        i1, j1 = min(bw, math.ceil(fx0 + W * k)), min(bh, math.ceil(fy0 + H * k))
        if i1 <= i0 or j1 <= j0:
            surf.fill(LAND_COLOUR)
            return view
        full = i0 == math.floor(fx0) and j0 == math.floor(fy0) and i1 >= fx0 + W * k and j1 >= fy0 + H * k
        if not full:
            surf.fill(LAND_COLOUR)
        dx = int(round((i0 - fx0) / k))
        dy = int(round((j0 - fy0) / k))
        if abs(k - 1.0) < 1e-9:
            surf.blit(self._bg, (dx, dy), (i0, j0, i1 - i0, j1 - j0))
        else:
            part = self._bg.subsurface((i0, j0, i1 - i0, j1 - j0))
            size = (max(1, int(round((i1 - i0) / k))), max(1, int(round((j1 - j0) / k))))
            scale = pg.transform.smoothscale if self.smooth else pg.transform.scale
            surf.blit(scale(part, size), (dx, dy))
        return view

    def _draw_dynamic(self, surf, view: _View, sc: RenderScene) -> None:
        pg = self._pg
        s = view.s
        if sc.route_xy is not None:
            r = np.asarray(sc.route_xy, dtype=np.float64).reshape(-1, 2)
            if len(r) >= 2:
                pg.draw.lines(surf, ROUTE_COLOUR, False, view.px(r), 2)
        if sc.goal_xy is not None:
            g = view.px(sc.goal_xy)
            rad = max(3, int(round(float(sc.goal_radius) * s)))
            if abs(g[0]) < 1e5 and abs(g[1]) < 1e5:
                pg.draw.circle(surf, GOAL_COLOUR, g, rad, 2)
                pg.draw.circle(surf, GOAL_COLOUR, g, 2)
                if sc.goal_psi is not None:
                    u = np.array([math.sin(sc.goal_psi), -math.cos(sc.goal_psi)])
                    self._arrow(surf, GOAL_COLOUR, g, g + u * max(rad, 15), 2)
        if sc.ray_lengths is not None and sc.ray_world_angles is not None and sc.ray_origin is not None:
            self._draw_rays(surf, view, sc)
        W, H = self.width, self.height
        hulls = [(v, self._draw_vessel(surf, view, v, TRAFFIC_COLOUR, W, H)) for v in sc.traffic]
        hulls.append((sc.ego, self._draw_vessel(surf, view, sc.ego, EGO_COLOUR, W, H)))
        # screen furniture first: labels are placed around it
        placer = _LabelPlacer(pg, W, H)
        placer.reserve(self._draw_scale_bar(surf, s))
        placer.reserve(self._draw_north(surf))
        self.last_hud_rect = self._draw_hud(surf, sc)
        placer.reserve(self.last_hud_rect)
        if self._legend is not None:  # bottom right, above the human window's status line
            lw, lh = self._legend.get_size()
            pos = (W - lw - 6, H - lh - 6 - (30 if self.render_mode == "human" else 0))
            surf.blit(self._legend, pos)
            placer.reserve(pg.Rect(pos, (lw, lh)))
        if self.render_mode == "human":
            placer.reserve(pg.Rect(W - 200, H - 34, 200, 34))  # status line
        if self.camera == "map":
            for _, r in self._baked_labels:
                placer.reserve(r)
        for _, box in hulls:
            if box is not None:
                placer.reserve(box)
        # vessel names (ego first), always shown, then map labels where there is room
        labels = []  # (text, rect) of this frame, kept in self.last_labels
        for v, box in sorted(hulls, key=lambda vb: vb[0].kind != "ego"):
            if box is None or not v.name or not box.colliderect((0, 0, W, H)):
                continue  # off-screen hulls get no (clamped, misleading) label
            ego = v.kind == "ego"
            t = self._text_surf(str(v.name), EGO_COLOUR if ego else TEXT_COLOUR, not ego, halo=True)
            r = placer.place(t.get_size(), _around_box(box, 3), force=True)
            surf.blit(t, r.topleft)
            labels.append((str(v.name), r))
        if self.camera == "follow":
            labels += self._draw_labels(surf, view, placer)
        else:
            labels += self._baked_labels
        self.last_labels = labels

    def _draw_rays(self, surf, view: _View, sc: RenderScene) -> None:
        """Range-sensor rays: thin translucent lines from the hull outline (not its centre, so the
        hull stays visible) to the hit point, coloured by length, a dot where a ray hit something.
        Drawn under the hulls on a translucent layer limited to the rays' bounding box."""
        pg = self._pg
        s = view.s
        ang = np.asarray(sc.ray_world_angles, dtype=np.float64).reshape(-1)
        ln = np.asarray(sc.ray_lengths, dtype=np.float64).reshape(-1)
        if not len(ang):
            return
        o = view.px(sc.ray_origin)
        u = np.column_stack([np.sin(ang), -np.cos(ang)])
        e = sc.ego
        # distance from the centre to the hull outline along each ray (box of length x beam)
        rel = ang - e.psi
        hl = 0.5 * max(float(e.length) * s, self.min_hull_px)
        hb = 0.5 * min(max(float(e.beam) * s, self.min_beam_px), 2 * hl)
        with np.errstate(divide="ignore"):
            r0 = np.minimum(hl / np.abs(np.cos(rel)), hb / np.abs(np.sin(rel))) + 2.0
        r1 = ln * s
        keep = r1 > r0
        starts = o + u * r0[:, None]
        ends = o + u * r1[:, None]
        W, H = self.width, self.height
        lo = np.floor(np.minimum(starts[keep].min(0), ends[keep].min(0))) - 3 if keep.any() else None
        if lo is None:
            return
        hi = np.ceil(np.maximum(starts[keep].max(0), ends[keep].max(0))) + 3
        x0, y0 = max(0, int(lo[0])), max(0, int(lo[1]))
        x1, y1 = min(W, int(hi[0])), min(H, int(hi[1]))
        if x1 <= x0 or y1 <= y0:
            return
        if self._ray_layer is None:
            self._ray_layer = pg.Surface((W, H), pg.SRCALPHA, 32)
        layer = self._ray_layer
        box = pg.Rect(x0, y0, x1 - x0, y1 - y0)
        layer.fill((0, 0, 0, 0), box)
        cols = colour_ramp(ln, "rdylgn", 0.0, self.ray_colour_range_m)
        hit = ln < self.ray_colour_range_m * 0.999
        for a, b, c, h, k in zip(starts, ends, cols, hit, keep, strict=True):
            if k:
                col = (int(c[0]), int(c[1]), int(c[2]), 120)
                pg.draw.line(layer, col, a, b, 1)
                if h:
                    pg.draw.circle(layer, (int(c[0]), int(c[1]), int(c[2]), 220), b, 2)
        surf.blit(layer, box.topleft, box)

    def _draw_vessel(self, surf, view: _View, v: VesselSprite, colour, W, H) -> None:
        pg = self._pg
        c = view.px((v.x, v.y))
        if not (-200 < c[0] < W + 200 and -200 < c[1] < H + 200):
            return None
        s = view.s
        Lpx = max(float(v.length) * s, self.min_hull_px)
        Bpx = min(max(float(v.beam) * s, self.min_beam_px), Lpx)
        body = _hull_body(Lpx, Bpx)
        sp, cp = math.sin(v.psi), math.cos(v.psi)
        fwd = np.array([sp, -cp])  # screen direction of the bow
        stb = np.array([cp, sp])  # screen direction of starboard
        pts = c + body[:, :1] * fwd + body[:, 1:] * stb
        if v.kind == "ego":
            colour = EGO_COLOUR
        bow = c + fwd * (0.5 * Lpx)
        tip = bow + fwd * max(0.6 * Lpx, 18.0)
        pg.draw.line(surf, HULL_EDGE_COLOUR if v.kind != "ego" else colour, bow, tip, 1)
        pg.draw.polygon(surf, colour, pts)
        pg.draw.polygon(surf, HULL_EDGE_COLOUR, pts, 1)
        lo = np.floor(pts.min(0))
        hi = np.ceil(pts.max(0))
        return pg.Rect(int(lo[0]), int(lo[1]), int(hi[0] - lo[0]) + 1, int(hi[1] - lo[1]) + 1)

    def _draw_scale_bar(self, surf, s: float) -> None:
        pg = self._pg
        W, H = self.width, self.height
        length_m = _nice_length(0.2 * W / s)
        px = length_m * s
        x0, y0 = 12, H - 14
        pg.draw.rect(surf, (255, 255, 255), (x0 - 4, y0 - 18, px + 8, 24))
        pg.draw.line(surf, TEXT_COLOUR, (x0, y0), (x0 + px, y0), 2)
        for x in (x0, x0 + px):
            pg.draw.line(surf, TEXT_COLOUR, (x, y0 - 5), (x, y0 + 3), 2)
        label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
        self._text(surf, label, (x0 + 2, y0 - 16), TEXT_COLOUR, small=True)
        return pg.Rect(x0 - 4, y0 - 18, int(px) + 8, 24)

    def _draw_north(self, surf) -> None:
        x, y = self.width - 22, 14
        self._pg.draw.polygon(surf, TEXT_COLOUR, [(x, y), (x - 6, y + 16), (x, y + 12), (x + 6, y + 16)])
        self._text(surf, "N", (x - 4, y + 18), TEXT_COLOUR, small=True)
        return self._pg.Rect(x - 8, y - 2, 16, 32)

    def _draw_hud(self, surf, sc: RenderScene):
        """Top left: the ``hud`` entries (label, value) and, when the scene has reward components,
        this step's reward with a signed stacked bar (positive components right of zero, negative
        left, one colour each, scaled to the larger side) and the largest components by name.
        Returns the panel's rectangle."""
        pg = self._pg
        rows = [(str(k), _fmt(v)) for k, v in sc.hud.items()]
        if not any(k.lower().startswith(("t [", "time")) for k, _ in rows):
            rows.insert(0, ("time [s]", _fmt(sc.t)))
        lab = [self._text_surf(k, HUD_TEXT, False) for k, _ in rows]
        val = [self._text_surf(v, HUD_TEXT, False, cache=False) for _, v in rows]
        lh = self._font.get_linesize()
        kw = max(t.get_width() for t in lab)
        vw = max(t.get_width() for t in val)
        comps = sc.reward_components
        bar_w = 180
        w = max(kw + vw + 24, bar_w + 12 if comps else 0)
        h = lh * len(rows) + 10
        legend = []
        if comps:
            names = list(comps)
            vals = np.array([float(comps[k]) for k in names], dtype=np.float64)
            vals[~np.isfinite(vals)] = 0.0
            total = float(vals.sum())
            head = self._text_surf(f"reward {total:+.3f}", HUD_TEXT, False, cache=False)
            order = np.argsort(-np.abs(vals), kind="stable")
            for i in order[:3]:  # the three largest, in the bar's colours
                if abs(vals[i]) >= 5e-4:
                    legend.append(self._text_surf(f"{names[i]} {vals[i]:+.3f}", _component_colour(i), True,
                                                  cache=False))  # fmt: skip
            w = max([w] + [t.get_width() + 12 for t in legend])
            leg_h = self._font_small.get_linesize() * len(legend)
            h += head.get_height() + 4 + 12 + 4 + leg_h + 4
        x0, y0 = 6, 6
        self._panel(surf, (x0, y0, w, h))
        y = y0 + 5
        for a, b in zip(lab, val, strict=True):
            surf.blit(a, (x0 + 6, y))
            surf.blit(b, (x0 + 6 + kw + 12 + vw - b.get_width(), y))
            y += lh
        if comps:
            surf.blit(head, (x0 + 6, y + 2))
            y += head.get_height() + 4
            bx, half = x0 + 6, bar_w // 2
            zero = bx + half
            pg.draw.rect(surf, (70, 74, 84), (bx, y, bar_w, 12))
            pos, neg = vals[vals > 0].sum(), -vals[vals < 0].sum()
            scale = half / max(pos, neg, 1e-9)
            right, left = float(zero), float(zero)
            for i in order[::-1]:  # small first, so the big ones sit at the outer ends
                v = vals[i]
                if v == 0.0:
                    continue
                ln = abs(v) * scale
                if v > 0:
                    x_a, right = right, right + ln
                else:
                    left -= ln
                    x_a = left
                if ln >= 0.5:
                    pg.draw.rect(surf, _component_colour(i), (int(round(x_a)), y + 1, max(1, int(round(ln))), 10))
            pg.draw.line(surf, HUD_TEXT, (zero, y - 2), (zero, y + 13), 1)
            y += 16
            for k, t in enumerate(legend):
                surf.blit(t, (bx, y + k * self._font_small.get_linesize()))
        return pg.Rect(x0, y0, w, h)

    # -- text -------------------------------------------------------------------------------------
    def _text_surf(self, text: str, colour, small: bool, cache: bool = True, halo: bool = False):
        key = (text, colour, small, halo)
        t = self._text_cache.get(key) if cache else None
        if t is None:
            font = self._font_small if small else self._font
            t = font.render(text, True, colour)
            if halo:  # a 1 px white outline keeps labels legible over rays, lanes and hulls
                pg = self._pg
                back = font.render(text, True, (255, 255, 255))
                out = pg.Surface((t.get_width() + 2, t.get_height() + 2), pg.SRCALPHA, 32)
                for dx, dy in ((0, 1), (2, 1), (1, 0), (1, 2), (0, 0), (2, 2), (0, 2), (2, 0)):
                    out.blit(back, (dx, dy))
                out.blit(t, (1, 1))
                t = out
            if cache:
                if len(self._text_cache) > 1024:
                    self._text_cache.clear()
                self._text_cache[key] = t
        return t

    def _text(self, surf, text: str, pos, colour, small: bool = False) -> None:
        surf.blit(self._text_surf(text, colour, small), (int(pos[0]), int(pos[1])))

    def _arrow(self, surf, colour, a, b, width: int) -> None:
        draw_arrow(self._pg, surf, colour, a, b, width)


# one colour per reward component (ob.COMPONENTS order), light enough to read on the dark HUD
_COMPONENT_COLOURS = ((102, 204, 102), (90, 170, 255), (200, 140, 255), (255, 80, 80), (210, 150, 90),
                      (255, 160, 40), (255, 130, 200), (255, 235, 80), (190, 190, 190), (110, 220, 200))


def _component_colour(i: int):
    return _COMPONENT_COLOURS[int(i) % len(_COMPONENT_COLOURS)]


def _around_point(p, gap: float):
    """Candidate top-left corners (as functions of the label size) around a point: right, left,
    above, below, then the diagonals."""
    x, y = float(p[0]), float(p[1])
    return [lambda w, h: (x + gap, y - h / 2), lambda w, h: (x - gap - w, y - h / 2),
            lambda w, h: (x - w / 2, y - gap - h), lambda w, h: (x - w / 2, y + gap),
            lambda w, h: (x + gap, y - gap - h), lambda w, h: (x + gap, y + gap),
            lambda w, h: (x - gap - w, y - gap - h), lambda w, h: (x - gap - w, y + gap)]  # fmt: skip


def _around_box(box, gap: float):
    """Candidate top-left corners around a rectangle (a hull's screen box)."""
    l, t, r, b = box.left, box.top, box.right, box.bottom
    cx, cy = box.centerx, box.centery
    near = [lambda w, h: (r + gap, cy - h / 2), lambda w, h: (l - gap - w, cy - h / 2),
            lambda w, h: (cx - w / 2, t - gap - h), lambda w, h: (cx - w / 2, b + gap),
            lambda w, h: (r + gap, t - gap - h), lambda w, h: (r + gap, b + gap),
            lambda w, h: (l - gap - w, t - gap - h), lambda w, h: (l - gap - w, b + gap)]  # fmt: skip
    # crowded (ships side by side in the whole-map view): stack further out, right then left
    far = [lambda w, h, k=k, sx=sx: ((r + gap) if sx > 0 else (l - gap - w), cy - h / 2 + k * (h + 1))
           for k in (-2, 2, -3, 3, -4, 4, -5, 5) for sx in (1, -1)]  # fmt: skip
    return near + far


class _LabelPlacer:
    """Greedy label placement on one frame: each label takes the first candidate position whose
    rectangle (shifted into the frame) overlaps no reserved or placed rectangle; ``force=True``
    takes the least-overlapping candidate instead of giving up."""

    def __init__(self, pg, W: int, H: int, margin: int = 2):
        self._pg, self.W, self.H, self.m = pg, W, H, margin
        self.rects: list = []

    def reserve(self, rect) -> None:
        if rect is not None:
            self.rects.append(self._pg.Rect(rect))

    def place(self, size, candidates, force: bool):
        w, h = size
        m = self.m
        best, best_n = None, None
        for cand in candidates:
            x, y = cand(w, h)
            x = min(max(int(round(x)), m), self.W - w - m)
            y = min(max(int(round(y)), m), self.H - h - m)
            r = self._pg.Rect(x, y, w, h)
            n = len(r.collidelistall(self.rects))
            if n == 0:
                best = r
                break
            if force and (best is None or n < best_n):
                best, best_n = r, n
        if best is not None:
            self.rects.append(best)
        return best


def _ring_area(coords) -> float:
    c = np.asarray(coords, dtype=np.float64)
    if len(c) < 3:
        return 0.0
    x, y = c[:, 0], c[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _fmt_tick(lo: float, hi: float, v: float) -> str:
    """A colour-bar end value with as many decimals as the range needs (minus sign kept)."""
    span = abs(hi - lo)
    d = 0 if span >= 10 else 1 if span >= 1 else 2
    return f"{v:.{d}f}"


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            return str(f)
        a = abs(f)
        if a >= 1e5 or (0 < a < 1e-3):
            return f"{f:.3g}"
        return f"{f:.1f}" if a >= 100 else f"{f:.3f}" if a < 1 else f"{f:.2f}"
    return str(v)


def _benchmark(map_name: str = "duisburg_ruhrort", n: int = 200) -> dict:
    """Median ms per 800x600 rgb_array frame for both cameras on a synthetic scene."""
    from harbour_maps import load_map

    m = load_map(map_name)
    r = Renderer(m, "rgb_array", 800, 600)
    out = {"background_s": r.timings["background_s"]}
    w = np.flatnonzero(m.rasters.water.ravel())
    xy = m.rasters.water_xy()[len(w) // 2]
    ang = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    for cam in CAMERAS:
        r.set_camera(cam)
        ts = []
        for i in range(n):
            ego = VesselSprite(xy[0] + i, xy[1], 0.3, 110.0, 11.4, "ego", "ego")
            tr = [VesselSprite(xy[0] + 100 * j, xy[1] + 80, 1.0, 85, 9.5, f"T{j}") for j in range(3)]
            sc = RenderScene(i * 0.1, ego, tr, (ego.x, ego.y), ang, np.full(36, 200.0), (xy[0] + 300, xy[1]),
                             0.0, 40.0, np.array([xy, xy + 300]), {f"k{j}": j * 1.5 for j in range(8)})
            t0 = time.perf_counter()
            r.render(sc)
            ts.append(time.perf_counter() - t0)
        out[cam + "_ms"] = 1e3 * float(np.median(ts))
    r.close()
    return out


def draw_arrow(pg, surf, colour, a, b, width: int, head: tuple[float, float] = (8.0, 4.0)) -> None:
    """A line from ``a`` to ``b`` (pixels) with an arrow head ``head`` = (length, half width) at ``b``;
    shared by the env's renderer and the replay viewer."""
    pg.draw.line(surf, colour, a, b, width)
    d = np.asarray(b, float) - np.asarray(a, float)
    L = float(np.hypot(*d))
    if L < 1e-9:
        return
    u = d / L
    n = np.array([-u[1], u[0]])
    b = np.asarray(b, float)
    hl, hw = head
    pg.draw.polygon(surf, colour, [b, b - hl * u + hw * n, b - hl * u - hw * n])


def fill_water(pg, surf, view, polys) -> None:
    """Water polygons (already sorted, bigger first) filled in the ``view``, their holes as land: islands
    in lakes come out right; shared by the env's renderer and the replay viewer's map tiles."""
    for p in polys:
        ext = view.px(np.asarray(p.exterior.coords))
        if len(ext) >= 3:
            pg.draw.polygon(surf, WATER_COLOUR, ext)
        for ring in p.interiors:
            r = view.px(np.asarray(ring.coords))
            if len(r) >= 3:
                pg.draw.polygon(surf, LAND_COLOUR, r)


def draw_bridges_and_berths(pg, surf, view, m, bridge_width: int, berth_width: int) -> None:
    """Bridge piers and decks, and berths as quay lines, of map ``m`` in the ``view``; shared by the env's
    renderer and the replay viewer's map tiles (each chooses its line widths)."""
    for b in m.bridges:
        for p in b.piers:
            for q in _polys(p):
                pts = view.px(np.asarray(q.exterior.coords))
                if len(pts) >= 3:
                    pg.draw.polygon(surf, PIER_COLOUR, pts)
        xy = view.px(b.xy)
        if len(xy) >= 2:
            pg.draw.lines(surf, BRIDGE_COLOUR, False, xy, bridge_width)
    for bt in m.berths:
        d = np.array([math.sin(bt.heading), math.cos(bt.heading)]) * 0.5 * bt.length_m
        pg.draw.line(surf, BERTH_COLOUR, view.px(bt.xy - d), view.px(bt.xy + d), berth_width)
