"""Leaderboards from the results store: the ranked terminal table and the static HTML page.

:func:`leaderboard` scores every submission of a suite (version) in the store with the formula of
:mod:`testbed.evaluation.metrics`, against the ``idle`` and ``autopilot`` baseline rows of the same
(case, seed) pairs; baselines appear as reference rows. :func:`format_table` is ``testbed results
show``; :func:`export_html` is ``testbed results export --html out/``: ``out/index.html`` (sortable
by clicking a column; per-case scores; per-episode details with replay links and, where the replay
viewer's export exists and ``thumbnails=True``, a thumbnail per replay) plus ``out/replays/``. Every
name from a submission is HTML-escaped.
"""

from __future__ import annotations

import html
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .metrics import RULE_COLUMNS, rule_means, score
from .store import Store

IDLE, AUTO = "baseline:idle", "baseline:autopilot"


@dataclass
class Entry:
    submission: str
    team: str
    name: str
    kind: str
    overall: float
    per_case: dict[str, float]
    episodes: int
    statuses: dict[str, int]
    success_rate: float
    late_steps: int
    rows: list[dict] = field(default_factory=list)
    note: str = ""
    rules: dict[str, float] = field(default_factory=dict)  # mean violations per episode, per article id

    @property
    def rules_total(self) -> float:
        return sum(self.rules.values()) if self.rules else math.nan


def leaderboard(store: Store, suite: str, suite_version: str | None = None) -> tuple[list[Entry], list[str], str]:
    """(entries ranked by overall score, case ids, suite version). Without ``suite_version`` the newest
    version in the store is used."""
    rows = store.rows(suite=suite)
    if not rows:
        return [], [], suite_version or ""
    if suite_version is None:
        suite_version = max({r["suite_version"] for r in rows}, key=lambda v: [int(x) if x.isdigit() else x for x in v.split(".")])
    rows = [r for r in rows if r["suite_version"] == suite_version]
    from .suite import SUITE_VERSION, case_hashes

    if suite_version == SUITE_VERSION:  # only rows of the cases as they are now (a changed case re-runs)
        now = case_hashes()
        rows = [r for r in rows if now.get(r["case_id"], r["config_hash"]) == r["config_hash"]]
    subs = {s["id"]: s for s in store.submissions()}
    by_sub: dict[str, list[dict]] = {}
    for r in rows:
        by_sub.setdefault(r["submission"], []).append(r)
    # q per (case, config_hash) and seed; rows of an outdated case config are not compared with new ones
    def qmap(rs):
        out: dict[str, dict[int, float]] = {}
        for r in rs:
            out.setdefault(f"{r['case_id']}", {})[int(r["seed"])] = float(r["quality"] or 0.0)
        return out

    idle = qmap(by_sub.get(IDLE, []))
    auto = qmap(by_sub.get(AUTO, []))
    cases = sorted({r["case_id"] for r in rows}, key=lambda c: min(i for i, r in enumerate(rows) if r["case_id"] == c))
    entries = []
    for sid, rs in by_sub.items():
        meta = subs.get(sid, {"team": "?", "name": sid, "kind": "submission"})
        mine = qmap(rs)
        note = ""
        usable = {c: {s: q for s, q in seeds.items() if s in idle.get(c, {}) and s in auto.get(c, {})}
                  for c, seeds in mine.items()}  # fmt: skip
        missing = sum(len(v) for v in mine.values()) - sum(len(v) for v in usable.values())
        if missing:
            note = f"{missing} episode(s) without baseline results (not scored)"
        usable = {c: v for c, v in usable.items() if v}
        overall, per = score(usable, idle, auto) if usable else (math.nan, {})
        statuses: dict[str, int] = {}
        for r in rs:
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        entries.append(Entry(sid, meta["team"], meta["name"], meta["kind"], overall, per, len(rs), statuses,
                             sum(int(r["success"] or 0) for r in rs) / len(rs),
                             sum(int(r["late_steps"] or 0) for r in rs), rs, note,
                             rule_means([r for r in rs if r["status"] == "finished"])))  # fmt: skip
    entries.sort(key=lambda e: (-(e.overall if not math.isnan(e.overall) else -1e9), e.name))
    return entries, cases, suite_version


def _fmt(v, nd=1) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{nd}f}"


def format_table(entries: list[Entry], cases: list[str], suite: str, version: str, per_case: bool = True) -> str:
    """The ranked terminal table (baselines marked with *)."""
    if not entries:
        return f"no results for suite {suite!r} in this store"
    head = ["rank", "team / name", "score", "episodes", "success", "viol/ep", "statuses"] + (cases if per_case else [])
    lines = []
    rank = 0
    for e in entries:
        is_base = e.kind == "baseline"
        if not is_base:
            rank += 1
        st = ", ".join(f"{k} {v}" for k, v in sorted(e.statuses.items()))
        row = (["*" if is_base else str(rank), f"{e.team} / {e.name}"[:40], _fmt(e.overall), str(e.episodes),
                f"{100 * e.success_rate:.0f} %", _fmt(e.rules_total, 2), st]
               + ([_fmt(e.per_case.get(c)) for c in cases] if per_case else []))  # fmt: skip
        lines.append(row)
    widths = [max(len(head[i]), *(len(r[i]) for r in lines)) for i in range(len(head))]
    out = [f"suite {suite} v{version}: score 0 = do nothing (idle), 100 = autopilot; * = baseline"]
    out.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in lines]
    notes = [f"{e.team} / {e.name}: {e.note}" for e in entries if e.note]
    arts = _rule_articles(entries)
    if arts:
        out.append("rule violations per finished episode, per article (RheinSchPV; viol/ep = their sum):")
        w = max(len(f"{e.team} / {e.name}"[:40]) for e in entries)
        out.append("  " + " " * w + "".join(f"{'§' + a:>8s}" for a in arts))
        for e in entries:
            if e.rules:
                out.append("  " + f"{e.team} / {e.name}"[:40].ljust(w) + "".join(f"{e.rules[a]:8.2f}" for a in arts))
    return "\n".join(out + notes)


def _rule_articles(entries: list[Entry]) -> list[str]:
    """The article ids with a violation in any entry (in the checker's order)."""
    from testbed.rules.articles import ARTICLE_IDS

    return [a for a in ARTICLE_IDS if any(e.rules.get(a) for e in entries)]


def _rules_text(r: dict) -> str:
    """One episode's violations, e.g. "§6.20 2, §9.07 1" ("-" without per-article counts, "0" for none)."""
    from testbed.rules.articles import ARTICLE_IDS

    if r.get(RULE_COLUMNS[0]) is None:
        return "-"
    parts = [f"§{a} {int(r[c])}" for a, c in zip(ARTICLE_IDS, RULE_COLUMNS, strict=True) if r.get(c)]
    return ", ".join(parts) or "0"


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b2430;background:#f6f8fa}
h1{font-size:22px;margin:0 0 4px} .sub{color:#57606a;margin-bottom:16px}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 3px #0002;margin-bottom:24px}
th,td{padding:6px 10px;border-bottom:1px solid #e1e4e8;text-align:right;white-space:nowrap}
th{background:#24425c;color:#fff;cursor:pointer;user-select:none;position:sticky;top:0}
th:hover{background:#2f5a7d} td.l,th.l{text-align:left}
tr.base td{background:#fff8e1;font-style:italic} .good{color:#1a7f37} .bad{color:#cf222e}
details{margin:8px 0;background:#fff;padding:8px 12px;box-shadow:0 1px 3px #0002}
summary{cursor:pointer;font-weight:600} img.th{width:160px;height:90px;object-fit:cover;border:1px solid #ccc}
.status-finished{color:#1a7f37}.status-crashed,.status-invalid_action,.status-rejected{color:#cf222e}
.status-timeout{color:#9a6700}
"""

_JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
    var b=t.tBodies[0],rows=Array.from(b.rows),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
    rows.sort(function(x,y){var a=x.cells[i].dataset.v||x.cells[i].textContent,c=y.cells[i].dataset.v||y.cells[i].textContent;
      var fa=parseFloat(a),fc=parseFloat(c);if(!isNaN(fa)&&!isNaN(fc))return asc?fa-fc:fc-fa;
      return asc?a.localeCompare(c):c.localeCompare(a)});rows.forEach(function(r){b.appendChild(r)})})})});
"""


@dataclass
class ExportResult:
    page: Path
    thumbnails: int = 0
    thumbnail_errors: list[str] = field(default_factory=list)
    no_viewer: bool = False


def export_html(store: Store, suite: str, out_dir: str | os.PathLike, suite_version: str | None = None,
                thumbnails: bool = False) -> ExportResult:  # fmt: skip
    """Write ``out_dir/index.html`` (+ ``replays/``, ``thumbs/``: the replay viewer's 1280x720 thumbnails)."""
    import atomicio
    import testbed

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries, cases, version = leaderboard(store, suite, suite_version)
    esc = html.escape
    viewer = None
    if thumbnails:
        try:
            from testbed.replay.viewer import export_video as viewer  # the replay viewer's export
        except ImportError:
            viewer = None

    thumbs: list = [0, []]  # made, errors

    def cell(v, cls="", nd=1):
        val = "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v}"
        return f'<td class="{cls}" data-v="{esc(val)}">{esc(_fmt(v, nd) if not isinstance(v, str) else v)}</td>'

    h = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Leaderboard: {esc(suite)}</title>",
         f"<style>{_CSS}</style></head><body>",
         f"<h1>Duisburg Smart Shipping Testbed: leaderboard, suite <code>{esc(suite)}</code> v{esc(version)}</h1>",
         f"<div class='sub'>simulator {esc(testbed.__version__)} &middot; score per case = 100 &times; (Q &minus; Q<sub>idle</sub>) / "
         "(Q<sub>autopilot</sub> &minus; Q<sub>idle</sub>) between the baselines, up to 200 above, down to &minus;100 below (formula: testbed/evaluation/metrics.py; "
         "from suite 1.2 on each rule violation lowers the episode quality by its article's penalty); overall = mean over cases; "
         "do nothing = 0, autopilot = 100. Baselines in italics. Click a column to sort.</div>",
         "<table class='sortable' id='board'><thead><tr><th>rank</th><th class='l'>team</th><th class='l'>name</th>"
         "<th>score</th><th>episodes</th><th>success %</th><th>late steps</th><th title='rule violations per finished episode'>rule viol./ep</th><th class='l'>statuses</th>"
         + "".join(f"<th>{esc(c)}</th>" for c in cases) + "</tr></thead><tbody>"]  # fmt: skip
    rank = 0
    for e in entries:
        base = e.kind == "baseline"
        rank += 0 if base else 1
        st = ", ".join(f"{k} {v}" for k, v in sorted(e.statuses.items()))
        h.append(f"<tr class='{'base' if base else ''}'>" + cell("ref" if base else str(rank))
                 + f"<td class='l'>{esc(e.team)}</td><td class='l'><a href='#{esc(e.submission)}'>{esc(e.name)}</a></td>"
                 + cell(e.overall) + cell(e.episodes, nd=0) + cell(100 * e.success_rate, nd=0) + cell(e.late_steps, nd=0)
                 + cell(e.rules_total, nd=2) + f"<td class='l'>{esc(st)}</td>"
                 + "".join(cell(e.per_case.get(c), "good" if (e.per_case.get(c) or 0) >= 100 else "") for c in cases)
                 + "</tr>")  # fmt: skip
    h.append("</tbody></table>")
    arts = _rule_articles(entries)
    if arts:
        h.append("<h2>Rule violations per episode</h2><div class='sub'>mean over the finished episodes, per "
                 "RheinSchPV article (testbed rules list)</div><table class='sortable' id='rules'><thead><tr>"
                 "<th class='l'>team</th><th class='l'>name</th>" + "".join(f"<th>&sect;{esc(a)}</th>" for a in arts)
                 + "</tr></thead><tbody>")  # fmt: skip
        for e in entries:
            if e.rules:
                h.append(f"<tr class='{'base' if e.kind == 'baseline' else ''}'><td class='l'>{esc(e.team)}</td>"
                         f"<td class='l'>{esc(e.name)}</td>" + "".join(cell(e.rules[a], nd=2) for a in arts) + "</tr>")
        h.append("</tbody></table>")
    h.append("<h2>Episodes</h2>")
    for e in entries:
        h.append(f"<details id='{esc(e.submission)}'><summary>{esc(e.team)} / {esc(e.name)} "
                 f"&mdash; {_fmt(e.overall)} ({esc(e.submission)})</summary>"
                 + (f"<p>{esc(e.note)}</p>" if e.note else "")
                 + "<table class='sortable'><thead><tr><th class='l'>case</th><th>seed</th><th class='l'>status</th>"
                 "<th class='l'>outcome</th><th>quality</th><th>min CPA m</th><th>near misses</th><th>time to goal s</th>"
                 "<th>energy</th><th>XTE RMS m</th><th>late</th><th class='l'>rule violations</th><th class='l'>reason</th><th class='l'>replay</th>"
                 "</tr></thead><tbody>")  # fmt: skip
        for r in e.rows:
            link = ""
            if r.get("replay") and Path(r["replay"]).is_file():
                rel = Path("replays") / _safe(e.submission) / r["case_id"] / f"{r['seed']}.replay"
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(r["replay"], out / rel)
                link = f"<a href='{esc(rel.as_posix())}'>replay</a>"
                if r.get("verified") is not None:
                    link += " &#10003;" if r["verified"] else " <b class='bad'>mismatch</b>"
                if viewer is not None:
                    th = Path("thumbs") / _safe(e.submission) / r["case_id"] / f"{r['seed']}.thumb.png"
                    try:
                        if not (out / th).exists():
                            (out / th).parent.mkdir(parents=True, exist_ok=True)
                            viewer(r["replay"], str(out / th), thumbnail=True)
                        link += f" <a href='{esc(rel.as_posix())}'><img class='th' alt='' src='{esc(th.as_posix())}'></a>"
                        thumbs[0] += 1
                    except Exception as exc:  # a thumbnail is optional; the link stays, the failure is reported
                        thumbs[1].append(f"{r['replay']}: {exc}")
            h.append("<tr>" + f"<td class='l'>{esc(r['case_id'])}</td>" + cell(r["seed"], nd=0)
                     + f"<td class='l status-{esc(r['status'])}'>{esc(r['status'])}</td>"
                     + f"<td class='l {'bad' if r.get('outcome') in ('collision', 'grounding', 'left_map') else ''}'>"
                     + f"{esc(str(r.get('outcome') or '-'))}</td>" + cell(r["quality"], nd=3)
                     + cell(r["min_cpa_m"], nd=0) + cell(r["near_misses"], nd=0) + cell(r["time_to_goal_s"], nd=0)
                     + cell(r["energy"], nd=0) + cell(r["cross_track_rms_m"]) + cell(r["late_steps"], nd=0)
                     + f"<td class='l'>{esc(_rules_text(r))}</td>"
                     + f"<td class='l'>{esc((r.get('reason') or '')[:160])}</td><td class='l'>{link}</td></tr>")  # fmt: skip
        h.append("</tbody></table></details>")
    meta = {"suite": suite, "suite_version": version, "simulator_version": testbed.__version__,
            "entries": [{"submission": e.submission, "team": e.team, "name": e.name, "kind": e.kind,
                         "overall": None if math.isnan(e.overall) else e.overall,
                         "per_case": {k: (None if math.isnan(v) else v) for k, v in e.per_case.items()},
                         "rule_violations_per_episode": e.rules}
                        for e in entries]}  # fmt: skip
    h.append(f"<script type='application/json' id='data'>{esc(json.dumps(meta, allow_nan=False, default=str))}</script>")
    h.append(f"<script>{_JS}</script></body></html>")
    page = out / "index.html"
    with atomicio.atomic_open(page, "w") as fh:
        fh.write("\n".join(h))
    return ExportResult(page, thumbs[0], thumbs[1], thumbnails and viewer is None)


def _safe(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in s)
