"""Tests for posebook.geometry.procrustes against scipy and against known transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from posebook.geometry.procrustes import rigid_align, similarity_align

def _random_similarity(batch: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    R = Rotation.random(batch, random_state=seed).as_matrix()
    s = rng.uniform(0.5, 2.0, size=batch)
    t = rng.normal(size=(batch, 3))
    return s, R, t


def _apply(s: np.ndarray, R: np.ndarray, t: np.ndarray, X: np.ndarray) -> np.ndarray:
    return s[:, None, None] * np.einsum("bij,bnj->bni", R, X) + t[:, None, :]


def _objective(s, R, t, X, Y, w=None):
    residual = ((_apply(s, R, t, X) - Y) ** 2).sum(-1)
    return (residual * (1.0 if w is None else w)).sum(-1)


def test_recovers_known_similarity_exactly(device):  # device: tests/conftest.py (cpu, cuda if any)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 17, 3))
    s, R, t = _random_similarity(6, seed=1)
    Y = _apply(s, R, t, X)
    Xt, Yt = (torch.tensor(a, device=device) for a in (X, Y))
    aligned, scale, R_est, t_est = similarity_align(Xt, Yt)
    np.testing.assert_allclose(scale.cpu().numpy(), s, atol=1e-12)
    np.testing.assert_allclose(R_est.cpu().numpy(), R, atol=1e-12)
    np.testing.assert_allclose(t_est.cpu().numpy(), t, atol=1e-12)
    np.testing.assert_allclose(aligned.cpu().numpy(), Y, atol=1e-12)
    assert aligned.device == device and aligned.dtype == torch.float64


def test_matches_scipy_on_noisy_data():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(8, 14, 3))
    s, R, t = _random_similarity(8, seed=3)
    Y = _apply(s, R, t, X) + 0.05 * rng.normal(size=X.shape)
    aligned, scale, R_est, t_est = (a.numpy() for a in similarity_align(torch.tensor(X), torch.tensor(Y)))
    for b in range(len(X)):
        Xc, Yc = X[b] - X[b].mean(0), Y[b] - Y[b].mean(0)
        # scipy: align_vectors(a, b) finds C in SO(3) minimising sum ||a_i - C b_i||^2.
        C = Rotation.align_vectors(Yc, Xc)[0].as_matrix()
        np.testing.assert_allclose(R_est[b], C, atol=1e-10)
        # orthogonal_procrustes(A, B) minimises ||A Q - B||: with A = Xc, B = Yc, Q = R^T.
        Q, _ = orthogonal_procrustes(Xc, Yc)
        assert np.linalg.det(Q) > 0
        np.testing.assert_allclose(R_est[b], Q.T, atol=1e-10)
        # Least-squares scale and translation for the fixed rotation C.
        s_ref = np.sum(Yc * (Xc @ C.T)) / np.sum(Xc * Xc)
        np.testing.assert_allclose(scale[b], s_ref, rtol=1e-10)
        np.testing.assert_allclose(t_est[b], Y[b].mean(0) - s_ref * C @ X[b].mean(0), atol=1e-10)
    np.testing.assert_allclose(aligned, _apply(scale, R_est, t_est, X), atol=1e-12)


def test_solution_is_a_minimum_of_the_objective():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3, 10, 3))
    Y = rng.normal(size=(3, 10, 3))  # unrelated point sets: a genuinely non-zero residual
    _, scale, R, t = (a.numpy() for a in similarity_align(torch.tensor(X), torch.tensor(Y)))
    best = _objective(scale, R, t, X, Y)
    for k in range(50):
        dR = Rotation.from_rotvec(1e-2 * rng.normal(size=(3, 3))).as_matrix()
        ds = 1.0 + 1e-2 * rng.normal(size=3)
        dt = 1e-2 * rng.normal(size=(3, 3))
        assert np.all(_objective(scale * ds, dR @ R, t + dt, X, Y) >= best - 1e-12)


def test_reflection_is_corrected():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1, 12, 3))
    Y = X * np.array([1.0, 1.0, -1.0]) + 0.01 * rng.normal(size=X.shape)  # a mirror image
    _, scale, R, _ = similarity_align(torch.tensor(X), torch.tensor(Y))
    assert torch.linalg.det(R).item() == pytest.approx(1.0, abs=1e-12)
    Xc, Yc = X[0] - X[0].mean(0), Y[0] - Y[0].mean(0)
    Q, _ = orthogonal_procrustes(Xc, Yc)
    assert np.linalg.det(Q) < 0  # the unconstrained optimum is a reflection ...
    C = Rotation.align_vectors(Yc, Xc)[0].as_matrix()
    np.testing.assert_allclose(R[0].numpy(), C, atol=1e-10)  # ... we return the best proper rotation
    assert scale.item() >= 0


def test_weights_match_scipy_and_zero_weight_drops_points():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(1, 9, 3))
    s, R, t = _random_similarity(1, seed=7)
    Y = _apply(s, R, t, X) + 0.1 * rng.normal(size=X.shape)
    w = rng.uniform(0.1, 2.0, size=(1, 9))
    _, scale, R_est, t_est = similarity_align(torch.tensor(X), torch.tensor(Y), torch.tensor(w))
    wn = w[0] / w[0].sum()
    mx, my = wn @ X[0], wn @ Y[0]
    C = Rotation.align_vectors(Y[0] - my, X[0] - mx, weights=w[0])[0].as_matrix()
    np.testing.assert_allclose(R_est[0].numpy(), C, atol=1e-10)
    s_ref = np.sum(wn[:, None] * (Y[0] - my) * ((X[0] - mx) @ C.T)) / np.sum(wn[:, None] * (X[0] - mx) ** 2)
    np.testing.assert_allclose(scale.item(), s_ref, rtol=1e-10)
    np.testing.assert_allclose(t_est[0].numpy(), my - s_ref * C @ mx, atol=1e-10)

    w0 = w.copy()
    w0[0, :3] = 0.0
    _, s_w, R_w, t_w = similarity_align(torch.tensor(X), torch.tensor(Y), torch.tensor(w0))
    _, s_d, R_d, t_d = similarity_align(torch.tensor(X[:, 3:]), torch.tensor(Y[:, 3:]), torch.tensor(w[:, 3:]))
    torch.testing.assert_close(s_w, s_d)
    torch.testing.assert_close(R_w, R_d)
    torch.testing.assert_close(t_w, t_d)


def test_batch_shapes_and_broadcasting():
    gen = torch.Generator().manual_seed(8)
    X = torch.randn(2, 3, 5, 3, generator=gen, dtype=torch.float64)
    Y = torch.randn(2, 3, 5, 3, generator=gen, dtype=torch.float64)
    aligned, scale, R, t = similarity_align(X, Y)
    assert aligned.shape == (2, 3, 5, 3) and scale.shape == (2, 3) and R.shape == (2, 3, 3, 3) and t.shape == (2, 3, 3)
    # Each batch element equals its own unbatched alignment.
    a11, s11, R11, t11 = similarity_align(X[1, 1], Y[1, 1])
    torch.testing.assert_close(aligned[1, 1], a11)
    torch.testing.assert_close(scale[1, 1], s11)
    # A single target broadcast against many candidates.
    aligned_b, _, _, _ = similarity_align(X[0], Y[0, 0])
    torch.testing.assert_close(aligned_b[0], similarity_align(X[0, 0], Y[0, 0])[0])
    assert aligned_b.shape == (3, 5, 3)


def test_float32_close_to_float64():
    gen = torch.Generator().manual_seed(9)
    X = torch.randn(4, 17, 3, generator=gen, dtype=torch.float64)
    Y = torch.randn(4, 17, 3, generator=gen, dtype=torch.float64)
    out64 = similarity_align(X, Y)
    out32 = similarity_align(X.float(), Y.float())
    for a32, a64 in zip(out32, out64):
        assert a32.dtype == torch.float32
        torch.testing.assert_close(a32.double(), a64, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_degenerate_inputs_give_finite_least_squares_answer(dtype):
    gen = torch.Generator().manual_seed(10)
    Y = torch.randn(2, 6, 3, generator=gen, dtype=dtype)
    X = torch.tensor([0.3, -1.7, 2.9], dtype=dtype).expand(2, 6, 3).clone().requires_grad_(True)
    aligned, scale, R, t = similarity_align(X, Y)
    # All points equal: the best similarity collapses X onto Y's centroid with scale 0.
    assert torch.equal(scale, torch.zeros_like(scale))
    torch.testing.assert_close(R, torch.eye(3, dtype=dtype).expand(2, 3, 3))
    torch.testing.assert_close(aligned, Y.mean(-2, keepdim=True).expand_as(Y))
    aligned.sum().backward()
    assert torch.isfinite(X.grad).all()

    # Degenerate target (and both all-zero): finite, scale 0.
    for X2, Y2 in ((Y, torch.ones_like(Y)), (torch.zeros_like(Y), torch.zeros_like(Y))):
        out = similarity_align(X2, Y2)
        assert all(torch.isfinite(a).all() for a in out)
        assert torch.allclose(out[1], torch.zeros_like(out[1]), atol=1e-6)
        torch.testing.assert_close(out[0], Y2.mean(-2, keepdim=True).expand_as(Y2))


def test_rigid_align_recovers_rotation_without_scale():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(5, 10, 3))
    _, R, t = _random_similarity(5, seed=12)
    Y = _apply(np.ones(5), R, t, X)
    aligned, R_est, t_est = rigid_align(torch.tensor(X), torch.tensor(Y))
    np.testing.assert_allclose(R_est.numpy(), R, atol=1e-12)
    np.testing.assert_allclose(t_est.numpy(), t, atol=1e-12)
    np.testing.assert_allclose(aligned.numpy(), Y, atol=1e-12)
    # With a scaled target, rigid alignment keeps unit scale and matches scipy's rotation.
    Y2 = 3.0 * Y + 0.05 * rng.normal(size=Y.shape)
    aligned2, R2, t2 = rigid_align(torch.tensor(X), torch.tensor(Y2))
    for b in range(5):
        C = Rotation.align_vectors(Y2[b] - Y2[b].mean(0), X[b] - X[b].mean(0))[0].as_matrix()
        np.testing.assert_allclose(R2[b].numpy(), C, atol=1e-10)
        np.testing.assert_allclose(t2[b].numpy(), Y2[b].mean(0) - C @ X[b].mean(0), atol=1e-10)


@pytest.mark.parametrize(
    "X_shape, Y_shape, w_shape",
    [((5, 3), (6, 3), None), ((5, 2), (5, 2), None), ((3,), (3,), None), ((0, 3), (0, 3), None), ((5, 3), (5, 3), (4,))],
)
def test_bad_shapes_raise(X_shape, Y_shape, w_shape):
    w = None if w_shape is None else torch.ones(w_shape)
    with pytest.raises(ValueError):
        similarity_align(torch.zeros(X_shape), torch.zeros(Y_shape), w)


def test_bad_weights_raise():
    X = torch.randn(5, 3)
    with pytest.raises(ValueError, match="non-negative"):
        similarity_align(X, X, torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="non-negative"):
        rigid_align(X, X, torch.zeros(5))


def test_gradients_match_finite_differences():
    gen = torch.Generator().manual_seed(13)
    X = torch.randn(2, 6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    Y = torch.randn(2, 6, 3, generator=gen, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: similarity_align(x, Y)[0], (X,))
    assert torch.autograd.gradcheck(lambda x: rigid_align(x, Y)[0], (X,))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("where", ["X", "Y", "weights"])
def test_non_finite_input_gives_nan_for_that_sample_only(device, value, where):
    """Documented: a NaN/inf in X, Y or the weights of a sample -> NaN in every output of that
    sample (never a finite transform), the other samples exactly as without it."""
    gen = torch.Generator().manual_seed(14)
    X = torch.randn(3, 8, 3, generator=gen, dtype=torch.float64)
    Y = torch.randn(3, 8, 3, generator=gen, dtype=torch.float64)
    w = torch.rand(3, 8, generator=gen, dtype=torch.float64) + 0.1
    bad = {"X": X.clone(), "Y": Y.clone(), "weights": w.clone()}
    bad[where][(1, 4, 2) if where != "weights" else (1, 4)] = value
    if where == "weights" and value < 0:
        pytest.skip("a negative weight is rejected by the argument check (test_bad_weights_raise)")
    args = [t.to(device) for t in (bad["X"], bad["Y"], bad["weights"])]
    clean = [t.to(device) for t in (X, Y, w)]
    for fn in (similarity_align, rigid_align):
        out, ref = fn(*args), fn(*clean)
        for o, r in zip(out, ref):
            assert torch.isnan(o[1]).all(), f"{fn.__name__}: a {value} in {where} gave a number"
            torch.testing.assert_close(o[[0, 2]], r[[0, 2]], atol=0, rtol=0)


def test_non_finite_input_gives_nan_gradient():
    gen = torch.Generator().manual_seed(15)
    X = torch.randn(2, 6, 3, generator=gen, dtype=torch.float64)
    X[0, 2, 1] = float("nan")
    X.requires_grad_(True)
    Y = torch.randn(2, 6, 3, generator=gen, dtype=torch.float64)
    similarity_align(X, Y)[0].sum().backward()
    assert torch.isnan(X.grad[0]).all() and torch.isfinite(X.grad[1]).all()
