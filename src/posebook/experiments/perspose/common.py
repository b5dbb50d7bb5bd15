"""What every PersPose table experiment shares: the size presets, the two worlds (narrow and wide subject
placement), the plain and the perspective-rotated crops, the trained networks (cached, resumable) and
their evaluation.

Data: rendered full frames of the book's synthetic world (:func:`posebook.data.image_sets.build_image_set`
with ``full_frames=True``; CMU motion on Anny, procedural poses without the CMU subset), 160 x 120 pixels
so that the frame has about the crop's resolution around the subject. Every crop, with or without PR,
comes from the same warp of the full frame (:func:`posebook.data.perspective_crops.rotated_crops`;
``rotate=False`` is the plain crop), so the rows differ only in PE and PR. Training: the WIDE world
(subjects up to 80% of the way to the border, like MPI-INF-3DHP or BEDLAM), split by CMU clip; tests:
its held-out clips and the same clips in a NARROW world (subjects near the centre, phi around 5 deg
like 3DPW and Human3.6M, PersPose Fig. 7; spread 0.2 gives a median of about 4 deg).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import torch

from posebook import metrics
from posebook.data.image_sets import build_image_set
from posebook.data.perspective_crops import rotated_crops
from posebook.data.protocol import EvalProtocol
from posebook.data.world import WorldConfig, world_cache_key, world_data_source
from posebook.models import perspose as pp
from posebook.models.perspose import PersPoseNet, PersPoseTargets
from posebook.optim.trainer import TrainSettings, train_model
from posebook.runs import RunContext, code_hash, curve_json

__all__ = ["PERSPOSE", "WORLDS", "VARIANTS", "PROTOCOL", "Variant", "Data", "load_data", "Trained",
           "trained_networks", "evaluate", "variant_of"]

#: Sizes per profile. quick: the book build on a 2-core CPU (small encoder, early training, one seed);
#: long: three seeds, longer, on that CPU; gpu: a ResNet-18 on larger crops; full: the paper's crop
#: (256 px) and schedule length (AdamW 3e-4, ~100 epochs of 3e5 samples, Sec. 5.1 / official configs).
PERSPOSE = {
    "quick": dict(world_size=2000, crop=64, backbone="small", width=32, steps=250, batch=32, lr=1e-3, seeds=1,
                  test_samples=200, curve_samples=128),
    "long": dict(world_size=6000, crop=64, backbone="small", width=32, steps=1500, batch=48, lr=1e-3, seeds=3,
                 test_samples=600, curve_samples=256),
    "gpu": dict(world_size=30000, crop=128, backbone="resnet18", width=32, steps=4000, batch=128, lr=3e-4, seeds=3,
                test_samples=3000, curve_samples=1000),
    "full": dict(world_size=100000, crop=256, backbone="resnet50", width=32, steps=100000, batch=128, lr=3e-4,
                 seeds=3, test_samples=10000, curve_samples=2000),
}

#: The two worlds: the same cameras, depths and motion, subjects placed near the principal point
#: (narrow) or anywhere up to 80% of the way to the border (wide).
_WORLD = dict(seed=0, fps_subsample=10.0, fov_deg=(35.0, 75.0), depth=(3.0, 7.0), joint_sets=("h36m17",),
              bbox_scale=1.2, image_size=(160, 120))
WORLDS = {"narrow": 0.2, "wide": 0.8}
_TRAIN_FRAC = 0.8


@dataclass(frozen=True)
class Variant:
    """One row of PersPose Table 2: perspective encoding (``pe``) and perspective rotation (``pr``, with its
    aim: the principal point as the code, or the image centre as the paper's words); and, for the
    cross-paper table, CLIFF's bounding-box input (``ci``: I_bbox of CLIFF Eq. 5 into the depth and scale
    heads, :class:`~posebook.models.perspose.PersPoseNet` ``extra_dim``)."""

    pe: bool
    pr: bool
    aim: str = "principal_point"
    ci: bool = False

    @property
    def label(self) -> str:
        if not (self.pe or self.pr or self.ci):
            return "baseline (no PE, no PR)"
        label = "+" + "+".join(s for s, on in (("CI", self.ci), ("PE", self.pe), ("PR", self.pr)) if on)
        return label + (" (PR to the image centre)" if self.pr and self.aim != "principal_point" else "")


#: Table 2's rows, PR alone (not in the paper), and the cross-paper rows: CLIFF's bbox input (CI) alone
#: and with PE + PR.
VARIANTS = {"baseline": Variant(False, False), "pe": Variant(True, False), "pe_pr": Variant(True, True),
            "pr": Variant(False, True), "ci": Variant(False, False, ci=True),
            "ci_pe_pr": Variant(True, True, ci=True)}

PROTOCOL = EvalProtocol(
    paper="PersPose",
    joint_set="h36m17",
    gt_joints="the body model's own joints (Anny forward kinematics), as PersPose regresses them from the mesh",
    root="pelvis (H36M joint 0)",
    vertices="not evaluated (the decoder predicts joints; the paper's PVE comes from its SMPL IK)",
    bbox="square, 1.2 x the extent of the projected mesh and keypoints (ground truth, no detector)",
    focal="ground truth (the crop intrinsics K_crop feed PE and the lifting of Eq. 5)",
    frames="CMU clips of 4 subjects at 10 fps, split by clip; train: the wide world; test: its held-out clips "
           "(wide) and the same clips in the narrow world",
    paper_protocol="3DPW test (14 joints) and MPI-INF-3DHP test (17 joints); depth error = mean |d_i - d_i*| of "
                   "the decoder's relative depths; MPJPE / PA-MPJPE on mesh joints; PR metrics in the rotated frame",
)


def variant_of(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown PersPose variant {name!r}; choose from {sorted(VARIANTS)}") from None


@dataclass
class Data:
    """Training targets (per PR setting), the narrow and wide test sets, the data source, the worlds' keys."""

    train: dict
    test: dict  # "narrow" / "wide" -> {pr: PersPoseTargets}
    phi: dict  # "train" / "narrow" / "wide" -> (N,) phi in degrees
    source: str
    world_key: str


def world_config(sizes: dict, ctx: RunContext, spread: float) -> WorldConfig:
    cmu = str(ctx.cmu_dir) if ctx.cmu_dir else None
    return WorldConfig(size=sizes["world_size"], crop_size=sizes["crop"], cmu_dir=cmu, render=False,
                       placement_spread=spread, **_WORLD)


def _targets(images, aim: str, crop: int, device) -> tuple[dict, torch.Tensor]:
    world = images.world
    out = {}
    phi = None
    for pr in (False, True):
        crops = rotated_crops(images.full_frames, world.K, world.bbox_center, world.bbox_size, crop, aim=aim,
                              rotate=pr)
        phi = crops.phi_deg
        out[pr] = PersPoseTargets.from_world(world, crops).to(device)
    return out, phi


def load_data(ctx: RunContext, sizes: dict, aim: str = "principal_point") -> Data:
    """The wide world's training clips and held-out clips, and the same held-out clips in the narrow world;
    plain and PR crops of each (built once per data and code: the renders are cached)."""
    sets, phis, keys, sources = {}, {}, [], []
    for name, spread in WORLDS.items():
        config = world_config(sizes, ctx, spread)
        images = build_image_set(config, full_frames=True)
        train, test = images.split(_TRAIN_FRAC, seed=0)
        n = min(sizes["test_samples"], len(test))
        test = test.subset(np.linspace(0, len(test) - 1, n).round().astype(int))
        sets[name], phis[name] = _targets(test, aim, sizes["crop"], ctx.device)
        if name == "wide":
            train_targets, phis["train"] = _targets(train, aim, sizes["crop"], ctx.device)
        keys.append(world_cache_key(config))
        sources.append(f"{name} (spread {spread:g}): median phi {float(phis[name].median()):.1f} deg")
    source = (f"{world_data_source(images.world)}: rendered 160 x 120 frames, {sizes['crop']}-px crops; train: the "
              f"wide world's clips ({len(train_targets[False])}); test: held-out clips, " + "; ".join(sources))
    return Data(train_targets, sets, phis, source, "+".join(keys))


@dataclass
class Trained:
    model: PersPoseNet
    name: str
    variant: Variant
    seed: int
    steps: int
    diverged_step: Optional[int]
    curve: str


def build_model(sizes: dict, variant: Variant, seed: int, device) -> PersPoseNet:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = PersPoseNet(17, sizes["crop"], backbone=sizes["backbone"], width=sizes["width"], pe=variant.pe,
                            extra_dim=3 if variant.ci else 0)
    return model.to(device)


def settings(sizes: dict) -> TrainSettings:
    """AdamW-like Adam at a constant rate (the official StepLR decay would flatten the curve the convergence
    rule reads), gradient norm clipped (the official clip is 100; 1 here, as the book's other image models)."""
    return TrainSettings(steps=sizes["steps"], batch=sizes["batch"], lr=sizes["lr"], grad_clip=1.0,
                         log_every=max(1, sizes["steps"] // 16))


def trained_networks(ctx: RunContext, data: Data, sizes: dict, name: str, seeds: Sequence[int]) -> list[Trained]:
    """One network per seed for the variant ``name`` (:data:`VARIANTS`), trained on the wide world's clips
    (PR crops when the variant has PR), cached per (data, sizes, variant, code); resumes after interruption."""
    variant = variant_of(name)
    # The seed count is left out of the key: seed s's network is the same whichever seeds run beside it.
    base = {"world": data.world_key, "variant": dataclasses.asdict(variant),
            "sizes": {k: v for k, v in sizes.items() if k != "seeds"},
            "code": code_hash(__name__), "data": ctx.data_digests()}
    train = data.train[variant.pr]
    curve_set = data.test["wide"][variant.pr].take(torch.arange(min(sizes["curve_samples"],
                                                                     len(data.test["wide"][variant.pr]))))

    def compute(keys: list[dict]) -> list[dict]:
        out = []
        for key in keys:
            model = build_model(sizes, variant, key["seed"], ctx.device)

            def loss_fn(m, index):
                batch = train.take(index)
                return pp.losses(m(batch.images, batch.K_crop, batch.extra_for(m)), batch)

            def eval_fn(m):
                return {"mpjpe_mm": float(evaluate(m, curve_set)["mpjpe_mm"].mean())}

            checkpoint = ctx.store.artifact_path("perspose.checkpoint", key) if ctx.store is not None else None
            result = train_model(model, loss_fn, len(train), settings(sizes), seed=key["seed"],
                                 checkpoint=checkpoint, eval_fn=eval_fn)
            out.append({"state": model.state_dict(), "history": result.history.to_dict("list"),
                        "diverged_step": result.diverged_step, "steps": result.steps_done})
        return out

    keys = [{**base, "seed": s} for s in seeds]
    values = ctx.cached("perspose.network", keys, compute)
    if ctx.store is not None:
        for key in keys:
            ctx.store.artifact_path("perspose.checkpoint", key).unlink(missing_ok=True)
    result = []
    for seed, value in zip(seeds, values):
        model = build_model(sizes, variant, seed, ctx.device)
        model.load_state_dict(value["state"])
        model.eval()
        hist = pd.DataFrame(value["history"])
        curve = curve_json(hist["step"], hist["mpjpe_mm"]) if "mpjpe_mm" in hist else ""
        result.append(Trained(model, name, variant, seed, value["steps"], value["diverged_step"], curve))
    return result


@torch.no_grad()
def evaluate(model: PersPoseNet, targets: PersPoseTargets) -> pd.DataFrame:
    """Per test sample, under :data:`PROTOCOL`: MPJPE and PA-MPJPE (H36M-17, pelvis-aligned, mm) of the lifted
    joints rotated back to the original camera (Eq. 6), the depth error (mean ``|d_i - d_i*|`` over the joints,
    mm) of the relative depths in the ORIGINAL camera (comparable across variants) and in the frame the
    network predicts in (``depth_model_mm``, the paper's reading), and the 2D error of the soft-argmax (px)."""
    out = pp.predict(model, targets)
    pred = pp.rotate_back(out.joints.double(), targets.R.double(), check=False)
    gt = pp.rotate_back(targets.joints.double(), targets.R.double(), check=False)
    rel = lambda p: p[..., 2] - p[..., :1, 2]  # noqa: E731  (relative depth to the pelvis)
    rows = {"mpjpe_mm": metrics.mpjpe(pred, gt, root=0), "pa_mpjpe_mm": metrics.pa_mpjpe(pred, gt),
            "depth_mm": 1000 * (rel(pred) - rel(gt)).abs().mean(dim=-1),
            "depth_model_mm": 1000 * (out.rel_depth.double() - targets.rel_depth.double()).abs().mean(dim=-1),
            "uv_px": (out.uv - targets.uv).norm(dim=-1).mean(dim=-1)}
    return pd.DataFrame({k: v.detach().cpu().double().numpy() for k, v in rows.items()})
