"""What every ZeDO experiment shares: the size presets, the pose data, the trained priors (cached),
one batched ZeDO run per (prior, settings, seed) and its scores.

Data (:mod:`posebook.data.pose_sets`): H36M-17 joints of the CMU subset retargeted to Anny, one
world (seed 0: the data, not the run seed), split by subject: the priors train on subjects 05 (modern
dance), 09 (run) and 135 (karate), every test pose is of subject 02 (walk, run, jump, punch), unseen
by every prior. "Cross-domain" priors train on one group only (karate, 135). The 2D input is the exact
projection ("gt") or detector-like noise with confidences ("noisy", :func:`~posebook.data.pose_sets.detections`).

Priors (:mod:`posebook.diffusion`): a :class:`PriorSpec` names one: its SDE ("subvp": ZeDO's
score-matching prior; "vp": the DDPM / DDIM one of Table 5), whether training rotates poses at
random (Table 4's "RA"; flips are always on, as the official ``--rotflip``), and its training group.
Each (spec, seed) is trained once per data and code and kept as an artifact (:meth:`RunContext.cached`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from posebook import metrics
from posebook.data import pose_sets
from posebook.data.pose_sets import PoseSet
from posebook.data.world import WorldConfig, world_cache_key
from posebook.diffusion.prior import PosePrior
from posebook.diffusion.score_net import ScoreNet, ScoreNetConfig
from posebook.diffusion.sde import make_sde
from posebook.diffusion.training import PriorTraining, train_prior
from posebook.optim.zedo import ZeDOConfig, ZeDOResult, zedo
from posebook.runs import RunContext, code_hash, curve_json

#: Sizes per profile. quick: the book build on a 2-core CPU (small priors, early training); long:
#: longer-trained priors on that CPU (12000 steps: the held-out DSM of a 16000-step probe stopped
#: falling after ~9000; at 2000 or 8000 steps it still fell 4-10% over the last quarter); gpu: the
#: official network size and the paper's 886 test poses; full: the paper's training length. Every profile runs the paper's 1000 ZeDO iterations, 200 of
#: them warm-up, and its 500-step initial fit.
ZEDO = {
    "quick": dict(world_size=4000, test_poses=32, hidden=128, embed_dim=64, prior_steps=600, prior_batch=256,
                  prior_lr=1e-3, prior_warmup=50, hypotheses=5, iterations=1000, lifter_steps=1000,
                  lifter_width=256),
    "long": dict(world_size=8000, test_poses=48, hidden=256, embed_dim=128, prior_steps=12000, prior_batch=512,
                 prior_lr=1e-3, prior_warmup=100, hypotheses=50, iterations=1000, lifter_steps=3000,
                 lifter_width=512),
    "gpu": dict(world_size=16000, test_poses=886, hidden=1024, embed_dim=512, prior_steps=20000, prior_batch=4096,
                prior_lr=2e-4, prior_warmup=1000, hypotheses=50, iterations=1000, lifter_steps=10000,
                lifter_width=1024),
    "full": dict(world_size=32000, test_poses=886, hidden=1024, embed_dim=512, prior_steps=200000,
                 prior_batch=50000, prior_lr=2e-4, prior_warmup=5000, hypotheses=50, iterations=1000,
                 lifter_steps=50000, lifter_width=1024),
}

#: the world every ZeDO experiment reads (30 fps CMU frames, no images)
_FPS = 30.0
_WORLD_SEED = 0


@dataclass(frozen=True)
class PriorSpec:
    """Which prior: SDE ("subvp" score matching, "vp" DDPM/DDIM), random-rotation augmentation (RA),
    training group ("default": subjects 05, 09, 135; "martial": 135 only, the cross-domain prior)."""

    sde: str = "subvp"
    rotate: bool = False
    group: str = "default"

    @property
    def label(self) -> str:
        return f"{self.sde}{' +RA' if self.rotate else ''} ({self.group})"


MAIN = PriorSpec()
_GROUP_SPLITS = {"default": "default", "martial": "martial_to_everyday"}


@dataclass
class Data:
    """The chapter's data: training poses per group, the test poses, their 2D inputs per seed."""

    train: dict[str, PoseSet]
    test: PoseSet
    source: str
    world_key: str

    def inputs(self, kind: str, seed: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(keypoints (B, 17, 2), confidence (B, 17) or None) of the test poses: "gt" exact, "noisy"
        detector-like (drawn from seed ``seed``: the same noise for every row of a seed)."""
        if kind == "gt":
            return self.test.keypoints_2d, None
        if kind == "noisy":
            return pose_sets.detections(self.test, generator=torch.Generator().manual_seed(10**4 + seed))
        raise ValueError(f"2D input must be 'gt' or 'noisy', got {kind!r}")


def load_data(ctx: RunContext, sizes: dict) -> Data:
    """The pose sets of a run (the world is built once and cached; ~25 s for 4000 poses)."""
    cmu = str(ctx.cmu_dir) if ctx.cmu_dir else None
    full = pose_sets.build_pose_set(sizes["world_size"], seed=_WORLD_SEED, fps=_FPS, cmu_dir=cmu)
    train = {g: pose_sets.split_preset(full, split)[0] for g, split in _GROUP_SPLITS.items()}
    _, test = pose_sets.split_preset(full, "default")
    n = min(sizes["test_poses"], len(test))
    test = test.subset(np.linspace(0, len(test) - 1, n).round().astype(int))
    key = world_cache_key(WorldConfig(size=sizes["world_size"], seed=_WORLD_SEED, source="auto", render=False,
                                      joint_sets=("h36m17",), vertex_subset=None, fps_subsample=_FPS, cmu_dir=cmu))
    source = (f"{full.source}; priors train on {', '.join(f'{g}: {len(p)} poses' for g, p in train.items())}; "
              f"{n} test poses of the held-out subjects")
    return Data(train, test, source, key)


# -------------------------------------------------------------------------------- priors


def prior_training(sizes: dict, spec: PriorSpec) -> PriorTraining:
    """The training settings of a profile: Adam, linear warm-up, gradient clip 1, flips on, and a
    CONSTANT learning rate after the warm-up, as the official code (the paper says cosine decay,
    ``PriorTraining(schedule="cosine")``): a run annealed to lr 0 has a flat learning curve whether
    it is trained or not, so the convergence rule could not tell an undertrained prior."""
    return PriorTraining(steps=sizes["prior_steps"], batch=sizes["prior_batch"], lr=sizes["prior_lr"],
                         warmup=sizes["prior_warmup"], schedule="constant", rotate=spec.rotate, flip=True,
                         eval_every=max(1, sizes["prior_steps"] // 16))


def net_config(sizes: dict) -> ScoreNetConfig:
    return ScoreNetConfig(hidden=sizes["hidden"], embed_dim=sizes["embed_dim"])


@dataclass
class Trained:
    """A trained prior with the record its rows carry (the held-out DSM learning curve)."""

    prior: PosePrior
    curve: str
    tail_lr: float
    steps: int


def trained_priors(ctx: RunContext, data: Data, sizes: dict, spec: PriorSpec, seeds: Sequence[int]) -> list[Trained]:
    """One prior per seed for ``spec``, trained once per (data, sizes, code) and cached."""
    training, net = prior_training(sizes, spec), net_config(sizes)
    base = {"world": data.world_key, "group": spec.group, "sde": spec.sde, "training": dataclasses.asdict(training),
            "net": dataclasses.asdict(net), "code": code_hash("posebook.diffusion.training"),
            "data": ctx.data_digests()}

    def compute(keys: list[dict]) -> list[dict]:
        out = []
        for key in keys:
            poses = data.train[spec.group].poses
            tp = train_prior(poses, sde=spec.sde, net=net, training=training, seed=key["seed"], device=ctx.device,
                             valid=data.test.poses)
            out.append({"state": tp.raw_state, "history": tp.history.to_dict("list")})
        return out

    values = ctx.cached("zedo.prior", [{**base, "seed": s} for s in seeds], compute)
    result = []
    for value in values:
        model = ScoreNet(net).to(ctx.device)
        model.load_state_dict(value["state"])
        model.eval()
        sde = make_sde(spec.sde)
        hist = value["history"]
        result.append(Trained(PosePrior(model, sde, method="reverse_sde" if spec.sde == "subvp" else "ddim"),
                              curve_json(hist["step"], hist["valid_dsm"]), float(hist["lr"][-1]), training.steps))
    return result


# -------------------------------------------------------------------------------- runs


def initial_poses(kind: str, data: Data, spec: PriorSpec, S: int, seed: int, prior: PosePrior) -> torch.Tensor:
    """(S, 17, 3) initial poses (ZeDO Table 7): k-means centres of the prior's training poses
    ("kmeans", scikit-learn, camera frame), random training poses ("random") or prior samples ("generate")."""
    train = data.train[spec.group].poses
    if kind == "kmeans":
        return pose_sets.kmeans_poses(train, S, seed=seed)
    if kind == "random":
        return pose_sets.random_training_poses(train, S, torch.Generator().manual_seed(2 * 10**4 + seed))
    if kind == "generate":
        x = prior.sample(S, generator=torch.Generator().manual_seed(3 * 10**4 + seed), device=prior.net.out.weight.device)
        return (x - x[:, :1]).cpu()
    raise ValueError(f"initial poses must be 'kmeans', 'random' or 'generate', got {kind!r}")


def score(result: ZeDOResult, target: torch.Tensor, hyps: slice) -> dict[str, float]:
    """Dataset means over the test poses (mm, %) of the hypotheses ``hyps``: MPJPE / PA-MPJPE of the
    first one, minMPJPE / min-PA-MPJPE over all, PCK / AUC of the best-MPJPE one (the official
    ``eval_multi``). Both sets are centred on the pelvis (the official code does not re-centre the
    prediction; ZeDO's output is root-relative up to the prior's error)."""
    H = result.hypotheses[:, hyps].to("cpu", torch.float64)
    g = target.to(torch.float64)
    per = metrics.mpjpe(H, g[:, None].expand_as(H), root=0)  # (B, S)
    best = H[torch.arange(len(H)), per.argmin(1)]
    out = {"mpjpe_mm": float(per[:, 0].mean()), "pa_mpjpe_mm": float(metrics.pa_mpjpe(H[:, 0], g).mean())}
    if H.shape[1] > 1:
        out.update(min_mpjpe_mm=float(metrics.min_mpjpe(H, g, root=0).mean()),
                   min_pa_mpjpe_mm=float(metrics.min_pa_mpjpe(H, g).mean()))
    out.update(pck=float(metrics.pck(best, g, root=0).mean()), auc=float(metrics.auc(best, g, root=0).mean()))
    return out


def run_rows(ctx: RunContext, data: Data, trained: Trained, spec: PriorSpec, seed: int, *, config: ZeDOConfig,
             inputs: Sequence[str], S_values: Sequence[int], init: str = "kmeans", **labels) -> list[dict]:
    """ZeDO on the test poses for every 2D input kind and hypothesis count, in ONE batched call:
    the inputs are stacked on the pose axis and the hypotheses of every S on the hypothesis axis
    (k-means with k = S for each S). One row per (input, S)."""
    inits = [initial_poses(init, data, spec, S, seed, trained.prior) for S in S_values]
    kp, conf = zip(*(data.inputs(kind, seed) for kind in inputs))
    B = len(data.test)
    confidence = None if all(c is None for c in conf) else torch.cat(
        [torch.ones(B, kp[0].shape[1]) if c is None else c for c in conf])
    result = zedo(trained.prior, torch.cat(kp), data.test.K.repeat(len(inputs), 1, 1), torch.cat(inits),
                  confidence=confidence, config=config, generator=torch.Generator().manual_seed(4 * 10**4 + seed))
    rows, start = [], 0
    for S, init_poses in zip(S_values, inits):
        for i, kind in enumerate(inputs):
            part = dataclasses.replace(result, hypotheses=result.hypotheses[i * B:(i + 1) * B])
            rows.append({**labels, "prior": spec.label, "input": kind, "S": S, "seed": seed,
                         **score(part, data.test.poses, slice(start, start + S)),
                         "iterations": config.iterations, "seconds": result.seconds["loop"],
                         "init_seconds": result.seconds["init"], "steps": trained.steps,
                         "tail_lr": trained.tail_lr, "curve_dsm": trained.curve})
        start += S
    return rows
