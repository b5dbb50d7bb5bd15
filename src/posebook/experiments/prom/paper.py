"""PRoM (Gu et al., arXiv 2312.00462): the paper's own numbers, shown beside ours, never as ours."""

from __future__ import annotations

import math

__all__ = ["LABELS", "PAPER_BETTER_FRACTION", "PAPER_TABLE_1", "PAPER_TABLE_2A", "PAPER_TABLE_2B", "PAPER_TABLE_3A",
           "PAPER_TABLE_3B", "PAPER_TABLE_4"]

#: PRoM Table 2a: (mean, max, std) geodesic error in degrees; "autoencoder" = "rotation recovery"
#: (left), "pointcloud" = "point cloud pose estimation" (right). Paper numbers, never ours.
PAPER_TABLE_2A: dict[str, dict[str, tuple[float, float, float]]] = {
    "autoencoder": {
        "axis_angle": (3.69, 179.22, 5.99),
        "euler": (6.98, 179.95, 17.31),
        "quaternion": (3.32, 179.93, 5.97),
        "6d": (0.49, 1.98, 0.27),
        "prom": (0.37, 1.86, 0.22),
    },
    "pointcloud": {
        "axis_angle": (11.93, 179.7, 21.35),
        "euler": (14.13, 179.67, 23.8),
        "quaternion": (9.03, 179.66, 16.33),
        "6d": (2.85, 179.83, 9.16),
        "prom": (2.13, 179.53, 7.87),
    },
}

#: PRoM Table 3b: PA-MPJPE (mm) on 3DPW of CLIFF-Res50 trained on COCO with each learning rate;
#: NaN = the paper's "-" (training diverged). Not comparable in units with our degrees.
PAPER_TABLE_3B: dict[float, dict[str, float]] = {
    1e-4: {"6d": 58.3, "svd": 56.7, "prom": 54.8},
    2e-4: {"6d": math.nan, "svd": math.nan, "prom": 53.4},
    5e-4: {"6d": math.nan, "svd": math.nan, "prom": 52.6},
    8e-4: {"6d": math.nan, "svd": math.nan, "prom": math.nan},
}

#: Display names.
LABELS = {
    "axis_angle": "Axis-Angle",
    "euler": "Euler",
    "quaternion": "Quat",
    "6d": "6D",
    "svd": "SVD",
    "gs": "GS",
    "prom": "PRoM",
    "6d*": "6D*",
    "prom+": "PRoM+",
}

#: PRoM Table 1 (CLIFF vs CLIFF + PRoM), mm: {benchmark: {representation: (MPJPE, PA-MPJPE, PVE)}}.
#: The paper's numbers on its benchmarks, never ours. NaN: not reported.
PAPER_TABLE_1: dict[str, dict[str, tuple[float, float, float]]] = {
    "Human3.6M": {"6d": (47.1, 32.7, math.nan), "prom": (43.8, 30.4, math.nan)},
    "3DPW": {"6d": (69.0, 43.0, 81.2), "prom": (67.6, 42.0, 79.2)},
}
#: PRoM Table 4 (3DPW, ResNet-50 models), mm: {model: {representation: (MPJPE, PA-MPJPE, MPVPE)}}.
PAPER_TABLE_4: dict[str, dict[str, tuple[float, float, float]]] = {
    "HMR": {"6d": (74.4, 46.6, 87.3), "prom": (71.4, 44.5, 84.6)},
    "PARE": {"6d": (82.9, 52.3, 99.7), "prom": (80.5, 49.7, 96.8)},
    "CLIFF (Res50)": {"6d": (72.0, 45.7, 85.3), "prom": (70.8, 44.5, 84.1)},
}
#: PRoM Table 3a: PA-MPJPE (mm) on 3DPW of CLIFF-Res50 trained on COCO, per row.
PAPER_TABLE_3A: dict[str, float] = {"6d": 57.5, "svd": 56.7, "id/gs": 57.1, "gs/id": 55.8,
                                    "id/id+gs": 55.6, "prom": 54.8}
#: PRoM Table 2b: CLIFF annotator refined with 2D ground truth on 3DPW, (MPJPE, PA-MPJPE, MPVPE) mm.
PAPER_TABLE_2B: dict[str, tuple[float, float, float]] = {"6d": (52.8, 32.8, 61.5), "prom": (49.5, 29.9, 56.9)}
#: PRoM Sec. 5.2.2: "PRoM reduces the errors for 72% of the samples" (A.11 / Fig. 4: "over 70%").
PAPER_BETTER_FRACTION = 0.72
