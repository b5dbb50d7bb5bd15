"""Point-set sampling."""

from __future__ import annotations

from typing import Optional

import torch

__all__ = ["farthest_point_indices"]


def farthest_point_indices(points: torch.Tensor, k: int, start: Optional[int] = None) -> torch.Tensor:
    """Greedy farthest-point sampling: ``k`` well-spread, distinct indices into ``points``.

    The first index is ``start``, or (``None``) the point farthest from the centroid, which does
    not depend on the order of the points; each next one is the point farthest from those chosen.

    Args:
        points: (V, D).
        k: number of indices, 1 <= k <= V.
        start: index of the first point, or None.
    Returns:
        (k,) int64 on ``points.device``.
    """
    if points.dim() != 2:
        raise ValueError(f"points must be (V, D), got {tuple(points.shape)}")
    V = points.shape[0]
    if not 1 <= k <= V:
        raise ValueError(f"k must lie in [1, {V}], got {k}")
    if start is None:
        start = int(torch.argmax((points - points.mean(dim=0)).square().sum(-1)))
    elif not 0 <= start < V:
        raise ValueError(f"start must lie in [0, {V}), got {start}")
    chosen = torch.empty(k, dtype=torch.long, device=points.device)
    chosen[0] = start
    dist = (points - points[start]).square().sum(-1)
    for i in range(1, k):
        chosen[i] = torch.argmax(dist)
        dist = torch.minimum(dist, (points - points[chosen[i]]).square().sum(-1))
    return chosen
