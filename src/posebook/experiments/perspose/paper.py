"""The numbers PersPose reports (Hao & Li, ICCV 2025), shown beside ours and never as ours.

Table 2 is the ablation of perspective rotation (PR) and perspective encoding (PE) on the 3DPW test
set (14 joints) and MPI-INF-3DHP (17 joints), HRNet-W48, trained on real data (R: 3DPW, Human3.6M,
MPI-INF-3DHP, COCO) or real + BEDLAM (R+B); mm. "Depth error" is the mean absolute error of the
joints' relative depths (to the pelvis) as the decoder predicts them (Sec. 5.3). Table 1 holds the
comparison with the state of the art; only PersPose's own row is kept here. Fig. 7 prints no
numbers: the text says phi "concentrates around 5 deg" for 3DPW and Human3.6M and spreads wider for
BEDLAM and MPI-INF-3DHP.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["CROP_SIZE", "PE_STRIDE", "TABLE_1", "TABLE_2", "FIG_7_PHI_DEG", "FIG_7_SPREAD"]

#: Sec. 5.1: the crop is 256 x 256; HRNet's high-resolution map, where PE is added, has stride 4 (64 x 64).
CROP_SIZE = 256
PE_STRIDE = 4

#: Table 1, PersPose's row (3DPW and Human3.6M: PA-MPJPE, MPJPE, PVE in mm; MPI-INF-3DHP: PCK and
#: AUC in %, MPJPE in mm). Trained on real data only ("R").
TABLE_1 = pd.DataFrame(
    [("3DPW", "PA-MPJPE", 39.1), ("3DPW", "MPJPE", 60.1), ("3DPW", "PVE", 72.4),
     ("Human3.6M", "PA-MPJPE", 28.3), ("Human3.6M", "MPJPE", 43.0), ("Human3.6M", "PVE", 52.7),
     ("MPI-INF-3DHP", "PCK", 94.0), ("MPI-INF-3DHP", "AUC", 55.2), ("MPI-INF-3DHP", "MPJPE", 72.1)],
    columns=["dataset", "metric", "paper PersPose"])

#: Table 2: one row per (training data, setting); "baseline" is neither PE nor PR, "+PE" adds the
#: PE map, "+PE+PR" adds perspective rotation as well (the paper has no PR-only row).
TABLE_2 = pd.DataFrame(
    [("R", "baseline", False, False, 45.1, 39.8, 62.4, 57.3, 57.3, 80.1),
     ("R", "+PE", False, True, 44.5, 39.7, 62.2, 53.7, 56.3, 76.6),
     ("R", "+PE+PR", True, True, 43.8, 39.1, 60.1, 51.0, 54.4, 71.9),
     ("R+B", "baseline", False, False, 41.5, 37.8, 58.4, 54.2, 55.5, 76.8),
     ("R+B", "+PE", False, True, 41.2, 37.8, 58.1, 51.0, 55.1, 73.4),
     ("R+B", "+PE+PR", True, True, 40.0, 37.3, 57.2, 48.6, 53.7, 70.2)],
    columns=["training", "setting", "PR", "PE",
             "paper 3DPW depth error", "paper 3DPW PA-MPJPE", "paper 3DPW MPJPE",
             "paper 3DHP depth error", "paper 3DHP PA-MPJPE", "paper 3DHP MPJPE"])

#: Fig. 7 (no numbers printed): where phi concentrates for the narrow datasets, degrees.
FIG_7_PHI_DEG = {"3DPW": 5.0, "Human3.6M": 5.0}
#: Fig. 7's qualitative reading: which datasets spread phi narrowly or widely.
FIG_7_SPREAD = {"narrow": ("3DPW", "Human3.6M"), "wide": ("BEDLAM", "MPI-INF-3DHP")}
