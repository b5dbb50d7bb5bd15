"""MPI-INF-3DHP test set, from ``mpi_inf_3dhp_test_set/TS<k>/annot_data.mat`` (MATLAB v7.3 =
HDF5, read with h5py; a MATLAB v5 copy is read with scipy).

The 17 test-set joints are in :mod:`posebook.body.skeletons`; the activities, valid-frame counts
and test cameras are here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posebook.body.skeletons import MPI_INF_3DHP17_NAMES, MPI_INF_3DHP17_PARENTS
from posebook.data.benchmarks.common import (
    _3DHP_SEQUENCES,
    DATASET_PAGES,
    BenchmarkData,
    _concat,
    _intrinsics,
)

# ----------------------------------------------------------------------------------------------
# MPI-INF-3DHP test set (mpi_inf_3dhp_test_set/TS*/annot_data.mat)
# ----------------------------------------------------------------------------------------------
#: 'activity_annotation' codes 1..7.
MPI_INF_3DHP_ACTIVITIES: tuple[str, ...] = (
    "Stand/Walk", "Exercise", "Sit on Chair", "Reach/Crouch", "On Floor", "Sports", "Misc.",
)
#: Valid (evaluated) frames per sequence, the weights in the official README (2,929 in all).
MPI_INF_3DHP_VALID_FRAMES: dict[str, int] = {"TS1": 603, "TS2": 540, "TS3": 505, "TS4": 553, "TS5": 276, "TS6": 452}
#: Test cameras as published in ``test_util/camera_calibration/*.calib`` of the test set: sensor and
#: focal length and principal-point offset from the sensor centre in millimetres.
MPI_INF_3DHP_TEST_CAMERAS: dict[str, dict[str, Any]] = {
    "studio": {"sequences": ("TS1", "TS2", "TS3", "TS4"), "image_size": (2048, 2048),
               "sensor_mm": (10.0, 10.0), "focal_mm": 7.32506, "center_offset_mm": (-0.0322884, 0.0929296),
               "scene": ("studio, green screen", "studio, green screen", "studio", "studio")},
    "outdoor": {"sequences": ("TS5", "TS6"), "image_size": (1920, 1080),
                "sensor_mm": (10.0, 5.625), "focal_mm": 8.770747185,
                "center_offset_mm": (-0.104908645, 0.104899704), "scene": ("outdoor", "outdoor")},
}
_3DHP_REQUIRED_KEYS = ("annot2", "annot3", "univ_annot3", "valid_frame", "activity_annotation")


def mpi_inf_3dhp_intrinsics(sequence: str) -> np.ndarray:
    """Pinhole K (3, 3), pixels, of a test sequence's camera, from the published calibration.

    f_px = f_mm * width_px / sensor_width_mm (equal for both axes: the square-pixel convention of
    the common evaluation code); c = image_size / 2 + offset_mm * px_per_mm.
    TS1-4: fx = fy = 1500.1723, (cx, cy) = (1017.3873, 1043.0320); TS5-6: 1683.9835, (939.8575, 560.1407).
    """
    for cam in MPI_INF_3DHP_TEST_CAMERAS.values():
        if sequence in cam["sequences"]:
            (w, h), (sw, sh) = cam["image_size"], cam["sensor_mm"]
            f = cam["focal_mm"] * w / sw
            cx = w / 2 + cam["center_offset_mm"][0] * w / sw
            cy = h / 2 + cam["center_offset_mm"][1] * h / sh
            return _intrinsics(f, f, cx, cy)
    raise ValueError(f"unknown MPI-INF-3DHP test sequence {sequence!r}; expected one of {_3DHP_SEQUENCES}")


def read_mat_annotations(path: str | Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Read named arrays from a MATLAB file, v7.3 (HDF5, via h5py) or v5 (via scipy).

    HDF5 stores MATLAB arrays with their dimensions reversed, so h5py sees a MATLAB 2x17x1xN matrix as
    (N, 1, 17, 2); v5 arrays read by scipy keep MATLAB's order and are transposed here to the same
    (N, ..., 2) layout. Returns arrays in that h5py layout.
    """
    from scipy.io import loadmat
    from scipy.io.matlab import matfile_version

    path = Path(path)
    try:
        major, _ = matfile_version(str(path))
    except (ValueError, OSError) as err:
        raise ValueError(f"{path}: not a MATLAB .mat file ({err})") from err
    if major == 2:
        try:
            import h5py
        except ImportError as err:
            raise ImportError(
                f"{path} is a MATLAB v7.3 (HDF5) file and reading it needs h5py: pip install h5py"
            ) from err
        with h5py.File(path, "r") as f:
            absent = [k for k in keys if k not in f]
            if absent:
                raise ValueError(f"{path}: missing key '{absent[0]}' (keys present: {sorted(f.keys())})")
            return {k: np.asarray(f[k]) for k in keys}
    mat = loadmat(str(path))
    absent = [k for k in keys if k not in mat]
    if absent:
        present = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path}: missing key '{absent[0]}' (keys present: {present})")
    return {k: np.asarray(mat[k]).T for k in keys}


def _joint_array(a: np.ndarray, path: Path, key: str, dim: int) -> np.ndarray:
    """(N, 1, 17, dim) or (N, 17, dim) -> (N, 17, dim)."""
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3 or a.shape[1:] != (17, dim):
        raise ValueError(f"{path}: '{key}' has shape {a.shape} (h5py order), expected (N, 1, 17, {dim})")
    return a


def load_mpi_inf_3dhp(
    root: str | Path,
    sequences: Sequence[str | int] | None = None,
    valid_only: bool = True,
    stride: int = 1,
) -> BenchmarkData:
    """Load the MPI-INF-3DHP test set from ``mpi_inf_3dhp_test_set/TS<k>/annot_data.mat``.

    Args:
        root: data_root (holding ``mpi_inf_3dhp/mpi_inf_3dhp_test_set/``), the ``mpi_inf_3dhp`` folder,
            or the ``mpi_inf_3dhp_test_set`` folder itself.
        sequences: "TS1".."TS6" or 1..6; None = all six.
        valid_only: keep only frames with ``valid_frame`` set (the 2,929 evaluated frames).
        stride: keep every ``stride``-th frame (applied before the validity filter).
    Returns:
        BenchmarkData with ``joints_3d_cam`` (N, 17, 3) from 'annot3', camera frame, metres;
        ``joints_3d_univ`` (N, 17, 3) from 'univ_annot3' (scaled to the universal Human3.6M
        skeleton height; the standard evaluation target), metres; ``joints_2d`` (N, 17, 2) from
        'annot2', pixels; ``K`` (N, 3, 3); ``image_size`` (N, 2); ``valid`` (N,) bool;
        ``activity`` (N,) int code 1..7 and ``activity_name`` (N,) str; ``scene`` (N,) str;
        ``sequence`` (N,) "TS1"..; ``frame`` (N,) 0-based; ``image_path`` (N,)
        "mpi_inf_3dhp_test_set/TS<k>/imageSequence/img_<frame+1:06d>.jpg".
    """
    if stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride}")
    names = list(_3DHP_SEQUENCES) if sequences is None else [
        f"TS{s}" if isinstance(s, (int, np.integer)) else str(s) for s in sequences
    ]
    unknown = [s for s in names if s not in _3DHP_SEQUENCES]
    if unknown:
        raise ValueError(f"unknown MPI-INF-3DHP test sequences {unknown}; expected among {_3DHP_SEQUENCES}")

    base = Path(root).expanduser()
    candidates = [base / "mpi_inf_3dhp" / "mpi_inf_3dhp_test_set", base / "mpi_inf_3dhp_test_set", base]
    test_dir = next((c for c in candidates if (c / names[0] / "annot_data.mat").is_file()), candidates[0])
    parts: list[dict[str, np.ndarray]] = []
    sources = []
    for ts in names:
        path = test_dir / ts / "annot_data.mat"
        if not path.is_file():
            looked = ", ".join(str(c / ts / "annot_data.mat") for c in candidates)
            raise FileNotFoundError(
                f"MPI-INF-3DHP: expected '{ts}/annot_data.mat' (data_root layout: "
                f"'mpi_inf_3dhp/mpi_inf_3dhp_test_set/{ts}/annot_data.mat'); looked for {looked}. "
                f"Get mpi_inf_3dhp_test_set from {DATASET_PAGES['mpi_inf_3dhp']}."
            )
        raw = read_mat_annotations(path, _3DHP_REQUIRED_KEYS)
        annot2 = _joint_array(raw["annot2"], path, "annot2", 2)
        annot3 = _joint_array(raw["annot3"], path, "annot3", 3)
        univ3 = _joint_array(raw["univ_annot3"], path, "univ_annot3", 3)
        valid = raw["valid_frame"].reshape(-1)
        activity = raw["activity_annotation"].reshape(-1)
        n_frames = annot2.shape[0]
        sizes = {"annot3": len(annot3), "univ_annot3": len(univ3), "valid_frame": len(valid),
                 "activity_annotation": len(activity)}
        for key, size in sizes.items():
            if size != n_frames:
                raise ValueError(f"{path}: '{key}' has {size} frames but 'annot2' has {n_frames}")
        frames = np.arange(0, n_frames, stride)
        if valid_only:
            frames = frames[valid[frames] != 0]
        n = len(frames)
        cam = next(c for c in MPI_INF_3DHP_TEST_CAMERAS.values() if ts in c["sequences"])
        codes = activity[frames].astype(np.int64)
        parts.append({
            "joints_3d_cam": annot3[frames].astype(np.float64) / 1000.0,
            "joints_3d_univ": univ3[frames].astype(np.float64) / 1000.0,
            "joints_2d": annot2[frames].astype(np.float64),
            "K": np.broadcast_to(mpi_inf_3dhp_intrinsics(ts), (n, 3, 3)),
            "image_size": np.broadcast_to(np.array(cam["image_size"]), (n, 2)),
            "valid": valid[frames] != 0,
            "activity": codes,
            "activity_name": np.array([MPI_INF_3DHP_ACTIVITIES[c - 1] if 1 <= c <= 7 else "unknown"
                                       for c in codes]),
            "scene": np.full(n, cam["scene"][cam["sequences"].index(ts)]),
            "sequence": np.full(n, ts),
            "frame": frames,
            "image_path": np.array([f"mpi_inf_3dhp_test_set/{ts}/imageSequence/img_{i + 1:06d}.jpg"
                                    for i in frames]),
        })
        sources.append(path)
    arrays = _concat(parts, f"MPI-INF-3DHP {names}")
    return BenchmarkData("mpi_inf_3dhp", arrays, MPI_INF_3DHP17_NAMES, MPI_INF_3DHP17_NAMES,
                         MPI_INF_3DHP17_PARENTS, tuple(sources))
