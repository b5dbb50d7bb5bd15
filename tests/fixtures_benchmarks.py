"""Writers of tiny Human3.6M / 3DPW / MPI-INF-3DHP files in the exact public formats.

Used by tests/test_benchmarks.py. Each writer puts files where ``EXPECTED_LAYOUT`` says under
``root`` and returns what it wrote, so tests compare loaded values with the written ones. The
Human3.6M 2D ground truth is made the way VideoPose3D's prepare_data_h36m.py makes it (quaternion
world_to_camera, distorted projection in normalised screen coordinates, back to pixels), written
here from its published formulas, independently of posebook.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.io

# Published constants, restated here (not imported) so tests check the module against them.
H36M_CAMERA_RES = [(1000, 1002), (1000, 1000), (1000, 1000), (1000, 1002)]
H36M_SYMMETRY_17 = [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
H36M_JOINTS_TO_REMOVE = [4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31]
# MPI-INF-3DHP test cameras in pixels as the common lifting code states them (PoseAug et al.).
MPI_K_TS1_4 = np.array([[1500.172288, 0, 1017.38733568], [0, 1500.172288, 1043.03198208], [0, 0, 1]])
MPI_K_TS5_6 = np.array([[1683.98345952, 0, 939.85754016], [0, 1683.98345952, 560.14074317], [0, 0, 1]])


# --- VideoPose3D's camera model (common/quaternion.py, common/camera.py), in numpy ---------------

def vp3d_qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate v (..., 3) by unit quaternion q (4,) = (w, x, y, z)."""
    qvec = np.broadcast_to(q[1:], v.shape)
    uv = np.cross(qvec, v)
    uuv = np.cross(qvec, uv)
    return v + 2 * (q[0] * uv + uuv)


def vp3d_world_to_camera(X: np.ndarray, orientation, translation_mm) -> np.ndarray:
    """Camera-frame points, metres: qrot(q^-1, X - t)."""
    q = np.asarray(orientation, dtype=np.float64)
    q_inv = np.concatenate([q[:1], -q[1:]])
    return vp3d_qrot(q_inv, X - np.asarray(translation_mm, dtype=np.float64) / 1000.0)


def vp3d_project_to_pixels(X_cam: np.ndarray, cam: dict, distortion: bool = True) -> np.ndarray:
    """VideoPose3D project_to_2d on normalised intrinsics, then image_coordinates (pixels)."""
    w, h = cam["res_w"], cam["res_h"]
    f = np.asarray(cam["focal_length"]) / w * 2
    c = np.asarray(cam["center"]) / w * 2 - np.array([1, h / w])
    k = np.asarray(cam["radial_distortion"]) if distortion else np.zeros(3)
    p = np.asarray(cam["tangential_distortion"]) if distortion else np.zeros(2)
    XX = np.clip(X_cam[..., :2] / X_cam[..., 2:], -1, 1)
    r2 = np.sum(XX**2, axis=-1, keepdims=True)
    radial = 1 + np.sum(k * np.concatenate([r2, r2**2, r2**3], axis=-1), axis=-1, keepdims=True)
    tan = np.sum(p * XX, axis=-1, keepdims=True)
    XXX = XX * (radial + tan) + p * r2
    screen = f * XXX + c
    return (screen + np.array([1, h / w])) * w / 2


def _random_motion(rng: np.random.Generator, n_frames: int, n_joints: int, centre) -> np.ndarray:
    """A body-sized joint cloud drifting slowly around ``centre``: (T, J, 3)."""
    base = rng.normal(scale=0.25, size=(n_joints, 3))
    drift = np.cumsum(rng.normal(scale=0.01, size=(n_frames, 1, 3)), axis=0)
    return np.asarray(centre) + base + drift


# --- Human3.6M -----------------------------------------------------------------------------------

def write_h36m(root: Path, cameras: list[dict], extrinsics: dict, subjects=("S1", "S9", "S11"),
               actions=("Directions", "Directions 1", "Walking"), n_frames: int = 10,
               extra_detection_frames: int = 3, seed: int = 0) -> dict:
    """Write h36m/data_3d_h36m.npz, data_2d_h36m_gt.npz and data_2d_h36m_cpn_ft_h36m_dbb.npz.

    ``cameras``/``extrinsics`` are the published constants (VideoPose3D layout). The detection file
    has extra trailing frames (as some real videos do) and an unlabeled subject S2 with no 3D.
    Returns {'positions_3d', 'positions_2d_gt', 'positions_2d_det'} as written.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "h36m"
    folder.mkdir(parents=True, exist_ok=True)
    keep = [j for j in range(32) if j not in H36M_JOINTS_TO_REMOVE]
    positions_3d, gt_2d, det_2d = {}, {}, {}
    for subject in subjects:
        positions_3d[subject], gt_2d[subject], det_2d[subject] = {}, {}, {}
        for action in actions:
            X = _random_motion(rng, n_frames, 32, (0.0, 0.0, 0.9)).astype(np.float32)
            positions_3d[subject][action] = X
            per_cam_gt, per_cam_det = [], []
            for cam, ext in zip(cameras, extrinsics[subject], strict=True):
                X_cam = vp3d_world_to_camera(X[:, keep].astype(np.float64), ext["orientation"], ext["translation"])
                uv = vp3d_project_to_pixels(X_cam, cam).astype(np.float32)
                per_cam_gt.append(uv)
                extra = uv[-1:] + rng.normal(scale=2.0, size=(extra_detection_frames, 17, 2)).astype(np.float32)
                noisy = uv + rng.normal(scale=3.0, size=uv.shape).astype(np.float32)
                per_cam_det.append(np.concatenate([noisy, extra]).astype(np.float32))
            gt_2d[subject][action] = per_cam_gt
            det_2d[subject][action] = per_cam_det
    det_2d["S2"] = {"Walking": [rng.normal(500, 50, size=(n_frames, 17, 2)).astype(np.float32) for _ in range(4)]}

    np.savez_compressed(folder / "data_3d_h36m.npz", positions_3d=positions_3d)
    np.savez_compressed(folder / "data_2d_h36m_gt.npz", positions_2d=gt_2d,
                        metadata={"num_joints": 17, "keypoints_symmetry": H36M_SYMMETRY_17})
    np.savez_compressed(folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz", positions_2d=det_2d,
                        metadata={"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": H36M_SYMMETRY_17})
    return {"positions_3d": positions_3d, "positions_2d_gt": gt_2d, "positions_2d_det": det_2d}


# --- 3DPW ----------------------------------------------------------------------------------------

def _rotation(rng: np.random.Generator, max_angle: float) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    axis = rng.normal(size=3)
    return Rotation.from_rotvec(axis / np.linalg.norm(axis) * rng.uniform(0, max_angle)).as_matrix()


def write_3dpw(root: Path, split: str = "test", actors: dict | None = None, n_frames: int = 10,
               seed: int = 1) -> dict:
    """Write 3dpw/sequenceFiles/<split>/<sequence>.pkl, one per entry of ``actors`` {name: count}.

    Keys and types follow the released files (protocol-2 pickles of dicts of lists of float64
    arrays). Returns {sequence: dict written}.
    """
    rng = np.random.default_rng(seed)
    actors = actors or {"downtown_walking_00": 2, "outdoors_fencing_01": 1}
    folder = Path(root) / "3dpw" / "sequenceFiles" / split
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, count in actors.items():
        cam_poses = np.zeros((n_frames, 4, 4))
        for i in range(n_frames):
            cam_poses[i, :3, :3] = _rotation(rng, 0.3)
            cam_poses[i, :3, 3] = rng.normal(scale=0.2, size=3) + np.array([0.0, 0.0, 3.5])
            cam_poses[i, 3, 3] = 1.0
        valid = [np.ones(n_frames, dtype=bool) for _ in range(count)]
        for v in valid:
            v[rng.choice(n_frames, size=3, replace=False)] = False
        poses2d = []
        for _ in range(count):
            kp = rng.uniform(0, 1080, size=(n_frames, 3, 18))
            kp[:, 2] = rng.uniform(0, 1, size=(n_frames, 18))
            poses2d.append(kp)
        data = {
            "sequence": name,
            "genders": ["m", "f"][:count],
            "betas": [rng.normal(size=10) for _ in range(count)],
            "betas_clothed": [rng.normal(size=10) for _ in range(count)],
            "v_template_clothed": [np.zeros((6890, 3)) for _ in range(count)],
            "poses": [rng.normal(scale=0.3, size=(n_frames, 72)) for _ in range(count)],
            "trans": [rng.normal(size=(n_frames, 3)) for _ in range(count)],
            "poses_60Hz": [rng.normal(scale=0.3, size=(2 * n_frames, 72)) for _ in range(count)],
            "trans_60Hz": [rng.normal(size=(2 * n_frames, 3)) for _ in range(count)],
            "jointPositions": [_random_motion(rng, n_frames, 24, (0.0, 0.0, 0.0)).reshape(n_frames, 72)
                               for _ in range(count)],
            "poses2d": poses2d,
            "cam_poses": cam_poses,
            "cam_intrinsics": np.array([[1961.9, 0.0, 540.0], [0.0, 1969.2, 960.0], [0.0, 0.0, 1.0]]),
            "img_frame_ids": np.arange(n_frames) * 2 + 5,
            "campose_valid": valid,
        }
        with open(folder / f"{name}.pkl", "wb") as f:
            pickle.dump(data, f, protocol=2)
        written[name] = data
    return written


def write_3dpw_images(root: Path, written: dict, size=(1080, 1920), seed: int = 2) -> list[Path]:
    """imageFiles/<sequence>/image_<frame:05d>.jpg for every frame of the sequences ``write_3dpw`` wrote:
    smooth random colour fields (JPEG keeps them), one per frame, ``size`` = (W, H) as 3DPW's portrait frames."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for name, data in written.items():
        folder = Path(root) / "3dpw" / "imageFiles" / name
        folder.mkdir(parents=True, exist_ok=True)
        for frame in range(len(data["cam_poses"])):
            coarse = rng.integers(0, 256, size=(12, 8, 3), dtype=np.uint8)
            image = Image.fromarray(coarse).resize(size, Image.Resampling.BILINEAR)
            paths.append(folder / f"image_{frame:05d}.jpg")
            image.save(paths[-1], quality=90)
    return paths


def write_h36m_regressor(path: Path, seed: int = 3, num_vertices: int = 6890) -> np.ndarray:
    """A (17, num_vertices) .npy whose rows are convex combinations of 20 vertices, like the real one."""
    rng = np.random.default_rng(seed)
    J = np.zeros((17, num_vertices))
    for j in range(17):
        idx = rng.choice(num_vertices, 20, replace=False)
        w = rng.random(20)
        J[j, idx] = w / w.sum()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, J)
    return J


# --- MPI-INF-3DHP --------------------------------------------------------------------------------

_MAT73_HEADER = (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  8 10:00:00 2018 "
                 b"HDF5 schema 1.00 .")


def write_mat73(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A MATLAB v7.3 file: HDF5 with a 512-byte MATLAB header block; ``arrays`` in h5py order
    (MATLAB dimensions reversed), stored as doubles."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        for key, value in arrays.items():
            ds = f.create_dataset(key, data=np.asarray(value, dtype=np.float64))
            ds.attrs["MATLAB_class"] = np.bytes_("double")
    with open(path, "r+b") as f:
        f.write(_MAT73_HEADER.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")


def write_mpi_inf_3dhp(root: Path, sequences=("TS1", "TS5"), n_frames: int = 12, fmt: str = "v7.3",
                       seed: int = 2, omit: tuple[str, ...] = ()) -> dict:
    """Write mpi_inf_3dhp/mpi_inf_3dhp_test_set/TS<k>/annot_data.mat for each sequence.

    MATLAB shapes as documented by the test set README: annot2 2x17x1xN (pixels), annot3 and
    univ_annot3 3x17x1xN (camera frame, mm), valid_frame 1xN, activity_annotation 1xN (codes 1..7).
    ``fmt`` "v7.3" (HDF5, as released) or "v5" (scipy.io.savemat). ``omit`` drops keys.
    Returns {sequence: arrays in h5py order}.
    """
    rng = np.random.default_rng(seed)
    written = {}
    for ts in sequences:
        K = MPI_K_TS1_4 if ts in ("TS1", "TS2", "TS3", "TS4") else MPI_K_TS5_6
        X = _random_motion(rng, n_frames, 17, (0.1, 0.2, 4.0)) * 1000.0  # camera frame, mm
        uv = np.einsum("ij,tkj->tki", K, X)
        uv = uv[..., :2] / uv[..., 2:]
        valid = np.ones(n_frames)
        valid[rng.choice(n_frames, size=4, replace=False)] = 0
        arrays = {
            "annot2": uv[:, None],
            "annot3": X[:, None],
            "univ_annot3": (X * 0.95)[:, None],
            "valid_frame": valid[:, None],
            "activity_annotation": rng.integers(1, 8, size=n_frames)[:, None].astype(np.float64),
        }
        arrays = {k: v for k, v in arrays.items() if k not in omit}
        folder = Path(root) / "mpi_inf_3dhp" / "mpi_inf_3dhp_test_set" / ts
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "annot_data.mat"
        if fmt == "v7.3":
            write_mat73(path, arrays)
        elif fmt == "v5":
            scipy.io.savemat(path, {k: v.T for k, v in arrays.items()})
        else:
            raise ValueError(fmt)
        written[ts] = arrays
    return written
