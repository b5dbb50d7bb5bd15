"""No stale or silently wrong result, no lost work: content-keyed results and caches, damaged files
named and recomputed, parameter ranges checked before work, SMPL files validated, temporary files
cleaned and the umask honoured."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import stat
import tempfile

import numpy as np
import pandas as pd
import pytest
import torch

from posebook import cli, files
from posebook.experiments import REGISTRY, ExperimentResult, experiment, run_experiment
from posebook.parameters import positive
from posebook.runs import DamagedResultError, ResultStore

CALLS: list[list[str]] = []


@pytest.fixture
def data_experiment():
    """An experiment whose table is the list of mocap files in ``ctx.cmu_dir`` (cheap, data-bound)."""

    @experiment("test.data_files", checks={"rate": positive})
    def data_files(ctx, rate: float = 1.0, samples: int = 0):
        """Lists the CMU folder's files."""
        names = sorted(p.name for p in ctx.cmu_dir.iterdir())
        CALLS.append(names)
        return ExperimentResult(pd.DataFrame({"file": names, "size": [(ctx.cmu_dir / n).stat().st_size
                                                                       for n in names]}), f"cmu: {ctx.cmu_dir}")

    CALLS.clear()
    yield "test.data_files"
    del REGISTRY["test.data_files"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """File digests are memoised under $POSEBOOK_CACHE_DIR: keep each test's memo to itself."""
    monkeypatch.setenv(files.ENV_CACHE_DIR, str(tmp_path / "cache"))
    monkeypatch.setattr(files, "_MEMO", {})
    monkeypatch.setattr(files, "_MEMO_LOADED", False)


def _edit_in_place(path, old: bytes, new: bytes) -> None:
    """Replace bytes keeping the size (the edit a path + size key cannot see)."""
    assert len(old) == len(new)
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))


# ----------------------------------------------------------------------------- content digests


def test_folder_digest_sees_edits_additions_and_removals_but_not_a_move(tmp_path):
    folder = tmp_path / "cmu"
    folder.mkdir()
    (folder / "01.asf").write_text("skeleton 1\n")
    (folder / "01_01.amc").write_text("1\nroot 0 0 0\n")
    first = files.folder_digest(folder)
    assert files.folder_digest(folder) == first
    _edit_in_place(folder / "01_01.amc", b"0 0 0", b"0 9 0")
    edited = files.folder_digest(folder)
    assert edited != first
    (folder / "02_01.amc").write_text("1\n")
    added = files.folder_digest(folder)
    assert added != edited
    (folder / "02_01.amc").unlink()
    assert files.folder_digest(folder) == edited
    moved = shutil.move(str(folder), str(tmp_path / "elsewhere"))
    assert files.folder_digest(moved) == edited  # content, not path
    assert files.folder_digest(moved, ("*.asf",)) != edited  # only the skeleton


def test_file_digest_is_memoised_on_stat_and_across_processes(tmp_path, monkeypatch):
    path = tmp_path / "a.amc"
    path.write_bytes(b"x" * 1000)
    hashed = []
    real = files._sha256
    monkeypatch.setattr(files, "_sha256", lambda p: hashed.append(p) or real(p))
    digest = files.file_digest(path)
    assert files.file_digest(path) == digest and len(hashed) == 1  # second call: a stat
    memo = json.loads((tmp_path / "cache" / "file_digests.json").read_text())
    assert memo[str(path.resolve())][1] == digest
    monkeypatch.setattr(files, "_MEMO", {})  # a new process reads the memo file
    monkeypatch.setattr(files, "_MEMO_LOADED", False)
    assert files.file_digest(path) == digest and len(hashed) == 1
    _edit_in_place(path, b"xx", b"xy")
    assert files.file_digest(path) != digest and len(hashed) == 2


def test_a_damaged_digest_memo_is_ignored(tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "file_digests.json").write_text("{not json")
    path = tmp_path / "a.txt"
    path.write_text("a")
    assert files.file_digest(path) == files._sha256(path)


def test_result_is_recomputed_when_the_data_changes(data_experiment, tmp_path):
    cmu = tmp_path / "cmu"
    cmu.mkdir()
    (cmu / "01.asf").write_text("skeleton\n")
    (cmu / "01_01.amc").write_text("1\nroot 0 0 0\n")
    out = tmp_path / "results"
    first = run_experiment(data_experiment, out=out, cmu_dir=cmu)
    assert not first.reused and len(CALLS) == 1
    again = run_experiment(data_experiment, out=out, cmu_dir=cmu)
    assert again.reused and len(CALLS) == 1, "unchanged data: the stored result is reused"
    (cmu / "02.asf").write_text("skeleton\n")
    (cmu / "02_01.amc").write_text("1\nroot 0 0 0\n")
    added = run_experiment(data_experiment, out=out, cmu_dir=cmu)
    assert not added.reused and len(added.frame) == 4, "a clip added: computed again"
    _edit_in_place(cmu / "02_01.amc", b"0 0 0", b"0 5 0")
    edited = run_experiment(data_experiment, out=out, cmu_dir=cmu)
    assert not edited.reused and len(CALLS) == 3, "a clip edited in place (same size): computed again"
    assert edited.meta["data_digests"]["cmu"] != added.meta["data_digests"]["cmu"]


def test_reference_is_reused_only_for_the_same_data(data_experiment, tmp_path):
    cmu = tmp_path / "cmu"
    cmu.mkdir()
    (cmu / "01.asf").write_text("skeleton\n")
    ref = tmp_path / "reference"
    run_experiment(data_experiment, out=ref, cmu_dir=cmu, reference=True)
    assert run_experiment(data_experiment, out=ref, cmu_dir=cmu, reference=True).reused
    (cmu / "01.asf").write_text("skeletoN\n")
    assert not run_experiment(data_experiment, out=ref, cmu_dir=cmu, reference=True).reused


def test_world_cache_key_follows_the_clip_contents(tmp_path, cmu_dir):
    from posebook.data.world import WorldConfig, world_cache_key

    local = tmp_path / "cmu"
    local.mkdir()
    amc = sorted(cmu_dir.glob("*.amc"))[0]
    shutil.copy(amc, local / amc.name)
    shutil.copy(cmu_dir / f"{amc.stem.split('_')[0]}.asf", local)
    config = WorldConfig(size=4, source="cmu", cmu_dir=str(local), render=False)
    key = world_cache_key(config)
    data = (local / amc.name).read_bytes()
    digits = next(i for i, b in enumerate(data) if data[i:i + 1].isdigit() and i > 200)
    changed = b"1" if data[digits:digits + 1] != b"1" else b"2"
    (local / amc.name).write_bytes(data[:digits] + changed + data[digits + 1:])  # same size
    assert world_cache_key(config) != key


# ----------------------------------------------------------------------------- damaged stored files


@pytest.mark.parametrize("damage", ["delete table", "empty provenance", "truncated provenance",
                                    "truncated table", "provenance not an object"])
def test_damaged_result_is_named_and_recomputed(data_experiment, tmp_path, damage):
    cmu = tmp_path / "cmu"
    cmu.mkdir()
    (cmu / "01.asf").write_text("skeleton\n")
    out = tmp_path / "results"
    first = run_experiment(data_experiment, out=out, cmu_dir=cmu)
    table, provenance = first.path.with_suffix(".table.json"), first.path.with_suffix(".json")
    if damage == "delete table":
        table.unlink()
    elif damage == "empty provenance":
        provenance.write_text("")
    elif damage == "truncated provenance":
        provenance.write_text(provenance.read_text()[:40])
    elif damage == "truncated table":
        table.write_text(table.read_text()[:30])
    else:
        provenance.write_text("[1, 2]")
    broken = table if "table" in damage else provenance
    with pytest.raises(DamagedResultError, match=str(broken)):
        ResultStore(out).load(data_experiment, {k: v for k, v in json.loads(
            json.dumps(first.meta["params"])).items()})
    with pytest.warns(UserWarning, match=f"{broken}.*damaged.*recomputing"):
        again = run_experiment(data_experiment, out=out, cmu_dir=cmu)
    assert not again.reused and len(CALLS) == 2
    pd.testing.assert_frame_equal(again.frame, first.frame)
    assert run_experiment(data_experiment, out=out, cmu_dir=cmu).reused  # repaired


def test_damaged_artifact_is_named_and_computed_again(tmp_path):
    store = ResultStore(tmp_path)
    store.save_artifact("weights", {"k": 1}, {"w": torch.ones(3)})
    path = store.artifact_path("weights", {"k": 1})
    path.write_bytes(path.read_bytes()[:20])
    with pytest.warns(UserWarning, match=f"{path}.*damaged"):
        assert store.load_artifact("weights", {"k": 1}) is None


def test_damaged_world_cache_is_named_and_rebuilt(tmp_path):
    from posebook.data.world import WorldConfig, build_world

    config = WorldConfig(size=4, seed=1, source="procedural", render=False)
    first = build_world(config, cache_dir=tmp_path, progress=False)
    first.cache_path.write_bytes(first.cache_path.read_bytes()[:100])
    with pytest.warns(UserWarning, match=f"{first.cache_path}.*damaged.*rebuilding"):
        again = build_world(config, cache_dir=tmp_path, progress=False)
    assert not again.loaded_from_cache
    assert torch.equal(torch.as_tensor(again.keypoints2d["h36m17"]), torch.as_tensor(first.keypoints2d["h36m17"]))
    assert build_world(config, cache_dir=tmp_path, progress=False).loaded_from_cache


def test_a_result_that_cannot_be_written_is_kept_and_its_place_named(data_experiment, tmp_path, monkeypatch):
    cmu = tmp_path / "cmu"
    cmu.mkdir()
    (cmu / "01.asf").write_text("skeleton\n")
    real_save = ResultStore.save
    out = tmp_path / "results"

    def save(self, *args, **kwargs):
        if self.root == out:
            raise OSError(28, "No space left on device")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(ResultStore, "save", save)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the rescue folder lands in tmp_path
    with pytest.raises(OSError, match=r"could not write .*No space left on device.*kept in (\S+\.csv)") as info:
        run_experiment(data_experiment, out=out, cmu_dir=cmu)
    kept = info.value.args[0].split("kept in ")[1].split(" ")[0]
    assert kept.startswith(str(tmp_path)) and pd.read_csv(kept)["file"].tolist() == ["01.asf"]


# ----------------------------------------------------------------------------- temporary files, umask


def test_temporary_files_of_dead_writers_are_removed_on_the_next_write(tmp_path):
    dead = 2**22 + 12345  # above the default pid_max: no such process
    while files._process_alive(dead):
        dead += 1
    stale = tmp_path / f".r.csv.{files._HOST}.{dead}.abc123.tmp"
    live = tmp_path / f".r.csv.{files._HOST}.{os.getpid()}.def456.tmp"
    old_foreign = tmp_path / ".r.csv.otherhost.1.ghi789.tmp"
    unrelated = tmp_path / ".notes.tmp"
    for p in (stale, live, old_foreign, unrelated):
        p.write_text("partial")
    day_ago = os.stat(old_foreign).st_mtime - files.STALE_AFTER_S - 60
    os.utime(old_foreign, (day_ago, day_ago))
    files.atomic_write_text(tmp_path / "r.csv", "a,b\n")
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"r.csv", live.name, unrelated.name}


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        files.atomic_write_text(tmp_path / "r.json", "{}")
        ResultStore(tmp_path).save_artifact("w", {"k": 1}, 1)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "r.json").st_mode) == mode
    assert stat.S_IMODE(os.stat(ResultStore(tmp_path).artifact_path("w", {"k": 1})).st_mode) == mode


# ----------------------------------------------------------------------------- parameter ranges


@pytest.mark.parametrize("name, params, message", [
    ("prom.gradient_terms", {"samples": "-5"}, r"'samples' must be an integer in \[0, 2\*\*63\).*got -5"),
    ("prom.gradient_terms", {"sigmas": "nan,inf"}, r"'sigmas' must be finite, got \(nan, inf\)"),
    ("prom.gradient_terms", {"sigmas": "0.1,-1"}, r"'sigmas' must be > 0, got \(0.1, -1.0\) \(item -1.0\)"),
    ("prom.lr_sweep", {"lrs": "-1"}, r"'lrs' must be > 0"),
    ("prom.lr_sweep", {"task": "autoencodr"}, r"'task': 'autoencodr' is not one of 'autoencoder', 'pointcloud'"),
    ("prom.autoencoder", {"lr": "-0.001"}, r"'lr' must be > 0, or 0 for the profile's value"),
    ("prom.body_regression", {"train_frac": "1.5"}, r"'train_frac' must be in \(0, 1\)"),
    ("geometry.cliff_translation", {"depth": "0"}, r"'depth' must be > 0"),
])
def test_out_of_range_parameters_are_refused_before_any_work(name, params, message, tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr("posebook.experiments.registry.make_context", lambda *a, **k: started.append(1))
    with pytest.raises(ValueError, match=f"experiment '{name}': parameter {message}"):
        run_experiment(name, out=tmp_path, **params)
    assert not started and not list(tmp_path.iterdir())


def test_zero_means_the_profile_value_not_one_sample(tmp_path):
    result = run_experiment("prom.gradient_terms", out=tmp_path, samples="0", sigmas="0.5")
    assert (result.frame["samples"] > 1).all()


def test_declared_checks_are_listed_and_checked_at_registration(capsys):
    assert cli.main(["list"]) == 0
    assert "ranges: sigmas > 0" in capsys.readouterr().out
    with pytest.raises(TypeError, match=r"checks for \['rat'\], which are not its parameters"):
        experiment("test.stray", checks={"rat": positive})(lambda ctx, rate=1.0: None)
    with pytest.raises(ValueError, match="'rate' must be > 0"):
        experiment("test.bad_default", checks={"rate": positive})(lambda ctx, rate=-1.0: None)
    assert "test.stray" not in REGISTRY and "test.bad_default" not in REGISTRY


def test_cli_refuses_out_of_range_values(capsys):
    assert cli.main(["run", "prom.lr_sweep", "-p", "lrs=-1"]) == 2
    assert "parameter 'lrs' must be > 0" in capsys.readouterr().err


# ----------------------------------------------------------------------------- SMPL files


def _smpl_arrays(V: int = 10) -> dict[str, np.ndarray]:
    return {"v_template": np.zeros((V, 3)), "shapedirs": np.zeros((V, 3, 10)), "posedirs": np.zeros((V, 3, 207)),
            "J_regressor": np.zeros((24, V)), "weights": np.zeros((V, 24)),
            "kintree_table": np.zeros((2, 24), dtype=np.int64), "f": np.zeros((4, 3), dtype=np.int64)}


@pytest.mark.parametrize("content, message", [
    ("text", r"not a readable SMPL model file \(UnpicklingError"),
    ("asf", r"not a readable SMPL model file"),
    ("int", r"holds a Python int object, not an SMPL model"),
    ("damaged npz", r"not a readable SMPL model file \(BadZipFile"),
    ("missing keys", r"keys \['weights'\] are missing"),
    ("wrong shapes", r"inconsistent SMPL arrays"),
])
def test_smpl_files_are_validated_and_named(tmp_path, content, message):
    from posebook.body.models import load_smpl_arrays
    from posebook.inventory import data_inventory

    suffix = ".npz" if "npz" in content else ".pkl"
    path = tmp_path / f"SMPL_NEUTRAL{suffix}"
    if content == "text":
        path.write_text("this is not a model\n")
    elif content == "asf":
        path.write_text(":version 1.10\n:name VICON\n:units\n  mass 1.0\n")
    elif content == "int":
        path.write_bytes(pickle.dumps(3))
    elif content == "damaged npz":
        np.savez(path, **_smpl_arrays())
        path.write_bytes(path.read_bytes()[:200])
    elif content == "missing keys":
        arrays = _smpl_arrays()
        del arrays["weights"]
        path.write_bytes(pickle.dumps(arrays))
    else:
        arrays = _smpl_arrays()
        arrays["weights"] = np.zeros((7, 24))
        path.write_bytes(pickle.dumps(arrays))
    with pytest.raises(ValueError, match=message) as info:
        load_smpl_arrays(path)
    assert str(path) in str(info.value) and "expected" in str(info.value)
    rows = data_inventory(smpl_dir=tmp_path).set_index("item")
    row = rows.loc["body model: SMPL neutral"]
    assert row["status"] == "unusable" and str(path) in row["how"]


def test_a_valid_smpl_file_is_reported_available(tmp_path):
    from posebook.inventory import data_inventory

    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(pickle.dumps(_smpl_arrays()))
    rows = data_inventory(smpl_dir=tmp_path).set_index("item")
    assert rows.loc["body model: SMPL neutral", "status"] == "available"


# ----------------------------------------------------------------------------- CLI


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without a GPU")
def test_world_build_on_cuda_without_a_gpu_is_refused_before_work(capsys, tmp_path):
    assert cli.main(["world", "build", "--size", "4", "--device", "cuda", "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "posebook world: error:" in err and "cuda" in err.lower() and "Traceback" not in err
    assert not list(tmp_path.glob("*.npz"))


def test_data_reports_clips_without_a_skeleton(tmp_path):
    from posebook.inventory import data_inventory

    (tmp_path / "01.asf").write_text(":version 1.10\n")
    (tmp_path / "01_01.amc").write_text("1\n")
    (tmp_path / "02_01.amc").write_text("1\n")
    status = data_inventory(cmu_dir=tmp_path).set_index("item").loc["motion: CMU mocap", "status"]
    assert status == "available: 1 clips, 1 subjects; 1 clips without their <subject>.asf are skipped (02_01)"


def test_an_int_given_for_a_float_parameter_is_judged_as_a_float():
    from posebook.parameters import check_parameter

    check_parameter("yaw_deg", -5, 30.0)  # papermill passes -5 as an int: a float parameter may be negative
    with pytest.raises(ValueError, match=r"'samples' must be an integer in \[0, 2\*\*63\)"):
        check_parameter("samples", -5, 0)
    with pytest.raises(ValueError, match=r"'steps' must be an integer"):
        check_parameter("steps", (10, -1), (10, 30))
