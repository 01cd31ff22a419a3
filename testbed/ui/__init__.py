"""User-interface pieces shared by the testbed's windows (see :mod:`testbed.ui.controls`)."""

from testbed.ui.controls import MAX_SPEED, MIN_SPEED, SPEEDS, PlaybackControls

__all__ = ["PlaybackControls", "SPEEDS", "MIN_SPEED", "MAX_SPEED"]
