"""``testbed demos``: record an agent's episodes as a Minari dataset (for offline RL and behaviour cloning).

    testbed demos --agent autopilot --scenario PortEntry-v1 --episodes 200 --out demos/
    testbed train scenario=PortEntry-v1 algo.pretrain=bc pretrain.dataset=demos/testbed/portentry-v1-autopilot-v0

The dataset goes to ``OUT/<dataset id>/`` (Minari's layout; ``MINARI_DATASETS_PATH=OUT`` lets
``minari.load_dataset(id)`` find it). Episode k is reset with seed 200,000,000 + k (see :mod:`agents.demos`).
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("demos", help="record an agent's episodes as a Minari dataset",
                       description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("--agent", default="autopilot", help="autopilot, random, idle or policy:DIR")
    p.add_argument("--scenario", required=True, help="registered id or YAML scenario (testbed list)")
    p.add_argument("overrides", nargs="*", help="scenario overrides, e.g. traffic.count=0")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--seed0", type=int, default=None, help="seed of the first episode (default 200,000,000)")
    p.add_argument("--dataset-id", default=None, help="Minari id (default testbed/<scenario>-<agent>-v0)")
    p.add_argument("--out", required=True, help="datasets root folder")
    p.set_defaults(func=run)


def run(args) -> int:
    from agents.demos import DEMO_SEED0, record_demos
    from testbed.cli import CLIError

    if args.episodes < 1:
        raise CLIError(f"--episodes must be >= 1, got {args.episodes}")
    rep = record_demos(args.agent, args.scenario, args.episodes, args.out, args.overrides,
                       DEMO_SEED0 if args.seed0 is None else args.seed0, args.dataset_id)  # fmt: skip
    print(f"wrote {rep['path']}: {rep['episodes']} episodes, {rep['steps']} steps, outcomes {rep['outcomes']} "
          f"({rep['wall_s']:.0f} s)")  # fmt: skip
    return 0
