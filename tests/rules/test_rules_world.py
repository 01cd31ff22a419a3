"""The rule checker inside the world: zones from the maps, info, reward component, errors, determinism."""

import json
import math

import gymnasium as gym
import numpy as np
import pytest

import testbed  # noqa: F401  (registers the scenarios)
from harbour_maps.format import MapError, parse_map_dict
from testbed.config import ConfigError
from testbed.rules import ARTICLE_IDS
from testbed.rules.zones import KINDS, zone_table
from testbed.world import map_bundle


def test_duisburg_has_every_zone_kind_and_the_gauge_marks():
    zt = zone_table(map_bundle("duisburg_ruhrort")[0])
    assert set(zt.kinds) == set(KINDS)
    assert zt.gauge_marks == (9.30, 11.30)
    entries = {n for n, k in zip(zt.names, zt.kinds, strict=True) if k == "turning_area"}
    assert entries == {"Hafenmund Ruhrort: turning area", "Parallelhafen: turning area", "Aussenhafen: turning area"}
    # every zone covers water cells
    for k in range(len(zt.ids)):
        assert (zt.cell_bits & (1 << k)).any(), zt.ids[k]


def test_synthetic_basin_map_has_mouth_zones():
    zt = zone_table(map_bundle("synthetic_basin_entry")[0])
    assert {"harbour_mouth", "harbour_entry", "narrow", "bridge_opening", "berth_area"} <= set(zt.kinds)
    assert "regulated_meeting" not in zt.kinds  # meeting there is § 6.04


def _fc(props, geom):
    return {"type": "FeatureCollection",
            "metadata": {"format_version": 1, "name": "t", "title": "t", "crs": "EPSG:25832",
                         "origin": {"lon": 6.7, "lat": 51.4}, "extent": [6.69, 51.39, 6.71, 51.41],
                         "accuracy": {"horizontal_m": 1.0, "statement": "test"}, "sources": ["test"],
                         "licence": "CC0-1.0"},
            "features": [{"type": "Feature", "id": "w", "properties": {"type": "water", "name": "w", "kind": "river"},
                          "geometry": {"type": "Polygon", "coordinates": [[[6.695, 51.395], [6.705, 51.395],
                                                                           [6.705, 51.405], [6.695, 51.395]]]}},
                         {"type": "Feature", "id": "z", "properties": props, "geometry": geom}]}


def test_format_rejects_bad_rule_zones_and_marks():
    poly = {"type": "Polygon", "coordinates": [[[6.70, 51.396], [6.704, 51.396], [6.704, 51.399], [6.70, 51.396]]]}
    with pytest.raises(MapError, match=r"feature 'z'.*'kind' is 'harbor'"):
        parse_map_dict(_fc({"type": "rule_zone", "name": "m", "kind": "harbor"}, poly))
    pt = {"type": "Point", "coordinates": [6.70, 51.40]}
    with pytest.raises(MapError, match="'marks_m' must be a non-empty list of strictly increasing"):
        parse_map_dict(_fc({"type": "gauge", "name": "g", "marks_m": [11.3, 9.3]}, pt))
    parse_map_dict(_fc({"type": "rule_zone", "name": "m", "kind": "harbour_mouth", "articles": ["6.16"]}, poly))


def test_unknown_article_ids_are_one_error_naming_them():
    with pytest.raises(ConfigError, match=r"reward.rules_articles.*unknown article id\(s\) \['9.99', 'x'\]"):
        gym.make("testbed/Channel-v0", reward={"rules_articles": {"9.99": -1.0, "6.20": -1.0, "x": 1.0}})


def test_high_water_needs_a_gauge_with_marks():
    with pytest.raises(ConfigError, match="synthetic_channel.*no gauge with 'marks_m'"):
        gym.make("testbed/Channel-v0", rules={"water_level_m": 10.0})


def _run(env, steps, action=(0.0, 0.6)):
    out = []
    for _ in range(steps):
        obs, r, te, tr, info = env.step(np.array(action))
        out.append((r, info))
        if te or tr:
            break
    return out


@pytest.fixture(scope="module")
def speeding_run():
    # downstream from km 779.3 at full speed, no traffic: on the redrawn map the first harbour mouth on the
    # downstream lane is the Rheinpreussen-Hafen's (left bank, about km 781)
    env = gym.make("testbed/Encounter-HarbourCrossing-v0", traffic={"count": 0, "placed_lanes": [],
                   "placed_along_m": [], "placed_speed_ms": []}, reward={"rules_articles": {"6.20": -5.0}})
    env.reset(seed=0)
    return _run(env, 300, action=(0.0, 1.0))


def test_rules_reward_component_and_info(speeding_run):
    hits = [(r, info) for r, info in speeding_run if info["rule_events"]]
    assert hits, "the ego at 60 % revs speeds past the harbour mouth"
    r, info = hits[0]
    ev = info["rule_events"][0]
    assert ev["article"] == "RheinSchPV §6.20" and ev["vessels"] == ["ego"]
    assert info["reward_components"]["rules"] == -5.0
    assert math.isclose(sum(info["reward_components"].values()), r, rel_tol=1e-9, abs_tol=1e-9)
    last = speeding_run[-1][1]
    assert set(last["rule_violations"]) == set(ARTICLE_IDS)
    assert last["rule_violations"]["6.20"] >= 1
    quiet = [info for _, info in speeding_run if not info["rule_events"]]
    assert all(i["reward_components"]["rules"] == 0.0 for i in quiet)
    json.dumps(last)  # the info is JSON-serialisable


def test_rules_weight_zero_by_default_and_determinism():
    a = gym.make("testbed/PortEntry-v0", traffic={"count": 6})
    b = gym.make("testbed/PortEntry-v0", traffic={"count": 6})
    a.reset(seed=3)
    b.reset(seed=3)
    ra, rb = _run(a, 150), _run(b, 150)
    assert [x[1]["rule_events"] for x in ra] == [x[1]["rule_events"] for x in rb]
    assert all(x[1]["reward_components"]["rules"] == 0.0 for x in ra)


def test_batch_equals_single_env():
    venv = gym.make_vec("testbed/PortEntry-v0", num_envs=2, vectorization_mode="vector_entry_point",
                        traffic={"count": 6})
    venv.reset(seed=5)
    single = gym.make("testbed/PortEntry-v0", traffic={"count": 6})
    single.reset(seed=6)  # env 1 of the batch reset with 5 equals the single env reset with 6
    w = venv.unwrapped.world
    for _ in range(150):
        venv.step(np.tile([0.0, 0.6], (2, 1)))
        _, _, te, tr, info = single.step(np.array([0.0, 0.6]))
        if te or tr:
            break
    sw = single.unwrapped.world
    assert w.rules.counts_by_article(1) == sw.rules.counts_by_article(0)
    assert [(v.rule, v.time_s, v.vessels) for v in w.rules.events[1]] == \
        [(v.rule, v.time_s, v.vessels) for v in sw.rules.events[0]]


def test_replay_events_of_violations():
    from testbed.rules.encounters import ENCOUNTERS, run_encounter
    from testbed.rules.report import replay_events

    evs = replay_events(run_encounter(ENCOUNTERS["HarbourCrossing"]), 1.0)
    assert len(evs) == 1
    e = evs[0]
    assert e["kind"] == "rule_violation" and e["vessel"] is None and e["text"].startswith("RheinSchPV §6.16: ego ")
    assert e["step"] == round(e["t"])


def test_zones_a_scenario_needs_are_named_when_missing():
    with pytest.raises(ConfigError, match=r"synthetic_channel' has no rule zone\(s\) of kind \['harbour_entry', "
                                          r"'turning_area', 'narrow'\] that rules.require_zones needs"):
        gym.make("testbed/Channel-v0", rules={"require_zones": ["harbour_entry", "turning_area", "narrow"]})
    with pytest.raises(ConfigError, match=r"unknown zone kind\(s\) \['mouth'\]"):
        gym.make("testbed/Channel-v0", rules={"require_zones": ["mouth"]})
    gym.make("testbed/Encounter-RuhrortEntry-v0")  # Duisburg has them
