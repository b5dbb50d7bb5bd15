"""Tables for the book: per-seed runs summarised, and the quick rerun beside the reference run.

Every table of the book shows three things side by side: the paper's number, the quick rerun
executed while the book builds, and, when one is committed, the reference run (``long`` on a CPU,
``gpu`` on a GPU; :func:`posebook.experiments.registry.find_reference`) with a one-line provenance
that says whether the current code of the experiment computed it.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from posebook.runs import StoredResult, read_curve

__all__ = ["by_seed", "curves", "summarize", "beside", "reference_line", "verdicts_beside", "gather_verdicts",
           "verdict_counts"]


def by_seed(frame: pd.DataFrame, metric: str, **where) -> np.ndarray:
    """Per-seed values of ``metric`` (sorted by seed) among rows matching ``where`` (one row per seed)."""
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    rows = frame[mask].sort_values("seed")
    if rows["seed"].duplicated().any():
        raise ValueError(f"more than one row per seed for {where}")
    return rows[metric].to_numpy(dtype=float)


def curves(frame: pd.DataFrame, column: str, by: Sequence[str] = ("variant", "seed")) -> pd.DataFrame:
    """The learning curves of a ``curve_<metric>`` column as a tidy frame: ``by`` + step + value."""
    rows = []
    for _, row in frame.iterrows():
        steps, values = read_curve(row[column])
        rows += [{**{k: row[k] for k in by}, "step": int(s), "value": float(v)} for s, v in zip(steps, values)]
    return pd.DataFrame(rows, columns=[*by, "step", "value"])


def summarize(frame: pd.DataFrame, by: Sequence[str], metrics: Sequence[str] = ("mean_deg", "max_deg", "std_deg"),
              decimals: int = 2) -> pd.DataFrame:
    """Mean and std over seeds of each metric, plus "mean ± sd" strings; a diverged seed stays NaN.

    Args:
        frame: one row per run (seed), columns ``by`` + ``metrics`` + "seed".
    Returns:
        one row per group: ``{metric}`` (mean over seeds; NaN if any seed diverged), ``{metric}_sd``,
        ``{metric} ± sd`` strings, ``seeds`` and ``diverged`` (count of diverged seeds).
    """
    rows = []
    for key, g in frame.groupby(list(by), sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for m in metrics:
            values = g[m].to_numpy(dtype=float)
            mu = float(np.mean(values)) if not np.isnan(values).any() else math.nan
            sd = float(np.std(values, ddof=1)) if len(values) > 1 and not np.isnan(mu) else math.nan
            row[m], row[f"{m}_sd"] = mu, sd
            row[f"{m} ± sd"] = "NaN" if np.isnan(mu) else (
                f"{mu:.{decimals}f} ± {sd:.{decimals}f}" if not np.isnan(sd) else f"{mu:.{decimals}f}")
        row["seeds"] = len(g)
        row["diverged"] = int(g["diverged"].sum()) if "diverged" in g else 0
        rows.append(row)
    return pd.DataFrame(rows)


def reference_line(reference: Optional[StoredResult]) -> str:
    """"reference: long profile, cpu (x86_64) 1 thread, commit abc1234, 41 min, 2026-12-01 (current code)",
    or a sentence saying that no reference run is committed yet."""
    if reference is None:
        return ("reference: none committed yet for these parameters "
                "(`posebook run --all --profile long --reference` computes it)")
    code = ("computed by the current code of this experiment" if reference.is_current()
            else "computed by an OLDER version of this experiment's code: rerun it to refresh")
    return f"reference: {reference.provenance_line()} ({code}); data: {reference.meta.get('data_source')}"


def beside(table: Callable[[pd.DataFrame], pd.DataFrame], quick: pd.DataFrame, reference: Optional[pd.DataFrame],
           on: str, ours_prefix: str = "ours") -> pd.DataFrame:
    """``table(quick)`` with the reference run's "ours" columns added as "reference ..." columns.

    ``table`` lays out one frame (its columns starting with ``ours_prefix`` are our numbers, the others
    the row label and the paper's numbers); rows are matched on column ``on``.
    """
    out = table(quick).rename(columns=lambda c: c.replace(ours_prefix, "quick", 1) if c.startswith(ours_prefix) else c)
    if reference is None:
        return out
    ref = table(reference)
    ref = ref[[on] + [c for c in ref.columns if c.startswith(ours_prefix)]]
    ref = ref.rename(columns=lambda c: c.replace(ours_prefix, "reference", 1) if c.startswith(ours_prefix) else c)
    merged = out.merge(ref, on=on, how="left")
    quick_cols = [c for c in out.columns if c.startswith("quick")]
    ref_cols = [c for c in ref.columns if c.startswith("reference")]
    rest = [c for c in out.columns if c not in quick_cols]
    order = [rest[0]] + [c for pair in zip(quick_cols, ref_cols) for c in pair] + rest[1:]
    order += [c for c in merged.columns if c not in order]
    return merged[order].fillna("–")


def verdicts_beside(quick: pd.DataFrame, reference: Optional[pd.DataFrame]) -> pd.DataFrame:
    """Claim, the paper's value, the quick verdict (and numbers), the reference verdict (and numbers)."""
    out = pd.DataFrame({"claim": quick["claim"], "paper": quick["paper value"],
                        "quick": quick["verdict"], "quick numbers": quick["ours"]})
    if reference is not None and len(reference):
        ref = reference.set_index("claim")
        out["reference"] = [ref["verdict"].get(c, "–") for c in quick["claim"]]
        out["reference numbers"] = [ref["ours"].get(c, "–") for c in quick["claim"]]
    else:
        out["reference"] = "no reference yet"
    return out


#: ``claims(frame, meta) -> verdict rows`` (the ``claims_*`` functions of a chapter's recipes)
ClaimsFn = Callable[[pd.DataFrame, Optional[dict]], pd.DataFrame]


def gather_verdicts(claims_of: Mapping[str, ClaimsFn | Sequence[ClaimsFn]],
                    find: Callable[[str], Optional[StoredResult]]) -> pd.DataFrame:
    """Every claim of a chapter, judged on the run ``find(experiment)`` returns (e.g. its best
    committed reference), one row per claim: experiment, where, claim, paper value, verdict, our
    numbers, and which run it was (profile, date, whether the current code computed it).

    ``claims_of`` maps an experiment to its claims function, or to several (applied in order).
    An experiment without a run gets one row with verdict "no run yet"; one whose stored run lacks a
    column its claims read now (stored by older code) gets one row "no current run".
    """
    rows = []
    for name, functions in claims_of.items():
        functions = functions if isinstance(functions, (list, tuple)) else (functions,)
        run = find(name)
        if run is None:
            rows.append({"experiment": name, "where": "–", "claim": "–", "paper": "–", "verdict": "no run yet",
                         "ours": "–", "run": "none committed"})
            continue
        code = "current code" if run.is_current() else "OLDER code"
        line = f"{run.meta.get('profile')} profile, {str(run.meta.get('created_utc', '?'))[:10]}, {code}"
        try:
            judged = [r for claims in functions for r in claims(run.frame, run.meta).to_dict("records")]
        except KeyError as missing:  # a run stored by older code, without a column the claims read now
            rows.append({"experiment": name, "where": "–", "claim": "–", "paper": "–",
                         "verdict": "no current run", "ours": f"the stored run has no column {missing}",
                         "run": line})
            continue
        for row in judged:
            rows.append({"experiment": name, "where": row.get("where", ""), "claim": row["claim"],
                         "paper": row.get("paper value", ""), "verdict": row["verdict"], "ours": row["ours"],
                         "run": line})
    return pd.DataFrame(rows, columns=["experiment", "where", "claim", "paper", "verdict", "ours", "run"])


def verdict_counts(verdicts: pd.DataFrame, order: Sequence[str]) -> pd.Series:
    """How many claims got each verdict, in ``order`` (e.g. :data:`posebook.claims.VERDICTS`) then any
    other (such as "no run yet"), zeros kept."""
    counts = verdicts["verdict"].value_counts()
    order = list(order) + [v for v in counts.index if v not in order]
    return counts.reindex(order, fill_value=0).rename("claims")
