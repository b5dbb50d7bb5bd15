"""Human3.6M, from VideoPose3D-style ``.npz`` files (``data/prepare_data_h36m.py`` of
facebookresearch/VideoPose3D).

``positions_3d`` = pickled ``{subject: {action: (T, 32, 3)}}`` float32 metres in the world frame
(z up); ``positions_2d`` = ``{subject: {action: [4 x (T, J, 2)]}}`` pixels, one array per camera,
``metadata`` = ``{'num_joints', 'keypoints_symmetry'[, 'layout_name']}``. The joint sets (32 and
17 joints, names, parents, symmetry) are in :mod:`posebook.body.skeletons`; the cameras and the
subject split are here.

The ``.npz`` files contain pickles, which can run code when loaded: only load files obtained from
the official sources.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posebook.body.skeletons import H36M17_FROM_32, H36M17_NAMES, H36M17_PARENTS, H36M32_PARENTS
from posebook.data.benchmarks.common import (
    DATASET_PAGES,
    BenchmarkData,
    _concat,
    _dataset_dir,
    _intrinsics,
    _to_camera,
)

# ----------------------------------------------------------------------------------------------
# Human3.6M (VideoPose3D files)
# ----------------------------------------------------------------------------------------------
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
