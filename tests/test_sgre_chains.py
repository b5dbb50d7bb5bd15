"""Tests for posebook.analysis.chains: errors along kinematic chains (SGRE Eq. 8 / 10, Fig. 1b, Fig. 4).

The error measures are checked against a hand-built skeleton whose positions and angles are worked
out by hand; the noise injection against its defining property (global noise: every global error is
the injected angle; relative noise: the errors add up down the chain, Eq. 8) and by statistics with
a fixed seed and margins of several standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import roma
import torch

from posebook.analysis import chains as C
from posebook.body import kinematics
from posebook.body.skeletons import ANNY_CMU_MB, ANNY_CMU_MB_PARENTS
from posebook.geometry.rotations import geodesic_distance

# ----------------------------------------------------------------------- a hand-built skeleton
#
#   a (root) -> b -> c -> d     a line of 0.1 m bones along x
#               b -> e          a branch of 0.1 m along y
#
# Sample 0 bends at b by 90 deg about z and at d by 30 deg about z; sample 1 is the ground truth.
# With the pivot of rotation j at joint j (bone heads):
#   gt:   a (0, 0), b (0.1, 0), c (0.2, 0), d (0.3, 0), e (0.1, 0.1)
#   pred: G = (I, Rz90, Rz90, Rz120, Rz90); a (0, 0), b (0.1, 0), c = b + Rz90 (0.1, 0) = (0.1, 0.1),
#         d = c + Rz90 (0.1, 0) = (0.1, 0.2), e = b + Rz90 (0, 0.1) = (0, 0)
#   position errors (mm): a 0, b 0, c |(-0.1, 0.1)| = 141.42, d |(-0.2, 0.2)| = 282.84, e 141.42
#   global errors (deg):  a 0, b 90, c 90, d 120, e 90;  relative (deg): a 0, b 90, c 0, d 30, e 0

PARENTS = (-1, 0, 1, 2, 1)
NAMES = ("a", "b", "c", "d", "e")
CHAINS = {"a->d": "d", "a->e": "e"}
OFFSETS = torch.tensor([[0, 0, 0], [0.1, 0, 0], [0.1, 0, 0], [0.1, 0, 0], [0, 0.1, 0]], dtype=torch.float64)


def _rz(deg: float) -> torch.Tensor:
    return roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, math.radians(deg)], dtype=torch.float64))


def _hand_built(device: torch.device):
    eye = torch.eye(3, dtype=torch.float64)
    gt_rel = eye.expand(2, 5, 3, 3).clone()
    pred_rel = gt_rel.clone()
    pred_rel[0, 1] = _rz(90)
    pred_rel[0, 3] = _rz(30)
    gt_joints = torch.tensor([[0, 0, 0], [0.1, 0, 0], [0.2, 0, 0], [0.3, 0, 0], [0.1, 0.1, 0]],
                             dtype=torch.float64).expand(2, 5, 3).clone()
    pred_joints = gt_joints.clone()
    pred_joints[0] = torch.tensor([[0, 0, 0], [0.1, 0, 0], [0.1, 0.1, 0], [0.1, 0.2, 0], [0, 0, 0]],
                                  dtype=torch.float64)
    # a root translation of the prediction must not count (root-aligned at joint 0)
    pred_joints = pred_joints + torch.tensor([[1.0, -2.0, 3.0], [0.5, 0.5, 0.5]], dtype=torch.float64)[:, None]
    return tuple(t.to(device) for t in (pred_rel, gt_rel, pred_joints, gt_joints))


def test_hand_built_positions_are_forward_kinematics():
    """The hand-written positions are what forward kinematics gives (pivots at the bone heads)."""
    pred_rel, gt_rel, pred_joints, gt_joints = _hand_built(torch.device("cpu"))
    for rel, joints in ((pred_rel, pred_joints), (gt_rel, gt_joints)):
        fk, _ = kinematics.forward_kinematics(rel, OFFSETS, PARENTS)
        assert torch.allclose(fk - fk[:, :1], joints - joints[:, :1], atol=1e-12)


def test_chain_errors_on_the_hand_built_skeleton(device):
    frame = C.chain_errors(*_hand_built(device), parents=PARENTS, names=NAMES, chains=CHAINS)
    assert list(frame.columns) == ["chain", "depth", "joint", "position_mm", "global_deg", "relative_deg"]
    assert list(frame["chain"]) == ["a->d"] * 4 + ["a->e"] * 3
    assert list(frame["joint"]) == ["a", "b", "c", "d", "a", "b", "e"]
    assert list(frame["depth"]) == [0, 1, 2, 3, 0, 1, 2]
    # sample 1 is exact, so every mean is half of sample 0's error
    r2 = 1000 * 0.1 * math.sqrt(2)
    np.testing.assert_allclose(frame["position_mm"], np.array([0, 0, r2, 2 * r2, 0, 0, r2]) / 2, atol=1e-9)
    np.testing.assert_allclose(frame["global_deg"], np.array([0, 90, 90, 120, 0, 90, 90]) / 2, atol=1e-6)
    np.testing.assert_allclose(frame["relative_deg"], np.array([0, 90, 0, 30, 0, 90, 0]) / 2, atol=1e-6)


def test_per_sample_errors_index_the_joint_errors(device):
    inputs = _hand_built(device)
    per = C.chain_errors_per_sample(*inputs, parents=PARENTS, names=NAMES, chains=CHAINS)
    assert list(per) == ["a->d", "a->e"]
    assert per["a->e"]["joints"].tolist() == [0, 1, 4]
    assert per["a->d"]["global_deg"].shape == (2, 4)
    torch.testing.assert_close(per["a->d"]["relative_deg"][0].cpu(),
                               torch.tensor([0.0, 90.0, 0.0, 30.0], dtype=torch.float64), atol=1e-6, rtol=0)
    assert float(per["a->d"]["position_mm"][1].abs().max()) < 1e-9  # the exact sample
    full = C.joint_errors(*inputs, parents=PARENTS)
    assert all(v.shape == (2, 5) for v in full.values())
    torch.testing.assert_close(full["global_deg"][:, [0, 1, 4]], per["a->e"]["global_deg"])


def test_sgre_chains_on_the_cmu_mb_rig():
    paths = C.resolve_chains()
    names = {label: [ANNY_CMU_MB[j] for j in path] for label, path in paths.items()}
    assert names["root->head"] == ["Hips", "LowerBack", "Spine", "Spine1", "Neck", "Neck1", "Head"]
    assert names["root->toe"] == ["Hips", "LHipJoint", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase"]
    assert names["root->hand"] == ["Hips", "LowerBack", "Spine", "Spine1", "LeftShoulder", "LeftArm",
                                   "LeftForeArm", "LeftHand"]
    for path in paths.values():  # each is a parent chain
        assert all(ANNY_CMU_MB_PARENTS[child] == parent for parent, child in zip(path[:-1], path[1:]))


# ----------------------------------------------------------------------------------------- noise


def _random_pose(n: int, seed: int = 1) -> torch.Tensor:
    """(n, 31, 3, 3) relative rotations of moderate angles (up to ~40 deg) on the cmu_mb rig."""
    g = torch.Generator().manual_seed(seed)
    return roma.rotvec_to_rotmat(0.4 * torch.randn(n, 31, 3, generator=g, dtype=torch.float64))


def test_noise_rotations_have_the_drawn_angles():
    E, theta = C.noise_rotations((4000,), 10.0, torch.Generator().manual_seed(0))
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(geodesic_distance(eye, E), theta, atol=1e-10, rtol=0)
    # |N(0, sigma)|: mean sigma sqrt(2/pi), sd sigma sqrt(1 - 2/pi); 4000 draws -> se 0.095 deg
    mean = math.degrees(float(theta.mean()))
    assert abs(mean - 10 * math.sqrt(2 / math.pi)) < 0.5
    axes = roma.rotmat_to_rotvec(E) / theta[:, None]
    assert float(axes.mean(0).norm()) < 0.1  # uniform axes average to ~0 (se ~0.016 per component)
    E2, theta2 = C.noise_rotations((4000,), 10.0, torch.Generator().manual_seed(0), angles="fixed")
    torch.testing.assert_close(theta2, torch.full_like(theta2, math.radians(10.0)))
    torch.testing.assert_close(geodesic_distance(eye, E2), theta2, atol=1e-10, rtol=0)


@pytest.mark.parametrize("angles", ["fixed", "half_normal"])
def test_global_noise_errors_are_the_injected_angles(angles):
    gt = _random_pose(64)
    pred = C.perturb_rotations(gt, ANNY_CMU_MB_PARENTS, 7.0, "global", torch.Generator().manual_seed(3),
                               angles=angles)
    _, theta = C.noise_rotations((64, 31), 7.0, torch.Generator().manual_seed(3), angles=angles)
    zero = torch.zeros(64, 31, 3, dtype=torch.float64)
    errors = C.joint_errors(pred, gt, zero, zero)
    torch.testing.assert_close(errors["global_deg"], torch.rad2deg(theta), atol=1e-6, rtol=0)
    # Eq. 10 undone by Eq. 8: the perturbed globals are G E
    E, _ = C.noise_rotations((64, 31), 7.0, torch.Generator().manual_seed(3), angles=angles)
    G = kinematics.relative_to_global(gt, ANNY_CMU_MB_PARENTS)
    torch.testing.assert_close(kinematics.relative_to_global(pred, ANNY_CMU_MB_PARENTS), G @ E)
    # and with relative noise, the relative errors are the injected angles
    pred_rel = C.perturb_rotations(gt, ANNY_CMU_MB_PARENTS, 7.0, "relative", torch.Generator().manual_seed(3),
                                   angles=angles)
    torch.testing.assert_close(C.joint_errors(pred_rel, gt, zero, zero)["relative_deg"], torch.rad2deg(theta),
                               atol=1e-6, rtol=0)


def _noise_frame(where: str, n: int = 3000, sigma: float = 5.0) -> pd.DataFrame:
    gt = _random_pose(n)
    pred = C.perturb_rotations(gt, ANNY_CMU_MB_PARENTS, sigma, where, torch.Generator().manual_seed(0))
    # positions by forward kinematics on unit-free rest offsets: 0.1 m bones along -y
    offsets = torch.zeros(31, 3, dtype=torch.float64)
    offsets[1:, 1] = -0.1
    pred_joints, _ = kinematics.forward_kinematics(pred, offsets, ANNY_CMU_MB_PARENTS)
    gt_joints, _ = kinematics.forward_kinematics(gt, offsets, ANNY_CMU_MB_PARENTS)
    return C.chain_errors(pred, gt, pred_joints, gt_joints)


def test_relative_noise_accumulates_and_global_noise_does_not():
    """SGRE Fig. 1b: relative noise -> global errors grow down the chain (Eq. 8); global noise -> flat."""
    sigma = 5.0
    mean_angle = sigma * math.sqrt(2 / math.pi)  # 3.99 deg; se of a mean over 3000: ~0.04 deg
    rel, glob = _noise_frame("relative"), _noise_frame("global")
    for label in C.SGRE_CHAINS:
        r = rel[rel["chain"] == label]["global_deg"].to_numpy()
        g = glob[glob["chain"] == label]["global_deg"].to_numpy()
        assert np.all(np.diff(r) > 0), (label, r)  # strictly growing with depth
        # a random walk of L steps: ~sqrt(L) x one step (small angles); > 2x for L >= 6
        assert r[-1] > 2.0 * r[0], (label, r)
        assert abs(r[0] - mean_angle) < 0.3
        np.testing.assert_allclose(g, mean_angle, atol=0.3)  # flat at the injected mean angle
        # the relative errors: flat at the injected angle (relative noise), larger under global noise
        np.testing.assert_allclose(rel[rel["chain"] == label]["relative_deg"], mean_angle, atol=0.3)
        assert np.all(glob[glob["chain"] == label]["relative_deg"].to_numpy()[1:] > 1.3 * mean_angle)
        # positions: 0 at the root, larger at the end of the chain under relative noise
        pr = rel[rel["chain"] == label]["position_mm"].to_numpy()
        pg = glob[glob["chain"] == label]["position_mm"].to_numpy()
        assert pr[0] == 0 and pg[0] == 0
        assert pr[-1] > 1.3 * pg[-1], (label, pr, pg)


# ------------------------------------------------------------------------------------- bad input


def test_unknown_chain_end_lists_the_valid_names():
    inputs = _hand_built(torch.device("cpu"))
    with pytest.raises(ValueError, match=r"unknown chain end joint.*'z'.*\['a', 'b', 'c', 'd', 'e'\]"):
        C.chain_errors(*inputs, parents=PARENTS, names=NAMES, chains={"a->z": "z"})
    with pytest.raises(ValueError, match=r"unknown chain end joint.*'LeftToe'.*'LeftToeBase'"):
        C.resolve_chains(chains={"root->toe": "LeftToe"})
    with pytest.raises(ValueError, match="names has 4 entries but parents has 5"):
        C.chain_errors(*inputs, parents=PARENTS, names=NAMES[:4], chains=CHAINS)


def test_parents_out_of_topological_order_are_refused():
    inputs = _hand_built(torch.device("cpu"))
    with pytest.raises(ValueError, match="topologically ordered"):
        C.chain_errors(*inputs, parents=(-1, 0, 3, 1, 1), names=NAMES, chains=CHAINS)
    with pytest.raises(ValueError, match="topologically ordered"):
        C.perturb_rotations(inputs[1], (-1, 0, 3, 1, 1), 5.0, "global")


def test_wrong_joint_count_names_the_argument_and_the_shape():
    pred_rel, gt_rel, pred_joints, gt_joints = _hand_built(torch.device("cpu"))
    with pytest.raises(ValueError, match=r"pred_rel must have shape \(N, 5, 3, 3\).*\(2, 4, 3, 3\)"):
        C.chain_errors(pred_rel[:, :4], gt_rel, pred_joints, gt_joints, PARENTS, NAMES, CHAINS)
    with pytest.raises(ValueError, match=r"gt_joints must have shape \(N, 5, 3\)"):
        C.chain_errors(pred_rel, gt_rel, pred_joints, gt_joints[:, :, :2], PARENTS, NAMES, CHAINS)
    with pytest.raises(ValueError, match="same N samples"):
        C.chain_errors(pred_rel, gt_rel[:1], pred_joints, gt_joints, PARENTS, NAMES, CHAINS)
    # the default skeleton is the 31-joint cmu_mb rig
    with pytest.raises(ValueError, match=r"pred_rel must have shape \(N, 31, 3, 3\)"):
        C.chain_errors(pred_rel, gt_rel, pred_joints, gt_joints)
    with pytest.raises(ValueError, match=r"R_rel must have shape \(\.\.\., 31, 3, 3\)"):
        C.perturb_rotations(gt_rel, ANNY_CMU_MB_PARENTS, 5.0)


def test_bad_noise_settings_and_non_rotations_are_refused():
    _, gt_rel, pred_joints, gt_joints = _hand_built(torch.device("cpu"))
    with pytest.raises(ValueError, match="where must be one of"):
        C.perturb_rotations(gt_rel, PARENTS, 5.0, "local")
    with pytest.raises(ValueError, match="sigma_deg must be a finite angle >= 0"):
        C.perturb_rotations(gt_rel, PARENTS, -1.0)
    with pytest.raises(ValueError, match="angles must be one of"):
        C.perturb_rotations(gt_rel, PARENTS, 5.0, angles="uniform")
    scaled = gt_rel.clone()
    scaled[0, 2] *= 1.1
    with pytest.raises(ValueError, match="R_rel must hold rotation matrices"):
        C.perturb_rotations(scaled, PARENTS, 5.0)
    with pytest.raises(ValueError, match="pred_rel must hold rotation matrices"):
        C.chain_errors(scaled, gt_rel, pred_joints, gt_joints, PARENTS, NAMES, CHAINS)
