"""posebook.geometry.points: greedy farthest-point sampling, by hand on a line."""

from __future__ import annotations

import pytest
import torch

from posebook.geometry.points import farthest_point_indices

LINE = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0], [10, 0, 0]])


def test_farthest_point_sampling_on_a_line():
    # Centroid at x = 3.2, so x = 10 comes first; then x = 0 (farthest from 10); then, with distances to
    # the nearest chosen point 1, 2 and 3 for x = 1, 2, 3, the point x = 3.
    out = farthest_point_indices(LINE, 3)
    assert out.tolist() == [4, 0, 3] and out.dtype == torch.int64
    # the default start does not depend on the order of the points
    perm = torch.tensor([3, 0, 4, 2, 1])
    assert perm[farthest_point_indices(LINE[perm], 3)].tolist() == [4, 0, 3]
    # all of them: distinct indices
    assert sorted(farthest_point_indices(LINE, 5).tolist()) == [0, 1, 2, 3, 4]


def test_farthest_point_sampling_from_a_given_start():
    # From x = 2: x = 10 is farthest (8); then x = 0 (distance 2 to x = 2, vs 1 for x = 1 and x = 3);
    # then x = 1 and x = 3 tie at distance 1: argmax takes the first, x = 1.
    assert farthest_point_indices(LINE, 4, start=2).tolist() == [2, 4, 0, 1]
    assert farthest_point_indices(LINE, 1, start=1).tolist() == [1]
    assert farthest_point_indices(LINE, 2, start=4).tolist() == [4, 0]


def test_farthest_point_sampling_errors():
    with pytest.raises(ValueError, match=r"k must lie in \[1, 5\], got 6"):
        farthest_point_indices(LINE, 6)
    with pytest.raises(ValueError, match=r"k must lie in \[1, 5\], got 0"):
        farthest_point_indices(LINE, 0)
    with pytest.raises(ValueError, match=r"start must lie in \[0, 5\), got 5"):
        farthest_point_indices(LINE, 2, start=5)
    with pytest.raises(ValueError, match=r"start must lie in \[0, 5\), got -1"):
        farthest_point_indices(LINE, 2, start=-1)
    with pytest.raises(ValueError, match=r"points must be \(V, D\)"):
        farthest_point_indices(LINE[None], 2)
