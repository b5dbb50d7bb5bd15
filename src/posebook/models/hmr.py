"""The HMR-style image regressor the image chapters share: an encoder, then iterative error feedback.

HMR (Kanazawa et al. 2018), as the SPIN and CLIFF code implement it (``CLIFF/models/cliff_res50/
cliff.py`` L25-97): from the mean parameters x_0 = (pose, shape, cam), three times

    x_{k+1} = x_k + dec(drop(fc2(drop(fc1([feature, extra, x_k])))))

with NO nonlinearity between fc1 and fc2 (as in SPIN), dropout 0.5, and decoders ``decpose``,
``decshape``, ``deccam`` initialised with ``xavier_uniform_(gain=0.01)`` so that the first prediction
is close to the mean. ``extra`` is what a chapter adds to the input: CLIFF's bounding-box
information I_bbox (CLIFF Eq. 5, 3 numbers), nothing for HMR.

Parameters (Anny ``cmu_mb`` body, :mod:`posebook.body.anny_skeleton`):

- pose: 31 rotations in the 6D representation of Zhou et al. (first two COLUMNS, SPIN / CLIFF /
  SGRE / PersPose convention, :func:`posebook.geometry.rotations.matrix_from_6d`); rotation 0 is the
  camera-frame global orientation, the others are relative to their parent;
- shape: the 6 Anny phenotypes as logits, phenotype = sigmoid(logit) in [0, 1];
- cam: the weak-perspective crop camera [s, t_x, t_y] of HMR (CLIFF Eq. 1): the crop spans [-1, 1],
  s = 2 f / (b t_Z).

:func:`mean_parameters` computes x_0 from training labels (SPIN ships ``smpl_mean_params.npz``; here
the mean comes from the training world: the chordal L2 mean rotation per joint, the mean phenotype,
the mean crop camera).
"""

from __future__ import annotations

from dataclasses import dataclass

import roma
import torch
from torch import nn

from posebook.body.anny_skeleton import NUM_ROTATIONS, NUM_SHAPE
from posebook.geometry.rotations import matrix_from_6d, matrix_to_6d
from posebook.models.backbones import Backbone, normalize_images

__all__ = ["POSE_DIM", "CAM_DIM", "HMROutput", "IterativeRegressor", "ImageRegressor", "decode", "mean_parameters",
           "crop_camera"]

#: 6D numbers of the 31 rotations.
POSE_DIM = 6 * NUM_ROTATIONS
#: [s, t_x, t_y].
CAM_DIM = 3


@dataclass
class HMROutput:
    """One prediction of the regressor (the last iteration).

    Attributes:
        rotations: (B, 31, 3, 3) rotation matrices (Gram-Schmidt of the 6D numbers).
        shape: (B, 6) phenotypes in [0, 1].
        cam: (B, 3) weak-perspective crop camera [s, t_x, t_y].
        raw: (B, 186 + 6 + 3) the parameter vector x_3 (6D pose, shape logits, cam).
    """

    rotations: torch.Tensor
    shape: torch.Tensor
    cam: torch.Tensor
    raw: torch.Tensor


def crop_camera(root: torch.Tensor, K: torch.Tensor, bbox_center: torch.Tensor, bbox_size: torch.Tensor) -> torch.Tensor:
    """(N, 3) the crop camera [s, t_x, t_y] that CLIFF Eq. 7 maps back to the root translation ``root``.

    Inverts Eq. 7 for a camera with focal f = (f_x + f_y) / 2 and principal point (W/2, H/2) = (c_x0, c_y0):
    s = 2 f / (b t_Z), t_x = t_X - (c_x - c_x0) t_Z / f, t_y likewise.

    Args:
        root: (N, 3) camera-frame root translation, metres; K: (N, 3, 3); bbox_center: (N, 2); bbox_size: (N,).
    """
    f = 0.5 * (K[:, 0, 0] + K[:, 1, 1])
    tz = root[:, 2]
    s = 2.0 * f / (bbox_size * tz)
    txy = root[:, :2] - (bbox_center - K[:, :2, 2]) * (tz / f)[:, None]
    return torch.cat((s[:, None], txy), dim=1)


def mean_parameters(rotations: torch.Tensor, shape: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """x_0 = (6D of the per-joint mean rotation, logit of the mean phenotype, mean crop camera).

    Args:
        rotations: (N, 31, 3, 3) training rotations; shape: (N, 6) phenotypes; cam: (N, 3) crop cameras
            (:func:`crop_camera`).
    Returns:
        (186 + 6 + 3,) float64.
    """
    # The chordal L2 mean: the rotation closest (Frobenius) to the arithmetic mean matrix.
    mean_R = roma.special_procrustes(rotations.double().mean(dim=0))
    phen = shape.double().mean(dim=0).clamp(1e-3, 1 - 1e-3)
    return torch.cat((matrix_to_6d(mean_R).reshape(-1), torch.logit(phen), cam.double().mean(dim=0)))


class IterativeRegressor(nn.Module):
    """HMR's iterative error feedback head (CLIFF code: fc1 - drop - fc2 - drop, no nonlinearity).

    Args:
        feature_dim: F, the encoder's feature size.
        extra_dim: E, extra inputs per sample (3 for CLIFF's I_bbox, 0 for HMR).
        x0: (P,) mean parameters (:func:`mean_parameters`), P = 186 + 6 + 3.
        hidden: width of fc1 and fc2 (1024 in the papers).
        iterations: 3 in HMR / SPIN / CLIFF.
        dropout: 0.5 in the CLIFF code.
    """

    def __init__(self, feature_dim: int, extra_dim: int, x0: torch.Tensor, *, hidden: int = 1024,
                 iterations: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        P = POSE_DIM + NUM_SHAPE + CAM_DIM
        if x0.shape != (P,):
            raise ValueError(f"x0 must be ({P},) (6D pose, shape logits, cam), got {tuple(x0.shape)}")
        self.extra_dim = int(extra_dim)
        self.iterations = int(iterations)
        self.register_buffer("x0", x0.float().clone())
        self.fc1 = nn.Linear(feature_dim + extra_dim + P, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self.decpose = nn.Linear(hidden, POSE_DIM)
        self.decshape = nn.Linear(hidden, NUM_SHAPE)
        self.deccam = nn.Linear(hidden, CAM_DIM)
        for dec in (self.decpose, self.decshape, self.deccam):
            nn.init.xavier_uniform_(dec.weight, gain=0.01)

    def forward(self, feature: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """(B, F) features and (B, E) extra inputs -> (B, P) parameters after the last iteration."""
        B = feature.shape[0]
        parts = [feature]
        if self.extra_dim:
            if extra is None or extra.shape != (B, self.extra_dim):
                raise ValueError(f"this regressor takes extra inputs of shape ({B}, {self.extra_dim}), "
                                 f"got {None if extra is None else tuple(extra.shape)}")
            parts.append(extra.to(feature.dtype))
        x = self.x0.to(feature.dtype).expand(B, -1)
        for _ in range(self.iterations):
            h = self.drop(self.fc2(self.drop(self.fc1(torch.cat((*parts, x), dim=1)))))
            x = x + torch.cat((self.decpose(h), self.decshape(h), self.deccam(h)), dim=1)
        return x


class ImageRegressor(nn.Module):
    """Encoder + :class:`IterativeRegressor`: uint8 crops (and extra inputs) -> :class:`HMROutput`.

    Args:
        backbone: the encoder (:func:`posebook.models.backbones.make_backbone`).
        head: the iterative regressor, built for ``backbone.feature_dim``.
    """

    def __init__(self, backbone: Backbone, head: IterativeRegressor) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images: torch.Tensor, extra: torch.Tensor | None = None) -> HMROutput:
        """images: (B, S, S, 3) uint8 crops; extra: (B, E) or None."""
        return decode(self.raw(images, extra))

    def raw(self, images: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """(B, P) the parameter vector x_3 (what :func:`decode` reads); a tensor, so ``torch.func`` can map it."""
        return self.head(self.backbone(normalize_images(images)), extra)


def decode(raw: torch.Tensor) -> HMROutput:
    """(B, 186 + 6 + 3) parameters -> rotations (Gram-Schmidt of the 6D columns), phenotypes, cam."""
    pose = raw[:, :POSE_DIM].reshape(-1, NUM_ROTATIONS, 6)
    shape = torch.sigmoid(raw[:, POSE_DIM:POSE_DIM + NUM_SHAPE])
    cam = raw[:, POSE_DIM + NUM_SHAPE:]
    return HMROutput(matrix_from_6d(pose), shape, cam, raw)
