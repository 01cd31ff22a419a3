"""A classical autopilot: the baseline that trained agents and hackathon teams must beat.

It reads only the flat observation vector (layout: :mod:`testbed.observation`) and is vectorised over
N environments with numpy. Per env it keeps a small state (integrators, the berth-frame axis, the quay
side, the remembered canal line, the turn latch), which :meth:`Autopilot.reset` clears.

Control laws (angles in rad, speeds in m/s, ``dt`` the control step):

- **Guidance** (line of sight): the env's line-of-sight point on the route (obs 9-10, ~2 ship lengths
  ahead) gives the desired course over ground ``chi = los_err``; a proportional cross-track correction
  ``-atan(k_ct * cross)`` is added when the route is far off the LOS line (only the part that the
  LOS bearing does not already contain). The drift angle ``beta = atan2(v + c_stb, u + c_fwd)`` (sway
  obs 1 and the current in the body frame, obs 17-18) is subtracted so that the *course over ground*
  points at the LOS point: this cancels the current's set directly, and a slow integral of the
  cross-track error removes what is left.
- **Final approach**: within ``approach_m`` of the goal the aim blends from the goal bearing (obs 12-13)
  to the goal heading (obs 14-15) as the ship closes in, so that it arrives aligned with the quay.
- **Heading control** (cascade): desired yaw rate ``r_d = clip(e / t_heading + r_ff, +-r_lim)`` with
  ``r_lim = clip(u / r_turn_m, 0.01, r_max)`` (no more than the ship can turn), rudder ``= k_r (r_d - r) + k_i * integral(e)`` (the rate term gives the damping
  from the yaw-rate obs 2; the integral only for ``|e| < 0.15`` and not in the harbour basins),
  clipped to [-1, 1].
- **Speed** (PI with a feed-forward of the engine map): the desired speed through the water is the
  minimum of the cruise speed, a braking profile ``sqrt(v_end^2 + 2 a d)`` on the route remaining
  (obs 16) or, near the end, on the distance to the goal projected on the bow (obs 11-13; negative
  past the goal, so the ship backs up), a turn profile that slows for large heading errors and for a
  bend ahead (the angle between the route direction, obs 7-8, and the LOS bearing), and the give-way
  limit below. The engine may go astern to stop.
- **Basin entry and berthing** (goals with a quay heading, i.e. obs 14-15 not exactly (0, 1); within
  ``basin_range_m`` of the berth). Everything runs in the *berth frame*: origin the berth (obs 11-13),
  ``Y`` along the quay axis towards the berth (obs 14-15; the 180 deg ambiguity is resolved by "berth
  ahead" before the turn and tracked with the yaw rate after it), ``X`` to starboard of that axis.
  The quay wall's side is read from the range rays: hits ahead in the basin ~10 m beyond the berth
  line (the quay) or 65-130 m the other way (the far wall) vote for a side; until it is known the
  basin's middle is assumed beyond the berth line. The line aimed at is ``X_t`` = ``entry_off_m`` off
  the berth towards the basin's middle while entering, ``berth_off_m`` from ``berth_line_m`` before
  the berth on.

  * *Approach*: the canal is followed along the last route segment that crosses the quay axis
    (remembered, so the route's corner cut into the basin is ignored), with a cross-track dead band,
    at most ``v_canal`` and slowing to ``v_turn`` at the turn.
  * *Turn* (latched): it starts when the lateral distance to the line, ``|X - X_t|``, is what a turn of
    ``turn_radius`` from the present heading needs, ``R (1 - cos angle)``, plus ``u * turn_lead_s``;
    then the course relative to the axis is ``-sign(ex) min(acos(1 - |ex| / arc_radius),
    atan(|ex| / LOS))`` with a yaw-rate feed-forward ``u / ff_radius``: in effect hard rudder with
    the engine kicked ahead (the kick floor ``kick * (|rudder| - kick_from_harbour)``; the rudder
    works only in the propeller race) until the ship lies along the basin.
  * *Basin*: LOS onto the line (``basin_los_m``) with the course correction capped at
    ``basin_max_angle``, shrinking to ~0 at the berth (the stern swings out; astern the rudder is
    dead), speed ``min(v_basin, sqrt(v_berth^2 + 2 decel_basin d))`` on the distance ``d`` to the
    berth along the axis, backing slowly when past it.
- **Turning round in a current** (the route bends by more than ``turning_bend`` between its direction
  and the LOS bearing while the current runs faster than ``turning_current``, e.g. the RheinSchPV § 9.07
  Nr. 5 loop of ``goal.turn_before_entry`` routes): the course follows the route's own segment more
  (``los_blend_turning``: the env's LOS point two ship lengths ahead cuts across a 100 m loop), the
  give-way's course alteration does not interrupt the turn and its speed cap stops at the steerage floor,
  with the engine kick kept. Everywhere, slowing for a bend stops at the current's speed +
  ``v_min_current`` (at 0.8 m/s through the water the 1.3 m/s Rhine current set the ship onto the bank).
- **Give-way** (CPA / TCPA, target block obs 19+K onwards): a target with ``CPA < cpa_m`` and
  ``0 < TCPA < tcpa_s`` is a risk ``(1 - CPA / cpa_m)``; a meeting vessel (head-on sector) or one
  crossing from starboard makes the ship alter course to starboard (inland rule: port to port), a
  vessel ahead in the lane (same direction, slower) or any close risk makes it slow down; a vessel
  very close ahead caps the speed at the target's speed along our heading. With the current from astern
  (``c_fwd > turning_current``) giving way never slows the ship below the steerage floor (the current's
  speed + ``v_min_current`` through the water) and keeps the engine kick: slower, the current carries the
  ship on faster than it can turn (on PortEntry-v0 the starboard alteration for an upbound vessel, engine
  at 15 %, put it onto the bank at the Hafenmund entrance in 31 of 100 downstream starts).
- **Harbour mouths** (RheinSchPV § 6.20, reduced speed in front of harbour mouths): in the river (water
  wider than ``mouth_wide_m``) the bank line on each side lies at the beam rays' lateral distance; a ray
  that runs more than ``mouth_excess_m`` beyond that line, where it crosses it up to ``mouth_ahead_m``
  ahead, while a ray nearer the bow meets the bank again (so not the inner side of a bend), looks into an
  opening in the bank. The speed through the water is then held at ``v_mouth`` (under the checker's
  11 km/h) until the opening is ``mouth_hold_m`` astern or the ship is inside the harbour (narrower water,
  where the harbour speeds apply), but never below ``mouth_min_sog`` over ground against the current (at
  high discharge the ship would otherwise stall in front of the mouth). Openings too narrow for a ray to look into from ahead (a side canal a
  few tens of metres wide) are not seen: the autopilot has no chart, only the observation.
  Downstream in the river (the current from astern above ``turning_current``) the speed through the water
  is held at ``v_mouth`` everywhere, so that mouths the rays cannot see from ahead (the Ruhr's, behind a
  bend of the bank) are passed under the limit too; the current keeps the speed over ground up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_EGO = 19
TARGET_FEATURES = 9
N_LINK = 4  # the link block at the end of the observation (testbed.observation.N_LINK)
# steady-state engine command -> speed through the water of the M8 (measured on the flat channel)
_FF_SPEED = np.array([-0.6, 0.0, 1.46, 2.52, 3.97, 5.0])
_FF_ENGINE = np.array([-0.6, 0.0, 0.2, 0.5, 0.8, 1.0])


@dataclass(frozen=True)
class AutopilotConfig:
    """Gains and limits of the :class:`Autopilot` (SI units, angles in rad)."""

    dt: float = 1.0  # control step [s]
    # guidance
    lookahead_m: float = 120.0  # own LOS distance on the current route segment
    los_blend: float = 1.0  # weight of the env's LOS bearing (obs 9-10; anticipates bends) ...
    los_blend_narrow: float = 0.45  # ... in narrow water (less corner cutting at junctions)
    k_cross_i: float = 2e-5  # integral of the cross-track error [rad / (m s)]
    cross_i_max: float = 0.15  # integral clamp [rad]
    max_drift: float = 0.5  # clamp of the drift-angle compensation [rad]
    approach_m: float = 120.0  # final approach: blend goal bearing -> goal heading below this distance
    align_m: float = 45.0  # ... fully the goal heading at this distance
    # heading control
    t_heading: float = 12.0  # heading error -> desired yaw rate time constant [s]
    r_max: float = 0.05  # desired yaw-rate limit [rad/s] ...
    r_turn_m: float = 35.0  # ... and speed / this radius
    k_rate: float = 40.0  # rudder per rad/s of yaw-rate error
    k_heading_i: float = 0.002  # rudder per rad s of heading error
    heading_i_max: float = 0.2
    # speed
    cruise: float = 4.0  # cruise speed through the water [m/s]
    cruise_narrow: float = 1.8  # ... where the water is narrower than narrow_m (harbour)
    narrow_m: float = 130.0
    ray_range_m: float = 1000.0  # the env's observation.ray_range_m
    ray_fov_deg: float = 360.0  # the env's observation.ray_fov_deg
    v_end: float = 0.25  # speed aimed for at the goal ...
    v_end_transit: float = 2.0  # ... at a goal without a quay heading (obs 14-15 exactly (0, 1)): a waypoint
    decel: float = 0.012  # braking profile [m/s^2]
    v_min: float = 0.8  # lowest speed on the way (keeps rudder authority) outside the final approach ...
    v_min_current: float = 1.0  # ... and in a current, at least this much more than the current's speed
    turning_bend: float = 0.6  # route bend ahead (LOS bearing vs route direction) [rad] that makes a turn ...
    turning_current: float = 0.5  # ... in a current above this [m/s]: no give-way alteration, steerage kept
    los_blend_turning: float = 0.6  # ... and this weight of the env's LOS bearing
    turn_slow: float = 4.0  # speed reduction per rad of heading error / bend ahead
    astern_m: float = 250.0  # astern allowed only this close to the goal ...
    engine_min_steer: float = 0.15  # ... elsewhere the engine stays at least this ahead (rudder wash)
    kick: float = 1.6  # engine floor per rudder beyond kick_from (a kick ahead to turn) ...
    kick_from: float = 0.3  # ... outside the final approach
    k_speed: float = 0.6  # engine per m/s of speed error
    k_speed_i: float = 0.01  # engine per m/s s
    speed_i_max: float = 0.3
    # give-way
    cpa_m: float = 60.0  # risk when the CPA is below this ...
    tcpa_s: float = 360.0  # ... within this time
    avoid_turn: float = 0.35  # course alteration to starboard at full risk [rad]
    avoid_slow: float = 0.6  # fraction of the desired speed removed at full risk
    follow_gap_m: float = 300.0  # vessel ahead in the lane closer than this: match its speed
    wide_m: float = 250.0  # water wider than this (beam rays): overtake slow vessels ahead, cruise_wide
    overtake_margin: float = 0.8  # a vessel ahead this much slower over ground than our cruise is overtaken
    overtake_range_m: float = 700.0  # ... once it is this close
    overtake_max: float = 0.35  # largest course alteration to pass it [rad]
    target_range_m: float = 2000.0  # the env's observation.target_range_m (scale of obs rel pos)
    # basin entry and berthing (goals with a quay heading)
    basin_range_m: float = 900.0  # the berth frame takes over when the goal is this close ...
    turn_radius: float = 100.0  # design radius of the turn onto the berth line [m]
    turn_lead_s: float = 25.0  # the turn starts this early (yaw-rate build-up) [s]
    arc_radius: float = 70.0  # radius of the arc onto the line once the turn has begun (tighter: full rudder)
    ff_radius: float = 70.0  # yaw-rate feed-forward in the turn: speed / this radius
    side_ahead_m: float = 80.0  # quay side from ray hits this far ahead along the axis ...
    side_votes: int = 3  # ... once this many more hits place the wall on one side than on the other (2 until issue
    # 13: with the turning changes the first hits in basins A and C fell on the wrong side 6 times in 100)
    entry_off_m: float = 38.0  # line aimed at while entering: this far off the berth, to the basin's middle
    berth_off_m: float = 12.0  # line aimed at alongside: this far off the berth point ...
    berth_line_m: float = 200.0  # ... from this far before the berth (along the quay)
    entry_los_m: float = 60.0  # LOS distance near the berth line while turning ...
    basin_los_m: float = 150.0  # ... and once along it
    basin_max_angle: float = 0.3  # largest course correction once along the line [rad]
    kick_from_harbour: float = 0.1  # kick_from on the way to the berth
    v_turn: float = 1.6  # speed through the water when the turn starts
    canal_band_m: float = 15.0  # cross-track dead band on the way to the turn
    v_canal: float = 1.8  # speed limit on the way to the turn (harbour limit 2.5 m/s)
    v_basin: float = 1.2  # speed in the basin before braking
    decel_basin: float = 0.004  # braking profile in the basin [m/s^2]
    v_berth: float = 0.25  # speed aimed for abeam the berth
    # inland rules (RheinSchPV) the observation lets the autopilot see
    v_mouth: float = 3.0  # § 6.20: speed through the water near a harbour mouth (checker limit 11 km/h = 3.06 m/s)
    mouth_excess_m: float = 50.0  # a ray this much beyond the bank line on its side: an opening in the bank
    mouth_ahead_m: float = 450.0  # openings whose bank crossing lies this far ahead (along the bow) ...
    mouth_behind_m: float = 60.0  # ... to this far behind are near
    mouth_hold_m: float = 230.0  # the speed stays reduced until the opening is this far astern
    mouth_bank_m: float = 400.0  # banks farther than this abeam are not looked at (open water)
    mouth_min_sog: float = 1.6  # ... but at least this over ground against the current [m/s]
    mouth_wide_m: float = 200.0  # ... only where the water is wider than this (the river)
    mouth_resume_m: float = 40.0  # ... and a ray nearer the bow meets the bank within this of the line


def _ang(s, c):
    return np.arctan2(s, c)


class Autopilot:
    """LOS guidance + PID heading/speed control + CPA give-way, from the observation only."""

    def __init__(self, config: AutopilotConfig | None = None, n_rays: int = 32, n_targets: int = 8) -> None:
        self.cfg = config or AutopilotConfig()
        self.n_rays = int(n_rays)
        self.n_targets = int(n_targets)
        self.obs_dim = N_EGO + self.n_rays + TARGET_FEATURES * self.n_targets + N_LINK
        self._n = 0
        self._alloc(0)
        fov = self.cfg.ray_fov_deg
        if fov >= 360.0:
            self._angles = np.linspace(-np.pi, np.pi, self.n_rays, endpoint=False)
        else:
            half = np.radians(fov) / 2
            self._angles = np.linspace(-half, half, self.n_rays) if self.n_rays > 1 else np.zeros(1)
        # for each ray, the (up to 3) rays next to it towards the bow on the same side (-1: none)
        fwd = np.full((self.n_rays, 3), -1, dtype=np.int64)
        for k, a in enumerate(self._angles):
            cand = [j for j in np.argsort(-np.abs(self._angles)) if np.sign(self._angles[j]) == np.sign(a)
                    and abs(self._angles[j]) < abs(a) and abs(np.sin(self._angles[j])) > 0.25]
            cand = sorted(cand, key=lambda j: abs(a) - abs(self._angles[j]))[:3]
            fwd[k, :len(cand)] = cand
        self._fwd = fwd

    # -- state ------------------------------------------------------------------------------------
    def _alloc(self, n: int) -> None:
        self._n = n
        self.cross_i = np.zeros(n)
        self.heading_i = np.zeros(n)
        self.speed_i = np.zeros(n)
        self.quay = np.zeros(n, dtype=bool)  # the goal has a quay heading (a berth)
        self.theta = np.full(n, np.nan)  # berth-frame axis (towards the berth) relative to the heading
        self.side = np.zeros(n)  # the berth's quay wall: +1 to starboard of the axis, -1 to port, 0 unknown
        self.basin = np.zeros(n, dtype=bool)  # latched: the turn onto the berth line has begun
        self.canal_a = np.full(n, np.nan)  # the canal before the turn (route direction rel. the axis) ...
        self.canal_k = np.zeros(n)  # ... and its offset in the berth frame
        self.mouth_m = np.zeros(n)  # distance still to run at reduced speed past a harbour mouth (§ 6.20)

    def reset(self, mask=None) -> None:
        """Clear the internal state of the envs in ``mask`` (bool (N,) or indices; None: all)."""
        if mask is None:
            self._alloc(self._n)
            return
        for a in (self.cross_i, self.heading_i, self.speed_i, self.side, self.canal_k, self.mouth_m):
            a[mask] = 0.0
        self.canal_a[mask] = np.nan
        self.quay[mask] = False
        self.basin[mask] = False
        self.theta[mask] = np.nan

    # -- policy -----------------------------------------------------------------------------------
    def act(self, obs) -> np.ndarray:
        """One env: ``obs`` (D,) -> action (2,) float32 ``[rudder, engine]``."""
        return self.act_batch(np.asarray(obs)[None, :])[0]

    def act_batch(self, obs) -> np.ndarray:
        """N envs: ``obs`` (N, D) -> actions (N, 2) float32."""
        o = np.asarray(obs, dtype=np.float64)
        if o.ndim != 2 or o.shape[1] != self.obs_dim:
            raise ValueError(f"expected observations of shape (N, {self.obs_dim}), got {o.shape}")
        n = o.shape[0]
        if n != self._n:
            self._alloc(n)
        c = self.cfg
        dt = c.dt
        u = o[:, 0] * 5.0
        v = o[:, 1] * 2.0
        r = o[:, 2] * 0.05
        cross = o[:, 6] * 100.0
        path_err = _ang(o[:, 7], o[:, 8])
        los_err = _ang(o[:, 9], o[:, 10])
        dgoal = o[:, 11] * 2000.0
        gbear = _ang(o[:, 12], o[:, 13])
        gerr = _ang(o[:, 14], o[:, 15])
        rem = o[:, 16] * 5000.0
        c_fwd = o[:, 17] * 3.0
        c_stb = o[:, 18] * 3.0

        # ---- guidance: desired course relative to the heading ----
        # narrow water (harbour canals and basins, from the beam rays): a lower cruise speed
        ang = self._angles
        lens = o[:, N_EGO:N_EGO + self.n_rays] * c.ray_range_m
        lat = lens * np.abs(np.sin(ang))[None, :]
        side = (np.abs(np.sin(ang)) > 0.85)[None, :]
        stb = np.where(side & (ang > 0)[None, :], lat, np.inf).min(axis=1)
        port = np.where(side & (ang < 0)[None, :], lat, np.inf).min(axis=1)
        width = stb + port
        narrow = width < c.narrow_m
        los_ct = _wrap(path_err - los_err)  # the LOS bearing's offset from the route direction
        # final approach: goal bearing, then the goal heading
        w_goal = np.clip((c.approach_m - dgoal) / max(c.approach_m - c.align_m, 1.0), 0.0, 1.0)
        # drift (current set + sway): make the course over ground follow chi
        gf = u + c_fwd
        gs = v + c_stb
        beta = np.clip(np.arctan2(gs, np.maximum(gf, 0.3)), -c.max_drift, c.max_drift)
        beta = np.where(dgoal < c.align_m, 0.0, beta)  # alongside: the heading matters, not the course

        own = path_err - np.arctan(cross / c.lookahead_m)  # LOS on the current segment (no corner cutting)
        blend = np.where(narrow, c.los_blend_narrow, c.los_blend)
        # turning round in a current (the route bends hard ahead, e.g. the § 9.07 Nr. 5 loop)
        current = np.hypot(c_fwd, c_stb)
        turning = (np.abs(_wrap(los_err - path_err)) > c.turning_bend) & (current > c.turning_current)
        blend = np.where(turning, c.los_blend_turning, blend)
        chi = (1.0 - blend) * own + blend * los_err - self.cross_i
        chi = np.where(dgoal < c.approach_m, (1 - w_goal) * gbear + w_goal * gerr, chi)

        # ---- give-way ----
        turn_cmd, v_cap = self._give_way(o, u, v, c_fwd, c_stb, stb, port, width >= c.wide_m)
        # (turning round: the turn is not interrupted by a course alteration, and giving way slows the ship
        # only as far as it keeps steerage)
        turn_cmd = np.where(turning, 0.0, turn_cmd)
        chi = chi + turn_cmd
        # ---- basin entry and berthing: guidance in the berth frame ----
        pre, act, chi_b, r_ff, v_b = self._berth(o, u, r, lens, dgoal, gbear, gerr)
        chi = np.where(act, chi_b + turn_cmd, chi)
        beta = np.where(act, 0.0, beta)
        e = _wrap(chi - beta)

        # integral of the cross-track error (slow; frozen in bends and on the final approach)
        freeze = (np.abs(los_ct) > 0.15) | (dgoal < c.approach_m) | (turn_cmd != 0)
        self.cross_i = np.where(freeze, self.cross_i,
                                np.clip(self.cross_i + c.k_cross_i * cross * dt, -c.cross_i_max, c.cross_i_max))

        # ---- heading control (cascade: heading -> yaw rate -> rudder) ----
        r_lim = np.clip(np.abs(u) / c.r_turn_m, 0.01, c.r_max)  # no more than the ship can turn
        r_d = np.clip(e / c.t_heading + r_ff, -r_lim, r_lim)
        self.heading_i = np.clip(self.heading_i + np.where(np.abs(e) < 0.15, e, 0.0) * dt, -c.heading_i_max / max(c.k_heading_i, 1e-9),
                                 c.heading_i_max / max(c.k_heading_i, 1e-9))
        rudder = c.k_rate * (r_d - r) + np.where(act, 0.0, c.k_heading_i * self.heading_i)
        rudder = np.clip(rudder, -1.0, 1.0)

        # ---- speed profile ----
        d_fwd = dgoal * np.cos(gbear)
        near = rem < 1.5 * c.approach_m
        dist = np.where(near, np.minimum(rem, np.abs(d_fwd)) * np.sign(d_fwd), rem)
        transit = (o[:, 14] == 0.0) & (o[:, 15] == 1.0)
        v_end = np.where(transit, c.v_end_transit, c.v_end)
        v_brake = np.sqrt(v_end**2 + 2.0 * c.decel * np.maximum(dist, 0.0))
        v_brake = np.where(dist < 0, -np.minimum(0.4, 0.02 * -dist), v_brake)
        bend = np.abs(_wrap(los_err - path_err))
        cruise = np.where(narrow, c.cruise_narrow, c.cruise)
        # (in a current, above turning_current, the ship slows for a bend no further than it can still steer
        # through the water while the current sets it: the current's speed + v_min_current)
        v_floor = np.where(current > c.turning_current,
                           np.maximum(c.v_min, np.minimum(current + c.v_min_current, cruise)), c.v_min)
        # (with the current from astern, giving way never slows the ship below that either: with less the
        # current carries it on, and sets it, faster than it can turn, e.g. onto the bank at the Hafenmund;
        # against the current slowing down is safe, the ship only holds its place)
        in_current = c_fwd > c.turning_current
        v_cap = np.where(turning | in_current, np.maximum(v_cap, v_floor), v_cap)
        v_turn = np.maximum(cruise - c.turn_slow * np.maximum(np.abs(e), bend), v_floor)
        v_des = np.minimum(np.minimum(cruise, v_brake), v_turn)
        v_des = np.where(pre | act, np.minimum(np.where(act, np.inf, v_des), v_b), v_des)
        v_des = np.minimum(v_des, v_cap)
        # § 6.20: reduced speed through the water in front of harbour mouths (an opening in a bank)
        v_des = np.minimum(v_des, self._mouth_limit(lens, stb, port, u, c_fwd, dt, width >= c.mouth_wide_m))
        # downstream in the river (the current from astern) the harbour-mouth speed everywhere: the mouths the
        # rays cannot see from ahead are passed under the § 6.20 limit too, and the current keeps the ship's
        # speed over ground
        v_des = np.where((c_fwd > c.turning_current) & (width >= c.mouth_wide_m), np.minimum(v_des, c.v_mouth), v_des)

        # ---- speed control: feed-forward + PI ----
        err = v_des - u
        self.speed_i = np.clip(self.speed_i + err * dt * c.k_speed_i, -c.speed_i_max, c.speed_i_max)
        engine = np.interp(v_des, _FF_SPEED, _FF_ENGINE) + c.k_speed * err + self.speed_i
        # astern kills the rudder's propeller wash: only near the goal and when roughly on course
        floor = np.where(np.abs(e) < 0.35, -1.0, c.engine_min_steer)
        # the rudder needs the propeller's slipstream: push the engine up with the rudder demand
        kick_ok = np.where(act, (u < v_des + np.where(np.abs(e) > 0.35, 0.6, 0.2)) & (dgoal > 60.0), dist >= c.astern_m)
        kick_from = np.where(act, c.kick_from_harbour, c.kick_from)
        kick = np.where(~kick_ok | (np.isfinite(v_cap) & ~(turning | in_current)), -1.0, c.kick * (np.abs(rudder) - kick_from))
        floor = np.maximum(floor, kick)  # (no kick while giving way: slowing down comes first)
        engine = np.clip(engine, floor, 1.0)
        return np.stack([rudder, engine], axis=1).astype(np.float32)

    def _mouth_limit(self, lens, stb, port, u, c_fwd, dt, river):
        """Speed limit (N,) near a harbour mouth (RheinSchPV § 6.20), from the range rays: on each side the
        bank line lies at the beam rays' lateral distance (``stb``, ``port``); a ray that runs more than
        ``mouth_excess_m`` beyond that line, where it crosses it ahead of (or just behind) the ship, looks
        into an opening in the bank: a harbour mouth or a side water. The limit then holds until the
        opening is ``mouth_hold_m`` astern (the mouth zone reaches ~150 m around the opening). Openings are
        looked for only in the river (``river``: water wider than ``mouth_wide_m``), not in the harbour's
        canals and basins, where the speed is low anyway."""
        c = self.cfg
        ang = self._angles[None, :]
        s = np.abs(np.sin(ang))
        d = np.where(ang > 0, stb[:, None], port[:, None])  # the bank line on the ray's side
        ok = (s > 0.25) & (d < c.mouth_bank_m) & river[:, None]
        cross_along = d * np.cos(ang) / np.maximum(s, 1e-6)  # where the ray meets the bank line
        beyond = lens * s - d  # how far the ray's end lies beyond the bank line
        # (the bank goes on beyond the opening: one of the next rays towards the bow meets it near the line;
        # on the inner side of a bend every ray further forward runs long too)
        fwd = self._fwd
        b_fwd = np.where(fwd[None, :, :] >= 0, np.take(beyond, np.maximum(fwd, 0), axis=1), np.inf)
        resumes = (b_fwd < c.mouth_resume_m).any(axis=2)
        hit = (ok & resumes & (beyond > c.mouth_excess_m) & (cross_along < c.mouth_ahead_m)
               & (cross_along > -c.mouth_behind_m))
        dist = np.where(hit, cross_along + c.mouth_hold_m, 0.0).max(axis=1)
        self.mouth_m = np.maximum(self.mouth_m - np.maximum(u, 0.0) * dt, dist)
        self.mouth_m = np.where(river, self.mouth_m, 0.0)  # (in the harbour the speed is the harbour's)
        # (against a strong current the limit still leaves mouth_min_sog over ground: never stall)
        return np.where(self.mouth_m > 0.0, np.maximum(c.v_mouth, c.mouth_min_sog - c_fwd), np.inf)

    def _berth(self, o, u, r, lens, dgoal, gbear, gerr):
        """Guidance onto a berth: (approaching (N,), active (N,), course rel. heading, yaw-rate
        feed-forward, speed) in the berth frame (origin the berth, Y along the quay towards it)."""
        c = self.cfg
        self.quay |= (o[:, 14] != 0.0) | (o[:, 15] != 1.0)  # a quay heading is given (goal mode > 0)
        gx, gy = dgoal * np.cos(gbear), dgoal * np.sin(gbear)  # the berth in the body frame (fwd, stb)
        # the quay axis pointing towards the berth, tracked through the 180 deg ambiguity of obs 14-15
        # (before the turn: the direction with the berth ahead; after it: tracked with the yaw rate)
        towards = np.where(np.cos(gerr) * gx + np.sin(gerr) * gy >= 0, gerr, gerr + np.pi)
        pred = np.where(np.isnan(self.theta) | ~self.basin, towards, self.theta - r * c.dt)
        flip = np.abs(_wrap(gerr + np.pi - pred)) < np.abs(_wrap(gerr - pred))
        theta = _wrap(np.where(flip, gerr + np.pi, gerr))
        self.theta = np.where(self.quay, theta, np.nan)
        dx, dy = np.cos(theta), np.sin(theta)
        nx, ny = -dy, dx  # starboard normal of the axis
        X = -(nx * gx + ny * gy)  # the ship in the berth frame
        Y = -(dx * gx + dy * gy)
        # which side the quay wall is on: ray hits close to the berth line, near the berth
        ang = self._angles[None, :]
        hx, hy = lens * np.cos(ang) - gx[:, None], lens * np.sin(ang) - gy[:, None]
        hX = nx[:, None] * hx + ny[:, None] * hy
        hY = dx[:, None] * hx + dy[:, None] * hy
        # (the quay wall lies ~10 m beyond the berth point, the far wall 80-100 m the other way)
        hit = (lens < 0.98 * c.ray_range_m) & (hY > Y[:, None] + c.side_ahead_m) & (hY < 100.0)
        hit &= np.abs(hX - X[:, None]) > 40.0  # (not the canal banks abeam)
        n_pos = (hit & (((hX > 4.0) & (hX < 30.0)) | ((hX < -65.0) & (hX > -130.0)))).sum(axis=1)
        n_neg = (hit & (((hX < -4.0) & (hX > -30.0)) | ((hX > 65.0) & (hX < 130.0)))).sum(axis=1)
        unknown = self.side == 0
        self.side = np.where(unknown & (n_pos >= n_neg + c.side_votes), 1.0, self.side)
        self.side = np.where(unknown & (n_neg >= n_pos + c.side_votes), -1.0, self.side)
        # the line aimed at: the basin's middle while entering, then closer to the berth
        w_in = np.clip((-Y - c.berth_line_m) / 100.0, 0.0, 1.0)
        # (side still unknown: assume the basin's middle is beyond the berth line, seen from the ship)
        side = np.where(self.side == 0, np.where(X < 0, -1.0, 1.0), self.side)
        X_t = -side * (c.berth_off_m + w_in * (c.entry_off_m - c.berth_off_m))
        ex = X - X_t
        R = c.turn_radius + np.maximum(u, 0.0) * c.turn_lead_s
        near = self.quay & (dgoal < c.basin_range_m)
        # (the turn starts when the lateral distance left is what a turn of radius turn_radius from the
        # present heading needs, plus the distance run while the yaw rate builds up)
        need = c.turn_radius * (1.0 - np.cos(np.minimum(np.abs(theta), np.pi))) + np.maximum(u, 0.0) * c.turn_lead_s
        start = near & (np.abs(ex) < need) & (Y < 0.0)
        self.basin = self.basin | start
        act = self.basin & self.quay
        pre = near & ~act
        # before the turn: follow the canal (the last route segment across the axis, remembered), not
        # the route's cut towards the basin
        path_err = _ang(o[:, 7], o[:, 8])
        cross = o[:, 6] * 100.0
        alpha = _wrap(path_err - theta)  # route direction relative to the axis (+ towards +X)
        canal = (np.abs(np.cos(alpha)) < 0.5) & ~self.basin
        self.canal_a = np.where(canal, alpha, self.canal_a)
        self.canal_k = np.where(canal, X * np.cos(alpha) - Y * np.sin(alpha) - cross, self.canal_k)
        known = ~np.isnan(self.canal_a)
        ca = np.where(known, self.canal_a, alpha)
        c_cross = np.where(known, X * np.cos(ca) - Y * np.sin(ca) - self.canal_k, cross)
        c_cross = np.sign(c_cross) * np.maximum(np.abs(c_cross) - c.canal_band_m, 0.0)  # anywhere in the canal
        chi_pre = _wrap(ca + theta - np.arctan(c_cross / c.lookahead_m))
        # course relative to the axis: an arc of radius R onto the line, LOS near it
        los = np.where(np.abs(theta) < 0.35, c.basin_los_m, c.entry_los_m)
        f = np.minimum(np.arccos(np.clip(1.0 - np.abs(ex) / c.arc_radius, -1.0, 1.0)), np.arctan(np.abs(ex) / los))
        # once along the line: small corrections only (the stern swings out), smaller still when braking
        # (astern the rudder has no slipstream) and none at the berth (heading along the quay)
        along = np.maximum(-Y, 0.0)
        f_max = c.basin_max_angle * np.clip((along - 30.0) / 150.0, 0.15, 1.0)
        f = np.where(np.abs(theta) < 0.35, np.minimum(f, f_max), f)
        phi = -np.sign(ex) * f
        chi = np.where(act, _wrap(theta + phi), chi_pre)
        arc = act & (np.abs(theta) > 0.25) & (np.abs(ex) > 0.5 * c.entry_los_m)
        r_ff = np.where(arc, np.sign(theta) * np.maximum(u, 0.3) / c.ff_radius, 0.0)
        # speed: down to v_turn at the start of the turn, then brake along the axis to the berth
        v_pre = np.minimum(c.v_canal, np.sqrt(c.v_turn**2 + 2.0 * c.decel * np.maximum(np.abs(ex) - R, 0.0)))
        v_in = np.minimum(c.v_basin, np.sqrt(c.v_berth**2 + 2.0 * c.decel_basin * along))
        v_in = np.where((np.abs(theta) > 0.4) & (along > 150.0), np.maximum(v_in, c.v_turn), v_in)
        v_in = np.where(Y > 0.0, -np.minimum(0.3, 0.02 * Y), v_in)
        v_b = np.where(act, v_in, np.where(pre, v_pre, np.inf))
        return pre, act | pre, chi, r_ff, v_b

    def _give_way(self, o, u, v, c_fwd, c_stb, stb_clear, port_clear=None, wide=None):
        """(course alteration (N,) rad, speed cap (N,) m/s) from the target block."""
        c = self.cfg
        n = o.shape[0]
        base = N_EGO + self.n_rays
        if self.n_targets == 0:
            return np.zeros(n), np.full(n, np.inf)
        t = o[:, base:base + TARGET_FEATURES * self.n_targets].reshape(n, self.n_targets, TARGET_FEATURES)
        present = t[..., 0] > 0.5
        px = t[..., 1] * c.target_range_m  # forward
        py = t[..., 2] * c.target_range_m  # starboard
        rng = np.hypot(px, py)
        rvx = t[..., 3] * 5.0
        rvy = t[..., 4] * 5.0
        cpa = t[..., 5] * 1000.0
        tcpa = t[..., 6] * 600.0
        tlen = t[..., 7] * 200.0
        # the target's own velocity in our body frame (relative velocity + our velocity over ground)
        gf = (u + c_fwd)[:, None]
        gs = (v + c_stb)[:, None]
        tvx = rvx + gf
        tvy = rvy + gs
        tspeed = np.hypot(tvx, tvy)
        rel_course = np.arctan2(tvy, tvx)  # the target's course relative to our heading
        bearing = np.arctan2(py, px)
        cpa_lim = c.cpa_m + 0.25 * tlen
        risk = present & (tcpa > 0) & (tcpa < c.tcpa_s) & (cpa < cpa_lim)
        level = np.where(risk, np.clip(1.0 - cpa / cpa_lim, 0.0, 1.0) * np.clip(1.5 - tcpa / c.tcpa_s, 0, 1), 0.0)
        moving = tspeed > 0.3
        meeting = (np.abs(bearing) < 0.6) & (np.cos(rel_course) < -0.7) & moving
        from_stb = (bearing > 0.0) & (bearing < 2.0) & (np.abs(np.cos(rel_course)) < 0.8) & moving
        same_dir = (np.cos(rel_course) > 0.7) | ~moving
        ahead = (px > 0) & (np.abs(py) < 60.0 + 0.3 * px * 0.2)
        # a much slower vessel ahead in wide water, heading upstream (e.g. at anchor, or barely making way against the
        # current): pass it with a lateral offset instead of following it at its speed
        if wide is None:
            wide = np.zeros(n, dtype=bool)
        if port_clear is None:
            port_clear = stb_clear
        upstream = wide & (c_fwd < -0.5)  # (only against the current, where following costs the most)
        slow_ahead = (present & upstream[:, None] & (px > 0.0) & same_dir & (tvx < (c.cruise - c.overtake_margin) + c_fwd[:, None])
                      & (rng < c.overtake_range_m) & (np.abs(py) < cpa_lim + 0.5 * tlen))
        # pass on the side it already lies off our bow, or (nearly dead ahead) on the side with more room
        pass_side = np.where(np.abs(py) > 15.0, np.sign(py), np.where(port_clear > stb_clear, 1.0, -1.0)[:, None])
        need = np.maximum(cpa_lim + 0.25 * tlen - np.abs(py), 0.0)
        ot_turn = np.where(slow_ahead, -pass_side * np.minimum(np.arctan2(need, np.maximum(px, 80.0)),
                                                               c.overtake_max), 0.0)
        ot_turn = np.take_along_axis(ot_turn, np.abs(ot_turn).argmax(axis=1)[:, None], axis=1)[:, 0]
        # (clearance on the side we move to; not while a vessel is meeting us within 1.5 km)
        room = np.where(ot_turn < 0, port_clear, stb_clear)
        oncoming = (present & meeting & (rng < 1500.0)).any(axis=1)
        ot_turn = np.where(oncoming, 0.0, ot_turn * np.clip((room - 40.0) / 40.0, 0.0, 1.0))
        slow_ahead &= (ot_turn != 0.0)[:, None]
        risk = risk & ~(slow_ahead & (rng > 150.0 + 0.5 * tlen))
        # where the target passes at the CPA (body frame, + starboard): port to port needs it to port
        cpa_stb = py + rvy * np.maximum(tcpa, 0.0)
        turn_w = np.where((meeting & (cpa_stb > -cpa_lim)) | from_stb, level, 0.0)
        turn = c.avoid_turn * turn_w.max(axis=1) * np.clip((stb_clear - 30.0) / 40.0, 0.0, 1.0)
        slow = np.where(meeting & ~from_stb, 0.5 * level, level)
        v_scale = 1.0 - c.avoid_slow * slow.max(axis=1)
        v_cap = np.full(n, np.inf)
        v_cap = np.minimum(v_cap, np.where(risk.any(axis=1), np.maximum(v_scale, 0.2) * c.cruise, np.inf))
        # following a vessel ahead in the lane: match its speed along our heading
        follow = present & ahead & same_dir & (rng < c.follow_gap_m + 0.5 * tlen) & ~slow_ahead
        tv_along = np.maximum(tvx - c_fwd[:, None], 0.0)  # its speed through the water along our bow
        gap_factor = np.clip((rng - 0.5 * tlen - 100.0) / c.follow_gap_m, 0.0, 1.0)
        v_follow = np.where(follow, tv_along * (0.6 + 0.4 * gap_factor) + 0.5 * gap_factor, np.inf)
        v_cap = np.minimum(v_cap, v_follow.min(axis=1))
        turn = np.where(np.abs(ot_turn) > np.abs(turn), ot_turn, turn)
        return turn, v_cap


def _wrap(a):
    return (a + np.pi) % (2.0 * np.pi) - np.pi
