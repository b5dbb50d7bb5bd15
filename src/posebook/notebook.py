"""Notebook parameters, checked before any work starts.

Every notebook has a ``parameters`` cell (first line ``# papermill parameters``) whose assignments
are its contract: the names it accepts and, through their defaults, their types. papermill
(``-p name value``) injects a cell starting with ``# Parameters`` after it. The notebook's next cell
calls :func:`check_parameters` with its ``globals()``: an injected name the parameters cell does not
declare (a typo such as ``depht_m``) is refused with the valid names and a suggestion; a value of
the wrong type or out of range is refused naming the parameter and what is allowed. papermill on
its own only warns about unknown names and runs the notebook to the end on the defaults.

The rules (beyond any ``checks`` the notebook passes):

- a value takes the type of its default (an int where a float is expected is fine; a default of
  ``None`` accepts ``None``, a string or a number);
- ``profile`` is one of :data:`posebook.runs.PROFILES`; ``device`` is cpu, cuda, cuda:N, mps or auto;
- every parameter with an integer default is >= 0 (seeds and counts; 0 means the profile's value)
  and < 2**63;
- every float parameter is finite.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from typing import Any, Callable, Mapping, Sequence

from posebook.runs import PROFILES

__all__ = ["PARAMETERS_HEADER", "INJECTED_HEADER", "check_parameters", "declared_parameters", "positive"]

PARAMETERS_HEADER = "# papermill parameters"
#: The first line of the cell papermill injects.
INJECTED_HEADER = "# Parameters"
_DEVICE = re.compile(r"^(cpu|auto|cuda(:\d+)?|mps)$")


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


def positive(name: str, value: Any) -> None:
    """A check for :func:`check_parameters`: ``value`` > 0."""
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
        raise ValueError(f"parameter {name!r} must be > 0, got {value!r}")


def _check_type(name: str, value: Any, default: Any) -> None:
    if default is Ellipsis or default is None:
        if value is not None and not isinstance(value, (str, int, float)):
            raise ValueError(f"parameter {name!r} must be None, a string or a number, got {type(value).__name__}")
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ValueError(f"parameter {name!r} must be {type(default).__name__} (default {default!r}), "
                         f"got {value!r} ({type(value).__name__})")


def _check_value(name: str, value: Any, default: Any) -> None:
    if name == "profile" and value not in PROFILES:
        raise ValueError(f"parameter 'profile' must be one of {list(PROFILES)}, got {value!r}")
    if name == "device" and not (isinstance(value, str) and _DEVICE.match(value)):
        raise ValueError(f"parameter 'device' must be cpu, cuda, cuda:N, mps or auto, got {value!r}")
    integer = isinstance(default, int) and not isinstance(default, bool)
    if integer and not 0 <= value < 2**63:
        raise ValueError(f"parameter {name!r} must be an integer in [0, 2**63) (seeds and counts; 0 = the "
                         f"profile's value), got {value}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"parameter {name!r} must be finite, got {value!r}")


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
        _check_type(name, value, declared[name])
        _check_value(name, value, declared[name])
    for name, check in checks.items():
        if name not in declared:
            raise ValueError(f"check for {name!r}, which is not a parameter of this notebook ({', '.join(declared)})")
        check(name, values[name])
    return values
