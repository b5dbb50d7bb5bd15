"""Tests for posebook.models.rotation_heads against scipy, roma, QR and hand-built matrices."""

from __future__ import annotations

import numpy as np
import pytest
import roma
import torch
from scipy.spatial.transform import Rotation as ScipyRotation

from posebook.models import rotation_heads as H

F64 = torch.float64



def _raw(representation: str, *batch: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(*batch, H.raw_dim(representation), generator=gen, dtype=F64)


def _assert_rotation(R: torch.Tensor, atol: float = 1e-10) -> None:
    eye = torch.eye(3, dtype=R.dtype).expand_as(R)
    torch.testing.assert_close(R.mT @ R, eye, atol=atol, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(R.shape[:-2], dtype=R.dtype), atol=atol, rtol=0)


def _qr_columns(M: torch.Tensor) -> torch.Tensor:
    """Gram-Schmidt of the first two columns by QR (positive diagonal), third = cross product."""
    Q, Rq = torch.linalg.qr(M[..., :, :2])
    Q = Q * torch.sign(torch.diagonal(Rq, dim1=-2, dim2=-1))[..., None, :]
    return torch.cat([Q, torch.linalg.cross(Q[..., 0], Q[..., 1], dim=-1)[..., None]], dim=-1)


def test_raw_dims_and_unknown_names():
    assert H.RAW_DIMS == {"axis_angle": 3, "euler": 3, "quaternion": 4, "6d": 6, "svd": 9, "gs": 9, "prom": 9}
    with pytest.raises(ValueError, match="unknown rotation representation 'rot6d'"):
        H.raw_dim("rot6d")
    with pytest.raises(ValueError, match=r"needs raw of shape \(\.\.\., 6\)"):
        H.outputs(torch.zeros(2, 9), "6d")


@pytest.mark.parametrize("representation", H.REPRESENTATIONS)
def test_every_representation_gives_rotations_at_eval_with_batch_shape(representation, gen):
    raw = _raw(representation, 2, 5, gen=gen)
    out = H.outputs(raw, representation, training=False)
    for R in out:
        assert R.shape == (2, 5, 3, 3)
    _assert_rotation(out.eval)
    assert out.rotation_loss is out.eval and out.downstream is out.eval


def test_three_and_four_parameter_heads_match_scipy(gen):
    rotvec = _raw("axis_angle", 40, gen=gen)
    R = H.raw_to_matrix(rotvec, "axis_angle", training=True)
    np.testing.assert_allclose(R.numpy(), ScipyRotation.from_rotvec(rotvec.numpy()).as_matrix(), atol=1e-12)
    angles = _raw("euler", 40, gen=gen)
    R = H.raw_to_matrix(angles, "euler", training=True)
    np.testing.assert_allclose(R.numpy(), ScipyRotation.from_euler(H.EULER_CONVENTION, angles.numpy()).as_matrix(),
                               atol=1e-12)
    quat = _raw("quaternion", 40, gen=gen) * 3.0  # not unit: the head normalises
    R = H.raw_to_matrix(quat, "quaternion", training=True)
    np.testing.assert_allclose(R.numpy(), ScipyRotation.from_quat(quat.numpy()).as_matrix(), atol=1e-12)


def test_matrix_heads_match_independent_projections(gen):
    six = _raw("6d", 30, gen=gen)
    cols = six.reshape(30, 3, 2)
    M6 = torch.cat([cols, torch.zeros(30, 3, 1, dtype=F64)], dim=-1)
    torch.testing.assert_close(H.raw_to_matrix(six, "6d", training=False), _qr_columns(M6), atol=1e-12, rtol=0)
    nine = _raw("svd", 30, gen=gen)
    M = nine.reshape(30, 3, 3)
    procrustes = roma.special_procrustes(M)
    torch.testing.assert_close(H.raw_to_matrix(nine, "svd", training=True), procrustes, atol=1e-10, rtol=0)
    torch.testing.assert_close(H.raw_to_matrix(nine, "gs", training=True), _qr_columns(M), atol=1e-12, rtol=0)
    # PRoM: SVD at inference by default, Gram-Schmidt on request.
    torch.testing.assert_close(H.raw_to_matrix(nine, "prom", training=False), procrustes, atol=1e-10, rtol=0)
    torch.testing.assert_close(H.raw_to_matrix(nine, "prom", training=False, inference_ortho="gs"),
                               _qr_columns(M), atol=1e-12, rtol=0)


def test_prom_passes_raw_through_in_training_with_identity_gradient(gen):
    raw = _raw("prom", 4, gen=gen).requires_grad_()
    out = H.outputs(raw, "prom", training=True)
    assert torch.equal(out.rotation_loss, raw.reshape(4, 3, 3))
    assert torch.equal(out.downstream, raw.reshape(4, 3, 3))
    _assert_rotation(out.eval)  # the inference rotation is still available, detached
    assert not out.eval.requires_grad
    weights = torch.randn(4, 3, 3, generator=gen, dtype=F64)
    (weights * out.rotation_loss).sum().backward()
    torch.testing.assert_close(raw.grad, weights.reshape(4, 9), atol=0, rtol=0)  # PRoM Eq. 8: grad g grad r = I
    # The same raw through "svd" is orthogonalised, so its gradient is not the identity map.
    raw2 = raw.detach().clone().requires_grad_()
    (weights * H.outputs(raw2, "svd", training=True).rotation_loss).sum().backward()
    assert not torch.allclose(raw2.grad, weights.reshape(4, 9))


def test_switches_are_independent(gen):
    six = _raw("6d", 8, gen=gen)
    t = six.reshape(8, 3, 2)
    pseudo6 = torch.stack([t[..., 0], t[..., 1], torch.linalg.cross(t[..., 0], t[..., 1], dim=-1)], dim=-1)
    r_gs = H.raw_to_matrix(six, "6d", training=False)
    only_y = H.outputs(six, "6d", training=True, ortho_in_rot_loss=False)  # Table 3a "id. / r_GS"
    torch.testing.assert_close(only_y.rotation_loss, pseudo6, atol=0, rtol=0)
    torch.testing.assert_close(only_y.downstream, r_gs, atol=0, rtol=0)
    only_theta = H.outputs(six, "6d", training=True, ortho_in_downstream=False)  # "r_GS / id."
    torch.testing.assert_close(only_theta.rotation_loss, r_gs, atol=0, rtol=0)
    torch.testing.assert_close(only_theta.downstream, pseudo6, atol=0, rtol=0)
    star = H.outputs(six, "6d", training=True, ortho_in_rot_loss=False, ortho_in_downstream=False)  # "6D*"
    torch.testing.assert_close(star.eval, r_gs, atol=0, rtol=0)
    nine = _raw("svd", 8, gen=gen)
    svd_off = H.outputs(nine, "svd", training=True, ortho_in_rot_loss=False, ortho_in_downstream=False)
    prom = H.outputs(nine, "prom", training=True)
    for a, b in zip(svd_off, prom):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    prom_on = H.outputs(nine, "prom", training=True, ortho_in_rot_loss=True, ortho_in_downstream=True)
    svd = H.outputs(nine, "svd", training=True)
    torch.testing.assert_close(prom_on.rotation_loss, svd.rotation_loss, atol=0, rtol=0)
    # raw_to_matrix's single switch.
    torch.testing.assert_close(H.raw_to_matrix(nine, "svd", training=True, ortho_for_loss=False),
                               nine.reshape(8, 3, 3), atol=0, rtol=0)
    assert H.outputs(nine, "prom", training=True, with_eval=False).eval is None


def test_switches_refused_where_there_is_nothing_to_switch_off(gen):
    with pytest.raises(ValueError, match="'quaternion' has no orthogonalisation step"):
        H.outputs(_raw("quaternion", 2, gen=gen), "quaternion", ortho_in_downstream=False)
    with pytest.raises(ValueError, match="has no orthogonalisation"):
        H.RotationHead("euler", 8, ortho_in_rot_loss=False)
    with pytest.raises(ValueError, match="inference_ortho must be 'svd' or 'gs'"):
        H.RotationHead("prom", 8, inference_ortho="qr")
    # Switching on what is already on is fine.
    H.outputs(_raw("axis_angle", 2, gen=gen), "axis_angle", ortho_in_rot_loss=True)


def test_rotation_head_shapes_and_modes(gen):
    torch.manual_seed(0)
    head = H.RotationHead("prom", in_features=16, num_rotations=5, dtype=F64)
    assert head.linear.out_features == 45
    features = torch.randn(3, 16, generator=gen, dtype=F64)
    raw = head.raw(features)
    assert raw.shape == (3, 5, 9)
    out = head(features)
    assert out.rotation_loss.shape == (3, 5, 3, 3)
    torch.testing.assert_close(out.rotation_loss, raw.reshape(3, 5, 3, 3), atol=0, rtol=0)
    head.eval()
    out = head(features)
    _assert_rotation(out.rotation_loss)
    torch.testing.assert_close(out.rotation_loss, roma.special_procrustes(raw.reshape(3, 5, 3, 3)), atol=1e-10,
                               rtol=0)
    single = H.RotationHead("6d", in_features=16, dtype=F64)
    assert single(features).downstream.shape == (3, 3, 3)
