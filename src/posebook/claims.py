"""One claims engine for every chapter: a paper's claim, judged on our per-seed results.

A :class:`Claim` is what a paper says, in plain words, with the metric it is about, which direction
is better and the paper's own value(s). Its verdict is one of four words (:data:`VERDICTS`):

- **holds**: the claim is true for every seed (runs are paired: the same seed gives both sides the
  same initial weights and the same batches);
- **does not hold**: the opposite is true for every seed, and every run involved has converged;
- **inconclusive**: the seeds disagree (or tie), and every run involved has converged;
- **not converged**: some run involved is still improving (:class:`ConvergenceRule`), so the
  comparison is of an undertrained state; ``ours`` still shows the provisional numbers.

A run that diverged (NaN) is final, never "still moving": it counts as infinitely bad in a
comparison. Every verdict row carries its evidence (:class:`Evidence`: data source, profile, steps,
seeds), so a table of verdicts says what it was computed on.

The convergence rule. A run records its learning curve, the compared metric at several points of
training (``curve_<metric>`` columns, :func:`curve_json`). It is *still moving* when it still
improved by more than ``tolerance`` (relative) over the last ``tail`` of training: for an error
(lower is better), ``(b - y(T)) / |y(T)| > tolerance`` with ``b`` the best value recorded at or before
``(1 - tail) T``. Measuring improvement against the best earlier value, rather than any change
against one earlier point, keeps evaluation noise (a final value a little above an earlier one) from
reading as "still moving". A run without a curve is taken as converged (the caller says so by not
recording one: e.g. a closed-form computation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from posebook.runs import curve_json, read_curve  # the frame-cell format of learning curves

__all__ = [
    "VERDICTS",
    "Claim",
    "ConvergenceRule",
    "Evidence",
    "curve_json",
    "read_curve",
    "still_moving",
    "moving_runs",
    "paired",
    "per_seed_threshold",
    "count",
    "judge_paired",
    "judge_threshold",
    "judge_count",
    "verdict_row",
    "format_claims",
]

Verdict = Literal["holds", "does not hold", "inconclusive", "not converged"]
#: The four verdict words (see the module docstring).
VERDICTS: tuple[str, ...] = ("holds", "does not hold", "inconclusive", "not converged")


@dataclass(frozen=True)
class Claim:
    """A claim of a paper.

    Attributes:
        paper: "PRoM", "CLIFF", ...
        where: the table or figure ("Table 2a (left)").
        statement: the claim in plain words ("PRoM's mean error is below 6D's").
        metric: the column it is judged on ("mean_deg").
        direction: "lower" if a smaller metric is better, "higher" otherwise.
        paper_value: the paper's number(s) as text ("0.37 vs 0.49 deg"), "" if it gives none.
    """

    paper: str
    where: str
    statement: str
    metric: str
    direction: Literal["lower", "higher"] = "lower"
    paper_value: str = ""

    def __post_init__(self) -> None:
        if self.direction not in ("lower", "higher"):
            raise ValueError(f"direction must be 'lower' or 'higher', got {self.direction!r}")


@dataclass(frozen=True)
class ConvergenceRule:
    """A run is still moving when its metric changed by more than ``tolerance`` (relative) over the
    last ``tail`` fraction of training."""

    tail: float = 0.25
    tolerance: float = 0.02

    def __post_init__(self) -> None:
        if not 0 < self.tail < 1:
            raise ValueError(f"tail must lie in (0, 1), got {self.tail}")
        if not self.tolerance >= 0:
            raise ValueError(f"tolerance must be >= 0, got {self.tolerance}")

    def describe(self) -> str:
        return (f"not converged = the metric still improved by more than {self.tolerance:.0%} over the last "
                f"{self.tail:.0%} of training")


@dataclass(frozen=True)
class Evidence:
    """What a verdict was computed on."""

    data_source: str = ""
    profile: str = ""
    steps: str = ""
    seeds: Sequence[int] = field(default_factory=tuple)

    @classmethod
    def of(cls, frame: pd.DataFrame, meta: Optional[Mapping] = None) -> "Evidence":
        """From a result frame (``steps``, ``seed`` columns) and its provenance record."""
        meta = meta or {}
        steps = ""
        if "steps" in frame:
            values = sorted({int(v) for v in frame["steps"].dropna()})
            steps = ", ".join(map(str, values))
        seeds = tuple(sorted({int(s) for s in frame["seed"]})) if "seed" in frame else ()
        return cls(str(meta.get("data_source", "")), str(meta.get("profile", "")), steps, seeds)


# ---------------------------------------------------------------------------------- curves


def still_moving(steps: Sequence[int], values: Sequence[float], rule: ConvergenceRule = ConvergenceRule(),
                 direction: Literal["lower", "higher"] = "lower") -> bool:
    """Whether a learning curve still improves under ``rule`` (``direction``: which way is better).

    False for a diverged run (NaN final value: final), a curve with fewer than two points, or no
    curve; True when nothing was recorded before the last ``tail`` (cannot tell it settled).
    """
    steps = np.asarray(steps, dtype=float)
    values = np.asarray(values, dtype=float)
    if steps.size < 2:
        return False
    if not np.isfinite(values[-1]):
        return False  # diverged: final
    cut = (1.0 - rule.tail) * steps[-1]
    earlier = values[steps <= cut]
    earlier = earlier[np.isfinite(earlier)]
    if earlier.size == 0:
        return True
    best = earlier.min() if direction == "lower" else earlier.max()
    gain = (best - values[-1]) if direction == "lower" else (values[-1] - best)
    return gain / max(abs(values[-1]), 1e-12) > rule.tolerance


def moving_runs(frame: pd.DataFrame, metric: str, rule: ConvergenceRule = ConvergenceRule(), *,
                primary: Optional[str] = None, **where) -> list[bool]:
    """Per run (row) of ``frame`` matching ``where``: is it still improving on ``curve_<metric>`` or on
    its primary learning curve ``curve_<primary>``?

    The primary curve (a run's mean test error) is what training moves; a derived statistic (a
    maximum pinned near 180 deg) can sit still while the run is far from trained, so a run counts as
    moving if either curve moves. Curves missing from the frame are skipped (no curve: converged).
    """
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    names = [f"curve_{metric}"] + ([f"curve_{primary}"] if primary else [])
    columns = [c for c in dict.fromkeys(names) if c in frame]
    if not columns:
        return []
    return [any(still_moving(*read_curve(row[c]), rule) for c in columns) for _, row in frame.loc[mask].iterrows()]


# ------------------------------------------------------------------------------- verdicts


def _as_bad_inf(values: Sequence[float], direction: str) -> np.ndarray:
    """NaN (diverged) -> the worst value for ``direction``."""
    a = np.asarray(values, dtype=float)
    return np.nan_to_num(a, nan=np.inf if direction == "lower" else -np.inf)


def paired(better: Sequence[float], worse: Sequence[float], direction: str = "lower") -> str:
    """The raw per-seed verdict of "``better`` beats ``worse``" (no convergence check).

    "holds" if it is true for every seed, "does not hold" if the opposite is true for every seed,
    "inconclusive" otherwise (ties included). A NaN counts as infinitely bad.
    """
    a, b = _as_bad_inf(better, direction), _as_bad_inf(worse, direction)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"need paired per-seed values of equal, non-zero length, got {a.shape} and {b.shape}")
    wins = a < b if direction == "lower" else a > b
    losses = a > b if direction == "lower" else a < b
    if wins.all():
        return "holds"
    if losses.all():
        return "does not hold"
    return "inconclusive"


def per_seed_threshold(values: Sequence[float], threshold: float, direction: str = "higher") -> str:
    """The raw verdict of "the value is beyond ``threshold``" per seed ("higher": above it); a NaN
    (diverged) seed counts as on the wrong side."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("need at least one per-seed value")
    v = _as_bad_inf(v, direction)  # a diverged (NaN) seed is on the wrong side of any threshold
    above = v > threshold if direction == "higher" else v < threshold
    below = v < threshold if direction == "higher" else v > threshold
    return "holds" if above.all() else "does not hold" if below.all() else "inconclusive"


def count(flags: Sequence[bool], expect: bool) -> str:
    """The raw verdict of "every run has the flag" (``expect`` True) or "no run has it" (False)."""
    f = np.asarray(flags, dtype=bool)
    if f.size == 0:
        return "inconclusive"
    k = int(f.sum())
    if expect:
        return "holds" if k == f.size else "does not hold" if k == 0 else "inconclusive"
    return "holds" if k == 0 else "does not hold"


def _settle(raw: str, moving: Sequence[bool]) -> str:
    """A raw verdict becomes "not converged" while any run involved is still moving."""
    return "not converged" if any(bool(m) for m in moving) else raw


def verdict_row(claim: Claim, verdict: str, ours: str, evidence: Evidence = Evidence()) -> dict:
    """One row of a verdict table."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    return {"paper": claim.paper, "where": claim.where, "claim": claim.statement, "metric": claim.metric,
            "paper value": claim.paper_value, "ours": ours, "verdict": verdict,
            "data": evidence.data_source, "profile": evidence.profile, "steps": evidence.steps,
            "seeds": ", ".join(map(str, evidence.seeds))}


def _fmt(values: np.ndarray, decimals: int) -> str:
    return "NaN" if np.isnan(values).any() else f"{np.mean(values):.{decimals}f}"


def judge_paired(claim: Claim, a_label: str, a: Sequence[float], b_label: str, b: Sequence[float], *,
                 moving: Sequence[bool] = (), evidence: Evidence = Evidence(), decimals: int = 2,
                 unit: str = "") -> dict:
    """Judge "``a`` beats ``b`` on ``claim.metric``" seed by seed.

    Args:
        a, b: per-seed values, same seed order (NaN = diverged).
        moving: per run involved, whether it is still moving (:func:`still_moving`).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    raw = paired(a, b, claim.direction)
    wins = int(np.sum(_as_bad_inf(a, claim.direction) < _as_bad_inf(b, claim.direction))
               if claim.direction == "lower" else np.sum(_as_bad_inf(a, claim.direction) > _as_bad_inf(b, claim.direction)))
    ours = f"{a_label} {_fmt(a, decimals)}{unit} vs {b_label} {_fmt(b, decimals)}{unit} ({wins}/{a.size} seeds)"
    n_moving = int(sum(bool(m) for m in moving))
    if n_moving:
        ours += f"; {n_moving} run(s) still moving"
    return verdict_row(claim, _settle(raw, moving), ours, evidence)


def judge_threshold(claim: Claim, values: Sequence[float], threshold: float, *, moving: Sequence[bool] = (),
                    evidence: Evidence = Evidence(), decimals: int = 2, unit: str = "") -> dict:
    """Judge "the per-seed value is beyond ``threshold``" (``claim.direction`` "higher": above)."""
    v = np.asarray(values, dtype=float)
    raw = per_seed_threshold(v, threshold, claim.direction)
    shown = ", ".join("NaN" if np.isnan(x) else f"{x:.{decimals}f}" for x in v)
    ours = f"{shown}{unit} per seed (threshold {threshold:g}{unit})"
    if any(moving):
        ours += f"; {int(sum(map(bool, moving)))} run(s) still moving"
    return verdict_row(claim, _settle(raw, moving), ours, evidence)


def judge_count(claim: Claim, flags: Sequence[bool], expect: bool, *, what: str = "diverged",
                moving: Sequence[bool] = (), evidence: Evidence = Evidence()) -> dict:
    """Judge a claim about how many runs have a flag (e.g. "6D gives NaN at lr 2e-4": expect=True).

    A run that did not get the flag and is still moving may get it later, so a verdict that such a
    run could change ("does not hold" / "inconclusive" with ``expect=True``, "holds" with
    ``expect=False``) needs every such run converged; a run that has the flag (diverged) is final.
    """
    f = np.asarray(flags, dtype=bool)
    if f.size == 0:
        return verdict_row(claim, "inconclusive", "no such runs", evidence)
    raw = count(f, expect)
    unsettled = [bool(m) and not bool(x) for m, x in zip(moving, f)] if len(moving) else []
    ours = f"{int(f.sum())} of {f.size} runs {what}"
    verdict = raw
    # A run with the flag is final; one without it may still get it: with expect=True that can turn
    # "does not hold" / "inconclusive" into "holds", with expect=False "holds" into "does not hold".
    provisional = raw != "holds" if expect else raw == "holds"
    if provisional and any(unsettled):
        verdict = "not converged"
        ours += f"; {sum(unsettled)} run(s) without it still moving"
    return verdict_row(claim, verdict, ours, evidence)


def format_claims(claims: pd.DataFrame) -> str:
    """Verdicts as narrow text, one block per claim: the verdict and the claim, then our numbers."""
    if claims.empty:
        return "(no claims)"
    width = max(len(v) for v in claims["verdict"])
    lines = []
    for _, row in claims.iterrows():
        lines.append(f"{row['verdict']:<{width}}  {row['claim']}")
        lines.append(f"{'':<{width}}    {row['ours']}")
    return "\n".join(lines)
