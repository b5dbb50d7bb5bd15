"""PRoM body regressor at full fidelity: Eq. 36's mesh term on a skinned vertex subset, A.10's 2D
reprojection term, noisy input keypoints, the Table 3a readings of "r_GS / id.", and the per-variant
training-time / projected / SO(3)-distance columns.

Independent routes: the vertex subset against anny's full skinning (``AnnyBody``); the reprojection
term against a hand-written pinhole projection; the heads against hand-built matrices and autograd;
the SO(3) columns against their definitions.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from posebook.body.anny_skeleton import AnnySkeleton
from posebook.data.world import WorldConfig, build_world
from posebook.experiments.prom import bodies as PB
from posebook.experiments.prom.paper import PAPER_TABLE_3A, TABLE_3A_READINGS
from posebook.geometry.rotations import gram_schmidt, matrix_from_6d, random_rotation
from posebook.models import body_regressor as BR
from posebook.optim.training import train_regressor

pytestmark = pytest.mark.slow  # builds the Anny model

TINY = dict(world_size=48, steps=3, batch=8, hidden=16, iterations=1, pve_samples=3)


from fixtures_bodies import body  # noqa: E402, F401


@pytest.fixture(scope="module")
def skeleton(body) -> AnnySkeleton:
    return AnnySkeleton(body, num_vertices=64)


@pytest.fixture(scope="module")
def world(body, tmp_path_factory):
    config = WorldConfig(size=24, seed=5, source="procedural", joint_sets=("cmu31", "h36m17"), render=False)
    return build_world(config, cache_dir=tmp_path_factory.mktemp("world"), progress=False, body=body)


@pytest.fixture(scope="module")
def data(world, skeleton) -> BR.RegressionData:
    return BR.RegressionData.from_world(world, "cmu31", "cmu31", skeleton=skeleton)


# ------------------------------------------------------------------------------ vertex subset


def test_vertex_subset_matches_full_skinning(body, skeleton):
    g = torch.Generator().manual_seed(4)
    R = random_rotation(4 * 31, generator=g).reshape(4, 31, 3, 3).float()
    shape = torch.cat([torch.rand(3, 6, generator=g), torch.tensor([[1.2, -0.5, 0.0, 1.0, 0.3, 1.5]])])
    t = torch.randn(4, 3, generator=g)
    idx = skeleton.vertex_indices
    assert idx.shape == (64,) and len(set(idx.tolist())) == 64
    for translation in (None, t):
        full = body(R, shape, translation)
        torch.testing.assert_close(skeleton.vertices(R, shape, translation), full.vertices[:, idx], atol=1e-5, rtol=0)
        # one FK pass gives the same joints as the joints-only path
        joints, _ = skeleton.joints_and_vertices(R, shape, "h36m17", translation)
        torch.testing.assert_close(joints, skeleton.joints(R, shape, "h36m17", translation), atol=1e-6, rtol=0)


def test_vertex_subset_is_spread_and_optional(body, skeleton):
    rest = body(torch.eye(3).expand(1, 31, 3, 3), torch.full((1, 6), 0.5)).vertices[0]
    chosen = rest[skeleton.vertex_indices]
    nearest = torch.cdist(chosen, chosen).fill_diagonal_(float("inf")).min(1).values
    # farthest-point sampling: no two chosen vertices closer than the subset's typical spacing / 3
    assert float(nearest.min()) > float(nearest.median()) / 3
    with pytest.raises(ValueError, match="skins no vertices"):
        AnnySkeleton(body).vertices(torch.eye(3).expand(1, 31, 3, 3), torch.full((1, 6), 0.5))


def test_regression_data_vertices_are_the_worlds_meshes(world, data, body, skeleton):
    mesh = body(world.rotations, world.shape).vertices  # root (Hips head) at the origin
    torch.testing.assert_close(data.vertices, mesh[:, skeleton.vertex_indices], atol=1e-5, rtol=0)
    assert data.take(torch.tensor([[0, 3]])).vertices.shape == (1, 2, 64, 3)


# ------------------------------------------------------------------------------ reprojection


def _all_members(data: BR.RegressionData, M: int) -> BR.RegressionData:
    return data.take(torch.arange(len(data)).expand(M, -1))


def test_reprojection_zero_at_ground_truth_and_positive_when_perturbed(data, skeleton):
    batch = _all_members(data, 1)
    gt = skeleton.joints(batch.rotations, batch.shape, "cmu31")
    assert float(BR.reprojection_loss(gt, batch)) < 1e-8
    moved = gt + torch.tensor([0.02, 0.0, 0.0])
    # by hand: u = fx X / Z + cx, in units of half the bbox
    X = moved + batch.root[..., None, :]
    K = batch.K
    u = K[..., 0, 0, None] * X[..., 0] / X[..., 2] + K[..., 0, 2, None]
    v = K[..., 1, 1, None] * X[..., 1] / X[..., 2] + K[..., 1, 2, None]
    half = 0.5 * batch.bbox_size[..., None]
    expected = torch.cat([((u - batch.uv[..., 0]) / half)[..., None], ((v - batch.uv[..., 1]) / half)[..., None]],
                         -1).square().mean()
    loss = BR.reprojection_loss(moved, batch)
    assert float(loss) > 1e-5
    torch.testing.assert_close(loss[0], expected, rtol=1e-4, atol=0)


def test_mesh_and_2d_terms_enter_the_loss_and_train(data, skeleton):
    variants = [BR.Variant("6D", "6d"), BR.Variant("PRoM", "prom")]
    model = BR.BodyRegressor(variants, [0, 0], data.keypoints.shape[1], hidden=16, iterations=2,
                             init_rotations=data.rotations.double().mean(0), init_shape=data.shape.double().mean(0),
                             input_mean=data.keypoints.mean(0), input_std=data.keypoints.std(0))
    fixed = dataclasses.replace(_all_members(data, 2), keypoints=data.keypoints)
    with torch.no_grad():
        plain = model.losses(skeleton, fixed)
        full = model.losses(skeleton, fixed, BR.EQ36_WEIGHTS)
    assert float(plain["vertices"].abs().sum()) == 0 and float(plain["reprojection"].abs().sum()) == 0
    assert bool((full["vertices"] > 0).all() and (full["reprojection"] > 0).all())
    w = BR.EQ36_WEIGHTS
    torch.testing.assert_close(full["loss"], plain["loss"] + w.vertices * full["vertices"]
                               + w.reprojection * full["reprojection"], rtol=1e-5, atol=0)
    assert BR.LossWeights().missing() == ["the mesh term L_ele(Y_M)", "the 2D reprojection loss"]
    assert w.missing() == []
    result = train_regressor(model, skeleton, data, steps=20, batch=8, lr=3e-3, weights=w)
    with torch.no_grad():
        after = model.losses(skeleton, fixed, w)
    assert not any(result.diverged) and bool((after["loss"] < full["loss"]).all())
    with pytest.raises(ValueError, match="mesh term needs"):
        model.losses(skeleton, dataclasses.replace(fixed, vertices=None), w)


# ---------------------------------------------------------------------------------- noise


def test_noisy_keypoints_are_deterministic_per_seed(world):
    uv, c, b = world.keypoints2d["cmu31"], world.bbox_center, world.bbox_size

    def draw(seed: int, **kw) -> torch.Tensor:
        return BR.noisy_keypoints(uv, c, b, generator=torch.Generator().manual_seed(seed), **kw)

    assert torch.equal(draw(1), draw(1)) and not torch.equal(draw(1), draw(2))
    # without outliers the noise is sigma * bbox per coordinate
    z = ((draw(3, sigma=0.02, outliers=0.0) - uv) / b[:, None, None]).double()
    assert abs(float(z.std()) - 0.02) < 0.003 and abs(float(z.mean())) < 0.003
    # all outliers: uniform over the bbox
    out = (draw(3, sigma=0.0, outliers=1.0) - c[:, None]) / b[:, None, None]
    assert float(out.abs().max()) <= 0.5 and float(out.std()) == pytest.approx(1 / 12 ** 0.5, abs=0.03)
    assert torch.equal(draw(3, sigma=0.0, outliers=0.0), uv)
    with pytest.raises(ValueError, match="sigma"):
        draw(0, sigma=-0.1)


def test_noisy_setup_changes_inputs_only(tmp_path, monkeypatch):
    from posebook.runs import make_context

    monkeypatch.delenv("POSEBOOK_CMU_DIR", raising=False)
    monkeypatch.setenv("POSEBOOK_CACHE_DIR", str(tmp_path / "cache"))
    ctx = make_context("quick", device="cpu", seed=0)
    exact = PB.make_setup(ctx, 48, loss_vertices=8)
    noisy = PB.make_setup(ctx, 48, loss_vertices=8, inputs="noisy")
    again = PB.make_setup(ctx, 48, loss_vertices=8, inputs="noisy")
    other = PB.make_setup(make_context("quick", device="cpu", seed=1), 48, loss_vertices=8, inputs="noisy")
    assert torch.equal(noisy.train_data.keypoints, again.train_data.keypoints)
    assert not torch.equal(noisy.train_data.keypoints, exact.train_data.keypoints)
    assert not torch.equal(noisy.test_data.keypoints, exact.test_data.keypoints)
    assert other.train_data.keypoints.shape != noisy.train_data.keypoints.shape or not torch.equal(
        other.train_data.keypoints, noisy.train_data.keypoints)
    for field in ("rotations", "joints", "vertices", "uv"):  # the targets stay exact
        assert torch.equal(getattr(noisy.train_data, field), getattr(exact.train_data, field))
    assert noisy.key != exact.key and "noisy" in noisy.data_source
    with pytest.raises(ValueError, match="inputs must be"):
        PB.make_setup(ctx, 48, inputs="blurry")


# ----------------------------------------------------------------------- Table 3a readings


def test_six_number_head_feeds_unnormalised_frame_to_h():
    v = PB.VARIANTS["6d/id"]
    model = BR.BodyRegressor([v], [0], 3, hidden=4, iterations=1)
    raw = torch.randn(1, 5, 31, 9, dtype=torch.float32)
    raw[..., 6:] = 0  # a 6-number member never uses the rest
    out = model.matrices(raw, training=True)
    t = raw[..., :6].reshape(1, 5, 31, 3, 2)
    t1, t2 = t[..., 0], t[..., 1]
    torch.testing.assert_close(out.downstream, torch.stack([t1, t2, torch.linalg.cross(t1, t2)], -1))
    torch.testing.assert_close(out.rotation_loss, matrix_from_6d(raw[..., :6]))
    torch.testing.assert_close(model.matrices(raw, training=False).eval, matrix_from_6d(raw[..., :6]))
    assert PB.ABLATION_COLUMNS["6d/id"][:2] == ("r_GS", "id. [t1, t2, t1 x t2]")
    assert PAPER_TABLE_3A[TABLE_3A_READINGS["6d/id"]] == 55.8


def test_which_nine_number_head_trains_every_number_with_L_theta():
    g = torch.Generator().manual_seed(0)
    R = random_rotation(8, generator=g, dtype=torch.float64)
    P = (R + 0.3 * torch.randn(8, 3, 3, generator=g, dtype=torch.float64)).requires_grad_()
    # Eq. 1's g_GS of all three columns: q3 = sign(p3 . q1 x q2) q1 x q2, so p3 gets no gradient
    (gram_schmidt(P, proper=False) - R).square().sum().backward()
    assert float(P.grad[..., 2].abs().max()) < 1e-12 and float(P.grad[..., :2].abs().min()) > 0
    # "svd/id": L_theta on g_SVD trains all nine numbers, as does L_Y on the identity
    model = BR.BodyRegressor([PB.VARIANTS["svd/id"]], [0], 3, hidden=4, iterations=1, dtype=torch.float64)
    raw = P.detach().reshape(1, 8, 1, 9).expand(1, 8, 31, 9).clone().requires_grad_()
    out = model.matrices(raw, training=True)
    (out.rotation_loss - R[None, :, None]).square().sum().backward()
    assert bool((raw.grad.abs() > 0).all())
    torch.testing.assert_close(out.downstream, raw.reshape(1, 8, 31, 3, 3))


# -------------------------------------------------------------------- SO(3) / raw columns


def test_predict_with_training_matrices(data):
    variants = [PB.VARIANTS[k] for k in ("6d", "prom", "6d/id")]
    model = BR.BodyRegressor(variants, [0, 0, 0], data.keypoints.shape[1], hidden=8, iterations=1,
                             init_rotations=data.rotations.double().mean(0))
    with torch.no_grad():  # move the outputs off SO(3)
        model.feedback[-1].bias.normal_(0, 0.3, generator=torch.Generator().manual_seed(0))
    R, _, R_y = model.predict(data.keypoints[:6], with_training=True)
    raw, _ = model(data.keypoints[:6])
    torch.testing.assert_close(R_y[1], raw[1].reshape(6, 31, 3, 3))  # PRoM: its 9 numbers as they are
    so3 = BR.so3_distance(R_y)
    eye = torch.eye(3)
    torch.testing.assert_close(so3["ortho"], torch.linalg.matrix_norm(R_y.mT @ R_y - eye))
    assert float(so3["ortho"][0].max()) < 1e-5 and float(so3["ortho"][1].min()) > 1e-3  # 6D: r_GS in L_Y
    torch.testing.assert_close(R[1], so3["svd"][1], atol=1e-5, rtol=0)  # PRoM's inference rotation is g_SVD(R_Y)
    assert float(BR.so3_distance(R)["frobenius"].max()) < 1e-5


def test_body_regression_rows_per_input_with_training_time_columns(tmp_path, monkeypatch):
    from posebook.runs import make_context

    monkeypatch.delenv("POSEBOOK_CMU_DIR", raising=False)
    monkeypatch.setenv("POSEBOOK_CACHE_DIR", str(tmp_path / "cache"))
    ctx = make_context("quick", device="cpu", seed=0)
    f = PB.body_regression(ctx, variants=("6d", "prom"), inputs=("exact", "noisy"), loss="eq36",
                           loss_vertices=16, **TINY).frame
    assert len(f) == 2 * 2 * 3 and set(f["inputs"]) == {"exact", "noisy"}
    assert (f["eq36_missing"] == "").all()
    six, prom = f[f["key"] == "6d"], f[f["key"] == "prom"]
    # 6D trains on rotations: training-time and projected errors agree, R_Y is in SO(3)
    np.testing.assert_allclose(six["mpjpe_train_mm"], six["mpjpe_mm"], atol=1e-3)
    assert (six[["so3_ortho", "so3_fro", "post_vs_svd_deg"]] < 1e-3).all().all()
    # PRoM: R_Y off SO(3), its inference rotation is g_SVD(R_Y) (angle 0) and in SO(3)
    assert (prom["so3_ortho"] > 0).all() and (prom["so3_fro"] > 0).all()
    assert (prom["post_vs_svd_deg"] < 1e-3).all() and (f["so3_fro_eval"] < 1e-5).all()
    # baselines are per input kind: PRoM's fraction is against 6D of the same inputs and seed
    assert prom["better_mpjpe_frac"].between(0, 1).all() and six["better_mpjpe_frac"].isna().all()
    table = PB.table_body_regression(f)
    assert list(zip(table["inputs"], table["variant"])) == [("exact", "6D"), ("exact", "PRoM"),
                                                             ("noisy", "6D"), ("noisy", "PRoM")]
    assert "ours ||R_Y^T R_Y - I||_F" in table
    claims = PB.claims_body_regression(f)
    assert len(claims) == 2 * 5 and claims["where"].str.contains("noisy keypoints").sum() == 5
    assert not claims["where"].str.contains("without").any()
