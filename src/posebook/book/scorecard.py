"""The reproduction scorecard: every claim of the five papers, the paper's number, the quick rerun, the
reference run and the verdict, with a link to the section of the book that shows it.

Nothing on the scorecard is typed by hand. The claims come from the chapters' claims functions
(``posebook.experiments.<chapter>.CLAIMS``, judged by :mod:`posebook.claims`) and from their lists of
claims not rerun (``posebook.experiments.<chapter>.not_rerun.NOT_RERUN``, each with its reason); the
numbers from the stored results (the quick run of this build and the most faithful committed reference,
:func:`~posebook.experiments.registry.best_reference`); the links from the notebooks' own sources (the
section whose code runs the experiment, :func:`experiment_sections`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

import pandas as pd

from posebook import claims as C
from posebook import report
from posebook.experiments import best_reference, cliff, perspose, prom, run_experiment, sgre, zedo
from posebook.experiments.cliff import not_rerun as cliff_not_rerun
from posebook.experiments.perspose import not_rerun as perspose_not_rerun
from posebook.experiments.prom import not_rerun as prom_not_rerun
from posebook.experiments.sgre import not_rerun as sgre_not_rerun
from posebook.experiments.zedo import not_rerun as zedo_not_rerun
from posebook.report import ClaimsFn
from posebook.runs import StoredResult

__all__ = ["Chapter", "CHAPTERS", "NOT_RERUN", "Section", "COLUMNS", "experiment_sections", "quick_runs", "scorecard", "verdict_summary", "to_markdown"]

#: The verdict of a claim the book does not rerun (licensed data, weeks of GPU training).
NOT_RERUN = "not rerun"


@dataclass(frozen=True)
class Chapter:
    """One paper's chapter: its landing page, claims functions and the claims it does not rerun."""

    paper: str
    page: str
    claims: Mapping[str, ClaimsFn | Sequence[ClaimsFn]]
    not_rerun: Sequence[tuple[C.Claim, str]] = ()


#: The five chapters, in the book's order.
CHAPTERS: tuple[Chapter, ...] = (
    Chapter("PRoM", "book/prom", prom.CLAIMS, prom_not_rerun.NOT_RERUN),
    Chapter("SGRE", "book/sgre", sgre.CLAIMS, sgre_not_rerun.NOT_RERUN),
    Chapter("CLIFF", "book/cliff", cliff.CLAIMS, cliff_not_rerun.NOT_RERUN),
    Chapter("PersPose", "book/perspose", perspose.CLAIMS, perspose_not_rerun.NOT_RERUN),
    Chapter("ZeDO", "book/zedo", zedo.CLAIMS, zedo_not_rerun.NOT_RERUN),
)

#: The scorecard's columns.
COLUMNS = ("paper", "where", "claim", "paper value", "experiment", "quick", "quick numbers", "reference",
           "reference numbers", "data", "reference run")


# ----------------------------------------------------------------------------- where it is shown


@dataclass(frozen=True)
class Section:
    """Where the book shows an experiment: the page (Sphinx docname), its title, and the heading above
    the first cell that runs it (``anchor``: its MyST slug, "" when it has none)."""

    docname: str
    title: str
    heading: str = ""
    anchor: str = ""

    def link(self, base: str = "..") -> str:
        """A MyST link from a page one folder below the root (``base`` ".."), e.g. the scorecard."""
        target = f"{base}/{self.docname}.ipynb" + (f"#{self.anchor}" if self.anchor else "")
        short = self.title.split(":")[0]  # "SGRE tables: relative vs global heads ..." -> "SGRE tables"
        label = short + (f" § {self.heading}" if self.heading else "")
        return f"[{_escape(label)}]({target})"


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_RUN = re.compile(r"run_experiment\(\s*[\"']([\w.]+)[\"']")
_FENCE = re.compile(r"^(`{3,}|~{3,})")


def _heading_text(markdown: str) -> str:
    """The text MyST slugs a heading from: inline code kept, math, link targets and emphasis dropped."""
    text = re.sub(r"\$[^$]*\$", "", markdown)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"(?<!\w)[*_]{1,3}|[*_]{1,3}(?!\w)", "", text)
    return text.replace("`", "")


def _slug(title: str) -> str:
    # myst_parser's default (GitHub-style) slug, restated so the package does not import the book tools
    return re.sub(r"[^\w\u4e00-\u9fff\- ]", "", title.lower().replace(" ", "-"))


def experiment_sections(root: str | Path, anchor_depth: int = 3) -> dict[str, Section]:
    """``{experiment: Section}`` for every experiment a notebook of ``root/notebooks`` runs (first
    occurrence, notebooks in path order), read from the notebooks' jupytext (MyST) sources.

    ``anchor_depth`` is the book's ``myst_heading_anchors``: deeper headings get no slug, so the link
    goes to the nearest heading above that has one.
    """
    found: dict[str, Section] = {}
    for path in sorted(Path(root, "notebooks").glob("*/*.md")):
        docname = path.relative_to(root).with_suffix("").as_posix()
        title, heading, anchor, slugs, fence = "", "", "", set(), None
        for line in path.read_text().splitlines():
            mark = _FENCE.match(line)
            if mark and fence is None:
                fence = mark.group(1)
                continue
            if fence is not None and line.strip() == fence:
                fence = None
                continue
            if fence is None:
                match = _HEADING.match(line)
                if match:
                    level, text = len(match.group(1)), _heading_text(match.group(2))
                    if level == 1 and not title:
                        title = text
                    elif level <= anchor_depth:
                        slug = base = _slug(text)
                        k = 1
                        while slug in slugs:
                            slug, k = f"{base}-{k}", k + 1
                        slugs.add(slug)
                        heading, anchor = text, slug
                    continue
            for name in _RUN.findall(line):
                found.setdefault(name, Section(docname, title or docname, heading, anchor))
    return found


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# ------------------------------------------------------------------------------------- judging


def _run_line(run: Optional[StoredResult]) -> str:
    if run is None:
        return "none committed"
    code = "current code" if run.is_current() else "OLDER code"
    return f"{run.meta.get('profile')} profile, {run.meta.get('device')}, {str(run.meta.get('created_utc', '?'))[:10]}, {code}"


def quick_runs(profile: str = "quick", device: str = "cpu", seed: int = 0, cmu_dir: str | None = None,
               ) -> Callable[[str], StoredResult]:
    """``find(experiment)``: the experiment's run at ``profile`` with its default parameters, as the
    chapter pages run it (the stored result when a page of this build already computed it, else
    computed now and stored)."""
    def find(name: str) -> StoredResult:
        return run_experiment(name, profile=profile, device=device, seed=seed, cmu_dir=cmu_dir)
    return find


def scorecard(quick: Optional[Callable[[str], Optional[StoredResult]]] = None,
              reference: Callable[[str], Optional[StoredResult]] = best_reference,
              chapters: Sequence[Chapter] = CHAPTERS) -> pd.DataFrame:
    """Every claim of ``chapters``: one row per claim with :data:`COLUMNS`.

    Args:
        quick: ``find(experiment)`` for the quick rerun (e.g. :func:`quick_runs`); None leaves the quick
            columns empty ("–").
        reference: ``find(experiment)`` for the reference run (default: the most faithful committed one).

    A claim judged on one run and not the other (the quick run has one seed, some claims need three)
    gets "–" on the side without it; a claim not rerun gets the verdict :data:`NOT_RERUN` and its reason.
    """
    rows = []
    for chapter in chapters:
        for experiment, functions in chapter.claims.items():
            ref_run = reference(experiment)
            quick_run = quick(experiment) if quick is not None else None
            judged: dict[tuple[str, str], dict] = {}
            for side, run in (("reference", ref_run), ("quick", quick_run)):
                if run is None:
                    continue
                # the claims engine's own judging (a run stored by older code, without a column its
                # claims read now, gives one row "no current run")
                for r in report.gather_verdicts({experiment: functions}, lambda _, run=run: run).to_dict("records"):
                    row = judged.setdefault((r["where"], r["claim"]), {
                        "paper": chapter.paper, "where": r["where"], "claim": r["claim"],
                        "paper value": r["paper"], "experiment": experiment,
                        "quick": "–", "quick numbers": "–", "reference": "–", "reference numbers": "–",
                        "data": run.meta.get("data_source", ""), "reference run": _run_line(ref_run)})
                    row[side], row[f"{side} numbers"] = r["verdict"], r["ours"]
            if not judged:  # nothing stored on either side
                judged[("–", "–")] = {"paper": chapter.paper, "where": "–", "claim": f"(claims of {experiment})",
                                      "paper value": "–", "experiment": experiment, "quick": "–",
                                      "quick numbers": "–", "reference": "no run yet", "reference numbers": "–",
                                      "data": "", "reference run": _run_line(ref_run)}
            rows += judged.values()
        for claim, reason in chapter.not_rerun:
            rows.append({"paper": chapter.paper, "where": claim.where, "claim": claim.statement,
                         "paper value": claim.paper_value, "experiment": "", "quick": NOT_RERUN,
                         "quick numbers": reason, "reference": NOT_RERUN, "reference numbers": reason,
                         "data": "", "reference run": ""})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def verdict_summary(card: pd.DataFrame, column: str = "reference") -> pd.DataFrame:
    """Claims per paper and verdict of ``column`` (papers in scorecard order, the four verdicts of
    :data:`posebook.claims.VERDICTS` first, then "not rerun" and any other), with a total column."""
    papers = list(dict.fromkeys(card["paper"]))
    seen = list(dict.fromkeys(card[column]))
    order = [v for v in C.VERDICTS] + [NOT_RERUN] + [v for v in seen if v not in C.VERDICTS and v != NOT_RERUN]
    table = pd.crosstab(card["paper"], card[column]).reindex(index=papers, columns=order, fill_value=0)
    table = table.loc[:, (table.sum(axis=0) > 0) | table.columns.isin(C.VERDICTS)]
    table["claims"] = table.sum(axis=1)
    table.columns.name = None
    return table


def to_markdown(card: pd.DataFrame, sections: Mapping[str, Section], pages: Mapping[str, str] | None = None,
                base: str = "..") -> str:
    """The scorecard as MyST: a section per paper (linking its landing page), a paragraph per experiment
    (the section of the book that shows it, its data, its reference run) and a table row per claim."""
    pages = pages or {c.paper: c.page for c in CHAPTERS}
    out = []
    for paper, paper_rows in card.groupby("paper", sort=False):
        out += [f"## {paper}", ""]
        if paper in pages:
            out += [f"Chapter: [{paper}]({base}/{pages[paper]}.md).", ""]
        for experiment, rows in paper_rows.groupby("experiment", sort=False):
            first = rows.iloc[0]
            if experiment:
                shown = sections[experiment].link(base) if experiment in sections else "no page runs it"
                out += [f"**`{experiment}`**, shown in {shown}. Data: {_escape(first['data']) or '–'}. "
                        f"Reference run: {_escape(first['reference run'])}.", ""]
            else:
                out += ["**Not rerun** (the reason is in the last column):", ""]
            out += ["| where | claim | paper | quick rerun | reference run |", "|---|---|---|---|---|"]
            for _, r in rows.iterrows():
                if r["quick"] == NOT_RERUN:
                    quick, ref = NOT_RERUN, _escape(r["reference numbers"])
                else:
                    quick = (f"**{r['quick']}**" if r["quick"] != "–" else "–") + (f"<br>{_escape(r['quick numbers'])}" if r["quick numbers"] != "–" else "")
                    ref = f"**{r['reference']}**" + (f"<br>{_escape(r['reference numbers'])}"
                                                      if r["reference numbers"] != "–" else "")
                out.append(f"| {_escape(r['where'])} | {_escape(r['claim'])} | {_escape(r['paper value']) or '–'} | "
                           f"{quick} | {ref} |")
            out.append("")
    return "\n".join(out)
