"""Files written safely and identified by content: the one home of the atomic write and the file
hash used by the project folder, the caches (BEM, thresholds, CNN dataset) and every exporter.

* :func:`atomic_write`: the data goes to a temporary file beside the target, is flushed to disk and
  only then takes the target's name, so a crash or Ctrl-C never leaves a half-written file under the
  real name (a reader sees the old file or the new one);
* :func:`file_sha256`: SHA-256 of a file's bytes, read in 1 MiB blocks;
* :func:`jsonable` and :func:`write_json`: strict JSON (NumPy numbers as Python numbers, NaN and
  infinities as null), written atomically.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from pathlib import Path

import numpy as np

__all__ = ["path_sha256", "atomic_write", "file_sha256", "jsonable", "write_json"]


def atomic_write(path, overwrite: bool, write) -> None:
    """Call ``write(tmp_path)`` on a new temporary file beside ``path``, then move it to ``path``.

    The temporary file is created with the usual permissions (0666 less the umask); it is removed
    on any failure. Without ``overwrite`` the final step is a hard link, which fails if ``path``
    appeared meanwhile (no race); where hard links are unsupported, a rename. ``write`` receives a
    :class:`~pathlib.Path` and must write the whole file (a writer that appends a suffix to the
    name, like ``numpy.savez`` given a path, must be given an open file instead).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:  # data on disk before the rename makes it visible
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise FileExistsError(f"{path} exists; pass overwrite=True to replace it") from None
            except OSError:  # no hard links on this file system
                if path.exists():
                    raise FileExistsError(f"{path} exists; pass overwrite=True to replace it") from None
                os.replace(tmp, path)
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def file_sha256(path) -> str:
    """SHA-256 (hex) of the bytes of the file at ``path``; raises :class:`OSError` when unreadable."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def path_sha256(path) -> str:
    """SHA-256 (hex) of a file, or of a folder: the bytes of its files one after the other, in the
    sorted order of their paths (a DICOM series, for example); raises :class:`OSError` when unreadable."""
    path = Path(path)
    if not path.is_dir():
        return file_sha256(path)
    digest = hashlib.sha256()
    for member in sorted(p for p in path.rglob("*") if p.is_file()):
        with open(member, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def jsonable(value):
    """``value`` for strict JSON: NumPy numbers and arrays as Python numbers and lists, tuples as
    lists, keys as strings, NaN and infinities as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def write_json(path, value, *, overwrite: bool = False) -> Path:
    """Write ``jsonable(value)`` to ``path`` (UTF-8, indented) with :func:`atomic_write`; returns the path."""
    text = json.dumps(jsonable(value), indent=2, ensure_ascii=False)
    atomic_write(path, overwrite, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return Path(path)
