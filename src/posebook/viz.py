"""Drawing helpers shared by the notebooks, and the book's one plotting theme (no computation: inputs
come from the package).

:func:`set_theme` is called once at the top of every notebook: seaborn's ``ticks`` style with a
colour-blind-safe palette, so every figure of the book looks alike. :func:`seed_spread` draws a
metric over seeds (one dot per seed, the mean as a bar) with seaborn, the figure the tables' "mean ±
sd over seeds" summarises.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

#: The book's palette (seaborn's colour-blind-safe "colorblind").
PALETTE = "colorblind"


def set_theme(context: str = "notebook", font_scale: float = 0.9) -> None:
    """The one plotting theme of the book (seaborn ``ticks`` style, colour-blind palette, no top/right spines)."""
    import seaborn as sns

    sns.set_theme(context=context, style="ticks", palette=PALETTE, font_scale=font_scale,
                  rc={"axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100,
                      "savefig.bbox": "tight", "legend.frameon": False})


def seed_spread(ax: Axes, frame, x: str, y: str, hue: str | None = None, order: Sequence[str] | None = None,
                log: bool = False) -> Axes:
    """A metric over seeds: one dot per run (seed), a bar at the mean, drawn with seaborn.

    Args:
        frame: tidy result frame, one row per (group, seed).
        x: the grouping column (e.g. "variant"); y: the metric column; hue: an optional second grouping.
    """
    import seaborn as sns

    sns.barplot(data=frame, x=x, y=y, hue=hue, order=order, ax=ax, errorbar=None, alpha=0.35,
                legend=hue is not None)
    sns.stripplot(data=frame, x=x, y=y, hue=hue, order=order, ax=ax, dodge=hue is not None, size=5,
                  legend=False, jitter=0.15)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("")
    return ax


def _np(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def draw_skeleton_2d(ax: Axes, uv: torch.Tensor | np.ndarray, parents: Sequence[int], color: str = "C0",
                     label: str | None = None, **kw) -> None:
    """Bones as segments from each joint to its parent; ``uv`` (J, 2)."""
    pts = _np(uv)
    for j, p in enumerate(parents):
        if p >= 0:
            ax.plot(*zip(pts[p], pts[j]), color=color, lw=kw.get("lw", 1.5),
                    label=label if (label and j == 1) else None)
    ax.scatter(pts[:, 0], pts[:, 1], s=kw.get("s", 6), color=color, zorder=3)


def draw_image_frame(ax: Axes, image_size: tuple[int, int], title: str | None = None) -> None:
    """Axes in pixel coordinates, v pointing down, the image border drawn."""
    W, H = image_size
    ax.add_patch(Rectangle((0, 0), W, H, fill=False, color="k", lw=1))
    ax.set_xlim(-0.05 * W, 1.05 * W)
    ax.set_ylim(1.05 * H, -0.05 * H)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=10)


def draw_bbox(ax: Axes, center: torch.Tensor, size: torch.Tensor, color: str = "C3", **kw) -> None:
    c, b = _np(center), float(_np(size))
    ax.add_patch(Rectangle((c[0] - b / 2, c[1] - b / 2), b, b, fill=False, color=color, lw=1.2, **kw))
    ax.plot(*c, "+", color=color)


def draw_frame_3d(ax, R: torch.Tensor | np.ndarray, origin=(0.0, 0.0, 0.0), scale: float = 1.0,
                  label: str = "", alpha: float = 1.0) -> None:
    """The three columns of ``R`` (3, 3) as red/green/blue arrows on a 3D axes."""
    M, o = _np(R), np.asarray(origin)
    for k, c in enumerate("rgb"):
        ax.quiver(*o, *(scale * M[:, k]), color=c, alpha=alpha, arrow_length_ratio=0.1)
    if label:
        ax.text(*(o + scale * M[:, 0]), label, fontsize=8)


def new_figure(ncols: int, width: float = 4.0, height: float = 3.4, **kw):
    return plt.subplots(1, ncols, figsize=(width * ncols, height), **kw)


# ----------------------------------------------------------------- images, keypoints, 3D skeletons


def show_image(ax: Axes, image: torch.Tensor | np.ndarray, title: str | None = None) -> None:
    """An (H, W, 3) image in continuous pixel coordinates: pixel (row i, column j) covers
    [j, j + 1) x [i, i + 1), so points from ``camera.project`` land where the renderer drew them."""
    img = _np(image)
    H, W = img.shape[:2]
    ax.imshow(img, extent=(0, W, H, 0), interpolation="nearest")
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def draw_keypoints(ax: Axes, uv: torch.Tensor | np.ndarray, edges: Sequence[tuple[int, int]],
                   color: str = "w", label: str | None = None, lw: float = 1.0, s: float = 6,
                   **kw) -> None:
    """Keypoints ``uv`` (J, 2) as dots joined by ``edges`` (pairs of joint indices, e.g.
    ``joints.skeleton_edges(name)``)."""
    pts = _np(uv)
    for k, (a, b) in enumerate(edges):
        ax.plot(*zip(pts[a], pts[b]), color=color, lw=lw, label=label if k == 0 else None, **kw)
    ax.scatter(pts[:, 0], pts[:, 1], s=s, color=color, zorder=3, edgecolors="none")


def draw_skeleton_3d(ax, xyz: torch.Tensor | np.ndarray, parents: Sequence[int], color: str = "C0",
                     label: str | None = None, lw: float = 1.5, s: float = 8) -> None:
    """A y-up skeleton (J, 3) on a matplotlib 3D axes, drawn with y as the vertical axis
    (matplotlib's z): plotted as (x, z, y)."""
    pts = _np(xyz)[:, [0, 2, 1]]
    first = True
    for j, p in enumerate(parents):
        if p >= 0:
            ax.plot(*zip(pts[p], pts[j]), color=color, lw=lw, label=label if first else None)
            first = False
    ax.scatter(*pts.T, s=s, color=color, depthshade=False)


def equal_aspect_3d(ax, xyz: torch.Tensor | np.ndarray, margin: float = 0.05) -> None:
    """Equal scale on the three axes of a 3D plot made with :func:`draw_skeleton_3d` (y up)."""
    pts = _np(xyz).reshape(-1, 3)[:, [0, 2, 1]]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2 + margin
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_box_aspect((1, 1, 1))


def part_legend(ax: Axes, names: Sequence[str], colors: torch.Tensor | np.ndarray, ncol: int = 5,
                **kw) -> None:
    """A legend of colour patches, one per part (``render.PART_NAMES`` / ``PART_COLORS``)."""
    from matplotlib.patches import Patch

    rgb = _np(colors) / 255.0
    handles = [Patch(facecolor=c, edgecolor="0.3", label=n.replace("_", " ")) for n, c in zip(names, rgb)]
    ax.legend(handles=handles, ncol=ncol, fontsize=7, frameon=False, **kw)
