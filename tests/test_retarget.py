"""Tests for posebook.data.retarget on the real CMU files (skipped when absent) and the real Anny.

Independent references: the CMU positions computed by the ASF reader (bone directions, hip joints,
floor), anny's own skinning (``AnnyBody.forward``) against the package's forward kinematics, and
scipy's shortest-arc ``Rotation.align_vectors`` for the rest corrections.

Measured (CMU 02_01 walk and 135_04 front kick, 100 frames each, float64):
- bone directions, Anny head->tail vs CMU bone, 28 bones: max 1e-12 deg;
- mean joint distance, 31 Anny heads vs CMU at the same points: 02_01 4.0 cm (anny's default
  shape) -> 3.2 cm (fitted); 135_04 4.6 -> 3.7 cm. With the off-by-one correspondence (Anny head
  X(b) against the END of ASF bone b) it is 15.5-15.8 cm;
- 02_01 fitted: lowest mesh vertex -3.0..+3.7 cm about the floor (mean +0.7 cm); head over the
  pelvis, at most 6.4 deg from vertical.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from scipy.spatial.transform import Rotation

from posebook.body.joints import ANNY_CMU_MB, BVH_TO_ASF
from posebook.data import retarget as RT
from posebook.data.mocap import load_asf_amc, resample

REPO = Path(__file__).resolve().parents[1]
CLIPS = ("02_01", "135_04")
MATCHED = [j for j, n in enumerate(ANNY_CMU_MB) if n not in RT.PELVIS_RIGID]

pytestmark = pytest.mark.slow


# cmu_dir: the session fixture of tests/conftest.py ($POSEBOOK_CMU_DIR, else shared/data beside the checkout).


@pytest.fixture(scope="module")
def body():
    from posebook.body.models import AnnyBody

    return AnnyBody(dtype=torch.float64)


@pytest.fixture(scope="module")
def clips(cmu_dir, body):
    """clip -> (motion at ~100 frames, retargeted with anny's default shape, with a fitted one)."""
    out = {}
    for name in CLIPS:
        subject = name.split("_")[0]
        motion = load_asf_amc(cmu_dir / f"{subject}.asf", cmu_dir / f"{name}.amc")
        motion = resample(motion, motion.fps * 100 / motion.num_frames)
        fitted = RT.fit_anny_shape(motion, body)
        default = RT.retarget_to_anny(motion, body)
        out[name] = (motion, default, RT.retarget_to_anny(motion, body, fitted))
    return out


def _asf(motion, name):
    return motion.skeleton.index(name)


def test_cmu_rest_frame_is_annys_y_up_frame(clips, body):
    """ASF rest: left bones at +x, feet towards +z, spine up; Anny's rest the same way, so the
    world rotation between them is the identity."""
    skeleton = clips["02_01"][0].skeleton
    d = {n: skeleton.directions[i] for i, n in enumerate(skeleton.names)}
    assert d["lfemur"][0] > 0.3 and d["rfemur"][0] < -0.3 and d["lhipjoint"][0] > 0.5
    assert d["lfoot"][2] > 0.9 and d["rfoot"][2] > 0.9
    assert d["lowerback"][1] > 0.99 and d["lhumerus"][0] > 0.99 and d["rhumerus"][0] < -0.99
    heads, tails = RT._anny_rest(body, body.default_shape(1)[0])
    i = ANNY_CMU_MB.index
    assert heads[i("LeftUpLeg"), 0] > 0.05 and heads[i("RightUpLeg"), 0] < -0.05
    assert tails[i("LeftFoot"), 2] - heads[i("LeftFoot"), 2] > 0.1
    assert tails[i("Spine"), 1] - heads[i("Spine"), 1] > 0.1


def test_rest_corrections_are_chained_shortest_arc_swings(clips, body):
    """Q_j d_anny_j = d_cmu_j, pelvis bones Q = I, and Q equals the chain of scipy shortest-arc
    rotations Q_j = align(Q_pa d_anny_j -> d_cmu_j) Q_pa."""
    skeleton = clips["02_01"][0].skeleton
    Q = RT.rest_corrections(skeleton, body)
    heads, tails = RT._anny_rest(body, body.default_shape(1)[0])
    d_anny = torch.nn.functional.normalize(tails - heads, dim=-1).numpy()
    expected = [None] * 31
    for j, name in enumerate(ANNY_CMU_MB):
        p = body.parents[j]
        if name in RT.PELVIS_RIGID:
            expected[j] = Rotation.identity()
            continue
        d_cmu = skeleton.directions[skeleton.index(BVH_TO_ASF[name])].numpy()
        swing, _ = Rotation.align_vectors(d_cmu[None], expected[p].apply(d_anny[j])[None])
        expected[j] = swing * expected[p]
        moved = Q[j] @ torch.from_numpy(d_anny[j])
        torch.testing.assert_close(moved, torch.from_numpy(d_cmu), atol=1e-9, rtol=0)
    reference = torch.from_numpy(Rotation.concatenate(expected).as_matrix())
    torch.testing.assert_close(Q, reference, atol=1e-9, rtol=0)


@pytest.mark.parametrize("name", CLIPS)
def test_every_matched_anny_bone_points_along_its_cmu_bone(clips, body, name):
    motion, retargeted, _ = clips[name]
    out = body(retargeted.rotations, retargeted.shape, retargeted.root_translation)
    # anny's own skinning route and the package's FK give the same heads
    torch.testing.assert_close(out.joints, retargeted.joints, atol=1e-9, rtol=0)
    index = [_asf(motion, BVH_TO_ASF[n]) for n in ANNY_CMU_MB]
    P = motion.positions
    cmu = P[:, index] - P[:, [max(motion.skeleton.parents[i], 0) for i in index]]
    anny = out.bone_tails - out.joints
    a, c = anny[:, MATCHED], cmu[:, MATCHED]
    angle = torch.atan2(torch.linalg.cross(a, c).norm(dim=-1), (a * c).sum(-1))  # exact near 0
    worst = math.degrees(float(angle.max()))
    print(f"{name}: max angle between Anny and CMU bones {worst:.2e} deg over {len(MATCHED)} bones")
    assert worst < 1e-3


@pytest.mark.parametrize("name", CLIPS)
def test_pelvis_moves_rigidly_with_the_cmu_root(clips, body, name):
    motion, retargeted, _ = clips[name]
    out = body(retargeted.rotations[:10], retargeted.shape, retargeted.root_translation[:10])
    root = motion.global_rotations[:10, 0]
    for bone in RT.PELVIS_RIGID:
        G = out.global_rotations[:, ANNY_CMU_MB.index(bone)]
        torch.testing.assert_close(G, root, atol=1e-9, rtol=0)
    P = motion.positions
    hips = (P[:, _asf(motion, "lhipjoint")] + P[:, _asf(motion, "rhipjoint")]) / 2
    torch.testing.assert_close(retargeted.root_translation, hips)
    torch.testing.assert_close(retargeted.joints[:, 0], hips)


@pytest.mark.parametrize("name", CLIPS)
def test_joint_positions_close_to_mocap_and_shape_fit_helps(clips, name):
    motion, default, fitted = clips[name]
    before = float((default.joints - default.mocap_joints).norm(dim=-1).mean())
    after = float((fitted.joints - fitted.mocap_joints).norm(dim=-1).mean())
    index = [_asf(motion, BVH_TO_ASF[n]) for n in ANNY_CMU_MB]
    off_by_one = float((default.joints - motion.positions[:, index]).norm(dim=-1).mean())
    shape = [round(x, 2) for x in fitted.shape.tolist()]
    print(f"{name}: mean joint distance {100 * before:.1f} cm (default shape) -> "
          f"{100 * after:.1f} cm (fitted {shape}); "
          f"bone-END correspondence {100 * off_by_one:.1f} cm")
    assert before < 0.06 and after < 0.045
    assert after < before - 0.005
    # Anny heads sit at the STARTS of the ASF bones: the ends are a bone length away
    assert off_by_one > 3 * before
    assert 0.77 <= float(fitted.shape[1]) <= 1.0  # adult


def test_walk_stays_upright_with_feet_on_the_floor(clips, body):
    _, _, fitted = clips["02_01"]
    out = body(fitted.rotations, fitted.shape, fitted.root_translation)
    up = out.joints[:, ANNY_CMU_MB.index("Head")] - out.joints[:, 0]
    assert float(up[:, 1].min()) > 0.5
    tilt = torch.rad2deg(torch.acos(up[:, 1] / up.norm(dim=-1)))
    assert float(tilt.max()) < 15.0
    lowest = out.vertices[..., 1].min(dim=-1).values
    low, mean, high = float(lowest.min()), float(lowest.mean()), float(lowest.max())
    print(f"02_01 lowest vertex: min {low:.3f} mean {mean:.3f} max {high:.3f} m")
    assert -0.05 < low and high < 0.06 and abs(mean) < 0.02


def test_mocap_points_rows(clips):
    skeleton = clips["02_01"][0].skeleton
    M = RT.mocap_points(skeleton)
    torch.testing.assert_close(M.sum(1), torch.ones(31, dtype=M.dtype))
    row = M[ANNY_CMU_MB.index("LeftLeg")]  # knee = end of lfemur
    assert row[skeleton.index("lfemur")] == 1.0
    assert M[ANNY_CMU_MB.index("LowerBack"), skeleton.index("root")] == 1.0


def test_bad_inputs(clips, body):
    motion = clips["02_01"][0]
    names = list(motion.skeleton.names)
    names[2] = "lthigh"
    renamed = replace(motion, skeleton=replace(motion.skeleton, names=names))
    with pytest.raises(ValueError, match="lfemur"):
        RT.retarget_to_anny(renamed, body)
    with pytest.raises(ValueError, match=r"\(6,\)"):
        RT.retarget_to_anny(motion, body, torch.zeros(5))
    with pytest.raises(ValueError, match="unknown phenotype"):
        RT.fit_anny_shape(motion, body, fit=("bmi",))
