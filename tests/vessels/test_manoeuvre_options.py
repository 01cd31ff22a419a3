"""Manoeuvre options (approach speed, revs, rudder rate), zig-zag switching inside the step, and the plots."""

import json
import math

import numpy as np
import pytest

from testbed.cli import main
from vessels import manoeuvres


@pytest.mark.parametrize("tid, a, b", [("M8", 20, 20), ("GMS1", 10, 10), ("PAX", 20, 20)])
def test_zigzag_overshoots_do_not_depend_on_the_step(tid, a, b):
    """The rudder reverses at the heading crossing inside the step: the default step (0.5 s) gives the
    overshoots of a 50x finer step. Switching at step boundaries was 0.1-0.37 deg high here."""
    coarse = manoeuvres.zigzag(tid, a, b)
    fine = manoeuvres.zigzag(tid, a, b, dt=coarse.settings["dt_s"] / 50)
    assert coarse.settings["dt_s"] == 0.5
    for key in ("first_overshoot_deg", "second_overshoot_deg"):
        assert coarse.metrics[key] == pytest.approx(fine.metrics[key], abs=0.02), key
    assert coarse.metrics["initial_turning_time_s"] == pytest.approx(fine.metrics["initial_turning_time_s"], abs=0.01)


def test_zigzag_track_has_a_row_at_each_reversal():
    res = manoeuvres.zigzag("M8", 10, 10)
    d = np.degrees(res.psi - res.psi[0])
    k = res._switch_rows()
    assert k.size == 4
    assert np.abs(np.abs(d[k]) - 10.0).max() < 1e-3  # the switch lies on the +-B crossing, not past it


def test_cli_reproduces_a_free_running_condition(tmp_path, capsys):
    """KVLCC2 model (SIMMAN 2008 style): U0 1.179 m/s, n 10.4 rps, rudder rate 15.8 deg/s."""
    argv = ["vessel", "manoeuvre", "KVLCC2_L7", "--zigzag", "20/20", "--speed", "1.179", "--revs", "624rpm",
            "--rudder-rate", "15.8", "--out", str(tmp_path), "--json"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    s, tr = res["settings"], res["track"]
    assert s["approach_speed_m_s"] == pytest.approx(1.179) and tr["u"][0] == pytest.approx(1.179)
    assert s["revs_rps"] == pytest.approx(10.4) and np.allclose(tr["n"], 10.4)
    assert s["rudder_rate_deg_s"] == pytest.approx(15.8)
    rate = np.abs(np.diff(np.degrees(tr["delta"]))) / np.maximum(np.diff(tr["t"]), 1e-12)
    assert rate.max() == pytest.approx(15.8, rel=1e-3)
    assert (tmp_path / "KVLCC2_L7_zigzag20-20.png").stat().st_size > 10_000


def test_cli_speed_units_and_defaults(tmp_path, capsys):
    assert main(["vessel", "manoeuvre", "M8", "--stopping", "--speed", "7kn", "--out", str(tmp_path), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["settings"]["approach_speed_m_s"] == pytest.approx(7 * 1852 / 3600)
    assert main(["vessel", "manoeuvre", "M8", "--turning", "35", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "advance" in out and " m\n" in out and "rudder_rate=4.00deg/s" in out  # values with units


@pytest.mark.parametrize("extra, words", [
    (["--speed", "fast"], ["--speed", "'fast'"]),
    (["--speed", "3mph"], ["--speed", "kn"]),
    (["--revs", "-2"], ["--revs", "> 0"]),
    (["--rudder-rate", "0"], ["--rudder-rate", "> 0"]),
    (["--dt", "0"], ["--dt", "> 0"]),
])  # fmt: skip
def test_cli_bad_condition_is_one_line(tmp_path, capsys, extra, words):
    assert main(["vessel", "manoeuvre", "M8", "--zigzag", "10/10", "--out", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


def _png(path):
    import matplotlib.image as mpimg

    return mpimg.imread(path)


def test_turning_plot_marks_advance_transfer_tactical_diameter(tmp_path):
    """Heading and speed on separate axes, metrics in their own panel, the three distances drawn."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    res = manoeuvres.turning_circle("M8", 35.0)
    made = []
    orig = Figure.savefig

    def spy(self, *a, **k):
        made.append(self)
        return orig(self, *a, **k)

    Figure.savefig = spy
    try:
        res.plot_png(tmp_path / "t.png")
    finally:
        Figure.savefig = orig
    fig = made[0]
    texts = " | ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    for word in ("advance", "transfer", "tactical diameter", "metrics"):
        assert word in texts, texts
    labels = {ax.get_ylabel() for ax in fig.axes}
    assert {"angle [deg]", "speed [m/s]", "y north [m]"} <= labels
    # the metrics panel is its own (axis-less) axes, not drawn over a curve
    (panel,) = [ax for ax in fig.axes if not ax.axison]
    assert not panel.lines
    img = _png(tmp_path / "t.png")
    assert img.shape[0] > 500 and len(np.unique(img.reshape(-1, img.shape[-1]), axis=0)) > 50
    assert math.isfinite(res.metrics["tactical_diameter_m"])
