"""``testbed replay verify``: bit-identity of a real episode, and tampered files caught at the right step."""

from __future__ import annotations

import numpy as np
import pytest

from testbed.cli import main
from testbed.replay import ReplayReader
from testbed.replay.format import write_replay
from testbed.replay.recorder import DOCS
from testbed.replay.verify import verify


def tamper(src, dst, columns=None, header=None):
    """Rewrite ``src`` as a valid replay ``dst`` with some columns or header fields changed."""
    with ReplayReader(src) as r:
        cols = r.read_all()
        h = {k: v for k, v in r.header.items() if k not in ("columns", "n_frames", "n_chunks", "chunk_steps")}
        events = r.events
    cols = {k: v.copy() for k, v in cols.items()}
    for name, fn in (columns or {}).items():
        fn(cols[name])
    for key, fn in (header or {}).items():
        fn(h) if callable(fn) else h.__setitem__(key, fn)
    write_replay(dst, h, cols, events, column_docs=DOCS)
    return dst


def test_real_episodes_verify_bit_identically(channel_replay, port_replay, capsys):
    for p, _ in (channel_replay, port_replay):
        res = verify(p)
        assert res.identical and res.first_step is None and res.columns_checked >= 40, res.summary()
        assert main(["replay", "verify", str(p)]) == 0
        out = capsys.readouterr().out
        assert "bit-identical" in out and f"{res.n_frames} frames" in out


def test_tampered_state_names_step_and_field(channel_replay, tmp_path, capsys):
    p, _ = channel_replay

    def nudge(a):
        a[100] = np.nextafter(a[100], np.inf)  # one ulp

    q = tamper(p, tmp_path / "t.replay", columns={"traffic/y": lambda a: nudge(a[:, 1]) or None})
    res = verify(q)
    assert not res.identical and res.first_step == 100
    assert [(m.column, m.step, m.index) for m in res.mismatches] == [("traffic/y", 100, (1,))]
    assert main(["replay", "verify", str(q)]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH: first difference at step 100" in out and "traffic/y[1]" in out


def test_tampered_action_changes_the_states_from_that_step(channel_replay, tmp_path):
    p, _ = channel_replay

    def swap(a):
        a[50, 0] = -a[50, 0] if a[50, 0] else 0.5

    res = verify(tamper(p, tmp_path / "a.replay", columns={"action": swap}))
    assert not res.identical and res.first_step == 50
    cols = {m.column for m in res.mismatches}
    assert "command" in cols and "ego/rudder" in cols and "action" not in cols


def test_tampered_seed_and_outcome(channel_replay, tmp_path):
    p, _ = channel_replay
    res = verify(tamper(p, tmp_path / "s.replay", header={"seed": 2}))
    assert not res.identical and res.first_step == 0 and any(m.column == "ego/x" for m in res.mismatches)
    res = verify(tamper(p, tmp_path / "o.replay", header={"outcome": "collision"}))
    assert not res.identical and any("outcome: recorded 'collision'" in n for n in res.notes)


def test_map_and_version_mismatch_are_reported_plainly(channel_replay, tmp_path, capsys):
    p, _ = channel_replay

    def old_map(h):
        h["map"] = dict(h["map"], sha256="0" * 64)

    q = tamper(p, tmp_path / "m.replay", header={"map": old_map, "simulator_version": "0.0.1"})
    res = verify(q)
    assert res.identical  # the installed map gives the same states: the difference does not matter
    assert main(["replay", "verify", str(q)]) == 0
    out = capsys.readouterr().out
    assert "note: recorded with simulator version 0.0.1, installed" in out
    assert "note: map synthetic_channel: recorded sha256 000000000000..., installed" in out


def test_bad_input_exits_2_with_one_line(channel_replay, tmp_path, capsys):
    p, _ = channel_replay
    q = tamper(p, tmp_path / "k.replay", header={"config": lambda h: h["config"]["traffic"].update(colour="red")})
    assert main(["replay", "verify", str(q)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("testbed: error: ") and "k.replay" in err and "colour" in err and "\n" not in err
    bad = tmp_path / "cut.replay"
    bad.write_bytes(p.read_bytes()[:1000])
    assert main(["replay", "verify", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "cut.replay: not a replay file, or truncated" in err and "Traceback" not in err
    assert main(["replay", "verify", str(tmp_path / "nope.replay")]) == 2
    assert "no such replay file" in capsys.readouterr().err


@pytest.mark.parametrize("missing", ["seed", "config"])
def test_header_without_seed_or_config(channel_replay, tmp_path, missing):
    from testbed.replay import ReplayError

    p, _ = channel_replay
    q = tamper(p, tmp_path / "h.replay", header={missing: lambda h: h.pop(missing)})
    with pytest.raises(ReplayError, match="h.replay: header (lacks seed|has no config)"):
        verify(q)
