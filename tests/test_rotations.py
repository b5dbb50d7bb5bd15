"""Tests for posebook.geometry.rotations against roma, scipy, QR and hand-derived formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import roma
import torch
from scipy.spatial.transform import Rotation as ScipyRotation

from posebook.geometry.rotations import (
    axis_angle_to_matrix,
    euler_to_matrix,
    geodesic_distance,
    gram_schmidt,
    matrix_from_6d,
    matrix_to_6d,
    matrix_to_axis_angle,
    matrix_to_euler,
    matrix_to_quaternion,
    orthogonalize,
    quaternion_to_matrix,
    random_rotation,
    svd_orthogonalize,
)

F64 = torch.float64



def _randn(*shape: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=F64)


def _assert_rotation(R: torch.Tensor, atol: float = 1e-12) -> None:
    eye = torch.eye(3, dtype=R.dtype).expand_as(R)
    torch.testing.assert_close(R.mT @ R, eye, atol=atol, rtol=0)
    one = torch.ones(R.shape[:-2], dtype=R.dtype)
    torch.testing.assert_close(torch.linalg.det(R), one, atol=atol, rtol=0)


# ----------------------------------------------------------------------------- 6D (PRoM Eq. 2)


def _spin_rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """SPIN / CLIFF code route (columns), re-typed here as an independent reference."""
    x = x.reshape(-1, 3, 2)
    a1, a2 = x[:, :, 0], x[:, :, 1]
    b1 = torch.nn.functional.normalize(a1, dim=1)
    b2 = torch.nn.functional.normalize(a2 - torch.einsum("bi,bi->b", b1, a2).unsqueeze(-1) * b1, dim=1)
    b3 = torch.cross(b1, b2, dim=1)
    return torch.stack((b1, b2, b3), dim=-1)


def _pytorch3d_matrix_to_6d(R: torch.Tensor) -> torch.Tensor:
    """PyTorch3D's layout (first two ROWS), re-typed as a reference."""
    return R[..., :2, :].reshape(*R.shape[:-2], 6)


def test_matrix_from_6d_matches_spin_code_and_roma(gen):
    x = _randn(50, 6, gen=gen)
    R = matrix_from_6d(x)
    torch.testing.assert_close(R, _spin_rot6d_to_rotmat(x), atol=1e-14, rtol=0)
    torch.testing.assert_close(R, roma.special_gramschmidt(x.reshape(50, 3, 2)), atol=1e-14, rtol=0)
    _assert_rotation(R)


def test_6d_layout_is_columns_row_major():
    R = random_rotation(1, generator=torch.Generator().manual_seed(1), dtype=F64)[0]
    x = matrix_to_6d(R)
    expected = torch.stack([R[0, 0], R[0, 1], R[1, 0], R[1, 1], R[2, 0], R[2, 1]])
    torch.testing.assert_close(x, expected, atol=0, rtol=0)


def test_6d_round_trip_and_pytorch3d_layout(gen):
    R = random_rotation(20, generator=gen, dtype=F64)
    torch.testing.assert_close(matrix_from_6d(matrix_to_6d(R)), R, atol=1e-14, rtol=0)
    # The conversion stated in the module docstring: PyTorch3D 6D d -> ours gives R^T.
    d = _pytorch3d_matrix_to_6d(R)
    ours = d.reshape(20, 2, 3).mT.reshape(20, 6)
    torch.testing.assert_close(matrix_from_6d(ours), R.mT, atol=1e-14, rtol=0)
    # Reading a PyTorch3D vector as ours is NOT the same rotation (the layouts really differ).
    assert (geodesic_distance(matrix_from_6d(d), R) > 1e-3).all()


def test_matrix_from_6d_gradient_matches_prom_appendix_a2(gen):
    """Autograd of r_GS equals PRoM Eq. 13-16 (dr'_i / dt'_1), an independent closed form.

    Eq. 6 prints dr'2/dt'1 = -(1/|r''2|)(I - r''2 r''2^T/|r''2|^2) dr''2/dt'1, i.e. it gives the
    normalisation Jacobian a minus sign; Eq. 13 and the check below show it is +(1/|v|)(I - v v^T/|v|^2).
    """
    t1, t2 = _randn(3, gen=gen), _randn(3, gen=gen)

    def r_cols(a: torch.Tensor) -> torch.Tensor:
        return matrix_from_6d(torch.stack((a, t2), dim=-1).reshape(6))

    J = torch.autograd.functional.jacobian(r_cols, t1)  # (3, 3 cols, 3) = d R[:, k] / d t1
    eye = torch.eye(3, dtype=F64)

    def grad_normalize(v: torch.Tensor) -> torch.Tensor:  # Eq. 13 form
        n = v.norm()
        return (eye - torch.outer(v, v) / n**2) / n

    def skew(v: torch.Tensor) -> torch.Tensor:
        return torch.tensor([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]], dtype=F64)

    r1 = t1 / t1.norm()
    r2pp = t2 - (r1 @ t2) * r1
    r2 = r2pp / r2pp.norm()
    dr1 = grad_normalize(t1)  # Eq. 13
    dr2 = -grad_normalize(r2pp) @ ((r1 @ t2) * eye + torch.outer(r1, t2)) @ dr1  # Eq. 15
    dr3 = skew(r1) @ dr2 - skew(r2) @ dr1  # Eq. 16
    torch.testing.assert_close(J[:, 0, :], dr1, atol=1e-12, rtol=0)
    torch.testing.assert_close(J[:, 1, :], dr2, atol=1e-12, rtol=0)
    torch.testing.assert_close(J[:, 2, :], dr3, atol=1e-12, rtol=0)
    # Eq. 6 read literally, with dr''2/dt'1 = -((r1.t2) I + r1 t2^T) dr1: the sign comes out wrong.
    eq6_literal = -grad_normalize(r2pp) @ (-((r1 @ t2) * eye + torch.outer(r1, t2)) @ dr1)
    torch.testing.assert_close(eq6_literal, -J[:, 1, :], atol=1e-12, rtol=0)


# ----------------------------------------------------------------------------- g_GS (PRoM Eq. 1)


def _qr_gram_schmidt(M: torch.Tensor) -> torch.Tensor:
    """Classical Gram-Schmidt on columns == QR with a positive diagonal of R."""
    Q, Rq = torch.linalg.qr(M)
    return Q * torch.sign(torch.diagonal(Rq, dim1=-2, dim2=-1))[..., None, :]


def test_gram_schmidt_literal_eq1_matches_qr(gen):
    M = _randn(100, 3, 3, gen=gen)
    torch.testing.assert_close(gram_schmidt(M, proper=False), _qr_gram_schmidt(M), atol=1e-12, rtol=0)


def test_gram_schmidt_proper_uses_columns_and_cross_product(gen):
    M = _randn(100, 3, 3, gen=gen)
    G = gram_schmidt(M)
    _assert_rotation(G)
    torch.testing.assert_close(G, roma.special_gramschmidt(M), atol=1e-14, rtol=0)
    # Consistent with the 6D map: r_GS(first two columns) == g_GS(M).
    torch.testing.assert_close(G, matrix_from_6d(matrix_to_6d(M)), atol=0, rtol=0)
    # Eq. 1's third column is sign(det M) (q1 x q2): equal for det > 0, a reflection for det < 0.
    lit = gram_schmidt(M, proper=False)
    sign = torch.sign(torch.linalg.det(M))
    assert (sign > 0).any() and (sign < 0).any()
    torch.testing.assert_close(lit[..., :2], G[..., :2], atol=1e-12, rtol=0)
    torch.testing.assert_close(lit[..., 2], sign[:, None] * G[..., 2], atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.linalg.det(lit), sign, atol=1e-12, rtol=0)


def test_gram_schmidt_uses_columns_not_rows():
    M = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=F64)
    # Columns (1,0,0), (1,1,0): q1 = e1, q2 = e2, identity. Rows would give a 45-degree rotation.
    torch.testing.assert_close(gram_schmidt(M), torch.eye(3, dtype=F64), atol=1e-15, rtol=0)


def test_gram_schmidt_is_identity_on_rotations(gen):
    R = random_rotation(10, generator=gen, dtype=F64)
    torch.testing.assert_close(gram_schmidt(R), R, atol=1e-14, rtol=0)
    torch.testing.assert_close(gram_schmidt(R, proper=False), R, atol=1e-14, rtol=0)


# ----------------------------------------------------------------------------- g_SVD


def test_svd_orthogonalize_matches_roma_special_procrustes(gen):
    M = _randn(200, 3, 3, gen=gen)
    R = svd_orthogonalize(M)
    _assert_rotation(R)
    torch.testing.assert_close(R, roma.special_procrustes(M, method="svd"), atol=1e-10, rtol=0)
    torch.testing.assert_close(R, roma.special_procrustes(M, method="horn"), atol=1e-10, rtol=0)


def test_svd_orthogonalize_is_nearest_rotation(gen):
    """No random rotation gets closer to M in Frobenius norm than g_SVD(M)."""
    M = _randn(3, 3, gen=gen)
    best = (svd_orthogonalize(M) - M).norm()
    others = (random_rotation(5000, generator=gen, dtype=F64) - M).flatten(1).norm(dim=1)
    assert best <= others.min()


def test_svd_orthogonalize_improper_is_paper_uvt(gen):
    M = _randn(100, 3, 3, gen=gen)
    U, _, Vh = torch.linalg.svd(M)
    torch.testing.assert_close(svd_orthogonalize(M, proper=False), U @ Vh, atol=1e-12, rtol=0)
    det = torch.linalg.det(svd_orthogonalize(M, proper=False))
    torch.testing.assert_close(det, torch.sign(torch.linalg.det(M)), atol=1e-12, rtol=0)
    pos = torch.linalg.det(M) > 0
    improper, proper = svd_orthogonalize(M, proper=False), svd_orthogonalize(M)
    torch.testing.assert_close(improper[pos], proper[pos], atol=1e-12, rtol=0)


def test_orthogonalize_dispatch(gen):
    M = _randn(4, 3, 3, gen=gen)
    torch.testing.assert_close(orthogonalize(M, "svd"), svd_orthogonalize(M), atol=0, rtol=0)
    torch.testing.assert_close(orthogonalize(M, "gs"), gram_schmidt(M), atol=0, rtol=0)
    assert orthogonalize(M, "identity") is M
    with pytest.raises(ValueError, match="'svd', 'gs' or 'identity'"):
        orthogonalize(M, "qr")


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\(\.\.\., 6\)"):
        matrix_from_6d(torch.zeros(4, 9))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        gram_schmidt(torch.zeros(3, 2))


# ----------------------------------------------------------------------------- conversions


def test_axis_angle_hand_case_and_round_trip(gen):
    theta = 0.7
    R = axis_angle_to_matrix(torch.tensor([0.0, 0.0, theta], dtype=F64))
    c, s = math.cos(theta), math.sin(theta)
    expected = torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=F64)
    torch.testing.assert_close(R, expected, atol=1e-15, rtol=0)
    rv = _randn(30, 3, gen=gen)
    rv = rv / rv.norm(dim=-1, keepdim=True) * torch.rand(30, 1, generator=gen, dtype=F64) * 3.0
    torch.testing.assert_close(matrix_to_axis_angle(axis_angle_to_matrix(rv)), rv, atol=1e-10, rtol=0)
    ref = torch.from_numpy(ScipyRotation.from_rotvec(rv.numpy()).as_matrix())
    torch.testing.assert_close(axis_angle_to_matrix(rv), ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("scalar_first", [False, True])
def test_quaternion_against_scipy(gen, scalar_first):
    R = random_rotation(40, generator=gen, dtype=F64)
    q = matrix_to_quaternion(R, scalar_first=scalar_first)
    w = q[..., 0] if scalar_first else q[..., 3]
    assert (w >= 0).all()
    ref = ScipyRotation.from_matrix(R.numpy()).as_quat(canonical=True, scalar_first=scalar_first)
    torch.testing.assert_close(q, torch.from_numpy(ref), atol=1e-12, rtol=0)
    torch.testing.assert_close(quaternion_to_matrix(q, scalar_first=scalar_first), R, atol=1e-12, rtol=0)


def test_quaternion_order_hand_case():
    """90 deg about z: (x, y, z, w) = (0, 0, sin 45, cos 45) in roma's XYZW order."""
    h = math.sqrt(0.5)
    Rz = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=F64)
    q = torch.tensor([0, 0, h, h], dtype=F64)
    torch.testing.assert_close(matrix_to_quaternion(Rz), q, atol=1e-15, rtol=0)
    torch.testing.assert_close(quaternion_to_matrix(2 * q), Rz, atol=1e-15, rtol=0)  # normalised


def _elementary(axis: str, a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return {
        "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


def test_euler_intrinsic_extrinsic_hand_products():
    a, b, c = 0.3, -0.5, 1.1
    ang = torch.tensor([a, b, c], dtype=F64)
    Rx, Ry, Rz = _elementary("x", a), _elementary("y", b), _elementary("z", c)
    intrinsic, extrinsic = torch.from_numpy(Rx @ Ry @ Rz), torch.from_numpy(Rz @ Ry @ Rx)
    torch.testing.assert_close(euler_to_matrix(ang, "XYZ"), intrinsic, atol=1e-15, rtol=0)
    torch.testing.assert_close(euler_to_matrix(ang, "xyz"), extrinsic, atol=1e-15, rtol=0)
    in_degrees = euler_to_matrix(torch.rad2deg(ang), "XYZ", degrees=True)
    torch.testing.assert_close(in_degrees, intrinsic, atol=1e-15, rtol=0)


@pytest.mark.parametrize("convention", ["XYZ", "xyz", "ZYX", "zxz", "YXZ"])
def test_euler_against_scipy_and_round_trip(gen, convention):
    R = random_rotation(30, generator=gen, dtype=F64)
    ang = matrix_to_euler(R, convention)
    ref = ScipyRotation.from_matrix(R.numpy()).as_euler(convention)
    torch.testing.assert_close(euler_to_matrix(torch.from_numpy(ref), convention), R, atol=1e-12, rtol=0)
    torch.testing.assert_close(euler_to_matrix(ang, convention), R, atol=1e-12, rtol=0)


def test_euler_convention_validated():
    with pytest.raises(ValueError, match="intrinsic"):
        euler_to_matrix(torch.zeros(3), "XyZ")
    with pytest.raises(ValueError, match="consecutive"):
        euler_to_matrix(torch.zeros(3), "XXY")


# ----------------------------------------------------------------------------- geodesic distance


def test_geodesic_distance_against_roma_and_axis_angle(gen):
    R1 = random_rotation(500, generator=gen, dtype=F64)
    R2 = random_rotation(500, generator=gen, dtype=F64)
    d = geodesic_distance(R1, R2)
    torch.testing.assert_close(d, roma.rotmat_geodesic_distance(R1, R2), atol=1e-7, rtol=0)
    angle = matrix_to_axis_angle(R1.mT @ R2).norm(dim=-1)
    torch.testing.assert_close(d, angle, atol=1e-10, rtol=0)


@pytest.mark.parametrize("theta", [1e-9, 1e-6, 0.3, math.pi - 1e-6, math.pi - 1e-9, math.pi])
def test_geodesic_distance_precise_near_0_and_pi(gen, theta):
    axis = _randn(3, gen=gen)
    axis = axis / axis.norm()
    R1 = random_rotation((), generator=gen, dtype=F64)
    R2 = R1 @ axis_angle_to_matrix(theta * axis)
    d = geodesic_distance(R1, R2)
    assert abs(d.item() - theta) < 1e-13 + 1e-13 * theta
    # acos of the trace loses half the digits near 0; this is why the atan2 form is used.
    if theta < 1e-6:
        naive = roma.rotmat_geodesic_distance_naive(R1, R2).item()
        assert abs(naive - theta) > 1e3 * abs(d.item() - theta)


def test_geodesic_distance_zero_has_finite_gradient(gen):
    R = random_rotation(3, generator=gen, dtype=F64).requires_grad_(True)
    d = geodesic_distance(R, R.detach())
    torch.testing.assert_close(d, torch.zeros(3, dtype=F64), atol=1e-15, rtol=0)
    d.sum().backward()
    assert torch.isfinite(R.grad).all()


# ----------------------------------------------------------------------------- random, batching, dtype


def test_random_rotation_uniform_and_reproducible():
    R = random_rotation(20000, generator=torch.Generator().manual_seed(3), dtype=F64)
    _assert_rotation(R, atol=1e-12)
    again = random_rotation(20000, generator=torch.Generator().manual_seed(3), dtype=F64)
    assert torch.equal(R, again)
    # Haar measure: the rotation angle has density (1 - cos t) / pi, mean pi/2 + 2/pi.
    angle = geodesic_distance(R, torch.eye(3, dtype=F64))
    assert abs(angle.mean().item() - (math.pi / 2 + 2 / math.pi)) < 0.02
    # ...and rotated vectors are uniform on the sphere: E[R e_z] = 0.
    assert R[..., :, 2].mean(0).abs().max() < 0.03


def test_batch_shapes(gen):
    shape = (2, 5, 4)
    M = _randn(*shape, 3, 3, gen=gen)
    assert matrix_from_6d(_randn(*shape, 6, gen=gen)).shape == (*shape, 3, 3)
    assert matrix_to_6d(M).shape == (*shape, 6)
    for fn in (gram_schmidt, svd_orthogonalize):
        out = fn(M)
        assert out.shape == (*shape, 3, 3)
        torch.testing.assert_close(out[1, 3], fn(M[1, 3]), atol=1e-12, rtol=0)
    R = random_rotation(shape, generator=gen, dtype=F64)
    assert R.shape == (*shape, 3, 3)
    assert matrix_to_axis_angle(R).shape == (*shape, 3)
    assert matrix_to_quaternion(R).shape == (*shape, 4)
    assert matrix_to_euler(R, "XYZ").shape == (*shape, 3)
    # broadcasting (2, 5, 4) against (4,)
    d = geodesic_distance(R, R[0, 0])
    assert d.shape == shape
    torch.testing.assert_close(d[0, 0], torch.zeros(4, dtype=F64), atol=1e-7, rtol=0)


EPS32 = torch.finfo(torch.float32).eps  # 1.19e-7


def test_float32_smoke():
    """float32 in, float32 out, as orthonormal as float32 allows.

    Measured on this input (max over |R^T R - I| and |det R - 1|, in float32 eps): 6D 2, GS 1.5,
    SVD 8, axis-angle round trip 6, quaternion 3, Euler 3; round trips within 2.6 eps of R. (Over
    200 random seeds the 6D map reaches 42 eps, from nearly collinear random columns: this test
    keeps seed 5.) Bounds: 4x the measured value.
    """
    g = torch.Generator().manual_seed(5)
    x = torch.randn(8, 6, generator=g)
    M = torch.randn(8, 3, 3, generator=g)
    R = random_rotation(8, generator=g, dtype=torch.float32)
    outs = {  # name: (output, bound in eps)
        "6d": (matrix_from_6d(x), 8),
        "gs": (gram_schmidt(M), 8),
        "svd": (svd_orthogonalize(M), 32),
        "axis-angle": (axis_angle_to_matrix(matrix_to_axis_angle(R)), 24),
        "quaternion": (quaternion_to_matrix(matrix_to_quaternion(R)), 12),
        "euler": (euler_to_matrix(matrix_to_euler(R, "ZYX"), "ZYX"), 12),
    }
    for name, (out, bound) in outs.items():
        assert out.dtype == torch.float32, name
        orth = (out.mT @ out - torch.eye(3)).abs().max().item()
        det = (torch.linalg.det(out) - 1).abs().max().item()
        print(f"{name}: |R^T R - I| = {orth / EPS32:.1f} eps, |det - 1| = {det / EPS32:.1f} eps")
        assert max(orth, det) <= bound * EPS32, name
        if name in ("axis-angle", "quaternion", "euler"):
            assert (out - R).abs().max() <= 12 * EPS32, name  # measured <= 2.6 eps
    d = geodesic_distance(R, R)
    assert d.dtype == torch.float32 and d.abs().max() <= 4 * EPS32  # measured: exactly 0


@pytest.mark.parametrize("theta", [1e-3, 0.5, 3.0])
def test_geodesic_distance_float32_accuracy(gen, theta):
    """Measured: |d - theta| <= 2.4e-7 rad (2 eps) at 1e-3, 0.5 and 3.0 rad; bound 8 eps."""
    R = random_rotation(8, generator=gen, dtype=torch.float32)
    axis = torch.nn.functional.normalize(torch.randn(8, 3, generator=gen), dim=-1)
    d = geodesic_distance(R, R @ axis_angle_to_matrix(theta * axis))
    assert d.dtype == torch.float32
    assert (d - theta).abs().max() <= 8 * EPS32


# ----------------------------------------------------------------------------- devices


def test_conversions_follow_the_device(device):
    """Same numbers on every device (float64), outputs on the input's device."""
    gen = torch.Generator().manual_seed(11)
    x, M = _randn(16, 6, gen=gen), _randn(16, 3, 3, gen=gen)
    R = random_rotation(16, generator=gen, dtype=F64)
    cases = {
        "6d": (matrix_from_6d, x), "gs": (gram_schmidt, M), "svd": (svd_orthogonalize, M),
        "axis-angle": (matrix_to_axis_angle, R), "quaternion": (matrix_to_quaternion, R),
        "geodesic": (lambda r: geodesic_distance(r, r.flip(0)), R),
    }
    for name, (fn, arg) in cases.items():
        out = fn(arg.to(device))
        assert out.device == device, name
        torch.testing.assert_close(out.cpu(), fn(arg), atol=1e-12, rtol=0, msg=name)
    R_dev = random_rotation(4, device=device, dtype=F64)
    assert R_dev.device == device


# ----------------------------------------------------------------------------- degenerate inputs


def _unit_pair_at_angle(alpha: float, norm2: float = 1.3) -> tuple[torch.Tensor, torch.Tensor]:
    """t1 (norm 3.4) and t2 (norm ``norm2``) at exactly the angle alpha, in float64."""
    t1 = torch.tensor([0.3, -1.7, 2.9], dtype=F64)
    u = t1 / t1.norm()
    side = torch.linalg.cross(u, torch.tensor([1.0, 0.0, 0.0], dtype=F64))
    side = side / side.norm()
    return t1, norm2 * (math.cos(alpha) * u + math.sin(alpha) * side)


def test_6d_and_gs_gradcheck_with_nearly_collinear_columns():
    """alpha = 1e-3 rad: the Jacobian is ~1/(|t1| sin alpha) ~ 300 (PRoM Eq. 6), yet exact."""
    t1, t2 = _unit_pair_at_angle(1e-3)
    x = torch.stack((t1, t2), dim=-1).reshape(6).requires_grad_(True)
    assert torch.autograd.gradcheck(matrix_from_6d, (x,))
    J = torch.autograd.functional.jacobian(matrix_from_6d, x.detach())
    assert J.abs().max() > 100  # really near the degenerate set
    M = torch.stack((t1, t2, torch.tensor([0.2, 0.9, -0.4], dtype=F64)), dim=-1).requires_grad_(True)
    assert torch.autograd.gradcheck(gram_schmidt, (M,))
    assert torch.autograd.gradcheck(lambda m: gram_schmidt(m, proper=False), (M,))


def test_gs_improper_gradcheck_with_nearly_rank_deficient_matrix():
    """p3 at 1e-3 from the plane of p1, p2 (det M ~ 1e-3): q3 = N(residual) stays differentiable."""
    gen = torch.Generator().manual_seed(12)
    p1, p2 = _randn(3, gen=gen), _randn(3, gen=gen)
    normal = torch.linalg.cross(p1, p2)
    p3 = 0.6 * p1 - 0.4 * p2 + 1e-3 * normal / normal.norm()
    M = torch.stack((p1, p2, p3), dim=-1).requires_grad_(True)
    assert abs(float(torch.linalg.det(M.detach()))) < 1e-2
    assert torch.autograd.gradcheck(lambda m: gram_schmidt(m, proper=False), (M,))
    assert torch.autograd.gradcheck(gram_schmidt, (M,))  # proper: p3 is not used at all


def _with_singular_values(s: tuple[float, float, float], det_sign: float, seed: int) -> torch.Tensor:
    U, V = random_rotation(2, generator=torch.Generator().manual_seed(seed), dtype=F64)
    V = V * torch.tensor([1.0, 1.0, det_sign], dtype=F64)
    return (U * torch.tensor(s, dtype=F64)) @ V.T


@pytest.mark.parametrize(
    "s, det_sign, proper",
    [
        ((2.0, 1.0, 1e-3), +1.0, True),  # nearly rank-deficient, both signs of det
        ((2.0, 1.0, 1e-3), -1.0, True),
        ((2.0, 1.0, 1e-3), -1.0, False),
        ((1.5, 0.5 + 5e-4, 0.5 - 5e-4), +1.0, True),  # s2 ~ s3: 1/(s2 - s3) terms cancel
        ((1.5, 0.5 + 5e-4, 0.5 - 5e-4), -1.0, False),
        ((1.5, 1.0 + 5e-4, 1.0 - 5e-4), +1.0, False),
        ((1.5, 0.5 + 5e-2, 0.5 - 5e-2), -1.0, True),  # proper, det < 0: |grad| ~ 1/(s2 - s3), finite
    ],
)
def test_svd_gradcheck_near_degenerate(s, det_sign, proper):
    M = _with_singular_values(s, det_sign, seed=13).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda m: svd_orthogonalize(m, proper=proper), (M,))


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize(
    "t1, k", [((1.0, 0.0, 0.0), 2.0), ((1.0, 1.0, 1.0), 2.0), ((0.3, -1.7, 2.9), 0.7), ((0.3, -1.7, 2.9), -3.1)]
)
def test_6d_collinear_columns_give_nan_not_a_rotation(dtype, t1, k):
    """Exactly collinear t1, t2 (the residual is 0 or a few eps of rounding noise): documented NaN,
    value and gradient. Before, (1, 1, 1) with (2, 2, 2) returned a "rotation" whose second column
    was the direction of the rounding error."""
    t1 = torch.tensor(t1, dtype=dtype)
    x = torch.stack((t1, k * t1), dim=-1).reshape(6).requires_grad_(True)
    R = matrix_from_6d(x)
    assert torch.isnan(R).all()
    R.sum().backward()
    assert torch.isnan(x.grad).all()
    # batched: only the degenerate element is NaN
    good = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0], dtype=dtype)
    out = matrix_from_6d(torch.stack((x.detach(), good)))
    assert torch.isnan(out[0]).all() and torch.equal(out[1], torch.eye(3, dtype=dtype))


def test_gs_degenerate_columns_give_nan():
    M = torch.tensor([[1.0, 2.0, 0.0], [1.0, 2.0, 1.0], [1.0, 2.0, 0.0]], dtype=F64)  # p2 = 2 p1
    assert torch.isnan(gram_schmidt(M)).all() and torch.isnan(gram_schmidt(M, proper=False)).all()
    assert torch.isnan(matrix_from_6d(torch.zeros(6, dtype=F64))).all()  # t1 = 0
    # rank 2 with independent p1, p2: fine when proper (p3 unused), NaN for Eq. 1's literal q3
    M = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]], dtype=F64)  # p3 = p1 + p2
    torch.testing.assert_close(gram_schmidt(M), torch.eye(3, dtype=F64), atol=0, rtol=0)
    assert torch.isnan(gram_schmidt(M, proper=False)).all()


@pytest.mark.parametrize("dtype, alpha", [(torch.float32, 1e-5), (F64, 1e-12)])
def test_6d_nearly_collinear_above_the_threshold_is_a_rotation_to_eps_over_sin_alpha(dtype, alpha):
    """Above the NaN threshold (16 eps) r_GS is finite, orthonormal to ~eps / sin(alpha) as
    documented (measured: 7.6e-4 = 0.06 eps/alpha in float32 at 1e-5, 2.5e-4 = 1.1 eps/alpha in
    float64 at 1e-12; bound 4 eps / alpha), and equal to the float64 value of the same input to that
    accuracy."""
    t1, t2 = _unit_pair_at_angle(alpha)
    x = torch.stack((t1, t2), dim=-1).reshape(6).to(dtype)
    R = matrix_from_6d(x)
    bound = 4 * torch.finfo(dtype).eps / alpha
    assert torch.isfinite(R).all()
    _assert_rotation(R, atol=bound)
    assert (R.double() - matrix_from_6d(x.double())).abs().max() < bound


@pytest.mark.parametrize("s, det_sign, proper", [((1.5, 0.5, 0.5), -1.0, True), ((2.0, 0.0, 0.0), 1.0, True),
                                                 ((2.0, 0.0, 0.0), 1.0, False)])
def test_svd_at_non_unique_nearest_rotation_returns_a_minimiser_with_unbounded_gradient(s, det_sign, proper):
    """Documented: one minimiser, and autograd's gradient of order 1/eps (or non-finite)."""
    M = _with_singular_values(s, det_sign, seed=14).requires_grad_(True)
    R = svd_orthogonalize(M, proper=proper)
    assert torch.isfinite(R).all()
    if proper:
        _assert_rotation(R.detach(), atol=1e-12)
    G = torch.randn(3, 3, generator=torch.Generator().manual_seed(15), dtype=F64)
    (grad,) = torch.autograd.grad((R * G).sum(), M)
    assert not torch.isfinite(grad).all() or grad.norm() > 1e10


# ----------------------------------------------------------------------------- NaN / inf input


def _bad_copies(x: torch.Tensor, event_dims: int, value: float) -> torch.Tensor:
    """(n, *x.shape): copy i has entry i of the event set to ``value``, for every entry."""
    flat = x.reshape(-1)
    n = x[(0,) * (x.dim() - event_dims)].numel() if x.dim() > event_dims else flat.numel()
    out = x.expand(n, *x.shape).clone()
    view = out.reshape(n, -1, n)
    view[torch.arange(n), 0, torch.arange(n)] = value  # batch element 0 only
    return view.reshape(out.shape)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_input_gives_all_nan_for_that_element_only(gen, value):
    R = random_rotation(2, generator=gen, dtype=F64)
    cases = {  # name: (function, a clean (2, *event) input, event dims)
        "matrix_from_6d": (matrix_from_6d, _randn(2, 6, gen=gen), 1),
        "gram_schmidt": (gram_schmidt, _randn(2, 3, 3, gen=gen), 2),
        "gram_schmidt improper": (lambda m: gram_schmidt(m, proper=False), _randn(2, 3, 3, gen=gen), 2),
        "svd_orthogonalize": (svd_orthogonalize, _randn(2, 3, 3, gen=gen), 2),
        "svd improper": (lambda m: svd_orthogonalize(m, proper=False), _randn(2, 3, 3, gen=gen), 2),
        "axis_angle_to_matrix": (axis_angle_to_matrix, _randn(2, 3, gen=gen), 1),
        "matrix_to_axis_angle": (matrix_to_axis_angle, R, 2),
        "quaternion_to_matrix": (quaternion_to_matrix, _randn(2, 4, gen=gen), 1),
        "matrix_to_quaternion": (matrix_to_quaternion, R, 2),
        "euler_to_matrix": (lambda a: euler_to_matrix(a, "XYZ"), _randn(2, 3, gen=gen), 1),
        "matrix_to_euler": (lambda m: matrix_to_euler(m, "ZYX"), R, 2),
        "geodesic_distance": (lambda m: geodesic_distance(m, R), R.clone(), 2),
    }
    for name, (fn, clean, event_dims) in cases.items():
        bad = _bad_copies(clean, event_dims, value)  # (n, 2, *event): element 0 of each copy is bad
        out = fn(bad)
        assert torch.isnan(out[:, 0]).all(), f"{name}: a {value} entry gave a number"
        torch.testing.assert_close(out[:, 1], fn(clean)[1].expand_as(out[:, 1]), atol=0, rtol=0, msg=name)


def test_non_finite_input_gives_nan_gradient():
    x = torch.tensor([[float("nan"), 0.0, 0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]], dtype=F64)
    x.requires_grad_(True)
    matrix_from_6d(x).sum().backward()
    assert torch.isnan(x.grad[0]).all() and torch.equal(x.grad[1], torch.zeros(6, dtype=F64))


def test_6d_layout_copies_non_finite_entries():
    """matrix_to_6d is a reshape (documented): NaN/inf entries are copied, not hidden."""
    M = torch.eye(3, dtype=F64)
    M[1, 0], M[2, 1] = float("nan"), float("inf")
    x = matrix_to_6d(M)
    assert torch.isnan(x[2]) and torch.isinf(x[5]) and torch.isfinite(x[[0, 1, 3, 4]]).all()
