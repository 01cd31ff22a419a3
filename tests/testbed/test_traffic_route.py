"""Scripted traffic behaviour, the route planner and the perception pass on real maps."""

import math

import numpy as np
import pytest

from testbed.config import ConfigError
from testbed.route import RouteError, RoutePlanner
from testbed.scenarios import compose_scenario, get
from testbed.world import World, map_bundle


def _world(scenario, **traffic):
    from dataclasses import replace

    cfg = get(scenario)
    cfg = replace(cfg, traffic=replace(cfg.traffic, **traffic))
    w = World(cfg, 1)
    w.reset_env(0, 0)
    return w


def test_follower_stops_behind_a_stopped_vessel_and_never_overlaps():
    w = _world("Channel-v0", count=2, lanes=["lane_east"], speed_ms=[3.0, 3.0])
    tr = w.traffic
    lane = tr.lanes
    # leader stopped at 1200 m, follower at 500 m; the ego parked far away on the other lane
    for i, (s, u) in enumerate([(1200.0, 0.0), (500.0, 3.0)]):
        x, y, psi = lane.point_at(0, s)
        tr.state.x[i], tr.state.y[i], tr.state.psi[i], tr.state.u[i] = x, y, psi, u
        tr.u_target[i] = u
        tr.seg[i] = int(np.searchsorted(lane.s[lane.start[0]:lane.start[1]], s) - 1)
        tr.active[i] = 1
    w.ego.x[0], w.ego.y[0], w.ego.u[0], w.ego.n[0] = -950.0, 40.0, 0.0, 0.0
    gaps = []
    for _ in range(600):
        w.step(np.zeros((1, 2)))
        d = math.hypot(tr.state.x[0] - tr.state.x[1], tr.state.y[0] - tr.state.y[1])
        gaps.append(d - 0.5 * (tr.length[0] + tr.length[1]))
    assert min(gaps) > 0.5 * tr.cfg.keep_clear_m  # slowed down in time, never ran into the leader
    assert abs(tr.state.u[1]) < 0.3  # and stopped behind it
    assert gaps[0] > 500 and gaps[-1] < 250  # it did close up first


def test_traffic_follows_its_lane_at_its_target_speed():
    w = _world("PortEntry-v0", count=6, source="scripted")
    tr = w.traffic
    w.ego.x[0], w.ego.y[0], w.ego.u[0], w.ego.n[0] = 2000.0, 300.0, 0.0, 0.0  # in basin C, out of the way
    for _ in range(300):
        w.step(np.zeros((1, 2)))
    act = tr.active.astype(bool)
    assert act.sum() >= 4
    xy = np.column_stack([tr.state.x[act], tr.state.y[act]])
    lc = w.map.lane_coordinates(xy)
    assert np.all(np.abs(lc.cross_m) < 40.0)  # on their lanes
    assert np.all(w.map.signed_distance(xy) > 20.0)  # never near the banks
    assert np.allclose(tr.state.u[act], tr.u_target[act], atol=0.3)


def test_route_planner_on_duisburg():
    hmap, planner, harbour = map_bundle("duisburg_ruhrort")
    berth = {b.id: b for b in hmap.berths}["berth-05"]
    down = {ln.id: ln for ln in hmap.lanes}["lane-rhine-down"]
    start = down.xy[np.searchsorted(down.km, 778.5)]
    route = planner.plan(start, berth.xy)
    pts = np.vstack([np.linspace(a, b, 20) for a, b in zip(route[:-1], route[1:], strict=True)])
    assert np.all(hmap.signed_distance(pts) > 0.0)  # the whole route lies in water
    assert np.allclose(route[0], start) and np.allclose(route[-1], berth.xy)
    assert 1500 < np.hypot(*np.diff(route, axis=0).T).sum() < 6000
    assert harbour.sum() > 0 and harbour[-1] == 0  # basins flagged, the land sentinel not
    with pytest.raises(RouteError):
        RoutePlanner(hmap).plan(np.array([5000.0, 5000.0]), berth.xy)  # far inland


def test_perception_targets_sorted_with_cpa():
    w = _world("Channel-v0", count=2, lanes=["lane_west"])
    oc = w.cfg.observation
    base = 19 + oc.n_rays
    o = w.obs[0]
    present = o[base::9][: oc.n_targets]
    assert present[0] == 1.0 and present[1] == 1.0 and present[2:].sum() == 0
    d = [math.hypot(o[base + 9 * k + 1], o[base + 9 * k + 2]) for k in range(2)]
    assert d[0] <= d[1]
    # rays: the channel is 150 m wide, the ego near its middle: the beam rays are short, ahead is long
    rays = o[19:19 + oc.n_rays] * w.ray_range
    ang = np.degrees(w.angles)
    beam = rays[np.isclose(np.abs(ang), 90.0)]
    assert np.all((beam > 20) & (beam < 140))
    assert rays[np.isclose(ang, 0.0)][0] > 500


def test_hydra_compose_conf_yaml_and_errors():
    cfg = compose_scenario("port_entry_busy", ["traffic.count=7"])
    assert cfg.traffic.count == 7 and cfg.discharge_m3s == 1030.0 and cfg.map == "duisburg_ruhrort"
    assert compose_scenario("testbed/Channel-v0").name == "Channel-v0"
    with pytest.raises(ConfigError, match="cnt"):
        compose_scenario("Channel-v0", ["traffic.cnt=1"])
    with pytest.raises(ConfigError):
        compose_scenario("NoSuchScenario-v0")


def test_cli_run_writes_summaries_and_gif(tmp_path, capsys):
    import json

    from testbed.cli import main

    rc = main(["run", "Channel-v0", "time_limit_s=30", "--agent", "random", "--episodes", "2", "--seed", "3",
               "--render", "png", "--frame-every", "10", "--out", str(tmp_path)])  # fmt: skip
    assert rc == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["episodes"]) == 2 and summary["scenario"] == "Channel-v0"
    ep = json.loads((tmp_path / "episode_001.json").read_text())
    assert ep["seed"] == 4 and ep["outcome"] in ("time_limit", "grounding", "collision", "goal", "left_map")
    assert sum(ep["reward_components"].values()) == pytest.approx(ep["return"])
    assert (tmp_path / "episode_000.gif").read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    assert main(["run", "Channel-v0", "traffic.cnt=1", "--out", str(tmp_path)]) == 2
    assert "cnt" in capsys.readouterr().err
