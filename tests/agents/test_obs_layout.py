"""The autopilot reads the observation by index: its layout constants must match the environment's."""

import gymnasium as gym

import testbed  # noqa: F401
from agents import autopilot
from testbed import observation as ob


def test_autopilot_layout_matches_the_env():
    assert (autopilot.N_EGO, autopilot.TARGET_FEATURES, autopilot.N_LINK) == (ob.N_EGO, ob.TARGET_FEATURES,
                                                                             ob.N_LINK)  # fmt: skip
    env = gym.make("testbed/PortEntry-v0")
    pilot = autopilot.Autopilot(n_rays=32, n_targets=8)
    assert env.observation_space.shape == (pilot.obs_dim,)
