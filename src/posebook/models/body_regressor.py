"""A keypoint-input body pose-and-shape regressor (HMR-style) for PRoM's body experiments.

PRoM (Sec. 5.2.2, A.1, A.9-A.10) swaps the 6D head of a body mesh regressor (CLIFF, HMR, PARE) for a
9D pseudo rotation matrix and trains with Eq. 36, ``L = L_theta + L_ele(Y_M) + L_ele(Y_J)``. This
module is the same experiment without an image model: the input is the 2D keypoints of a synthetic
world sample, the output the 31 relative rotations and the 6 phenotypes of the Anny body.

Network (one member; :class:`BodyRegressor` stacks M independent members, see below):

- input: K 2D keypoints normalised by the square bbox, ``(uv - bbox_center) / bbox_size``
  (:func:`normalize_keypoints`), then standardised per coordinate with the training set's mean and
  standard deviation (as the 2D-to-3D baseline of Martinez et al. 2017 does; the bbox units have a
  standard deviation of ~0.18, which slows Adam's first layer down), flattened to 2K numbers;
- trunk: ``Linear(2K, H) - ReLU - Linear(H, H) - ReLU`` -> feature f;
- HMR's iterative error feedback (Kanazawa et al. 2018; SPIN/CLIFF code): parameters
  ``x_0`` = the mean rotations and mean shape, then ``iterations`` times
  ``x <- x + Linear(H, P)(ReLU(Linear(H, H)(ReLU(Linear(H + P, H)([f, x])))))``; the last layer
  starts at 0.01 times its default initialisation (SPIN's ``xavier_uniform_(gain=0.01)``), so the
  first prediction is close to the mean;
- ``x`` holds per rotation the raw numbers of the member's representation
  (:mod:`posebook.models.rotation_heads`: 6 for "6d", 9 for "prom", ...) and 6 shape logits;
  phenotypes = ``sigmoid(logits)`` in [0, 1].

Loss (PRoM Eq. 3 / 7 / 36 with MSE as L_ele), per member:

``L = w_theta MSE(R_theta, R_gt) + w_Y MSE(J(R_Y, beta), J_gt) + w_beta MSE(beta, beta_gt)``

- ``R_theta`` / ``R_Y``: the matrices the head gives for the rotation loss and for the downstream
  forward kinematics, orthogonalised or not per the two switches of
  :func:`posebook.models.rotation_heads.outputs` (PRoM Table 3a); 9 entries per rotation, all 31
  relative rotations (``[:, 0]`` = camera-frame root orientation).
- ``J(R, beta)``: root-relative joints of a joint set from forward kinematics on the rest skeleton
  of the predicted shape (:class:`AnnySkeleton`), no skinning. The mesh term of Eq. 36 is left out
  of training (skinning every step costs ~5 ms per sample on this CPU); PVE is still evaluated.
- weights default to SPIN's (``pose 1, keypoints 3D 5, betas 0.001``).

Members. The book compares representations over seeds, so the M runs of one experiment are trained
together (:mod:`posebook.models.training`): every layer is an :class:`EnsembleLinear`, member m is
initialised from ``seeds[m]``, and members never interact. Every member stores its raw pose as 9
numbers per rotation and uses the first ``raw_dim`` of them (the rest is masked to 0), so members
with the same seed start from identical weights whatever their representation: a paired comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from posebook.body import joints as joint_sets
from posebook.body import kinematics
from posebook.geometry.camera import project
from posebook.geometry.rotations import (
    matrix_to_6d,
    matrix_to_axis_angle,
    matrix_to_euler,
    matrix_to_quaternion,
    svd_orthogonalize,
)
from posebook.models.rotation_heads import (
    EULER_CONVENTION,
    MATRIX_REPRESENTATIONS,
    RotationOutputs,
    outputs,
    raw_dim,
)
from posebook.models.training import (
    EnsembleLinear,
    FitResult,
    fit,
    member_generators,
    per_member_mse,
    zero_nonfinite_members,
)

__all__ = [
    "NUM_ROTATIONS",
    "NUM_SHAPE",
    "RAW_SLOT",
    "LossWeights",
    "Variant",
    "AnnySkeleton",
    "normalize_keypoints",
    "raw_from_matrix",
    "RegressionData",
    "BodyRegressor",
    "train_regressor",
    "Fit2DResult",
    "fit_keypoints_2d",
]

#: Relative rotations of Anny's ``cmu_mb`` rig (the 31 CMU bones).
NUM_ROTATIONS = 31
#: Anny phenotypes: gender, age, muscle, weight, height, proportions.
NUM_SHAPE = 6
#: Raw numbers stored per rotation for every member (the largest representation, a 3x3 matrix).
RAW_SLOT = 9


@dataclass(frozen=True)
class LossWeights:
    """Weights of the three loss terms (defaults: SPIN's pose / 3D keypoint / betas weights)."""

    rotation: float = 1.0
    joints: float = 5.0
    shape: float = 0.001


@dataclass(frozen=True)
class Variant:
    """One rotation head: representation, where it is orthogonalised, and its table label.

    ``ortho_in_rot_loss`` / ``ortho_in_downstream`` (None: the representation's default, False only
    for "prom") and ``inference_ortho`` ("svd" or "gs", used by "prom") are passed to
    :func:`posebook.models.rotation_heads.outputs` (PRoM Table 3a's L_theta, L_Y and post columns).
    ``lr_factor`` multiplies the learning rate of the run (PRoM A.10 trains CLIFF + PRoM at 3x the
    learning rate of CLIFF); :func:`train_regressor` takes per-member learning rates.
    """

    label: str
    representation: str
    ortho_in_rot_loss: Optional[bool] = None
    ortho_in_downstream: Optional[bool] = None
    inference_ortho: str = "svd"
    lr_factor: float = 1.0

    def __post_init__(self) -> None:
        raw_dim(self.representation)  # raises for an unknown name
        switched_off = self.ortho_in_rot_loss is False or self.ortho_in_downstream is False
        if switched_off and self.representation not in MATRIX_REPRESENTATIONS:
            raise ValueError(
                f"variant {self.label!r}: {self.representation!r} has no orthogonalisation to switch off; "
                f"use one of {MATRIX_REPRESENTATIONS}"
            )
        if self.inference_ortho not in ("svd", "gs"):
            raise ValueError(f"inference_ortho must be 'svd' or 'gs', got {self.inference_ortho!r}")
        if not self.lr_factor > 0:
            raise ValueError(f"lr_factor must be > 0, got {self.lr_factor}")

    @property
    def key(self) -> tuple:
        return (self.representation, self.ortho_in_rot_loss, self.ortho_in_downstream, self.inference_ortho)


# ----------------------------------------------------------------------------- skeleton / FK


class AnnySkeleton(torch.nn.Module):
    """Anny's rest skeleton as a function of the phenotypes, and forward kinematics on it (no skinning).

    Anny's rest bone heads and tails are linear in its blend-shape coefficients
    (``template + sum_c coeff_c * blendshape_c``, anny's ``get_rest_model``), and every coefficient
    is a product of per-phenotype piecewise-linear "hat" weights on fixed anchors (anny's
    ``phenotype_blendshape_weights``: age 5 anchors, gender 2, muscle 3, weight 3, height 2,
    proportions 2). So the rest skeleton is multilinear in each cell of the anchor grid, and
    tensor-product interpolation of its values at the 360 grid corners reproduces it exactly. The
    corners are computed once by anny's own phenotype -> coefficient map (the path
    ``AnnyBody.forward`` takes); afterwards a rest skeleton costs a (B, 360) x (360, 62 * 3) product,
    instead of anny's coefficient map (~1 ms per sample with its backward) or a skinned mesh
    (``AnnyBody.rest_offsets``: ~5 ms per sample) on this CPU. ``tests/test_prom_bodies.py`` checks
    heads, tails and posed joints against ``AnnyBody``.

    Posed bone ``j``: head from :func:`posebook.body.kinematics.forward_kinematics` on the rest
    offsets, tail = head + ``G_j (rest_tail_j - rest_head_j)`` with ``G_j`` its global rotation (the
    tail is rigid in the bone's frame). Works with any 3x3 matrices, orthogonal or not (PRoM feeds
    pseudo rotation matrices to h).

    Args:
        body: an :class:`~posebook.body.models.AnnyBody` with the ``cmu_mb`` rig (y-up output frame);
            the corners take its device and dtype (``.to()`` moves them).
    """

    def __init__(self, body: torch.nn.Module) -> None:
        super().__init__()
        if tuple(getattr(body, "joint_names", ())) != joint_sets.ANNY_CMU_MB:
            raise ValueError("AnnySkeleton needs an AnnyBody with the 'cmu_mb' rig (the 31 CMU bones): "
                             "AnnyBody(rig='cmu_mb')")
        model, axes = body.model, body.axes
        self.parents: list[int] = list(body.parents)
        self.extrapolate = bool(model.extrapolate_phenotypes)
        anchors = [model.anchors[name].detach() for name in body.shape_names]
        for k, a in enumerate(anchors):
            self.register_buffer(f"anchors_{k}", a.clone())
        with torch.no_grad():
            grid = torch.cartesian_prod(*anchors)  # (C, 6), last phenotype varying fastest
            coeffs = model._get_phenotype_blendshape_coefficients(
                grid, grid.new_zeros(1, len(model.local_change_labels)),
                grid.new_zeros(1, len(model.facial_action_labels)))
            heads = model.template_bone_heads + torch.einsum("cpd,bc->bpd", model.bone_heads_blendshapes, coeffs)
            tails = model.template_bone_tails + torch.einsum("cpd,bc->bpd", model.bone_tails_blendshapes, coeffs)
        self.register_buffer("corners", torch.cat([heads, tails], dim=1) @ axes.T)  # (C, 62, 3)

    def _anchors(self) -> list[torch.Tensor]:
        return [getattr(self, f"anchors_{k}") for k in range(NUM_SHAPE)]

    def rest_points(self, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest-pose bone heads and tails of the phenotypes ``shape`` (differentiable).

        Args:
            shape: (..., 6) phenotypes (``AnnyBody.shape_names`` order); clamped to anny's anchor
                range as anny does.
        Returns:
            heads, tails: (..., 31, 3) each, anny's native placement, y-up axes, metres; on the
            skeleton's device, in ``shape``'s dtype.
        """
        from anny.utils.interpolation import linear_interpolation_coefficients

        if shape.shape[-1] != NUM_SHAPE:
            raise ValueError(f"shape must be (..., {NUM_SHAPE}) Anny phenotypes, got {tuple(shape.shape)}")
        corners = self.corners
        phen = shape.reshape(-1, NUM_SHAPE).to(device=corners.device, dtype=corners.dtype)
        weights = None
        for k, anchors in enumerate(self._anchors()):
            w = linear_interpolation_coefficients(phen[:, k], anchors, extrapolate=self.extrapolate)
            weights = w if weights is None else (weights[:, :, None] * w[:, None, :]).flatten(1)
        points = (weights @ corners.flatten(1)).reshape(*shape.shape[:-1], 2 * NUM_ROTATIONS, 3).to(shape.dtype)
        return points[..., :NUM_ROTATIONS, :], points[..., NUM_ROTATIONS:, :]

    def offsets(self, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., 31, 3) rest offsets ``head[j] - head[pa(j)]`` (``[..., 0] = 0``, as
        ``AnnyBody.rest_offsets``) and (..., 31, 3) tail offsets ``tail[j] - head[j]``."""
        heads, tails = self.rest_points(shape)
        parent = torch.tensor(self.parents[1:], device=heads.device)
        offsets = torch.cat([torch.zeros_like(heads[..., :1, :]),
                             heads[..., 1:, :] - heads[..., parent, :]], dim=-2)
        return offsets, tails - heads

    def forward(self, rotations: torch.Tensor, shape: torch.Tensor,
                translation: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posed bone heads and tails by forward kinematics.

        Args:
            rotations: (..., 31, 3, 3) relative rotations (any 3x3 matrices), y-up model axes or
                camera axes alike (``[..., 0]`` = root orientation in that frame).
            shape: (..., 6) phenotypes, same leading dims.
            translation: (..., 3) root (Hips head) position, metres; None: the origin.
        Returns:
            heads, tails: (..., 31, 3), equal to ``AnnyBody(...).joints`` / ``.bone_tails``.
        """
        offsets, tail_offsets = self.offsets(shape.to(rotations.dtype))
        heads, G = kinematics.forward_kinematics(rotations, offsets.to(rotations.device),
                                                 self.parents, translation)
        tails = heads + (G @ tail_offsets.to(rotations.device)[..., None]).squeeze(-1)
        return heads, tails

    def joints(self, rotations: torch.Tensor, shape: torch.Tensor, joint_set: str,
               translation: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(..., J, 3) the joints of ``joint_set`` (one built on bone heads/tails: cmu31, h36m17,
        lsp14, smpl24; coco17 needs the mesh) by forward kinematics; arguments as :meth:`forward`."""
        if joint_sets.joint_set(joint_set).needs_vertices:
            raise ValueError(f"joint set {joint_set!r} is regressed from mesh vertices; forward kinematics "
                             "gives bone heads and tails only: use cmu31, h36m17, lsp14 or smpl24")
        heads, tails = self(rotations, shape, translation)
        return joint_sets.convert_joints(heads, joint_set, tails=tails)


# ----------------------------------------------------------------------------------- inputs


def normalize_keypoints(uv: torch.Tensor, bbox_center: torch.Tensor, bbox_size: torch.Tensor) -> torch.Tensor:
    """Pixel keypoints -> bbox-normalised ``(uv - bbox_center) / bbox_size`` (about [-0.5, 0.5]).

    Args:
        uv: (..., K, 2) pixels; bbox_center: (..., 2) pixels; bbox_size: (...) pixels.
    Returns:
        (..., K, 2).
    """
    return (uv - bbox_center[..., None, :]) / bbox_size[..., None, None]


def raw_from_matrix(R: torch.Tensor, representation: str) -> torch.Tensor:
    """The raw numbers of ``representation`` that encode the rotation nearest to ``R``.

    Matrix representations keep ``R`` as given ("6d": its first two columns, ``matrix_to_6d``;
    "svd"/"gs"/"prom": its 9 entries row-major), so a rotation maps to itself; the 3-/4-parameter
    ones encode ``svd_orthogonalize(R)`` (axis-angle, intrinsic XYZ Euler, XYZW quaternion).

    Args:
        R: (..., 3, 3).
    Returns:
        (..., raw_dim(representation)).
    """
    n = raw_dim(representation)
    if representation == "6d":
        return matrix_to_6d(R)
    if n == 9:
        return R.reshape(*R.shape[:-2], 9)
    rotation = svd_orthogonalize(R)
    if representation == "axis_angle":
        return matrix_to_axis_angle(rotation)
    if representation == "euler":
        return matrix_to_euler(rotation, EULER_CONVENTION)
    return matrix_to_quaternion(rotation)


@dataclass
class RegressionData:
    """Training or test tensors of the regressor, N samples.

    Attributes:
        keypoints: (N, K, 2) bbox-normalised 2D keypoints (the input).
        rotations: (N, 31, 3, 3) ground-truth relative rotations (``[:, 0]`` camera-frame root).
        shape: (N, 6) ground-truth phenotypes.
        joints: (N, J, 3) ground-truth root-relative joints of the loss joint set, metres.
        joint_set: the name of that set.
    """

    keypoints: torch.Tensor
    rotations: torch.Tensor
    shape: torch.Tensor
    joints: torch.Tensor
    joint_set: str

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @classmethod
    def from_world(cls, world, input_joints: str = "cmu31", loss_joints: str = "cmu31",
                   device: Union[str, torch.device, None] = None,
                   dtype: torch.dtype = torch.float32) -> "RegressionData":
        """Build from a :class:`posebook.data.world.World` (its 2D keypoints, bboxes, rotations,
        shapes, and 3D joints minus the root); ``input_joints`` / ``loss_joints`` must be among the
        world's joint sets."""
        for name in (input_joints, loss_joints):
            if name not in world.keypoints2d:
                raise ValueError(f"joint set {name!r} is not in this world (it has {list(world.keypoints2d)}); "
                                 f"build it with WorldConfig(joint_sets=(..., {name!r}))")
        kw = dict(device=device, dtype=dtype)
        return cls(
            keypoints=normalize_keypoints(world.keypoints2d[input_joints].double(), world.bbox_center.double(),
                                          world.bbox_size.double()).to(**kw),
            rotations=world.rotations.to(**kw), shape=world.shape.to(**kw),
            joints=(world.joints3d[loss_joints].double() - world.root.double()[:, None]).to(**kw),
            joint_set=loss_joints,
        )


# ------------------------------------------------------------------------------------ model



class BodyRegressor(torch.nn.Module):
    """M independent HMR-style keypoint regressors, one per (variant, seed), in one batched network.

    Args:
        variants: (M,) the rotation head of each member (:class:`Variant`).
        seeds: (M,) initialisation seed of each member; equal seeds give equal initial weights.
        num_keypoints: K input keypoints.
        hidden: width H of every hidden layer.
        iterations: HMR's iterative error feedback steps (3 in HMR/SPIN/CLIFF; 1 = a plain MLP
            regressor around the mean).
        init_rotations: (31, 3, 3) starting rotations x_0 (e.g. the training mean; orthogonalised
            by SVD first, so every representation starts from the same rotations); None: identity.
        init_shape: (6,) starting phenotypes in (0, 1); None: 0.5.
        input_mean, input_std: (K, 2) input standardisation (e.g. the training keypoints' mean and
            standard deviation); None: 0 and 1.
        device, dtype: of the parameters.
    Shapes:
        ``forward(keypoints (B, K, 2) or (M, B, K, 2))`` -> raw (M, B, 31, 9) (member m uses the
        first ``raw_dim`` of the 9), shape (M, B, 6).
    """

    def __init__(self, variants: Sequence[Variant], seeds: Sequence[int], num_keypoints: int, *,
                 hidden: int = 128, iterations: int = 3, init_rotations: Optional[torch.Tensor] = None,
                 init_shape: Optional[torch.Tensor] = None, input_mean: Optional[torch.Tensor] = None,
                 input_std: Optional[torch.Tensor] = None, device: Union[str, torch.device, None] = None,
                 dtype: Optional[torch.dtype] = None) -> None:
        super().__init__()
        if len(variants) == 0 or len(variants) != len(seeds):
            raise ValueError(f"need one seed per variant (M >= 1), got {len(variants)} variants and "
                             f"{len(seeds)} seeds")
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        self.variants = list(variants)
        self.seeds = [int(s) for s in seeds]
        self.members, self.num_keypoints, self.iterations = len(variants), int(num_keypoints), int(iterations)
        dtype = torch.get_default_dtype() if dtype is None else dtype
        P = NUM_ROTATIONS * RAW_SLOT + NUM_SHAPE
        gens = member_generators(self.seeds)
        kw = dict(device=device, dtype=dtype)
        self.trunk = torch.nn.ModuleList([EnsembleLinear(gens, 2 * num_keypoints, hidden, **kw),
                                          EnsembleLinear(gens, hidden, hidden, **kw)])
        self.feedback = torch.nn.ModuleList([EnsembleLinear(gens, hidden + P, hidden, **kw),
                                             EnsembleLinear(gens, hidden, hidden, **kw),
                                             EnsembleLinear(gens, hidden, P, **kw)])
        with torch.no_grad():
            self.feedback[-1].weight.mul_(0.01)
            self.feedback[-1].bias.mul_(0.01)

        R0 = torch.eye(3, dtype=torch.float64).expand(NUM_ROTATIONS, 3, 3) if init_rotations is None \
            else svd_orthogonalize(init_rotations.detach().to("cpu", torch.float64))
        if R0.shape != (NUM_ROTATIONS, 3, 3):
            raise ValueError(f"init_rotations must be ({NUM_ROTATIONS}, 3, 3), got {tuple(R0.shape)}")
        beta0 = torch.full((NUM_SHAPE,), 0.5, dtype=torch.float64) if init_shape is None \
            else init_shape.detach().to("cpu", torch.float64).clamp(1e-3, 1 - 1e-3)
        x0 = torch.zeros(self.members, P, dtype=torch.float64)
        mask = torch.zeros(self.members, P, dtype=torch.float64)
        for m, v in enumerate(self.variants):
            n = raw_dim(v.representation)
            pose = torch.zeros(NUM_ROTATIONS, RAW_SLOT, dtype=torch.float64)
            pose[:, :n] = raw_from_matrix(R0, v.representation)
            keep = torch.zeros(NUM_ROTATIONS, RAW_SLOT, dtype=torch.float64)
            keep[:, :n] = 1.0
            x0[m] = torch.cat([pose.flatten(), torch.logit(beta0)])
            mask[m] = torch.cat([keep.flatten(), torch.ones(NUM_SHAPE, dtype=torch.float64)])
        mean = torch.zeros(num_keypoints, 2) if input_mean is None else input_mean.detach()
        std = torch.ones(num_keypoints, 2) if input_std is None else input_std.detach()
        if mean.shape != (num_keypoints, 2) or std.shape != (num_keypoints, 2) or not bool((std > 0).all()):
            raise ValueError(f"input_mean / input_std must be ({num_keypoints}, 2), std > 0; got "
                             f"{tuple(mean.shape)} and {tuple(std.shape)}")
        self.register_buffer("input_mean", mean.to(**kw))
        self.register_buffer("input_std", std.to(**kw))
        self.register_buffer("x0", x0.to(**kw))
        self.register_buffer("mask", mask.to(**kw))
        # Members grouped by head, so each head runs once on its members' slice.
        groups: dict[tuple, list[int]] = {}
        for m, v in enumerate(self.variants):
            groups.setdefault(v.key, []).append(m)
        self._groups = [(key, torch.tensor(idx)) for key, idx in groups.items()]
        self._inverse = torch.argsort(torch.tensor([m for _, idx in groups.items() for m in idx]))

    def forward(self, keypoints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if keypoints.shape[-2:] != (self.num_keypoints, 2):
            raise ValueError(f"keypoints must be (..., {self.num_keypoints}, 2), got {tuple(keypoints.shape)}")
        x = ((keypoints - self.input_mean) / self.input_std).flatten(-2)
        if x.dim() == 2:
            x = x.expand(self.members, -1, -1)
        h = F.relu(self.trunk[1](F.relu(self.trunk[0](x))))
        params = self.x0[:, None].expand(self.members, x.shape[1], -1)
        mask = self.mask[:, None]
        for _ in range(self.iterations):
            d = F.relu(self.feedback[0](torch.cat([h, params], dim=-1)))
            params = params + self.feedback[2](F.relu(self.feedback[1](d))) * mask
        raw = params[..., : NUM_ROTATIONS * RAW_SLOT].reshape(*params.shape[:-1], NUM_ROTATIONS, RAW_SLOT)
        return raw, torch.sigmoid(params[..., NUM_ROTATIONS * RAW_SLOT:])

    def matrices(self, raw: torch.Tensor, training: bool) -> RotationOutputs:
        """Each member's head applied to its raw numbers (PRoM Eq. 3 / 7).

        Args:
            raw: (M, ..., 9) raw outputs.
            training: the training-time matrices for L_theta and L_Y (``eval`` is None), or the
                inference rotations (all three fields the same).
        Returns:
            :class:`RotationOutputs` of (M, ..., 3, 3) tensors.
        """
        parts = []
        for (rep, o_theta, o_y, post), idx in self._groups:
            sub = raw.index_select(0, idx.to(raw.device))[..., : raw_dim(rep)]
            parts.append(outputs(sub, rep, training, o_theta, o_y, inference_ortho=post, with_eval=False))
        inverse = self._inverse.to(raw.device)
        fields = []
        for k in range(2 if training else 3):
            fields.append(torch.cat([p[k] for p in parts]).index_select(0, inverse))
        if training:
            fields.append(None)
        return RotationOutputs(*fields)

    def losses(self, skeleton: AnnySkeleton, keypoints: torch.Tensor, rotations: torch.Tensor,
               shape: torch.Tensor, joints: torch.Tensor, joint_set: str,
               weights: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
        """PRoM Eq. 36 (MSE; joints and phenotypes, no mesh term) per member.

        Args:
            skeleton: the :class:`AnnySkeleton` of the forward kinematics h.
            keypoints: (M, B, K, 2) or (B, K, 2) inputs.
            rotations: (M, B, 31, 3, 3) ground truth; shape: (M, B, 6); joints: (M, B, J, 3)
                root-relative ground-truth joints of ``joint_set``.
        Returns:
            ``{"loss", "rotation", "joints", "shape"}``, each (M,); "loss" is NaN for members whose
            outputs are not finite.
        """
        raw, beta = self(keypoints)
        raw, bad = zero_nonfinite_members(raw)
        R_theta, R_y, _ = self.matrices(raw, training=True)
        l_rot = per_member_mse(R_theta, rotations)
        l_joints = per_member_mse(skeleton.joints(R_y, beta, joint_set), joints)
        l_shape = per_member_mse(beta, shape)
        total = weights.rotation * l_rot + weights.joints * l_joints + weights.shape * l_shape
        total = torch.where(bad, torch.full_like(total, math.nan), total)
        return {"loss": total, "rotation": l_rot, "joints": l_joints, "shape": l_shape}

    @torch.no_grad()
    def predict(self, keypoints: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference rotations and phenotypes.

        Args:
            keypoints: (N, K, 2) bbox-normalised keypoints.
        Returns:
            rotations (M, N, 31, 3, 3) (in SO(3); NaN for a member with non-finite outputs) and
            shape (M, N, 6).
        """
        Rs, betas = [], []
        for start in range(0, keypoints.shape[0], chunk):
            raw, beta = self(keypoints[start:start + chunk])
            raw, bad = zero_nonfinite_members(raw)
            R = self.matrices(raw, training=False).eval
            nan = bad.reshape(-1, *([1] * (R.dim() - 1)))
            Rs.append(torch.where(nan, torch.full_like(R, math.nan), R))
            betas.append(beta)
        return torch.cat(Rs, dim=1), torch.cat(betas, dim=1)


def train_regressor(model: BodyRegressor, skeleton: AnnySkeleton, data: RegressionData, *, steps: int,
                    batch: int, lr: Union[float, Sequence[float], torch.Tensor],
                    weights: LossWeights = LossWeights(), lr_milestones: Sequence[int] = (),
                    log_every: int = 0, progress: bool = False) -> FitResult:
    """Train every member of ``model`` with Adam on ``data`` (:func:`posebook.models.training.fit`).

    Each step draws ``batch`` training samples (with replacement) per seed, from a generator seeded
    with that seed: members with the same seed see the same batches. A member whose loss or gradients
    turn non-finite is recorded as diverged (``FitResult.diverged_step``) and frozen; nothing raises.

    Args:
        model: the members; data tensors must be on its device and dtype.
        lr: one learning rate, or (M,) per member.
        lr_milestones: steps at which every learning rate is divided by 10.
        log_every: log the mean training loss every this many steps (0: once, over the whole run).
    Returns:
        :class:`~posebook.models.training.FitResult`; its history has ``train_loss``, the mean
        loss of each logged window.
    """
    device = model.x0.device
    seeds = list(dict.fromkeys(model.seeds))
    gens = [torch.Generator().manual_seed(10**5 + s) for s in seeds]
    seed_index = torch.tensor([seeds.index(s) for s in model.seeds], device=device)
    n = len(data)

    def loss_fn(step: int) -> torch.Tensor:
        idx = torch.stack([torch.randint(n, (batch,), generator=g) for g in gens]).to(device)
        idx = idx.index_select(0, seed_index)  # (M, B)
        out = model.losses(skeleton, data.keypoints[idx], data.rotations[idx], data.shape[idx],
                           data.joints[idx], data.joint_set, weights)
        return out["loss"]

    lrs = torch.as_tensor(lr, dtype=torch.float64).expand(model.members).to(device)
    return fit(list(model.parameters()), loss_fn, steps=steps, lr=lrs, eval_every=log_every,
               lr_milestones=lr_milestones, lr_gamma=0.1, progress=progress)


# ------------------------------------------------------------------------ 2D fitting (Eq. 37)


class Fit2DResult(NamedTuple):
    """What :func:`fit_keypoints_2d` returns.

    Attributes:
        rotations: (N, 31, 3, 3) fitted rotations after the inference orthogonalisation (NaN rows
            for samples whose fit went non-finite).
        pseudo: (N, 31, 3, 3) the matrices the loss saw at the last step (PRoM: unorthogonalised).
        loss: (steps + 1,) mean reprojection loss (bbox units squared) before each step and at the end.
        diverged: (N,) bool, samples whose loss became non-finite.
    """

    rotations: torch.Tensor
    pseudo: torch.Tensor
    loss: torch.Tensor
    diverged: torch.Tensor


def fit_keypoints_2d(skeleton: AnnySkeleton, rotations: torch.Tensor, shape: torch.Tensor,
                     translation: torch.Tensor, K: torch.Tensor, keypoints: torch.Tensor, scale: torch.Tensor,
                     joint_set: str, representation: str = "prom", *, steps: int = 100, lr: float = 1e-2,
                     inference_ortho: str = "svd") -> Fit2DResult:
    """PRoM Eq. 37: refine per-sample rotations to fit 2D keypoints only, batched over samples.

    The rotations are re-parametrised in ``representation`` (:func:`raw_from_matrix`) and optimised
    with Adam on ``sum_n mean_j ||(project(J_n) - uv_n) / scale_n||^2``, where ``J_n`` are the joints
    of ``joint_set`` by forward kinematics with the sample's fixed shape and root ``translation`` (the
    camera is known: ``K``, and the translation is given, not solved). The matrix fed to the
    kinematics is the representation's downstream training matrix (PRoM: the raw 9 numbers, no
    orthogonalisation; 6D: r_GS); the result is orthogonalised once at the end. The loss is a sum of
    per-sample terms and Adam is elementwise, so every sample is fitted exactly as it would be alone.

    Args:
        skeleton: :class:`AnnySkeleton`.
        rotations: (N, 31, 3, 3) initial relative rotations (camera-frame root).
        shape: (N, 6) phenotypes (fixed).
        translation: (N, 3) camera-frame root position, metres (fixed).
        K: (N, 3, 3) intrinsics; keypoints: (N, J, 2) target pixels; scale: (N,) pixels per unit
            of the loss (e.g. the bbox size).
        representation: the parametrisation ("6d", "prom", or any of
            :data:`posebook.models.rotation_heads.REPRESENTATIONS`).
        steps, lr: Adam steps and learning rate.
        inference_ortho: final projection of a 9D "prom" matrix, "svd" or "gs".
    Returns:
        :class:`Fit2DResult`.
    """
    theta = raw_from_matrix(rotations.detach(), representation).clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    diverged = torch.zeros(rotations.shape[0], dtype=torch.bool, device=rotations.device)
    history = []

    def per_sample(th: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        R = outputs(th, representation, training=True, inference_ortho=inference_ortho, with_eval=False).downstream
        uv = project(skeleton.joints(R, shape, joint_set, translation), K)
        return ((uv - keypoints) / scale[:, None, None]).square().sum(-1).mean(-1), R

    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss, _ = per_sample(torch.where(diverged[:, None, None], theta.detach(), theta))
        diverged = diverged | ~torch.isfinite(loss.detach())
        history.append(float(loss.detach()[~diverged].mean()) if bool((~diverged).any()) else math.nan)
        total = torch.where(diverged, torch.zeros_like(loss), loss).sum()
        total.backward()
        if theta.grad is not None:
            bad = ~torch.isfinite(theta.grad).reshape(theta.shape[0], -1).all(dim=1)
            diverged = diverged | bad
            theta.grad[diverged] = 0.0
        opt.step()
    with torch.no_grad():
        safe = torch.where(diverged[:, None, None] | ~torch.isfinite(theta), torch.zeros_like(theta), theta)
        final_loss, pseudo = per_sample(safe)
        diverged = diverged | ~torch.isfinite(final_loss)
        history.append(float(final_loss[~diverged].mean()) if bool((~diverged).any()) else math.nan)
        safe = torch.where(diverged[:, None, None], raw_from_matrix(rotations, representation), safe)
        R = outputs(safe, representation, training=False, inference_ortho=inference_ortho).eval
        nan = diverged[:, None, None, None]
        R = torch.where(nan, torch.full_like(R, math.nan), R)
        pseudo = torch.where(nan, torch.full_like(pseudo, math.nan), pseudo)
    return Fit2DResult(R, pseudo, torch.tensor(history, dtype=torch.float64), diverged)
