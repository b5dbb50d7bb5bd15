"""Procedural body poses on Anny's ``cmu_mb`` rig: anatomical joint limits and motion families.

The offline fallback of the synthetic world (DESIGN.md, data strategy 3): when no CMU mocap
directory is configured, :func:`sample_poses` draws relative rotations for
:class:`posebook.body.models.AnnyBody` from a few hand-built motion families, deterministically
from a ``torch.Generator`` and without per-sample Python loops.

**Anatomical angles.** Every bone j carries three Euler angles ``(a_x, a_z, a_y)`` in degrees,
composed as ``L_j = Rx(a_x) Rz(a_z) Ry(a_y)`` (roma intrinsic ``"XZY"``: flexion first, then
ab/adduction about the flexed axis, then twist about the bone's own long axis). The axes are the
joint frame ``B_j``, attached to the parent bone as it stands in the **neutral pose**: the body
axes of the y-up model frame (x = the subject's left, y = up, z = front), except for the arm
bones (upper arm, forearm, hand, fingers), whose frame is tilted 10 deg about z like the hanging
arm, so that y is the bone's long axis in the neutral pose (twist does not swing the bone).

The neutral pose is the anatomical standing position (legs straight and vertical, arms hanging
10 deg out from the trunk with straight elbows, spine and head as in Anny's rest pose), NOT
Anny's rest A-pose, whose knees are bent ~9 deg and elbows ~41 deg: with angles measured from
the neutral pose, "knee flexion >= 0" means exactly "the knee never hyperextends". The neutral pose replaces the rest orientation of the
thighs, shins, upper arms and forearms by the minimal rotation taking the rest bone direction
(:data:`REST_DIRECTIONS`, from Anny's mean phenotype) onto the neutral direction; other bones
follow their parent rigidly. With ``N_j`` the neutral global rotation of bone j,

    R_j = N_pa(j)^T B_j L_j B_j^T N_j   (relative rotation fed to AnnyBody; R_0 = L_0 at the root)

so that all-zero angles give the neutral pose, and the anatomical global rotations obey
``A_j = A_pa(j) B_j L_j B_j^T`` with ``G_j = A_j N_j`` (``G``: AnnyBody's global rotations).

Sign conventions (left side; a bone hanging down, or pointing up for the spine and neck; for
the arm bones read "down" as "along the hanging arm"):

- x: positive turns a downward bone BACKWARD and an upward bone FORWARD. So hip flexion,
  shoulder flexion, elbow flexion and ankle dorsiflexion are NEGATIVE x; knee flexion and
  spine/neck flexion are POSITIVE x. Root (Hips) x > 0 leans the whole body forward.
- z: positive moves a left downward bone outward (abduction) and bends the spine to the
  subject's right.
- y: positive is external (outward) rotation of a left limb, a turn to the subject's left for
  the spine and head.

Right-side bones use the mirror image (x -> -x reflection): the same x, negated z and y, so
one table (:data:`JOINT_LIMITS_DEG`) and one set of family means describe both sides.

Joint limits (degrees; left side and midline, right side mirrored; ranges of ``a_x, a_z,
a_y``; the anatomical meaning follows the table) roughly follow textbook normal ranges of motion,
narrowed where a wide range only produces implausible poses at this level of detail:

========================  ===============  ============  ============
bone                      x                z             y
========================  ===============  ============  ============
Hips (root)               [-30, 90] lean   [-30, 30]     [-45, 45]
LHipJoint                 fixed            fixed         fixed
LeftUpLeg (hip)           [-120, 30]       [-20, 45]     [-35, 45]
LeftLeg (knee)            [0, 150]         fixed         [-10, 10]
LeftFoot (ankle)          [-30, 50]        [-20, 20]     [-15, 15]
LeftToeBase               [-50, 20]        fixed         fixed
LowerBack                 [-15, 30]        [-15, 15]     [-15, 15]
Spine                     [-10, 25]        [-10, 10]     [-15, 15]
Spine1                    [-10, 20]        [-10, 10]     [-15, 15]
Neck                      [-20, 30]        [-15, 15]     [-30, 30]
Neck1                     [-15, 20]        [-10, 10]     [-20, 20]
Head                      [-20, 20]        [-15, 15]     [-30, 30]
LeftShoulder (clavicle)   [-10, 10]        [-10, 20]     [-15, 15]
LeftArm (shoulder)        [-150, 50]       [-30, 85]     [-70, 60]
LeftForeArm (elbow)       [-150, 0]        fixed         [-60, 60]
LeftHand (wrist)          [-40, 40]        [-25, 25]     [-10, 10]
LThumb, fingers           [-20, 20]        fixed         fixed
========================  ===============  ============  ============

(x hip: flexion 120 / extension 30; knee: flexion 0..150 only; ankle: dorsiflexion 30 /
plantarflexion 50; shoulder: flexion 150 / extension 50, abduction to 85 (higher arms come from
flexion; 90 would be the XZY gimbal lock), internal 70 / external 60; elbow: flexion 0..150.)
Every middle (z) range lies strictly inside (-90, 90), so the XZY decomposition of a sampled
rotation is unique and :func:`rotations_to_angles` recovers the sampled angles.

**Families** (:data:`FAMILIES`): "stand", "walk" and "run" (a gait cycle at a sampled phase:
hips, knees, ankles and arms swing sinusoidally, the arms against the legs), "reach" (arm
gestures: each arm raised, abducted and bent independently), "squat" (squat/crouch: deep hip
and knee flexion, forward lean), "kick" (one leg swung up, arms out for balance) and "sit".
Each family draws its parameters uniformly from family-specific ranges, adds Gaussian noise
and clamps every angle to the limits.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import pandas as pd
import roma
import torch

from posebook.body.joints import ANNY_CMU_MB, ANNY_CMU_MB_PARENTS

__all__ = [
    "BONE_NAMES",
    "PARENTS",
    "FAMILIES",
    "JOINT_LIMITS_DEG",
    "REST_DIRECTIONS",
    "NEUTRAL_DIRECTIONS",
    "EULER_CONVENTION",
    "limits",
    "limits_table",
    "neutral_rotations",
    "joint_frames",
    "angles_to_rotations",
    "rotations_to_angles",
    "sample_angles",
    "sample_poses",
]

#: Bones of Anny's ``cmu_mb`` rig in model order (``AnnyBody().joint_names``) and their parents.
BONE_NAMES: tuple[str, ...] = ANNY_CMU_MB
PARENTS: tuple[int, ...] = ANNY_CMU_MB_PARENTS

FAMILIES: tuple[str, ...] = ("stand", "walk", "run", "reach", "squat", "kick", "sit")

#: Intrinsic Euler convention of the anatomical angles (roma): L = Rx(a_x) Rz(a_z) Ry(a_y).
EULER_CONVENTION = "XZY"

_FIXED = (0.0, 0.0)
#: Per-bone limits in degrees, ((x_lo, x_hi), (z_lo, z_hi), (y_lo, y_hi)), left side and midline.
JOINT_LIMITS_DEG: dict[str, tuple[tuple[float, float], ...]] = {
    "Hips": ((-30, 90), (-30, 30), (-45, 45)),
    "LHipJoint": (_FIXED, _FIXED, _FIXED),  # no dof in CMU (ASF lhipjoint)
    "LeftUpLeg": ((-120, 30), (-20, 45), (-35, 45)),
    "LeftLeg": ((0, 150), _FIXED, (-10, 10)),
    "LeftFoot": ((-30, 50), (-20, 20), (-15, 15)),
    "LeftToeBase": ((-50, 20), _FIXED, _FIXED),
    "LowerBack": ((-15, 30), (-15, 15), (-15, 15)),
    "Spine": ((-10, 25), (-10, 10), (-15, 15)),
    "Spine1": ((-10, 20), (-10, 10), (-15, 15)),
    "Neck": ((-20, 30), (-15, 15), (-30, 30)),
    "Neck1": ((-15, 20), (-10, 10), (-20, 20)),
    "Head": ((-20, 20), (-15, 15), (-30, 30)),
    "LeftShoulder": ((-10, 10), (-10, 20), (-15, 15)),
    "LeftArm": ((-150, 50), (-30, 85), (-70, 60)),
    "LeftForeArm": ((-150, 0), _FIXED, (-60, 60)),
    "LeftHand": ((-40, 40), (-25, 25), (-10, 10)),
    "LThumb": ((-20, 20), _FIXED, _FIXED),
    "LeftFingerBase": ((-20, 20), _FIXED, _FIXED),
    "LeftHandFinger1": ((-20, 20), _FIXED, _FIXED),
}

#: Rest (A-pose) directions of the bones the neutral pose re-orients, left side, y-up model
#: frame, Anny cmu_mb at the mean phenotype (0.5 everywhere); unit vectors from the bone's head
#: to the head of its child (the joint positions; Anny's bone tails point up to 0.5 deg away).
#: Other phenotypes differ by up to ~2 deg (tests check the values).
REST_DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "LeftUpLeg": (0.08455, -0.99301, 0.08232),
    "LeftLeg": (0.10330, -0.99055, -0.09024),
    "LeftArm": (0.66485, -0.74680, 0.01620),
    "LeftForeArm": (0.51143, -0.50692, 0.69388),
}
_ARM_OUT = math.radians(10.0)
#: Neutral (anatomical standing) directions of the same bones, left side.
NEUTRAL_DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "LeftUpLeg": (0.0, -1.0, 0.0),
    "LeftLeg": (0.0, -1.0, 0.0),
    "LeftArm": (math.sin(_ARM_OUT), -math.cos(_ARM_OUT), 0.0),
    "LeftForeArm": (math.sin(_ARM_OUT), -math.cos(_ARM_OUT), 0.0),
}


_SWAP = {"Left": "Right", "Right": "Left", "LHipJoint": "RHipJoint", "RHipJoint": "LHipJoint",
         "LThumb": "RThumb", "RThumb": "LThumb"}


def _mirror_name(name: str) -> str:
    """The bone's mirror image across the sagittal plane (itself on the midline)."""
    if name in _SWAP:
        return _SWAP[name]
    for prefix in ("Left", "Right"):
        if name.startswith(prefix):
            return _SWAP[prefix] + name[len(prefix):]
    return name


def _is_right(name: str) -> bool:
    return name.startswith("Right") or name in ("RHipJoint", "RThumb")


_INDEX = {name: j for j, name in enumerate(BONE_NAMES)}
#: (31,) index of each bone's mirror image.
_MIRROR = tuple(_INDEX[_mirror_name(n)] for n in BONE_NAMES)


@functools.lru_cache(maxsize=8)
def _limits_cpu() -> torch.Tensor:
    out = torch.zeros(len(BONE_NAMES), 3, 2, dtype=torch.float64)
    for j, name in enumerate(BONE_NAMES):
        if _is_right(name):
            (xl, xh), (zl, zh), (yl, yh) = JOINT_LIMITS_DEG[BONE_NAMES[_MIRROR[j]]]
            out[j] = torch.tensor([[xl, xh], [-zh, -zl], [-yh, -yl]], dtype=torch.float64) + 0.0  # no -0.0
        else:
            out[j] = torch.tensor(JOINT_LIMITS_DEG[name], dtype=torch.float64)
    return out


def limits(dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """Joint limits of every bone, right side mirrored from :data:`JOINT_LIMITS_DEG`.

    Returns:
        (31, 3, 2) degrees: ``[j, k] = (low, high)`` of angle k in ``(a_x, a_z, a_y)`` order.
    """
    return _limits_cpu().to(dtype=dtype, device=device)


def limits_table() -> pd.DataFrame:
    """The joint-limit table, one row per bone (both sides), degrees, for display."""
    lim = _limits_cpu()
    return pd.DataFrame({
        "bone": BONE_NAMES,
        "parent": [BONE_NAMES[p] if p >= 0 else "" for p in PARENTS],
        "x_low": lim[:, 0, 0].tolist(), "x_high": lim[:, 0, 1].tolist(),
        "z_low": lim[:, 1, 0].tolist(), "z_high": lim[:, 1, 1].tolist(),
        "y_low": lim[:, 2, 0].tolist(), "y_high": lim[:, 2, 1].tolist(),
    })


def _align(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Minimal rotation taking unit vector a onto unit vector b (about a x b)."""
    cross = torch.linalg.cross(a, b)
    sin = torch.linalg.vector_norm(cross)
    angle = torch.atan2(sin, torch.dot(a, b))
    return roma.rotvec_to_rotmat(cross / sin * angle)


@functools.lru_cache(maxsize=8)
def _neutral_cpu() -> torch.Tensor:
    N = torch.zeros(len(BONE_NAMES), 3, 3, dtype=torch.float64)
    N[0] = torch.eye(3, dtype=torch.float64)
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    for j in range(1, len(BONE_NAMES)):
        name = BONE_NAMES[j]
        left = BONE_NAMES[_MIRROR[j]] if _is_right(name) else name
        if left in REST_DIRECTIONS:
            rest = torch.tensor(REST_DIRECTIONS[left], dtype=torch.float64)
            target = torch.tensor(NEUTRAL_DIRECTIONS[left], dtype=torch.float64)
            rest, target = rest / rest.norm(), target / target.norm()
            if _is_right(name):
                rest, target = mirror @ rest, mirror @ target
            N[j] = _align(rest, target)
        else:
            N[j] = N[PARENTS[j]]
    return N


_TILTED = ("LeftArm", "LeftForeArm", "LeftHand", "LThumb", "LeftFingerBase", "LeftHandFinger1")


@functools.lru_cache(maxsize=8)
def _frames_cpu() -> torch.Tensor:
    B = torch.eye(3, dtype=torch.float64).repeat(len(BONE_NAMES), 1, 1)
    for j, name in enumerate(BONE_NAMES):
        left = _mirror_name(name) if _is_right(name) else name
        if left in _TILTED:
            sign = -1.0 if _is_right(name) else 1.0
            B[j] = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, sign * _ARM_OUT], dtype=torch.float64))
    return B


def joint_frames(dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """Joint frames ``B_j`` in which the anatomical angles act (module docstring).

    Returns:
        (31, 3, 3): the identity, or for the arm bones a 10 deg tilt about z (outwards), so that
        ``B_j e_y`` is the bone's neutral direction and ``B_j e_x`` its flexion (hinge) axis.
    """
    return _frames_cpu().to(dtype=dtype, device=device)


def neutral_rotations(dtype: torch.dtype = torch.float64,
                      device: torch.device | str | None = None) -> torch.Tensor:
    """Global rotations ``N_j`` of the neutral (anatomical standing) pose w.r.t. Anny's rest pose.

    Returns:
        (31, 3, 3); ``N_0`` is the identity. The neutral pose's relative rotations (what
        AnnyBody takes) are ``angles_to_rotations(zeros)``.
    """
    return _neutral_cpu().to(dtype=dtype, device=device)


def angles_to_rotations(angles: torch.Tensor) -> torch.Tensor:
    """Anatomical angles -> AnnyBody relative rotations, ``R_j = N_pa(j)^T B_j L_j B_j^T N_j``.

    Args:
        angles: (..., 31, 3) degrees ``(a_x, a_z, a_y)`` per bone, ``L_j = Rx Rz Ry``.
    Returns:
        (..., 31, 3, 3) relative rotations (``[..., 0]``: the root's orientation in the y-up
        model frame).
    """
    if angles.shape[-2:] != (len(BONE_NAMES), 3):
        raise ValueError(f"angles must have shape (..., {len(BONE_NAMES)}, 3) (degrees a_x, a_z, a_y); "
                         f"got {tuple(angles.shape)}")
    L = roma.euler_to_rotmat(EULER_CONVENTION, angles, degrees=True)
    N = neutral_rotations(dtype=angles.dtype, device=angles.device)
    B = joint_frames(dtype=angles.dtype, device=angles.device)
    N_parent = torch.cat([torch.eye(3, dtype=N.dtype, device=N.device)[None], N[list(PARENTS[1:])]])
    return (N_parent.transpose(-1, -2) @ B) @ L @ (B.transpose(-1, -2) @ N)


def rotations_to_angles(rotations: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`angles_to_rotations`: ``L_j = B_j^T N_pa(j) R_j N_j^T B_j`` -> XZY angles.

    Args:
        rotations: (..., 31, 3, 3) AnnyBody relative rotations.
    Returns:
        (..., 31, 3) degrees ``(a_x, a_z, a_y)``; a_z in [-90, 90], the others in (-180, 180].
    """
    if rotations.shape[-3:] != (len(BONE_NAMES), 3, 3):
        raise ValueError(f"rotations must have shape (..., {len(BONE_NAMES)}, 3, 3); "
                         f"got {tuple(rotations.shape)}")
    N = neutral_rotations(dtype=rotations.dtype, device=rotations.device)
    B = joint_frames(dtype=rotations.dtype, device=rotations.device)
    N_parent = torch.cat([torch.eye(3, dtype=N.dtype, device=N.device)[None], N[list(PARENTS[1:])]])
    L = (B.transpose(-1, -2) @ N_parent) @ rotations @ (N.transpose(-1, -2) @ B)
    return roma.rotmat_to_euler(EULER_CONVENTION, L, degrees=True)


# ------------------------------------------------------------------------------------ families

_X, _Z, _Y = 0, 1, 2


class _Draw:
    """Uniform / normal draws of m values from one generator, in a fixed order."""

    def __init__(self, m: int, generator: torch.Generator, dtype: torch.dtype) -> None:
        self.m, self.g, self.dtype = m, generator, dtype

    def u(self, lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(self.m, generator=self.g, dtype=self.dtype)

    def n(self, std: float) -> torch.Tensor:
        return std * torch.randn(self.m, generator=self.g, dtype=self.dtype)

    def side(self) -> torch.Tensor:
        """+1 (left) or -1 (right), equally likely."""
        return torch.randint(0, 2, (self.m,), generator=self.g).to(self.dtype) * 2 - 1


def _put(angles: torch.Tensor, bone: str, x=None, z=None, y=None, right=None) -> None:
    """Write angles of a left/midline ``bone``; ``right=(x, z, y)`` writes its mirror, in
    left-side sign convention (z and y are negated here)."""
    j = _INDEX[bone]
    for k, v in ((_X, x), (_Z, z), (_Y, y)):
        if v is not None:
            angles[:, j, k] = v
    if right is not None:
        jr = _INDEX[_mirror_name(bone)]
        for k, v in zip((_X, _Z, _Y), right):
            if v is not None:
                angles[:, jr, k] = v if k == _X else -v


def _legs(angles: torch.Tensor, thigh_l, thigh_r, knee_l, knee_r, lean, d: _Draw,
          abd=(None, None), foot_flat: bool = True) -> None:
    """Hips and knees from GLOBAL thigh flexion (forward from vertical) and knee flexion.

    Hip flexion relative to the pelvis = thigh + pelvis lean; the ankle keeps the foot roughly
    level (dorsiflexion = forward tilt of the shin) when ``foot_flat``.
    """
    _put(angles, "LeftUpLeg", x=-(thigh_l + lean), z=abd[0], right=(-(thigh_r + lean), abd[1], None))
    _put(angles, "LeftLeg", x=knee_l, right=(knee_r, None, None))
    if foot_flat:
        # shin angle from vertical (positive: knee ahead of the ankle) = knee - thigh
        _put(angles, "LeftFoot", x=-(knee_l - thigh_l) + d.n(5.0),
             right=(-(knee_r - thigh_r) + d.n(5.0), None, None))


def _arms(angles: torch.Tensor, flex_l, flex_r, abd_l, abd_r, elbow_l, elbow_r,
          twist_l=None, twist_r=None) -> None:
    """Shoulder flexion / abduction / twist and elbow flexion, anatomical (positive) degrees."""
    _put(angles, "LeftArm", x=-flex_l, z=abd_l, y=twist_l, right=(-flex_r, abd_r, twist_r))
    _put(angles, "LeftForeArm", x=-elbow_l, right=(-elbow_r, None, None))


def _stand(a: torch.Tensor, d: _Draw) -> float:
    lean = d.u(-3, 5)
    _put(a, "Hips", x=lean, y=d.n(5.0))
    _legs(a, d.n(4.0), d.n(4.0), d.u(0, 12), d.u(0, 12), lean, d, abd=(d.u(-3, 10), d.u(-3, 10)))
    _arms(a, d.n(10.0), d.n(10.0), d.u(0, 25), d.u(0, 25), d.u(5, 45), d.u(5, 45), d.n(15.0), d.n(15.0))
    _put(a, "Neck", y=d.u(-25, 25))
    _put(a, "Head", x=d.n(8.0), y=d.u(-25, 25))
    return 3.0


def _gait(a: torch.Tensor, d: _Draw, run: bool) -> float:
    phase = d.u(0, 2 * math.pi)
    s, c = torch.sin(phase), torch.cos(phase)
    hip_amp = d.u(25, 40) if run else d.u(15, 25)
    hip_mid = d.u(10, 20) if run else d.u(5, 10)
    lean = d.u(5, 15) if run else d.u(0, 5)
    knee0 = d.u(15, 30) if run else d.u(3, 10)
    knee_amp = d.u(60, 95) if run else d.u(40, 60)
    # swing (thigh moving forward, cos > 0) peaks just before mid-swing
    swing_l = (0.5 + 0.5 * torch.cos(phase + 0.3)) ** 3
    swing_r = (0.5 - 0.5 * torch.cos(phase + 0.3)) ** 3
    thigh_l, thigh_r = hip_mid + hip_amp * s, hip_mid - hip_amp * s
    knee_l, knee_r = knee0 + knee_amp * swing_l, knee0 + knee_amp * swing_r
    _put(a, "Hips", x=lean, y=-6.0 * s + d.n(3.0), z=3.0 * c)
    _legs(a, thigh_l, thigh_r, knee_l, knee_r, lean, d, abd=(d.u(0, 6), d.u(0, 6)))
    arm_amp = d.u(25, 50) if run else d.u(10, 30)
    elbow0 = d.u(70, 100) if run else d.u(5, 25)
    elbow_amp = d.u(10, 30) if run else d.u(5, 20)
    # the arms swing against the legs
    _arms(a, -arm_amp * s, arm_amp * s, d.u(5, 15), d.u(5, 15),
          elbow0 + elbow_amp * torch.relu(-s), elbow0 + elbow_amp * torch.relu(s))
    _put(a, "Spine1", y=8.0 * s)
    _put(a, "Neck", x=-0.5 * lean)
    return 4.0


def _reach(a: torch.Tensor, d: _Draw) -> float:
    lean = d.u(-5, 25)
    _put(a, "Hips", x=lean, y=d.n(8.0))
    _legs(a, d.n(5.0), d.n(5.0), d.u(0, 20), d.u(0, 20), lean, d, abd=(d.u(-3, 15), d.u(-3, 15)))
    _arms(a, d.u(-30, 150), d.u(-30, 150), d.u(-10, 85), d.u(-10, 85), d.u(0, 120), d.u(0, 120),
          d.u(-50, 40), d.u(-50, 40))
    _put(a, "LowerBack", x=d.u(-10, 20), z=d.n(8.0), y=d.n(8.0))
    _put(a, "Spine1", y=d.u(-15, 15))
    _put(a, "Head", x=d.u(-20, 15), y=d.u(-30, 30))
    return 5.0


def _squat(a: torch.Tensor, d: _Draw) -> float:
    lean = d.u(10, 35)
    thigh_l = d.u(50, 90)
    thigh_r = thigh_l + d.n(8.0)
    shin_l, shin_r = d.u(15, 40), d.u(15, 40)
    _put(a, "Hips", x=lean, y=d.n(5.0))
    _legs(a, thigh_l, thigh_r, thigh_l + shin_l, thigh_r + shin_r, lean, d,
          abd=(d.u(5, 30), d.u(5, 30)))
    _put(a, "LeftUpLeg", y=d.u(0, 30), right=(None, None, d.u(0, 30)))
    _arms(a, d.u(20, 100), d.u(20, 100), d.u(0, 30), d.u(0, 30), d.u(0, 90), d.u(0, 90))
    _put(a, "LowerBack", x=d.u(0, 25))
    _put(a, "Neck", x=-0.5 * lean)
    _put(a, "Head", x=d.u(-20, 5))
    return 4.0


def _kick(a: torch.Tensor, d: _Draw) -> float:
    side = d.side()  # +1: the left leg kicks
    left = side > 0
    lean = d.u(-20, 5)
    kick_thigh, kick_knee, kick_abd = d.u(30, 110), d.u(0, 90), d.u(0, 40)
    stand_thigh, stand_knee = d.n(6.0), d.u(0, 25)
    thigh_l = torch.where(left, kick_thigh, stand_thigh)
    thigh_r = torch.where(left, stand_thigh, kick_thigh)
    knee_l = torch.where(left, kick_knee, stand_knee)
    knee_r = torch.where(left, stand_knee, kick_knee)
    abd_l = torch.where(left, kick_abd, d.u(0, 10))
    abd_r = torch.where(left, d.u(0, 10), kick_abd)
    _put(a, "Hips", x=lean, z=d.n(8.0), y=d.n(10.0))
    _legs(a, thigh_l, thigh_r, knee_l, knee_r, lean, d, abd=(abd_l, abd_r), foot_flat=False)
    _put(a, "LeftFoot", x=d.u(0, 45), right=(d.u(0, 45), None, None))  # pointed toes
    _arms(a, d.u(-20, 60), d.u(-20, 60), d.u(20, 80), d.u(20, 80), d.u(20, 110), d.u(20, 110))
    _put(a, "LowerBack", x=d.u(-10, 15))
    return 5.0


def _sit(a: torch.Tensor, d: _Draw) -> float:
    lean = d.u(-10, 20)
    thigh_l, thigh_r = d.u(75, 100), d.u(75, 100)
    shin_l, shin_r = d.u(-20, 15), d.u(-20, 15)
    _put(a, "Hips", x=lean, y=d.n(5.0))
    _legs(a, thigh_l, thigh_r, thigh_l + shin_l, thigh_r + shin_r, lean, d,
          abd=(d.u(0, 20), d.u(0, 20)))
    _arms(a, d.u(0, 50), d.u(0, 50), d.u(0, 20), d.u(0, 20), d.u(30, 100), d.u(30, 100),
          d.u(-50, 0), d.u(-50, 0))
    _put(a, "LowerBack", x=d.u(-10, 20))
    _put(a, "Head", x=d.u(-15, 20), y=d.u(-30, 30))
    return 3.0


_FAMILY_FUNCTIONS = {
    "stand": _stand,
    "walk": lambda a, d: _gait(a, d, run=False),
    "run": lambda a, d: _gait(a, d, run=True),
    "reach": _reach,
    "squat": _squat,
    "kick": _kick,
    "sit": _sit,
}


def _family_indices(families: Sequence[str] | None) -> list[int]:
    if families is None:
        return list(range(len(FAMILIES)))
    if isinstance(families, str):
        families = [families]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ValueError(f"unknown pose families {unknown or list(families)}; choose from {list(FAMILIES)}")
    return sorted({FAMILIES.index(f) for f in families})


def sample_angles(n: int, generator: torch.Generator, families: Sequence[str] | None = None,
                  dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Anatomical angles of ``n`` procedural poses, within :func:`limits`.

    Each sample draws a family uniformly among ``families``; the family sets its parameters
    (uniform within family ranges), Gaussian noise of a family-specific std (3-5 deg) is added
    to every free angle, and all angles are clamped to the joint limits.

    Args:
        n: number of poses (>= 0).
        generator: CPU ``torch.Generator``; the result is a function of its state only.
        families: names from :data:`FAMILIES` (default: all).
        dtype: floating dtype of the result.
    Returns:
        angles (n, 31, 3) degrees ``(a_x, a_z, a_y)`` and labels (n,) int64 indices into
        :data:`FAMILIES`.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    allowed = torch.tensor(_family_indices(families))
    labels = allowed[torch.randint(0, len(allowed), (n,), generator=generator)]
    angles = torch.zeros(n, len(BONE_NAMES), 3, dtype=dtype)
    lim = limits(dtype=dtype)
    free = lim[..., 1] > lim[..., 0]
    for f in allowed.tolist():
        mask = labels == f
        m = int(mask.sum())
        if m == 0:
            continue
        block = torch.zeros(m, len(BONE_NAMES), 3, dtype=dtype)
        std = _FAMILY_FUNCTIONS[FAMILIES[f]](block, _Draw(m, generator, dtype))
        noise = std * torch.randn(block.shape, generator=generator, dtype=dtype)
        angles[mask] = block + noise * free
    angles = torch.maximum(torch.minimum(angles, lim[..., 1]), lim[..., 0])
    return angles, labels


def sample_poses(n: int, generator: torch.Generator, families: Sequence[str] | None = None,
                 dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Relative rotations of ``n`` procedural poses for AnnyBody (cmu_mb rig).

    ``angles_to_rotations(sample_angles(...))``: see the module docstring for the joint limits,
    the neutral pose and the families. The root rotation ``[:, 0]`` is the body's lean in the
    y-up model frame (facing +z); the synthetic world adds heading and camera.

    Args:
        n: number of poses (>= 0).
        generator: CPU ``torch.Generator`` (deterministic).
        families: names from :data:`FAMILIES` (default: all).
        dtype: floating dtype of the rotations.
    Returns:
        rotations (n, 31, 3, 3) and labels (n,) int64 indices into :data:`FAMILIES`.
    """
    angles, labels = sample_angles(n, generator, families, dtype=dtype)
    return angles_to_rotations(angles), labels
