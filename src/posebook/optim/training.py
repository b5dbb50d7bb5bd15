"""Training entry points: every one builds a per-member loss and hands it to the one loop,
:func:`posebook.optim.ensemble.fit`."""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import torch

from posebook.body.anny_skeleton import AnnySkeleton
from posebook.models.body_regressor import BodyRegressor, LossWeights, RegressionData
from posebook.optim.ensemble import FitResult, fit

__all__ = ["train_regressor", "train_task"]


def train_task(task, *, steps: int, lr: Union[float, Sequence[float], torch.Tensor], decay_at: Sequence[float] = (),
               eval_every: int = 0, progress: bool = False) -> FitResult:
    """Train a task object (``parameters()``, ``loss(step) -> (M,)``, ``evaluate() -> {metric: (M,)}``,
    e.g. :class:`posebook.models.zhou.RotationAutoencoder`) with :func:`fit`.

    Args:
        decay_at: fractions of ``steps`` at which every learning rate is divided by 10.
        eval_every: evaluate every k steps (learning curves); 0: only at the end.
    """
    return fit(task.parameters(), task.loss, steps=steps, lr=lr, eval_fn=task.evaluate, eval_every=eval_every,
               lr_milestones=[int(round(f * steps)) for f in decay_at], progress=progress)


def train_regressor(model: BodyRegressor, skeleton: AnnySkeleton, data: RegressionData, *, steps: int,
                    batch: int, lr: Union[float, Sequence[float], torch.Tensor],
                    weights: LossWeights = LossWeights(), lr_milestones: Sequence[int] = (),
                    log_every: int = 0, eval_fn=None, progress: bool = False,
                    monitor: Optional[Callable[[int, RegressionData, torch.Tensor], None]] = None) -> FitResult:
    """Train every member of ``model`` with Adam on ``data`` (:func:`posebook.optim.ensemble.fit`).

    Each step draws ``batch`` training samples (with replacement) per seed, from a generator seeded
    with that seed: members with the same seed see the same batches. A member whose loss or gradients
    turn non-finite is recorded as diverged (``FitResult.diverged_step``) and frozen; nothing raises.

    Args:
        model: the members; data tensors must be on its device and dtype.
        lr: one learning rate, or (M,) per member.
        lr_milestones: steps at which every learning rate is divided by 10.
        log_every: log the mean training loss (and ``eval_fn``'s metrics) every this many steps
            (0: once, over the whole run).
        eval_fn: ``eval_fn() -> {metric: (M,)}`` (learning curves of test metrics), or None.
        monitor: ``monitor(step, batch, losses)`` after each backward pass, before the update
            (gradients in ``model.parameters()``; ``batch`` the step's :class:`RegressionData`,
            ``losses`` (M,) detached): diagnostics such as gradient norms or loss spikes.
    Returns:
        :class:`~posebook.optim.ensemble.FitResult`; its history has ``train_loss``, the mean
        loss of each logged window.
    """
    device = model.x0.device
    seeds = list(dict.fromkeys(model.seeds))
    gens = [torch.Generator().manual_seed(10**5 + s) for s in seeds]
    seed_index = torch.tensor([seeds.index(s) for s in model.seeds], device=device)
    n = len(data)

    last: dict[str, RegressionData] = {}

    def loss_fn(step: int) -> torch.Tensor:
        idx = torch.stack([torch.randint(n, (batch,), generator=g) for g in gens]).to(device)
        last["batch"] = data.take(idx.index_select(0, seed_index))  # (M, B) samples
        return model.losses(skeleton, last["batch"], weights)["loss"]

    lrs = torch.as_tensor(lr, dtype=torch.float64).expand(model.members).to(device)
    step_monitor = None if monitor is None else (lambda step, losses: monitor(step, last["batch"], losses))
    return fit(list(model.parameters()), loss_fn, steps=steps, lr=lrs, eval_fn=eval_fn, eval_every=log_every,
               lr_milestones=lr_milestones, lr_gamma=0.1, progress=progress, monitor=step_monitor)
