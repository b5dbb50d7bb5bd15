"""The Jacobians B_i = dR_i/dR_0 of PRoM Theorems 1-2 and their lambda_min and psi (PRoM Sec. 4.2, App. A.4-A.5).

``R_0`` is the raw network output (the "pseudo rotation matrix", 9 numbers, or 6 for the 6D
representation) and ``R_1 = g(R_0)`` its orthogonalisation. PRoM Eq. 10 defines
``B_i = dR_i/dR_0`` (``B_0 = I``) and Theorem 1 the quantity
``psi(B) = 1/sqrt(lambda_min(B B^T))`` (``inf`` when ``lambda_min = 0``).

Layout: a 3x3 matrix is vectorised row-major (``M.reshape(..., 9)``), a 6D vector in the layout of
:func:`posebook.geometry.rotations.matrix_from_6d`. ``B`` is ``(..., 9, 9)`` for a 9D output and
``(..., 9, 6)`` for 6D. For m samples PRoM's B is block-diagonal with these blocks, so its
``lambda_min`` is the minimum over the samples.

Every orthogonalisation maps into SO(3), a 3-dimensional manifold, so its Jacobian has rank at most
3 and ``B B^T`` (9x9) has at least 6 zero eigenvalues, whatever the input: ``lambda_min(B_1 B_1^T) = 0``
is exact, and a computed value is round-off (about eps * lambda_max, of either sign).
"""

from __future__ import annotations

from typing import Literal, Optional

import torch
from torch.func import jacrev, vmap

from posebook.analysis.gradients import gs_jacobians
from posebook.geometry.rotations import matrix_from_6d, orthogonalize

__all__ = [
    "orthogonalization_jacobian",
    "sixd_jacobian",
    "gram_eigenvalues",
    "lambda_min",
    "psi",
    "jacobian_rank",
    "EXPECTED_RANK",
]

#: rank of B = dR_i/dR_0 at a generic input: 3 (dim SO(3)) for every orthogonalisation, 9 for PRoM.
EXPECTED_RANK = {"identity": 9, "gs": 3, "svd": 3, "6d": 3}


def _batched_jacobian(func, x: torch.Tensor, n_in: int) -> torch.Tensor:
    flat = x.reshape(-1, n_in)
    jac = vmap(jacrev(func))(flat)
    return jac.reshape(*x.shape[:-1], jac.shape[-2], n_in)


def _gs_closed_form(t1: torch.Tensor, t2: torch.Tensor, n_cols: int) -> torch.Tensor:
    """B[(a, i), (b, j)] = d r'_i[a] / d t'_j[b] from PRoM Eq. 13-16, input columns j < n_cols."""
    J = gs_jacobians(t1, t2)
    D = torch.stack((J.dr_dt1, J.dr_dt2) + (torch.zeros_like(J.dr_dt1),) * (n_cols - 2), dim=-1)  # i, a, b, j
    D = D.movedim(-4, -3)  # a, i, b, j
    return D.reshape(*D.shape[:-4], 9, 3 * n_cols)


def _svd_closed_form(matrix: torch.Tensor, proper: bool) -> torch.Tensor:
    """B of g_SVD from dR = U' Omega V^T, Omega_pq = (X_pq - X_qp)/(s'_p + s'_q), X = U'^T dM V.

    The stable form (see :func:`posebook.analysis.gradients.svd_gradient`): autograd through
    ``torch.linalg.svd`` sums two parts that each carry 1/(s_p^2 - s_q^2) and loses digits to their
    cancellation when two singular values are close.
    """
    U, S, Vh = torch.linalg.svd(matrix)
    d = torch.sign(torch.linalg.det(U @ Vh)) if proper else torch.ones_like(S[..., 0])
    signs = torch.cat((torch.ones_like(S[..., :2]), d[..., None]), dim=-1)
    Up, V, sp = U * signs[..., None, :], Vh.mT, S * signs
    off = ~torch.eye(3, dtype=torch.bool, device=matrix.device)
    denom = sp[..., :, None] + sp[..., None, :]
    W = torch.where(off, 1.0 / torch.where(off, denom, torch.ones_like(denom)), torch.zeros_like(denom))
    B = (torch.einsum("...ap,...iq,...pq,...bp,...jq->...aibj", Up, V, W, Up, V)
         - torch.einsum("...ap,...iq,...pq,...bq,...jp->...aibj", Up, V, W, Up, V))
    return B.reshape(*matrix.shape[:-2], 9, 9)


def orthogonalization_jacobian(matrix: torch.Tensor, method: Literal["identity", "gs", "svd"] = "svd",
                               proper: bool = True, autograd: bool = False) -> torch.Tensor:
    """B = d vec(g(M)) / d vec(M) for g = identity (B_0) or an orthogonalisation (B_1) (PRoM Eq. 10).

    Closed form by default (PRoM Eq. 13-16 for "gs", the polar-factor derivative for "svd");
    ``autograd=True`` computes it by ``torch.func.vmap(jacrev(...))`` through
    :func:`~posebook.geometry.rotations.orthogonalize` instead (less accurate for "svd" near equal
    singular values; the only route for "gs" with ``proper=False``).

    Args:
        matrix: (..., 3, 3) raw outputs R_0 (distinct singular values for "svd").
        method: "identity", "gs" or "svd".
        proper: forwarded to ``orthogonalize``.
        autograd: use jacrev instead of the closed form.
    Returns:
        (..., 9, 9), row-major vectorisation on both sides.
    """
    if not isinstance(matrix, torch.Tensor) or matrix.dim() < 2 or tuple(matrix.shape[-2:]) != (3, 3):
        raise ValueError(f"matrix must be a tensor of shape (..., 3, 3), got "
                         f"{tuple(matrix.shape) if isinstance(matrix, torch.Tensor) else type(matrix).__name__}")
    if method not in ("identity", "gs", "svd"):
        raise ValueError(f"method must be 'identity', 'gs' or 'svd', got {method!r}")
    if autograd:
        def g(v: torch.Tensor) -> torch.Tensor:
            return orthogonalize(v.reshape(3, 3), method=method, proper=proper).reshape(9)

        return _batched_jacobian(g, matrix.reshape(*matrix.shape[:-2], 9), 9)
    if method == "identity":
        return torch.eye(9, dtype=matrix.dtype, device=matrix.device).expand(*matrix.shape[:-2], 9, 9)
    if method == "svd":
        return _svd_closed_form(matrix, proper)
    if not proper:
        raise ValueError("the closed-form Jacobian of 'gs' is that of r_GS (proper=True); "
                         "pass autograd=True for Eq. 1 with a normalised third column")
    return _gs_closed_form(matrix[..., :, 0], matrix[..., :, 1], 3)


def sixd_jacobian(x: torch.Tensor, autograd: bool = False) -> torch.Tensor:
    """B = d vec(r_GS(x)) / dx for the 6D representation (PRoM Eq. 2; R_0 = the 6 network outputs).

    Closed form from PRoM Eq. 13-16, or ``torch.func.vmap(jacrev(...))`` with ``autograd=True``.

    Args:
        x: (..., 6) in the column layout of ``matrix_from_6d``.
        autograd: use jacrev instead of the closed form.
    Returns:
        (..., 9, 6).
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[-1] != 6:
        raise ValueError(f"x must be a tensor of shape (..., 6), got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if autograd:
        def r(v: torch.Tensor) -> torch.Tensor:
            return matrix_from_6d(v).reshape(9)

        return _batched_jacobian(r, x, 6)
    t = x.reshape(*x.shape[:-1], 3, 2)
    return _gs_closed_form(t[..., 0], t[..., 1], 2)


def gram_eigenvalues(B: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of B B^T in ascending order (the spectrum Theorem 1's proof bounds with).

    Args:
        B: (..., p, q).
    Returns:
        (..., p).
    """
    if not isinstance(B, torch.Tensor) or B.dim() < 2:
        raise ValueError("B must be a tensor of shape (..., p, q)")
    return torch.linalg.eigvalsh(B @ B.mT)


def lambda_min(B: torch.Tensor) -> torch.Tensor:
    """lambda_min(B B^T) (PRoM Theorem 1-2): 1 for B_0 = I, 0 for any orthogonalisation.

    Args:
        B: (..., p, q).
    Returns:
        (...) the smallest eigenvalue as computed (round-off can make a true 0 slightly negative).
    """
    return gram_eigenvalues(B)[..., 0]


def _rtol(B: torch.Tensor, rtol: Optional[float]) -> float:
    return float(max(B.shape[-2:]) * torch.finfo(B.dtype).eps) if rtol is None else rtol


def psi(B: torch.Tensor, rtol: Optional[float] = None) -> torch.Tensor:
    """psi(B) = 1/sqrt(lambda_min(B B^T)), or inf where lambda_min = 0 (PRoM Theorem 1).

    A computed lambda_min counts as 0 when it is at most ``rtol * lambda_max`` (default
    ``max(p, q) * eps``, the rank tolerance of ``torch.linalg.matrix_rank`` applied to B B^T's
    eigenvalues): exact zeros only exist on paper.

    Args:
        B: (..., p, q).
        rtol: relative tolerance on the eigenvalues of B B^T.
    Returns:
        (...).
    """
    ev = gram_eigenvalues(B)
    lo, hi = ev[..., 0], ev[..., -1]
    zero = lo <= _rtol(B, rtol) * hi
    return torch.where(zero, torch.full_like(lo, float("inf")), 1.0 / torch.sqrt(lo.clamp_min(0) + zero))


def jacobian_rank(B: torch.Tensor, rtol: Optional[float] = None) -> torch.Tensor:
    """Numerical rank of B (``torch.linalg.matrix_rank`` on B's singular values).

    Expected (:data:`EXPECTED_RANK`): 9 for PRoM, 3 for g_GS, g_SVD and the 6D map.

    Args:
        B: (..., p, q).
        rtol: relative tolerance on the singular values of B (``matrix_rank``'s default when None).
    Returns:
        (...) int64.
    """
    return torch.linalg.matrix_rank(B, rtol=rtol)
