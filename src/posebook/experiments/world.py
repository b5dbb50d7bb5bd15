"""The synthetic world, toured: the numbers and pictures of the world notebook.

Everything is computed by :mod:`posebook.data` (world, mocap, retargeting, renderer),
:mod:`posebook.body` and :mod:`posebook.geometry`; the notebook only draws. The functions return
tensors and frames; the two registered experiments return tidy tables that state their data
source ("CMU mocap (subset: N clips, S subjects)" or "procedural poses").

Frames follow :mod:`posebook.data.world`: camera frame OpenCV (x right, y down, z forward),
pixels continuous with pixel centres at +0.5, body model frame y up (x = subject's left,
z = front); metres in tensors, millimetres and degrees in the tables.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import roma
import torch

from posebook.body import joints as joint_sets
from posebook.body.models import AnnyBody
from posebook.body.models import shared_anny_body as body_model
from posebook.data import mocap
from posebook.data.render import PartRenderer
from posebook.data.retarget import fit_anny_shape, retarget_to_anny
from posebook.data.world import World, WorldConfig, build_world, world_data_source
# The world's own sampler and crop padding, so that the tour shows exactly what the world does.
from posebook.data.world import blank_outside_frame, sample_cameras
from posebook.experiments.registry import ExperimentResult, experiment
from posebook.parameters import at_least, non_negative, one_of
from posebook.geometry import camera
from posebook.runs import RunContext

__all__ = [
    "ClipOnAnny",
    "TourSample",
    "MovedSubject",
    "body_model",
    "cmu_clips",
    "cmu_data_source",
    "cmu_clip_on_anny",
    "camera_samples",
    "placement_scatter",
    "tour_world",
    "world_data_source",
    "source_counts",
    "frontal_samples",
    "tour_sample",
    "closeup",
    "moved_subject",
    "crop_checks",
    "keypoints_on_crop",
    "joint_set_table",
    "retarget_error",
    "summary",
]


# ------------------------------------------------------------------------------------ shared


@functools.lru_cache(maxsize=2)
def _renderer(body: AnnyBody) -> PartRenderer:
    return PartRenderer.from_body(body)


def cmu_clips(cmu_dir: str | Path | None = None) -> pd.DataFrame | None:
    """The CMU clips with a skeleton (``mocap.list_cmu``) under ``cmu_dir`` or ``$POSEBOOK_CMU_DIR``.

    Returns:
        the clip table (clip, subject, trial, asf, amc, frames), or None when no CMU directory is
        configured (the world then uses procedural poses).
    Raises:
        FileNotFoundError: the configured directory does not exist or holds no usable clip.
    """
    folder = mocap.cmu_dir_from_env(cmu_dir)
    if folder is None:
        return None
    clips = mocap.list_cmu(folder)
    clips = clips[clips["asf"].notna()].reset_index(drop=True)
    if clips.empty:
        raise FileNotFoundError(f"no CMU clips under {folder}: expected <subject>_<trial>.amc files "
                                "next to their <subject>.asf skeleton")
    return clips


def cmu_data_source(clips: pd.DataFrame) -> str:
    """The data-source line of a :func:`cmu_clips` table: "CMU mocap (subset: N clips, S subjects)"."""
    return f"CMU mocap (subset: {len(clips)} clips, {clips['subject'].nunique()} subjects)"


def _world_mid_shape(config: WorldConfig) -> list[float]:
    """The phenotypes ``build_world`` retargets CMU motion onto: the middle of the config's ranges."""
    return [sum(config.gender) / 2, sum(config.age) / 2] + [sum(config.body_shape) / 2] * 4


def _frames_of(motion: mocap.Motion, frames: torch.Tensor) -> mocap.Motion:
    return dataclasses.replace(motion, local_rotations=motion.local_rotations[frames],
                               root_translation=motion.root_translation[frames],
                               positions=motion.positions[frames])


# ------------------------------------------------------------------- 1. CMU motion on Anny


@dataclass
class ClipOnAnny:
    """A few frames of a CMU clip, as captured and as retargeted onto Anny (fitted shape).

    Shapes (T frames; CMU capture frame = Anny's y-up model frame, metres):

    - frames: (T,) source frame indices (0-based, 120 fps).
    - mocap_joints: (T, 31, 3) the ASF joints (root + bone ends, ``joints.CMU31`` order).
    - anny_joints: (T, 31, 3) the same anatomical points on the posed Anny body (the
      ``cmu31`` joint set).
    - parents: (31,) ``joints.CMU31_PARENTS`` (both skeletons).
    - shape: (6,) the fitted phenotypes (``fit_anny_shape``).
    - images: (T, H, W, 3) uint8 part-coloured renders, a side view tracking the subject.
    - mocap_uv, anny_uv: (T, 31, 2) the two skeletons projected into ``images``.
    - K: (3, 3) the render camera; ``extrinsics`` (T, 4, 4) its per-frame capture frame ->
      camera frame transform.
    - distance_mm: (T, 31) ``|anny_joints - mocap_joints|``, millimetres.
    """

    clip: str
    fps: float
    frames: torch.Tensor
    mocap_joints: torch.Tensor
    anny_joints: torch.Tensor
    parents: tuple[int, ...]
    shape: torch.Tensor
    images: torch.Tensor
    mocap_uv: torch.Tensor
    anny_uv: torch.Tensor
    K: torch.Tensor
    extrinsics: torch.Tensor
    distance_mm: torch.Tensor


def _side_view(joints: torch.Tensor, facing: torch.Tensor, image_size: tuple[int, int],
               distance: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Extrinsics (T, 4, 4) and K of a camera tracking the subject from its side.

    The camera's x axis is the horizontal direction of travel over the frames (or, for motion
    in place, the subject's facing direction), so the subject moves or faces to the right; y is
    down (the y-up model frame's -y); it looks horizontally at the subject's root from
    ``distance`` metres, at the height of the middle of the joints' vertical extent, and f frames
    that extent with a 15% margin.
    """
    root = joints[:, 0]
    travel = root[-1] - root[0]
    travel = travel.new_tensor([float(travel[0]), 0.0, float(travel[2])])
    if float(travel.norm()) < 0.3:
        travel = facing.new_tensor([float(facing[0]), 0.0, float(facing[2])])
    x = travel / travel.norm()
    y = x.new_tensor([0.0, -1.0, 0.0])
    R = torch.stack([x, y, torch.linalg.cross(x, y)])  # rows: camera axes in the model frame
    low, high = float(joints[..., 1].min()), float(joints[..., 1].max())
    target = root.clone()
    target[:, 1] = 0.5 * (low + high)
    t = target.new_tensor([0.0, 0.0, distance]) - target @ R.T
    E = torch.eye(4, dtype=joints.dtype).repeat(len(root), 1, 1)
    E[:, :3, :3], E[:, :3, 3] = R, t
    W, H = image_size
    f = H * distance / (1.15 * (high - low))
    K = camera.intrinsics(torch.tensor(f, dtype=joints.dtype),
                          torch.tensor([W / 2.0, H / 2.0], dtype=joints.dtype))
    return E, K


def cmu_clip_on_anny(cmu_dir: str | Path | None = None, clip: str = "02_01", frames: int | Sequence[int] = 6,
                     start_s: float = 0.0, duration_s: float | None = None,
                     image_size: tuple[int, int] = (120, 160), fit_frames: int = 20, fit_iter: int = 20,
                     body: AnnyBody | None = None) -> ClipOnAnny:
    """A CMU clip driving Anny: mocap FK joints, retargeted Anny joints and renders of a few frames.

    The clip is read with its subject's skeleton (``mocap.load_asf_amc``), Anny's phenotypes are
    fitted to it (``retarget.fit_anny_shape``), and the frames are retargeted
    (``retarget.retarget_to_anny``) and posed; each frame is rendered part-coloured
    (``render.PartRenderer``) by a side camera that tracks the subject.

    Args:
        cmu_dir: CMU ASF/AMC folder (None: ``$POSEBOOK_CMU_DIR``).
        clip: clip id ``<subject>_<trial>``.
        frames: a number of frames evenly spaced over [start_s, start_s + duration_s], or
            explicit 0-based source frame indices.
        start_s, duration_s: the time span (seconds; duration None: to the end of the clip).
        image_size: (W, H) of each render, pixels.
        fit_frames, fit_iter: ``fit_anny_shape``'s ``max_frames`` and ``max_iter``.
        body: the AnnyBody (None: :func:`body_model`).
    Returns:
        :class:`ClipOnAnny`.
    Raises:
        FileNotFoundError: no CMU directory configured, or ``clip`` is not in it.
    """
    clips = cmu_clips(cmu_dir)
    if clips is None:
        raise FileNotFoundError("no CMU directory: pass cmu_dir=... or set POSEBOOK_CMU_DIR to the "
                                "folder of .asf/.amc files")
    row = clips[clips["clip"] == clip]
    if row.empty:
        raise FileNotFoundError(f"clip {clip!r} is not in the CMU directory; available: "
                                f"{', '.join(clips['clip'])}")
    row = row.iloc[0]
    body = body or body_model()
    motion = mocap.load_asf_amc(row["asf"], row["amc"])
    if isinstance(frames, int):
        first = min(int(round(start_s * motion.fps)), motion.num_frames - 1)
        last = motion.num_frames - 1 if duration_s is None else min(
            motion.num_frames - 1, first + int(round(duration_s * motion.fps)))
        index = torch.linspace(first, last, frames).round().long()
    else:
        index = torch.as_tensor(list(frames), dtype=torch.long)
        if int(index.min()) < 0 or int(index.max()) >= motion.num_frames:
            raise ValueError(f"frames must lie in [0, {motion.num_frames}) for clip {clip}")
    shape = fit_anny_shape(motion, body, max_frames=fit_frames, max_iter=fit_iter)
    part = _frames_of(motion, index)
    target = retarget_to_anny(part, body, shape=shape)
    like = body.axes
    with torch.no_grad():
        posed = body(target.rotations.to(like), shape.expand(len(index), -1),
                     target.root_translation.to(like))
        anny = joint_sets.convert_joints(posed.joints, "cmu31", tails=posed.bone_tails).double().cpu()
    mocap_joints = part.positions
    facing = motion.global_rotations[index[0], 0, :, 2]  # the root's z axis = the subject's front
    E, K = _side_view(mocap_joints, facing, image_size, distance=4.0)
    verts = posed.vertices.detach().double().cpu()
    verts_cam = verts @ E[:, :3, :3].transpose(1, 2) + E[:, None, :3, 3]

    def to_image(points: torch.Tensor) -> torch.Tensor:
        return camera.project(points @ E[:, :3, :3].transpose(1, 2) + E[:, None, :3, 3], K)

    images = _renderer(body)(verts_cam, K, image_size)
    return ClipOnAnny(
        clip=clip, fps=motion.fps, frames=index, mocap_joints=mocap_joints, anny_joints=anny,
        parents=joint_sets.CMU31_PARENTS, shape=shape.detach().double().cpu(), images=images,
        mocap_uv=to_image(mocap_joints), anny_uv=to_image(anny), K=K, extrinsics=E,
        distance_mm=1000.0 * (anny - mocap_joints).norm(dim=-1),
    )


@experiment("world.retarget_error", checks={"fit_frames": at_least(1), "fit_iter": at_least(1)})
def retarget_error(ctx: RunContext, frames: int = 0, clips_per_subject: int = 0, fit_frames: int = 20,
                   fit_iter: int = 20, clips: tuple = ()) -> ExperimentResult:
    """Per CMU clip: mean distance between the mocap joints and the retargeted Anny joints, per shape.

    For each clip, ``frames`` frames (0: 60 at the quick profile, scaled by the profile) evenly spaced over the clip are
    retargeted (``retarget_to_anny``) onto three Anny shapes: anny's default phenotypes, the
    middle of the world's phenotype ranges (what ``build_world`` uses for every CMU sample), and
    the shape fitted to the clip (``fit_anny_shape`` on ``fit_frames`` frames, ``fit_iter``
    L-BFGS iterations). The distance is taken at Anny's 31 bone heads against the CMU points at
    the same anatomical places (``RetargetedMotion.mocap_joints``), the quantity the fit
    minimises. Bone directions match exactly, so the distance is all bone-length and
    joint-placement mismatch. Clips: the first ``clips_per_subject`` (0: 2 at the quick profile, scaled by the profile;
    quick: 2, full: all in the subset) of every subject in trial order, or the ids in ``clips``.

    Without a CMU directory the table has one row with a ``note`` saying so.
    """
    table = cmu_clips(ctx.cmu_dir)
    if table is None:
        note = ("no CMU directory configured (set POSEBOOK_CMU_DIR or pass cmu_dir=...): "
                "retargeting needs CMU mocap, so this table is empty")
        return ExperimentResult(pd.DataFrame({"note": [note]}), data_source="none (no CMU mocap found)")
    if clips:
        missing = sorted(set(clips) - set(table["clip"]))
        if missing:
            raise ValueError(f"clips {missing} are not in {ctx.cmu_dir}; available: {', '.join(table['clip'])}")
        table = table[table["clip"].isin(clips)].reset_index(drop=True)
    else:
        table = table.groupby("subject", sort=False).head(ctx.size(clips_per_subject, quick=2)).reset_index(drop=True)
    body = body_model(str(ctx.device))
    like = body.axes
    shapes_fixed = {"anny default": body.default_shape(1)[0],
                    "world (mid-range)": like.new_tensor(_world_mid_shape(WorldConfig()))}
    rows = []
    for row in table.itertuples():
        motion = mocap.load_asf_amc(row.asf, row.amc)
        n = min(ctx.size(frames, quick=60), motion.num_frames)
        part = _frames_of(motion, torch.linspace(0, motion.num_frames - 1, n).round().long())
        fitted = fit_anny_shape(motion, body, max_frames=fit_frames, max_iter=fit_iter)
        for name, shape in {**shapes_fixed, "fitted": fitted}.items():
            target = retarget_to_anny(part, body, shape=shape)
            dist = 1000.0 * (target.joints - target.mocap_joints).norm(dim=-1)  # (n, 31) mm
            per_joint = dist.mean(dim=0)
            phen = dict(zip(body.shape_names, shape.detach().double().cpu().tolist()))
            rows.append({"clip": row.clip, "frames_total": motion.num_frames, "frames_used": n,
                         "shape": name, "mean_mm": float(dist.mean()),
                         "p95_mm": float(torch.quantile(dist.flatten(), 0.95)), "max_mm": float(dist.max()),
                         "worst_joint": joint_sets.ANNY_CMU_MB[int(per_joint.argmax())],
                         "worst_joint_mm": float(per_joint.max()),
                         **{f"phen_{k}": v for k, v in phen.items()}})
    return ExperimentResult(pd.DataFrame(rows), data_source=cmu_data_source(table))


# ------------------------------------------------------------------ 2-3. cameras, placement


def camera_samples(n: int = 2000, seed: int = 0, config: WorldConfig | None = None) -> pd.DataFrame:
    """``n`` draws of the world's camera and placement sampler (no bodies, no poses).

    The sampler of ``build_world`` (horizontal FOV, f = (W/2) / tan(FOV/2), root depth, the root's
    pixel ``principal point + spread * (a W/2, b H/2)``, heading, pitch, roll) with a generator
    seeded by ``seed``; a world built from the same config draws from the same distribution
    (its own draws come after its poses').

    Returns:
        one row per draw: fov_deg (horizontal), fov_v_deg, focal_px, depth_m, yaw_deg,
        pitch_deg, roll_deg, root_u, root_v (pixels), ray_angle_deg (angle between the root's
        ray and the optical axis: the rotation PersPose's PR would undo for a bbox centred on
        the root).
    """
    config = dataclasses.replace(config or WorldConfig(), size=n)
    config.validate()
    cams = sample_cameras(config, torch.Generator().manual_seed(seed))
    root, K = cams["root"], cams["K"]
    uv = camera.project(root[:, None], K)[:, 0]
    W, H = config.image_size
    f = K[:, 0, 0]
    ray_angle = torch.atan2(root[:, :2].norm(dim=-1), root[:, 2])
    return pd.DataFrame({
        "fov_deg": torch.rad2deg(cams["fov"]).numpy(),
        "fov_v_deg": torch.rad2deg(camera.fov(f, torch.full_like(f, float(H)))).numpy(),
        "focal_px": f.numpy(), "depth_m": cams["depth"].numpy(),
        "yaw_deg": torch.rad2deg(cams["yaw"]).numpy(), "pitch_deg": torch.rad2deg(cams["pitch"]).numpy(),
        "roll_deg": torch.rad2deg(cams["roll"]).numpy(),
        "root_u": uv[:, 0].numpy(), "root_v": uv[:, 1].numpy(),
        "ray_angle_deg": torch.rad2deg(ray_angle).numpy(),
    })


def placement_scatter(spreads: Sequence[float] = (0.0, 0.5, 1.0), n: int = 500, seed: int = 0,
                      config: WorldConfig | None = None) -> pd.DataFrame:
    """Root pixel positions for several ``placement_spread`` values, same draws for every spread.

    Returns:
        :func:`camera_samples` rows with a ``spread`` column first; the same ``seed`` for every
        spread, so row k differs between spreads only by how far the root is pushed off-centre.
    """
    base = config or WorldConfig()
    parts = [camera_samples(n, seed, dataclasses.replace(base, placement_spread=float(s))).assign(spread=float(s))
             for s in spreads]
    frame = pd.concat(parts, ignore_index=True)
    return frame[["spread"] + [c for c in frame.columns if c != "spread"]]


# ------------------------------------------------------------------------ 4-6. the tour world


def tour_world(ctx: RunContext, size: int = 0, spread: float = 0.5, source: str = "auto",
               body: AnnyBody | None = None) -> World:
    """The world the notebook tours: default config, ``size`` samples (0: 48 at the quick profile, scaled by the profile),
    full frames rendered, built or loaded from the default cache (``build_world``), quietly.

    Args:
        ctx: run context (seed, device, CMU directory).
        size: samples at the quick profile.
        spread: ``placement_spread``.
        source: "auto" (CMU when ``ctx.cmu_dir`` is set), "cmu" or "procedural".
        body: the AnnyBody (None: :func:`body_model`).
    """
    config = WorldConfig(size=ctx.size(size, quick=48), seed=ctx.seed, source=source,
                         cmu_dir=str(ctx.cmu_dir) if ctx.cmu_dir else None,
                         placement_spread=float(spread), render_full=True)
    return build_world(config, device=ctx.device, progress=False,
                       body=body or body_model(str(ctx.device)))


def source_counts(world: World) -> pd.DataFrame:
    """Samples per pose source: per subject and clip (CMU) or per family (procedural)."""
    meta = world.meta
    if world.resolved_source == "cmu":
        counts = meta.groupby(["subject", "clip"]).size().rename("samples").reset_index()
        key = counts["subject"].map(lambda s: (len(s), s))
        return counts.iloc[np.lexsort((counts["clip"], key))].reset_index(drop=True)
    counts = meta["family"].value_counts().rename("samples").rename_axis("family").reset_index()
    return counts.sort_values(["samples", "family"], ascending=[False, True], ignore_index=True)


def frontal_samples(world: World, min_bbox_px: float | None = None) -> list[int]:
    """Sample indices whose bbox lies inside the image and is at least ``min_bbox_px`` (None: the
    world's median bbox side), the subject facing the camera most directly first.

    Facing: the cosine between the pelvis' front (the camera-frame root orientation applied to
    the model frame's +z) and the direction from the root to the camera.
    """
    front = world.rotations[:, 0, :, 2].double()
    to_camera = -torch.nn.functional.normalize(world.root.double(), dim=-1)
    facing = (front * to_camera).sum(-1)
    W, H = world.image_size
    half = world.bbox_size.double()[:, None] / 2
    lo, hi = world.bbox_center.double() - half, world.bbox_center.double() + half
    size = world.bbox_size.double()
    big = size >= (size.median() if min_bbox_px is None else min_bbox_px)
    inside = (lo >= 0).all(-1) & (hi[:, 0] <= W) & (hi[:, 1] <= H) & big
    order = torch.argsort(facing, descending=True).tolist()
    return [i for i in order if bool(inside[i])]


@dataclass
class TourSample:
    """Everything needed to draw one world sample.

    Shapes: image_full (H, W, 3), image_crop (S, S, 3) uint8 (the world's renders); K, K_crop
    (3, 3); bbox_center (2,), bbox_size () full-frame pixels; keypoints / keypoints_crop
    {set: (J, 2)} the 3D joints projected with K / K_crop; joints3d {set: (J, 3)} camera frame,
    metres; meta: the sample's provenance row.
    """

    index: int
    crop_size: int
    image_full: torch.Tensor | None
    image_crop: torch.Tensor | None
    K: torch.Tensor
    K_crop: torch.Tensor
    bbox_center: torch.Tensor
    bbox_size: torch.Tensor
    joints3d: dict[str, torch.Tensor]
    keypoints: dict[str, torch.Tensor]
    keypoints_crop: dict[str, torch.Tensor]
    meta: dict[str, Any]

    @property
    def crop_transform(self) -> torch.Tensor:
        """(3, 3) the affine map A from full-frame to crop pixels (PersPose Eq. 3, corrected)."""
        return camera.crop_transform(self.bbox_center, self.bbox_size, self.crop_size)


def tour_sample(world: World, i: int) -> TourSample:
    """Sample ``i`` of ``world``: its renders, cameras, bbox and keypoints of every joint set."""
    if not -len(world) <= i < len(world):
        raise IndexError(f"sample {i} is out of range for a world of {len(world)} samples")
    j3d = {s: v[i].double() for s, v in world.joints3d.items()}
    K, K_crop = world.K[i].double(), world.K_crop[i].double()
    return TourSample(
        index=int(world.meta["sample"].iloc[i]), crop_size=world.crop_size,
        image_full=None if world.images_full is None else world.images_full[i],
        image_crop=None if world.images_crop is None else world.images_crop[i],
        K=K, K_crop=K_crop, bbox_center=world.bbox_center[i].double(),
        bbox_size=world.bbox_size[i].double(), joints3d=j3d,
        keypoints={s: world.keypoints2d[s][i].double() for s in j3d},
        keypoints_crop={s: camera.project(v, K_crop) for s, v in j3d.items()},
        meta=world.meta.iloc[i].to_dict(),
    )


def _pose(world: World, i: int, root: torch.Tensor | None, body: AnnyBody
          ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Camera-frame vertices (V, 3) and joints {set: (J, 3)} of sample i, optionally re-rooted."""
    like = body.axes
    root = world.root[i] if root is None else root
    with torch.no_grad():
        out = body(world.rotations[i:i + 1].to(like), world.shape[i:i + 1].to(like), root[None].to(like))
        verts = out.vertices
        j3d = {s: joint_sets.convert_joints(out.joints, s, tails=out.bone_tails, vertices=verts,
                                            body=body)[0].double().cpu() for s in world.joints3d}
    return verts[0].double().cpu(), j3d


def closeup(world: World, i: int, size: int = 192, body: AnnyBody | None = None
            ) -> tuple[torch.Tensor, dict[str, torch.Tensor], float]:
    """Sample ``i`` re-posed (``AnnyBody()(rotations, shape, root)``) and rendered through its bbox
    at ``size`` x ``size`` pixels (``crop_intrinsics(K, bbox, size)``: the world's crop, sharper).

    Returns:
        image (size, size, 3) uint8, keypoints {set: (J, 2)} in that image, and the largest
        distance (pixels of the full frame) between the re-posed keypoints and the stored
        ``world.keypoints2d``: the check that the world's tensors reproduce its bodies.
    """
    body = body or body_model()
    verts, j3d = _pose(world, i, None, body)
    K = world.K[i].double()
    K_big = camera.crop_intrinsics(K, world.bbox_center[i].double(), world.bbox_size[i].double(), size)
    image = _renderer(body)(verts[None], K_big, (size, size))[0]
    stored = max(float((camera.project(v, K) - world.keypoints2d[s][i].double()).abs().max())
                 for s, v in j3d.items())
    return image, {s: camera.project(v, K_big) for s, v in j3d.items()}, stored


@dataclass
class MovedSubject:
    """One posed body moved to another image position, re-rendered as the world would.

    Shapes: image_full (H, W, 3), image_crop (S, S, 3) uint8; K, K_crop (3, 3); root (3,)
    camera frame, metres; root_uv (2,); bbox_center (2,), bbox_size (); keypoints /
    keypoints_crop (J, 2) of ``joint_set``; bbox_info (3,) CLIFF's I_bbox (Eq. 5, paper
    normalisation); pr_angle_deg: PersPose's PR angle for the bbox centre (Eq. 12-15).
    """

    offset: tuple[float, float]
    image_full: torch.Tensor
    image_crop: torch.Tensor
    K: torch.Tensor
    K_crop: torch.Tensor
    root: torch.Tensor
    root_uv: torch.Tensor
    bbox_center: torch.Tensor
    bbox_size: torch.Tensor
    keypoints: torch.Tensor
    keypoints_crop: torch.Tensor
    bbox_info: torch.Tensor
    pr_angle_deg: float


def moved_subject(world: World, i: int, offset_x: float = 0.0, offset_y: float = 0.0,
                  joint_set: str = "h36m17", body: AnnyBody | None = None) -> MovedSubject:
    """Sample ``i``'s body moved so that its root projects at ``principal point + (offset_x W/2,
    offset_y H/2)``, same depth and same camera-frame orientation, re-rendered like the world.

    The bbox (``bbox_scale`` x the extent of the projected vertices and keypoints of the world's
    joint sets), ``K_crop = crop_intrinsics(K, bbox, crop_size)``, the crop render with pixels
    outside the frame set to background, and the full frame follow ``build_world`` exactly.
    Keeping the camera-frame orientation while translating the body changes the direction it is
    seen from: the crop changes although the body does not (CLIFF's and PersPose's point).

    Args:
        world: a world (its config gives image size, crop size, bbox scale).
        i: the sample.
        offset_x, offset_y: root position in half-image units (0: principal point, +-1: border).
        joint_set: the set whose keypoints are returned.
        body: the AnnyBody (None: :func:`body_model`).
    """
    if joint_set not in world.joints3d:
        raise ValueError(f"joint set {joint_set!r} is not in this world; it has {list(world.joints3d)}")
    body = body or body_model()
    config = world.config
    W, H = config.image_size
    S = config.crop_size
    K = world.K[i].double()
    centre = K[:2, 2]
    root_uv = centre + K.new_tensor([offset_x, offset_y]) * K.new_tensor([W / 2.0, H / 2.0])
    root = camera.unproject(root_uv[None], world.root[i, 2:].double(), K)[0]
    verts, j3d = _pose(world, i, root, body)
    uv_all = torch.cat([camera.project(verts, K)] + [camera.project(v, K) for v in j3d.values()])
    bbox_center, bbox_size = camera.bbox_from_points(uv_all, scale=config.bbox_scale)
    K_crop = camera.crop_intrinsics(K, bbox_center, bbox_size, S)
    renderer = _renderer(body)
    crop = renderer(verts[None], K_crop, (S, S))
    if config.pad_outside:
        crop = blank_outside_frame(crop, bbox_center[None], bbox_size[None], (W, H), renderer.background)
    full = renderer(verts[None], K, (W, H))[0]
    R_pr = camera.perspective_rotation(K, bbox_center)
    return MovedSubject(
        offset=(float(offset_x), float(offset_y)), image_full=full, image_crop=crop[0], K=K,
        K_crop=K_crop, root=root, root_uv=camera.project(root[None], K)[0], bbox_center=bbox_center,
        bbox_size=bbox_size, keypoints=camera.project(j3d[joint_set], K),
        keypoints_crop=camera.project(j3d[joint_set], K_crop),
        bbox_info=camera.cliff_bbox_info(bbox_center, bbox_size, K.new_tensor([W, H]), K[0, 0]),
        pr_angle_deg=math.degrees(float(roma.rotmat_to_rotvec(R_pr).norm())),
    )


def crop_checks(world: World, repose: int = 8, body: AnnyBody | None = None) -> dict[str, float]:
    """Largest errors of three identities over the world's samples (pixels unless stated).

    - ``crop_vs_K_crop``: ``|A project(X, K) - project(X, K_crop)|`` over every sample and joint set,
      A = ``camera.crop_transform(bbox)`` (PersPose Eq. 3-4: cropping is a camera).
    - ``f_ratio``: ``|f_crop / f - crop_size / bbox_size|`` (unitless).
    - ``repose``: ``|project(joints of AnnyBody()(rotations, shape, root), K) - keypoints2d|`` over
      the first ``repose`` samples: the stored tensors reproduce the stored keypoints.
    """
    K, K_crop = world.K.double(), world.K_crop.double()
    A = camera.crop_transform(world.bbox_center.double(), world.bbox_size.double(), world.crop_size)
    crop = max(float((camera.apply_homography(A, uv.double()) - camera.project(
        world.joints3d[name].double(), K_crop)).abs().max()) for name, uv in world.keypoints2d.items())
    f_ratio = float((K_crop[:, 0, 0] / K[:, 0, 0] - world.crop_size / world.bbox_size.double()).abs().max())
    body = body or body_model()
    repose_px = 0.0
    for i in range(min(repose, len(world))):
        _, j3d = _pose(world, i, None, body)
        repose_px = max(repose_px, max(float((camera.project(v, K[i]) - world.keypoints2d[s][i].double())
                                             .abs().max()) for s, v in j3d.items()))
    return {"crop_vs_K_crop": crop, "f_ratio": f_ratio, "repose": repose_px}


def keypoints_on_crop(world: World, tolerance_px: int = 1) -> pd.DataFrame:
    """Do keypoints projected with ``K_crop`` land on the body in the world's rendered crops?

    For every joint set, the keypoints ``project(joints3d, K_crop)`` that fall inside the crop
    and inside the full frame (crop pixels outside it are blanked), and the fraction of them
    whose crop pixel, or one within ``tolerance_px`` pixels, shows the body (is not background).
    Bone heads lie inside the mesh, so their rays cross the body's surface: the fraction is 1 up
    to thin parts (wrists, toes) narrower than a pixel of a 64-pixel crop.

    Returns:
        one row per joint set: set, keypoints (counted), on_body (fraction).
    """
    if world.images_crop is None:
        raise ValueError("this world has no crop renders: build it with render=True")
    S = world.crop_size
    W, H = world.image_size
    body = (world.images_crop.sum(dim=-1) > 0).float()[:, None]  # (N, 1, S, S)
    k = 2 * tolerance_px + 1
    near = torch.nn.functional.max_pool2d(body, k, stride=1, padding=tolerance_px)[:, 0] > 0
    rows = []
    for name, j3d in world.joints3d.items():
        uv = camera.project(j3d.double(), world.K_crop.double())
        full = world.keypoints2d[name].double()
        valid = ((uv >= 0) & (uv < S)).all(-1) & (full[..., 0] >= 0) & (full[..., 0] < W) \
            & (full[..., 1] >= 0) & (full[..., 1] < H)
        col, row = uv[..., 0].floor().long().clamp(0, S - 1), uv[..., 1].floor().long().clamp(0, S - 1)
        hit = near[torch.arange(len(world))[:, None], row, col]
        rows.append({"set": name, "keypoints": int(valid.sum()),
                     "on_body": float(hit[valid].double().mean()) if valid.any() else math.nan})
    return pd.DataFrame(rows)


def joint_set_table() -> pd.DataFrame:
    """One row per joint set: its joints and what they are made of on Anny (``joints.JOINT_SETS``)."""
    rows = []
    for spec in joint_sets.JOINT_SETS.values():
        kinds = [p.split(":")[0] for terms in spec.points for p, _ in terms]
        made = ", ".join(f"{kinds.count(k)} {label}" for k, label in
                         (("head", "bone heads"), ("tail", "bone tails"), ("coco", "COCO surface keypoints"))
                         if kinds.count(k))
        rows.append({"set": spec.name, "joints": spec.num_joints, "edges drawn": len(spec.edges),
                     "made of (Anny)": made, "what it is": spec.description})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- 8. summary


def _build_seconds(world: World) -> float:
    """Seconds the world took to build: its own timings, or, when loaded from the cache, the
    timings recorded in the cache's JSON when it was built."""
    if world.loaded_from_cache and world.cache_path is not None:
        record = json.loads(world.cache_path.with_suffix(".json").read_text())
        return float(sum(record.get("timings", {}).values()))
    return float(sum(world.timings.values()))


@experiment("world.summary", checks={"spreads": non_negative, "source": one_of("auto", "cmu", "procedural")})
def summary(ctx: RunContext, size: int = 0, spreads: tuple = (0.0, 0.5, 1.0),
            source: str = "auto") -> ExperimentResult:
    """A small world per placement spread: what is in it, its cameras, bboxes and visibility.

    One world of ``size`` samples (0: 96 at the quick profile, scaled by the profile) per ``spread``, same seed: the same
    poses, shapes and cameras, only the root pushed further off-centre. Rows (spread, group,
    quantity, value): sample counts per source, subject, clip count, family; horizontal FOV and
    root depth ranges; bbox side (median, 10th/90th percentiles) and the fraction of bboxes fully
    inside the image; per joint set the fraction of keypoints inside the image; the median and
    largest PersPose PR angle (bbox-centre ray vs optical axis); the build time (from the cache
    record when the world was loaded from it) and whether it was cached.
    """
    body = body_model(str(ctx.device))
    rows: list[dict[str, Any]] = []
    world = None
    for spread in spreads:
        config = WorldConfig(size=ctx.size(size, quick=96), seed=ctx.seed, source=source,
                             cmu_dir=str(ctx.cmu_dir) if ctx.cmu_dir else None,
                             placement_spread=float(spread), render=False)
        tic = time.perf_counter()
        world = build_world(config, device=ctx.device, progress=False, body=body)
        wall = time.perf_counter() - tic
        W, H = world.image_size
        meta = world.meta

        def add(group: str, quantity: str, value: float) -> None:
            rows.append({"spread": float(spread), "group": group, "quantity": quantity, "value": float(value)})

        add("samples", "total", len(world))
        if world.resolved_source == "cmu":
            for subject, count in sorted(meta["subject"].value_counts().items(), key=lambda kv: (len(kv[0]), kv[0])):
                add("subject", f"subject {subject}", count)
            add("clips", "distinct clips", meta["clip"].nunique())
        else:
            for family, count in sorted(meta["family"].value_counts().items()):
                add("family", family, count)
        add("camera", "horizontal FOV min (deg)", meta["fov_deg"].min())
        add("camera", "horizontal FOV max (deg)", meta["fov_deg"].max())
        add("camera", "root depth min (m)", meta["depth"].min())
        add("camera", "root depth max (m)", meta["depth"].max())
        size_px = world.bbox_size.double()
        add("bbox", "side median (px)", size_px.median())
        add("bbox", "side p10 (px)", torch.quantile(size_px, 0.1))
        add("bbox", "side p90 (px)", torch.quantile(size_px, 0.9))
        add("bbox", "fully inside image (fraction)", world.summary()["bbox_inside_image_frac"])
        for name, uv in world.keypoints2d.items():
            inside = (uv[..., 0] >= 0) & (uv[..., 0] <= W) & (uv[..., 1] >= 0) & (uv[..., 1] <= H)
            add("keypoints", f"{name} inside image (fraction)", inside.double().mean())
        R_pr = camera.perspective_rotation(world.K.double(), world.bbox_center.double())
        angle = torch.rad2deg(roma.rotmat_to_rotvec(R_pr).norm(dim=-1))
        add("perspective", "PR angle median (deg)", angle.median())
        add("perspective", "PR angle max (deg)", angle.max())
        add("build", "build time (s)", _build_seconds(world))
        add("build", "this call (s)", wall)
        add("build", "loaded from cache", world.loaded_from_cache)
    data_source = world_data_source(world) if world is not None else "no world (spreads is empty)"
    return ExperimentResult(pd.DataFrame(rows), data_source=data_source)
