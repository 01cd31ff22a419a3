"""The server's SQLite store (WAL): teams, tokens, submissions, the job queue, episodes, workers.

One file, ``<data_dir>/event.sqlite``. Every write is one transaction; the job table gives each
evaluation a lease that its worker renews with heartbeats, so a killed worker's job is taken over
by another once the lease expires and nothing finished is lost (the evaluator's own results store
keeps finished episodes; see ``worker.py``).

Tokens: ``tb_<id>_<secret>``; only ``salt`` and ``pbkdf2_hmac(sha256, secret, salt)`` are stored, the
id selects the row and the hash is compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = 1
PBKDF2_ITERATIONS = 60_000


class StoreError(ValueError):
    """The store cannot be used (newer schema, missing file, ...): one line for the user."""


class StoreBusy(RuntimeError):
    """The database is locked or the disk is full: the request is refused, nothing was stored."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS teams (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at REAL NOT NULL,
    kind TEXT NOT NULL DEFAULT 'team'   -- 'team' or 'baseline'
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, team_id INTEGER REFERENCES teams(id), role TEXT NOT NULL,
    salt BLOB NOT NULL, hash BLOB NOT NULL, created_at REAL NOT NULL, revoked_at REAL
);
CREATE TABLE IF NOT EXISTS phase_state (name TEXT PRIMARY KEY, revealed_at REAL);
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY, team_id INTEGER NOT NULL REFERENCES teams(id), phase TEXT NOT NULL,
    name TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    status TEXT NOT NULL,        -- queued running finished rejected failed cancelled
    charged INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL, started_at REAL, finished_at REAL,
    episodes_done INTEGER NOT NULL DEFAULT 0, episodes_total INTEGER NOT NULL DEFAULT 0,
    score REAL, case_scores TEXT NOT NULL DEFAULT '{}', message TEXT NOT NULL DEFAULT '',
    evals INTEGER NOT NULL DEFAULT 0,   -- re-evaluations (the evaluator key gets a suffix)
    UNIQUE (team_id, phase, sha256)
);
CREATE INDEX IF NOT EXISTS submissions_team ON submissions (team_id, phase);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, submission_id TEXT NOT NULL REFERENCES submissions(id),
    state TEXT NOT NULL,         -- queued leased done failed cancelled
    attempts INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_expires REAL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
CREATE TABLE IF NOT EXISTS episodes (
    submission_id TEXT NOT NULL REFERENCES submissions(id), idx INTEGER NOT NULL,
    case_name TEXT NOT NULL, seed TEXT NOT NULL, status TEXT NOT NULL, score REAL,
    metrics TEXT NOT NULL DEFAULT '{}', replay TEXT, thumbnail TEXT,
    PRIMARY KEY (submission_id, idx)
);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, backend TEXT NOT NULL,
    started_at REAL NOT NULL, heartbeat_at REAL NOT NULL, job_id INTEGER, state TEXT NOT NULL
);
"""


def connect(path, busy_timeout_ms: int = 2000, *, create: bool = False) -> sqlite3.Connection:
    """Open the store (WAL, foreign keys, busy timeout); refuse a store of a newer schema version."""
    path = Path(path)
    if not create and not path.exists():
        raise StoreError(f"{path}: no event store here (run: testbed event init NAME)")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), timeout=busy_timeout_ms / 1000.0, isolation_level=None,
                          check_same_thread=False)
    con.row_factory = sqlite3.Row
    con.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")
    has_meta = con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
    if has_meta:
        row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row["value"]) if row else 0
        if version > SCHEMA_VERSION:
            con.close()
            raise StoreError(f"{path}: the store has schema version {version}, this testbed knows up to "
                             f"{SCHEMA_VERSION}: it was written by a newer testbed; upgrade testbed to serve it")
    if not has_meta or create:
        with tx(con):
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    con.execute(stmt)
            con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            con.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (str(time.time()),))
    return con


@contextmanager
def tx(con: sqlite3.Connection, immediate: bool = True):
    """One transaction (BEGIN IMMEDIATE takes the write lock up front); rolls back on any error."""
    try:
        con.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    except sqlite3.OperationalError as exc:
        raise StoreBusy(f"database busy: {exc}") from None
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        raise


# ---------------------------------------------------------------- tokens

def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, PBKDF2_ITERATIONS)


def new_token(con, role: str, team_id: int | None) -> str:
    """Create a token; return it in clear (the only time it exists in clear)."""
    tid = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    salt = os.urandom(16)
    con.execute("INSERT INTO tokens (id, team_id, role, salt, hash, created_at) VALUES (?,?,?,?,?,?)",
                (tid, team_id, role, salt, _hash(secret, salt), time.time()))
    return f"tb_{tid}_{secret}"


def verify_token(con, token: str) -> sqlite3.Row | None:
    """The token's row (id, team_id, role) when valid and not revoked, else None (constant-time compare)."""
    if not token or not token.startswith("tb_") or token.count("_") < 2 or len(token) > 200:
        _hash("x" * 32, b"0" * 16)  # same work for a malformed token
        return None
    _, tid, secret = token.split("_", 2)
    row = con.execute("SELECT * FROM tokens WHERE id=?", (tid,)).fetchone()
    salt = row["salt"] if row else b"0" * 16
    digest = _hash(secret, salt)
    ok = hmac.compare_digest(digest, row["hash"] if row else b"\0" * len(digest))
    if not row or not ok or row["revoked_at"] is not None:
        return None
    return row


def add_team(con, name: str, kind: str = "team") -> tuple[int, str]:
    name = name.strip()
    if not name or len(name) > 80 or any(ord(c) < 32 for c in name):
        raise StoreError(f"team name {name!r}: 1-80 printable characters")
    with tx(con):
        if con.execute("SELECT 1 FROM teams WHERE name=?", (name,)).fetchone():
            raise StoreError(f"team {name!r} exists already (new token: testbed event team token {name!r})")
        cur = con.execute("INSERT INTO teams (name, created_at, kind) VALUES (?,?,?)", (name, time.time(), kind))
        team_id = cur.lastrowid
        token = new_token(con, "team", team_id) if kind == "team" else ""
    return team_id, token


def team_by_name(con, name: str) -> sqlite3.Row:
    row = con.execute("SELECT * FROM teams WHERE name=?", (name,)).fetchone()
    if row is None:
        raise StoreError(f"no team {name!r}")
    return row


def revoke_team_tokens(con, team_id: int) -> int:
    with tx(con):
        return con.execute("UPDATE tokens SET revoked_at=? WHERE team_id=? AND revoked_at IS NULL",
                           (time.time(), team_id)).rowcount


def new_team_token(con, team_id: int) -> str:
    with tx(con):
        return new_token(con, "team", team_id)


# ---------------------------------------------------------------- jobs

def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def enqueue(con, submission_id: str) -> None:
    now = time.time()
    con.execute("INSERT INTO jobs (submission_id, state, created_at, updated_at) VALUES (?, 'queued', ?, ?)",
                (submission_id, now, now))


def claim_job(con, owner: str, lease_s: float) -> sqlite3.Row | None:
    """Take the oldest queued job, or one whose lease expired (its worker died)."""
    now = time.time()
    with tx(con):
        row = con.execute(
            "SELECT * FROM jobs WHERE state='queued' OR (state='leased' AND lease_expires < ?) "
            "ORDER BY id LIMIT 1", (now,)).fetchone()
        if row is None:
            return None
        con.execute("UPDATE jobs SET state='leased', lease_owner=?, lease_expires=?, attempts=attempts+1, "
                    "updated_at=? WHERE id=?", (owner, now + lease_s, now, row["id"]))
        con.execute("UPDATE submissions SET status='running', started_at=COALESCE(started_at, ?) "
                    "WHERE id=? AND status IN ('queued', 'running')", (now, row["submission_id"]))
        return con.execute("SELECT * FROM jobs WHERE id=?", (row["id"],)).fetchone()


def renew_lease(con, job_id: int, owner: str, lease_s: float) -> bool:
    """Extend the lease; False when the job is no longer ours (cancelled or taken over)."""
    now = time.time()
    with tx(con):
        n = con.execute("UPDATE jobs SET lease_expires=?, updated_at=? WHERE id=? AND lease_owner=? "
                        "AND state='leased'", (now + lease_s, now, job_id, owner)).rowcount
    return n == 1


def release_dead_leases(con) -> int:
    """Expire the leases of workers on this host whose process is gone (after a server restart)."""
    host = socket.gethostname()
    n = 0
    rows = con.execute("SELECT id, lease_owner FROM jobs WHERE state='leased'").fetchall()
    for r in rows:
        h, _, pid = (r["lease_owner"] or "").rpartition(":")
        if h == host and pid.isdigit() and not _alive(int(pid)):
            with tx(con):
                n += con.execute("UPDATE jobs SET lease_expires=0 WHERE id=? AND lease_owner=?",
                                 (r["id"], r["lease_owner"])).rowcount
    return n


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (killed, not yet reaped) counts as dead
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def phase_revealed(con, phase) -> bool:
    """Whether a phase's scores are public: visibility public, revealed by the admin, or past reveal_at."""
    if phase.visibility == "public":
        return True
    row = con.execute("SELECT revealed_at FROM phase_state WHERE name=?", (phase.name,)).fetchone()
    if row and row["revealed_at"] is not None:
        return True
    if phase.reveal_at:
        from datetime import UTC, datetime

        t = datetime.fromisoformat(phase.reveal_at)
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        return datetime.now(UTC) >= t
    return False


def loads(text: str | None) -> dict:
    return json.loads(text) if text else {}
