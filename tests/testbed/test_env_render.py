"""Rendering through the env: rgb_array frames, cameras, RecordVideo, human mode headless."""

import gymnasium as gym
import numpy as np
import pytest

import testbed  # noqa: F401


def test_rgb_array_frames_follow_and_map():
    env = gym.make("testbed/PortEntry-v0", render_mode="rgb_array")
    env.reset(seed=0)
    f1 = env.render()
    assert f1.dtype == np.uint8 and f1.ndim == 3 and f1.shape[2] == 3
    env.step(np.array([0.0, 1.0], dtype=np.float32))
    env2 = gym.make("testbed/PortEntry-v0", render_mode="rgb_array", camera="map")
    env2.reset(seed=0)
    f2 = env2.render()
    assert f2.shape == f1.shape and not np.array_equal(f1, f2)
    scene = env.unwrapped.scene()
    assert scene.ego.length == pytest.approx(110.0) and len(scene.ray_lengths) == 32
    assert set(scene.hud) >= {"time", "SOG", "heading", "rudder", "engine", "to goal"}
    assert "progress" in scene.reward_components
    env.close()
    env2.close()


def test_record_video_writes_an_mp4_or_frames(tmp_path):
    from gymnasium.wrappers import RecordVideo

    env = RecordVideo(gym.make("testbed/Channel-v0", render_mode="rgb_array"), str(tmp_path),
                      episode_trigger=lambda e: True)  # fmt: skip
    env.reset(seed=0)
    for _ in range(10):
        env.step(np.array([0.0, 1.0], dtype=np.float32))
    env.close()
    assert list(tmp_path.glob("*.mp4"))


def test_human_mode_headless():
    env = gym.make("testbed/Channel-v0", render_mode="human")
    env.reset(seed=0)
    env.step(np.array([0.0, 1.0], dtype=np.float32))
    assert env.render() is None
    env.close()
