"""Benchmark: wall time of every registered experiment at the quick profile on the CPU, one after
the other, in a fresh results folder.

Usage: python bench/bench_experiments.py [--match cliff.] [--threads 1] [--write]

Experiments run in name order, so the first of each chapter pays for what its chapter builds once
(the rendered world, the trained networks it caches for the others): the time a chapter's job of
``posebook run --all --group chapter`` spends on it. The world and image caches of
``$POSEBOOK_CACHE_DIR`` are reused when present (set it to an empty folder for cold times).
``--write`` stores ``bench/experiment_times.csv``, which ``posebook run --all`` (so ``make results``)
reads to start the costliest jobs first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch
from _bench import cpu_name

from posebook.batch import run_batch, select

ROOT = Path(__file__).resolve().parents[1]
TIMES = ROOT / "bench" / "experiment_times.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--match", default="", help="only experiments whose name starts with this")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: what each of two jobs gets on a 2-core machine)")
    parser.add_argument("--write", action="store_true", help=f"write {TIMES.relative_to(ROOT)}")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="posebook-bench-") as out:
        report = run_batch(select(args.match), profile="quick", device="cpu", out=out)
    if report.failed:
        print(f"failed: {', '.join(report.failed)}", file=sys.stderr)
        return 1
    table = pd.DataFrame({"experiment": [o.name for o in report.outcomes],
                          "seconds": [o.wall_s for o in report.outcomes]})
    table["chapter"] = table["experiment"].str.split(".").str[0]
    print(table.groupby("chapter")["seconds"].sum().sort_values(ascending=False).to_string())
    print(f"total {table['seconds'].sum():.0f} s (load average before: {load:.2f}, {args.threads} thread(s))")
    if args.write:
        table = table.drop(columns="chapter").assign(
            threads=args.threads, load_before=round(load, 2), cpu=cpu_name(), cores=os.cpu_count(),
            measured_utc=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"))
        table.to_csv(TIMES, index=False)
        print(f"written to {TIMES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
