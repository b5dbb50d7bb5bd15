"""Many small independent networks as one: a leading "member" axis on every parameter.

Rotation-representation comparisons train the same small network many times (representations x
seeds x learning rates). Here the M runs are stacked along a leading member axis:
:class:`EnsembleLinear` holds M independent weight matrices and applies them with one batched
matmul, and :func:`posebook.optim.ensemble.fit` trains the stack with one learning rate per member.
Members never interact (each one's loss depends only on its own slice of the parameters).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "EnsembleLinear",
    "leaky_mlp",
    "member_generators",
    "member_view",
    "nonfinite_members",
    "per_member_mse",
    "zero_nonfinite_members",
]


def member_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU generator per member, seeded with ``seeds[m]`` (members with equal seeds draw alike)."""
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


class EnsembleLinear(torch.nn.Module):
    """M independent ``nn.Linear(in_features, out_features)`` applied in one batched matmul.

    Member m is initialised like ``nn.Linear`` (weights and bias ~ U(-1/sqrt(in), 1/sqrt(in))) from
    ``generators[m]``, drawing weights then bias: building the same layer sequence with generators
    seeded alike gives members identical initial weights, whatever the other members are.

    Args:
        generators: M CPU generators (:func:`member_generators`); M = len(generators).
        in_features, out_features: layer sizes.
    Shapes:
        x (M, ..., in_features) -> (M, ..., out_features).
    """

    def __init__(
        self,
        generators: Sequence[torch.Generator],
        in_features: int,
        out_features: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if len(generators) == 0:
            raise ValueError("EnsembleLinear needs at least one member generator")
        dtype = torch.get_default_dtype() if dtype is None else dtype
        bound = 1.0 / math.sqrt(in_features)
        weights, biases = [], []
        for gen in generators:
            w = torch.rand(out_features, in_features, generator=gen, dtype=torch.float64)
            b = torch.rand(out_features, generator=gen, dtype=torch.float64)
            weights.append((2 * w - 1) * bound)
            biases.append((2 * b - 1) * bound)
        # Stored (M, in, out) so the forward pass is x @ W without a transpose.
        self.weight = torch.nn.Parameter(torch.stack(weights).mT.to(device=device, dtype=dtype).contiguous())
        self.bias = torch.nn.Parameter(torch.stack(biases).to(device=device, dtype=dtype))
        self.members, self.in_features, self.out_features = len(generators), in_features, out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[0] != self.members or x.shape[-1] != self.in_features:
            raise ValueError(
                f"EnsembleLinear expects (M={self.members}, ..., {self.in_features}), got {tuple(x.shape)}"
            )
        flat = x.reshape(self.members, -1, self.in_features)
        out = torch.baddbmm(self.bias[:, None, :], flat, self.weight)
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"members={self.members}, in_features={self.in_features}, out_features={self.out_features}"


def member_view(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(M,) -> (M, 1, ..., 1) broadcastable against ``like`` (M, ...)."""
    return values.reshape(-1, *([1] * (like.dim() - 1)))


def nonfinite_members(x: torch.Tensor) -> torch.Tensor:
    """(M, ...) -> (M,) bool: which members hold a NaN or an infinity anywhere."""
    return ~torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)


def zero_nonfinite_members(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero the raw outputs of ensemble members holding non-finite numbers (LAPACK's SVD raises on
    them); returns the safe tensor and the (M,) mask of those members, whose losses become NaN.

    Args:
        raw: (M, ...) outputs of M ensemble members.
    """
    bad = nonfinite_members(raw.detach())
    if bool(bad.any()):
        raw = torch.where(bad.reshape(-1, *([1] * (raw.dim() - 1))), torch.zeros_like(raw), raw)
    return raw, bad


def per_member_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error per ensemble member: (M, ...) x (M, ...) -> (M,)."""
    return (a - b).square().reshape(a.shape[0], -1).mean(dim=1)




def leaky_mlp(layers: Sequence[EnsembleLinear], x: torch.Tensor) -> torch.Tensor:
    """Linear layers with LeakyReLU between them (none after the last), as in Zhou et al.'s models."""
    for k, layer in enumerate(layers):
        x = layer(x)
        if k < len(layers) - 1:
            x = F.leaky_relu(x)
    return x
