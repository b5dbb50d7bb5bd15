"""What data this machine has: body models, motion capture, benchmarks — and where each is looked for.

Backs ``posebook data`` and the book's setup page. Nothing here loads a model or parses a dataset;
it only checks files, so it is instant and safe to call anywhere.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import pandas as pd

from posebook.body.models import SMPL_ENV_VAR, SMPL_URL, find_smpl_model, load_smpl_arrays
from posebook.data.benchmarks import DATASET_PAGES, EXPECTED_LAYOUT, find_benchmarks
from posebook.data.benchmarks.pw3d import H36M_REGRESSOR_FILES, find_h36m_regressor
from posebook.data.mocap import cmu_dir_from_env, list_cmu
from posebook.runs import ENV_CMU_DIR, ENV_DATA_ROOT


def _row(item: str, status: str, location: str, how: str) -> dict[str, str]:
    return {"item": item, "status": status, "location": location, "how": how}


def _anny_row() -> dict[str, str]:
    if importlib.util.find_spec("anny") is None:
        return _row("body model: Anny (default)", "MISSING", "-", "pip install anny")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "anny"
    built = cache.exists() and any(cache.iterdir())
    status = "available" + ("" if built else " (first use builds the model, ~45 s, then cached)")
    return _row("body model: Anny (default)", status, f"package anny; cache {cache}",
                "nothing to do: open model, ships its assets")


def _smpl_rows(smpl_dir: str | os.PathLike | None) -> list[dict[str, str]]:
    rows = []
    for gender in ("neutral", "male", "female"):
        try:
            path = find_smpl_model(smpl_dir, gender=gender)
            load_smpl_arrays(path)  # "available" means usable: a misnamed or damaged file says why
            rows.append(_row(f"body model: SMPL {gender}", "available", str(path), ""))
        except (ValueError, ImportError) as exc:
            rows.append(_row(f"body model: SMPL {gender}", "unusable", str(path), str(exc)))
        except FileNotFoundError:
            where = smpl_dir or os.environ.get(SMPL_ENV_VAR) or "(not set)"
            rows.append(_row(f"body model: SMPL {gender}", "not found",
                             f"SMPL_{gender.upper()}.pkl|.npz in {where}",
                             f"download from {SMPL_URL}; set {SMPL_ENV_VAR} or model_path"))
    return rows


def _cmu_row(cmu_dir: str | os.PathLike | None) -> dict[str, str]:
    how = f"set {ENV_CMU_DIR} or --cmu-dir to a folder of CMU .asf/.amc files"
    try:
        path = cmu_dir_from_env(cmu_dir)
    except FileNotFoundError as err:
        return _row("motion: CMU mocap", "MISSING", str(err), how)
    if path is None:
        return _row("motion: CMU mocap", "not configured (procedural poses are used)", "-", how)
    with warnings.catch_warnings():  # the row itself says which clips cannot be loaded
        warnings.simplefilter("ignore")
        clips = list_cmu(path, count_frames=False)
    if clips.empty:
        return _row("motion: CMU mocap", "no .amc files", str(path), how)
    usable = clips[clips["asf"].notna()]
    status = f"available: {len(usable)} clips, {usable['subject'].nunique()} subjects"
    orphans = clips.loc[clips["asf"].isna(), "clip"].tolist()
    if orphans:
        status += (f"; {len(orphans)} clips without their <subject>.asf are skipped "
                   f"({', '.join(orphans[:5])}{', ...' if len(orphans) > 5 else ''})")
    return _row("motion: CMU mocap", status, str(path), how)


def _benchmark_rows(data_root: str | os.PathLike | None) -> list[dict[str, str]]:
    root = data_root or os.environ.get(ENV_DATA_ROOT)
    found = find_benchmarks(root) if root else {name: None for name in EXPECTED_LAYOUT}
    rows = []
    for name, rel in EXPECTED_LAYOUT.items():
        dataset = next(key for key in DATASET_PAGES if rel.startswith(key))
        hit = found.get(name)
        location = str(hit) if hit else f"<{ENV_DATA_ROOT or 'data_root'}>/{rel}"
        how = "" if hit else f"get it from {DATASET_PAGES[dataset]}; set {ENV_DATA_ROOT} or --data-root"
        status = "available" if hit else ("not found" if root else "data root not set")
        rows.append(_row(f"benchmark: {name}", status, location, how))
    return rows + _pw3d_protocol_rows(root)


def _pw3d_protocol_rows(root: str | os.PathLike | None) -> list[dict[str, str]]:
    """What the image models' 3DPW evaluation (``cliff.pw3d``, ``sgre.pw3d``) needs beyond the annotations."""
    images = Path(root).expanduser() / "3dpw" / "imageFiles" if root else None
    has_images = images is not None and images.is_dir() and any(images.iterdir())
    rows = [_row("benchmark: 3dpw_images", "available" if has_images else ("not found" if root else "data root not set"),
                 str(images) if images else f"<{ENV_DATA_ROOT}>/3dpw/imageFiles",
                 "" if has_images else f"imageFiles.zip from {DATASET_PAGES['3dpw'].split()[0]}")]
    try:
        regressor, status = str(find_h36m_regressor(root)) if root else None, "available"
    except FileNotFoundError:
        regressor, status = None, "not found"
    how = "" if regressor else "SPIN's data (fetch_data.sh) or 3DCrowdNet's J_regressor_h36m_correct.npy"
    rows.append(_row("benchmark: smpl_h36m_regressor", status if root else "data root not set",
                     regressor or f"<{ENV_DATA_ROOT}>/smpl/{H36M_REGRESSOR_FILES[0]}", how))
    return rows


def data_inventory(data_root: str | os.PathLike | None = None, cmu_dir: str | os.PathLike | None = None,
                   smpl_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """One row per body model / dataset: status, where it was looked for, how to provide it."""
    rows = [_anny_row(), *_smpl_rows(smpl_dir), _cmu_row(cmu_dir), *_benchmark_rows(data_root)]
    return pd.DataFrame(rows, columns=["item", "status", "location", "how"])
