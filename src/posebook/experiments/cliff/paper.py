"""CLIFF's own numbers (Li et al., ECCV 2022), shown beside ours and never as ours.

All in mm (acceleration error in mm/frame^2: the paper says mm/s^2, see the errata); the paper's data are Human3.6M and 3DPW, ours the synthetic
world (see :mod:`posebook.experiments.cliff.common`), so only the direction of each comparison is
judged, never the value. ``None``: not legible in the paper text we have (the first MPJPE cell of
Table 2 is lost in ../shared/papers/cliff.txt).
"""

from __future__ import annotations

import pandas as pd

#: Table 2 (Human3.6M, ResNet-50): variant -> (MPJPE, PA-MPJPE)
TABLE_2 = pd.DataFrame([("hmr", "CLIFF w/o CI & CS (HMR)", None, 54.5), ("no_ci", "CLIFF w/o CI", 84.0, 52.4),
                        ("cliff", "CLIFF", 81.4, 52.1)], columns=["variant", "method", "MPJPE", "PA-MPJPE"])

#: Supp. Fig. 3 (3DPW): "less than 5% error increase" for a focal length in [0.4 f_GT, 3 f_GT].
FOCAL_RANGE = (0.4, 3.0)
FOCAL_TOLERANCE = 0.05

#: Supp. Table 1 (3DPW): model -> (MPJPE, PA-MPJPE, PVE, Accel)
SUPP_TABLE_1 = pd.DataFrame([("CLIFF (Res-50)", 72.0, 45.7, 85.3, 24.7), ("CLIFF (Res-50) w/ OneEuro", 74.0, 46.2, 87.6, 10.6),
                             ("CLIFF (HR-W48)", 69.0, 43.0, 81.2, 20.5), ("CLIFF (HR-W48) w/ OneEuro", 70.1, 43.1, 82.3, 11.3)],
                            columns=["method", "MPJPE", "PA-MPJPE", "PVE", "Accel"])

#: Table 3 (3DPW, direct comparison of pseudo-GT annotators): annotator -> (MPJPE, PA-MPJPE, PVE)
TABLE_3 = pd.DataFrame([("ProHMR", None, 52.4, None), ("BOA", 77.2, 49.5, None), ("EFT", None, 49.3, None),
                        ("DynaBOA", 65.5, 40.4, 82.0), ("Pose2Mesh", 65.1, 34.6, None), ("CLIFF", 52.8, 32.8, 61.5)],
                       columns=["annotator", "MPJPE", "PA-MPJPE", "PVE"])

#: Supp. Table 2 (3DPW): the annotator built on HMR vs on CLIFF -> (MPJPE, PA-MPJPE, PVE)
SUPP_TABLE_2 = pd.DataFrame([("HMR-based", 63.6, 38.7, 72.6), ("CLIFF-based", 52.8, 32.8, 61.5)],
                            columns=["annotator", "MPJPE", "PA-MPJPE", "PVE"])

#: Table 4 (CLIFF trained on COCO with each annotator's pseudo-GT): annotator -> 3DPW (MPJPE, PVE, PA-MPJPE),
#: Human3.6M (MPJPE, PA-MPJPE)
TABLE_4 = pd.DataFrame([("SPIN", 101.2, 119.2, 65.2, 115.0, 66.9), ("EFT", 98.8, 115.8, 62.0, 110.9, 60.7),
                        ("CLIFF", 85.4, 100.5, 53.6, 96.1, 54.8)],
                       columns=["annotator", "3DPW MPJPE", "3DPW PVE", "3DPW PA-MPJPE", "H36M MPJPE", "H36M PA-MPJPE"])
