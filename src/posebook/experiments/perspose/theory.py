"""PersPose's geometry checked on rendered bodies: the depth ambiguities of cropped images (Fig. 2)
and of an unknown field of view (Fig. 3), the crop intrinsics with the Eq. 3 erratum (Eq. 3-4), the
PE map (Eq. 7-9, Fig. 5), perspective rotation end to end (Eq. 12-17, Fig. 6, with the lifting of
Eq. 5-6) and the distribution of the PR angle (Fig. 7).

Bodies are posed Anny meshes of the synthetic world (:mod:`posebook.data.world`; CMU motion when
available, else procedural poses), drawn by the rasteriser of :mod:`posebook.data.raster` from
pinhole cameras with exact intrinsics. A crop is rendered directly with its crop camera ``K_crop``
(a crop IS a camera, no resampling); perspective-rotated crops are warped from rendered full frames
by :func:`posebook.data.perspective_crops.rotated_crops`, so they can be compared with the direct
render of the rotated body. The notebook ``notebooks/perspose/theory.md`` shows the tables and
draws the figures with the functions below.

Conventions (:mod:`posebook.geometry.camera`): camera frame x right, y down, z forward; continuous
pixels; ``image_size = (W, H)``; square bboxes (centre (2,), side b in pixels). Relative depths are
z_i - z_pelvis (the H36M-17 ``Hip`` joint, Anny's root), metres in code, mm in the tables.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import roma
import torch

from posebook import viz
from posebook.body import joints as joint_sets
from posebook.body.models import AnnyBody, shared_anny_body
from posebook.body.skeletons import H36M17_NAMES, H36M17_PARENTS
from posebook.data.perspective_crops import rotate_labels, rotated_crops
from posebook.data.raster import PartRasterizer, rasterize_parts
from posebook.data.world import World, WorldConfig, build_world, world_data_source
from posebook.experiments.registry import ExperimentResult, experiment
from posebook.geometry import camera
from posebook.models.perspose import lift, rotate_back
from posebook.parameters import at_least, between, positive
from posebook.runs import RunContext, scaled_presets

__all__ = [
    "POSE_SIZES",
    "CHECK_SIZES",
    "PR_SIZES",
    "PHI_SIZES",
    "SPREAD_LABELS",
    "BBOX_SCALE",
    "Pose",
    "pick_pose",
    "Subject",
    "AmbiguityScene",
    "ambiguity_scene",
    "FovScene",
    "fov_scene",
    "CropScaleExample",
    "crop_scale_example",
    "pe_sensors",
    "PrScene",
    "pr_scene",
    "pr_example",
    "PerspectiveExplorer",
    "draw_ambiguity",
    "draw_fov_pair",
    "draw_crop_scale",
    "draw_pe_maps",
    "draw_pr_exactness",
    "draw_phi_distribution",
    "depth_ambiguity",
    "fov_pair",
    "crop_scale_check",
    "pe_encoding",
    "pr_exactness",
    "phi_distribution",
]

#: Candidate world samples the pose of Figs. 2-3 is picked from (the upright one reaching furthest in depth).
POSE_SIZES = scaled_presets({"candidates": 16})
#: World samples of the Eq. 3-4 check (keypoints only), scaled by the profile.
CHECK_SIZES = scaled_presets({"samples": 64}, ("samples",))
#: Rendered full frames of the PR check (Fig. 6), scaled by the profile.
PR_SIZES = scaled_presets({"samples": 12}, ("samples",))
#: World samples per placement spread of the phi distribution (Fig. 7), scaled by the profile.
PHI_SIZES = scaled_presets({"samples": 384}, ("samples",))

#: The world's bbox rule: 1.2 x the extent of the projected body.
BBOX_SCALE = 1.2

#: What each placement spread of ``perspose.phi_distribution`` stands for (Fig. 7's datasets).
SPREAD_LABELS = {0.2: "narrow (like 3DPW, Human3.6M)", 0.8: "wide (like MPI-INF-3DHP)"}

_PELVIS = 0
_RWRIST = H36M17_NAMES.index("RWrist")
_BONES = [(p, j) for j, p in enumerate(H36M17_PARENTS) if p >= 0]
_F64 = torch.float64


# --------------------------------------------------------------------------------- small helpers


def _source(ctx: RunContext) -> tuple[str, str | None]:
    return ("cmu", str(ctx.cmu_dir)) if ctx.cmu_dir else ("procedural", None)


def _world(ctx: RunContext, size: int, body: AnnyBody | None = None, **config: Any) -> World:
    """``size`` posed world bodies (no renders), built or loaded from the default cache."""
    source, cmu_dir = _source(ctx)
    config.setdefault("joint_sets", ("h36m17",))
    cfg = WorldConfig(size=int(size), seed=ctx.seed, source=source, cmu_dir=cmu_dir, render=False, **config)
    return build_world(cfg, device=ctx.device, progress=False, body=body or shared_anny_body(str(ctx.device)))


@functools.lru_cache(maxsize=2)
def _rasterizer(body: AnnyBody) -> PartRasterizer:
    return PartRasterizer.from_body(body)


def _K(fov_deg: float, image_size: Sequence[int], principal_point: Sequence[float] | None = None) -> torch.Tensor:
    """(3, 3) float64 intrinsics of horizontal FOV ``fov_deg``; principal point at the image centre by default."""
    W, H = (int(v) for v in image_size)
    f = camera.focal_from_fov(math.radians(fov_deg), float(W))
    pp = (W / 2.0, H / 2.0) if principal_point is None else principal_point
    return camera.intrinsics(f.to(_F64), torch.tensor([float(v) for v in pp], dtype=_F64))


def _pose_body(body: AnnyBody, rotations: torch.Tensor, shape: torch.Tensor,
               root: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-frame vertices (B, V, 3) and H36M-17 joints (B, 17, 3) of posed bodies, float64 on the CPU."""
    like = body.axes
    with torch.no_grad():
        out = body(rotations.to(like), shape.to(like), root.to(like))
        joints = joint_sets.convert_joints(out.joints, "h36m17", tails=out.bone_tails, vertices=out.vertices,
                                           body=body)
    return out.vertices.detach().to("cpu", _F64), joints.detach().to("cpu", _F64)


def _render(body: AnnyBody, vertices: torch.Tensor, K: torch.Tensor, size: Sequence[int]
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, H, W, 3) uint8 images and (B, H, W) part labels of (B, V, 3) meshes."""
    K = K.expand(vertices.shape[0], 3, 3) if K.dim() == 2 else K
    return _rasterizer(body)(vertices, K, tuple(int(v) for v in size), return_labels=True)


def _render_together(body: AnnyBody, meshes: Sequence[torch.Tensor], K: torch.Tensor,
                     image_size: Sequence[int]) -> torch.Tensor:
    """(H, W, 3) one frame holding every mesh (V, 3) of ``meshes`` (one mesh, faces offset per body)."""
    r = _rasterizer(body)
    V = meshes[0].shape[0]
    faces = torch.cat([r.faces + k * V for k in range(len(meshes))])
    labels = r.face_labels.repeat(len(meshes))
    return rasterize_parts(torch.cat(list(meshes))[None], faces, labels, K[None], tuple(image_size),
                           palette=r.palette, background=r.background)[0]


def _bbox_around(uv: torch.Tensor, center: torch.Tensor, scale: float = BBOX_SCALE) -> torch.Tensor:
    """The side of the square bbox centred on ``center`` (2,) that holds ``uv`` (N, 2) with margin ``scale``."""
    return scale * 2.0 * (uv - center).abs().amax()


def _label_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of the body pixels (either label map >= 0) whose part label differs."""
    body = (a >= 0) | (b >= 0)
    return float(((a != b) & body).sum()) / max(int(body.sum()), 1)


def _rgb_difference(a: torch.Tensor, b: torch.Tensor, threshold: int = 48) -> tuple[float, float, float]:
    """Two uint8 images: the fraction of the foreground pixels (non-black in either) whose largest
    channel difference exceeds ``threshold``, the mean and the max absolute difference (0-255)."""
    diff = (a.to(torch.int16) - b.to(torch.int16)).abs().amax(-1)
    fg = (a.amax(-1) > 0) | (b.amax(-1) > 0)
    return (float(((diff > threshold) & fg).sum()) / max(int(fg.sum()), 1), float(diff.double().mean()),
            float(diff.max()))


def _mask_iou(a: torch.Tensor, b: torch.Tensor) -> float:
    """IoU of the foreground (non-black) of two uint8 images."""
    ma, mb = a.amax(-1) > 0, b.amax(-1) > 0
    return float((ma & mb).sum()) / max(int((ma | mb).sum()), 1)


def _angle_deg(R: torch.Tensor) -> torch.Tensor:
    return torch.rad2deg(roma.rotmat_to_rotvec(R).norm(dim=-1))


def _bone_lengths(joints: torch.Tensor) -> torch.Tensor:
    return torch.stack([(joints[..., j, :] - joints[..., p, :]).norm(dim=-1) for p, j in _BONES], dim=-1)


def _png(fig: plt.Figure, dpi: int = 72) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------- the pose


@dataclass
class Pose:
    """One world body, to be placed anywhere: its relative rotations, shape and provenance.

    Attributes:
        rotations: (31, 3, 3) float64 AnnyBody rotations; ``[0]`` the orientation in the camera
            frame of a level camera (no pitch, no roll).
        shape: (6,) Anny phenotypes.
        sample: ``cmu:<clip>#<frame>`` or ``procedural:<family>``.
        data_source: the world's data source line.
        wrist_depth_m: the right wrist's depth relative to the pelvis, metres.
    """

    rotations: torch.Tensor
    shape: torch.Tensor
    sample: str
    data_source: str
    wrist_depth_m: float


def pick_pose(ctx: RunContext, candidates: int = 16, body: AnnyBody | None = None) -> Pose:
    """Among ``candidates`` world samples (level camera), the upright body (joints spanning more
    than 1.2 m vertically; all samples if none is) whose wrists reach furthest in depth from the
    pelvis: the relative depths of Figs. 2-3 are then large enough to see."""
    body = body or shared_anny_body(str(ctx.device))
    world = _world(ctx, candidates, body, pitch_deg=0.0, roll_deg=0.0, placement_spread=0.0)
    joints = world.joints3d["h36m17"].double() - world.root.double()[:, None]
    upright = (joints[..., 1].amax(-1) - joints[..., 1].amin(-1)) > 1.2
    reach = joints[:, [_RWRIST, H36M17_NAMES.index("LWrist")], 2].abs().amax(-1)
    reach = torch.where(upright, reach, reach - 10.0) if bool(upright.any()) else reach
    i = int(reach.argmax())
    return Pose(world.rotations[i].double().clone(), world.shape[i].double().clone(),
                str(world.meta["source"].iloc[i]), world_data_source(world), float(joints[i, _RWRIST, 2]))


# ----------------------------------------------------------------------------------- Fig. 2


@dataclass
class Subject:
    """One placed body of a scene, with its plain and its perspective-rotated crop.

    Shapes: vertices (V, 3), joints (17, 3) camera frame, metres; bbox_center (2,), bbox_size ()
    pixels; K_crop (3, 3) the plain crop's intrinsics; crop (S, S, 3) uint8 and labels (S, S) the
    plain crop rendered with K_crop; R_pr (3, 3) the PR rotation of its bbox centre; K_crop_pr
    (3, 3); pr_crop (S, S, 3) the PR crop warped from the full frame
    (:func:`~posebook.data.perspective_crops.rotated_crops`) and pr_render (S, S, 3), pr_labels
    (S, S) the rotated body rendered directly with K_crop_pr.
    """

    name: str
    description: str
    vertices: torch.Tensor
    joints: torch.Tensor
    bbox_center: torch.Tensor
    bbox_size: torch.Tensor
    K_crop: torch.Tensor
    crop: torch.Tensor
    labels: torch.Tensor
    phi_deg: float = math.nan
    R_pr: torch.Tensor | None = None
    K_crop_pr: torch.Tensor | None = None
    pr_crop: torch.Tensor | None = None
    pr_render: torch.Tensor | None = None
    pr_labels: torch.Tensor | None = None

    @property
    def relative_depths(self) -> torch.Tensor:
        """(17,) z_i - z_pelvis, metres."""
        return self.joints[:, 2] - self.joints[_PELVIS, 2]

    @property
    def uv_crop(self) -> torch.Tensor:
        """(17, 2) the joints in the plain crop."""
        return camera.project(self.joints, self.K_crop)

    @property
    def uv_crop_pr(self) -> torch.Tensor:
        """(17, 2) the rotated joints in the PR crop."""
        return camera.project(rotate_labels(self.joints, self.R_pr, check=False), self.K_crop_pr)


def _subject(name: str, description: str, vertices: torch.Tensor, joints: torch.Tensor, K: torch.Tensor,
             crop_size: int, body: AnnyBody, bbox_size: torch.Tensor | None = None) -> Subject:
    """A body whose square bbox is centred on its pelvis' pixel (so the PR of that centre maps a body
    turned with its ray exactly onto the centred one), with its plain crop rendered."""
    center = camera.project(joints[None, _PELVIS], K)[0]
    size = _bbox_around(camera.project(vertices, K), center) if bbox_size is None else bbox_size
    K_crop = camera.crop_intrinsics(K, center, size, crop_size)
    crop, labels = _render(body, vertices[None], K_crop, (crop_size, crop_size))
    return Subject(name, description, vertices, joints, center, size, K_crop, crop[0], labels[0])


def _add_pr(subjects: Sequence[Subject], frames: Sequence[torch.Tensor], K: torch.Tensor, crop_size: int,
            body: AnnyBody) -> None:
    """Fill each subject's PR fields: the crop warped from its frame and the direct render.

    The bbox of the rotated view is drawn by the plain crop's rule around the rotated body (centred
    on the principal point, where PR puts the pelvis), so a body turned with its ray gets exactly
    the centred body's crop; ``rotated_crops`` keeps the side it is given."""
    n = len(subjects)
    centers = torch.stack([s.bbox_center for s in subjects])
    R = camera.perspective_rotation(K.expand(n, 3, 3), centers)
    sizes = torch.stack([_bbox_around(camera.project(rotate_labels(s.vertices, R[k], check=False), K), K[:2, 2])
                         for k, s in enumerate(subjects)])
    rc = rotated_crops(torch.stack(list(frames)), K.expand(n, 3, 3), centers, sizes, crop_size)
    rotated = rotate_labels(torch.stack([s.vertices for s in subjects]), rc.R, check=False)
    render, labels = _render(body, rotated, rc.K_crop, (crop_size, crop_size))
    for k, s in enumerate(subjects):
        s.phi_deg, s.R_pr, s.K_crop_pr = float(rc.phi_deg[k]), rc.R[k], rc.K_crop[k]
        s.pr_crop, s.pr_render, s.pr_labels = rc.crops[k], render[k], labels[k]


@dataclass
class AmbiguityScene:
    """Fig. 2 rebuilt: subjects (a), (b), (c) in one frame, and (a*), (a) with its points moved along their rays.

    Attributes:
        image_size: (W, H); K: (3, 3).
        subjects: {"a", "a*", "b", "c"}: :class:`Subject`.
        full: (H, W, 3) the frame holding (a), (b), (c); full_star: the frame of (a*) alone.
        pose: the :class:`Pose`; depth: the pelvis' depth of (a), metres; offset: where (b) and (c)
            stand, half-widths from the image centre; depth_scale: the factor (a*)'s relative depths get.
    """

    image_size: tuple[int, int]
    K: torch.Tensor
    subjects: dict[str, Subject]
    full: torch.Tensor
    full_star: torch.Tensor
    pose: Pose
    depth: float
    offset: float
    depth_scale: float


def ambiguity_scene(body: AnnyBody, pose: Pose, image_size: Sequence[int] = (960, 540), fov_deg: float = 70.0,
                    depth: float = 5.0, offset: float = 0.6, depth_scale: float = 2.0,
                    crop_size: int = 128) -> AmbiguityScene:
    """Fig. 2's three subjects, plus one whose crop is identical to (a)'s by construction.

    (a): the pose with its pelvis on the optical axis at depth ``depth``. (b): (a) turned about the
    camera centre by R_ray(c), the rotation taking the optical axis onto the ray of the pixel c
    ``offset`` half-widths right of the centre: seen from its ray as (a) is from the axis, so its
    crop nearly equals (a)'s (an axis-aligned crop of an oblique view is stretched by about
    1 / cos phi), while its relative depths differ. (c): (a) translated sideways to ``offset``
    half-widths left of the centre: the same relative depths, a different crop. (a*): every point
    of (a) moved along its own camera ray to z' = z_pelvis + k (z - z_pelvis), k = ``depth_scale``:
    exactly (a)'s projection, k times its relative depths (and other bone lengths).
    """
    W, H = (int(v) for v in image_size)
    K = _K(fov_deg, (W, H))
    root = torch.tensor([[0.0, 0.0, float(depth)]], dtype=_F64)
    vertices, joints = _pose_body(body, pose.rotations[None], pose.shape[None], root)
    vertices, joints = vertices[0], joints[0]
    # the pelvis joint is Anny's root: put it exactly on the axis
    shift = root[0] - joints[_PELVIS]
    vertices, joints = vertices + shift, joints + shift
    a = _subject("a", "the pose, pelvis on the optical axis", vertices, joints, K, crop_size, body)

    c_b = torch.tensor([W / 2.0 * (1.0 + offset), H / 2.0], dtype=_F64)
    R_ray = camera.perspective_rotation(K, c_b).transpose(-1, -2)  # optical axis -> ray of c_b
    b = _subject("b", f"(a) turned with the ray of a pixel {offset:g} half-widths right", vertices @ R_ray.T,
                 joints @ R_ray.T, K, crop_size, body)

    dx = -offset * (W / 2.0) * float(depth) / float(K[0, 0])
    move = torch.tensor([dx, 0.0, 0.0], dtype=_F64)
    c = _subject("c", f"(a) translated {abs(dx):.2f} m sideways", vertices + move, joints + move, K, crop_size, body)

    def along_rays(points: torch.Tensor) -> torch.Tensor:
        z = points[:, 2:]
        return points * (float(depth) + depth_scale * (z - float(depth))) / z

    star = _subject("a*", f"(a) with every point moved along its ray: relative depths x {depth_scale:g}",
                    along_rays(vertices), along_rays(joints), K, crop_size, body, bbox_size=a.bbox_size)
    full = _render_together(body, [a.vertices, b.vertices, c.vertices], K, (W, H))
    full_star = _render_together(body, [star.vertices], K, (W, H))
    _add_pr([a, star, b, c], [full, full_star, full, full], K, crop_size, body)
    return AmbiguityScene((W, H), K, {"a": a, "a*": star, "b": b, "c": c}, full, full_star, pose, float(depth),
                          float(offset), float(depth_scale))


def _ambiguity_rows(scene: AmbiguityScene) -> list[dict[str, Any]]:
    a = scene.subjects["a"]
    bones_a = _bone_lengths(a.joints)
    rows = []
    for s in scene.subjects.values():
        crop_rgb = _rgb_difference(s.crop, a.crop)
        pr_rgb = _rgb_difference(s.pr_crop, a.crop)
        pr_depths = rotate_labels(s.joints, s.R_pr, check=False)[:, 2]
        pr_depths = pr_depths - pr_depths[_PELVIS]
        rows.append({
            "subject": s.name, "description": s.description,
            "bbox_u": float(s.bbox_center[0]), "bbox_v": float(s.bbox_center[1]), "bbox_px": float(s.bbox_size),
            "phi_deg": s.phi_deg,
            "f_crop_px": float(s.K_crop[0, 0]), "cx_crop_px": float(s.K_crop[0, 2]), "cy_crop_px": float(s.K_crop[1, 2]),
            "rwrist_depth_mm": 1000 * float(s.relative_depths[_RWRIST]),
            "depth_diff_mm": 1000 * float((s.relative_depths - a.relative_depths).abs().mean()),
            "bone_length_diff_mm": 1000 * float((_bone_lengths(s.joints) - bones_a).abs().mean()),
            "crop_keypoint_diff_px": float((s.uv_crop - a.uv_crop).norm(dim=-1).max()),
            "crop_labels_differing": _label_difference(s.labels, a.labels),
            "crop_rgb_differing": crop_rgb[0], "crop_rgb_max_diff": crop_rgb[2],
            "pr_depth_diff_mm": 1000 * float((pr_depths - a.relative_depths).abs().mean()),
            "pr_keypoint_diff_px": float((s.uv_crop_pr - a.uv_crop).norm(dim=-1).max()),
            "pr_render_labels_differing": _label_difference(s.pr_labels, a.labels),
            "pr_crop_rgb_differing": pr_rgb[0],
        })
    return rows


@experiment("perspose.depth_ambiguity", checks={
    "image_size": positive, "fov_deg": between(0, 180), "depth": at_least(2.0), "offset": between(0, 1),
    "depth_scale": positive, "crop_size": at_least(16)})
def depth_ambiguity(ctx: RunContext, image_size: tuple = (960, 540), fov_deg: float = 70.0, depth: float = 5.0,
                    offset: float = 0.6, depth_scale: float = 2.0, crop_size: int = 128,
                    candidates: int = 0) -> ExperimentResult:
    """PersPose Fig. 2: crops hide relative depths, and equal relative depths give different crops.

    The pose (:func:`pick_pose` among ``candidates`` world samples) is placed as the four subjects
    of :func:`ambiguity_scene`: (a) on the optical axis, (b) (a) turned with the ray of a pixel
    ``offset`` half-widths right, (c) (a) translated as far left, (a*) (a)'s points moved along
    their rays (relative depths x ``depth_scale``). One row per subject, compared with (a): bbox,
    PR angle phi, plain K_crop; the right wrist's relative depth, the mean relative-depth and
    bone-length differences (mm); in the plain crop the largest keypoint distance (px), the
    fraction of body pixels whose part label differs and of foreground pixels whose colour differs
    by more than 48 / 255; after perspective rotation the mean relative-depth difference (mm), the
    keypoint distance, the label difference of the rotated body rendered directly and the colour
    difference of the crop warped from the full frame.
    """
    sizes = ctx.sizes(POSE_SIZES, candidates=candidates)
    body = shared_anny_body(str(ctx.device))
    pose = pick_pose(ctx, sizes["candidates"], body)
    scene = ambiguity_scene(body, pose, image_size, fov_deg, depth, offset, depth_scale, crop_size)
    frame = pd.DataFrame(_ambiguity_rows(scene))
    frame.insert(0, "sample", pose.sample)
    return ExperimentResult(frame, pose.data_source)


def _top_view(ax: Any, meshes: Sequence[tuple[str, torch.Tensor, str]], half_fov: float, every: int = 10,
              title: str | None = None) -> None:
    """Top-down view (x right, z forward) of meshes (label, (V, 3), colour), the camera and its FOV."""
    far = max(float(v[:, 2].max()) for _, v, _ in meshes) * 1.1
    ax.plot(0, 0, marker="^", color="k", ms=8, zorder=6)
    for side in (-1, 1):
        ax.plot([0, side * half_fov * far], [0, far], color="0.6", lw=0.8)
    for label, v, color in meshes:
        pts = v[::every].numpy()
        ax.scatter(pts[:, 0], pts[:, 2], s=0.5, color=color, alpha=0.35, linewidths=0, label=label)
    ax.set_xlim(-1.05 * half_fov * far, 1.05 * half_fov * far)
    ax.set_ylim(-0.2, far)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)"), ax.set_ylabel("z (m)")
    if title:
        ax.set_title(title, fontsize=9)


def _frame_spine(ax: Any, color: str) -> None:
    for side in ax.spines.values():
        side.set_visible(True), side.set_color(color), side.set_linewidth(2)


_SUBJECT_COLORS = {"a": "C0", "a*": "C2", "b": "C1", "c": "C3"}


def draw_ambiguity(scene: AmbiguityScene) -> plt.Figure:
    """Fig. 2 rebuilt: the frame with (a), (b), (c) and their bboxes; a top view (camera frame seen
    from above) of all four subjects; their plain crops; their perspective-rotated crops."""
    W, H = scene.image_size
    names = list(scene.subjects)
    fig, axes = plt.subplot_mosaic([["full"] * 4 + ["top", "top"], [f"crop{n}" for n in names] + ["top", "top"],
                                    [f"pr{n}" for n in names] + ["top", "top"]],
                                   figsize=(13, 2.2 * (4 * H / W) + 5.0),
                                   gridspec_kw={"height_ratios": [4 * H / W, 1, 1]})
    viz.show_image(axes["full"], scene.full, "the frame: (a) centre, (b) right, (c) left")
    for n in ("a", "b", "c"):
        s = scene.subjects[n]
        viz.draw_bbox(axes["full"], s.bbox_center, s.bbox_size, color=_SUBJECT_COLORS[n])
        axes["full"].text(float(s.bbox_center[0]), float(s.bbox_center[1] - s.bbox_size / 2) - 6, f"({n})",
                          color=_SUBJECT_COLORS[n], ha="center", va="bottom", fontsize=9)
    a = scene.subjects["a"]
    for n, s in scene.subjects.items():
        d = 1000 * float((s.relative_depths - a.relative_depths).abs().mean())
        viz.show_image(axes[f"crop{n}"], s.crop, f"({n}) crop: depths {d:.0f} mm off,\n"
                       f"{100 * _label_difference(s.labels, a.labels):.1f}% px differ")
        _frame_spine(axes[f"crop{n}"], _SUBJECT_COLORS[n])
        viz.show_image(axes[f"pr{n}"], s.pr_crop, f"({n}) after PR (phi {s.phi_deg:.1f} deg):\n"
                       f"{100 * _rgb_difference(s.pr_crop, a.crop)[0]:.1f}% px differ")
        _frame_spine(axes[f"pr{n}"], _SUBJECT_COLORS[n])
    meshes = [(f"({n})", s.vertices, _SUBJECT_COLORS[n]) for n, s in scene.subjects.items()]
    _top_view(axes["top"], meshes, W / (2 * float(scene.K[0, 0])), title="top view (camera at the origin)")
    axes["top"].legend(markerscale=12, fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------- Fig. 3


@dataclass
class FovScene:
    """Fig. 3 rebuilt: one subject, two cameras on the same optical axis.

    Attributes:
        image_size: (W, H); fovs: the two horizontal FOVs (deg); K: the two (3, 3) intrinsics;
        distances: the pelvis' depth in each camera (m), chosen so that f / Z is the same;
        subjects: the body in each camera's frame (:class:`Subject`, crops rendered); full: the two frames.
    """

    image_size: tuple[int, int]
    fovs: tuple[float, float]
    K: tuple[torch.Tensor, torch.Tensor]
    distances: tuple[float, float]
    subjects: tuple[Subject, Subject]
    full: tuple[torch.Tensor, torch.Tensor]
    pose: Pose


def fov_scene(body: AnnyBody, pose: Pose, image_size: Sequence[int] = (512, 512), fovs: Sequence[float] = (100.0, 30.0),
              distance: float = 1.6, crop_size: int = 128) -> FovScene:
    """The pose in front of a wide camera at ``distance`` m and a narrow one on the same axis, moved
    back to Z_2 = Z_1 f_2 / f_1 so that the pelvis' depth plane has the same scale in both images.
    Both cameras look along the same axis, so the body's camera-frame coordinates differ by a
    translation along z only: the relative depths are identical."""
    W, H = (int(v) for v in image_size)
    Ks = tuple(_K(float(f), (W, H)) for f in fovs)
    distances = (float(distance), float(distance) * float(Ks[1][0, 0] / Ks[0][0, 0]))
    root = torch.tensor([[0.0, 0.0, 0.0]], dtype=_F64)
    vertices, joints = _pose_body(body, pose.rotations[None], pose.shape[None], root)
    vertices, joints = vertices[0] - joints[0, _PELVIS], joints[0] - joints[0, _PELVIS]
    subjects, full = [], []
    for K, Z, fov in zip(Ks, distances, fovs):
        t = torch.tensor([0.0, 0.0, Z], dtype=_F64)
        s = _subject("wide, near" if not subjects else "narrow, far", f"FOV {fov:g} deg at {Z:.2f} m",
                     vertices + t, joints + t, K, crop_size, body)
        subjects.append(s)
        full.append(_render_together(body, [s.vertices], K, (W, H)))
    return FovScene((W, H), (float(fovs[0]), float(fovs[1])), Ks, distances, tuple(subjects), tuple(full), pose)


@experiment("perspose.fov_pair", checks={
    "image_size": positive, "fovs": between(0, 180), "distance": at_least(1.2), "crop_size": at_least(16)})
def fov_pair(ctx: RunContext, image_size: tuple = (512, 512), fovs: tuple = (100.0, 30.0), distance: float = 1.6,
             crop_size: int = 128, candidates: int = 0) -> ExperimentResult:
    """PersPose Fig. 3: the same relative depths, different images, when only the FOV differs.

    The pose (:func:`pick_pose`) before two cameras on one optical axis (:func:`fov_scene`): FOV
    ``fovs[0]`` at ``distance`` m and ``fovs[1]`` moved back until the pelvis' plane has the same
    scale. One row per camera: FOV, focal, distance, bbox, the crop's focal f_crop; the largest
    relative-depth difference to the first camera (mm), the right wrist's relative depth; in the
    crops, the largest and mean keypoint distance to the first camera's crop (px) and the fraction
    of body pixels whose part label differs; and z_max / z_min over the joints, the ratio by which
    the nearest joint is drawn larger than the farthest at equal size.
    """
    if len(fovs) != 2:
        raise ValueError(f"fovs must hold two fields of view (deg), got {fovs!r}")
    sizes = ctx.sizes(POSE_SIZES, candidates=candidates)
    body = shared_anny_body(str(ctx.device))
    pose = pick_pose(ctx, sizes["candidates"], body)
    scene = fov_scene(body, pose, image_size, fovs, distance, crop_size)
    first = scene.subjects[0]
    rows = []
    for s, K, Z, fov in zip(scene.subjects, scene.K, scene.distances, scene.fovs):
        kp = (s.uv_crop - first.uv_crop).norm(dim=-1)
        rows.append({
            "camera": s.name, "fov_deg": fov, "focal_px": float(K[0, 0]), "distance_m": Z,
            "bbox_px": float(s.bbox_size), "f_crop_px": float(s.K_crop[0, 0]),
            "depth_diff_max_mm": 1000 * float((s.relative_depths - first.relative_depths).abs().max()),
            "rwrist_depth_mm": 1000 * float(s.relative_depths[_RWRIST]),
            "crop_keypoint_diff_max_px": float(kp.max()), "crop_keypoint_diff_mean_px": float(kp.mean()),
            "crop_labels_differing": _label_difference(s.labels, first.labels),
            "near_far_scale_ratio": float(s.joints[:, 2].max() / s.joints[:, 2].min()),
        })
    frame = pd.DataFrame(rows)
    frame.insert(0, "sample", pose.sample)
    return ExperimentResult(frame, pose.data_source)


def draw_fov_pair(scene: FovScene) -> plt.Figure:
    """Fig. 3 rebuilt: the two full frames, their crops with both crops' keypoints, and the top view
    of the two cameras on one axis."""
    fig, axes = plt.subplot_mosaic([["full0", "full1", "top"], ["crop0", "crop1", "top"]], figsize=(11, 7.2),
                                   gridspec_kw={"width_ratios": [1, 1, 0.9]})
    edges = joint_sets.skeleton_edges("h36m17")
    colors = ("C0", "C1")
    for k, (s, fov, Z) in enumerate(zip(scene.subjects, scene.fovs, scene.distances)):
        viz.show_image(axes[f"full{k}"], scene.full[k], f"({'ab'[k]}) FOV {fov:g} deg, {Z:.2f} m away")
        viz.draw_bbox(axes[f"full{k}"], s.bbox_center, s.bbox_size, color=colors[k])
        viz.show_image(axes[f"crop{k}"], s.crop, f"crop, f_crop = {float(s.K_crop[0, 0]):.0f} px")
        for j, other in enumerate(scene.subjects):
            viz.draw_keypoints(axes[f"crop{k}"], other.uv_crop, edges, color=colors[j], lw=0.8, s=4,
                               alpha=1.0 if j == k else 0.6)
    ax = axes["top"]
    Zs = scene.distances
    for k, (K, Z) in enumerate(zip(scene.K, Zs)):
        half = scene.image_size[0] / (2 * float(K[0, 0]))
        cam_z = -Z + Zs[0]  # both cameras drawn in the wide camera's frame shifted so its pelvis sits at Zs[0]
        ax.plot(0, cam_z, marker="^", color=colors[k], ms=8)
        far = Zs[0] + 1.0
        for side in (-1, 1):
            ax.plot([0, side * half * (far - cam_z)], [cam_z, far], color=colors[k], lw=0.8)
    v = scene.subjects[0].vertices[::10].numpy()
    ax.scatter(v[:, 0], v[:, 2], s=0.5, color="0.3", alpha=0.4, linewidths=0)
    ax.set_aspect("equal")
    ax.set_xlim(-1.6, 1.6)
    ax.set_xlabel("x (m)"), ax.set_ylabel("z (m, the wide camera's frame)")
    ax.set_title("top view: both cameras on one axis", fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------ Eq. 3-4


def _paper_crop_map(bbox_center: torch.Tensor, bbox_size: torch.Tensor, crop_size: float) -> torch.Tensor:
    """PersPose Eq. 3 as printed: s = w_bbox / w_crop, t = w_crop / 2 - s c_bbox. (..., 3, 3)."""
    s = bbox_size / crop_size
    t = 0.5 * crop_size - s[..., None] * bbox_center
    return camera.intrinsics(s, t, check=False)


@experiment("perspose.crop_scale_check", checks={"image_size": positive, "crop_size": at_least(8)})
def crop_scale_check(ctx: RunContext, image_size: tuple = (1280, 720), crop_size: int = 256,
                     samples: int = 0) -> ExperimentResult:
    """PersPose Eq. 3-4 and the erratum: s must be w_crop / w_bbox for K_crop = A K to be the crop's camera.

    On ``samples`` world bodies (frames of ``image_size``, the world's bboxes), the joints are cut
    and resized into the ``crop_size`` crop by definition, u_crop = (u - c_bbox) S / b + S / 2, and
    projected with K_crop = A K for A built with the corrected s = S / b
    (``camera.crop_intrinsics``) and with the paper's literal s = b / S. One row per variant: the
    mean s and f_crop / f, where the bbox's left and right edges land (mean u; the crop spans
    [0, S]), the mean and max distance to the cut-and-resized joints (px) and whether it is below
    1e-6 px.
    """
    sizes = ctx.sizes(CHECK_SIZES, samples=samples)
    world = _world(ctx, sizes["samples"], image_size=tuple(int(v) for v in image_size), crop_size=int(crop_size))
    K = world.K.double()
    joints = world.joints3d["h36m17"].double()
    c, b = world.bbox_center.double(), world.bbox_size.double()
    S = float(crop_size)
    uv = camera.project(joints, K)
    cut = (uv - c[:, None]) * (S / b)[:, None, None] + S / 2.0
    edges = torch.stack([torch.stack([c[:, 0] - b / 2, c[:, 1]], -1), torch.stack([c[:, 0] + b / 2, c[:, 1]], -1)], 1)
    variants = {
        "corrected: s = w_crop / w_bbox (camera.crop_intrinsics)": camera.crop_transform(c, b, S),
        "paper: s = w_bbox / w_crop (Eq. 3 as printed)": _paper_crop_map(c, b, S),
    }
    rows = []
    for name, A in variants.items():
        K_crop = A @ K
        err = (camera.project(joints, K_crop) - cut).norm(dim=-1)
        edge_u = camera.apply_homography(A, edges)[..., 0]
        rows.append({"variant": name, "s_mean": float(A[:, 0, 0].mean()),
                     "f_crop_over_f": float((K_crop[:, 0, 0] / K[:, 0, 0]).mean()),
                     "left_edge_u": float(edge_u[:, 0].mean()), "right_edge_u": float(edge_u[:, 1].mean()),
                     "error_mean_px": float(err.mean()), "error_max_px": float(err.max()),
                     "exact": bool(err.max() < 1e-6), "bbox_px_mean": float(b.mean()), "crop_px": S,
                     "samples": len(world)})
    # the world's stored K_crop is the corrected one
    err = (camera.project(joints, world.K_crop.double()) - cut).norm(dim=-1)
    rows.append({"variant": "the world's K_crop", "s_mean": math.nan,
                 "f_crop_over_f": float((world.K_crop[:, 0, 0].double() / K[:, 0, 0]).mean()),
                 "left_edge_u": math.nan, "right_edge_u": math.nan, "error_mean_px": float(err.mean()),
                 "error_max_px": float(err.max()), "exact": bool(err.max() < 1e-3), "bbox_px_mean": float(b.mean()),
                 "crop_px": S, "samples": len(world)})
    return ExperimentResult(pd.DataFrame(rows), world_data_source(world))


@dataclass
class CropScaleExample:
    """One world body: its frame, bbox, the crops rendered with the corrected and the paper's K_crop,
    and its joints cut and resized into the crop (17, 2)."""

    full: torch.Tensor
    bbox_center: torch.Tensor
    bbox_size: torch.Tensor
    crops: dict[str, torch.Tensor]
    K_crops: dict[str, torch.Tensor]
    uv_cut: torch.Tensor
    uv_full: torch.Tensor


def crop_scale_example(ctx: RunContext, body: AnnyBody | None = None, image_size: Sequence[int] = (640, 360),
                       crop_size: int = 128, candidates: int = 8) -> CropScaleExample:
    """The world body (of ``candidates``, placement spread 0.6) with the largest bbox that lies
    inside the frame, drawn with the crop camera of both readings of Eq. 3."""
    body = body or shared_anny_body(str(ctx.device))
    W, H = (int(v) for v in image_size)
    world = _world(ctx, candidates, body, image_size=(W, H), crop_size=int(crop_size), placement_spread=0.6)
    c, b = world.bbox_center.double(), world.bbox_size.double()
    inside = (c[:, 0] - b / 2 >= 0) & (c[:, 0] + b / 2 <= W) & (c[:, 1] - b / 2 >= 0) & (c[:, 1] + b / 2 <= H)
    i = int(torch.where(inside, b, -b).argmax())
    vertices, joints = _pose_body(body, world.rotations[i:i + 1].double(), world.shape[i:i + 1].double(),
                                  world.root[i:i + 1].double())
    K = world.K[i].double()
    S = float(crop_size)
    K_crops = {"corrected": camera.crop_intrinsics(K, c[i], b[i], S), "paper": _paper_crop_map(c[i], b[i], S) @ K}
    crops = {k: _render(body, vertices, Kc, (int(S), int(S)))[0][0] for k, Kc in K_crops.items()}
    uv = camera.project(joints[0], K)
    return CropScaleExample(_render(body, vertices, K, (W, H))[0][0], c[i], b[i], crops, K_crops,
                            (uv - c[i]) * (S / b[i]) + S / 2.0, uv)


def draw_crop_scale(ex: CropScaleExample) -> plt.Figure:
    """The frame with its bbox, and the crop rendered with each K_crop, the cut-and-resized joints on top."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), gridspec_kw={"width_ratios": [1.9, 1, 1]})
    edges = joint_sets.skeleton_edges("h36m17")
    viz.show_image(axes[0], ex.full, f"frame, bbox {float(ex.bbox_size):.0f} px")
    viz.draw_bbox(axes[0], ex.bbox_center, ex.bbox_size, color="C1")
    viz.draw_keypoints(axes[0], ex.uv_full, edges, color="w", lw=0.6, s=3)
    S = ex.crops["corrected"].shape[0]
    for ax, key, label in ((axes[1], "corrected", "s = w_crop / w_bbox"), (axes[2], "paper", "s = w_bbox / w_crop (paper)")):
        viz.show_image(ax, ex.crops[key], f"K_crop with {label}\nf_crop = {float(ex.K_crops[key][0, 0]):.0f} px")
        viz.draw_keypoints(ax, ex.uv_cut, edges, color="w", lw=0.8, s=4)
        ax.set_xlim(0, S), ax.set_ylim(S, 0)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------- Eq. 7-9, Fig. 5


def pe_sensors(image_size: Sequence[int] = (1280, 720), fovs: Sequence[float] = (30.0, 60.0), bbox_size: float = 300.0,
               offset: float = 0.6, crop_size: int = 256) -> dict[str, torch.Tensor]:
    """Fig. 5's three virtual sensors as crop intrinsics (3, 3): red, a centred crop of a camera of
    FOV ``fovs[0]`` (the larger focal length); green, a centred crop of FOV ``fovs[1]``; blue, the
    crop of FOV ``fovs[1]`` whose bbox is ``offset`` half-widths right of the centre (off axis).
    All bboxes are ``bbox_size`` pixels, resized to ``crop_size``."""
    W, H = (int(v) for v in image_size)
    centre = torch.tensor([W / 2.0, H / 2.0], dtype=_F64)
    right = centre + torch.tensor([offset * W / 2.0, 0.0], dtype=_F64)
    b = torch.tensor(float(bbox_size), dtype=_F64)
    narrow, wide = _K(float(fovs[0]), (W, H)), _K(float(fovs[1]), (W, H))
    return {
        f"red: FOV {fovs[0]:g} deg, centred": camera.crop_intrinsics(narrow, centre, b, crop_size),
        f"green: FOV {fovs[1]:g} deg, centred": camera.crop_intrinsics(wide, centre, b, crop_size),
        f"blue: FOV {fovs[1]:g} deg, off axis": camera.crop_intrinsics(wide, right, b, crop_size),
    }


@experiment("perspose.pe_encoding", checks={
    "image_size": positive, "fovs": between(0, 180), "bbox_size": positive, "offset": between(0, 1, closed=True),
    "crop_size": at_least(8), "stride": at_least(1)})
def pe_encoding(ctx: RunContext, image_size: tuple = (1280, 720), fovs: tuple = (30.0, 60.0), bbox_size: float = 300.0,
                offset: float = 0.6, crop_size: int = 256, stride: int = 4) -> ExperimentResult:
    """PersPose Eq. 7-9 and Fig. 5: the PE map of three virtual sensors (:func:`pe_sensors`).

    One row per sensor: f_crop and the crop's principal point; the extent of the PE map (its cell
    centres on the plane z = 1: x and y ranges), its footprint width S / f_crop and mean position;
    the largest difference between ``camera.perspective_encoding`` and Eq. 7 evaluated cell by cell
    with NumPy, in both layouts (channel x along the columns, the right one; and along the rows, Eq. 9
    as printed, which only a square crop can hold).
    """
    rows = []
    S = int(crop_size)
    for name, K_crop in pe_sensors(image_size, fovs, bbox_size, offset, S).items():
        pe = camera.perspective_encoding(K_crop, S, S, stride)
        Kinv = np.linalg.inv(K_crop.numpy())
        n = S // stride
        ref = np.empty((2, n, n))
        for i in range(n):           # row: v
            for j in range(n):       # column: u
                x = Kinv @ np.array([(j + 0.5) * stride, (i + 0.5) * stride, 1.0])
                ref[:, i, j] = x[:2] / x[2]
        pe_np = pe.numpy()
        rows.append({
            "sensor": name, "f_crop_px": float(K_crop[0, 0]), "cx_crop_px": float(K_crop[0, 2]),
            "cy_crop_px": float(K_crop[1, 2]),
            "x_min": float(pe_np[0].min()), "x_max": float(pe_np[0].max()),
            "y_min": float(pe_np[1].min()), "y_max": float(pe_np[1].max()),
            "footprint_width": S / float(K_crop[0, 0]), "x_mean": float(pe_np[0].mean()), "y_mean": float(pe_np[1].mean()),
            "eq7_max_error": float(np.abs(pe_np - ref).max()),
            "eq9_as_printed_max_error": float(np.abs(pe_np - ref.transpose(0, 2, 1)).max()),
        })
    return ExperimentResult(pd.DataFrame(rows), "pinhole geometry (no data)")


_SENSOR_COLORS = ("#d62728", "#2ca02c", "#1f77b4")


def draw_pe_maps(sensors: dict[str, torch.Tensor], crop_size: int = 256, stride: int = 4) -> plt.Figure:
    """Fig. 5 rebuilt: left, each sensor's footprint on the plane z = 1 (the optical axis at the
    origin); right, the two channels x / z and y / z of each sensor's PE map on one colour scale."""
    maps = {k: camera.perspective_encoding(K, crop_size, crop_size, stride) for k, K in sensors.items()}
    lim = max(float(m.abs().max()) for m in maps.values())
    fig = plt.figure(figsize=(13, 5.2))
    grid = fig.add_gridspec(2, 1 + len(sensors), width_ratios=[1.5] + [1] * len(sensors))
    ax = fig.add_subplot(grid[:, 0])
    for (name, K), color in zip(sensors.items(), _SENSOR_COLORS):
        # the crop's corners (0, 0) and (S, S) cast onto z = 1 (Eq. 7)
        f, cx, cy = float(K[0, 0]), float(K[0, 2]), float(K[1, 2])
        x0, x1, y0, y1 = -cx / f, (crop_size - cx) / f, -cy / f, (crop_size - cy) / f
        ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=True, alpha=0.25, color=color, label=name))
        ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color=color, lw=1.5))
    ax.plot(0, 0, "k+", ms=10)
    ax.set_xlim(-lim * 1.05, lim * 1.05), ax.set_ylim(lim * 1.05, -lim * 1.05)
    ax.set_aspect("equal")
    ax.set_xlabel("x / z"), ax.set_ylabel("y / z")
    ax.set_title("footprints on the plane z = 1 (+: optical axis)", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    im = None
    for k, ((name, m), color) in enumerate(zip(maps.items(), _SENSOR_COLORS)):
        for ch, label in enumerate("xy"):
            a = fig.add_subplot(grid[ch, 1 + k])
            im = a.imshow(m[ch].numpy(), cmap="coolwarm", vmin=-lim, vmax=lim)
            a.set_axis_off()
            a.set_title(f"{name.split(':')[0]}: {label} / z", fontsize=9, color=color)
    fig.colorbar(im, ax=fig.axes[1:], shrink=0.8)
    return fig


# ------------------------------------------------------------------------------ Eq. 12-17, Fig. 6


#: The crop variants of ``perspose.pr_exactness``: (label, rotate, aim).
_PR_VARIANTS = (("plain crop (no PR)", False, "principal_point"), ("PR, aim = principal point", True, "principal_point"),
                ("PR, aim = image centre", True, "image_centre"))


@dataclass
class PrScene:
    """Rendered world frames, one camera variant, and their crops of every :data:`_PR_VARIANTS` entry.

    Attributes:
        camera: the variant's name; K: (N, 3, 3); full: (N, H, W, 3) frames;
        vertices: (N, V, 3) and joints (N, 17, 3) camera frame; bbox_center (N, 2), bbox_size (N,);
        crops: {variant: RotatedCrops}; renders: {variant: (N, S, S, 3) the rotated bodies rendered
        directly with each sample's K_crop}.
    """

    camera: str
    K: torch.Tensor
    full: torch.Tensor
    vertices: torch.Tensor
    joints: torch.Tensor
    bbox_center: torch.Tensor
    bbox_size: torch.Tensor
    crops: dict[str, Any] = field(default_factory=dict)
    renders: dict[str, torch.Tensor] = field(default_factory=dict)

    def widest_inside(self, variant: str = "PR, aim = principal point") -> int:
        """The sample PR turns furthest among those whose bbox lies inside the frame (all if none does)."""
        W, H = self.full.shape[2], self.full.shape[1]
        c, b = self.bbox_center, self.bbox_size
        inside = (c[:, 0] - b / 2 >= 0) & (c[:, 0] + b / 2 <= W) & (c[:, 1] - b / 2 >= 0) & (c[:, 1] + b / 2 <= H)
        phi = self.crops[variant].phi_deg
        return int(torch.where(inside, phi, phi - 1e3).argmax()) if bool(inside.any()) else int(phi.argmax())


def pr_scene(world: World, body: AnnyBody, principal_offset: Sequence[float] = (0.0, 0.0),
             crop_size: int = 128) -> PrScene:
    """The world's bodies seen by its cameras with the principal point moved by ``principal_offset``
    pixels (0: the world's, at the image centre): frames rendered, bboxes by the world's rule
    (1.2 x the extent of the projected vertices and joints), crops of every variant."""
    W, H = world.image_size
    K = world.K.double().clone()
    K[:, 0, 2] += float(principal_offset[0])
    K[:, 1, 2] += float(principal_offset[1])
    vertices, joints = _pose_body(body, world.rotations.double(), world.shape.double(), world.root.double())
    uv = torch.cat([camera.project(vertices, K), camera.project(joints, K)], dim=1)
    center, size = camera.bbox_from_points(uv, scale=BBOX_SCALE)
    full, _ = _render(body, vertices, K, (W, H))
    name = ("principal point at the image centre" if not any(principal_offset)
            else f"principal point off centre by ({principal_offset[0]:g}, {principal_offset[1]:g}) px")
    scene = PrScene(name, K, full, vertices, joints, center, size)
    for label, rotate, aim in _PR_VARIANTS:
        rc = rotated_crops(full, K, center, size, crop_size, aim=aim, rotate=rotate)
        scene.crops[label] = rc
        scene.renders[label] = _render(body, rotate_labels(vertices, rc.R, check=False), rc.K_crop,
                                       (crop_size, crop_size))[0]
    return scene


def _lift_errors(joints_rot: torch.Tensor, K_crop: torch.Tensor, R: torch.Tensor, joints: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 5-6 from the exact labels (u, v) = project(R P, K_crop), d = z' - z'_0, s = z'_0 / f_crop:
    (N,) largest error (m) of the lifted rotated joints (paper and official form of Eq. 5) against
    R P, and of the paper form rotated back by R^T (Eq. 6) against P."""
    uv = camera.project(joints_rot, K_crop)
    rel = joints_rot[..., 2] - joints_rot[..., _PELVIS, None, 2]
    scale = joints_rot[..., _PELVIS, 2] / K_crop[..., 0, 0]  # s-hat = d_0^abs / f_crop
    lifted = lift(uv, rel, scale, K_crop, form="paper")
    official = lift(uv, rel, scale, K_crop, form="official")
    back = rotate_back(lifted, R, check=False)
    return ((lifted - joints_rot).norm(dim=-1).amax(-1), (official - joints_rot).norm(dim=-1).amax(-1),
            (back - joints).norm(dim=-1).amax(-1))


def _sees_frame(homography: torch.Tensor, crop_size: int, image_size: Sequence[int]) -> torch.Tensor:
    """(N, S, S) bool: the crop pixels whose centre maps (by the inverse of the full-frame-to-crop
    homography) inside the frame [0, W) x [0, H)."""
    centres = torch.arange(crop_size, dtype=homography.dtype) + 0.5
    vv, uu = torch.meshgrid(centres, centres, indexing="ij")
    pix = torch.stack((uu, vv), dim=-1).reshape(-1, 2)
    src = camera.apply_homography(torch.linalg.inv(homography), pix.expand(len(homography), -1, -1))
    W, H = image_size
    inside = (src[..., 0] >= 0) & (src[..., 0] < W) & (src[..., 1] >= 0) & (src[..., 1] < H)
    return inside.reshape(-1, crop_size, crop_size)


def _pr_rows(scene: PrScene) -> list[dict[str, Any]]:
    rows = []
    for label, rc in scene.crops.items():
        S = rc.crops.shape[1]
        rotated = rotate_labels(scene.joints, rc.R, check=False)
        uv_proj = camera.project(rotated, rc.K_crop)                           # Eq. 16, then the crop camera
        uv_warp = camera.apply_homography(rc.homography, camera.project(scene.joints, scene.K))  # Eq. 17 + A
        centre = camera.apply_homography(rc.homography, scene.bbox_center[:, None])[:, 0]
        lifted, official, back = _lift_errors(rotated, rc.K_crop, rc.R, scene.joints)
        seen = _sees_frame(rc.homography, S, (scene.full.shape[2], scene.full.shape[1]))
        for i in range(len(rc)):
            # compare where the crop sees the frame (the direct render also draws what lies beyond it)
            render = torch.where(seen[i, ..., None], scene.renders[label][i], torch.zeros_like(rc.crops[i]))
            rgb = _rgb_difference(rc.crops[i], render)
            rows.append({
                "camera": scene.camera, "variant": label, "sample": i, "phi_deg": float(rc.phi_deg[i]),
                "keypoint_error_px": float((uv_proj[i] - uv_warp[i]).norm(dim=-1).max()),
                "bbox_centre_u": float(centre[i, 0]) - S / 2, "bbox_centre_v": float(centre[i, 1]) - S / 2,
                "pp_offset_u": float(rc.K_crop[i, 0, 2]) - S / 2, "pp_offset_v": float(rc.K_crop[i, 1, 2]) - S / 2,
                "f_crop_px": float(rc.K_crop[i, 0, 0]), "bbox_px": float(rc.bbox_size[i]),
                "mask_iou": _mask_iou(rc.crops[i], render), "pixels_differing": rgb[0],
                "sees_frame": float(seen[i].double().mean()),
                "lift_error_mm": 1000 * float(lifted[i]), "lift_official_error_mm": 1000 * float(official[i]),
                "rotate_back_error_mm": 1000 * float(back[i]),
            })
    return rows


@experiment("perspose.pr_exactness", checks={
    "image_size": positive, "placement_spread": between(0, 1, closed=True), "crop_size": at_least(16)})
def pr_exactness(ctx: RunContext, image_size: tuple = (640, 480), placement_spread: float = 0.8,
                 principal_offset: tuple = (48.0, -36.0), crop_size: int = 128, samples: int = 0) -> ExperimentResult:
    """PersPose Eq. 12-17 and Fig. 6: the PR-warped image and the rotated skeleton agree exactly.

    ``samples`` world bodies (placement spread ``placement_spread``, frames of ``image_size``) are
    rendered by two cameras (:func:`pr_scene`): the world's (principal point at the image centre)
    and the same with the principal point moved by ``principal_offset`` px; each frame is cropped
    three ways (plain, PR aimed at the principal point as the code does, PR aimed at the image
    centre as Sec. 4.2 says) by ``rotated_crops``. One row per (camera, variant, sample): phi;
    the largest distance (px) between the warped keypoints M u (M = A K R K^-1, Eq. 17 with the
    crop map) and the projection of the rotated joints R P with K_crop (Eq. 16); where M sends the
    bbox centre and where K_crop's principal point lies, relative to the crop centre (px); the
    mask IoU of the warped crop and the rotated body rendered directly, and the fraction of its
    foreground pixels whose colour differs by more than 48 / 255 (bilinear resampling at edges),
    both on the crop pixels that see the frame (``sees_frame``: their fraction);
    Eq. 5's lifting of the exact (u, v, d, s-hat) labels against R P, and Eq. 6's R^T of it
    against P (largest joint error, mm).
    """
    sizes = ctx.sizes(PR_SIZES, samples=samples)
    body = shared_anny_body(str(ctx.device))
    world = _world(ctx, sizes["samples"], body, image_size=tuple(int(v) for v in image_size),
                   placement_spread=float(placement_spread))
    rows = []
    for offset in ((0.0, 0.0), tuple(float(v) for v in principal_offset)):
        rows += _pr_rows(pr_scene(world, body, offset, crop_size))
    return ExperimentResult(pd.DataFrame(rows), world_data_source(world))


def pr_example(ctx: RunContext, body: AnnyBody | None = None, image_size: Sequence[int] = (640, 480),
               placement_spread: float = 0.8, principal_offset: Sequence[float] = (48.0, -36.0),
               crop_size: int = 128, samples: int = 0) -> PrScene:
    """The :func:`pr_scene` of ``perspose.pr_exactness``'s world (same parameters) and its second
    camera (the principal point moved by ``principal_offset``), for drawing."""
    body = body or shared_anny_body(str(ctx.device))
    sizes = ctx.sizes(PR_SIZES, samples=samples)
    world = _world(ctx, sizes["samples"], body, image_size=tuple(int(v) for v in image_size),
                   placement_spread=float(placement_spread))
    return pr_scene(world, body, principal_offset, crop_size)


def draw_pr_exactness(scene: PrScene, index: int = 0) -> plt.Figure:
    """Fig. 6 rebuilt for one sample: the frame with its bbox, principal point and image centre; per
    crop variant the crop warped from the frame with the warped keypoints (white) and the projected
    rotated joints (orange circles) on top, and below it the rotated body rendered directly with the
    crop's K_crop (yellow cross: K_crop's principal point)."""
    edges = joint_sets.skeleton_edges("h36m17")
    labels = list(scene.crops)
    n = len(labels)
    fig, axes = plt.subplot_mosaic([["full"] + [f"crop{k}" for k in range(n)], ["full"] + [f"render{k}" for k in range(n)]],
                                   figsize=(3.1 * n + 5.2, 6.8), gridspec_kw={"width_ratios": [1.7] + [1] * n})
    W, H = scene.full.shape[2], scene.full.shape[1]
    uv = camera.project(scene.joints[index], scene.K[index])
    ax = axes["full"]
    viz.show_image(ax, scene.full[index], f"frame: {scene.camera}")
    viz.draw_bbox(ax, scene.bbox_center[index], scene.bbox_size[index], color="C1")
    viz.draw_keypoints(ax, uv, edges, color="w", lw=0.6, s=3)
    ax.plot(*scene.K[index, :2, 2].tolist(), "y+", ms=10, label="principal point")
    ax.plot(W / 2, H / 2, "cx", ms=8, label="image centre")
    ax.legend(fontsize=7, loc="lower left", labelcolor="w")
    for k, label in enumerate(labels):
        rc = scene.crops[label]
        S = rc.crops.shape[1]
        warped = camera.apply_homography(rc.homography[index], uv)
        projected = camera.project(rotate_labels(scene.joints[index], rc.R[index], check=False), rc.K_crop[index])
        phi = float(rc.phi_deg[index])
        ax = axes[f"crop{k}"]
        turn = f"phi {phi:.1f} deg" if label.startswith("PR") else f"(PR would turn {phi:.1f} deg)"
        viz.show_image(ax, rc.crops[index], f"{label}\n{turn}: warped frame")
        viz.draw_keypoints(ax, warped, edges, color="w", lw=0.7, s=4)
        ax.scatter(projected[:, 0], projected[:, 1], s=28, facecolors="none", edgecolors="C1", lw=1.0)
        ax.plot(*rc.K_crop[index, :2, 2].tolist(), "y+", ms=10)
        ax.set_xlim(0, S), ax.set_ylim(S, 0)
        ax = axes[f"render{k}"]
        viz.show_image(ax, scene.renders[label][index], "R X rendered with K_crop")
        ax.plot(*rc.K_crop[index, :2, 2].tolist(), "y+", ms=10)
        ax.set_xlim(0, S), ax.set_ylim(S, 0)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------ Fig. 7


@experiment("perspose.phi_distribution", checks={"spreads": between(0, 1, closed=True), "image_size": positive,
                                                 "fov_deg": between(0, 180)})
def phi_distribution(ctx: RunContext, spreads: tuple = (0.2, 0.8), image_size: tuple = (1280, 720),
                     fov_deg: tuple = (40.0, 80.0), crop_size: int = 256, samples: int = 0) -> ExperimentResult:
    """PersPose Fig. 7: the distribution of the PR angle phi for worlds of different placement.

    One world of ``samples`` bodies per placement spread (0: every pelvis on the optical axis, 1:
    anywhere up to the frame's border), horizontal FOV uniform in ``fov_deg``, frames of
    ``image_size``. One row per body: the spread, phi (the angle of ``camera.perspective_rotation``
    of its bbox centre, deg), its FOV, and the plain crop's principal point relative to the crop
    centre (px of a ``crop_size`` crop), the variation that perspective rotation removes (Eq. 10-11).
    """
    sizes = ctx.sizes(PHI_SIZES, samples=samples)
    body = shared_anny_body(str(ctx.device))
    frames, source = [], ""
    for spread in spreads:
        world = _world(ctx, sizes["samples"], body, image_size=tuple(int(v) for v in image_size),
                       fov_deg=tuple(float(v) for v in fov_deg), placement_spread=float(spread), crop_size=int(crop_size))
        K, c = world.K.double(), world.bbox_center.double()
        phi = _angle_deg(camera.perspective_rotation(K, c))
        K_crop = world.K_crop.double()
        frames.append(pd.DataFrame({
            "spread": float(spread), "world": SPREAD_LABELS.get(float(spread), f"spread {spread:g}"),
            "sample": np.arange(len(world)), "phi_deg": phi.numpy(), "fov_deg": world.meta["fov_deg"].to_numpy(),
            "cx_crop_offset_px": (K_crop[:, 0, 2] - crop_size / 2).numpy(),
            "cy_crop_offset_px": (K_crop[:, 1, 2] - crop_size / 2).numpy(),
            "f_crop_px": K_crop[:, 0, 0].numpy()}))
        source = world_data_source(world)
    return ExperimentResult(pd.concat(frames, ignore_index=True), source)


def draw_phi_distribution(frame: pd.DataFrame) -> plt.Figure:
    """Fig. 7 rebuilt: the density of phi per world (seaborn KDE, cut at 0), and the plain crop's
    principal point of every sample, the spread PR removes."""
    import seaborn as sns

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1.4, 1]})
    sns.kdeplot(data=frame, x="phi_deg", hue="world", fill=True, common_norm=False, cut=0, ax=axes[0])
    axes[0].set_xlabel("PR angle phi (deg)")
    sns.scatterplot(data=frame, x="cx_crop_offset_px", y="cy_crop_offset_px", hue="world", s=8, alpha=0.6,
                    linewidth=0, ax=axes[1], legend=False)
    axes[1].invert_yaxis()
    axes[1].set_aspect("equal", adjustable="datalim")
    axes[1].set_xlabel("c_x^crop - S/2 (px)"), axes[1].set_ylabel("c_y^crop - S/2 (px)")
    axes[1].set_title("plain crop's principal point (PR puts every one at 0)", fontsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------- the explorer


class PerspectiveExplorer:
    """The pose moved across the frame and seen with different FOVs, drawn for sliders.

    The pelvis lies on the ray of the pixel (offset_x W/2, offset_y H/2) from the image centre, at the
    distance ``depth`` f / f_ref from the camera (f_ref: the focal length of ``reference_fov_deg``),
    so that the body keeps its image size when the FOV changes, as in Fig. 3.

    ``draw(axes, offset_x, offset_y, fov_deg)`` fills 5 axes: the frame with the bbox, the plain crop
    (its K_crop in the title), the two channels of its PE map (one colour scale for all settings)
    and the PR crop (phi in the title). The body keeps its camera-frame orientation (``turn=False``:
    the same relative depths everywhere, Fig. 2 (a)/(c)) or turns with the ray of its position
    (``turn=True``: the PR crop stays the centred one, Fig. 2 (a)/(b)). ``png`` returns the figure as
    PNG bytes (for an ipywidgets Output), ``grid`` a static figure of several settings.
    """

    def __init__(self, body: AnnyBody, pose: Pose, image_size: Sequence[int] = (640, 360), depth: float = 6.0,
                 crop_size: int = 128, pe_limit: float = 1.2, reference_fov_deg: float = 60.0) -> None:
        self.body, self.pose, self.depth, self.crop_size = body, pose, float(depth), int(crop_size)
        self.reference_focal = float(_K(reference_fov_deg, image_size)[0, 0])
        self.image_size = tuple(int(v) for v in image_size)
        self.pe_limit = float(pe_limit)
        root = torch.zeros(1, 3, dtype=_F64)
        vertices, joints = _pose_body(body, pose.rotations[None], pose.shape[None], root)
        self._vertices = vertices[0] - joints[0, _PELVIS]
        self._joints = joints[0] - joints[0, _PELVIS]

    def state(self, offset_x: float, offset_y: float = 0.0, fov_deg: float = 60.0, turn: bool = False) -> dict[str, Any]:
        """Everything drawn for one setting: K, the full frame, the bbox, K_crop, the crop, the PE
        map, the PR rotation's angle, K_crop after PR and the PR crop."""
        W, H = self.image_size
        K = _K(float(fov_deg), (W, H))
        target = torch.tensor([W / 2.0 * (1.0 + offset_x), H / 2.0 * (1.0 + offset_y)], dtype=_F64)
        ray = torch.linalg.solve(K, torch.cat((target, torch.ones(1, dtype=_F64))))
        distance = self.depth * float(K[0, 0]) / self.reference_focal  # the same image size at every FOV
        root = ray * (distance / float(ray.norm()))  # the pelvis ``distance`` m along the ray
        R = camera.perspective_rotation(K, target).T if turn else torch.eye(3, dtype=_F64)
        vertices = self._vertices @ R.T + root
        joints = self._joints @ R.T + root
        s = _subject("", "", vertices, joints, K, self.crop_size, self.body)
        full = _render_together(self.body, [vertices], K, (W, H))
        _add_pr([s], [full], K, self.crop_size, self.body)
        pe = camera.perspective_encoding(s.K_crop, self.crop_size, self.crop_size, 4)
        return {"K": K, "full": full, "subject": s, "pe": pe}

    def draw(self, axes: Sequence[Any], offset_x: float, offset_y: float = 0.0, fov_deg: float = 60.0,
             turn: bool = False) -> None:
        st = self.state(offset_x, offset_y, fov_deg, turn)
        s, K = st["subject"], st["K"]
        W, H = self.image_size
        viz.show_image(axes[0], st["full"], f"FOV {fov_deg:.0f} deg (f = {float(K[0, 0]):.0f} px)")
        viz.draw_bbox(axes[0], s.bbox_center, s.bbox_size, color="C1")
        axes[0].plot(W / 2, H / 2, "wx")
        kc = s.K_crop
        viz.show_image(axes[1], s.crop, f"crop: f_crop {float(kc[0, 0]):.0f},\nc_crop ({float(kc[0, 2]):.0f}, "
                       f"{float(kc[1, 2]):.0f}) px")
        for k, label in enumerate("xy"):
            axes[2 + k].imshow(st["pe"][k].numpy(), cmap="coolwarm", vmin=-self.pe_limit, vmax=self.pe_limit)
            axes[2 + k].set_axis_off()
            axes[2 + k].set_title(f"PE map {label} / z\n[{float(st['pe'][k].min()):+.2f}, "
                                  f"{float(st['pe'][k].max()):+.2f}]", fontsize=9)
        viz.show_image(axes[4], s.pr_crop, f"after PR: phi {s.phi_deg:.1f} deg,\n"
                       f"c_crop ({float(s.K_crop_pr[0, 2]):.0f}, {float(s.K_crop_pr[1, 2]):.0f}) px")

    def _figure(self, rows: int) -> tuple[plt.Figure, np.ndarray]:
        fig, axes = plt.subplots(rows, 5, figsize=(13, 2.9 * rows), squeeze=False,
                                 gridspec_kw={"width_ratios": [2.0, 1, 1, 1, 1]})
        return fig, axes

    def figure(self, offset_x: float, offset_y: float = 0.0, fov_deg: float = 60.0, turn: bool = False) -> plt.Figure:
        fig, axes = self._figure(1)
        self.draw(axes[0], offset_x, offset_y, fov_deg, turn)
        fig.tight_layout()
        return fig

    def png(self, offset_x: float, offset_y: float = 0.0, fov_deg: float = 60.0, turn: bool = False,
            dpi: int = 72) -> bytes:
        return _png(self.figure(offset_x, offset_y, fov_deg, turn), dpi)

    def grid(self, settings: Sequence[tuple[float, float, float, bool]]) -> plt.Figure:
        """One row per (offset_x, offset_y, fov_deg, turn)."""
        fig, axes = self._figure(len(settings))
        for row, setting in zip(axes, settings):
            self.draw(row, *setting)
        fig.tight_layout()
        return fig
