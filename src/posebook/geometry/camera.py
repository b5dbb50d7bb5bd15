"""Pinhole cameras, crops, CLIFF's full-frame camera and PersPose's PE map and PR rotation.

Conventions used throughout this module:

- Camera frame x right, y down, z forward (OpenCV); points are column vectors, ``x_cam = R x + t``.
- Pixel coordinates ``(u, v)`` are CONTINUOUS: an image of W x H pixels covers [0, W] x [0, H],
  and the pixel in column k, row r has its centre at (k + 0.5, r + 0.5). Hence the image centre
  is (W / 2, H / 2), as in CLIFF's code and PersPose Eq. 3, and the crop map A sends the bbox
  square exactly onto the crop square [0, crop_size]^2. OpenCV's integer-centre coordinates are
  these minus 0.5.
- ``image_size`` is ``(W, H)`` (width first, the order of (u, v)); CLIFF's code passes
  ``full_img_shape`` as (H, W) instead.
- Bounding boxes are square: a centre ``(..., 2)`` in pixels and a side length ``(...,)`` in
  pixels (CLIFF's b = 200 * scale).
- Lengths in metres, angles in radians.
- Invalid values are refused, not turned into a plausible finite wrong number: focal lengths,
  image / bbox / crop sizes and CLIFF's weak-perspective scale s must be finite and > 0, a field
  of view in (0, pi) radians, keypoints finite, and a rotation argument a rotation (the check of
  ``geometry.rotations``). The ValueError names the parameter, the first bad value and its
  index, and what is allowed. Each check is one reduction read back once (a device sync on a
  GPU); every function that checks values takes a keyword-only ``check=True``, and
  ``check=False`` skips them for hot loops (then the formula's raw result comes back: negative,
  inf or NaN for such input). Shapes are always checked. Centres, principal points, translations
  and points are not checked: NaN / inf in them gives NaN / inf out. ``project`` does not refuse
  Z <= 0 (see there).
"""

from __future__ import annotations

import math
from typing import Callable, Literal, Sequence, Union

import roma
import torch

# The geometry modules share one shape check, one rotation check and one index format.
from posebook.geometry.rotations import _check_last_dims, _check_rotation, _format_index

__all__ = [
    "intrinsics",
    "fov",
    "focal_from_fov",
    "default_focal",
    "project",
    "unproject",
    "crop_transform",
    "crop_intrinsics",
    "cliff_bbox_info",
    "weak_perspective_to_translation",
    "cam_crop_to_full",
    "perspective_encoding",
    "perspective_rotation",
    "perspective_homography",
    "apply_homography",
    "bbox_from_points",
]

TensorLike = Union[torch.Tensor, float, Sequence[float]]


def _tensors(*values: TensorLike) -> list[torch.Tensor]:
    """Convert values to tensors sharing the dtype/device of the first floating tensor given."""
    like = next(
        (v for v in values if isinstance(v, torch.Tensor) and v.is_floating_point()), None
    )
    if like is None:
        dtype, device = torch.get_default_dtype(), None
    else:
        dtype, device = like.dtype, like.device
    return [torch.as_tensor(v, dtype=dtype, device=device) for v in values]


_BBOX_HINT = "Check the bounding box / image size (e.g. an empty detection or swapped corners)."
_FOCAL_HINT = (
    "The focal length is in pixels: default_focal(image_size) = sqrt(W^2 + H^2) when unknown, "
    "focal_from_fov(fov_rad, size) for a known field of view."
)
_CROP_HINT = "crop_size is the side of the square crop in pixels (224 in HMR / SPIN / CLIFF)."
_SIZE_HINT = "size is the image extent in pixels along the field of view's direction."


def _shortest_strs(values: torch.Tensor) -> list[str]:
    """Each value as the shortest string that reads back to it in its dtype (-0.1, not -0.100000001)."""
    wide = torch.float64 if values.dtype == torch.float64 else torch.float32  # numpy has no bfloat16
    return [str(v) for v in values.detach().to("cpu", wide).numpy()]


def _check_values(
    x: torch.Tensor,
    ok: torch.Tensor,
    name: str,
    requirement: str,
    allowed: str,
    hint: Union[str, Callable[[torch.Tensor], str]] = "",
) -> None:
    """Raise ValueError if an entry of ``x`` is not ``ok`` (a bool mask of ``x``'s shape).

    The message: ``name`` must be ``requirement``; the bad values (at most 5), how many, the index
    of the first; what is ``allowed``; and ``hint``, a string or a function of the bad values
    (evaluated only on failure). A passing check costs one reduction and one device sync.
    """
    bad = ~ok
    if not bool(bad.any()):
        return
    values = x[bad]
    shown = _shortest_strs(values.flatten()[:5])
    if x.numel() == 1:
        got = shown[0]
    else:
        first = _format_index(int(bad.reshape(-1).nonzero()[0]), x.shape)
        got = f"[{', '.join(shown)}] ({int(bad.sum())} of {x.numel()} entries), the first at index {first}"
    text = hint(values) if callable(hint) else hint
    raise ValueError(f"{name} must be {requirement}; got {got}; allowed: {allowed}. {text}".rstrip())


def _check_positive(x: torch.Tensor, name: str, unit: str = "pixels", hint: str = _BBOX_HINT) -> None:
    """Raise ValueError unless every entry of ``x`` is finite and > 0 (NaN and inf are refused)."""
    requirement = f"> 0 {unit}".rstrip()
    _check_values(x, torch.isfinite(x) & (x > 0), name, requirement, "finite values > 0", hint)


def _scale_hint(relation: str) -> str:
    """What the weak-perspective scale s is, for the messages of the two CLIFF conversions."""
    return (
        f"s is the crop's predicted weak-perspective scale, {relation} > 0 for a subject in front "
        "of the camera; s <= 0 would put it on or behind the camera plane (t_z inf or < 0). "
        "Constrain the regressor's s (e.g. softplus or exp), or pass check=False for the raw formula."
    )


def intrinsics(focal: TensorLike, principal_point: TensorLike, *, check: bool = True) -> torch.Tensor:
    """Pinhole intrinsic matrix K = [[f, 0, cx], [0, f, cy], [0, 0, 1]] (PersPose Eq. 1).

    Args:
        focal: scalar or (...,) focal length f in pixels (square pixels, no skew), finite, > 0.
        principal_point: (..., 2) principal point (cx, cy) in pixels.
        check: refuse a bad focal (else f = 0 only fails later, in ``unproject``'s inverse).
    Returns:
        (..., 3, 3), the broadcast batch shape of ``focal`` and ``principal_point``.
    Raises:
        ValueError: if ``check`` and a focal length is <= 0 or not finite.
    """
    focal, pp = _tensors(focal, principal_point)
    _check_last_dims(pp, (2,), "principal_point")
    if check:
        _check_positive(focal, "focal", hint=_FOCAL_HINT)
    shape = torch.broadcast_shapes(focal.shape, pp.shape[:-1])
    focal = focal.expand(shape)
    pp = pp.expand(*shape, 2)
    zero, one = torch.zeros_like(focal), torch.ones_like(focal)
    rows = (
        torch.stack((focal, zero, pp[..., 0]), dim=-1),
        torch.stack((zero, focal, pp[..., 1]), dim=-1),
        torch.stack((zero, zero, one), dim=-1),
    )
    return torch.stack(rows, dim=-2)


def fov(focal: TensorLike, size: TensorLike, *, check: bool = True) -> torch.Tensor:
    """Field of view 2 arctan(size / 2f), radians (PersPose Eq. 2).

    Args:
        focal: (...) focal length in pixels, finite, > 0.
        size: (...) image extent in pixels along the direction of interest (w for FOV_x, h for
            FOV_y, sqrt(w^2 + h^2) for the diagonal FOV), finite, > 0.
        check: refuse bad values (else f < 0 gives a negative angle, f = 0 pi).
    Returns:
        (...) angle in radians, in (0, pi).
    Raises:
        ValueError: if ``check`` and a focal length or size is <= 0 or not finite.
    """
    focal, size = _tensors(focal, size)
    if check:
        _check_positive(focal, "focal", hint=_FOCAL_HINT)
        _check_positive(size, "size", hint=_SIZE_HINT)
    return 2.0 * torch.atan(size / (2.0 * focal))


def _degrees_hint(bad: torch.Tensor) -> str:
    """A hint for a field of view given in degrees by mistake (a bad value above pi)."""
    big = bad[torch.isfinite(bad) & (bad > math.pi)]
    if big.numel() == 0:
        return ""
    value = float(big.flatten()[0])
    return (
        f"{value:g} looks like degrees: pass radians, math.radians({value:g}) = "
        f"{math.radians(value):.6g} (torch.deg2rad for tensors)."
    )


def focal_from_fov(fov_rad: TensorLike, size: TensorLike, *, check: bool = True) -> torch.Tensor:
    """Focal length f = size / (2 tan(fov / 2)) in pixels; inverse of ``fov`` (PersPose Eq. 2).

    Args:
        fov_rad: (...) field of view in radians, in (0, pi).
        size: (...) image extent in pixels along the same direction, finite, > 0.
        check: refuse bad values (else degrees by mistake, ``focal_from_fov(60.0, 640)``, give
            the plausible-looking -49.96 px: tan has period pi).
    Returns:
        (...) focal length in pixels.
    Raises:
        ValueError: if ``check`` and a field of view is not in (0, pi) (the message suggests
            math.radians for values above pi) or a size is <= 0 or not finite.
    """
    fov_rad, size = _tensors(fov_rad, size)
    if check:
        ok = torch.isfinite(fov_rad) & (fov_rad > 0) & (fov_rad < math.pi)
        _check_values(fov_rad, ok, "fov_rad", "in (0, pi) radians", "0 < fov_rad < pi = 3.14159",
                      _degrees_hint)
        _check_positive(size, "size", hint=_SIZE_HINT)
    return size / (2.0 * torch.tan(0.5 * fov_rad))


def default_focal(image_size: TensorLike, *, check: bool = True) -> torch.Tensor:
    """CLIFF's focal length for an unknown camera, f = sqrt(W^2 + H^2) (CLIFF Sec. 3.3).

    CLIFF says this is a diagonal FOV of 55 deg; it is in fact 2 arctan(1/2) = 53.13 deg for
    every image size (a 55 deg diagonal FOV would need f = 0.9605 sqrt(W^2 + H^2)).

    Args:
        image_size: (..., 2) (W, H) in pixels, finite, > 0.
        check: refuse bad sizes (else (0, 0) gives f = 0).
    Returns:
        (...) focal length in pixels.
    Raises:
        ValueError: if ``check`` and a width or height is <= 0 or not finite.
    """
    (size,) = _tensors(image_size)
    _check_last_dims(size, (2,), "image_size")
    if check:
        _check_positive(size, "image_size")
    return torch.linalg.vector_norm(size, dim=-1)


def project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Perspective projection u = K X / Z of camera-frame points (CLIFF Eq. 4/8's Pi).

    No clipping and no check on Z, by choice: a point behind the camera (Z < 0) projects,
    mirrored through the principal point, as the homogeneous formula says (legitimate geometry:
    visibility or clipping is decided by the caller), and a point on the camera plane (Z = 0)
    gives inf (NaN for X = Y = 0), never a finite pixel. A check would also cost a device sync in
    the fitting loops that call this every step; test ``points[..., 2] > 0`` where being in
    front matters.

    Args:
        points: (..., J, 3) camera-frame points, metres.
        K: (..., 3, 3) intrinsics, broadcastable against ``points``' batch dims.
    Returns:
        (..., J, 2) pixel coordinates (u, v).
    """
    _check_last_dims(points, (3,), "points")
    _check_last_dims(K, (3, 3), "K")
    uvw = points @ K.transpose(-1, -2)
    return uvw[..., :2] / uvw[..., 2:]


def unproject(uv: torch.Tensor, depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Back-project pixels at known depth: X = d K^-1 [u, v, 1]^T (PersPose Eq. 5).

    Args:
        uv: (..., J, 2) pixel coordinates.
        depth: (..., J) z-depth (not ray length) in metres.
        K: (..., 3, 3) intrinsics.
    Returns:
        (..., J, 3) camera-frame points with Z = depth.
    """
    _check_last_dims(uv, (2,), "uv")
    _check_last_dims(K, (3, 3), "K")
    uv1 = torch.cat((uv, torch.ones_like(uv[..., :1])), dim=-1)
    rays = uv1 @ torch.linalg.inv(K).transpose(-1, -2)
    return depth[..., None] * rays


def crop_transform(
    bbox_center: TensorLike, bbox_size: TensorLike, crop_size: TensorLike, *, check: bool = True
) -> torch.Tensor:
    """Affine map A from full-image pixels to crop pixels (PersPose Eq. 3, corrected).

    A = [[s, 0, t_u], [0, s, t_v], [0, 0, 1]] with s = crop_size / bbox_size,
    t_u = crop_size / 2 - s c_u, t_v = crop_size / 2 - s c_v. It sends the bbox centre to the crop
    centre and the bbox square onto [0, crop_size]^2. (The paper prints s = w_bbox / w_crop, the
    reciprocal, which contradicts its own f_crop = s f; see book/errata.md.)

    Args:
        bbox_center: (..., 2) bbox centre (c_u, c_v) in full-image pixels.
        bbox_size: (...) side of the square bbox in pixels, finite, > 0.
        crop_size: scalar or (...) side of the square crop in pixels, finite, > 0.
        check: refuse bad sizes.
    Returns:
        (..., 3, 3).
    Raises:
        ValueError: if ``check`` and a bbox or crop size is <= 0 or not finite.
    """
    center, b, r = _tensors(bbox_center, bbox_size, crop_size)
    _check_last_dims(center, (2,), "bbox_center")
    if check:
        _check_positive(b, "bbox_size")
        _check_positive(r, "crop_size", hint=_CROP_HINT)
    s = r / b
    t = 0.5 * r[..., None] - s[..., None] * center
    return intrinsics(s, t, check=False)  # s > 0 whenever b and r are


def crop_intrinsics(
    K: torch.Tensor,
    bbox_center: TensorLike,
    bbox_size: TensorLike,
    crop_size: TensorLike,
    *,
    check: bool = True,
) -> torch.Tensor:
    """Intrinsics of the resized crop, K_crop = A K (PersPose Eq. 3-4, with s = crop / bbox).

    f_crop = f crop_size / bbox_size, c_crop = s c + t. Projecting with K_crop gives crop pixels.

    Args:
        K: (..., 3, 3) full-image intrinsics.
        bbox_center: (..., 2) square bbox centre in full-image pixels.
        bbox_size: (...) bbox side in pixels, finite, > 0.
        crop_size: scalar or (...) crop side in pixels, finite, > 0.
        check: refuse bad sizes (as ``crop_transform``).
    Returns:
        (..., 3, 3).
    Raises:
        ValueError: if ``check`` and a bbox or crop size is <= 0 or not finite.
    """
    _check_last_dims(K, (3, 3), "K")
    A = crop_transform(*_tensors(K, bbox_center, bbox_size, crop_size)[1:], check=check)
    return A @ K


def cliff_bbox_info(
    bbox_center: TensorLike,
    bbox_size: TensorLike,
    image_size: TensorLike,
    focal: TensorLike,
    normalization: Literal["paper", "demo"] = "paper",
    *,
    check: bool = True,
) -> torch.Tensor:
    """CLIFF's bounding-box input I_bbox (CLIFF Eq. 5).

    "paper": [(c_x - W/2) / f, (c_y - H/2) / f, b / f], Eq. 5 with (c_x, c_y) taken relative to
    the image centre. "demo": the released demo's rescaling to roughly [-1, 1] with Human3.6M
    statistics, [2.8 (c_x - W/2) / f, 2.8 (c_y - H/2) / f, (b - 0.24 f) / (0.06 f)].

    Args:
        bbox_center: (..., 2) bbox centre in pixels.
        bbox_size: (...) bbox side b in pixels, finite, > 0.
        image_size: (..., 2) (W, H) in pixels, finite, > 0.
        focal: (...) focal length in pixels (``default_focal`` when unknown), finite, > 0.
        normalization: "paper" or "demo".
        check: refuse bad sizes and focal lengths.
    Returns:
        (..., 3).
    Raises:
        ValueError: for an unknown ``normalization``; if ``check`` and a bbox size, image size or
            focal length is <= 0 or not finite.
    """
    center, b, size, f = _tensors(bbox_center, bbox_size, image_size, focal)
    _check_last_dims(center, (2,), "bbox_center")
    _check_last_dims(size, (2,), "image_size")
    if check:
        _check_positive(b, "bbox_size")
        _check_positive(size, "image_size")
        _check_positive(f, "focal", hint=_FOCAL_HINT)
    offset = (center - 0.5 * size) / f[..., None]
    scale = b / f
    if normalization == "demo":
        offset = 2.8 * offset
        scale = (scale - 0.24) / 0.06
    elif normalization != "paper":
        raise ValueError(f"normalization must be 'paper' or 'demo', got {normalization!r}")
    offset, scale = torch.broadcast_tensors(offset, scale[..., None])
    return torch.cat((offset, scale[..., :1]), dim=-1)


def weak_perspective_to_translation(
    cam: torch.Tensor,
    focal: TensorLike = 5000.0,
    crop_size: TensorLike = 224.0,
    *,
    check: bool = True,
) -> torch.Tensor:
    """HMR's crop-frame translation t_crop = [t_x, t_y, 2 f / (r s)] (CLIFF Eq. 1).

    Args:
        cam: (..., 3) weak-perspective camera [s, t_x, t_y] in normalised crop coordinates
            (the crop spans [-1, 1]); s = 2 f / (r t_z) must be finite and > 0.
        focal: the crop camera's focal length f_HMR in pixels (5000 in HMR/SPIN/CLIFF), > 0.
        crop_size: r, the crop side in pixels (224), > 0.
        check: refuse bad s, focal and crop size (else s <= 0 gives t_z <= 0 or inf, s = inf
            the finite t_z = 0). Pass ``False`` in training losses on raw regressor outputs.
    Returns:
        (..., 3) translation in metres.
    Raises:
        ValueError: if ``check`` and s, the focal length or the crop size is <= 0 or not finite.
    """
    _check_last_dims(cam, (3,), "cam")
    f, r = _tensors(cam, focal, crop_size)[1:]
    if check:
        _check_positive(f, "focal", hint=_FOCAL_HINT)
        _check_positive(r, "crop_size", hint=_CROP_HINT)
        _check_positive(cam[..., 0], "cam[..., 0] (s)", unit="", hint=_scale_hint("s = 2 f / (r t_z)"))
    tz = 2.0 * f / (r * cam[..., 0])
    return torch.stack((cam[..., 1], cam[..., 2], tz), dim=-1)


def cam_crop_to_full(
    cam_crop: torch.Tensor,
    bbox_center: TensorLike,
    bbox_size: TensorLike,
    image_size: TensorLike,
    focal: TensorLike,
    *,
    check: bool = True,
) -> torch.Tensor:
    """Full-frame root translation from the crop's weak-perspective camera (CLIFF Eq. 7 / 7.1).

    With bs = b s: t_z = 2 f / bs, t_x = t_x_crop + 2 (c_x - W/2) / bs,
    t_y = t_y_crop + 2 (c_y - H/2) / bs, for a full-frame camera with focal f and principal point
    at the image centre (W/2, H/2). The weak-perspective box of 2 m (the crop's [-1, 1]) at the
    root depth t_z then projects onto the b s-pixel square around the bbox (CLIFF supp. Eq. 7.2).

    Args:
        cam_crop: (..., 3) [s, t_x, t_y] predicted for the crop; s = 2 f / (b t_z) must be finite
            and > 0.
        bbox_center: (..., 2) bbox centre in pixels.
        bbox_size: (...) bbox side b in pixels, finite, > 0.
        image_size: (..., 2) (W, H) in pixels, finite, > 0.
        focal: (...) full-frame focal length in pixels, finite, > 0.
        check: refuse bad s, sizes and focal lengths (else s <= 0 or b <= 0 give t_z <= 0 or inf,
            b = inf the finite t = (t_x, t_y, 0)). Pass ``False`` in training losses on raw
            regressor outputs.
    Returns:
        (..., 3) translation t_full in metres.
    Raises:
        ValueError: if ``check`` and s, a bbox size, image size or focal length is <= 0 or not
            finite.
    """
    _check_last_dims(cam_crop, (3,), "cam_crop")
    center, b, size, f = _tensors(cam_crop, bbox_center, bbox_size, image_size, focal)[1:]
    _check_last_dims(center, (2,), "bbox_center")
    _check_last_dims(size, (2,), "image_size")
    if check:
        _check_positive(b, "bbox_size")
        _check_positive(size, "image_size")
        _check_positive(f, "focal", hint=_FOCAL_HINT)
        _check_positive(cam_crop[..., 0], "cam_crop[..., 0] (s)", unit="",
                        hint=_scale_hint("s = 2 f / (b t_z)"))
    bs = b * cam_crop[..., 0]
    tz = 2.0 * f / bs
    txy = cam_crop[..., 1:] + 2.0 * (center - 0.5 * size) / bs[..., None]
    txy, tz = torch.broadcast_tensors(txy, tz[..., None])
    return torch.cat((txy, tz[..., :1]), dim=-1)


def perspective_encoding(
    K_crop: torch.Tensor, height: int, width: int, stride: int = 4
) -> torch.Tensor:
    """PersPose PE map M^xy: each feature cell's pixel centre cast onto the z = 1 plane (Eq. 7-9).

    Feature cell (row i, column j) of the stride-``stride`` grid covers crop pixels
    [j s, (j+1) s) x [i s, (i+1) s); its centre is (u, v) = ((j + 0.5) s, (i + 0.5) s) in this
    module's continuous pixel coordinates (the mean of the centres of the pixels it covers).
    (x, y, z) = K_crop^-1 [u, v, 1]^T and the map holds (x / z, y / z).

    Channel 0 is x, which varies along the WIDTH (columns) and channel 1 is y, which varies along
    the height (rows): M^xy[:, i, j] = (x_j, y_i). PersPose Eq. 8-9 index the entry in row i,
    column j as (x_i, y_j), transposed with respect to u pointing right (Eq. 1); see the errata.

    Args:
        K_crop: (..., 3, 3) intrinsics of the crop (``crop_intrinsics``).
        height, width: crop size in pixels, multiples of ``stride``.
        stride: feature-map stride (4 for HRNet's 64 x 64 map of a 256 x 256 crop).
    Returns:
        (..., 2, height // stride, width // stride).
    """
    _check_last_dims(K_crop, (3, 3), "K_crop")
    if stride < 1 or height % stride or width % stride:
        raise ValueError(
            f"height ({height}) and width ({width}) must be positive multiples of stride ({stride})"
        )
    opts = dict(dtype=K_crop.dtype, device=K_crop.device)
    u = (torch.arange(width // stride, **opts) + 0.5) * stride
    v = (torch.arange(height // stride, **opts) + 0.5) * stride
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    pixels = torch.stack((uu, vv, torch.ones_like(uu)), dim=0)  # (3, h, w)
    rays = torch.einsum("...ij,jhw->...ihw", torch.linalg.inv(K_crop), pixels)
    return rays[..., :2, :, :] / rays[..., 2:, :, :]


def perspective_rotation(K: torch.Tensor, center_uv: TensorLike) -> torch.Tensor:
    """PersPose PR rotation turning the bbox-centre ray onto the optical axis (Eq. 12-15).

    r1 = N(K^-1 [c_u, c_v, 1]^T), r2 = (0, 0, 1); axis n = N(r1 x r2), angle
    ``phi = atan2(|r1 x r2|, r1 . r2)`` (Eq. 14's arccos, computed stably); R = Rodrigues(n, phi), so
    R r1 = r2. Applying R to the 3D labels (Eq. 16) and warping the image by
    ``perspective_homography(K, R)`` (Eq. 17) moves the bbox centre to the principal point
    (the paper says "image centre", which is the same only when the principal point is there).
    A bbox centred on the principal point gives the identity.

    Args:
        K: (..., 3, 3) intrinsics of the original image.
        center_uv: (..., 2) bbox centre (u_c, v_c) in pixels.
    Returns:
        (..., 3, 3) rotation matrices.
    """
    _check_last_dims(K, (3, 3), "K")
    center = _tensors(K, center_uv)[1]
    _check_last_dims(center, (2,), "center_uv")
    uv1 = torch.cat((center, torch.ones_like(center[..., :1])), dim=-1)
    ray = (torch.linalg.inv(K) @ uv1[..., None])[..., 0]
    ray = ray / torch.linalg.vector_norm(ray, dim=-1, keepdim=True)
    # r1 x (0, 0, 1) = (r_y, -r_x, 0)
    cross = torch.stack((ray[..., 1], -ray[..., 0], torch.zeros_like(ray[..., 0])), dim=-1)
    sin2 = ray[..., 0] ** 2 + ray[..., 1] ** 2
    positive = sin2 > 0
    # sqrt and 1/sin are singular on the axis: evaluate them on a dummy sin = 1 there.
    safe_sin = torch.sqrt(torch.where(positive, sin2, torch.ones_like(sin2)))
    phi = torch.atan2(safe_sin, ray[..., 2])
    # rotvec = n phi = (r1 x r2) phi / sin(phi), and phi / sin(phi) -> 1 on the axis (this limit,
    # not 0, gives the right derivative there).
    ratio = torch.where(positive, phi / safe_sin, torch.ones_like(sin2))
    return roma.rotvec_to_rotmat(cross * ratio[..., None])


def perspective_homography(K: torch.Tensor, R: torch.Tensor, *, check: bool = True) -> torch.Tensor:
    """Image warp M = K R K^-1 of a camera rotation R about its centre (PersPose Eq. 17).

    A pixel p of the image of X maps to the pixel of R X: p' ~ M p.

    Args:
        K: (..., 3, 3) intrinsics.
        R: (..., 3, 3) rotation (e.g. ``perspective_rotation(K, c)``).
        check: refuse an R that is not a rotation (a scaled R gives the same warp, a reflected or
            sheared one a warp that no camera rotation makes); see ``geometry.rotations``.
    Returns:
        (..., 3, 3) homography.
    Raises:
        ValueError: if ``check`` and a finite R is not a rotation.
    """
    _check_last_dims(K, (3, 3), "K")
    _check_last_dims(R, (3, 3), "R")
    if check:
        _check_rotation(R, "R")
    return K @ R @ torch.linalg.inv(K)


def apply_homography(H: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Map pixels by a homography: [u', v', w'] = H [u, v, 1], returns (u'/w', v'/w').

    Args:
        H: (..., 3, 3).
        uv: (..., J, 2) pixel coordinates.
    Returns:
        (..., J, 2).
    """
    _check_last_dims(H, (3, 3), "H")
    _check_last_dims(uv, (2,), "uv")
    uv1 = torch.cat((uv, torch.ones_like(uv[..., :1])), dim=-1)
    out = uv1 @ H.transpose(-1, -2)
    return out[..., :2] / out[..., 2:]


def bbox_from_points(
    uv: torch.Tensor, scale: float = 1.2, *, check: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Square bbox around 2D keypoints: centre of their extent, side = scale * max(width, height).

    Args:
        uv: (..., J, 2) keypoints in pixels, J >= 1, finite.
        scale: enlargement factor (>= 1 keeps every keypoint inside).
        check: refuse non-finite keypoints and a bbox of size <= 0 (else an inf keypoint gives
            an inf bbox, coincident keypoints a bbox of size 0).
    Returns:
        center (..., 2) and size (...) in pixels.
    Raises:
        ValueError: if there are no keypoints (J = 0, always checked); if ``check`` and a keypoint
            is not finite, or the keypoints span zero width and height (size would be 0).
    """
    _check_last_dims(uv, (2,), "uv")
    if uv.dim() < 2 or uv.shape[-2] == 0:
        raise ValueError(
            f"uv must have shape (..., J, 2) with J >= 1 keypoints per bbox; got {tuple(uv.shape)}. "
            "An empty keypoint set has no bounding box (e.g. a detection without visible joints)."
        )
    if check:
        _check_values(uv, torch.isfinite(uv), "uv", "finite", "finite pixel coordinates",
                      "Drop or mask the non-finite keypoints (e.g. missing joints) first.")
    lo, hi = uv.amin(dim=-2), uv.amax(dim=-2)
    size = scale * (hi - lo).amax(dim=-1)
    if check:
        _check_positive(size, "bbox size from keypoints (scale * max extent)")
    return 0.5 * (lo + hi), size
