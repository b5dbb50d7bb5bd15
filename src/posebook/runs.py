"""Profiles, seeding, device choice and the result store: the one place runs are configured.

Every experiment runs inside a :class:`RunContext` (profile, device, seed, data paths). Results are
tidy :class:`pandas.DataFrame` objects saved by :class:`ResultStore` next to a provenance record
(data source, profile, device, seed, package version, git commit, library versions). Writes are
atomic (temporary file + :func:`os.replace`), so an interrupted batch never leaves a half-written
result, and a rerun with the same parameters finds the stored result and resumes from there.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import io
import json
import os
import platform
import random
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd
import torch

from posebook import __version__

#: Environment variables the package reads, in one place (nothing else reads globals silently).
ENV_CMU_DIR = "POSEBOOK_CMU_DIR"
ENV_SMPL_DIR = "POSEBOOK_SMPL_DIR"
ENV_DATA_ROOT = "POSEBOOK_DATA_ROOT"
ENV_RESULTS_DIR = "POSEBOOK_RESULTS_DIR"
ENV_CACHE_DIR = "POSEBOOK_CACHE_DIR"


@dataclass(frozen=True)
class Profile:
    """How big a run is. ``quick``: CPU minutes (CI, nbval, ``make book``); ``full``: paper-like, GPU.

    Experiments read their sizes from ``scale`` (a multiplier on sample counts / steps) and the
    named fields; each experiment documents how it uses them.
    """

    name: str
    scale: float
    num_seeds: int
    default_device: str
    description: str


PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", scale=1.0, num_seeds=3, default_device="cpu",
                     description="CPU, minutes per notebook; what CI, nbval and `make book` run"),
    "full": Profile("full", scale=20.0, num_seeds=5, default_device="auto",
                    description="paper-like scale, GPU when present; run with papermill or the CLI"),
}


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


@dataclass(frozen=True)
class RunContext:
    """Everything an experiment needs to know about where and how it runs."""

    profile: Profile
    device: torch.device
    seed: int
    data_root: Path | None = None
    cmu_dir: Path | None = None

    @property
    def generator(self) -> torch.Generator:
        """A fresh CPU generator seeded with :attr:`seed` (each call restarts the stream)."""
        return torch.Generator().manual_seed(self.seed)

    def seeds(self, n: int | None = None) -> list[int]:
        """``n`` (default: the profile's ``num_seeds``) consecutive seeds starting at :attr:`seed`."""
        return [self.seed + i for i in range(self.profile.num_seeds if n is None else n)]

    def scaled(self, n: int, minimum: int = 1) -> int:
        """``n`` multiplied by the profile scale, at least ``minimum``."""
        return max(minimum, int(round(n * self.profile.scale)))

    def describe(self) -> dict[str, Any]:
        return {"profile": self.profile.name, "device": str(self.device), "seed": self.seed,
                "data_root": str(self.data_root) if self.data_root else None,
                "cmu_dir": str(self.cmu_dir) if self.cmu_dir else None}


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
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def params_key(params: Mapping[str, Any]) -> str:
    """A short stable hash of JSON-able parameters (the identity of a result in the store)."""
    blob = json.dumps(dict(params), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@dataclass
class StoredResult:
    """A result frame with its provenance record and the files it lives in."""

    frame: pd.DataFrame
    meta: dict[str, Any]
    path: Path

    def caption(self) -> str:
        """One line for a table caption: data source, profile, device, seed, version, commit."""
        m = self.meta
        commit = (m.get("git_commit") or "unknown")[:12]
        return (f"data: {m.get('data_source')} | profile: {m.get('profile')} | device: {m.get('device')}"
                f" | seed: {m.get('seed')} | posebook {m.get('posebook_version')} @ {commit}")


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
        csv_path, table_path, json_path = self.paths(experiment, params)
        if not json_path.exists():
            raise FileNotFoundError(f"no stored result for {experiment} with params {dict(params)} "
                                    f"(looked for {json_path})")
        frame = pd.read_json(io.StringIO(table_path.read_text()), orient="table")
        return StoredResult(frame, json.loads(json_path.read_text()), csv_path)

    def __iter__(self) -> Iterator[Path]:
        return iter(sorted(p for p in self.root.glob("*/*.json") if not p.name.endswith(".table.json")))


__all__ = [
    "ENV_CACHE_DIR", "ENV_CMU_DIR", "ENV_DATA_ROOT", "ENV_RESULTS_DIR", "ENV_SMPL_DIR",
    "PROFILES", "Profile", "ResultStore", "RunContext", "StoredResult", "atomic_write_bytes",
    "atomic_write_text", "default_results_dir", "get_profile", "git_commit", "make_context",
    "params_key", "provenance", "resolve_device", "seed_everything", "source_hash",
]