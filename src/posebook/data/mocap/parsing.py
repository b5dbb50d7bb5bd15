"""Parsing helpers the ASF, AMC and BVH readers share: text lines, finite numbers, Euler angles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch

from posebook.data.mocap.types import MocapFormatError

# ----------------------------------------------------------------------------------------------
# text helpers


def _read_lines(path: Path) -> list[str]:
    """Lines of a text file, any of LF / CRLF / CR endings, with or without a final newline."""
    if not path.is_file():
        raise FileNotFoundError(f"no such motion-capture file: {path}")
    text = path.read_bytes().decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _floats(tokens: Sequence[str], count: int, path: Path, line: int | None, what: str) -> list[float]:
    """Exactly ``count`` finite numbers (see :func:`_numbers`); MocapFormatError naming the line."""
    if len(tokens) != count:
        raise MocapFormatError(
            path, line, f"{what}: expected {count} numbers, got {len(tokens)} ({' '.join(tokens)!r})"
        )
    return _numbers(tokens, path, line, what)


def _numbers(tokens: Sequence[str], path: Path, line: int | None, what: str) -> list[float]:
    """The tokens as floats; MocapFormatError naming the first that is not a finite number.

    ``float`` reads ``nan``, ``inf`` and overflowing literals such as ``1e999`` (inf) without
    complaint, and a NaN let through surfaces frames later, far from the file that held it.
    """
    try:
        values = [float(token) for token in tokens]
    except ValueError:
        bad = next(token for token in tokens if not _is_number(token))
        raise MocapFormatError(
            path, line, f"{what}: non-numeric value {bad!r}; expected {len(tokens)} numbers"
        ) from None
    if not all(map(math.isfinite, values)):
        k = next(k for k, value in enumerate(values) if not math.isfinite(value))
        raise MocapFormatError(
            path, line,
            f"{what}: value {tokens[k]!r} is not a finite number (it reads as {values[k]}); "
            f"expected {len(tokens)} finite number{'s' if len(tokens) != 1 else ''}",
        )
    return values


def _positive(token: str, path: Path, line: int | None, what: str, meaning: str) -> float:
    """``token`` as a positive finite number; MocapFormatError saying what it is for otherwise."""
    value = _numbers([token], path, line, what)[0]
    if value <= 0:
        raise MocapFormatError(path, line, f"{what} is {token}; expected a positive number ({meaning})")
    return value


def _positive_parameter(value: float, name: str, meaning: str) -> float:
    """A caller's ``name=value`` as a positive finite float; ValueError naming the parameter otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name}={value!r}: expected a positive finite number ({meaning})")
    return number


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _elementary(axis: str, c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation about one coordinate axis by the angle with cosine c and sine s."""
    i, j = {"X": (1, 2), "Y": (2, 0), "Z": (0, 1)}[axis]
    R = torch.zeros(*c.shape, 3, 3, dtype=c.dtype, device=c.device)
    R[..., 3 - i - j, 3 - i - j] = 1.0
    R[..., i, i] = c
    R[..., j, j] = c
    R[..., i, j] = -s
    R[..., j, i] = s
    return R


def _euler(angles: torch.Tensor, convention: str, degrees: bool) -> torch.Tensor:
    """(..., len(convention)) Euler angles -> (..., 3, 3), roma's convention rule (upper = intrinsic).

    Intrinsic ``"ZYX"`` is ``Rz Ry Rx``, extrinsic ``"xyz"`` the same matrix; any number of axes.
    Products of elementary rotations: roma's quaternion route is several times slower on the
    160,000 rotations of a long clip (tested against roma).
    """
    if not convention:
        return torch.eye(3, dtype=angles.dtype, device=angles.device).expand(*angles.shape[:-1], 3, 3).clone()
    radians = torch.deg2rad(angles) if degrees else angles
    c, s = torch.cos(radians), torch.sin(radians)
    mats = [_elementary(axis, c[..., k], s[..., k]) for k, axis in enumerate(convention.upper())]
    if convention.islower():
        mats.reverse()
    out = mats[0]
    for m in mats[1:]:
        out = out @ m
    return out
