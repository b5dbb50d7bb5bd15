"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

#: Environment variable naming the CMU mocap subset (the same one ``posebook.runs`` reads).
CMU_ENV = "POSEBOOK_CMU_DIR"
#: Where the subset lies by default: ``shared/data/cmu_mocap`` beside the checkout.
CMU_BESIDE_CHECKOUT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cmu_mocap"


def find_cmu_dir() -> tuple[Path | None, str]:
    """The CMU mocap directory to test against, or None and why not.

    ``$POSEBOOK_CMU_DIR`` first, else ``../shared/data/cmu_mocap`` beside the checkout; a candidate
    counts only if it holds ``.asf`` files.
    """
    candidates = []
    if os.environ.get(CMU_ENV):
        candidates.append((f"${CMU_ENV}", Path(os.environ[CMU_ENV]).expanduser().resolve()))
    candidates.append(("beside the checkout", CMU_BESIDE_CHECKOUT.resolve()))
    for _, path in candidates:
        if path.is_dir() and any(path.glob("*.asf")):
            return path, ""
    tried = "; ".join(f"{label}: {path}" for label, path in candidates)
    return None, f"CMU mocap subset not found (no .asf files; tried {tried}); set {CMU_ENV}"


@pytest.fixture(scope="session")
def cmu_dir() -> Path:
    """The CMU mocap subset (see :func:`find_cmu_dir`); skips the test when there is none."""
    path, reason = find_cmu_dir()
    if path is None:
        pytest.skip(reason)
    return path


_DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="torch.cuda.is_available() is False"),
    ),
]


@pytest.fixture(params=_DEVICES)
def device(request) -> torch.device:
    """Each device-agnostic test runs on the CPU and, where a GPU exists, on CUDA (skipped otherwise)."""
    return torch.device(request.param)


@pytest.fixture
def gen() -> torch.Generator:
    """A CPU generator seeded with 0: every test that draws random numbers starts from the same state."""
    return torch.Generator().manual_seed(0)


@pytest.fixture()
def isolated(tmp_path, monkeypatch):
    """A scratch folder whose ``cache`` subfolder is ``$POSEBOOK_CACHE_DIR`` (worlds, image sets, sequences)."""
    monkeypatch.setenv("POSEBOOK_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path
