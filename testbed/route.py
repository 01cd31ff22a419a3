"""Route planning on the lane network of a harbour map.

The fairway lanes of a map (:attr:`harbour_maps.HarbourMap.lanes`) become a graph:

- nodes: the lane vertices, densified to at most ``node_spacing_m`` apart;
- lane edges: consecutive nodes of a lane, one way along lanes with ``direction == "forward"`` (so a
  route keeps to the correct side of the Rhine), both ways along ``"both"`` lanes;
- junction edges: between nodes of different lanes closer than ``link_radius_m`` whose straight
  connection stays ``clearance_m`` clear of the banks (checked on the signed-distance raster), with a
  cost factor ``junction_cost`` so that routes follow lanes where they can.

A route from a start position to a goal position connects both ends to the visible nodes nearby and
takes the shortest path. Planning happens at reset, never inside ``step``; the result is a polyline
that the environment's route features and the autopilot follow.

The search is scipy's Dijkstra on the lane graph plus the start and goal edges, computed fast: the graph
is kept in canonical CSR form and the start/goal edges are inserted without a COO round trip; a
compiled Dijkstra (indexed binary heap) stops once the goal is settled and serves several goals from
one start in one pass (:meth:`RoutePlanner.plan_many`). Where it meets an exact tie between two
candidate distances (which scipy's Fibonacci heap might break the other way) scipy's search on the same
graph decides, so the routes are exactly scipy's.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree


class RouteError(ValueError):
    """No route exists between the requested points."""


class RoutePlanner:
    def __init__(self, hmap, node_spacing_m: float = 40.0, link_radius_m: float = 200.0,
                 clearance_m: float = 10.0, junction_cost: float = 1.3) -> None:  # fmt: skip
        if not hmap.lanes:
            raise RouteError(f"map {hmap.name!r} has no lanes to plan a route on")
        self.map = hmap
        self.clearance_m = clearance_m
        self.link_radius_m = link_radius_m
        nodes, lane_of, rows, cols, costs = [], [], [], [], []
        base = 0
        for li, lane in enumerate(hmap.lanes):
            pts = densify(lane.xy, node_spacing_m)
            n = len(pts)
            nodes.append(pts)
            lane_of.append(np.full(n, li))
            seg = np.hypot(*np.diff(pts, axis=0).T)
            i = np.arange(base, base + n - 1)
            rows += [i]
            cols += [i + 1]
            costs += [seg]
            if lane.direction != "forward":
                rows += [i + 1]
                cols += [i]
                costs += [seg]
            base += n
        self.nodes = np.concatenate(nodes)
        self.lane_of = np.concatenate(lane_of)
        self._tree = cKDTree(self.nodes)
        pairs = self._tree.query_pairs(link_radius_m, output_type="ndarray")
        pairs = pairs[self.lane_of[pairs[:, 0]] != self.lane_of[pairs[:, 1]]]
        ok = self._clear(self.nodes[pairs[:, 0]], self.nodes[pairs[:, 1]])
        pairs = pairs[ok]
        d = np.hypot(*(self.nodes[pairs[:, 0]] - self.nodes[pairs[:, 1]]).T) * junction_cost
        rows += [pairs[:, 0], pairs[:, 1]]
        cols += [pairs[:, 1], pairs[:, 0]]
        costs += [d, d]
        self._rows = np.concatenate(rows)
        self._cols = np.concatenate(cols)
        self._costs = np.concatenate(costs)
        # the lane graph in canonical CSR form (rows sorted, columns sorted within a row), with room for the
        # start and goal nodes S = n, G = n + 1; plan() inserts their edges without a COO round trip
        n = len(self.nodes)
        base = coo_matrix((self._costs, (self._rows, self._cols)), shape=(n + 2, n + 2)).tocsr()
        self._csr = None
        self._goal_cache: dict = {}  # (goal bytes, radius) -> _attach result (read-only use)
        if base.nnz == len(self._rows):  # no duplicate edges (summed by tocsr): the fast graph is the same graph
            self._csr = (base.indptr.astype(np.int64), base.indices, base.data, np.diff(base.indptr))

    def _clear(self, a: np.ndarray, b: np.ndarray, step_m: float = 10.0) -> np.ndarray:
        """(N,) True where the straight segments a->b stay clearance_m away from the banks."""
        if len(a) == 0:
            return np.zeros(0, dtype=bool)
        length = np.hypot(*(b - a).T)
        k = max(2, int(np.ceil(length.max() / step_m)) + 1)
        t = np.linspace(0.0, 1.0, k)
        pts = a[:, None, :] + (b - a)[:, None, :] * t[None, :, None]
        sd = self.map.signed_distance(pts.reshape(-1, 2)).reshape(len(a), k)
        return sd.min(axis=1) >= self.clearance_m

    def _attach_goal(self, xy: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_attach` of a goal, remembered by its exact position (scenarios reuse a few goals)."""
        key = (xy.tobytes(), float(radius))
        hit = self._goal_cache.get(key)
        if hit is None:
            if len(self._goal_cache) >= 256:
                self._goal_cache.clear()
            hit = self._goal_cache[key] = self._attach(xy, radius)
        return hit

    def _attach(self, xy: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(self._tree.query_ball_point(xy, radius), dtype=np.intp)
        if idx.size == 0:
            return idx, np.zeros(0)
        src = np.repeat(xy[None, :], idx.size, axis=0)
        ok = self._clear_endpoint(src, self.nodes[idx])
        idx = idx[ok]
        return idx, np.hypot(*(self.nodes[idx] - xy).T)

    def _clear_endpoint(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Like _clear, but the free end (a start or goal) may itself lie close to a bank or quay."""
        length = np.hypot(*(b - a).T)
        k = max(2, int(np.ceil(length.max() / 10.0)) + 1)
        t = np.linspace(0.0, 1.0, k)
        pts = a[:, None, :] + (b - a)[:, None, :] * t[None, :, None]
        sd = self.map.signed_distance(pts.reshape(-1, 2)).reshape(len(a), k)
        return sd.min(axis=1) > 0.0

    def plan(self, start_xy, goal_xy, attach_radius_m: float | None = None) -> np.ndarray:
        """(P, 2) polyline from ``start_xy`` to ``goal_xy`` along the lane network."""
        route = self.plan_many(start_xy, [goal_xy], attach_radius_m)[0]
        if isinstance(route, RouteError):
            raise route
        return route

    def plan_many(self, start_xy, goals, attach_radius_m: float | None = None) -> list:
        """:meth:`plan` from one start to each of ``goals``, sharing one search: per goal the (P, 2)
        polyline, or the :class:`RouteError` that :meth:`plan` would raise for it."""
        start = np.asarray(start_xy, dtype=np.float64).reshape(2)
        r = attach_radius_m or self.link_radius_m
        out: list = [None] * len(goals)
        groups: dict[float, list] = {}  # attach radius -> (goal index, goal, gi, gd)
        starts: dict[float, tuple] = {}
        for q, goal_xy in enumerate(goals):
            goal = np.asarray(goal_xy, dtype=np.float64).reshape(2)
            for radius in (r, 2 * r, 4 * r):
                if radius not in starts:
                    starts[radius] = self._attach(start, radius)
                si = starts[radius][0]
                gi, gd = self._attach_goal(goal, radius)
                if si.size and gi.size:
                    groups.setdefault(radius, []).append((q, goal, gi, gd))
                    break
            else:
                out[q] = RouteError(f"map {self.map.name!r}: start {start.round(1).tolist()} or goal "
                                    f"{goal.round(1).tolist()} is not within {4 * r:.0f} m of a lane in clear water")  # fmt: skip
        for radius, members in groups.items():
            si, sd = starts[radius]
            found = self._shortest_many(si, sd + 1e-3, [(gi, gd + 1e-3) for _, _, gi, gd in members])
            for (q, goal, _, _), (dist_g, path) in zip(members, found, strict=True):
                if not np.isfinite(dist_g):
                    out[q] = RouteError(f"map {self.map.name!r}: no route along the lanes from "
                                        f"{start.round(1).tolist()} to {goal.round(1).tolist()}")  # fmt: skip
                    continue
                out[q] = _simplify(np.vstack([start, self.nodes[path], goal]))
        return out

    def _shortest_many(self, si: np.ndarray, s_cost: np.ndarray, goals: list) -> list:
        """Per goal (gi, g_cost): (distance to G, the path's nodes from S to G, both excluded) of Dijkstra from
        S over the lane graph plus S -> si and gi -> G (S = n, G = n + 1), as scipy's ``dijkstra`` gives them
        on that graph (path None where G is not reached). One compiled search serves all goals (each
        G a sink, which changes no other node's distance); it stops once every G is settled. Where it meets
        an exact tie (a candidate distance equal to a node's current one, which scipy's heap may break the
        other way) scipy's search on the same CSR graph decides instead, goal by goal."""
        n = len(self.nodes)
        if self._csr is not None:
            indptr, indices, data, _ = self._csr
            cnt = np.zeros(n + 1, dtype=np.int64)
            for gi, _ in goals:
                cnt[gi + 1] += 1
            g_ptr = np.cumsum(cnt)
            g_goal = np.empty(g_ptr[-1], dtype=np.int64)
            g_cost = np.empty(g_ptr[-1])
            fill = g_ptr[:-1].copy()
            for k, (gi, gc) in enumerate(goals):  # goal by goal: each node's goal edges in goal order
                g_goal[fill[gi]] = k
                g_cost[fill[gi]] = gc
                fill[gi] += 1
            order = np.argsort(si, kind="stable")
            dist, pred, tie = _dijkstra_to_goals(indptr, indices, data, si[order].astype(np.int64), s_cost[order],
                                                 g_ptr, g_goal, g_cost, len(goals))  # fmt: skip
            if not tie:
                return [(dist[n + 1 + k], _walk(pred, n, n + 1 + k) if np.isfinite(dist[n + 1 + k]) else None)
                        for k in range(len(goals))]  # fmt: skip
        out = []
        for gi, gc in goals:
            dist, pred = dijkstra(self._graph(si, s_cost, gi, gc), directed=True, indices=n, return_predecessors=True)
            ok = np.isfinite(dist[n + 1])
            out.append((dist[n + 1], _walk(pred.astype(np.int64), n, n + 1) if ok else None))
        return out

    def _graph(self, si: np.ndarray, s_cost: np.ndarray, gi: np.ndarray, g_cost: np.ndarray) -> csr_matrix:
        """The lane graph plus edges S -> si and gi -> G (S = n, G = n + 1), in the canonical CSR form that
        ``coo_matrix(...).tocsr()`` of all edges gives (so Dijkstra sees the same arrays in the same order)."""
        n = len(self.nodes)
        S, G = n, n + 1
        if self._csr is None:
            rows = np.concatenate([self._rows, np.full(si.size, S), gi])
            cols = np.concatenate([self._cols, si, np.full(gi.size, G)])
            costs = np.concatenate([self._costs, s_cost, g_cost])
            return coo_matrix((costs, (rows, cols)), shape=(n + 2, n + 2)).tocsr()
        indptr, indices, data, row_len = self._csr
        extra = np.zeros(n + 2, dtype=np.int64)
        extra[gi] = 1  # one edge to G at the end of each row gi (G is the largest column)
        extra[S] = si.size
        new_len = row_len + extra
        new_ptr = np.zeros(n + 3, dtype=np.int64)
        np.cumsum(new_len, out=new_ptr[1:])
        nnz = int(new_ptr[-1])
        new_idx = np.empty(nnz, dtype=indices.dtype)
        new_dat = np.empty(nnz, dtype=np.float64)
        pos = np.arange(len(indices)) + np.repeat(new_ptr[:-1] - indptr[:-1], row_len)
        new_idx[pos] = indices
        new_dat[pos] = data
        ends = new_ptr[gi + 1] - 1
        new_idx[ends] = G
        new_dat[ends] = g_cost
        order = np.argsort(si, kind="stable")
        a = new_ptr[S]
        new_idx[a:a + si.size] = si[order]
        new_dat[a:a + si.size] = s_cost[order]
        return csr_matrix((new_dat, new_idx, new_ptr.astype(indices.dtype)), shape=(n + 2, n + 2))


@numba.njit(cache=True)
def _dijkstra_to_goals(indptr, indices, data, si, s_cost, g_ptr, g_goal, g_cost, m):
    """Dijkstra from S = n (edges to ``si``) over the CSR lane graph, with sinks G_k = n + 1 + k reached
    from node u over the edges ``g_ptr[u]:g_ptr[u + 1]`` of ``g_goal`` / ``g_cost``; an indexed binary heap
    (decrease-key), stopping once all m sinks are settled. Returns (dist, pred, tie): ``tie`` is True when
    a relaxation produced exactly a node's current tentative distance (where scipy's heap might choose
    otherwise)."""
    n = len(g_ptr) - 1
    S = n
    N = n + 1 + m
    dist = np.full(N, np.inf)
    pred = np.full(N, -9999, dtype=np.int64)
    done = np.zeros(N, dtype=np.bool_)
    pos = np.full(N, -1, dtype=np.int64)  # heap position of a node, -1: not in the heap
    hk = np.empty(N)
    hv = np.empty(N, dtype=np.int64)
    hk[0] = 0.0
    hv[0] = S
    pos[S] = 0
    dist[S] = 0.0
    size = 1
    tie = False
    left = m
    while size > 0:
        key = hk[0]
        u = hv[0]
        pos[u] = -1
        size -= 1
        if size > 0:
            k = hk[size]
            v = hv[size]
            i = 0
            while True:
                c = 2 * i + 1
                if c >= size:
                    break
                if c + 1 < size and hk[c + 1] < hk[c]:
                    c += 1
                if hk[c] < k:
                    hk[i] = hk[c]
                    hv[i] = hv[c]
                    pos[hv[i]] = i
                    i = c
                else:
                    break
            hk[i] = k
            hv[i] = v
            pos[v] = i
        done[u] = True
        if u > S:  # a goal sink
            left -= 1
            if left == 0:
                break
            continue
        if u == S:
            a, b = 0, len(si)
        else:
            a, b = indptr[u], indptr[u + 1]
            b += g_ptr[u + 1] - g_ptr[u]
        for q in range(a, b):
            if u == S:
                j = si[q]
                w = s_cost[q]
            elif q < indptr[u + 1]:
                j = indices[q]
                w = data[q]
            else:
                e = g_ptr[u] + q - indptr[u + 1]
                j = n + 1 + g_goal[e]
                w = g_cost[e]
            if done[j]:
                continue
            c = key + w
            if c < dist[j]:
                dist[j] = c
                pred[j] = u
                i = pos[j]
                if i < 0:
                    i = size
                    size += 1
                while i > 0:
                    p = (i - 1) >> 1
                    if hk[p] > c:
                        hk[i] = hk[p]
                        hv[i] = hv[p]
                        pos[hv[i]] = i
                        i = p
                    else:
                        break
                hk[i] = c
                hv[i] = j
                pos[j] = i
            elif c == dist[j]:
                tie = True
    return dist, pred, tie


@numba.njit(cache=True)
def _walk(pred, S, g):
    """The nodes on the predecessor chain from S to ``g`` (both excluded), in order from S."""
    m = 0
    k = pred[g]
    while k != S:
        m += 1
        k = pred[k]
    out = np.empty(m, dtype=np.int64)
    k = pred[g]
    while k != S:
        m -= 1
        out[m] = k
        k = pred[k]
    return out


def densify(p: np.ndarray, step: float) -> np.ndarray:
    """Points every <= ``step`` metres along the polyline ``p`` (vectorised; the same numbers as the
    per-segment ``a + (b - a) * k / n``)."""
    if len(p) < 2:
        return p[:1].copy()
    d = p[1:] - p[:-1]
    n = np.array([max(1, int(math.ceil(math.hypot(*row) / step))) for row in d.tolist()], dtype=np.int64)
    idx = np.repeat(np.arange(len(n)), n)
    k = np.arange(int(n.sum()), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n) + 1
    return np.vstack([p[:1], p[:-1][idx] + d[idx] * (k / n[idx])[:, None]])


def _simplify(pts: np.ndarray, min_len: float = 5.0) -> np.ndarray:
    """Drop repeated points (closer than min_len) but keep both ends."""
    n = len(pts)
    if n > 2:  # fast path: every inner point is min_len from its predecessor, so each one is kept
        step = np.hypot(pts[1:-1, 0] - pts[:-2, 0], pts[1:-1, 1] - pts[:-2, 1])
        if (step >= min_len).all():
            if np.hypot(*(pts[-1] - pts[-2])) < min_len:
                return np.concatenate([pts[:-2], pts[-1:]])
            return pts[np.arange(n)]
    return _simplify_loop(pts, min_len)


def _simplify_loop(pts: np.ndarray, min_len: float = 5.0) -> np.ndarray:
    """:func:`_simplify` point by point (also the reference its fast path is tested against)."""
    keep = [0]
    for i in range(1, len(pts) - 1):
        if np.hypot(*(pts[i] - pts[keep[-1]])) >= min_len:
            keep.append(i)
    if np.hypot(*(pts[-1] - pts[keep[-1]])) < min_len and len(keep) > 1:
        keep.pop()
    keep.append(len(pts) - 1)
    return pts[keep]
