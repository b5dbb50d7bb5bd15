"""The training loop of the image models: Adam, step decay, checkpoints that resume exactly, NaN recorded.

One model, one run (the PRoM chapter's small networks train as ensembles, :mod:`posebook.optim.ensemble`;
a convolutional encoder does not stack that way). What the loop does:

- draws ``batch`` sample indices per step (with replacement) from a generator seeded with ``seed``;
  dropout and every other random op inside the model draw from torch's global generator, seeded
  with ``seed`` inside a :func:`torch.random.fork_rng` block, so a run is a function of its seed and
  leaves the caller's random state alone;
- Adam at ``lr``, divided by 10 at each milestone (fractions of ``steps``; CLIFF Sec. 3.5: "reduced
  by a factor of 10 in the middle"), optional gradient clipping;
- every ``checkpoint_every`` steps writes model, optimiser, generator and RNG states and the history
  to ``checkpoint`` (atomically); a later call with the same ``checkpoint`` resumes from it and ends
  with the same weights as an uninterrupted run (``tests/test_trainer.py``);
- a non-finite loss or gradient stops the run: the step is recorded (``TrainResult.diverged_step``),
  the weights stay those of the last finite step, nothing raises (a NaN is a result);
- a tqdm progress bar when ``progress`` (off by default: the book build treats stderr as failure).
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

import pandas as pd
import torch

from posebook.runs import atomic_write_bytes

__all__ = ["TrainSettings", "TrainResult", "train_model", "learning_rate"]


@dataclass(frozen=True)
class TrainSettings:
    """The settings of :func:`train_model`.

    Attributes:
        steps: optimiser steps (>= 1); batch: samples per step (>= 1); lr: Adam's learning rate (> 0).
        milestones: fractions of ``steps`` in (0, 1] at which the learning rate is divided by 10.
        weight_decay: Adam's (L2) weight decay; grad_clip: clip the gradient norm to this (None: no clip).
        log_every: history rows every this many steps (0: 20 rows per run).
        checkpoint_every: write the checkpoint every this many steps (0: 10 per run).
    """

    steps: int
    batch: int
    lr: float
    milestones: tuple[float, ...] = (0.5,)
    weight_decay: float = 0.0
    grad_clip: Optional[float] = None
    log_every: int = 0
    checkpoint_every: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(float(m) for m in self.milestones))
        if self.steps < 1 or self.batch < 1:
            raise ValueError(f"steps and batch must be >= 1, got steps={self.steps}, batch={self.batch}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if any(not 0 < m <= 1 for m in self.milestones):
            raise ValueError(f"milestones are fractions of the run in (0, 1], got {self.milestones}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {self.grad_clip}")

    @property
    def log_interval(self) -> int:
        return self.log_every or max(1, self.steps // 20)

    @property
    def checkpoint_interval(self) -> int:
        return self.checkpoint_every or max(1, self.steps // 10)


def learning_rate(settings: TrainSettings, step: int) -> float:
    """The learning rate of (0-based) ``step``: ``lr / 10^(milestones passed)``."""
    passed = sum(step >= round(m * settings.steps) for m in settings.milestones)
    return settings.lr * 0.1**passed


@dataclass
class TrainResult:
    """What :func:`train_model` returns.

    Attributes:
        history: one row per logged window: ``step`` (steps done), ``lr``, ``train_loss`` (window
            mean) and the mean of every other loss term the loss function returned, plus what
            ``eval_fn`` returned at that step.
        diverged_step: the step whose loss or gradient was not finite, or None.
        steps_done: optimiser steps taken (``settings.steps`` unless diverged).
        resumed_from: the checkpoint step this call started from, or None (from scratch).
        seconds: wall time of this call.
    """

    history: pd.DataFrame
    diverged_step: Optional[int]
    steps_done: int
    resumed_from: Optional[int] = None
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)


def _save(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _load(path: Path, device: torch.device) -> Optional[dict]:
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location=device, weights_only=False)
    except Exception as exc:  # a damaged checkpoint costs the run, not the user's time to find out why
        import warnings

        warnings.warn(f"checkpoint {path} is damaged ({type(exc).__name__}: {exc}); training from scratch",
                      stacklevel=3)
        return None


def train_model(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, torch.Tensor], Mapping[str, torch.Tensor]],
    num_samples: int,
    settings: TrainSettings,
    *,
    seed: int,
    checkpoint: Optional[Path] = None,
    eval_fn: Optional[Callable[[torch.nn.Module], Mapping[str, float]]] = None,
    progress: bool = False,
) -> TrainResult:
    """Train ``model`` in place.

    Args:
        model: the network (its parameters' device is the run's device).
        loss_fn: ``loss_fn(model, index) -> {"loss": scalar, other terms...}`` for the (B,) sample
            indices ``index`` (CPU int64); "loss" is minimised, the other terms are logged.
        num_samples: N, the indices are drawn from [0, N).
        settings: :class:`TrainSettings`.
        seed: the run's seed (batches, dropout).
        checkpoint: where to keep the resumable state (None: no checkpoints).
        eval_fn: ``eval_fn(model) -> {metric: value}`` at every logged step (the model is put in
            eval mode and back).
    Returns:
        :class:`TrainResult`.
    """
    if num_samples < 1:
        raise ValueError("no training samples (num_samples = 0): build a larger training set")
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    rows: list[dict] = []
    start, diverged, resumed = 0, None, None
    state = _load(checkpoint, device) if checkpoint is not None else None
    if state is not None and state.get("settings") != asdict(settings):
        state = None  # another run's checkpoint under this name: its key must differ; never mix
    tic = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            gen.set_state(state["generator"])
            torch.set_rng_state(state["rng_cpu"])
            if device.type == "cuda" and state.get("rng_cuda") is not None:
                torch.cuda.set_rng_state(state["rng_cuda"], device)
            rows, start, diverged = list(state["history"]), int(state["step"]), state["diverged_step"]
            resumed = start
        model.train()
        window: dict[str, list[float]] = {}
        steps = range(start, settings.steps if diverged is None else start)
        if progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, initial=start, total=settings.steps, desc="train", unit="step")
        for step in steps:
            lr = learning_rate(settings, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            index = torch.randint(num_samples, (settings.batch,), generator=gen)
            terms = loss_fn(model, index)
            loss = terms["loss"]
            optimizer.zero_grad(set_to_none=True)
            finite = bool(torch.isfinite(loss))
            if finite:
                loss.backward()
                grads = [p.grad for p in model.parameters() if p.grad is not None]
                finite = all(bool(torch.isfinite(g).all()) for g in grads)
            if not finite:
                diverged = step
                rows.append({"step": step, "lr": lr, "train_loss": float("nan")})
                break
            if settings.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            for name, value in terms.items():
                window.setdefault("train_loss" if name == "loss" else name, []).append(float(value.detach()))
            done = step + 1
            if done % settings.log_interval == 0 or done == settings.steps:
                row = {"step": done, "lr": lr, **{k: sum(v) / len(v) for k, v in window.items()}}
                window = {}
                if eval_fn is not None:
                    model.eval()
                    with torch.no_grad():
                        row.update(eval_fn(model))
                    model.train()
                rows.append(row)
            if checkpoint is not None and (done % settings.checkpoint_interval == 0 or done == settings.steps):
                _save(checkpoint, {
                    "settings": asdict(settings), "step": done, "diverged_step": None, "history": rows,
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(), "generator": gen.get_state(),
                    "rng_cpu": torch.get_rng_state(),
                    "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                })
        model.eval()
    steps_done = settings.steps if diverged is None else diverged
    return TrainResult(pd.DataFrame(rows), diverged, steps_done, resumed, time.perf_counter() - tic, asdict(settings))
