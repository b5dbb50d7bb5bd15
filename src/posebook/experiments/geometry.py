"""Shared-geometry experiments: the numbers and figures of the geometry notebook.

Everything is computed by :mod:`posebook.geometry` and :mod:`posebook.body`; the notebook only draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from posebook.body import kinematics
from posebook.body.models import AnnyBody
from posebook.body.skeletons import MODEL_TO_CAMERA
from posebook.experiments.registry import ExperimentResult, experiment
from posebook.parameters import between, positive
from posebook.geometry import camera
from posebook.geometry.rotations import (
    euler_to_matrix,
    geodesic_distance,
    gram_schmidt,
    matrix_from_6d,
    random_rotation,
    svd_orthogonalize,
)
from posebook.metrics import angle_error
from posebook.runs import RunContext

#: Anny's y-up body frame -> OpenCV camera frame, as in the world (a subject with yaw 0 faces the camera).
BODY_TO_CAMERA = torch.tensor(MODEL_TO_CAMERA, dtype=torch.float64)


@dataclass
class CameraScene:
    """One subject seen by one full-frame camera, with its crop, CLIFF and PersPose quantities.

    Shapes: ``joints_cam`` (J, 3) metres (OpenCV camera frame); ``uv``/``uv_crop``/``uv_pr`` (J, 2)
    pixels; ``K``/``K_crop``/``R_pr``/``H_pr`` (3, 3); ``pe_map`` (2, crop/4, crop/4).
    """

    image_size: tuple[int, int]
    crop_size: int
    parents: list[int]
    K: torch.Tensor
    joints_cam: torch.Tensor
    uv: torch.Tensor
    bbox_center: torch.Tensor
    bbox_size: torch.Tensor
    K_crop: torch.Tensor
    uv_crop: torch.Tensor
    bbox_info: torch.Tensor
    bbox_info_demo: torch.Tensor
    pe_map: torch.Tensor
    R_pr: torch.Tensor
    H_pr: torch.Tensor
    uv_pr: torch.Tensor

    @property
    def fov_deg(self) -> tuple[float, float]:
        f = self.K[0, 0]
        return tuple(math.degrees(float(camera.fov(f, s))) for s in self.image_size)  # type: ignore[return-value]


def rest_skeleton(body: AnnyBody | None = None) -> tuple[torch.Tensor, list[int]]:
    """Anny's adult rest-pose joints (31 cmu_mb bone heads, y-up body frame, metres) and parents."""
    body = body or AnnyBody(dtype=torch.float64)
    adult = {"age": 0.8, "height": 0.6}
    joints = body.rest_joints(adult)[0].to(torch.float64)
    return joints - joints[0], list(body.parents)


def camera_scene(joints_body: torch.Tensor, parents: list[int], *, offset: tuple[float, float] = (0.6, 0.2),
                 depth: float = 5.0, yaw_deg: float = 30.0, image_size: tuple[int, int] = (640, 480),
                 focal: float | None = None, crop_size: int = 256, stride: int = 4) -> CameraScene:
    """Place a body in front of a camera and compute every quantity the geometry notebook draws.

    ``offset`` is where the root projects, as a fraction of the half-image (0 = principal point,
    1 = image border). ``focal`` defaults to CLIFF's sqrt(W^2 + H^2).
    """
    W, H = image_size
    f = float(camera.default_focal(torch.tensor(image_size, dtype=torch.float64))) if focal is None else focal
    K = camera.intrinsics(torch.tensor(f, dtype=torch.float64), torch.tensor([W / 2, H / 2], dtype=torch.float64))
    yaw = euler_to_matrix(torch.tensor([0.0, math.radians(yaw_deg), 0.0], dtype=torch.float64), "xyz")
    root_uv = torch.tensor([W / 2 * (1 + offset[0]), H / 2 * (1 + offset[1])], dtype=torch.float64)
    root = camera.unproject(root_uv[None], torch.tensor([depth], dtype=torch.float64), K)[0]
    joints_cam = (joints_body.to(torch.float64) @ (BODY_TO_CAMERA @ yaw).T) + root
    uv = camera.project(joints_cam, K)
    center, size = camera.bbox_from_points(uv, scale=1.2)
    K_crop = camera.crop_intrinsics(K, center, size, crop_size)
    size_wh = torch.tensor(image_size, dtype=torch.float64)
    R_pr = camera.perspective_rotation(K, center)
    H_pr = camera.perspective_homography(K, R_pr)
    return CameraScene(
        image_size=image_size, crop_size=crop_size, parents=parents, K=K, joints_cam=joints_cam, uv=uv,
        bbox_center=center, bbox_size=size, K_crop=K_crop, uv_crop=camera.project(joints_cam, K_crop),
        bbox_info=camera.cliff_bbox_info(center, size, size_wh, f),
        bbox_info_demo=camera.cliff_bbox_info(center, size, size_wh, f, normalization="demo"),
        pe_map=camera.perspective_encoding(K_crop, crop_size, crop_size, stride),
        R_pr=R_pr, H_pr=H_pr, uv_pr=camera.apply_homography(H_pr, uv),
    )


def bbox_info_table(joints_body: torch.Tensor, parents: list[int],
                    offsets: tuple[float, ...] = (-0.8, -0.4, 0.0, 0.4, 0.8), **scene_kw) -> pd.DataFrame:
    """CLIFF Eq. 5 bbox info and PersPose's PR angle for one body slid across the image.

    Two crops that look alike (the same body, the same bbox size) get different I_bbox: the
    information a crop-only model cannot see.
    """
    rows = []
    for off in offsets:
        s = camera_scene(joints_body, parents, offset=(off, 0.0), **scene_kw)
        pr_angle = math.degrees(float(geodesic_distance(s.R_pr, torch.eye(3, dtype=s.R_pr.dtype))))
        rows.append({"root offset (x half-width)": off, "bbox cx (px)": float(s.bbox_center[0]),
                     "bbox size (px)": float(s.bbox_size), "I_bbox x": float(s.bbox_info[0]),
                     "I_bbox y": float(s.bbox_info[1]), "I_bbox b/f": float(s.bbox_info[2]),
                     "PR angle (deg)": pr_angle})
    return pd.DataFrame(rows)


def weak_perspective_fit(scene: CameraScene) -> tuple[torch.Tensor, torch.Tensor]:
    """The crop camera [s, t_x, t_y] that CLIFF Eq. 7 maps back to the scene's true root translation.

    Inverting Eq. 7 (b s = 2 f / t_z, t_x_crop = t_x - 2 (c_x - W/2) / (b s)) gives the weak-perspective
    camera a perfect crop regressor would output; returns it and ``cam_crop_to_full`` of it.
    """
    W, H = scene.image_size
    f = scene.K[0, 0]
    t = scene.joints_cam[0]
    bs = 2 * f / t[2]
    s = bs / scene.bbox_size
    txy = t[:2] - 2 * (scene.bbox_center - torch.tensor([W / 2, H / 2], dtype=f.dtype)) / bs
    cam = torch.cat([s[None], txy])
    full = camera.cam_crop_to_full(cam, scene.bbox_center, scene.bbox_size,
                                   torch.tensor(scene.image_size, dtype=f.dtype), f)
    return cam, full


def planar_chain(angles_deg: tuple[float, ...], lengths: tuple[float, ...] = (0.3, 0.25, 0.2)
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward kinematics of a planar arm: joint k rotates by angles_deg[k] about z relative to its parent.

    Returns joint positions (len+1, 3) and global rotations (len+1, 3, 3) via
    :func:`posebook.body.kinematics.forward_kinematics` (the last joint is the end effector).
    """
    n = len(lengths)
    if len(angles_deg) != n:
        raise ValueError(f"need one angle per link: {n} links, got {len(angles_deg)} angles")
    angles = torch.zeros(n + 1, 3, dtype=torch.float64)
    angles[:n, 2] = torch.deg2rad(torch.tensor(angles_deg, dtype=torch.float64))
    R_rel = euler_to_matrix(angles, "xyz")
    offsets = torch.zeros(n + 1, 3, dtype=torch.float64)
    offsets[1:, 0] = torch.tensor(lengths, dtype=torch.float64)
    parents = [-1] + list(range(n))
    return kinematics.forward_kinematics(R_rel, offsets, parents)


def orthogonalization_examples(seed: int = 0, sigma: float = 0.5) -> dict[str, torch.Tensor]:
    """One noisy matrix M = R + sigma N and its three projections: 6D r_GS, g_GS, g_SVD."""
    gen = torch.Generator().manual_seed(seed)
    R = random_rotation(1, generator=gen, dtype=torch.float64)[0]
    M = R + sigma * torch.randn(3, 3, generator=gen, dtype=torch.float64)
    six_d = M[:, :2].reshape(6)
    return {"R": R, "M": M, "6D (r_GS)": matrix_from_6d(six_d), "GS": gram_schmidt(M),
            "SVD": svd_orthogonalize(M)}


@experiment("geometry.orthogonalization_noise", checks={"sigmas": positive})
def orthogonalization_noise(ctx: RunContext, sigmas: tuple = (0.01, 0.05, 0.1, 0.2, 0.5),
                            samples: int = 0) -> ExperimentResult:
    """Geodesic error of g_GS vs g_SVD when recovering a rotation from a noisy 3x3 matrix.

    R is uniform on SO(3); M = R + sigma * N(0, I_9); the error is the angle between g(M) and R.
    Levinson et al. (2020) show g_SVD is the maximum-likelihood projection under isotropic Gaussian
    noise, so it should win at every sigma; the table shows by how much.
    """
    n = ctx.size(samples, quick=20000)
    gen = ctx.generator
    rows = []
    for sigma in sigmas:
        R = random_rotation(n, generator=gen, dtype=torch.float64).to(ctx.device)
        M = R + sigma * torch.randn(n, 3, 3, generator=gen, dtype=torch.float64).to(ctx.device)
        for method, g in (("GS", gram_schmidt), ("SVD", svd_orthogonalize)):
            err = angle_error(g(M), R).cpu().numpy()
            rows.append({"sigma": sigma, "method": method, "mean_deg": float(err.mean()),
                         "median_deg": float(np.median(err)), "p95_deg": float(np.quantile(err, 0.95)),
                         "max_deg": float(err.max()), "samples": n})
    return ExperimentResult(pd.DataFrame(rows), data_source="synthetic: uniform SO(3) + Gaussian noise")


@experiment("geometry.cliff_translation", checks={"depth": positive, "yaw_deg": between(-90, 90)})
def cliff_translation(ctx: RunContext, offsets: tuple = (0.0, 0.25, 0.5, 0.75, 1.0),
                      depth: float = 5.0, yaw_deg: float = 30.0) -> ExperimentResult:
    """Reprojection error of the root when the crop camera is read as if the crop were the image centre.

    For an Anny body whose root projects at ``offset`` x half-width, the weak-perspective crop
    camera that CLIFF Eq. 7 maps to the true translation is converted (a) with CLIFF's
    ``cam_crop_to_full`` and (b) the HMR way, ignoring where the bbox is (t = [t_x, t_y, 2f/(bs)]).
    (a) is exact; (b)'s error grows with the offset: the location information CLIFF carries.
    """
    joints, parents = rest_skeleton()
    rows = []
    for off in offsets:
        scene = camera_scene(joints, parents, offset=(off, 0.0), depth=depth, yaw_deg=yaw_deg)
        cam, full = weak_perspective_fit(scene)
        hmr = torch.stack([cam[1], cam[2], 2 * scene.K[0, 0] / (scene.bbox_size * cam[0])])
        true_uv = camera.project(scene.joints_cam[:1], scene.K)
        err = {name: float((camera.project(t[None], scene.K) - true_uv).norm())
               for name, t in (("CLIFF Eq. 7", full), ("crop-centred (HMR)", hmr))}
        rows.append({"root offset (x half-width)": off, "depth (m)": depth,
                     "root reprojection error, CLIFF Eq. 7 (px)": err["CLIFF Eq. 7"],
                     "root reprojection error, crop-centred (px)": err["crop-centred (HMR)"],
                     "translation error, crop-centred (mm)": float((hmr - full).norm() * 1000)})
    return ExperimentResult(pd.DataFrame(rows), data_source="Anny rest pose (adult), synthetic camera")
