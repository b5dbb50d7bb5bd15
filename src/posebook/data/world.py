"""The synthetic world: poses x body shapes x cameras x subject placement, deterministic and cached.

Every sample is one posed Anny body (``cmu_mb`` rig) seen by its own pinhole camera:

1. **Pose** from CMU mocap (retargeted to Anny; clips sampled uniformly per subject, then frames
   uniformly within the clip at ``fps_subsample``) or, offline, from the procedural generator of
   :mod:`posebook.data.poses`.
2. **Shape**: adult phenotypes, ``[gender, age, muscle, weight, height, proportions]``.
3. **Camera**: horizontal FOV ``fov_deg``, f = (W / 2) / tan(FOV / 2), principal point at the
   image centre (W / 2, H / 2) (``posebook.geometry.camera`` pixel convention).
4. **Orientation**: a heading (yaw about the body's vertical axis, uniform over 360 deg) and a
   small camera pitch / roll.
5. **Placement**: root depth ``Z ~ U(depth)``; the root projects to the principal point plus
   ``placement_spread * (a W / 2, b H / 2)``, a, b ~ U(-1, 1): spread 0 centres every subject,
   spread 1 puts the root anywhere up to the image border (off-centre subjects, where CLIFF's
   bbox information and PersPose's perspective rotation matter; limbs may leave the frame).

**Frames.** Body models output the y-up model frame (x = subject's left, y = up, z = subject's
front). The camera frame is OpenCV's (x right, y down, z forward). The fixed rotation

    C = diag(1, -1, -1)      (180 deg about x)

maps the model frame to the camera frame of a camera that looks at the subject's FRONT (subject
facing the camera: its left appears on the image's right). Each sample's world-to-camera
rotation is ``world_to_cam = Rz(roll) Rx(pitch) C`` (roll and pitch about the camera's own axes)
and its camera-frame root orientation is ``world_to_cam @ Ry(yaw) @ R_root`` (``R_root``: the
pose's root orientation in the model frame; yaw 0 faces the camera). ``World.rotations[:, 0]``
holds that camera-frame orientation and ``World.root`` the camera-frame root (Hips head)
position, so ``AnnyBody()(world.rotations, world.shape, world.root)`` reproduces the
camera-frame vertices and joints directly.

**Crops.** The square bbox is ``bbox_scale`` times the larger side of the extent of all projected
mesh vertices and keypoints; ``K_crop = crop_intrinsics(K, bbox_center, bbox_size, crop_size)``.
Crops are rendered directly with ``K_crop`` (no resampling); with ``pad_outside`` the pixels of
the crop that fall outside the full frame are background, as in a zero-padded crop cut from the
full image.

**Cache.** ``build_world`` stores the world as ``<key>.npz`` + ``<key>.json`` under
``cache_dir`` (default ``$POSEBOOK_CACHE_DIR/world``, else ``~/.cache/posebook/world``), written
atomically, JSON last (a world is cached iff its JSON exists). The key hashes the resolved
config, the posebook and anny versions, the code that shapes the data (``code_hash``) and (CMU) the
content of the clip and skeleton files (:func:`posebook.files.folder_digest`); a later call with
the same key loads the file. A damaged cache file (truncated, unreadable) is named, set aside and
rebuilt.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import roma
import torch

from posebook import __version__
from posebook.body.skeletons import MODEL_TO_CAMERA
from posebook.data import mocap, poses
from posebook.files import cache_root, folder_digest
from posebook.geometry import camera
from posebook.geometry.points import farthest_point_indices
from posebook.runs import ENV_CMU_DIR, MOCAP_PATTERNS, atomic_write_bytes, atomic_write_text, code_hash

__all__ = [
    "world_data_source",
    "WorldConfig",
    "World",
    "build_world",
    "world_cache_dir",
    "world_cache_key",
    "MODEL_TO_CAMERA",
]


_SOURCES = ("auto", "cmu", "procedural")
_CMU_NATIVE_FPS = 120.0
# Bodies must stay this far in front of the camera (metres) for projections to be meaningful.
_MIN_Z = 0.1


@dataclass(frozen=True)
class WorldConfig:
    """Everything that defines a synthetic world (its cache identity).

    Attributes:
        size: number of samples N (> 0).
        seed: the world's seed; every random draw comes from ``torch.Generator().manual_seed(seed)``.
        source: "auto" (CMU when ``cmu_dir`` or ``$POSEBOOK_CMU_DIR`` names a directory, else
            procedural), "cmu" or "procedural".
        cmu_dir: CMU ASF/AMC directory (None: ``$POSEBOOK_CMU_DIR``).
        fps_subsample: CMU frames are taken from clips resampled to this rate (CMU: 120 fps).
        families: procedural pose families (None: all of ``poses.FAMILIES``).
        image_size: (W, H) of the full image, pixels.
        fov_deg: (low, high) horizontal field of view, degrees, sampled uniformly.
        depth: (low, high) root depth Z, metres, sampled uniformly.
        placement_spread: in [0, 1]; 0 = root at the principal point, 1 = anywhere up to the
            image border.
        pitch_deg, roll_deg: camera pitch / roll sampled uniformly in [-value, value], degrees.
        gender, age, body_shape: uniform ranges of the phenotypes; ``body_shape`` is used for
            muscle, weight, height and proportions.
        crop_size: side of the square crop, pixels.
        bbox_scale: bbox side = scale x the larger extent of the projected body.
        joint_sets: joint sets computed (``posebook.body.joints``).
        render: render the part-coloured crops (``images_crop``).
        render_full: also render the full frames (``images_full``; W x H x 3 bytes per sample).
        pad_outside: crop pixels outside the full frame are background.
        store_vertices: keep camera-frame vertices.
        vertex_subset: keep only this many vertices (farthest-point subset of the rest mesh,
            the same for every sample); None keeps all 13,718.
    """

    size: int = 2000
    seed: int = 0
    source: Literal["auto", "cmu", "procedural"] = "auto"
    cmu_dir: str | None = None
    fps_subsample: float = 10.0
    families: tuple[str, ...] | None = None
    image_size: tuple[int, int] = (256, 192)
    fov_deg: tuple[float, float] = (40.0, 80.0)
    depth: tuple[float, float] = (3.0, 7.0)
    placement_spread: float = 0.5
    pitch_deg: float = 10.0
    roll_deg: float = 5.0
    gender: tuple[float, float] = (0.0, 1.0)
    age: tuple[float, float] = (0.7, 0.9)
    body_shape: tuple[float, float] = (0.2, 0.8)
    crop_size: int = 64
    bbox_scale: float = 1.2
    joint_sets: tuple[str, ...] = ("cmu31", "h36m17", "lsp14", "coco17", "smpl24")
    render: bool = True
    render_full: bool = False
    pad_outside: bool = True
    store_vertices: bool = False
    vertex_subset: int | None = 1000

    def __post_init__(self) -> None:
        # Normalise sequences to tuples so equal configs hash and compare equal.
        for name in ("image_size", "fov_deg", "depth", "gender", "age", "body_shape", "joint_sets"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.families is not None:
            object.__setattr__(self, "families", tuple(self.families))
        if self.cmu_dir is not None:
            object.__setattr__(self, "cmu_dir", str(self.cmu_dir))

    def validate(self) -> None:
        """Raise ValueError naming the first bad field (what was wrong, what to do)."""
        if not isinstance(self.size, int) or self.size <= 0:
            raise ValueError(f"empty world request: size must be a positive int, got {self.size!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        if self.source not in _SOURCES:
            raise ValueError(f"source must be one of {_SOURCES}, got {self.source!r}")
        if not self.fps_subsample > 0:
            raise ValueError(f"fps_subsample must be > 0, got {self.fps_subsample}")
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ValueError(f"image_size must be (W, H) positive pixels, got {self.image_size}")
        for name, (lo, hi), low, high in (("fov_deg", self.fov_deg, 0.0, 180.0),
                                          ("depth", self.depth, 0.0, math.inf),
                                          ("gender", self.gender, 0.0, 1.0),
                                          ("age", self.age, -1.0 / 3.0, 1.0),
                                          ("body_shape", self.body_shape, 0.0, 1.0)):
            strict = name in ("fov_deg", "depth")  # a zero FOV or depth is degenerate
            if not (low < lo if strict else low <= lo) or not lo <= hi <= high:
                raise ValueError(f"{name} must be a range (low, high) with {low} {'<' if strict else '<='} "
                                 f"low <= high <= {high}; got {(lo, hi)}")
        if not 0.0 <= self.placement_spread <= 1.0:
            raise ValueError(f"placement_spread must lie in [0, 1], got {self.placement_spread}")
        if not (0.0 <= self.pitch_deg < 90.0 and 0.0 <= self.roll_deg < 90.0):
            raise ValueError(f"pitch_deg and roll_deg must lie in [0, 90), got {self.pitch_deg}, "
                             f"{self.roll_deg}")
        if not isinstance(self.crop_size, int) or self.crop_size < 1:
            raise ValueError(f"crop_size must be a positive int (pixels), got {self.crop_size!r}")
        if not self.bbox_scale >= 1.0:
            raise ValueError(f"bbox_scale must be >= 1 (the bbox must hold the body), got {self.bbox_scale}")
        if self.families is not None and (not self.families or set(self.families) - set(poses.FAMILIES)):
            raise ValueError(f"families must be a non-empty subset of {list(poses.FAMILIES)} or None, "
                             f"got {self.families}")
        if not self.joint_sets:
            raise ValueError("joint_sets is empty: name at least one joint set, e.g. ('h36m17',)")
        if self.vertex_subset is not None and self.vertex_subset < 1:
            raise ValueError(f"vertex_subset must be a positive int or None (all), "
                             f"got {self.vertex_subset}")


# ------------------------------------------------------------------------------------ the world


@dataclass(eq=False)
class World:
    """N samples of the synthetic world (all tensors on the CPU, N leading).

    Attributes:
        config: the :class:`WorldConfig` (``source`` as requested; ``resolved_source`` as built).
        resolved_source: "cmu" or "procedural".
        rotations: (N, 31, 3, 3) AnnyBody relative rotations; ``[:, 0]`` is the root's GLOBAL
            orientation in the camera frame.
        world_to_cam: (N, 3, 3) model frame (y up) -> camera frame rotation
            (``Rz(roll) Rx(pitch) MODEL_TO_CAMERA``); ``world_to_cam^T rotations[:, 0]`` is
            the root orientation in the model frame (heading included).
        shape: (N, 6) Anny phenotypes.
        root: (N, 3) camera-frame root (Hips head) position, metres (AnnyBody ``translation``).
        joints3d: {set: (N, J, 3)} camera-frame joints, metres.
        keypoints2d: {set: (N, J, 2)} ``project(joints3d[set], K)``, pixels.
        K: (N, 3, 3) full-image intrinsics.
        bbox_center: (N, 2), bbox_size: (N,) square bbox, full-image pixels.
        K_crop: (N, 3, 3) crop intrinsics.
        meta: per-sample provenance (sample, source, family, subject, clip, frame, yaw_deg,
            pitch_deg, roll_deg, fov_deg, depth).
        vertices: (N, V', 3) camera-frame vertices, or None; ``vertex_indices`` (V',) their
            indices in the full mesh.
        images_crop: (N, S, S, 3) uint8 or None; images_full: (N, H, W, 3) uint8 or None.
        cache_path: the .npz it was loaded from or saved to, or None.
        loaded_from_cache: True when read from the cache.
        timings: seconds spent per stage of the build (or in loading).
    """

    config: WorldConfig
    resolved_source: str
    rotations: torch.Tensor
    world_to_cam: torch.Tensor
    shape: torch.Tensor
    root: torch.Tensor
    joints3d: dict[str, torch.Tensor]
    keypoints2d: dict[str, torch.Tensor]
    K: torch.Tensor
    bbox_center: torch.Tensor
    bbox_size: torch.Tensor
    K_crop: torch.Tensor
    meta: pd.DataFrame
    vertices: torch.Tensor | None = None
    vertex_indices: torch.Tensor | None = None
    images_crop: torch.Tensor | None = None
    images_full: torch.Tensor | None = None
    cache_path: Path | None = None
    loaded_from_cache: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    _PER_SAMPLE = ("rotations", "world_to_cam", "shape", "root", "K", "bbox_center", "bbox_size",
                   "K_crop", "vertices", "images_crop", "images_full")

    def __len__(self) -> int:
        return int(self.rotations.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        """(W, H) of the full image."""
        return self.config.image_size

    @property
    def crop_size(self) -> int:
        return self.config.crop_size

    @property
    def global_orient(self) -> torch.Tensor:
        """(N, 3, 3) camera-frame root orientation (``rotations[:, 0]``)."""
        return self.rotations[:, 0]

    def subset(self, idx: Any) -> World:
        """The samples ``idx`` (ints, a bool mask, a slice, a tensor or array) as a new World."""
        n = len(self)
        if isinstance(idx, slice):
            index = torch.arange(n)[idx]
        else:
            index = torch.as_tensor(np.asarray(idx))
            if index.dtype == torch.bool:
                if index.shape != (n,):
                    raise ValueError(f"boolean mask must have shape ({n},), got {tuple(index.shape)}")
                index = index.nonzero().flatten()
            index = index.long().reshape(-1)
        if index.numel() and (int(index.min()) < -n or int(index.max()) >= n):
            raise IndexError(f"subset index out of range for a world of {n} samples")
        index = torch.remainder(index, n) if n else index
        values = {name: (None if getattr(self, name) is None else getattr(self, name)[index])
                  for name in self._PER_SAMPLE}
        return dataclasses.replace(
            self, **values,
            joints3d={k: v[index] for k, v in self.joints3d.items()},
            keypoints2d={k: v[index] for k, v in self.keypoints2d.items()},
            meta=self.meta.iloc[index.numpy()].reset_index(drop=True),
            cache_path=None, loaded_from_cache=False, timings={},
        )

    def split(self, train_frac: float = 0.8, seed: int = 0,
              by: Literal["auto", "clip", "subject", "sample"] = "auto") -> tuple[World, World]:
        """Split into (train, test) worlds by whole groups.

        ``by="auto"``: by CMU clip when the world holds CMU samples (so no clip is in both
        halves: frames of one clip are near-duplicates), else by sample. Groups are shuffled
        with ``seed`` and go to train until it holds at least ``train_frac`` of the samples;
        each half gets at least one group when there are two or more.

        Args:
            train_frac: in (0, 1), target fraction of SAMPLES in train.
            seed: shuffling seed.
            by: "auto", "clip", "subject" (CMU) or "sample".
        Returns:
            (train, test).
        """
        if not 0.0 < train_frac < 1.0:
            raise ValueError(f"train_frac must lie in (0, 1), got {train_frac}")
        if by == "auto":
            by = "clip" if (self.meta["clip"] != "").any() else "sample"
        if by == "sample":
            keys = self.meta["sample"].astype(str).to_numpy()
        elif by in ("clip", "subject"):
            keys = self.meta[by].to_numpy()
            if (keys == "").any():
                raise ValueError(f"split by {by!r} needs CMU samples; this world has procedural "
                                 "ones (use by='sample')")
        else:
            raise ValueError(f"by must be 'auto', 'clip', 'subject' or 'sample', got {by!r}")
        groups, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        order = torch.randperm(len(groups), generator=torch.Generator().manual_seed(seed)).numpy()
        before = np.cumsum(counts[order]) - counts[order]  # samples already in train
        n_train = int((before < train_frac * len(self)).sum())
        if len(groups) >= 2:
            n_train = min(max(n_train, 1), len(groups) - 1)
        in_train = np.zeros(len(groups), dtype=bool)
        in_train[order[:n_train]] = True
        mask = in_train[inverse]
        return self.subset(torch.from_numpy(mask)), self.subset(torch.from_numpy(~mask))

    def summary(self) -> dict[str, Any]:
        """A few numbers that describe the world (for the CLI and the book)."""
        W, H = self.image_size
        lo = self.bbox_center - 0.5 * self.bbox_size[:, None]
        hi = self.bbox_center + 0.5 * self.bbox_size[:, None]
        inside = ((lo[:, 0] >= 0) & (lo[:, 1] >= 0) & (hi[:, 0] <= W) & (hi[:, 1] <= H)).float()
        meta = self.meta
        out: dict[str, Any] = {
            "samples": len(self),
            "source": self.resolved_source,
            "image_size": list(self.image_size),
            "crop_size": self.crop_size,
            "joint_sets": list(self.joints3d),
            "families": meta["family"].value_counts().to_dict(),
            "bbox_size_px_median": float(self.bbox_size.median()) if len(self) else math.nan,
            "bbox_inside_image_frac": float(inside.mean()) if len(self) else math.nan,
            "root_depth_m_mean": float(self.root[:, 2].mean()) if len(self) else math.nan,
            "rendered": [n for n in ("images_crop", "images_full") if getattr(self, n) is not None],
        }
        if (meta["subject"] != "").any():
            out["subjects"] = meta["subject"].value_counts().to_dict()
            out["clips"] = int(meta["clip"].nunique())
        return out

    # ------------------------------------------------------------------ storage

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: getattr(self, name).numpy() for name in self._PER_SAMPLE
                  if getattr(self, name) is not None}
        if self.vertex_indices is not None:
            arrays["vertex_indices"] = self.vertex_indices.numpy()
        for name, value in self.joints3d.items():
            arrays[f"joints3d.{name}"] = value.numpy()
        for name, value in self.keypoints2d.items():
            arrays[f"keypoints2d.{name}"] = value.numpy()
        for column in self.meta.columns:
            values = self.meta[column].to_numpy()
            arrays[f"meta.{column}"] = values.astype(str) if values.dtype == object else values
        return arrays

    @classmethod
    def _from_arrays(cls, config: WorldConfig, resolved_source: str,
                     arrays: dict[str, np.ndarray]) -> World:
        tensors = {k: torch.from_numpy(v) for k, v in arrays.items() if not k.startswith("meta.")}
        meta = pd.DataFrame({k[len("meta."):]: (v.astype(object) if v.dtype.kind == "U" else v)
                             for k, v in arrays.items() if k.startswith("meta.")})

        def prefixed(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        return cls(
            config=config, resolved_source=resolved_source,
            joints3d=prefixed("joints3d."), keypoints2d=prefixed("keypoints2d."), meta=meta,
            vertex_indices=tensors.get("vertex_indices"),
            **{name: tensors.get(name) for name in cls._PER_SAMPLE},
        )


# ---------------------------------------------------------------------------- helpers


def world_data_source(world: World) -> str:
    """The data source of a world, as the experiments state it."""
    meta = world.meta
    if world.resolved_source == "cmu":
        return (f"CMU mocap (subset: {meta['clip'].nunique()} clips, {meta['subject'].nunique()} "
                f"subjects) retargeted to Anny")
    families = world.config.families or poses.FAMILIES
    return f"procedural poses (families: {', '.join(families)}) on Anny"


def world_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where worlds are cached: ``cache_dir``, else ``$POSEBOOK_CACHE_DIR/world``, else
    ``~/.cache/posebook/world``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return cache_root() / "world"


def _resolve_source(config: WorldConfig) -> tuple[str, Path | None]:
    from posebook.data.mocap import cmu_dir_from_env

    if config.source == "procedural":
        return "procedural", None
    cmu_dir = cmu_dir_from_env(config.cmu_dir)
    if cmu_dir is None:
        if config.source == "cmu":
            raise FileNotFoundError(
                f"source='cmu' needs a CMU ASF/AMC directory: pass cmu_dir=... or set the "
                f"environment variable {ENV_CMU_DIR}=<folder with the .asf/.amc files> "
                "(or use source='procedural' / 'auto')"
            )
        return "procedural", None
    return "cmu", cmu_dir.resolve()


def _cmu_clips(cmu_dir: Path) -> pd.DataFrame:
    from posebook.data.mocap import list_cmu

    clips = list_cmu(cmu_dir)
    clips = clips[clips["asf"].notna()].reset_index(drop=True)
    if clips.empty:
        raise FileNotFoundError(f"no CMU clips under {cmu_dir}: expected <subject>_<trial>.amc files "
                                "next to their <subject>.asf skeleton")
    return clips


def _key_payload(config: WorldConfig, source: str, cmu_dir: Path | None) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    fields = dataclasses.asdict(config)
    fields["source"] = source
    if source == "cmu":
        fields["cmu_dir"] = str(cmu_dir)
        fields["families"] = None
        # by content: an AMC edited in place (same size) or a clip added is a different world
        fields["cmu_digest"] = folder_digest(cmu_dir, MOCAP_PATTERNS)
    else:
        fields["cmu_dir"] = None
        fields["fps_subsample"] = None
    try:
        anny_version = version("anny")
    except PackageNotFoundError:
        anny_version = None
    return {"config": fields, "posebook": __version__, "anny": anny_version,
            "code": code_hash(__name__)}  # this module and every posebook module it imports


def world_cache_key(config: WorldConfig) -> str:
    """The cache key of a config (resolves ``source="auto"`` against the environment)."""
    config.validate()
    source, cmu_dir = _resolve_source(config)
    return _hash(_key_payload(config, source, cmu_dir))


def _hash(payload: dict[str, Any]) -> str:
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)


def _rot(axis: int, angle: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) rotations by ``angle`` (radians) about coordinate axis 0, 1 or 2."""
    rotvec = torch.zeros(*angle.shape, 3, dtype=angle.dtype)
    rotvec[..., axis] = angle
    return roma.rotvec_to_rotmat(rotvec)


# ---------------------------------------------------------------------------- poses


def _procedural_poses(config: WorldConfig, g: torch.Generator) -> tuple[torch.Tensor, pd.DataFrame]:
    rotations, labels = poses.sample_poses(config.size, g, config.families, dtype=torch.float64)
    family = np.asarray(poses.FAMILIES, dtype=object)[labels.numpy()]
    meta = pd.DataFrame({
        "source": ["procedural:" + f for f in family], "family": family,
        "subject": "", "clip": "", "frame": np.full(config.size, -1, dtype=np.int64),
    })
    return rotations, meta


def _cmu_poses(config: WorldConfig, cmu_dir: Path, g: torch.Generator, body: Any
               ) -> tuple[torch.Tensor, pd.DataFrame]:
    """Balanced CMU frames: subject uniform, clip uniform within it, frame uniform within it."""
    from posebook.data.retarget import retarget_to_anny

    clips = _cmu_clips(cmu_dir)
    fps = min(config.fps_subsample, _CMU_NATIVE_FPS)
    step = _CMU_NATIVE_FPS / fps
    # frame counts after mocap.resample (same formula)
    counts = np.floor((clips["frames"].to_numpy() - 1) / step + 1e-9).astype(np.int64) + 1
    subjects = sorted(clips["subject"].unique(), key=lambda s: (len(s), s))
    n = config.size
    subject = torch.randint(0, len(subjects), (n,), generator=g).numpy()
    u_clip = torch.rand(n, generator=g, dtype=torch.float64).numpy()
    u_frame = torch.rand(n, generator=g, dtype=torch.float64).numpy()
    clip_of = np.empty(n, dtype=np.int64)
    for s, name in enumerate(subjects):
        rows = np.flatnonzero(clips["subject"].to_numpy() == name)
        pick = subject == s
        clip_of[pick] = rows[np.minimum((u_clip[pick] * len(rows)).astype(np.int64), len(rows) - 1)]
    local = np.minimum((u_frame * counts[clip_of]).astype(np.int64), counts[clip_of] - 1)
    source_frame = np.minimum(np.round(local * step).astype(np.int64),
                              clips["frames"].to_numpy()[clip_of] - 1)

    # Retarget onto the middle of the sampled phenotype ranges (an adult; Anny's rest bone
    # directions, which the retargeting matches, vary by ~2 deg across shapes).
    mid_shape = body.axes.new_tensor([sum(config.gender) / 2, sum(config.age) / 2]
                                     + [sum(config.body_shape) / 2] * 4)
    rotations = torch.empty(n, 31, 3, 3, dtype=torch.float64)
    for name in subjects:
        # One retargeting call per subject (clips of a subject share its skeleton; retargeting
        # is per frame): the sampled frames of all its clips, concatenated.
        parts, picks = [], []
        for c in np.unique(clip_of[clips["subject"].to_numpy()[clip_of] == name]):
            row = clips.iloc[c]
            motion = _resampled_clip(row["asf"], row["amc"], fps)
            if motion.num_frames != counts[c]:
                raise RuntimeError(f"{row['amc']}: resampled to {motion.num_frames} frames, expected "
                                   f"{counts[c]} (list_cmu's frame count disagrees with the parser)")
            pick = np.flatnonzero(clip_of == c)
            frames = torch.from_numpy(local[pick])
            parts.append(dataclasses.replace(
                motion, local_rotations=motion.local_rotations[frames],
                root_translation=motion.root_translation[frames], positions=motion.positions[frames]))
            picks.append(pick)
        if not parts:
            continue
        joined = dataclasses.replace(
            parts[0], local_rotations=torch.cat([p.local_rotations for p in parts]),
            root_translation=torch.cat([p.root_translation for p in parts]),
            positions=torch.cat([p.positions for p in parts]), source=f"CMU subject {name}")
        retargeted = retarget_to_anny(joined, body, shape=mid_shape)
        rotations[torch.from_numpy(np.concatenate(picks))] = retargeted.rotations.to("cpu", torch.float64)
    clip_names = clips["clip"].to_numpy()[clip_of]
    meta = pd.DataFrame({
        "source": [f"cmu:{c}#{f}" for c, f in zip(clip_names, source_frame)],
        "family": "cmu", "subject": clips["subject"].to_numpy()[clip_of].astype(object),
        "clip": clip_names.astype(object), "frame": source_frame,
    })
    return rotations, meta


# ---------------------------------------------------------------------------- build


@functools.lru_cache(maxsize=32)
def _resampled_clip_cached(asf: str, amc: str, fps: float, stamp: tuple) -> mocap.Motion:
    return mocap.resample(mocap.load_asf_amc(asf, amc, fps=_CMU_NATIVE_FPS), fps)


def _resampled_clip(asf: str, amc: str, fps: float) -> mocap.Motion:
    """A CMU clip parsed once per process (worlds of several configs reuse it), at ``fps``.

    Keyed on the files' sizes and modification times, so an edited file is parsed again. Callers
    must not modify the returned tensors.
    """
    stamp = tuple((os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in (asf, amc))
    return _resampled_clip_cached(str(asf), str(amc), float(fps), stamp)


def sample_cameras(config: WorldConfig, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Per-sample phenotypes, body yaw, camera pitch/roll, FOV, depth and image placement.

    The root projects at the image centre plus ``placement_spread * offset * (W/2, H/2)`` with
    offset ~ U[-1, 1]^2, at the sampled depth. Returns a dict of (N, ...) tensors, including
    ``K`` (N, 3, 3), ``root`` (N, 3) camera frame and ``world_to_cam`` (N, 3, 3).
    """
    n = config.size
    W, H = config.image_size
    out = {
        "shape": torch.stack([_uniform(n, *config.gender, g), _uniform(n, *config.age, g),
                              *[_uniform(n, *config.body_shape, g) for _ in range(4)]], dim=1),
        "yaw": _uniform(n, 0.0, 2.0 * math.pi, g),
        "pitch": torch.deg2rad(_uniform(n, -config.pitch_deg, config.pitch_deg, g)),
        "roll": torch.deg2rad(_uniform(n, -config.roll_deg, config.roll_deg, g)),
        "fov": torch.deg2rad(_uniform(n, *config.fov_deg, g)),
        "depth": _uniform(n, *config.depth, g),
        "offset": torch.stack([_uniform(n, -1.0, 1.0, g), _uniform(n, -1.0, 1.0, g)], dim=1),
    }
    focal = camera.focal_from_fov(out["fov"], torch.full_like(out["fov"], float(W)))
    center = out["fov"].new_tensor([W / 2.0, H / 2.0])
    out["K"] = camera.intrinsics(focal, center.expand(n, 2))
    root_uv = center + config.placement_spread * out["offset"] * center
    out["root"] = camera.unproject(root_uv[:, None], out["depth"][:, None], out["K"])[:, 0]
    C = torch.tensor(MODEL_TO_CAMERA, dtype=torch.float64)
    out["world_to_cam"] = _rot(2, out["roll"]) @ _rot(0, out["pitch"]) @ C
    return out


def blank_outside_frame(images: torch.Tensor, bbox_center: torch.Tensor, bbox_size: torch.Tensor,
                        image_size: tuple[int, int], background: Sequence[int]) -> torch.Tensor:
    """Set crop pixels whose centre maps outside the full frame [0, W] x [0, H] to background."""
    S = images.shape[1]
    centres = torch.arange(S, dtype=bbox_size.dtype) + 0.5
    scale = (bbox_size / S)[:, None]
    u = bbox_center[:, :1] + (centres[None] - S / 2.0) * scale  # (B, S) full-frame u per column
    v = bbox_center[:, 1:] + (centres[None] - S / 2.0) * scale
    W, H = image_size
    inside = ((v >= 0) & (v < H))[:, :, None] & ((u >= 0) & (u < W))[:, None, :]
    return torch.where(inside[..., None], images, images.new_tensor(list(background)))


def build_world(config: WorldConfig, device: str | torch.device = "cpu",
                cache_dir: str | os.PathLike | None = None, progress: bool = True, *,
                cache: bool = True, body: Any = None, chunk_size: int = 256) -> World:
    """Build (or load from the cache) the synthetic world of ``config``.

    Args:
        config: the :class:`WorldConfig`.
        device: where the body model runs ("cpu", "cuda", ...); results are stored on the CPU.
        cache_dir: folder of cached worlds (default :func:`world_cache_dir`).
        progress: show a progress bar and cache messages on stderr.
        cache: read and write the cache (False: always build, write nothing).
        body: an ``AnnyBody`` (cmu_mb rig) to reuse; None builds one (~3 s once cached).
        chunk_size: samples per body forward / render batch (memory vs speed; does not change
            the result beyond float rounding).
    Returns:
        the :class:`World`.
    Raises:
        ValueError: "empty world request" for size <= 0; bad config fields; unknown joint sets.
        FileNotFoundError: source="cmu" without a CMU directory (names ``$POSEBOOK_CMU_DIR``).
    """
    config.validate()
    from posebook.body import joints as joint_sets

    for name in config.joint_sets:
        joint_sets.joint_names(name)  # raises ValueError for an unknown set before any work
    source, cmu_dir = _resolve_source(config)
    payload = _key_payload(config, source, cmu_dir)
    key = _hash(payload)
    folder = world_cache_dir(cache_dir)
    npz_path, json_path = folder / f"{key}.npz", folder / f"{key}.json"

    def log(message: str) -> None:
        if progress:
            print(f"[posebook.world] {message}", file=sys.stderr)

    if cache and json_path.is_file() and npz_path.is_file():
        start = time.perf_counter()
        try:
            with np.load(npz_path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            world = World._from_arrays(config, source, arrays)
        except Exception as exc:  # truncated / damaged npz (BadZipFile, EOFError, KeyError, ...)
            warnings.warn(f"world cache {npz_path} is damaged ({type(exc).__name__}: {exc}); rebuilding it",
                          stacklevel=2)
            json_path.unlink(missing_ok=True)  # the JSON is the "cached" marker: drop it first
        else:
            world.cache_path, world.loaded_from_cache = npz_path, True
            world.timings = {"load": time.perf_counter() - start}
            log(f"loaded {len(world)} samples from {npz_path}")
            return world

    world = _build(config, source, cmu_dir, torch.device(device), body, chunk_size, progress)
    if cache:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **world._arrays())
        atomic_write_bytes(npz_path, buffer.getvalue())
        record = {"key": key, **payload, "summary": world.summary(), "timings": world.timings,
                  "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_text(json_path, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
        world.cache_path = npz_path
        log(f"cached {len(world)} samples to {npz_path}")
    return world


def _build(config: WorldConfig, source: str, cmu_dir: Path | None, device: torch.device,
           body: Any, chunk_size: int, progress: bool) -> World:
    from posebook.body import joints as joint_sets
    from posebook.body.models import AnnyBody

    timings: dict[str, float] = {}
    tic = time.perf_counter()
    if body is None:
        body = AnnyBody(device=device)
    if list(body.joint_names) != list(poses.BONE_NAMES):
        raise ValueError("build_world needs an AnnyBody with the cmu_mb rig (31 CMU bones)")
    body_device = body.faces.device
    dtype = body.axes.dtype
    timings["model"] = time.perf_counter() - tic

    g = torch.Generator().manual_seed(config.seed)
    tic = time.perf_counter()
    if source == "cmu":
        pose_rotations, meta = _cmu_poses(config, cmu_dir, g, body)
    else:
        pose_rotations, meta = _procedural_poses(config, g)
    timings["poses"] = time.perf_counter() - tic

    cams = sample_cameras(config, g)
    global_orient = cams["world_to_cam"] @ _rot(1, cams["yaw"]) @ pose_rotations[:, 0]
    rotations = torch.cat([global_orient[:, None], pose_rotations[:, 1:]], dim=1)
    n = config.size
    meta.insert(0, "sample", np.arange(n, dtype=np.int64))
    for name, value in (("yaw_deg", cams["yaw"]), ("pitch_deg", cams["pitch"]),
                        ("roll_deg", cams["roll"]), ("fov_deg", cams["fov"])):
        meta[name] = torch.rad2deg(value).numpy()
    meta["depth"] = cams["depth"].numpy()

    keep_vertices = None
    if config.store_vertices and config.vertex_subset is not None:
        rest = body(torch.eye(3, dtype=dtype, device=body_device).expand(1, 31, 3, 3)).vertices[0]
        k = min(config.vertex_subset, rest.shape[0])
        keep_vertices = farthest_point_indices(rest.detach().cpu().double(), k, start=0)

    renderer = None
    if config.render or config.render_full:
        from posebook.data.render import PartRenderer

        renderer = PartRenderer.from_body(body)

    W, H = config.image_size
    S = config.crop_size
    out: dict[str, list[torch.Tensor]] = {k: [] for k in
                                          ("bbox_center", "bbox_size", "K_crop", "vertices", "crop", "full")}
    j3d: dict[str, list[torch.Tensor]] = {s: [] for s in config.joint_sets}
    j2d: dict[str, list[torch.Tensor]] = {s: [] for s in config.joint_sets}
    timings.update(body=0.0, joints=0.0, project=0.0, render=0.0)
    starts = range(0, n, chunk_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"world ({source}, {n} samples)", unit="chunk")
    for start in starts:
        sl = slice(start, min(start + chunk_size, n))
        tic = time.perf_counter()
        with torch.no_grad():
            posed = body(rotations[sl].to(device=body_device, dtype=dtype),
                         cams["shape"][sl].to(device=body_device, dtype=dtype),
                         cams["root"][sl].to(device=body_device, dtype=dtype))
        verts = posed.vertices.detach()
        z_min = float(verts[..., 2].min())
        if z_min < _MIN_Z:
            raise ValueError(f"a body reaches z = {z_min:.2f} m, behind or at the camera; raise the "
                             f"depth range (now {config.depth}) above ~2 m")
        timings["body"] += time.perf_counter() - tic

        tic = time.perf_counter()
        with torch.no_grad():
            for s in config.joint_sets:
                j3d[s].append(joint_sets.convert_joints(
                    posed.joints.detach(), s, tails=posed.bone_tails.detach(), vertices=verts, body=body
                ).cpu())
        timings["joints"] += time.perf_counter() - tic

        tic = time.perf_counter()
        K = cams["K"][sl].to(dtype=dtype)
        uv_all = [camera.project(verts.cpu(), K)]
        for s in config.joint_sets:
            j2d[s].append(camera.project(j3d[s][-1], K))
            uv_all.append(j2d[s][-1])
        center, size = camera.bbox_from_points(torch.cat(uv_all, dim=1), scale=config.bbox_scale)
        out["bbox_center"].append(center)
        out["bbox_size"].append(size)
        out["K_crop"].append(camera.crop_intrinsics(K, center, size, S))
        if config.store_vertices:
            kept = verts if keep_vertices is None else verts[:, keep_vertices.to(verts.device)]
            out["vertices"].append(kept.cpu())
        timings["project"] += time.perf_counter() - tic

        tic = time.perf_counter()
        if config.render:
            crop = renderer(verts, out["K_crop"][-1], (S, S)).cpu()
            if config.pad_outside:
                crop = blank_outside_frame(crop, center, size, (W, H), background=renderer.background)
            out["crop"].append(crop)
        if config.render_full:
            out["full"].append(renderer(verts, K, (W, H)).cpu())
        timings["render"] += time.perf_counter() - tic


    def cat(parts: list[torch.Tensor]) -> torch.Tensor | None:
        return torch.cat(parts) if parts else None

    return World(
        config=config, resolved_source=source,
        rotations=rotations.to(dtype), world_to_cam=cams["world_to_cam"].to(dtype),
        shape=cams["shape"].to(dtype), root=cams["root"].to(dtype),
        joints3d={s: torch.cat(v) for s, v in j3d.items()},
        keypoints2d={s: torch.cat(v) for s, v in j2d.items()},
        K=cams["K"].to(dtype), bbox_center=cat(out["bbox_center"]), bbox_size=cat(out["bbox_size"]),
        K_crop=cat(out["K_crop"]), meta=meta, vertices=cat(out["vertices"]),
        vertex_indices=keep_vertices if config.store_vertices else None,
        images_crop=cat(out["crop"]), images_full=cat(out["full"]), timings=timings,
    )

