"""Tests for posebook.experiments.sgre.theory: ``sgre.noise_propagation`` (Fig. 1b) and
``sgre.angle_distribution`` (Fig. 2) run at the quick profile through ``run_experiment`` with an
isolated cache, their frames checked for structure and for what Eq. 8 / Eq. 10 say the numbers must
be; the Eq. 8 / 10 check against Anny's own forward kinematics."""

from __future__ import annotations

import math

import numpy as np
import pytest

import posebook.experiments.sgre  # noqa: F401  (registers the sgre.* experiments)
from posebook.analysis.chains import SGRE_CHAINS
from posebook.experiments.registry import get_experiment, run_experiment
from posebook.experiments.sgre import theory as ST
from posebook.runs import make_context

_CHAIN_LENGTHS = {"root->head": 7, "root->toe": 6, "root->hand": 8}


@pytest.mark.slow  # builds a small world (the Anny model runs)
def test_noise_propagation_and_angle_distribution_on_cmu(isolated, cmu_dir):
    out = isolated / "results"
    noise = run_experiment("sgre.noise_propagation", profile="quick", out=out, cmu_dir=cmu_dir)
    assert noise.meta["data_source"].startswith("CMU mocap")
    frame = noise.frame
    assert list(frame.columns) == ["where", "sigma_deg", "seed", "chain", "depth", "joint", "position_mm",
                                   "global_deg", "relative_deg"]
    seeds = sorted(frame["seed"].unique())
    assert seeds == [0, 1, 2]  # the quick profile's three seeds
    assert len(frame) == 2 * 3 * len(seeds) * sum(_CHAIN_LENGTHS.values())
    assert frame.groupby("chain")["depth"].max().to_dict() == {k: v - 1 for k, v in _CHAIN_LENGTHS.items()}
    mean = frame.groupby(["where", "sigma_deg", "chain", "depth"])[["position_mm", "global_deg", "relative_deg"]].mean()
    for chain, length in _CHAIN_LENGTHS.items():
        end = length - 1
        for sigma in (2.0, 5.0, 10.0):
            rel, glob = mean.loc[("relative", sigma, chain)], mean.loc[("global", sigma, chain)]
            # relative noise: the global error grows down the chain (Eq. 8), > 2x from the root to the end
            assert rel.loc[end, "global_deg"] > 2.0 * rel.loc[0, "global_deg"]
            assert np.all(np.diff(rel["global_deg"]) > 0)
            assert rel.loc[end, "position_mm"] > rel.loc[1, "position_mm"]
            assert rel.loc[end, "position_mm"] > 1.5 * glob.loc[end, "position_mm"]
            # global noise: flat at the mean injected angle sigma sqrt(2 / pi) (256 poses x 3 seeds)
            np.testing.assert_allclose(glob["global_deg"], sigma * math.sqrt(2 / math.pi), rtol=0.12)
            assert glob.loc[0, "position_mm"] == 0 and rel.loc[0, "position_mm"] == 0
        # one noise draw per seed for every sigma: global errors are the angles, so they scale exactly
        np.testing.assert_allclose(mean.loc[("global", 10.0, chain), "global_deg"],
                                   2 * mean.loc[("global", 5.0, chain), "global_deg"], rtol=1e-6)
    # the same noise in both cases: the root's error is the same
    np.testing.assert_allclose(mean.xs(0, level="depth").loc["relative"].to_numpy(),
                               mean.xs(0, level="depth").loc["global"].to_numpy())

    angles = run_experiment("sgre.angle_distribution", profile="quick", out=out, cmu_dir=cmu_dir).frame
    kinds = list(ST.ROTATION_KINDS)
    assert list(angles["rotation"].unique()) == kinds
    assert {"mean_deg", "sd_deg", "q10_deg", "q50_deg", "q90_deg", "samples"} <= set(angles.columns)
    assert len(angles) == len(kinds) * (31 + sum(_CHAIN_LENGTHS.values()))
    assert (angles["samples"] == 256).all()
    q = angles[["q10_deg", "q25_deg", "q50_deg", "q75_deg", "q90_deg"]].to_numpy()
    assert np.all(np.diff(q, axis=1) >= -1e-9) and np.all(q >= 0) and np.all(q <= 180)
    by = angles[angles["chain"] == "all joints"].set_index(["rotation", "joint"])["mean_deg"]
    # the root: its relative rotation is its camera-frame global one; in its own frame it is I
    assert by[("relative", "Hips")] == pytest.approx(by[("global (camera)", "Hips")])
    assert by[("global (body)", "Hips")] == pytest.approx(0, abs=1e-5)
    # a child of the root: G_0^T G_k = R_k (Eq. 10)
    assert by[("global (body)", "LowerBack")] == pytest.approx(by[("relative", "LowerBack")])
    assert by[("relative", "LHipJoint")] == pytest.approx(0, abs=1e-5)  # CMU's hip bone does not rotate
    # camera frame (y down) vs the y-up body: about 180 deg for every upright bone
    assert by.loc["global (camera)"].mean() > 140
    summary = ST.chain_summary(angles)
    assert list(summary.index) == list(SGRE_CHAINS) and list(summary.columns) == kinds


@pytest.mark.slow
def test_procedural_poses_without_cmu(isolated, monkeypatch):
    monkeypatch.delenv("POSEBOOK_CMU_DIR", raising=False)
    result = run_experiment("sgre.noise_propagation", profile="quick", out=isolated / "results", samples=32,
                            sigmas=(5.0,), angles="fixed")
    assert result.meta["data_source"].startswith("procedural poses")
    frame = result.frame
    glob = frame[frame["where"] == "global"]
    np.testing.assert_allclose(glob["global_deg"], 5.0, atol=1e-6)  # a fixed angle: every error is sigma
    rel = frame[(frame["where"] == "relative") & (frame["chain"] == "root->hand")]
    np.testing.assert_allclose(rel["relative_deg"], 5.0, atol=1e-6)
    assert rel.groupby("depth")["global_deg"].mean().is_monotonic_increasing


@pytest.mark.slow
def test_equations_8_and_10_match_annys_forward_kinematics(isolated, cmu_dir):
    poses = ST.load_poses(make_context("quick", cmu_dir=cmu_dir), 8)
    check = ST.kinematics_check(poses).set_index("check")["max_abs_difference"]
    assert len(check) == 4
    assert (check.iloc[:3] < 1e-4).all()  # float32 Anny vs float64
    assert check.iloc[3] < 0.01  # mm


def test_bad_parameters_are_refused_before_any_work(isolated):
    with pytest.raises(ValueError, match="sigmas"):
        run_experiment("sgre.noise_propagation", out=isolated, sigmas=(-1.0, 5.0))
    with pytest.raises(ValueError, match="angles"):
        run_experiment("sgre.noise_propagation", out=isolated, angles="uniform")
    with pytest.raises(ValueError, match="quantiles"):
        run_experiment("sgre.angle_distribution", out=isolated, quantiles=(0.5, 1.5))


def test_experiments_are_registered_with_docstrings():
    for name in ("sgre.noise_propagation", "sgre.angle_distribution"):
        exp = get_experiment(name)
        assert exp.summary and "samples" in exp.defaults
