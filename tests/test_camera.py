"""Tests for posebook.geometry.camera: each formula checked by a second route to the same pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation as ScipyRotation

from posebook.geometry.camera import (
    apply_homography,
    bbox_from_points,
    cam_crop_to_full,
    cliff_bbox_info,
    crop_intrinsics,
    crop_transform,
    default_focal,
    focal_from_fov,
    fov,
    intrinsics,
    perspective_encoding,
    perspective_homography,
    perspective_rotation,
    project,
    unproject,
    weak_perspective_to_translation,
)
from posebook.geometry.rotations import axis_angle_to_matrix, random_rotation

F64 = torch.float64



def _points(n: int, j: int, gen: torch.Generator, depth: float = 5.0) -> torch.Tensor:
    """(n, j, 3) body-sized point clouds in front of the camera, off-centre."""
    root = torch.rand(n, 1, 3, generator=gen, dtype=F64) * torch.tensor([4.0, 2.0, 4.0], dtype=F64)
    root = root + torch.tensor([-2.0, -1.0, depth], dtype=F64)
    return root + 0.5 * torch.randn(n, j, 3, generator=gen, dtype=F64)


def _camera(n: int, gen: torch.Generator) -> torch.Tensor:
    f = 800.0 + 600.0 * torch.rand(n, generator=gen, dtype=F64)
    pp = torch.tensor([960.0, 540.0], dtype=F64) + 20.0 * torch.randn(n, 2, generator=gen, dtype=F64)
    return intrinsics(f, pp)


# ----------------------------------------------------------------------------- intrinsics, FOV


def test_intrinsics_hand_case_and_broadcast():
    K = intrinsics(1000.0, torch.tensor([320.0, 240.0], dtype=F64))
    expected = torch.tensor([[1000.0, 0, 320], [0, 1000, 240], [0, 0, 1]], dtype=F64)
    torch.testing.assert_close(K, expected, atol=0, rtol=0)
    Kb = intrinsics(torch.tensor([1.0, 2.0, 3.0], dtype=F64), torch.tensor([5.0, 6.0], dtype=F64))
    assert Kb.shape == (3, 3, 3)
    torch.testing.assert_close(Kb[:, 0, 0], torch.tensor([1.0, 2.0, 3.0], dtype=F64))
    torch.testing.assert_close(Kb[:, 1, 2], torch.full((3,), 6.0, dtype=F64))


def test_fov_hand_case_and_inverse():
    # f = w / 2 sees 45 deg on each side.
    assert fov(torch.tensor(500.0, dtype=F64), 1000.0).item() == pytest.approx(math.pi / 2, abs=1e-15)
    assert fov(500.0, 1000.0).dtype == torch.get_default_dtype()  # python numbers only
    f = torch.tensor([300.0, 1000.0, 5000.0], dtype=F64)
    torch.testing.assert_close(focal_from_fov(fov(f, 1920.0), 1920.0), f, atol=1e-9, rtol=0)


def test_default_focal_is_53_13_not_55_degrees():
    """CLIFF: f = sqrt(W^2 + H^2) 'corresponds to a diagonal FOV of 55 deg' -- it is 53.13 deg."""
    sizes = torch.tensor([[1920.0, 1080.0], [640.0, 480.0], [1000.0, 1000.0], [1080.0, 1920.0]], dtype=F64)
    f = default_focal(sizes)
    torch.testing.assert_close(f, torch.from_numpy(np.hypot(sizes[:, 0].numpy(), sizes[:, 1].numpy())))
    diag_fov = torch.rad2deg(fov(f, sizes.norm(dim=-1)))
    torch.testing.assert_close(diag_fov, torch.full((4,), math.degrees(2 * math.atan(0.5)), dtype=F64))
    assert diag_fov[0].item() == pytest.approx(53.130102354, abs=1e-8)
    assert (55.0 - diag_fov > 1.8).all()
    # The focal that would give 55 deg is 3.9% shorter.
    f55 = focal_from_fov(math.radians(55.0), sizes.norm(dim=-1))
    torch.testing.assert_close(f55 / f, torch.full((4,), 0.5 / math.tan(math.radians(27.5)), dtype=F64))
    assert (f55 / f)[0].item() == pytest.approx(0.9605, abs=1e-4)


# ----------------------------------------------------------------------------- projection


def test_project_hand_case_and_unproject_round_trip(gen):
    K = intrinsics(1000.0, torch.tensor([320.0, 240.0], dtype=F64))
    X = torch.tensor([[[0.5, -0.25, 2.0], [0.0, 0.0, 4.0]]], dtype=F64)
    uv = project(X, K)
    torch.testing.assert_close(uv, torch.tensor([[[570.0, 115.0], [320.0, 240.0]]], dtype=F64))
    K = _camera(6, gen)
    X = _points(6, 17, gen)
    torch.testing.assert_close(unproject(project(X, K), X[..., 2], K), X, atol=1e-12, rtol=0)


# ----------------------------------------------------------------------------- crop (PersPose Eq. 3-4)


def test_crop_transform_maps_bbox_onto_crop():
    A = crop_transform(torch.tensor([700.0, 300.0], dtype=F64), 400.0, 256.0)
    corners = torch.tensor([[500.0, 100.0], [900.0, 500.0], [700.0, 300.0]], dtype=F64)
    expected = torch.tensor([[0.0, 0.0], [256.0, 256.0], [128.0, 128.0]], dtype=F64)
    torch.testing.assert_close(apply_homography(A, corners), expected, atol=1e-12, rtol=0)


def test_crop_intrinsics_equals_projection_then_crop(gen):
    K = _camera(8, gen)
    X = _points(8, 24, gen)
    center = project(X, K).mean(dim=-2) + 5.0 * torch.randn(8, 2, generator=gen, dtype=F64)
    size = 200.0 + 300.0 * torch.rand(8, generator=gen, dtype=F64)
    crop = 256.0
    K_crop = crop_intrinsics(K, center, size, crop)
    A = crop_transform(center, size, crop)
    torch.testing.assert_close(project(X, K_crop), apply_homography(A, project(X, K)), atol=1e-9, rtol=0)
    # Eq. 4: f_crop = f * crop / bbox (this is what forces s = crop / bbox in Eq. 3).
    torch.testing.assert_close(K_crop[:, 0, 0], K[:, 0, 0] * crop / size, atol=1e-12, rtol=0)
    # A 3D point on the bbox-centre ray lands on the crop centre.
    ray_point = unproject(center[:, None], torch.full((8, 1), 3.0, dtype=F64), K)
    crop_centre = torch.full((8, 2), crop / 2, dtype=F64)
    torch.testing.assert_close(project(ray_point, K_crop)[:, 0], crop_centre, atol=1e-9, rtol=0)


def test_perspose_eq3_literal_s_is_an_erratum():
    """Eq. 3 as printed (s = w_bbox / w_crop) does not map the bbox onto the crop."""
    center, b, r = torch.tensor([700.0, 300.0], dtype=F64), 400.0, 256.0
    s_paper = b / r
    A_paper = intrinsics(s_paper, r / 2 - s_paper * center)
    corner = torch.tensor([[900.0, 500.0]], dtype=F64)
    # bbox corner -> r/2 + s b/2 = 128 + 312.5, far outside the 256-pixel crop
    torch.testing.assert_close(apply_homography(A_paper, corner), torch.full((1, 2), 440.5, dtype=F64))
    A = crop_transform(center, b, r)
    torch.testing.assert_close(apply_homography(A, corner), torch.full((1, 2), 256.0, dtype=F64))


@pytest.mark.parametrize("bad", [0.0, -12.5])
def test_nonpositive_bbox_size_raises_with_value(bad):
    with pytest.raises(ValueError, match=rf"bbox_size must be > 0 pixels; got {bad}"):
        crop_intrinsics(torch.eye(3, dtype=F64), torch.tensor([1.0, 2.0], dtype=F64), bad, 256)
    with pytest.raises(ValueError, match=r"bbox_size.*\[-3\.0\] \(1 of 3 entries\)"):
        crop_transform(torch.zeros(3, 2), torch.tensor([10.0, -3.0, 4.0]), 256)
    with pytest.raises(ValueError, match="crop_size"):
        crop_transform(torch.zeros(2), 10.0, 0)


# ----------------------------------------------------------------------------- CLIFF


def test_cliff_bbox_info_hand_case():
    W, H, f = 1000.0, 500.0, 1000.0
    center, b = torch.tensor([700.0, 100.0], dtype=F64), 300.0
    paper = cliff_bbox_info(center, b, (W, H), f)
    torch.testing.assert_close(paper, torch.tensor([0.2, -0.15, 0.3], dtype=F64))
    demo = cliff_bbox_info(center, b, (W, H), f, normalization="demo")
    torch.testing.assert_close(demo, torch.tensor([0.56, -0.42, 1.0], dtype=F64))
    # Eq. 6: the first two entries are tan(gamma) of the bbox-centre ray.
    K = intrinsics(f, torch.tensor([W / 2, H / 2], dtype=F64))
    ray = unproject(center[None], torch.ones(1, dtype=F64), K)
    torch.testing.assert_close(paper[:2], ray[0, :2])
    with pytest.raises(ValueError, match="'paper' or 'demo'"):
        cliff_bbox_info(center, b, (W, H), f, normalization="h36m")


def _cliff_scene(gen: torch.Generator, n: int = 6):
    W, H = 1920.0, 1080.0
    image_size = torch.tensor([W, H], dtype=F64)
    f = default_focal(image_size).expand(n) * (0.7 + 0.6 * torch.rand(n, generator=gen, dtype=F64))
    K = intrinsics(f, image_size / 2)
    t = torch.rand(n, 3, generator=gen, dtype=F64) * torch.tensor([4.0, 2.0, 6.0], dtype=F64)
    t = t + torch.tensor([-2.0, -1.0, 3.0], dtype=F64)
    center = project(t[:, None], K)[:, 0] + 30.0 * torch.randn(n, 2, generator=gen, dtype=F64)
    b = 150.0 + 400.0 * torch.rand(n, generator=gen, dtype=F64)
    return image_size, f, K, t, center, b


def test_cam_crop_to_full_recovers_the_true_translation(gen):
    """The weak-perspective crop camera CLIFF implies, converted by Eq. 7, reprojects exactly.

    A subject with root-relative points P and root translation t is seen by the full-frame camera
    K = [[f, 0, W/2], [0, f, H/2], [0, 0, 1]]; the (arbitrary) bbox has centre c and side b.
    CLIFF's supplement (Fig. 1, Eq. 7.2) reads the crop camera [s, t_x, t_y] as: a 2 m box at the
    root depth t_z is b s pixels wide, so s = 2 f / (b t_z); and the crop maps its normalised
    coordinate s t_x of the root to the full-image pixel c_x + (b/2) s t_x, which must be the
    root's true projection u_root = f t_X / t_z + W/2, so t_x = 2 (u_root - c_x) / (b s).
    Substituting into Eq. 7: t_z^full = 2 f / (b s) = t_z and
    t_x^full = t_x + 2 (c_x - W/2) / (b s) = 2 (u_root - W/2) / (b s) = (f t_X / t_z) (t_z / f) = t_X.
    So cam_crop_to_full returns t and project(P + t_full, K) == project(P + t, K) identically.
    """
    image_size, f, K, t, center, b = _cliff_scene(gen)
    P = 0.4 * torch.randn(6, 17, 3, generator=gen, dtype=F64)
    root_uv = project(t[:, None], K)[:, 0]
    s = 2.0 * f / (b * t[:, 2])
    txy = 2.0 * (root_uv - center) / (b * s)[:, None]
    cam_crop = torch.cat((s[:, None], txy), dim=-1)
    t_full = cam_crop_to_full(cam_crop, center, b, image_size, f)
    torch.testing.assert_close(t_full, t, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(project(P + t_full[:, None], K), project(P + t[:, None], K), atol=1e-9, rtol=0)


def test_cam_crop_to_full_reproduces_the_weak_perspective_image(gen):
    """On the fronto-parallel plane through the root, Eq. 7's camera equals the crop's camera.

    Weak perspective in the crop: a root-relative point P has normalised crop coordinates
    s (P_xy + t_xy), i.e. crop pixel (r/2)(1 + s (P_xy + t_xy)), i.e. full pixel A^-1 of that
    = c + (b s / 2)(P_xy + t_xy). Perspective with t_full of Eq. 7 and P_z = 0:
    u = f (P_x + t_x + 2 (c_x - W/2) / (b s)) / (2 f / (b s)) + W/2 = c_x + (b s / 2)(P_x + t_x).
    Identical for any s, t_x, t_y; for P_z != 0 the two differ (that is CLIFF's point).
    """
    image_size, f, K, _, center, b = _cliff_scene(gen)
    r = 224.0
    s = 0.5 + 0.5 * torch.rand(6, 1, generator=gen, dtype=F64)
    cam_crop = torch.cat((s, 0.4 * torch.randn(6, 2, generator=gen, dtype=F64)), dim=-1)
    P = 0.5 * torch.randn(6, 17, 3, generator=gen, dtype=F64)
    planar = torch.cat((P[..., :2], torch.zeros_like(P[..., :1])), dim=-1)
    crop_px = 0.5 * r * (1.0 + cam_crop[:, None, :1] * (planar[..., :2] + cam_crop[:, None, 1:]))
    full_px = apply_homography(torch.linalg.inv(crop_transform(center, b, r)), crop_px)
    t_full = cam_crop_to_full(cam_crop, center, b, image_size, f)
    torch.testing.assert_close(project(planar + t_full[:, None], K), full_px, atol=1e-9, rtol=0)
    depth_effect = (project(P + t_full[:, None], K) - project(planar + t_full[:, None], K)).abs().max()
    assert depth_effect > 1.0  # pixels: the identity really needs the planar points


def test_cam_crop_to_full_z_equals_eq7_third_line(gen):
    """Eq. 7: t_z^full = t_z^crop (f / f_HMR) (r / b), with t_z^crop from HMR's Eq. 1."""
    image_size, f, _, _, center, b = _cliff_scene(gen)
    cam_crop = torch.tensor([0.8, 0.1, -0.2], dtype=F64).expand(6, 3)
    t_crop = weak_perspective_to_translation(cam_crop, focal=5000.0, crop_size=224.0)
    torch.testing.assert_close(t_crop[:, :2], cam_crop[:, 1:])
    torch.testing.assert_close(t_crop[:, 2], torch.full((6,), 2 * 5000.0 / (224.0 * 0.8), dtype=F64))
    t_full = cam_crop_to_full(cam_crop, center, b, image_size, f)
    torch.testing.assert_close(t_full[:, 2], t_crop[:, 2] * f / 5000.0 * 224.0 / b, atol=1e-12, rtol=1e-12)


# ----------------------------------------------------------------------------- PersPose PE (Eq. 7-9)


def _crop_K(gen: torch.Generator, n: int = 3) -> torch.Tensor:
    f = 300.0 + 500.0 * torch.rand(n, generator=gen, dtype=F64)
    pp = torch.tensor([128.0, 96.0], dtype=F64) + 80.0 * torch.randn(n, 2, generator=gen, dtype=F64)
    return intrinsics(f, pp)


def test_perspective_encoding_values_and_channel_order(gen):
    K = _crop_K(gen)
    height, width, stride = 192, 256, 4  # not square, so a transposition cannot pass
    pe = perspective_encoding(K, height, width, stride)
    assert pe.shape == (3, 2, 48, 64)
    for i, j in [(0, 0), (5, 17), (47, 63), (20, 3)]:
        u, v = (j + 0.5) * stride, (i + 0.5) * stride
        xyz = torch.linalg.solve(K, torch.tensor([u, v, 1.0], dtype=F64).expand(3, 3)[..., None])[..., 0]
        torch.testing.assert_close(pe[:, :, i, j], xyz[:, :2] / xyz[:, 2:], atol=1e-14, rtol=0)
    # x = channel 0 varies along the width only; y = channel 1 along the height only (not Eq. 9's layout).
    assert torch.equal(pe[:, 0], pe[:, 0, :1].expand_as(pe[:, 0]))
    assert torch.equal(pe[:, 1], pe[:, 1, :, :1].expand_as(pe[:, 1]))
    assert (pe[:, 0].diff(dim=-1) > 0).all() and (pe[:, 1].diff(dim=-2) > 0).all()


def test_perspective_encoding_cell_is_mean_of_its_pixel_centres(gen):
    """The stride-s cell value is the average of the full-resolution map over its s x s pixels."""
    K = _crop_K(gen)
    full = perspective_encoding(K, 192, 256, stride=1)
    pooled = torch.nn.functional.avg_pool2d(full, kernel_size=4)
    torch.testing.assert_close(perspective_encoding(K, 192, 256, stride=4), pooled, atol=1e-14, rtol=0)


def test_perspective_encoding_symmetric_for_centred_camera():
    K = intrinsics(300.0, torch.tensor([128.0, 96.0], dtype=F64))  # principal point at crop centre
    pe = perspective_encoding(K, 192, 256, 4)
    torch.testing.assert_close(pe[0].flip(-1), -pe[0], atol=1e-15, rtol=0)
    torch.testing.assert_close(pe[1].flip(-2), -pe[1], atol=1e-15, rtol=0)


def test_perspective_encoding_is_the_full_image_ray(gen):
    """PE of K_crop = A K at a cell = the full-image ray through A^-1 of that crop pixel."""
    K = _camera(2, gen)
    center = torch.tensor([[1200.0, 400.0], [300.0, 800.0]], dtype=F64)
    size = torch.tensor([350.0, 500.0], dtype=F64)
    K_crop = crop_intrinsics(K, center, size, 256)
    pe = perspective_encoding(K_crop, 256, 256, 4)
    crop_uv = torch.tensor([[(9 + 0.5) * 4, (30 + 0.5) * 4]], dtype=F64).expand(2, 1, 2)
    full_uv = apply_homography(torch.linalg.inv(crop_transform(center, size, 256)), crop_uv)
    ray = unproject(full_uv, torch.ones(2, 1, dtype=F64), K)[:, 0]
    torch.testing.assert_close(pe[:, :, 30, 9], ray[:, :2], atol=1e-13, rtol=0)


def test_perspective_encoding_rejects_bad_stride():
    with pytest.raises(ValueError, match="multiples of stride"):
        perspective_encoding(torch.eye(3), 250, 256, 4)


# ----------------------------------------------------------------------------- PersPose PR (Eq. 12-17)


def test_perspective_rotation_takes_the_bbox_ray_to_the_optical_axis(gen):
    K = _camera(10, gen)
    center = torch.rand(10, 2, generator=gen, dtype=F64) * torch.tensor([1920.0, 1080.0], dtype=F64)
    R = perspective_rotation(K, center)
    torch.testing.assert_close(R.mT @ R, torch.eye(3, dtype=F64).expand(10, 3, 3), atol=1e-13, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(10, dtype=F64), atol=1e-13, rtol=0)
    ray = unproject(center[:, None], torch.ones(10, 1, dtype=F64), K)[:, 0]
    r1 = ray / ray.norm(dim=-1, keepdim=True)
    e_z = torch.tensor([0.0, 0.0, 1.0], dtype=F64).expand(10, 3)
    torch.testing.assert_close((R @ r1[..., None])[..., 0], e_z, atol=1e-13, rtol=0)
    # Eq. 13-15 is the shortest arc (axis perpendicular to both rays): compare with scipy.
    for k in range(10):
        ref, _ = ScipyRotation.align_vectors([[0.0, 0.0, 1.0]], [r1[k].numpy()])
        torch.testing.assert_close(R[k], torch.from_numpy(ref.as_matrix()), atol=1e-12, rtol=0)


def test_perspective_rotation_centres_the_subject(gen):
    """After R, the subject's root (on the bbox-centre ray) projects at the principal point."""
    K = _camera(5, gen)
    X = _points(5, 17, gen)
    root_uv = project(X[:, :1], K)[:, 0]
    R = perspective_rotation(K, root_uv)
    X_rot = X @ R.mT  # Eq. 16: P' = R P for column vectors
    torch.testing.assert_close(project(X_rot[:, :1], K)[:, 0], K[:, :2, 2], atol=1e-9, rtol=0)
    # Rotation about the optical centre keeps every point's distance to it.
    torch.testing.assert_close(X_rot.norm(dim=-1), X.norm(dim=-1), atol=1e-12, rtol=0)


def test_perspective_rotation_centred_bbox_is_identity_without_nan():
    pp = torch.tensor([[960.0, 540.0], [320.0, 240.0]], dtype=F64)
    K = intrinsics(torch.tensor([1000.0, 700.0], dtype=F64), pp)
    center = K[:, :2, 2].clone().requires_grad_(True)
    R = perspective_rotation(K, center)
    torch.testing.assert_close(R, torch.eye(3, dtype=F64).expand(2, 3, 3), atol=0, rtol=0)
    # The derivative on the axis matches central finite differences (not just "finite").
    J = torch.autograd.functional.jacobian(lambda c: perspective_rotation(K, c), center)
    h = 1e-4
    for k in range(2):
        dc = torch.zeros(2, 2, dtype=F64)
        dc[:, k] = h
        c0 = center.detach()
        fd = (perspective_rotation(K, c0 + dc) - perspective_rotation(K, c0 - dc)) / (2 * h)
        torch.testing.assert_close(J[torch.arange(2), :, :, torch.arange(2), k], fd, atol=1e-9, rtol=0)
    assert J.abs().max() > 1e-4
    # A tiny offset gives a tiny, finite rotation.
    R_eps = perspective_rotation(K, K[:, :2, 2] + 1e-9)
    assert torch.isfinite(R_eps).all() and (R_eps - torch.eye(3, dtype=F64)).abs().max() < 1e-10


def test_perspective_homography_matches_rotated_projection(gen):
    K = _camera(4, gen)
    X = _points(4, 17, gen, depth=8.0)
    # a general small rotation (points stay in front) and the PR rotation
    R_general = axis_angle_to_matrix(0.2 * torch.randn(4, 3, generator=gen, dtype=F64))
    R_pr = perspective_rotation(K, project(X, K).mean(dim=-2))
    for R in (R_general, R_pr):
        H = perspective_homography(K, R)
        warped = apply_homography(H, project(X, K))
        torch.testing.assert_close(warped, project(X @ R.mT, K), atol=1e-8, rtol=0)
    c = torch.tensor([[1500.0, 200.0]], dtype=F64).expand(4, 2)
    H = perspective_homography(K, perspective_rotation(K, c))
    torch.testing.assert_close(apply_homography(H, c[:, None])[:, 0], K[:, :2, 2], atol=1e-9, rtol=0)


# ----------------------------------------------------------------------------- bbox, batching, dtype


def test_bbox_from_points():
    uv = torch.tensor([[0.0, 0.0], [10.0, 4.0], [3.0, 1.0]], dtype=F64)
    center, size = bbox_from_points(uv, scale=1.2)
    torch.testing.assert_close(center, torch.tensor([5.0, 2.0], dtype=F64))
    torch.testing.assert_close(size, torch.tensor(12.0, dtype=F64))
    with pytest.raises(ValueError, match="bbox size"):
        bbox_from_points(torch.ones(1, 4, 2))


def test_batch_shapes_and_broadcasting(gen):
    B = (2, 3)
    f = 900.0 + 100.0 * torch.rand(*B, generator=gen, dtype=F64)
    K = intrinsics(f, torch.tensor([960.0, 540.0], dtype=F64))
    assert K.shape == (*B, 3, 3)
    X = _points(6, 17, gen).reshape(*B, 17, 3)
    uv = project(X, K)
    assert uv.shape == (*B, 17, 2)
    torch.testing.assert_close(uv[1, 2], project(X[1, 2], K[1, 2]))
    center, size = bbox_from_points(uv)
    assert center.shape == (*B, 2) and size.shape == B
    K_crop = crop_intrinsics(K, center, size, 256)
    assert K_crop.shape == (*B, 3, 3)
    torch.testing.assert_close(K_crop[0, 1], crop_intrinsics(K[0, 1], center[0, 1], size[0, 1], 256))
    assert perspective_encoding(K_crop, 256, 256).shape == (*B, 2, 64, 64)
    image_size = torch.tensor([1920.0, 1080.0], dtype=F64)
    assert cliff_bbox_info(center, size, image_size, f).shape == (*B, 3)
    cam = torch.tensor([0.9, 0.0, 0.1], dtype=F64).expand(*B, 3)
    assert cam_crop_to_full(cam, center, size, image_size, f).shape == (*B, 3)
    R = perspective_rotation(K, center)
    assert R.shape == (*B, 3, 3)
    assert perspective_homography(K, R).shape == (*B, 3, 3)
    # one K broadcast over a batch of points
    assert project(X, K[0, 0]).shape == (*B, 17, 2)


def test_float32_smoke():
    g = torch.Generator().manual_seed(7)
    K = intrinsics(torch.tensor(1000.0), torch.tensor([960.0, 540.0]))
    X = torch.randn(4, 17, 3, generator=g) * 0.4 + torch.tensor([0.3, 0.1, 5.0])
    uv = project(X, K)
    center, size = bbox_from_points(uv)
    K_crop = crop_intrinsics(K, center, size, 256)
    R = perspective_rotation(K, center)
    outs = [
        uv,
        unproject(uv, X[..., 2], K),
        K_crop,
        perspective_encoding(K_crop, 256, 256),
        cliff_bbox_info(center, size, (1920, 1080), 2202.9),
        cam_crop_to_full(torch.tensor([0.9, 0.0, 0.1]).expand(4, 3), center, size, (1920, 1080), 2202.9),
        R,
        apply_homography(perspective_homography(K, R), uv),
        default_focal(torch.tensor([1920.0, 1080.0])),
    ]
    for out in outs:
        assert out.dtype == torch.float32 and torch.isfinite(out).all()
    torch.testing.assert_close(unproject(uv, X[..., 2], K), X, atol=1e-4, rtol=1e-5)


def test_device_follows_inputs(device):  # device: tests/conftest.py (cpu, and cuda where there is one)
    def run(dev):
        K = intrinsics(torch.tensor(1000.0, device=dev), torch.tensor([960.0, 540.0], device=dev))
        center = torch.tensor([[1200.0, 300.0]], device=dev)
        K_crop = crop_intrinsics(K, center, 300.0, 256)
        return [
            K_crop,
            perspective_encoding(K_crop, 256, 256),
            perspective_rotation(K, center),
            cam_crop_to_full(torch.tensor([[0.9, 0.0, 0.1]], device=dev), center, 300.0, (1920, 1080), 2202.9),
            cliff_bbox_info(center, 300.0, (1920, 1080), 2202.9),
        ]

    for out, ref in zip(run(device), run(torch.device("cpu"))):
        assert out.device == device
        torch.testing.assert_close(out.cpu(), ref, atol=1e-4, rtol=1e-5)
    R = random_rotation(3, device=device, generator=torch.Generator(device=device).manual_seed(0))
    assert R.device == device
