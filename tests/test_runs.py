"""Profiles, seeding, device choice, atomic writes and the result store."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch

from posebook import runs


def test_unknown_profile_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown profile 'fast'.*\['full', 'quick'\]"):
        runs.get_profile("fast")


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        g = runs.seed_everything(123)
        return (torch.rand(3).tolist(), np.random.rand(3).tolist(), torch.rand(3, generator=g).tolist())

    assert draw() == draw()
    with pytest.raises(ValueError, match="non-negative int"):
        runs.seed_everything(-1)


def test_resolve_device():
    assert runs.resolve_device("cpu") == torch.device("cpu")
    assert runs.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="torch.cuda.is_available"):
            runs.resolve_device("cuda")


def test_make_context_reads_env_paths(monkeypatch, tmp_path):
    monkeypatch.setenv(runs.ENV_CMU_DIR, str(tmp_path))
    ctx = runs.make_context("quick", seed=7)
    assert ctx.cmu_dir == tmp_path and ctx.device.type == "cpu" and ctx.seeds() == [7, 8, 9]
    assert runs.make_context("full").profile.scale > ctx.profile.scale
    assert ctx.scaled(100) == 100


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "r.csv"
    runs.atomic_write_text(target, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        runs.atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]  # no temporary file left behind


def test_result_store_roundtrip_with_provenance(tmp_path):
    store = runs.ResultStore(tmp_path)
    ctx = runs.make_context("quick", seed=3)
    frame = pd.DataFrame({"method": ["GS", "SVD"], "err": [1.5, float("nan")], "subject": ["02", "135"],
                          "steps": [1000, 2000]})
    params = {"sigma": 0.1}
    assert not store.exists("demo.exp", params)
    saved = store.save("demo.exp", params, frame, runs.provenance(ctx, "synthetic"))
    assert store.exists("demo.exp", params) and not store.exists("demo.exp", {"sigma": 0.2})
    loaded = store.load("demo.exp", params)
    pd.testing.assert_frame_equal(loaded.frame, frame)  # NaN, "02" and ints survive the round trip
    assert [p.name for p in store] == [saved.path.with_suffix(".json").name]
    meta = json.loads(saved.path.with_suffix(".json").read_text())
    for key in ("data_source", "profile", "device", "seed", "posebook_version", "git_commit", "params"):
        assert key in meta
    assert "profile: quick" in loaded.caption() and "seed: 3" in loaded.caption()
    with pytest.raises(FileNotFoundError, match="no stored result"):
        store.load("demo.exp", {"sigma": 9})


def test_params_key_is_order_independent():
    assert runs.params_key({"a": 1, "b": 2}) == runs.params_key({"b": 2, "a": 1})
    assert runs.params_key({"a": 1}) != runs.params_key({"a": 2})
