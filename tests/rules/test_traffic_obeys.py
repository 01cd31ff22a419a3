"""Scripted traffic obeys the traffic rules: 2 h of the default scripted traffic with zero violations by the
traffic, the § 6.16 wait at a harbour mouth, and the lane-following pieces it rests on."""

import math
from dataclasses import replace

import numpy as np
import pytest

from testbed.config import apply_overrides
from testbed.rules.report import check_run
from testbed.scenarios import get
from testbed.traffic import _project, _without_hairpins
from testbed.world import World

DEFAULTS = [("PortEntry-v0", {}, "autopilot"), ("RhineTransit-v0", {}, "autopilot")]
MORE = [("PortEntry-v0", {}, "idle"), ("RhineTransit-v0", {}, "idle"), ("PortEntry-v0", {"count": 20}, "autopilot"),
        ("PortEntry-v0", {"count": 20}, "idle"), ("RhineTransit-v0", {"count": 20}, "autopilot"),
        ("RhineTransit-v0", {"count": 20}, "idle")]


def _check(scenario, traffic, agent, hours=2.0):
    cfg = apply_overrides(get(scenario), {"traffic": {"source": "scripted", **traffic}})
    res = check_run(cfg, hours, 0, agent)
    assert res["hours"] >= hours - 1e-6
    return res


@pytest.mark.parametrize("scenario,traffic,agent", DEFAULTS)
def test_two_hours_of_default_scripted_traffic_without_a_violation(scenario, traffic, agent):
    res = _check(scenario, traffic, agent)
    assert sum(res["traffic_violations"].values()) == 0, res["traffic_events"][:3]


@pytest.mark.slow
@pytest.mark.parametrize("scenario,traffic,agent", MORE)
def test_two_hours_of_busier_scripted_traffic_and_an_idle_ego(scenario, traffic, agent):
    res = _check(scenario, traffic, agent)
    assert sum(res["traffic_violations"].values()) == 0, res["traffic_events"][:3]


def _mouth_world(obey: bool, back_m: float = 1200.0) -> World:
    """A vessel leaving the Hafenkanal (700 m before its lane ends in the Hafenmund) and a downstream
    vessel on the Rhine ``back_m`` before the mouth: they would meet there."""
    cfg = get("PortEntry-v0")
    lt = World(cfg, 1).traffic.lanes
    out, down = lt.ids.index("lane-hafenkanal~rev"), lt.ids.index("lane-rhine-down")
    end = lt.xy[lt.start[out + 1] - 1]
    river = lt.xy[lt.start[down]:lt.start[down + 1]]
    s_mouth = lt.s[lt.start[down] + int(np.argmin(np.hypot(*(river - end).T)))]
    tc = replace(cfg.traffic, source="scripted", count=2, lanes=[], placed_lanes=[lt.ids[out], lt.ids[down]],
                 placed_along_m=[lt.length[out] - 700.0, s_mouth - back_m], placed_speed_ms=[2.5, 3.0],
                 placed_types=["M8", "M8"])
    w = World(replace(cfg, traffic=tc), 1)
    w.reset_env(0, seed=0)
    if not obey:  # the same vessels without the rule behaviour (the checker still runs)
        w.traffic.zbits = np.zeros(1, dtype=np.int64)
    w.ego.x[0], w.ego.y[0], w.ego.u[0], w.ego.n[0] = 2000.0, 300.0, 0.0, 0.0  # parked in basin C
    return w


def test_a_vessel_leaving_a_harbour_waits_for_the_through_vessel():
    out = {}
    for obey in (True, False):
        w = _mouth_world(obey)
        tr, events, left = w.traffic, [], None
        for t in range(600):
            w.step(np.zeros((1, 2)))
            events += [e for e in w.rules.step_events if e.rule == "6.16"]
            if left is None and not tr.active[0]:
                left = t  # reached its lane's end in the Hafenmund
        out[obey] = (events, left)
    assert out[False][0] and out[False][0][0].at_fault == ("traffic_0",)  # without waiting: § 6.16
    assert out[True][0] == [] and out[True][1] is not None  # it waited, then left
    assert out[True][1] > out[False][1] + 60


def test_scripted_traffic_with_rules_is_bit_identical_for_a_seed():
    cfg = apply_overrides(get("PortEntry-v0"), {"traffic": {"count": 20, "source": "scripted", "lanes": []}})
    states = []
    for _ in range(2):
        w = World(cfg, 1)
        w.reset_env(0, seed=3)
        for _ in range(400):
            w.step(np.tile([[0.1, 0.6]], (1, 1)))
        st = w.traffic.state
        states.append(np.concatenate([st.x, st.y, st.psi, st.u, w.traffic.active.astype(float)]))
    assert states[0].tobytes() == states[1].tobytes()


def test_lanes_lose_their_hairpins_and_drifting_vessels_keep_their_place_on_the_lane():
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [200.0, 0.0], [160.0, 1.0], [150.0, 100.0], [150.0, 200.0]])
    clean = _without_hairpins(xy)  # the lane doubled back at (200, 0): a vessel cannot follow that
    assert clean.tolist() == [[0.0, 0.0], [100.0, 0.0], [160.0, 1.0], [150.0, 100.0], [150.0, 200.0]]
    lxy = np.array([[0.0, 0.0], [100.0, 0.0], [200.0, 0.0]])
    ls = np.array([0.0, 100.0, 200.0])
    seg = np.array([1])  # on the second segment ...
    s = _project(lxy, ls, 0, 3, seg, 0, 60.0, 5.0)  # ... drifted back to 60 m
    assert seg[0] == 0 and math.isclose(s, 60.0)
    assert math.isclose(_project(lxy, ls, 0, 3, seg, 0, 150.0, -3.0), 150.0) and seg[0] == 1
