"""The 1-euro filter (Casiez, Roussel & Vogel, CHI 2012), batched over any trailing shape.

CLIFF (supp. Sec. 4, Table 1) smooths its per-frame predictions of a video with it ("w/ OneEuro"):
the acceleration error drops by half at the cost of a millimetre or two of MPJPE. The filter is a
first-order low-pass whose cutoff grows with the signal's (filtered) speed: at rest a low cutoff
removes jitter, in fast motion a higher one removes lag.

:func:`one_euro` filters a (T, ...) tensor along time (dim 0): every trailing entry (the joints x 3
of many sequences at once) is its own channel, and the only Python loop is over the T frames. It
follows the paper's pseudo-code step for step, including its two start-up rules (the first sample
passes through; the derivative of the first sample is 0), so it agrees with the authors' reference
implementation (PyPI ``OneEuroFilter``) to rounding.
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import torch

__all__ = ["one_euro", "smoothing_factor"]

Timestamps = Union[torch.Tensor, Sequence[float]]


def smoothing_factor(te: torch.Tensor, cutoff: torch.Tensor) -> torch.Tensor:
    """The exponential smoother's weight alpha = 1 / (1 + tau / Te), tau = 1 / (2 pi fc).

    Args:
        te: sampling period(s) Te in seconds, > 0 (broadcast against ``cutoff``).
        cutoff: cutoff frequency fc in Hz, > 0.
    Returns:
        alpha in (0, 1), the broadcast shape.
    """
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / te)


def _positive_number(value: float, name: str, meaning: str) -> float:
    """``value`` as a float, refused unless finite and > 0 (the message names it and what it is)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number > 0 ({meaning}); got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0 ({meaning}); got {value!r}")
    return number


def _periods(x: torch.Tensor, fps: float | None, timestamps: Timestamps | None) -> torch.Tensor:
    """(T - 1,) sampling periods Te_t = t_t - t_{t-1} (seconds), on ``x``'s device and dtype."""
    T = x.shape[0]
    if (fps is None) == (timestamps is None):
        raise ValueError("give exactly one of fps (a constant frame rate, Hz) or timestamps "
                         f"((T,) seconds, strictly increasing); got fps={fps!r} and "
                         f"timestamps={'None' if timestamps is None else 'given'}")
    if fps is not None:
        rate = _positive_number(fps, "fps", "frames per second")
        return torch.full((max(T - 1, 0),), 1.0 / rate, dtype=x.dtype, device=x.device)
    t = torch.as_tensor(timestamps, dtype=torch.float64)
    if t.shape != (T,):
        raise ValueError(f"timestamps must have shape (T,) = ({T},), one per frame of x; got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError("timestamps must be finite seconds; got NaN or inf at index "
                         f"{int((~torch.isfinite(t)).nonzero()[0])}")
    te = t[1:] - t[:-1]  # in float64: close timestamps keep their difference
    if T > 1 and not bool((te > 0).all()):
        k = int((te <= 0).nonzero()[0]) + 1
        raise ValueError(f"timestamps must be strictly increasing; got t[{k - 1}] = {float(t[k - 1])!r} "
                         f"and t[{k}] = {float(t[k])!r}")
    return te.to(dtype=x.dtype, device=x.device)


def one_euro(x: torch.Tensor, *, fps: float | None = None, timestamps: Timestamps | None = None,
             min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0) -> torch.Tensor:
    """The 1-euro filter of every channel of ``x`` along dim 0 (Casiez et al. 2012; CLIFF supp. Table 1).

    For frames t = 1 .. T-1 with sampling period Te_t (1 / fps, or t_t - t_{t-1}):

    - smoothing factor of a cutoff fc: alpha(fc) = 1 / (1 + tau / Te_t), tau = 1 / (2 pi fc);
    - raw derivative: dx_t = (x_t - x_hat_{t-1}) / Te_t (against the previous FILTERED value, as
      the paper's ``xfilt.hatxprev()``);
    - filtered derivative: dx_hat_t = alpha(d_cutoff) dx_t + (1 - alpha(d_cutoff)) dx_hat_{t-1};
    - adaptive cutoff: ``fc_t = min_cutoff + beta |dx_hat_t|``;
    - output: x_hat_t = alpha(fc_t) x_t + (1 - alpha(fc_t)) x_hat_{t-1}.

    Start-up, as the pseudo-code: x_hat_0 = x_0 (the first sample passes through) and
    dx_hat_0 = dx_0 = 0. With beta = 0 the filter is the exponential smoother of fixed alpha
    (min_cutoff). The absolute value, the cutoff and both smoothers act per entry: each entry of the
    trailing shape is its own channel (the paper filters each coordinate separately).

    Args:
        x: (T, ...) signal, T >= 1 frames along dim 0, any trailing shape (e.g. (T, B, J, 3) joints
            of B sequences, metres); floating point, finite.
        fps: constant frame rate in Hz, > 0. Exactly one of ``fps`` and ``timestamps``.
        timestamps: (T,) frame times in seconds, finite and strictly increasing (shared by every
            channel). Computed in float64, then cast to ``x.dtype``.
        min_cutoff: the cutoff at rest, Hz, > 0 (lower: less jitter, more lag).
        beta: the speed coefficient, >= 0, in Hz per unit of ``|dx/dt|`` of x (higher: less lag in
            fast motion).
        d_cutoff: the cutoff of the derivative's smoother, Hz, > 0 (the paper keeps 1 Hz).
    Returns:
        (T, ...) filtered signal, ``x``'s shape, dtype and device.
    Raises:
        ValueError: naming the parameter and what is allowed: x not a floating tensor with T >= 1
            or not finite; not exactly one of fps / timestamps; fps, min_cutoff or d_cutoff not a
            finite number > 0; beta negative or not finite; timestamps of the wrong shape, not
            finite or not strictly increasing.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        kind = f"a {x.dtype} tensor" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a floating-point tensor (T, ...); got {kind}")
    if x.dim() == 0 or x.shape[0] < 1:
        raise ValueError(f"x must have T >= 1 frames along dim 0, shape (T, ...); got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        first = tuple(int(i) for i in (~torch.isfinite(x)).nonzero()[0])
        raise ValueError(f"x must be finite (a NaN or inf would spread to every later frame); got "
                         f"{float(x[first])} at index {first}: fill or drop missing values first")
    min_cutoff = _positive_number(min_cutoff, "min_cutoff", "the cutoff frequency at rest, Hz")
    d_cutoff = _positive_number(d_cutoff, "d_cutoff", "the derivative's cutoff frequency, Hz")
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a finite number >= 0 (Hz per unit of speed); got {beta!r}") from None
    if not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a finite number >= 0 (Hz per unit of speed); got {beta!r}")
    te = _periods(x, fps, timestamps)

    out = torch.empty_like(x)
    x_hat = x[0]
    dx_hat = torch.zeros_like(x[0])
    out[0] = x_hat
    alpha_d = smoothing_factor(te, torch.tensor(d_cutoff, dtype=x.dtype, device=x.device))
    for t in range(1, x.shape[0]):  # the recursion is sequential in time; channels are batched
        dx = (x[t] - x_hat) / te[t - 1]
        dx_hat = alpha_d[t - 1] * dx + (1.0 - alpha_d[t - 1]) * dx_hat
        alpha = smoothing_factor(te[t - 1], min_cutoff + beta * dx_hat.abs())
        x_hat = alpha * x[t] + (1.0 - alpha) * x_hat
        out[t] = x_hat
    return out
