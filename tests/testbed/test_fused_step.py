"""The world's step in two compiled calls (testbed/world_kernels.py) gives bit for bit what calling the
parts one by one gives (``World.fuse = False``), with resets, AIS replay handovers, rule events and the link."""

from __future__ import annotations

import numpy as np
import pytest

from testbed.config import apply_overrides
from testbed.scenarios import get
from testbed.world import World
from vessels.state import VesselState

VARIANTS = [
    ("PortEntry-v1", []),  # AIS replay with handovers, AIS reports, rules
    ("Encounter-HarbourCrossing-v0", []),  # rule events
    ("PortEntry-v1", ["ego.model=nomoto", "traffic.source=scripted", "observation.ais_position_noise_m=20"]),
    ("PortEntry-v1", ["link.profile=degraded", "link.mode=remote", "rules.enabled=false"]),
    ("Channel-v1", ["traffic.count=0", "observation.targets=truth"]),
]


def _run(cfg, fuse: bool, n_envs: int = 4, steps: int = 240):
    w = World(cfg, n_envs)
    w.fuse = fuse
    rng = np.random.default_rng(11)
    out, events, handed, fused_steps = [], [], 0, 0
    for e in range(n_envs):
        w.reset_env(e, seed=20 + e)
    for i in range(steps):
        a = rng.uniform(-1.0, 1.0, (n_envs, 2))
        a[0] = (0.05, 0.8)  # egos that keep going
        a[1] = (0.0, 1.0)
        reward, term, trunc, comps = w.step(a)
        fused_steps += bool(w._fused)
        out.append(np.concatenate([w.obs.ravel().astype(np.float64), reward, term, trunc, comps.ravel(),
                                   w.feats.ravel(), w.t, w.rules_reward]))  # fmt: skip
        events += [v.to_dict() for v in (w.rules.step_events if w.rules is not None else [])]
        handed = max(handed, int((w.traffic.handed == 2).sum()))
        for e in np.flatnonzero(term | trunc):
            w.reset_env(int(e))
        if i % 40 == 0:
            out.append(np.array([hash(repr(w.info(i % n_envs)))], dtype=np.float64))
    return np.concatenate(out), events, handed, fused_steps


@pytest.mark.parametrize(("name", "overrides"), VARIANTS)
def test_fused_step_is_the_part_by_part_step(name, overrides):
    cfg = apply_overrides(get(name), None, overrides)
    fused, ev_f, handed, n_fused = _run(cfg, True)
    assert n_fused == 240, "the fused step was not taken"
    ref, ev_r, handed_r, n_ref = _run(cfg, False)
    assert n_ref == 0
    assert fused.tobytes() == ref.tobytes()
    assert ev_f == ev_r
    assert handed == handed_r
    if name == "PortEntry-v1" and not overrides:  # the paths these scenarios must exercise
        assert handed > 0, "no replayed vessel was handed over"
    if name.startswith("Encounter"):
        assert ev_f, "no rule event"


def test_arrays_replaced_before_a_step_are_used():
    """The kernels' arguments are looked up again at the first step after a reset: a part's array replaced
    after the world was made (as tests/rules do with the traffic's zone table) is the one stepped."""
    cfg = apply_overrides(get("PortEntry-v1"), None, ["traffic.source=scripted"])
    runs = []
    for fuse in (True, False):
        w = World(cfg, 2)
        w.fuse = fuse
        w.reset_env(0, seed=1)
        w.reset_env(1, seed=2)
        w.step(np.zeros((2, 2)))
        w.traffic.zmasks = np.zeros_like(w.traffic.zmasks)
        w.reset_env(1)
        for _ in range(60):
            w.step(np.full((2, 2), 0.3))
        runs.append(np.concatenate([w.traffic.state.x, w.traffic.state.u, w.obs.ravel()]))
    assert runs[0].tobytes() == runs[1].tobytes()


def test_vessel_state_block():
    st = VesselState.zeros(5)
    b = st.block()
    assert b is not None and b.shape == (8, 5)
    st.psi[2] = 1.5
    assert b[2, 2] == 1.5
    st.u = np.ones(5)  # a field replaced: no longer one block
    assert st.block() is None
    assert VesselState.zeros(3).copy().block() is None


@pytest.mark.parametrize("fuse", [True, False])
def test_a_dynamics_error_is_raised_before_anything_moves(fuse):
    """A NaN command (here: a NaN revs limit) is the same ParameterError on both paths, before the ego moves."""
    from vessels.state import ParameterError

    w = World(get("Channel-v1"), 2)
    w.fuse = fuse
    w.reset_env(0, seed=0)
    w.reset_env(1, seed=1)
    w.step(np.zeros((2, 2)))
    x, t = w.ego.x.copy(), w.t.copy()
    w.ego_nmax[1] = np.nan
    with pytest.raises(ParameterError, match="revs_cmd contains NaN or inf"):
        w.step(np.full((2, 2), 0.5))
    assert np.array_equal(w.ego.x, x) and np.array_equal(w.t, t)
