"""Invalid values are refused, never turned into a plausible finite wrong number.

Rotation inputs of posebook.geometry.rotations (and camera.perspective_homography) must be
rotations; camera focal lengths, sizes, fields of view, CLIFF's scale s and keypoints must be in
range. Each case checks the ValueError's message (parameter, value, index, what is allowed), the
``check=False`` opt-out, and, with hypothesis, that valid random input gives finite output equal to
scipy / roma while invalid random input raises.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import roma
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation as ScipyRotation

from posebook.geometry import camera
from posebook.geometry.rotations import (
    geodesic_distance,
    matrix_to_axis_angle,
    matrix_to_euler,
    matrix_to_quaternion,
    random_rotation,
    svd_orthogonalize,
)

F64 = torch.float64
PROPERTY = settings(max_examples=50, deadline=None)

#: Every public function that takes rotation matrices, as f(matrix, check=...) -> output.
ROTATION_INPUTS = {
    "matrix_to_axis_angle": lambda R, **kw: matrix_to_axis_angle(R, **kw),
    "matrix_to_quaternion": lambda R, **kw: matrix_to_quaternion(R, **kw),
    "matrix_to_euler": lambda R, **kw: matrix_to_euler(R, "ZYX", **kw),
    "geodesic_distance R1": lambda R, **kw: geodesic_distance(R, torch.eye(3, dtype=R.dtype), **kw),
    "geodesic_distance R2": lambda R, **kw: geodesic_distance(torch.eye(3, dtype=R.dtype), R, **kw),
    "perspective_homography": lambda R, **kw: camera.perspective_homography(
        camera.intrinsics(torch.tensor(1000.0, dtype=R.dtype), torch.tensor([320.0, 240.0], dtype=R.dtype)), R, **kw
    ),
}
#: The parameter name each function's message uses.
ROTATION_NAMES = {"geodesic_distance R1": "R1", "geodesic_distance R2": "R2", "perspective_homography": "R"}


def _rotations(n: int, seed: int = 0, dtype: torch.dtype = F64) -> torch.Tensor:
    return random_rotation(n, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ----------------------------------------------------------------------------- rotation check


@pytest.mark.parametrize("fn", list(ROTATION_INPUTS))
def test_scaled_matrix_is_refused_with_worst_index_and_errors(fn):
    R = _rotations(4)
    R[2] = 1.1 * R[2]  # R^T R = 1.21 I, det 1.331
    with pytest.raises(ValueError) as info:
        ROTATION_INPUTS[fn](R)
    msg = str(info.value)
    assert msg.startswith(f"{ROTATION_NAMES.get(fn, 'matrix')} must hold rotation matrices")
    assert "the worst of 4 matrices, at batch index (2,)" in msg
    assert "max|R^T R - I| = 0.21 " in msg and "det R = 1.331" in msg
    assert "to 0.0001 in float64" in msg  # the tolerance and dtype
    assert "svd_orthogonalize" in msg and "gram_schmidt" in msg and "check=False" in msg


@pytest.mark.parametrize("fn", list(ROTATION_INPUTS))
def test_reflection_is_refused_and_named(fn):
    R = _rotations(1)[0] * torch.tensor([1.0, 1.0, -1.0], dtype=F64)  # orthogonal, det -1
    with pytest.raises(ValueError, match=r"the matrix has max\|R\^T R - I\| = .* det R = -1 \(det < 0: a reflection"):
        ROTATION_INPUTS[fn](R)


@pytest.mark.parametrize("fn", list(ROTATION_INPUTS))
def test_check_false_skips_the_rotation_check(fn):
    R = 1.1 * _rotations(3)
    assert torch.isfinite(ROTATION_INPUTS[fn](R, check=False)).all()


def test_geodesic_distance_of_zeros_is_refused_not_pi():
    with pytest.raises(ValueError, match=r"R1 must hold rotation matrices.* max\|R\^T R - I\| = 1 and det R = 0\b"):
        geodesic_distance(torch.zeros(3, 3, dtype=F64), torch.eye(3, dtype=F64))
    # what it was: a plausible angle
    assert geodesic_distance(torch.zeros(3, 3), torch.eye(3), check=False).item() == pytest.approx(math.pi)


def test_worst_of_several_bad_matrices_is_reported_with_its_multi_index():
    R = _rotations(6).reshape(2, 3, 3, 3)
    R[0, 1] = 1.01 * R[0, 1]
    R[1, 2] = 3.0 * R[1, 2]  # the worst
    worst = r"the worst of 6 matrices, at batch index \(1, 2\), has max\|R\^T R - I\| = 8 "
    with pytest.raises(ValueError, match=worst):
        matrix_to_quaternion(R)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_matrices_are_not_refused_they_give_nan(value):
    """The module's documented NaN rule stays: the check skips a non-finite matrix."""
    R = _rotations(3)
    R[1, 0, 2] = value
    for name, fn in ROTATION_INPUTS.items():
        out = fn(R)
        # the homography K R K^-1 has no NaN rule of its own: inf / NaN, no finite entry
        broken = ~torch.isfinite(out[1]) if name == "perspective_homography" else torch.isnan(out[1])
        assert broken.all() and torch.isfinite(out[[0, 2]]).all(), name
    R[2] = 2.0 * R[2]  # a finite bad matrix beside the non-finite one is still refused
    with pytest.raises(ValueError, match=r"batch index \(2,\)"):
        matrix_to_axis_angle(R)


def test_overflowing_finite_matrix_is_refused():
    """Entries of 1e200 overflow R^T R to inf (and det to NaN): not a pass."""
    with pytest.raises(ValueError, match="must hold rotation matrices"):
        matrix_to_axis_angle(torch.full((3, 3), 1e200, dtype=F64))


@pytest.mark.parametrize(
    "dtype, passes, fails",
    [(F64, 5e-5, 5e-4), (torch.float32, 5e-4, 5e-3), (torch.float16, 1e-2, 5e-2), (torch.bfloat16, 5e-2, 2e-1)],
)
def test_tolerance_depends_on_the_dtype(dtype, passes, fails):
    """float64 1e-4, float32 1e-3, float16 2e-2, bfloat16 1e-1 on max|R^T R - I| and |det - 1|."""
    R = _rotations(8, seed=1)  # rounding of the dtype itself always passes
    matrix_to_axis_angle(R.to(dtype))
    shear = torch.eye(3, dtype=F64)
    for size, ok in ((passes, True), (fails, False)):
        shear[0, 1] = size  # max|M^T M - I| = size
        M = (R @ shear).to(dtype)
        if ok:
            matrix_to_axis_angle(M)
        else:
            with pytest.raises(ValueError, match="must hold rotation matrices"):
                matrix_to_axis_angle(M)


def test_check_keeps_autograd_and_empty_batches():
    R = _rotations(3).requires_grad_(True)
    geodesic_distance(R, _rotations(3, seed=2)).sum().backward()
    assert torch.isfinite(R.grad).all()
    assert matrix_to_quaternion(torch.zeros(0, 3, 3)).shape == (0, 4)


def test_check_runs_on_the_device(device):  # device: tests/conftest.py (cpu, cuda where there is one)
    R = _rotations(4).to(device)
    torch.testing.assert_close(geodesic_distance(R, R).cpu(), torch.zeros(4, dtype=F64), atol=1e-7, rtol=0)
    with pytest.raises(ValueError, match=r"batch index \(3,\)"):
        matrix_to_euler(R * torch.tensor([1.0, 1.0, 1.0, 0.5], dtype=F64, device=device)[:, None, None], "XYZ")
    with pytest.raises(ValueError, match=r"cam_crop\[\.\.\., 0\] \(s\).*index \(1,\)"):
        camera.cam_crop_to_full(torch.tensor([[0.9, 0, 0], [-0.9, 0, 0]], device=device), torch.zeros(2, device=device),
                                100.0, (640, 480), 500.0)


# ----------------------------------------------------------------------------- rotation properties


unit_quaternions = st.tuples(*[st.floats(-1.0, 1.0) for _ in range(4)]).filter(
    lambda q: sum(v * v for v in q) > 1e-2
)


def _matrix_of(q: tuple[float, float, float, float]) -> torch.Tensor:
    return roma.unitquat_to_rotmat(roma.quat_normalize(torch.tensor(q, dtype=F64)))


@PROPERTY
@given(q=unit_quaternions)
def test_valid_rotations_convert_like_scipy(q):
    R = _matrix_of(q)
    ref = ScipyRotation.from_matrix(R.numpy())
    rotvec = matrix_to_axis_angle(R)
    quat = matrix_to_quaternion(R)
    euler = matrix_to_euler(R, "XYZ")
    for out in (rotvec, quat, euler):
        assert torch.isfinite(out).all()
    # the rotation vector is unique except at angle pi (+-axis); compare the rotations there
    torch.testing.assert_close(torch.from_numpy(ScipyRotation.from_rotvec(rotvec.numpy()).as_matrix()), R,
                               atol=1e-9, rtol=0)
    assert abs(rotvec.norm().item() - ref.magnitude()) < 1e-9
    ref_q = torch.from_numpy(ref.as_quat(canonical=True))
    assert torch.allclose(quat, ref_q, atol=1e-9) or torch.allclose(quat, -ref_q, atol=1e-9)  # w = 0: sign free
    torch.testing.assert_close(torch.from_numpy(ScipyRotation.from_euler("XYZ", euler.numpy()).as_matrix()), R,
                               atol=1e-9, rtol=0)
    angle = geodesic_distance(R, torch.eye(3, dtype=F64))
    assert angle.item() == pytest.approx(ref.magnitude(), abs=1e-9)
    assert angle.item() == pytest.approx(roma.rotmat_geodesic_distance(R, torch.eye(3, dtype=F64)).item(), abs=1e-7)


not_rotations = st.one_of(
    st.floats(0.5, 0.98).map(lambda s: ("scale", s)),
    st.floats(1.02, 3.0).map(lambda s: ("scale", s)),
    st.sampled_from([0, 1, 2]).map(lambda axis: ("reflect", axis)),
)


@PROPERTY
@given(q=unit_quaternions, bad=not_rotations, fn=st.sampled_from(list(ROTATION_INPUTS)))
def test_scaled_or_reflected_matrices_are_refused(q, bad, fn):
    kind, value = bad
    R = _matrix_of(q)
    if kind == "scale":
        M = value * R
    else:
        M = R.clone()
        M[:, value] = -M[:, value]
    with pytest.raises(ValueError, match="must hold rotation matrices"):
        ROTATION_INPUTS[fn](M)
    # ...and the projection the message recommends makes it acceptable
    assert torch.isfinite(ROTATION_INPUTS[fn](svd_orthogonalize(M))).all()


# ----------------------------------------------------------------------------- camera: focal, FOV


def test_focal_from_fov_in_degrees_is_refused_with_a_radians_hint():
    with pytest.raises(ValueError) as info:
        camera.focal_from_fov(60.0, 640)  # was -49.96 px
    msg = str(info.value)
    assert msg.startswith("fov_rad must be in (0, pi) radians; got 60.0; allowed: 0 < fov_rad < pi")
    assert "60 looks like degrees" in msg and "math.radians(60) = 1.0472" in msg
    assert camera.focal_from_fov(60.0, 640, check=False).item() == pytest.approx(-49.96, abs=0.01)


@pytest.mark.parametrize("bad", [0.0, -0.5, math.pi, float("nan"), float("inf")])
def test_focal_from_fov_out_of_range_is_refused(bad):
    fovs = torch.tensor([1.0, bad, 0.5], dtype=F64)
    with pytest.raises(ValueError, match=r"fov_rad must be in \(0, pi\) radians; got \[\S+\] \(1 of 3 entries\), "
                                         r"the first at index \(1,\)") as info:
        camera.focal_from_fov(fovs, 640.0)
    assert "degrees" not in str(info.value)  # the hint is only for finite values above pi


def test_focal_from_fov_refuses_bad_size():
    with pytest.raises(ValueError, match="size must be > 0 pixels; got 0.0"):
        camera.focal_from_fov(1.0, 0.0)


@pytest.mark.parametrize("focal", [0.0, -500.0, float("inf"), float("nan")])
def test_intrinsics_and_fov_refuse_bad_focal(focal):
    with pytest.raises(ValueError, match=rf"focal must be > 0 pixels; got {focal}; allowed: finite values > 0\. "
                                         r"The focal length is in pixels: default_focal"):
        camera.intrinsics(focal, (320.0, 240.0))  # f = 0 used to fail only later, in unproject
    with pytest.raises(ValueError, match="focal must be > 0 pixels"):
        camera.fov(focal, 640.0)
    K = camera.intrinsics(focal, (320.0, 240.0), check=False)
    assert K[0, 0].item() == focal or math.isnan(focal)


def test_fov_refuses_bad_size():
    with pytest.raises(ValueError, match=r"size must be > 0 pixels; got \[-1.0\] \(1 of 2 entries\)"):
        camera.fov(500.0, torch.tensor([640.0, -1.0]))


@pytest.mark.parametrize("size", [(0.0, 0.0), (640.0, -480.0), (float("inf"), 480.0)])
def test_default_focal_refuses_bad_image_size(size):
    message = r"image_size must be > 0 pixels; got \[.+\] \(\d of 2 entries\), the first at index"
    with pytest.raises(ValueError, match=message):
        camera.default_focal(size)


# ----------------------------------------------------------------------------- camera: crop, CLIFF


def test_crop_transform_refuses_infinite_bbox():
    with pytest.raises(ValueError, match="bbox_size must be > 0 pixels; got inf; allowed: finite values > 0"):
        camera.crop_transform((100.0, 100.0), float("inf"), 256)
    with pytest.raises(ValueError, match=r"crop_size must be > 0 pixels; got -224.0.*side of the square crop"):
        camera.crop_intrinsics(torch.eye(3), (100.0, 100.0), 50.0, -224.0)


@pytest.mark.parametrize(
    "arg, value, message",
    [
        ("bbox_size", float("inf"), "bbox_size must be > 0 pixels; got inf"),
        ("bbox_size", 0.0, "bbox_size must be > 0 pixels; got 0.0"),
        ("image_size", (0.0, 0.0), r"image_size must be > 0 pixels; got \[0.0, 0.0\]"),
        ("focal", 0.0, "focal must be > 0 pixels; got 0.0"),
        ("focal", -1000.0, "focal must be > 0 pixels; got -1000.0"),
    ],
)
def test_cliff_bbox_info_and_cam_crop_to_full_refuse_bad_values(arg, value, message):
    args = {"bbox_center": torch.tensor([400.0, 300.0]), "bbox_size": 200.0, "image_size": (640.0, 480.0),
            "focal": 800.0}
    args[arg] = value
    with pytest.raises(ValueError, match=message):
        camera.cliff_bbox_info(**args)
    with pytest.raises(ValueError, match=message):
        camera.cam_crop_to_full(torch.tensor([0.9, 0.0, 0.1]), **args)


@pytest.mark.parametrize("s", [0.0, -0.4, float("inf"), float("nan")])
def test_cam_crop_to_full_refuses_non_positive_scale_and_says_what_s_is(s):
    cam = torch.tensor([[0.9, 0.0, 0.1], [s, 0.1, 0.0]], dtype=F64)
    with pytest.raises(ValueError) as info:
        camera.cam_crop_to_full(cam, torch.tensor([400.0, 300.0], dtype=F64), 200.0, (640.0, 480.0), 800.0)
    msg = str(info.value)
    assert msg.startswith(f"cam_crop[..., 0] (s) must be > 0; got [{s}] (1 of 2 entries), the first at index (1,)")
    assert "weak-perspective scale, s = 2 f / (b t_z) > 0" in msg and "check=False" in msg


def test_cam_crop_to_full_check_false_gives_the_raw_formula():
    cam = torch.tensor([-0.5, 0.0, 0.0], dtype=F64)
    t = camera.cam_crop_to_full(cam, torch.tensor([320.0, 240.0], dtype=F64), 200.0, (640.0, 480.0), 800.0,
                                check=False)
    assert t[2].item() == pytest.approx(2 * 800.0 / (200.0 * -0.5))  # behind the camera, as computed


@pytest.mark.parametrize("s", [0.0, -1.0, float("inf")])
def test_weak_perspective_to_translation_refuses_bad_scale(s):
    with pytest.raises(ValueError, match=re.escape(f"cam[..., 0] (s) must be > 0; got {s}") + r".*2 f / \(r t_z\)"):
        camera.weak_perspective_to_translation(torch.tensor([s, 0.0, 0.0], dtype=F64))
    if math.isinf(s):  # what it was: the finite, wrong t_z = 0
        assert camera.weak_perspective_to_translation(torch.tensor([s, 0.0, 0.0]), check=False)[2] == 0.0


def test_weak_perspective_to_translation_refuses_bad_focal_and_crop():
    cam = torch.tensor([0.9, 0.0, 0.0])
    with pytest.raises(ValueError, match="focal must be > 0 pixels; got -5000.0"):
        camera.weak_perspective_to_translation(cam, focal=-5000.0)
    with pytest.raises(ValueError, match="crop_size must be > 0 pixels; got 0.0"):
        camera.weak_perspective_to_translation(cam, crop_size=0.0)


# ----------------------------------------------------------------------------- camera: project, bbox


def test_project_on_the_camera_plane_gives_inf_or_nan_and_behind_it_mirrors():
    """Documented choice: Z = 0 is never a finite pixel; Z < 0 projects (no refusal)."""
    K = camera.intrinsics(1000.0, torch.tensor([320.0, 240.0], dtype=F64))
    X = torch.tensor([[0.5, -0.25, 0.0], [0.0, 0.0, 0.0], [0.5, -0.25, 2.0]], dtype=F64)
    uv = camera.project(X, K)
    assert torch.isinf(uv[0]).all() and torch.isnan(uv[1]).all()
    torch.testing.assert_close(camera.project(-X[2:], K), uv[2:], atol=0, rtol=0)  # -X: same pixel


def test_bbox_from_points_refuses_an_empty_keypoint_set():
    with pytest.raises(ValueError, match=re.escape("uv must have shape (..., J, 2) with J >= 1 keypoints per bbox; "
                                                   "got (4, 0, 2)")):
        camera.bbox_from_points(torch.zeros(4, 0, 2))  # was a raw IndexError
    with pytest.raises(ValueError, match=re.escape("got (2,)")):
        camera.bbox_from_points(torch.zeros(2))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_bbox_from_points_refuses_non_finite_keypoints(value):
    uv = torch.rand(2, 5, 2, generator=torch.Generator().manual_seed(3), dtype=F64) * 100
    uv[1, 3, 0] = value
    with pytest.raises(ValueError, match=rf"uv must be finite; got \[{value}\] \(1 of 20 entries\), "
                                         r"the first at index \(1, 3, 0\); allowed: finite pixel coordinates"):
        camera.bbox_from_points(uv)


def test_perspective_homography_refuses_a_non_rotation():
    K = camera.intrinsics(1000.0, torch.tensor([320.0, 240.0], dtype=F64))
    with pytest.raises(ValueError, match="R must hold rotation matrices"):
        camera.perspective_homography(K, torch.diag(torch.tensor([1.0, 1.0, 2.0], dtype=F64)))


# ----------------------------------------------------------------------------- camera properties

positive = st.floats(1e-2, 1e5)
not_positive = st.one_of(st.floats(max_value=0.0, allow_nan=False), st.just(math.inf), st.just(math.nan))


@PROPERTY
@given(cx=st.floats(-1e3, 3e3), cy=st.floats(-1e3, 3e3), b=positive, W=positive, H=positive, f=positive,
       s=st.floats(1e-3, 10.0), tx=st.floats(-2.0, 2.0), ty=st.floats(-2.0, 2.0))
def test_valid_camera_values_give_the_formula(cx, cy, b, W, H, f, s, tx, ty):
    center = torch.tensor([cx, cy], dtype=F64)
    info = camera.cliff_bbox_info(center, b, (W, H), f)
    np.testing.assert_allclose(info.numpy(), [(cx - W / 2) / f, (cy - H / 2) / f, b / f], rtol=1e-12, atol=1e-12)
    t = camera.cam_crop_to_full(torch.tensor([s, tx, ty], dtype=F64), center, b, (W, H), f)
    bs = b * s
    expected = [tx + 2 * (cx - W / 2) / bs, ty + 2 * (cy - H / 2) / bs, 2 * f / bs]
    assert torch.isfinite(t).all() and torch.isfinite(info).all()
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-9, atol=1e-9)


@PROPERTY
@given(fov_rad=st.floats(1e-3, math.pi - 1e-3), size=positive)
def test_valid_fov_gives_a_positive_focal_that_inverts(fov_rad, size):
    f = camera.focal_from_fov(torch.tensor(fov_rad, dtype=F64), size)
    assert torch.isfinite(f) and f > 0
    assert f.item() == pytest.approx(size / (2 * math.tan(fov_rad / 2)), rel=1e-12)
    assert camera.fov(f, size).item() == pytest.approx(fov_rad, rel=1e-9)


@PROPERTY
@given(bad=not_positive, which=st.sampled_from(["bbox_size", "W", "H", "focal", "s"]))
def test_non_positive_or_non_finite_camera_values_raise(bad, which):
    values = {"bbox_size": 200.0, "W": 640.0, "H": 480.0, "focal": 800.0, "s": 0.9}
    values[which] = bad
    center = torch.tensor([400.0, 300.0], dtype=F64)
    size = (values["W"], values["H"])
    name = {"W": "image_size", "H": "image_size", "s": r"cam_crop\[\.\.\., 0\] \(s\)"}.get(which, which)
    with pytest.raises(ValueError, match=rf"^{name} must be > 0"):
        camera.cam_crop_to_full(torch.tensor([values["s"], 0.0, 0.0], dtype=F64), center, values["bbox_size"], size,
                                values["focal"])
    if which != "s":
        with pytest.raises(ValueError, match=rf"^{name} must be > 0"):
            camera.cliff_bbox_info(center, values["bbox_size"], size, values["focal"])


@PROPERTY
@given(fov_rad=st.one_of(st.floats(max_value=0.0, allow_nan=False), st.floats(min_value=math.pi),
                         st.just(math.nan)))
def test_fov_outside_0_pi_raises(fov_rad):
    with pytest.raises(ValueError, match=r"^fov_rad must be in \(0, pi\) radians"):
        camera.focal_from_fov(torch.tensor(fov_rad, dtype=F64), 640.0)


@PROPERTY
@given(size=not_positive)
def test_non_positive_or_non_finite_fov_size_raises(size):
    with pytest.raises(ValueError, match=r"^size must be > 0 pixels"):
        camera.focal_from_fov(1.0, torch.tensor(size, dtype=F64))
