"""Atomic file writes, shared by every package: a crash never leaves a half-written file.

The data goes to a temporary file in the target's folder, which replaces the target with
``os.replace`` (atomic on POSIX and Windows) only once it is complete; on any error the temporary file
is removed and the target is untouched.

    with atomic_open("out.json", "w") as fh:    # a file object
        json.dump(data, fh)
    with atomic_path("plot.png") as tmp:         # a path, for libraries that write by file name
        fig.savefig(tmp, format="png")
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike, fsync: bool = False) -> Iterator[str]:
    """Yield a temporary path next to ``path``; move it onto ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", fsync: bool = False, **kwargs) -> Iterator:
    """Like ``open(path, mode)`` for writing, but atomic (see the module docstring)."""
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path, fsync=fsync) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)
