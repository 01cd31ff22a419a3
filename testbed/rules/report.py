"""Rule violations of whole runs: the episode record and the traffic check (``testbed rules check``)."""

from __future__ import annotations

from testbed.rules.articles import ARTICLE_IDS


def episode_record(world, e: int = 0) -> dict:
    """``rule_violations`` (the ego's per article id), ``traffic_rule_violations`` (events with a traffic
    vessel at fault) and ``rule_events`` (every event of the episode that involves the ego) of env ``e``."""
    rc = world.rules
    if rc is None:
        return {}
    return {"rule_violations": rc.counts_by_article(e, 0), "traffic_rule_violations": rc.traffic_counts(e),
            "rule_events": [v.to_dict() for v in rc.events[e] if "ego" in v.vessels]}


def check_run(cfg, hours: float, seed: int, agent: str = "autopilot", progress=None) -> dict:
    """Episodes of scenario ``cfg`` (seeds seed, seed + 1, ...) until ``hours`` of simulated time, with the
    ego sailed by ``agent`` ("autopilot" or "idle": engine and rudder at zero). Returns totals per article
    for the traffic (at fault) and the ego (at fault), the episodes and every traffic event."""
    import numpy as np

    from testbed.env import DuisburgEnv

    env = DuisburgEnv(cfg)
    if env.world.rules is None:
        raise ValueError(f"scenario {cfg.name!r}: rules.enabled is false")
    oc = cfg.observation
    policy = None
    if agent == "autopilot":
        from agents.autopilot import Autopilot

        policy = Autopilot(n_rays=oc.n_rays, n_targets=oc.n_targets)
    traffic = dict.fromkeys(ARTICLE_IDS, 0)
    ego = dict.fromkeys(ARTICLE_IDS, 0)
    events, episodes = [], []
    t_total, ep = 0.0, 0
    while t_total < hours * 3600.0 - 1e-9:
        obs, info = env.reset(seed=seed + ep)
        if policy is not None:
            policy.reset()
        while True:
            a = policy.act(obs) if policy is not None else np.zeros(2, dtype=np.float32)
            obs, _, term, trunc, info = env.step(a)
            if term or trunc or t_total + info["time_s"] >= hours * 3600.0 - 1e-9:
                break
        rec = episode_record(env.world, 0)
        for k, v in rec["traffic_rule_violations"].items():
            traffic[k] += v
        for k, v in rec["rule_violations"].items():
            ego[k] += v
        events += [v.to_dict() | {"episode": ep, "seed": seed + ep} for v in env.world.rules.events[0]
                   if any(n.startswith("traffic") for n in v.at_fault)]
        episodes.append({"episode": ep, "seed": seed + ep, "time_s": info["time_s"], "outcome": info["outcome"],
                         "ego": rec["rule_violations"], "traffic": rec["traffic_rule_violations"]})
        t_total += info["time_s"]
        if progress is not None:
            progress(episodes[-1], t_total)
        ep += 1
    return {"scenario": cfg.name, "agent": agent, "seed": seed, "hours": t_total / 3600.0,
            "traffic_vessels": cfg.traffic.count, "traffic_source": cfg.traffic.source,
            "traffic_violations": traffic, "ego_violations": ego, "episodes": episodes, "traffic_events": events}


def replay_events(violations, dt: float) -> list[dict]:
    """Violations as replay events (``testbed/replay/format.py``: step, t, kind ``rule_violation``, vessel,
    x, y, text), for the replay recorder's event list. ``vessel`` is the traffic index for traffic at
    fault and None for the ego; the text starts with the article."""
    out = []
    for v in violations:
        who = v.at_fault[0]
        out.append({"step": int(round(v.time_s / dt)), "t": v.time_s, "kind": "rule_violation",
                    "vessel": int(who.split("_")[1]) if who.startswith("traffic_") else None,
                    "x": v.x, "y": v.y, "text": f"{v.article}: {v.explanation}"})
    return out
