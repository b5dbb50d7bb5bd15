"""Tests for posebook.data.raster: the z-buffer rasterizer against closed-form coverage and depth,
and against the Embree renderer (``render.render_parts``) it replaces.

Fast tests use hand-made triangles whose pixel coverage, depths and shading follow from the pinhole
model; slow tests pose the real Anny body and compare the two renderers pixel by pixel.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import roma
import torch
import trimesh

from posebook.data.raster import PartRasterizer, rasterize_parts
from posebook.data.render import PART_COLORS, PartRenderer, render_parts
from posebook.geometry.camera import bbox_from_points, crop_intrinsics, intrinsics, project

F64 = torch.float64
ALL_MAPS = dict(return_depth=True, return_mask=True, return_labels=True)


def _lift(uv, z, K):
    """(N, 3) camera-frame points that project to pixel coordinates ``uv`` (N, 2) at depths z."""
    uv1 = torch.cat([torch.as_tensor(uv, dtype=F64), torch.ones(len(uv), 1, dtype=F64)], dim=1)
    return (uv1 @ torch.linalg.inv(K).T) * torch.as_tensor(z, dtype=F64)[:, None]


def _centres(width, height):
    """(H, W, 2) pixel centres (j + 0.5, i + 0.5)."""
    jj, ii = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    return np.stack([jj, ii], axis=-1)


def _inside(uv, centres):
    """(H, W) bool: strictly inside the 2D triangle uv (3, 2), and (H, W) distance-to-edge proxy."""
    e = []
    for a, b in ((1, 2), (2, 0), (0, 1)):
        A, B = uv[a], uv[b]
        e.append((B[0] - A[0]) * (centres[..., 1] - A[1]) - (B[1] - A[1]) * (centres[..., 0] - A[0]))
    e = np.stack(e)
    return ((e > 0).all(0) | (e < 0).all(0)), np.abs(e).min(0)


def _plane_depth(tri, K, width, height):
    """(H, W) z-depth of the triangle's plane along each pixel-centre ray (float64, exact)."""
    centres = _centres(width, height)
    d = np.concatenate([centres, np.ones_like(centres[..., :1])], -1) @ np.linalg.inv(K).T
    n = np.cross(tri[1] - tri[0], tri[2] - tri[0])
    return (n @ tri[0]) / (d @ n)


@pytest.fixture
def tilted():
    """One strongly tilted triangle (corner depths 1.5, 3, 6 m) in a 40 x 32 image."""
    K = intrinsics(torch.tensor(60.0, dtype=F64), torch.tensor([19.3, 16.8], dtype=F64))
    uv = np.array([[3.3, 4.1], [36.2, 9.7], [12.9, 29.4]])
    verts = _lift(uv, [1.5, 3.0, 6.0], K)[None]
    return verts, torch.tensor([[0, 1, 2]]), K, uv, (40, 32)


# ----------------------------------------------------------------------------- closed form


def test_single_triangle_coverage_and_perspective_correct_depth(tilted):
    verts, faces, K, uv, (W, H) = tilted
    _, depth, mask, lab = rasterize_parts(verts, faces, torch.tensor([3]), K, (W, H), **ALL_MAPS)
    inside, margin = _inside(uv, _centres(W, H))
    assert margin.min() > 1e-3  # no centre on an edge: coverage is exact
    np.testing.assert_array_equal(mask[0].numpy(), inside)
    assert 200 < inside.sum() < W * H
    assert (lab[0][mask[0]] == 3).all() and (lab[0][~mask[0]] == -1).all()
    # Depth: the plane along the pixel ray, not the screen-affine interpolation of z.
    exact = _plane_depth(verts[0].numpy(), K.numpy(), W, H)
    np.testing.assert_allclose(depth[0].numpy()[inside], exact[inside], rtol=1e-6)
    assert torch.isinf(depth[0][~mask[0]]).all()
    i, j = 12, 15  # one pixel centre, solved by hand: X = t K^-1 (j + .5, i + .5, 1)
    d = np.linalg.solve(K.numpy(), [j + 0.5, i + 0.5, 1.0])
    a, b, c = verts[0].numpy()
    t = np.cross(b - a, c - a) @ a / (np.cross(b - a, c - a) @ d)
    assert inside[i, j] and float(depth[0, i, j]) == pytest.approx(t, rel=1e-6)
    lam = np.linalg.solve(np.stack([np.append(uv[k], 1.0) for k in range(3)]).T, [j + 0.5, i + 0.5, 1])
    affine = lam @ np.array([1.5, 3.0, 6.0])
    assert abs(affine - t) > 0.1  # the tilt makes the naive interpolation visibly wrong


def test_intersecting_triangles_occlude_by_perspective_correct_depth(tilted):
    # A fronto-parallel triangle at z = 3 m cuts the tilted one: the visible one at each pixel is
    # the nearer plane, so the z-buffer must interpolate 1/z (not z) across the tilted face.
    verts, _, K, _, (W, H) = tilted
    flat = _lift(np.array([[-5.0, -5.0], [120.0, -5.0], [-5.0, 120.0]]), [3.0] * 3, K)[None]
    both = torch.cat([verts, flat], dim=1)
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    _, depth, lab = rasterize_parts(both, faces, torch.tensor([0, 1]), K, (W, H),
                                    return_depth=True, return_labels=True)
    tilted_z = _plane_depth(verts[0].numpy(), K.numpy(), W, H)
    inside, _ = _inside(tilted[3], _centres(W, H))
    expected = np.where(inside & (tilted_z < 3.0), 0, 1)
    near_tie = inside & (np.abs(tilted_z - 3.0) < 1e-5)
    np.testing.assert_array_equal(lab[0].numpy()[~near_tie], expected[~near_tie])
    assert (expected == 0).sum() > 50 and ((expected == 1) & inside).sum() > 50
    np.testing.assert_allclose(depth[0].numpy(), np.where(expected == 0, tilted_z, 3.0), rtol=1e-6)
    assert torch.equal(lab, render_parts(both, faces, torch.tensor([0, 1]), K, (W, H),
                                         return_labels=True)[1])


def test_centres_on_edges_are_covered_once_without_cracks():
    # A square split along its diagonal, corners on pixel centres (exact in float): every centre
    # of the closed square is drawn, the shared diagonal by the lower face index (equal depth).
    K = intrinsics(torch.tensor(8.0, dtype=F64), torch.tensor([0.0, 0.0], dtype=F64))
    uv = np.array([[2.5, 2.5], [10.5, 2.5], [10.5, 10.5], [2.5, 10.5]])
    verts = _lift(uv, [2.0] * 4, K)[None]
    ii, jj = np.mgrid[0:16, 0:16]
    square = (ii >= 2) & (ii <= 10) & (jj >= 2) & (jj <= 10)
    upper, lower = [[0, 1, 2]], [[0, 2, 3]]  # columns >= rows / columns <= rows
    for faces, first in ((upper + lower, jj >= ii), (lower + upper, jj <= ii)):
        _, depth, lab = rasterize_parts(verts, torch.tensor(faces), torch.tensor([0, 1]), K,
                                        (16, 16), return_depth=True, return_labels=True)
        np.testing.assert_array_equal(lab[0].numpy(), np.where(square, np.where(first, 0, 1), -1))
        assert (depth[0][lab[0] >= 0] == 2.0).all()


def test_shading_background_and_palette():
    # A fronto-parallel quad: normal (0, 0, 1), so cos = 1 / |d|, d = K^-1 (u, v, 1).
    K = intrinsics(torch.tensor(50.0, dtype=F64), torch.tensor([13.7, 11.2], dtype=F64))
    verts = _lift(np.array([[-3.0, -3.0], [40.0, -3.0], [40.0, 40.0], [-3.0, 40.0]]), [2.5] * 4, K)[None]
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    palette = torch.tensor([[200, 100, 50], [0, 0, 0]], dtype=torch.uint8)
    img, depth = rasterize_parts(verts, faces, torch.tensor([0, 0]), K, (28, 24), palette=palette,
                                 return_depth=True)
    centres = _centres(28, 24)
    d = np.concatenate([centres, np.ones_like(centres[..., :1])], -1) @ np.linalg.inv(K.numpy()).T
    cos = 1.0 / np.linalg.norm(d, axis=-1)
    expected = np.rint(np.array([200, 100, 50]) * (0.5 + 0.5 * cos[..., None])).astype(np.uint8)
    np.testing.assert_array_equal(img[0].numpy(), expected)
    assert (depth == 2.5).all()  # z-depth, exact at every pixel centre
    flat = rasterize_parts(verts, faces, torch.tensor([0, 0]), K, (28, 24), palette=palette,
                           shading=False)
    assert (flat == torch.tensor([200, 100, 50], dtype=torch.uint8)).all()
    # Background colour where nothing is drawn; nothing at all without faces.
    aside = verts + torch.tensor([50.0, 0.0, 0.0], dtype=F64)
    img, mask, lab = rasterize_parts(aside, faces, torch.tensor([0, 0]), K, (28, 24),
                                     background=(10, 20, 30), return_mask=True, return_labels=True)
    assert (img == torch.tensor([10, 20, 30], dtype=torch.uint8)).all()
    assert not mask.any() and (lab == -1).all() and img.dtype == torch.uint8
    assert (rasterize_parts(verts, faces[:0], torch.zeros(0, dtype=torch.long), K, (28, 24)) == 0).all()


def test_bad_inputs_raise_like_render_parts():
    mesh = trimesh.creation.box()
    verts = torch.tensor(mesh.vertices, dtype=F64)[None] + torch.tensor([0.0, 0.0, 3.0], dtype=F64)
    faces = torch.tensor(mesh.faces)
    labels = torch.zeros(len(faces), dtype=torch.long)
    K = intrinsics(torch.tensor(50.0, dtype=F64), torch.tensor([16.0, 16.0], dtype=F64))
    cases = [
        ("palette", (verts, faces, labels + len(PART_COLORS), K)),
        ("upper-triangular", (verts, faces, labels, K.T)),
        ("NaN", (verts * math.nan, faces, labels, K)),
        ("face_labels", (verts, faces, labels[:-1], K)),
        ("vertices", (verts[0], faces, labels, K)),
        ("faces", (verts, faces[:, :2], labels, K)),
        ("outside", (verts, faces + 100, labels, K)),
    ]
    for match, args in cases:
        for fn in (render_parts, rasterize_parts):
            with pytest.raises(ValueError, match=match):
                fn(*args, (32, 32))
    with pytest.raises(ValueError, match="image_size"):
        rasterize_parts(verts, faces, labels, K, (0, 32))
    behind = verts - torch.tensor([0.0, 0.0, 3.2], dtype=F64)  # the box straddles z = 0
    with pytest.raises(ValueError, match="behind or at the camera"):
        rasterize_parts(behind, faces, labels, K, (32, 32))


def _scene(batch: int = 4, seed: int = 3):
    """``batch`` different arrangements of a sphere and a box, random labels, per-sample K."""
    g = torch.Generator().manual_seed(seed)
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    box = trimesh.creation.box(extents=(0.6, 0.9, 0.5))
    mesh = trimesh.util.concatenate([sphere, box.apply_translation([0.5, 0.2, -0.3])])
    base = torch.tensor(mesh.vertices, dtype=F64)
    R = roma.random_rotmat(batch, generator=g).to(F64)
    t = torch.stack([0.3 * torch.randn(batch, generator=g, dtype=F64),
                     0.3 * torch.randn(batch, generator=g, dtype=F64),
                     3.0 + 2.0 * torch.rand(batch, generator=g, dtype=F64)], dim=1)
    verts = base @ R.transpose(1, 2) + t[:, None]
    faces = torch.tensor(mesh.faces)
    labels = torch.randint(0, len(PART_COLORS), (len(faces),), generator=g)
    K = intrinsics(60.0 + 30.0 * torch.rand(batch, generator=g, dtype=F64),
                   torch.tensor([[24.0, 20.0]], dtype=F64).expand(batch, 2))
    return verts, faces, labels, K


def test_batch_independence_and_chunking_are_bit_exact():
    verts, faces, labels, K = _scene()
    full = rasterize_parts(verts, faces, labels, K, (48, 40), **ALL_MAPS)
    again = rasterize_parts(verts, faces, labels, K, (48, 40), **ALL_MAPS)
    small = rasterize_parts(verts, faces, labels, K, (48, 40), max_candidates=2000, **ALL_MAPS)
    for x, y, z in zip(full, again, small):
        assert x.numpy().tobytes() == y.numpy().tobytes() == z.numpy().tobytes()
    for k in range(len(verts)):
        single = rasterize_parts(verts[k : k + 1], faces, labels, K[k], (48, 40), **ALL_MAPS)
        for x, y in zip(single, full):
            assert x[0].numpy().tobytes() == y[k].numpy().tobytes()
    assert full[2].float().mean() > 0.1  # the scenes are in view


def test_agrees_with_embree_on_analytic_scenes():
    verts, faces, labels, K = _scene(batch=6, seed=4)
    a = render_parts(verts, faces, labels, K, (48, 40), **ALL_MAPS)
    b = rasterize_parts(verts, faces, labels, K, (48, 40), **ALL_MAPS)
    assert torch.equal(a[2], b[2])  # masks
    same = b[3] == a[3]
    assert same.float().mean() > 0.999
    both = a[2] & b[2] & (a[0] == b[0]).all(-1)
    assert both.float().sum() > 0.99 * a[2].float().sum()
    torch.testing.assert_close(a[1][both], b[1][both], rtol=0, atol=1e-4)
    # The cached-faces class is the function; it is a drop-in PartRenderer.
    rasterizer = PartRasterizer(faces, labels, background=(1, 2, 3))
    assert isinstance(rasterizer, PartRenderer)
    assert torch.equal(rasterizer(verts, K, (48, 40)),
                       rasterize_parts(verts, faces, labels, K, (48, 40), background=(1, 2, 3)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch.cuda.is_available() is False")
def test_cuda_matches_cpu():
    verts, faces, labels, K = _scene(batch=6, seed=5)
    cpu = rasterize_parts(verts.float(), faces, labels, K, (48, 40), **ALL_MAPS)
    gpu = rasterize_parts(verts.float().cuda(), faces.cuda(), labels.cuda(), K.cuda(), (48, 40),
                          **ALL_MAPS)
    assert all(t.device.type == "cuda" for t in gpu)
    # nvcc may fuse multiply-adds, so a pixel centre within rounding of an edge may flip.
    assert (cpu[3] == gpu[3].cpu()).float().mean() > 0.999
    assert torch.equal(cpu[2], gpu[2].cpu()) or (cpu[2] != gpu[2].cpu()).sum() <= 3
    same = (cpu[0] == gpu[0].cpu()).all(-1)
    assert same.float().mean() > 0.999
    hit = same & cpu[2] & gpu[2].cpu()
    torch.testing.assert_close(cpu[1][hit], gpu[1].cpu()[hit], rtol=1e-6, atol=0)


# ---------------------------------------------------------------------------------- Anny body


@pytest.fixture(scope="module")
def anny():
    from posebook.body.models import shared_anny_body

    return shared_anny_body()


@pytest.fixture(scope="module")
def posed(anny):
    """16 randomly posed Anny bodies 3-5 m in front of a 256 x 192 camera (bench_render's
    recipe), with 64 px crop cameras around their projected meshes."""
    g = torch.Generator().manual_seed(7)
    B = 16
    rot = roma.rotvec_to_rotmat(0.3 * torch.randn(B, anny.num_joints, 3, generator=g))
    yaw = (2 * torch.rand(B, generator=g) - 1) * torch.pi
    rot[:, 0] = roma.rotvec_to_rotmat(yaw[:, None] * torch.tensor([0.0, 1.0, 0.0])) @ rot[:, 0]
    with torch.no_grad():
        out = anny(rot)
    to_cam = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    t = torch.stack([0.6 * torch.rand(B, generator=g) - 0.3, 0.4 * torch.rand(B, generator=g) - 0.2,
                     3.0 + 2.0 * torch.rand(B, generator=g)], dim=1)
    vertices = out.vertices @ to_cam.T + t[:, None]
    W, H = 256, 192
    K = intrinsics(torch.tensor(250.0), torch.tensor([W / 2, H / 2])).expand(B, 3, 3)
    center, size = bbox_from_points(project(vertices, K), scale=1.2)
    return {"vertices": vertices, "K": K, "K_crop": crop_intrinsics(K, center, size, 64), "size": (W, H)}


def _disagreement(a, b):
    """Mismatched label pixels / pixels either renderer draws (the silhouette-sensitive rate)."""
    union = (a >= 0) | (b >= 0)
    return float((a != b).sum()) / float(union.sum())


@pytest.mark.slow
@pytest.mark.parametrize("view", ["crop", "full"])
def test_anny_matches_embree(anny, posed, view):
    K, size = (posed["K_crop"], (64, 64)) if view == "crop" else (posed["K"], posed["size"])
    embree = PartRenderer.from_body(anny)(posed["vertices"], K, size, **ALL_MAPS)
    raster = PartRasterizer.from_body(anny)(posed["vertices"], K, size, **ALL_MAPS)
    img_e, depth_e, mask_e, lab_e = embree
    img_r, depth_r, mask_r, lab_r = raster
    # Measured on 512 world crops and 128 frames: 1 label pixel of 8.4 M differs, no mask pixel.
    assert (lab_e == lab_r).float().mean() >= 0.9999
    assert (mask_e == mask_r).float().mean() >= 0.9999
    assert _disagreement(lab_e, lab_r) < 0.001
    same_face = mask_e & mask_r & (img_e == img_r).all(-1)  # same colour: same face and normal
    assert same_face.sum() >= 0.999 * mask_e.sum()
    torch.testing.assert_close(depth_e[same_face], depth_r[same_face], rtol=0, atol=1e-4)
    # The bound is sharp: a renderer off by half a pixel (the other centre convention) fails it.
    shifted = K.clone()
    shifted[:, :2, 2] += 0.5
    off = PartRasterizer.from_body(anny)(posed["vertices"], shifted, size, return_labels=True)[1]
    assert _disagreement(lab_e, off) > 0.05, _disagreement(lab_e, off)


@pytest.mark.slow
def test_anny_float32_and_float64_inputs_agree(anny, posed):
    rasterizer = PartRasterizer.from_body(anny)
    a = rasterizer(posed["vertices"], posed["K_crop"], (64, 64), return_labels=True)[1]
    b = rasterizer(posed["vertices"].double(), posed["K_crop"].double(), (64, 64), return_labels=True)[1]
    assert (a == b).float().mean() > 0.9999
