"""What every SGRE experiment shares: the size presets, the image data (with its occluded copy), the
evaluation protocol, the trained regressors (cached, resumable) and their evaluation.

Data: the crops of the CLIFF chapter's world (:mod:`posebook.data.image_sets`; the same world
parameters, so the two chapters share one cached image set): part-coloured renders of CMU motion
retargeted to Anny (procedural poses without the CMU subset), 35-75 deg field of view, split by CMU
clip. The occluded test set (the 3DPW-OCC analogue of Tables 4 and 6) is the same test crops with one
synthetic occluder each (:func:`posebook.data.occlusion.occlude`, seed 0).

Regressors (:mod:`posebook.models.sgre`): one per (variant, seed), the same encoder, initial encoder
weights and batches for every variant of a seed (a paired comparison), trained by
:func:`posebook.optim.trainer.train_model` with checkpoints in the result store, kept as an artifact
keyed on the data, the sizes, the head and the code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import torch

from posebook import metrics
from posebook.analysis.chains import SGRE_CHAINS, chain_errors
from posebook.body.anny_skeleton import AnnySkeleton
from posebook.body.joints import ANNY_CMU_MB, ANNY_CMU_MB_PARENTS
from posebook.body.models import shared_anny_body
from posebook.data.image_sets import build_image_set
from posebook.data.occlusion import occlude
from posebook.data.protocol import EvalProtocol
from posebook.data.world import WorldConfig, world_cache_key, world_data_source
from posebook.models import sgre as sgre_model
from posebook.models.backbones import make_backbone
from posebook.models.cliff import ImageTargets
from posebook.models.sgre import HeadConfig, Means, SGRERegressor, SGRETargets
from posebook.optim.trainer import TrainSettings, train_model
from posebook.runs import RunContext, code_hash, curve_json

__all__ = ["SGRE", "WORLD", "PROTOCOL", "Data", "load_data", "Trained", "trained_regressors", "evaluate",
           "head_of", "skeleton", "chains_of"]

#: Sizes per profile. quick: the book build on a 2-core CPU (a small encoder, early training, one seed);
#: long: longer training, three seeds, on that CPU; gpu: a ResNet-18 on larger crops; full: the paper's
#: recipe (ResNet-50 at 256 px, batch 160, lr 1e-3 for the heads and 1e-4 for the encoder, ~10 epochs).
SGRE = {
    "quick": dict(world_size=4000, crop=64, backbone="small", width=32, hidden=128, steps=200, batch=32, lr=1e-3,
                  seeds=1, test_samples=400, curve_samples=128),
    "long": dict(world_size=12000, crop=64, backbone="small", width=32, hidden=128, steps=1500, batch=48, lr=1e-3,
                 seeds=3, test_samples=1200, curve_samples=256),
    "gpu": dict(world_size=32000, crop=128, backbone="resnet18", width=32, hidden=128, steps=4000, batch=160,
                lr=1e-3, seeds=3, test_samples=4000, curve_samples=1000),
    "full": dict(world_size=100000, crop=256, backbone="resnet50", width=32, hidden=128, steps=60000, batch=160,
                 lr=1e-3, seeds=3, test_samples=10000, curve_samples=2000),
}

#: The CLIFF chapter's world (the same values, so both chapters read one cached image set).
WORLD = dict(seed=0, fps_subsample=10.0, placement_spread=0.8, fov_deg=(35.0, 75.0), depth=(3.0, 7.0),
             joint_sets=("cmu31", "h36m17"), bbox_scale=1.2)
_TRAIN_FRAC = 0.8

#: SGRE's protocol (Sec. 4.1 and the official ``data/PW3D/PW3D.py`` L260-306) as applied to the world.
PROTOCOL = EvalProtocol(
    paper="SGRE",
    joint_set="h36m17",
    gt_joints="the body model's own joints (Anny forward kinematics), as the official code regresses H36M joints "
              "from the ground-truth mesh",
    root="pelvis (H36M joint 0)",
    vertices="PVE on 500 mesh vertices spread evenly over the body (farthest-point subset), pelvis-centred",
    bbox="square, 1.2 x the extent of the projected mesh and keypoints (ground truth, no detector)",
    focal="not used by the model (weak-perspective crop camera, f = 5000 virtual camera as 3DCrowdNet)",
    frames="CMU clips of 4 subjects resampled to 10 fps, split by clip (80% of frames train, the other clips test); "
           "occluded set: the same test crops, one synthetic occluder each (seed 0)",
    paper_protocol="3DPW test (and 3DPW-OCC): 14 of the H36M-17 joints regressed from the mesh, pelvis-aligned, "
                   "similarity Procrustes for PA-MPJPE; MPVPE after subtracting SMPL joint 0; MPJAE: geodesic "
                   "angle, no evaluation code released",
)


@dataclass
class Data:
    """Training and test crops with SGRE's labels, the occluded test set, the data source and the world's key."""

    train: SGRETargets
    test: SGRETargets
    occluded: SGRETargets
    occluded_joints: torch.Tensor
    source: str
    world_key: str


_SKELETONS: dict = {}


def skeleton(device: torch.device, num_vertices: int = 0) -> AnnySkeleton:
    """Anny's rest skeleton (forward kinematics for the losses; ``num_vertices`` for PVE), float32."""
    key = (str(device), num_vertices)
    if key not in _SKELETONS:
        _SKELETONS[key] = AnnySkeleton(shared_anny_body(), num_vertices=num_vertices).to(device=device,
                                                                                         dtype=torch.float32)
    return _SKELETONS[key]


def world_config(sizes: dict, ctx: RunContext) -> WorldConfig:
    cmu = str(ctx.cmu_dir) if ctx.cmu_dir else None
    return WorldConfig(size=sizes["world_size"], crop_size=sizes["crop"], cmu_dir=cmu, render=False, **WORLD)


def load_data(ctx: RunContext, sizes: dict) -> Data:
    """The chapter's crops: built once per data and code (cached), split by clip, moved to the device;
    the occluded copy of the test crops."""
    config = world_config(sizes, ctx)
    images = build_image_set(config)
    train, test = images.split(_TRAIN_FRAC, seed=0)
    n = min(sizes["test_samples"], len(test))
    test = test.subset(np.linspace(0, len(test) - 1, n).round().astype(int))
    sk = skeleton(ctx.device)
    train_t = SGRETargets.from_image_targets(ImageTargets.from_world(train.world, train.images, ctx.device), sk)
    test_t = SGRETargets.from_image_targets(ImageTargets.from_world(test.world, test.images, ctx.device), sk)
    crop = float(sizes["crop"])
    occ = occlude(test_t.image.images, (test_t.pivots + 1.0) * (0.5 * crop), seed=0)
    occluded = SGRETargets(dataclasses.replace(test_t.image, images=occ.images.to(ctx.device)),
                           test_t.global_rotations, test_t.pivots)
    source = (f"{world_data_source(images.world)}: {len(images)} rendered {sizes['crop']}-px crops, {len(train)} "
              f"train / {n} test; occluded test: one synthetic occluder per crop, "
              f"{float(occ.occluded.float().mean()):.0%} of the joints covered")
    return Data(train_t, test_t, occluded, occ.occluded.to(ctx.device), source, world_cache_key(config))


def head_of(name: str) -> HeadConfig:
    try:
        return sgre_model.VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown SGRE variant {name!r}; choose from {sorted(sgre_model.VARIANTS)}") from None


@dataclass
class Trained:
    """A trained regressor with what its rows carry."""

    model: SGRERegressor
    name: str
    config: HeadConfig
    seed: int
    steps: int
    diverged_step: Optional[int]
    curve: str
    history: pd.DataFrame


def build_model(sizes: dict, config: HeadConfig, means: Means, seed: int, device: torch.device) -> SGRERegressor:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        backbone = make_backbone(sizes["backbone"], width=sizes["width"])
        # the encoder is drawn first, so every head of a seed starts from the same encoder weights
        model = SGRERegressor(backbone, dataclasses.replace(config, hidden=sizes["hidden"]), means)
    return model.to(device)


def settings(sizes: dict) -> TrainSettings:
    """Adam at one learning rate for encoder and heads (the official code's effective setting: its
    ``set_lr`` overrides the paper's 1e-4 for the encoder, see the errata), no decay (a decayed run's
    learning curve is flat whether trained or not, so the convergence rule could not tell), the gradient
    norm clipped to 1 (the crop projection's pole at t_Z = 0, as in the CLIFF chapter)."""
    return TrainSettings(steps=sizes["steps"], batch=sizes["batch"], lr=sizes["lr"], grad_clip=1.0,
                         log_every=max(1, sizes["steps"] // 16))


def trained_regressors(ctx: RunContext, data: Data, sizes: dict, name: str, seeds: Sequence[int]) -> list[Trained]:
    """One regressor per seed for the variant ``name`` (:data:`posebook.models.sgre.VARIANTS`), trained once per
    (data, sizes, head, code) and cached; an interrupted training resumes from its checkpoint."""
    config = head_of(name)
    base = {"world": data.world_key, "head": dataclasses.asdict(config), "sizes": sizes,
            "code": code_hash(__name__), "data": ctx.data_digests()}
    train = data.train
    means = Means.of(train.image, config.representation)
    sk = skeleton(ctx.device)
    curve_set = data.test.take(torch.arange(min(sizes["curve_samples"], len(data.test))))

    def compute(keys: list[dict]) -> list[dict]:
        out = []
        for key in keys:
            model = build_model(sizes, config, means, key["seed"], ctx.device)

            def loss_fn(m, index):
                batch = train.take(index)
                return sgre_model.losses(sk, m(batch.image.images), batch, m.config)

            def eval_fn(m):
                return {"mpjpe_mm": float(evaluate(m, curve_set)["mpjpe_mm"].mean())}

            checkpoint = ctx.store.artifact_path("sgre.checkpoint", key) if ctx.store is not None else None
            result = train_model(model, loss_fn, len(train), settings(sizes), seed=key["seed"],
                                 checkpoint=checkpoint, eval_fn=eval_fn)
            out.append({"state": model.state_dict(), "history": result.history.to_dict("list"),
                        "diverged_step": result.diverged_step, "steps": result.steps_done})
        return out

    keys = [{**base, "seed": s} for s in seeds]
    values = ctx.cached("sgre.regressor", keys, compute)
    if ctx.store is not None:  # the artifact is kept: its checkpoint is no longer needed
        for key in keys:
            ctx.store.artifact_path("sgre.checkpoint", key).unlink(missing_ok=True)
    result = []
    for seed, value in zip(seeds, values):
        model = build_model(sizes, config, means, seed, ctx.device)
        model.load_state_dict(value["state"])
        model.eval()
        hist = pd.DataFrame(value["history"])
        curve = curve_json(hist["step"], hist["mpjpe_mm"]) if "mpjpe_mm" in hist else ""
        result.append(Trained(model, name, config, seed, value["steps"], value["diverged_step"], curve, hist))
    return result


@torch.no_grad()
def evaluate(model: SGRERegressor, targets: SGRETargets, vertices: bool = False) -> pd.DataFrame:
    """Per test sample, under :data:`PROTOCOL`: MPJPE, PA-MPJPE (H36M-17, pelvis-centred, mm), PVE (mm, when
    ``vertices``), MPJAE (the mean geodesic angle over the 31 bones, deg) of the global rotations (3DPW's
    convention, the orientation of each body part in the camera) and of the relative ones, and the 2D
    error of the soft-argmax keypoints (px) where the model has them."""
    out = sgre_model.predict(model, targets)
    image = targets.image
    device = out.relative.device
    sk = skeleton(device, 500 if vertices else 0)
    pred = sk.joints(out.relative, out.shape, "h36m17").double()
    gt = sk.joints(image.rotations, image.shape, "h36m17").double()
    rows = {"mpjpe_mm": metrics.mpjpe(pred, gt, root=0), "pa_mpjpe_mm": metrics.pa_mpjpe(pred, gt),
            "mpjae_deg": metrics.mpjae(out.global_.double(), targets.global_rotations.double(), check=False),
            "mpjae_relative_deg": metrics.mpjae(out.relative.double(), image.rotations.double(), check=False)}
    if vertices:
        rows["pve_mm"] = metrics.pve(sk.vertices(out.relative, out.shape).double(),
                                     sk.vertices(image.rotations, image.shape).double(), pred[:, 0], gt[:, 0])
    if out.keypoints is not None:
        half = 0.5 * image.images.shape[1]
        rows["keypoint_px"] = ((out.keypoints - targets.pivots).norm(dim=-1) * half).mean(dim=1)
    return pd.DataFrame({k: v.detach().cpu().double().numpy() for k, v in rows.items()})


@torch.no_grad()
def chains_of(model: SGRERegressor, targets: SGRETargets, mask: Optional[torch.Tensor] = None) -> pd.DataFrame:
    """SGRE Fig. 4: per joint along root->head, root->toe and root->hand (:data:`SGRE_CHAINS`), the mean
    position error (mm) of the rotation pivots (bone heads, root-aligned) and the global / relative
    rotation errors (deg), over the samples of ``mask`` (N,) (default all)."""
    out = sgre_model.predict(model, targets)
    image = targets.image
    if mask is not None:
        keep = mask.to(out.relative.device)
        out = dataclasses.replace(out, relative=out.relative[keep], shape=out.shape[keep])
        image = image.take(keep.nonzero()[:, 0])
    sk = skeleton(out.relative.device)
    pred, _ = sk(out.relative, out.shape)
    gt, _ = sk(image.rotations, image.shape)
    return chain_errors(out.relative, image.rotations, pred, gt, ANNY_CMU_MB_PARENTS, ANNY_CMU_MB, SGRE_CHAINS)
