"""Inland traffic rules (RheinSchPV) checked on the batched world every step.

- :mod:`testbed.rules.articles` — the rules, their articles and the one-line explanations;
- :mod:`testbed.rules.zones` — the map's ``rule_zone`` features rasterised to per-cell bit masks;
- :mod:`testbed.rules.kernel` — the compiled check over all vessels and pairs of all envs;
- :mod:`testbed.rules.checker` — :class:`RuleChecker` (state, counts, :class:`Violation` events).
"""

from testbed.rules.articles import ARTICLE_IDS, ARTICLES, RULES
from testbed.rules.checker import RuleChecker, Violation
from testbed.rules.zones import RuleZoneError, zone_table

__all__ = ["ARTICLE_IDS", "ARTICLES", "RULES", "RuleChecker", "RuleZoneError", "Violation", "rule_weights",
           "zone_table"]


def rule_weights(reward_cfg):
    """(N_RULES,) reward weight per rule: ``reward.rules_articles[id]`` or else ``reward.rules``."""
    import numpy as np

    from testbed.rules.articles import article_key

    per = {article_key(k): v for k, v in reward_cfg.rules_articles.items()}
    return np.array([float(per.get(a, reward_cfg.rules)) for a in ARTICLE_IDS])
