"""The forward diffusions of ZeDO's pose prior: the sub-VP SDE (ZeDO Eq. 1) and the VP SDE of DDPM.

Both follow score_sde's conventions (Song et al. 2021, ``sde_lib.py``): time runs in ``(0, T]``,
``beta(t) = beta_min + t (beta_max - beta_min)`` and ``B(t) = int_0^t beta = beta_min t +
(beta_max - beta_min) t^2 / 2``.

- **sub-VP** (ZeDO Eq. 1, score_sde ``subVPSDE``): ``dx = -beta/2 x dt + sqrt(beta (1 - e^{-2B}))
  dw``; ``p(x(t) | x(0)) = N(x(0) e^{-B/2}, (1 - e^{-B})^2 I)``: the STANDARD DEVIATION is
  ``1 - e^{-B}`` (ZeDO Eq. 1 writes it as the variance's square root, consistently).
- **VP** (DDPM's continuous limit, score_sde ``VPSDE``): ``dx = -beta/2 x dt + sqrt(beta) dw``;
  ``p(x(t) | x(0)) = N(x(0) e^{-B/2}, (1 - e^{-B}) I)``, i.e. DDPM's ``alpha_bar(t) = e^{-B(t)}``.
  With ``beta_min = 0.1, beta_max = 20, N = 1000`` its discretisation is DDPM's linear schedule
  ``beta_i = beta_min / N + i (beta_max - beta_min) / N^2`` (score_sde ``VPSDE.discrete_betas``).

The official ZeDO code trains with ``T = 1`` and builds the SDE with ``T = 0.1`` for inference
(``run/opt_main.py`` L146-148), which only changes the range of t it walks, not the formulas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

__all__ = ["SubVPSDE", "VPSDE", "make_sde"]


def _as_time(t: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """``t`` as a tensor on ``like``'s device and dtype, shaped to broadcast over a (B, J, 3) batch
    when it is (B,), or a scalar."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.reshape(t.shape + (1,) * (like.dim() - t.dim())) if t.dim() else t


@dataclass(frozen=True)
class _LinearBetaSDE:
    beta_min: float = 0.1
    beta_max: float = 20.0
    N: int = 1000
    T: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.beta_min < self.beta_max:
            raise ValueError(f"need 0 <= beta_min < beta_max, got {self.beta_min}, {self.beta_max}")
        if not (isinstance(self.N, int) and self.N >= 1):
            raise ValueError(f"N (discretisation steps) must be a positive int, got {self.N!r}")
        if not 0 < self.T <= 1:
            raise ValueError(f"T must lie in (0, 1], got {self.T}")

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        """beta(t), elementwise."""
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def integral(self, t: torch.Tensor) -> torch.Tensor:
        """B(t) = int_0^t beta(s) ds, elementwise."""
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2

    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        """e^{-B(t)}: DDPM's cumulative signal fraction (the marginal mean's factor is its root)."""
        return torch.exp(-self.integral(t))

    def std(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def marginal_prob(self, x0: torch.Tensor, t: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation of ``p(x(t) | x(0))`` (ZeDO Eq. 1 for sub-VP).

        Args:
            x0: (B, ...) clean samples; t: (B,) or a scalar.
        Returns:
            mean (B, ...) and std broadcastable to it.
        """
        tt = _as_time(t, x0)
        return x0 * torch.exp(-0.5 * self.integral(tt)), self.std(tt)

    def diffusion_sq(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sde(self, x: torch.Tensor, t: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """Drift ``f(x, t) = -beta(t) x / 2`` (B, ...) and diffusion ``g(t)`` (broadcastable)."""
        tt = _as_time(t, x)
        return -0.5 * self.beta(tt) * x, torch.sqrt(self.diffusion_sq(tt))


@dataclass(frozen=True)
class SubVPSDE(_LinearBetaSDE):
    """The sub-VP SDE (ZeDO Eq. 1; score_sde ``subVPSDE`` with GFPose / ZeDO's defaults)."""

    kind = "subvp"

    def std(self, t: torch.Tensor) -> torch.Tensor:
        """1 - e^{-B(t)} (``sde_lib.py`` L194-198); ``-expm1`` keeps it accurate for small t."""
        return -torch.expm1(-self.integral(t))

    def diffusion_sq(self, t: torch.Tensor) -> torch.Tensor:
        """g(t)^2 = beta(t) (1 - e^{-2 B(t)})."""
        return self.beta(t) * -torch.expm1(-2.0 * self.integral(t))


@dataclass(frozen=True)
class VPSDE(_LinearBetaSDE):
    """The VP SDE: DDPM's forward process in continuous time (score_sde ``VPSDE``)."""

    kind = "vp"

    def std(self, t: torch.Tensor) -> torch.Tensor:
        """sqrt(1 - e^{-B(t)})."""
        return torch.sqrt(-torch.expm1(-self.integral(t)))

    def diffusion_sq(self, t: torch.Tensor) -> torch.Tensor:
        """g(t)^2 = beta(t)."""
        return self.beta(t)


def make_sde(kind: Literal["subvp", "vp"], **kwargs) -> _LinearBetaSDE:
    """``SubVPSDE(**kwargs)`` or ``VPSDE(**kwargs)``."""
    if kind == "subvp":
        return SubVPSDE(**kwargs)
    if kind == "vp":
        return VPSDE(**kwargs)
    raise ValueError(f"SDE kind must be 'subvp' (ZeDO's score-matching prior) or 'vp' (DDPM / DDIM), got {kind!r}")
