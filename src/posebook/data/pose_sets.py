"""3D pose sets for the ZeDO chapter: H36M-17 joints, root-relative, camera frame, metres.

ZeDO (Jiang et al., WACV 2024) trains an unconditional score model on root-relative 3D poses in
the camera frame (``joint_3d_camera`` of its Human3.6M files, 17 joints, metres) and fits it to 2D
keypoints at test time, starting from k-means centres of the training poses (ZeDO Sec. 4.2 and
Table 7). This module gives the book the same data from its own sources, with one layout for all:

- :func:`build_pose_set` / :func:`pose_set_from_world`: the synthetic world
  (:mod:`posebook.data.world`): CMU mocap (the ASF/AMC subset of ``$POSEBOOK_CMU_DIR``) retargeted
  to Anny (``cmu_mb`` rig), H36M-17 joints (:mod:`posebook.body.joints`, set ``h36m17``), each pose
  seen by its own pinhole camera, OpenCV axes (x right, y down, z forward). Without a CMU folder
  the world falls back to procedural poses (``source="auto"``) and every subject split falls back
  to the world's pose ``family`` column (:data:`FAMILY_SPLITS`); the data-source string says so.
- :func:`benchmark_pose_set`: a :class:`~posebook.data.benchmarks.common.BenchmarkData` (Human3.6M
  17/32-joint layouts, MPI-INF-3DHP's 17 test joints) in the same layout, with ZeDO's Human3.6M
  test subset (every 640th row of S9/S11) as an option.
- :func:`split_by_subject`, :func:`split_preset`: test subjects never seen in training.
- :func:`detections`: detector-like 2D keypoints and confidences from the exact projections.
- :func:`kmeans_poses`, :func:`random_training_poses`: ZeDO's initial poses (Table 7: K-Means vs
  random sampling). ZeDO's own cluster files are a dead download (the repository has no k-means
  code); the centres here are computed in the CAMERA frame, the frame the score model sees.

**Subjects of the CMU subset** (``/work/shared/data/cmu_mocap/README.md``; CMU index text), see
:data:`CMU_SUBJECT_ACTIONS`: 02 walk, run/jog, jump/balance, punch/strike (4 clips); 05 one walk
and five modern-dance clips (pirouettes, arabesques, raised legs, jetes); 09 one run clip (141
frames at 120 fps = 1.2 s: 36 distinct frames at 30 fps, so its samples repeat poses under
new cameras and shapes); 135 karate (two Empi and one Heian Shodan kata, front, roundhouse and
side kicks, low and knife-hand blocks, lunge punch, and the static "motorcycle" calibration pose;
10 clips). The world samples the subject uniformly, so each subject holds about a quarter of the
poses whatever its number of frames.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from posebook.body.skeletons import H36M17_NAMES, MPI_INF_3DHP17_NAMES
from posebook.data.benchmarks.common import BenchmarkData
from posebook.data.benchmarks.h36m import H36M_TEST_SUBJECTS
from posebook.data.world import World, WorldConfig, build_world
from posebook.geometry import camera

__all__ = [
    "NUM_JOINTS",
    "CMU_SUBJECT_ACTIONS",
    "SUBJECT_GROUPS",
    "SUBJECT_SPLITS",
    "FAMILY_GROUPS",
    "FAMILY_SPLITS",
    "ZEDO_H36M_STRIDE",
    "ZEDO_H36M_TEST_SIZE",
    "PoseSet",
    "pose_set_from_world",
    "build_pose_set",
    "split_by_subject",
    "split_preset",
    "detections",
    "kmeans_poses",
    "random_training_poses",
    "benchmark_pose_set",
]

#: Joints per pose: Human3.6M's 17 in VideoPose3D order (:data:`posebook.body.skeletons.H36M17_NAMES`).
NUM_JOINTS = len(H36M17_NAMES)

#: What each CMU subject's clips hold (the subset's README, CMU index text).
CMU_SUBJECT_ACTIONS: dict[str, str] = {
    "02": "walk, run/jog, jump/balance, punch/strike (4 clips, 2,853 frames at 120 fps)",
    "05": "walk + modern dance: expressive arms, pirouettes, arabesques, raised leg above hip, jetes "
          "(6 clips, 5,460 frames)",
    "09": "run (1 clip, 141 frames = 1.2 s)",
    "135": "karate: Empi and Heian Shodan katas, front / roundhouse / side kicks, low and knife-hand "
           "blocks, lunge punch, static 'motorcycle' calibration pose (10 clips, 23,348 frames)",
}

#: Subjects by kind of motion, for the cross-domain experiments.
SUBJECT_GROUPS: dict[str, tuple[str, ...]] = {
    "everyday": ("02", "09"),  # walking, running, jumping, punching
    "dance": ("05",),          # modern dance (and one walk)
    "martial": ("135",),       # karate katas, kicks, blocks
}

#: Procedural stand-ins of :data:`SUBJECT_GROUPS` (``posebook.data.poses.FAMILIES``), used when the
#: world has no CMU subjects: gait and rest poses; arm gestures and crouches; leg kicks.
FAMILY_GROUPS: dict[str, tuple[str, ...]] = {
    "everyday": ("stand", "walk", "run", "sit"),
    "dance": ("reach", "squat"),
    "martial": ("kick",),
}


def _subject_order(s: str) -> tuple:
    """CMU subject ids in numeric order ("02" < "05" < "09" < "135")."""
    return (len(s), s)


def _presets(groups: dict[str, tuple[str, ...]], default_test: tuple[str, ...]) -> dict[str, dict[str, tuple[str, ...]]]:
    everyone = tuple(s for g in groups.values() for s in g)
    if all(s.isdigit() for s in everyone):
        everyone = tuple(sorted(everyone, key=_subject_order))
    out = {"default": {"train": tuple(s for s in everyone if s not in default_test), "test": default_test}}
    for a, b in itertools.permutations(groups, 2):
        out[f"{a}_to_{b}"] = {"train": groups[a], "test": groups[b]}
    return out


#: Named subject splits of the CMU subset. "default": test on subject 02 (walk, run, jump, punch:
#: the everyday motion closest to Human3.6M's actions), train on 05, 09 and 135; "<a>_to_<b>":
#: train on group a of :data:`SUBJECT_GROUPS`, test on group b (subjects of neither are unused).
SUBJECT_SPLITS: dict[str, dict[str, tuple[str, ...]]] = _presets(SUBJECT_GROUPS, ("02",))

#: The same names over pose families (procedural worlds): "default" tests on ("stand", "walk"),
#: the closest stand-in for subject 02, and trains on the other five families.
FAMILY_SPLITS: dict[str, dict[str, tuple[str, ...]]] = _presets(FAMILY_GROUPS, ("stand", "walk"))

#: ZeDO's Human3.6M test protocol: ``ZeDO.sample = 640`` in configs/optim/concat_pose_optimization_h36m.py,
#: applied as ``db[::640]`` to the whole S9/S11 test file (lib/dataset/h36m.py ``_sample``), and the
#: 886 poses that gives on its file (the batch size of that config, asserted equal to the test length).
ZEDO_H36M_STRIDE = 640
ZEDO_H36M_TEST_SIZE = 886

_META_COLUMNS = ("subject", "clip", "frame", "source")
_ROOT_TOL = 1e-6  # metres: joint 0 of a root-relative pose


# ------------------------------------------------------------------------------------ the set


def _float_tensor(value: Any, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """``value`` as a CPU float32 tensor of ``shape`` (its first entry is N, the number of poses)."""
    t = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
    t = t.detach().to("cpu", torch.float32)
    if tuple(t.shape) != tuple(shape):
        want = "(" + ", ".join(["N", *map(str, shape[1:])]) + ")"
        raise ValueError(f"PoseSet.{name} must have shape {want} with N = {shape[0]} poses, got {tuple(t.shape)}")
    return t


@dataclass(eq=False)
class PoseSet:
    """N root-relative 3D poses (H36M-17 joints) with their camera, exact 2D and provenance.

    Attributes:
        poses: (N, 17, 3) float32, camera frame (OpenCV: x right, y down, z forward), metres,
            root-relative: joint 0 (Hip, the pelvis) is at the origin.
        root: (N, 3) camera-frame pelvis (joint 0) position, metres.
        keypoints_2d: (N, 17, 2) exact pixels, ``project(poses + root, K)``.
        K: (N, 3, 3) full-image intrinsics.
        bbox_center: (N, 2), bbox_size: (N,) square person bbox, pixels.
        meta: one row per pose, at least ``subject``, ``clip``, ``frame`` and ``source``
            (world sets also carry ``family``, ``sample`` and the camera draws; benchmark sets the
            benchmark's one-dimensional columns). Procedural worlds have empty subjects.
        source: the data-source description, as the experiments state it.
        file_keypoints_2d: (N, 17, 2) or None: a benchmark file's own 2D keypoints in H36M-17 order
            (Human3.6M: the distorted ground truth or a detector's output; MPI-INF-3DHP:
            ``annot2``); None for world sets.
    Raises:
        ValueError: wrong shapes or joint count, non-finite values, poses not root-relative, a
            meta table of the wrong length or without the required columns.
    """

    poses: torch.Tensor
    root: torch.Tensor
    keypoints_2d: torch.Tensor
    K: torch.Tensor
    bbox_center: torch.Tensor
    bbox_size: torch.Tensor
    meta: pd.DataFrame
    source: str
    file_keypoints_2d: torch.Tensor | None = None

    _PER_POSE = ("poses", "root", "keypoints_2d", "K", "bbox_center", "bbox_size", "file_keypoints_2d")

    def __post_init__(self) -> None:
        poses = torch.as_tensor(np.asarray(self.poses) if not isinstance(self.poses, torch.Tensor) else self.poses)
        if poses.dim() != 3 or poses.shape[-1] != 3:
            raise ValueError(f"PoseSet.poses must have shape (N, {NUM_JOINTS}, 3), got {tuple(poses.shape)}")
        if poses.shape[1] != NUM_JOINTS:
            raise ValueError(f"PoseSet.poses has {poses.shape[1]} joints; a pose set holds the {NUM_JOINTS} "
                             f"H36M-17 joints {H36M17_NAMES[:3]}... (posebook.body.skeletons.H36M17_NAMES)")
        n = poses.shape[0]
        shapes = {"poses": (n, NUM_JOINTS, 3), "root": (n, 3), "keypoints_2d": (n, NUM_JOINTS, 2),
                  "K": (n, 3, 3), "bbox_center": (n, 2), "bbox_size": (n,), "file_keypoints_2d": (n, NUM_JOINTS, 2)}
        for name, shape in shapes.items():
            value = getattr(self, name)
            if value is None and name == "file_keypoints_2d":
                continue
            t = _float_tensor(value, name, shape)
            if name != "file_keypoints_2d" and not torch.isfinite(t).all():
                bad = (~torch.isfinite(t)).reshape(n, -1).any(dim=1).nonzero().flatten()[:5].tolist()
                raise ValueError(f"PoseSet.{name} holds non-finite values (rows {bad}...); drop those rows "
                                 "or fix the source data")
            object.__setattr__(self, name, t)
        off = self.poses[:, 0].abs().max() if n else torch.tensor(0.0)
        if off > _ROOT_TOL:
            raise ValueError(f"PoseSet.poses must be root-relative (joint 0 at the origin); joint 0 is up to "
                             f"{float(off):.3g} m away: pass poses - poses[:, :1] and the root separately")
        if not isinstance(self.meta, pd.DataFrame) or len(self.meta) != n:
            raise ValueError(f"PoseSet.meta must be a DataFrame with one row per pose ({n}), got "
                             f"{type(self.meta).__name__} of length {len(self.meta)}")
        missing = [c for c in _META_COLUMNS if c not in self.meta.columns]
        if missing:
            raise ValueError(f"PoseSet.meta lacks the columns {missing}; it needs {list(_META_COLUMNS)}")
        self.meta = self.meta.reset_index(drop=True)

    def __len__(self) -> int:
        return int(self.poses.shape[0])

    @property
    def subject_column(self) -> str:
        """The meta column subject splits use: "subject" (CMU, benchmarks), else "family" (procedural)."""
        subjects = self.meta["subject"].astype(str)
        if (subjects != "").any() or "family" not in self.meta.columns:
            return "subject"
        return "family"

    def subset(self, idx: Any) -> PoseSet:
        """The poses ``idx`` (ints, a bool mask, a slice, a tensor or array) as a new PoseSet."""
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
            raise IndexError(f"subset index out of range for a pose set of {n} poses")
        index = torch.remainder(index, n) if n else index
        values = {name: (None if getattr(self, name) is None else getattr(self, name)[index])
                  for name in self._PER_POSE}
        return dataclasses.replace(self, **values, meta=self.meta.iloc[index.numpy()].reset_index(drop=True))

    def camera_points(self) -> torch.Tensor:
        """(N, 17, 3) camera-frame joints, metres: ``poses + root``."""
        return self.poses + self.root[:, None, :]

    def groups(self, by: str = "subject") -> dict[str, PoseSet]:
        """The poses grouped by a meta column (sorted keys): ``{value: PoseSet}``.

        Args:
            by: a column of ``meta`` ("subject", "clip", "family", "source", ...); "subject" on a
                procedural set (empty subjects) groups by "family".
        """
        if by == "subject":
            by = self.subject_column
        if by not in self.meta.columns:
            raise ValueError(f"groups: by must be a meta column, one of {list(self.meta.columns)}; got {by!r}")
        keys = self.meta[by].astype(str).to_numpy()
        return {k: self.subset(torch.from_numpy(keys == k)) for k in sorted(set(keys), key=_subject_order)}


# ------------------------------------------------------------------------------------ builders


def _world_source(world: World) -> str:
    meta, config = world.meta, world.config
    n = len(world)
    if world.resolved_source == "cmu":
        subjects = sorted(meta["subject"].unique(), key=_subject_order)
        return (f"CMU mocap subset ({len(subjects)} subjects: {', '.join(subjects)}; {meta['clip'].nunique()} clips), "
                f"Anny cmu_mb -> h36m17, world seed {config.seed}, {n} poses at {config.fps_subsample:g} fps")
    families = sorted(meta["family"].unique())
    return (f"procedural poses (families: {', '.join(families)}; no CMU folder, so splits are by pose family), "
            f"Anny cmu_mb -> h36m17, world seed {config.seed}, {n} poses")


def pose_set_from_world(world: World) -> PoseSet:
    """The world's H36M-17 joints as a root-relative camera-frame :class:`PoseSet`.

    ``root`` is the camera-frame Hip joint (``joints3d["h36m17"][:, 0]``, the Anny Hips head, equal
    to ``world.root``); ``keypoints_2d``, ``K`` and the bbox are the world's own (the bbox holds the
    whole projected mesh, ``WorldConfig.bbox_scale``).

    Args:
        world: a :class:`~posebook.data.world.World` built with "h36m17" among its ``joint_sets``.
    Raises:
        ValueError: the world has no "h36m17" joints.
    """
    if "h36m17" not in world.joints3d:
        raise ValueError(f"the world has no 'h36m17' joints (it has {sorted(world.joints3d)}); build it with "
                         "WorldConfig(joint_sets=('h36m17', ...))")
    joints = world.joints3d["h36m17"].to(torch.float64)
    root = joints[:, 0]
    meta = world.meta.copy()
    return PoseSet(poses=(joints - root[:, None]).float(), root=root.float(),
                   keypoints_2d=world.keypoints2d["h36m17"], K=world.K, bbox_center=world.bbox_center,
                   bbox_size=world.bbox_size, meta=meta, source=_world_source(world))


def build_pose_set(size: int, seed: int = 0, *, source: str = "auto", fps: float = 30.0,
                   cmu_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                   progress: bool = False, cache_dir: str | os.PathLike | None = None) -> PoseSet:
    """Build (or load from the world cache) a world of ``size`` poses and return its pose set.

    The world is ``WorldConfig(size=size, seed=seed, source=source, render=False,
    joint_sets=("h36m17",), vertex_subset=None, fps_subsample=fps, cmu_dir=cmu_dir)``; a 4000-pose
    CMU world takes about 25 s to build on a 2-core CPU the first time, then loads from the cache.

    Args:
        size: number of poses N (> 0).
        seed: the world's seed.
        source: "auto" (CMU when ``cmu_dir`` or ``$POSEBOOK_CMU_DIR`` names a folder, else
            procedural), "cmu" or "procedural".
        fps: CMU clips are resampled to this rate before frames are drawn (120 = every frame).
        cmu_dir: CMU ASF/AMC folder (None: ``$POSEBOOK_CMU_DIR``).
        device: where the body model runs.
        progress: show the world's progress bar and cache messages.
        cache_dir: world cache folder (None: :func:`posebook.data.world.world_cache_dir`).
    Raises:
        ValueError: size <= 0 or not an int, bad seed, source or fps (the WorldConfig's checks).
        FileNotFoundError: source="cmu" without a CMU folder.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
        raise ValueError(f"build_pose_set: size must be a positive int (number of poses), got {size!r}")
    config = WorldConfig(size=int(size), seed=seed, source=source, render=False, joint_sets=("h36m17",),
                         vertex_subset=None, fps_subsample=fps,
                         cmu_dir=None if cmu_dir is None else str(cmu_dir))
    world = build_world(config, device=device, cache_dir=cache_dir, progress=progress)
    return pose_set_from_world(world)


# ------------------------------------------------------------------------------------ splits


def _split_keys(pose_set: PoseSet) -> tuple[str, np.ndarray]:
    column = pose_set.subject_column
    return column, pose_set.meta[column].astype(str).to_numpy()


def _check_names(names: Sequence[str], available: Sequence[str], what: str, column: str) -> tuple[str, ...]:
    if isinstance(names, str):
        names = (names,)
    names = tuple(str(s) for s in names)
    if not names:
        raise ValueError(f"{what} is empty: name at least one of {list(available)}")
    unknown = [s for s in names if s not in available]
    if unknown:
        hint = (" (a procedural world has no CMU subjects: split by pose family)" if column == "family" else "")
        raise ValueError(f"{what}: unknown {column} {unknown}; this pose set holds {list(available)}{hint}")
    return names


def split_by_subject(pose_set: PoseSet, test_subjects: Sequence[str]) -> tuple[PoseSet, PoseSet]:
    """(train, test): the poses of ``test_subjects`` are the test set, every other pose trains.

    On a procedural set (no CMU subjects) the split is by the ``family`` column instead (names of
    ``posebook.data.poses.FAMILIES``); ``PoseSet.subject_column`` says which. The halves' ``source``
    strings name the held-out subjects.

    Args:
        pose_set: the poses.
        test_subjects: subject ids ("02", "135", ...) or, procedural, family names.
    Raises:
        ValueError: an unknown subject (the message lists those available), an empty list, or a
            test set that leaves no training pose.
    """
    column, keys = _split_keys(pose_set)
    available = sorted(set(keys), key=_subject_order)
    test = _check_names(test_subjects, available, "test_subjects", column)
    is_test = np.isin(keys, test)
    if is_test.all():
        raise ValueError(f"test_subjects {list(test)} hold every pose; leave at least one of {available} for training")
    train_names = [s for s in available if s not in test]
    train_set = pose_set.subset(torch.from_numpy(~is_test))
    test_set = pose_set.subset(torch.from_numpy(is_test))
    train_set.source = f"{pose_set.source}; train {column} {', '.join(train_names)}"
    test_set.source = f"{pose_set.source}; test {column} {', '.join(test)} (unseen in training)"
    return train_set, test_set


def split_preset(pose_set: PoseSet, name: str = "default") -> tuple[PoseSet, PoseSet]:
    """(train, test) of a named split: :data:`SUBJECT_SPLITS` (CMU) or :data:`FAMILY_SPLITS` (procedural).

    Train holds the poses of the preset's train subjects, test those of its test subjects; a
    subject in neither (e.g. 02 and 09 in "dance_to_martial") is left out.

    Raises:
        ValueError: an unknown preset (the message lists them), or a preset subject absent from
            the pose set (a very small world may miss one).
    """
    column, keys = _split_keys(pose_set)
    presets = FAMILY_SPLITS if column == "family" else SUBJECT_SPLITS
    if name not in presets:
        raise ValueError(f"unknown split preset {name!r}; choose from {list(presets)}")
    available = sorted(set(keys), key=_subject_order)
    train = _check_names(presets[name]["train"], available, f"split {name!r} train", column)
    test = _check_names(presets[name]["test"], available, f"split {name!r} test", column)
    train_set = pose_set.subset(torch.from_numpy(np.isin(keys, train)))
    test_set = pose_set.subset(torch.from_numpy(np.isin(keys, test)))
    train_set.source = f"{pose_set.source}; split {name!r}: train {column} {', '.join(train)}"
    test_set.source = f"{pose_set.source}; split {name!r}: test {column} {', '.join(test)} (unseen in training)"
    return train_set, test_set


# ------------------------------------------------------------------------------------ 2D detections


def _detector_noise(uv: torch.Tensor, bbox_center: torch.Tensor, bbox_size: torch.Tensor, sigma: float,
                    outliers: float, generator: torch.Generator | None) -> torch.Tensor:
    """The noise model of ``posebook.models.body_regressor.noisy_keypoints``, draw for draw.

    Repeated here because ``posebook.data`` sits below ``posebook.models`` in the layers
    (``.importlinter``); ``tests/test_pose_sets.py`` checks that the two give the same keypoints
    for the same generator state. Each coordinate gets ``sigma * bbox_size * N(0, 1)``; each
    keypoint is, with probability ``outliers``, replaced by a uniform point of the bbox.
    """
    N, K, _ = uv.shape
    noise = torch.randn(N, K, 2, generator=generator, dtype=torch.float64)
    is_out = torch.rand(N, K, 1, generator=generator, dtype=torch.float64) < outliers
    anywhere = torch.rand(N, K, 2, generator=generator, dtype=torch.float64) - 0.5
    size = bbox_size.detach().to("cpu", torch.float64)[:, None, None]
    centre = bbox_center.detach().to("cpu", torch.float64)[:, None, :]
    exact = uv.detach().to("cpu", torch.float64)
    return torch.where(is_out, centre + anywhere * size, exact + sigma * size * noise)


def detections(pose_set: PoseSet, *, sigma: float = 0.015, outliers: float = 0.02,
               generator: torch.Generator, conf_scale: float = 0.05,
               conf_floor: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Detector-like 2D keypoints and confidences from the exact projections.

    Keypoints: the model of ``posebook.models.body_regressor.noisy_keypoints`` (Gaussian noise of
    ``sigma`` times the bbox size per coordinate, 1-2% being a typical HRNet / ViTPose error;
    outliers with probability ``outliers``, uniform in the bbox). Confidence of keypoint j with
    error e_j = ||u_j - u_j^exact|| (pixels) and bbox size b, an OKS-like score (COCO's object
    keypoint similarity uses the same Gaussian of the error over the object scale):

        c_j = max(conf_floor, exp(-e_j^2 / (2 (conf_scale * b)^2)))   in [conf_floor, 1],

    so exact keypoints get 1, the typical error (~1.25 sigma b) about 0.93 with the defaults, and
    outliers (errors of a third of the bbox) the floor. It is an ORACLE confidence, monotone in the
    true error; a real detector's scores are only correlated with it. ZeDO weights its closed-form
    translation by c^2 with c clamped to [1e-4, 1] (official-code.md, ZeDO item 5).

    Args:
        pose_set: the poses (uses ``keypoints_2d``, ``bbox_center``, ``bbox_size``).
        sigma: noise std, fraction of the bbox size (>= 0; 0 with ``outliers=0`` gives the exact
            keypoints, all with confidence 1).
        outliers: outlier probability per keypoint, in [0, 1].
        generator: the CPU generator of every draw (same noise on every device for one seed).
        conf_scale: error scale of the confidence, fraction of the bbox size (> 0).
        conf_floor: lowest confidence, in (0, 1].
    Returns:
        keypoints (N, 17, 2) float32 pixels and confidence (N, 17) float32 in (0, 1].
    Raises:
        ValueError: a parameter out of its range; TypeError: ``generator`` is not a torch.Generator.
    """
    if not (sigma >= 0 and np.isfinite(sigma)):
        raise ValueError(f"detections: sigma must be a finite number >= 0 (fraction of the bbox), got {sigma}")
    if not 0 <= outliers <= 1:
        raise ValueError(f"detections: outliers must be a probability in [0, 1], got {outliers}")
    if not (conf_scale > 0 and np.isfinite(conf_scale)):
        raise ValueError(f"detections: conf_scale must be a finite number > 0 (fraction of the bbox), got {conf_scale}")
    if not 0 < conf_floor <= 1:
        raise ValueError(f"detections: conf_floor must lie in (0, 1], got {conf_floor}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"detections: generator must be a torch.Generator (seeded from posebook.runs), "
                         f"got {type(generator).__name__}")
    exact = pose_set.keypoints_2d.to(torch.float64)
    noisy = _detector_noise(exact, pose_set.bbox_center, pose_set.bbox_size, sigma, outliers, generator)
    err = torch.linalg.vector_norm(noisy - exact, dim=-1)
    scale = conf_scale * pose_set.bbox_size.to(torch.float64)[:, None]
    conf = torch.exp(-0.5 * (err / scale) ** 2).clamp(min=conf_floor, max=1.0)
    return noisy.float(), conf.float()


# ------------------------------------------------------------------------------------ initial poses


def _root_relative(poses: Any, what: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(poses) if not isinstance(poses, torch.Tensor) else poses)
    if t.dim() != 3 or t.shape[-1] != 3 or t.shape[1] < 1:
        raise ValueError(f"{what}: poses must have shape (N, J, 3) with J >= 1 joints, got {tuple(t.shape)}")
    t = t.detach().to("cpu", torch.float64)
    if not torch.isfinite(t).all():
        bad = (~torch.isfinite(t)).reshape(t.shape[0], -1).any(dim=1).nonzero().flatten()[:5].tolist()
        raise ValueError(f"{what}: poses hold non-finite values (rows {bad}...); drop those rows first")
    return t - t[:, :1]


def _check_k(k: Any, n: int, what: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"{what}: k must be an int with 1 <= k <= N = {n} (the number of poses), got {k!r}")
    return int(k)


def kmeans_poses(poses: torch.Tensor | np.ndarray, k: int, seed: int = 0, *, n_init: int = 10) -> torch.Tensor:
    """k-means centres of root-relative poses in the CAMERA frame: ZeDO's initial poses (Table 7).

    ZeDO starts hypothesis s from centre s of k-means on the training poses (Sec. 4.2: "sampled
    from training sets ... by the K-Means algorithm"); its repository ships no k-means code and its
    cluster files are a dead download (official-code.md, ZeDO: k-means initialisation). The frame
    matters: these centres are computed on the camera-frame poses the score model is trained on
    (``joint_3d_camera``; OpenCV axes, y down), so a centre's heading and tilt relative to the
    camera is part of what it clusters, and ZeDO's rotation about z is a roll about the optical
    axis here, not a yaw.

    Each pose is re-centred at joint 0 and flattened to 3J numbers (metres); scikit-learn's
    ``KMeans(n_clusters=k, n_init=n_init, random_state=seed, tol=0, algorithm="lloyd")`` runs to
    strict convergence (no label changes), so every centre is the mean of the poses nearest to it,
    and single-threaded (OpenMP) so the result does not depend on the core count.

    Args:
        poses: (N, J, 3) poses, metres (root-relative or not: re-centred here).
        k: number of centres, 1 <= k <= N.
        seed: k-means++ seeding.
        n_init: k-means restarts; the lowest inertia wins.
    Returns:
        (k, J, 3) float32 centres, root-relative (joint 0 at the origin), ordered by cluster size
        (largest first; ties by index).
    Raises:
        ValueError: wrong shape, non-finite poses, k out of range.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    x = _root_relative(poses, "kmeans_poses")
    n, J, _ = x.shape
    k = _check_k(k, n, "kmeans_poses")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"kmeans_poses: seed must be a non-negative int, got {seed!r}")
    if isinstance(n_init, bool) or not isinstance(n_init, (int, np.integer)) or n_init < 1:
        raise ValueError(f"kmeans_poses: n_init must be a positive int, got {n_init!r}")
    flat = x.reshape(n, J * 3).numpy()
    with threadpool_limits(limits=1, user_api="openmp"):
        km = KMeans(n_clusters=k, n_init=int(n_init), random_state=int(seed), tol=0.0, max_iter=1000,
                    algorithm="lloyd").fit(flat)
    counts = np.bincount(km.labels_, minlength=k)
    order = np.lexsort((np.arange(k), -counts))
    centres = torch.from_numpy(km.cluster_centers_[order]).reshape(k, J, 3)
    return (centres - centres[:, :1]).float()


def random_training_poses(poses: torch.Tensor | np.ndarray, k: int, generator: torch.Generator) -> torch.Tensor:
    """k distinct training poses drawn uniformly without replacement (ZeDO Table 7, "Random Sampling").

    Args:
        poses: (N, J, 3) poses, metres.
        k: number of poses, 1 <= k <= N.
        generator: the CPU generator of the draw.
    Returns:
        (k, J, 3) float32, root-relative (joint 0 at the origin).
    """
    x = _root_relative(poses, "random_training_poses")
    k = _check_k(k, x.shape[0], "random_training_poses")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"random_training_poses: generator must be a torch.Generator, got {type(generator).__name__}")
    pick = torch.randperm(x.shape[0], generator=generator)[:k]
    return x[pick].float()


# ------------------------------------------------------------------------------------ benchmarks

#: MPI-INF-3DHP test joint -> H36M-17 joint (the usual correspondence: pelvis = Hip, spine = Spine,
#: neck = Thorax, head = Neck/Nose, head_top = Head).
_MPI_TO_H36M = {
    "pelvis": "Hip", "right_hip": "RHip", "right_knee": "RKnee", "right_ankle": "RFoot",
    "left_hip": "LHip", "left_knee": "LKnee", "left_ankle": "LFoot", "spine": "Spine", "neck": "Thorax",
    "head": "Neck/Nose", "head_top": "Head", "left_shoulder": "LShoulder", "left_elbow": "LElbow",
    "left_wrist": "LWrist", "right_shoulder": "RShoulder", "right_elbow": "RElbow", "right_wrist": "RWrist",
}


def _h36m17_indices(names: Sequence[str], what: str) -> tuple[list[int], str]:
    """Indices of the H36M-17 joints, in H36M17_NAMES order, among ``names``, and the layout's name."""
    names = list(names)
    if all(n in names for n in H36M17_NAMES):
        layout = "Human3.6M 17 joints" if len(names) == NUM_JOINTS else f"Human3.6M {len(names)}-joint layout"
        return [names.index(n) for n in H36M17_NAMES], layout
    if all(n in names for n in MPI_INF_3DHP17_NAMES):
        inverse = {h: m for m, h in _MPI_TO_H36M.items()}
        return [names.index(inverse[n]) for n in H36M17_NAMES], "MPI-INF-3DHP 17 test joints"
    raise ValueError(
        f"{what}: cannot select the H36M-17 joints from these {len(names)} joints ({names[:4]}...). "
        "Supported: Human3.6M's 17- and 32-joint layouts (names of posebook.body.skeletons.H36M17_NAMES) "
        "and MPI-INF-3DHP's 17 test joints. 3DPW's 24 SMPL joints hold no H36M-17 subset: regress "
        "them from the SMPL mesh with Human3.6M's joint regressor")


def benchmark_pose_set(data: BenchmarkData, *, stride: int = 1, official_h36m_subset: bool = False,
                       joints_key: str = "joints_3d_cam", bbox_scale: float = 1.2) -> PoseSet:
    """A benchmark's rows as a :class:`PoseSet`: H36M-17 joints, root-relative, camera frame, metres.

    The joints are selected by name (:data:`posebook.body.skeletons.H36M17_NAMES`: Human3.6M's
    17-joint files and its 32-joint layout; MPI-INF-3DHP's 17 test joints through the usual
    correspondence pelvis = Hip, neck = Thorax, head = Neck/Nose, head_top = Head). ``root`` is the
    camera-frame pelvis, ``keypoints_2d`` the pinhole projection with the row's ``K`` (Human3.6M's
    own 2D holds lens distortion: it is kept as ``file_keypoints_2d`` when the file has 2D), and
    the bbox is the square box of ``bbox_scale`` times the extent of the projected joints.

    **ZeDO's Human3.6M protocol** (``official_h36m_subset=True``): the rows of subjects S9 and
    S11, in the data's order, then every 640th row (:data:`ZEDO_H36M_STRIDE`), as ZeDO's config
    (``ZeDO.sample = 640``) does to its whole test file, 17 joints, metres; the evaluation then
    compares the root-relative ground truth with predictions that are NOT re-centred at the
    pelvis, mean over all 17 joints (``eval_multi``). On ZeDO's file (LCN's ``h36m_test.pkl``)
    that gives :data:`ZEDO_H36M_TEST_SIZE` = 886 poses; VideoPose3D's files, which
    :func:`posebook.data.benchmarks.h36m.load_h36m` reads, hold a different number of frames per
    sequence, so the subset here has ceil(rows / 640) poses, close to but not exactly 886, and not
    the same frames. Load all actions and all four cameras (stride 1) for it.

    Args:
        data: a loader's result (``load_h36m``, ``load_mpi_inf_3dhp``; ``load_3dpw`` is refused:
            SMPL-24 has no H36M-17 subset).
        stride: keep every ``stride``-th row of ``data``, in its order (ZeDO's ``db[::stride]``).
        official_h36m_subset: ZeDO's Human3.6M test subset (above); needs Human3.6M data with a
            ``subject`` column, and ``stride`` 1.
        joints_key: the 3D column ("joints_3d_cam"; MPI-INF-3DHP also has "joints_3d_univ",
            scaled to the universal skeleton, the usual evaluation target).
        bbox_scale: bbox side over the projected joints' extent (>= 1).
    Raises:
        ValueError: joints with no H36M-17 subset, wrong shapes, non-finite joints, stride < 1,
            the subset option on another dataset, no row left.
    """
    what = f"benchmark_pose_set({data.dataset})"
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"{what}: stride must be a positive int, got {stride!r}")
    if not bbox_scale >= 1.0:
        raise ValueError(f"{what}: bbox_scale must be >= 1 (the bbox must hold the joints), got {bbox_scale}")
    rows = np.arange(len(data))
    protocol = f"rows [::{stride}]" if stride > 1 else "all rows"
    if official_h36m_subset:
        if data.dataset != "h36m" or "subject" not in data:
            raise ValueError(f"{what}: official_h36m_subset is ZeDO's Human3.6M protocol; it needs "
                             f"Human3.6M data with a 'subject' column (load_h36m), got dataset {data.dataset!r}")
        if stride != 1:
            raise ValueError(f"{what}: official_h36m_subset fixes the stride at {ZEDO_H36M_STRIDE}; "
                             f"leave stride at 1 (got {stride})")
        rows = rows[np.isin(data["subject"].astype(str), H36M_TEST_SUBJECTS)]
        if not len(rows):
            raise ValueError(f"{what}: official_h36m_subset needs the test subjects {list(H36M_TEST_SUBJECTS)}; "
                             f"the data holds {sorted(set(data['subject'].astype(str)))}")
        stride = ZEDO_H36M_STRIDE
        protocol = (f"ZeDO's Human3.6M subset: rows [::{ZEDO_H36M_STRIDE}] of {', '.join(H36M_TEST_SUBJECTS)} "
                    f"(ZeDO's own file gives {ZEDO_H36M_TEST_SIZE})")
    rows = rows[::stride]
    if not len(rows):
        raise ValueError(f"{what}: no rows left (the data has {len(data)} rows)")

    joints_all = np.asarray(data[joints_key])
    if joints_all.ndim != 3 or joints_all.shape[-1] != 3:
        raise ValueError(f"{what}: '{joints_key}' must have shape (N, J, 3), got {joints_all.shape}")
    if joints_all.shape[1] != len(data.joint_names_3d):
        raise ValueError(f"{what}: '{joints_key}' has {joints_all.shape[1]} joints but joint_names_3d "
                         f"names {len(data.joint_names_3d)}")
    index, layout = _h36m17_indices(data.joint_names_3d, what)
    joints = torch.from_numpy(np.asarray(joints_all[rows][:, index], dtype=np.float64))
    if not torch.isfinite(joints).all():
        bad = rows[(~torch.isfinite(joints)).reshape(len(rows), -1).any(dim=1).numpy()][:5].tolist()
        raise ValueError(f"{what}: '{joints_key}' holds non-finite joints (rows {bad}...); drop those rows "
                         "(data.select) first")
    K = torch.from_numpy(np.asarray(data["K"][rows], dtype=np.float64))
    if tuple(K.shape[1:]) != (3, 3):
        raise ValueError(f"{what}: 'K' must have shape (N, 3, 3), got {tuple(np.asarray(data['K']).shape)}")
    if (joints[..., 2] <= 0).any():
        raise ValueError(f"{what}: some joints lie at or behind the camera (z <= 0); is '{joints_key}' in the "
                         "camera frame (OpenCV, z forward)?")
    uv = camera.project(joints, K)
    center, size = camera.bbox_from_points(uv, scale=bbox_scale)
    root = joints[:, 0]

    file_2d = None
    if "joints_2d" in data and data.joint_names_2d:
        try:
            index_2d, _ = _h36m17_indices(data.joint_names_2d, what)
        except ValueError:
            index_2d = None
        if index_2d is not None:
            file_2d = torch.from_numpy(np.asarray(data["joints_2d"][rows][:, index_2d], dtype=np.float64))

    table = data.select(rows).table().reset_index(drop=True)
    sequence = table["sequence"].astype(str) if "sequence" in table else pd.Series([""] * len(rows))
    frame = table["frame"].astype(np.int64) if "frame" in table else pd.Series(rows, dtype=np.int64)
    meta = table.copy()
    meta["subject"] = table["subject"].astype(str) if "subject" in table else sequence.to_numpy()
    meta["clip"] = sequence.to_numpy()
    meta["frame"] = frame.to_numpy()
    camera_tag = ("/cam" + table["camera"].astype(str)) if "camera" in table else ""
    meta["source"] = (f"{data.dataset}:" + sequence + camera_tag + "#" + frame.astype(str)).to_numpy()
    meta["row"] = rows
    files = ", ".join(p.name for p in data.sources) or "in-memory data"
    description = (f"{data.dataset} benchmark ({files}), {len(rows)} poses, {layout} -> h36m17, "
                   f"'{joints_key}', {protocol}")
    return PoseSet(poses=(joints - root[:, None]).float(), root=root.float(), keypoints_2d=uv.float(), K=K.float(),
                   bbox_center=center.float(), bbox_size=size.float(), meta=meta, source=description,
                   file_keypoints_2d=None if file_2d is None else file_2d.float())
