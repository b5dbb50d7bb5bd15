"""Tests for posebook.data.poses: Euler convention against scipy, limits through the inverse map,
the neutral pose and the knee/elbow hinges on the real Anny mesh, mirror symmetry, families."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation as ScipyRotation

from posebook.data import poses as P

F64 = torch.float64


def _idx(name: str) -> int:
    return P.BONE_NAMES.index(name)


@pytest.fixture(scope="module")
def sample() -> tuple[torch.Tensor, torch.Tensor]:
    return P.sample_angles(3000, torch.Generator().manual_seed(0), dtype=F64)


@pytest.fixture(scope="module")
def anny_body():
    from posebook.body.models import AnnyBody

    return AnnyBody(dtype=F64)


# ---------------------------------------------------------------------- conversions and limits


def test_angles_to_rotations_matches_scipy_intrinsic_xzy(sample):
    angles = sample[0][:50]
    L = torch.from_numpy(
        ScipyRotation.from_euler("XZY", angles.reshape(-1, 3).numpy(), degrees=True).as_matrix()
    ).reshape(50, 31, 3, 3)
    N, B = P.neutral_rotations(), P.joint_frames()
    N_parent = torch.stack([torch.eye(3, dtype=F64) if p < 0 else N[p] for p in P.PARENTS])
    expected = N_parent.transpose(-1, -2) @ B @ L @ B.transpose(-1, -2) @ N
    torch.testing.assert_close(P.angles_to_rotations(angles), expected, atol=1e-12, rtol=0)


def test_rotations_are_proper_and_round_trip(sample):
    angles = sample[0]
    R = P.angles_to_rotations(angles)
    eye = torch.eye(3, dtype=F64).expand_as(R)
    torch.testing.assert_close(R.transpose(-1, -2) @ R, eye, atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(R.shape[:-2], dtype=F64), atol=1e-12, rtol=0)
    torch.testing.assert_close(P.rotations_to_angles(R), angles, atol=1e-8, rtol=0)


def test_sampled_poses_respect_joint_limits(sample):
    # recover the angles from the ROTATIONS (roma's matrix -> Euler route), then check the table
    R, _ = P.sample_poses(3000, torch.Generator().manual_seed(1), dtype=F64)
    angles = P.rotations_to_angles(R)
    lim = P.limits()
    assert bool((angles >= lim[..., 0] - 1e-6).all()) and bool((angles <= lim[..., 1] + 1e-6).all())
    knee = angles[:, [_idx("LeftLeg"), _idx("RightLeg")], 0]
    elbow = angles[:, [_idx("LeftForeArm"), _idx("RightForeArm")], 0]
    assert float(knee.min()) >= -1e-6 and float(knee.max()) <= 150 + 1e-6
    assert float(elbow.max()) <= 1e-6 and float(elbow.min()) >= -150 - 1e-6
    # fixed dofs really are fixed
    fixed = lim[..., 0] == lim[..., 1]
    assert float((angles - lim[..., 0]).abs()[:, fixed].max()) < 1e-6


def test_limit_table_hand_values_and_right_side_mirrored():
    table = P.limits_table().set_index("bone")
    assert tuple(table.loc["LeftLeg", ["x_low", "x_high"]]) == (0.0, 150.0)
    assert tuple(table.loc["LeftUpLeg", ["x_low", "x_high"]]) == (-120.0, 30.0)  # flexion 120
    assert tuple(table.loc["RightUpLeg", ["z_low", "z_high"]]) == (-45.0, 20.0)  # abduction mirrored
    assert tuple(table.loc["RightArm", ["y_low", "y_high"]]) == (-60.0, 70.0)
    lim = P.limits()
    assert float(lim[:, 1].abs().max()) < 90.0  # unique XZY decomposition


def test_mirror_symmetry_of_the_rotation_map(sample):
    # Mirroring the body (x -> -x) maps bone j to its twin with angles (x, -z, -y): the rotations
    # must be M R M with M = diag(-1, 1, 1), for the neutral pose as well.
    angles = sample[0][:200]
    mirror = torch.tensor(P._MIRROR)
    mirrored = angles[:, mirror] * angles.new_tensor([1.0, -1.0, -1.0])
    M = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=F64))
    R = P.angles_to_rotations(angles)
    torch.testing.assert_close(P.angles_to_rotations(mirrored), M @ R[:, mirror] @ M, atol=1e-12, rtol=0)


# ---------------------------------------------------------------------- the body (real Anny)


@pytest.mark.slow
def test_rest_directions_are_annys(anny_body):
    out = anny_body(torch.eye(3, dtype=F64).expand(1, 31, 3, 3))
    heads = out.joints[0]
    child = {"LeftUpLeg": "LeftLeg", "LeftLeg": "LeftFoot", "LeftArm": "LeftForeArm", "LeftForeArm": "LeftHand"}
    for bone, tip in child.items():
        d = heads[_idx(tip)] - heads[_idx(bone)]
        expected = torch.tensor(P.REST_DIRECTIONS[bone], dtype=F64)
        torch.testing.assert_close(d / d.norm(), expected, atol=2e-5, rtol=0)
        right = P._mirror_name(bone)
        d_r = heads[_idx(P._mirror_name(tip))] - heads[_idx(right)]
        torch.testing.assert_close(d_r / d_r.norm(), expected * expected.new_tensor([-1, 1, 1]), atol=2e-5, rtol=0)


@pytest.mark.slow
def test_neutral_pose_is_the_anatomical_standing_pose(anny_body):
    joints = anny_body(P.angles_to_rotations(torch.zeros(1, 31, 3, dtype=F64))).joints[0]

    def direction(a: str, b: str) -> torch.Tensor:
        d = joints[_idx(b)] - joints[_idx(a)]
        return d / d.norm()

    down = torch.tensor([0.0, -1.0, 0.0], dtype=F64)
    for side in ("Left", "Right"):
        torch.testing.assert_close(direction(f"{side}UpLeg", f"{side}Leg"), down, atol=1e-4, rtol=0)
        torch.testing.assert_close(direction(f"{side}Leg", f"{side}Foot"), down, atol=1e-4, rtol=0)
        arm, forearm = direction(f"{side}Arm", f"{side}ForeArm"), direction(f"{side}ForeArm", f"{side}Hand")
        torch.testing.assert_close(arm, forearm, atol=1e-4, rtol=0)  # straight elbow
        sign = 1.0 if side == "Left" else -1.0
        expected = torch.tensor([sign * math.sin(math.radians(10)), -math.cos(math.radians(10)), 0.0], dtype=F64)
        torch.testing.assert_close(arm, expected, atol=1e-4, rtol=0)
        # the arm joints' frames have their y axis along the hanging arm (pointing up it), so a
        # twist does not swing the bone
        B = P.joint_frames()[[_idx(f"{side}Arm"), _idx(f"{side}ForeArm"), _idx(f"{side}Hand")]]
        torch.testing.assert_close(B[..., 1], -expected.expand(3, 3), atol=1e-12, rtol=0)


@pytest.mark.slow
def test_knee_and_elbow_bend_only_one_way_on_the_mesh(anny_body):
    """Geometric hinge angles from the skinned body's joints (mean phenotype): the knee never
    hyperextends, the elbow never bends backwards, and the angle is the sampled one."""
    angles, _ = P.sample_angles(400, torch.Generator().manual_seed(2), dtype=F64)
    out = anny_body(P.angles_to_rotations(angles))
    J = out.joints
    # anatomical (neutral-referenced) global frames A = G N^T; x axis = the hinge axis
    A = out.global_rotations @ P.neutral_rotations().transpose(-1, -2)
    for side in ("Left", "Right"):
        for upper, lower, end, sign in (("UpLeg", "Leg", "Foot", 1.0), ("Arm", "ForeArm", "Hand", -1.0)):
            a, b, c = (J[:, _idx(f"{side}{n}")] for n in (upper, lower, end))
            proximal, distal = b - a, c - b
            cos = (proximal * distal).sum(-1) / (proximal.norm(dim=-1) * distal.norm(dim=-1))
            geometric = torch.rad2deg(torch.acos(cos.clamp(-1, 1)))
            hinge = (A[:, _idx(f"{side}{upper}")] @ P.joint_frames()[_idx(f"{side}{lower}")])[..., 0]
            bend = sign * (torch.linalg.cross(proximal, distal) * hinge).sum(-1)
            assert float(bend.min()) > -1e-6, f"{side}{lower} bends the wrong way"
            torch.testing.assert_close(geometric, sign * angles[:, _idx(f"{side}{lower}"), 0], atol=0.05, rtol=0)
            assert float(geometric.max()) <= 150.05


# ---------------------------------------------------------------------- families


def test_families_differ(sample):
    angles, labels = sample
    fam = {name: angles[labels == i] for i, name in enumerate(P.FAMILIES)}
    hip = _idx("LeftUpLeg")
    knee = _idx("LeftLeg")
    assert all(len(v) > 100 for v in fam.values())
    # walking swings the hips; standing barely moves them
    assert float(fam["walk"][:, hip, 0].std()) > 2.0 * float(fam["stand"][:, hip, 0].std())
    assert float(fam["run"][:, knee, 0].max()) > float(fam["walk"][:, knee, 0].max())
    assert float(fam["squat"][:, knee, 0].mean()) > 60.0 > 15.0 > float(fam["stand"][:, knee, 0].mean())
    # sitting: thighs near horizontal (hip flexion = thigh + pelvis lean, x negative)
    sit_thigh = -(fam["sit"][:, hip, 0] + fam["sit"][:, 0, 0])
    assert 60.0 < float(sit_thigh.mean()) < 110.0
    # gait: the arm swings against the same-side leg
    walk = fam["walk"]
    corr = np.corrcoef(walk[:, hip, 0].numpy(), walk[:, _idx("LeftArm"), 0].numpy())[0, 1]
    assert corr < -0.5


def test_deterministic_and_family_selection():
    a1, l1 = P.sample_poses(64, torch.Generator().manual_seed(5))
    a2, l2 = P.sample_poses(64, torch.Generator().manual_seed(5))
    a3, _ = P.sample_poses(64, torch.Generator().manual_seed(6))
    assert torch.equal(a1, a2) and torch.equal(l1, l2)
    assert not torch.equal(a1, a3)
    assert a1.dtype == torch.float32 and a1.shape == (64, 31, 3, 3)
    _, labels = P.sample_poses(50, torch.Generator().manual_seed(0), families=["walk", "sit"])
    assert set(labels.tolist()) <= {P.FAMILIES.index("walk"), P.FAMILIES.index("sit")}
    empty, empty_labels = P.sample_poses(0, torch.Generator().manual_seed(0))
    assert empty.shape == (0, 31, 3, 3) and empty_labels.shape == (0,)
    with pytest.raises(ValueError, match="unknown pose families"):
        P.sample_poses(4, torch.Generator(), families=["dance"])
