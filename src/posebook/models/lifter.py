"""A single-frame 2D-to-3D lifter: the learning-based baseline ZeDO refines in its Table 8.

ZeDO refines VideoPose3D with one frame (``f = 1``, Pavllo et al. 2019), a residual MLP on 2D
keypoints; the same family as Martinez et al. 2017. Here: the keypoints as camera-normalised rays
``K^{-1} [u, v, 1]`` (x/z, y/z), taken relative to the pelvis ray, plus the pelvis ray itself (the
lifter then needs no image size or focal length: the intrinsics are undone first), through
``Linear -> [LayerNorm, ReLU, Dropout, Linear] x 2`` residual blocks to root-relative joints in metres.
"""

from __future__ import annotations

import torch
from torch import nn

from posebook.geometry.rays import keypoint_rays

__all__ = ["Lifter", "lifter_inputs"]


def lifter_inputs(keypoints_2d: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """(B, J, 2) pixels, (B, 3, 3) -> (B, 2 J + 2) features: ray coordinates relative to the pelvis
    ray (joint 0) and the pelvis ray's own (x/z, y/z)."""
    r = keypoint_rays(keypoints_2d, K, normalise="z")[..., :2]
    return torch.cat([(r - r[:, :1]).flatten(1), r[:, 0]], dim=1)


class _Block(nn.Module):
    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.LayerNorm(width), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, width),
                                  nn.LayerNorm(width), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, width))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h)


class Lifter(nn.Module):
    """``forward(features (B, 2 J + 2)) -> (B, J, 3)`` root-relative joints, metres."""

    def __init__(self, num_joints: int = 17, width: int = 512, blocks: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.inp = nn.Linear(2 * num_joints + 2, width)
        self.blocks = nn.Sequential(*[_Block(width, dropout) for _ in range(blocks)])
        self.out = nn.Linear(width, 3 * num_joints)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.out(self.blocks(self.inp(features))).reshape(-1, self.num_joints, 3)
        return x - x[:, :1]  # root-relative by construction
