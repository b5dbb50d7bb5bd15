"""The ``posebook`` command: list and run experiments, report data, build the book.

Usage::

    posebook list
    posebook run EXPERIMENT [--profile quick|long|gpu|full] [--device cpu|cuda|auto] [--seed N]
                 [--data-root DIR] [--cmu-dir DIR] [--out DIR] [--no-resume] [-p NAME=VALUE ...]
    posebook run --all [--match PREFIX] [--profile long] [--reference] [--device cuda] ...
                 [--executor inline|local|slurm] [--jobs N] [--group none|chapter] [--cpus N]
                 [--costs CSV] [--slurm-partition P] ...
    posebook data [--data-root DIR] [--cmu-dir DIR] [--smpl-dir DIR]
    posebook world build [--size N] [--seed S] [--source auto|cmu|procedural] [--cmu-dir DIR]
                         [--render/--no-render] [--crop-size PX] [--device DEV] [--out-dir DIR]
    posebook book [--path REPO] [--lenient]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import pandas as pd

from posebook.runs import ENV_RESULTS_DIR, PROFILES


def _parse_params(items: Sequence[str]) -> dict[str, str]:
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"parameter {item!r} is not NAME=VALUE (e.g. -p samples=1000)")
        params[name.strip()] = value.strip()
    return params


_DEVICE = re.compile(r"^(cpu|auto|cuda(:\d+)?|mps)$")


def _device(value: str) -> str:
    """argparse type: a device torch can run the package on (checked before any work starts)."""
    if not _DEVICE.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a device: use cpu, cuda, cuda:N, mps or auto")
    return value


def _seed(value: str) -> int:
    """argparse type: a seed torch, NumPy and Python all accept (0 <= seed < 2**63)."""
    try:
        seed = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer seed") from None
    if not 0 <= seed < 2**63:
        raise argparse.ArgumentTypeError(f"seed must lie in [0, 2**63), got {seed}")
    return seed


def _check_device(device: str | None) -> None:
    """A CUDA request without a GPU fails here, before any computation (posebook.runs.resolve_device)."""
    if device is not None:
        from posebook.runs import resolve_device

        resolve_device(device)


def _check_writable(folder: str | os.PathLike | None, what: str) -> None:
    """Fail before computing, not after: ``folder`` can be created and written to."""
    if folder is None:
        return
    path = Path(folder).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".posebook-write-check-"):
            pass
    except OSError as exc:
        raise FileNotFoundError(f"{what} {str(path)!r} is not a writable folder ({exc.strerror or exc}); "
                                f"pass a folder you can write to") from None


def _cmd_list(args: argparse.Namespace) -> int:
    from posebook.experiments import list_experiments

    for row in list_experiments().itertuples(index=False):
        ranges = f"\n    ranges: {row.ranges}" if row.ranges else ""
        print(f"{row.experiment}\n    {row.summary}\n    parameters: {row.parameters or '(none)'}{ranges}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from posebook.experiments import run_experiment

    if args.all == bool(args.experiment):
        raise ValueError("name one experiment, or pass --all (optionally with --match PREFIX), not both")
    _check_device(args.device)
    if args.out is not None:
        _check_writable(args.out, "--out")
    elif args.reference:
        from posebook.experiments.registry import reference_dir

        _check_writable(reference_dir(), "the reference folder")
    common = dict(profile=args.profile, device=args.device, seed=args.seed, data_root=args.data_root,
                  cmu_dir=args.cmu_dir, out=args.out, resume=not args.no_resume, reference=args.reference)
    if not args.all:
        result = run_experiment(args.experiment, **common, **_parse_params(args.param))
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            print(result.frame.to_string(index=False))
        state = "reused (stored earlier with the same parameters and code)" if result.reused else "computed"
        print(f"\n{result.caption()}\n{state}; written to {result.path} (+ {result.path.with_suffix('.json').name})")
        return 0
    if args.param:
        raise ValueError("-p applies to one experiment; with --all every experiment runs with its defaults")
    from posebook.batch import run_batch, select

    slurm = {k: v for k, v in (("partition", args.slurm_partition), ("gpus_per_node", args.slurm_gpus),
                               ("timeout_min", args.timeout_min)) if v is not None}
    cost = _experiment_costs(args.costs)
    if args.executor == "local":
        from posebook.body.models import shared_anny_body

        # Anny builds its model cache on first use (~45 s): once here, not by several jobs at once
        shared_anny_body("cpu")
    report = run_batch(select(args.match or ""), executor=args.executor, jobs=args.jobs, cpus=args.cpus,
                       group=args.group, cost=cost, folder=args.jobs_folder, slurm=slurm, **common)
    counts = report.counts()
    print(f"{counts['computed']} computed, {counts['reused']} reused, {counts['failed']} failed")
    if report.failed:
        print(f"{len(report.failed)} of {len(report.outcomes)} experiments failed: {', '.join(report.failed)}; "
              "run the same command again to retry only what is missing", file=sys.stderr)
        return 1
    return 0


#: Seconds each experiment took at the quick profile (bench/bench_experiments.py --write)
EXPERIMENT_TIMES = Path("bench") / "experiment_times.csv"


def _experiment_costs(path: str | None) -> dict[str, float] | None:
    """Estimated seconds per experiment, for a batch to start its costliest jobs first: ``--costs
    FILE``, else the checkout's :data:`EXPERIMENT_TIMES` when the command runs inside one, else None."""
    if path is None:
        try:
            found = find_repo_root() / EXPERIMENT_TIMES
        except FileNotFoundError:
            return None
        if not found.is_file():
            return None
        path = str(found)
    try:
        table = pd.read_csv(path)
        return {str(k): float(v) for k, v in zip(table["experiment"], table["seconds"])}
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"--costs {path}: expected a CSV with columns experiment, seconds ({exc})") from None


def _cmd_data(args: argparse.Namespace) -> int:
    from posebook.inventory import data_inventory

    frame = data_inventory(data_root=args.data_root, cmu_dir=args.cmu_dir, smpl_dir=args.smpl_dir)
    for row in frame.itertuples(index=False):
        print(f"{row.item}: {row.status}\n    where: {row.location}")
        if row.how:
            print(f"    how:   {row.how}")
    return 0


def _cmd_world_build(args: argparse.Namespace) -> int:
    from posebook.data.world import WorldConfig, build_world

    _check_device(args.device)
    _check_writable(args.out_dir, "--out-dir")
    config = WorldConfig(size=args.size, seed=args.seed, source=args.source, cmu_dir=args.cmu_dir,
                         render=args.render, crop_size=args.crop_size)
    world = build_world(config, device=args.device, cache_dir=args.out_dir)
    state = "loaded from" if world.loaded_from_cache else "written to"
    print(f"world {state} {world.cache_path} (+ {world.cache_path.with_suffix('.json').name})")
    for name, value in world.summary().items():
        print(f"  {name}: {value}")
    return 0


def find_repo_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` holding the book's ``_config.yml`` and ``_toc.yml``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "_config.yml").exists() and (candidate / "_toc.yml").exists():
            return candidate
    raise FileNotFoundError(f"no _config.yml/_toc.yml at or above {here}; run `posebook book` inside "
                            "a posebook checkout or pass --path")


def _cmd_book(args: argparse.Namespace) -> int:
    root = Path(args.path).resolve() if args.path else find_repo_root()
    if not ((root / "_config.yml").is_file() and (root / "_toc.yml").is_file()):
        raise FileNotFoundError(f"--path {str(root)!r} is not a posebook checkout (no _config.yml and _toc.yml "
                                "there); pass the repository root")
    if importlib.util.find_spec("jupyter_book") is None:
        raise FileNotFoundError("jupyter-book is not installed: `pip install -e .[book]` "
                                "(or `make book`, which installs it)")
    from posebook.book.api import write_api_pages

    for page in write_api_pages(root):  # the API pages follow the package's modules
        print(f"API page updated: {page.relative_to(root)}")
    # One results folder for every page (the notebooks run in their own folders), so the scorecard
    # finds the chapters' quick runs and a rebuild reuses them; $POSEBOOK_RESULTS_DIR wins when set.
    env = {**os.environ, ENV_RESULTS_DIR: os.environ.get(ENV_RESULTS_DIR) or str(root / "results")}
    # Run Jupyter Book with this interpreter, so its kernel sees this environment's posebook.
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
           "build", str(root), "--all"]
    if not args.lenient:
        # A warning (a broken reference, a notebook writing to stderr) fails the build.
        cmd += ["--warningiserror", "--nitpick", "--keep-going"]
    return subprocess.run(cmd, check=False, env=env).returncode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="posebook", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list the experiments and their parameters").set_defaults(func=_cmd_list)

    run = sub.add_parser("run", help="run one experiment (or --all); writes a table + provenance, resumes")
    run.add_argument("experiment", nargs="?", default=None)
    run.add_argument("--all", action="store_true", help="run every registered experiment (see --match)")
    run.add_argument("--match", default=None, help="with --all: only experiments whose name starts with this")
    run.add_argument("--reference", action="store_true",
                     help="write to the committed reference folder (reference/ or $POSEBOOK_REFERENCE_DIR) "
                          "for the book to show beside the quick rerun")
    run.add_argument("--profile", default="quick", choices=list(PROFILES),
                     help="; ".join(f"{p.name}: {p.description}" for p in PROFILES.values()))
    run.add_argument("--device", default=None, type=_device,
                     help="cpu, cuda, cuda:1, mps or auto (default: the profile's)")
    run.add_argument("--seed", type=_seed, default=0)
    run.add_argument("--data-root", default=None, help="licensed benchmarks root ($POSEBOOK_DATA_ROOT)")
    run.add_argument("--cmu-dir", default=None, help="CMU ASF/AMC directory ($POSEBOOK_CMU_DIR)")
    run.add_argument("--out", default=None, help="results directory (default ./results or $POSEBOOK_RESULTS_DIR)")
    run.add_argument("--no-resume", action="store_true", help="recompute even if a stored result exists")
    run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                     help="experiment parameter (repeatable); lists as comma-separated values")
    batch = run.add_argument_group("--all: where the experiments run (posebook.batch)")
    # batch.EXECUTORS / batch.GROUPS spelled out: importing posebook.batch imports every experiment, which
    # `posebook --help` should not wait for (tests/test_cli.py keeps the two lists equal)
    batch.add_argument("--executor", default="inline", choices=["inline", "local", "slurm"],
                       help="inline: one after the other here; local: submitit subprocess jobs on this machine; "
                            "slurm: submitit jobs on a Slurm cluster")
    batch.add_argument("--jobs", type=int, default=1, help="local: jobs at once (default 1)")
    batch.add_argument("--group", default="none", choices=["none", "chapter"],
                       help="none: one job per experiment; chapter: one job per chapter, its experiments in "
                            "turn (they share cached worlds and networks, built once)")
    batch.add_argument("--cpus", type=int, default=None, help="CPU threads per job (default: cores / jobs)")
    batch.add_argument("--costs", default=None, metavar="CSV",
                       help="seconds per experiment (columns experiment, seconds), to start the costliest jobs "
                            "first (default: bench/experiment_times.csv of the checkout, when there is one)")
    batch.add_argument("--jobs-folder", default=None, help="submitit job files and logs (default <results>/_jobs)")
    batch.add_argument("--slurm-partition", default=None)
    batch.add_argument("--slurm-gpus", type=int, default=None, help="GPUs per node")
    batch.add_argument("--timeout-min", type=int, default=None, help="per job (local and slurm)")
    run.set_defaults(func=_cmd_run)

    data = sub.add_parser("data", help="what body models and datasets are available, and where they are looked for")
    data.add_argument("--data-root", default=None)
    data.add_argument("--cmu-dir", default=None)
    data.add_argument("--smpl-dir", default=None)
    data.set_defaults(func=_cmd_data)

    world = sub.add_parser("world", help="the synthetic world (poses x shapes x cameras), cached on disk")
    world_sub = world.add_subparsers(dest="world_command", required=True)
    build = world_sub.add_parser("build", help="build (or load) a world and print where it is cached")
    build.add_argument("--size", type=int, default=2000, help="number of samples")
    build.add_argument("--seed", type=_seed, default=0)
    build.add_argument("--source", default="auto", choices=["auto", "cmu", "procedural"],
                       help="auto: CMU when --cmu-dir or $POSEBOOK_CMU_DIR is set, else procedural")
    build.add_argument("--cmu-dir", default=None, help="CMU ASF/AMC directory ($POSEBOOK_CMU_DIR)")
    build.add_argument("--render", action=argparse.BooleanOptionalAction, default=True,
                       help="render the part-coloured crops")
    build.add_argument("--crop-size", type=int, default=64, help="crop side in pixels")
    build.add_argument("--device", default="cpu", type=_device, help="where the body model runs (cpu, cuda)")
    build.add_argument("--out-dir", default=None,
                       help="cache folder (default $POSEBOOK_CACHE_DIR/world or ~/.cache/posebook/world)")
    build.set_defaults(func=_cmd_world_build)

    book = sub.add_parser("book", help="build the HTML book with Jupyter Book (executes the notebooks)")
    book.add_argument("--path", default=None, help="repository root (default: found from the current directory)")
    book.add_argument("--lenient", action="store_true", help="do not turn Sphinx warnings into errors")
    book.set_defaults(func=_cmd_book)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"posebook {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Results completed before the interrupt are stored (atomically); a rerun resumes from them.
        print(f"posebook {args.command}: interrupted; completed results are kept, rerun to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
