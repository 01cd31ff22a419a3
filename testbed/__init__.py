"""Duisburg Smart Shipping Testbed: environment, scenarios, traffic, AIS, link model and CLI.

Importing ``testbed`` registers the scenarios with Gymnasium under ``testbed/<Name>-v0`` and ``-v1``
(see :mod:`testbed.scenarios`); heavy modules (the world, pygame) load only when an env is made.

Both versions stay supported (``-v1`` only reweights the reward so that RL learns; the benchmark suites,
the autopilot figures and replays use ``-v0``), so Gymnasium's "is out of date" notice for our ``-v0``
ids is silenced here; the Version History in :mod:`testbed.scenarios` says what differs.
"""

import warnings

__version__ = "0.1.0"

warnings.filterwarnings("ignore", message=r".*testbed/[A-Za-z-]+-v0 is out of date.*", category=DeprecationWarning)

from testbed.jit_cache import install as _install_jit_cache  # noqa: E402

_install_jit_cache()  # before any kernel is decorated: cached kernels notice edits of the kernels they call

from testbed.scenarios import register_all as _register_all  # noqa: E402

_register_all()
