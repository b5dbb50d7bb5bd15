"""SGRE's premise checked on real motion: errors accumulate along the chain when relative rotations
are estimated (Eq. 8, Fig. 1b) and not when global rotations are (Eq. 10); and relative rotations
have smaller angles than global ones (Fig. 2).

Poses: CMU motion retargeted to Anny's ``cmu_mb`` rig (31 bones) through the synthetic world
(:mod:`posebook.data.world`, no renders; procedural poses when the CMU subset is absent, and the data
source says so). ``World.rotations`` are relative rotations whose root entry is the body's
orientation in the camera frame; bone heads come from forward kinematics on each sample's rest
skeleton (:class:`~posebook.body.anny_skeleton.AnnySkeleton`), root at the origin.

- ``sgre.noise_propagation`` (Fig. 1b): the same noise rotations injected into the relative or into
  the global rotations (:func:`posebook.analysis.chains.perturb_rotations`), errors measured along
  SGRE Fig. 4's three chains (:func:`posebook.analysis.chains.chain_errors`).
- ``sgre.angle_distribution`` (Fig. 2): the angles of the relative rotations and of the global
  rotations, the latter in three frames (camera, y-up world, the root's own frame).

The notebook ``notebooks/sgre/theory.md`` draws them with the functions below.
"""

from __future__ import annotations

from dataclasses import dataclass
import matplotlib.pyplot as plt
import pandas as pd
import torch

from posebook.analysis.chains import (
    ANGLE_DISTRIBUTIONS,
    SGRE_CHAINS,
    WHERE,
    chain_errors,
    perturb_rotations,
    resolve_chains,
)
from posebook.body import kinematics
from posebook.body.anny_skeleton import AnnySkeleton
from posebook.body.models import AnnyBody, shared_anny_body
from posebook.body.skeletons import ANNY_CMU_MB, ANNY_CMU_MB_PARENTS
from posebook.data.world import WorldConfig, build_world, world_data_source
from posebook.experiments.registry import ExperimentResult, experiment
from posebook.geometry.rotations import geodesic_distance
from posebook.parameters import between, one_of
from posebook.runs import RunContext, scaled_presets

__all__ = [
    "SIZES",
    "ROTATION_KINDS",
    "Poses",
    "load_poses",
    "rotation_angles",
    "kinematics_check",
    "noise_propagation",
    "angle_distribution",
    "chain_summary",
    "draw_noise_propagation",
    "draw_angle_distribution",
    "draw_chain_noise",
]

#: Sizes per profile: world samples (CMU frames), scaled by the profile (quick 256 ... full 5120).
SIZES = scaled_presets({"samples": 256}, ("samples",))

#: The rotations whose angles ``sgre.angle_distribution`` reports, with what each one is. SGRE Eq. 8
#: includes theta_1, the root's orientation as the regressor predicts it (camera frame), so the
#: paper's "global" rotation is read here as ``global (camera)``; Fig. 2 prints no numbers, so
#: whether it dropped the root's orientation cannot be checked.
ROTATION_KINDS: dict[str, str] = {
    "relative": "R_k, w.r.t. the parent (R_0: the root's orientation in the camera frame)",
    "global (camera)": "G_k = G_pa(k) R_k (SGRE Eq. 8), camera frame (x right, y down, z forward)",
    "global (world)": "W^T G_k, the y-up world frame (W: world-to-camera rotation; heading included)",
    "global (body)": "G_0^T G_k, the root's own frame (the pose without its global orientation)",
}

_WORLD = dict(fps_subsample=10.0, joint_sets=("h36m17",), render=False)


# ------------------------------------------------------------------------------------------- poses


@dataclass
class Poses:
    """N posed Anny bodies (float64, on the run's device).

    Attributes:
        rotations: (N, 31, 3, 3) relative rotations (``[:, 0]``: root orientation, camera frame).
        shape: (N, 6) Anny phenotypes.
        heads: (N, 31, 3) posed bone heads (the rotation pivots), root at the origin, camera axes, m.
        world_to_cam: (N, 3, 3) the y-up world frame -> camera frame rotation.
        source: the data source line.
        meta: per-sample provenance (the world's ``meta``).
    """

    rotations: torch.Tensor
    shape: torch.Tensor
    heads: torch.Tensor
    world_to_cam: torch.Tensor
    source: str
    meta: pd.DataFrame

    def __len__(self) -> int:
        return int(self.rotations.shape[0])


def _skeleton(device: torch.device, body: AnnyBody | None = None) -> AnnySkeleton:
    body = body if body is not None else shared_anny_body(str(device))
    return AnnySkeleton(body).to(device=device, dtype=torch.float64)


def load_poses(ctx: RunContext, samples: int, body: AnnyBody | None = None) -> Poses:
    """``samples`` world bodies (seed ``ctx.seed``; CMU when ``ctx.cmu_dir`` is set, else procedural),
    built or loaded from the default world cache, with their bone heads by forward kinematics."""
    source, cmu_dir = ("cmu", str(ctx.cmu_dir)) if ctx.cmu_dir else ("procedural", None)
    config = WorldConfig(size=int(samples), seed=ctx.seed, source=source, cmu_dir=cmu_dir, **_WORLD)
    body = body if body is not None else shared_anny_body(str(ctx.device))
    world = build_world(config, device=ctx.device, progress=False, body=body)
    rotations = world.rotations.to(device=ctx.device, dtype=torch.float64)
    shape = world.shape.to(device=ctx.device, dtype=torch.float64)
    with torch.no_grad():
        heads, _ = _skeleton(ctx.device, body)(rotations, shape)
    return Poses(rotations, shape, heads, world.world_to_cam.to(device=ctx.device, dtype=torch.float64),
                 world_data_source(world), world.meta)


def rotation_angles(poses: Poses) -> dict[str, torch.Tensor]:
    """The rotation angle (deg) of every joint's rotation, per kind of :data:`ROTATION_KINDS`.

    Angle of a rotation R: ``geodesic_distance(I, R)`` in [0, 180] deg.

    Returns:
        ``{kind: (N, 31)}``.
    """
    R = poses.rotations
    G = kinematics.relative_to_global(R, ANNY_CMU_MB_PARENTS)
    eye = torch.eye(3, dtype=R.dtype, device=R.device)
    kinds = {"relative": R, "global (camera)": G,
             "global (world)": poses.world_to_cam.transpose(-1, -2)[:, None] @ G,
             "global (body)": G[:, :1].transpose(-1, -2) @ G}
    return {k: torch.rad2deg(geodesic_distance(eye, M, check=False)) for k, M in kinds.items()}


def kinematics_check(poses: Poses, body: AnnyBody | None = None, count: int = 4) -> pd.DataFrame:
    """SGRE Eq. 8 and Eq. 10 against Anny's own forward kinematics on ``count`` poses.

    Anny poses its bones with its own transform chain (``AnnyBody``, float32); its posed bone frames
    give the global rotations ``G_anny`` and bone heads independently of :mod:`posebook.body.kinematics`.
    Rows (max absolute differences): Eq. 8 (``relative_to_global(R)`` vs ``G_anny``), Eq. 10
    (``global_to_relative(G_anny)`` vs R), the product written out along the root->hand chain vs
    ``relative_to_global``, and the heads ``h_j = h_pa(j) + G_pa(j) (rest_j - rest_pa(j))`` vs Anny's.
    """
    body = body if body is not None else shared_anny_body(str(poses.rotations.device))
    R, shape = poses.rotations[:count], poses.shape[:count]
    dtype = body.axes.dtype
    with torch.no_grad():
        out = body(R.to(dtype), shape.to(dtype))
        rest = body.rest_joints(shape.to(dtype)).double()
    G_anny, heads_anny = out.global_rotations.double(), out.joints.double()
    G = kinematics.relative_to_global(R, ANNY_CMU_MB_PARENTS)
    path = resolve_chains(chains={"root->hand": "LeftHand"})["root->hand"]
    product = R[:, path[0]]
    for j in path[1:]:
        product = product @ R[:, j]
    parent = torch.tensor(ANNY_CMU_MB_PARENTS[1:], device=R.device)
    bones = (G[:, parent] @ (rest[:, 1:] - rest[:, parent])[..., None]).squeeze(-1)
    # a head is its parent's head plus its rotated rest bone, in topological order (31 joints)
    positions = [heads_anny[:, 0]]
    for j in range(1, len(ANNY_CMU_MB_PARENTS)):
        positions.append(positions[ANNY_CMU_MB_PARENTS[j]] + bones[:, j - 1])
    heads = torch.stack(positions, 1)
    rows = [
        ("Eq. 8: relative_to_global(R) vs Anny's global rotations", float((G - G_anny).abs().max()), "matrix entries"),
        ("Eq. 10: global_to_relative(Anny's G) vs R",
         float((kinematics.global_to_relative(G_anny, ANNY_CMU_MB_PARENTS) - R).abs().max()), "matrix entries"),
        ("Eq. 8 written out: R_0 R_6 R_7 R_8 R_9 R_10 R_11 R_12 vs G_LeftHand",
         float((product - G[:, path[-1]]).abs().max()), "matrix entries"),
        ("heads h_j = h_pa(j) + G_pa(j) (rest_j - rest_pa(j)) vs Anny's heads",
         float((heads - heads_anny).abs().max()) * 1000.0, "mm"),
    ]
    return pd.DataFrame(rows, columns=["check", "max_abs_difference", "unit"])


# ------------------------------------------------------------------------------------ Fig. 1b


@experiment("sgre.noise_propagation",
            checks={"sigmas": between(0, 90), "angles": one_of(*ANGLE_DISTRIBUTIONS)})
def noise_propagation(ctx: RunContext, sigmas: tuple = (2.0, 5.0, 10.0), angles: str = "half_normal",
                      samples: int = 0) -> ExperimentResult:
    """SGRE Fig. 1b: errors along root->head/toe/hand when the relative or the global rotations are noisy.

    Every joint's rotation gets an independent noise rotation (uniform axis, angle ``|N(0, sigma)|`` or
    sigma), either relative (``R_k E_k``: Eq. 8 then carries it down the chain) or global
    (``G_k E_k``, converted back by Eq. 10). Per seed, one noise draw shared by both cases and all
    sigmas (the angles scale with sigma: a paired comparison). One row per (where, sigma, seed, chain,
    depth): mean over the poses of the root-aligned bone-head error (mm), the global and the relative
    rotation geodesic errors (deg).
    """
    sizes = ctx.sizes(SIZES, samples=samples)
    poses = load_poses(ctx, sizes["samples"])
    sk = _skeleton(ctx.device)
    frames = []
    for seed in ctx.seeds():
        for where in WHERE:
            for sigma in sigmas:
                g = torch.Generator().manual_seed(seed)
                pred = perturb_rotations(poses.rotations, ANNY_CMU_MB_PARENTS, float(sigma), where, g,
                                         angles=angles, check=False)
                with torch.no_grad():
                    heads, _ = sk(pred, poses.shape)
                frame = chain_errors(pred, poses.rotations, heads, poses.heads, check=False)
                frame.insert(0, "seed", seed)
                frame.insert(0, "sigma_deg", float(sigma))
                frame.insert(0, "where", where)
                frames.append(frame)
    source = (f"{poses.source}: {len(poses)} poses; noise: uniform axis, angle "
              f"{'|N(0, sigma)|' if angles == 'half_normal' else 'sigma'}, {len(ctx.seeds())} seeds")
    return ExperimentResult(pd.concat(frames, ignore_index=True), source)


# ------------------------------------------------------------------------------------- Fig. 2


def _quantile_name(q: float) -> str:
    return f"q{100 * float(q):g}_deg"


@experiment("sgre.angle_distribution", checks={"quantiles": between(0, 1, closed=True)})
def angle_distribution(ctx: RunContext, quantiles: tuple = (0.1, 0.25, 0.5, 0.75, 0.9),
                       samples: int = 0) -> ExperimentResult:
    """SGRE Fig. 2: the rotation angles of relative and of global rotations on real motion.

    Angles (deg) of R_k and of G_k in three frames (:data:`ROTATION_KINDS`: camera, y-up world, the
    root's own frame). One row per (rotation kind, chain, depth, joint): mean, sd and quantiles over
    the poses, for the 31 joints (chain "all joints", depth = depth in the tree) and along SGRE
    Fig. 4's three chains (depth = position on the chain).
    """
    sizes = ctx.sizes(SIZES, samples=samples)
    poses = load_poses(ctx, sizes["samples"])
    angles = rotation_angles(poses)
    q = torch.tensor([float(v) for v in quantiles], dtype=torch.float64, device=poses.rotations.device)
    groups = [("all joints", list(enumerate(kinematics.depth(ANNY_CMU_MB_PARENTS))))]
    groups += [(label, [(j, d) for d, j in enumerate(path)]) for label, path in resolve_chains().items()]
    rows = []
    for kind, values in angles.items():
        mean, sd = values.mean(0).tolist(), values.std(0).tolist()
        quant = torch.quantile(values, q, dim=0).T.tolist() if len(q) else [[] for _ in range(values.shape[1])]
        for chain, joints in groups:
            for j, depth in joints:
                rows.append({"rotation": kind, "chain": chain, "depth": depth, "joint": ANNY_CMU_MB[j],
                             "mean_deg": mean[j], "sd_deg": sd[j],
                             **{_quantile_name(v): quant[j][i] for i, v in enumerate(quantiles)},
                             "samples": len(poses)})
    return ExperimentResult(pd.DataFrame(rows), f"{poses.source}: {len(poses)} poses")


def chain_summary(frame: pd.DataFrame, skip_root: bool = True) -> pd.DataFrame:
    """Fig. 2's bars from ``sgre.angle_distribution``: per chain and rotation kind, the mean angle over
    the chain's joints (without the root: its relative and camera-frame global rotation are one
    rotation, and its body-frame one is the identity)."""
    part = frame[frame["chain"] != "all joints"]
    if skip_root:
        part = part[part["depth"] > 0]
    return (part.groupby(["chain", "rotation"], sort=False)["mean_deg"].mean().unstack("rotation")
            .reindex(columns=[k for k in ROTATION_KINDS if k in set(part["rotation"])]))


# ----------------------------------------------------------------------------------------- figures


def draw_noise_propagation(frame: pd.DataFrame,
                           metrics: tuple[str, ...] = ("global_deg", "position_mm")) -> plt.Figure:
    """Fig. 1b from ``sgre.noise_propagation``: each metric along each chain, relative noise (solid)
    vs global noise (dashed), one colour per sigma; the band is the spread over seeds (seaborn)."""
    import seaborn as sns

    labels = {"global_deg": "global rotation error (deg)", "relative_deg": "relative rotation error (deg)",
              "position_mm": "bone-head error (mm)"}
    chains = list(dict.fromkeys(frame["chain"]))
    sigmas = sorted(frame["sigma_deg"].unique())
    palette = dict(zip(sigmas, sns.color_palette(n_colors=len(sigmas))))
    fig, axes = plt.subplots(len(metrics), len(chains), figsize=(4.2 * len(chains), 3.1 * len(metrics)),
                             sharey="row", squeeze=False)
    for col, chain in enumerate(chains):
        part = frame[frame["chain"] == chain]
        names = part.drop_duplicates("depth").sort_values("depth")["joint"].tolist()
        for row, metric in enumerate(metrics):
            ax = axes[row, col]
            sns.lineplot(data=part, x="depth", y=metric, hue="sigma_deg", style="where", palette=palette,
                         style_order=list(WHERE), markers=True, dashes={"relative": "", "global": (4, 2)},
                         errorbar=("pi", 100), ax=ax, legend=(row == 0 and col == len(chains) - 1))
            ax.set_ylabel(labels.get(metric, metric) if col == 0 else "")
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names if row == len(metrics) - 1 else [], rotation=45, ha="right", fontsize=8)
            ax.set_xlabel("")
        axes[0, col].set_title(chain)
    legend = axes[0, -1].get_legend()
    if legend is not None:
        sns.move_legend(axes[0, -1], "upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    fig.tight_layout()
    return fig


def draw_angle_distribution(frame: pd.DataFrame) -> plt.Figure:
    """Fig. 2 from ``sgre.angle_distribution``: (left) per chain, the mean angle over its joints (root
    excluded) per rotation kind; (right) the median and inter-quartile range along root->hand."""
    import seaborn as sns

    kinds = [k for k in ROTATION_KINDS if k in set(frame["rotation"])]
    palette = dict(zip(kinds, sns.color_palette(n_colors=len(kinds))))
    summary = chain_summary(frame).reset_index().melt(id_vars="chain", var_name="rotation", value_name="mean_deg")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1, 1.3]})
    sns.barplot(data=summary, x="chain", y="mean_deg", hue="rotation", hue_order=kinds, palette=palette, ax=left)
    left.set_ylabel("mean rotation angle (deg)")
    left.set_xlabel("")
    left.legend(fontsize=8, title=None)
    part = frame[frame["chain"] == "root->hand"]
    for kind in kinds:
        rows = part[part["rotation"] == kind].sort_values("depth")
        right.plot(rows["depth"], rows["q50_deg"], marker="o", color=palette[kind], label=kind)
        if {"q25_deg", "q75_deg"} <= set(rows.columns):
            right.fill_between(rows["depth"], rows["q25_deg"], rows["q75_deg"], color=palette[kind], alpha=0.2)
    names = part.drop_duplicates("depth").sort_values("depth")["joint"].tolist()
    right.set_xticks(range(len(names)))
    right.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    right.set_ylabel("rotation angle (deg): median, IQR")
    right.set_title("root->hand")
    fig.tight_layout()
    return fig


def draw_chain_noise(poses: Poses, index: int = 0, chain: str = "root->hand", sigma_deg: float = 10.0,
                     draws: int = 12, seed: int = 0, body: AnnyBody | None = None) -> plt.Figure:
    """One pose (grey, its ``chain`` black) and the chain of ``draws`` noisy copies of it (colours, end
    joint dotted), relative noise (left) and global noise (right): the relative copies fan out towards
    the chain's end (Eq. 8). Drawn in the y-up world frame, root at the origin; ``chain`` is a label of
    :data:`~posebook.analysis.chains.SGRE_CHAINS` or an end joint's name."""
    from posebook import viz

    R, shape = poses.rotations[index:index + 1], poses.shape[index:index + 1]
    to_world = poses.world_to_cam[index].transpose(-1, -2)
    end = SGRE_CHAINS.get(chain, chain)
    path = resolve_chains(chains={chain: end})[chain]
    sk = _skeleton(R.device, body)
    fig = plt.figure(figsize=(9, 4.6))
    for col, where in enumerate(WHERE):
        ax = fig.add_subplot(1, 2, col + 1, projection="3d")
        g = torch.Generator().manual_seed(seed)
        noisy = perturb_rotations(R.expand(draws, -1, -1, -1), ANNY_CMU_MB_PARENTS, sigma_deg, where, g, check=False)
        with torch.no_grad():
            heads, _ = sk(torch.cat([R, noisy]), shape.expand(draws + 1, -1))
        points = (heads @ to_world.T).cpu()
        viz.draw_skeleton_3d(ax, points[0], ANNY_CMU_MB_PARENTS, color="0.65", lw=1.2, s=3)
        for k in range(1, draws + 1):
            xyz = points[k, path][:, [0, 2, 1]].numpy()
            ax.plot(*xyz.T, color=f"C{k % 10}", lw=0.9, alpha=0.8)
            ax.scatter(*xyz[-1], color=f"C{k % 10}", s=10, depthshade=False)
        ax.plot(*points[0, path][:, [0, 2, 1]].numpy().T, color="k", lw=2.5)
        viz.equal_aspect_3d(ax, points)
        ax.set_box_aspect((1, 1, 1), zoom=1.45)
        ax.view_init(elev=10, azim=-70)
        ax.set_title(f"{where} noise, sigma = {sigma_deg:g} deg: {chain}", fontsize=10)
        ax.set_axis_off()
    fig.subplots_adjust(left=0.0, right=1.0, bottom=0.0, top=0.92, wspace=0.0)
    return fig
