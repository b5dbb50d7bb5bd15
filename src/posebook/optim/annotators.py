"""Pseudo-ground-truth annotators: 3D labels for images that only have 2D keypoints (CLIFF Sec. 3.4).

- :func:`regressor_annotator`, the CLIFF annotator (Fig. 4): (a) a regressor pretrained with full
  supervision (the caller's), (b) its predictions on the target images become an explicit prior
  Theta_bar, (c) the regressor is fine-tuned in mini-batches on the target images with the 2D
  keypoints as weak supervision and Theta_bar as regularisation, (d) its predictions are the pseudo-GT.
  With an HMR regressor (no bbox input, 2D loss in the crop) it is the HMR-based annotator of supp.
  Table 2. The paper gives no formula for the prior term; here it is SPIN's parameter loss against
  Theta_bar (MSE of the rotation matrices, weight 1; of the phenotypes, weight 0.001), beside the 2D
  term with SPIN's weight 5.
- :func:`eft_annotator`: EFT (Joo et al. 2021), the pretrained regressor fine-tuned on each example
  alone from the same pretrained weights, with the 2D loss only, for a fixed number of steps (EFT's
  stopping criterion is the step count, what the CLIFF paper criticises). All examples are fine-tuned
  at once: their weights are stacked along a new first axis and the network is mapped over them
  (``torch.func.vmap`` of ``functional_call``); Adam is elementwise, so each example's run is exactly
  the run it would have alone. The network runs in eval mode (no dropout), as one example is a batch.
- :func:`fitting_annotator`: SMPLify-style optimisation (Bogo et al. 2016) on the Anny body, batched
  over samples: the 31 rotations (6D), phenotype logits and crop camera of each sample start at the
  pretrained prediction and are fitted to its 2D keypoints in the full frame, with the prediction as
  the pose and shape prior (the role of SMPLify's GMM and shape priors, which Anny does not ship).

Every annotator returns an :class:`~posebook.models.hmr.HMROutput` per target sample.
"""

from __future__ import annotations

import copy
from typing import Optional

import torch
from torch.func import functional_call, vmap

from posebook.body.anny_skeleton import AnnySkeleton
from posebook.geometry.rotations import matrix_from_6d, matrix_to_6d
from posebook.models.cliff import ImageTargets, Variant, bbox_input, posed_joints, predict, reprojection_error
from posebook.models.hmr import HMROutput, ImageRegressor, decode
from posebook.optim.trainer import TrainResult, TrainSettings, train_model

__all__ = ["PRIOR_POSE_WEIGHT", "PRIOR_SHAPE_WEIGHT", "KEYPOINT_WEIGHT", "regressor_annotator", "eft_annotator",
           "fitting_annotator"]

#: SPIN's weights: 2D keypoints 5, pose 1, shape 0.001 (the prior terms take the parameter weights).
KEYPOINT_WEIGHT = 5.0
PRIOR_POSE_WEIGHT = 1.0
PRIOR_SHAPE_WEIGHT = 0.001


def _weak_loss(skeleton: AnnySkeleton, out: HMROutput, targets: ImageTargets, supervision: str,
               prior: Optional[HMROutput], prior_weight: float) -> dict[str, torch.Tensor]:
    """Per-sample (N,) 2D term and prior term (rotation and phenotype MSE to ``prior``)."""
    joints = posed_joints(skeleton, out.rotations, out.shape)
    terms = {"keypoints_2d": reprojection_error(joints, out.cam, targets, supervision).square().mean(dim=(1, 2))}
    if prior is not None and prior_weight > 0:
        terms["prior"] = prior_weight * (PRIOR_POSE_WEIGHT * (out.rotations - prior.rotations).square().mean(dim=(1, 2, 3))
                                         + PRIOR_SHAPE_WEIGHT * (out.shape - prior.shape).square().mean(dim=1))
    terms["loss"] = KEYPOINT_WEIGHT * terms["keypoints_2d"] + terms.get("prior", 0.0)
    return terms


def regressor_annotator(model: ImageRegressor, targets: ImageTargets, variant: Variant, skeleton: AnnySkeleton,
                        settings: TrainSettings, *, seed: int, prior_weight: float = 1.0,
                        checkpoint=None) -> tuple[HMROutput, HMROutput, TrainResult]:
    """CLIFF Sec. 3.4 steps (b)-(d) on ``targets`` (its images and 2D keypoints; the 3D labels are not read).

    Args:
        model: the pretrained regressor (step a); it is copied, not changed.
        variant: its bbox input and 2D supervision (CLIFF: full frame; HMR-based annotator: crop).
        settings: the fine-tuning run (the paper: 30 epochs at lr 5e-5, no augmentation).
        prior_weight: the weight of the explicit prior (0: fine-tune on 2D alone).
    Returns:
        (pseudo-GT, the explicit prior Theta_bar, the fine-tuning run).
    """
    prior = predict(model, targets, variant)
    tuned = copy.deepcopy(model)

    def loss_fn(m, index):
        batch = targets.take(index)
        out = m(batch.images, bbox_input(variant, batch))
        i = index.to(prior.rotations.device)
        p = HMROutput(prior.rotations[i], prior.shape[i], prior.cam[i], prior.raw[i])
        return {k: v.mean() for k, v in _weak_loss(skeleton, out, batch, variant.supervision, p, prior_weight).items()}

    run = train_model(tuned, loss_fn, len(targets), settings, seed=seed, checkpoint=checkpoint)
    return predict(tuned, targets, variant), prior, run


class _Raw(torch.nn.Module):
    """The regressor's parameter vector as the module's output (``functional_call`` calls ``forward``)."""

    def __init__(self, model: ImageRegressor) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, extra: Optional[torch.Tensor]) -> torch.Tensor:
        return self.model.raw(images, extra)


def eft_annotator(model: ImageRegressor, targets: ImageTargets, variant: Variant, skeleton: AnnySkeleton, *,
                  steps: int = 20, lr: float = 5e-5, chunk: int = 32) -> HMROutput:
    """EFT: per-example fine-tuning from the pretrained weights on the example's 2D keypoints, ``steps``
    Adam steps at ``lr`` each (EFT: 20-50 iterations), ``chunk`` examples mapped at once (memory: ``chunk``
    copies of the weights and their Adam state)."""
    if steps < 1 or not lr > 0 or chunk < 1:
        raise ValueError(f"steps and chunk must be >= 1 and lr > 0, got steps={steps}, lr={lr}, chunk={chunk}")
    net = _Raw(copy.deepcopy(model)).eval()
    start = {k: v.detach() for k, v in net.named_parameters()}
    buffers = {k: v.detach() for k, v in net.named_buffers()}
    has_extra = variant.bbox_input != "none"

    def one(params, image, extra):
        return functional_call(net, (params, buffers), (image[None], extra[None] if has_extra else None))[0]

    mapped = vmap(one, in_dims=(0, 0, 0 if has_extra else None))
    outputs = []
    for lo in range(0, len(targets), chunk):
        batch = targets.take(torch.arange(lo, min(lo + chunk, len(targets))))
        extra = bbox_input(variant, batch) if has_extra else torch.zeros(len(batch), 0, device=batch.images.device)
        params = {k: v.expand(len(batch), *v.shape).clone().requires_grad_(True) for k, v in start.items()}
        optimizer = torch.optim.Adam(params.values(), lr=lr)
        for _ in range(steps):
            out = decode(mapped(params, batch.images, extra))
            # each example's loss depends on its own weights only: the gradient of the sum is per example
            loss = _weak_loss(skeleton, out, batch, variant.supervision, None, 0.0)["loss"].sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            outputs.append(decode(mapped(params, batch.images, extra)))
    return HMROutput(*(torch.cat([getattr(o, k) for o in outputs]) for k in ("rotations", "shape", "cam", "raw")))


def fitting_annotator(init: HMROutput, targets: ImageTargets, skeleton: AnnySkeleton, *, steps: int = 100,
                      lr: float = 1e-2, prior_weight: float = 1.0) -> HMROutput:
    """SMPLify-style optimisation of every sample's rotations (6D), phenotype logits and crop camera,
    started at ``init`` (the pretrained prediction) and regularised towards it, on the full-frame 2D
    error (CLIFF Eq. 9 with the ground-truth focal length), Adam, all samples at once (each sample's
    loss depends on its own parameters only)."""
    if steps < 1 or not lr > 0:
        raise ValueError(f"steps must be >= 1 and lr > 0, got steps={steps}, lr={lr}")
    six = matrix_to_6d(init.rotations).detach().clone().requires_grad_(True)
    logits = torch.logit(init.shape.detach().clamp(1e-4, 1 - 1e-4)).clone().requires_grad_(True)
    cam = init.cam.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([six, logits, cam], lr=lr)

    def current() -> HMROutput:
        return HMROutput(matrix_from_6d(six), torch.sigmoid(logits), cam, torch.empty(0))

    for _ in range(steps):
        loss = _weak_loss(skeleton, current(), targets, "full", init, prior_weight)["loss"].sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        out = current()
    return HMROutput(out.rotations.detach(), out.shape.detach(), out.cam.detach(), torch.cat(
        [six.detach().flatten(1), logits.detach(), cam.detach()], dim=1))
