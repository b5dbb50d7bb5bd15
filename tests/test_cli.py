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
