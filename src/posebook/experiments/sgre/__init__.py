"""SGRE (Sequentially Global Rotation Estimation, ICCV 2023): the recipes.

- :mod:`~posebook.experiments.sgre.paper`: the paper's numbers (shown beside ours, never as ours);
- :mod:`~posebook.experiments.sgre.theory`: error accumulation along the chains (Fig. 1b) and the
  relative / global rotation angles of real motion (Fig. 2);
- :mod:`~posebook.experiments.sgre.common`: sizes, the image data, the trained regressors (cached);
- :mod:`~posebook.experiments.sgre.tables`: Tables 1-4 and Fig. 4 rerun;
- :mod:`~posebook.experiments.sgre.benchmark`: the 3DPW protocol on 3DPW itself, when ``data_root`` holds it.

Importing this package registers their experiments (``sgre.*``).
"""

from posebook.experiments.sgre import benchmark, common, paper, tables, theory  # noqa: F401

#: The claims of every SGRE experiment that judges the paper, in the chapter's order.
CLAIMS = {
    "sgre.ablation": [tables.claims_ablation, tables.claims_components, tables.claims_mpjae],
    "sgre.chains": tables.claims_chains,
}

__all__ = ["CLAIMS", "common", "paper", "tables", "theory"]
