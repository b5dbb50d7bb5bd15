"""Low-resolution part-coloured renderings of a body mesh seen by a pinhole camera (image input).

The image input of the CLIFF, SGRE and PersPose models of this book: every pixel shows the body
part its camera ray hits first, optionally shaded so the parts read as 3D. The renderer is Intel
Embree ray casting (``embreex``, the binding behind ``trimesh.ray.ray_pyembree``), headless on
the CPU: one ray per pixel, no anti-aliasing, hence deterministic and exactly aligned with
``camera.project``. Each mesh needs its own BVH; building it (embreex copies the vertex and index
buffers element by element, then Embree builds) costs more than casting the rays at these sizes.

Conventions:

- Vertices are given in the CAMERA frame (OpenCV: x right, y down, z forward), metres. A body
  model's output (y up, x left, z front) must first be moved there, ``x_cam = R x + t``; with
  ``R = diag(1, -1, -1)`` and ``t = (0, 0, d)`` the camera looks at the subject's front from d m.
- Pixel centres follow ``posebook.geometry.camera``: pixel (row i, column j) is the unit square
  [j, j + 1) x [i, i + 1) of the continuous (u, v) coordinates and its ray goes through its
  centre (u, v) = (j + 0.5, i + 0.5). A point X with (u, v) = ``camera.project(X, K)`` is
  therefore drawn on pixel (floor(v), floor(u)). (OpenCV's integer-centre convention puts that
  centre at (j, i); its principal point is ours minus 0.5.)
- A crop is a camera: rendering with ``K_crop = camera.crop_intrinsics(K, ...)`` at the crop's
  resolution IS the crop, with no resampling. For an integer-aligned bbox of scale 1 it equals the
  cut of the full-frame render pixel for pixel; for other scales it is the ideal (alias-free at
  pixel centres) resized crop, and parts of the crop outside the original frame show the scene,
  not padding.
- ``depth`` is the z-depth (camera-frame Z of the first surface hit, what ``camera.unproject``
  takes), not the distance along the ray; ``inf`` where the ray hits nothing. Only surfaces in
  front of the camera (Z > 0) are seen.
- Labels: a vertex's part is the bone with the largest skinning weight, optionally merged into
  the 15 parts of ``PART_NAMES``; a face takes the majority label of its 3 vertices (its first
  vertex's when all three differ). ``-1`` marks background in label maps.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "PART_NAMES",
    "PART_COLORS",
    "CMU_PARTS",
    "SMPL_PARTS",
    "default_part_groups",
    "part_labels",
    "face_part_labels",
    "render_parts",
    "PartRenderer",
]

PART_NAMES: tuple[str, ...] = (
    "head", "torso", "pelvis",
    "left_upper_arm", "left_forearm", "left_hand",
    "right_upper_arm", "right_forearm", "right_hand",
    "left_thigh", "left_shin", "left_foot",
    "right_thigh", "right_shin", "right_foot",
)  # fmt: skip

# Side is coded blue/cyan (left) vs orange/red (right), the hue contrast that survives protan and
# deutan colour blindness; along a limb lightness rises from the proximal to the distal segment.
# Checked with Machado et al. (2009) severity-1 simulations (tests/test_render.py): left/right
# twins and touching parts stay >= 10 CIELAB units apart for deutan and protan vision.
PART_COLORS: torch.Tensor = torch.tensor(
    [
        [0xF2, 0xF2, 0xF2], [0x8C, 0x8C, 0x8C], [0xC0, 0x60, 0xA0],  # head, torso, pelvis
        [0x20, 0x60, 0xB0], [0x4A, 0x98, 0xE0], [0xA6, 0xD4, 0xF5],  # left arm
        [0xB8, 0x4A, 0x00], [0xF5, 0x86, 0x1F], [0xFF, 0xD9, 0xA0],  # right arm
        [0x00, 0x6E, 0x6E], [0x22, 0xAA, 0xAA], [0x99, 0xE6, 0xE6],  # left leg
        [0xA0, 0x18, 0x30], [0xE8, 0x50, 0x60], [0xFF, 0xB0, 0xB8],  # right leg
    ],
    dtype=torch.uint8,
)

# Bone -> part. A skinning bone covers the segment from its joint to its child, so CMU's
# LeftUpLeg and SMPL's left_hip are the thigh.
CMU_PARTS: dict[str, str] = {
    "Hips": "pelvis", "LHipJoint": "pelvis", "RHipJoint": "pelvis", "LowerBack": "pelvis",
    "Spine": "torso", "Spine1": "torso", "LeftShoulder": "torso", "RightShoulder": "torso",
    "Neck": "head", "Neck1": "head", "Head": "head",
    "LeftArm": "left_upper_arm", "LeftForeArm": "left_forearm", "LeftHand": "left_hand",
    "LThumb": "left_hand", "LeftFingerBase": "left_hand", "LeftHandFinger1": "left_hand",
    "LeftHandIndex1": "left_hand",
    "RightArm": "right_upper_arm", "RightForeArm": "right_forearm", "RightHand": "right_hand",
    "RThumb": "right_hand", "RightFingerBase": "right_hand", "RightHandFinger1": "right_hand",
    "RightHandIndex1": "right_hand",
    "LeftUpLeg": "left_thigh", "LeftLeg": "left_shin", "LeftFoot": "left_foot",
    "LeftToeBase": "left_foot",
    "RightUpLeg": "right_thigh", "RightLeg": "right_shin", "RightFoot": "right_foot",
    "RightToeBase": "right_foot",
}  # fmt: skip

SMPL_PARTS: dict[str, str] = {
    "pelvis": "pelvis", "spine1": "torso", "spine2": "torso", "spine3": "torso",
    "left_collar": "torso", "right_collar": "torso", "neck": "head", "head": "head",
    "left_shoulder": "left_upper_arm", "left_elbow": "left_forearm", "left_wrist": "left_hand",
    "left_hand": "left_hand",
    "right_shoulder": "right_upper_arm", "right_elbow": "right_forearm",
    "right_wrist": "right_hand", "right_hand": "right_hand",
    "left_hip": "left_thigh", "left_knee": "left_shin", "left_ankle": "left_foot",
    "left_foot": "left_foot",
    "right_hip": "right_thigh", "right_knee": "right_shin", "right_ankle": "right_foot",
    "right_foot": "right_foot",
}  # fmt: skip

_AMBIENT = 0.5  # shaded intensity = ambient + (1 - ambient) |cos(normal, ray)|


def default_part_groups(joint_names: Sequence[str]) -> dict[str, list[int]]:
    """The 15 ``PART_NAMES`` as joint-index lists, for a CMU-31 (Anny ``cmu_mb``) or SMPL-24 rig.

    Args:
        joint_names: (J,) the body model's joint (bone) names.
    Returns:
        ``{part name: [joint indices]}`` in ``PART_NAMES`` order (``part_labels`` numbers the
        parts in this order, so label p is coloured ``PART_COLORS[p]``).
    Raises:
        ValueError: if the names are not all from one of the two rigs.
    """
    for table in (CMU_PARTS, SMPL_PARTS):
        if all(name in table for name in joint_names):
            groups: dict[str, list[int]] = {part: [] for part in PART_NAMES}
            for j, name in enumerate(joint_names):
                groups[table[name]].append(j)
            return groups
    unknown = sorted(set(joint_names) - set(CMU_PARTS))
    raise ValueError(
        f"no default part grouping for joints {unknown[:8]}{'...' if len(unknown) > 8 else ''}: "
        "the defaults cover the CMU-31 (Anny cmu_mb) and SMPL-24 rigs; pass groups={part: "
        "[joint indices]} explicitly (and a palette with one colour per group)."
    )


def part_labels(
    skinning_weights: torch.Tensor, groups: Mapping[str, Sequence[int]] | None = None
) -> torch.Tensor:
    """Part label of every vertex: its largest skinning weight's bone, optionally merged into parts.

    Args:
        skinning_weights: (V, J) linear-blend-skinning weights.
        groups: ``{part name: [joint indices]}`` covering every joint exactly once; part p is the
            p-th key. None: one part per joint (label = joint index).
    Returns:
        (V,) int64 labels in [0, P) (P = len(groups), or J).
    Raises:
        ValueError: if the weights are not (V, J) or the groups do not partition the J joints.
    """
    if skinning_weights.ndim != 2:
        raise ValueError(f"skinning_weights must be (V, J), got {tuple(skinning_weights.shape)}")
    bone = skinning_weights.argmax(dim=1)
    if groups is None:
        return bone
    num_joints = skinning_weights.shape[1]
    lut = torch.full((num_joints,), -1, dtype=torch.long)
    for p, joints in enumerate(groups.values()):
        for j in joints:
            if not 0 <= int(j) < num_joints:
                raise ValueError(f"groups name joint {j}, outside [0, {num_joints})")
            if lut[j] >= 0:
                raise ValueError(f"joint {j} is in two groups; each joint must be in exactly one")
            lut[j] = p
    missing = torch.nonzero(lut < 0).flatten().tolist()
    if missing:
        raise ValueError(f"joints {missing} are in no group; each joint must be in exactly one")
    return lut.to(bone.device)[bone]


def face_part_labels(vertex_labels: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Face labels: the majority label of the face's 3 vertices, its first vertex's if all differ.

    Args:
        vertex_labels: (V,) integer labels (``part_labels``).
        faces: (F, 3) vertex indices.
    Returns:
        (F,) labels, dtype of ``vertex_labels``.
    """
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {tuple(faces.shape)}")
    a, b, c = vertex_labels[faces.long()].unbind(dim=1)
    # Majority is a when a equals b or c, b when b == c; all different -> a.
    return torch.where((b == c) & (a != b), b, a)


def _check_inputs(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    face_labels: torch.Tensor,
    K: torch.Tensor,
    image_size: Sequence[int],
    palette: torch.Tensor,
) -> tuple[torch.Tensor, int, int]:
    if vertices.ndim != 3 or vertices.shape[2] != 3:
        raise ValueError(
            f"vertices must be (B, V, 3) camera-frame points, got {tuple(vertices.shape)}"
        )
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {tuple(faces.shape)}")
    if face_labels.shape != (faces.shape[0],):
        raise ValueError(
            f"face_labels must be ({faces.shape[0]},) (one per face; see face_part_labels), "
            f"got {tuple(face_labels.shape)}"
        )
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= vertices.shape[1]):
        raise ValueError(f"faces index vertices outside [0, {vertices.shape[1]})")
    if palette.ndim != 2 or palette.shape[1] != 3:
        raise ValueError(f"palette must be (P, 3) uint8 RGB, got {tuple(palette.shape)}")
    if face_labels.numel() and (
        int(face_labels.min()) < 0 or int(face_labels.max()) >= palette.shape[0]
    ):
        raise ValueError(
            f"face labels span [{int(face_labels.min())}, {int(face_labels.max())}] but the "
            f"palette has {palette.shape[0]} colours; pass palette= with one colour per label."
        )
    if not bool(torch.isfinite(vertices).all()):
        raise ValueError("vertices contain NaN or inf")
    if len(image_size) != 2 or int(image_size[0]) < 1 or int(image_size[1]) < 1:
        raise ValueError(f"image_size must be (W, H) positive ints, got {image_size!r}")
    if K.shape == (3, 3):
        K = K.expand(vertices.shape[0], 3, 3)
    if K.shape != (vertices.shape[0], 3, 3):
        raise ValueError(f"K must be (3, 3) or (B, 3, 3) with B = {vertices.shape[0]}, got "
                         f"{tuple(K.shape)}")
    bottom = K[:, 2].new_tensor([0.0, 0.0, 1.0])
    if not (bool((K[:, 2] == bottom).all()) and bool((K[:, 1, 0] == 0).all())):
        raise ValueError(
            "K must be an upper-triangular pinhole matrix with last row (0, 0, 1); "
            "divide K by K[2, 2] first."
        )
    return K, int(image_size[0]), int(image_size[1])


def _ray_directions(K: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H * W, 3) directions (x, y, 1) with K (x, y, 1)^T = (u, v, 1)^T at the pixel centres.

    Written out (not K^-1 @ uv) so that cameras differing by an integer pixel shift give
    bit-identical rays: u - c_u is exact for half-integer u and integer-shifted c_u.
    """
    u = np.arange(width, dtype=np.float64) + 0.5
    v = np.arange(height, dtype=np.float64) + 0.5
    y = (v - K[1, 2]) / K[1, 1]
    x = (u[None, :] - K[0, 2] - K[0, 1] * y[:, None]) / K[0, 0]
    return np.stack(np.broadcast_arrays(x, y[:, None], np.ones_like(x)), axis=-1).reshape(-1, 3)


@functools.lru_cache(maxsize=1)
def _embree_device() -> Any:
    from embreex import rtcore  # deferred: only the renderer needs Embree

    return rtcore.EmbreeDevice()


def _first_hits(vertices: np.ndarray, faces: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """(N,) index of the first face hit by each ray from the camera centre, -1 for none.

    Embree through embreex directly, as ``trimesh.ray.ray_pyembree.RayMeshIntersector.
    intersects_first`` does, minus its per-call device creation, mesh hashing and ray
    normalisation (~20% of a render). ``faces``: (F, 3) int32; ``directions``: (N, 3) float32.
    """
    if faces.shape[0] == 0:
        return np.full(directions.shape[0], -1, dtype=np.int64)
    from embreex import rtcore_scene
    from embreex.mesh_construction import TriangleMesh

    scene = rtcore_scene.EmbreeScene(_embree_device())
    TriangleMesh(scene, np.ascontiguousarray(vertices, dtype=np.float32), faces)
    return scene.run(np.zeros_like(directions), directions).astype(np.int64)


def render_parts(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    face_labels: torch.Tensor,
    K: torch.Tensor,
    image_size: Sequence[int],
    *,
    palette: torch.Tensor | None = None,
    background: Sequence[int] = (0, 0, 0),
    shading: bool = True,
    return_depth: bool = False,
    return_mask: bool = False,
    return_labels: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Render part-coloured images of B meshes by casting one ray per pixel centre (Embree).

    Pixel (i, j)'s ray goes through (u, v) = (j + 0.5, i + 0.5) (``camera``'s convention: the
    point ``camera.project`` sends to (u, v) is drawn on pixel (floor(v), floor(u))). Its colour
    is ``palette[label of the first face hit]``, times ``0.5 + 0.5 |cos|`` of the angle between
    the face normal and the ray when ``shading``; ``background`` where nothing is hit.

    Args:
        vertices: (B, V, 3) camera-frame vertices (OpenCV axes), metres.
        faces: (F, 3) vertex indices.
        face_labels: (F,) part label of each face (``face_part_labels``), in [0, P).
        K: (B, 3, 3) or (3, 3) intrinsics (pixels, ``camera`` convention; ``camera.
            crop_intrinsics`` gives a crop's).
        image_size: (W, H) in pixels.
        palette: (P, 3) uint8 RGB colour of each label; default ``PART_COLORS``.
        background: RGB of pixels that hit nothing.
        shading: Lambertian-like headlight shading from the face normals.
        return_depth, return_mask, return_labels: also return these maps.
    Returns:
        images (B, H, W, 3) uint8, followed, in this order and only when asked for, by
        depth (B, H, W) float32 z-depth in metres (inf on background), mask (B, H, W) bool (ray
        hit the mesh) and labels (B, H, W) int64 (face label, -1 on background); all on
        ``vertices.device``. A single tensor when no extra map is asked for.
    Raises:
        ValueError: on malformed shapes, out-of-range indices/labels, non-finite vertices or a
            K that is not an upper-triangular pinhole matrix.
    """
    palette = PART_COLORS if palette is None else palette
    K, width, height = _check_inputs(vertices, faces, face_labels, K, image_size, palette)
    batch = vertices.shape[0]
    verts = vertices.detach().to("cpu", torch.float64).numpy()
    faces_np = faces.detach().to("cpu", torch.int64).numpy()
    faces32 = np.ascontiguousarray(faces_np, dtype=np.int32)
    labels_np = face_labels.detach().to("cpu", torch.int64).numpy()
    K_np = K.detach().to("cpu", torch.float64).numpy()
    colors = palette.detach().to("cpu", torch.float64).numpy()

    images = np.empty((batch, height * width, 3), dtype=np.uint8)
    images[...] = np.asarray(background, dtype=np.uint8)
    depth = np.full((batch, height * width), np.inf, dtype=np.float32)
    label_map = np.full((batch, height * width), -1, dtype=np.int64)
    for b in range(batch):
        directions = _ray_directions(K_np[b], width, height)
        tri = _first_hits(verts[b], faces32, directions.astype(np.float32))
        hit = np.flatnonzero(tri >= 0)
        if hit.size == 0:
            continue
        tri = tri[hit]
        d = directions[hit]
        corners = verts[b][faces_np[tri]]  # (N, 3, 3)
        normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        n_dot_d = np.einsum("nk,nk->n", normals, d)
        with np.errstate(divide="ignore", invalid="ignore"):
            # Ray x = t d with d_z = 1, so the plane parameter t is the z-depth.
            z = np.einsum("nk,nk->n", normals, corners[:, 0]) / n_dot_d
            cos = np.abs(n_dot_d) / (
                np.linalg.norm(normals, axis=1) * np.linalg.norm(d, axis=1)
            )
        # Embree's float32 test can report a grazing hit whose float64 plane solve is singular.
        grazing = ~np.isfinite(z)
        z[grazing] = corners[grazing, :, 2].mean(axis=1)
        rgb = colors[labels_np[tri]]
        if shading:
            rgb = rgb * (_AMBIENT + (1.0 - _AMBIENT) * np.nan_to_num(cos)[:, None])
        images[b, hit] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        depth[b, hit] = z
        label_map[b, hit] = labels_np[tri]

    device = vertices.device
    shape = (batch, height, width)
    out = [torch.from_numpy(images.reshape(*shape, 3)).to(device)]
    if return_depth:
        out.append(torch.from_numpy(depth.reshape(shape)).to(device))
    if return_mask:
        out.append(torch.from_numpy(label_map.reshape(shape) >= 0).to(device))
    if return_labels:
        out.append(torch.from_numpy(label_map.reshape(shape)).to(device))
    return out[0] if len(out) == 1 else tuple(out)


class PartRenderer:
    """``render_parts`` with the faces, face labels and palette of one body model cached.

    Args:
        faces: (F, 3) vertex indices.
        face_labels: (F,) part label per face.
        palette: (P, 3) uint8 colours; default ``PART_COLORS``.
        background, shading: as in ``render_parts``.
    """

    def __init__(
        self,
        faces: torch.Tensor,
        face_labels: torch.Tensor,
        *,
        palette: torch.Tensor | None = None,
        background: Sequence[int] = (0, 0, 0),
        shading: bool = True,
    ) -> None:
        self.faces = faces.detach().to("cpu", torch.long)
        self.face_labels = face_labels.detach().to("cpu", torch.long)
        self.palette = PART_COLORS if palette is None else palette.detach().cpu()
        self.background = tuple(int(c) for c in background)
        self.shading = shading

    @classmethod
    def from_body(
        cls,
        body: Any,
        groups: Mapping[str, Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> PartRenderer:
        """Renderer for a ``BodyModel`` (``faces``, ``skinning_weights``, ``joint_names``).

        Args:
            body: the body model.
            groups: part grouping for ``part_labels``; None: ``default_part_groups(body.
                joint_names)`` (the 15 ``PART_NAMES``, coloured by ``PART_COLORS``).
            **kwargs: ``palette``, ``background``, ``shading``.
        """
        if groups is None:
            groups = default_part_groups(body.joint_names)
        labels = part_labels(body.skinning_weights.detach().cpu(), groups)
        return cls(body.faces, face_part_labels(labels, body.faces.cpu()), **kwargs)

    def __call__(
        self,
        vertices: torch.Tensor,
        K: torch.Tensor,
        image_size: Sequence[int],
        **kwargs: Any,
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """``render_parts(vertices, faces, face_labels, K, image_size, ...)``; ``kwargs``: the
        ``return_*`` flags (and ``shading`` to override the default)."""
        kwargs.setdefault("shading", self.shading)
        return render_parts(
            vertices, self.faces, self.face_labels, K, image_size,
            palette=self.palette, background=self.background, **kwargs,
        )  # fmt: skip
