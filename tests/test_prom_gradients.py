"""posebook.analysis.gradients (PRoM Eq. 5-6, 12-16, Sec. 3.4.2) against torch.autograd and hand formulas."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import jacrev, vmap

from posebook.analysis import gradients as G
from posebook.geometry.rotations import matrix_from_6d, orthogonalize, random_rotation

F64 = torch.float64
TOL = dict(atol=1e-10, rtol=0)


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Ground truth R and a noisy prediction M = R + 0.5 N (PRoM Sec. 5.1), batch (4, 5)."""
    gen = torch.Generator().manual_seed(0)
    R = random_rotation((4, 5), generator=gen, dtype=F64)
    return R, R + 0.5 * torch.randn(4, 5, 3, 3, generator=gen, dtype=F64)


def _columns_of_rgs(t1: torch.Tensor, t2: torch.Tensor) -> torch.Tensor:
    return matrix_from_6d(torch.stack((t1, t2), dim=-1).reshape(6)).mT  # rows r'_1, r'_2, r'_3


def _autograd_of_loss(M: torch.Tensor, R: torch.Tensor, method: str, proper: bool = True) -> torch.Tensor:
    """d/dM of 1/2 |g(M) - R|_F^2, written out here (not rotation_loss) and differentiated by autograd."""
    Mg = M.clone().requires_grad_(True)
    (0.5 * ((orthogonalize(Mg, method, proper) - R) ** 2).sum()).backward()
    return Mg.grad


# ----------------------------------------------------------------------------- building blocks


def test_skew_is_the_cross_product_matrix():
    gen = torch.Generator().manual_seed(1)
    v, w = torch.randn(2, 7, 3, generator=gen, dtype=F64)
    torch.testing.assert_close(G.skew(v) @ w[..., None], torch.linalg.cross(v, w)[..., None], **TOL)


def test_normalization_jacobian_has_the_plus_sign_of_eq13_not_the_minus_of_eq6():
    gen = torch.Generator().manual_seed(2)
    v = torch.randn(50, 3, generator=gen, dtype=F64)
    auto = vmap(jacrev(lambda x: x / torch.linalg.vector_norm(x)))(v)
    torch.testing.assert_close(G.normalization_jacobian(v), auto, **TOL)
    # Eq. 6 as printed: -(1/|v|)(I - v v^T/|v|^2) is the negative of the true Jacobian.
    assert (-G.normalization_jacobian(v) - auto).abs().max() > 0.1
    # v is in the null space (moving along v does not change the direction).
    assert (G.normalization_jacobian(v) @ v[..., None]).abs().max() < 1e-14


# ----------------------------------------------------------------------------- r_GS, Eq. 12-16


def test_gs_jacobians_match_jacrev(batch):
    _, M = batch
    t1, t2 = M[..., 0].reshape(-1, 3), M[..., 1].reshape(-1, 3)
    J = G.gs_jacobians(t1, t2)
    auto1 = vmap(jacrev(_columns_of_rgs, argnums=0))(t1, t2)
    auto2 = vmap(jacrev(_columns_of_rgs, argnums=1))(t1, t2)
    torch.testing.assert_close(J.dr_dt1, auto1, **TOL)  # Eq. 13, 14-15, 16
    torch.testing.assert_close(J.dr_dt2, auto2, **TOL)
    assert J.dr_dt2[:, 0].abs().max() == 0  # r'_1 does not depend on t'_2
    torch.testing.assert_close(J.rotation, orthogonalize(M, "gs").reshape(-1, 3, 3), **TOL)


def test_gs_gradient_terms_are_the_column_losses_and_sum_to_autograd(batch):
    R, M = batch
    terms = G.gs_gradient_terms(M[..., 0], M[..., 1], R)
    assert terms.through_r1.shape == (4, 5, 3, 2)
    # term i is the gradient of 1/2 |r'_i - r_i|^2 alone: an autograd route to each term of Eq. 12.
    for i, closed in enumerate(terms):
        t = M[..., :2].clone().requires_grad_(True)
        col = matrix_from_6d(t.reshape(4, 5, 6))[..., :, i]
        (0.5 * ((col - R[..., :, i]) ** 2).sum()).backward()
        torch.testing.assert_close(closed, t.grad, **TOL)
    auto = _autograd_of_loss(M, R, "gs")
    torch.testing.assert_close(terms.total, auto[..., :2], **TOL)
    assert auto[..., 2].abs().max() == 0  # the third column is never used by r_GS
    assert terms.through_r1[..., 1].abs().max() == 0  # term 1 has no t'_2 part


def test_sec_341_printed_jacobian_does_not_give_the_gradient(batch):
    """Sec. 3.4.1 writes (r'_2 - r_2)^T dr'_2/dt'_2 where Eq. 5 has dr'_2/dt'_1 (erratum)."""
    R, M = batch
    J = G.gs_jacobians(M[..., 0], M[..., 1])
    terms = G.gs_gradient_terms(M[..., 0], M[..., 1], R)
    e2 = J.rotation[..., 1] - R[..., 1]
    printed = terms.through_r1[..., 0] + (J.dr_dt2[..., 1, :, :] * e2[..., :, None]).sum(-2) + terms.through_r3[..., 0]
    assert (printed - terms.total[..., 0]).abs().max() > 0.1


def test_gs_terms_at_the_solution_vanish():
    R = random_rotation(3, generator=torch.Generator().manual_seed(3), dtype=F64)
    terms = G.gs_gradient_terms(2.0 * R[..., 0], R[..., 1] + 0.7 * R[..., 0], R)  # same r_GS output
    for t in terms:
        assert t.abs().max() < 1e-14


# ----------------------------------------------------------------------------- SVD, PRoM, dispatch


@pytest.mark.parametrize("proper", [True, False])
def test_svd_gradient_matches_autograd(batch, proper):
    R, M = batch
    auto = _autograd_of_loss(M, R, "svd", proper)
    torch.testing.assert_close(G.svd_gradient(M, R, proper), auto, **TOL)
    parts = G.svd_gradient_terms(M, R, proper)
    torch.testing.assert_close(parts.total, auto, **TOL)


def test_svd_parts_through_U_and_V_match_autograd_with_the_other_factor_frozen(batch):
    R, M = batch
    parts = G.svd_gradient_terms(M, R, proper=True)
    for part in ("U", "V"):
        Mg = M.clone().requires_grad_(True)
        U, _, Vh = torch.linalg.svd(Mg)
        d = torch.sign(torch.linalg.det(U @ Vh)).detach()
        flip = torch.stack((torch.ones_like(d), torch.ones_like(d), d), dim=-1)[..., None, :]
        out = (U * flip) @ Vh.detach() if part == "U" else (U.detach() * flip) @ Vh
        (0.5 * ((out - R) ** 2).sum()).backward()
        torch.testing.assert_close(getattr(parts, f"through_{part}"), Mg.grad, **TOL)


def _matrix_with_singular_values(s: tuple[float, float, float], det_sign: float, seed: int):
    gen = torch.Generator().manual_seed(seed)
    U, V = random_rotation(2, generator=gen, dtype=F64)
    if det_sign < 0:
        V = V * torch.tensor([1.0, 1.0, -1.0], dtype=F64)
    return (U * torch.tensor(s, dtype=F64)) @ V.T, random_rotation(generator=gen, dtype=F64)


def test_svd_per_factor_terms_explode_but_cancel_when_det_is_positive():
    gap = 1e-7
    M, R = _matrix_with_singular_values((1.5, 0.5 + gap / 2, 0.5 - gap / 2), +1.0, seed=4)
    parts = G.svd_gradient_terms(M, R)
    total = G.svd_gradient(M, R)
    assert parts.through_U.norm() > 1e4 and parts.through_V.norm() > 1e4  # the 1/(s_i - s_j) terms
    assert total.norm() < 10  # ... cancel: denominators s_i + s_j >= 1
    # the finite-difference slope of the loss along a random direction agrees with the bounded total
    D = torch.randn(3, 3, generator=torch.Generator().manual_seed(5), dtype=F64)
    h = 1e-6
    slope = (G.rotation_loss(M + h * D, R, "svd") - G.rotation_loss(M - h * D, R, "svd")) / (2 * h)
    assert abs(float(slope - (total * D).sum())) < 1e-5


def test_proper_svd_gradient_explodes_when_det_is_negative_and_s2_meets_s3():
    for gap in (1e-2, 1e-4):
        M, R = _matrix_with_singular_values((1.5, 0.5 + gap / 2, 0.5 - gap / 2), -1.0, seed=6)
        assert torch.linalg.det(M) < 0
        den = G.svd_denominators(M, proper=True)
        assert math.isclose(float(den.min_sum), gap, rel_tol=1e-6)
        assert G.svd_gradient(M, R, proper=True).norm() > 0.05 / gap
        assert G.svd_gradient(M, R, proper=False).norm() < 10  # U V^T: denominators s_i + s_j


def test_svd_denominators_hand_case():
    M = torch.diag(torch.tensor([3.0, 2.0, 1.0], dtype=F64))
    den = G.svd_denominators(M)
    assert float(den.min_gap) == pytest.approx(1.0) and float(den.min_sum) == pytest.approx(3.0)
    den = G.svd_denominators(torch.diag(torch.tensor([3.0, 2.0, -1.0], dtype=F64)))
    assert float(den.min_sum) == pytest.approx(1.0)  # s' = (3, 2, -1)
    assert float(G.svd_denominators(M * torch.tensor([1.0, 1.0, -1.0], dtype=F64), proper=False).min_sum) == 3.0


def test_prom_gradient_is_the_error(batch):
    R, M = batch
    auto = _autograd_of_loss(M, R, "identity")
    torch.testing.assert_close(G.prom_gradient(M, R), auto, atol=0, rtol=0)
    torch.testing.assert_close(G.loss_gradient(M, R, "identity"), auto, atol=0, rtol=0)
    # By hand: M = 2 I, R = I -> L = 1/2 sum_ii (2 - 1)^2 = 3/2 and dL/dM = diag(1, 1, 1).
    eye = torch.eye(3, dtype=F64)
    assert float(G.rotation_loss(2 * eye, eye, "identity")) == 1.5
    torch.testing.assert_close(G.loss_gradient(2 * eye, eye, "identity"), eye, atol=0, rtol=0)
    # ... and one off-diagonal entry: M = R + 0.25 e_01 moves only dL/dM_01, to 0.25.
    E = torch.zeros(3, 3, dtype=F64)
    E[0, 1] = 0.25
    torch.testing.assert_close(G.prom_gradient(eye + E, eye), E, atol=0, rtol=0)


@pytest.mark.parametrize("method, proper", [("svd", True), ("svd", False), ("gs", True)])
def test_loss_gradient_dispatch_matches_autograd(batch, method, proper):
    R, M = batch
    got = G.loss_gradient(M, R, method, proper=proper)
    torch.testing.assert_close(got, _autograd_of_loss(M, R, method, proper), **TOL)


def test_loss_gradient_dispatch_and_errors(batch):
    R, M = batch
    with pytest.raises(ValueError, match="proper=True"):
        G.loss_gradient(M, R, "gs", proper=False)
    with pytest.raises(ValueError, match="'identity', 'gs' or 'svd'"):
        G.loss_gradient(M, R, "quat")
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        G.prom_gradient(M[..., :2], R)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        G.gs_jacobians(M[..., 0, :2], M[..., 1])


def test_float32_in_float32_out(batch):
    R, M = batch
    for method in ("identity", "gs", "svd"):
        assert G.loss_gradient(M.float(), R.float(), method).dtype == torch.float32


# ----------------------------------------------------------------------------- explosion diagnostics


def test_column_angle_is_accurate_near_zero():
    t1 = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    for alpha in (1.2, 1e-3, 1e-9):
        t2 = 2.5 * torch.tensor([math.cos(alpha), math.sin(alpha), 0.0], dtype=F64)
        assert float(G.column_angle(t1, t2)) == pytest.approx(alpha, rel=1e-12)


def test_r2_jacobian_norm_is_max_1_cot_over_norm_t1():
    gen = torch.Generator().manual_seed(7)
    t1, t2 = 3.0 * torch.randn(2, 200, 3, generator=gen, dtype=F64)
    alpha = G.column_angle(t1, t2)
    expected = torch.clamp(1.0 / torch.tan(alpha).abs(), min=1.0) / torch.linalg.vector_norm(t1, dim=-1)
    torch.testing.assert_close(G.r2_jacobian_norm(t1, t2), expected, atol=0, rtol=1e-10)


def test_gs_gradient_explodes_as_columns_become_parallel():
    R = random_rotation(generator=torch.Generator().manual_seed(8), dtype=F64)
    t1 = torch.tensor([0.0, 0.0, 1.0], dtype=F64)
    norms = []
    for alpha in (1.0, 1e-2, 1e-4):
        t2 = torch.tensor([math.sin(alpha), 0.0, math.cos(alpha)], dtype=F64)
        norms.append(float(G.gs_gradient_terms(t1, t2, R).total[..., 0].norm()))
        assert float(G.gs_jacobians(t1, t2).r2_unnormalized.norm()) == pytest.approx(math.sin(alpha), rel=1e-9)
    assert norms[1] > 30 * norms[0] and norms[2] > 50 * norms[1]
