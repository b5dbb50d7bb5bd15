"""Rotation representations and orthogonalisations (PRoM Sec. 3; Zhou et al. 2019).

Conventions used throughout this module:

- Rotation matrices act on column vectors, ``x' = R @ x``; batches are leading dims ``(..., 3, 3)``.
- 6D representation: the 6 numbers are reshaped row-major to ``(3, 2)`` and read as the first
  two COLUMNS ``[t1, t2]`` of the matrix, i.e. ``x = [m00, m01, m10, m11, m20, m21]``; the third
  column is ``b3 = b1 x b2`` (PRoM Eq. 2). This is the layout of the SPIN / CLIFF / SGRE code
  (``x.view(-1, 3, 2)``). PyTorch3D's ``rotation_6d_to_matrix`` instead reads the 6 numbers as the
  first two ROWS (``d = R[:2, :].reshape(6)``); such a vector converts to ours with
  ``matrix_from_6d(d.reshape(2, 3).mT.reshape(6))``, which returns ``R^T``.
- Quaternions are ``(x, y, z, w)`` (scalar LAST, roma's XYZW) unless ``scalar_first=True``.
- Euler angles always take an explicit ``convention`` string: upper-case (``"XYZ"``) = intrinsic
  rotations about the moving axes, lower-case (``"xyz"``) = extrinsic rotations about the fixed
  axes (the roma / scipy rule). Angles in radians unless ``degrees=True``.
- Axis-angle is a rotation vector ``theta * axis`` in radians (roma's ``rotvec``).
- Non-finite input propagates as NaN, never as a number: every function below that computes
  something (all but ``matrix_to_6d`` and ``orthogonalize(..., "identity")``, which copy entries)
  returns an all-NaN result for a batch element whose input holds a NaN or +-inf entry, other
  elements untouched. The output is multiplied by NaN there (by 1 elsewhere), so the gradient of
  such an element is NaN too, while a finite element's value and gradient are exactly those
  without the check. Nothing raises on non-finite values (NaN is not a plausible number, so it
  needs no refusal; the rotation check below skips such elements).
- Functions documented to take ROTATION matrices (``matrix_to_axis_angle``,
  ``matrix_to_quaternion``, ``matrix_to_euler``, ``geodesic_distance``, and
  ``camera.perspective_homography``) refuse, with a ValueError, a finite matrix that is not one:
  ``max|R^T R - I|`` or ``|det R - 1|`` above a dtype-dependent tolerance (``_ROTATION_ATOL``: 1e-4 in
  float64, 1e-3 in float32, 2e-2 in float16, 1e-1 in bfloat16). Otherwise a scaled or reflected
  matrix would give a plausible, finite, wrong angle (``geodesic_distance(0, I)`` was pi). The check
  is one vectorised reduction read back once (a device sync on a GPU); ``check=False`` skips it, for
  hot loops whose matrices are rotations by construction.

The conversions are thin wrappers over roma. What the papers are about (r_GS, g_GS, g_SVD) is
hand-written so that its autograd graph is exactly the one PRoM analyses.
"""

from __future__ import annotations

from typing import Literal, Optional, Sequence, Union

import roma
import torch

__all__ = [
    "matrix_from_6d",
    "matrix_to_6d",
    "gram_schmidt",
    "svd_orthogonalize",
    "orthogonalize",
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "euler_to_matrix",
    "matrix_to_euler",
    "geodesic_distance",
    "random_rotation",
]


def _check_last_dims(x: torch.Tensor, shape: tuple[int, ...], name: str) -> None:
    """Raise if ``x`` is not a tensor of shape ``(..., *shape)`` (shared by the geometry modules)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if tuple(x.shape[x.dim() - len(shape):]) != shape or x.dim() < len(shape):
        raise ValueError(f"{name} must have shape (..., {', '.join(map(str, shape))}), got {tuple(x.shape)}")


def _format_index(flat: int, shape: Sequence[int]) -> str:
    """The multi-index of flat position ``flat`` in a tensor of ``shape``, as ``(i, j, ...)``."""
    index = []
    for size in reversed(tuple(shape)):
        flat, i = divmod(flat, size)
        index.append(i)
    return f"({', '.join(map(str, reversed(index)))}{',' if len(index) == 1 else ''})"


# Tolerance of the rotation check on max|R^T R - I| and |det R - 1|, per dtype. It must pass what
# rounding leaves in real rotations (measured: float32 ~1e-7, 2.6e-6 after a chain of 24 products,
# 5e-5 for r_GS of 1e5 random 6D vectors; float16 8e-4 / 6e-3 for 24 products; bfloat16 7.5e-3 /
# 5e-2) and refuse what is not a rotation (a reflection: det -1; a 1 % scale: 2e-2 in R^T R).
# bfloat16 cannot tell a few-percent scale from rounding. r_GS of nearly collinear columns is off by
# ~eps / sin(alpha) (see matrix_from_6d): in float32 above 1e-3 for alpha below ~1e-4 rad, so such
# near-degenerate outputs are refused unless check=False. float64 (and any other dtype): the default.
_ROTATION_ATOL = {torch.float32: 1e-3, torch.float16: 2e-2, torch.bfloat16: 1e-1}
_ROTATION_ATOL_DEFAULT = 1e-4


def _rotation_errors(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch) max|R^T R - I| and det R of each matrix, 0 and 1 for a non-finite one (no graph)."""
    with torch.no_grad():
        # At least float32: in float16 / bfloat16 the check's own products would add rounding.
        R = matrix.detach().to(torch.promote_types(matrix.dtype, torch.float32))
        eye = torch.eye(3, dtype=R.dtype, device=R.device)
        # Non-finite matrices give NaN by the documented rule, so they are not refused: replace
        # them by I (error 0), which also keeps inf - inf out of the products.
        R = torch.where(_nonfinite(R, 2)[..., None, None], eye, R)
        orth = (R.transpose(-1, -2) @ R - eye).abs().amax(dim=(-2, -1))
        # det by the triple product (c0 x c1) . c2: no LU factorisation, no pivoting.
        det = (torch.linalg.cross(R[..., :, 0], R[..., :, 1], dim=-1) * R[..., :, 2]).sum(-1)
    return orth, det


def _check_rotation(matrix: torch.Tensor, name: str, atol: Optional[float] = None) -> None:
    """Raise ValueError unless every finite matrix of ``matrix`` (..., 3, 3) is a rotation.

    A rotation here has ``max|R^T R - I| <= atol`` and ``|det R - 1| <= atol``; ``atol=None`` takes the
    dtype's value from ``_ROTATION_ATOL`` (1e-4 for float64). Matrices with a NaN or inf entry pass
    (they give NaN outputs). All matrices are checked in one reduction; the verdict costs one
    device sync, and only a refusal reads more (the worst matrix's numbers).

    Raises:
        ValueError: naming ``name``, the worst matrix's batch index, its orthogonality error and
            determinant, the tolerance, and what to do about it.
    """
    if matrix.numel() == 0:
        return
    tol = _ROTATION_ATOL.get(matrix.dtype, _ROTATION_ATOL_DEFAULT) if atol is None else atol
    orth, det = _rotation_errors(matrix)
    # maximum propagates NaN (overflowing finite entries), so "not <= tol" refuses those too.
    error = torch.maximum(orth, (det - 1.0).abs()).reshape(-1)
    worst, flat = error.max(dim=0)
    if bool(worst <= tol):  # the one sync of a passing check
        return
    k = int(flat)
    batch = tuple(matrix.shape[:-2])
    which = f"the worst of {error.numel()} matrices, at batch index {_format_index(k, batch)}," \
        if batch else "the matrix"
    worst_orth, worst_det = float(orth.reshape(-1)[k]), float(det.reshape(-1)[k])
    reflection = " (det < 0: a reflection, e.g. a flipped axis)" if worst_det < 0 else ""
    raise ValueError(
        f"{name} must hold rotation matrices (R^T R = I, det R = +1, each to {tol:g} in "
        f"{str(matrix.dtype).removeprefix('torch.')}); {which} has "
        f"max|R^T R - I| = {worst_orth:.3g} and det R = {worst_det:.6g}{reflection}. "
        "Project it onto SO(3) first with svd_orthogonalize (the nearest rotation) or "
        "gram_schmidt, or pass check=False to skip this check."
    )


def _normalize(v: torch.Tensor) -> torch.Tensor:
    """N(v) = v / |v| over the last dim (PRoM Eq. 1's N)."""
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)


# Gram-Schmidt: a residual p2 - (q1 . p2) q1 at most this many float epsilons of |p2| is rounding
# noise (exactly collinear columns leave <= 3.1 eps in float32 and float64, measured on 1e5 random
# pairs), so its direction is arbitrary. Below the threshold (angle < 16 eps: 1.9e-6 rad in float32,
# 3.6e-15 rad in float64) the result is NaN instead of a rotation with a random second column.
_COLLINEAR_EPS_FACTOR = 16.0


def _nonfinite(x: torch.Tensor, event_dims: int) -> torch.Tensor:
    """(batch) bool: does the element (the last ``event_dims`` dims of ``x``) hold a NaN or inf?"""
    return ~torch.isfinite(x).flatten(x.dim() - event_dims).all(-1)


def _nan_factor(bad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """1 where ``bad`` is False, NaN where it is True, shaped to broadcast against ``like``."""
    factor = torch.ones(bad.shape, dtype=like.dtype, device=like.device).masked_fill(bad, float("nan"))
    return factor.reshape(tuple(bad.shape) + (1,) * (like.dim() - bad.dim()))


def _nan_where(out: torch.Tensor, bad: torch.Tensor) -> torch.Tensor:
    """``out`` with every entry of the batch elements flagged in ``bad`` set to NaN.

    ``out`` is MULTIPLIED by NaN there (not selected by ``torch.where``), so the gradient of a
    flagged element is NaN too, whatever the loss on top; unflagged elements are multiplied by 1:
    the same value and the same gradient.
    """
    return out * _nan_factor(bad, out)


def matrix_from_6d(x: torch.Tensor) -> torch.Tensor:
    """6D -> rotation matrix by the Gram-Schmidt-like r_GS (PRoM Eq. 2; Zhou et al. 2019).

    r1 = N(t1), r2 = N(t2 - (r1 . t2) r1), r3 = r1 x r2, with ``[t1, t2] = x.reshape(..., 3, 2)``
    (columns; see the module docstring for the PyTorch3D row layout). Equals
    ``gram_schmidt(M)`` for any M whose first two columns are t1, t2.

    Degenerate input: the Jacobian grows like ``1/(|t1| sin alpha)``, alpha the angle between t1 and
    t2 (PRoM Eq. 6; ``posebook.analysis.gradients.r2_jacobian_norm``), and is finite for any
    alpha > 0. Single-pass Gram-Schmidt loses orthogonality like eps / sin(alpha): ``|R^T R - I|`` is
    ~8e-4 at alpha = 1e-5 in float32, ~2e-4 at alpha = 1e-12 in float64 (the float result of the
    formula PRoM analyses; no re-orthogonalisation is done). For (numerically) collinear columns,
    ``|t2 - (r1 . t2) r1| <= 16 eps |t2|`` (alpha below ~16 eps: 1.9e-6 rad in float32, 3.6e-15 rad in
    float64), and for t1 = 0, r2 has no defined direction: the result is all NaN, as are its
    gradients, rather than a matrix whose second column is rounding noise. A NaN or inf entry of
    ``x`` also gives all NaN (see the module docstring).

    Args:
        x: (..., 6) 6D rotation representation, column layout ``[m00, m01, m10, m11, m20, m21]``.
    Returns:
        (..., 3, 3) rotation matrices with columns r1, r2, r3.
    """
    _check_last_dims(x, (6,), "x")
    t = x.reshape(*x.shape[:-1], 3, 2)
    return _gram_schmidt_columns(t[..., 0], t[..., 1], None)


def matrix_to_6d(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrix -> 6D: the first two columns, flattened in ``matrix_from_6d``'s order.

    A reshape, not a computation: entries are copied as they are (NaN and inf included).

    Args:
        matrix: (..., 3, 3).
    Returns:
        (..., 6) ``[m00, m01, m10, m11, m20, m21]``.
    """
    _check_last_dims(matrix, (3, 3), "matrix")
    return matrix[..., :, :2].reshape(*matrix.shape[:-2], 6)


def _gram_schmidt_columns(
    p1: torch.Tensor, p2: torch.Tensor, p3: Optional[torch.Tensor]
) -> torch.Tensor:
    q1 = _normalize(p1)
    r2 = p2 - (q1 * p2).sum(-1, keepdim=True) * q1
    q2 = _normalize(r2)
    if p3 is None:
        q3 = torch.linalg.cross(q1, q2, dim=-1)
    else:
        r3 = p3 - (q1 * p3).sum(-1, keepdim=True) * q1 - (q2 * p3).sum(-1, keepdim=True) * q2
        q3 = _normalize(r3)
    out = torch.stack((q1, q2, q3), dim=-1)
    with torch.no_grad():  # which elements are degenerate (a mask: no graph, no sync)
        tol = _COLLINEAR_EPS_FACTOR * torch.finfo(out.dtype).eps
        norm = torch.linalg.vector_norm
        bad = _nonfinite(p1, 1) | _nonfinite(p2, 1) | (norm(p1, dim=-1) == 0)
        bad = bad | (norm(r2, dim=-1) <= tol * norm(p2, dim=-1))
        if p3 is not None:
            bad = bad | _nonfinite(p3, 1) | (norm(r3, dim=-1) <= tol * norm(p3, dim=-1))
    return _nan_where(out, bad)


def gram_schmidt(matrix: torch.Tensor, proper: bool = True) -> torch.Tensor:
    """Gram-Schmidt orthonormalisation of the COLUMNS of a 3x3 matrix (PRoM Eq. 1, g_GS).

    q1 = N(p1), q2 = N(p2 - (q1 . p2) q1), and the third column:

    - ``proper=True`` (default): q3 = q1 x q2, so the result is always in SO(3). This is the
      6D map r_GS of PRoM Eq. 2 applied to the first two columns; p3 is ignored.
    - ``proper=False``: q3 = N(p3 - (q1 . p3) q1 - (q2 . p3) q2), Eq. 1 literally for n = 3.
      Then q3 = sign(det M) (q1 x q2): a reflection (det -1) whenever det(M) < 0.

    Degenerate input, as for :func:`matrix_from_6d`: finite gradients (of size ~1/sin of the
    angle) for nearly collinear p1, p2 and, with ``proper=False``, for p3 near the plane of p1,
    p2 (a nearly rank-deficient M); all NaN (value and gradient) when a residual is at rounding
    level (<= 16 eps of its column: collinear p1, p2, or rank(M) < 3 with ``proper=False``), when
    p1 = 0, and when M holds a NaN or inf (with ``proper=True`` too, although p3 is not used then).

    Args:
        matrix: (..., 3, 3) matrices, columns p1, p2, p3.
        proper: see above.
    Returns:
        (..., 3, 3) orthogonal matrices (rotations when ``proper``).
    """
    _check_last_dims(matrix, (3, 3), "matrix")
    if not proper:
        return _gram_schmidt_columns(matrix[..., :, 0], matrix[..., :, 1], matrix[..., :, 2])
    out = _gram_schmidt_columns(matrix[..., :, 0], matrix[..., :, 1], None)
    return _nan_where(out, _nonfinite(matrix[..., :, 2], 1))  # p3 is unused, but NaN is NaN


def svd_orthogonalize(matrix: torch.Tensor, proper: bool = True) -> torch.Tensor:
    """Nearest orthogonal matrix by SVD (PRoM Sec. 3.1, g_SVD; Levinson et al. 2020).

    With M = U S V^T: ``proper=True`` returns U diag(1, 1, det(U V^T)) V^T, the rotation nearest
    to M in Frobenius norm (same as ``roma.special_procrustes``); ``proper=False`` returns U V^T
    as PRoM writes it, which is a reflection when det(M) < 0. Gradients flow through
    ``torch.linalg.svd`` undamped (the 1/(s_i - s_j) terms PRoM Sec. 3.4.2 discusses).

    Degenerate input: the gradient's denominators are s_i + s'_j (i != j), with s' = (s1, s2,
    sign(det M) s3) for the proper map and s' = s for U V^T
    (``posebook.analysis.gradients.svd_denominators``); repeated singular values alone are harmless
    (the 1/(s_i - s_j) terms of U and V cancel) and nearly rank-deficient M is fine, so the gradient
    is finite and exact there. Where a denominator is 0 (proper: det M < 0 with s2 = s3, or
    rank(M) <= 1; improper: rank(M) <= 1) the nearest rotation is not unique: one minimiser is
    returned, the true gradient is unbounded, and autograd returns values of order 1/eps (~1e16 in
    float64), finite but meaningless. U V^T also jumps between det +1 and det -1 where det M = 0
    (for rank 2 its third column's sign is LAPACK's choice; the gradient stays finite, one-sided).
    A matrix with a NaN or inf entry gives an
    all-NaN result and a NaN gradient (it is replaced by the identity before the SVD, so
    LAPACK/cuSOLVER never see it: on the CPU the SVD would raise for NaN and return the identity
    for inf).

    Args:
        matrix: (..., 3, 3).
        proper: see above.
    Returns:
        (..., 3, 3) orthogonal matrices (rotations when ``proper``).
    """
    _check_last_dims(matrix, (3, 3), "matrix")
    bad = _nonfinite(matrix, 2)
    eye = torch.eye(3, dtype=matrix.dtype, device=matrix.device)
    U, _, Vh = torch.linalg.svd(torch.where(bad[..., None, None], eye, matrix))
    if proper:
        det = torch.linalg.det(U @ Vh)
        # Flip the column of U belonging to the smallest singular value.
        U = torch.cat((U[..., :, :2], U[..., :, 2:] * det[..., None, None]), dim=-1)
    factor = _nan_factor(bad, matrix)
    # + matrix * (factor - 1): exactly 0 (and a zero gradient) for a finite matrix; routes a NaN
    # gradient to a non-finite one, which the torch.where above cuts off from the SVD.
    return (U @ Vh) * factor + matrix * (factor - 1)


def orthogonalize(
    matrix: torch.Tensor,
    method: Literal["svd", "gs", "identity"] = "svd",
    proper: bool = True,
) -> torch.Tensor:
    """Apply an orthogonalisation g (PRoM Fig. 1): "svd" (g_SVD), "gs" (g_GS) or "identity".

    PRoM trains with g = identity (pseudo rotation matrices) and orthogonalises only at inference.

    Args:
        matrix: (..., 3, 3).
        method: "svd" -> ``svd_orthogonalize``, "gs" -> ``gram_schmidt``, "identity" -> unchanged.
        proper: forwarded to the orthogonaliser (ignored for "identity").
    Returns:
        (..., 3, 3).
    """
    if method == "svd":
        return svd_orthogonalize(matrix, proper=proper)
    if method == "gs":
        return gram_schmidt(matrix, proper=proper)
    if method == "identity":
        _check_last_dims(matrix, (3, 3), "matrix")
        return matrix
    raise ValueError(f"method must be 'svd', 'gs' or 'identity', got {method!r}")


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rotation vector (axis * angle, radians) -> matrix, by Rodrigues' formula (roma).

    Args:
        axis_angle: (..., 3).
    Returns:
        (..., 3, 3).
    """
    _check_last_dims(axis_angle, (3,), "axis_angle")
    return _nan_where(roma.rotvec_to_rotmat(axis_angle), _nonfinite(axis_angle, 1))


def matrix_to_axis_angle(matrix: torch.Tensor, *, check: bool = True) -> torch.Tensor:
    """Rotation matrix -> rotation vector with angle in [0, pi] (roma).

    Args:
        matrix: (..., 3, 3) rotation matrices.
        check: refuse (ValueError) a finite matrix that is not a rotation, see the module
            docstring; ``False`` skips the check and its device sync (hot loops).
    Returns:
        (..., 3) axis * angle, radians.
    Raises:
        ValueError: if ``check`` and a finite matrix is not a rotation (scaled, sheared, reflected).
    """
    _check_last_dims(matrix, (3, 3), "matrix")
    if check:
        _check_rotation(matrix, "matrix")
    return _nan_where(roma.rotmat_to_rotvec(matrix), _nonfinite(matrix, 2))


def quaternion_to_matrix(quaternion: torch.Tensor, scalar_first: bool = False) -> torch.Tensor:
    """Unit quaternion -> rotation matrix (roma; input is normalised first).

    Args:
        quaternion: (..., 4) ``(x, y, z, w)`` (roma's XYZW), or ``(w, x, y, z)`` if ``scalar_first``.
        scalar_first: input order, as in ``scipy.spatial.transform.Rotation.from_quat``.
    Returns:
        (..., 3, 3).
    """
    _check_last_dims(quaternion, (4,), "quaternion")
    bad = _nonfinite(quaternion, 1)
    if scalar_first:
        quaternion = roma.quat_wxyz_to_xyzw(quaternion)
    return _nan_where(roma.unitquat_to_rotmat(roma.quat_normalize(quaternion)), bad)


def matrix_to_quaternion(
    matrix: torch.Tensor, scalar_first: bool = False, *, check: bool = True
) -> torch.Tensor:
    """Rotation matrix -> unit quaternion with non-negative scalar part w (roma).

    Args:
        matrix: (..., 3, 3) rotation matrices.
        scalar_first: output ``(w, x, y, z)`` instead of roma's ``(x, y, z, w)``.
        check: refuse (ValueError) a finite matrix that is not a rotation, see the module
            docstring; ``False`` skips the check and its device sync (hot loops).
    Returns:
        (..., 4) unit quaternions, sign fixed so that w >= 0.
    Raises:
        ValueError: if ``check`` and a finite matrix is not a rotation (scaled, sheared, reflected).
    """
    _check_last_dims(matrix, (3, 3), "matrix")
    if check:
        _check_rotation(matrix, "matrix")
    q = roma.rotmat_to_unitquat(matrix)
    q = _nan_where(torch.where(q[..., 3:] < 0, -q, q), _nonfinite(matrix, 2))
    return roma.quat_xyzw_to_wxyz(q) if scalar_first else q


def euler_to_matrix(angles: torch.Tensor, convention: str, degrees: bool = False) -> torch.Tensor:
    """Euler angles -> rotation matrix (roma).

    Args:
        angles: (..., 3) angles about the three axes of ``convention``, in order.
        convention: 3 letters; "XYZ" (upper case) = intrinsic, "xyz" (lower case) = extrinsic.
            Intrinsic "XYZ" is R = Rx(a) Ry(b) Rz(c); extrinsic "xyz" is R = Rz(c) Ry(b) Rx(a).
        degrees: angles in degrees instead of radians.
    Returns:
        (..., 3, 3).
    """
    _check_last_dims(angles, (3,), "angles")
    _check_convention(convention)
    return _nan_where(roma.euler_to_rotmat(convention, angles, degrees=degrees), _nonfinite(angles, 1))


def matrix_to_euler(
    matrix: torch.Tensor, convention: str, degrees: bool = False, *, check: bool = True
) -> torch.Tensor:
    """Rotation matrix -> Euler angles (roma); inverse of ``euler_to_matrix``.

    Args:
        matrix: (..., 3, 3) rotation matrices.
        convention: see ``euler_to_matrix``.
        degrees: return degrees instead of radians.
        check: refuse (ValueError) a finite matrix that is not a rotation, see the module
            docstring; ``False`` skips the check and its device sync (hot loops).
    Returns:
        (..., 3) angles; the middle one lies in [-pi/2, pi/2] for Tait-Bryan conventions.
    Raises:
        ValueError: for a bad ``convention``; if ``check`` and a finite matrix is not a rotation.
    """
    _check_last_dims(matrix, (3, 3), "matrix")
    _check_convention(convention)
    if check:
        _check_rotation(matrix, "matrix")
    return _nan_where(roma.rotmat_to_euler(convention, matrix, degrees=degrees), _nonfinite(matrix, 2))


def _check_convention(convention: str) -> None:
    ok = (
        isinstance(convention, str)
        and len(convention) == 3
        and (set(convention) <= set("xyz") or set(convention) <= set("XYZ"))
        and convention[0] != convention[1]
        and convention[1] != convention[2]
    )
    if not ok:
        raise ValueError(
            f"convention must be 3 axis letters, all upper case (intrinsic, e.g. 'XYZ') or all "
            f"lower case (extrinsic, e.g. 'xyz'), no two consecutive equal; got {convention!r}"
        )


def geodesic_distance(R1: torch.Tensor, R2: torch.Tensor, *, check: bool = True) -> torch.Tensor:
    """Angle of the relative rotation R1^T R2, in radians, in [0, pi].

    ``theta = atan2(|vee(M - M^T)| / 2, (tr M - 1) / 2)`` with M = R1^T R2: accurate to machine
    precision both near 0 (where acos of the trace loses half the digits) and near pi (where the
    chordal form ``2 asin(|R1 - R2|_F / 2 sqrt 2)`` of ``roma.rotmat_geodesic_distance`` does), and
    with finite gradients everywhere except exactly at pi. A NaN or inf entry in either matrix
    gives NaN for that pair (the atan2 alone would turn inf into a finite angle such as 3 pi / 4).

    Args:
        R1, R2: (..., 3, 3) rotation matrices (broadcastable).
        check: refuse (ValueError) a finite R1 or R2 that is not a rotation (``geodesic_distance(0,
            I)`` would be pi), see the module docstring. Pass ``False`` in training losses and
            metrics on matrices that are rotations by construction: no check, no device sync.
    Returns:
        (...) angles in radians.
    Raises:
        ValueError: if ``check`` and a finite matrix of R1 or R2 is not a rotation.
    """
    _check_last_dims(R1, (3, 3), "R1")
    _check_last_dims(R2, (3, 3), "R2")
    if check:
        _check_rotation(R1, "R1")
        _check_rotation(R2, "R2")
    M = R1.transpose(-1, -2) @ R2
    cos = 0.5 * (M.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0)
    skew = torch.stack(
        (M[..., 2, 1] - M[..., 1, 2], M[..., 0, 2] - M[..., 2, 0], M[..., 1, 0] - M[..., 0, 1]),
        dim=-1,
    )
    sin2 = 0.25 * (skew * skew).sum(-1)
    # sqrt has an infinite derivative at 0: differentiate through a safe value there.
    positive = sin2 > 0
    sin = torch.where(positive, torch.sqrt(torch.where(positive, sin2, torch.ones_like(sin2))), 0.0)
    return _nan_where(torch.atan2(sin, cos), _nonfinite(M, 2))


def random_rotation(
    n: Union[int, Sequence[int]] = (),
    generator: Optional[torch.Generator] = None,
    dtype: Optional[torch.dtype] = None,
    device: Optional[Union[str, torch.device]] = None,
) -> torch.Tensor:
    """Rotations sampled uniformly (Haar measure) on SO(3), via roma.random_rotmat.

    Args:
        n: batch shape; an int n gives (n, 3, 3), () a single matrix.
        generator: torch.Generator for reproducibility (must live on ``device``).
        dtype: defaults to ``torch.get_default_dtype()``.
        device: defaults to the current default device.
    Returns:
        ``(*n, 3, 3)``.
    """
    dtype = torch.get_default_dtype() if dtype is None else dtype
    size = (n,) if isinstance(n, int) else tuple(n)
    return roma.random_rotmat(size, dtype=dtype, device=device, generator=generator)
