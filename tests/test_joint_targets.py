"""Joint-only supervision of the image regressors (posebook.models.joint_targets): the labels' checks and
the loss against CLIFF Eq. 7-8 placed and projected by hand."""

from __future__ import annotations

import pytest
import roma
import torch

from posebook.body.anny_skeleton import AnnySkeleton
from posebook.body.models import shared_anny_body
from posebook.models.cliff import VARIANTS
from posebook.models.hmr import HMROutput
from posebook.models.joint_targets import JointTargets, joint_losses


@pytest.fixture(scope="module")
def skeleton():
    return AnnySkeleton(shared_anny_body("cpu"))


def _prediction(n: int = 4, seed: int = 0) -> HMROutput:
    g = torch.Generator().manual_seed(seed)
    R = roma.rotvec_to_rotmat(0.2 * torch.randn(n, 31, 3, generator=g))
    R[:, 0] = roma.rotvec_to_rotmat(torch.tensor([torch.pi, 0.0, 0.0])) @ R[:, 0]  # facing the camera, upright in y-down
    cam = torch.tensor([0.9, 0.05, -0.1]).expand(n, 3) + 0.05 * torch.randn(n, 3, generator=g)
    return HMROutput(R, torch.rand(n, 6, generator=g), cam, torch.zeros(n, 195))


def _targets_from(out: HMROutput, skeleton: AnnySkeleton) -> JointTargets:
    """Labels that the prediction ``out`` fits exactly: its H36M-17 joints, placed by CLIFF Eq. 7 written out
    here (t_Z = 2 f / (b s), t_X = t_x + (c_x - W / 2) t_Z / f, likewise Y) and projected by K X / Z."""
    n = out.cam.shape[0]
    heads, _ = skeleton(out.rotations, out.shape)
    joints = skeleton.joints(out.rotations, out.shape, "h36m17")
    K = torch.tensor([[1000.0, 0.0, 320.0], [0.0, 1000.0, 240.0], [0.0, 0.0, 1.0]]).expand(n, 3, 3)
    size = torch.tensor([640.0, 480.0]).expand(n, 2)
    centre = torch.tensor([[300.0, 250.0]]).expand(n, 2) + torch.arange(n)[:, None] * 10.0
    b = torch.full((n,), 200.0)
    f = 1000.0
    s, tx, ty = out.cam.unbind(-1)
    tz = 2 * f / (b * s)
    t = torch.stack([tx + (centre[:, 0] - 320.0) * tz / f, ty + (centre[:, 1] - 240.0) * tz / f, tz], dim=-1)
    X = joints - heads[:, :1] + t[:, None]
    uv = f * X[..., :2] / X[..., 2:] + torch.tensor([320.0, 240.0])
    return JointTargets(images=torch.zeros(n, 8, 8, 3, dtype=torch.uint8), joints=joints - joints[:, :1], uv=uv,
                        K=K, image_size=size, bbox_center=centre, bbox_size=b).validate()


def test_the_loss_is_zero_on_labels_the_prediction_fits_and_its_3d_term_is_the_mse_by_hand(skeleton):
    out = _prediction()
    targets = _targets_from(out, skeleton)
    for variant in ("cliff", "hmr"):
        terms = joint_losses(skeleton, out, targets, VARIANTS[variant])
        assert terms["keypoints_3d"] < 1e-12
    assert joint_losses(skeleton, out, targets, VARIANTS["cliff"])["keypoints_2d"] < 1e-9  # Eq. 9: full frame
    moved = targets.take(torch.arange(len(targets)))
    moved.joints = moved.joints.clone()
    moved.joints[:, 1:] += 0.01  # every joint but the pelvis, by 1 cm along each axis
    terms = joint_losses(skeleton, out, moved, VARIANTS["cliff"])
    assert torch.isclose(terms["keypoints_3d"], torch.tensor(16 / 17 * 1e-4), rtol=1e-4)
    assert torch.isclose(terms["loss"], 5 * terms["keypoints_3d"] + 5 * terms["keypoints_2d"])


def test_the_loss_reaches_every_predicted_number(skeleton):
    out = _prediction()
    targets = _targets_from(_prediction(seed=1), skeleton)
    leaves = [out.rotations.requires_grad_(), out.shape.requires_grad_(), out.cam.requires_grad_()]
    joint_losses(skeleton, out, targets, VARIANTS["cliff"])["loss"].backward()
    assert all(leaf.grad is not None and leaf.grad.abs().sum() > 0 for leaf in leaves)


def test_bad_labels_are_refused_with_the_sample(skeleton):
    targets = _targets_from(_prediction(), skeleton)
    with pytest.raises(ValueError, match=r"joints must be \(N, 17, 3\)"):
        JointTargets(**{**vars(targets), "joints": targets.joints[:, :14]}).validate()
    uv = targets.uv.clone()
    uv[2, 5] = float("nan")
    with pytest.raises(ValueError, match="sample 2 of 4: uv is not finite"):
        JointTargets(**{**vars(targets), "uv": uv}).validate()
    b = targets.bbox_size.clone()
    b[1] = 0.0
    with pytest.raises(ValueError, match="sample 1 of 4: bbox_size"):
        JointTargets(**{**vars(targets), "bbox_size": b}).validate()
