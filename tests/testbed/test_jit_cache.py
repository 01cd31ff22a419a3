"""testbed.jit_cache: a cached kernel is compiled again when a kernel it calls (in another file) changed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

RUN = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {pkg!r})
    if {install}:  # (importing testbed installs the locators; without them: numba alone)
        import testbed.jit_cache as jc
        jc._ROOTS = ({pkg!r} + os.sep,)
        assert jc.install()
    import caller_mod
    print(caller_mod.g(1.0))
""")


def _write_callee(pkg, value: int, when: float) -> None:
    path = os.path.join(pkg, "callee_mod.py")
    with open(path, "w") as fh:
        fh.write(f"import numba\n\n@numba.njit(cache=True)\ndef f(x):\n    return x + {value}\n")
    os.utime(path, (when, when))


def _run(pkg, cache, install: bool) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    code = RUN.format(pkg=str(pkg), install=install)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


@pytest.mark.parametrize("install", [True, False])
def test_caller_recompiles_after_callee_edit(tmp_path, install):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "caller_mod.py").write_text(
        "import numba\nimport callee_mod\n\n@numba.njit(cache=True)\ndef g(x):\n    return callee_mod.f(x) * 10\n")
    _write_callee(pkg, 1, 1_700_000_000)
    assert _run(pkg, tmp_path / "cache", install) == "20.0"
    assert _run(pkg, tmp_path / "cache", install) == "20.0"  # from the cache
    _write_callee(pkg, 2, 1_700_000_100)  # only the callee's file changes
    # with the locators the caller sees the edit; numba alone runs the stale machine code (why they exist)
    assert _run(pkg, tmp_path / "cache", install) == ("30.0" if install else "20.0")


def test_fused_step_knows_its_callees():
    import testbed  # noqa: F401  (installs the locators)
    from testbed import world_kernels as wk
    from testbed.jit_cache import callee_files

    names = {os.path.relpath(p, os.path.dirname(os.path.dirname(wk.__file__))) for p in
             callee_files(wk.advance_kernel.py_func) + callee_files(wk.observe_kernel.py_func)}
    for need in ("testbed/traffic.py", "testbed/observation.py", "testbed/rules/kernel.py", "testbed/ais/replay.py",
                 "testbed/ais/reporting.py", "vessels/mmg.py", "vessels/nomoto.py", "harbour_maps/kernels.py"):
        assert need in names, names
    assert type(wk.advance_kernel._cache._impl.locator).__name__.startswith("Callees")
