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
from typing import Optional, Sequence

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
    per_member_mse,
    zero_nonfinite_members,
)
from posebook.runs import RunContext

__all__ = [
    "PAPER_TABLE_2A",
    "PAPER_TABLE_3B",
    "LABELS",
    "Member",
    "sample_rotations",
    "farthest_point_indices",
    "body_point_clouds",
    "train_members",
    "summarize",
    "table_2a",
    "table_3b",
    "paired_verdict",
    "claims_table_2a",
    "claims_table_3b",
    "curve_summary",
    "claims_training_curves",
    "format_claims",
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
        "quick": dict(steps=400, batch=64, lr=2e-3, decay_at=(2 / 3,), hidden=128, test=2048),
        "full": dict(steps=500_000, batch=64, lr=1e-5, decay_at=(0.02,), hidden=128, test=100_000),
    },
    "pointcloud": {
        "quick": dict(steps=500, batch=16, lr=5e-3, decay_at=(2 / 3,), points=32, widths=(16, 64),
                      head=128, train_bodies=128, test_bodies=16, test_rotations=32),
        "full": dict(steps=500_000, batch=10, lr=1e-5, decay_at=(), points=1024, widths=(64, 128, 1024),
                     head=512, train_bodies=2290, test_bodies=400, test_rotations=100),
    },
}


#: The learning-rate sweep and the training curves train many runs (the book's sweep: 54): at the quick
#: profile they use a smaller auto-encoder (trunk, steps, test set) than Table 2a.
_SWEEP_QUICK: dict[str, dict] = {
    "autoencoder": dict(steps=400, lr=1e-3, hidden=64, test=1024),
    "pointcloud": dict(steps=400),
}


def _sizes(ctx: RunContext, task: str, sweep: bool = False) -> dict:
    if task not in _SIZES:
        raise ValueError(f"task must be one of {sorted(_SIZES)}, got {task!r}")
    table = _SIZES[task]
    if ctx.profile.name == "full":
        return dict(table["full"])
    sizes = dict(table["quick"])
    if sweep:
        sizes.update(_SWEEP_QUICK[task])
    sizes["steps"] = ctx.scaled(sizes["steps"])  # quick: scale 1; an unknown profile scales quick
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


def farthest_point_indices(points: torch.Tensor, k: int) -> torch.Tensor:
    """Farthest-point sampling: k indices into ``points`` (V, 3), starting from the point farthest
    from the centroid; each next point is the one farthest from those chosen. Returns (k,) int64."""
    if not 0 < k <= points.shape[0]:
        raise ValueError(f"k must be in [1, {points.shape[0]}], got {k}")
    centred = points - points.mean(dim=0)
    chosen = [int(torch.argmax(centred.square().sum(-1)))]
    dist = (points - points[chosen[0]]).square().sum(-1)
    for _ in range(k - 1):
        nxt = int(torch.argmax(dist))
        chosen.append(nxt)
        dist = torch.minimum(dist, (points - points[nxt]).square().sum(-1))
    return torch.tensor(chosen, dtype=torch.long)


def body_point_clouds(
    n_bodies: int,
    points: int,
    generator: torch.Generator,
    pose_sigma_deg: float = 10.0,
    chunk: int = 128,
) -> torch.Tensor:
    """Point clouds of Anny bodies with random shapes and small random poses, in vertex correspondence.

    Phenotypes: gender, muscle, weight, height uniform in [0, 1], age uniform in [0.5, 1]
    (teenager to old adult), proportions uniform in [0, 0.5]. Every non-root joint is rotated by a
    rotation vector ~ N(0, pose_sigma_deg^2 I) (the root stays the identity: the rotation to
    estimate is applied afterwards). Every cloud keeps the same ``points`` mesh vertices, chosen by
    farthest-point sampling on Anny's mean body in its rest pose (an even cover of head, hands and
    feet), and is centred on its mean. Computed on the CPU in float32 (Anny's skinning).

    Args:
        n_bodies: number of clouds B.
        points: vertices kept per cloud N (<= 13,718).
        generator: CPU generator (shapes and poses).
    Returns:
        (B, N, 3) metres, Anny's y-up output frame, zero mean per cloud.
    """
    from posebook.body.models import AnnyBody  # deferred: loads the Anny model (~3 s cached)

    body = AnnyBody()
    eye = torch.eye(3).expand(1, body.num_joints, 3, 3)
    with torch.no_grad():
        idx = farthest_point_indices(body(eye).vertices[0], points)
    clouds = []
    for start in range(0, n_bodies, chunk):
        b = min(chunk, n_bodies - start)
        u = torch.rand(6, b, generator=generator)
        shape = {"gender": u[0], "age": 0.5 + 0.5 * u[1], "muscle": u[2], "weight": u[3], "height": u[4],
                 "proportions": 0.5 * u[5]}
        rotvec = torch.randn(b, body.num_joints, 3, generator=generator) * math.radians(pose_sigma_deg)
        rotvec[:, 0] = 0.0
        with torch.no_grad():
            cloud = body(axis_angle_to_matrix(rotvec), shape).vertices[:, idx]
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

    def _apply(self, raw: torch.Tensor, training: bool, fields: int) -> list[torch.Tensor]:
        parts = []
        for (rep, o_theta, o_y), idx in self.groups:
            sub = raw.index_select(0, idx)[..., : raw_dim(rep)]
            parts.append(outputs(sub, rep, training, o_theta, o_y, with_eval=False))
        return [torch.cat([p[k] for p in parts]).index_select(0, self.inverse) for k in range(fields)]

    def training(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """raw (M, ..., 9) -> (R for L_theta, R for the downstream loss), each (M, ..., 3, 3)."""
        R_theta, R_down = self._apply(raw, True, 2)
        return R_theta, R_down

    def rotations(self, raw: torch.Tensor) -> torch.Tensor:
        """raw (M, ..., 9) -> inference rotations (M, ..., 3, 3)."""
        return self._apply(raw, False, 1)[0]


def _leaky_mlp(layers: Sequence[EnsembleLinear], x: torch.Tensor) -> torch.Tensor:
    """Linear layers with LeakyReLU between them (none after the last), as in Zhou et al.'s models."""
    for k, layer in enumerate(layers):
        x = layer(x)
        if k < len(layers) - 1:
            x = F.leaky_relu(x)
    return x



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
        return zero_nonfinite_members(_leaky_mlp(self.layers, R.reshape(*R.shape[:-2], 9)))

    def loss(self, step: int) -> torch.Tensor:
        R = self.streams.rotations(step).index_select(0, self.seed_index)
        raw, bad = self._raw(R)
        R_theta, _ = self.heads.training(raw)
        loss = per_member_mse(R_theta, R)
        return torch.where(bad, torch.full_like(loss, math.nan), loss)

    def evaluate(self, chunk: int = 8192) -> dict[str, torch.Tensor]:
        errs, bad_any = [], torch.zeros(self.members, dtype=torch.bool, device=self.device)
        for start in range(0, self.test.shape[0], chunk):
            R = self.test[start:start + chunk].expand(self.members, -1, 3, 3)
            raw, bad = self._raw(R)
            bad_any |= bad
            errs.append(_geodesic_deg(self.heads.rotations(raw), R))
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
        return _leaky_mlp(self.point_layers, clouds).max(dim=-2).values

    def _raw(self, ref: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ref (M, N, 3), target (M, B, N, 3) -> raw (M, B, 9)."""
        feats = self._features(torch.cat([ref[:, None], target], dim=1))  # one pass for both clouds
        f = torch.cat([feats[:, :1].expand(-1, target.shape[1], -1), feats[:, 1:]], dim=-1)
        return zero_nonfinite_members(_leaky_mlp(self.head_layers, f))

    @staticmethod
    def _rotate(R: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """R (M, B, 3, 3), ref (M, N, 3) -> (M, B, N, 3), each point x -> R x."""
        return torch.einsum("mbij,mnj->mbni", R, ref)

    def loss(self, step: int) -> torch.Tensor:
        ref = self.train_clouds.index_select(0, self.streams.choices(step)).index_select(0, self.seed_index)
        R = self.streams.rotations(step).index_select(0, self.seed_index)
        target = self._rotate(R, ref)
        raw, bad = self._raw(ref, target)
        R_theta, R_down = self.heads.training(raw)
        loss = per_member_mse(R_theta, R) + per_member_mse(self._rotate(R_down, ref), target)  # Eq. 35
        return torch.where(bad, torch.full_like(loss, math.nan), loss)

    def evaluate(self, chunk: int = 32) -> dict[str, torch.Tensor]:
        errs, bad_any = [], torch.zeros(self.members, dtype=torch.bool, device=self.device)
        for ref1, R_body in zip(self.test_clouds, self.test_R):
            ref = ref1.expand(self.members, -1, 3)
            for R1 in R_body.split(chunk):  # bounds the (M, chunk, N, C) activations of the full sizes
                R = R1.expand(self.members, -1, 3, 3)
                raw, bad = self._raw(ref, self._rotate(R, ref))
                bad_any |= bad
                errs.append(_geodesic_deg(self.heads.rotations(raw), R))
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
        lrs = torch.tensor([m.lr for m in members], dtype=torch.float64, device=ctx.device)
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
    the profile's value: quick 400 steps, lr 2e-3 (/10 at 2/3), batch 64, hidden 128, 2,048 test
    rotations; full 500k steps, lr 1e-5 (/10 at 10k, Zhou's code), batch 64, 100k test rotations.
    """
    return _table_2a_experiment(ctx, "autoencoder", representations, steps, batch, lr, sampling,
                                {"hidden": hidden, "test": test_samples})


@experiment("prom.pointcloud")
def pointcloud(ctx: RunContext, representations: tuple = TABLE_2A_REPRESENTATIONS, steps: int = 0,
               batch: int = 0, lr: float = 0.0, points: int = 0, train_bodies: int = 0, test_bodies: int = 0,
               test_rotations: int = 0, sampling: str = "axis_angle") -> ExperimentResult:
    """PRoM Table 2a (right): point-cloud pose estimation error (deg) on Anny body clouds, Eq. 35 loss.

    PointNet-like network (shared per-point MLP + max-pool for both clouds, then an MLP). 0 means the
    profile's value: quick 500 steps, lr 5e-3 (/10 at 2/3), batch 16, 32 points, per-point widths
    16-64, head 128, 128 train / 16 test bodies x 32 rotations; full 500k steps, batch 10, lr 1e-5,
    1024 points, widths 64-128-1024, head 512, 2290 train / 400 test bodies x 100 rotations (Zhou's
    sizes).
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
    sizes = _sizes(ctx, task, sweep=True)
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
    sizes = _sizes(ctx, task, sweep=True)
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
    rows = []
    for key, g in frame.groupby(list(by), sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for m in metrics:
            values = g[m].to_numpy(dtype=float)
            mu = float(np.mean(values)) if not np.isnan(values).any() else math.nan
            sd = float(np.std(values, ddof=1)) if len(values) > 1 and not np.isnan(mu) else math.nan
            row[m], row[f"{m}_sd"] = mu, sd
            row[f"{m} ± sd"] = "NaN" if np.isnan(mu) else (
                f"{mu:.{decimals}f} ± {sd:.{decimals}f}" if not np.isnan(sd) else f"{mu:.{decimals}f}")
        row["seeds"] = len(g)
        row["diverged"] = int(g["diverged"].sum()) if "diverged" in g else 0
        rows.append(row)
    return pd.DataFrame(rows)


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
    """Table 3b layout: one row per learning rate; per representation ours (mean deg ± sd over seeds,
    "NaN" if a seed diverged), diverged seeds, and the paper's PA-MPJPE ("NaN" = the paper's "-",
    "not run" = a learning rate the paper did not try)."""
    s = summarize(frame, ["lr", "variant", "representation"], metrics=("mean_deg",), decimals=decimals)
    rows = []
    for lr, g in s.groupby("lr", sort=True):
        row: dict = {"lr": f"{lr:g}"}
        for _, r in g.iterrows():
            row[f"{r['variant']} ours (deg)"] = r["mean_deg ± sd"]
            row[f"{r['variant']} diverged"] = f"{r['diverged']}/{r['seeds']}"
        for _, r in g.iterrows():
            paper = PAPER_TABLE_3B.get(lr, {}).get(r["representation"])
            row[f"{r['variant']} paper (mm)"] = ("not run" if paper is None else
                                                 "NaN" if math.isnan(paper) else f"{paper:.1f}")
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


def _by_seed(frame: pd.DataFrame, metric: str, **where) -> np.ndarray:
    """Per-seed values of ``metric`` (sorted by seed) among rows matching ``where`` (one row per seed)."""
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    rows = frame[mask].sort_values("seed")
    if rows["seed"].duplicated().any():
        raise ValueError(f"more than one row per seed for {where}")
    return rows[metric].to_numpy(dtype=float)


def _fmt(values: np.ndarray, decimals: int = 1) -> str:
    return "NaN" if np.isnan(values).any() else f"{np.mean(values):.{decimals}f}"


def _claim(claim: str, a_name: str, a: np.ndarray, b_name: str, b: np.ndarray, what: str) -> dict:
    return {"claim": claim, "ours": f"{what}: {a_name} {_fmt(a)} vs {b_name} {_fmt(b)}",
            "verdict": paired_verdict(a, b)}


def claims_table_2a(frame: pd.DataFrame) -> pd.DataFrame:
    """PRoM's Table 2a claims (Sec. 5.2.1-5.2.2: lowest mean, max and std; continuous beats 3-/4-D),
    judged seed by seed with :func:`paired_verdict` on a ``prom.autoencoder``/``prom.pointcloud`` frame."""
    rows = []
    present = set(frame["representation"])
    prom = {m: _by_seed(frame, m, representation="prom") for m in ("mean_deg", "max_deg", "std_deg")}
    others = [r for r in dict.fromkeys(frame["representation"]) if r != "prom"]
    for metric, word in (("mean_deg", "mean"), ("max_deg", "max"), ("std_deg", "std")):
        best_other = np.min([np.nan_to_num(_by_seed(frame, metric, representation=r), nan=np.inf) for r in others],
                            axis=0)
        rows.append(_claim(f"PRoM has the lowest {word} error of all representations", "PRoM", prom[metric],
                           "best other", best_other, f"{word} (deg)"))
    if "6d" in present:
        rows.append(_claim("PRoM's mean error is below 6D's", "PRoM", prom["mean_deg"], "6D",
                           _by_seed(frame, "mean_deg", representation="6d"), "mean (deg)"))
    continuous = [r for r in ("6d", "prom") if r in present]
    discontinuous = [r for r in ("axis_angle", "euler", "quaternion") if r in present]
    if discontinuous:
        worst_cont = np.max([_by_seed(frame, "mean_deg", representation=r) for r in continuous], axis=0)
        best_disc = np.min([_by_seed(frame, "mean_deg", representation=r) for r in discontinuous], axis=0)
        rows.append(_claim("6D and PRoM beat axis-angle, Euler and quaternion (mean)", "worse of 6D/PRoM",
                           worst_cont, "best 3-/4-param.", best_disc, "mean (deg)"))
    return pd.DataFrame(rows)


def _count_claim(claim: str, diverged: np.ndarray, expect: bool) -> dict:
    """A claim about divergence: ``expect`` True = "all these runs diverge", False = "none does"."""
    n, k = len(diverged), int(np.sum(diverged))
    if n == 0:
        return {"claim": claim, "ours": "no such runs", "verdict": "inconclusive"}
    if expect:
        verdict = "holds" if k == n else "does not hold" if k == 0 else "inconclusive"
    else:
        verdict = "holds" if k == 0 else "does not hold"
    return {"claim": claim, "ours": f"{k} of {n} runs diverged", "verdict": verdict}


def claims_table_3b(frame: pd.DataFrame) -> pd.DataFrame:
    """PRoM Table 3b / Sec. 5.3 claims on a ``prom.lr_sweep`` frame (learning rates the paper tried).

    Divergence claims count runs; error claims are paired by seed (:func:`paired_verdict`).
    """
    f = frame
    lrs = set(f["lr"])
    ortho = f[f["representation"].isin(["6d", "svd"])]
    prom = f[f["representation"] == "prom"]
    rows = [
        _count_claim("6D and SVD give NaN at the learning rates above 1e-4 (2e-4, 5e-4, 8e-4)",
                     ortho[ortho["lr"].isin([2e-4, 5e-4, 8e-4])]["diverged"].to_numpy(), True),
        _count_claim("PRoM trains without NaN up to 5e-4",
                     prom[prom["lr"].isin([1e-4, 2e-4, 5e-4])]["diverged"].to_numpy(), False),
        _count_claim("PRoM gives NaN at 8e-4", prom[prom["lr"] == 8e-4]["diverged"].to_numpy(), True),
    ]
    if 1e-4 in lrs:
        for other in ("6d", "svd"):
            rows.append(_claim(f"At lr 1e-4 PRoM's error is below {LABELS[other]}'s", "PRoM",
                               _by_seed(f, "mean_deg", representation="prom", lr=1e-4), LABELS[other],
                               _by_seed(f, "mean_deg", representation=other, lr=1e-4), "mean (deg)"))
    if {1e-4, 5e-4} <= lrs:
        rows.append(_claim("PRoM's error drops when the lr grows from 1e-4 to 5e-4", "5e-4",
                           _by_seed(f, "mean_deg", representation="prom", lr=5e-4), "1e-4",
                           _by_seed(f, "mean_deg", representation="prom", lr=1e-4), "PRoM mean (deg)"))
    return pd.DataFrame(rows)


def curve_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per variant and seed, the test error averaged over the evaluations after step 0 (the area under
    the training curve divided by its length: lower = trained faster) and the final error."""
    f = frame[frame["step"] > 0]
    g = f.groupby(["variant", "seed"], sort=False)["mean_deg"]
    last = f[f["step"] == f["step"].max()].set_index(["variant", "seed"])["mean_deg"]
    out = pd.DataFrame({"curve_mean_deg": g.mean(), "final_deg": last}).reset_index()
    return out


def claims_training_curves(frame: pd.DataFrame) -> pd.DataFrame:
    """Fig. 2c/2d claims on a ``prom.training_curves`` frame: "PRoM consistently trains faster than
    methods that incorporate orthogonalizations" (Sec. 5.3), plus the figure's 6D* and Ours+ lines.

    Judged on the per-seed mean test error over the training run (:func:`curve_summary`), paired by
    seed; "ours" also counts the evaluations at which the seed-mean curve of the first is lower.
    """
    summary = curve_summary(frame)
    curves = frame[frame["step"] > 0].pivot_table(index="step", columns="variant", values="mean_deg",
                                                  aggfunc="mean")
    rows = []
    for a, b, claim in (("PRoM", "6D", "PRoM trains faster than 6D"),
                        ("PRoM", "SVD", "PRoM trains faster than SVD"),
                        ("6D*", "6D", "6D without orthogonalisation (6D*) trains faster than 6D"),
                        ("PRoM+", "PRoM", "PRoM with a larger learning rate (PRoM+) trains faster still")):
        if a not in curves or b not in curves:
            continue
        row = _claim(claim, a, _by_seed(summary, "curve_mean_deg", variant=a), b,
                     _by_seed(summary, "curve_mean_deg", variant=b), "mean over training (deg)")
        below = int((curves[a] < curves[b]).sum())
        row["ours"] += f"; lower at {below}/{len(curves)} evaluations"
        rows.append(row)
    return pd.DataFrame(rows)


def format_claims(claims: pd.DataFrame) -> str:
    """Claims as narrow text, one block per claim: the verdict and the claim, then our numbers."""
    width = max(len(v) for v in claims["verdict"])
    lines = []
    for _, row in claims.iterrows():
        lines.append(f"{row['verdict']:<{width}}  {row['claim']}")
        lines.append(f"{'':<{width}}    {row['ours']}")
    return "\n".join(lines)
