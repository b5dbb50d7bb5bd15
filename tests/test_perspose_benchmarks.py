"""PersPose Fig. 7 on the benchmarks (posebook.experiments.perspose.benchmarks), on tiny fixtures
written in the public file formats (tests/fixtures_benchmarks.py)."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_benchmarks import write_3dpw, write_h36m, write_mpi_inf_3dhp

from posebook.data import benchmarks as bm
from posebook.experiments import run_experiment
from posebook.experiments.perspose.benchmarks import benchmark_phi


def _phi_by_hand(data: bm.BenchmarkData) -> np.ndarray:
    """Eq. 14 in numpy: arccos of the optical-axis component of the unit ray through the bbox centre."""
    X, K = data["joints_3d_cam"].astype(float), data["K"].astype(float)
    uvw = np.einsum("nij,nkj->nki", K, X)
    uv = uvw[..., :2] / uvw[..., 2:]
    centre = 0.5 * (uv.min(axis=1) + uv.max(axis=1))
    ray = np.einsum("nij,nj->ni", np.linalg.inv(K), np.concatenate([centre, np.ones((len(X), 1))], axis=1))
    return np.degrees(np.arccos(ray[:, 2] / np.linalg.norm(ray, axis=1)))


@pytest.fixture
def data_root(tmp_path):
    write_h36m(tmp_path, list(bm.H36M_CAMERAS), bm.H36M_EXTRINSICS)
    write_3dpw(tmp_path)
    write_mpi_inf_3dhp(tmp_path, sequences=("TS1", "TS2", "TS3", "TS4", "TS5", "TS6"))
    return tmp_path


def test_benchmark_phi_is_eq_14_of_the_projected_joints_bbox(data_root):
    for data in (bm.load_h36m(data_root, subjects="test", keypoints=None), bm.load_3dpw(data_root),
                 bm.load_mpi_inf_3dhp(data_root)):
        phi = benchmark_phi(data).numpy()
        np.testing.assert_allclose(phi, _phi_by_hand(data), atol=1e-6)
        assert ((phi >= 0) & (phi < 90)).all()


def test_phi_benchmarks_reads_every_test_set_found(data_root, tmp_path):
    res = run_experiment("perspose.phi_benchmarks", data_root=str(data_root), out=str(tmp_path / "r"), stride=1)
    counts = res.frame["set"].value_counts()
    assert set(counts.index) == {"Human3.6M test (S9, S11)", "3DPW test", "MPI-INF-3DHP test"}
    assert counts["Human3.6M test (S9, S11)"] == len(bm.load_h36m(data_root, subjects="test", keypoints=None))
    assert "median phi" in res.meta["data_source"]


def test_phi_benchmarks_without_data_says_why_and_stores_an_empty_table(tmp_path, monkeypatch):
    monkeypatch.delenv("POSEBOOK_DATA_ROOT", raising=False)
    res = run_experiment("perspose.phi_benchmarks", out=str(tmp_path / "r"))
    assert res.frame.empty and list(res.frame.columns) == ["set", "phi_deg"]
    assert "no data_root given" in res.meta["data_source"]
    (tmp_path / "empty").mkdir()
    res = run_experiment("perspose.phi_benchmarks", data_root=str(tmp_path / "empty"), out=str(tmp_path / "r"))
    assert res.frame.empty and "3dpw/sequenceFiles/test/*.pkl" in res.meta["data_source"]
