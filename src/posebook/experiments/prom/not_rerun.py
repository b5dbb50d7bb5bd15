"""PRoM's claims the book does not rerun, each with the reason (listed on the scorecard beside the rerun
ones; never given a verdict). The claims it reruns are in :data:`posebook.experiments.prom.CLAIMS`."""

from __future__ import annotations

from posebook.claims import Claim

__all__ = ["NOT_RERUN"]

#: (claim, why it is not rerun)
NOT_RERUN: tuple[tuple[Claim, str], ...] = (
    (Claim("PRoM", "Table 1", "PRoM reaches the best results among model-based methods on Human3.6M, 3DPW, AGORA "
           "(bodies) and FreiHAND (hands)", "pa_mpjpe_mm"),
     "needs the licensed benchmarks and weeks of GPU training; the chapter reruns the mechanism (Tables 1/4 "
     "analogue on a keypoint-to-body regressor) on CMU motion instead"),
)
