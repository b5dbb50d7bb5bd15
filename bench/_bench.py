"""Timing helpers shared by the bench scripts (run as `python bench/bench_x.py`)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), for the machine line every benchmark prints."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def time_experiment(name: str, params: dict, device: str, out: str) -> float:
    """Run one experiment at the quick profile without resuming; print and return its wall time."""
    from posebook.experiments import run_experiment  # deferred: the renderer benchmarks do not need it

    start = time.perf_counter()
    res = run_experiment(name, profile="quick", device=device, seed=0, out=out, resume=False, **params)
    elapsed = time.perf_counter() - start
    print(f"{name:24s} {elapsed:7.1f} s  rows={len(res.frame):4d}  load={os.getloadavg()[0]:.2f}", flush=True)
    return elapsed


def time_notebook(relative: str) -> float:
    """Execute a copy of ``notebooks/<relative>`` in a scratch folder; print and return its wall time."""
    source = Path(__file__).resolve().parents[1] / "notebooks" / relative
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / source.name
        shutil.copy(source, copy)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "jupyter", "execute", "--timeout=1800", "--inplace", str(copy)],
                       check=True, cwd=tmp, capture_output=True)
        elapsed = time.perf_counter() - start
    print(f"{'notebook (jupyter execute)':24s} {elapsed:7.1f} s  load={os.getloadavg()[0]:.2f}")
    return elapsed
