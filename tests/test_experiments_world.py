"""Tests for posebook.experiments.world (the world tour): each helper against a second route
(pinhole arithmetic by hand, the world's own stored renders, the crop map)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from posebook.body import joints as joint_sets
from posebook.data.world import WorldConfig, build_world
from posebook.experiments import world as Wx
from posebook.experiments.registry import get_experiment
from posebook.geometry import camera
from posebook.runs import make_context

pytestmark = pytest.mark.slow  # the Anny model runs



@pytest.fixture(scope="module")
def body():
    return Wx.body_model()


@pytest.fixture(scope="module")
def world(body):
    config = WorldConfig(size=8, seed=3, source="procedural", placement_spread=1.0, render_full=True)
    return build_world(config, cache=False, body=body, progress=False)


def test_camera_samples_by_hand():
    config = WorldConfig(placement_spread=0.0)
    cams = Wx.camera_samples(200, seed=1, config=config)
    W, H = config.image_size
    assert np.allclose(cams["root_u"], W / 2) and np.allclose(cams["root_v"], H / 2)
    assert np.allclose(cams["ray_angle_deg"], 0.0, atol=1e-9)
    f = (W / 2) / np.tan(np.radians(cams["fov_deg"]) / 2)
    assert np.allclose(cams["focal_px"], f)
    assert np.allclose(cams["fov_v_deg"], np.degrees(2 * np.arctan(H / 2 / f)))
    lo, hi = config.fov_deg
    assert cams["fov_deg"].between(lo, hi).all() and cams["depth_m"].between(*config.depth).all()


def test_placement_scatter_same_draws_scaled():
    frame = Wx.placement_scatter((0.5, 1.0), n=100, seed=0)
    W, H = WorldConfig().image_size
    half = frame[frame["spread"] == 0.5].reset_index(drop=True)
    full = frame[frame["spread"] == 1.0].reset_index(drop=True)
    assert np.allclose(full["root_u"] - W / 2, 2 * (half["root_u"] - W / 2))
    assert np.allclose(full["root_v"] - H / 2, 2 * (half["root_v"] - H / 2))
    f = full["focal_px"].to_numpy()
    ray = np.degrees(np.arctan(np.hypot(full["root_u"] - W / 2, full["root_v"] - H / 2) / f))
    assert np.allclose(full["ray_angle_deg"], ray)


def test_moved_subject_reproduces_the_world(world, body):
    """Moving a sample to where it already is must give the world's own bbox and renders."""
    W, H = world.image_size
    for i in range(3):
        uv = camera.project(world.root[i, None].double(), world.K[i].double())[0]
        ox, oy = ((uv - world.K[i, :2, 2].double()) / torch.tensor([W / 2, H / 2])).tolist()
        m = Wx.moved_subject(world, i, ox, oy, body=body)
        assert torch.allclose(m.root_uv, uv, atol=1e-6)
        assert torch.allclose(m.bbox_center, world.bbox_center[i].double(), atol=1e-3)
        assert math.isclose(float(m.bbox_size), float(world.bbox_size[i]), abs_tol=1e-3)
        same_crop = (m.image_crop == world.images_crop[i]).all(-1).double().mean()
        same_full = (m.image_full == world.images_full[i]).all(-1).double().mean()
        assert same_crop > 0.99 and same_full > 0.99
    centred = Wx.moved_subject(world, 0, 0.0, 0.0, body=body)
    assert centred.pr_angle_deg < Wx.moved_subject(world, 0, 0.9, 0.0, body=body).pr_angle_deg


def test_crop_checks_and_keypoints_on_crop(world, body):
    checks = Wx.crop_checks(world, repose=2, body=body)
    assert checks["crop_vs_K_crop"] < 1e-3 and checks["f_ratio"] < 1e-6 and checks["repose"] < 1e-2
    sample = Wx.tour_sample(world, 1)
    A = sample.crop_transform
    for name, uv in sample.keypoints.items():
        assert torch.allclose(camera.apply_homography(A, uv), sample.keypoints_crop[name], atol=1e-3)
    on = Wx.keypoints_on_crop(world, tolerance_px=1)
    assert set(on["set"]) == set(world.joints3d) and (on["on_body"] > 0.95).all()
    blank = world.subset(slice(None))
    blank.images_crop = torch.zeros_like(world.images_crop)
    assert (Wx.keypoints_on_crop(blank)["on_body"] == 0).all()


def test_frontal_samples_face_the_camera(world):
    order = Wx.frontal_samples(world, min_bbox_px=0.0)
    front = world.rotations[order, 0, :, 2].double()
    facing = (front * -torch.nn.functional.normalize(world.root[order].double(), dim=-1)).sum(-1)
    assert torch.all(facing[:-1] >= facing[1:])


def test_joint_set_table_counts():
    table = Wx.joint_set_table().set_index("set")
    for name, spec in joint_sets.JOINT_SETS.items():
        assert table.loc[name, "joints"] == spec.num_joints


def test_retarget_error_without_cmu(monkeypatch):
    monkeypatch.delenv("POSEBOOK_CMU_DIR", raising=False)
    ctx = make_context("quick")
    result = get_experiment("world.retarget_error").func(ctx)
    assert list(result.frame.columns) == ["note"] and "POSEBOOK_CMU_DIR" in result.frame["note"][0]
    with pytest.raises(FileNotFoundError, match="POSEBOOK_CMU_DIR"):
        Wx.cmu_clip_on_anny(None)


def test_retarget_error_and_clip_on_anny(body, cmu_dir):
    ctx = make_context("quick", cmu_dir=cmu_dir)
    result = Wx.retarget_error(ctx, frames=10, clips=("09_06",))
    assert result.data_source == "CMU mocap (subset: 1 clips, 1 subjects)"
    mean = result.frame.set_index("shape")["mean_mm"]
    assert mean["fitted"] < mean["anny default"] < 100
    clip = Wx.cmu_clip_on_anny(cmu_dir, "09_06", frames=3, body=body)
    E, K = clip.extrinsics, clip.K
    by_hand = camera.project(clip.mocap_joints @ E[:, :3, :3].transpose(1, 2) + E[:, None, :3, 3], K)
    assert torch.allclose(clip.mocap_uv, by_hand)
    assert torch.allclose(clip.distance_mm, 1000 * (clip.anny_joints - clip.mocap_joints).norm(dim=-1))
    assert float(clip.distance_mm.mean()) < 100
    assert (clip.images.sum(-1) > 0).any(dim=(1, 2)).all()  # every frame shows the body
