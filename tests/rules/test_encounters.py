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


def test_meeting_fault_is_the_vessel_on_the_wrong_side():
    for name in ("HeadOnStarboard", "HeadOnUpstreamStarboard"):
        hits = [ev for ev in run_encounter(ENCOUNTERS[name]) if ev.rule == "9.04"]
        assert hits and all(ev.at_fault == ("ego",) and ev.vessels == ("ego", "traffic_0") for ev in hits), hits


def test_section_6_16_second_clause_has_its_own_line():
    """The downstream vessel turning to enter gives way to the upstream one (§ 6.16 Nr. 1, 2nd sentence)."""
    turn = [ev for ev in run_encounter(ENCOUNTERS["RuhrortTurnInWay"]) if ev.rule == "6.16"]
    assert turn and all("must turn to enter gives way" in ev.explanation for ev in turn)
    assert all(ev.at_fault == ("ego",) and "turning area" in ev.zone for ev in turn)
    cross = [ev for ev in run_encounter(ENCOUNTERS["HarbourCrossing"]) if ev.rule == "6.16"]
    assert cross and all("wait until the through traffic has passed" in ev.explanation for ev in cross)
    # the verdict tells the clauses apart
    enc = ENCOUNTERS["RuhrortTurnInWay"]
    assert verdict(enc, cross) == [f"RuhrortTurnInWay: §6.16 fired but not as {enc.explains!r}: "
                                   f"{cross[0].explanation}"]
