"""Tests for posebook.analysis.one_euro: the batched 1-euro filter against a scalar transcription of
the paper's pseudo-code (Casiez, Roussel & Vogel, CHI 2012), against the authors' PyPI package
``OneEuroFilter`` when it is installed, and against what the filter must do (pass a constant
through, be an exponential smoother at beta = 0, reduce jitter on a moving skeleton)."""

from __future__ import annotations

import math

import pytest
import torch

from posebook import metrics
from posebook.analysis.one_euro import one_euro, smoothing_factor

# ----------------------------------------------------------------- the paper's pseudo-code, scalar


class _LowPass:
    """The pseudo-code's LowPassFilter: the first value passes through; hatxprev is the last output."""

    def __init__(self) -> None:
        self.first = True
        self.hatxprev = 0.0

    def filter(self, x: float, alpha: float) -> float:
        if self.first:
            self.first = False
            self.hatxprev = x
        hatx = alpha * x + (1.0 - alpha) * self.hatxprev
        self.hatxprev = hatx
        return hatx


def _alpha(rate: float, cutoff: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    te = 1.0 / rate
    return 1.0 / (1.0 + tau / te)


def _scalar_one_euro(values: list[float], times: list[float], min_cutoff: float, beta: float,
                     d_cutoff: float) -> list[float]:
    """The pseudo-code of the paper, one channel, plain Python floats (rate from the timestamps)."""
    xfilt, dxfilt = _LowPass(), _LowPass()
    out = []
    for i, x in enumerate(values):
        # the first sample's rate is never used by an output (both filters pass it through)
        rate = 1.0 / (times[i] - times[i - 1]) if i > 0 else 1.0 / (times[1] - times[0]) if len(times) > 1 else 1.0
        dx = 0.0 if i == 0 else (x - xfilt.hatxprev) * rate
        edx = dxfilt.filter(dx, _alpha(rate, d_cutoff))
        cutoff = min_cutoff + beta * abs(edx)
        out.append(xfilt.filter(x, _alpha(rate, cutoff)))
    return out


def _per_channel(x: torch.Tensor, times: list[float], **params) -> torch.Tensor:
    flat = x.reshape(x.shape[0], -1)
    columns = [_scalar_one_euro(flat[:, c].tolist(), times, **params) for c in range(flat.shape[1])]
    return torch.tensor(columns, dtype=torch.float64).T.reshape(x.shape)


def _signal(gen: torch.Generator, T: int = 60, shape: tuple[int, ...] = (4, 3)) -> torch.Tensor:
    t = torch.arange(T, dtype=torch.float64)[:, None]
    phase = torch.rand(1, math.prod(shape), generator=gen, dtype=torch.float64) * 6.0
    smooth = torch.sin(0.2 * t + phase) + 0.3 * torch.sin(0.05 * t * (1 + phase))
    noise = 0.05 * torch.randn(T, math.prod(shape), generator=gen, dtype=torch.float64)
    return (smooth + noise).reshape(T, *shape)


PARAMS = [dict(min_cutoff=1.0, beta=0.0, d_cutoff=1.0), dict(min_cutoff=0.5, beta=0.7, d_cutoff=1.0),
          dict(min_cutoff=0.004, beta=1.5, d_cutoff=2.0)]


@pytest.mark.parametrize("params", PARAMS)
def test_matches_the_scalar_pseudo_code_at_a_constant_rate(gen, params):
    x = _signal(gen)
    fps = 30.0
    times = [i / fps for i in range(x.shape[0])]
    expected = _per_channel(x, times, **params)
    assert torch.allclose(one_euro(x, fps=fps, **params), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("params", PARAMS[1:])
def test_matches_the_scalar_pseudo_code_with_irregular_timestamps(gen, params):
    x = _signal(gen, T=40)
    steps = 0.02 + 0.05 * torch.rand(x.shape[0] - 1, generator=gen, dtype=torch.float64)
    times = torch.cat([torch.zeros(1, dtype=torch.float64), steps.cumsum(0)]) + 3.0
    expected = _per_channel(x, times.tolist(), **params)
    assert torch.allclose(one_euro(x, timestamps=times, **params), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("params", PARAMS)
def test_matches_the_authors_package(gen, params):
    """PyPI ``OneEuroFilter`` (Casiez & Roussel's Python version), one filter object per channel."""
    package = pytest.importorskip("OneEuroFilter")
    x = _signal(gen, T=50, shape=(3, 2))
    flat = x.reshape(x.shape[0], -1)
    kw = dict(mincutoff=params["min_cutoff"], beta=params["beta"], dcutoff=params["d_cutoff"])
    # constant rate
    filters = [package.OneEuroFilter(25.0, **kw) for _ in range(flat.shape[1])]
    expected = torch.tensor([[f(float(v)) for f, v in zip(filters, row)] for row in flat], dtype=torch.float64)
    assert torch.allclose(one_euro(x, fps=25.0, **params), expected.reshape(x.shape), rtol=0, atol=1e-12)
    # timestamps; the package ignores a previous timestamp of 0.0 (falsy), so start later
    steps = 0.02 + 0.05 * torch.rand(x.shape[0] - 1, generator=gen, dtype=torch.float64)
    times = (torch.cat([torch.zeros(1, dtype=torch.float64), steps.cumsum(0)]) + 1.0).tolist()
    filters = [package.OneEuroFilter(1.0 / (times[1] - times[0]), **kw) for _ in range(flat.shape[1])]
    expected = torch.tensor([[f(float(v), t) for f, v in zip(filters, row)] for row, t in zip(flat, times)],
                            dtype=torch.float64)
    got = one_euro(x, timestamps=times, **params)
    assert torch.allclose(got, expected.reshape(x.shape), rtol=0, atol=1e-12)


def test_first_sample_passes_through_and_constant_is_unchanged(gen):
    x = _signal(gen)
    out = one_euro(x, fps=30.0, min_cutoff=0.3, beta=2.0)
    assert torch.equal(out[0], x[0])
    constant = torch.full((25, 5, 3), 0.7, dtype=torch.float64)
    assert torch.allclose(one_euro(constant, fps=30.0, min_cutoff=0.3, beta=2.0), constant, rtol=0, atol=1e-15)
    single = x[:1]
    assert torch.equal(one_euro(single, fps=30.0), single)
    assert torch.equal(one_euro(single, timestamps=[0.5]), single)


def test_beta_zero_is_an_exponential_smoother(gen):
    x = _signal(gen, T=30)
    fps, fc = 60.0, 2.0
    alpha = 1.0 / (1.0 + (1.0 / (2 * math.pi * fc)) * fps)
    expected = [x[0]]
    for t in range(1, x.shape[0]):
        expected.append(alpha * x[t] + (1 - alpha) * expected[-1])
    assert torch.allclose(one_euro(x, fps=fps, min_cutoff=fc, beta=0.0), torch.stack(expected), rtol=0, atol=1e-12)
    assert math.isclose(float(smoothing_factor(torch.tensor(1 / fps), torch.tensor(fc))), alpha, rel_tol=1e-6)


def test_batch_equals_per_channel_and_keeps_dtype_and_shape(gen):
    x = _signal(gen, T=35, shape=(2, 5, 3))
    params = dict(fps=30.0, min_cutoff=0.8, beta=0.4)
    batched = one_euro(x, **params)
    assert batched.shape == x.shape and batched.dtype == x.dtype
    for b in range(2):
        for j in range(5):
            for c in range(3):
                alone = one_euro(x[:, b, j, c].clone(), **params)
                assert torch.allclose(batched[:, b, j, c], alone, rtol=0, atol=1e-14)
    single = one_euro(x.float(), **params)
    assert single.dtype == torch.float32 and torch.allclose(single.double(), batched, atol=1e-5)


def _walk(T: int = 90, fps: float = 30.0) -> torch.Tensor:
    """A CMU-like (T, 17, 3) trajectory: a body walking 1.3 m/s, limbs swinging at 1 Hz."""
    t = torch.arange(T, dtype=torch.float64)[:, None] / fps
    base = torch.linspace(-0.5, 0.5, 17, dtype=torch.float64)[None]
    swing = 0.25 * torch.sin(2 * math.pi * 1.0 * t + 3 * base)
    x = 1.3 * t + 0.1 * base + 0.3 * swing
    y = 1.0 + base + 0.05 * torch.sin(4 * math.pi * t)
    z = 4.0 + 0.15 * swing
    return torch.stack(torch.broadcast_tensors(x, y, z), dim=-1)


def _cmu_walk(cmu_dir, fps: float = 30.0) -> torch.Tensor:
    from posebook.data import mocap

    motion = mocap.load_asf_amc(cmu_dir / "02.asf", cmu_dir / "02_01.amc")
    return mocap.resample(motion, fps).positions.double()


@pytest.mark.parametrize("source", ["synthetic", "cmu"])
def test_reduces_jitter_of_a_noisy_trajectory(gen, source, request):
    """Acceleration error (CLIFF supp. Table 1's metric) of noisy joints falls by more than half."""
    truth = _walk() if source == "synthetic" else _cmu_walk(request.getfixturevalue("cmu_dir"))
    noisy = truth + 0.02 * torch.randn(truth.shape, generator=gen, dtype=torch.float64)  # 2 cm per joint
    smoothed = one_euro(noisy, fps=30.0, min_cutoff=1.0, beta=5.0)
    before = float(metrics.accel_error(noisy, truth).mean())
    after = float(metrics.accel_error(smoothed, truth).mean())
    assert after < 0.5 * before
    # ...without lagging far behind the moving body (the adaptive cutoff's job): the position error
    # grows by less than 20% (CLIFF supp. Table 1: MPJPE +1 to 2 mm for accel. error / 2)
    assert float(metrics.mpjpe(smoothed, truth).mean()) < 1.2 * float(metrics.mpjpe(noisy, truth).mean())


def test_beta_trades_lag_for_jitter(gen):
    truth = _walk()
    noisy = truth + 0.01 * torch.randn(truth.shape, generator=gen, dtype=torch.float64)
    slow = one_euro(noisy, fps=30.0, min_cutoff=0.2, beta=0.0)
    fast = one_euro(noisy, fps=30.0, min_cutoff=0.2, beta=5.0)
    # the walking body moves 1.3 m/s: without beta the filter lags behind it by decimetres
    assert float(metrics.mpjpe(fast, truth).mean()) < 0.5 * float(metrics.mpjpe(slow, truth).mean())


@pytest.mark.parametrize("kwargs, message", [
    (dict(), "exactly one of fps"),
    (dict(fps=30.0, timestamps=[0.0, 1.0]), "exactly one of fps"),
    (dict(fps=0.0), "fps must be a finite number > 0"),
    (dict(fps=float("nan")), "fps must be a finite number > 0"),
    (dict(fps=30.0, min_cutoff=0.0), "min_cutoff must be a finite number > 0"),
    (dict(fps=30.0, min_cutoff=float("inf")), "min_cutoff must be a finite number > 0"),
    (dict(fps=30.0, d_cutoff=-1.0), "d_cutoff must be a finite number > 0"),
    (dict(fps=30.0, beta=-0.1), "beta must be a finite number >= 0"),
    (dict(fps=30.0, beta=float("nan")), "beta must be a finite number >= 0"),
    (dict(timestamps=[0.0, 0.1, 0.1, 0.3]), "strictly increasing"),
    (dict(timestamps=[0.0, 0.2, 0.1, 0.3]), "strictly increasing"),
    (dict(timestamps=[0.0, 0.1, 0.2]), "shape"),
    (dict(timestamps=[0.0, float("nan"), 0.2, 0.3]), "finite"),
])
def test_bad_inputs_raise_naming_the_parameter(kwargs, message):
    x = torch.zeros(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=message):
        one_euro(x, **kwargs)


def test_bad_signals_raise():
    with pytest.raises(ValueError, match="T >= 1"):
        one_euro(torch.zeros(0, 3), fps=30.0)
    with pytest.raises(ValueError, match="T >= 1"):
        one_euro(torch.tensor(1.0), fps=30.0)
    with pytest.raises(ValueError, match="floating-point"):
        one_euro(torch.zeros(4, 3, dtype=torch.long), fps=30.0)
    with pytest.raises(ValueError, match="floating-point"):
        one_euro([0.0, 1.0], fps=30.0)
    bad = torch.zeros(5, 2)
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"x must be finite.*\(3, 1\)"):
        one_euro(bad, fps=30.0)
