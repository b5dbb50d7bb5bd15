"""Speed of the synthetic world's pieces on this machine: samples per second.

    python bench/bench_world.py [--batch 256] [--size 512] [--crop 64] [--threads N]

Pieces, each on one batch: procedural poses (posebook.data.poses), the Anny body forward
(skinning), joint sets + projection + bboxes + crop intrinsics, crop renders (--crop pixels),
full-frame renders (256 x 192); then one uncached end-to-end ``build_world`` of --size samples
with crops (cache off) and the projected time of a quick-profile world of 3000 samples.
Every figure is a median of 3 runs except the end-to-end build.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from posebook.body import joints as joint_sets
from posebook.body.models import AnnyBody
from posebook.data import poses
from posebook.data.render import PartRenderer
from posebook.data.world import WorldConfig, build_world
from posebook.geometry import camera


def _rate(fn, n: int, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return n / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--render-batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    tic = time.perf_counter()
    body = AnnyBody()
    print(f"Anny model load: {time.perf_counter() - tic:.1f} s")
    n = args.batch
    g = torch.Generator().manual_seed(0)
    rate = _rate(lambda: poses.sample_poses(n, g), n)
    print(f"poses (procedural, all families):        {rate:10.0f} samples/s")

    R, _ = poses.sample_poses(n, torch.Generator().manual_seed(1))
    shape = torch.full((n, 6), 0.5)
    root = torch.tensor([0.0, 0.0, 5.0]).expand(n, 3)
    C = torch.tensor([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]])
    R = torch.cat([(C @ R[:, 0])[:, None], R[:, 1:]], dim=1)

    def forward():
        with torch.no_grad():
            return body(R, shape, root)

    print(f"body forward (Anny skinning, batch {n}):  {_rate(forward, n):10.0f} samples/s")
    out = forward()
    K = camera.intrinsics(torch.full((n,), 300.0), torch.tensor([128.0, 96.0]).expand(n, 2))
    sets = WorldConfig().joint_sets

    def project():
        with torch.no_grad():
            uv = [camera.project(out.vertices, K)]
            for s in sets:
                j = joint_sets.convert_joints(out.joints, s, tails=out.bone_tails, vertices=out.vertices, body=body)
                uv.append(camera.project(j, K))
            center, size = camera.bbox_from_points(torch.cat(uv, dim=1))
            return camera.crop_intrinsics(K, center, size, args.crop)

    print(f"joint sets ({len(sets)}) + projection + bbox:   {_rate(project, n):10.0f} samples/s")
    K_crop = project()
    renderer = PartRenderer.from_body(body)
    m = args.render_batch
    renderer(out.vertices[:1], K_crop[:1], (args.crop, args.crop))  # imports trimesh / embree once
    rate = _rate(lambda: renderer(out.vertices[:m], K_crop[:m], (args.crop, args.crop)), m)
    print(f"render crop {args.crop}x{args.crop}:                    {rate:10.1f} samples/s")
    rate = _rate(lambda: renderer(out.vertices[:m], K[:m], (256, 192)), m)
    print(f"render full 256x192:                     {rate:10.1f} samples/s")

    config = WorldConfig(size=args.size, seed=0, source="procedural", crop_size=args.crop)
    tic = time.perf_counter()
    world = build_world(config, cache=False, body=body, progress=False)
    total = time.perf_counter() - tic
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in world.timings.items() if v >= 0.05)
    print(f"build_world {args.size} samples (crops {args.crop}px, no cache): {total:.1f} s = "
          f"{args.size / total:.1f} samples/s ({stages})")
    print(f"projected quick-profile world of 3000 samples: {3000 * total / args.size / 60:.1f} min")


if __name__ == "__main__":
    main()
