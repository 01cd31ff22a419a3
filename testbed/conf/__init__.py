"""The configuration files the package reads, shipped as package data (``testbed/conf/``).

Layout: ``*.yaml`` at the top are Hydra scenario files that extend a registered scenario
(``testbed run port_entry_busy``); ``link/`` holds the link profiles; other subdirectories are one
config group each. Everything is found through :mod:`importlib.resources`, never through a path
relative to the repository, so an installed wheel finds the same files as a checkout.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def conf_dir(*parts: str) -> Path:
    """The installed ``testbed/conf`` directory (or ``testbed/conf/<parts...>``) as a filesystem path.

    Hydra's ``initialize_config_dir`` and the YAML readers need a real directory; wheels install
    unzipped, so the package resource is one."""
    root = files(__name__)
    if not isinstance(root, Path):  # pragma: no cover - zipimport / exotic loaders
        raise RuntimeError(f"testbed/conf is not on the file system ({root!r}); install the package unzipped")
    return root.joinpath(*parts)


def yaml_names(*parts: str) -> list[str]:
    """The stems of the ``*.yaml`` files in ``testbed/conf/<parts...>`` (sorted)."""
    d = conf_dir(*parts)
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []
