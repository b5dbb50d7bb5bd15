"""Parameter rules shared by experiments (``posebook run -p``) and notebooks (papermill ``-p``).

A parameter is declared by its default (an experiment's keyword default, a notebook's parameters
cell); its value is checked before any work starts, by three rules:

1. **Type** (:func:`check_type`): a value takes the type of its default (an int where a float is
   expected is fine; a tuple default takes a tuple of its items' type; a default of ``None`` accepts
   ``None``, a string or a number).
2. **Generic ranges** (:func:`check_generic`): ``profile`` is one of :data:`posebook.runs.PROFILES`;
   ``device`` is cpu, cuda, cuda:N, mps or auto; every integer parameter (an int default, or a tuple
   of ints) is in [0, 2**63) (seeds and counts; 0 means the profile's value); every float, and every
   number in a tuple, is finite; a float whose default is 0.0 ("the profile's value", e.g. a learning
   rate) is >= 0.
3. **Declared checks**: what the experiment or notebook adds per parameter, e.g. ``positive`` for
   learning rates or noise levels, ``between(0, 1)`` for a fraction. Each is ``check(name, value)``
   raising ValueError, applied to every item of a tuple.

Every refusal names the parameter, the value found and what is allowed.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping

from posebook.runs import PROFILES, is_profile_default

__all__ = ["Check", "at_least", "between", "check_generic", "check_parameter", "check_type", "describe_checks",
           "non_negative", "one_of", "positive"]

#: ``check(name, value)``: raises ValueError naming the parameter and what is allowed.
Check = Callable[[str, Any], None]

_DEVICE = re.compile(r"^(cpu|auto|cuda(:\d+)?|mps)$")


def _items(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _each(rule: Callable[[float], bool], allowed: str) -> Check:
    """A check applying ``rule`` to the value, or to every item of a tuple value."""

    def check(name: str, value: Any) -> None:
        for item in _items(value):
            if not (_number(item) and math.isfinite(item) and rule(item)):
                where = f" (item {item!r})" if isinstance(value, (tuple, list)) else ""
                raise ValueError(f"parameter {name!r} must be {allowed}, got {value!r}{where}")

    check.allowed = allowed  # type: ignore[attr-defined]  # for listings: "lrs: > 0"
    return check


#: every value (or tuple item) is a finite number > 0 (learning rates, noise levels, depths).
positive: Check = _each(lambda v: v > 0, "> 0")
#: every value (or tuple item) is a finite number >= 0.
non_negative: Check = _each(lambda v: v >= 0, ">= 0")


def at_least(low: float) -> Check:
    """Every value (or tuple item) is a finite number >= ``low`` (e.g. ``at_least(1)`` for a count)."""
    return _each(lambda v: v >= low, f">= {low}")


def between(low: float, high: float, *, closed: bool = False) -> Check:
    """Every value (or tuple item) lies in the open interval (low, high), or [low, high] if ``closed``."""
    if closed:
        return _each(lambda v: low <= v <= high, f"in [{low}, {high}]")
    return _each(lambda v: low < v < high, f"in ({low}, {high})")


def one_of(*choices: Any) -> Check:
    """Every value (or tuple item) is one of ``choices``."""

    def check(name: str, value: Any) -> None:
        bad = [v for v in _items(value) if v not in choices]
        if bad:
            raise ValueError(f"parameter {name!r}: {bad[0]!r} is not one of {', '.join(map(repr, choices))}")

    check.allowed = f"one of {', '.join(map(repr, choices))}"  # type: ignore[attr-defined]
    return check


def check_type(name: str, value: Any, default: Any) -> None:
    """Rule 1: ``value`` has the type of ``default`` (see the module docstring)."""
    if default is Ellipsis or default is None:
        if value is not None and not isinstance(value, (str, int, float)):
            raise ValueError(f"parameter {name!r} must be None, a string or a number, got {type(value).__name__}")
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = _number(value)
    elif isinstance(default, (tuple, list)):
        ok = isinstance(value, (tuple, list))
        if ok and default:
            for item in value:
                check_type(name, item, default[0])
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ValueError(f"parameter {name!r} must be {type(default).__name__} (default {default!r}), "
                         f"got {value!r} ({type(value).__name__})")


def check_generic(name: str, value: Any, default: Any) -> None:
    """Rule 2: profile and device names, integer ranges, finite floats (see the module docstring)."""
    if name == "profile" and value not in PROFILES:
        raise ValueError(f"parameter 'profile' must be one of {list(PROFILES)}, got {value!r}")
    if name == "device" and not (isinstance(value, str) and _DEVICE.match(value)):
        raise ValueError(f"parameter 'device' must be cpu, cuda, cuda:N, mps or auto, got {value!r}")
    declared = _items(default)[0] if _items(default) else None  # a tuple's item type: its first item's
    counts = isinstance(declared, int) and not isinstance(declared, bool)  # an int where a float is due is a float
    for item in _items(value):
        if counts and isinstance(item, int) and not 0 <= item < 2**63:
            raise ValueError(f"parameter {name!r} must be an integer in [0, 2**63) (seeds and counts; "
                             f"0 = the profile's value), got {value!r}")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"parameter {name!r} must be finite, got {value!r}")
    if isinstance(default, float) and default == 0.0 and _number(value) and value < 0:
        raise ValueError(f"parameter {name!r} must be > 0, or 0 for the profile's value; got {value!r}")


def check_parameter(name: str, value: Any, default: Any, check: Check | None = None) -> None:
    """All three rules for one parameter; raises ValueError naming it and what is allowed.

    A value equal to a profile default (0, 0.0, None, ()) means "the profile's value" and skips
    the declared ``check`` (which is about values given explicitly).
    """
    check_type(name, value, default)
    check_generic(name, value, default)
    if check is not None and not (is_profile_default(default) and value == default):
        check(name, value)


def describe_checks(checks: Mapping[str, Check]) -> str:
    """``"lrs > 0, train_frac in (0, 1)"``: the declared ranges, for listings and messages."""
    return ", ".join(f"{k} {getattr(c, 'allowed', '(checked)')}" for k, c in checks.items())
