"""Tests for posebook.body.kinematics: each function vs a hand-computed case or a naive loop."""

from __future__ import annotations

import math

import pytest
import roma
import torch

from posebook.body import kinematics as K

# SMPL-24 (the kintree of the SMPL model files) and CMU-31 (Anny's cmu_mb rig) parents.
SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
CMU_PARENTS = [-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 10, 11, 12, 12, 14, 8, 16, 17, 8, 19, 20, 21,
               22, 22, 24, 0, 26, 27, 28, 29]


def naive_global(R_rel, parents):
    """Per-joint recursion, the textbook definition."""
    out = [None] * len(parents)
    for j, p in enumerate(parents):
        out[j] = R_rel[..., j, :, :] if p < 0 else out[p] @ R_rel[..., j, :, :]
    return torch.stack(out, dim=-3)


def naive_fk(R_rel, offsets, parents, root):
    G = naive_global(R_rel, parents)
    pos = [None] * len(parents)
    for j, p in enumerate(parents):
        if p < 0:
            pos[j] = root + offsets[..., 0, :]
        else:
            pos[j] = pos[p] + (G[..., p, :, :] @ offsets[..., j, :, None])[..., 0]
    return torch.stack(pos, dim=-2)


def rot_z(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


@pytest.mark.parametrize("parents", [SMPL_PARENTS, CMU_PARENTS])
def test_relative_to_global_matches_naive_recursion(parents):
    torch.manual_seed(0)
    R_rel = roma.random_rotmat((5, 2, len(parents)), dtype=torch.float64)
    torch.testing.assert_close(K.relative_to_global(R_rel, parents), naive_global(R_rel, parents))


def test_relative_to_global_is_ordered_product_along_chain():
    """SGRE Eq. 8 read as the root-first product over the chain of k (not over indices 1..k)."""
    torch.manual_seed(1)
    R_rel = roma.random_rotmat((len(SMPL_PARENTS),), dtype=torch.float64)
    G = K.relative_to_global(R_rel, SMPL_PARENTS)
    for name, chain in K.chains(SMPL_PARENTS).items():
        expected = torch.eye(3, dtype=torch.float64)
        for j in chain:
            expected = expected @ R_rel[j]
        torch.testing.assert_close(G[chain[-1]], expected, msg=name)
    # The literal prod_{i=1:k} over joint indices differs as soon as the tree branches.
    literal = torch.eye(3, dtype=torch.float64)
    for j in range(6):  # right_knee (5): its chain is 0 -> 2 -> 5, indices 0..5 are not.
        literal = literal @ R_rel[j]
    assert (literal - G[5]).abs().max() > 1e-2


@pytest.mark.parametrize("parents", [SMPL_PARENTS, CMU_PARENTS])
def test_round_trip_relative_global(parents):
    torch.manual_seed(2)
    R_rel = roma.random_rotmat((7, len(parents)), dtype=torch.float64)
    G = K.relative_to_global(R_rel, parents)
    torch.testing.assert_close(K.global_to_relative(G, parents), R_rel)
    G2 = roma.random_rotmat((7, len(parents)), dtype=torch.float64)
    torch.testing.assert_close(K.relative_to_global(K.global_to_relative(G2, parents), parents), G2)


def test_global_to_relative_matches_definition():
    torch.manual_seed(3)
    G = roma.random_rotmat((4, len(SMPL_PARENTS)), dtype=torch.float64)
    rel = K.global_to_relative(G, SMPL_PARENTS)
    torch.testing.assert_close(rel[:, 0], G[:, 0])
    for j in range(1, len(SMPL_PARENTS)):
        p = SMPL_PARENTS[j]
        torch.testing.assert_close(rel[:, j], torch.linalg.inv(G[:, p]) @ G[:, j])


def test_fk_planar_three_joint_chain():
    """Root at t, two unit bones along x, rotated by 30 and 60 degrees about z."""
    a, b = math.radians(30), math.radians(60)
    R_rel = torch.stack([rot_z(a), rot_z(b), rot_z(1.234)])  # the last rotation moves nothing
    offsets = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    t = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    joints, G = K.forward_kinematics(R_rel, offsets, [-1, 0, 1], root_translation=t)
    expected = torch.tensor(
        [
            [0.0, 0.0, 0.0],
            [math.cos(a), math.sin(a), 0.0],
            [math.cos(a) + math.cos(a + b), math.sin(a) + math.sin(a + b), 0.0],
        ],
        dtype=torch.float64,
    ) + t
    torch.testing.assert_close(joints, expected)
    torch.testing.assert_close(G[2], rot_z(a + b + 1.234))
    # offsets[0] is the root's rest position, added to the translation.
    joints0, _ = K.forward_kinematics(R_rel, offsets + torch.tensor([1.0, 2.0, 3.0]).double(),
                                      [-1, 0, 1])
    torch.testing.assert_close(joints0[0], torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))


@pytest.mark.parametrize("parents", [SMPL_PARENTS, CMU_PARENTS])
def test_fk_matches_naive_and_keeps_bone_lengths(parents):
    torch.manual_seed(4)
    J = len(parents)
    R_rel = roma.random_rotmat((3, 5, J), dtype=torch.float64)
    offsets = torch.randn(J, 3, dtype=torch.float64) * 0.2
    root = torch.randn(3, 5, 3, dtype=torch.float64)
    joints, G = K.forward_kinematics(R_rel, offsets, parents, root_translation=root)
    assert joints.shape == (3, 5, J, 3) and G.shape == (3, 5, J, 3, 3)
    torch.testing.assert_close(joints, naive_fk(R_rel, offsets.expand(3, 5, J, 3), parents, root))
    bones = joints[..., 1:, :] - joints[..., parents[1:], :]
    torch.testing.assert_close(bones.norm(dim=-1), offsets[1:].norm(dim=-1).expand(3, 5, J - 1))
    # batched offsets give the same answer as broadcast ones
    joints_b, _ = K.forward_kinematics(R_rel, offsets.expand(3, 5, J, 3), parents, root)
    torch.testing.assert_close(joints_b, joints)


def test_fk_identity_rotations_give_rest_pose():
    rest = torch.randn(len(SMPL_PARENTS), 3, dtype=torch.float64)
    offsets = torch.cat([torch.zeros(1, 3, dtype=torch.float64), rest[1:] - rest[SMPL_PARENTS[1:]]])
    eye = torch.eye(3, dtype=torch.float64).expand(len(SMPL_PARENTS), 3, 3)
    joints, _ = K.forward_kinematics(eye, offsets, SMPL_PARENTS, root_translation=rest[0])
    torch.testing.assert_close(joints, rest)


def test_fk_gradients_and_dtype():
    torch.manual_seed(5)
    parents = [-1, 0, 1, 1, 3]
    R = roma.random_rotmat((2, 5), dtype=torch.float64).requires_grad_(True)
    offsets = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    fk = lambda r, o: K.forward_kinematics(r, o, parents)[0]  # noqa: E731
    assert torch.autograd.gradcheck(fk, (R, offsets))
    joints, G = K.forward_kinematics(R.detach().float(), offsets.detach().float(), parents)
    assert joints.dtype == torch.float32 and G.dtype == torch.float32


def test_fk_follows_the_device(device):  # device: tests/conftest.py (cpu, cuda if any)
    gen = torch.Generator().manual_seed(6)
    R = roma.random_rotmat((3, len(CMU_PARENTS)), dtype=torch.float64, generator=gen)
    offsets = torch.randn(len(CMU_PARENTS), 3, generator=gen, dtype=torch.float64)
    root = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    joints, G = K.forward_kinematics(R.to(device), offsets.to(device), CMU_PARENTS, root.to(device))
    assert joints.device == device and G.device == device
    ref_joints, ref_G = K.forward_kinematics(R, offsets, CMU_PARENTS, root)
    torch.testing.assert_close(joints.cpu(), ref_joints, atol=1e-12, rtol=0)
    torch.testing.assert_close(G.cpu(), ref_G, atol=1e-12, rtol=0)


def test_depth_levels_chains_smpl():
    assert K.depth(SMPL_PARENTS)[:16] == [0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 5]
    lv = K.levels(SMPL_PARENTS)
    assert lv[0] == [0] and lv[1] == [1, 2, 3] and sum(len(x) for x in lv) == 24 and len(lv) == 9
    names = ["pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
             "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
             "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
             "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand"]
    ch = K.chains(SMPL_PARENTS, names)
    assert set(ch) == {"left_foot", "right_foot", "head", "left_hand", "right_hand"}
    assert ch["head"] == [0, 3, 6, 9, 12, 15]
    assert ch["left_foot"] == [0, 1, 4, 7, 10]
    assert ch["right_hand"] == [0, 3, 6, 9, 14, 17, 19, 21, 23]
    assert K.chains(SMPL_PARENTS, names, ends=["left_knee", 15]) == {
        "left_knee": [0, 1, 4], "head": [0, 3, 6, 9, 12, 15]}
    assert K.chains([-1, 0, 0]) == {"1": [0, 1], "2": [0, 2]}
    with pytest.raises(ValueError, match="unknown end joint"):
        K.chains(SMPL_PARENTS, names, ends=["nose"])


@pytest.mark.parametrize(
    "parents, match",
    [
        ([0, 0, 1], "parents\\[0\\] must be -1"),
        ([-1, 2, 0], "topologically ordered"),
        ([-1, 0, 2], "topologically ordered"),
        ([-1, -1, 0], "topologically ordered"),
        ([], "empty"),
    ],
)
def test_invalid_parents_raise(parents, match):
    with pytest.raises(ValueError, match=match):
        K.validate_parents(parents)
    if parents:
        R = torch.eye(3).expand(len(parents), 3, 3)
        with pytest.raises(ValueError, match=match):
            K.relative_to_global(R, parents)
        with pytest.raises(ValueError, match=match):
            K.forward_kinematics(R, torch.zeros(len(parents), 3), parents)


def test_shape_errors():
    with pytest.raises(ValueError, match="shape"):
        K.relative_to_global(torch.eye(3).expand(4, 3, 3), [-1, 0, 1])
    with pytest.raises(ValueError, match="offsets"):
        K.forward_kinematics(torch.eye(3).expand(3, 3, 3), torch.zeros(2, 3), [-1, 0, 1])
    # parents as a tensor are accepted
    assert K.depth(torch.tensor([-1, 0, 1])) == [0, 1, 2]
