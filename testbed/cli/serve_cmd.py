"""``testbed serve --event CFG [--host H] [--port P] [--ray-address ADDR]``: the hackathon server.

FastAPI + uvicorn on one port (pages, JSON API, OpenAPI at /docs), SQLite store in the event's data
folder, and ``workers.count`` evaluation worker processes kept alive by a supervisor. Jobs that were
queued or half done when the server stopped resume on the next start.
"""

from __future__ import annotations

import socket
import sys

from testbed.cli import CLIError


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the hackathon server (leaderboard, uploads, evaluation queue)")
    p.add_argument("--event", required=True, metavar="CFG", help="event config (testbed event init NAME)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=None, help="evaluation workers (default: workers.count)")
    p.add_argument("--ray-address", default=None,
                   help="evaluate on this Ray cluster (host:port or ray://host:port); 'local' for local Ray")
    p.set_defaults(func=_serve)


def ray_reachable(address: str, timeout: float = 3.0) -> str:
    """'' when a TCP connection to the Ray address succeeds, else the reason."""
    if address in ("", "local", "auto"):
        return ""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return f"{address!r} is not host:port"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return ""
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"


def plan_backend(cfg, ray_address: str | None) -> tuple[str, str, str]:
    """(backend, ray_address, note) after checking that a configured Ray cluster answers."""
    backend = "ray" if ray_address is not None else cfg.workers.backend
    address = ray_address if ray_address is not None else cfg.workers.ray_address
    if backend != "ray":
        return "local", "", ""
    if address == "local":
        address = ""
    why = ray_reachable(address)
    if not why:
        return "ray", address, f"evaluating on Ray at {address or 'a local Ray instance'}"
    msg = f"the Ray cluster at {address} is unreachable ({why})"
    if not cfg.workers.fallback_local:
        raise CLIError(msg + "; set workers.fallback_local: true to evaluate with local workers instead")
    return "local", "", msg + "; evaluating with local workers (workers.fallback_local)"


def _serve(args) -> int:
    import dataclasses

    import uvicorn

    from testbed.server import db
    from testbed.server.app import create_app
    from testbed.server.config import load_event
    from testbed.server.jobs import Supervisor, ensure_baselines

    cfg = load_event(args.event)
    if args.workers is not None:
        if args.workers < 0:
            raise CLIError(f"--workers {args.workers}: must be >= 0")
        cfg = dataclasses.replace(cfg, workers=dataclasses.replace(cfg.workers, count=args.workers))
    con = db.connect(cfg.db_path, cfg.store.busy_timeout_ms)  # refuses a store of a newer version
    backend, address, note = plan_backend(cfg, args.ray_address)
    if note:
        print(f"testbed serve: {note}", file=sys.stderr)
    freed = db.release_dead_leases(con)
    if freed:
        print(f"testbed serve: {freed} half-done evaluation(s) resume", file=sys.stderr)
    for line in ensure_baselines(cfg, con):
        print(f"testbed serve: {line}", file=sys.stderr)
    con.close()
    sup = Supervisor(str(cfg.source), cfg.workers.count, backend, address)
    app = create_app(cfg, supervisor=sup, ray_note=note)
    sup.start()
    print(f"testbed serve: {cfg.display_title} on http://{args.host}:{args.port}/ "
          f"({cfg.workers.count} {backend} worker(s); store {cfg.db_path})", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    finally:
        sup.stop()
    return 0
