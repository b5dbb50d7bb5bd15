"""PRoM Eq. 37: refine per-sample rotations to fit 2D keypoints only (SMPLify-style), batched.

Every sample is one member of :func:`posebook.optim.ensemble.fit` (the one training loop): its raw
rotation numbers carry the member axis first, Adam is elementwise, so each sample is fitted exactly
as it would be alone, with a learning rate of its own (a learning-rate sweep stacks copies of the
samples with different rates in one call), and a sample whose loss goes non-finite is frozen and
reported, never raised. ``snapshots`` returns the fit after given step counts of the same run
(a step-count sweep costs one run of the longest).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional, Sequence, Union

import torch

from posebook.body.anny_skeleton import AnnySkeleton
from posebook.geometry.camera import project
from posebook.models.body_regressor import raw_from_matrix
from posebook.models.ensemble import nonfinite_members
from posebook.models.rotation_heads import outputs
from posebook.optim.ensemble import fit

__all__ = ["Fit2DResult", "fit_keypoints_2d"]


class Fit2DResult(NamedTuple):
    """What :func:`fit_keypoints_2d` returns.

    Attributes:
        rotations: (N, 31, 3, 3) fitted rotations after the inference orthogonalisation (NaN rows
            for samples whose fit went non-finite).
        pseudo: (N, 31, 3, 3) the matrices the loss saw at the last step (PRoM: unorthogonalised).
        loss: (steps + 1,) mean reprojection loss (bbox units squared) before each step and at the end.
        diverged: (N,) bool, samples whose loss became non-finite.
        sample_loss: (steps + 1, N) the per-sample loss behind ``loss`` (NaN once diverged).
        snapshots: ``{k: (rotations, pseudo, diverged)}`` after ``k`` steps for each requested ``k``
            (shapes as above; ``k = steps`` is the final result).
    """

    rotations: torch.Tensor
    pseudo: torch.Tensor
    loss: torch.Tensor
    diverged: torch.Tensor
    sample_loss: Optional[torch.Tensor] = None
    snapshots: Optional[dict] = None


def fit_keypoints_2d(skeleton: AnnySkeleton, rotations: torch.Tensor, shape: torch.Tensor,
                     translation: torch.Tensor, K: torch.Tensor, keypoints: torch.Tensor, scale: torch.Tensor,
                     joint_set: str, representation: str = "prom", *, steps: int = 100,
                     lr: Union[float, torch.Tensor] = 1e-2, inference_ortho: str = "svd",
                     snapshots: Sequence[int] = ()) -> Fit2DResult:
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
        steps: Adam steps; lr: learning rate, one for all or (N,) one per sample.
        inference_ortho: final projection of a 9D "prom" matrix, "svd" or "gs".
        snapshots: step counts in [0, steps] at which to also return the fit.
    Returns:
        :class:`Fit2DResult`.
    """
    wanted = sorted({int(k) for k in snapshots})
    if any(k < 0 or k > steps for k in wanted):
        raise ValueError(f"snapshots must lie in [0, steps={steps}], got {list(snapshots)}")
    start = raw_from_matrix(rotations.detach(), representation)
    theta = torch.nn.Parameter(start.clone())
    n = rotations.shape[0]

    def per_sample(th: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        R = outputs(th, representation, training=True, inference_ortho=inference_ortho, with_eval=False).downstream
        uv = project(skeleton.joints(R, shape, joint_set, translation), K)
        return ((uv - keypoints) / scale[:, None, None]).square().sum(-1).mean(-1), R

    # Bookkeeping only (the loop is ensemble.fit's): per-step losses, and the parameters at the
    # requested step counts (monitor runs before update k, so theta holds k updates).
    history: list[torch.Tensor] = []
    dead = torch.zeros(n, dtype=torch.bool, device=rotations.device)
    taken: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def monitor(step: int, losses: torch.Tensor) -> None:
        nonlocal dead
        dead = dead | ~torch.isfinite(losses)
        history.append(torch.where(dead, torch.full_like(losses, math.nan), losses))
        if step in wanted:
            taken[step] = (theta.detach().clone(), dead.clone())
        if theta.grad is not None:
            dead = dead | nonfinite_members(theta.grad)

    fit([theta], lambda step: per_sample(theta)[0], steps=steps, lr=lr, monitor=monitor)
    taken[steps] = (theta.detach().clone(), dead.clone())

    @torch.no_grad()
    def finish(th: torch.Tensor, bad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rotations, loss matrices, final per-sample loss and divergence of parameters ``th``."""
        bad = bad | nonfinite_members(th)
        safe = torch.where(bad[:, None, None], torch.zeros_like(th), th)
        loss, pseudo = per_sample(safe)
        bad = bad | ~torch.isfinite(loss)
        safe = torch.where(bad[:, None, None], start, safe)  # LAPACK's SVD raises on non-finite input
        R = outputs(safe, representation, training=False, inference_ortho=inference_ortho).eval
        nan = bad[:, None, None, None]
        return (torch.where(nan, torch.full_like(R, math.nan), R),
                torch.where(nan, torch.full_like(pseudo, math.nan), pseudo),
                torch.where(bad, torch.full_like(loss, math.nan), loss), bad)

    snaps = {k: finish(*taken[k]) for k in dict.fromkeys([*wanted, steps])}
    R, pseudo, final_loss, diverged = snaps[steps]
    sample_loss = torch.stack([*history, final_loss]).double().cpu()
    alive = torch.isfinite(sample_loss)
    mean = torch.where(alive, sample_loss, torch.zeros_like(sample_loss)).sum(1) / alive.sum(1)
    return Fit2DResult(R, pseudo, mean, diverged, sample_loss,
                       {k: (v[0], v[1], v[3]) for k, v in snaps.items() if k in wanted})
