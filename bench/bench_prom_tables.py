"""Benchmark: wall time of each PRoM tables experiment at the quick profile (the book's CPU budget).

Usage: python bench/bench_prom_tables.py [--device cpu] [--notebook]

Each experiment runs once, cold (``resume=False``, a fresh temporary results folder each, so nothing
is reused), with the same arguments as notebooks/prom/tables.md. The machine may be shared: the load
average is printed with the times, which are what this machine gave now, not a best case. ``--notebook`` also times
``jupyter execute`` of the whole notebook on a copy (kernel start, imports and plots included).
"""

from __future__ import annotations

import argparse
import os
import tempfile

from _bench import time_experiment, time_notebook

#: The calls the tables notebook makes (keep in sync with notebooks/prom/tables.md).
CALLS = [
    ("prom.autoencoder", {}),
    ("prom.pointcloud", {}),
    ("prom.lr_sweep", {"lrs": (1e-4, 2e-4, 5e-4, 8e-4, 1e-2, 1e-1)}),
    ("prom.training_curves", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--notebook", action="store_true")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min), cores: {os.cpu_count()}")
    total = 0.0
    for name, params in CALLS:
        with tempfile.TemporaryDirectory() as out:
            total += time_experiment(name, params, args.device, out)
    print(f"{'experiments total':24s} {total:7.1f} s")
    if args.notebook:
        time_notebook("prom/tables.ipynb")


if __name__ == "__main__":
    main()
