"""Numba's on-disk cache, made to notice changes in the kernels a kernel calls.

Numba keys a cached kernel (``@numba.njit(cache=True)``) on the modification time and size of the one
source file that defines it. A kernel that calls kernels of other modules (the fused step in
:mod:`testbed.world_kernels` calls the traffic, perception, replay and rule kernels; traffic and
perception call the map kernels) compiles their code into its own, so after an edit of a callee's file
numba would load the caller's stale machine code and silently run the old callee.

:func:`install` (called by ``import testbed``, before any kernel of the package is decorated) puts
a cache locator in front of numba's own: for kernels defined in this project's packages
(``testbed``, ``harbour_maps``, ``vessels``) the source stamp also holds the stamps of every source
file whose kernels the kernel calls, transitively (found through the compiled functions and modules its
code names). A changed callee file makes the caller's index stale, and numba compiles it again.
Everything else (where the cache lives, the index format) stays numba's. If numba's internals ever
differ from what this expects, :func:`install` does nothing and numba's own behaviour applies.
"""

from __future__ import annotations

import os
import types
from pathlib import Path

_ROOTS = tuple(str(Path(__file__).resolve().parent.parent / p) + os.sep for p in ("testbed", "harbour_maps", "vessels"))
_installed = False


def _ours(path: str | None) -> bool:
    return bool(path) and os.path.realpath(path).startswith(_ROOTS)


def _stamp(path: str) -> tuple:
    st = os.stat(path)
    return (os.path.realpath(path), st.st_mtime, st.st_size)


def callee_files(py_func) -> list[str]:
    """The source files (other than ``py_func``'s own) of the compiled functions that ``py_func`` calls,
    transitively: dispatchers it names directly, and those it reaches as ``module.kernel``."""
    from numba.core.dispatcher import Dispatcher

    own = os.path.realpath(py_func.__code__.co_filename)
    files: set[str] = set()
    seen: set[int] = set()
    todo = [py_func]
    while todo:
        f = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        code, glb = f.__code__, f.__globals__
        names = set(code.co_names)
        for const in code.co_consts:  # nested code objects (rare in kernels)
            if isinstance(const, types.CodeType):
                names |= set(const.co_names)
        for name in names:
            g = glb.get(name)
            if isinstance(g, types.ModuleType):
                for attr in names:
                    d = getattr(g, attr, None)
                    if isinstance(d, Dispatcher):
                        todo.append(d.py_func)
            elif isinstance(g, Dispatcher):
                todo.append(g.py_func)
        path = os.path.realpath(code.co_filename)
        if path != own and _ours(path):
            files.add(path)
    return sorted(files)


def install() -> bool:
    """Register the dependency-aware locators (idempotent). Returns whether they are in place."""
    global _installed
    if _installed:
        return True
    try:
        from numba.core import caching

        bases = [caching.UserProvidedCacheLocator, caching.InTreeCacheLocator, caching.UserWideCacheLocator]
        locators = caching.CacheImpl._locator_classes
    except (ImportError, AttributeError):
        return False

    def with_callees(base):
        class Locator(base):
            @classmethod
            def from_function(cls, py_func, py_file):
                if not _ours(py_file):
                    return None
                self = super().from_function(py_func, py_file)
                if self is not None:
                    self._callee_py_func = py_func
                return self

            def get_source_stamp(self):
                own = super().get_source_stamp()
                return (own, tuple(_stamp(p) for p in callee_files(self._callee_py_func)))

        Locator.__name__ = Locator.__qualname__ = f"Callees{base.__name__}"
        return Locator

    locators[:0] = [with_callees(b) for b in bases]
    _installed = True
    return True
