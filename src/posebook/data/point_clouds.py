"""Point clouds of the open Anny body for PRoM Table 2a (right), in place of ShapeNet airplanes."""

from __future__ import annotations

import math

import torch

from posebook.body.models import AnnyBody
from posebook.geometry.points import farthest_point_indices
from posebook.geometry.rotations import axis_angle_to_matrix

__all__ = ["body_point_clouds"]


def body_point_clouds(
    n_bodies: int,
    points: int,
    generator: torch.Generator,
    pose_sigma_deg: float = 10.0,
    chunk: int = 128,
) -> torch.Tensor:
    """Point clouds of Anny bodies with random shapes and small random poses, in vertex correspondence.

    Phenotypes: gender, muscle, weight, height uniform in [0, 1], age uniform in [0.5, 1]
    (teenager to old adult), proportions uniform in [0, 0.5]. Every non-root joint is rotated by a
    rotation vector ~ N(0, pose_sigma_deg^2 I) (the root stays the identity: the rotation to
    estimate is applied afterwards). Every cloud keeps the same ``points`` mesh vertices, chosen by
    farthest-point sampling on Anny's mean body in its rest pose (an even cover of head, hands and
    feet), and is centred on its mean. Computed on the CPU in float32 (Anny's skinning).

    Args:
        n_bodies: number of clouds B.
        points: vertices kept per cloud N (<= 13,718).
        generator: CPU generator (shapes and poses).
    Returns:
        (B, N, 3) metres, Anny's y-up output frame, zero mean per cloud.
    """
    body = AnnyBody()
    eye = torch.eye(3).expand(1, body.num_joints, 3, 3)
    with torch.no_grad():
        idx = farthest_point_indices(body(eye).vertices[0], points)  # start: farthest from the centroid
    clouds = []
    for start in range(0, n_bodies, chunk):
        b = min(chunk, n_bodies - start)
        u = torch.rand(6, b, generator=generator)
        shape = {"gender": u[0], "age": 0.5 + 0.5 * u[1], "muscle": u[2], "weight": u[3], "height": u[4],
                 "proportions": 0.5 * u[5]}
        rotvec = torch.randn(b, body.num_joints, 3, generator=generator) * math.radians(pose_sigma_deg)
        rotvec[:, 0] = 0.0
        with torch.no_grad():
            cloud = body(axis_angle_to_matrix(rotvec), shape).vertices[:, idx]
        clouds.append(cloud - cloud.mean(dim=1, keepdim=True))
    return torch.cat(clouds)
