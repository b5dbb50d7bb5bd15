"""Parametric body models behind one protocol: Anny (open, the default) and SMPL (user files).

Every model maps relative joint rotations (SGRE Sec. 3.1: root = global orientation, every other
joint w.r.t. its parent; identity = the model's rest pose), a shape vector and a translation to a
skinned mesh, its joints and the joints' global rotations, batched over B.

Output frame, shared by both models (SMPL's canonical frame): **y up, x towards the subject's
left, z towards the subject's front, metres**; the root joint is placed at ``translation`` (the
origin when None). Rotations act on column vectors, so a relative rotation ``R`` applies to
vectors expressed in these axes. Anny is natively z-up (x left, -y front); :class:`AnnyBody`
converts to and from that frame internally (``y_up=False`` keeps the native axes).
"""

from __future__ import annotations

import copy
import functools
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch

from posebook.body import kinematics

__all__ = [
    "BodyOutput",
    "BodyModel",
    "AnnyBody",
    "SMPLBody",
    "SMPL_JOINT_NAMES",
    "SMPL_ENV_VAR",
    "find_smpl_model",
    "load_body_model",
    "shared_anny_body",
]

SMPL_ENV_VAR = "POSEBOOK_SMPL_DIR"
SMPL_URL = "https://smpl.is.tue.mpg.de"

SMPL_JOINT_NAMES = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
]  # fmt: skip


@dataclass
class BodyOutput:
    """One batch of posed bodies, in the output frame (y up, x left, z front; metres).

    Attributes:
        vertices: (B, V, 3) skinned mesh vertices.
        joints: (B, J, 3) joint positions (SMPL: the 24 kinematic joints; Anny: bone heads).
        global_rotations: (B, J, 3, 3) world rotation of each joint's frame w.r.t. the rest pose
            (``kinematics.relative_to_global`` of the input), or None if unavailable.
        bone_tails: (B, J, 3) bone tails where the rig defines them (Anny: the tail of a leaf
            bone is its BVH end site), else None.
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    global_rotations: torch.Tensor | None = None
    bone_tails: torch.Tensor | None = None


@runtime_checkable
class BodyModel(Protocol):
    """What the rest of posebook needs from a body model.

    ``forward(rotations, shape, translation)``: rotations (B, J, 3, 3) relative rotations
    (identity = rest pose), shape (B, num_betas) or None (the model's mean shape), translation
    (B, 3) root joint position or None (origin). ``rest_joints(shape)`` (B, J, 3): joints in the
    rest pose at the model's native placement; ``rest_offsets(shape)`` (B, J, 3): parent->child
    rest offsets with ``offsets[:, 0] = 0``, so that
    ``kinematics.forward_kinematics(rotations, rest_offsets(shape), parents, translation)``
    reproduces ``forward(...).joints``.
    """

    joint_names: list[str]
    parents: list[int]
    faces: torch.Tensor  # (F, 3) int64 vertex indices
    skinning_weights: torch.Tensor  # (V, J) linear-blend-skinning weights, rows sum to 1

    @property
    def num_joints(self) -> int: ...

    @property
    def num_betas(self) -> int: ...

    def forward(
        self,
        rotations: torch.Tensor,
        shape: torch.Tensor | None = None,
        translation: torch.Tensor | None = None,
    ) -> BodyOutput: ...

    def rest_joints(self, shape: torch.Tensor | None = None) -> torch.Tensor: ...

    def rest_offsets(self, shape: torch.Tensor | None = None) -> torch.Tensor: ...


def _check_pose_inputs(
    rotations: torch.Tensor, translation: torch.Tensor | None, num_joints: int
) -> None:
    if rotations.ndim != 4 or rotations.shape[1:] != (num_joints, 3, 3):
        raise ValueError(
            f"rotations must have shape (B, {num_joints}, 3, 3) (relative rotation matrices), "
            f"got {tuple(rotations.shape)}; convert axis-angle/6D first (posebook.geometry)."
        )
    if translation is not None and translation.shape != (rotations.shape[0], 3):
        raise ValueError(
            f"translation must have shape ({rotations.shape[0]}, 3), "
            f"got {tuple(translation.shape)}."
        )


def _offsets_from_rest(rest: torch.Tensor, parents: list[int]) -> torch.Tensor:
    return torch.cat([torch.zeros_like(rest[:, :1]), rest[:, 1:] - rest[:, parents[1:]]], dim=1)


# --------------------------------------------------------------------------------------- Anny

# Anny's native axes (z up, x left, -y front) -> output frame (y up, x left, z front):
# (x, y, z) -> (x, z, -y).
_ANNY_TO_Y_UP = ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0))


@functools.lru_cache(maxsize=None)
def _anny_prototype(rig: str, topology: str, skinning_method: str | None) -> torch.nn.Module:
    """The anny model for one configuration, built once per process (the first build of a
    configuration takes ~45 s on CPU and is cached on disk under ~/.cache/anny; a later process
    loads it in ~3 s)."""
    import anny  # deferred: importing anny initialises NVIDIA Warp

    return anny.Anny(
        rig=rig,
        topology=topology,
        pose_parameterization="local-ref",
        skinning_method=skinning_method,
    )


class AnnyBody(torch.nn.Module):
    """Anny (NAVER, Apache-2.0; ``pip install anny``), default rig ``cmu_mb``: the 31 bones of the
    CMU mocap skeleton (Hips, LHipJoint, LeftUpLeg, ...), 13,718 vertices, 27,420 triangles.

    Pose: anny's ``"local-ref"`` parameterization. With it, the 3x3 block ``D_j`` of bone j's
    delta transform is the rotation of bone j relative to its parent, expressed in world-aligned
    axes, and identity deltas give the rest pose (A-pose); anny's posed bone frames are
    ``W_j = G_j U_j`` with ``G_j = G_pa(j) D_j`` and ``U_j`` the (non-identity, Blender-style)
    rest bone orientation, so ``G_j = W_j U_j^T`` is exactly the rotation
    ``kinematics.relative_to_global`` gives and the bone heads follow
    ``kinematics.forward_kinematics`` on the rest head offsets. This needs a rig whose root rest
    orientation is the identity and without separate reference orientations (cmu_mb,
    game_engine, mixamo, makehuman; not anny's own ``anny`` rig), checked at construction.

    Shape: anny's phenotype vector, ``shape_names`` order
    ``[gender, age, muscle, weight, height, proportions]``, each defaulting to 0.5
    (anny's mean: ~1.63 m tall):

    - gender in [0, 1]: 0 male, 1 female.
    - age in [-1/3, 1]: blendshape anchors newborn -1/3, baby 0, child 1/3, young 2/3, old 1;
      anny's WHO-height calibration (``anny.shape_distribution``) reads 0.415 ~ 11 y,
      0.67 ~ 16 y, 0.77 ~ 18 y, 0.83 ~ 64 y.
    - muscle, weight in [0, 1]: min 0, average 0.5, max 1.
    - height in [0, 1]: min 0, max 1.
    - proportions in [0, 1]: 0 ideal, 1 uncommon.

    Values are clamped to these ranges (anny's ``extrapolate_phenotypes=False``). ``shape`` may
    also be a dict ``{name: float or (B,) tensor}``, missing names taking 0.5.

    Joints are the bone heads; ``BodyOutput.bone_tails`` are the bone tails (for leaf bones
    LeftToeBase, LThumb, LeftHandFinger1, Head, ... the BVH end sites). Output frame: see the
    module docstring (``y_up=False``: anny's native z up, x left, -y front).

    Args:
        rig, topology: anny rig and topology names.
        y_up: express inputs and outputs in the y-up frame (default) or anny's native z-up one.
        skinning_method: anny's skinning. Default "lbs" (plain torch): on the CPU it is as fast
            as "warp_lbs" here (B=256: 0.8 s vs 0.6 s on a loaded 2-core machine), and it does not
            initialise NVIDIA Warp, whose start-up banner and CUDA-driver warning would otherwise
            land in every notebook's output.
        device, dtype: where the model lives (``.to()`` works as for any module).
    """

    def __init__(
        self,
        rig: str = "cmu_mb",
        topology: str = "anny",
        *,
        y_up: bool = True,
        skinning_method: Literal["lbs", "warp_lbs", "dqs"] = "lbs",
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        prototype = _anny_prototype(rig, topology, skinning_method)
        if (
            not prototype.root_identity_orientation
            or prototype.reference_bone_orientations is not None
        ):
            raise ValueError(
                f"anny rig {rig!r} has a non-identity root rest orientation or separate reference "
                "bone orientations, so identity rotations are not its rest pose; use "
                "rig='cmu_mb', 'game_engine', 'mixamo' or 'makehuman'."
            )
        # Each instance owns a copy so that .to(device) on one body leaves the others alone.
        self.model = copy.deepcopy(prototype).to(device=device, dtype=dtype)
        self.rig = rig
        self.joint_names: list[str] = list(self.model.bone_labels)
        self.parents: list[int] = list(kinematics.validate_parents(self.model.bone_parents))
        self.shape_names: list[str] = list(self.model.phenotype_labels)
        from anny.skinning.skinning import dense_bone_weights

        self.register_buffer("faces", self.model.faces.to(device=device, dtype=torch.long))
        weights = dense_bone_weights(
            self.model.vertex_bone_weights, self.model.vertex_bone_indices, len(self.joint_names)
        )
        self.register_buffer("skinning_weights", weights)
        axes = _ANNY_TO_Y_UP if y_up else ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
        self.register_buffer("axes", torch.tensor(axes, dtype=dtype, device=device))

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def num_betas(self) -> int:
        return len(self.shape_names)

    @property
    def num_vertices(self) -> int:
        return self.model.template_vertices.shape[0]

    def default_shape(self, batch_size: int = 1) -> torch.Tensor:
        """(batch_size, num_betas) anny's mean phenotype (0.5 everywhere)."""
        return self.axes.new_full((batch_size, self.num_betas), 0.5)

    def _phenotypes(self, shape: torch.Tensor | Mapping[str, Any] | None) -> torch.Tensor:
        if shape is None:
            return self.default_shape(1)
        if isinstance(shape, Mapping):
            unknown = set(shape) - set(self.shape_names)
            if unknown:
                raise ValueError(
                    f"unknown phenotype(s) {sorted(unknown)}; valid: {self.shape_names}"
                )
            like = self.axes
            columns = [
                torch.as_tensor(shape.get(n, 0.5), dtype=like.dtype, device=like.device).reshape(-1)
                for n in self.shape_names
            ]
            columns = torch.broadcast_tensors(*columns)
            return torch.stack(columns, dim=1)
        if shape.ndim == 1:
            shape = shape[None]
        if shape.ndim != 2 or shape.shape[1] != self.num_betas:
            raise ValueError(
                f"shape must be (B, {self.num_betas}) phenotypes {self.shape_names} in [0, 1] "
                f"(age in [-1/3, 1]), or a dict of them; got {tuple(shape.shape)}."
            )
        return shape

    def _run(self, rotations: torch.Tensor, shape, translation) -> dict[str, torch.Tensor]:
        A = self.axes
        batch = rotations.shape[0]
        native = A.T @ rotations @ A
        t = rotations.new_zeros(batch, 3) if translation is None else translation
        # local-ref puts the root head at the root delta's translation (native axes: A^T t).
        d = torch.cat([(t @ A)[:, None], rotations.new_zeros(batch, self.num_joints - 1, 3)], 1)
        bottom = rotations.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(batch, self.num_joints, 1, 4)
        delta = torch.cat([torch.cat([native, d[..., None]], dim=-1), bottom], dim=-2)
        phen = self._phenotypes(shape)
        if phen.shape[0] not in (1, batch):
            raise ValueError(f"shape has batch {phen.shape[0]}, rotations have batch {batch}.")
        return self.model(delta, phenotype_kwargs=phen, return_bone_ends=True)

    def forward(
        self,
        rotations: torch.Tensor,
        shape: torch.Tensor | Mapping[str, Any] | None = None,
        translation: torch.Tensor | None = None,
    ) -> BodyOutput:
        """Pose and skin Anny.

        Args:
            rotations: (B, J, 3, 3) relative rotations in the output frame's axes (identity =
                rest A-pose; ``rotations[:, 0]`` = root global orientation).
            shape: (B, 6) or (6,) phenotypes (see the class docstring), a dict of them, or None.
            translation: (B, 3) position of the root (Hips head), metres; None: origin.

        Returns:
            BodyOutput with vertices (B, 13718, 3), joints = bone heads (B, J, 3),
            global_rotations (B, J, 3, 3) and bone_tails (B, J, 3).
        """
        _check_pose_inputs(rotations, translation, self.num_joints)
        out = self._run(rotations, shape, translation)
        A = self.axes
        rest_orientation = out["rest_bone_poses"][..., :3, :3]
        G = out["bone_poses"][..., :3, :3] @ rest_orientation.transpose(-1, -2)
        return BodyOutput(
            vertices=out["vertices"] @ A.T,
            joints=out["bone_poses"][..., :3, 3] @ A.T,
            global_rotations=A @ G @ A.T,
            bone_tails=out["bone_tails"] @ A.T,
        )

    def rest_joints(self, shape: torch.Tensor | Mapping[str, Any] | None = None) -> torch.Tensor:
        """(B, J, 3) rest-pose bone heads at anny's native placement (origin at pelvis height:
        Hips head ~(0, 0.05, 0.01), soles at y ~ -0.82 for the mean phenotype), output-frame
        axes, metres."""
        phen = self._phenotypes(shape)
        eye = torch.eye(3, dtype=self.axes.dtype, device=self.axes.device)
        out = self._run(eye.expand(phen.shape[0], self.num_joints, 3, 3), phen, None)
        return out["rest_bone_heads"] @ self.axes.T

    def rest_offsets(self, shape: torch.Tensor | Mapping[str, Any] | None = None) -> torch.Tensor:
        """(B, J, 3) rest offsets ``head[j] - head[pa(j)]`` (``offsets[:, 0] = 0``), such that
        ``kinematics.forward_kinematics(R, rest_offsets(shape), parents, t)[0]`` equals
        ``forward(R, shape, t).joints``."""
        return _offsets_from_rest(self.rest_joints(shape), self.parents)


# --------------------------------------------------------------------------------------- SMPL

_SMPL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


def _smpl_missing_message(expected: list[str], searched: list[Path], reason: str) -> str:
    searched_txt = "\n".join(f"  - {p}" for p in searched) or "  (nothing: no path given)"
    return (
        f"SMPL model file not found ({reason}). Expected {' or '.join(expected)}; searched:\n"
        f"{searched_txt}\n"
        f"SMPL's licence forbids redistribution: register and download 'SMPL for Python' from "
        f"{SMPL_URL}, rename the .pkl for your gender (e.g. basicmodel_neutral_lbs_10_207_0_"
        f"v1.1.0.pkl) to {expected[0]}, and pass model_path=<folder or file> or set the "
        f"environment variable {SMPL_ENV_VAR}=<folder>. The open default needs no file: "
        "load_body_model('anny')."
    )


def find_smpl_model(
    model_path: str | os.PathLike | None = None, gender: str = "neutral"
) -> Path:
    """Locate the SMPL model file the way smplx names it.

    smplx's ``SMPL(model_path=<folder>)`` opens ``<folder>/SMPL_{GENDER}.pkl`` and
    ``smplx.create(<folder>)`` ``<folder>/smpl/SMPL_{GENDER}.pkl``; an .npz of the same arrays
    (dense ``J_regressor``) is accepted next to it.

    Args:
        model_path: a model file, or a folder holding it; None: ``$POSEBOOK_SMPL_DIR``.
        gender: "neutral", "male" or "female".

    Returns:
        the path of the first file found among ``model_path`` itself (if a file),
        ``<dir>/SMPL_{GENDER}.pkl``, ``<dir>/SMPL_{GENDER}.npz``, ``<dir>/smpl/SMPL_{GENDER}.pkl``,
        ``<dir>/smpl/SMPL_{GENDER}.npz``.

    Raises:
        FileNotFoundError: naming the expected file, the paths searched, where to download it
            and the parameter / environment variable to set.
    """
    stem = f"SMPL_{gender.upper()}"
    expected = [f"{stem}.pkl", f"{stem}.npz"]
    source = model_path if model_path is not None else os.environ.get(SMPL_ENV_VAR)
    if source is None:
        raise FileNotFoundError(
            _smpl_missing_message(expected, [], f"model_path not given and ${SMPL_ENV_VAR} unset")
        )
    root = Path(source).expanduser()
    if root.is_file():
        return root
    searched = [root / name for name in expected] + [root / "smpl" / name for name in expected]
    for candidate in searched:
        if candidate.is_file():
            return candidate
    origin = "model_path" if model_path is not None else f"${SMPL_ENV_VAR}"
    raise FileNotFoundError(_smpl_missing_message(expected, searched, f"{origin}={source}"))


def load_smpl_arrays(path: str | os.PathLike) -> dict[str, Any]:
    """The arrays of an SMPL model file (.pkl as released, or an .npz of the same keys), checked.

    Checks the keys :data:`_SMPL_KEYS` and the shapes that tie them together (``v_template``
    (V, 3), ``f`` (F, 3), ``weights`` (V, J), ``shapedirs`` (V, 3, B)), so ``posebook data`` can
    tell a usable file from a misnamed or damaged one.

    Raises:
        ValueError: not an SMPL model file (a text file, an ASF, a pickled int, a truncated or
            damaged archive, missing keys, inconsistent shapes), naming the file and what is expected.
        ImportError: a pickle of chumpy arrays without chumpy installed (says how to convert it).
    """
    path = Path(path)
    expected = (f"expected SMPL's 'SMPL for Python' .pkl (from {SMPL_URL}) or an .npz holding "
                f"{', '.join(_SMPL_KEYS)}")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                data = {key: npz[key] for key in npz.files}
        else:
            with open(path, "rb") as f:
                data = pickle.load(f, encoding="latin1")
    except ModuleNotFoundError as err:
        if "chumpy" not in str(err):
            raise ValueError(f"{path} is not an SMPL model file (it needs module {err.name!r}); {expected}") from None
        raise ImportError(
            f"{path} stores chumpy arrays (the original SMPL release does): `pip install "
            "chumpy`, or convert it once to plain numpy arrays (smplx's tools/clean_ch.py, "
            "or load it with chumpy and np.savez the keys "
            f"{', '.join(_SMPL_KEYS)} into SMPL_<GENDER>.npz)."
        ) from err
    except Exception as err:  # UnpicklingError, EOFError, BadZipFile, ValueError, ...: not a model file
        raise ValueError(f"{path} is not a readable SMPL model file ({type(err).__name__}: {err}); "
                         f"{expected}") from None
    if not isinstance(data, Mapping):
        raise ValueError(f"{path} holds a Python {type(data).__name__} object, not an SMPL model; {expected}")
    missing = [key for key in _SMPL_KEYS if key not in data]
    if missing:
        raise ValueError(f"{path} is not an SMPL model file: keys {missing} are missing; {expected}")
    shapes = {key: tuple(getattr(data[key], "shape", ())) for key in ("v_template", "f", "weights", "shapedirs")}
    V = shapes["v_template"][0] if len(shapes["v_template"]) == 2 else None
    consistent = (V is not None and shapes["v_template"][1] == 3 and len(shapes["f"]) == 2 and shapes["f"][1] == 3
                  and len(shapes["weights"]) == 2 and shapes["weights"][0] == V
                  and len(shapes["shapedirs"]) == 3 and shapes["shapedirs"][:2] == (V, 3))
    if not consistent:
        raise ValueError(f"{path}: inconsistent SMPL arrays {shapes}; expected v_template (V, 3), f (F, 3), "
                         "weights (V, J), shapedirs (V, 3, B)")
    return data


class SMPLBody(torch.nn.Module):
    """SMPL (Loper et al. 2015) through ``smplx``, from the user's own model file.

    24 joints (``SMPL_JOINT_NAMES``, parents from the file's ``kintree_table``), 6890 vertices,
    13,776 triangles, ``num_betas`` shape coefficients (10 in the public release). SMPL's native
    frame is the output frame (y up, x left, z front; metres).

    ``forward`` differs from ``smplx.SMPL`` in one point: ``translation`` is the root (pelvis)
    position, where smplx's ``transl`` is added to the rest placement; smplx's
    ``transl`` corresponds to ``translation = transl + rest_joints(betas)[:, 0]``.

    Args:
        model_path: the model file or its folder (see :func:`find_smpl_model`); None:
            ``$POSEBOOK_SMPL_DIR``.
        gender: "neutral", "male" or "female" (selects SMPL_{GENDER}.pkl / .npz in a folder).
        num_betas: shape coefficients used (at most those in the file).
        device, dtype: where the model lives.
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        gender: str = "neutral",
        num_betas: int = 10,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        import smplx
        from smplx.utils import Struct

        self.path = find_smpl_model(model_path, gender)
        data = load_smpl_arrays(self.path)
        self.smpl = smplx.SMPLLayer(
            model_path=str(self.path), data_struct=Struct(**data), gender=gender,
            num_betas=num_betas, dtype=dtype,
        ).to(device)
        self.parents: list[int] = list(kinematics.validate_parents(self.smpl.parents.tolist()))
        if len(self.parents) != len(SMPL_JOINT_NAMES):
            raise ValueError(f"{self.path}: expected 24 SMPL joints, got {len(self.parents)}.")
        self.joint_names: list[str] = list(SMPL_JOINT_NAMES)

    @property
    def faces(self) -> torch.Tensor:
        """(13776, 3) int64 triangle vertex indices."""
        return self.smpl.faces_tensor

    @property
    def skinning_weights(self) -> torch.Tensor:
        """(6890, 24) linear-blend-skinning weights."""
        return self.smpl.lbs_weights

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def num_betas(self) -> int:
        return self.smpl.num_betas

    @property
    def num_vertices(self) -> int:
        return self.smpl.v_template.shape[0]

    def _betas(self, betas: torch.Tensor | None, batch: int) -> torch.Tensor:
        if betas is None:
            return self.smpl.v_template.new_zeros(batch, self.num_betas)
        if betas.ndim == 1:
            betas = betas[None]
        if betas.ndim != 2 or betas.shape[1] != self.num_betas or betas.shape[0] not in (1, batch):
            raise ValueError(
                f"shape (betas) must be (B, {self.num_betas}) or ({self.num_betas},), "
                f"got {tuple(betas.shape)} for batch {batch}."
            )
        return betas.expand(batch, -1)

    def forward(
        self,
        rotations: torch.Tensor,
        shape: torch.Tensor | None = None,
        translation: torch.Tensor | None = None,
    ) -> BodyOutput:
        """Pose and skin SMPL.

        Args:
            rotations: (B, 24, 3, 3) relative rotations; ``rotations[:, 0]`` = global orient.
            shape: (B, num_betas) betas, or None for the mean shape.
            translation: (B, 3) pelvis position, metres; None: origin.

        Returns:
            BodyOutput with vertices (B, 6890, 3), joints (B, 24, 3) and global_rotations
            (B, 24, 3, 3); bone_tails None.
        """
        _check_pose_inputs(rotations, translation, self.num_joints)
        batch = rotations.shape[0]
        out = self.smpl(
            betas=self._betas(shape, batch), global_orient=rotations[:, :1],
            body_pose=rotations[:, 1:],
        )
        joints = out.joints[:, : self.num_joints]
        shift = -joints[:, :1]
        if translation is not None:
            shift = shift + translation[:, None]
        return BodyOutput(
            vertices=out.vertices + shift,
            joints=joints + shift,
            global_rotations=kinematics.relative_to_global(rotations, self.parents),
        )

    def rest_joints(self, shape: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 24, 3) rest joints ``J_regressor @ (v_template + shapedirs betas)``, SMPL's native
        placement (pelvis near (0, -0.2, 0) for the real model), metres."""
        from smplx.lbs import blend_shapes, vertices2joints

        betas = self._betas(shape, 1 if shape is None or shape.ndim == 1 else shape.shape[0])
        v_shaped = self.smpl.v_template + blend_shapes(betas, self.smpl.shapedirs)
        return vertices2joints(self.smpl.J_regressor, v_shaped)

    def rest_offsets(self, shape: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 24, 3) rest offsets ``J[j] - J[pa(j)]`` (``offsets[:, 0] = 0``), such that
        ``kinematics.forward_kinematics(R, rest_offsets(betas), parents, t)[0]`` equals
        ``forward(R, betas, t).joints``."""
        return _offsets_from_rest(self.rest_joints(shape), self.parents)


@functools.lru_cache(maxsize=2)
def shared_anny_body(device: str = "cpu") -> "AnnyBody":
    """The Anny body (``cmu_mb`` rig, float32) on ``device``, built once per process (~3 s with anny's
    disk cache): one instance for the experiments of a notebook. Treat it as read-only."""
    return AnnyBody(device=device)


def load_body_model(name: Literal["anny", "smpl"], **kwargs: Any) -> BodyModel:
    """Build a body model by name: ``"anny"`` -> :class:`AnnyBody` (open, no download),
    ``"smpl"`` -> :class:`SMPLBody` (needs the user's SMPL file); ``kwargs`` go to the class."""
    models = {"anny": AnnyBody, "smpl": SMPLBody}
    key = name.lower() if isinstance(name, str) else name
    if key not in models:
        raise ValueError(f"unknown body model {name!r}; choose one of {sorted(models)}.")
    return models[key](**kwargs)
