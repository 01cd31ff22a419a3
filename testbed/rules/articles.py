"""The rules the checker knows: one row per rule, with its RheinSchPV article and a skipper's explanation.

The rule index (``R_*``) is the column of the per-env counters and the ``rule`` of an event. ``ARTICLE_IDS``
are the ids a user writes in ``reward.rules_articles`` (e.g. ``{"9.07": -5.0}``). The texts are condensed
from the RheinSchPV (consolidated to 15.9.2020); see ``testbed/rules/data/`` and its PROVENANCE.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str  # article id used in configs, e.g. "9.04"
    article: str  # as printed in events, e.g. "RheinSchPV §9.04"
    title: str
    template: str  # one line for a skipper; {a}, {b}: vessels; {v1}, {v2}: numbers; {zone}: zone name
    variants: tuple[str, ...] = ()  # the lines of the article's further clauses (event variant 1, 2, ...)


RULES: tuple[Rule, ...] = (
    Rule("9.04", "RheinSchPV §9.04", "regulated meeting",
         "{a} and {b} met starboard-to-starboard ({v1:.0f} m apart) without the blue board: on the Duisburg "
         "section both alter course to starboard and pass port-to-port"),
    Rule("6.04", "RheinSchPV §6.04", "meeting",
         "{a} and {b} met starboard-to-starboard ({v1:.0f} m apart) without the blue board: meet port-to-port"),
    Rule("6.09", "RheinSchPV §6.09/§6.10", "overtaking safely",
         "{a} overtook {b} with only {v1:.0f} m between the hulls: overtake only when it is safe"),
    Rule("6.07", "RheinSchPV §6.07/§6.08", "no overtaking in a narrow fairway",
         "{a} overtook {b} in a narrow fairway ({zone}): wait until the fairway is wide enough"),
    Rule("6.24", "RheinSchPV §6.24", "no overtaking in a narrow bridge opening",
         "{a} overtook {b} in a narrow bridge opening ({zone})"),
    Rule("6.16", "RheinSchPV §6.16", "harbour mouths",
         "{a} left, entered or crossed at {zone} into the path of {b} (closest approach {v1:.0f} m in "
         "{v2:.0f} s): wait until the through traffic has passed",
         ("{a} turned on {zone} to enter the harbour in the way of upstream {b} (closest approach {v1:.0f} m "
          "in {v2:.0f} s): a downstream vessel that must turn to enter gives way to the upstream vessel",)),
    Rule("9.07", "RheinSchPV §9.07 Nr. 5", "turn before entering the Ruhrort harbours",
         "{a} entered {zone} heading downstream: a downstream vessel first turns to face upstream and "
         "enters against the current"),
    Rule("6.20", "RheinSchPV §6.20", "reduced speed at harbour mouths and berths",
         "{a} made {v1:.1f} km/h through the water in {zone}: reduce speed (limit {v2:.1f} km/h here)"),
    Rule("10.01", "RheinSchPV §10.01", "high-water speed limit",
         "{a} made {v1:.1f} km/h over ground at gauge Duisburg-Ruhrort {v2:.2f} m: above mark I at most "
         "20 km/h, above mark II navigation is stopped"),
    Rule("7.02", "RheinSchPV §7.02", "no lying still",
         "{a} has been lying still for {v1:.0f} s {zone}: do not stop under bridges, in harbour "
         "entrances or on turning areas"),
    Rule("6.02", "RheinSchPV §1.01/§6.02", "small craft give way",
         "small craft {a} did not leave room to {b} (closest approach {v1:.0f} m in {v2:.0f} s): small "
         "craft give way to all other vessels"),
)
(R_MEET_904, R_MEET_604, R_OVERTAKE, R_NARROW, R_BRIDGE, R_HARBOUR, R_TURN, R_SPEED, R_HIGHWATER, R_STILL,
 R_SMALL) = range(len(RULES))
N_RULES = len(RULES)
ARTICLE_IDS: tuple[str, ...] = tuple(r.id for r in RULES)
ARTICLES: tuple[str, ...] = tuple(r.article for r in RULES)


def article_key(k) -> str:
    """An article id as written in a config: "9.07" stays, a number (9.07, 6.2 from a YAML or Hydra
    dict key) becomes its two-decimal id ("9.07", "6.20")."""
    if isinstance(k, bool):
        return str(k)
    if isinstance(k, int | float):
        return f"{float(k):.2f}"
    return str(k)


def check_article_ids(ids, where: str) -> None:
    """Raise ValueError naming every id of ``ids`` that is not a known article id."""
    bad = [i for i in ids if i not in ARTICLE_IDS]
    if bad:
        raise ValueError(f"{where}: unknown article id(s) {bad}; known: {', '.join(ARTICLE_IDS)}")
