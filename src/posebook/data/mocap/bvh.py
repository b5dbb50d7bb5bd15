"""BVH files (e.g. the cgspeed CMU conversions): :func:`load_bvh` reads one into a bone-convention
:class:`~posebook.data.mocap.types.Motion`; :func:`save_bvh` writes a Motion's joint-convention
tree (:func:`~posebook.data.mocap.types.joint_tree`).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import roma
import torch

from posebook.data.mocap.parsing import (
    _euler,
    _floats,
    _numbers,
    _positive,
    _positive_parameter,
    _read_lines,
)
from posebook.data.mocap.types import (
    _DTYPE,
    MocapFormatError,
    Motion,
    Skeleton,
    bone_forward_kinematics,
    joint_tree,
)

_BVH_CHANNELS = {f"{axis}{kind}": (kind, axis) for axis in "XYZ" for kind in ("position", "rotation")}


def _channel(name: str) -> str:
    """BVH channel names are matched case-insensitively: 'XROTATION' -> 'Xrotation'."""
    return name[:1].upper() + name[1:].lower()


# ----------------------------------------------------------------------------------------------
# BVH


def _frame_rate(token: str, path: Path, line: int) -> float:
    """The fps of a ``Frame Time:`` token; MocapFormatError naming the line unless it is a positive
    finite number whose inverse is finite too (``inf`` would give fps 0, ``nan`` no fps at all).

    BVH files store 1/fps rounded (".0083333"); an fps within 1e-4 (relative) of an integer is that integer.
    """
    frame_time = _positive(token, path, line, "Frame Time", "seconds per frame, e.g. 0.0083333")
    fps = 1.0 / frame_time
    if not math.isfinite(fps):  # a subnormal frame time such as 1e-320
        raise MocapFormatError(
            path, line, f"Frame Time is {token}, too short; expected seconds per frame, e.g. 0.0083333"
        )
    return float(round(fps)) if abs(fps - round(fps)) <= 1e-4 * fps else fps


def load_bvh(path: str | os.PathLike, scale: float | None = None) -> Motion:
    """Read a BVH file (e.g. the cgspeed CMU conversions) into a bone-convention :class:`Motion`.

    BVH is in the joint convention: joint k's channels rotate the offsets of its children,
    ``R = R_c1(a1) R_c2(a2) R_c3(a3)`` for CHANNELS ``c1 c2 c3`` in file order (any order, any
    subset). Every joint and every End Site (named ``"<parent>_end"``) becomes a joint of the
    Motion; the segment parent -> j turns with the parent's BVH rotation, so
    ``local_rotations[j]`` is the BVH relative rotation of j's parent (identity when that parent
    is the root, whose own rotation is ``local_rotations[0]``). The root sits at its OFFSET plus
    its position channels. Only the root may have position channels.

    Args:
        path: the ``.bvh`` file.
        scale: metres per file unit (cgspeed CMU files: 0.0254 * 0.45 per unit, i.e. the ASF
            units); None keeps the file's units (the Motion is then in file units, ``scale`` 1).

    Returns:
        the :class:`Motion`; ``fps = 1 / Frame Time``, snapped to an integer within 1e-4.

    Raises:
        FileNotFoundError: no such file.
        ValueError: ``scale`` given but not a positive finite number.
        MocapFormatError: (file, line) of a malformed hierarchy, a non-finite OFFSET, a frame line
            with the wrong number of values, a non-numeric or non-finite value (``nan``, ``inf``,
            ``1e999``), a frame count that disagrees with ``Frames:``, a negative ``Frames:``, or a
            ``Frame Time:`` that is not a positive finite number of seconds.
    """
    path = Path(path)
    lines = _read_lines(path)
    s = 1.0 if scale is None else _positive_parameter(scale, "scale", "metres per file unit")
    tokens: list[tuple[str, int]] = []
    motion_line = None
    for number, raw in enumerate(lines, 1):
        words = raw.split()
        if words and words[0].upper() == "MOTION":
            motion_line = number
            break
        tokens.extend((w, number) for w in words)
    if motion_line is None:
        raise MocapFormatError(
            path, None, "no MOTION section; expected HIERARCHY ... MOTION ... Frames: ... Frame Time: ..."
        )
    nodes = _parse_bvh_hierarchy(tokens, path, motion_line)

    header: dict[str, tuple[str, int]] = {}
    data_start = len(lines) + 1  # no frame lines at all
    for number in range(motion_line + 1, len(lines) + 1):
        raw = lines[number - 1].strip()
        if not raw:
            continue
        match = re.fullmatch(r"(Frames|Frame\s+Time)\s*:\s*(\S+)", raw, flags=re.IGNORECASE)
        if match is None:
            data_start = number
            break
        header[re.sub(r"\s+", " ", match.group(1).lower())] = (match.group(2), number)
    for key in ("frames", "frame time"):
        if key not in header:
            raise MocapFormatError(
                path, motion_line,
                f"MOTION section has no '{key.title()}:' line; expected 'Frames: N' and 'Frame Time: dt'",
            )
    frames_token, frames_line = header["frames"]
    try:
        n_frames = int(frames_token)
    except ValueError:
        n_frames = -1
    if n_frames < 0:
        raise MocapFormatError(
            path, frames_line, f"Frames is {frames_token}; expected a non-negative integer frame count"
        )
    time_token, time_line = header["frame time"]
    fps = _frame_rate(time_token, path, time_line)

    n_columns = sum(len(node["channels"]) for node in nodes)
    body = lines[data_start - 1:]
    tokens = "\n".join(body).split()
    data = None
    if len(tokens) == n_frames * n_columns and len(body) - body.count("") == n_frames:
        try:  # the regular layout, one frame per line: convert all values at once
            data = np.fromiter(map(float, tokens), np.float64, len(tokens)).reshape(n_frames, n_columns)
        except ValueError:
            pass
    # float() reads 'nan', 'inf' and '1e999' (inf): one vectorised test of all values at once
    if data is None or not np.isfinite(data).all():  # find the offending line
        data = _bvh_values_by_line(lines, data_start, n_frames, n_columns, path)
    values = torch.from_numpy(data)

    K = len(nodes)
    translation = torch.zeros(n_frames, 3, dtype=_DTYPE)
    angles: list[torch.Tensor | None] = [None] * K
    conventions = [""] * K
    column = 0
    for k, node in enumerate(nodes):
        rot_columns, axes = [], ""
        for name in node["channels"]:
            kind, axis = _BVH_CHANNELS[_channel(name)]
            if kind == "position":
                if k != 0:
                    raise MocapFormatError(
                        path, node["channels_line"],
                        f"position channel {name} on non-root joint {node['name']!r}; "
                        "only the ROOT may translate",
                    )
                translation[:, "XYZ".index(axis)] = values[:, column]
            else:
                rot_columns.append(column)
                axes += axis
            column += 1
        angles[k] = values[:, rot_columns]
        conventions[k] = axes
    R_bvh = torch.empty(n_frames, K, 3, 3, dtype=_DTYPE)
    for convention in set(conventions):
        group = [k for k in range(K) if conventions[k] == convention]
        R_bvh[:, group] = _euler(torch.stack([angles[k] for k in group], dim=1), convention, degrees=True)

    parents = [node["parent"] for node in nodes]
    # segment parent -> j turns with the parent's BVH rotation: local[j] = R_bvh[parent], the
    # identity (appended at index K) for the root's children, whose segments turn with the root
    eye = torch.eye(3, dtype=_DTYPE).expand(n_frames, 1, 3, 3)
    local = torch.cat([R_bvh, eye], dim=1)[:, [0] + [p if p != 0 else K for p in parents[1:]]]
    offsets = torch.tensor([node["offset"] for node in nodes], dtype=_DTYPE) * s
    lengths = torch.linalg.vector_norm(offsets, dim=-1)
    lengths[0] = 0.0
    directions = torch.where(
        lengths[:, None] > 0, offsets / lengths.clamp_min(1e-300)[:, None], torch.zeros_like(offsets)
    )
    skeleton = Skeleton(
        names=[node["name"] for node in nodes],
        parents=parents,
        offsets=offsets,
        axes=torch.eye(3, dtype=_DTYPE).expand(K, 3, 3).clone(),
        dofs=[tuple(node["channels"]) for node in nodes],
        euler_conventions=conventions,
        directions=directions,
        lengths=lengths,
        limits=[()] * K,
        scale=s,
        angle_unit="deg",
        source=str(path),
    )
    root_translation = translation * s
    positions, _ = bone_forward_kinematics(local, offsets, parents, root_translation)
    return Motion(skeleton, local, root_translation, positions, fps, str(path))


def _bvh_values_by_line(
    lines: list[str], start: int, n_frames: int, n_columns: int, path: Path
) -> np.ndarray:
    """Frame lines one by one; raises MocapFormatError naming the first bad line."""
    rows = []
    last = start - 1  # the last line read: the Frame Time line until a frame line comes
    for number in range(start, len(lines) + 1):
        words = lines[number - 1].split()
        if not words:
            continue
        if len(rows) == n_frames:
            raise MocapFormatError(
                path, number, f"more frame lines than 'Frames: {n_frames}'; expected {n_frames}"
            )
        if len(words) != n_columns:
            raise MocapFormatError(
                path, number, f"frame line has {len(words)} values; expected {n_columns} (one per channel)"
            )
        last = number
        rows.append(_numbers(words, path, number, "frame line"))
    if len(rows) < n_frames:
        raise MocapFormatError(
            path, last, f"file ends after {len(rows)} frame lines; expected 'Frames: {n_frames}'"
        )
    return np.array(rows, dtype=np.float64).reshape(n_frames, n_columns)


def _parse_bvh_hierarchy(tokens: list[tuple[str, int]], path: Path, motion_line: int) -> list[dict]:
    """HIERARCHY tokens -> nodes in file (depth-first) order: name, parent, offset, channels."""
    position = 0

    def take(expected: str) -> tuple[str, int]:
        nonlocal position
        if position >= len(tokens):
            raise MocapFormatError(path, motion_line, f"hierarchy ends early; expected {expected}")
        position += 1
        return tokens[position - 1]

    def expect(word: str) -> int:
        token, number = take(repr(word))
        if token.upper() != word.upper():
            raise MocapFormatError(path, number, f"found {token!r}; expected {word!r}")
        return number

    def open_node(name: str, parent: int, end_site: bool, line: int) -> dict:
        expect("{")
        expect("OFFSET")
        words = [take("3 OFFSET numbers") for _ in range(3)]
        node = {
            "name": name, "parent": parent, "line": line, "channels": (), "channels_line": line,
            "offset": _floats([w for w, _ in words], 3, path, words[0][1], "OFFSET"),
        }
        if not end_site:
            node["channels_line"] = expect("CHANNELS")
            count_token, number = take("the channel count")
            if not count_token.isdigit():
                raise MocapFormatError(path, number, f"CHANNELS count {count_token!r}; expected an integer")
            names = [take(f"{count_token} channel names") for _ in range(int(count_token))]
            for channel, number in names:
                if _channel(channel) not in _BVH_CHANNELS:
                    raise MocapFormatError(
                        path, number,
                        f"unknown channel {channel!r}; expected X/Y/Z + position/rotation, e.g. Zrotation",
                    )
            node["channels"] = tuple(channel for channel, _ in names)
        return node

    expect("HIERARCHY")
    line = expect("ROOT")
    name, _ = take("the root's name")
    nodes = [open_node(name, -1, False, line)]
    stack = [0]
    while stack:
        token, number = take("JOINT, End Site or '}'")
        keyword = token.upper()
        if keyword == "JOINT":
            name, _ = take("the joint's name")
            nodes.append(open_node(name, stack[-1], False, number))
            stack.append(len(nodes) - 1)
        elif keyword == "END":
            expect("Site")
            name = f"{nodes[stack[-1]]['name']}_end"
            taken = {node["name"] for node in nodes}
            suffix = 2
            while name in taken:  # a second End Site under the same joint
                name = f"{nodes[stack[-1]]['name']}_end{suffix}"
                suffix += 1
            nodes.append(open_node(name, stack[-1], True, number))
            expect("}")
        elif keyword == "}":
            stack.pop()
        else:
            raise MocapFormatError(path, number, f"found {token!r}; expected JOINT, End Site or '}}'")
    if position != len(tokens):
        raise MocapFormatError(
            path, tokens[position][1],
            f"found {tokens[position][0]!r} after the ROOT block; expected MOTION (one ROOT per file)",
        )
    return nodes


def save_bvh(motion: Motion, path: str | os.PathLike, scale: float = 1.0, convention: str = "ZYX") -> None:
    """Write a motion as BVH, in the layout of the cgspeed CMU conversions (:func:`joint_tree`).

    One BVH joint per bone at the bone's start (named after the bone) and an End Site at the end
    of each leaf bone; the root has 6 channels (X/Y/Z position, then the rotations), the others 3.
    ``load_bvh(path, scale=scale)`` reproduces ``motion.positions``.

    Args:
        motion: the :class:`Motion`.
        path: output ``.bvh`` file.
        scale: metres per file unit (1.0 writes metres; 0.01 centimetres).
        convention: intrinsic rotation order of the channels, e.g. ``"ZYX"`` (``R = Rz Ry Rx``).
    """
    if sorted(convention) != ["X", "Y", "Z"]:
        raise ValueError(
            f"convention must be an upper-case permutation of XYZ (intrinsic), got {convention!r}"
        )
    for name in motion.skeleton.names:
        if not name or any(c.isspace() for c in name):
            raise ValueError(
                f"joint name {name!r} cannot be written to BVH: names must be non-empty without spaces"
            )
    tree = joint_tree(motion)
    children: list[list[int]] = [[] for _ in tree.names]
    for k, p in enumerate(tree.parents[1:], 1):
        children[p].append(k)
    rotation_channels = " ".join(f"{axis}rotation" for axis in convention)

    def vec(v: torch.Tensor) -> str:
        return " ".join(f"{float(x) / scale:.12g}" for x in v)

    out = ["HIERARCHY"]

    def write(node: int, depth: int) -> None:
        pad = "  " * depth
        if tree.end_sites[node]:
            out.extend([f"{pad}End Site", f"{pad}{{", f"{pad}  OFFSET {vec(tree.offsets[node])}", f"{pad}}}"])
            return
        out.append(f"{pad}{'ROOT' if node == 0 else 'JOINT'} {tree.names[node]}")
        out.append(f"{pad}{{")
        out.append(f"{pad}  OFFSET {vec(tree.offsets[node])}")
        if node == 0:
            out.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition {rotation_channels}")
        else:
            out.append(f"{pad}  CHANNELS 3 {rotation_channels}")
        for child in children[node]:
            write(child, depth + 1)
        out.append(f"{pad}}}")

    write(0, 0)
    joints = [k for k, end in enumerate(tree.end_sites) if not end]  # tree order = file order
    angles = roma.rotmat_to_euler(convention, tree.local_rotations[:, joints], degrees=True)
    data = torch.cat([tree.root_translation / scale, angles.reshape(angles.shape[0], -1)], dim=1).numpy()
    out += ["MOTION", f"Frames: {data.shape[0]}", f"Frame Time: {1.0 / motion.fps:.12g}"]
    row_format = " ".join(["%.12g"] * data.shape[1])
    body = "\n".join(row_format % tuple(row) for row in data.tolist())
    Path(path).write_text("\n".join(out) + "\n" + body + "\n")
