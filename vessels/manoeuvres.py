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
        """The settings and metrics for people: names without unit suffixes, values with units."""
        sets = ", ".join(f"{_label(k)}={_fmt(k, v).replace(' ', '')}" for k, v in self.settings.items())
        lines = [f"{self.type_id} {self.kind} ({sets})"]
        for k, v in self.metrics.items():
            lines.append(f"  {_label(k):24s} {_fmt(k, v):>12s}")
        return "\n".join(lines)

    def plot_png(self, path: str | os.PathLike) -> Path:
        """Track (left, with advance / transfer / tactical diameter marked for a turning circle), heading
        and rudder, speed (and revs) on separate axes, and the metrics in their own panel; written
        atomically."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        path = Path(path)
        fig = Figure(figsize=(12, 7), layout="constrained")
        gs = fig.add_gridspec(3, 2, width_ratios=[1.15, 1], height_ratios=[1, 1, 0.85])
        ax = fig.add_subplot(gs[:, 0])
        ax.plot(self.x, self.y, lw=1.5, color="C0", label="track (midship)")
        ax.plot(self.x[:1], self.y[:1], "o", color="green", ms=6, label="start")
        ax.plot(self.x[-1:], self.y[-1:], "s", color="black", ms=5, label="end")
        if self.kind == "turning":
            self._mark_turning(ax)
        elif self.kind == "zigzag":
            k = self._switch_rows()
            ax.plot(self.x[k], self.y[k], "v", color="C3", ms=6, label="rudder reversed")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("x east [m]")
        ax.set_ylabel("y north [m]")
        settings = ", ".join(f"{_label(k)} {_fmt(k, v)}" for k, v in self.settings.items() if k != "side")
        ax.set_title(f"{self.type_id}: {self.kind} ({self.settings.get('side', '')})".replace(" ()", ""))
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8, framealpha=0.9)

        ah = fig.add_subplot(gs[0, 1])
        ah.plot(self.t, np.degrees(self.psi - self.psi[0]), color="C0", label="heading change")
        ah.plot(self.t, np.degrees(self.delta), color="C1", lw=1.0, label="rudder angle")
        if self.kind == "zigzag":
            b = self.settings["heading_deg"]
            sgn = 1.0 if self.settings.get("side", "starboard") == "starboard" else -1.0
            for lvl in (b, -b):
                ah.axhline(lvl, color="gray", lw=0.8, ls=":")
            k = self._switch_rows()
            hd = np.degrees(self.psi - self.psi[0])
            for n, key in ((0, "first_overshoot_deg"), (1, "second_overshoot_deg")):
                if k.size > n + 1 and math.isfinite(self.metrics.get(key, math.nan)):
                    seg = slice(k[n], k[n + 1] + 1)
                    peak = k[n] + int(np.argmax(np.abs(hd[seg])))
                    ah.plot(self.t[peak], hd[peak], "o", color="C3", ms=4)
                    ah.annotate(f"{'1st' if n == 0 else '2nd'} overshoot {self.metrics[key]:.2f} deg",
                                (self.t[peak], hd[peak]), xytext=(6, 4 if hd[peak] * sgn > 0 else -12),
                                textcoords="offset points", fontsize=7.5, color="C3")  # fmt: skip
            ah.margins(y=0.18)
        ah.set_ylabel("angle [deg]")
        ah.grid(alpha=0.3)
        ah.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, fontsize=8, frameon=False,
                  borderaxespad=0.1)  # above the axes, never over the curves
        ah.tick_params(labelbottom=False)

        asp = fig.add_subplot(gs[1, 1], sharex=ah)
        asp.plot(self.t, np.hypot(self.u, self.v), color="C2", label="speed through water")
        asp.plot(self.t, self.u, color="C2", lw=0.8, ls="--", label="surge u")
        asp.set_ylabel("speed [m/s]")
        asp.set_xlabel("t [s]")
        asp.grid(alpha=0.3)
        handles = asp.get_legend_handles_labels()
        if self.kind == "stopping":
            an = asp.twinx()
            an.plot(self.t, self.n, color="C4", lw=1.0, label="propeller revs")
            an.set_ylabel("revs [rev/s]", color="C4")
            an.tick_params(axis="y", colors="C4")
            h2 = an.get_legend_handles_labels()
            handles = (handles[0] + h2[0], handles[1] + h2[1])
        asp.legend(*handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, fontsize=8, frameon=False,
                   borderaxespad=0.1)  # fmt: skip

        at = fig.add_subplot(gs[2, 1])
        at.axis("off")
        rows = [(_label(k), _fmt(k, v)) for k, v in self.metrics.items()]
        width = max(len(a) for a, _ in rows) if rows else 0
        text = "\n".join(f"{a:<{width}}  {b}" for a, b in rows)
        at.text(0.0, 1.0, "metrics\n" + text, transform=at.transAxes, va="top", ha="left", fontsize=8.5,
                family="monospace")  # fmt: skip
        at.text(1.0, 1.0, "condition\n" + settings.replace(", ", "\n"), transform=at.transAxes, va="top",
                ha="right", fontsize=8.5, family="monospace", color="dimgray")  # fmt: skip
        with atomic_open(path, "wb") as fh:
            fig.savefig(fh, format="png", dpi=100)
        return path

    def _switch_rows(self) -> np.ndarray:
        """Rows where the zig-zag heading change reaches +B, -B, +B, -B (the rudder reversals)."""
        sign = 1.0 if self.settings.get("side", "starboard") == "starboard" else -1.0
        d = np.degrees(self.psi - self.psi[0]) * sign
        b, rows, start, want = float(self.settings["heading_deg"]), [], 0, 1.0
        while True:
            hit = np.flatnonzero(want * d[start:] >= b - 1e-9)
            if not hit.size:
                return np.array(rows, dtype=np.int64)
            start += int(hit[0])
            rows.append(start)
            want = -want

    def _mark_turning(self, ax) -> None:
        """Advance and transfer (at 90 deg change of heading) and the tactical diameter (at 180 deg) as
        dimension lines on the track, in the frame of the approach heading."""
        m = self.metrics
        sign = 1.0 if self.settings.get("side", "starboard") == "starboard" else -1.0
        p0, x0, y0 = self.psi[0], self.x[0], self.y[0]
        fwd = np.array([math.sin(p0), math.cos(p0)])  # approach direction
        lat = sign * np.array([math.cos(p0), -math.sin(p0)])  # towards the turn

        def pt(a: float, b: float) -> np.ndarray:
            return np.array([x0, y0]) + a * fwd + b * lat

        off = 0.08 * max(np.ptp(self.x), np.ptp(self.y), 1.0)
        adv, tr, td = m.get("advance_m", math.nan), m.get("transfer_m", math.nan), m.get("tactical_diameter_m", math.nan)
        dpsi = (self.psi - p0) * sign
        kw = {"arrowstyle": "<|-|>", "mutation_scale": 9, "lw": 1.1, "shrinkA": 0, "shrinkB": 0}
        box = {"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85}
        if math.isfinite(adv) and math.isfinite(tr):
            a, b = pt(0.0, -off), pt(adv, -off)  # advance: beside the approach line, away from the turn
            ax.annotate("", a, b, arrowprops={**kw, "color": "C3"})
            ax.text(*(0.5 * (a + b) - 0.15 * off * lat), f"advance\n{adv:.1f} m", color="C3", fontsize=8,
                    ha="center", va="center", rotation=0, bbox=box)  # fmt: skip
            p90 = pt(_interp_at(np.asarray(self._fwd()), dpsi, math.pi / 2), tr)
            ax.plot(*p90, "o", color="C3", ms=5, label="90 deg heading change")
            ax.plot(*np.c_[pt(adv, -off), pt(adv, 0.0)], color="C3", lw=0.6, ls=":")
            c, d = pt(adv + off, 0.0), pt(adv + off, tr)  # transfer: across, beyond the 90 deg point
            ax.annotate("", c, d, arrowprops={**kw, "color": "C1"})
            ax.plot(*np.c_[p90, d], color="C1", lw=0.6, ls=":")
            ax.text(*(0.5 * (c + d) - 0.6 * off * fwd), f"transfer {tr:.1f} m", color="C1", fontsize=8,
                    ha="center", va="center", bbox=box)  # fmt: skip
        if math.isfinite(td):
            f180 = _interp_at(np.asarray(self._fwd()), dpsi, math.pi)
            p180 = pt(f180, td)
            ax.plot(*p180, "o", color="C2", ms=5, label="180 deg heading change")
            e, f = pt(f180, 0.0), p180
            ax.annotate("", e, f, arrowprops={**kw, "color": "C2"})
            ax.plot(*np.c_[pt(0.0, 0.0), pt(max(f180, adv) + off, 0.0)], color="gray", lw=0.7, ls="--",
                    label="approach line")  # fmt: skip
            ax.text(*(0.5 * (e + f) - 0.5 * off * fwd), f"tactical diameter {td:.1f} m", color="C2",
                    fontsize=8, ha="center", va="center", bbox=box)  # fmt: skip

    def _fwd(self) -> np.ndarray:
        p0 = self.psi[0]
        return (self.x - self.x[0]) * math.sin(p0) + (self.y - self.y[0]) * math.cos(p0)


# unit suffix of a metric / setting name -> (unit shown, decimals); longest suffix first
_UNITS = (("_m_s", "m/s", 2), ("_deg_s", "deg/s", 2), ("_rps", "rev/s", 2), ("_deg", "deg", 2), ("_m", "m", 1),
          ("_s", "s", 2), ("_L", "", 2))  # fmt: skip


def _label(key: str) -> str:
    if key.endswith("_L"):  # in ship lengths: advance_L -> advance/L
        return key[:-2] + "/L"
    for suf, _, _ in _UNITS:
        if key.endswith(suf):
            return key[: -len(suf)]
    return key


def _fmt(key: str, v) -> str:
    """``312.4 m``, ``4.36 deg``, ``2.10 L``; ``n/a`` for NaN; other values as they are."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    for suf, unit, dec in _UNITS:
        if key.endswith(suf):
            return "n/a" if not math.isfinite(v) else f"{v:.{dec}f} {unit}".rstrip()
    return f"{v:.3g}" if isinstance(v, float) else str(v)


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
        if not (math.isfinite(self.speed) and self.speed > 0):
            raise ParameterError(f"approach speed must be > 0, got {self.speed!r}")
        self.revs = vt.mmg.self_propulsion_revs(self.speed) if revs is None else float(revs)
        if not (math.isfinite(self.revs) and self.revs > 0):
            raise ParameterError(f"propeller revs must be > 0 rev/s, got {self.revs!r}")
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

    def advance(self, rudder: float, revs: float, dt: float | None = None) -> None:
        dt = self.dt if dt is None else dt
        self.state = self.step(self.batch, self.state, rudder, revs, None, dt)
        self.t += dt
        self.rows.append(self._row())

    def advance_until(self, rudder: float, revs: float, level, max_iter: int = 30) -> bool:
        """One step of ``self.dt`` with ``rudder``, unless ``level(state)`` (a signed function of the
        state) crosses zero (from below) inside it: then step only up to the crossing time and return
        True, so the caller can switch the command there rather than at the next step boundary.

        The crossing time is found by the secant / regula falsi method on re-simulated partial steps
        from the same start state (the step function does not modify its input), to 1e-6 of a step."""
        s0, g0 = self.state, level(self.state)
        s1 = self.step(self.batch, s0, rudder, revs, None, self.dt)
        g1 = level(s1)
        if not (g0 < 0.0 <= g1):
            self.state = s1
            self.t += self.dt
            self.rows.append(self._row())
            return False
        lo, hi, glo, ghi = 0.0, self.dt, g0, g1  # regula falsi (Illinois) on the step fraction
        h, side = hi, 0
        for _ in range(max_iter):
            h = lo + (hi - lo) * glo / (glo - ghi)
            sh = self.step(self.batch, s0, rudder, revs, None, h)
            gh = level(sh)
            if abs(gh) < 1e-12 or hi - lo < 1e-6 * self.dt:
                break
            if gh < 0.0:
                lo, glo = h, gh
                if side == -1:
                    ghi *= 0.5
                side = -1
            else:
                hi, ghi = h, gh
                if side == 1:
                    glo *= 0.5
                side = 1
        if h > 0.0:
            self.advance(rudder, revs, h)
        return True

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
                                         "approach_speed_m_s": sim.speed, "revs_rps": sim.revs,
                                         "rudder_rate_deg_s": math.degrees(sim.limits.rudder_rate), "dt_s": sim.dt},
                     {})  # fmt: skip
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
    # The rudder is reversed when the heading change reaches +-B. The crossing is located inside the
    # step (advance_until), so the reversal happens at the crossing time, not at the next step
    # boundary: switching late by up to one step biased the overshoots by 0.25-0.5 deg at dt = 0.5 s.
    while sim.t < max_time and switches < 4:
        want = cur  # +sign: turning to +B; the level function is positive once B is reached
        if sim.advance_until(cur * A, sim.revs, lambda st, w=want: (st.psi[0] * sign) * (w * sign) - B):
            cur = -cur
            switches += 1
    res = sim.result("zigzag", vt.id, {"rudder_deg": rudder_deg, "heading_deg": heading_deg, "side": side,
                                        "model": model, "approach_speed_m_s": sim.speed, "revs_rps": sim.revs,
                                        "rudder_rate_deg_s": math.degrees(sim.limits.rudder_rate), "dt_s": sim.dt},
                     {})  # fmt: skip
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
