"""SGRE's 3DPW protocol run on 3DPW itself, when ``data_root`` holds it: the regressors of ``sgre.ablation``
(trained on the world's crops) on the crops of the 3DPW test frames.

The protocol is the official one (``data/PW3D/PW3D.py`` L260-306 of kennethwdk/SGRE, :data:`PROTOCOL`):
ground truth = the H36M-17 joints regressed from each actor's gendered SMPL mesh
(:func:`~posebook.data.benchmarks.pw3d.smpl_h36m_joints`), prediction = the H36M-17 joints of the predicted
body, both centred on their pelvis, errors on the 14 joints
:data:`~posebook.data.benchmarks.pw3d.PW3D_EVAL_JOINTS` (:func:`~posebook.data.benchmarks.pw3d.pw3d_errors`);
PA-MPJPE after the similarity Procrustes of those 14. What it needs under ``data_root``: ``3dpw/sequenceFiles/test/*.pkl`` and
``3dpw/imageFiles/``, the SMPL models (``smpl/SMPL_MALE.pkl``, ``SMPL_FEMALE.pkl``, or ``$POSEBOOK_SMPL_DIR``),
and the H36M regressor (:data:`~posebook.data.benchmarks.pw3d.H36M_REGRESSOR_FILES`). Without 3DPW the table
is empty and its data source says why (a batch of every experiment runs on).

What its numbers are: the world's regressors see real photographs for the first time (they trained on
part-coloured renders of Anny), so this measures the protocol and the domain gap, not SGRE's Table 1. The
path is the one a user with licensed data trains on (the crops and labels feed the same models).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from posebook.data.benchmarks.common import find_benchmarks
from posebook.data.benchmarks.pw3d import load_3dpw_images, pw3d_errors
from posebook.data.protocol import EvalProtocol
from posebook.experiments.registry import ExperimentResult, experiment
from posebook.experiments.sgre.common import SGRE, load_data, skeleton, trained_regressors
from posebook.models.sgre import VARIANTS, SGRERegressor
from posebook.parameters import one_of, positive

__all__ = ["PW3D_STRIDE", "PROTOCOL", "pw3d"]

#: Every how many 3DPW frames (30 fps) per profile.
PW3D_STRIDE = {"quick": 30, "long": 10, "gpu": 1, "full": 1}

PROTOCOL = EvalProtocol(
    paper="SGRE",
    joint_set="14 of the H36M-17 joints (1-6, 8, 10-16: no pelvis, torso, nose)",
    gt_joints="the H36M regressor on the gendered SMPL mesh of 3DPW's parameters (camera-frame orientation); "
              "prediction: the H36M-17 joints of the predicted Anny body",
    root="pelvis (H36M joint 0 of each skeleton)",
    vertices="none: the prediction is an Anny mesh and the ground truth an SMPL one (different topologies)",
    bbox="square, 1.2 x the extent of the projected SMPL joints (jointPositions), no detector",
    focal="not used by the model (weak-perspective crop camera)",
    frames="3DPW test, every stride-th frame with a valid camera pose, every actor",
    paper_protocol="the same joints and alignment (official PW3D.py); the paper's bbox comes from 3DCrowdNet's "
                   "pipeline and its MPVPE from the SMPL mesh",
)


@torch.no_grad()
def _predicted_joints(model: SGRERegressor, images: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """(N, 17, 3) float64 H36M-17 joints of the model's bodies for (N, S, S, 3) uint8 crops."""
    model.eval()
    device = next(model.parameters()).device
    sk = skeleton(device)
    parts = []
    for start in range(0, len(images), chunk):
        out = model(images[start:start + chunk].to(device))
        parts.append(sk.joints(out.relative, out.shape, "h36m17").double())
    return torch.cat(parts)


def _empty(source: str) -> ExperimentResult:
    columns = {"variant": str, "method": str, "seed": int, "frames": int, "mpjpe_mm": float, "pa_mpjpe_mm": float}
    return ExperimentResult(pd.DataFrame({k: pd.Series(dtype=t) for k, t in columns.items()}), source)


@experiment("sgre.pw3d", checks={"variants": one_of(*VARIANTS), "stride": positive})
def pw3d(ctx, variants: tuple = ("relative", "sgre"), stride: int = 0, steps: int = 0, world_size: int = 0,
         seeds: int = 0) -> ExperimentResult:
    """SGRE Table 1's protocol on 3DPW test (:data:`PROTOCOL`) for the regressors of ``sgre.ablation`` (the
    same cache): per variant and seed, MPJPE and PA-MPJPE (mm) over every ``stride``-th frame. Empty, with
    the reason in its data source, without ``data_root`` or without 3DPW's test split there."""
    if ctx.data_root is None:
        return _empty("no data_root given (--data-root or $POSEBOOK_DATA_ROOT): no 3DPW to evaluate on")
    root = Path(ctx.data_root)
    split_dir = find_benchmarks(root)["3dpw_test"]
    if split_dir is None:
        return _empty(f"no 3DPW test split under {root} (expected 3dpw/sequenceFiles/test/*.pkl; "
                      f"`posebook data` shows what is found)")
    stride = stride or PW3D_STRIDE[ctx.profile.name]
    sizes = ctx.sizes(SGRE, steps=steps, world_size=world_size, seeds=seeds)
    test = load_3dpw_images(root, "test", stride, sizes["crop"], ctx.device)  # before any training: a missing file fails early
    data = load_data(ctx, sizes)
    rows = []
    for name in variants:
        for trained in trained_regressors(ctx, data, sizes, name, range(sizes["seeds"])):
            pred = _predicted_joints(trained.model, test.crops.images)
            errors = pw3d_errors(pred, test.joints.to(pred.device), root="pelvis")
            rows.append({"variant": name, "method": trained.config.label, "seed": trained.seed,
                         "frames": len(test.frames), **{k: float(v.mean()) for k, v in errors.items()}})
    source = f"{test.source}; regressors trained on {data.source} (real photographs are outside their training domain)"
    return ExperimentResult(pd.DataFrame(rows), source)
