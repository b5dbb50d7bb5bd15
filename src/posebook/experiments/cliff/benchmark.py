"""CLIFF's 3DPW protocol run on 3DPW itself, when ``data_root`` holds it: the regressors of Table 2's rows on the
crops of the 3DPW test frames, each given its bbox and the ground-truth focal length (CLIFF's I_bbox, Eq. 5),
trained three ways (``training``):

- "world": the regressors of ``cliff.ablation`` (the same cache), trained on the world's renders of Anny;
- "3dpw": the same network trained from its mean-parameter start on 3DPW's train split;
- "world+3dpw": the "world" regressor fine-tuned on 3DPW train (synthetic pre-training, real fine-tuning).

Training on 3DPW supervises joints only (:mod:`posebook.models.joint_targets`): 3DPW's labels are SMPL
meshes and the regressors predict Anny bodies, so the H36M-17 joints regressed from the ground-truth mesh
(the protocol's own ground truth) and their projections are what both share. The training frames are every
``train_stride``-th valid frame of 3DPW train; the learning curve is the MPJPE on 3DPW's validation split
when it is under ``data_root`` (never on test).

The protocol is SPIN's ``eval.py``, which CLIFF evaluates with (issues #94, #178; :data:`PROTOCOL`): ground
truth = the H36M-17 joints regressed from each actor's gendered SMPL mesh
(:func:`~posebook.data.benchmarks.pw3d.smpl_h36m_joints`), both skeletons centred on the midpoint of the
hips, errors on SPIN's 14 joints ``H36M_TO_J14`` (:func:`~posebook.data.benchmarks.pw3d.pw3d_errors`).
What it needs under ``data_root``: as ``sgre.pw3d`` (3DPW test with its images, SMPL male and female, the H36M
regressor), and 3DPW train for the trained rows. Without 3DPW the table is empty and its data source says why.

What its numbers are: small regressors at the profile's sizes; the "world" rows see photographs for the
first time. The protocol and the domain gap, not CLIFF's Table 1.
"""

from __future__ import annotations

from pathlib import Path

import copy
import dataclasses
from typing import Optional, Sequence

import pandas as pd
import torch

from posebook.data.benchmarks.common import find_benchmarks
from posebook.data.benchmarks.crops import BenchmarkCrops
from posebook.data.benchmarks.pw3d import PW3DImages, load_3dpw_images, pw3d_errors
from posebook.data.protocol import EvalProtocol
from posebook.experiments.cliff.common import (CLIFF, Data, Trained, build_model, load_data, settings, skeleton,
                                               trained_regressors)
from posebook.experiments.registry import ExperimentResult, experiment
from posebook.geometry import camera
from posebook.models import cliff as cliff_model
from posebook.models.cliff import VARIANTS, Variant
from posebook.models.joint_targets import JointTargets, joint_losses
from posebook.optim.trainer import train_model
from posebook.parameters import one_of, positive
from posebook.runs import RunContext, code_hash, curve_json

__all__ = ["PW3D_STRIDE", "PW3D_TRAIN_STRIDE", "TRAININGS", "PROTOCOL", "pw3d", "pw3d_regressors"]

#: Every how many 3DPW test frames (30 fps) per profile.
PW3D_STRIDE = {"quick": 30, "long": 10, "gpu": 1, "full": 1}
#: Every how many 3DPW train frames per profile (the crops of 22,735 actor-frames at stride 1).
PW3D_TRAIN_STRIDE = {"quick": 30, "long": 5, "gpu": 1, "full": 1}
#: Where a row's regressor learnt (module docstring).
TRAININGS = ("world", "3dpw", "world+3dpw")

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


def _errors(model: torch.nn.Module, variant: Variant, split: PW3DImages) -> dict[str, torch.Tensor]:
    """(N,) MPJPE and PA-MPJPE (mm) of the model on a split under :data:`PROTOCOL`."""
    pred = _predicted_joints(model, variant, split.crops, split.focal)
    return pw3d_errors(pred, split.joints.to(pred.device), root="mid_hip")


def pw3d_regressors(ctx: RunContext, data: Data, sizes: dict, name: str, seeds: Sequence[int], training: str,
                    train: PW3DImages, validation: Optional[PW3DImages], steps: int) -> list[Trained]:
    """One regressor per seed for the variant ``name`` trained on 3DPW train (``training`` "3dpw": from the
    mean-parameter start of the world's regressors; "world+3dpw": fine-tuning the "world" regressor of that
    seed) with :func:`~posebook.models.joint_targets.joint_losses`, at the profile's settings for ``steps``
    steps; trained once per (data, sizes, code) and cached, an interrupted training resumes from its
    checkpoint. The curve is the validation split's MPJPE (mm) when ``validation`` is given."""
    if training not in ("3dpw", "world+3dpw"):
        raise ValueError(f"training on 3DPW is '3dpw' or 'world+3dpw', got {training!r}")
    worlds = trained_regressors(ctx, data, sizes, name, seeds)  # the start of both: its mean parameters, its weights
    targets = JointTargets.from_pw3d(train, ctx.device)
    sk = skeleton(ctx.device)
    run = dataclasses.replace(settings(sizes), steps=steps)
    base = {"world": data.world_key, "sizes": sizes, "steps": steps, "training": training, "variant": name,
            "train": train.source, "validation": validation.source if validation is not None else None,
            "code": code_hash(__name__), "data": ctx.data_digests()}

    def compute(keys: list[dict]) -> list[dict]:
        out = []
        for key in keys:
            world = next(w for w in worlds if w.seed == key["seed"])
            # "3dpw": the same network, initialised as a fresh one of that seed; else the world's weights
            model = (build_model(sizes, world.variant, world.model.head.x0.detach().cpu(), key["seed"], ctx.device)
                     if training == "3dpw" else copy.deepcopy(world.model))
            model.train()

            def loss_fn(m, index):
                batch = targets.take(index)
                return joint_losses(sk, m(batch.images, cliff_model.bbox_input(world.variant, batch)), batch,
                                    world.variant)

            def eval_fn(m):
                return {"mpjpe_mm": float(_errors(m, world.variant, validation)["mpjpe_mm"].mean())}

            checkpoint = ctx.store.artifact_path("cliff.pw3d_checkpoint", key) if ctx.store is not None else None
            result = train_model(model, loss_fn, len(targets), run, seed=key["seed"], checkpoint=checkpoint,
                                 eval_fn=eval_fn if validation is not None else None)
            out.append({"state": model.state_dict(), "history": result.history.to_dict("list"),
                        "diverged_step": result.diverged_step, "steps": result.steps_done})
        return out

    keys = [{**base, "seed": s} for s in seeds]
    values = ctx.cached("cliff.pw3d_regressor", keys, compute)
    if ctx.store is not None:  # the artifact is kept: its checkpoint is no longer needed
        for key in keys:
            ctx.store.artifact_path("cliff.pw3d_checkpoint", key).unlink(missing_ok=True)
    result = []
    for world, value in zip(worlds, values):
        model = copy.deepcopy(world.model)
        model.load_state_dict(value["state"])
        model.eval()
        hist = pd.DataFrame(value["history"])
        curve = curve_json(hist["step"], hist["mpjpe_mm"]) if "mpjpe_mm" in hist else ""
        result.append(Trained(model, name, world.variant, world.seed, value["steps"], value["diverged_step"], curve,
                              hist))
    return result


_COLUMNS = {"variant": str, "training": str, "seed": int, "frames": int, "train_frames": int, "steps": int,
            "mpjpe_mm": float, "pa_mpjpe_mm": float, "curve_mpjpe_mm": str}


def _empty(source: str) -> ExperimentResult:
    return ExperimentResult(pd.DataFrame({k: pd.Series(dtype=t) for k, t in _COLUMNS.items()}), source)


@experiment("cliff.pw3d", checks={"variants": one_of(*VARIANTS), "training": one_of(*TRAININGS),
                                  "stride": positive, "train_stride": positive})
def pw3d(ctx, variants: tuple = ("hmr", "no_ci", "cliff"), training: tuple = TRAININGS, stride: int = 0,
         train_stride: int = 0, steps: int = 0, pw3d_steps: int = 0, world_size: int = 0,
         seeds: int = 0) -> ExperimentResult:
    """CLIFF Table 2's rows on 3DPW test under SPIN's protocol (:data:`PROTOCOL`), per variant, ``training``
    (:data:`TRAININGS`: the world's regressors of ``cliff.ablation``, the same cache; trained on 3DPW train;
    world regressors fine-tuned on it, ``pw3d_steps`` steps, default the profile's) and seed: MPJPE and
    PA-MPJPE (mm) over every ``stride``-th test frame, the training frames used and the validation curve.
    Empty, with the reason in its data source, without ``data_root`` or without 3DPW's test split; the rows
    trained on 3DPW need its train split (a clear error without it)."""
    if ctx.data_root is None:
        return _empty("no data_root given (--data-root or $POSEBOOK_DATA_ROOT): no 3DPW to evaluate on")
    root = Path(ctx.data_root)
    found = find_benchmarks(root)
    if found["3dpw_test"] is None:
        return _empty(f"no 3DPW test split under {root} (expected 3dpw/sequenceFiles/test/*.pkl; "
                      f"`posebook data` shows what is found)")
    on_3dpw = [t for t in training if t != "world"]
    if on_3dpw and found["3dpw_train"] is None:
        raise FileNotFoundError(f"training={on_3dpw} trains on 3DPW's train split, which is not under {root} "
                                f"(expected 3dpw/sequenceFiles/train/*.pkl and its imageFiles); give "
                                f"training=('world',) to evaluate the world's regressors only")
    stride = stride or PW3D_STRIDE[ctx.profile.name]
    train_stride = train_stride or PW3D_TRAIN_STRIDE[ctx.profile.name]
    sizes = ctx.sizes(CLIFF, steps=steps, world_size=world_size, seeds=seeds)
    # every 3DPW file is read before any training: a missing one fails early
    test = load_3dpw_images(root, "test", stride, sizes["crop"], ctx.device)
    train = load_3dpw_images(root, "train", train_stride, sizes["crop"], ctx.device) if on_3dpw else None
    validation = (load_3dpw_images(root, "validation", stride, sizes["crop"], ctx.device)
                  if on_3dpw and found["3dpw_validation"] is not None else None)
    data = load_data(ctx, sizes)
    rows = []
    for name in variants:
        for how in training:
            if how == "world":
                models = trained_regressors(ctx, data, sizes, name, range(sizes["seeds"]))
            else:
                models = pw3d_regressors(ctx, data, sizes, name, range(sizes["seeds"]), how, train, validation,
                                         pw3d_steps or sizes["steps"])
            for trained in models:
                errors = _errors(trained.model, trained.variant, test)
                rows.append({"variant": name, "training": how, "seed": trained.seed, "frames": len(test.frames),
                             "train_frames": 0 if how == "world" else len(train.frames),
                             "steps": trained.steps, **{k: float(v.mean()) for k, v in errors.items()},
                             "curve_mpjpe_mm": trained.curve if how != "world" else ""})
    source = f"{test.source}; world regressors trained on {data.source} (real photographs are outside its domain)"
    if train is not None:
        source += (f"; 3DPW rows trained on {train.source} (joint labels only), curve on "
                   + (validation.source if validation is not None else "nothing (no 3DPW validation split)"))
    return ExperimentResult(pd.DataFrame(rows, columns=list(_COLUMNS)), source)
