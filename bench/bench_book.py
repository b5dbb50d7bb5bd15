"""Benchmark: `make book` from a fresh clone, installs included, with cold caches.

Usage: python bench/bench_book.py [--jobs 2] [--warm-anny] [--write]

Clones the committed HEAD into a scratch folder with ``../shared`` beside it (a link to this
checkout's), empties posebook's caches there (``POSEBOOK_CACHE_DIR``: no world, no image set, no
trained network, no stored result) and, unless ``--warm-anny``, Anny's (``ANNY_CACHE_DIR``: its
first build takes ~45 s), then times ``make install`` and ``make book JOBS=N``. They run in a virtual environment of the clone
that sees this Python's packages (``--system-site-packages``), so the editable install of this
checkout is left alone; packages already installed here are not installed again (a first install on
an empty machine adds the pip downloads, ~3 minutes here). The target is 15 minutes in all on the 2-core
reference machine. ``--write`` appends a row to ``bench/book_times.csv``, which the book's setup
page shows. The clone is deleted afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from _bench import cpu_name

ROOT = Path(__file__).resolve().parents[1]
TIMES = ROOT / "bench" / "book_times.csv"
TARGET_S = 15 * 60


def _timed(cmd: list[str], cwd: Path, env: dict, log: Path) -> float:
    start = time.perf_counter()
    with open(log, "ab") as out:
        done = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}) after {elapsed:.0f} s; see {log}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="make book JOBS= (default: the cores)")
    parser.add_argument("--warm-anny", action="store_true", help="keep Anny's model cache (~/.cache/anny)")
    parser.add_argument("--write", action="store_true", help=f"append a row to {TIMES.relative_to(ROOT)}")
    parser.add_argument("--log", default=None, help="the build's output (default: a file in the scratch folder)")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="posebook-book-") as tmp:
        tmp = Path(tmp)
        subprocess.run(["git", "clone", "-q", str(ROOT), str(tmp / "posebook")], check=True)
        shared = (ROOT.parent / "shared").resolve()
        if shared.is_dir():
            (tmp / "shared").symlink_to(shared)
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSEBOOK_")}
        env["POSEBOOK_CACHE_DIR"] = str(tmp / "cache")
        if not args.warm_anny:
            env["ANNY_CACHE_DIR"] = str(tmp / "anny")
        log = Path(args.log) if args.log else tmp / "build.log"
        repo = tmp / "posebook"
        venv = tmp / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
        interpreter = venv / "bin" / "python"
        python = f"PYTHON={interpreter}"
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        install = _timed(["make", "install", python], repo, env, log)
        where = subprocess.run([str(interpreter), "-c", "import posebook; print(posebook.__file__)"],
                               env=env, capture_output=True, text=True, check=True).stdout.strip()
        if not Path(where).resolve().is_relative_to(repo.resolve()):
            raise SystemExit(f"the clone's Python imports posebook from {where}, not from the clone")
        book = _timed(["make", "book", python, f"JOBS={args.jobs}"], repo, env, log)
    total = install + book
    print(f"make install {install:.0f} s + make book (JOBS={args.jobs}) {book:.0f} s = {total:.0f} s "
          f"({'within' if total <= TARGET_S else 'OVER'} the {TARGET_S // 60}-minute target; load before {load:.2f})")
    if args.write:
        row = pd.DataFrame([{"commit": commit, "jobs": args.jobs, "anny_cache": "warm" if args.warm_anny else "cold",
                             "install_s": round(install), "book_s": round(book), "total_s": round(total),
                             "within_15_min": total <= TARGET_S, "load_before": round(load, 2), "cpu": cpu_name(),
                             "cores": os.cpu_count(),
                             "measured_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")}])
        table = pd.concat([pd.read_csv(TIMES), row], ignore_index=True) if TIMES.is_file() else row
        table.to_csv(TIMES, index=False)
        print(f"written to {TIMES}")
    return 0 if total <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
