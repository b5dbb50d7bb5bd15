"""Tests for posebook.data.pose_sets: each property checked by a second route (explicit pinhole
arithmetic, the world's own root, a numpy nearest-centre assignment, the model layer's noise
function, hand-built benchmark rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from posebook.body.skeletons import (
    H36M17_FROM_32,
    H36M17_NAMES,
    MPI_INF_3DHP17_NAMES,
    SMPL24_NAMES,
)
from posebook.data import pose_sets as P
from posebook.data.benchmarks.common import BenchmarkData
from posebook.geometry import camera
from posebook.runs import ENV_CMU_DIR

# ------------------------------------------------------------------------------ synthetic sets


def _pinhole(points: torch.Tensor, f: float, c: tuple[float, float]) -> torch.Tensor:
    """u = f X / Z + cx, v = f Y / Z + cy, written out (not geometry.camera.project)."""
    return torch.stack([f * points[..., 0] / points[..., 2] + c[0], f * points[..., 1] / points[..., 2] + c[1]], -1)


def _synthetic(n: int = 200, seed: int = 0, subjects=("02", "05", "09", "135"), families=None) -> P.PoseSet:
    g = torch.Generator().manual_seed(seed)
    poses = 0.3 * torch.randn(n, 17, 3, generator=g, dtype=torch.float64)
    poses -= poses[:, :1].clone()
    root = torch.stack([torch.rand(n, generator=g, dtype=torch.float64) - 0.5,
                        torch.rand(n, generator=g, dtype=torch.float64) - 0.5,
                        4.0 + 2.0 * torch.rand(n, generator=g, dtype=torch.float64)], dim=1)
    f, c = 500.0, (128.0, 96.0)
    K = torch.tensor([[f, 0, c[0]], [0, f, c[1]], [0, 0, 1.0]], dtype=torch.float64).expand(n, 3, 3)
    uv = _pinhole(poses + root[:, None], f, c)
    center, size = camera.bbox_from_points(uv, scale=1.2)
    meta = pd.DataFrame({
        "subject": [subjects[i % len(subjects)] for i in range(n)] if subjects else [""] * n,
        "clip": [f"c{i % 7}" for i in range(n)], "frame": np.arange(n), "source": [f"syn#{i}" for i in range(n)],
    })
    if families is not None:
        meta["family"] = [families[i % len(families)] for i in range(n)]
    return P.PoseSet(poses=poses.float(), root=root.float(), keypoints_2d=uv.float(), K=K.float(),
                     bbox_center=center.float(), bbox_size=size.float(), meta=meta, source="synthetic")


@pytest.fixture(scope="module")
def syn() -> P.PoseSet:
    return _synthetic()


# ------------------------------------------------------------------------------ the PoseSet


def test_pose_set_layout_subset_groups(syn):
    assert syn.poses.dtype == torch.float32 and syn.poses.shape == (200, 17, 3)
    assert torch.equal(syn.poses[:, 0], torch.zeros(200, 3))
    assert torch.allclose(syn.camera_points()[:, 0], syn.root)
    sub = syn.subset([3, 5, -1])
    assert len(sub) == 3 and torch.equal(sub.poses[2], syn.poses[199]) and sub.meta["frame"].tolist() == [3, 5, 199]
    mask = torch.zeros(200, dtype=torch.bool)
    mask[10:20] = True
    assert syn.subset(mask).meta["frame"].tolist() == list(range(10, 20))
    assert len(syn.subset(slice(0, 50, 10))) == 5
    groups = syn.groups("subject")
    assert list(groups) == ["02", "05", "09", "135"] and sum(map(len, groups.values())) == 200
    assert set(groups["09"].meta["subject"]) == {"09"}
    with pytest.raises(ValueError, match="meta column"):
        syn.groups("camera")
    with pytest.raises(IndexError):
        syn.subset([200])


def test_pose_set_refuses_bad_inputs(syn):
    fields = {name: getattr(syn, name) for name in ("poses", "root", "keypoints_2d", "K", "bbox_center", "bbox_size")}
    with pytest.raises(ValueError, match="16 joints"):
        P.PoseSet(**{**fields, "poses": syn.poses[:, :16]}, meta=syn.meta, source="x")
    bad = syn.poses.clone()
    bad[7, 3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"non-finite.*rows \[7\]"):
        P.PoseSet(**{**fields, "poses": bad}, meta=syn.meta, source="x")
    with pytest.raises(ValueError, match="root-relative"):
        P.PoseSet(**{**fields, "poses": syn.poses + 1.0}, meta=syn.meta, source="x")
    with pytest.raises(ValueError, match=r"root must have shape \(N, 3\)"):
        P.PoseSet(**{**fields, "root": syn.root[:10]}, meta=syn.meta, source="x")
    with pytest.raises(ValueError, match="lacks the columns"):
        P.PoseSet(**fields, meta=syn.meta.drop(columns=["clip"]), source="x")
    with pytest.raises(ValueError, match="one row per pose"):
        P.PoseSet(**fields, meta=syn.meta.iloc[:5], source="x")


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_build_pose_set_refuses_bad_size(size):
    with pytest.raises(ValueError, match="size must be a positive int"):
        P.build_pose_set(size)


# ------------------------------------------------------------------------------ splits


def test_presets_cover_the_subjects_and_are_disjoint():
    for presets, groups in ((P.SUBJECT_SPLITS, P.SUBJECT_GROUPS), (P.FAMILY_SPLITS, P.FAMILY_GROUPS)):
        everyone = {s for g in groups.values() for s in g}
        assert set(presets["default"]["train"]) | set(presets["default"]["test"]) == everyone
        for split in presets.values():
            assert not set(split["train"]) & set(split["test"]) and split["train"] and split["test"]
    assert P.SUBJECT_SPLITS["default"] == {"train": ("05", "09", "135"), "test": ("02",)}
    assert P.SUBJECT_SPLITS["everyday_to_martial"] == {"train": ("02", "09"), "test": ("135",)}
    assert set(P.CMU_SUBJECT_ACTIONS) == {s for g in P.SUBJECT_GROUPS.values() for s in g}
    from posebook.data.poses import FAMILIES

    assert {f for g in P.FAMILY_GROUPS.values() for f in g} == set(FAMILIES)


def test_split_by_subject_holds_out_the_subjects(syn):
    train, test = P.split_by_subject(syn, ["02", "09"])
    assert set(test.meta["subject"]) == {"02", "09"} and set(train.meta["subject"]) == {"05", "135"}
    assert len(train) + len(test) == len(syn)
    assert set(train.meta["source"]).isdisjoint(test.meta["source"])
    assert "test subject 02, 09" in test.source
    train, test = P.split_preset(syn, "dance_to_martial")
    assert set(train.meta["subject"]) == {"05"} and set(test.meta["subject"]) == {"135"}
    with pytest.raises(ValueError, match=r"unknown subject \['07'\].*'02', '05', '09', '135'"):
        P.split_by_subject(syn, ["07"])
    with pytest.raises(ValueError, match="empty"):
        P.split_by_subject(syn, [])
    with pytest.raises(ValueError, match="every pose"):
        P.split_by_subject(syn, ["02", "05", "09", "135"])
    with pytest.raises(ValueError, match="unknown split preset"):
        P.split_preset(syn, "nope")


def test_split_falls_back_to_families_without_subjects():
    fam = _synthetic(140, subjects=(), families=("stand", "walk", "run", "sit", "reach", "squat", "kick"))
    assert fam.subject_column == "family"
    train, test = P.split_by_subject(fam, ["kick"])
    assert set(test.meta["family"]) == {"kick"} and "kick" not in set(train.meta["family"])
    train, test = P.split_preset(fam)
    assert set(test.meta["family"]) == {"stand", "walk"}
    assert set(train.meta["family"]) == {"run", "sit", "reach", "squat", "kick"}
    assert set(fam.groups("subject")) == set(fam.meta["family"])  # "subject" groups by family here
    with pytest.raises(ValueError, match=r"unknown family \['02'\].*pose family"):
        P.split_by_subject(fam, ["02"])


# ------------------------------------------------------------------------------ detections


def test_exact_detections_have_confidence_one(syn):
    kp, conf = P.detections(syn, sigma=0.0, outliers=0.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(kp, syn.keypoints_2d) and torch.equal(conf, torch.ones(200, 17))


def test_detection_noise_is_sigma_times_bbox():
    big = _synthetic(3000, seed=1)
    sigma = 0.02
    kp, conf = P.detections(big, sigma=sigma, outliers=0.0, generator=torch.Generator().manual_seed(1))
    rel = ((kp - big.keypoints_2d).double() / big.bbox_size.double()[:, None, None]).reshape(-1)
    assert abs(float(rel.std()) / sigma - 1) < 0.02 and abs(float(rel.mean())) < 3 * sigma / rel.numel() ** 0.5
    # outliers: every keypoint an outlier lands inside its bbox, far from the truth, at low confidence
    kp, conf = P.detections(big, sigma=sigma, outliers=1.0, generator=torch.Generator().manual_seed(2))
    half = 0.5 * big.bbox_size[:, None, None] + 1e-3
    assert ((kp - big.bbox_center[:, None]).abs() <= half).all()
    assert float(conf.median()) < 0.1


def test_confidence_model_decreases_with_error():
    big = _synthetic(500, seed=2)
    kp, conf = P.detections(big, sigma=0.03, outliers=0.1, generator=torch.Generator().manual_seed(3),
                            conf_scale=0.05, conf_floor=0.05)
    assert ((conf > 0) & (conf <= 1)).all() and float(conf.min()) == pytest.approx(0.05)
    err = torch.linalg.vector_norm((kp - big.keypoints_2d).double(), dim=-1) / big.bbox_size.double()[:, None]
    # independent evaluation of the documented formula
    expected = np.maximum(0.05, np.exp(-err.numpy() ** 2 / (2 * 0.05 ** 2)))
    assert np.allclose(conf.numpy(), expected, atol=1e-6)
    order = torch.argsort(err.reshape(-1))
    assert (torch.diff(conf.reshape(-1)[order]) <= 1e-5).all()  # non-increasing in the error (float32 kp)
    assert float(conf.reshape(-1)[order[:100]].mean()) > 0.95 > float(conf.reshape(-1)[order[-100:]].mean())


def test_detection_noise_matches_the_model_layers_noisy_keypoints(syn):
    from posebook.models.body_regressor import noisy_keypoints

    kp, _ = P.detections(syn, sigma=0.015, outliers=0.05, generator=torch.Generator().manual_seed(4))
    ref = noisy_keypoints(syn.keypoints_2d.double(), syn.bbox_center, syn.bbox_size, sigma=0.015, outliers=0.05,
                          generator=torch.Generator().manual_seed(4))
    assert torch.allclose(kp.double(), ref, atol=1e-4)


@pytest.mark.parametrize("kwargs, match", [
    ({"sigma": -0.1}, "sigma"), ({"outliers": 1.5}, "outliers"), ({"conf_scale": 0.0}, "conf_scale"),
    ({"conf_floor": 0.0}, "conf_floor"), ({"generator": None}, "generator must be a torch.Generator"),
])
def test_detections_refuse_bad_arguments(syn, kwargs, match):
    args = {"generator": torch.Generator().manual_seed(0), **kwargs}
    with pytest.raises(TypeError if "generator" in kwargs else ValueError, match=match):
        P.detections(syn, **args)


# ------------------------------------------------------------------------------ initial poses


def _clustered(n: int = 600, k: int = 6, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centres = 0.4 * torch.randn(k, 17, 3, generator=g, dtype=torch.float64)
    labels = torch.arange(n) % k
    x = centres[labels] + 0.03 * torch.randn(n, 17, 3, generator=g, dtype=torch.float64)
    return x - x[:, :1]


def test_kmeans_centres_are_the_means_of_their_poses():
    poses = _clustered()
    centres = P.kmeans_poses(poses, 8, seed=0)
    assert centres.shape == (8, 17, 3) and centres.dtype == torch.float32
    assert torch.equal(centres[:, 0], torch.zeros(8, 3))
    # independent check: nearest-centre assignment in numpy, then each centre is its poses' mean
    flat = poses.reshape(len(poses), -1).numpy()
    c = centres.double().reshape(8, -1).numpy()
    labels = ((flat[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
    counts = np.bincount(labels, minlength=8)
    assert (counts > 0).all() and (np.diff(counts) <= 0).all()  # ordered by size, largest first
    for j in range(8):
        assert np.allclose(flat[labels == j].mean(0), c[j], atol=1e-5)
    assert torch.equal(P.kmeans_poses(poses, 8, seed=0), centres)  # deterministic for a seed
    # the poses are re-centred first: shifting every pose changes nothing
    shifted = poses + torch.tensor([0.5, -1.0, 4.0], dtype=torch.float64)
    assert torch.allclose(P.kmeans_poses(shifted, 8, seed=0), centres, atol=1e-5)


def test_kmeans_with_k_equal_n_returns_the_poses():
    poses = _clustered(12, 3)
    centres = P.kmeans_poses(poses.numpy(), 12, seed=1, n_init=1)
    d = torch.cdist(centres.double().reshape(12, -1), poses.reshape(12, -1))
    assert torch.allclose(d.min(dim=1).values, torch.zeros(12, dtype=torch.float64), atol=1e-5)


def test_random_training_poses_are_distinct_training_poses():
    poses = _clustered(50, 5)
    a = P.random_training_poses(poses, 10, torch.Generator().manual_seed(7))
    b = P.random_training_poses(poses, 10, torch.Generator().manual_seed(7))
    c = P.random_training_poses(poses, 10, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    d = torch.cdist(a.double().reshape(10, -1), poses.reshape(50, -1))
    nearest = d.argmin(dim=1)
    assert torch.allclose(d.min(dim=1).values, torch.zeros(10, dtype=torch.float64), atol=1e-5)
    assert len(set(nearest.tolist())) == 10


@pytest.mark.parametrize("fn", ["kmeans", "random"])
def test_initial_poses_refuse_bad_inputs(fn):
    poses = _clustered(20, 2)
    call = ((lambda x, k: P.kmeans_poses(x, k)) if fn == "kmeans"
            else (lambda x, k: P.random_training_poses(x, k, torch.Generator().manual_seed(0))))
    for k in (0, 21, 2.0):
        with pytest.raises(ValueError, match="1 <= k <= N = 20"):
            call(poses, k)
    bad = poses.clone()
    bad[4, 2, 0] = float("inf")
    with pytest.raises(ValueError, match=r"non-finite.*rows \[4\]"):
        call(bad, 3)
    with pytest.raises(ValueError, match=r"shape \(N, J, 3\)"):
        call(poses[..., :2], 3)
    if fn == "random":
        with pytest.raises(TypeError, match="torch.Generator"):
            P.random_training_poses(poses, 3, 0)


# ------------------------------------------------------------------------------ benchmarks


def _benchmark(dataset: str, names, n: int = 60, seed: int = 0, subjects=None, names_2d=None) -> BenchmarkData:
    g = np.random.default_rng(seed)
    J = len(names)
    joints = 0.3 * g.standard_normal((n, J, 3))
    joints[..., 2] += 5.0
    K = np.broadcast_to(np.array([[1145.0, 0, 512.0], [0, 1144.0, 515.0], [0, 0, 1]]), (n, 3, 3))
    arrays = {"joints_3d_cam": joints.astype(np.float32), "K": K.astype(np.float32),
              "frame": np.arange(n) * 2, "sequence": np.array([f"seq{i // 20}" for i in range(n)]),
              "camera": np.arange(n) % 4}
    if subjects is not None:
        arrays["subject"] = np.array(subjects)
    if names_2d is not None:
        arrays["joints_2d"] = g.uniform(0, 1000, (n, len(names_2d), 2))
    return BenchmarkData(dataset, arrays, tuple(names), tuple(names_2d or ()), tuple([-1] * J))


def _h36m32_names() -> tuple[str, ...]:
    named = dict(zip(H36M17_FROM_32, H36M17_NAMES))
    return tuple(named.get(j, f"joint{j:02d}") for j in range(32))


def test_benchmark_pose_set_h36m32_layout_and_stride():
    data = _benchmark("h36m", _h36m32_names(), n=60, subjects=["S1"] * 60, names_2d=H36M17_NAMES)
    ps = P.benchmark_pose_set(data, stride=3)
    rows = np.arange(0, 60, 3)
    j = torch.from_numpy(data["joints_3d_cam"][rows][:, list(H36M17_FROM_32)].astype(np.float64))
    assert len(ps) == 20 and ps.meta["row"].tolist() == rows.tolist()
    assert torch.allclose(ps.poses.double(), j - j[:, :1], atol=1e-6)
    assert torch.allclose(ps.root.double(), j[:, 0], atol=1e-6)
    f, c = (1145.0, 1144.0), (512.0, 515.0)
    uv = torch.stack([f[0] * j[..., 0] / j[..., 2] + c[0], f[1] * j[..., 1] / j[..., 2] + c[1]], -1)
    assert torch.allclose(ps.keypoints_2d.double(), uv, atol=1e-3)
    assert torch.allclose(ps.file_keypoints_2d.double(), torch.from_numpy(data["joints_2d"][rows]), atol=1e-3)
    assert ps.meta["frame"].tolist() == (rows * 2).tolist() and ps.meta["subject"].eq("S1").all()
    assert ps.meta["source"][1] == "h36m:seq0/cam3#6"
    # the bbox holds every joint
    assert ((ps.keypoints_2d - ps.bbox_center[:, None]).abs() <= 0.5 * ps.bbox_size[:, None, None] + 1e-3).all()
    assert "rows [::3]" in ps.source and "Human3.6M 32-joint layout" in ps.source


def test_benchmark_pose_set_official_h36m_subset():
    subjects = ["S1"] * 1000 + ["S9"] * 2000 + ["S11"] * 2000
    data = _benchmark("h36m", H36M17_NAMES, n=5000, subjects=subjects)
    ps = P.benchmark_pose_set(data, official_h36m_subset=True)
    expected = 1000 + np.arange(0, 4000, P.ZEDO_H36M_STRIDE)
    assert ps.meta["row"].tolist() == expected.tolist() and set(ps.meta["subject"]) <= {"S9", "S11"}
    assert "ZeDO" in ps.source
    # ZeDO's count: 886 poses from a test file of 566,940 rows (any count in (885 * 640, 886 * 640])
    n = 885 * 640 + 300
    one = np.zeros((1, 17, 3), np.float32)
    one[..., 2] = 5.0
    one[0, 1:, 0] = np.linspace(-0.5, 0.5, 16)
    big = BenchmarkData("h36m", {
        "joints_3d_cam": np.broadcast_to(one, (n, 17, 3)),
        "K": np.broadcast_to(np.eye(3, dtype=np.float32) * [1000, 1000, 1] + [[0, 0, 500], [0, 0, 500], [0, 0, 0]],
                             (n, 3, 3)),
        "subject": np.where(np.arange(n) % 2 == 0, "S9", "S11"), "frame": np.arange(n),
    }, H36M17_NAMES, (), tuple([-1] * 17))
    assert len(P.benchmark_pose_set(big, official_h36m_subset=True)) == P.ZEDO_H36M_TEST_SIZE == 886


def test_benchmark_pose_set_mpi_inf_3dhp_joint_map():
    data = _benchmark("mpi_inf_3dhp", MPI_INF_3DHP17_NAMES, n=10, names_2d=MPI_INF_3DHP17_NAMES)
    ps = P.benchmark_pose_set(data)
    j = data["joints_3d_cam"].astype(np.float64)
    m = {name: i for i, name in enumerate(MPI_INF_3DHP17_NAMES)}
    pelvis = j[:, m["pelvis"]]
    for h36m, mpi in [("Head", "head_top"), ("Neck/Nose", "head"), ("Thorax", "neck"), ("RFoot", "right_ankle"),
                      ("LWrist", "left_wrist"), ("Spine", "spine")]:
        assert np.allclose(ps.poses[:, H36M17_NAMES.index(h36m)].numpy(), j[:, m[mpi]] - pelvis, atol=1e-6)
    assert np.allclose(ps.file_keypoints_2d[:, H36M17_NAMES.index("Head")].numpy(),
                       data["joints_2d"][:, m["head_top"]], atol=1e-3)
    assert ps.meta["subject"].tolist() == ["seq0"] * 10  # no subject column: the sequence stands in


def test_benchmark_pose_set_refuses_bad_inputs():
    with pytest.raises(ValueError, match="SMPL"):
        P.benchmark_pose_set(_benchmark("3dpw", SMPL24_NAMES, n=5))
    mpi = _benchmark("mpi_inf_3dhp", MPI_INF_3DHP17_NAMES, n=5)
    with pytest.raises(ValueError, match="Human3.6M"):
        P.benchmark_pose_set(mpi, official_h36m_subset=True)
    for stride in (0, -2, 1.5):
        with pytest.raises(ValueError, match="stride must be a positive int"):
            P.benchmark_pose_set(mpi, stride=stride)
    h36m = _benchmark("h36m", H36M17_NAMES, n=10, subjects=["S1"] * 10)
    with pytest.raises(ValueError, match="needs the test subjects"):
        P.benchmark_pose_set(h36m, official_h36m_subset=True)
    with pytest.raises(ValueError, match="leave stride at 1"):
        P.benchmark_pose_set(_benchmark("h36m", H36M17_NAMES, n=10, subjects=["S9"] * 10), stride=2,
                             official_h36m_subset=True)
    bad = _benchmark("h36m", H36M17_NAMES, n=10)
    bad.arrays["joints_3d_cam"][3, 5, 0] = np.nan
    with pytest.raises(ValueError, match=r"non-finite joints \(rows \[3\]"):
        P.benchmark_pose_set(bad)
    behind = _benchmark("h36m", H36M17_NAMES, n=10)
    behind.arrays["joints_3d_cam"][..., 2] *= -1
    with pytest.raises(ValueError, match="behind the camera"):
        P.benchmark_pose_set(behind)


# ------------------------------------------------------------------------------ worlds (Anny)


@pytest.fixture(scope="module")
def cmu_set(cmu_dir):
    return P.build_pose_set(300, seed=0, cmu_dir=cmu_dir)


@pytest.mark.slow
def test_cmu_pose_set_is_root_relative_and_projects(cmu_set, cmu_dir):
    from posebook.data.world import WorldConfig, build_world

    ps = cmu_set
    assert len(ps) == 300 and ps.source.startswith("CMU mocap subset (4 subjects")
    assert "world seed 0" in ps.source
    assert torch.equal(ps.poses[:, 0], torch.zeros(300, 3))
    # the root is the world's own root (the Anny Hips head), reached by another route
    world = build_world(WorldConfig(size=300, seed=0, source="auto", render=False, joint_sets=("h36m17",),
                                    vertex_subset=None, fps_subsample=30.0, cmu_dir=str(cmu_dir)), progress=False)
    assert torch.allclose(ps.root.double(), world.root.double(), atol=1e-5)
    pts = ps.camera_points().double()
    f, cx, cy = ps.K[:, 0, 0].double()[:, None], ps.K[:, 0, 2].double()[:, None], ps.K[:, 1, 2].double()[:, None]
    uv = torch.stack([f * pts[..., 0] / pts[..., 2] + cx, f * pts[..., 1] / pts[..., 2] + cy], -1)
    assert torch.allclose(uv, ps.keypoints_2d.double(), atol=1e-2)
    assert torch.allclose(camera.project(ps.camera_points(), ps.K), ps.keypoints_2d, atol=1e-2)
    # camera frame, y down: heads above pelvises in the image for most poses
    head_up = (ps.poses[:, H36M17_NAMES.index("Head"), 1] < 0).float().mean()
    assert head_up > 0.8


@pytest.mark.slow
def test_cmu_split_leaves_test_subjects_unseen(cmu_set):
    train, test = P.split_preset(cmu_set, "default")
    assert set(test.meta["subject"]) == {"02"} and "02" not in set(train.meta["subject"])
    assert len(train) + len(test) == len(cmu_set)
    assert set(train.meta["clip"]).isdisjoint(test.meta["clip"])
    train, test = P.split_by_subject(cmu_set, ["135"])
    assert set(test.meta["subject"]) == {"135"} and set(train.meta["subject"]) == {"02", "05", "09"}
    assert all(c.startswith("135_") for c in test.meta["clip"])
    with pytest.raises(ValueError, match="unknown subject"):
        P.split_by_subject(cmu_set, ["walk"])
    groups = cmu_set.groups()
    assert list(groups) == ["02", "05", "09", "135"] and min(map(len, groups.values())) > 40


@pytest.mark.slow
def test_procedural_fallback_without_cmu(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_CMU_DIR, raising=False)
    ps = P.build_pose_set(42, seed=1, source="auto", cache_dir=tmp_path)
    assert ps.source.startswith("procedural poses") and "pose family" in ps.source
    assert ps.meta["subject"].eq("").all() and ps.subject_column == "family"
    assert torch.equal(ps.poses[:, 0], torch.zeros(42, 3))
    assert torch.allclose(camera.project(ps.camera_points(), ps.K), ps.keypoints_2d, atol=1e-2)
    same = P.build_pose_set(42, seed=1, source="procedural", cache_dir=tmp_path)
    assert torch.equal(same.poses, ps.poses)
    family = ps.meta["family"].iloc[0]
    train, test = P.split_by_subject(ps, [family])
    assert set(test.meta["family"]) == {family} and family not in set(train.meta["family"])
    with pytest.raises(ValueError, match="pose family"):
        P.split_by_subject(ps, ["02"])
    centres = P.kmeans_poses(train.poses, 3)
    assert centres.shape == (3, 17, 3)
