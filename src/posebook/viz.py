"""Matplotlib drawing helpers shared by the notebooks (no computation: inputs come from the package)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle


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
