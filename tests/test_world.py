"""Tests for posebook.data.world: small worlds on the real Anny body, each property checked by a
second route (explicit pinhole arithmetic, the body model rerun, the crop map inverted)."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest
import torch

from posebook.body import joints as joint_sets
from posebook.data.world import (
    MODEL_TO_CAMERA,
    World,
    WorldConfig,
    build_world,
    world_cache_dir,
    world_cache_key,
)
from posebook.geometry.points import farthest_point_indices
from posebook.runs import ENV_CACHE_DIR, ENV_CMU_DIR

pytestmark = pytest.mark.slow  # every world runs the Anny model

REPO = Path(__file__).resolve().parents[1]
SETS = ("h36m17", "coco17")


@pytest.fixture(scope="module")
def body():
    from posebook.body.models import AnnyBody

    return AnnyBody()


def _build(body, **overrides) -> World:
    fields = dict(size=32, seed=0, source="procedural", joint_sets=SETS, render=False)
    fields.update(overrides)
    return build_world(WorldConfig(**fields), cache=False, body=body, progress=False)


@pytest.fixture(scope="module")
def world(body) -> World:
    return _build(body, size=48, placement_spread=1.0, store_vertices=True, vertex_subset=300)


@pytest.fixture(scope="module")
def rendered(body) -> World:
    return _build(body, size=16, placement_spread=1.0, render=True, crop_size=64)


def _tensors(w: World) -> dict[str, torch.Tensor]:
    out = {f: getattr(w, f) for f in World._PER_SAMPLE if getattr(w, f) is not None}
    out.update({f"j3d.{k}": v for k, v in w.joints3d.items()})
    out.update({f"j2d.{k}": v for k, v in w.keypoints2d.items()})
    return out


def _assert_same(a: World, b: World) -> None:
    ta, tb = _tensors(a), _tensors(b)
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k
    assert a.meta.equals(b.meta)


# ------------------------------------------------------------------------- determinism, shapes


def test_deterministic_from_seed(body, world):
    again = _build(body, size=48, placement_spread=1.0, store_vertices=True, vertex_subset=300)
    _assert_same(world, again)
    other = _build(body, size=48, seed=1, placement_spread=1.0, store_vertices=True, vertex_subset=300)
    assert not torch.equal(world.rotations, other.rotations)
    assert not torch.equal(world.K, other.K)


def test_shapes_and_provenance(world):
    n = len(world)
    assert n == 48 and world.rotations.shape == (n, 31, 3, 3)
    assert world.shape.shape == (n, 6) and world.root.shape == (n, 3)
    for s in SETS:
        J = len(joint_sets.joint_names(s))
        assert world.joints3d[s].shape == (n, J, 3) and world.keypoints2d[s].shape == (n, J, 2)
    assert world.vertices.shape == (n, 300, 3) and world.vertex_indices.shape == (300,)
    assert world.images_crop is None and world.resolved_source == "procedural"
    assert list(world.meta["sample"]) == list(range(n))
    assert all(src == f"procedural:{fam}" for src, fam in zip(world.meta["source"], world.meta["family"]))
    # adult phenotypes in the configured ranges: [gender, age, muscle, weight, height, proportions]
    assert float(world.shape[:, 1].min()) >= 0.7 and float(world.shape[:, 1].max()) <= 0.9
    assert float(world.shape[:, 2:].min()) >= 0.2 and float(world.shape[:, 2:].max()) <= 0.8


# ------------------------------------------------------------------------- geometry


def test_keypoints_are_pinhole_projections(world):
    for s in SETS:
        X = world.joints3d[s].double()
        K = world.K.double()
        u = K[:, None, 0, 0] * X[..., 0] / X[..., 2] + K[:, None, 0, 2]
        v = K[:, None, 1, 1] * X[..., 1] / X[..., 2] + K[:, None, 1, 2]
        torch.testing.assert_close(world.keypoints2d[s].double(), torch.stack([u, v], -1), atol=1e-3, rtol=0)


def test_intrinsics_follow_the_sampled_fov(world):
    W, H = world.image_size
    fov = torch.tensor(world.meta["fov_deg"].to_numpy())
    f = (W / 2) / torch.tan(torch.deg2rad(fov) / 2)
    torch.testing.assert_close(world.K[:, 0, 0].double(), f, atol=1e-3, rtol=1e-5)
    assert torch.equal(world.K[:, 0, 2], torch.full((len(world),), W / 2.0))
    assert torch.equal(world.K[:, 1, 2], torch.full((len(world),), H / 2.0))
    assert float(fov.min()) >= 40.0 and float(fov.max()) <= 80.0


def test_bodies_in_front_of_the_camera(world):
    assert float(world.vertices[..., 2].min()) > 1.0
    for s in SETS:
        assert float(world.joints3d[s][..., 2].min()) > 1.0
    depth = torch.tensor(world.meta["depth"].to_numpy()).float()
    torch.testing.assert_close(world.root[:, 2], depth, atol=1e-5, rtol=0)


def test_bbox_contains_every_keypoint_and_vertex(world):
    half = 0.5 * world.bbox_size[:, None, None]
    points = [world.keypoints2d[s] for s in SETS]
    points.append(torch.einsum("nij,nvj->nvi", world.K, world.vertices))
    points[-1] = points[-1][..., :2] / points[-1][..., 2:]
    for uv in points:
        assert bool(((uv - world.bbox_center[:, None]).abs() <= half + 1e-3).all())


def test_body_model_reproduces_the_camera_frame_joints(body, world):
    """rotations[:, 0] is the camera-frame orientation and root the camera-frame root, so the
    body model alone gives the stored joints."""
    with torch.no_grad():
        out = body(world.rotations, world.shape, world.root)
    h36m = joint_sets.convert_joints(out.joints, "h36m17", tails=out.bone_tails)
    torch.testing.assert_close(h36m, world.joints3d["h36m17"], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.vertices[:, world.vertex_indices], world.vertices, atol=1e-4, rtol=0)
    # world_to_cam = Rz(roll) Rx(pitch) diag(1, -1, -1)
    C = torch.tensor(MODEL_TO_CAMERA)
    pitch = torch.deg2rad(torch.tensor(world.meta["pitch_deg"].to_numpy())).float()
    roll = torch.deg2rad(torch.tensor(world.meta["roll_deg"].to_numpy())).float()
    c, s, z, o = torch.cos(pitch), torch.sin(pitch), torch.zeros_like(pitch), torch.ones_like(pitch)
    Rx = torch.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(-1, 3, 3)
    c, s = torch.cos(roll), torch.sin(roll)
    Rz = torch.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(-1, 3, 3)
    torch.testing.assert_close(world.world_to_cam, Rz @ Rx @ C, atol=1e-6, rtol=0)


def test_camera_frame_convention_up_and_left(body):
    """Model frame -> OpenCV: heads are above pelvises in the image (v smaller) for upright
    bodies, and a subject facing the camera (yaw ~ 0) shows its LEFT hip on the image's RIGHT."""
    w = _build(body, size=64, families=("stand",), joint_sets=("h36m17",))
    names = joint_sets.joint_names("h36m17")
    kp = w.keypoints2d["h36m17"]
    head, pelvis = kp[:, names.index("Head")], kp[:, names.index("Hip")]
    assert bool((head[:, 1] < pelvis[:, 1]).all())
    yaw = torch.tensor(w.meta["yaw_deg"].to_numpy())
    facing = (yaw < 60) | (yaw > 300)
    away = (yaw > 120) & (yaw < 240)
    assert int(facing.sum()) > 3 and int(away.sum()) > 3
    left_minus_right = kp[:, names.index("LHip"), 0] - kp[:, names.index("RHip"), 0]
    assert bool((left_minus_right[facing] > 0).all()) and bool((left_minus_right[away] < 0).all())


def test_placement_spread(body):
    centred = _build(body, size=24, placement_spread=0.0, joint_sets=("h36m17",))
    W, H = centred.image_size
    root_uv = centred.root[:, :2] / centred.root[:, 2:] * centred.K[:, 0, 0, None] + centred.K[:, :2, 2]
    torch.testing.assert_close(root_uv, torch.tensor([W / 2, H / 2]).expand(24, 2), atol=1e-3, rtol=0)
    spread = _build(body, size=24, placement_spread=1.0, joint_sets=("h36m17",))
    uv = spread.root[:, :2] / spread.root[:, 2:] * spread.K[:, 0, 0, None] + spread.K[:, :2, 2]
    offset = (uv - torch.tensor([W / 2, H / 2])) / torch.tensor([W / 2, H / 2])
    assert float(offset.abs().max()) <= 1.0 + 1e-5  # never beyond the image border
    assert float(offset.abs().amax(dim=1).mean()) > 0.4 and float(offset[:, 0].std()) > 0.3


def test_crop_intrinsics_map_bbox_to_crop(world):
    S = world.crop_size
    half = 0.5 * world.bbox_size
    c = world.bbox_center
    corners = torch.stack([c - half[:, None], c, c + half[:, None]], dim=1)  # (N, 3, 2)
    # back-project with K at depth 2 m, then project with K_crop
    rays = torch.cat([corners, torch.ones_like(corners[..., :1])], -1) @ torch.linalg.inv(world.K).transpose(-1, -2)
    crop = rays @ world.K_crop.transpose(-1, -2)
    crop = crop[..., :2] / crop[..., 2:]
    expected = torch.tensor([[0.0, 0.0], [S / 2, S / 2], [S, S]]).expand_as(crop)
    torch.testing.assert_close(crop, expected, atol=2e-3, rtol=0)


def test_rendered_crop_covers_the_torso(rendered):
    images = rendered.images_crop
    assert images.shape == (16, 64, 64, 3) and images.dtype == torch.uint8
    names = joint_sets.joint_names("h36m17")
    torso = [names.index(n) for n in ("Hip", "Spine", "Thorax")]
    X = rendered.joints3d["h36m17"][:, torso]
    uv_crop = X @ rendered.K_crop.transpose(-1, -2)
    uv_crop = uv_crop[..., :2] / uv_crop[..., 2:]
    uv_full = rendered.keypoints2d["h36m17"][:, torso]
    W, H = rendered.image_size
    inside_full = (uv_full[..., 0] > 0) & (uv_full[..., 0] < W) & (uv_full[..., 1] > 0) & (uv_full[..., 1] < H)
    foreground = images.amax(dim=-1) > 0
    checked = 0
    for n in range(len(rendered)):
        for k in range(len(torso)):
            if inside_full[n, k]:
                col, row = (int(x) for x in torch.floor(uv_crop[n, k]))
                assert foreground[n, row, col], f"sample {n}: torso joint {k} on background"
                checked += 1
    assert checked > 20
    # the body fills a good part of its crop, and not all of it
    fill = foreground.float().mean(dim=(1, 2))
    assert float(fill.min()) > 0.03 and float(fill.max()) < 0.8


def test_crop_is_padded_outside_the_full_frame(rendered):
    S = rendered.crop_size
    centres = torch.arange(S, dtype=torch.float64) + 0.5
    vv, uu = torch.meshgrid(centres, centres, indexing="ij")
    pix = torch.stack([uu, vv, torch.ones_like(uu)], -1).reshape(-1, 3)
    # crop pixel -> full-frame pixel through K K_crop^-1 (the inverse crop map)
    A_inv = rendered.K.double() @ torch.linalg.inv(rendered.K_crop.double())
    full = pix @ A_inv.transpose(-1, -2)
    W, H = rendered.image_size
    outside = ((full[..., 0] < 0) | (full[..., 0] >= W) | (full[..., 1] < 0) | (full[..., 1] >= H)).reshape(-1, S, S)
    assert int(outside.sum()) > 0, "no sample reaches outside the frame; raise the spread"
    assert int(rendered.images_crop.amax(dim=-1)[outside].max()) == 0


# ------------------------------------------------------------------------- subset, split, cache


def test_subset_and_split(world):
    sub = world.subset([3, 1])
    assert len(sub) == 2 and list(sub.meta["sample"]) == [3, 1]
    assert torch.equal(sub.joints3d["h36m17"][0], world.joints3d["h36m17"][3])
    mask = torch.zeros(len(world), dtype=torch.bool)
    mask[::2] = True
    assert len(world.subset(mask)) == len(world) // 2
    train, test = world.split(0.75, seed=0)
    assert len(train) + len(test) == len(world)
    assert set(train.meta["sample"]).isdisjoint(test.meta["sample"])
    assert len(train) == 36
    with pytest.raises(ValueError, match="train_frac"):
        world.split(1.0)


def test_cache_round_trip(body, tmp_path, monkeypatch):
    config = WorldConfig(size=8, seed=3, source="procedural", joint_sets=("h36m17",), render=True, crop_size=32)
    tic = time.perf_counter()
    first = build_world(config, cache_dir=tmp_path, body=body, progress=False)
    built = time.perf_counter() - tic
    assert not first.loaded_from_cache and first.cache_path.is_file()
    assert first.cache_path.with_suffix(".json").is_file()
    assert first.cache_path.name == f"{world_cache_key(config)}.npz"
    mtime = os.stat(first.cache_path).st_mtime_ns
    tic = time.perf_counter()
    second = build_world(config, cache_dir=tmp_path, body=body, progress=False)
    loaded = time.perf_counter() - tic
    assert second.loaded_from_cache and second.cache_path == first.cache_path
    assert os.stat(first.cache_path).st_mtime_ns == mtime  # reused, not rewritten
    assert loaded < built
    _assert_same(first, second)
    # the environment variable names the cache root
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path / "root"))
    assert world_cache_dir() == tmp_path / "root" / "world"
    third = build_world(config, body=body, progress=False)
    assert third.cache_path.parent == tmp_path / "root" / "world"
    # a different config is a different file
    assert world_cache_key(dataclasses.replace(config, seed=4)) != world_cache_key(config)


def test_cli_world_build(tmp_path, capsys):
    from posebook.cli import main

    argv = ["world", "build", "--size", "4", "--seed", "2", "--source", "procedural", "--no-render",
            "--out-dir", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    npz = next(tmp_path.glob("*.npz"))
    assert f"written to {npz}" in out and "samples: 4" in out and "source: procedural" in out
    assert main(argv) == 0
    assert f"loaded from {npz}" in capsys.readouterr().out
    assert main(["world", "build", "--size", "0"]) == 2
    assert "empty world request" in capsys.readouterr().err


# ------------------------------------------------------------------------- errors


def test_errors(body, monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="empty world request"):
        build_world(WorldConfig(size=0), cache=False, body=body)
    with pytest.raises(ValueError, match="empty world request"):
        build_world(WorldConfig(size=-3), cache=False, body=body)
    with pytest.raises(ValueError, match="unknown joint set"):
        build_world(WorldConfig(size=4, joint_sets=("mpii16",)), cache=False, body=body)
    monkeypatch.delenv(ENV_CMU_DIR, raising=False)
    with pytest.raises(FileNotFoundError, match=ENV_CMU_DIR):
        build_world(WorldConfig(size=4, source="cmu"), cache=False, body=body)
    auto = build_world(WorldConfig(size=4, source="auto", joint_sets=("h36m17",), render=False),
                       cache=False, body=body, progress=False)
    assert auto.resolved_source == "procedural"
    with pytest.raises(ValueError, match="families"):
        build_world(WorldConfig(size=4, families=("dance",)), cache=False, body=body)
    with pytest.raises(ValueError, match="placement_spread"):
        build_world(WorldConfig(size=4, placement_spread=1.5), cache=False, body=body)


def test_farthest_point_indices_hand_case():
    points = torch.tensor([[0.0, 0, 0], [0.1, 0, 0], [5.0, 0, 0], [2.6, 0, 0], [0, 3.0, 0]])
    # from 0: farthest is 2 (5 m); then the point farthest from {0, 2}: 4 (3 m) beats 3 (2.4 m)
    assert farthest_point_indices(points, 4, start=0).tolist() == [0, 2, 4, 3]
    # default start: the point farthest from the centroid (1.54, 0.6, 0): point 2 (3.5 m)
    assert farthest_point_indices(points, 2).tolist() == [2, 4]


# ------------------------------------------------------------------------- CMU


def test_cmu_world_is_balanced_and_traceable(body, cmu_dir):
    w = build_world(WorldConfig(size=40, seed=0, source="cmu", cmu_dir=str(cmu_dir), joint_sets=("h36m17",),
                                render=False), cache=False, body=body, progress=False)
    assert w.resolved_source == "cmu"
    assert w.meta["source"].str.fullmatch(r"cmu:\d+_\d+#\d+").all()
    assert (w.meta["source"] == "cmu:" + w.meta["clip"] + "#" + w.meta["frame"].astype(str)).all()
    counts = w.meta["subject"].value_counts()
    assert len(counts) >= 3
    # subject 135 holds 73 % of the frames; balancing by subject gives it ~1/4 of the samples
    assert counts.get("135", 0) / len(w) < 0.5
    # frames at 10 fps of 120 fps clips: multiples of 12
    assert (w.meta["frame"] % 12 == 0).all()
    train, test = w.split(0.7, seed=0)
    assert set(train.meta["clip"]).isdisjoint(test.meta["clip"]) and len(test) > 0
    # retargeted CMU poses are human: heads above pelvises in the image for most samples
    names = joint_sets.joint_names("h36m17")
    kp = w.keypoints2d["h36m17"]
    assert float((kp[:, names.index("Head"), 1] < kp[:, names.index("Hip"), 1]).float().mean()) > 0.8
