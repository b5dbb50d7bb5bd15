"""CLIFF's 3DPW protocol run on 3DPW itself, when ``data_root`` holds it: the regressors of ``cliff.ablation``
(trained on the world's crops) on the crops of the 3DPW test frames, each given its bbox and the
ground-truth focal length (CLIFF's I_bbox, Eq. 5).

The protocol is SPIN's ``eval.py``, which CLIFF evaluates with (issues #94, #178; :data:`PROTOCOL`): ground
truth = the H36M-17 joints regressed from each actor's gendered SMPL mesh
(:func:`~posebook.data.benchmarks.pw3d.smpl_h36m_joints`), both skeletons centred on the midpoint of the
hips, errors on SPIN's 14 joints ``H36M_TO_J14`` (:func:`~posebook.data.benchmarks.pw3d.pw3d_errors`).
What it needs under ``data_root``: as ``sgre.pw3d`` (3DPW test with its images, SMPL male and female, the H36M
regressor). Without 3DPW the table is empty and its data source says why.

What its numbers are: regressors trained on part-coloured renders of Anny, seeing photographs for the first
time; the protocol and the domain gap, not CLIFF's Table 2.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from posebook.data.benchmarks.common import find_benchmarks
from posebook.data.benchmarks.crops import BenchmarkCrops
from posebook.data.benchmarks.pw3d import load_3dpw_test, pw3d_errors
from posebook.data.protocol import EvalProtocol
from posebook.experiments.cliff.common import CLIFF, load_data, skeleton, trained_regressors
from posebook.experiments.registry import ExperimentResult, experiment
from posebook.geometry import camera
from posebook.models.cliff import VARIANTS, Variant
from posebook.parameters import one_of, positive

__all__ = ["PW3D_STRIDE", "PROTOCOL", "pw3d"]

#: Every how many 3DPW frames (30 fps) per profile.
PW3D_STRIDE = {"quick": 30, "long": 10, "gpu": 1, "full": 1}

PROTOCOL = EvalProtocol(
    paper="CLIFF",
    joint_set="14 of the H36M-17 joints (SPIN's H36M_TO_J14: no pelvis, torso, nose)",
    gt_joints="the H36M regressor on the gendered SMPL mesh of 3DPW's parameters (camera-frame orientation); "
              "prediction: the H36M-17 joints of the predicted Anny body",
    root="midpoint of the hips (H36M joints 1 and 4), as SPIN's eval.py",
    vertices="none: the prediction is an Anny mesh and the ground truth an SMPL one (different topologies)",
    bbox="square, 1.2 x the extent of the projected SMPL joints (jointPositions), no detector",
    focal="ground truth (f_x + f_y) / 2 of 3DPW's intrinsics (CLIFF issues #161, #178)",
    frames="3DPW test, every stride-th frame with a valid camera pose, every actor, full-resolution images",
    paper_protocol="boxes from the projected ground-truth COCO-17 keypoints x 1.2 on half-resolution images "
                   "(issues #94, #178), SMPL's PVE",
)


@torch.no_grad()
def _predicted_joints(model: torch.nn.Module, variant: Variant, crops: BenchmarkCrops, focal: torch.Tensor,
                      chunk: int = 256) -> torch.Tensor:
    """(N, 17, 3) float64 H36M-17 joints of the model's bodies, each crop given its I_bbox (Eq. 5) with
    ``focal`` (N,) when the variant takes it."""
    model.eval()
    device = next(model.parameters()).device
    sk = skeleton(device)
    parts = []
    for start in range(0, len(crops), chunk):
        rows = slice(start, start + chunk)
        extra = None
        if variant.bbox_input != "none":
            extra = camera.cliff_bbox_info(crops.bbox_center[rows], crops.bbox_size[rows], crops.image_size[rows],
                                           focal[rows], normalization=variant.bbox_input).to(device, torch.float32)
        out = model(crops.images[rows].to(device), extra)
        parts.append(sk.joints(out.rotations, out.shape, "h36m17").double())
    return torch.cat(parts)


def _empty(source: str) -> ExperimentResult:
    columns = {"variant": str, "seed": int, "frames": int, "mpjpe_mm": float, "pa_mpjpe_mm": float}
    return ExperimentResult(pd.DataFrame({k: pd.Series(dtype=t) for k, t in columns.items()}), source)


@experiment("cliff.pw3d", checks={"variants": one_of(*VARIANTS), "stride": positive})
def pw3d(ctx, variants: tuple = ("hmr", "no_ci", "cliff"), stride: int = 0, steps: int = 0, world_size: int = 0,
         seeds: int = 0) -> ExperimentResult:
    """CLIFF Table 2's rows on 3DPW test under SPIN's protocol (:data:`PROTOCOL`) for the regressors of
    ``cliff.ablation`` (the same cache): per variant and seed, MPJPE and PA-MPJPE (mm) over every ``stride``-th
    frame. Empty, with the reason in its data source, without ``data_root`` or without 3DPW's test split."""
    if ctx.data_root is None:
        return _empty("no data_root given (--data-root or $POSEBOOK_DATA_ROOT): no 3DPW to evaluate on")
    root = Path(ctx.data_root)
    split_dir = find_benchmarks(root)["3dpw_test"]
    if split_dir is None:
        return _empty(f"no 3DPW test split under {root} (expected 3dpw/sequenceFiles/test/*.pkl; "
                      f"`posebook data` shows what is found)")
    stride = stride or PW3D_STRIDE[ctx.profile.name]
    sizes = ctx.sizes(CLIFF, steps=steps, world_size=world_size, seeds=seeds)
    test = load_3dpw_test(root, stride, sizes["crop"], ctx.device)  # before any training: a missing file fails early
    data = load_data(ctx, sizes)
    rows = []
    for name in variants:
        for trained in trained_regressors(ctx, data, sizes, name, range(sizes["seeds"])):
            pred = _predicted_joints(trained.model, trained.variant, test.crops, test.focal)
            errors = pw3d_errors(pred, test.joints.to(pred.device), root="mid_hip")
            rows.append({"variant": name, "seed": trained.seed, "frames": len(test.frames),
                         **{k: float(v.mean()) for k, v in errors.items()}})
    source = f"{test.source}; regressors trained on {data.source} (real photographs are outside their training domain)"
    return ExperimentResult(pd.DataFrame(rows), source)
