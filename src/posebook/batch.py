"""Many experiments at once: in this process, or as jobs through submitit (its local executor here,
Slurm on a cluster), all writing to one result store.

``posebook run --all`` calls :func:`run_batch`. Every experiment is one call of
:func:`~posebook.experiments.registry.run_experiment`, which stores its result when it completes
(atomically, with provenance) and reuses a stored one; so a batch interrupted or partly failed is
resumed by running it again: what is stored returns at once ("reused"), only what is missing is
computed. The jobs get the store as an absolute path, so a job on another machine of a cluster writes
where the batch reads (the folder must be shared, as Slurm clusters' home and scratch folders are).

Executors:

``inline``
    one experiment after the other in this process, a progress bar (the default).
``local``
    submitit's ``LocalExecutor``: each experiment a subprocess job, at most ``jobs`` at a time, each
    with ``cpus`` CPU threads; the same code path as a cluster, testable on one machine.
``slurm``
    submitit's ``AutoExecutor`` on a Slurm cluster (``slurm`` options such as ``partition``, ``gpus``,
    ``timeout_min``). Job logs go to ``folder``.

Two jobs that need the same cached intermediate (a chapter's world, its trained networks) would
both build it: the caches write atomically, so that is only time lost, but on two cores it is
much of it. ``group="chapter"`` makes one job per chapter (:func:`chains`): its experiments run one
after the other in that job, the first builds what the later ones reuse, chapters run side by side.
Given estimated costs (seconds per experiment, e.g. from ``bench/experiment_times.csv``), the
costliest jobs are submitted first, so that a long one does not start last while the other slots
idle.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from posebook.experiments import REGISTRY, run_experiment
from posebook.runs import default_results_dir

__all__ = ["EXECUTORS", "GROUPS", "SHARES_CACHES_WITH", "Outcome", "BatchReport", "chains", "select", "run_batch"]

#: The ways a batch runs.
EXECUTORS = ("inline", "local", "slurm")
#: How experiments are put into jobs: one each, or one job per chapter (:func:`chains`).
GROUPS = ("none", "chapter")
#: Chapters whose experiments read another chapter's cached intermediates, and so belong in its
#: chain: SGRE trains on the CLIFF chapter's rendered crops (one image set for both).
SHARES_CACHES_WITH = {"sgre": "cliff"}


@dataclass(frozen=True)
class Outcome:
    """What became of one experiment: "computed", "reused" (stored earlier) or "failed"."""

    name: str
    state: str
    path: str = ""
    wall_s: Optional[float] = None
    error: str = ""


@dataclass
class BatchReport:
    """The outcomes of a batch, in the order of the names."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [o.name for o in self.outcomes if o.state == "failed"]

    def counts(self) -> dict[str, int]:
        return {state: sum(o.state == state for o in self.outcomes) for state in ("computed", "reused", "failed")}


def select(match: str = "") -> list[str]:
    """The registered experiments whose name starts with ``match``, sorted; refuses an empty selection."""
    names = sorted(n for n in REGISTRY if n.startswith(match or ""))
    if not names:
        raise ValueError(f"no experiment matches {match!r}; `posebook list` shows them")
    return names


def chains(names: Sequence[str], group: str = "chapter", cost: Mapping[str, float] | None = None) -> list[list[str]]:
    """The jobs of a batch: lists of experiments run one after the other.

    ``group`` "none": one job per experiment; "chapter": one per chapter (the name before the first
    dot, merged as :data:`SHARES_CACHES_WITH` says), its experiments in the order given. With
    ``cost`` (estimated seconds per experiment; an unknown one counts as the mean of the known), the
    jobs come costliest first (ties keep their order); without, in the order of their first experiment.
    """
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, got {group!r}")
    jobs: dict[str, list[str]] = {}
    for name in names:
        chapter = name.split(".", 1)[0]
        jobs.setdefault(name if group == "none" else SHARES_CACHES_WITH.get(chapter, chapter), []).append(name)
    out = list(jobs.values())
    if cost:
        known = [float(c) for c in cost.values()]
        guess = sum(known) / len(known)
        out.sort(key=lambda job: -sum(float(cost.get(n, guess)) for n in job))
    return out


def _run_chain(names: Sequence[str], common: Mapping[str, Any], threads: Optional[int] = None) -> list[Outcome]:
    """A job's experiments one after the other (a failure does not stop the next)."""
    return [_run_one(name, common, threads) for name in names]


def _run_one(name: str, common: Mapping[str, Any], threads: Optional[int] = None) -> Outcome:
    """One experiment (in this process or in a job): its outcome, never an exception."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        result = run_experiment(name, **common)
    except Exception as exc:  # noqa: BLE001 (a failed experiment is reported, the batch goes on)
        return Outcome(name, "failed", error=f"{type(exc).__name__}: {exc}")
    return Outcome(name, "reused" if result.reused else "computed", str(result.path), result.meta.get("wall_s"))


def _say(outcome: Outcome, write) -> None:
    if outcome.state == "failed":
        write(f"FAILED  {outcome.name}: {outcome.error}")
    else:
        took = "" if outcome.state == "reused" or outcome.wall_s is None else f" ({outcome.wall_s:.0f} s)"
        write(f"{outcome.state:9s}{outcome.name} -> {outcome.path}{took}")


def run_batch(names: Sequence[str], *, executor: str = "inline", jobs: int = 1, cpus: Optional[int] = None,
              group: str = "none", cost: Mapping[str, float] | None = None,
              folder: str | os.PathLike | None = None, slurm: Mapping[str, Any] | None = None,
              poll_s: float = 1.0, progress: bool = True, **common: Any) -> BatchReport:
    """Run ``names`` (each with its default parameters) and report what became of each.

    Args:
        executor: one of :data:`EXECUTORS`.
        jobs: ``local``: how many jobs run at once.
        group, cost: ``local`` / ``slurm``: what goes into one job and which jobs go first (:func:`chains`).
        cpus: CPU threads per experiment (``local`` / ``slurm``; default: the cores divided by ``jobs``).
        folder: submitit's folder for job files and logs (default ``<results>/_jobs``).
        slurm: ``slurm`` executor parameters (``partition``, ``gpus_per_node``, ``timeout_min``, ...),
            passed to submitit's ``update_parameters`` with its ``slurm_`` prefixes added.
        common: :func:`~posebook.experiments.registry.run_experiment` keywords (profile, device, seed,
            data_root, cmu_dir, out, resume, reference).
    """
    from tqdm.auto import tqdm

    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    work = chains(names, group, cost)
    bar = tqdm(total=len(names), desc=f"{common.get('profile', 'quick')} profile", unit="experiment",
               disable=not progress, file=sys.stderr)
    results: dict[str, Outcome] = {}

    def finish(outcome: Outcome) -> None:
        results[outcome.name] = outcome
        bar.update(1)
        _say(outcome, tqdm.write)

    if executor == "inline":
        for name in names:
            bar.set_postfix_str(name)
            finish(_run_one(name, common))
        bar.close()
        return BatchReport([results[n] for n in names])

    import submitit

    # the jobs write where this process reads: the store as an absolute path, whatever their cwd
    common = dict(common)
    if common.get("out") is None and not common.get("reference"):
        common["out"] = str(default_results_dir().resolve())
    root = Path(common["out"]) if common.get("out") else default_results_dir()
    folder = Path(folder) if folder is not None else root / "_jobs"
    threads = cpus or max(1, (os.cpu_count() or 1) // jobs)
    if executor == "local":
        ex = submitit.LocalExecutor(folder=folder)
        ex.update_parameters(timeout_min=int((slurm or {}).get("timeout_min", 24 * 60)))
    else:
        ex = submitit.AutoExecutor(folder=folder, cluster="slurm")
        ex.update_parameters(cpus_per_task=threads, **{k if k.startswith("slurm_") or k in ("timeout_min",)
                                                       else f"slurm_{k}": v for k, v in (slurm or {}).items()})
        jobs = len(work)  # the cluster's scheduler queues them
    pending, running = list(work), {}
    while pending or running:
        while pending and len(running) < jobs:
            chain = pending.pop(0)
            running[tuple(chain)] = ex.submit(_run_chain, chain, common, threads)
            bar.set_postfix_str(f"{len(running)} running")
        for chain, job in list(running.items()):
            if job.done():
                del running[chain]
                try:
                    outcomes = job.result()
                except Exception as exc:  # noqa: BLE001 (the job itself died: killed, out of memory, ...)
                    error = (f"job {job.job_id} died: {type(exc).__name__}: {exc}; its log is in {folder} "
                             "(what it stored before dying is reused by a rerun)")
                    outcomes = [Outcome(name, "failed", error=error) for name in chain]
                for outcome in outcomes:
                    finish(outcome)
        if running:
            time.sleep(poll_s)
    bar.close()
    return BatchReport([results[n] for n in names])
