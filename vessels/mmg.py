r"""Batched MMG 3-DOF manoeuvring model (Yasukawa & Yoshimura 2015).

Reference: H. Yasukawa, Y. Yoshimura (2015), *Introduction of MMG standard method for ship
manoeuvring predictions*, J Mar Sci Technol 20:37-52, doi:10.1007/s00773-014-0293-y.
The force formulas follow the open-source ``shipmmg`` 0.0.11 implementation term by term (it is
used side by side as the validation reference in ``tests/vessels``), with the robustness changes
listed under *Low speed, reverse revs* below.

Equations of motion (midship origin, x_G = longitudinal position of the centre of gravity)::

    (m + m_x) du/dt - (m + m_y) v r - x_G m r^2              = X_H + X_R + X_P
    (m + m_y) dv/dt + (m + m_x) u r + x_G m dr/dt            = Y_H + Y_R
    (I_zG + x_G^2 m + J_z) dr/dt + x_G m (dv/dt + u r)       = N_H + N_R

Hull (U = sqrt(u^2 + v_m^2), v' = v/U, r' = r L/U; shipmmg uses v_m = v - x_G r in U and beta)::

    X_H = 1/2 rho L d U^2 (-R'_0 + X'_vv v'^2 + X'_vr v' r' + X'_rr r'^2 + X'_vvvv v'^4)
    Y_H = 1/2 rho L d U^2 (Y'_v v' + Y'_r r' + Y'_vvv v'^3 + Y'_vvr v'^2 r' + Y'_vrr v' r'^2 + Y'_rrr r'^3)
    N_H = 1/2 rho L^2 d U^2 (N'_v v' + N'_r r' + N'_vvv v'^3 + N'_vvr v'^2 r' + N'_vrr v' r'^2 + N'_rrr r'^3)

Propeller (beta = asin(-v_m/U), beta_P = beta - x'_P r')::

    w_P = w_P0 exp(-4 beta_P^2),  J = (1 - w_P) u / (n D_p),  K_T = k_0 + k_1 J + k_2 J^2
    X_P = (1 - t_P) rho n^2 D_p^4 K_T

Rudder (beta_R = beta - l'_R r', gamma_R = gamma_R_minus if beta_R < 0 else gamma_R_plus)::

    u_R = eps u (1 - w_P) sqrt(eta {1 + kappa (sqrt(1 + 8 K_T/(pi J^2)) - 1)}^2 + (1 - eta))
    v_R = U gamma_R beta_R,  alpha_R = delta - atan2(v_R, u_R),  U_R^2 = u_R^2 + v_R^2
    F_N = 1/2 rho A_R f_alpha U_R^2 sin(alpha_R)
    X_R = -(1 - t_R) F_N sin(delta),  Y_R = -(1 + a_H) F_N cos(delta),
    N_R = -(x_R + a_H x_H) F_N cos(delta)

Signs: positive rudder gives F_N > 0, Y_R < 0 at the stern and N_R > 0, i.e. a turn to
starboard (r > 0, heading increasing clockwise) -- the MMG convention, identical to shipmmg.

Low speed, reverse revs (documented deviations from the textbook formulas, which divide by U, J):

* The products are expanded so that nothing divides by n or J: with u_a = (1 - w_P) u,
  ``n^2 D^2 K_T = k_0 n^2 D^2 + k_1 n D u_a + k_2 u_a^2`` and
  ``u_a^2 (1 + 8 K_T / (pi J^2)) = u_a^2 + 8/pi n^2 D^2 K_T``. For n > 0 and u > 0 this is the
  same formula (to rounding); at u = 0 it gives the correct bollard-pull limit of u_R (shipmmg
  has a dimensionally inconsistent special case there). The inner square root is clamped at 0.
* v', r', beta use U_t = max(U, U_floor) with U_floor = 0.01 sqrt(g L) (a Froude number of
  0.01), so they stay bounded as the ship stops; the forces still scale with the true U^2 and
  vanish at rest. Above U_floor the model is exactly the formula above.
* n <= 0 (engine stopped or astern): the propeller gives astern thrust
  ``X_P = -(1 - t_P) rho D^2 c_astern (k_0 n^2 D^2 + k_1 n D clip(u_a, -|n| D, |n| D))``,
  i.e. the ahead K_T curve mirrored, with the advance ratio clipped to |J| <= 1 and an astern
  efficiency ``c_astern`` (default 0.7, typical of fixed-pitch propellers running astern).
  The rudder then sees no propeller race: u_R = eps u_a (negative when moving astern).
* The ahead K_T polynomial is used unchanged for n > 0 (also when moving astern).

Shallow water (optional, ``MMGParams.water_depth`` = h in metres; None or inf = deep water):
the linear hull derivatives Y'_v, N'_v and N'_r are multiplied by the factors of Kijima et al.
(1990) in the form used by Maimun et al. (2011, Ocean Eng 38, doi:10.1016/j.oceaneng.2011.05.011)
and nikpau/mmgdynamics, with q = d/h and f(n) = (1 - q)^(-n) - q (1 in deep water)::

    f_Yv = f(0.4 C_b B/d),  f_Nv = f(0.425 C_b B/d),  f_Nr = f(1.5 - 7.14 k),  k = 2 d / L

Applying ratios keeps each ship's calibrated deep-water values as the baseline. Added masses
are not corrected: the Clarke-type factors (m'_y x 7 at h/d = 1.3 for a B/d = 3.6 inland hull)
narrow the turning circle through the (m + m_y) v r surge coupling, against the observed widening
in shallow water. With these factors the M8's 35 deg tactical diameter grows from 1.9 L (deep)
to 2.6 L at h/d = 1.3 and 3.9 L at h/d = 1.2. Valid for h/d >= 1.1; ``validate()`` rejects
smaller depths. Non-linear derivatives, wake and thrust deduction are not corrected.

Integration: classical RK4 on (u, v, r, x, y, psi) with a fixed step. Rudder angle and
revolutions are first moved towards their commands at the rate limits (see
:func:`vessels.state.apply_actuators`) and ramp linearly over the step (exact for a rate-limited
actuator). A call with ``dt`` larger than ``batch.max_substep`` is split into equal sub-steps;
``max_substep`` is a property of the batch, not of its vessels, so a vessel gives bit-identical
results alone or in any batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from vessels.errors import ParameterError
from vessels.state import ActuatorArrays, ActuatorLimits, VesselState, apply_actuators, as_command, as_current

G = 9.81

# Parameters that must be > 0, >= 0, or lie in [0, 1).
_POSITIVE = ("L", "B", "d", "m", "I_zG", "D_p", "A_R", "H_R", "rho", "kappa", "epsilon", "f_alpha", "C_b")
_NON_NEGATIVE = ("m_x_dash", "m_y_dash", "J_z_dash", "gamma_R_minus", "gamma_R_plus", "astern_thrust_factor")
_UNIT_INTERVAL = ("t_P", "w_P0", "t_R")


@dataclass(frozen=True)
class MMGParams:
    """One ship's MMG parameter set. Dimensional values in SI units, ``*_dash`` non-dimensional.

    Non-dimensionalisation as in Yasukawa & Yoshimura (2015): masses by 1/2 rho L^2 d, inertia by
    1/2 rho L^4 d, forces by 1/2 rho L d U^2, moments by 1/2 rho L^2 d U^2, v' = v/U, r' = r L/U.
    ``x_P`` and ``x_R`` are dimensional longitudinal positions [m] (negative = aft of midship);
    ``x_H_dash`` and ``l_R_dash`` are fractions of L.
    """

    name: str
    L: float  # length between perpendiculars [m]
    B: float  # breadth [m]
    d: float  # draught [m]
    m: float  # mass [kg]
    x_G: float  # centre of gravity, forward of midship [m]
    I_zG: float  # yaw moment of inertia about G [kg m^2]
    D_p: float  # propeller diameter [m]
    A_R: float  # rudder area [m^2]
    H_R: float  # rudder span [m]
    x_P: float  # propeller position [m]
    x_R: float  # rudder position [m]
    C_b: float
    m_x_dash: float
    m_y_dash: float
    J_z_dash: float
    k_0: float
    k_1: float
    k_2: float
    R_0_dash: float
    X_vv_dash: float
    X_vr_dash: float
    X_rr_dash: float
    X_vvvv_dash: float
    Y_v_dash: float
    Y_r_dash: float
    Y_vvv_dash: float
    Y_vvr_dash: float
    Y_vrr_dash: float
    Y_rrr_dash: float
    N_v_dash: float
    N_r_dash: float
    N_vvv_dash: float
    N_vvr_dash: float
    N_vrr_dash: float
    N_rrr_dash: float
    t_P: float
    w_P0: float
    t_R: float
    a_H: float
    x_H_dash: float
    gamma_R_minus: float
    gamma_R_plus: float
    l_R_dash: float
    kappa: float
    epsilon: float
    f_alpha: float
    rho: float = 1000.0
    water_depth: float | None = None
    astern_thrust_factor: float = 0.7

    # -- derived ------------------------------------------------------------------------------
    @property
    def eta(self) -> float:
        """Propeller diameter / rudder span."""
        return self.D_p / self.H_R

    @property
    def nabla(self) -> float:
        """Displacement volume [m^3]."""
        return self.m / self.rho

    def validate(self) -> MMGParams:
        """Raise :class:`ParameterError` naming the first bad parameter; return self."""
        for f in fields(self):
            if f.name in ("name", "water_depth"):
                continue
            val = getattr(self, f.name)
            if isinstance(val, bool) or not isinstance(val, (int, float)):
                raise ParameterError(f"MMGParams({self.name}).{f.name} must be a number, got {type(val).__name__}")
            if not math.isfinite(val):
                raise ParameterError(f"MMGParams({self.name}).{f.name} is not finite ({val!r})")
        for k in _POSITIVE:
            if getattr(self, k) <= 0.0:
                raise ParameterError(f"MMGParams({self.name}).{k} must be > 0, got {getattr(self, k)!r}")
        for k in _NON_NEGATIVE:
            if getattr(self, k) < 0.0:
                raise ParameterError(f"MMGParams({self.name}).{k} must be >= 0, got {getattr(self, k)!r}")
        for k in _UNIT_INTERVAL:
            if not 0.0 <= getattr(self, k) < 1.0:
                raise ParameterError(f"MMGParams({self.name}).{k} must be in [0, 1), got {getattr(self, k)!r}")
        if self.C_b > 1.0:
            raise ParameterError(f"MMGParams({self.name}).C_b must be <= 1, got {self.C_b!r}")
        if self.k_0 <= 0.0:
            raise ParameterError(f"MMGParams({self.name}).k_0 must be > 0 (bollard thrust), got {self.k_0!r}")
        if self.R_0_dash <= 0.0:
            raise ParameterError(f"MMGParams({self.name}).R_0_dash must be > 0, got {self.R_0_dash!r}")
        if self.Y_v_dash >= 0.0 or self.N_r_dash >= 0.0:
            raise ParameterError(
                f"MMGParams({self.name}): Y_v_dash and N_r_dash must be < 0 (damping), "
                f"got {self.Y_v_dash!r}, {self.N_r_dash!r}"
            )
        if self.x_R >= 0.0 or self.x_P >= 0.0:
            raise ParameterError(f"MMGParams({self.name}): x_R and x_P must be aft of midship (< 0)")
        if abs(self.x_G) > 0.5 * self.L:
            raise ParameterError(f"MMGParams({self.name}).x_G must lie within the ship, got {self.x_G!r}")
        if self.water_depth is not None:
            h = self.water_depth
            if isinstance(h, bool) or not isinstance(h, (int, float)) or math.isnan(h):
                raise ParameterError(f"MMGParams({self.name}).water_depth must be a number or None, got {h!r}")
            if h < 1.1 * self.d:
                raise ParameterError(
                    f"MMGParams({self.name}).water_depth = {h!r} m is below 1.1 x draught ({1.1 * self.d:.3f} m); "
                    "the shallow-water corrections are not valid there"
                )
        return self

    def with_depth(self, water_depth: float | None) -> MMGParams:
        """A copy for another water depth (None = deep water)."""
        return replace(self, water_depth=water_depth).validate()

    def to_dict(self) -> dict:
        return asdict(self)

    # -- shallow water ------------------------------------------------------------------------
    def shallow_water_factors(self) -> dict[str, float]:
        """Multipliers for Y'_v, N'_v, N'_r at ``water_depth`` (1.0 in deep water); see the module doc."""
        keys = ("Y_v_dash", "N_v_dash", "N_r_dash")
        h = self.water_depth
        if h is None or math.isinf(h):
            return dict.fromkeys(keys, 1.0)
        q = self.d / h
        k = 2.0 * self.d / self.L
        cbd = self.C_b * self.B / self.d

        def f(n: float) -> float:
            return (1.0 - q) ** (-n) - q

        return {"Y_v_dash": f(0.4 * cbd), "N_v_dash": f(0.425 * cbd), "N_r_dash": f(1.5 - 7.14 * k)}

    def effective(self) -> MMGParams:
        """The parameter set with the shallow-water factors applied (self in deep water)."""
        f = self.shallow_water_factors()
        if all(v == 1.0 for v in f.values()):
            return self
        return replace(self, **{k: getattr(self, k) * v for k, v in f.items()})

    # -- steady state -------------------------------------------------------------------------
    def self_propulsion_revs(self, speed: float) -> float:
        """Propeller revs [rev/s] that hold ``speed`` [m/s] straight ahead (closed form).

        In steady straight motion beta = r' = 0, w_P = w_P0 and the rudder force is zero, so
        X_P = -X_H gives a quadratic in n: (1 - t_P) rho D^2 (k_0 n^2 D^2 + k_1 n D u_a + k_2 u_a^2)
        = 1/2 rho L d R'_0 U^2 with u_a = (1 - w_P0) U.
        """
        p = self.effective()
        if not math.isfinite(speed) or speed < 0.0:
            raise ParameterError(f"speed must be a finite number >= 0, got {speed!r}")
        ua = (1.0 - p.w_P0) * speed
        D = p.D_p
        resist = 0.5 * p.rho * p.L * p.d * p.R_0_dash * speed**2 / ((1.0 - p.t_P) * p.rho * D * D)
        a = p.k_0 * D * D
        b = p.k_1 * D * ua
        c = p.k_2 * ua * ua - resist
        return (-b + math.sqrt(b * b - 4.0 * a * c)) / (2.0 * a)

    def steady_speed(self, revs: float) -> float:
        """Straight-ahead steady speed [m/s] at ``revs`` > 0 (inverse of self_propulsion_revs)."""
        if revs <= 0.0:
            return 0.0
        lo, hi = 0.0, 1.0
        while self.self_propulsion_revs(hi) < revs:
            hi *= 2.0
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if self.self_propulsion_revs(mid) < revs:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)


# Per-vessel constant arrays of the batch, computed once in MMGBatch.__init__.
_BATCH_ARRAYS = (
    "L", "xG", "u_floor", "cX", "cN", "R0", "Xvv", "Xvr", "Xrr", "Xvvvv",
    "Yv", "Yr", "Yvvv", "Yvvr", "Yvrr", "Yrrr", "Nv", "Nr", "Nvvv", "Nvvr", "Nvrr", "Nrrr",
    "wP0", "xP", "D", "k0", "k1", "k2", "cT", "cTa", "kappa", "one_m_kappa", "eps", "eta", "one_m_eta",
    "lR", "gm", "gp", "cF", "cXR", "cYR", "cNR",
    "inv_mmx", "mmy", "xGm", "Izz", "inv_det", "inv_Izz", "mmx", "xGm2", "neg_xGm", "gdiff",
)  # fmt: skip


class MMGBatch:
    """Structure-of-arrays form of N (possibly different) MMG parameter sets plus actuator limits.

    Build with :meth:`from_params`. ``params`` keeps the original :class:`MMGParams` objects;
    the shallow-water factors are applied here, once.
    """

    def __init__(self, params: list[MMGParams], limits: list[ActuatorLimits], max_substep: float = 0.5) -> None:
        if len(params) != len(limits):
            raise ParameterError(f"{len(params)} parameter sets but {len(limits)} actuator limits")
        if not (isinstance(max_substep, (int, float)) and math.isfinite(max_substep) and max_substep > 0):
            raise ParameterError(f"max_substep must be a finite number > 0, got {max_substep!r}")
        for i, p in enumerate(params):
            if not isinstance(p, MMGParams):
                raise ParameterError(f"params[{i}] must be an MMGParams, got {type(p).__name__}")
            p.validate()
        self.params = list(params)
        self.limits = ActuatorArrays(list(limits))
        self.max_substep = float(max_substep)
        eff = [p.effective() for p in params]

        def arr(fn) -> np.ndarray:
            return np.array([fn(p) for p in eff], dtype=np.float64)

        self.L = arr(lambda p: p.L)
        self.xG = arr(lambda p: p.x_G)
        self.u_floor = arr(lambda p: 0.01 * math.sqrt(G * p.L))
        self.cX = arr(lambda p: 0.5 * p.rho * p.L * p.d)
        self.cN = arr(lambda p: 0.5 * p.rho * p.L**2 * p.d)
        for attr, key in (
            ("R0", "R_0_dash"), ("Xvv", "X_vv_dash"), ("Xvr", "X_vr_dash"), ("Xrr", "X_rr_dash"),
            ("Xvvvv", "X_vvvv_dash"), ("Yv", "Y_v_dash"), ("Yr", "Y_r_dash"), ("Yvvv", "Y_vvv_dash"),
            ("Yvvr", "Y_vvr_dash"), ("Yvrr", "Y_vrr_dash"), ("Yrrr", "Y_rrr_dash"), ("Nv", "N_v_dash"),
            ("Nr", "N_r_dash"), ("Nvvv", "N_vvv_dash"), ("Nvvr", "N_vvr_dash"), ("Nvrr", "N_vrr_dash"),
            ("Nrrr", "N_rrr_dash"), ("wP0", "w_P0"), ("D", "D_p"), ("k0", "k_0"), ("k1", "k_1"),
            ("k2", "k_2"), ("kappa", "kappa"), ("eps", "epsilon"), ("gm", "gamma_R_minus"),
            ("gp", "gamma_R_plus"), ("lR", "l_R_dash"),
        ):  # fmt: skip
            setattr(self, attr, arr(lambda p, key=key: getattr(p, key)))
        self.xP = arr(lambda p: p.x_P / p.L)
        self.cT = arr(lambda p: (1.0 - p.t_P) * p.rho * p.D_p**2)
        self.cTa = arr(lambda p: (1.0 - p.t_P) * p.rho * p.D_p**2 * p.astern_thrust_factor)
        self.one_m_kappa = 1.0 - self.kappa
        self.eta = arr(lambda p: p.eta)
        self.one_m_eta = 1.0 - self.eta
        self.cF = arr(lambda p: 0.5 * p.rho * p.A_R * p.f_alpha)
        self.cXR = arr(lambda p: -(1.0 - p.t_R))
        self.cYR = arr(lambda p: -(1.0 + p.a_H))
        self.cNR = arr(lambda p: -(p.x_R + p.a_H * p.x_H_dash * p.L))
        m = arr(lambda p: p.m)
        mx = arr(lambda p: p.m_x_dash * 0.5 * p.rho * p.L**2 * p.d)
        my = arr(lambda p: p.m_y_dash * 0.5 * p.rho * p.L**2 * p.d)
        jz = arr(lambda p: p.J_z_dash * 0.5 * p.rho * p.L**4 * p.d)
        izg = arr(lambda p: p.I_zG)
        self.mmx = m + mx
        self.inv_mmx = 1.0 / self.mmx
        self.mmy = m + my
        self.xGm = self.xG * m
        self.Izz = izg + jz + self.xG**2 * m
        self.inv_det = 1.0 / (self.Izz * self.mmy - self.xGm**2)
        self.inv_Izz = 1.0 / self.Izz
        self.xGm2 = self.xGm * self.xGm
        self.neg_xGm = -self.xGm
        self.gdiff = self.gm - self.gp
        self._work_cache: _Work | None = None

    def _work(self) -> _Work:
        w = self._work_cache
        if w is None or w.tmp.shape[0] != self.n_vessels:
            w = self._work_cache = _Work(self.n_vessels)
        return w

    @classmethod
    def from_params(
        cls, params: list[MMGParams], limits: ActuatorLimits | list[ActuatorLimits], max_substep: float = 0.5
    ) -> MMGBatch:
        """Stack N parameter sets; ``limits`` is one :class:`ActuatorLimits` for all or a list of N."""
        params = list(params)
        if isinstance(limits, ActuatorLimits):
            limits = [limits] * len(params)
        return cls(params, list(limits), max_substep)

    @property
    def n_vessels(self) -> int:
        return int(self.L.shape[0])

    def take(self, idx) -> MMGBatch:
        """A sub-batch of the vessels at integer positions ``idx``."""
        idx = np.atleast_1d(np.asarray(idx, dtype=np.intp))
        new = object.__new__(MMGBatch)
        new.params = [self.params[i] for i in idx]
        new.limits = self.limits.take(idx)
        new.max_substep = self.max_substep
        for name in _BATCH_ARRAYS:
            setattr(new, name, getattr(self, name)[idx])
        new._work_cache = None
        return new


class _Work:
    """Scratch arrays of one batch (the step is not re-entrant across threads for one batch)."""

    NAMES = (
        "vm", "U2", "U", "inv", "vd", "rd", "beta", "t", "ua", "nD", "Tn", "XP", "race", "P", "uR", "bR", "vR",
        "UR", "FN", "FNc", "vd2", "rd2", "X", "Y", "N", "tmp", "tmp2", "ur",
    )  # fmt: skip

    def __init__(self, n: int) -> None:
        for name in self.NAMES:
            setattr(self, name, np.empty(n))
        self.mask = np.empty(n, dtype=bool)


def accelerations(
    b: MMGBatch,
    u: np.ndarray,
    v: np.ndarray,
    r: np.ndarray,
    sin_d: np.ndarray,
    cos_d: np.ndarray,
    n: np.ndarray,
    astern: np.ndarray | None = None,
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """du/dt, dv/dt, dr/dt of the MMG model for water-relative (u, v, r), rudder and revs.

    ``sin_d``, ``cos_d`` are sin and cos of the rudder angle. ``astern`` is the boolean mask
    n <= 0, or None when every n > 0 (fast path, same values). ``out`` receives the result.
    Written with in-place ufuncs on per-batch scratch arrays to keep allocations out of the loop.
    """
    w = b._work()
    if out is None:
        out = (np.empty_like(u), np.empty_like(u), np.empty_like(u))
    du, dv, dr = out
    mul, add, sub = np.multiply, np.add, np.subtract
    tmp, tmp2 = w.tmp, w.tmp2
    # kinematic non-dimensional quantities (shipmmg: U and beta from v_m = v - x_G r)
    vm = sub(v, mul(r, b.xG, out=tmp), out=w.vm)
    U2 = add(mul(u, u, out=w.U2), mul(vm, vm, out=tmp), out=w.U2)
    U = np.sqrt(U2, out=w.U)
    inv = np.divide(1.0, np.maximum(U, b.u_floor, out=w.inv), out=w.inv)
    vd = mul(v, inv, out=w.vd)
    rd = mul(mul(r, b.L, out=w.rd), inv, out=w.rd)
    beta = np.arcsin(np.negative(mul(vm, inv, out=w.beta), out=w.beta), out=w.beta)
    # propeller: w_P = w_P0 exp(-4 (beta - x'_P r')^2), u_a = (1 - w_P) u
    t = sub(beta, mul(b.xP, rd, out=tmp), out=w.t)
    mul(t, t, out=t)
    mul(t, -4.0, out=t)
    np.exp(t, out=t)
    ua = mul(np.subtract(1.0, mul(b.wP0, t, out=w.ua), out=w.ua), u, out=w.ua)
    nD = mul(n, b.D, out=w.nD)
    # Tn = n^2 D^2 K_T = k0 (nD)^2 + k1 nD ua + k2 ua^2
    Tn = mul(b.k2, ua, out=w.Tn)
    add(Tn, mul(b.k1, nD, out=tmp), out=Tn)
    mul(Tn, ua, out=Tn)
    add(Tn, mul(mul(b.k0, nD, out=tmp), nD, out=tmp), out=Tn)
    race = np.maximum(Tn, 0.0, out=w.race)
    XP = mul(b.cT, Tn, out=w.XP)
    if astern is not None:
        lim = np.abs(nD, out=tmp2)
        Ta = mul(mul(b.k1, nD, out=tmp), np.clip(ua, -lim, lim), out=tmp)
        add(Ta, mul(mul(b.k0, nD, out=tmp2), nD, out=tmp2), out=Ta)
        mul(Ta, b.cTa, out=Ta)
        np.negative(Ta, out=Ta)
        np.copyto(XP, Ta, where=astern)
        race[astern] = 0.0
    # rudder inflow: u_R = eps sqrt(eta P^2 + (1 - eta) u_a^2), P = (1-kappa)|u_a| + kappa sqrt(u_a^2 + 8/pi Tn)
    mul(race, 8.0 / math.pi, out=race)
    add(race, mul(ua, ua, out=tmp), out=race)
    P = np.sqrt(race, out=w.P)
    mul(P, b.kappa, out=P)
    add(P, mul(b.one_m_kappa, np.abs(ua, out=tmp), out=tmp), out=P)
    mul(P, P, out=P)
    mul(P, b.eta, out=P)
    add(P, mul(mul(b.one_m_eta, ua, out=tmp), ua, out=tmp), out=P)
    uR = mul(np.sqrt(P, out=w.uR), b.eps, out=w.uR)
    if astern is not None:
        np.copyto(uR, mul(b.eps, ua, out=tmp), where=astern)
    # v_R = U gamma_R beta_R, gamma_R = gamma_minus if beta_R < 0 else gamma_plus
    bR = sub(beta, mul(b.lR, rd, out=tmp), out=w.bR)
    vR = mul(b.gdiff, np.less(bR, 0.0, out=w.mask), out=w.vR)
    add(vR, b.gp, out=vR)
    mul(vR, U, out=vR)
    mul(vR, bR, out=vR)
    UR = np.sqrt(add(mul(uR, uR, out=w.UR), mul(vR, vR, out=tmp), out=w.UR), out=w.UR)
    # F_N = cF U_R^2 sin(delta - atan2(v_R, u_R)) = cF U_R (u_R sin(delta) - v_R cos(delta))
    FN = sub(mul(uR, sin_d, out=w.FN), mul(vR, cos_d, out=tmp), out=w.FN)
    mul(FN, UR, out=FN)
    mul(FN, b.cF, out=FN)
    FNc = mul(FN, cos_d, out=w.FNc)
    # hull
    vd2 = mul(vd, vd, out=w.vd2)
    rd2 = mul(rd, rd, out=w.rd2)
    X = mul(b.Xvv, vd2, out=w.X)
    add(X, mul(mul(b.Xvr, vd, out=tmp), rd, out=tmp), out=X)
    add(X, mul(b.Xrr, rd2, out=tmp), out=X)
    add(X, mul(mul(b.Xvvvv, vd2, out=tmp), vd2, out=tmp), out=X)
    sub(X, b.R0, out=X)
    mul(X, U2, out=X)
    mul(X, b.cX, out=X)
    add(X, XP, out=X)
    add(X, mul(mul(b.cXR, FN, out=tmp), sin_d, out=tmp), out=X)
    Y = add(b.Yv, mul(b.Yvvv, vd2, out=w.Y), out=w.Y)
    add(Y, mul(b.Yvrr, rd2, out=tmp), out=Y)
    mul(Y, vd, out=Y)
    t2 = add(b.Yr, mul(b.Yrrr, rd2, out=tmp2), out=tmp2)
    add(t2, mul(b.Yvvr, vd2, out=tmp), out=t2)
    mul(t2, rd, out=t2)
    add(Y, t2, out=Y)
    mul(Y, U2, out=Y)
    mul(Y, b.cX, out=Y)
    add(Y, mul(b.cYR, FNc, out=tmp), out=Y)
    N = add(b.Nv, mul(b.Nvvv, vd2, out=w.N), out=w.N)
    add(N, mul(b.Nvrr, rd2, out=tmp), out=N)
    mul(N, vd, out=N)
    t2 = add(b.Nr, mul(b.Nrrr, rd2, out=tmp2), out=tmp2)
    add(t2, mul(b.Nvvr, vd2, out=tmp), out=t2)
    mul(t2, rd, out=t2)
    add(N, t2, out=N)
    mul(N, U2, out=N)
    mul(N, b.cN, out=N)
    add(N, mul(b.cNR, FNc, out=tmp), out=N)
    # equations of motion, solved for the accelerations as in shipmmg
    ur = mul(u, r, out=w.ur)
    mul(mul(b.mmy, v, out=du), r, out=du)
    add(du, mul(mul(b.xGm, r, out=tmp), r, out=tmp), out=du)
    add(du, X, out=du)
    mul(du, b.inv_mmx, out=du)
    sub(Y, mul(b.mmx, ur, out=tmp), out=dv)
    mul(dv, b.Izz, out=dv)
    sub(dv, mul(N, b.xGm, out=tmp), out=dv)
    add(dv, mul(b.xGm2, ur, out=tmp), out=dv)
    mul(dv, b.inv_det, out=dv)
    add(dv, ur, out=dr)
    mul(dr, b.neg_xGm, out=dr)
    add(dr, N, out=dr)
    mul(dr, b.inv_Izz, out=dr)
    return du, dv, dr


def _check_dt(dt: float) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0.0:
        raise ParameterError(f"dt must be a finite number > 0, got {dt!r}")
    return float(dt)


def step(
    batch: MMGBatch,
    state: VesselState,
    rudder_cmd,
    revs_cmd,
    current: np.ndarray | None,
    dt: float,
) -> VesselState:
    """Advance N vessels by ``dt`` seconds; returns a new :class:`VesselState`.

    ``rudder_cmd`` [rad] and ``revs_cmd`` [rev/s] are scalars or (N,) arrays, held for the step;
    ``current`` is (N, 2) east/north [m/s] or None. The input state is not modified.
    """
    nv = batch.n_vessels
    if state.n_vessels != nv:
        raise ParameterError(f"state has {state.n_vessels} vessels but the batch has {nv}")
    dt = _check_dt(dt)
    rudder_cmd = as_command(rudder_cmd, nv, "rudder_cmd")
    revs_cmd = as_command(revs_cmd, nv, "revs_cmd")
    cur = as_current(current, nv)
    nsub = max(1, math.ceil(dt / batch.max_substep - 1e-9))
    h = dt / nsub
    s = state
    for _ in range(nsub):
        s = _rk4(batch, s, rudder_cmd, revs_cmd, cur, h)
    return s


def _rk4(b: MMGBatch, s: VesselState, rudder_cmd, revs_cmd, cur, h: float) -> VesselState:
    d1, n1 = apply_actuators(b.limits, s.delta, s.n, rudder_cmd, revs_cmd, h)
    dm = 0.5 * (s.delta + d1)
    nm = 0.5 * (s.n + n1)
    sd0, cd0 = np.sin(s.delta), np.cos(s.delta)
    sdm, cdm = np.sin(dm), np.cos(dm)
    sd1, cd1 = np.sin(d1), np.cos(d1)
    ast0 = s.n <= 0.0
    astm = nm <= 0.0
    ast1 = n1 <= 0.0
    ast0 = ast0 if ast0.any() else None
    astm = astm if astm.any() else None
    ast1 = ast1 if ast1.any() else None
    ce, cn = cur[:, 0], cur[:, 1]
    u0, v0, r0, p0 = s.u, s.v, s.r, s.psi
    hh = 0.5 * h

    def kin(u, v, psi):
        sp, cp = np.sin(psi), np.cos(psi)
        dx = u * sp
        dx += v * cp
        dx += ce
        dy = u * cp
        dy -= v * sp
        dy += cn
        return dx, dy

    a1u, a1v, a1r = accelerations(b, u0, v0, r0, sd0, cd0, s.n, ast0)
    k1x, k1y = kin(u0, v0, p0)
    u2, v2, r2 = u0 + hh * a1u, v0 + hh * a1v, r0 + hh * a1r
    p2 = p0 + hh * r0
    a2u, a2v, a2r = accelerations(b, u2, v2, r2, sdm, cdm, nm, astm)
    k2x, k2y = kin(u2, v2, p2)
    u3, v3, r3 = u0 + hh * a2u, v0 + hh * a2v, r0 + hh * a2r
    p3 = p0 + hh * r2
    a3u, a3v, a3r = accelerations(b, u3, v3, r3, sdm, cdm, nm, astm)
    k3x, k3y = kin(u3, v3, p3)
    u4, v4, r4 = u0 + h * a3u, v0 + h * a3v, r0 + h * a3r
    p4 = p0 + h * r3
    a4u, a4v, a4r = accelerations(b, u4, v4, r4, sd1, cd1, n1, ast1)
    k4x, k4y = kin(u4, v4, p4)
    h6 = h / 6.0

    def comb(y0, k1, k2, k3, k4):
        acc = k2 + k3
        acc *= 2.0
        acc += k1
        acc += k4
        acc *= h6
        acc += y0
        return acc

    return VesselState(
        x=comb(s.x, k1x, k2x, k3x, k4x),
        y=comb(s.y, k1y, k2y, k3y, k4y),
        psi=comb(p0, r0, r2, r3, r4),
        u=comb(u0, a1u, a2u, a3u, a4u),
        v=comb(v0, a1v, a2v, a3v, a4v),
        r=comb(r0, a1r, a2r, a3r, a4r),
        delta=d1,
        n=n1,
    )
