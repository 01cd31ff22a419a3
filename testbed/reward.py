"""Named reward components and their weights.

The raw components are computed per step in :func:`testbed.observation.perceive_kernel` (columns of
``World.comps``, in the order of :data:`testbed.observation.COMPONENTS`); the reward is their dot
product with the weights of :class:`testbed.config.RewardConfig`. ``info["reward_components"]`` holds
each weighted component, so the reward is their sum (summed in a fixed order inside the
compiled kernel, so that it is bit-identical whatever the batch size; a BLAS dot product is not).

=============  =================================================================  ==============
component      raw value per step                                                 default weight
=============  =================================================================  ==============
progress       metres gained along the planned route / 100                        +1.0
cross_track    |cross-track error| / 50 m, capped at 3                            -0.02
heading        |route direction - heading| / pi                                   -0.02
collision      1 when the hulls of the ego and a traffic vessel overlap (ends)    -100
grounding      1 when a hull point lies on land (signed distance < 0) (ends)      -100
near_miss      1 while a target's CPA < near_miss_cpa_m within near_miss_tcpa_s  -0.5
speed_limit    speed over ground above harbour_speed_limit_ms in harbour water    -0.1
energy         |revs / max revs|^3                                                -0.005
smoothness     squared change of the action                                       -0.01
goal           1 when the goal is reached (ends)                                  +100
=============  =================================================================  ==============
"""

from __future__ import annotations

import numpy as np

from testbed.observation import COMPONENTS


def weights(rc) -> np.ndarray:
    """(C,) weights of the components, in the order of COMPONENTS."""
    return np.array([float(getattr(rc, name)) for name in COMPONENTS])
