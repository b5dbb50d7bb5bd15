"""Benchmark loaders on tiny fixtures written in the public file formats (tests/fixtures_benchmarks.py)."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest
import torch
from fixtures_benchmarks import (
    H36M_CAMERA_RES,
    H36M_JOINTS_TO_REMOVE,
    H36M_SYMMETRY_17,
    MPI_K_TS1_4,
    MPI_K_TS5_6,
    vp3d_project_to_pixels,
    vp3d_world_to_camera,
    write_3dpw,
    write_h36m,
    write_mpi_inf_3dhp,
)
from scipy.spatial.transform import Rotation

from posebook.data import benchmarks as bm

KEEP_17 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]


@pytest.fixture
def h36m(tmp_path):
    written = write_h36m(tmp_path, list(bm.H36M_CAMERAS), bm.H36M_EXTRINSICS)
    return tmp_path, written


# --- Human3.6M -------------------------------------------------------------------------------------

def test_h36m_rows_and_values_round_trip(h36m):
    root, w = h36m
    data = bm.load_h36m(root)
    assert data.dataset == "h36m" and len(data) == 3 * 3 * 4 * 10
    assert data["joints_3d_world"].shape == (360, 17, 3) and data["joints_3d_world"].dtype == np.float32
    assert data["joints_2d"].shape == (360, 17, 2) and data["K"].shape == (360, 3, 3)
    for subject in ("S1", "S9", "S11"):
        for action in ("Directions", "Directions 1", "Walking"):
            for cam in range(4):
                rows = (data["subject"] == subject) & (data["action"] == action) & (data["camera"] == cam)
                np.testing.assert_array_equal(data["frame"][rows], np.arange(10))
                expected = w["positions_3d"][subject][action][:, KEEP_17]
                np.testing.assert_array_equal(data["joints_3d_world"][rows], expected)
                np.testing.assert_array_equal(data["joints_2d"][rows], w["positions_2d_gt"][subject][action][cam])
                assert set(data["sequence"][rows]) == {f"{subject}/{action}"}
                assert set(map(tuple, data["image_size"][rows])) == {H36M_CAMERA_RES[cam]}


def test_h36m_joint_subset_is_videopose3d_17(h36m):
    root, w = h36m
    assert list(bm.H36M17_FROM_32) == KEEP_17
    full = bm.load_h36m(root, keypoints=None, joints="h36m32")
    sub = bm.load_h36m(root, keypoints=None)
    assert full["joints_3d_world"].shape[1:] == (32, 3) and "joints_2d" not in full
    np.testing.assert_array_equal(sub["joints_3d_world"], full["joints_3d_world"][:, KEEP_17])
    assert full.joint_names_3d[27] == "RWrist" and full.parents_3d == bm.H36M32_PARENTS
    with pytest.raises(ValueError, match="17 joints"):
        bm.load_h36m(root, joints="h36m32")  # the gt 2D file has 17 joints


def _videopose3d_remove_joints(parents, remove, left, right):
    """VideoPose3D Skeleton.remove_joints followed by the shoulder rewiring, restated."""
    parents = list(parents)
    for i in range(len(parents)):
        while parents[i] in remove:
            parents[i] = parents[parents[i]]
    offsets = np.zeros(len(parents), dtype=int)
    new = []
    for i, p in enumerate(parents):
        if i not in remove:
            new.append(p - offsets[p] if p >= 0 else -1)
        else:
            offsets[i:] += 1
    new[11] = new[14] = 8
    side = lambda js: [j - offsets[j] for j in js if j not in remove]  # noqa: E731
    return new, side(left), side(right)


def test_h36m17_tree_and_symmetry_follow_videopose3d():
    parents, left, right = _videopose3d_remove_joints(
        bm.H36M32_PARENTS, H36M_JOINTS_TO_REMOVE,
        [6, 7, 8, 9, 10, 16, 17, 18, 19, 20, 21, 22, 23], [1, 2, 3, 4, 5, 24, 25, 26, 27, 28, 29, 30, 31])
    assert tuple(parents) == bm.H36M17_PARENTS
    assert [left, right] == H36M_SYMMETRY_17 == [list(s) for s in bm.H36M17_SYMMETRY]


def test_h36m_camera_frame_matches_quaternion_route(h36m):
    root, w = h36m
    data = bm.load_h36m(root, subjects=["S11"], actions=["Walking"])
    for cam in range(4):
        rows = data["camera"] == cam
        world = w["positions_3d"]["S11"]["Walking"][:, KEEP_17].astype(np.float64)
        ext = bm.H36M_EXTRINSICS["S11"][cam]
        expected = vp3d_world_to_camera(world, ext["orientation"], ext["translation"])
        np.testing.assert_allclose(data["joints_3d_cam"][rows], expected, atol=2e-6)
        R = data["R"][rows][0].astype(np.float64)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-6)
        assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-6)


def test_h36m_K_is_videopose3d_projection_without_distortion(h36m):
    root, _ = h36m
    data = bm.load_h36m(root, subjects=["S1"])
    X = data["joints_3d_cam"].astype(np.float64)
    for cam in range(4):
        rows = data["camera"] == cam
        uvw = np.einsum("ij,nkj->nki", data["K"][rows][0].astype(np.float64), X[rows])
        pinhole = uvw[..., :2] / uvw[..., 2:]
        np.testing.assert_allclose(pinhole, vp3d_project_to_pixels(X[rows], bm.H36M_CAMERAS[cam], distortion=False),
                                   atol=1e-6)
        # The gt 2D file includes lens distortion: a few pixels off the pinhole projection, no more.
        gap = np.abs(data["joints_2d"][rows] - pinhole)
        assert 0.01 < gap.max() < 25.0


def test_h36m_published_cameras_look_at_the_capture_area():
    for subject in bm.H36M_EXTRINSICS:
        for cam in range(4):
            q = np.asarray(bm.H36M_EXTRINSICS[subject][cam]["orientation"])
            assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-6)
            R, t = bm.h36m_extrinsics(subject, cam)
            origin = t  # the world origin (floor centre) in camera coordinates
            assert 4.0 < origin[2] < 6.5
            uv = bm.h36m_intrinsics(cam) @ origin
            w, h = H36M_CAMERA_RES[cam]
            assert 0 < uv[0] / uv[2] < w and 0 < uv[1] / uv[2] < h
            assert (R @ np.array([0.0, 0.0, 1.0]))[1] < -0.9  # world up (z) is image up (-y)


def test_h36m_subject_and_action_filters(h36m):
    root, _ = h36m
    s9 = bm.load_h36m(root, subjects=["S9"])
    assert set(s9["subject"]) == {"S9"} and len(s9) == 3 * 4 * 10
    test = bm.load_h36m(root, subjects="test")
    assert set(test["subject"]) == {"S9", "S11"}
    with pytest.raises(ValueError, match=r"no subject \['S5', 'S6', 'S7', 'S8'\]"):
        bm.load_h36m(root, subjects="train")
    directions = bm.load_h36m(root, actions=["Directions"])
    assert set(directions["action"]) == {"Directions", "Directions 1"}
    exact = bm.load_h36m(root, actions=["Directions 1"])
    assert set(exact["action"]) == {"Directions 1"}
    with pytest.raises(ValueError, match="Sitting"):
        bm.load_h36m(root, actions=["Sitting"])


def test_h36m_stride_and_camera_selection(h36m):
    root, w = h36m
    data = bm.load_h36m(root, subjects=["S1"], actions=["Walking"], cameras=[1], stride=3)
    np.testing.assert_array_equal(data["frame"], [0, 3, 6, 9])
    assert set(data["camera"]) == {1} and set(data["camera_id"]) == {"55011271"}
    np.testing.assert_array_equal(data["joints_2d"], w["positions_2d_gt"]["S1"]["Walking"][1][::3])
    with pytest.raises(ValueError, match="stride"):
        bm.load_h36m(root, stride=0)
    with pytest.raises(ValueError, match="cameras"):
        bm.load_h36m(root, cameras=[4])


def test_h36m_detections_are_cut_to_the_3d_length(h36m):
    root, w = h36m
    data = bm.load_h36m(root, keypoints="cpn_ft_h36m_dbb", subjects=["S9"], actions=["Walking"], cameras=[2])
    det = w["positions_2d_det"]["S9"]["Walking"][2]
    assert det.shape[0] == 13 and len(data) == 10
    np.testing.assert_array_equal(data["joints_2d"], det[:10])


def test_h36m_missing_files_say_what_and_where(tmp_path, h36m):
    with pytest.raises(FileNotFoundError) as err:
        bm.load_h36m(tmp_path / "nowhere")
    msg = str(err.value)
    assert "data_3d_h36m.npz" in msg and str(tmp_path / "nowhere" / "h36m") in msg and "vision.imar.ro" in msg
    root, _ = h36m
    with pytest.raises(FileNotFoundError, match="data_2d_h36m_sh_pt_mpii.npz"):
        bm.load_h36m(root, keypoints="sh_pt_mpii")
    # The h36m folder itself is accepted as root too.
    assert len(bm.load_h36m(root / "h36m", subjects=["S1"], keypoints=None)) == 120


def test_h36m_missing_keys_name_file_and_key(tmp_path):
    folder = tmp_path / "h36m"
    folder.mkdir()
    np.savez_compressed(folder / "data_3d_h36m.npz", positions=np.zeros(3))
    with pytest.raises(ValueError, match=r"data_3d_h36m\.npz: missing key 'positions_3d'"):
        bm.load_h36m(tmp_path)
    np.savez_compressed(folder / "data_3d_h36m.npz",
                        positions_3d={"S1": {"Walking": np.zeros((5, 32, 3), np.float32)}})
    np.savez_compressed(folder / "data_2d_h36m_gt.npz",
                        positions_2d={"S1": {"Walking": [np.zeros((5, 17, 2), np.float32)] * 4}})
    with pytest.raises(ValueError, match=r"data_2d_h36m_gt\.npz: missing key 'metadata'"):
        bm.load_h36m(tmp_path)


# --- 3DPW ------------------------------------------------------------------------------------------

def test_3dpw_rows_and_values_round_trip(tmp_path):
    w = write_3dpw(tmp_path)
    data = bm.load_3dpw(tmp_path, valid_only=False)
    assert data.dataset == "3dpw" and len(data) == (2 + 1) * 10
    assert data["joints_3d_world"].shape == (30, 24, 3) and data["joints_2d"].shape == (30, 18, 2)
    assert data.joint_names_2d[1] == "neck" and data.parents_3d[15] == 12
    for name, seq in w.items():
        for actor in range(len(seq["poses"])):
            rows = (data["sequence"] == name) & (data["actor"] == actor)
            world = seq["jointPositions"][actor].reshape(10, 24, 3)
            np.testing.assert_array_equal(data["joints_3d_world"][rows], world)
            np.testing.assert_array_equal(data["joints_2d"][rows][:, 5], seq["poses2d"][actor][:, :2, 5])
            np.testing.assert_array_equal(data["joints_2d_conf"][rows], seq["poses2d"][actor][:, 2, :])
            np.testing.assert_array_equal(data["smpl_pose"][rows], seq["poses"][actor])
            np.testing.assert_array_equal(data["smpl_trans"][rows], seq["trans"][actor])
            np.testing.assert_array_equal(data["smpl_betas"][rows][3], seq["betas"][actor])
            np.testing.assert_array_equal(data["valid"][rows], seq["campose_valid"][actor])
            np.testing.assert_array_equal(data["img_frame_id"][rows], seq["img_frame_ids"])
            assert set(data["gender"][rows]) == {seq["genders"][actor]}
            assert data["image_path"][rows][7] == f"imageFiles/{name}/image_00007.jpg"


def test_3dpw_camera_frame_by_homogeneous_matrices(tmp_path):
    w = write_3dpw(tmp_path)
    data = bm.load_3dpw(tmp_path, sequences=["downtown_walking_00"], valid_only=False)
    seq = w["downtown_walking_00"]
    for actor in range(2):
        rows = data["actor"] == actor
        X = seq["jointPositions"][actor].reshape(10, 24, 3)
        homog = np.concatenate([X, np.ones((10, 24, 1))], axis=-1)
        expected = np.stack([(seq["cam_poses"][i] @ homog[i].T).T[:, :3] for i in range(10)])
        np.testing.assert_allclose(data["joints_3d_cam"][rows], expected, atol=1e-12)
        np.testing.assert_array_equal(data["K"][rows][0], seq["cam_intrinsics"])


def test_3dpw_global_orientation_in_camera_frame(tmp_path):
    w = write_3dpw(tmp_path)
    data = bm.load_3dpw(tmp_path, sequences=["outdoors_fencing_01"], valid_only=False)
    seq = w["outdoors_fencing_01"]
    for i in range(10):
        R_cam = seq["cam_poses"][i][:3, :3]
        expected = (Rotation.from_matrix(R_cam) * Rotation.from_rotvec(seq["poses"][0][i, :3])).as_matrix()
        got = Rotation.from_rotvec(data["smpl_global_orient_cam"][i]).as_matrix()
        np.testing.assert_allclose(got, expected, atol=1e-9)


def test_3dpw_valid_only_and_stride(tmp_path):
    w = write_3dpw(tmp_path)
    seq = w["downtown_walking_00"]
    data = bm.load_3dpw(tmp_path, sequences=["downtown_walking_00"])
    rows = data["actor"] == 1
    np.testing.assert_array_equal(data["frame"][rows], np.flatnonzero(seq["campose_valid"][1]))
    assert data["valid"].all()
    strided = bm.load_3dpw(tmp_path, sequences=["downtown_walking_00"], valid_only=False, stride=4)
    np.testing.assert_array_equal(strided["frame"][strided["actor"] == 0], [0, 4, 8])


def test_3dpw_missing_and_malformed(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        bm.load_3dpw(tmp_path)
    assert "sequenceFiles/test" in str(err.value) and "virtualhumans.mpi-inf.mpg.de/3DPW" in str(err.value)
    w = write_3dpw(tmp_path)
    with pytest.raises(FileNotFoundError, match="courtyard_nothing_00"):
        bm.load_3dpw(tmp_path, sequences=["courtyard_nothing_00"])
    with pytest.raises(ValueError, match="split"):
        bm.load_3dpw(tmp_path, split="val")
    broken = dict(w["outdoors_fencing_01"])
    del broken["campose_valid"]
    path = tmp_path / "3dpw" / "sequenceFiles" / "test" / "outdoors_fencing_01.pkl"
    with open(path, "wb") as f:
        pickle.dump(broken, f, protocol=2)
    with pytest.raises(ValueError, match=r"outdoors_fencing_01\.pkl: missing key 'campose_valid'"):
        bm.load_3dpw(tmp_path)


# --- MPI-INF-3DHP ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["v7.3", "v5"])
def test_3dhp_rows_and_values_round_trip(tmp_path, fmt):
    if fmt == "v7.3":
        pytest.importorskip("h5py")
    w = write_mpi_inf_3dhp(tmp_path, fmt=fmt)
    data = bm.load_mpi_inf_3dhp(tmp_path, sequences=["TS1", "TS5"], valid_only=False)
    assert data.dataset == "mpi_inf_3dhp" and len(data) == 24
    assert data["joints_3d_cam"].shape == (24, 17, 3) and data.joint_names_3d[14] == "pelvis"
    for ts in ("TS1", "TS5"):
        rows = data["sequence"] == ts
        np.testing.assert_allclose(data["joints_3d_cam"][rows], w[ts]["annot3"][:, 0] / 1000.0, rtol=1e-15)
        np.testing.assert_allclose(data["joints_3d_univ"][rows], w[ts]["univ_annot3"][:, 0] / 1000.0, rtol=1e-15)
        np.testing.assert_array_equal(data["joints_2d"][rows], w[ts]["annot2"][:, 0])
        np.testing.assert_array_equal(data["activity"][rows], w[ts]["activity_annotation"][:, 0])
        np.testing.assert_array_equal(data["valid"][rows], w[ts]["valid_frame"][:, 0] == 1)
        assert data["image_path"][rows][0] == f"mpi_inf_3dhp_test_set/{ts}/imageSequence/img_000001.jpg"
    assert set(data["scene"][data["sequence"] == "TS5"]) == {"outdoor"}
    names = ["Stand/Walk", "Exercise", "Sit on Chair", "Reach/Crouch", "On Floor", "Sports", "Misc."]
    assert list(data["activity_name"]) == [names[c - 1] for c in data["activity"]]

    valid = bm.load_mpi_inf_3dhp(tmp_path, sequences=[5])
    np.testing.assert_array_equal(valid["frame"], np.flatnonzero(w["TS5"]["valid_frame"][:, 0]))
    strided = bm.load_mpi_inf_3dhp(tmp_path, sequences=["TS1"], valid_only=False, stride=5)
    np.testing.assert_array_equal(strided["frame"], [0, 5, 10])


def test_3dhp_fixture_is_a_real_matlab_73_file(tmp_path):
    pytest.importorskip("h5py")
    from scipy.io import loadmat
    from scipy.io.matlab import matfile_version

    write_mpi_inf_3dhp(tmp_path, sequences=("TS2",))
    path = tmp_path / "mpi_inf_3dhp" / "mpi_inf_3dhp_test_set" / "TS2" / "annot_data.mat"
    assert matfile_version(str(path)) == (2, 0)
    with pytest.raises(NotImplementedError):
        loadmat(str(path))  # scipy refuses v7.3: the loader must go through h5py


def test_3dhp_intrinsics_are_the_published_pixel_values(tmp_path):
    np.testing.assert_allclose(bm.mpi_inf_3dhp_intrinsics("TS3"), MPI_K_TS1_4, rtol=1e-10)
    np.testing.assert_allclose(bm.mpi_inf_3dhp_intrinsics("TS6"), MPI_K_TS5_6, rtol=1e-10)
    write_mpi_inf_3dhp(tmp_path, fmt="v5")
    data = bm.load_mpi_inf_3dhp(tmp_path, sequences=["TS1", "TS5"])
    uvw = np.einsum("nij,nkj->nki", data["K"], data["joints_3d_cam"])
    np.testing.assert_allclose(uvw[..., :2] / uvw[..., 2:], data["joints_2d"], atol=1e-9)
    assert {tuple(s) for s in data["image_size"]} == {(2048, 2048), (1920, 1080)}


def test_3dhp_missing_and_malformed(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as err:
        bm.load_mpi_inf_3dhp(tmp_path, sequences=["TS2"])
    assert "TS2/annot_data.mat" in str(err.value) and "vcai.mpi-inf.mpg.de/3dhp-dataset" in str(err.value)
    write_mpi_inf_3dhp(tmp_path, sequences=("TS1",), fmt="v5", omit=("univ_annot3",))
    with pytest.raises(ValueError, match=r"TS1/annot_data\.mat: missing key 'univ_annot3'"):
        bm.load_mpi_inf_3dhp(tmp_path, sequences=["TS1"])
    with pytest.raises(ValueError, match="TS7"):
        bm.load_mpi_inf_3dhp(tmp_path, sequences=["TS7"])
    pytest.importorskip("h5py")
    write_mpi_inf_3dhp(tmp_path, sequences=("TS1",), fmt="v7.3", omit=("valid_frame",))
    with pytest.raises(ValueError, match="missing key 'valid_frame'"):
        bm.load_mpi_inf_3dhp(tmp_path, sequences=["TS1"])
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match="pip install h5py"):
        bm.load_mpi_inf_3dhp(tmp_path, sequences=["TS1"])


# --- find_benchmarks and BenchmarkData -------------------------------------------------------------

def test_find_benchmarks_reports_the_layout(tmp_path):
    assert set(bm.find_benchmarks(tmp_path)) == set(bm.EXPECTED_LAYOUT)
    assert all(v is None for v in bm.find_benchmarks(tmp_path).values())
    write_h36m(tmp_path, list(bm.H36M_CAMERAS), bm.H36M_EXTRINSICS, subjects=("S9",), actions=("Walking",))
    write_3dpw(tmp_path)
    write_mpi_inf_3dhp(tmp_path, sequences=("TS1",), fmt="v5")
    found = bm.find_benchmarks(tmp_path)
    assert found["h36m_3d"] == tmp_path / "h36m" / "data_3d_h36m.npz"
    assert found["h36m_2d_cpn_ft_h36m_dbb"] == tmp_path / "h36m" / "data_2d_h36m_cpn_ft_h36m_dbb.npz"
    assert found["3dpw_test"] == tmp_path / "3dpw" / "sequenceFiles" / "test" and found["3dpw_train"] is None
    assert found["mpi_inf_3dhp_test"] is None  # five of the six sequences are missing
    write_mpi_inf_3dhp(tmp_path, sequences=("TS2", "TS3", "TS4", "TS5", "TS6"), n_frames=5, fmt="v5")
    assert bm.find_benchmarks(tmp_path)["mpi_inf_3dhp_test"] == tmp_path / "mpi_inf_3dhp" / "mpi_inf_3dhp_test_set"
    for name, rel in bm.EXPECTED_LAYOUT.items():
        if found[name] is not None and "*" not in rel:
            assert found[name] == tmp_path / rel


def test_benchmark_data_select_table_and_torch(tmp_path):
    write_3dpw(tmp_path)
    data = bm.load_3dpw(tmp_path, valid_only=False)
    sub = data.select(data["actor"] == 1)
    assert len(sub) == 10 and set(sub["actor"]) == {1} and sub.joint_names_3d == data.joint_names_3d
    table = data.table()
    assert len(table) == len(data) and {"sequence", "actor", "frame", "valid"} <= set(table.columns)
    tensors = data.to_torch("joints_3d_cam", "frame", dtype=torch.float32)
    assert tensors["joints_3d_cam"].dtype == torch.float32 and tensors["frame"].dtype == torch.int64
    torch.testing.assert_close(tensors["joints_3d_cam"].double(), torch.from_numpy(data["joints_3d_cam"]),
                               atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="sequence"):
        data.to_torch("sequence")
    with pytest.raises(KeyError, match="joints_3d_univ"):
        data["joints_3d_univ"]
    with pytest.raises(ValueError, match="differ in length"):
        bm.BenchmarkData("x", {"a": np.zeros(2), "b": np.zeros(3)}, (), (), ())


def test_h36m_32_joint_2d_files_are_subset_like_the_3d(h36m):
    root, w = h36m
    folder = root / "h36m"
    full_2d = {}
    for subject, actions in w["positions_3d"].items():
        full_2d[subject] = {}
        for action, X in actions.items():
            full_2d[subject][action] = []
            for cam, ext in zip(bm.H36M_CAMERAS, bm.H36M_EXTRINSICS[subject], strict=True):
                X_cam = vp3d_world_to_camera(X.astype(np.float64), ext["orientation"], ext["translation"])
                full_2d[subject][action].append(vp3d_project_to_pixels(X_cam, cam).astype(np.float32))
    np.savez_compressed(folder / "data_2d_h36m_gt32.npz", positions_2d=full_2d, metadata={"num_joints": 32})
    full = bm.load_h36m(root, keypoints="gt32", joints="h36m32", subjects=["S9"])
    sub = bm.load_h36m(root, keypoints="gt32", subjects=["S9"])
    gt17 = bm.load_h36m(root, keypoints="gt", subjects=["S9"])
    assert full["joints_2d"].shape[1] == 32
    np.testing.assert_array_equal(sub["joints_2d"], full["joints_2d"][:, KEEP_17])
    np.testing.assert_allclose(sub["joints_2d"], gt17["joints_2d"], atol=1e-3)
    np.savez_compressed(folder / "data_2d_h36m_bad.npz", positions_2d=full_2d, metadata={"num_joints": 17})
    with pytest.raises(ValueError, match="num_joints"):
        bm.load_h36m(root, keypoints="bad")
