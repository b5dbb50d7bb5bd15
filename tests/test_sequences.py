"""Tests for posebook.data.sequences: consecutive CMU frames in one fixed camera per clip (CLIFF supp.
Table 1's videos): the time axis against the mocap, the labels against the camera model and the body, the
crops against rendering each frame alone, the cache, and the refusals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from posebook.data import sequences as seqmod
from posebook.data.sequences import (SequenceConfig, build_sequences, clip_lengths, sequence_cache_dir, sequence_index,
                                     sequence_key)
from posebook.geometry import camera

CLIPS = ("02_01", "02_05")
FRAMES, START = 12, 8


def _config(cmu_dir, **overrides) -> SequenceConfig:
    fields = dict(clips=CLIPS, frames=FRAMES, start=START, crop_size=48, cmu_dir=str(cmu_dir), seed=4)
    fields.update(overrides)
    return SequenceConfig(**fields)


@pytest.fixture(scope="module")
def body():
    from posebook.body.models import shared_anny_body

    return shared_anny_body()


@pytest.fixture(scope="module")
def built(body, cmu_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return build_sequences(_config(cmu_dir), cache_dir=cache, body=body, chunk_size=10), cache


# ------------------------------------------------------------------------------ config (fast)


@pytest.mark.parametrize("field, value, match", [
    ("clips", (), "clips must name"),
    ("fps", 240.0, "fps must lie in"),
    ("fps", 0.0, "fps must lie in"),
    ("frames", 2, "frames must be an int >= 3"),
    ("start", -1, "start must be an int >= 0"),
    ("seed", -3, "seed must be"),
    ("crop_size", 0, "crop_size"),
    ("depth", (0.0, 3.0), "depth must be a range"),
    ("fov_deg", (50.0, 40.0), "fov_deg must be a range"),
    ("bbox_scale", 0.9, "bbox_scale"),
    ("joint_sets", (), "joint_sets is empty"),
    ("joint_sets", ("h36m17", "nope"), "nope"),
])
def test_bad_config_fields_are_named(field, value, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(SequenceConfig(), **{field: value}).validate()


def test_config_normalises_sequences_to_tuples():
    a = SequenceConfig(clips=["02_01"], joint_sets=["h36m17"], image_size=[256, 192])
    assert a == SequenceConfig(clips=("02_01",), joint_sets=("h36m17",), image_size=(256, 192))
    assert SequenceConfig(clips="02_01").clips == ("02_01",)
    assert a.size == a.frames
    wc = a.world_config()
    assert wc.source == "cmu" and wc.placement_spread == 0.0 and wc.fps_subsample == a.fps


def test_missing_cmu_data_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("POSEBOOK_CMU_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="POSEBOOK_CMU_DIR"):
        build_sequences(SequenceConfig(), cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="POSEBOOK_CMU_DIR"):
        clip_lengths()


def test_clip_lengths_follow_the_resampling(cmu_dir):
    lengths = clip_lengths(cmu_dir, 30.0)
    assert lengths["02_01"] == 86 and lengths["02_03"] == 44  # 343 and 173 frames at 120 Hz, every 4th
    assert (lengths > 0).all()


# ------------------------------------------------------------------------------ build (slow)


@pytest.mark.slow
def test_unknown_or_short_clips_are_refused(body, cmu_dir, tmp_path):
    with pytest.raises(ValueError, match="not under .*02_01"):
        build_sequences(_config(cmu_dir, clips=("99_01",)), cache_dir=tmp_path, body=body)
    with pytest.raises(ValueError, match="02_03 has 44 frames at 30 fps"):
        build_sequences(_config(cmu_dir, clips=("02_03",), frames=40, start=10), cache_dir=tmp_path, body=body)


@pytest.mark.slow
def test_frames_are_consecutive_and_follow_the_mocap(built, cmu_dir):
    images, _ = built
    world = images.world
    assert len(images) == len(CLIPS) * FRAMES and images.images.shape == (len(images), 48, 48, 3)
    meta = world.meta
    index = sequence_index(images)
    assert [list(i) for i in index] == [list(range(k * FRAMES, (k + 1) * FRAMES)) for k in range(len(CLIPS))]
    assert list(meta["clip"].unique()) == list(CLIPS)
    assert (meta["t"].to_numpy() == np.tile(np.arange(FRAMES), len(CLIPS))).all()
    # the source frame at 120 Hz: every 4th from 4 * START
    assert (meta["frame"].to_numpy() == 4 * (START + meta["t"].to_numpy())).all()
    from posebook.data.mocap import list_cmu
    from posebook.data.world import _resampled_clip

    table = list_cmu(cmu_dir).set_index("clip")
    W, H = world.image_size
    for k, (clip, rows) in enumerate(zip(CLIPS, index)):
        # one camera and one body per clip; different between clips
        for name in ("K", "world_to_cam", "shape"):
            value = getattr(world, name)[rows]
            assert torch.equal(value, value[:1].expand_as(value)), name
        motion = _resampled_clip(table.loc[clip, "asf"], table.loc[clip, "amc"], 30.0)
        hips = [motion.skeleton.index("lhipjoint"), motion.skeleton.index("rhipjoint")]
        mocap_root = motion.positions[START:START + FRAMES, hips].mean(dim=1)  # retarget's Hips head
        root = world.root[rows].double()
        step = (root[1:] - root[:-1]).norm(dim=-1)
        mocap_step = (mocap_root[1:] - mocap_root[:-1]).norm(dim=-1)
        # the subject moves through the image as in the capture: a rigid motion of the trajectory
        assert torch.allclose(step, mocap_step, atol=2e-6)
        assert float(step.max()) < 0.1  # metres per frame at 30 fps (walking: ~0.045)
        # its mean root lies on the principal ray, at the sampled depth
        uv = camera.project(root.mean(dim=0)[None], world.K[rows[0]].double())[0]
        assert torch.allclose(uv, torch.tensor([W / 2, H / 2], dtype=torch.float64), atol=1e-3)
        lo, hi = seqmod.SequenceConfig().depth
        assert lo <= float(root[:, 2].mean()) <= hi
        # the relative root rotation between frames is the mocap's (the camera is fixed)
        G = motion.global_rotations[START:START + FRAMES, 0]
        R = world.rotations[rows, 0].double()
        rel, rel_mocap = R[:-1].transpose(-1, -2) @ R[1:], G[:-1].transpose(-1, -2) @ G[1:]
        assert torch.allclose(rel, rel_mocap, atol=1e-5)  # (Hips is kept rigid with the CMU root)
    assert not torch.equal(world.K[index[0][0]], world.K[index[1][0]])


@pytest.mark.slow
def test_labels_follow_the_camera_and_the_body(built, body):
    from posebook.body import joints as joint_sets

    images, _ = built
    world = images.world
    with torch.no_grad():
        posed = body(world.rotations, world.shape, world.root)
    assert torch.allclose(posed.joints[:, 0], world.root, atol=1e-5)  # the root is the Hips head
    uv_all = [camera.project(posed.vertices, world.K)]
    for name in ("cmu31", "h36m17"):
        expected = joint_sets.convert_joints(posed.joints, name, tails=posed.bone_tails)
        assert torch.allclose(world.joints3d[name], expected, atol=1e-5), name
        assert torch.allclose(world.keypoints2d[name], camera.project(world.joints3d[name], world.K), atol=1e-3)
        uv_all.append(world.keypoints2d[name])
    center, size = camera.bbox_from_points(torch.cat(uv_all, dim=1), scale=1.2)
    assert torch.allclose(world.bbox_center, center, atol=1e-2) and torch.allclose(world.bbox_size, size, atol=1e-2)
    assert torch.allclose(world.K_crop, camera.crop_intrinsics(world.K, world.bbox_center, world.bbox_size, 48))
    # the world's conventions: subset, split by clip, summary
    train, test = world.split(0.5, seed=0)
    assert set(train.meta["clip"]).isdisjoint(test.meta["clip"]) and len(train) + len(test) == len(world)
    assert world.summary()["clips"] == len(CLIPS)


@pytest.mark.slow
def test_crops_equal_rendering_each_frame_alone(built, body):
    from posebook.data.raster import PartRasterizer
    from posebook.data.world import blank_outside_frame

    images, _ = built
    world = images.world
    rasterizer = PartRasterizer.from_body(body)
    for i in (0, 5, FRAMES - 1, FRAMES + 3, len(world) - 1):
        with torch.no_grad():
            vertices = body(world.rotations[i:i + 1], world.shape[i:i + 1], world.root[i:i + 1]).vertices
        crop = rasterizer(vertices, world.K_crop[i:i + 1], (48, 48))
        crop = blank_outside_frame(crop, world.bbox_center[i:i + 1], world.bbox_size[i:i + 1], world.image_size,
                                   background=rasterizer.background)
        # alone or batched, the mesh agrees to float rounding: the pixels, but for a triangle edge or two
        agree = float((crop[0] == images.images[i]).all(dim=-1).float().mean())
        assert agree >= 0.999, (i, agree)
    blank = float((images.images == 0).all(-1).float().mean())
    assert 0.3 < blank < 0.97


@pytest.mark.slow
def test_cache_round_trip_and_damage(built, body, cmu_dir):
    images, cache = built
    config = _config(cmu_dir)
    key = sequence_key(config)
    assert images.cache_path == sequence_cache_dir(cache) / f"{key}.npz" and not images.loaded_from_cache
    assert images.cache_path.with_suffix(".json").is_file()
    assert key != sequence_key(dataclasses.replace(config, seed=5)) != sequence_key(dataclasses.replace(config, start=9))
    again = build_sequences(config, cache_dir=cache, body=body)
    assert again.loaded_from_cache
    assert torch.equal(again.images, images.images)
    for name in ("rotations", "world_to_cam", "shape", "root", "K", "bbox_center", "bbox_size", "K_crop"):
        assert torch.equal(getattr(again.world, name), getattr(images.world, name)), name
    for name, value in images.world.joints3d.items():
        assert torch.equal(again.world.joints3d[name], value)
        assert torch.equal(again.world.keypoints2d[name], images.world.keypoints2d[name])
    assert again.world.meta.equals(images.world.meta)
    assert again.world.config == config.world_config()
    # a damaged file is named, set aside and rebuilt
    path = images.cache_path
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.warns(UserWarning, match="damaged"):
        rebuilt = build_sequences(config, cache_dir=cache, body=body, chunk_size=10)
    assert not rebuilt.loaded_from_cache and torch.equal(rebuilt.images, images.images)
    assert path.read_bytes() == data  # the same batches, fixed zip timestamps: the same bytes again
