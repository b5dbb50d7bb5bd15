"""ZeDO's score network: an MLP on the flattened pose with a sinusoidal time embedding.

The layout is the official ``ScoreModelFC_Adv`` (ZeDO-Release ``lib/algorithms/advanced/model.py``,
from GFPose, with the condition branch removed: ZeDO supp. A, Fig. 7)::

    h = Dropout(SiLU(GN(W_in x + U_in e)))                       x: (B, J*3), e = SiLU(L(emb(t)))
    for each block:  h1 = Dropout(SiLU(GN(W_1 h  + U_1 e)))
                     h2 = Dropout(SiLU(GN(W_2 h1 + U_2 e)));  h = h + h2
    out = W_out h                                                (B, J, 3)

``emb`` is the transformer sinusoidal embedding of ``time_scale * t`` (the configs' ``'positional'``
embedding of ``999 t``, ``utils.py`` L762); GroupNorm has 32 groups; SiLU; dropout 0.25; two
residual blocks. The output is an epsilon-prediction: the score is ``-out / std(t)``
(``utils.py`` L768-776). The official size (hidden 1024, embedding 512, 17 joints) has 7,203,379
parameters (:func:`official_size_parameters` checks it).

Speed. In ZeDO's loop one t is shared by the whole batch, yet the official code embeds t per row
and runs the five time projections ``U_k e`` per row: about 40% of the network's multiply-adds.
:meth:`ScoreNet.forward` computes the time path once when ``t`` is a scalar (or all its values are
one number) and broadcasts it (the time projection then joins the bias of one ``addmm``); with
``t`` per row (training) it is computed per row. GroupNorm on (B, C) rows runs as a layer norm per
group, or for small groups as two matmuls, plus the affine (``_group_norm``, the same function). On the CPU an evaluation batch above
:data:`CPU_CHUNK_ROWS` rows runs in row blocks of that size (the same result: rows are independent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ScoreNetConfig", "ScoreNet", "timestep_embedding", "OFFICIAL", "official_size_parameters"]


@dataclass(frozen=True)
class ScoreNetConfig:
    """Sizes of :class:`ScoreNet` (defaults: the official network)."""

    num_joints: int = 17
    hidden: int = 1024
    embed_dim: int = 512
    blocks: int = 2
    groups: int = 32
    dropout: float = 0.25
    time_scale: float = 999.0

    def __post_init__(self) -> None:
        for name in ("num_joints", "hidden", "embed_dim", "groups"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"ScoreNetConfig.{name} must be a positive int, got {value!r}")
        if not (isinstance(self.blocks, int) and self.blocks >= 0):
            raise ValueError(f"ScoreNetConfig.blocks must be an int >= 0, got {self.blocks!r}")
        if self.hidden % self.groups:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of groups ({self.groups}) for GroupNorm")
        if self.embed_dim % 2:
            raise ValueError(f"embed_dim must be even (sin and cos halves), got {self.embed_dim}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")


OFFICIAL = ScoreNetConfig()

#: On the CPU, evaluation batches above this many rows run through the network in blocks of it.
CPU_CHUNK_ROWS = 1024


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """The sinusoidal embedding of DDPM / score_sde (``get_timestep_embedding``): (B,) -> (B, dim).

    ``[sin(t w_k), cos(t w_k)]`` with ``w_k = max_period^{-k / (dim/2 - 1)}``, k = 0..dim/2-1.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) / (half - 1) * torch.arange(half, device=timesteps.device,
                                                                        dtype=torch.float32))
    args = timesteps.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class _Layer(nn.Module):
    """``Dropout(SiLU(GroupNorm(W h + U e)))``: one dense layer with its time injection."""

    def __init__(self, d_in: int, config: ScoreNetConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, config.hidden)
        self.time = nn.Linear(config.embed_dim, config.hidden)
        self.norm = nn.GroupNorm(config.groups, config.hidden)
        self.act = nn.SiLU()
        self.drop = nn.Dropout(config.dropout)

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        u = self.time(e)  # (B or 1, H)
        if u.shape[0] == 1:  # a shared time: one addmm with the bias W_b + U e, no separate (B, H) add
            z = torch.addmm(self.dense.bias + u, h, self.dense.weight.t())
        else:
            z = self.dense(h) + u
        return self.drop(self.act(_group_norm(z, self.norm)))


#: Groups of at most this many channels are normalised through two small matmuls (:func:`_group_norm`).
MATMUL_NORM_MAX_CHANNELS = 8


def _group_norm(z: torch.Tensor, norm: nn.GroupNorm) -> torch.Tensor:
    """``norm(z)`` for (B, C) inputs: the same function as ``nn.GroupNorm`` (same eps, biased
    variance), faster on the CPU for (B, C) rows, where GroupNorm's kernel expects spatial dims.

    Groups of c > :data:`MATMUL_NORM_MAX_CHANNELS` channels (the official c = 1024 / 32 = 32) run as
    a layer norm over each group (~2x faster than GroupNorm). Small groups (the quick profile's
    c = 128 / 32 = 4) make that a layer norm over rows of 4 numbers, dominated by per-row overhead
    (half of ZeDO's loop at the quick size): there the group means and variances come from two
    (B, C) x (C, G) matmuls with the averaging matrix, ~2x faster. Then the per-channel affine
    (one ``addcmul``)."""
    B, C = z.shape
    G = norm.num_groups
    c = C // G
    if c <= MATMUL_NORM_MAX_CHANNELS:
        average = torch.eye(G, dtype=z.dtype, device=z.device).repeat_interleave(c, 0).div_(c)  # (C, G)
        centred = z.reshape(B, G, c) - (z @ average)[:, :, None]
        variance = centred.reshape(B, C).square() @ average  # (B, G), biased as GroupNorm's
        y = (centred * torch.rsqrt(variance + norm.eps)[:, :, None]).reshape(B, C)
    else:
        y = F.layer_norm(z.reshape(B, G, c), (c,), eps=norm.eps).reshape(B, C)
    out = torch.addcmul(norm.bias, y, norm.weight)
    return out if out.dtype == y.dtype else out.to(y.dtype)  # autocast: the dtype nn.GroupNorm returns


class ScoreNet(nn.Module):
    """The epsilon-predicting pose network (ZeDO supp. A; official ``ScoreModelFC_Adv``).

    ``forward(x (B, J, 3), t (B,) or scalar) -> (B, J, 3)``: the predicted noise ``eps``; the score
    of the prior is ``-eps / std(t)`` (:class:`posebook.diffusion.prior.PosePrior`).
    """

    def __init__(self, config: ScoreNetConfig = OFFICIAL) -> None:
        super().__init__()
        self.config = config
        d = config.num_joints * 3
        self.time_embed = nn.Sequential(nn.Linear(config.embed_dim, config.embed_dim), nn.SiLU())
        self.inp = _Layer(d, config)
        self.blocks = nn.ModuleList(nn.ModuleList([_Layer(config.hidden, config), _Layer(config.hidden, config)])
                                    for _ in range(config.blocks))
        self.out = nn.Linear(config.hidden, d)

    def embed(self, t: torch.Tensor) -> torch.Tensor:
        """(B,) times -> (B, E) shared time features ``SiLU(L(emb(time_scale t)))``."""
        return self.time_embed(timestep_embedding(self.config.time_scale * t, self.config.embed_dim).to(
            self.out.weight.dtype))

    def forward(self, x: torch.Tensor, t: torch.Tensor | float, share_time: bool = True) -> torch.Tensor:
        """``x`` (B, J, 3), ``t`` (B,) or a scalar -> eps (B, J, 3). ``share_time=False`` computes the
        time path per row even when t is shared (the official code's cost; benchmarks compare it)."""
        B, J, C = x.shape
        if J != self.config.num_joints or C != 3:
            raise ValueError(f"ScoreNet expects poses (B, {self.config.num_joints}, 3), got {tuple(x.shape)}")
        t = torch.as_tensor(t, device=x.device, dtype=torch.float32).reshape(-1)
        if t.numel() not in (1, B):
            raise ValueError(f"t must be a scalar or hold one time per pose ({B}), got {t.numel()} values")
        shared = share_time and (t.numel() == 1 or bool((t == t[0]).all()))
        if not shared and t.numel() == 1:
            t = t.expand(B)
        e = self.embed(t[:1] if shared else t)  # (1, E): computed once for the batch, broadcast below
        flat = x.reshape(B, J * 3)
        if x.device.type == "cpu" and B > CPU_CHUNK_ROWS and not self.training:
            # Row blocks: the activations of a block stay in cache, and fresh (B, H) buffers are not
            # page-faulted in for every op (rows are independent; eval only, so dropout draws and
            # training are unchanged).
            es = [e] * math.ceil(B / CPU_CHUNK_ROWS) if shared else e.split(CPU_CHUNK_ROWS)
            out = torch.cat([self._trunk(xc, ec) for xc, ec in zip(flat.split(CPU_CHUNK_ROWS), es)])
        else:
            out = self._trunk(flat, e)
        return out.reshape(B, J, 3)

    def _trunk(self, flat: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """(B, J*3) poses and (B or 1, E) time features -> (B, J*3) eps."""
        h = self.inp(flat, e)
        for first, second in self.blocks:
            h = h + second(first(h, e), e)
        return self.out(h)


def official_size_parameters() -> int:
    """Parameters of the official-size network (7,203,379 in the official code)."""
    return sum(p.numel() for p in ScoreNet(OFFICIAL).parameters())
