"""Errors raised by the :mod:`vessels` package.

All of them subclass :class:`ValueError` (and :class:`KeyError` for look-ups), so that the
``testbed`` command line prints their message without a traceback and exits with status 2.
"""

from __future__ import annotations


class VesselError(ValueError):
    """Base class of every error of the vessels package."""


class VesselTypeError(VesselError, KeyError):
    """An unknown vessel type id, AIS ship type or ERI code.

    Subclasses both :class:`ValueError` and :class:`KeyError`. ``str()`` gives the plain message
    (a bare ``KeyError`` would wrap it in quotes).
    """

    def __str__(self) -> str:  # KeyError.__str__ would repr() the message
        return str(self.args[0]) if self.args else ""


class ParameterError(VesselError):
    """A vessel parameter (or a step argument) is NaN, infinite, negative or otherwise invalid."""
