"""The one training loop: Adam on an ensemble of members, divergence recorded instead of raised.

:func:`fit` trains M stacked members (:mod:`posebook.models.ensemble`) with :class:`EnsembleAdam`, a
learning rate per member. Adam is elementwise and members never interact, so member m trains exactly
as it would alone (``tests/test_ensemble.py`` checks it against ``torch.optim.Adam`` on single
models, and a NaN member against a clean run).

A member whose loss, gradients or evaluation metrics become non-finite is *diverged*: the step is
recorded, its update is dropped from then on (its parameters stay at their last finite values), its
metrics read NaN, and the others carry on. Nothing raises: a NaN is a result (PRoM Table 3b's "-").

Progress bars are off by default (``progress=False``): tqdm writes to stderr, which the book build
treats as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Optional, Sequence, Union

import pandas as pd
import torch

from posebook.models.ensemble import member_view, nonfinite_members

__all__ = ["EnsembleAdam", "FitResult", "fit"]


class EnsembleAdam:
    """Adam (Kingma & Ba 2015; the update of ``torch.optim.Adam`` defaults) with one learning rate per member.

    Every parameter has the member axis first, (M, ...). ``step(active)`` changes only the parameters
    of members where ``active`` is True (the others' gradients are ignored and their step count
    frozen), so a diverged member keeps its last finite weights.
    """

    def __init__(
        self,
        params: Sequence[torch.nn.Parameter],
        lr: Union[float, Sequence[float], torch.Tensor],
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = [p for p in params]
        if not self.params:
            raise ValueError("EnsembleAdam got no parameters")
        members = self.params[0].shape[0]
        if any(p.dim() == 0 or p.shape[0] != members for p in self.params):
            raise ValueError(f"every parameter needs the member axis first (M={members})")
        like = self.params[0]
        self.lr = torch.as_tensor(lr, dtype=torch.float64, device=like.device).expand(members).clone()
        self.betas, self.eps = betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.steps = torch.zeros(members, dtype=torch.float64, device=like.device)

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        b1, b2 = self.betas
        all_active = bool(active.all())
        self.steps += active.to(self.steps.dtype)
        t = self.steps.clamp(min=1.0)
        # Bias corrections in float64, as torch.optim.Adam computes them in Python floats.
        step_size = self.lr * active.to(self.lr.dtype) / (1 - b1**t)
        bias2_sqrt = torch.sqrt(1 - b2**t)
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
            if p.grad is None:
                continue
            g = p.grad
            if not all_active:
                g = torch.where(member_view(active, g), g, torch.zeros_like(g))
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / member_view(bias2_sqrt.to(v.dtype), v)).add_(self.eps)
            p.addcdiv_(m * member_view(step_size.to(m.dtype), m), denom, value=-1.0)


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        history: one row per (evaluation step, member): ``step``, ``member``, ``train_loss`` (mean
            over the steps since the previous evaluation) and one column per metric of ``eval_fn``;
            NaN for a member from its divergence on.
        diverged_step: per member, None, or when it diverged: the (1-based) optimisation step whose
            loss or gradient was non-finite, or the number of completed steps at the evaluation that
            found a non-finite metric.
        final: the last evaluation, ``{metric: (M,) tensor}`` (NaN where diverged).
    """

    history: pd.DataFrame
    diverged_step: list[Optional[int]]
    final: dict[str, torch.Tensor]

    @property
    def diverged(self) -> list[bool]:
        return [s is not None for s in self.diverged_step]


def fit(
    params: Sequence[torch.nn.Parameter],
    loss_fn: Callable[[int], torch.Tensor],
    *,
    steps: int,
    lr: Union[float, Sequence[float], torch.Tensor],
    eval_fn: Optional[Callable[[], Mapping[str, torch.Tensor]]] = None,
    eval_every: int = 0,
    lr_milestones: Sequence[int] = (),
    lr_gamma: float = 0.1,
    progress: bool = False,
    monitor: Optional[Callable[[int, torch.Tensor], None]] = None,
) -> FitResult:
    """Train M stacked members with :class:`EnsembleAdam`, recording divergence per member.

    Args:
        params: parameters, each (M, ...) with the member axis first.
        loss_fn: ``loss_fn(step) -> (M,)`` per-member training losses (it draws its own batch).
        steps: optimisation steps.
        lr: learning rate, one for all or (M,) per member.
        eval_fn: ``eval_fn() -> {metric: (M,)}``, called without gradients at step 0 and every
            ``eval_every`` steps when ``eval_every > 0``, and always after the last step.
        lr_milestones: steps at which the learning rate is multiplied by ``lr_gamma``.
        progress: show a tqdm bar (on stderr: keep False in notebooks and CI).
        monitor: ``monitor(step, losses)`` after each backward pass, before the update (the
            parameters hold their gradients; ``losses`` (M,) detached): per-step diagnostics.
    Returns:
        :class:`FitResult`.
    """
    params = list(params)
    opt = EnsembleAdam(params, lr)
    members = params[0].shape[0]
    device = params[0].device
    alive = torch.ones(members, dtype=torch.bool, device=device)
    diverged_step: list[Optional[int]] = [None] * members
    loss_sum = torch.zeros(members, dtype=torch.float64, device=device)
    loss_count = 0
    rows: list[dict] = []
    final: dict[str, torch.Tensor] = {}
    milestones = set(int(m) for m in lr_milestones)

    def mark(bad: torch.Tensor, step: int) -> None:
        nonlocal alive
        newly = bad & alive
        if bool(newly.any()):
            for m in torch.nonzero(newly).flatten().tolist():
                diverged_step[m] = step
            alive = alive & ~newly

    def evaluate(step: int) -> None:
        nonlocal loss_sum, loss_count, final
        if eval_fn is None:
            metrics: dict[str, torch.Tensor] = {}
        else:
            with torch.no_grad():
                metrics = {k: torch.as_tensor(v).to(device=device, dtype=torch.float64) for k, v in eval_fn().items()}
        for value in metrics.values():
            mark(~torch.isfinite(value), step)
        nan = torch.tensor(float("nan"), dtype=torch.float64, device=device)
        train_loss = loss_sum / loss_count if loss_count else torch.full_like(loss_sum, float("nan"))
        columns = {"train_loss": torch.where(alive, train_loss, nan)}
        columns.update({k: torch.where(alive, v, nan) for k, v in metrics.items()})
        final = {k: v for k, v in columns.items() if k != "train_loss"}
        host = {k: v.cpu().tolist() for k, v in columns.items()}
        for m in range(members):
            rows.append({"step": step, "member": m, **{k: host[k][m] for k in host}})
        loss_sum = torch.zeros_like(loss_sum)
        loss_count = 0

    if eval_every > 0:
        evaluate(0)
    iterator: Iterator[int] = iter(range(steps))
    if progress:
        from tqdm.auto import tqdm

        iterator = iter(tqdm(range(steps)))
    for step in iterator:
        if step in milestones:
            opt.lr *= lr_gamma
        for p in params:
            p.grad = None
        losses = loss_fn(step)
        if losses.shape != (members,):
            raise ValueError(f"loss_fn must return ({members},) per-member losses, got {tuple(losses.shape)}")
        mark(~torch.isfinite(losses.detach()), step + 1)
        total = torch.where(alive, losses, torch.zeros_like(losses)).sum()
        if total.requires_grad:
            total.backward()
        bad_grad = torch.zeros_like(alive)
        for p in params:
            if p.grad is not None:
                bad_grad |= nonfinite_members(p.grad)
        mark(bad_grad, step + 1)
        if monitor is not None:
            monitor(step, losses.detach())
        opt.step(alive)
        loss_sum += torch.where(alive, losses.detach().to(torch.float64), torch.zeros_like(loss_sum))
        loss_count += 1
        done = step + 1
        if done == steps or (eval_every > 0 and done % eval_every == 0):
            evaluate(done)
    if steps == 0 and eval_every <= 0:
        evaluate(0)
    return FitResult(pd.DataFrame(rows), diverged_step, final)


