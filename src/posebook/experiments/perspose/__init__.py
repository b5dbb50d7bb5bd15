"""PersPose (perspective encoding and perspective rotation, ICCV 2025): the recipes.

- :mod:`~posebook.experiments.perspose.paper`: the paper's numbers (shown beside ours, never as ours);
- :mod:`~posebook.experiments.perspose.theory`: the depth ambiguities of Figs. 2-3, the crop
  intrinsics (Eq. 3-4, with the erratum), the PE map (Eq. 7-9, Fig. 5), perspective rotation end to
  end (Eq. 5-6, 12-17, Fig. 6) and the distribution of its angle (Fig. 7);
- :mod:`~posebook.experiments.perspose.common`: sizes, the two worlds, plain and PR crops, the trained networks;
- :mod:`~posebook.experiments.perspose.tables`: Table 2 and Fig. 7 rerun;
- :mod:`~posebook.experiments.perspose.benchmarks`: Fig. 7 on the benchmarks, when ``data_root`` holds them.

Importing this package registers their experiments (``perspose.*``).
"""

from posebook.experiments.perspose import benchmarks, common, paper, tables, theory  # noqa: F401

#: The claims of every PersPose experiment that judges the paper.
CLAIMS = {"perspose.ablation": tables.claims_ablation}

__all__ = ["CLAIMS", "common", "paper", "tables", "theory"]
