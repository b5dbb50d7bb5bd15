"""Kinematic trees: relative <-> global rotations, forward kinematics, kinematic chains.

A skeleton is a ``parents`` array: ``parents[0] == -1`` (the root) and ``0 <= parents[j] < j``
for every other joint (topological order, as in SMPL, BVH files and Anny rigs). Rotations act on
column vectors (``x' = R @ x``) and are batched over leading dims, ``(..., J, 3, 3)``.

Two rotation conventions (SGRE Sec. 3.1-3.2):

- relative (local) ``R_rel[j]``: rotation of joint j w.r.t. its parent; ``R_rel[0]`` is the
  global orientation of the root. This is what SMPL and BVH files store.
- global ``R_glob[j]``: rotation of joint j w.r.t. the world, the product of the relative
  rotations along the chain from the root to j (SGRE Eq. 8), and conversely
  ``R_rel[j] = R_glob[pa(j)]^T R_glob[j]`` (SGRE Eq. 10).

The rest pose is the pose in which every rotation is the identity.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

__all__ = [
    "validate_parents",
    "depth",
    "levels",
    "chains",
    "relative_to_global",
    "global_to_relative",
    "forward_kinematics",
]


def validate_parents(parents: Sequence[int]) -> tuple[int, ...]:
    """Check that ``parents`` is a topologically ordered tree rooted at joint 0; return a tuple.

    Args:
        parents: (J,) parent index of each joint (list, tuple, numpy array or 1-D tensor).

    Returns:
        the parents as a tuple of Python ints.

    Raises:
        ValueError: if the root is not joint 0 with parent -1, or some joint's parent is not an
            earlier joint.
    """
    try:
        parents = tuple(int(p) for p in parents)
    except TypeError as err:
        raise ValueError(f"parents must be a 1-D sequence of ints, got {parents!r}") from err
    if len(parents) == 0:
        raise ValueError("parents is empty: a skeleton needs at least its root joint.")
    if parents[0] != -1:
        raise ValueError(
            f"parents[0] must be -1 (joint 0 is the root), got {parents[0]}. "
            "Reorder the joints so that the root comes first."
        )
    bad = [(j, p) for j, p in enumerate(parents) if j > 0 and not 0 <= p < j]
    if bad:
        raise ValueError(
            "parents must be topologically ordered (0 <= parents[j] < j for j > 0); "
            f"offending (joint, parent) pairs: {bad}. Reorder the joints so that every parent "
            "precedes its children (e.g. a breadth-first order from the root)."
        )
    return parents


@functools.lru_cache(maxsize=64)
def _depths(parents: tuple[int, ...]) -> tuple[int, ...]:
    out = [0] * len(parents)
    for j in range(1, len(parents)):
        out[j] = out[parents[j]] + 1
    return tuple(out)


def depth(parents: Sequence[int]) -> list[int]:
    """Depth of each joint in the tree: 0 for the root, ``depth[pa(j)] + 1`` otherwise.

    Args:
        parents: (J,) topologically ordered parent indices, ``parents[0] == -1``.

    Returns:
        (J,) list of ints.
    """
    return list(_depths(validate_parents(parents)))


@functools.lru_cache(maxsize=64)
def _levels(parents: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    depths = _depths(parents)
    return tuple(
        tuple(j for j, d in enumerate(depths) if d == level) for level in range(max(depths) + 1)
    )


def levels(parents: Sequence[int]) -> list[list[int]]:
    """Joints grouped by depth: ``levels[d]`` lists the joints of depth d, in increasing order.

    All joints of one level can be processed at once, since their parents all lie in the level
    before (this is how :func:`relative_to_global` vectorises the chain product).

    Args:
        parents: (J,) topologically ordered parent indices, ``parents[0] == -1``.

    Returns:
        list of ``max(depth) + 1`` lists of joint indices; ``levels[0] == [0]``.
    """
    return [list(level) for level in _levels(validate_parents(parents))]


@functools.lru_cache(maxsize=64)
def ancestor_matrix(parents: tuple[int, ...]) -> tuple[tuple[float, ...], ...]:
    """(J, J) nested tuples: A[j][k] = 1 if joint k lies on the path root -> j (both ends included).

    Positions along a tree are ``A @ bone_vectors``; ``parents`` must be a tuple (it is cached).
    """
    rows = []
    for j in range(len(parents)):
        row = [0.0] * len(parents)
        k = j
        while k >= 0:
            row[k] = 1.0
            k = parents[k]
        rows.append(tuple(row))
    return tuple(rows)


@functools.lru_cache(maxsize=64)
def _level_schedule(
    parents: tuple[int, ...],
) -> tuple[tuple[tuple[tuple[int, ...], tuple[int, ...]], ...], tuple[int, ...]]:
    """Per level d >= 1: (its joints, each one's parent's position inside level d - 1); and the
    permutation from the level-by-level order back to joint order."""
    joint_levels = _levels(parents)
    steps = []
    for previous, current in zip(joint_levels[:-1], joint_levels[1:]):
        position = {joint: i for i, joint in enumerate(previous)}
        steps.append((current, tuple(position[parents[j]] for j in current)))
    order = [j for level in joint_levels for j in level]
    inverse = [0] * len(order)
    for i, j in enumerate(order):
        inverse[j] = i
    return tuple(steps), tuple(inverse)


def chains(
    parents: Sequence[int],
    names: Sequence[str] | None = None,
    ends: Sequence[int | str] | None = None,
) -> dict[str, list[int]]:
    """Kinematic chains from the root to end joints (SGRE Fig. 1a, Fig. 4: root->head/toe/hand).

    Args:
        parents: (J,) topologically ordered parent indices, ``parents[0] == -1``.
        names: optional (J,) joint names; used as dict keys and to resolve ``ends`` given by name.
        ends: end joints (indices or names); default: every leaf joint (a joint with no child),
            in increasing index order.

    Returns:
        ``{end name (or str(index) without names): [root, ..., end]}``, joint indices from the
        root to the end joint, both included.

    Raises:
        ValueError: bad ``parents``, ``names`` of the wrong length, or an unknown end joint.
    """
    parents = validate_parents(parents)
    if names is not None and len(names) != len(parents):
        raise ValueError(f"names has {len(names)} entries but parents has {len(parents)} joints.")
    if ends is None:
        has_child = set(parents[1:])
        ends = [j for j in range(len(parents)) if j not in has_child]
    out: dict[str, list[int]] = {}
    for end in ends:
        if isinstance(end, str):
            if names is None or end not in names:
                raise ValueError(
                    f"unknown end joint {end!r}: pass `names` containing it, or give an index."
                )
            index = list(names).index(end)
        else:
            index = int(end)
            if not 0 <= index < len(parents):
                raise ValueError(f"end joint index {index} is out of range [0, {len(parents)}).")
        chain = [index]
        while parents[chain[-1]] >= 0:
            chain.append(parents[chain[-1]])
        out[names[index] if names is not None else str(index)] = chain[::-1]
    return out


def _check_rotations(rotations: torch.Tensor, num_joints: int, name: str) -> None:
    if rotations.ndim < 3 or rotations.shape[-3:] != (num_joints, 3, 3):
        raise ValueError(
            f"{name} must have shape (..., {num_joints}, 3, 3) for {num_joints} joints, "
            f"got {tuple(rotations.shape)}."
        )


def relative_to_global(R_rel: torch.Tensor, parents: Sequence[int]) -> torch.Tensor:
    """SGRE Eq. 8: global rotations as products of relative rotations along the kinematic chain.

    ``R_glob[j] = R_glob[pa(j)] @ R_rel[j]`` and ``R_glob[0] = R_rel[0]``, i.e. the ordered
    product root-first over the joints on the path root -> j (not over indices 1..j as Eq. 8's
    ``prod_{i=1:k}`` literally reads). One batched matmul per tree depth level.

    Args:
        R_rel: (..., J, 3, 3) relative rotations; ``R_rel[..., 0, :, :]`` is the root's global
            orientation.
        parents: (J,) topologically ordered parent indices, ``parents[0] == -1``.

    Returns:
        (..., J, 3, 3) global rotations.
    """
    parents = validate_parents(parents)
    _check_rotations(R_rel, len(parents), "R_rel")
    steps, inverse = _level_schedule(parents)
    # Each level is kept as its own tensor (no in-place writes, so autograd stays simple); the
    # parent of a joint of level d is looked up by its position inside level d - 1.
    device = R_rel.device
    per_level = [R_rel[..., :1, :, :]]
    for joints, parent_pos in steps:
        parent_R = per_level[-1][..., torch.tensor(parent_pos, device=device), :, :]
        per_level.append(parent_R @ R_rel[..., torch.tensor(joints, device=device), :, :])
    return torch.cat(per_level, dim=-3)[..., torch.tensor(inverse, device=device), :, :]


def global_to_relative(R_glob: torch.Tensor, parents: Sequence[int]) -> torch.Tensor:
    """SGRE Eq. 10: relative rotations from global ones, ``R_rel[j] = R_glob[pa(j)]^T R_glob[j]``.

    The inverse of a rotation is its transpose; the root keeps its global rotation. One batched
    product for all joints.

    Args:
        R_glob: (..., J, 3, 3) global rotations (rotation matrices).
        parents: (J,) topologically ordered parent indices, ``parents[0] == -1``.

    Returns:
        (..., J, 3, 3) relative rotations.
    """
    parents = validate_parents(parents)
    _check_rotations(R_glob, len(parents), "R_glob")
    parent_idx = torch.tensor(parents[1:], device=R_glob.device)
    children = R_glob[..., parent_idx, :, :].transpose(-1, -2) @ R_glob[..., 1:, :, :]
    return torch.cat([R_glob[..., :1, :, :], children], dim=-3)


def forward_kinematics(
    R_rel: torch.Tensor,
    offsets: torch.Tensor,
    parents: Sequence[int],
    root_translation: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward kinematics: joint positions from relative rotations and rest-pose bone offsets.

    With ``G = relative_to_global(R_rel, parents)`` (SGRE Eq. 8)::

        joints[0] = root_translation + offsets[0]
        joints[j] = joints[pa(j)] + G[pa(j)] @ offsets[j]        (j >= 1)

    ``offsets[j]`` (j >= 1) is the rest-pose vector from the parent joint to joint j, expressed
    in the parent's frame; at rest (all rotations identity) every frame is aligned with the
    world axes, so ``offsets[j] = rest_joints[j] - rest_joints[pa(j)]``. ``offsets[0]`` is the
    root's rest position (zero in the body models' ``rest_offsets``, which put the root at
    ``root_translation``). Bone lengths ``|joints[j] - joints[pa(j)]| = |offsets[j]|`` are kept.
    The sum along each chain is one matmul with the (J, J) ancestor matrix.

    Args:
        R_rel: (..., J, 3, 3) relative rotations (``R_rel[..., 0]``: root global orientation).
        offsets: (..., J, 3) or (J, 3) rest offsets, metres.
        parents: (J,) topologically ordered parent indices, ``parents[0] == -1``.
        root_translation: (..., 3) root position, metres; None for the origin.

    Returns:
        joints: (..., J, 3) joint positions, metres.
        R_glob: (..., J, 3, 3) global rotations.
    """
    parents = validate_parents(parents)
    num_joints = len(parents)
    _check_rotations(R_rel, num_joints, "R_rel")
    if offsets.shape[-2:] != (num_joints, 3):
        raise ValueError(
            f"offsets must have shape (..., {num_joints}, 3), got {tuple(offsets.shape)}."
        )
    R_glob = relative_to_global(R_rel, parents)
    parent_idx = torch.tensor((0,) + parents[1:], device=R_rel.device)
    # bone[j] = G[pa(j)] @ offsets[j]; bone[0] = offsets[0] (the root's own rest position).
    rotated = (R_glob[..., parent_idx, :, :] @ offsets[..., None]).squeeze(-1)
    bones = torch.cat([offsets[..., :1, :].expand_as(rotated[..., :1, :]), rotated[..., 1:, :]], -2)
    joints = R_rel.new_tensor(ancestor_matrix(parents)) @ bones
    if root_translation is not None:
        if root_translation.shape[-1] != 3:
            raise ValueError(
                f"root_translation must have shape (..., 3), got {tuple(root_translation.shape)}."
            )
        joints = joints + root_translation[..., None, :]
    return joints, R_glob
