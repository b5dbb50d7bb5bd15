"""Files on disk: atomic writes that honour the umask and clean up after killed writers, and
content digests of the data files a result was computed from.

Atomic writes go through a temporary file in the same folder and :func:`os.replace`, so a reader
sees the old file or the new one, never a mix. A writer killed mid-write (SIGKILL, power loss)
leaves its temporary file behind; the next write into that folder removes temporary files whose
writer is gone. :func:`tempfile.mkstemp` creates files with mode 0600 whatever the umask: the
final file gets the mode ``open()`` would have given it (0666 minus the umask), so a shared
results folder stays readable by the group when the umask says so.

Digests identify data by content (SHA-256), not by path: a result keyed on :func:`folder_digest`
is not reused after a file in the folder is edited, added or removed. Each file is hashed once and
the digest memoised on (size, mtime, inode), in this process and in
``$POSEBOOK_CACHE_DIR/file_digests.json`` (default ``~/.cache/posebook``), so the check is a
``stat`` per file after the first run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import Iterable

__all__ = ["atomic_write_bytes", "atomic_write_text", "cache_root", "file_digest", "folder_digest",
           "remove_stale_temporaries"]

#: Environment variable naming the root of posebook's caches (worlds, file digests).
ENV_CACHE_DIR = "POSEBOOK_CACHE_DIR"

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"
#: a temporary file is ``.<name>.<host>.<pid>.<random>.tmp``: its writer can be told alive or gone
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[^.]+\.tmp$")
#: a temporary file older than this is stale even if its process number is in use again (or it
#: comes from another host sharing the folder)
STALE_AFTER_S = 24 * 3600.0


def cache_root() -> Path:
    """``$POSEBOOK_CACHE_DIR``, else ``~/.cache/posebook``."""
    root = os.environ.get(ENV_CACHE_DIR)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "posebook"


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it: set and restore at once
    os.umask(mask)
    return mask


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike, now: float | None = None) -> list[Path]:
    """Delete the temporary files of :func:`atomic_write_bytes` in ``folder`` whose writer is gone.

    A temporary file is stale when its writer ran on this host and that process no longer exists,
    or when it is older than :data:`STALE_AFTER_S`. Returns the files removed.
    """
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None:
            continue
        try:
            age = now - entry.stat().st_mtime
        except OSError:
            continue
        gone = match["host"] == _HOST and not _process_alive(int(match["pid"]))
        if gone or age > STALE_AFTER_S:
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: readers see the old file or the new one, never a mix.

    The file gets mode 0666 minus the umask (as ``open()`` would give it); stale temporary files
    of killed writers in the same folder are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_HOST}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


# --------------------------------------------------------------------------- content digests

_MEMO: dict[str, tuple[tuple[int, int, int], str]] = {}
_MEMO_LOADED = False


def _memo_path() -> Path:
    return cache_root() / "file_digests.json"


def _load_memo() -> None:
    global _MEMO_LOADED
    if _MEMO_LOADED:
        return
    _MEMO_LOADED = True
    try:
        stored = json.loads(_memo_path().read_text())
        _MEMO.update({k: (tuple(v[0]), v[1]) for k, v in stored.items()
                      if isinstance(v, list) and len(v) == 2 and len(v[0]) == 3})
    except (OSError, ValueError, TypeError):  # no memo yet, or a damaged one: hash again
        pass


def _save_memo() -> None:
    try:
        atomic_write_text(_memo_path(), json.dumps({k: [list(s), d] for k, (s, d) in _MEMO.items()}))
    except OSError:  # a read-only home: digests are recomputed next time, nothing is wrong
        pass


def _stamp(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's content, memoised on its (size, mtime, inode)."""
    return _file_digest(path, save=True)[0]


def _file_digest(path: str | os.PathLike, save: bool) -> tuple[str, bool]:
    """(digest, whether it had to be computed, i.e. the memo changed)."""
    path = Path(path).resolve()
    _load_memo()
    stamp = _stamp(path.stat())
    known = _MEMO.get(str(path))
    if known is not None and known[0] == stamp:
        return known[1], False
    digest = _sha256(path)
    _MEMO[str(path)] = (stamp, digest)
    if save:
        _save_memo()
    return digest, True


def folder_digest(folder: str | os.PathLike, patterns: Iterable[str] = ("*",)) -> str:
    """SHA-256 (16 hex digits) of the files under ``folder`` matching ``patterns`` (recursively):
    their paths relative to ``folder`` and their contents. Changes when a file is edited, added,
    removed or renamed; not when the folder moves."""
    folder = Path(folder)
    files = sorted({p for pattern in patterns for p in folder.rglob(pattern) if p.is_file()})
    digest = hashlib.sha256()
    changed = False  # save the memo once, and only when a file had to be read
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        file_hash, computed = _file_digest(path, save=False)
        digest.update(file_hash.encode())
        changed |= computed
    if changed:
        _save_memo()
    return digest.hexdigest()[:16]
