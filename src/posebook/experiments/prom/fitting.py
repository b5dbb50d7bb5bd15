"""PRoM Table 2b (Eq. 37) on the synthetic world: refine rotations to fit 2D keypoints only.

Starting from a trained keypoint regressor's prediction (:mod:`posebook.experiments.prom.bodies`,
trained members come from the artifact cache), per-sample rotations are optimised to fit the 2D
keypoints only (Adam, :func:`posebook.optim.keypoints_2d.fit_keypoints_2d`), parametrised as 6D
(r_GS in the loss) or as PRoM (the 9 numbers as they are; SVD once at the end). The camera is known:
the world's K and the ground-truth root translation (not solved); the phenotypes stay at the
regressor's prediction. 3D errors before and after.
"""

from __future__ import annotations

import math
from typing import Optional

import pandas as pd
import torch

from posebook import claims as C
from posebook.experiments.prom.bodies import (
    _BODY_CHECKS,
    BODY,
    VARIANTS,
    _better_fraction,
    _moving,
    _paper_triplet,
    _pve_indices,
    _variants,
    evaluate_members,
    make_setup,
    train_members,
)
from posebook.experiments.prom.paper import PAPER_TABLE_2B
from posebook.experiments.registry import ExperimentResult, experiment
from posebook.geometry.camera import project
from posebook.optim.keypoints_2d import fit_keypoints_2d
from posebook.parameters import positive
from posebook.report import by_seed, summarize
from posebook.runs import RunContext, cpu_threads, small_ops_threads

__all__ = ["fit_2d", "table_fit_2d", "claims_fit_2d"]


@experiment("prom.fit_2d", checks={**_BODY_CHECKS, "fit_lr": positive})
def fit_2d(ctx: RunContext, init: str = "6d", parametrisations: tuple = ("6d", "prom"), fit_samples: int = 0,
           fit_steps: int = 0, fit_lr: float = 1e-2, world_size: int = 0, steps: int = 0, batch: int = 0,
           lr: float = 0.0, hidden: int = 0, iterations: int = 0, pve_samples: int = 0, train_frac: float = 0.8,
           input_joints: str = "cmu31", eval_joints: str = "h36m17") -> ExperimentResult:
    """PRoM Table 2b / Eq. 37 on the synthetic world: refine rotations to fit 2D keypoints only.

    For each seed, the regressor ``init`` ("6d" or "prom", trained as in ``prom.body_regression``)
    predicts ``fit_samples`` test samples (evenly spaced); from that same start, every
    parametrisation is optimised (Adam, ``fit_steps`` steps, ``fit_lr``) on the squared reprojection
    error of the ``input_joints`` keypoints in bbox units, with the world's K and the ground-truth
    root translation fixed, phenotypes fixed at the prediction. One row per (parametrisation, seed,
    stage "before"/"after"): MPJPE, PA-MPJPE, PVE (mm), 2D error (px) after the final
    orthogonalisation and of the matrices the loss saw (``reproj_unortho_px``: PRoM's pseudo
    matrices), and the fraction of samples with a lower MPJPE than the 6D fit. Paper columns:
    Table 2b (CLIFF* vs CLIFF* + PRoM on 3DPW). Sizes: :data:`BODY` (0 = the profile's value).
    """
    sizes = ctx.sizes(BODY, world_size=world_size, steps=steps, batch=batch, lr=lr, hidden=hidden,
                      iterations=iterations, pve_samples=pve_samples, fit_samples=fit_samples, fit_steps=fit_steps)
    if init not in ("6d", "prom"):
        raise ValueError(f"init must be '6d' or 'prom', got {init!r}")
    named = _variants(parametrisations)
    seeds = ctx.seeds()
    setup = make_setup(ctx, sizes["world_size"], train_frac=train_frac, input_joints=input_joints,
                       eval_joints=eval_joints)
    model, trained = train_members(ctx, setup, [VARIANTS[init]], seeds, sizes)
    diverged = [t["diverged_step"] for t in trained]
    test = setup.test
    idx = _pve_indices(len(test), sizes["fit_samples"])
    S, n = len(seeds), len(idx)
    dev = setup.test_data.keypoints.device
    with cpu_threads(small_ops_threads(dev)):
        R0, beta = model.predict(setup.test_data.keypoints[idx.to(dev)])  # (S, n, ...)
        # Seeds stacked along the sample axis: every sample is fitted independently.
        tile = lambda x: x[idx].to(dev, torch.float32).repeat(S, *([1] * (x.dim() - 1)))  # noqa: E731
        K, root, uv = tile(test.K), tile(test.root), tile(test.keypoints2d[input_joints])
        scale = tile(test.bbox_size)
        before = evaluate_members(setup, R0, beta, sizes["pve_samples"], samples=idx)
        shape_flat = beta.flatten(0, 1)

        def reproj_px(R: torch.Tensor) -> torch.Tensor:
            uv_hat = project(setup.skeleton.joints(R, shape_flat, input_joints, root), K)
            return (uv_hat - uv).norm(dim=-1).mean(-1).double().cpu().reshape(S, n)

        px_before = reproj_px(torch.nan_to_num(R0.flatten(0, 1)))
        results = {}
        for name, v in named:
            fitted = fit_keypoints_2d(setup.skeleton, torch.nan_to_num(R0.flatten(0, 1)), shape_flat, root, K, uv,
                                      scale, input_joints, v.representation, steps=sizes["fit_steps"],
                                      lr=fit_lr, inference_ortho=v.inference_ortho)
            R1 = fitted.rotations.reshape(S, n, 31, 3, 3)
            results[name] = (v, evaluate_members(setup, R1, beta, sizes["pve_samples"], samples=idx),
                             reproj_px(torch.nan_to_num(fitted.rotations)), fitted.diverged.reshape(S, n),
                             reproj_px(torch.nan_to_num(fitted.pseudo)),
                             C.curve_json(range(len(fitted.loss)), fitted.loss.tolist()))
    rows = []
    base_after = results.get("6d")
    for j, s in enumerate(seeds):
        start_bad = diverged[j] is not None
        for name, (v, err, px, div, px_pseudo, fit_curve) in results.items():
            for stage, e, p, q in (("before", before, px_before, px_before), ("after", err, px, px_pseudo)):
                row = {"parametrisation": v.label, "key": name, "seed": s, "stage": stage, "init": init,
                       "mpjpe_mm": float(e["mpjpe"][j].mean()), "pa_mpjpe_mm": float(e["pa_mpjpe"][j].mean()),
                       "pve_mm": float(e["pve"][j].mean()) if e["pve"].shape[1] else math.nan,
                       "reproj_px": float(p[j].mean()), "reproj_unortho_px": float(q[j].mean()),
                       "fit_diverged": int(div[j].sum()) if stage == "after" else 0,
                       "curve_fit_loss": fit_curve if stage == "after" else ""}
                if start_bad:  # the regressor this seed starts from diverged: nothing to fit
                    row.update(mpjpe_mm=math.nan, pa_mpjpe_mm=math.nan, pve_mm=math.nan, reproj_px=math.nan,
                               reproj_unortho_px=math.nan)
                row["better_mpjpe_frac"] = (_better_fraction(e["mpjpe"][j], base_after[1]["mpjpe"][j])
                                            if stage == "after" and base_after is not None and name != "6d"
                                            else math.nan)
                rows.append(row)
    frame = pd.DataFrame(rows)
    frame["steps"], frame["fit_steps"], frame["fit_lr"], frame["n_samples"] = sizes["steps"], sizes["fit_steps"], fit_lr, n
    frame["camera"] = "world K, ground-truth root translation (not solved)"
    for k, metric in enumerate(("mpjpe", "pa_mpjpe", "pve")):
        frame[f"paper_{metric}_mm"] = [PAPER_TABLE_2B.get(key, (math.nan,) * 3)[k] if st == "after" else math.nan
                                       for key, st in zip(frame["key"], frame["stage"])]
    frame["paper_reference"] = "PRoM Table 2b: CLIFF* / CLIFF* + PRoM with 2D ground truth on 3DPW (paper's)"
    return ExperimentResult(frame, setup.data_source + f"; 2D fit on {n} test samples")


# ----------------------------------------------------------------------------- presentation


def table_fit_2d(frame: pd.DataFrame, decimals: int = 1) -> pd.DataFrame:
    """Table 2b layout: per parametrisation, ours before / after the fit (mean ± sd over seeds) beside
    the paper's CLIFF* numbers (MPJPE / PA-MPJPE / MPVPE, mm)."""
    s = summarize(frame.assign(fit_diverged=frame["fit_diverged"].astype(float)),
                  ["parametrisation", "key", "stage"],
                  metrics=("mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "reproj_px", "reproj_unortho_px"), decimals=decimals)
    s = s.sort_values("stage", key=lambda c: c.map({"before": 0, "after": 1}), kind="stable")
    before = s[s["stage"] == "before"].iloc[:1]
    rows = [{"": "start (regressor prediction)", "MPJPE": before["mpjpe_mm ± sd"].iloc[0],
             "PA-MPJPE": before["pa_mpjpe_mm ± sd"].iloc[0], "PVE": before["pve_mm ± sd"].iloc[0],
             "2D error (px)": before["reproj_px ± sd"].iloc[0], "2D error, loss matrices (px)": "–",
             "paper (Table 2b)": "–"}] if len(before) else []
    for _, r in s[s["stage"] == "after"].iterrows():
        paper = PAPER_TABLE_2B.get(r["key"])
        rows.append({"": f"after the 2D fit, {r['parametrisation']}", "MPJPE": r["mpjpe_mm ± sd"],
                     "PA-MPJPE": r["pa_mpjpe_mm ± sd"], "PVE": r["pve_mm ± sd"],
                     "2D error (px)": r["reproj_px ± sd"], "2D error, loss matrices (px)": r["reproj_unortho_px ± sd"],
                     "paper (Table 2b)": "–" if paper is None else _paper_triplet(paper)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ claims


def claims_fit_2d(frame: pd.DataFrame, meta: Optional[dict] = None, rule: C.ConvergenceRule = C.ConvergenceRule()
                  ) -> pd.DataFrame:
    """Table 2b claims judged seed by seed: fitting with PRoM gives lower 3D errors than with 6D; and
    (implicit in any 2D refinement) the fit lowers the 3D error of the start. "Not converged" when the
    2D fit's loss (``curve_fit_loss``, the mean reprojection loss per step) is still moving."""
    ev, where = C.Evidence.of(frame, meta), "Table 2b (2D fit)"
    after = frame[frame["stage"] == "after"]

    def moving(*keys: str) -> list[bool]:
        return _moving(after, "fit_loss", rule, key=keys[0]) + (_moving(after, "fit_loss", rule, key=keys[1])
                                                               if len(keys) > 1 else [])

    rows = []
    for metric, word, paper in (("mpjpe_mm", "MPJPE", "52.8 -> 49.5"), ("pa_mpjpe_mm", "PA-MPJPE", "32.8 -> 29.9"),
                                ("pve_mm", "PVE", "61.5 -> 56.9")):
        rows.append(C.judge_paired(C.Claim("PRoM", where, f"fitting 2D with PRoM gives a lower {word} than with 6D",
                                           metric, "lower", paper + " mm"),
                                   "PRoM", by_seed(after, metric, key="prom"), "6D", by_seed(after, metric, key="6d"),
                                   moving=moving("prom", "6d"), evidence=ev, decimals=1, unit=" mm"))
    before = frame[(frame["stage"] == "before") & (frame["key"] == frame["key"].iloc[0])]
    for key in dict.fromkeys(after["key"]):
        label = after[after["key"] == key]["parametrisation"].iloc[0]
        rows.append(C.judge_paired(C.Claim("PRoM", where, f"the 2D fit ({label}) lowers the 3D MPJPE of the start",
                                           "mpjpe_mm", "lower", "implied (SMPLify-style refinement)"),
                                   "after", by_seed(after, "mpjpe_mm", key=key), "before",
                                   by_seed(before, "mpjpe_mm"), moving=moving(key), evidence=ev, decimals=1, unit=" mm"))
    fr = by_seed(after, "better_mpjpe_frac", key="prom")
    if len(fr):
        rows.append(C.judge_threshold(C.Claim("PRoM", where, "PRoM's fit is better than 6D's on most samples",
                                              "better_mpjpe_frac", "higher", "–"), fr, 0.5,
                                      moving=moving("prom", "6d"), evidence=ev))
    return pd.DataFrame(rows)
