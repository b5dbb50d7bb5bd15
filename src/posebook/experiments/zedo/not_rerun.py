"""ZeDO's claims the book does not rerun, each with the reason (listed on the scorecard beside the rerun
ones; never given a verdict). The claims it reruns are in :data:`posebook.experiments.zedo.CLAIMS`."""

from __future__ import annotations

from posebook.claims import Claim

__all__ = ["NOT_RERUN"]

#: (claim, why it is not rerun)
NOT_RERUN: tuple[tuple[Claim, str], ...] = (
    (Claim("ZeDO", "Tables 1-3", "ZeDO reaches the state of the art among optimisation-based methods on 3DPW, "
           "Human3.6M and MPI-INF-3DHP", "pa_mpjpe_mm",
           paper_value="3DPW PA-MPJPE 40.3 mm (S = 1); H36M minMPJPE 51.4 mm (S = 50); 3DHP minMPJPE 69.9 mm "
                       "cross-domain (S = 50; the text says 67.9)"),
     "needs the licensed benchmarks: with data_root, zedo.benchmarks runs the three protocols (tables page, "
     "section 3) with the book's CMU prior; the chapter's Tables 2-3 analogue (zedo.hypotheses) runs on CMU motion"),
    (Claim("ZeDO", "Tables 9-11", "ZeDO beats previous methods on Ski-Pose and unsupervised methods on "
           "Human3.6M and 3DPW", "pa_mpjpe_mm", paper_value="Ski-Pose PA-MPJPE 81.0 mm"),
     "needs Ski-Pose, Human3.6M and 3DPW (licensed)"),
)
