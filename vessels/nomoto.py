r"""First-order Nomoto steering + first-order surge model for cheap background traffic.

Yaw (Nomoto 1957, first order)::

    T dr/dt + r = K delta,    K = K' U / L,   T = T' L / U,   U = max(|u|, 0.01 sqrt(g L))

Surge::

    du/dt = (u_ss(n) - u) / T_u,   u_ss(n) = c_u n  (n >= 0),   u_ss(n) = c_u a_astern n  (n < 0)

Sway is neglected (v = 0). ``c_u`` [m/rev] is the service speed divided by the self-propulsion
revs of the matching MMG model, ``T_u`` = (m + m_x) U_s / (2 R_s) is the surge time constant of the
MMG model linearised at the service speed U_s (R_s = resistance there), ``a_astern`` = 0.5.

The non-dimensional K' and T' of each catalogue type are FITTED to a 10/10 zig-zag of the same
type's MMG model (the simulated first-order response closest in least squares to the MMG yaw
rate, T' searched on a log grid in [0.1, 10], U the mean speed of the run) and cached in ``vessels/data/nomoto_fitted.csv``; :func:`vessels.manoeuvres.fit_nomoto` re-creates
them and a test checks the cache against a fresh fit.

Integration: the linear yaw and surge equations are integrated exactly over the step
(exponential update, unconditionally stable) with K, T, u_ss frozen at the start-of-step speed
and mid-step rudder / revs; heading integrates r exactly; the position uses the mid-step heading
and speed. Rudder and revolutions follow the same rate-limited actuators as the MMG model, and the
same current handling: ``u`` is through the water, the ground velocity adds the current.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from vessels.errors import ParameterError
from vessels.state import ActuatorArrays, ActuatorLimits, VesselState, apply_actuators, as_command, as_current

G = 9.81


@dataclass(frozen=True)
class NomotoParams:
    """Nomoto + surge parameters of one vessel (see the module docstring)."""

    name: str
    L: float  # [m]
    K_dash: float  # non-dimensional turning ability
    T_dash: float  # non-dimensional time constant
    T_u: float  # surge time constant [s]
    speed_per_rev: float  # c_u [m/rev]
    astern_speed_ratio: float = 0.5

    def validate(self) -> NomotoParams:
        for f in fields(self):
            if f.name == "name":
                continue
            val = getattr(self, f.name)
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
                raise ParameterError(f"NomotoParams({self.name}).{f.name} must be a finite number, got {val!r}")
            if val <= 0.0:
                raise ParameterError(f"NomotoParams({self.name}).{f.name} must be > 0, got {val!r}")
        return self


class NomotoBatch:
    """(N,) arrays of Nomoto parameters and actuator limits; build with :meth:`from_params`."""

    def __init__(self, params: list[NomotoParams], limits: list[ActuatorLimits], max_substep: float = 1.0) -> None:
        if len(params) != len(limits):
            raise ParameterError(f"{len(params)} parameter sets but {len(limits)} actuator limits")
        if not (isinstance(max_substep, (int, float)) and math.isfinite(max_substep) and max_substep > 0):
            raise ParameterError(f"max_substep must be a finite number > 0, got {max_substep!r}")
        for i, p in enumerate(params):
            if not isinstance(p, NomotoParams):
                raise ParameterError(f"params[{i}] must be a NomotoParams, got {type(p).__name__}")
            p.validate()
        self.params = list(params)
        self.limits = ActuatorArrays(list(limits))
        self.max_substep = float(max_substep)
        self.L = np.array([p.L for p in params], dtype=np.float64)
        self.K_over_L = np.array([p.K_dash / p.L for p in params], dtype=np.float64)
        self.T_L = np.array([p.T_dash * p.L for p in params], dtype=np.float64)
        self.inv_Tu = np.array([1.0 / p.T_u for p in params], dtype=np.float64)
        self.c_u = np.array([p.speed_per_rev for p in params], dtype=np.float64)
        self.c_u_astern = np.array([p.speed_per_rev * p.astern_speed_ratio for p in params], dtype=np.float64)
        self.u_floor = 0.01 * np.sqrt(G * self.L)

    @classmethod
    def from_params(
        cls, params: list[NomotoParams], limits: ActuatorLimits | list[ActuatorLimits], max_substep: float = 1.0
    ) -> NomotoBatch:
        params = list(params)
        if isinstance(limits, ActuatorLimits):
            limits = [limits] * len(params)
        return cls(params, list(limits), max_substep)

    @property
    def n_vessels(self) -> int:
        return int(self.L.shape[0])


def step(
    batch: NomotoBatch,
    state: VesselState,
    rudder_cmd,
    revs_cmd,
    current: np.ndarray | None,
    dt: float,
) -> VesselState:
    """Advance N vessels by ``dt`` seconds (same signature and conventions as :func:`vessels.mmg.step`)."""
    nv = batch.n_vessels
    if state.n_vessels != nv:
        raise ParameterError(f"state has {state.n_vessels} vessels but the batch has {nv}")
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0.0:
        raise ParameterError(f"dt must be a finite number > 0, got {dt!r}")
    rudder_cmd = as_command(rudder_cmd, nv, "rudder_cmd")
    revs_cmd = as_command(revs_cmd, nv, "revs_cmd")
    cur = as_current(current, nv)
    nsub = max(1, math.ceil(dt / batch.max_substep - 1e-9))
    h = dt / nsub
    s = state
    for _ in range(nsub):
        s = _substep(batch, s, rudder_cmd, revs_cmd, cur, h)
    return s


def _substep(b: NomotoBatch, s: VesselState, rudder_cmd, revs_cmd, cur, h: float) -> VesselState:
    d1, n1 = apply_actuators(b.limits, s.delta, s.n, rudder_cmd, revs_cmd, h)
    dm = 0.5 * (s.delta + d1)
    nm = 0.5 * (s.n + n1)
    U = np.maximum(np.abs(s.u), b.u_floor)
    T = b.T_L / U
    Kd = b.K_over_L * U
    Kd *= dm  # steady yaw rate K delta
    e = np.exp(-h / T)
    r_minus = s.r - Kd
    r1 = Kd + r_minus * e
    dpsi = Kd * h
    dpsi += r_minus * T * (1.0 - e)  # exact integral of r over the step
    psi1 = s.psi + dpsi
    uss = np.where(nm >= 0.0, b.c_u, b.c_u_astern)
    uss *= nm
    eu = np.exp(-h * b.inv_Tu)
    u1 = uss + (s.u - uss) * eu
    psim = s.psi + 0.5 * dpsi
    um = 0.5 * (s.u + u1)
    x1 = s.x + h * (um * np.sin(psim) + cur[:, 0])
    y1 = s.y + h * (um * np.cos(psim) + cur[:, 1])
    return VesselState(x=x1, y=y1, psi=psi1, u=u1, v=np.zeros_like(u1), r=r1, delta=d1, n=n1)
