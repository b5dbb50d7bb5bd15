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
together (:mod:`posebook.models.ensemble`, trained by :func:`posebook.optim.training.train_regressor`): every layer is an :class:`EnsembleLinear`, member m is
initialised from ``seeds[m]``, and members never interact. Every member stores its raw pose as 9
numbers per rotation and uses the first ``raw_dim`` of them (the rest is masked to 0), so members
with the same seed start from identical weights whatever their representation: a paired comparison.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F

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
from posebook.body.anny_skeleton import NUM_ROTATIONS, NUM_SHAPE, AnnySkeleton
from posebook.models.ensemble import EnsembleLinear, member_generators, per_member_mse, zero_nonfinite_members

__all__ = [
    "NUM_ROTATIONS",
    "NUM_SHAPE",
    "RAW_SLOT",
    "LossWeights",
    "Variant",
    "normalize_keypoints",
    "raw_from_matrix",
    "RegressionData",
    "BodyRegressor",
]

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

    def take(self, index: torch.Tensor) -> "RegressionData":
        """The samples ``index`` ((B,) or (M, B) ints: one batch per member) of every tensor field."""
        return dataclasses.replace(self, **{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)
                                            if isinstance(getattr(self, f.name), torch.Tensor)})

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

    def losses(self, skeleton: AnnySkeleton, batch: RegressionData,
               weights: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
        """PRoM Eq. 36 (MSE; joints and phenotypes, no mesh term) per member.

        Args:
            skeleton: the :class:`AnnySkeleton` of the forward kinematics h.
            batch: one batch per member (:meth:`RegressionData.take` with (M, B) indices): keypoints
                (M, B, K, 2) (or (B, K, 2) shared), rotations (M, B, 31, 3, 3), shape (M, B, 6),
                joints (M, B, J, 3) root-relative ground-truth joints of ``batch.joint_set``.
        Returns:
            ``{"loss", "rotation", "joints", "shape"}``, each (M,); "loss" is NaN for members whose
            outputs are not finite.
        """
        raw, beta = self(batch.keypoints)
        raw, bad = zero_nonfinite_members(raw)
        R_theta, R_y, _ = self.matrices(raw, training=True)
        l_rot = per_member_mse(R_theta, batch.rotations)
        l_joints = per_member_mse(skeleton.joints(R_y, beta, batch.joint_set), batch.joints)
        l_shape = per_member_mse(beta, batch.shape)
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
