"""Least-squares alignment of corresponding point sets (Procrustes / Umeyama).

PA-MPJPE ("Procrustes-aligned MPJPE", CLIFF Sec. 4, PRoM Sec. 5, PersPose Sec. 5.1, SGRE Sec. 4.1,
ZeDO Sec. 4) aligns the prediction to the ground truth with the similarity transform
``x -> s R x + t`` that minimises the summed squared distance, then measures MPJPE.

The rotation step is roma's ``special_procrustes`` (Horn's closed form in float64 for 3x3 matrices,
reflection-corrected: det R = +1); centring, scale and translation follow Umeyama (1991).
"""

from __future__ import annotations

import torch
import roma

__all__ = ["similarity_align", "rigid_align"]

# A point set whose spread is below this many float epsilons of its own magnitude has no
# recoverable rotation or scale: its centred coordinates are rounding noise.
_DEGENERATE_EPS_FACTOR = 100.0


def _check_points(X: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor | None) -> None:
    if X.ndim < 2 or X.shape[-1] != 3 or Y.ndim < 2 or Y.shape[-1] != 3:
        raise ValueError(
            f"similarity/rigid alignment expects point sets of shape (..., N, 3); got X {tuple(X.shape)} "
            f"and Y {tuple(Y.shape)}."
        )
    if X.shape[-2] != Y.shape[-2]:
        raise ValueError(
            "X and Y must hold the same number of corresponding points; "
            f"got N={X.shape[-2]} and N={Y.shape[-2]}."
        )
    if X.shape[-2] == 0:
        raise ValueError("cannot align empty point sets (N = 0).")
    if weights is not None:
        if weights.shape[-1] != X.shape[-2]:
            raise ValueError(
                f"weights must have shape (..., N) with N={X.shape[-2]} points; got {tuple(weights.shape)}."
            )
        if bool((weights < 0).any()) or bool((weights.sum(-1) <= 0).any()):
            raise ValueError("weights must be non-negative with a positive sum over the N points.")


def _centre(
    X: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Broadcast X/Y/weights; return (X, w, X_centred, x_mean, y_mean, M), M = sum_i w_i y_c,i x_c,i^T.

    Weights are normalised to sum to 1 over the N points (uniform 1/N when None).
    """
    if weights is None:
        X, Y = torch.broadcast_tensors(X, Y)
        w = X.new_full(X.shape[:-1], 1.0 / X.shape[-2])
    else:
        weights = weights.to(dtype=X.dtype, device=X.device)
        X, Y, w3 = torch.broadcast_tensors(X, Y, weights[..., None])
        w = w3[..., 0] / w3[..., 0].sum(-1, keepdim=True)
    x_mean = torch.einsum("...n,...ni->...i", w, X)
    y_mean = torch.einsum("...n,...ni->...i", w, Y)
    Xc = X - x_mean[..., None, :]
    Yc = Y - y_mean[..., None, :]
    M = torch.einsum("...n,...ni,...nj->...ij", w, Yc, Xc)
    return X, w, Xc, x_mean, y_mean, M


def _nonfinite_and_safe(M: torch.Tensor, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(...) bool: does the sample hold a NaN/inf (in X, Y or the weights)? And M with those
    samples replaced by 0, so that the rotation solver (an eigen/SVD routine) never sees them.

    A non-finite entry of Y or of the weights reaches M (y - mean(y) or w / sum(w) is NaN there);
    one of X reaches M or, through X, the aligned points.
    """
    bad = ~(torch.isfinite(M).all(-1).all(-1) & torch.isfinite(X).all(-1).all(-1))
    return bad, torch.where(bad[..., None, None], torch.zeros_like(M), M)


def _nan_where(bad: torch.Tensor, *outputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Each output with the samples flagged in ``bad`` set to NaN: multiplied by NaN there (so their
    gradient is NaN too), by 1 elsewhere (same value, same gradient)."""
    factor = torch.ones(bad.shape, dtype=outputs[0].dtype, device=bad.device).masked_fill(bad, float("nan"))
    return tuple(o * factor.reshape(tuple(bad.shape) + (1,) * (o.dim() - bad.dim())) for o in outputs)


def similarity_align(
    X: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Similarity transform (s, R, t) minimising sum_i w_i ||s R x_i + t - y_i||^2 (Umeyama 1991, Eqs. 40-42).

    With centroids mu_x, mu_y, centred points and M = sum_i w_i (y_i - mu_y)(x_i - mu_x)^T (weights
    normalised to sum 1): R = argmax_{R in SO(3)} tr(R^T M) (reflection-corrected SVD/Horn solution),
    s = tr(R^T M) / sigma_x^2 with sigma_x^2 = sum_i w_i ||x_i - mu_x||^2, t = mu_y - s R mu_x.

    Degenerate input: when X has no spread (all points equal, up to rounding), every rotation is
    optimal and the least-squares scale is 0, so this returns s = 0, R = I and t = mu_y (X_aligned
    collapses onto Y's centroid; no NaN). When Y has no spread, M = 0 and likewise s = 0, R = I.
    Collinear/coplanar X still give the optimal (s, t) but R is then not unique.

    Non-finite input: a sample whose X, Y or weights hold a NaN or inf gets NaN in all four
    outputs (value and gradient), never a finite transform; the other samples are unaffected.
    Nothing raises (that would need a device sync).

    Args:
        X: (..., N, 3) points to move (e.g. predicted joints), any unit.
        Y: (..., N, 3) target points (e.g. ground-truth joints), same unit; leading dims broadcast with X.
        weights: optional (..., N) non-negative per-point weights (need not sum to 1).

    Returns:
        X_aligned: (..., N, 3) s R x_i + t.
        scale: (...,) s >= 0.
        R: (..., 3, 3) rotation matrices (det +1), acting on column vectors.
        t: (..., 3) translations.
    """
    _check_points(X, Y, weights)
    X, w, Xc, x_mean, y_mean, M = _centre(X, Y, weights)
    bad, M = _nonfinite_and_safe(M, X)
    R = roma.special_procrustes(M)
    sigma2_x = torch.einsum("...n,...ni,...ni->...", w, Xc, Xc)
    magnitude2 = torch.einsum("...n,...ni,...ni->...", w, X, X)
    eps = torch.finfo(X.dtype).eps * _DEGENERATE_EPS_FACTOR
    degenerate = sigma2_x <= eps * eps * magnitude2
    # torch.where on a safe denominator keeps both the value and its gradient finite.
    safe_sigma2 = torch.where(degenerate, torch.ones_like(sigma2_x), sigma2_x)
    scale = torch.where(degenerate, torch.zeros_like(sigma2_x), (R * M).sum((-2, -1)) / safe_sigma2)
    R = torch.where(degenerate[..., None, None], torch.eye(3, dtype=R.dtype, device=R.device), R)
    t = y_mean - scale[..., None] * torch.einsum("...ij,...j->...i", R, x_mean)
    X_aligned = scale[..., None, None] * torch.einsum("...ij,...nj->...ni", R, X) + t[..., None, :]
    return _nan_where(bad, X_aligned, scale, R, t)


def rigid_align(
    X: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rigid transform (R, t) minimising sum_i w_i ||R x_i + t - y_i||^2 (Kabsch; Umeyama 1991 with s = 1).

    R = argmax_{R in SO(3)} tr(R^T M) with M as in :func:`similarity_align`, t = mu_y - R mu_x.
    A point set without spread gives M = 0 and R = I. A sample with a NaN or inf in X, Y or the
    weights gets NaN in all three outputs, as in :func:`similarity_align`.

    Args:
        X: (..., N, 3) points to move.
        Y: (..., N, 3) target points; leading dims broadcast with X.
        weights: optional (..., N) non-negative per-point weights.

    Returns:
        X_aligned: (..., N, 3) R x_i + t.
        R: (..., 3, 3) rotation matrices (det +1).
        t: (..., 3) translations.
    """
    _check_points(X, Y, weights)
    X, _, _, x_mean, y_mean, M = _centre(X, Y, weights)
    bad, M = _nonfinite_and_safe(M, X)
    R = roma.special_procrustes(M)
    t = y_mean - torch.einsum("...ij,...j->...i", R, x_mean)
    X_aligned = torch.einsum("...ij,...nj->...ni", R, X) + t[..., None, :]
    return _nan_where(bad, X_aligned, R, t)
