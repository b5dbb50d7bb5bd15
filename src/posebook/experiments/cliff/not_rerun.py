"""CLIFF's claims the book does not rerun, each with the reason (listed on the scorecard beside the rerun
ones; never given a verdict). The claims it reruns are in :data:`posebook.experiments.cliff.CLAIMS`."""

from __future__ import annotations

from posebook.claims import Claim

__all__ = ["NOT_RERUN"]

#: (claim, why it is not rerun)
NOT_RERUN: tuple[tuple[Claim, str], ...] = (
    (Claim("CLIFF", "Table 1", "CLIFF (HR-W48) beats the state of the art on 3DPW, Human3.6M and AGORA",
           "mpjpe_mm", paper_value="3DPW 69.0 / 43.0 / 81.2 mm (MPJPE / PA-MPJPE / PVE)"),
     "needs the licensed benchmarks with images, SMPL and an HRNet-W48 trained for weeks"),
)
