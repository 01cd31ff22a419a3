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

Like :mod:`vessels.mmg`, the step is a numba kernel (``@njit(cache=True, fastmath=False)``, no
``parallel``) looping over the vessels in compiled code, so that a call costs about a microsecond
plus the Python argument checks instead of the ~50 us of numpy call overhead, and a vessel's result
is bit-identical alone or in any batch. Same operation order as the former numpy code (``exp``,
``sin``, ``cos`` now from the C math library: last-bit differences). :func:`step_inplace` writes
into existing arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numba
import numpy as np

from vessels.errors import ParameterError
from vessels.state import (
    ActuatorLimits,
    VesselBatch,
    VesselState,
    actuate,
    check_kernel_inputs,
    kernel_inputs,
    out_state,
    raise_kernel_error,
)

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


# Per-vessel arrays of NomotoBatch, in the column order of NomotoBatch.consts (then the actuator limits).
_BATCH_ARRAYS = ("L", "K_over_L", "T_L", "inv_Tu", "c_u", "c_u_astern", "u_floor")
(
    _L, _K_OVER_L, _T_L, _INV_TU, _C_U, _C_U_ASTERN, _UFLOOR,
    _RUDDER_MAX, _RUDDER_RATE, _REVS_MAX, _REVS_MIN, _REVS_RATE,
) = range(len(_BATCH_ARRAYS) + 5)  # fmt: skip
_N_CONSTS = len(_BATCH_ARRAYS) + 5


def _pack_consts(b: NomotoBatch) -> np.ndarray:
    """The (N, _N_CONSTS) C-contiguous float64 table the kernel reads (one row per vessel)."""
    lim = b.limits
    cols = [getattr(b, name) for name in _BATCH_ARRAYS]
    cols += [lim.rudder_max, lim.rudder_rate, lim.revs_max, lim.revs_min, lim.revs_rate]
    if not cols[0].shape[0]:
        return np.zeros((0, _N_CONSTS))
    return np.ascontiguousarray(np.stack(cols, axis=1), dtype=np.float64)


class NomotoBatch(VesselBatch):
    """(N,) arrays of Nomoto parameters and actuator limits; build with :meth:`from_params`.

    ``consts`` is the (N, n_consts) float64 table the step kernel reads (the arrays of
    ``_BATCH_ARRAYS``, then the actuator limits), packed at construction.
    """

    _ARRAYS = _BATCH_ARRAYS
    DEFAULT_SUBSTEP = 1.0

    def __init__(self, params: list[NomotoParams], limits: list[ActuatorLimits], max_substep: float = 1.0) -> None:
        self._init_common(params, limits, max_substep, NomotoParams)
        self.L = np.array([p.L for p in params], dtype=np.float64)
        self.K_over_L = np.array([p.K_dash / p.L for p in params], dtype=np.float64)
        self.T_L = np.array([p.T_dash * p.L for p in params], dtype=np.float64)
        self.inv_Tu = np.array([1.0 / p.T_u for p in params], dtype=np.float64)
        self.c_u = np.array([p.speed_per_rev for p in params], dtype=np.float64)
        self.c_u_astern = np.array([p.speed_per_rev * p.astern_speed_ratio for p in params], dtype=np.float64)
        self.u_floor = 0.01 * np.sqrt(G * self.L)
        self.consts = _pack_consts(self)



def step(
    batch: NomotoBatch,
    state: VesselState,
    rudder_cmd,
    revs_cmd,
    current: np.ndarray | None,
    dt: float,
) -> VesselState:
    """Advance N vessels by ``dt`` seconds (same signature and conventions as :func:`vessels.mmg.step`)."""
    out = VesselState.__new__(VesselState)
    out.x, out.y, out.psi, out.u, out.v, out.r, out.delta, out.n = np.empty((8, batch.n_vessels))
    return step_inplace(batch, state, rudder_cmd, revs_cmd, current, dt, out=out)


def step_inplace(
    batch: NomotoBatch,
    state: VesselState,
    rudder_cmd,
    revs_cmd,
    current: np.ndarray | None,
    dt: float,
    out: VesselState | None = None,
) -> VesselState:
    """:func:`step` writing into ``out`` (default: ``state`` itself); see :func:`vessels.mmg.step_inplace`."""
    nv = batch.n_vessels
    rud, rev, cur, nsub, h = kernel_inputs(nv, state, rudder_cmd, revs_cmd, current, dt, batch.max_substep)
    o = out_state(state, out)
    err = _step_kernel(batch.consts, state.x, state.y, state.psi, state.u, state.r, state.delta, state.n,
                       rud, rev, cur, nsub, h, o.x, o.y, o.psi, o.u, o.v, o.r, o.delta, o.n)  # fmt: skip
    if err:
        raise_kernel_error(err)
    return o


@numba.njit(cache=True, fastmath=False)
def _step_kernel(c, x, y, psi, u, r, delta, n, rud, rev, cur, nsub, h, ox, oy, opsi, ou, ov, orr, odelta, on) -> int:
    """``nsub`` exact-exponential sub-steps of length ``h`` per vessel (formulas of the module doc).

    Writes the o* arrays (may be the inputs; ``ov`` is set to 0); returns 0 or an ERR_* code of
    vessels.state before writing anything. Operation order as in the former numpy implementation.
    """
    err = check_kernel_inputs(rud, rev, cur)
    if err:
        return err
    nv = x.shape[0]
    rud_all = rud.shape[0] > 1
    rev_all = rev.shape[0] > 1
    cur_all = cur.shape[0] > 1
    mh = -h
    for i in range(nv):
        dcmd = rud[i if rud_all else 0]
        ncmd = rev[i if rev_all else 0]
        ci = i if cur_all else 0
        ce = cur[ci, 0]
        cn = cur[ci, 1]
        x0, y0, p0, u0, r0, d0, n0 = x[i], y[i], psi[i], u[i], r[i], delta[i], n[i]
        for _ in range(nsub):
            d1 = actuate(d0, dcmd, -c[i, _RUDDER_MAX], c[i, _RUDDER_MAX], c[i, _RUDDER_RATE], h)
            n1 = actuate(n0, ncmd, c[i, _REVS_MIN], c[i, _REVS_MAX], c[i, _REVS_RATE], h)
            dm = 0.5 * (d0 + d1)
            nm = 0.5 * (n0 + n1)
            U = max(abs(u0), c[i, _UFLOOR])
            T = c[i, _T_L] / U
            Kd = (c[i, _K_OVER_L] * U) * dm  # steady yaw rate K delta
            e = math.exp(mh / T)
            r_minus = r0 - Kd
            r1 = Kd + r_minus * e
            dpsi = Kd * h + (r_minus * T) * (1.0 - e)  # exact integral of r over the step
            psi1 = p0 + dpsi
            uss = (c[i, _C_U] if nm >= 0.0 else c[i, _C_U_ASTERN]) * nm
            eu = math.exp(mh * c[i, _INV_TU])
            u1 = uss + (u0 - uss) * eu
            psim = p0 + 0.5 * dpsi
            um = 0.5 * (u0 + u1)
            x0 = x0 + h * (um * math.sin(psim) + ce)
            y0 = y0 + h * (um * math.cos(psim) + cn)
            p0, u0, r0, d0, n0 = psi1, u1, r1, d1, n1
        ox[i], oy[i], opsi[i], ou[i], ov[i], orr[i], odelta[i], on[i] = x0, y0, p0, u0, 0.0, r0, d0, n0
    return 0
