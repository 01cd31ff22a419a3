"""The fast paths of reset and step give exactly what the straightforward code gives (issue 10 §4)."""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import coo_matrix

from testbed.route import _simplify, _simplify_loop
from testbed.world import map_bundle


def test_planner_graph_is_the_coo_graph():
    """The CSR with the start and goal edges inserted is array for array the one tocsr() builds."""
    _, planner, _ = map_bundle("duisburg_ruhrort")
    assert planner._csr is not None
    n = len(planner.nodes)
    rng = np.random.default_rng(0)
    for _ in range(40):
        si = rng.choice(n, size=int(rng.integers(0, 30)), replace=False)
        gi = rng.choice(n, size=int(rng.integers(1, 30)), replace=False)
        sc, gc = rng.uniform(1, 300, si.size), rng.uniform(1, 300, gi.size)
        fast = planner._graph(si, sc, gi, gc)
        rows = np.concatenate([planner._rows, np.full(si.size, n), gi])
        cols = np.concatenate([planner._cols, si, np.full(gi.size, n + 1)])
        ref = coo_matrix((np.concatenate([planner._costs, sc, gc]), (rows, cols)), shape=(n + 2, n + 2)).tocsr()
        assert np.array_equal(fast.indptr, ref.indptr)
        assert np.array_equal(fast.indices, ref.indices)
        assert np.array_equal(fast.data, ref.data)


def test_simplify_matches_the_loop():
    rng = np.random.default_rng(1)
    for k in range(300):
        n = int(rng.integers(2, 40))
        steps = rng.uniform(0.0, 12.0 if k % 2 else 60.0, (n, 2))
        pts = np.cumsum(steps, axis=0)
        if k % 3 == 0:
            pts[-1] = pts[-2] + 1.0  # an end closer than min_len to the last inner point
        assert np.array_equal(_simplify(pts), _simplify_loop(pts))


def test_compiled_dijkstra_plans_the_scipy_routes():
    """Routes between random water points: the compiled search (with its scipy fallback on exact ties)
    gives the same polylines as scipy's Dijkstra on the COO-built graph, and it decides most of them."""
    import testbed.route as route

    hmap, planner, _ = map_bundle("duisburg_ruhrort")
    water = hmap.rasters.water_xy()
    rng = np.random.default_rng(2)
    csr, decided = planner._csr, 0
    orig = route._dijkstra_to_goals
    try:
        def spy(*a):
            nonlocal decided
            out = orig(*a)
            decided += not out[2]
            return out

        route._dijkstra_to_goals = spy
        for _ in range(120):
            a, b = water[rng.integers(len(water))], water[rng.integers(len(water))]
            fast = planner.plan(a, b)
            planner._csr = None
            ref = planner.plan(a, b)
            planner._csr = csr
            assert np.array_equal(fast, ref)
    finally:
        planner._csr = csr
        route._dijkstra_to_goals = orig
    assert decided > 60


def test_nearest_lane_matches_the_lane_loop():
    from testbed.traffic import LaneTable

    hmap = map_bundle("duisburg_ruhrort")[0]
    lanes = LaneTable(hmap)
    water = hmap.rasters.water_xy()
    rng = np.random.default_rng(3)
    for _ in range(400):
        x, y = water[rng.integers(len(water))] + rng.normal(0.0, 5.0, 2)
        psi = float(rng.uniform(-4.0, 4.0))
        assert lanes.nearest(float(x), float(y), psi) == lanes._nearest_loop(float(x), float(y), psi)


def test_replay_track_clearance_matches_per_track():
    """The compiled start/goal clearance test of the AIS replay reset, track by track against _min_dist."""
    from testbed.env import resolve_config
    from testbed.traffic import _min_dist, _tracks_near
    from testbed.world import World

    pk = World(resolve_config("PortEntry-v1", None, {}), 1).traffic.replay
    rng = np.random.default_rng(4)
    live = np.arange(pk.n_tracks, dtype=np.int64)
    t0, t1 = pk.span()
    hits = 0
    for _ in range(60):
        lo = rng.uniform(t0, t1)
        hi = lo + rng.uniform(10.0, 3000.0)
        k = int(rng.integers(pk.n_tracks))  # points near a recorded sample, so that some tracks are near
        s = int(rng.integers(pk.start[k], pk.start[k + 1]))
        pts = np.array([[pk.x[s], pk.y[s]]]) + rng.normal(0.0, 200.0, (int(rng.integers(1, 3)), 2))
        clear = float(rng.uniform(50.0, 400.0))
        got = _tracks_near(pk.t, pk.x, pk.y, pk.start, live, lo, hi, pts, clear)
        for q in live:
            a, b = pk.start[q], pk.start[q + 1]
            m = (pk.t[a:b] >= lo) & (pk.t[a:b] <= hi)
            want = any(_min_dist(pk.x[a:b][m], pk.y[a:b][m], p) <= clear for p in pts)
            assert got[q] == want
            hits += want
    assert hits > 0


def test_compiled_hypot_is_numpy_hypot():
    """The replay clearance kernel's math.hypot gives numpy's np.hypot, bit for bit."""
    import numba

    @numba.njit
    def hyp(a, b, out):
        for i in range(len(a)):
            out[i] = math.hypot(a[i], b[i])

    rng = np.random.default_rng(6)
    a = rng.normal(0.0, 1.0, 20000) * 10.0 ** rng.uniform(-3, 5, 20000)
    b = rng.normal(0.0, 1.0, 20000) * 10.0 ** rng.uniform(-3, 5, 20000)
    out = np.empty_like(a)
    hyp(a, b, out)
    assert np.array_equal(out, np.hypot(a, b))


def test_plan_many_is_plan_per_goal():
    """One search for several goals gives each goal the route plan() (scipy's search) gives it."""
    hmap, planner, _ = map_bundle("duisburg_ruhrort")
    water = hmap.rasters.water_xy()
    rng = np.random.default_rng(5)
    csr = planner._csr
    try:
        for _ in range(40):
            a = water[rng.integers(len(water))]
            goals = [water[rng.integers(len(water))] for _ in range(int(rng.integers(1, 4)))]
            many = planner.plan_many(a, goals)
            planner._csr = None
            for g, got in zip(goals, many, strict=True):
                assert np.array_equal(got, planner.plan(a, g))
            planner._csr = csr
    finally:
        planner._csr = csr


def test_sb3_done_infos_match_the_vector_env():
    """The SB3 adapter's per-env figures at an episode's end (built only for the envs that ended) are the
    native VectorEnv's for the same seeds and actions: outcome, is_success and the final observation."""
    from testbed.vector_env import DuisburgVectorEnv, SB3VecEnv

    kw = {"overrides": ["time_limit_s=400"]}
    sb3 = SB3VecEnv("PortEntry-v1", num_envs=4, seed=7, **kw)
    native = DuisburgVectorEnv(4, "PortEntry-v1", **kw)
    assert np.array_equal(sb3.reset(), native.reset(seed=7)[0])
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.uniform(-1.0, 1.0, (4, 2)).astype(np.float32)
        a[:2] = (1.0, 1.0)  # hard over at full revs: some envs ground or collide before the time limit
        sb3.step_async(a)
        _, rew, done, infos = sb3.step_wait()
        obs, nrew, term, trunc, ninfo = native.step(a)
        assert np.array_equal(rew, nrew.astype(np.float32))
        if done.any():
            break
    assert done.any() and np.array_equal(done, term | trunc)
    assert "grounding" in [infos[e]["outcome"] for e in np.flatnonzero(done)]
    for e in np.flatnonzero(done):
        assert infos[e]["outcome"] == ninfo["outcome"][e]
        assert infos[e]["is_success"] == bool(ninfo["is_success"][e])
        assert infos[e]["TimeLimit.truncated"] == bool(trunc[e] and not term[e])
        assert np.array_equal(infos[e]["terminal_observation"], obs[e])
    assert all(infos[e] == {} for e in np.flatnonzero(~done))
