"""The CMU mocap collection on disk: where it is (``$POSEBOOK_CMU_DIR``) and which clips it holds."""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path

import pandas as pd

from posebook.runs import ENV_CMU_DIR

CMU_DIR_ENV = ENV_CMU_DIR  # defined once, in posebook.runs


_FRAME_LINE = re.compile(rb"^[ \t]*\d+[ \t]*\r?$", re.MULTILINE)
_MISSING_SHOWN = 10  # clips named in the missing-skeleton warning; the rest are counted


def list_cmu(cmu_dir: str | os.PathLike, count_frames: bool = True) -> pd.DataFrame:
    """Table of the CMU clips under a directory (flat, or CMU's ``subjects/<NN>/`` layout).

    A clip ``<subject>_<trial>.amc`` uses the skeleton ``<subject>.asf`` next to it. Frames are
    counted as frame-number lines (a regular-expression pass, no parsing).

    Args:
        cmu_dir: the directory to search recursively.
        count_frames: count each clip's frames (reads every file once).

    Returns:
        DataFrame with columns clip, subject, trial, asf (path or None), amc (path) and, when
        counted, frames; sorted by subject and trial.

    Raises:
        FileNotFoundError: ``cmu_dir`` is not a directory.

    Warns:
        UserWarning: once, naming the clips whose ``<subject>.asf`` is missing (their ``asf`` is
            None): the readers that need a skeleton skip them.
    """
    cmu_dir = Path(cmu_dir)
    if not cmu_dir.is_dir():
        raise FileNotFoundError(f"CMU mocap directory not found: {cmu_dir}")
    rows = []
    for amc in cmu_dir.rglob("*.amc"):
        subject, _, trial = amc.stem.partition("_")
        asf = amc.with_name(f"{subject}.asf")
        row = {
            "clip": amc.stem,
            "subject": subject,
            "trial": trial,
            "asf": str(asf) if asf.is_file() else None,
            "amc": str(amc),
        }
        if count_frames:
            row["frames"] = len(_FRAME_LINE.findall(amc.read_bytes()))
        rows.append(row)
    columns = ["clip", "subject", "trial", "asf", "amc"] + (["frames"] if count_frames else [])
    table = pd.DataFrame(rows, columns=columns)

    def natural(column: pd.Series) -> pd.Series:
        return column.map(lambda v: (int(v) if v.isdigit() else math.inf, v))

    table = table.sort_values(["subject", "trial"], key=natural, ignore_index=True)
    _warn_missing_skeletons(table, cmu_dir)
    return table


def _warn_missing_skeletons(table: pd.DataFrame, cmu_dir: Path) -> None:
    """One warning for every clip without a skeleton: the callers that need one drop such clips
    without a word, and a subject's clips then vanish from a dataset unnoticed."""
    missing = table[table["asf"].isna()]
    if missing.empty:
        return
    shown = missing.head(_MISSING_SHOWN)
    named = [f"{row.clip} (expected {row.subject}.asf next to it)" for row in shown.itertuples()]
    if len(missing) > _MISSING_SHOWN:
        named.append(f"and {len(missing) - _MISSING_SHOWN} more")
    clips = "1 clip has" if len(missing) == 1 else f"{len(missing)} clips have"
    warnings.warn(
        f"{clips} no skeleton file under {cmu_dir}: {', '.join(named)}; "
        "they cannot be loaded and are skipped",
        UserWarning,
        stacklevel=3,  # the caller of list_cmu
    )


def cmu_dir_from_env(explicit: str | os.PathLike | None = None) -> Path | None:
    """The CMU mocap directory: ``explicit`` if given, else ``$POSEBOOK_CMU_DIR``, else None.

    None means "no CMU data": callers fall back to the procedural pose generator.

    Raises:
        FileNotFoundError: the given or configured path is not a directory.
    """
    if explicit is not None:
        path, origin = Path(explicit), "the given CMU directory"
    elif os.environ.get(CMU_DIR_ENV):
        path, origin = Path(os.environ[CMU_DIR_ENV]), f"${CMU_DIR_ENV}"
    else:
        return None
    if not path.is_dir():
        raise FileNotFoundError(
            f"{origin} {path} is not a directory; point it at the folder holding the .asf/.amc files"
        )
    return path
