"""3DPW, from ``sequenceFiles/<split>/<sequence>.pkl`` (Python-2 pickles, read with ``latin1``).

The joint sets (SMPL's 24 joints, OpenPose COCO-18) are in :mod:`posebook.body.skeletons`.

The ``.pkl`` files are pickles, which can run code when loaded: only load files obtained from
the official sources.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posebook.body.skeletons import COCO18_NAMES, SMPL24_NAMES, SMPL24_PARENTS
from posebook.data.benchmarks.common import (
    _3DPW_SPLITS,
    DATASET_PAGES,
    BenchmarkData,
    _concat,
    _dataset_dir,
    _to_camera,
)

# ----------------------------------------------------------------------------------------------
# 3DPW (sequenceFiles/*.pkl)
# ----------------------------------------------------------------------------------------------
#: Keys of a 3DPW sequence pickle that the loader reads (the files also hold poses_60Hz,
#: trans_60Hz, betas_clothed, v_template_clothed, texture maps).
PW3D_REQUIRED_KEYS: tuple[str, ...] = (
    "sequence", "genders", "poses", "betas", "trans", "poses2d", "jointPositions",
    "cam_poses", "cam_intrinsics", "img_frame_ids", "campose_valid",
)


def read_3dpw_sequence(path: str | Path) -> dict[str, Any]:
    """Read one 3DPW sequence pickle (Python 2 pickle, hence latin1) and check its keys.

    Returns:
        The raw dict. Per actor p (lists): poses[p] (T, 72) SMPL axis-angle, global orientation in
        the world frame; betas[p] (10,); trans[p] (T, 3) m; jointPositions[p] (T, 72) world m;
        poses2d[p] (T, 3, 18) rows (u, v, confidence); campose_valid[p] (T,); genders[p] 'm'/'f'.
        Shared: cam_poses (T, 4, 4) world-to-camera; cam_intrinsics (3, 3); img_frame_ids (T,)
        index into the 60 Hz IMU stream; sequence (str).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = pickle.load(f, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as err:
        raise ValueError(f"{path}: not a readable 3DPW sequence pickle ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict, found {type(data).__name__}")
    for key in PW3D_REQUIRED_KEYS:
        if key not in data:
            raise ValueError(
                f"{path}: missing key '{key}' (a 3DPW sequenceFiles pickle has {list(PW3D_REQUIRED_KEYS)})"
            )
    return data


def load_3dpw(
    root: str | Path,
    split: str = "test",
    sequences: Sequence[str] | None = None,
    valid_only: bool = True,
    stride: int = 1,
) -> BenchmarkData:
    """Load 3DPW from ``sequenceFiles/<split>/*.pkl``: one row per (sequence, actor, image frame).

    Camera-frame quantities use the per-frame extrinsics ``cam_poses`` (world-to-camera, as in the
    official demo and SPIN's preprocessing): x_cam = R x_world + t.

    Args:
        root: data_root (holding ``3dpw/``) or the 3DPW folder itself (holding ``sequenceFiles/``).
        split: "train", "validation" or "test".
        sequences: sequence names (file stems, e.g. "downtown_walking_00"); None = all in the split.
        valid_only: keep only frames whose camera pose is aligned (``campose_valid``), the frames
            used for evaluation.
        stride: keep every ``stride``-th image frame (applied before the validity filter).
    Returns:
        BenchmarkData with ``joints_3d_world`` (N, 24, 3) SMPL joints from ``jointPositions``, metres;
        ``joints_3d_cam`` (N, 24, 3); ``joints_2d`` (N, 18, 2) OpenPose COCO-18 pixels and
        ``joints_2d_conf`` (N, 18); ``smpl_pose`` (N, 72) axis-angle with world global orientation;
        ``smpl_global_orient_cam`` (N, 3) global orientation rotated into the camera frame (R rot(pose[:3]));
        ``smpl_betas`` (N, 10); ``smpl_trans`` (N, 3) world metres; ``gender`` (N,) 'm'/'f';
        ``K`` (N, 3, 3); ``R`` (N, 3, 3), ``t`` (N, 3); ``valid`` (N,) bool; ``sequence`` (N,) str;
        ``actor`` (N,) int; ``frame`` (N,) image index; ``img_frame_id`` (N,) 60 Hz index;
        ``image_path`` (N,) "imageFiles/<sequence>/image_<frame:05d>.jpg".
    """
    import roma
    import torch

    if split not in _3DPW_SPLITS:
        raise ValueError(f"split must be one of {_3DPW_SPLITS}, got {split!r}")
    if stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride}")
    folder = _dataset_dir(root, "3dpw", f"sequenceFiles/{split}")
    split_dir = folder / "sequenceFiles" / split
    available = {p.stem: p for p in sorted(split_dir.glob("*.pkl"))}
    if sequences is None:
        if not available:
            raise FileNotFoundError(
                f"3DPW: no .pkl file in {split_dir} (expected 'sequenceFiles/{split}/<sequence>.pkl'); "
                f"get sequenceFiles.zip from {DATASET_PAGES['3dpw']}."
            )
        names = list(available)
    else:
        names = list(sequences)
        missing = [s for s in names if s not in available]
        if missing:
            raise FileNotFoundError(
                f"3DPW: no file {[str(split_dir / (s + '.pkl')) for s in missing]}; "
                f"sequences in {split_dir}: {sorted(available)}. Get them from {DATASET_PAGES['3dpw']}."
            )

    parts: list[dict[str, np.ndarray]] = []
    for name in names:
        path = available[name]
        data = read_3dpw_sequence(path)
        cam_poses = np.asarray(data["cam_poses"], dtype=np.float64)
        n_frames = cam_poses.shape[0]
        if cam_poses.shape != (n_frames, 4, 4):
            raise ValueError(f"{path}: 'cam_poses' has shape {cam_poses.shape}, expected (T, 4, 4)")
        K = np.asarray(data["cam_intrinsics"], dtype=np.float64)
        if K.shape != (3, 3):
            raise ValueError(f"{path}: 'cam_intrinsics' has shape {K.shape}, expected (3, 3)")
        img_frame_ids = np.asarray(data["img_frame_ids"]).reshape(-1)
        sequence = str(data["sequence"])
        for actor in range(len(data["poses"])):
            arr = {
                "poses": np.asarray(data["poses"][actor], dtype=np.float64),
                "trans": np.asarray(data["trans"][actor], dtype=np.float64),
                "jointPositions": np.asarray(data["jointPositions"][actor], dtype=np.float64),
                "poses2d": np.asarray(data["poses2d"][actor], dtype=np.float64),
                "campose_valid": np.asarray(data["campose_valid"][actor]).reshape(-1),
            }
            expected = {"poses": (n_frames, 72), "trans": (n_frames, 3), "jointPositions": (n_frames, 72),
                        "poses2d": (n_frames, 3, 18), "campose_valid": (n_frames,)}
            for key, shape in expected.items():
                if arr[key].shape != shape:
                    raise ValueError(f"{path}: '{key}'[{actor}] has shape {arr[key].shape}, expected {shape}")
            betas = np.asarray(data["betas"][actor], dtype=np.float64).reshape(-1)
            if betas.size < 10:
                raise ValueError(f"{path}: 'betas'[{actor}] has {betas.size} values, expected 10")
            frames = np.arange(0, n_frames, stride)
            if valid_only:
                frames = frames[arr["campose_valid"][frames].astype(bool)]
            n = len(frames)
            R, t = cam_poses[frames, :3, :3], cam_poses[frames, :3, 3]
            world = arr["jointPositions"][frames].reshape(n, 24, 3)
            pose = arr["poses"][frames]
            orient_cam = roma.rotmat_to_rotvec(
                torch.from_numpy(R) @ roma.rotvec_to_rotmat(torch.from_numpy(pose[:, :3].copy()))
            ).numpy()
            kp = arr["poses2d"][frames].transpose(0, 2, 1)  # (n, 18, 3): u, v, confidence
            parts.append({
                "joints_3d_world": world,
                "joints_3d_cam": _to_camera(world, R, t),
                "joints_2d": kp[..., :2],
                "joints_2d_conf": kp[..., 2],
                "smpl_pose": pose,
                "smpl_global_orient_cam": orient_cam,
                "smpl_betas": np.broadcast_to(betas[:10], (n, 10)),
                "smpl_trans": arr["trans"][frames],
                "gender": np.full(n, str(data["genders"][actor])),
                "K": np.broadcast_to(K, (n, 3, 3)),
                "R": R,
                "t": t,
                "valid": arr["campose_valid"][frames].astype(bool),
                "sequence": np.full(n, sequence),
                "actor": np.full(n, actor),
                "frame": frames,
                "img_frame_id": img_frame_ids[frames],
                "image_path": np.array([f"imageFiles/{sequence}/image_{i:05d}.jpg" for i in frames]),
            })
    arrays = _concat(parts, f"3DPW {split} {names}")
    sources = tuple(available[n] for n in names)
    return BenchmarkData("3dpw", arrays, SMPL24_NAMES, COCO18_NAMES, SMPL24_PARENTS, sources)
