"""Closed-form gradients of the rotation loss through r_GS, g_SVD and PRoM (PRoM Sec. 3.4, App. A.2-A.3).

The rotation loss is ``L_theta = 1/2 ||g(M) - R||_F^2 = 1/2 sum_i |r'_i - r_i|^2`` for a network output
``M`` (3x3, or its first two columns ``[t'_1, t'_2]`` for 6D) and a ground-truth rotation ``R``. The
factor 1/2 is the one that makes PRoM Eq. 5 / Eq. 12 exact (they carry no factor 2) and puts the PRoM
gradient ``M - R`` on the diagonal of PRoM Fig. 2a; any other scale of the element-wise MSE multiplies
every gradient here by the same constant and changes no sign and no ratio.

What is here:

- 6D / Gram-Schmidt (``r_GS``, PRoM Eq. 2): the Jacobians ``dr'_i/dt'_j`` of Eq. 13-16 and the
  per-term split of the gradient of Eq. 5 / Eq. 12 (through ``r'_1``, ``r'_2``, ``r'_3``), for
  ``t'_1`` and ``t'_2``.
- SVD (``g_SVD``, PRoM Sec. 3.1 and 3.4.2): the gradient written as the sum of the part that flows
  through ``U`` and the part through ``V``, each with the ``1/(s_i^2 - s_j^2)`` matrix of Ionescu et
  al. (2015) that PRoM Sec. 3.4.2 points to; and the same gradient in its simplified form, where those
  terms cancel into ``1/(s'_i + s'_j)`` (``s'`` = singular values signed so that ``U' V^T`` is the
  output).
- PRoM (``g`` = identity, PRoM Eq. 8): ``M - R``.
- Explosion diagnostics: the angle between ``t'_1`` and ``t'_2``, the norm of ``dr'_2/dt'_1`` (PRoM
  Eq. 6), and the denominators of the two SVD forms.

Sign convention of the normalisation Jacobian: ``dN(v)/dv = +(1/|v|)(I - v v^T/|v|^2)`` as PRoM Eq. 13
writes it; PRoM Eq. 6 prints it with a minus sign (an erratum, see :func:`normalization_jacobian`).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch

from posebook.geometry.rotations import orthogonalize

__all__ = [
    "GSJacobians",
    "GradientTerms",
    "SVDGradientTerms",
    "SVDDenominators",
    "rotation_loss",
    "skew",
    "normalization_jacobian",
    "gs_jacobians",
    "gs_gradient_terms",
    "svd_gradient_terms",
    "svd_gradient",
    "prom_gradient",
    "loss_gradient",
    "column_angle",
    "r2_jacobian_norm",
    "svd_denominators",
]

Method = Literal["identity", "gs", "svd"]


class GSJacobians(NamedTuple):
    """Jacobians of ``r_GS`` (PRoM Eq. 13-16). ``dr_dt1[..., i, :, :]`` = d r'_{i+1} / d t'_1 (3x3)."""

    rotation: torch.Tensor  # (..., 3, 3) columns r'_1, r'_2, r'_3
    r2_unnormalized: torch.Tensor  # (..., 3) r''_2 = t'_2 - (r'_1 . t'_2) r'_1
    dr_dt1: torch.Tensor  # (..., 3, 3, 3)
    dr_dt2: torch.Tensor  # (..., 3, 3, 3)


class GradientTerms(NamedTuple):
    """The three terms of PRoM Eq. 5 / Eq. 12, each the gradient w.r.t. ``[t'_1, t'_2]`` as (..., 3, 2).

    ``through_r1[..., :, 0]`` is ``(r'_1 - r_1)^T dr'_1/dt'_1``; column 1 is the same w.r.t. t'_2.
    """

    through_r1: torch.Tensor
    through_r2: torch.Tensor
    through_r3: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        """dL_theta / d[t'_1, t'_2], (..., 3, 2)."""
        return self.through_r1 + self.through_r2 + self.through_r3


class SVDGradientTerms(NamedTuple):
    """dL_theta/dM through g_SVD split into the part carried by U and the part carried by V, (..., 3, 3)."""

    through_U: torch.Tensor
    through_V: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.through_U + self.through_V


class SVDDenominators(NamedTuple):
    """Smallest denominators of the two forms of the g_SVD gradient, (...) each.

    ``min_gap`` = ``min_{i != j} |s_i - s_j|`` (the per-factor terms scale like 1/min_gap);
    ``min_sum`` = ``min_{i != j} |s'_i + s'_j|`` with s' the signed singular values (the total scales like
    1/min_sum). For a proper g_SVD and det(M) < 0, s'_3 = -s_3, so min_sum can be s_2 - s_3.
    """

    min_gap: torch.Tensor
    min_sum: torch.Tensor


def _check_matrix(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2 or tuple(x.shape[-2:]) != (3, 3):
        raise ValueError(f"{name} must have shape (..., 3, 3), got {tuple(x.shape)}")


def _check_vector(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 1 or x.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (..., 3), got {tuple(x.shape)}")


def _eye(like: torch.Tensor) -> torch.Tensor:
    return torch.eye(3, dtype=like.dtype, device=like.device)


def _outer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a[..., :, None] * b[..., None, :]


def _matvec_t(J: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """v^T J as a vector: (..., 3, 3), (..., 3) -> (..., 3)."""
    return (J * v[..., :, None]).sum(-2)


def rotation_loss(matrix: torch.Tensor, target: torch.Tensor, method: Method = "identity",
                  proper: bool = True) -> torch.Tensor:
    """PRoM Eq. 3 rotation term with L_ele = 1/2 squared error: ``1/2 ||g(M) - R||_F^2``.

    The differentiable reference that the closed forms of this module are tested against.

    Args:
        matrix: (..., 3, 3) raw network output M (for "gs" only its first two columns matter: r_GS).
        target: (..., 3, 3) ground-truth rotation R.
        method: the orthogonalisation g: "identity" (PRoM), "gs" (r_GS / g_GS) or "svd" (g_SVD).
        proper: forwarded to :func:`posebook.geometry.rotations.orthogonalize`.
    Returns:
        (...) loss per matrix.
    """
    _check_matrix(matrix, "matrix")
    _check_matrix(target, "target")
    diff = orthogonalize(matrix, method=method, proper=proper) - target
    return 0.5 * (diff * diff).sum((-2, -1))


def skew(v: torch.Tensor) -> torch.Tensor:
    """[v]_x, the matrix with [v]_x w = v x w (PRoM Eq. 16).

    Args:
        v: (..., 3).
    Returns:
        (..., 3, 3).
    """
    _check_vector(v, "v")
    zero = torch.zeros_like(v[..., 0])
    x, y, z = v.unbind(-1)
    return torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).reshape(*v.shape[:-1], 3, 3)


def normalization_jacobian(v: torch.Tensor) -> torch.Tensor:
    """Jacobian of ``N(v) = v/|v|``: ``+(1/|v|)(I - v v^T/|v|^2)`` (PRoM Eq. 13).

    PRoM Eq. 6 prints the same Jacobian with a leading minus sign (``grad N(r''_2) = -1/|r''_2| (I - ...)``);
    Eq. 13 and a finite-difference check give the plus sign. The minus sign of Eq. 15 is right: it
    belongs to d r''_2 / d r'_1, not to grad N.

    Args:
        v: (..., 3), non-zero.
    Returns:
        (..., 3, 3), symmetric, with v in its null space.
    """
    _check_vector(v, "v")
    n = torch.linalg.vector_norm(v, dim=-1)
    u = v / n[..., None]
    return (_eye(v) - _outer(u, u)) / n[..., None, None]


def gs_jacobians(t1: torch.Tensor, t2: torch.Tensor) -> GSJacobians:
    """Closed-form Jacobians of the 6D map r_GS w.r.t. its two input columns (PRoM Eq. 13-16).

    dr'_1/dt'_1 = grad N(t'_1)                                       (Eq. 13)
    dr'_2/dt'_1 = grad N(r''_2) (-(r'_1 . t'_2) I - r'_1 t'_2^T) dr'_1/dt'_1   (Eq. 14-15)
    dr'_3/dt'_1 = [r'_1]_x dr'_2/dt'_1 - [r'_2]_x dr'_1/dt'_1          (Eq. 16)
    and for t'_2 (not written in the paper; same rules): dr'_1/dt'_2 = 0,
    dr'_2/dt'_2 = grad N(r''_2) (I - r'_1 r'_1^T), dr'_3/dt'_2 = [r'_1]_x dr'_2/dt'_2.

    Args:
        t1, t2: (..., 3) the two unorthogonalised columns (6D = ``[t1, t2]``), not parallel.
    Returns:
        :class:`GSJacobians`.
    """
    _check_vector(t1, "t1")
    _check_vector(t2, "t2")
    t1, t2 = torch.broadcast_tensors(t1, t2)
    eye = _eye(t1)
    r1 = t1 / torch.linalg.vector_norm(t1, dim=-1, keepdim=True)
    r2pp = t2 - (r1 * t2).sum(-1, keepdim=True) * r1
    r2 = r2pp / torch.linalg.vector_norm(r2pp, dim=-1, keepdim=True)
    r3 = torch.linalg.cross(r1, r2, dim=-1)

    d_r1_t1 = normalization_jacobian(t1)
    grad_n2 = normalization_jacobian(r2pp)
    # r''_2 = t'_2 - r'_1 (r'_1^T t'_2): its derivative w.r.t. r'_1 carries Eq. 15's minus sign.
    d_r2pp_r1 = -((r1 * t2).sum(-1)[..., None, None] * eye + _outer(r1, t2))
    d_r2_t1 = grad_n2 @ d_r2pp_r1 @ d_r1_t1
    d_r3_t1 = skew(r1) @ d_r2_t1 - skew(r2) @ d_r1_t1

    d_r2_t2 = grad_n2 @ (eye - _outer(r1, r1))
    d_r3_t2 = skew(r1) @ d_r2_t2
    zero = torch.zeros_like(d_r1_t1)
    return GSJacobians(
        rotation=torch.stack((r1, r2, r3), dim=-1),
        r2_unnormalized=r2pp,
        dr_dt1=torch.stack((d_r1_t1, d_r2_t1, d_r3_t1), dim=-3),
        dr_dt2=torch.stack((zero, d_r2_t2, d_r3_t2), dim=-3),
    )


def gs_gradient_terms(t1: torch.Tensor, t2: torch.Tensor, target: torch.Tensor) -> GradientTerms:
    """The three terms of PRoM Eq. 5 / Eq. 12 for the 6D map r_GS, w.r.t. t'_1 and t'_2.

    term_i = (r'_i - r_i)^T d r'_i / d t'_j, i = 1, 2, 3, j = 1, 2; their sum is dL_theta/dt'_j with
    L_theta = 1/2 ||r_GS(t') - R||_F^2. Only term 1 moves r'_1 towards r_1 (PRoM Sec. 3.4.1).

    Args:
        t1, t2: (..., 3) the two unorthogonalised columns.
        target: (..., 3, 3) ground-truth rotation, columns r_1, r_2, r_3.
    Returns:
        :class:`GradientTerms`, each (..., 3, 2) (column j = gradient w.r.t. t'_{j+1}).
    """
    _check_matrix(target, "target")
    jac = gs_jacobians(t1, t2)
    err = jac.rotation - target  # columns r'_i - r_i
    terms = []
    for i in range(3):
        e = err[..., :, i]
        terms.append(torch.stack((_matvec_t(jac.dr_dt1[..., i, :, :], e),
                                  _matvec_t(jac.dr_dt2[..., i, :, :], e)), dim=-1))
    return GradientTerms(*terms)


def _svd_signed(matrix: torch.Tensor, proper: bool):
    U, S, Vh = torch.linalg.svd(matrix)
    if proper:
        d = torch.sign(torch.linalg.det(U @ Vh))
    else:
        d = torch.ones_like(S[..., 0])
    signs = torch.ones_like(S)
    signs = torch.cat((signs[..., :2], d[..., None]), dim=-1)
    return U, S, Vh, signs


def svd_gradient_terms(matrix: torch.Tensor, target: torch.Tensor, proper: bool = True) -> SVDGradientTerms:
    """dL_theta/dM through g_SVD as the part through U plus the part through V (PRoM Sec. 3.4.2).

    With M = U S V^T, R' = U D V^T (D = diag(1, 1, det(U V^T)) when ``proper``, else I), G = R' - R,
    dL/dU = G V D and dL/dV = G^T U D, the standard SVD backward (Ionescu et al. 2015; Townsend 2016)
    for a square M is::

        through U: U [(F o (U^T dL/dU - dL/dU^T U)) S] V^T
        through V: U [S (F o (V^T dL/dV - dL/dV^T V))] V^T

    with F_ij = 1/(s_j^2 - s_i^2) (i != j), F_ii = 0: the matrix K of PRoM Sec. 3.4.2. Each part grows
    like ``1/|s_i - s_j|``; their sum does not (see :func:`svd_gradient`).

    Args:
        matrix: (..., 3, 3) M with distinct singular values.
        target: (..., 3, 3) ground-truth rotation R.
        proper: as in :func:`posebook.geometry.rotations.svd_orthogonalize`.
    Returns:
        :class:`SVDGradientTerms`, each (..., 3, 3).
    """
    _check_matrix(matrix, "matrix")
    _check_matrix(target, "target")
    U, S, Vh, signs = _svd_signed(matrix, proper)
    V = Vh.mT
    G = U @ (signs[..., :, None] * Vh) - target
    gU = G @ V * signs[..., None, :]
    gV = G.mT @ U * signs[..., None, :]
    s2 = S * S
    diff = s2[..., None, :] - s2[..., :, None]  # s_j^2 - s_i^2
    off = ~torch.eye(3, dtype=torch.bool, device=matrix.device)
    F = torch.where(off, 1.0 / torch.where(off, diff, torch.ones_like(diff)), torch.zeros_like(diff))
    inner_U = (F * (U.mT @ gU - gU.mT @ U)) * S[..., None, :]
    inner_V = S[..., :, None] * (F * (V.mT @ gV - gV.mT @ V))
    return SVDGradientTerms(through_U=U @ inner_U @ Vh, through_V=U @ inner_V @ Vh)


def svd_gradient(matrix: torch.Tensor, target: torch.Tensor, proper: bool = True) -> torch.Tensor:
    """dL_theta/dM through g_SVD in closed form, with the 1/(s_i - s_j) terms cancelled.

    With signed singular values s' = (s_1, s_2, d s_3) and U' = U diag(1, 1, d) (d = det(U V^T) when
    ``proper``, else 1), M = U' diag(s') V^T and R' = U' V^T. Then dR' = U' Omega V^T with
    Omega_ij = (X_ij - X_ji)/(s'_i + s'_j), X = U'^T dM V, so::

        dL/dM = U' Z V^T,  Z_ij = (Y_ij - Y_ji)/(s'_i + s'_j),  Y = U'^T (R' - R) V.

    For det(M) > 0 (or ``proper=False``) every denominator is a sum of positive singular values: no
    blow-up when two singular values meet. For ``proper`` and det(M) < 0 the denominators s_i - s_3
    appear: the gradient explodes as s_2 -> s_3.

    Args:
        matrix: (..., 3, 3) M.
        target: (..., 3, 3) ground-truth rotation R.
        proper: as in :func:`posebook.geometry.rotations.svd_orthogonalize`.
    Returns:
        (..., 3, 3) dL_theta/dM.
    """
    _check_matrix(matrix, "matrix")
    _check_matrix(target, "target")
    U, S, Vh, signs = _svd_signed(matrix, proper)
    Up = U * signs[..., None, :]
    sp = S * signs
    Y = Up.mT @ (Up @ Vh - target) @ Vh.mT
    denom = sp[..., :, None] + sp[..., None, :]
    off = ~torch.eye(3, dtype=torch.bool, device=matrix.device)
    Z = torch.where(off, (Y - Y.mT) / torch.where(off, denom, torch.ones_like(denom)), torch.zeros_like(Y))
    return Up @ Z @ Vh


def prom_gradient(matrix: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """dL_theta/dM for PRoM (g = identity, PRoM Eq. 7-8): ``M - R``, each entry driven by its own error.

    Args:
        matrix: (..., 3, 3) M.
        target: (..., 3, 3) R.
    Returns:
        (..., 3, 3).
    """
    _check_matrix(matrix, "matrix")
    _check_matrix(target, "target")
    return matrix - target


def loss_gradient(matrix: torch.Tensor, target: torch.Tensor, method: Method = "identity",
                  proper: bool = True) -> torch.Tensor:
    """dL_theta/dM in closed form for g = identity (PRoM), "gs" (r_GS on the first two columns) or "svd".

    Args:
        matrix: (..., 3, 3) raw network output M.
        target: (..., 3, 3) ground-truth rotation R.
        method: "identity", "gs" or "svd" (the names of :func:`~posebook.geometry.rotations.orthogonalize`).
        proper: for "svd", U diag(1, 1, det) V^T (True) or U V^T (False). "gs" is always r_GS
            (q3 = q1 x q2, the third input column is ignored); ``proper=False`` is refused for it.
    Returns:
        (..., 3, 3); for "gs" the third column is zero.
    """
    if method == "identity":
        return prom_gradient(matrix, target)
    if method == "svd":
        return svd_gradient(matrix, target, proper=proper)
    if method == "gs":
        if not proper:
            raise ValueError("loss_gradient(method='gs') is the 6D map r_GS (q3 = q1 x q2); the closed form "
                             "for Eq. 1 with a normalised third column is not implemented: use proper=True")
        _check_matrix(matrix, "matrix")
        g = gs_gradient_terms(matrix[..., :, 0], matrix[..., :, 1], target).total
        return torch.cat((g, torch.zeros_like(g[..., :1])), dim=-1)
    raise ValueError(f"method must be 'identity', 'gs' or 'svd', got {method!r}")


def column_angle(t1: torch.Tensor, t2: torch.Tensor) -> torch.Tensor:
    """Angle between t'_1 and t'_2 in radians, in [0, pi] (atan2 form: accurate near 0 and pi).

    Args:
        t1, t2: (..., 3).
    Returns:
        (...).
    """
    _check_vector(t1, "t1")
    _check_vector(t2, "t2")
    cross = torch.linalg.vector_norm(torch.linalg.cross(t1, t2, dim=-1), dim=-1)
    return torch.atan2(cross, (t1 * t2).sum(-1))


def r2_jacobian_norm(t1: torch.Tensor, t2: torch.Tensor) -> torch.Tensor:
    """Spectral norm of dr'_2/dt'_1 (PRoM Eq. 6 / Eq. 15), the factor that explodes as t'_1 || t'_2.

    Its singular values are ``1/|t'_1|`` and ``|cot(alpha)|/|t'_1|`` (and 0), alpha the angle between
    the columns, so the norm is ``max(1, |cot alpha|)/|t'_1|``: it grows like 1/alpha as
    ``|r''_2| = |t'_2| sin alpha -> 0``.

    Args:
        t1, t2: (..., 3).
    Returns:
        (...).
    """
    return torch.linalg.matrix_norm(gs_jacobians(t1, t2).dr_dt1[..., 1, :, :], ord=2)


def svd_denominators(matrix: torch.Tensor, proper: bool = True) -> SVDDenominators:
    """The smallest denominators of :func:`svd_gradient_terms` and :func:`svd_gradient`.

    Args:
        matrix: (..., 3, 3).
        proper: as in :func:`svd_gradient`.
    Returns:
        :class:`SVDDenominators` (``min |s_i - s_j|``, ``min |s'_i + s'_j|``), each (...).
    """
    _check_matrix(matrix, "matrix")
    _, S, _, signs = _svd_signed(matrix, proper)
    sp = S * signs
    i, j = torch.triu_indices(3, 3, offset=1, device=matrix.device)
    return SVDDenominators(min_gap=(S[..., i] - S[..., j]).abs().amin(-1),
                           min_sum=(sp[..., i] + sp[..., j]).abs().amin(-1))
