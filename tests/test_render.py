"""Tests for posebook.data.render: Embree renders checked against analytic ray casts and projection.

Fast tests use boxes and spheres, whose silhouettes and depths follow in closed form (slab-method
ray/box intersection, the tangent cone of a sphere); slow tests pose the real Anny body and check
that ``camera.project`` of its joints and vertices lands on the pixels where they are drawn.
"""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest
import roma
import torch
import trimesh
from scipy import ndimage

from posebook.geometry.camera import crop_intrinsics, intrinsics, project
from posebook.data.render import (
    CMU_PARTS,
    PART_COLORS,
    PART_NAMES,
    SMPL_PARTS,
    PartRenderer,
    default_part_groups,
    face_part_labels,
    part_labels,
    render_parts,
)

F64 = torch.float64


def _mesh(mesh: trimesh.Trimesh, rotation=None, center=(0.0, 0.0, 0.0)):
    """(1, V, 3) float64 vertices (rotated, then moved to ``center``) and (F, 3) faces."""
    v = torch.tensor(mesh.vertices, dtype=F64)
    if rotation is not None:
        v = v @ rotation.T
    v = v + torch.tensor(center, dtype=F64)
    return v[None], torch.tensor(mesh.faces, dtype=torch.long)


def _pixel_rays(K: torch.Tensor, width: int, height: int) -> np.ndarray:
    """(H, W, 3) rays K^-1 (j + 0.5, i + 0.5, 1): the module's pixel-centre convention, computed
    with a matrix inverse instead of the module's explicit formula."""
    jj, ii = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    uv1 = np.stack([jj, ii, np.ones_like(jj)], axis=-1)
    return uv1 @ np.linalg.inv(K.numpy()).T


def _slab(rays: np.ndarray, rotation: np.ndarray, center: np.ndarray, half: float):
    """Ray/box intersection (slab method) for rays from the origin; returns t_near, t_far (the
    ray parameter, = z-depth for rays with d_z = 1)."""
    o = rotation.T @ (-center)
    d = rays @ rotation  # rows R^T d
    with np.errstate(divide="ignore"):
        t1, t2 = (-half - o) / d, (half - o) / d
    return np.minimum(t1, t2).max(axis=-1), np.maximum(t1, t2).min(axis=-1)


# ------------------------------------------------------------------------------ analytic scenes


def test_cube_on_axis_silhouette_depth_and_shading():
    # Front face z = 3.5, half side 0.5 -> 14.2857 px; a principal point off the half-pixel
    # grid makes the pixel count depend on the pixel-centre convention (a 0.5 px shift changes it).
    f, cx, cy, W, H = 100.0, 31.3, 33.7, 64, 66
    K = intrinsics(torch.tensor(f, dtype=F64), torch.tensor([cx, cy], dtype=F64))
    verts, faces = _mesh(trimesh.creation.box(extents=(1.0, 1.0, 1.0)), center=(0.0, 0.0, 4.0))
    labels = torch.zeros(len(faces), dtype=torch.long)
    palette = torch.tensor([[200, 100, 50]], dtype=torch.uint8)
    img, depth, mask = render_parts(
        verts, faces, labels, K, (W, H), palette=palette, return_depth=True, return_mask=True
    )
    h = f * 0.5 / 3.5
    cols = (np.arange(W) + 0.5 > cx - h) & (np.arange(W) + 0.5 < cx + h)
    rows = (np.arange(H) + 0.5 > cy - h) & (np.arange(H) + 0.5 < cy + h)
    expected = rows[:, None] & cols[None, :]
    assert mask.shape == (1, H, W) and img.shape == (1, H, W, 3) and img.dtype == torch.uint8
    np.testing.assert_array_equal(mask[0].numpy(), expected)
    assert int(mask.sum()) == 29 * 29
    ii, jj = np.nonzero(expected)
    assert abs(jj.mean() + 0.5 - cx) < 0.5 and abs(ii.mean() + 0.5 - cy) < 0.5
    # Only the front face is visible: z-depth 3.5 everywhere (not the ray length), inf outside.
    np.testing.assert_allclose(depth[0].numpy()[expected], 3.5, rtol=1e-6)
    assert torch.isinf(depth[0][~mask[0]]).all()
    assert depth[0, int(cy), int(cx)] == pytest.approx(3.5, rel=1e-6)
    # Shading: normal (0, 0, 1), so cos = 1 / |d| with d = K^-1 (u, v, 1).
    rays = _pixel_rays(K, W, H)
    cos = 1.0 / np.linalg.norm(rays, axis=-1)
    shade = np.rint(np.array([200, 100, 50]) * (0.5 + 0.5 * cos[..., None])).astype(np.uint8)
    np.testing.assert_array_equal(img[0].numpy()[expected], shade[expected])
    assert (img[0].numpy()[~expected] == 0).all()


def test_rotated_box_matches_slab_ray_cast():
    g = torch.Generator().manual_seed(1)
    R = roma.random_rotmat(generator=g).to(F64)
    center = np.array([0.4, -0.3, 5.0])
    W, H = 96, 80
    K = intrinsics(torch.tensor(120.0, dtype=F64), torch.tensor([45.0, 42.0], dtype=F64))
    verts, faces = _mesh(trimesh.creation.box(extents=(1.2, 1.2, 1.2)), R, center)
    labels = torch.zeros(len(faces), dtype=torch.long)
    _, depth, mask = render_parts(
        verts, faces, labels, K, (W, H), return_depth=True, return_mask=True
    )
    t_near, t_far = _slab(_pixel_rays(K, W, H), R.numpy(), center, 0.6)
    hit = t_near <= t_far
    differ = mask[0].numpy() != hit
    # Only pixel centres within float32 noise of the silhouette may disagree.
    assert (np.abs(t_far - t_near)[differ] < 1e-4).all() and differ.sum() <= 2
    both = hit & mask[0].numpy()
    assert both.sum() > 500
    np.testing.assert_allclose(depth[0].numpy()[both], t_near[both], rtol=1e-5)


def test_sphere_silhouette_area_and_centre():
    # A sphere of radius r at distance Z images to a disc of radius f r / sqrt(Z^2 - r^2)
    # (tangent cone); the inscribed icosphere is slightly smaller.
    r, Z, f, W, H = 0.5, 3.0, 160.0, 80, 80
    K = intrinsics(torch.tensor(f, dtype=F64), torch.tensor([40.0, 40.0], dtype=F64))
    verts, faces = _mesh(trimesh.creation.icosphere(subdivisions=4, radius=r), center=(0, 0, Z))
    _, depth, mask = render_parts(
        verts, faces, torch.zeros(len(faces), dtype=torch.long), K, (W, H),
        return_depth=True, return_mask=True,
    )  # fmt: skip
    radius = f * r / math.sqrt(Z**2 - r**2)
    area = float(mask.sum())
    assert 0.985 * math.pi * radius**2 < area < 1.005 * math.pi * radius**2
    ii, jj = np.nonzero(mask[0].numpy())
    assert abs(jj.mean() + 0.5 - 40.0) < 0.1 and abs(ii.mean() + 0.5 - 40.0) < 0.1
    assert float(depth[0, 40, 40]) == pytest.approx(Z - r, rel=2e-3)


@pytest.mark.parametrize("scale", [1, 2])
def test_crop_render_is_cut_of_full_render(scale):
    """Rendering with K_crop = A K at crop size IS the crop: for an integer-aligned bbox it equals
    the cut of the full render at ``scale`` times the resolution, bit for bit."""
    g = torch.Generator().manual_seed(2)
    scene = trimesh.util.concatenate(
        [
            trimesh.creation.icosphere(subdivisions=3, radius=0.4).apply_translation([-0.5, 0, 4]),
            trimesh.creation.box(extents=(0.6, 0.9, 0.5)).apply_translation([0.4, 0.2, 3.5]),
        ]
    )
    verts, faces = _mesh(scene)
    labels = torch.randint(0, len(PART_COLORS), (len(faces),), generator=g)
    W, H, f = 160, 120, 110.0
    K = intrinsics(torch.tensor(f, dtype=F64), torch.tensor([80.0, 60.0], dtype=F64))
    center, crop = torch.tensor([92.0, 58.0], dtype=F64), 48
    K_crop = crop_intrinsics(K, center, crop / scale, crop)
    S = torch.diag(torch.tensor([scale, scale, 1.0], dtype=F64))
    full = render_parts(verts, faces, labels, S @ K, (W * scale, H * scale), return_depth=True)
    cut = render_parts(verts, faces, labels, K_crop, (crop, crop), return_depth=True)
    # Crop pixel (i, j) is pixel (i + top, j + left) of the scaled full frame.
    left, top = int(scale * center[0]) - crop // 2, int(scale * center[1]) - crop // 2
    for a, b in zip(cut, full):
        window = b[:, top : top + crop, left : left + crop]
        assert torch.equal(a, window)
    assert (cut[1] < math.inf).float().mean() > 0.2  # the crop does show the scene


def test_empty_scene_gives_background():
    K = intrinsics(torch.tensor(50.0), torch.tensor([16.0, 16.0]))
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    behind, faces = _mesh(box, center=(0.0, 0.0, -3.0))
    aside, _ = _mesh(box, center=(20.0, 0.0, 3.0))
    verts = torch.cat([behind, aside]).float()
    labels = torch.zeros(len(faces), dtype=torch.long)
    img, depth, mask, lab = render_parts(
        verts, faces, labels, K, (32, 24), background=(10, 20, 30),
        return_depth=True, return_mask=True, return_labels=True,
    )  # fmt: skip
    assert img.shape == (2, 24, 32, 3)
    assert (img == torch.tensor([10, 20, 30], dtype=torch.uint8)).all()
    assert torch.isinf(depth).all() and not mask.any() and (lab == -1).all()
    no_faces = render_parts(verts, faces[:0], labels[:0], K, (32, 24))
    assert (no_faces == 0).all()


def test_deterministic_and_batch_consistent():
    g = torch.Generator().manual_seed(3)
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    verts = torch.cat([_mesh(sphere, center=(0.1 * k, 0.0, 3.0 + k))[0] for k in range(3)])
    faces = torch.tensor(sphere.faces)
    labels = torch.randint(0, len(PART_COLORS), (len(faces),), generator=g)
    K = intrinsics(torch.tensor([60.0, 70.0, 80.0]), torch.tensor([[24.0, 20.0]] * 3))
    a = render_parts(verts, faces, labels, K, (48, 40), return_depth=True, return_labels=True)
    b = render_parts(verts, faces, labels, K, (48, 40), return_depth=True, return_labels=True)
    for x, y in zip(a, b):
        assert x.numpy().tobytes() == y.numpy().tobytes()
    for k in range(3):
        single = render_parts(verts[k : k + 1], faces, labels, K[k], (48, 40))
        assert torch.equal(single[0], a[0][k])
    # The label map decodes the flat-shaded colours.
    flat, lab = render_parts(verts, faces, labels, K, (48, 40), shading=False, return_labels=True)
    hit = lab >= 0
    assert torch.equal(flat[hit], PART_COLORS[lab[hit]])


def test_bad_inputs_raise():
    verts, faces = _mesh(trimesh.creation.box())
    labels = torch.zeros(len(faces), dtype=torch.long)
    K = intrinsics(torch.tensor(50.0, dtype=F64), torch.tensor([16.0, 16.0], dtype=F64))
    with pytest.raises(ValueError, match="palette"):
        render_parts(verts, faces, labels + len(PART_COLORS), K, (32, 32))
    with pytest.raises(ValueError, match="upper-triangular"):
        render_parts(verts, faces, labels, K.T, (32, 32))
    with pytest.raises(ValueError, match="NaN"):
        render_parts(verts * math.nan, faces, labels, K, (32, 32))
    with pytest.raises(ValueError, match="face_labels"):
        render_parts(verts, faces, labels[:-1], K, (32, 32))
    with pytest.raises(ValueError, match="vertices"):
        render_parts(verts[0], faces, labels, K, (32, 32))


# ------------------------------------------------------------------------------------- labels


def test_part_labels_argmax_and_groups():
    w = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.0, 0.0, 1.0]])
    assert part_labels(w).tolist() == [0, 2, 1, 2]
    assert part_labels(w, {"a": [2], "b": [0, 1]}).tolist() == [1, 0, 1, 0]
    with pytest.raises(ValueError, match="no group"):
        part_labels(w, {"a": [0, 1]})
    with pytest.raises(ValueError, match="two groups"):
        part_labels(w, {"a": [0, 1], "b": [1, 2]})


def test_face_labels_majority_then_first_vertex():
    g = torch.Generator().manual_seed(4)
    vertex_labels = torch.randint(0, 4, (50,), generator=g)
    faces = torch.randint(0, 50, (400, 3), generator=g)
    expected = []
    for face in faces.tolist():
        labs = [int(vertex_labels[i]) for i in face]
        label, count = collections.Counter(labs).most_common(1)[0]
        expected.append(label if count > 1 else labs[0])
    assert face_part_labels(vertex_labels, faces).tolist() == expected


def test_default_groups_cover_both_rigs():
    from posebook.body.models import SMPL_JOINT_NAMES

    cmu = [n for n in CMU_PARTS if not n.endswith("Index1")]  # Anny's cmu_mb names
    for names in (cmu, SMPL_JOINT_NAMES):
        groups = default_part_groups(names)
        assert tuple(groups) == PART_NAMES
        assert sorted(j for js in groups.values() for j in js) == list(range(len(names)))
        assert all(groups[p] for p in PART_NAMES)
    assert set(SMPL_PARTS.values()) == set(CMU_PARTS.values()) == set(PART_NAMES)
    with pytest.raises(ValueError, match="groups="):
        default_part_groups(["root", "spine"])


# Machado, Oliveira & Fernandes (2009) severity-1 simulation matrices, on linear sRGB.
_CVD = {
    "protan": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
               [-0.003882, -0.048116, 1.051998]],
    "deutan": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
               [-0.011820, 0.042940, 0.968881]],
}  # fmt: skip


def _lab(rgb8: np.ndarray, cvd: str | None) -> np.ndarray:
    """CIELAB (D65) of 8-bit sRGB colours, optionally as seen with a colour-vision deficiency."""
    c = rgb8 / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    if cvd is not None:
        lin = np.clip(lin @ np.array(_CVD[cvd]).T, 0.0, 1.0)
    xyz_matrix = [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
    xyz = lin @ np.array(xyz_matrix).T / np.array([0.95047, 1.0, 1.08883])
    fx = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * fx[:, 1] - 16, 500 * (fx[:, 0] - fx[:, 1]), 200 * (fx[:, 1] - fx[:, 2])], axis=1
    )


def test_palette_distinct_for_colour_blind_viewers():
    assert PART_COLORS.shape == (len(PART_NAMES), 3) and PART_COLORS.dtype == torch.uint8
    idx = {n: i for i, n in enumerate(PART_NAMES)}
    segments = ("upper_arm", "forearm", "hand", "thigh", "shin", "foot")
    twins = [(f"left_{s}", f"right_{s}") for s in segments]
    chains = [("upper_arm", "forearm"), ("forearm", "hand"), ("thigh", "shin"), ("shin", "foot")]
    touching = [(f"{side}_{a}", f"{side}_{b}") for side in ("left", "right") for a, b in chains]
    touching += [("head", "torso"), ("torso", "pelvis"), ("torso", "left_upper_arm"),
                 ("torso", "right_upper_arm"), ("pelvis", "left_thigh"), ("pelvis", "right_thigh")]
    pairs = np.array([(idx[a], idx[b]) for a, b in twins + touching])
    rgb = PART_COLORS.numpy().astype(np.float64)
    normal = _lab(rgb, None)
    dist = np.linalg.norm(normal[:, None] - normal[None], axis=-1)
    assert dist[np.triu_indices(len(rgb), 1)].min() > 15  # all parts, normal vision
    assert normal[:, 0].min() > 30  # L* > 30: readable on the black background
    for cvd in _CVD:
        lab = _lab(rgb, cvd)
        assert np.linalg.norm(lab[pairs[:, 0]] - lab[pairs[:, 1]], axis=1).min() > 10, cvd


# ---------------------------------------------------------------------------------- Anny body


@pytest.fixture(scope="module")
def anny():
    from posebook.body.models import AnnyBody

    return AnnyBody()


@pytest.fixture(scope="module")
def posed(anny):
    """Three randomly posed Anny bodies 3-5 m in front of a 256 x 192 camera, camera frame."""
    g = torch.Generator().manual_seed(5)
    B = 3
    rot = roma.rotvec_to_rotmat(0.25 * torch.randn(B, anny.num_joints, 3, generator=g))
    yaw = torch.tensor([0.3, -0.5, 2.8])  # the last one seen mostly from the back
    rot[:, 0] = roma.rotvec_to_rotmat(yaw[:, None] * torch.tensor([0.0, 1.0, 0.0])) @ rot[:, 0]
    out = anny(rot)
    to_cam = torch.diag(torch.tensor([1.0, -1.0, -1.0]))  # y up, z front -> y down, z forward
    t = torch.tensor([[0.2, 0.1, 3.0], [-0.3, 0.0, 4.0], [0.1, -0.1, 5.0]])
    W, H = 256, 192
    K = intrinsics(torch.tensor(250.0), torch.tensor([W / 2, H / 2])).expand(B, 3, 3)
    return {
        "vertices": out.vertices @ to_cam.T + t[:, None],
        "joints": out.joints @ to_cam.T + t[:, None],
        "K": K,
        "size": (W, H),
    }


@pytest.mark.slow
def test_anny_projected_joints_and_parts_land_on_their_pixels(anny, posed):
    renderer = PartRenderer.from_body(anny)
    img, depth, mask, labels = renderer(
        posed["vertices"], posed["K"], posed["size"],
        return_depth=True, return_mask=True, return_labels=True,
    )  # fmt: skip
    W, H = posed["size"]
    names = ["Hips", "Spine1", "Neck", "LeftUpLeg", "RightUpLeg", "LeftLeg", "RightLeg",
             "LeftArm", "RightArm"]  # fmt: skip
    jidx = [anny.joint_names.index(n) for n in names]
    uv = project(posed["joints"][:, jidx].double(), posed["K"].double())
    pix = torch.floor(uv).long()  # (u, v) -> column floor(u), row floor(v)
    for b in range(len(uv)):
        outside = ndimage.distance_transform_edt(~mask[b].numpy())
        for k, name in enumerate(names):
            col, row = int(pix[b, k, 0]), int(pix[b, k, 1])
            assert 0 <= col < W and 0 <= row < H
            assert outside[row, col] <= 2.0, (b, name, outside[row, col])

    # Every visible vertex of the mid segments of thighs and upper arms is drawn in its colour.
    vertex_parts = part_labels(anny.skinning_weights, default_part_groups(anny.joint_names))
    segments = {"left_thigh": ("LeftUpLeg", "LeftLeg"), "right_thigh": ("RightUpLeg", "RightLeg"),
                "left_upper_arm": ("LeftArm", "LeftForeArm"),
                "right_upper_arm": ("RightArm", "RightForeArm")}  # fmt: skip
    v_uv = torch.floor(project(posed["vertices"].double(), posed["K"].double())).long()
    for b in range(len(uv)):
        for part, (head, tail) in segments.items():
            p = PART_NAMES.index(part)
            a = posed["joints"][b, anny.joint_names.index(head)]
            c = posed["joints"][b, anny.joint_names.index(tail)]
            along = ((posed["vertices"][b] - a) @ (c - a)) / (c - a).dot(c - a)
            chosen = (vertex_parts == p) & (along > 0.3) & (along < 0.7)
            col, row = v_uv[b, chosen, 0], v_uv[b, chosen, 1]
            inside = (col >= 0) & (col < W) & (row >= 0) & (row < H)
            col, row = col[inside], row[inside]
            z = posed["vertices"][b, chosen, 2][inside]
            visible = (depth[b, row, col] - z).abs() < 0.01
            drawn = labels[b, row[visible], col[visible]]
            assert len(drawn) >= 10 and (drawn == p).float().mean() > 0.97, (b, part)


@pytest.mark.slow
def test_anny_crop_equals_cut_and_renderer_matches_function(anny, posed):
    renderer = PartRenderer.from_body(anny)
    K = posed["K"].double()
    full, full_labels = renderer(posed["vertices"], K, posed["size"], return_labels=True)
    # Integer-aligned 96 px crops around each projected pelvis.
    hips = project(posed["joints"][:, :1].double(), K)[:, 0]
    center = torch.round(hips)
    K_crop = crop_intrinsics(K, center, 96.0, 96)
    crop, crop_labels = renderer(posed["vertices"], K_crop, (96, 96), return_labels=True)
    for b in range(len(center)):
        left, top = int(center[b, 0]) - 48, int(center[b, 1]) - 48
        window = full[b, top : top + 96, left : left + 96]
        assert torch.equal(crop[b], window)
        assert torch.equal(crop_labels[b], full_labels[b, top : top + 96, left : left + 96])
    faces = anny.faces
    labels = face_part_labels(
        part_labels(anny.skinning_weights, default_part_groups(anny.joint_names)), faces
    )
    direct = render_parts(posed["vertices"][:1], faces, labels, K[:1], posed["size"])
    assert torch.equal(direct[0], full[0])
