"""Shared timing helpers for the benchmark scripts (not tests).

Every figure is reported with a baseline measured in the same run, because the machines are noisy:
``numpy_pass(n_floats)`` times one plain numpy pass ``a * 1.0001 + b`` over the same number of floats.
"""

from __future__ import annotations

import time

import numpy as np


def best_time(fn, repeat: int = 5, min_time: float = 0.2) -> float:
    """Best seconds per call of ``fn`` over ``repeat`` rounds of at least ``min_time`` seconds."""
    fn()
    calls = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time:
            break
        calls *= 2
    best = dt / calls
    for _ in range(repeat - 1):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def numpy_pass(n_floats: int) -> float:
    """Seconds for one plain numpy pass ``a * 1.0001 + b`` over ``n_floats`` float64 values."""
    a = np.random.default_rng(0).random(max(1, n_floats))
    b = a.copy()
    out = np.empty_like(a)

    def run():
        np.multiply(a, 1.0001, out=out)
        np.add(out, b, out=out)

    return best_time(run)
