"""Tests for posebook.body.joints.

Independent references: the real CMU ASF hierarchy (when the data is present), the real Anny rig
(names, parents, rest geometry) and anny's own ``KeypointsRegressor``; anatomical placement on the
adult rest body; affine equivariance and the left/right mirror symmetry of the rest body as
properties that any correct linear joint map must have.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import roma
import torch

from posebook.body import joints as J
from posebook.body.skeletons import H36M17_NAMES, H36M17_PARENTS, SMPL24_NAMES, SMPL24_PARENTS

REPO = Path(__file__).resolve().parents[1]
ADULT = [0.5, 0.8, 0.5, 0.5, 0.5, 0.5]  # anny phenotypes: age 0.8 ~ an adult


# ------------------------------------------------------------------------------- metadata (fast)


def test_name_maps_are_bijections_between_the_two_31_name_lists():
    assert len(J.CMU31) == len(set(J.CMU31)) == 31
    assert len(J.ANNY_CMU_MB) == len(set(J.ANNY_CMU_MB)) == 31
    assert set(J.ASF_TO_BVH) == set(J.CMU31) and set(J.ASF_TO_BVH.values()) == set(J.ANNY_CMU_MB)
    assert all(J.ASF_TO_BVH[J.BVH_TO_ASF[b]] == b for b in J.ANNY_CMU_MB)


def test_name_map_carries_the_asf_hierarchy_onto_the_anny_rig():
    """ASF parent(b) maps to the BVH parent of X(b): both trees are the same tree."""
    for j, asf in enumerate(J.CMU31):
        p = J.CMU31_PARENTS[j]
        bvh = J.ASF_TO_BVH[asf]
        q = J.ANNY_CMU_MB_PARENTS[J.ANNY_CMU_MB.index(bvh)]
        assert (p < 0 and q < 0) or J.ASF_TO_BVH[J.CMU31[p]] == J.ANNY_CMU_MB[q], asf


@pytest.mark.parametrize("name", list(J.JOINT_SETS))
def test_names_parents_edges_flips_are_consistent(name):
    names, parents = J.joint_names(name), J.parents(name)
    spec = J.joint_set(name)
    assert len(names) == len(set(names)) == len(parents) == len(spec.points) == spec.num_joints
    # a tree: one root, every joint reaches it without a cycle
    assert parents.count(-1) == 1
    for j in range(len(parents)):
        seen, k = set(), j
        while parents[k] >= 0:
            assert k not in seen
            seen.add(k)
            k = parents[k]
    assert spec.topological == (name != "lsp14")
    for a, b in J.skeleton_edges(name):
        assert 0 <= a < len(names) and 0 <= b < len(names) and a != b
    pairs = J.flip_pairs(name)
    flat = [i for pair in pairs for i in pair]
    assert len(flat) == len(set(flat))
    for left, right in pairs:
        lname, rname = names[left].lower(), names[right].lower()
        assert lname.startswith("l") and rname.startswith("r")
    # every joint with a side in its name is in a pair
    sided = [i for i, n in enumerate(names) if n.lower().startswith(("left", "right", "l_", "r_"))]
    assert set(sided) <= set(flat)
    for terms in spec.points:
        assert abs(sum(w for _, w in terms) - 1.0) < 1e-12


def test_sets_reuse_benchmark_constants():
    assert J.joint_names("h36m17") == list(H36M17_NAMES)
    assert J.parents("h36m17") == list(H36M17_PARENTS)
    assert J.joint_names("smpl24") == list(SMPL24_NAMES)
    assert J.parents("smpl24") == list(SMPL24_PARENTS)
    assert J.flip_pairs("h36m17") == [(4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16)]
    assert len(J.skeleton_edges("coco17")) == 19


def test_cmu31_points_follow_the_bone_end_rule():
    """ASF joint b (bone END) = head of X(child of b); leaf ends = tails; root = LowerBack head."""
    points = dict(zip(J.CMU31, (terms[0][0] for terms in J.joint_set("cmu31").points)))
    assert points["lfemur"] == "head:LeftLeg"  # knee
    assert points["ltibia"] == "head:LeftFoot"  # ankle
    assert points["lclavicle"] == "head:LeftArm"  # shoulder
    assert points["lhumerus"] == "head:LeftForeArm"  # elbow
    assert points["lradius"] == "head:LeftHand"  # wrist
    assert points["thorax"] == "head:Neck" and points["lwrist"] == "head:LeftFingerBase"
    assert points["ltoes"] == "tail:LeftToeBase" and points["head"] == "tail:Head"
    assert points["root"] == "head:LowerBack"


def test_unknown_set_and_bad_inputs_raise():
    with pytest.raises(ValueError, match="cmu31.*h36m17.*lsp14.*coco17.*smpl24"):
        J.joint_names("mpii16")
    with pytest.raises(ValueError, match="available"):
        J.convert_joints(torch.zeros(31, 3), "h36m")
    with pytest.raises(ValueError, match=r"\(\.\.\., 31, 3\)"):
        J.convert_joints(torch.zeros(24, 3), "smpl24")
    with pytest.raises(ValueError, match="tails"):
        J.convert_joints(torch.zeros(31, 3), "h36m17")
    with pytest.raises(ValueError, match="body="):
        J.convert_joints(torch.zeros(31, 3), "coco17")


@pytest.mark.parametrize("name", ["cmu31", "h36m17", "lsp14", "smpl24"])
def test_convert_is_the_dense_regressor_and_affine_equivariant(name):
    torch.manual_seed(0)
    heads = torch.randn(4, 31, 3, dtype=torch.float64)
    tails = torch.randn(4, 31, 3, dtype=torch.float64)
    W = J.joint_regressor(name)
    assert W.shape == (len(J.joint_names(name)), 62)
    torch.testing.assert_close(W.sum(1), torch.ones(W.shape[0], dtype=torch.float64))
    out = J.convert_joints(heads, name, tails)
    torch.testing.assert_close(out, W @ torch.cat([heads, tails], dim=-2))
    A = torch.randn(3, 3, dtype=torch.float64)
    t = torch.randn(3, dtype=torch.float64)
    moved = J.convert_joints(heads @ A.T + t, name, tails @ A.T + t)
    torch.testing.assert_close(moved, out @ A.T + t)
    # differentiable, with the regressor as Jacobian
    heads.requires_grad_(True)
    J.convert_joints(heads, name, tails).sum().backward()
    torch.testing.assert_close(heads.grad[0], W[:, :31].sum(0)[:, None].expand(31, 3))


def test_convert_keeps_dtype_and_leading_dims():
    x = torch.zeros(2, 5, 31, 3, dtype=torch.float32)
    out = J.convert_joints(x, "lsp14", x)
    assert out.shape == (2, 5, 14, 3) and out.dtype == torch.float32


# ------------------------------------------------------------------------------- on Anny (slow)


@pytest.fixture(scope="module")
def anny():
    from posebook.body.models import AnnyBody

    body = AnnyBody(dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64).expand(1, 31, 3, 3)
    rest = body(eye, torch.tensor([ADULT], dtype=torch.float64))
    return body, rest


def _convert(name, out, body):
    return J.convert_joints(out.joints, name, out.bone_tails, out.vertices, body)[0]


@pytest.mark.slow
def test_rig_constants_match_anny(anny):
    body, _ = anny
    assert tuple(body.joint_names) == J.ANNY_CMU_MB
    assert tuple(body.parents) == J.ANNY_CMU_MB_PARENTS


@pytest.mark.slow
def test_cmu31_matches_the_asf_hierarchy_file(cmu_dir):
    from posebook.data.mocap import load_asf

    for subject in ("02", "135"):
        skeleton = load_asf(cmu_dir / f"{subject}.asf")
        assert tuple(skeleton.names) == J.CMU31 and tuple(skeleton.parents) == J.CMU31_PARENTS


@pytest.mark.slow
def test_bone_end_equals_tail_of_its_bone_and_head_of_the_chosen_child(anny):
    """'ASF end of b == Anny tail of X(b)': the cmu31 point (a child's head) is the tail of b's
    Anny bone, for the rest body and a random pose (non-leaf, non-root bones)."""
    body, rest = anny
    torch.manual_seed(1)
    R = roma.random_rotmat((2, 31), dtype=torch.float64)
    posed = body(R, torch.tensor([ADULT], dtype=torch.float64))
    for out in (rest, posed):
        cmu = J.convert_joints(out.joints, "cmu31", out.bone_tails)
        for j, asf in enumerate(J.CMU31):
            if j == 0:
                continue
            tail = out.bone_tails[:, J.ANNY_CMU_MB.index(J.ASF_TO_BVH[asf])]
            torch.testing.assert_close(cmu[:, j], tail, atol=1e-9, rtol=0)
        # and the ASF root (the lumbar base) is the Hips tail
        torch.testing.assert_close(cmu[:, 0], out.bone_tails[:, 0], atol=1e-9, rtol=0)


@pytest.mark.slow
def test_coco17_is_annys_own_keypoint_regressor(anny):
    from anny.keypoints import KeypointsRegressor

    body, rest = anny
    reference = KeypointsRegressor.coco(body.model, labels=list(J.COCO17_NAMES))
    expected = reference({"vertices": rest.vertices})[0]
    torch.testing.assert_close(_convert("coco17", rest, body), expected, atol=1e-6, rtol=0)
    W = J.joint_regressor("coco17", body)
    assert W.shape == (17, 62 + body.num_vertices)
    assert float(W[:, :62].abs().sum()) == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("name", list(J.JOINT_SETS))
def test_mirror_symmetry_of_the_rest_body_matches_flip_pairs(anny, name):
    """The rest body is left/right symmetric: mirroring x and swapping the flip pairs gives the
    same joints (checks the pairs, and that 'left' joints are the subject's left, +x)."""
    body, rest = anny
    X = _convert(name, rest, body)
    perm = list(range(len(X)))
    for a, b in J.flip_pairs(name):
        perm[a], perm[b] = b, a
    mirrored = X[perm] * X.new_tensor([-1.0, 1.0, 1.0])
    torch.testing.assert_close(mirrored, X, atol=3e-3, rtol=0)
    for a, b in J.flip_pairs(name):
        assert X[a, 0] > 0.01 and X[b, 0] < -0.01, J.joint_names(name)[a]


@pytest.mark.slow
def test_affine_equivariance_with_vertices(anny):
    body, rest = anny
    A = roma.random_rotmat(dtype=torch.float64) * 1.3
    t = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    heads, tails, vertices = (x @ A.T + t for x in (rest.joints, rest.bone_tails, rest.vertices))
    moved = J.convert_joints(heads, "coco17", tails, vertices, body)[0]
    torch.testing.assert_close(moved, _convert("coco17", rest, body) @ A.T + t, atol=1e-9, rtol=0)


@pytest.mark.slow
def test_anatomical_placement_on_the_rest_body(anny):
    body, rest = anny
    y = 1
    h36 = dict(zip(J.joint_names("h36m17"), _convert("h36m17", rest, body)))
    # pelvis between the hips (within 2 cm of their midpoint), then up the spine to the head
    assert (h36["Hip"] - (h36["LHip"] + h36["RHip"]) / 2).norm() < 0.02
    chain = ["Hip", "Spine", "Thorax", "Neck/Nose", "Head"]
    assert all(h36[a][y] < h36[b][y] for a, b in zip(chain, chain[1:]))
    for s in "LR":
        assert h36[f"{s}Hip"][y] > h36[f"{s}Knee"][y] > h36[f"{s}Foot"][y]
        assert h36[f"{s}Shoulder"][y] > h36[f"{s}Elbow"][y] > h36[f"{s}Wrist"][y]  # A-pose
        assert h36["Thorax"][y] > h36[f"{s}Shoulder"][y] > h36["Spine"][y]
    # thigh and shank of an adult: 0.35-0.55 m
    for a, b in (("LHip", "LKnee"), ("LKnee", "LFoot")):
        assert 0.35 < float((h36[a] - h36[b]).norm()) < 0.55

    head_bone = rest.joints[0, J.ANNY_CMU_MB.index("Head")]
    coco = dict(zip(J.COCO17_NAMES, _convert("coco17", rest, body)))
    z = 2
    assert coco["nose"][z] > head_bone[z] + 0.08  # the nose tip is in front of the skull base
    assert coco["left_eye"][y] > coco["nose"][y] and coco["right_eye"][y] > coco["nose"][y]
    assert coco["left_ear"][z] < coco["left_eye"][z]
    assert abs(coco["left_ear"][0]) > abs(coco["left_eye"][0])
    assert coco["left_eye"][0] > 0  # subject's left is +x
    # COCO limb keypoints within 4 cm of the corresponding bone heads
    pairs = (("left_shoulder", "LShoulder"), ("left_elbow", "LElbow"), ("left_knee", "LKnee"),
             ("left_ankle", "LFoot"), ("left_hip", "LHip"))  # fmt: skip
    for kp, bone in pairs:
        assert (coco[kp] - h36[bone]).norm() < 0.04, kp

    lsp = dict(zip(J.joint_names("lsp14"), _convert("lsp14", rest, body)))
    assert lsp["head_top"][y] > lsp["neck"][y] > lsp["left_shoulder"][y]
    assert float(lsp["head_top"][y]) == pytest.approx(float(rest.vertices[0, :, y].max()), abs=0.02)

    smpl = dict(zip(SMPL24_NAMES, _convert("smpl24", rest, body)))
    spine = ["pelvis", "spine1", "spine2", "spine3", "neck", "head"]
    assert all(smpl[a][y] < smpl[b][y] for a, b in zip(spine, spine[1:]))
    assert (smpl["pelvis"] - (smpl["left_hip"] + smpl["right_hip"]) / 2).norm() < 0.02
    for side in ("left", "right"):
        hand, wrist = smpl[f"{side}_hand"], smpl[f"{side}_wrist"]
        assert 0.05 < float((hand - wrist).norm()) < 0.15
        assert smpl[f"{side}_foot"][z] > smpl[f"{side}_ankle"][z] + 0.1  # the foot points forward
