"""CLIFF's two changes to HMR: the bounding-box input (CI) and the full-frame reprojection loss (CS).

A :class:`Variant` switches each on or off (CLIFF Table 2): "w/o CI & CS" is HMR, "w/o CI" drops the
input, full CLIFF has both. The regressor itself is :class:`posebook.models.hmr.ImageRegressor`.

- **CI** (CLIFF Eq. 5): the regressor's extra input I_bbox = [c_x / f, c_y / f, b / f] (bbox centre
  relative to the image centre, bbox size b, full-frame focal f), the paper's plain ratios
  (``bbox_input="paper"``) or the released demo's rescaled form (``"demo"``, CLIFF ``demo.py``
  L124-129), :func:`posebook.geometry.camera.cliff_bbox_info`.
- **CS** (CLIFF Eq. 7-9): the predicted crop camera [s, t_x, t_y] becomes a full-frame translation by
  :func:`~posebook.geometry.camera.cam_crop_to_full` (Eq. 7), the predicted joints are projected
  with the full-frame intrinsics (Eq. 8) and compared with the 2D keypoints in the full image (Eq.
  9). Without CS (HMR, Eq. 1-4): the translation is HMR's t_crop for a virtual crop camera with
  f_HMR = 5000 and a 224-pixel crop (Eq. 1), the joints are projected into the crop (Eq. 2) and
  compared with the keypoints in crop coordinates (Eq. 4).

Both 2D terms are measured in the same units: pixel errors divided by half the bbox size (SPIN's
[-1, 1] crop units; the official answer in CLIFF issue #135: the full-frame loss is SPIN's, only the
projection changes). So the two variants differ only in the projection, not in the loss scale.

Losses (SPIN's weights, as the PRoM body regressor: pose 1, 2D 5, 3D 5, shape 0.001), on the
31 relative rotations of the Anny body (rotation 0 = the camera-frame global orientation) and the
3D joints (the 31 CMU ASF joints, relative to the root) from forward kinematics
(:class:`posebook.body.anny_skeleton.AnnySkeleton`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from posebook.body.anny_skeleton import AnnySkeleton
from posebook.body.joints import convert_joints
from posebook.geometry import camera
from posebook.models.hmr import HMROutput

__all__ = ["BBOX_INPUTS", "SUPERVISIONS", "HMR_FOCAL", "HMR_CROP", "Variant", "VARIANTS", "ImageTargets",
           "LossWeights", "bbox_input", "project_crop", "project_full", "posed_joints", "reprojection_error", "losses",
           "predict"]

BBOX_INPUTS = ("none", "paper", "demo")
SUPERVISIONS = ("crop", "full")
#: HMR's virtual crop camera (CLIFF Eq. 1): focal length and crop side, pixels.
HMR_FOCAL = 5000.0
HMR_CROP = 224.0


@dataclass(frozen=True)
class Variant:
    """One row of CLIFF Table 2: ``bbox_input`` ("none", "paper" Eq. 5, "demo") and ``supervision``
    ("crop": HMR's 2D loss in the crop, "full": CLIFF's in the full frame)."""

    bbox_input: str = "paper"
    supervision: str = "full"

    def __post_init__(self) -> None:
        if self.bbox_input not in BBOX_INPUTS:
            raise ValueError(f"bbox_input must be one of {BBOX_INPUTS}, got {self.bbox_input!r}")
        if self.supervision not in SUPERVISIONS:
            raise ValueError(f"supervision must be one of {SUPERVISIONS}, got {self.supervision!r}")

    @property
    def extra_dim(self) -> int:
        return 0 if self.bbox_input == "none" else 3

    @property
    def label(self) -> str:
        ci, cs = self.bbox_input != "none", self.supervision == "full"
        if ci and cs:
            return "CLIFF" if self.bbox_input == "paper" else "CLIFF (demo bbox input)"
        return {(False, False): "CLIFF w/o CI & CS (HMR)", (False, True): "CLIFF w/o CI",
                (True, False): "CLIFF w/o CS"}[(ci, cs)]


#: CLIFF Table 2's rows, then the row the paper leaves out (CI without CS).
VARIANTS = {"hmr": Variant("none", "crop"), "no_ci": Variant("none", "full"), "cliff": Variant("paper", "full"),
            "no_cs": Variant("paper", "crop")}


@dataclass(frozen=True)
class LossWeights:
    """SPIN's loss weights (CLIFF's README endorses BEDLAM's config with the same keypoint weights)."""

    pose: float = 1.0
    keypoints_2d: float = 5.0
    keypoints_3d: float = 5.0
    shape: float = 0.001


@dataclass
class ImageTargets:
    """The labels of N image samples, as tensors on the training device.

    Attributes:
        images: (N, S, S, 3) uint8 crops.
        rotations: (N, 31, 3, 3) relative rotations (``[:, 0]`` camera-frame global orientation).
        shape: (N, 6) phenotypes.
        joints: (N, J, 3) the loss joints (the 31 CMU ASF joints, ``cmu31``) relative to the root (the Hips
            head, where ``root`` is), metres.
        uv: (N, J, 2) their 2D keypoints in the full image, pixels.
        K: (N, 3, 3) full-frame intrinsics; image_size: (N, 2) (W, H); bbox_center (N, 2); bbox_size (N,).
        root: (N, 3) camera-frame root translation, metres.
    """

    images: torch.Tensor
    rotations: torch.Tensor
    shape: torch.Tensor
    joints: torch.Tensor
    uv: torch.Tensor
    K: torch.Tensor
    image_size: torch.Tensor
    bbox_center: torch.Tensor
    bbox_size: torch.Tensor
    root: torch.Tensor

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def validate(self) -> "ImageTargets":
        """Refuse what would make CLIFF's geometry meaningless, naming the first bad sample: a bbox of size
        <= 0 or not finite, a bbox wholly outside its image (a bbox partly outside is normal: the crop is
        padded), a focal length <= 0, an empty keypoint set. Returns ``self``."""
        n = len(self)
        if self.uv.shape[-2] == 0:
            raise ValueError("empty keypoint set (J = 0): CLIFF's 2D loss needs at least one keypoint per sample")
        for name, value in (("bbox_size", self.bbox_size), ("focal", self.focal)):
            bad = ~(torch.isfinite(value) & (value > 0))
            if bool(bad.any()):
                i = int(bad.nonzero()[0])
                raise ValueError(f"sample {i} of {n}: {name} = {float(value[i])!r}; it must be a finite number of "
                                 f"pixels > 0 (a zero-size or missing detection cannot be used)")
        half = 0.5 * self.bbox_size[:, None]
        lo, hi = self.bbox_center - half, self.bbox_center + half
        outside = ((hi <= 0) | (lo >= self.image_size)).any(dim=1)
        if bool(outside.any()):
            i = int(outside.nonzero()[0])
            raise ValueError(f"sample {i} of {n}: the bbox [{lo[i, 0]:.1f}, {hi[i, 0]:.1f}] x [{lo[i, 1]:.1f}, "
                             f"{hi[i, 1]:.1f}] px lies wholly outside the {self.image_size[i, 0]:.0f} x "
                             f"{self.image_size[i, 1]:.0f} image; drop the sample or fix its bbox")
        return self

    def take(self, index: torch.Tensor) -> "ImageTargets":
        return ImageTargets(**{k: v[index.to(v.device)] for k, v in vars(self).items()})

    @property
    def focal(self) -> torch.Tensor:
        """(N,) the ground-truth focal length (f_x + f_y) / 2 (CLIFF's training and evaluation, issues #161, #178)."""
        return 0.5 * (self.K[:, 0, 0] + self.K[:, 1, 1])

    @classmethod
    def from_world(cls, world, images: torch.Tensor, device: torch.device | str = "cpu") -> "ImageTargets":
        """From a :class:`posebook.data.world.World` and its (N, S, S, 3) crops (cmu31 joints relative to the root)."""
        f32 = dict(device=device, dtype=torch.float32)
        W, H = world.image_size
        joints = world.joints3d["cmu31"].double() - world.root.double()[:, None]
        return cls(images=images.to(device), rotations=world.rotations.to(**f32), shape=world.shape.to(**f32),
                   joints=joints.to(**f32), uv=world.keypoints2d["cmu31"].to(**f32), K=world.K.to(**f32),
                   image_size=torch.tensor([[float(W), float(H)]]).expand(len(world), 2).to(**f32),
                   bbox_center=world.bbox_center.to(**f32), bbox_size=world.bbox_size.to(**f32),
                   root=world.root.to(**f32)).validate()


def bbox_input(variant: Variant, targets: ImageTargets, focal: Optional[torch.Tensor] = None) -> Optional[torch.Tensor]:
    """(N, 3) I_bbox of CLIFF Eq. 5 for the variant (None without CI), with ``focal`` (N,) (default: the
    ground truth; supp. Fig. 3 perturbs it)."""
    if variant.bbox_input == "none":
        return None
    f = targets.focal if focal is None else focal
    return camera.cliff_bbox_info(targets.bbox_center, targets.bbox_size, targets.image_size, f,
                                  normalization=variant.bbox_input, check=False)


def project_crop(joints: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """CLIFF Eq. 1-2 (HMR): root-relative joints (N, J, 3) seen by the virtual crop camera (f = 5000,
    224-pixel crop) at t_crop = [t_x, t_y, 2 f / (r s)]; returns (N, J, 2) in crop units [-1, 1]."""
    t = camera.weak_perspective_to_translation(cam, HMR_FOCAL, HMR_CROP, check=False)
    p = joints + t[:, None]
    return HMR_FOCAL * p[..., :2] / p[..., 2:] / (0.5 * HMR_CROP)


def project_full(joints: torch.Tensor, cam: torch.Tensor, targets: ImageTargets,
                 focal: Optional[torch.Tensor] = None) -> torch.Tensor:
    """CLIFF Eq. 7-8: joints (N, J, 3) at t_full = cam_crop_to_full(cam) projected into the full frame
    with focal ``focal`` (default: ground truth) and principal point at the image centre; (N, J, 2) px."""
    f = targets.focal if focal is None else focal
    t = camera.cam_crop_to_full(cam, targets.bbox_center, targets.bbox_size, targets.image_size, f, check=False)
    K = camera.intrinsics(f, 0.5 * targets.image_size, check=False)
    return camera.project(joints + t[:, None], K)


def posed_joints(skeleton: AnnySkeleton, rotations: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """(N, 31, 3) the cmu31 joints of forward kinematics, relative to the root (the Hips head)."""
    heads, tails = skeleton(rotations, shape)
    return convert_joints(heads, "cmu31", tails=tails) - heads[:, :1]


def reprojection_error(joints: torch.Tensor, cam: torch.Tensor, targets: ImageTargets, supervision: str) -> torch.Tensor:
    """(N, J, 2) the 2D error of root-relative ``joints`` placed by the crop camera ``cam``, in bbox units
    (pixels / (b / 2)): in the full frame (CLIFF Eq. 9, ``supervision="full"``) or in the crop (Eq. 4, "crop")."""
    half = 0.5 * targets.bbox_size[:, None, None]
    if supervision == "full":
        return (project_full(joints, cam, targets) - targets.uv) / half
    return project_crop(joints, cam) - (targets.uv - targets.bbox_center[:, None]) / half


def losses(skeleton: AnnySkeleton, out: HMROutput, targets: ImageTargets, variant: Variant,
           weights: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
    """The training loss of one batch (CLIFF Eq. 4 or 9 for the 2D term, SPIN's other terms), scalars:
    ``loss`` and each term (``pose``, ``keypoints_2d``, ``keypoints_3d``, ``shape``)."""
    joints = posed_joints(skeleton, out.rotations, out.shape)
    terms = {"pose": (out.rotations - targets.rotations).square().mean(),
             "keypoints_2d": reprojection_error(joints, out.cam, targets, variant.supervision).square().mean(),
             "keypoints_3d": (joints - targets.joints).square().mean(),
             "shape": (out.shape - targets.shape).square().mean()}
    terms["loss"] = sum(getattr(weights, k) * v for k, v in terms.items())
    return terms


@torch.no_grad()
def predict(model: torch.nn.Module, targets: ImageTargets, variant: Variant, focal: Optional[torch.Tensor] = None,
            chunk: int = 512) -> HMROutput:
    """The regressor's prediction for every sample, in chunks, in eval mode; ``focal`` (N,) is the focal
    length given to I_bbox (default: the ground truth). ``raw`` is the (N, P) parameter vector."""
    model.eval()
    parts = []
    for start in range(0, len(targets), chunk):
        index = torch.arange(start, min(start + chunk, len(targets)))
        batch = targets.take(index)
        f = None if focal is None else focal[index.to(focal.device)]
        parts.append(model(batch.images, bbox_input(variant, batch, f)))
    return HMROutput(*(torch.cat([getattr(p, k) for p in parts]) for k in ("rotations", "shape", "cam", "raw")))
