"""Shared-geometry experiments: the numbers and figures of the geometry notebook."""

from __future__ import annotations

import numpy as np
import pandas as pd
import roma
import torch

from posebook.experiments.registry import ExperimentResult, experiment
from posebook.geometry.rotations import geodesic_distance, gram_schmidt, svd_orthogonalize
from posebook.runs import RunContext


@experiment("geometry.orthogonalization_noise")
def orthogonalization_noise(ctx: RunContext, sigmas: tuple = (0.01, 0.05, 0.1, 0.2, 0.5),
                            samples: int = 20000) -> ExperimentResult:
    """Geodesic error of g_GS vs g_SVD when recovering a rotation from a noisy 3x3 matrix.

    R is uniform on SO(3); M = R + sigma * N(0, I_9); the error is the angle between g(M) and R.
    Levinson et al. (2020) prove g_SVD is the maximum-likelihood projection under isotropic Gaussian
    noise, so it should win at every sigma; the table shows by how much.
    """
    n = ctx.scaled(samples)
    gen = ctx.generator
    dtype = torch.float64
    rows = []
    for sigma in sigmas:
        q = torch.randn(n, 4, generator=gen, dtype=dtype)
        R = roma.unitquat_to_rotmat(q / q.norm(dim=-1, keepdim=True)).to(ctx.device)
        M = R + sigma * torch.randn(n, 3, 3, generator=gen, dtype=dtype).to(ctx.device)
        for method, g in (("GS", gram_schmidt), ("SVD", svd_orthogonalize)):
            err = torch.rad2deg(geodesic_distance(g(M), R)).cpu().numpy()
            rows.append({"sigma": sigma, "method": method, "mean_deg": err.mean(),
                         "median_deg": float(np.median(err)), "p95_deg": float(np.quantile(err, 0.95)),
                         "max_deg": err.max(), "samples": n})
    return ExperimentResult(pd.DataFrame(rows), data_source="synthetic: uniform SO(3) + Gaussian noise")
