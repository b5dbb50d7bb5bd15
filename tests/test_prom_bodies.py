"""Tests for posebook.models.body_regressor, its training and 2D fit (posebook.optim) and the recipes
of posebook.experiments.prom.bodies.

Independent routes: the fast rest skeleton and forward kinematics against AnnyBody's skinned model
(and the world's joints, computed by skinning + ``convert_joints``); ensemble members against the
same member trained alone; the 2D fit against a fit of a subset.
"""

from __future__ import annotations

import dataclasses

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from posebook import claims as C
from posebook.experiments import run_experiment
from posebook.experiments.prom import bodies as PB
from posebook.geometry.rotations import random_rotation
from posebook.models import body_regressor as BR
from posebook.models.rotation_heads import REPRESENTATIONS, outputs
from posebook.optim.keypoints_2d import fit_keypoints_2d
from posebook.optim.training import train_regressor

from expected import expected_paired
from fixtures_bodies import body, data, skeleton, tiny_ctx, tiny_env, world  # noqa: F401

pytestmark = pytest.mark.slow  # builds the Anny model (~3 s once cached on disk)


def _regressor(data: BR.RegressionData, variants, seeds, **kw) -> BR.BodyRegressor:
    kw = {"hidden": 16, "iterations": 2, **kw}
    return BR.BodyRegressor(variants, seeds, data.keypoints.shape[1], init_rotations=data.rotations.double().mean(0),
                            init_shape=data.shape.double().mean(0), input_mean=data.keypoints.mean(0),
                            input_std=data.keypoints.std(0), **kw)


# ------------------------------------------------------------------------------ skeleton / FK


def test_skeleton_matches_skinned_anny(body, skeleton):
    g = torch.Generator().manual_seed(0)
    R = random_rotation(5 * 31, generator=g).reshape(5, 31, 3, 3).float()
    # includes phenotypes outside anny's range (clamped by anny, and by the skeleton alike)
    shape = torch.cat([torch.rand(4, 6, generator=g), torch.tensor([[1.2, -0.5, 0.0, 1.0, 0.3, 1.5]])])
    t = torch.randn(5, 3, generator=g)
    out = body(R, shape, t)
    heads, tails = skeleton(R, shape, t)
    torch.testing.assert_close(heads, out.joints, atol=2e-5, rtol=0)
    torch.testing.assert_close(tails, out.bone_tails, atol=2e-5, rtol=0)
    rest_heads, _ = skeleton.rest_points(shape)
    torch.testing.assert_close(rest_heads, body.rest_joints(shape), atol=2e-5, rtol=0)
    torch.testing.assert_close(skeleton.offsets(shape)[0], body.rest_offsets(shape), atol=2e-5, rtol=0)


def test_skeleton_rest_points_are_differentiable_in_shape(skeleton):
    shape = torch.full((2, 6), 0.4, dtype=torch.float64, requires_grad=True)
    heads, tails = skeleton.rest_points(shape)
    (heads.square().sum() + tails.square().sum()).backward()
    assert torch.isfinite(shape.grad).all() and shape.grad.abs().sum() > 0


def test_fk_loss_joints_equal_world_joints_for_ground_truth(world, data, skeleton):
    # world.joints3d: skinned AnnyBody + convert_joints; here: forward kinematics on the rest skeleton
    for name in ("cmu31", "h36m17"):
        fk = skeleton.joints(world.rotations, world.shape, name)
        torch.testing.assert_close(fk, world.joints3d[name] - world.root[:, None], atol=3e-5, rtol=0)
    # the regression target (RegressionData.joints) is what FK gives for the ground truth
    with torch.no_grad():
        gt_joints = skeleton.joints(data.rotations, data.shape, "cmu31")
    torch.testing.assert_close(gt_joints, data.joints, atol=3e-5, rtol=0)


def test_skeleton_rejects_vertex_joint_sets(skeleton):
    with pytest.raises(ValueError, match="regressed from mesh vertices"):
        skeleton.joints(torch.eye(3).expand(1, 31, 3, 3), torch.full((1, 6), 0.5), "coco17")


# ---------------------------------------------------------------------------------- inputs


def test_normalize_keypoints_by_hand():
    uv = torch.tensor([[[110.0, 40.0], [90.0, 60.0]]])
    out = BR.normalize_keypoints(uv, torch.tensor([[100.0, 50.0]]), torch.tensor([40.0]))
    torch.testing.assert_close(out, torch.tensor([[[0.25, -0.25], [-0.25, 0.25]]]))


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_raw_from_matrix_encodes_the_rotation(representation):
    R = random_rotation(20, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    raw = BR.raw_from_matrix(R, representation)
    back = outputs(raw, representation, training=False).eval
    torch.testing.assert_close(back, R, atol=1e-9, rtol=0)


def test_variant_validation():
    with pytest.raises(ValueError, match="no orthogonalisation to switch off"):
        BR.Variant("x", "axis_angle", ortho_in_rot_loss=False)
    with pytest.raises(ValueError, match="unknown rotation representation"):
        BR.Variant("x", "rot6d")
    with pytest.raises(ValueError, match="lr_factor"):
        BR.Variant("x", "prom", lr_factor=0.0)


# ----------------------------------------------------------------------------------- model


def test_regressor_forward_shapes_and_masks(data):
    variants = [BR.Variant(r, r) for r in REPRESENTATIONS]
    model = _regressor(data, variants, [0] * len(variants))
    raw, shape = model(data.keypoints[:5])
    assert raw.shape == (len(variants), 5, 31, 9) and shape.shape == (len(variants), 5, 6)
    assert bool(((shape > 0) & (shape < 1)).all())
    for m, v in enumerate(variants):  # unused raw slots stay exactly 0
        n = {"axis_angle": 3, "euler": 3, "quaternion": 4, "6d": 6}.get(v.representation, 9)
        assert bool((raw[m, ..., n:] == 0).all())
    train = model.matrices(raw, training=True)
    assert train.rotation_loss.shape == (len(variants), 5, 31, 3, 3) and train.eval is None
    R, beta = model.predict(data.keypoints[:5])
    eye = torch.eye(3).expand_as(R)
    torch.testing.assert_close(R.mT @ R, eye, atol=1e-5, rtol=0)
    assert beta.shape == (len(variants), 5, 6)
    # x_0: every representation starts from the same rotations (the SVD of the training mean)
    with torch.no_grad():
        x0 = model.x0[:, : 31 * 9].reshape(len(variants), 31, 9)
        starts = torch.stack([outputs(x0[m, :, : {"axis_angle": 3, "euler": 3, "quaternion": 4, "6d": 6}.get(
            v.representation, 9)], v.representation, training=False).eval for m, v in enumerate(variants)])
    torch.testing.assert_close(starts, starts[:1].expand_as(starts), atol=1e-5, rtol=0)


def test_members_with_one_seed_start_alike_and_train_as_if_alone(data, skeleton):
    alone = _regressor(data, [BR.Variant("PRoM", "prom")], [5])
    mixed = _regressor(data, [BR.Variant("6D", "6d"), BR.Variant("PRoM", "prom"), BR.Variant("SVD", "svd")], [5, 5, 7])
    for a, b in zip(alone.parameters(), mixed.parameters()):
        assert torch.equal(a[0], b[0]) and torch.equal(a[0], b[1])  # same seed, same weights
        assert not torch.equal(a[0], b[2])
    train_regressor(alone, skeleton, data, steps=4, batch=8, lr=1e-3)
    train_regressor(mixed, skeleton, data, steps=4, batch=8, lr=1e-3)
    for a, b in zip(alone.parameters(), mixed.parameters()):
        assert torch.equal(a[0], b[1])  # bit for bit: the experiments' member cache relies on it


def test_tiny_training_lowers_the_loss_of_every_representation(data, skeleton):
    variants = [BR.Variant(r, r) for r in REPRESENTATIONS]
    model = _regressor(data, variants, [0] * len(variants))
    M = len(variants)
    fixed = dataclasses.replace(data.take(torch.arange(len(data)).expand(M, -1)), keypoints=data.keypoints)
    with torch.no_grad():
        before = model.losses(skeleton, fixed)["loss"]
    result = train_regressor(model, skeleton, data, steps=25, batch=16, lr=3e-3)
    with torch.no_grad():
        after = model.losses(skeleton, fixed)["loss"]
    assert not any(result.diverged)
    assert bool((after < before).all()), dict(zip(REPRESENTATIONS, (after / before).tolist()))


def test_nan_in_training_is_recorded_not_raised(data, skeleton):
    model = _regressor(data, [BR.Variant("6D", "6d"), BR.Variant("SVD", "svd")], [0, 0])
    result = train_regressor(model, skeleton, data, steps=6, batch=8, lr=torch.tensor([1e-3, 1e38]))
    assert result.diverged_step[0] is None and result.diverged_step[1] is not None
    assert all(bool(torch.isfinite(p[0]).all()) for p in model.parameters())
    last = result.history[result.history["step"] == 6].set_index("member")["train_loss"]
    assert math.isfinite(last[0]) and math.isnan(last[1])
    # a member whose weights hold NaN predicts NaN rotations, the others are unaffected
    with torch.no_grad():
        model.feedback[-1].weight[1].fill_(math.nan)
    R, _ = model.predict(data.keypoints[:3])
    assert bool(torch.isfinite(R[0]).all()) and bool(torch.isnan(R[1]).all())


# ------------------------------------------------------------------------------ 2D fitting


def test_fit_keypoints_2d(world, skeleton):
    n = 6
    R_gt, shape, root, K = world.rotations[:n], world.shape[:n], world.root[:n], world.K[:n]
    uv, scale = world.keypoints2d["cmu31"][:n], world.bbox_size[:n]
    noise = random_rotation(n * 31, generator=torch.Generator().manual_seed(2)).reshape(n, 31, 3, 3)
    start = R_gt @ _small(noise)
    for rep in ("6d", "prom"):
        fit = fit_keypoints_2d(skeleton, start, shape, root, K, uv, scale, "cmu31", rep, steps=30, lr=1e-2)
        assert fit.loss[-1] < 0.5 * fit.loss[0]
        assert not bool(fit.diverged.any())
        torch.testing.assert_close(fit.rotations.mT @ fit.rotations, torch.eye(3).expand_as(fit.rotations),
                                   atol=1e-5, rtol=0)
        # per-sample independence: fitting two samples alone gives the same rotations
        part = fit_keypoints_2d(skeleton, start[2:4], shape[2:4], root[2:4], K[2:4], uv[2:4], scale[2:4],
                                   "cmu31", rep, steps=30, lr=1e-2)
        torch.testing.assert_close(part.rotations, fit.rotations[2:4], atol=1e-5, rtol=0)
    # at the ground truth the reprojection error is ~0
    exact = fit_keypoints_2d(skeleton, R_gt, shape, root, K, uv, scale, "cmu31", "prom", steps=0)
    assert float(exact.loss[0]) < 1e-9


def _small(R: torch.Tensor) -> torch.Tensor:
    """Rotations 10% of the way from the identity to R (a small perturbation)."""
    from posebook.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle

    return axis_angle_to_matrix(0.1 * matrix_to_axis_angle(R))


# ----------------------------------------------------------------------------- experiments


TINY = dict(world_size=48, steps=3, batch=8, hidden=16, iterations=1, pve_samples=3)


# Independent recomputation of the verdicts from a frame's own numbers (numpy and json only).


def _curve(cell: str) -> tuple[np.ndarray, np.ndarray]:
    pairs = json.loads(cell)
    return (np.array([p[0] for p in pairs], dtype=int),
            np.array([np.nan if p[1] is None else p[1] for p in pairs], dtype=float))


def _moving(cells, tail: float = C.ConvergenceRule().tail, tolerance: float = C.ConvergenceRule().tolerance
            ) -> list[bool]:
    """Per curve: did the metric change by more than ``tolerance`` (relative) over the last ``tail``?"""
    out = []
    for cell in cells:
        steps, values = _curve(cell)
        if len(steps) < 2 or not np.isfinite(values[-1]):
            out.append(False)
            continue
        earlier = np.flatnonzero(steps <= (1 - tail) * steps[-1])
        ref = values[earlier[-1]] if earlier.size else np.nan
        out.append(bool(earlier.size == 0 or (np.isfinite(ref) and abs(values[-1] - ref) / abs(values[-1]) > tolerance)))
    return out


def _expected_above(values, threshold: float, moving=()) -> str:
    if any(moving):
        return "not converged"
    v = np.nan_to_num(np.asarray(values, dtype=float), nan=-np.inf)
    return "holds" if (v > threshold).all() else "does not hold" if (v < threshold).all() else "inconclusive"


def _curves(f: pd.DataFrame, metric: str, *keys: str) -> list[str]:
    return [c for k in keys for c in f.loc[f["key"] == k, f"curve_{metric}"]]


def _assert_trained_below_start(f: pd.DataFrame) -> None:
    """Every non-diverged member's test MPJPE at the end of training is below its untrained value."""
    for _, row in f[~f["diverged"]].iterrows():
        steps, values = _curve(row["curve_mpjpe_mm"])
        assert steps[0] == 0 and steps[-1] == TINY["steps"] and np.isfinite(values).all()
        assert values[-1] < values[0], (row["key"], row["seed"], values.tolist())
        if PB.VARIANTS[row["key"]].inference_ortho == "svd":
            # the curve ends at the final metric (the curve of "id. / id., post r_GS" is that of the PRoM
            # network it shares, evaluated with g_SVD)
            assert values[-1] == pytest.approx(row["mpjpe_mm"], abs=1e-4)
        pa_steps, _ = _curve(row["curve_pa_mpjpe_mm"])
        assert pa_steps.tolist() == steps.tolist()


def test_body_regression_and_ablation_frames(tiny_ctx):
    res = PB.body_regression(tiny_ctx, variants=("6d", "prom", "prom_lr3"), inputs=("exact",), **TINY)
    f = res.frame
    assert res.data_source.startswith("synthetic world: procedural poses")
    assert {"variant", "key", "seed", "mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "better_mpjpe_frac",
            "better_pa_mpjpe_frac", "diverged", "diverged_step", "train_loss", "paper_mpjpe_mm",
            "paper_pa_mpjpe_mm", "paper_pve_mm", "n_train", "n_test", "split", "curve_mpjpe_mm",
            "curve_pa_mpjpe_mm", "inputs", "mpjpe_train_mm", "so3_ortho", "so3_fro", "eq36_missing"} <= set(f.columns)
    assert len(f) == 3 * 3 and set(f["key"]) == {"6d", "prom", "prom_lr3"}
    assert f[f["key"] == "6d"]["better_mpjpe_frac"].isna().all()
    assert f[f["key"] == "prom"]["better_mpjpe_frac"].between(0, 1).all()
    assert (f["mpjpe_mm"] > 0).all() and (f["pa_mpjpe_mm"] <= f["mpjpe_mm"] + 1e-9).all()
    assert f.loc[f["key"] == "6d", "paper_mpjpe_mm"].eq(74.4).all()
    _assert_trained_below_start(f)
    table = PB.table_body_regression(f)
    assert list(table["variant"]) == ["6D", "PRoM", "PRoM, lr x3"]
    claims = PB.claims_body_regression(f)
    assert claims["where"].str.contains("without the mesh term").all()  # the default loss says what it lacks
    expected_claims, expected = [], []
    for key, label in (("prom", "PRoM"), ("prom_lr3", "PRoM, lr x3")):
        for metric, curve, word in (("mpjpe_mm", "mpjpe_mm", "MPJPE"), ("pa_mpjpe_mm", "pa_mpjpe_mm", "PA-MPJPE"),
                                    ("pve_mm", "mpjpe_mm", "PVE")):
            per_seed = f.pivot(index="seed", columns="key", values=metric)
            expected_claims.append(f"{label} has a lower {word} than 6D")
            expected.append(expected_paired(per_seed[key], per_seed["6d"], _moving(_curves(f, curve, key, "6d"))))
        expected_claims.append(f"{label} lowers the error of most samples")
        expected.append(_expected_above(f.loc[f["key"] == key].sort_values("seed")["better_mpjpe_frac"], 0.5,
                                        _moving(_curves(f, "mpjpe_mm", key, "6d"))))
        rows = f[f["key"] == key].sort_values("seed")
        expected_claims.append(f"{label}: the rotations after g_SVD at inference have a lower MPJPE than the "
                               "training-time matrices")
        expected.append(expected_paired(rows["mpjpe_mm"], rows["mpjpe_train_mm"], 2 * _moving(_curves(f, "mpjpe_mm", key))))
    assert list(claims["claim"]) == expected_claims
    assert list(claims["verdict"]) == expected
    assert set(claims["seeds"]) == {"0, 1, 2"} and set(claims["steps"]) == {str(TINY["steps"])}

    abl = PB.ortho_ablation(tiny_ctx, **TINY).frame
    assert {"L_theta", "L_Y", "post", "paper_pa_mpjpe_mm", "pa_mpjpe_mm"} <= set(abl.columns)
    assert len(abl) == 6 * 3
    _assert_trained_below_start(abl)
    # 6D and PRoM rows are the same trained members as in body_regression (members train alike in any ensemble)
    pd.testing.assert_series_equal(abl[abl["key"] == "prom"]["mpjpe_mm"].reset_index(drop=True),
                                   f[f["key"] == "prom"]["mpjpe_mm"].reset_index(drop=True))
    # "id. / id., post r_GS" is PRoM's networks with another projection: same training loss
    assert abl[abl["key"] == "id/id+gs"]["train_loss"].tolist() == abl[abl["key"] == "prom"]["train_loss"].tolist()
    assert len(PB.table_ortho_ablation(abl)) == 6
    claims = PB.claims_ortho_ablation(abl)
    pairs = [("id/gs", "6d"), ("6d/id", "6d"), ("6d/id", "id/gs"), ("id/id+gs", "6d/id"), ("prom", "id/id+gs"),
             ("prom", "svd"), ("prom", "6d")]
    per_seed = abl.pivot(index="seed", columns="key", values="pa_mpjpe_mm")
    assert len(claims) == len(pairs) and claims["ours"].iloc[0].startswith("id. / r_GS ")
    # the paper's "r_GS / id." row is read by the 6-number head (paper.TABLE_3A_READINGS)
    assert abl.loc[abl["key"] == "6d/id", "paper_pa_mpjpe_mm"].eq(55.8).all()
    assert list(claims["verdict"]) == [expected_paired(per_seed[a], per_seed[b], _moving(_curves(abl, "pa_mpjpe_mm", a, b)))
                                       for a, b in pairs]


def test_trained_members_are_reused_from_the_result_store(tiny_env, tmp_path, monkeypatch):
    """Through run_experiment(out=...), each (variant, seed) trains once: later experiments load it."""
    trained: list[int] = []

    def counting(model, *args, **kwargs):
        trained.append(model.members)
        return train_regressor(model, *args, **kwargs)

    monkeypatch.setattr(PB, "train_regressor", counting)
    out = tmp_path / "results"
    kw = dict(profile="quick", device="cpu", seed=0, out=out, **TINY)
    first = run_experiment("prom.body_regression", variants=("6d", "prom"), inputs=("exact",), **kw).frame
    artifacts = out / "_artifacts" / "prom.body_member"
    assert trained == [2 * 3] and len(list(artifacts.glob("*.pt"))) == 2 * 3
    second = run_experiment("prom.ortho_ablation", variants=("6d", "svd", "id/id+gs", "prom"), **kw).frame
    # only SVD is new: "id. / id., post r_GS" is PRoM's networks, 6D and PRoM come from the store
    assert trained == [6, 3] and len(list(artifacts.glob("*.pt"))) == 3 * 3
    columns = ["seed", "mpjpe_mm", "pa_mpjpe_mm", "train_loss", "curve_mpjpe_mm", "curve_pa_mpjpe_mm"]
    for key in ("6d", "prom"):
        pd.testing.assert_frame_equal(first.loc[first["key"] == key, columns].reset_index(drop=True),
                                      second.loc[second["key"] == key, columns].reset_index(drop=True))
    # a rerun that does not resume the stored table still trains nothing, and gives the same numbers
    again = run_experiment("prom.body_regression", variants=("6d", "prom"), inputs=("exact",), resume=False,
                           **kw).frame
    assert trained == [6, 3]
    pd.testing.assert_frame_equal(again[columns], first[columns])


def test_unknown_variant_is_a_clear_error(tiny_ctx):
    with pytest.raises(ValueError, match="unknown variant"):
        PB.body_regression(tiny_ctx, variants=("6d", "rot6d"), **TINY)


def test_a_diverged_member_reports_nan_metrics_not_its_frozen_predictions(tiny_ctx):
    f = PB.body_regression(tiny_ctx, variants=("6d", "prom"), **{**TINY, "lr": 1e30}).frame
    assert f["diverged"].all(), "an absurd learning rate must diverge every member"
    assert f[["mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "mpjpe_train_mm"]].isna().all().all()
