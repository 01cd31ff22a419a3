"""Wrappers around the testbed environments.

:class:`DiscreteActions` turns the continuous ``[rudder, engine]`` action into ``Discrete(R x P)``:
R rudder levels (default -1, -0.5, 0, 0.5, 1 of the maximum rudder) times P engine levels (default
-0.5, 0, 0.5, 1 of the maximum revs). Action ``k`` is rudder level ``k // P`` and engine level ``k % P``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class DiscreteActions(gym.ActionWrapper):
    def __init__(self, env: gym.Env, rudder_levels=(-1.0, -0.5, 0.0, 0.5, 1.0),
                 engine_levels=(-0.5, 0.0, 0.5, 1.0)) -> None:  # fmt: skip
        super().__init__(env)
        r = np.asarray(rudder_levels, dtype=np.float32)
        p = np.asarray(engine_levels, dtype=np.float32)
        if r.ndim != 1 or p.ndim != 1 or not len(r) or not len(p):
            raise ValueError("rudder_levels and engine_levels must be non-empty sequences")
        if np.any(np.abs(r) > 1) or np.any(np.abs(p) > 1):
            raise ValueError(f"levels must lie in [-1, 1]: rudder {r.tolist()}, engine {p.tolist()}")
        self._table = np.array([[a, b] for a in r for b in p], dtype=np.float32)
        self.action_space = gym.spaces.Discrete(len(self._table))

    def action(self, action):
        k = int(action)
        if not 0 <= k < len(self._table):
            raise ValueError(f"discrete action {action!r} outside 0..{len(self._table) - 1}")
        return self._table[k]
