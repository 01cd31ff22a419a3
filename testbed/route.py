"""Route planning on the lane network of a harbour map.

The fairway lanes of a map (:attr:`harbour_maps.HarbourMap.lanes`) become a graph:

- nodes: the lane vertices, densified to at most ``node_spacing_m`` apart;
- lane edges: consecutive nodes of a lane, one way along lanes with ``direction == "forward"`` (so a
  route keeps to the correct side of the Rhine), both ways along ``"both"`` lanes;
- junction edges: between nodes of different lanes closer than ``link_radius_m`` whose straight
  connection stays ``clearance_m`` clear of the banks (checked on the signed-distance raster), with a
  cost factor ``junction_cost`` so that routes follow lanes where they can.

A route from a start position to a goal position connects both ends to the visible nodes nearby and
takes the shortest path (Dijkstra, scipy). Planning happens at reset, never inside ``step``; the
result is a polyline that the environment's route features and the autopilot follow.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
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
            pts = _densify(lane.xy, node_spacing_m)
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
        start = np.asarray(start_xy, dtype=np.float64).reshape(2)
        goal = np.asarray(goal_xy, dtype=np.float64).reshape(2)
        r = attach_radius_m or self.link_radius_m
        for radius in (r, 2 * r, 4 * r):
            si, sd = self._attach(start, radius)
            gi, gd = self._attach(goal, radius)
            if si.size and gi.size:
                break
        else:
            raise RouteError(f"map {self.map.name!r}: start {start.round(1).tolist()} or goal "
                             f"{goal.round(1).tolist()} is not within {4 * r:.0f} m of a lane in clear water")  # fmt: skip
        n = len(self.nodes)
        S, G = n, n + 1
        rows = np.concatenate([self._rows, np.full(si.size, S), gi])
        cols = np.concatenate([self._cols, si, np.full(gi.size, G)])
        costs = np.concatenate([self._costs, sd + 1e-3, gd + 1e-3])
        graph = coo_matrix((costs, (rows, cols)), shape=(n + 2, n + 2)).tocsr()
        dist, pred = dijkstra(graph, directed=True, indices=S, return_predecessors=True)
        if not np.isfinite(dist[G]):
            raise RouteError(f"map {self.map.name!r}: no route along the lanes from "
                             f"{start.round(1).tolist()} to {goal.round(1).tolist()}")  # fmt: skip
        path = []
        k = pred[G]
        while k != S:
            path.append(k)
            k = pred[k]
        pts = np.vstack([start, self.nodes[path[::-1]], goal])
        return _simplify(pts)


def _densify(xy: np.ndarray, spacing: float) -> np.ndarray:
    out = [xy[0]]
    for a, b in zip(xy[:-1], xy[1:], strict=True):
        n = max(1, int(np.ceil(np.hypot(*(b - a)) / spacing)))
        t = np.arange(1, n + 1)[:, None] / n
        out.extend(a + (b - a) * t)
    return np.asarray(out)


def _simplify(pts: np.ndarray, min_len: float = 5.0) -> np.ndarray:
    """Drop repeated points (closer than min_len) but keep both ends."""
    keep = [0]
    for i in range(1, len(pts) - 1):
        if np.hypot(*(pts[i] - pts[keep[-1]])) >= min_len:
            keep.append(i)
    if np.hypot(*(pts[-1] - pts[keep[-1]])) < min_len and len(keep) > 1:
        keep.pop()
    keep.append(len(pts) - 1)
    return pts[keep]
