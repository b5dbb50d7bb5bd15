"""The numbers SGRE reports (Wang & Zhang, ICCV 2023), shown beside ours and never as ours.

All on the 3DPW test set (Tables 1-4) or 3DPW-OCC (Table 4, right column), ResNet-50 "baseline" model
(a ResNet with a pooled feature, not released), trained on COCO for 10 epochs for the ablations
(Sec. 4.2); mm for positions, degrees for MPJAE; Table 3 in seconds per batch of 64.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["TABLE_1", "TABLE_2", "TABLE_3", "TABLE_4", "CHAINS_FIG_4"]

TABLE_1 = pd.DataFrame(
    [("Relative baseline", 88.4, 56.7, 105.5), ("Global baseline", 87.8, 56.3, 104.4),
     ("SGRE", 85.5, 55.0, 101.8), ("Relative++", 87.6, 56.1, 105.9)],
    columns=["setting", "paper MPJPE", "paper PA-MPJPE", "paper PVE"])

TABLE_2 = pd.DataFrame(
    [("Global baseline", 87.8, 56.3, 104.4), ("+Sequential", 86.5, 55.6, 102.6), ("+Local feat", 85.5, 55.0, 101.8)],
    columns=["setting", "paper MPJPE", "paper PA-MPJPE", "paper PVE"])

TABLE_3 = pd.DataFrame(
    [("Baseline", 0.102, 0.002, 0.045), ("SGRE", 0.102, 0.010, 0.045)],
    columns=["setting", "paper feature extraction (s)", "paper parameter regression (s)", "paper mesh generation (s)"])

TABLE_4 = pd.DataFrame(
    [("Relative baseline", 22.3, 25.3), ("SGRE", 21.0, 23.8)],
    columns=["setting", "paper MPJAE (deg)", "paper MPJAE occluded (deg)"])

#: Fig. 4's three paths (plotted, no numbers printed): root to head, toe and hand.
CHAINS_FIG_4 = ("root->head", "root->toe", "root->hand")
