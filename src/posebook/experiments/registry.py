"""The experiment registry: named, parameterised functions that return one tidy table each.

An experiment is a function ``f(ctx: RunContext, **params) -> ExperimentResult`` registered with
:func:`experiment`. :func:`run_experiment` validates parameters, looks for a stored result (resume),
runs it otherwise and stores the table with its provenance. The CLI (``posebook run``), papermill
notebooks and the tests all go through :func:`run_experiment`.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from posebook.parameters import Check, check_parameter, describe_checks
from posebook.runs import DamagedResultError, ResultStore, StoredResult, code_hash, make_context, provenance

#: Where committed reference runs live (``posebook run --all --profile long --reference``):
#: ``$POSEBOOK_REFERENCE_DIR``, else ``reference/`` in the source checkout.
ENV_REFERENCE_DIR = "POSEBOOK_REFERENCE_DIR"


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
    #: declared ranges per parameter (:mod:`posebook.parameters`), beyond the generic rules
    checks: dict[str, Check] = dataclasses.field(default_factory=dict)

    @property
    def code_hash(self) -> str:
        """Hash of the experiment's module and every posebook module it imports (:func:`posebook.runs.code_hash`)."""
        return code_hash(self.func.__module__)

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults overridden by ``params``, each checked (:func:`posebook.parameters.check_parameter`).

        Raises:
            ValueError: an unknown name (with the valid names and a suggestion), a value that cannot
                be read as the default's type, or one out of range (naming what is allowed).
        """
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            hints = {u: difflib.get_close_matches(u, self.defaults, n=1) for u in unknown}
            hint = "; ".join(f"{u!r} (did you mean {h[0]!r}?)" if h else repr(u) for u, h in hints.items())
            raise ValueError(f"experiment {self.name!r} has no parameter {hint}; "
                             f"its parameters are: {', '.join(sorted(self.defaults)) or '(none)'}")
        merged = dict(self.defaults)
        for key, value in params.items():
            merged[key] = _coerce(key, value, self.defaults[key])
            try:
                check_parameter(key, merged[key], self.defaults[key], self.checks.get(key))
            except ValueError as exc:
                raise ValueError(f"experiment {self.name!r}: {exc}") from None
        return merged


REGISTRY: dict[str, Experiment] = {}


def experiment(name: str, checks: dict[str, Check] | None = None
               ) -> Callable[[Callable[..., ExperimentResult]], Callable[..., ExperimentResult]]:
    """Register ``func(ctx, **params)``; its keyword defaults are the experiment's parameters.

    ``checks`` declares ranges beyond the generic rules (:mod:`posebook.parameters`), e.g.
    ``{"lrs": positive}``; every value given is checked before any work starts.
    """

    def register(func: Callable[..., ExperimentResult]) -> Callable[..., ExperimentResult]:
        if name in REGISTRY:
            raise ValueError(f"experiment {name!r} registered twice")
        sig = inspect.signature(func)
        defaults = {k: p.default for k, p in list(sig.parameters.items())[1:]}
        missing = [k for k, v in defaults.items() if v is inspect.Parameter.empty]
        if missing:
            raise TypeError(f"experiment {name!r}: parameters {missing} need defaults")
        summary = (inspect.getdoc(func) or "").splitlines()[0] if func.__doc__ else ""
        declared = dict(checks or {})
        stray = sorted(set(declared) - set(defaults))
        if stray:
            raise TypeError(f"experiment {name!r}: checks for {stray}, which are not its parameters")
        for key, default in defaults.items():  # a declaration its own default breaks is a bug
            check_parameter(key, default, default, declared.get(key))
        REGISTRY[name] = Experiment(name, func, defaults, summary, declared)
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
    """One row per experiment: name, one-line summary, parameters with defaults, declared ranges."""
    rows = [{"experiment": e.name, "summary": e.summary,
             "parameters": ", ".join(f"{k}={v!r}" for k, v in e.defaults.items()),
             "ranges": describe_checks(e.checks)}
            for e in sorted(REGISTRY.values(), key=lambda e: e.name)]
    return pd.DataFrame(rows, columns=["experiment", "summary", "parameters", "ranges"])


def reference_dir() -> Path:
    """The folder of committed reference runs: ``$POSEBOOK_REFERENCE_DIR`` or ``<checkout>/reference``."""
    env = os.environ.get(ENV_REFERENCE_DIR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[3] / "reference"


def _reference_key(merged: dict[str, Any], profile: str, seed: int) -> dict[str, Any]:
    # No code hash and no device in the key: a reference is found after the code changed, and the
    # book says whether it was computed by the current code (``is_current``).
    return {**merged, "profile": profile, "seed": seed}


def run_experiment(name: str, *, profile: str = "quick", device: str | None = None, seed: int = 0,
                   data_root: str | os.PathLike | None = None, cmu_dir: str | os.PathLike | None = None,
                   out: str | os.PathLike | None = None, resume: bool = True, reference: bool = False,
                   **params: Any) -> StoredResult:
    """Run (or, with ``resume``, reload) one experiment and store its table with provenance.

    The stored result is keyed by the experiment parameters plus profile, seed, device type, data
    paths, the content of the data folders (:meth:`RunContext.data_digests`) and the experiment's
    code hash (its module and every posebook module it imports), so a batch interrupted half-way
    reruns only what is missing, and nothing computed by other code or from other data is reused.
    With ``reference=True`` the result goes to :func:`reference_dir` (or ``out``) keyed by
    parameters, profile and seed only, for the book to show beside the quick rerun; an existing
    reference is reused only when its code hash and data digests are the current ones. A damaged
    stored result is named in a warning and recomputed; a result that cannot be written is kept
    in a temporary folder, named in the error.
    """
    exp = get_experiment(name)
    merged = exp.validate(params)
    ctx = make_context(profile, device=device, seed=seed, data_root=data_root, cmu_dir=cmu_dir)
    store = ResultStore(Path(out)) if out is not None else (
        ResultStore(reference_dir()) if reference else ResultStore())
    current, data = exp.code_hash, ctx.data_digests()
    if reference:
        key = _reference_key(merged, ctx.profile.name, seed)
    else:
        key = {**merged, **ctx.describe(), "device": ctx.device.type, "code_hash": current, "data": data}
    stored = _stored(store, name, key) if resume else None
    # a reference is keyed without code and data (the book finds it after either changed), so it is
    # reused only when both are still the ones it was computed from
    if stored is not None and (not reference or (stored.meta.get("code_hash") == current
                                                 and stored.meta.get("data_digests") == data)):
        stored.reused = True
        return stored
    # Trained intermediates are cached beside the results (never in the reference folder).
    ctx = dataclasses.replace(ctx, store=ResultStore() if reference and out is None else store)
    start = time.perf_counter()
    result = exp.func(ctx, **merged)
    wall = time.perf_counter() - start
    if not isinstance(result, ExperimentResult):
        raise TypeError(f"experiment {name!r} returned {type(result).__name__}, not ExperimentResult")
    meta = provenance(ctx, result.data_source, experiment_module=exp.func.__module__, code_hash=current,
                      data_digests=data, experiment_params=merged, wall_s=round(wall, 1))
    try:
        return store.save(name, key, result.frame, meta)
    except OSError as exc:  # the folder went away or filled up during the run: keep what was computed
        rescue = ResultStore(Path(tempfile.mkdtemp(prefix="posebook-rescued-")))
        kept = rescue.save(name, key, result.frame, meta)
        raise OSError(f"could not write the result of {name} to {store.root} ({exc.strerror or exc}); "
                      f"it is kept in {kept.path} (+ .json): copy it where it belongs") from exc


def _stored(store: ResultStore, name: str, key: dict[str, Any]) -> StoredResult | None:
    """The stored result for ``key``, or None when there is none or it is damaged (said, then recomputed)."""
    if not store.exists(name, key):
        return None
    try:
        return store.load(name, key)
    except DamagedResultError as exc:
        warnings.warn(f"{exc}; recomputing now", stacklevel=3)
        return None


def find_reference(name: str, *, profile: str, seed: int = 0, root: str | os.PathLike | None = None,
                   **params: Any) -> StoredResult | None:
    """The committed reference run of ``name`` at ``profile`` with these parameters, or None."""
    exp = get_experiment(name)
    store = ResultStore(Path(root) if root is not None else reference_dir())
    return _stored(store, name, _reference_key(exp.validate(params), profile, seed))


#: The reference profiles the book shows, most faithful first.
REFERENCE_PROFILES = ("full", "gpu", "long")


def best_reference(name: str, *, seed: int = 0, profiles: tuple[str, ...] = REFERENCE_PROFILES,
                   root: str | os.PathLike | None = None, **params: Any) -> StoredResult | None:
    """The most faithful committed reference of ``name`` with these parameters (``profiles`` order), or None."""
    for profile in profiles:
        found = find_reference(name, profile=profile, seed=seed, root=root, **params)
        if found is not None:
            return found
    return None


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
