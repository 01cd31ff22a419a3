"""``testbed train``: train an agent (Hydra app; configs in ``testbed/conf/train/`` and ``testbed/conf/algo/``).

    testbed train scenario=PortEntry-v1 algo=ppo total_steps=2e6 seed=0
    testbed train -m algo=ppo,sac seed=0,1,2          # a sweep: Hydra multirun, joblib launcher (2 jobs)
    testbed train -m hydra/launcher=slurm seed=0,1,2  # the same sweep on a SLURM cluster (submitit)
    testbed train --config-name port_entry            # a shipped preset (testbed/conf/train/port_entry.yaml)
    testbed train resume runs/PortEntry-v1/ppo_seed0  # continue after a crash or kill -9
    tensorboard --logdir runs/

A run writes ``config.yaml``, ``checkpoints/``, ``best/``, ``tb/``, ``progress.csv``,
``evaluations.csv`` and ``report.json`` into ``run_dir`` (default ``runs/SCENARIO/ALGO_seedSEED``; see
:mod:`agents.train`). A run directory that already holds a run needs ``resume`` or ``--force``.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from importlib import resources
from pathlib import Path


def conf_dir() -> str:
    """The package's config root (``testbed/conf``), found with importlib.resources."""
    return str(resources.files("testbed") / "conf")


def register(sub) -> None:
    p = sub.add_parser("train", help="train an agent (PPO, SAC, TD3, RecurrentPPO); Hydra overrides; resume",
                       description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("overrides", nargs="*",
                   help="Hydra overrides (scenario=..., algo=ppo|sac|td3|recurrent_ppo, total_steps=..., seed=...) "
                        "or: resume RUN_DIR")  # fmt: skip
    p.add_argument("-m", "--multirun", action="store_true", help="sweep over comma-separated values (Hydra)")
    p.add_argument("--force", action="store_true", help="replace an existing run directory")
    p.add_argument("--config-name", default="config", help="a config of testbed/conf/train/ (default: config)")
    p.set_defaults(func=run)


def compose_train(overrides: list[str], config_name: str = "config") -> dict:
    """The resolved training config as a plain dict; bad keys, algorithms or scenarios raise CLIError."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from agents.train import ALGOS, TrainError, scenario_config
    from testbed.cli import CLIError
    from testbed.config import ConfigError

    if not (Path(conf_dir()) / "train" / f"{config_name}.yaml").is_file():
        raise CLIError(f"--config-name {config_name!r}: no {conf_dir()}/train/{config_name}.yaml")
    for o in overrides:
        if o.startswith(("algo=", "+algo=")) and o.split("=", 1)[1] not in ALGOS:
            raise CLIError(f"override {o!r}: unknown algorithm; known: {', '.join(ALGOS)}")
    try:
        with initialize_config_dir(version_base="1.3", config_dir=conf_dir()):
            node = compose(f"train/{config_name}", overrides=list(overrides))
        node = OmegaConf.masked_copy(node, [k for k in node if k != "hydra"])
        cfg = OmegaConf.to_container(node, resolve=True)
    except (HydraException, OmegaConfBaseException) as exc:
        lines = [ln.strip() for ln in str(exc).strip().splitlines()
                 if ln.strip() and not ln.strip().startswith(("full_key", "object_type", "reference_type"))]
        raise CLIError(f"train config: {' '.join(lines[:3])}") from None
    try:
        scenario_config(cfg)
        pre = (cfg.get("algo") or {}).get("pretrain")
        if pre is not None and pre != "bc":
            raise TrainError(f"algo.pretrain={pre!r}: unknown; known: bc")
        if pre == "bc":
            ds = (cfg.get("pretrain") or {}).get("dataset")
            if not ds:
                raise TrainError("algo.pretrain=bc needs pretrain.dataset=DIR (a dataset of `testbed demos`)")
            if not (Path(ds) / "data").is_dir():
                raise TrainError(f"pretrain.dataset={ds}: not a Minari dataset folder (no data/)")
        total = float(cfg["total_steps"])
        if not total >= 1:
            raise TrainError(f"total_steps={cfg['total_steps']}: must be >= 1")
    except (ConfigError, TrainError, ValueError) as exc:
        raise CLIError(str(exc).splitlines()[0]) from None
    return cfg


def _existing(run_dir: Path) -> bool:
    return (run_dir / "config.yaml").exists() or (run_dir / "checkpoints").exists()


def run(args) -> int:
    from testbed.cli import CLIError

    ov = list(args.overrides)
    if ov and ov[0] == "resume":
        if len(ov) != 2:
            raise CLIError("usage: testbed train resume RUN_DIR")
        return resume(Path(ov[1]))
    if args.multirun:
        return multirun(ov, args.config_name, args.force)
    cfg = compose_train(ov, args.config_name)
    cfg["command"] = "testbed train " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == [
        "train"] else "testbed train " + " ".join(shlex.quote(a) for a in ov)  # fmt: skip
    run_dir = Path(cfg["run_dir"])
    if _existing(run_dir):
        if not (args.force or cfg.get("force")):
            raise CLIError(f"{run_dir}: already holds a run; continue it with `testbed train resume {run_dir}` "
                           "or start over with --force")  # fmt: skip
        shutil.rmtree(run_dir)
    return _train(cfg, run_dir, resume_=False)


def _train(cfg: dict, run_dir: Path, resume_: bool) -> int:
    from agents.train import TrainError, train
    from testbed.cli import CLIError

    try:
        rep = train(cfg, run_dir, resume=resume_)
    except TrainError as exc:
        raise CLIError(str(exc)) from None
    fe, be = rep["final_eval"] or {}, rep["best_eval"] or {}
    print(f"{rep['algorithm']} on {rep['scenario']}: {rep['total_steps']} steps in {rep['wall_s_this_segment']:.0f} s "
          f"({rep['steps_per_s_this_segment']:.0f} steps/s); final eval success {fe.get('success_rate', 0):.0%} "
          f"return {fe.get('mean_return', float('nan')):.1f}; best {be.get('success_rate', 0):.0%} "
          f"at step {be.get('step')}; wrote {run_dir}/report.json")  # fmt: skip
    return 0


def resume(run_dir: Path) -> int:
    from omegaconf import OmegaConf

    from testbed.cli import CLIError

    path = run_dir / "config.yaml"
    if not path.is_file():
        raise CLIError(f"{path}: missing; not a run directory of `testbed train`")
    try:
        cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception as exc:  # OmegaConf/YAML errors
        raise CLIError(f"{path}: unreadable ({str(exc).splitlines()[0]})") from None
    return _train(cfg, run_dir, resume_=True)


def multirun(overrides: list[str], config_name: str, force: bool) -> int:
    """A Hydra multirun (sweep) with the configured launcher (joblib by default)."""
    # validate every value of the sweep before launching anything
    import itertools

    import hydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from testbed.cli import CLIError

    axes = [[f"{o.split('=', 1)[0]}={v}" for v in o.split("=", 1)[1].split(",")]
            if "=" in o and not o.startswith("hydra") and "[" not in o else [o] for o in overrides]  # fmt: skip
    for combo in itertools.product(*axes):
        compose_train([c for c in combo if not c.startswith(("hydra/", "hydra."))], config_name)

    @hydra.main(version_base="1.3", config_path=conf_dir(), config_name=f"train/{config_name}")
    def task(node) -> None:
        hc = HydraConfig.get()
        node = OmegaConf.masked_copy(node, [k for k in node if k != "hydra"])
        cfg = OmegaConf.to_container(node, resolve=True)
        cfg["command"] = "testbed train " + " ".join(shlex.quote(a) for a in hc.overrides.task)
        cfg["progress_bar"] = False
        run_dir = Path(hc.runtime.output_dir)
        cfg["run_dir"] = str(run_dir)
        if (run_dir / "config.yaml").exists() and not force:
            raise CLIError(f"{run_dir}: already holds a run; use resume or --force")
        from agents.train import train

        rep = train(cfg, run_dir)
        fe = rep["final_eval"] or {}
        print(f"{run_dir}: {rep['total_steps']} steps, eval success {fe.get('success_rate', 0):.0%}", flush=True)

    argv = sys.argv
    sys.argv = ["testbed-train", "-m", *overrides]
    try:
        task()
    except SystemExit as exc:
        if exc.code:
            raise CLIError(f"multirun failed (exit status {exc.code}); see the messages above") from None
    finally:
        sys.argv = argv
    return 0
