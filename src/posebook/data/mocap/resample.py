"""Resampling a :class:`~posebook.data.mocap.types.Motion` in time."""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from posebook.data.mocap.types import _DTYPE, Motion


# ----------------------------------------------------------------------------------------------
# utilities


def resample(motion: Motion, fps: float) -> Motion:
    """Subsample a motion in time by picking the nearest source frame (no interpolation).

    Frame i of the result is source frame ``round(i * motion.fps / fps)``: an integer ratio
    (120 -> 30) takes every 4th frame exactly; other ratios jitter by at most half a source frame.

    Args:
        motion: the :class:`Motion` (T frames at ``motion.fps``).
        fps: target frames per second, ``0 < fps <= motion.fps``.

    Returns:
        a :class:`Motion` at ``fps`` covering the same time span.
    """
    if not 0 < fps <= motion.fps:
        raise ValueError(f"fps must be in (0, {motion.fps}] (subsampling only), got {fps}")
    step = motion.fps / fps
    count = math.floor((motion.num_frames - 1) / step + 1e-9) + 1
    index = torch.round(torch.arange(count, dtype=_DTYPE) * step).long().clamp_max(motion.num_frames - 1)
    return replace(
        motion,
        local_rotations=motion.local_rotations[index],
        root_translation=motion.root_translation[index],
        positions=motion.positions[index],
        fps=float(fps),
    )
