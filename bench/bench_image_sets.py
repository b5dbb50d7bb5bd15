"""Time a quick-profile training image set from scratch: world + crops, target <= 60 s.

    python bench/bench_image_sets.py [--size 4000] [--crop 64] [--compare 64] [--write]

Builds ``build_image_set(WorldConfig(size=--size, crop_size=--crop))`` in a fresh temporary cache
folder (world and images both built, CMU poses when ``$POSEBOOK_CMU_DIR`` names the subset, else
procedural), with the Anny model load counted in the total, and prints the total, the per-stage
split and samples/s against the target (PASS/FAIL). Then renders --compare of the same meshes
with the Embree renderer (``render.PartRenderer``) and the rasterizer (``raster.PartRasterizer``)
for the per-image times and their pixel agreement. ``--write`` appends a row to
``bench/image_sets_speed.csv``.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import torch
from _bench import cpu_name

TARGET_S = 60.0
CSV_PATH = Path(__file__).resolve().parent / "image_sets_speed.csv"


def _best_of(fn, repeats: int = 2) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - tic)
    return best


def compare_renderers(image_set, body, count: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """ms per crop of Embree and of the rasterizer on the first ``count`` samples' meshes, and
    the fraction of crop pixels where they draw the same colour."""
    from posebook.data.raster import PartRasterizer
    from posebook.data.render import PartRenderer

    world = image_set.world.subset(slice(0, count))
    with torch.no_grad():
        vertices = body(world.rotations, world.shape, world.root).vertices
    S = world.crop_size
    embree, raster = PartRenderer.from_body(body), PartRasterizer.from_body(body)
    raster(vertices[:2], world.K_crop[:2], (S, S))  # first-call set-up out of the timing
    # The rasterizer first: Embree's worker threads keep spinning after a call and would take
    # a core from torch's threads.
    t_raster = _best_of(lambda: raster(vertices, world.K_crop, (S, S)))
    t_embree = _best_of(lambda: embree(vertices, world.K_crop, (S, S)))
    a = embree(vertices, world.K_crop, (S, S))
    b = raster(vertices, world.K_crop, (S, S))
    return {"embree_ms": 1e3 * t_embree / count, "raster_ms": 1e3 * t_raster / count,
            "pixel_agreement": float((a == b).all(dim=-1).float().mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4000)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--compare", type=int, default=64, help="meshes for the Embree comparison")
    parser.add_argument("--write", action="store_true", help=f"append a row to {CSV_PATH.name}")
    args = parser.parse_args()

    machine = f"{cpu_name()}, {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}"
    load = os.getloadavg()[0]
    print(f"machine: {machine}, load average {load:.1f}")
    tic = time.perf_counter()
    from posebook.body.models import shared_anny_body
    from posebook.data.image_sets import build_image_set
    from posebook.data.world import WorldConfig

    body = shared_anny_body()
    t_model = time.perf_counter() - tic
    config = WorldConfig(size=args.size, crop_size=args.crop)
    with tempfile.TemporaryDirectory() as cache_dir:
        tic = time.perf_counter()
        image_set = build_image_set(config, cache_dir=cache_dir, body=body)
        t_build = time.perf_counter() - tic
    total = t_model + t_build
    timings = image_set.timings
    source = image_set.world.resolved_source
    print(f"{len(image_set)} crops of {args.crop} px ({source} poses): {total:.1f} s total "
          f"= {len(image_set) / total:.0f} samples/s (Anny load {t_model:.1f} s, build {t_build:.1f} s)")
    print("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    world_timings = image_set.world.timings
    print("  world stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in world_timings.items()))
    verdict = "PASS" if total <= TARGET_S else "FAIL"
    print(f"target <= {TARGET_S:.0f} s for a 4,000-crop set: {verdict}"
          + ("" if args.size == 4000 else f" (measured at --size {args.size})"))

    cmp = compare_renderers(image_set, body, args.compare)
    print(f"same {args.compare} meshes at {args.crop} px: Embree {cmp['embree_ms']:.1f} ms/crop, "
          f"rasterizer {cmp['raster_ms']:.2f} ms/crop ({cmp['embree_ms'] / cmp['raster_ms']:.0f}x); "
          f"identical pixels {100 * cmp['pixel_agreement']:.3f} %")

    if args.write:
        row = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine, "load": f"{load:.2f}",
               "size": args.size, "crop": args.crop, "source": source, "total_s": f"{total:.1f}",
               "model_s": f"{t_model:.1f}", **{f"{k}_s": f"{v:.2f}" for k, v in timings.items()},
               "samples_per_s": f"{len(image_set) / total:.1f}",
               "embree_ms": f"{cmp['embree_ms']:.2f}", "raster_ms": f"{cmp['raster_ms']:.2f}",
               "pixel_agreement": f"{cmp['pixel_agreement']:.5f}", "verdict": verdict}
        new = not CSV_PATH.exists()
        with CSV_PATH.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
        print(f"appended to {CSV_PATH}")


if __name__ == "__main__":
    main()
