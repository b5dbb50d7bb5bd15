"""The in-memory form of a mocap clip: :class:`Skeleton`, :class:`Motion`, their kinematics.

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
says which of its joints sits on each bone end; :func:`~posebook.data.mocap.bvh.save_bvh` writes
that tree.

All tensors are float64 on the CPU (``torch``); convert with ``.to(...)`` downstream.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from posebook.body.kinematics import ancestor_matrix, relative_to_global, validate_parents

METRES_PER_INCH = 0.0254
_DTYPE = torch.float64
_BONE_DOFS = ("rx", "ry", "rz")
_ROOT_DOFS = ("tx", "ty", "tz", "rx", "ry", "rz")


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
