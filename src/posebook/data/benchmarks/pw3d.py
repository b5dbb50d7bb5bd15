"""3DPW, from ``sequenceFiles/<split>/<sequence>.pkl`` (Python-2 pickles, read with ``latin1``).

The joint sets (SMPL's 24 joints, OpenPose COCO-18) are in :mod:`posebook.body.skeletons`.

The ``.pkl`` files are pickles, which can run code when loaded: only load files obtained from
the official sources.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from posebook import metrics
from posebook.body.models import SMPLBody
from posebook.body.skeletons import COCO18_NAMES, SMPL24_NAMES, SMPL24_PARENTS
from posebook.data.benchmarks.common import (
    _3DPW_SPLITS,
    DATASET_PAGES,
    BenchmarkData,
    _concat,
    _dataset_dir,
    _to_camera,
)
from posebook.data.benchmarks.crops import BenchmarkCrops, benchmark_crops
from posebook.geometry import camera

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


# ----------------------------------------------------------------------------------------------
# Ground-truth joints from the SMPL mesh (the 3DPW protocol of SGRE / 3DCrowdNet, CLIFF / SPIN)
# ----------------------------------------------------------------------------------------------
#: The H36M-17 joint regressor of the SMPL mesh (17, 6890), by the names its distributions use:
#: 3DCrowdNet / SGRE ship ``J_regressor_h36m_correct.npy``, SPIN ``J_regressor_h36m.npy``. Searched in
#: ``<data_root>/smpl/`` and ``<data_root>/``.
H36M_REGRESSOR_FILES: tuple[str, ...] = ("J_regressor_h36m_correct.npy", "J_regressor_h36m.npy")


def find_h36m_regressor(data_root: str | Path) -> Path:
    """The first of :data:`H36M_REGRESSOR_FILES` found in ``<data_root>/smpl/`` or ``<data_root>/``.

    Raises:
        FileNotFoundError: naming every place looked in and where the file comes from.
    """
    root = Path(data_root).expanduser()
    candidates = [folder / name for folder in (root / "smpl", root) for name in H36M_REGRESSOR_FILES]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"no H36M joint regressor of the SMPL mesh; looked for {[str(p) for p in candidates]}. It is the "
        f"(17, 6890) array of SPIN's data (fetch_data.sh) or 3DCrowdNet's J_regressor_h36m_correct.npy.")


def load_h36m_regressor(path: str | Path, num_vertices: int = 6890) -> np.ndarray:
    """The (17, num_vertices) float64 H36M joint regressor of the SMPL mesh, from a ``.npy`` file.

    Raises:
        ValueError: another shape, or rows that do not sum to ~1 (not a regressor of positions).
    """
    path = Path(path)
    J = np.asarray(np.load(path, allow_pickle=False), dtype=np.float64)
    if J.shape != (17, num_vertices):
        raise ValueError(f"{path}: regressor shape {J.shape}, expected (17, {num_vertices}) (H36M-17 joints x SMPL vertices)")
    sums = J.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=0.05):
        raise ValueError(f"{path}: rows sum to {np.round(sums, 3).tolist()}, a joint regressor's rows sum to 1")
    return J


def smpl_h36m_joints(
    data: BenchmarkData,
    regressor: np.ndarray,
    model_path: str | Path | None = None,
    device: torch.device | str | None = None,
    placed: bool = False,
) -> torch.Tensor:
    """The ground truth of the 3DPW protocol: H36M-17 joints regressed from each row's **gendered** SMPL
    mesh (official SGRE ``data/PW3D/PW3D.py`` L260-306, SPIN ``eval.py``), posed with the camera-frame
    global orientation, so the joints are in camera axes (up to translation: the protocols centre them).

    ``placed=True`` keeps the translation, for 2D supervision: the mesh's pelvis (SMPL joint 0, about which
    SMPL rotates the body) is put where 3DPW's ``jointPositions`` put it in the camera frame
    (``joints_3d_cam[:, 0]``), which equals posing the mesh in the world and applying the extrinsics
    x_cam = R x_world + t (tested).

    Args:
        data: 3DPW rows (``smpl_global_orient_cam``, ``smpl_pose``, ``smpl_betas``, ``gender``).
        regressor: (17, 6890) from :func:`load_h36m_regressor`.
        model_path: the folder of ``SMPL_MALE`` / ``SMPL_FEMALE`` (see
            :func:`posebook.body.models.find_smpl_model`); None: ``$POSEBOOK_SMPL_DIR``.
        device: where SMPL runs.
        placed: keep the camera-frame placement (and ``joints_3d_cam``) rather than centring.
    Returns:
        (N, 17, 3) float64 metres, pelvis-centred (H36M joint 0 at the origin), or camera-frame positions
        with ``placed``.
    """
    import roma

    genders = {"m": "male", "f": "female", "male": "male", "female": "female", "neutral": "neutral"}
    pose = data.to_torch("smpl_pose", "smpl_global_orient_cam", "smpl_betas", "joints_3d_cam", device=device,
                         dtype=torch.float64)
    rotvecs = pose["smpl_pose"].reshape(len(data), 24, 3).clone()
    rotvecs[:, 0] = pose["smpl_global_orient_cam"]
    rotations = roma.rotvec_to_rotmat(rotvecs)
    J = torch.as_tensor(regressor, dtype=torch.float64, device=device)
    out = torch.empty(len(data), 17, 3, dtype=torch.float64, device=device)
    for code in sorted(set(data["gender"].tolist())):  # one SMPL per gender: two models, not N
        if code not in genders:
            raise ValueError(f"3DPW gender {code!r} (rows {np.nonzero(data['gender'] == code)[0][:5].tolist()}...); "
                             f"expected one of {sorted(genders)}")
        rows = torch.as_tensor(np.nonzero(data["gender"] == code)[0], device=device)
        body = SMPLBody(model_path, genders[code], device=device, dtype=torch.float64)
        vertices = body(rotations[rows], pose["smpl_betas"][rows], pose["joints_3d_cam"][rows, 0]).vertices
        joints = torch.einsum("jv,bvc->bjc", J, vertices)
        out[rows] = joints if placed else joints - joints[:, :1]
    return out


#: The 14 of the H36M-17 joints the 3DPW numbers are computed on: SGRE's official ``(1..6, 8, 10..16)``,
#: SPIN's / CLIFF's ``H36M_TO_J14`` (the same joints in LSP order): without the pelvis, torso and nose.
PW3D_EVAL_JOINTS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16)
#: Where each protocol centres the skeletons: the H36M pelvis (joint 0; SGRE / 3DCrowdNet, PersPose), or the
#: midpoint of the hips (joints 1 and 4; SPIN's ``eval.py``, hence CLIFF).
PW3D_ROOTS: dict[str, tuple[int, ...]] = {"pelvis": (0,), "mid_hip": (1, 4)}


def pw3d_errors(pred: torch.Tensor, gt: torch.Tensor, root: str = "pelvis") -> dict[str, torch.Tensor]:
    """MPJPE and PA-MPJPE (N,) in mm of (N, 17, 3) H36M-17 joints under the 3DPW protocol: both skeletons
    centred on ``root`` (:data:`PW3D_ROOTS`), errors on :data:`PW3D_EVAL_JOINTS` only (PA-MPJPE after the
    similarity Procrustes of those 14, :func:`posebook.metrics.pa_mpjpe`)."""
    if root not in PW3D_ROOTS:
        raise ValueError(f"root must be one of {sorted(PW3D_ROOTS)}, got {root!r}")
    if pred.shape[-2:] != (17, 3) or gt.shape != pred.shape:
        raise ValueError(f"pred and gt must both be (N, 17, 3) H36M-17 joints, got {tuple(pred.shape)} and "
                         f"{tuple(gt.shape)}")
    keep, centre = list(PW3D_EVAL_JOINTS), list(PW3D_ROOTS[root])
    p = (pred - pred[..., centre, :].mean(dim=-2, keepdim=True))[..., keep, :]
    g = (gt - gt[..., centre, :].mean(dim=-2, keepdim=True))[..., keep, :]
    return {"mpjpe_mm": metrics.mpjpe(p, g), "pa_mpjpe_mm": metrics.pa_mpjpe(p, g)}


@dataclass(frozen=True)
class PW3DImages:
    """What an image model trains or is evaluated on in a 3DPW split: the rows, their ground truth and crops.

    Attributes:
        frames: the rows (:func:`load_3dpw`).
        joints: (N, 17, 3) pelvis-centred ground truth of :func:`smpl_h36m_joints`.
        joints_cam: (N, 17, 3) the same joints placed in the camera frame (metres).
        crops: :func:`~posebook.data.benchmarks.crops.benchmark_crops` of the rows.
        focal: (N,) (f_x + f_y) / 2.
        source: one line for a table's data source.
    """

    frames: BenchmarkData
    joints: torch.Tensor
    joints_cam: torch.Tensor
    crops: BenchmarkCrops
    focal: torch.Tensor
    source: str

    @property
    def keypoints_2d(self) -> torch.Tensor:
        """(N, 17, 2) float64 the placed joints projected by each row's intrinsics, full-image pixels."""
        K = torch.as_tensor(self.frames["K"], dtype=self.joints_cam.dtype, device=self.joints_cam.device)
        return camera.project(self.joints_cam, K)


def load_3dpw_images(data_root: str | Path, split: str, stride: int, crop_size: int,
                     device: torch.device | str | None = None) -> PW3DImages:
    """A 3DPW split as the image models see it: every ``stride``-th frame with a valid camera pose, the ground
    truth from the gendered SMPL meshes and the H36M regressor (found under ``data_root``:
    :func:`find_h36m_regressor`; the SMPL models in ``<data_root>/smpl/``, else ``$POSEBOOK_SMPL_DIR``) and
    ``crop_size``-pixel crops of the images (``<data_root>/3dpw/imageFiles/``).

    Raises:
        FileNotFoundError: a missing regressor, split, SMPL model or image, named (the regressor is looked
            for first).
    """
    root = Path(data_root).expanduser()
    regressor = load_h36m_regressor(find_h36m_regressor(root))
    frames = load_3dpw(root, split, stride=stride)
    smpl = root if any((root / "smpl").glob("SMPL_*")) else None
    placed = smpl_h36m_joints(frames, regressor, smpl, device=device, placed=True)
    folder = _dataset_dir(root, "3dpw", f"sequenceFiles/{split}")
    crops = benchmark_crops(frames, folder, crop_size)
    K = torch.from_numpy(frames["K"])
    source = (f"3DPW {split} ({folder}): {len(frames)} actor-frames of {len(np.unique(frames['sequence']))} "
              f"sequences, every {stride}th frame with a valid camera pose, {crop_size}-px crops of the real images")
    return PW3DImages(frames, placed - placed[:, :1], placed, crops, 0.5 * (K[:, 0, 0] + K[:, 1, 1]), source)
