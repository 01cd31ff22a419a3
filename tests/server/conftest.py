"""Fixtures for the hackathon server: an event made with the real CLI and a real uvicorn process."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from testbed.cli import main as cli

REPO = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], cwd: Path | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli(args)
    finally:
        os.chdir(old)
    return rc, out.getvalue(), err.getvalue()


def last_word(text: str) -> str:
    return text.strip().splitlines()[-1].split()[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Event:
    """An event folder: config, admin token, team tokens."""

    def __init__(self, root: Path, name: str = "hack", **overrides):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        rc, out, err = run_cli(["event", "init", name], cwd=root)
        assert rc == 0, err
        self.admin = last_word(out)
        self.cfg = root / "conf" / "event" / f"{name}.yaml"
        data = yaml.safe_load(self.cfg.read_text())
        for key, value in overrides.items():
            node = data
            *path, leaf = key.split(".")
            for k in path:
                node = node[int(k)] if isinstance(node, list) else node[k]
            node[leaf] = value
        self.cfg.write_text(yaml.safe_dump(data, sort_keys=False))
        self.tokens: dict[str, str] = {}
        self.data_dir = (self.cfg.parent / data["data_dir"]).resolve()

    def team(self, name: str) -> str:
        rc, out, err = run_cli(["event", "team", "add", name, "--event", str(self.cfg)])
        assert rc == 0, err
        self.tokens[name] = last_word(out)
        return self.tokens[name]

    def revoke(self, name: str) -> None:
        rc, _out, err = run_cli(["event", "team", "revoke", name, "--event", str(self.cfg)])
        assert rc == 0, err


class Server:
    """``python -m testbed serve`` on 127.0.0.1 and a free port; kill -9 and restart like an operator would."""

    def __init__(self, event: Event, workers: int):
        self.event, self.workers = event, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = event.root / f"serve-{self.port}.log"

    def start(self, timeout: float = 60.0) -> Server:
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self._fh = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "testbed", "serve", "--event", str(self.event.cfg), "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers)],
            cwd=self.event.root, env=env, stdout=self._fh, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]

    def kill9(self) -> None:
        """kill -9 the server; its workers and evaluators die with it (parent-death signal)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._fh.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        with contextlib.suppress(Exception):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._fh.close()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def make_submission(folder: Path, team: str = "alpha", name: str = "autopilot-template") -> Path:
    from testbed.server import worker

    worker.write_template(folder, team=team, name=name)
    return folder


def zip_bytes(folder: Path) -> bytes:
    from testbed.cli.submit_cmd import zip_folder

    return zip_folder(folder)


def upload(url: str, token: str | None, data: bytes, **form) -> httpx.Response:
    headers = auth(token) if token else {}
    return httpx.post(url + "/api/submissions", headers=headers,
                      files={"file": ("s.zip", data, "application/zip")}, data=form, timeout=60)


def wait_for(fn, timeout: float, every: float = 0.5, what: str = "condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def no_leak(body: str, *secrets: str) -> None:
    """An error body names nothing of the server or of others."""
    for s in secrets:
        assert s not in body, f"{s!r} leaked in {body!r}"
    assert "Traceback" not in body
    assert not re.search(r"/(tmp|work|home|root)/", body), body


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory):
    started: list[Server] = []

    def make(workers: int = 0, **overrides) -> tuple[Event, Server]:
        ev = Event(tmp_path_factory.mktemp("event"), **overrides)
        srv = Server(ev, workers)
        started.append(srv)
        return ev, srv

    yield make
    for s in started:
        s.stop()
