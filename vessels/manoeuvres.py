"""IMO MSC.137(76)-style standard manoeuvres run through the batched step functions.

* :func:`turning_circle`: rudder to +/- angle at t = 0 from a steady approach; advance and
  transfer at 90 deg change of heading, tactical diameter at 180 deg, steady turning diameter
  2 U / |r| at the end of the run (after 360 deg + 90 deg, or the time limit).
* :func:`zigzag`: A/B zig-zag (rudder A deg, heading switch B deg), first to starboard unless
  ``side='port'``; first and second overshoot angles, initial turning time (time to B deg).
* :func:`crash_stop`: full ahead -> full astern (``revs_min``) at t = 0, rate-limited engine;
  track reach (distance sailed along the track), head reach (along the initial heading),
  lateral deviation and time until the ship stops (u <= 0 through the water).

Approach condition: the type's service speed and the matching self-propulsion revs (closed form,
:meth:`vessels.mmg.MMGParams.self_propulsion_revs`), or ``speed`` / ``revs`` given explicitly.
Distances in metres, angles in degrees, times in seconds in the metrics. Calm deep water, no
current. Run ``python -m vessels.manoeuvres fit-nomoto`` to (re)create the cached Nomoto fits.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from atomicio import atomic_open, write_text
from vessels import mmg, nomoto
from vessels.catalogue import NOMOTO_CACHE, VesselType, get
from vessels.errors import ParameterError
from vessels.state import VesselState

TRACK_FIELDS = ("t", "x", "y", "psi", "u", "v", "r", "delta", "n")


@dataclass
class ManoeuvreResult:
    """Track (arrays, SI units, x east / y north) and metrics of one manoeuvre."""

    kind: str
    type_id: str
    settings: dict
    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    psi: np.ndarray
    u: np.ndarray
    v: np.ndarray
    r: np.ndarray
    delta: np.ndarray
    n: np.ndarray
    metrics: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "type_id": self.type_id,
            "settings": self.settings,
            "metrics": self.metrics,
            "track": {k: [round(float(v), 6) for v in getattr(self, k)] for k in TRACK_FIELDS},
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def report(self) -> str:
        lines = [f"{self.type_id} {self.kind} ({', '.join(f'{k}={v}' for k, v in self.settings.items())})"]
        for k, v in self.metrics.items():
            lines.append(f"  {k:28s} {v:12.3f}" if isinstance(v, float) else f"  {k:28s} {v}")
        return "\n".join(lines)

    def plot_png(self, path: str | os.PathLike) -> Path:
        """Draw the track (ship outlines every so often) with the metrics; written atomically."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        path = Path(path)
        fig = Figure(figsize=(10, 5.5))
        ax = fig.add_subplot(1, 2, 1)
        ax.plot(self.x, self.y, lw=1.2)
        ax.plot(self.x[:1], self.y[:1], "go", ms=4)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("x east [m]")
        ax.set_ylabel("y north [m]")
        ax.set_title(f"{self.type_id}: {self.kind}")
        ax.grid(alpha=0.3)
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.plot(self.t, np.degrees(self.psi - self.psi[0]), label="heading change [deg]")
        ax2.plot(self.t, np.degrees(self.delta), label="rudder [deg]")
        ax2.plot(self.t, self.u, label="u [m/s]")
        ax2.set_xlabel("t [s]")
        ax2.grid(alpha=0.3)
        ax2.legend(loc="best", fontsize=8)
        text = "\n".join(f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}" for k, v in self.metrics.items())
        ax2.text(0.02, 0.02, text, transform=ax2.transAxes, fontsize=7, va="bottom", family="monospace",
                 bbox={"facecolor": "white", "alpha": 0.8})  # fmt: skip
        fig.tight_layout()
        with atomic_open(path, "wb") as fh:
            fig.savefig(fh, format="png", dpi=100)
        return path


def write_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write text to ``path`` atomically (see :mod:`atomicio`)."""
    return write_text(path, text)


# -- simulation driver -----------------------------------------------------------------------------
class _Sim:
    """Single-vessel run through the batched step, recording the track."""

    def __init__(self, vt: VesselType, model: str, speed: float | None, revs: float | None,
                 rudder_rate_deg: float | None, dt: float | None) -> None:  # fmt: skip
        if model not in ("mmg", "nomoto"):
            raise ParameterError(f"model must be 'mmg' or 'nomoto', got {model!r}")
        limits = vt.limits
        if rudder_rate_deg is not None:
            if not (math.isfinite(rudder_rate_deg) and rudder_rate_deg > 0):
                raise ParameterError(f"rudder_rate_deg must be > 0, got {rudder_rate_deg!r}")
            limits = replace(limits, rudder_rate=math.radians(rudder_rate_deg))
        self.speed = vt.service_speed if speed is None else float(speed)
        self.revs = vt.mmg.self_propulsion_revs(self.speed) if revs is None else float(revs)
        if not (math.isfinite(self.speed) and self.speed > 0):
            raise ParameterError(f"approach speed must be > 0, got {self.speed!r}")
        if model == "mmg":
            self.batch = mmg.MMGBatch.from_params([vt.mmg], limits)
            self.step = mmg.step
        else:
            self.batch = nomoto.NomotoBatch.from_params([vt.nomoto], limits)
            self.step = nomoto.step
        self.dt = float(dt) if dt is not None else min(0.5, 0.02 * vt.mmg.L / self.speed)
        self.limits = limits
        s = VesselState.zeros(1)
        s.u[:] = self.speed
        s.n[:] = self.revs
        self.state = s
        self.t = 0.0
        self.rows = [self._row()]

    def _row(self):
        s = self.state
        return (self.t, s.x[0], s.y[0], s.psi[0], s.u[0], s.v[0], s.r[0], s.delta[0], s.n[0])

    def advance(self, rudder: float, revs: float) -> None:
        self.state = self.step(self.batch, self.state, rudder, revs, None, self.dt)
        self.t += self.dt
        self.rows.append(self._row())

    def result(self, kind: str, type_id: str, settings: dict, metrics: dict) -> ManoeuvreResult:
        arr = np.array(self.rows, dtype=np.float64).T
        return ManoeuvreResult(kind, type_id, settings, *arr, metrics=metrics)


def _vt(vessel) -> VesselType:
    return vessel if isinstance(vessel, VesselType) else get(vessel)


def _crossing(t: np.ndarray, val: np.ndarray, level: float) -> int | None:
    idx = np.flatnonzero(val >= level)
    return int(idx[0]) if idx.size else None


def _interp_at(val: np.ndarray, key: np.ndarray, level: float) -> float:
    """Linear interpolation of ``val`` where the increasing ``key`` first reaches ``level``."""
    i = _crossing(key, key, level)
    if i is None:
        return float("nan")
    if i == 0:
        return float(val[0])
    f = (level - key[i - 1]) / (key[i] - key[i - 1])
    return float(val[i - 1] + f * (val[i] - val[i - 1]))


def turning_metrics(t, x, y, psi, u, v, r, sign: float = 1.0) -> dict:
    """Advance, transfer, tactical / steady diameter from a track (sign -1 for a port turn)."""
    p0 = psi[0]
    dx, dy = x - x[0], y - y[0]
    fwd = dx * math.sin(p0) + dy * math.cos(p0)
    lat = (dx * math.cos(p0) - dy * math.sin(p0)) * sign
    dpsi = (psi - p0) * sign
    m = {
        "advance_m": _interp_at(fwd, dpsi, math.pi / 2),
        "transfer_m": _interp_at(lat, dpsi, math.pi / 2),
        "tactical_diameter_m": _interp_at(lat, dpsi, math.pi),
        "time_to_90deg_s": _interp_at(t, dpsi, math.pi / 2),
        "time_to_180deg_s": _interp_at(t, dpsi, math.pi),
    }
    U_end = math.hypot(u[-1], v[-1])
    m["steady_turning_diameter_m"] = 2.0 * U_end / abs(r[-1]) if abs(r[-1]) > 1e-12 else float("nan")
    m["steady_speed_m_s"] = U_end
    return m


def zigzag_metrics(t, psi, heading_deg: float, sign: float = 1.0) -> dict:
    """Overshoots and initial turning time from a heading trace of an A/B zig-zag."""
    B = math.radians(heading_deg)
    d = (np.asarray(psi) - psi[0]) * sign
    out = {"initial_turning_time_s": float("nan"), "first_overshoot_deg": float("nan"),
           "second_overshoot_deg": float("nan")}  # fmt: skip
    i1 = _crossing(t, d, B)
    if i1 is None:
        return out
    out["initial_turning_time_s"] = _interp_at(np.asarray(t), d, B)
    i2 = _crossing(t, -d[i1:], B)
    if i2 is None:
        return out
    i2 += i1
    out["first_overshoot_deg"] = math.degrees(float(d[i1:i2].max()) - B)
    i3 = _crossing(t, d[i2:], B)
    if i3 is None:
        return out
    i3 += i2
    out["second_overshoot_deg"] = math.degrees(-float(d[i2:i3].min()) - B)
    return out


def _side(side: str) -> float:
    if side not in ("port", "starboard"):
        raise ParameterError(f"side must be 'port' or 'starboard', got {side!r}")
    return 1.0 if side == "starboard" else -1.0


def turning_circle(vessel, rudder_deg: float = 35.0, side: str = "starboard", *, speed: float | None = None,
                   revs: float | None = None, model: str = "mmg", dt: float | None = None,
                   max_time: float | None = None, rudder_rate_deg: float | None = None) -> ManoeuvreResult:  # fmt: skip
    """Turning circle test; runs until 450 deg change of heading or ``max_time``."""
    vt = _vt(vessel)
    sign = _side(side)
    if not (math.isfinite(rudder_deg) and 0 < rudder_deg <= math.degrees(vt.limits.rudder_max) + 1e-9):
        raise ParameterError(
            f"turning rudder angle must be in (0, {math.degrees(vt.limits.rudder_max):.0f}] deg, got {rudder_deg!r}"
        )
    sim = _Sim(vt, model, speed, revs, rudder_rate_deg, dt)
    max_time = max_time if max_time is not None else 60.0 * vt.mmg.L / sim.speed
    cmd = sign * math.radians(rudder_deg)
    while sim.t < max_time and abs(sim.state.psi[0]) < math.radians(450.0):
        sim.advance(cmd, sim.revs)
    res = sim.result("turning", vt.id, {"rudder_deg": rudder_deg, "side": side, "model": model,
                                         "approach_speed_m_s": sim.speed, "revs_rps": sim.revs, "dt_s": sim.dt}, {})  # fmt: skip
    res.metrics = turning_metrics(res.t, res.x, res.y, res.psi, res.u, res.v, res.r, sign)
    for k in ("advance_m", "tactical_diameter_m"):
        res.metrics[k.replace("_m", "_L")] = res.metrics[k] / vt.mmg.L
    return res


def zigzag(vessel, rudder_deg: float = 10.0, heading_deg: float = 10.0, side: str = "starboard", *,
           speed: float | None = None, revs: float | None = None, model: str = "mmg", dt: float | None = None,
           max_time: float | None = None, rudder_rate_deg: float | None = None) -> ManoeuvreResult:  # fmt: skip
    """A/B zig-zag test; runs until the fourth rudder reversal or ``max_time``."""
    vt = _vt(vessel)
    sign = _side(side)
    for name, val in (("rudder_deg", rudder_deg), ("heading_deg", heading_deg)):
        if not (math.isfinite(val) and 0 < val <= 90):
            raise ParameterError(f"zig-zag {name} must be in (0, 90] deg, got {val!r}")
    sim = _Sim(vt, model, speed, revs, rudder_rate_deg, dt)
    max_time = max_time if max_time is not None else 80.0 * vt.mmg.L / sim.speed
    A, B = math.radians(rudder_deg), math.radians(heading_deg)
    cur = sign
    switches = 0
    while sim.t < max_time and switches < 4:
        dpsi = (sim.state.psi[0] - 0.0) * sign
        if cur == sign and dpsi >= B or cur == -sign and dpsi <= -B:
            cur = -cur
            switches += 1
        sim.advance(cur * A, sim.revs)
    res = sim.result("zigzag", vt.id, {"rudder_deg": rudder_deg, "heading_deg": heading_deg, "side": side,
                                        "model": model, "approach_speed_m_s": sim.speed, "revs_rps": sim.revs,
                                        "dt_s": sim.dt}, {})  # fmt: skip
    res.metrics = zigzag_metrics(res.t, res.psi, heading_deg, sign)
    return res


def crash_stop(vessel, *, speed: float | None = None, revs: float | None = None, model: str = "mmg",
               dt: float | None = None, max_time: float | None = None) -> ManoeuvreResult:  # fmt: skip
    """Full ahead -> full astern; runs until u <= 0 (through the water) or ``max_time``."""
    vt = _vt(vessel)
    sim = _Sim(vt, model, speed, revs, None, dt)
    max_time = max_time if max_time is not None else 200.0 * vt.mmg.L / sim.speed
    astern = sim.limits.revs_min
    while sim.t < max_time and sim.state.u[0] > 0.0:
        sim.advance(0.0, astern)
    res = sim.result("stopping", vt.id, {"model": model, "approach_speed_m_s": sim.speed, "revs_rps": sim.revs,
                                          "astern_revs_rps": astern, "dt_s": sim.dt}, {})  # fmt: skip
    dx, dy = np.diff(res.x), np.diff(res.y)
    stopped = bool(res.u[-1] <= 0.0)
    res.metrics = {
        "stopped": stopped,
        "time_to_stop_s": float(res.t[-1]) if stopped else float("nan"),
        "track_reach_m": float(np.sum(np.hypot(dx, dy))),
        "head_reach_m": float(res.y[-1] - res.y[0]),
        "lateral_deviation_m": float(res.x[-1] - res.x[0]),
    }
    res.metrics["track_reach_L"] = res.metrics["track_reach_m"] / vt.mmg.L
    return res


# -- Nomoto fit ------------------------------------------------------------------------------------
def fit_nomoto(vessel) -> tuple[float, float]:
    """Fit (K', T') of the first-order Nomoto model to this type's MMG 10/10 zig-zag.

    Least squares of dr/dt = (K delta - r) / T on the recorded track (central differences), with
    K' = K L / U and T' = T U / L, U the mean speed of the run.
    """
    vt = _vt(vessel)
    res = zigzag(vt, 10.0, 10.0)
    t, r, d = res.t, res.r, res.delta
    U = float(np.mean(np.hypot(res.u, res.v)))
    L = vt.mmg.L
    # Simulate T r' + r = K delta for T' on a log grid in [0.1, 10] (K solved in closed form, as r is
    # linear in K) and keep the best: a free least-squares fit on dr/dt degenerates into a pure
    # integrator (T' of hundreds) for the quick, lightly damped small craft.
    best = None
    for T_dash in np.geomspace(0.1, 10.0, 121):
        T = T_dash * L / U
        unit = np.zeros_like(r)  # response to K = 1
        for i in range(1, t.size):
            h = t[i] - t[i - 1]
            a = math.exp(-h / T)
            unit[i] = a * unit[i - 1] + (1.0 - a) * 0.5 * (d[i] + d[i - 1])
        denom = float(unit @ unit)
        if denom <= 0.0:
            continue
        K = float(unit @ r) / denom
        err = float(np.sum((K * unit - r) ** 2))
        if K > 0.0 and (best is None or err < best[0]):
            best = (err, K * L / U, T_dash)
    if best is None:
        raise ParameterError(f"Nomoto fit failed for {vt.id}: no positive gain reproduces the zig-zag")
    return best[1], best[2]


def write_nomoto_cache(path: str | os.PathLike = NOMOTO_CACHE) -> Path:
    """Fit every catalogue type and write the cache CSV (type_id, K_dash, T_dash)."""
    from vessels.catalogue import list_types

    lines = ["type_id,K_dash,T_dash"]
    for tid in list_types():
        k, tt = fit_nomoto(tid)
        lines.append(f"{tid},{k:.6g},{tt:.6g}")
    return write_atomic(path, "\n".join(lines) + "\n")


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["fit-nomoto"]:
        print(write_nomoto_cache().read_text())
    else:
        print("usage: python -m vessels.manoeuvres fit-nomoto", file=sys.stderr)
        sys.exit(2)
