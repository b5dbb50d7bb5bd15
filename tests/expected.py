"""Verdicts recomputed independently of :mod:`posebook.claims` (numpy only), for the chapter tests."""

from __future__ import annotations

import numpy as np


def expected_paired(a, b, moving=()) -> str:
    """"a is lower than b" per seed (NaN = infinitely bad); "not converged" while a run moves."""
    if any(moving):
        return "not converged"
    a = np.nan_to_num(np.asarray(a, dtype=float), nan=np.inf)
    b = np.nan_to_num(np.asarray(b, dtype=float), nan=np.inf)
    return "holds" if (a < b).all() else "does not hold" if (a > b).all() else "inconclusive"
