"""Rule violations per article in the evaluation: metrics, the store, the score's rule factor, the tables."""

import sqlite3

import pytest

from testbed.evaluation.evaluator import evaluate
from testbed.evaluation.metrics import RULE_COLUMNS, EpisodeMetrics, episode_quality, rule_means
from testbed.evaluation.report import export_html, format_table, leaderboard
from testbed.evaluation.store import Store
from testbed.evaluation.suite import RULE_PENALTY, SUITE_VERSION, Case, Suite, SuiteError, get_suite
from testbed.rules.articles import ARTICLE_IDS

# 400 s of PortEntry-v0 without traffic, seed 0, an upstream start: the autopilot passes the
# Rheinpreussen-Hafen entrance (a side canal its rays cannot look into) a little faster than the § 6.20
# limit (two events at 325 s); doing nothing (drifting down with the current) breaks none
MOUTH = Case("mouth", "PortEntry-v0", {"time_limit_s": 400.0, "traffic": {"count": 0},
                                       "start": {"lanes": ["lane-rhine-up"], "km": [781.6, 782.4]}},
             ("mouth",), "", (0,))


def _ep(**rules) -> dict:
    m = {"outcome": "goal", "success": 1, "progress": 1.0, "time_to_goal_s": 500.0, "near_miss_s": 0.0}
    m.update({f"rule_violations.{k.replace('_', '.')}": v for k, v in rules.items()})
    return m


def test_rule_factor_in_the_episode_quality():
    q0 = episode_quality(_ep(), 1000.0, "finished")
    assert q0 == pytest.approx(0.875)
    # no penalties (suites up to 1.1): violations do not count
    assert episode_quality(_ep(**{"9_04": 1, "6_20": 2}), 1000.0, "finished") == q0
    # one § 9.04 (0.1) and two § 6.20 (0.05 each): 1 - 0.2
    q = episode_quality(_ep(**{"9_04": 1, "6_20": 2}), 1000.0, "finished", RULE_PENALTY)
    assert q == pytest.approx(0.875 * 0.8)
    assert episode_quality(_ep(**{"9_07": 20}), 1000.0, "finished", RULE_PENALTY) == 0.0  # clipped at 0
    assert episode_quality(_ep(**{"9_07": 1}), 1000.0, "crashed", RULE_PENALTY) == 0.0


def test_per_article_columns_from_info():
    info = {"distance_to_goal_m": 1000.0, "time_s": 0.0}
    m = EpisodeMetrics(dt=1.0, time_limit_s=100.0, energy_weight=0.0, reset_info=info, rule_penalty=RULE_PENALTY)
    step = {"reward_components": {}, "min_cpa_m": 500.0, "cross_track_m": 0.0, "distance_to_goal_m": 0.0,
            "time_s": 1.0, "outcome": "goal", "rule_violations": dict.fromkeys(ARTICLE_IDS, 0) | {"6.16": 1}}
    m.step([0.0, 0.0], 0.0, step)
    r = m.result()
    assert r["rule_violations"] == 1 and r["rule_violations.6.16"] == 1
    assert all(r[c] == 0 for c in RULE_COLUMNS if c != "rule_violations.6.16")
    assert r["quality"] == pytest.approx(episode_quality(r, 100.0, "finished") * 0.9)
    assert rule_means([r, dict(r, **{"rule_violations.6.16": 0})])["6.16"] == 0.5
    assert rule_means([{"rule_violations": 3}]) == {}  # rows without per-article counts (suite <= 1.1)


def test_suite_penalties_are_checked():
    assert get_suite("dev").rule_penalty == RULE_PENALTY and SUITE_VERSION == "1.3"
    assert set(RULE_PENALTY) == set(ARTICLE_IDS)
    with pytest.raises(ValueError, match=r"unknown article id\(s\) \['9.99'\]"):
        Suite("x", "1.2", (), rule_penalty={"9.99": 0.1})
    with pytest.raises(SuiteError, match=r"rule_penalty \{'9.04': 2.0\}"):
        Suite("x", "1.2", (), rule_penalty={"9.04": 2.0})


def test_real_episodes_per_article_in_store_score_and_tables(tmp_path):
    suite = Suite("t", SUITE_VERSION, (MOUTH,))
    store = Store(tmp_path / "r.db")
    for sub in ("autopilot", "idle"):
        evaluate(sub, suite, store, record=False)
    rows = {r["submission"]: r for r in store.rows("t")}
    auto, idle = rows["baseline:autopilot"], rows["baseline:idle"]
    assert auto["status"] == idle["status"] == "finished"
    for r in (auto, idle):  # the per-article columns add up to the total
        assert r["rule_violations"] == sum(r[c] for c in RULE_COLUMNS)
    assert auto["rule_violations.6.20"] >= 1 and idle["rule_violations"] == 0
    # the stored quality carries the rule factor of the suite's penalties
    assert auto["quality"] == pytest.approx(episode_quality(auto, 400.0, "finished", RULE_PENALTY))
    assert auto["quality"] < episode_quality(auto, 400.0, "finished")
    entries, cases, version = leaderboard(store, "t")
    by = {e.submission: e for e in entries}
    assert by["baseline:autopilot"].rules["6.20"] == auto["rule_violations.6.20"]
    text = format_table(entries, cases, "t", version)
    assert "viol/ep" in text and "§6.20" in text
    page = export_html(store, "t", tmp_path / "site").page.read_text()
    assert "Rule violations per episode" in page and f"§6.20 {auto['rule_violations.6.20']}" in page
    store.close()


def test_a_store_from_before_the_per_article_columns_stays_readable(tmp_path):
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)  # the 1.1 schema: no per-article columns
    from testbed.evaluation.metrics import METRIC_COLUMNS

    old_cols = [c for c in METRIC_COLUMNS if c not in RULE_COLUMNS]
    con.executescript(
        "CREATE TABLE submissions (id TEXT PRIMARY KEY, team TEXT NOT NULL, name TEXT NOT NULL, mode TEXT, "
        "kind TEXT NOT NULL, source TEXT, created REAL NOT NULL);"
        "CREATE TABLE episodes (submission TEXT NOT NULL, suite TEXT NOT NULL, suite_version TEXT NOT NULL, "
        "case_id TEXT NOT NULL, config_hash TEXT NOT NULL, seed INTEGER NOT NULL, sim_version TEXT NOT NULL, "
        "status TEXT NOT NULL, reason TEXT, " + ", ".join(f'"{c}"' for c in old_cols)
        + ", log TEXT, replay TEXT, verified INTEGER, wall_s REAL, created REAL NOT NULL, "
        "PRIMARY KEY (submission, suite, suite_version, case_id, config_hash, seed));")
    for sid, q in (("baseline:idle", 0.1), ("baseline:autopilot", 0.5), ("team-x", 0.3)):
        con.execute("INSERT INTO submissions VALUES (?, ?, ?, 'python', ?, '', 0)",
                    (sid, "t", sid, "baseline" if sid.startswith("baseline") else "submission"))
        con.execute('INSERT INTO episodes (submission, suite, suite_version, case_id, config_hash, seed, '
                    'sim_version, status, "quality", "rule_violations", created) '
                    "VALUES (?, 'dev', '1.1', 'c', 'h', 0, '0', 'finished', ?, 2, 0)", (sid, q))
    con.commit()
    con.close()
    store = Store(db)  # adds the columns
    rows = store.rows("dev")
    assert all(r["rule_violations.9.04"] is None and r["rule_violations"] == 2 for r in rows)
    entries, cases, version = leaderboard(store, "dev", "1.1")
    assert version == "1.1" and {e.name: round(e.overall, 3) for e in entries}["team-x"] == 50.0
    assert all(e.rules == {} for e in entries)  # old rows: no per-article means, "-" in the table
    assert "viol/ep" in format_table(entries, cases, "dev", version)
    store.close()
