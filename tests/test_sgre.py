"""SGRE's heads (posebook.models.sgre) and the local features (posebook.models.local_features), checked
against independent compositions of rotations and hand-made maps."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from posebook.body.joints import ANNY_CMU_MB_PARENTS as PARENTS
from posebook.geometry.rotations import matrix_from_6d
from posebook.models.backbones import make_backbone
from posebook.models.local_features import feature_map, pixel_centres, sample_at, soft_argmax_2d
from posebook.models.sgre import VARIANTS, HeadConfig, Means, SGRERegressor, matrix_to_raw

J = len(PARENTS)


def _means(representation: str = "6d") -> Means:
    g = torch.Generator().manual_seed(3)
    import roma

    R = roma.random_rotmat(J, generator=g)
    G = roma.random_rotmat(J, generator=g)
    return Means(matrix_to_raw(R, representation), matrix_to_raw(G, representation), torch.zeros(6),
                 torch.tensor([1.0, 0.0, 0.0]))


def _model(config: HeadConfig, seed: int = 0, scale: float = 1.0) -> SGRERegressor:
    torch.manual_seed(seed)
    model = SGRERegressor(make_backbone("small", width=8), config, _means(config.representation)).eval()
    with torch.no_grad():  # larger than the official N(0, 0.01) so that the residuals are visible
        for name, p in model.named_parameters():
            if not name.startswith("backbone"):
                p.mul_(scale)
    return model


def _images(n: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 32, 32, 3), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _chain(R_rel: torch.Tensor) -> torch.Tensor:
    """Global rotations by walking each joint's path to the root (independent of posebook.body.kinematics)."""
    out = []
    for j in range(J):
        M, k = torch.eye(3, dtype=R_rel.dtype).expand_as(R_rel[:, 0]), j
        path = []
        while k >= 0:
            path.append(k)
            k = PARENTS[k]
        for k in reversed(path):
            M = M @ R_rel[:, k]
        out.append(M)
    return torch.stack(out, dim=1)


# ------------------------------------------------------------------------------- local features


def test_soft_argmax_of_a_peak_is_its_pixel_centre():
    h, w = 4, 6
    logits = torch.full((2, 3, h, w), -1e4)
    peaks = [(0, 0), (3, 5), (2, 1)]
    for k, (i, j) in enumerate(peaks):
        logits[:, k, i, j] = 0.0
    xs, ys = pixel_centres(h, w)
    p = soft_argmax_2d(logits)
    for k, (i, j) in enumerate(peaks):
        assert torch.allclose(p[:, k], torch.stack((xs[j], ys[i])).expand(2, 2), atol=1e-6)
    # a flat map: the centre of the crop
    assert torch.allclose(soft_argmax_2d(torch.zeros(1, 1, h, w)), torch.zeros(1, 1, 2), atol=1e-6)


def test_sample_at_pixel_centres_returns_the_map_and_interpolates_between():
    fmap = torch.randn(2, 5, 4, 6, dtype=torch.float64)
    xs, ys = pixel_centres(4, 6, dtype=torch.float64)
    pts = torch.stack((xs[[0, 5, 2]], ys[[0, 3, 1]]), dim=-1).expand(2, 3, 2)
    got = sample_at(fmap, pts)
    want = torch.stack([fmap[:, :, 0, 0], fmap[:, :, 3, 5], fmap[:, :, 1, 2]], dim=1)
    assert torch.allclose(got, want, atol=1e-12)
    mid = torch.stack(((xs[1] + xs[2]) / 2, ys[1])).expand(2, 1, 2)
    assert torch.allclose(sample_at(fmap, mid)[:, 0], 0.5 * (fmap[:, :, 1, 1] + fmap[:, :, 1, 2]), atol=1e-12)
    with pytest.raises(ValueError, match="same B"):
        sample_at(fmap, pts[:1])


@pytest.mark.parametrize("name", ["small", "resnet18"])
def test_feature_map_pools_to_the_backbone_vector(name):
    torch.manual_seed(0)
    backbone = make_backbone(name, width=8).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(feature_map(backbone, x).mean(dim=(2, 3)), backbone(x), atol=1e-5)


# ------------------------------------------------------------------------------- heads


def test_relative_head_chains_like_eq_8_and_global_head_unchains_like_eq_10():
    with torch.no_grad():
        rel = _model(VARIANTS["relative"], scale=30.0)(_images())
        glob = _model(VARIANTS["global"], scale=30.0)(_images())
    assert torch.allclose(rel.relative, matrix_from_6d(rel.raw), atol=1e-6)
    assert torch.allclose(rel.global_, _chain(rel.relative), atol=1e-5)
    assert torch.allclose(glob.global_, matrix_from_6d(glob.raw), atol=1e-6)
    # relative = parent^T global, joint by joint
    for j in range(1, J):
        want = glob.global_[:, PARENTS[j]].transpose(-1, -2) @ glob.global_[:, j]
        assert torch.allclose(glob.relative[:, j], want, atol=1e-5)
    assert torch.allclose(_chain(glob.relative), glob.global_, atol=1e-4)


@pytest.mark.parametrize("residual_on", ["raw", "rotation"])
def test_sgre_child_is_its_mlp_plus_its_parent(residual_on):
    config = dataclasses.replace(VARIANTS["sgre"], residual_on=residual_on, hidden=16)
    model = _model(config, scale=30.0)
    images = _images()
    with torch.no_grad():
        out = model(images)
        fmap = feature_map(model.backbone, (images.permute(0, 3, 1, 2).float() / 255 - torch.tensor(
            [0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        f_g = fmap.mean(dim=(2, 3))
        local = sample_at(fmap, out.keypoints)
        mlp = model.children_mlp
        assert torch.allclose(out.raw[:, 0], model.start[0] + model.root_head(f_g), atol=1e-5)
        for k in range(1, J):
            parent = out.raw[:, PARENTS[k]]
            if residual_on == "rotation":
                parent = matrix_from_6d(parent)[..., :, :2].reshape(-1, 6)
            x = torch.cat((f_g, local[:, k], parent), dim=1)
            h = torch.relu(x @ mlp.w1[k - 1] + mlp.b1[k - 1])
            h = torch.relu(h @ mlp.w2[k - 1] + mlp.b2[k - 1])
            assert torch.allclose(out.raw[:, k], h @ mlp.w3[k - 1] + mlp.b3[k - 1] + parent, atol=1e-4), k
    assert torch.allclose(out.global_, matrix_from_6d(out.raw), atol=1e-6)
    for j in range(1, J):
        want = out.global_[:, PARENTS[j]].transpose(-1, -2) @ out.global_[:, j]
        assert torch.allclose(out.relative[:, j], want, atol=1e-5)


def test_level_order_equals_the_official_joint_order():
    level = _model(dataclasses.replace(VARIANTS["sgre"], hidden=16), scale=30.0)
    joint = SGRERegressor(make_backbone("small", width=8), dataclasses.replace(level.config, schedule="joint"),
                          _means()).eval()
    joint.load_state_dict(level.state_dict())
    with torch.no_grad():
        a, b = level(_images()), joint(_images())
    assert torch.allclose(a.raw, b.raw, atol=1e-6)


def test_at_initialisation_every_child_copies_its_parent_when_the_mlps_output_zero():
    model = _model(VARIANTS["sgre"])
    with torch.no_grad():
        model.children_mlp.w3.zero_()
        out = model(_images())
    for k in range(1, J):
        assert torch.equal(out.raw[:, k], out.raw[:, 0])
    assert torch.allclose(out.relative[:, 1:], torch.eye(3).expand_as(out.relative[:, 1:]), atol=1e-5)


def test_detached_keypoints_get_no_gradient_from_the_rotations():
    for detach, expect_grad in ((True, False), (False, True)):
        model = _model(dataclasses.replace(VARIANTS["sgre"], detach_keypoints=detach, hidden=16), scale=30.0).train()
        out = model(_images())
        out.global_.square().sum().backward()
        grad = model.keypoints.out.weight.grad
        has = grad is not None and bool(grad.abs().sum() > 0)
        assert has == expect_grad


def test_prom_head_trains_on_pseudo_matrices_and_infers_rotations():
    model = _model(VARIANTS["sgre_prom"], scale=30.0)
    model.train()
    out = model(_images())
    assert torch.allclose(out.global_, out.raw.reshape(-1, J, 3, 3))
    assert (out.global_.transpose(-1, -2) @ out.global_ - torch.eye(3)).abs().max() > 1e-3
    model.eval()
    with torch.no_grad():
        out = model(_images())
    assert torch.allclose(out.global_.transpose(-1, -2) @ out.global_, torch.eye(3).expand_as(out.global_), atol=1e-5)
    assert torch.allclose(torch.linalg.det(out.relative), torch.ones(3, J), atol=1e-5)


# ------------------------------------------------------------------------------- bad input


def test_bad_configurations_and_trees_are_refused():
    with pytest.raises(ValueError, match="target must be one of"):
        HeadConfig(target="local")
    with pytest.raises(ValueError, match="schedule must be one of"):
        HeadConfig(schedule="random")
    with pytest.raises(ValueError, match="needs local=True"):
        HeadConfig(local=False, global_feature="joints")
    with pytest.raises(ValueError, match="topologically ordered"):
        SGRERegressor(make_backbone("small", width=8), VARIANTS["sgre"], _means(), parents=[-1, 2, 0] + [0] * (J - 3))
    with pytest.raises(ValueError, match="means must hold"):
        SGRERegressor(make_backbone("small", width=8), VARIANTS["sgre"], _means("prom"))
    with pytest.raises(ValueError, match="means must hold"):  # wrong joint count for the tree
        SGRERegressor(make_backbone("small", width=8), VARIANTS["sgre"], _means(), parents=[-1, 0, 1])


@pytest.mark.parametrize("base", ["mean", "parent"])
def test_relative_pp_children_start_from_their_mean_or_their_parent(base):
    model = _model(dataclasses.replace(VARIANTS["relative_pp"], relative_base=base))
    with torch.no_grad():
        model.children_mlp.w3.zero_()
        out = model(_images())
    assert torch.allclose(out.relative, matrix_from_6d(out.raw), atol=1e-6)
    for k in range(1, J):
        want = model.start[k].expand_as(out.raw[:, k]) if base == "mean" else out.raw[:, PARENTS[k]]
        assert torch.allclose(out.raw[:, k], want, atol=1e-6)
    assert torch.allclose(out.global_, _chain(out.relative), atol=1e-4)
