"""Benchmark: load every CMU ASF/AMC clip in a directory and print frames per second of parsing.

Usage: python bench/bench_mocap.py [CMU_DIR] [--repeat N] [--bvh]
CMU_DIR defaults to $POSEBOOK_CMU_DIR, then ../shared/data/cmu_mocap next to the repository.
Each clip is loaded N times (default 3) and the best wall time is kept (the machine may be shared);
the CPU time of that run is printed too.
--bvh also times save_bvh + load_bvh of each clip (in a temporary directory).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from posebook.data import mocap


def best_of(repeat: int, fn) -> tuple[float, float, object]:
    """Best wall time, the CPU time of that run (all threads), and the result."""
    best, cpu, out = float("inf"), float("nan"), None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        wall = time.perf_counter() - start
        if wall < best:
            best, cpu = wall, time.process_time() - start_cpu
    return best, cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cmu_dir", nargs="?", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bvh", action="store_true")
    args = parser.parse_args()
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cmu_mocap"
    cmu_dir = mocap.cmu_dir_from_env(args.cmu_dir) or default.resolve()

    table = mocap.list_cmu(cmu_dir, count_frames=False)
    skeletons = {asf: mocap.load_asf(asf) for asf in table["asf"].dropna().unique()}
    total_frames, total_time, total_cpu = 0, 0.0, 0.0
    header = f"{'clip':>8} {'frames':>7} {'load s':>8} {'cpu s':>7} {'frames/s':>10}"
    print(header + ("  bvh save s  bvh load s" if args.bvh else ""))
    with tempfile.TemporaryDirectory() as tmp:
        for row in table.itertuples():
            if row.asf is None:
                continue
            seconds, cpu, motion = best_of(args.repeat, lambda: mocap.load_amc(row.amc, skeletons[row.asf]))
            total_frames += motion.num_frames
            total_time += seconds
            total_cpu += cpu
            rate = motion.num_frames / seconds
            line = f"{row.clip:>8} {motion.num_frames:>7} {seconds:>8.3f} {cpu:>7.3f} {rate:>10.0f}"
            if args.bvh:
                path = Path(tmp) / f"{row.clip}.bvh"
                save_s, _, _ = best_of(1, lambda: mocap.save_bvh(motion, path))
                load_s, _, _ = best_of(args.repeat, lambda: mocap.load_bvh(path))
                line += f"  {save_s:>10.3f}  {load_s:>10.3f}"
            print(line)
    asf_s, _, _ = best_of(args.repeat, lambda: [mocap.load_asf(a) for a in skeletons])
    rate = total_frames / total_time
    print(f"{'all':>8} {total_frames:>7} {total_time:>8.3f} {total_cpu:>7.3f} {rate:>10.0f}")
    print(f"ASF skeletons: {len(skeletons)} in {asf_s:.3f} s")


if __name__ == "__main__":
    main()
