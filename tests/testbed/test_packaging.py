"""The package's config files ship with the wheel and are found through importlib.resources.

The full check (build the wheel, install it into a fresh venv, run the CLI from a temporary directory)
is ``.ci/wheel_smoke.sh`` (``make wheel-smoke``, run by ``.ci/run``); these are the fast parts of it.
"""

import ast
import fnmatch
import pathlib
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _package_data(package: str) -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data["tool"]["setuptools"]["package-data"][package]


def _shipped(rel: str, patterns: list[str]) -> bool:
    # setuptools globs: '*' stays inside a directory, '**' spans directories
    for pat in patterns:
        if "**" in pat:
            head, tail = pat.split("**/", 1)
            if rel.startswith(head) and fnmatch.fnmatch(pathlib.PurePosixPath(rel).name, tail):
                return True
        elif fnmatch.fnmatch(rel, pat) and rel.count("/") == pat.count("/"):
            return True
    return False


def test_every_conf_file_is_package_data():
    conf = ROOT / "testbed" / "conf"
    files = [p.relative_to(ROOT / "testbed").as_posix() for p in conf.rglob("*")
             if p.is_file() and p.suffix not in (".py", ".pyc")]
    assert "conf/port_entry_busy.yaml" in files and "conf/link/5g_sa.yaml" in files
    missing = [f for f in files if not _shipped(f, _package_data("testbed"))]
    assert missing == [], f"not matched by [tool.setuptools.package-data] testbed: {missing}"


def test_glob_check_is_not_vacuous():
    assert not _shipped("conf/link/5g_sa.yaml", ["conf/*.yaml"])
    assert _shipped("conf/link/5g_sa.yaml", ["conf/**/*.yaml"])
    assert not _shipped("conf/link/notes.txt", ["conf/**/*.yaml"])


def test_conf_found_through_the_package_not_the_repo():
    import testbed
    from testbed.conf import conf_dir
    from testbed.link.profiles import list_profiles

    assert conf_dir() == pathlib.Path(testbed.__file__).parent / "conf"
    assert {"ideal", "5g_sa", "5g_nsa", "lte", "degraded", "with_outages"} <= set(list_profiles())
    assert not (ROOT / "conf").exists(), "conf/ belongs inside the package (testbed/conf/)"


def test_empty_profile_dir_is_an_error_not_an_empty_list(monkeypatch, tmp_path, capsys):
    from testbed.cli import main
    from testbed.link import profiles

    monkeypatch.setattr(profiles, "conf_dir", lambda: tmp_path / "link")
    assert main(["link", "profiles"]) == 2
    err = capsys.readouterr().err
    assert "no link profiles found" in err and err.count("\n") == 1


def test_config_does_not_import_scenarios():
    """testbed.config is the leaf (dataclasses + merge); testbed.scenarios builds on it, not back."""
    tree = ast.parse((ROOT / "testbed" / "config.py").read_text())
    mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m and m.startswith("testbed") for m in mods), mods


@pytest.mark.parametrize("name", ["port_entry_busy", "PortEntry-v0", "testbed/Channel-v0"])
def test_compose_from_package_conf(name):
    from testbed.scenarios import compose_scenario

    assert compose_scenario(name, ["traffic.count=3"]).traffic.count == 3
