"""posebook.optim.zedo (ZeDO Algorithm 1) and the ZeDO chapter's recipes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from expected import expected_paired
from posebook.diffusion.prior import PosePrior
from posebook.diffusion.score_net import ScoreNet, ScoreNetConfig
from posebook.diffusion.sde import SubVPSDE
from posebook.geometry.rays import closed_form_translation, keypoint_rays, project_to_rays
from posebook.optim.pose_init import fit_initial_pose
from posebook.optim.zedo import OFFICIAL_H36M, ZeDOConfig, time_schedule, zedo

TINY = ScoreNetConfig(hidden=32, embed_dim=16, groups=8)


@pytest.fixture
def prior() -> PosePrior:
    torch.manual_seed(0)
    return PosePrior(ScoreNet(TINY).eval(), SubVPSDE())


def _scene(B: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    poses = 0.25 * torch.randn(B, 17, 3, generator=g)
    poses = poses - poses[:, :1]
    T = torch.stack([torch.rand(B, generator=g) - 0.5, torch.rand(B, generator=g) - 0.5,
                     3 + 3 * torch.rand(B, generator=g)], dim=-1)
    K = torch.tensor([[500.0, 0, 128], [0, 500.0, 96], [0, 0, 1]]).expand(B, 3, 3).clone()
    P = (poses + T[:, None]) @ K[0].T
    return poses, P[..., :2] / P[..., 2:], K, T


def test_one_iteration_is_the_composition_of_its_equations(prior):
    """iterations = 1, no warm-up: P_1 = step(project(P_0 + T(P_0)) - T(P_0), t = 0.1, dt = -1/N)."""
    poses, kp, K, _ = _scene(3)
    init = poses[:1].flip(1) * 0.9  # any root-relative start
    init = init - init[:, :1]
    config = ZeDOConfig(iterations=1, warmup=0, ipo_steps=30)
    out = zedo(prior, kp, K, init, config=config)
    fit = fit_initial_pose(init.expand(3, 17, 3), kp, K, axes="z", steps=30)
    T = closed_form_translation(fit.poses, kp, K)
    x = project_to_rays(fit.poses + T[:, None], keypoint_rays(kp, K)) - T[:, None]
    with torch.no_grad():
        expected = prior.step(x, 0.1, -1.0 / 1000)
    assert torch.allclose(out.initial[:, 0], fit.poses, atol=1e-6)
    assert torch.allclose(out.hypotheses[:, 0], expected, atol=1e-5)


def test_batching_over_poses_and_hypotheses_changes_nothing(prior):
    """B poses x S hypotheses as one batch give what each (pose, hypothesis) gives alone."""
    poses, kp, K, _ = _scene(4)
    init = poses[:2]
    config = ZeDOConfig(iterations=20, warmup=5, ipo_steps=20)
    together = zedo(prior, kp, K, init, config=config).hypotheses
    for b in (0, 3):
        for s in (0, 1):
            alone = zedo(prior, kp[b:b + 1], K[b:b + 1], init[s:s + 1], config=config).hypotheses
            assert torch.allclose(together[b, s], alone[0, 0], atol=1e-5)


def test_per_pose_initial_poses_and_outputs(prior):
    poses, kp, K, _ = _scene(5)
    out = zedo(prior, kp, K, poses[:, None], config=ZeDOConfig(iterations=10, warmup=2, ipo_steps=5),
               record_at=(5, 10))
    assert out.hypotheses.shape == (5, 1, 17, 3) and out.translations.shape == (5, 1, 3)
    assert set(out.snapshots) == {5, 10} and torch.allclose(out.snapshots[10], out.hypotheses)
    assert out.single.shape == (5, 17, 3) and out.best_by_reprojection().shape == (5, 17, 3)
    assert set(out.seconds) == {"init", "loop"}


def test_time_schedule():
    t = time_schedule(ZeDOConfig())
    assert len(t) == 1000 and t[0] == pytest.approx(0.1) and t[-1] == pytest.approx(0.01)
    assert np.all(np.diff(t) < 0)
    u = time_schedule(ZeDOConfig(schedule="uniform"), torch.Generator().manual_seed(0))
    assert 0.01 <= min(u) and max(u) <= 0.1 and np.all(np.diff(u) <= 0)


def test_config_validation_and_the_official_preset():
    with pytest.raises(ValueError, match="warmup"):
        ZeDOConfig(iterations=10, warmup=20)
    with pytest.raises(ValueError, match="weighting"):
        ZeDOConfig(weighting="squared")
    assert ZeDOConfig().scaled(100).warmup == 20
    assert (OFFICIAL_H36M.weighting, OFFICIAL_H36M.ipo_loss, OFFICIAL_H36M.ipo_joints) == ("official", "l1", (0, 1, 4))


@pytest.mark.parametrize("case,match", [
    ("joints", r"\(B, 17, 2\)"),
    ("nan", "NaN or inf .*pose 1, joint 4"),
    ("negative", "confidence must be finite and >= 0; pose 0, joint 2"),
    ("zero", "fewer than 2 joints with confidence > 0"),
    ("init", r"init must be \(S, 17, 3\)"),
])
def test_bad_input_is_refused_before_any_work(prior, case, match):
    poses, kp, K, _ = _scene(2)
    conf = None
    init = poses[:1]
    if case == "joints":
        kp = kp[:, :16]
    elif case == "nan":
        kp = kp.clone()
        kp[1, 4, 0] = float("nan")
    elif case == "negative":
        conf = torch.ones(2, 17)
        conf[0, 2] = -0.5
    elif case == "zero":
        conf = torch.ones(2, 17)
        conf[1] = 0
        conf[1, 3] = 1
    elif case == "init":
        init = poses[:1, :15]
    with pytest.raises(ValueError, match=match):
        zedo(prior, kp, K, init, confidence=conf, config=ZeDOConfig(iterations=2, warmup=0))


# ------------------------------------------------------------------------------- recipes


@pytest.mark.slow
def test_chapter_experiments_run_and_their_verdicts_follow_the_numbers(tmp_path, monkeypatch, cmu_dir):
    """Tiny runs of the Table 4 and Table 8 recipes: the frames have the columns the pages read, and a
    verdict recomputed independently (numpy) from the frame matches the engine's."""
    from posebook.claims import read_curve, still_moving
    from posebook.experiments import run_experiment
    from posebook.experiments.zedo import tables as ZT

    monkeypatch.setenv("POSEBOOK_RESULTS_DIR", str(tmp_path))
    small = dict(profile="quick", cmu_dir=str(cmu_dir), test_poses=4, prior_steps=30, iterations=20)
    t4 = run_experiment("zedo.ablation", rows=("none", "RO+WU"), inputs=("gt", "noisy"), hypotheses=2, **small)
    f = t4.frame
    assert {"row", "input", "S", "seed", "mpjpe_mm", "min_mpjpe_mm", "pa_mpjpe_mm", "pck", "auc", "curve_dsm"} <= set(f)
    assert len(f) == 2 * 2 * 2 * 3 and np.isfinite(f["mpjpe_mm"]).all()
    claims = ZT.claims_ablation(f, t4.meta)
    row = claims[claims["claim"].str.startswith("Rotation optimisation with warm-up lowers MPJPE")].iloc[0]
    a = f[(f.row == "RO+WU") & (f.S == 1) & (f.input == "noisy")].sort_values("seed")
    b = f[(f.row == "none") & (f.S == 1) & (f.input == "noisy")].sort_values("seed")
    moving = [still_moving(*read_curve(c)) for c in pd.concat([a, b])["curve_dsm"]]
    assert row["verdict"] == expected_paired(a["mpjpe_mm"], b["mpjpe_mm"], moving)
    assert row["data"] and row["profile"] == "quick"

    t8 = run_experiment("zedo.refinement", lifter_steps=30, **small)
    assert list(t8.frame["method"]) == ["lifter", "lifter + ZeDO"] * 3
    assert len(ZT.claims_refinement(t8.frame, t8.meta)) == 2


def test_experiment_parameters_are_checked():
    from posebook.experiments import get_experiment

    with pytest.raises(ValueError, match="rows"):
        get_experiment("zedo.ablation").validate({"rows": ("RO+XX",)})
    with pytest.raises(ValueError, match="inputs"):
        get_experiment("zedo.hypotheses").validate({"inputs": ("exact",)})
    with pytest.raises(ValueError, match="counts"):
        get_experiment("zedo.iterations").validate({"counts": (0, 100)})
