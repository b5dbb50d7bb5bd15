"""posebook.claims, the one claims engine, on constructed patterns whose verdict is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from posebook import claims as C

NAN = math.nan
LOWER = C.Claim("Paper", "Table 1", "A's error is below B's", "err", "lower", "1.0 vs 2.0")
HIGHER = C.Claim("Paper", "Table 2", "A's accuracy is above B's", "acc", "higher")
#: learning curves at steps 0, 100, 200, 300
STEPS = [0, 100, 200, 300]
FALLING = [10.0, 8.0, 6.0, 4.0]  # |4 - 6| / 4 = 50% over the last quarter: still moving
FLAT = [10.0, 5.0, 5.0, 5.0]  # no change over the last quarter: converged


# ------------------------------------------------------------------------------- claim types


def test_claim_direction_is_validated():
    assert C.Claim("P", "T", "s", "m").direction == "lower"
    with pytest.raises(ValueError, match="direction must be 'lower' or 'higher', got 'up'"):
        C.Claim("P", "T", "s", "m", direction="up")


@pytest.mark.parametrize("kwargs, match", [
    ({"tail": 0.0}, "tail must lie in"), ({"tail": 1.0}, "tail must lie in"), ({"tail": -0.5}, "tail must lie in"),
    ({"tolerance": -0.01}, "tolerance must be >= 0"), ({"tolerance": NAN}, "tolerance must be >= 0"),
])
def test_convergence_rule_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        C.ConvergenceRule(**kwargs)


def test_convergence_rule_describes_itself():
    assert C.ConvergenceRule(tail=0.5, tolerance=0.1).describe() == (
        "not converged = the metric still improved by more than 10% over the last 50% of training")


def test_evidence_of_a_small_frame():
    frame = pd.DataFrame({"seed": [2, 0, 1, 0], "steps": [300, 100, 300, np.nan], "x": [1, 2, 3, 4]})
    ev = C.Evidence.of(frame, {"data_source": "synthetic", "profile": "quick", "other": 1})
    assert ev == C.Evidence("synthetic", "quick", "100, 300", (0, 1, 2))
    assert C.Evidence.of(pd.DataFrame({"x": [1]})) == C.Evidence("", "", "", ())


# ------------------------------------------------------------------------------------ curves


def test_curve_json_round_trip_with_nan():
    cell = C.curve_json([0, 10, 20], [1.5, NAN, math.inf])
    assert cell == "[[0,1.5],[10,null],[20,null]]"
    steps, values = C.read_curve(cell)
    assert steps.tolist() == [0, 10, 20] and steps.dtype.kind == "i"
    assert values[0] == 1.5 and np.isnan(values[1:]).all()
    steps, values = C.read_curve(C.curve_json(np.array(STEPS), np.array(FALLING)))
    assert steps.tolist() == STEPS and values.tolist() == FALLING
    for missing in (None, NAN, ""):
        steps, values = C.read_curve(missing)
        assert steps.size == 0 and values.size == 0


def test_still_moving_on_falling_and_flat_curves():
    assert C.still_moving(STEPS, FALLING)
    assert not C.still_moving(STEPS, FLAT)
    # the rule's numbers matter: 50% change is moving at 5% tolerance, not at 60%
    assert not C.still_moving(STEPS, FALLING, C.ConvergenceRule(tolerance=0.6))
    # a small change within the tolerance: |4.9 - 5| / 4.9 = 2.04%, below 5% and above 2%
    assert not C.still_moving(STEPS, [10.0, 6.0, 5.0, 4.9], C.ConvergenceRule(tolerance=0.05))
    assert C.still_moving(STEPS, [10.0, 6.0, 5.0, 4.9], C.ConvergenceRule(tolerance=0.02))
    # the reference point is the last one at or before (1 - tail) T: with tail 0.5, step 100 (8 -> 4)
    assert C.still_moving(STEPS, [10.0, 8.0, 4.0, 4.0], C.ConvergenceRule(tail=0.5))
    assert not C.still_moving(STEPS, [10.0, 8.0, 4.0, 4.0])


def test_still_moving_edge_cases():
    assert not C.still_moving(STEPS, [10.0, 8.0, 6.0, NAN])  # diverged: final, not moving
    assert C.still_moving(STEPS, [10.0, 8.0, NAN, 4.0])  # the best finite earlier value (8) is the reference
    assert C.still_moving(STEPS, [NAN, NAN, NAN, 4.0])  # no finite earlier value: cannot tell it settled
    assert not C.still_moving(STEPS, [10.0, 5.0, 5.0, 5.05])  # noise upwards is not improvement
    assert not C.still_moving(STEPS, [10.0, 4.0, 6.0, 4.05])  # the best earlier value, not the last one
    assert C.still_moving(STEPS, [1.0, 2.0, 3.0, 4.0], direction="higher")  # accuracy still rising
    assert not C.still_moving(STEPS, [1.0, 2.0, 3.0, 4.0])  # an error that rises is not improving
    assert not C.still_moving([0], [10.0]) and not C.still_moving([], [])  # too short / no curve
    assert C.still_moving([250, 300], [5.0, 5.0])  # nothing before the last quarter: cannot tell


# ------------------------------------------------------------------------------ raw verdicts


def test_paired_patterns():
    assert C.paired([1, 2, 3], [2, 3, 4]) == "holds"  # a clear win
    assert C.paired([3, 4, 5], [2, 3, 4]) == "does not hold"  # a clear loss
    assert C.paired([1, 4, 3], [2, 3, 4]) == "inconclusive"  # mixed over seeds
    assert C.paired([1, 2], [1, 3]) == "inconclusive"  # a tie is not a win
    assert C.paired([2, 2], [2, 2]) == "inconclusive"  # nor a loss
    assert C.paired([1, 2], [NAN, 3]) == "holds"  # a diverged run is infinitely bad
    assert C.paired([NAN, 2], [1, 3]) == "inconclusive"
    assert C.paired([NAN, NAN], [1, 3]) == "does not hold"
    assert C.paired([NAN], [NAN]) == "inconclusive"  # two diverged runs tie
    with pytest.raises(ValueError, match="paired"):
        C.paired([1, 2], [1])
    with pytest.raises(ValueError, match="non-zero length"):
        C.paired([], [])


def test_paired_higher_is_better():
    assert C.paired([2, 3], [1, 2], "higher") == "holds"
    assert C.paired([1, 2], [2, 3], "higher") == "does not hold"
    assert C.paired([1, 2], [NAN, NAN], "higher") == "holds"  # NaN is the worst accuracy too
    assert C.paired([NAN, 5], [1, 2], "higher") == "inconclusive"


def test_per_seed_threshold_patterns():
    assert C.per_seed_threshold([0.7, 0.8], 0.5) == "holds"
    assert C.per_seed_threshold([0.3, 0.2], 0.5) == "does not hold"
    assert C.per_seed_threshold([0.7, 0.3], 0.5) == "inconclusive"
    assert C.per_seed_threshold([0.5, 0.7], 0.5) == "inconclusive"  # on the threshold is not above it
    assert C.per_seed_threshold([0.2, 0.3], 0.5, "lower") == "holds"
    assert C.per_seed_threshold([0.7, 0.8], 0.5, "lower") == "does not hold"
    # a diverged seed is on the wrong side
    assert C.per_seed_threshold([NAN, NAN], 0.5) == "does not hold"
    assert C.per_seed_threshold([0.7, NAN], 0.5) == "inconclusive"
    assert C.per_seed_threshold([0.3, NAN], 0.5) == "does not hold"
    assert C.per_seed_threshold([0.2, NAN], 0.5, "lower") == "inconclusive"
    with pytest.raises(ValueError, match="at least one"):
        C.per_seed_threshold([], 0.5)


def test_count_patterns():
    assert C.count([True, True], True) == "holds"
    assert C.count([False, False], True) == "does not hold"
    assert C.count([True, False], True) == "inconclusive"
    assert C.count([False, False], False) == "holds"
    assert C.count([True, False], False) == "does not hold"
    assert C.count([True, True], False) == "does not hold"
    assert C.count([], True) == "inconclusive" and C.count([], False) == "inconclusive"


# ---------------------------------------------------------------------------------- judges


def _moving_curves(*curves) -> list[bool]:
    return [C.still_moving(STEPS, c) for c in curves]


def test_judge_paired_verdicts_and_numbers():
    ev = C.Evidence("synthetic", "quick", "300", (0, 1, 2))
    row = C.judge_paired(LOWER, "A", [1.0, 2.0, 3.0], "B", [2.0, 3.0, 4.0], evidence=ev, unit=" mm")
    assert row["verdict"] == "holds"
    assert row["ours"] == "A 2.00 mm vs B 3.00 mm (3/3 seeds)"
    assert row == {"paper": "Paper", "where": "Table 1", "claim": "A's error is below B's", "metric": "err",
                   "paper value": "1.0 vs 2.0", "ours": row["ours"], "verdict": "holds", "data": "synthetic",
                   "profile": "quick", "steps": "300", "seeds": "0, 1, 2"}
    loss = C.judge_paired(LOWER, "A", [3.0, 4.0], "B", [2.0, 3.0], decimals=1)
    assert loss["verdict"] == "does not hold" and loss["ours"] == "A 3.5 vs B 2.5 (0/2 seeds)"
    mixed = C.judge_paired(LOWER, "A", [1.0, 4.0, 3.0], "B", [2.0, 3.0, 4.0])
    assert mixed["verdict"] == "inconclusive" and "(2/3 seeds)" in mixed["ours"]
    tie = C.judge_paired(LOWER, "A", [1.0, 1.0], "B", [1.0, 1.0])
    assert tie["verdict"] == "inconclusive" and "(0/2 seeds)" in tie["ours"]
    nan = C.judge_paired(LOWER, "A", [1.0, 2.0], "B", [NAN, 3.0])
    assert nan["verdict"] == "holds" and nan["ours"] == "A 1.50 vs B NaN (2/2 seeds)"


def test_judge_paired_higher():
    assert C.judge_paired(HIGHER, "A", [0.9, 0.8], "B", [0.5, 0.6])["verdict"] == "holds"
    row = C.judge_paired(HIGHER, "A", [0.5, 0.6], "B", [0.9, 0.8])
    assert row["verdict"] == "does not hold" and "(0/2 seeds)" in row["ours"]


def test_judge_paired_is_not_converged_while_a_run_still_moves():
    a, b = [5.0, 6.0], [4.0, 4.5]  # raw: A loses on every seed
    assert C.paired(a, b) == "does not hold"
    moving = _moving_curves(FALLING, FLAT, FLAT, FLAT)
    assert moving == [True, False, False, False]
    row = C.judge_paired(LOWER, "A", a, "B", b, moving=moving)
    assert row["verdict"] == "not converged"
    assert row["ours"].endswith("; 1 run(s) still moving") and "A 5.50 vs B 4.25" in row["ours"]
    # a win is provisional too
    assert C.judge_paired(LOWER, "A", b, "B", a, moving=moving)["verdict"] == "not converged"
    # every run flat: the raw verdict stands
    settled = C.judge_paired(LOWER, "A", a, "B", b, moving=_moving_curves(FLAT, FLAT))
    assert settled["verdict"] == "does not hold" and "still moving" not in settled["ours"]
    # a diverged run is final, never moving: the comparison is settled
    diverged = _moving_curves([10.0, 8.0, NAN, NAN], FLAT)
    assert diverged == [False, False]
    assert C.judge_paired(LOWER, "A", [NAN, 4.0], "B", [5.0, 5.0], moving=diverged)["verdict"] == "inconclusive"


def test_judge_threshold():
    claim = C.Claim("Paper", "Sec. 5", "A improves most samples", "frac", "higher", "72%")
    row = C.judge_threshold(claim, [0.7, 0.8], 0.5)
    assert row["verdict"] == "holds" and row["ours"] == "0.70, 0.80 per seed (threshold 0.5)"
    assert C.judge_threshold(claim, [0.3, 0.4], 0.5)["verdict"] == "does not hold"
    assert C.judge_threshold(claim, [0.3, 0.8], 0.5)["verdict"] == "inconclusive"
    nan = C.judge_threshold(claim, [0.7, NAN], 0.5, decimals=1, unit="%")
    assert nan["verdict"] == "inconclusive" and nan["ours"] == "0.7, NaN% per seed (threshold 0.5%)"
    moving = C.judge_threshold(claim, [0.7, 0.8], 0.5, moving=[False, True])
    assert moving["verdict"] == "not converged" and moving["ours"].endswith("; 1 run(s) still moving")
    lower = C.Claim("Paper", "Sec. 5", "error below 1 mm", "err", "lower")
    assert C.judge_threshold(lower, [0.5, 0.9], 1.0)["verdict"] == "holds"
    assert C.judge_threshold(lower, [1.5, 0.9], 1.0)["verdict"] == "inconclusive"


def test_judge_count_expecting_the_flag():
    claim = C.Claim("Paper", "Table 3b", "6D gives NaN at lr 2e-4", "diverged", "lower", "NaN")
    row = C.judge_count(claim, [True, True, True], True)
    assert row["verdict"] == "holds" and row["ours"] == "3 of 3 runs diverged"
    assert C.judge_count(claim, [False, False], True)["verdict"] == "does not hold"
    assert C.judge_count(claim, [True, False], True)["verdict"] == "inconclusive"
    # a run without the flag that still moves may diverge later: not converged ...
    row = C.judge_count(claim, [True, False], True, moving=[False, True])
    assert row["verdict"] == "not converged" and row["ours"] == "1 of 2 runs diverged; 1 run(s) without it still moving"
    assert C.judge_count(claim, [False, False], True, moving=[True, False])["verdict"] == "not converged"
    # ... but a moving flag (a diverged run is final) or settled runs change nothing
    assert C.judge_count(claim, [True, False], True, moving=[True, False])["verdict"] == "inconclusive"
    assert C.judge_count(claim, [True, True], True, moving=[True, True])["verdict"] == "holds"
    assert C.judge_count(claim, [], True)["verdict"] == "inconclusive"
    assert C.judge_count(claim, [], True)["ours"] == "no such runs"


def test_judge_count_expecting_no_flag():
    claim = C.Claim("Paper", "Table 3b", "PRoM trains without NaN", "diverged")
    assert C.judge_count(claim, [False, False], False)["verdict"] == "holds"
    row = C.judge_count(claim, [True, False], False, what="gave NaN")
    assert row["verdict"] == "does not hold" and row["ours"] == "1 of 2 runs gave NaN"
    # no run diverged yet, but one still moves: it may diverge later
    row = C.judge_count(claim, [False, False], False, moving=[False, True])
    assert row["verdict"] == "not converged" and row["ours"].endswith("; 1 run(s) without it still moving")
    # one run diverged: final, whatever the others still do
    assert C.judge_count(claim, [True, False], False, moving=[False, True])["verdict"] == "does not hold"
    assert C.judge_count(claim, [False, False], False, moving=[False, False])["verdict"] == "holds"


# --------------------------------------------------------------------------------- tables


def test_verdict_row_rejects_an_unknown_verdict():
    with pytest.raises(ValueError, match="verdict must be one of"):
        C.verdict_row(LOWER, "holds mostly", "1 vs 2")
    for verdict in C.VERDICTS:
        assert C.verdict_row(LOWER, verdict, "x")["verdict"] == verdict
    assert C.VERDICTS == ("holds", "does not hold", "inconclusive", "not converged")


def test_format_claims():
    assert C.format_claims(pd.DataFrame()) == "(no claims)"
    rows = pd.DataFrame([C.judge_paired(LOWER, "A", [1.0], "B", [2.0]),
                         C.judge_paired(LOWER, "A", [3.0], "B", [2.0])])
    assert C.format_claims(rows).splitlines() == [
        "holds          A's error is below B's",
        "                 A 1.00 vs B 2.00 (1/1 seeds)",
        "does not hold  A's error is below B's",
        "                 A 3.00 vs B 2.00 (0/1 seeds)",
    ]


def test_moving_runs_reads_the_metric_and_the_primary_curve():
    flat = C.curve_json(STEPS, [180.0, 179.0, 179.0, 179.0])   # a maximum pinned near 180 deg
    falling = C.curve_json(STEPS, [90.0, 60.0, 40.0, 20.0])    # while the mean error still falls
    settled = C.curve_json(STEPS, [90.0, 20.0, 20.0, 20.0])
    frame = pd.DataFrame({"rep": ["a", "b"], "curve_max_deg": [flat, flat],
                          "curve_mean_deg": [falling, settled]})
    assert C.moving_runs(frame, "max_deg") == [False, False]  # the statistic alone looks settled
    assert C.moving_runs(frame, "max_deg", primary="mean_deg") == [True, False]
    assert C.moving_runs(frame, "max_deg", primary="mean_deg", rep="b") == [False]
    assert C.moving_runs(frame, "pve_mm") == []  # no curve recorded: nothing is moving
