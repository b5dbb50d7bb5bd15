"""PRoM (Learning Unorthogonalized Matrices for Rotation Estimation): Tables 2a, 3b and Fig. 2c/2d.

Two tasks from Zhou et al. (2019), the setups PRoM Sec. 5.2.1 / A.9 reuse:

- **autoencoder** (Table 2a left): a rotation matrix goes through an MLP encoder (Zhou's released
  ``sanity_test``: 9 -> 128 -> 128 -> 128 -> raw, LeakyReLU) whose output is the representation; the
  decoder is the representation's map to a matrix (no weights). Loss L_theta = MSE between the
  training-time matrix and the input. Rotations are drawn "by uniformly sampling axes and angles"
  (PRoM Sec. 5.2.1): axis uniform on the sphere, angle uniform in [0, pi]. That is *not* the uniform
  (Haar) distribution on SO(3), whose angle density is (1 - cos a) / pi: it over-samples small angles
  (mean angle 90 deg instead of 126.5 deg). Zhou's code samples the same distribution (a quaternion
  with a uniform half-angle). ``sampling="haar"`` switches to uniform rotations.
- **pointcloud** (Table 2a right, Eq. 35): a reference cloud P_r and the rotated target
  P_t = R P_r go through one shared PointNet-like per-point MLP with max-pooling (Zhou's
  ``Model_pointnet``: 3 -> 64 -> 128 -> 1024, then 2048 -> 512 -> raw); the network predicts R.
  Loss L_pc = L_theta + L_ele(R_hat P_r, P_t), both MSE (Eq. 35), where R_hat is the matrix the
  representation feeds downstream in training. Instead of ShapeNet airplanes (licensed), the clouds
  are vertices of the open Anny body model (:class:`posebook.body.models.AnnyBody`) with random
  phenotypes and small random joint rotations, centred on their mean.

All runs of one experiment (representations x seeds x learning rates) are trained together as one
batched ensemble (:mod:`posebook.models.training`): members never interact, and member m trains
exactly as it would alone. Runs that blow up are recorded as NaN with the step they diverged at.

Evaluation: the geodesic angle between the inference rotation (PRoM: g_SVD of the 9 outputs) and the
ground truth, in degrees; the tables report mean / max / std over the test set (``std`` with
ddof = 0, as numpy's default in Zhou's test code).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from posebook.experiments.registry import ExperimentResult, experiment
from posebook.geometry.rotations import axis_angle_to_matrix, geodesic_distance, random_rotation
from posebook.models.rotation_heads import outputs, raw_dim
from posebook.models.training import (
    EnsembleLinear,
    FitResult,
    cpu_threads,
    fit,
    member_generators,
    nonfinite_members,
)
from posebook.runs import RunContext

__all__ = [
    "PAPER_TABLE_2A",
    "PAPER_TABLE_3B",
    "LABELS",
    "Member",
    "sample_rotations",
    "body_point_clouds",
    "train_members",
    "summarize",
    "table_2a",
    "table_3b",
    "paired_verdict",
    "autoencoder",
    "pointcloud",
    "lr_sweep",
    "training_curves",
]

#: PRoM Table 2a: (mean, max, std) geodesic error in degrees; "autoencoder" = "rotation recovery"
#: (left), "pointcloud" = "point cloud pose estimation" (right). Paper numbers, never ours.
PAPER_TABLE_2A: dict[str, dict[str, tuple[float, float, float]]] = {
    "autoencoder": {
        "axis_angle": (3.69, 179.22, 5.99),
        "euler": (6.98, 179.95, 17.31),
        "quaternion": (3.32, 179.93, 5.97),
        "6d": (0.49, 1.98, 0.27),
        "prom": (0.37, 1.86, 0.22),
    },
    "pointcloud": {
        "axis_angle": (11.93, 179.7, 21.35),
        "euler": (14.13, 179.67, 23.8),
        "quaternion": (9.03, 179.66, 16.33),
        "6d": (2.85, 179.83, 9.16),
        "prom": (2.13, 179.53, 7.87),
    },
}

#: PRoM Table 3b: PA-MPJPE (mm) on 3DPW of CLIFF-Res50 trained on COCO with each learning rate;
#: NaN = the paper's "-" (training diverged). Not comparable in units with our degrees.
PAPER_TABLE_3B: dict[float, dict[str, float]] = {
    1e-4: {"6d": 58.3, "svd": 56.7, "prom": 54.8},
    2e-4: {"6d": math.nan, "svd": math.nan, "prom": 53.4},
    5e-4: {"6d": math.nan, "svd": math.nan, "prom": 52.6},
    8e-4: {"6d": math.nan, "svd": math.nan, "prom": math.nan},
}

#: Display names.
LABELS = {
    "axis_angle": "Axis-Angle",
    "euler": "Euler",
    "quaternion": "Quat",
    "6d": "6D",
    "svd": "SVD",
    "gs": "GS",
    "prom": "PRoM",
    "6d*": "6D*",
    "prom+": "PRoM+",
}

TABLE_2A_REPRESENTATIONS = ("axis_angle", "euler", "quaternion", "6d", "prom")

# Sizes per task and profile. quick: what fits the book's CPU budget (see bench/bench_prom_tables.py);
# full: Zhou et al.'s released settings (sanity_test/code/train.py: Adam lr 1e-5 -> 1e-6 at 10k
# iterations, batch 64, 500k iterations; shapenet config: lr 1e-5, batch 10, millions of iterations,
# of which we run 500k) and PRoM's test-set sizes (400 held-out shapes x 100 rotations).
_SIZES: dict[str, dict[str, dict]] = {
    "autoencoder": {
        "quick": dict(steps=1500, batch=64, lr=1e-3, decay_at=(2 / 3,), hidden=128, test=4096),
        "full": dict(steps=500_000, batch=64, lr=1e-5, decay_at=(0.02,), hidden=128, test=100_000),
    },
    "pointcloud": {
        "quick": dict(steps=300, batch=16, lr=1e-3, decay_at=(2 / 3,), points=64, widths=(32, 64, 64),
                      head=64, train_bodies=64, test_bodies=8, test_rotations=32),
        "full": dict(steps=500_000, batch=10, lr=1e-5, decay_at=(), points=1024, widths=(64, 128, 1024),
                     head=512, train_bodies=2290, test_bodies=400, test_rotations=100),
    },
}


def _sizes(ctx: RunContext, task: str) -> dict:
    if task not in _SIZES:
        raise ValueError(f"task must be one of {sorted(_SIZES)}, got {task!r}")
    table = _SIZES[task]
    if ctx.profile.name in table:
        return dict(table[ctx.profile.name])
    sizes = dict(table["quick"])  # an unknown profile scales the quick sizes
    sizes["steps"] = ctx.scaled(sizes["steps"])
    return sizes


# ----------------------------------------------------------------------------------------- data


def sample_rotations(
    n: int,
    generator: torch.Generator,
    sampling: str = "axis_angle",
    dtype: Optional[torch.dtype] = None,
    device: Optional[torch.device | str] = None,
) -> torch.Tensor:
    """Random rotations as the PRoM/Zhou experiments draw them.

    ``"axis_angle"`` (PRoM Sec. 5.2.1, "uniformly sampling axes and angles"): axis uniform on the
    unit sphere, angle uniform in [0, pi]. ``"haar"``: uniform on SO(3) (roma).

    Args:
        n: number of rotations.
        generator: a torch.Generator on ``device``.
    Returns:
        (n, 3, 3).
    """
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if sampling == "haar":
        return random_rotation(n, generator=generator, dtype=dtype, device=device)
    if sampling != "axis_angle":
        raise ValueError(f"sampling must be 'axis_angle' or 'haar', got {sampling!r}")
    axis = torch.randn(n, 3, generator=generator, dtype=dtype, device=device)
    axis = axis / torch.linalg.vector_norm(axis, dim=-1, keepdim=True)
    angle = math.pi * torch.rand(n, 1, generator=generator, dtype=dtype, device=device)
    return axis_angle_to_matrix(axis * angle)


def body_point_clouds(
    n_bodies: int,
    points: int,
    generator: torch.Generator,
    pose_sigma_deg: float = 10.0,
    chunk: int = 128,
) -> torch.Tensor:
    """Point clouds sampled from Anny bodies with random shapes and small random poses.

    Phenotypes: gender, muscle, weight, height uniform in [0, 1], age uniform in [0.5, 1]
    (teenager to old adult), proportions uniform in [0, 0.5]. Every non-root joint is rotated by a
    rotation vector ~ N(0, pose_sigma_deg^2 I) (the root stays the identity: the rotation to
    estimate is applied afterwards). Each cloud is ``points`` distinct mesh vertices drawn at random,
    centred on its mean. Computed on the CPU in float32 (Anny's skinning), returned on the CPU.

    Args:
        n_bodies: number of clouds B.
        points: vertices kept per cloud N (<= 13,718).
        generator: CPU generator.
    Returns:
        (B, N, 3) metres, Anny's y-up output frame, zero mean per cloud.
    """
    from posebook.body.models import AnnyBody  # deferred: loads the Anny model (~3 s cached)

    body = AnnyBody()
    if not 0 < points <= body.num_vertices:
        raise ValueError(f"points must be in [1, {body.num_vertices}], got {points}")
    clouds = []
    for start in range(0, n_bodies, chunk):
        b = min(chunk, n_bodies - start)
        u = torch.rand(b, 6, generator=generator)
        shape = torch.stack([u[:, 0], 0.5 + 0.5 * u[:, 1], u[:, 2], u[:, 3], u[:, 4], 0.5 * u[:, 5]], 1)
        rotvec = torch.randn(b, body.num_joints, 3, generator=generator) * math.radians(pose_sigma_deg)
        rotvec[:, 0] = 0.0
        with torch.no_grad():
            vertices = body(axis_angle_to_matrix(rotvec), shape).vertices
        idx = torch.stack([torch.randperm(body.num_vertices, generator=generator)[:points] for _ in range(b)])
        cloud = torch.gather(vertices, 1, idx[..., None].expand(b, points, 3))
        clouds.append(cloud - cloud.mean(dim=1, keepdim=True))
    return torch.cat(clouds)


# -------------------------------------------------------------------------------------- members


@dataclass(frozen=True)
class Member:
    """One training run inside an ensemble.

    ``label`` names the row in the tables ("6D", "6D*", "PRoM+", ...); ``representation`` and the
    two switches go to :func:`posebook.models.rotation_heads.outputs`.
    """

    label: str
    representation: str
    seed: int
    lr: float
    ortho_in_rot_loss: Optional[bool] = None
    ortho_in_downstream: Optional[bool] = None

    @property
    def head_key(self) -> tuple:
        return (self.representation, self.ortho_in_rot_loss, self.ortho_in_downstream)


def _variant(name: str) -> dict:
    """Table row names -> representation and switches. "6d*": 6D without r_GS in training (Fig. 2c)."""
    if name == "6d*":
        return dict(representation="6d", ortho_in_rot_loss=False, ortho_in_downstream=False)
    if name == "prom+":
        return dict(representation="prom")
    raw_dim(name)  # validates the name
    return dict(representation=name)


class _Heads:
    """Applies each member's representation to its slice of the raw outputs (M, ..., 9)."""

    def __init__(self, members: Sequence[Member], device: torch.device) -> None:
        self.groups: list[tuple[tuple, torch.Tensor]] = []
        order: list[int] = []
        for key in dict.fromkeys(m.head_key for m in members):
            idx = [i for i, m in enumerate(members) if m.head_key == key]
            self.groups.append((key, torch.tensor(idx, device=device)))
            order.extend(idx)
        self.inverse = torch.argsort(torch.tensor(order, device=device))

    def __call__(self, raw: torch.Tensor, training: bool) -> tuple[torch.Tensor, ...]:
        """raw (M, ..., 9) -> training: (R_theta, R_downstream); eval: (R, R, R); each (M, ..., 3, 3)."""
        parts: list[tuple[torch.Tensor, ...]] = []
        for (rep, o_theta, o_y), idx in self.groups:
            sub = raw.index_select(0, idx)[..., : raw_dim(rep)]
            parts.append(tuple(outputs(sub, rep, training, o_theta, o_y, with_eval=False)))
        n = 2 if training else 3
        return tuple(torch.cat([p[k] for p in parts]).index_select(0, self.inverse) for k in range(n))


def _leaky_mlp(layers: Sequence[EnsembleLinear], x: torch.Tensor, last_activation: bool = False) -> torch.Tensor:
    for k, layer in enumerate(layers):
        x = layer(x)
        if k < len(layers) - 1 or last_activation:
            x = F.leaky_relu(x)
    return x


def _guard(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero the raw outputs of members holding non-finite numbers (LAPACK's SVD raises on them);
    returns the safe tensor and the (M,) mask of those members, whose losses become NaN."""
    bad = nonfinite_members(raw.detach())
    if bool(bad.any()):
        raw = torch.where(bad.reshape(-1, *([1] * (raw.dim() - 1))), torch.zeros_like(raw), raw)
    return raw, bad


def _per_member_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).square().reshape(a.shape[0], -1).mean(dim=1)


def _geodesic_deg(R: torch.Tensor, R_gt: torch.Tensor) -> torch.Tensor:
    return torch.rad2deg(geodesic_distance(R, R_gt))


def _error_stats(err: torch.Tensor) -> dict[str, torch.Tensor]:
    """err (M, T) degrees -> mean / max / std (ddof 0) / median per member."""
    return {
        "mean_deg": err.mean(dim=1),
        "max_deg": err.amax(dim=1),
        "std_deg": err.std(dim=1, correction=0),
        "median_deg": err.median(dim=1).values,
    }


class _SeedStreams:
    """Per-seed training data drawn in blocks of ``chunk`` steps from per-seed generators on the device.

    ``rotations(step)`` -> (S, B, 3, 3) and ``choices(step)`` -> (S,) ints in [0, n_choices): the
    seed's rotations and (for point clouds) body index at that step. Steps must be consumed in order.
    """

    def __init__(self, seeds: Sequence[int], device: torch.device, offset: int, batch: int, sampling: str,
                 dtype: torch.dtype, n_choices: int = 1, chunk: int = 100) -> None:
        self.seeds = list(dict.fromkeys(seeds))
        self.gens = [torch.Generator(device=device).manual_seed(offset + s) for s in self.seeds]
        self.batch, self.sampling, self.dtype, self.device = batch, sampling, dtype, device
        self.n_choices, self.chunk = n_choices, chunk
        self._start = -chunk

    def index(self, members: Sequence[Member], device: torch.device) -> torch.Tensor:
        return torch.tensor([self.seeds.index(m.seed) for m in members], device=device)

    def _fill(self, step: int) -> None:
        if not self._start <= step < self._start + self.chunk:
            self._start = step - step % self.chunk
            B, K = self.batch, self.chunk
            self._rot = torch.stack([
                sample_rotations(K * B, g, self.sampling, self.dtype, self.device).reshape(K, B, 3, 3)
                for g in self.gens], dim=1)  # (K, S, B, 3, 3)
            self._choice = torch.stack([
                torch.randint(self.n_choices, (K,), generator=g, device=self.device) for g in self.gens], dim=1)

    def rotations(self, step: int) -> torch.Tensor:
        self._fill(step)
        return self._rot[step - self._start]

    def choices(self, step: int) -> torch.Tensor:
        self._fill(step)
        return self._choice[step - self._start]


class _Autoencoder:
    """Zhou et al. (2019) rotation auto-encoder: an MLP encoder, the representation as the code."""

    def __init__(self, ctx: RunContext, members: Sequence[Member], sizes: dict, sampling: str,
                 dtype: torch.dtype) -> None:
        device = ctx.device
        gens = member_generators([m.seed for m in members])
        h = sizes["hidden"]
        dims = [9, h, h, h, 9]  # every member emits 9 numbers and uses the first raw_dim of them
        self.layers = [EnsembleLinear(gens, a, b, device=device, dtype=dtype) for a, b in zip(dims[:-1], dims[1:])]
        self.heads = _Heads(members, device)
        self.streams = _SeedStreams([m.seed for m in members], device, 10**5, sizes["batch"], sampling, dtype)
        self.seed_index = self.streams.index(members, device)
        self.dtype, self.device = dtype, device
        test_gen = torch.Generator(device=device).manual_seed(10**6 + ctx.seed)
        self.test = sample_rotations(sizes["test"], test_gen, sampling, dtype=dtype, device=device)
        self.members = len(members)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for layer in self.layers for p in layer.parameters()]

    def _raw(self, R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _guard(_leaky_mlp(self.layers, R.reshape(*R.shape[:-2], 9)))

    def loss(self, step: int) -> torch.Tensor:
        R = self.streams.rotations(step).index_select(0, self.seed_index)
        raw, bad = self._raw(R)
        R_theta, _ = self.heads(raw, training=True)
        loss = _per_member_mse(R_theta, R)
        return torch.where(bad, torch.full_like(loss, math.nan), loss)

    def evaluate(self, chunk: int = 8192) -> dict[str, torch.Tensor]:
        errs, bad_any = [], torch.zeros(self.members, dtype=torch.bool, device=self.device)
        for start in range(0, self.test.shape[0], chunk):
            R = self.test[start:start + chunk].expand(self.members, -1, 3, 3)
            raw, bad = self._raw(R)
            bad_any |= bad
            errs.append(_geodesic_deg(self.heads(raw, training=False)[2], R))
        stats = _error_stats(torch.cat(errs, dim=1))
        return {k: torch.where(bad_any, torch.full_like(v, math.nan), v) for k, v in stats.items()}


class _PointCloud:
    """Zhou et al. (2019) point-cloud pose estimation with a PointNet-like network; PRoM Eq. 35 loss."""

    def __init__(self, ctx: RunContext, members: Sequence[Member], sizes: dict, sampling: str,
                 dtype: torch.dtype) -> None:
        device = ctx.device
        gens = member_generators([m.seed for m in members])
        widths = [3, *sizes["widths"]]
        self.point_layers = [EnsembleLinear(gens, a, b, device=device, dtype=dtype)
                             for a, b in zip(widths[:-1], widths[1:])]
        self.head_layers = [EnsembleLinear(gens, 2 * widths[-1], sizes["head"], device=device, dtype=dtype),
                            EnsembleLinear(gens, sizes["head"], 9, device=device, dtype=dtype)]
        self.heads = _Heads(members, device)
        # The body pool depends only on the experiment seed, like a fixed dataset.
        data_gen = torch.Generator().manual_seed(ctx.seed)
        n_train, n_test = sizes["train_bodies"], sizes["test_bodies"]
        clouds = body_point_clouds(n_train + n_test, sizes["points"], data_gen).to(device=device, dtype=dtype)
        self.train_clouds, self.test_clouds = clouds[:n_train], clouds[n_train:]
        test_gen = torch.Generator(device=device).manual_seed(10**6 + ctx.seed)
        self.test_R = sample_rotations(n_test * sizes["test_rotations"], test_gen, sampling, dtype, device
                                       ).reshape(n_test, sizes["test_rotations"], 3, 3)
        self.streams = _SeedStreams([m.seed for m in members], device, 10**5, sizes["batch"], sampling, dtype,
                                    n_choices=n_train)
        self.seed_index = self.streams.index(members, device)
        self.dtype, self.device = dtype, device
        self.members = len(members)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for layer in self.point_layers + self.head_layers for p in layer.parameters()]

    def _features(self, clouds: torch.Tensor) -> torch.Tensor:
        """(M, ..., N, 3) -> (M, ..., C): shared per-point MLP, then max over points."""
        return _leaky_mlp(self.point_layers, clouds).amax(dim=-2)

    def _raw(self, ref: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ref (M, N, 3), target (M, B, N, 3) -> raw (M, B, 9)."""
        f_ref = self._features(ref)[:, None].expand(-1, target.shape[1], -1)
        f = torch.cat([f_ref, self._features(target)], dim=-1)
        return _guard(_leaky_mlp(self.head_layers, f))

    @staticmethod
    def _rotate(R: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """R (M, B, 3, 3), ref (M, N, 3) -> (M, B, N, 3), each point x -> R x."""
        return torch.einsum("mbij,mnj->mbni", R, ref)

    def loss(self, step: int) -> torch.Tensor:
        ref = self.train_clouds.index_select(0, self.streams.choices(step)).index_select(0, self.seed_index)
        R = self.streams.rotations(step).index_select(0, self.seed_index)
        target = self._rotate(R, ref)
        raw, bad = self._raw(ref, target)
        R_theta, R_down = self.heads(raw, training=True)
        loss = _per_member_mse(R_theta, R) + _per_member_mse(self._rotate(R_down, ref), target)  # Eq. 35
        return torch.where(bad, torch.full_like(loss, math.nan), loss)

    def evaluate(self) -> dict[str, torch.Tensor]:
        errs, bad_any = [], torch.zeros(self.members, dtype=torch.bool, device=self.device)
        for ref1, R1 in zip(self.test_clouds, self.test_R):
            ref = ref1.expand(self.members, -1, 3)
            R = R1.expand(self.members, -1, 3, 3)
            raw, bad = self._raw(ref, self._rotate(R, ref))
            bad_any |= bad
            errs.append(_geodesic_deg(self.heads(raw, training=False)[2], R))
        stats = _error_stats(torch.cat(errs, dim=1))
        return {k: torch.where(bad_any, torch.full_like(v, math.nan), v) for k, v in stats.items()}


_TASKS = {"autoencoder": _Autoencoder, "pointcloud": _PointCloud}
_DATA_SOURCE = {
    "autoencoder": "synthetic: random rotations ({sampling} sampling), Zhou et al. 2019 auto-encoder",
    "pointcloud": "synthetic: Anny body-mesh point clouds (open model, random shapes/poses) x random "
                  "rotations ({sampling} sampling)",
}


def train_members(
    ctx: RunContext,
    task: str,
    members: Sequence[Member],
    *,
    steps: int,
    sizes: Optional[dict] = None,
    decay_at: Sequence[float] = (),
    eval_every: int = 0,
    sampling: str = "axis_angle",
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> FitResult:
    """Train ``members`` together on ``task`` ("autoencoder" or "pointcloud") and evaluate them.

    Args:
        ctx: run context (device; ``ctx.seed`` fixes the test set and, for point clouds, the bodies).
        members: the runs; members with the same seed share initial trunk weights and training data.
        steps: optimisation steps.
        sizes: task sizes (defaults: the profile's, see ``_SIZES``).
        decay_at: fractions of ``steps`` at which every learning rate is divided by 10.
        eval_every: evaluate every k steps (training curves); 0: only at the end.
    Returns:
        :class:`posebook.models.training.FitResult`; its ``final`` has mean/max/std/median_deg.
    """
    sizes = _sizes(ctx, task) if sizes is None else sizes
    with cpu_threads(1 if ctx.device.type == "cpu" else None):
        model = _TASKS[task](ctx, members, sizes, sampling, dtype)
        lrs = torch.tensor([m.lr for m in members], dtype=dtype, device=ctx.device)
        return fit(
            model.parameters(), model.loss, steps=steps, lr=lrs, eval_fn=model.evaluate,
            eval_every=eval_every, lr_milestones=[int(round(f * steps)) for f in decay_at],
            progress=progress,
        )


def _members_frame(members: Sequence[Member], result: FitResult) -> pd.DataFrame:
    rows = []
    for i, m in enumerate(members):
        row = {"variant": m.label, "representation": m.representation, "seed": m.seed, "lr": m.lr}
        row.update({k: float(v[i]) for k, v in result.final.items()})
        row["diverged"] = result.diverged_step[i] is not None
        row["diverged_step"] = result.diverged_step[i]
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["diverged_step"] = frame["diverged_step"].astype("Int64")
    return frame


def _resolve(value, default):
    """Experiment parameters use 0 / () for "the profile's default"."""
    return default if value in (0, 0.0, None, ()) else value


def _table_2a_experiment(ctx: RunContext, task: str, representations, steps, batch, lr, sampling,
                         extra_sizes: dict) -> ExperimentResult:
    sizes = _sizes(ctx, task)
    sizes.update({k: v for k, v in extra_sizes.items() if v not in (0, 0.0, None, ())})
    sizes["batch"] = _resolve(batch, sizes["batch"])
    steps, lr = int(_resolve(steps, sizes["steps"])), float(_resolve(lr, sizes["lr"]))
    members = [Member(LABELS.get(r, r), r, s, lr) for r in representations for s in ctx.seeds()]
    result = train_members(ctx, task, members, steps=steps, sizes=sizes, decay_at=sizes["decay_at"],
                           sampling=sampling)
    frame = _members_frame(members, result)
    paper = PAPER_TABLE_2A[task]
    for k, name in enumerate(("mean", "max", "std")):
        frame[f"paper_{name}_deg"] = [paper.get(r, (math.nan,) * 3)[k] for r in frame["representation"]]
    frame["steps"] = steps
    return ExperimentResult(frame, _DATA_SOURCE[task].format(sampling=sampling))


@experiment("prom.autoencoder")
def autoencoder(ctx: RunContext, representations: tuple = TABLE_2A_REPRESENTATIONS, steps: int = 0,
                batch: int = 0, lr: float = 0.0, hidden: int = 0, test_samples: int = 0,
                sampling: str = "axis_angle") -> ExperimentResult:
    """PRoM Table 2a (left): rotation auto-encoder error (deg) per representation and seed.

    Zhou et al.'s sanity test: MLP 9 -> hidden x3 -> raw, L_theta = MSE on the matrix, Adam. 0 means
    the profile's value: quick 1,500 steps, lr 1e-3 (/10 at 2/3), batch 64, 4,096 test rotations;
    full 500k steps, lr 1e-5 (/10 at 10k, Zhou's code), batch 64, 100k test rotations.
    """
    return _table_2a_experiment(ctx, "autoencoder", representations, steps, batch, lr, sampling,
                                {"hidden": hidden, "test": test_samples})


@experiment("prom.pointcloud")
def pointcloud(ctx: RunContext, representations: tuple = TABLE_2A_REPRESENTATIONS, steps: int = 0,
               batch: int = 0, lr: float = 0.0, points: int = 0, train_bodies: int = 0, test_bodies: int = 0,
               test_rotations: int = 0, sampling: str = "axis_angle") -> ExperimentResult:
    """PRoM Table 2a (right): point-cloud pose estimation error (deg) on Anny body clouds, Eq. 35 loss.

    PointNet-like network (shared per-point MLP + max-pool for both clouds, then an MLP). 0 means the
    profile's value: quick 300 steps, batch 16, 64 points, widths 32-64-64, head 64, 64 train / 8
    test bodies x 32 rotations; full 500k steps, batch 10, lr 1e-5, 1024 points, widths 64-128-1024,
    head 512, 2290 train / 400 test bodies x 100 rotations (Zhou's sizes).
    """
    return _table_2a_experiment(ctx, "pointcloud", representations, steps, batch, lr, sampling,
                                {"points": points, "train_bodies": train_bodies, "test_bodies": test_bodies,
                                 "test_rotations": test_rotations})


@experiment("prom.lr_sweep")
def lr_sweep(ctx: RunContext, task: str = "autoencoder", representations: tuple = ("6d", "svd", "prom"),
             lrs: tuple = (1e-4, 2e-4, 5e-4, 8e-4), steps: int = 0, sampling: str = "axis_angle"
             ) -> ExperimentResult:
    """PRoM Table 3b on a small task: final error (deg) per representation, learning rate and seed.

    Constant learning rate (no decay), the task's profile sizes otherwise. A run whose loss, gradients
    or metrics turn non-finite is recorded with ``diverged=True`` and NaN errors. The paper's column
    is PA-MPJPE (mm) on 3DPW for CLIFF: different task and units, kept for the pattern only.
    """
    sizes = _sizes(ctx, task)
    steps = int(_resolve(steps, sizes["steps"]))
    members = [Member(LABELS[r], r, s, float(lr)) for r in representations for lr in lrs for s in ctx.seeds()]
    result = train_members(ctx, task, members, steps=steps, sizes=sizes, sampling=sampling)
    frame = _members_frame(members, result)
    frame["paper_pa_mpjpe_mm"] = [PAPER_TABLE_3B.get(lr, {}).get(r, math.nan)
                                  for r, lr in zip(frame["representation"], frame["lr"])]
    frame["paper_diverged"] = [lr in PAPER_TABLE_3B and r in PAPER_TABLE_3B[lr]
                               and math.isnan(PAPER_TABLE_3B[lr][r])
                               for r, lr in zip(frame["representation"], frame["lr"])]
    frame["steps"], frame["task"] = steps, task
    return ExperimentResult(frame, _DATA_SOURCE[task].format(sampling=sampling))


@experiment("prom.training_curves")
def training_curves(ctx: RunContext, task: str = "autoencoder",
                    variants: tuple = ("6d", "6d*", "svd", "prom", "prom+"), steps: int = 0, lr: float = 0.0,
                    plus_factor: float = 3.0, evaluations: int = 10, sampling: str = "axis_angle"
                    ) -> ExperimentResult:
    """PRoM Fig. 2c/2d on a small task: test error (deg) vs training step per variant and seed.

    "6d*" = 6D without orthogonalisation in training ([t1, t2, t1 x t2]); "prom+" = PRoM with the
    learning rate times ``plus_factor`` (3: PRoM A.10 trains CLIFF+PRoM at 3e-4 instead of 1e-4).
    Constant learning rate (Fig. 2c: "with a fixed learning rate"); ``evaluations`` test points.
    """
    sizes = _sizes(ctx, task)
    steps = int(_resolve(steps, sizes["steps"]))
    base_lr = float(_resolve(lr, sizes["lr"]))
    members = []
    for name in variants:
        spec = _variant(name)
        run_lr = base_lr * plus_factor if name == "prom+" else base_lr
        members += [Member(LABELS.get(name, name), seed=s, lr=run_lr, **spec) for s in ctx.seeds()]
    every = max(1, steps // max(1, evaluations))
    result = train_members(ctx, task, members, steps=steps, sizes=sizes, eval_every=every, sampling=sampling)
    hist = result.history
    info = pd.DataFrame([{"member": i, "variant": m.label, "representation": m.representation,
                          "seed": m.seed, "lr": m.lr} for i, m in enumerate(members)])
    frame = info.merge(hist, on="member").drop(columns="member")
    frame["task"] = task
    return ExperimentResult(frame, _DATA_SOURCE[task].format(sampling=sampling))


# ------------------------------------------------------------------------------- presentation


def summarize(frame: pd.DataFrame, by: Sequence[str], metrics: Sequence[str] = ("mean_deg", "max_deg", "std_deg"),
              decimals: int = 2) -> pd.DataFrame:
    """Mean and std over seeds of each metric, plus "mean ± std" strings; a diverged seed stays NaN.

    Args:
        frame: one row per run (seed), columns ``by`` + ``metrics`` + "seed".
    Returns:
        one row per group: ``{metric}`` (mean over seeds; NaN if any seed diverged), ``{metric}_sd``,
        ``{metric} ± sd`` strings, ``seeds`` and ``diverged`` (count of diverged seeds).
    """
    def agg(g: pd.DataFrame) -> pd.Series:
        out = {}
        for m in metrics:
            values = g[m].to_numpy(dtype=float)
            mu = float(np.mean(values)) if not np.isnan(values).any() else math.nan
            sd = float(np.std(values, ddof=1)) if len(values) > 1 and not np.isnan(mu) else math.nan
            out[m], out[f"{m}_sd"] = mu, sd
            out[f"{m} ± sd"] = "NaN" if np.isnan(mu) else (
                f"{mu:.{decimals}f} ± {sd:.{decimals}f}" if not np.isnan(sd) else f"{mu:.{decimals}f}")
        out["seeds"] = len(g)
        out["diverged"] = int(g["diverged"].sum()) if "diverged" in g else 0
        return pd.Series(out)

    return frame.groupby(list(by), sort=False).apply(agg, include_groups=False).reset_index()


def table_2a(frame: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """Table 2a layout: ours (mean ± sd over seeds) beside the paper's numbers, one row per representation."""
    s = summarize(frame, ["variant", "representation"], decimals=decimals)
    paper = frame.groupby("representation", sort=False)[["paper_mean_deg", "paper_max_deg", "paper_std_deg"]].first()
    out = pd.DataFrame({
        "representation": s["variant"],
        "ours mean (deg)": s["mean_deg ± sd"],
        "ours max (deg)": s["max_deg ± sd"],
        "ours std (deg)": s["std_deg ± sd"],
    })
    for name in ("mean", "max", "std"):
        out[f"paper {name} (deg)"] = paper.loc[s["representation"], f"paper_{name}_deg"].to_numpy()
    return out


def table_3b(frame: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """Table 3b layout: rows = learning rate; per representation ours (mean deg ± sd, or NaN) and paper (mm)."""
    s = summarize(frame, ["lr", "variant", "representation"], metrics=("mean_deg",), decimals=decimals)
    rows = []
    for lr, g in s.groupby("lr", sort=True):
        row = {"lr": lr}
        for _, r in g.iterrows():
            row[f"{r['variant']} ours (deg)"] = r["mean_deg ± sd"]
            row[f"{r['variant']} diverged seeds"] = f"{r['diverged']}/{r['seeds']}"
        for _, r in g.iterrows():
            paper = PAPER_TABLE_3B.get(lr, {}).get(r["representation"], math.nan)
            row[f"{r['variant']} paper (mm)"] = "NaN" if math.isnan(paper) else paper
        rows.append(row)
    return pd.DataFrame(rows)


def paired_verdict(better: Sequence[float], worse: Sequence[float]) -> str:
    """The claim "``better`` < ``worse``", judged seed by seed (paired; a NaN counts as infinitely bad).

    "holds" if it is true for every seed, "does not hold" if the opposite is true for every seed,
    "inconclusive" otherwise (including ties).
    """
    a = np.nan_to_num(np.asarray(better, dtype=float), nan=np.inf)
    b = np.nan_to_num(np.asarray(worse, dtype=float), nan=np.inf)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"need paired per-seed values of equal length, got {a.shape} and {b.shape}")
    if np.all(a < b):
        return "holds"
    if np.all(a > b):
        return "does not hold"
    return "inconclusive"
