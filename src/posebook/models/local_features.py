"""Local feature enhancement (SGRE Sec. 3.2, Eq. 12): keypoints by soft-argmax, features sampled at them.

SGRE gives the rotation of joint k a feature F_k = {f_g, f_k}: the global feature f_g and a local
feature f_k "sampled around the location of the k-th joint via bilinear interpolation" from the
backbone's feature map. The joint's location p_k comes from a heatmap H_k made by "several
convolutional layers" on the map and integrated by soft-argmax (Sun et al. 2018), supervised by an
L1 loss on p_k. The official code (``common/nets/module.py`` L99-110) samples with ``grid_sample`` at
PositionNet's 2D coordinates and detaches them first (``main/model.py`` L91), so the rotation loss
sends no gradient into the keypoint head; :class:`KeypointHead` leaves that choice to its caller.

Coordinates are **crop-normalised**: the crop spans [-1, 1] on both axes, x to the right, y down,
-1 and +1 at the outer edges of the border pixels (``grid_sample(align_corners=False)``), so
pixel (i, j) of an h x w map has its centre at ((2 j + 1) / w - 1, (2 i + 1) / h - 1). A bbox-aligned
square crop maps image pixels u to (u - c_bbox) / (b / 2) (:func:`posebook.geometry.camera.crop_transform`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from posebook.models.backbones import Backbone, ResNet

__all__ = ["feature_map", "pixel_centres", "soft_argmax_2d", "sample_at", "KeypointHead"]


def feature_map(backbone: Backbone, x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) normalised images -> (B, C, h, w) the backbone's last feature map, before pooling.

    ``feature_map(...).mean((2, 3))`` equals ``backbone(x)`` (the pooled vector, SGRE's f_g).
    """
    net = backbone.net
    if isinstance(net, ResNet):
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        return net.layer4(net.layer3(net.layer2(net.layer1(x))))
    if isinstance(net, nn.Sequential) and isinstance(net[-1], nn.Flatten) and isinstance(net[-2], nn.AdaptiveAvgPool2d):
        return net[:-2](x)
    raise TypeError(f"feature_map does not know where the {backbone.name!r} backbone pools; expected a ResNet or a "
                    f"Sequential ending in AdaptiveAvgPool2d, Flatten")


def pixel_centres(h: int, w: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(w,) x and (h,) y crop-normalised coordinates of the pixel centres of an h x w map."""
    xs = (2 * torch.arange(w, device=device, dtype=dtype) + 1) / w - 1
    ys = (2 * torch.arange(h, device=device, dtype=dtype) + 1) / h - 1
    return xs, ys


def soft_argmax_2d(heatmaps: torch.Tensor) -> torch.Tensor:
    """Soft-argmax (Sun et al. 2018, "integral regression"): (B, J, h, w) logits -> (B, J, 2) the expected
    pixel-centre position under softmax(logits) over the map, crop-normalised (x, y) in (-1, 1)."""
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (B, J, h, w), got {tuple(heatmaps.shape)}")
    B, J, h, w = heatmaps.shape
    p = torch.softmax(heatmaps.reshape(B, J, h * w), dim=-1).reshape(B, J, h, w)
    xs, ys = pixel_centres(h, w, heatmaps.device, heatmaps.dtype)
    return torch.stack(((p.sum(dim=2) * xs).sum(dim=-1), (p.sum(dim=3) * ys).sum(dim=-1)), dim=-1)


def sample_at(features: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear sampling (SGRE Eq. 12's f_k): (B, C, h, w) map at (B, J, 2) crop-normalised points -> (B, J, C).

    Zero padding outside the map, as ``grid_sample``'s default (the official code's call).
    """
    if features.ndim != 4 or points.ndim != 3 or points.shape[-1] != 2 or points.shape[0] != features.shape[0]:
        raise ValueError(f"features must be (B, C, h, w) and points (B, J, 2) with the same B, got "
                         f"{tuple(features.shape)} and {tuple(points.shape)}")
    out = F.grid_sample(features, points[:, :, None, :].to(features.dtype), mode="bilinear", align_corners=False)
    return out[..., 0].transpose(1, 2)


class KeypointHead(nn.Module):
    """SGRE's keypoint branch: "several convolutional layers" on the feature map -> J heatmaps -> soft-argmax.

    Two layers here (3x3 conv + ReLU, 1x1 conv to J maps); the official code's PositionNet is one 1x1
    conv to J x 8 depth bins with a 3D soft-argmax (the 2D part is what the rotations use).

    Args:
        channels: C of the feature map; joints: J keypoints.
    """

    def __init__(self, channels: int, joints: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.out = nn.Conv2d(channels, joints, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, J, 2) crop-normalised keypoints."""
        return soft_argmax_2d(self.out(torch.relu(self.conv(features))))
