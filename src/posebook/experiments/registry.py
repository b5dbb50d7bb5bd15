"""The experiment registry: named, parameterised functions that return one tidy table each.

An experiment is a function ``f(ctx: RunContext, **params) -> ExperimentResult`` registered with
:func:`experiment`. :func:`run_experiment` validates parameters, looks for a stored result (resume),
runs it otherwise and stores the table with its provenance. The CLI (``posebook run``), papermill
notebooks and the tests all go through :func:`run_experiment`.
"""

from __future__ import annotations

import difflib
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from posebook.runs import ResultStore, RunContext, StoredResult, make_context, provenance, source_hash


@dataclass
class ExperimentResult:
    """What an experiment function returns: the table and the data it was computed on."""

    frame: pd.DataFrame
    data_source: str


@dataclass(frozen=True)
class Experiment:
    name: str
    func: Callable[..., ExperimentResult]
    defaults: dict[str, Any]
    summary: str

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults overridden by ``params``; unknown names and uncoercible values raise ValueError."""
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            hints = {u: difflib.get_close_matches(u, self.defaults, n=1) for u in unknown}
            hint = "; ".join(f"{u!r} (did you mean {h[0]!r}?)" if h else repr(u) for u, h in hints.items())
            raise ValueError(f"experiment {self.name!r} has no parameter {hint}; "
                             f"its parameters are: {', '.join(sorted(self.defaults)) or '(none)'}")
        merged = dict(self.defaults)
        for key, value in params.items():
            merged[key] = _coerce(key, value, self.defaults[key])
        return merged


REGISTRY: dict[str, Experiment] = {}


def experiment(name: str) -> Callable[[Callable[..., ExperimentResult]], Callable[..., ExperimentResult]]:
    """Register ``func(ctx, **params)``; its keyword defaults are the experiment's parameters."""

    def register(func: Callable[..., ExperimentResult]) -> Callable[..., ExperimentResult]:
        if name in REGISTRY:
            raise ValueError(f"experiment {name!r} registered twice")
        sig = inspect.signature(func)
        defaults = {k: p.default for k, p in list(sig.parameters.items())[1:]}
        missing = [k for k, v in defaults.items() if v is inspect.Parameter.empty]
        if missing:
            raise TypeError(f"experiment {name!r}: parameters {missing} need defaults")
        summary = (inspect.getdoc(func) or "").splitlines()[0] if func.__doc__ else ""
        REGISTRY[name] = Experiment(name, func, defaults, summary)
        return func

    return register


def get_experiment(name: str) -> Experiment:
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, REGISTRY, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown experiment {name!r}.{hint} `posebook list` shows all "
                         f"{len(REGISTRY)} experiments.") from None


def list_experiments() -> pd.DataFrame:
    """One row per experiment: name, one-line summary, parameters with defaults."""
    rows = [{"experiment": e.name, "summary": e.summary,
             "parameters": ", ".join(f"{k}={v!r}" for k, v in e.defaults.items())}
            for e in sorted(REGISTRY.values(), key=lambda e: e.name)]
    return pd.DataFrame(rows, columns=["experiment", "summary", "parameters"])


def run_experiment(name: str, *, profile: str = "quick", device: str | None = None, seed: int = 0,
                   data_root: str | os.PathLike | None = None, cmu_dir: str | os.PathLike | None = None,
                   out: str | os.PathLike | None = None, resume: bool = True,
                   **params: Any) -> StoredResult:
    """Run (or, with ``resume``, reload) one experiment and store its table with provenance.

    The stored result is keyed by the experiment parameters plus profile, seed, device type, data
    paths and the hash of the package's source, so a batch interrupted half-way reruns only what
    is missing, and nothing computed by older code is ever reused.
    """
    exp = get_experiment(name)
    merged = exp.validate(params)
    ctx = make_context(profile, device=device, seed=seed, data_root=data_root, cmu_dir=cmu_dir)
    store = ResultStore(Path(out)) if out is not None else ResultStore()
    key = {**merged, **ctx.describe(), "device": ctx.device.type, "source_hash": source_hash()}
    if resume and store.exists(name, key):
        return store.load(name, key)
    result = exp.func(ctx, **merged)
    if not isinstance(result, ExperimentResult):
        raise TypeError(f"experiment {name!r} returned {type(result).__name__}, not ExperimentResult")
    return store.save(name, key, result.frame, provenance(ctx, result.data_source))


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Parameters from the CLI arrive as strings: convert them to the default's type."""
    if default is None or not isinstance(value, str) or isinstance(default, str):
        return value
    try:
        if isinstance(default, bool):
            if value.lower() in {"1", "true", "yes"}:
                return True
            if value.lower() in {"0", "false", "no"}:
                return False
            raise ValueError(value)
        if isinstance(default, (list, tuple)):
            item = type(default[0]) if default else str
            return type(default)(item(v) for v in value.split(","))
        return type(default)(value)
    except ValueError:
        raise ValueError(f"parameter {key!r}: cannot read {value!r} as {type(default).__name__} "
                         f"(default is {default!r})") from None
