"""The PersPose table experiments end to end at a tiny size: rows, verdicts, caching, the two placements,
with and without the CMU data."""

from __future__ import annotations

import pytest

from posebook.experiments import run_experiment
from posebook.experiments.perspose import common, tables

pytestmark = pytest.mark.slow

TINY = dict(world_size=200, steps=4)


def test_ablation_and_phi_procedural(isolated, monkeypatch):
    monkeypatch.delenv("POSEBOOK_CMU_DIR", raising=False)
    out = isolated / "results"
    ab = run_experiment("perspose.ablation", out=out, **TINY)
    frame = ab.frame
    assert list(frame["variant"].unique()) == list(tables.TABLE_VARIANTS)
    assert set(frame["test_set"]) == {"wide", "narrow"}
    assert frame[["mpjpe_mm", "pa_mpjpe_mm", "depth_mm", "depth_model_mm", "uv_px"]].notna().all().all()
    # without PR the network's frame is the camera's: both depth errors agree
    plain = frame[frame["variant"] != "pe_pr"]
    assert (plain["depth_mm"] - plain["depth_model_mm"]).abs().max() < 1e-3
    # the narrow world keeps subjects near the axis
    phis = frame.groupby("test_set")["median_phi_deg"].first()
    assert phis["narrow"] < phis["wide"]
    assert "procedural" in ab.meta["data_source"]
    verdicts = tables.claims_ablation(frame, ab.meta)
    assert len(verdicts) == 9
    assert set(verdicts["verdict"]) <= {"holds", "does not hold", "inconclusive", "not converged"}
    assert list((out / "_artifacts" / "perspose.network").glob("*.pt"))
    assert run_experiment("perspose.ablation", out=out, **TINY).reused

    # The cross-paper table trains only its two new rows (CI, CI+PE+PR): the others are Table 2's networks.
    networks = out / "_artifacts" / "perspose.network"
    before = len(list(networks.glob("*.pt")))
    xp = run_experiment("perspose.cross_paper", out=out, **TINY)
    assert list(xp.frame["variant"].unique()) == list(tables.CROSS_PAPER_VARIANTS)
    assert len(list(networks.glob("*.pt"))) == before + 2
    same = xp.frame[xp.frame["variant"].isin(tables.TABLE_VARIANTS)].reset_index(drop=True)
    assert same["mpjpe_mm"].tolist() == frame["mpjpe_mm"].tolist()
    assert (xp.frame.set_index(["variant", "test_set"]).loc["ci", "mpjpe_mm"]
            != xp.frame.set_index(["variant", "test_set"]).loc["baseline", "mpjpe_mm"]).all()
    judged = tables.claims_cross_paper(xp.frame, xp.meta)
    assert len(judged) == 12 and set(judged["paper"]) == {"cross-paper"}

    ph = run_experiment("perspose.phi", out=out, world_size=TINY["world_size"])
    assert set(ph.frame["set"]) == {"train", "narrow", "wide"}
    assert ph.frame["phi_deg"].between(0, 90).all()


def test_bad_parameters_are_refused_before_any_work(isolated):
    with pytest.raises(ValueError, match="variants"):
        run_experiment("perspose.ablation", out=isolated, variants=("baseline", "hybrik"))
    with pytest.raises(ValueError, match="unknown PersPose variant"):
        common.variant_of("pe+pr")
