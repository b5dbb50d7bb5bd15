"""posebook.analysis.jacobians (PRoM Theorems 1-2, App. A.5-A.6) and the prom.theory experiments."""

from __future__ import annotations

import math

import pytest
import torch

from posebook.analysis import gradients as G
from posebook.analysis import jacobians as J
from posebook.experiments import run_experiment
import posebook.experiments  # noqa: F401  (registers the prom.* experiments)
from posebook.geometry.rotations import matrix_to_6d, orthogonalize, random_rotation

F64 = torch.float64
TOL = dict(atol=1e-10, rtol=0)


@pytest.fixture
def noisy() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    R = random_rotation((3, 4), generator=gen, dtype=F64)
    return R, R + 0.5 * torch.randn(3, 4, 3, 3, generator=gen, dtype=F64)


def _finite_difference_jacobian(func, x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    cols = [(func(x + h * e) - func(x - h * e)) / (2 * h) for e in torch.eye(x.numel(), dtype=x.dtype)]
    return torch.stack(cols, dim=-1)


# ----------------------------------------------------------------------------- B itself


def test_identity_gives_B0_equal_I_lambda_min_1_psi_1(noisy):
    _, M = noisy
    B = J.orthogonalization_jacobian(M, "identity")
    assert B.shape == (3, 4, 9, 9)
    torch.testing.assert_close(B, torch.eye(9, dtype=F64).expand_as(B), atol=0, rtol=0)
    torch.testing.assert_close(J.lambda_min(B), torch.ones(3, 4, dtype=F64), atol=1e-14, rtol=0)
    torch.testing.assert_close(J.psi(B), torch.ones(3, 4, dtype=F64), atol=1e-14, rtol=0)
    assert (J.jacobian_rank(B) == 9).all()


@pytest.mark.parametrize("method", ["gs", "svd"])
def test_closed_form_B_matches_jacrev_and_finite_differences(noisy, method):
    _, M = noisy
    B = J.orthogonalization_jacobian(M, method)
    torch.testing.assert_close(B, J.orthogonalization_jacobian(M, method, autograd=True), **TOL)
    fd = _finite_difference_jacobian(lambda v: orthogonalize(v.reshape(3, 3), method).reshape(9), M[0, 0].reshape(9))
    torch.testing.assert_close(B[0, 0], fd, atol=1e-7, rtol=0)


def test_sixd_jacobian_matches_jacrev_and_is_9x6(noisy):
    _, M = noisy
    x = matrix_to_6d(M)
    B = J.sixd_jacobian(x)
    assert B.shape == (3, 4, 9, 6)
    torch.testing.assert_close(B, J.sixd_jacobian(x, autograd=True), **TOL)
    # same numbers as the 9x9 g_GS Jacobian restricted to the first two input columns
    B9 = J.orthogonalization_jacobian(M, "gs").reshape(3, 4, 9, 3, 3)[..., :2].reshape(3, 4, 9, 6)
    torch.testing.assert_close(B, B9, **TOL)


@pytest.mark.parametrize("method", ["gs", "svd", "6d"])
def test_orthogonalisations_have_rank_3_and_lambda_min_0(noisy, method):
    """Any map into SO(3) (dimension 3) has a rank-3 Jacobian: B B^T has 6 zero eigenvalues."""
    _, M = noisy
    B = J.sixd_jacobian(matrix_to_6d(M)) if method == "6d" else J.orthogonalization_jacobian(M, method)
    assert J.EXPECTED_RANK[method] == 3
    assert (J.jacobian_rank(B) == 3).all()
    ev = J.gram_eigenvalues(B)
    assert (ev[..., :6].abs() <= 1e-13 * ev[..., -1:]).all()
    assert (ev[..., 6] > 1e-3).all()  # the other three are genuinely non-zero
    assert torch.isinf(J.psi(B)).all()
    assert (J.lambda_min(B).abs() < 1e-12).all()


def test_svd_B_at_a_rotation_is_the_orthogonal_projector_onto_the_tangent_space():
    """At M = R in SO(3), dR = R skew-part(R^T dM): B is symmetric and idempotent with spectrum {0 x 6, 1 x 3}."""
    R = random_rotation(5, generator=torch.Generator().manual_seed(1), dtype=F64)
    B = J.orthogonalization_jacobian(R, "svd")
    torch.testing.assert_close(B, B.mT, **TOL)
    torch.testing.assert_close(B @ B, B, **TOL)
    expected = torch.tensor([0.0] * 6 + [1.0] * 3, dtype=F64).expand(5, 9)
    torch.testing.assert_close(J.gram_eigenvalues(B), expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("method", ["gs", "svd"])
def test_B_transpose_times_the_error_is_the_closed_form_gradient(noisy, method):
    """Chain rule: dL/dM = B^T vec(g(M) - R): a route through jacobians.py vs gradients.py."""
    R, M = noisy
    B = J.orthogonalization_jacobian(M, method)
    err = (orthogonalize(M, method) - R).reshape(3, 4, 9, 1)
    torch.testing.assert_close((B.mT @ err).reshape(3, 4, 3, 3), G.loss_gradient(M, R, method), **TOL)


def test_kernel_of_B_is_the_non_injective_directions_of_a6(noisy):
    _, M = noisy
    A = M[0, 0]
    v1, v2 = A[:, 0], A[:, 1]
    Bgs = J.orthogonalization_jacobian(A, "gs")
    z = torch.zeros(3, dtype=F64)
    kernel = [torch.stack(c, dim=-1) for c in ((v1, z, z), (z, v1, z), (z, v2, z), (z, z, torch.ones(3, dtype=F64)))]
    for D in kernel:
        assert (Bgs @ D.reshape(9)).abs().max() < 1e-13
    # A.6 as printed: delta orthogonal to v1 in column 2 is NOT in the kernel (unless parallel to r''_2).
    delta = torch.linalg.cross(v1, v2)
    assert (Bgs @ torch.stack((z, delta, z), dim=-1).reshape(9)).norm() > 1e-2
    U, _, Vh = torch.linalg.svd(A)
    d = torch.sign(torch.linalg.det(U @ Vh))
    Up = U * torch.tensor([1.0, 1.0, float(d)], dtype=F64)
    X = torch.randn(3, 3, generator=torch.Generator().manual_seed(2), dtype=F64)
    Bsvd = J.orthogonalization_jacobian(A, "svd")
    assert (Bsvd @ (Up @ (X + X.T) @ Vh).reshape(9)).abs().max() < 1e-13
    assert (Bsvd @ (Up @ (X - X.T) @ Vh).reshape(9)).norm() > 1e-2


def test_psi_of_a_full_rank_matrix_and_input_errors():
    B = torch.diag(torch.tensor([2.0, 0.5, 1.0], dtype=F64))
    assert float(J.psi(B)) == pytest.approx(2.0)  # 1/sqrt(lambda_min(B B^T)) = 1/0.5
    assert float(J.lambda_min(B)) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="'identity', 'gs' or 'svd'"):
        J.orthogonalization_jacobian(torch.eye(3, dtype=F64), "6d")
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        J.orthogonalization_jacobian(torch.eye(4, dtype=F64), "svd")
    with pytest.raises(ValueError, match=r"\(\.\.\., 6\)"):
        J.sixd_jacobian(torch.ones(9, dtype=F64))
    with pytest.raises(ValueError, match="autograd=True"):
        J.orthogonalization_jacobian(torch.eye(3, dtype=F64), "gs", proper=False)


# ----------------------------------------------------------------------------- experiments (small sizes)


def test_closed_form_checks_experiment_flags_exactly_the_two_printed_errata(tmp_path):
    frame = run_experiment("prom.closed_form_checks", out=tmp_path, samples=40).frame
    failing = frame.loc[~frame["matches_autograd"], "equation"].tolist()
    assert sorted(failing) == ["Eq. 6", "Sec. 3.4.1"]


def test_lambda_min_and_non_injectivity_experiments(tmp_path):
    lam = run_experiment("prom.lambda_min", out=tmp_path, samples=8, train_steps=4, hidden=8).frame
    prom = lam[lam["method"] == "PRoM"]
    assert (prom["lambda_min min"] == 1.0).all() and (prom["rank min"] == 9).all()
    ortho = lam[lam["method"].isin(["6D", "GS", "SVD"]) & (lam["dtype"] == "float64")]
    assert len(ortho) == 6 and (ortho["rank min"] == 3).all() and (ortho["rank max"] == 3).all()
    assert (ortho["max |lambda_min| / lambda_max"] < 1e-12).all()
    # 6D*: [t1, t2, t1 x t2], no orthogonalisation. B is 9 x 6 of rank 6, and lambda_min(B B^T) = 0 still.
    star = lam[(lam["method"] == "6D*") & (lam["dtype"] == "float64")]
    assert len(star) == 2 and (star["B shape"] == "9x6").all()
    assert (star["rank min"] == 6).all() and (star["rank max"] == 6).all() and (star["expected rank"] == 6).all()
    assert (star["max |lambda_min| / lambda_max"] < 1e-12).all() and (star["frac psi = inf"] == 1.0).all()
    inj = run_experiment("prom.non_injectivity", out=tmp_path, samples=16).frame
    kern = inj[inj["in_kernel (expected)"]]
    assert kern["max |g(A + step D) - g(A)|"].max() < 1e-12
    assert (inj.loc[~inj["in_kernel (expected)"], "median |g(A + step D) - g(A)|"] > 1e-3).all()


def test_gradient_consistency_counts_prom_never_opposite_or_exploded(tmp_path):
    frame = run_experiment("prom.gradient_consistency", out=tmp_path, samples=2000, sigmas=(0.5,)).frame
    prom = frame[frame["method"] == "PRoM"].iloc[0]
    assert prom["frac_opposite"] == 0 and prom["frac_exploded"] == 0
    assert math.isclose(prom["corr_x_gradient"], 1.0, abs_tol=1e-12)
    gs = frame[frame["method"] == "GS"].iloc[0]
    assert 0.05 < gs["frac_opposite"] < 0.5


def test_theorem_2_verdict_rows_state_the_computed_ranks(tmp_path):
    """The summary rows of Theorem 2 say what was computed: PRoM rank 9 (B_0 = I), lambda_min 1;
    6D rank 3 with the 6D* control at rank 6 and lambda_min 0; a wrong rank turns the verdict."""
    from posebook.experiments.prom import theory as T

    lam = run_experiment("prom.lambda_min", out=tmp_path, samples=8, train_steps=4, hidden=8).frame
    rows = {claim: (measured, verdict) for claim, _, measured, verdict in T.lambda_min_verdicts(lam)}
    prom_measured, prom_verdict = rows["Theorem 2: lambda_min(B_0 B_0^T) = 1 (psi(B_0) = 1) for PRoM"]
    assert "rank 9 of 9" in prom_measured and "rank 1 " not in prom_measured and prom_verdict == "holds"
    six_measured, six_verdict = rows["Sec. 5.1 / Theorem 2: lambda_min(B_1 B_1^T) = 0 for 6D"]
    assert "B is 9x6, rank 3" in six_measured and "6D*" in six_measured and "rank 6" in six_measured
    assert six_verdict.startswith("holds") and "cannot separate 6D from 6D*" in six_verdict
    for method in ("GS", "SVD"):
        measured, verdict = rows[f"Sec. 5.1 / Theorem 2: lambda_min(B_1 B_1^T) = 0 for {method}"]
        assert "B is 9x9, rank 3" in measured and verdict.startswith("holds")
    broken = lam.copy()
    broken.loc[broken["method"] == "PRoM", "rank min"] = 1  # a summary that says rank 1 must not pass
    assert {c: v for c, _, _, v in T.lambda_min_verdicts(broken)}[
        "Theorem 2: lambda_min(B_0 B_0^T) = 1 (psi(B_0) = 1) for PRoM"] == "does not hold"
