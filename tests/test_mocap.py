"""Tests for posebook.data.mocap: real CMU ASF/AMC files (skipped when absent) and small written files.

Independent references: a per-bone loop of the CMU README's FK convention on a regex parse of the
raw files (not the package's parser), the CMU FAQ's unit factor, a joint-convention loop with scipy
Euler angles for BVH, roma for the Euler helper, hand-computed rotations.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import roma
import torch
from scipy.spatial.transform import Rotation

from posebook.body.kinematics import forward_kinematics
from posebook.data import mocap
from posebook.data.mocap import MocapFormatError

REPO = Path(__file__).resolve().parents[1]
CMU_FAQ_SCALE = (1.0 / 0.45) * 2.54 / 100.0  # "multiply by this scale to convert to meters"
README_FRAMES = {
    "02_01": 343, "02_03": 173, "02_04": 483, "02_05": 1854,
    "05_01": 598, "05_02": 1123, "05_03": 434, "05_04": 1199, "05_05": 915, "05_07": 1191,
    "09_06": 141,
    "135_02": 5202, "135_03": 2749, "135_04": 1316, "135_05": 2460, "135_06": 3261,
    "135_07": 1472, "135_08": 291, "135_09": 2150, "135_10": 2001, "135_11": 2446,
}  # fmt: skip


# cmu_dir: the session fixture of tests/conftest.py ($POSEBOOK_CMU_DIR, else shared/data beside the checkout).


@pytest.fixture(scope="module")
def clip(cmu_dir):
    cache: dict[str, mocap.Motion] = {}

    def load(name: str) -> mocap.Motion:
        if name not in cache:
            subject = name.split("_")[0]
            cache[name] = mocap.load_asf_amc(cmu_dir / f"{subject}.asf", cmu_dir / f"{name}.amc")
        return cache[name]

    return load


# ------------------------------------------------------------------------------------------------
# independent reference: the CMU README convention, one bone at a time, on a regex parse


def _rx(a):
    c, s = math.cos(math.radians(a)), math.sin(math.radians(a))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a):
    c, s = math.cos(math.radians(a)), math.sin(math.radians(a))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a):
    c, s = math.cos(math.radians(a)), math.sin(math.radians(a))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def raw_asf(path: Path) -> tuple[dict, dict]:
    """Bones {name: {direction, length, axis, dof}} and parent {child: parent}, straight from the text."""
    text = path.read_text().replace("\r", "")
    bonedata = text.split(":bonedata")[1].split(":hierarchy")[0]
    bones = {}
    for block in re.findall(r"\bbegin\b(.*?)\bend\b", bonedata, flags=re.S):
        fields = {line.split()[0]: line.split()[1:] for line in block.strip().splitlines() if line.strip()}
        bones[fields["name"][0]] = {
            "direction": np.array(fields["direction"], dtype=float),
            "length": float(fields["length"][0]),
            "axis": [float(v) for v in fields["axis"][:3]],
            "dof": fields.get("dof", []),
        }
    hierarchy = re.search(r"\bbegin\b(.*?)\bend\b", text.split(":hierarchy")[1], flags=re.S).group(1)
    parent = {}
    for line in hierarchy.strip().splitlines():
        names = line.split()
        for child in names[1:]:
            parent[child] = names[0]
    return bones, parent


def raw_amc_frames(path: Path) -> list[dict[str, list[float]]]:
    frames: list[dict[str, list[float]]] = []
    for line in path.read_text().replace("\r", "").splitlines():
        words = line.split()
        if not words or words[0][0] in "#:":
            continue
        if words[0].isdigit():
            frames.append({})
        else:
            frames[-1][words[0]] = [float(v) for v in words[1:]]
    return frames


def readme_fk(bones: dict, parent: dict, frame: dict, scale: float) -> dict[str, np.ndarray]:
    """C = Rz Ry Rx (axis), M = Rz Ry Rx (dofs), R_b = R_parent C M C^T, end_b = end_parent + L R_b d."""
    tx, ty, tz, rx, ry, rz = frame["root"]
    R = {"root": _rz(rz) @ _ry(ry) @ _rx(rx)}
    end = {"root": np.array([tx, ty, tz]) * scale}
    todo = list(bones)
    while todo:
        name = next(n for n in todo if parent[n] in R)
        todo.remove(name)
        b = bones[name]
        ax, ay, az = b["axis"]
        C = _rz(az) @ _ry(ay) @ _rx(ax)
        angles = dict(zip(b["dof"], frame.get(name, [])))
        M = _rz(angles.get("rz", 0.0)) @ _ry(angles.get("ry", 0.0)) @ _rx(angles.get("rx", 0.0))
        R[name] = R[parent[name]] @ C @ M @ C.T
        direction = b["direction"] / np.linalg.norm(b["direction"])  # the ASF rounds unit vectors
        end[name] = end[parent[name]] + b["length"] * scale * R[name] @ direction
    return end


# ------------------------------------------------------------------------------------------------
# real CMU files


def test_list_cmu_matches_readme_table(cmu_dir):
    table = mocap.list_cmu(cmu_dir)
    assert dict(zip(table["clip"], table["frames"])) == README_FRAMES
    assert table["frames"].sum() == 31802
    assert all(Path(p).is_file() for p in table["asf"])
    assert list(table["clip"][:4]) == ["02_01", "02_03", "02_04", "02_05"]  # numeric subject order
    assert "frames" not in mocap.list_cmu(cmu_dir, count_frames=False).columns


@pytest.mark.parametrize("name", ["02_01", "02_03", "05_03", "09_06", "135_08"])
def test_frame_counts_from_readme(clip, name):
    motion = clip(name)
    T = README_FRAMES[name]
    assert motion.num_frames == T
    assert motion.positions.shape == (T, 31, 3)
    assert motion.local_rotations.shape == (T, 31, 3, 3)
    assert motion.root_translation.shape == (T, 3)
    assert motion.fps == 120.0
    assert motion.positions.dtype == torch.float64


def test_skeleton_names_order_and_units(cmu_dir):
    skel = mocap.load_asf(cmu_dir / "02.asf")
    readme = (
        "root, lhipjoint, lfemur, ltibia, lfoot, ltoes, rhipjoint, rfemur, rtibia, rfoot, rtoes, "
        "lowerback, upperback, thorax, lowerneck, upperneck, head, lclavicle, lhumerus, lradius, "
        "lwrist, lhand, lfingers, lthumb, rclavicle, rhumerus, rradius, rwrist, rhand, rfingers, rthumb"
    ).split(", ")
    assert skel.names == readme
    assert skel.parents[skel.index("lfemur")] == skel.index("lhipjoint")
    thorax_children = [skel.names[c] for c in skel.children(skel.index("thorax"))]
    assert thorax_children == ["lowerneck", "lclavicle", "rclavicle"]
    assert skel.scale == pytest.approx(CMU_FAQ_SCALE, rel=1e-12)
    assert skel.dofs[0] == ("tx", "ty", "tz", "rx", "ry", "rz")
    assert skel.dofs[skel.index("lhipjoint")] == ()
    assert skel.dofs[skel.index("lfoot")] == ("rx", "rz")
    assert skel.limits[skel.index("ltibia")] == ((-10.0, 170.0),)
    # README, to its 2 decimals (all subjects: femurs 0.3713-0.4286 m, tibias 0.4073-0.4503 m)
    for name in ("lfemur", "rfemur"):
        assert 0.37 <= round(float(skel.lengths[skel.index(name)]), 2) <= 0.43
    for name in ("ltibia", "rtibia"):
        assert 0.41 <= round(float(skel.lengths[skel.index(name)]), 2) <= 0.45


@pytest.mark.parametrize("name", ["02_01", "09_06", "135_08"])
def test_fk_keeps_bone_lengths_equal_to_asf(cmu_dir, clip, name):
    motion = clip(name)
    bones, _ = raw_asf(cmu_dir / f"{name.split('_')[0]}.asf")
    skel = motion.skeleton
    expected = torch.tensor([bones[n]["length"] * CMU_FAQ_SCALE for n in skel.names[1:]], dtype=torch.float64)
    P = motion.positions
    lengths = torch.linalg.vector_norm(P[:, 1:] - P[:, skel.parents[1:]], dim=-1)
    assert (lengths - expected).abs().max() < 1e-6


@pytest.mark.parametrize("name", ["02_01", "05_01"])
def test_standing_height_and_ground(clip, name):
    motion = clip(name)
    skel = motion.skeleton
    y = motion.positions[0, :, 1]  # y is up
    toes = y[[skel.index("ltoes"), skel.index("rtoes")]].min()
    height = float(y[skel.index("head")] - toes)
    assert 1.5 <= height <= 2.0, height
    feet = [skel.index(n) for n in ("lfoot", "ltoes", "rfoot", "rtoes")]
    assert abs(float(y[feet].min())) < 0.03  # ground at y = 0


@pytest.mark.parametrize(("name", "frames"), [("02_01", [0, 171, 342]), ("135_04", [0, 700, 1315])])
def test_fk_equals_readme_per_bone_loop(cmu_dir, clip, name, frames):
    """02_01: LF without a final newline; 135_04: CRLF."""
    motion = clip(name)
    bones, parent = raw_asf(cmu_dir / f"{name.split('_')[0]}.asf")
    raw = raw_amc_frames(cmu_dir / f"{name}.amc")
    assert len(raw) == motion.num_frames
    for t in frames:
        end = readme_fk(bones, parent, raw[t], CMU_FAQ_SCALE)
        expected = torch.tensor(np.stack([end[n] for n in motion.skeleton.names]))
        torch.testing.assert_close(motion.positions[t], expected, rtol=0, atol=1e-10)


def test_joint_tree_reproduces_positions_with_kinematics_fk(clip):
    motion = clip("05_03")
    tree = mocap.joint_tree(motion)
    assert len(tree.names) == 31 + 7  # one node per bone start + an end site per leaf bone
    joints, _ = forward_kinematics(tree.local_rotations, tree.offsets, tree.parents, tree.root_translation)
    torch.testing.assert_close(joints[:, tree.joint_index], motion.positions, rtol=0, atol=1e-10)
    # The joint convention on the bone-end skeleton itself is a different (wrong) FK: the two
    # conventions really differ on this data.
    skel = motion.skeleton
    naive, _ = forward_kinematics(motion.local_rotations, skel.offsets, skel.parents, motion.root_translation)
    assert (naive - motion.positions).abs().max() > 0.05
    torch.testing.assert_close(motion.global_rotations, relative_to_global_loop(motion))


def relative_to_global_loop(motion):
    G = [None] * motion.skeleton.num_joints
    for j, p in enumerate(motion.skeleton.parents):
        G[j] = motion.local_rotations[:, j] if p < 0 else G[p] @ motion.local_rotations[:, j]
    return torch.stack(G, dim=1)


def bvh_point(skel: mocap.Skeleton, j: int) -> str:
    """The BVH point at the end of bone j: the start joint of its first child bone, or its End Site."""
    kids = skel.children(j)
    return skel.names[j] if j == 0 else (skel.names[kids[0]] if kids else f"{skel.names[j]}_end")


@pytest.mark.parametrize("name", ["02_01", "135_08"])
def test_amc_to_bvh_round_trip(tmp_path, clip, name):
    motion = clip(name)
    path = tmp_path / f"{name}.bvh"
    mocap.save_bvh(motion, path, scale=0.01)  # centimetres in the file
    back = mocap.load_bvh(path, scale=0.01)
    skel = motion.skeleton
    index = [back.skeleton.index(bvh_point(skel, j)) for j in range(skel.num_joints)]
    assert back.num_frames == motion.num_frames and back.fps == 120.0
    assert (back.positions[:, index] - motion.positions).abs().max() < 1e-6
    # the BVH's own joints are the bone starts: lfemur's BVH joint sits at the hip (end of lhipjoint)
    hip_in_bvh = back.positions[:, back.skeleton.index("lfemur")]
    torch.testing.assert_close(hip_in_bvh, motion.positions[:, skel.index("lhipjoint")], rtol=0, atol=1e-6)


def test_amc_line_reader_matches_fast_reader(tmp_path, cmu_dir, clip):
    """Bones in another order inside each frame take the line-by-line path: same numbers."""
    lines = (cmu_dir / "02_01.amc").read_text().splitlines()
    out, frame = [], []
    for line in lines[3 : 3 + 30 * 30]:
        if line.strip().isdigit():
            out += frame[:1] + frame[1:][::-1]
            frame = []
        frame.append(line)
    out += frame[:1] + frame[1:][::-1]
    path = tmp_path / "reordered.amc"
    path.write_text("\n".join(lines[:3] + out) + "\n")
    reordered = mocap.load_amc(path, clip("02_01").skeleton)
    assert reordered.num_frames == 30
    torch.testing.assert_close(reordered.positions, clip("02_01").positions[:30], rtol=0, atol=0)


@pytest.mark.slow
def test_every_clip_loads(cmu_dir):
    for name, frames in README_FRAMES.items():
        motion = mocap.load_asf_amc(cmu_dir / f"{name.split('_')[0]}.asf", cmu_dir / f"{name}.amc")
        assert motion.num_frames == frames
        P = motion.positions
        lengths = torch.linalg.vector_norm(P[:, 1:] - P[:, motion.skeleton.parents[1:]], dim=-1)
        assert (lengths - motion.skeleton.lengths[1:]).abs().max() < 1e-6


def test_resample(clip):
    motion = clip("09_06")  # 141 frames at 120 fps
    quarter = mocap.resample(motion, 30)
    assert quarter.fps == 30.0 and quarter.num_frames == 36
    torch.testing.assert_close(quarter.positions, motion.positions[::4])
    fifty = mocap.resample(motion, 50)
    expected = [round(i * 2.4) for i in range(59)]  # 58 * 2.4 = 139.2 <= 140
    assert fifty.num_frames == 59
    torch.testing.assert_close(fifty.local_rotations, motion.local_rotations[expected])
    with pytest.raises(ValueError, match="subsampling"):
        mocap.resample(motion, 240)


# ------------------------------------------------------------------------------------------------
# small written files: formats, conventions and errors (no CMU data needed)

ASF = """\
# a three-bone leg
:version 1.10
:name TEST
:units
  mass 1.0
  length {length}
  angle deg
:documentation
  written by the tests
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name hip
     direction 0 -1 0
     length 1
     axis 0 0 0  XYZ
  end
  begin
     id 2
     name thigh
     direction 1 0 0
     length 2
     axis 0 0 90 XYZ
    dof {thigh_dofs}
    limits (-160.0 20.0)
           (-70.0 70.0)
  end
  begin
     id 3
     name shin
     direction 0 -1 0
     length 3
     axis 0 0 0 XYZ
    dof rx
    limits (-10.0 170.0)
  end
:hierarchy
  begin
    root hip
    hip thigh
    thigh shin
  end
"""

AMC_LINES = [
    "#!OML:ASF test.asf",  # 1
    ":FULLY-SPECIFIED",  # 2
    ":DEGREES",  # 3
    "1",  # 4
    "root 1 2 3 0 0 0",  # 5
    "thigh 90 0",  # 6
    "shin 0",  # 7
    "2",  # 8
    "root 1 2 3 0 90 0",  # 9
    "thigh 0 0",  # 10
    "shin 90",  # 11
]


def write(tmp_path: Path, name: str, text: str, newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode())
    return path


@pytest.fixture
def leg(tmp_path) -> mocap.Skeleton:
    return mocap.load_asf(write(tmp_path, "leg.asf", ASF.format(length=1.0, thigh_dofs="rx rz")))


def load_lines(tmp_path, skeleton, lines, name="m.amc"):
    return mocap.load_amc(write(tmp_path, name, "\n".join(lines)), skeleton)


def test_asf_units_offsets_and_axes(leg, tmp_path):
    inch = 0.0254
    assert leg.scale == pytest.approx(inch)
    torch.testing.assert_close(leg.lengths, torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64) * inch)
    torch.testing.assert_close(leg.offsets[2], torch.tensor([2 * inch, 0.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(leg.axes[2], torch.tensor(_rz(90)))
    assert leg.limits[2] == ((-160.0, 20.0), (-70.0, 70.0))
    cmu_units = mocap.load_asf(write(tmp_path, "cmu.asf", ASF.format(length=0.45, thigh_dofs="rx rz")))
    assert cmu_units.scale == pytest.approx(CMU_FAQ_SCALE, rel=1e-12)
    assert mocap.load_asf(tmp_path / "cmu.asf", scale=1.0).lengths[3] == 3.0


def test_amc_hand_computed_frame(leg, tmp_path):
    """Thigh: C = Rz(90) maps the bone's local x onto world y, so rx = 90 turns it about world y."""
    motion = load_lines(tmp_path, leg, AMC_LINES)
    inch = 0.0254
    hip = np.array([1.0, 2.0 - 1.0, 3.0]) * inch
    # frame 1: thigh (1, 0, 0) * 2 turned 90 deg about world y -> (0, 0, -2); shin (0, -3, 0) too: unchanged.
    knee = hip + np.array([0.0, 0.0, -2.0]) * inch
    ankle = knee + np.array([0.0, -3.0, 0.0]) * inch
    expected = np.stack([np.array([1.0, 2.0, 3.0]) * inch, hip, knee, ankle])
    torch.testing.assert_close(motion.positions[0], torch.tensor(expected), rtol=0, atol=1e-12)
    # frame 2: root Ry(90): x -> -z; shin rx 90 turns (0, -1, 0) into (0, 0, -1), then Ry(90) -> (-1, 0, 0).
    hip = np.array([1.0, 1.0, 3.0]) * inch
    knee = hip + np.array([0.0, 0.0, -2.0]) * inch
    ankle = knee + np.array([-3.0, 0.0, 0.0]) * inch
    expected = np.stack([np.array([1.0, 2.0, 3.0]) * inch, hip, knee, ankle])
    torch.testing.assert_close(motion.positions[1], torch.tensor(expected), rtol=0, atol=1e-12)


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_amc_line_endings_and_missing_final_newline(leg, tmp_path, newline):
    reference = mocap.load_amc(write(tmp_path, "lf.amc", "\n".join(AMC_LINES) + "\n"), leg)
    other = mocap.load_amc(write(tmp_path, "other.amc", "\n".join(AMC_LINES), newline), leg)
    torch.testing.assert_close(other.positions, reference.positions, rtol=0, atol=0)
    asf_text = ASF.format(length=1.0, thigh_dofs="rx rz")
    crlf_asf = mocap.load_asf(write(tmp_path, "crlf.asf", asf_text, newline))
    torch.testing.assert_close(crlf_asf.offsets, leg.offsets, rtol=0, atol=0)


def test_amc_radians_header(leg, tmp_path):
    degrees = load_lines(tmp_path, leg, AMC_LINES)
    lines = [":RADIANS" if line == ":DEGREES" else line for line in AMC_LINES]
    lines = [re.sub(r"\b90\b", repr(math.pi / 2), line) if not line.isdigit() else line for line in lines]
    radians = load_lines(tmp_path, leg, lines, "rad.amc")
    torch.testing.assert_close(radians.positions, degrees.positions)


def check_error(excinfo, path: Path, line: int | None, *words: str) -> None:
    err = excinfo.value
    assert isinstance(err, ValueError)
    assert err.path == str(path) and err.line == line
    message = str(err)
    assert str(path) in message
    if line is not None:
        assert f"line {line}" in message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize(
    ("edit", "line", "words"),
    [
        (lambda ls: ls[:-1], 8, ["frame 2", "shin", "expected"]),  # truncated: last frame lacks a bone
        (lambda ls: ls[:6] + ls[7:], 4, ["frame 1", "shin"]),  # missing bone line mid-file
        (lambda ls: ls[:5] + ["thigh 90 0 5"] + ls[6:], 6, ["3 values", "expected 2"]),  # extra value
        (lambda ls: ls[:4] + ["root 1 2 3 0 0"] + ls[5:], 5, ["5 values", "expected 6"]),  # missing value
        (lambda ls: ls[:6] + ["knee 0"] + ls[7:], 7, ["unknown bone 'knee'"]),
        (lambda ls: ls[:9] + ["thigh 1.5.0 0"] + ls[10:], 10, ["non-numeric", "1.5.0"]),
        (lambda ls: ls[:10] + ["thigh 0 0"] + ls[10:], 11, ["second line", "thigh"]),
        (lambda ls: ls[:7] + ["3"] + ls[8:], 8, ["follows 1", "consecutive"]),
    ],
)
def test_amc_errors_name_file_and_line(leg, tmp_path, edit, line, words):
    path = write(tmp_path, "bad.amc", "\n".join(edit(list(AMC_LINES))), "\r\n")
    with pytest.raises(MocapFormatError) as excinfo:
        mocap.load_amc(path, leg)
    check_error(excinfo, path, line, *words)


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("dof {thigh_dofs}", "dof rx tx", 29, ["unsupported dof", "tx"]),
        ("dof {thigh_dofs}", "dof rx rq", 29, ["unsupported dof", "rq"]),
        ("thigh shin", "thigh calf", 46, ["unknown bone 'calf'"]),
        ("length 2", "length two", 27, ["length", "expected 1 numbers"]),
        ("axis 0 0 90 XYZ", "axis 0 0 90 XYQ", 28, ["rotation order"]),
    ],
)
def test_asf_errors_name_file_and_line(tmp_path, old, new, line, words):
    text = ASF.replace(old, new).format(length=1.0, thigh_dofs="rx rz")
    path = write(tmp_path, "bad.asf", text)
    assert text.splitlines()[line - 1].strip() == new
    with pytest.raises(MocapFormatError) as excinfo:
        mocap.load_asf(path)
    check_error(excinfo, path, line, *words)


def test_asf_limits_must_match_dofs(tmp_path):
    path = write(tmp_path, "limits.asf", ASF.format(length=1.0, thigh_dofs="rx"))
    with pytest.raises(MocapFormatError) as excinfo:
        mocap.load_asf(path)
    check_error(excinfo, path, 30, "2 limits for 1 dofs")


def test_asf_bone_listed_before_its_parent(tmp_path, leg):
    """Joints are reordered parents-first; the skeleton is otherwise the same."""
    blocks = re.findall(r"  begin\n.*?  end\n", ASF, flags=re.S)
    text = ASF.replace(blocks[1] + blocks[2], blocks[2] + blocks[1]).format(length=1.0, thigh_dofs="rx rz")
    assert text.index("name shin") < text.index("name thigh")
    swapped = mocap.load_asf(write(tmp_path, "swapped.asf", text))
    assert swapped.names == leg.names and swapped.parents == leg.parents
    torch.testing.assert_close(swapped.offsets, leg.offsets)


def test_asf_without_units_needs_scale(tmp_path):
    path = write(tmp_path, "nounits.asf", ASF.replace("  length {length}\n", "").format(thigh_dofs="rx rz"))
    with pytest.raises(MocapFormatError, match="scale="):
        mocap.load_asf(path)
    assert mocap.load_asf(path, scale=0.5).lengths[2] == 1.0


def test_dof_subset_order_follows_asf(tmp_path):
    """'dof rz rx' lists the values rz first; the rotation is still Rz Ry Rx of the angles."""
    swapped = mocap.load_asf(write(tmp_path, "s.asf", ASF.format(length=1.0, thigh_dofs="rz rx")))
    plain = mocap.load_asf(write(tmp_path, "p.asf", ASF.format(length=1.0, thigh_dofs="rx rz")))
    a = mocap.load_amc(write(tmp_path, "a.amc", "1\nroot 0 0 0 0 0 0\nthigh 30 -20\nshin 10\n"), plain)
    b = mocap.load_amc(write(tmp_path, "b.amc", "1\nroot 0 0 0 0 0 0\nthigh -20 30\nshin 10\n"), swapped)
    torch.testing.assert_close(a.local_rotations, b.local_rotations)
    C = _rz(90)
    torch.testing.assert_close(a.local_rotations[0, 2], torch.tensor(C @ _rz(-20) @ _rx(30) @ C.T))


@pytest.mark.parametrize("convention", ["xyz", "zyx", "yzx", "XYZ", "ZYX", "ZXY", "YXZ", "XZY", "xzy"])
def test_euler_helper_matches_roma(convention):
    angles = torch.tensor([[10.0, -35.0, 120.0], [170.0, 89.0, -60.0]], dtype=torch.float64)
    expected = roma.euler_to_rotmat(convention, angles, degrees=True)
    torch.testing.assert_close(mocap._euler(angles, convention, degrees=True), expected)


# ------------------------------------------------------------------------------------------------
# BVH

BVH = """\
HIERARCHY
ROOT Hips
{
  OFFSET 1 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Yrotation Xrotation Zrotation
    JOINT Head
    {
      OFFSET 0 5 1
      CHANNELS 1 Xrotation
      End Site
      {
        OFFSET 0 3 0
      }
    }
  }
  JOINT Leg
  {
    OFFSET 2 -1 0
    CHANNELS 2 xrotation ZROTATION
    End Site
    {
      OFFSET 0 -8 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.0333333
0 90 0 0 0 0 0 0 0 0 0 0
5 90 -2 30 -20 45 10 20 -30 40 15 -25
-1 88 3 -170 80 5 60 -89 120 -45 100 7
"""


def bvh_reference(frame: list[float]) -> dict[str, np.ndarray]:
    """Joint-convention FK, per joint, with scipy's intrinsic Euler angles (upper case)."""
    root_pos = np.array([1.0, 0.0, 0.0]) + np.array(frame[:3])
    R = Rotation.from_euler("ZXY", frame[3:6], degrees=True).as_matrix()
    spine = R @ Rotation.from_euler("YXZ", frame[6:9], degrees=True).as_matrix()
    head = spine @ Rotation.from_euler("X", frame[9], degrees=True).as_matrix()
    leg = R @ Rotation.from_euler("XZ", frame[10:12], degrees=True).as_matrix()
    pos = {"Hips": root_pos}
    pos["Spine"] = pos["Hips"] + R @ [0, 10, 0]
    pos["Head"] = pos["Spine"] + spine @ [0, 5, 1]
    pos["Head_end"] = pos["Head"] + head @ [0, 3, 0]
    pos["Leg"] = pos["Hips"] + R @ [2, -1, 0]
    pos["Leg_end"] = pos["Leg"] + leg @ [0, -8, 0]
    return pos


def test_load_bvh_any_channel_order(tmp_path):
    motion = mocap.load_bvh(write(tmp_path, "t.bvh", BVH, "\r\n"), scale=0.01)
    skel = motion.skeleton
    assert skel.names == ["Hips", "Spine", "Head", "Head_end", "Leg", "Leg_end"]
    assert skel.parents == [-1, 0, 1, 2, 0, 4]
    assert motion.fps == 30.0 and motion.num_frames == 3
    assert skel.euler_conventions == ["ZXY", "YXZ", "X", "", "XZ", ""]
    rows = [[float(v) for v in line.split()] for line in BVH.strip().splitlines()[-3:]]
    for t, row in enumerate(rows):
        ref = bvh_reference(row)
        expected = torch.tensor(np.stack([ref[n] for n in skel.names])) * 0.01
        torch.testing.assert_close(motion.positions[t], expected, rtol=0, atol=1e-12)


def test_bvh_write_read_round_trip(tmp_path):
    motion = mocap.load_bvh(write(tmp_path, "t.bvh", BVH))
    for convention in ("ZYX", "XZY"):
        path = tmp_path / f"out_{convention}.bvh"
        mocap.save_bvh(motion, path, convention=convention)
        back = mocap.load_bvh(path)
        skel = motion.skeleton
        index = [back.skeleton.index(bvh_point(skel, j)) for j in range(skel.num_joints)]
        torch.testing.assert_close(back.positions[:, index], motion.positions, rtol=0, atol=1e-9)
        assert back.fps == 30.0


BVH_LINES = BVH.splitlines()
MOTION_ROW = len(BVH_LINES) - 1  # 1-based line of the second frame


def with_row(lines: list[str], row: str) -> list[str]:
    return lines[: MOTION_ROW - 1] + [row] + lines[MOTION_ROW:]


@pytest.mark.parametrize(
    ("edit", "line", "words"),
    [
        (lambda ls: ls[:-1], len(BVH_LINES) - 1, ["ends after 2 frame lines", "Frames: 3"]),
        (lambda ls: with_row(ls, ls[MOTION_ROW - 1] + " 7"), MOTION_ROW, ["13 values", "expected 12"]),
        (lambda ls: with_row(ls, ls[MOTION_ROW - 1].replace("-20", "x")), MOTION_ROW, ["non-numeric", "'x'"]),
        (lambda ls: ls + ["1 2 3 4 5 6 7 8 9 10 11 12"], len(BVH_LINES) + 1, ["more frame lines"]),
        (
            lambda ls: [x.replace("Xrotation Zrotation", "Xrotation Wrotation") for x in ls],
            9,
            ["unknown channel", "Wrotation"],
        ),
        (lambda ls: ls[:6] + ls[7:], 7, ["expected '{'"]),
    ],
)
def test_bvh_errors_name_file_and_line(tmp_path, edit, line, words):
    path = write(tmp_path, "bad.bvh", "\n".join(edit(list(BVH_LINES))))
    with pytest.raises(MocapFormatError) as excinfo:
        mocap.load_bvh(path)
    check_error(excinfo, path, line, *words)


def test_missing_files(tmp_path, leg):
    with pytest.raises(FileNotFoundError):
        mocap.load_asf(tmp_path / "nope.asf")
    with pytest.raises(FileNotFoundError):
        mocap.load_amc(tmp_path / "nope.amc", leg)
    with pytest.raises(FileNotFoundError):
        mocap.list_cmu(tmp_path / "nope")


def test_cmu_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.delenv(mocap.CMU_DIR_ENV, raising=False)
    assert mocap.cmu_dir_from_env() is None
    assert mocap.cmu_dir_from_env(tmp_path) == tmp_path
    monkeypatch.setenv(mocap.CMU_DIR_ENV, str(tmp_path))
    assert mocap.cmu_dir_from_env() == tmp_path
    monkeypatch.setenv(mocap.CMU_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="POSEBOOK_CMU_DIR"):
        mocap.cmu_dir_from_env()
