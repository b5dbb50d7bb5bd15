"""PersPose Fig. 7 on the benchmarks themselves: the PR angle phi of the test frames of Human3.6M,
3DPW and MPI-INF-3DHP, when ``data_root`` holds them (layout: :data:`posebook.data.benchmarks.common.EXPECTED_LAYOUT`).

phi needs only the intrinsics K and the bbox centre of each frame. The bbox is the square around the
projection of the frame's camera-frame 3D joints (:func:`~posebook.geometry.camera.bbox_from_points`,
scale 1.2, as the world's crops), and phi is the angle PR turns by to bring its centre's ray onto the
optical axis (Eq. 14, aimed at the principal point as the official code). The datasets' own 2D joints
are not used: 3DPW's OpenPose joints are missing ((0, 0), confidence 0) in some frames, which would
move the bbox. Frames are subsampled with ``stride``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import roma
import torch

from posebook.data.benchmarks import (EXPECTED_LAYOUT, BenchmarkData, find_benchmarks, load_3dpw, load_h36m,
                                     load_mpi_inf_3dhp)
from posebook.experiments.registry import ExperimentResult, experiment
from posebook.geometry import camera
from posebook.parameters import positive

__all__ = ["BENCHMARK_SETS", "PHI_STRIDE", "benchmark_phi", "phi_benchmarks"]

#: The test sets, by the key of :func:`~posebook.data.benchmarks.common.find_benchmarks` that must exist.
BENCHMARK_SETS = {"h36m_3d": "Human3.6M test (S9, S11)", "3dpw_test": "3DPW test",
                  "mpi_inf_3dhp_test": "MPI-INF-3DHP test"}
#: Every how many frames per profile (Human3.6M's 50 fps and 3DPW's 30 fps vary slowly).
PHI_STRIDE = {"quick": 50, "long": 10, "gpu": 1, "full": 1}


def benchmark_phi(data: BenchmarkData, scale: float = 1.2) -> torch.Tensor:
    """The PR angle phi (N,) in degrees of every row of ``data`` (PersPose Eq. 14): between the
    optical axis and the ray through the centre of the square bbox around the projected 3D joints."""
    tensors = data.to_torch("joints_3d_cam", "K", dtype=torch.float64)
    uv = camera.project(tensors["joints_3d_cam"], tensors["K"])  # (N, J, 2)
    centre, _ = camera.bbox_from_points(uv, scale)
    R = camera.perspective_rotation(tensors["K"], centre)
    return torch.rad2deg(roma.rotmat_to_rotvec(R).norm(dim=-1))


def _load(key: str, root, stride: int) -> BenchmarkData:
    if key == "h36m_3d":
        return load_h36m(root, subjects="test", keypoints=None, stride=stride)
    if key == "3dpw_test":
        return load_3dpw(root, "test", stride=stride)
    return load_mpi_inf_3dhp(root, stride=stride)


def _empty(source: str) -> ExperimentResult:
    return ExperimentResult(pd.DataFrame({"set": pd.Series(dtype=str), "phi_deg": pd.Series(dtype=float)}), source)


@experiment("perspose.phi_benchmarks", checks={"stride": positive})
def phi_benchmarks(ctx, stride: int = 0) -> ExperimentResult:
    """PersPose Fig. 7 for the benchmarks under ``data_root``: phi (deg) of every ``stride``-th test
    frame of each one found (:data:`BENCHMARK_SETS`). Without ``data_root``, or with none of them
    there, the table is empty and its data source says why (a batch of every experiment runs on)."""
    stride = stride or PHI_STRIDE[ctx.profile.name]
    if ctx.data_root is None:
        return _empty("no data_root given (--data-root or $POSEBOOK_DATA_ROOT): no benchmark to read")
    found = find_benchmarks(ctx.data_root)
    parts, sources = [], []
    for key, name in BENCHMARK_SETS.items():
        if found[key] is None:
            continue
        phi = benchmark_phi(_load(key, ctx.data_root, stride)).numpy()
        parts.append(pd.DataFrame({"set": name, "phi_deg": phi}))
        sources.append(f"{name}: {len(phi)} frames (every {stride}th), median phi {np.median(phi):.1f} deg")
    if not parts:
        return _empty(f"no benchmark test set under {ctx.data_root} (expected there: "
                      f"{', '.join(EXPECTED_LAYOUT[k] for k in BENCHMARK_SETS)}; `posebook data` shows what is found)")
    return ExperimentResult(pd.concat(parts, ignore_index=True), "; ".join(sources))
