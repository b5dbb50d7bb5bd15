"""CLIFF's model pieces: the crop camera and Eq. 1 / 7-9 against independent projections, the HMR
regressor, the losses at the ground truth, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from posebook.geometry import camera
from posebook.geometry.rotations import matrix_to_6d, random_rotation
from posebook.models import cliff, hmr
from posebook.models.backbones import make_backbone, normalize_images


def _scene(n: int = 8, seed: int = 0, depth: float = 4.0):
    """n random bodies (J = 12 joints within 0.8 m of the root) in front of a 640 x 480 camera, with the
    square bbox of their projected joints; everything an :class:`ImageTargets` holds but the images."""
    g = torch.Generator().manual_seed(seed)
    W, H = 640.0, 480.0
    f = 500.0 + 400.0 * torch.rand(n, generator=g, dtype=torch.float64)
    K = camera.intrinsics(f, torch.tensor([W / 2, H / 2], dtype=torch.float64).expand(n, 2))
    root = torch.stack([2 * torch.rand(n, generator=g, dtype=torch.float64) - 1,
                        torch.rand(n, generator=g, dtype=torch.float64) - 0.5,
                        depth + torch.rand(n, generator=g, dtype=torch.float64)], dim=1)
    joints = 0.8 * (2 * torch.rand(n, 12, 3, generator=g, dtype=torch.float64) - 1)
    joints[:, 0] = 0
    uv = camera.project(joints + root[:, None], K)
    center, size = camera.bbox_from_points(uv, 1.2)
    t = cliff.ImageTargets(images=torch.zeros(n, 8, 8, 3, dtype=torch.uint8),
                           rotations=torch.eye(3, dtype=torch.float64).expand(n, 31, 3, 3),
                           shape=torch.full((n, 6), 0.5, dtype=torch.float64), joints=joints, uv=uv, K=K,
                           image_size=torch.tensor([[W, H]], dtype=torch.float64).expand(n, 2),
                           bbox_center=center, bbox_size=size, root=root)
    return t


def test_crop_camera_inverts_eq7_and_reprojects_exactly():
    """The crop camera of the true translation, sent through Eq. 7 and projected (Eq. 8), gives back the
    translation and the keypoints: Eq. 7 is exact for the full-frame camera (principal point at the centre)."""
    t = _scene()
    cam = hmr.crop_camera(t.root, t.K, t.bbox_center, t.bbox_size)
    back = camera.cam_crop_to_full(cam, t.bbox_center, t.bbox_size, t.image_size, t.focal)
    torch.testing.assert_close(back, t.root, atol=1e-12, rtol=0)
    torch.testing.assert_close(cliff.project_full(t.joints, cam, t), t.uv, atol=1e-9, rtol=0)


def test_eq1_crop_projection_is_weak_perspective_up_to_depth():
    """Eq. 1-2: with f = 5000 the crop projection is the weak perspective s (X + t_x) up to a factor
    1 / (1 + s Z / F), F = 2 f / r; for a flat body (Z = 0) they agree exactly."""
    t = _scene()
    cam = hmr.crop_camera(t.root, t.K, t.bbox_center, t.bbox_size)
    flat = t.joints.clone()
    flat[..., 2] = 0
    weak = cam[:, None, :1] * (flat[..., :2] + cam[:, None, 1:])
    torch.testing.assert_close(cliff.project_crop(flat, cam), weak, atol=1e-12, rtol=0)
    F = 2 * cliff.HMR_FOCAL / cliff.HMR_CROP
    expected = cam[:, None, :1] * (t.joints[..., :2] + cam[:, None, 1:]) / (1 + cam[:, None, :1] * t.joints[..., 2:] / F)
    torch.testing.assert_close(cliff.project_crop(t.joints, cam), expected, atol=1e-12, rtol=1e-12)


def test_crop_supervision_misreads_off_centre_subjects_full_does_not():
    """What CS is about: the crop keypoints of the true pose and camera differ from the real ones (HMR's
    virtual camera looks along the optical axis, the real one sees the subject at an angle); the
    full-frame projection matches them. The crop error grows with the distance from the image centre."""
    t = _scene(n=64, depth=2.0)
    cam = hmr.crop_camera(t.root, t.K, t.bbox_center, t.bbox_size)
    half = 0.5 * t.bbox_size[:, None, None]
    crop_err = (cliff.project_crop(t.joints, cam) - (t.uv - t.bbox_center[:, None]) / half).norm(dim=-1).mean(-1)
    full_err = ((cliff.project_full(t.joints, cam, t) - t.uv) / half).norm(dim=-1).mean(-1)
    assert float(full_err.max()) < 1e-9
    assert float(crop_err.mean()) > 0.01
    off = (t.bbox_center - 0.5 * t.image_size).norm(dim=1)
    assert float(torch.corrcoef(torch.stack([off, crop_err]))[0, 1]) > 0.3


def test_losses_vanish_at_the_ground_truth():
    from posebook.body.anny_skeleton import AnnySkeleton  # noqa: F401 (the skeleton is duck-typed below)

    from posebook.body import joints as joint_sets

    t = _scene()
    # 31 heads and tails whose cmu31 joints (heads of children / tails of leaves, ASF root = head:LowerBack)
    # are random: build them, then the targets' joints from them
    g = torch.Generator().manual_seed(5)
    heads = 0.5 * torch.randn(len(t), 31, 3, generator=g, dtype=torch.float64)
    tails = 0.5 * torch.randn(len(t), 31, 3, generator=g, dtype=torch.float64)
    t.joints = joint_sets.convert_joints(heads, "cmu31", tails=tails) - heads[:, :1]
    t.uv = camera.project(t.joints + t.root[:, None], t.K)

    class Skeleton:  # forward kinematics stand-in: heads and tails whose cmu31 joints are the targets'
        def __call__(self, rotations, shape):
            return heads, tails

    cam = hmr.crop_camera(t.root, t.K, t.bbox_center, t.bbox_size)
    out = hmr.HMROutput(t.rotations, t.shape, cam, torch.zeros(len(t), 1))
    terms = cliff.losses(Skeleton(), out, t, cliff.VARIANTS["cliff"])
    assert float(terms["loss"]) < 1e-18
    crop = cliff.losses(Skeleton(), out, t, cliff.VARIANTS["hmr"])
    assert float(crop["keypoints_2d"]) > 1e-6  # HMR's crop camera cannot reproduce the real projection
    assert float(crop["keypoints_3d"]) < 1e-18


def test_bbox_input_variants():
    t = _scene()
    assert cliff.bbox_input(cliff.VARIANTS["hmr"], t) is None
    paper = cliff.bbox_input(cliff.VARIANTS["cliff"], t)
    torch.testing.assert_close(paper[:, 2], t.bbox_size / t.focal)
    torch.testing.assert_close(paper[:, :2], (t.bbox_center - 0.5 * t.image_size) / t.focal[:, None])
    demo = cliff.bbox_input(cliff.Variant("demo", "full"), t)
    torch.testing.assert_close(demo[:, 2], (t.bbox_size / t.focal - 0.24) / 0.06)
    assert [v.label for v in cliff.VARIANTS.values()] == ["CLIFF w/o CI & CS (HMR)", "CLIFF w/o CI", "CLIFF",
                                                          "CLIFF w/o CS"]


@pytest.mark.parametrize("field, value, message", [
    ("bbox_size", 0.0, "bbox_size = 0.0"),
    ("bbox_size", math.nan, "bbox_size = nan"),
    ("focal", -1.0, "focal = -1.0"),
    ("outside", None, "wholly outside"),
])
def test_targets_refuse_bad_boxes_and_focals(field, value, message):
    t = _scene()
    if field == "bbox_size":
        t.bbox_size[3] = value
    elif field == "focal":
        t.K = t.K.clone()
        t.K[3, 0, 0] = t.K[3, 1, 1] = value
    else:
        t.bbox_center = t.bbox_center.clone()
        t.bbox_center[3] = torch.tensor([-1000.0, 100.0], dtype=torch.float64)
    with pytest.raises(ValueError, match=f"sample 3 of 8: .*{message}" if field != "outside" else message):
        t.validate()


def test_targets_accept_a_bbox_partly_outside_and_refuse_empty_keypoints():
    t = _scene()
    t.bbox_center = t.bbox_center.clone()
    t.bbox_center[0] = torch.tensor([5.0, 5.0], dtype=torch.float64)  # corner bbox: partly outside
    t.validate()
    t.uv = t.uv[:, :0]
    with pytest.raises(ValueError, match="empty keypoint set"):
        t.validate()


def test_variant_refuses_unknown_switches():
    with pytest.raises(ValueError, match="bbox_input must be one of"):
        cliff.Variant("plain", "full")
    with pytest.raises(ValueError, match="supervision must be one of"):
        cliff.Variant("paper", "image")


# ------------------------------------------------------------------------------ the regressor


def _x0() -> torch.Tensor:
    R = random_rotation(50, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rot = R[:, None].expand(50, 31, 3, 3)
    return hmr.mean_parameters(rot, torch.full((50, 6), 0.4, dtype=torch.float64), torch.tensor([[0.9, 0.0, 0.1]] * 50))


def test_mean_parameters_is_the_chordal_mean_and_decodes_back():
    same = torch.eye(3, dtype=torch.float64).expand(10, 31, 3, 3)
    x0 = hmr.mean_parameters(same, torch.full((10, 6), 0.25, dtype=torch.float64), torch.ones(10, 3))
    torch.testing.assert_close(x0[:hmr.POSE_DIM], matrix_to_6d(torch.eye(3, dtype=torch.float64)).repeat(31))
    out = hmr.decode(x0[None].float())
    torch.testing.assert_close(out.rotations[0], torch.eye(3).expand(31, 3, 3), atol=1e-6, rtol=0)
    torch.testing.assert_close(out.shape[0], torch.full((6,), 0.25), atol=1e-6, rtol=0)
    torch.testing.assert_close(out.cam[0], torch.ones(3))


def test_iterative_regressor_starts_near_the_mean_and_checks_its_extra_input():
    torch.manual_seed(0)
    x0 = _x0()
    head = hmr.IterativeRegressor(16, 3, x0, hidden=1024).eval()
    with torch.no_grad():
        out = head(torch.randn(4, 16), torch.randn(4, 3))
    assert out.shape == (4, x0.numel())
    # decoder weights start at gain 0.01; their biases keep PyTorch's default, |b| <= 1 / sqrt(1024), x 3 iterations
    assert float((out - x0.float()).abs().max()) < 3 / 32 + 0.02
    with pytest.raises(ValueError, match=r"extra inputs of shape \(4, 3\)"):
        head(torch.randn(4, 16))
    with pytest.raises(ValueError, match="x0 must be"):
        hmr.IterativeRegressor(16, 0, torch.zeros(10))
    # fc1 -> fc2 has no nonlinearity (SPIN / CLIFF code): the head is affine in the input at one iteration
    lin = hmr.IterativeRegressor(16, 0, x0, hidden=32, iterations=1, dropout=0.0).eval()
    a, b = torch.randn(2, 16), torch.randn(2, 16)
    torch.testing.assert_close(lin(0.5 * (a + b)), 0.5 * (lin(a) + lin(b)), atol=1e-5, rtol=1e-5)


def test_image_regressor_end_to_end_shapes():
    torch.manual_seed(0)
    backbone = make_backbone("small", width=8)
    model = hmr.ImageRegressor(backbone, hmr.IterativeRegressor(backbone.feature_dim, 3, _x0(), hidden=32)).eval()
    out = model(torch.randint(0, 255, (2, 64, 64, 3), dtype=torch.uint8), torch.zeros(2, 3))
    assert out.rotations.shape == (2, 31, 3, 3) and out.shape.shape == (2, 6) and out.cam.shape == (2, 3)
    RtR = out.rotations.transpose(-1, -2) @ out.rotations
    torch.testing.assert_close(RtR, torch.eye(3).expand_as(RtR), atol=1e-5, rtol=0)


def test_backbones():
    with pytest.raises(ValueError, match="unknown backbone"):
        make_backbone("vgg")
    with pytest.raises(ValueError, match="multiple of 8"):
        make_backbone("small", width=12)
    with pytest.raises(ValueError, match=r"\(B, H, W, 3\)"):
        normalize_images(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    assert make_backbone("small", width=16)(torch.zeros(1, 3, 64, 64)).shape == (1, 64)


@pytest.mark.parametrize("name, params, features", [("resnet18", 11_176_512, 512), ("resnet34", 21_284_672, 512),
                                                     ("resnet50", 23_508_032, 2048)])
def test_resnets_match_torchvision(name, params, features):
    """torchvision's documented sizes (11,689,512 / 21,797,672 / 25,557,032 parameters with the 1000-class
    classifier, which is features x 1000 + 1000); with torchvision importable, identical outputs from
    torchvision's weights."""
    net = make_backbone(name)
    assert net.feature_dim == features
    assert sum(p.numel() for p in net.parameters()) == params
    assert net.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, features)
    try:
        import torchvision
        reference = getattr(torchvision.models, name)(weights=None).eval()
    except Exception:  # not installed, or a CUDA build that does not load with this torch
        return
    missing, unexpected = net.net.load_state_dict(reference.state_dict(), strict=False)
    assert not missing and set(unexpected) == {"fc.weight", "fc.bias"}
    reference.fc = torch.nn.Identity()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(net.eval()(x), reference(x))
