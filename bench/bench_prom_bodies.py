"""Benchmark: wall time of each PRoM body experiment at the quick profile (the book's CPU budget).

Usage: python bench/bench_prom_bodies.py [--device cpu] [--standalone] [--cold-world] [--notebook]

The experiments run once each, in the notebooks' order and with their arguments
(notebooks/prom/bodies.md, then notebooks/prom/fitting.md), cold (``resume=False``, results in a temporary directory), as the notebook
does: trained (variant, seed) members are shared between the three experiments through the result
store's artifact cache (``<out>/_artifacts/prom.body_member``, :meth:`posebook.runs.RunContext.cached`),
so ``prom.ortho_ablation`` trains only the variants ``prom.body_regression`` did not, and the
Table 2b experiments train nothing (``prom.body_lr_sweep`` trains its own members, with a monitor). ``--standalone`` gives each experiment a fresh, empty results folder
(nothing is reused: the time of each one run alone). The world comes from the world
cache (~1 s) unless ``--cold-world`` points the cache at an empty folder (the first run on a fresh
machine: CMU retargeting and Anny skinning of every sample). The motion source follows
``$POSEBOOK_CMU_DIR`` (CMU when set, else procedural poses). The machine may be shared: the load
average is printed with the times, which are what this machine gave now, not a best case.
``--notebook`` also times ``jupyter execute`` of both notebooks on copies.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _bench import time_experiment, time_notebook

from posebook.experiments.prom import bodies as PB
from posebook.runs import make_context

#: The calls the two body notebooks make (keep in sync with notebooks/prom/bodies.md and fitting.md).
CALLS = [
    ("prom.body_regression", {}),
    ("prom.ortho_ablation", {}),
    ("prom.body_lr_sweep", {}),
    ("prom.fit_2d", {}),
    ("prom.fit_2d_sweep", {}),
    ("prom.fit_2d_eft", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--standalone", action="store_true",
                        help="a fresh results folder per experiment: no trained member is reused")
    parser.add_argument("--cold-world", action="store_true", help="build the world into an empty cache")
    parser.add_argument("--notebook", action="store_true")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min), cores: {os.cpu_count()}, "
          f"CMU: {os.environ.get('POSEBOOK_CMU_DIR') or 'not set (procedural poses)'}")
    with tempfile.TemporaryDirectory() as out:
        if args.cold_world:
            os.environ["POSEBOOK_CACHE_DIR"] = str(Path(out) / "cache")
        start = time.perf_counter()
        setup = PB.make_setup(make_context("quick", device=args.device))
        print(f"{'world (+ Anny load)':24s} {time.perf_counter() - start:7.1f} s  "
              f"{'built' if not setup.world.loaded_from_cache else 'from cache'}: {setup.data_source}")
        total = 0.0
        for k, (name, params) in enumerate(CALLS):
            # shared: one results folder, so the member artifacts of one experiment serve the next
            folder = Path(out) / (f"results-{k}" if args.standalone else "results")
            total += time_experiment(name, params, args.device, str(folder))
        print(f"{'experiments total':24s} {total:7.1f} s")
    if args.notebook:
        time_notebook("prom/bodies.ipynb")
        time_notebook("prom/fitting.ipynb")


if __name__ == "__main__":
    main()
