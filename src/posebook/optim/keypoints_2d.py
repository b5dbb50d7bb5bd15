"""PRoM Eq. 37: refine per-sample rotations to fit 2D keypoints only (SMPLify-style), batched."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from posebook.body.anny_skeleton import AnnySkeleton
from posebook.geometry.camera import project
from posebook.models.body_regressor import raw_from_matrix
from posebook.models.rotation_heads import outputs

__all__ = ["Fit2DResult", "fit_keypoints_2d"]


class Fit2DResult(NamedTuple):
    """What :func:`fit_keypoints_2d` returns.

    Attributes:
        rotations: (N, 31, 3, 3) fitted rotations after the inference orthogonalisation (NaN rows
            for samples whose fit went non-finite).
        pseudo: (N, 31, 3, 3) the matrices the loss saw at the last step (PRoM: unorthogonalised).
        loss: (steps + 1,) mean reprojection loss (bbox units squared) before each step and at the end.
        diverged: (N,) bool, samples whose loss became non-finite.
    """

    rotations: torch.Tensor
    pseudo: torch.Tensor
    loss: torch.Tensor
    diverged: torch.Tensor


def fit_keypoints_2d(skeleton: AnnySkeleton, rotations: torch.Tensor, shape: torch.Tensor,
                     translation: torch.Tensor, K: torch.Tensor, keypoints: torch.Tensor, scale: torch.Tensor,
                     joint_set: str, representation: str = "prom", *, steps: int = 100, lr: float = 1e-2,
                     inference_ortho: str = "svd") -> Fit2DResult:
    """PRoM Eq. 37: refine per-sample rotations to fit 2D keypoints only, batched over samples.

    The rotations are re-parametrised in ``representation`` (:func:`raw_from_matrix`) and optimised
    with Adam on ``sum_n mean_j ||(project(J_n) - uv_n) / scale_n||^2``, where ``J_n`` are the joints
    of ``joint_set`` by forward kinematics with the sample's fixed shape and root ``translation`` (the
    camera is known: ``K``, and the translation is given, not solved). The matrix fed to the
    kinematics is the representation's downstream training matrix (PRoM: the raw 9 numbers, no
    orthogonalisation; 6D: r_GS); the result is orthogonalised once at the end. The loss is a sum of
    per-sample terms and Adam is elementwise, so every sample is fitted exactly as it would be alone.

    Args:
        skeleton: :class:`AnnySkeleton`.
        rotations: (N, 31, 3, 3) initial relative rotations (camera-frame root).
        shape: (N, 6) phenotypes (fixed).
        translation: (N, 3) camera-frame root position, metres (fixed).
        K: (N, 3, 3) intrinsics; keypoints: (N, J, 2) target pixels; scale: (N,) pixels per unit
            of the loss (e.g. the bbox size).
        representation: the parametrisation ("6d", "prom", or any of
            :data:`posebook.models.rotation_heads.REPRESENTATIONS`).
        steps, lr: Adam steps and learning rate.
        inference_ortho: final projection of a 9D "prom" matrix, "svd" or "gs".
    Returns:
        :class:`Fit2DResult`.
    """
    theta = raw_from_matrix(rotations.detach(), representation).clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    diverged = torch.zeros(rotations.shape[0], dtype=torch.bool, device=rotations.device)
    history = []

    def per_sample(th: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        R = outputs(th, representation, training=True, inference_ortho=inference_ortho, with_eval=False).downstream
        uv = project(skeleton.joints(R, shape, joint_set, translation), K)
        return ((uv - keypoints) / scale[:, None, None]).square().sum(-1).mean(-1), R

    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss, _ = per_sample(torch.where(diverged[:, None, None], theta.detach(), theta))
        diverged = diverged | ~torch.isfinite(loss.detach())
        history.append(float(loss.detach()[~diverged].mean()) if bool((~diverged).any()) else math.nan)
        total = torch.where(diverged, torch.zeros_like(loss), loss).sum()
        total.backward()
        if theta.grad is not None:
            bad = ~torch.isfinite(theta.grad).reshape(theta.shape[0], -1).all(dim=1)
            diverged = diverged | bad
            theta.grad[diverged] = 0.0
        opt.step()
    with torch.no_grad():
        safe = torch.where(diverged[:, None, None] | ~torch.isfinite(theta), torch.zeros_like(theta), theta)
        final_loss, pseudo = per_sample(safe)
        diverged = diverged | ~torch.isfinite(final_loss)
        history.append(float(final_loss[~diverged].mean()) if bool((~diverged).any()) else math.nan)
        safe = torch.where(diverged[:, None, None], raw_from_matrix(rotations, representation), safe)
        R = outputs(safe, representation, training=False, inference_ortho=inference_ortho).eval
        nan = diverged[:, None, None, None]
        R = torch.where(nan, torch.full_like(R, math.nan), R)
        pseudo = torch.where(nan, torch.full_like(pseudo, math.nan), pseudo)
    return Fit2DResult(R, pseudo, torch.tensor(history, dtype=torch.float64), diverged)
