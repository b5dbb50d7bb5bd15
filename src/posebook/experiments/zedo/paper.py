"""ZeDO's own numbers (Jiang et al., WACV 2024), shown beside ours and never as ours.

All in mm (PCK / AUC in %); the paper's data are Human3.6M, MPI-INF-3DHP and 3DPW, ours the CMU
subset (see :mod:`posebook.experiments.zedo.common`), so only the direction of each comparison is
judged, never the value.
"""

from __future__ import annotations

import pandas as pd

#: Table 4 (H36M rows; detected 2D unless "GT"): (RO, WU, RA, GT) -> (MPJPE S=1, PA S=1, minMPJPE S=50, PA S=50)
TABLE_4 = pd.DataFrame([
    ("H36M", "H36M", False, False, False, False, 75.0, 52.7, 53.4, 42.7),
    ("H36M", "H36M", True, False, False, False, 77.2, 53.7, 52.7, 42.4),
    ("H36M", "H36M", True, True, False, False, 65.7, 49.0, 51.4, 42.1),
    ("H36M", "H36M", True, True, True, False, 69.5, 51.4, 52.9, 42.5),
    ("H36M", "H36M", True, True, False, True, 50.1, 35.8, 37.0, 27.5),
    ("3DHP", "H36M", False, False, False, True, 148.3, 88.8, 93.4, 59.0),
    ("3DHP", "H36M", True, True, False, True, 113.8, 74.1, 80.1, 56.0),
    ("3DHP", "H36M", True, True, True, True, 99.9, 67.9, 69.9, 49.0),
    ("3DHP", "3DHP", True, True, False, True, 86.5, 55.9, 55.2, 38.6),
], columns=["test", "prior data", "RO", "WU", "RA", "GT 2D", "MPJPE S=1", "PA-MPJPE S=1", "minMPJPE S=50",
            "PA-MPJPE S=50"])

#: Table 5 (3DPW, cross-domain, S = 1, GT 2D): backbone -> (PA-MPJPE, MPJPE)
TABLE_5 = pd.DataFrame([("score matching", 40.3, 69.7), ("DDIM", 40.4, 67.9), ("DDPM", 51.7, 81.3)],
                       columns=["backbone", "PA-MPJPE", "MPJPE"])

#: Table 6 (S = 50, GT 2D): (test, prior data) -> (minMPJPE, PA-MPJPE)
TABLE_6 = pd.DataFrame([("H36M", "H36M", 37.0, 27.5), ("H36M", "mixed", 35.7, 26.5), ("3DHP", "H36M", 69.9, 49.0),
                        ("3DHP", "3DHP", 55.2, 38.6), ("3DHP", "mixed", 52.4, 37.7)],
                       columns=["test", "prior data", "minMPJPE", "PA-MPJPE"])

#: Table 7 (H36M, S = 1, GT 2D): initial poses -> (MPJPE, PA-MPJPE)
TABLE_7 = pd.DataFrame([("random sampling", 78.2, 51.2), ("random generation", 70.4, 46.0), ("k-means", 50.1, 35.8)],
                       columns=["init", "MPJPE", "PA-MPJPE"])

#: Tables 2 (H36M, detected 2D) and 3 (3DHP, GT 2D, in-domain): S -> numbers
TABLE_2 = pd.DataFrame([(1, 65.7, 49.0), (10, 57.3, 45.1), (50, 51.4, 42.1)], columns=["S", "MPJPE", "PA-MPJPE"])
TABLE_3 = pd.DataFrame([(1, 86.5, 82.6, 53.8), (50, 55.2, 93.0, 65.6)], columns=["S", "MPJPE", "PCK", "AUC"])

#: Table 8 (S = 1, GT 2D): dataset -> (VPose3D f=1 MPJPE, PA; + ZeDO MPJPE, PA)
TABLE_8 = pd.DataFrame([("3DPW", 75.9, 48.8, 70.2, 39.3), ("H36M", 39.2, 30.4, 38.7, 27.8),
                        ("3DHP", 89.1, 60.5, 78.2, 51.9)],
                       columns=["test", "lifter MPJPE", "lifter PA-MPJPE", "+ZeDO MPJPE", "+ZeDO PA-MPJPE"])

#: Fig. 5 (H36M, GT 2D): the text's reading of it
FIG_5 = ("inference time grows linearly with the iterations; the best MPJPE is reached at about 1000 "
         "iterations, with no gain beyond")
