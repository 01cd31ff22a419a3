"""The server's submission page: rule violations per episode and per article, escaped."""

import jinja2

from testbed.evaluation.metrics import RULE_COLUMNS
from testbed.server import app as server_app


def _metrics(**per) -> dict:
    m = dict.fromkeys(RULE_COLUMNS, 0)
    m.update({f"rule_violations.{k}": v for k, v in per.items()})
    m["rule_violations"] = sum(per.values())
    m["outcome"] = "goal"
    return m


def test_submission_page_lists_rule_violations_escaped():
    eps = [{"idx": 0, "case": "port_entry", "seed": "0", "status": "finished", "score": 0.5,
            "metrics": _metrics(**{"6.20": 2, "9.07": 1})},
           {"idx": 1, "case": "port_entry", "seed": "1", "status": "finished", "score": 0.6,
            "metrics": _metrics()},
           {"idx": 2, "case": "<b>x</b>", "seed": "2", "status": "finished", "score": 0.6,
            "metrics": {"outcome": "goal", "rule_violations": 1}}]  # a row of suite 1.1: no per-article counts
    for e in eps:
        e["rules"] = server_app._rules_text(e["metrics"])
    assert [e["rules"] for e in eps] == ["§9.07 1, §6.20 2", "none", ""]  # in the checker's order
    means = server_app._rule_means(eps)
    assert means == {"9.07": 0.5, "6.20": 1.0}  # over the two episodes with per-article counts
    sub = {"name": "<script>alert(1)</script>", "team": "t&t", "status": "finished", "episodes_done": 3,
           "episodes_total": 3, "scores_visible": True, "score": 50.0, "phase": "dev", "case_scores": {},
           "episodes": eps, "rule_means": means, "id": "s1", "message": "", "charged": True, "size": 1,
           "sha256": "0" * 64}
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(server_app.HERE / "templates")), autoescape=True)
    env.filters["label"] = lambda k: server_app._LABELS.get(k, k.replace("_", " "))
    keys = server_app._metric_keys(eps)
    assert "rule_violations" in keys
    page = env.get_template("_submission.html").render(sub=sub, metric_keys=keys, owner=False)
    assert "Rule violations per episode" in page and "§6.20" in page and "1.00" in page and "0.50" in page
    assert "<td>§9.07 1, §6.20 2</td>" in page and "<th class=\"num\">rule violations</th>" in page
    assert "<script>alert(1)</script>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
