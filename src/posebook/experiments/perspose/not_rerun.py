"""PersPose's claims the book does not rerun, each with the reason (listed on the scorecard beside the
rerun ones; never given a verdict). The claims it reruns are in :data:`posebook.experiments.perspose.CLAIMS`."""

from __future__ import annotations

from posebook.claims import Claim

__all__ = ["NOT_RERUN"]

#: (claim, why it is not rerun)
NOT_RERUN: tuple[tuple[Claim, str], ...] = (
    (Claim("PersPose", "Table 1", "PersPose outperforms the state of the art on 3DPW, Human3.6M and MPI-INF-3DHP",
           "mpjpe_mm", paper_value="3DPW MPJPE 60.1 mm, 4.9 mm below the second best"),
     "needs the licensed benchmarks with images, SMPL inverse kinematics and an HRNet-W48"),
)
