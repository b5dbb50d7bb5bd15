"""What every CLIFF experiment shares: the size presets, the image data, the evaluation protocol, the
trained regressors (cached, resumable) and their evaluation.

Data (:mod:`posebook.data.image_sets`): part-coloured crops of one synthetic world (seed 0: the data,
not the run seed) with CMU poses retargeted to Anny when the CMU subset is there (procedural poses
otherwise), subjects placed anywhere in the frame up to 80% of the way to its border and focal lengths
of 35-75 deg horizontal field of view (phone and camcorder lenses; Human3.6M's is about 47 deg), split
by CMU clip into training and test crops (no clip in both).

Regressors (:mod:`posebook.models.hmr`, :mod:`posebook.models.cliff`): one per (variant, seed), trained
by :func:`posebook.optim.trainer.train_model` with checkpoints in the result store (an interrupted run
resumes), kept as an artifact keyed on the data, the sizes and the code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import torch

from posebook import metrics
from posebook.body.anny_skeleton import AnnySkeleton
from posebook.body.models import shared_anny_body
from posebook.data.image_sets import build_image_set
from posebook.data.protocol import EvalProtocol
from posebook.data.world import WorldConfig, world_cache_key, world_data_source
from posebook.geometry.rotations import geodesic_distance
from posebook.models import cliff as cliff_model
from posebook.models.backbones import make_backbone
from posebook.models.cliff import ImageTargets, Variant
from posebook.models.hmr import ImageRegressor, IterativeRegressor, crop_camera, mean_parameters
from posebook.optim.trainer import TrainSettings, train_model
from posebook.runs import RunContext, code_hash, curve_json

__all__ = ["CLIFF", "WORLD", "PROTOCOL", "Data", "load_data", "Trained", "trained_regressors", "evaluate",
           "variant_of", "skeleton"]

#: Sizes per profile. quick: the book build on a 2-core CPU (a small encoder, early training, one
#: seed); long: longer training, three seeds, on that CPU; gpu: a ResNet-18 on larger crops; full:
#: CLIFF's recipe (ResNet-50, 244k steps of 256, lr 1e-4 divided by 10 in the middle, Sec. 3.5).
CLIFF = {
    "quick": dict(world_size=4000, crop=64, backbone="small", width=32, hidden=256, steps=400, batch=32, lr=1e-3,
                  decay=False, seeds=1, test_samples=400, curve_samples=128),
    "long": dict(world_size=12000, crop=64, backbone="small", width=32, hidden=512, steps=2000, batch=48, lr=1e-3,
                 decay=False, seeds=3, test_samples=1200, curve_samples=256),
    "gpu": dict(world_size=32000, crop=128, backbone="resnet18", width=32, hidden=1024, steps=4000, batch=256,
                lr=3e-4, decay=False, seeds=3, test_samples=4000, curve_samples=1000),
    "full": dict(world_size=100000, crop=224, backbone="resnet50", width=32, hidden=1024, steps=244000, batch=256,
                 lr=1e-4, decay=True, seeds=3, test_samples=10000, curve_samples=2000),
}

#: The world every CLIFF experiment reads (its size and crop come from the profile).
WORLD = dict(seed=0, fps_subsample=10.0, placement_spread=0.8, fov_deg=(35.0, 75.0), depth=(3.0, 7.0),
             joint_sets=("cmu31", "h36m17"), bbox_scale=1.2)
_TRAIN_FRAC = 0.8

#: CLIFF's protocol (Sec. 4, issues #94, #103, #161, #178) as this chapter applies it to the world.
PROTOCOL = EvalProtocol(
    paper="CLIFF",
    joint_set="h36m17",
    gt_joints="the body model's own joints (Anny forward kinematics), as CLIFF evaluates Human3.6M against SMPL "
              "(MoSh) joints rather than the mocap markers",
    root="pelvis (H36M joint 0)",
    vertices="PVE on 500 mesh vertices spread evenly over the body (farthest-point subset), pelvis-centred",
    bbox="square, 1.2 x the extent of the projected mesh and keypoints (ground truth, no detector)",
    focal="ground truth (f_x + f_y) / 2 (CLIFF trains and evaluates with it); supp. Fig. 3 perturbs it",
    frames="CMU clips of 4 subjects resampled to 10 fps, split by clip (80% of frames train, the other clips test)",
    paper_protocol="Human3.6M: subjects S9, S11, every 5th frame (SPIN's eval.py), SMPL joints; 3DPW test: "
                   "GT-keypoint boxes x 1.2, half-resolution images",
)


@dataclass
class Data:
    """Training and test crops with labels, the data source and the world's cache key."""

    train: ImageTargets
    test: ImageTargets
    test_world: object
    source: str
    world_key: str


def world_config(sizes: dict, ctx: RunContext) -> WorldConfig:
    cmu = str(ctx.cmu_dir) if ctx.cmu_dir else None
    return WorldConfig(size=sizes["world_size"], crop_size=sizes["crop"], cmu_dir=cmu, render=False, **WORLD)


def load_data(ctx: RunContext, sizes: dict) -> Data:
    """The chapter's crops: built once per data and code (cached), split by clip, moved to the device."""
    config = world_config(sizes, ctx)
    images = build_image_set(config)
    train, test = images.split(_TRAIN_FRAC, seed=0)
    n = min(sizes["test_samples"], len(test))
    test = test.subset(np.linspace(0, len(test) - 1, n).round().astype(int))
    source = (f"{world_data_source(images.world)}: {len(images)} rendered {sizes['crop']}-px crops, {len(train)} train / {n} test (held-out clips)")
    return Data(ImageTargets.from_world(train.world, train.images, ctx.device),
                ImageTargets.from_world(test.world, test.images, ctx.device), test.world, source,
                world_cache_key(config))


def variant_of(name: str) -> Variant:
    try:
        return cliff_model.VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown CLIFF variant {name!r}; choose from {sorted(cliff_model.VARIANTS)}") from None


@dataclass
class Trained:
    """A trained regressor with what its rows carry."""

    model: ImageRegressor
    name: str
    variant: Variant
    seed: int
    steps: int
    diverged_step: Optional[int]
    curve: str
    history: pd.DataFrame


_SKELETONS: dict = {}


def skeleton(device: torch.device, num_vertices: int = 0) -> AnnySkeleton:
    """Anny's rest skeleton (forward kinematics for the losses; ``num_vertices`` for PVE), float32."""
    key = (str(device), num_vertices)
    if key not in _SKELETONS:
        _SKELETONS[key] = AnnySkeleton(shared_anny_body(), num_vertices=num_vertices).to(device=device,
                                                                                         dtype=torch.float32)
    return _SKELETONS[key]


def build_model(sizes: dict, variant: Variant, x0: torch.Tensor, seed: int, device: torch.device) -> ImageRegressor:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        backbone = make_backbone(sizes["backbone"], width=sizes["width"])
        head = IterativeRegressor(backbone.feature_dim, variant.extra_dim, x0, hidden=sizes["hidden"])
    return ImageRegressor(backbone, head).to(device)


def settings(sizes: dict) -> TrainSettings:
    """Adam at the profile's learning rate; CLIFF's decay by 10 in the middle (Sec. 3.5) only in the ``full``
    profile (``decay``): a run whose rate drops has a flat learning curve whether it is trained or not, so
    the convergence rule could not tell an undertrained regressor.

    The gradient norm is clipped to 1 (not in the paper): the 2D loss has a pole where a joint's depth
    Z + t_Z crosses 0 (a crop camera with s <= 0, Eq. 1 / 7), and one step near it poisoned Adam's
    second-moment estimate for the rest of a run (a long-profile run's loss went from 0.3 to 1e17 in 200
    steps and never came back); clipping keeps such a step an ordinary one."""
    return TrainSettings(steps=sizes["steps"], batch=sizes["batch"], lr=sizes["lr"], grad_clip=1.0,
                         milestones=(0.5,) if sizes["decay"] else (), log_every=max(1, sizes["steps"] // 16))


def trained_regressors(ctx: RunContext, data: Data, sizes: dict, name: str, seeds: Sequence[int]) -> list[Trained]:
    """One regressor per seed for the variant ``name`` (:data:`posebook.models.cliff.VARIANTS`), trained once per (data, sizes, code) and cached; an
    interrupted training resumes from its checkpoint in the result store."""
    variant = variant_of(name)
    base = {"world": data.world_key, "variant": dataclasses.asdict(variant), "sizes": sizes,
            "code": code_hash(__name__), "data": ctx.data_digests()}
    train = data.train
    cam = crop_camera(train.root, train.K, train.bbox_center, train.bbox_size)
    x0 = mean_parameters(train.rotations.cpu(), train.shape.cpu(), cam.cpu())
    sk = skeleton(ctx.device)
    curve_set = data.test.take(torch.arange(min(sizes["curve_samples"], len(data.test))))

    def compute(keys: list[dict]) -> list[dict]:
        out = []
        for key in keys:
            model = build_model(sizes, variant, x0, key["seed"], ctx.device)

            def loss_fn(m, index):
                batch = train.take(index)
                return cliff_model.losses(sk, m(batch.images, cliff_model.bbox_input(variant, batch)), batch, variant)

            def eval_fn(m):
                return {"mpjpe_mm": float(evaluate(m, curve_set, variant)["mpjpe_mm"].mean())}

            checkpoint = ctx.store.artifact_path("cliff.checkpoint", key) if ctx.store is not None else None
            result = train_model(model, loss_fn, len(train), settings(sizes), seed=key["seed"],
                                 checkpoint=checkpoint, eval_fn=eval_fn)
            out.append({"state": model.state_dict(), "history": result.history.to_dict("list"),
                        "diverged_step": result.diverged_step, "steps": result.steps_done, "x0": x0})
        return out

    keys = [{**base, "seed": s} for s in seeds]
    values = ctx.cached("cliff.regressor", keys, compute)
    if ctx.store is not None:  # the artifact is kept: its checkpoint is no longer needed
        for key in keys:
            ctx.store.artifact_path("cliff.checkpoint", key).unlink(missing_ok=True)
    result = []
    for seed, value in zip(seeds, values):
        model = build_model(sizes, variant, value["x0"], seed, ctx.device)
        model.load_state_dict(value["state"])
        model.eval()
        hist = pd.DataFrame(value["history"])
        curve = curve_json(hist["step"], hist["mpjpe_mm"]) if "mpjpe_mm" in hist else ""
        result.append(Trained(model, name, variant, seed, value["steps"], value["diverged_step"], curve, hist))
    return result


@torch.no_grad()
def evaluate(model: ImageRegressor, targets: ImageTargets, variant: Variant, focal_scale: float = 1.0,
             vertices: bool = False) -> pd.DataFrame:
    """Per test sample, under :data:`PROTOCOL`: MPJPE, PA-MPJPE (H36M-17, pelvis-centred, mm), PVE (mm, when
    ``vertices``), the global-rotation error (deg, CLIFF's argument) and the full-frame 2D error (px) of
    the joints placed by Eq. 7 with the focal length given to the model (``focal_scale`` x ground truth),
    and ``ray_deg``, the angle of the bbox centre's ray to the optical axis (``|gamma|`` of CLIFF Eq. 6)."""
    focal = targets.focal * focal_scale
    out = cliff_model.predict(model, targets, variant, focal)
    R, beta, cam = out.rotations, out.shape, out.cam
    device = R.device
    sk = skeleton(device, 500 if vertices else 0)
    pred = sk.joints(R, beta, "h36m17")
    gt = sk.joints(targets.rotations, targets.shape, "h36m17")
    out = {"mpjpe_mm": metrics.mpjpe(pred.double(), gt.double(), root=0),
           "pa_mpjpe_mm": metrics.pa_mpjpe(pred.double(), gt.double()),
           "global_rot_deg": torch.rad2deg(geodesic_distance(R[:, 0].double(), targets.rotations[:, 0].double(),
                                                             check=False))}
    if vertices:
        out["pve_mm"] = metrics.pve(sk.vertices(R, beta).double(), sk.vertices(targets.rotations, targets.shape).double(),
                                    pred[:, 0].double(), gt[:, 0].double())
    uv = cliff_model.project_full(cliff_model.posed_joints(sk, R, beta), cam, targets, focal)
    out["reproj_px"] = (uv - targets.uv).norm(dim=-1).mean(dim=-1)
    # the angle between the optical axis and the ray through the bbox centre (CLIFF Eq. 6's gamma)
    offset = (targets.bbox_center - targets.K[:, :2, 2]) / targets.focal[:, None]
    out["ray_deg"] = torch.rad2deg(torch.atan(offset.norm(dim=1)))
    return pd.DataFrame({k: v.detach().cpu().double().numpy() for k, v in out.items()})
