"""The equation index: which ``posebook`` function implements which paper equation, read from the
docstrings (the convention of the package: a docstring names its equation, "CLIFF Eq. 7").

A reference is "Eq. N" (or "Eqs. 7-9", "Algorithm 1", "Theorem 2", "Lemma 1") with its paper named
before it in the same sentence-fragment ("ZeDO Eq. 4", "PRoM's Eq. 13"); a bare "Eq. 5" takes the
paper last named earlier in the same docstring, else the one the module's docstring names first, else
the one in the module's path (``models/perspose.py``). A reference whose paper cannot be told is left
out rather than guessed. Only the layers that implement (below ``posebook.experiments``) are indexed:
the chapters' recipes check equations, they do not implement them.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Iterator, Optional

import pandas as pd

from posebook.book.api import modules

__all__ = ["PAPERS", "Reference", "references", "find_references", "equation_index", "to_markdown"]

#: The papers, in the book's order.
PAPERS = ("PRoM", "SGRE", "CLIFF", "PersPose", "ZeDO")
_KINDS = {"Eq": "Eq.", "Eqs": "Eq.", "Equation": "Eq.", "Equations": "Eq.", "Algorithm": "Algorithm",
          "Theorem": "Theorem", "Lemma": "Lemma"}
_NUMBER = r"\d+[a-z]?"
_REF = re.compile(
    rf"(?:\b(?P<paper>{'|'.join(PAPERS)})(?:'s)?(?:\s+supp\.)?\s+)?"
    rf"\b(?P<kind>Eqs?\.|Equations?|Algorithm|Theorem|Lemma)\s*(?P<numbers>{_NUMBER}(?:\s*(?:-|–|,|and)\s*{_NUMBER})*)")
_CITATION = re.compile(r"(\b(19|20)\d\d\b|et al\.)[^.;]*$")
_NOT_INDEXED = ("posebook.experiments", "posebook.book", "posebook.cli", "posebook.notebook")


@dataclass(frozen=True)
class Reference:
    """One equation an object's docstring names."""

    paper: str
    kind: str         # "Eq.", "Algorithm", "Theorem", "Lemma"
    numbers: str      # "7", "7-9", "2, 3"
    target: str       # "posebook.geometry.camera.cam_crop_to_full"
    role: str         # "func", "class", "meth"

    @property
    def first(self) -> int:
        return int(re.match(r"\d+", self.numbers).group())


def _paper_of_path(module: str) -> Optional[str]:
    lowered = module.lower()
    hits = [p for p in PAPERS if p.lower() in lowered.split(".")]
    return hits[0] if len(hits) == 1 else None


def find_references(doc: str, default: Optional[str]) -> Iterator[tuple[str, str, str]]:
    """``(paper, kind, numbers)`` for each equation reference in ``doc``.

    A bare reference takes the paper of the last explicit reference before it ("PRoM Eq. 37 ... Eq. 37
    alone"), else ``default``; one that follows a citation of another work ("Umeyama 1991, Eqs. 40-42")
    is not a paper's and is skipped.
    """
    last = default
    for match in _REF.finditer(doc):
        paper = match.group("paper")
        if paper is None:
            if _CITATION.search(doc[max(0, match.start() - 30):match.start()]):
                continue
            paper = last
        else:
            last = paper
        if paper is None:
            continue
        numbers = re.sub(r"\s*(-|–)\s*", "-", match.group("numbers"))
        yield paper, _KINDS[match.group("kind").rstrip(".")], re.sub(r"\s*,\s*", ", ", numbers)


def _objects(module) -> Iterator[tuple[str, str, object]]:
    """(qualified name, role, object) of the public functions, classes and methods defined in ``module``."""
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj):
            yield f"{module.__name__}.{name}", "class", obj
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and inspect.isfunction(member):
                    yield f"{module.__name__}.{name}.{attr}", "meth", member
        elif inspect.isfunction(obj):
            yield f"{module.__name__}.{name}", "func", obj


def references() -> list[Reference]:
    """Every equation reference in the docstrings of the implementing layers."""
    found = []
    for name in modules():
        if name.startswith(_NOT_INDEXED):
            continue
        module = importlib.import_module(name)
        # a bare reference: the module's paper (its path: models/perspose.py), else the paper of the
        # module docstring's first explicit reference
        module_refs = [m.group("paper") for m in _REF.finditer(inspect.getdoc(module) or "") if m.group("paper")]
        default = _paper_of_path(name) or (module_refs[0] if module_refs else None)
        for target, role, obj in _objects(module):
            doc = inspect.getdoc(obj) or ""
            for paper, kind, numbers in dict.fromkeys(find_references(doc, default)):
                found.append(Reference(paper, kind, numbers, target, role))
    return found


def equation_index(refs: Optional[list[Reference]] = None) -> pd.DataFrame:
    """One row per (paper, equation): the objects that implement it (``targets``: "role:target" strings)."""
    refs = references() if refs is None else refs
    kinds = ["Eq.", "Algorithm", "Theorem", "Lemma"]
    rows: dict[tuple[str, str, str], dict] = {}
    for r in refs:
        row = rows.setdefault((r.paper, r.kind, r.numbers), {
            "paper": r.paper, "equation": f"{r.kind} {r.numbers}", "kind": kinds.index(r.kind),
            "first": r.first, "targets": []})
        if f"{r.role}:{r.target}" not in row["targets"]:
            row["targets"].append(f"{r.role}:{r.target}")
    frame = pd.DataFrame(rows.values(), columns=["paper", "equation", "kind", "first", "targets"])
    frame["paper_order"] = frame["paper"].map(PAPERS.index)
    frame = frame.sort_values(["paper_order", "kind", "first", "equation"]).reset_index(drop=True)
    return frame[["paper", "equation", "targets"]]


def to_markdown(index: pd.DataFrame) -> str:
    """The index as MyST: one table per paper, each object a cross-reference to its API entry."""
    out = []
    for paper, rows in index.groupby("paper", sort=False):
        out += [f"## {paper}", "", "| equation | implemented by |", "|---|---|"]
        for _, r in rows.iterrows():
            links = ", ".join(f"{{py:{t.split(':', 1)[0]}}}`~{t.split(':', 1)[1]}`" for t in r["targets"])
            out.append(f"| {r['equation']} | {links} |")
        out.append("")
    return "\n".join(out)
