"""Synthetic occlusion of person crops: the occluded test subset of the SGRE chapter.

Stands in for 3DPW-OCC (the occlusion subset of 3DPW that SGRE Tables 4 and 6 evaluate on) by
the synthetic occlusion augmentation of Sarandi et al. 2018 ("How robust is 3D human pose
estimation to occlusion?", also used by PARE): paste an object over the person. We have no Pascal
VOC object cut-outs, so the occluders are procedural: one rotated rectangle or ellipse per crop,
centred near a randomly chosen in-crop keypoint, filled with a two-colour wave texture (a sum of
three oriented sinusoids through a sigmoid of random sharpness: smooth blobs to hard stripes) and
a darker 1-pixel outline, so the network cannot learn to ignore one flat colour.

Limits: convex shapes with hard edges only (no real object silhouettes, no holes, no
transparency, no shading from the scene); one occluder per crop; occlusion is purely 2D (no depth
ordering with the person's own parts). Numbers on this subset are an analogue of 3DPW-OCC, not a
reproduction of it.

Conventions (those of :mod:`posebook.data.raster`): pixel (row i, column j) covers
[j, j+1) x [i, i+1) in (u, v) and is sampled at its centre (j + 0.5, i + 0.5); keypoints are
(u, v) crop pixel coordinates. A keypoint is occluded iff it lies in the crop and the pixel that
contains it, (floor(v), floor(u)), is an occluder pixel.

Determinism: all random numbers come from a local CPU ``torch.Generator`` seeded with ``seed``,
drawn as one (N, P) table of uniforms, so sample i's occluder depends only on (seed, i, its own
image and keypoints): the first samples are the same whatever N is. Everything per pixel is
elementwise (no reductions across samples), so results do not depend on the batch either. The
same seed on CPU and CUDA gives the same occluder parameters; texture colours may differ by one
level where sin rounds differently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["SHAPES", "Occlusion", "occlude"]

#: Occluder shapes ``occlude`` knows.
SHAPES = ("rectangle", "ellipse")
#: Aspect ratios (width / height) are log-uniform in [1 / _MAX_ASPECT, _MAX_ASPECT].
_MAX_ASPECT = 2.0
#: The centre is offset from the keypoint by up to this fraction of each half-axis (local frame):
#: 0.5 keeps the keypoint inside both shapes (0.5^2 + 0.5^2 < 1 for the ellipse).
_MAX_OFFSET = 0.5
#: Outline colour = fill colour times this.
_BORDER_DARKEN = 0.45
_WAVES = 3
# Columns of the table of uniforms: keypoint, area, aspect, angle, offset (2), shape, colour 1 (3),
# colour 2 (3), sharpness, then (frequency, direction, phase) per wave.
_N_PARAMS = 13 + 3 * _WAVES


@dataclass
class Occlusion:
    """Occluded crops and what was covered.

    Attributes:
        images: (N, S, S, 3) uint8 occluded crops (every mask pixel differs from the input, every
            other pixel is the input's).
        masks: (N, S, S) bool occluder pixels.
        occluded: (N, J) bool, keypoint lies in an occluder pixel.
        coverage: (N,) float32 fraction of the person's pixels covered (of the crop without a
            person mask; 0 for an empty person mask).
        chosen: (N,) int64 index of the keypoint the occluder was placed on (-1: no keypoint in
            the crop, placed on the crop centre).
    """

    images: torch.Tensor
    masks: torch.Tensor
    occluded: torch.Tensor
    coverage: torch.Tensor
    chosen: torch.Tensor


def _check_inputs(images: torch.Tensor, keypoints: torch.Tensor, area: Sequence[float],
                  shapes: Sequence[str], person_mask: torch.Tensor | None) -> tuple[float, float]:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise ValueError(f"images must be a uint8 tensor (N, S, S, 3); got "
                         f"{getattr(images, 'dtype', type(images).__name__)}.")
    if images.ndim != 4 or images.shape[1] != images.shape[2] or images.shape[3] != 3:
        raise ValueError(f"images must have shape (N, S, S, 3) (square RGB crops); got {tuple(images.shape)}.")
    N = images.shape[0]
    if (not isinstance(keypoints, torch.Tensor) or keypoints.ndim != 3 or keypoints.shape[0] != N
            or keypoints.shape[2] != 2 or keypoints.shape[1] == 0):
        raise ValueError(f"keypoints must be a tensor (N, J, 2) with N={N} and J >= 1; got "
                         f"{tuple(getattr(keypoints, 'shape', ()))}.")
    if not keypoints.is_floating_point():
        raise ValueError(f"keypoints must be floating point pixel coordinates; got {keypoints.dtype}.")
    if len(area) != 2 or not 0.0 < float(area[0]) <= float(area[1]) < 1.0:
        raise ValueError(f"area must be (low, high) fractions of the crop with 0 < low <= high < 1; got {area!r}.")
    unknown = [s for s in shapes if s not in SHAPES]
    if not shapes or unknown:
        raise ValueError(f"shapes must be a non-empty subset of {SHAPES}; got {tuple(shapes)!r}.")
    if person_mask is not None and (person_mask.dtype != torch.bool or person_mask.shape != images.shape[:3]):
        raise ValueError(f"person_mask must be a bool tensor of shape {tuple(images.shape[:3])}; got "
                         f"{person_mask.dtype} {tuple(person_mask.shape)}.")
    return float(area[0]), float(area[1])


def occlude(images: torch.Tensor, keypoints: torch.Tensor, seed: int, *,
            area: tuple[float, float] = (0.08, 0.25), shapes: Sequence[str] = SHAPES,
            person_mask: torch.Tensor | None = None) -> Occlusion:
    """Paste one procedural occluder per crop over the body (Sarandi et al. 2018 style).

    Args:
        images: (N, S, S, 3) uint8 crops; keypoints: (N, J, 2) (u, v) crop pixel coordinates
            (NaN or outside the crop: never chosen, never occluded).
        seed: seeds a local generator (the global RNG is untouched).
        area: the occluder's area as a fraction of S^2, uniform in [low, high] (before clipping
            at the crop border and up to rasterisation at pixel centres).
        shapes: the shapes to draw from, uniformly (a subset of ``SHAPES``).
        person_mask: optional (N, S, S) bool person pixels, for ``coverage``.
    Returns:
        :class:`Occlusion`, on ``images.device``.
    """
    if isinstance(shapes, str):
        shapes = (shapes,)
    lo, hi = _check_inputs(images, keypoints, area, shapes, person_mask)
    N, S, device = images.shape[0], images.shape[1], images.device
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    # One row per sample, drawn serially: sample i's row does not depend on N.
    p = torch.rand(N, _N_PARAMS, generator=gen, dtype=torch.float64).to(device)
    kp = keypoints.to(device=device, dtype=torch.float64)

    # The keypoint: uniform among those inside the crop (a truncated limb is no target).
    inside = torch.isfinite(kp).all(-1) & (kp >= 0).all(-1) & (kp < S).all(-1)  # (N, J)
    count = inside.sum(-1)
    rank = torch.minimum((p[:, 0] * count).long(), (count - 1).clamp(min=0))
    hit = inside & (torch.cumsum(inside.long(), -1) - 1 == rank[:, None])
    chosen = torch.where(count > 0, hit.long().argmax(-1), torch.full_like(count, -1))
    target = torch.where((count > 0)[:, None], kp.gather(1, chosen.clamp(min=0)[:, None, None]
                                                         .expand(N, 1, 2))[:, 0], kp.new_full((N, 2), S / 2))

    # Size and shape: half-axes (a, b) with area fraction `frac` and aspect a / b = r.
    frac = lo + (hi - lo) * p[:, 1]
    r = torch.exp((2 * p[:, 2] - 1) * math.log(_MAX_ASPECT))
    is_ellipse = torch.tensor([s == "ellipse" for s in shapes], device=device)[
        (p[:, 6] * len(shapes)).long().clamp(max=len(shapes) - 1)]
    # Rectangle: 4ab = frac S^2; ellipse: pi ab = frac S^2.
    ab = frac * S * S / torch.where(is_ellipse, math.pi, 4.0)
    a, b = torch.sqrt(ab * r), torch.sqrt(ab / r)
    theta = math.pi * p[:, 3]
    c, s = torch.cos(theta), torch.sin(theta)
    # Offset in the occluder's frame, so the keypoint stays inside whatever the rotation.
    ox, oy = _MAX_OFFSET * a * (2 * p[:, 4] - 1), _MAX_OFFSET * b * (2 * p[:, 5] - 1)
    cx, cy = target[:, 0] - (c * ox - s * oy), target[:, 1] - (s * ox + c * oy)

    # Pixel centres against every sample's shape at once, in float32 (the per-pixel work is the
    # cost). The occluder-frame coordinates are affine in (u, v), so each is a column term plus a
    # row term: (N, 1, S) + (N, S, 1) -> (N, S, S), normalised by the half-axes.
    cx, cy, c, s, a, b, p = (t.float() for t in (cx, cy, c, s, a, b, p))
    centres = torch.arange(S, device=device, dtype=torch.float32) + 0.5
    du, dv = centres - cx[:, None], centres - cy[:, None]  # (N, S) column / row offsets
    x = ((c / a)[:, None] * du)[:, None, :] + ((s / a)[:, None] * dv)[:, :, None]
    y = ((-s / b)[:, None] * du)[:, None, :] + ((c / b)[:, None] * dv)[:, :, None]
    masks = torch.where(is_ellipse[:, None, None], x * x + y * y <= 1.0,
                        (x.abs() <= 1.0) & (y.abs() <= 1.0))

    # Texture in the occluder's frame (it moves with the object): 3 waves of 2-8 cycles per crop,
    # sin(A u + B v + C) = sin(A u + C) cos(B v) + cos(A u + C) sin(B v): sines of (N, K, S) only.
    w = p[:, 13:].reshape(N, _WAVES, 3)
    freq, direction, phase = 2 + 6 * w[..., 0], math.pi * w[..., 1], 2 * math.pi * w[..., 2]
    kx, ky = (2 * math.pi / S) * freq * torch.cos(direction), (2 * math.pi / S) * freq * torch.sin(direction)
    A, B = kx * c[:, None] - ky * s[:, None], kx * s[:, None] + ky * c[:, None]  # (N, K)
    arg_u = A[..., None] * du[:, None] + phase[..., None]  # (N, K, S)
    arg_v = B[..., None] * dv[:, None]
    # The texture is needed at the occluder pixels only (~ a sixth of the crop): gather there.
    flat = masks.reshape(-1).nonzero().squeeze(1)  # (M,) index n * S^2 + i * S + j
    sample = torch.div(flat, S * S, rounding_mode="floor")
    at_row = torch.div(flat, S, rounding_mode="floor")  # n * S + i
    at_col = sample * S + (flat - at_row * S)  # n * S + j
    su, cu = (f(arg_u).transpose(1, 2).reshape(N * S, _WAVES)[at_col] for f in (torch.sin, torch.cos))
    sv, cv = (f(arg_v).transpose(1, 2).reshape(N * S, _WAVES)[at_row] for f in (torch.sin, torch.cos))
    # Summed elementwise (no matmul): results do not depend on the batch.
    waves = (su * cv + cu * sv).sum(-1)  # (M,)
    sharp = (1 + 11 * p[:, 12])[sample]
    blend = torch.sigmoid((3.0 / _WAVES) * sharp * waves)[:, None]
    # Outline: occluder pixels with a 4-neighbour outside it (the crop edge does not count).
    inner = masks.clone()
    inner[:, 1:] &= masks[:, :-1]
    inner[:, :-1] &= masks[:, 1:]
    inner[:, :, 1:] &= masks[:, :, :-1]
    inner[:, :, :-1] &= masks[:, :, 1:]
    shade = torch.where(inner.reshape(-1)[flat], 255.0, 255.0 * _BORDER_DARKEN)[:, None]

    # The second colour is at least a quarter of the range from the first in every channel
    # (cyclically): the pattern always shows.
    colour1 = p[:, 7:10]
    colour2 = torch.remainder(colour1 + 0.25 + 0.5 * p[:, 10:13], 1.0)
    c1, c2 = colour1[sample], colour2[sample]  # (M, 3)
    fill = (shade * (c1 + (c2 - c1) * blend)).round().clamp(0, 255).to(torch.uint8)
    # A fill pixel equal to the input would hide the occluder from "changed pixels": nudge it by
    # one level so that masks are exactly the pixels that changed.
    out = images.clone()
    pixels = out.view(-1, 3)  # (N S S, 3) view of out
    same = (fill == pixels[flat]).all(-1)
    fill[:, 0] = torch.where(same & (fill[:, 0] < 255), fill[:, 0] + 1,
                             torch.where(same, fill[:, 0] - 1, fill[:, 0]))
    pixels[flat] = fill

    # Occluded keypoints: the pixel holding the keypoint is an occluder pixel.
    col = torch.nan_to_num(kp[..., 0], nan=-1.0).clamp(-1, S).floor().long().clamp(0, S - 1)
    row = torch.nan_to_num(kp[..., 1], nan=-1.0).clamp(-1, S).floor().long().clamp(0, S - 1)
    occluded = inside & masks.reshape(N, S * S).gather(1, row * S + col)
    if person_mask is None:
        coverage = masks.float().mean((1, 2))
    else:
        person = person_mask.to(device)
        total = person.sum((1, 2))
        coverage = (masks & person).sum((1, 2)) / total.clamp(min=1)
        coverage = coverage.float()
    return Occlusion(images=out, masks=masks, occluded=occluded, coverage=coverage, chosen=chosen)
