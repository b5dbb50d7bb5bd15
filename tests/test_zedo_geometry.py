"""Tests for ZeDO's ray geometry (posebook.geometry.rays) and initial pose optimiser (posebook.optim.pose_init).

Each formula is checked against a second route: the exact translation of synthetic scenes, numpy's
least squares built per sample, scipy's scalar minimiser and a brute-force line search for the
closest point of a ray, and known rotations for the initial pose optimiser.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import roma
import torch
from scipy.optimize import minimize_scalar

from posebook.geometry.camera import intrinsics, project
from posebook.geometry.rays import (
    OFFICIAL_CONFIDENCE_RANGE,
    closed_form_translation,
    keypoint_rays,
    points_behind_camera,
    project_to_rays,
    reprojection_error,
    solve_translation_system,
)
from posebook.geometry.rotations import geodesic_distance
from posebook.optim.pose_init import fit_initial_pose, initial_pose_loss

F64 = torch.float64

#: A standing Human3.6M-17 pose, pelvis-relative, metres, camera axes (x right, y down, z forward).
TEMPLATE = torch.tensor([
    [0.00, 0.00, 0.00], [-0.13, 0.00, 0.00], [-0.14, 0.45, 0.02], [-0.15, 0.88, 0.05],
    [0.13, 0.00, 0.00], [0.14, 0.45, -0.03], [0.15, 0.88, 0.04],
    [0.00, -0.23, 0.02], [0.00, -0.48, 0.03], [0.00, -0.58, -0.05], [0.00, -0.68, 0.00],
    [0.17, -0.45, 0.03], [0.30, -0.22, -0.05], [0.36, -0.02, -0.20],
    [-0.17, -0.45, 0.03], [-0.30, -0.22, 0.05], [-0.33, 0.00, 0.10],
], dtype=F64)


def _poses(n: int, gen: torch.Generator, jitter: float = 0.05) -> torch.Tensor:
    """(n, 17, 3) root-relative poses: the template, jittered, turned by a random heading (about y)."""
    P = TEMPLATE + jitter * torch.randn(n, 17, 3, generator=gen, dtype=F64)
    heading = (2 * torch.rand(n, generator=gen, dtype=F64) - 1) * math.pi
    R = roma.rotvec_to_rotmat(torch.stack((0 * heading, heading, 0 * heading), -1))
    P = P @ R.transpose(-1, -2)
    return P - P[:, :1]


def _cameras(n: int, gen: torch.Generator) -> torch.Tensor:
    """(n, 3, 3) random pinhole intrinsics (f_x != f_y, off-centre principal point)."""
    f = 800 + 800 * torch.rand(n, generator=gen, dtype=F64)
    K = intrinsics(f, 400 + 200 * torch.rand(n, 2, generator=gen, dtype=F64))
    K[:, 1, 1] *= 0.9 + 0.2 * torch.rand(n, generator=gen, dtype=F64)
    return K


def _translations(n: int, gen: torch.Generator) -> torch.Tensor:
    """(n, 3) random T with T_z in [3, 7] m and |T_x|, |T_y| up to 1.5 m (off the optical axis)."""
    xy = 3 * torch.rand(n, 2, generator=gen, dtype=F64) - 1.5
    z = 3 + 4 * torch.rand(n, 1, generator=gen, dtype=F64)
    return torch.cat((xy, z), -1)


def _scene(n: int, gen: torch.Generator):
    P, K, T = _poses(n, gen), _cameras(n, gen), _translations(n, gen)
    return P, K, T, project(P + T[:, None], K)


def _row_weights(confidence: torch.Tensor, weighting: str) -> torch.Tensor:
    if weighting == "paper":
        return confidence
    c = confidence.clamp(*OFFICIAL_CONFIDENCE_RANGE)
    return c * c


def _numpy_lstsq(P, kp, K, w) -> np.ndarray:
    """Supp. C's system built row by row for each sample, with z = 1 rays, solved by np.linalg.lstsq."""
    out = []
    for Pn, kn, Kn, wn in zip(P.numpy(), kp.numpy(), K.numpy(), w.numpy()):
        uv1 = np.concatenate([kn, np.ones((len(kn), 1))], 1)
        r = uv1 @ np.linalg.inv(Kn).T
        r = r / r[:, 2:]
        A, b = [], []
        for j in range(len(Pn)):
            A += [[-wn[j], 0.0, wn[j] * r[j, 0]], [0.0, -wn[j], wn[j] * r[j, 1]]]
            b += [wn[j] * (Pn[j, 0] - Pn[j, 2] * r[j, 0]), wn[j] * (Pn[j, 1] - Pn[j, 2] * r[j, 1])]
        out.append(np.linalg.lstsq(np.array(A), np.array(b), rcond=None)[0])
    return np.stack(out)


# --- keypoint_rays ------------------------------------------------------------------------------


def test_keypoint_rays_unit_and_z(gen):
    P, K, T, kp = _scene(6, gen)
    r_z = keypoint_rays(kp, K, "z")
    r_u = keypoint_rays(kp, K)
    assert torch.allclose(r_z[..., 2], torch.ones_like(r_z[..., 2]), atol=0)
    # The z = 1 ray is the camera-frame point divided by its depth (the pinhole model).
    X = P + T[:, None]
    assert torch.allclose(r_z, X / X[..., 2:], atol=1e-12)
    assert torch.allclose(torch.linalg.vector_norm(r_u, dim=-1), torch.ones(6, 17, dtype=F64), atol=1e-12)
    assert torch.allclose(r_u, X / torch.linalg.vector_norm(X, dim=-1, keepdim=True), atol=1e-12)
    assert torch.allclose(project(r_u, K), kp, atol=1e-9)


# --- closed_form_translation --------------------------------------------------------------------


@pytest.mark.parametrize("weighting", ["paper", "official"])
@pytest.mark.parametrize("with_confidence", [False, True])
def test_closed_form_recovers_exact_translation(gen, weighting, with_confidence):
    P, K, T, kp = _scene(32, gen)
    conf = torch.rand(32, 17, generator=gen, dtype=F64) if with_confidence else None
    T_hat = closed_form_translation(P, kp, K, conf, weighting=weighting)
    assert torch.allclose(T_hat, T, atol=1e-9)
    assert float(reprojection_error(P + T_hat[:, None], kp, K).max()) < 1e-6


def test_closed_form_float32(gen):
    P, K, T, kp = _scene(32, gen)
    T_hat = closed_form_translation(P.float(), kp.float(), K.float(), torch.rand(32, 17, generator=gen))
    assert T_hat.dtype == torch.float32
    assert float((T_hat.double() - T).abs().max()) < 1e-3  # 1 mm


@pytest.mark.parametrize("weighting", ["paper", "official"])
def test_closed_form_matches_numpy_least_squares_on_noisy_data(gen, weighting):
    P, K, T, kp = _scene(12, gen)
    kp = kp + 3.0 * torch.randn(kp.shape, generator=gen, dtype=F64)  # 3 px noise
    P_noisy = P + 0.02 * torch.randn(P.shape, generator=gen, dtype=F64)  # and a pose that does not fit exactly
    # Confidences spread over [0, 1.5]: the official clamp to [1e-4, 1] then matters.
    conf = 1.5 * torch.rand(12, 17, generator=gen, dtype=F64)
    conf[:, 3] = 0.0
    T_hat = closed_form_translation(P_noisy, kp, K, conf, weighting=weighting, flip_negative_depth=False)
    expected = _numpy_lstsq(P_noisy, kp, K, _row_weights(conf, weighting))
    np.testing.assert_allclose(T_hat.numpy(), expected, atol=1e-9)
    assert float((T_hat - T).abs().max()) > 1e-4  # the noise moved the solution: the test can tell


def test_weightings_differ_on_noisy_data(gen):
    P, K, T, kp = _scene(8, gen)
    kp = kp + 3.0 * torch.randn(kp.shape, generator=gen, dtype=F64)
    conf = 0.2 + 0.8 * torch.rand(8, 17, generator=gen, dtype=F64)
    T_paper = closed_form_translation(P, kp, K, conf, weighting="paper")
    T_official = closed_form_translation(P, kp, K, conf, weighting="official")
    assert float((T_paper - T_official).abs().max()) > 1e-4


def test_supplement_unit_ray_system_gives_wrong_translation(gen):
    """Erratum (supp. C): the system as printed, with unit rays, misses T on noise-free data."""
    P, K, T, kp = _scene(16, gen)
    T_unit = solve_translation_system(P, keypoint_rays(kp, K, "unit"))
    T_z1 = solve_translation_system(P, keypoint_rays(kp, K, "z"))
    assert torch.allclose(T_z1, T, atol=1e-9)
    depth_error = (T_unit[:, 2] - T[:, 2]).abs()
    assert float(depth_error.min()) > 0.01  # at least 1 cm for every sample
    assert float((T_unit - T).norm(dim=-1).max()) > 0.1  # and decimetres off the axis
    assert float(reprojection_error(P + T_unit[:, None], kp, K).min()) > 1.0  # pixels


def test_flip_negative_depth(gen):
    """A body behind the camera: the system recovers T_z < 0; the official flip returns -T."""
    P, K, T, _ = _scene(8, gen)
    T_behind = T * torch.tensor([1.0, 1.0, -1.0], dtype=F64)
    kp = project(P + T_behind[:, None], K)  # mirrored through the principal point, but finite
    assert bool(points_behind_camera(P + T_behind[:, None]).all())
    raw = closed_form_translation(P, kp, K, flip_negative_depth=False)
    assert torch.allclose(raw, T_behind, atol=1e-9)
    flipped = closed_form_translation(P, kp, K)
    assert torch.allclose(flipped, -T_behind, atol=1e-9)
    assert bool((flipped[:, 2] > 0).all())
    # In front (T_z > 0), the flip changes nothing.
    kp_front = project(P + T[:, None], K)
    assert torch.equal(closed_form_translation(P, kp_front, K),
                       closed_form_translation(P, kp_front, K, flip_negative_depth=False))


def test_closed_form_broadcasts_hypotheses(gen):
    B, S = 4, 3
    P, K, T, kp = _scene(B, gen)
    hyps = P[:, None] + 0.05 * torch.randn(B, S, 17, 3, generator=gen, dtype=F64)  # (B, S, J, 3)
    conf = torch.rand(B, 1, 17, generator=gen, dtype=F64)
    T_all = closed_form_translation(hyps, kp[:, None], K[:, None], conf, weighting="official")
    assert T_all.shape == (B, S, 3)
    for s in range(S):
        one = closed_form_translation(hyps[:, s], kp, K, conf[:, 0], weighting="official")
        assert torch.allclose(T_all[:, s], one, atol=1e-12)
    # One camera and one pose for the whole batch broadcast too.
    T_one_K = closed_form_translation(P, project(P + T[:, None], K[0]), K[0])
    assert torch.allclose(T_one_K, T, atol=1e-9)


def test_zero_confidence_joint_is_ignored_by_the_paper_weighting(gen):
    P, K, T, kp = _scene(4, gen)
    kp_bad = kp.clone()
    kp_bad[:, 5] += 200.0  # a wild detection ...
    conf = torch.ones(4, 17, dtype=F64)
    conf[:, 5] = 0.0  # ... with confidence 0
    assert torch.allclose(closed_form_translation(P, kp_bad, K, conf), T, atol=1e-9)
    # The official weighting keeps confidence 0 at weight 1e-8: almost, not exactly, ignored.
    T_official = closed_form_translation(P, kp_bad, K, conf, weighting="official")
    assert 0 < float((T_official - T).abs().max()) < 1e-6


# --- project_to_rays ----------------------------------------------------------------------------


def test_project_to_rays_lies_on_ray_is_idempotent_and_reprojects(gen):
    P, K, T, kp = _scene(8, gen)
    rays = keypoint_rays(kp, K)
    other = P + _translations(8, gen)[:, None]  # a wrong placement: the points are off their rays
    on = project_to_rays(other, rays)
    assert float(torch.linalg.cross(on, rays, dim=-1).abs().max()) < 1e-12
    assert torch.allclose(project_to_rays(on, rays), on, atol=1e-12)
    assert float(reprojection_error(on, kp, K).max()) < 1e-8
    assert float(reprojection_error(other, kp, K).min()) > 1.0
    # Any non-zero ray length gives the same point.
    assert torch.allclose(project_to_rays(other, 7.5 * keypoint_rays(kp, K, "z")), on, atol=1e-12)
    # Algorithm 1: P~ = ((P + T) . r^) r^ - T reprojects onto the keypoints once T is added back.
    T_wrong = T + torch.tensor([0.2, -0.1, 0.5], dtype=F64)
    P_tilde = project_to_rays(P + T_wrong[:, None], rays) - T_wrong[:, None]
    assert float(reprojection_error(P_tilde + T_wrong[:, None], kp, K).max()) < 1e-8
    # Points already on their rays do not move.
    assert torch.allclose(project_to_rays(P + T[:, None], rays), P + T[:, None], atol=1e-12)


def test_project_to_rays_is_the_closest_point_of_the_ray(gen):
    p = torch.randn(20, 3, generator=gen, dtype=F64) + torch.tensor([0.0, 0.0, 4.0], dtype=F64)
    r = torch.randn(20, 3, generator=gen, dtype=F64) * 0.3 + torch.tensor([0.0, 0.0, 1.0], dtype=F64)
    q = project_to_rays(p[:, None], r[:, None])[:, 0]
    grid = np.linspace(-10, 10, 200001)  # brute force, step 1e-4
    for pn, rn, qn in zip(p.numpy(), r.numpy(), q.numpy()):
        u = rn / np.linalg.norm(rn)
        best = minimize_scalar(lambda t, u=u, pn=pn: np.sum((t * u - pn) ** 2), bracket=(-1, 1), tol=1e-12).x
        np.testing.assert_allclose(qn, best * u, atol=1e-6)
        t_grid = grid[np.argmin(np.sum((grid[:, None] * u - pn) ** 2, axis=1))]
        np.testing.assert_allclose(qn, t_grid * u, atol=1e-4)
        assert np.sum((qn - pn) ** 2) <= np.sum((t_grid * u - pn) ** 2) + 1e-12


def test_points_behind_camera_mask():
    pts = torch.tensor([[0.0, 0.0, 2.0], [0.0, 0.0, 0.0], [1.0, 1.0, -1.0], [0.0, 0.0, float("nan")],
                        [0.0, 0.0, 0.05]])
    assert points_behind_camera(pts).tolist() == [False, True, True, True, False]
    assert points_behind_camera(pts, min_depth=0.1).tolist() == [False, True, True, True, True]


def test_reprojection_error_by_hand():
    K = intrinsics(torch.tensor(100.0, dtype=F64), torch.tensor([50.0, 40.0], dtype=F64))
    pts = torch.tensor([[0.0, 0.0, 2.0], [0.2, -0.4, 4.0]], dtype=F64)  # project to (50, 40), (55, 30)
    kp = torch.tensor([[53.0, 44.0], [55.0, 30.0]], dtype=F64)
    assert float(reprojection_error(pts, kp, K)) == pytest.approx((5.0 + 0.0) / 2)


# --- refusals (geometry) ------------------------------------------------------------------------


def test_closed_form_refuses_bad_input(gen):
    P, K, T, kp = _scene(3, gen)
    with pytest.raises(ValueError, match=r"pose and keypoints_2d .*J=17.*J=16"):
        closed_form_translation(P, kp[:, :16], K)
    bad = kp.clone()
    bad[1, 5, 0] = float("nan")
    with pytest.raises(ValueError, match=r"keypoints_2d must be finite.*batch index \(1,\), joint 5.*confidence 0"):
        closed_form_translation(P, bad, K)
    conf = torch.ones(3, 17, dtype=F64)
    conf[2, 4] = -0.5
    with pytest.raises(ValueError, match=r"confidence must be >= 0.*-0\.5.*\(2, 4\)"):
        closed_form_translation(P, kp, K, conf)
    conf = torch.ones(3, 17, dtype=F64)
    conf[1] = 0.0
    with pytest.raises(ValueError,
                       match=r"confidence must be positive for at least 2 joints.*batch index \(1,\).*singular"):
        closed_form_translation(P, kp, K, conf)
    conf[1, 7] = 1.0  # one joint is not enough either
    with pytest.raises(ValueError, match=r"at least 2 joints per sample; 1 joint\(s\)"):
        closed_form_translation(P, kp, K, conf, weighting="official")
    conf[1, 8] = 1.0  # two are
    closed_form_translation(P, kp, K, conf)
    K_bad = K.clone()
    K_bad[0, 0, 2] = float("inf")
    with pytest.raises(ValueError, match=r"K must be finite"):
        closed_form_translation(P, kp, K_bad)
    K_bad = K.clone()
    K_bad[2, 1, 1] = 0.0
    with pytest.raises(ValueError, match=r"focal lengths"):
        closed_form_translation(P, kp, K_bad)
    with pytest.raises(ValueError, match=r"weighting must be 'paper'"):
        closed_form_translation(P, kp, K, weighting="squared")
    with pytest.raises(ValueError, match=r"confidence must have shape \(\.\.\., J\) with J=17"):
        closed_form_translation(P, kp, K, torch.ones(3, 16, dtype=F64))


def test_solve_translation_system_refuses_bad_row_weights(gen):
    P, K, T, kp = _scene(2, gen)
    rays = keypoint_rays(kp, K, "z")
    w = torch.ones(2, 17, dtype=F64)
    w[0, 2] = float("nan")
    with pytest.raises(ValueError, match=r"row_weights must be >= 0.*index \(0, 2\)"):
        solve_translation_system(P, rays, w)
    with pytest.raises(ValueError, match=r"pose and rays must hold the same joints"):
        solve_translation_system(P, rays[:, :15])


def test_closed_form_refuses_coincident_rays(gen):
    P, K, T, kp = _scene(2, gen)
    same = kp.clone()
    same[1] = same[1, :1]  # every keypoint of sample 1 at one pixel: T_z is not determined
    with pytest.raises(ValueError, match=r"singular at batch index \(1,\)"):
        closed_form_translation(P, same, K)


def test_rays_refuse_bad_input():
    K = intrinsics(torch.tensor(1000.0), torch.tensor([500.0, 500.0]))
    with pytest.raises(ValueError, match=r"normalise must be 'unit' or 'z'"):
        keypoint_rays(torch.zeros(3, 2), K, "norm")
    with pytest.raises(ValueError, match=r"rays' lengths must be finite and > 0"):
        project_to_rays(torch.ones(3, 3), torch.zeros(3, 3))
    K_scaled = 2 * K
    with pytest.raises(ValueError, match=r"last row"):
        keypoint_rays(torch.zeros(3, 2), K_scaled)


# --- fit_initial_pose ---------------------------------------------------------------------------


def _ipo_scene(n: int, gen: torch.Generator, distance=(3.0, 4.5), angle_deg=(30.0, 75.0)):
    """Targets P (root-relative) at a distance along the pelvis ray, and P_init = R_z(theta)^T P with
    |theta| in ``angle_deg`` (degrees), random sign: the initial pose is rolled by theta about z."""
    P = _poses(n, gen)
    K = _cameras(n, gen)
    pelvis_uv = K[:, :2, 2] + 150 * torch.randn(n, 2, generator=gen, dtype=F64)
    ray = keypoint_rays(pelvis_uv[:, None], K)[:, 0]
    dist = distance[0] + (distance[1] - distance[0]) * torch.rand(n, generator=gen, dtype=F64)
    T = dist[:, None] * ray
    magnitude = angle_deg[0] + (angle_deg[1] - angle_deg[0]) * torch.rand(n, generator=gen, dtype=F64)
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0).to(F64)
    theta = torch.deg2rad(sign * magnitude)
    R_true = roma.rotvec_to_rotmat(torch.stack((0 * theta, 0 * theta, theta), -1))
    P_init = P @ R_true  # R_true^T applied to each joint: R_true P_init = P
    return P_init.float(), project(P + T[:, None], K).float(), K.float(), R_true.float(), T.float(), theta


@pytest.mark.parametrize("loss, angle_tol_deg, loss_tol", [("l2", 0.05, 1e-2), ("l1", 2.0, 3.0)])
def test_fit_initial_pose_recovers_a_roll(gen, loss, angle_tol_deg, loss_tol):
    P_init, kp, K, R_true, T, theta = _ipo_scene(12, gen)
    start = initial_pose_loss(P_init + 3.0 * keypoint_rays(kp[:, :1], K)[:, :1], kp, K, loss)
    fit = fit_initial_pose(P_init, kp, K, loss=loss)
    angle_err = torch.rad2deg(geodesic_distance(fit.rotation, R_true))
    assert float(start.min()) > 10 * loss_tol  # the start is far off, so the tolerance can fail
    assert float(angle_err.max()) < angle_tol_deg
    assert float(fit.loss.max()) < loss_tol
    assert float((fit.translation - T).norm(dim=-1).max()) < (1e-3 if loss == "l2" else 0.1)
    assert torch.allclose(fit.poses, P_init @ fit.rotation.transpose(-1, -2))
    assert fit.poses.shape == (12, 17, 3) and fit.loss.shape == (12,) and fit.rotation.dtype == torch.float32


def test_fit_initial_pose_official_joint_subset(gen):
    """Official H36M config: pelvis and hips only, L1. The pelvis term is identically 0 (T on its ray)."""
    P_init, kp, K, R_true, T, theta = _ipo_scene(8, gen)
    fit = fit_initial_pose(P_init, kp, K, joints=(0, 1, 4), loss="l1", steps=300)
    pelvis_px = project(fit.translation[:, None], K)[:, 0]
    assert torch.allclose(pelvis_px, kp[:, 0], atol=1e-3)
    assert float(torch.rad2deg(geodesic_distance(fit.rotation, R_true)).max()) < 5.0


def test_fit_initial_pose_axes_restrict_the_rotation(gen):
    P_init, kp, K, R_true, T, theta = _ipo_scene(6, gen)
    R = fit_initial_pose(P_init, kp, K, axes="z", steps=50).rotation
    # A rotation about z: third row and column (0, 0, 1) (the zeros are exact: x = y = 0).
    assert torch.allclose(R[:, 2, 2], torch.ones(6), atol=1e-6)
    assert float(R[:, 2, :2].abs().max()) == 0.0 and float(R[:, :2, 2].abs().max()) == 0.0
    assert float(torch.rad2deg(geodesic_distance(R, torch.eye(3))).min()) > 10  # and it did turn
    R = fit_initial_pose(P_init, kp, K, axes="y", steps=50).rotation
    assert torch.allclose(R[:, 1, 1], torch.ones(6), atol=1e-6)
    assert float(R[:, 1, [0, 2]].abs().max()) == 0.0 and float(R[:, [0, 2], 1].abs().max()) == 0.0
    R = fit_initial_pose(P_init, kp, K, axes="xyz", steps=50).rotation
    assert float(R[:, 2, :2].abs().min()) > 0  # all three axes in use
    assert float((R.transpose(-1, -2) @ R - torch.eye(3)).abs().max()) < 1e-5


def test_fit_initial_pose_all_axes_recovers_a_rotation(gen):
    P_init, kp, K, _, T, _ = _ipo_scene(6, gen, angle_deg=(0.0, 0.0))
    R_true = roma.rotvec_to_rotmat(torch.tensor([0.3, -0.4, 0.2]) * torch.rand(6, 1, generator=gen))
    P_init = P_init @ R_true  # R_true^T P
    fit = fit_initial_pose(P_init, kp, K, axes="xyz", steps=400)
    assert float(torch.rad2deg(geodesic_distance(fit.rotation, R_true)).max()) < 0.5


def test_fit_initial_pose_scale_bounds(gen):
    P_init, kp, K, R_true, T, theta = _ipo_scene(4, gen, distance=(9.0, 10.0))  # beyond 2 * 3 m
    fit = fit_initial_pose(P_init, kp, K, steps=100)
    assert torch.allclose(fit.translation.norm(dim=-1), torch.full((4,), 6.0))
    assert torch.allclose(fit.scale, torch.full((4,), 2.0))
    # The translation stays on the pelvis ray.
    ray = keypoint_rays(kp[:, :1], K)[:, 0]
    assert float(torch.linalg.cross(fit.translation, ray, dim=-1).abs().max()) < 1e-5
    fit = fit_initial_pose(P_init, kp, K, depth=4.0, scale_bounds=(1.0, 1.0), steps=20)
    assert torch.allclose(fit.translation.norm(dim=-1), torch.full((4,), 4.0))
    P_init, kp, K, *_ = _ipo_scene(4, gen, distance=(1.0, 1.2))  # nearer than 0.5 * 3 m
    fit = fit_initial_pose(P_init, kp, K, steps=100)
    assert torch.allclose(fit.translation.norm(dim=-1), torch.full((4,), 1.5))


def test_official_clamp_can_stick_at_the_bound_and_projected_does_not(gen):
    """The official code clamps s in the forward pass: once Adam's momentum carries s past a bound, its
    gradient is 0 and it never comes back. Clamping the parameter after each step ("projected") does."""
    P_init, kp, K, R_true, T, theta = _ipo_scene(6, gen, distance=(5.6, 5.9))  # inside [1.5, 6] m
    official = fit_initial_pose(P_init, kp, K, steps=250)
    projected = fit_initial_pose(P_init, kp, K, clamp="projected", steps=250)
    stuck = official.scale == 2.0
    assert int(stuck.sum()) >= 3
    assert float(official.loss[stuck].min()) > 1.0
    assert float((projected.translation - T).norm(dim=-1).max()) < 1e-3
    assert float(projected.loss.max()) < 1e-2


def test_fit_initial_pose_samples_are_independent(gen):
    P_init, kp, K, *_ = _ipo_scene(6, gen)
    full = fit_initial_pose(P_init, kp, K, steps=60, loss="l1")
    part = fit_initial_pose(P_init[2:4], kp[2:4], K[2:4], steps=60, loss="l1")
    assert torch.allclose(full.rotation[2:4], part.rotation, atol=1e-6)
    assert torch.allclose(full.translation[2:4], part.translation, atol=1e-6)


def test_fit_initial_pose_zero_steps_and_no_grad(gen):
    P_init, kp, K, *_ = _ipo_scene(3, gen)
    fit = fit_initial_pose(P_init, kp, K, steps=0)
    assert torch.equal(fit.rotation, torch.eye(3).expand(3, 3, 3))
    assert torch.allclose(fit.translation, 3.0 * keypoint_rays(kp[:, :1], K)[:, 0])
    with torch.no_grad():  # the fit still optimises inside a caller's no_grad block
        fit = fit_initial_pose(P_init, kp, K, steps=30)
    assert float(fit.loss.max()) < float(fit_initial_pose(P_init, kp, K, steps=0).loss.min())


def test_fit_initial_pose_on_device(device, gen):
    P_init, kp, K, R_true, *_ = _ipo_scene(4, gen)
    fit = fit_initial_pose(P_init.to(device), kp.to(device), K.to(device), steps=200)
    assert fit.rotation.device.type == device.type
    assert float(torch.rad2deg(geodesic_distance(fit.rotation.cpu(), R_true)).max()) < 0.5


def test_fit_initial_pose_refuses_bad_input(gen):
    P_init, kp, K, *_ = _ipo_scene(3, gen)
    with pytest.raises(ValueError, match=r"same joints; got J = 17 and 16"):
        fit_initial_pose(P_init, kp[:, :16], K)
    with pytest.raises(ValueError, match=r"same N samples"):
        fit_initial_pose(P_init, kp[:2], K)
    bad = kp.clone()
    bad[2, 9, 1] = float("nan")
    with pytest.raises(ValueError, match=r"keypoints_2d must be finite.*batch index \(2,\), joint 9"):
        fit_initial_pose(P_init, bad, K)
    bad = P_init.clone()
    bad[0, 3, 0] = float("inf")
    with pytest.raises(ValueError, match=r"init_poses must be finite; sample 0, joint 3"):
        fit_initial_pose(bad, kp, K)
    for axes in ("w", "zz", "xyzw", 3):
        with pytest.raises(ValueError, match=r"axes must be a string of distinct letters"):
            fit_initial_pose(P_init, kp, K, axes=axes)
    still = fit_initial_pose(P_init, kp, K, axes="", steps=20)  # no rotation: Table 4 without "RO"
    assert torch.allclose(still.rotation, torch.eye(3, dtype=still.rotation.dtype).expand_as(still.rotation))
    for bounds in ((0.0, 2.0), (-1.0, 2.0), (2.0, 1.0), (0.5, float("inf")), (1.0,)):
        with pytest.raises(ValueError, match=r"scale_bounds"):
            fit_initial_pose(P_init, kp, K, scale_bounds=bounds)
    with pytest.raises(ValueError, match=r"steps must be an int >= 0"):
        fit_initial_pose(P_init, kp, K, steps=-1)
    with pytest.raises(ValueError, match=r"joints must be indices in \[0, 17\); got 17"):
        fit_initial_pose(P_init, kp, K, joints=(0, 17))
    with pytest.raises(ValueError, match=r"loss must be 'l2'"):
        fit_initial_pose(P_init, kp, K, loss="huber")
    with pytest.raises(ValueError, match=r"depth must be"):
        fit_initial_pose(P_init, kp, K, depth=0.0)
    with pytest.raises(ValueError, match=r"lr must be"):
        fit_initial_pose(P_init, kp, K, lr=float("nan"))
    with pytest.raises(ValueError, match=r"clamp must be"):
        fit_initial_pose(P_init, kp, K, clamp="soft")
    with pytest.raises(ValueError, match=r"init_poses must have shape \(N, J, 3\)"):
        fit_initial_pose(P_init[0], kp, K)
    with pytest.raises(ValueError, match=r"init_poses must be floating point"):
        fit_initial_pose(P_init.round().long(), kp, K)
    with pytest.raises(ValueError, match=r"joints must name each joint once"):
        fit_initial_pose(P_init, kp, K, joints=(0, 1, 1))
    with pytest.raises(ValueError, match=r"joints must be None \(all joints\) or a non-empty sequence"):
        fit_initial_pose(P_init, kp, K, joints=(0, 1.0))
    K_bad = K.clone()
    K_bad[1, 1, 1] = -5.0
    with pytest.raises(ValueError, match=r"focal lengths"):
        fit_initial_pose(P_init, kp, K_bad)
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator"):
        fit_initial_pose(P_init, kp, K, generator=0)


def test_closed_form_on_device(device, gen):
    P, K, T, kp = _scene(4, gen)
    T_hat = closed_form_translation(P.float().to(device), kp.float().to(device), K.float().to(device),
                                    torch.rand(4, 17, generator=gen).to(device), weighting="official")
    assert T_hat.device.type == device.type
    assert float((T_hat.cpu().double() - T).abs().max()) < 1e-3
