"""Motion-capture readers and writers: Acclaim ASF/AMC (CMU mocap) and BVH -> rotations and positions.

One in-memory form for both formats, :class:`Motion` on a :class:`Skeleton`, in the **bone
convention** of the Acclaim format (the form the CMU README states):

- The joints are points: the root, then the distal END of every bone, in file order (for a CMU
  ASF: ``root, lhipjoint, lfemur, ..., rthumb``, the 31 joints of the CMU README; ``lfemur`` is
  the knee, ``ltoes`` the toe tip, ``head`` the top of the head).
- ``offsets[j]`` (j >= 1) is bone j, the rest-pose vector from the parent joint to joint j, in
  metres, world axes (ASF: ``length * direction * scale``). ``offsets[0]`` is the root's rest
  position (zero for CMU).
- ``local_rotations[..., j, :, :]`` is the rotation of BONE j (the bone that ends at joint j)
  relative to its parent bone; for an ASF bone ``C_j M_j C_j^T`` (``C_j``: the ASF ``axis``,
  ``M_j``: the AMC dof angles). ``local_rotations[..., 0]`` is the root's orientation. The global
  rotations ``G`` are the products along the chain (``posebook.body.kinematics.relative_to_global``),
  ``G[j] = G[pa(j)] @ local_rotations[j]``: the ASF's ``R_b = R_parent C_b M_b C_b^T``.
- FK (:func:`bone_forward_kinematics`): ``pos[0] = root_translation + offsets[0]``,
  ``pos[j] = pos[pa(j)] + G[j] @ offsets[j]``: the ASF's ``end_b = end_parent + length_b R_b dir_b``.

``posebook.body.kinematics.forward_kinematics`` (the SMPL/BVH **joint convention**) moves joint j
with its PARENT's rotation, ``pos[j] = pos[pa(j)] + G[pa(j)] @ offsets[j]``. No choice of rotations
makes that reproduce the bone ends of a CMU skeleton: the root carries three bones (lhipjoint,
rhipjoint, lowerback) and the thorax three more (lowerneck, lclavicle, rclavicle) that rotate
independently, while a joint-convention joint moves all its children rigidly. :func:`joint_tree`
builds the equivalent joint-convention tree (one joint at the START of every bone, carrying that
bone's rotation, plus an end site per leaf bone: the layout of the cgspeed CMU BVH files) and
says which of its joints sits on each bone end; :func:`save_bvh` writes that tree.

CMU units (ASF ``:units length 0.45``): CMU FAQ, "multiply by (1.0/0.45)*2.54/100.0 = 0.056444
to convert to meters". That is, file length = inches * ``length`` unit, so metres per file unit
= 0.0254 / ``length``; :func:`load_asf` derives the scale from the file's own ``:units`` line.
Y is up and the ground is near y = 0 in CMU data.

All tensors are float64 on the CPU (``torch``); convert with ``.to(...)`` downstream.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import roma
import torch

from posebook.body.kinematics import ancestor_matrix, relative_to_global, validate_parents
from posebook.runs import ENV_CMU_DIR

__all__ = [
    "MocapFormatError",
    "Skeleton",
    "Motion",
    "JointTree",
    "bone_forward_kinematics",
    "joint_tree",
    "load_asf",
    "load_amc",
    "load_asf_amc",
    "load_bvh",
    "save_bvh",
    "resample",
    "list_cmu",
    "cmu_dir_from_env",
    "CMU_DIR_ENV",
    "METRES_PER_INCH",
]

CMU_DIR_ENV = ENV_CMU_DIR  # defined once, in posebook.runs
METRES_PER_INCH = 0.0254
_DTYPE = torch.float64
_BONE_DOFS = ("rx", "ry", "rz")
_ROOT_DOFS = ("tx", "ty", "tz", "rx", "ry", "rz")
_BVH_CHANNELS = {f"{axis}{kind}": (kind, axis) for axis in "XYZ" for kind in ("position", "rotation")}


def _channel(name: str) -> str:
    """BVH channel names are matched case-insensitively: 'XROTATION' -> 'Xrotation'."""
    return name[:1].upper() + name[1:].lower()


class MocapFormatError(ValueError):
    """A motion-capture file does not follow its format; the message names the file and line (1-based)."""

    def __init__(self, path: str | os.PathLike, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


@dataclass
class Skeleton:
    """A rest-pose skeleton in the bone convention (see the module docstring).

    Attributes:
        names: (J,) joint names; joint 0 is the root, joint j >= 1 the distal end of bone j.
        parents: (J,) parent joint indices, topologically ordered, ``parents[0] == -1``.
        offsets: (J, 3) rest bone vectors parent -> joint in world axes, metres;
            ``offsets[0]`` is the root's rest position.
        axes: (J, 3, 3) each bone's local frame ``C_j`` in world axes (ASF ``axis``; the root's
            from ``:root orientation``); identity for BVH skeletons.
        dofs: (J,) the channels each joint reads from a motion line, in file order: ASF dof
            names (``("rx", "rz")``, root ``("tx", "ty", "tz", "rx", "ry", "rz")`` in ``:root
            order``); BVH CHANNELS names (End Sites: ``()``).
        euler_conventions: (J,) roma Euler convention of each joint's angles: lower case =
            extrinsic (an ASF ``axis ... XYZ`` token becomes ``"xyz"``, i.e. ``Rz Ry Rx``), upper
            case = intrinsic (BVH ``Zrotation Yrotation Xrotation`` becomes ``"ZYX"``, also
            ``Rz Ry Rx``); ``""`` for joints without rotation channels.
        directions: (J, 3) unit bone directions in world axes (zero for the root and zero-length
            bones).
        lengths: (J,) bone lengths, metres (0 for the root).
        limits: (J,) per dof ``(low, high)`` as written in the ASF (its angle unit); ``()`` otherwise.
        scale: metres per file length unit that was applied.
        angle_unit: ``"deg"`` or ``"rad"``, the unit of the file's angles.
        source: the file the skeleton was read from.
    """

    names: list[str]
    parents: list[int]
    offsets: torch.Tensor
    axes: torch.Tensor
    dofs: list[tuple[str, ...]]
    euler_conventions: list[str]
    directions: torch.Tensor
    lengths: torch.Tensor
    limits: list[tuple[tuple[float, float], ...]]
    scale: float
    angle_unit: str
    source: str

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Index of joint ``name``; ValueError listing the names when it is unknown."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"no joint named {name!r}; joints: {', '.join(self.names)}") from None

    def children(self, joint: int) -> list[int]:
        return [j for j, p in enumerate(self.parents) if p == joint]


@dataclass
class Motion:
    """A motion clip on a :class:`Skeleton`, bone convention (see the module docstring).

    Attributes:
        skeleton: the skeleton.
        local_rotations: (T, J, 3, 3) rotation of bone j relative to its parent bone
            (``local_rotations[:, 0]``: root orientation).
        root_translation: (T, 3) root translation, metres (the root is at
            ``root_translation + skeleton.offsets[0]``).
        positions: (T, J, 3) joint positions, metres, ``bone_forward_kinematics`` of the above.
        fps: frames per second.
        source: the motion file it was read from.
    """

    skeleton: Skeleton
    local_rotations: torch.Tensor
    root_translation: torch.Tensor
    positions: torch.Tensor
    fps: float
    source: str

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def global_rotations(self) -> torch.Tensor:
        """(T, J, 3, 3) world rotation of each bone (the ASF ``R_b``)."""
        return relative_to_global(self.local_rotations, self.skeleton.parents)


@dataclass
class JointTree:
    """A motion in the joint convention of ``posebook.body.kinematics.forward_kinematics``.

    ``forward_kinematics(local_rotations, offsets, parents, root_translation)[0][..., joint_index, :]``
    equals the :class:`Motion`'s ``positions``.

    Attributes:
        names: (K,) node names: the root, then one node per bone (named after the bone) at the
            bone's START carrying its rotation, and ``"<bone>_end"`` at the end of every leaf bone.
        parents: (K,) topologically ordered (depth-first, the order a BVH file lists them).
        offsets: (K, 3) rest offsets in the parent node's frame, metres.
        local_rotations: (T, K, 3, 3) rotations relative to the parent node.
        root_translation: (T, 3) metres.
        end_sites: (K,) True for the leaf-end nodes (BVH ``End Site``).
        joint_index: (J,) for each Motion joint, the node at the same position.
    """

    names: list[str]
    parents: list[int]
    offsets: torch.Tensor
    local_rotations: torch.Tensor
    root_translation: torch.Tensor
    end_sites: list[bool]
    joint_index: torch.Tensor


# ----------------------------------------------------------------------------------------------
# kinematics


def bone_forward_kinematics(
    local_rotations: torch.Tensor,
    offsets: torch.Tensor,
    parents: Sequence[int],
    root_translation: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Acclaim ASF/AMC forward kinematics (CMU README): each bone turns with its OWN rotation.

    ``G = relative_to_global(local_rotations)`` (``R_b = R_parent C_b M_b C_b^T``), then
    ``pos[0] = root_translation + offsets[0]`` and ``pos[j] = pos[pa(j)] + G[j] @ offsets[j]``
    (``end_b = end_parent + length_b R_b direction_b``).

    Args:
        local_rotations: (..., J, 3, 3) bone rotations relative to the parent bone.
        offsets: (..., J, 3) or (J, 3) rest bone vectors (world axes), metres.
        parents: (J,) topologically ordered parents, ``parents[0] == -1``.
        root_translation: (..., 3) metres; None for the origin.

    Returns:
        positions: (..., J, 3) bone-end positions, metres.
        global_rotations: (..., J, 3, 3).
    """
    parents = validate_parents(parents)
    if offsets.shape[-2:] != (len(parents), 3):
        raise ValueError(f"offsets must have shape (..., {len(parents)}, 3), got {tuple(offsets.shape)}")
    G = relative_to_global(local_rotations, parents)
    rotated = (G[..., 1:, :, :] @ offsets[..., 1:, :, None]).squeeze(-1)
    bones = torch.cat([offsets[..., :1, :].expand_as(rotated[..., :1, :]), rotated], dim=-2)
    positions = local_rotations.new_tensor(ancestor_matrix(parents)) @ bones
    if root_translation is not None:
        positions = positions + root_translation[..., None, :]
    return positions, G


def joint_tree(motion: Motion) -> JointTree:
    """The joint-convention tree of a bone-convention motion (what :func:`save_bvh` writes).

    A node per bone b at the bone's start (the end of its parent bone) carries ``G[b]``; its
    offset from its parent node is the parent bone's vector, and its rotation relative to that
    node is ``local_rotations[b]`` (both nodes carry bone rotations). A leaf bone b also gets a
    node ``"<b>_end"`` at offset ``offsets[b]`` with identity rotation. The root node is the root.
    Bone end j is then the start node of any child bone of j, or ``"<j>_end"`` for a leaf.

    Args:
        motion: a :class:`Motion` (T frames, J joints).

    Returns:
        a :class:`JointTree` with K = J + (number of leaf bones) nodes.
    """
    skel = motion.skeleton
    children = [skel.children(j) for j in range(skel.num_joints)]
    names, parents, offsets, source, end_sites = [skel.names[0]], [-1], [skel.offsets[0]], [0], [False]
    zero = skel.offsets.new_zeros(3)
    joint_index = [0] * skel.num_joints
    # depth-first, children in skeleton order: the node order of a BVH file
    stack = [(child, 0, zero) for child in reversed(children[0])]
    while stack:
        bone, parent_node, offset = stack.pop()
        node = len(names)
        names.append(skel.names[bone])
        parents.append(parent_node)
        offsets.append(offset)
        source.append(bone)
        end_sites.append(False)
        if not children[bone]:
            joint_index[bone] = len(names)
            names.append(f"{skel.names[bone]}_end")
            parents.append(node)
            offsets.append(skel.offsets[bone])
            source.append(-1)
            end_sites.append(True)
        else:
            joint_index[bone] = node + 1  # its first child's start node comes right after it
        stack.extend((child, node, skel.offsets[bone]) for child in reversed(children[bone]))
    R = motion.local_rotations
    eye = torch.eye(3, dtype=R.dtype, device=R.device).expand(R.shape[0], 1, 3, 3)
    # source -1 (an end site) picks the identity appended after the J bones
    local = torch.cat([R, eye], dim=1)[:, [s if s >= 0 else R.shape[1] for s in source]]
    return JointTree(
        names=names,
        parents=parents,
        offsets=torch.stack(offsets),
        local_rotations=local,
        root_translation=motion.root_translation,
        end_sites=end_sites,
        joint_index=torch.tensor(joint_index),
    )


# ----------------------------------------------------------------------------------------------
# text helpers


def _read_lines(path: Path) -> list[str]:
    """Lines of a text file, any of LF / CRLF / CR endings, with or without a final newline."""
    if not path.is_file():
        raise FileNotFoundError(f"no such motion-capture file: {path}")
    text = path.read_bytes().decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _floats(tokens: Sequence[str], count: int, path: Path, line: int, what: str) -> list[float]:
    if len(tokens) != count:
        raise MocapFormatError(
            path, line, f"{what}: expected {count} numbers, got {len(tokens)} ({' '.join(tokens)!r})"
        )
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise MocapFormatError(
            path, line, f"{what}: expected {count} numbers, got {' '.join(tokens)!r}"
        ) from None


def _elementary(axis: str, c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation about one coordinate axis by the angle with cosine c and sine s."""
    i, j = {"X": (1, 2), "Y": (2, 0), "Z": (0, 1)}[axis]
    R = torch.zeros(*c.shape, 3, 3, dtype=c.dtype, device=c.device)
    R[..., 3 - i - j, 3 - i - j] = 1.0
    R[..., i, i] = c
    R[..., j, j] = c
    R[..., i, j] = -s
    R[..., j, i] = s
    return R


def _euler(angles: torch.Tensor, convention: str, degrees: bool) -> torch.Tensor:
    """(..., len(convention)) Euler angles -> (..., 3, 3), roma's convention rule (upper = intrinsic).

    Intrinsic ``"ZYX"`` is ``Rz Ry Rx``, extrinsic ``"xyz"`` the same matrix; any number of axes.
    Products of elementary rotations: roma's quaternion route is several times slower on the
    160,000 rotations of a long clip (tested against roma).
    """
    if not convention:
        return torch.eye(3, dtype=angles.dtype, device=angles.device).expand(*angles.shape[:-1], 3, 3).clone()
    radians = torch.deg2rad(angles) if degrees else angles
    c, s = torch.cos(radians), torch.sin(radians)
    mats = [_elementary(axis, c[..., k], s[..., k]) for k, axis in enumerate(convention.upper())]
    if convention.islower():
        mats.reverse()
    out = mats[0]
    for m in mats[1:]:
        out = out @ m
    return out


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
        MocapFormatError: malformed file (names file and line), unknown dof, unknown bone in
            ``:hierarchy``, missing ``:units length`` when ``scale`` is None.
    """
    path = Path(path)
    units, root, bones, hierarchy = _read_asf_sections(path)
    if scale is None:
        if "length" not in units:
            raise MocapFormatError(path, None, "no ':units length' line; pass scale= (metres per file unit)")
        try:
            scale = METRES_PER_INCH / float(units["length"])
        except (ValueError, ZeroDivisionError):
            raise MocapFormatError(
                path, None, f"':units length {units['length']}': expected a positive number"
            ) from None
    angle_unit = units.get("angle", "deg").lower()
    if angle_unit not in ("deg", "rad"):
        raise MocapFormatError(path, None, f"':units angle {angle_unit}': expected deg or rad")

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
    """The ``:units`` values, ``:root`` lines, ``:bonedata`` blocks and ``:hierarchy`` lines of an ASF."""
    units: dict[str, str] = {}
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
            units[key] = tokens[1] if len(tokens) > 1 else ""
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
    elif key == "length":
        bone["length"] = _floats(tokens[1:], 1, path, number, "length")[0]
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
    try:
        return [(float(lo), float(hi)) for lo, hi in pairs]
    except ValueError:
        raise MocapFormatError(
            path, line, f"non-numeric limits {raw.strip()!r}; expected '(low high)'"
        ) from None


# ----------------------------------------------------------------------------------------------
# AMC


def load_amc(path: str | os.PathLike, skeleton: Skeleton, fps: float = 120.0) -> Motion:
    """Read an Acclaim AMC motion on its ASF skeleton into a bone-convention :class:`Motion`.

    Each frame is a frame-number line, then one line per bone with dofs (any order), the values
    in the bone's ``dof`` order (the root's in ``:root order``). With ``C`` the bone's ASF axis
    and ``M = Rz Ry Rx`` of its angles (for an ``XYZ`` axis order; missing dofs are 0) the bone's
    local rotation is ``C M C^T``; the root translation is scaled by ``skeleton.scale``. Angles
    are read in the ASF's unit unless the AMC header says ``:DEGREES`` / ``:RADIANS``. Frame
    numbers must be consecutive. The AMC format stores no frame rate: pass ``fps`` (CMU: 120).

    Args:
        path: the ``.amc`` file.
        skeleton: its subject's skeleton from :func:`load_asf`.
        fps: frames per second of the capture.

    Returns:
        the :class:`Motion` (T frames).

    Raises:
        FileNotFoundError: no such file.
        MocapFormatError: (file, line) of an unknown bone, a frame missing a bone line, a bone
            line with the wrong number of values, a non-numeric value, a repeated bone line or a
            gap in the frame numbers.
    """
    path = Path(path)
    skel = skeleton
    if any(dof not in _ROOT_DOFS for dofs in skel.dofs for dof in dofs):
        raise ValueError(f"load_amc needs the subject's ASF skeleton (load_asf), got one from {skel.source}")
    lines = _read_lines(path)
    degrees = skel.angle_unit == "deg"
    first = 0  # header: ':' keywords and '#' comments before the first frame
    while first < len(lines) and (not lines[first].strip() or lines[first].lstrip()[0] in ":#"):
        keyword = lines[first].strip().upper()
        if keyword in (":DEGREES", ":RADIANS"):
            degrees = keyword == ":DEGREES"
        first += 1
    parsed = _amc_values_fast(lines, first, skel)
    if parsed is None:  # not the regular layout: the line-by-line reader finds the error, or copes
        parsed = _amc_values_by_line(lines, first, skel, path)
    T, data = parsed

    translation = np.zeros((T, 3))
    angles = np.zeros((T, skel.num_joints, 3))  # rx ry rz per joint
    for j, values in data.items():
        for column, dof in enumerate(skel.dofs[j]):
            if dof[0] == "t":
                translation[:, "xyz".index(dof[1])] = values[:, column]
            else:
                angles[:, j, "xyz".index(dof[1])] = values[:, column]
    angles_t = torch.from_numpy(angles)
    M = torch.empty(T, skel.num_joints, 3, 3, dtype=_DTYPE)
    for convention in set(skel.euler_conventions):
        joints = [j for j, c in enumerate(skel.euler_conventions) if c == convention]
        ordered = angles_t[:, joints][..., ["xyz".index(c) for c in convention.lower()]]
        M[:, joints] = _euler(ordered, convention, degrees)
    local = skel.axes @ M @ skel.axes.transpose(-1, -2)
    root_translation = torch.from_numpy(translation) * skel.scale
    positions, _ = bone_forward_kinematics(local, skel.offsets, skel.parents, root_translation)
    return Motion(skel, local, root_translation, positions, float(fps), str(path))


def _amc_values_fast(
    lines: list[str], first: int, skel: Skeleton
) -> tuple[int, dict[int, np.ndarray]] | None:
    """(T, values per bone (T, ndof)) when every frame repeats the first frame's layout; else None.

    One ``str.split`` of the whole body and strided slices of the token list: about 10x faster
    than splitting 150,000 lines one by one. Frame numbers must run consecutively.
    """
    index = {name: j for j, name in enumerate(skel.names)}
    layout: list[tuple[int, int]] = []  # (joint, number of values) per line of a frame
    if first >= len(lines) or not lines[first].strip().isdigit():
        return None
    k = first + 1
    while k < len(lines) and lines[k].strip() and not lines[k].strip().isdigit():
        tokens = lines[k].split()
        j = index.get(tokens[0])
        if j is None or len(tokens) - 1 != len(skel.dofs[j]):
            return None
        layout.append((j, len(tokens) - 1))
        k += 1
    joints = [j for j, _ in layout]
    required = [j for j in range(skel.num_joints) if skel.dofs[j]]
    if len(set(joints)) != len(joints) or not set(required) <= set(joints):
        return None
    body = lines[first:]
    tokens = "\n".join(body).split()
    per_frame = 1 + sum(1 + n for _, n in layout)
    T, rest = divmod(len(tokens), per_frame)
    if rest or T == 0 or len(body) - body.count("") != T * (1 + len(layout)):
        return None
    try:
        ids = np.fromiter(map(int, tokens[0::per_frame]), dtype=np.int64, count=T)
    except ValueError:
        return None
    if (np.diff(ids) != 1).any():
        return None
    out = {}
    column = 1
    for j, n in layout:
        if tokens[column::per_frame] != [skel.names[j]] * T:
            return None
        if n:
            try:
                columns = [
                    np.fromiter(map(float, tokens[column + 1 + i :: per_frame]), np.float64, T)
                    for i in range(n)
                ]
            except ValueError:
                return None
            out[j] = np.stack(columns, axis=1)
        column += 1 + n
    return T, out


def _amc_values_by_line(
    lines: list[str], first: int, skel: Skeleton, path: Path
) -> tuple[int, dict[int, np.ndarray]]:
    """Line-by-line reader: any bone order within a frame; raises MocapFormatError naming the line."""
    index = {name: j for j, name in enumerate(skel.names)}
    ndof = [len(d) for d in skel.dofs]
    required = [j for j in range(skel.num_joints) if ndof[j] > 0]
    values: list[list[str]] = [[] for _ in skel.names]
    seen = [0] * skel.num_joints
    frame_ids: list[int] = []
    frame_lines: list[int] = []
    n_seen = 0

    def check_complete(end_line: int) -> None:
        if n_seen != len(required):
            missing = [skel.names[k] for k in required if seen[k] != len(frame_ids)]
            raise MocapFormatError(
                path, frame_lines[-1],
                f"frame {frame_ids[-1]} (lines {frame_lines[-1]}-{end_line}) has no line for bone(s) "
                f"{', '.join(missing)}; expected one line per bone with dofs",
            )

    for number, raw in enumerate(lines[first:], first + 1):
        tokens = raw.split()
        if not tokens:
            continue
        head = tokens[0]
        j = index.get(head)
        if j is None:
            if head.isdigit() and len(tokens) == 1:
                if frame_ids:
                    check_complete(number - 1)
                frame_ids.append(int(head))
                frame_lines.append(number)
                n_seen = 0
            elif head[0] != "#":
                raise MocapFormatError(
                    path, number,
                    f"unknown bone {head!r}; expected a frame number or one of the ASF bones "
                    f"({', '.join(skel.names[k] for k in required)})",
                )
            continue
        if not frame_ids:
            raise MocapFormatError(
                path, number, f"bone line {head!r} before the first frame number; expected a frame number"
            )
        if len(tokens) - 1 != ndof[j]:
            raise MocapFormatError(
                path, number,
                f"bone {head!r} has {len(tokens) - 1} values; "
                f"expected {ndof[j]} ({' '.join(skel.dofs[j]) or 'no dofs'})",
            )
        if ndof[j]:
            if seen[j] == len(frame_ids):
                raise MocapFormatError(
                    path, number,
                    f"second line for bone {head!r} in frame {frame_ids[-1]}; expected one per frame",
                )
            for token in tokens[1:]:
                try:
                    float(token)
                except ValueError:
                    raise MocapFormatError(
                        path, number,
                        f"non-numeric value {token!r} for bone {head!r}; expected {ndof[j]} numbers",
                    ) from None
            seen[j] = len(frame_ids)
            n_seen += 1
            values[j].extend(tokens[1:])
    if not frame_ids:
        raise MocapFormatError(
            path, None, "no frames found; expected frame-number lines followed by bone lines"
        )
    check_complete(len(lines))
    gaps = np.flatnonzero(np.diff(frame_ids) != 1)
    if gaps.size:
        k = int(gaps[0]) + 1
        raise MocapFormatError(
            path, frame_lines[k],
            f"frame number {frame_ids[k]} follows {frame_ids[k - 1]}; expected consecutive frame numbers",
        )
    T = len(frame_ids)
    return T, {j: np.array(values[j], dtype=np.float64).reshape(T, ndof[j]) for j in required}


def load_asf_amc(
    asf_path: str | os.PathLike, amc_path: str | os.PathLike, fps: float = 120.0, scale: float | None = None
) -> Motion:
    """Read an ASF skeleton and an AMC motion of the same subject (see :func:`load_asf`, :func:`load_amc`).

    Args:
        asf_path: the subject's ``.asf``.
        amc_path: the ``.amc`` clip.
        fps: frames per second (the AMC stores none; CMU: 120).
        scale: metres per file length unit; None derives it from the ASF ``:units``.

    Returns:
        the :class:`Motion`.
    """
    return load_amc(amc_path, load_asf(asf_path, scale=scale), fps=fps)


# ----------------------------------------------------------------------------------------------
# BVH


def _snap_fps(frame_time: float) -> float:
    # BVH files store 1/fps rounded (".0083333"); an fps within 1e-4 (relative) of an integer is that integer.
    fps = 1.0 / frame_time
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
        MocapFormatError: (file, line) of a malformed hierarchy, a frame line with the wrong
            number of values, a non-numeric value, or a frame count that disagrees with ``Frames:``.
    """
    path = Path(path)
    lines = _read_lines(path)
    s = 1.0 if scale is None else float(scale)
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
    try:
        n_frames = int(header["frames"][0])
        frame_time = float(header["frame time"][0])
        if n_frames < 0 or frame_time <= 0:
            raise ValueError
    except ValueError:
        raise MocapFormatError(
            path, header["frames"][1],
            "expected 'Frames: <non-negative int>' and 'Frame Time: <positive seconds>'",
        ) from None

    n_columns = sum(len(node["channels"]) for node in nodes)
    body = lines[data_start - 1:]
    tokens = "\n".join(body).split()
    data = None
    if len(tokens) == n_frames * n_columns and len(body) - body.count("") == n_frames:
        try:  # the regular layout, one frame per line: convert all values at once
            data = np.fromiter(map(float, tokens), np.float64, len(tokens)).reshape(n_frames, n_columns)
        except ValueError:
            pass
    if data is None:  # find the offending line
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
    return Motion(skeleton, local, root_translation, positions, _snap_fps(frame_time), str(path))


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
        try:
            rows.append([float(word) for word in words])
        except ValueError:
            bad = next(word for word in words if not _is_float(word))
            raise MocapFormatError(
                path, number, f"non-numeric value {bad!r}; expected {n_columns} numbers"
            ) from None
    if len(rows) < n_frames:
        raise MocapFormatError(
            path, last, f"file ends after {len(rows)} frame lines; expected 'Frames: {n_frames}'"
        )
    return np.array(rows, dtype=np.float64).reshape(n_frames, n_columns)


def _is_float(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


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


# ----------------------------------------------------------------------------------------------
# utilities


def resample(motion: Motion, fps: float) -> Motion:
    """Subsample a motion in time by picking the nearest source frame (no interpolation).

    Frame i of the result is source frame ``round(i * motion.fps / fps)``: an integer ratio
    (120 -> 30) takes every 4th frame exactly; other ratios jitter by at most half a source frame.

    Args:
        motion: the :class:`Motion` (T frames at ``motion.fps``).
        fps: target frames per second, ``0 < fps <= motion.fps``.

    Returns:
        a :class:`Motion` at ``fps`` covering the same time span.
    """
    if not 0 < fps <= motion.fps:
        raise ValueError(f"fps must be in (0, {motion.fps}] (subsampling only), got {fps}")
    step = motion.fps / fps
    count = math.floor((motion.num_frames - 1) / step + 1e-9) + 1
    index = torch.round(torch.arange(count, dtype=_DTYPE) * step).long().clamp_max(motion.num_frames - 1)
    return replace(
        motion,
        local_rotations=motion.local_rotations[index],
        root_translation=motion.root_translation[index],
        positions=motion.positions[index],
        fps=float(fps),
    )


_FRAME_LINE = re.compile(rb"^[ \t]*\d+[ \t]*\r?$", re.MULTILINE)


def list_cmu(cmu_dir: str | os.PathLike, count_frames: bool = True) -> pd.DataFrame:
    """Table of the CMU clips under a directory (flat, or CMU's ``subjects/<NN>/`` layout).

    A clip ``<subject>_<trial>.amc`` uses the skeleton ``<subject>.asf`` next to it. Frames are
    counted as frame-number lines (a regular-expression pass, no parsing).

    Args:
        cmu_dir: the directory to search recursively.
        count_frames: count each clip's frames (reads every file once).

    Returns:
        DataFrame with columns clip, subject, trial, asf (path or None), amc (path) and, when
        counted, frames; sorted by subject and trial.
    """
    cmu_dir = Path(cmu_dir)
    if not cmu_dir.is_dir():
        raise FileNotFoundError(f"CMU mocap directory not found: {cmu_dir}")
    rows = []
    for amc in cmu_dir.rglob("*.amc"):
        subject, _, trial = amc.stem.partition("_")
        asf = amc.with_name(f"{subject}.asf")
        row = {
            "clip": amc.stem,
            "subject": subject,
            "trial": trial,
            "asf": str(asf) if asf.is_file() else None,
            "amc": str(amc),
        }
        if count_frames:
            row["frames"] = len(_FRAME_LINE.findall(amc.read_bytes()))
        rows.append(row)
    columns = ["clip", "subject", "trial", "asf", "amc"] + (["frames"] if count_frames else [])
    table = pd.DataFrame(rows, columns=columns)

    def natural(column: pd.Series) -> pd.Series:
        return column.map(lambda v: (int(v) if v.isdigit() else math.inf, v))

    return table.sort_values(["subject", "trial"], key=natural, ignore_index=True)


def cmu_dir_from_env(explicit: str | os.PathLike | None = None) -> Path | None:
    """The CMU mocap directory: ``explicit`` if given, else ``$POSEBOOK_CMU_DIR``, else None.

    None means "no CMU data": callers fall back to the procedural pose generator.

    Raises:
        FileNotFoundError: the given or configured path is not a directory.
    """
    if explicit is not None:
        path, origin = Path(explicit), "the given CMU directory"
    elif os.environ.get(CMU_DIR_ENV):
        path, origin = Path(os.environ[CMU_DIR_ENV]), f"${CMU_DIR_ENV}"
    else:
        return None
    if not path.is_dir():
        raise FileNotFoundError(
            f"{origin} {path} is not a directory; point it at the folder holding the .asf/.amc files"
        )
    return path
