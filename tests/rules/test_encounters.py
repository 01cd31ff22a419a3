"""The hand-built inland encounter cases: each states which rules must fire and which must not."""

import pytest

from testbed.rules.encounters import ALL, ENCOUNTERS, run_encounter, verdict


@pytest.mark.parametrize("name", sorted(ENCOUNTERS))
def test_encounter(name):
    enc = ENCOUNTERS[name]
    events = run_encounter(enc)
    assert verdict(enc, events) == []
    for ev in events:  # every event is complete: article, vessels, time, position, one line
        assert ev.article.startswith("RheinSchPV §")
        assert ev.vessels and set(ev.at_fault) <= set(ev.vessels)
        assert 0 < ev.time_s <= enc.duration_s
        assert abs(ev.x) < 1e4 and abs(ev.y) < 1e4
        assert "\n" not in ev.explanation and ev.explanation.startswith(ev.vessels[0].split("_")[0][:3]) \
            or "small craft" in ev.explanation


def test_every_rule_is_exercised():
    fired = set().union(*(e.must_fire for e in ENCOUNTERS.values()))
    # § 6.04 (meeting outside a regulated section) and § 6.24 (narrow bridge opening) cannot happen on the
    # Duisburg map: the whole Rhine here is regulated (§ 9.04) and its bridges are wide
    assert ALL - fired == {"6.04", "6.24"}


def test_verdict_catches_a_missing_and_an_unexpected_event():
    enc = ENCOUNTERS["HeadOnStarboard"]
    assert verdict(enc, []) == ["HeadOnStarboard: §9.04 must fire and did not"]
    events = run_encounter(ENCOUNTERS["OvertakingClose"])
    assert any("§6.09 must not fire" in p for p in verdict(enc, events))
