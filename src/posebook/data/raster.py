"""Batched z-buffer rasterizer in torch: the part-coloured renders of :mod:`posebook.data.render`,
fast.

Why: ``render.render_parts`` casts rays with Embree, which needs a BVH per mesh; at the crop sizes
of this book (64 x 64) building it costs more than the rays (~33 ms per crop, ~20 ms of it in
embreex's element-by-element buffer copies), too slow for the thousands of training crops of the
CLIFF, SGRE and PersPose chapters. A body mesh at 64 px has ~27k triangles that cover a few pixel
centres each, so scan conversion (test only the pixel centres in each triangle's bounding box)
is cheap and vectorises over triangles AND samples: no BVH, no per-sample Python loop, and it
runs unchanged on CUDA.

Contract: exactly that of ``render.render_parts`` (same arguments, outputs, dtypes, palette,
shading ``0.5 + 0.5 |cos(normal, ray)|``, labels -1 on background, results on
``vertices.device``, same input errors via ``render._check_inputs``) and the module conventions
of :mod:`posebook.data.render`: camera-frame vertices, pixel (row i, column j) sampled at its
centre (u, v) = (j + 0.5, i + 0.5), z-depth. Differences:

- Every vertex must lie in front of the camera, z >= ``MIN_DEPTH`` (1e-6 m); otherwise
  ValueError (no near-plane clipping; Embree would draw the part in front). The synthetic world
  keeps bodies >= 0.1 m away.
- A pixel centre lying (within float32 rounding) on a triangle edge may be assigned to the other
  triangle of that edge, or on a silhouette edge be drawn where Embree misses it (and vice
  versa), and two surfaces within float32 rounding of each other may swap. On 512 crops (64 px)
  of a CMU world and 128 of its 256 x 192 frames (8.4 M pixels) the two renderers differed on
  no mask pixel, 1 label pixel and 5 colours; where both hit the same face colours agree bit
  for bit and depths exactly (the same float64 plane solve). tests/test_raster.py checks it.

Algorithm, per group of samples (all steps batched):

1. Project the vertices (float64, then float32 screen coordinates) and ``w = 1 / z``.
2. Per face: pixel-centre bounding box (column j is inside iff u_min <= j + 0.5 <= u_max),
   clipped to the image; faces with no pixel centre or zero screen area are dropped.
3. Candidate (face, pixel) pairs are enumerated with ``repeat_interleave`` in pieces of at most
   ``max_candidates`` pairs (memory bound).
4. Inside test: the three edge functions of the pixel centre all >= 0 or all <= 0 (both
   windings: back faces are drawn, as Embree does not cull). Points on a shared edge belong to
   both triangles; the depth test and the tie break below pick one, so there are no cracks.
5. Perspective-correct depth: 1 / z is affine in screen space, so ``1 / z = sum_k l_k w_k``
   with the screen-space barycentrics ``l_k``.
6. Z-buffer: one ``scatter_reduce(..., "amin")`` on the int64 key ``(bits of float32 z) << 32 |
   face``; positive floats order like their bit patterns, so the key's minimum is the nearest
   candidate and, among equal depths, the smallest face index. ``amin`` does not depend on the
   order of the candidates, so results are deterministic and independent of batching.
7. Shading, labels and depth of the winning face per pixel, in float64 with ``render_parts``'s
   formulas (normal of the camera-frame triangle, cos against the pixel's ray, depth from the
   triangle's plane along the ray).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from posebook.data.render import _AMBIENT, PART_COLORS, PartRenderer, _check_inputs

__all__ = ["MIN_DEPTH", "PartRasterizer", "rasterize_parts"]

#: Vertices must have camera-frame z >= this (metres): the rasterizer does not clip at a near plane.
MIN_DEPTH = 1e-6
#: Default bound on candidate (face, pixel) pairs held at once (~40 bytes each while testing).
DEFAULT_MAX_CANDIDATES = 1 << 22
_NO_HIT = torch.iinfo(torch.int64).max


def _project(vertices: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(G, V, 2) float32 pixel coordinates ``camera.project`` would give, and (G, V) float32 1/z.

    Written out elementwise (no matmul) so that a sample's result does not depend on the batch it
    is in.
    """
    v = vertices.to(torch.float64)
    K = K.to(torch.float64)
    x, y = v[..., 0] / v[..., 2], v[..., 1] / v[..., 2]
    fx, s, cx = K[:, 0, 0, None], K[:, 0, 1, None], K[:, 0, 2, None]
    fy, cy = K[:, 1, 1, None], K[:, 1, 2, None]
    uv = torch.stack([fx * x + s * y + cx, fy * y + cy], dim=-1)
    return uv.to(torch.float32), (1.0 / v[..., 2]).to(torch.float32)


def _face_boxes(
    u: torch.Tensor, v: torch.Tensor, faces: torch.Tensor, width: int, height: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """First column/row and column/row counts of the pixel centres in each face's bounding box.

    Column j is in the box iff u_min <= j + 0.5 <= u_max. Float arithmetic on whole numbers
    (exact below 2^24) so that only the few faces that hold a centre are converted to integers.

    Args:
        u, v: (G, V) float32 screen coordinates of the vertices; faces: (F, 3).
    Returns:
        j0, i0, nx, ny, each (G, F) float32; nx = ny = 0 when no centre of the image is inside.
    """
    out = []
    for coord, size in ((u, width), (v, height)):
        a, b, c = (coord.index_select(1, faces[:, k]) for k in range(3))
        # Clamp: a vertex just in front of the camera projects far outside (and ints overflow).
        lo = torch.minimum(torch.minimum(a, b), c).clamp_(-1.0, size + 1.0)
        hi = torch.maximum(torch.maximum(a, b), c).clamp_(-1.0, size + 1.0)
        first = torch.ceil(lo.sub_(0.5)).clamp_(min=0.0)
        last = torch.floor(hi.sub_(0.5)).clamp_(max=size - 1.0)
        out.append((first, (last - first + 1.0).clamp_(min=0.0)))
    (j0, nx), (i0, ny) = out
    return j0, i0, nx, ny


def _edge(ax: torch.Tensor, ay: torch.Tensor, bx: torch.Tensor, by: torch.Tensor,
          px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Twice the signed area of triangle (a, b, p), elementwise (the edge function of a -> b)."""
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def _zbuffer_group(
    uv: torch.Tensor,
    inv_z: torch.Tensor,
    faces: torch.Tensor,
    width: int,
    height: int,
    max_candidates: int,
) -> torch.Tensor:
    """(G * H * W,) int64 z-buffer keys ``(float32 z bits) << 32 | face`` (``_NO_HIT``: empty).

    Args:
        uv: (G, V, 2) float32 screen coordinates; inv_z: (G, V) float32 1/z.
        faces: (F, 3) int64 on the same device.
    """
    G, V, F = uv.shape[0], uv.shape[1], faces.shape[0]
    keys = torch.full((G * height * width,), _NO_HIT, dtype=torch.int64, device=uv.device)
    u, v = uv[..., 0].contiguous(), uv[..., 1].contiguous()
    j0, i0, nx, ny = _face_boxes(u, v, faces, width, height)
    kept = torch.nonzero((nx * ny).reshape(-1)).flatten()  # flat index g * F + f
    if kept.numel() == 0:
        return keys
    sample = torch.div(kept, F, rounding_mode="floor")
    face = kept - sample * F
    # Per kept face: (u, v, 1/z) of its 3 corners, gathered once per candidate below.
    table = torch.stack([u, v, inv_z], dim=-1).reshape(G * V, 3)
    data = table[faces[face] + (sample * V)[:, None]].reshape(-1, 9)
    j0, i0, nx = (t.reshape(-1)[kept].long() for t in (j0, i0, nx))
    count = nx * ny.reshape(-1)[kept].long()
    base = sample * (height * width)  # the sample's first entry in keys
    ends = torch.cumsum(count, dim=0)
    # Pieces of whole faces holding <= budget candidates (one face holds at most H * W).
    budget = max(int(max_candidates), height * width)
    start, total = 0, int(ends[-1])
    while start < kept.numel():
        done = 0 if start == 0 else int(ends[start - 1])
        stop = int(torch.searchsorted(ends, min(done + budget, total), right=True))
        _scatter_piece(keys, data[start:stop], j0[start:stop], i0[start:stop], nx[start:stop],
                       count[start:stop], base[start:stop], face[start:stop], width)
        start = stop
    return keys


def _scatter_piece(
    keys: torch.Tensor,
    data: torch.Tensor,
    j0: torch.Tensor,
    i0: torch.Tensor,
    nx: torch.Tensor,
    count: torch.Tensor,
    base: torch.Tensor,
    face: torch.Tensor,
    width: int,
) -> None:
    """Test the candidates of one piece of faces and fold the inside ones into ``keys``.

    Args:
        keys: (G * H * W,) int64 z-buffer, updated in place.
        data: (Nf, 9) per face (u, v, 1/z) of corners a, b, c.
        j0, i0, nx, count: (Nf,) int64 first column and row of the face's box, its width and its
            number of pixel centres; base: (Nf,) the sample's offset in ``keys``; face: (Nf,)
            face index in the mesh.
    """
    owner = torch.repeat_interleave(torch.arange(count.numel(), device=count.device), count)
    offset = torch.cumsum(count, dim=0) - count  # first candidate of each face
    k = torch.arange(owner.numel(), device=owner.device) - offset[owner]
    nxo = nx[owner]
    row = i0[owner] + torch.div(k, nxo, rounding_mode="floor")
    col = j0[owner] + torch.remainder(k, nxo)
    px, py = col.to(torch.float32) + 0.5, row.to(torch.float32) + 0.5
    d = data[owner]
    ax, ay, wa, bx, by, wb, cx, cy, wc = d.unbind(dim=1)
    e0 = _edge(bx, by, cx, cy, px, py)  # weight of corner a
    e1 = _edge(cx, cy, ax, ay, px, py)  # of b
    e2 = _edge(ax, ay, bx, by, px, py)  # of c
    inside = ((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) & (e2 <= 0))
    total = e0 + e1 + e2
    inside &= total != 0
    idx = torch.nonzero(inside).flatten()
    if idx.numel() == 0:
        return
    e0, e1, e2, total = e0[idx], e1[idx], e2[idx], total[idx]
    # 1/z is affine in screen space: a convex combination of the corners' 1/z, so z stays in
    # the triangle's depth range even for near edge-on faces.
    z = total / (e0 * wa[idx] + e1 * wb[idx] + e2 * wc[idx])
    key = (z.view(torch.int32).to(torch.int64) << 32) | face[owner[idx]]
    pixel = base[owner[idx]] + row[idx] * width + col[idx]
    keys.scatter_reduce_(0, pixel, key, reduce="amin")


def _shade(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    K: torch.Tensor,
    sample: torch.Tensor,
    row: torch.Tensor,
    col: torch.Tensor,
    face: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """z-depth and |cos(normal, ray)| of hit pixels, float64, with ``render_parts``'s formulas.

    Args:
        vertices: (G, V, 3); faces: (F, 3); K: (G, 3, 3); sample, row, col, face: (N,) int64.
    Returns:
        depth (N,) and cos (N,), float64.
    """
    Kd = K.to(torch.float64)[sample]
    # The ray through the pixel centre, d = (x, y, 1), as render._ray_directions writes it.
    y = (row.to(torch.float64) + 0.5 - Kd[:, 1, 2]) / Kd[:, 1, 1]
    x = (col.to(torch.float64) + 0.5 - Kd[:, 0, 2] - Kd[:, 0, 1] * y) / Kd[:, 0, 0]
    d = torch.stack([x, y, torch.ones_like(x)], dim=1)
    tri = vertices[sample[:, None], faces[face]].to(torch.float64)  # (N, 3, 3)
    n = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=1)
    n_dot_d = (n * d).sum(dim=1)
    z = (n * tri[:, 0]).sum(dim=1) / n_dot_d  # plane n . x = n . a along x = t d (d_z = 1)
    cos = n_dot_d.abs() / (torch.linalg.vector_norm(n, dim=1) * torch.linalg.vector_norm(d, dim=1))
    grazing = ~torch.isfinite(z)  # float32 coverage of a face whose float64 plane solve is singular
    z = torch.where(grazing, tri[:, :, 2].mean(dim=1), z)
    return z, torch.nan_to_num(cos)


def rasterize_parts(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    face_labels: torch.Tensor,
    K: torch.Tensor,
    image_size: Sequence[int],
    *,
    palette: torch.Tensor | None = None,
    background: Sequence[int] = (0, 0, 0),
    shading: bool = True,
    return_depth: bool = False,
    return_mask: bool = False,
    return_labels: bool = False,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Render part-coloured images of B meshes by z-buffer rasterization (``render_parts``'s twin).

    Pixel (i, j) shows the nearest triangle containing its centre (u, v) = (j + 0.5, i + 0.5):
    ``palette[label]``, times ``0.5 + 0.5 |cos|`` of the angle between the face normal and the
    pixel's ray when ``shading``; ``background`` where no triangle covers the centre.

    Args:
        vertices: (B, V, 3) camera-frame vertices (OpenCV axes), metres, all with z >= 1e-6.
        faces: (F, 3) vertex indices.
        face_labels: (F,) part label of each face (``face_part_labels``), in [0, P).
        K: (B, 3, 3) or (3, 3) intrinsics (pixels, ``camera`` convention).
        image_size: (W, H) in pixels.
        palette: (P, 3) uint8 RGB colour of each label; default ``PART_COLORS``.
        background: RGB of pixels that show no triangle.
        shading: Lambertian-like headlight shading from the face normals.
        return_depth, return_mask, return_labels: also return these maps.
        max_candidates: at most this many (face, pixel) candidate pairs are held at once (memory
            vs speed; never changes the result).
    Returns:
        images (B, H, W, 3) uint8, then, in this order and only when asked for, depth (B, H, W)
        float32 z-depth (inf on background), mask (B, H, W) bool and labels (B, H, W) int64 (-1
        on background); all on ``vertices.device``. A single tensor when no map is asked for.
    Raises:
        ValueError: as ``render_parts`` (shapes, indices, labels, non-finite vertices, K), and
            for a vertex behind or at the camera (z < 1e-6).
    """
    palette = PART_COLORS if palette is None else palette
    K, width, height = _check_inputs(vertices, faces, face_labels, K, image_size, palette)
    if vertices.numel() and float(vertices[..., 2].min()) < MIN_DEPTH:
        raise ValueError(
            f"a vertex lies at z = {float(vertices[..., 2].min()):.3g} m, behind or at the camera; "
            f"rasterize_parts needs every vertex at z >= {MIN_DEPTH} m (it does not clip). Move "
            "the mesh in front of the camera or use render.render_parts."
        )
    device, batch = vertices.device, vertices.shape[0]
    vertices = vertices.detach()
    faces = faces.detach().to(device, torch.long)
    labels_d = face_labels.detach().to(device, torch.long)
    K = K.detach().to(device)
    pixels = height * width

    # Groups of samples whose per-face arrays (~10 values a face) take about the memory of the
    # candidate budget (~40 bytes a candidate); larger groups gain nothing on the CPU.
    group = max(1, int(max_candidates) // max(4 * faces.shape[0], 1))
    keys = torch.empty(batch * pixels, dtype=torch.int64, device=device)
    for start in range(0, batch, group):
        sl = slice(start, min(start + group, batch))
        uv, inv_z = _project(vertices[sl], K[sl])
        keys[sl.start * pixels : sl.stop * pixels] = _zbuffer_group(
            uv, inv_z, faces, width, height, max_candidates
        )

    hit = torch.nonzero(keys != _NO_HIT).flatten()
    face = keys[hit] & 0xFFFFFFFF
    sample = torch.div(hit, pixels, rounding_mode="floor")
    row = torch.div(hit - sample * pixels, width, rounding_mode="floor")
    col = hit - sample * pixels - row * width
    z, cos = _shade(vertices, faces, K, sample, row, col, face)
    label = labels_d[face]

    images = torch.empty(batch * pixels, 3, dtype=torch.uint8, device=device)
    images[:] = torch.tensor([int(c) for c in background], dtype=torch.uint8, device=device)
    rgb = palette.detach().to(device, torch.float64)[label]
    if shading:
        rgb = rgb * (_AMBIENT + (1.0 - _AMBIENT) * cos[:, None])
    images[hit] = torch.round(rgb).clamp(0, 255).to(torch.uint8)  # round half even, as np.rint

    shape = (batch, height, width)
    out = [images.reshape(*shape, 3)]
    if return_depth:
        depth = torch.full((batch * pixels,), torch.inf, dtype=torch.float32, device=device)
        depth[hit] = z.to(torch.float32)
        out.append(depth.reshape(shape))
    label_map = None
    if return_mask or return_labels:
        label_map = torch.full((batch * pixels,), -1, dtype=torch.int64, device=device)
        label_map[hit] = label
        label_map = label_map.reshape(shape)
    if return_mask:
        out.append(label_map >= 0)
    if return_labels:
        out.append(label_map)
    return out[0] if len(out) == 1 else tuple(out)


class PartRasterizer(PartRenderer):
    """``rasterize_parts`` with a body model's faces, face labels and palette cached.

    A drop-in :class:`~posebook.data.render.PartRenderer` (same constructor, ``from_body`` and
    call signature) that rasterizes instead of ray casting; ``PartRasterizer.from_body(body)``.
    The faces are kept per device, so CUDA calls do not copy them each time.
    """

    def __init__(self, *args: Any, max_candidates: int = DEFAULT_MAX_CANDIDATES, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_candidates = max_candidates
        self._on_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def __call__(
        self,
        vertices: torch.Tensor,
        K: torch.Tensor,
        image_size: Sequence[int],
        **kwargs: Any,
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """``rasterize_parts(vertices, faces, face_labels, K, image_size, ...)``; ``kwargs``: the
        ``return_*`` flags, ``shading`` and ``max_candidates`` to override the defaults."""
        kwargs.setdefault("shading", self.shading)
        kwargs.setdefault("max_candidates", self.max_candidates)
        device = vertices.device
        if device not in self._on_device:
            self._on_device[device] = tuple(  # type: ignore[assignment]
                t.to(device) for t in (self.faces, self.face_labels, self.palette)
            )
        faces, labels, palette = self._on_device[device]
        return rasterize_parts(
            vertices, faces, labels, K, image_size,
            palette=palette, background=self.background, **kwargs,
        )  # fmt: skip
