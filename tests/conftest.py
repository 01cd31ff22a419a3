"""Test-wide settings: headless graphics, a private raster cache, Agg plots."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TESTBED_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".cache", "testbed"))
