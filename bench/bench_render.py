"""Time part-coloured renders of posed Anny bodies: 128 x 128 crops and 256 x 192 full frames.

Plain script (no pytest): ``python bench/bench_render.py [--batch 256] [--repeats 2]``. Prints the
machine, the time to pose the batch, and images/s for each render setting, with a 1 x 1 render
giving the fixed per-mesh cost (the BVH build), which dominates at these resolutions.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import roma
import torch
from _bench import cpu_name

from posebook.body.models import AnnyBody
from posebook.data.render import PartRenderer
from posebook.geometry.camera import bbox_from_points, crop_intrinsics, intrinsics, project


def posed_batch(body: AnnyBody, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, V, 3) camera-frame vertices 3-5 m in front of the camera and (B, J, 3) joints."""
    g = torch.Generator().manual_seed(seed)
    rot = roma.rotvec_to_rotmat(0.3 * torch.randn(batch, body.num_joints, 3, generator=g))
    yaw = (2 * torch.rand(batch, generator=g) - 1) * torch.pi
    rot[:, 0] = roma.rotvec_to_rotmat(yaw[:, None] * torch.tensor([0.0, 1.0, 0.0])) @ rot[:, 0]
    with torch.no_grad():
        out = body(rot)
    to_cam = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    t = torch.stack(
        [
            0.6 * torch.rand(batch, generator=g) - 0.3,
            0.4 * torch.rand(batch, generator=g) - 0.2,
            3.0 + 2.0 * torch.rand(batch, generator=g),
        ],
        dim=1,
    )
    return out.vertices @ to_cam.T + t[:, None], out.joints @ to_cam.T + t[:, None]


def time_render(
    renderer: PartRenderer, vertices, K, size, repeats: int
) -> tuple[float, float]:
    """Best-of-``repeats`` wall-clock and process CPU seconds (all threads) to render the batch.

    On a shared machine the CPU time is the steadier number: wall time includes waiting for
    cores that other processes hold.
    """
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        renderer(vertices, K, size)
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    print(f"machine: {cpu_name()}, {os.cpu_count()} logical CPUs, torch threads "
          f"{torch.get_num_threads()}, {platform.system()} {platform.release()}, load average "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    t0 = time.perf_counter()
    body = AnnyBody()
    renderer = PartRenderer.from_body(body)
    print(f"Anny + renderer ready in {time.perf_counter() - t0:.1f} s "
          f"({body.num_vertices} vertices, {len(body.faces)} faces)")  # fmt: skip
    t0 = time.perf_counter()
    vertices, joints = posed_batch(body, args.batch)
    print(f"posing {args.batch} bodies: {time.perf_counter() - t0:.2f} s")

    W, H = 256, 192
    K_full = intrinsics(torch.tensor(float(np.hypot(W, H))), torch.tensor([W / 2, H / 2]))
    K_full = K_full.expand(args.batch, 3, 3)
    center, size = bbox_from_points(project(joints, K_full), scale=1.3)
    K_crop = crop_intrinsics(K_full, center, size, 128)
    settings = (
        ("crop 128x128", K_crop, (128, 128)),
        ("full 256x192", K_full, (W, H)),
        ("1x1 (per-mesh BVH build only)", K_full, (1, 1)),
    )
    for name, K, image_size in settings:
        wall, cpu = time_render(renderer, vertices, K, image_size, args.repeats)
        print(f"{name}: B={args.batch} in {wall:.2f} s wall = {args.batch / wall:.1f} images/s "
              f"({1e3 * wall / args.batch:.1f} ms/image; CPU {1e3 * cpu / args.batch:.1f} "
              "ms/image)")


if __name__ == "__main__":
    main()
