"""Training ZeDO's pose prior by denoising score matching (ZeDO Sec. 3.1, Eq. 2-3; Sec. 4.2).

The loss (Eq. 3, with ``lambda(t) = sigma(t)^2``): ``E_t E_z ||sigma(t) s(x(t), t) + z||^2`` with
``x(t) = mean(t) x0 + sigma(t) z``. With the epsilon-parameterised network ``s = -eps / sigma`` it is
``||eps(x(t), t) - z||^2``, mean-reduced over coordinates as the official ``losses.py`` (L56-104);
t ~ U(1e-5, 1] (score_sde's ``eps``).

Schedule and augmentation. The paper (Sec. 4.2) says Adam 2e-4, warm-up over the first 5k
iterations, cosine decay, flip and rotation augmentation. The official code has the same Adam and
warm-up, NO decay (``lr_scheduler.step()`` commented out), gradient clipping at 1.0, an EMA of 0.9999
that inference never applies, and, with ``--rotflip``, a flip with p = 0.5 and a uniformly random
SO(3) rotation with p = 0.5 (``lib/dataset/h36m.py`` L162-181). :class:`PriorTraining` holds every
one of these as an option; its defaults are the paper's where it says something.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Literal, Optional, Sequence

import pandas as pd
import roma
import torch

from posebook.body.skeletons import H36M17_SYMMETRY
from posebook.diffusion.prior import PosePrior
from posebook.diffusion.score_net import ScoreNet, ScoreNetConfig
from posebook.diffusion.sde import SubVPSDE, VPSDE, make_sde
from posebook.runs import cpu_threads

#: a CPU training step with fewer multiply-adds per dense layer runs on one thread (small ops gain
#: nothing from intra-op threads and lose a lot to waiting on a busy CPU)
_SMALL_LAYER_MACS = 1 << 27

__all__ = ["PriorTraining", "TrainedPrior", "dsm_loss", "flip_poses", "augment", "train_prior"]


@dataclass(frozen=True)
class PriorTraining:
    """How a prior is trained (defaults: ZeDO Sec. 4.2 where it says; the official code otherwise).

    Attributes:
        steps, batch: Adam steps and poses per step (the official batch is 50,000 or 5,000).
        lr: peak learning rate (2e-4). warmup: linear warm-up steps (5,000 in both).
        schedule: "cosine" (the paper: decay to 0 after the warm-up) or "constant" (the code).
        grad_clip: gradient-norm clip (1.0, the code; 0 = off).
        ema: EMA decay kept beside the raw weights (0.9999); ``use_ema`` picks the weights the
            returned prior samples with (False: the official code's raw weights).
        flip, rotate: augmentation with p = 0.5 each (Table 4's "RA" is ``rotate``): a mirror
            (x -> -x with left/right joints swapped) and a uniformly random SO(3) rotation.
        t_eps: smallest training time (score_sde's 1e-5).
        eval_every: held-out DSM loss every this many steps (the learning curve; 0: at the end).
    """

    steps: int = 2000
    batch: int = 1024
    lr: float = 2e-4
    warmup: int = 5000
    schedule: Literal["cosine", "constant"] = "cosine"
    grad_clip: float = 1.0
    ema: float = 0.9999
    use_ema: bool = False
    flip: bool = True
    rotate: bool = True
    t_eps: float = 1e-5
    eval_every: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ValueError(f"PriorTraining.{name} must be a positive int, got {getattr(self, name)!r}")
        if not (isinstance(self.warmup, int) and self.warmup >= 0 and isinstance(self.eval_every, int)
                and self.eval_every >= 0):
            raise ValueError("PriorTraining.warmup and eval_every must be ints >= 0")
        if not self.lr > 0 or not 0 <= self.ema < 1 or not self.grad_clip >= 0 or not 0 < self.t_eps < 1:
            raise ValueError("PriorTraining needs lr > 0, ema in [0, 1), grad_clip >= 0, t_eps in (0, 1)")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be 'cosine' (paper) or 'constant' (official code), got {self.schedule!r}")

    def lr_at(self, step: int) -> float:
        """The learning rate of step ``step`` (0-based): linear warm-up, then constant or cosine."""
        warm = min(1.0, (step + 1) / self.warmup) if self.warmup else 1.0
        if self.schedule == "constant" or step < self.warmup:
            return self.lr * warm
        progress = (step - self.warmup) / max(1, self.steps - self.warmup)
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@dataclass
class TrainedPrior:
    """A trained prior and its record.

    Attributes:
        prior: the :class:`PosePrior` with the weights ``training.use_ema`` picks.
        ema_state: the EMA weights (state dict), raw_state: the raw ones.
        history: one row per evaluation: ``step``, ``lr``, ``train_loss`` (mean over the window),
            ``valid_dsm`` (held-out DSM loss with fixed t and z draws: a smooth learning curve).
        training: the :class:`PriorTraining`.
    """

    prior: PosePrior
    ema_state: dict
    raw_state: dict
    history: pd.DataFrame
    training: PriorTraining


def dsm_loss(net: ScoreNet, sde: SubVPSDE | VPSDE, x0: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """ZeDO Eq. 3 per pose: ``mean_coords (sigma(t) s(x(t), t) + z)^2 = mean_coords (z - eps)^2``.

    Args:
        x0: (B, J, 3) clean poses; t: (B,) times in (0, 1]; z: (B, J, 3) standard normal draws.
    Returns:
        (B,) losses.
    """
    mean, std = sde.marginal_prob(x0, t)
    eps = net(mean + std * z, t)
    return (eps - z).square().flatten(1).mean(1)


def flip_poses(x: torch.Tensor, symmetry: tuple[Sequence[int], Sequence[int]] = H36M17_SYMMETRY) -> torch.Tensor:
    """The mirror image of camera-frame poses (..., J, 3): x -> -x and left/right joints swapped."""
    perm = list(range(x.shape[-2]))
    for a, b in zip(*symmetry):
        perm[a], perm[b] = b, a
    out = x[..., perm, :].clone()
    out[..., 0] = -out[..., 0]
    return out


def augment(x0: torch.Tensor, generator: torch.Generator, *, flip: bool = True, rotate: bool = True) -> torch.Tensor:
    """The official ``--rotflip`` augmentation of a batch (B, J, 3): each pose is mirrored with
    p = 0.5 and, independently, rotated about the pelvis by a uniformly random rotation with p = 0.5."""
    B = x0.shape[0]
    out = x0
    if flip:
        pick = (torch.rand(B, generator=generator) < 0.5).to(x0.device)
        out = torch.where(pick[:, None, None], flip_poses(out), out)
    if rotate:
        pick = (torch.rand(B, generator=generator) < 0.5).to(x0.device)
        q = torch.randn(B, 4, generator=generator, dtype=torch.float64)  # uniform on SO(3) (Haar)
        R = roma.unitquat_to_rotmat(q / q.norm(dim=-1, keepdim=True)).to(x0.device, x0.dtype)
        out = torch.where(pick[:, None, None], out @ R.transpose(-1, -2), out)
    return out


def train_prior(poses: torch.Tensor, *, sde: Literal["subvp", "vp"] = "subvp", net: ScoreNetConfig = ScoreNetConfig(),
                training: PriorTraining = PriorTraining(), seed: int = 0, valid: Optional[torch.Tensor] = None,
                method: Optional[str] = None, device: torch.device | str = "cpu",
                progress: bool = False) -> TrainedPrior:
    """Train a pose prior on root-relative poses (N, J, 3) (metres, camera frame).

    Batches are drawn with replacement from a CPU generator seeded with ``seed`` (so a seed gives the
    same batches, t and z on every device); the network is initialised under ``torch.manual_seed``
    of the same seed. ``valid`` (M, J, 3) held-out poses give the ``valid_dsm`` learning curve (the
    training poses' first 512 when None).

    Returns:
        :class:`TrainedPrior`.
    """
    if poses.dim() != 3 or poses.shape[-1] != 3 or poses.shape[1] != net.num_joints:
        raise ValueError(f"poses must be (N, {net.num_joints}, 3), got {tuple(poses.shape)}")
    if not torch.isfinite(poses).all():
        raise ValueError("poses hold NaN or inf values")
    device = torch.device(device)
    # Dropout draws from the global generators: fork them and seed with ``seed``, so a seed gives
    # the same run (initial weights, dropout masks) every time, without touching the caller's state.
    small = device.type == "cpu" and training.batch * net.hidden * net.hidden < _SMALL_LAYER_MACS
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), cpu_threads(1 if small else None):
        torch.manual_seed(seed)
        return _train(poses, sde, net, training, seed, valid, method, device, progress)


def _train(poses: torch.Tensor, sde: str, net: ScoreNetConfig, training: PriorTraining, seed: int,
           valid: Optional[torch.Tensor], method: Optional[str], device: torch.device, progress: bool) -> TrainedPrior:
    sde_obj = make_sde(sde)
    model = ScoreNet(net).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.Adam(model.parameters(), lr=training.lr, betas=(0.9, 0.999), eps=1e-8)
    g = torch.Generator().manual_seed(seed)
    data = poses.to(device, torch.float32)
    valid = (data[:512] if valid is None else valid.to(device, torch.float32))
    gv = torch.Generator().manual_seed(10**6 + seed)  # fixed held-out draws: the curve is not noisy
    valid_t = (torch.rand(len(valid), generator=gv) * (1 - training.t_eps) + training.t_eps).to(device)
    valid_z = torch.randn(valid.shape, generator=gv).to(device)

    rows, window = [], []
    every = training.eval_every or training.steps

    def evaluate(step: int) -> None:
        model.eval()
        with torch.no_grad():
            v = float(dsm_loss(model, sde_obj, valid, valid_t, valid_z).mean())
        model.train()
        train_loss = float(torch.stack(window).mean()) if window else float("nan")
        rows.append({"step": step, "lr": training.lr_at(step - 1), "train_loss": train_loss, "valid_dsm": v})
        window.clear()

    iterator = range(training.steps)
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(iterator, desc=f"prior ({sde}, seed {seed})")
    model.train()
    for step in iterator:
        for group in optimizer.param_groups:
            group["lr"] = training.lr_at(step)
        idx = torch.randint(len(data), (training.batch,), generator=g).to(device)
        x0 = augment(data[idx], g, flip=training.flip, rotate=training.rotate)
        t = (torch.rand(training.batch, generator=g) * (1 - training.t_eps) + training.t_eps).to(device)
        z = torch.randn(x0.shape, generator=g).to(device)
        loss = dsm_loss(model, sde_obj, x0, t, z).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if training.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), training.grad_clip)
        optimizer.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1.0 - training.ema)
        window.append(loss.detach())  # no device sync per step
        if (step + 1) % every == 0 or step + 1 == training.steps:
            evaluate(step + 1)
    model.eval()
    ema.eval()
    chosen = ema if training.use_ema else model
    prior = PosePrior(chosen, sde_obj, method=method or ("reverse_sde" if sde == "subvp" else "ddim"))
    return TrainedPrior(prior, copy.deepcopy(ema.state_dict()), copy.deepcopy(model.state_dict()),
                        pd.DataFrame(rows), training)
