"""Tests for posebook.data.image_sets: rasterized crops of small worlds checked against the Embree
crops ``build_world(render=True)`` draws, the cache (round trip, identical bytes, damage), and the
images following the samples through subset and split."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch

from posebook.data.image_sets import ImageSet, build_image_set, image_cache_dir, image_set_key
from posebook.data.world import WorldConfig, build_world

pytestmark = pytest.mark.slow  # every image set runs the Anny model

SETS = ("h36m17", "coco17")


@pytest.fixture(scope="module")
def body():
    from posebook.body.models import shared_anny_body

    return shared_anny_body()


def _config(**overrides) -> WorldConfig:
    # placement_spread 1: some crops reach outside the frame, so pad_outside is exercised.
    fields = dict(size=24, seed=3, source="procedural", joint_sets=SETS, placement_spread=1.0)
    fields.update(overrides)
    return WorldConfig(**fields)


@pytest.fixture(scope="module")
def built(body, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return build_image_set(_config(), cache_dir=cache, body=body, full_frames=True), cache


def _embree(body, config: WorldConfig, **flags):
    return build_world(dataclasses.replace(config, **flags), cache=False, body=body, progress=False)


def _agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a == b).all(dim=-1).float().mean())


def test_images_match_embree_world_crops_and_labels(body, built):
    image_set, _ = built
    config = _config()
    S, (W, H) = config.crop_size, config.image_size
    assert image_set.images.shape == (24, S, S, 3) and image_set.images.dtype == torch.uint8
    assert image_set.full_frames.shape == (24, H, W, 3) and image_set.full_frames.dtype == torch.uint8
    assert len(image_set) == 24 and image_set.world.images_crop is None
    assert not image_set.world.config.render and not image_set.world.config.render_full
    reference = _embree(body, config, render=True, render_full=True)
    for name in ("rotations", "shape", "root", "K", "K_crop", "bbox_center", "bbox_size"):
        assert torch.equal(getattr(reference, name), getattr(image_set.world, name)), name
    for name, joints in reference.keypoints2d.items():
        assert torch.equal(joints, image_set.world.keypoints2d[name])
    # Measured: identical crops (Embree and the rasterizer differ only on triangle edges).
    assert _agreement(reference.images_crop, image_set.images) >= 0.999
    assert _agreement(reference.images_full, image_set.full_frames) >= 0.999
    # The crops reaching outside the frame were padded as world pads them.
    assert image_set.world.summary()["bbox_inside_image_frac"] < 1.0
    blank = (image_set.images == 0).all(-1).float().mean()
    assert 0.3 < float(blank) < 0.95  # background, and a body in each crop
    assert set(image_set.timings) >= {"world", "pose", "raster", "pad", "save"}
    assert image_set.timings["pose"] == 0.0  # the world build's own meshes were reused


def test_cache_round_trip_bytes_and_damage(body, built, tmp_path):
    image_set, cache = built
    config = _config()
    key = image_set_key(config, full_frames=True)
    assert image_set.cache_path == image_cache_dir(cache) / f"{key}.npz"
    assert image_set.cache_path.with_suffix(".json").is_file()
    assert key != image_set_key(config) != image_set_key(dataclasses.replace(config, crop_size=32))
    again = build_image_set(config, cache_dir=cache, body=body, full_frames=True)
    assert again.loaded_from_cache and not image_set.loaded_from_cache
    assert torch.equal(again.images, image_set.images)
    assert torch.equal(again.full_frames, image_set.full_frames)
    assert torch.equal(again.world.K_crop, image_set.world.K_crop)
    # Deterministic: a fresh build writes the same bytes. With the render-free world already
    # cached, its meshes are posed again (no recording), giving the same images.
    build_world(dataclasses.replace(config, render=False), cache_dir=tmp_path, body=body, progress=False)
    fresh = build_image_set(config, cache_dir=tmp_path, body=body, full_frames=True)
    assert fresh.world.loaded_from_cache and fresh.timings["pose"] > 0.0
    assert fresh.cache_path.read_bytes() == image_set.cache_path.read_bytes()
    # A damaged file is named in a warning and rebuilt.
    blob = fresh.cache_path.read_bytes()
    fresh.cache_path.write_bytes(blob[: len(blob) // 2])
    with pytest.warns(UserWarning, match=re.escape(str(fresh.cache_path))):
        rebuilt = build_image_set(config, cache_dir=tmp_path, body=body, full_frames=True)
    assert not rebuilt.loaded_from_cache and torch.equal(rebuilt.images, image_set.images)
    assert fresh.cache_path.read_bytes() == blob
    # cache=False reads and writes nothing.
    empty = tmp_path / "none"
    uncached = build_image_set(config, cache_dir=empty, body=body, cache=False)
    assert not empty.exists() and uncached.cache_path is None
    assert torch.equal(uncached.images, image_set.images)


def test_subset_and_split_carry_images(built):
    image_set, _ = built
    idx = [5, 0, 17, -1]
    sub = image_set.subset(idx)
    assert isinstance(sub, ImageSet) and len(sub) == 4
    assert torch.equal(sub.images, image_set.images[[5, 0, 17, 23]])
    assert torch.equal(sub.full_frames, image_set.full_frames[[5, 0, 17, 23]])
    assert sub.world.meta["sample"].tolist() == [5, 0, 17, 23]
    assert torch.equal(sub.world.K_crop, image_set.world.K_crop[[5, 0, 17, 23]])
    mask = torch.arange(24) % 3 == 0
    assert torch.equal(image_set.subset(mask).images, image_set.images[mask])
    train, test = image_set.split(0.75, seed=1)
    world_train, world_test = image_set.world.split(0.75, seed=1)
    for half, reference in ((train, world_train), (test, world_test)):
        samples = half.world.meta["sample"].to_numpy()
        assert np.array_equal(samples, reference.meta["sample"].to_numpy())
        assert torch.equal(half.images, image_set.images[torch.tensor(samples)])
        assert half.world.images_crop is None and half.cache_path is None
    assert len(train) + len(test) == 24


def test_cmu_image_set_matches_embree_and_splits_by_clip(body, cmu_dir, tmp_path):
    config = _config(source="cmu", cmu_dir=str(cmu_dir), size=24)
    image_set = build_image_set(config, cache_dir=tmp_path, body=body)
    assert image_set.world.resolved_source == "cmu" and image_set.timings["pose"] == 0.0
    reference = _embree(body, config, render=True)
    assert torch.equal(reference.K_crop, image_set.world.K_crop)
    assert _agreement(reference.images_crop, image_set.images) >= 0.999
    train, test = image_set.split(0.7)
    assert not set(train.world.meta["clip"]) & set(test.world.meta["clip"])
    for half in (train, test):
        assert torch.equal(half.images, image_set.images[torch.tensor(half.world.meta["sample"].to_numpy())])


def test_bad_config_raises_before_work(body, tmp_path):
    with pytest.raises(ValueError, match="crop_size"):
        build_image_set(_config(crop_size=0), cache_dir=tmp_path, body=body)
    assert not tmp_path.joinpath("images").exists()
