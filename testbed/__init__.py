"""Duisburg Smart Shipping Testbed: environment, scenarios, traffic, AIS, link model and CLI.

Importing ``testbed`` registers the scenarios with Gymnasium under ``testbed/<Name>-v0``
(see :mod:`testbed.scenarios`); heavy modules (the world, pygame) load only when an env is made.
"""

__version__ = "0.1.0"

from testbed.scenarios import register_all as _register_all  # noqa: E402

_register_all()
