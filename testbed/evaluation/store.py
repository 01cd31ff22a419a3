"""The results store: SQLite in WAL mode, one row per (submission, suite, case, seed).

Every row holds the status, the reason, every metric of :mod:`testbed.evaluation.metrics` as its own
column, the simulator version, the suite version, the hash of the case's resolved config, the wall
time, an excerpt of the policy's log and the path of the episode's replay (stored next to the database
in ``<store>.replays/<submission>/<suite>/<case>/<seed>.replay``). Each row is written in its own
transaction (``INSERT OR REPLACE`` inside ``with conn``) as soon as its episode ends, so a ``kill -9``
of the evaluator loses at most the episodes that were running; the rerun evaluates only what is
missing (:meth:`Store.done`). Rows of another suite version or case config are never mixed in: the
key includes both.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from .metrics import METRIC_COLUMNS, RULE_COLUMNS

_TEXT = {"outcome"}
_INT = {"success", "collision", "grounding", "near_misses", "link_handovers", "steps", "late_steps",
        "rule_violations", *RULE_COLUMNS}  # fmt: skip


def _coltype(c: str) -> str:
    return "TEXT" if c in _TEXT else "INTEGER" if c in _INT else "REAL"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY, team TEXT NOT NULL, name TEXT NOT NULL, mode TEXT, kind TEXT NOT NULL,
    source TEXT, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS episodes (
    submission TEXT NOT NULL, suite TEXT NOT NULL, suite_version TEXT NOT NULL, case_id TEXT NOT NULL,
    config_hash TEXT NOT NULL, seed INTEGER NOT NULL, sim_version TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT,
    {", ".join(f'"{c}" {_coltype(c)}' for c in METRIC_COLUMNS)},
    log TEXT, replay TEXT, verified INTEGER, wall_s REAL, created REAL NOT NULL,
    PRIMARY KEY (submission, suite, suite_version, case_id, config_hash, seed)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


class StoreError(ValueError):
    pass


class Store:
    """``Store(path)`` opens (creating) the database; ``put`` writes one episode row transactionally."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=30.0)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            with self.conn:
                self.conn.executescript(SCHEMA)
                # a store written before a metric existed (e.g. the per-article rule columns of suite 1.2):
                # add the column; the old rows read NULL there
                have = {r[1] for r in self.conn.execute("PRAGMA table_info(episodes)")}
                for c in METRIC_COLUMNS:
                    if c not in have:
                        self.conn.execute(f'ALTER TABLE episodes ADD COLUMN "{c}" {_coltype(c)}')
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a results database ({exc})") from None
        self.conn.row_factory = sqlite3.Row

    @property
    def replay_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".replays")

    def replay_path(self, submission: str, suite: str, case_id: str, seed: int) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in submission)
        return self.replay_dir / safe / suite / case_id / f"{seed}.replay"

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- submissions ----------------------------------------------------------------------------------
    def add_submission(self, sid: str, team: str, name: str, mode: str, kind: str, source: str) -> None:
        with self.conn:
            self.conn.execute("INSERT OR IGNORE INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (sid, team, name, mode, kind, source, time.time()))  # fmt: skip

    def submissions(self) -> list[dict]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM submissions ORDER BY created")]

    # -- episodes -------------------------------------------------------------------------------------
    def put(self, row: dict) -> None:
        cols = ["submission", "suite", "suite_version", "case_id", "config_hash", "seed", "sim_version", "status",
                "reason", *METRIC_COLUMNS, "log", "replay", "verified", "wall_s", "created"]  # fmt: skip
        m = row.get("metrics") or {}
        vals = []
        for c in cols:
            if c in METRIC_COLUMNS:
                v = m.get(c)
                vals.append(int(v) if c in _INT and v is not None else v)
            elif c == "created":
                vals.append(time.time())
            else:
                vals.append(row.get(c))
        q = f"INSERT OR REPLACE INTO episodes ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in cols)}) VALUES ({', '.join('?' * len(cols))})"
        with self.conn:
            self.conn.execute(q, vals)

    def done(self, submission: str, suite: str, suite_version: str) -> set[tuple[str, str, int]]:
        """The (case_id, config_hash, seed) already stored for this submission and suite version."""
        cur = self.conn.execute("SELECT case_id, config_hash, seed FROM episodes WHERE submission=? AND suite=? "
                                "AND suite_version=?", (submission, suite, suite_version))  # fmt: skip
        return {(r[0], r[1], int(r[2])) for r in cur}

    def rows(self, suite: str | None = None, submission: str | None = None, suite_version: str | None = None) -> list[dict]:
        q = "SELECT * FROM episodes WHERE 1=1"
        args: list = []
        for col, v in (("suite", suite), ("submission", submission), ("suite_version", suite_version)):
            if v is not None:
                q += f" AND {col}=?"
                args.append(v)
        q += " ORDER BY submission, case_id, seed"
        return [dict(r) for r in self.conn.execute(q, args)]

    def set_verified(self, key: dict, ok: bool) -> None:
        with self.conn:
            self.conn.execute("UPDATE episodes SET verified=? WHERE submission=? AND suite=? AND suite_version=? "
                              "AND case_id=? AND config_hash=? AND seed=?",
                              (int(ok), key["submission"], key["suite"], key["suite_version"], key["case_id"],
                               key["config_hash"], key["seed"]))  # fmt: skip

    def set_meta(self, key: str, value) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))
