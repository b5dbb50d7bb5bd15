"""environment.yml (conda) and pyproject.toml (pip) must list the same dependencies."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (requires-python >= 3.10): the dev extra installs the tomli backport
    import tomli as tomllib

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"pytorch": "torch"}


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ]", spec.strip(), maxsplit=1)[0].lower()


def _pyproject_specs() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += [s for s in extra if not s.startswith("posebook")]
    return {_name(s): s.replace(" ", "") for s in specs}


def _conda_specs() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    specs: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            entries = [s for s in dep["pip"] if not s.startswith("-e")]
        elif _name(dep) in {"python", "pip"}:
            continue
        else:
            entries = [dep]
        for s in entries:
            name = CONDA_TO_PYPI.get(_name(s), _name(s))
            specs[name] = name + s.replace(" ", "")[len(_name(s)):]
    return specs


def test_same_packages_and_versions():
    assert _conda_specs() == _pyproject_specs()


def test_torch_range_admits_the_cpu_build_installed_by_make():
    """`make install` installs torch==2.13.0 first; the range must accept it (and CUDA builds)."""
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(_pyproject_specs()["torch"][len("torch"):])
    assert spec.contains("2.13.0") and spec.contains("2.13.0+cu128")
    makefile = (ROOT / "Makefile").read_text()
    assert "TORCH_SPEC ?= torch==2.13.0" in makefile
