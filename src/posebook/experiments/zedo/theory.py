"""ZeDO's equations checked on real CMU poses: truncated diffusion (Eq. 1-3, Sec. 3.3), the
closed-form translation (Eq. 6, supp. C) against generic least squares, and the scale ambiguity of
Sec. 5.2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy.optimize import least_squares

from posebook import metrics
from posebook.body.skeletons import H36M17_PARENTS
from posebook.experiments.registry import ExperimentResult, experiment
from posebook.experiments.zedo.common import MAIN, ZEDO, load_data, trained_priors
from posebook.geometry.camera import project
from posebook.geometry.rays import closed_form_translation, keypoint_rays, solve_translation_system
from posebook.parameters import between, positive

__all__ = ["bone_lengths", "denoise_from", "truncation", "translation_check", "scale_ambiguity"]


def bone_lengths(poses: torch.Tensor) -> torch.Tensor:
    """(..., 17, 3) -> (..., 16) lengths of the H36M-17 bones (child to parent), metres."""
    child = torch.arange(1, 17)
    parent = torch.tensor(H36M17_PARENTS[1:])
    return (poses[..., child, :] - poses[..., parent, :]).norm(dim=-1)


@torch.no_grad()
def denoise_from(prior, x0: torch.Tensor, t0: float, steps: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise clean poses to time ``t0`` with the forward marginal (Eq. 1), then run the prior's reverse
    steps (no noise) from ``t0`` down to 1e-3. Returns (noisy x(t0) / mean factor, denoised), (B, J, 3):
    the noisy pose is shown rescaled to the data's units."""
    device = prior.net.out.weight.device
    x0 = x0.to(device, torch.float32)
    mean, std = prior.sde.marginal_prob(x0, torch.tensor(t0))
    xt = mean + std * torch.randn(x0.shape, generator=generator).to(device)
    times = torch.linspace(t0, 1e-3, steps + 1, dtype=torch.float64).tolist()
    x = xt
    for t, t_next in zip(times[:-1], times[1:]):
        x = prior.step(x, t, t_next - t)
    factor = float(torch.exp(-0.5 * prior.sde.integral(torch.tensor(t0))))
    return (xt / factor).cpu(), x.cpu()


@experiment("zedo.truncation", checks={"times": between(1e-3, 1, closed=True), "steps": positive})
def truncation(ctx, times: tuple = (0.01, 0.05, 0.1, 0.3, 1.0), steps: int = 200, test_poses: int = 0,
               world_size: int = 0, prior_steps: int = 0) -> ExperimentResult:
    """What the prior does to a test pose noised to time t (Eq. 1) and denoised back (reverse steps):
    at small t (ZeDO's truncated range, t <= 0.1) it returns a pose close to the input; from t = 1 it
    generates a pose of its own. One row per (t, seed): MPJPE of the noisy and of the denoised pose to
    the input, and the denoised bone lengths' mean error (mm) to the input's."""
    sizes = ctx.sizes(ZEDO, test_poses=test_poses, world_size=world_size, prior_steps=prior_steps)
    data = load_data(ctx, sizes)
    x0 = data.test.poses
    rows = []
    for trained, seed in zip(trained_priors(ctx, data, sizes, MAIN, ctx.seeds()), ctx.seeds()):
        for t0 in times:
            noisy, out = denoise_from(trained.prior, x0, float(t0), steps, torch.Generator().manual_seed(seed))
            rows.append({"t": float(t0), "seed": seed,
                         "noisy_mpjpe_mm": float(metrics.mpjpe(noisy.double(), x0.double(), root=0).mean()),
                         "denoised_mpjpe_mm": float(metrics.mpjpe(out.double(), x0.double(), root=0).mean()),
                         "bone_error_mm": float((bone_lengths(out) - bone_lengths(x0)).abs().mean() * 1000),
                         "steps": trained.steps, "curve_dsm": trained.curve})
    return ExperimentResult(pd.DataFrame(rows), data.source)


def _pixel_least_squares(pose: np.ndarray, uv: np.ndarray, K: np.ndarray, w: np.ndarray, T0: np.ndarray) -> np.ndarray:
    """The T minimising the confidence-weighted PIXEL reprojection error (scipy, per pose)."""
    def residual(T: np.ndarray) -> np.ndarray:
        p = (pose + T) @ K.T
        return (w[:, None] * (p[:, :2] / p[:, 2:] - uv)).ravel()
    return least_squares(residual, T0, method="lm").x


@experiment("zedo.translation_check", checks={"pixel_noise": between(0, 1000, closed=True)})
def translation_check(ctx, pixel_noise: float = 2.0, test_poses: int = 0, world_size: int = 0) -> ExperimentResult:
    """Eq. 6 / supp. C: the closed-form T on the test poses (their true 3D, exact or noisy 2D) against
    the true T and a generic least-squares solve of the pixel reprojection error (scipy); and the
    system of supp. C built with UNIT rays as printed (an erratum: it needs z = 1 rays). One row per
    (2D input, solver): mean and max ``|T - T_true|`` (mm) and mean reprojection error (px)."""
    sizes = ctx.sizes(ZEDO, test_poses=test_poses, world_size=world_size)
    data = load_data(ctx, sizes)
    test = data.test
    P, K, T_true = test.poses.double(), test.K.double(), test.root.double()
    g = torch.Generator().manual_seed(ctx.seed)
    rows = []
    for kind in ("exact", "noisy"):
        uv = test.keypoints_2d.double()
        if kind == "noisy":
            uv = uv + pixel_noise * torch.randn(uv.shape, generator=g, dtype=torch.float64)
        conf = torch.ones(uv.shape[:2], dtype=torch.float64)
        solutions = {
            "closed form (z = 1 rays)": closed_form_translation(P, uv, K, conf),
            "supp. C as printed (unit rays)": solve_translation_system(P, keypoint_rays(uv, K, normalise="unit"), conf),
            "scipy least squares (pixels)": torch.from_numpy(np.stack([
                _pixel_least_squares(P[i].numpy(), uv[i].numpy(), K[i].numpy(), conf[i].numpy(), T_true[i].numpy() * 0.9)
                for i in range(len(P))])),
        }
        for solver, T in solutions.items():
            err = (T - T_true).norm(dim=-1) * 1000
            reproj = (project(P + T[:, None], K) - uv).norm(dim=-1).mean(-1)
            rows.append({"input": kind, "solver": solver, "mean_error_mm": float(err.mean()),
                         "max_error_mm": float(err.max()), "reprojection_px": float(reproj.mean())})
    return ExperimentResult(pd.DataFrame(rows), data.source)


@experiment("zedo.scale_ambiguity", checks={"scales": positive})
def scale_ambiguity(ctx, scales: tuple = (0.8, 0.9, 1.0, 1.1, 1.25), test_poses: int = 0,
                    world_size: int = 0) -> ExperimentResult:
    """ZeDO Sec. 5.2: the 2D keypoints cannot tell a pose from the same pose scaled about the camera
    centre (``s (P + T)`` projects to the same pixels for every s > 0). One row per scale: the
    reprojection change (px, 0 up to rounding), the root-relative MPJPE of the scaled pose to the
    original (mm: the error a 2D-only method cannot see) and its depth."""
    sizes = ctx.sizes(ZEDO, test_poses=test_poses, world_size=world_size)
    data = load_data(ctx, sizes)
    test = data.test
    P, K = test.camera_points().double(), test.K.double()
    rows = []
    for s in scales:
        Q = float(s) * P
        rows.append({"scale": float(s), "reprojection_change_px": float((project(Q, K) - project(P, K)).norm(dim=-1).max()),
                     "mpjpe_mm": float(metrics.mpjpe(Q, P, root=0).mean()),
                     "mean_depth_m": float(Q[..., 0, 2].mean())})
    return ExperimentResult(pd.DataFrame(rows), data.source)
