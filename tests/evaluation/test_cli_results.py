"""testbed evaluate / results show / results export --html on real runs; names are escaped."""

import re

from evalhelpers import needs_bwrap

from testbed.cli import main
from testbed.evaluation import sandbox
from testbed.evaluation.submission import write_template
from testbed.evaluation.suite import SUITE_VERSION


@needs_bwrap
def test_evaluate_show_export(tmp_path, capsys):
    sub = write_template(tmp_path / "sub", team="<script>alert(1)</script>", name="a&b")
    db = str(tmp_path / "r.db")
    assert main(["evaluate", str(sub), "--suite", "dev", "--case", "head_on", "--store", db, "--verify", "1"]) == 0
    out = capsys.readouterr().out
    assert "verified " in out and "bit-identical" in out
    assert re.search(r"\*\s+baseline / autopilot\s+100\.0", out)
    assert re.search(r"1\s+<script>alert\(1\)</script> / a&b\s+100\.0", out)  # the template is the autopilot
    assert re.search(r"\*\s+baseline / idle\s+0\.0", out)
    assert main(["results", "show", "--store", db]) == 0
    assert "head_on" in capsys.readouterr().out
    assert main(["results", "export", "--html", str(tmp_path / "site"), "--store", db, "--thumbnails"]) == 0
    assert "wrote " in capsys.readouterr().out
    page = (tmp_path / "site" / "index.html").read_text()
    thumbs = re.findall(r"src='(thumbs/[^']+\.thumb\.png)'", page)  # the replay viewer's thumbnails
    assert len(thumbs) == 6 and all((tmp_path / "site" / t).stat().st_size > 1000 for t in thumbs)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a&amp;b" in page and f"suite <code>dev</code> v{SUITE_VERSION}" in page
    links = re.findall(r"href='(replays/[^']+\.replay)'", page)
    assert len(set(links)) == 6 and all((tmp_path / "site" / link).is_file() for link in links)


def test_evaluate_refuses_without_bwrap(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sub = write_template(tmp_path / "sub")
    assert main(["evaluate", str(sub), "--store", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bubblewrap (bwrap) is not installed: refusing" in err and "--no-sandbox" in err


def test_evaluate_bad_input(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TESTBED_FINAL_SECRET", raising=False)
    monkeypatch.delenv("TESTBED_FINAL_SECRET_FILE", raising=False)
    assert main(["evaluate", str(tmp_path / "nope"), "--store", str(tmp_path / "r.db")]) == 2
    assert capsys.readouterr().err.strip() == f"testbed: error: {tmp_path / 'nope'}: no such submission folder or zip (or use one of autopilot, idle, random)"
    assert main(["evaluate", "idle", "--suite", "final", "--store", str(tmp_path / "r.db")]) == 2
    assert "hidden seeds" in capsys.readouterr().err
    assert main(["results", "show", "--store", str(tmp_path / "none.db")]) == 2
    assert "no such results store" in capsys.readouterr().err


def test_max_episodes_then_resume_and_store_columns(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    args = ["evaluate", "autopilot", "--suite", "dev", "--case", "berthing", "--store", db, "--no-record"]
    assert main([*args, "--max-episodes", "1"]) == 0
    assert "1 episode(s) run, 0 already in" in capsys.readouterr().out
    assert main(args) == 0
    assert "1 episode(s) run, 1 already in" in capsys.readouterr().out
    from testbed import __version__
    from testbed.evaluation.store import Store
    from testbed.evaluation.suite import SUITE_VERSION, get_suite

    store = Store(db)
    assert {r["submission"] for r in store.rows("dev")} == {"baseline:autopilot", "baseline:idle"}
    rows = store.rows("dev", "baseline:autopilot")
    assert [(r["case_id"], r["seed"], r["status"]) for r in rows] == [("berthing", 0, "finished"), ("berthing", 1, "finished")]
    h = get_suite("dev").case("berthing").config_hash()
    assert all(r["sim_version"] == __version__ and r["suite_version"] == SUITE_VERSION and r["config_hash"] == h
               for r in rows)
    assert all(r["rule_violations"] >= 0 and r["steps"] > 0 and r["energy"] > 0 for r in rows)  # the rule checker is on
