"""A trained pose prior: the score network, its SDE, and the denoising steps ZeDO takes with it.

One network, four ways to take a step from time ``t`` to ``t + dt`` (``dt < 0``):

- ``"reverse_sde"`` (ZeDO's, sub-VP): ``x <- x + dt (f(x, t) - c g(t)^2 s(x, t))`` without noise and
  with ``c = 1``: the official code's step (GFPose ``sde_lib.py`` L97 uses 1.0 on ``g^2 s``, where
  score_sde's probability-flow ODE uses 0.5), i.e. the noise-free reverse-SDE drift;
- ``"ode"``: the same with ``c = 1/2``, the probability-flow ODE (Song et al. 2021, Eq. 13);
- ``"ddim"`` (VP): DDIM's deterministic update through the predicted clean pose
  ``x0 = (x - sqrt(1 - a_t) eps) / sqrt(a_t)``, ``x' = sqrt(a_t') x0 + sqrt(1 - a_t') eps``
  (Song, Meng & Ermon 2021, Eq. 12 with eta = 0), ``a_t = alpha_bar(t)``;
- ``"ddpm"`` (VP): the ancestral step (DDIM's update with eta = 1, which is DDPM's sampler):
  ``x' = sqrt(a_t') x0 + sqrt(1 - a_t' - s^2) eps + s z``,
  ``s^2 = (1 - a_t') / (1 - a_t) (1 - a_t / a_t')``.

ZeDO Table 5 compares a score-matching prior with DDPM and DDIM ones: here the first is a network
trained on the sub-VP SDE and stepped with ``"reverse_sde"``, the other two ONE network trained on
the VP SDE (DDPM's forward process; DDIM uses the same training) stepped with ``"ddpm"`` or
``"ddim"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch

from posebook.diffusion.score_net import ScoreNet
from posebook.diffusion.sde import SubVPSDE, VPSDE

__all__ = ["PosePrior", "STEP_METHODS", "Method"]

Method = Literal["reverse_sde", "ode", "ddim", "ddpm"]
#: the step methods each SDE supports (the first is its default)
STEP_METHODS: dict[str, tuple[str, ...]] = {"subvp": ("reverse_sde", "ode"), "vp": ("ddim", "ddpm", "reverse_sde", "ode")}

_T_FLOOR = 1e-5  # training draws t from (1e-5, 1]: the network never saw smaller t


@dataclass
class PosePrior:
    """A score network with the SDE it was trained on.

    Attributes:
        net: the epsilon-predicting :class:`ScoreNet` (in eval mode for sampling).
        sde: its :class:`SubVPSDE` or :class:`VPSDE`.
        method: the default step method (:data:`STEP_METHODS`).
        autocast: run the network under ``torch.autocast`` with this dtype (e.g. ``torch.bfloat16``),
            or None (the network's own dtype, float32 by default). For inference with fixed weights,
            :class:`posebook.diffusion.inference.InferencePrior` casts them once instead (faster).
    """

    net: ScoreNet
    sde: SubVPSDE | VPSDE
    method: Method = "reverse_sde"
    autocast: Optional[torch.dtype] = None

    def __post_init__(self) -> None:
        self.check_method(self.method)

    def check_method(self, method: str) -> str:
        allowed = STEP_METHODS[self.sde.kind]
        if method not in allowed:
            raise ValueError(f"step method {method!r} does not apply to a {self.sde.kind} prior; "
                             f"use one of {allowed}")
        return method

    @property
    def num_joints(self) -> int:
        return self.net.config.num_joints

    def eps(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """The network's noise prediction (B, J, 3) at time ``t`` (scalar: shared by the batch)."""
        if self.autocast is None:
            return self.net(x, t)
        with torch.autocast(device_type=x.device.type, dtype=self.autocast):
            return self.net(x, t).to(x.dtype)

    def score(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """``s(x, t) = -eps(x, t) / std(t)`` (ZeDO Eq. 2-3: the network predicts ``-sigma s``)."""
        tt = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        std = self.sde.std(tt.reshape(tt.shape + (1,) * (x.dim() - tt.dim())) if tt.dim() else tt)
        return -self.eps(x, t) / std

    def _coefficients(self, t: float) -> tuple[float, float, float]:
        """beta(t), std(t) and g(t)^2 of the SDE at a time, as Python floats (float64)."""
        tt = torch.tensor(t, dtype=torch.float64)
        return float(self.sde.beta(tt)), float(self.sde.std(tt)), float(self.sde.diffusion_sq(tt))

    def step(self, x: torch.Tensor, t: float, dt: float, *, method: Optional[Method] = None,
             noise: bool = False, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """One denoising step from ``t`` to ``t + dt`` (``dt < 0``) for the whole batch (B, J, 3).

        Args:
            t: the current time (one number for the batch: ZeDO's loop shares it).
            dt: the step; ZeDO's official loop uses ``-1 / N`` whatever t moves by.
            method: :data:`STEP_METHODS` (None: :attr:`method`).
            noise: add the step's noise (``sqrt(-dt) g z`` for the SDE methods; always on for
                ``"ddpm"``, never for ``"ddim"`` / ``"ode"``); ZeDO's loop adds none.
            generator: for the noise (on the CPU, so a seed gives the same noise on every device).
        """
        method = self.check_method(method or self.method)
        if not dt < 0:
            raise ValueError(f"a denoising step needs dt < 0, got {dt}")
        t = float(t)
        t_next = max(t + dt, _T_FLOOR)
        eps = self.eps(x, t)
        if method in ("reverse_sde", "ode"):
            # x + dt (f - c g^2 s) with f = -beta x / 2 and s = -eps / std, written as a x + b eps:
            # the scalars come from the SDE's formulas in float64 on the host, so a step makes no
            # per-step scalar tensors (no host-device copies) and two passes over x instead of seven.
            beta, std, g2 = self._coefficients(t)
            factor = 1.0 if method == "reverse_sde" else 0.5
            out = torch.add(x * (1.0 - 0.5 * beta * dt), eps, alpha=dt * factor * g2 / std)
            if noise and method == "reverse_sde":
                out = out + (-dt) ** 0.5 * g2 ** 0.5 * _randn_like(x, generator)
            return out
        a_t = self.sde.alpha_bar(torch.tensor(t, dtype=torch.float64))
        a_n = self.sde.alpha_bar(torch.tensor(t_next, dtype=torch.float64))
        x0 = (x - torch.sqrt(1 - a_t).item() * eps) / torch.sqrt(a_t).item()
        if method == "ddim":
            return a_n.sqrt().item() * x0 + torch.sqrt(1 - a_n).item() * eps
        s2 = ((1 - a_n) / (1 - a_t) * (1 - a_t / a_n)).clamp_min(0)
        return (a_n.sqrt().item() * x0 + torch.sqrt((1 - a_n - s2).clamp_min(0)).item() * eps
                + s2.sqrt().item() * _randn_like(x, generator))

    @torch.no_grad()
    def sample(self, n: int, *, steps: Optional[int] = None, method: Optional[Method] = None,
               generator: Optional[torch.Generator] = None, device: torch.device | str = "cpu") -> torch.Tensor:
        """Poses drawn from the prior (ZeDO Table 7, "random generation"): from the SDE's prior at
        ``t = T`` (``N(0, std(T)^2 I)``) to ``t = 1e-3`` in ``steps`` equal steps (default N), with the
        step's noise for the stochastic methods (``reverse_sde`` then is Euler-Maruyama). (n, J, 3)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        steps = int(steps or self.sde.N)
        was_training = self.net.training
        self.net.eval()
        dtype = self.net.out.weight.dtype
        x = _randn((n, self.num_joints, 3), generator, dtype).to(device) * float(self.sde.std(torch.tensor(self.sde.T)))
        times = torch.linspace(self.sde.T, 1e-3, steps + 1, dtype=torch.float64)
        for t, t_next in zip(times[:-1].tolist(), times[1:].tolist()):
            x = self.step(x, t, t_next - t, method=method, noise=True, generator=generator)
        self.net.train(was_training)
        return x


def _randn(shape: tuple[int, ...], generator: Optional[torch.Generator], dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(shape, generator=generator, dtype=dtype)


def _randn_like(x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    return _randn(tuple(x.shape), generator, x.dtype).to(x.device)
