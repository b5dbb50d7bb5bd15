"""Acclaim ASF skeletons (CMU mocap) -> a bone-convention :class:`~posebook.data.mocap.types.Skeleton`.

CMU units (ASF ``:units length 0.45``): CMU FAQ, "multiply by (1.0/0.45)*2.54/100.0 = 0.056444
to convert to meters". That is, file length = inches * ``length`` unit, so metres per file unit
= 0.0254 / ``length``; :func:`load_asf` derives the scale from the file's own ``:units`` line.
Y is up and the ground is near y = 0 in CMU data.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

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
    _BONE_DOFS,
    _DTYPE,
    _ROOT_DOFS,
    METRES_PER_INCH,
    MocapFormatError,
    Skeleton,
)


def _asf_convention(token: str, path: Path, line: int) -> str:
    """ASF ``axis ... XYZ``: rotate about X first, then Y, then Z (fixed axes): C = Rz Ry Rx."""
    if sorted(token.upper()) != ["X", "Y", "Z"]:
        raise MocapFormatError(path, line, f"rotation order {token!r}: expected a permutation of XYZ")
    return token.lower()


# ----------------------------------------------------------------------------------------------
# ASF


def load_asf(path: str | os.PathLike, scale: float | None = None) -> Skeleton:
    """Read an Acclaim ASF skeleton (CMU mocap) into a bone-convention :class:`Skeleton`.

    Lengths are converted to metres with ``scale`` = metres per file unit; by default it is
    derived from the file's ``:units length L`` as ``0.0254 / L`` (CMU: L = 0.45 gives 0.056444,
    the CMU FAQ's factor). Directions are normalised (the files round them to 6 digits), so a
    bone's length is exactly ``length * scale``. Joint order: the root, then the bones in file
    order (reordered only if a bone is listed before its parent).

    Args:
        path: the ``.asf`` file.
        scale: metres per file length unit; None to derive it from ``:units length``.

    Returns:
        the :class:`Skeleton` (J = 1 + number of bones).

    Raises:
        FileNotFoundError: no such file.
        ValueError: ``scale`` given but not a positive finite number.
        MocapFormatError: (file, line) of a malformed line, an unknown dof, an unknown bone in
            ``:hierarchy``; a missing ``:units length`` when ``scale`` is None; a ``:units
            length`` that is not a positive finite number (0, negative: a mirrored skeleton, nan);
            a non-finite number (``nan``, ``inf``, ``1e999``) in a direction, length, axis, limits
            or the root's position / orientation; a negative bone length; a zero direction
            vector on a bone of non-zero length.
    """
    path = Path(path)
    units, root, bones, hierarchy = _read_asf_sections(path)
    if scale is not None:
        scale = _positive_parameter(scale, "scale", "metres per file length unit")
    elif "length" not in units:
        raise MocapFormatError(path, None, "no ':units length' line; pass scale= (metres per file unit)")
    else:
        token, line = units["length"]
        # a negative unit would mirror the skeleton, zero would make it infinitely large
        unit = _positive(token, path, line, "':units length'", "file length units per inch")
        scale = METRES_PER_INCH / unit
        if not math.isfinite(scale):  # a subnormal unit such as 1e-320: 0.0254 / unit overflows
            raise MocapFormatError(
                path, line, f"':units length {token}': too small; expected file length units per inch"
            )
    angle_token, angle_line = units.get("angle", ("deg", None))
    angle_unit = angle_token.lower()
    if angle_unit not in ("deg", "rad"):
        raise MocapFormatError(path, angle_line, f"':units angle {angle_unit}': expected deg or rad")

    order_tokens, order_line = root.get("order", (list(_ROOT_DOFS), None))
    root_dofs = tuple(t.lower() for t in order_tokens)
    if any(d not in _ROOT_DOFS for d in root_dofs) or len(set(root_dofs)) != len(root_dofs):
        raise MocapFormatError(
            path, order_line, f"root order {' '.join(order_tokens)!r}: expected distinct TX TY TZ RX RY RZ"
        )
    axis_tokens, axis_line = root.get("axis", (["XYZ"], None))
    root_convention = _asf_convention(axis_tokens[0] if axis_tokens else "", path, axis_line)
    root_vectors = {}
    for key in ("position", "orientation"):
        tokens, line = root.get(key, (["0"] * 3, None))
        root_vectors[key] = _floats(tokens, 3, path, line, f"root {key}")

    by_name = {b["name"]: b for b in bones}
    order, parent_of = _bone_order(bones, hierarchy, path)
    J = len(order)
    directions = torch.zeros(J, 3, dtype=_DTYPE)
    lengths = torch.zeros(J, dtype=_DTYPE)
    axis_xyz = [root_vectors["orientation"]] + [by_name[n]["axis"] for n in order[1:]]
    conventions = [root_convention] + [by_name[n]["order"] for n in order[1:]]
    for j, name in enumerate(order[1:], 1):
        d = torch.tensor(by_name[name]["direction"], dtype=_DTYPE)
        norm = torch.linalg.vector_norm(d)
        directions[j] = d / norm if norm > 0 else d
        lengths[j] = by_name[name]["length"] * scale
    # ASF axis angles are listed x y z; the convention string says in which order they rotate
    axis_angles = torch.tensor(
        [[xyz["xyz".index(c)] for c in conv] for xyz, conv in zip(axis_xyz, conventions)], dtype=_DTYPE
    )
    axes = torch.stack([_euler(axis_angles[j], conventions[j], angle_unit == "deg") for j in range(J)])
    offsets = directions * lengths[:, None]
    offsets[0] = torch.tensor(root_vectors["position"], dtype=_DTYPE) * scale
    index = {name: j for j, name in enumerate(order)}
    return Skeleton(
        names=order,
        parents=[-1] + [index[parent_of[n]] for n in order[1:]],
        offsets=offsets,
        axes=axes,
        dofs=[root_dofs] + [by_name[n].get("dof", ()) for n in order[1:]],
        euler_conventions=conventions,
        directions=directions,
        lengths=lengths,
        limits=[()] + [tuple(by_name[n].get("limits", ())) for n in order[1:]],
        scale=float(scale),
        angle_unit=angle_unit,
        source=str(path),
    )


def _read_asf_sections(path: Path) -> tuple[dict, dict, list[dict], list[tuple[int, list[str]]]]:
    """The ``:units`` (value, line) pairs, ``:root`` lines, ``:bonedata`` blocks, ``:hierarchy`` lines."""
    units: dict[str, tuple[str, int]] = {}
    root: dict[str, tuple[list[str], int]] = {}
    bones: list[dict] = []
    hierarchy: list[tuple[int, list[str]]] = []
    section = ""
    bone: dict | None = None
    for number, raw in enumerate(_read_lines(path), 1):
        tokens = raw.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        key = tokens[0].lower()
        if key.startswith(":"):
            if bone is not None:
                raise MocapFormatError(
                    path, number, f"section {tokens[0]} inside a bone block; expected 'end'"
                )
            section = key[1:]
        elif section == "units":
            units[key] = (tokens[1] if len(tokens) > 1 else "", number)
        elif section == "root":
            root[key] = (tokens[1:], number)
        elif section == "hierarchy":
            if key not in ("begin", "end"):
                hierarchy.append((number, tokens))
        elif section == "bonedata":
            if key == "begin":
                if bone is not None:
                    raise MocapFormatError(path, number, "'begin' inside a bone block; expected 'end'")
                bone = {"line": number, "field": None}
            elif bone is None:
                raise MocapFormatError(path, number, f"{tokens[0]!r} outside a bone block; expected 'begin'")
            elif key == "end":
                bones.append(_check_bone(bone, path))
                bone = None
            else:
                _read_bone_line(bone, key, tokens, raw, path, number)
    if bone is not None:
        raise MocapFormatError(path, bone["line"], "bone block never closed; expected 'end'")
    if not bones:
        raise MocapFormatError(path, None, "no ':bonedata' bones found; expected an ASF file")
    return units, root, bones, hierarchy


def _read_bone_line(bone: dict, key: str, tokens: list[str], raw: str, path: Path, number: int) -> None:
    if key.startswith("("):  # a limits line continues
        if bone["field"] != "limits":
            raise MocapFormatError(path, number, "'(' line outside 'limits'; expected a bone keyword")
        bone["limits"] += _limit_pairs(raw, path, number)
        return
    bone["field"] = key
    if key in ("id", "bodymass", "cofmass"):
        return
    if key == "name":
        if len(tokens) != 2:
            raise MocapFormatError(path, number, "expected 'name <bone>'")
        bone["name"] = tokens[1]
    elif key == "direction":
        bone["direction"] = _floats(tokens[1:], 3, path, number, "direction")
        bone["direction_line"] = number
    elif key == "length":
        bone["length"] = _floats(tokens[1:], 1, path, number, "length")[0]
        if bone["length"] < 0:  # the bone would point backwards along its direction
            raise MocapFormatError(
                path, number, f"length {tokens[1]}: expected a non-negative bone length"
            )
    elif key == "axis":
        if len(tokens) != 5:
            raise MocapFormatError(
                path, number, "expected 'axis <ax> <ay> <az> <order>', e.g. 'axis 0 0 20 XYZ'"
            )
        bone["axis"] = _floats(tokens[1:4], 3, path, number, "axis")
        bone["order"] = _asf_convention(tokens[4], path, number)
    elif key == "dof":
        dofs = tuple(t.lower() for t in tokens[1:])
        bad = [d for d in dofs if d not in _BONE_DOFS]
        if bad or len(set(dofs)) != len(dofs):
            raise MocapFormatError(
                path, number,
                f"unsupported dof {' '.join(bad or dofs)!r} in bone {bone.get('name', '?')!r}; "
                "expected distinct rotational dofs among rx ry rz "
                "(translation and length dofs are not supported)",
            )
        bone["dof"] = dofs
    elif key == "limits":
        bone["limits"], bone["limits_line"] = _limit_pairs(raw, path, number), number
    else:
        raise MocapFormatError(
            path, number,
            f"unknown bone keyword {tokens[0]!r}; expected id, name, direction, length, axis, dof, limits",
        )


def _check_bone(bone: dict, path: Path) -> dict:
    for required in ("name", "direction", "length", "axis"):
        if required not in bone:
            raise MocapFormatError(
                path, bone["line"],
                f"bone block has no {required!r} line; expected name, direction, length, axis",
            )
    if bone["length"] > 0 and not any(bone["direction"]):
        raise MocapFormatError(
            path, bone["direction_line"],
            f"bone {bone['name']!r}: direction 0 0 0 for a bone of length {bone['length']:g}; "
            "expected a non-zero direction vector",
        )
    limits, dofs = bone.get("limits", []), bone.get("dof", ())
    if limits and len(limits) != len(dofs):
        raise MocapFormatError(
            path, bone["limits_line"],
            f"bone {bone['name']!r}: {len(limits)} limits for {len(dofs)} dofs; "
            "expected one (low high) per dof",
        )
    return bone


def _bone_order(
    bones: list[dict], hierarchy: list[tuple[int, list[str]]], path: Path
) -> tuple[list[str], dict[str, str]]:
    """Joint names (root first, then bones, parents before children) and each bone's parent."""
    names = set()
    for b in bones:
        if b["name"] == "root" or b["name"] in names:
            raise MocapFormatError(
                path, b["line"], f"duplicate bone name {b['name']!r}; expected unique names"
            )
        names.add(b["name"])
    parent_of: dict[str, str] = {}
    for number, tokens in hierarchy:
        for name in tokens:
            if name != "root" and name not in names:
                raise MocapFormatError(
                    path, number, f"unknown bone {name!r} in :hierarchy; expected a bone from :bonedata"
                )
        for kid in tokens[1:]:
            if kid in parent_of or kid == "root":
                raise MocapFormatError(path, number, f"bone {kid!r} given a second parent; expected a tree")
            parent_of[kid] = tokens[0]
    for b in bones:
        if b["name"] not in parent_of:
            raise MocapFormatError(path, b["line"], f"bone {b['name']!r} has no parent in :hierarchy")
    order, placed = ["root"], {"root"}
    remaining = [b["name"] for b in bones]
    while remaining:
        before = len(order)
        for name in remaining:  # a stable pass: keeps file order when it is already topological
            if parent_of[name] in placed:
                order.append(name)
                placed.add(name)
        if len(order) == before:
            line = next(b["line"] for b in bones if b["name"] not in placed)
            raise MocapFormatError(
                path, line, f"bones {remaining} are not connected to the root (cycle in :hierarchy)"
            )
        remaining = [name for name in remaining if name not in placed]
    return order, parent_of


_LIMIT = re.compile(r"\(\s*(\S+)\s+(\S+)\s*\)")


def _limit_pairs(raw: str, path: Path, line: int) -> list[tuple[float, float]]:
    pairs = _LIMIT.findall(raw)
    if not pairs:
        raise MocapFormatError(path, line, "expected limits as '(low high)'")
    values = _numbers([token for pair in pairs for token in pair], path, line, "limits (low high)")
    return list(zip(values[0::2], values[1::2]))
