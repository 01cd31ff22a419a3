"""``testbed event``: create a hackathon event and manage its teams and tokens.

    testbed event init NAME                      conf/event/NAME.yaml + the store + the admin token
    testbed event team add NAME --event CFG      a team; its token is the last word of the last line
    testbed event team revoke NAME --event CFG   revoke every token of the team
    testbed event team token NAME --event CFG    a new token for the team (old ones stay valid)
    testbed event team list --event CFG
    testbed event admin-token --event CFG        revoke the admin token(s) and print a new one

Tokens are printed once and stored only as salted hashes.
"""

from __future__ import annotations

import time
from pathlib import Path

from testbed.cli import CLIError


def register(sub) -> None:
    p = sub.add_parser("event", help="hackathon event: init, teams, tokens (see: testbed serve)")
    esub = p.add_subparsers(dest="event_command", metavar="ACTION")
    esub.required = True

    q = esub.add_parser("init", help="write conf/event/NAME.yaml and create the store and admin token")
    q.add_argument("name")
    q.add_argument("--force", action="store_true", help="overwrite an existing config")
    q.set_defaults(func=_init)

    q = esub.add_parser("admin-token", help="revoke the admin token and print a new one")
    q.add_argument("--event", required=True, metavar="CFG")
    q.set_defaults(func=_admin_token)

    t = esub.add_parser("team", help="teams and their tokens")
    tsub = t.add_subparsers(dest="team_command", metavar="ACTION")
    tsub.required = True
    for name, func, helptext in (("add", _team_add, "add a team and print its token"),
                                 ("revoke", _team_revoke, "revoke all tokens of a team"),
                                 ("token", _team_token, "issue a new token for a team")):
        q = tsub.add_parser(name, help=helptext)
        q.add_argument("name")
        q.add_argument("--event", required=True, metavar="CFG")
        q.set_defaults(func=func)
    q = tsub.add_parser("list", help="list the teams")
    q.add_argument("--event", required=True, metavar="CFG")
    q.set_defaults(func=_team_list)


def _open(cfg_path):
    from testbed.server import db
    from testbed.server.config import load_event

    cfg = load_event(cfg_path)
    return cfg, db.connect(cfg.db_path, cfg.store.busy_timeout_ms)


def _init(args) -> int:
    import atomicio
    from testbed.server import db
    from testbed.server.config import load_event, starter_yaml

    path = Path("conf") / "event" / f"{args.name}.yaml"
    text = starter_yaml(args.name)
    if path.exists() and not args.force:
        raise CLIError(f"{path} exists already (use --force to overwrite it)")
    atomicio.write_text(path, text)
    cfg = load_event(path)
    con = db.connect(cfg.db_path, cfg.store.busy_timeout_ms, create=True)
    with db.tx(con):
        con.execute("UPDATE tokens SET revoked_at=? WHERE role='admin' AND revoked_at IS NULL", (time.time(),))
        token = db.new_token(con, "admin", None)
    print(f"wrote {path}")
    print(f"store {cfg.db_path}")
    print("admin token (shown once; keep it secret; a new one: testbed event admin-token):")
    print(f"admin token: {token}")
    return 0


def _admin_token(args) -> int:
    from testbed.server import db

    _cfg, con = _open(args.event)
    with db.tx(con):
        n = con.execute("UPDATE tokens SET revoked_at=? WHERE role='admin' AND revoked_at IS NULL",
                        (time.time(),)).rowcount
        token = db.new_token(con, "admin", None)
    print(f"revoked {n} admin token(s)")
    print(f"admin token: {token}")
    return 0


def _team_add(args) -> int:
    from testbed.server import db

    _cfg, con = _open(args.event)
    try:
        team_id, token = db.add_team(con, args.name)
    except db.StoreError as exc:
        raise CLIError(str(exc)) from None
    print(f"team {args.name!r} added (id {team_id}); its token (shown once):")
    print(f"token: {token}")
    return 0


def _named_team(args):
    """(store connection, the team row) of ``args.name`` in the event ``args.event``."""
    from testbed.server import db

    _cfg, con = _open(args.event)
    try:
        return con, db.team_by_name(con, args.name)
    except db.StoreError as exc:
        raise CLIError(str(exc)) from None


def _team_revoke(args) -> int:
    from testbed.server import db

    con, team = _named_team(args)
    n = db.revoke_team_tokens(con, team["id"])
    print(f"revoked {n} token(s) of team {args.name!r}")
    return 0


def _team_token(args) -> int:
    from testbed.server import db

    con, team = _named_team(args)
    token = db.new_team_token(con, team["id"])
    print(f"new token for team {args.name!r} (shown once):")
    print(f"token: {token}")
    return 0


def _team_list(args) -> int:
    _cfg, con = _open(args.event)
    rows = con.execute(
        "SELECT t.name, t.kind, (SELECT COUNT(*) FROM tokens k WHERE k.team_id=t.id AND k.revoked_at IS NULL) AS live,"
        " (SELECT COUNT(*) FROM submissions s WHERE s.team_id=t.id) AS subs FROM teams t ORDER BY t.id").fetchall()
    for r in rows:
        print(f"{r['name']}\t{r['kind']}\tactive tokens {r['live']}\tsubmissions {r['subs']}")
    print(f"{len(rows)} team(s)")
    return 0
