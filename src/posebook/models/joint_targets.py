"""Training the image regressors on a benchmark's joints: labels in another body model's terms.

A benchmark's labels are SMPL meshes (3DPW); the regressors of the image chapters predict Anny bodies
(31 rotations, 6 phenotypes: :class:`posebook.models.cliff.ImageTargets`). The two share no rotation or
shape parameters, so a benchmark supervises what both bodies have: joints. :class:`JointTargets` holds the
H36M-17 joints (regressed from the ground-truth SMPL mesh, the benchmark protocol's own ground truth) and
their 2D projections; :func:`joint_losses` is CLIFF's training loss with only its two joint terms (SPIN's
``keypoints_3d`` and ``keypoints_2d`` weights; CLIFF Eq. 9 in the full frame or Eq. 4 in the crop, as the
variant says). The rotations are then constrained only through the joints they place: a bone's twist about
its own axis is free, which no joint metric sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from posebook.body.anny_skeleton import AnnySkeleton
from posebook.body.joints import convert_joints
from posebook.models import cliff as cliff_model
from posebook.models.cliff import LossWeights, Variant
from posebook.models.hmr import HMROutput

__all__ = ["JOINT_SET", "JointTargets", "joint_losses"]

#: The joints a benchmark supervises: the H36M-17 set of the 3DPW / Human3.6M protocols.
JOINT_SET = "h36m17"


@dataclass
class JointTargets:
    """The joint labels of N image samples, as tensors on the training device.

    Attributes:
        images: (N, S, S, 3) uint8 crops.
        joints: (N, 17, 3) H36M-17 joints relative to the pelvis (joint 0), camera axes, metres.
        uv: (N, 17, 2) their projections in the full image, pixels.
        K: (N, 3, 3) full-frame intrinsics; image_size: (N, 2) (W, H); bbox_center: (N, 2); bbox_size: (N,).
    """

    images: torch.Tensor
    joints: torch.Tensor
    uv: torch.Tensor
    K: torch.Tensor
    image_size: torch.Tensor
    bbox_center: torch.Tensor
    bbox_size: torch.Tensor

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def focal(self) -> torch.Tensor:
        """(N,) the ground-truth focal length (f_x + f_y) / 2 (CLIFF's, issues #161, #178)."""
        return 0.5 * (self.K[:, 0, 0] + self.K[:, 1, 1])

    def take(self, index: torch.Tensor) -> "JointTargets":
        return JointTargets(**{k: v[index.to(v.device)] for k, v in vars(self).items()})

    def validate(self) -> "JointTargets":
        """Refuse what would make the losses meaningless, naming the first bad sample: a wrong joint count,
        non-finite joints or keypoints, and every check of :meth:`ImageTargets.validate` (bbox, focal).
        Returns ``self``."""
        n = len(self)
        for name, value, shape in (("joints", self.joints, (17, 3)), ("uv", self.uv, (17, 2))):
            if tuple(value.shape) != (n, *shape):
                raise ValueError(f"{name} must be (N, {shape[0]}, {shape[1]}) H36M-17 values for N = {n} images, "
                                 f"got {tuple(value.shape)}")
            bad = ~torch.isfinite(value).flatten(1).all(dim=1)
            if bool(bad.any()):
                i = int(bad.nonzero()[0])
                raise ValueError(f"sample {i} of {n}: {name} is not finite (a joint behind the camera or a "
                                 f"missing label); drop the sample")
        cliff_model.ImageTargets.validate(self)  # the bbox and focal checks read only the fields both share
        return self

    @classmethod
    def from_pw3d(cls, split, device: torch.device | str = "cpu") -> "JointTargets":
        """From a :class:`posebook.data.benchmarks.pw3d.PW3DImages` split (its crops, pelvis-centred joints and
        the projections of its camera-frame joints)."""
        f32 = dict(device=device, dtype=torch.float32)
        crops = split.crops
        return cls(images=crops.images.to(device), joints=split.joints.to(**f32), uv=split.keypoints_2d.to(**f32),
                   K=torch.as_tensor(split.frames["K"]).to(**f32), image_size=crops.image_size.to(**f32),
                   bbox_center=crops.bbox_center.to(**f32), bbox_size=crops.bbox_size.to(**f32)).validate()


def joint_losses(skeleton: AnnySkeleton, out: HMROutput, targets: JointTargets, variant: Variant,
                 weights: Optional[LossWeights] = None) -> dict[str, torch.Tensor]:
    """CLIFF's training loss on joint labels only, scalars ``loss``, ``keypoints_3d`` and ``keypoints_2d``.

    ``keypoints_3d``: the mean squared error of the predicted H36M-17 joints (N, 17, 3), both sides centred
    on the pelvis. ``keypoints_2d``: :func:`posebook.models.cliff.reprojection_error` of the predicted joints
    relative to the body root (the Hips head, which the crop camera ``out.cam`` places) against ``uv``, in
    bbox units, in the full frame (Eq. 9) or the crop (Eq. 4) per ``variant.supervision``. Weights: SPIN's
    (``weights.keypoints_3d``, ``weights.keypoints_2d``); the pose and shape terms have no label here."""
    weights = weights or LossWeights()
    heads, tails = skeleton(out.rotations, out.shape)
    joints = convert_joints(heads, JOINT_SET, tails=tails)
    terms = {"keypoints_3d": ((joints - joints[:, :1]) - targets.joints).square().mean(),
             "keypoints_2d": cliff_model.reprojection_error(joints - heads[:, :1], out.cam, targets,
                                                            variant.supervision).square().mean()}
    terms["loss"] = weights.keypoints_3d * terms["keypoints_3d"] + weights.keypoints_2d * terms["keypoints_2d"]
    return terms
