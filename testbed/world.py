"""The batched world: E environments, each with one ego and T scripted traffic vessels.

``World`` composes the pure parts; it holds no physics or perception code of its own:

==============  ==========================================================================
part            where
==============  ==========================================================================
map queries     :mod:`harbour_maps.kernels` (compiled, on precomputed rasters)
ego dynamics    :mod:`vessels.mmg` / :mod:`vessels.nomoto` ``step_inplace`` over the E egos
traffic         :class:`testbed.traffic.ScriptedTraffic` (compiled control + Nomoto step)
route           :class:`testbed.route.RoutePlanner` (at reset only)
perception      :func:`testbed.observation.perceive_kernel` (obs, contacts, reward features)
reward          :mod:`testbed.reward` (named components x weights)
task            :mod:`testbed.task` (start / goal sampling, termination)
fused step      :mod:`testbed.world_kernels` (the stages in two compiled calls, one ego per env)
==============  ==========================================================================

The single Gymnasium env is this world with E = 1; the VectorEnv is the same world with E = N.
Every env has its own random streams, spawned from its reset seed with ``SeedSequence.spawn``:
``start`` (start pose and goal), ``traffic`` (traffic placement) and ``noise`` (reserved for
sensor noise), so that adding draws to one concern never shifts another.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from harbour_maps import kernels as mk
from harbour_maps import load_map
from testbed import observation as ob
from testbed import reward as rw
from testbed import task as tk
from testbed import world_kernels as wk
from testbed.ais import reporting
from testbed.config import ConfigError, ScenarioConfig
from testbed.route import RoutePlanner
from testbed.traffic import ScriptedTraffic
from vessels import catalogue, mmg, nomoto
from vessels.state import VesselState, kernel_inputs, raise_kernel_error

PMAX = 1024  # maximum route points

HARBOUR_KINDS = ("harbour", "basin", "mouth", "lock")
IDEAL_LINK_INFO = {"sinr_db": math.inf, "serving_cell": None, "handover": False, "interrupted": False,
                   "outage": False, "data_latency_ms": 0.0, "data_lost": False, "cmd_latency_ms": 0.0,
                   "cmd_lost": False, "failsafe": False}  # fmt: skip


@lru_cache(maxsize=8)
def map_bundle(name: str):
    """(map, route planner, harbour-zone flag per water cell) of a map, loaded once per process."""
    import shapely

    hmap = load_map(name)
    planner = RoutePlanner(hmap)
    R = hmap.rasters
    polys = [f.geometry for f in hmap.features.values()
             if f.type in ("water", "lock") and f.properties.get("kind", "lock") in HARBOUR_KINDS]  # fmt: skip
    flag = np.zeros(R.n_water + 1)
    if polys:
        xy = R.water_xy()
        flag[:-1] = shapely.contains_xy(shapely.union_all(polys), xy[:, 0], xy[:, 1])
    return hmap, planner, flag


class World:
    """E envs of K egos (``n_agents``, default 1) and T traffic vessels. The ego arrays hold E * K slots,
    env-major (slot ``e * K + k`` is agent k of env e); with K = 1 slot e is env e. ``agent_cfgs`` (K
    scenario configs, same map, ego and traffic as ``cfg``) gives each agent its own start and goal
    (:mod:`testbed.multi_agent`); without it the K agents share ``cfg``'s start region, at least
    ``min_separation_m`` apart (:meth:`testbed.task.Task.sample_apart`)."""

    def __init__(self, cfg: ScenarioConfig, n_envs: int = 1, n_agents: int = 1, agent_cfgs=None,
                 min_separation_m: float = 300.0) -> None:  # fmt: skip
        cfg.validate()
        self.cfg = cfg
        self.n_envs = int(n_envs)
        self.K = K = int(n_agents)
        self.E = E = self.n_envs * K  # ego slots (= envs when K = 1)
        self.min_separation_m = float(min_separation_m)
        self.dt = float(cfg.dt)
        try:
            self.map, self.planner, self.harbour_cell = map_bundle(cfg.map)
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"scenario {cfg.name!r}: map = {cfg.map!r}: {exc}") from None
        self.task = tk.Task(cfg, self.map)
        self.agent_tasks = None if agent_cfgs is None else [tk.Task(c, self.map) for c in agent_cfgs]
        self.ego_active = np.ones(E, dtype=np.uint8)  # 0: the agent left the world (multi-agent envs)
        vt = catalogue.get(cfg.ego.vessel_type)
        self.ego_type = vt
        if cfg.ego.model == "mmg":
            self.ego_batch = catalogue.mmg_batch([vt.id] * E)
            self._ego_step = mmg.step_inplace
        else:
            self.ego_batch = catalogue.nomoto_batch([vt.id] * E)
            self._ego_step = nomoto.step_inplace
        self.ego = VesselState.zeros(E)
        self.ego_cur = np.zeros((E, 2))
        self.ego_len = np.full(E, vt.L_oa)
        self.ego_beam = np.full(E, vt.B)
        self.ego_rmax = np.full(E, vt.limits.rudder_max)
        self.ego_nmax = np.full(E, vt.limits.revs_max * cfg.ego.max_revs_fraction)
        self.traffic = ScriptedTraffic(self.map, cfg.traffic, self.n_envs, self.dt)
        self.traffic.n_agents = K
        q = None if math.isnan(cfg.discharge_m3s) else cfg.discharge_m3s
        R = self.map.rasters
        self._geo = mk.pack_geo(R)
        self._speeds = self.map.reach_speeds(q).astype(np.float64)
        self._widx = self.map._widx_k
        self._cfield = self.map._cfield
        self._creach = self.map._creach_k
        self._sdf = self.map._sdf_flat
        self._rays = self.map._rays
        self._mapk = (self._geo, self._widx, self._cfield, self._creach, self._speeds)
        oc = cfg.observation
        self.angles = ob.ray_angles(oc.n_rays, oc.ray_fov_deg)
        self._cos_a = np.cos(self.angles)
        self._sin_a = np.sin(self.angles)
        self.ray_range = float(min(oc.ray_range_m, R.ray_max_range))
        self.obs_dim = ob.obs_dim(oc.n_rays, oc.n_targets)
        self.obs = np.zeros((E, self.obs_dim), dtype=np.float32)
        self.feats = np.zeros((E, ob.N_FEATS))
        self.comps = np.zeros((E, len(ob.COMPONENTS)))
        self.weights = rw.weights(cfg.reward)
        self.reward = np.zeros(E)
        self.done = np.zeros(E, dtype=np.bool_)
        self.route = np.zeros((E, PMAX, 2))
        self.route_s = np.zeros((E, PMAX))
        self.route_n = np.full(E, 2, dtype=np.int64)
        self.route_seg = np.zeros(E, dtype=np.int64)
        self.goal = np.zeros((E, 4))
        self.goal_tol = np.zeros((E, 3))
        self.goal_name = [""] * E
        self.prev_s = np.zeros(E)
        self.actions = np.zeros((E, 2))
        self.prev_actions = np.zeros((E, 2))
        self.t = np.zeros(self.n_envs)  # episode time per env
        self._tbuf = np.zeros(len(self.angles) + max(oc.n_targets, 1))
        self._rud = np.zeros(E)
        self._rev = np.zeros(E)
        # the ego's AIS picture of the traffic (observation.targets == "ais")
        nt = max(self.n_envs * self.traffic.T, 1)
        self._ais_mode = oc.targets == "ais"
        self._rep = tuple(np.full(nt, -np.inf) if k == 0 else np.zeros(nt) for k in range(5))  # t, x, y, vx, vy
        self._rep_psi = np.zeros(nt)
        # K > 1: each ego's own picture (K x nt, slot-major), the reports its data link delivered
        self._rep_view = self._rep if K == 1 else tuple(np.full(K * nt, -np.inf) if k == 0 else np.zeros(K * nt)
                                                        for k in range(5))  # fmt: skip
        self._next_due = np.zeros(nt)
        # K > 1: the egos' own AIS reports (class A, received ship to ship over VHF: no data link)
        self._erep = tuple(np.full(E, -np.inf) if k == 0 else np.zeros(E) for k in range(5))
        self._erep_psi = np.zeros(E)
        self._enext = np.zeros(E)
        self._eclass = np.zeros(E, dtype=np.uint8)
        self._enoise = np.zeros((self.n_envs, 1, 2))
        self._enoise_pos = np.zeros(self.n_envs, dtype=np.int64)
        self._egv = np.zeros((2, E))
        self._class_b = np.zeros(nt, dtype=np.uint8)
        self._noise = np.zeros((self.n_envs, 1024 if oc.ais_position_noise_m > 0 else 1, 2))  # per env
        self._noise_pos = np.zeros(self.n_envs, dtype=np.int64)
        self._gvx = np.zeros(nt)
        self._gvy = np.zeros(nt)
        # the 5G link (testbed.link.env_link); None: ideal link, onboard autonomy (nothing to simulate)
        lc = cfg.link
        self.link = None
        self._delivered = np.ones(E, dtype=np.bool_)
        if lc.profile != "ideal" or lc.mode == "remote":
            from testbed.link.env_link import EnvLink

            try:
                self.link = EnvLink(lc, self.map, E, self.dt, vessels_per_env=K)
            except (ValueError, KeyError, FileNotFoundError) as exc:
                raise ConfigError(f"scenario {cfg.name!r}: link.profile = {lc.profile!r} (link.mode = {lc.mode!r}): {exc}") from None
            self._delivered = self.link.delivered
        self.obs[:, -ob.N_LINK:] = (1.0, 0.0, 0.0, 0.0)  # ideal link
        # the inland traffic rules (testbed.rules): checked after every step, the ego is vessel 0
        self.rules = None
        self.rules_reward = np.zeros(E)
        self._rules_dirty = False
        if cfg.rules.enabled:
            from testbed.rules import RuleChecker, RuleZoneError, rule_weights

            try:
                self.rules = RuleChecker(self.map, cfg.rules, self.n_envs, K, self.traffic.T, self.dt).bind_map(
                    self._geo, self._widx)
            except RuleZoneError as exc:
                raise ConfigError(f"scenario {cfg.name!r}: {exc}") from None
            self._rules_w = rule_weights(cfg.reward)
            self.traffic.set_rules(self.rules.zones, cfg.rules)  # scripted traffic obeys the rules
            self._rules_prev = np.zeros((E, len(self._rules_w)), dtype=np.int64)
        # seeds: per env a base seed and an episode counter (see reset_env)
        self._base_seed = [None] * self.n_envs
        self._episode = np.zeros(self.n_envs, dtype=np.int64)
        # the arguments of the two compiled calls of a step (one ego per env; testbed.world_kernels),
        # looked up at the first step after a reset (so arrays of the parts replaced before it are seen)
        self.fuse = True  # False: call the parts one by one (the reference the fused step is tested against)
        self._fused = None

    def _bind_fused(self) -> tuple | None:
        """The argument tuples of :func:`~testbed.world_kernels.advance_kernel` and
        :func:`~testbed.world_kernels.observe_kernel`, built once: every array is the world's (or its
        parts') own, written in place by the kernels and by the resets. None (the step calls the parts one
        by one) with more than one ego per env or a vessel state that is not one block."""
        es, tr = self.ego.block(), self.traffic
        ts = tr.state.block()
        if self.K != 1 or es is None or ts is None:
            return None
        E, T, cfg = self.E, tr.T, self.cfg
        *_, ensub, eh = kernel_inputs(E, self.ego, self._rud, self._rev, self.ego_cur, self.dt,
                                      self.ego_batch.max_substep)  # fmt: skip
        tnsub, th = 1, self.dt
        if T:
            *_, tnsub, th = kernel_inputs(E * T, tr.state, tr.rudder_cmd, tr.revs_cmd, tr.current, tr.dt,
                                          tr.batch.max_substep)  # fmt: skip
        pk = tr.replay
        if pk is None:  # nothing replayed: placeholders of the packed tracks' types, never read
            z = np.zeros(1)
            pk_arrays = (z, z, z, z, z, z, np.zeros(1, dtype=np.int64))
        else:
            pk_arrays = (pk.t, pk.x, pk.y, pk.vx, pk.vy, pk.psi, pk.start)
        mapk = self._mapk
        advance = (
            self.actions, self.ego_rmax, self.ego_nmax, self._rud, self._rev, *mapk,
            cfg.ego.model != "mmg", self.ego_batch.consts, es, self.ego_cur, ensub, eh, self.ego_len,
            self.ego_beam, self.ego_active,
            T, tr.lanes.xy, tr.lanes.s, tr.lanes.start, tr.lanes.length, ts, tr.lane, tr.seg, tr.u_target,
            tr.active, tr.length, tr.beam, tr.speed_per_rev, tr.rudder_max, tr.cfg.keep_clear_m, tr.cfg.min_gap_m,
            tr.rudder_cmd, tr.revs_cmd, tr.current, tr._vx, tr._vy, tr.mode, tr.zbits, tr.zmasks, tr.zp,
            tr.lanes.keep_right, tr._s_lane, tr.offset, tr.batch.consts, tnsub, th,
            self.t, self.dt,
            pk is not None, tr.replay_t0, float(tr.cfg.ais_speedup), tr.track_of, tr.cursor, *pk_arrays,
            bool(tr.cfg.reactive), float(tr.cfg.handover_cpa_m), float(tr.cfg.handover_tcpa_s), tr.handed,
        )  # fmt: skip
        oc, rwc, rc = cfg.observation, cfg.reward, self.rules
        if rc is None:
            rules = (None,) * 27
        else:
            zt = rc.zones
            rules = (rc.params, rc.x, rc.y, rc.psi, rc.gx, rc.gy, rc.u, rc.cx, rc.cy, rc.length, rc.beam, rc.active,
                     rc.blue, zt.cell_bits, zt.masks, rc.prev_z, rc.faced_up, rc.still_t, rc.vflags, rc.prev_along,
                     rc.pflags, rc.counts, rc.vcounts, rc.ev, rc.ev_n, zt.lane_dir, rc.dt)  # fmt: skip
        observe = (
            bool(self._ais_mode and T), T, self.t, es, self.ego_cur, self.ego_len, self.ego_beam, self.ego_rmax,
            self.ego_nmax, self.ego_active,
            ts, tr.active, tr.length, tr.beam, tr.current, self._gvx, self._gvy, self._class_b, self._next_due,
            *self._rep, self._rep_psi, self._noise, self._noise_pos, float(oc.ais_position_noise_m),
            self._delivered, self._ais_mode,
            self.route, self.route_s, self.route_n, self.route_seg, self.goal, self.goal_tol,
            self._geo, self._sdf, self._widx, self._rays, self.harbour_cell,
            self.angles, self._cos_a, self._sin_a, self.ray_range, oc.n_targets, float(oc.target_range_m),
            rwc.near_miss_cpa_m, rwc.near_miss_tcpa_s, rwc.harbour_speed_limit_ms,
            self.actions, self.prev_actions, self.prev_s, self.weights, self.obs, self.feats, self.comps,
            self.reward, self.done, self._tbuf, *self._erep,
            *rules,
        )  # fmt: skip
        return advance, observe

    # -- reset ------------------------------------------------------------------------------------
    def reset_env(self, e: int, seed: int | None = None) -> None:
        """Start a new episode in env ``e`` (all its K ego slots). ``seed`` sets the env's base seed; without one the next
        episode of the current base seed is drawn (episode k uses ``SeedSequence(base, spawn_key=(k,))``)."""
        if seed is not None:
            self._base_seed[e] = int(seed)
            self._episode[e] = 0
        elif self._base_seed[e] is None:
            self._base_seed[e] = int(np.random.SeedSequence().entropy % (2**63))
            self._episode[e] = 0
        ss = np.random.SeedSequence(self._base_seed[e], spawn_key=(int(self._episode[e]),))
        self._episode[e] += 1
        rng_start, rng_traffic, rng_noise, rng_link = (np.random.default_rng(s) for s in ss.spawn(4))
        K = self.K
        if K == 1:
            eps = [self.task.sample(rng_start, self.planner, self.ego_len[e])]
            rng_links = [rng_link]
        else:  # agent 0's link stream as with K = 1; the others spawned after it
            eps = self._sample_agents(e, rng_start)
            rng_links = [rng_link] + [np.random.default_rng(s) for s in ss.spawn(K - 1)]
        for k, ep in enumerate(eps):
            self._reset_slot(e * K + k, ep, rng_links[k])
        ep = eps[0]
        starts = ep.start_xy if K == 1 else np.array([p.start_xy for p in eps])
        goals = ep.goal[:2] if K == 1 else np.array([p.goal[:2] for p in eps])
        self.traffic.reset_env(e, rng_traffic, starts, mapk=self._mapk, goal_xy=goals)
        if self._ais_mode and self.traffic.T:
            T = self.traffic.T
            sl = slice(e * T, (e + 1) * T)
            self._rep[0][sl] = -np.inf
            for k in range(K if K > 1 else 0):
                self._rep_view[0][k * self.n_envs * T + e * T:k * self.n_envs * T + (e + 1) * T] = -np.inf
            self._next_due[sl] = reporting.first_reports(rng_noise, T)
            self._class_b[sl] = [self.traffic.type_ids[k] == "REC" for k in self.traffic.type_index[sl]]
            if self.cfg.observation.ais_position_noise_m > 0:
                self._noise[e] = rng_noise.standard_normal(self._noise.shape[1:])
                self._noise_pos[e] = 0
        if self._ais_mode and K > 1:  # drawn after everything a one-ego world draws
            self._erep[0][e * K:(e + 1) * K] = -np.inf
            self._enext[e * K:(e + 1) * K] = reporting.first_reports(rng_noise, K)
        self.t[e] = 0.0
        a0, a1 = e * K, (e + 1) * K
        st = self.ego
        self.ego_active[a0:a1] = 1
        mk.current_xy_batch(*self._mapk, st.x[a0:a1], st.y[a0:a1], self.ego_cur[a0:a1])
        self._perceive(a0, a1)
        self.comps[a0:a1] = 0.0  # nothing happened yet
        if self.rules is not None:
            self.rules.reset_env(e)
            self._rules_prev[a0:a1] = 0
            self.rules_reward[a0:a1] = 0.0
        self._fused = None

    def _sample_agents(self, e: int, rng: np.random.Generator) -> list:
        """K episodes of env ``e`` (K > 1): per-agent tasks, or K starts apart in the shared start region."""
        K = self.K
        if self.agent_tasks is None:
            return self.task.sample_apart(rng, self.planner, float(self.ego_len[e * K]), K, self.min_separation_m)
        eps: list = []
        for k, task in enumerate(self.agent_tasks):
            for _ in range(100):
                ep = task.sample(rng, self.planner, float(self.ego_len[e * K + k]))
                if all(math.hypot(*(ep.start_xy - p.start_xy)) >= self.min_separation_m for p in eps):
                    break
            else:
                raise ConfigError(f"scenario {self.cfg.name!r}: agent {k}'s start is never "
                                  f"{self.min_separation_m:g} m from the others' in 100 draws")
            eps.append(ep)
        return eps

    def _reset_slot(self, e: int, ep, rng_link) -> None:
        """Put ego slot ``e`` at the start of episode ``ep``."""
        st = self.ego
        st.x[e], st.y[e], st.psi[e] = ep.start_xy[0], ep.start_xy[1], ep.start_psi
        st.u[e], st.v[e], st.r[e], st.delta[e] = ep.start_speed, 0.0, 0.0, 0.0
        st.n[e] = self._revs_for(ep.start_speed)
        n = len(ep.route)
        if n > PMAX:
            raise ConfigError(f"scenario {self.cfg.name!r}: route has {n} points, more than {PMAX}")
        self.route[e, :n] = ep.route
        self.route[e, n:] = ep.route[-1]
        seg = np.hypot(*np.diff(ep.route, axis=0).T)
        self.route_s[e, 0] = 0.0
        self.route_s[e, 1:n] = np.cumsum(seg)
        self.route_s[e, n:] = self.route_s[e, n - 1]
        self.route_n[e] = n
        self.route_seg[e] = 0
        self.goal[e] = ep.goal
        self.goal_tol[e] = ep.goal_tol
        self.goal_name[e] = ep.goal_name
        if self.link is not None:
            self.link.reset_env(e, rng_link)
            self.obs[e, -ob.N_LINK:] = self.link.features[e]
        self.prev_actions[e] = 0.0
        self.actions[e] = 0.0
        self.prev_s[e] = 0.0

    def _revs_for(self, speed: float) -> float:
        vt = self.ego_type
        if self.cfg.ego.model == "mmg":
            return float(vt.mmg.self_propulsion_revs(max(speed, 0.0)))
        return float(speed / vt.nomoto.speed_per_rev)

    # -- step -------------------------------------------------------------------------------------
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Advance all E envs by dt. Returns (reward (E,), terminated (E,), truncated (E,), comps (E, C))."""
        acts = np.asarray(actions, dtype=np.float64)
        st = self.ego
        if self.link is not None:
            acts = self.link.step(self.slot_t(), st, self.ego_cur, acts, self.ego_active)
        if self.fuse and self.K == 1:
            if self._fused is None:
                self._fused = self._bind_fused() or ()
            if self._fused:
                return self._step_fused(acts)
        ob.command_kernel(acts, self.actions, self.ego_rmax, self.ego_nmax, self._rud, self._rev)
        mk.current_xy_batch(*self._mapk, st.x, st.y, self.ego_cur)
        self._ego_step(self.ego_batch, st, self._rud, self._rev, self.ego_cur, self.dt)
        self.traffic.step(self._mapk, st, self.ego_len, self.ego_beam, self.ego_cur, self.t + self.dt,
                          ego_active=self.ego_active)  # fmt: skip
        self.t += self.dt
        if self._ais_mode and self.traffic.T:
            self._send_reports()
        if self._ais_mode and self.K > 1:
            self._send_ego_reports()
        self._perceive(0, self.E)
        if self.rules is not None:
            self._check_rules()
        if self.link is not None:
            self.obs[:, -ob.N_LINK:] = self.link.features
        terminated = self.done
        truncated = (self.slot_t() >= self.cfg.time_limit_s - 1e-9) & ~terminated
        return self.reward, terminated, truncated, self.comps

    def _step_fused(self, acts: np.ndarray):
        """:meth:`step` after the link, in two compiled calls (one ego per env; testbed.world_kernels)."""
        advance, observe = self._fused
        code = wk.advance_kernel(np.ascontiguousarray(acts).reshape(self.E, 2), *advance)
        if code:
            if code < 0:
                raise_kernel_error(-code % 10)
            self.traffic._take_over(self._mapk)
        if self._ais_mode and self.traffic.T:
            self._traffic_ground_velocity()
        rc = self.rules
        if rc is not None:
            if self._rules_dirty:
                self.rules_reward[:] = 0.0
                self._rules_dirty = False
            if rc.step_events:
                rc.step_events = []
        n = wk.observe_kernel(*observe)
        if n:
            rc._collect(n, self.t)
            self._add_rules_reward()
        if self.link is not None:
            self.obs[:, -ob.N_LINK:] = self.link.features
        terminated = self.done
        truncated = (self.t >= self.cfg.time_limit_s - 1e-9) & ~terminated
        return self.reward, terminated, truncated, self.comps

    def slot_t(self) -> np.ndarray:
        """Episode time per ego slot (E * K,): ``t`` itself when K = 1."""
        return self.t if self.K == 1 else np.repeat(self.t, self.K)

    def remove_agent(self, a: int) -> None:
        """Take the vessel of ego slot ``a`` out of its env until the env's next reset (a multi-agent
        agent that has terminated): parked far off the map, stopped, invisible to perception, traffic
        and the rules."""
        self.ego_active[a] = 0
        st = self.ego
        st.x[a] = st.y[a] = 1e9
        st.u[a] = st.v[a] = st.r[a] = st.n[a] = 0.0

    def _check_rules(self) -> None:
        """Run the rule checker; the ego's new violations become the ``rules`` reward component."""
        rc = self.rules
        if self._rules_dirty:
            self.rules_reward[:] = 0.0
            self._rules_dirty = False
        rc.gather(self.ego, self.ego_cur, self.ego_len, self.ego_beam, self.traffic)
        if self.K > 1:
            rc.active.reshape(self.n_envs, rc.N)[:, : self.K] = self.ego_active.reshape(self.n_envs, self.K)
        if rc.check(self.t):
            self._add_rules_reward()

    def _add_rules_reward(self) -> None:
        """After a check with new events: the egos' new violations, weighted, added to the reward."""
        rc = self.rules
        ego = rc.vcounts[:: rc.N] if self.K == 1 else (
            rc.vcounts.reshape(self.n_envs, rc.N, -1)[:, : self.K].reshape(self.E, -1))
        new = ego - self._rules_prev
        if new.any():
            self._rules_prev[:] = ego
            self.rules_reward[:] = new @ self._rules_w
            self.reward += self.rules_reward
            self._rules_dirty = True

    def _traffic_ground_velocity(self) -> None:
        """The traffic's ground velocities for its AIS reports (numpy's sin / cos, as always)."""
        tr = self.traffic
        ts = tr.state
        np.multiply(ts.u, np.sin(ts.psi), out=self._gvx)
        self._gvx += tr.current[:, 0]
        np.multiply(ts.u, np.cos(ts.psi), out=self._gvy)
        self._gvy += tr.current[:, 1]

    def _send_reports(self) -> None:
        tr = self.traffic
        ts = tr.state
        self._traffic_ground_velocity()
        rt, rx, ry, rvx, rvy = self._rep
        if self.K > 1:
            self._send_reports_k(tr, ts, rt, rx, ry, rvx, rvy)
            return
        reporting.update_reports_kernel(
            self.n_envs, tr.T, self.t, ts.x, ts.y, ts.psi, self._gvx, self._gvy, ts.r, tr.active, self._class_b,
            self._next_due, rt, rx, ry, rvx, rvy, self._rep_psi, self._noise, self._noise_pos,
            float(self.cfg.observation.ais_position_noise_m),
            self._delivered,
        )  # fmt: skip

    def _send_ego_reports(self) -> None:
        """The egos' class A reports to each other (same intervals as the traffic's, no position noise)."""
        st = self.ego
        s, c = np.sin(st.psi), np.cos(st.psi)
        gvx, gvy = self._egv
        np.multiply(st.u, s, out=gvx)
        gvx += st.v * c + self.ego_cur[:, 0]
        np.multiply(st.u, c, out=gvy)
        gvy -= st.v * s - self.ego_cur[:, 1]
        rt, rx, ry, rvx, rvy = self._erep
        reporting.update_reports_kernel(
            self.n_envs, self.K, self.t, st.x, st.y, st.psi, gvx, gvy, st.r, self.ego_active, self._eclass,
            self._enext, rt, rx, ry, rvx, rvy, self._erep_psi, self._enoise, self._enoise_pos, 0.0,
            np.ones(self.n_envs, dtype=np.bool_),
        )  # fmt: skip

    def _send_reports_k(self, tr, ts, rt, rx, ry, rvx, rvy) -> None:
        """K > 1: the broadcast picture (every due report sent, same schedule and noise as one ego), then
        each ego takes this step's new reports where its own data link delivered them."""
        if not hasattr(self, "_ones"):
            self._ones = np.ones(self.n_envs, dtype=np.bool_)
        reporting.update_reports_kernel(
            self.n_envs, tr.T, self.t, ts.x, ts.y, ts.psi, self._gvx, self._gvy, ts.r, tr.active, self._class_b,
            self._next_due, rt, rx, ry, rvx, rvy, self._rep_psi, self._noise, self._noise_pos,
            float(self.cfg.observation.ais_position_noise_m), self._ones,
        )  # fmt: skip
        nt = rt.shape[0]
        tt = np.repeat(self.t, tr.T)
        new = rt == tt
        for k in range(self.K):
            sl = slice(k * nt, (k + 1) * nt)
            st_ = self._rep_view[0][sl]
            st_[(tt - st_) > reporting.MAX_AGE_S] = -np.inf
            take = new & np.repeat(self._delivered[k:: self.K], tr.T)
            for src, dst in zip(self._rep, self._rep_view, strict=True):
                dst[sl][take] = src[take]

    def _perceive(self, e0: int, e1: int) -> None:
        tr = self.traffic
        ts = tr.state
        oc = self.cfg.observation
        rc = self.cfg.reward
        ob.perceive_kernel(
            e0, e1, tr.T, self.ego.x, self.ego.y, self.ego.psi, self.ego.u, self.ego.v, self.ego.r,
            self.ego.delta, self.ego.n, self.ego_cur, self.ego_len, self.ego_beam, self.ego_rmax, self.ego_nmax,
            ts.x, ts.y, ts.psi, ts.u, tr.active, tr.length, tr.beam, tr.current,
            self._ais_mode, self.t, *self._rep_view,
            self.route, self.route_s, self.route_n, self.route_seg, self.goal, self.goal_tol,
            self._geo, self._sdf, self._widx, self._rays, self.harbour_cell,
            self.angles, self._cos_a, self._sin_a, self.ray_range, oc.n_targets, float(oc.target_range_m), rc.near_miss_cpa_m,
            rc.near_miss_tcpa_s, rc.harbour_speed_limit_ms,
            self.actions, self.prev_actions, self.prev_s, self.weights, self.obs, self.feats, self.comps,
            self.reward, self.done, self._tbuf, self.K, self.ego_active, *self._erep,
        )  # fmt: skip

    # -- views ------------------------------------------------------------------------------------
    OUTCOMES = np.array([None, "collision", "grounding", "left_map", "goal", "time_limit"], dtype=object)

    def outcomes(self) -> np.ndarray:
        """(E,) object array: the outcome of each env's last step (None while running)."""
        f = self.feats
        # the first true of collision, grounding, left_map, goal, time_limit wins: written from the last to the first
        code = np.where(self.slot_t() >= self.cfg.time_limit_s - 1e-9, 5, 0)
        for col, c in ((ob.F_REACHED, 4), (ob.F_OUT, 3), (ob.F_GROUNDED, 2), (ob.F_COLLIDED, 1)):
            code[f[:, col] > 0] = c
        return self.OUTCOMES[code]

    def outcome(self, e: int) -> str | None:
        """The outcome of env ``e`` (same priority as :meth:`outcomes`, without the array work)."""
        f = self.feats[e]
        for key, name in ((ob.F_COLLIDED, "collision"), (ob.F_GROUNDED, "grounding"), (ob.F_OUT, "left_map"),
                          (ob.F_REACHED, "goal")):  # fmt: skip
            if f[key] > 0:
                return name
        return "time_limit" if self.t[e // self.K] >= self.cfg.time_limit_s - 1e-9 else None

    def info(self, e: int) -> dict:
        """The ``info`` dict of env ``e`` (weighted reward components, outcome, key figures)."""
        f = self.feats[e].tolist()
        comps = (self.comps[e] * self.weights).tolist()
        rcomp = dict(zip(ob.COMPONENTS, comps, strict=True))
        if self.rules is not None:
            rcomp["rules"] = float(self.rules_reward[e])
        return {
            "reward_components": rcomp,
            "outcome": self.outcome(e),
            "is_success": f[ob.F_REACHED] > 0,
            "time_s": float(self.t[e // self.K]),
            "distance_to_goal_m": f[ob.F_DGOAL],
            "cross_track_m": f[ob.F_CROSS],
            "min_cpa_m": f[ob.F_MINCPA] if f[ob.F_MINCPA] < 1e8 else math.inf,
            "speed_over_ground_ms": f[ob.F_SOG],
            "goal": self.goal_name[e],
            "link": self.link.info(e) if self.link is not None else dict(IDEAL_LINK_INFO),
            **self._rules_info(e, comps),
        }

    def _rules_info(self, e: int, comps: list) -> dict:
        """``rule_violations`` (the ego's, this episode, per article id), ``rule_events`` (this step's new
        events in env e, every vessel) and the ``rules`` reward component."""
        rc = self.rules
        if rc is None:
            return {}
        env, k = divmod(e, self.K)
        return {"rule_violations": rc.counts_by_article(env, k),
                "rule_events": [v.to_dict() for v in rc.step_events if v.env == env]}
