"""ZeDO Tables 1-3 on the benchmarks (posebook.experiments.zedo.benchmark), on fixtures written in the public
file formats: which poses each benchmark gives, the settings each runs with, and the experiment end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures_benchmarks import write_3dpw, write_h36m, write_h36m_regressor, write_mpi_inf_3dhp
from fixtures_smpl import write_smpl_models

from posebook.data import benchmarks as bm
from posebook.data.benchmarks.pw3d import find_h36m_regressor, load_h36m_regressor, smpl_h36m_joints
from posebook.experiments import run_experiment
from posebook.experiments.zedo.benchmark import BENCHMARKS, _config, benchmark_set
from posebook.optim.zedo import OFFICIAL_H36M


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data_root")
    write_h36m(root, list(bm.H36M_CAMERAS), bm.H36M_EXTRINSICS, n_frames=200)
    write_mpi_inf_3dhp(root, sequences=("TS1", "TS2", "TS3", "TS4", "TS5", "TS6"))
    write_3dpw(root, n_frames=80)
    write_smpl_models(root / "smpl", genders=("male", "female"))
    write_h36m_regressor(root / "smpl" / "J_regressor_h36m_correct.npy")
    return root


def test_each_benchmark_gives_its_official_subset(data_root):
    h36m = bm.load_h36m(data_root, subjects="test", keypoints=None)
    poses = benchmark_set("h36m", data_root, 10**6)
    assert len(poses) == -(-len(h36m) // 640)  # every 640th row of S9 and S11
    np.testing.assert_allclose(poses.poses.numpy(), (h36m["joints_3d_cam"][::640] - h36m["joints_3d_cam"][::640, :1]),
                               atol=1e-6)
    hp = bm.load_mpi_inf_3dhp(data_root)
    assert len(benchmark_set("3dhp", data_root, 10**6)) == len(hp.select(np.arange(0, len(hp), 3)))
    pw = bm.load_3dpw(data_root, stride=35)
    pw_set = benchmark_set("3dpw", data_root, 10**6)
    assert len(pw_set) == len(pw)
    # 3DPW: the H36M joints of the placed SMPL mesh, their exact projection
    J = load_h36m_regressor(find_h36m_regressor(data_root))
    placed = smpl_h36m_joints(pw, J, data_root, placed=True)
    np.testing.assert_allclose(pw_set.root.numpy(), placed[:, 0].numpy(), atol=1e-5)
    X = placed.numpy()
    uvw = np.einsum("nij,nkj->nki", pw["K"], X)
    np.testing.assert_allclose(pw_set.keypoints_2d.numpy(), uvw[..., :2] / uvw[..., 2:], rtol=1e-5)
    # at most max_poses, evenly spaced, the first and last kept
    few = benchmark_set("h36m", data_root, 3)
    assert len(few) == 3 and torch.equal(few.poses[0], poses.poses[0]) and torch.equal(few.poses[-1], poses.poses[-1])


def test_the_settings_are_the_official_configs_depth_ranges():
    pw, h36m = BENCHMARKS["3dpw"], BENCHMARKS["h36m"]
    paper = _config(pw, official=False, iterations=1000)
    assert (paper.ipo_depth, paper.ipo_scale, paper.ipo_joints) == (8.0, (0.2, 2.0), None)
    official = _config(h36m, official=True, iterations=1000)
    assert official.ipo_joints == (0, 1, 4) and official.weighting == OFFICIAL_H36M.weighting == "official"
    assert _config(pw, official=True, iterations=1000).ipo_joints is None  # the 3DPW config fits all 17
    assert _config(h36m, official=False, iterations=100).warmup == 20


def test_without_data_it_says_why(tmp_path, monkeypatch):
    monkeypatch.delenv("POSEBOOK_DATA_ROOT", raising=False)
    res = run_experiment("zedo.benchmarks", out=str(tmp_path / "r"))
    assert res.frame.empty and "no data_root given" in res.meta["data_source"]
    (tmp_path / "empty").mkdir()
    res = run_experiment("zedo.benchmarks", data_root=str(tmp_path / "empty"), out=str(tmp_path / "r"))
    assert res.frame.empty and "none of" in res.meta["data_source"]
    with pytest.raises(ValueError, match="3dpw"):
        run_experiment("zedo.benchmarks", benchmarks=("ski",), out=str(tmp_path / "r"))


@pytest.mark.slow
def test_zedo_runs_on_every_benchmark_found(data_root, isolated, monkeypatch):
    monkeypatch.delenv("POSEBOOK_CMU_DIR", raising=False)
    res = run_experiment("zedo.benchmarks", data_root=str(data_root), out=str(isolated / "r"), max_poses=4,
                         hypotheses=3, iterations=20, world_size=300, prior_steps=20)
    frame = res.frame
    assert set(frame["benchmark"]) == {"h36m", "3dhp", "3dpw"} and set(frame["S"]) == {1, 3}
    assert np.isfinite(frame[["mpjpe_mm", "pa_mpjpe_mm", "pck", "auc"]].to_numpy()).all()
    multi = frame[frame["S"] == 3]
    assert (multi["min_mpjpe_mm"] <= multi["mpjpe_mm"] + 1e-9).all()  # the min over S holds the first
    assert frame.loc[(frame["benchmark"] == "3dpw") & (frame["S"] == 1), "paper"].str.contains("40.3").all()
    assert "every row cross-domain" in res.meta["data_source"]
