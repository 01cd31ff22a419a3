"""The submission format, archive unpacking and the static checks (the same code in ``testbed submission
check``, ``testbed evaluate`` and the hackathon server).

A submission is a folder (or a zip of one) with::

    submission.yaml     spec_version: 1
                        team: "Team name"          (1-64 characters)
                        name: "policy name"        (1-64 characters)
                        mode: python | onnx        which agent mode: python = policy.py, onnx = exported folder
                        description: "..."         (optional)
    policy.py           mode python: make_policy(observation_space, action_space) -> object with
                        reset(seed) and act(observation) -> action (2,)
    policy.json, policy.onnx   mode onnx: the folder ``testbed export`` writes (then no policy.py)
    *.onnx, *.safetensors, *.npz   weights (nothing else: no pickles, no .pt)

An exported policy folder without ``submission.yaml`` is a valid submission too (mode onnx; the name
is the folder's). :func:`check_submission` never imports or runs the submitted code: it parses
``policy.py`` with :mod:`ast`. :func:`unpack_archive` refuses absolute paths and ``..`` (zip-slip), links,
too many members and too much data (declared or actual), and a compression ratio above the limit
(zip bomb). Every problem is one line naming the file (and line, key or value).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

SPEC_VERSIONS = (1,)
MODES = ("python", "onnx")
WEIGHT_SUFFIXES = (".onnx", ".safetensors", ".npz")
TEXT_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".md", ".txt", ".csv", ".png")
FORBIDDEN_WEIGHTS = (".pt", ".pth", ".pkl", ".pickle", ".joblib", ".ckpt", ".bin", ".h5", ".hdf5", ".tar",
                     ".zip", ".npy", ".sav", ".model", ".keras", ".pb", ".dill")  # fmt: skip
YAML_KEYS = {"spec_version": int, "team": str, "name": str, "mode": str, "description": str}
REQUIRED_KEYS = ("spec_version", "team", "name", "mode")
PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


class SubmissionError(ValueError):
    """A submission or archive that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}{f':{self.line}' if self.line else ''}: {self.message}"


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 1000
    max_total_bytes: int = 200 << 20  # uncompressed
    max_file_bytes: int = 100 << 20
    max_ratio: float = 100.0  # uncompressed / compressed per member (above 1 MiB)


@dataclass(frozen=True)
class SubmissionMeta:
    team: str
    name: str
    mode: str
    spec_version: int
    description: str = ""


# -- archives ---------------------------------------------------------------------------------------
def unpack_archive(zip_path: str | os.PathLike, dest: str | os.PathLike, limits: ArchiveLimits | None = None) -> Path:
    """Extract a submission zip into ``dest`` safely; returns the submission folder (``dest`` or its only
    top-level folder). Raises :class:`SubmissionError` naming the archive and the offending member."""
    limits = limits or ArchiveLimits()
    zp = Path(zip_path)
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(zp)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{zp}: not a readable zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise SubmissionError(f"{zp}: {len(infos)} members, more than the limit of {limits.max_members}")
        total = 0
        for info in infos:
            name = info.filename
            p = PurePosixPath(name.replace("\\", "/"))
            if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or p.is_absolute():
                raise SubmissionError(f"{zp}: member {name!r} has an absolute path (zip-slip)")
            if ".." in p.parts:
                raise SubmissionError(f"{zp}: member {name!r} climbs out of the folder with '..' (zip-slip)")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise SubmissionError(f"{zp}: member {name!r} is a symbolic link (not allowed)")
            if info.file_size > limits.max_file_bytes:
                raise SubmissionError(f"{zp}: member {name!r} unpacks to {info.file_size} bytes, more than the "
                                      f"limit of {limits.max_file_bytes} (zip bomb?)")  # fmt: skip
            if info.file_size > (1 << 20) and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise SubmissionError(f"{zp}: member {name!r} has a compression ratio of "
                                      f"{info.file_size / max(info.compress_size, 1):.0f}, more than "
                                      f"{limits.max_ratio:g} (zip bomb)")  # fmt: skip
            total += info.file_size
            if total > limits.max_total_bytes:
                raise SubmissionError(f"{zp}: unpacks to more than {limits.max_total_bytes} bytes (zip bomb?)")
        dest.mkdir(parents=True, exist_ok=True)
        written = 0
        root = dest.resolve()
        for info in infos:
            target = (dest / info.filename).resolve()
            if not target.is_relative_to(root):
                raise SubmissionError(f"{zp}: member {info.filename!r} would land outside the folder (zip-slip)")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            n = 0
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 16):
                        n += len(chunk)
                        written += len(chunk)
                        # the headers may lie: count what really comes out
                        if n > max(info.file_size, 0) or written > limits.max_total_bytes:
                            raise SubmissionError(f"{zp}: member {info.filename!r} unpacks to more data than it "
                                                  "declares (zip bomb)")  # fmt: skip
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise SubmissionError(f"{zp}: member {info.filename!r} is corrupt ({exc})") from None
    entries = [p for p in dest.iterdir() if p.name not in ("__MACOSX",)]
    if len(entries) == 1 and entries[0].is_dir() and not (dest / "submission.yaml").exists():
        return entries[0]
    return dest


# -- metadata -----------------------------------------------------------------------------------------
def read_meta(folder: str | os.PathLike) -> SubmissionMeta:
    """The submission's metadata; raises :class:`SubmissionError` (one line) on the first problem."""
    folder = Path(folder)
    meta, problems = _parse_yaml(folder)
    if problems:
        raise SubmissionError(str(problems[0]))
    return meta


def _parse_yaml(folder: Path) -> tuple[SubmissionMeta | None, list[Problem]]:
    import yaml

    path = folder / "submission.yaml"
    if not path.exists():
        if (folder / "policy.json").exists():
            return SubmissionMeta("-", folder.name, "onnx", SPEC_VERSIONS[-1], "exported policy folder"), []
        return None, [Problem(str(path), "missing (a submission needs submission.yaml, or policy.json for an "
                                         "exported policy folder)")]  # fmt: skip
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [Problem(str(path), f"malformed YAML: {what}", mark.line + 1 if mark else None)]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), f"unreadable: {exc}")]
    if not isinstance(data, dict):
        return None, [Problem(str(path), f"must be a mapping of keys ({', '.join(REQUIRED_KEYS)}), "
                                         f"got {type(data).__name__}")]  # fmt: skip
    problems = []
    for key in data:
        if key not in YAML_KEYS:
            problems.append(Problem(str(path), f"unknown key {key!r} (known: {', '.join(YAML_KEYS)})"))
    for key in REQUIRED_KEYS:
        if key not in data:
            problems.append(Problem(str(path), f"missing key {key!r}"))
    for key, kind in YAML_KEYS.items():
        if key in data and not (isinstance(data[key], kind) and not isinstance(data[key], bool)):
            problems.append(Problem(str(path), f"key {key!r} = {data[key]!r} must be {kind.__name__}"))
    if problems:
        return None, problems
    if data["spec_version"] not in SPEC_VERSIONS:
        problems.append(Problem(str(path), f"spec_version {data['spec_version']} is not known to this testbed "
                                           f"(known: {', '.join(map(str, SPEC_VERSIONS))})"))  # fmt: skip
    for key in ("team", "name"):
        v = data[key].strip()
        if not 1 <= len(v) <= 64 or any(ord(c) < 32 for c in v):
            problems.append(Problem(str(path), f"key {key!r} = {data[key]!r} must be 1-64 printable characters"))
    if data["mode"] not in MODES:
        problems.append(Problem(str(path), f"mode {data['mode']!r} unknown (use {' or '.join(MODES)})"))
    if problems:
        return None, problems
    return SubmissionMeta(data["team"].strip(), data["name"].strip(), data["mode"], data["spec_version"],
                          data.get("description", "")), []  # fmt: skip


# -- the static checks ----------------------------------------------------------------------------------
def check_submission(folder: str | os.PathLike, max_total_bytes: int = 200 << 20) -> list[Problem]:
    """Every static problem of a submission folder (empty list: structurally valid). Runs no code."""
    folder = Path(folder)
    if not folder.is_dir():
        return [Problem(str(folder), "not a folder (pass a submission folder or .zip)")]
    meta, problems = _parse_yaml(folder)
    total = 0
    for p in sorted(folder.rglob("*")):
        rel = str(p)
        if "__pycache__" in p.parts:
            continue
        if p.is_symlink():
            problems.append(Problem(rel, "symbolic links are not allowed"))
            continue
        if p.is_dir():
            continue
        total += p.stat().st_size
        suffix = p.suffix.lower()
        if suffix in FORBIDDEN_WEIGHTS:
            problems.append(Problem(rel, f"forbidden weights format {suffix!r}: weights must be "
                                         f"{', '.join(WEIGHT_SUFFIXES)} (no pickles)"))  # fmt: skip
            continue
        if suffix not in WEIGHT_SUFFIXES + TEXT_SUFFIXES:
            problems.append(Problem(rel, f"file type {suffix or '(none)'!r} not allowed (weights: "
                                         f"{', '.join(WEIGHT_SUFFIXES)}; code and text: {', '.join(TEXT_SUFFIXES)})"))  # fmt: skip
            continue
        if suffix in WEIGHT_SUFFIXES:
            msg = _check_weights(p, suffix)
            if msg:
                problems.append(Problem(rel, msg))
    if total > max_total_bytes:
        problems.append(Problem(str(folder), f"{total} bytes, more than the limit of {max_total_bytes}"))
    if meta is not None:
        if meta.mode == "python":
            problems += _check_policy_py(folder / "policy.py")
        else:
            for f in ("policy.json", "policy.onnx"):
                if not (folder / f).is_file():
                    problems.append(Problem(str(folder / f), "missing (mode onnx needs the exported policy folder)"))
            if (folder / "policy.json").is_file():
                try:
                    d = json.loads((folder / "policy.json").read_text())
                    if not isinstance(d, dict):
                        raise ValueError("not an object")
                except (ValueError, UnicodeDecodeError) as exc:
                    problems.append(Problem(str(folder / "policy.json"), f"not valid JSON ({exc})"))
    return problems


def _check_weights(p: Path, suffix: str) -> str | None:
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        return f"unreadable: {exc}"
    if head[:2] in PICKLE_MAGIC:
        return f"is a pickle disguised as {suffix} weights (pickles are never loaded)"
    if suffix == ".npz":
        if head[:4] != b"PK\x03\x04":
            return "not an npz archive (expected a zip of .npy arrays)"
        import numpy as np

        try:
            with zipfile.ZipFile(p) as z:
                if sum(i.file_size for i in z.infolist()) > 200 << 20:
                    return "npz unpacks to more than 200 MiB"
            with np.load(p, allow_pickle=False) as z:
                for k in z.files:
                    z[k]
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            return f"not an npz of plain arrays ({str(exc).splitlines()[0][:160]})"
    elif suffix == ".safetensors":
        n = int.from_bytes(head[:8], "little")
        if len(head) < 9 or n <= 0 or n > 100 << 20 or head[8:9] != b"{":
            return "not a safetensors file (8-byte header length + JSON header expected)"
    elif suffix == ".onnx":
        if head[:1] not in (b"\x08", b"\x0a", b"\x12", b"\x1a", b"\x22", b"\x3a", b"\x42"):
            return "not an ONNX model (protobuf ModelProto expected)"
    return None


def _check_policy_py(path: Path) -> list[Problem]:
    if not path.is_file():
        return [Problem(str(path), "missing (mode python needs policy.py with make_policy)")]
    try:
        src = path.read_text(encoding="utf-8")
        tree = ast.parse(src, filename=str(path))
    except SyntaxError as exc:
        return [Problem(str(path), f"syntax error: {exc.msg}", exc.lineno)]
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(str(path), f"unreadable: {exc}")]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "make_policy":
            args = node.args
            n = len(args.posonlyargs) + len(args.args)
            if n < 2 and args.vararg is None:
                return [Problem(str(path), "make_policy must take (observation_space, action_space)", node.lineno)]
            return []
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "make_policy" for t in node.targets):
            return []
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == "make_policy" for a in node.names):
            return []
    return [Problem(str(path), "no top-level make_policy(observation_space, action_space) function")]


def content_hash(folder: str | os.PathLike) -> str:
    """SHA-256 (16 hex digits) over the relative paths and bytes of every file: the submission's id."""
    folder = Path(folder)
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(folder)).encode() + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


def stage(folder: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Copy a checked submission to ``dest`` (regular files only; folders 0755, files 0644) for the
    sandbox: the sandbox user can read it, and later edits of the original do not reach a running
    evaluation (what was checked is what runs)."""
    import shutil

    src, dest = Path(folder), Path(dest)
    part = dest.with_name(dest.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    os.chmod(part, 0o755)
    for p in sorted(src.rglob("*")):
        if p.is_symlink() or "__pycache__" in p.parts:
            continue
        t = part / p.relative_to(src)
        if p.is_dir():
            t.mkdir(exist_ok=True)
            os.chmod(t, 0o755)
        elif p.is_file():
            t.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, t)
            os.chmod(t, 0o644)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(part, dest)
    return dest


# -- the template -------------------------------------------------------------------------------------
TEMPLATE_YAML = """\
# A submission to the Duisburg Smart Shipping Testbed benchmark (testbed submission check DIR).
spec_version: 1
team: "{team}"
name: "{name}"
mode: python          # python: policy.py below; onnx: an exported policy folder (policy.json + policy.onnx)
description: "The autopilot baseline: start here and replace act() with your policy."
"""

TEMPLATE_POLICY = '''\
"""A submission policy. The evaluator calls make_policy(observation_space, action_space) once per episode,
then reset(seed) and act(observation) every step (observation: float32 vector, layout in
testbed/observation.py; action: float32 [rudder, engine] in [-1, 1]). Load weights only from .onnx,
.safetensors or .npz files next to this file (Path(__file__).parent). No network, read-only files
except a small private scratch folder (the working directory, $TMPDIR), and a soft deadline per step
(a late action holds the previous command).
"""

import numpy as np

from agents.autopilot import Autopilot

N_EGO, N_LINK, N_RAYS, TARGET_FEATURES = 19, 4, 32, 9


class Policy:
    def __init__(self, observation_space, action_space):
        n_targets = (observation_space.shape[0] - N_EGO - N_LINK - N_RAYS) // TARGET_FEATURES
        self.autopilot = Autopilot(n_rays=N_RAYS, n_targets=n_targets)
        self.low, self.high = action_space.low, action_space.high

    def reset(self, seed=None):
        self.autopilot.reset()

    def act(self, observation):
        action = np.asarray(self.autopilot.act(observation), dtype=np.float32)
        return np.clip(action, self.low, self.high)


def make_policy(observation_space, action_space):
    return Policy(observation_space, action_space)
'''


def write_template(folder: str | os.PathLike, team: str = "my-team", name: str = "autopilot-template") -> Path:
    """Write a working template submission (wraps the autopilot) into ``folder`` (must not exist or be empty)."""
    import atomicio

    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise SubmissionError(f"{folder}: exists and is not empty; choose a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    with atomicio.atomic_open(folder / "submission.yaml", "w") as fh:
        fh.write(TEMPLATE_YAML.format(team=team.replace('"', "'"), name=name.replace('"', "'")))
    with atomicio.atomic_open(folder / "policy.py", "w") as fh:
        fh.write(TEMPLATE_POLICY)
    return folder
