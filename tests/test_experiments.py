"""The experiment registry: validation, resume, provenance; and the CLI on top of it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from posebook import cli
from posebook.experiments import REGISTRY, ExperimentResult, experiment, get_experiment, run_experiment

CALLS: list[dict] = []


@pytest.fixture
def counting_experiment():
    @experiment("test.counting")
    def counting(ctx, n: int = 3, scale: float = 1.0, tags: tuple = ("a",), flag: bool = False):
        """Counts its calls (to check resume)."""
        CALLS.append({"n": n})
        frame = pd.DataFrame({"i": range(n), "x": [scale * i for i in range(n)]})
        return ExperimentResult(frame, data_source="synthetic: counting")

    CALLS.clear()
    yield "test.counting"
    del REGISTRY["test.counting"]


def test_unknown_experiment_suggests_close_names():
    with pytest.raises(ValueError, match="did you mean|Did you mean"):
        get_experiment("geometry.orthogonalisation_noise")


def test_unknown_parameter_is_named(counting_experiment, tmp_path):
    with pytest.raises(ValueError, match=r"no parameter 'nn' \(did you mean 'n'\?\)"):
        run_experiment(counting_experiment, out=tmp_path, nn=3)
    with pytest.raises(ValueError, match="cannot read 'three' as int"):
        run_experiment(counting_experiment, out=tmp_path, n="three")


def test_run_stores_and_resumes(counting_experiment, tmp_path):
    first = run_experiment(counting_experiment, out=tmp_path, n="4", tags="x,y", flag="true")
    assert len(first.frame) == 4 and len(CALLS) == 1
    again = run_experiment(counting_experiment, out=tmp_path, n=4, tags=("x", "y"), flag=True)
    assert len(CALLS) == 1, "a stored result must be reused, not recomputed"
    pd.testing.assert_frame_equal(first.frame, again.frame)
    run_experiment(counting_experiment, out=tmp_path, n=4, tags=("x", "y"), flag=True, resume=False)
    assert len(CALLS) == 2
    meta = json.loads(first.path.with_suffix(".json").read_text())
    assert meta["data_source"] == "synthetic: counting" and meta["params"]["n"] == 4


def test_cli_list_run_and_errors(counting_experiment, tmp_path, capsys):
    assert cli.main(["list"]) == 0
    assert "test.counting" in capsys.readouterr().out
    assert cli.main(["run", counting_experiment, "--out", str(tmp_path), "-p", "n=2"]) == 0
    out = capsys.readouterr().out
    assert "profile: quick" in out and "written to" in out
    assert cli.main(["run", "no.such.experiment", "--out", str(tmp_path)]) == 2
    assert "unknown experiment" in capsys.readouterr().err
    assert cli.main(["run", counting_experiment, "--out", str(tmp_path), "-p", "n"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_cli_run_all_reports_reuse_and_failures_and_keeps_the_rest(counting_experiment, tmp_path, capsys):
    @experiment("test.failing")
    def failing(ctx, n: int = 1):
        """Fails after the counting experiment ran (alphabetical order)."""
        raise RuntimeError("boom")

    try:
        assert cli.main(["run", "--all", "--match", "test.", "--out", str(tmp_path)]) == 1
        captured = capsys.readouterr()
        assert "computed test.counting" in captured.out and "FAILED  test.failing: RuntimeError: boom" in captured.out
        assert "1 of 2 experiments failed: test.failing" in captured.err
        assert len(CALLS) == 1 and list(tmp_path.glob("test.counting/*.csv")), "the completed result is kept"
        cli.main(["run", "--all", "--match", "test.counting", "--out", str(tmp_path)])
        assert "reused   test.counting" in capsys.readouterr().out and len(CALLS) == 1
        assert cli.main(["run", counting_experiment, "--all", "--out", str(tmp_path)]) == 2  # one or --all
        assert cli.main(["run", "--all", "--match", "nothing.", "--out", str(tmp_path)]) == 2
        assert "no experiment matches" in capsys.readouterr().err
    finally:
        del REGISTRY["test.failing"]


def test_geometry_experiment_svd_beats_gram_schmidt(tmp_path):
    """Levinson et al. 2020: SVD orthogonalisation is the better projection under Gaussian noise."""
    res = run_experiment("geometry.orthogonalization_noise", out=tmp_path, samples=4000,
                         sigmas=(0.05, 0.2))
    table = res.frame.pivot(index="sigma", columns="method", values="mean_deg")
    assert (table["SVD"] < table["GS"]).all()
    assert res.meta["data_source"].startswith("synthetic")


def test_reference_run_round_trip(tmp_path):
    """``reference=True`` stores by parameters, profile and seed; ``find_reference`` finds it; a
    reference of the current code is reused, a stale one recomputed (and still found, marked old)."""
    from posebook.experiments import find_reference

    params = {"samples": 64, "sigmas": (0.1,)}
    ref = run_experiment("geometry.orthogonalization_noise", reference=True, out=tmp_path, **params)
    assert ref.meta["code_hash"] == get_experiment("geometry.orthogonalization_noise").code_hash
    assert ref.is_current() and ref.meta["profile"] == "quick" and set(ref.frame["samples"]) == {64}
    found = find_reference("geometry.orthogonalization_noise", profile="quick", root=tmp_path, **params)
    assert found is not None and found.path == ref.path
    pd.testing.assert_frame_equal(found.frame, ref.frame)
    assert "quick profile" in found.provenance_line()
    # other parameters, profile or seed: no reference
    assert find_reference("geometry.orthogonalization_noise", profile="quick", root=tmp_path, samples=65,
                          sigmas=(0.1,)) is None
    assert find_reference("geometry.orthogonalization_noise", profile="long", root=tmp_path, **params) is None
    assert find_reference("geometry.orthogonalization_noise", profile="quick", seed=1, root=tmp_path,
                          **params) is None
    # the current code's reference is reused: its record is not rewritten
    record = ref.path.with_suffix(".json")
    written = record.stat().st_mtime_ns
    again = run_experiment("geometry.orthogonalization_noise", reference=True, out=tmp_path, **params)
    assert record.stat().st_mtime_ns == written
    pd.testing.assert_frame_equal(again.frame, ref.frame)
    # a reference computed by other code is found, marked as old, and recomputed by a new reference run
    meta = json.loads(record.read_text())
    record.write_text(json.dumps({**meta, "code_hash": "000000000000"}))
    stale = find_reference("geometry.orthogonalization_noise", profile="quick", root=tmp_path, **params)
    assert stale is not None and not stale.is_current()
    fresh = run_experiment("geometry.orthogonalization_noise", reference=True, out=tmp_path, **params)
    assert fresh.is_current() and json.loads(record.read_text())["code_hash"] == ref.meta["code_hash"]
    assert [p.name for p in tmp_path.glob("*/*.json") if not p.name.endswith(".table.json")] == [record.name]
