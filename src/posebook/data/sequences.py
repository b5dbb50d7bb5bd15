"""Video-like sequences of the synthetic world: consecutive CMU frames seen by one fixed camera per clip.

The world of :mod:`posebook.data.world` draws every sample independently (its own pose, shape,
camera and placement), which is what a frame-based regressor trains on but has no time axis. CLIFF
supp. Sec. 4 / Table 1 applies a frame-based regressor to the videos of 3DPW (30 fps) and measures
the acceleration error of its per-frame predictions, with and without temporal smoothing; that needs
consecutive frames of one subject in one camera. :func:`build_sequences` makes them:

1. **Motion.** Each named CMU clip (ASF/AMC, 120 Hz) is parsed once per process and resampled to
   ``fps`` (:func:`posebook.data.world._resampled_clip`, nearest frame: 120 -> 30 takes every 4th
   frame exactly); the ``frames`` consecutive frames from ``start`` are retargeted to Anny
   (:func:`posebook.data.retarget.retarget_to_anny`, onto the middle of the world's phenotype ranges,
   as the world does). The root TRAJECTORY of the window is kept: the subject walks, turns and
   jumps through the image as it did in the capture.
2. **Camera and body, once per clip.** One seeded ``torch.Generator`` draws, per clip in the order of
   ``clips``, the phenotypes, the heading, the camera pitch / roll, the FOV and the depth with
   :func:`posebook.data.world.sample_cameras` (the world's draws, with ``placement_spread = 0``), so
   the camera conventions are exactly the world's: ``world_to_cam = Rz(roll) Rx(pitch) C`` with
   ``C = MODEL_TO_CAMERA``, K with f = (W / 2) / tan(FOV / 2) and the principal point at the
   image centre.
3. **Placement.** With ``A = world_to_cam Ry(yaw)`` and the window's mean model-frame root ``m``, frame
   t's camera-frame root is ``root_t = c + A (x_t - m)``, ``c = unproject(image centre, depth)``: the
   sequence's MEAN root projects to the image centre at the sampled depth, and the per-frame
   displacement of the root is the mocap's, rotated (``|root_t - root_{t-1}| = |x_t - x_{t-1}|``).
   The camera-frame root orientation is ``A R_root,t``, as in the world.
4. **Labels and crops**, per frame exactly as the world's samples: joints per joint set
   (``posebook.body.joints.convert_joints``), keypoints ``project(joints, K)``, the square bbox of
   ``bbox_scale`` x the extent of the projected mesh and keypoints
   (:func:`posebook.geometry.camera.bbox_from_points`), ``K_crop = crop_intrinsics(K, ...)``, and the
   part-coloured crop drawn with ``K_crop`` by the torch rasterizer
   (:class:`posebook.data.raster.PartRasterizer`, ~15x faster than the world's Embree renderer),
   pixels outside the full frame set to background (``pad_outside``,
   :func:`~posebook.data.world.blank_outside_frame`).

The result is an :class:`~posebook.data.image_sets.ImageSet` whose ``world`` follows the World
conventions field by field (its ``config`` is the equivalent :class:`WorldConfig`, see
:meth:`SequenceConfig.world_config`); the frames of a sequence are consecutive rows, and ``meta``
adds ``sequence`` (0 .. S-1, in the order of ``clips``), ``t`` (frame within the sequence) and
``time_s`` to the world's columns (``frame`` is the source frame at 120 Hz, as in the world).

No CMU data, no sequences: the procedural generator of :mod:`posebook.data.poses` draws independent
poses (a gait at a random phase), not motions with a time axis, so :func:`build_sequences` raises
``FileNotFoundError`` naming ``$POSEBOOK_CMU_DIR``.

**Cache.** ``<key>.npz`` + ``<key>.json`` under :func:`sequence_cache_dir` (``$POSEBOOK_CACHE_DIR/
sequences``), written atomically, JSON last (cached iff its JSON exists), fixed zip timestamps; the key
hashes the config (CMU folder resolved), the content of the CMU folder
(:func:`posebook.files.folder_digest`), the posebook and anny versions and the code of this module and
everything it imports (``code_hash``). A damaged cache file is named in a warning and rebuilt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from posebook import __version__
from posebook.data.image_sets import ImageSet, _npz_bytes
from posebook.data.raster import PartRasterizer
from posebook.data.world import (_CMU_NATIVE_FPS, _MIN_Z, World, WorldConfig, _cmu_clips, _resampled_clip, _rot,
                                 blank_outside_frame, sample_cameras)
from posebook.files import cache_root, folder_digest
from posebook.geometry import camera
from posebook.runs import ENV_CMU_DIR, MOCAP_PATTERNS, atomic_write_bytes, atomic_write_text, code_hash

__all__ = ["SequenceConfig", "build_sequences", "sequence_cache_dir", "sequence_key", "clip_lengths",
           "sequence_index"]

#: CMU subject 02's clips of the book's subset long enough for 60 frames at 30 fps (02_03, run/jog,
#: has 44): walk, jump/balance, punch/strike.
DEFAULT_CLIPS: tuple[str, ...] = ("02_01", "02_04", "02_05")


@dataclass(frozen=True)
class SequenceConfig:
    """Everything that defines a set of sequences (its cache identity).

    Attributes:
        clips: CMU clip names (``<subject>_<trial>``), one sequence each, in this order.
        fps: frame rate the clips are resampled to, Hz, in (0, 120] (3DPW: 30).
        frames: T consecutive frames per sequence (>= 3: the acceleration error needs three).
        start: first frame of every sequence, counted at ``fps`` (0: the clip's first frame).
        image_size: (W, H) of the full image, pixels.
        fov_deg: (low, high) horizontal field of view, degrees, sampled once per clip.
        depth: (low, high) depth of the sequence's mean root, metres, sampled once per clip.
        pitch_deg, roll_deg: camera pitch / roll sampled in [-value, value] degrees, once per clip.
        crop_size: side S of the square crop, pixels.
        bbox_scale: bbox side = scale x the larger extent of the projected mesh and keypoints.
        joint_sets: joint sets computed (``posebook.body.joints``); CLIFF needs cmu31 and h36m17.
        seed: seed of the one generator of every per-clip draw.
        cmu_dir: CMU ASF/AMC folder (None: ``$POSEBOOK_CMU_DIR``).

    The phenotype ranges are the world's defaults (:class:`WorldConfig`: gender U(0, 1), age
    U(0.7, 0.9), the others U(0.2, 0.8)).
    """

    clips: tuple[str, ...] = DEFAULT_CLIPS
    fps: float = 30.0
    frames: int = 60
    start: int = 0
    image_size: tuple[int, int] = (256, 192)
    fov_deg: tuple[float, float] = (40.0, 80.0)
    depth: tuple[float, float] = (4.0, 7.0)
    pitch_deg: float = 10.0
    roll_deg: float = 5.0
    crop_size: int = 64
    bbox_scale: float = 1.2
    joint_sets: tuple[str, ...] = ("cmu31", "h36m17")
    seed: int = 0
    cmu_dir: str | None = None

    def __post_init__(self) -> None:
        # tuples (a list from a caller or a JSON round trip) so equal configs hash and compare equal
        for name in ("clips", "image_size", "fov_deg", "depth", "joint_sets"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        if self.cmu_dir is not None:
            object.__setattr__(self, "cmu_dir", str(self.cmu_dir))

    @property
    def size(self) -> int:
        """N = number of sequences x frames per sequence."""
        return len(self.clips) * self.frames

    def validate(self) -> None:
        """Raise ValueError naming the first bad field (what was wrong, what to do)."""
        if not self.clips or not all(isinstance(c, str) and c for c in self.clips):
            raise ValueError(f"clips must name at least one CMU clip, e.g. {DEFAULT_CLIPS}; got {self.clips!r}")
        if not (isinstance(self.fps, (int, float)) and 0 < self.fps <= _CMU_NATIVE_FPS):
            raise ValueError(f"fps must lie in (0, {_CMU_NATIVE_FPS:g}] (CMU is captured at 120 Hz and only "
                             f"subsampled; 3DPW's rate is 30); got {self.fps!r}")
        if not isinstance(self.frames, int) or isinstance(self.frames, bool) or self.frames < 3:
            raise ValueError(f"frames must be an int >= 3 (the acceleration error needs three consecutive "
                             f"frames); got {self.frames!r}")
        if not isinstance(self.start, int) or isinstance(self.start, bool) or self.start < 0:
            raise ValueError(f"start must be an int >= 0 (first frame, counted at fps); got {self.start!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        if not isinstance(self.crop_size, int) or self.crop_size < 1:
            raise ValueError(f"crop_size must be a positive int (pixels), got {self.crop_size!r}")
        if not self.joint_sets:
            raise ValueError("joint_sets is empty: name at least one joint set, e.g. ('cmu31', 'h36m17')")
        # the camera fields are the world's: its checks and messages
        self.world_config().validate()
        from posebook.body import joints as joint_sets

        for name in self.joint_sets:
            joint_sets.joint_names(name)  # ValueError naming the valid sets

    def world_config(self) -> WorldConfig:
        """The :class:`WorldConfig` these frames follow (``World.config`` of the result): CMU source, centred
        placement, the same camera ranges, crop, bbox and joint sets, N = :attr:`size` samples."""
        return WorldConfig(size=max(self.size, 1), seed=self.seed, source="cmu", cmu_dir=self.cmu_dir,
                           fps_subsample=float(self.fps), image_size=self.image_size, fov_deg=self.fov_deg,
                           depth=self.depth, placement_spread=0.0, pitch_deg=self.pitch_deg,
                           roll_deg=self.roll_deg, crop_size=self.crop_size, bbox_scale=self.bbox_scale,
                           joint_sets=self.joint_sets, render=False, pad_outside=True, store_vertices=False)


# ------------------------------------------------------------------------------ clips and cache


def _cmu_folder(config: SequenceConfig) -> Path:
    """The resolved CMU folder, or FileNotFoundError naming $POSEBOOK_CMU_DIR."""
    from posebook.data.mocap import cmu_dir_from_env

    folder = cmu_dir_from_env(config.cmu_dir)
    if folder is None:
        raise FileNotFoundError(
            f"sequences need CMU motion capture (consecutive frames of real motion): set the environment "
            f"variable {ENV_CMU_DIR}=<folder with the .asf/.amc files> or pass SequenceConfig(cmu_dir=...). "
            "The procedural poses of posebook.data.poses are independent draws with no time axis.")
    return folder.resolve()


def clip_lengths(cmu_dir: str | os.PathLike | None = None, fps: float = 30.0) -> pd.Series:
    """Frames of every CMU clip under ``cmu_dir`` (None: ``$POSEBOOK_CMU_DIR``) after resampling to ``fps``
    (``mocap.resample``'s count), indexed by clip name: what ``start + frames`` may reach."""
    folder = _cmu_folder(SequenceConfig(cmu_dir=None if cmu_dir is None else str(cmu_dir)))
    clips = _cmu_clips(folder)
    step = _CMU_NATIVE_FPS / min(float(fps), _CMU_NATIVE_FPS)
    counts = np.floor((clips["frames"].to_numpy() - 1) / step + 1e-9).astype(np.int64) + 1
    return pd.Series(counts, index=clips["clip"].to_numpy(), name=f"frames_at_{float(fps):g}fps")


def sequence_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where sequences are cached: ``cache_dir/sequences``, else ``$POSEBOOK_CACHE_DIR/sequences``, else
    ``~/.cache/posebook/sequences`` (beside the world and images folders of the same root)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    return root / "sequences"


def _key_payload(config: SequenceConfig, cmu_dir: Path) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    fields = dataclasses.asdict(config)
    fields["cmu_dir"] = str(cmu_dir)
    try:
        anny_version = version("anny")
    except PackageNotFoundError:
        anny_version = None
    return {"config": fields, "cmu_digest": folder_digest(cmu_dir, MOCAP_PATTERNS), "posebook": __version__,
            "anny": anny_version, "code": code_hash(__name__)}


def sequence_key(config: SequenceConfig) -> str:
    """The cache key of ``config`` (resolves ``cmu_dir`` against the environment)."""
    config.validate()
    blob = json.dumps(_key_payload(config, _cmu_folder(config)), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def sequence_index(images: ImageSet) -> list[np.ndarray]:
    """Row indices of each sequence, in order: ``[rows of sequence 0, rows of sequence 1, ...]`` (each (T,),
    consecutive frames)."""
    seq = images.world.meta["sequence"].to_numpy()
    return [np.flatnonzero(seq == s) for s in np.unique(seq)]


# ------------------------------------------------------------------------------ build


def build_sequences(config: SequenceConfig, *, cache_dir: str | os.PathLike | None = None,
                    device: str | torch.device = "cpu", progress: bool = False, cache: bool = True,
                    body: Any = None, chunk_size: int = 128) -> ImageSet:
    """Build (or load from the cache) the sequences of ``config`` (module docstring), for CLIFF supp. Table 1.

    Args:
        config: the :class:`SequenceConfig`.
        cache_dir: cache root; the files go to :func:`sequence_cache_dir` (``cache_dir/sequences``).
        device: where the body and the rasterizer run; results are stored on the CPU.
        progress: cache messages on stderr.
        cache: read and write the cache (False: always build, write nothing).
        body: an ``AnnyBody`` (cmu_mb rig) to reuse; None: ``shared_anny_body(device)``.
        chunk_size: frames per body forward / raster batch (memory vs speed; the crops do not depend on
            it, the rasterizer being batch-independent).
    Returns:
        an :class:`ImageSet`: ``world`` (N = S x T frames, sequence after sequence, each (T,) block
        consecutive in time) and ``images`` (N, S_crop, S_crop, 3) uint8.
    Raises:
        ValueError: a bad config field; an unknown clip (the message lists the clips there); a clip too
            short for ``start + frames`` (the message gives its length); a body reaching the camera.
        FileNotFoundError: no CMU folder (names ``$POSEBOOK_CMU_DIR``).
    """
    config.validate()
    cmu_dir = _cmu_folder(config)
    payload = _key_payload(config, cmu_dir)
    key = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
    folder = sequence_cache_dir(cache_dir)
    npz_path, json_path = folder / f"{key}.npz", folder / f"{key}.json"

    def log(message: str) -> None:
        if progress:
            print(f"[posebook.sequences] {message}", file=sys.stderr)

    if cache and json_path.is_file() and npz_path.is_file():
        tic = time.perf_counter()
        try:
            loaded = _load(npz_path, config)
        except Exception as exc:  # truncated / damaged npz, or one that does not fit the config
            warnings.warn(f"sequence cache {npz_path} is damaged ({type(exc).__name__}: {exc}); rebuilding it",
                          stacklevel=2)
            json_path.unlink(missing_ok=True)  # the JSON is the "cached" marker: drop it first
        else:
            loaded.cache_path, loaded.loaded_from_cache = npz_path, True
            loaded.timings = {"load": time.perf_counter() - tic}
            log(f"loaded {len(config.clips)} sequences of {config.frames} frames from {npz_path}")
            return loaded

    result = _build(config, cmu_dir, torch.device(device), body, chunk_size)
    if cache:
        arrays = {**result.world._arrays(), "images": result.images.numpy()}
        atomic_write_bytes(npz_path, _npz_bytes(arrays))
        record = {"key": key, **payload, "summary": result.world.summary(), "timings": result.timings,
                  "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_text(json_path, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
        result.cache_path = npz_path
        log(f"cached {len(config.clips)} sequences of {config.frames} frames to {npz_path}")
    return result


def _load(npz_path: Path, config: SequenceConfig) -> ImageSet:
    with np.load(npz_path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    images = arrays.pop("images")
    S = config.crop_size
    if images.shape != (config.size, S, S, 3) or images.dtype != np.uint8:
        raise ValueError(f"images are {images.dtype} {images.shape}, expected uint8 {(config.size, S, S, 3)}")
    world = World._from_arrays(config.world_config(), "cmu", arrays)
    if len(world) != config.size:
        raise ValueError(f"{len(world)} frames stored, expected {config.size}")
    return ImageSet(world=world, images=torch.from_numpy(images))


def _windows(config: SequenceConfig, cmu_dir: Path) -> list[tuple[pd.Series, Any]]:
    """Per clip: its row of ``list_cmu`` and the resampled Motion cut to [start, start + frames)."""
    table = _cmu_clips(cmu_dir).set_index("clip", drop=False)
    out = []
    for name in config.clips:
        if name not in table.index:
            raise ValueError(f"clip {name!r} is not under {cmu_dir} (with its skeleton); the clips there are "
                             f"{', '.join(table.index)}")
        row = table.loc[name]
        motion = _resampled_clip(row["asf"], row["amc"], config.fps)
        end = config.start + config.frames
        if end > motion.num_frames:
            raise ValueError(f"clip {name} has {motion.num_frames} frames at {config.fps:g} fps, but start + frames "
                             f"= {config.start} + {config.frames} = {end}: lower start or frames, or choose a "
                             f"longer clip (posebook.data.sequences.clip_lengths lists them)")
        window = slice(config.start, end)
        out.append((row, dataclasses.replace(motion, local_rotations=motion.local_rotations[window],
                                             root_translation=motion.root_translation[window],
                                             positions=motion.positions[window])))
    return out


def _build(config: SequenceConfig, cmu_dir: Path, device: torch.device, body: Any, chunk_size: int) -> ImageSet:
    from posebook.body import joints as joint_sets
    from posebook.body.models import shared_anny_body
    from posebook.data.retarget import retarget_to_anny

    timings: dict[str, float] = {}
    tic = time.perf_counter()
    if body is None:
        body = shared_anny_body(str(device))
    body_device, dtype = body.faces.device, body.axes.dtype
    world_config = config.world_config()
    n_seq, T = len(config.clips), config.frames
    windows = _windows(config, cmu_dir)
    timings["parse"] = time.perf_counter() - tic

    # One draw per clip, with the world's own sampler (so the camera conventions are the world's).
    g = torch.Generator().manual_seed(config.seed)
    cams = sample_cameras(dataclasses.replace(world_config, size=n_seq), g)
    place = cams["world_to_cam"] @ _rot(1, cams["yaw"])  # (S, 3, 3) model frame -> camera frame, heading included

    tic = time.perf_counter()
    # retarget onto the middle of the phenotype ranges, as world._cmu_poses does
    mid_shape = body.axes.new_tensor([sum(world_config.gender) / 2, sum(world_config.age) / 2]
                                     + [sum(world_config.body_shape) / 2] * 4)
    rotations, roots, meta = [], [], []
    step = _CMU_NATIVE_FPS / config.fps
    for k, (row, motion) in enumerate(windows):
        retargeted = retarget_to_anny(motion, body, shape=mid_shape)
        R = retargeted.rotations.to("cpu", torch.float64)  # (T, 31, 3, 3), [:, 0] model-frame root orientation
        x = retargeted.root_translation.to("cpu", torch.float64)  # (T, 3) model-frame Hips head
        A = place[k]
        R = torch.cat([(A @ R[:, 0])[:, None], R[:, 1:]], dim=1)
        roots.append(cams["root"][k] + (x - x.mean(dim=0)) @ A.T)  # mean root on the principal ray at `depth`
        rotations.append(R)
        t = np.arange(T)
        frame = np.minimum(np.round((config.start + t) * step).astype(np.int64), int(row["frames"]) - 1)
        meta.append(pd.DataFrame({
            "source": [f"cmu:{row['clip']}#{f}" for f in frame], "family": "cmu", "subject": str(row["subject"]),
            "clip": str(row["clip"]), "frame": frame, "sequence": np.full(T, k, dtype=np.int64), "t": t,
            "time_s": (config.start + t) / config.fps,
            **{name: np.full(T, float(torch.rad2deg(cams[key][k]))) for name, key in
               (("yaw_deg", "yaw"), ("pitch_deg", "pitch"), ("roll_deg", "roll"), ("fov_deg", "fov"))},
        }))
    timings["retarget"] = time.perf_counter() - tic
    rotations_all = torch.cat(rotations)
    root = torch.cat(roots)
    n = n_seq * T
    per_frame = torch.arange(n) // T
    shape, K, world_to_cam = cams["shape"][per_frame], cams["K"][per_frame], cams["world_to_cam"][per_frame]
    meta_all = pd.concat(meta, ignore_index=True)
    meta_all.insert(0, "sample", np.arange(n, dtype=np.int64))
    meta_all["depth"] = root[:, 2].numpy()  # per-frame root depth (the world's column; the mean is the draw)

    rasterizer = PartRasterizer.from_body(body)
    W, H = config.image_size
    S = config.crop_size
    parts: dict[str, list[torch.Tensor]] = {"center": [], "size": [], "K_crop": [], "crop": []}
    j3d: dict[str, list[torch.Tensor]] = {s: [] for s in config.joint_sets}
    j2d: dict[str, list[torch.Tensor]] = {s: [] for s in config.joint_sets}
    timings.update(body=0.0, project=0.0, raster=0.0)
    for start in range(0, n, chunk_size):
        sl = slice(start, min(start + chunk_size, n))
        tic = time.perf_counter()
        with torch.no_grad():
            posed = body(rotations_all[sl].to(device=body_device, dtype=dtype),
                         shape[sl].to(device=body_device, dtype=dtype), root[sl].to(device=body_device, dtype=dtype))
            verts = posed.vertices.detach()
            z_min = float(verts[..., 2].min())
            if z_min < _MIN_Z:
                raise ValueError(f"a body reaches z = {z_min:.2f} m, behind or at the camera (the subject walks "
                                 f"towards it); raise the depth range (now {config.depth})")
            for s in config.joint_sets:
                j3d[s].append(joint_sets.convert_joints(posed.joints.detach(), s, tails=posed.bone_tails.detach(),
                                                        vertices=verts, body=body).cpu())
        timings["body"] += time.perf_counter() - tic

        tic = time.perf_counter()
        Kc = K[sl].to(dtype)
        uv_all = [camera.project(verts.cpu(), Kc)]
        for s in config.joint_sets:
            j2d[s].append(camera.project(j3d[s][-1], Kc))
            uv_all.append(j2d[s][-1])
        center, size = camera.bbox_from_points(torch.cat(uv_all, dim=1), scale=config.bbox_scale)
        K_crop = camera.crop_intrinsics(Kc, center, size, S)
        parts["center"].append(center), parts["size"].append(size), parts["K_crop"].append(K_crop)
        timings["project"] += time.perf_counter() - tic

        tic = time.perf_counter()
        crop = rasterizer(verts, K_crop.to(verts.device), (S, S)).cpu()
        parts["crop"].append(blank_outside_frame(crop, center, size, (W, H), background=rasterizer.background))
        timings["raster"] += time.perf_counter() - tic

    world = World(
        config=world_config, resolved_source="cmu", rotations=rotations_all.to(dtype),
        world_to_cam=world_to_cam.to(dtype), shape=shape.to(dtype), root=root.to(dtype),
        joints3d={s: torch.cat(v) for s, v in j3d.items()}, keypoints2d={s: torch.cat(v) for s, v in j2d.items()},
        K=K.to(dtype), bbox_center=torch.cat(parts["center"]), bbox_size=torch.cat(parts["size"]),
        K_crop=torch.cat(parts["K_crop"]), meta=meta_all, timings=timings,
    )
    return ImageSet(world=world, images=torch.cat(parts["crop"]), timings=timings)
