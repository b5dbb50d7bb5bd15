"""Profiles, seeding, device choice and the result store: the one place runs are configured.

Every experiment runs inside a :class:`RunContext` (profile, device, seed, data paths). Results are
tidy :class:`pandas.DataFrame` objects saved by :class:`ResultStore` next to a provenance record
(data source, profile, device, seed, package version, git commit, library versions). Writes are
atomic (temporary file + :func:`os.replace`), so an interrupted batch never leaves a half-written
result, and a rerun with the same parameters finds the stored result and resumes from there.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as _dt
import functools
import hashlib
import io
import json
import math
import os
import platform
import random
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from posebook import __version__
from posebook.files import ENV_CACHE_DIR, atomic_write_bytes, atomic_write_text, folder_digest

#: The motion-capture files a CMU folder's digest covers (skeletons and motions, any case).
MOCAP_PATTERNS = ("*.asf", "*.ASF", "*.amc", "*.AMC", "*.bvh", "*.BVH")

#: Environment variables the package reads, in one place (nothing else reads globals silently).
ENV_CMU_DIR = "POSEBOOK_CMU_DIR"
ENV_SMPL_DIR = "POSEBOOK_SMPL_DIR"
ENV_DATA_ROOT = "POSEBOOK_DATA_ROOT"
ENV_RESULTS_DIR = "POSEBOOK_RESULTS_DIR"


@dataclass(frozen=True)
class Profile:
    """How big a run is: a named size preset.

    ``scale`` multiplies the sample counts of experiments whose size is one number
    (:func:`scaled_presets`); training experiments name their sizes per profile
    (:meth:`RunContext.sizes`). ``num_seeds`` is how many seeds every comparison runs.
    """

    name: str
    scale: float
    num_seeds: int
    default_device: str
    description: str


#: The run profiles by name (``quick``, ``long``, ``gpu``, ``full``).
PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", scale=1.0, num_seeds=3, default_device="cpu",
                     description="the book build: minutes per notebook on a 2-core CPU (CI, nbval, `make book`); "
                                 "early training, so verdicts read 'not converged' where runs still move"),
    "long": Profile("long", scale=4.0, num_seeds=3, default_device="cpu",
                    description="converged verdicts on a 2-core CPU in at most about an hour per chapter "
                                "(`posebook run --all --profile long --reference`)"),
    "gpu": Profile("gpu", scale=10.0, num_seeds=3, default_device="auto",
                   description="one chapter's experiments in at most 10 minutes on one modern GPU: the size of "
                               "a reference run whenever a GPU is available"),
    "full": Profile("full", scale=20.0, num_seeds=5, default_device="auto",
                    description="the paper's scale (its steps, learning rates and test sizes), for GPU hours"),
}


def is_profile_default(value: Any) -> bool:
    """The one rule for size parameters: 0, 0.0, None and () mean "the profile's value".

    ``False`` is a value, not a default (``False == 0`` in Python, hence the type check).
    """
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return value == 0
    return isinstance(value, (tuple, list)) and len(value) == 0


def scaled_presets(quick: Mapping[str, Any], scale: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Presets for every profile from the quick sizes: the keys in ``scale`` (counts) are multiplied
    by each profile's :attr:`Profile.scale` (at least 1), the others are kept."""
    out = {}
    for name, prof in PROFILES.items():
        row = dict(quick)
        for key in scale:
            row[key] = max(1, int(round(row[key] * prof.scale)))
        out[name] = row
    return out


def get_profile(name: str | Profile) -> Profile:
    """Return the named profile; a clear error lists the valid names."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> CUDA when available else CPU; an explicit CUDA request without a GPU fails loudly."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device={str(device)!r} was requested but torch.cuda.is_available() is False "
            f"(torch {torch.__version__}); install a CUDA build of torch or use device='cpu'"
        )
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices) and return a CPU ``torch.Generator`` seeded the same.

    This is the only function in the package that touches global random state; experiments take the
    returned generator (or ``np.random.default_rng(seed)``) and pass it down explicitly.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def cpu_threads(n: Optional[int]) -> Iterator[None]:
    """Run the block (or, as a decorator, the function) with ``torch.set_num_threads(n)``, restored
    after; ``None`` leaves the setting alone. The one thread cap of the package.

    Small networks and batched 3x3 algebra gain nothing from intra-op threads, and on a shared CPU
    the threads' waiting costs a lot (measured on this project's 2-core machine under load: 27 ms vs
    360 ms per step for the same 15-member MLP step with 1 vs 2 threads; 9 s vs 0.45 s for 200 tiny
    MLP steps). One thread also makes reductions, hence results, independent of the core count.
    """
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def small_ops_threads(device: torch.device) -> Optional[int]:
    """The thread cap for small-op workloads on ``device``: 1 on the CPU, no cap elsewhere."""
    return 1 if torch.device(device).type == "cpu" else None


@dataclass(frozen=True)
class RunContext:
    """Everything an experiment needs to know about where and how it runs."""

    profile: Profile
    device: torch.device
    seed: int
    data_root: Path | None = None
    cmu_dir: Path | None = None
    #: where :meth:`cached` keeps intermediate artifacts (trained weights) of this run; None: no cache
    store: "ResultStore | None" = None

    @property
    def generator(self) -> torch.Generator:
        """A fresh CPU generator seeded with :attr:`seed` (each call restarts the stream)."""
        return torch.Generator().manual_seed(self.seed)

    def seeds(self, n: int | None = None) -> list[int]:
        """``n`` (default: the profile's ``num_seeds``) consecutive seeds starting at :attr:`seed`."""
        return [self.seed + i for i in range(self.profile.num_seeds if n is None else n)]

    def size(self, given: int, quick: int) -> int:
        """One count under the one rule: ``given``, or (0) ``quick`` scaled by the profile
        (:func:`scaled_presets`): ``ctx.size(samples, quick=500)``."""
        return int(self.sizes(scaled_presets({"n": quick}, ("n",)), n=given)["n"])

    def sizes(self, presets: Mapping[str, Mapping[str, Any]], **given: Any) -> dict[str, Any]:
        """The sizes of a run: ``presets[profile]``, then every ``given`` value that is not a default.

        The one rule for size parameters (:func:`is_profile_default`): a parameter left at 0 / 0.0 /
        None / () means "the profile's value"; anything else is used as given, never scaled.
        ``presets`` names every profile of :data:`PROFILES` (write them out, or use
        :func:`scaled_presets`).
        """
        if self.profile.name not in presets:
            raise ValueError(f"these sizes have no preset for profile {self.profile.name!r}; "
                             f"presets exist for {sorted(presets)}")
        out = dict(presets[self.profile.name])
        for key, value in given.items():
            if key not in out:
                raise ValueError(f"unknown size {key!r}; the sizes are {sorted(out)}")
            if not is_profile_default(value):
                out[key] = value
        return out

    def cached(self, kind: str, keys: Sequence[Mapping[str, Any]],
               compute: Callable[[list[Mapping[str, Any]]], Sequence[Any]]) -> list[Any]:
        """One value per key: those stored earlier come from the result store's artifacts
        (:meth:`ResultStore.load_artifact`), the missing ones are computed together by one call
        ``compute(missing_keys)`` (e.g. one ensemble training several members) and each is saved.

        Without a store every value is computed. Each key must name everything its value depends on.
        """
        keys = list(keys)
        values: list[Any] = [None] * len(keys)
        if self.store is not None:
            values = [self.store.load_artifact(kind, key, map_location=self.device) for key in keys]
        missing = [i for i, value in enumerate(values) if value is None]
        if missing:
            computed = list(compute([keys[i] for i in missing]))
            if len(computed) != len(missing):
                raise ValueError(f"compute returned {len(computed)} values for {len(missing)} keys")
            for i, value in zip(missing, computed):
                values[i] = value
                if self.store is not None:
                    self.store.save_artifact(kind, keys[i], value)
        return values

    def describe(self) -> dict[str, Any]:
        return {"profile": self.profile.name, "device": str(self.device), "seed": self.seed,
                "data_root": str(self.data_root) if self.data_root else None,
                "cmu_dir": str(self.cmu_dir) if self.cmu_dir else None}

    def data_digests(self) -> dict[str, str | None]:
        """Content digests of the data folders (:func:`posebook.files.folder_digest`): part of a
        stored result's identity, so editing, adding or removing a data file means recomputing."""
        return {"cmu": folder_digest(self.cmu_dir, MOCAP_PATTERNS) if self.cmu_dir and self.cmu_dir.is_dir() else None,
                "data_root": folder_digest(self.data_root) if self.data_root and self.data_root.is_dir() else None}


def _env_path(var: str) -> Path | None:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else None


def make_context(profile: str | Profile = "quick", device: str | None = None, seed: int = 0,
                 data_root: str | os.PathLike | None = None,
                 cmu_dir: str | os.PathLike | None = None) -> RunContext:
    """Build a :class:`RunContext`: seeds everything, resolves the device (profile default when ``None``).

    ``data_root`` / ``cmu_dir`` fall back to ``$POSEBOOK_DATA_ROOT`` / ``$POSEBOOK_CMU_DIR``.
    """
    prof = get_profile(profile)
    seed_everything(seed)
    dev = resolve_device(prof.default_device if device is None else device)
    root = Path(data_root).expanduser() if data_root else _env_path(ENV_DATA_ROOT)
    cmu = Path(cmu_dir).expanduser() if cmu_dir else _env_path(ENV_CMU_DIR)
    return RunContext(profile=prof, device=dev, seed=seed, data_root=root, cmu_dir=cmu)


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The commit of the source tree the package runs from (``+dirty`` when modified), or ``None``."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """SHA-256 (12 hex digits) of the package's own source files: part of every result's identity,
    so a stored result is never reused after the code that computed it changed (even uncommitted)."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


_PACKAGE_DIR = Path(__file__).resolve().parent


def _module_file(module: str) -> Path | None:
    """``posebook.a.b`` -> its source file (module or package ``__init__``), or None if not ours."""
    parts = module.split(".")
    if parts[0] != "posebook":
        return None
    base = _PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: Path) -> set[str]:
    """The ``posebook`` modules a source file imports (top level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("posebook"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("posebook"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # "from pkg import module"
    return found


@functools.lru_cache(maxsize=None)
def code_hash(module: str) -> str:
    """SHA-256 (12 hex digits) of the code (syntax trees without docstrings) of ``module`` and every
    ``posebook`` module it imports, transitively: the identity of the code behind an experiment. A stored result (or a committed
    reference) whose code hash differs from the current one was computed by other code.

    The packages above a module (``posebook.experiments`` above ``posebook.experiments.prom.tables``)
    run when it is imported, so their own code counts; their imports of OTHER posebook modules do not
    (nor are they followed) unless the module imports the package itself: a package's ``__init__``
    importing a new chapter does not change the hash of every other chapter.
    """
    seen: dict[Path, bool] = {}  # path -> imported for itself (True) or only as a parent package (False)
    todo: list[tuple[str, bool]] = [(module, True), ("posebook", False)]
    while todo:
        name, direct = todo.pop()
        path = _module_file(name)
        if path is None or seen.get(path, False) or (path in seen and not direct):
            continue
        seen[path] = direct
        parts = name.split(".")
        todo.extend((".".join(parts[:k]), False) for k in range(1, len(parts)))  # parent packages run too
        if direct:
            todo.extend((m, True) for m in _imported_modules(path))
    digest = hashlib.sha256()
    for path in sorted(seen):
        digest.update(path.relative_to(_PACKAGE_DIR).as_posix().encode())
        digest.update(_code_fingerprint(path, own_imports=seen[path]).encode())
    return digest.hexdigest()[:12]


def _code_fingerprint(path: Path, own_imports: bool = True) -> str:
    """The syntax tree of a source file without its docstrings (comments are not in it either):
    editing prose leaves the code hash alone, any change to the code changes it. ``own_imports``
    False drops its top-level imports of posebook modules (a parent package's, see :func:`code_hash`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    if not own_imports:
        tree.body = [node for node in tree.body if not _imports_posebook(node)]
    return ast.dump(tree, include_attributes=False)


def _imports_posebook(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name.startswith("posebook") for a in node.names)
    return isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("posebook")


def provenance(ctx: RunContext, data_source: str, **extra: Any) -> dict[str, Any]:
    """The record attached to every result: where the numbers came from and how to reproduce them."""
    device_name = (torch.cuda.get_device_name(ctx.device) if ctx.device.type == "cuda"
                   else platform.processor() or platform.machine())
    return {
        "data_source": data_source,
        **ctx.describe(),
        "device_name": device_name,
        "posebook_version": __version__,
        "git_commit": git_commit(),
        "source_hash": source_hash(),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


# --------------------------------------------------------------------------- learning curves


def curve_json(steps: Sequence[int], values: Sequence[float]) -> str:
    """A learning curve as a compact JSON list of ``[step, value]`` (a frame cell; NaN -> null)."""
    return json.dumps([[int(s), None if not math.isfinite(float(v)) else round(float(v), 6)]
                       for s, v in zip(steps, values)], separators=(",", ":"))


def read_curve(cell: object) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`curve_json`: (steps, values) arrays (None -> NaN); empty for a missing cell."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)) or cell == "":
        return np.zeros(0, dtype=int), np.zeros(0)
    pairs = json.loads(str(cell))
    steps = np.array([p[0] for p in pairs], dtype=int)
    values = np.array([math.nan if p[1] is None else p[1] for p in pairs], dtype=float)
    return steps, values


def params_key(params: Mapping[str, Any]) -> str:
    """A short stable hash of JSON-able parameters (the identity of a result in the store)."""
    blob = json.dumps(dict(params), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class DamagedResultError(ValueError):
    """A stored result's file is missing, empty, truncated or unreadable: names the file."""

    def __init__(self, path: Path, reason: BaseException | str) -> None:
        self.path = Path(path)
        detail = f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else reason
        super().__init__(f"stored result file {self.path} is damaged ({detail}); it is recomputed on the "
                         f"next run (or delete it, or run with --no-resume)")


@dataclass
class StoredResult:
    """A result frame with its provenance record and the files it lives in."""

    frame: pd.DataFrame
    meta: dict[str, Any]
    path: Path
    #: True when the result was loaded from the store rather than computed by this call
    reused: bool = False

    def caption(self) -> str:
        """One line for a table caption: data source, profile, device, seed, version, commit."""
        m = self.meta
        commit = (m.get("git_commit") or "unknown")[:12]
        return (f"data: {m.get('data_source')} | profile: {m.get('profile')} | device: {m.get('device')}"
                f" | seed: {m.get('seed')} | posebook {m.get('posebook_version')} @ {commit}")

    def is_current(self) -> bool:
        """Whether the current code of the experiment computed this result (same :func:`code_hash`)."""
        module, stored = self.meta.get("experiment_module"), self.meta.get("code_hash")
        return bool(module and stored) and code_hash(module) == stored

    def provenance_line(self) -> str:
        """One line for a reference run: "long profile, cpu (x86_64) 1 thread, commit abc1234, 41 min, 2026-12-01"."""
        m = self.meta
        wall = m.get("wall_s")
        took = ("?" if wall is None else f"{wall / 60:.0f} min" if wall >= 90 else f"{wall:.0f} s")
        threads = m.get("threads")
        thr = f" {threads} thread{'s' if threads != 1 else ''}" if threads else ""
        commit = (m.get("git_commit") or "unknown")[:7] + ("+dirty" if "+dirty" in (m.get("git_commit") or "") else "")
        return (f"{m.get('profile')} profile, {m.get('device')} ({m.get('device_name')}){thr}, commit {commit}, "
                f"{took}, {str(m.get('created_utc', '?'))[:10]}")


def default_results_dir() -> Path:
    return _env_path(ENV_RESULTS_DIR) or Path.cwd() / "results"


@dataclass
class ResultStore:
    """Results on disk: ``<root>/<experiment>/<params-hash>.{csv,table.json,json}``.

    The tables are written first and the provenance JSON last, each atomically: a result exists iff
    its provenance JSON does, so a run killed in between is simply redone.
    """

    root: Path = field(default_factory=default_results_dir)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def paths(self, experiment: str, params: Mapping[str, Any]) -> tuple[Path, Path, Path]:
        """``(<hash>.csv, <hash>.table.json, <hash>.json)``: the table for people, the same table
        with its dtypes (pandas' JSON "table" schema, so a reloaded frame equals the computed one:
        subject "02" stays a string, NaN stays NaN), and the provenance record."""
        base = self.root / experiment.replace("/", "_") / params_key(params)
        return base.with_suffix(".csv"), base.with_suffix(".table.json"), base.with_suffix(".json")

    def exists(self, experiment: str, params: Mapping[str, Any]) -> bool:
        return self.paths(experiment, params)[2].exists()

    def save(self, experiment: str, params: Mapping[str, Any], frame: pd.DataFrame,
             meta: Mapping[str, Any]) -> StoredResult:
        csv_path, table_path, json_path = self.paths(experiment, params)
        atomic_write_text(csv_path, frame.to_csv(index=False))
        atomic_write_text(table_path, frame.to_json(orient="table", index=False, double_precision=15))
        record = {"experiment": experiment, "params": dict(params), **dict(meta)}
        atomic_write_text(json_path, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
        return StoredResult(frame, record, csv_path)

    def load(self, experiment: str, params: Mapping[str, Any]) -> StoredResult:
        """The stored result of ``experiment`` with ``params``.

        Raises:
            FileNotFoundError: nothing stored (no provenance JSON).
            DamagedResultError: a file of the result is missing, empty, truncated or unreadable
                (names the file; the caller recomputes).
        """
        csv_path, table_path, json_path = self.paths(experiment, params)
        if not json_path.exists():
            raise FileNotFoundError(f"no stored result for {experiment} with params {dict(params)} "
                                    f"(looked for {json_path})")
        try:
            meta = json.loads(json_path.read_text())
            if not isinstance(meta, dict):
                raise ValueError(f"expected a JSON object, found {type(meta).__name__}")
        except (OSError, ValueError) as exc:
            raise DamagedResultError(json_path, exc) from None
        try:
            frame = pd.read_json(io.StringIO(table_path.read_text()), orient="table")
        except (OSError, ValueError, KeyError) as exc:
            raise DamagedResultError(table_path, exc) from None
        return StoredResult(frame, meta, csv_path)

    def artifact_path(self, kind: str, key: Mapping[str, Any]) -> Path:
        """``<root>/_artifacts/<kind>/<hash of key>.pt``."""
        return self.root / "_artifacts" / kind.replace("/", "_") / f"{params_key(key)}.pt"

    def save_artifact(self, kind: str, key: Mapping[str, Any], value: Any) -> None:
        """Keep an intermediate (trained weights, ...) for reuse, written atomically with ``torch.save``.

        The one cache for intermediates: ``key`` must name everything the value depends on (data
        identity, settings and the code hash), so nothing outlives the data or code it came from.
        """
        buffer = io.BytesIO()
        torch.save(value, buffer)
        atomic_write_bytes(self.artifact_path(kind, key), buffer.getvalue())

    def load_artifact(self, kind: str, key: Mapping[str, Any], map_location: Any = "cpu") -> Any:
        """The value saved by :meth:`save_artifact` for ``kind`` and ``key``, or None."""
        path = self.artifact_path(kind, key)
        if not path.exists():
            return None
        try:
            return torch.load(path, map_location=map_location, weights_only=False)
        except Exception as exc:  # truncated / damaged (RuntimeError, EOFError, UnpicklingError, ...)
            warnings.warn(f"cached {kind} {path} is damaged ({type(exc).__name__}: {exc}); computing it again",
                          stacklevel=2)
            return None

    def __iter__(self) -> Iterator[Path]:
        return iter(sorted(p for p in self.root.glob("*/*.json") if not p.name.endswith(".table.json")))


__all__ = [
    "ENV_CACHE_DIR", "ENV_CMU_DIR", "ENV_DATA_ROOT", "ENV_RESULTS_DIR", "ENV_SMPL_DIR",
    "DamagedResultError", "MOCAP_PATTERNS", "PROFILES", "Profile", "code_hash", "cpu_threads", "curve_json", "read_curve", "is_profile_default", "scaled_presets",
    "small_ops_threads", "ResultStore", "RunContext", "StoredResult", "atomic_write_bytes",
    "atomic_write_text", "default_results_dir", "get_profile", "git_commit", "make_context",
    "params_key", "provenance", "resolve_device", "seed_everything", "source_hash",
]