"""render_mode="human" reads the shared controls: posted pygame events (dummy video driver) and
signals pause, step, switch the camera and end the episode with outcome "user_quit"."""

from __future__ import annotations

import signal
import time

import gymnasium as gym
import numpy as np
import pytest

import testbed  # noqa: F401
from harbour_maps import load_map
from testbed.render import Renderer, RenderScene, VesselSprite


def _key(pg, key, ch=""):
    pg.event.post(pg.event.Event(pg.KEYDOWN, key=key, mod=0, unicode=ch, scancode=0))


def _scene(m, t):
    ln = m.lanes[0]
    x, y = ln.xy[len(ln.xy) // 2]
    return RenderScene(t, VesselSprite(x, y, 0.0, 110, 11.4, "EGO", "ego"))


@pytest.fixture
def human():
    m = load_map("synthetic_channel")
    r = Renderer(m, "human", 320, 240, fps=1000, speed=64.0)
    yield m, r
    r.close()


def test_pace_follows_speed(human):
    m, r = human
    r.render(_scene(m, 0.0))
    t0 = time.perf_counter()
    for k in range(1, 9):  # 8 s of simulation at x64: 0.125 s
        r.render(_scene(m, float(k)))
    dt64 = time.perf_counter() - t0
    assert 0.1 <= dt64 < 1.0, dt64
    r.controls.speed = 16.0
    t0 = time.perf_counter()
    for k in range(9, 17):  # 8 s at x16: 0.5 s (the first frame re-anchors)
        r.render(_scene(m, float(k)))
    dt16 = time.perf_counter() - t0
    assert dt16 > 2.5 * dt64 and dt16 >= 0.4, (dt16, dt64)


def test_pause_step_camera_help_quit(human):
    import pygame as pg

    m, r = human
    assert r.camera == "follow" and r.controls.follow
    _key(pg, pg.K_f, "f")
    _key(pg, pg.K_h, "h")
    _key(pg, pg.K_PERIOD, ".")  # pause + one step: render returns after drawing this frame
    r.render(_scene(m, 1.0))
    assert r.camera == "map" and r.controls.show_help and r.controls.paused and r.controls.step_frames == 0
    _key(pg, pg.K_COMMA, ",")  # a live run cannot go back: ignored with a notice
    _key(pg, pg.K_SPACE, " ")  # resume
    r.render(_scene(m, 2.0))
    assert r.controls.step_frames == 0 and r._notice is not None and not r.controls.paused
    _key(pg, pg.K_SPACE, " ")  # pause again
    pg.event.post(pg.event.Event(pg.QUIT))  # closing the window also ends a pause
    r.render(_scene(m, 3.0))
    assert r.quit_requested and r.controls.quit_reason == "window"


def test_env_window_close_ends_episode_as_user_quit():
    import pygame as pg

    env = gym.make("testbed/Channel-v0", render_mode="human")
    try:
        env.reset(seed=0)
        env.unwrapped._renderer.controls.speed = 64.0
        obs, r, term, trunc, info = env.step(np.array([0.0, 1.0], dtype=np.float32))
        assert not trunc and info["outcome"] is None and not env.unwrapped.user_quit
        pg.event.post(pg.event.Event(pg.QUIT))
        obs, r, term, trunc, info = env.step(np.array([0.0, 1.0], dtype=np.float32))
        assert trunc and not term and info["outcome"] == "user_quit" and env.unwrapped.user_quit
        with pytest.raises(RuntimeError, match="reset"):
            env.step(np.array([0.0, 1.0], dtype=np.float32))
    finally:
        env.close()


def test_env_sigterm_ends_episode_and_close_restores_handlers():
    before = signal.getsignal(signal.SIGTERM)
    env = gym.make("testbed/Channel-v0", render_mode="human")
    try:
        env.reset(seed=0)
        env.unwrapped._renderer.controls.speed = 64.0
        assert signal.getsignal(signal.SIGTERM) is not before
        signal.raise_signal(signal.SIGTERM)
        _, _, term, trunc, info = env.step(np.array([0.0, 1.0], dtype=np.float32))
        assert trunc and info["outcome"] == "user_quit"
        assert env.unwrapped._renderer.controls.quit_reason == "SIGTERM"
    finally:
        env.close()
    assert signal.getsignal(signal.SIGTERM) is before
