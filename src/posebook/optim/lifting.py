"""Training the 2D-to-3D lifter of ZeDO Table 8 (:class:`posebook.models.lifter.Lifter`) on 2D-3D pairs."""

from __future__ import annotations

from typing import Optional

import torch

from posebook import metrics
from posebook.models.lifter import Lifter, lifter_inputs
from posebook.runs import cpu_threads, curve_json

__all__ = ["train_lifter"]

#: a CPU step with fewer multiply-adds per dense layer runs on one thread: small layers gain nothing
#: from intra-op threads and lose a lot waiting for them on a busy CPU (here under load: minutes
#: instead of about a minute for the quick profile's 1,500 steps)
_SMALL_LAYER_MACS = 1 << 27


def train_lifter(keypoints_2d: torch.Tensor, K: torch.Tensor, poses: torch.Tensor, *, steps: int, seed: int = 0,
                 batch: int = 256, lr: float = 1e-3, width: int = 512, device: torch.device | str = "cpu",
                 valid: Optional[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = None,
                 curve_points: int = 8) -> tuple[Lifter, str]:
    """Adam on the mean squared joint error (metres^2), lr divided by 10 at 80% of ``steps``; batches
    drawn with replacement from a CPU generator seeded with ``seed``.

    Args:
        keypoints_2d: (N, J, 2) pixels; K: (N, 3, 3); poses: (N, J, 3) root-relative targets, metres.
        valid: (keypoints, K, poses) for the learning curve (MPJPE, mm, pelvis-centred).
    Returns:
        the trained lifter (eval mode) and its learning curve (:func:`posebook.runs.curve_json`).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = torch.device(device)
    small = device.type == "cpu" and batch * width * width < _SMALL_LAYER_MACS
    with cpu_threads(1 if small else None):
        return _train(keypoints_2d, K, poses, steps, seed, batch, lr, width, device, valid, curve_points)


def _train(keypoints_2d: torch.Tensor, K: torch.Tensor, poses: torch.Tensor, steps: int, seed: int, batch: int,
           lr: float, width: int, device: torch.device,
           valid: Optional[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], curve_points: int) -> tuple[Lifter, str]:
    x = lifter_inputs(keypoints_2d, K).to(device, torch.float32)
    y = poses.to(device, torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Lifter(poses.shape[1], width=width)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(0.8 * steps)], gamma=0.1)
    g = torch.Generator().manual_seed(seed)
    every = max(1, steps // curve_points)
    steps_done, values = [], []
    vx = None if valid is None else lifter_inputs(valid[0], valid[1]).to(device, torch.float32)
    for step in range(steps):
        idx = torch.randint(len(x), (batch,), generator=g).to(device)
        loss = (model(x[idx]) - y[idx]).square().sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if vx is not None and ((step + 1) % every == 0 or step + 1 == steps):
            model.eval()
            with torch.no_grad():
                err = metrics.mpjpe(model(vx).double().cpu(), valid[2].double(), root=0).mean()
            model.train()
            steps_done.append(step + 1)
            values.append(float(err))
    model.eval()
    return model, curve_json(steps_done, values)
