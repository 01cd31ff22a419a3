"""``testbed export RUN_DIR --out DIR``: a trained run as a policy folder loadable without pickle.

    testbed export runs/PortEntry-v1/ppo_seed0 --out policy/ [--which best|last]
    testbed run PortEntry-v1 --agent policy:policy/ --episodes 5 --render png --out out/watch

Writes ``policy.onnx``, ``obs_norm.npz`` (when the run normalised observations) and ``policy.json``
(:mod:`agents.export`, :mod:`agents.loader`). The folder is also a valid hackathon submission.
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("export", help="export a trained run as ONNX + policy.json (no pickle)",
                       description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("run_dir", help="a run directory of `testbed train`")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--which", choices=["best", "last"], default="best",
                   help="the best evaluated model (default) or the last checkpoint")
    p.set_defaults(func=run)


def run(args) -> int:
    from agents.export import export_run
    from agents.loader import load_policy

    out = export_run(args.run_dir, args.out, args.which)
    load_policy(f"policy:{out}")  # check that what we wrote loads
    print(f"wrote {out}/policy.onnx, policy.json{', obs_norm.npz' if (out / 'obs_norm.npz').exists() else ''}")
    return 0
