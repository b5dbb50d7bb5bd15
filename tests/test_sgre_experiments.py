"""The SGRE experiments end to end at a tiny size: tables, verdicts, caching, the occluded test set,
with and without the CMU data."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from posebook.analysis.chains import chain_errors
from posebook.experiments import run_experiment
from posebook.experiments.sgre import common, tables
from posebook.runs import make_context

pytestmark = pytest.mark.slow

TINY = dict(world_size=240, steps=6)


def test_ablation_chains_and_verdicts_procedural(isolated, monkeypatch):
    monkeypatch.delenv("POSEBOOK_CMU_DIR", raising=False)
    out = isolated / "results"
    ab = run_experiment("sgre.ablation", out=out, **TINY)
    frame = ab.frame
    assert list(frame["variant"].unique()) == list(tables.PAPER_VARIANTS)
    assert set(frame["test_set"]) == {"all", "occluded"}
    assert frame[["mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "mpjae_deg", "mpjae_relative_deg"]].notna().all().all()
    # only the heads with a keypoint branch report a keypoint error
    with_kp = frame.groupby("variant")["keypoint_px"].apply(lambda s: s.notna().all())
    assert with_kp.to_dict() == {"relative": False, "global": False, "global_seq": False, "sgre": True,
                                 "relative_pp": True}
    # the occluded copies are other images: the same regressor's numbers move
    sgre = frame[frame["variant"] == "sgre"].set_index("test_set")
    assert sgre.loc["all", "keypoint_px"] != sgre.loc["occluded", "keypoint_px"]
    assert "procedural" in ab.meta["data_source"] and "occluder" in ab.meta["data_source"]
    verdicts = pd.concat([tables.claims_ablation(frame, ab.meta), tables.claims_components(frame, ab.meta),
                          tables.claims_mpjae(frame, ab.meta)])
    assert len(verdicts) == 6 + 4 + 3
    assert set(verdicts["verdict"]) <= {"holds", "does not hold", "inconclusive", "not converged"}
    assert list((out / "_artifacts" / "sgre.regressor").glob("*.pt"))
    assert not list((out / "_artifacts").glob("sgre.checkpoint/*.pt"))
    assert run_experiment("sgre.ablation", out=out, **TINY).reused

    ch = run_experiment("sgre.chains", out=out, **TINY)
    assert set(ch.frame["chain"]) == {"root->head", "root->toe", "root->hand"}
    assert set(ch.frame["variant"]) == {"relative", "sgre"}
    ends = ch.frame[(ch.frame["depth"] == 0)]
    assert (ends["position_mm"].abs() < 1e-6).all()  # root-aligned: no error at the root
    assert len(tables.claims_chains(ch.frame, ch.meta)) == 3


def test_chain_errors_of_a_perfect_prediction_are_zero(isolated, cmu_dir):
    """``chains_of`` on the ground truth itself (a regressor that predicts the labels) gives zeros."""
    ctx = make_context("quick", device="cpu", seed=0, cmu_dir=cmu_dir)
    data = common.load_data(ctx, dict(common.SGRE["quick"], world_size=240, test_samples=20))
    test = data.test.image
    heads, _ = common.skeleton(torch.device("cpu"))(test.rotations, test.shape)
    frame = chain_errors(test.rotations, test.rotations, heads, heads)
    assert frame[["position_mm", "global_deg", "relative_deg"]].abs().max().max() < 1e-3
    # the occluders cover some joints, not all
    assert 0.0 < float(data.occluded_joints.float().mean()) < 1.0
    # the pivots are the projected bone heads: the root's lies inside its crop
    assert float(data.test.pivots[:, 0].abs().max()) < 1.0


def test_runtime_rows(isolated):
    rt = run_experiment("sgre.runtime", out=isolated / "results", batch=4)
    assert list(rt.frame["method"]) == ["Relative baseline", "SGRE (level order)", "SGRE (joint order, official)"]
    assert (rt.frame[["feature_s", "regression_s", "mesh_s"]] > 0).all().all()
    # the two SGRE decoders hold the same parameters
    assert rt.frame["head_parameters"].iloc[1] == rt.frame["head_parameters"].iloc[2]


def test_bad_parameters_are_refused_before_any_work(isolated):
    with pytest.raises(ValueError, match="variants"):
        run_experiment("sgre.ablation", out=isolated, variants=("relative", "hybrik"))
    with pytest.raises(ValueError, match="batch"):
        run_experiment("sgre.runtime", out=isolated, batch=-1)
    with pytest.raises(ValueError, match="unknown SGRE variant"):
        common.head_of("pare")
