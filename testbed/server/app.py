"""The hackathon web app: JSON API (FastAPI, OpenAPI at /docs) and pages (Jinja2, autoescaped).

Access rules (fail closed; error bodies carry one generic line, never paths or other teams' data):
- public: the leaderboard of public or revealed phases, submission pages and replays of those phases;
- a team (``Authorization: Bearer TOKEN``): upload, its own submissions, their logs and archives, cancel
  while queued; another team's submission answers 404 exactly like one that does not exist;
- the admin token: everything, plus teams, tokens, the queue, worker health, reveal, re-evaluation.
"""

import collections
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from testbed.server import db, worker
from testbed.server.config import EventConfig

HERE = Path(__file__).parent
bearer = HTTPBearer(auto_error=False, description="a team token or the admin token")


class Principal:
    def __init__(self, role: str, team_id: int | None, team_name: str | None):
        self.role, self.team_id, self.team_name = role, team_id, team_name

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class UploadBodyLimit:
    """ASGI middleware: refuse an upload larger than the limit before and while it is read (413)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/api/submissions":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        cl = headers.get(b"content-length")
        if cl is not None and (not cl.isdigit() or int(cl) > self.max_bytes):
            return await _send_json(send, 413, "upload too large")
        seen = 0

        async def limited():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return msg

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _send_json(send, 413, "upload too large")


class _TooLarge(Exception):
    pass


async def _send_json(send, status, detail):
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class RateLimiter:
    def __init__(self, n: int, window_s: float):
        self.n, self.window_s = n, window_s
        self.hits: dict[int, collections.deque] = collections.defaultdict(collections.deque)
        self.lock = threading.Lock()

    def allow(self, key) -> float:
        """0 when allowed (and counted), else the seconds until the next slot."""
        now = time.monotonic()
        with self.lock:
            q = self.hits[key]
            while q and now - q[0] > self.window_s:
                q.popleft()
            if len(q) >= self.n:
                return self.window_s - (now - q[0])
            q.append(now)
            return 0.0


_ID = re.compile(r"^s[0-9a-f]{12}$")
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]|\x1b\[[0-9;]*[A-Za-z]")


def create_app(cfg: EventConfig, supervisor=None, ray_note: str = "") -> FastAPI:
    import jinja2

    app = FastAPI(title=f"{cfg.display_title}: testbed hackathon server",
                  description="Leaderboard, uploads and evaluation queue of a Duisburg testbed hackathon.",
                  version=str(db.SCHEMA_VERSION))
    app.state.cfg = cfg
    app.state.supervisor = supervisor
    app.state.ray_note = ray_note
    con0 = db.connect(cfg.db_path, cfg.store.busy_timeout_ms)  # refuses a newer schema version
    con0.close()
    local = threading.local()
    limiter = RateLimiter(cfg.limits.uploads_per_window, cfg.limits.window_s)
    upload_max = int(cfg.limits.upload_max_mb * 1e6)
    app.add_middleware(UploadBodyLimit, max_bytes=upload_max + 64 * 1024)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True)
    env.filters["ts"] = lambda t: time.strftime("%H:%M:%S", time.localtime(t))
    env.filters["label"] = lambda k: _LABELS.get(k, k.replace("_", " "))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    lb_cache: dict = {}
    map_cache: dict = {}

    def conn() -> sqlite3.Connection:
        c = getattr(local, "con", None)
        if c is None:
            c = local.con = db.connect(cfg.db_path, cfg.store.busy_timeout_ms)
        return c

    verified: dict[bytes, str] = {}  # sha256(token) -> token id, so a page polling with a token skips PBKDF2

    def _lookup(token: str) -> Principal | None:
        digest = hashlib.sha256(token.encode()).digest()
        tid = verified.get(digest)
        if tid is not None:  # seen and verified before: only revocation is checked again
            row = conn().execute("SELECT * FROM tokens WHERE id=? AND revoked_at IS NULL", (tid,)).fetchone()
        else:
            row = db.verify_token(conn(), token)
            if row is not None:
                if len(verified) > 10_000:
                    verified.clear()
                verified[digest] = row["id"]
        if row is None:
            return None
        name = None
        if row["team_id"] is not None:
            t = conn().execute("SELECT name FROM teams WHERE id=?", (row["team_id"],)).fetchone()
            name = t["name"] if t else None
        return Principal(row["role"], row["team_id"], name)

    async def principal(cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal | None:
        if cred is None:  # anonymous: no thread, no database (the leaderboard's hot path)
            return None
        p = await run_in_threadpool(_lookup, cred.credentials)
        if p is None:
            raise HTTPException(401, "missing or invalid token", headers={"WWW-Authenticate": "Bearer"})
        return p

    OptP = Annotated[Principal | None, Depends(principal)]

    def require(p: OptP) -> Principal:
        if p is None:
            raise HTTPException(401, "missing or invalid token", headers={"WWW-Authenticate": "Bearer"})
        return p

    ReqP = Annotated[Principal, Depends(require)]

    def admin(p: ReqP) -> Principal:
        if not p.is_admin:
            raise HTTPException(403, "admin only")
        return p

    AdmP = Annotated[Principal, Depends(admin)]

    def phase_public(name: str) -> bool:
        try:
            return db.phase_revealed(conn(), cfg.phase(name))
        except KeyError:
            return False

    def get_sub(sub_id: str, p: Principal | None, *, owner_only: bool) -> sqlite3.Row:
        """The submission if ``p`` may see it; 404 otherwise (same answer as a missing one)."""
        if not _ID.match(sub_id):
            raise HTTPException(404, "no such submission")
        row = conn().execute("SELECT s.*, t.name AS team, t.kind AS team_kind FROM submissions s "
                             "JOIN teams t ON t.id=s.team_id WHERE s.id=?", (sub_id,)).fetchone()
        if row is None:
            raise HTTPException(404, "no such submission")
        if p is not None and (p.is_admin or p.team_id == row["team_id"]):
            return row
        if not owner_only and (phase_public(row["phase"]) or row["team_kind"] == "baseline"):
            return row
        raise HTTPException(404, "no such submission")

    def scores_visible(row, p: Principal | None) -> bool:
        return (p is not None and p.is_admin) or phase_public(row["phase"])

    def sub_json(row, p: Principal | None) -> dict:
        show = scores_visible(row, p)
        eps = conn().execute("SELECT * FROM episodes WHERE submission_id=? ORDER BY idx", (row["id"],)).fetchall()
        out = {
            "id": row["id"], "team": row["team"], "name": row["name"], "phase": row["phase"],
            "status": row["status"], "created_at": row["created_at"], "started_at": row["started_at"],
            "finished_at": row["finished_at"], "episodes_done": row["episodes_done"],
            "episodes_total": row["episodes_total"], "sha256": row["sha256"], "size": row["size"],
            "charged": bool(row["charged"]), "message": row["message"] if _may_see_message(row, p) else "",
            "scores_visible": show,
            "score": row["score"] if show else None,
            "case_scores": db.loads(row["case_scores"]) if show else {},
            "episodes": [_ep_json(row, e, show) for e in eps] if show else [],
        }
        out["rule_means"] = _rule_means(out["episodes"])
        return out

    def _may_see_message(row, p) -> bool:
        return p is not None and (p.is_admin or p.team_id == row["team_id"])

    def _ep_json(sub, e, show) -> dict:
        base = f"/api/submissions/{sub['id']}/episodes/{e['idx']}"
        d = {"idx": e["idx"], "case": e["case_name"], "seed": e["seed"], "status": e["status"],
             "score": e["score"], "metrics": db.loads(e["metrics"])}
        d["rules"] = _rules_text(d["metrics"])
        if e["replay"]:
            d["replay_url"] = f"/api/submissions/{sub['id']}/replays/{_replay_name(e)}"
            d["trajectory_url"] = base + "/trajectory"
            d["play_url"] = f"/play/{sub['id']}/{e['idx']}"
        if e["thumbnail"]:
            d["thumbnail_url"] = base + "/thumbnail"
        return d

    # ------------------------------------------------------------------ leaderboard
    def cached(phase_name: str | None, is_admin: bool):
        hit = lb_cache.get((phase_name, is_admin))
        return hit if hit and time.monotonic() - hit[0] < 1.0 else None

    def leaderboard_entry(phase_name: str | None, is_admin: bool) -> tuple:
        """(time, data, json bytes, fragment html) for the phase, rebuilt at most once a second."""
        hit = cached(phase_name, is_admin)
        if hit:
            return hit
        data = leaderboard(phase_name, is_admin)
        entry = (time.monotonic(), data, json.dumps(data).encode(),
                 env.get_template("_board.html").render(lb=data))
        lb_cache[(phase_name, is_admin)] = entry
        return entry

    def leaderboard(phase_name: str | None, is_admin: bool) -> dict:
        visible = [p for p in cfg.phases if is_admin or phase_public(p.name)]
        names = [p.name for p in visible]
        if phase_name is None:
            phase_name = names[0] if names else None
        if phase_name not in names:
            return {"event": cfg.display_title, "phase": None, "phases": _phases(is_admin), "rows": [],
                    "baselines": [], "cases": [], "queue": {}}
        c = conn()
        subs = c.execute("SELECT s.*, t.name AS team, t.kind AS kind FROM submissions s JOIN teams t "
                         "ON t.id=s.team_id WHERE s.phase=? ORDER BY s.created_at", (phase_name,)).fetchall()
        best: dict[int, sqlite3.Row] = {}
        latest: dict[int, sqlite3.Row] = {}
        counts: collections.Counter = collections.Counter()
        for s in subs:
            counts[s["team_id"]] += 1
            latest[s["team_id"]] = s
            if s["status"] == "finished" and s["score"] is not None:
                b = best.get(s["team_id"])
                if b is None or s["score"] > b["score"]:
                    best[s["team_id"]] = s
        cases: set[str] = set()
        rows, baselines = [], []
        for team_id, s in latest.items():
            b = best.get(team_id)
            shown = b or s
            eps = c.execute("SELECT idx, case_name, seed, status, score, replay, thumbnail FROM episodes "
                            "WHERE submission_id=? ORDER BY idx", (shown["id"],)).fetchall()
            per_case: dict[str, dict] = {}
            for e in eps:
                d = per_case.setdefault(e["case_name"], {"episodes": 0, "statuses": collections.Counter()})
                d["episodes"] += 1
                d["statuses"][e["status"]] += 1
                if e["replay"] and "play_url" not in d:
                    d["play_url"] = f"/play/{shown['id']}/{e['idx']}"
                    d["replay_url"] = f"/api/submissions/{shown['id']}/replays/{_replay_name(e)}"
                    if e["thumbnail"]:
                        d["thumbnail_url"] = f"/api/submissions/{shown['id']}/episodes/{e['idx']}/thumbnail"
            cs = db.loads(shown["case_scores"]) if b else {}
            for name, d in per_case.items():
                d["statuses"] = dict(d["statuses"])
                d["score"] = cs.get(name)
            cases.update(per_case)
            row = {"team": s["team"], "submission": {"id": shown["id"], "name": shown["name"]},
                   "score": b["score"] if b else None, "cases": per_case,
                   "status": s["status"], "latest": {"id": s["id"], "status": s["status"],
                                                     "done": s["episodes_done"], "total": s["episodes_total"]},
                   "submissions": counts[team_id]}
            (baselines if s["kind"] == "baseline" else rows).append(row)
        rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0.0), r["team"]))
        rank = 0
        for r in rows:
            if r["score"] is not None:
                rank += 1
                r["rank"] = rank
            else:
                r["rank"] = None
        q = c.execute("SELECT status, COUNT(*) AS n FROM submissions WHERE phase=? GROUP BY status",
                      (phase_name,)).fetchall()
        phase = cfg.phase(phase_name)
        data = {"event": cfg.display_title, "phase": phase_name, "suite": phase.suite,
                "phases": _phases(is_admin), "cases": sorted(cases), "rows": rows,
                "baselines": sorted(baselines, key=lambda r: r["team"]),
                "queue": {r["status"]: r["n"] for r in q}, "updated": time.time()}
        return data

    def _phases(is_admin: bool) -> list[dict]:
        out = []
        for p in cfg.phases:
            pub = phase_public(p.name)
            if pub or is_admin:
                out.append({"name": p.name, "suite": p.suite, "uploads": p.uploads, "public": pub})
        return out

    @app.get("/api/leaderboard", tags=["public"])
    async def api_leaderboard(p: OptP, phase: str | None = None):
        """Ranked best finished submission per team, per-case scores and statuses, baselines as reference."""
        is_admin = bool(p and p.is_admin)
        entry = cached(phase, is_admin) or await run_in_threadpool(leaderboard_entry, phase, is_admin)
        return Response(entry[2], media_type="application/json")

    @app.get("/api/phases", tags=["public"])
    def api_phases(p: OptP):
        return _phases(bool(p and p.is_admin))

    # ------------------------------------------------------------------ uploads
    @app.post("/api/submissions", status_code=201, tags=["team"])
    async def api_upload(request: Request, p: ReqP):
        """Upload a submission zip (multipart field ``file``; optional ``phase`` and ``name``)."""
        if p.team_id is None:
            raise HTTPException(403, "uploads need a team token")
        wait = limiter.allow(p.team_id)
        if wait:
            raise HTTPException(429, "too many uploads: try again later",
                                headers={"Retry-After": str(int(wait) + 1)})
        try:
            form = await request.form(max_files=1, max_fields=4)
        except OSError as exc:
            raise HTTPException(*_os_error(exc)) from None
        except _TooLarge:
            raise
        except Exception:
            raise HTTPException(400, "expected a multipart form with a file field") from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(400, "expected a multipart form with a file field")
        phase_name = str(form.get("phase") or "") or _default_phase()
        try:
            phase = cfg.phase(phase_name)
        except KeyError:
            raise HTTPException(400, "no such phase") from None
        if phase.uploads != "open":
            raise HTTPException(409, f"uploads to phase {phase.name} are closed")
        label = str(form.get("name") or "")[:80]
        try:
            result = await run_in_threadpool(store_upload, p, phase, upload.file, label)
        finally:
            await upload.close()
        return JSONResponse(result, status_code=200 if result["duplicate"] else 201)

    def _default_phase() -> str:
        for ph in cfg.phases:
            if ph.uploads == "open":
                return ph.name
        raise HTTPException(409, "no phase accepts uploads now")

    def store_upload(p: Principal, phase, fileobj, label: str) -> dict:
        root = cfg.root
        tmp_dir = root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        sub_id = "s" + secrets.token_hex(6)
        tmp_zip = tmp_dir / f"{sub_id}.zip.part"
        tmp_unpacked = tmp_dir / f"{sub_id}.d"
        final_zip = root / "uploads" / f"{sub_id}.zip"
        final_dir = root / "submissions" / sub_id
        moved: list[Path] = []
        try:
            h = hashlib.sha256()
            size = 0
            with open(tmp_zip, "wb") as out:
                while chunk := fileobj.read(1 << 20):
                    size += len(chunk)
                    if size > upload_max:
                        raise HTTPException(413, "upload too large")
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size == 0:
                raise HTTPException(400, "empty upload")
            sha = h.hexdigest()
            c = conn()
            dup = c.execute("SELECT id, status FROM submissions WHERE team_id=? AND phase=? AND sha256=?",
                            (p.team_id, phase.name, sha)).fetchone()
            if dup is not None:
                return {"id": dup["id"], "status": dup["status"], "duplicate": True, "sha256": sha}
            try:
                folder = worker.unpack(tmp_zip, tmp_unpacked, cfg.limits)
            except worker.Rejected as exc:
                raise HTTPException(400, f"invalid submission archive: {_public_problem(exc)}") from None
            try:
                meta = worker.read_meta(folder)
            except worker.Rejected as exc:
                raise HTTPException(400, f"invalid submission: {_public_problem(exc)}") from None
            name = (label or str(meta.get("name") or "") or f"upload {sha[:8]}")[:80]
            with db.tx(c):
                used = c.execute("SELECT COUNT(*) FROM submissions WHERE team_id=? AND phase=? AND charged=1",
                                 (p.team_id, phase.name)).fetchone()[0]
                if used >= phase.quota:
                    raise HTTPException(429, f"quota of phase {phase.name} used up ({used}/{phase.quota})")
                c.execute("INSERT INTO submissions (id, team_id, phase, name, sha256, size, status, created_at) "
                          "VALUES (?,?,?,?,?,?, 'queued', ?)",
                          (sub_id, p.team_id, phase.name, name, sha, size, time.time()))
                db.enqueue(c, sub_id)
                final_zip.parent.mkdir(parents=True, exist_ok=True)
                final_dir.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_zip, final_zip)
                moved.append(final_zip)
                os.replace(folder, final_dir)
                moved.append(final_dir)
            moved.clear()  # committed: the files belong to the row now
            lb_cache.clear()
            return {"id": sub_id, "status": "queued", "duplicate": False, "sha256": sha, "name": name,
                    "phase": phase.name}
        except sqlite3.IntegrityError:  # the same zip raced in twice: the other upload won
            dup = conn().execute("SELECT id, status FROM submissions WHERE team_id=? AND phase=? AND sha256=?",
                                 (p.team_id, phase.name, sha)).fetchone()
            if dup is None:
                raise
            return {"id": dup["id"], "status": dup["status"], "duplicate": True, "sha256": sha}
        except db.StoreBusy:
            raise HTTPException(503, "the server is busy: upload refused, nothing stored; try again",
                                headers={"Retry-After": "5"}) from None
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise HTTPException(503, "the server is busy: upload refused, nothing stored; try again",
                                    headers={"Retry-After": "5"}) from None
            raise
        except OSError as exc:
            raise HTTPException(*_os_error(exc)) from None
        finally:
            for pth in moved:  # the transaction did not commit: remove what was moved into place
                shutil.rmtree(pth, ignore_errors=True) if pth.is_dir() else pth.unlink(missing_ok=True)
            tmp_zip.unlink(missing_ok=True)
            shutil.rmtree(tmp_unpacked, ignore_errors=True)

    def _public_problem(exc) -> str:
        # the evaluation package names the member and the problem; drop our own paths
        return str(exc).replace(str(cfg.root), "").strip()[:300]

    @app.get("/api/submissions", tags=["team"])
    def api_my_submissions(p: ReqP):
        """The caller's submissions (all of them for the admin)."""
        q = ("SELECT s.*, t.name AS team, t.kind AS team_kind FROM submissions s JOIN teams t ON t.id=s.team_id ")
        rows = (conn().execute(q + "ORDER BY s.created_at DESC").fetchall() if p.is_admin else
                conn().execute(q + "WHERE s.team_id=? ORDER BY s.created_at DESC", (p.team_id,)).fetchall())
        used = {}
        for ph in cfg.phases:
            if p.team_id is not None:
                used[ph.name] = {"used": conn().execute(
                    "SELECT COUNT(*) FROM submissions WHERE team_id=? AND phase=? AND charged=1",
                    (p.team_id, ph.name)).fetchone()[0], "quota": ph.quota}
        return {"team": p.team_name, "role": p.role, "quota": used,
                "submissions": [{"id": r["id"], "name": r["name"], "phase": r["phase"], "status": r["status"],
                                 "team": r["team"], "episodes_done": r["episodes_done"],
                                 "episodes_total": r["episodes_total"], "created_at": r["created_at"],
                                 "score": r["score"] if scores_visible(r, p) else None} for r in rows]}

    @app.get("/api/submissions/{sub_id}", tags=["team"])
    def api_submission(sub_id: str, p: ReqP):
        """Status, progress, per-case scores and episodes: the owning team and the admin only."""
        return sub_json(get_sub(sub_id, p, owner_only=True), p)

    @app.post("/api/submissions/{sub_id}/cancel", tags=["team"])
    def api_cancel(sub_id: str, p: ReqP):
        """Cancel a queued submission (the admin may also stop a running one). Not charged."""
        row = get_sub(sub_id, p, owner_only=True)
        allowed = ("queued", "running") if p.is_admin else ("queued",)
        c = conn()
        try:
            with db.tx(c):
                n = c.execute(f"UPDATE submissions SET status='cancelled', charged=0, finished_at=? WHERE id=? "
                              f"AND status IN ({','.join('?' * len(allowed))})",
                              (time.time(), sub_id, *allowed)).rowcount
                if n:
                    c.execute("UPDATE jobs SET state='cancelled', updated_at=? WHERE submission_id=? "
                              "AND state IN ('queued', 'leased')", (time.time(), sub_id))
        except db.StoreBusy:
            raise HTTPException(503, "the server is busy; try again") from None
        if not n:
            raise HTTPException(409, f"only a queued submission can be cancelled (this one is {row['status']})")
        lb_cache.clear()
        return {"id": sub_id, "status": "cancelled"}

    @app.get("/api/submissions/{sub_id}/logs", tags=["team"])
    def api_logs(sub_id: str, p: ReqP):
        """The evaluation log: filtered (no server paths, no control characters) and capped."""
        row = get_sub(sub_id, p, owner_only=True)
        path = cfg.root / "logs" / f"{row['id']}.log"
        cap = cfg.limits.log_max_kb * 1024
        text, cut = "", 0
        if path.exists():
            size = path.stat().st_size
            with open(path, "rb") as fh:
                if size > cap:
                    fh.seek(size - cap)
                    cut = size - cap
                text = fh.read(cap).decode("utf-8", "replace")
        text = _filter_log(text, hidden=not scores_visible(row, p))
        if cut:
            text = f"[... {cut} bytes cut; the last {cfg.limits.log_max_kb} kB follow]\n" + text
        return {"id": row["id"], "log": text, "truncated": bool(cut)}

    def _filter_log(text: str, hidden: bool) -> str:
        for secret_path in (str(cfg.root), str(Path.home())):
            text = text.replace(secret_path, "<server>")
        text = _CTRL.sub("", text)
        if hidden:  # hidden-phase seeds stay secret until the reveal
            text = "\n".join(ln for ln in text.splitlines() if "seed" not in ln.lower())
        return text

    @app.get("/api/submissions/{sub_id}/archive", tags=["team"])
    def api_archive(sub_id: str, p: ReqP):
        """The uploaded zip: the owning team and the admin only."""
        row = get_sub(sub_id, p, owner_only=True)
        return _file(cfg.root / "uploads" / f"{row['id']}.zip", cfg.root / "uploads", "application/zip")

    def _file(path: Path, inside: Path, media: str, filename: str | None = None):
        try:
            real = path.resolve(strict=True)
            if not real.is_relative_to(inside.resolve()) or not real.is_file():
                raise FileNotFoundError
        except (OSError, RuntimeError):
            raise HTTPException(404, "not found") from None
        return FileResponse(real, media_type=media, filename=filename or real.name)

    def _episode(sub_id: str, idx: int, p):
        row = get_sub(sub_id, p, owner_only=False)
        if not scores_visible(row, p) and not (row["team_kind"] == "baseline"):
            raise HTTPException(404, "not found")
        e = conn().execute("SELECT * FROM episodes WHERE submission_id=? AND idx=?", (row["id"], idx)).fetchone()
        if e is None:
            raise HTTPException(404, "not found")
        return row, e

    def _replay_root() -> Path:
        return cfg.results_path.with_name(cfg.results_path.name + ".replays")

    @app.get("/api/submissions/{sub_id}/replays/{name}", tags=["public"])
    def api_replay(sub_id: str, name: str, p: OptP):
        """Download an episode's replay file (for ``testbed replay``): public in public phases, else the
        owner... and the admin; hidden phases: the admin until revealed."""
        row = get_sub(sub_id, p, owner_only=False)
        if not scores_visible(row, p):
            raise HTTPException(404, "not found")
        for e in conn().execute("SELECT case_name, seed, replay FROM episodes WHERE submission_id=? AND "
                                "replay IS NOT NULL", (row["id"],)).fetchall():
            if _replay_name(e) == name:  # matched against the store, never joined to a path
                return _file(Path(e["replay"]), _replay_root(), "application/octet-stream", filename=name)
        raise HTTPException(404, "not found")

    @app.get("/api/submissions/{sub_id}/episodes/{idx}/thumbnail", tags=["public"])
    def api_thumbnail(sub_id: str, idx: int, p: OptP):
        _row, e = _episode(sub_id, idx, p)
        if not e["thumbnail"]:
            raise HTTPException(404, "not found")
        media = "video/mp4" if e["thumbnail"].endswith(".mp4") else "image/gif"
        return _file(Path(e["thumbnail"]), cfg.root / "thumbs", media)

    @app.get("/api/submissions/{sub_id}/episodes/{idx}/trajectory", tags=["public"])
    def api_trajectory(sub_id: str, idx: int, p: OptP):
        """Positions of the ego and the traffic (local metres) for the in-browser playback."""
        _row, e = _episode(sub_id, idx, p)
        if not e["replay"]:
            raise HTTPException(404, "not found")
        path = Path(e["replay"])
        try:
            path.resolve(strict=True).relative_to(_replay_root().resolve())
        except (OSError, ValueError):
            raise HTTPException(404, "not found") from None
        try:
            data = worker.trajectory(path)
        except Exception:
            raise HTTPException(500, "the replay could not be read") from None
        data["case"], data["status"], data["score"] = e["case_name"], e["status"], e["score"]
        data["replay_url"] = f"/api/submissions/{sub_id}/replays/{_replay_name(e)}"
        return data

    @app.get("/api/maps/{name}", tags=["public"])
    def api_map(name: str):
        """The map outline (water polygons) and lanes in local metres, as GeoJSON."""
        from harbour_maps.map import list_maps

        if name not in list_maps():
            raise HTTPException(404, "no such map")
        if name not in map_cache:
            map_cache[name] = _map_geojson(name)
        return map_cache[name]

    # ------------------------------------------------------------------ admin
    @app.get("/api/admin/teams", tags=["admin"])
    def admin_teams(p: AdmP):
        rows = conn().execute(
            "SELECT t.id, t.name, t.kind, t.created_at, "
            "(SELECT COUNT(*) FROM tokens k WHERE k.team_id=t.id AND k.revoked_at IS NULL) AS active_tokens, "
            "(SELECT COUNT(*) FROM tokens k WHERE k.team_id=t.id AND k.revoked_at IS NOT NULL) AS revoked_tokens, "
            "(SELECT COUNT(*) FROM submissions s WHERE s.team_id=t.id) AS submissions FROM teams t ORDER BY t.id"
        ).fetchall()
        return [dict(r) for r in rows]

    @app.post("/api/admin/teams", status_code=201, tags=["admin"])
    def admin_add_team(body: dict, p: AdmP):
        """Create a team; the response holds its token (shown once)."""
        try:
            team_id, token = db.add_team(conn(), str(body.get("name", "")))
        except db.StoreError as exc:
            raise HTTPException(409, str(exc)) from None
        except db.StoreBusy:
            raise HTTPException(503, "the server is busy; try again") from None
        lb_cache.clear()
        return {"id": team_id, "name": str(body.get("name", "")).strip(), "token": token}

    @app.post("/api/admin/teams/{team_id}/revoke", tags=["admin"])
    def admin_revoke(team_id: int, p: AdmP):
        return {"revoked": db.revoke_team_tokens(conn(), team_id)}

    @app.post("/api/admin/teams/{team_id}/token", status_code=201, tags=["admin"])
    def admin_token(team_id: int, p: AdmP):
        if conn().execute("SELECT 1 FROM teams WHERE id=? AND kind='team'", (team_id,)).fetchone() is None:
            raise HTTPException(404, "no such team")
        return {"token": db.new_team_token(conn(), team_id)}

    @app.get("/api/admin/queue", tags=["admin"])
    def admin_queue(p: AdmP):
        rows = conn().execute(
            "SELECT j.id AS job, j.state, j.attempts, j.lease_owner, j.lease_expires, j.submission_id, "
            "s.status, s.phase, s.name, s.episodes_done, s.episodes_total, t.name AS team FROM jobs j "
            "JOIN submissions s ON s.id=j.submission_id JOIN teams t ON t.id=s.team_id "
            "WHERE j.state IN ('queued', 'leased') OR j.updated_at > ? ORDER BY j.id DESC LIMIT 200",
            (time.time() - 3600,)).fetchall()
        return [dict(r) for r in rows]

    @app.get("/api/admin/workers", tags=["admin"])
    def admin_workers(p: AdmP):
        now = time.time()
        rows = [dict(r) for r in conn().execute("SELECT * FROM workers ORDER BY started_at DESC LIMIT 50")]
        for r in rows:
            r["age_s"] = round(now - r["heartbeat_at"], 1)
            r["healthy"] = r["state"] != "stopped" and r["age_s"] < 3 * cfg.workers.lease_s
        sup = app.state.supervisor
        return {"workers": rows, "processes": sup.pids() if sup else [], "restarts": sup.restarts if sup else 0,
                "backend": cfg.workers.backend, "note": app.state.ray_note}

    @app.post("/api/admin/phases/{name}/reveal", tags=["admin"])
    def admin_reveal(name: str, p: AdmP):
        try:
            cfg.phase(name)
        except KeyError:
            raise HTTPException(404, "no such phase") from None
        with db.tx(conn()):
            conn().execute("INSERT INTO phase_state (name, revealed_at) VALUES (?, ?) ON CONFLICT(name) DO "
                           "UPDATE SET revealed_at=excluded.revealed_at", (name, time.time()))
        lb_cache.clear()
        return {"phase": name, "revealed": True}

    @app.post("/api/admin/submissions/{sub_id}/reevaluate", tags=["admin"])
    def admin_reevaluate(sub_id: str, p: AdmP):
        """Evaluate a submission again from scratch (new results; the quota is not charged again)."""
        row = get_sub(sub_id, p, owner_only=True)
        c = conn()
        with db.tx(c):
            c.execute("UPDATE jobs SET state='cancelled' WHERE submission_id=? AND state IN ('queued','leased')",
                      (sub_id,))
            c.execute("DELETE FROM episodes WHERE submission_id=?", (sub_id,))
            c.execute("UPDATE submissions SET status='queued', evals=evals+1, score=NULL, case_scores='{}', "
                      "episodes_done=0, started_at=NULL, finished_at=NULL, message='' WHERE id=?", (sub_id,))
            db.enqueue(c, sub_id)
        lb_cache.clear()
        return {"id": row["id"], "status": "queued"}

    # ------------------------------------------------------------------ pages
    def page(name: str, **ctx) -> HTMLResponse:
        html = env.get_template(name).render(event=cfg.display_title, refresh_ms=int(cfg.refresh_s * 1000),
                                             **ctx)
        return HTMLResponse(html, headers={"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff",
                                           "Referrer-Policy": "no-referrer"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page_leaderboard(phase: str | None = None):
        data = leaderboard_entry(phase, False)[1]
        return page("leaderboard.html", lb=data, requested=phase or "")

    @app.get("/submit", response_class=HTMLResponse, include_in_schema=False)
    def page_submit(request: Request):
        return page("submit.html", phases=[ph for ph in cfg.phases if ph.uploads == "open"],
                    max_mb=cfg.limits.upload_max_mb, server_url=str(request.base_url).rstrip("/"))

    @app.get("/submissions/{sub_id}", response_class=HTMLResponse, include_in_schema=False)
    def page_submission(sub_id: str):
        try:
            row = get_sub(sub_id, None, owner_only=False)
            data = sub_json(row, None)
        except HTTPException:
            data = None  # maybe the owner's: the page loads it with the token from the browser
        return page("submission.html", sub=data, sub_id=sub_id if _ID.match(sub_id) else "",
                    metric_keys=_metric_keys(data["episodes"]) if data else [], owner=False)

    @app.get("/play/{sub_id}/{idx}", response_class=HTMLResponse, include_in_schema=False)
    def page_play(sub_id: str, idx: int):
        return page("play.html", sub_id=sub_id if _ID.match(sub_id) else "", idx=idx)

    @app.get("/admin", response_class=HTMLResponse, include_in_schema=False)
    def page_admin():
        return page("admin.html", phases=cfg.phases)

    def fragment(name: str, **ctx) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**ctx), headers={"Cache-Control": "no-store"})

    @app.get("/fragment/board", response_class=HTMLResponse, include_in_schema=False)
    async def frag_board(p: OptP, phase: str | None = None):
        is_admin, phase = bool(p and p.is_admin), phase or None
        entry = cached(phase, is_admin) or await run_in_threadpool(leaderboard_entry, phase, is_admin)
        return HTMLResponse(entry[3], headers={"Cache-Control": "no-store"})

    @app.get("/fragment/submissions/{sub_id}", response_class=HTMLResponse, include_in_schema=False)
    def frag_submission(sub_id: str, p: OptP):
        row = get_sub(sub_id, p, owner_only=False)
        data = sub_json(row, p)
        return fragment("_submission.html", sub=data, metric_keys=_metric_keys(data["episodes"]),
                        owner=bool(p and (p.is_admin or p.team_id == row["team_id"])))

    @app.get("/fragment/mine", response_class=HTMLResponse, include_in_schema=False)
    def frag_mine(p: ReqP):
        data = api_my_submissions(p)
        return fragment("_mine.html", team=data["team"], quota=data["quota"], subs=data["submissions"])

    @app.get("/fragment/admin", response_class=HTMLResponse, include_in_schema=False)
    def frag_admin(p: AdmP):
        return fragment("_admin.html", phases=[
            {"name": ph.name, "suite": ph.suite, "uploads": ph.uploads, "quota": ph.quota,
             "public": phase_public(ph.name)} for ph in cfg.phases],
            teams=admin_teams(p), queue=admin_queue(p), workers=admin_workers(p))

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        conn().execute("SELECT 1").fetchone()
        return {"ok": True}

    return app


_METRIC_ORDER = ("outcome", "progress", "time_to_goal_s", "min_cpa_m", "near_misses", "rule_violations",
                 "cross_track_rms_m", "energy", "late_steps")


def _rules_text(metrics: dict) -> str:
    """An episode's rule violations per article, e.g. "§6.20 2, §9.07 1" ("" without per-article counts)."""
    from testbed.evaluation.metrics import RULE_COLUMNS
    from testbed.rules.articles import ARTICLE_IDS

    if metrics.get(RULE_COLUMNS[0]) is None:
        return ""
    return ", ".join(f"§{a} {int(metrics[c])}" for a, c in zip(ARTICLE_IDS, RULE_COLUMNS, strict=True)
                     if metrics.get(c)) or "none"


def _rule_means(episodes: list[dict]) -> dict[str, float]:
    """Mean rule violations per finished episode per article id (only articles with any)."""
    from testbed.evaluation.metrics import rule_means

    m = rule_means([e["metrics"] for e in episodes if e["status"] == "finished"])
    return {a: v for a, v in m.items() if v}


def _replay_name(e) -> str:
    """The download name of an episode's replay: unique within a submission, safe in a URL."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{e['case_name']}_{e['seed']}") + ".replay"


_LABELS = {"time_to_goal_s": "time to goal [s]", "min_cpa_m": "min CPA [m]", "near_misses": "near misses",
           "cross_track_rms_m": "cross-track RMS [m]", "late_steps": "late steps",
           "rule_violations": "rule violations"}


def _metric_keys(episodes: list[dict], n: int = 8) -> list[str]:
    """The metrics shown as columns of the episode table (the documented ones, in this order)."""
    present = {k for e in episodes for k, v in e["metrics"].items() if v is not None}
    return [k for k in _METRIC_ORDER if k in present][:n]


_CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self'; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")


def _os_error(exc: OSError) -> tuple[int, str]:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return 507, "the server's disk is full: upload refused, nothing stored"
    return 503, "the server could not store the upload: refused, nothing stored"


def _map_geojson(name: str) -> dict:
    import shapely
    from shapely.geometry import mapping

    from harbour_maps import load_map

    m = load_map(name)
    water = shapely.simplify(m.water, 2.0)
    feats = [{"type": "Feature", "properties": {"kind": "water"}, "geometry": _round(mapping(water))}]
    for lane in getattr(m, "lanes", []):
        xy = getattr(lane, "xy", None)
        if xy is not None:
            feats.append({"type": "Feature", "properties": {"kind": "lane", "id": lane.id},
                          "geometry": {"type": "LineString", "coordinates": [[round(float(a), 1), round(float(b), 1)]
                                                                             for a, b in xy]}})
    for b in getattr(m, "berths", []):
        feats.append({"type": "Feature", "properties": {"kind": "berth", "name": b.name},
                      "geometry": {"type": "Point", "coordinates": [round(float(v), 1) for v in b.xy]}})
    x0, y0, x1, y1 = water.bounds
    return {"type": "FeatureCollection", "crs": "local metres (x east, y north)", "map": name,
            "bbox": [x0, y0, x1, y1], "features": feats}


def _round(geom):
    def r(c):
        if isinstance(c, (list, tuple)) and c and isinstance(c[0], (int, float)):
            return [round(float(c[0]), 1), round(float(c[1]), 1)]
        return [r(x) for x in c]

    return {"type": geom["type"], "coordinates": r(geom["coordinates"])}
