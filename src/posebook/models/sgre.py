"""SGRE's pose heads (Wang & Zhang, ICCV 2023) over one image encoder, and their training losses.

One regressor, :class:`SGRERegressor`: an encoder's feature map F (B, C, h, w), the global feature
f_g (its average pool, Sec. 4.2), shape and camera from f_g, and a pose head chosen by a
:class:`HeadConfig`. The rows of SGRE Tables 1-2 are configurations of it (:data:`VARIANTS`):

============  ===========  ==========  =====  ==========================================================
variant       target       sequential  local  equation
============  ===========  ==========  =====  ==========================================================
relative      relative     no          no     Eq. 7: theta = R_pose(f_g); the body chains them (Eq. 8)
global        global       no          no     Eq. 9-10: theta_bar = R_pose(f_g); theta_k = theta_bar_pa^T theta_bar_k
global_seq    global       yes         no     Eq. 11 with F_k = f_g (Table 2 "+Sequential")
sgre          global       yes         yes    Eq. 11 with F_k = {f_g, f_k} (Eq. 12; Table 2 "+Local feat")
relative_pp   relative     yes         yes    Table 1 "Relative++": Eq. 11's recursion on relative rotations
============  ===========  ==========  =====  ==========================================================

Sequential estimation (Eq. 11): the root's rotation comes from a head on f_g; then, in kinematic
order, child k gets ``x_k = MLP_k([F_k, x_pa(k)]) + x_pa(k)``: its own MLP (the official code: 23
separate ``[in -> 128 -> 128 -> 6]`` MLPs with ReLU, ``common/nets/layer.py`` L7-18) on its feature and
its parent's rotation numbers, a residual on the parent's numbers. The official code adds the residual
to the RAW parent 6D vector (``module.py`` L134-141; ``residual_on="raw"``); the paper's words
("predicts the residual matrix") also read as a residual on the parent's rotation
(``residual_on="rotation"``: on the 6 numbers of the orthonormalised parent). All layers of the pose
heads start N(0, 0.01) with zero bias (``main/model.py`` L193-204), so at initialisation every child
starts as a copy of its parent, the paper's "reasonable rotation matrix even [when the regressor]
produces zero output". How Relative++ is built is not written in the paper; here it is the same
recursion on relative rotations, with one change: a child's relative rotation is not close to its
parent's (the root's "relative" rotation is the global orientation), so each child starts from its
own mean relative rotation and the parent's estimate enters only as an input
(``relative_base="mean"``); ``relative_base="parent"`` is Eq. 11 taken literally, which starts every
child of the root at the body's global orientation.

The joints of one tree depth have their parents in the previous depth, so the recursion runs one
batched product per depth (``schedule="level"``, 8 steps for the 31 Anny bones); ``schedule="joint"``
runs the official order (one MLP call per joint, 30 steps) and gives the same numbers
(``tests/test_sgre.py``); Table 3 times both.

Rotation numbers (``representation``): "6d" (Zhou et al.; the first two COLUMNS, the official
convention, :func:`posebook.geometry.rotations.matrix_from_6d`) or "prom" (PRoM's pseudo rotation
matrices: 9 numbers used as the matrix in training, projected to SO(3) by SVD at inference,
:mod:`posebook.models.rotation_heads`): a cross-paper row neither paper has. With "prom" in training,
Eq. 10's inverse is the transpose of a pseudo matrix (not an inverse): the relative matrices then
carry the global ones' deviation from SO(3), as PRoM's do through forward kinematics.

Means: the parallel heads and the root start from the training set's mean rotation per joint (the
chordal mean, as :func:`posebook.models.hmr.mean_parameters`), shape and camera from their means: the
same start for every variant, so that the comparison is about the heads.

The global feature: ``global_feature="pool"`` is the paper's average pool (Sec. 4.2); the released
model uses 3DCrowdNet's graph feature instead (features at 15 joints through a GCN); ``"joints"`` is
its GCN-free analogue here: the map sampled at all keypoints, concatenated, through one linear layer.

Losses (:func:`losses`), as the official code (``main/model.py`` L113-138: each term a mean, weight 1):
squared error on the 9 entries of the matrices of the variant's target (global matrices of all joints
for the global heads, relative for the relative ones; ``pose_loss`` overrides), L1 on root-relative 3D
joints (m), L1 on their 2D projection in the crop (f = 5000 virtual camera, CLIFF Eq. 1-2 / HMR), L1 on
the phenotypes (official: L1 on beta) and, with a keypoint head, L1 on the soft-argmax keypoints. 2D
terms are in units of 1/8 of the crop, the official heatmap grid (8 cells per crop side).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import roma
import torch
from torch import nn

from posebook.body.anny_skeleton import NUM_SHAPE, AnnySkeleton
from posebook.body.joints import ANNY_CMU_MB_PARENTS
from posebook.body.kinematics import global_to_relative, levels, relative_to_global, validate_parents
from posebook.geometry.camera import project
from posebook.models import cliff as cliff_model
from posebook.models.backbones import Backbone, normalize_images
from posebook.models.cliff import ImageTargets
from posebook.models.hmr import CAM_DIM, crop_camera
from posebook.models.local_features import KeypointHead, feature_map, sample_at
from posebook.models.rotation_heads import raw_dim, raw_to_matrix

__all__ = ["TARGETS", "REPRESENTATIONS", "HeadConfig", "VARIANTS", "SGRETargets", "Means", "SGREOutput",
           "SGRERegressor", "LossWeights", "losses", "predict", "matrix_to_raw"]

TARGETS = ("relative", "global")
REPRESENTATIONS = ("6d", "prom")
_GLOBAL_FEATURES = ("pool", "joints")
_RESIDUALS = ("raw", "rotation")
_SCHEDULES = ("level", "joint")
_POSE_LOSSES = ("target", "global", "relative")
_RELATIVE_BASES = ("mean", "parent")
#: 2D loss unit: the crop spans 2 crop-normalised units = 8 cells of the official heatmap grid.
_CELLS_PER_UNIT = 4.0


@dataclass(frozen=True)
class HeadConfig:
    """One pose head (a row of SGRE Tables 1-2) and the official code's choices where they differ.

    Attributes:
        target: "relative" (Eq. 7) or "global" (Eq. 9) rotations.
        sequential: Eq. 11's recursion down the tree (False: all joints in parallel from f_g).
        local: F_k = {f_g, f_k} (Eq. 12) with a keypoint head; False: F_k = f_g.
        representation: "6d" or "prom" (PRoM pseudo rotation matrices).
        residual_on: "raw" (official: the parent's raw numbers) or "rotation" (its orthonormalised numbers).
        detach_keypoints: sample f_k at detached keypoints (official ``model.py`` L91).
        global_feature: "pool" (paper) or "joints" (a GCN-free analogue of the official graph feature).
        keypoint_head: train the keypoint branch even without local features (default: only with them).
        hidden: width of each child MLP (official 128); the parallel heads use ``4 * hidden``.
        schedule: "level" (one batched step per tree depth) or "joint" (official order, one per joint).
        pose_loss: "target" (the variant's own rotations), "global" or "relative".
        relative_base: for a sequential relative head, what a child's residual is added to: "mean" (its
            mean relative rotation, the parent's estimate an input only) or "parent" (Eq. 11 literally).
    """

    target: str = "global"
    sequential: bool = True
    local: bool = True
    representation: str = "6d"
    residual_on: str = "raw"
    detach_keypoints: bool = True
    global_feature: str = "pool"
    keypoint_head: Optional[bool] = None
    hidden: int = 128
    schedule: str = "level"
    pose_loss: str = "target"
    relative_base: str = "mean"

    def __post_init__(self) -> None:
        for name, allowed in (("target", TARGETS), ("representation", REPRESENTATIONS),
                              ("residual_on", _RESIDUALS), ("global_feature", _GLOBAL_FEATURES),
                              ("schedule", _SCHEDULES), ("pose_loss", _POSE_LOSSES),
                              ("relative_base", _RELATIVE_BASES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {self.hidden}")
        if self.global_feature == "joints" and not self.has_keypoints:
            raise ValueError("global_feature='joints' samples the map at the keypoints: it needs local=True or "
                             "keypoint_head=True")

    @property
    def has_keypoints(self) -> bool:
        return self.local if self.keypoint_head is None else bool(self.keypoint_head)

    @property
    def label(self) -> str:
        base = {("relative", False, False): "Relative baseline", ("global", False, False): "Global baseline",
                ("global", True, False): "Global + sequential", ("global", True, True): "SGRE",
                ("relative", True, True): "Relative++"}.get((self.target, self.sequential, self.local))
        if base is None:
            base = f"{self.target}, {'sequential' if self.sequential else 'parallel'}, " \
                   f"{'local' if self.local else 'no local'} features"
        extras = [s for s, on in (("PRoM matrices", self.representation == "prom"),
                                  ("residual on the rotation", self.residual_on == "rotation"),
                                  ("keypoints not detached", self.local and not self.detach_keypoints),
                                  ("joint feature", self.global_feature == "joints"),
                                  ("+ keypoint loss", self.keypoint_head and not self.local),
                                  ("children start at the parent", self.target == "relative" and self.sequential
                                   and self.relative_base == "parent")) if on]
        return base + (f" ({', '.join(extras)})" if extras else "")


#: SGRE Tables 1-2 (``relative_pp`` = Relative++), and two rows of ours: PRoM's pseudo matrices inside
#: SGRE, and the keypoint loss without the local features (what "+Local feat" adds besides f_k).
VARIANTS = {
    "relative": HeadConfig("relative", sequential=False, local=False),
    "global": HeadConfig("global", sequential=False, local=False),
    "global_seq": HeadConfig("global", sequential=True, local=False),
    "sgre": HeadConfig("global", sequential=True, local=True),
    "relative_pp": HeadConfig("relative", sequential=True, local=True),
    "sgre_prom": HeadConfig("global", sequential=True, local=True, representation="prom"),
    "global_seq_kp": HeadConfig("global", sequential=True, local=False, keypoint_head=True),
}


def matrix_to_raw(matrix: torch.Tensor, representation: str) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6 | 9) the numbers :func:`~posebook.models.rotation_heads.raw_to_matrix` reads
    back to ``matrix`` (first two columns for "6d", row-major for "prom")."""
    if representation == "6d":
        return matrix[..., :, :2].reshape(*matrix.shape[:-2], 6)
    if representation == "prom":
        return matrix.reshape(*matrix.shape[:-2], 9)
    raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")


@dataclass
class SGRETargets:
    """The labels SGRE's losses read: CLIFF's :class:`~posebook.models.cliff.ImageTargets` plus the global
    rotations (Eq. 8, ground truth chained) and the 2D position of each rotation's pivot in the crop.

    Attributes:
        image: the image labels (crops, relative rotations, shape, cmu31 joints and 2D, K, bbox, root).
        global_rotations: (N, 31, 3, 3) ``relative_to_global(image.rotations)``.
        pivots: (N, 31, 2) the bone heads (where rotation k pivots) in crop-normalised coordinates.
    """

    image: ImageTargets
    global_rotations: torch.Tensor
    pivots: torch.Tensor

    def __len__(self) -> int:
        return len(self.image)

    def take(self, index: torch.Tensor) -> "SGRETargets":
        i = index.to(self.pivots.device)
        return SGRETargets(self.image.take(index), self.global_rotations[i], self.pivots[i])

    @classmethod
    def from_image_targets(cls, targets: ImageTargets, skeleton: AnnySkeleton,
                           parents: Sequence[int] = ANNY_CMU_MB_PARENTS) -> "SGRETargets":
        """Chain the ground-truth rotations (Eq. 8) and project the posed bone heads into the crop."""
        with torch.no_grad():
            heads, _ = skeleton(targets.rotations, targets.shape)
            cam = heads - heads[:, :1] + targets.root[:, None]
            uv = project(cam, targets.K)
            pivots = (uv - targets.bbox_center[:, None]) / (0.5 * targets.bbox_size[:, None, None])
        return cls(targets, relative_to_global(targets.rotations, parents), pivots.to(targets.rotations.dtype))


@dataclass
class Means:
    """The start of the heads: per joint the mean relative and mean global rotation's numbers (J, D),
    mean shape logits (6,), mean crop camera (3,)."""

    relative: torch.Tensor
    global_: torch.Tensor
    shape: torch.Tensor
    cam: torch.Tensor

    @classmethod
    def of(cls, targets: ImageTargets, representation: str, parents: Sequence[int] = ANNY_CMU_MB_PARENTS) -> "Means":
        R = targets.rotations.double().cpu()
        G = relative_to_global(R, parents)
        phen = targets.shape.double().cpu().mean(dim=0).clamp(1e-3, 1 - 1e-3)
        cam = crop_camera(targets.root.cpu(), targets.K.cpu(), targets.bbox_center.cpu(), targets.bbox_size.cpu())
        # the chordal L2 mean: the rotation closest (Frobenius) to the arithmetic mean matrix
        return cls(matrix_to_raw(roma.special_procrustes(R.mean(dim=0)), representation).float(),
                   matrix_to_raw(roma.special_procrustes(G.mean(dim=0)), representation).float(),
                   torch.logit(phen).float(), cam.double().mean(dim=0).float())


@dataclass
class SGREOutput:
    """One prediction.

    Attributes:
        relative: (B, J, 3, 3) relative rotations (what the body model takes); training-time matrices in
            training mode (pseudo matrices for "prom"), rotations in eval mode.
        global_: (B, J, 3, 3) global rotations, likewise.
        shape: (B, 6) phenotypes in [0, 1].
        cam: (B, 3) weak-perspective crop camera [s, t_x, t_y].
        keypoints: (B, J, 2) crop-normalised soft-argmax keypoints, or None without a keypoint head.
        raw: (B, J, D) the rotation numbers of the target (relative or global).
    """

    relative: torch.Tensor
    global_: torch.Tensor
    shape: torch.Tensor
    cam: torch.Tensor
    keypoints: Optional[torch.Tensor]
    raw: torch.Tensor


def _normal_init(module: nn.Module) -> None:
    # the official init (main/model.py L193-204): every linear layer of the heads N(0, 0.01), bias 0
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)


class _ChildMLPs(nn.Module):
    """J - 1 separate MLPs ``[in -> H -> H -> D]`` (ReLU between), stored as stacked weights so that any
    subset of joints runs as one batched product; ``mlp(x, joints)`` applies joint ``joints[i]``'s MLP
    to ``x[:, i]``."""

    def __init__(self, joints: int, d_in: int, hidden: int, d_out: int) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(joints, d_in, hidden) * 0.01)
        self.w2 = nn.Parameter(torch.randn(joints, hidden, hidden) * 0.01)
        self.w3 = nn.Parameter(torch.randn(joints, hidden, d_out) * 0.01)
        self.b1 = nn.Parameter(torch.zeros(joints, hidden))
        self.b2 = nn.Parameter(torch.zeros(joints, hidden))
        self.b3 = nn.Parameter(torch.zeros(joints, d_out))

    def forward(self, x: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        """x: (B, n, d_in), joints: (n,) MLP indices -> (B, n, d_out)."""
        h = torch.relu(torch.einsum("bni,nio->bno", x, self.w1[joints]) + self.b1[joints])
        h = torch.relu(torch.einsum("bni,nio->bno", h, self.w2[joints]) + self.b2[joints])
        return torch.einsum("bni,nio->bno", h, self.w3[joints]) + self.b3[joints]


class SGRERegressor(nn.Module):
    """Encoder + SGRE's heads: (B, S, S, 3) uint8 crops -> :class:`SGREOutput`.

    Args:
        backbone: the encoder (:func:`posebook.models.backbones.make_backbone`); its last map is F.
        config: the pose head (:class:`HeadConfig`).
        means: the heads' start (:meth:`Means.of` on the training labels, for ``config.representation``).
        parents: (J,) the kinematic tree, topologically ordered (Anny ``cmu_mb``: 31 bones).
    """

    def __init__(self, backbone: Backbone, config: HeadConfig, means: Means,
                 parents: Sequence[int] = ANNY_CMU_MB_PARENTS) -> None:
        super().__init__()
        self.parents = validate_parents(parents)
        J, D, C = len(self.parents), raw_dim(config.representation), backbone.feature_dim
        if means.relative.shape != (J, D) or means.global_.shape != (J, D):
            raise ValueError(f"means must hold ({J}, {D}) rotation numbers per target for {J} joints and the "
                             f"{config.representation!r} representation, got {tuple(means.relative.shape)}")
        self.backbone, self.config, self.J, self.D = backbone, config, J, D
        start = means.global_ if config.target == "global" else means.relative
        self.register_buffer("start", start.clone())
        self.register_buffer("shape_start", means.shape.clone())
        self.register_buffer("cam_start", means.cam.clone())
        self.keypoints = KeypointHead(C, J) if config.has_keypoints else None
        self.joint_feature = nn.Linear(J * C, C) if config.global_feature == "joints" else None
        self.shape_head = nn.Linear(C, NUM_SHAPE)
        self.cam_head = nn.Linear(C, CAM_DIM)
        if config.sequential:
            self.root_head = nn.Linear(C, D)
            d_in = C + (C if config.local else 0) + D
            self.children_mlp = _ChildMLPs(J - 1, d_in, config.hidden, D)
            self._levels = [torch.tensor(level) for level in levels(self.parents)[1:]]
        else:
            H = 4 * config.hidden
            self.parallel = nn.Sequential(nn.Linear(C, H), nn.ReLU(), nn.Linear(H, J * D))
        for name, child in self.named_children():
            if name != "backbone":
                _normal_init(child)

    def forward(self, images: torch.Tensor) -> SGREOutput:
        """images: (B, S, S, 3) uint8 crops."""
        fmap = feature_map(self.backbone, normalize_images(images))
        return self.decode(fmap, self.keypoints(fmap) if self.keypoints is not None else None)

    def decode(self, fmap: torch.Tensor, keypoints: Optional[torch.Tensor]) -> SGREOutput:
        """The heads (SGRE Table 3's "parameter regression"): (B, C, h, w) feature map and (B, J, 2)
        keypoints (None without a keypoint head) -> the prediction."""
        cfg = self.config
        f_pool = fmap.mean(dim=(2, 3))
        local = None
        if keypoints is not None and (cfg.local or cfg.global_feature == "joints"):
            local = sample_at(fmap, keypoints.detach() if cfg.detach_keypoints else keypoints)  # (B, J, C)
        f_g = f_pool if self.joint_feature is None else self.joint_feature(local.flatten(1))
        shape = torch.sigmoid(self.shape_start + self.shape_head(f_g))
        cam = self.cam_start + self.cam_head(f_g)
        if cfg.sequential:
            raw = self._sequential(f_g, local if cfg.local else None)
        else:
            raw = self.start + self.parallel(f_g).reshape(-1, self.J, self.D)
        matrices = raw_to_matrix(raw, cfg.representation, training=self.training)
        if cfg.target == "global":
            relative, global_ = global_to_relative(matrices, self.parents), matrices
        else:
            relative, global_ = matrices, relative_to_global(matrices, self.parents)
        return SGREOutput(relative, global_, shape, cam, keypoints, raw)

    def _parent_input(self, raw: torch.Tensor) -> torch.Tensor:
        """The parent numbers the residual is added to (``residual_on``)."""
        if self.config.residual_on == "raw":
            return raw
        return matrix_to_raw(raw_to_matrix(raw, self.config.representation, training=False), self.config.representation)

    def _sequential(self, f_g: torch.Tensor, local: Optional[torch.Tensor]) -> torch.Tensor:
        """Eq. 11 down the tree: (B, C) f_g and (B, J, C) local features (or None) -> (B, J, D) numbers."""
        B = f_g.shape[0]
        raw = [None] * self.J
        raw[0] = self.start[0] + self.root_head(f_g)
        if self.config.schedule == "joint":
            batches = [torch.tensor([j]) for j in range(1, self.J)]
        else:
            batches = self._levels
        for joints in batches:
            parents = [self.parents[int(j)] for j in joints]
            parent = self._parent_input(torch.stack([raw[p] for p in parents], dim=1))  # (B, n, D)
            parts = [f_g[:, None].expand(B, len(joints), -1)]
            if local is not None:
                parts.append(local[:, joints.to(local.device)])
            parts.append(parent)
            if self.config.target == "relative" and self.config.relative_base == "mean":
                base = self.start[joints.to(f_g.device)]
            else:
                base = parent
            out = self.children_mlp(torch.cat(parts, dim=-1), (joints - 1).to(f_g.device)) + base
            for i, j in enumerate(joints.tolist()):
                raw[j] = out[:, i]
        return torch.stack(raw, dim=1)


@dataclass(frozen=True)
class LossWeights:
    """The official code's weights (all 1, each term a mean, ``main/train.py`` L60-61)."""

    pose: float = 1.0
    keypoints_3d: float = 1.0
    keypoints_2d: float = 1.0
    heatmap_2d: float = 1.0
    shape: float = 1.0


def losses(skeleton: AnnySkeleton, out: SGREOutput, targets: SGRETargets, config: HeadConfig,
           weights: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
    """The training loss of one batch (SGRE Eq. 3-6 as the official code computes them), scalars: ``loss``
    and each term (``pose``, ``keypoints_3d``, ``keypoints_2d``, ``shape`` and ``heatmap_2d`` with a
    keypoint head)."""
    which = config.target if config.pose_loss == "target" else config.pose_loss
    pred_R, gt_R = ((out.global_, targets.global_rotations) if which == "global"
                    else (out.relative, targets.image.rotations))
    image = targets.image
    joints = cliff_model.posed_joints(skeleton, out.relative, out.shape)
    terms = {"pose": (pred_R - gt_R).square().mean(),
             "keypoints_3d": (joints - image.joints).abs().mean(),
             "keypoints_2d": _CELLS_PER_UNIT * cliff_model.reprojection_error(joints, out.cam, image, "crop").abs().mean(),
             "shape": (out.shape - image.shape).abs().mean()}
    if out.keypoints is not None:
        terms["heatmap_2d"] = _CELLS_PER_UNIT * (out.keypoints - targets.pivots).abs().mean()
    terms["loss"] = sum(getattr(weights, k) * v for k, v in terms.items())
    return terms


@torch.no_grad()
def predict(model: SGRERegressor, targets: SGRETargets, chunk: int = 512) -> SGREOutput:
    """The regressor's prediction for every sample, in chunks, in eval mode (rotations in SO(3))."""
    model.eval()
    parts = [model(targets.image.images[start:start + chunk]) for start in range(0, len(targets), chunk)]
    keypoints = None if parts[0].keypoints is None else torch.cat([p.keypoints for p in parts])
    return SGREOutput(*(torch.cat([getattr(p, k) for p in parts]) for k in ("relative", "global_", "shape", "cam")),
                      keypoints, torch.cat([p.raw for p in parts]))
