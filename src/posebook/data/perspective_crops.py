"""PersPose's perspective-rotated crops (PR, Sec. 4.2, Eq. 12-17), warped straight from full frames.

PR turns the camera about its centre so that the ray through the bounding-box centre becomes the
aim ray (the optical axis), then crops the rotated view around the aim point. Both steps are one
homography from the full frame to the crop,

    M = A K R K^-1        (Eq. 17 followed by the crop map A of Eq. 3, corrected),

and :func:`rotated_crops` samples every crop through M^-1 with ONE ``torch.nn.functional.grid_sample``
per batch (bilinear, the crop's pixel centres mapped into the frame; no intermediate rotated full
image, as the official code's single ``cv2.warpPerspective(crop_affine @ K R K^-1)``,
``datasets/transform.py`` L295-296). The 3D labels follow with Eq. 16, :func:`rotate_labels`.

Conventions (those of :mod:`posebook.geometry.camera` and :mod:`posebook.data.raster`): continuous
pixel coordinates, pixel (row i, column j) covers [j, j + 1) x [i, i + 1) with its centre at
(j + 0.5, i + 0.5); ``grid_sample(align_corners=False)`` uses the same convention (-1 and +1 at the
outer edges of the border pixels), so a frame pixel centre u = k + 0.5 is the grid coordinate
(2 k + 1) / W - 1.

Choices, stated:

- **Aim.** ``aim="principal_point"`` (default, the official code): r2 = the optical axis, R from
  :func:`posebook.geometry.camera.perspective_rotation` (Eq. 12-15). ``aim="image_centre"`` (the
  paper's wording after Eq. 15, "bounding box center located at image center (w/2, h/2)"): r2 =
  N(K^-1 [W/2, H/2, 1]^T), and R is the same swing construction (axis r1 x r2, angle
  ``atan2(|r1 x r2|, r1 . r2)``, Rodrigues) onto that ray, :func:`swing_rotation`. The two agree when
  the principal point is the image centre (the synthetic world's cameras).
- **The bbox in the rotated view.** Its centre is the aim point (where M sends the bbox centre,
  exactly, by construction of R) and its side stays b, the original bbox side. The official code
  instead warps the bbox's four corners, takes their axis-aligned extent and enlarges it to be
  symmetric about the principal point (``transform.py`` L219-250): a slightly larger crop for
  off-axis subjects. Keeping b keeps the crop scale s = S / b, hence f_crop = f S / b, equal to the
  plain crop's, so PR and no-PR rows differ only by the rotation.
- ``rotate=False`` is the plain crop through the same code (R = I, the bbox as given), so the rows
  without PR are sampled exactly as the rows with it.
- **Outside the frame** (and for crop pixels whose ray would be behind the original camera):
  ``fill`` (black, the rasteriser's background), blended at the frame border by the bilinear weight
  of the in-frame pixels (a ones channel sampled with the image).
- Bilinear, no anti-aliasing: for a bbox much larger than the crop (b >> S) the crop aliases, as
  ``cv2.warpPerspective``'s default INTER_LINEAR does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import roma
import torch
import torch.nn.functional as F

from posebook.geometry import camera
from posebook.geometry.rotations import _check_rotation

__all__ = ["AIMS", "MAX_PR_ANGLE_DEG", "RotatedCrops", "rotate_labels", "rotated_crops", "swing_rotation"]

#: The aim points :func:`rotated_crops` accepts.
AIMS = ("principal_point", "image_centre")
#: A bbox-centre ray at or beyond this angle from the aim ray is refused (degrees).
MAX_PR_ANGLE_DEG = 89.9
#: A K whose 2-norm condition number exceeds this (in float64) counts as singular.
_MAX_CONDITION = 1e12


@dataclass(eq=False)
class RotatedCrops:
    """Perspective-rotated (or plain) crops and their cameras, N samples.

    Attributes:
        crops: (N, S, S, 3) uint8 crops on the frames' device.
        R: (N, 3, 3) the PR rotations (identity for ``rotate=False``); labels follow with
            ``rotate_labels(points, R)`` (Eq. 16), predictions go back with R^T (Eq. 6).
        K_crop: (N, 3, 3) intrinsics of the crop in the rotated view, ``crop_intrinsics(K,
            bbox_center, bbox_size, S)`` of the fields below: ``project(R X, K_crop)`` is where a
            camera-frame point X lands in the crop. For ``aim="principal_point"`` its principal
            point is the crop centre (S/2, S/2) for every sample (Eq. 11).
        bbox_center: (N, 2) the bbox centre in the rotated view, full-frame pixels (the aim point
            when rotated, the given centre otherwise).
        bbox_size: (N,) the bbox side, pixels (the given one).
        phi_deg: (N,) the PR angle: between the bbox-centre ray and the aim ray, degrees (Eq. 14).
            Reported for ``rotate=False`` too (the angle PR would have turned by; R is then I).
        homography: (N, 3, 3) M = A K R K^-1, full-frame pixels -> crop pixels.
    """

    crops: torch.Tensor
    R: torch.Tensor
    K_crop: torch.Tensor
    bbox_center: torch.Tensor
    bbox_size: torch.Tensor
    phi_deg: torch.Tensor
    homography: torch.Tensor

    def __len__(self) -> int:
        return int(self.crops.shape[0])


def swing_rotation(r_from: torch.Tensor, r_to: torch.Tensor) -> torch.Tensor:
    """The rotation taking the ray ``r_from`` onto the ray ``r_to`` about their common normal.

    PersPose Eq. 13-15 with a general target ray: axis n = N(r1 x r2), angle
    ``phi = atan2(|r1 x r2|, r1 . r2)`` (Eq. 14's arccos, stable near 0), R = Rodrigues(n, phi), so
    R N(r_from) = N(r_to). For r_to = (0, 0, 1) it is ``camera.perspective_rotation``. Parallel rays
    give the identity; antiparallel ones have no unique swing (and are refused by
    :func:`rotated_crops` long before).

    Args:
        r_from, r_to: (..., 3) nonzero directions (need not be unit), broadcastable.
    Returns:
        (..., 3, 3) rotation matrices.
    """
    r1 = r_from / torch.linalg.vector_norm(r_from, dim=-1, keepdim=True)
    r2 = r_to / torch.linalg.vector_norm(r_to, dim=-1, keepdim=True)
    r1, r2 = torch.broadcast_tensors(r1, r2)
    cross = torch.linalg.cross(r1, r2, dim=-1)
    sin = torch.linalg.vector_norm(cross, dim=-1)
    cos = (r1 * r2).sum(dim=-1)
    positive = sin > 0
    safe_sin = torch.where(positive, sin, torch.ones_like(sin))
    phi = torch.atan2(sin, cos)
    # rotvec = n phi = cross phi / sin; phi / sin -> 1 as the rays meet (as perspective_rotation).
    ratio = torch.where(positive, phi / safe_sin, torch.ones_like(sin))
    return roma.rotvec_to_rotmat(cross * ratio[..., None])


def rotate_labels(points: torch.Tensor, R: torch.Tensor, *, check: bool = True) -> torch.Tensor:
    """3D labels in the rotated camera, P' = R P (PersPose Eq. 16), column vectors.

    Args:
        points: (..., J, 3) camera-frame points (joints, vertices), metres.
        R: (..., 3, 3) rotations (``RotatedCrops.R``), batch dims broadcastable with ``points``'.
        check: refuse an R that is not a rotation (``geometry.rotations``).
    Returns:
        (..., J, 3).
    Raises:
        ValueError: if ``check`` and a finite R is not a rotation; wrong trailing shapes.
    """
    if points.shape[-1:] != (3,) or points.dim() < 2:
        raise ValueError(f"points must be (..., J, 3), got {tuple(points.shape)}")
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"R must be (..., 3, 3), got {tuple(R.shape)}")
    if check:
        _check_rotation(R, "R")
    return points @ R.transpose(-1, -2).to(points.dtype)


def _sample_error(what: str, bad: torch.Tensor, n: int, detail: str | Callable[[int], str],
                  hint: str) -> ValueError:
    """A ValueError naming the first sample flagged in ``bad`` (N,)."""
    i = int(bad.nonzero()[0])
    return ValueError(f"sample {i} of {n}: {what} {detail(i) if callable(detail) else detail}. {hint}")


def _check_inputs(full_images: torch.Tensor, K: torch.Tensor, bbox_center: torch.Tensor,
                  bbox_size: torch.Tensor, crop_size: int, aim: str,
                  fill: Sequence[int]) -> None:
    if isinstance(crop_size, bool) or not isinstance(crop_size, int) or crop_size <= 0:
        raise ValueError(f"crop_size must be a positive int (pixels of the square crop), got {crop_size!r}")
    if len(fill) != 3:
        raise ValueError(f"fill must be an RGB triple, got {fill!r}")
    if aim not in AIMS:
        raise ValueError(f"aim must be one of {AIMS}, got {aim!r}")
    if full_images.dim() != 4 or full_images.shape[-1] != 3 or full_images.dtype != torch.uint8:
        raise ValueError(f"full_images must be (N, H, W, 3) uint8 RGB, got {full_images.dtype} "
                         f"{tuple(full_images.shape)}")
    n = full_images.shape[0]
    for name, value, shape in (("K", K, (n, 3, 3)), ("bbox_center", bbox_center, (n, 2)),
                               ("bbox_size", bbox_size, (n,))):
        if tuple(value.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} for {n} frames, got {tuple(value.shape)}")


def rotated_crops(
    full_images: torch.Tensor,
    K: torch.Tensor,
    bbox_center: torch.Tensor,
    bbox_size: torch.Tensor,
    crop_size: int,
    *,
    aim: Literal["principal_point", "image_centre"] = "principal_point",
    rotate: bool = True,
    fill: Sequence[int] = (0, 0, 0),
    batch_size: int = 256,
) -> RotatedCrops:
    """PersPose PR crops (Eq. 12-17): rotate each camera onto its bbox-centre ray, crop, resample.

    Per sample: r1 = N(K^-1 [c_bbox, 1]) (Eq. 12), r2 the aim ray, R = swing(r1 -> r2) (Eq. 13-15),
    the bbox in the rotated view centred on the aim point with the same side b, A its crop map
    (``camera.crop_transform``), K_crop = A K, and the crop pixel p samples the frame at
    M^-1 p with M = A K R K^-1 (Eq. 17). ``rotate=False``: R = I and the given bbox (the plain
    crop through the same sampling). See the module docstring for the choices.

    Args:
        full_images: (N, H, W, 3) uint8 full frames.
        K: (N, 3, 3) their intrinsics (invertible; any dtype, the geometry runs in float64).
        bbox_center: (N, 2) square bbox centres in full-frame pixels (finite).
        bbox_size: (N,) bbox sides in pixels (finite, > 0).
        crop_size: S, side of the square output crops in pixels (> 0).
        aim: "principal_point" (official code) or "image_centre" (paper's wording).
        rotate: apply PR (True) or take the plain crop (False).
        fill: RGB of crop pixels that see no part of the frame.
        batch_size: frames per ``grid_sample`` call (memory bound; the result does not depend on it).
    Returns:
        :class:`RotatedCrops`; geometry in ``K``'s floating dtype, on the frames' device.
    Raises:
        ValueError: crop_size not a positive int; unknown aim; wrong shapes or dtype; a K that is
            not finite or not invertible; a bbox centre that is not finite; (with ``rotate``) a
            bbox-centre ray at or beyond 89.9 deg from the aim ray; a bbox size <= 0 or not finite
            (each naming the first bad sample).
    """
    _check_inputs(full_images, K, bbox_center, bbox_size, crop_size, aim, fill)
    n, H, W, _ = full_images.shape
    device = full_images.device
    out_dtype = K.dtype if K.is_floating_point() else torch.get_default_dtype()
    K64 = K.to(device=device, dtype=torch.float64)
    c64 = bbox_center.to(device=device, dtype=torch.float64)
    b64 = bbox_size.to(device=device, dtype=torch.float64)
    hint_k = "K must be a finite invertible 3x3 intrinsic matrix (focal lengths > 0)."
    if n:
        finite_k = torch.isfinite(K64).flatten(1).all(dim=1)
        if not bool(finite_k.all()):
            raise _sample_error("K", ~finite_k, n, "has a non-finite entry", hint_k)
        cond = torch.linalg.cond(K64)
        singular = ~torch.isfinite(cond) | (cond > _MAX_CONDITION)
        if bool(singular.any()):
            raise _sample_error("K", singular, n, lambda i: f"is not invertible (condition number "
                                f"{float(cond[i]):.3g}): {K64[i].tolist()}", hint_k)
        finite_c = torch.isfinite(c64).all(dim=1)
        if not bool(finite_c.all()):
            raise _sample_error("bbox_center", ~finite_c, n, lambda i: f"= {c64[i].tolist()} is not finite",
                                "Drop the sample or fix its detection.")
        good_b = torch.isfinite(b64) & (b64 > 0)
        if not bool(good_b.all()):
            raise _sample_error("bbox_size", ~good_b, n, lambda i: f"= {float(b64[i])!r}; it must be a finite "
                                "number of pixels > 0", "A zero-size or missing detection cannot be cropped.")
    K_inv = torch.linalg.inv(K64)
    ones = torch.ones_like(c64[:, :1])
    r1 = (K_inv @ torch.cat((c64, ones), dim=1)[:, :, None])[..., 0]
    if aim == "principal_point":
        aim_uv = K64[:, :2, 2]
        r2 = (K_inv @ torch.cat((aim_uv, ones), dim=1)[:, :, None])[..., 0]  # (0, 0, 1) up to rounding
    else:
        aim_uv = c64.new_tensor([0.5 * W, 0.5 * H]).expand(n, 2)
        r2 = (K_inv @ torch.cat((aim_uv, ones), dim=1)[:, :, None])[..., 0]
    r1n = r1 / torch.linalg.vector_norm(r1, dim=1, keepdim=True)
    r2n = r2 / torch.linalg.vector_norm(r2, dim=1, keepdim=True)
    phi = torch.rad2deg(torch.atan2(torch.linalg.vector_norm(torch.linalg.cross(r1n, r2n, dim=1), dim=1),
                                    (r1n * r2n).sum(dim=1)))
    if rotate:
        too_far = ~torch.isfinite(phi) | (phi >= MAX_PR_ANGLE_DEG)
        if bool(too_far.any()):
            raise _sample_error(
                "the bbox-centre ray", too_far, n,
                lambda i: f"is {float(phi[i]):.4g} deg from the aim ray (bbox centre {c64[i].tolist()}, aim "
                f"{aim_uv[i].tolist()}); PR needs it below {MAX_PR_ANGLE_DEG} deg",
                "Check K (a focal length in pixels, not millimetres) and the bbox centre.")
        R = camera.perspective_rotation(K64, c64) if aim == "principal_point" else swing_rotation(r1, r2)
        center_rot = aim_uv.clone()
    else:
        R = torch.eye(3, dtype=torch.float64, device=device).expand(n, 3, 3).clone()
        center_rot = c64.clone()
    A = camera.crop_transform(center_rot, b64, float(crop_size), check=False)
    K_crop = A @ K64
    M = K_crop @ R @ K_inv
    M_inv = K64 @ R.transpose(-1, -2) @ torch.linalg.inv(K_crop)  # crop pixels -> frame pixels

    # Crop pixel centres -> frame pixels -> grid_sample coordinates (align_corners=False).
    centres = torch.arange(crop_size, dtype=torch.float64, device=device) + 0.5
    vv, uu = torch.meshgrid(centres, centres, indexing="ij")
    pix = torch.stack((uu, vv, torch.ones_like(uu)), dim=-1).reshape(-1, 3)  # (S*S, 3)
    fill_t = torch.as_tensor(list(fill), dtype=torch.float32, device=device).view(1, 3, 1, 1)
    crops = []
    for start in range(0, n, batch_size):
        sl = slice(start, min(start + batch_size, n))
        src = pix @ M_inv[sl].transpose(-1, -2)  # (B, S*S, 3)
        w = src[..., 2:]
        uv = src[..., :2] / w
        grid = 2.0 * uv / uv.new_tensor([W, H]) - 1.0
        # Rays behind the original camera see nothing: send them far outside the frame.
        grid = torch.where((w > 0) & torch.isfinite(grid), grid, torch.full_like(grid, 4.0))
        grid = grid.reshape(-1, crop_size, crop_size, 2).to(torch.float32)
        frames = full_images[sl].permute(0, 3, 1, 2).to(torch.float32)
        frames = torch.cat((frames, torch.ones_like(frames[:, :1])), dim=1)  # + coverage channel
        sampled = F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        rgb = sampled[:, :3] + (1.0 - sampled[:, 3:]) * fill_t
        crops.append(rgb.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1))
    crops_t = torch.cat(crops) if crops else full_images.new_zeros((0, crop_size, crop_size, 3))
    return RotatedCrops(crops=crops_t, R=R.to(out_dtype), K_crop=K_crop.to(out_dtype),
                        bbox_center=center_rot.to(out_dtype), bbox_size=b64.to(out_dtype),
                        phi_deg=phi.to(out_dtype), homography=M.to(out_dtype))

