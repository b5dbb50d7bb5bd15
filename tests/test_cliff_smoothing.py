"""CLIFF supp. Table 1 (cliff.smoothing): the filter and metric pieces on hand-made sequences, the verdicts
on hand-made rows, and the experiment end to end at a tiny size (Table 2's regressors trained for 80 steps
on a 240-sample world, sequences of the held-out CMU clips)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from posebook import claims as C
from posebook.analysis.one_euro import one_euro
from posebook.experiments import run_experiment
from posebook.experiments.cliff import CLAIMS
from posebook.experiments.cliff import smoothing as CS
from posebook.runs import curve_json

#: tiny sizes; 80 steps, not the 12 of tests/test_cliff_experiments.py: after 12 steps the regressor
#: still predicts nearly its mean pose on every frame, with no jitter to filter (measured: accel error
#: 4.0796 filtered vs 4.0789 per frame); after 80 it jitters (4.87 -> 4.20 mm/frame^2)
TINY = dict(world_size=240, steps=80, frames=30)


def _walk(S: int = 2, T: int = 40, J: int = 5, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    """(S, T, J, 3) smooth pelvis-relative motion (a swing of ~0.3 m at 1 Hz), plus Gaussian jitter (m)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T, dtype=torch.float64) / CS.FPS
    phase = torch.rand(S, 1, J, 1, generator=g, dtype=torch.float64) * 2 * math.pi
    x = 0.3 * torch.sin(2 * math.pi * t[None, :, None, None] + phase) * torch.tensor([1.0, 0.5, 0.2], dtype=torch.float64)
    return x + noise * torch.randn(S, T, J, 3, generator=g, dtype=torch.float64)


def test_filter_runs_per_sequence_along_time():
    x = _walk(noise=0.02)
    out = CS.filter_sequences(x, min_cutoff=2.0, beta=2.0, d_cutoff=1.0)
    assert out.shape == x.shape
    for s in range(x.shape[0]):  # sequences are independent channels
        alone = one_euro(x[s], fps=CS.FPS, min_cutoff=2.0, beta=2.0, d_cutoff=1.0)
        assert torch.allclose(out[s], alone, atol=1e-12)
    assert torch.equal(out[:, 0], x[:, 0])  # the first frame passes through (the filter's start-up rule)


def test_metrics_are_zero_for_the_truth_and_the_filter_lowers_jitter():
    truth = _walk()
    zero = CS.sequence_metrics(truth, truth, truth, truth)
    assert all(abs(v) < 1e-9 for v in zero.values())
    noisy = _walk(noise=0.02)
    raw = CS.sequence_metrics(noisy, truth, noisy, truth)
    smooth = CS.filter_sequences(noisy, min_cutoff=2.0, beta=2.0, d_cutoff=1.0)
    filtered = CS.sequence_metrics(smooth, truth, smooth, truth)
    assert filtered["accel_mm_frame2"] < 0.5 * raw["accel_mm_frame2"]
    # white noise of sigma 20 mm per coordinate: its second difference has sigma sqrt(6) x 20 mm per coordinate,
    # and a 3D Gaussian of sigma s has mean norm s sqrt(8 / pi): 78.2 mm/frame^2 (the truth's own is exact)
    assert raw["accel_mm_frame2"] == pytest.approx(math.sqrt(6) * 20 * math.sqrt(8 / math.pi), rel=0.1)
    assert raw["mpjpe_mm"] == pytest.approx(raw["pve_mm"])


def _rows(accel_raw, accel_smooth, mpjpe_raw, mpjpe_smooth, curve="") -> pd.DataFrame:
    rows = []
    for seed, (ar, asm, mr, ms) in enumerate(zip(accel_raw, accel_smooth, mpjpe_raw, mpjpe_smooth)):
        for setting, a, m in ((CS.SETTINGS[0], ar, mr), (CS.SETTINGS[1], asm, ms)):
            rows.append({"setting": setting, "seed": seed, "accel_mm_frame2": a, "mpjpe_mm": m, "steps": 100,
                         "curve_pretrained_mpjpe_mm": curve})
    return pd.DataFrame(rows)


def test_claims_read_the_rows():
    assert CLAIMS["cliff.smoothing"] is CS.claims_smoothing
    flat = curve_json([0, 50, 100], [200.0, 150.0, 149.0])
    good = CS.claims_smoothing(_rows([20.0, 21.0], [10.0, 9.0], [100.0, 100.0], [101.0, 101.5], flat))
    assert list(good["verdict"]) == ["holds", "holds"] and len(good) == 2
    costly = CS.claims_smoothing(_rows([20.0, 21.0], [10.0, 9.0], [100.0, 100.0], [104.0, 105.0], flat))
    assert list(costly["verdict"]) == ["holds", "does not hold"]
    falling = curve_json([0, 50, 100], [200.0, 150.0, 120.0])  # the regressor still improves
    moving = CS.claims_smoothing(_rows([20.0], [10.0], [100.0], [101.0], falling))
    assert set(moving["verdict"]) == {"not converged"}
    assert CS.claims_smoothing(pd.DataFrame()).empty


def test_without_cmu_data_it_names_the_variable_before_any_work(isolated, monkeypatch):
    monkeypatch.delenv("POSEBOOK_CMU_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="POSEBOOK_CMU_DIR"):
        run_experiment("cliff.smoothing", out=isolated / "results", **TINY)
    assert not (isolated / "cache").exists()  # no world was built for nothing


def test_bad_filter_parameters_are_refused(isolated):
    for name, value in (("min_cutoff", 0.0), ("beta", -1.0), ("d_cutoff", -2.0)):
        with pytest.raises(ValueError, match=name):
            run_experiment("cliff.smoothing", out=isolated, **{name: value})


@pytest.mark.slow
def test_smoothing_end_to_end(isolated, cmu_dir):
    out = isolated / "results"
    result = run_experiment("cliff.smoothing", out=out, cmu_dir=cmu_dir, **TINY)
    frame = result.frame
    assert list(frame["setting"]) == list(CS.SETTINGS) and list(frame["seed"]) == [0, 0]
    numbers = ["mpjpe_mm", "pa_mpjpe_mm", "pve_mm", "accel_mm_frame2"]
    assert frame[numbers].notna().all().all() and (frame[numbers] > 0).all().all()
    raw, smooth = frame.iloc[0], frame.iloc[1]
    assert smooth["accel_mm_frame2"] < raw["accel_mm_frame2"]
    assert smooth["min_cutoff"] == 2.0 and math.isnan(raw["min_cutoff"])
    assert raw["frames"] == 30 and raw["fps"] == 30.0 and raw["sequences"] >= 1
    assert "held out" in result.meta["data_source"] and "30 frames each at 30 fps" in result.meta["data_source"]
    assert C.read_curve(raw["curve_pretrained_mpjpe_mm"])[0].size >= 2
    verdicts = CS.claims_smoothing(frame, result.meta)
    assert len(verdicts) == 2 and set(verdicts["verdict"]) <= set(C.VERDICTS)
    assert verdicts.iloc[0]["metric"] == "accel_mm_frame2"
    # resumed, and the Table 2 regressors are the shared artifacts
    assert run_experiment("cliff.smoothing", out=out, cmu_dir=cmu_dir, **TINY).reused
    assert list((out / "_artifacts" / "cliff.regressor").glob("*.pt"))
    # a heavier filter smooths more (the same cached regressor and sequences)
    heavy = run_experiment("cliff.smoothing", out=out, cmu_dir=cmu_dir, min_cutoff=0.5, beta=0.0, **TINY).frame
    assert heavy.iloc[0]["accel_mm_frame2"] == pytest.approx(raw["accel_mm_frame2"])  # per frame: unchanged
    assert heavy.iloc[1]["accel_mm_frame2"] < smooth["accel_mm_frame2"]
    # one sequence's trajectory for the plot, recomputed from the stored result
    traj = CS.trajectory(result, sequence=0, joints=("RWrist",))
    assert len(traj) == 30 * 3 and set(traj["axis"]) == {"x", "y", "z"}
    assert np.isfinite(traj[["truth_m", "per_frame_m", "one_euro_m"]].to_numpy()).all()
    first = traj[traj["t"] == 0]
    assert np.allclose(first["per_frame_m"], first["one_euro_m"])  # the filter passes frame 0 through
