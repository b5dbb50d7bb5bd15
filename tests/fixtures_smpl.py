"""Stand-ins for the licensed SMPL files, with the keys, shapes and types of the released ones.

Used by tests/test_body_models.py (the SMPL wrapper) and tests/test_pw3d_protocol.py (3DPW's ground
truth from the gendered meshes).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.sparse

#: SMPL's kinematic tree, restated (not imported) so the tests check the loader against it.
SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]


def make_smpl_arrays(seed: int = 0, sparse_regressor: bool = True) -> dict:
    """Arrays with the keys, shapes and types of the released SMPL .pkl files."""
    rng = np.random.default_rng(seed)
    V, J = 6890, 24
    j_reg = np.zeros((J, V))
    for j in range(J):  # each joint: a convex combination of 12 vertices, like the real regressor
        idx = rng.choice(V, 12, replace=False)
        w = rng.random(12)
        j_reg[j, idx] = w / w.sum()
    weights = np.zeros((V, J))
    for v in range(V):
        idx = rng.choice(J, rng.integers(1, 4), replace=False)
        w = rng.random(len(idx))
        weights[v, idx] = w / w.sum()
    kintree = np.stack([np.array(SMPL_PARENTS, dtype=np.int64), np.arange(J)])
    kintree[0, 0] = 4294967295  # as in the released files (uint32 -1)
    return {
        "v_template": rng.normal(scale=0.3, size=(V, 3)),
        "shapedirs": rng.normal(scale=0.01, size=(V, 3, 10)),
        "posedirs": rng.normal(scale=0.001, size=(V, 3, 207)),
        "J_regressor": scipy.sparse.csc_matrix(j_reg) if sparse_regressor else j_reg,
        "weights": weights,
        "kintree_table": kintree,
        "f": rng.integers(0, V, size=(13776, 3)).astype(np.uint32),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def write_smpl_models(folder: Path, genders=("neutral", "male", "female")) -> dict[str, dict]:
    """``folder/SMPL_{GENDER}.pkl`` for each gender, each from its own seed; returns {gender: arrays}."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for seed, gender in enumerate(genders):
        written[gender] = make_smpl_arrays(seed)
        with open(folder / f"SMPL_{gender.upper()}.pkl", "wb") as f:
            pickle.dump(written[gender], f, protocol=2)
    return written
