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

Loss (PRoM Eq. 3 / 7 / 36 with MSE as L_ele; A.10: "pose loss ... 3D joint loss and 2D reprojection
loss"), per member:

``L = w_theta MSE(R_theta, R_gt) + w_J MSE(J(R_Y, beta), J_gt) + w_M MSE(V(R_Y, beta), V_gt)
+ w_2D MSE((Pi_K(J(R_Y, beta) + t_gt) - uv_gt) / (b / 2)) + w_beta MSE(beta, beta_gt)``

- ``R_theta`` / ``R_Y``: the matrices the head gives for the rotation loss and for the downstream
  forward kinematics, orthogonalised or not per the two switches of
  :func:`posebook.models.rotation_heads.outputs` (PRoM Table 3a); 9 entries per rotation, all 31
  relative rotations (``[:, 0]`` = camera-frame root orientation).
- ``J(R, beta)``: root-relative joints of a joint set from forward kinematics on the rest skeleton
  of the predicted shape (:class:`AnnySkeleton`).
- ``V(R, beta)``: the mesh term L_ele(Y_M) of Eq. 36 on a fixed, evenly spread subset of S Anny
  vertices (farthest-point sampled; linear blend skinning restricted to them,
  :meth:`AnnySkeleton.vertices`, equal to the full mesh's rows): skinning all 13,718 vertices every
  step costs ~5 ms per sample on this CPU. Root-relative (Hips head at the origin), metres.
- the reprojection term: the predicted root-relative joints placed at the sample's ground-truth
  root translation ``t_gt`` and projected with its intrinsics K; the regressor predicts no camera
  (its input is already in the bbox frame), so this term supervises the pose and shape only. Pixel
  errors are divided by half the bbox size b, SPIN's [-1, 1] crop units.
- weights (:class:`LossWeights`): SPIN's (``pose 1, keypoints 2D 5, keypoints 3D 5, betas 0.001``;
  SPIN, and BEDLAM's CLIFF config, which CLIFF's README endorses, use the same); SPIN's mesh weight
  is 0 (it trains without the mesh term), Eq. 36 has one, so the vertices take the 3D keypoint
  weight (same units, metres). The mesh and 2D terms default to off (``vertices = reprojection =
  0``) when their cost does not fit the book's quick profile; see :data:`EQ36_WEIGHTS`.

Outputs and SO(3). :meth:`BodyRegressor.predict` returns the inference rotations (the post-hoc
projection of each head); ``with_training=True`` also returns the training-time R_Y (PRoM's
unorthogonalised matrices), whose distance from SO(3) :func:`so3_distance` measures.

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
from posebook.body.anny_skeleton import NUM_ROTATIONS, NUM_SHAPE, AnnySkeleton
from posebook.models.ensemble import EnsembleLinear, member_generators, per_member_mse, zero_nonfinite_members

__all__ = [
    "NUM_ROTATIONS",
    "NUM_SHAPE",
    "RAW_SLOT",
    "LossWeights",
    "EQ36_WEIGHTS",
    "Variant",
    "normalize_keypoints",
    "noisy_keypoints",
    "so3_distance",
    "raw_from_matrix",
    "RegressionData",
    "BodyRegressor",
    "reprojection_loss",
]

#: Raw numbers stored per rotation for every member (the largest representation, a 3x3 matrix).
RAW_SLOT = 9


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (module docstring): SPIN's pose 1 / 3D keypoints 5 / betas 0.001;
    ``vertices`` (Eq. 36's L_ele(Y_M) on the vertex subset) and ``reprojection`` (A.10's 2D loss,
    SPIN's keypoint weight 5) are 0 here, the full Eq. 36 + A.10 loss is :data:`EQ36_WEIGHTS`."""

    rotation: float = 1.0
    joints: float = 5.0
    shape: float = 0.001
    vertices: float = 0.0
    reprojection: float = 0.0

    def missing(self) -> list[str]:
        """The terms of PRoM Eq. 36 / A.10 this loss leaves out (weight 0), in words."""
        return [name for name, w in (("the mesh term L_ele(Y_M)", self.vertices),
                                     ("the 2D reprojection loss", self.reprojection)) if w == 0]


#: PRoM Eq. 36 with A.10's reprojection loss, SPIN's weights (module docstring).
EQ36_WEIGHTS = LossWeights(vertices=5.0, reprojection=5.0)


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


def noisy_keypoints(uv: torch.Tensor, bbox_center: torch.Tensor, bbox_size: torch.Tensor, *, sigma: float = 0.015,
                    outliers: float = 0.02, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Detector-like 2D keypoints: Gaussian pixel noise proportional to the bbox, and outliers.

    Each coordinate gets ``sigma * bbox_size * N(0, 1)`` (a detector's localisation error grows
    with the person's size in the image; 1-2% of the bbox is a typical HRNet / ViTPose error on
    COCO-sized people); independently, each keypoint is an outlier with probability ``outliers``
    and is replaced by a uniform point of the bbox (a wrong-limb or background detection). The
    draws come from ``generator`` on the CPU, so the noise is the same on every device for one seed.

    Args:
        uv: (N, K, 2) exact keypoints, pixels; bbox_center: (N, 2); bbox_size: (N,) pixels.
        sigma: noise standard deviation, fraction of the bbox size (>= 0).
        outliers: probability of an outlier per keypoint, in [0, 1].
    Returns:
        (N, K, 2) noisy keypoints, pixels, ``uv``'s device and dtype.
    """
    if sigma < 0 or not 0 <= outliers <= 1:
        raise ValueError(f"need sigma >= 0 and outliers in [0, 1], got sigma={sigma}, outliers={outliers}")
    N, K, _ = uv.shape
    noise = torch.randn(N, K, 2, generator=generator, dtype=torch.float64)
    is_out = torch.rand(N, K, 1, generator=generator, dtype=torch.float64) < outliers
    anywhere = torch.rand(N, K, 2, generator=generator, dtype=torch.float64) - 0.5
    size = bbox_size.detach().to("cpu", torch.float64)[:, None, None]
    centre = bbox_center.detach().to("cpu", torch.float64)[:, None, :]
    noisy = torch.where(is_out, centre + anywhere * size, uv.detach().to("cpu", torch.float64) + sigma * size * noise)
    return noisy.to(uv.device, uv.dtype)


def so3_distance(R: torch.Tensor) -> dict[str, torch.Tensor]:
    """How far 3x3 matrices are from SO(3) (PRoM's pseudo rotation matrices vs their projection).

    Args:
        R: (..., 3, 3).
    Returns:
        ``ortho``: (...) ``||R^T R - I||_F``; ``frobenius``: (...) ``||R - g_SVD(R)||_F``, the
        distance to the nearest rotation; ``svd``: (..., 3, 3) that rotation, g_SVD(R).
    """
    eye = torch.eye(3, dtype=R.dtype, device=R.device)
    nearest = svd_orthogonalize(R)
    return {"ortho": torch.linalg.matrix_norm(R.mT @ R - eye), "frobenius": torch.linalg.matrix_norm(R - nearest),
            "svd": nearest}


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
        keypoints: (N, K, 2) bbox-normalised 2D keypoints (the input; exact or noisy).
        rotations: (N, 31, 3, 3) ground-truth relative rotations (``[:, 0]`` camera-frame root).
        shape: (N, 6) ground-truth phenotypes.
        joints: (N, J, 3) ground-truth root-relative joints of the loss joint set, metres.
        joint_set: the name of that set.
        vertices: (N, S, 3) ground-truth root-relative vertices of the skeleton's vertex subset
            (:meth:`AnnySkeleton.vertices`), metres; None: no mesh term.
        uv: (N, J, 2) exact 2D keypoints of the loss joint set, full-image pixels (the 2D target,
            whatever the input's noise).
        K: (N, 3, 3) intrinsics; root: (N, 3) camera-frame root (Hips head), metres;
        bbox_size: (N,) pixels (the 2D term's normalisation).
    """

    keypoints: torch.Tensor
    rotations: torch.Tensor
    shape: torch.Tensor
    joints: torch.Tensor
    joint_set: str
    vertices: Optional[torch.Tensor] = None
    uv: Optional[torch.Tensor] = None
    K: Optional[torch.Tensor] = None
    root: Optional[torch.Tensor] = None
    bbox_size: Optional[torch.Tensor] = None

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def take(self, index: torch.Tensor) -> "RegressionData":
        """The samples ``index`` ((B,) or (M, B) ints: one batch per member) of every tensor field."""
        return dataclasses.replace(self, **{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)
                                            if isinstance(getattr(self, f.name), torch.Tensor)})

    @classmethod
    def from_world(cls, world, input_joints: str = "cmu31", loss_joints: str = "cmu31",
                   device: Union[str, torch.device, None] = None,
                   dtype: torch.dtype = torch.float32, *, skeleton: Optional[AnnySkeleton] = None,
                   input_uv: Optional[torch.Tensor] = None, chunk: int = 512) -> "RegressionData":
        """Build from a :class:`posebook.data.world.World` (its 2D keypoints, bboxes, rotations,
        shapes, cameras, and 3D joints minus the root); ``input_joints`` / ``loss_joints`` must be
        among the world's joint sets.

        Args:
            skeleton: an :class:`AnnySkeleton` with a vertex subset: fills ``vertices`` (skinned
                from the ground truth); None or no subset: ``vertices`` is None.
            input_uv: (N, K, 2) pixel keypoints to use as the input instead of the world's exact
                ones (e.g. :func:`noisy_keypoints`).
        """
        for name in (input_joints, loss_joints):
            if name not in world.keypoints2d:
                raise ValueError(f"joint set {name!r} is not in this world (it has {list(world.keypoints2d)}); "
                                 f"build it with WorldConfig(joint_sets=(..., {name!r}))")
        uv_in = world.keypoints2d[input_joints] if input_uv is None else input_uv
        if uv_in.shape != world.keypoints2d[input_joints].shape:
            raise ValueError(f"input_uv must be {tuple(world.keypoints2d[input_joints].shape)} "
                             f"({input_joints} pixels), got {tuple(uv_in.shape)}")
        kw = dict(device=device, dtype=dtype)
        vertices = None
        if skeleton is not None and skeleton.num_vertices:
            with torch.no_grad():
                R, beta = world.rotations.to(skeleton.corners), world.shape.to(skeleton.corners)
                vertices = torch.cat([skeleton.vertices(R[k:k + chunk], beta[k:k + chunk])
                                      for k in range(0, len(world), chunk)]).to(**kw)
        return cls(
            keypoints=normalize_keypoints(uv_in.double(), world.bbox_center.double(),
                                          world.bbox_size.double()).to(**kw),
            rotations=world.rotations.to(**kw), shape=world.shape.to(**kw),
            joints=(world.joints3d[loss_joints].double() - world.root.double()[:, None]).to(**kw),
            joint_set=loss_joints, vertices=vertices, uv=world.keypoints2d[loss_joints].to(**kw),
            K=world.K.to(**kw), root=world.root.to(**kw), bbox_size=world.bbox_size.to(**kw),
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
        """PRoM Eq. 36 with A.10's 2D reprojection loss (MSE; module docstring) per member.

        Args:
            skeleton: the :class:`AnnySkeleton` of the forward kinematics h (with a vertex subset
                when ``weights.vertices > 0``).
            batch: one batch per member (:meth:`RegressionData.take` with (M, B) indices): keypoints
                (M, B, K, 2) (or (B, K, 2) shared), rotations (M, B, 31, 3, 3), shape (M, B, 6),
                joints (M, B, J, 3) root-relative ground-truth joints of ``batch.joint_set``;
                vertices (M, B, S, 3) for the mesh term; uv (M, B, J, 2), K (M, B, 3, 3), root
                (M, B, 3), bbox_size (M, B) for the 2D term.
        Returns:
            ``{"loss", "rotation", "joints", "vertices", "reprojection", "shape"}``, each (M,) (a
            term with weight 0 is not computed and reads 0); "loss" is NaN for members whose
            outputs are not finite.
        """
        raw, beta = self(batch.keypoints)
        raw, bad = zero_nonfinite_members(raw)
        R_theta, R_y, _ = self.matrices(raw, training=True)
        zero = beta.new_zeros(beta.shape[0])
        l_rot = per_member_mse(R_theta, batch.rotations)
        if weights.vertices:
            if batch.vertices is None or batch.vertices.shape[-2] != skeleton.num_vertices:
                raise ValueError("the mesh term needs RegressionData.vertices of the skeleton's vertex subset: "
                                 "RegressionData.from_world(..., skeleton=AnnySkeleton(body, num_vertices=S))")
            joints, vertices = skeleton.joints_and_vertices(R_y, beta, batch.joint_set)
            l_vertices = per_member_mse(vertices, batch.vertices)
        else:
            joints, l_vertices = skeleton.joints(R_y, beta, batch.joint_set), zero
        l_joints = per_member_mse(joints, batch.joints)
        l_reproj = reprojection_loss(joints, batch) if weights.reprojection else zero
        l_shape = per_member_mse(beta, batch.shape)
        total = (weights.rotation * l_rot + weights.joints * l_joints + weights.vertices * l_vertices
                 + weights.reprojection * l_reproj + weights.shape * l_shape)
        total = torch.where(bad, torch.full_like(total, math.nan), total)
        return {"loss": total, "rotation": l_rot, "joints": l_joints, "vertices": l_vertices,
                "reprojection": l_reproj, "shape": l_shape}

    @torch.no_grad()
    def predict(self, keypoints: torch.Tensor, chunk: int = 4096, *, with_training: bool = False
                ) -> Union[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Inference rotations and phenotypes (and the training-time matrices).

        Args:
            keypoints: (N, K, 2) bbox-normalised keypoints.
            with_training: also return R_Y, the matrices fed to h in training (PRoM's pseudo
                rotation matrices before the inference-time projection; rotations for heads that
                orthogonalise in L_Y).
        Returns:
            rotations (M, N, 31, 3, 3) (in SO(3); NaN for a member with non-finite outputs),
            shape (M, N, 6), and with ``with_training`` R_Y (M, N, 31, 3, 3) (NaN likewise).
        """
        Rs, betas, Rys = [], [], []
        for start in range(0, keypoints.shape[0], chunk):
            raw, beta = self(keypoints[start:start + chunk])
            raw, bad = zero_nonfinite_members(raw)
            R = self.matrices(raw, training=False).eval
            nan = bad.reshape(-1, *([1] * (R.dim() - 1)))
            Rs.append(torch.where(nan, torch.full_like(R, math.nan), R))
            betas.append(beta)
            if with_training:
                R_y = self.matrices(raw, training=True).downstream
                Rys.append(torch.where(nan, torch.full_like(R_y, math.nan), R_y))
        out = (torch.cat(Rs, dim=1), torch.cat(betas, dim=1))
        return out + (torch.cat(Rys, dim=1),) if with_training else out


def reprojection_loss(joints: torch.Tensor, batch: RegressionData) -> torch.Tensor:
    """A.10's 2D reprojection loss per member: MSE of ``(Pi_K(joints + t_gt) - uv_gt) / (b / 2)``.

    The joints are placed at the ground-truth root translation and projected with the sample's
    intrinsics (the regressor predicts no camera); errors in SPIN's [-1, 1] crop units (b: bbox size).

    Args:
        joints: (M, B, J, 3) predicted root-relative joints of ``batch.joint_set``, camera axes.
        batch: uv (M, B, J, 2), K (M, B, 3, 3), root (M, B, 3), bbox_size (M, B).
    Returns:
        (M,).
    """
    if batch.uv is None or batch.K is None or batch.root is None or batch.bbox_size is None:
        raise ValueError("the 2D reprojection term needs RegressionData.uv, K, root and bbox_size "
                         "(RegressionData.from_world fills them)")
    half = 0.5 * batch.bbox_size[..., None, None]
    return per_member_mse(project(joints + batch.root[..., None, :], batch.K) / half, batch.uv / half)
