"""Tests for PRoM Table 2b (posebook.experiments.prom.fitting), the per-sample 2D fit
(posebook.optim.keypoints_2d) and the EFT-style refinement (posebook.optim.eft).

Independent routes: a snapshot of a long fit against a fit stopped there; per-sample learning rates
against one fit per rate; refined copies of a subset of samples against the full batch; the sweep's
cell at prom.fit_2d's settings against prom.fit_2d; the SO(3) distance against a hand-worked matrix.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from posebook import claims as C
from posebook.experiments.prom import fitting as PF
from posebook.experiments.prom.bodies import VARIANTS
from posebook.models import body_regressor as BR
from posebook.optim.eft import copy_members, refine_regressor_2d
from posebook.optim.keypoints_2d import fit_keypoints_2d

from expected import expected_paired
from fixtures_bodies import body, data, skeleton, tiny_ctx, tiny_env, world  # noqa: F401

pytestmark = pytest.mark.slow  # builds the Anny model

TINY = dict(world_size=48, steps=3, batch=8, hidden=16, iterations=1)


def _targets(world, n: int) -> tuple:
    return (world.root[:n].float(), world.K[:n].float(), world.keypoints2d["cmu31"][:n].float(),
            world.bbox_size[:n].float())


def _moving(cells, rule: C.ConvergenceRule = C.ConvergenceRule()) -> list[bool]:
    return [C.still_moving(*C.read_curve(c), rule) for c in cells]


# ------------------------------------------------------------------------------ optimisers


def test_so3_distance_by_hand():
    P = torch.eye(3).expand(1, 31, 3, 3).clone()
    P[0, 0] = torch.diag(torch.tensor([2.0, 1.0, 1.0]))  # nearest rotation I: distance 1 on one joint
    assert float(PF._so3_distance(P)) == pytest.approx(1.0 / 31)
    P[0, 1, 0, 0] = math.nan
    assert math.isnan(float(PF._so3_distance(P)))


def test_fit_snapshots_and_per_sample_rates_match_separate_fits(world, skeleton):
    n = 3
    R0 = torch.eye(3).expand(n, 31, 3, 3).clone()
    shape, args = world.shape[:n].float(), _targets(world, n)
    rates = torch.tensor([3e-3, 1e-2, 3e-2], dtype=torch.float64)
    fit = fit_keypoints_2d(skeleton, R0, shape, *args, "cmu31", "prom", steps=6, lr=rates, snapshots=(2, 6))
    assert sorted(fit.snapshots) == [2, 6] and fit.sample_loss.shape == (7, n)
    torch.testing.assert_close(fit.snapshots[6][0], fit.rotations)
    for i, rate in enumerate(rates.tolist()):
        alone = fit_keypoints_2d(skeleton, R0[i:i + 1], shape[i:i + 1], *(a[i:i + 1] for a in args), "cmu31", "prom",
                                 steps=2, lr=rate)
        torch.testing.assert_close(fit.snapshots[2][0][i:i + 1], alone.rotations, atol=1e-6, rtol=0)
        torch.testing.assert_close(fit.snapshots[2][1][i:i + 1], alone.pseudo, atol=1e-6, rtol=0)
        torch.testing.assert_close(fit.sample_loss[:3, i], alone.sample_loss[:, 0], atol=1e-9, rtol=1e-6)
    assert bool((fit.sample_loss[-1] < fit.sample_loss[0]).all())
    with pytest.raises(ValueError, match="snapshots"):
        fit_keypoints_2d(skeleton, R0, shape, *args, "cmu31", "prom", steps=2, snapshots=(3,))


def _tiny_regressor(data: BR.RegressionData) -> BR.BodyRegressor:
    model = BR.BodyRegressor([VARIANTS["6d"], VARIANTS["prom"]], [0, 1], data.keypoints.shape[1], hidden=16,
                             iterations=1, init_rotations=data.rotations.double().mean(0),
                             init_shape=data.shape.double().mean(0), input_mean=data.keypoints.mean(0),
                             input_std=data.keypoints.std(0))
    with torch.no_grad():  # a non-trivial last layer, so the refinement has gradients everywhere
        model.feedback[-1].weight.mul_(10.0)
    return model


def test_copy_members_predict_like_their_source(data):
    model = _tiny_regressor(data)
    index = torch.tensor([1, 0, 1])
    copies = copy_members(model, index)
    raw, beta = model(data.keypoints[:4])
    raw_c, beta_c = copies(data.keypoints[:4])
    torch.testing.assert_close(raw_c, raw[index])
    torch.testing.assert_close(beta_c, beta[index])
    R, R_c = model.matrices(raw, False).eval, copies.matrices(raw_c, False).eval
    torch.testing.assert_close(R_c, R[index])


@pytest.mark.parametrize("per_sample", [True, False])
def test_eft_refinement_lowers_the_2d_loss_and_leaves_the_members(world, data, skeleton, per_sample):
    model = _tiny_regressor(data)
    before = [p.detach().clone() for p in model.parameters()]
    n = 4
    out = refine_regressor_2d(model, skeleton, data.keypoints[:n], *_targets(world, n), "cmu31",
                              per_sample=per_sample, steps=8, lr=3e-3, evaluations=4)
    assert out.rotations.shape == (2, n, 31, 3, 3) and out.shape.shape == (2, n, 6)
    assert out.curve_steps.tolist() == [0, 2, 4, 6, 8] and out.curve.shape == (5, 2)
    assert bool((out.curve[-1] < 0.9 * out.curve[0]).all()), out.curve
    assert not bool(out.diverged.any())
    for p, q in zip(model.parameters(), before):  # the trained weights are untouched
        assert torch.equal(p.detach(), q)
    torch.testing.assert_close(out.rotations.mT @ out.rotations, torch.eye(3).expand_as(out.rotations),
                               atol=1e-5, rtol=0)
    # PRoM's loss matrices leave SO(3), 6D's (r_GS) do not
    assert float(PF._so3_distance(out.pseudo[1]).min()) > 1e-4
    assert float(PF._so3_distance(out.pseudo[0]).max()) < 1e-5
    if per_sample:  # each (member, sample) copy is fine-tuned alone: a subset gives the same rotations
        part = refine_regressor_2d(model, skeleton, data.keypoints[1:3], *(a[1:3] for a in _targets(world, n)),
                                   "cmu31", per_sample=True, steps=8, lr=3e-3, evaluations=4)
        torch.testing.assert_close(part.rotations, out.rotations[:, 1:3], atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- experiments


def test_fit_2d_frame(tiny_ctx):
    f = PF.fit_2d(tiny_ctx, fit_samples=4, fit_steps=2, pve_samples=3, **TINY).frame
    assert {"parametrisation", "key", "seed", "stage", "mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "reproj_px",
            "reproj_unortho_px", "so3_dist_pseudo", "so3_dist_rot", "mpjpe_unortho_mm", "pa_mpjpe_unortho_mm",
            "better_mpjpe_frac", "fit_diverged", "paper_mpjpe_mm"} <= set(f.columns)
    assert len(f) == 2 * 3 * 2 and set(f["stage"]) == {"before", "after"}
    before, after = f[f["stage"] == "before"], f[f["stage"] == "after"]
    assert before.groupby("seed")["mpjpe_mm"].nunique().eq(1).all()  # both fits start from one prediction
    assert (after["fit_diverged"] == 0).all()
    start, end = before.set_index(["key", "seed"]), after.set_index(["key", "seed"])
    assert (end["reproj_px"] < start["reproj_px"]).all() and (end["mpjpe_mm"] < start["mpjpe_mm"]).all()
    # the mechanism columns: PRoM's loss matrices leave SO(3), every final rotation is in it
    prom, six = after[after["key"] == "prom"], after[after["key"] == "6d"]
    assert (prom["so3_dist_pseudo"] > 1e-4).all() and (six["so3_dist_pseudo"] < 1e-5).all()
    assert (f["so3_dist_rot"] < 1e-5).all() and (before["so3_dist_pseudo"] < 1e-5).all()
    np.testing.assert_allclose(six["mpjpe_unortho_mm"], six["mpjpe_mm"], atol=1e-3)  # 6D: the same matrices
    np.testing.assert_allclose(before["reproj_unortho_px"], before["reproj_px"])
    table = PF.table_fit_2d(f)
    assert len(table) == 3 and "distance of loss matrices from SO(3)" in table
    expected_claims = [f"fitting 2D with PRoM gives a lower {w} than with 6D" for w in ("MPJPE", "PA-MPJPE", "PVE")]
    expected_claims += ["the 2D fit (6D) lowers the 3D MPJPE of the start",
                        "the 2D fit (PRoM) lowers the 3D MPJPE of the start",
                        "PRoM's fit is better than 6D's on most samples"]
    mechanism = ["PRoM's fitted loss matrices fit 2D better than its projected rotations",
                 "the final SVD lowers the MPJPE of PRoM's fitted loss matrices",
                 "the final SVD lowers the PA-MPJPE of PRoM's fitted loss matrices"]
    for tolerance in (C.ConvergenceRule().tolerance, math.inf):  # the default rule; nothing ever "moving"
        rule = C.ConvergenceRule(tolerance=tolerance)
        claims = PF.claims_fit_2d(f, rule=rule)
        assert list(claims["claim"]) == expected_claims
        mech = PF.claims_fit_2d_mechanism(f, rule=rule)
        assert list(mech["claim"]) == mechanism
        mv = {k: _moving(after.loc[after["key"] == k, "curve_fit_loss"], rule) for k in ("6d", "prom")}
        per_seed = {m: after.pivot(index="seed", columns="key", values=m) for m in
                    ("mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "reproj_px", "reproj_unortho_px", "mpjpe_unortho_mm",
                     "pa_mpjpe_unortho_mm")}
        expected = [expected_paired(per_seed[m]["prom"], per_seed[m]["6d"], mv["prom"] + mv["6d"])
                    for m in ("mpjpe_mm", "pa_mpjpe_mm", "pve_mm")]
        start_mpjpe = before[before["key"] == "6d"].sort_values("seed")["mpjpe_mm"]
        expected += [expected_paired(per_seed["mpjpe_mm"][k], start_mpjpe, mv[k]) for k in ("6d", "prom")]
        better = after.pivot(index="seed", columns="key", values="better_mpjpe_frac")["prom"]
        expected.append("not converged" if any(mv["prom"] + mv["6d"]) else
                        "holds" if (better > 0.5).all() else "does not hold" if (better < 0.5).all() else "inconclusive")
        assert list(claims["verdict"]) == expected
        p = {m: per_seed[m]["prom"] for m in per_seed}
        assert list(mech["verdict"]) == [expected_paired(p["reproj_unortho_px"], p["reproj_px"], mv["prom"]),
                                         expected_paired(p["mpjpe_mm"], p["mpjpe_unortho_mm"], mv["prom"]),
                                         expected_paired(p["pa_mpjpe_mm"], p["pa_mpjpe_unortho_mm"], mv["prom"])]
    # the fit leaves SO(3) to fit 2D: its loss matrices reproject better than its rotations, every seed
    assert PF.claims_fit_2d_mechanism(f, rule=C.ConvergenceRule(tolerance=math.inf))["verdict"].iloc[0] == "holds"


def test_fit_2d_sweep_rows_columns_and_cells(tiny_ctx):
    lrs, grid = (3e-3, 1e-2), (1, 2)
    f = PF.fit_2d_sweep(tiny_ctx, fit_lrs=lrs, fit_steps_grid=grid, sweep_samples=4, **TINY).frame
    assert len(f) == 2 * len(lrs) * len(grid) * 3
    assert {"parametrisation", "key", "seed", "fit_lr", "fit_steps", "mpjpe_mm", "pa_mpjpe_mm", "reproj_px",
            "reproj_unortho_px", "so3_dist_pseudo", "start_mpjpe_mm", "curve_fit_loss"} <= set(f.columns)
    assert sorted(set(f["fit_lr"])) == list(lrs) and sorted(set(f["fit_steps"])) == list(grid)
    for _, row in f.iterrows():
        steps, loss = C.read_curve(row["curve_fit_loss"])
        assert list(steps) == list(range(row["fit_steps"] + 1)) and loss[-1] < loss[0]
    # the cell at prom.fit_2d's settings is prom.fit_2d (same samples, same trajectory, stopped there)
    ref = PF.fit_2d(tiny_ctx, fit_samples=4, fit_steps=2, fit_lr=1e-2, pve_samples=3, **TINY).frame
    ref = ref[ref["stage"] == "after"].set_index(["key", "seed"]).sort_index()
    cell = f[(f["fit_lr"] == 1e-2) & (f["fit_steps"] == 2)].set_index(["key", "seed"]).sort_index()
    for c in ("mpjpe_mm", "pa_mpjpe_mm", "reproj_px", "reproj_unortho_px", "so3_dist_pseudo"):
        np.testing.assert_allclose(cell[c], ref[c], rtol=1e-4, atol=1e-4)
    table = PF.table_fit_2d_sweep(f)
    assert len(table) == 2 * len(lrs) and [c for c in table if c.endswith("steps")] == ["1 steps", "2 steps"]
    best = PF.best_fit_2d_sweep(f)
    means = f.groupby(["key", "fit_lr", "fit_steps"])["mpjpe_mm"].mean()
    for key in ("6d", "prom"):
        b = best[(best["metric"] == "mpjpe_mm") & (best["parametrisation"] == VARIANTS[key].label)].iloc[0]
        assert (b["best fit_lr"], b["best fit_steps"]) == means[key].idxmin()
    claims = PF.claims_fit_2d_sweep(f, rule=C.ConvergenceRule(tolerance=math.inf))
    assert len(claims) == 4 and set(claims["metric"]) == {"mpjpe_mm", "pa_mpjpe_mm"}
    for _, row in claims.iterrows():
        sub = f if "best cell" in row["where"] else f[f["fit_steps"] == max(grid)]
        per = {}
        for key in ("6d", "prom"):
            g = sub[sub["key"] == key]
            lr_, st = g.groupby(["fit_lr", "fit_steps"])[row["metric"]].mean().idxmin()
            per[key] = g[(g["fit_lr"] == lr_) & (g["fit_steps"] == st)].sort_values("seed")[row["metric"]]
        assert row["verdict"] == expected_paired(per["prom"].to_numpy(), per["6d"].to_numpy())
    # a 2-step fit's loss is still falling: with the default rule the verdicts say so
    assert set(PF.claims_fit_2d_sweep(f)["verdict"]) == {"not converged"}


def test_fit_2d_eft_frame_and_claims(tiny_ctx):
    f = PF.fit_2d_eft(tiny_ctx, eft_samples=3, eft_steps=3, eft_lr=1e-3, dataset_samples=4, dataset_steps=3,
                      dataset_lr=1e-3, pve_samples=2, **TINY).frame
    assert len(f) == 2 * 2 * 3 * 2  # modes x parametrisations x seeds x stages
    assert set(f["mode"]) == {"per_sample", "dataset"} and set(f["n_samples"]) == {3, 4}
    after = f[f["stage"] == "after"]
    for _, row in after.iterrows():
        steps, loss = C.read_curve(row["curve_fit_loss"])
        assert steps[0] == 0 and steps[-1] == 3 and loss[-1] < loss[0], (row["mode"], row["key"], loss)
    assert (after["fit_diverged"] == 0).all() and (f["so3_dist_rot"] < 1e-5).all()
    assert (after.loc[after["key"] == "prom", "so3_dist_pseudo"] > 0).all()
    assert (after.loc[after["key"] == "6d", "so3_dist_pseudo"] < 1e-5).all()
    # each parametrisation starts from its own regressor: the 6D and PRoM "before" rows differ
    b = f[(f["stage"] == "before") & (f["mode"] == "dataset")].pivot(index="seed", columns="key", values="mpjpe_mm")
    assert (b["6d"] != b["prom"]).all()
    assert after.loc[after["mode"] == "dataset", "paper_pa_mpjpe_mm"].notna().all()
    assert len(PF.table_fit_2d_eft(f)) == 8
    claims = PF.claims_fit_2d_eft(f, rule=C.ConvergenceRule(tolerance=math.inf))
    per_mode = ([f"refining the regressor with PRoM gives a lower {w} than with 6D" for w in ("MPJPE", "PA-MPJPE", "PVE")]
                + ["refining on 2D (6D) lowers the regressor's MPJPE", "refining on 2D (PRoM) lowers the regressor's MPJPE",
                   "PRoM's fitted loss matrices fit 2D better than its projected rotations",
                   "the final SVD lowers the MPJPE of PRoM's fitted loss matrices",
                   "the final SVD lowers the PA-MPJPE of PRoM's fitted loss matrices"])
    assert list(claims["claim"]) == per_mode * 2
    for mode in ("per_sample", "dataset"):
        g = f[f["mode"] == mode]
        a, bf = (g[g["stage"] == s].pivot(index="seed", columns="key", values="mpjpe_mm") for s in ("after", "before"))
        got = claims[claims["where"].str.contains(mode)]
        assert got["verdict"].iloc[0] == expected_paired(a["prom"], a["6d"])
        assert got["verdict"].iloc[3] == expected_paired(a["6d"], bf["6d"])
        assert got["verdict"].iloc[4] == expected_paired(a["prom"], bf["prom"])
    # three steps: still moving under the default rule
    assert set(PF.claims_fit_2d_eft(f)["verdict"]) == {"not converged"}
