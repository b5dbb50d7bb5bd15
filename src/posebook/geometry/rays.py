"""Keypoint rays, projection onto rays and ZeDO's closed-form translation (ZeDO Sec. 3.3, supp. C).

ZeDO (Jiang et al., WACV 2024) turns each 2D keypoint into a ray through the camera centre
(Eq. 3), moves every 3D joint onto its ray (Eq. 4, Algorithm 1's P~ = ((P + T) . r^) r^ - T) and,
after a warm-up, re-solves the root translation T in closed form each iteration (Eq. 6, supp. C
Eqs. 9-10). This module holds those pieces, one function per equation:

- :func:`keypoint_rays`: r = K^-1 [u, v, 1]^T, unit length (Eq. 3's r^) or scaled to z = 1.
- :func:`project_to_rays`: (p . r^) r^, the closest point of the line through the origin along r.
- :func:`solve_translation_system`: supp. C's A T = b solved by its normal equations (Eq. 10),
  for whatever rays it is given (the erratum check feeds it the supplement's unit rays).
- :func:`closed_form_translation`: Eq. 6 as ZeDO solves it: z = 1 rays, confidence weights (paper:
  C, official code: C^2), the sign flip of the official code.
- :func:`points_behind_camera`, :func:`reprojection_error`: what the optimiser checks and reports.

Conventions (those of ``geometry.camera``): camera frame x right, y down, z forward (OpenCV);
continuous pixel coordinates; K (..., 3, 3) a pinhole intrinsic matrix; poses (..., J, 3) in metres,
root-relative where the docstring says so (joint 0 = pelvis, Human3.6M-17 order). Value checks
(``check=True``, keyword-only) each cost one reduction and a device sync; ``check=False`` skips
them in hot loops (shapes are always checked). The ValueError names the parameter, the first bad
index and what is allowed.

Where the paper and the official code (``ipl-uw/ZeDO-Release``,
``lib/algorithms/advanced/simple_zeroshot_opt.py``) differ, the default follows the paper and an
option gives the official behaviour (``weighting``); the official sign flip, which the paper does
not mention, is on by default (``flip_negative_depth``); see ``closed_form_translation``.
"""

from __future__ import annotations

from typing import Literal, Optional

import torch

from posebook.geometry.camera import _check_values, project
from posebook.geometry.rotations import _check_last_dims, _format_index

__all__ = [
    "keypoint_rays",
    "project_to_rays",
    "solve_translation_system",
    "closed_form_translation",
    "TranslationSolver",
    "points_behind_camera",
    "reprojection_error",
    "OFFICIAL_CONFIDENCE_RANGE",
]

#: The official code clamps the 2D confidences to this range before weighting the rows
#: (``simple_zeroshot_opt.py`` L64-66: ``conf[conf > 1] = 1; conf[conf < 1e-4] = 1e-4``).
OFFICIAL_CONFIDENCE_RANGE: tuple[float, float] = (1e-4, 1.0)

_MISSING_HINT = (
    "A missing detection has no pixel: give it any finite position (e.g. the pelvis keypoint) and "
    "confidence 0, which removes its rows from the translation system."
)


def _check_joint_counts(**tensors: torch.Tensor) -> int:
    """The common joint count J of (..., J, d) tensors (None entries skipped); ValueError otherwise."""
    counts = {name: t.shape[-2] for name, t in tensors.items() if t is not None}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{name} has J={j}" for name, j in counts.items())
        raise ValueError(
            f"{' and '.join(counts)} must hold the same joints (same J, shape (..., J, d)); got {listed}. "
            "Select the same joint set (e.g. Human3.6M-17) for the pose and the 2D keypoints."
        )
    return next(iter(counts.values()))


def _check_finite_keypoints(keypoints_2d: torch.Tensor, name: str = "keypoints_2d") -> None:
    """Refuse a keypoint with a NaN / inf coordinate, naming its batch index and joint."""
    ok = torch.isfinite(keypoints_2d).all(-1)  # (..., J)
    if bool(ok.all()):
        return
    bad = ~ok
    flat = int(bad.reshape(-1).nonzero()[0])
    batch_shape, J = tuple(ok.shape[:-1]), ok.shape[-1]
    sample, joint = divmod(flat, J)
    where = f"batch index {_format_index(sample, batch_shape)}, joint {joint}" if batch_shape \
        else f"joint {joint}"
    u, v = (float(c) for c in keypoints_2d.reshape(-1, 2)[flat].detach().cpu())
    raise ValueError(
        f"{name} must be finite pixel coordinates; the keypoint at {where} is ({u}, {v}) "
        f"({int(bad.sum())} of {ok.numel()} keypoints not finite). {_MISSING_HINT}"
    )


def _check_intrinsics(K: torch.Tensor) -> None:
    """Refuse a K that is not a finite pinhole matrix: f_x, f_y > 0 and last row (0, 0, 1).

    With that last row, K^-1 has the last row (0, 0, 1) too, so K^-1 [u, v, 1]^T has z = 1 > 0:
    every keypoint ray points in front of the camera.
    """
    _check_values(K, torch.isfinite(K), "K", "finite", "finite intrinsics",
                  "Build K with geometry.camera.intrinsics(focal, principal_point).")
    focals = torch.stack((K[..., 0, 0], K[..., 1, 1]), dim=-1)
    _check_values(focals, focals > 0, "K's focal lengths (K[..., 0, 0], K[..., 1, 1])", "> 0 pixels",
                  "finite values > 0", "A pinhole K is [[f_x, s, c_x], [0, f_y, c_y], [0, 0, 1]].")
    last = K[..., 2, :]
    expected = torch.tensor([0.0, 0.0, 1.0], dtype=K.dtype, device=K.device).expand_as(last)
    tol = 1e-6 if K.dtype == torch.float64 else 1e-4
    _check_values(last, (last - expected).abs() <= tol, "K's last row (K[..., 2, :])", "(0, 0, 1)",
                  f"(0, 0, 1) to {tol:g}", "Divide a homogeneously scaled K by K[..., 2, 2].")


def _check_weights(weights: torch.Tensor, name: str, J: int, what: str) -> None:
    """Refuse weights of the wrong shape, not finite, < 0, or with < 2 positive joints in a sample."""
    if weights.dim() < 1 or weights.shape[-1] != J:
        raise ValueError(f"{name} must have shape (..., J) with J={J} joints; got {tuple(weights.shape)}.")
    _check_values(weights, torch.isfinite(weights) & (weights >= 0), name, f">= 0 ({what})",
                  "finite values >= 0", "Clamp detector scores to [0, 1]; use 0 for a missing joint.")
    positive = (weights > 0).sum(-1)
    few = positive < 2
    if bool(few.any()):
        flat = int(few.reshape(-1).nonzero()[0])
        where = f"at batch index {_format_index(flat, few.shape)}" if few.dim() else "for the sample"
        raise ValueError(
            f"{name} must be positive for at least 2 joints per sample; {int(positive.reshape(-1)[flat])} "
            f"joint(s) have {name} > 0 {where} ({int(few.sum())} of {few.numel()} samples). With fewer "
            "than 2 weighted joints the translation system A T = b has rank < 3 (singular normal "
            "equations): such a sample has no translation to solve; drop it or keep the previous T."
        )


def keypoint_rays(
    keypoints_2d: torch.Tensor,
    K: torch.Tensor,
    normalise: Literal["unit", "z"] = "unit",
    *,
    check: bool = True,
) -> torch.Tensor:
    """Rays through the keypoints, r = K^-1 [u, v, 1]^T (ZeDO Eq. 3).

    ``"unit"`` returns Eq. 3's r^ = r / ||r|| (what the ray projection, Eq. 4, uses); ``"z"`` returns
    r itself, which for a pinhole K (last row (0, 0, 1)) lies on the plane z = 1: (x/z, y/z, 1), the
    normalised image coordinates the translation system of supp. C needs (see
    :func:`closed_form_translation`). Either way z > 0: a keypoint ray never points behind the camera.

    Args:
        keypoints_2d: (..., J, 2) pixels (u, v).
        K: (..., 3, 3) intrinsics, batch dims broadcastable against ``keypoints_2d``'s.
        normalise: ``"unit"`` (||r|| = 1) or ``"z"`` (r_z = 1).
        check: refuse non-finite keypoints (naming the batch index and joint) and a K that is not
            a finite pinhole matrix (f_x, f_y > 0, last row (0, 0, 1)).
    Returns:
        (..., J, 3) rays, camera frame.
    Raises:
        ValueError: for an unknown ``normalise``; if ``check`` and a keypoint is not finite or K is
            not a finite pinhole matrix.
    """
    _check_last_dims(keypoints_2d, (2,), "keypoints_2d")
    _check_last_dims(K, (3, 3), "K")
    if keypoints_2d.dim() < 2:
        raise ValueError(f"keypoints_2d must have shape (..., J, 2); got {tuple(keypoints_2d.shape)}.")
    if normalise not in ("unit", "z"):
        raise ValueError(f"normalise must be 'unit' or 'z'; got {normalise!r}.")
    if check:
        _check_finite_keypoints(keypoints_2d)
        _check_intrinsics(K)
    K = K.to(keypoints_2d.dtype)
    uv1 = torch.cat((keypoints_2d, torch.ones_like(keypoints_2d[..., :1])), dim=-1)
    rays = uv1 @ torch.linalg.inv(K).transpose(-1, -2)
    if normalise == "z":
        return rays / rays[..., 2:]
    return rays / torch.linalg.vector_norm(rays, dim=-1, keepdim=True)


def project_to_rays(points: torch.Tensor, rays: torch.Tensor, *, check: bool = True) -> torch.Tensor:
    """Each camera-frame point moved onto its ray through the origin: (p . r^) r^ (ZeDO Eq. 4).

    r^ = r / ||r||, so any non-zero ray length works (``keypoint_rays`` with ``"unit"`` or ``"z"``).
    (p . r^) r^ is the orthogonal projection onto the LINE through the camera centre along r: the
    closest point of that line to p (for p . r^ < 0, a point more than 90 degrees off the ray, it lies
    behind the camera; the closest point of the half-line would then be the origin). The result
    reprojects exactly onto the keypoint whenever p . r^ > 0.

    Algorithm 1's P~_i = ((P_i + T_i) . r^) r^ - T_i, for a root-relative pose P_i and translation
    T_i, is ``project_to_rays(P + T[..., None, :], r) - T[..., None, :]``; the official code writes it
    as the step ``x += ((x + T) . r^) r^ - (x + T)`` (``simple_zeroshot_opt.py`` L99-109), the same.

    Args:
        points: (..., J, 3) camera-frame points.
        rays: (..., J, 3) ray directions (non-zero), broadcastable against ``points``.
        check: refuse a ray that is zero or not finite.
    Returns:
        (..., J, 3), the broadcast shape.
    Raises:
        ValueError: if the joint counts differ; if ``check`` and a ray has zero or non-finite length.
    """
    _check_last_dims(points, (3,), "points")
    _check_last_dims(rays, (3,), "rays")
    if points.dim() >= 2 and rays.dim() >= 2:
        _check_joint_counts(points=points, rays=rays)
    length = torch.linalg.vector_norm(rays, dim=-1, keepdim=True)
    if check:
        _check_values(length[..., 0], torch.isfinite(length[..., 0]) & (length[..., 0] > 0),
                      "rays' lengths", "finite and > 0", "non-zero finite rays",
                      "Build the rays with keypoint_rays(keypoints_2d, K).")
    unit = rays / length
    return (points * unit).sum(-1, keepdim=True) * unit


# Rays whose weighted spread (the Schur complement of the normal equations, per unit weight) is
# below this many float epsilons, squared, of their magnitude coincide up to rounding: T_z is then
# not determined (exactly coincident rays give a singular A^T A; rounding may hide that from the
# LU solve and return a huge finite T instead).
_COINCIDENT_EPS_FACTOR = 100.0


def _solve_normal_equations(
    pose: torch.Tensor, rays: torch.Tensor, row_weights: Optional[torch.Tensor], *, check: bool
) -> torch.Tensor:
    """T = (A^T W^2 A)^-1 A^T W^2 b for supp. C's rows (see ``solve_translation_system``)."""
    rx, ry = rays[..., 0], rays[..., 1]
    A = _rows(rx, ry)  # (..., J, 2, 3)
    b = torch.stack((pose[..., 0] - pose[..., 2] * rx, pose[..., 1] - pose[..., 2] * ry), -1)  # (..., J, 2)
    w2 = torch.ones_like(rx) if row_weights is None else row_weights * row_weights  # (..., J)
    # Normal equations, summed over the joints and their two rows: A^T W^2 A and A^T W^2 b.
    AtA = _normal_matrix(A, w2)  # (..., 3, 3)
    Atb = (w2[..., None] * (A.transpose(-1, -2) @ b[..., None])[..., 0]).sum(-2)  # (..., 3)
    if check:
        _check_not_coincident(rx, ry, w2)
    batch = torch.broadcast_shapes(AtA.shape[:-2], Atb.shape[:-1])
    # solve_ex: no exception (and no sync) for a singular matrix when check=False.
    T, _ = torch.linalg.solve_ex(AtA.expand(*batch, 3, 3), Atb.expand(*batch, 3)[..., None])
    return T[..., 0]


def _rows(rx: torch.Tensor, ry: torch.Tensor) -> torch.Tensor:
    """Supp. C's two rows per joint, [-1, 0, r_x; 0, -1, r_y]: (..., J) x 2 -> (..., J, 2, 3)."""
    zero, one = torch.zeros_like(rx), torch.ones_like(rx)
    return torch.stack((torch.stack((-one, zero, rx), -1), torch.stack((zero, -one, ry), -1)), -2)


def _normal_matrix(A: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """A^T W^2 A summed over the joints: (..., J, 2, 3) rows, (..., J) weights -> (..., 3, 3)."""
    return (w2[..., None, None] * (A.transpose(-1, -2) @ A)).sum(-3)


def _check_not_coincident(rx: torch.Tensor, ry: torch.Tensor, w2: torch.Tensor) -> None:
    """Refuse a sample whose weighted rays coincide (A^T A singular), naming the first one."""
    rx, ry, w2 = torch.broadcast_tensors(rx, ry, w2)
    total = w2.sum(-1, keepdim=True)
    mean_x, mean_y = (w2 * rx).sum(-1, keepdim=True) / total, (w2 * ry).sum(-1, keepdim=True) / total
    spread = (w2 * ((rx - mean_x) ** 2 + (ry - mean_y) ** 2)).sum(-1) / total[..., 0]
    scale = 1.0 + (mean_x ** 2 + mean_y ** 2)[..., 0]
    eps = torch.finfo(rx.dtype).eps * _COINCIDENT_EPS_FACTOR
    singular = ~(spread > eps * eps * scale)  # NaN spread (non-finite weights) counts as singular
    if not bool(singular.any()):
        return
    flat = int(singular.reshape(-1).nonzero()[0])
    where = f"at batch index {_format_index(flat, singular.shape)}" if singular.dim() else "for the sample"
    raise ValueError(
        f"the translation system A T = b is singular {where}: the rays of the joints with positive "
        "weight coincide (all weighted keypoints at one pixel?), so the depth T_z is not determined. "
        "Check the 2D keypoints and confidences of that sample."
    )


def solve_translation_system(
    pose: torch.Tensor,
    rays: torch.Tensor,
    row_weights: Optional[torch.Tensor] = None,
    *,
    check: bool = True,
) -> torch.Tensor:
    """ZeDO supp. C's linear system for the translation, solved as printed (Eq. 10), for given rays.

    Two rows per joint j, each multiplied by w_j::

        [-1, 0, r_jx] T = P_jx - P_jz r_jx,     [0, -1, r_jy] T = P_jy - P_jz r_jy,

    solved by the normal equations T = (A^T A)^-1 A^T b: one batched 3 x 3 solve.

    A row vanishes at T when r_jx = (P_jx + T_x) / (P_jz + T_z): the pinhole equation only if r holds
    the ray on the plane z = 1 (``keypoint_rays(..., "z")``). Supp. C writes unit rays
    r = K^-1 p / ||K^-1 p||; with those this function returns a wrong T even on noise-free data (the
    erratum in book/errata.md; ``tests/test_zedo_geometry.py`` checks it). Only the first two ray
    components are read. The residual is the depth-weighted algebraic error
    (P_jx + T_x) - r_jx (P_jz + T_z), a linearisation of the reprojection error; both vanish at the
    true T for exact keypoints, and they differ on noisy ones.

    Args:
        pose: (..., J, 3) root-relative pose P_i, metres.
        rays: (..., J, 3) rays (z = 1 for the right system); batch dims broadcast with ``pose``'s.
        row_weights: optional (..., J) factors w_j >= 0 multiplying joint j's two rows (the paper's
            C_2d); None = 1. The normal equations weight joint j by w_j^2.
        check: refuse bad weights (not finite, < 0, fewer than 2 positive per sample) and a singular
            system (the weighted rays all coincide), naming the first bad sample.
    Returns:
        (..., 3) T, the broadcast batch shape. Not sign-corrected (see ``closed_form_translation``).
    Raises:
        ValueError: if the joint counts differ; if ``check`` and the weights are bad or the system is
            singular.
    """
    _check_last_dims(pose, (3,), "pose")
    _check_last_dims(rays, (3,), "rays")
    J = _check_joint_counts(pose=pose, rays=rays)
    rays = rays.to(pose.dtype)
    if row_weights is not None:
        row_weights = row_weights.to(device=pose.device, dtype=pose.dtype)
        if check:
            _check_weights(row_weights, "row_weights", J, "a factor per joint's rows")
        elif row_weights.dim() < 1 or row_weights.shape[-1] != J:
            raise ValueError(f"row_weights must have shape (..., J) with J={J}; got {tuple(row_weights.shape)}.")
    return _solve_normal_equations(pose, rays, row_weights, check=check)


def closed_form_translation(
    pose: torch.Tensor,
    keypoints_2d: torch.Tensor,
    K: torch.Tensor,
    confidence: Optional[torch.Tensor] = None,
    *,
    weighting: Literal["paper", "official"] = "paper",
    flip_negative_depth: bool = True,
    check: bool = True,
) -> torch.Tensor:
    """ZeDO's closed-form root translation, T_i = argmin_T ||C_2d (K (P_i + T) - p_2d)|| (Eq. 6, supp. C).

    The system of supp. C (:func:`solve_translation_system`) with the rays r = K^-1 [u, v, 1]^T at
    z = 1 (Eq. 3 before normalisation; supp. C prints unit rays, an erratum: they give a wrong T, see
    ``solve_translation_system``). The official code uses z = 1 rays too
    (``simple_zeroshot_opt.py`` L71). It minimises the depth-weighted algebraic residual, not the
    pixel error of Eq. 6 literally (which is not linear in T); the two agree for exact keypoints.

    ``weighting`` (the rows of joint j are multiplied by w_j):

    - ``"paper"``: w_j = C_j (supp. C's A and b), i.e. C_j^2 in the normal equations.
    - ``"official"``: C clamped to [1e-4, 1] (L64-66), then w_j = C_j^2 (L85-88), i.e. C_j^4 in
      the normal equations; a joint of confidence 0 keeps the tiny weight 1e-8.

    ``flip_negative_depth``: T <- -T where T_z < 0 (official L93; the paper does not mention it). -T
    does not solve the system: it is a heuristic that keeps the body in front of the camera, e.g. for a
    pose whose 2D layout is mirrored, whose best algebraic fit lies behind the camera. Joints can be
    behind the camera even when T_z > 0; test ``points_behind_camera(pose + T[..., None, :])``.

    Leading batch dims broadcast: e.g. ``pose`` (B, S, J, 3) hypotheses against ``keypoints_2d``
    (B, 1, J, 2), ``K`` (B, 1, 3, 3), ``confidence`` (B, 1, J) give T (B, S, 3).

    Args:
        pose: (..., J, 3) root-relative pose, metres (not checked: NaN in it gives NaN in T).
        keypoints_2d: (..., J, 2) target pixels.
        K: (..., 3, 3) pinhole intrinsics.
        confidence: optional (..., J) 2D confidences C_2d >= 0; None = all 1.
        weighting: ``"paper"`` or ``"official"``, see above.
        flip_negative_depth: apply the official sign flip.
        check: refuse non-finite keypoints (naming batch index and joint), a bad K (see
            ``keypoint_rays``), confidences that are not finite, < 0, or positive for fewer than 2
            joints of a sample (the system would be singular), and a singular system.
    Returns:
        (..., 3) translation T, metres: the camera-frame joints are ``pose + T[..., None, :]``.
    Raises:
        ValueError: for different joint counts or an unknown ``weighting``; if ``check``, for the
            bad inputs above.
    """
    _check_last_dims(pose, (3,), "pose")
    _check_last_dims(keypoints_2d, (2,), "keypoints_2d")
    _check_last_dims(K, (3, 3), "K")
    if pose.dim() < 2 or keypoints_2d.dim() < 2:
        raise ValueError(
            f"pose must have shape (..., J, 3) and keypoints_2d (..., J, 2); got {tuple(pose.shape)} "
            f"and {tuple(keypoints_2d.shape)}."
        )
    J = _check_joint_counts(pose=pose, keypoints_2d=keypoints_2d)
    if weighting not in ("paper", "official"):
        raise ValueError(f"weighting must be 'paper' (rows times C) or 'official' (rows times C^2); got {weighting!r}.")
    weights = _row_weights(confidence, J, weighting, check, pose.device, pose.dtype)
    rays = keypoint_rays(keypoints_2d.to(pose.dtype), K.to(device=pose.device, dtype=pose.dtype), "z",
                         check=check)
    # The confidences were checked above; the solve checks that the weighted rays do not coincide.
    T = _solve_normal_equations(pose, rays, weights, check=check)
    if flip_negative_depth:
        T = torch.where(T[..., 2:] < 0, -T, T)
    return T


def _row_weights(confidence: Optional[torch.Tensor], J: int, weighting: str, check: bool, device: torch.device,
                 dtype: torch.dtype) -> Optional[torch.Tensor]:
    """The factors w_j of joint j's rows (``closed_form_translation``'s ``weighting``), or None."""
    if weighting not in ("paper", "official"):
        raise ValueError(f"weighting must be 'paper' (rows times C) or 'official' (rows times C^2); got {weighting!r}.")
    if confidence is None:
        return None
    if not isinstance(confidence, torch.Tensor):
        raise TypeError(f"confidence must be a torch.Tensor or None, got {type(confidence).__name__}")
    confidence = confidence.to(device=device, dtype=dtype)
    if check:
        _check_weights(confidence, "confidence", J, "a 2D detection score per joint")
    elif confidence.dim() < 1 or confidence.shape[-1] != J:
        raise ValueError(f"confidence must have shape (..., J) with J={J}; got {tuple(confidence.shape)}.")
    if weighting == "paper":
        return confidence
    clamped = confidence.clamp(*OFFICIAL_CONFIDENCE_RANGE)
    return clamped * clamped


class TranslationSolver:
    """:func:`closed_form_translation` for FIXED keypoints, intrinsics and confidences and many poses.

    ZeDO's loop re-solves T every iteration for the same 2D input and a new pose. What does not
    depend on the pose is computed once here: the z = 1 rays, the row weights, the matrix
    A^T W^2 A of the normal equations and its LU factors. A call then costs the right-hand side
    A^T W^2 b (a few elementwise ops: A^T b_j = (-b_x, -b_y, r_x b_x + r_y b_y)) and one batched
    3 x 3 LU back-substitution. It returns the same T as
    ``closed_form_translation(pose, keypoints_2d, K, confidence, weighting=..., flip_negative_depth=...)``
    up to float rounding (the same A^T W^2 A and LU; the right-hand side summed in another order).

    Args:
        keypoints_2d, K, confidence, weighting, flip_negative_depth: as :func:`closed_form_translation`.
        check: that function's checks that do not involve the pose (keypoints, K, confidences,
            coincident rays), done once here.
        dtype: the dtype of the rays and factors (default: ``keypoints_2d``'s if floating, else float32).
    Call:
        ``solver(pose)``: (..., J, 3) poses whose batch dims broadcast against the keypoints' ->
        (..., 3) T.
    """

    def __init__(self, keypoints_2d: torch.Tensor, K: torch.Tensor, confidence: Optional[torch.Tensor] = None, *,
                 weighting: Literal["paper", "official"] = "paper", flip_negative_depth: bool = True,
                 check: bool = True, dtype: Optional[torch.dtype] = None) -> None:
        _check_last_dims(keypoints_2d, (2,), "keypoints_2d")
        _check_last_dims(K, (3, 3), "K")
        if keypoints_2d.dim() < 2:
            raise ValueError(f"keypoints_2d must have shape (..., J, 2); got {tuple(keypoints_2d.shape)}.")
        if dtype is None:
            dtype = keypoints_2d.dtype if keypoints_2d.is_floating_point() else torch.float32
        J = keypoints_2d.shape[-2]
        weights = _row_weights(confidence, J, weighting, check, keypoints_2d.device, dtype)
        rays = keypoint_rays(keypoints_2d.to(dtype), K.to(device=keypoints_2d.device, dtype=dtype), "z", check=check)
        self.num_joints = J
        self.flip_negative_depth = flip_negative_depth
        self._rx, self._ry = rays[..., 0], rays[..., 1]
        self._w2 = None if weights is None else weights * weights
        w2 = torch.ones_like(self._rx) if self._w2 is None else self._w2
        if check:
            _check_not_coincident(self._rx, self._ry, w2)
        self._lu, self._pivots, _ = torch.linalg.lu_factor_ex(_normal_matrix(_rows(self._rx, self._ry), w2))

    def __call__(self, pose: torch.Tensor) -> torch.Tensor:
        _check_last_dims(pose, (3,), "pose")
        if pose.dim() < 2 or pose.shape[-2] != self.num_joints:
            raise ValueError(f"pose must have shape (..., {self.num_joints}, 3); got {tuple(pose.shape)}.")
        rx, ry = self._rx, self._ry
        bx = pose[..., 0] - pose[..., 2] * rx  # (..., J): the right-hand sides b_j
        by = pose[..., 1] - pose[..., 2] * ry
        if self._w2 is not None:
            bx, by = self._w2 * bx, self._w2 * by
        Atb = torch.stack((-bx.sum(-1), -by.sum(-1), (rx * bx + ry * by).sum(-1)), -1)  # (..., 3)
        batch = torch.broadcast_shapes(self._lu.shape[:-2], Atb.shape[:-1])
        T = torch.linalg.lu_solve(self._lu.expand(*batch, 3, 3), self._pivots.expand(*batch, 3),
                                  Atb.expand(*batch, 3)[..., None])[..., 0]
        if self.flip_negative_depth:
            T = torch.where(T[..., 2:] < 0, -T, T)
        return T


def points_behind_camera(points: torch.Tensor, min_depth: float = 0.0) -> torch.Tensor:
    """Which camera-frame points are not in front of the camera: z <= ``min_depth`` (or z is NaN).

    ``keypoint_rays`` always point forward (z = 1 > 0), but a translation (closed form, even after
    the sign flip, or a step of the optimiser) can leave joints of a pose at z <= 0, where
    ``geometry.camera.project`` mirrors them through the principal point and the reprojection error
    means nothing. The optimiser can test ``points_behind_camera(pose + T[..., None, :]).any(-1)``
    per sample and, e.g., keep the previous T there. Nothing raises (no device sync).

    Args:
        points: (..., J, 3) camera-frame points, metres.
        min_depth: the depth a point must exceed to count as in front (e.g. 0.1 m for a near plane).
    Returns:
        (..., J) bool, True for z <= min_depth or z NaN.
    """
    _check_last_dims(points, (3,), "points")
    return ~(points[..., 2] > min_depth)


def reprojection_error(points: torch.Tensor, keypoints_2d: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Mean pixel distance between the projected points and the keypoints, mean_j ||pi(K p_j) - u_j||.

    ``geometry.camera.project`` (perspective division, no clipping: a point behind the camera
    projects mirrored; see :func:`points_behind_camera`).

    Args:
        points: (..., J, 3) camera-frame points, metres.
        keypoints_2d: (..., J, 2) pixels; batch dims broadcast with ``points``'.
        K: (..., 3, 3) intrinsics.
    Returns:
        (...,) mean over the J joints, pixels.
    Raises:
        ValueError: if the joint counts differ.
    """
    _check_last_dims(points, (3,), "points")
    _check_last_dims(keypoints_2d, (2,), "keypoints_2d")
    _check_joint_counts(points=points, keypoints_2d=keypoints_2d)
    uv = project(points, K.to(points.dtype))
    return torch.linalg.vector_norm(uv - keypoints_2d.to(points.dtype), dim=-1).mean(-1)
