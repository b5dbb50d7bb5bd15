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



def _fake_batch(monkeypatch, outcomes):
    """The batch and Anny replaced by recorders."""
    from posebook import batch

    calls = {}

    def fake(names, **kwargs):
        calls["batch"] = (list(names), kwargs)
        return batch.BatchReport([batch.Outcome(n, s) for n, s in outcomes])

    monkeypatch.setattr(batch, "run_batch", fake)
    monkeypatch.setattr("posebook.body.models.shared_anny_body", lambda device: calls.setdefault("anny", device))
    return calls


def test_run_all_through_local_jobs_builds_anny_once_and_orders_by_the_checkouts_costs(tmp_path, monkeypatch):
    calls = _fake_batch(monkeypatch, [("cliff.fov", "computed")])
    for name in ("_config.yml", "_toc.yml"):
        (tmp_path / name).write_text("")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "experiment_times.csv").write_text("experiment,seconds\nzedo.ablation,90\ncliff.fov,1\n")
    monkeypatch.chdir(tmp_path)
    argv = ["run", "--all", "--executor", "local", "--jobs", "2", "--group", "chapter", "--out", str(tmp_path / "r")]
    assert cli.main(argv) == 0
    names, kwargs = calls["batch"]
    assert "zedo.ablation" in names and calls["anny"] == "cpu"  # Anny's cache built before the jobs start
    assert kwargs["group"] == "chapter" and kwargs["jobs"] == 2
    assert kwargs["cost"] == {"zedo.ablation": 90.0, "cliff.fov": 1.0}


def test_run_all_reports_failures_and_bad_cost_files(tmp_path, monkeypatch, capsys):
    calls = _fake_batch(monkeypatch, [("cliff.fov", "failed")])
    monkeypatch.chdir(tmp_path)  # not a checkout: no costs
    assert cli.main(["run", "--all", "--out", str(tmp_path / "r")]) == 1
    assert calls["batch"][1]["cost"] is None and "anny" not in calls  # inline: no jobs to build it for
    assert "cliff.fov" in capsys.readouterr().err
    bad = tmp_path / "costs.csv"
    bad.write_text("name,time\nx,1\n")
    assert cli.main(["run", "--all", "--costs", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "expected a CSV with columns experiment, seconds" in capsys.readouterr().err


def test_the_batch_choices_are_the_batch_modules():
    """cli spells out --executor and --group (importing posebook.batch at parse time would import every
    experiment): they must stay posebook.batch's."""
    from posebook import batch

    actions = {a.dest: a for group in cli.build_parser()._subparsers._group_actions
               for sub in group.choices.values() for a in sub._actions}
    assert tuple(actions["executor"].choices) == batch.EXECUTORS
    assert tuple(actions["group"].choices) == batch.GROUPS
