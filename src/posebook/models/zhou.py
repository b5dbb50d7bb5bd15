"""Zhou et al. (2019)'s two rotation tasks, as PRoM Sec. 5.2.1 / A.9 reuses them, for ensembles.

- :class:`RotationAutoencoder` (PRoM Table 2a, left): rotation -> MLP -> representation -> matrix.
- :class:`PointCloudPoseNet` (PRoM Table 2a, right, Eq. 35): reference and rotated point clouds ->
  PointNet-like network -> representation -> matrix.

Every task holds M members (:class:`Member`: representation, seed, learning rate, the two
orthogonalisation switches of :func:`posebook.models.rotation_heads.outputs`) as one ensemble
(:mod:`posebook.models.ensemble`); members with the same seed share initial trunk weights and
training batches (a paired comparison). Evaluation: the geodesic angle (degrees,
:func:`posebook.metrics.angle_error`) between the inference rotation and the truth, summarised per
member by mean / max / std (ddof 0, as numpy's default in Zhou's test code) / median.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from posebook.data.rotation_samples import RotationStreams, sample_rotations
from posebook.metrics import angle_error
from posebook.models.ensemble import EnsembleLinear, leaky_mlp, member_generators, per_member_mse, zero_nonfinite_members
from posebook.models.rotation_heads import outputs, raw_dim

__all__ = ["EnsembleHeads", "Member", "PointCloudPoseNet", "RotationAutoencoder", "error_stats", "variant_spec"]


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


def variant_spec(name: str) -> dict:
    """Table row names -> representation and switches. "6d*": 6D without r_GS in training (Fig. 2c)."""
    if name == "6d*":
        return dict(representation="6d", ortho_in_rot_loss=False, ortho_in_downstream=False)
    if name == "prom+":
        return dict(representation="prom")
    raw_dim(name)  # validates the name
    return dict(representation=name)


class EnsembleHeads:
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


def error_stats(err: torch.Tensor) -> dict[str, torch.Tensor]:
    """err (M, T) degrees -> mean / max / std (ddof 0) / median per member."""
    return {
        "mean_deg": err.mean(dim=1),
        "max_deg": err.amax(dim=1),
        "std_deg": err.std(dim=1, correction=0),
        "median_deg": err.median(dim=1).values,
    }


class RotationAutoencoder:
    """Zhou et al. (2019) rotation auto-encoder as a training task (PRoM Table 2a, left).

    An MLP encoder ``9 -> hidden x3 -> raw`` (LeakyReLU; every member emits 9 numbers and uses the
    first ``raw_dim`` of them), the representation as the code, its map to a matrix as the decoder;
    loss L_theta = MSE between the training-time matrix and the input rotation. Training rotations
    come from per-seed :class:`~posebook.data.rotation_samples.RotationStreams`, drawn with
    ``sizes["train_sampling"]`` where the sizes set one (Zhou et al.'s released script trains on
    uniform rotations, "haar", and tests on uniform axes and angles) and with ``sampling`` otherwise;
    the test set is ``sizes["test"]`` rotations drawn with ``sampling`` and ``test_seed``.

    ``loss(step) -> (M,)`` and ``evaluate() -> {metric: (M,)}`` plug into
    :func:`posebook.optim.ensemble.fit`.
    """

    def __init__(self, members: Sequence[Member], sizes: dict, sampling: str, dtype: torch.dtype,
                 device: torch.device, test_seed: int) -> None:
        gens = member_generators([m.seed for m in members])
        h = sizes["hidden"]
        dims = [9, h, h, h, 9]  # every member emits 9 numbers and uses the first raw_dim of them
        self.layers = [EnsembleLinear(gens, a, b, device=device, dtype=dtype) for a, b in zip(dims[:-1], dims[1:])]
        self.heads = EnsembleHeads(members, device)
        train_sampling = sizes.get("train_sampling") or sampling
        self.streams = RotationStreams([m.seed for m in members], device, 10**5, sizes["batch"], train_sampling, dtype)
        self.seed_index = self.streams.index([m.seed for m in members], device)
        self.dtype, self.device = dtype, device
        test_gen = torch.Generator(device=device).manual_seed(10**6 + test_seed)
        self.test = sample_rotations(sizes["test"], test_gen, sampling, dtype=dtype, device=device)
        self.members = len(members)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for layer in self.layers for p in layer.parameters()]

    def _raw(self, R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return zero_nonfinite_members(leaky_mlp(self.layers, R.reshape(*R.shape[:-2], 9)))

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
            errs.append(angle_error(self.heads.rotations(raw), R, check=False))  # rotations by construction; no sync
        stats = error_stats(torch.cat(errs, dim=1))
        return {k: torch.where(bad_any, torch.full_like(v, math.nan), v) for k, v in stats.items()}


class PointCloudPoseNet:
    """Zhou et al. (2019) point-cloud pose estimation as a training task (PRoM Table 2a, right).

    A PointNet-like network (Zhou's ``Model_pointnet``): one shared per-point MLP
    ``3 -> widths`` with max-pooling for the reference cloud P_r and the target P_t = R P_r, the two
    features concatenated, then ``2 C -> head -> raw``. Loss (PRoM Eq. 35):
    L_pc = L_theta + L_ele(R_hat P_r, P_t), both MSE, R_hat the matrix the representation feeds
    downstream in training. ``clouds`` (B, N, 3): the first ``sizes["train_bodies"]`` train, the
    next ``sizes["test_bodies"]`` test (each with ``sizes["test_rotations"]`` rotations drawn with
    ``test_seed``).
    """

    def __init__(self, members: Sequence[Member], sizes: dict, sampling: str, dtype: torch.dtype,
                 device: torch.device, test_seed: int, clouds: torch.Tensor) -> None:
        gens = member_generators([m.seed for m in members])
        widths = [3, *sizes["widths"]]
        self.point_layers = [EnsembleLinear(gens, a, b, device=device, dtype=dtype)
                             for a, b in zip(widths[:-1], widths[1:])]
        self.head_layers = [EnsembleLinear(gens, 2 * widths[-1], sizes["head"], device=device, dtype=dtype),
                            EnsembleLinear(gens, sizes["head"], 9, device=device, dtype=dtype)]
        self.heads = EnsembleHeads(members, device)
        n_train, n_test = sizes["train_bodies"], sizes["test_bodies"]
        if clouds.shape[0] != n_train + n_test:
            raise ValueError(f"need {n_train} + {n_test} clouds, got {clouds.shape[0]}")
        clouds = clouds.to(device=device, dtype=dtype)
        self.train_clouds, self.test_clouds = clouds[:n_train], clouds[n_train:]
        test_gen = torch.Generator(device=device).manual_seed(10**6 + test_seed)
        self.test_R = sample_rotations(n_test * sizes["test_rotations"], test_gen, sampling, dtype, device
                                       ).reshape(n_test, sizes["test_rotations"], 3, 3)
        self.streams = RotationStreams([m.seed for m in members], device, 10**5, sizes["batch"], sampling, dtype,
                                    n_choices=n_train)
        self.seed_index = self.streams.index([m.seed for m in members], device)
        self.dtype, self.device = dtype, device
        self.members = len(members)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for layer in self.point_layers + self.head_layers for p in layer.parameters()]

    def _features(self, clouds: torch.Tensor) -> torch.Tensor:
        """(M, ..., N, 3) -> (M, ..., C): shared per-point MLP, then max over points."""
        return leaky_mlp(self.point_layers, clouds).max(dim=-2).values

    def _raw(self, ref: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ref (M, N, 3), target (M, B, N, 3) -> raw (M, B, 9)."""
        feats = self._features(torch.cat([ref[:, None], target], dim=1))  # one pass for both clouds
        f = torch.cat([feats[:, :1].expand(-1, target.shape[1], -1), feats[:, 1:]], dim=-1)
        return zero_nonfinite_members(leaky_mlp(self.head_layers, f))

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
                errs.append(angle_error(self.heads.rotations(raw), R, check=False))  # rotations by construction; no sync
        stats = error_stats(torch.cat(errs, dim=1))
        return {k: torch.where(bad_any, torch.full_like(v, math.nan), v) for k, v in stats.items()}
