"""posebook.diffusion: ZeDO Eq. 1-3, the score network, the denoising steps, prior training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from posebook.body.skeletons import H36M17_PARENTS, H36M17_SYMMETRY
from posebook.diffusion.prior import PosePrior
from posebook.diffusion.score_net import OFFICIAL, ScoreNet, ScoreNetConfig, official_size_parameters, timestep_embedding
from posebook.diffusion.sde import SubVPSDE, VPSDE, make_sde
from posebook.diffusion.training import PriorTraining, augment, dsm_loss, flip_poses, train_prior

TINY = ScoreNetConfig(hidden=32, embed_dim=16, groups=8)


def _bones(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., list(H36M17_PARENTS[1:]), :]).norm(dim=-1)


# ------------------------------------------------------------------------------------ SDEs


@pytest.mark.parametrize("t", [1e-4, 0.01, 0.1, 0.5, 1.0])
def test_subvp_marginal_is_zedo_eq_1(t):
    """mean = x0 exp(-B/2), std = 1 - exp(-B), B = int beta (numpy, written out)."""
    B = 0.1 * t + 0.5 * (20.0 - 0.1) * t**2
    x0 = torch.randn(4, 17, 3, dtype=torch.float64)
    mean, std = SubVPSDE().marginal_prob(x0, torch.tensor(t, dtype=torch.float64))
    assert torch.allclose(mean, x0 * math.exp(-B / 2))
    assert float(std) == pytest.approx(1 - math.exp(-B), rel=1e-12)
    _, std_vp = VPSDE().marginal_prob(x0, torch.tensor(t, dtype=torch.float64))
    assert float(std_vp) == pytest.approx(math.sqrt(1 - math.exp(-B)), rel=1e-12)


@pytest.mark.parametrize("sde", [SubVPSDE(), VPSDE()], ids=["subvp", "vp"])
def test_marginal_variance_solves_the_sdes_moment_equation(sde):
    """For dx = f dt + g dw with f = -beta x / 2, Var' = -beta Var + g^2. The marginal of data with
    variance s^2 has Var = m^2 s^2 + std^2: its finite-difference derivative must match."""
    s2 = 0.09
    t = torch.linspace(0.02, 0.98, 49, dtype=torch.float64)
    h = 1e-6

    def var(tt):
        m = torch.exp(-0.5 * sde.integral(tt))
        return m**2 * s2 + sde.std(tt) ** 2

    d_var = (var(t + h) - var(t - h)) / (2 * h)
    rhs = -sde.beta(t) * var(t) + sde.diffusion_sq(t)
    assert torch.allclose(d_var, rhs, rtol=1e-6, atol=1e-8)


def test_sde_validation():
    with pytest.raises(ValueError, match="beta_min < beta_max"):
        SubVPSDE(beta_min=1.0, beta_max=0.5)
    with pytest.raises(ValueError, match="'subvp'"):
        make_sde("ve")
    with pytest.raises(ValueError, match="T must lie"):
        VPSDE(T=0.0)


# ------------------------------------------------------------------------------ the network


def test_official_size_has_the_official_parameter_count():
    assert official_size_parameters() == 7_203_379


def test_timestep_embedding_formula():
    t = torch.tensor([0.0, 3.0, 999.0])
    e = timestep_embedding(t, 8)
    w = 10000.0 ** (-np.arange(4) / 3)
    expected = np.concatenate([np.sin(t.numpy()[:, None] * w), np.cos(t.numpy()[:, None] * w)], axis=1)
    assert np.allclose(e.numpy(), expected, atol=1e-5)


def test_shared_time_path_equals_per_row():
    torch.manual_seed(0)
    net = ScoreNet(TINY).eval()
    x = torch.randn(6, 17, 3)
    with torch.no_grad():
        shared = net(x, 0.3)
        per_row = net(x, torch.full((6,), 0.3))
        forced = net(x, 0.3, share_time=False)
    assert torch.allclose(shared, per_row) and torch.allclose(shared, forced, atol=1e-5)
    assert shared.shape == (6, 17, 3)


def test_network_refuses_wrong_shapes():
    net = ScoreNet(TINY)
    with pytest.raises(ValueError, match=r"\(B, 17, 3\)"):
        net(torch.zeros(2, 16, 3), 0.1)
    with pytest.raises(ValueError, match="one time per pose"):
        net(torch.zeros(4, 17, 3), torch.rand(3))
    with pytest.raises(ValueError, match="multiple of groups"):
        ScoreNetConfig(hidden=30, groups=8)


# ---------------------------------------------------------------------------- loss, augmentation


def test_dsm_loss_eq_2_equals_eq_3():
    """lambda ||s + (x - mu) / sigma^2||^2 with lambda = sigma^2 equals ||sigma s + z||^2 = ||eps - z||^2."""
    torch.manual_seed(1)
    net, sde = ScoreNet(TINY).eval(), SubVPSDE()  # eval: no dropout, both forms see one network
    x0 = torch.randn(8, 17, 3) * 0.3
    t, z = torch.rand(8) * 0.9 + 0.05, torch.randn(8, 17, 3)
    mean, std = sde.marginal_prob(x0, t)
    prior = PosePrior(net, sde)
    xt = mean + std * z
    eq2 = (std**2 * (prior.score(xt, t) + (xt - mean) / std**2) ** 2).flatten(1).mean(1)
    assert torch.allclose(dsm_loss(net, sde, x0, t, z), eq2, rtol=1e-4, atol=1e-6)


def test_flip_is_an_involution_that_swaps_sides_and_keeps_bones():
    x = torch.randn(5, 17, 3)
    f = flip_poses(x)
    assert torch.allclose(flip_poses(f), x)
    left, right = H36M17_SYMMETRY
    assert torch.allclose(f[:, list(left), 1:], x[:, list(right), 1:]) and torch.allclose(f[:, list(left), 0], -x[:, list(right), 0])
    assert torch.allclose(_bones(f).sort(-1).values, _bones(x).sort(-1).values, atol=1e-6)


def test_augmentation_keeps_bone_lengths_and_is_seeded():
    x = torch.randn(64, 17, 3)
    x = x - x[:, :1]
    a = augment(x, torch.Generator().manual_seed(3))
    b = augment(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.allclose(_bones(a).sort(-1).values, _bones(x).sort(-1).values, atol=1e-5)
    assert not torch.allclose(a, x)


def test_schedule():
    cos = PriorTraining(steps=100, warmup=10, lr=1.0)
    assert cos.lr_at(0) == pytest.approx(0.1) and cos.lr_at(9) == pytest.approx(1.0)
    assert cos.lr_at(99) < 1e-3
    const = PriorTraining(steps=100, warmup=10, lr=1.0, schedule="constant")
    assert const.lr_at(99) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="schedule"):
        PriorTraining(schedule="linear")


# ------------------------------------------------------------------------------ the steps


class _ExactGaussian(ScoreNet):
    """The exact noise prediction for data x0 ~ N(0, s^2 I): eps = std x / (m^2 s^2 + std^2)."""

    def __init__(self, sde, s: float) -> None:
        super().__init__(TINY)
        self.sde, self.s = sde, s

    def forward(self, x, t, share_time=True):
        t = torch.as_tensor(t, dtype=x.dtype)
        m, sd = torch.exp(-0.5 * self.sde.integral(t)), self.sde.std(t)
        return sd * x / (m**2 * self.s**2 + sd**2)


@pytest.mark.parametrize("kind,method", [("subvp", "reverse_sde"), ("subvp", "ode"), ("vp", "ddim"), ("vp", "ddpm"),
                                         ("vp", "reverse_sde")])
def test_sampling_with_the_exact_score_recovers_the_data_distribution(kind, method):
    """With the exact score of Gaussian data, every step method samples that Gaussian: the step
    formulas (reverse SDE, probability-flow ODE, DDIM, DDPM) are right independently of training."""
    sde = make_sde(kind)
    prior = PosePrior(_ExactGaussian(sde, 0.3), sde, method=method)
    x = prior.sample(3000, steps=400, generator=torch.Generator().manual_seed(0))
    assert float(x.std()) == pytest.approx(0.3, rel=0.03)
    assert abs(float(x.mean())) < 0.01


def test_step_refuses_wrong_method_and_direction():
    prior = PosePrior(ScoreNet(TINY), SubVPSDE())
    with pytest.raises(ValueError, match="does not apply to a subvp prior"):
        prior.step(torch.zeros(1, 17, 3), 0.1, -0.01, method="ddim")
    with pytest.raises(ValueError, match="dt < 0"):
        prior.step(torch.zeros(1, 17, 3), 0.1, 0.01)


# ------------------------------------------------------------------------------- training


def _poses(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(17, 3, generator=g) * 0.3
    x = base + 0.03 * torch.randn(n, 17, 3, generator=g)
    return x - x[:, :1]


def test_training_lowers_the_held_out_loss_and_is_deterministic():
    poses = _poses(256)
    cfg = PriorTraining(steps=60, batch=64, lr=3e-3, warmup=5, eval_every=20, schedule="constant", rotate=False)
    a = train_prior(poses, net=TINY, training=cfg, seed=0)
    b = train_prior(poses, net=TINY, training=cfg, seed=0)
    curve = a.history["valid_dsm"].to_numpy()
    assert curve[-1] < curve[0]
    assert np.array_equal(curve, b.history["valid_dsm"].to_numpy())
    assert a.prior.method == "reverse_sde" and not a.prior.net.training


def test_training_refuses_bad_poses():
    with pytest.raises(ValueError, match=r"\(N, 17, 3\)"):
        train_prior(torch.zeros(10, 16, 3), net=TINY)
    bad = _poses(8)
    bad[3, 2, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        train_prior(bad, net=TINY)


@pytest.mark.parametrize("channels", [64, 128, 256, 512, 1024])  # 2, 4, 8, 16, 32 channels per group
def test_group_norm_equals_torchs_on_both_paths(channels):
    from posebook.diffusion.score_net import _group_norm

    torch.manual_seed(0)
    norm = torch.nn.GroupNorm(32, channels, dtype=torch.float64)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    z = (3.0 * torch.randn(7, channels, dtype=torch.float64) + 1.0).requires_grad_()
    torch.testing.assert_close(_group_norm(z, norm), norm(z), rtol=1e-10, atol=1e-10)
    grad_ours, = torch.autograd.grad(_group_norm(z, norm).sin().sum(), z)
    grad_torch, = torch.autograd.grad(norm(z).sin().sum(), z)
    torch.testing.assert_close(grad_ours, grad_torch, rtol=1e-9, atol=1e-10)
