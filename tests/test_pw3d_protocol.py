"""3DPW as the image models see it: crops of the real frames (posebook.data.benchmarks.crops), the
ground truth of the official protocol (H36M joints regressed from the gendered SMPL mesh), its errors,
and ``sgre.pw3d`` end to end, on fixtures written in the public formats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import roma
import torch
from fixtures_benchmarks import write_3dpw, write_3dpw_images, write_h36m_regressor
from fixtures_smpl import write_smpl_models

from posebook.data.benchmarks import load_3dpw
from posebook.data.benchmarks.crops import benchmark_crops, crop_image
from posebook.data.benchmarks.pw3d import (PW3D_EVAL_JOINTS, find_h36m_regressor, load_3dpw_images,
                                          load_h36m_regressor, pw3d_errors, smpl_h36m_joints)
from posebook.experiments import run_experiment
from posebook.runs import read_curve


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data_root")
    written = write_3dpw(root, n_frames=6)
    written.update(write_3dpw(root, "train", {"courtyard_basketball_00": 2}, n_frames=8, seed=4))
    written.update(write_3dpw(root, "validation", {"courtyard_drinking_00": 1}, n_frames=6, seed=5))
    write_3dpw_images(root, written)
    write_smpl_models(root / "smpl", genders=("male", "female"))
    write_h36m_regressor(root / "smpl" / "J_regressor_h36m_correct.npy")
    return root


# --- crops ----------------------------------------------------------------------------------------

def _centroid(image: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre (u, v) of an (H, W, 3) image, continuous coordinates (pixel centres at +0.5)."""
    w = image.astype(float).sum(axis=-1)
    rows, cols = np.mgrid[: w.shape[0], : w.shape[1]]
    return np.array([((cols + 0.5) * w).sum(), ((rows + 0.5) * w).sum()]) / w.sum()


def test_crop_image_sends_a_point_where_the_crop_transform_says():
    image = np.zeros((200, 300, 3), dtype=np.uint8)
    image[78:83, 118:123] = 255  # a 5 x 5 square centred on (120.5, 80.5)
    center, size, crop = np.array([100.0, 90.0]), 80.0, 64
    out = crop_image(image, center, size, crop)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    s = crop / size  # A = [[s, 0, S/2 - s c_u], [0, s, S/2 - s c_v]], by hand
    expected = s * (np.array([120.5, 80.5]) - center) + crop / 2
    np.testing.assert_allclose(_centroid(out), expected, atol=0.1)


def test_crop_image_pads_black_outside_the_image_and_refuses_other_arrays():
    image = np.full((50, 50, 3), 200, dtype=np.uint8)
    out = crop_image(image, np.array([0.0, 0.0]), 50.0, 20)  # the bbox's top-left quarter lies outside
    assert (out[:9, :9] == 0).all() and (out[11:, 11:] == 200).all()
    with pytest.raises(ValueError, match="uint8"):
        crop_image(image.astype(np.float32), np.array([0.0, 0.0]), 50.0, 20)


def test_benchmark_crops_hold_every_projected_joint(data_root):
    frames = load_3dpw(data_root)
    crops = benchmark_crops(frames, data_root / "3dpw", 32)
    assert crops.images.shape == (len(frames), 32, 32, 3) and crops.images.dtype == torch.uint8
    X, K = frames["joints_3d_cam"], crops.K_crop.numpy()
    uvw = np.einsum("nij,nkj->nki", K, X)
    uv = uvw[..., :2] / uvw[..., 2:]
    # a 1.2 x bbox around the joints: they span 1/1.2 of the crop, centred
    assert (uv >= 0).all() and (uv <= 32).all()
    np.testing.assert_allclose((uv.max(axis=1) - uv.min(axis=1)).max(axis=1), 32 / 1.2, rtol=1e-9)
    assert crops.images.float().std() > 5  # the photographs' content, not padding


def test_benchmark_crops_name_the_missing_image(data_root, tmp_path):
    frames = load_3dpw(data_root)
    with pytest.raises(FileNotFoundError, match=r"image_\d{5}\.jpg.*sequence downtown_walking_00.*imageFiles"):
        benchmark_crops(frames, tmp_path, 32)
    with pytest.raises(ValueError, match="crop_size"):
        benchmark_crops(frames, data_root / "3dpw", 0)


# --- the ground truth from the SMPL mesh ----------------------------------------------------------

def test_smpl_h36m_joints_regress_the_gendered_smplx_mesh(data_root):
    """Against smplx.SMPL itself (axis-angle inputs), the regressor applied in numpy."""
    import smplx

    frames = load_3dpw(data_root)
    J = load_h36m_regressor(find_h36m_regressor(data_root))
    joints = smpl_h36m_joints(frames, J, data_root).numpy()
    assert joints.shape == (len(frames), 17, 3)
    for code, gender in (("m", "male"), ("f", "female")):
        rows = np.nonzero(frames["gender"] == code)[0]
        assert len(rows)
        ref = smplx.SMPL(str(data_root / "smpl"), gender=gender, batch_size=len(rows), dtype=torch.float64)
        # global orientation into the camera: R rot(pose[:3]), composed here by hand
        R = torch.from_numpy(frames["R"][rows])
        orient = roma.rotmat_to_rotvec(R @ roma.rotvec_to_rotmat(torch.from_numpy(frames["smpl_pose"][rows, :3])))
        out = ref(betas=torch.from_numpy(frames["smpl_betas"][rows].copy()), global_orient=orient,
                  body_pose=torch.from_numpy(frames["smpl_pose"][rows, 3:].copy()))
        by_hand = np.einsum("jv,bvc->bjc", J, out.vertices.detach().numpy())
        np.testing.assert_allclose(joints[rows], by_hand - by_hand[:, :1], atol=1e-9)


def test_placed_joints_are_the_world_mesh_seen_through_the_extrinsics(data_root):
    """placed=True: SMPL posed in the WORLD (world orientation, pelvis at jointPositions' pelvis), moved by
    x_cam = R x + t by hand, then regressed; and the split's 2D keypoints are K X / Z of those joints."""
    from posebook.body.models import SMPLBody

    split = load_3dpw_images(data_root, "test", 1, 32)
    frames = split.frames
    J = load_h36m_regressor(find_h36m_regressor(data_root))
    for code, gender in (("m", "male"), ("f", "female")):
        rows = np.nonzero(frames["gender"] == code)[0]
        body = SMPLBody(data_root / "smpl", gender, dtype=torch.float64)
        pose = torch.from_numpy(frames["smpl_pose"][rows].copy()).reshape(len(rows), 24, 3)
        pelvis_world = torch.from_numpy(frames["joints_3d_world"][rows, 0].copy())
        world = body(roma.rotvec_to_rotmat(pose), torch.from_numpy(frames["smpl_betas"][rows].copy()),
                     pelvis_world).vertices.numpy()
        R, t = frames["R"][rows], frames["t"][rows]
        cam = np.einsum("nij,nvj->nvi", R, world) + t[:, None]
        by_hand = np.einsum("jv,bvc->bjc", J, cam)
        np.testing.assert_allclose(split.joints_cam[rows].numpy(), by_hand, atol=1e-9)
        np.testing.assert_allclose(split.joints[rows].numpy(), by_hand - by_hand[:, :1], atol=1e-9)
    uvw = np.einsum("nij,nkj->nki", frames["K"], split.joints_cam.numpy())
    np.testing.assert_allclose(split.keypoints_2d.numpy(), uvw[..., :2] / uvw[..., 2:], rtol=1e-12)


def test_a_missing_split_is_named(data_root, tmp_path):
    import shutil

    shutil.copytree(data_root / "smpl", tmp_path / "smpl")
    with pytest.raises(FileNotFoundError, match="sequenceFiles/train"):
        load_3dpw_images(tmp_path, "train", 1, 32)


def test_the_regressor_file_is_found_and_checked(data_root, tmp_path):
    assert find_h36m_regressor(data_root).name == "J_regressor_h36m_correct.npy"
    with pytest.raises(FileNotFoundError, match="J_regressor_h36m.npy"):
        find_h36m_regressor(tmp_path)
    np.save(tmp_path / "bad.npy", np.zeros((17, 100)))
    with pytest.raises(ValueError, match=r"\(17, 6890\)"):
        load_h36m_regressor(tmp_path / "bad.npy")
    np.save(tmp_path / "bad.npy", np.zeros((17, 6890)))
    with pytest.raises(ValueError, match="sum to 1"):
        load_h36m_regressor(tmp_path / "bad.npy")


# --- the protocol's errors ------------------------------------------------------------------------

def test_protocol_errors_centre_on_the_pelvis_and_ignore_the_dropped_joints():
    torch.manual_seed(0)
    gt = torch.randn(5, 17, 3, dtype=torch.float64)
    pred = gt + torch.tensor([0.3, -0.2, 1.0], dtype=torch.float64)  # another translation
    pred[:, [7, 9]] += 0.5  # torso and nose are not evaluated
    errors = pw3d_errors(pred, gt)
    assert errors["mpjpe_mm"].abs().max() < 1e-9 and errors["pa_mpjpe_mm"].abs().max() < 1e-9
    # a similarity of the skeleton: PA-MPJPE 0, MPJPE not
    R = roma.random_rotmat(5, dtype=torch.float64)
    sim = 1.3 * gt @ R.transpose(-1, -2)
    errors = pw3d_errors(sim, gt)
    assert errors["pa_mpjpe_mm"].max() < 1e-6 and errors["mpjpe_mm"].min() > 10


def test_protocol_mpjpe_is_the_mean_over_the_14_joints_by_hand():
    rng = np.random.default_rng(1)
    gt, pred = rng.normal(size=(4, 17, 3)), rng.normal(size=(4, 17, 3))
    keep = [j for j in range(17) if j not in (0, 7, 9)]
    assert list(PW3D_EVAL_JOINTS) == keep
    by_hand = np.linalg.norm((pred - pred[:, :1])[:, keep] - (gt - gt[:, :1])[:, keep], axis=-1).mean(axis=1) * 1000
    got = pw3d_errors(torch.from_numpy(pred), torch.from_numpy(gt))["mpjpe_mm"].numpy()
    np.testing.assert_allclose(got, by_hand, rtol=1e-12)
    # SPIN's (CLIFF's) centring: the midpoint of the hips (H36M joints 1 and 4)
    mid = lambda x: x - 0.5 * (x[:, 1:2] + x[:, 4:5])  # noqa: E731
    by_hand = np.linalg.norm(mid(pred)[:, keep] - mid(gt)[:, keep], axis=-1).mean(axis=1) * 1000
    got = pw3d_errors(torch.from_numpy(pred), torch.from_numpy(gt), root="mid_hip")["mpjpe_mm"].numpy()
    np.testing.assert_allclose(got, by_hand, rtol=1e-12)
    with pytest.raises(ValueError, match=r"\(N, 17, 3\)"):
        pw3d_errors(torch.zeros(4, 14, 3), torch.zeros(4, 14, 3))
    with pytest.raises(ValueError, match="mid_hip"):
        pw3d_errors(torch.from_numpy(pred), torch.from_numpy(gt), root="hips")


# --- sgre.pw3d ------------------------------------------------------------------------------------

def test_sgre_pw3d_without_3dpw_says_why(tmp_path, monkeypatch):
    monkeypatch.delenv("POSEBOOK_DATA_ROOT", raising=False)
    res = run_experiment("sgre.pw3d", out=str(tmp_path / "r"))
    assert res.frame.empty and "no data_root given" in res.meta["data_source"]
    (tmp_path / "empty").mkdir()
    res = run_experiment("sgre.pw3d", data_root=str(tmp_path / "empty"), out=str(tmp_path / "r"))
    assert res.frame.empty and "3dpw/sequenceFiles/test/*.pkl" in res.meta["data_source"]


def test_sgre_pw3d_needs_the_regressor_before_any_training(tmp_path, monkeypatch):
    write_3dpw(tmp_path / "root", n_frames=4)
    with pytest.raises(FileNotFoundError, match="J_regressor_h36m"):
        run_experiment("sgre.pw3d", data_root=str(tmp_path / "root"), out=str(tmp_path / "r"))


@pytest.mark.slow
def test_sgre_pw3d_evaluates_the_world_regressors_on_3dpw(data_root, isolated, monkeypatch):
    monkeypatch.delenv("POSEBOOK_CMU_DIR", raising=False)
    res = run_experiment("sgre.pw3d", data_root=str(data_root), out=str(isolated / "r"), stride=1,
                         world_size=240, steps=6)
    frame = res.frame
    assert list(frame["variant"]) == ["relative", "sgre"]
    assert (frame["frames"] == len(load_3dpw(data_root))).all()
    assert np.isfinite(frame[["mpjpe_mm", "pa_mpjpe_mm"]].to_numpy()).all()
    assert (frame["pa_mpjpe_mm"] <= frame["mpjpe_mm"] + 1e-9).all()  # the similarity can only lower it
    assert "3DPW test" in res.meta["data_source"] and "outside their training domain" in res.meta["data_source"]


def test_cliff_pw3d_without_3dpw_says_why(tmp_path, monkeypatch):
    monkeypatch.delenv("POSEBOOK_DATA_ROOT", raising=False)
    res = run_experiment("cliff.pw3d", out=str(tmp_path / "r"))
    assert res.frame.empty and "no data_root given" in res.meta["data_source"]


@pytest.mark.slow
def test_cliff_pw3d_gives_each_crop_its_bbox_and_focal(data_root, isolated, monkeypatch):
    monkeypatch.delenv("POSEBOOK_CMU_DIR", raising=False)
    res = run_experiment("cliff.pw3d", data_root=str(data_root), out=str(isolated / "r"), stride=1,
                         world_size=240, steps=6, training=("world",))
    frame = res.frame.set_index("variant")
    assert list(frame.index) == ["hmr", "no_ci", "cliff"]
    assert np.isfinite(frame[["mpjpe_mm", "pa_mpjpe_mm"]].to_numpy()).all()
    assert (frame["pa_mpjpe_mm"] <= frame["mpjpe_mm"] + 1e-9).all()
    assert "3DPW test" in res.meta["data_source"] and "3DPW rows" not in res.meta["data_source"]


@pytest.mark.slow
def test_cliff_pw3d_trains_and_fine_tunes_on_3dpw_train(data_root, isolated, monkeypatch):
    monkeypatch.delenv("POSEBOOK_CMU_DIR", raising=False)
    kwargs = dict(data_root=str(data_root), out=str(isolated / "r"), stride=1, train_stride=1, world_size=240,
                  steps=6, pw3d_steps=4, variants=("hmr", "cliff"))
    res = run_experiment("cliff.pw3d", **kwargs)
    frame = res.frame.set_index(["variant", "training"])
    assert sorted(frame.index) == sorted((v, t) for v in ("hmr", "cliff") for t in ("world", "3dpw", "world+3dpw"))
    assert np.isfinite(frame[["mpjpe_mm", "pa_mpjpe_mm"]].to_numpy()).all()
    trained = frame.xs("world+3dpw", level="training")
    assert (trained["train_frames"] == len(load_3dpw(data_root, "train"))).all() and (trained["steps"] == 4).all()
    # fine-tuning moved the world's weights; training from scratch is another network again
    for how in ("world+3dpw", "3dpw"):
        assert (frame.xs(how, level="training")["mpjpe_mm"] != frame.xs("world", level="training")["mpjpe_mm"]).all()
    curve = read_curve(trained["curve_mpjpe_mm"].iloc[0])
    assert len(curve[0]) >= 2 and curve[0][-1] == 4  # the validation split's MPJPE while training
    assert "3DPW validation" in res.meta["data_source"] and "joint labels only" in res.meta["data_source"]
    again = run_experiment("cliff.pw3d", **kwargs, resume=False)  # the table is recomputed, the networks reused
    pd.testing.assert_frame_equal(again.frame, res.frame)


def test_cliff_pw3d_names_the_missing_train_split_before_any_work(tmp_path):
    write_3dpw(tmp_path / "root", n_frames=4)
    with pytest.raises(FileNotFoundError, match=r"sequenceFiles/train.*training=\('world',\)"):
        run_experiment("cliff.pw3d", data_root=str(tmp_path / "root"), out=str(tmp_path / "r"))


def test_cliff_pw3d_feeds_eq_5_of_each_crop(data_root):
    """The bbox input of each crop is CLIFF Eq. 5 of its bbox, image size and ground-truth focal, by hand."""
    from posebook.experiments.cliff import benchmark

    test = load_3dpw_images(data_root, "test", 1, 32)
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, images, extra):
            seen.append(extra)
            raise StopIteration

    with pytest.raises(StopIteration):
        benchmark._predicted_joints(Recorder(), benchmark.VARIANTS["cliff"], test.crops, test.focal)
    K, c, b = test.frames["K"], test.crops.bbox_center.numpy(), test.crops.bbox_size.numpy()
    f = 0.5 * (K[:, 0, 0] + K[:, 1, 1])
    W, H = 1080, 1920
    by_hand = np.stack([(c[:, 0] - W / 2) / f, (c[:, 1] - H / 2) / f, b / f], axis=1)
    np.testing.assert_allclose(seen[0].numpy(), by_hand, rtol=1e-5)


def test_the_inventory_reports_what_the_3dpw_evaluation_needs(data_root, tmp_path):
    from posebook.inventory import data_inventory

    found = data_inventory(data_root=data_root).set_index("item")
    for item in ("benchmark: 3dpw_test", "benchmark: 3dpw_images", "benchmark: smpl_h36m_regressor"):
        assert found.loc[item, "status"] == "available", item
    missing = data_inventory(data_root=tmp_path).set_index("item")
    assert missing.loc["benchmark: 3dpw_images", "status"] == "not found"
    assert "fetch_data.sh" in missing.loc["benchmark: smpl_h36m_regressor", "how"]
