"""Errors along kinematic chains: how rotation errors accumulate from the root to the end joints.

SGRE (Wang & Zhang, ICCV 2023) argues that regressing RELATIVE rotations (each joint w.r.t. its
parent) accumulates errors down the kinematic chain, because the global rotation that poses a
bone is the product of every relative rotation above it (SGRE Eq. 8,
``G_k = G_pa(k) R_k``), while regressing GLOBAL rotations directly and converting back with
SGRE Eq. 10 (``R_k = G_pa(k)^T G_k``) does not (Fig. 1b, Fig. 4). This module measures both:

- :func:`perturb_rotations` injects independent noise rotations of a chosen angle distribution
  into either the relative or the global rotations (SGRE Fig. 1b's thought experiment);
- :func:`joint_errors` / :func:`chain_errors_per_sample` / :func:`chain_errors` measure, per joint
  and per position along a chain, the root-aligned position error (mm) and the geodesic error of
  the global and of the relative rotations (deg), as SGRE Fig. 4 and Table 4 (MPJAE) do.

Skeleton conventions are those of :mod:`posebook.body.kinematics`: ``parents`` topologically
ordered, ``parents[0] == -1``; rotations act on column vectors and are batched over leading dims;
``R_rel[..., 0]`` is the root's global orientation. Rotation ``j`` pivots at the HEAD of bone
``j`` (Anny's ``cmu_mb`` rig, :data:`~posebook.body.skeletons.ANNY_CMU_MB`), so the position of
joint ``j`` depends on the rotations of its strict ancestors only: an end joint's own rotation
moves its tail, not the point measured here.

The default chains are SGRE Fig. 4's three paths on the ``cmu_mb`` rig (:data:`SGRE_CHAINS`):

- ``root->head``: Hips, LowerBack, Spine, Spine1, Neck, Neck1, Head (7 joints);
- ``root->toe``: Hips, LHipJoint, LeftUpLeg, LeftLeg, LeftFoot, LeftToeBase (6; the LHipJoint
  head coincides with the Hips head, so its position error is 0 like the root's);
- ``root->hand``: Hips, LowerBack, Spine, Spine1, LeftShoulder, LeftArm, LeftForeArm, LeftHand (8).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import pandas as pd
import torch

from posebook.body import kinematics
from posebook.body.skeletons import ANNY_CMU_MB, ANNY_CMU_MB_PARENTS
from posebook.geometry.rotations import _check_rotation, axis_angle_to_matrix, geodesic_distance

__all__ = [
    "SGRE_CHAINS",
    "WHERE",
    "ANGLE_DISTRIBUTIONS",
    "ERROR_COLUMNS",
    "resolve_chains",
    "noise_rotations",
    "perturb_rotations",
    "joint_errors",
    "chain_errors_per_sample",
    "chain_errors",
]

#: SGRE Fig. 4's three paths, label -> end joint in Anny's ``cmu_mb`` rig (the left side).
SGRE_CHAINS: dict[str, str] = {"root->head": "Head", "root->toe": "LeftToeBase", "root->hand": "LeftHand"}

#: Where :func:`perturb_rotations` injects the noise.
WHERE = ("relative", "global")

#: The noise angle distributions of :func:`noise_rotations`.
ANGLE_DISTRIBUTIONS = ("half_normal", "fixed")

#: The error measures of :func:`joint_errors`, in the column order of :func:`chain_errors`.
ERROR_COLUMNS = ("position_mm", "global_deg", "relative_deg")


# ------------------------------------------------------------------------------------------ chains


def resolve_chains(
    parents: Sequence[int] = ANNY_CMU_MB_PARENTS,
    names: Sequence[str] = ANNY_CMU_MB,
    chains: Mapping[str, str] = SGRE_CHAINS,
) -> dict[str, list[int]]:
    """The joint indices of each chain, root first (SGRE Fig. 4's paths).

    Args:
        parents: (J,) topologically ordered parent indices, ``parents[0] == -1``.
        names: (J,) joint names.
        chains: {label: end joint name}, e.g. :data:`SGRE_CHAINS`.

    Returns:
        ``{label: [0, ..., end]}``, in the order of ``chains``.

    Raises:
        ValueError: bad ``parents`` (:func:`~posebook.body.kinematics.validate_parents`), ``names``
            of the wrong length, or an end joint name not in ``names`` (the valid names listed).
    """
    parents = kinematics.validate_parents(parents)
    names = tuple(names)
    if len(names) != len(parents):
        raise ValueError(f"names has {len(names)} entries but parents has {len(parents)} joints; "
                         "pass one name per joint.")
    unknown = {label: end for label, end in chains.items() if end not in names}
    if unknown:
        raise ValueError(f"unknown chain end joint(s) {unknown}: each chain must end at one of the "
                         f"{len(names)} joints {list(names)}.")
    paths = kinematics.chains(parents, names, [chains[label] for label in chains])
    return {label: paths[end] for label, end in chains.items()}


# ------------------------------------------------------------------------------------------- noise


def noise_rotations(
    shape: Sequence[int],
    sigma_deg: float,
    generator: torch.Generator | None = None,
    *,
    angles: Literal["half_normal", "fixed"] = "half_normal",
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Independent noise rotations ``E = exp(theta [u]_x)``: axis u uniform on the sphere, angle theta.

    ``angles="half_normal"``: ``theta = |N(0, sigma)|`` (mean sigma sqrt(2 / pi), about 0.80 sigma);
    ``"fixed"``: theta = sigma for every rotation. The axes are drawn first (3 normal numbers per
    rotation, normalised), then the angles, from ``generator``: the same generator state gives the
    same rotations whatever they are applied to.

    Args:
        shape: batch shape of the rotations, e.g. (N, J).
        sigma_deg: sigma, degrees (>= 0).
        generator: random stream (it lives on its own device; the draws are then moved to
            ``device``); None uses the global one.
        angles: the angle distribution, one of :data:`ANGLE_DISTRIBUTIONS`.
        dtype, device: of the outputs (device None: the generator's, else the CPU).

    Returns:
        E: ``(*shape, 3, 3)`` rotation matrices.
        theta: ``(*shape)`` their angles, radians (``geodesic_distance(I, E) == theta``).

    Raises:
        ValueError: a negative or non-finite ``sigma_deg``, or an unknown ``angles``.
    """
    sigma = float(sigma_deg)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma_deg must be a finite angle >= 0 degrees, got {sigma_deg!r}")
    if angles not in ANGLE_DISTRIBUTIONS:
        raise ValueError(f"angles must be one of {ANGLE_DISTRIBUTIONS}, got {angles!r}")
    shape = tuple(int(s) for s in shape)
    draw_device = generator.device if generator is not None else (device or "cpu")
    axis = torch.randn(shape + (3,), generator=generator, dtype=dtype, device=draw_device)
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(dtype).tiny)
    if angles == "half_normal":
        theta = torch.randn(shape, generator=generator, dtype=dtype, device=draw_device).abs()
        theta = theta * math.radians(sigma)
    else:
        theta = torch.full(shape, math.radians(sigma), dtype=dtype, device=draw_device)
    out_device = draw_device if device is None else device
    axis, theta = axis.to(out_device), theta.to(out_device)
    return axis_angle_to_matrix(theta[..., None] * axis), theta


def perturb_rotations(
    R_rel: torch.Tensor,
    parents: Sequence[int],
    sigma_deg: float,
    where: Literal["relative", "global"] = "relative",
    generator: torch.Generator | None = None,
    *,
    angles: Literal["half_normal", "fixed"] = "half_normal",
    check: bool = True,
) -> torch.Tensor:
    """SGRE Fig. 1b's experiment: relative rotations with noise injected into the relative or the
    global rotations, one independent noise rotation per joint (:func:`noise_rotations`).

    - ``where="relative"``: ``R'_k = R_k E_k`` for every joint. The global rotations then follow
      SGRE Eq. 8, ``G'_k = G'_pa(k) R_k E_k``: the noise of every ancestor is carried down, so the
      global error grows along the chain (for small angles like a random walk, about
      ``sqrt(depth + 1)`` times one joint's).
    - ``where="global"``: ``G'_k = G_k E_k`` with ``G = relative_to_global(R_rel)`` (Eq. 8), then
      back to relative rotations by SGRE Eq. 10, ``R'_k = G'_pa(k)^T G'_k``. Each global error is
      exactly the injected angle, whatever the depth; each relative error combines two noises.

    The noise acts in the joint's own frame (right factor); its axis is uniform, so applying it on
    the left would give the same error distribution. Both cases draw the same noise rotations from
    the same generator state.

    Args:
        R_rel: (..., J, 3, 3) relative rotations (``[..., 0]``: root orientation).
        parents: (J,) topologically ordered parent indices, ``parents[0] == -1``.
        sigma_deg: the angle scale sigma, degrees (:func:`noise_rotations`).
        where: "relative" or "global".
        generator: random stream (None: the global one).
        angles: "half_normal" (``|N(0, sigma)|``) or "fixed" (every angle = sigma).
        check: refuse an ``R_rel`` that is not made of rotation matrices.

    Returns:
        (..., J, 3, 3) perturbed relative rotations, ``R_rel``'s dtype and device.

    Raises:
        ValueError: bad ``parents``, an ``R_rel`` of the wrong shape or (``check``) not rotations,
            an unknown ``where`` or ``angles``, a negative ``sigma_deg``.
    """
    parents = kinematics.validate_parents(parents)
    if where not in WHERE:
        raise ValueError(f"where must be one of {WHERE}, got {where!r}")
    _check_joint_rotations(R_rel, len(parents), "R_rel")
    if check:
        _check_rotation(R_rel, "R_rel")
    E, _ = noise_rotations(R_rel.shape[:-2], sigma_deg, generator, angles=angles, dtype=R_rel.dtype,
                           device=R_rel.device)
    if where == "relative":
        return R_rel @ E
    G = kinematics.relative_to_global(R_rel, parents)
    return kinematics.global_to_relative(G @ E, parents)


# ------------------------------------------------------------------------------------------ errors


def _check_joint_rotations(rotations: torch.Tensor, num_joints: int, name: str) -> None:
    if not isinstance(rotations, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(rotations).__name__}")
    if rotations.ndim < 3 or tuple(rotations.shape[-3:]) != (num_joints, 3, 3):
        raise ValueError(f"{name} must have shape (..., {num_joints}, 3, 3) for the {num_joints} joints of "
                         f"`parents`, got {tuple(rotations.shape)}.")


def _check_inputs(pred_rel: torch.Tensor, gt_rel: torch.Tensor, pred_joints: torch.Tensor,
                  gt_joints: torch.Tensor, num_joints: int) -> None:
    for name, R in (("pred_rel", pred_rel), ("gt_rel", gt_rel)):
        if not isinstance(R, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(R).__name__}")
        if R.ndim != 4 or tuple(R.shape[1:]) != (num_joints, 3, 3):
            raise ValueError(f"{name} must have shape (N, {num_joints}, 3, 3) for the {num_joints} joints of "
                             f"`parents`, got {tuple(R.shape)}.")
    for name, X in (("pred_joints", pred_joints), ("gt_joints", gt_joints)):
        if not isinstance(X, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(X).__name__}")
        if X.ndim != 3 or tuple(X.shape[1:]) != (num_joints, 3):
            raise ValueError(f"{name} must have shape (N, {num_joints}, 3) (positions of the {num_joints} joints "
                             f"of `parents`, metres), got {tuple(X.shape)}.")
    sizes = {name: int(t.shape[0]) for name, t in (("pred_rel", pred_rel), ("gt_rel", gt_rel),
                                                    ("pred_joints", pred_joints), ("gt_joints", gt_joints))}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"the four inputs must hold the same N samples, got {sizes}.")


def joint_errors(
    pred_rel: torch.Tensor,
    gt_rel: torch.Tensor,
    pred_joints: torch.Tensor,
    gt_joints: torch.Tensor,
    parents: Sequence[int] = ANNY_CMU_MB_PARENTS,
    *,
    check: bool = True,
) -> dict[str, torch.Tensor]:
    """Per-sample, per-joint errors of a predicted pose (SGRE Fig. 4, Table 4).

    - ``position_mm``: ``|(p_j - p_0) - (g_j - g_0)|`` x 1000, both skeletons root-aligned at
      joint 0 (translation only, as MPJPE; 0 at the root);
    - ``global_deg``: geodesic distance of the global rotations (SGRE Eq. 8), ``angle(G_j^T G'_j)``;
    - ``relative_deg``: geodesic distance of the relative rotations, ``angle(R_j^T R'_j)``; at the
      root it equals the global one.

    Args:
        pred_rel, gt_rel: (N, J, 3, 3) relative rotations (``[:, 0]``: root orientation).
        pred_joints, gt_joints: (N, J, 3) joint positions at the rotation pivots (bone heads),
            metres.
        parents: (J,) topologically ordered parent indices, ``parents[0] == -1``.
        check: refuse rotations that are not rotation matrices (one device sync each).

    Returns:
        ``{name: (N, J) tensor}`` for the names of :data:`ERROR_COLUMNS`.

    Raises:
        ValueError: bad ``parents``; an input whose shape does not match (N, J, 3, 3) / (N, J, 3)
            with J = len(parents), or different N; (``check``) a non-rotation.
    """
    parents = kinematics.validate_parents(parents)
    _check_inputs(pred_rel, gt_rel, pred_joints, gt_joints, len(parents))
    if check:
        _check_rotation(pred_rel, "pred_rel")
        _check_rotation(gt_rel, "gt_rel")
    G_pred = kinematics.relative_to_global(pred_rel, parents)
    G_gt = kinematics.relative_to_global(gt_rel, parents)
    aligned_pred = pred_joints - pred_joints[:, :1]
    aligned_gt = gt_joints - gt_joints[:, :1]
    return {
        "position_mm": (aligned_pred - aligned_gt).norm(dim=-1) * 1000.0,
        "global_deg": torch.rad2deg(geodesic_distance(G_gt, G_pred, check=False)),
        "relative_deg": torch.rad2deg(geodesic_distance(gt_rel, pred_rel, check=False)),
    }


def chain_errors_per_sample(
    pred_rel: torch.Tensor,
    gt_rel: torch.Tensor,
    pred_joints: torch.Tensor,
    gt_joints: torch.Tensor,
    parents: Sequence[int] = ANNY_CMU_MB_PARENTS,
    names: Sequence[str] = ANNY_CMU_MB,
    chains: Mapping[str, str] = SGRE_CHAINS,
    *,
    check: bool = True,
) -> dict[str, dict[str, torch.Tensor]]:
    """:func:`joint_errors` along each chain, per sample (to average over any subset, e.g. occluded).

    Args:
        pred_rel, gt_rel: (N, J, 3, 3) relative rotations.
        pred_joints, gt_joints: (N, J, 3) joint positions at the bone heads, metres.
        parents: (J,) parent indices; names: (J,) joint names.
        chains: {label: end joint name} (:data:`SGRE_CHAINS`).
        check: refuse non-rotations.

    Returns:
        dict: ``{label: {"joints": (L,) long indices root -> end, "position_mm" / "global_deg" /
        "relative_deg": (N, L)}}``, L the chain's length (depth 0 = root).

    Raises:
        ValueError: as :func:`resolve_chains` and :func:`joint_errors`.
    """
    paths = resolve_chains(parents, names, chains)
    errors = joint_errors(pred_rel, gt_rel, pred_joints, gt_joints, parents, check=check)
    out: dict[str, dict[str, torch.Tensor]] = {}
    for label, path in paths.items():
        index = torch.tensor(path, device=pred_rel.device)
        out[label] = {"joints": index, **{k: v[:, index] for k, v in errors.items()}}
    return out


def chain_errors(
    pred_rel: torch.Tensor,
    gt_rel: torch.Tensor,
    pred_joints: torch.Tensor,
    gt_joints: torch.Tensor,
    parents: Sequence[int] = ANNY_CMU_MB_PARENTS,
    names: Sequence[str] = ANNY_CMU_MB,
    chains: Mapping[str, str] = SGRE_CHAINS,
    *,
    check: bool = True,
) -> pd.DataFrame:
    """Mean errors along each chain (SGRE Fig. 1b, Fig. 4): one row per (chain, position).

    Means over the N samples of :func:`chain_errors_per_sample`.

    Args:
        pred_rel, gt_rel: (N, J, 3, 3) relative rotations (``[:, 0]``: root orientation).
        pred_joints, gt_joints: (N, J, 3) joint positions at the bone heads, metres.
        parents: (J,) topologically ordered parent indices (default: Anny ``cmu_mb``).
        names: (J,) joint names (default: :data:`~posebook.body.skeletons.ANNY_CMU_MB`).
        chains: {label: end joint name} (default: :data:`SGRE_CHAINS`).
        check: refuse non-rotations.

    Returns:
        a long frame with columns chain, depth (0 = root), joint (name), position_mm, global_deg,
        relative_deg; chains in the order given, root first.

    Raises:
        ValueError: an unknown end joint (listing the valid names), ``parents`` out of topological
            order, an input not shaped (N, J, 3, 3) / (N, J, 3) for J = len(parents).
    """
    per_sample = chain_errors_per_sample(pred_rel, gt_rel, pred_joints, gt_joints, parents, names, chains,
                                         check=check)
    names = tuple(names)
    rows = []
    for label, found in per_sample.items():
        means = {k: found[k].mean(0).tolist() for k in ERROR_COLUMNS}
        for depth, j in enumerate(found["joints"].tolist()):
            rows.append({"chain": label, "depth": depth, "joint": names[j],
                         **{k: float(means[k][depth]) for k in ERROR_COLUMNS}})
    return pd.DataFrame(rows, columns=["chain", "depth", "joint", *ERROR_COLUMNS])
