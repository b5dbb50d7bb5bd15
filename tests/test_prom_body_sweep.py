"""Tests for posebook.analysis.blowup and posebook.experiments.prom.body_sweep (PRoM Table 3b on the
body regressor).

Independent routes: |r''_2| against the cross-product form |t1 x t2| / |t1| and against the r_GS
Jacobian norm it controls (posebook.analysis.gradients); the det < 0 gap against matrices built with
known singular values and against svd_denominators; vectorised gradient norms against a per-member
loop; the table and claims against constructed frames, recomputed with numpy.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from posebook.analysis import gradients as grads
from posebook.analysis.blowup import (
    BlowupRecorder,
    gs_residual_norm,
    masked_min,
    member_grad_norms,
    svd_negative_det_gap,
)
from posebook.experiments.prom import body_sweep as S
from posebook.geometry.rotations import random_rotation
from posebook.models.body_regressor import BodyRegressor, RegressionData, Variant

F64 = torch.float64


# ------------------------------------------------------------------------------ diagnostics


def test_gs_residual_norm_is_small_for_nearly_collinear_columns(gen):
    t1 = torch.tensor([[2.0, 0.0, 0.0]], dtype=F64)
    eps = torch.tensor([1e-1, 1e-3, 1e-6], dtype=F64)
    t2 = torch.stack([torch.full_like(eps, 3.0), eps, torch.zeros_like(eps)], dim=-1)
    torch.testing.assert_close(gs_residual_norm(t1.expand_as(t2), t2), eps)  # r''_2 = (0, eps, 0)
    # random columns: |r''_2| = |t1 x t2| / |t1|
    a, b = torch.randn(100, 3, generator=gen, dtype=F64), torch.randn(100, 3, generator=gen, dtype=F64)
    expected = torch.linalg.vector_norm(torch.linalg.cross(a, b, dim=-1), dim=-1) / torch.linalg.vector_norm(a, dim=-1)
    torch.testing.assert_close(gs_residual_norm(a, b), expected)
    # what it explains (PRoM Eq. 6): |dr'_2/dt'_1| = max(1, |cot a|) / |t1| grows like |t2| / (|t1| |r''_2|)
    jac = grads.r2_jacobian_norm(t1.expand_as(t2), t2)
    torch.testing.assert_close(jac * gs_residual_norm(t1.expand_as(t2), t2), torch.full_like(eps, 3.0 / 2.0),
                               rtol=1e-2, atol=0)


def _matrix(s: tuple[float, float, float], det: float, gen: torch.Generator) -> torch.Tensor:
    U = random_rotation(1, generator=gen, dtype=F64)[0]
    V = random_rotation(1, generator=gen, dtype=F64)[0] @ torch.diag(torch.tensor([1.0, 1.0, det], dtype=F64))
    return U @ torch.diag(torch.tensor(s, dtype=F64)) @ V.T


@pytest.mark.parametrize("gap", [0.3, 1e-3, 1e-6])
def test_svd_gap_of_a_constructed_matrix(gen, gap):
    s = (2.0, 0.5 + gap / 2, 0.5 - gap / 2)
    M = torch.stack([_matrix(s, -1.0, gen), _matrix(s, 1.0, gen)])
    g, negative = svd_negative_det_gap(M)
    assert negative.tolist() == [True, False]
    torch.testing.assert_close(g, torch.tensor([gap, gap], dtype=F64), atol=1e-9, rtol=1e-6)
    # for det < 0 it is the smallest denominator of the proper g_SVD backward; for det > 0 it is not
    den = grads.svd_denominators(M, proper=True).min_sum
    torch.testing.assert_close(den[0], g[0], atol=1e-9, rtol=1e-6)
    assert float(den[1]) == pytest.approx(s[1] + s[2])


def test_masked_min_ignores_masked_and_nonfinite_values():
    values = torch.tensor([[3.0, 1.0, math.nan], [2.0, math.inf, 5.0]])
    keep = torch.tensor([[True, False, True], [False, False, False]])
    assert masked_min(values, keep).tolist() == [3.0, math.inf]


def test_member_grad_norms_against_a_loop(gen):
    params = [torch.nn.Parameter(torch.zeros(3, 4, 5, dtype=F64)), torch.nn.Parameter(torch.zeros(3, 7, dtype=F64)),
              torch.nn.Parameter(torch.zeros(3, 2, dtype=F64))]
    params[0].grad = torch.randn(3, 4, 5, generator=gen, dtype=F64)
    params[1].grad = torch.randn(3, 7, generator=gen, dtype=F64)  # params[2] has no gradient
    loop = [math.sqrt(sum(float((p.grad[m] ** 2).sum()) for p in params if p.grad is not None)) for m in range(3)]
    assert member_grad_norms(params).tolist() == pytest.approx(loop)
    with pytest.raises(ValueError, match="after backward"):
        member_grad_norms([torch.nn.Parameter(torch.zeros(2, 2))])


def test_recorder_spikes_gradients_and_divergence():
    rec = BlowupRecorder(2, window=50, spike_factor=10.0, min_window=10)
    for step in range(30):
        losses = torch.tensor([20.0 if step == 20 else 1.0, math.nan if step == 5 else 2.0])
        norms = torch.tensor([float(step), 100.0 * step])
        rec.step(step, losses, norms)
        rec.minimum("x", torch.tensor([float(-step)]), torch.tensor([1]))
        rec.maximum("y", torch.tensor([float(step), float(step)]), torch.tensor([0, 1]))
    assert rec.spikes.tolist() == [1, 0] and rec.max_loss_ratio[0] == pytest.approx(20.0)
    # member 1 diverged at step 5 (1-based 6): nothing after it counts
    assert rec.alive.tolist() == [True, False]
    assert rec.max_grad_norm.tolist() == [29.0, 400.0] and rec.max_grad_step.tolist() == [30, 5]
    assert rec.stat("x").tolist()[1] == -4.0 and math.isnan(rec.stat("x")[0])  # member 0 never listed
    assert rec.stat("y").tolist() == [29.0, 4.0]
    assert torch.isnan(rec.stat("unknown")).all()


# -------------------------------------------------------------------------------- monitor


def test_monitor_records_per_member_diagnostics(gen):
    """make_monitor on a small regressor (no body model): gradient norm per member against a loop,
    |r''_2| / det < 0 gap / sigma_1 against the raw outputs recomputed from the model's forward."""
    K, B = 5, 4
    variants = [Variant("6D", "6d"), Variant("SVD", "svd"), Variant("PRoM", "prom"), Variant("6D", "6d")]
    model = BodyRegressor(variants, [0, 0, 0, 1], K, hidden=8, iterations=1, dtype=F64)
    with torch.no_grad():  # leave the mean pose: raw outputs of every sign, so some det < 0
        model.feedback[-1].weight.normal_(std=5.0, generator=gen)
        model.feedback[-1].bias.normal_(std=5.0, generator=gen)
    keypoints = torch.randn(len(variants), B, K, 2, generator=gen, dtype=F64)
    batch = RegressionData(keypoints, torch.zeros(0), torch.zeros(0), torch.zeros(0), "cmu31")
    raw, beta = model(keypoints)
    ((raw ** 2).flatten(1).sum(1) * torch.arange(1.0, 5.0, dtype=F64) + beta.flatten(1).sum(1)).sum().backward()
    rec = BlowupRecorder(model.members)
    S.make_monitor(model, rec, diagnose_every=1)(0, batch, torch.ones(model.members, dtype=F64))
    loop = [math.sqrt(sum(float((p.grad[m] ** 2).sum()) for p in model.parameters())) for m in range(model.members)]
    assert rec.max_grad_norm.tolist() == pytest.approx(loop)
    raw = raw.detach()
    for m in (0, 3):  # 6D: columns of [m00, m01, m10, m11, m20, m21]
        t = raw[m, ..., :6].reshape(B, -1, 3, 2)
        cross = torch.linalg.vector_norm(torch.linalg.cross(t[..., 0], t[..., 1], dim=-1), dim=-1)
        assert float(rec.stat("min_r2_norm")[m]) == pytest.approx(float((cross / t[..., 0].norm(dim=-1)).min()))
    M = raw[1].reshape(B, -1, 3, 3)
    s, det = torch.linalg.svdvals(M), torch.linalg.det(M)
    assert bool((det < 0).any())
    assert float(rec.stat("min_svd_gap_neg_det")[1]) == pytest.approx(float((s[..., 1] - s[..., 2])[det < 0].min()))
    assert float(rec.stat("neg_det_frac")[1]) == pytest.approx(float((det < 0).double().mean()))
    assert float(rec.stat("max_raw_sigma1")[2]) == pytest.approx(float(torch.linalg.svdvals(raw[2].reshape(B, -1, 3, 3))[..., 0].max()))
    # a diagnostic is NaN where the head has no such quantity
    assert math.isnan(rec.stat("min_r2_norm")[1]) and math.isnan(rec.stat("min_svd_gap_neg_det")[0])
    assert math.isnan(rec.stat("max_raw_sigma1")[0])


# -------------------------------------------------------------------------- table / claims


def _curve(final: float, moving: bool = False) -> str:
    """A learning curve at 0, 50, 100 steps that ends at ``final``: flat over the last quarter, or not."""
    values = [2 * final, final * (1.5 if moving else 1.0), final]
    return json.dumps([[s, None if math.isnan(v) else v] for s, v in zip((0, 50, 100), values)])


def _frame(diverge: dict, pa: dict, moving: frozenset = frozenset(), factors=(1.0, 2.0, 5.0, 8.0)) -> pd.DataFrame:
    """One row per (key, factor, seed 0-2); ``diverge[(key, factor)]``: the seeds that diverged;
    ``pa[key]``: its PA-MPJPE at x1 (+1 mm per factor step, + seed / 10)."""
    rows = []
    labels = {"6d": ("6D", "6d"), "svd": ("SVD", "svd"), "prom": ("PRoM", "prom")}
    for key, (label, rep) in labels.items():
        for k, f in enumerate(factors):
            for seed in range(3):
                bad = seed in diverge.get((key, f), ())
                v = math.nan if bad else pa[key] + k + seed / 10
                rows.append({"variant": label, "key": key, "representation": rep, "lr_factor": f, "seed": seed,
                             "pa_mpjpe_mm": v, "mpjpe_mm": v * 1.5, "diverged": bad,
                             "diverged_step": 7 if bad else None, "max_grad_norm": 1.0 + 10 * k,
                             "loss_spikes": int(bad), "min_r2_norm": 0.1 if rep == "6d" else math.nan,
                             "min_svd_gap_neg_det": 0.01 if rep == "svd" else math.nan,
                             "max_raw_sigma1": 1.5 if rep == "prom" else math.nan,
                             "curve_mpjpe_mm": _curve(v * 1.5, (key, f) in moving),
                             "curve_pa_mpjpe_mm": _curve(v, (key, f) in moving), "base_lr": 1e-3, "steps": 100})
    frame = pd.DataFrame(rows)
    frame["diverged_step"] = frame["diverged_step"].astype("Int64")
    return frame


#: The paper's pattern: 6D and SVD NaN above 1e-4, PRoM only at 8e-4, PRoM better.
PAPER_PATTERN = {(k, f): (0, 1, 2) for k in ("6d", "svd") for f in (2.0, 5.0, 8.0)} | {("prom", 8.0): (0, 1, 2)}


def test_table_layout_against_numpy():
    frame = _frame({**PAPER_PATTERN, ("prom", 8.0): (1,)}, {"6d": 60.0, "svd": 58.0, "prom": 50.0})
    table = S.table_body_lr_sweep(frame)
    assert table["method"].tolist() == ["6D", "SVD", "PRoM"]
    prom = table.set_index("method").loc["PRoM"]
    v = frame[(frame["key"] == "prom") & (frame["lr_factor"] == 2.0)]["pa_mpjpe_mm"].to_numpy()
    assert prom["ours x2 (lr 2e-03)"] == f"{v.mean():.1f} ± {v.std(ddof=1):.1f}"
    assert prom["ours x8 (lr 8e-03)"] == "NaN (1/3 seeds)"
    assert table.set_index("method").loc["6D", "ours x5 (lr 5e-03)"] == "NaN (3/3 seeds)"
    assert prom["paper lr 5e-04"] == "52.6" and prom["paper lr 8e-04"] == "NaN"
    assert table.set_index("method").loc["SVD", "paper lr 1e-04"] == "56.7"
    diag = S.table_body_lr_diagnostics(frame).set_index(["method", "lr factor"])
    assert diag.loc[("6D", "x2"), "diverged"] == "3/3" and diag.loc[("6D", "x2"), "first diverged step"] == 7
    assert diag.loc[("PRoM", "x1"), "min |r''_2|"] == "–" and diag.loc[("PRoM", "x1"), "max s1 (PRoM)"] == "1.5"


def _verdicts(claims: pd.DataFrame) -> dict[str, str]:
    return dict(zip(claims["claim"], claims["verdict"]))


def test_claims_on_the_papers_pattern_hold():
    v = _verdicts(S.claims_body_lr_sweep(_frame(PAPER_PATTERN, {"6d": 60.0, "svd": 58.0, "prom": 50.0})))
    assert set(v.values()) == {"holds"}, v
    assert len(v) == 12  # 2 NaN counts for 6D/SVD, 2 for PRoM, 2 tolerance, 2 at x1, 4 PRoM at x2/x5 vs x1


def test_claims_when_nothing_diverges_say_so():
    frame = _frame({}, {"6d": 60.0, "svd": 58.0, "prom": 62.0})
    claims = S.claims_body_lr_sweep(frame)
    v = _verdicts(claims)
    first = claims.iloc[0]
    assert first["verdict"] == "does not hold" and "not reproduced" in first["ours"]
    assert v["PRoM trains without NaN up to x5"] == "holds"
    assert v["PRoM gives NaN at x8"] == "does not hold"
    # no run diverged anywhere: which breaks first cannot be told
    assert v["PRoM tolerates larger learning rates than 6D (it first diverges at a larger factor)"] == "inconclusive"
    assert v["At x1 PRoM's PA-MPJPE is below 6D's"] == "does not hold"  # 62 > 60 for every seed


def test_claims_are_not_converged_while_a_run_that_could_still_diverge_moves():
    pattern = {k: s for k, s in PAPER_PATTERN.items() if k != ("svd", 8.0)}
    frame = _frame(pattern, {"6d": 60.0, "svd": 58.0, "prom": 50.0}, moving=frozenset({("svd", 8.0)}))
    claims = S.claims_body_lr_sweep(frame)
    assert claims.iloc[0]["verdict"] == "not converged" and "still moving" in claims.iloc[0]["ours"]
    # without the moving run the same numbers are final
    settled = S.claims_body_lr_sweep(_frame(pattern, {"6d": 60.0, "svd": 58.0, "prom": 50.0}))
    assert settled.iloc[0]["verdict"] == "inconclusive"


# ------------------------------------------------------------------------------ end to end


from fixtures_bodies import tiny_ctx, tiny_env  # noqa: E402, F401

TINY = dict(world_size=48, steps=12, batch=8, hidden=16, iterations=1, evaluations=2, diagnose_every=2)




@pytest.mark.slow  # builds the Anny model and trains
def test_tiny_sweep_end_to_end(tiny_ctx):
    frame = S.body_lr_sweep(tiny_ctx, variants=("6d", "svd", "prom"), lr_factors=(1.0, 5.0, 1e5), **TINY).frame
    assert len(frame) == 3 * 3 * 3 and set(frame["lr_factor"]) == {1.0, 5.0, 1e5}
    assert frame["lr"].tolist() == pytest.approx((frame["lr_factor"] * 1e-3).tolist())
    # PRoM at lr 100: the pseudo matrices blow up through the kinematic chain; recorded, never raised
    huge = frame[(frame["key"] == "prom") & (frame["lr_factor"] == 1e5)]
    assert huge["diverged"].all() and huge["diverged_step"].notna().all()
    assert (huge["diverged_step"] <= TINY["steps"]).all()
    assert huge["mpjpe_mm"].isna().all() and huge["pa_mpjpe_mm"].isna().all()
    ok = frame[frame["lr_factor"] == 5.0]
    assert not ok["diverged"].any() and ok["pa_mpjpe_mm"].notna().all()
    # training helps: the final test MPJPE beats the untrained start (the curve's step 0)
    for cell in ok["curve_mpjpe_mm"]:
        pairs = json.loads(cell)
        assert pairs[0][0] == 0 and pairs[-1][0] == TINY["steps"] and pairs[-1][1] < pairs[0][1]
    # diagnostics where the head has them, NaN where it does not
    assert (frame["max_grad_norm"] > 0).all() and (frame["max_grad_step"] >= 1).all()
    is_6d, is_svd, is_prom = (frame["key"] == k for k in ("6d", "svd", "prom"))
    assert (frame.loc[is_6d, "min_r2_norm"] > 0).all() and frame.loc[~is_6d, "min_r2_norm"].isna().all()
    assert frame.loc[is_svd, "neg_det_frac"].between(0, 1).all() and frame.loc[~is_svd, "neg_det_frac"].isna().all()
    assert (frame.loc[is_prom & (frame["lr_factor"] < 1e5), "max_raw_sigma1"] > 0).all()
    assert frame["paper_pa_mpjpe_mm"][(frame["key"] == "6d") & (frame["lr_factor"] == 1.0)].eq(58.3).all()
    assert frame["curve_max_grad_norm"].map(lambda c: len(json.loads(c))).eq(TINY["evaluations"]).all()
    table = S.table_body_lr_sweep(frame).set_index("method")
    assert table.loc["PRoM", "ours x100000 (lr 1e+02)"] == "NaN (3/3 seeds)"
    claims = S.claims_body_lr_sweep(frame)
    # no x2 / x8 runs: no "PRoM gives NaN at x8" and no "PRoM at x2 beats" rows
    assert len(claims) == 9 and "PRoM gives NaN at x8" not in set(claims["claim"])
    assert not claims["claim"].str.contains("x2 beats").any()


def test_unknown_variant_and_bad_factor_are_clear_errors(tiny_ctx):
    with pytest.raises(ValueError, match="unknown variant"):
        S.body_lr_sweep(tiny_ctx, variants=("6d", "rot6d"), **TINY)
    from posebook.experiments.registry import REGISTRY

    with pytest.raises(ValueError, match="lr_factors"):
        REGISTRY["prom.body_lr_sweep"].checks["lr_factors"]("lr_factors", (1.0, -2.0))
