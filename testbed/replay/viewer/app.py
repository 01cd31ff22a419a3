"""The replay viewer: :class:`Viewer` (state, input, drawing; no window of its own) and the window loop.

A :class:`Viewer` is driven by ``handle_event(event)``, ``update(dt_wall)`` and ``draw(surface)``, so the
window loop (:func:`window_loop`), the headless exporter and the tests all run the same code.

Playback keys come from :class:`testbed.ui.controls.PlaybackControls` (Space, ``+``/``-``, ``.``/``,``,
``f``, ``h``, ``q``/Esc); the viewer adds its own (see :data:`VIEWER_KEYS` and :data:`LAYERS`).  Mouse:
wheel zooms about the cursor, dragging the map pans (and stops following), a click on a vessel selects it
(details panel; with follow on the camera follows it), a click on empty water clears the selection, a
click or drag on the timeline scrubs (snapping to an event marker within 5 px), a click on the minimap
centres the camera there.
"""

from __future__ import annotations

import math
import os

import numpy as np

from testbed.render import (
    EGO_COLOUR,
    GOAL_COLOUR,
    KM_COLOUR,
    ROUTE_COLOUR,
    TRAFFIC_COLOUR,
    WATER_COLOUR,
    _nice_length,
    colour_ramp,
)

from .draw import LabelPlacer, MapTiles, Text, hull_polygons
from .source import Frames, _as_event, vessel_infos

__all__ = ["Viewer", "LAYERS", "VIEWER_KEYS", "window_loop"]

# (layer, key, description, on by default)
LAYERS = (
    ("lanes", "1", "lanes and km markers", True),
    ("berths", "2", "berths and bridges", True),
    ("rays", "3", "range-sensor rays", True),
    ("ais", "4", "AIS picture (ghosts) vs truth", True),
    ("coverage", "5", "5G coverage + serving-cell link", False),
    ("route", "6", "route and goal", True),
    ("plots", "7", "reward components (live plots)", True),
    ("labels", "8", "vessel and map labels", True),
    ("wakes", "9", "wakes, heading and course vectors", True),
    ("minimap", "0", "whole-map minimap", True),
    ("legend", "l", "legend", True),
    ("hud", "g", "HUD gauges", True),
)
VIEWER_KEYS = (
    ("n / p", "next / previous event"),
    ("Left / Right", "back / forward 10 s"),
    ("Home / End", "start / end"),
    ("[ / ] or wheel", "zoom out / in"),
    ("e", "follow the ego (clears the selection)"),
    ("c", "whole map"),
    ("s", "save a screenshot (PNG in the current folder)"),
    ("drag", "pan (stops following)"),
    ("click vessel", "select: details panel"),
    ("click timeline", "scrub (snaps to events)"),
)

UI_BG = (18, 24, 34, 215)
UI_TEXT = (235, 238, 242)
UI_DIM = (150, 160, 175)
ACCENT = (255, 200, 60)
AIS_COLOUR = (120, 60, 200)
GHOST_COLOURS = ((0, 190, 210), (60, 200, 90), (230, 90, 200))
WAKE_COLOUR = (245, 250, 255)
VECTOR_COLOUR = (25, 35, 60)
SELECT_COLOUR = (255, 230, 0)
MAX_TRAFFIC_LABELS = 60  # the nearest to the centre; beyond that the window is full anyway
TOP_H = 30
TIMELINE_H = 52
MPS_TO_KN = 3600.0 / 1852.0


def _fmt_time(t: float) -> str:
    t = max(0.0, float(t))
    m, s = divmod(t, 60.0)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m:d}:{s:04.1f}"


class Viewer:
    """Replay viewer state and drawing (see the module docstring).

    ``readers``: one reader (the episode) or more of the same scenario and seed (the others are drawn as
    ghosts); ``hmap``: the loaded map; ``layers``: {name: bool} overrides of :data:`LAYERS`."""

    def __init__(self, readers, hmap, size=(1280, 800), *, layers: dict | None = None, speed: float = 1.0,
                 paused: bool = False, follow: bool = True):
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import pygame as pg

        from testbed.ui.controls import PlaybackControls

        if not readers:
            raise ValueError("the viewer needs at least one replay")
        self.pg = pg
        self.map = hmap
        self.W, self.H = int(size[0]), int(size[1])
        if self.W < 480 or self.H < 360:
            raise ValueError(f"viewer window {self.W}x{self.H} is too small (at least 480x360)")
        self.frames = [Frames(r) for r in readers]
        self.readers = list(readers)
        self.main = self.frames[0]
        self.header = dict(getattr(readers[0], "header", {}) or {})
        self._check_comparable()
        self.controls = PlaybackControls(speed=speed, follow=follow, paused=paused)
        known = {name for name, *_ in LAYERS}
        self.layers = {name: on for name, _, _, on in LAYERS}
        for k, v in (layers or {}).items():
            if k not in known:
                raise ValueError(f"unknown viewer layer {k!r} (layers: {', '.join(sorted(known))})")
            self.layers[k] = bool(v)
        self.text = Text(pg)
        self.ego_info, self.traffic_info = vessel_infos(self.header, self.main.n_traffic)
        self.ghost_infos = [vessel_infos(dict(getattr(r, "header", {}) or {}), f.n_traffic)[0]
                            for r, f in zip(self.readers[1:], self.frames[1:], strict=True)]
        self.t0 = float(min(f.times[0] for f in self.frames))
        self.t1 = float(max(f.times[-1] for f in self.frames))
        self.t = float(self.main.times[0])
        self.events = sorted((_as_event(e) for e in (getattr(readers[0], "events", []) or [])),
                             key=lambda e: (e.t, e.step))
        self.reward_names = list(getattr(readers[0], "reward_names", []) or self.header.get("reward_names", []))
        # world, zoom levels and camera
        xmin, ymin, xmax, ymax = hmap.bounds
        pad = 0.03 * max(xmax - xmin, ymax - ymin) + 30.0
        self.world = (xmin - pad, ymin - pad, xmax + pad, ymax + pad)
        wx0, wy0, wx1, wy1 = self.world
        self.s_fit = min(self.W / (wx1 - wx0), (self.H - TOP_H - TIMELINE_H) / (wy1 - wy0))
        self.min_level, self.max_level = 0, max(2, int(math.ceil(2 * math.log2(12.0 / self.s_fit))))
        self.level = min(self.max_level, max(self.min_level, int(round(2 * math.log2(1.2 / self.s_fit)))))
        self.cx, self.cy = 0.5 * (wx0 + wx1), 0.5 * (wy0 + wy1)
        self.tiles = MapTiles(pg, hmap, self.world)
        self.selected = None  # ("ego", 0) | ("traffic", j) | ("ghost", k)
        self._drag = None
        self._scrubbing = False
        self._hover = None  # mouse x over the timeline (tooltip)
        self.export_speed = None  # set by the video exporter: the top bar shows the video's speed
        self.screenshot_requested = False  # `s`: the window loop saves the next frame as a PNG
        self.flash = None  # (message, time) shown briefly under the top bar
        self._hit = None  # (kinds, idx, x, y, r) of the last frame's vessels on screen
        self.state = None
        self.ghost_states = []
        self._static_cache: dict = {}
        self._cov_status = ""
        self._revs_max = None
        self.cell_xy = np.array([s.xy for s in hmap.cell_sites for _ in s.sectors], dtype=np.float64).reshape(-1, 2)
        self.cell_ids = [f"{s.id}/{k}" for s in hmap.cell_sites for k in range(len(s.sectors))]
        self._rays = self._ray_setup()
        # the ego's AIS picture is recorded when it perceives the traffic through AIS
        targets = self._cfg("observation", "targets")
        self.ais_mode = self.main.has("ais/x") and (targets is None or targets == "ais")
        self._route, self._goal = self._route_goal()
        self.map_labels = self._map_label_list()
        self.stats = {"frames": 0, "labels_dropped": 0}
        if self.layers["coverage"]:
            self._ensure_coverage()
        self._refresh()
        if self.main.has_ego:
            self._centre_on_target()
        else:  # a raw AIS log: the whole harbour, a little closer than the whole map
            self.level = min(2, self.max_level)
            self.controls.follow = False

    # ------------------------------------------------------------------ setup helpers
    def _check_comparable(self) -> None:
        h0 = self.header
        for r in self.readers[1:]:
            h = dict(getattr(r, "header", {}) or {})
            for k in ("scenario", "seed", "map"):
                if k in h0 and k in h and h0[k] != h[k]:
                    raise ValueError(f"cannot compare replays of different {k}s: {h0[k]!r} vs {h[k]!r} "
                                     f"(comparison needs the same scenario, seed and map)")

    def _cfg(self, *path, default=None):
        d = self.header.get("config") or {}
        for p in path:
            if not isinstance(d, dict) or p not in d:
                return default
            d = d[p]
        return d

    def _ray_setup(self):
        if not self.main.has_ego:
            return None
        hr = self.header.get("rays")
        if isinstance(hr, dict) and hr.get("angles_rad") is not None:
            return np.asarray(hr["angles_rad"], dtype=np.float64), float(hr.get("range_m", 1000.0))
        from testbed import observation as ob
        from testbed.config import ObservationConfig

        oc = ObservationConfig()
        n = int(self._cfg("observation", "n_rays", default=oc.n_rays))
        fov = float(self._cfg("observation", "ray_fov_deg", default=oc.ray_fov_deg))
        rng = float(self._cfg("observation", "ray_range_m", default=oc.ray_range_m))
        return ob.ray_angles(n, fov), rng

    def _route_goal(self):
        route = self.header.get("route")
        r = None
        if route is not None:
            r = np.asarray(route, dtype=np.float64).reshape(-1, 2)
        g = self.header.get("goal")
        goal = None
        if isinstance(g, dict) and "x" in g:
            goal = (float(g["x"]), float(g["y"]), None if g.get("psi") is None else float(g["psi"]),
                    float(g.get("position_tol_m", g.get("radius", 30.0))))
        elif g is not None and len(g) >= 2:
            g = list(g)
            goal = (float(g[0]), float(g[1]), float(g[2]) if len(g) > 2 and g[2] is not None else None,
                    float(g[3]) if len(g) > 3 else 30.0)
        return r, goal

    def _map_label_list(self):
        from testbed.render import BERTH_COLOUR, BRIDGE_COLOUR

        m = self.map
        out = []  # (x, y, text, colour, layer, min px/m)
        for b in m.bridges:
            c = b.xy.mean(axis=0)
            out.append((c[0], c[1], f"{b.name} ({b.clearance_m:g} m)", BRIDGE_COLOUR, "berths", 0.0))
        for bt in m.berths:
            out.append((bt.xy[0], bt.xy[1], bt.name, BERTH_COLOUR, "berths", 0.25))
        for k in m.km_markers:
            out.append((k.xy[0], k.xy[1], f"km {k.km:g}", KM_COLOUR, "lanes", 0.0 if float(k.km).is_integer() else 0.3))
        return out

    def _ensure_coverage(self) -> None:
        if self.tiles.coverage is not None or self._cov_status:
            return
        lk = self.header.get("link")
        prof = (lk.get("profile") if isinstance(lk, dict) else None) or self._cfg("link", "profile")
        if isinstance(prof, dict):
            prof = prof.get("name")
        if not prof or prof == "ideal":
            self._cov_status = "no 5G coverage: ideal link (no radio)"
            return
        try:
            from testbed.link.coverage import coverage
            from testbed.link.profiles import load_profile

            cov = coverage(self.map, load_profile(str(prof)), seed=int(self._cfg("link", "radio_seed", default=0)),
                           resolution_m=float(self._cfg("link", "radio_resolution_m", default=20.0)))
        except (ValueError, OSError, KeyError) as e:
            self._cov_status = f"no 5G coverage: {e}"
            return
        self.tiles.set_coverage(cov.sinr_db, cov.overlay_extent)
        self._cov_status = f"5G coverage: {prof}, best-server SINR -10..30 dB"

    def _cell_index(self, cell):
        """Index into the map's cells of a recorded serving cell (index or id like "cell-03/0"); None."""
        if cell is None:
            return None
        if isinstance(cell, (str, np.str_, bytes)):
            c = cell.decode() if isinstance(cell, bytes) else str(cell)
            return self.cell_ids.index(c) if c in self.cell_ids else None
        if not np.isfinite(cell) or int(cell) < 0:
            return None
        c = int(cell)
        lk = self.header.get("link")
        cells = lk.get("cells") if isinstance(lk, dict) else None
        if cells:  # the recorded index is into the header's cell list
            return self._cell_index(str(cells[c])) if c < len(cells) else None
        return c if c < len(self.cell_ids) else None

    def resize(self, w: int, h: int) -> None:
        """The window changed size: lay out again for (w, h) (zoom and camera centre stay)."""
        self.W, self.H = max(480, int(w)), max(360, int(h))
        for name in ("_plots_rect", "_panel_rect", "_legend_rect"):
            setattr(self, name, None)

    # ------------------------------------------------------------------ camera
    @property
    def scale(self) -> float:
        """Pixels per metre at the current zoom level."""
        return self.s_fit * 2.0 ** (self.level / 2.0)

    def view_origin(self) -> tuple[float, float]:
        """World (x, y) of the map area's top-left pixel (the map area starts below the top bar)."""
        s = self.scale
        ox, oy = self.tiles.origin_px(self.cx - 0.5 * self.W / s, self.cy + 0.5 * self.H / s, s)
        # snap the camera to whole pixels of the tile grid so tiles and vessels agree exactly
        x0 = self.world[0] - ox / s
        y1 = self.world[3] + oy / s
        return x0, y1

    def to_screen(self, x, y):
        x0, y1 = self.view_origin()
        s = self.scale
        return (np.asarray(x) - x0) * s, (y1 - np.asarray(y)) * s

    def to_world(self, px: float, py: float) -> tuple[float, float]:
        x0, y1 = self.view_origin()
        return x0 + px / self.scale, y1 - py / self.scale

    def zoom(self, steps: int, about=None) -> None:
        new = int(np.clip(self.level + steps, self.min_level, self.max_level))
        if new == self.level:
            return
        if about is not None and not self._following():
            wx, wy = self.to_world(*about)
            self.level = new
            nx, ny = self.to_world(*about)
            self.cx += wx - nx
            self.cy += wy - ny
        else:
            self.level = new

    def fit_map(self) -> None:
        self.level = 0
        self.cx, self.cy = 0.5 * (self.world[0] + self.world[2]), 0.5 * (self.world[1] + self.world[3])
        self.controls.follow = False

    def _following(self) -> bool:
        return bool(self.controls.follow) and self._target_xy() is not None

    def _target_xy(self):
        st = self.state
        if st is None:
            return None
        sel = self.selected
        if sel is not None:
            kind, j = sel
            if kind == "traffic" and j < len(st.tx) and np.isfinite(st.tx[j]):
                return float(st.tx[j]), float(st.ty[j])
            if kind == "ghost" and j < len(self.ghost_states) and self.ghost_states[j].ego is not None:
                e = self.ghost_states[j].ego
                return e["x"], e["y"]
        if st.ego is not None:
            return st.ego["x"], st.ego["y"]
        return None

    def _centre_on_target(self) -> None:
        xy = self._target_xy()
        if xy is not None:
            self.cx, self.cy = xy

    # ------------------------------------------------------------------ time
    @property
    def position(self) -> float:
        return self.main.position(self.t)

    @property
    def frame_index(self) -> int:
        """The recorded step shown (at or before the playhead)."""
        return self.main.step_at_time(self.t)

    def seek(self, t: float) -> None:
        self.t = float(np.clip(t, self.t0, self.t1))
        self._refresh()

    def step(self, n: int) -> None:
        i = int(np.clip(self.frame_index + n, 0, self.main.n - 1))
        self.seek(float(self.main.times[i]))

    def next_event(self) -> bool:
        for e in self.events:
            if e.t > self.t + 1e-6:
                self.seek(e.t)
                return True
        return False

    def prev_event(self) -> bool:
        for e in reversed(self.events):
            if e.t < self.t - 1e-6:
                self.seek(e.t)
                return True
        return False

    def update(self, dt_wall: float) -> None:
        """Advance the playhead by ``dt_wall`` seconds of wall time x speed (unless paused), apply
        frame steps, move the follow camera."""
        c = self.controls
        if c.step_frames:
            self.step(c.step_frames)
            c.step_frames = 0
        if not c.paused and dt_wall > 0:
            self.t += dt_wall * c.speed
            if self.t >= self.t1:
                self.t = self.t1
                c.paused = True
        self._refresh()

    def _refresh(self) -> None:
        self.state = self.main.frame(self.main.position(self.t))
        self.ghost_states = [f.frame(f.position(self.t)) for f in self.frames[1:]]
        if self._following() and self._drag is None:
            self._centre_on_target()

    # ------------------------------------------------------------------ input
    def _timeline_rect(self):
        return self.pg.Rect(12, self.H - TIMELINE_H + 18, self.W - 24, 14)

    def _minimap_rect(self):
        if not self.layers["minimap"]:
            return None
        wx0, wy0, wx1, wy1 = self.world
        mw = 200
        mh = int(mw * (wy1 - wy0) / (wx1 - wx0))
        if mh > 260:
            mh, mw = 260, int(260 * (wx1 - wx0) / (wy1 - wy0))
        return self.pg.Rect(self.W - mw - 10, TOP_H + 8, mw, mh)

    def _t_of_x(self, px: float) -> float:
        r = self._timeline_rect()
        u = float(np.clip((px - r.x) / max(1, r.w), 0.0, 1.0))
        t = self.t0 + u * (self.t1 - self.t0)
        for e in self.events:  # snap to an event marker within 5 px
            ex = r.x + (e.t - self.t0) / max(self.t1 - self.t0, 1e-9) * r.w
            if abs(ex - px) <= 5:
                return e.t
        return t

    def x_of_t(self, t: float) -> float:
        """Screen x of time ``t`` on the timeline (for tests and tools)."""
        r = self._timeline_rect()
        return r.x + (t - self.t0) / max(self.t1 - self.t0, 1e-9) * r.w

    def handle_event(self, ev) -> bool:
        """Apply one pygame event; True if it changed something."""
        pg = self.pg
        c = self.controls
        if c.handle_event(ev):
            return True
        if ev.type == pg.KEYDOWN:
            ch = getattr(ev, "unicode", "") or ""
            for name, key, _, _ in LAYERS:
                if ch == key or (len(key) == 1 and ev.key == ord(key)):
                    self.layers[name] = not self.layers[name]
                    if name == "coverage" and self.layers[name]:
                        self._ensure_coverage()
                    return True
            k = ev.key
            if k in (pg.K_n, pg.K_PAGEDOWN):
                return self.next_event()
            if k in (pg.K_p, pg.K_PAGEUP):
                return self.prev_event()
            if k == pg.K_RIGHT:
                self.seek(self.t + 10.0)
            elif k == pg.K_LEFT:
                self.seek(self.t - 10.0)
            elif k == pg.K_HOME:
                self.seek(self.t0)
            elif k == pg.K_END:
                self.seek(self.t1)
            elif ch == "]" or k == pg.K_RIGHTBRACKET:
                self.zoom(+1)
            elif ch == "[" or k == pg.K_LEFTBRACKET:
                self.zoom(-1)
            elif k == pg.K_e:
                self.selected = None
                c.follow = True
                self._centre_on_target()
            elif k == pg.K_c:
                self.fit_map()
            elif k == pg.K_s:
                self.screenshot_requested = True
            else:
                return False
            return True
        if ev.type == pg.MOUSEWHEEL:
            self.zoom(1 if ev.y > 0 else -1, about=pg.mouse.get_pos())
            return True
        if ev.type == pg.MOUSEBUTTONDOWN and ev.button in (1, 3):
            x, y = ev.pos
            if self._timeline_rect().inflate(0, 24).collidepoint(x, y):
                self._scrubbing = True
                self.seek(self._t_of_x(x))
                return True
            mm = self._minimap_rect()
            if mm is not None and mm.collidepoint(x, y):
                wx0, wy0, wx1, wy1 = self.world
                self.cx = wx0 + (x - mm.x) / mm.w * (wx1 - wx0)
                self.cy = wy1 - (y - mm.y) / mm.h * (wy1 - wy0)
                c.follow = False
                return True
            self._drag = (x, y, self.cx, self.cy, False)
            return True
        if ev.type == pg.MOUSEMOTION:
            over = self._timeline_rect().inflate(0, 24).collidepoint(*ev.pos)
            self._hover = ev.pos[0] if over else None
            if self._scrubbing:
                self.seek(self._t_of_x(ev.pos[0]))
                return True
            if self._drag is not None:
                x0, y0, cx, cy, moved = self._drag
                dx, dy = ev.pos[0] - x0, ev.pos[1] - y0
                if moved or abs(dx) + abs(dy) > 4:
                    self.cx, self.cy = cx - dx / self.scale, cy + dy / self.scale
                    self._drag = (x0, y0, cx, cy, True)
                    c.follow = False
                return True
            return False
        if ev.type == pg.MOUSEBUTTONUP and ev.button in (1, 3):
            if self._scrubbing:
                self._scrubbing = False
                return True
            if self._drag is not None:
                moved = self._drag[4]
                self._drag = None
                if not moved:
                    self.select_at(*ev.pos)
                return True
        return False

    def vessel_at(self, px: float, py: float):
        """The vessel drawn under screen point (px, py) in the last frame: ("ego", 0), ("traffic", j),
        ("ghost", k) or None."""
        if self._hit is None:
            return None
        kinds, idx, x, y, r = self._hit
        if not len(x):
            return None
        d = np.hypot(x - px, y - py) - r
        k = int(np.argmin(d))
        if d[k] > 6.0:
            return None
        return (kinds[k], int(idx[k]))

    def select_at(self, px: float, py: float):
        self.selected = self.vessel_at(px, py)
        if self.selected is not None and self.controls.follow:
            self._centre_on_target()
        return self.selected

    # ------------------------------------------------------------------ drawing
    def draw(self, surf) -> None:
        """Draw the current frame onto ``surf`` (W x H)."""
        pg = self.pg
        st = self.state
        s = self.scale
        x0, y1 = self.view_origin()
        flags = frozenset(k for k in ("lanes", "berths", "coverage") if self.layers[k])
        if "coverage" in flags and self.tiles.coverage is None:
            flags = flags - {"coverage"}
        self.tiles.blit(surf, x0, y1, s, self.level, flags)
        blocked = self._ui_rects()
        placer = LabelPlacer(pg, blocked)
        if self.layers["route"]:
            self._draw_route(surf)
        if self.layers["coverage"]:
            self._draw_link(surf, st)
        if self.layers["rays"] and st.ego is not None and self._rays is not None:
            self._draw_rays(surf, st)
        self._draw_vessels(surf, st, placer)
        if self.layers["labels"]:
            self._draw_map_labels(surf, placer)
        self._draw_events_on_map(surf)
        self.stats["labels_dropped"] = placer.dropped
        self._draw_scale_bar(surf)
        self._draw_north(surf)
        self._draw_top_bar(surf)
        if self.layers["minimap"]:
            self._draw_minimap(surf, st)
        if self.selected is not None:
            self._draw_panel(surf, st)
        if self.layers["legend"]:
            self._draw_legend(surf)
        if self.layers["hud"]:
            self._draw_hud(surf, st)
        if self.layers["plots"]:
            self._draw_plots(surf)
        self._draw_timeline(surf)
        if self.flash is not None:
            msg, _ = self.flash
            t = self.text.halo(msg, (0, 90, 0), "m")
            surf.blit(t, (self.W // 2 - t.get_width() // 2, TOP_H + 6))
            self._flash_frames = getattr(self, "_flash_frames", 0) + 1
            if self._flash_frames > 120:
                self.flash, self._flash_frames = None, 0
        if self.controls.show_help:
            self._draw_help(surf)
        self.stats["frames"] += 1

    def _ui_rects(self):
        pg = self.pg
        rects = [pg.Rect(0, 0, self.W, TOP_H), pg.Rect(0, self.H - TIMELINE_H, self.W, TIMELINE_H)]
        mm = self._minimap_rect()
        if mm is not None:
            rects.append(mm.inflate(8, 8))
        if self.layers["legend"]:
            rows = self._legend_rows()
            w = max(212, 56 + max(self.text.surf(r[2], (0, 0, 0), "s").get_width() for r in rows))
            rects.append(pg.Rect(10, TOP_H + 8, w, 12 + 18 * len(rows)).inflate(6, 6))
        if self.layers["hud"]:
            rects.append(pg.Rect(10, self.H - TIMELINE_H - 108, 470, 100))
            rects.append(pg.Rect(8, self.H - TIMELINE_H - 160, 260, 40))  # scale bar
        else:
            rects.append(pg.Rect(8, self.H - TIMELINE_H - 40, 260, 40))
        if self.layers["plots"] and self.main.has("reward"):
            x = 490 if self.layers["hud"] else 10
            rects.append(pg.Rect(x, self.H - TIMELINE_H - 108, self.W - 10 - x, 100).inflate(6, 6))
        if self.selected is not None and self.state is not None:
            _, rows = self._panel_rows(self.state)
            mm = self._minimap_rect()
            y = (mm.bottom + 12) if mm is not None else TOP_H + 8
            rects.append(pg.Rect(self.W - 260, y, 250, 34 + 19 * len(rows)).inflate(6, 6))
        return rects

    def _panel(self, surf, rect, alpha_bg=UI_BG):
        pg = self.pg
        key = ("panel", rect.w, rect.h, alpha_bg)
        p = self._static_cache.get(key)
        if p is None:
            p = pg.Surface((rect.w, rect.h), pg.SRCALPHA, 32)
            pg.draw.rect(p, alpha_bg, p.get_rect(), border_radius=8)
            self._static_cache[key] = p
        surf.blit(p, rect.topleft)

    def _draw_route(self, surf) -> None:
        pg = self.pg
        if self._route is not None and len(self._route) >= 2:
            px, py = self.to_screen(self._route[:, 0], self._route[:, 1])
            pts = np.column_stack([px, py])
            pg.draw.lines(surf, ROUTE_COLOUR, False, pts, 3)
        if self._goal is not None:
            gx, gy, gpsi, rad = self._goal
            px, py = self.to_screen(gx, gy)
            rr = max(6, int(rad * self.scale))
            if abs(px) < 1e5 and abs(py) < 1e5:
                pg.draw.circle(surf, GOAL_COLOUR, (px, py), rr, 3)
                pg.draw.circle(surf, GOAL_COLOUR, (px, py), 4)
                if gpsi is not None:
                    u = np.array([math.sin(gpsi), -math.cos(gpsi)])
                    self._arrow(surf, GOAL_COLOUR, (px, py), np.array([px, py]) + u * max(rr, 18), 3)
                t = self.text.halo("goal", GOAL_COLOUR, "s")
                surf.blit(t, (px + rr + 4, py - t.get_height() // 2))

    def _draw_link(self, surf, st) -> None:
        pg = self.pg
        if not len(self.cell_xy):
            return
        cx, cy = self.to_screen(self.cell_xy[:, 0], self.cell_xy[:, 1])
        for x, y in zip(cx, cy, strict=True):
            pg.draw.polygon(surf, (230, 40, 140), [(x, y - 9), (x - 6, y + 5), (x + 6, y + 5)])
            pg.draw.polygon(surf, (40, 10, 30), [(x, y - 9), (x - 6, y + 5), (x + 6, y + 5)], 1)
        c = self._cell_index(st.link.get("cell"))
        if st.ego is not None and c is not None:
            ex, ey = self.to_screen(st.ego["x"], st.ego["y"])
            sinr = float(st.link.get("sinr", np.nan))
            col = tuple(int(v) for v in colour_ramp(np.array([sinr if np.isfinite(sinr) else -10.0]), "rdylgn",
                                                     -5.0, 25.0)[0])
            _dashed(pg, surf, col, (cx[c], cy[c]), (ex, ey), 3, 10, 6)
            t = self.text.halo(f"{self.cell_ids[c]}  {sinr:.0f} dB", (60, 10, 40), "s")
            surf.blit(t, (0.5 * (cx[c] + ex) + 6, 0.5 * (cy[c] + ey)))

    def _draw_rays(self, surf, st) -> None:
        pg = self.pg
        angles, rng = self._rays
        e = st.ego
        if st.rays is not None and len(st.rays) == len(angles):
            ln = np.clip(st.rays, 0.0, 1.0) * rng  # as the agent saw them
        else:
            xy = np.array([[e["x"], e["y"]]])
            ln = self.map.cast_rays(xy, np.array([e["psi"]]), angles, max_range=rng)[0]
        ex, ey = self.to_screen(e["x"], e["y"])
        a = angles + e["psi"]
        s = self.scale
        endx = ex + np.sin(a) * ln * s
        endy = ey - np.cos(a) * ln * s
        cols = colour_ramp(ln, "rdylgn", 0.0, rng)
        for x, y, c in zip(endx, endy, cols, strict=True):
            pg.draw.aaline(surf, c, (ex, ey), (x, y))
            pg.draw.circle(surf, c, (x, y), 2)

    def _hull_sizes(self, length, beam):
        s = self.scale
        lp = np.maximum(np.asarray(length, float) * s, 12.0)
        bp = np.clip(np.asarray(beam, float) * s, 4.0, None)
        bp = np.minimum(bp, lp / 3.0)
        return lp, bp

    def _draw_vessels(self, surf, st, placer) -> None:
        pg = self.pg
        s = self.scale
        W, H = self.W, self.H
        kinds, idxs, hx, hy, hr = [], [], [], [], []
        hpsi, hb = [], []  # heading and half beam [px] of each drawn hull (label placement)
        i = st.i
        dt = float(self.main.times[1] - self.main.times[0]) if self.main.n > 1 else 1.0
        n_back = int(min(max(45.0 / max(dt, 1e-3), 2), 400))
        stride = max(1, n_back // 15)
        # -- traffic (truth)
        T = len(st.tx)
        vis = np.zeros(T, dtype=bool)
        if T:
            px, py = self.to_screen(st.tx, st.ty)
            fin = np.isfinite(px) & np.isfinite(py)
            vis = fin & (px > -150) & (px < W + 150) & (py > -150) & (py < H + 150)
            info = self.traffic_info
            L = np.array([v.length for v in info])
            B = np.array([v.beam for v in info])
            lp, bp = self._hull_sizes(L, B)
            small = bool(np.median(lp) < 40.0)
            # AIS picture: ghosts where the ego believes the vessels are, with a line to the truth
            if self.layers["ais"] and st.ais_x is not None:
                ax, ay = self.to_screen(st.ais_x, st.ais_y)
                ok = vis & np.isfinite(ax) & np.isfinite(ay)
                if ok.any():
                    gh = hull_polygons(ax[ok], ay[ok], st.tpsi[ok], lp[ok], bp[ok], small).tolist()
                    far = (np.hypot(ax[ok] - px[ok], ay[ok] - py[ok]) > 3).tolist()
                    ends = np.column_stack([ax[ok], ay[ok], px[ok], py[ok]]).tolist()
                    aalines, line = pg.draw.aalines, pg.draw.line
                    for poly, f, (a0, a1, b0, b1) in zip(gh, far, ends, strict=True):
                        aalines(surf, AIS_COLOUR, True, poly)
                        if f:  # believed -> true position
                            line(surf, AIS_COLOUR, (a0, a1), (b0, b1), 1)
            if self.layers["wakes"]:
                self._draw_wakes(surf, "traffic", i, n_back, stride, vis, st.tx, st.ty)
                self._draw_vectors(surf, px[vis], py[vis], st.tsog[vis], st.tcog[vis], st.tpsi[vis], lp[vis])
            polys = hull_polygons(px[vis], py[vis], st.tpsi[vis], lp[vis], bp[vis], small).tolist()
            polygon, aalines = pg.draw.polygon, pg.draw.aalines
            for poly in polys:
                polygon(surf, TRAFFIC_COLOUR, poly)
                aalines(surf, (60, 40, 0), True, poly)
            j = np.flatnonzero(vis)
            kinds += ["traffic"] * len(j)
            idxs += j.tolist()
            hx += px[vis].tolist()
            hy += py[vis].tolist()
            hr += (0.5 * lp[vis]).tolist()
            hpsi += st.tpsi[vis].tolist()
            hb += (0.5 * bp[vis]).tolist()
        # -- comparison ghosts (other replays' egos); their outlines are drawn again over the ego
        ghost_outlines = []
        for k, gs in enumerate(self.ghost_states):
            if gs.ego is None:
                continue
            e = gs.ego
            col = GHOST_COLOURS[k % len(GHOST_COLOURS)]
            gx, gy = self.to_screen(e["x"], e["y"])
            gi = self.ghost_infos[k]
            lp1, bp1 = self._hull_sizes([gi.length if gi else 110.0], [gi.beam if gi else 11.4])
            if self.layers["wakes"]:
                f = self.frames[k + 1]
                wx = f.history("ego/x", gs.i, n_back, stride)
                wy = f.history("ego/y", gs.i, n_back, stride)
                qx, qy = self.to_screen(np.r_[wx, e["x"]], np.r_[wy, e["y"]])
                if len(qx) >= 2:
                    pg.draw.lines(surf, col, False, np.column_stack([qx, qy]), 2)
            poly = hull_polygons(np.array([gx]), np.array([gy]), np.array([e["psi"]]), lp1, bp1)[0]
            pg.draw.polygon(surf, _mix(col, WATER_COLOUR, 0.45), poly)
            pg.draw.aalines(surf, col, True, poly)
            pg.draw.lines(surf, col, True, poly, 2)
            ghost_outlines.append((col, poly))
            kinds.append("ghost")
            idxs.append(k)
            hx.append(gx)
            hy.append(gy)
            hr.append(0.5 * float(lp1[0]))
            hpsi.append(e["psi"])
            hb.append(0.5 * float(bp1[0]))
        # -- ego
        if st.ego is not None:
            e = st.ego
            ex, ey = self.to_screen(e["x"], e["y"])
            ei = self.ego_info
            lp1, bp1 = self._hull_sizes([ei.length if ei else 110.0], [ei.beam if ei else 11.4])
            if self.layers["wakes"]:
                wx = self.main.history("ego/x", i, n_back, stride)
                wy = self.main.history("ego/y", i, n_back, stride)
                qx, qy = self.to_screen(np.r_[wx, e["x"]], np.r_[wy, e["y"]])
                if len(qx) >= 2:
                    pts = np.column_stack([qx, qy])
                    pg.draw.lines(surf, WAKE_COLOUR, False, pts, 3)
                self._draw_vectors(surf, np.array([ex]), np.array([ey]), np.array([e["sog"]]),
                                   np.array([e["cog"]]), np.array([e["psi"]]), lp1, colour=(140, 0, 0))
            poly = hull_polygons(np.array([ex]), np.array([ey]), np.array([e["psi"]]), lp1, bp1)[0]
            pg.draw.polygon(surf, EGO_COLOUR, poly)
            pg.draw.aalines(surf, (90, 0, 0), True, poly)
            # bridge (wheelhouse) mark at the stern: reads as a ship, shows which end is which
            fx, fy = math.sin(e["psi"]), -math.cos(e["psi"])
            pg.draw.circle(surf, (255, 190, 190), (ex - fx * 0.36 * lp1[0], ey - fy * 0.36 * lp1[0]),
                           max(2, int(bp1[0] * 0.22)))
            for col, poly in ghost_outlines:
                pg.draw.lines(surf, col, True, poly, 2)
            kinds.append("ego")
            idxs.append(0)
            hx.append(ex)
            hy.append(ey)
            hr.append(0.5 * float(lp1[0]))
            hpsi.append(e["psi"])
            hb.append(0.5 * float(bp1[0]))
        self._hit = (np.array(kinds, dtype=object), np.array(idxs, dtype=np.int64), np.array(hx, float),
                     np.array(hy, float), np.array(hr, float))
        # -- selection ring
        if self.selected is not None:
            xy = self._selected_xy(st)
            if xy is not None:
                sx, sy = self.to_screen(*xy)
                rr = 14
                kind, j = self.selected
                if kind == "traffic" and j < T:
                    rr = int(0.5 * lp[j]) + 8
                pg.draw.circle(surf, SELECT_COLOUR, (sx, sy), rr, 2)
                pg.draw.circle(surf, (40, 30, 0), (sx, sy), rr + 2, 1)
        # -- labels: ego, selection, ghosts first, then traffic nearest to the screen centre
        if self.layers["labels"]:
            placer.block_hulls(np.asarray(hx), np.asarray(hy), np.asarray(hpsi), np.asarray(hr), np.asarray(hb))
            order = []  # (index into the hull lists, text, colour, size)
            if st.ego is not None:
                name = self.ego_info.name if self.ego_info else "ego"
                ag = f" [{self.ego_info.agent}]" if self.ego_info and self.ego_info.agent else ""
                order.append((len(hx) - 1, f"{name}{ag}", (150, 0, 0), "m"))
            for k, gs in enumerate(self.ghost_states):
                if gs.ego is not None and "ghost" in kinds:
                    n = kinds.index("ghost") + k
                    gi = self.ghost_infos[k]
                    lab = f"{'BCDE'[k % 4]}: {gi.agent or gi.name}" if gi else f"{'BCDE'[k % 4]}"
                    order.append((n, lab, _mix(GHOST_COLOURS[k % 3], (0, 0, 0), 0.4), "m"))
            if T:
                j = np.flatnonzero(vis)
                d = np.hypot(px[j] - W / 2, py[j] - H / 2)
                if self.selected is not None and self.selected[0] == "traffic":
                    d = np.where(j == self.selected[1], -1.0, d)
                rank = np.empty(len(j), dtype=np.int64)  # position of each visible vessel in the hull lists
                rank[:] = np.arange(len(j))
                for q in np.argsort(d, kind="stable")[:MAX_TRAFFIC_LABELS]:
                    jj = j[q]
                    sog = st.tsog[jj]
                    extra = f"  {sog * MPS_TO_KN:.1f} kn" if np.isfinite(sog) and s > 0.25 else ""
                    order.append((int(rank[q]), self.traffic_info[jj].name + extra, (40, 40, 40), "s"))
            for n, text, col, size in order:
                t = self.text.halo(text, col, size)
                pos = placer.place_hull(t.get_width(), t.get_height(), hx[n], hy[n], hpsi[n], hr[n], hb[n])
                if pos is not None:
                    surf.blit(t, pos)

    def _vessel_name(self, v: str) -> str:
        """An event's vessel (a traffic slot number in replays) as a name."""
        if v.isdigit() and int(v) < len(self.traffic_info):
            return self.traffic_info[int(v)].name
        return v

    def save_screenshot(self, surf, path=None) -> str:
        """Write what the window shows as a PNG (atomic); default name ``replay_<scenario>_<t>.png``."""
        from testbed.render import save_png

        if path is None:
            name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(self.header.get("scenario", "replay")))
            path = f"replay_{name}_{self.t - self.t0:07.1f}s.png"
        rgb = np.ascontiguousarray(np.transpose(self.pg.surfarray.array3d(surf), (1, 0, 2)))
        save_png(rgb, path)
        self.flash = (f"saved {path}", self.t)
        return str(path)

    def _selected_xy(self, st):
        kind, j = self.selected
        if kind == "ego" and st.ego is not None:
            return st.ego["x"], st.ego["y"]
        if kind == "traffic" and j < len(st.tx) and np.isfinite(st.tx[j]):
            return st.tx[j], st.ty[j]
        if kind == "ghost" and j < len(self.ghost_states) and self.ghost_states[j].ego is not None:
            e = self.ghost_states[j].ego
            return e["x"], e["y"]
        return None

    def _draw_wakes(self, surf, prefix, i, n_back, stride, vis, x_now, y_now) -> None:
        pg = self.pg
        if not vis.any():
            return
        hxw, hyw = self.main.traffic_history(i, n_back, stride)
        hxw, hyw = hxw[:, vis], hyw[:, vis]
        qx, qy = self.to_screen(np.vstack([hxw, x_now[vis][None]]), np.vstack([hyw, y_now[vis][None]]))
        pts = np.stack([qx.T, qy.T], axis=-1)  # (V, k, 2)
        ok = np.isfinite(pts[..., 0])
        full = ok.all(axis=1)
        lines = pg.draw.lines
        for v in pts[full].tolist():
            lines(surf, WAKE_COLOUR, False, v, 2)
        for k in np.flatnonzero(~full & (ok.sum(axis=1) >= 2)):
            lines(surf, WAKE_COLOUR, False, pts[k][ok[k]].tolist(), 2)

    def _draw_vectors(self, surf, px, py, sog, cog, psi, lp, colour=VECTOR_COLOUR) -> None:
        """Course-over-ground vector (1 minute at the speed over ground) and heading line (from the bow)."""
        pg = self.pg
        s = self.scale
        ok = np.isfinite(sog) & np.isfinite(cog) & (sog > 0.2)
        L = sog * 60.0 * s
        ex, ey = px + np.sin(cog) * L, py - np.cos(cog) * L
        hx0, hy0 = px + np.sin(psi) * lp * 0.5, py - np.cos(psi) * lp * 0.5
        hx1, hy1 = px + np.sin(psi) * lp * 1.1, py - np.cos(psi) * lp * 1.1
        line = pg.draw.line
        for a, b, c, d in np.column_stack([hx0, hy0, hx1, hy1]).tolist():  # heading line ahead of the bow
            line(surf, (20, 20, 20), (a, b), (c, d), 1)
        sel = ok & (L > 6)
        for a, b, c, d in np.column_stack([px[sel], py[sel], ex[sel], ey[sel]]).tolist():
            line(surf, colour, (a, b), (c, d), 2)

    def _draw_map_labels(self, surf, placer) -> None:
        s = self.scale
        for x, y, text, col, layer, min_s in self.map_labels:
            if not self.layers[layer] or s < min_s:
                continue
            px, py = self.to_screen(x, y)
            if not (-50 < px < self.W + 50 and -20 < py < self.H + 20):
                continue
            t = self.text.halo(text, col, "s")
            pos = placer.place(t.get_width(), t.get_height(), px, py, gap=5)
            if pos is not None:
                surf.blit(t, pos)

    def _draw_events_on_map(self, surf) -> None:
        """Events of the last 20 s (and the next 2 s) as pulsing rings where they happened."""
        pg = self.pg
        for e in self.events:
            if not (e.t - 2.0 <= self.t <= e.t + 8.0) or not np.isfinite(e.x):
                continue
            px, py = self.to_screen(e.x, e.y)
            age = max(0.0, self.t - e.t)
            r = int(14 + 4 * age)
            pg.draw.circle(surf, e.colour, (px, py), r, 2)
            t = self.text.halo(e.kind.replace("_", " "), e.colour, "m", halo=(20, 20, 20))
            surf.blit(t, (px - t.get_width() // 2, py - r - t.get_height() - 2))

    def _draw_scale_bar(self, surf) -> None:
        pg = self.pg
        s = self.scale
        L = _nice_length(160.0 / s)
        px = L * s
        x0 = 14
        y0 = self.H - TIMELINE_H - 14
        if self.layers["hud"]:
            y0 -= 112
        pg.draw.rect(surf, (255, 255, 255), (x0 - 6, y0 - 20, px + 12 + 40, 28), border_radius=4)
        half = px / 2
        pg.draw.rect(surf, (20, 20, 20), (x0, y0 - 2, half, 5))
        pg.draw.rect(surf, (20, 20, 20), (x0 + half, y0 - 2, half, 5), 1)
        label = f"{L / 1000:g} km" if L >= 1000 else f"{L:g} m"
        t = self.text.surf(label, (20, 20, 20), "s")
        surf.blit(t, (x0, y0 - 17))
        surf.blit(self.text.surf(f"{s:.2g} px/m" if s < 1 else f"{s:.1f} px/m", (90, 90, 90), "s"),
                  (x0 + px + 6, y0 - 4))

    def _draw_north(self, surf) -> None:
        pg = self.pg
        mm = self._minimap_rect()
        x = (mm.x - 26) if mm is not None else self.W - 26
        y = TOP_H + 14
        pg.draw.circle(surf, (255, 255, 255), (x, y + 14), 17)
        pg.draw.circle(surf, (20, 20, 20), (x, y + 14), 17, 1)
        pg.draw.polygon(surf, (200, 30, 30), [(x, y + 1), (x - 6, y + 16), (x + 6, y + 16)])
        pg.draw.polygon(surf, (40, 40, 40), [(x, y + 27), (x - 6, y + 16), (x + 6, y + 16)])
        t = self.text.halo("N", (20, 20, 20), "m")
        surf.blit(t, (x - t.get_width() // 2, y + 32))

    def _draw_top_bar(self, surf) -> None:
        pg = self.pg
        h = self.header
        pg.draw.rect(surf, (18, 24, 34), (0, 0, self.W, TOP_H))
        oc = h.get("outcome")
        parts = [str(h.get("scenario") or h.get("scenario_id") or "replay")]
        if oc:  # the outcome right after the scenario: it is what a jury looks for first
            parts[0] += f": {oc if isinstance(oc, str) else oc.get('outcome', oc)}"
        if h.get("seed") is not None:
            parts.append(f"seed {h['seed']}")
        parts.append(f"map {self.map.name}")
        lk = h.get("link")
        if isinstance(lk, dict) and lk.get("profile"):
            parts.append(f"link {lk['profile']}" + (f" ({lk['mode']})" if lk.get("mode") not in (None, "data") else ""))
        if self.ego_info is not None and self.ego_info.agent:
            parts.append(f"agent {self.ego_info.agent}")
        if len(self.frames) > 1:
            vs = []
            for k, (gi, r) in enumerate(zip(self.ghost_infos, self.readers[1:], strict=True)):
                ob = (getattr(r, "header", {}) or {}).get("outcome")
                vs.append(f"{'BCDE'[k % 4]}: {gi.agent if gi and gi.agent else '?'}" + (f" ({ob})" if ob else ""))
            parts.insert(1, "vs " + ", ".join(vs))
        c = self.controls
        col = ACCENT if c.paused else (120, 230, 140)
        t = self.text.surf(self._status_text(), col, "m")
        surf.blit(t, (self.W - t.get_width() - 10, 8))
        room = self.W - t.get_width() - 40
        left = self.text.surf("   |   ".join(parts), UI_TEXT, "m")
        while left.get_width() > room and len(parts) > 1:  # drop the least important parts first
            parts.pop()
            left = self.text.surf("   |   ".join(parts), UI_TEXT, "m")
        surf.blit(left, (10, 8), (0, 0, max(0, room), left.get_height()))

    def _status_text(self) -> str:
        """The top bar's right side: play state, speed, time, frame."""
        c = self.controls
        state = "PAUSED" if c.paused else "PLAYING"
        speed = c.speed
        if self.export_speed is not None:  # a video: its own playback speed
            state, speed = "REPLAY", self.export_speed
        return (f"{state}  x{speed:g}    t {_fmt_time(self.t - self.t0)} / {_fmt_time(self.t1 - self.t0)}"
                f"    step {self.frame_index + 1}/{self.main.n}    h: help")

    def _minimap_base(self, rect):
        key = ("minimap", rect.w, rect.h)
        base = self._static_cache.get(key)
        if base is None:
            from testbed.render import Renderer

            r = Renderer(self.map, "rgb_array", rect.w, rect.h, camera="map")
            base = r._draw_background(r._map_view, (rect.w, rect.h), labels=False)
            self._static_cache[("minimap_view",)] = r._map_view
            r.close()
            self._static_cache[key] = base
        return base, self._static_cache[("minimap_view",)]

    def _draw_minimap(self, surf, st) -> None:
        pg = self.pg
        rect = self._minimap_rect()
        base, v = self._minimap_base(rect)
        surf.blit(base, rect.topleft)
        ox, oy = rect.topleft
        if len(st.tx):
            p = v.px(np.column_stack([st.tx, st.ty]))
            ok = np.isfinite(p[:, 0])
            for x, y in p[ok]:
                pg.draw.circle(surf, (160, 100, 0), (ox + x, oy + y), 2)
        if st.ego is not None:
            p = v.px((st.ego["x"], st.ego["y"]))
            pg.draw.circle(surf, EGO_COLOUR, (ox + p[0], oy + p[1]), 4)
        # view rectangle
        x0, y1 = self.view_origin()
        a = v.px((x0, y1))
        b = v.px((x0 + self.W / self.scale, y1 - self.H / self.scale))
        r = pg.Rect(ox + a[0], oy + a[1], max(3, b[0] - a[0]), max(3, b[1] - a[1])).clip(rect)
        pg.draw.rect(surf, (20, 20, 20), r, 2)
        pg.draw.rect(surf, (18, 24, 34), rect, 2)

    def _panel_rows(self, st):
        kind, j = self.selected
        rows = []
        if kind == "traffic":
            info = self.traffic_info[j]
            rows.append(("name", info.name))
            rows.append(("MMSI", str(info.mmsi) if info.mmsi else "-"))
            rows.append(("type", info.type or "-"))
            rows.append(("size", f"{info.length:.1f} x {info.beam:.1f} m"))
            if np.isfinite(st.tx[j]):
                rows.append(("speed", f"{st.tsog[j] * MPS_TO_KN:.1f} kn" if np.isfinite(st.tsog[j]) else "-"))
                rows.append(("course", f"{math.degrees(st.tcog[j]) % 360:.0f} deg" if np.isfinite(st.tcog[j]) else "-"))
                rows.append(("heading", f"{math.degrees(st.tpsi[j]) % 360:.0f} deg"))
            else:
                rows.append(("state", "not in the water now"))
            if self.ais_mode and st.ais_x is not None:
                age = st.ais_age[j] if st.ais_age is not None else np.nan
                if np.isfinite(st.ais_x[j]) and np.isfinite(st.tx[j]):
                    off = math.hypot(st.ais_x[j] - st.tx[j], st.ais_y[j] - st.ty[j])
                    rows.append(("AIS age", f"{age:.1f} s" if np.isfinite(age) else "-"))
                    rows.append(("believed", f"({st.ais_x[j]:.0f}, {st.ais_y[j]:.0f}) m"))
                    rows.append(("true", f"({st.tx[j]:.0f}, {st.ty[j]:.0f}) m"))
                    rows.append(("AIS error", f"{off:.0f} m"))
                else:
                    rows.append(("AIS", "no report received yet"))
            title = "AIS target" if self.ais_mode and st.ais_x is not None else "traffic"
        elif kind == "ego":
            info = self.ego_info
            e = st.ego
            rows.append(("name", info.name if info else "ego"))
            if info and info.agent:
                rows.append(("agent", info.agent))
            rows.append(("MMSI", str(info.mmsi) if info and info.mmsi else "-"))
            rows.append(("type", (info.type if info else "") or "-"))
            if info:
                rows.append(("size", f"{info.length:.1f} x {info.beam:.1f} m"))
            rows.append(("speed", f"{e['sog'] * MPS_TO_KN:.1f} kn over ground"))
            rows.append(("course", f"{math.degrees(e['cog']) % 360:.0f} deg"))
            rows.append(("heading", f"{math.degrees(e['psi']) % 360:.0f} deg"))
            title = "ego"
        else:
            gi = self.ghost_infos[j]
            e = self.ghost_states[j].ego
            rows.append(("replay", f"{'BCDE'[j % 4]}"))
            rows.append(("name", gi.name if gi else "ego"))
            rows.append(("agent", (gi.agent if gi else "") or "-"))
            rows.append(("speed", f"{e['sog'] * MPS_TO_KN:.1f} kn"))
            rows.append(("course", f"{math.degrees(e['cog']) % 360:.0f} deg"))
            if st.ego is not None:
                rows.append(("to A", f"{math.hypot(e['x'] - st.ego['x'], e['y'] - st.ego['y']):.0f} m"))
            title = "comparison ghost"
        return title, rows

    def _draw_panel(self, surf, st) -> None:
        if self._selected_xy(st) is None and self.selected[0] != "traffic":
            return
        title, rows = self._panel_rows(st)
        mm = self._minimap_rect()
        w = 250
        lh = 19
        h = 34 + lh * len(rows)
        x = self.W - w - 10
        y = (mm.bottom + 12) if mm is not None else TOP_H + 8
        rect = self.pg.Rect(x, y, w, h)
        self._panel(surf, rect)
        self.pg.draw.rect(surf, SELECT_COLOUR, rect, 2, border_radius=8)
        surf.blit(self.text.surf(title.upper(), SELECT_COLOUR, "m"), (x + 10, y + 8))
        yy = y + 30
        for k, v in rows:
            surf.blit(self.text.surf(k, UI_DIM, "m"), (x + 10, yy))
            surf.blit(self.text.surf(str(v)[:28], UI_TEXT, "m"), (x + 96, yy))
            yy += lh
        self._panel_rect = rect

    def _legend_rows(self):
        rows = [("hull", EGO_COLOUR, "ego (this replay)")] if self.main.has_ego else []
        for k, gi in enumerate(self.ghost_infos):
            rows.append(("hull", GHOST_COLOURS[k % 3], f"{'BCDE'[k % 4]}: {gi.agent if gi and gi.agent else 'ghost'}"))
        if self.main.n_traffic:
            rows.append(("hull", TRAFFIC_COLOUR, "traffic (truth)" if self.main.has_ego else "vessels (decoded AIS)"))
        if self.layers["ais"] and self.ais_mode and self.main.n_traffic:
            rows.append(("ghost", AIS_COLOUR, "AIS report (ego's picture)"))
        if self.layers["wakes"]:
            rows.append(("line", VECTOR_COLOUR, "course, 1 min at SOG"))
        if self.layers["route"] and (self._route is not None or self._goal is not None):
            rows.append(("line", ROUTE_COLOUR, "route"))
            rows.append(("ring", GOAL_COLOUR, "goal"))
        if self.layers["lanes"] and self.map.lanes:
            rows.append(("dash", (31, 120, 180), "fairway lane"))
        if self.layers["berths"] and self.map.bridges:
            rows.append(("line", (140, 80, 30), "bridge"))
        if self.layers["berths"] and self.map.berths:
            rows.append(("line", (0, 110, 0), "berth"))
        if self.layers["rays"] and self._rays is not None:
            rows.append(("line", (26, 152, 80), "rays: far -> near (red)"))
        if self.layers["coverage"]:
            if self.tiles.coverage is not None:
                rows.append(("ramp", None, "5G SINR -10 .. 30 dB"))
            else:
                rows.append(("none", None, self._cov_status or "5G coverage: none"))
        return rows

    def _draw_legend(self, surf) -> None:
        pg = self.pg
        rows = self._legend_rows()
        lh = 18
        w = max(212, 56 + max(self.text.surf(r[2], (0, 0, 0), "s").get_width() for r in rows))
        h = 12 + lh * len(rows)
        x, y = 10, TOP_H + 8
        rect = pg.Rect(x, y, w, h)
        pg.draw.rect(surf, (255, 255, 255), rect, border_radius=6)
        pg.draw.rect(surf, (120, 120, 120), rect, 1, border_radius=6)
        yy = y + 7
        for kind, col, text in rows:
            cy = yy + 7
            if kind == "hull":
                poly = hull_polygons(np.array([x + 22.0]), np.array([float(cy)]), np.array([math.pi / 2]),
                                     np.array([26.0]), np.array([8.0]))[0]
                pg.draw.polygon(surf, col, poly)
                pg.draw.aalines(surf, (30, 30, 30), True, poly)
            elif kind == "ghost":
                poly = hull_polygons(np.array([x + 22.0]), np.array([float(cy)]), np.array([math.pi / 2]),
                                     np.array([26.0]), np.array([8.0]))[0]
                pg.draw.aalines(surf, col, True, poly)
            elif kind == "line":
                pg.draw.line(surf, col, (x + 9, cy), (x + 35, cy), 3)
            elif kind == "dash":
                for k in range(3):
                    pg.draw.line(surf, col, (x + 9 + 10 * k, cy), (x + 15 + 10 * k, cy), 2)
            elif kind == "ring":
                pg.draw.circle(surf, col, (x + 22, cy), 6, 2)
            elif kind == "ramp":
                ramp = colour_ramp(np.linspace(0, 1, 26), "viridis", 0, 1)
                for k, c in enumerate(ramp):
                    pg.draw.line(surf, [int(v) for v in c], (x + 9 + k, cy - 5), (x + 9 + k, cy + 5))
            surf.blit(self.text.surf(text, (30, 30, 30), "s"), (x + 44, yy + 1))
            yy += lh
        self._legend_rect = rect

    def _revs_scale(self) -> float:
        if self._revs_max is None:
            v = None
            try:  # the ego class's maximum revs x the scenario's fraction, as the world uses them
                from vessels import catalogue

                vt = catalogue.get(self.ego_info.type)
                v = vt.limits.revs_max * float(self._cfg("ego", "max_revs_fraction", default=1.0))
            except (KeyError, ValueError, AttributeError, TypeError):
                v = None
            if v is None and self.main.has("ego/revs"):
                col = np.asarray(self.readers[0].column("ego/revs", 0, self.main.n), dtype=np.float64)
                v = float(np.nanmax(np.abs(col))) if col.size else 1.0
            self._revs_max = float(v) if v and v > 0 else 1.0
        return self._revs_max

    def _draw_hud(self, surf, st) -> None:
        pg = self.pg
        e = st.ego
        if e is None and self.selected is not None and self.selected[0] == "traffic":
            j = self.selected[1]
            e = {"sog": float(st.tsog[j]), "cog": float(st.tcog[j]), "psi": float(st.tpsi[j])}
        if e is None:
            return
        x, y = 10, self.H - TIMELINE_H - 108
        full = st.ego is not None  # a traffic vessel (raw AIS log): speed and courses only
        w, h = (470 if full else 230), 100
        rect = pg.Rect(x, y, w, h)
        self._panel(surf, rect)
        # speed dial 0-12 kn
        sog_kn = e.get("sog", 0.0) * MPS_TO_KN if np.isfinite(e.get("sog", np.nan)) else 0.0
        cx, cy, R = x + 55, y + 58, 38
        vmax = 12.0
        a0, a1 = math.radians(225), math.radians(-45)
        key = ("dial", R)
        dial = self._static_cache.get(key)
        if dial is None:
            dial = pg.Surface((2 * R + 8, 2 * R + 8), pg.SRCALPHA, 32)
            c = (R + 4, R + 4)
            for k in range(13):
                a = a0 + (a1 - a0) * k / 12
                r0 = R - (8 if k % 3 == 0 else 4)
                pg.draw.line(dial, UI_DIM, (c[0] + r0 * math.cos(a), c[1] - r0 * math.sin(a)),
                             (c[0] + R * math.cos(a), c[1] - R * math.sin(a)), 2 if k % 3 == 0 else 1)
            pg.draw.arc(dial, UI_DIM, (4, 4, 2 * R, 2 * R), a1, a0, 1)
            self._static_cache[key] = dial
        surf.blit(dial, (cx - R - 4, cy - R - 4))
        u = min(max(sog_kn / vmax, 0.0), 1.0)
        if u > 0.01:
            pg.draw.arc(surf, (120, 230, 140), (cx - R, cy - R, 2 * R, 2 * R), a0 - u * (a0 - a1), a0, 4)
        a = a0 + (a1 - a0) * u
        pg.draw.line(surf, ACCENT, (cx, cy), (cx + (R - 6) * math.cos(a), cy - (R - 6) * math.sin(a)), 3)
        pg.draw.circle(surf, ACCENT, (cx, cy), 4)
        t = self.text.surf(f"{sog_kn:.1f}", UI_TEXT, "l")
        surf.blit(t, (cx - t.get_width() // 2, cy + 12))
        surf.blit(self.text.surf("SOG kn", UI_DIM, "s"), (cx - 20, y + 6))
        # course / heading
        bx = x + 112
        surf.blit(self.text.surf("HDG", UI_DIM, "s"), (bx, y + 8))
        surf.blit(self.text.surf(f"{math.degrees(e.get('psi', 0.0)) % 360:05.1f}", UI_TEXT, "m"), (bx + 34, y + 6))
        surf.blit(self.text.surf("COG", UI_DIM, "s"), (bx, y + 28))
        cog = e.get("cog", np.nan)
        surf.blit(self.text.surf(f"{math.degrees(cog) % 360:05.1f}" if np.isfinite(cog) else "-", UI_TEXT, "m"),
                  (bx + 34, y + 26))
        if not full:
            name = self.traffic_info[self.selected[1]].name
            surf.blit(self.text.surf(name[:14], UI_TEXT, "s"), (bx, y + 56))
            return
        # rudder bar (+- 35 deg, starboard right)
        rx, ry, rw = bx, y + 56, 150
        surf.blit(self.text.surf("RUDDER", UI_DIM, "s"), (rx, ry - 4))
        bar = pg.Rect(rx, ry + 10, rw, 10)
        pg.draw.rect(surf, (50, 58, 70), bar, border_radius=3)
        mid = bar.x + rw // 2
        pg.draw.line(surf, UI_DIM, (mid, bar.y - 3), (mid, bar.bottom + 2), 1)
        if "rudder" in e:
            deg = math.degrees(e["rudder"])
            v = max(-1.0, min(1.0, deg / 35.0))
            col = (80, 200, 110) if v >= 0 else (230, 80, 80)  # starboard green, port red
            r = pg.Rect(mid, bar.y, int(v * rw / 2), 10) if v >= 0 else pg.Rect(mid + int(v * rw / 2), bar.y,
                                                                                   int(-v * rw / 2), 10)
            pg.draw.rect(surf, col, r, border_radius=3)
            surf.blit(self.text.surf(f"{deg:+.1f} deg", UI_TEXT, "s"), (rx + 56, ry - 4))
        # engine bar (revs, ahead up, astern down)
        gx = bx + 170
        surf.blit(self.text.surf("ENGINE", UI_DIM, "s"), (gx - 4, y + 8))
        eb = pg.Rect(gx + 8, y + 24, 14, 66)
        pg.draw.rect(surf, (50, 58, 70), eb, border_radius=3)
        pg.draw.line(surf, UI_DIM, (eb.x - 3, eb.centery), (eb.right + 2, eb.centery), 1)
        if "revs" in e:
            v = max(-1.0, min(1.0, e["revs"] / self._revs_scale()))
            hpx = int(abs(v) * eb.h / 2)
            r = pg.Rect(eb.x, eb.centery - hpx, eb.w, hpx) if v >= 0 else pg.Rect(eb.x, eb.centery, eb.w, hpx)
            pg.draw.rect(surf, (90, 170, 255), r, border_radius=3)
            surf.blit(self.text.surf(f"{100 * v:+.0f}%", UI_TEXT, "s"), (eb.right + 4, eb.y + 2))
        # link quality: SINR bars + serving cell + fail-safe
        lx = x + 340
        surf.blit(self.text.surf("5G LINK", UI_DIM, "s"), (lx, y + 8))
        sinr = st.link.get("sinr") if st.link else None
        if sinr is None:
            surf.blit(self.text.surf("ideal / none", UI_TEXT, "s"), (lx, y + 30))
        else:
            sv = float(sinr)
            sq = 40.0 if sv == np.inf else sv if np.isfinite(sv) else -10.0
            nb = int(np.clip(np.floor((sq + 5.0) / 6.0) + 1, 0, 5))
            col = tuple(int(c) for c in colour_ramp(np.array([sq]), "rdylgn", -5.0, 25.0)[0])
            for k in range(5):
                bh = 8 + 7 * k
                r = pg.Rect(lx + k * 11, y + 60 - bh, 8, bh)
                pg.draw.rect(surf, col if k < nb else (60, 68, 80), r, border_radius=2)
            label = "ideal" if sv == np.inf else f"{sv:.1f} dB" if np.isfinite(sv) else "no link"
            surf.blit(self.text.surf(label, UI_TEXT, "s"), (lx + 62, y + 30))
            c = self._cell_index(st.link.get("cell"))
            if c is not None:
                surf.blit(self.text.surf(self.cell_ids[c], UI_DIM, "s"), (lx + 62, y + 46))
            lat = st.link.get("latency")
            if lat is not None and sv != np.inf:
                lt = f"data {float(lat):.0f} ms" if np.isfinite(lat) else "data lost"
                surf.blit(self.text.surf(lt, UI_DIM, "s"), (lx, y + 66))
            fs = st.link.get("failsafe")
            if fs is not None and bool(fs):
                surf.blit(self.text.surf("FAIL-SAFE", (255, 80, 80), "m"), (lx, y + 80))

    def _draw_plots(self, surf) -> None:
        pg = self.pg
        if not self.main.has("reward"):
            return
        st = self.state
        n_back = min(300, st.i)
        hist = np.asarray(self.main.get("reward", st.i - n_back, st.i + 1), dtype=np.float64)
        if hist.ndim == 1:
            hist = hist[:, None]
        K = hist.shape[1]
        names = self.reward_names if len(self.reward_names) == K else [f"r{k}" for k in range(K)]
        # total first, then the components that are not all zero over the episode so far
        keep = [k for k in range(K) if np.any(hist[:, k] != 0)]
        show = [("total reward", hist.sum(axis=1))] + [(names[k], hist[:, k]) for k in keep][:7]
        x = 490 if self.layers["hud"] else 10
        y = self.H - TIMELINE_H - 108
        w, h = self.W - 10 - x, 100
        if w < 220:
            return
        rect = pg.Rect(x, y, w, h)
        self._panel(surf, rect)
        self._plots_rect = rect
        ncol = 2 if w >= 560 else 1
        nrow = 4
        cw = (w - 12) // ncol
        ph = 18
        for n, (name, v) in enumerate(show[:ncol * nrow]):
            cx = x + 8 + (n // nrow) * cw
            cy = y + 6 + (n % nrow) * 23
            cur = float(v[-1]) if len(v) else 0.0
            surf.blit(self.text.surf(name.replace("_", " ")[:16], UI_DIM, "s"), (cx, cy + 4))
            surf.blit(self.text.surf(f"{cur:+.3g}", UI_TEXT, "s"), (cx + 96, cy + 4))
            px0, pw = cx + 162, cw - 170
            box = pg.Rect(px0, cy, pw, ph)
            pg.draw.rect(surf, (34, 42, 56), box, border_radius=3)
            if len(v) >= 2 and pw > 10:
                lo, hi = float(min(v.min(), 0.0)), float(max(v.max(), 0.0))
                span = hi - lo if hi > lo else 1.0
                xs = px0 + np.linspace(pw * (1 - len(v) / 301.0), pw, len(v))
                ys = cy + ph - 2 - (v - lo) / span * (ph - 4)
                zy = cy + ph - 2 - (0 - lo) / span * (ph - 4)
                pg.draw.line(surf, (80, 90, 105), (px0, zy), (px0 + pw - 1, zy), 1)
                col = (120, 230, 140) if cur >= 0 else (240, 110, 100)
                pg.draw.aalines(surf, col, False, np.column_stack([xs, ys]))

    def _draw_timeline(self, surf) -> None:
        pg = self.pg
        y0 = self.H - TIMELINE_H
        pg.draw.rect(surf, (18, 24, 34), (0, y0, self.W, TIMELINE_H))
        r = self._timeline_rect()
        key = ("timeline", r.w, len(self.events))
        layers = self._static_cache.get(key)
        if layers is None:
            track = pg.Surface((r.w, r.h), pg.SRCALPHA, 32)
            pg.draw.rect(track, (55, 64, 80), (0, 0, r.w, r.h), border_radius=7)
            marks = pg.Surface((r.w, 40), pg.SRCALPHA, 32)  # markers (y 2..27) and time ticks below
            span = max(self.t1 - self.t0, 1e-9)
            step = next((q for q in (5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200) if span / q <= 10), 14400)
            for q in np.arange(0.0, span + 1e-9, step):
                x = int(q / span * (r.w - 1))
                pg.draw.line(marks, (120, 130, 145), (x, 22), (x, 26), 1)
                lab = self.text.surf(_fmt_time(q).replace(".0", ""), UI_DIM, "s")
                marks.blit(lab, (min(max(0, x - lab.get_width() // 2), r.w - lab.get_width()), 27))
            for e in self.events:
                ex = int((e.t - self.t0) / span * (r.w - 1))
                pg.draw.line(marks, e.colour, (ex, 2), (ex, 21), 3)
                pg.draw.circle(marks, e.colour, (ex, 3), 3)
            kinds: dict = {}
            for e in self.events:
                kinds.setdefault(e.kind, [0, e.colour])[0] += 1
            layers = (track, marks, kinds)
            self._static_cache[key] = layers
        track, marks, kinds = layers
        surf.blit(track, r.topleft)
        u = (self.t - self.t0) / max(self.t1 - self.t0, 1e-9)
        px = r.x + u * r.w
        pg.draw.rect(surf, (110, 170, 250), (r.x, r.y, max(0, px - r.x), r.h), border_radius=7)
        surf.blit(marks, (r.x, r.y - 8))
        pg.draw.circle(surf, (255, 255, 255), (px, r.centery), 8)
        pg.draw.circle(surf, (18, 24, 34), (px, r.centery), 8, 2)
        if self._hover is not None:  # tooltip: the time under the mouse, and the event there if any
            th = self._t_of_x(self._hover)
            ev = next((e for e in self.events if e.t == th), None)
            msg = _fmt_time(th - self.t0) + (f"  {ev.kind.replace('_', ' ')}" + (f": {ev.text}" if ev.text else "")
                                             if ev is not None else "")
            t = self.text.surf(msg[:90], UI_TEXT, "s")
            bx = int(min(max(4, self._hover - t.get_width() // 2 - 6), self.W - t.get_width() - 16))
            box = pg.Rect(bx, y0 - t.get_height() - 12, t.get_width() + 12, t.get_height() + 8)
            pg.draw.rect(surf, (18, 24, 34), box, border_radius=5)
            pg.draw.rect(surf, ev.colour if ev is not None else UI_DIM, box, 1, border_radius=5)
            surf.blit(t, (box.x + 6, box.y + 4))
        # event counts by kind, and the event under the playhead
        xx = r.x
        for k, (n, col) in kinds.items():
            pg.draw.rect(surf, col, (xx, y0 + 4, 10, 10), border_radius=2)
            t = self.text.surf(f"{k.replace('_', ' ')} {n}", UI_TEXT, "s")
            surf.blit(t, (xx + 14, y0 + 3))
            xx += t.get_width() + 30
        if not self.events:
            surf.blit(self.text.surf("no events", UI_DIM, "s"), (xx, y0 + 3))
        near = [e for e in self.events if abs(e.t - self.t) <= 0.5 * max(1e-9, self.main.times[1] - self.main.times[0]
                                                                         if self.main.n > 1 else 1.0)]
        if near:
            e = near[0]
            msg = f"{e.kind.replace('_', ' ')} at {_fmt_time(e.t - self.t0)}" + (f": {self._vessel_name(e.vessel)}"
                                                                                 if e.vessel else "") \
                + (f" - {e.text}" if e.text else "")
            t = self.text.surf(msg[:110], e.colour, "s")
            surf.blit(t, (self.W - t.get_width() - 12, y0 + 3))

    def _draw_help(self, surf) -> None:
        pg = self.pg
        rows = [("", "PLAYBACK")] + self.controls.help_lines() + [("", "VIEWER")] + list(VIEWER_KEYS)
        rows += [("", "LAYERS")] + [(k, f"{d}  [{'on' if self.layers[n] else 'off'}]") for n, k, d, _ in LAYERS]
        lh = 20
        col_rows = (len(rows) + 1) // 2
        w, h = 900, 56 + lh * col_rows
        x, y = (self.W - w) // 2, max(TOP_H + 6, (self.H - h) // 2 - 20)
        rect = pg.Rect(x, y, w, h)
        self._panel(surf, rect, (12, 16, 24, 235))
        pg.draw.rect(surf, ACCENT, rect, 2, border_radius=8)
        surf.blit(self.text.surf("Replay viewer - keys and mouse  (h closes)", ACCENT, "l"), (x + 16, y + 12))
        for n, (k, d) in enumerate(rows):
            cx = x + 16 + (n // col_rows) * (w // 2)
            cy = y + 44 + (n % col_rows) * lh
            if not k:
                surf.blit(self.text.surf(d, (120, 200, 255), "m"), (cx, cy))
                continue
            surf.blit(self.text.surf(k, ACCENT, "m"), (cx, cy))
            surf.blit(self.text.surf(d, UI_TEXT, "m"), (cx + 130, cy))

    def _arrow(self, surf, colour, a, b, width: int) -> None:
        from testbed.render import draw_arrow

        draw_arrow(self.pg, surf, colour, a, b, width, head=(9.0, 5.0))


def _mix(a, b, w: float):
    return tuple(int(round(x * (1 - w) + y * w)) for x, y in zip(a, b, strict=True))


def _dashed(pg, surf, colour, a, b, width, dash, gap) -> None:
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    d = b - a
    L = float(np.hypot(*d))
    if L < 1e-6 or L > 20000:
        return
    u = d / L
    t0 = np.arange(0.0, L, dash + gap)
    t1 = np.minimum(t0 + dash, L)
    line = pg.draw.line
    for x0, y0, x1, y1 in np.column_stack([a[0] + u[0] * t0, a[1] + u[1] * t0, a[0] + u[0] * t1,
                                           a[1] + u[1] * t1]).tolist():
        line(surf, colour, (x0, y0), (x1, y1), width)


def window_loop(viewer: Viewer, fps: int = 60, max_frames: int | None = None, caption: str | None = None) -> int:
    """Open a window and run ``viewer`` until the user quits (or ``max_frames`` frames). Returns 0."""
    pg = viewer.pg
    try:
        pg.display.init()
        window = pg.display.set_mode((viewer.W, viewer.H), pg.RESIZABLE)
    except pg.error as exc:
        raise ValueError(f"cannot open the viewer window ({exc}); run it where there is a display, or export "
                         f"without one: testbed replay FILE --export out.mp4") from None
    pg.display.set_caption(caption or f"Testbed replay - {viewer.header.get('scenario', '')} - {viewer.map.name}")
    clock = pg.time.Clock()
    c = viewer.controls
    n = 0
    try:
        with c.install_signal_handlers():
            while not c.quit:
                for ev in pg.event.get():
                    if ev.type == pg.VIDEORESIZE:
                        window = pg.display.get_surface()
                        viewer.resize(*window.get_size())
                    viewer.handle_event(ev)
                dt = clock.tick(fps) / 1000.0
                viewer.update(min(dt, 0.25))
                viewer.draw(window)
                if viewer.screenshot_requested:
                    viewer.screenshot_requested = False
                    viewer.save_screenshot(window)
                pg.display.flip()
                n += 1
                if max_frames is not None and n >= max_frames:
                    break
    finally:
        pg.display.quit()
    return 0
