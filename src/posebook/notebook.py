"""What every notebook does: check its parameters before any work starts, and show a rerun beside its
committed reference run (:func:`with_reference`).

Parameters.

Every notebook has a ``parameters`` cell (first line ``# papermill parameters``) whose assignments
are its contract: the names it accepts and, through their defaults, their types. papermill
(``-p name value``) injects a cell starting with ``# Parameters`` after it. The notebook's next cell
calls :func:`check_parameters` with its ``globals()``: an injected name the parameters cell does not
declare (a typo such as ``depht_m``) is refused with the valid names and a suggestion; a value of
the wrong type or out of range is refused naming the parameter and what is allowed. papermill on
its own only warns about unknown names and runs the notebook to the end on the defaults.

The rules are the experiments' (:mod:`posebook.parameters`): type from the default, generic
ranges (profile, device, counts >= 0, finite floats), plus any ``checks`` the notebook passes
(e.g. :func:`~posebook.parameters.positive`).
"""

from __future__ import annotations

import ast
import difflib
from typing import Any, Callable, Mapping, Optional, Sequence

from posebook import report
from posebook.experiments.registry import best_reference
from posebook.parameters import check_parameter, positive
from posebook.runs import StoredResult

__all__ = ["PARAMETERS_HEADER", "INJECTED_HEADER", "check_parameters", "declared_parameters", "positive",
           "with_reference"]

PARAMETERS_HEADER = "# papermill parameters"
#: The first line of the cell papermill injects.
INJECTED_HEADER = "# Parameters"


def _assignments(source: str) -> dict[str, Any]:
    """``name = literal`` lines of a cell -> {name: value} (non-literal values are kept as Ellipsis)."""
    out: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                out[node.targets[0].id] = Ellipsis
    return out


def declared_parameters(history: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """From the executed cells (IPython's ``In``): the parameters cell's defaults and papermill's injected values."""
    declared: dict[str, Any] = {}
    injected: dict[str, Any] = {}
    for source in history:
        first = source.lstrip().splitlines()[0] if source.strip() else ""
        if first.startswith(PARAMETERS_HEADER):
            declared = _assignments(source)
        elif first.strip() == INJECTED_HEADER:
            injected.update(_assignments(source))
    return declared, injected


def check_parameters(namespace: Mapping[str, Any], **checks: Callable[[str, Any], None]) -> dict[str, Any]:
    """Check the notebook's parameters after papermill injected its values; returns {name: value}.

    Args:
        namespace: the notebook's ``globals()`` (holds IPython's ``In``: the executed cells).
        checks: extra per-parameter checks ``check(name, value)`` raising ValueError (e.g. :func:`positive`).
    Raises:
        ValueError: an unknown injected name (with the valid names and a suggestion), a value of the
            wrong type or out of range, naming the parameter and what is allowed.
    """
    declared, injected = declared_parameters(list(namespace.get("In", ())))
    if not declared:  # not run in an IPython kernel (no cell history): nothing to compare against
        return {}
    unknown = sorted(set(injected) - set(declared))
    if unknown:
        hints = [f"{u!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(u, declared, n=1))
                 else repr(u) for u in unknown]
        raise ValueError(f"this notebook has no parameter {', '.join(hints)}; its parameters are: "
                         f"{', '.join(declared)}")
    values = {name: namespace.get(name, default) for name, default in declared.items()}
    for name, value in values.items():
        check_parameter(name, value, declared[name])
    for name, check in checks.items():
        if name not in declared:
            raise ValueError(f"check for {name!r}, which is not a parameter of this notebook ({', '.join(declared)})")
        check(name, values[name])
    return values


def with_reference(name: str, result: StoredResult, claims: Callable, table: Optional[Callable] = None,
                   on: Optional[str] = None, seed: int = 0) -> Optional[StoredResult]:
    """Show a rerun beside the committed reference run of the same experiment and parameters.

    Prints the reference's provenance line (:func:`posebook.report.reference_line`), displays
    ``table`` of both runs side by side (:func:`posebook.report.beside`, rows matched on ``on``)
    when ``table`` is given, and both sets of verdicts (``claims(frame, meta)``,
    :func:`posebook.report.verdicts_beside`). Returns the reference (None when none is committed).
    """
    from IPython.display import display

    ref = best_reference(name, seed=seed, **result.meta["experiment_params"])
    print(report.reference_line(ref))

    def layouts(reference: Optional[StoredResult]) -> list:
        other = None if reference is None else reference.frame
        shown = [] if table is None else [report.beside(table, result.frame, other, on=on)]
        return shown + [report.verdicts_beside(claims(result.frame, result.meta),
                                               None if reference is None else claims(other, reference.meta))]

    try:
        shown = layouts(ref)
    except KeyError as missing:
        if ref is None:  # the rerun's own frame: a real error
            raise
        # a reference stored by older code may lack a column the current tables read
        print(f"(the reference lacks column {missing}: it was stored by older code; it is not shown)")
        ref, shown = None, layouts(None)
    for frame in shown:
        display(frame)
    return ref
