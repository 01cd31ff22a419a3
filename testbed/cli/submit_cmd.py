"""``testbed submit DIR --server URL --token T``: check a submission, zip it and upload it.

Runs the same check as ``testbed submission check DIR`` first (a failing check uploads nothing),
zips the folder reproducibly (sorted names, fixed timestamps: the same folder gives the same hash,
so the server recognises a duplicate), uploads it and prints the submission id as the last word.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from testbed.cli import CLIError

_SKIP_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints"}


def register(sub) -> None:
    p = sub.add_parser("submit", help="check, zip and upload a submission to a hackathon server")
    p.add_argument("dir", help="submission folder (or a .zip made by you)")
    p.add_argument("--server", required=True, help="e.g. http://127.0.0.1:8000")
    p.add_argument("--token", default=os.environ.get("TESTBED_TOKEN"),
                   help="your team token (default: $TESTBED_TOKEN)")
    p.add_argument("--phase", default="", help="phase to submit to (default: the first open one)")
    p.add_argument("--name", default="", help="a label for this submission (default: submission.yaml name)")
    p.add_argument("--skip-check", action="store_true", help="upload without the local check")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run the local check's episode without bubblewrap (your own code only)")
    p.add_argument("--timeout", type=float, default=120.0)
    p.set_defaults(func=_submit)


def zip_folder(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if any(part in _SKIP_DIRS for part in rel.parts) or path.is_symlink() or not path.is_file():
                continue
            info = zipfile.ZipInfo(rel.as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def _submit(args) -> int:
    import httpx

    from testbed.server import worker

    src = Path(args.dir)
    if not args.token:
        raise CLIError("no token: pass --token T or set TESTBED_TOKEN")
    if src.is_dir():
        if not args.skip_check:
            print(f"checking {src} (testbed submission check: static checks, conformance, one episode) ...",
                  flush=True)
            try:
                problems = worker.check(src, sandbox=not args.no_sandbox)
            except worker.Unavailable as exc:
                raise CLIError(f"{exc}; install bubblewrap, or pass --no-sandbox for code you trust") from None
            if problems:
                for line in problems:
                    print(f"  {line}")
                raise CLIError(f"{src}: {len(problems)} problem(s); nothing uploaded (fix them, or --skip-check)")
            print("check passed", flush=True)
        data = zip_folder(src)
    elif src.is_file() and src.suffix == ".zip":
        data = src.read_bytes()
    else:
        raise CLIError(f"{src}: not a submission folder or .zip file")
    url = args.server.rstrip("/") + "/api/submissions"
    form = {k: v for k, v in (("phase", args.phase), ("name", args.name)) if v}
    try:
        r = httpx.post(url, headers={"Authorization": f"Bearer {args.token}"},
                       files={"file": ("submission.zip", data, "application/zip")}, data=form,
                       timeout=args.timeout)
    except httpx.HTTPError as exc:
        raise CLIError(f"{url}: {type(exc).__name__}: {exc}") from None
    try:
        body = r.json()
    except ValueError:
        body = {"detail": r.text[:200]}
    if r.status_code not in (200, 201):
        raise CLIError(f"{url}: HTTP {r.status_code}: {body.get('detail', body)}")
    kind = "duplicate of an earlier upload:" if body.get("duplicate") else "queued as"
    print(f"uploaded {len(data)} bytes (sha256 {body.get('sha256', '')[:12]}); status {body.get('status')}")
    print(f"see {args.server.rstrip('/')}/submissions/{body['id']}")
    print(f"{kind} {body['id']}")
    return 0
