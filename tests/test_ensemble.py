"""The ensemble machinery: stacked members (posebook.models.ensemble), the one training loop
(posebook.optim.ensemble.fit, checked against torch.optim.Adam) and the thread cap (posebook.runs)."""

from __future__ import annotations

import math

import pytest
import torch

from posebook.models.ensemble import (
    EnsembleLinear,
    leaky_mlp,
    member_generators,
    member_view,
    nonfinite_members,
    per_member_mse,
    zero_nonfinite_members,
)
from posebook.optim.ensemble import EnsembleAdam, FitResult, fit
from posebook.runs import cpu_threads

F64 = torch.float64


# ------------------------------------------------------------------------------- members


def test_ensemble_linear_is_m_independent_linear_layers():
    layer = EnsembleLinear(member_generators([3, 4, 5]), 6, 2, dtype=F64)
    x = torch.randn(3, 7, 6, generator=torch.Generator().manual_seed(0), dtype=F64)
    out = layer(x)
    assert out.shape == (3, 7, 2)
    bound = 1 / math.sqrt(6)
    assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    for m in range(3):
        ref = torch.nn.Linear(6, 2, dtype=F64)
        with torch.no_grad():
            ref.weight.copy_(layer.weight[m].T)
            ref.bias.copy_(layer.bias[m])
        torch.testing.assert_close(out[m], ref(x[m]), atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match=r"expects \(M=3, \.\.\., 6\)"):
        layer(torch.zeros(2, 7, 6, dtype=F64))
    with pytest.raises(ValueError, match="at least one member"):
        EnsembleLinear([], 6, 2)


def test_member_initialisation_depends_only_on_its_seed():
    alone = EnsembleLinear(member_generators([7]), 5, 4)
    mixed = EnsembleLinear(member_generators([1, 7, 7]), 5, 4)
    for m in (1, 2):
        assert torch.equal(mixed.weight[m], alone.weight[0]) and torch.equal(mixed.bias[m], alone.bias[0])
    assert not torch.equal(mixed.weight[0], alone.weight[0])


def test_member_helpers_by_hand():
    x = torch.tensor([[1.0, 2.0], [math.nan, 0.0], [math.inf, 1.0]])
    assert nonfinite_members(x).tolist() == [False, True, True]
    safe, bad = zero_nonfinite_members(x)
    assert bad.tolist() == [False, True, True]
    assert safe.tolist() == [[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]]
    assert member_view(torch.tensor([1.0, 2.0, 3.0]), torch.zeros(3, 4, 5)).shape == (3, 1, 1)
    a, b = torch.tensor([[1.0, 3.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    assert per_member_mse(a, b).tolist() == [5.0, 2.0]  # (1 + 9) / 2, (4 + 0) / 2
    layers = [EnsembleLinear(member_generators([0, 1]), 3, 4, dtype=F64),
              EnsembleLinear(member_generators([0, 1]), 4, 2, dtype=F64)]
    h = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(2), dtype=F64)
    expected = layers[1](torch.nn.functional.leaky_relu(layers[0](h)))  # no activation after the last
    torch.testing.assert_close(leaky_mlp(layers, h), expected, atol=0, rtol=0)


# ------------------------------------------------------------------------------ training loop


def _regression(members: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    W0 = torch.randn(members, 4, 2, generator=gen, dtype=F64)
    b0 = torch.randn(members, 2, generator=gen, dtype=F64)
    x = torch.randn(members, 16, 4, generator=gen, dtype=F64)
    y = torch.randn(members, 16, 2, generator=gen, dtype=F64)
    return W0, b0, x, y


def test_fit_per_member_adam_equals_torch_adam_per_model():
    """Each member of the stack follows torch.optim.Adam on its own model, with its own lr."""
    lrs = [1e-3, 1e-2, 5e-2]
    W0, b0, x, y = _regression(3)
    W, b = torch.nn.Parameter(W0.clone()), torch.nn.Parameter(b0.clone())

    def loss_fn(step):
        return ((torch.baddbmm(b[:, None], x, W) - y) ** 2).mean(dim=(1, 2)) * (1 + step % 3)

    result = fit([W, b], loss_fn, steps=25, lr=torch.tensor(lrs, dtype=F64))
    assert isinstance(result, FitResult) and result.diverged == [False] * 3
    for m, lr in enumerate(lrs):
        Wm, bm = torch.nn.Parameter(W0[m].clone()), torch.nn.Parameter(b0[m].clone())
        opt = torch.optim.Adam([Wm, bm], lr=lr)
        for step in range(25):
            opt.zero_grad()
            (((x[m] @ Wm + bm - y[m]) ** 2).mean() * (1 + step % 3)).backward()
            opt.step()
        torch.testing.assert_close(W[m], Wm, atol=1e-12, rtol=0)
        torch.testing.assert_close(b[m], bm, atol=1e-12, rtol=0)


def test_fit_lr_milestones_equal_torch_multistep():
    W0, _, x, y = _regression(2, seed=3)
    W = torch.nn.Parameter(W0.clone())
    fit([W], lambda step: ((x @ W - y) ** 2).mean(dim=(1, 2)), steps=12, lr=0.05, lr_milestones=[5, 9])
    for m in range(2):
        Wm = torch.nn.Parameter(W0[m].clone())
        opt = torch.optim.Adam([Wm], lr=0.05)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[5, 9], gamma=0.1)
        for _ in range(12):
            opt.zero_grad()
            ((x[m] @ Wm - y[m]) ** 2).mean().backward()
            opt.step()
            sched.step()
        torch.testing.assert_close(W[m], Wm, atol=1e-12, rtol=0)


def test_ensemble_adam_rejects_parameters_without_a_shared_member_axis():
    with pytest.raises(ValueError, match="no parameters"):
        EnsembleAdam([], lr=1e-3)
    with pytest.raises(ValueError, match="member axis first"):
        EnsembleAdam([torch.nn.Parameter(torch.zeros(3, 2)), torch.nn.Parameter(torch.zeros(2))], lr=1e-3)


def _train_three(steps: int, poison_from: int | None):
    W0, _, x, y = _regression(3, seed=1)
    W = torch.nn.Parameter(W0.clone())

    def loss_fn(step):
        loss = ((x @ W - y) ** 2).mean(dim=(1, 2))
        if poison_from is not None and step >= poison_from:
            loss = loss * torch.tensor([1.0, math.nan, 1.0], dtype=F64)
        return loss

    def eval_fn():
        return {"err": ((x @ W - y) ** 2).mean(dim=(1, 2))}

    return W, fit([W], loss_fn, steps=steps, lr=1e-2, eval_fn=eval_fn, eval_every=5)


def test_fit_records_a_nan_member_and_the_others_are_untouched():
    clean_w, clean = _train_three(20, None)
    early_w, _ = _train_three(5, None)
    poisoned_w, poisoned = _train_three(20, poison_from=5)  # member 1's loss is NaN from step index 5
    assert clean.diverged_step == [None, None, None]
    assert poisoned.diverged_step == [None, 6, None]  # the 6th optimisation step was the bad one
    assert poisoned.diverged == [False, True, False]
    for m in (0, 2):  # members never interact: bitwise the same as without the NaN
        assert torch.equal(poisoned_w[m], clean_w[m])
    assert torch.equal(poisoned_w[1], early_w[1])  # frozen at its last finite weights
    assert math.isnan(float(poisoned.final["err"][1])) and not math.isnan(float(poisoned.final["err"][0]))
    hist = poisoned.history
    assert list(hist.columns) == ["step", "member", "train_loss", "err"]
    assert sorted(set(hist["step"])) == [0, 5, 10, 15, 20]
    late = hist[(hist["member"] == 1) & (hist["step"] >= 10)]
    assert late["err"].isna().all() and late["train_loss"].isna().all()
    assert hist[(hist["member"] == 1) & (hist["step"] == 5)]["err"].notna().all()
    # the training error falls for the clean members: the loop trains
    err = clean.history.pivot(index="step", columns="member", values="err")
    assert (err.loc[20] < err.loc[0]).all()


def test_fit_catches_nonfinite_gradients_behind_a_finite_loss():
    w = torch.nn.Parameter(torch.ones(2, 3, dtype=F64))

    def loss_fn(step):
        # d/dw sqrt(w - w) = inf * 0 = NaN, while the value is 0: only the gradient is bad.
        return torch.stack([(w[0] ** 2).sum(), torch.sqrt(w[1] - w[1]).sum()])

    out = fit([w], loss_fn, steps=4, lr=0.1)
    assert out.diverged_step == [None, 1]
    assert torch.equal(w[1].detach(), torch.ones(3, dtype=F64))
    assert torch.isfinite(w).all() and (w[0] < 1).all()


def test_fit_marks_members_whose_metrics_turn_nonfinite():
    w = torch.nn.Parameter(torch.zeros(3, 2, dtype=F64))
    calls = []

    def eval_fn():
        calls.append(1)
        value = torch.zeros(3, dtype=F64)
        if len(calls) >= 3:
            value[2] = math.inf
        return {"metric": value}

    out = fit([w], lambda step: (w - 1).square().sum(dim=1), steps=8, lr=0.1, eval_fn=eval_fn, eval_every=4)
    assert out.diverged_step == [None, None, 8]
    assert math.isnan(float(out.final["metric"][2]))
    with pytest.raises(ValueError, match=r"per-member losses"):
        fit([w], lambda step: (w - 1).square().sum(), steps=1, lr=0.1)


# ---------------------------------------------------------------------------------- threads


def test_cpu_threads_restores_the_setting():
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with cpu_threads(None):  # None leaves the setting alone
        assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"), cpu_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before  # restored after an exception too


def test_cpu_threads_as_a_decorator():
    before = torch.get_num_threads()

    @cpu_threads(1)
    def inside() -> int:
        return torch.get_num_threads()

    assert inside() == 1 and inside() == 1  # reusable: a fresh context per call
    assert torch.get_num_threads() == before


def test_fit_monitor_sees_every_step_with_gradients_before_the_update():
    w = torch.nn.Parameter(torch.tensor([[1.0], [2.0]]))  # two members
    seen = []

    def monitor(step, losses):
        seen.append((step, losses.clone(), w.grad.clone(), w.detach().clone()))

    fit([w], lambda step: (w ** 2).sum(-1), steps=3, lr=0.1, monitor=monitor)
    assert [s for s, *_ in seen] == [0, 1, 2]
    step0 = seen[0]
    assert torch.equal(step0[1], torch.tensor([1.0, 4.0]))  # the step's per-member losses
    assert torch.equal(step0[2], 2 * step0[3])  # d(w^2)/dw at the weights before the update
    assert not torch.equal(seen[1][3], step0[3])  # the update happened after the monitor
