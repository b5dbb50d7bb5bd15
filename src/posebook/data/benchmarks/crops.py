"""Square crops of a benchmark's own images: what the image models (CLIFF, SGRE, PersPose) take.

The bbox of a row is the square around the projection of its camera-frame 3D joints
(:func:`~posebook.geometry.camera.bbox_from_points`, ``scale`` 1.2 as the world's crops and CLIFF's
3DPW evaluation, which uses the projected ground-truth keypoints), so every test frame has one even
where the dataset's detected 2D joints are missing. The crop is the affine image of that square
(:func:`~posebook.geometry.camera.crop_transform`, PersPose Eq. 3), bilinear, black outside the image
(a bbox partly outside the frame is normal and padded). ``K_crop = A K`` projects into the crop.

Pixel convention: pixel (row i, column j) covers [j, j + 1) x [i, i + 1), its centre at (j + 0.5, i + 0.5)
in continuous coordinates, as PIL's transforms and the renderer's rays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from posebook.data.benchmarks.common import BenchmarkData
from posebook.geometry import camera

__all__ = ["BenchmarkCrops", "crop_image", "benchmark_crops"]


@dataclass(frozen=True)
class BenchmarkCrops:
    """The crops of N benchmark rows.

    Attributes:
        images: (N, S, S, 3) uint8 RGB crops.
        bbox_center: (N, 2) full-image pixels; bbox_size: (N,) pixels.
        K_crop: (N, 3, 3) intrinsics of the crops (``A K``).
        image_size: (N, 2) (W, H) of each full image, pixels (CLIFF's bbox input needs it).
        paths: the image file of each row.
    """

    images: torch.Tensor
    bbox_center: torch.Tensor
    bbox_size: torch.Tensor
    K_crop: torch.Tensor
    image_size: torch.Tensor
    paths: tuple[Path, ...]

    def __len__(self) -> int:
        return int(self.images.shape[0])


def crop_image(image: np.ndarray, center: np.ndarray, size: float, crop_size: int) -> np.ndarray:
    """The square of side ``size`` centred on ``center`` (full-image pixels) of ``image`` (H, W, 3)
    uint8, resampled (bilinear) to (crop_size, crop_size, 3) uint8, black outside the image.

    The crop pixel at continuous position x shows the image at ``A^-1 x`` with A of
    :func:`~posebook.geometry.camera.crop_transform`.
    """
    from PIL import Image

    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    A = camera.crop_transform(torch.as_tensor(center, dtype=torch.float64), torch.as_tensor(float(size)),
                              float(crop_size)).numpy()
    s, tu, tv = A[0, 0], A[0, 2], A[1, 2]
    # PIL wants the output -> input map: x_in = (x_out - t) / s
    coefficients = (1.0 / s, 0.0, -tu / s, 0.0, 1.0 / s, -tv / s)
    out = Image.fromarray(image).transform((crop_size, crop_size), Image.Transform.AFFINE, coefficients,
                                           resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
    return np.asarray(out, dtype=np.uint8)


def _read_rgb(path: Path, row: int, data: BenchmarkData) -> np.ndarray:
    from PIL import Image

    if not path.is_file():
        where = ", ".join(f"{k} {data[k][row]}" for k in ("sequence", "frame") if k in data)
        raise FileNotFoundError(
            f"{data.dataset}: no image {path} (row {row}: {where}); the crops need the dataset's image files "
            f"next to its annotations (3DPW: imageFiles.zip unpacked as <3dpw>/imageFiles/<sequence>/image_<frame>.jpg)")
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def benchmark_crops(data: BenchmarkData, folder: str | Path, crop_size: int, scale: float = 1.2) -> BenchmarkCrops:
    """The crop of every row of ``data``: the square of ``scale`` x the extent of the projected
    ``joints_3d_cam`` around their centre, from the image ``folder / data['image_path'][row]``.

    Args:
        data: rows with ``joints_3d_cam`` (N, J, 3), ``K`` (N, 3, 3) and ``image_path`` (N,) (3DPW's loader
            gives paths relative to the dataset folder).
        folder: the dataset folder the image paths are relative to.
        crop_size: side of the crops in pixels, > 0.
        scale: bbox enlargement, >= 1 keeps every joint inside.
    Returns:
        :class:`BenchmarkCrops` (CPU tensors).
    Raises:
        KeyError: without an ``image_path`` column; FileNotFoundError: naming the first missing image and its row;
        ValueError: a crop size <= 0, or a row whose joints project to a point (a zero-size bbox).
    """
    if int(crop_size) != crop_size or crop_size <= 0:
        raise ValueError(f"crop_size must be a positive integer number of pixels, got {crop_size!r}")
    tensors = data.to_torch("joints_3d_cam", "K", dtype=torch.float64)
    uv = camera.project(tensors["joints_3d_cam"], tensors["K"])  # (N, J, 2)
    center, size = camera.bbox_from_points(uv, scale)
    folder = Path(folder)
    paths = tuple(folder / str(p) for p in data["image_path"])
    crops = np.empty((len(data), crop_size, crop_size, 3), dtype=np.uint8)
    image_size = np.empty((len(data), 2))
    cache: dict[Path, np.ndarray] = {}  # 3DPW has two actors in some frames: read each image once
    for row, path in enumerate(paths):  # one file per row: the loop is the I/O
        if path not in cache:
            cache = {path: _read_rgb(path, row, data)}
        crops[row] = crop_image(cache[path], center[row].numpy(), float(size[row]), int(crop_size))
        image_size[row] = cache[path].shape[1], cache[path].shape[0]
    K_crop = camera.crop_intrinsics(tensors["K"], center, size, float(crop_size))
    return BenchmarkCrops(torch.from_numpy(crops), center, size, K_crop, torch.from_numpy(image_size), paths)
