"""Tests for posebook.metrics: hand-computed cases and independent (numpy/scipy/roma) references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import roma
import torch
from scipy.spatial.transform import Rotation

from posebook import metrics as M

DTYPES = [torch.float32, torch.float64]


def _pose(j: int = 17, seed: int = 0, dtype=torch.float64, batch: tuple[int, ...] = ()) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(*batch, j, 3, generator=gen, dtype=dtype)


def _similarity(points: torch.Tensor, seed: int) -> torch.Tensor:
    """Apply a random similarity transform (s in [0.5, 2], any rotation, metre-scale shift)."""
    rng = np.random.default_rng(seed)
    R = points.new_tensor(Rotation.random(random_state=seed).as_matrix())
    return rng.uniform(0.5, 2.0) * points @ R.T + points.new_tensor(rng.normal(size=3))


def _numpy_pa_mpjpe(pred: np.ndarray, target: np.ndarray) -> float:
    """SPIN/VIBE-style compute_similarity_transform (SVD, sign fix), written independently."""
    mu1, mu2 = pred.mean(0), target.mean(0)
    X1, X2 = (pred - mu1).T, (target - mu2).T
    K = X1 @ X2.T
    U, _, Vt = np.linalg.svd(K)
    Z = np.eye(3)
    Z[-1, -1] = np.sign(np.linalg.det(U @ Vt))
    R = Vt.T @ Z @ U.T
    scale = np.trace(R @ K) / np.sum(X1**2)
    aligned = (scale * R @ pred.T).T + (mu2 - scale * R @ mu1)
    return 1000.0 * np.linalg.norm(aligned - target, axis=-1).mean()


# ---------------------------------------------------------------- MPJPE


@pytest.mark.parametrize("dtype", DTYPES)
def test_mpjpe_translation_by_10mm(dtype):
    target = _pose(dtype=dtype, batch=(4,))
    pred = target + target.new_tensor([0.006, 0.0, 0.008])  # |(6, 0, 8)| = 10 mm at every joint
    out = M.mpjpe(pred, target)
    assert out.shape == (4,) and out.dtype == dtype
    torch.testing.assert_close(out, torch.full_like(out, 10.0))
    torch.testing.assert_close(M.mpjpe(pred, target, root=0), torch.zeros_like(out), atol=1e-4, rtol=0)


def test_mpjpe_hand_computed_per_joint():
    target = torch.zeros(3, 3, dtype=torch.float64)
    pred = torch.tensor([[0.0, 0.0, 0.0], [0.010, 0.0, 0.0], [0.0, 0.0, 0.020]], dtype=torch.float64)
    assert M.mpjpe(pred, target).item() == pytest.approx(10.0)  # (0 + 10 + 20) / 3
    # Root = mean of joints 1 and 2 (a mid-hip pelvis): offsets relative to (5, 0, 10) mm.
    # Centred pred joints: (-5, 0, -10), (5, 0, -10), (-5, 0, 10) mm -> each sqrt(125) = 11.18 mm away.
    assert M.mpjpe(pred, target, root=(1, 2)).item() == pytest.approx(math.sqrt(125))


def test_mpjpe_batch_shape_and_independent_reference():
    pred, target = _pose(batch=(2, 3), seed=1), _pose(batch=(2, 3), seed=2)
    out = M.mpjpe(pred, target, root=0)
    assert out.shape == (2, 3)
    p = pred.numpy() - pred.numpy()[..., :1, :]
    g = target.numpy() - target.numpy()[..., :1, :]
    np.testing.assert_allclose(out.numpy(), 1000 * np.sqrt(((p - g) ** 2).sum(-1)).mean(-1), rtol=1e-12)


def test_shape_mismatch_and_bad_root_raise():
    with pytest.raises(ValueError, match="same shape"):
        M.mpjpe(torch.zeros(2, 17, 3), torch.zeros(17, 3))
    with pytest.raises(ValueError, match=r"\(\.\.\., J, 3\)"):
        M.mpjpe(torch.zeros(17, 2), torch.zeros(17, 2))
    with pytest.raises(ValueError, match="out of range"):
        M.mpjpe(torch.zeros(17, 3), torch.zeros(17, 3), root=17)
    with pytest.raises(ValueError, match="root must be"):
        M.mpjpe(torch.zeros(17, 3), torch.zeros(17, 3), root=())


# ---------------------------------------------------------------- PA-MPJPE, N-MPJPE


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-3), (torch.float64, 1e-9)])
def test_pa_mpjpe_invariant_to_similarity_of_pred(dtype, tol):
    target = _pose(dtype=dtype, seed=3)
    assert M.pa_mpjpe(_similarity(target, seed=4), target).item() == pytest.approx(0.0, abs=tol)
    pred = target + 0.02 * _pose(dtype=dtype, seed=5)
    base = M.pa_mpjpe(pred, target)
    assert base.item() > 5.0
    torch.testing.assert_close(M.pa_mpjpe(_similarity(pred, seed=6), target), base, atol=tol, rtol=0)


def test_pa_mpjpe_matches_numpy_reference_batched():
    pred, target = _pose(batch=(5,), seed=7), _pose(batch=(5,), seed=8)
    out = M.pa_mpjpe(pred, target)
    assert out.shape == (5,)
    ref = [_numpy_pa_mpjpe(p, g) for p, g in zip(pred.numpy(), target.numpy())]
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)
    assert torch.all(out <= M.mpjpe(pred, target))  # alignment can only reduce the error


def test_pa_mpjpe_degenerate_prediction_hand_computed():
    target = torch.tensor([[0.1, 0, 0], [-0.1, 0, 0], [0, 0.1, 0], [0, -0.1, 0]], dtype=torch.float64)
    pred = torch.full_like(target, 0.7)  # every joint at one point: best fit is the target centroid
    assert M.pa_mpjpe(pred, target).item() == pytest.approx(100.0)


def test_n_mpjpe_hand_computed():
    target = torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]], dtype=torch.float64)
    pred = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.1, 0.0]], dtype=torch.float64)
    # <pred, target> = 0 -> s = 0: joint 1 is 100 mm off, joint 0 is exact -> 50 mm.
    assert M.n_mpjpe(pred, target, root=0).item() == pytest.approx(50.0)
    assert M.mpjpe(pred, target).item() == pytest.approx(100 * math.sqrt(2) / 2)
    pose = _pose(seed=9)
    assert M.n_mpjpe(2.5 * pose, pose, root=0).item() == pytest.approx(0.0, abs=1e-9)
    assert M.n_mpjpe(torch.zeros_like(pose), pose).isfinite().item()


# ---------------------------------------------------------------- PVE


def test_pve_with_and_without_root_alignment():
    target = _pose(j=100, batch=(2,), seed=10)
    shift = target.new_tensor([0.0, 0.03, 0.04])  # 50 mm
    pred = target + shift
    torch.testing.assert_close(M.pve(pred, target), torch.full((2,), 50.0, dtype=torch.float64))
    pelvis_gt = target[:, :5].mean(1)
    out = M.pve(pred, target, pred_root=pelvis_gt + shift, target_root=pelvis_gt)
    torch.testing.assert_close(out, torch.zeros(2, dtype=torch.float64), atol=1e-9, rtol=0)
    with pytest.raises(ValueError, match="both"):
        M.pve(pred, target, pred_root=pelvis_gt)
    with pytest.raises(ValueError, match="shape"):
        M.pve(pred, target, pred_root=pelvis_gt[0], target_root=pelvis_gt[0])


def test_pa_pve_invariant_to_similarity():
    target = _pose(j=200, seed=11)
    assert M.pa_pve(_similarity(target, seed=12), target).item() == pytest.approx(0.0, abs=1e-9)
    pred = target + 0.01 * _pose(j=200, seed=13)
    assert M.pa_pve(pred, target).item() == pytest.approx(_numpy_pa_mpjpe(pred.numpy(), target.numpy()))


# ---------------------------------------------------------------- PCK, AUC


def _at_distances(distances_m: list[float], dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """A target and a prediction whose joint j is displaced by distances_m[j] in a varied direction."""
    target = _pose(j=len(distances_m), seed=14, dtype=dtype)
    directions = torch.nn.functional.normalize(_pose(j=len(distances_m), seed=15, dtype=dtype), dim=-1)
    return target + target.new_tensor(distances_m)[:, None] * directions, target


@pytest.mark.parametrize("dtype", DTYPES)
def test_pck_known_distances(dtype):
    pred, target = _at_distances([0.05, 0.10, 0.149, 0.20], dtype)
    assert M.pck(pred, target).item() == pytest.approx(75.0)
    assert M.pck(pred, target, threshold=0.12).item() == pytest.approx(50.0)
    assert M.pck(pred, target, threshold=0.01).item() == 0.0
    assert M.pck(pred, target).dtype == dtype


def test_pck_root_alignment_and_batch():
    target = _pose(batch=(3, 2), seed=16)
    pred = target + 1.0  # a 1.73 m global offset, perfect relative pose
    assert torch.equal(M.pck(pred, target), torch.zeros(3, 2, dtype=torch.float64))
    assert torch.equal(M.pck(pred, target, root=0), torch.full((3, 2), 100.0, dtype=torch.float64))


def test_auc_perfect_prediction_is_30_of_31():
    # MPI-INF-3DHP AUC averages PCK over 0, 5, ..., 150 mm with a strict "<": the 0 mm term is 0.
    target = _pose(seed=17)
    assert M.auc(target.clone(), target).item() == pytest.approx(100.0 * 30 / 31)
    assert M.auc(target.clone(), target, thresholds=[0.05, 0.1]).item() == pytest.approx(100.0)


def test_auc_hand_computed_and_against_loop_reference():
    pred, target = _at_distances([0.0725] * 4)
    # 72.5 mm is below the 16 thresholds 75, 80, ..., 150 mm out of 31.
    assert M.auc(pred, target).item() == pytest.approx(100.0 * 16 / 31)

    distances = [0.003, 0.021, 0.0725, 0.101, 0.149, 0.151, 0.4]
    pred, target = _at_distances(distances)
    err_mm = 1000 * np.linalg.norm(pred.numpy() - target.numpy(), axis=-1)
    ref = np.mean([100 * np.mean(err_mm < thr) for thr in np.linspace(0, 150, 31)])  # ZeDO compute_AUC
    assert M.auc(pred, target).item() == pytest.approx(ref)
    assert M.auc(pred, target, thresholds=np.linspace(0, 0.15, 31)).item() == pytest.approx(ref)


def test_auc_batch_shape_and_root():
    target = _pose(batch=(2, 5), seed=18)
    pred = target + 0.02 * _pose(batch=(2, 5), seed=19) + 3.0
    out = M.auc(pred, target, root=0)
    assert out.shape == (2, 5)
    assert torch.all(out > 50.0) and torch.equal(M.auc(pred, target), torch.zeros(2, 5, dtype=torch.float64))


# ---------------------------------------------------------------- angles


def _rot_z(deg: float, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(Rotation.from_euler("z", deg, degrees=True).as_matrix(), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mpjae_90_degrees_about_z(dtype):
    R_target = torch.eye(3, dtype=dtype).expand(2, 24, 3, 3)
    R_pred = _rot_z(90.0, dtype).expand(2, 24, 3, 3)
    out = M.mpjae(R_pred, R_target)
    assert out.shape == (2,) and out.dtype == dtype
    torch.testing.assert_close(out, torch.full_like(out, 90.0))
    # Half the joints right, half 90 degrees off -> 45.
    mixed = torch.cat([R_target[:, :12], R_pred[:, 12:]], dim=1)
    torch.testing.assert_close(M.mpjae(mixed, R_target), torch.full_like(out, 45.0))


def test_angle_error_matches_scipy_and_roma():
    A = Rotation.random(200, random_state=20)
    B = Rotation.random(200, random_state=21)
    ref = np.degrees((A * B.inv()).magnitude())
    Ra, Rb = torch.tensor(A.as_matrix()), torch.tensor(B.as_matrix())
    out = M.angle_error(Ra, Rb)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-9)
    np.testing.assert_allclose(out.numpy(), np.degrees(roma.rotmat_geodesic_distance(Ra, Rb).numpy()), atol=1e-6)
    # mpjae = mean of angle_error over joints.
    torch.testing.assert_close(M.mpjae(Ra.reshape(10, 20, 3, 3), Rb.reshape(10, 20, 3, 3)), out.reshape(10, 20).mean(-1))


@pytest.mark.parametrize("deg", [0.0, 1e-4, 0.5, 179.5, 179.9999, 180.0])
def test_angle_error_accurate_near_0_and_180(deg):
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    base = Rotation.random(random_state=22)
    R_pred = (Rotation.from_rotvec(np.radians(deg) * axis) * base).as_matrix()
    out64 = M.angle_error(torch.tensor(R_pred), torch.tensor(base.as_matrix())).item()
    assert out64 == pytest.approx(deg, abs=1e-8)
    out32 = M.angle_error(torch.tensor(R_pred, dtype=torch.float32), torch.tensor(base.as_matrix(), dtype=torch.float32))
    assert math.isfinite(out32.item()) and out32.item() == pytest.approx(deg, abs=2e-3)


# ---------------------------------------------------------------- multi-hypothesis


def test_min_mpjpe_picks_the_closest_hypothesis():
    target = _pose(batch=(2,), seed=23)
    offsets = target.new_tensor([[0.030, 0, 0], [0, 0.010, 0], [0, 0, 0.020]])  # 30, 10, 20 mm
    hyps = target[:, None] + offsets[None, :, None, :]
    out = M.min_mpjpe(hyps, target)
    assert out.shape == (2,)
    torch.testing.assert_close(out, torch.full((2,), 10.0, dtype=torch.float64))
    assert torch.equal(M.min_mpjpe(hyps[:, :1], target), M.mpjpe(hyps[:, 0], target))  # S = 1 is plain MPJPE


def test_min_pa_mpjpe_minimises_independently():
    target = _pose(seed=24)
    rotated = _similarity(target, seed=25)  # huge MPJPE, zero PA-MPJPE
    jittered = target + 0.01 * _pose(seed=26)  # small MPJPE, small but non-zero PA-MPJPE
    hyps = torch.stack([rotated, jittered])
    assert M.mpjpe(rotated, target) > M.mpjpe(jittered, target)
    assert M.min_mpjpe(hyps, target).item() == pytest.approx(M.mpjpe(jittered, target).item())
    assert M.min_pa_mpjpe(hyps, target).item() == pytest.approx(0.0, abs=1e-9)
    # Batched: (B, S, J, 3) against (B, J, 3); each row equals the per-hypothesis minimum.
    hyps_b, target_b = torch.stack([hyps, hyps.flip(0)]), torch.stack([target, target])
    per_hyp = torch.stack([M.pa_mpjpe(h, target) for h in hyps])
    torch.testing.assert_close(M.min_pa_mpjpe(hyps_b, target_b), per_hyp.min().expand(2))
    with pytest.raises(ValueError, match="pred_hyps"):
        M.min_mpjpe(hyps, target[None])


# ---------------------------------------------------------------- acceleration error


def test_accel_error_constant_velocity_vs_static_is_zero():
    T = 10
    target = _pose(seed=27).expand(T, 17, 3)
    velocity = target.new_tensor([0.01, -0.02, 0.005])
    pred = target + torch.arange(T, dtype=torch.float64)[:, None, None] * velocity
    out = M.accel_error(pred, target)
    assert out.shape == (T - 2,)
    torch.testing.assert_close(out, torch.zeros(T - 2, dtype=torch.float64), atol=1e-9, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_accel_error_quadratic_trajectory_hand_computed(dtype):
    # x(t) = 0.5 a t^2 along x with a = 2 mm/frame^2: the second difference is exactly a at every frame.
    T, a = 8, 0.002
    target = _pose(j=5, seed=28, dtype=dtype).expand(3, T, 5, 3)
    t = torch.arange(T, dtype=dtype)
    pred = target.clone()
    pred[..., 0] += (0.5 * a * t**2)[None, :, None]
    out = M.accel_error(pred, target)
    assert out.shape == (3, T - 2) and out.dtype == dtype
    torch.testing.assert_close(out, torch.full_like(out, 2.0), atol=1e-4, rtol=1e-4)
    # Root-centring removes a whole-body acceleration.
    torch.testing.assert_close(M.accel_error(pred, target, root=0), torch.zeros_like(out), atol=1e-4, rtol=0)


def test_accel_error_matches_vibe_reference():
    gen = torch.Generator().manual_seed(29)
    pred = torch.randn(12, 14, 3, generator=gen, dtype=torch.float64)
    target = torch.randn(12, 14, 3, generator=gen, dtype=torch.float64)
    p, g = pred.numpy(), target.numpy()
    # VIBE compute_error_accel (mean over joints, frames 1..T-2) in metres -> mm.
    accel_gt = g[:-2] - 2 * g[1:-1] + g[2:]
    accel_pred = p[:-2] - 2 * p[1:-1] + p[2:]
    ref = 1000 * np.linalg.norm(accel_pred - accel_gt, axis=2).mean(axis=1)
    np.testing.assert_allclose(M.accel_error(pred, target).numpy(), ref, rtol=1e-12)
    with pytest.raises(ValueError, match="3 frames"):
        M.accel_error(pred[:2], target[:2])


# ---------------------------------------------------------------- depth error


def test_depth_error_hand_computed():
    target = torch.tensor([[2.0, 2.1, 1.9, 2.3]], dtype=torch.float64)  # absolute camera z
    pred = torch.tensor([[3.0, 3.12, 2.9, 3.27]], dtype=torch.float64)  # 1 m further, relative errors 20, 0, 30 mm
    out = M.depth_error(pred, target, root=0)
    assert out.shape == (1,)
    assert out.item() == pytest.approx((0 + 20 + 0 + 30) / 4)
    assert M.depth_error(pred, target).item() == pytest.approx((1000 + 1020 + 1000 + 970) / 4)
    joints = _pose(batch=(3,), seed=30)
    moved = joints + joints.new_tensor([0.0, 0.0, 0.5])
    torch.testing.assert_close(M.depth_error(moved[..., 2], joints[..., 2], root=0), torch.zeros(3, dtype=torch.float64))


# ---------------------------------------------------------------- devices


def test_metrics_follow_the_device(device):  # device: tests/conftest.py (cpu, cuda if any)
    target = _pose(batch=(4,), seed=31)
    pred = target + 0.02 * _pose(batch=(4,), seed=32)
    R = torch.from_numpy(Rotation.random(8, random_state=33).as_matrix()).reshape(4, 2, 3, 3)
    for name, fn, args in (
        ("mpjpe", M.mpjpe, (pred, target)),
        ("pa_mpjpe", M.pa_mpjpe, (pred, target)),
        ("pck", M.pck, (pred, target)),
        ("auc", M.auc, (pred, target)),
        ("mpjae", M.mpjae, (R, R.flip(0))),
    ):
        out = fn(*(a.to(device) for a in args))
        assert out.device == device, name
        torch.testing.assert_close(out.cpu(), fn(*args), atol=1e-9, rtol=0, msg=name)


# ---------------------------------------------------------------- NaN / inf input

NON_FINITE = [float("nan"), float("inf"), -float("inf")]


def _poisoned(x: torch.Tensor, value: float, index=(0, 3, 1)) -> torch.Tensor:
    out = x.clone()
    out[index] = value
    return out


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("side", ["pred", "target"])
@pytest.mark.parametrize("name", ["mpjpe", "pa_mpjpe", "n_mpjpe", "pve", "pa_pve", "pck", "auc", "depth_error"])
def test_non_finite_joint_gives_non_finite_error_for_that_sample(name, side, value):
    """Documented (module docstring): never a finite number for a sample with a NaN/inf coordinate;
    pck/auc give NaN (before: the NaN joint counted as wrong, PCK 94.1 %)."""
    fn = getattr(M, name)
    target = _pose(batch=(3,), seed=34)
    pred = target + 0.03 * _pose(batch=(3,), seed=35)
    if name == "depth_error":
        pred, target = pred[..., 2], target[..., 2]
        index = (0, 3)
    else:
        index = (0, 3, 1)
    args = {"pred": pred, "target": target}
    args[side] = _poisoned(args[side], value, index)
    out, clean = fn(args["pred"], args["target"]), fn(pred, target)
    assert not torch.isfinite(out[0]), f"{name}: a {value} in {side} gave {out[0].item()}"
    if name in ("pa_mpjpe", "n_mpjpe", "pa_pve", "pck", "auc"):
        assert torch.isnan(out[0])
    torch.testing.assert_close(out[1:], clean[1:], atol=0, rtol=0)
    # and with root-centring (the benchmark setting), where offered
    if name in ("mpjpe", "n_mpjpe", "pck", "auc", "depth_error"):
        assert not torch.isfinite(fn(args["pred"], args["target"], root=0)[0])


@pytest.mark.parametrize("value", NON_FINITE)
def test_non_finite_rotation_gives_nan_angle(value):
    """Before: an inf entry gave a finite 135 degrees through atan2(inf, -inf)."""
    R = torch.from_numpy(Rotation.random(6, random_state=36).as_matrix()).reshape(2, 3, 3, 3)
    out = M.mpjae(_poisoned(R, value, (0, 1, 0, 0)), R)
    assert torch.isnan(out[0]) and out[1] == 0
    angles = M.angle_error(R, _poisoned(R, value, (0, 1, 2, 1)))
    assert torch.isnan(angles[0, 1]) and torch.isfinite(angles[0, [0, 2]]).all()


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("name", ["min_mpjpe", "min_pa_mpjpe"])
def test_min_over_hypotheses_does_not_skip_a_broken_one(name, value):
    """Before: an inf hypothesis was skipped by amin and the best of the others returned."""
    target = _pose(batch=(2,), seed=37)
    hyps = target[:, None] + 0.01 * _pose(batch=(2, 4), seed=38)
    out = getattr(M, name)(_poisoned(hyps, value, (0, 2, 5, 0)), target)
    assert torch.isnan(out[0])
    torch.testing.assert_close(out[1], getattr(M, name)(hyps, target)[1], atol=0, rtol=0)


@pytest.mark.parametrize("value", NON_FINITE)
def test_accel_error_non_finite_frame_poisons_the_frames_that_use_it(value):
    gen = torch.Generator().manual_seed(39)
    target = torch.randn(8, 5, 3, generator=gen, dtype=torch.float64)
    pred = target + 0.01 * torch.randn(8, 5, 3, generator=gen, dtype=torch.float64)
    out = M.accel_error(_poisoned(pred, value, (4, 2, 0)), target)  # frame 4: used by interior 3, 4, 5
    finite = torch.isfinite(out)
    assert finite.tolist() == [True, True, False, False, False, True]  # out[k] is frame k + 1
