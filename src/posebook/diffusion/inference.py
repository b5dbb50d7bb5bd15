"""A pose prior prepared for inference: the network cast once to a lower precision, optionally compiled.

ZeDO's loop calls the network a thousand times per run at one time ``t`` shared by the batch
(Algorithm 1), with weights that never change. :class:`InferencePrior` takes a snapshot of a trained
:class:`~posebook.diffusion.prior.PosePrior`'s network for that loop:

- ``dtype`` (e.g. ``torch.bfloat16``): the snapshot's weights are cast ONCE and the network runs in
  that dtype; the poses are cast on the way in and the noise prediction back to the caller's dtype,
  so everything outside the network (translation, ray projection, the SDE step) stays in float32.
  ``torch.autocast`` (:attr:`PosePrior.autocast`) does the same arithmetic in its matmuls but casts
  the weights at every call and runs the norms in float32 between two casts: on the official size
  (hidden 1024) on a 2-core Zen 5 CPU the cast-once network is ~12% faster. Matmuls accumulate in
  float32 in either (oneDNN / cuBLAS), and PyTorch's layer-norm kernel computes its statistics
  in float32 for bf16 inputs; what is rounded to bf16 is each layer's output.
- ``compile=True``: the network's trunk goes through ``torch.compile`` (Inductor), which fuses each
  layer's GroupNorm, affine and SiLU into one kernel; eager PyTorch makes a pass over the (rows,
  hidden) activations for each. The first call at a new batch size compiles (~25 s on a CPU).
- ``onednn=True`` (CPU): the dense layers run through oneDNN (PyTorch's ``torch.ops.mkldnn``
  linear, the kernel Inductor uses for packed linears) with the weights packed once, instead of
  PyTorch's default float32 GEMM (MKL's sgemm). On a 2-core Zen 5 CPU MKL's sgemm ran at 171-186
  GFLOP/s on 2048 x 2048 and oneDNN's at 412-435: MKL does not use the full AVX-512 path on AMD
  processors. With ``compile=True`` only the norm + affine + SiLU of each layer is compiled (the
  packed linear is not traceable by Inductor).

Rows are independent, so a batch runs in equal blocks of at most ``block_rows`` rows (the last
padded with zero rows that are dropped again): on the CPU a block's activations stay in cache, and
the compiled graph sees one shape per batch size instead of a new one for the tail block.

Accuracy is not assumed: ``bench/bench_zedo.py --accuracy`` compares MPJPE and PA-MPJPE of fp32
and these modes with a trained prior (the issue's bar: within 0.5 mm). The defaults of the book's
experiments stay float32 and eager: bf16 is faster only on CPUs with native bf16 (avx512_bf16 /
AMX) or a GPU, and is several times slower where it is emulated.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from posebook.diffusion.prior import PosePrior
from posebook.diffusion.score_net import ScoreNet, _group_norm

__all__ = ["InferencePrior"]

#: CPU default of :attr:`InferencePrior.block_rows` (the cache-sized block of ScoreNet's own CPU path).
CPU_BLOCK_ROWS = 1024


@dataclass
class InferencePrior(PosePrior):
    """A :class:`PosePrior` whose network is a frozen snapshot in ``dtype``, optionally on oneDNN and compiled.

    Attributes:
        dtype: the network's dtype (e.g. ``torch.bfloat16``), or None (the source network's).
        compile: run the network's trunk through ``torch.compile``.
        onednn: run the dense layers through oneDNN with weights packed once (CPU only).
        block_rows: rows per block (None: 1024 on the CPU, the whole batch on other devices).

    The snapshot is taken at construction: build it after training. ``net`` stays the source
    network (float32), so code that reads the prior's dtype or device (``posebook.optim.zedo``)
    keeps its float32 state.
    """

    dtype: Optional[torch.dtype] = None
    compile: bool = False
    onednn: bool = False
    block_rows: Optional[int] = None
    _snapshot: ScoreNet = field(init=False, repr=False)
    _trunk: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.autocast is not None:
            raise ValueError("InferencePrior casts its network once (dtype=...); autocast is for PosePrior, "
                             f"got autocast={self.autocast}")
        if self.dtype is not None and not self.dtype.is_floating_point:
            raise ValueError(f"InferencePrior.dtype must be a floating dtype, got {self.dtype}")
        if self.block_rows is not None and not (isinstance(self.block_rows, int) and self.block_rows >= 1):
            raise ValueError(f"InferencePrior.block_rows must be a positive int or None, got {self.block_rows!r}")
        snapshot = copy.deepcopy(self.net).eval().requires_grad_(False)
        self._snapshot = snapshot if self.dtype is None else snapshot.to(self.dtype)
        if self.onednn:
            if self._snapshot.out.weight.device.type != "cpu" or not torch.backends.mkldnn.is_available():
                raise ValueError("InferencePrior(onednn=True) runs oneDNN's CPU kernels: the network is on "
                                 f"{self._snapshot.out.weight.device.type}, oneDNN available: "
                                 f"{torch.backends.mkldnn.is_available()}; use onednn=False")
            self._trunk = _OneDNNTrunk(self._snapshot, self.block_rows or CPU_BLOCK_ROWS, self.compile)
        else:
            # ScoreNet._trunk is the network after the time path: (rows, J*3) and (1, E) -> (rows, J*3).
            trunk = self._snapshot._trunk
            self._trunk = torch.compile(trunk, dynamic=False) if self.compile else trunk

    def eps(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """The snapshot's noise prediction (B, J, 3) at ``t``, in ``x``'s dtype.

        A time shared by the batch (a scalar, ZeDO's loop) takes the blocked, possibly compiled
        path; one time per row takes the snapshot's own forward (eager).
        """
        net = self._snapshot
        dtype = net.out.weight.dtype
        tt = torch.as_tensor(t, device=x.device, dtype=torch.float32).reshape(-1)
        if tt.numel() != 1:
            return net(x.to(dtype), tt).to(x.dtype)
        B, J, C = x.shape
        if J != net.config.num_joints or C != 3:
            raise ValueError(f"the prior expects poses (B, {net.config.num_joints}, 3), got {tuple(x.shape)}")
        with torch.no_grad():
            e = net.embed(tt)  # (1, E): the time path once for the batch
            flat = x.reshape(B, J * 3).to(dtype)
            limit = self.block_rows or (CPU_BLOCK_ROWS if x.device.type == "cpu" else B)
            blocks = math.ceil(B / limit)
            rows = math.ceil(B / blocks)  # equal blocks: one compiled shape per batch size
            if blocks * rows > B:
                flat = F.pad(flat, (0, 0, 0, blocks * rows - B))
            try:
                out = torch.cat([self._trunk(block, e) for block in flat.split(rows)])[:B]
            except Exception as error:
                if not self.compile:
                    raise
                # Inductor's failures (no C++ compiler on the CPU, no Triton on the GPU) surface here,
                # at the first call, as long backend tracebacks: say what was asked and the way out.
                raise RuntimeError(f"torch.compile of the prior's network failed on {x.device.type} "
                                   f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                                   "on a CPU it needs a C++ compiler (g++ or clang++ on PATH, or $CXX); "
                                   "InferencePrior(compile=False) runs the same network uncompiled") from error
        return out.reshape(B, J, 3).to(x.dtype)


def _norm_act(z: torch.Tensor, norm: torch.nn.GroupNorm) -> torch.Tensor:
    """``SiLU(GroupNorm(z))`` on (rows, C): ScoreNet's own norm (``_group_norm``) and activation."""
    return F.silu(_group_norm(z, norm))


class _OneDNNTrunk:
    """ScoreNet's trunk (``h = L_in(x); h = h + L_2(L_1(h))`` per block; ``W_out h``, each layer
    ``SiLU(GN(W h + b + U e))``) with the dense layers as oneDNN linears on weights packed once.
    Its equality with ``ScoreNet._trunk`` is tested (tests/test_inference_prior.py)."""

    def __init__(self, net: ScoreNet, rows_hint: int, compile: bool) -> None:
        layers = [net.inp] + [layer for pair in net.blocks for layer in pair]
        pack = torch.ops.mkldnn._reorder_linear_weight
        self.layers = [(pack(layer.dense.weight, rows_hint), layer.dense.bias, layer.time, layer.norm)
                       for layer in layers]
        self.out = (pack(net.out.weight, rows_hint), net.out.bias)
        self.norm_act = torch.compile(_norm_act, dynamic=False) if compile else _norm_act

    def _dense(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")

    def _layer(self, k: int, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        weight, bias, time, norm = self.layers[k]
        u = (bias + time(e)).reshape(-1)  # the time injection joins the bias: one op per layer
        return self.norm_act(self._dense(x, weight, u), norm)

    def __call__(self, flat: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """(rows, J*3) poses, (1, E) time features -> (rows, J*3) eps."""
        h = self._layer(0, flat, e)
        for k in range(1, len(self.layers), 2):  # a residual block: h + L_2(L_1(h))
            h = h + self._layer(k + 1, self._layer(k, h, e), e)
        return self._dense(h, *self.out)
