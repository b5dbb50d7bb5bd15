"""The mocap loaders refuse impossible numbers at load, naming the file and line.

Each case corrupts one line of a small valid ASF / AMC / BVH text (the fixtures of
``tests/test_mocap.py``) and checks the MocapFormatError (file, line, what was found and what is
expected); the property tests put random finite values (they load to finite positions) and
random non-finite tokens at random places (refused, naming that line) into AMC and BVH frames.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_mocap import AMC_LINES, ASF, BVH, check_error, write

from posebook.data import mocap
from posebook.data.mocap import MocapFormatError

ASF_TEXT = ASF.format(length=1.0, thigh_dofs="rx rz")
ASF_LINES = ASF_TEXT.splitlines()
BVH_LINES = BVH.splitlines()
FIRST_ROW = len(BVH_LINES) - 2  # 1-based line of the first BVH frame
N_COLUMNS = len(BVH_LINES[-1].split())
NON_FINITE = ["nan", "inf", "-inf", "1e999", "NaN", "-1E999"]
BONE_DOFS = {"root": 6, "thigh": 2, "shin": 1}  # the AMC lines of the leg skeleton, in file order
AMC_HEADER = AMC_LINES[:3]


def replaced(lines: list[str], old: str, new: str) -> tuple[str, int]:
    """The text with the one line whose stripped text is ``old`` replaced by ``new``; its 1-based number."""
    numbers = [k for k, line in enumerate(lines) if line.strip() == old]
    assert len(numbers) == 1, (old, numbers)
    k = numbers[0]
    indent = lines[k][: len(lines[k]) - len(lines[k].lstrip())]
    return "\n".join(lines[:k] + [indent + new] + lines[k + 1 :]) + "\n", k + 1


@pytest.fixture
def leg(tmp_path) -> mocap.Skeleton:
    return mocap.load_asf(write(tmp_path, "leg.asf", ASF_TEXT))


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory) -> Path:
    """One folder for the property tests (hypothesis runs many examples in one test call)."""
    return tmp_path_factory.mktemp("validation")


@pytest.fixture(scope="module")
def module_leg(module_dir) -> mocap.Skeleton:
    return mocap.load_asf(write(module_dir, "leg.asf", ASF_TEXT))


# ------------------------------------------------------------------------------------------------
# ASF


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("length 2", "length nan", ["length", "'nan'", "finite number"]),
        ("length 2", "length 1e999", ["length", "'1e999'", "reads as inf", "finite number"]),
        ("length 2", "length -2", ["length -2", "non-negative bone length"]),
        ("direction 1 0 0", "direction 1 nan 0", ["direction", "'nan'", "3 finite numbers"]),
        ("direction 1 0 0", "direction 0 0 0", ["'thigh'", "0 0 0", "length 2", "non-zero direction"]),
        ("axis 0 0 90 XYZ", "axis 0 inf 90 XYZ", ["axis", "'inf'", "3 finite numbers"]),
        ("position 0 0 0", "position 0 1e999 0", ["root position", "'1e999'", "3 finite numbers"]),
        ("orientation 0 0 0", "orientation -inf 0 0", ["root orientation", "'-inf'", "finite numbers"]),
        ("limits (-160.0 20.0)", "limits (-160.0 nan)", ["limits", "'nan'", "finite numbers"]),
        ("(-70.0 70.0)", "(-inf 70.0)", ["limits", "'-inf'", "finite numbers"]),
        ("length 1.0", "length -0.45", ["':units length' is -0.45", "expected a positive number"]),
        ("length 1.0", "length 0", ["':units length' is 0", "expected a positive number"]),
        ("length 1.0", "length nan", ["':units length'", "'nan'", "finite number"]),
        ("length 1.0", "length inf", ["':units length'", "'inf'", "finite number"]),
        ("length 1.0", "length 1e-320", ["':units length 1e-320'", "too small", "expected"]),
    ],
)
def test_asf_refuses_impossible_numbers(tmp_path, old, new, words):
    text, line = replaced(ASF_LINES, old, new)
    path = write(tmp_path, "bad.asf", text)
    with pytest.raises(MocapFormatError) as excinfo:
        mocap.load_asf(path)
    check_error(excinfo, path, line, *words)


def test_asf_zero_direction_is_fine_for_a_zero_length_bone(tmp_path):
    text, _ = replaced(ASF_LINES, "direction 1 0 0", "direction 0 0 0")
    text, _ = replaced(text.splitlines(), "length 2", "length 0")
    skeleton = mocap.load_asf(write(tmp_path, "zero.asf", text))
    assert skeleton.lengths[2] == 0 and not skeleton.offsets[2].any()


@pytest.mark.parametrize("scale", [0.0, -0.0254, math.nan, math.inf, "a"])
def test_asf_scale_parameter_must_be_positive_finite(tmp_path, scale):
    path = write(tmp_path, "leg.asf", ASF_TEXT)
    with pytest.raises(ValueError, match=r"scale=.*expected a positive finite number"):
        mocap.load_asf(path, scale=scale)


# ------------------------------------------------------------------------------------------------
# AMC


@pytest.mark.parametrize(
    ("line", "new", "bad"),
    [
        (5, "root 1 2 nan 0 0 0", "nan"),  # root translation
        (6, "thigh 90 1e999", "1e999"),
        (11, "shin -inf", "-inf"),  # the last line of the file
    ],
)
@pytest.mark.parametrize("reorder", [False, True], ids=["fast-path", "line-by-line"])
def test_amc_refuses_non_finite_values(leg, tmp_path, line, new, bad, reorder):
    lines = list(AMC_LINES)
    lines[line - 1] = new
    if reorder:  # frame 2 lists shin before thigh: the fast path gives way to the line reader
        lines[9], lines[10] = lines[10], lines[9]
        line = {10: 11, 11: 10}.get(line, line)
    path = write(tmp_path, "bad.amc", "\n".join(lines))
    with pytest.raises(MocapFormatError) as excinfo:
        mocap.load_amc(path, leg)
    check_error(excinfo, path, line, f"'{bad}'", "not a finite number", "expected", "finite number")


@pytest.mark.parametrize("fps", [0.0, -120.0, math.nan, math.inf])
def test_amc_fps_parameter_must_be_positive_finite(leg, tmp_path, fps):
    path = write(tmp_path, "m.amc", "\n".join(AMC_LINES))
    with pytest.raises(ValueError, match=r"fps=.*expected a positive finite number"):
        mocap.load_amc(path, leg, fps=fps)
    with pytest.raises(ValueError, match=r"fps="):
        mocap.load_asf_amc(write(tmp_path, "leg.asf", ASF_TEXT), path, fps=fps)


def amc_text(frames: list[list[list[str]]], order: list[str] | None = None) -> str:
    """An AMC file of the leg: frames[t][b] are the tokens of bone b (BONE_DOFS order) in frame t.

    ``order`` lists the bones of the FIRST frame in another order (the others keep BONE_DOFS).
    """
    lines = list(AMC_HEADER)
    for t, bones in enumerate(frames):
        names = order if t == 0 and order else list(BONE_DOFS)
        lines.append(str(t + 1))
        lines += [" ".join([name, *bones[list(BONE_DOFS).index(name)]]) for name in names]
    return "\n".join(lines) + "\n"


def amc_line(t: int, bone: str, order: list[str] | None) -> int:
    """The 1-based line of ``bone`` in frame t of :func:`amc_text`: the regular layout's arithmetic."""
    names = order if t == 0 and order else list(BONE_DOFS)
    return len(AMC_HEADER) + t * (1 + len(BONE_DOFS)) + 1 + names.index(bone) + 1


finite_values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def amc_frames(draw) -> list[list[list[str]]]:
    T = draw(st.integers(1, 4))
    return [[[repr(draw(finite_values)) for _ in range(n)] for n in BONE_DOFS.values()] for _ in range(T)]


@settings(max_examples=50, deadline=None)
@given(frames=amc_frames(), order=st.none() | st.permutations(list(BONE_DOFS)))
def test_amc_finite_values_load_to_finite_positions(module_leg, module_dir, frames, order):
    path = write(module_dir, "finite.amc", amc_text(frames, order))
    motion = mocap.load_amc(path, module_leg)
    assert motion.num_frames == len(frames)
    assert torch.isfinite(motion.positions).all()
    translation = torch.tensor([[float(v) for v in frame[0][:3]] for frame in frames], dtype=torch.float64)
    torch.testing.assert_close(motion.root_translation, translation * module_leg.scale, rtol=0, atol=0)


@settings(max_examples=50, deadline=None)
@given(
    frames=amc_frames(),
    order=st.none() | st.permutations(list(BONE_DOFS)),
    where=st.tuples(st.integers(0, 3), st.sampled_from(list(BONE_DOFS)), st.integers(0, 5)),
    bad=st.sampled_from(NON_FINITE),
)
def test_amc_non_finite_value_names_its_line(module_leg, module_dir, frames, order, where, bad):
    t, bone, k = where
    t %= len(frames)
    b = list(BONE_DOFS).index(bone)
    frames[t][b][k % BONE_DOFS[bone]] = bad
    path = write(module_dir, "non_finite.amc", amc_text(frames, order))
    with pytest.raises(MocapFormatError) as excinfo:
        mocap.load_amc(path, module_leg)
    check_error(excinfo, path, amc_line(t, bone, order), f"bone {bone!r}", f"'{bad}'", "finite number")


# ------------------------------------------------------------------------------------------------
# BVH


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("OFFSET 0 10 0", "OFFSET 0 nan 0", ["OFFSET", "'nan'", "3 finite numbers"]),
        ("OFFSET 0 -8 0", "OFFSET 0 -1e999 0", ["OFFSET", "'-1e999'", "reads as -inf"]),  # an End Site
        ("Frame Time: 0.0333333", "Frame Time: nan", ["Frame Time", "'nan'", "finite number"]),
        ("Frame Time: 0.0333333", "Frame Time: inf", ["Frame Time", "'inf'", "finite number"]),
        ("Frame Time: 0.0333333", "Frame Time: 0", ["Frame Time is 0", "expected a positive number"]),
        ("Frame Time: 0.0333333", "Frame Time: -0.03", ["Frame Time is -0.03", "positive number"]),
        ("Frame Time: 0.0333333", "Frame Time: 1e-320", ["Frame Time is 1e-320", "too short", "expected"]),
        ("Frames: 3", "Frames: -3", ["Frames is -3", "non-negative integer"]),
        (BVH_LINES[FIRST_ROW].strip(), BVH_LINES[FIRST_ROW].replace("-20", "nan"), ["'nan'", "12 finite"]),
        (BVH_LINES[-1].strip(), BVH_LINES[-1].replace("88", "1e999"), ["'1e999'", "reads as inf"]),
    ],
)
def test_bvh_refuses_impossible_numbers(tmp_path, old, new, words):
    text, line = replaced(BVH_LINES, old, new)
    path = write(tmp_path, "bad.bvh", text)
    with pytest.raises(MocapFormatError) as excinfo:
        mocap.load_bvh(path)
    check_error(excinfo, path, line, *words)


def test_bvh_non_finite_value_on_an_irregular_layout(tmp_path):
    """A whitespace-only line between frames: no fast path; the line-by-line reader checks too."""
    lines = BVH_LINES[:FIRST_ROW] + ["   "] + BVH_LINES[FIRST_ROW:]
    lines[-1] = lines[-1].replace("88", "-inf")
    path = write(tmp_path, "irregular.bvh", "\n".join(lines))
    with pytest.raises(MocapFormatError) as excinfo:
        mocap.load_bvh(path)
    check_error(excinfo, path, len(lines), "frame line", "'-inf'", "12 finite numbers")


@pytest.mark.parametrize("scale", [0.0, -0.01, math.nan, math.inf])
def test_bvh_scale_parameter_must_be_positive_finite(tmp_path, scale):
    with pytest.raises(ValueError, match=r"scale=.*expected a positive finite number"):
        mocap.load_bvh(write(tmp_path, "t.bvh", BVH), scale=scale)


def bvh_text(rows: list[list[str]]) -> str:
    header = BVH_LINES[: FIRST_ROW - 1]
    header = [f"Frames: {len(rows)}" if line.startswith("Frames:") else line for line in header]
    return "\n".join(header + [" ".join(row) for row in rows]) + "\n"


bvh_rows = st.lists(
    st.lists(finite_values.map(repr), min_size=N_COLUMNS, max_size=N_COLUMNS), min_size=1, max_size=4
)


@settings(max_examples=50, deadline=None)
@given(rows=bvh_rows)
def test_bvh_finite_values_load_to_finite_positions(module_dir, rows):
    motion = mocap.load_bvh(write(module_dir, "finite.bvh", bvh_text(rows)))
    assert motion.num_frames == len(rows)
    assert torch.isfinite(motion.positions).all()
    translation = torch.tensor([[float(v) for v in row[:3]] for row in rows], dtype=torch.float64)
    torch.testing.assert_close(motion.root_translation, translation, rtol=0, atol=0)


@settings(max_examples=50, deadline=None)
@given(rows=bvh_rows, where=st.tuples(st.integers(0, 3), st.integers(0, N_COLUMNS - 1)),
       bad=st.sampled_from(NON_FINITE))
def test_bvh_non_finite_value_names_its_line(module_dir, rows, where, bad):
    t, column = where[0] % len(rows), where[1]
    rows[t][column] = bad
    path = write(module_dir, "non_finite.bvh", bvh_text(rows))
    with pytest.raises(MocapFormatError) as excinfo:
        mocap.load_bvh(path)
    check_error(excinfo, path, FIRST_ROW + t, "frame line", f"'{bad}'", f"{N_COLUMNS} finite numbers")


# ------------------------------------------------------------------------------------------------
# CMU folders: clips without a skeleton


def cmu_folder(root: Path, clips: list[str], skeletons: list[str]) -> Path:
    root.mkdir()
    for clip in clips:
        (root / f"{clip}.amc").write_text("\n".join(AMC_LINES) + "\n")
    for subject in skeletons:
        (root / f"{subject}.asf").write_text(ASF_TEXT)
    return root


def test_list_cmu_warns_once_about_clips_without_skeleton(tmp_path):
    folder = cmu_folder(tmp_path / "cmu", ["01_01", "05_02", "05_01", "09_06"], skeletons=["01"])
    with pytest.warns(UserWarning) as record:
        table = mocap.list_cmu(folder)
    assert len(record) == 1
    message = str(record[0].message)
    assert message.startswith(f"3 clips have no skeleton file under {folder}: ")
    # natural order, each with the skeleton it needs
    expected = [f"{clip} (expected {clip[:2]}.asf next to it)" for clip in ("05_01", "05_02", "09_06")]
    assert ", ".join(expected) + "; they cannot be loaded and are skipped" in message
    assert "01_01" not in message
    assert record[0].filename == __file__  # stacklevel: the warning points at the caller
    assert table["asf"].isna().sum() == 3  # the table itself still lists them


def test_list_cmu_warning_caps_the_list(tmp_path):
    folder = cmu_folder(tmp_path / "cmu", [f"07_{k:02d}" for k in range(1, 14)], skeletons=[])
    shown = r"07_10 \(expected 07.asf next to it\), and 3 more;"
    with pytest.warns(UserWarning, match=rf"^13 clips have no skeleton file .*{shown}"):
        mocap.list_cmu(folder, count_frames=False)


def test_list_cmu_is_silent_when_every_clip_has_its_skeleton(tmp_path):
    folder = cmu_folder(tmp_path / "cmu", ["01_01", "01_02"], skeletons=["01"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(mocap.list_cmu(folder)) == 2
