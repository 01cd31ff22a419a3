"""The sandbox's mount order: the private /tmp comes before the read-only binds of the interpreter and
the packages, so that a checkout or a virtualenv under /tmp (a CI clone) stays visible inside it."""

from pathlib import Path

from testbed.evaluation import sandbox


def test_private_tmp_is_mounted_before_the_python_binds(monkeypatch, tmp_path):
    venv = tmp_path / "clone" / ".venv"  # under /tmp, like a CI clone's virtualenv
    monkeypatch.setattr(sandbox, "_python_roots", lambda: [venv])
    cmd = sandbox.bwrap_command(tmp_path / "sub", ["python"], sandbox.Limits())
    i_tmpfs = cmd.index("--tmpfs")
    assert cmd[i_tmpfs + 1] == "/tmp"
    binds = [i for i, a in enumerate(cmd) if a == "--ro-bind" and cmd[i + 1] == str(venv)]
    assert binds and all(i > i_tmpfs for i in binds), cmd
    # the parents of the bind are made inside the tmpfs, /tmp itself is not made again
    dirs = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--dir"]
    assert "/tmp" not in dirs and str(Path(venv).parent) in dirs
