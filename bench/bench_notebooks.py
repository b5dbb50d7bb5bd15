"""Benchmark: wall time of every notebook of the book at its default parameters (quick profile, CPU).

Usage: python bench/bench_notebooks.py [--match prom/] [--budget 180] [--write]

Each notebook is executed cold on a copy in a scratch folder (``jupyter execute``: kernel start,
imports, every experiment computed, plots drawn; a fresh results folder, so nothing stored earlier
is reused; the world cache of ``$POSEBOOK_CACHE_DIR`` is reused, as in a second ``make book``). The
machine may be shared: the load average is printed with each time. ``--budget`` is the target per
notebook in seconds (the book's: 3 minutes); the script exits 1 when a notebook exceeds it.
``--write`` stores the table (and a last row with the total) in ``bench/notebook_times.csv``, which
the book's setup page shows.
"""

from __future__ import annotations

import argparse
import math
import datetime as dt
import os
import platform
import sys
from pathlib import Path

import pandas as pd
from _bench import time_notebook

ROOT = Path(__file__).resolve().parents[1]
TIMES = ROOT / "bench" / "notebook_times.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--match", default="", help="only notebooks whose path (under notebooks/) starts with this")
    parser.add_argument("--budget", type=float, default=180.0, help="seconds allowed per notebook")
    parser.add_argument("--write", action="store_true", help=f"write {TIMES.relative_to(ROOT)}")
    args = parser.parse_args()
    notebooks = sorted(p.relative_to(ROOT / "notebooks").as_posix() for p in (ROOT / "notebooks").rglob("*.ipynb")
                       if ".ipynb_checkpoints" not in p.parts and p.relative_to(ROOT / "notebooks").as_posix()
                       .startswith(args.match))
    if not notebooks:
        print(f"no notebook under notebooks/ matches {args.match!r}", file=sys.stderr)
        return 2
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min), cores: {os.cpu_count()}")
    rows = []
    for relative in notebooks:
        load = os.getloadavg()[0]
        seconds = time_notebook(relative)
        rows.append({"notebook": relative, "seconds": round(seconds, 1), "load_before": round(load, 2),
                     "within_budget": seconds <= args.budget})
        print(f"  {relative}: {seconds:.0f} s")
    table = pd.DataFrame(rows)
    total = float(table["seconds"].sum())
    print(f"total {total:.0f} s for {len(table)} notebooks; over the {args.budget:.0f} s budget: "
          f"{', '.join(table.loc[~table['within_budget'], 'notebook']) or 'none'}")
    if args.write:
        total_row = {"notebook": "total", "seconds": round(total, 1), "load_before": math.nan,
                     "within_budget": bool(table["within_budget"].all())}
        table = pd.concat([table, pd.DataFrame([total_row])], ignore_index=True)
        table["cores"] = os.cpu_count()
        table["machine"] = platform.processor() or platform.machine()
        table["measured_utc"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
        table.to_csv(TIMES, index=False)
        print(f"written to {TIMES}")
    return 0 if table["within_budget"].all() else 1


if __name__ == "__main__":
    sys.exit(main())
