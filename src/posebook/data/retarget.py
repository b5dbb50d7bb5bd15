"""Retarget CMU mocap (ASF/AMC) onto Anny's ``cmu_mb`` rig: rotations, translation, joints.

The two skeletons have the same 31 bones (:data:`posebook.body.skeletons.ASF_TO_BVH`) but different
rest poses and slightly different joint placements, so the bone rotations cannot be copied.

World frame. In the ASF rest pose the subject faces +z (``lfoot`` direction (0.09, -0.24, 0.97))
with its left bones at +x (``lfemur`` (0.34, -0.94, 0)) and y up: exactly AnnyBody's y-up frame
(x = subject's left, z = front). The CMU capture frame is therefore used as it is (the fixed world
rotation is the identity); CMU's floor y = 0 stays the floor.

Rest correction. CMU's global bone rotation ``G_cmu[b]`` (the ASF ``R_b``, identity at rest)
turns bone b's rest direction into its posed direction. Anny's rest is an A-pose (arms ~45 deg
down, elbows bent, hands forward, legs ~5 deg apart), CMU's a T-pose with straight arms and legs
splayed 20 deg. ``Q_j`` is the global rotation that takes Anny's rest bone j to CMU's rest pose
of the same bone; then

    G_anny[j] = G_cmu[b(j)] @ Q_j,       R_anny[j] = G_anny[pa(j)]^T G_anny[j]

(``kinematics.global_to_relative``, SGRE Eq. 10), so every Anny bone points along its CMU bone
in every frame: ``G_anny d_anny = G_cmu Q d_anny = G_cmu d_cmu``. ``Q`` is built down the tree
as the pose an animator would use to put Anny into CMU's T-pose:

    Q_j = S(Q_pa(j) d_anny_j -> d_cmu_j) @ Q_pa(j),

``S(a -> b)`` the minimal rotation (axis ``a x b``) taking unit vector a onto b. The bone
direction fixes the swing; the twist about the bone is inherited from the parent's correction,
which is what the "second direction" is for: CMU's limbs are straight at rest, so a child or
parent direction is (anti)parallel to the bone and cannot define the twist, while the parent's
frame always can (the arm is raised about the front axis, the elbow straightened in its bending
plane, nothing is rotated about its own axis). Exceptions, kept rigid with the pelvis
(``Q = I``): Hips (CMU has no bone for it) and L/RHipJoint, because Anny's hip bones run from the
hip centre sideways while CMU's run from the lumbar root down to the hip joints: different
segments (see :mod:`posebook.body.joints`), and matching their directions would move Anny's hip
joints 7 cm down inside its pelvis mesh.

Translation and corresponding points. Anny's root (the Hips head) lies 1 cm above the middle of
its hip joints; the CMU root ~10 cm above them. Anny is placed with its Hips head at the middle of
CMU's hip joints (``lhipjoint``/``rhipjoint`` ends). ``mocap_joints`` expresses the CMU positions
at Anny's 31 heads: the head of Anny bone X(b) is the START of ASF bone b (the END of its
parent), except Hips/LHipJoint/RHipJoint -> the middle of CMU's hip joints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import roma
import torch

from posebook.body.joints import ANNY_CMU_MB, BVH_TO_ASF, CMU31
from posebook.body.kinematics import forward_kinematics, global_to_relative
from posebook.data.mocap import Motion, Skeleton

if TYPE_CHECKING:
    from posebook.body.models import AnnyBody

__all__ = [
    "RetargetedMotion",
    "PELVIS_RIGID",
    "rest_corrections",
    "mocap_points",
    "retarget_to_anny",
    "fit_anny_shape",
]

#: Anny bones kept rigid with the CMU root (no CMU bone of the same segment).
PELVIS_RIGID: tuple[str, ...] = ("Hips", "LHipJoint", "RHipJoint")
_HIP_ENDS = ("lhipjoint", "rhipjoint")


@dataclass
class RetargetedMotion:
    """A CMU clip on Anny's ``cmu_mb`` rig, AnnyBody's y-up frame (x left, z front; metres).

    Attributes:
        rotations: (T, 31, 3, 3) relative rotations, AnnyBody's input convention
            (``rotations[:, 0]``: Hips global orientation), ``ANNY_CMU_MB`` order.
        root_translation: (T, 3) position of the Hips head (AnnyBody's ``translation``).
        joints: (T, 31, 3) Anny bone heads for ``shape``.
        mocap_joints: (T, 31, 3) the CMU positions at the same anatomical points (module
            docstring), same frame.
        shape: (6,) the phenotypes used.
        fps: frames per second.
        source: the motion file.
    """

    rotations: torch.Tensor
    root_translation: torch.Tensor
    joints: torch.Tensor
    mocap_joints: torch.Tensor
    shape: torch.Tensor
    fps: float
    source: str

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])


def _asf_index(skeleton: Skeleton) -> list[int]:
    """For each Anny bone, the index of its ASF bone in ``skeleton``."""
    missing = [n for n in CMU31 if n not in skeleton.names]
    if missing:
        raise ValueError(
            f"{skeleton.source}: not a CMU skeleton, bones {missing} are missing; retargeting onto "
            f"Anny's cmu_mb rig needs the 31 CMU ASF bones {', '.join(CMU31)}."
        )
    return [skeleton.index(BVH_TO_ASF[name]) for name in ANNY_CMU_MB]


def _check_body(body: AnnyBody) -> None:
    if tuple(body.joint_names) != ANNY_CMU_MB:
        raise ValueError(
            f"retargeting targets anny's 'cmu_mb' rig; the body has bones "
            f"{body.joint_names[:4]}... Use AnnyBody(rig='cmu_mb') (the default)."
        )


def _shape(body: AnnyBody, shape: torch.Tensor | None) -> torch.Tensor:
    """(6,) phenotypes in the body's dtype/device (None: anny's default)."""
    if shape is None:
        return body.default_shape(1)[0]
    shape = torch.as_tensor(shape, dtype=body.axes.dtype, device=body.axes.device)
    if shape.shape != (body.num_betas,):
        raise ValueError(
            f"shape must be ({body.num_betas},) phenotypes {body.shape_names}, "
            f"got {tuple(shape.shape)}."
        )
    return shape


def _swing(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(3, 3) minimal rotation taking unit vector a onto unit vector b (about a x b)."""
    axis = torch.linalg.cross(a, b)
    sin, cos = torch.linalg.vector_norm(axis), torch.dot(a, b)
    if sin < 1e-12:
        if cos > 0:
            return torch.eye(3, dtype=a.dtype, device=a.device)
        raise ValueError("rest directions are opposite: the swing between them is not unique.")
    return roma.rotvec_to_rotmat(axis / sin * torch.atan2(sin, cos))


def _anny_rest(body: AnnyBody, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(31, 3) rest heads and tails of Anny for one shape."""
    eye = torch.eye(3, dtype=shape.dtype, device=shape.device).expand(1, body.num_joints, 3, 3)
    out = body(eye, shape[None])
    return out.joints[0], out.bone_tails[0]


def rest_corrections(
    skeleton: Skeleton, body: AnnyBody, shape: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-bone rest corrections ``Q`` (module docstring): ``Q_j d_anny_j = d_cmu_j``.

    Args:
        skeleton: a CMU ASF :class:`~posebook.data.mocap.types.Skeleton`.
        body: AnnyBody with the ``cmu_mb`` rig.
        shape: (6,) phenotypes (None: anny's default); Anny's rest directions depend on it.

    Returns:
        (31, 3, 3) rotations, ``ANNY_CMU_MB`` order, the skeleton's dtype (float64).
    """
    _check_body(body)
    index = _asf_index(skeleton)
    heads, tails = _anny_rest(body, _shape(body, shape))
    d_anny = torch.nn.functional.normalize((tails - heads).to(skeleton.directions), dim=-1)
    Q = [torch.eye(3, dtype=d_anny.dtype)] * body.num_joints
    for j, name in enumerate(ANNY_CMU_MB):
        parent = body.parents[j]
        if name in PELVIS_RIGID:
            continue
        d_cmu = skeleton.directions[index[j]]
        if float(skeleton.lengths[index[j]]) == 0.0:  # a zero-length bone: follow the parent
            Q[j] = Q[parent]
            continue
        Q[j] = _swing(Q[parent] @ d_anny[j], d_cmu) @ Q[parent]
    return torch.stack(Q)


def mocap_points(skeleton: Skeleton) -> torch.Tensor:
    """(31 Anny heads, J ASF joints) matrix giving the CMU points at Anny's heads.

    Row j averages the ASF joints at the start of Anny bone j's ASF bone (its parent's end);
    Hips, LHipJoint and RHipJoint take the middle of the two hip joints (module docstring).
    ``mocap_points(skel) @ positions`` maps (..., J, 3) ASF positions to (..., 31, 3).
    """
    index = _asf_index(skeleton)
    M = torch.zeros(len(ANNY_CMU_MB), skeleton.num_joints, dtype=skeleton.offsets.dtype)
    for j, name in enumerate(ANNY_CMU_MB):
        if name in PELVIS_RIGID:
            for hip in _HIP_ENDS:
                M[j, skeleton.index(hip)] = 0.5
        else:
            M[j, skeleton.parents[index[j]]] = 1.0
    return M


def retarget_to_anny(
    motion: Motion, body: AnnyBody, shape: torch.Tensor | None = None
) -> RetargetedMotion:
    """CMU motion -> Anny ``cmu_mb`` relative rotations, root translation and joints.

    ``G_anny = G_cmu[b(j)] @ Q_j`` (:func:`rest_corrections`), ``R = global_to_relative(G_anny)``
    (SGRE Eq. 10), Hips head at the middle of CMU's hip joints, joints by
    ``kinematics.forward_kinematics`` on Anny's rest offsets. Vectorised over frames.

    Args:
        motion: a CMU :class:`~posebook.data.mocap.types.Motion` (T frames, the 31 ASF bones).
        body: AnnyBody (``cmu_mb`` rig, y-up frame).
        shape: (6,) phenotypes (None: anny's default, a ~12-year-old 1.63 m tall, which fits
            adult CMU subjects better than a default adult; see :func:`fit_anny_shape`).

    Returns:
        :class:`RetargetedMotion` in the motion's dtype and device.
    """
    index = _asf_index(motion.skeleton)
    shape = _shape(body, shape)
    Q = rest_corrections(motion.skeleton, body, shape).to(motion.local_rotations)
    G = motion.global_rotations[:, index] @ Q
    rotations = global_to_relative(G, body.parents)
    P = motion.positions
    hips = [motion.skeleton.index(h) for h in _HIP_ENDS]
    translation = P[:, hips].mean(dim=1)
    offsets = body.rest_offsets(shape[None])[0].to(P)
    joints, _ = forward_kinematics(rotations, offsets, body.parents, translation)
    mocap_joints = mocap_points(motion.skeleton).to(P) @ P
    return RetargetedMotion(
        rotations=rotations,
        root_translation=translation,
        joints=joints,
        mocap_joints=mocap_joints,
        shape=shape.detach().to(P),
        fps=motion.fps,
        source=motion.source,
    )


def fit_anny_shape(
    motion: Motion,
    body: AnnyBody,
    *,
    fit: Sequence[str] = ("gender", "age", "height", "proportions"),
    age_range: tuple[float, float] = (0.77, 1.0),
    max_frames: int = 50,
    max_iter: int = 50,
) -> torch.Tensor:
    """Fit Anny's phenotypes to a CMU clip: least squares on the retargeted joint positions.

    With the rotations ``R`` and root translation ``t`` of :func:`retarget_to_anny` at a start
    shape, minimises over the phenotypes

        mean_{t, j} || FK(R_t, rest_offsets(shape), t_t)_j - mocap_joints_{t, j} ||^2

    (``kinematics.forward_kinematics``; the 31 heads against the CMU points at the same places),
    with L-BFGS (strong-Wolfe line search; ~30 evaluations of anny, each ~0.1-0.3 s on a CPU).
    Since every Anny bone points along its CMU bone, this is least squares on the bone vectors
    summed along each chain: bone lengths weighted by how they move the joints. Measured on
    CMU 02_01, 135_04, 05_01, 09_06 (mean joint distance against anny's default shape): this
    fit -0.8 to -1.3 cm; a fit of 12 segment lengths -0.3 to +0.5 cm; a fit of the T-pose
    positions -0.6 to +1.4 cm (the rigs place some joints differently, and a length fit cannot
    weigh that).

    Phenotypes stay in range through a sigmoid: age in ``age_range`` (anny's calibration:
    0.77 ~ 18 y, 0.83 ~ 64 y), the others in [0, 1]. Phenotypes not in ``fit`` stay at anny's
    default 0.5 (muscle and weight change the flesh far more than the skeleton, which cannot
    tell them), except age, which starts (and stays, when not fitted) at the middle of
    ``age_range``. ``R`` is kept from the start shape (rest directions barely depend on shape).

    Args:
        motion: a CMU :class:`~posebook.data.mocap.types.Motion`.
        body: AnnyBody (``cmu_mb`` rig).
        fit: names of the phenotypes to fit.
        age_range: (low, high) bounds of the age phenotype.
        max_frames: frames used, evenly spaced over the clip.
        max_iter: L-BFGS iterations.

    Returns:
        (6,) phenotypes in ``body.shape_names`` order, the body's dtype and device.
    """
    _check_body(body)
    unknown = set(fit) - set(body.shape_names)
    if unknown:
        raise ValueError(
            f"unknown phenotype(s) {sorted(unknown)} in fit; valid: {body.shape_names}"
        )
    if not -1 / 3 <= age_range[0] < age_range[1] <= 1:
        raise ValueError(
            f"age_range must be (low, high) with -1/3 <= low < high <= 1, got {age_range}."
        )
    like = body.axes
    age = body.shape_names.index("age")
    start = body.default_shape(1)[0].clone()
    start[age] = sum(age_range) / 2
    count = min(max_frames, motion.num_frames)
    frames = torch.linspace(0, motion.num_frames - 1, count).round().long()
    clip = replace(
        motion,
        local_rotations=motion.local_rotations[frames],
        root_translation=motion.root_translation[frames],
        positions=motion.positions[frames],
    )
    reference = retarget_to_anny(clip, body, start)
    R = reference.rotations.to(like)
    t = reference.root_translation.to(like)
    target = reference.mocap_joints.to(like)
    low = like.new_tensor([age_range[0] if n == "age" else 0.0 for n in body.shape_names])
    high = like.new_tensor([age_range[1] if n == "age" else 1.0 for n in body.shape_names])
    mask = torch.tensor([n in fit for n in body.shape_names], device=like.device)
    logits = torch.logit((start - low) / (high - low)).detach().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [logits], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe"
    )

    def phenotypes() -> torch.Tensor:
        return torch.where(mask, low + (high - low) * torch.sigmoid(logits), start)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        offsets = body.rest_offsets(phenotypes()[None])[0]
        joints, _ = forward_kinematics(R, offsets, body.parents, t)
        loss = ((joints - target) ** 2).sum(-1).mean()
        loss.backward()
        return loss

    optimizer.step(closure)
    return phenotypes().detach()
