"""The posebook command refuses bad values before any work starts, with one clear line."""

from __future__ import annotations

import os

import pytest
import torch

from posebook import cli


@pytest.mark.parametrize("argv, message", [
    (["run", "geometry.cliff_translation", "--seed", str(2**63)], "seed must lie in [0, 2**63)"),
    (["run", "geometry.cliff_translation", "--seed", "-1"], "seed must lie in [0, 2**63)"),
    (["run", "geometry.cliff_translation", "--seed", "abc"], "'abc' is not an integer seed"),
    (["run", "geometry.cliff_translation", "--device", "meta"], "'meta' is not a device"),
    (["world", "build", "--device", "tpu"], "'tpu' is not a device"),
])
def test_bad_values_are_refused_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: CUDA requests are valid here")
@pytest.mark.parametrize("argv", [["run", "geometry.cliff_translation", "--device", "cuda"],
                                  ["world", "build", "--device", "cuda", "--size", "2"]])
def test_cuda_without_a_gpu_fails_before_any_work(argv, capsys):
    assert cli.main(argv) == 2
    assert "torch.cuda.is_available() is False" in capsys.readouterr().err


def test_an_unwritable_out_folder_fails_before_computing(tmp_path, monkeypatch, capsys):
    def never(*args, **kwargs):  # the experiment must not start
        raise AssertionError("computed before checking the output folder")

    monkeypatch.setattr("posebook.experiments.run_experiment", never)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert cli.main(["run", "geometry.cliff_translation", "--out", str(blocker / "sub")]) == 2
    assert "is not a writable folder" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert cli.main(["run", "geometry.cliff_translation", "--out", str(locked)]) == 2


def test_book_path_outside_a_checkout(tmp_path, capsys):
    assert cli.main(["book", "--path", str(tmp_path)]) == 2
    assert "is not a posebook checkout" in capsys.readouterr().err


def test_an_interrupt_ends_with_130_and_one_line(monkeypatch, capsys, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("posebook.experiments.run_experiment", interrupted)
    assert cli.main(["run", "geometry.cliff_translation", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "posebook run: interrupted; completed results are kept, rerun to resume"


def _fake_checkout(tmp_path, monkeypatch, outcomes):
    """A folder the book command accepts, with the batch and Sphinx replaced by recorders."""
    from posebook import batch

    for name in ("_config.yml", "_toc.yml"):
        (tmp_path / name).write_text("")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "experiment_times.csv").write_text("experiment,seconds\nzedo.ablation,90\ncliff.fov,1\n")
    calls = {}

    def fake_batch(names, **kwargs):
        calls["batch"] = (list(names), kwargs)
        return batch.BatchReport([batch.Outcome(n, s) for n, s in outcomes])

    def fake_sphinx(cmd, **kwargs):
        calls["sphinx"] = cmd
        return subprocess.CompletedProcess(cmd, 0)

    import subprocess

    monkeypatch.setattr(batch, "run_batch", fake_batch)
    monkeypatch.setattr(cli.subprocess, "run", fake_sphinx)
    monkeypatch.setattr("posebook.book.api.write_api_pages", lambda root: [])
    monkeypatch.setenv("POSEBOOK_RESULTS_DIR", str(tmp_path / "results"))
    return calls


def test_book_with_jobs_runs_the_experiments_by_chapter_first(tmp_path, monkeypatch):
    calls = _fake_checkout(tmp_path, monkeypatch, [("cliff.fov", "computed")])
    assert cli.main(["book", "--path", str(tmp_path), "--jobs", "2"]) == 0
    names, kwargs = calls["batch"]
    assert "zedo.ablation" in names and "cliff.fov" in names
    assert kwargs == dict(executor="local", jobs=2, group="chapter", cost={"zedo.ablation": 90, "cliff.fov": 1},
                          profile="quick", device="cpu", out=str(tmp_path / "results"))
    assert "build" in calls["sphinx"]


def test_book_with_jobs_stops_before_sphinx_when_an_experiment_fails(tmp_path, monkeypatch, capsys):
    calls = _fake_checkout(tmp_path, monkeypatch, [("cliff.fov", "failed")])
    assert cli.main(["book", "--path", str(tmp_path), "--jobs", "2"]) == 1
    assert "sphinx" not in calls and "cliff.fov" in capsys.readouterr().err


def test_book_without_jobs_leaves_the_experiments_to_the_notebooks(tmp_path, monkeypatch):
    calls = _fake_checkout(tmp_path, monkeypatch, [])
    assert cli.main(["book", "--path", str(tmp_path)]) == 0
    assert "batch" not in calls and "build" in calls["sphinx"]
