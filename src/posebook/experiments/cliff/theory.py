"""CLIFF's geometry checked on real poses: the crop camera (Eq. 1), the bbox input (Eq. 5-6), Fig. 1
(the same crop seen at different places of the frame hides different global rotations), the
crop-to-full translation (Eq. 7, supp. Eq. 7.1-7.6) with the full-frame reprojection (Eq. 8-9) and
where weak perspective breaks, and the field-of-view erratum of f = sqrt(W^2 + H^2).

Everything is computed on posed Anny bodies of the synthetic world (:mod:`posebook.data.world`, CMU
motion when available, else procedural poses), seen by pinhole cameras with exact intrinsics, so
each equation can be compared with the projection it approximates. The notebook
``notebooks/cliff/theory.md`` shows the tables and draws the figures with the functions below.

Conventions (:mod:`posebook.geometry.camera`): camera frame x right, y down, z forward; pixels
continuous, (W / 2, H / 2) the image centre and principal point; bboxes square, centre (2,) and
side b in pixels. The weak-perspective crop camera ``cam = [s, t_x, t_y]`` acts on normalised crop
coordinates, the crop spanning [-1, 1]: a camera-frame point X (root-relative, metres) lands at
``bbox_center + (b / 2) s (X_xy + t)`` in the full frame (CLIFF supp. Fig. 1: the 2 m box around the
body projects onto b s pixels). Lengths in metres, angles in degrees in the tables.
"""

from __future__ import annotations

import functools
import io
import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import roma
import torch

from posebook import viz
from posebook.body import joints as joint_sets
from posebook.body.models import AnnyBody, shared_anny_body
from posebook.data.render import PartRenderer, render_parts
from posebook.data.world import World, WorldConfig, blank_outside_frame, build_world, world_data_source
from posebook.experiments.registry import ExperimentResult, experiment
from posebook.geometry import camera
from posebook.parameters import at_least, between, positive
from posebook.runs import RunContext, scaled_presets

__all__ = [
    "F_HMR",
    "CROP_HMR",
    "SIZES",
    "MODES",
    "ray_rotation",
    "fit_weak_perspective",
    "weak_perspective_project",
    "hmr_crop_project",
    "eq7_main_text",
    "full_to_cam_crop",
    "CanonicalPose",
    "canonical_pose",
    "PlacedBody",
    "place_body",
    "crop_difference",
    "SameCropScene",
    "same_crop_scene",
    "PositionExplorer",
    "draw_birds_eye",
    "draw_same_crop",
    "draw_weak_perspective",
    "equations",
    "same_crop",
    "weak_perspective",
    "fov_table",
]

#: HMR's fixed focal length f_HMR (pixels) and crop side r (pixels) of CLIFF Eq. 1.
F_HMR = 5000.0
CROP_HMR = 224.0

#: Sizes per profile: world samples for the equation checks and the weak-perspective sweep
#: (scaled by the profile), candidate poses for Fig. 1 (the most frontal upright one is used).
SIZES = scaled_presets({"samples": 64, "candidates": 16}, ("samples",))

# The world's bbox rule (CLIFF's evaluation boxes too: projected keypoints x 1.2, issue #94).
_BBOX_SCALE = 1.2

#: The two variants of Fig. 1: the body turned with its ray (upper part) or not (lower part).
MODES = ("same crop", "same rotation")


# ------------------------------------------------------------------------ equations as functions


def ray_rotation(K: torch.Tensor, center_uv: torch.Tensor) -> torch.Tensor:
    """The rotation R_ray(c) taking the optical axis (0, 0, 1) onto the ray of pixel c (the shortest one).

    The inverse of PersPose's perspective rotation (:func:`posebook.geometry.camera.perspective_rotation`);
    its angle is the angle between the ray and the optical axis, ``atan(|c - principal point| / f)``.

    Args:
        K: (..., 3, 3) intrinsics.
        center_uv: (..., 2) pixel (e.g. a bbox centre).
    Returns:
        (..., 3, 3).
    """
    return camera.perspective_rotation(K, center_uv).transpose(-1, -2)


def fit_weak_perspective(uv: torch.Tensor, joints: torch.Tensor, bbox_center: torch.Tensor,
                         bbox_size: torch.Tensor) -> torch.Tensor:
    """The least-squares weak-perspective crop camera of 2D keypoints, in closed form.

    Minimises ``sum_j || s (X_j,xy + t) - x_j ||^2`` over s and t, with x_j = (uv_j - c) / (b / 2) the
    keypoints in normalised crop coordinates: linear in (s, s t), so s is the regression slope
    ``sum (X - mean X) . (x - mean x) / sum |X - mean X|^2`` and t = mean x / s - mean X.

    Args:
        uv: (..., J, 2) keypoints, full-frame pixels.
        joints: (..., J, 3) root-relative camera-frame joints, metres (only x, y are used).
        bbox_center: (..., 2), bbox_size: (...) the square bbox, pixels.
    Returns:
        (..., 3) ``[s, t_x, t_y]``.
    """
    x = (uv - bbox_center[..., None, :]) / (0.5 * bbox_size[..., None, None])
    X = joints[..., :2]
    x_mean, X_mean = x.mean(-2, keepdim=True), X.mean(-2, keepdim=True)
    s = ((X - X_mean) * (x - x_mean)).sum((-1, -2)) / (X - X_mean).square().sum((-1, -2))
    t = x_mean[..., 0, :] / s[..., None] - X_mean[..., 0, :]
    return torch.cat((s[..., None], t), dim=-1)


def weak_perspective_project(joints: torch.Tensor, cam: torch.Tensor, bbox_center: torch.Tensor,
                             bbox_size: torch.Tensor) -> torch.Tensor:
    """Full-frame pixels of the weak-perspective crop camera: c + (b / 2) s (X_xy + t).

    Args:
        joints: (..., J, 3) root-relative camera-frame joints, metres.
        cam: (..., 3) ``[s, t_x, t_y]``.
        bbox_center: (..., 2), bbox_size: (...).
    Returns:
        (..., J, 2).
    """
    s, t = cam[..., :1, None], cam[..., None, 1:]
    return bbox_center[..., None, :] + 0.5 * bbox_size[..., None, None] * s * (joints[..., :2] + t)


def hmr_crop_project(joints: torch.Tensor, cam: torch.Tensor, bbox_center: torch.Tensor,
                     bbox_size: torch.Tensor, f_hmr: float = F_HMR, crop: float = CROP_HMR) -> torch.Tensor:
    """HMR's projection (CLIFF Eq. 1, 4) drawn in the full frame: what a crop-only loss compares.

    t_crop = [t_x, t_y, 2 f_HMR / (r s)] (Eq. 1) and the crop camera of focal f_HMR centred on the
    crop; a crop pixel u_c maps back to the full frame as c + (u_c - r / 2) b / r, so the crop
    camera is, in full-frame pixels, the pinhole of focal f_HMR b / r with principal point c.

    Args:
        joints: (..., J, 3) root-relative camera-frame joints, metres.
        cam: (..., 3) ``[s, t_x, t_y]``.
        bbox_center: (..., 2), bbox_size: (...).
        f_hmr, crop: f_HMR and r of Eq. 1.
    Returns:
        (..., J, 2) full-frame pixels.
    """
    t_crop = camera.weak_perspective_to_translation(cam, f_hmr, crop, check=False)
    K_crop = camera.intrinsics(f_hmr * bbox_size / crop, bbox_center, check=False)
    return camera.project(joints + t_crop[..., None, :], K_crop)


def eq7_main_text(cam: torch.Tensor, bbox_center: torch.Tensor, bbox_size: torch.Tensor,
                  image_size: Sequence[float], focal: torch.Tensor, f_hmr: float = F_HMR,
                  crop: float = CROP_HMR) -> torch.Tensor:
    """CLIFF Eq. 7 as the main text writes it, from HMR's t_crop (Eq. 1):
    t_X = t_X^crop + 2 c_x / (b s), t_Y likewise, t_Z = t_Z^crop (f / f_HMR) (r / b).

    (:func:`posebook.geometry.camera.cam_crop_to_full` is the supplement's Eq. 7.1 form,
    t_Z = 2 f / (b s): the two agree, f_HMR and r cancel.)

    Args:
        cam: (..., 3); bbox_center (..., 2); bbox_size (...); image_size (W, H); focal (...).
    Returns:
        (..., 3) t_full, metres.
    """
    t_crop = camera.weak_perspective_to_translation(cam, f_hmr, crop, check=False)
    c = bbox_center - 0.5 * torch.as_tensor(image_size, dtype=cam.dtype)
    bs = (bbox_size * cam[..., 0])[..., None]
    txy = t_crop[..., :2] + 2.0 * c / bs
    tz = t_crop[..., 2] * focal / f_hmr * crop / bbox_size
    return torch.cat((txy, tz[..., None]), dim=-1)


def full_to_cam_crop(t_full: torch.Tensor, bbox_center: torch.Tensor, bbox_size: torch.Tensor,
                     image_size: Sequence[float], focal: torch.Tensor | float) -> torch.Tensor:
    """CLIFF Eq. 7 inverted: the crop camera [s, t_x, t_y] that Eq. 7 maps onto ``t_full``.

    s = 2 f / (b t_Z), (t_x, t_y) = (t_X, t_Y) - 2 c / (b s), c the bbox centre relative to the
    image centre. Eq. 7 is a bijection for t_Z > 0: any full-frame translation has a crop camera,
    so a regressor predicting [s, t_x, t_y] can express the true one.

    Args:
        t_full: (..., 3) metres; bbox_center (..., 2); bbox_size (...); image_size (W, H); focal (...).
    Returns:
        (..., 3).
    """
    c = bbox_center - 0.5 * torch.as_tensor(image_size, dtype=t_full.dtype)
    s = 2.0 * focal / (bbox_size * t_full[..., 2])
    txy = t_full[..., :2] - 2.0 * c / (bbox_size * s)[..., None]
    return torch.cat((s[..., None], txy), dim=-1)


def _horizontal_focal(fov_deg: float, width: float) -> float:
    return float(camera.focal_from_fov(math.radians(fov_deg), float(width)))


def _K(focal: float, image_size: Sequence[int]) -> torch.Tensor:
    W, H = image_size
    return camera.intrinsics(torch.tensor(float(focal), dtype=torch.float64),
                             torch.tensor([W / 2.0, H / 2.0], dtype=torch.float64))


# ------------------------------------------------------------------------------- world samples


def _source(ctx: RunContext) -> tuple[str, str | None]:
    return ("cmu", str(ctx.cmu_dir)) if ctx.cmu_dir else ("procedural", None)


def _world(ctx: RunContext, size: int, body: AnnyBody | None = None, **config: Any) -> World:
    """A small world of ``size`` posed bodies (no renders), built or loaded from the default cache."""
    source, cmu_dir = _source(ctx)
    cfg = WorldConfig(size=size, seed=ctx.seed, source=source, cmu_dir=cmu_dir, render=False,
                      joint_sets=("h36m17",), **config)
    return build_world(cfg, device=ctx.device, progress=False, body=body or shared_anny_body(str(ctx.device)))


def _relative_joints(world: World) -> torch.Tensor:
    """(N, 17, 3) root-relative camera-frame H36M-17 joints, float64 (the 'predicted' J_3D)."""
    return (world.joints3d["h36m17"].double() - world.root.double()[:, None])


@dataclass
class CanonicalPose:
    """The pose of Fig. 1: one body whose camera-frame orientation R_0 is what a centred crop shows.

    Attributes:
        rotations: (31, 3, 3) float64 AnnyBody rotations; ``[0]`` is R_0, the global orientation in
            the camera frame (the body turned ``yaw_deg`` about the camera's vertical axis).
        shape: (6,) Anny phenotypes.
        sample: the sample's provenance (``cmu:<clip>#<frame>`` or ``procedural:<family>``).
        data_source: the world's data source line.
    """

    rotations: torch.Tensor
    shape: torch.Tensor
    sample: str
    data_source: str


def canonical_pose(ctx: RunContext, candidates: int = 16, yaw_deg: float = 30.0,
                   body: AnnyBody | None = None) -> CanonicalPose:
    """The most frontal upright body among ``candidates`` world samples (level camera), turned
    ``yaw_deg`` about the camera's vertical (y) axis: a body that is recognisably turned in its crop.

    Upright: the joints span more than 1.2 m vertically (falls back to all samples if none does).
    Frontal: the largest cosine between the pelvis' front and the direction to the camera.
    """
    world = _world(ctx, candidates, body, pitch_deg=0.0, roll_deg=0.0, placement_spread=0.0)
    joints = _relative_joints(world)
    upright = (joints[..., 1].amax(-1) - joints[..., 1].amin(-1)) > 1.2
    front = world.rotations[:, 0, :, 2].double()
    to_camera = -torch.nn.functional.normalize(world.root.double(), dim=-1)
    facing = (front * to_camera).sum(-1)
    facing = torch.where(upright, facing, facing - 10.0) if bool(upright.any()) else facing
    i = int(facing.argmax())
    rotations = world.rotations[i].double().clone()
    turn = roma.rotvec_to_rotmat(torch.tensor([0.0, math.radians(yaw_deg), 0.0], dtype=torch.float64))
    rotations[0] = turn @ rotations[0]
    return CanonicalPose(rotations, world.shape[i].double(), str(world.meta["source"].iloc[i]),
                         world_data_source(world))


# ---------------------------------------------------------------------------------- Fig. 1


@functools.lru_cache(maxsize=2)
def _renderer(body: AnnyBody) -> PartRenderer:
    return PartRenderer.from_body(body)


@dataclass
class PlacedBody:
    """One body placed so that its bbox is centred on ``target``, at root depth ``depth``.

    Shapes: target, bbox_center (2,) pixels; bbox_size (); rotation (3, 3) the global orientation in
    the camera frame; R_ray (3, 3) the rotation taking the optical axis onto the bbox centre's ray;
    root (3,) metres; vertices (V, 3) camera frame, metres; joints (17, 3) H36M-17 camera frame;
    K_crop (3, 3); crop (S, S, 3) uint8 and labels (S, S) int64 (part label per crop pixel, -1 on
    the background and outside the frame).
    """

    mode: str
    target: torch.Tensor
    rotation: torch.Tensor
    R_ray: torch.Tensor
    root: torch.Tensor
    vertices: torch.Tensor
    joints: torch.Tensor
    bbox_center: torch.Tensor
    bbox_size: torch.Tensor
    K_crop: torch.Tensor
    crop: torch.Tensor
    labels: torch.Tensor

    @property
    def ray_angle_deg(self) -> float:
        """Angle between the bbox-centre ray and the optical axis (deg)."""
        return math.degrees(float(roma.rotmat_to_rotvec(self.R_ray).norm()))


def place_body(body: AnnyBody, pose: CanonicalPose, K: torch.Tensor, image_size: Sequence[int],
               target: Sequence[float] | torch.Tensor, depth: float, mode: str = "same crop",
               crop_size: int = 128, iterations: int = 4) -> PlacedBody:
    """Place the canonical body so that its bbox centre lands on ``target``, root at depth ``depth``.

    "same crop": global orientation R = R_ray(c) R_0 (:func:`ray_rotation`), the body seen from the
    ray through its bbox centre c as the centred body is seen from the optical axis, so the crops
    look (nearly) the same (CLIFF Fig. 1, upper part). "same rotation": R = R_0 everywhere (Fig. 1,
    lower part), the crops differ.

    The bbox (1.2 x the extent of the projected vertices, the world's rule) depends on where the
    body is; the root's pixel is moved by the bbox centre's miss ``iterations`` times (a fixed point:
    the miss falls by about 100x per step).

    Args:
        body: the AnnyBody (cmu_mb rig).
        pose: :func:`canonical_pose`.
        K: (3, 3) full-frame intrinsics; image_size (W, H).
        target: (2,) the bbox centre wanted, pixels.
        depth: root depth Z, metres.
        mode: "same crop" or "same rotation".
        crop_size: the crop's side S, pixels.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    K = K.double()
    c = torch.as_tensor(target, dtype=torch.float64)
    R_ray = ray_rotation(K, c)
    rotations = pose.rotations.clone()
    if mode == "same crop":
        rotations[0] = R_ray @ pose.rotations[0]
    like = body.axes
    root_uv = c.clone()
    for step in range(iterations + 1):
        root = camera.unproject(root_uv[None], torch.tensor([float(depth)], dtype=torch.float64), K)[0]
        with torch.no_grad():
            out = body(rotations[None].to(like), pose.shape[None].to(like), root[None].to(like))
        vertices = out.vertices[0].detach().to("cpu", torch.float64)
        bbox_center, bbox_size = camera.bbox_from_points(camera.project(vertices, K), scale=_BBOX_SCALE)
        if step < iterations:
            root_uv = root_uv + (c - bbox_center)
    joints = joint_sets.convert_joints(out.joints, "h36m17", tails=out.bone_tails, vertices=out.vertices,
                                       body=body)[0].detach().to("cpu", torch.float64)
    K_crop = camera.crop_intrinsics(K, bbox_center, bbox_size, crop_size)
    renderer = _renderer(body)
    crop, labels = renderer(vertices[None], K_crop, (crop_size, crop_size), return_labels=True)
    # pixels of the crop outside the full frame are background, as in a zero-padded crop
    crop = blank_outside_frame(crop, bbox_center[None], bbox_size[None], tuple(image_size), renderer.background)
    labels = blank_outside_frame(labels[..., None].expand(-1, -1, -1, 3), bbox_center[None], bbox_size[None],
                                 tuple(image_size), (-1, -1, -1))[..., 0]
    return PlacedBody(mode, c, rotations[0], R_ray, root, vertices, joints, bbox_center, bbox_size, K_crop,
                      crop[0], labels[0])


def crop_difference(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """How much two part-label crops (S, S) differ: the fraction of all pixels whose label differs,
    and that fraction of the pixels where either shows the body."""
    differ = a != b
    body = (a >= 0) | (b >= 0)
    return float(differ.double().mean()), float(differ.sum()) / max(int(body.sum()), 1)


def _render_together(body: AnnyBody, placed: Sequence[PlacedBody], K: torch.Tensor,
                     image_size: Sequence[int]) -> torch.Tensor:
    """(H, W, 3) one full frame holding every placed body (one mesh, faces offset per body)."""
    renderer = _renderer(body)
    V = placed[0].vertices.shape[0]
    vertices = torch.cat([p.vertices for p in placed])[None]
    faces = torch.cat([renderer.faces + k * V for k in range(len(placed))])
    labels = renderer.face_labels.repeat(len(placed))
    return render_parts(vertices, faces, labels, K, image_size, palette=renderer.palette,
                        background=renderer.background)[0]


@dataclass
class SameCropScene:
    """Fig. 1 rebuilt: the canonical body at several bbox centres of one frame, both modes.

    Attributes:
        image_size: (W, H); K: (3, 3) with f = sqrt(W^2 + H^2) (CLIFF's default focal).
        offsets: the bbox centres' horizontal offsets from the image centre, in half-widths.
        reference: the centred body (offset 0; the same in both modes).
        placed: {mode: [PlacedBody per offset]}.
        full: {mode: (H, W, 3) uint8 frame with every body of that mode}, or empty.
        pose: the :class:`CanonicalPose`.
    """

    image_size: tuple[int, int]
    K: torch.Tensor
    offsets: tuple[float, ...]
    depth: float
    reference: PlacedBody
    placed: dict[str, list[PlacedBody]]
    full: dict[str, torch.Tensor]
    pose: CanonicalPose


def same_crop_scene(body: AnnyBody, pose: CanonicalPose, image_size: Sequence[int] = (960, 540),
                    offsets: Sequence[float] = (-0.8, -0.4, 0.0, 0.4, 0.8), depth: float = 5.0,
                    crop_size: int = 128, render_full: bool = True) -> SameCropScene:
    """Place the canonical body at ``offsets`` (half-widths, on the horizontal through the image
    centre) in both modes (:func:`place_body`) and render the full frames."""
    W, H = (int(v) for v in image_size)
    K = _K(float(camera.default_focal(torch.tensor([W, H], dtype=torch.float64))), (W, H))

    def at(offset: float, mode: str) -> PlacedBody:
        return place_body(body, pose, K, (W, H), (W / 2.0 * (1.0 + offset), H / 2.0), depth, mode, crop_size)

    reference = at(0.0, "same crop")
    placed = {mode: [at(float(o), mode) for o in offsets] for mode in MODES}
    full = {mode: _render_together(body, ps, K, (W, H)) for mode, ps in placed.items()} if render_full else {}
    return SameCropScene((W, H), K, tuple(float(o) for o in offsets), float(depth), reference, placed, full, pose)


def _scene_rows(scene: SameCropScene) -> list[dict[str, Any]]:
    W, H = scene.image_size
    f = float(scene.K[0, 0])
    rows = []
    for mode, placed in scene.placed.items():
        for offset, p in zip(scene.offsets, placed):
            info = camera.cliff_bbox_info(p.bbox_center, p.bbox_size, scene.K.new_tensor([W, H]), f)
            differ, differ_body = crop_difference(p.labels, scene.reference.labels)
            relative = p.rotation @ scene.reference.rotation.T
            rows.append({
                "variant": mode, "offset_x": offset,
                "bbox_u": float(p.bbox_center[0]), "bbox_v": float(p.bbox_center[1]),
                "bbox_px": float(p.bbox_size),
                "bbox_centre_miss_px": float((p.bbox_center - p.target).norm()),
                "ray_angle_deg": p.ray_angle_deg,
                "gamma_x_deg": math.degrees(math.atan(float(info[0]))),  # Eq. 6: tan gamma_X = c_x / f
                "gamma_y_deg": math.degrees(math.atan(float(info[1]))),
                "rotation_to_centred_deg": math.degrees(float(roma.rotmat_to_rotvec(relative).norm())),
                # the relative rotation's component about the camera's vertical axis (Fig. 1 shows yaw)
                "yaw_to_centred_deg": math.degrees(float(roma.rotmat_to_rotvec(relative)[1])),
                "crop_pixels_differing": differ, "body_pixels_differing": differ_body,
            })
    return rows


@experiment("cliff.same_crop", checks={"offsets": between(-1, 1, closed=True), "depth": positive,
                                       "yaw_deg": between(-180, 180, closed=True), "image_size": positive,
                                       "crop_size": at_least(8), "candidates": at_least(1)})
def same_crop(ctx: RunContext, offsets: tuple = (-0.8, -0.4, 0.0, 0.4, 0.8), depth: float = 5.0,
              yaw_deg: float = 30.0, image_size: tuple = (960, 540), crop_size: int = 128,
              candidates: int = 0) -> ExperimentResult:
    """CLIFF Fig. 1: one body at several places of a frame, in the 'same crop' and the 'same rotation' variant.

    The body (the most frontal upright of ``candidates`` world samples, turned ``yaw_deg``) stands
    at root depth ``depth`` with its bbox centred at ``offsets`` half-widths from the image centre
    (f = sqrt(W^2 + H^2)). 'same crop': R = R_ray(c) R_0, seen from the ray through its bbox centre c
    as the centred body is seen from the optical axis; 'same rotation': R = R_0. One row per
    (variant, offset): the bbox, the ray's angle and Eq. 6's gamma_X, gamma_Y, the global rotation's
    angle (and its yaw part) to the centred body's, and the fraction of crop pixels (of all, and of
    the body's) whose part label differs from the centred crop's.
    """
    sizes = ctx.sizes(SIZES, candidates=candidates)
    body = shared_anny_body(str(ctx.device))
    pose = canonical_pose(ctx, sizes["candidates"], yaw_deg, body)
    scene = same_crop_scene(body, pose, image_size, offsets, depth, crop_size, render_full=False)
    frame = pd.DataFrame(_scene_rows(scene))
    frame.insert(0, "sample", pose.sample)
    return ExperimentResult(frame, pose.data_source)


def draw_birds_eye(ax: Any, placed: Sequence[PlacedBody], title: str | None = None, every: int = 12,
                   half_fov: float | None = None, colors: Sequence[str] | None = None) -> None:
    """Top-down view (camera-frame x right, z forward) of placed bodies: their vertices, the camera
    ray through each bbox centre (dashed), each pelvis' facing direction (arrow) and, given
    ``half_fov`` = W / (2 f), the edges of the camera's horizontal field of view (grey)."""
    colors = list(colors or plt.rcParams["axes.prop_cycle"].by_key()["color"])
    far = max(float(p.root[2]) for p in placed) * 1.15
    ax.plot(0, 0, marker="^", color="k", ms=8, zorder=6)
    if half_fov is not None:
        for side in (-1, 1):
            ax.plot([0, side * half_fov * far], [0, far], color="0.6", lw=0.8)
    for k, p in enumerate(placed):
        color = colors[k % len(colors)]
        v = p.vertices[::every].numpy()
        ax.scatter(v[:, 0], v[:, 2], s=0.6, color=color, alpha=0.4, linewidths=0)
        ray = p.R_ray[:, 2].numpy()
        ax.plot([0, ray[0] / ray[2] * far], [0, far], color=color, lw=0.7, ls="--")
        front = p.rotation[:, 2].numpy()
        front = front / max(float(np.hypot(front[0], front[2])), 1e-9)
        x0, z0 = float(p.root[0]), float(p.root[2])
        ax.annotate("", xy=(x0 + 1.0 * front[0], z0 + 1.0 * front[2]), xytext=(x0, z0), zorder=5,
                    arrowprops=dict(arrowstyle="-|>", color=color, lw=2.0, mutation_scale=12))
    if half_fov is not None:
        ax.set_xlim(-1.05 * half_fov * far, 1.05 * half_fov * far)
    ax.set_ylim(-0.3, far)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)"), ax.set_ylabel("z (m)")
    if title:
        ax.set_title(title, fontsize=9)


def draw_same_crop(scene: SameCropScene) -> plt.Figure:
    """Fig. 1 rebuilt: per variant, the full frame with every body and its bbox, the bird's-eye
    view, and the crops with their rotation to the centred body and their pixel difference."""
    n = len(scene.offsets)
    W, H = scene.image_size
    rows, heights = [], []
    for m in range(len(MODES)):
        rows += [[f"full{m}"] * n + [f"bev{m}"] * 2, [f"crop{m}_{k}" for k in range(n)] + [f"bev{m}"] * 2]
        heights += [n * H / W, 1.15]
    fig, axes = plt.subplot_mosaic(rows, figsize=(2.3 * (n + 2.4), 2.3 * sum(heights)),
                                   gridspec_kw={"height_ratios": heights, "width_ratios": [1] * n + [1.2, 1.2]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for m, mode in enumerate(MODES):
        placed = scene.placed[mode]
        ax = axes[f"full{m}"]
        viz.show_image(ax, scene.full[mode], f"{mode}: " + ("R = R_ray(c) R_0" if m == 0 else "R = R_0 everywhere"))
        for k, p in enumerate(placed):
            viz.draw_bbox(ax, p.bbox_center, p.bbox_size, color=colors[k % len(colors)])
        draw_birds_eye(axes[f"bev{m}"], placed, "bird's-eye view (arrows: the pelvis' front)",
                       half_fov=scene.image_size[0] / (2 * float(scene.K[0, 0])))
        for k, p in enumerate(placed):
            differ, _ = crop_difference(p.labels, scene.reference.labels)
            angle = math.degrees(float(roma.rotmat_to_rotvec(p.rotation @ scene.reference.rotation.T)[1]))
            viz.show_image(axes[f"crop{m}_{k}"], p.crop, f"yaw {angle:+.1f} deg, {100 * differ:.1f}% px")
            for side in axes[f"crop{m}_{k}"].spines.values():
                side.set_visible(True), side.set_color(colors[k % len(colors)]), side.set_linewidth(2)
    fig.tight_layout()
    return fig


class PositionExplorer:
    """The canonical body moved anywhere in the frame (same-crop mode), drawn for a slider.

    ``draw(axes, offset_x, offset_y)`` fills 4 axes: the full frame with the body and its bbox, its
    crop, the centred body's crop, and the bird's-eye view of both; ``png`` returns that figure as
    PNG bytes (for an ipywidgets Output), ``grid`` a static figure at several positions.
    """

    def __init__(self, body: AnnyBody, pose: CanonicalPose, image_size: Sequence[int] = (960, 540),
                 depth: float = 5.0, crop_size: int = 128) -> None:
        self.body, self.pose, self.depth, self.crop_size = body, pose, float(depth), int(crop_size)
        self.image_size = tuple(int(v) for v in image_size)
        W, H = self.image_size
        self.K = _K(float(camera.default_focal(torch.tensor([W, H], dtype=torch.float64))), self.image_size)
        self._placed: dict[tuple[float, float], PlacedBody] = {}
        self.reference = self.place(0.0, 0.0)

    def place(self, offset_x: float, offset_y: float = 0.0) -> PlacedBody:
        """The body with its bbox centred at (offset_x W/2, offset_y H/2) from the image centre
        (computed once per position: a slider revisits positions)."""
        key = (round(float(offset_x), 6), round(float(offset_y), 6))
        if key not in self._placed:
            W, H = self.image_size
            target = (W / 2.0 * (1.0 + key[0]), H / 2.0 * (1.0 + key[1]))
            self._placed[key] = place_body(self.body, self.pose, self.K, self.image_size, target, self.depth,
                                           "same crop", self.crop_size)
        return self._placed[key]

    def draw(self, axes: Sequence[Any], offset_x: float, offset_y: float = 0.0) -> None:
        p = self.place(float(offset_x), float(offset_y))
        W, H = self.image_size
        full = _render_together(self.body, [p], self.K, self.image_size)
        viz.show_image(axes[0], full, f"bbox centre ({float(p.bbox_center[0]):.0f}, {float(p.bbox_center[1]):.0f}) px")
        viz.draw_bbox(axes[0], p.bbox_center, p.bbox_size, color="C1")
        axes[0].plot(W / 2, H / 2, "wx")
        angle = math.degrees(float(roma.rotmat_to_rotvec(p.rotation @ self.reference.rotation.T).norm()))
        differ, _ = crop_difference(p.labels, self.reference.labels)
        viz.show_image(axes[1], p.crop, f"its crop: {100 * differ:.1f}% px differ")
        viz.show_image(axes[2], self.reference.crop, "the centred body's crop")
        draw_birds_eye(axes[3], [self.reference, p], f"global rotations {angle:.1f} deg apart",
                       half_fov=W / (2 * float(self.K[0, 0])), colors=["0.45", "C1"])

    def figure(self, offset_x: float, offset_y: float = 0.0) -> plt.Figure:
        fig, axes = plt.subplots(1, 4, figsize=(12, 2.9), gridspec_kw={"width_ratios": [2.2, 1, 1, 1.3]})
        self.draw(axes, offset_x, offset_y)
        fig.tight_layout()
        return fig

    def png(self, offset_x: float, offset_y: float = 0.0, dpi: int = 72) -> bytes:
        fig = self.figure(offset_x, offset_y)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        plt.close(fig)
        return buffer.getvalue()

    def grid(self, positions: Sequence[tuple[float, float]]) -> plt.Figure:
        fig, axes = plt.subplots(len(positions), 4, figsize=(12, 2.9 * len(positions)),
                                 gridspec_kw={"width_ratios": [2.2, 1, 1, 1.3]}, squeeze=False)
        for row, (ox, oy) in zip(axes, positions):
            self.draw(row, ox, oy)
        fig.tight_layout()
        return fig


# --------------------------------------------------------------------- Eq. 1, 5-9 on real poses


def _place_joints(joints: torch.Tensor, offsets: torch.Tensor, focal: float, image_size: Sequence[int],
                  depth: torch.Tensor | float, spread: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Root-relative joints (N, J, 3) placed with the root at depth ``depth`` on the ray of pixel
    centre + spread * offsets * (W/2, H/2). Returns (root (N, 3), K (3, 3))."""
    W, H = image_size
    K = _K(focal, image_size)
    half = torch.tensor([W / 2.0, H / 2.0], dtype=torch.float64)
    root_uv = half + spread * offsets * half
    depth = torch.as_tensor(depth, dtype=torch.float64).expand(len(joints))
    root = camera.unproject(root_uv[:, None], depth[:, None], K)[:, 0]
    z = joints[..., 2] + root[:, None, 2]
    if float(z.min()) <= 0.1:
        raise ValueError(f"a root depth of {float(depth.min()):.2f} m puts a joint at z = {float(z.min()):.2f} m, "
                         "at or behind the camera (z must stay > 0.1 m); choose depths of at least ~1.5 m")
    return root, K


def _methods(joints: torch.Tensor, root: torch.Tensor, K: torch.Tensor, image_size: Sequence[int]
             ) -> tuple[dict[str, dict[str, torch.Tensor]], torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The true keypoints, the bbox, the fitted crop camera and each conversion's reprojection and
    translation (NaN where a translation has no meaning in the full camera's frame)."""
    W, H = image_size
    uv = camera.project(joints + root[:, None], K)
    center, size = camera.bbox_from_points(uv, scale=_BBOX_SCALE)
    cam = fit_weak_perspective(uv, joints, center, size)
    f = K[0, 0]
    size_wh = K.new_tensor([W, H])
    t_full = camera.cam_crop_to_full(cam, center, size, size_wh, f, check=False)
    t_centred = camera.cam_crop_to_full(cam, 0.5 * size_wh.expand_as(center), size, size_wh, f, check=False)
    nan = torch.full_like(root, math.nan)
    out = {
        "Eq. 1 (crop, f_HMR = 5000)": {"uv": hmr_crop_project(joints, cam, center, size), "t": nan},
        "Eq. 7 (full frame, true f)": {"uv": camera.project(joints + t_full[:, None], K), "t": t_full},
        "Eq. 7 without the bbox offset": {"uv": camera.project(joints + t_centred[:, None], K), "t": t_centred},
    }
    return out, uv, center, size, cam


def _settings(depths: Sequence[float], fovs: Sequence[float], spreads: Sequence[float], depth: float,
              fov_deg: float, spread: float) -> list[tuple[str, float, float, float, float]]:
    """(sweep, value, depth, fov, spread) of the three one-factor sweeps."""
    return ([("depth", float(d), float(d), fov_deg, spread) for d in depths]
            + [("fov", float(v), depth, float(v), spread) for v in fovs]
            + [("placement", float(s), depth, fov_deg, float(s)) for s in spreads])


@experiment("cliff.weak_perspective", checks={
    "depths": positive, "fovs": between(0, 180), "spreads": between(0, 1, closed=True), "depth": positive,
    "fov_deg": between(0, 180), "spread": between(0, 1, closed=True), "image_size": positive})
def weak_perspective(ctx: RunContext, depths: tuple = (1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0),
                     fovs: tuple = (30.0, 45.0, 60.0, 75.0, 90.0, 100.0), spreads: tuple = (0.0, 0.5, 1.0),
                     depth: float = 4.0, fov_deg: float = 60.0, spread: float = 0.5,
                     image_size: tuple = (1280, 720), samples: int = 0) -> ExperimentResult:
    """Eq. 1 vs Eq. 7: where weak perspective breaks, vs subject depth, field of view and placement.

    Derived (CLIFF Eq. 1; supp. Eq. 7.1-7.6): a weak-perspective crop camera [s, t_x, t_y] is an
    orthographic projection onto the plane Z = t_Z followed by a perspective one; the 2 m box at the
    root then covers b s pixels, so t_Z = 2 f / (b s) (Eq. 7.2, Eq. 1 with f_HMR and r for the crop),
    and similar triangles give the root's offset 2 c / (b s) from the crop centre's ray (Eq. 7.3-7.6).
    Exact for a body flat in depth (all joints at the root's depth, 'flat'): every conversion then
    reprojects to rounding.

    Measured: for the real 3D joints ('posed') of ``samples`` world bodies, each placed with its
    root at the depth, horizontal FOV and placement spread of a setting (one factor swept at a time,
    the others at ``depth``, ``fov_deg``, ``spread``; the same bodies and placements throughout), the
    best weak-perspective crop camera is fitted to the true keypoints (least squares, closed form),
    converted by Eq. 1 (HMR's crop camera, f = 5000, drawn in the full frame) and by Eq. 7 (the
    full-frame camera, true f; also without its bbox offset 2 c / (b s)), and the joints are
    projected back. The fitted camera is what a crop-supervised regressor learns to output; Eq. 7
    maps it onto a full-frame translation (Eq. 7 inverted from the true t would reproject exactly:
    ``cliff.equations``). One row per (sweep, value, body, method): the mean (and max) full-frame
    reprojection error (px, and % of the bbox side), the mean translation error ``|t - t_true|`` (m, and
    % of the root's distance), the mean signed depth error t_Z - Z (m; NaN for Eq. 1, whose t_crop
    belongs to HMR's virtual f = 5000 camera, not to the full one) and the fit's own residual (px).
    """
    sizes = ctx.sizes(SIZES, samples=samples)
    world = _world(ctx, sizes["samples"], placement_spread=0.0)
    posed = _relative_joints(world)
    flat = posed.clone()
    flat[..., 2] = 0.0
    offsets = 2.0 * torch.rand(len(posed), 2, generator=ctx.generator, dtype=torch.float64) - 1.0
    W = int(image_size[0])
    rows = []
    for sweep, value, d, fov, sp in _settings(depths, fovs, spreads, depth, fov_deg, spread):
        focal = _horizontal_focal(fov, W)
        for name, joints in (("posed", posed), ("flat", flat)):
            root, K = _place_joints(joints, offsets, focal, image_size, d, sp)
            methods, uv, center, size, cam = _methods(joints, root, K, image_size)
            fit = (weak_perspective_project(joints, cam, center, size) - uv).norm(dim=-1).mean(-1)
            for method, out in methods.items():
                px = (out["uv"] - uv).norm(dim=-1)  # (N, J)
                rows.append({
                    "sweep": sweep, "value": value, "depth_m": d, "fov_deg": fov, "spread": sp, "body": name,
                    "method": method, "reproj_px": float(px.mean()), "reproj_max_px": float(px.max()),
                    "reproj_bbox_pct": float((100 * px.mean(-1) / size).mean()),
                    "translation_error_m": float((out["t"] - root).norm(dim=-1).mean()),
                    "translation_error_pct": float((100 * (out["t"] - root).norm(dim=-1) / root.norm(dim=-1)).mean()),
                    "depth_error_m": float((out["t"][:, 2] - root[:, 2]).mean()),
                    "fit_residual_px": float(fit.mean()), "bbox_px": float(size.mean()), "samples": len(posed),
                })
    return ExperimentResult(pd.DataFrame(rows), world_data_source(world))


@experiment("cliff.equations", checks={"image_size": positive, "spread": between(0, 1, closed=True)})
def equations(ctx: RunContext, samples: int = 0, spread: float = 1.0, image_size: tuple = (1280, 720)
              ) -> ExperimentResult:
    """CLIFF Eq. 1, 5-9 and supp. Eq. 7.1-7.2 checked on real poses: one row per check.

    On ``samples`` world bodies (the world's depths 3-7 m and horizontal FOVs 40-80 deg, placed with
    spread ``spread`` in a frame of ``image_size`` at CLIFF's default focal f = sqrt(W^2 + H^2)),
    with the weak-perspective crop camera fitted to their keypoints. Each row: the equation, what is
    compared, the value found (max or mean over samples), the bound it must stay under and whether
    it holds, and a short ``key``; rows without a bound ('bound' NaN) are measurements, not identities.
    """
    sizes = ctx.sizes(SIZES, samples=samples)
    world = _world(ctx, sizes["samples"], placement_spread=0.0)
    posed = _relative_joints(world)
    W, H = (int(v) for v in image_size)
    size_wh = torch.tensor([W, H], dtype=torch.float64)
    focal = float(camera.default_focal(size_wh))
    g = ctx.generator
    offsets = 2.0 * torch.rand(len(posed), 2, generator=g, dtype=torch.float64) - 1.0
    depth = world.root[:, 2].double()
    root, K = _place_joints(posed, offsets, focal, (W, H), depth, spread)
    methods, uv, center, size, cam = _methods(posed, root, K, (W, H))
    t_full = methods["Eq. 7 (full frame, true f)"]["t"]
    rows: list[dict[str, Any]] = []

    def check(key: str, equation: str, what: str, value: float, bound: float = math.nan) -> None:
        rows.append({"key": key, "equation": equation, "check": what, "value": value, "bound": bound,
                     "holds": bool(value < bound) if not math.isnan(bound) else None})

    # Eq. 1: with f_HMR = 5000 the crop camera is nearly orthographic: it reprojects like the weak-perspective one
    wp = weak_perspective_project(posed, cam, center, size)
    hmr = methods["Eq. 1 (crop, f_HMR = 5000)"]["uv"]
    check("hmr_vs_weak_perspective_pct", "Eq. 1", "max |HMR crop camera - weak perspective| (% of the bbox side)",
          float((100 * (hmr - wp).norm(dim=-1).amax(-1) / size).max()), 2.0)
    t_crop = camera.weak_perspective_to_translation(cam)
    check("t_z_crop_m", "Eq. 1", "mean t_Z^crop = 2 f_HMR / (r s) (m): HMR's depth, not the subject's",
          float(t_crop[:, 2].mean()))
    check("root_depth_m", "Eq. 1", "mean true root depth Z (m)", float(root[:, 2].mean()))
    # Eq. 5-6: tan gamma = c / f is the bbox-centre ray's angle in the X-Z (Y-Z) plane
    info = camera.cliff_bbox_info(center, size, size_wh, focal)
    ray = torch.nn.functional.pad(center - size_wh / 2, (0, 1), value=focal)  # f K^-1 [u, v, 1]
    gamma_x, gamma_y = torch.atan(info[:, 0]), torch.atan(info[:, 1])
    check("gamma_x_vs_ray_deg", "Eq. 5-6", "max |atan(I_bbox[0]) - angle of the ray in the X-Z plane| (deg)",
          math.degrees(float((gamma_x - torch.atan2(ray[:, 0], ray[:, 2])).abs().max())), 1e-9)
    off_axis = torch.atan(ray[:, :2].norm(dim=-1) / focal)
    check("gamma_norm_vs_ray_angle_deg", "Eq. 6",
          "max |sqrt(gamma_X^2 + gamma_Y^2) - the ray's angle to the axis| (deg): gamma is not a rotation vector",
          math.degrees(float((torch.hypot(gamma_x, gamma_y) - off_axis).abs().max())))
    demo = camera.cliff_bbox_info(center, size, size_wh, focal, normalization="demo")
    check("bbox_info_paper_max", "Eq. 5", "max |I_bbox| (paper, plain ratios)", float(info.abs().max()))
    check("bbox_info_demo_max", "Eq. 5", "max |I_bbox| (released demo: 2.8 c / f, (b - 0.24 f) / 0.06 f)",
          float(demo.abs().max()))
    # Eq. 7 = supp. Eq. 7.1 and Eq. 7.2
    main = eq7_main_text(cam, center, size, (W, H), K[0, 0])
    check("eq7_forms_m", "Eq. 7 = supp. 7.1", "max |t (main text, via Eq. 1) - t (supp. 7.1)| (m)",
          float((main - t_full).abs().max()), 1e-9)
    check("box_2m_px", "supp. 7.2", "max |2 f / t_Z - b s| (px): the 2 m box at t_Z covers b s pixels",
          float((2 * focal / t_full[:, 2] - size * cam[:, 0]).abs().max()), 1e-6)
    # the exact case: a body flat in depth
    flat = posed.clone()
    flat[..., 2] = 0.0
    flat_methods, flat_uv, *_ = _methods(flat, root, K, (W, H))
    for key, method in (("flat_reprojection_eq1_px", "Eq. 1 (crop, f_HMR = 5000)"),
                        ("flat_reprojection_eq7_px", "Eq. 7 (full frame, true f)")):
        err = (flat_methods[method]["uv"] - flat_uv).norm(dim=-1).max()
        check(key, f"{method.split(' (')[0]}, flat body", f"max reprojection error of a flat body (px): {method}",
              float(err), 1e-6)
    check("flat_translation_m", "Eq. 7, flat body", "max |t_full - t_true| of a flat body (m)",
          float((flat_methods["Eq. 7 (full frame, true f)"]["t"] - root).norm(dim=-1).max()), 1e-9)
    # Eq. 8-9: the full-frame loss of the TRUE pose
    check("loss_full_true_t_px", "Eq. 8-9", "L_2D^full with the true t (mean px)",
          float((camera.project(posed + root[:, None], K) - uv).norm(dim=-1).mean()), 1e-9)
    for key, method, label in (
            ("loss_full_eq7_px", "Eq. 7 (full frame, true f)", "L_2D^full with t from Eq. 7 (mean px)"),
            ("loss_crop_hmr_px", "Eq. 1 (crop, f_HMR = 5000)", "L_2D^crop of HMR (Eq. 3-4), in full-frame px (mean)"),
            ("loss_full_no_offset_px", "Eq. 7 without the bbox offset",
             "L_2D^full with t from Eq. 7 without 2c/(bs) (mean px)")):
        check(key, "Eq. 8-9", label, float((methods[method]["uv"] - uv).norm(dim=-1).mean()))
    # Eq. 7 is a bijection: the crop camera of the TRUE translation makes the full-frame loss vanish,
    # while the crop loss of that same camera does not (what a crop-only loss asks the pose to absorb)
    exact = full_to_cam_crop(root, center, size, (W, H), K[0, 0])
    back = camera.cam_crop_to_full(exact, center, size, size_wh, K[0, 0])
    check("eq7_inverse_m", "Eq. 7 inverted", "max |Eq. 7 (Eq. 7^-1 (t_true)) - t_true| (m)",
          float((back - root).abs().max()), 1e-9)
    check("loss_full_inverse_px", "Eq. 8-9", "L_2D^full of the camera Eq. 7 maps onto the true t (mean px)",
          float((camera.project(posed + back[:, None], K) - uv).norm(dim=-1).mean()), 1e-6)
    check("loss_crop_inverse_px", "Eq. 8-9", "L_2D^crop (HMR) of that same camera (mean px)",
          float((hmr_crop_project(posed, exact, center, size) - uv).norm(dim=-1).mean()))
    check("translation_eq7_m", "Eq. 7", "mean |t_full - t_true| (m)", float((t_full - root).norm(dim=-1).mean()))
    t_centred = methods["Eq. 7 without the bbox offset"]["t"]
    check("translation_no_offset_m", "Eq. 7", "mean |t - t_true| without the bbox offset (m)",
          float((t_centred - root).norm(dim=-1).mean()))
    return ExperimentResult(pd.DataFrame(rows), world_data_source(world))


def draw_weak_perspective(frame: pd.DataFrame, body: str = "posed") -> plt.Figure:
    """The weak-perspective sweep (``cliff.weak_perspective``): reprojection error (% of the bbox)
    and translation error (m) per method, against depth, field of view and placement (seaborn)."""
    import seaborn as sns

    data = frame[frame["body"] == body]
    methods = list(dict.fromkeys(data["method"]))
    palette = dict(zip(methods, sns.color_palette(n_colors=len(methods))))
    markers = dict(zip(methods, ["o", "X", "s", "^", "D"][:len(methods)]))
    with_t = [m for m in methods if data.loc[data["method"] == m, "translation_error_m"].notna().any()]
    sweeps = [("depth", "subject depth Z (m)"), ("fov", "horizontal FOV (deg)"), ("placement", "placement spread")]
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.4), sharey="row")
    for col, (sweep, label) in enumerate(sweeps):
        part = data[data["sweep"] == sweep]
        for row, (metric, shown) in enumerate((("reproj_bbox_pct", methods), ("translation_error_m", with_t))):
            sns.lineplot(data=part[part["method"].isin(shown)], x="value", y=metric, hue="method", style="method",
                         hue_order=shown, style_order=shown, palette=palette, markers=markers, dashes=False,
                         ax=axes[row, col], legend=(row == 0 and col == 0))
            axes[row, col].set_yscale("log")
            axes[row, col].set_xlabel(label if row == 1 else "")
        if len(part):
            fixed = part.iloc[0]
            others = {"depth": f"FOV {fixed['fov_deg']:.0f} deg, spread {fixed['spread']:.1f}",
                      "fov": f"Z = {fixed['depth_m']:.1f} m, spread {fixed['spread']:.1f}",
                      "placement": f"Z = {fixed['depth_m']:.1f} m, FOV {fixed['fov_deg']:.0f} deg"}[sweep]
            axes[0, col].set_title(others, fontsize=9)
    axes[0, 0].set_ylabel("reprojection error (% of bbox)")
    axes[1, 0].set_ylabel("translation error (m)")
    axes[0, 0].legend(fontsize=7, title=None)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------ FOV erratum

_SIZE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")


def _image_sizes(name: str, value: Any) -> None:
    for item in value if isinstance(value, (tuple, list)) else (value,):
        m = _SIZE.match(str(item))
        if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
            raise ValueError(f"parameter {name!r} must hold image sizes written 'WxH' with W, H >= 1 pixels "
                             f"(e.g. '1920x1080'), got {item!r}")


_image_sizes.allowed = "'WxH' sizes, W, H >= 1"  # type: ignore[attr-defined]


@experiment("cliff.fov", checks={"sizes": _image_sizes, "claimed_deg": between(0, 180)})
def fov_table(ctx: RunContext, sizes: tuple = ("640x480", "1280x720", "1920x1080", "3840x2160", "1080x1920",
                                                "1000x1000", "3024x4032"),
              claimed_deg: float = 55.0) -> ExperimentResult:
    """The FOV erratum: f = sqrt(W^2 + H^2) (CLIFF Sec. 3.3) is a 53.13 deg diagonal FOV for every size.

    The diagonal FOV is 2 atan((d / 2) / f) with d = sqrt(W^2 + H^2): for f = d, 2 atan(1/2) =
    53.13 deg whatever the aspect ratio; the horizontal and vertical FOVs, 2 atan(W / 2f) and
    2 atan(H / 2f), do depend on it. One row per image size: f, the three FOVs, the paper's claim
    and the focal length that would give it (d / (2 tan(claim / 2))).
    """
    rows = []
    for item in sizes:
        W, H = (int(v) for v in _SIZE.match(str(item)).groups())
        size = torch.tensor([W, H], dtype=torch.float64)
        f = camera.default_focal(size)
        d = float(size.norm())
        g = math.gcd(W, H)
        rows.append({
            "image": f"{W}x{H}", "W": W, "H": H, "aspect": f"{W // g}:{H // g}", "focal_px": float(f),
            "diagonal_fov_deg": math.degrees(float(camera.fov(f, d))),
            "horizontal_fov_deg": math.degrees(float(camera.fov(f, float(W)))),
            "vertical_fov_deg": math.degrees(float(camera.fov(f, float(H)))),
            "claimed_diagonal_deg": float(claimed_deg),
            "focal_for_claim_px": float(camera.focal_from_fov(math.radians(claimed_deg), d)),
        })
    frame = pd.DataFrame(rows)
    frame["focal_for_claim_over_d"] = frame["focal_for_claim_px"] / np.hypot(frame["W"], frame["H"])
    return ExperimentResult(frame, "pinhole geometry (no data)")
