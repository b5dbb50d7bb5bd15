"""posebook.report: per-seed summaries and the quick rerun beside the reference run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from posebook import report
from posebook.runs import StoredResult, curve_json


def _runs(offset: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"variant": ["A", "A", "B", "B"], "seed": [0, 1, 0, 1],
                         "err": [1.0 + offset, 3.0 + offset, 2.0, 4.0], "diverged": [False] * 4})


def _table(frame: pd.DataFrame) -> pd.DataFrame:
    s = report.summarize(frame, ["variant"], metrics=("err",), decimals=1)
    return pd.DataFrame({"variant": s["variant"], "ours err": s["err ± sd"], "paper err": ["0.5", "0.7"]})


def test_by_seed_sorts_and_refuses_duplicates():
    frame = _runs().iloc[::-1]
    assert report.by_seed(frame, "err", variant="A").tolist() == [1.0, 3.0]
    with pytest.raises(ValueError, match="more than one row per seed"):
        report.by_seed(pd.concat([frame, frame]), "err", variant="A")


def test_summarize_is_mean_and_sample_sd_over_seeds():
    s = report.summarize(_runs(), ["variant"], metrics=("err",))
    assert s["err"].tolist() == [2.0, 3.0]
    assert s["err_sd"].tolist() == pytest.approx([np.std([1, 3], ddof=1), np.std([2, 4], ddof=1)])
    assert s.loc[0, "err ± sd"] == "2.00 ± 1.41" and s["seeds"].tolist() == [2, 2]
    nan = _runs().assign(err=[1.0, math.nan, 2.0, 4.0])
    assert report.summarize(nan, ["variant"], metrics=("err",)).loc[0, "err ± sd"] == "NaN"


def test_beside_puts_quick_and_reference_columns_in_pairs():
    out = report.beside(_table, _runs(), _runs(offset=-0.5), on="variant")
    assert list(out.columns) == ["variant", "quick err", "reference err", "paper err"]
    assert out["quick err"].tolist() == ["2.0 ± 1.4", "3.0 ± 1.4"]
    assert out["reference err"].tolist() == ["1.5 ± 1.4", "3.0 ± 1.4"]
    alone = report.beside(_table, _runs(), None, on="variant")
    assert list(alone.columns) == ["variant", "quick err", "paper err"]


def test_verdicts_beside_matches_claims_and_says_when_there_is_no_reference():
    quick = pd.DataFrame({"claim": ["x", "y"], "paper value": ["1", "2"], "verdict": ["not converged", "holds"],
                          "ours": ["a", "b"]})
    ref = pd.DataFrame({"claim": ["y"], "verdict": ["does not hold"], "ours": ["c"]})
    out = report.verdicts_beside(quick, ref)
    assert out["reference"].tolist() == ["–", "does not hold"] and out["reference numbers"].tolist() == ["–", "c"]
    assert report.verdicts_beside(quick, None)["reference"].tolist() == ["no reference yet"] * 2


def test_reference_line_names_the_run_or_its_absence():
    assert "none committed yet" in report.reference_line(None)
    meta = {"profile": "long", "device": "cpu", "device_name": "x86_64", "threads": 2, "git_commit": "abcdef123+dirty",
            "wall_s": 2460.0, "created_utc": "2026-12-01T08:00:00+00:00", "data_source": "synthetic",
            "experiment_module": "posebook.experiments.prom.tables", "code_hash": "0" * 12}
    line = report.reference_line(StoredResult(pd.DataFrame(), meta, Path("x.csv")))
    assert line.startswith("reference: long profile, cpu (x86_64) 2 threads, commit abcdef1+dirty, 41 min, 2026-12-01")
    assert "OLDER version" in line and line.endswith("data: synthetic")


def test_curves_is_a_tidy_frame_of_every_learning_curve():
    frame = pd.DataFrame({"variant": ["A", "B"], "seed": [0, 0],
                          "curve_err": [curve_json([0, 10], [5.0, 1.0]), curve_json([0, 10], [6.0, math.nan])]})
    out = report.curves(frame, "curve_err")
    assert out[["variant", "step"]].values.tolist() == [["A", 0], ["A", 10], ["B", 0], ["B", 10]]
    assert out["value"].tolist()[:3] == [5.0, 1.0, 6.0] and math.isnan(out["value"].iloc[3])


def test_gather_verdicts_judges_each_run_and_says_which_run_it_was(monkeypatch):
    from posebook import claims as C

    frame = pd.DataFrame({"seed": [0, 1], "a": [1.0, 2.0], "b": [3.0, 4.0]})
    run = StoredResult(frame, {"profile": "long", "created_utc": "2026-12-01T10:00:00+00:00"}, Path("x.csv"))
    monkeypatch.setattr(StoredResult, "is_current", lambda self: False)

    def claims(f, meta):
        claim = C.Claim("P", "Table 1", "a is lower than b", "a")
        return pd.DataFrame([C.judge_paired(claim, "a", f["a"].to_numpy(), "b", f["b"].to_numpy(), evidence=C.Evidence.of(f, meta))])

    out = report.gather_verdicts({"x.one": claims, "x.none": claims}, lambda name: run if name == "x.one" else None)
    assert out["verdict"].tolist() == ["holds", "no run yet"]
    assert out.loc[0, "run"] == "long profile, 2026-12-01, OLDER code" and out.loc[0, "where"] == "Table 1"
    counts = report.verdict_counts(out, C.VERDICTS)
    assert counts.to_dict() == {"holds": 1, "does not hold": 0, "inconclusive": 0, "not converged": 0, "no run yet": 1}
