"""Tests for posebook.body.models.

SMPL: a synthetic model file written in the real format smplx reads (random but valid arrays,
the real SMPL kintree), checked against smplx itself and numpy. Anny: the real model (slow: the
first build of the cmu_mb rig takes ~45 s, later loads a few seconds), checked against anny's own
outputs and against its skinning weights.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import roma
import torch
from fixtures_smpl import SMPL_PARENTS, make_smpl_arrays

from posebook.body import kinematics as K
from posebook.body.models import (
    SMPL_ENV_VAR,
    SMPL_JOINT_NAMES,
    AnnyBody,
    BodyModel,
    BodyOutput,
    SMPLBody,
    find_smpl_model,
    load_body_model,
)

CMU_NAMES = [
    "Hips", "LHipJoint", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "LowerBack", "Spine",
    "Spine1", "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LThumb", "LeftFingerBase",
    "LeftHandFinger1", "Neck", "Neck1", "Head", "RightShoulder", "RightArm", "RightForeArm",
    "RightHand", "RThumb", "RightFingerBase", "RightHandFinger1", "RHipJoint", "RightUpLeg",
    "RightLeg", "RightFoot", "RightToeBase",
]  # fmt: skip
CMU_PARENTS = [-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 10, 11, 12, 12, 14, 8, 16, 17, 8, 19, 20, 21,
               22, 22, 24, 0, 26, 27, 28, 29]

# ----------------------------------------------------------------------------------------- SMPL


@pytest.fixture(scope="module")
def smpl_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("smpl")
    with open(root / "SMPL_NEUTRAL.pkl", "wb") as f:
        pickle.dump(make_smpl_arrays(), f, protocol=2)
    return root


@pytest.fixture(scope="module")
def smpl(smpl_dir):
    return SMPLBody(smpl_dir, dtype=torch.float64)


def test_smpl_loads_and_has_the_smpl_layout(smpl, smpl_dir):
    assert isinstance(smpl, BodyModel)
    assert smpl.path == smpl_dir / "SMPL_NEUTRAL.pkl"
    assert smpl.joint_names == SMPL_JOINT_NAMES and smpl.parents == SMPL_PARENTS
    assert (smpl.num_joints, smpl.num_betas, smpl.num_vertices) == (24, 10, 6890)
    assert smpl.faces.shape == (13776, 3) and smpl.faces.dtype == torch.long
    assert smpl.skinning_weights.shape == (6890, 24)
    torch.manual_seed(0)
    out = smpl(roma.random_rotmat((3, 24), dtype=torch.float64), torch.randn(3, 10).double())
    assert isinstance(out, BodyOutput)
    assert out.vertices.shape == (3, 6890, 3) and out.joints.shape == (3, 24, 3)
    assert out.global_rotations.shape == (3, 24, 3, 3) and out.bone_tails is None


def test_smpl_identity_pose_zero_betas_is_the_template(smpl):
    data = make_smpl_arrays()
    # smplx rounds every array of the file to float32 (smplx.utils.to_np) before any dtype cast.
    v_template = data["v_template"].astype(np.float32).astype(np.float64)
    j_regressor = data["J_regressor"].toarray().astype(np.float32).astype(np.float64)
    expected = j_regressor @ v_template  # numpy, independent of smplx
    rest = smpl.rest_joints()
    np.testing.assert_allclose(rest[0].numpy(), expected, atol=1e-10)
    eye = torch.eye(3, dtype=torch.float64).expand(1, 24, 3, 3)
    out = smpl(eye)
    np.testing.assert_allclose(out.joints[0].numpy(), expected - expected[0], atol=1e-10)
    # skinning weights rounded to float32 sum to 1 only within ~1e-7
    np.testing.assert_allclose(out.vertices[0].numpy(), v_template - expected[0], atol=1e-6)
    t = torch.tensor([[0.1, 0.2, 3.0]], dtype=torch.float64)
    torch.testing.assert_close(smpl(eye, translation=t).joints[0, 0], t[0])


def test_smpl_fk_on_rest_offsets_reproduces_smplx(smpl, smpl_dir):
    """Our FK on the model's rest offsets == smplx's posed joints (axis-angle route, own loader)."""
    import smplx

    torch.manual_seed(1)
    B = 5
    R = roma.random_rotmat((B, 24), dtype=torch.float64)
    betas = torch.randn(B, 10, dtype=torch.float64)
    ref = smplx.SMPL(str(smpl_dir), batch_size=B, dtype=torch.float64)
    aa = roma.rotmat_to_rotvec(R)
    ref_out = ref(betas=betas, global_orient=aa[:, 0], body_pose=aa[:, 1:].reshape(B, 69))
    ref_joints = ref_out.joints[:, :24]
    root = smpl.rest_joints(betas)[:, 0]
    joints, G = K.forward_kinematics(R, smpl.rest_offsets(betas), smpl.parents, root)
    torch.testing.assert_close(joints, ref_joints.detach())
    # the wrapper is smplx with the root moved to `translation`
    out = smpl(R, betas, translation=root)
    torch.testing.assert_close(out.joints, ref_joints.detach())
    torch.testing.assert_close(out.vertices, ref_out.vertices.detach())
    torch.testing.assert_close(out.global_rotations, G)


def test_smpl_npz_and_env_var(tmp_path, monkeypatch, smpl):
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **make_smpl_arrays(sparse_regressor=False))
    monkeypatch.setenv(SMPL_ENV_VAR, str(tmp_path))
    from_env = load_body_model("smpl", dtype=torch.float64)
    assert from_env.path == tmp_path / "SMPL_NEUTRAL.npz"
    R = roma.random_rotmat((2, 24), dtype=torch.float64)
    torch.testing.assert_close(from_env(R).vertices, smpl(R).vertices)


def test_smpl_missing_file_message(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as err:
        SMPLBody(tmp_path)
    msg = str(err.value)
    for needle in ("SMPL_NEUTRAL.pkl", SMPL_ENV_VAR, "model_path", "https://smpl.is.tue.mpg.de",
                   str(tmp_path / "SMPL_NEUTRAL.pkl")):
        assert needle in msg
    monkeypatch.delenv(SMPL_ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError, match=SMPL_ENV_VAR):
        find_smpl_model(gender="female")
    with pytest.raises(FileNotFoundError, match="SMPL_FEMALE.pkl"):
        find_smpl_model(tmp_path, gender="female")


def test_smpl_chumpy_pickle_gets_an_actionable_error(tmp_path):
    # A pickle referencing chumpy, as the original SMPL release does.
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(b"cchumpy.ch\nCh\n.")
    with pytest.raises(ImportError, match="chumpy"):
        SMPLBody(tmp_path)


def test_load_body_model_unknown_name():
    with pytest.raises(ValueError, match="anny"):
        load_body_model("star")


# ----------------------------------------------------------------------------------------- Anny


@pytest.fixture(scope="module")
def anny_body():
    return AnnyBody(dtype=torch.float64)


@pytest.mark.slow
def test_anny_rig_metadata(anny_body):
    b = anny_body
    assert isinstance(b, BodyModel)
    assert b.joint_names == CMU_NAMES and b.parents == CMU_PARENTS
    assert b.shape_names == ["gender", "age", "muscle", "weight", "height", "proportions"]
    assert (b.num_joints, b.num_betas, b.num_vertices) == (31, 6, 13718)
    assert b.faces.shape == (27420, 3) and int(b.faces.min()) >= 0 and int(b.faces.max()) < 13718
    torch.testing.assert_close(b.skinning_weights.sum(1), torch.ones(13718, dtype=torch.float64))
    assert K.chains(b.parents, b.joint_names, ends=["Head"])["Head"] == [0, 6, 7, 8, 16, 17, 18]


@pytest.mark.slow
def test_anny_fk_on_rest_offsets_reproduces_anny(anny_body):
    """Our relative_to_global / forward_kinematics == anny's own chain for random poses."""
    torch.manual_seed(0)
    B = 6
    R = roma.random_rotmat((B, 31), dtype=torch.float64)
    shape = torch.rand(B, 6, dtype=torch.float64)
    t = torch.randn(B, 3, dtype=torch.float64)
    out = anny_body(R, shape, t)
    joints, G = K.forward_kinematics(R, anny_body.rest_offsets(shape), anny_body.parents, t)
    torch.testing.assert_close(out.joints, joints)
    torch.testing.assert_close(out.global_rotations, G)
    # tails ride rigidly on their bone
    rest_out = anny_body(torch.eye(3, dtype=torch.float64).expand(B, 31, 3, 3), shape)
    rest_bones = rest_out.bone_tails - rest_out.joints
    torch.testing.assert_close(out.bone_tails - out.joints, (G @ rest_bones[..., None])[..., 0])


@pytest.mark.slow
def test_anny_identity_is_rest_pose_in_y_up_frame(anny_body):
    b = anny_body
    raw = b.model(None, phenotype_kwargs=b.default_shape())  # anny's own rest mesh, native axes
    rest_vertices = raw["rest_vertices"][0] @ b.axes.T
    rest_joints = b.rest_joints()[0]
    out = b(torch.eye(3, dtype=torch.float64).expand(1, 31, 3, 3))
    torch.testing.assert_close(out.vertices[0] + rest_joints[0], rest_vertices)
    torch.testing.assert_close(out.joints[0] + rest_joints[0], rest_joints)
    # frame: y up, x = subject's left, z = subject's front; metres
    j = dict(zip(b.joint_names, rest_joints))
    assert j["Head"][1] > j["Spine1"][1] > j["Hips"][1] > j["LeftLeg"][1] > j["LeftFoot"][1]
    assert j["LeftUpLeg"][0] > 0.05 and j["RightUpLeg"][0] < -0.05
    assert j["LeftToeBase"][2] - j["LeftFoot"][2] > 0.05
    height = rest_vertices[:, 1].max() - rest_vertices[:, 1].min()
    assert 1.5 < height < 1.75  # anny's mean phenotype is ~1.63 m
    # native axes: anny's z up
    native = AnnyBody(dtype=torch.float64, y_up=False).rest_joints()[0]
    torch.testing.assert_close(native @ b.axes.T, rest_joints)


@pytest.mark.slow
def test_anny_joints_consistent_with_vertices(anny_body):
    """Each bone head lies in the bbox of the vertices its bone or parent skins, and vertices
    skinned to one bone only move rigidly with that joint: v - joint = G (v_rest - joint_rest)."""
    b = anny_body
    W = b.skinning_weights
    eye = torch.eye(3, dtype=torch.float64).expand(1, 31, 3, 3)
    rest = b(eye)
    v, j = rest.vertices[0], rest.joints[0]
    for k, name in enumerate(b.joint_names):
        skinned = W[:, k] > 0
        if b.parents[k] >= 0:
            skinned |= W[:, b.parents[k]] > 0
        lo, hi = v[skinned].min(0).values, v[skinned].max(0).values
        assert bool(((j[k] >= lo) & (j[k] <= hi)).all()), name
    torch.manual_seed(3)
    R = roma.random_rotvec((2, 31), dtype=torch.float64)
    R = roma.rotvec_to_rotmat(R * 0.5)
    t = torch.randn(2, 3, dtype=torch.float64)
    posed = b(R, translation=t)
    rigid = W.max(1)
    rigid_vertices = torch.nonzero(rigid.values > 1 - 1e-9)[:, 0]
    bones = rigid.indices[rigid_vertices]
    assert len(set(bones.tolist())) >= 15
    lhs = posed.vertices[:, rigid_vertices] - posed.joints[:, bones]
    rhs = posed.global_rotations[:, bones] @ (v[rigid_vertices] - j[bones])[None, ..., None]
    torch.testing.assert_close(lhs, rhs[..., 0])


@pytest.mark.slow
def test_anny_shape_inputs_and_errors(anny_body):
    b = anny_body
    R = roma.random_rotmat((3, 31), dtype=torch.float64)
    as_dict = b(R, {"age": 0.8, "gender": torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)})
    tensor = b.default_shape(3)
    tensor[:, 1] = 0.8
    tensor[:, 0] = torch.tensor([0.0, 0.5, 1.0])
    torch.testing.assert_close(as_dict.vertices, b(R, tensor).vertices)
    torch.testing.assert_close(b(R, tensor[0]).vertices[0], b(R[:1], tensor[:1]).vertices[0])
    with pytest.raises(ValueError, match="unknown phenotype"):
        b(R, {"cupsize": 0.3})
    with pytest.raises(ValueError, match="rotations"):
        b(R[:, :24])
    with pytest.raises(ValueError, match="translation"):
        b(R, translation=torch.zeros(2, 3, dtype=torch.float64))
    assert load_body_model("anny").faces.shape == (27420, 3)
