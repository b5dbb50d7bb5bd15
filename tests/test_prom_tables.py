"""Tests for the PRoM tables: the ensemble training machinery (posebook.models.training) and the
experiments of posebook.experiments.prom, at minimal sizes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from posebook.experiments import prom as P
from posebook.experiments import run_experiment
from posebook.geometry.rotations import geodesic_distance
from posebook.models.training import (
    EnsembleLinear,
    cpu_threads,
    fit,
    member_generators,
)
from posebook.runs import make_context

F64 = torch.float64


# ------------------------------------------------------------------------- ensemble machinery


def test_ensemble_linear_is_m_independent_linear_layers():
    layer = EnsembleLinear(member_generators([3, 4, 5]), 6, 2, dtype=F64)
    x = torch.randn(3, 7, 6, generator=torch.Generator().manual_seed(0), dtype=F64)
    out = layer(x)
    assert out.shape == (3, 7, 2)
    bound = 1 / math.sqrt(6)
    assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    for m in range(3):
        ref = torch.nn.Linear(6, 2, dtype=F64)
        with torch.no_grad():
            ref.weight.copy_(layer.weight[m].T)
            ref.bias.copy_(layer.bias[m])
        torch.testing.assert_close(out[m], ref(x[m]), atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match=r"expects \(M=3, \.\.\., 6\)"):
        layer(torch.zeros(2, 7, 6, dtype=F64))


def test_member_initialisation_depends_only_on_its_seed():
    alone = EnsembleLinear(member_generators([7]), 5, 4)
    mixed = EnsembleLinear(member_generators([1, 7, 7]), 5, 4)
    for m in (1, 2):
        assert torch.equal(mixed.weight[m], alone.weight[0]) and torch.equal(mixed.bias[m], alone.bias[0])
    assert not torch.equal(mixed.weight[0], alone.weight[0])


def _regression(members: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    W0 = torch.randn(members, 4, 2, generator=gen, dtype=F64)
    b0 = torch.randn(members, 2, generator=gen, dtype=F64)
    x = torch.randn(members, 16, 4, generator=gen, dtype=F64)
    y = torch.randn(members, 16, 2, generator=gen, dtype=F64)
    return W0, b0, x, y


def test_fit_per_member_adam_equals_torch_adam_per_model():
    """Each member of the stack follows torch.optim.Adam on its own model, with its own lr."""
    lrs = [1e-3, 1e-2, 5e-2]
    W0, b0, x, y = _regression(3)
    W, b = torch.nn.Parameter(W0.clone()), torch.nn.Parameter(b0.clone())

    def loss_fn(step):
        return ((torch.baddbmm(b[:, None], x, W) - y) ** 2).mean(dim=(1, 2)) * (1 + step % 3)

    fit([W, b], loss_fn, steps=25, lr=torch.tensor(lrs, dtype=F64))
    for m, lr in enumerate(lrs):
        Wm, bm = torch.nn.Parameter(W0[m].clone()), torch.nn.Parameter(b0[m].clone())
        opt = torch.optim.Adam([Wm, bm], lr=lr)
        for step in range(25):
            opt.zero_grad()
            (((x[m] @ Wm + bm - y[m]) ** 2).mean() * (1 + step % 3)).backward()
            opt.step()
        torch.testing.assert_close(W[m], Wm, atol=1e-12, rtol=0)
        torch.testing.assert_close(b[m], bm, atol=1e-12, rtol=0)


def _train_three(steps: int, poison_from: int | None):
    W0, b0, x, y = _regression(3, seed=1)
    W = torch.nn.Parameter(W0.clone())

    def loss_fn(step):
        loss = ((x @ W - y) ** 2).mean(dim=(1, 2))
        if poison_from is not None and step >= poison_from:
            loss = loss * torch.tensor([1.0, math.nan, 1.0], dtype=F64)
        return loss

    def eval_fn():
        return {"err": ((x @ W - y) ** 2).mean(dim=(1, 2))}

    return W, fit([W], loss_fn, steps=steps, lr=1e-2, eval_fn=eval_fn, eval_every=5)


def test_fit_records_a_nan_member_and_the_others_are_untouched():
    clean_w, clean = _train_three(20, None)
    early_w, _ = _train_three(5, None)
    poisoned_w, poisoned = _train_three(20, poison_from=5)  # member 1's loss is NaN from step index 5
    assert clean.diverged_step == [None, None, None]
    assert poisoned.diverged_step == [None, 6, None]  # the 6th optimisation step was the bad one
    assert poisoned.diverged == [False, True, False]
    for m in (0, 2):  # members never interact: bitwise the same as without the NaN
        assert torch.equal(poisoned_w[m], clean_w[m])
    assert torch.equal(poisoned_w[1], early_w[1])  # frozen at its last finite weights
    assert math.isnan(float(poisoned.final["err"][1])) and not math.isnan(float(poisoned.final["err"][0]))
    hist = poisoned.history
    assert list(hist.columns) == ["step", "member", "train_loss", "err"]
    assert sorted(set(hist["step"])) == [0, 5, 10, 15, 20]
    late = hist[(hist["member"] == 1) & (hist["step"] >= 10)]
    assert late["err"].isna().all() and late["train_loss"].isna().all()
    assert hist[(hist["member"] == 1) & (hist["step"] == 5)]["err"].notna().all()


def test_fit_catches_nonfinite_gradients_behind_a_finite_loss():
    w = torch.nn.Parameter(torch.ones(2, 3, dtype=F64))

    def loss_fn(step):
        # d/dw sqrt(w - w) = inf * 0 = NaN, while the value is 0: only the gradient is bad.
        return torch.stack([(w[0] ** 2).sum(), torch.sqrt(w[1] - w[1]).sum()])

    out = fit([w], loss_fn, steps=4, lr=0.1)
    assert out.diverged_step == [None, 1]
    assert torch.equal(w[1].detach(), torch.ones(3, dtype=F64))
    assert torch.isfinite(w).all() and (w[0] < 1).all()


def test_fit_marks_members_whose_metrics_turn_nonfinite():
    w = torch.nn.Parameter(torch.zeros(3, 2, dtype=F64))
    calls = []

    def eval_fn():
        calls.append(1)
        value = torch.zeros(3, dtype=F64)
        if len(calls) >= 3:
            value[2] = math.inf
        return {"metric": value}

    out = fit([w], lambda step: (w - 1).square().sum(dim=1), steps=8, lr=0.1, eval_fn=eval_fn, eval_every=4)
    assert out.diverged_step == [None, None, 8]
    assert math.isnan(float(out.final["metric"][2]))
    with pytest.raises(ValueError, match=r"per-member losses"):
        fit([w], lambda step: (w - 1).square().sum(), steps=1, lr=0.1)


def test_cpu_threads_restores_the_setting():
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


# ------------------------------------------------------------------------------------- data


def test_axis_angle_sampling_is_uniform_in_angle_not_haar():
    n = 20000
    gen = torch.Generator().manual_seed(0)
    R = P.sample_rotations(n, gen, "axis_angle", dtype=F64)
    torch.testing.assert_close(R.mT @ R, torch.eye(3, dtype=F64).expand(n, 3, 3), atol=1e-12, rtol=0)
    angle = geodesic_distance(R, torch.eye(3, dtype=F64)).numpy()
    assert stats.kstest(angle, stats.uniform(0, math.pi).cdf).pvalue > 0.01
    haar = P.sample_rotations(n, torch.Generator().manual_seed(0), "haar", dtype=F64)
    haar_angle = geodesic_distance(haar, torch.eye(3, dtype=F64)).numpy()
    # Haar angle density (1 - cos a) / pi  ->  CDF (a - sin a) / pi; mean pi/2 + 2/pi (126.5 deg).
    assert stats.kstest(haar_angle, lambda a: (a - np.sin(a)) / math.pi).pvalue > 0.01
    assert stats.kstest(angle, lambda a: (a - np.sin(a)) / math.pi).pvalue < 1e-6
    assert abs(np.degrees(haar_angle.mean()) - np.degrees(math.pi / 2 + 2 / math.pi)) < 1.0
    with pytest.raises(ValueError, match="sampling must be"):
        P.sample_rotations(2, gen, "uniform")


def test_farthest_point_sampling_on_a_line():
    pts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0], [10, 0, 0]])
    # Centroid at x = 3.2, so x = 10 comes first; then x = 0 (farthest from 10); then, with distances to
    # the nearest chosen point 1, 2 and 3 for x = 1, 2, 3, the point x = 3.
    assert P.farthest_point_indices(pts, 3).tolist() == [4, 0, 3]
    with pytest.raises(ValueError, match=r"k must be in \[1, 5\]"):
        P.farthest_point_indices(pts, 6)


# ------------------------------------------------------------------------------ experiments

TABLE_2A_COLUMNS = ["variant", "representation", "seed", "lr", "mean_deg", "max_deg", "std_deg", "median_deg",
                    "diverged", "diverged_step", "paper_mean_deg", "paper_max_deg", "paper_std_deg", "steps"]


def test_autoencoder_tiny_run(tmp_path):
    res = run_experiment("prom.autoencoder", out=tmp_path, steps=5, hidden=8, test_samples=64)
    f = res.frame
    assert list(f.columns) == TABLE_2A_COLUMNS
    assert len(f) == 5 * 3 and set(f["seed"]) == {0, 1, 2}
    assert f[["mean_deg", "max_deg", "std_deg"]].notna().all().all() and not f["diverged"].any()
    assert (f["max_deg"] >= f["mean_deg"]).all() and (f["max_deg"] <= 180).all()
    paper = f.groupby("representation")["paper_mean_deg"].first()
    assert paper["6d"] == 0.49 and paper["prom"] == 0.37 and paper["euler"] == 6.98
    assert res.meta["data_source"].startswith("synthetic")
    table = P.table_2a(f)
    assert list(table["representation"]) == ["Axis-Angle", "Euler", "Quat", "6D", "PRoM"]
    assert set(P.claims_table_2a(f)["verdict"]) <= {"holds", "does not hold", "inconclusive"}


@pytest.mark.slow  # builds Anny bodies (~3 s with a warm cache)
def test_pointcloud_tiny_run(tmp_path):
    res = run_experiment("prom.pointcloud", out=tmp_path, steps=3, points=8, train_bodies=4, test_bodies=2,
                         test_rotations=4, representations=("6d", "prom"))
    f = res.frame
    assert list(f.columns) == TABLE_2A_COLUMNS and len(f) == 2 * 3
    assert f["mean_deg"].notna().all()
    assert list(f.groupby("representation", sort=False)["paper_mean_deg"].first()) == [2.85, 2.13]
    assert "Anny" in res.meta["data_source"]


@pytest.mark.slow
def test_body_point_clouds_are_centred_bodies():
    clouds = P.body_point_clouds(3, 50, torch.Generator().manual_seed(0))
    assert clouds.shape == (3, 50, 3)
    torch.testing.assert_close(clouds.mean(dim=1), torch.zeros(3, 3), atol=1e-5, rtol=0)
    height = clouds[..., 1].amax(dim=1) - clouds[..., 1].amin(dim=1)  # y up
    assert ((height > 1.0) & (height < 2.3)).all()


def test_lr_sweep_records_divergence_as_nan_without_crashing(tmp_path):
    res = run_experiment("prom.lr_sweep", out=tmp_path, steps=5, representations=("6d", "prom"), lrs=(1e-3, 1e6))
    f = res.frame
    assert len(f) == 2 * 2 * 3
    absurd = f[(f["representation"] == "prom") & (f["lr"] == 1e6)]
    assert absurd["diverged"].all() and absurd["mean_deg"].isna().all() and absurd["diverged_step"].notna().all()
    sane = f[f["lr"] == 1e-3]
    assert not sane["diverged"].any() and sane["mean_deg"].notna().all()
    table = P.table_3b(f)
    row = table[table["lr"] == "1e+06"].iloc[0]
    assert row["PRoM ours (deg)"] == "NaN" and row["PRoM diverged"] == "3/3"
    assert row["PRoM paper (mm)"] == "not run"
    assert table[table["lr"] == "0.001"].iloc[0]["PRoM ours (deg)"] != "NaN"
    # A stored result keeps the NaN (CSV round trip through the result store).
    again = run_experiment("prom.lr_sweep", out=tmp_path, steps=5, representations=("6d", "prom"), lrs=(1e-3, 1e6))
    assert again.frame["mean_deg"].isna().sum() == f["mean_deg"].isna().sum()


def test_training_curves_tiny_run_share_initial_weights(tmp_path):
    res = run_experiment("prom.training_curves", out=tmp_path, steps=6, evaluations=3)
    f = res.frame
    assert {"variant", "representation", "seed", "lr", "step", "train_loss", "mean_deg"} <= set(f.columns)
    assert sorted(set(f["step"])) == [0, 2, 4, 6]
    assert set(f["variant"]) == {"6D", "6D*", "SVD", "PRoM", "PRoM+"}
    assert set(f[f["variant"] == "PRoM+"]["lr"]) == {3e-3}
    start = f[f["step"] == 0].set_index(["variant", "seed"])["mean_deg"]
    for a, b in (("6D", "6D*"), ("SVD", "PRoM"), ("PRoM", "PRoM+")):
        np.testing.assert_array_equal(start[a].to_numpy(), start[b].to_numpy())
    assert not np.array_equal(start["6D"].to_numpy(), start["PRoM"].to_numpy())
    claims = P.claims_training_curves(f)
    assert len(claims) == 4 and set(claims["verdict"]) <= {"holds", "does not hold", "inconclusive"}


def test_a_member_trains_the_same_alone_and_in_an_ensemble():
    ctx = make_context("quick", device="cpu", seed=0)
    sizes = dict(P._SIZES["autoencoder"]["quick"], hidden=16, test=128)
    alone = [P.Member("6D", "6d", 1, 1e-3)]
    mixed = [P.Member("PRoM", "prom", 0, 1e-2), P.Member("6D", "6d", 1, 1e-3), P.Member("Euler", "euler", 2, 1e-3)]
    a = P.train_members(ctx, "autoencoder", alone, steps=30, sizes=sizes)
    b = P.train_members(ctx, "autoencoder", mixed, steps=30, sizes=sizes)
    for key in ("mean_deg", "max_deg", "std_deg"):
        torch.testing.assert_close(a.final[key][0], b.final[key][1], atol=1e-4, rtol=1e-5)


# ------------------------------------------------------------------------------ verdicts


def test_paired_verdict():
    assert P.paired_verdict([1, 2, 3], [2, 3, 4]) == "holds"
    assert P.paired_verdict([3, 4, 5], [2, 3, 4]) == "does not hold"
    assert P.paired_verdict([1, 4, 3], [2, 3, 4]) == "inconclusive"
    assert P.paired_verdict([1, 2], [1, 3]) == "inconclusive"  # a tie is not a win
    assert P.paired_verdict([1, 2], [math.nan, 3]) == "holds"  # a diverged run is infinitely bad
    assert P.paired_verdict([math.nan, 2], [1, 3]) == "inconclusive"
    with pytest.raises(ValueError, match="paired"):
        P.paired_verdict([1, 2], [1])


def _sweep_frame(diverged: dict, error: dict) -> pd.DataFrame:
    rows = []
    for (rep, lr), flags in diverged.items():
        for seed, flag in enumerate(flags):
            rows.append({"variant": P.LABELS[rep], "representation": rep, "seed": seed, "lr": lr,
                         "mean_deg": math.nan if flag else error[(rep, lr)][seed], "diverged": flag})
    return pd.DataFrame(rows)


def test_claims_table_3b_on_the_papers_own_pattern():
    """Fed the paper's Table 3b pattern, every claim holds; fed the opposite, none does."""
    lrs = (1e-4, 2e-4, 5e-4, 8e-4)
    paper_div = {(r, lr): [lr > 1e-4] * 2 for r in ("6d", "svd") for lr in lrs}
    paper_div.update({("prom", lr): [lr == 8e-4] * 2 for lr in lrs})
    err = {("6d", 1e-4): [58.3, 58.0], ("svd", 1e-4): [56.7, 56.0], ("prom", 1e-4): [54.8, 54.0],
           ("prom", 2e-4): [53.4, 53.0], ("prom", 5e-4): [52.6, 52.0]}
    claims = P.claims_table_3b(_sweep_frame(paper_div, err))
    assert list(claims["verdict"]) == ["holds"] * 6
    none_div = {k: [False, False] for k in paper_div}
    err_all = {k: [50.0, 50.0] for k in paper_div}
    err_all.update({("prom", 1e-4): [60.0, 61.0]})
    claims = P.claims_table_3b(_sweep_frame(none_div, err_all))
    assert list(claims["verdict"]) == ["does not hold", "holds", "does not hold", "does not hold",
                                       "does not hold", "holds"]
    assert claims["ours"].iloc[0] == "0 of 12 runs diverged"


def test_summarize_propagates_nan_and_matches_numpy():
    f = pd.DataFrame({"variant": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2,
                      "mean_deg": [1.0, 2.0, 4.0, 1.0, math.nan, 3.0], "diverged": [False] * 4 + [True, False]})
    s = P.summarize(f, ["variant"], metrics=("mean_deg",)).set_index("variant")
    assert s.loc["a", "mean_deg"] == pytest.approx(7 / 3)
    assert s.loc["a", "mean_deg_sd"] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    assert s.loc["a", "mean_deg ± sd"] == "2.33 ± 1.53"
    assert math.isnan(s.loc["b", "mean_deg"]) and s.loc["b", "mean_deg ± sd"] == "NaN"
    assert s.loc["b", "diverged"] == 1 and s.loc["a", "seeds"] == 3
