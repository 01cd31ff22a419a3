"""Keyboard, window and signal handling shared by every testbed window (live env, replay viewer).

One :class:`PlaybackControls` object holds the user's wishes; a window's event loop feeds it pygame
events and reads the fields.  Nothing here draws or sleeps, and pygame is imported lazily inside
:meth:`PlaybackControls.handle_event` (``import testbed.ui.controls`` does not import pygame).

State (plain attributes, read and write them freely)
    ``paused`` (bool), ``speed`` (float, playback speed factor, one of :data:`SPEEDS`
    = x0.25 ... x64), ``follow`` (bool, follow camera on/off), ``show_help`` (bool, help overlay),
    ``quit`` (bool, the user wants out: window close, ``q``/Esc, SIGINT/SIGTERM), ``quit_reason``
    (``"window"``, ``"key"``, ``"SIGINT"``, ``"SIGTERM"`` or None), ``step_frames`` (int: frames the
    user asked to step while paused; ``+1`` per ``.``, ``-1`` per ``,``; a consumer that advances a
    frame subtracts 1 (or adds 1 going back) and one that cannot go back sets it to 0).

Keys (:meth:`PlaybackControls.help_lines` returns this table for the on-screen help)
    ==========  ======================================================
    Space       pause / resume
    ``+``       faster (speed x2, at most x64)
    ``-``       slower (speed / 2, at least x0.25)
    ``.``       one frame forward (pauses)
    ``,``       one frame back (pauses; where the source can go back)
    ``f``       follow camera on / off
    ``h``       show / hide this help
    ``q``, Esc  quit (as does closing the window or Ctrl-C)
    ==========  ======================================================

API
    ``PlaybackControls(speed=1.0, follow=True, paused=False)``;
    ``handle_event(event) -> bool`` (True if the event was one of the above and changed the state);
    ``handle_events(events) -> int`` (how many were consumed); ``help_lines() ->
    list[(key, meaning)]``; ``status_text() -> str`` (e.g. ``"paused  x8"``);
    ``install_signal_handlers()``: a context manager that makes SIGINT and SIGTERM set ``quit``
    (``quit_reason`` = the signal's name) instead of killing the process, and restores the previous
    handlers on exit.  A second SIGINT while ``quit`` is already set raises ``KeyboardInterrupt``
    (the escape hatch when a loop does not look at ``quit``).  Outside the main thread signal
    handlers cannot be installed; the context manager then does nothing.

Example::

    controls = PlaybackControls(speed=8.0)
    with controls.install_signal_handlers():
        while not controls.quit:
            controls.handle_events(pygame.event.get())
            ...
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading

__all__ = ["PlaybackControls", "SPEEDS", "MIN_SPEED", "MAX_SPEED"]

MIN_SPEED = 0.25
MAX_SPEED = 64.0
SPEEDS = tuple(MIN_SPEED * 2.0**k for k in range(int(math.log2(MAX_SPEED / MIN_SPEED)) + 1))

_HELP = (
    ("Space", "pause / resume"),
    ("+", "faster (x2, at most x64)"),
    ("-", "slower (/2, at least x0.25)"),
    (".", "one frame forward (pauses)"),
    (",", "one frame back (pauses)"),
    ("f", "follow camera on / off"),
    ("h", "show / hide this help"),
    ("q / Esc", "quit (or close the window, Ctrl-C)"),
)


def _snap_speed(speed: float) -> float:
    s = float(speed)
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"speed must be a positive number, got {speed!r}")
    return min(max(s, MIN_SPEED), MAX_SPEED)


class PlaybackControls:
    """The user's playback wishes, updated from pygame events and signals (see the module docstring)."""

    def __init__(self, speed: float = 1.0, follow: bool = True, paused: bool = False) -> None:
        self.paused = bool(paused)
        self.speed = _snap_speed(speed)
        self.follow = bool(follow)
        self.show_help = False
        self.quit = False
        self.quit_reason: str | None = None
        self.step_frames = 0

    # -- state changes (also usable without events) -----------------------------------------------
    def request_quit(self, reason: str) -> None:
        if not self.quit:
            self.quit_reason = reason
        self.quit = True

    def faster(self) -> None:
        self.speed = min(self.speed * 2.0, MAX_SPEED)

    def slower(self) -> None:
        self.speed = max(self.speed / 2.0, MIN_SPEED)

    def status_text(self) -> str:
        """One short line for a window's status corner, e.g. ``"paused  x8"``."""
        sp = f"x{self.speed:g}"
        return f"paused  {sp}" if self.paused else sp

    @staticmethod
    def help_lines() -> list[tuple[str, str]]:
        """``(key, meaning)`` rows of the on-screen help, the same in every window."""
        return list(_HELP)

    # -- events -----------------------------------------------------------------------------------
    def handle_event(self, event) -> bool:
        """Apply one pygame event; True if it was a control event (see the key table)."""
        import pygame as pg

        t = event.type
        if t == pg.QUIT or t == getattr(pg, "WINDOWCLOSE", -1):
            self.request_quit("window")
            return True
        if t != pg.KEYDOWN:
            return False
        key = event.key
        ch = getattr(event, "unicode", "") or ""
        if key == pg.K_SPACE:
            self.paused = not self.paused
        elif ch == "+" or key in (pg.K_PLUS, pg.K_KP_PLUS, pg.K_EQUALS):
            self.faster()
        elif ch == "-" or key in (pg.K_MINUS, pg.K_KP_MINUS):
            self.slower()
        elif ch == "." or key in (pg.K_PERIOD, pg.K_KP_PERIOD):
            self.paused = True
            self.step_frames += 1
        elif ch == "," or key == pg.K_COMMA:
            self.paused = True
            self.step_frames -= 1
        elif key == pg.K_f:
            self.follow = not self.follow
        elif key == pg.K_h:
            self.show_help = not self.show_help
        elif key in (pg.K_q, pg.K_ESCAPE):
            self.request_quit("key")
        else:
            return False
        return True

    def handle_events(self, events) -> int:
        """Apply every event of an iterable (e.g. ``pygame.event.get()``); the number consumed."""
        return sum(bool(self.handle_event(ev)) for ev in events)

    # -- signals ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def install_signal_handlers(self, signals=("SIGINT", "SIGTERM")):
        """Make SIGINT / SIGTERM set :attr:`quit` while the context is open (see the module docstring)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {}

        def handler(signum, frame):
            name = signal.Signals(signum).name
            if self.quit and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.request_quit(name)

        try:
            for name in signals:
                sig = getattr(signal, name)
                previous[sig] = signal.signal(sig, handler)
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old if old is not None else signal.SIG_DFL)
