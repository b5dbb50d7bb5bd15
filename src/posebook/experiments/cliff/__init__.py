"""CLIFF (Carrying Location Information in Full Frames, ECCV 2022): the recipes.

- :mod:`~posebook.experiments.cliff.paper`: the paper's numbers (shown beside ours, never as ours);
- :mod:`~posebook.experiments.cliff.common`: sizes, the image data, the trained regressors (cached);
- :mod:`~posebook.experiments.cliff.theory`: Eq. 1-9, Fig. 1 and the FOV erratum checked and drawn;
- :mod:`~posebook.experiments.cliff.tables`: Table 2 and supp. Fig. 3 rerun;
- :mod:`~posebook.experiments.cliff.annotators`: the pseudo-GT annotators, Tables 3-4 and supp. Table 2;
- :mod:`~posebook.experiments.cliff.smoothing`: supp. Table 1, per-frame CLIFF on videos with the 1-euro filter.

Importing this package registers their experiments (``cliff.*``).
"""

from posebook.experiments.cliff import annotators, common, paper, smoothing, tables, theory  # noqa: F401

#: The claims of every CLIFF experiment that judges the paper, in the chapter's order.
CLAIMS = {
    "cliff.ablation": tables.claims_ablation,
    "cliff.focal": tables.claims_focal,
    "cliff.annotators": annotators.claims_annotators,
    "cliff.pseudo_gt_training": annotators.claims_pseudo_gt_training,
    "cliff.smoothing": smoothing.claims_smoothing,
}

__all__ = ["CLAIMS", "annotators", "common", "paper", "smoothing", "tables", "theory"]
