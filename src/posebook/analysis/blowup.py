"""What explains a training blow-up: per-step diagnostics of an ensemble's training (PRoM Sec. 3.4, 4.1).

PRoM Sec. 3.4 names two sources of exploding gradients when a network output is orthogonalised:

- r_GS (6D, PRoM Eq. 2 / 6): ``dr'_2/dt'_1`` grows like ``1/|r''_2|``, with
  ``r''_2 = t'_2 - (q_1 . t'_2) q_1`` the second column after removing its projection on the first
  (before normalisation), ``q_1 = t'_1 / |t'_1|``: nearly collinear columns (:func:`gs_residual_norm`).
- g_SVD (Sec. 3.4.2, proper: ``U diag(1, 1, det(U V^T)) V^T``): the gradient's denominators are
  ``s'_i + s'_j`` with ``s' = (s_1, s_2, sign(det M) s_3)``
  (:func:`posebook.analysis.gradients.svd_gradient`). For det(M) > 0 they are sums of singular values;
  for det(M) < 0 the smallest is ``s_2 - s_3``, so the gradient explodes as those two meet
  (:func:`svd_negative_det_gap`; the ``prom.svd_explosion`` experiment shows it).

:class:`BlowupRecorder` accumulates, per member of an ensemble, the largest gradient norm
(:func:`member_grad_norms`), loss spikes against a running median, and the minimum of any such
per-sample quantity, all vectorised over members (one (M,) tensor per statistic, no per-member
loops). It stops recording a member at the first non-finite loss or gradient, the step at which
:func:`posebook.optim.ensemble.fit` freezes it.
"""

from __future__ import annotations

import math
from typing import Iterable, Optional

import torch

__all__ = ["gs_residual_norm", "svd_negative_det_gap", "member_grad_norms", "masked_min", "BlowupRecorder"]


def gs_residual_norm(t1: torch.Tensor, t2: torch.Tensor) -> torch.Tensor:
    """``|r''_2| = |t'_2 - (q_1 . t'_2) q_1|``, ``q_1 = t'_1 / |t'_1|`` (PRoM Eq. 2, 6).

    The same subtraction as :func:`posebook.geometry.rotations.gram_schmidt` performs, so it is the
    number the network's r_GS actually divides by (``|dr'_2/dt'_1|`` grows like ``1/|r''_2|``).

    Args:
        t1, t2: (..., 3) the first two raw columns.
    Returns:
        (...).
    """
    q1 = t1 / torch.linalg.vector_norm(t1, dim=-1, keepdim=True)
    r2 = t2 - (q1 * t2).sum(-1, keepdim=True) * q1
    return torch.linalg.vector_norm(r2, dim=-1)


def svd_negative_det_gap(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The gap ``s_2 - s_3`` of each matrix and whether ``det(M) < 0`` (PRoM Sec. 3.4.2).

    For det(M) < 0 this gap is the smallest denominator ``|s'_i + s'_j|`` of the proper g_SVD gradient
    (``posebook.analysis.gradients.svd_denominators(M).min_sum``); for det(M) > 0 it is harmless
    (the denominators are then sums of singular values).

    Args:
        matrix: (..., 3, 3) raw 9D outputs.
    Returns:
        gap (...), negative (...) bool.
    """
    s = torch.linalg.svdvals(matrix)  # descending
    return s[..., 1] - s[..., 2], torch.linalg.det(matrix) < 0


def member_grad_norms(params: Iterable[torch.nn.Parameter]) -> torch.Tensor:
    """Per member, the Euclidean norm of its gradient over all parameters (each (M, ...), member axis
    first; a parameter without a gradient counts 0).

    Returns:
        (M,) float64 (inf / NaN where a member's gradient is not finite).
    """
    total: Optional[torch.Tensor] = None
    for p in params:
        if p.grad is None:
            continue
        sq = p.grad.detach().reshape(p.grad.shape[0], -1).double().pow(2).sum(1)
        total = sq if total is None else total + sq
    if total is None:
        raise ValueError("no parameter has a gradient: call member_grad_norms after backward()")
    return total.sqrt()


def masked_min(values: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Per member, the minimum of the finite ``values`` where ``keep`` (inf where there is none).

    Args:
        values: (M, ...) per-sample numbers; keep: (M, ...) bool, broadcastable to ``values``.
    Returns:
        (M,) float64.
    """
    keep = keep.expand_as(values) & torch.isfinite(values)
    inf = torch.full_like(values, math.inf)
    return torch.where(keep, values, inf).reshape(values.shape[0], -1).amin(1).double()


class BlowupRecorder:
    """Running diagnostics of M members, fed once per optimisation step.

    Per member: the largest gradient norm and its (1-based) step, the number of loss spikes (a
    step whose loss exceeds ``spike_factor`` times the median of the member's previous ``window``
    losses, once at least ``min_window`` are known), the largest such loss ratio, and the minimum of
    each named quantity passed to :meth:`minimum` (or maximum, :meth:`maximum`). A member is recorded up to its first non-finite
    loss or gradient norm (its divergence step), not after: the training loop freezes it there.

    Args:
        members: M.
        window, spike_factor, min_window: the spike rule.
        log_every: also keep the largest gradient norm of every ``log_every`` steps (a curve).
        device: of the (M,) statistics.
    """

    def __init__(self, members: int, *, window: int = 50, spike_factor: float = 10.0, min_window: int = 10,
                 log_every: int = 0, device: torch.device | str | None = None) -> None:
        if members < 1 or window < 1 or not 1 <= min_window <= window or not spike_factor > 1:
            raise ValueError(f"need members >= 1, 1 <= min_window <= window and spike_factor > 1; got "
                             f"{members}, {min_window}, {window}, {spike_factor}")
        kw = dict(dtype=torch.float64, device=device)
        self.members, self.window, self.spike_factor, self.min_window = members, window, spike_factor, min_window
        self.log_every = int(log_every)
        self.alive = torch.ones(members, dtype=torch.bool, device=device)
        self.max_grad_norm = torch.full((members,), math.nan, **kw)
        self.max_grad_step = torch.zeros(members, dtype=torch.long, device=device)
        self.spikes = torch.zeros(members, dtype=torch.long, device=device)
        self.max_loss_ratio = torch.full((members,), math.nan, **kw)
        self._losses = torch.full((window, members), math.nan, **kw)  # ring buffer of past losses
        self._seen = torch.zeros(members, dtype=torch.long, device=device)
        self._window_max = torch.full((members,), math.nan, **kw)
        self.grad_curve: list[tuple[int, torch.Tensor]] = []
        self._stats: dict[str, torch.Tensor] = {}
        self.steps = 0

    def step(self, step: int, losses: torch.Tensor, grad_norms: torch.Tensor) -> None:
        """Record optimisation step ``step`` (0-based): ``losses`` (M,) and ``grad_norms`` (M,)."""
        losses = losses.detach().double()
        grad_norms = grad_norms.double()
        ok = self.alive & torch.isfinite(losses) & torch.isfinite(grad_norms)
        # NaN start: the comparison is False, so the first finite norm is taken
        larger = ok & ~(grad_norms <= self.max_grad_norm)
        self.max_grad_norm = torch.where(larger, grad_norms, self.max_grad_norm)
        self.max_grad_step = torch.where(larger, torch.full_like(self.max_grad_step, step + 1), self.max_grad_step)
        self._window_max = torch.where(ok, torch.fmax(self._window_max, grad_norms), self._window_max)
        median = torch.nanmedian(self._losses, dim=0).values
        ratio = losses / median
        judged = ok & (self._seen >= self.min_window)
        self.spikes += (judged & (ratio > self.spike_factor)).long()
        self.max_loss_ratio = torch.where(judged, torch.fmax(self.max_loss_ratio, ratio), self.max_loss_ratio)
        slot = self._losses[step % self.window]
        self._losses[step % self.window] = torch.where(ok, losses, slot)
        self._seen += ok.long()
        self.alive &= ok
        self.steps = step + 1
        if self.log_every > 0 and (step + 1) % self.log_every == 0:
            self.grad_curve.append((step + 1, self._window_max.clone()))
            self._window_max.fill_(math.nan)

    def minimum(self, name: str, values: torch.Tensor, members: torch.Tensor) -> None:
        """Fold per-member minima into statistic ``name``.

        Args:
            values: (len(members),) this step's minimum per member listed (inf: nothing to record).
            members: (len(members),) long indices of the members they belong to; only those still
                alive are updated.
        """
        self._fold(name, values, members, torch.fmin, math.inf)

    def maximum(self, name: str, values: torch.Tensor, members: torch.Tensor) -> None:
        """Fold per-member maxima into statistic ``name`` (as :meth:`minimum`; -inf: nothing)."""
        self._fold(name, values, members, torch.fmax, -math.inf)

    def _fold(self, name: str, values: torch.Tensor, members: torch.Tensor, op, start: float) -> None:
        current = self._stats.setdefault(name, torch.full((self.members,), start, dtype=torch.float64,
                                                          device=self.alive.device))
        members = members.to(current.device)
        keep = self.alive.index_select(0, members)
        old = current.index_select(0, members)
        current.index_copy_(0, members, torch.where(keep, op(old, values.to(old)), old))

    def stat(self, name: str) -> torch.Tensor:
        """(M,) on the CPU: the recorded minimum / maximum ``name``; NaN for a member with nothing
        recorded (never listed, or every value it was given was +-inf), or an unknown name."""
        value = self._stats.get(name)
        if value is None:
            return torch.full((self.members,), math.nan, dtype=torch.float64)
        return torch.where(torch.isinf(value), torch.full_like(value, math.nan), value).cpu()
