"""EFT-style refinement: fine-tune a trained regressor's *weights* on 2D keypoints (PRoM Eq. 37).

Exemplar fine-tuning (EFT, Joo et al. 2021) fine-tunes a trained regressor on one test sample's 2D
keypoints, reads off its prediction and resets the weights before the next sample; the CLIFF
annotator (Li et al. 2022, Sec. 3.4; PRoM Table 2b's "CLIFF*") fine-tunes the regressor on the whole
target set in mini-batches. Both are the same loss, PRoM Eq. 37
``L_ops = L_ele(reproj(Y_J), Y_J2D)``, over different sample sets per copy of the weights.

Batched here as one ensemble (:func:`posebook.optim.ensemble.fit`, the one training loop): every
copy of a trained member's weights is its own ensemble member, so copies never interact.

- ``per_sample=True`` (EFT): one copy per (member, sample) pair, each fine-tuned on its sample alone
  from the trained weights: the per-sample reset of EFT, all samples at once.
- ``per_sample=False`` (CLIFF annotator): one copy per member, fine-tuned full-batch on all samples.

The trained model is never modified: the copies are new tensors.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from posebook.body.anny_skeleton import AnnySkeleton
from posebook.geometry.camera import project
from posebook.models.body_regressor import BodyRegressor
from posebook.models.ensemble import member_view, per_member_mse, zero_nonfinite_members
from posebook.optim.ensemble import fit

__all__ = ["RefineResult", "copy_members", "refine_regressor_2d"]

#: BodyRegressor buffers without a member axis
_SHARED = ("input_mean", "input_std")


class RefineResult(NamedTuple):
    """What :func:`refine_regressor_2d` returns (M trained members, N samples).

    Attributes:
        rotations: (M, N, 31, 3, 3) inference rotations of the refined weights (NaN where diverged).
        pseudo: (M, N, 31, 3, 3) the downstream matrices the loss saw (PRoM: unorthogonalised).
        shape: (M, N, 6) phenotypes of the refined weights.
        curve_steps: (E,) steps at which the reprojection loss was evaluated (0 ... steps).
        curve: (E, M) mean reprojection loss (bbox units squared) over each member's samples.
        diverged: (M, N) bool, whose copy's loss or gradient went non-finite.
    """

    rotations: torch.Tensor
    pseudo: torch.Tensor
    shape: torch.Tensor
    curve_steps: torch.Tensor
    curve: torch.Tensor
    diverged: torch.Tensor


def copy_members(model: BodyRegressor, index: torch.Tensor) -> BodyRegressor:
    """A new :class:`BodyRegressor` whose member c is a copy of ``model``'s member ``index[c]``.

    Args:
        index: (C,) member indices (repeats allowed).
    """
    index = index.to(torch.long).cpu()
    like = next(model.parameters())
    copies = BodyRegressor([model.variants[int(i)] for i in index], [model.seeds[int(i)] for i in index],
                           model.num_keypoints, hidden=model.trunk[0].out_features, iterations=model.iterations,
                           device=like.device, dtype=like.dtype)
    target = copies.state_dict()
    with torch.no_grad():
        for name, value in model.state_dict().items():
            # member-axis tensors (weights, x0, mask) are gathered; the input standardisation is shared
            target[name].copy_(value if name in _SHARED else value.index_select(0, index.to(value.device)))
    return copies


def refine_regressor_2d(model: BodyRegressor, skeleton: AnnySkeleton, inputs: torch.Tensor,
                        translation: torch.Tensor, K: torch.Tensor, keypoints: torch.Tensor, scale: torch.Tensor,
                        joint_set: str, *, per_sample: bool = True, steps: int = 50, lr: float = 1e-4,
                        prior_weight: float = 0.0, evaluations: int = 10) -> RefineResult:
    """PRoM Eq. 37 on the weights: fine-tune copies of ``model``'s members on 2D keypoints only.

    Per copy c (samples n of its set, one sample or all N):
    ``L_c = mean_n mean_j ||(project(J(R_Y, beta) + t_n) - uv_n) / scale_n||^2
    + prior_weight (MSE(R_theta, R_bar) + MSE(beta, beta_bar))``, where ``R_Y`` / ``R_theta`` are the
    member's downstream / rotation-loss matrices (:meth:`BodyRegressor.matrices`; PRoM: the raw 9
    numbers, 6D: r_GS), ``J`` the joints of ``joint_set`` by forward kinematics, ``t_n`` the given
    root translation (the camera is known), and ``R_bar, beta_bar`` the trained member's own
    prediction (the CLIFF annotator's explicit prior; 0 = Eq. 37 alone). Adam (:class:`EnsembleAdam`),
    ``steps`` steps at ``lr``.

    Args:
        model: M trained members.
        inputs: (N, K, 2) the regressor's input (bbox-normalised keypoints).
        translation: (N, 3) root position, metres; K: (N, 3, 3); keypoints: (N, J, 2) target
            pixels; scale: (N,) pixels per loss unit (the bbox size).
        per_sample: EFT (one copy per (member, sample)) or the CLIFF annotator (one per member).
        evaluations: points on the loss curve.
    Returns:
        :class:`RefineResult`.
    """
    M, N = model.members, inputs.shape[0]
    with torch.no_grad():
        raw0, beta0 = model(inputs)
        R0 = model.matrices(raw0, training=False).eval  # (M, N, 31, 3, 3) the prior's target
    if per_sample:
        copies = copy_members(model, torch.arange(M).repeat_interleave(N))
        batch = lambda x: x.repeat(M, *([1] * (x.dim() - 1)))[:, None]  # noqa: E731  (M N, 1, ...)
        own = lambda x: x.flatten(0, 1)[:, None]  # noqa: E731  per-member tensors (M, N, ...) -> (M N, 1, ...)
    else:
        copies = copy_members(model, torch.arange(M))
        batch = lambda x: x.expand(M, *x.shape)  # noqa: E731  (M, N, ...)
        own = lambda x: x  # noqa: E731
    x, t, Kc, uv, s = (batch(v) for v in (inputs, translation, K, keypoints, scale))
    R_bar, beta_bar = own(R0), own(beta0)

    def reproj() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per copy: mean reprojection loss (C,), its matrices and phenotypes, non-finite mask."""
        raw, beta = copies(x)
        raw, bad = zero_nonfinite_members(raw)
        R_theta, R_y, _ = copies.matrices(raw, training=True)
        hat = project(skeleton.joints(R_y, beta, joint_set, t), Kc)
        loss = ((hat - uv) / s[..., None, None]).square().sum(-1).mean(-1).mean(-1)
        return torch.where(bad, torch.full_like(loss, math.nan), loss), R_theta, R_y, beta, bad

    def loss_fn(step: int) -> torch.Tensor:
        loss, R_theta, _, beta, _ = reproj()
        if prior_weight:
            loss = loss + prior_weight * (per_member_mse(R_theta, R_bar) + per_member_mse(beta, beta_bar))
        return loss

    result = fit(list(copies.parameters()), loss_fn, steps=steps, lr=lr,
                 eval_fn=lambda: {"reproj": reproj()[0]}, eval_every=max(1, steps // max(1, evaluations)))
    hist = result.history.pivot(index="step", columns="member", values="reproj").sort_index()
    curve = torch.tensor(hist.to_numpy(), dtype=torch.float64).reshape(len(hist), M, -1).nanmean(-1)
    with torch.no_grad():
        raw, beta = copies(x)
        raw, bad = zero_nonfinite_members(raw)
        R = copies.matrices(raw, training=False).eval
        pseudo = copies.matrices(raw, training=True).downstream
    diverged = bad.cpu() | torch.tensor(result.diverged)
    nan = member_view(diverged.to(R.device), R)
    R, pseudo = (torch.where(nan, torch.full_like(v, math.nan), v).reshape(M, N, *v.shape[2:]) for v in (R, pseudo))
    return RefineResult(R, pseudo, beta.reshape(M, N, -1), torch.tensor(hist.index.to_numpy()), curve,
                        diverged.reshape(M, -1).expand(M, N))
