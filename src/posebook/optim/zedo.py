"""ZeDO: zero-shot 3D pose estimation by alternating ray projection and diffusion denoising
(ZeDO Algorithm 1, Sec. 3.2-3.3), batched over poses x hypotheses.

For each test pose (2D keypoints ``p`` (J, 2), intrinsics K, confidences C) and each of S initial
poses:

1. initial pose optimisation (Sec. 3.2, :func:`posebook.optim.pose_init.fit_initial_pose`):
   ``R_0, T_0 = argmin ||K(R_0 P_init + T_0) - p||``, ``P_0 = R_0 P_init``;
2. for i = 0..n-1, with ``t(i)`` walking the truncated range (0.01, 0.1] (Sec. 3.3):
   ``T_i = T_0`` during the warm-up, else the closed-form ``argmin ||C (K(P_i + T_i) - p)||``
   (Eq. 6, supp. C; :func:`posebook.geometry.rays.closed_form_translation`);
   ``P~_i = ((P_i + T_i) . r) r - T_i`` (Eq. 4, :func:`posebook.geometry.rays.project_to_rays`);
   ``P_{i+1} = theta_g(P~_i, t(i))``: ONE denoising step of the prior (Eq. 5,
   :meth:`posebook.diffusion.prior.PosePrior.step`).

All B x S hypotheses are one (B S, J, 3) tensor: one network call per iteration, no Python loop
over poses or hypotheses (the official code loops over hypotheses). Where the paper is silent or
the official code differs, :class:`ZeDOConfig` names both (see its attributes and book/errata.md):
the step size (``dt = -1/N`` per iteration in the code, while t moves by 9e-5), the confidence
weighting (C in the paper, C^2 in the code), the initial fit's loss and joints (L2 on all joints in
the paper, L1 on pelvis and hips in the code) and the time schedule (deterministic linspace in the
code; the paper says "uniformly sampled").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Literal, Optional, Sequence

import torch

from posebook.diffusion.prior import PosePrior
from posebook.geometry.rays import TranslationSolver, keypoint_rays, project_to_rays, reprojection_error
from posebook.optim.pose_init import fit_initial_pose
from posebook.runs import cpu_threads

__all__ = ["ZeDOConfig", "ZeDOResult", "OFFICIAL_H36M", "zedo", "time_schedule", "loop_threads"]

#: below this many multiply-adds per dense layer and iteration, the CPU loop runs on one thread:
#: its many small ops gain nothing from intra-op threads and lose a lot to waiting on a busy CPU
#: (measured here under load: 85 ms vs 2 ms per iteration for 32 poses, hidden 128)
SMALL_LAYER_MACS = 1 << 27


@dataclass(frozen=True)
class ZeDOConfig:
    """ZeDO's settings (defaults: the paper's Sec. 4.2 where it says, the official code otherwise).

    Attributes:
        iterations: n, optimisation iterations (1000). warmup: iterations with T fixed to the initial
            fit's T_0 (200; 0 switches warm-up off: Table 4's "WU").
        t_max, t_min: the truncated time range (0.1 -> 0.01).
        schedule: "linspace" (the code: ``t_i = linspace(t_max, t_min, n)[i]``) or "uniform" (the
            paper's wording "uniformly sampled from (0, 0.1]": t drawn per iteration, then sorted
            decreasing so the loop still denoises from coarse to fine).
        step: "official" (``dt = -1/N`` each iteration, N = the SDE's 1000) or "schedule"
            (``dt = t_{i+1} - t_i``: the step the schedule itself takes).
        method: the prior's step method (None: the prior's default, e.g. "reverse_sde").
        weighting: confidence weighting of the closed-form T: "paper" (C) or "official" (C^2).
        rotate: Table 4's "RO": fit the initial rotation (False: only the initial translation).
        ipo_axes: rotation axes of the initial fit, camera frame ("z": the optical axis, the paper
            and the code; "y": the camera's vertical axis, the person's heading).
        ipo_joints: joints of the initial fit's reprojection loss (None: all, the paper; (0, 1, 4):
            pelvis and hips, the official H36M config).
        ipo_loss: "l2" (paper Eq. 1) or "l1" (the code).
        ipo_depth, ipo_scale: T_0 = s * ipo_depth * (unit pelvis ray), s clamped to ipo_scale
            (the code's IPO_T = 3 m and [0.5, 2] for H36M; 8 m and [0.2, 2] for 3DPW).
        ipo_steps, ipo_lr: Adam steps and learning rate of the initial fit (500, 0.1: supp. B).
        ipo_clamp: how the scale bound is kept: "projected" (the parameter is clamped after each
            step: the paper's constraint T_min <= T_0 <= T_max) or "official" (clamped in the forward
            pass only: a scale Adam pushes past the bound gets no gradient and stays there).
    """

    iterations: int = 1000
    warmup: int = 200
    t_max: float = 0.1
    t_min: float = 0.01
    schedule: Literal["linspace", "uniform"] = "linspace"
    step: Literal["official", "schedule"] = "official"
    method: Optional[str] = None
    weighting: Literal["paper", "official"] = "paper"
    rotate: bool = True
    ipo_axes: str = "z"
    ipo_joints: Optional[tuple[int, ...]] = None
    ipo_loss: Literal["l2", "l1"] = "l2"
    ipo_depth: float = 3.0
    ipo_scale: tuple[float, float] = (0.5, 2.0)
    ipo_steps: int = 500
    ipo_lr: float = 0.1
    ipo_clamp: Literal["projected", "official"] = "projected"

    def __post_init__(self) -> None:
        if not (isinstance(self.iterations, int) and self.iterations >= 1):
            raise ValueError(f"iterations must be a positive int, got {self.iterations!r}")
        if not (isinstance(self.warmup, int) and 0 <= self.warmup <= self.iterations):
            raise ValueError(f"warmup must be an int in [0, iterations = {self.iterations}], got {self.warmup!r}")
        if not 0 < self.t_min <= self.t_max <= 1:
            raise ValueError(f"need 0 < t_min <= t_max <= 1, got t_min={self.t_min}, t_max={self.t_max}")
        for name, allowed in (("schedule", ("linspace", "uniform")), ("step", ("official", "schedule")),
                              ("weighting", ("paper", "official")), ("ipo_loss", ("l2", "l1")),
                              ("ipo_clamp", ("projected", "official"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"ZeDOConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.ipo_joints is not None:
            object.__setattr__(self, "ipo_joints", tuple(int(j) for j in self.ipo_joints))

    def scaled(self, iterations: int) -> "ZeDOConfig":
        """The same settings with ``iterations`` iterations and the warm-up kept at the same fraction."""
        return replace(self, iterations=iterations, warmup=round(self.warmup * iterations / self.iterations))


#: the official code's H36M settings (``configs/optim/concat_pose_optimization_h36m.py``, opt_main.py)
OFFICIAL_H36M = ZeDOConfig(weighting="official", ipo_joints=(0, 1, 4), ipo_loss="l1", ipo_clamp="official")


@dataclass
class ZeDOResult:
    """ZeDO's output for B poses x S hypotheses.

    Attributes:
        hypotheses: (B, S, J, 3) root-relative poses P_n (not re-centred: the prior's output).
        translations: (B, S, 3) the closed-form T of each final pose (Eq. 6).
        reprojection: (B, S) mean pixel error of ``P_n + T``.
        initial: (B, S, J, 3) the initial fit's rotated poses P_0; initial_translations (B, S, 3).
        snapshots: {iteration: (B, S, J, 3)} poses after those iterations (``record_at``).
        seconds: wall time of the initial fit ("init") and of the loop ("loop").
    """

    hypotheses: torch.Tensor
    translations: torch.Tensor
    reprojection: torch.Tensor
    initial: torch.Tensor
    initial_translations: torch.Tensor
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def single(self) -> torch.Tensor:
        """(B, J, 3) the single-hypothesis output: hypothesis 0 (with S = 1, the only one)."""
        return self.hypotheses[:, 0]

    def best_by_reprojection(self) -> torch.Tensor:
        """(B, J, 3) per pose, the hypothesis with the smallest 2D error (needs no ground truth)."""
        idx = self.reprojection.nan_to_num(float("inf")).argmin(dim=1)
        return self.hypotheses[torch.arange(len(idx), device=idx.device), idx]


def _sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so ``seconds`` times the work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loop_threads(device: torch.device, rows: int, hidden: int) -> Optional[int]:
    """1 for a small loop on the CPU (:data:`SMALL_LAYER_MACS`), else None (torch's setting)."""
    return 1 if torch.device(device).type == "cpu" and rows * hidden * hidden < SMALL_LAYER_MACS else None


def time_schedule(config: ZeDOConfig, generator: Optional[torch.Generator] = None) -> list[float]:
    """The n times ``t(i)`` of the loop (decreasing)."""
    n = config.iterations
    if config.schedule == "linspace":
        return torch.linspace(config.t_max, config.t_min, n, dtype=torch.float64).tolist()
    t = config.t_min + (config.t_max - config.t_min) * torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.sort(t, descending=True).values.tolist()


def _check_inputs(prior: PosePrior, keypoints_2d: torch.Tensor, K: torch.Tensor, init: torch.Tensor,
                  confidence: Optional[torch.Tensor]) -> None:
    J = prior.num_joints
    if keypoints_2d.dim() != 3 or keypoints_2d.shape[1:] != (J, 2):
        raise ValueError(f"keypoints_2d must be (B, {J}, 2) for this prior ({J} joints), got {tuple(keypoints_2d.shape)}")
    B = keypoints_2d.shape[0]
    if K.shape != (B, 3, 3):
        raise ValueError(f"K must be (B, 3, 3) = ({B}, 3, 3), got {tuple(K.shape)}")
    if init.dim() not in (3, 4) or init.shape[-2:] != (J, 3) or (init.dim() == 4 and init.shape[0] != B):
        raise ValueError(f"init must be (S, {J}, 3) (shared by every pose) or ({B}, S, {J}, 3), got {tuple(init.shape)}")
    bad = ~torch.isfinite(keypoints_2d).all(-1)
    if bad.any():
        b, j = (int(v) for v in bad.nonzero()[0])
        raise ValueError(f"keypoints_2d holds NaN or inf (first at pose {b}, joint {j}); drop the pose, or give "
                         "the joint any finite position and confidence 0")
    if not torch.isfinite(init).all():
        raise ValueError("init (the initial poses) holds NaN or inf values")
    if confidence is not None:
        if confidence.shape != (B, J):
            raise ValueError(f"confidence must be (B, J) = ({B}, {J}), got {tuple(confidence.shape)}")
        if not torch.isfinite(confidence).all() or (confidence < 0).any():
            b, j = (int(v) for v in (~torch.isfinite(confidence) | (confidence < 0)).nonzero()[0])
            raise ValueError(f"confidence must be finite and >= 0; pose {b}, joint {j} has {float(confidence[b, j])}")
        few = (confidence > 0).sum(1) < 2
        if few.any():
            raise ValueError(f"pose {int(few.nonzero()[0])} has fewer than 2 joints with confidence > 0: its "
                             "translation (Eq. 6) is undetermined; drop it")


def zedo(prior: PosePrior, keypoints_2d: torch.Tensor, K: torch.Tensor, init: torch.Tensor, *,
         confidence: Optional[torch.Tensor] = None, config: ZeDOConfig = ZeDOConfig(),
         record_at: Sequence[int] = (), generator: Optional[torch.Generator] = None) -> ZeDOResult:
    """Run ZeDO (Algorithm 1) on B poses with S hypotheses each, as one batch of B S.

    Args:
        prior: the trained :class:`~posebook.diffusion.prior.PosePrior` (J joints).
        keypoints_2d: (B, J, 2) pixels; K: (B, 3, 3); confidence: (B, J) in [0, 1] or None (all 1).
        init: (S, J, 3) initial poses shared by every test pose (k-means centres, random training
            poses or prior samples: Table 7) or (B, S, J, 3) per pose (e.g. a lifter's output: Table 8);
            root-relative, metres, camera frame.
        config: :class:`ZeDOConfig`.
        record_at: iterations after which to keep the poses (Fig. 5 from one run: ``snapshots``).
        generator: for the "uniform" schedule and stochastic step methods.
    Returns:
        :class:`ZeDOResult`.
    Raises:
        ValueError: wrong joint counts or shapes, NaN / inf 2D keypoints, negative confidences, a
            pose with fewer than two confident joints.
    """
    _check_inputs(prior, keypoints_2d, K, init, confidence)
    method = prior.check_method(config.method or prior.method)
    B, J = keypoints_2d.shape[:2]
    dtype = prior.net.out.weight.dtype
    device = prior.net.out.weight.device
    kp = keypoints_2d.to(device, dtype)
    K = K.to(device, dtype)
    conf = None if confidence is None else confidence.to(device, dtype)
    S = init.shape[-3]
    start = init.to(device, dtype).expand(B, S, J, 3) if init.dim() == 3 else init.to(device, dtype)

    def flat(x: torch.Tensor) -> torch.Tensor:  # (B, ...) -> (B S, ...): each pose's row repeated S times
        return x.unsqueeze(1).expand(B, S, *x.shape[1:]).reshape(B * S, *x.shape[1:])

    kp_f, K_f = flat(kp), flat(K)
    conf_f = None if conf is None else flat(conf)
    with cpu_threads(loop_threads(device, B * S, prior.net.config.hidden)):
        return _run(prior, config, method, start.reshape(B * S, J, 3), kp_f, K_f, conf_f, B, S, record_at, generator)


def _run(prior: PosePrior, config: ZeDOConfig, method: str, start: torch.Tensor, kp_f: torch.Tensor,
         K_f: torch.Tensor, conf_f: Optional[torch.Tensor], B: int, S: int, record_at: Sequence[int],
         generator: Optional[torch.Generator]) -> ZeDOResult:
    J = start.shape[1]
    seconds = {}
    _sync(start.device)
    tic = time.perf_counter()
    fitted = fit_initial_pose(start, kp_f, K_f, axes=config.ipo_axes if config.rotate else "",
                              joints=config.ipo_joints, loss=config.ipo_loss, depth=config.ipo_depth,
                              scale_bounds=config.ipo_scale, steps=config.ipo_steps, lr=config.ipo_lr,
                              clamp=config.ipo_clamp)
    _sync(start.device)
    seconds["init"] = time.perf_counter() - tic
    x, T = fitted.poses.detach(), fitted.translation.detach()
    P0, T0 = x.clone(), T.clone()
    rays = keypoint_rays(kp_f, K_f, normalise="unit")
    times = time_schedule(config, generator)
    wanted = set(int(i) for i in record_at)
    snapshots: dict[int, torch.Tensor] = {}
    was_training = prior.net.training
    prior.net.eval()
    _sync(start.device)
    tic = time.perf_counter()
    with torch.inference_mode():
        # closed_form_translation(x, kp_f, K_f, conf_f, ...) with its pose-independent parts (rays,
        # weights, the normal matrix and its LU factors) computed once; the inputs were checked above.
        translation = TranslationSolver(kp_f, K_f, conf_f, weighting=config.weighting, check=False)
        for i, t in enumerate(times):
            if i >= config.warmup:
                T = translation(x)
            x_tilde = project_to_rays(x + T[:, None, :], rays, check=False) - T[:, None, :]
            dt = -1.0 / prior.sde.N if config.step == "official" else (
                (times[i + 1] if i + 1 < len(times) else 0.0) - t)
            if dt >= 0:  # a repeated time ("uniform" draws can tie): no step
                x = x_tilde
            else:
                x = prior.step(x_tilde, t, dt, method=method, generator=generator)
            if i + 1 in wanted:
                snapshots[i + 1] = x.reshape(B, S, J, 3).clone()
        T = translation(x)
        err = reprojection_error(x + T[:, None, :], kp_f, K_f)
    _sync(start.device)
    seconds["loop"] = time.perf_counter() - tic
    prior.net.train(was_training)
    return ZeDOResult(
        hypotheses=x.reshape(B, S, J, 3), translations=T.reshape(B, S, 3), reprojection=err.reshape(B, S),
        initial=P0.reshape(B, S, J, 3), initial_translations=T0.reshape(B, S, 3), snapshots=snapshots,
        seconds=seconds)
