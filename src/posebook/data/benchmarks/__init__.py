"""Loaders for the standard preprocessed files of Human3.6M, 3DPW and MPI-INF-3DHP.

The five papers evaluate on these benchmarks (DESIGN.md, data strategy item 4). Their data are
licensed and never shipped: a user downloads them and points ``data_root`` at a folder laid out as
:data:`EXPECTED_LAYOUT` says. Each loader reads the public file format exactly as released:

- Human3.6M, VideoPose3D-style ``.npz`` files (``data/prepare_data_h36m.py`` of
  facebookresearch/VideoPose3D): ``positions_3d`` = pickled ``{subject: {action: (T, 32, 3)}}``
  float32 metres in the world frame (z up); ``positions_2d`` = ``{subject: {action: [4 x (T, J, 2)]}}``
  pixels, one array per camera, ``metadata`` = ``{'num_joints', 'keypoints_symmetry'[, 'layout_name']}``.
- 3DPW, ``sequenceFiles/<split>/<sequence>.pkl`` (Python-2 pickles, read with ``latin1``).
- MPI-INF-3DHP test set, ``mpi_inf_3dhp_test_set/TS<k>/annot_data.mat`` (MATLAB v7.3 = HDF5, read
  with h5py; a MATLAB v5 copy is read with scipy).

Every loader returns a :class:`BenchmarkData`: one row per (frame, camera or actor), every array
with that row count first, camera-frame 3D joints in metres under the OpenCV convention
(``x_cam = R @ x_world + t``), and intrinsics ``K`` per row, so the same evaluation code runs on all
three. Arrays are numpy (the files' dtype: float32 for Human3.6M, float64 for 3DPW/MPI-INF-3DHP);
:meth:`BenchmarkData.to_torch` converts at the model boundary.

The ``.npz`` and ``.pkl`` files contain pickles, which can run code when loaded: only load files
obtained from the official sources.

Modules, one job each:

- :mod:`~posebook.data.benchmarks.common`: :data:`EXPECTED_LAYOUT`, :data:`DATASET_PAGES`,
  :func:`find_benchmarks`, :class:`BenchmarkData` and the helpers the loaders share;
- :mod:`~posebook.data.benchmarks.h36m`: Human3.6M cameras, subject split, :func:`load_h36m`;
- :mod:`~posebook.data.benchmarks.pw3d`: 3DPW, :func:`read_3dpw_sequence`, :func:`load_3dpw`;
- :mod:`~posebook.data.benchmarks.mpi_inf_3dhp`: the MPI-INF-3DHP test set,
  :func:`load_mpi_inf_3dhp`.

The joint sets of the three datasets (names, parents, left/right pairs) live with the other
skeletons in :mod:`posebook.body.skeletons`; they are re-exported here.
"""

from posebook.body.skeletons import (
    COCO18_NAMES,
    H36M17_FROM_32,
    H36M17_NAMES,
    H36M17_PARENTS,
    H36M17_SYMMETRY,
    H36M32_PARENTS,
    H36M_JOINTS_TO_REMOVE,
    MPI_INF_3DHP17_NAMES,
    MPI_INF_3DHP17_PARENTS,
    SMPL24_NAMES,
    SMPL24_PARENTS,
)
from posebook.data.benchmarks.common import (
    DATASET_PAGES,
    EXPECTED_LAYOUT,
    BenchmarkData,
    find_benchmarks,
)
from posebook.data.benchmarks.h36m import (
    H36M_CAMERAS,
    H36M_EXTRINSICS,
    H36M_TEST_SUBJECTS,
    H36M_TRAIN_SUBJECTS,
    h36m_extrinsics,
    h36m_intrinsics,
    load_h36m,
)
from posebook.data.benchmarks.mpi_inf_3dhp import (
    MPI_INF_3DHP_ACTIVITIES,
    MPI_INF_3DHP_TEST_CAMERAS,
    MPI_INF_3DHP_VALID_FRAMES,
    load_mpi_inf_3dhp,
    mpi_inf_3dhp_intrinsics,
    read_mat_annotations,
)
from posebook.data.benchmarks.pw3d import PW3D_REQUIRED_KEYS, load_3dpw, read_3dpw_sequence

__all__ = [
    # common
    "EXPECTED_LAYOUT",
    "DATASET_PAGES",
    "find_benchmarks",
    "BenchmarkData",
    # Human3.6M
    "H36M_TRAIN_SUBJECTS",
    "H36M_TEST_SUBJECTS",
    "H36M_CAMERAS",
    "H36M_EXTRINSICS",
    "h36m_intrinsics",
    "h36m_extrinsics",
    "load_h36m",
    # 3DPW
    "PW3D_REQUIRED_KEYS",
    "read_3dpw_sequence",
    "load_3dpw",
    # MPI-INF-3DHP
    "MPI_INF_3DHP_ACTIVITIES",
    "MPI_INF_3DHP_VALID_FRAMES",
    "MPI_INF_3DHP_TEST_CAMERAS",
    "mpi_inf_3dhp_intrinsics",
    "read_mat_annotations",
    "load_mpi_inf_3dhp",
    # joint sets, from posebook.body.skeletons
    "H36M32_PARENTS",
    "H36M_JOINTS_TO_REMOVE",
    "H36M17_FROM_32",
    "H36M17_NAMES",
    "H36M17_PARENTS",
    "H36M17_SYMMETRY",
    "SMPL24_NAMES",
    "SMPL24_PARENTS",
    "COCO18_NAMES",
    "MPI_INF_3DHP17_NAMES",
    "MPI_INF_3DHP17_PARENTS",
]
