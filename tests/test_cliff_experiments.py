"""The CLIFF experiments end to end at a tiny size: tables, verdicts, caching, resume after an interruption,
with and without the CMU data."""

from __future__ import annotations

import pandas as pd
import pytest

from posebook.experiments import run_experiment
from posebook.experiments.cliff import common, tables
from posebook.models import cliff as cliff_model

pytestmark = pytest.mark.slow

TINY = dict(world_size=240, steps=12)


def test_ablation_and_focal_procedural(isolated, monkeypatch):
    monkeypatch.delenv("POSEBOOK_CMU_DIR", raising=False)
    out = isolated / "results"
    t2 = run_experiment("cliff.ablation", out=out, **TINY)
    assert list(t2.frame["variant"]) == ["hmr", "no_ci", "cliff"]
    assert t2.frame[["mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "global_rot_deg"]].notna().all().all()
    assert "procedural" in t2.meta["data_source"]
    verdicts = tables.claims_ablation(t2.frame, t2.meta)
    assert len(verdicts) == 6 and set(verdicts["verdict"]) <= {"holds", "does not hold", "inconclusive", "not converged"}
    # the trained regressors are artifacts; their checkpoints are gone once stored
    assert list((out / "_artifacts" / "cliff.regressor").glob("*.pt"))
    assert not list((out / "_artifacts").glob("cliff.checkpoint/*.pt"))
    again = run_experiment("cliff.ablation", out=out, **TINY)
    assert again.reused
    fo = run_experiment("cliff.focal", out=out, factors=(0.5, 1.0, 2.0), **TINY)
    assert list(fo.frame["focal"]) == ["0.5 f_GT", "1 f_GT", "2 f_GT", "sqrt(W^2+H^2)"]
    assert fo.frame.loc[fo.frame["factor"] == 1.0, "mpjpe_increase"].abs().max() < 1e-9
    assert len(tables.claims_focal(fo.frame, fo.meta)) == 1


def test_training_resumes_after_an_interruption(isolated, monkeypatch, cmu_dir):
    """An experiment killed mid-training resumes from its checkpoint and ends with the numbers of an
    uninterrupted run."""
    params = dict(variants=("cliff",), **TINY)
    clean = run_experiment("cliff.ablation", out=isolated / "clean", cmu_dir=cmu_dir, **params)

    calls = {"n": 0}
    real = cliff_model.losses

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 8:  # a checkpoint is written every 12 // 10 = 1 step
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(cliff_model, "losses", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment("cliff.ablation", out=isolated / "resumed", cmu_dir=cmu_dir, **params)
    assert list((isolated / "resumed" / "_artifacts" / "cliff.checkpoint").glob("*.pt"))
    monkeypatch.setattr(cliff_model, "losses", real)
    resumed = run_experiment("cliff.ablation", out=isolated / "resumed", cmu_dir=cmu_dir, **params)
    assert "CMU" in resumed.meta["data_source"]
    numbers = ["mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "global_rot_deg"]
    pd.testing.assert_frame_equal(resumed.frame[numbers], clean.frame[numbers])


def test_bad_parameters_are_refused_before_any_work(isolated):
    with pytest.raises(ValueError, match="variants"):
        run_experiment("cliff.ablation", out=isolated, variants=("hmr", "vitpose"))
    with pytest.raises(ValueError, match="factors"):
        run_experiment("cliff.focal", out=isolated, factors=(1.0, -2.0))
    with pytest.raises(ValueError, match="unknown CLIFF variant"):
        common.variant_of("spin")
