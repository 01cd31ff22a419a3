"""The score formula on hand-made episode results, and the metric accumulator on synthetic infos."""

import math

import pytest

from testbed.evaluation.metrics import AUTOPILOT_SCORE, EpisodeMetrics, case_score, episode_quality, score


def ep(outcome="goal", progress=1.0, t=500.0, near=0.0):
    return {"outcome": outcome, "success": int(outcome == "goal"), "progress": progress,
            "time_to_goal_s": t if outcome == "goal" else None, "near_miss_s": near}


def test_episode_quality_formula():
    assert episode_quality(ep(t=500.0), 1000.0, "finished") == pytest.approx(0.25 + 0.5 + 0.25 * 0.5)
    assert episode_quality(ep("time_limit", 0.4), 1000.0, "finished") == pytest.approx(0.1)
    for bad in ("collision", "grounding", "left_map"):
        assert episode_quality(ep(bad, 0.9), 1000.0, "finished") == 0.0
    # a near miss of 30 s costs a quarter, 60 s or more half
    assert episode_quality(ep(t=0.0, near=30.0), 1000.0, "finished") == pytest.approx(0.75)
    assert episode_quality(ep(t=0.0, near=600.0), 1000.0, "finished") == pytest.approx(0.5)
    for status in ("crashed", "timeout", "invalid_action", "rejected"):
        assert episode_quality(ep(), 1000.0, status) == 0.0


def test_case_score_anchors():
    idle, auto = [0.1, 0.2], [0.7, 0.8]
    assert case_score(idle, idle, auto) == 0.0
    assert case_score(auto, idle, auto) == AUTOPILOT_SCORE == 100.0
    assert case_score([1.0, 1.0], idle, auto) == pytest.approx(200.0)
    assert case_score([0.0, 0.0], idle, auto) == pytest.approx(-100.0)
    assert case_score([0.45, 0.45], idle, auto) == pytest.approx(50.0)  # halfway between the baselines
    assert case_score([0.075, 0.075], idle, auto) == pytest.approx(-50.0)
    assert case_score([0.875, 0.875], idle, auto) == pytest.approx(150.0)
    assert math.isnan(case_score([], idle, auto))
    # a perfect autopilot: matching it is 100
    assert case_score([1.0], [0.0], [1.0]) == 100.0


def test_overall_is_mean_of_cases_and_needs_baselines():
    idle = {"a": {0: 0.0, 1: 0.0}, "b": {0: 0.2}}
    auto = {"a": {0: 0.8, 1: 0.6}, "b": {0: 0.6}}
    overall, per = score({"a": {0: 0.8, 1: 0.6}, "b": {0: 0.4}}, idle, auto)
    assert per == {"a": 100.0, "b": pytest.approx(50.0)}
    assert overall == pytest.approx(75.0)
    # a case scored on the seeds present only (partial results count)
    overall, per = score({"a": {0: 0.4}}, idle, auto)
    assert per["a"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="no baseline result"):
        score({"a": {7: 0.4}}, idle, auto)


def _info(t, d, cross, cpa=math.inf, near=0.0, energy=0.0, outcome=None, link=None):
    return {"time_s": t, "distance_to_goal_m": d, "cross_track_m": cross, "min_cpa_m": cpa, "outcome": outcome,
            "reward_components": {"near_miss": near, "energy": energy}, "link": link or {}}


def test_episode_metrics_accumulate():
    m = EpisodeMetrics(dt=1.0, time_limit_s=100.0, energy_weight=-0.005, reset_info=_info(0, 1000.0, 0.0))
    link = {"outage": True, "handover": True, "data_lost": False, "cmd_lost": True, "failsafe": False,
            "data_latency_ms": 20.0, "sinr_db": 3.0}
    m.step([0.5, 1.0], 1.0, _info(1, 900.0, 3.0, 80.0, -0.5, -0.005, link=link))
    m.step([0.5, 1.0], 1.0, _info(2, 800.0, 4.0, 40.0, -0.5, -0.005))
    m.step([-0.5, 0.0], 1.0, _info(3, 700.0, 0.0, 60.0, 0.0, 0.0))
    m.step([-0.5, 0.0], 1.0, _info(4, 0.0, 0.0, 70.0, -0.5, 0.0, outcome="goal"))
    r = m.result()
    assert r["success"] == 1 and r["outcome"] == "goal" and r["time_to_goal_s"] == 4
    assert r["near_misses"] == 2 and r["near_miss_s"] == 3.0  # two onsets, three steps
    assert r["min_cpa_m"] == 40.0
    assert r["energy"] == pytest.approx(2.0)  # (revs/max)^3 = 1 for two steps of 1 s
    assert r["cross_track_rms_m"] == pytest.approx(math.sqrt((9 + 16) / 4))
    # |0.5| + |1.0| rudder changes over 4 steps = 1.5 per 4 s -> 22.5 per minute
    assert r["rudder_activity"] == pytest.approx(1.5 / (4 / 60))
    assert r["engine_activity"] == pytest.approx(2.0 / (4 / 60))
    assert r["link_outage_frac"] == 0.25 and r["link_handovers"] == 1 and r["link_cmd_loss_frac"] == 0.25
    assert r["link_latency_ms"] == 20.0 and r["link_min_sinr_db"] == 3.0
    assert r["rule_violations"] is None and r["progress"] == 1.0 and r["steps"] == 4 and r["return"] == 4.0


def test_rule_violations_are_the_episode_sum_over_articles():
    m = EpisodeMetrics(dt=1.0, time_limit_s=100.0, energy_weight=0.0, reset_info=_info(0, 1000.0, 0.0))
    info = _info(1, 900.0, 0.0)
    info["rule_violations"] = {"9.04": 1, "6.20": 2, "10.01": 0}  # the episode's counts so far
    m.step([0.0, 0.5], 0.0, info)
    info = dict(info, rule_violations={"9.04": 1, "6.20": 3, "10.01": 0}, outcome="time_limit")
    m.step([0.0, 0.5], 0.0, info)
    assert m.result()["rule_violations"] == 4
