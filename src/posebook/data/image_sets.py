"""Rendered image datasets of the synthetic world: part-coloured crops for the image models.

The CLIFF, SGRE and PersPose chapters train on S x S crops (``WorldConfig.crop_size``) of the
world of :mod:`posebook.data.world`, drawn with each sample's crop camera ``K_crop``.
:func:`build_image_set` builds the world WITHOUT images (``render=False``, so its cache is the one
image-less uses share), then draws the crops with the torch rasterizer of
:mod:`posebook.data.raster` (~2 ms per 64 px crop on 2 CPU cores, ~15x faster than the Embree
renderer ``world`` uses; same pixels except on triangle edges, see that module), optionally the
full frames with ``K``, and applies ``pad_outside`` exactly as ``world`` does
(:func:`~posebook.data.world.blank_outside_frame`).

Speed. Posing the 13,718-vertex Anny mesh is ~2/3 of a world build (~7 ms per sample on 2
cores) and the world does not keep its vertices. So while the world is built, a thin stand-in
for the body records the vertices of the world's own batched forward calls; a chunk is used only
if the rotations, shapes and root positions it was posed with equal the world's, bit for bit
(the vertices then ARE ``body(world.rotations, world.shape, world.root)``). Chunks not recorded
(world loaded from its cache, or beyond ``max_recorded_bytes``) are posed again.

Cache. Like the world: ``<key>.npz`` + ``<key>.json`` under :func:`image_cache_dir`, written
atomically, JSON last (an image set is cached iff its JSON exists); the key hashes the world's
cache key (render-free config), the crop size, the ``full_frames`` flag and the code of this
module and everything it imports (``code_hash``). The npz is written with fixed zip timestamps,
so the same config gives the same bytes. A damaged cache file is named in a warning and rebuilt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import sys
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from posebook.data.raster import PartRasterizer
from posebook.data.world import World, WorldConfig, blank_outside_frame, build_world, world_cache_key
from posebook.files import cache_root
from posebook.runs import atomic_write_bytes, atomic_write_text, code_hash

__all__ = ["ImageSet", "build_image_set", "image_cache_dir", "image_set_key"]

#: Recorded vertices kept at most (bytes; 4,000 Anny meshes in float32 are 0.66 GB).
DEFAULT_MAX_RECORDED_BYTES = 4 << 30


@dataclass(eq=False)
class ImageSet:
    """Rendered crops (and optionally full frames) of a world, with every label in ``world``.

    Attributes:
        world: the :class:`~posebook.data.world.World` (render-free config): rotations, shape,
            root, joints3d / keypoints2d per joint set, K, bbox_center, bbox_size, K_crop, meta.
        images: (N, S, S, 3) uint8 crops drawn with ``world.K_crop``, S = ``world.crop_size``.
        full_frames: (N, H, W, 3) uint8 full frames drawn with ``world.K``, or None.
        cache_path: the .npz it was loaded from or saved to, or None.
        loaded_from_cache: True when the images were read from the cache.
        timings: seconds per stage (world, pose, raster, pad, save; or world, load).
    """

    world: World
    images: torch.Tensor
    full_frames: torch.Tensor | None = None
    cache_path: Path | None = None
    loaded_from_cache: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.world)

    def _with_images(self) -> World:
        # World.subset / split index images_crop / images_full with the labels: borrow them.
        return dataclasses.replace(self.world, images_crop=self.images, images_full=self.full_frames)

    @staticmethod
    def _from_world(world: World) -> ImageSet:
        return ImageSet(world=dataclasses.replace(world, images_crop=None, images_full=None),
                        images=world.images_crop, full_frames=world.images_full)

    def subset(self, idx: Any) -> ImageSet:
        """The samples ``idx`` (as :meth:`World.subset` takes them), images included."""
        return self._from_world(self._with_images().subset(idx))

    def split(self, train_frac: float = 0.8, seed: int = 0,
              by: Literal["auto", "clip", "subject", "sample"] = "auto") -> tuple[ImageSet, ImageSet]:
        """(train, test) by whole groups, exactly as :meth:`World.split` (by CMU clip for CMU)."""
        train, test = self._with_images().split(train_frac, seed, by)
        return self._from_world(train), self._from_world(test)


def image_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where image sets are cached: ``cache_dir/images``, else ``$POSEBOOK_CACHE_DIR/images``,
    else ``~/.cache/posebook/images`` (beside the ``world`` folder of the same root)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    return root / "images"


def _world_config(config: WorldConfig) -> WorldConfig:
    return dataclasses.replace(config, render=False, render_full=False)


def _key_payload(config: WorldConfig, full_frames: bool) -> dict[str, Any]:
    return {"world": world_cache_key(_world_config(config)), "crop_size": config.crop_size,
            "full_frames": bool(full_frames), "code": code_hash(__name__)}


def image_set_key(config: WorldConfig, *, full_frames: bool = False) -> str:
    """The cache key of an image set (resolves ``source="auto"`` against the environment)."""
    blob = json.dumps(_key_payload(config, full_frames), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# ------------------------------------------------------------------------------ posing


class _PoseRecorder:
    """Stand-in for the AnnyBody that ``build_world`` poses: forwards every attribute and call,
    and keeps (rotations, shape, translation, vertices) of the batched forward calls that give
    all three inputs (the world's per-chunk calls; retargeting's rest-pose calls give no
    translation), up to ``max_bytes`` of vertices."""

    def __init__(self, body: Any, max_bytes: int) -> None:
        self._body = body
        self._max_bytes = max_bytes
        self._bytes = 0
        self.calls: list[tuple[torch.Tensor, ...]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._body, name)

    def __call__(self, rotations: torch.Tensor, shape: Any = None, translation: Any = None) -> Any:
        out = self._body(rotations, shape, translation)
        if isinstance(shape, torch.Tensor) and translation is not None:
            size = out.vertices.numel() * out.vertices.element_size()
            if self._bytes + size <= self._max_bytes:
                self.calls.append((rotations, shape, translation, out.vertices.detach()))
                self._bytes += size
        return out


def _posed_chunks(world: World, body: Any, recorded: list[tuple[torch.Tensor, ...]],
                  chunk_size: int, timings: dict[str, float]):  # type: ignore[no-untyped-def]
    """Yield (slice, (B, V, 3) camera-frame vertices) over the world in chunks of ``chunk_size``:
    the recorded vertices when their inputs equal the world's, else posed now."""
    dtype, device = body.axes.dtype, body.faces.device
    for k, start in enumerate(range(0, len(world), chunk_size)):
        sl = slice(start, min(start + chunk_size, len(world)))
        inputs = (world.rotations[sl], world.shape[sl], world.root[sl])
        inputs = tuple(t.to(device=device, dtype=dtype) for t in inputs)
        call = recorded[k] if k < len(recorded) else None
        if call is not None and all(a.shape == b.shape and torch.equal(a, b)
                                    for a, b in zip(call[:3], inputs)):
            recorded[k] = ()  # drop our reference: the vertices go once rasterized
            yield sl, call[3]
            continue
        tic = time.perf_counter()
        with torch.no_grad():
            vertices = body(*inputs).vertices
        timings["pose"] += time.perf_counter() - tic
        yield sl, vertices


# ------------------------------------------------------------------------------ cache files


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``np.load``-able .npz with fixed timestamps (same arrays -> same bytes); deflate level
    1: the crops are mostly background, and level 6 is several times slower for ~10 % less."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", allowZip64=True) as archive:
        for name, array in arrays.items():
            data = io.BytesIO()
            np.lib.format.write_array(data, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, data.getvalue(), compress_type=zipfile.ZIP_DEFLATED,
                             compresslevel=1)
    return out.getvalue()


def _load_images(npz_path: Path, world: World, full_frames: bool
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The cached crops (and full frames); ValueError when they do not fit the world."""
    with np.load(npz_path, allow_pickle=False) as npz:
        images = npz["images"]
        full = npz["full_frames"] if full_frames else None
    S, (W, H) = world.crop_size, world.image_size
    expected = [("images", images, (len(world), S, S, 3))]
    if full is not None:
        expected.append(("full_frames", full, (len(world), H, W, 3)))
    for name, array, shape in expected:
        if array.shape != shape or array.dtype != np.uint8:
            raise ValueError(f"{name} is {array.dtype} {array.shape}, expected uint8 {shape}")
    return torch.from_numpy(images), None if full is None else torch.from_numpy(full)


# ------------------------------------------------------------------------------ build


def build_image_set(
    config: WorldConfig,
    *,
    full_frames: bool = False,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
    chunk_size: int = 256,
    cache: bool = True,
    body: Any = None,
    max_recorded_bytes: int = DEFAULT_MAX_RECORDED_BYTES,
) -> ImageSet:
    """Build (or load from the cache) the rendered crops of the world of ``config``.

    Args:
        config: the :class:`~posebook.data.world.WorldConfig`; its ``render`` / ``render_full``
            flags are ignored (the world is built render-free, the images here).
        full_frames: also draw the (H, W) full frames with ``world.K``.
        cache_dir: cache root: the world goes to ``world_cache_dir(cache_dir)``, the images to
            :func:`image_cache_dir` (``cache_dir/images``); None: ``$POSEBOOK_CACHE_DIR``.
        device: where the body and the rasterizer run; results are stored on the CPU.
        progress: progress bars and cache messages on stderr.
        chunk_size: samples per body forward / raster batch (memory vs speed; does not change
            the result beyond float rounding of the body forward).
        cache: read and write the caches (False: always build, write nothing).
        body: an ``AnnyBody`` (cmu_mb rig) to reuse; None: ``shared_anny_body(device)``.
        max_recorded_bytes: keep at most this many bytes of the world build's vertices; later
            chunks are posed again.
    Returns:
        the :class:`ImageSet`.
    Raises:
        as ``build_world`` (bad config, no CMU directory for source="cmu").
    """
    config.validate()
    world_config = _world_config(config)
    if body is None:
        from posebook.body.models import shared_anny_body

        body = shared_anny_body(str(torch.device(device)))
    payload = _key_payload(config, full_frames)
    key = image_set_key(config, full_frames=full_frames)
    folder = image_cache_dir(cache_dir)
    npz_path, json_path = folder / f"{key}.npz", folder / f"{key}.json"
    world_dir = cache_dir  # build_world resolves None to its default folder

    def log(message: str) -> None:
        if progress:
            print(f"[posebook.image_sets] {message}", file=sys.stderr)

    recorder = _PoseRecorder(body, max_recorded_bytes)
    tic = time.perf_counter()
    world = build_world(world_config, device=device, cache_dir=world_dir, progress=progress,
                        cache=cache, body=recorder, chunk_size=chunk_size)
    timings = {"world": time.perf_counter() - tic}

    if cache and json_path.is_file() and npz_path.is_file():
        tic = time.perf_counter()
        try:
            images, full = _load_images(npz_path, world, full_frames)
        except Exception as exc:  # truncated / damaged npz, or one that does not fit the world
            warnings.warn(f"image cache {npz_path} is damaged ({type(exc).__name__}: {exc}); "
                          "rebuilding it", stacklevel=2)
            json_path.unlink(missing_ok=True)  # the JSON is the "cached" marker: drop it first
        else:
            timings["load"] = time.perf_counter() - tic
            log(f"loaded {len(world)} images from {npz_path}")
            return ImageSet(world=world, images=images, full_frames=full, cache_path=npz_path,
                            loaded_from_cache=True, timings=timings)

    images, full = _draw(world, body, recorder.calls, full_frames, chunk_size, progress, timings)
    del recorder
    result = ImageSet(world=world, images=images, full_frames=full, timings=timings)
    if cache:
        tic = time.perf_counter()
        arrays = {"images": images.numpy()}
        if full is not None:
            arrays["full_frames"] = full.numpy()
        atomic_write_bytes(npz_path, _npz_bytes(arrays))
        timings["save"] = time.perf_counter() - tic
        record = {"key": key, **payload, "samples": len(world), "timings": timings,
                  "world_cache": None if world.cache_path is None else str(world.cache_path),
                  "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_text(json_path, json.dumps(record, indent=2, sort_keys=True) + "\n")
        result.cache_path = npz_path
        log(f"cached {len(world)} images to {npz_path}")
    return result


def _draw(world: World, body: Any, recorded: list[tuple[torch.Tensor, ...]], full_frames: bool,
          chunk_size: int, progress: bool, timings: dict[str, float]
          ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Rasterize every sample's crop (and full frame), chunk by chunk; fills ``timings``."""
    rasterizer = PartRasterizer.from_body(body)
    S, (W, H) = world.crop_size, world.image_size
    crops, fulls = [], []
    timings.update(pose=0.0, raster=0.0, pad=0.0)
    chunks = _posed_chunks(world, body, recorded, chunk_size, timings)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, total=-(-len(world) // chunk_size), desc=f"images ({len(world)})",
                      unit="chunk")
    for sl, vertices in chunks:
        tic = time.perf_counter()
        K_crop = world.K_crop[sl].to(vertices.device)
        crop = rasterizer(vertices, K_crop, (S, S)).cpu()
        if full_frames:
            fulls.append(rasterizer(vertices, world.K[sl].to(vertices.device), (W, H)).cpu())
        timings["raster"] += time.perf_counter() - tic
        tic = time.perf_counter()
        if world.config.pad_outside:
            crop = blank_outside_frame(crop, world.bbox_center[sl], world.bbox_size[sl], (W, H),
                                       background=rasterizer.background)
        crops.append(crop)
        timings["pad"] += time.perf_counter() - tic
    return torch.cat(crops), (torch.cat(fulls) if full_frames else None)
