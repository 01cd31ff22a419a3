"""Submission format: template, static checks, archives, bad input (one line naming the file)."""

import io
import pickle
import zipfile

import numpy as np
import pytest
from evalhelpers import needs_bwrap, write_submission

from testbed.cli import main
from testbed.evaluation.submission import (
    ArchiveLimits,
    SubmissionError,
    check_submission,
    unpack_archive,
    write_template,
)


def problems(folder):
    return [str(p) for p in check_submission(folder)]


def test_template_passes_static_checks(tmp_path):
    folder = write_template(tmp_path / "t", team="Team <b>", name="first")
    assert problems(folder) == []
    with pytest.raises(SubmissionError, match="not empty"):
        write_template(folder)


@needs_bwrap
def test_cli_new_then_check_passes(tmp_path, capsys):
    assert main(["submission", "new", str(tmp_path / "s")]) == 0
    assert main(["submission", "check", str(tmp_path / "s")]) == 0
    assert "OK (static checks, conformance tests and one episode passed)" in capsys.readouterr().out
    z = _zip(tmp_path / "s.zip", {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir()})
    assert main(["submission", "check", str(z)]) == 0  # unpacked into a private folder, staged for the sandbox
    assert f"{z}: OK" in capsys.readouterr().out


def test_malformed_yaml_names_file_and_line(tmp_path):
    f = write_submission(tmp_path / "s", "def make_policy(o, a):\n    return None\n")
    (f / "submission.yaml").write_text("spec_version: 1\nteam: [unclosed\nname: x\n")
    (p,) = problems(f)
    assert p.startswith(f"{f}/submission.yaml:") and "malformed YAML" in p


def test_unknown_spec_version_and_keys_all_reported(tmp_path):
    f = write_submission(tmp_path / "s", "def make_policy(o, a):\n    return None\n")
    (f / "submission.yaml").write_text("spec_version: 7\nteam: t\nname: n\nmode: python\n")
    assert problems(f) == [f"{f}/submission.yaml: spec_version 7 is not known to this testbed (known: 1)"]
    (f / "submission.yaml").write_text("spec_version: 1\nteam: t\nnmae: n\nmode: python\n")
    ps = problems(f)
    assert any("unknown key 'nmae'" in p for p in ps) and any("missing key 'name'" in p for p in ps)


def test_missing_make_policy_and_syntax_error(tmp_path):
    f = write_submission(tmp_path / "s", "def make_polcy(o, a):\n    return None\n")
    assert problems(f) == [f"{f}/policy.py: no top-level make_policy(observation_space, action_space) function"]
    (f / "policy.py").write_text("def make_policy(o, a):\n  return (\n")
    (p,) = problems(f)
    assert p.startswith(f"{f}/policy.py:") and "syntax error" in p


def test_forbidden_weights_and_disguised_pickle_all_at_once(tmp_path):
    f = write_submission(tmp_path / "s", "def make_policy(o, a):\n    return None\n")
    (f / "model.pt").write_bytes(b"PK\x03\x04whatever")
    (f / "weights.npz").write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    (f / "net.onnx").write_bytes(pickle.dumps("x"))
    ps = problems(f)
    assert f"{f}/model.pt: forbidden weights format '.pt': weights must be .onnx, .safetensors, .npz (no pickles)" in ps
    assert f"{f}/weights.npz: is a pickle disguised as .npz weights (pickles are never loaded)" in ps
    assert f"{f}/net.onnx: is a pickle disguised as .onnx weights (pickles are never loaded)" in ps
    # an npz with an object array (needs pickle to load) is refused too
    (f / "weights.npz").unlink()
    (f / "net.onnx").unlink()
    (f / "model.pt").unlink()
    np.savez(f / "obj.npz", a=np.array([{"x": 1}], dtype=object))
    (p,) = problems(f)
    assert p.startswith(f"{f}/obj.npz: not an npz of plain arrays")
    np.savez(f / "obj.npz", a=np.ones(3))
    assert problems(f) == []


def _zip(path, members):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_zip_slip_is_refused(tmp_path):
    for bad in ("../evil.py", "/etc/evil.py", "sub/../../evil.py"):
        z = _zip(tmp_path / "s.zip", {"submission.yaml": "x", bad: "print(1)"})
        with pytest.raises(SubmissionError, match="zip-slip") as exc:
            unpack_archive(z, tmp_path / "out")
        assert str(exc.value).startswith(f"{z}: member ")
        assert not (tmp_path / "evil.py").exists()


def test_zip_bomb_is_refused(tmp_path):
    z = _zip(tmp_path / "bomb.zip", {"submission.yaml": "x", "w.npz": b"\0" * (20 << 20)})
    with pytest.raises(SubmissionError, match="compression ratio of .* \\(zip bomb\\)"):
        unpack_archive(z, tmp_path / "out")
    with pytest.raises(SubmissionError, match="unpacks to more than 1000 bytes"):
        unpack_archive(_zip(tmp_path / "big.zip", {"a.txt": "y" * 600, "b.txt": "z" * 600}), tmp_path / "o2",
                       ArchiveLimits(max_total_bytes=1000))
    # a header that understates the size: the actual bytes are counted
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("a.txt", b"a" * 5000)
    data = bytearray(buf.getvalue())
    i = data.rfind(b"PK\x01\x02")  # central directory: uncompressed size at offset 24
    data[i + 24:i + 28] = (100).to_bytes(4, "little")
    (tmp_path / "liar.zip").write_bytes(bytes(data))
    with pytest.raises(SubmissionError, match="more data than it declares|is corrupt"):
        unpack_archive(tmp_path / "liar.zip", tmp_path / "o3")


def test_zip_with_one_folder_unpacks_to_it(tmp_path):
    src = write_template(tmp_path / "t")
    z = _zip(tmp_path / "t.zip", {f"team/{p.name}": p.read_text() for p in src.iterdir()})
    folder = unpack_archive(z, tmp_path / "out")
    assert folder.name == "team" and problems(folder) == []


def test_cli_check_bad_input_is_one_line_exit_2(tmp_path, capsys):
    f = write_submission(tmp_path / "s", "def make_polcy(o, a):\n    return None\n")
    assert main(["submission", "check", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"testbed: problem: {f}/policy.py: no top-level make_policy(observation_space, action_space) function",
                   f"{f}: 1 problem(s)"]
    z = _zip(tmp_path / "s.zip", {"../x.py": "1"})
    assert main(["submission", "check", str(z)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"testbed: rejected: {z}: member '../x.py' climbs out of the folder with '..' (zip-slip)"


@needs_bwrap
def test_exported_onnx_folder_is_a_valid_submission(tmp_path):
    """The folder `testbed export` writes (policy.json + policy.onnx, no policy.py) passes the same check,
    conformance tests and episode, run with onnxruntime inside the sandbox."""
    import json

    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from agents.export import policy_meta
    from testbed.env import make_spaces
    from testbed.evaluation.conformance import check_policy
    from testbed.scenarios import get

    cfg = get("Channel-v0")
    d = make_spaces(cfg)[0].shape[0]
    w = np.zeros((d, 2), np.float32)
    b = np.array([0.0, 0.5], np.float32)
    graph = helper.make_graph([helper.make_node("Gemm", ["obs", "W", "b"], ["action"])], "linear",
                              [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", d])],
                              [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", 2])],
                              [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "policy.onnx").write_bytes(model.SerializeToString())
    meta = policy_meta(cfg, "ppo", False, {"inputs": ["obs"], "outputs": ["action"]}, False, "test")
    (folder / "policy.json").write_text(json.dumps(meta))
    assert problems(folder) == []
    assert check_policy(str(folder)) == []
    onnx.checker.check_model(model)
