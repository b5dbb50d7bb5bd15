"""posebook.diffusion.inference.InferencePrior: the same noise prediction as the PosePrior it snapshots
(exactly in float32, to bf16 rounding in bf16), blocked rows, the zedo loop unchanged, bad options."""

from __future__ import annotations

import shutil

import pytest
import torch

from posebook.diffusion.inference import InferencePrior
from posebook.diffusion.prior import PosePrior
from posebook.diffusion.score_net import ScoreNet, ScoreNetConfig
from posebook.diffusion.sde import SubVPSDE
from posebook.optim.zedo import ZeDOConfig, zedo

SMALL = ScoreNetConfig(hidden=64, embed_dim=32, groups=8)


def _net(device="cpu") -> ScoreNet:
    torch.manual_seed(0)
    return ScoreNet(SMALL).to(device).eval()


def _poses(n: int, device="cpu") -> torch.Tensor:
    return torch.randn(n, 17, 3, generator=torch.Generator().manual_seed(1)).mul(0.3).to(device)


@pytest.mark.parametrize("block_rows", [None, 7, 64, 1000])
def test_float32_snapshot_equals_the_prior_in_equal_padded_blocks(block_rows, device):
    net = _net(device)
    x = _poses(150, device)  # 150 rows: 22 blocks of 7 (4 padding rows), 3 of 50, one of 150
    reference = PosePrior(net, SubVPSDE()).eps(x, 0.05)
    fast = InferencePrior(net, SubVPSDE(), block_rows=block_rows)
    out = fast.eps(x, 0.05)
    assert out.shape == x.shape and out.dtype == x.dtype
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-6)
    # one time per row takes the snapshot's own forward: the same function
    torch.testing.assert_close(fast.eps(x, torch.full((150,), 0.05, device=device)), reference, rtol=1e-5, atol=1e-6)


def test_bfloat16_snapshot_rounds_but_leaves_the_source_network_in_float32(device):
    net = _net(device)
    x = _poses(300, device)
    reference = PosePrior(net, SubVPSDE()).eps(x, 0.3)
    fast = InferencePrior(net, SubVPSDE(), dtype=torch.bfloat16)
    out = fast.eps(x, 0.3)
    assert out.dtype == torch.float32
    assert net.out.weight.dtype == torch.float32 and fast.net is net  # zedo reads dtype/device from .net
    assert all(p.requires_grad for p in net.parameters())  # the snapshot is frozen, not the source
    error = (out - reference).abs().max() / reference.abs().max()
    assert 0 < error < 0.05  # bf16 has 8 significant bits: rounded, yet close
    # the same as autocast to within bf16 rounding (autocast keeps the norms in float32)
    autocast = PosePrior(net, SubVPSDE(), autocast=torch.bfloat16).eps(x, 0.3)
    assert (out - autocast).abs().max() / reference.abs().max() < 0.05


def test_the_snapshot_is_taken_at_construction():
    net = _net()
    fast = InferencePrior(net, SubVPSDE())
    x = _poses(10)
    before = fast.eps(x, 0.1)
    with torch.no_grad():
        net.out.bias.add_(1.0)  # later training of the source network
    torch.testing.assert_close(fast.eps(x, 0.1), before)
    assert not torch.allclose(PosePrior(net, SubVPSDE()).eps(x, 0.1), before)


def test_zedo_with_a_float32_snapshot_gives_the_same_poses():
    net = _net()
    x = _poses(6)
    kp = x[..., :2] / (x[..., 2:] + 5.0) * 1000 + 500  # a camera 5 m away, f = 1000 px
    K = torch.tensor([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]]).expand(6, 3, 3)
    init = _poses(3) - _poses(3)[:, :1]
    config = ZeDOConfig(iterations=20, warmup=5, ipo_steps=10)
    plain = zedo(PosePrior(net, SubVPSDE()), kp, K, init, config=config)
    fast = zedo(InferencePrior(net, SubVPSDE(), block_rows=5), kp, K, init, config=config)
    torch.testing.assert_close(fast.hypotheses, plain.hypotheses, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast.translations, plain.translations, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(autocast=torch.bfloat16), "casts its network once"),
    (dict(dtype=torch.int32), "floating dtype"),
    (dict(block_rows=0), "block_rows must be a positive int"),
    (dict(method="ddim"), "does not apply to a subvp prior"),
])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InferencePrior(_net(), SubVPSDE(), **kwargs)


def test_wrong_joint_count_is_refused():
    with pytest.raises(ValueError, match=r"expects poses \(B, 17, 3\)"):
        InferencePrior(_net(), SubVPSDE()).eps(torch.zeros(4, 16, 3), 0.1)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                    reason="torch.compile on the CPU needs a C++ compiler")
@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
def test_compiled_snapshot_equals_the_eager_one(dtype):
    net = _net()
    x = _poses(40)
    eager = InferencePrior(net, SubVPSDE(), dtype=dtype, block_rows=16).eps(x, 0.05)
    compiled = InferencePrior(net, SubVPSDE(), dtype=dtype, block_rows=16, compile=True)
    scale = eager.abs().max()
    tolerance = 1e-5 if dtype is None else 0.02  # Inductor fuses the norm: bf16 rounds at other places
    assert (compiled.eps(x, 0.05) - eager).abs().max() / scale < tolerance
    assert (compiled.eps(x[:35], 0.05) - eager[:35]).abs().max() / scale < tolerance  # a second shape


def test_a_failed_compile_says_what_to_do(monkeypatch):
    fast = InferencePrior(_net(), SubVPSDE(), compile=True)

    def broken(block, e):  # what Inductor raises without a C++ compiler, reduced to its first line
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")

    monkeypatch.setattr(fast, "_trunk", broken)
    with pytest.raises(RuntimeError, match=r"torch.compile of the prior's network failed on cpu .*compile=False"):
        fast.eps(_poses(4), 0.1)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="PyTorch built without oneDNN")
@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
@pytest.mark.parametrize("hidden", [64, 128])
def test_onednn_trunk_equals_scorenets(dtype, hidden):
    # 8 groups of 8 or 16 channels: both paths of ScoreNet's GroupNorm (matmul, layer norm)
    torch.manual_seed(0)
    net = ScoreNet(ScoreNetConfig(hidden=hidden, embed_dim=32, groups=8, blocks=2)).eval()
    x = _poses(150)
    reference = InferencePrior(net, SubVPSDE(), dtype=dtype, block_rows=64).eps(x, 0.2)
    onednn = InferencePrior(net, SubVPSDE(), dtype=dtype, block_rows=64, onednn=True).eps(x, 0.2)
    tolerance = 1e-5 if dtype is None else 0.02
    assert (onednn - reference).abs().max() / reference.abs().max() < tolerance


@pytest.mark.slow
@pytest.mark.skipif(not torch.backends.mkldnn.is_available() or (shutil.which("c++") is None and shutil.which("g++") is None),
                    reason="needs oneDNN and, for torch.compile on the CPU, a C++ compiler")
def test_onednn_with_compiled_norms_equals_scorenets():
    torch.manual_seed(0)
    net = ScoreNet(ScoreNetConfig(hidden=128, embed_dim=32, groups=8, blocks=2)).eval()
    x = _poses(40)
    reference = PosePrior(net, SubVPSDE()).eps(x, 0.2)
    fast = InferencePrior(net, SubVPSDE(), onednn=True, compile=True, block_rows=16).eps(x, 0.2)
    assert (fast - reference).abs().max() / reference.abs().max() < 1e-5
