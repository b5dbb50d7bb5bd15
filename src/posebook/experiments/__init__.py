"""Thin recipes, one module or package per chapter: paper constants, size presets per profile, and
``@experiment`` functions that compose package pieces and return tidy frames.

Chapters never import each other (an import contract checks it); what they share lives below them
(:mod:`posebook.claims`, :mod:`posebook.report`, :mod:`posebook.runs`, ...). Importing this package
registers every experiment; see :mod:`posebook.experiments.registry`.
"""

from posebook.experiments.registry import (
    REGISTRY,
    Experiment,
    ExperimentResult,
    experiment,
    get_experiment,
    list_experiments,
    best_reference,
    find_reference,
    reference_dir,
    run_experiment,
)
# Importing the modules registers their experiments.
from posebook.experiments import cliff, geometry, perspose, prom, sgre, world, zedo  # noqa: E402,F401
# cliff.benchmark (``cliff.pw3d``) is registered here, not by cliff/__init__: cliff.tables imports the package
# itself (``from posebook.experiments.cliff import paper``), so a module listed there enters the code hash of
# every CLIFF reference. Move it into cliff/__init__ when those references are next recomputed.
from posebook.experiments.cliff import benchmark as _cliff_benchmark  # noqa: E402,F401
# zedo.benchmark (``zedo.benchmarks``) likewise: zedo.tables imports the zedo package (``paper``).
from posebook.experiments.zedo import benchmark as _zedo_benchmark  # noqa: E402,F401

__all__ = ["REGISTRY", "Experiment", "ExperimentResult", "experiment", "get_experiment",
           "best_reference", "find_reference", "list_experiments", "reference_dir", "run_experiment"]
