"""Batches of experiments (posebook.batch): in this process and as submitit jobs (its local executor,
the code path of a Slurm cluster), one store, resumed after a partial failure."""

from __future__ import annotations

import pandas as pd
import pytest

from posebook import batch
from posebook.experiments import REGISTRY, ExperimentResult, experiment
from posebook.runs import ResultStore

CHEAP = ["geometry.cliff_translation", "geometry.orthogonalization_noise"]


def _frames(root) -> dict[str, pd.DataFrame]:
    store = ResultStore(root)
    out = {}
    for path in store:
        name = path.parent.name
        out[name] = pd.read_json(path.with_suffix(".table.json"), orient="table")
    return out


@pytest.mark.slow
def test_the_local_executor_reproduces_the_inline_results_and_resumes_only_what_is_missing(tmp_path):
    inline = batch.run_batch(CHEAP, out=str(tmp_path / "inline"), progress=False)
    assert inline.counts() == {"computed": 2, "reused": 0, "failed": 0}
    jobs = batch.run_batch(CHEAP, executor="local", jobs=2, out=str(tmp_path / "jobs"), poll_s=0.2, progress=False)
    assert jobs.counts() == {"computed": 2, "reused": 0, "failed": 0}, [o.error for o in jobs.outcomes]
    a, b = _frames(tmp_path / "inline"), _frames(tmp_path / "jobs")
    assert sorted(a) == sorted(b) == sorted(CHEAP)
    for name in CHEAP:  # the same numbers from a job as from this process
        pd.testing.assert_frame_equal(a[name], b[name])
    # one result lost (a job that failed half-way leaves none): the rerun computes only that one
    lost = next(p for p in ResultStore(tmp_path / "jobs") if p.parent.name == CHEAP[0])
    lost.unlink()
    again = batch.run_batch(CHEAP, executor="local", jobs=2, out=str(tmp_path / "jobs"), poll_s=0.2, progress=False)
    assert [(o.name, o.state) for o in again.outcomes] == [(CHEAP[0], "computed"), (CHEAP[1], "reused")]
    assert (tmp_path / "jobs" / "_jobs").is_dir()  # submitit's job files and logs, beside the results
    # one job per chapter: both experiments in one job, the same numbers
    chained = batch.run_batch(CHEAP, executor="local", jobs=2, group="chapter", out=str(tmp_path / "chained"),
                              poll_s=0.2, progress=False)
    assert chained.counts() == {"computed": 2, "reused": 0, "failed": 0}, [o.error for o in chained.outcomes]
    assert len(list((tmp_path / "chained" / "_jobs").glob("*_submitted.pkl"))) == 1
    c = _frames(tmp_path / "chained")
    for name in CHEAP:
        pd.testing.assert_frame_equal(a[name], c[name])


def test_chains_put_a_chapter_in_one_job_and_start_the_costliest_first():
    names = ["cliff.a", "cliff.b", "prom.a", "sgre.a", "zedo.a", "zedo.b"]
    assert batch.chains(names, "none") == [[n] for n in names]
    # SGRE reads the CLIFF chapter's cached crops: same job
    assert batch.chains(names) == [["cliff.a", "cliff.b", "sgre.a"], ["prom.a"], ["zedo.a", "zedo.b"]]
    cost = {"cliff.a": 10.0, "cliff.b": 5.0, "sgre.a": 1.0, "zedo.a": 30.0, "zedo.b": 1.0}
    # prom.a is unknown: it counts as the mean of the known costs (9.4 s)
    assert batch.chains(names, cost=cost) == [["zedo.a", "zedo.b"], ["cliff.a", "cliff.b", "sgre.a"], ["prom.a"]]
    assert batch.chains(names, "none", cost)[:2] == [["zedo.a"], ["cliff.a"]]
    with pytest.raises(ValueError, match="group must be one of"):
        batch.chains(names, "seed")


@pytest.fixture
def failing_experiment():
    @experiment("test_batch.fails")
    def fails(ctx) -> ExperimentResult:
        raise RuntimeError("deliberate")

    yield "test_batch.fails"
    REGISTRY.pop("test_batch.fails")


def test_a_failure_is_reported_and_the_batch_goes_on(tmp_path, failing_experiment):
    report = batch.run_batch([failing_experiment, CHEAP[0]], out=str(tmp_path), progress=False)
    assert report.failed == [failing_experiment]
    assert "RuntimeError: deliberate" in report.outcomes[0].error
    assert report.outcomes[1].state == "computed"


def test_bad_batch_requests_are_refused(tmp_path):
    with pytest.raises(ValueError, match="executor must be one of"):
        batch.run_batch(CHEAP, executor="dask", out=str(tmp_path))
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        batch.run_batch(CHEAP, executor="local", jobs=0, out=str(tmp_path))
    with pytest.raises(ValueError, match="no experiment matches"):
        batch.select("no_such_chapter.")
    assert batch.select("geometry.") == CHEAP
