"""Joint sets and the fixed linear maps that compute them from an Anny body.

Every set is a fixed sparse linear map over three kinds of Anny points, in the body's output
frame (y up, x = subject's left, z = subject's front; metres):

- ``head:<bone>``: the head of a ``cmu_mb`` bone (``BodyOutput.joints``),
- ``tail:<bone>``: its tail (``BodyOutput.bone_tails``; for the leaf bones Head, LeftToeBase,
  LeftHandFinger1, LThumb, ... the BVH end site),
- ``coco:<label>``: one of anny's own COCO keypoints, a convex combination of mesh vertices
  shipped with anny (``anny/data/keypoints/coco.pth``, read through ``anny.keypoints``).

Because the map is linear with weights summing to 1 per joint, it commutes with rigid and affine
motions of the body and is differentiable (:func:`convert_joints`).

CMU names. The Acclaim ASF skeleton (the CMU README's 31 names, :data:`CMU31`) describes BONES:
its joint ``b`` is the distal END of bone ``b`` (``lfemur`` = the knee). The cgspeed BVH
conversion and Anny's ``cmu_mb`` rig (:data:`ANNY_CMU_MB`) describe JOINTS at bone HEADS: the BVH
joint named after ASF bone ``b`` (:data:`ASF_TO_BVH`) sits at the START of ``b``. Hence

    ASF joint b (end of bone b) == tail of the Anny bone of b
                                == head of the Anny bone of b's first child (file order),

e.g. "ASF end of lfemur (knee) == Anny head of LeftLeg == Anny tail of LeftUpLeg", "ASF end of
lclavicle (shoulder) == Anny head of LeftArm", "ASF end of lradius (wrist) == Anny head of
LeftHand", and for the leaf bones "ASF end of ltoes (toe tip) == Anny tail of LeftToeBase",
"ASF end of head (top of head) == Anny tail of Head". In the ASF all children of b start at
its end; Anny starts some of them elsewhere (measured on the rest body, mean phenotype):

- the ASF root is one point from which lhipjoint, rhipjoint and lowerback start; it lies ~10 cm
  above and ~3.5 cm behind the hip joints (CMU 02: ``lhipjoint`` = 0.143 m, direction
  (0.66, -0.71, 0.25)), i.e. at the lumbar base. Anny's Hips head (where LHipJoint and
  RHipJoint start) is at the hip joints' height (1 cm above), and its LowerBack head (the Hips
  tail) 7-8 cm above and 3 cm behind them: the ASF root corresponds to Anny's LowerBack head.
- the ASF thorax end starts lowerneck AND both clavicles; Anny's clavicles (LeftShoulder) start
  at the sternoclavicular joints, ~7 cm below and 2 cm to the side of its Neck head.
- the ASF lwrist end starts lhand and lthumb; Anny's LThumb starts ~2 cm from the
  LeftFingerBase head.

Sets (the points each joint is made of, and where the approximation is loose):

- ``cmu31``: the ASF joints in README order, by the rule above; the ASF root = head:LowerBack,
  thorax = head:Neck (the lowerneck start), lwrist = head:LeftFingerBase (lhand start). Loose:
  Anny's toe bone is 2 cm long, so tail:LeftToeBase is ~5 cm short of the toe tip; tail:Head is
  the crown, while the ASF head bone ends "below the crown" (README).
- ``h36m17``: Human3.6M's 17 joints in VideoPose3D order and names
  (:data:`posebook.body.skeletons.H36M17_NAMES`): Hip = head:Hips (the hip joints' midpoint,
  1 cm higher), R/LHip = head:Right/LeftUpLeg, knees = ``head:*Leg``, feet (ankles) = ``head:*Foot``,
  Spine = head:Spine, Thorax = head:Neck (neck base), Neck/Nose = head:Head (skull base; loose:
  H36M's point lies a few cm further forward, towards the nose), Head = tail:Head (loose: the
  crown, ~3-5 cm above H36M's head joint), shoulders = ``head:*Arm``, elbows = ``head:*ForeArm``,
  wrists = ``head:*Hand``.
- ``lsp14``: Leeds Sports Pose order (right ankle first); neck = head:Neck1 (mid-neck; LSP's
  neck annotation is loosely defined), head_top = tail:Head, limbs as in h36m17.
- ``coco17``: COCO's 17 keypoints, all from anny's shipped COCO vertex regressor (surface
  keypoints made to match COCO annotations: nose tip, eyes, ears, and the limb keypoints, which
  lie 2-4 cm from the bone heads, e.g. COCO hips 3.3 cm below/in front of ``head:*UpLeg``); needs
  the mesh vertices and the body.
- ``smpl24``: SMPL's 24 joints (:data:`posebook.body.skeletons.SMPL24_NAMES`) approximated by
  Anny heads: pelvis = head:Hips, hips = ``head:*UpLeg``, spine1/2/3 = head:LowerBack/Spine/Spine1,
  neck = head:Neck, head = head:Head, collars = ``head:*Shoulder``, shoulders = ``head:*Arm``, elbows,
  wrists, knees, ankles as in h36m17, feet = ``head:*ToeBase``, hands = ``head:*HandFinger1``
  (knuckles). Loose: SMPL's joints come from a vertex regressor, not from a rig, so every
  joint may differ by a few cm; from SMPL's template as usually plotted (not checked here: no
  SMPL file is available), spine1 sits a few cm higher than Anny's LowerBack head and the
  collars further out than Anny's sternoclavicular heads.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from posebook.body.skeletons import (
    ANNY_CMU_MB,
    ANNY_CMU_MB_PARENTS,
    ASF_TO_BVH,
    BVH_TO_ASF,
    CMU31,
    CMU31_PARENTS,
    COCO17_EDGES,
    COCO17_NAMES,
    COCO17_PARENTS,
    H36M17_NAMES,
    H36M17_PARENTS,
    H36M17_SYMMETRY,
    LSP14_NAMES,
    LSP14_PARENTS,
    SMPL24_NAMES,
    SMPL24_PARENTS,
)

if TYPE_CHECKING:
    from posebook.body.models import AnnyBody

__all__ = [
    "CMU31",
    "CMU31_PARENTS",
    "ANNY_CMU_MB",
    "ANNY_CMU_MB_PARENTS",
    "ASF_TO_BVH",
    "BVH_TO_ASF",
    "COCO17_NAMES",
    "LSP14_NAMES",
    "JointSet",
    "JOINT_SETS",
    "joint_set",
    "joint_names",
    "parents",
    "flip_pairs",
    "skeleton_edges",
    "joint_regressor",
    "convert_joints",
]

# The joint-name constants (CMU31, ANNY_CMU_MB, ASF_TO_BVH, COCO17_NAMES, LSP14_NAMES, ...) live in
# posebook.body.skeletons, with every other dataset's skeleton; they are re-exported here.


@dataclass(frozen=True)
class JointSet:
    """A named joint set and its definition on Anny.

    Attributes:
        name: the set's key in :data:`JOINT_SETS`.
        names: (J,) joint names, in the set's standard order.
        parents: (J,) parent of each joint (-1 for the root); topologically ordered except
            ``lsp14`` (see :attr:`topological`).
        points: (J,) per joint, ``((point, weight), ...)`` with points ``"head:<bone>"``,
            ``"tail:<bone>"`` or ``"coco:<label>"``; weights sum to 1.
        edges: (E, 2) joint pairs to draw (the tree edges, or COCO's own skeleton).
        flip_pairs: (P, 2) (left, right) index pairs.
        description: one line on what the set is.
    """

    name: str
    names: tuple[str, ...]
    parents: tuple[int, ...]
    points: tuple[tuple[tuple[str, float], ...], ...]
    edges: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    description: str

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def topological(self) -> bool:
        """True when ``0 <= parents[j] < j`` for every non-root j and ``parents[0] == -1``."""
        return self.parents[0] == -1 and all(0 <= p < j for j, p in enumerate(self.parents) if j)

    @property
    def needs_tails(self) -> bool:
        return any(p.startswith("tail:") for terms in self.points for p, _ in terms)

    @property
    def needs_vertices(self) -> bool:
        return any(p.startswith("coco:") for terms in self.points for p, _ in terms)


def _tree_edges(parents: Sequence[int]) -> tuple[tuple[int, int], ...]:
    return tuple((p, j) for j, p in enumerate(parents) if p >= 0)


def _pairs_by_name(names: Sequence[str], left: str, right: str) -> tuple[tuple[int, int], ...]:
    """(left, right) index pairs of names that differ only by the ``left``/``right`` prefix."""
    index = {n: i for i, n in enumerate(names)}
    return tuple(
        (i, index[right + n[len(left):]])
        for i, n in enumerate(names)
        if n.startswith(left) and right + n[len(left):] in index
    )


def _single(*points: str) -> tuple[tuple[tuple[str, float], ...], ...]:
    return tuple(((p, 1.0),) for p in points)


def _cmu31() -> JointSet:
    def end_point(j: int) -> str:
        if j == 0:
            return "head:LowerBack"  # the ASF root is the lumbar base (module docstring)
        children = [c for c, p in enumerate(CMU31_PARENTS) if p == j]
        if not children:
            return f"tail:{ASF_TO_BVH[CMU31[j]]}"
        # all children of b start at its end; the first in file order (lowerneck of thorax,
        # lhand of lwrist) is the one whose Anny head is the tail of b's Anny bone
        return f"head:{ASF_TO_BVH[CMU31[children[0]]]}"

    return JointSet(
        name="cmu31",
        names=CMU31,
        parents=CMU31_PARENTS,
        points=_single(*(end_point(j) for j in range(len(CMU31)))),
        edges=_tree_edges(CMU31_PARENTS),
        flip_pairs=_pairs_by_name(CMU31, "l", "r"),
        description="CMU ASF joints (root + bone ends), README order",
    )


def _h36m17() -> JointSet:
    points = _single(
        "head:Hips", "head:RightUpLeg", "head:RightLeg", "head:RightFoot", "head:LeftUpLeg",
        "head:LeftLeg", "head:LeftFoot", "head:Spine", "head:Neck", "head:Head", "tail:Head",
        "head:LeftArm", "head:LeftForeArm", "head:LeftHand", "head:RightArm",
        "head:RightForeArm", "head:RightHand",
    )  # fmt: skip
    return JointSet(
        name="h36m17",
        names=tuple(H36M17_NAMES),
        parents=tuple(H36M17_PARENTS),
        points=points,
        edges=_tree_edges(H36M17_PARENTS),
        flip_pairs=tuple(zip(*H36M17_SYMMETRY)),
        description="Human3.6M 17 joints, VideoPose3D order",
    )


def _lsp14() -> JointSet:
    points = _single(
        "head:RightFoot", "head:RightLeg", "head:RightUpLeg", "head:LeftUpLeg", "head:LeftLeg",
        "head:LeftFoot", "head:RightHand", "head:RightForeArm", "head:RightArm", "head:LeftArm",
        "head:LeftForeArm", "head:LeftHand", "head:Neck1", "tail:Head",
    )  # fmt: skip
    return JointSet(
        name="lsp14",
        names=LSP14_NAMES,
        parents=LSP14_PARENTS,
        points=points,
        edges=_tree_edges(LSP14_PARENTS) + ((2, 3),),
        flip_pairs=_pairs_by_name(LSP14_NAMES, "left_", "right_"),
        description="Leeds Sports Pose 14 joints",
    )


def _coco17() -> JointSet:
    return JointSet(
        name="coco17",
        names=COCO17_NAMES,
        parents=COCO17_PARENTS,
        points=_single(*(f"coco:{n}" for n in COCO17_NAMES)),
        edges=COCO17_EDGES,
        flip_pairs=_pairs_by_name(COCO17_NAMES, "left_", "right_"),
        description="COCO 17 keypoints from anny's shipped vertex regressor",
    )


def _smpl24() -> JointSet:
    side = {
        "hip": "UpLeg", "knee": "Leg", "ankle": "Foot", "foot": "ToeBase", "collar": "Shoulder",
        "shoulder": "Arm", "elbow": "ForeArm", "wrist": "Hand", "hand": "HandFinger1",
    }  # fmt: skip
    center = {
        "pelvis": "Hips", "spine1": "LowerBack", "spine2": "Spine", "spine3": "Spine1",
        "neck": "Neck", "head": "Head",
    }  # fmt: skip
    points = []
    for n in SMPL24_NAMES:
        if n in center:
            points.append(f"head:{center[n]}")
        else:
            lr, part = n.split("_", 1)
            points.append(f"head:{lr.capitalize()}{side[part]}")
    return JointSet(
        name="smpl24",
        names=tuple(SMPL24_NAMES),
        parents=tuple(SMPL24_PARENTS),
        points=_single(*points),
        edges=_tree_edges(SMPL24_PARENTS),
        flip_pairs=_pairs_by_name(SMPL24_NAMES, "left_", "right_"),
        description="SMPL 24 joints approximated by Anny bone heads",
    )


#: The joint sets by name (see the module docstring for each definition).
JOINT_SETS: dict[str, JointSet] = {
    s.name: s for s in (_cmu31(), _h36m17(), _lsp14(), _coco17(), _smpl24())
}


def joint_set(set_name: str) -> JointSet:
    """The :class:`JointSet` called ``set_name``; ValueError listing the sets when unknown."""
    try:
        return JOINT_SETS[set_name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown joint set {set_name!r}; available: {', '.join(JOINT_SETS)}"
        ) from None


def joint_names(set_name: str) -> list[str]:
    """(J,) joint names of a set, in its standard order."""
    return list(joint_set(set_name).names)


def parents(set_name: str) -> list[int]:
    """(J,) parent index of each joint of a set (-1 for its root)."""
    return list(joint_set(set_name).parents)


def flip_pairs(set_name: str) -> list[tuple[int, int]]:
    """(left, right) joint index pairs of a set, for horizontal-flip augmentation."""
    return list(joint_set(set_name).flip_pairs)


def skeleton_edges(set_name: str) -> list[tuple[int, int]]:
    """(E,) joint index pairs to draw as limbs (COCO: its 19-edge skeleton; others: the tree)."""
    return list(joint_set(set_name).edges)


_NUM_BONES = len(ANNY_CMU_MB)


def _coco_vertex_weights(body: AnnyBody) -> tuple[list[str], torch.Tensor]:
    """anny's shipped COCO keypoint labels and (23, V) vertex weights for this body's mesh.

    anny stores the weights over its base mesh (sums 1 within 1.3e-7); they are renormalised to
    sum exactly 1, so that the keypoints move with the body under any affine map.
    """
    from anny.keypoints import KeypointsRegressor

    regressor = KeypointsRegressor.coco(body.model)
    weights = regressor.regression_weights.detach().to("cpu", torch.float64)
    return list(regressor.labels), weights / weights.sum(dim=1, keepdim=True)


def joint_regressor(set_name: str, body: AnnyBody | None = None) -> torch.Tensor:
    """The fixed linear map of a joint set, as a dense (J, 62 + V) float64 matrix.

    Columns: the 31 bone heads (``ANNY_CMU_MB`` order), the 31 bone tails, then the V mesh
    vertices (V = 0 for sets that use no vertex, ``body.num_vertices`` otherwise). Each row sums
    to 1, so ``W @ cat([heads, tails, vertices])`` is an affine combination.

    Args:
        set_name: a key of :data:`JOINT_SETS`.
        body: the :class:`~posebook.body.models.AnnyBody`; needed by sets built on vertices
            (``coco17``), ignored otherwise.

    Returns:
        (J, 62 + V) float64 tensor on the CPU.

    Raises:
        ValueError: unknown set, a vertex set without ``body``, or a body whose bones are not
            the ``cmu_mb`` rig.
    """
    spec = joint_set(set_name)
    if body is not None and tuple(body.joint_names) != ANNY_CMU_MB:
        raise ValueError(
            f"joint sets are defined on anny's 'cmu_mb' rig; this body has bones "
            f"{body.joint_names[:4]}... (rig {getattr(body, 'rig', '?')!r}). "
            "Use AnnyBody(rig='cmu_mb')."
        )
    num_vertices = 0
    labels: list[str] = []
    vertex_weights = None
    if spec.needs_vertices:
        if body is None:
            raise ValueError(
                f"joint set {set_name!r} is regressed from anny's mesh vertices: pass body= (the "
                "AnnyBody that produced the vertices)."
            )
        labels, vertex_weights = _coco_vertex_weights(body)
        num_vertices = vertex_weights.shape[1]
    W = torch.zeros(spec.num_joints, 2 * _NUM_BONES + num_vertices, dtype=torch.float64)
    for j, terms in enumerate(spec.points):
        for point, weight in terms:
            kind, name = point.split(":")
            if kind == "coco":
                W[j, 2 * _NUM_BONES :] += weight * vertex_weights[labels.index(name)]
            else:
                column = ANNY_CMU_MB.index(name) + (_NUM_BONES if kind == "tail" else 0)
                W[j, column] += weight
    return W


_CACHE: dict[str, torch.Tensor] = {}
_BODY_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cached_regressor(set_name: str, body: AnnyBody | None) -> torch.Tensor:
    if not joint_set(set_name).needs_vertices:
        if set_name not in _CACHE:
            _CACHE[set_name] = joint_regressor(set_name)
        return _CACHE[set_name]
    if body is None:
        return joint_regressor(set_name, body)  # raises the explanatory error
    per_body = _BODY_CACHE.setdefault(body, {})
    if set_name not in per_body:
        per_body[set_name] = joint_regressor(set_name, body)
    return per_body[set_name]


def convert_joints(
    joints: torch.Tensor,
    set_name: str,
    tails: torch.Tensor | None = None,
    vertices: torch.Tensor | None = None,
    body: AnnyBody | None = None,
) -> torch.Tensor:
    """Anny points -> a joint set, by the set's fixed linear map (:func:`joint_regressor`).

    Args:
        joints: (..., 31, 3) Anny bone heads (``BodyOutput.joints``), metres.
        set_name: a key of :data:`JOINT_SETS`.
        tails: (..., 31, 3) bone tails (``BodyOutput.bone_tails``); needed by cmu31, h36m17 and
            lsp14 (head top, toe and finger tips).
        vertices: (..., V, 3) mesh vertices (``BodyOutput.vertices``); needed by coco17.
        body: the AnnyBody of the vertices; needed by coco17.

    Returns:
        (..., J, 3) the set's joints, same frame, dtype and device as ``joints``.

    Raises:
        ValueError: unknown set, wrong shapes, or a needed input missing.
    """
    spec = joint_set(set_name)
    if joints.shape[-2:] != (_NUM_BONES, 3):
        raise ValueError(
            f"joints must be (..., {_NUM_BONES}, 3) Anny bone heads, got {tuple(joints.shape)}."
        )
    W = _cached_regressor(set_name, body)
    W = W.to(device=joints.device, dtype=joints.dtype)
    out = W[:, :_NUM_BONES] @ joints
    if spec.needs_tails:
        if tails is None or tails.shape != joints.shape:
            raise ValueError(
                f"joint set {set_name!r} uses bone tails (head top, toe/finger tips): pass "
                f"tails=BodyOutput.bone_tails with the shape of joints {tuple(joints.shape)}."
            )
        out = out + W[:, _NUM_BONES : 2 * _NUM_BONES] @ tails
    if spec.needs_vertices:
        V = W.shape[1] - 2 * _NUM_BONES
        if vertices is None or vertices.shape[-2:] != (V, 3):
            raise ValueError(
                f"joint set {set_name!r} is regressed from mesh vertices: pass "
                f"vertices=BodyOutput.vertices of shape (..., {V}, 3)."
            )
        out = out + W[:, 2 * _NUM_BONES :] @ vertices
    return out
