"""One module per paper (plus shared geometry): functions that run one table or figure each.

Importing this package registers every experiment; see :mod:`posebook.experiments.registry`.
"""

from posebook.experiments.registry import (
    REGISTRY,
    Experiment,
    ExperimentResult,
    experiment,
    get_experiment,
    list_experiments,
    run_experiment,
)
# Importing the modules registers their experiments.
from posebook.experiments import geometry, prom, prom_bodies, prom_theory, world  # noqa: E402,F401

__all__ = ["REGISTRY", "Experiment", "ExperimentResult", "experiment", "get_experiment",
           "list_experiments", "run_experiment"]
