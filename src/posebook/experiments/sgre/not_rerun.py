"""SGRE's claims the book does not rerun, each with the reason (listed on the scorecard beside the rerun
ones; never given a verdict). The claims it reruns are in :data:`posebook.experiments.sgre.CLAIMS`."""

from __future__ import annotations

from posebook.claims import Claim

__all__ = ["NOT_RERUN"]

#: (claim, why it is not rerun)
NOT_RERUN: tuple[tuple[Claim, str], ...] = (
    (Claim("SGRE", "Table 5", "SGRE improves every baseline it is added to on 3DPW (HMR-style, 3DCrowdNet)",
           "mpjpe_mm"),
     "needs 3DPW, SMPL and the 3DCrowdNet recipe (licensed data; the models here predict the open Anny body)"),
    (Claim("SGRE", "Table 6", "SGRE with 3DCrowdNet beats previous methods on 3DPW-OCC", "mpjpe_mm",
           paper_value="83.6 mm MPJPE, 97.2 mm PVE"),
     "needs 3DPW-OCC (licensed); the chapter's occluded-crop analogue is Table 4 (sgre.ablation)"),
    (Claim("SGRE", "Tables 7-8", "SGRE's features improve 2D pose estimation on COCO and CrowdPose", "ap",
           "higher"),
     "needs COCO / CrowdPose and a 2D pose pipeline the book does not build"),
)
