"""PRoM (Learning Unorthogonalized Matrices for Rotation Estimation, arXiv 2312.00462): the recipes.

- :mod:`~posebook.experiments.prom.paper`: the paper's numbers (shown beside ours, never as ours);
- :mod:`~posebook.experiments.prom.theory`: the closed forms, Jacobians and lambda_min (Sec. 3-4, 5.1);
- :mod:`~posebook.experiments.prom.tables`: Tables 2a, 3b and Fig. 2c/2d on Zhou et al.'s tasks;
- :mod:`~posebook.experiments.prom.bodies`: Tables 1/4 and 3a on a keypoint-to-body regressor;
- :mod:`~posebook.experiments.prom.body_sweep`: Table 3b on that regressor, with blow-up diagnostics;
- :mod:`~posebook.experiments.prom.fitting`: Table 2b, refining its predictions on 2D keypoints.

Importing this package registers their experiments (``prom.*``).
"""

from posebook.experiments.prom import bodies, body_sweep, fitting, paper, tables, theory  # noqa: F401

#: The claims of every PRoM experiment that judges the paper (``claims(frame, meta)``), in the
#: chapter's order; the chapter page gathers their verdicts (:func:`posebook.report.gather_verdicts`).
CLAIMS = {
    "prom.autoencoder": tables.claims_table_2a,
    "prom.pointcloud": tables.claims_table_2a,
    "prom.lr_sweep": tables.claims_table_3b,
    "prom.training_curves": tables.claims_training_curves,
    "prom.body_regression": bodies.claims_body_regression,
    "prom.ortho_ablation": bodies.claims_ortho_ablation,
    "prom.body_lr_sweep": body_sweep.claims_body_lr_sweep,
    "prom.fit_2d": (fitting.claims_fit_2d, fitting.claims_fit_2d_mechanism),
    "prom.fit_2d_sweep": fitting.claims_fit_2d_sweep,
    "prom.fit_2d_eft": fitting.claims_fit_2d_eft,
}

__all__ = ["CLAIMS", "bodies", "body_sweep", "fitting", "paper", "tables", "theory"]
