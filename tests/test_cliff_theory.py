"""Tests for posebook.experiments.cliff.theory: each experiment, run small through
``run_experiment``, against what CLIFF's derivations say its numbers must be (Eq. 1, 5-9, supp.
Eq. 7.1-7.6, Fig. 1 and the 53.13 deg FOV); the helpers against a second route (hand formulas,
scipy least squares). Eq. 1 and Eq. 7 themselves are tested in tests/test_camera.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import least_squares

from posebook.experiments import get_experiment, run_experiment
from posebook.experiments.cliff import theory as CT
from posebook.geometry import camera


def _run(name: str, tmp_path, **params):
    return run_experiment(name, profile="quick", out=tmp_path, **params)


# ------------------------------------------------------------------------------------- cliff.fov


def test_fov_is_53_13_deg_for_every_size(tmp_path):
    frame = _run("cliff.fov", tmp_path).frame
    assert len(frame) == 7 and frame["aspect"].nunique() > 3
    assert np.allclose(frame["diagonal_fov_deg"], math.degrees(2 * math.atan(0.5)), atol=1e-9)
    assert (frame["diagonal_fov_deg"].round(2) == 53.13).all()
    f = np.hypot(frame["W"], frame["H"])
    assert np.allclose(frame["focal_px"], f)
    assert np.allclose(frame["horizontal_fov_deg"], np.degrees(2 * np.arctan(frame["W"] / (2 * f))))
    assert np.allclose(frame["vertical_fov_deg"], np.degrees(2 * np.arctan(frame["H"] / (2 * f))))
    # portrait swaps the horizontal and vertical FOVs; 55 deg would need f = 0.9605 d
    by = frame.set_index("image")
    assert math.isclose(by.loc["1080x1920", "horizontal_fov_deg"], by.loc["1920x1080", "vertical_fov_deg"])
    assert np.allclose(frame["focal_for_claim_over_d"], 1 / (2 * math.tan(math.radians(27.5))))
    assert (frame["focal_for_claim_over_d"].round(4) == 0.9605).all()


def test_fov_sizes_are_checked(tmp_path):
    with pytest.raises(ValueError, match="'WxH'"):
        _run("cliff.fov", tmp_path, sizes=("1920x1080", "1920*1080"))
    frame = _run("cliff.fov", tmp_path, sizes="640x480,1000x1000").frame  # the CLI's comma form
    assert list(frame["image"]) == ["640x480", "1000x1000"]


# --------------------------------------------------------------------- the helpers, second routes


def test_weak_perspective_fit_is_the_least_squares_solution(gen):
    joints = 0.4 * torch.randn(3, 17, 3, generator=gen, dtype=torch.float64)
    uv = 300 + 80 * torch.randn(3, 17, 2, generator=gen, dtype=torch.float64)
    center, size = camera.bbox_from_points(uv, scale=1.2)
    cam = CT.fit_weak_perspective(uv, joints, center, size)
    for b in range(3):
        def residual(p):
            pred = CT.weak_perspective_project(joints[b], torch.from_numpy(p), center[b], size[b])
            return (pred - uv[b]).flatten().numpy()
        found = least_squares(residual, np.array([1.0, 0.0, 0.0]), method="lm").x
        assert np.allclose(cam[b].numpy(), found, atol=1e-8)


def test_hmr_crop_projection_is_eq_1_in_the_crop(gen):
    """The full-frame drawing of HMR's crop camera is the crop projection with f_HMR mapped back."""
    joints = 0.3 * torch.randn(2, 17, 3, generator=gen, dtype=torch.float64)
    cam = torch.tensor([[0.9, 0.05, -0.1], [1.2, -0.2, 0.3]], dtype=torch.float64)
    center = torch.tensor([[400.0, 300.0], [900.0, 200.0]], dtype=torch.float64)
    size = torch.tensor([350.0, 500.0], dtype=torch.float64)
    r, f = CT.CROP_HMR, CT.F_HMR
    tz = 2 * f / (r * cam[:, 0])  # Eq. 1
    X = joints + torch.stack([cam[:, 1], cam[:, 2], tz], dim=-1)[:, None]
    u_crop = f * X[..., :2] / X[..., 2:] + r / 2
    expected = center[:, None] + (u_crop - r / 2) * size[:, None, None] / r
    assert torch.allclose(CT.hmr_crop_project(joints, cam, center, size), expected, atol=1e-9)


def test_eq7_inverse_and_ray_rotation(gen):
    W, H = 1280, 720
    K = camera.intrinsics(torch.tensor(1468.6, dtype=torch.float64), torch.tensor([W / 2, H / 2], dtype=torch.float64))
    t = torch.tensor([[0.8, -0.3, 4.0], [-2.0, 0.5, 9.0]], dtype=torch.float64)
    center = torch.tensor([[900.0, 250.0], [100.0, 500.0]], dtype=torch.float64)
    size = torch.tensor([400.0, 180.0], dtype=torch.float64)
    cam = CT.full_to_cam_crop(t, center, size, (W, H), K[0, 0])
    assert torch.allclose(camera.cam_crop_to_full(cam, center, size, torch.tensor([W, H]), K[0, 0]), t, atol=1e-12)
    assert torch.allclose(CT.eq7_main_text(cam, center, size, (W, H), K[0, 0]), t, atol=1e-12)
    R = CT.ray_rotation(K, center)
    ray = camera.unproject(center[:, None], torch.ones(2, 1, dtype=torch.float64), K)[:, 0]
    ray = torch.nn.functional.normalize(ray, dim=-1)
    assert torch.allclose(R[..., :, 2], ray, atol=1e-12)  # the optical axis goes onto the ray


# --------------------------------------------------------------------------------- cliff.equations


@pytest.mark.slow  # builds a small world (the Anny model runs)
def test_equations_hold_on_real_poses(tmp_path):
    result = _run("cliff.equations", tmp_path, samples=12)
    frame = result.frame
    checked = frame[frame["bound"].notna()]
    assert len(checked) >= 10 and checked["holds"].all(), checked[~checked["holds"].astype(bool)]
    value = frame.set_index("check")["value"]
    # the true pose: Eq. 7's full-frame loss beats HMR's crop loss, and the bbox offset is what makes it work
    full = value["L_2D^full with t from Eq. 7 (mean px)"]
    assert full < value["L_2D^crop of HMR (Eq. 3-4), in full-frame px (mean)"]
    assert value["L_2D^full with t from Eq. 7 without 2c/(bs) (mean px)"] > 10 * full
    assert value["mean |t - t_true| without the bbox offset (m)"] > 3 * value["mean |t_full - t_true| (m)"]
    # HMR's t_Z is f_HMR's depth (tens of metres), not the subject's
    assert value["mean t_Z^crop = 2 f_HMR / (r s) (m): HMR's depth, not the subject's"] > 20
    assert "CMU" in result.meta["data_source"] or "procedural" in result.meta["data_source"]


# ---------------------------------------------------------------------------- cliff.weak_perspective


@pytest.mark.slow
def test_weak_perspective_exact_when_flat_and_breaking_near_the_camera(tmp_path):
    frame = _run("cliff.weak_perspective", tmp_path, samples=16, depths=(2.0, 4.0, 8.0), fovs=(40.0, 90.0),
                 spreads=(0.0, 1.0)).frame
    assert set(frame["sweep"]) == {"depth", "fov", "placement"} and (frame["samples"] == 16).all()
    eq7, eq1 = "Eq. 7 (full frame, true f)", "Eq. 1 (crop, f_HMR = 5000)"
    flat = frame[(frame["body"] == "flat") & frame["method"].isin([eq1, eq7])]
    assert flat["reproj_max_px"].max() < 1e-6  # the exact weak-perspective case: both exact in 2D
    assert frame[(frame["body"] == "flat") & (frame["method"] == eq7)]["translation_error_m"].max() < 1e-9
    posed = frame[(frame["body"] == "posed") & (frame["sweep"] == "depth")].set_index(["method", "value"])
    for method in (eq1, eq7):
        px = posed.loc[method, "reproj_px"]
        rel = posed.loc[method, "reproj_bbox_pct"]
        assert px[2.0] > px[4.0] > px[8.0] > 0.1  # grows as the subject comes closer
        assert rel[2.0] > rel[8.0]  # ...also relative to the body's size in the image
    assert (posed.loc[eq7, "reproj_px"] < posed.loc[eq1, "reproj_px"]).all()
    # Eq. 1's t belongs to HMR's virtual camera: no translation error in the full camera's frame
    assert frame[frame["method"] == eq1]["translation_error_m"].isna().all()
    # off-centre subjects need Eq. 7's bbox offset
    placement = frame[(frame["sweep"] == "placement") & (frame["body"] == "posed")].set_index(["method", "value"])
    no_offset = placement.loc["Eq. 7 without the bbox offset", "translation_error_m"]
    assert no_offset[1.0] > 5 * placement.loc[eq7, "translation_error_m"][1.0]
    wide = frame[(frame["sweep"] == "fov") & (frame["body"] == "posed") & (frame["method"] == eq7)].set_index("value")
    assert wide.loc[90.0, "reproj_bbox_pct"] > wide.loc[40.0, "reproj_bbox_pct"]


def test_weak_perspective_refuses_a_depth_inside_the_body(tmp_path):
    with pytest.raises(ValueError, match="depths"):
        _run("cliff.weak_perspective", tmp_path, depths=(0.0,))
    with pytest.raises(ValueError, match="spreads"):
        _run("cliff.weak_perspective", tmp_path, spreads=(1.5,))


# ------------------------------------------------------------------------------------ cliff.same_crop


@pytest.mark.slow
def test_same_crop_rotations_differ_by_the_ray_angle_while_crops_stay_the_same(tmp_path):
    frame = _run("cliff.same_crop", tmp_path, offsets=(-0.8, 0.0, 0.5), crop_size=96).frame
    assert len(frame) == 6 and frame["sample"].nunique() == 1
    assert frame["bbox_centre_miss_px"].max() < 0.05  # the bbox lands where it was asked to
    crop = frame[frame["variant"] == "same crop"].set_index("offset_x")
    rotation = frame[frame["variant"] == "same rotation"].set_index("offset_x")
    # same crop: the global rotation turns by the bbox-centre ray's angle, all of it yaw, = Eq. 6's gamma_X
    assert np.allclose(crop["rotation_to_centred_deg"], crop["ray_angle_deg"], atol=1e-6)
    # (gamma from the bbox found, the ray from the bbox asked for: they differ by the miss, < 0.05 px)
    assert np.allclose(crop["yaw_to_centred_deg"], crop["gamma_x_deg"], atol=1e-3)
    assert np.allclose(crop["gamma_y_deg"], 0.0, atol=1e-3)
    W = 960
    f = math.hypot(960, 540)
    assert np.allclose(crop["ray_angle_deg"], np.degrees(np.arctan(np.abs(crop["bbox_u"] - W / 2) / f)), atol=1e-3)
    assert crop.loc[-0.8, "ray_angle_deg"] > 15
    # ...while its crop stays within a few % of the centred one; the same rotation's crop does not
    assert crop.loc[0.0, "crop_pixels_differing"] == 0.0
    assert crop["crop_pixels_differing"].max() < 0.05
    assert np.allclose(rotation["rotation_to_centred_deg"], 0.0, atol=1e-9)
    for offset in (-0.8, 0.5):
        assert rotation.loc[offset, "crop_pixels_differing"] > 2 * crop.loc[offset, "crop_pixels_differing"]


def test_experiments_are_registered_with_docstrings():
    for name in ("cliff.same_crop", "cliff.weak_perspective", "cliff.fov", "cliff.equations"):
        exp = get_experiment(name)
        assert exp.summary and "CLIFF" in (exp.func.__doc__ or "") + exp.summary
    with pytest.raises(ValueError, match="offsets"):
        get_experiment("cliff.same_crop").validate({"offsets": (0.0, 1.5)})
