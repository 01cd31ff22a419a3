"""RheinSchPV § 9.07 Nr. 5 in the passage plan (testbed.rules.passage): the AIS synthesiser and PortEntry-v2's
route share one loop construction; the autopilot sails the loop without a § 9.07 violation."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from testbed.config import ConfigError
from testbed.rules.passage import FACED_UP, Passage, densify
from testbed.scenarios import compose_scenario, get
from testbed.world import World, map_bundle

SHIPPED = Path(__file__).resolve().parents[2] / "testbed" / "data" / "ais" / "duisburg_synth_2h.nmea"
DOWN = ["start.lanes=[lane-rhine-down]", "start.km=[777.8,779.0]", "traffic.count=0"]
UP = ["start.lanes=[lane-rhine-up]", "start.km=[781.6,782.4]", "traffic.count=0"]


def _routes(name, overrides, seeds):
    w = World(compose_scenario(name, overrides), 1)
    out = []
    for s in seeds:
        w.reset_env(0, s)
        out.append(w.route[0, :w.route_n[0]].copy())
    return out


@pytest.fixture(scope="module")
def passage():
    hmap, planner, _ = map_bundle("duisburg_ruhrort")
    return Passage(hmap, planner)


def test_v2_routes_face_upstream_before_the_hafenmund(passage):
    """Downstream starts: v1's shortest route enters the Hafenmund heading downstream (a violation by the
    synthesiser's and the checker's reading); v2's route loops to face upstream first, in the turning area."""
    seeds = range(6)
    v1 = _routes("PortEntry-v1", DOWN, seeds)
    v2 = _routes("PortEntry-v2", DOWN, seeds)
    m_entry = passage.m_entry_turn
    for a, b in zip(v1, v2, strict=True):
        assert passage.turn_violation(a)
        assert not passage.turn_violation(b)
        assert np.array_equal(a[-1], b[-1]) and np.array_equal(a[0], b[0])  # same start and berth
        q = densify(b, 4.0)
        d = np.diff(q, axis=0)
        th = np.r_[np.arctan2(d[:, 0], d[:, 1]), 0.0]
        zb = passage.bits(q)
        k = int(np.argmax((zb & m_entry) != 0))  # first point in a turn-first entry zone
        cup = passage.cup_at(q[:k], th[:k])
        up = np.flatnonzero(cup < FACED_UP)
        assert up.size and (zb[up[-1]] & passage.m_turn) != 0  # faced upstream in the turning area
        assert (cup[up[-1]:] <= 0.8).all()  # ... and not headed downstream again before the entry
        # the loop adds the turn, not a detour: at most ~1.5 km longer
        length = [float(np.hypot(*np.diff(r, axis=0).T).sum()) for r in (a, b)]
        assert 300.0 < length[1] - length[0] < 1500.0
        assert hmap_clear(passage, b)


def hmap_clear(passage, route):
    return bool((passage.map.signed_distance(densify(route, 5.0)) > 0.0).all())


def test_upstream_and_v0_v1_routes_unchanged():
    """The flag changes nothing where no turn is needed (upstream starts), and v0/v1 keep the shortest route."""
    seeds = range(4)
    for a, b in zip(_routes("PortEntry-v1", UP, seeds), _routes("PortEntry-v2", UP, seeds), strict=True):
        assert np.array_equal(a, b)
    v0 = _routes("PortEntry-v0", DOWN, seeds)
    off = _routes("PortEntry-v2", DOWN + ["goal.turn_before_entry=false"], seeds)
    for a, b in zip(v0, off, strict=True):
        assert np.array_equal(a, b)
    assert not get("PortEntry-v0").goal.turn_before_entry and not get("PortEntry-v1").goal.turn_before_entry
    assert get("PortEntry-v2").goal.turn_before_entry and get("PortEntry-v2").reward == get("PortEntry-v1").reward


def test_v2_is_deterministic():
    cfg = compose_scenario("PortEntry-v2", DOWN[:2])  # with the AIS traffic

    def run():
        w = World(cfg, 1)
        w.reset_env(0, 7)
        route = w.route[0, :w.route_n[0]].copy()
        obs = []
        for k in range(200):
            w.step(np.array([[0.2 * math.sin(0.05 * k), 0.6]]))
            obs.append(w.obs[0].copy())
        return route, np.array(obs)

    (r1, o1), (r2, o2) = run(), run()
    assert np.array_equal(r1, r2) and np.array_equal(o1, o2)


def test_unknown_goal_key_is_an_error():
    with pytest.raises(ConfigError, match="turn_before_entr"):
        compose_scenario("PortEntry-v2", ["goal.turn_before_entr=true"])


def test_autopilot_sails_the_loop_and_berths_without_a_907_violation():
    """A downstream start on PortEntry-v2 (seed 1, no traffic): the autopilot follows the loop, reaches
    the berth and makes no § 9.07 violation."""
    from agents.autopilot import Autopilot

    w = World(compose_scenario("PortEntry-v2", DOWN), 1)
    w.reset_env(0, 1)
    ap = Autopilot()
    for _ in range(4500):
        _, term, trunc, _ = w.step(ap.act_batch(w.obs.copy()).astype(np.float64))
        if term[0] or trunc[0]:
            break
    counts = w.rules.counts_by_article(0, 0)
    assert str(w.outcomes()[0]) == "goal" and counts["9.07"] == 0


@pytest.mark.slow
def test_synth_recording_unchanged_by_the_shared_loop(tmp_path):
    """The synthesiser builds its loops with testbed.rules.passage: the shipped recording is regenerated
    byte for byte."""
    from testbed.ais.synth import write_synth

    out = tmp_path / "synth.nmea"
    write_synth(out)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(SHIPPED.read_bytes()).hexdigest()


def test_no_loop_that_fits_is_one_error_naming_the_berth(monkeypatch):
    import testbed.rules.passage as passage_mod

    # a loop far wider than the river: no candidate keeps clear of the banks
    monkeypatch.setattr(passage_mod, "EGO_LOOP", passage_mod.LoopShape(
        backs=(200.0,), sides=(-1.0,), radii=(400.0,), margin_m=5.0, steps=passage_mod.EGO_LOOP.steps,
        clear_within_m=300.0))
    w = World(compose_scenario("PortEntry-v2", DOWN), 1)
    with pytest.raises(ConfigError, match=r"goal.turn_before_entry: no loop .* berth 'berth-\d\d'"):
        w.reset_env(0, 0)
