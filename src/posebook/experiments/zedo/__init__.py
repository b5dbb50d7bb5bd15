"""ZeDO (Back to Optimization: Diffusion-based Zero-Shot 3D Human Pose Estimation, WACV 2024): the recipes.

- :mod:`~posebook.experiments.zedo.paper`: the paper's numbers (shown beside ours, never as ours);
- :mod:`~posebook.experiments.zedo.common`: sizes, data, the trained priors, one batched ZeDO run;
- :mod:`~posebook.experiments.zedo.theory`: Eq. 1-6 and Sec. 5.2 checked and drawn;
- :mod:`~posebook.experiments.zedo.tables`: Tables 4-8, Fig. 5 and the Tables 2-3 analogue.

Importing this package registers their experiments (``zedo.*``).
"""

from posebook.experiments.zedo import common, paper, tables, theory  # noqa: F401

#: The claims of every ZeDO experiment that judges the paper, in the chapter's order.
CLAIMS = {
    "zedo.ablation": tables.claims_ablation,
    "zedo.backbones": tables.claims_backbones,
    "zedo.training_groups": tables.claims_training_groups,
    "zedo.init_sampling": tables.claims_init_sampling,
    "zedo.iterations": tables.claims_iterations,
    "zedo.hypotheses": tables.claims_hypotheses,
    "zedo.refinement": tables.claims_refinement,
}

__all__ = ["CLAIMS", "common", "paper", "tables", "theory"]
