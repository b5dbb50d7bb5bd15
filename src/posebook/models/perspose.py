"""PersPose (Hao et al., ICCV 2025): perspective encoding (PE), the UVD + scale decoder and its lifting.

The network sees a crop (after PR, :mod:`posebook.data.perspective_crops`) and its cropped
intrinsics K_crop, and predicts for J joints the 2D positions (u_i, v_i) in crop pixels, the
depths d_i relative to the root (joint ``root``, the pelvis) and the scale s = d_0^abs / f_crop;
Eq. 5 lifts them to the rotated camera frame and Eq. 6 rotates them back.

- **Lifting (Eq. 5)**, :func:`lift`: X_i = d_i^abs (K_crop)^-1 [u_i, v_i, 1]^T with
  d_i^abs = d_i + s f_crop. The official code (``src_PersPose/PersPose.py`` L120-126) writes it as
  ``density_i = d_i / f + rho0``, ``xy = (uv - c) density_i``, ``z_i = f density_i`` with
  f = (f_x + f_y) / 2; both are the same numbers for a K_crop with f_x = f_y and no skew (every
  crop here and in the official pipeline, which stretches the image to equal focals,
  ``datasets/transform.py`` L261). See :func:`lift` for how they differ otherwise.
- **PE (Eq. 7-9)**, :class:`PerspectiveEncoding`: the 2-channel map M^xy of the feature grid's
  pixel centres cast onto z = 1 (``camera.perspective_encoding``), through a 1x1 Conv2d(2 -> C,
  bias=False) initialised N(0, 0.01) (``PersPose.py`` L39-40), ADDED to the features after the
  first backbone stage (official: after HRNet's ``layer1``, stride 4, ``HRNet_hybrik.py``
  L499-509; the paper: "before the second stage"). Here: after the small encoder's first
  convolution stage (the 4x4 stride-4 patch convolution, GroupNorm, ReLU) or after ResNet's
  ``layer1`` (stem + layer1, stride 4). The stride-4 map with PE added feeds the rest of the
  backbone and the decoder's skip connection.
- **Decoder**, :class:`PersPoseNet`: HRNet keeps a 64 x 64 (stride 4) map to the end; our
  encoders end at stride 16 (small) or 32 (ResNet), too coarse for soft-argmax. So a small
  skip-connection (FPN-style) decoder: ``fine = ReLU(GN(conv3x3(skip1x1(f_1) +
  upsample(lateral1x1(f_deep)))))`` at stride 4, then a 1x1 conv to J heatmaps and a 2D soft-argmax
  (``local_features.soft_argmax_2d``, pixel-centre convention) converted to crop pixels. The
  relative depths and the scale come from two linear heads on the pooled deepest feature, bounded
  as the official code (``PersPose.py`` L79-85): d = 1.1 (2 sigmoid - 1) m with the root's forced
  to 0, s = s_c exp(3 (sigmoid - 0.5)) m/px. The official s_c = 7e-3 m/px is "1800 mm / 256" (its
  comment): a 1.8 m person filling a 256-pixel crop; since s = d_0 / f_crop = d_0 b / (f S) is
  about the metric size of the bbox divided by the crop side S, the default here is
  s_c = 7e-3 * 256 / S (0.028 m/px for 64-pixel crops), range s_c [e^-1.5, e^1.5] = [0.22, 4.5] s_c.
- **Losses** (:func:`losses`, :class:`LossWeights`), as the official ``metric.py`` L119-270
  (the paper's Eq. 18 says "L1 for P_UVD"): uv the mean per-joint Euclidean error in crop pixels,
  depth 100 x L1 in metres (cm), scale 1000 x L1 in m/px (mm/px, the official ``density``), each
  averaged over the joints that project inside the crop (the official ``valid`` mask). The
  official height normalisation (x 1.8 / subject height) and dead zones are left out.
- **Extra inputs** (``extra_dim``, not in PersPose): a per-crop vector concatenated to the pooled
  feature before the depth and scale heads. The book feeds it CLIFF's bounding-box information
  I_bbox (CLIFF Eq. 5, ``PersPoseTargets.bbox_info``) for the cross-paper table: where CLIFF's
  regressor takes I_bbox beside its image feature, the heads that carry PersPose's global
  quantities (the scale, i.e. the root depth, and the relative depths) take it here; the 2D heatmaps
  stay local.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

from posebook.geometry import camera
from posebook.geometry.rotations import _check_rotation
from posebook.models.backbones import Backbone, ResNet, make_backbone, normalize_images
from posebook.models.local_features import soft_argmax_2d

__all__ = [
    "LIFT_FORMS",
    "PE_STRIDE",
    "LossWeights",
    "PersPoseNet",
    "PersPoseOutput",
    "PersPoseTargets",
    "PerspectiveEncoding",
    "lift",
    "losses",
    "predict",
    "rotate_back",
]

#: The two forms of Eq. 5 :func:`lift` computes.
LIFT_FORMS = ("paper", "official")
#: Stride of the first backbone stage, where PE is added (HRNet's layer1; our encoders' stage 1).
PE_STRIDE = 4
#: The official depth bound (metres) and scale centre (m/px for a 256-pixel crop), PersPose.py L79-85.
DEPTH_BOUND = 1.1
SCALE_CENTRE_256 = 7e-3


def _mean_focal(K: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (...) f = (f_x + f_y) / 2 (the official ``xyz2uv_density`` and lifting)."""
    return 0.5 * (K[..., 0, 0] + K[..., 1, 1])


def lift(uv: torch.Tensor, rel_depth: torch.Tensor, scale: torch.Tensor, K_crop: torch.Tensor, *,
         form: Literal["paper", "official"] = "paper") -> torch.Tensor:
    """PersPose Eq. 5: pixel positions, relative depths and the scale -> camera-frame joints.

    ``form="paper"``: X_i = d_i^abs (K_crop)^-1 [u_i, v_i, 1]^T, d_i^abs = d_i + s f (Eq. 5; the
    paper's K_crop has one focal f, here f = (f_x + f_y) / 2), so z_i = d_i^abs and the full
    inverse of K_crop (both focals, skew) maps the pixel.
    ``form="official"`` (``PersPose.py`` L120-126): density_i = d_i / f + s,
    (x_i, y_i) = ((u_i, v_i) - (c_x, c_y)) density_i, z_i = f density_i, the same f.

    Both give z_i = d_i + s f. For f_x = f_y and zero skew the x, y are identical too
    ((u - c_x) (d_i + s f) / f); otherwise the official x_i is the paper's times f_x / f and y_i
    times f_y / f (plus the skew term the official form ignores), i.e. the official form is
    exact only for square pixels, which its data pipeline enforces by stretching the crop.
    With s = z_0 / f and d_i = z_i - z_0 of the true joints and uv = ``project(X, K_crop)``, the
    paper form returns X exactly for any invertible upper-triangular K_crop.

    Args:
        uv: (..., J, 2) joint positions in crop pixels.
        rel_depth: (..., J) depths relative to the root, d_i = z_i - z_0, metres.
        scale: (...) s = d_0^abs / f_crop, metres per pixel.
        K_crop: (..., 3, 3) crop intrinsics (batch dims broadcastable with ``uv``'s).
        form: "paper" or "official".
    Returns:
        (..., J, 3) joints in the (rotated) crop camera's frame, metres.
    Raises:
        ValueError: an unknown form or wrong trailing shapes.
    """
    if uv.shape[-1:] != (2,) or uv.dim() < 2:
        raise ValueError(f"uv must be (..., J, 2), got {tuple(uv.shape)}")
    if rel_depth.shape != uv.shape[:-1]:
        raise ValueError(f"rel_depth must be (..., J) = {tuple(uv.shape[:-1])}, got {tuple(rel_depth.shape)}")
    if K_crop.shape[-2:] != (3, 3):
        raise ValueError(f"K_crop must be (..., 3, 3), got {tuple(K_crop.shape)}")
    f = _mean_focal(K_crop)[..., None]  # (..., 1)
    if form == "paper":
        d_abs = rel_depth + scale[..., None] * f
        return camera.unproject(uv, d_abs, K_crop)
    if form == "official":
        density = rel_depth / f + scale[..., None]
        xy = (uv - K_crop[..., None, :2, 2]) * density[..., None]
        return torch.cat((xy, (f * density)[..., None]), dim=-1)
    raise ValueError(f"form must be one of {LIFT_FORMS}, got {form!r}")


def rotate_back(points: torch.Tensor, R: torch.Tensor, *, check: bool = True) -> torch.Tensor:
    """PersPose Eq. 6: P = R^T P' from the PR-rotated camera back to the original camera.

    Args:
        points: (..., J, 3) points P' in the rotated camera's frame (e.g. ``PersPoseOutput.joints``).
        R: (..., 3, 3) the PR rotation (``perspective_rotation`` / ``RotatedCrops.R``) that
            took the original camera's points to the rotated ones (P' = R P, Eq. 16).
        check: refuse an R that is not a rotation.
    Returns:
        (..., J, 3); row-vector form of R^T x: ``points @ R``.
    Raises:
        ValueError: if ``check`` and a finite R is not a rotation; wrong trailing shapes.
    """
    if points.shape[-1:] != (3,) or points.dim() < 2:
        raise ValueError(f"points must be (..., J, 3), got {tuple(points.shape)}")
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"R must be (..., 3, 3), got {tuple(R.shape)}")
    if check:
        _check_rotation(R, "R")
    return points @ R.to(points.dtype)


class PerspectiveEncoding(nn.Module):
    """PersPose PE (Eq. 7-9): M^xy of K_crop through a 1x1 convolution, added to a stride-s feature map.

    ``forward(features (B, C, h, w), K_crop (B, 3, 3)) -> features + conv(M^xy)`` where M^xy is
    ``camera.perspective_encoding(K_crop, h s, w s, s)`` (B, 2, h, w): channel 0 x / z along the
    width, channel 1 y / z along the height. The conv is Conv2d(2, C, 1, bias=False) with weights
    N(0, 0.01) as ``PersPose.py`` L39-40 (std 0.01).

    Args:
        channels: C of the feature map it is added to.
        stride: the map's stride in crop pixels (4: HRNet's layer1, our first stage).
    """

    def __init__(self, channels: int, stride: int = PE_STRIDE) -> None:
        super().__init__()
        self.stride = int(stride)
        self.conv = nn.Conv2d(2, channels, kernel_size=1, bias=False)
        nn.init.normal_(self.conv.weight, mean=0.0, std=0.01)

    def encoding(self, K_crop: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """(B, 2, h, w) the PE map M^xy for a (height, width) pixel crop."""
        return camera.perspective_encoding(K_crop, height, width, self.stride)

    def forward(self, features: torch.Tensor, K_crop: torch.Tensor) -> torch.Tensor:
        h, w = features.shape[-2:]
        m = self.encoding(K_crop.to(device=features.device, dtype=features.dtype), h * self.stride,
                          w * self.stride)
        return features + self.conv(m)


@dataclass
class PersPoseOutput:
    """The network's predictions for B crops.

    Attributes:
        uv: (B, J, 2) joint positions in crop pixels.
        rel_depth: (B, J) depths relative to the root (0 at the root), metres.
        scale: (B,) s = d_0^abs / f_crop, m/px.
        joints: (B, J, 3) Eq. 5's lifted joints in the crop camera's frame (the rotated camera's
            after PR; ``rotate_back(joints, R)`` gives the original camera's, Eq. 6), metres.
    """

    uv: torch.Tensor
    rel_depth: torch.Tensor
    scale: torch.Tensor
    joints: torch.Tensor


def _check_crop_size(crop_size: int, stride: int = PE_STRIDE) -> None:
    if isinstance(crop_size, bool) or not isinstance(crop_size, int) or crop_size <= 0 or crop_size % stride:
        raise ValueError(f"crop size {crop_size!r} is not a positive multiple of the stride {stride} of the first "
                         f"backbone stage (where PE is added, its grid must tile the crop exactly); use a multiple "
                         f"of {stride}, e.g. 64 or 256")


class PersPoseNet(nn.Module):
    """PersPose's regressor: backbone (with PE after stage 1), heatmap + soft-argmax for (u, v), linear
    heads for the relative depths and the scale, Eq. 5 lifting (see the module docstring).

    Args:
        joints: J, the number of joints (the root included).
        crop_size: S, side of the square input crops in pixels, a multiple of 4.
        backbone: a :data:`~posebook.models.backbones.BACKBONES` name or a built :class:`Backbone`.
        width: the small encoder's first-stage width (ignored for ResNets and built backbones).
        pe: add the perspective encoding after the first stage (False: the "w/o PE" rows).
        decoder_channels: width of the skip-connection decoder (a multiple of 8, GroupNorm).
        root: index of the root joint (its relative depth is forced to 0).
        depth_bound: d in (-bound, bound) metres (official 1.1).
        scale_centre: s_c in m/px; None: 7e-3 * 256 / crop_size.
        lift_form: the Eq. 5 form used for ``joints`` ("paper" or "official").
        extra_dim: E, the length of the per-crop extra input of the depth and scale heads (0: none;
            3 for CLIFF's I_bbox, see the module docstring).
    Raises:
        ValueError: crop size not a multiple of 4, bad widths, unknown backbone or lift form, extra_dim < 0.
    """

    def __init__(self, joints: int, crop_size: int = 64, *, backbone: str | Backbone = "small", width: int = 32,
                 pe: bool = True, decoder_channels: int = 64, root: int = 0, depth_bound: float = DEPTH_BOUND,
                 scale_centre: float | None = None, lift_form: Literal["paper", "official"] = "paper",
                 extra_dim: int = 0) -> None:
        super().__init__()
        _check_crop_size(crop_size)
        if joints < 1 or not 0 <= root < joints:
            raise ValueError(f"need joints >= 1 and 0 <= root < joints, got joints={joints}, root={root}")
        if decoder_channels < 8 or decoder_channels % 8:
            raise ValueError(f"decoder_channels must be a positive multiple of 8 (GroupNorm), got {decoder_channels}")
        if lift_form not in LIFT_FORMS:
            raise ValueError(f"lift_form must be one of {LIFT_FORMS}, got {lift_form!r}")
        if extra_dim < 0:
            raise ValueError(f"extra_dim must be >= 0 (0: no extra input), got {extra_dim}")
        self.backbone = make_backbone(backbone, width=width) if isinstance(backbone, str) else backbone
        net = self.backbone.net
        if isinstance(net, ResNet):
            c1 = net.layer2[0].conv1.in_channels
        elif isinstance(net, nn.Sequential) and len(net) == 14 and isinstance(net[12], nn.AdaptiveAvgPool2d):
            c1 = net[0].out_channels
        else:
            raise TypeError(f"PersPoseNet runs the backbone stage by stage and knows the small encoder and the "
                            f"ResNets; got {type(net).__name__} ({self.backbone.name!r})")
        c_deep = self.backbone.feature_dim
        self.joints, self.crop_size, self.root, self.use_pe = int(joints), int(crop_size), int(root), bool(pe)
        self.depth_bound = float(depth_bound)
        self.scale_centre = float(SCALE_CENTRE_256 * 256 / crop_size if scale_centre is None else scale_centre)
        self.lift_form = lift_form
        self.extra_dim = int(extra_dim)
        self.pe = PerspectiveEncoding(c1, PE_STRIDE) if pe else None
        self.skip = nn.Conv2d(c1, decoder_channels, 1)
        self.lateral = nn.Conv2d(c_deep, decoder_channels, 1)
        self.fuse = nn.Sequential(nn.Conv2d(decoder_channels, decoder_channels, 3, padding=1),
                                  nn.GroupNorm(8, decoder_channels), nn.ReLU(inplace=True))
        self.heatmap = nn.Conv2d(decoder_channels, joints, 1)
        self.depth_head = nn.Linear(c_deep + self.extra_dim, joints)
        self.scale_head = nn.Linear(c_deep + self.extra_dim, 1)
        mask = torch.ones(joints)
        mask[root] = 0.0
        self.register_buffer("_depth_mask", mask, persistent=False)

    # -- backbone, stage by stage
    def _stage1(self, x: torch.Tensor) -> torch.Tensor:
        net = self.backbone.net
        if isinstance(net, ResNet):
            return net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(x)))))
        return net[:3](x)

    def _deep(self, x: torch.Tensor) -> torch.Tensor:
        net = self.backbone.net
        if isinstance(net, ResNet):
            return net.layer4(net.layer3(net.layer2(x)))
        return net[3:12](x)

    def forward(self, images: torch.Tensor, K_crop: torch.Tensor,
                extra: Optional[torch.Tensor] = None) -> PersPoseOutput:
        """images (B, S, S, 3) uint8 crops, K_crop (B, 3, 3) their intrinsics, extra (B, E) the heads'
        extra input (only when ``extra_dim`` E > 0) -> :class:`PersPoseOutput`.

        Raises:
            ValueError: images not (B, S, S, 3) with S the model's crop size, K_crop not (B, 3, 3), extra
                missing or not (B, E) for a model with extra_dim E > 0, or given to one without.
        """
        S = self.crop_size
        if images.dim() != 4 or tuple(images.shape[1:]) != (S, S, 3):
            if images.dim() == 4 and images.shape[1] == images.shape[2] and images.shape[-1] == 3:
                _check_crop_size(int(images.shape[1]))
            raise ValueError(f"images must be (B, {S}, {S}, 3) crops for this model (crop_size={S}), got "
                             f"{tuple(images.shape)}")
        if tuple(K_crop.shape) != (images.shape[0], 3, 3):
            raise ValueError(f"K_crop must be (B, 3, 3) with B = {images.shape[0]}, got {tuple(K_crop.shape)}")
        if self.extra_dim and (extra is None or tuple(extra.shape) != (images.shape[0], self.extra_dim)):
            got = "none" if extra is None else tuple(extra.shape)
            raise ValueError(f"this model's heads take an extra input of {self.extra_dim} numbers per crop "
                             f"(extra_dim={self.extra_dim}): pass extra (B, {self.extra_dim}) = "
                             f"({images.shape[0]}, {self.extra_dim}), got {got}")
        if not self.extra_dim and extra is not None:
            raise ValueError("this model has no extra input (extra_dim=0) but extra was given; build it with "
                             "extra_dim=E to use one")
        x = normalize_images(images)
        K = K_crop.to(device=x.device, dtype=x.dtype)
        f1 = self._stage1(x)
        if self.pe is not None:
            f1 = self.pe(f1, K)
        deep = self._deep(f1)
        up = F.interpolate(self.lateral(deep), size=f1.shape[-2:], mode="bilinear", align_corners=False)
        heat = self.heatmap(self.fuse(self.skip(f1) + up))
        uv = (soft_argmax_2d(heat) + 1.0) * (0.5 * S)  # crop-normalised pixel centres -> crop pixels
        pooled = deep.mean(dim=(2, 3))
        if self.extra_dim:
            pooled = torch.cat((pooled, extra.to(pooled)), dim=-1)
        rel_depth = self.depth_bound * (2.0 * torch.sigmoid(self.depth_head(pooled)) - 1.0) * self._depth_mask
        scale = self.scale_centre * torch.exp(3.0 * (torch.sigmoid(self.scale_head(pooled)[:, 0]) - 0.5))
        return PersPoseOutput(uv=uv, rel_depth=rel_depth, scale=scale,
                              joints=lift(uv, rel_depth, scale, K, form=self.lift_form))


@dataclass
class PersPoseTargets:
    """The labels of N (rotated) crops, as ``cliff.ImageTargets`` for CLIFF.

    Attributes:
        images: (N, S, S, 3) uint8 crops (``RotatedCrops.crops``).
        K_crop: (N, 3, 3) their intrinsics; R: (N, 3, 3) the PR rotations (I without PR).
        uv: (N, J, 2) ``project(R X, K_crop)``, crop pixels.
        rel_depth: (N, J) z'_i - z'_root in the rotated camera, metres.
        scale: (N,) z'_root / f_crop (f = (f_x + f_y) / 2), m/px.
        joints: (N, J, 3) R X, the joints in the rotated camera's frame, metres.
        bbox_info: (N, 3) CLIFF's I_bbox (CLIFF Eq. 5, plain ratios) of the ORIGINAL frame's bbox, or
            None when the targets were built without it (``from_joints`` without ``bbox_info``).
    """

    images: torch.Tensor
    K_crop: torch.Tensor
    R: torch.Tensor
    uv: torch.Tensor
    rel_depth: torch.Tensor
    scale: torch.Tensor
    joints: torch.Tensor
    bbox_info: Optional[torch.Tensor] = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def _map(self, fn) -> PersPoseTargets:
        """``fn`` applied to every tensor field (a field that is None stays None)."""
        return PersPoseTargets(**{f.name: None if getattr(self, f.name) is None else fn(getattr(self, f.name))
                                  for f in fields(self)})

    def take(self, index: torch.Tensor) -> PersPoseTargets:
        return self._map(lambda value: value[index.to(value.device)])

    def to(self, device: torch.device | str) -> PersPoseTargets:
        return self._map(lambda value: value.to(device))

    def extra_for(self, model: PersPoseNet) -> Optional[torch.Tensor]:
        """The extra input ``model`` takes (I_bbox for ``extra_dim`` 3, None for 0).

        Raises:
            ValueError: the model takes an extra input these targets do not carry.
        """
        if not model.extra_dim:
            return None
        if self.bbox_info is None or self.bbox_info.shape[-1] != model.extra_dim:
            raise ValueError(f"the model takes an extra input of {model.extra_dim} numbers (CLIFF's I_bbox has 3) "
                             "but these targets carry no bbox_info of that length: build them with from_world, "
                             "or pass bbox_info to from_joints")
        return self.bbox_info

    @classmethod
    def from_joints(cls, images: torch.Tensor, K_crop: torch.Tensor, R: torch.Tensor, joints: torch.Tensor,
                    root: int = 0, bbox_info: Optional[torch.Tensor] = None) -> PersPoseTargets:
        """From camera-frame joints X (N, J, 3) of the ORIGINAL camera: P' = R X (Eq. 16), uv, d, s;
        ``bbox_info`` (N, 3), CLIFF's I_bbox of each sample, is carried along.

        Raises:
            ValueError: a joint on or behind the rotated camera (z' <= 0), naming the sample.
        """
        f32 = {"dtype": torch.float32, "device": images.device}
        P = (joints.double() @ R.double().transpose(-1, -2))
        z = P[..., 2]
        behind = (z <= 0).any(dim=-1)
        if bool(behind.any()):
            i = int(behind.nonzero()[0])
            raise ValueError(f"sample {i} of {len(z)}: a joint is on or behind the camera (z = {float(z[i].min()):.3g} "
                             f"m); PersPose's depths need every joint in front")
        Kd = K_crop.double()
        return cls(images=images, K_crop=K_crop.to(**f32), R=R.to(**f32), uv=camera.project(P, Kd).to(**f32),
                   rel_depth=(z - z[:, root:root + 1]).to(**f32), scale=(z[:, root] / _mean_focal(Kd)).to(**f32),
                   joints=P.to(**f32), bbox_info=None if bbox_info is None else bbox_info.to(**f32))

    @classmethod
    def from_world(cls, world, crops, joint_set: str = "h36m17", root: int = 0) -> PersPoseTargets:
        """From a :class:`posebook.data.world.World` and its :class:`~posebook.data.perspective_crops.RotatedCrops`
        (``rotated_crops`` of the world's full frames); joints ``world.joints3d[joint_set]``, root index ``root``
        (0 = the pelvis of h36m17); ``bbox_info`` CLIFF's I_bbox (Eq. 5, plain ratios, focal (f_x + f_y) / 2)
        of the world's bboxes in the original frame."""
        info = camera.cliff_bbox_info(world.bbox_center, world.bbox_size, world.K.new_tensor(world.image_size),
                                      _mean_focal(world.K))
        device = crops.crops.device
        return cls.from_joints(crops.crops, crops.K_crop, crops.R, world.joints3d[joint_set].to(device),
                               root=root, bbox_info=info.to(device))


@dataclass(frozen=True)
class LossWeights:
    """Loss weights of ``configs/config_3dpw.yaml`` (``loss_weight`` [uv, ..., depth, ..., rho0, ...] =
    [1, ..., 1, ..., 1, ...]); the paper's Eq. 18 gives lambda_2 = 0.5 for the scale (the 3DHP config's value)."""

    uv: float = 1.0
    depth: float = 1.0
    scale: float = 1.0


def losses(out: PersPoseOutput, targets: PersPoseTargets, weights: LossWeights = LossWeights()
           ) -> dict[str, torch.Tensor]:
    """The training loss of one batch (official ``metric.py`` L119-270, see the module docstring), scalars
    ``loss``, ``uv`` (px), ``depth`` (cm) and ``scale`` (mm/px); joints outside the crop are not counted."""
    S = targets.images.shape[1]
    inside = ((targets.uv > 0) & (targets.uv < S)).all(dim=-1).to(out.uv.dtype)  # (B, J)
    count = inside.sum().clamp_min(1.0)
    terms = {"uv": ((out.uv - targets.uv).norm(dim=-1) * inside).sum() / count,
             "depth": (100.0 * (out.rel_depth - targets.rel_depth).abs() * inside).sum() / count,
             "scale": 1000.0 * (out.scale - targets.scale).abs().mean()}
    terms["loss"] = sum(getattr(weights, k) * terms[k] for k in ("uv", "depth", "scale"))
    return terms


@torch.no_grad()
def predict(model: PersPoseNet, targets: PersPoseTargets, chunk: int = 256) -> PersPoseOutput:
    """The model's predictions for every sample, in chunks of ``chunk``, in eval mode, on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    extra = targets.extra_for(model)
    parts = []
    for start in range(0, len(targets), chunk):
        sl = slice(start, min(start + chunk, len(targets)))
        parts.append(model(targets.images[sl].to(device), targets.K_crop[sl].to(device),
                           None if extra is None else extra[sl].to(device)))
    if not parts:
        raise ValueError("predict needs at least one sample")
    return PersPoseOutput(*(torch.cat([getattr(p, f.name) for p in parts]) for f in fields(PersPoseOutput)))
