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
    with pytest.raises(ValueError, match=r"unknown profile 'fast'.*\['full', 'gpu', 'long', 'quick'\]"):
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
    assert ctx.size(0, quick=100) == 100 and ctx.size(7, quick=100) == 7
    assert runs.make_context("long").size(0, quick=100) == 400  # quick x the profile's scale


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


# ------------------------------------------------------------------------- sizes and profiles


@pytest.mark.parametrize("value", [0, 0.0, None, (), []])
def test_is_profile_default_true(value):
    assert runs.is_profile_default(value)


@pytest.mark.parametrize("value", [False, True, 1, -1, 0.5, "x", "", (0,), [1]])
def test_is_profile_default_false(value):
    assert not runs.is_profile_default(value)  # False is a value, although False == 0


def test_scaled_presets_scales_only_the_named_counts():
    presets = runs.scaled_presets({"steps": 10, "lr": 1e-3, "tiny": 0}, scale=("steps", "tiny"))
    assert set(presets) == set(runs.PROFILES)
    for name, prof in runs.PROFILES.items():
        assert presets[name] == {"steps": round(10 * prof.scale), "lr": 1e-3, "tiny": 1}  # counts >= 1
    assert presets["quick"]["steps"] == 10 and presets["long"]["steps"] == 40 and presets["full"]["steps"] == 200
    assert runs.scaled_presets({"steps": 10})["full"]["steps"] == 10  # nothing named: kept as is


PRESETS = {name: {"steps": 10 * (k + 1), "lr": 1e-3, "decay": (0.5,), "flag": True}
           for k, name in enumerate(("quick", "long", "gpu", "full"))}


def test_run_context_sizes():
    quick, gpu = runs.make_context("quick"), runs.make_context("gpu", device="cpu")
    assert quick.sizes(PRESETS) == PRESETS["quick"] and gpu.sizes(PRESETS) == PRESETS["gpu"]
    assert quick.sizes(PRESETS) is not PRESETS["quick"]  # a copy: callers may change it
    # 0 / 0.0 / None / () keep the profile's value; anything else is used as given, never scaled
    assert gpu.sizes(PRESETS, steps=0, lr=0.0, decay=(), flag=None) == PRESETS["gpu"]
    assert gpu.sizes(PRESETS, steps=7, lr=0.5, decay=(0.2, 0.4)) == {"steps": 7, "lr": 0.5, "decay": (0.2, 0.4),
                                                                   "flag": True}
    assert gpu.sizes(PRESETS, flag=False)["flag"] is False
    with pytest.raises(ValueError, match=r"unknown size 'step'; the sizes are \['decay', 'flag', 'lr', 'steps'\]"):
        quick.sizes(PRESETS, step=5)
    with pytest.raises(ValueError, match=r"no preset for profile 'gpu'; presets exist for \['long', 'quick'\]"):
        gpu.sizes({"quick": {"steps": 1}, "long": {"steps": 2}})


# ------------------------------------------------------------------------------- code hashes


def test_code_hash_is_stable_and_tells_modules_apart():
    tables = runs.code_hash("posebook.experiments.prom.tables")
    rotations = runs.code_hash("posebook.geometry.rotations")
    assert len(tables) == 12 and int(tables, 16) >= 0
    assert tables != rotations
    assert runs.code_hash.__wrapped__("posebook.experiments.prom.tables") == tables  # not only the cache
    assert runs.code_hash.__wrapped__("posebook.geometry.rotations") == rotations


def test_imported_modules_finds_every_kind_of_posebook_import(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text(
        "import os\n"
        "import posebook.metrics\n"
        "from posebook.geometry import rotations\n"
        "from posebook.claims import Claim as C\n"
        "from . import sibling\n"
        "def f():\n"
        "    from posebook.runs import cpu_threads\n"
    )
    found = runs._imported_modules(source)
    assert {"posebook.metrics", "posebook.geometry", "posebook.geometry.rotations", "posebook.claims",
            "posebook.runs"} <= found
    assert not any(name == "os" or "sibling" in name for name in found)  # not ours / relative: ignored


def test_code_hash_follows_the_import_closure(tmp_path, monkeypatch):
    """A fake ``posebook`` package: the hash of ``a`` changes with ``a`` and with ``b`` (which ``a``
    imports), not with ``c`` (which nothing imports) nor with a comment."""
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "a.py").write_text("from posebook import b\n\nX = b.Y + 1\n")
    (tmp_path / "b.py").write_text("Y = 2\n")
    (tmp_path / "c.py").write_text("Z = 3\n")
    monkeypatch.setattr(runs, "_PACKAGE_DIR", tmp_path)
    code_hash = runs.code_hash.__wrapped__  # the uncached function: files change within this test
    h0 = code_hash("posebook.a")
    assert code_hash("posebook.a") == h0 and code_hash("posebook.b") != h0
    (tmp_path / "c.py").write_text("Z = 4\n")
    assert code_hash("posebook.a") == h0
    (tmp_path / "b.py").write_text("Y = 2  # a comment\n")
    assert code_hash("posebook.a") == h0
    (tmp_path / "b.py").write_text("Y = 5\n")
    h1 = code_hash("posebook.a")
    assert h1 != h0
    (tmp_path / "a.py").write_text("from posebook import b\n\nX = b.Y + 2\n")
    assert code_hash("posebook.a") not in (h0, h1)


def test_code_hash_counts_parent_packages_but_not_their_other_imports(tmp_path, monkeypatch):
    """``posebook.chapters.a`` runs ``posebook.chapters/__init__``: its code counts, but its import of
    another chapter ``b`` (registration) does not, so adding a chapter leaves ``a``'s hash alone."""
    (tmp_path / "__init__.py").write_text("")
    pkg = tmp_path / "chapters"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from posebook.chapters import a\nN = 1\n")
    (pkg / "a.py").write_text("X = 1\n")
    (pkg / "b.py").write_text("Y = 1\n")
    monkeypatch.setattr(runs, "_PACKAGE_DIR", tmp_path)
    code_hash = runs.code_hash.__wrapped__
    h0 = code_hash("posebook.chapters.a")
    (pkg / "__init__.py").write_text("from posebook.chapters import a, b\nN = 1\n")
    assert code_hash("posebook.chapters.a") == h0  # the new chapter b is not in a's closure
    (pkg / "b.py").write_text("Y = 2\n")
    assert code_hash("posebook.chapters.a") == h0
    (pkg / "__init__.py").write_text("from posebook.chapters import a, b\nN = 2\n")
    assert code_hash("posebook.chapters.a") != h0  # the package's own code runs, so it counts
    (tmp_path / "c.py").write_text("import posebook.chapters\n")  # importing the package itself follows it
    h_c = code_hash("posebook.c")
    (pkg / "b.py").write_text("Y = 3\n")
    assert code_hash("posebook.c") != h_c


# ------------------------------------------------------------------------ artifacts, provenance


def test_artifact_round_trip_and_missing_key(tmp_path):
    store = runs.ResultStore(tmp_path)
    key = {"setup": {"world": "abc", "steps": 3}, "seed": 1}
    value = {"params": [torch.arange(6.0).reshape(2, 3), torch.ones(2, dtype=torch.float64)], "loss": 0.5,
             "curve": "[[0,1.0]]", "diverged_step": None}
    assert store.load_artifact("prom/member", key) is None
    store.save_artifact("prom/member", key, value)
    path = store.artifact_path("prom/member", key)
    assert path == tmp_path / "_artifacts" / "prom_member" / f"{runs.params_key(key)}.pt" and path.is_file()
    loaded = store.load_artifact("prom/member", key)
    assert loaded.keys() == value.keys() and loaded["loss"] == 0.5 and loaded["diverged_step"] is None
    for a, b in zip(loaded["params"], value["params"]):
        assert torch.equal(a, b) and a.dtype == b.dtype
    assert store.load_artifact("prom/member", {**key, "seed": 2}) is None
    assert store.load_artifact("other", key) is None
    assert [p.name for p in store] == []  # artifacts are not results


def test_run_context_cached_computes_once_with_a_store(tmp_path):
    calls = []

    def compute(missing):
        calls.append(len(missing))
        return [{"w": torch.tensor([float(key["k"]), 2.0])} for key in missing]

    bare = runs.make_context("quick")
    bare.cached("kind", [{"k": 1}], compute)
    bare.cached("kind", [{"k": 1}], compute)
    assert calls == [1, 1]  # no store: computed every time
    ctx = runs.RunContext(bare.profile, bare.device, bare.seed, store=runs.ResultStore(tmp_path))
    first = ctx.cached("kind", [{"k": 1}], compute)
    again = ctx.cached("kind", [{"k": 1}], compute)
    assert calls == [1, 1, 1] and torch.equal(first[0]["w"], again[0]["w"])
    both = ctx.cached("kind", [{"k": 2}, {"k": 1}, {"k": 3}], compute)
    assert calls == [1, 1, 1, 2], "the missing keys are computed together, in one call"
    assert [v["w"][0].item() for v in both] == [2.0, 1.0, 3.0]  # values in the order of the keys
    with pytest.raises(ValueError, match="compute returned 0 values for 1 keys"):
        ctx.cached("kind", [{"k": 4}], lambda missing: [])


def test_stored_result_is_current(tmp_path):
    module = "posebook.geometry.rotations"
    frame = pd.DataFrame({"x": [1]})
    current = runs.StoredResult(frame, {"experiment_module": module, "code_hash": runs.code_hash(module)}, tmp_path)
    assert current.is_current()
    assert not runs.StoredResult(frame, {"experiment_module": module, "code_hash": "0" * 12}, tmp_path).is_current()
    assert not runs.StoredResult(frame, {"experiment_module": module}, tmp_path).is_current()
    assert not runs.StoredResult(frame, {}, tmp_path).is_current()


def test_stored_result_provenance_line(tmp_path):
    meta = {"profile": "long", "device": "cpu", "device_name": "x86_64", "threads": 1,
            "git_commit": "abc1234def5678+dirty", "wall_s": 2460.0, "created_utc": "2026-12-01T07:59:06+00:00"}
    line = runs.StoredResult(pd.DataFrame(), meta, tmp_path).provenance_line()
    assert line == "long profile, cpu (x86_64) 1 thread, commit abc1234+dirty, 41 min, 2026-12-01"
    meta.update(threads=2, git_commit="abc1234def5678", wall_s=45.0, device="cuda", device_name="H200")
    assert runs.StoredResult(pd.DataFrame(), meta, tmp_path).provenance_line() == (
        "long profile, cuda (H200) 2 threads, commit abc1234, 45 s, 2026-12-01")
    bare = runs.StoredResult(pd.DataFrame(), {"profile": "gpu"}, tmp_path).provenance_line()
    assert bare.startswith("gpu profile, ") and "commit unknown" in bare and "thread" not in bare
    assert bare.endswith(", ?, ?")  # no wall time, no date
