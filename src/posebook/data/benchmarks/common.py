"""What the benchmark loaders share: where the files live and the common result.

:data:`EXPECTED_LAYOUT` is the folder layout under ``data_root`` the loaders read,
:data:`DATASET_PAGES` where each dataset is obtained, :func:`find_benchmarks` reports which files
exist. Every loader returns a :class:`BenchmarkData`: one row per (frame, camera or actor), every
array with that row count first, camera-frame 3D joints in metres under the OpenCV convention
(``x_cam = R @ x_world + t``), and intrinsics ``K`` per row, so the same evaluation code runs on all
three. Arrays are numpy (the files' dtype: float32 for Human3.6M, float64 for 3DPW/MPI-INF-3DHP);
:meth:`BenchmarkData.to_torch` converts at the model boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------------------------
# Where the files live
# ----------------------------------------------------------------------------------------------

#: Relative paths, under ``data_root``, of the files the loaders read (``*`` = any name).
EXPECTED_LAYOUT: dict[str, str] = {
    "h36m_3d": "h36m/data_3d_h36m.npz",
    "h36m_2d_gt": "h36m/data_2d_h36m_gt.npz",
    "h36m_2d_cpn_ft_h36m_dbb": "h36m/data_2d_h36m_cpn_ft_h36m_dbb.npz",
    "3dpw_train": "3dpw/sequenceFiles/train/*.pkl",
    "3dpw_validation": "3dpw/sequenceFiles/validation/*.pkl",
    "3dpw_test": "3dpw/sequenceFiles/test/*.pkl",
    "mpi_inf_3dhp_test": "mpi_inf_3dhp/mpi_inf_3dhp_test_set/TS*/annot_data.mat",
}

#: Official pages where each dataset is obtained (registration required).
DATASET_PAGES: dict[str, str] = {
    "h36m": "http://vision.imar.ro/human3.6m "
    "(then convert with VideoPose3D's data/prepare_data_h36m.py, see its DATASETS.md; "
    "CPN detections: data_2d_h36m_cpn_ft_h36m_dbb.npz from the VideoPose3D repository)",
    "3dpw": "https://virtualhumans.mpi-inf.mpg.de/3DPW (sequenceFiles.zip)",
    "mpi_inf_3dhp": "https://vcai.mpi-inf.mpg.de/3dhp-dataset (mpi_inf_3dhp_test_set.zip)",
}

_SUBDIR = {"h36m": "h36m", "3dpw": "3dpw", "mpi_inf_3dhp": "mpi_inf_3dhp"}
_3DPW_SPLITS = ("train", "validation", "test")
_3DHP_SEQUENCES = tuple(f"TS{k}" for k in range(1, 7))


def find_benchmarks(data_root: str | Path) -> dict[str, Path | None]:
    """Report which standard benchmark files exist under ``data_root`` (layout: EXPECTED_LAYOUT).

    Args:
        data_root: folder holding ``h36m/``, ``3dpw/`` and ``mpi_inf_3dhp/``.
    Returns:
        ``{name: path or None}`` for every key of :data:`EXPECTED_LAYOUT`: the file for single-file
        entries; the folder for the 3DPW splits (when it holds at least one ``.pkl``) and for the
        MPI-INF-3DHP test set (when all six ``TS1..TS6/annot_data.mat`` exist); ``None`` otherwise.
    """
    root = Path(data_root).expanduser()
    found: dict[str, Path | None] = {}
    for name, rel in EXPECTED_LAYOUT.items():
        if name == "mpi_inf_3dhp_test":
            test_dir = root / "mpi_inf_3dhp" / "mpi_inf_3dhp_test_set"
            complete = all((test_dir / ts / "annot_data.mat").is_file() for ts in _3DHP_SEQUENCES)
            found[name] = test_dir if complete else None
        elif "*" in rel:
            folder = root / Path(rel).parent
            found[name] = folder if folder.is_dir() and any(folder.glob("*.pkl")) else None
        else:
            path = root / rel
            found[name] = path if path.is_file() else None
    return found


def _dataset_dir(root: str | Path, dataset: str, marker: str) -> Path:
    """The dataset folder: ``root/<subdir>`` (a data_root) or ``root`` itself, whichever holds marker."""
    root = Path(root).expanduser()
    candidates = [root / _SUBDIR[dataset], root]
    for folder in candidates:
        if (folder / marker).exists():
            return folder
    looked = ", ".join(str(folder / marker) for folder in candidates)
    raise FileNotFoundError(
        f"{dataset}: expected '{marker}' (data_root layout: '{_SUBDIR[dataset]}/{marker}'); "
        f"looked for {looked}. Get it from {DATASET_PAGES[dataset]}."
    )


# ----------------------------------------------------------------------------------------------
# The common result
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchmarkData:
    """Rows of a benchmark: every array in ``arrays`` has the same leading length N.

    Keys shared by all loaders:
        ``joints_3d_cam``: (N, J3, 3) camera-frame joints, metres, OpenCV axes (x right, y down, z fwd);
        ``joints_2d``: (N, J2, 2) pixel (u, v) joints; ``K``: (N, 3, 3) intrinsics;
        ``frame``: (N,) frame index in the source sequence; ``sequence``: (N,) str.

    Each loader's docstring lists its other keys.

    Attributes:
        dataset: "h36m", "3dpw" or "mpi_inf_3dhp".
        arrays: the columns, name -> array with leading dimension N.
        joint_names_3d, joint_names_2d: names of the J3 / J2 joints, in array order.
        parents_3d: parent index of each 3D joint (-1 for the root).
        sources: the files read.
    """

    dataset: str
    arrays: dict[str, np.ndarray]
    joint_names_3d: tuple[str, ...]
    joint_names_2d: tuple[str, ...]
    parents_3d: tuple[int, ...]
    sources: tuple[Path, ...] = field(default=())

    def __post_init__(self) -> None:
        lengths = {k: len(v) for k, v in self.arrays.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"BenchmarkData columns differ in length: {lengths}")

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self.arrays[key]
        except KeyError:
            raise KeyError(f"{self.dataset} data has no column '{key}'; columns: {sorted(self.arrays)}") from None

    def __contains__(self, key: object) -> bool:
        return key in self.arrays

    def keys(self) -> list[str]:
        return list(self.arrays)

    def select(self, rows: np.ndarray | Sequence[int] | slice) -> BenchmarkData:
        """The same data restricted to ``rows`` (boolean mask, indices or slice)."""
        picked = {k: v[rows] for k, v in self.arrays.items()}
        return BenchmarkData(self.dataset, picked, self.joint_names_3d, self.joint_names_2d,
                             self.parents_3d, self.sources)

    def table(self):
        """A pandas DataFrame of the one-dimensional columns (labels, frame indices, flags)."""
        import pandas as pd

        return pd.DataFrame({k: v for k, v in self.arrays.items() if v.ndim == 1})

    def to_torch(self, *keys: str, device=None, dtype=None) -> dict[str, Any]:
        """Numeric columns as torch tensors (all numeric ones if no key is named).

        Args:
            keys: column names; string columns are refused.
            device, dtype: target of floating columns (dtype None keeps the file's precision).
        Returns:
            ``{name: tensor}`` with the same shapes as the arrays.
        """
        import torch

        names = keys or [k for k, v in self.arrays.items() if v.dtype.kind in "biuf"]
        out = {}
        for k in names:
            v = self[k]
            if v.dtype.kind not in "biuf":
                raise ValueError(f"column '{k}' holds {v.dtype} values and has no tensor form")
            t = torch.from_numpy(np.ascontiguousarray(v)).to(device)
            out[k] = t.to(dtype) if dtype is not None and t.is_floating_point() else t
        return out


def _concat(parts: list[dict[str, np.ndarray]], what: str) -> dict[str, np.ndarray]:
    if not parts:
        raise ValueError(f"{what}: the selection is empty (no frames left)")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _to_camera(points: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """x_cam = R x + t for points (N, J, 3), R (N, 3, 3), t (N, 3)."""
    return np.einsum("nij,nkj->nki", R, points) + t[:, None, :]


def _intrinsics(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
