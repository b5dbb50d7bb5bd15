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


def test_geometry_experiment_svd_beats_gram_schmidt(tmp_path):
    """Levinson et al. 2020: SVD orthogonalisation is the better projection under Gaussian noise."""
    res = run_experiment("geometry.orthogonalization_noise", out=tmp_path, samples=4000,
                         sigmas=(0.05, 0.2))
    table = res.frame.pivot(index="sigma", columns="method", values="mean_deg")
    assert (table["SVD"] < table["GS"]).all()
    assert res.meta["data_source"].startswith("synthetic")
