"""Rotation output heads: the raw numbers a network predicts and the matrices made of them (PRoM Sec. 3-4).

A network predicts ``raw`` numbers; ``r`` (the representation map) and ``g`` (an orthogonalisation)
turn them into a 3x3 matrix (PRoM Fig. 1). PRoM's point is *where* ``g`` is applied: the matrix that
enters the rotation loss L_theta and the one fed to the downstream computation h (L_Y) may each be
orthogonalised or not (Table 3a), while inference always returns a valid rotation.

Representations (``raw`` sizes in :data:`RAW_DIMS`):

=============  ===  ==========================================================================
name           dim  raw -> matrix
=============  ===  ==========================================================================
"axis_angle"   3    rotation vector (axis * angle, radians), Rodrigues (roma)
"euler"        3    intrinsic Euler angles, convention :data:`EULER_CONVENTION`, radians (roma)
"quaternion"   4    XYZW quaternion, normalised, then the unit-quaternion matrix (roma)
"6d"           6    first two COLUMNS ``[t1, t2]`` (``geometry.rotations.matrix_from_6d``
                    layout); orthogonalised by r_GS (PRoM Eq. 2)
"svd"          9    3x3 row-major, orthogonalised by g_SVD (Levinson et al. 2020)
"gs"           9    3x3 row-major, orthogonalised by g_GS (PRoM Eq. 1, proper: q3 = q1 x q2)
"prom"         9    3x3 row-major, used as is in training (pseudo rotation matrix, PRoM Eq. 7),
                    orthogonalised only at inference (g_SVD by default, Sec. 5.2; g_GS optional)
=============  ===  ==========================================================================

Switches (for the matrix representations "6d", "svd", "gs", "prom"):

- ``ortho_in_rot_loss``: orthogonalise the matrix used in L_theta (default: True for "6d", "svd",
  "gs"; False for "prom").
- ``ortho_in_downstream``: orthogonalise the matrix fed to h for L_Y (same defaults).
- ``inference_ortho``: the post-hoc projection at inference: "svd" or "gs" ("6d" always uses its
  r_GS, which is g_GS on ``[t1, t2, .]``).

Without orthogonalisation a 9D output is the 3x3 matrix itself; a 6D output becomes
``[t1, t2, t1 x t2]`` (the cross product completes the frame but nothing is normalised or projected:
our reading of PRoM Fig. 2c's "6D*", "removing orthogonalizations during the learning of 6D").
So "prom" is exactly "svd" with both switches off.

The 3-/4-parameter representations have no orthogonalisation step (their maps always give
rotations); asking to switch one off raises ValueError.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, Optional

import torch

from posebook.geometry.rotations import (
    axis_angle_to_matrix,
    euler_to_matrix,
    gram_schmidt,
    matrix_from_6d,
    quaternion_to_matrix,
    svd_orthogonalize,
)

__all__ = [
    "RAW_DIMS",
    "REPRESENTATIONS",
    "MATRIX_REPRESENTATIONS",
    "EULER_CONVENTION",
    "RotationOutputs",
    "raw_dim",
    "raw_to_matrix",
    "outputs",
    "RotationHead",
]

#: Number of raw outputs per rotation for each representation.
RAW_DIMS: dict[str, int] = {
    "axis_angle": 3,
    "euler": 3,
    "quaternion": 4,
    "6d": 6,
    "svd": 9,
    "gs": 9,
    "prom": 9,
}
#: The rotation representations, in the order of :data:`RAW_DIMS`.
REPRESENTATIONS: tuple[str, ...] = tuple(RAW_DIMS)
#: Representations whose matrix can be left unorthogonalised (the switches apply to these).
MATRIX_REPRESENTATIONS: tuple[str, ...] = ("6d", "svd", "gs", "prom")
#: Euler convention of the "euler" head: intrinsic X-Y-Z, R = Rx(a) Ry(b) Rz(c).
EULER_CONVENTION = "XYZ"

InferenceOrtho = Literal["svd", "gs"]


class RotationOutputs(NamedTuple):
    """The three matrices of one prediction, each (..., 3, 3).

    ``rotation_loss``: what L_theta compares with the ground truth; ``downstream``: what is fed to h
    (forward kinematics, rotating a point cloud, ...) for L_Y; ``eval``: a rotation (in SO(3)) for
    metrics, detached from the graph in training (None if not asked for). In eval mode
    (``training=False``) all three are the rotation.
    """

    rotation_loss: torch.Tensor
    downstream: torch.Tensor
    eval: torch.Tensor


def _check_representation(representation: str) -> None:
    if representation not in RAW_DIMS:
        raise ValueError(
            f"unknown rotation representation {representation!r}; choose one of {list(RAW_DIMS)}"
        )


def raw_dim(representation: str) -> int:
    """Number of raw network outputs per rotation (3, 4, 6 or 9)."""
    _check_representation(representation)
    return RAW_DIMS[representation]


def _check_raw(raw: torch.Tensor, representation: str) -> None:
    n = raw_dim(representation)
    if not isinstance(raw, torch.Tensor) or raw.dim() < 1 or raw.shape[-1] != n:
        shape = tuple(raw.shape) if isinstance(raw, torch.Tensor) else type(raw).__name__
        raise ValueError(f"representation {representation!r} needs raw of shape (..., {n}), got {shape}")


def _default_ortho(representation: str, flag: Optional[bool], name: str) -> bool:
    if representation in MATRIX_REPRESENTATIONS:
        return representation != "prom" if flag is None else bool(flag)
    if flag is not None and not flag:
        raise ValueError(
            f"{name}=False needs a matrix representation {MATRIX_REPRESENTATIONS}; "
            f"{representation!r} has no orthogonalisation step to remove"
        )
    return True


def _pseudo_matrix(raw: torch.Tensor, representation: str) -> torch.Tensor:
    """The unorthogonalised matrix R0 of a matrix representation (PRoM Sec. 3.1)."""
    if representation == "6d":
        t = raw.reshape(*raw.shape[:-1], 3, 2)
        t1, t2 = t[..., 0], t[..., 1]
        return torch.stack((t1, t2, torch.linalg.cross(t1, t2, dim=-1)), dim=-1)
    return raw.reshape(*raw.shape[:-1], 3, 3)


def _rotation(raw: torch.Tensor, representation: str, inference_ortho: InferenceOrtho) -> torch.Tensor:
    """The representation's map to SO(3) (r, then g where it has one)."""
    if representation == "axis_angle":
        return axis_angle_to_matrix(raw)
    if representation == "euler":
        return euler_to_matrix(raw, EULER_CONVENTION)
    if representation == "quaternion":
        return quaternion_to_matrix(raw)
    if representation == "6d":
        return matrix_from_6d(raw)
    matrix = raw.reshape(*raw.shape[:-1], 3, 3)
    method = {"svd": "svd", "gs": "gs", "prom": inference_ortho}[representation]
    if method == "svd":
        return svd_orthogonalize(matrix)
    if method == "gs":
        return gram_schmidt(matrix)
    raise ValueError(f"inference_ortho must be 'svd' or 'gs', got {inference_ortho!r}")


def raw_to_matrix(
    raw: torch.Tensor,
    representation: str,
    training: bool,
    ortho_for_loss: Optional[bool] = None,
    inference_ortho: InferenceOrtho = "svd",
) -> torch.Tensor:
    """One matrix from raw outputs: the training-time matrix, or the inference rotation.

    PRoM Eq. 3 (orthogonalised, R1) vs Eq. 7 (pseudo rotation matrix, R0). With ``training=True``
    returns R1 if ``ortho_for_loss`` (default: the representation's own choice, False only for
    "prom") else R0; with ``training=False`` always returns a rotation.

    Args:
        raw: (..., raw_dim(representation)) network outputs.
        representation: one of :data:`REPRESENTATIONS`.
        training: training-time matrix (True) or inference rotation (False).
        ortho_for_loss: orthogonalise in training (matrix representations only).
        inference_ortho: post-hoc projection of "prom" at inference, "svd" or "gs".
    Returns:
        (..., 3, 3).
    """
    _check_raw(raw, representation)
    if training and not _default_ortho(representation, ortho_for_loss, "ortho_for_loss"):
        return _pseudo_matrix(raw, representation)
    return _rotation(raw, representation, inference_ortho)


def outputs(
    raw: torch.Tensor,
    representation: str,
    training: bool = True,
    ortho_in_rot_loss: Optional[bool] = None,
    ortho_in_downstream: Optional[bool] = None,
    inference_ortho: InferenceOrtho = "svd",
    with_eval: bool = True,
) -> RotationOutputs:
    """The matrices for L_theta, for the downstream h (L_Y) and for evaluation (PRoM Eq. 3 / 7, Table 3a).

    The two switches are independent: e.g. ``("6d", ortho_in_rot_loss=False)`` is Table 3a's
    "id. / r_GS" row. The orthogonalised matrix is computed once and shared when both use it.

    Args:
        raw: (..., raw_dim(representation)) network outputs.
        representation: one of :data:`REPRESENTATIONS`.
        training: False -> all three fields are the inference rotation.
        ortho_in_rot_loss, ortho_in_downstream: None = the representation's default (see module doc).
        inference_ortho: post-hoc projection of "prom" at inference, "svd" or "gs".
        with_eval: in training, also compute the (detached) inference rotation; False skips it
            (``eval`` is then None), e.g. to spare PRoM's SVD at every training step.
    Returns:
        :class:`RotationOutputs` of three (..., 3, 3) tensors.
    """
    _check_raw(raw, representation)
    ortho_theta = _default_ortho(representation, ortho_in_rot_loss, "ortho_in_rot_loss")
    ortho_y = _default_ortho(representation, ortho_in_downstream, "ortho_in_downstream")
    if not training:
        rotation = _rotation(raw, representation, inference_ortho)
        return RotationOutputs(rotation, rotation, rotation)
    rotation = _rotation(raw, representation, inference_ortho) if (ortho_theta or ortho_y) else None
    pseudo = None if (ortho_theta and ortho_y) else _pseudo_matrix(raw, representation)
    if with_eval:
        evaluated = (rotation if rotation is not None else _rotation(raw.detach(), representation, inference_ortho))
        evaluated = evaluated.detach()
    else:
        evaluated = None
    return RotationOutputs(
        rotation if ortho_theta else pseudo,
        rotation if ortho_y else pseudo,
        evaluated,  # type: ignore[arg-type]
    )


class RotationHead(torch.nn.Module):
    """A linear layer predicting ``num_rotations`` rotations in one representation.

    ``forward(features)`` returns :class:`RotationOutputs` (training-time matrices in train mode,
    rotations in eval mode); :meth:`raw` gives the raw numbers themselves.

    Args:
        representation: one of :data:`REPRESENTATIONS`.
        in_features: feature width C.
        num_rotations: K rotations per sample (e.g. K body joints).
        ortho_in_rot_loss, ortho_in_downstream, inference_ortho: see :func:`outputs`.
    Shapes:
        features (..., C) -> each field (..., K, 3, 3), or (..., 3, 3) when ``num_rotations`` is None.
    """

    def __init__(
        self,
        representation: str,
        in_features: int,
        num_rotations: Optional[int] = None,
        *,
        ortho_in_rot_loss: Optional[bool] = None,
        ortho_in_downstream: Optional[bool] = None,
        inference_ortho: InferenceOrtho = "svd",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        # Fail at construction, not at the first forward.
        _default_ortho(representation, ortho_in_rot_loss, "ortho_in_rot_loss")
        _default_ortho(representation, ortho_in_downstream, "ortho_in_downstream")
        if inference_ortho not in ("svd", "gs"):
            raise ValueError(f"inference_ortho must be 'svd' or 'gs', got {inference_ortho!r}")
        self.representation = representation
        self.num_rotations = num_rotations
        self.ortho_in_rot_loss = ortho_in_rot_loss
        self.ortho_in_downstream = ortho_in_downstream
        self.inference_ortho = inference_ortho
        k = 1 if num_rotations is None else num_rotations
        self.linear = torch.nn.Linear(in_features, k * raw_dim(representation), device=device, dtype=dtype)

    def raw(self, features: torch.Tensor) -> torch.Tensor:
        """(..., C) -> (..., K, raw_dim) raw numbers, or (..., raw_dim) without ``num_rotations``."""
        out = self.linear(features)
        if self.num_rotations is None:
            return out
        return out.reshape(*out.shape[:-1], self.num_rotations, raw_dim(self.representation))

    def forward(self, features: torch.Tensor) -> RotationOutputs:
        return outputs(
            self.raw(features),
            self.representation,
            training=self.training,
            ortho_in_rot_loss=self.ortho_in_rot_loss,
            ortho_in_downstream=self.ortho_in_downstream,
            inference_ortho=self.inference_ortho,
        )

    def extra_repr(self) -> str:
        return f"representation={self.representation!r}, num_rotations={self.num_rotations}"
