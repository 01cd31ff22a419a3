"""Vessel state, commands and actuator limits, as structure-of-arrays over N vessels.

Frame and units (SI everywhere):

* ``x``, ``y`` [m]: position of the midship point in a local metric frame, x east, y north.
* ``psi`` [rad]: heading, 0 = north (+y), clockwise positive (nautical). Not wrapped: it is the
  integral of ``r``, so a turning circle accumulates 2 pi per turn (wrap it for display).
* ``u`` [m/s]: surge (forward), ``v`` [m/s]: sway (to starboard), both velocities of the midship
  point THROUGH THE WATER, i.e. relative to the local current.
* ``r`` [rad/s]: yaw rate, positive = turning to starboard (clockwise seen from above).
* ``delta`` [rad]: rudder angle, positive = rudder deflected so that the ship turns to
  starboard (the MMG convention of Yasukawa & Yoshimura 2015).
* ``n`` [rev/s]: propeller revolutions, positive = ahead.

Ground velocity (what a GNSS receiver sees) is the water-relative velocity rotated to the earth
frame plus the current ``c = (c_east, c_north)`` [m/s] given per vessel by the caller::

    dx/dt = u sin(psi) + v cos(psi) + c_east
    dy/dt = u cos(psi) - v sin(psi) + c_north

The hull, propeller and rudder forces depend only on the water-relative velocities, which is
exact for a current that is uniform over the ship length and slowly varying in time (the usual
assumption of manoeuvring simulators: no current-gradient yaw moment is modelled). A stopped
ship (u = v = r = 0, n = 0) therefore drifts exactly with the current.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numba
import numpy as np

from vessels.errors import ParameterError

STATE_FIELDS = ("x", "y", "psi", "u", "v", "r", "delta", "n")


@dataclass
class VesselState:
    """State of N vessels: eight float64 arrays of shape (N,). See the module docstring."""

    x: np.ndarray
    y: np.ndarray
    psi: np.ndarray
    u: np.ndarray
    v: np.ndarray
    r: np.ndarray
    delta: np.ndarray
    n: np.ndarray

    def __post_init__(self) -> None:
        size = None
        for f in fields(self):
            arr = np.ascontiguousarray(getattr(self, f.name), dtype=np.float64)
            if arr.ndim == 0:
                arr = arr.reshape(1)
            if arr.ndim != 1:
                raise ParameterError(f"VesselState.{f.name} must be a 1-D array, got shape {arr.shape}")
            if size is None:
                size = arr.shape[0]
            elif arr.shape[0] != size:
                raise ParameterError(
                    f"VesselState.{f.name} has length {arr.shape[0]}, expected {size} like the other fields"
                )
            object.__setattr__(self, f.name, arr)

    @classmethod
    def zeros(cls, n: int) -> VesselState:
        """N vessels at the origin, heading north, at rest, rudder amidships, engine stopped."""
        if int(n) != n or n < 0:
            raise ParameterError(f"number of vessels must be a non-negative integer, got {n!r}")
        block = np.zeros((len(STATE_FIELDS), int(n)))
        st = cls(*block)  # the fields are the rows of one block (see :meth:`block`)
        st._block = (block, tuple(getattr(st, f) for f in STATE_FIELDS))
        return st

    def block(self) -> np.ndarray | None:
        """The (8, N) array whose rows are the fields in order, for a state made by :meth:`zeros` whose
        fields have not been replaced since; else None. Compiled steps take the block as one argument."""
        b = self.__dict__.get("_block")
        if b is None:
            return None
        block, rows = b
        for f, row in zip(STATE_FIELDS, rows, strict=True):
            if getattr(self, f) is not row:
                return None
        return block

    @property
    def n_vessels(self) -> int:
        return int(self.x.shape[0])

    def copy(self) -> VesselState:
        return VesselState(*(getattr(self, k).copy() for k in STATE_FIELDS))

    def as_array(self) -> np.ndarray:
        """A (8, N) copy, rows in the order of :data:`STATE_FIELDS`."""
        return np.stack([getattr(self, k) for k in STATE_FIELDS])

    def check_finite(self) -> None:
        """Raise :class:`ParameterError` naming the first field that holds NaN or inf."""
        for k in STATE_FIELDS:
            a = getattr(self, k)
            if not np.all(np.isfinite(a)):
                i = int(np.flatnonzero(~np.isfinite(a))[0])
                raise ParameterError(f"VesselState.{k}[{i}] is not finite ({a[i]!r})")

    # -- ground-referenced quantities -------------------------------------------------------
    def ground_velocity(self, current: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(v_east, v_north) over ground [m/s]; ``current`` is (N, 2) east/north or None."""
        s, c = np.sin(self.psi), np.cos(self.psi)
        ve = self.u * s + self.v * c
        vn = self.u * c - self.v * s
        if current is not None:
            cur = as_current(current, self.n_vessels)
            ve = ve + cur[:, 0]
            vn = vn + cur[:, 1]
        return ve, vn

    def sog(self, current: np.ndarray | None = None) -> np.ndarray:
        """Speed over ground [m/s]."""
        ve, vn = self.ground_velocity(current)
        return np.hypot(ve, vn)

    def cog(self, current: np.ndarray | None = None) -> np.ndarray:
        """Course over ground [rad] in [0, 2 pi), 0 = north, clockwise (0 where SOG is 0)."""
        ve, vn = self.ground_velocity(current)
        return np.mod(np.arctan2(ve, vn), 2.0 * np.pi)

    def heading_deg(self) -> np.ndarray:
        """Heading wrapped to [0, 360) degrees."""
        return np.mod(np.degrees(self.psi), 360.0)


def as_current(current: np.ndarray | None, n: int) -> np.ndarray:
    """Validate a current argument: None -> zeros, else a finite (N, 2) float64 array."""
    if current is None:
        return np.zeros((n, 2))
    cur = np.asarray(current, dtype=np.float64)
    if cur.shape == (2,):
        cur = np.broadcast_to(cur, (n, 2))
    if cur.shape != (n, 2):
        raise ParameterError(f"current must have shape ({n}, 2) (east, north in m/s), got {cur.shape}")
    if not np.all(np.isfinite(cur)):
        raise ParameterError("current contains NaN or inf")
    return cur


def as_command(cmd, n: int, name: str) -> np.ndarray:
    """Validate a command: a scalar or an (N,) array of finite floats."""
    a = np.asarray(cmd, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.shape != (n,):
        raise ParameterError(f"{name} must be a scalar or have shape ({n},), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ParameterError(f"{name} contains NaN or inf")
    return a


@dataclass(frozen=True)
class ActuatorLimits:
    """Steering gear and engine limits of one vessel.

    ``rudder_max`` [rad] (symmetric), ``rudder_rate`` [rad/s], ``revs_max`` [rev/s] (ahead),
    ``revs_min`` [rev/s] (full astern, <= 0), ``revs_rate`` [rev/s^2] (how fast the engine
    can change revolutions; a crash stop from full ahead to full astern takes
    ``(revs_max - revs_min) / revs_rate`` seconds).
    """

    rudder_max: float
    rudder_rate: float
    revs_max: float
    revs_min: float
    revs_rate: float

    def validate(self, where: str = "ActuatorLimits") -> ActuatorLimits:
        for f in fields(self):
            val = getattr(self, f.name)
            if not isinstance(val, (int, float)) or not math.isfinite(val):
                raise ParameterError(f"{where}.{f.name} must be a finite number, got {val!r}")
        for name in ("rudder_max", "rudder_rate", "revs_max", "revs_rate"):
            if getattr(self, name) <= 0.0:
                raise ParameterError(f"{where}.{name} must be > 0, got {getattr(self, name)!r}")
        if self.revs_min > 0.0:
            raise ParameterError(f"{where}.revs_min must be <= 0 (astern), got {self.revs_min!r}")
        if self.rudder_max > math.radians(90.0):
            raise ParameterError(f"{where}.rudder_max must be <= pi/2 rad, got {self.rudder_max!r}")
        return self


class ActuatorArrays:
    """(N,) arrays of actuator limits, stacked from :class:`ActuatorLimits`."""

    __slots__ = ("rudder_max", "rudder_rate", "revs_max", "revs_min", "revs_rate")

    def __init__(self, limits: list[ActuatorLimits]) -> None:
        for i, lim in enumerate(limits):
            if not isinstance(lim, ActuatorLimits):
                raise ParameterError(f"limits[{i}] must be an ActuatorLimits, got {type(lim).__name__}")
            lim.validate(f"limits[{i}]")
        for name in self.__slots__:
            setattr(self, name, np.array([getattr(lim, name) for lim in limits], dtype=np.float64))

    def take(self, idx: np.ndarray) -> ActuatorArrays:
        new = object.__new__(ActuatorArrays)
        for name in self.__slots__:
            setattr(new, name, getattr(self, name)[idx])
        return new


def apply_actuators(
    lim: ActuatorArrays, delta: np.ndarray, n: np.ndarray, rudder_cmd: np.ndarray, revs_cmd: np.ndarray, dt: float
) -> tuple[np.ndarray, np.ndarray]:
    """Move rudder and revolutions towards their (clipped) targets at the limited rates.

    Returns the new (delta, n). Both move linearly in time at most ``rate * dt`` per step, so the
    values over the step are the linear ramp between the old and the new value.
    """
    tgt_d = np.clip(rudder_cmd, -lim.rudder_max, lim.rudder_max)
    step_d = lim.rudder_rate * dt
    new_d = delta + np.clip(tgt_d - delta, -step_d, step_d)
    tgt_n = np.clip(revs_cmd, lim.revs_min, lim.revs_max)
    step_n = lim.revs_rate * dt
    new_n = n + np.clip(tgt_n - n, -step_n, step_n)
    return new_d, new_n


# -- numba kernel support ---------------------------------------------------------------------------
# The step kernels of vessels.mmg and vessels.nomoto take the commands as 1-D float64 arrays of length
# N or 1 (a scalar command) and the current as a (N, 2) or (1, 2) float64 array, always C-contiguous,
# so that each kernel has a single compiled signature. The cheap shape checks stay in Python
# (:func:`kernel_inputs`); the NaN / inf scan of commands and current runs inside the kernel, before
# anything is written, and the Python wrapper turns its error code into the same ParameterError as
# :func:`as_command` / :func:`as_current`.

_ZERO_CURRENT = np.zeros((1, 2))  # current=None; never written (a read-only array would be another signature)
ERR_RUDDER, ERR_REVS, ERR_CURRENT = 1, 2, 3


def _kernel_command(cmd, n: int, name: str) -> np.ndarray:
    t = type(cmd)
    if t is float or t is int:
        return np.array((cmd,), dtype=np.float64)
    if t is np.ndarray and cmd.dtype == np.float64 and cmd.shape == (n,) and cmd.flags.c_contiguous:
        return cmd
    a = np.asarray(cmd, dtype=np.float64)
    if a.ndim == 0:
        return np.ascontiguousarray(a.reshape(1))
    if a.shape != (n,):
        raise ParameterError(f"{name} must be a scalar or have shape ({n},), got {a.shape}")
    return np.ascontiguousarray(a)


def _kernel_current(current, n: int) -> np.ndarray:
    if current is None:
        return _ZERO_CURRENT
    if (
        type(current) is np.ndarray
        and current.dtype == np.float64
        and current.shape == (n, 2)
        and current.flags.c_contiguous
    ):
        return current
    cur = np.asarray(current, dtype=np.float64)
    if cur.shape == (2,):
        return np.ascontiguousarray(cur.reshape(1, 2))
    if cur.shape != (n, 2):
        raise ParameterError(f"current must have shape ({n}, 2) (east, north in m/s), got {cur.shape}")
    return np.ascontiguousarray(cur)


def kernel_inputs(nv: int, state: VesselState, rudder_cmd, revs_cmd, current, dt, max_substep: float):
    """Shape / dt checks of a step call; returns (rudder, revs, current, nsub, h) for a step kernel."""
    if state.n_vessels != nv:
        raise ParameterError(f"state has {state.n_vessels} vessels but the batch has {nv}")
    if type(dt) is not float:
        if isinstance(dt, bool) or not isinstance(dt, (int, float)):
            raise ParameterError(f"dt must be a finite number > 0, got {dt!r}")
        dt = float(dt)
    if not (dt > 0.0 and dt != math.inf):
        raise ParameterError(f"dt must be a finite number > 0, got {dt!r}")
    rud = _kernel_command(rudder_cmd, nv, "rudder_cmd")
    rev = _kernel_command(revs_cmd, nv, "revs_cmd")
    cur = _kernel_current(current, nv)
    nsub = max(1, math.ceil(dt / max_substep - 1e-9))
    return rud, rev, cur, nsub, dt / nsub


def raise_kernel_error(code: int) -> None:
    """Raise the ParameterError for a non-zero error code of a step kernel."""
    if code == ERR_RUDDER:
        raise ParameterError("rudder_cmd contains NaN or inf")
    if code == ERR_REVS:
        raise ParameterError("revs_cmd contains NaN or inf")
    raise ParameterError("current contains NaN or inf")


def out_state(state: VesselState, out: VesselState | None) -> VesselState:
    """The target of an in-place step: ``state`` itself (out=None) or ``out`` (same size, float64, contiguous)."""
    if out is None:
        return state
    if type(out) is not VesselState:
        raise ParameterError(f"out must be a VesselState, got {type(out).__name__}")
    if out.n_vessels != state.n_vessels:
        raise ParameterError(f"out has {out.n_vessels} vessels but the state has {state.n_vessels}")
    return out


@numba.njit(cache=True, fastmath=False)
def check_kernel_inputs(rud: np.ndarray, rev: np.ndarray, cur: np.ndarray) -> int:
    """0 if commands and current are finite, else the ERR_* code of the first bad one."""
    for k in range(rud.shape[0]):
        if not math.isfinite(rud[k]):
            return ERR_RUDDER
    for k in range(rev.shape[0]):
        if not math.isfinite(rev[k]):
            return ERR_REVS
    for k in range(cur.shape[0]):
        if not (math.isfinite(cur[k, 0]) and math.isfinite(cur[k, 1])):
            return ERR_CURRENT
    return 0


@numba.njit(cache=True, fastmath=False)
def actuate(value: float, cmd: float, lo: float, hi: float, rate: float, h: float) -> float:
    """One actuator of :func:`apply_actuators`, scalar: move ``value`` towards clip(cmd, lo, hi) by <= rate h."""
    tgt = min(max(cmd, lo), hi)
    step = rate * h
    return value + min(max(tgt - value, -step), step)


class VesselBatch:
    """What MMGBatch and NomotoBatch share: per-vessel constant arrays (names in ``_ARRAYS``), the
    packed (N, K) ``consts`` table the compiled step reads, actuator limits and ``max_substep``."""

    _ARRAYS: tuple[str, ...] = ()
    DEFAULT_SUBSTEP = 0.5

    def _init_common(self, params, limits, max_substep, param_type) -> None:
        """Validate and keep ``params`` (all of ``param_type``), ``limits`` and ``max_substep``."""
        if len(params) != len(limits):
            raise ParameterError(f"{len(params)} parameter sets but {len(limits)} actuator limits")
        if not (isinstance(max_substep, (int, float)) and math.isfinite(max_substep) and max_substep > 0):
            raise ParameterError(f"max_substep must be a finite number > 0, got {max_substep!r}")
        for i, p in enumerate(params):
            if not isinstance(p, param_type):
                raise ParameterError(f"params[{i}] must be a {param_type.__name__}, got {type(p).__name__}")
            p.validate()
        self.params = list(params)
        self.limits = ActuatorArrays(list(limits))
        self.max_substep = float(max_substep)

    @classmethod
    def from_params(cls, params, limits, max_substep: float | None = None):
        """Stack N parameter sets; ``limits`` is one :class:`ActuatorLimits` for all or a list of N."""
        params = list(params)
        if isinstance(limits, ActuatorLimits):
            limits = [limits] * len(params)
        return cls(params, list(limits), cls.DEFAULT_SUBSTEP if max_substep is None else max_substep)

    def block(self) -> np.ndarray | None:
        """The (8, N) array whose rows are the fields in order (a state made by :meth:`zeros`), or None
        when the fields are separate arrays. Compiled steps take the block as one argument."""
        base = self.x.base
        if not isinstance(base, np.ndarray) or base.shape != (len(STATE_FIELDS), self.x.shape[0]):
            return None
        if base.dtype != np.float64 or not base.flags.c_contiguous:
            return None
        for k, f in enumerate(STATE_FIELDS):
            a = getattr(self, f)
            if a.base is not base or a.__array_interface__["data"][0] != base[k].__array_interface__["data"][0]:
                return None
        return base

    @property
    def n_vessels(self) -> int:
        return int(self.consts.shape[0])

    def take(self, idx):
        """A sub-batch of the vessels at integer positions ``idx``."""
        idx = np.atleast_1d(np.asarray(idx, dtype=np.intp))
        new = object.__new__(type(self))
        new.params = [self.params[i] for i in idx]
        new.limits = self.limits.take(idx)
        new.max_substep = self.max_substep
        for name in self._ARRAYS:
            setattr(new, name, getattr(self, name)[idx])
        new.consts = np.ascontiguousarray(self.consts[idx])
        return new
