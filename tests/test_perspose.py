"""Tests for PersPose: Eq. 5 lifting (paper and official forms), Eq. 6, the PR crops of
posebook.data.perspective_crops (against analytic images, marked points and a direct render from the
rotated camera), the PE module and where it enters the network, the losses and bad input."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from posebook.data.perspective_crops import (
    MAX_PR_ANGLE_DEG,
    RotatedCrops,
    rotate_labels,
    rotated_crops,
    swing_rotation,
)
from posebook.geometry import camera
from posebook.models.backbones import normalize_images
from posebook.models.perspose import (
    LossWeights,
    PerspectiveEncoding,
    PersPoseNet,
    PersPoseOutput,
    PersPoseTargets,
    lift,
    losses,
    predict,
    rotate_back,
)

W, H = 256, 192


def _K(focal, pp, dtype=torch.float64, device="cpu"):
    return camera.intrinsics(torch.as_tensor(focal, dtype=dtype, device=device),
                             torch.as_tensor(pp, dtype=dtype, device=device))


def _joints(gen, n, J=17, dtype=torch.float64):
    """(n, J, 3) camera-frame joints: a root 3-7 m ahead, off-axis, and joints within +-0.9 m of it."""
    root = torch.stack([torch.rand(n, generator=gen) * 4 - 2, torch.rand(n, generator=gen) * 2 - 1,
                        3 + 4 * torch.rand(n, generator=gen)], dim=-1)
    offsets = 0.9 * (2 * torch.rand(n, J, 3, generator=gen) - 1)
    offsets[:, 0] = 0
    return (root[:, None] + offsets).to(dtype)


def _truth(P, K_crop, root=0):
    """uv, d_i, s of Eq. 5 from known joints P (n, J, 3) and K_crop (n, 3, 3)."""
    uv = camera.project(P, K_crop)
    z = P[..., 2]
    f = 0.5 * (K_crop[:, 0, 0] + K_crop[:, 1, 1])
    return uv, z - z[:, root:root + 1], z[:, root] / f


# ----------------------------------------------------------------------------- Eq. 5 and 6


@pytest.mark.parametrize("form", ["paper", "official"])
def test_lift_recovers_known_joints(form, gen, device):
    n = 12
    P = _joints(gen, n).to(device)
    K = _K(200 + 300 * torch.rand(n, generator=gen), torch.tensor([[128.0, 96.0]]).expand(n, 2), device=device)
    K_crop = camera.crop_intrinsics(K, camera.project(P[:, :1], K)[:, 0], 60 + 60 * torch.rand(n, generator=gen).to(device),
                                    64)
    uv, d, s = _truth(P, K_crop)
    X = lift(uv, d, s, K_crop, form=form)
    assert X.shape == P.shape
    torch.testing.assert_close(X, P, rtol=0, atol=1e-10)
    # A wrong scale moves every joint along its ray: the check can fail.
    assert (lift(uv, d, 1.05 * s, K_crop, form=form) - P).norm(dim=-1).min() > 0.1


def test_lift_forms_differ_only_for_non_square_pixels(gen):
    n = 6
    P = _joints(gen, n)
    K_crop = camera.crop_intrinsics(_K(300.0, [128.0, 96.0]).expand(n, 3, 3), torch.tensor([140.0, 90.0]), 80.0, 64)
    K_crop = K_crop.clone()
    K_crop[:, 1, 1] *= 1.2  # f_y = 1.2 f_x
    uv, d, s = _truth(P, K_crop)
    paper, official = lift(uv, d, s, K_crop, form="paper"), lift(uv, d, s, K_crop, form="official")
    torch.testing.assert_close(paper, P, rtol=0, atol=1e-10)  # Eq. 5 with the full K^-1 is exact
    f = 0.5 * (K_crop[:, 0, 0] + K_crop[:, 1, 1])
    torch.testing.assert_close(official[..., 2], P[..., 2], rtol=0, atol=1e-10)
    torch.testing.assert_close(official[..., 0], P[..., 0] * (K_crop[:, 0, 0] / f)[:, None], rtol=0, atol=1e-10)
    torch.testing.assert_close(official[..., 1], P[..., 1] * (K_crop[:, 1, 1] / f)[:, None], rtol=0, atol=1e-10)
    assert (official - P).abs().max() > 0.01


def test_lift_refuses_bad_form_and_shapes():
    uv, d, s, K = torch.zeros(2, 5, 2), torch.zeros(2, 5), torch.ones(2), _K(100.0, [32.0, 32.0]).float().expand(2, 3, 3)
    with pytest.raises(ValueError, match="form must be one of"):
        lift(uv, d, s, K, form="hybrik")
    with pytest.raises(ValueError, match="rel_depth must be"):
        lift(uv, d[:, :4], s, K)


def test_rotate_back_inverts_rotate_labels(gen):
    n = 10
    P = _joints(gen, n)
    K = _K(180.0, [128.0, 96.0]).expand(n, 3, 3)
    centres = torch.rand(n, 2, generator=gen, dtype=torch.float64) * torch.tensor([W, H])
    R = camera.perspective_rotation(K, centres)
    P_rot = rotate_labels(P, R)
    # Eq. 16 on column vectors, written independently.
    torch.testing.assert_close(P_rot, torch.einsum("nij,nkj->nki", R, P), rtol=0, atol=1e-12)
    torch.testing.assert_close(rotate_back(P_rot, R), P, rtol=0, atol=1e-12)
    assert (rotate_back(P_rot, R.transpose(-1, -2)) - P).abs().max() > 0.1  # R instead of R^T is wrong
    with pytest.raises(ValueError, match="rotation"):
        rotate_back(P_rot, 2 * R)
    with pytest.raises(ValueError, match="rotation"):
        rotate_labels(P, 2 * R)


def test_targets_lift_and_rotate_back_to_the_original_joints(gen):
    n = 8
    P = _joints(gen, n)
    K = _K(200.0, [128.0, 96.0]).expand(n, 3, 3)
    c = camera.project(P[:, :1], K)[:, 0]
    frames = torch.zeros(n, H, W, 3, dtype=torch.uint8)
    crops = rotated_crops(frames, K, c, torch.full((n,), 90.0, dtype=torch.float64), 64)
    t = PersPoseTargets.from_joints(crops.crops, crops.K_crop, crops.R, P)
    back = rotate_back(lift(t.uv.double(), t.rel_depth.double(), t.scale.double(), t.K_crop.double()), t.R.double())
    torch.testing.assert_close(back, P, rtol=0, atol=2e-5)  # float32 labels
    torch.testing.assert_close(t.uv[:, 0], torch.full((n, 2), 32.0), rtol=0, atol=1e-3)  # root at the crop centre


# ----------------------------------------------------------------------------- PR crops


def _ramp_frames(n):
    """Channel 0 = column index, channel 1 = row index: the bilinear image is f(u, v) = (u - 0.5, v - 0.5)."""
    frames = torch.zeros(n, H, W, 3, dtype=torch.uint8)
    frames[..., 0] = torch.arange(W, dtype=torch.uint8).view(1, 1, W)
    frames[..., 1] = torch.arange(H).to(torch.uint8).view(1, H, 1)
    return frames


def _crop_rays_in_frame(crops: RotatedCrops, K, S):
    """For each crop pixel centre: the frame pixel its ray hits, via K_crop^-1, R^T and K (not the homography)."""
    centres = torch.arange(S, dtype=torch.float64) + 0.5
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    pix = torch.stack((u, v, torch.ones_like(u)), dim=-1).reshape(1, -1, 3)
    rays = pix @ torch.linalg.inv(crops.K_crop.double()).transpose(-1, -2)
    return camera.project(rotate_back(rays, crops.R.double()), K.double())


@pytest.mark.parametrize("aim", ["principal_point", "image_centre"])
@pytest.mark.parametrize("rotate", [True, False])
def test_warp_samples_the_rotated_camera_rays(aim, rotate, device):
    """Every crop pixel shows the frame where its ray through the rotated crop camera lands (exact for a ramp)."""
    S, n = 48, 4
    K = _K([150.0, 220.0, 180.0, 300.0], [[128.0, 96.0], [110.0, 90.0], [140.0, 100.0], [128.0, 96.0]]).float()
    c = torch.tensor([[210.0, 40.0], [30.0, 150.0], [128.0, 96.0], [60.0, 170.0]])
    b = torch.tensor([60.0, 70.0, 50.0, 90.0])
    crops = rotated_crops(_ramp_frames(n).to(device), K.to(device), c.to(device), b.to(device), S, aim=aim,
                          rotate=rotate)
    assert crops.crops.shape == (n, S, S, 3) and crops.crops.dtype == torch.uint8
    src = _crop_rays_in_frame(crops, K.to(device), S)
    inside = ((src > 0.5) & (src < torch.tensor([W - 0.5, H - 0.5], device=device, dtype=src.dtype))).all(dim=-1)
    assert inside.float().mean() > 0.8
    got = crops.crops.reshape(n, -1, 3)[..., :2].double()
    err = (got - (src - 0.5))[inside]
    assert err.abs().max() <= 0.5 + 1e-3  # uint8 rounding only
    assert err.mean(dim=0).abs().max() < 0.05
    if rotate:  # the same pixels read as a plain crop (R = I) are far off: the test can fail
        plain = RotatedCrops(crops.crops, torch.eye(3, device=device).expand(n, 3, 3), crops.K_crop, crops.bbox_center,
                             crops.bbox_size, crops.phi_deg, crops.homography)
        wrong = _crop_rays_in_frame(plain, K.to(device), S) - 0.5
        assert (got - wrong)[inside].abs().max() > 5


def _blob_frames(uv, sigma=2.0, peak=220.0):
    """Full frames with a Gaussian spot at each (n, J, 2) pixel position (pixel centres at k + 0.5)."""
    u = torch.arange(W, dtype=torch.float64) + 0.5
    v = torch.arange(H, dtype=torch.float64) + 0.5
    du = u.view(1, 1, 1, W) - uv[..., 0, None, None]
    dv = v.view(1, 1, H, 1) - uv[..., 1, None, None]
    img = (peak * torch.exp(-(du ** 2 + dv ** 2) / (2 * sigma ** 2))).sum(dim=1)
    return img.round().clamp(0, 255).to(torch.uint8)[..., None].expand(-1, -1, -1, 3).contiguous()


def test_marked_points_land_where_the_rotated_joints_project(gen):
    n, S = 3, 64
    K = _K([160.0, 200.0, 140.0], [[128.0, 96.0], [120.0, 100.0], [128.0, 96.0]])
    offsets = torch.tensor([[0.0, 0.0], [-20.0, -20.0], [20.0, -20.0], [-20.0, 20.0], [20.0, 20.0]], dtype=torch.float64)
    centres = torch.tensor([[215.0, 45.0], [40.0, 150.0], [190.0, 150.0]], dtype=torch.float64)
    uv_full = centres[:, None] + offsets
    depth = 3 + 3 * torch.rand(n, 5, generator=gen, dtype=torch.float64)
    X = camera.unproject(uv_full, depth, K)  # 3D points seen at uv_full
    crops = rotated_crops(_blob_frames(uv_full), K, centres, torch.full((n,), 80.0, dtype=torch.float64), S)
    expected = camera.project(rotate_labels(X, crops.R), crops.K_crop)  # Eq. 16 + K_crop
    torch.testing.assert_close(camera.apply_homography(crops.homography, uv_full), expected, rtol=0, atol=1e-9)
    # The blob centroid in the crop (window of +-6 px around the expectation, background 0).
    img = crops.crops[..., 0].double()
    centres_px = torch.arange(S, dtype=torch.float64) + 0.5
    errors = []
    for i in range(n):
        for j in range(5):
            e = expected[i, j]
            win_u = (centres_px - e[0]).abs() <= 6
            win_v = (centres_px - e[1]).abs() <= 6
            patch = img[i][win_v][:, win_u]
            cu = (patch.sum(0) * centres_px[win_u]).sum() / patch.sum()
            cv = (patch.sum(1) * centres_px[win_v]).sum() / patch.sum()
            errors.append(float(torch.hypot(cu - e[0], cv - e[1])))
    assert max(errors) < 0.1, errors
    assert float(crops.phi_deg.min()) > 15  # off-axis samples: the rotation matters
    # Without PR the same points land elsewhere (so the comparison above can fail).
    plain = rotated_crops(_blob_frames(uv_full), K, centres, torch.full((n,), 80.0, dtype=torch.float64), S,
                          rotate=False)
    moved = camera.project(X, plain.K_crop) - expected
    assert moved[:, 1:].norm(dim=-1).max() > 1.0


def test_pr_puts_the_bbox_centre_on_the_aim_ray(gen):
    n, S = 16, 64
    focal = 120 + 300 * torch.rand(n, generator=gen, dtype=torch.float64)
    pp = torch.tensor([110.0, 85.0], dtype=torch.float64).expand(n, 2)  # off the image centre (128, 96)
    K = _K(focal, pp)
    c = torch.rand(n, 2, generator=gen, dtype=torch.float64) * torch.tensor([W, H])
    b = torch.full((n,), 70.0, dtype=torch.float64)
    frames = torch.zeros(n, H, W, 3, dtype=torch.uint8)
    ones = torch.ones(n, 1, dtype=torch.float64)
    r1 = (torch.linalg.inv(K) @ torch.cat((c, ones), 1)[..., None])[..., 0]
    for aim, aim_uv in (("principal_point", pp), ("image_centre", torch.tensor([W / 2, H / 2], dtype=torch.float64).expand(n, 2))):
        crops = rotated_crops(frames, K, c, b, S, aim=aim)
        r2 = (torch.linalg.inv(K) @ torch.cat((aim_uv, ones), 1)[..., None])[..., 0]
        # phi: the angle between the rays (Eq. 14), and after R it is 0.
        cos = (r1 * r2).sum(-1) / (r1.norm(dim=-1) * r2.norm(dim=-1))
        torch.testing.assert_close(crops.phi_deg, torch.rad2deg(torch.arccos(cos.clamp(-1, 1))), rtol=0, atol=1e-5)
        Rr1 = (crops.R @ r1[..., None])[..., 0]
        after = torch.rad2deg(torch.atan2(torch.linalg.cross(Rr1, r2).norm(dim=-1), (Rr1 * r2).sum(-1)))
        assert after.max() < 1e-6 and crops.phi_deg.max() > 20
        torch.testing.assert_close(camera.apply_homography(camera.perspective_homography(K, crops.R), c[:, None])[:, 0],
                                   aim_uv, rtol=0, atol=1e-9)
        torch.testing.assert_close(crops.bbox_center, aim_uv, rtol=0, atol=0)
        torch.testing.assert_close(crops.K_crop, camera.crop_intrinsics(K, aim_uv, b, S), rtol=0, atol=1e-12)
        # PR of the rotated view's bbox is the identity (aim = principal point only: the optical axis).
        if aim == "principal_point":
            torch.testing.assert_close(crops.K_crop[:, :2, 2], torch.full((n, 2), S / 2.0, dtype=torch.float64),
                                       rtol=0, atol=1e-9)
            again = camera.perspective_rotation(K, crops.bbox_center)
            torch.testing.assert_close(again, torch.eye(3, dtype=torch.float64).expand(n, 3, 3), rtol=0, atol=1e-12)
    # With the principal point at the image centre the two aims agree.
    K0 = _K(focal, torch.tensor([W / 2, H / 2], dtype=torch.float64).expand(n, 2))
    a = rotated_crops(frames, K0, c, b, S, aim="principal_point")
    bb = rotated_crops(frames, K0, c, b, S, aim="image_centre")
    torch.testing.assert_close(a.R, bb.R, rtol=0, atol=1e-12)


def test_swing_rotation_is_perspective_rotation_for_the_optical_axis(gen):
    n = 32
    K = _K(150 + 200 * torch.rand(n, generator=gen, dtype=torch.float64), torch.tensor([[120.0, 90.0]]).expand(n, 2))
    c = torch.rand(n, 2, generator=gen, dtype=torch.float64) * torch.tensor([W, H])
    r1 = (torch.linalg.inv(K) @ torch.cat((c, torch.ones(n, 1, dtype=torch.float64)), 1)[..., None])[..., 0]
    ez = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(swing_rotation(r1, ez), camera.perspective_rotation(K, c), rtol=0, atol=1e-12)
    r2 = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    R = swing_rotation(r1, r2)
    torch.testing.assert_close((R @ r1[..., None])[..., 0] / r1.norm(dim=-1, keepdim=True),
                               r2 / r2.norm(dim=-1, keepdim=True), rtol=0, atol=1e-12)
    axis = torch.linalg.cross(r1, r2)
    torch.testing.assert_close((R @ axis[..., None])[..., 0], axis, rtol=0, atol=1e-12)  # a swing: the axis is fixed


def test_pr_is_the_identity_for_a_bbox_at_the_principal_point():
    K = _K([180.0, 250.0], [[128.0, 96.0], [100.0, 80.0]]).float()
    c = K[:, :2, 2].clone()
    b = torch.tensor([80.0, 100.0])
    frames = _ramp_frames(2)
    frames[..., 2] = 77
    rotated = rotated_crops(frames, K, c, b, 64)
    plain = rotated_crops(frames, K, c, b, 64, rotate=False)
    torch.testing.assert_close(rotated.R, torch.eye(3).expand(2, 3, 3), rtol=0, atol=1e-7)
    assert float(rotated.phi_deg.abs().max()) < 1e-4
    assert int((rotated.crops.int() - plain.crops.int()).abs().max()) <= 1
    assert float((rotated.crops != plain.crops).float().mean()) < 0.01
    torch.testing.assert_close(plain.K_crop, camera.crop_intrinsics(K, c, b, 64), rtol=0, atol=1e-4)
    torch.testing.assert_close(plain.R, torch.eye(3).expand(2, 3, 3), rtol=0, atol=0)


def test_outside_the_frame_is_fill_and_batches_do_not_matter():
    K = _K(200.0, [128.0, 96.0]).float().expand(3, 3, 3)
    c = torch.tensor([[5.0, 5.0], [250.0, 190.0], [128.0, 96.0]])
    frames = torch.full((3, H, W, 3), 200, dtype=torch.uint8)
    one = rotated_crops(frames, K, c, torch.full((3,), 100.0), 32, fill=(10, 20, 30))
    split = rotated_crops(frames, K, c, torch.full((3,), 100.0), 32, fill=(10, 20, 30), batch_size=2)
    assert torch.equal(one.crops, split.crops)
    corner = one.crops[0, 0, 0]
    assert corner.tolist() == [10, 20, 30]  # the top-left crop corner sees beyond the frame's corner
    assert one.crops[2].eq(200).all()  # a centred crop sees only the frame


# ----------------------------------------------------------------------------- direct render (slow)


@pytest.mark.slow
def test_warped_crops_match_a_render_from_the_rotated_camera(tmp_path_factory):
    """The PR crop of a rendered full frame is what the rasteriser draws from the rotated camera (R X, K_crop),
    up to resampling at the silhouette; the plain crop of the same frame is not."""
    from posebook.body.models import shared_anny_body
    from posebook.data.image_sets import build_image_set
    from posebook.data.raster import PartRasterizer
    from posebook.data.world import WorldConfig

    body = shared_anny_body()
    config = WorldConfig(size=8, seed=3, source="procedural", placement_spread=1.0, joint_sets=("h36m17",),
                         crop_size=64)
    image_set = build_image_set(config, full_frames=True, cache_dir=tmp_path_factory.mktemp("cache"), body=body)
    world, S, n = image_set.world, config.crop_size, config.size
    (Wf, Hf) = world.image_size
    with torch.no_grad():
        vertices = body(world.rotations, world.shape, world.root).vertices
    rotated = rotated_crops(image_set.full_frames, world.K, world.bbox_center, world.bbox_size, S)
    plain = rotated_crops(image_set.full_frames, world.K, world.bbox_center, world.bbox_size, S, rotate=False)
    assert rotated.phi_deg.max() > 30  # wide placement: off-axis subjects
    _, direct = PartRasterizer.from_body(body)(rotate_labels(vertices, rotated.R, check=False), rotated.K_crop,
                                                (S, S), return_mask=True)
    # Compare only crop pixels that see the frame (bodies near the border are cut in the frame, not in the render).
    centres = torch.arange(S, dtype=torch.float64) + 0.5
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    src = camera.apply_homography(torch.linalg.inv(rotated.homography.double()),
                                  torch.stack((u, v), -1).reshape(1, -1, 2).expand(n, -1, -1)).reshape(n, S, S, 2)
    seen = (src[..., 0] > 1) & (src[..., 0] < Wf - 1) & (src[..., 1] > 1) & (src[..., 1] < Hf - 1)
    m = direct.float()[:, None]
    edge = (torch.nn.functional.max_pool2d(m, 3, 1, 1)[:, 0] > 0) & ~(-torch.nn.functional.max_pool2d(-m, 3, 1, 1)[:, 0] > 0)

    def compare(crops):
        body_px = crops.crops.amax(dim=-1) > 30  # shaded parts are >= 55; half-covered edge pixels less
        off_edge = ((direct ^ body_px) & ~edge & seen).flatten(1).sum(1)
        iou = ((direct & body_px & seen).flatten(1).sum(1) / ((direct | body_px) & seen).flatten(1).sum(1))
        return off_edge, iou

    off_rot, iou_rot = compare(rotated)
    off_plain, iou_plain = compare(plain)
    assert int(off_rot.sum()) == 0, off_rot  # every disagreement within 1 px of the silhouette
    assert float(iou_rot.min()) > 0.85, iou_rot
    assert int(off_plain.sum()) > 50 and float((iou_rot - iou_plain).mean()) > 0.1, (off_plain, iou_plain)
    # The 2D joints follow: project(R X, K_crop) falls on the body in the warped crop.
    uv = camera.project(rotate_labels(world.joints3d["h36m17"], rotated.R), rotated.K_crop)
    ij = uv.floor().long().clamp(0, S - 1)
    body_px = rotated.crops.amax(dim=-1) > 30
    on_body = body_px[torch.arange(n)[:, None], ij[..., 1], ij[..., 0]]
    visible = seen[torch.arange(n)[:, None], ij[..., 1], ij[..., 0]]
    assert on_body[visible].float().mean() > 0.9


# ----------------------------------------------------------------------------- bad input


def test_rotated_crops_refuse_bad_input():
    K = _K(200.0, [128.0, 96.0]).float().expand(2, 3, 3).clone()
    c, b = torch.tensor([[100.0, 90.0], [150.0, 80.0]]), torch.tensor([60.0, 60.0])
    frames = torch.zeros(2, H, W, 3, dtype=torch.uint8)
    for bad in (0, -4, 63.5, True):
        with pytest.raises(ValueError, match="crop_size must be a positive int"):
            rotated_crops(frames, K, c, b, bad)
    singular = K.clone()
    singular[1, 0, 0] = 0.0
    with pytest.raises(ValueError, match=r"sample 1 of 2: K is not invertible"):
        rotated_crops(frames, singular, c, b, 32)
    nan_k = K.clone()
    nan_k[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"sample 0 of 2: K has a non-finite entry"):
        rotated_crops(frames, nan_k, c, b, 32)
    for value in (float("nan"), float("inf")):
        bad_c = c.clone()
        bad_c[1, 0] = value
        with pytest.raises(ValueError, match=r"sample 1 of 2: bbox_center .* is not finite"):
            rotated_crops(frames, K, bad_c, b, 32)
    tiny = K.clone()
    tiny[:, 0, 0] = tiny[:, 1, 1] = 1e-3  # a focal in metres by mistake: the ray is 89.99 deg off axis
    with pytest.raises(ValueError, match=rf"sample 0 of 2: the bbox-centre ray is .* PR needs it below {MAX_PR_ANGLE_DEG}"):
        rotated_crops(frames, tiny, c, b, 32)
    with pytest.raises(ValueError, match=r"sample 0 of 2: bbox_size"):
        rotated_crops(frames, K, c, torch.tensor([0.0, 60.0]), 32)
    with pytest.raises(ValueError, match="aim must be one of"):
        rotated_crops(frames, K, c, b, 32, aim="bbox")
    with pytest.raises(ValueError, match="uint8"):
        rotated_crops(frames.float(), K, c, b, 32)
    with pytest.raises(ValueError, match=r"K must have shape \(2, 3, 3\)"):
        rotated_crops(frames, K[:1], c, b, 32)


def test_network_refuses_a_crop_that_is_not_a_multiple_of_the_stride():
    with pytest.raises(ValueError, match=r"crop size 62 is not a positive multiple of the stride 4"):
        PersPoseNet(17, 62)
    net = PersPoseNet(17, 64)
    K = _K(100.0, [31.0, 31.0]).float().expand(1, 3, 3)
    with pytest.raises(ValueError, match=r"crop size 62 is not a positive multiple of the stride 4"):
        net(torch.zeros(1, 62, 62, 3, dtype=torch.uint8), K)
    with pytest.raises(ValueError, match=r"images must be \(B, 64, 64, 3\)"):
        net(torch.zeros(1, 32, 32, 3, dtype=torch.uint8), K)
    with pytest.raises(ValueError, match="K_crop must be"):
        net(torch.zeros(2, 64, 64, 3, dtype=torch.uint8), K)


# ----------------------------------------------------------------------------- PE and the network


def _batch(gen, n=4, S=64):
    images = torch.randint(0, 256, (n, S, S, 3), generator=gen, dtype=torch.uint8)
    focal = 80 + 100 * torch.rand(n, generator=gen)
    pp = S / 2 + 20 * (2 * torch.rand(n, 2, generator=gen) - 1)
    return images, camera.intrinsics(focal, pp)


def test_perspective_encoding_module_is_the_paper_map_through_a_1x1_conv(gen):
    pe = PerspectiveEncoding(256)
    w = pe.conv.weight.detach()
    assert w.shape == (256, 2, 1, 1) and pe.conv.bias is None
    assert 0.008 < float(w.std()) < 0.012 and abs(float(w.mean())) < 2e-3  # N(0, 0.01)
    _, K = _batch(gen, 2)
    feats = torch.randn(2, 256, 16, 16, generator=gen)
    m = camera.perspective_encoding(K, 64, 64, 4)
    # Cell (i, j) of the stride-4 grid: the ray of pixel ((j + 0.5) 4, (i + 0.5) 4) on z = 1.
    i, j = 3, 11
    ray = torch.linalg.inv(K) @ torch.tensor([(j + 0.5) * 4, (i + 0.5) * 4, 1.0])
    torch.testing.assert_close(m[:, :, i, j], ray[:, :2] / ray[:, 2:], rtol=1e-5, atol=1e-6)
    expected = feats + torch.einsum("ck,bkhw->bchw", w[:, :, 0, 0], m)
    torch.testing.assert_close(pe(feats, K), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backbone", ["small", "resnet18"])
def test_pe_enters_after_the_first_stage_and_only_when_on(backbone, gen):
    torch.manual_seed(0)
    images, K = _batch(gen)
    with_pe = PersPoseNet(17, 64, backbone=backbone, pe=True).eval()
    without = PersPoseNet(17, 64, backbone=backbone, pe=False).eval()
    missing, unexpected = without.load_state_dict(with_pe.state_dict(), strict=False)
    assert not missing and all(k.startswith("pe.") for k in unexpected)
    # Where PE enters: the input of stage 2 is stage 1's map plus the PE term.
    seen = {}
    stage2 = with_pe.backbone.net.layer2 if backbone != "small" else with_pe.backbone.net[3]
    def keep_input(module, inputs, output) -> None:  # returns None: the output stays
        seen["x"] = inputs[0]

    hook = stage2.register_forward_hook(keep_input)
    with torch.no_grad():
        out_pe = with_pe(images, K)
        x = with_pe._stage1(normalize_images(images))
    hook.remove()
    assert x.shape[-1] == 64 // 4
    torch.testing.assert_close(seen["x"], with_pe.pe(x, K), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        out_plain = without(images, K)
        # pe=False: the crop intrinsics change only the lifting, not what the network predicts.
        K2 = K.clone()
        K2[:, :2, 2] += 15.0
        K2[:, 0, 0] *= 1.5
        K2[:, 1, 1] *= 1.5
        plain2 = without(images, K2)
        pe2 = with_pe(images, K2)
    for name in ("uv", "rel_depth", "scale"):
        assert torch.equal(getattr(plain2, name), getattr(out_plain, name))
        assert not torch.allclose(getattr(pe2, name), getattr(out_pe, name), rtol=0, atol=1e-7), name
    assert not torch.allclose(plain2.joints, out_plain.joints)
    # Zero PE weights: exactly the network without PE.
    with torch.no_grad():
        with_pe.pe.conv.weight.zero_()
        zeroed = with_pe(images, K)
    for name in ("uv", "rel_depth", "scale", "joints"):
        assert torch.equal(getattr(zeroed, name), getattr(out_plain, name)), name


def test_network_outputs_are_bounded_and_lifted(gen):
    torch.manual_seed(1)
    images, K = _batch(gen, 3)
    net = PersPoseNet(17, 64, root=2)
    out = net(images, K)
    assert out.uv.shape == (3, 17, 2) and out.rel_depth.shape == (3, 17) and out.scale.shape == (3,)
    assert ((out.uv > 0) & (out.uv < 64)).all()
    assert torch.equal(out.rel_depth[:, 2], torch.zeros(3)) and out.rel_depth.abs().max() < 1.1
    lo, hi = net.scale_centre * math.exp(-1.5), net.scale_centre * math.exp(1.5)
    assert ((out.scale > lo) & (out.scale < hi)).all() and math.isclose(net.scale_centre, 7e-3 * 4)
    torch.testing.assert_close(out.joints, lift(out.uv, out.rel_depth, out.scale, K))
    # Eq. 5 places the root at depth s f_crop.
    torch.testing.assert_close(out.joints[:, 2, 2], out.scale * 0.5 * (K[:, 0, 0] + K[:, 1, 1]))


def _targets(gen, n=8, S=32):
    P = _joints(gen, n, J=6)
    K = _K(150.0, [128.0, 96.0]).expand(n, 3, 3)
    c = camera.project(P[:, :1], K)[:, 0]
    frames = torch.randint(0, 256, (n, H, W, 3), generator=gen, dtype=torch.uint8)
    crops = rotated_crops(frames, K, c, torch.full((n,), 80.0, dtype=torch.float64), S)
    return PersPoseTargets.from_joints(crops.crops, crops.K_crop, crops.R, P)


def test_losses_by_hand(gen):
    t = _targets(gen)
    perfect = PersPoseOutput(t.uv.clone(), t.rel_depth.clone(), t.scale.clone(), t.joints.clone())
    zero = losses(perfect, t)
    assert all(float(v) == 0 for v in zero.values())
    shifted = PersPoseOutput(t.uv + torch.tensor([3.0, 4.0]), t.rel_depth + 0.02, t.scale + 1e-3, t.joints)
    terms = losses(shifted, t, LossWeights(uv=1.0, depth=0.5, scale=2.0))
    inside = ((t.uv > 0) & (t.uv < 32)).all(-1)
    assert bool(inside.all()) or float(inside.float().mean()) > 0.5
    torch.testing.assert_close(terms["uv"], torch.tensor(5.0))  # Euclidean, not L1 (7)
    torch.testing.assert_close(terms["depth"], torch.tensor(2.0), rtol=1e-4, atol=1e-4)  # cm
    torch.testing.assert_close(terms["scale"], torch.tensor(1.0), rtol=1e-4, atol=1e-4)  # mm/px
    torch.testing.assert_close(terms["loss"], terms["uv"] + 0.5 * terms["depth"] + 2.0 * terms["scale"])
    # A joint outside the crop does not count.
    t_out = t.take(torch.arange(len(t)))
    t_out.uv[0, 1] = torch.tensor([-5.0, 10.0])
    far = PersPoseOutput(t_out.uv.clone(), t_out.rel_depth.clone(), t.scale.clone(), t.joints)
    far.uv[0, 1] += 100.0
    assert float(losses(far, t_out)["uv"]) == 0.0


def test_predict_in_chunks_matches_one_batch_and_a_tiny_fit_beats_its_start(gen):
    torch.manual_seed(0)
    t = _targets(gen, n=8, S=32)
    net = PersPoseNet(6, 32, width=16, decoder_channels=16)
    chunks = predict(net, t, chunk=3)
    with torch.no_grad():
        whole = net(t.images, t.K_crop)
    for name in ("uv", "rel_depth", "scale", "joints"):
        torch.testing.assert_close(getattr(chunks, name), getattr(whole, name), rtol=1e-5, atol=1e-5)
    assert not net.training
    start = float(losses(predict(net, t), t)["loss"])
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    for _ in range(60):
        opt.zero_grad()
        losses(net(t.images, t.K_crop), t)["loss"].backward()
        opt.step()
    end = float(losses(predict(net, t), t)["loss"])
    assert end < 0.6 * start, (start, end)


def test_extra_input_reaches_the_depth_and_scale_heads_only(gen):
    """CLIFF's I_bbox as an extra input (the cross-paper table): it changes the depths and the scale, not the
    2D heatmaps; predict passes the targets' bbox_info; missing or misshapen extra inputs are refused."""
    torch.manual_seed(0)
    t = _targets(gen, n=4, S=32)
    info = torch.randn(4, 3, generator=gen)
    t = dataclasses.replace(t, bbox_info=info)
    net = PersPoseNet(6, 32, width=16, decoder_channels=16, extra_dim=3).eval()
    with torch.no_grad():
        a, b = net(t.images, t.K_crop, info), net(t.images, t.K_crop, info + 1.0)
    torch.testing.assert_close(a.uv, b.uv)
    assert not torch.allclose(a.scale, b.scale) and not torch.allclose(a.rel_depth, b.rel_depth)
    torch.testing.assert_close(predict(net, t, chunk=3).scale, a.scale, rtol=1e-5, atol=1e-6)
    assert torch.equal(t.take(torch.tensor([2, 0])).bbox_info, info[[2, 0]])
    with pytest.raises(ValueError, match=r"extra input of 3 numbers.*got none"):
        net(t.images, t.K_crop)
    with pytest.raises(ValueError, match=r"pass extra \(B, 3\)"):
        net(t.images, t.K_crop, info[:, :2])
    with pytest.raises(ValueError, match="no extra input"):
        PersPoseNet(6, 32, width=16, decoder_channels=16)(t.images, t.K_crop, info)
    with pytest.raises(ValueError, match="no bbox_info"):
        predict(net, _targets(gen, n=4, S=32))
    with pytest.raises(ValueError, match="extra_dim must be >= 0"):
        PersPoseNet(6, 32, extra_dim=-1)


def test_targets_from_world_carry_cliffs_bbox_information():
    """from_world's bbox_info is CLIFF Eq. 5 (plain ratios) of the ORIGINAL frame's bbox, with or without PR."""
    from posebook.data.world import WorldConfig, build_world

    world = build_world(WorldConfig(size=6, crop_size=32, render=False, image_size=(160, 120),
                                    joint_sets=("h36m17",), seed=3))
    frames = torch.zeros(6, 120, 160, 3, dtype=torch.uint8)
    f = 0.5 * (world.K[:, 0, 0] + world.K[:, 1, 1])
    expected = torch.cat(((world.bbox_center - torch.tensor([80.0, 60.0], dtype=world.K.dtype)) / f[:, None],
                          (world.bbox_size / f)[:, None]), dim=-1).float()
    for rotate in (False, True):
        crops = rotated_crops(frames, world.K, world.bbox_center, world.bbox_size, 32, rotate=rotate)
        t = PersPoseTargets.from_world(world, crops)
        torch.testing.assert_close(t.bbox_info, expected)
