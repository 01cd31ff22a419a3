"""testbed.ui.controls: pygame events posted to a real (dummy-driver) event queue, and signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from testbed.ui.controls import MAX_SPEED, MIN_SPEED, SPEEDS, PlaybackControls


@pytest.fixture
def pg():
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    pygame.display.init()
    pygame.display.set_mode((64, 48))
    pygame.event.clear()
    yield pygame
    pygame.display.quit()


def _post_key(pg, key, unicode=""):
    pg.event.post(pg.event.Event(pg.KEYDOWN, key=key, mod=0, unicode=unicode, scancode=0))


def _pump(pg, c: PlaybackControls) -> int:
    return c.handle_events(pg.event.get())


def test_import_does_not_import_pygame():
    code = "import sys, testbed.ui.controls; print('pygame' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_keys_change_state(pg):
    c = PlaybackControls(speed=8.0, follow=True)
    assert (c.paused, c.speed, c.follow, c.show_help, c.quit, c.step_frames) == (False, 8.0, True, False, False, 0)
    _post_key(pg, pg.K_SPACE, " ")
    assert _pump(pg, c) == 1 and c.paused and c.status_text() == "paused  x8"
    _post_key(pg, pg.K_SPACE, " ")
    _post_key(pg, pg.K_f, "f")
    _post_key(pg, pg.K_h, "h")
    assert _pump(pg, c) == 3
    assert not c.paused and not c.follow and c.show_help and c.status_text() == "x8"
    _post_key(pg, pg.K_EQUALS, "+")  # '+' on a US keyboard is shift + '='
    _post_key(pg, pg.K_KP_PLUS, "+")
    assert _pump(pg, c) == 2 and c.speed == 32.0
    _post_key(pg, pg.K_MINUS, "-")
    assert _pump(pg, c) == 1 and c.speed == 16.0
    _post_key(pg, pg.K_PERIOD, ".")
    _post_key(pg, pg.K_PERIOD, ".")
    _post_key(pg, pg.K_COMMA, ",")
    assert _pump(pg, c) == 3 and c.paused and c.step_frames == 1
    _post_key(pg, pg.K_x, "x")  # not ours
    pg.event.post(pg.event.Event(pg.MOUSEMOTION, pos=(1, 1), rel=(0, 0), buttons=(0, 0, 0)))
    assert _pump(pg, c) == 0
    assert not c.quit


def test_speed_limits(pg):
    assert SPEEDS[0] == MIN_SPEED == 0.25 and SPEEDS[-1] == MAX_SPEED == 64.0 and len(SPEEDS) == 9
    c = PlaybackControls(speed=1.0)
    for _ in range(12):
        _post_key(pg, pg.K_PLUS, "+")
    _pump(pg, c)
    assert c.speed == 64.0
    for _ in range(12):
        _post_key(pg, pg.K_KP_MINUS, "-")
    _pump(pg, c)
    assert c.speed == 0.25
    with pytest.raises(ValueError, match="speed"):
        PlaybackControls(speed=0.0)
    with pytest.raises(ValueError, match="speed"):
        PlaybackControls(speed=float("nan"))


@pytest.mark.parametrize("how", ["quit", "windowclose", "q", "escape"])
def test_quit_events(pg, how):
    c = PlaybackControls()
    if how == "quit":
        pg.event.post(pg.event.Event(pg.QUIT))
    elif how == "windowclose":
        pg.event.post(pg.event.Event(pg.WINDOWCLOSE, window=None))
    else:
        _post_key(pg, pg.K_q if how == "q" else pg.K_ESCAPE, "q" if how == "q" else "\x1b")
    assert _pump(pg, c) >= 1
    assert c.quit and c.quit_reason == ("key" if how in ("q", "escape") else "window")


def test_help_lines_cover_every_key():
    rows = PlaybackControls.help_lines()
    assert all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in rows)
    keys = " ".join(k for k, _ in rows)
    for k in ("Space", "+", "-", ".", ",", "f", "h", "q", "Esc"):
        assert k in keys


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_handlers_set_quit_and_restore(sig):
    before = signal.getsignal(sig)
    c = PlaybackControls()
    with c.install_signal_handlers():
        assert signal.getsignal(sig) is not before
        signal.raise_signal(sig)  # handled synchronously in the main thread
        assert c.quit and c.quit_reason == sig.name
    assert signal.getsignal(sig) is before
    c2 = PlaybackControls()
    with pytest.raises(RuntimeError), c2.install_signal_handlers():  # restored on an exception too
        raise RuntimeError("boom")
    assert signal.getsignal(sig) is before


def test_second_sigint_raises_keyboard_interrupt():
    c = PlaybackControls()
    with c.install_signal_handlers():
        signal.raise_signal(signal.SIGINT)
        assert c.quit
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)


def test_signal_handlers_outside_main_thread_are_a_no_op():
    before = signal.getsignal(signal.SIGINT)
    seen = []

    def worker():
        with PlaybackControls().install_signal_handlers() as c:
            seen.append((c.quit, signal.getsignal(signal.SIGINT) is before))

    th = threading.Thread(target=worker)
    th.start()
    th.join()
    assert seen == [(False, True)]


def test_sigterm_in_a_subprocess_ends_the_loop_cleanly():
    code = (
        "import os, signal, time\n"
        "from testbed.ui.controls import PlaybackControls\n"
        "c = PlaybackControls()\n"
        "with c.install_signal_handlers():\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    t0 = time.monotonic()\n"
        "    while not c.quit and time.monotonic() - t0 < 5: time.sleep(0.01)\n"
        "print(c.quit, c.quit_reason)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True SIGTERM"
