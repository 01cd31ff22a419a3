"""Events derived from the recorded columns: onsets, the vessel involved, durations."""

from __future__ import annotations

import numpy as np

from testbed.observation import COMPONENTS
from testbed.replay.recorder import derive_events


def _episode(n=12, T=2):
    z = np.zeros(n, dtype=bool)
    cols = {
        "t": np.arange(n, dtype=float), "ego/x": np.zeros(n), "ego/y": np.zeros(n), "ego/sog": np.full(n, 3.0),
        "traffic/x": np.tile([50.0, 400.0], (n, 1)), "traffic/y": np.zeros((n, T)),
        "traffic/active": np.ones((n, T), dtype=np.uint8), "reward": np.zeros((n, len(COMPONENTS))),
        "link/handover": z.copy(), "link/cell": np.zeros(n, dtype=np.int16), "link/outage": z.copy(),
        "link/sinr": np.full(n, 5.0), "link/failsafe": z.copy(), "ego/collided": z.copy(), "ego/grounded": z.copy(),
        "ego/left_map": z.copy(), "ego/reached": z.copy(),
    }  # fmt: skip
    header = {"reward_names": list(COMPONENTS), "dt": 1.0, "goal": {"name": "berth-03"},
              "config": {"link": {"failsafe": "stop"}}, "link": {"cells": ["site-a/0", "site-b/1"]},
              "vessels": {"traffic": [{"name": "RHENUS", "mmsi": 211000001}, {"name": "FAR", "mmsi": 211000002}]}}  # fmt: skip
    return cols, header


def test_onsets_vessels_and_durations():
    cols, header = _episode()
    raw = np.zeros_like(cols["reward"])
    raw[3:6, COMPONENTS.index("near_miss")] = 1.0  # one near miss lasting 3 steps
    raw[8, COMPONENTS.index("near_miss")] = 1.0  # and a second one
    raw[4:7, COMPONENTS.index("speed_limit")] = 0.4
    cols["_comps_raw"] = raw  # raw components: events appear even when a weight is 0
    cols["link/cell"][5:] = 1
    cols["link/handover"][5] = True
    cols["link/outage"][7:10] = True
    cols["ego/collided"][-1] = True
    ev = derive_events(cols, header)
    kinds = [(e["step"], e["kind"]) for e in ev]
    assert kinds == [(3, "near_miss"), (4, "rule_violation"), (5, "handover"), (7, "outage"), (8, "near_miss"),
                     (11, "collision")]  # fmt: skip
    near = ev[0]
    assert near["vessel"] == 0 and "RHENUS (MMSI 211000001) at 50 m" in near["text"]
    assert ev[2]["text"] == "handover site-a/0 -> site-b/1"
    assert ev[3]["text"].startswith("link outage for 3 s")
    assert ev[-1]["vessel"] == 0 and ev[-1]["text"] == "collision with RHENUS (MMSI 211000001)"


def test_inactive_vessels_are_never_blamed():
    cols, header = _episode()
    cols["traffic/active"][:, 0] = 0  # the near one is inactive (e.g. left its lane)
    cols["ego/collided"][-1] = True
    ev = derive_events(cols, header)
    assert ev[-1]["vessel"] == 1 and "FAR" in ev[-1]["text"]
