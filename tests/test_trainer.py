"""The image models' training loop: exact resume after an interruption, NaN recorded, schedule, settings."""

from __future__ import annotations

import pytest
import torch

from posebook.optim.trainer import TrainSettings, learning_rate, train_model

X = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))
Y = X @ torch.randn(5, 2, generator=torch.Generator().manual_seed(1))


def _model() -> torch.nn.Module:
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Dropout(0.2), torch.nn.Linear(16, 2))


def _loss(model, index):
    err = model(X[index]) - Y[index]
    return {"loss": err.square().mean(), "abs": err.abs().mean()}


class Interrupt(Exception):
    pass


def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path):
    settings = TrainSettings(steps=40, batch=8, lr=1e-2, milestones=(0.5,), log_every=5, checkpoint_every=10)
    straight = _model()
    full = train_model(straight, _loss, len(X), settings, seed=7)

    calls = {"n": 0}

    def flaky(model, index):
        calls["n"] += 1
        if calls["n"] == 26:  # in step 25: the last checkpoint is at 20
            raise Interrupt
        return _loss(model, index)

    ckpt = tmp_path / "run.pt"
    with pytest.raises(Interrupt):
        train_model(_model(), flaky, len(X), settings, seed=7, checkpoint=ckpt)
    assert ckpt.exists()
    resumed_model = _model()
    resumed = train_model(resumed_model, _loss, len(X), settings, seed=7, checkpoint=ckpt)
    assert resumed.resumed_from == 20 and full.resumed_from is None
    for a, b in zip(straight.state_dict().values(), resumed_model.state_dict().values()):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert resumed.history["step"].tolist() == full.history["step"].tolist()
    torch.testing.assert_close(torch.tensor(resumed.history["train_loss"].to_numpy()),
                               torch.tensor(full.history["train_loss"].to_numpy()))


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    ckpt = tmp_path / "run.pt"
    train_model(_model(), _loss, len(X), TrainSettings(steps=10, batch=8, lr=1e-2), seed=0, checkpoint=ckpt)
    other = train_model(_model(), _loss, len(X), TrainSettings(steps=12, batch=8, lr=1e-2), seed=0, checkpoint=ckpt)
    assert other.resumed_from is None and other.steps_done == 12


def test_a_damaged_checkpoint_warns_and_trains_from_scratch(tmp_path):
    ckpt = tmp_path / "run.pt"
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="is damaged"):
        result = train_model(_model(), _loss, len(X), TrainSettings(steps=5, batch=8, lr=1e-2), seed=0, checkpoint=ckpt)
    assert result.resumed_from is None and result.steps_done == 5


def test_nan_is_recorded_and_the_last_finite_weights_kept():
    model = _model()
    seen = {"n": 0, "state": None}

    def loss(m, index):
        seen["n"] += 1
        if seen["n"] == 7:
            seen["state"] = {k: v.clone() for k, v in m.state_dict().items()}
            return {"loss": m(X[index]).sum() * float("nan")}
        return _loss(m, index)

    result = train_model(model, loss, len(X), TrainSettings(steps=20, batch=8, lr=1e-2, log_every=2), seed=0)
    assert result.diverged_step == 6 and result.steps_done == 6
    assert result.history["train_loss"].isna().iloc[-1]
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, seen["state"][k], atol=0, rtol=0)


def test_runs_are_functions_of_their_seed_and_leave_global_state_alone():
    state = torch.get_rng_state()
    a, b, c = _model(), _model(), _model()
    torch.set_rng_state(state)
    s = TrainSettings(steps=10, batch=8, lr=1e-2)
    train_model(a, _loss, len(X), s, seed=1)
    train_model(b, _loss, len(X), s, seed=1)
    train_model(c, _loss, len(X), s, seed=2)
    assert torch.equal(a[0].weight, b[0].weight) and not torch.equal(a[0].weight, c[0].weight)


def test_learning_rate_steps_and_settings_validation():
    s = TrainSettings(steps=100, batch=1, lr=1e-3, milestones=(0.5, 0.75))
    assert [learning_rate(s, k) for k in (0, 49, 50, 74, 75, 99)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])
    for bad, message in ((dict(steps=0), "steps and batch"), (dict(lr=0.0), "lr must be"),
                         (dict(milestones=(1.5,)), "milestones"), (dict(grad_clip=0.0), "grad_clip")):
        with pytest.raises(ValueError, match=message):
            TrainSettings(**{"steps": 10, "batch": 2, "lr": 1e-3, **bad})
    with pytest.raises(ValueError, match="no training samples"):
        train_model(_model(), _loss, 0, TrainSettings(steps=1, batch=1, lr=1e-3), seed=0)
