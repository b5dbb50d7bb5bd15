"""ZeDO Tables 1-3 on the benchmarks themselves, when ``data_root`` holds them: the chapter's prior (trained on
CMU motion, :mod:`posebook.experiments.zedo.common`) and optimizer on Human3.6M, MPI-INF-3DHP and 3DPW test
poses with their exact 2D, each benchmark at the official code's settings
(``configs/optim/concat_pose_optimization_*.py``: :data:`BENCHMARKS`).

- Human3.6M: ZeDO's 886-pose protocol (S9 and S11, every 640th row:
  :func:`~posebook.data.pose_sets.benchmark_pose_set` with ``official_h36m_subset``); VideoPose3D's files
  give close to, not exactly, the 886 poses of ZeDO's own file.
- MPI-INF-3DHP: every 3rd valid test frame (the official 959 of 2929), the metric camera-frame joints
  (``annot3``; the universal-skeleton ones would not match the images' 2D).
- 3DPW: every 35th valid test frame (the official 1015), H36M-17 joints regressed from the gendered SMPL mesh
  placed in the camera (:func:`~posebook.data.benchmarks.pw3d.smpl_h36m_joints`), all 17 joints scored (the
  official code's active 17-joint path; the paper's Table 1 also reports 14).

Every prior here is trained on CMU, so every row is cross-domain (the paper's Human3.6M rows use a prior
trained on Human3.6M). The errors are :func:`~posebook.experiments.zedo.common.score`'s (pelvis-centred).
Without ``data_root`` the table is empty and its data source says why.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from posebook.data.benchmarks.common import find_benchmarks
from posebook.data.benchmarks.h36m import load_h36m
from posebook.data.benchmarks.mpi_inf_3dhp import load_mpi_inf_3dhp
from posebook.data.benchmarks.pw3d import find_h36m_regressor, load_3dpw, load_h36m_regressor, smpl_h36m_joints
from posebook.data.pose_sets import PoseSet, benchmark_pose_set
from posebook.experiments.registry import ExperimentResult, experiment
from posebook.experiments.zedo.common import MAIN, ZEDO, load_data, run_rows, trained_priors
from posebook.geometry import camera
from posebook.optim.zedo import OFFICIAL_H36M, ZeDOConfig
from posebook.parameters import one_of

__all__ = ["BENCHMARKS", "MAX_POSES", "benchmark_set", "benchmarks"]


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One benchmark: its :func:`~posebook.data.benchmarks.common.find_benchmarks` key, the official code's
    test stride, initial-fit joints (None: all 17), IPO_T (m) and scale clamp, and the paper's numbers."""

    label: str
    key: str
    stride: int
    ipo_joints: tuple[int, ...] | None
    ipo_depth: float
    ipo_scale: tuple[float, float]
    paper: dict[int, str]


BENCHMARKS: dict[str, Benchmark] = {
    "h36m": Benchmark("Human3.6M test (S9, S11)", "h36m_3d", 640, (0, 1, 4), 3.0, (0.5, 2.0),
                      {1: "MPJPE 50.1, PA 35.8 (Table 4, GT 2D, H36M prior)",
                       50: "minMPJPE 37.0, PA 27.5 (Table 4, GT 2D, H36M prior)"}),
    "3dhp": Benchmark("MPI-INF-3DHP test", "mpi_inf_3dhp_test", 3, (0, 1, 4), 3.0, (0.5, 2.0),
                      {1: "MPJPE 99.9, PCK 81.8, AUC 50.9 (Table 3, cross-domain)",
                       50: "minMPJPE 69.9, PCK 90.2, AUC 58.8 (Table 3, cross-domain)"}),
    "3dpw": Benchmark("3DPW test", "3dpw_test", 35, None, 8.0, (0.2, 2.0),
                      {1: "MPJPE 69.7, PA 40.3 (Table 1, J = 17, cross-domain)"}),
}
#: At most this many poses per benchmark per profile, evenly spaced over the official subset (which holds
#: 886 / 959 / 1015 poses).
MAX_POSES = {"quick": 64, "long": 1100, "gpu": 100_000, "full": 100_000}


def _pw3d_pose_set(root: Path, stride: int) -> PoseSet:
    frames = load_3dpw(root, "test", stride=stride)
    smpl = root if any((root / "smpl").glob("SMPL_*")) else None
    joints = smpl_h36m_joints(frames, load_h36m_regressor(find_h36m_regressor(root)), smpl, placed=True)
    K = torch.from_numpy(frames["K"].copy())
    uv = camera.project(joints, K)
    centre, size = camera.bbox_from_points(uv, scale=1.2)
    source = [f"3dpw:{s}/actor{a}#{f}" for s, a, f in zip(frames["sequence"], frames["actor"], frames["frame"])]
    meta = pd.DataFrame({"subject": frames["sequence"], "clip": frames["sequence"], "frame": frames["frame"],
                         "source": source})
    return PoseSet(poses=(joints - joints[:, :1]).float(), root=joints[:, 0].float(), keypoints_2d=uv.float(),
                   K=K.float(), bbox_center=centre.float(), bbox_size=size.float(), meta=meta,
                   source=(f"3dpw benchmark ({', '.join(p.name for p in frames.sources)}), {len(frames)} poses, H36M "
                           f"regressor on the gendered SMPL mesh, every {stride}th valid test frame"))


def benchmark_set(name: str, data_root: str | Path, max_poses: int) -> PoseSet:
    """The test poses of benchmark ``name`` (:data:`BENCHMARKS`) under ``data_root``, at most ``max_poses`` of
    them, evenly spaced.

    Raises:
        FileNotFoundError: a file the benchmark needs (named by its loader).
    """
    root = Path(data_root).expanduser()
    bench = BENCHMARKS[name]
    if name == "h36m":
        poses = benchmark_pose_set(load_h36m(root, subjects="test", keypoints=None), official_h36m_subset=True)
    elif name == "3dhp":
        poses = benchmark_pose_set(load_mpi_inf_3dhp(root), stride=bench.stride)
    else:
        poses = _pw3d_pose_set(root, bench.stride)
    if len(poses) > max_poses:
        poses = poses.subset(np.linspace(0, len(poses) - 1, max_poses).round().astype(int))
    return poses


def _config(bench: Benchmark, official: bool, iterations: int) -> ZeDOConfig:
    """The paper's settings (all joints in the initial fit) or the official code's, with the benchmark's depth
    range (both: the code's IPO_T and clamp, the paper's Table 12)."""
    base = dataclasses.replace(OFFICIAL_H36M, ipo_joints=bench.ipo_joints) if official else ZeDOConfig()
    base = dataclasses.replace(base, ipo_depth=bench.ipo_depth, ipo_scale=bench.ipo_scale)
    return base.scaled(iterations) if iterations != base.iterations else base


_COLUMNS = {"benchmark": str, "poses": int, "S": int, "seed": int, "mpjpe_mm": float, "pa_mpjpe_mm": float,
            "min_mpjpe_mm": float, "pck": float, "auc": float, "paper": str}


def _empty(source: str) -> ExperimentResult:
    return ExperimentResult(pd.DataFrame({k: pd.Series(dtype=t) for k, t in _COLUMNS.items()}), source)


@experiment("zedo.benchmarks", checks={"benchmarks": one_of(*BENCHMARKS)})
def benchmarks(ctx, benchmarks: tuple = tuple(BENCHMARKS), max_poses: int = 0, hypotheses: int = 0,
               iterations: int = 0, official: bool = False, world_size: int = 0,
               prior_steps: int = 0) -> ExperimentResult:
    """ZeDO Tables 1-3 on each benchmark found under ``data_root`` (the module docstring): S = 1 and
    S = ``hypotheses`` (k-means centres of the prior's CMU training poses), exact 2D, per seed; MPJPE,
    PA-MPJPE, minMPJPE, PCK, AUC and the paper's row. ``official``: the official code's settings
    (:data:`~posebook.optim.zedo.OFFICIAL_H36M`, the benchmark's initial-fit joints). Sizes: :data:`ZEDO`,
    :data:`MAX_POSES`. Empty, with the reason, without ``data_root`` or without any of the benchmarks."""
    if ctx.data_root is None:
        return _empty("no data_root given (--data-root or $POSEBOOK_DATA_ROOT): no benchmark to evaluate on")
    root = Path(ctx.data_root)
    found = find_benchmarks(root)
    names = [n for n in benchmarks if found[BENCHMARKS[n].key] is not None]
    if not names:
        return _empty(f"none of {list(benchmarks)} under {root} (`posebook data` shows what is found)")
    sizes = ctx.sizes(ZEDO, hypotheses=hypotheses, iterations=iterations, world_size=world_size,
                      prior_steps=prior_steps)
    sets = {n: benchmark_set(n, root, max_poses or MAX_POSES[ctx.profile.name]) for n in names}  # fail early
    data = load_data(ctx, sizes)
    S_values = tuple(sorted({1, sizes["hypotheses"]}))
    rows = []
    for trained, seed in zip(trained_priors(ctx, data, sizes, MAIN, ctx.seeds()), ctx.seeds()):
        for name, poses in sets.items():
            bench = BENCHMARKS[name]
            for row in run_rows(ctx, dataclasses.replace(data, test=poses), trained, MAIN, seed,
                                config=_config(bench, official, sizes["iterations"]), inputs=("gt",),
                                S_values=S_values, benchmark=name, poses=len(poses)):
                rows.append({**row, "paper": bench.paper.get(row["S"], "")})
    frame = pd.DataFrame(rows)
    frame = frame[[c for c in _COLUMNS if c in frame] + [c for c in frame if c not in _COLUMNS]]
    source = "; ".join(f"{BENCHMARKS[n].label}: {p.source}" for n, p in sets.items())
    return ExperimentResult(frame, f"{source}; prior trained on {data.source} (every row cross-domain)")
