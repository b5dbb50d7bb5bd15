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
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Iterable, Sequence
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


# ----------------------------------------------------------------------------------------------
# Human3.6M (VideoPose3D files)
# ----------------------------------------------------------------------------------------------

#: Parents of the 32 mocap joints (VideoPose3D common/h36m_dataset.py, h36m_skeleton).
H36M32_PARENTS: tuple[int, ...] = (
    -1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12,
    16, 17, 18, 19, 20, 19, 22, 12, 24, 25, 26, 27, 28, 27, 30,
)
#: Static or duplicate joints VideoPose3D removes to get the standard 17.
H36M_JOINTS_TO_REMOVE: tuple[int, ...] = (4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31)
#: Indices of the 17 standard joints among the 32.
H36M17_FROM_32: tuple[int, ...] = tuple(j for j in range(32) if j not in H36M_JOINTS_TO_REMOVE)
#: Names of the 17 joints (3d-pose-baseline's H36M_NAMES for the kept indices).
H36M17_NAMES: tuple[str, ...] = (
    "Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax",
    "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
)
#: Parents of the 17 joints: the 32-joint tree with removed joints skipped and both shoulders
#: re-attached to the thorax (8), as VideoPose3D's Human36mDataset does.
H36M17_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
#: Left/right joint indices of the 17 (the 'keypoints_symmetry' of the 2D files' metadata).
H36M17_SYMMETRY: tuple[tuple[int, ...], tuple[int, ...]] = ((4, 5, 6, 11, 12, 13), (1, 2, 3, 14, 15, 16))
#: Standard protocol split (Protocols #1/#2): train on five subjects, test on two.
H36M_TRAIN_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
H36M_TEST_SUBJECTS: tuple[str, ...] = ("S9", "S11")

#: The four cameras, in the order of the 2D files' per-camera lists (VideoPose3D
#: h36m_cameras_intrinsic_params): pixels; distortion = radial (k1, k2, k3), tangential (p1, p2).
H36M_CAMERAS: tuple[dict[str, Any], ...] = (
    {
        "id": "54138969",
        "center": (512.54150390625, 515.4514770507812),
        "focal_length": (1145.0494384765625, 1143.7811279296875),
        "radial_distortion": (-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
        "tangential_distortion": (-0.0009756988729350269, -0.00142447161488235),
        "res_w": 1000,
        "res_h": 1002,
    },
    {
        "id": "55011271",
        "center": (508.8486328125, 508.0649108886719),
        "focal_length": (1149.6756591796875, 1147.5916748046875),
        "radial_distortion": (-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
        "tangential_distortion": (-0.0016190266469493508, -0.0027408944442868233),
        "res_w": 1000,
        "res_h": 1000,
    },
    {
        "id": "58860488",
        "center": (519.8158569335938, 501.40264892578125),
        "focal_length": (1149.1407470703125, 1148.7989501953125),
        "radial_distortion": (-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
        "tangential_distortion": (0.0014843869721516967, -0.0007599993259645998),
        "res_w": 1000,
        "res_h": 1000,
    },
    {
        "id": "60457274",
        "center": (514.9682006835938, 501.88201904296875),
        "focal_length": (1145.5113525390625, 1144.77392578125),
        "radial_distortion": (-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
        "tangential_distortion": (-0.0005872055771760643, -0.0018133620033040643),
        "res_w": 1000,
        "res_h": 1002,
    },
)

#: Per subject, per camera: 'orientation' = unit quaternion (w, x, y, z) rotating camera axes into
#: the world (camera-to-world), 'translation' = camera centre in the world, millimetres
#: (VideoPose3D h36m_cameras_extrinsic_params; world_to_camera(X) = q^-1 (X - translation)).
H36M_EXTRINSICS: dict[str, tuple[dict[str, tuple[float, ...]], ...]] = {
    "S1": (
        {"orientation": (0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
         "translation": (1841.1070556640625, 4955.28466796875, 1563.4454345703125)},
        {"orientation": (0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
         "translation": (1761.278564453125, -5078.0068359375, 1606.2650146484375)},
        {"orientation": (0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
         "translation": (-1846.7777099609375, 5215.04638671875, 1491.972412109375)},
        {"orientation": (0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
         "translation": (-1794.7896728515625, -3722.698974609375, 1574.8927001953125)},
    ),
    "S5": (
        {"orientation": (0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
         "translation": (2097.3916015625, 4880.94482421875, 1605.732421875)},
        {"orientation": (0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
         "translation": (2031.7008056640625, -5167.93310546875, 1612.923095703125)},
        {"orientation": (0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
         "translation": (-1620.5948486328125, 5171.65869140625, 1496.43701171875)},
        {"orientation": (0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
         "translation": (-1637.1737060546875, -3867.3173828125, 1547.033203125)},
    ),
    "S6": (
        {"orientation": (0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
         "translation": (1935.4517822265625, 4950.24560546875, 1618.0838623046875)},
        {"orientation": (0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
         "translation": (1969.803955078125, -5128.73876953125, 1632.77880859375)},
        {"orientation": (0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
         "translation": (-1769.596435546875, 5185.361328125, 1476.993408203125)},
        {"orientation": (0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
         "translation": (-1721.668701171875, -3884.13134765625, 1540.4879150390625)},
    ),
    "S7": (
        {"orientation": (0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
         "translation": (1974.512939453125, 4926.3544921875, 1597.8326416015625)},
        {"orientation": (0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
         "translation": (1937.0584716796875, -5119.7900390625, 1631.5665283203125)},
        {"orientation": (0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
         "translation": (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)},
        {"orientation": (0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
         "translation": (-1734.7105712890625, -3832.42138671875, 1548.5830078125)},
    ),
    "S8": (
        {"orientation": (0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
         "translation": (2150.65185546875, 4896.1611328125, 1611.9046630859375)},
        {"orientation": (0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
         "translation": (2219.965576171875, -5148.453125, 1613.0440673828125)},
        {"orientation": (0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
         "translation": (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)},
        {"orientation": (0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
         "translation": (-1476.913330078125, -3896.7412109375, 1547.97216796875)},
    ),
    "S9": (
        {"orientation": (0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
         "translation": (2044.45849609375, 4935.1171875, 1481.2275390625)},
        {"orientation": (0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
         "translation": (1990.959716796875, -5123.810546875, 1568.8048095703125)},
        {"orientation": (0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
         "translation": (-1670.9921875, 5211.98583984375, 1528.387939453125)},
        {"orientation": (0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
         "translation": (-1696.04345703125, -3827.099853515625, 1591.4127197265625)},
    ),
    "S11": (
        {"orientation": (0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
         "translation": (2098.440185546875, 4926.5546875, 1500.278564453125)},
        {"orientation": (0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
         "translation": (2083.182373046875, -4912.1728515625, 1561.07861328125)},
        {"orientation": (0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
         "translation": (-1609.8153076171875, 5177.3359375, 1537.896728515625)},
        {"orientation": (0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
         "translation": (-1590.738037109375, -3854.1689453125, 1578.017578125)},
    ),
}


def h36m_intrinsics(camera: int) -> np.ndarray:
    """Pinhole intrinsics K (3, 3), pixels, of Human3.6M camera ``camera`` (0..3); distortion excluded."""
    cam = H36M_CAMERAS[camera]
    (fx, fy), (cx, cy) = cam["focal_length"], cam["center"]
    return _intrinsics(fx, fy, cx, cy)


def h36m_extrinsics(subject: str, camera: int) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera rotation R (3, 3) and translation t (3,) metres: x_cam = R x_world + t.

    From VideoPose3D's (orientation q, centre C): x_cam = rot(q)^T (x_world - C), so R = rot(q)^T,
    t = -R C. float64.
    """
    import roma
    import torch

    if subject not in H36M_EXTRINSICS:
        raise ValueError(
            f"Human3.6M subject '{subject}' has no published camera extrinsics; "
            f"known subjects: {sorted(H36M_EXTRINSICS)}"
        )
    ext = H36M_EXTRINSICS[subject][camera]
    w, x, y, z = ext["orientation"]
    q = torch.tensor([x, y, z, w], dtype=torch.float64)  # roma is scalar-last
    R = roma.unitquat_to_rotmat(q / q.norm()).numpy().T
    t = -R @ (np.asarray(ext["translation"], dtype=np.float64) / 1000.0)
    return R, t


def _load_npz_object(path: Path, key: str) -> Any:
    """The pickled object stored under ``key`` in a VideoPose3D-style npz."""
    try:
        with np.load(path, allow_pickle=True) as npz:
            if key not in npz.files:
                raise ValueError(
                    f"{path}: missing key '{key}' (keys present: {list(npz.files)}); "
                    "expected a VideoPose3D-style Human3.6M file"
                )
            value = npz[key]
    except (zipfile.BadZipFile, OSError, EOFError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path}: not a readable .npz file ({err})") from err
    return value.item() if value.dtype == object and value.ndim == 0 else value


def _h36m_action_matches(action: str, wanted: Iterable[str]) -> set[str]:
    """The entries of ``wanted`` that select ``action`` (full name, or base name before the space)."""
    return {w for w in wanted if w in (action, action.split(" ")[0])}


def load_h36m(
    root: str | Path,
    subjects: Sequence[str] | str | None = None,
    actions: Sequence[str] | None = None,
    keypoints: str | None = "gt",
    joints: str = "h36m17",
    cameras: Sequence[int] | None = None,
    stride: int = 1,
) -> BenchmarkData:
    """Load Human3.6M from VideoPose3D's ``data_3d_h36m.npz`` and ``data_2d_h36m_<keypoints>.npz``.

    One row per (subject, action, camera, frame). As VideoPose3D's run.py does, a 2D sequence longer
    than the 3D one (some videos have extra frames) is cut to the 3D length.

    Args:
        root: data_root (holding ``h36m/``) or the ``h36m`` folder itself.
        subjects: e.g. ``["S9", "S11"]``, or "train" / "test" for the standard split; None = all
            subjects of the 3D file.
        actions: action names; an entry selects an action by its full name or by its base name before
            the space ("Directions" selects "Directions" and "Directions 1"). None = all.
        keypoints: 2D source: "gt" (projected ground truth), "cpn_ft_h36m_dbb", ... (the file suffix);
            None loads no 2D.
        joints: "h36m17" (the standard 17, VideoPose3D's subset of the 32) or "h36m32" (all 32).
        cameras: camera indices 0..3 (order of :data:`H36M_CAMERAS`); None = all four.
        stride: keep every ``stride``-th frame of each sequence (the frame index is kept in ``frame``).
    Returns:
        BenchmarkData with ``joints_3d_world`` (N, J, 3) metres, world frame (z up);
        ``joints_3d_cam`` (N, J, 3) metres, camera frame; ``joints_2d`` (N, J, 2) pixels (if keypoints);
        ``K`` (N, 3, 3); ``R`` (N, 3, 3), ``t`` (N, 3) world-to-camera, metres;
        ``image_size`` (N, 2) (width, height); ``subject``, ``action``, ``sequence`` ("S9/Walking"),
        ``camera_id`` (N,) str; ``camera`` (N,) int; ``frame`` (N,) int (50 fps mocap/video index).
    """
    if joints not in ("h36m17", "h36m32"):
        raise ValueError(f"joints must be 'h36m17' or 'h36m32', got {joints!r}")
    if stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride}")
    cams = list(range(4)) if cameras is None else [int(c) for c in cameras]
    if any(c not in range(4) for c in cams):
        raise ValueError(f"cameras must be indices in 0..3, got {list(cameras or [])}")

    folder = _dataset_dir(root, "h36m", "data_3d_h36m.npz")
    path_3d = folder / "data_3d_h36m.npz"
    positions_3d = _load_npz_object(path_3d, "positions_3d")
    if not isinstance(positions_3d, dict):
        raise ValueError(f"{path_3d}: 'positions_3d' must hold a dict {{subject: {{action: array}}}}")
    sources = [path_3d]

    positions_2d = None
    if keypoints is not None:
        if not re.fullmatch(r"[A-Za-z0-9_]+", keypoints):
            raise ValueError(f"keypoints must be a file suffix such as 'gt' or 'cpn_ft_h36m_dbb', got {keypoints!r}")
        path_2d = folder / f"data_2d_h36m_{keypoints}.npz"
        if not path_2d.is_file():
            raise FileNotFoundError(
                f"Human3.6M 2D keypoints '{keypoints}': expected {path_2d} "
                f"(data_root layout: 'h36m/data_2d_h36m_{keypoints}.npz'). 'gt' is written by "
                f"VideoPose3D's prepare_data_h36m.py; see {DATASET_PAGES['h36m']}."
            )
        positions_2d = _load_npz_object(path_2d, "positions_2d")
        metadata = _load_npz_object(path_2d, "metadata")
        if not isinstance(positions_2d, dict) or not isinstance(metadata, dict):
            raise ValueError(f"{path_2d}: 'positions_2d' and 'metadata' must hold dicts")
        if "num_joints" not in metadata:
            raise ValueError(f"{path_2d}: missing key 'num_joints' in 'metadata'")
        sources.append(path_2d)

    if subjects is None:
        subject_list = sorted(positions_3d)
    elif isinstance(subjects, str) and subjects in ("train", "test"):
        subject_list = list(H36M_TRAIN_SUBJECTS if subjects == "train" else H36M_TEST_SUBJECTS)
    else:
        subject_list = [subjects] if isinstance(subjects, str) else list(subjects)
    missing = [s for s in subject_list if s not in positions_3d]
    if missing:
        raise ValueError(f"{path_3d}: no subject {missing}; subjects in the file: {sorted(positions_3d)}")

    if actions is not None:
        in_file = {a for s in subject_list for a in positions_3d[s]}
        used = set().union(*(_h36m_action_matches(a, actions) for a in in_file))
        unused = [a for a in actions if a not in used]
        if unused:
            raise ValueError(f"{path_3d}: no action named {unused} for {subject_list}; actions: {sorted(in_file)}")

    keep = list(H36M17_FROM_32) if joints == "h36m17" else list(range(32))
    K_cams = [h36m_intrinsics(c) for c in range(4)]
    parts: list[dict[str, np.ndarray]] = []
    for subject in subject_list:
        extrinsics = [h36m_extrinsics(subject, c) for c in range(4)]
        for action in sorted(positions_3d[subject]):
            if actions is not None and not _h36m_action_matches(action, actions):
                continue
            seq3d = np.asarray(positions_3d[subject][action])
            if seq3d.ndim != 3 or seq3d.shape[1:] != (32, 3):
                raise ValueError(f"{path_3d}: {subject}/{action} has shape {seq3d.shape}, expected (T, 32, 3)")
            n_frames = seq3d.shape[0]
            frames = np.arange(0, n_frames, stride)
            world = seq3d[frames][:, keep]
            for cam in cams:
                R, t = extrinsics[cam]
                n = len(frames)
                part = {
                    "joints_3d_world": world,
                    "joints_3d_cam": _to_camera(world.astype(np.float64), np.broadcast_to(R, (n, 3, 3)),
                                                np.broadcast_to(t, (n, 3))).astype(world.dtype),
                    "K": np.broadcast_to(K_cams[cam], (n, 3, 3)).astype(world.dtype),
                    "R": np.broadcast_to(R, (n, 3, 3)).astype(world.dtype),
                    "t": np.broadcast_to(t, (n, 3)).astype(world.dtype),
                    "image_size": np.broadcast_to(
                        np.array([H36M_CAMERAS[cam]["res_w"], H36M_CAMERAS[cam]["res_h"]]), (n, 2)),
                    "subject": np.full(n, subject),
                    "action": np.full(n, action),
                    "sequence": np.full(n, f"{subject}/{action}"),
                    "camera": np.full(n, cam),
                    "camera_id": np.full(n, H36M_CAMERAS[cam]["id"]),
                    "frame": frames,
                }
                if positions_2d is not None:
                    part["joints_2d"] = _h36m_2d(positions_2d, path_2d, subject, action, cam, n_frames,
                                                 joints, int(metadata["num_joints"]))[frames]
                parts.append(part)
    arrays = _concat(parts, f"Human3.6M {subject_list} {actions or 'all actions'} cameras {cams}")
    names = H36M17_NAMES if joints == "h36m17" else _h36m32_names()
    parents = H36M17_PARENTS if joints == "h36m17" else H36M32_PARENTS
    return BenchmarkData("h36m", arrays, names, names if keypoints is not None else (), parents, tuple(sources))


def _h36m32_names() -> tuple[str, ...]:
    """Names of the 32 joints: the 17 standard names where kept, ``joint<i>`` for the others."""
    named = dict(zip(H36M17_FROM_32, H36M17_NAMES, strict=True))
    return tuple(named.get(j, f"joint{j:02d}") for j in range(32))


def _h36m_2d(positions_2d: dict, path: Path, subject: str, action: str, cam: int, n_frames: int,
             joints: str, num_joints: int) -> np.ndarray:
    """One camera's 2D sequence (n_frames, J, 2), cut to the 3D length and to the joint set."""
    where = f"{path}: {subject}/{action} camera {cam}"
    try:
        seq = positions_2d[subject][action][cam]
    except (KeyError, IndexError, TypeError):
        raise ValueError(f"{where}: missing from 'positions_2d'") from None
    if seq is None:
        raise ValueError(f"{where}: no detections stored (None)")
    seq = np.asarray(seq)
    if seq.ndim != 3 or seq.shape[1] not in (17, 32) or seq.shape[2] != 2:
        raise ValueError(f"{where}: shape {seq.shape}, expected (T, 17, 2) or (T, 32, 2)")
    if seq.shape[1] != num_joints:
        raise ValueError(f"{where}: {seq.shape[1]} joints but metadata 'num_joints' says {num_joints}")
    if seq.shape[0] < n_frames:
        raise ValueError(f"{where}: {seq.shape[0]} frames, fewer than the {n_frames} of the 3D file")
    seq = seq[:n_frames]
    if seq.shape[1] == 32:
        return seq[:, list(H36M17_FROM_32)] if joints == "h36m17" else seq
    if joints == "h36m32":
        raise ValueError(f"{where}: 2D has 17 joints; use joints='h36m17' or keypoints=None for 32 joints")
    return seq


# ----------------------------------------------------------------------------------------------
# 3DPW (sequenceFiles/*.pkl)
# ----------------------------------------------------------------------------------------------

#: SMPL's 24 joints (jointPositions order) and their parents.
SMPL24_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)
SMPL24_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
#: OpenPose COCO-18 keypoints, the order of 3DPW's 'poses2d'.
COCO18_NAMES: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)
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
# MPI-INF-3DHP test set (mpi_inf_3dhp_test_set/TS*/annot_data.mat)
# ----------------------------------------------------------------------------------------------

#: The 17 test-set joints (mpii_get_joints('relevant') of the official test utilities).
MPI_INF_3DHP17_NAMES: tuple[str, ...] = (
    "head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "pelvis", "spine", "head",
)
#: Kinematic tree of the 17 (root: pelvis).
MPI_INF_3DHP17_PARENTS: tuple[int, ...] = (16, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, -1, 14, 1)
#: 'activity_annotation' codes 1..7.
MPI_INF_3DHP_ACTIVITIES: tuple[str, ...] = (
    "Stand/Walk", "Exercise", "Sit on Chair", "Reach/Crouch", "On Floor", "Sports", "Misc.",
)
#: Valid (evaluated) frames per sequence, the weights in the official README (2,929 in all).
MPI_INF_3DHP_VALID_FRAMES: dict[str, int] = {"TS1": 603, "TS2": 540, "TS3": 505, "TS4": 553, "TS5": 276, "TS6": 452}
#: Test cameras as published in test_util/camera_calibration/*.calib of the test set: sensor and
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
