"""Random rotations as the PRoM / Zhou et al. (2019) experiments draw them, and per-seed streams of them."""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from posebook.geometry.rotations import axis_angle_to_matrix, random_rotation

__all__ = ["RotationStreams", "sample_rotations"]


def sample_rotations(
    n: int,
    generator: torch.Generator,
    sampling: str = "axis_angle",
    dtype: Optional[torch.dtype] = None,
    device: Optional[torch.device | str] = None,
) -> torch.Tensor:
    """Random rotations as the PRoM/Zhou experiments draw them.

    ``"axis_angle"`` (PRoM Sec. 5.2.1, "uniformly sampling axes and angles"): axis uniform on the
    unit sphere, angle uniform in [0, pi]. ``"haar"``: uniform on SO(3) (roma).

    Args:
        n: number of rotations.
        generator: a torch.Generator on ``device``.
    Returns:
        (n, 3, 3).
    """
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if sampling == "haar":
        return random_rotation(n, generator=generator, dtype=dtype, device=device)
    if sampling != "axis_angle":
        raise ValueError(f"sampling must be 'axis_angle' or 'haar', got {sampling!r}")
    axis = torch.randn(n, 3, generator=generator, dtype=dtype, device=device)
    axis = axis / torch.linalg.vector_norm(axis, dim=-1, keepdim=True)
    angle = math.pi * torch.rand(n, 1, generator=generator, dtype=dtype, device=device)
    return axis_angle_to_matrix(axis * angle)


class RotationStreams:
    """Per-seed training data drawn in blocks of ``chunk`` steps from per-seed generators on the device.

    ``rotations(step)`` -> (S, B, 3, 3) and ``choices(step)`` -> (S,) ints in [0, n_choices): the
    seed's rotations and (for point clouds) body index at that step. Steps must be consumed in order.
    """

    def __init__(self, seeds: Sequence[int], device: torch.device, offset: int, batch: int, sampling: str,
                 dtype: torch.dtype, n_choices: int = 1, chunk: int = 100) -> None:
        self.seeds = list(dict.fromkeys(seeds))
        self.gens = [torch.Generator(device=device).manual_seed(offset + s) for s in self.seeds]
        self.batch, self.sampling, self.dtype, self.device = batch, sampling, dtype, device
        self.n_choices, self.chunk = n_choices, chunk
        self._start = -chunk

    def index(self, seeds: Sequence[int], device: torch.device) -> torch.Tensor:
        """(M,) position of each member's seed in the streams (members index their seed's batch)."""
        return torch.tensor([self.seeds.index(int(s)) for s in seeds], device=device)

    def _fill(self, step: int) -> None:
        if not self._start <= step < self._start + self.chunk:
            self._start = step - step % self.chunk
            B, K = self.batch, self.chunk
            self._rot = torch.stack([
                sample_rotations(K * B, g, self.sampling, self.dtype, self.device).reshape(K, B, 3, 3)
                for g in self.gens], dim=1)  # (K, S, B, 3, 3)
            self._choice = torch.stack([
                torch.randint(self.n_choices, (K,), generator=g, device=self.device) for g in self.gens], dim=1)

    def rotations(self, step: int) -> torch.Tensor:
        self._fill(step)
        return self._rot[step - self._start]

    def choices(self, step: int) -> torch.Tensor:
        self._fill(step)
        return self._choice[step - self._start]
