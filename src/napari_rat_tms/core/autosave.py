"""Autosave of a project's edited layers: snapshots that survive a crash.

A snapshot is written into ``<project>/autosave/``: one ``.npz`` per layer (its array, exactly,
with its scale and translation in mm) and ``index.json`` (format, date, package version, the
layers with the SHA-256 of their files, and the coil placement record). Crash safety comes from
the order of the writes: every file of a new snapshot gets a new generation in its name and is
written atomically (a temporary file renamed into place); the index that points to them replaces
the old one atomically last; only then are the previous generation's files deleted. A process
killed at any moment therefore leaves either the previous snapshot or the new one complete, never
a mixture (``tests/core/test_autosave.py`` kills a writer half-way and reads the snapshot back).

The project's own files (``project.json`` and what it lists) are never touched: the snapshot sits
beside them, :func:`read_autosave` returns it on reopening (the job-folder reader adds its layers
as "… (autosaved)"), and :func:`discard_autosave` removes it.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from .files import atomic_write, file_sha256

__all__ = ["AUTOSAVE_FOLDER", "AutosavedLayer", "write_autosave", "read_autosave", "discard_autosave"]

AUTOSAVE_FOLDER = "autosave"
INDEX = "index.json"
FORMAT = 1


@dataclass(frozen=True)
class AutosavedLayer:
    """One layer of a snapshot: ``kind`` "labels" or "points", data in the layer's data coordinates."""

    name: str
    kind: str
    data: np.ndarray
    scale: tuple
    translate: tuple
    metadata: dict


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "layer"


def write_autosave(project_folder, layers, placement: dict | None = None) -> Path:
    """Write a snapshot of ``layers`` (:class:`AutosavedLayer` items) and the placement record into
    ``<project_folder>/autosave`` (see the module docstring); returns the index path."""
    folder = Path(project_folder) / AUTOSAVE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    generation = f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    entries = []
    for layer in layers:
        if layer.kind not in ("labels", "points"):
            raise ValueError(f"cannot autosave a {layer.kind!r} layer ({layer.name}): labels and points only")
        path = folder / f"{_safe(layer.name)}.{generation}.npz"

        def save(tmp, layer=layer):
            with open(tmp, "wb") as out:
                np.savez_compressed(out, data=np.asarray(layer.data), scale=np.asarray(layer.scale, float),
                                    translate=np.asarray(layer.translate, float))

        atomic_write(path, False, save)
        entries.append({"name": layer.name, "kind": layer.kind, "file": path.name, "sha256": file_sha256(path),
                        "metadata": layer.metadata})
    index = {"format": FORMAT, "napari_rat_tms": __version__,
             "saved": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "generation": generation, "layers": entries,
             "placement": placement}
    index_path = folder / INDEX
    atomic_write(index_path, True,
                 lambda tmp: Path(tmp).write_text(json.dumps(index, indent=2, default=str)))
    keep = {entry["file"] for entry in entries} | {INDEX}
    for old in folder.iterdir():       # the previous generations, now that the index points elsewhere
        if old.name not in keep and old.suffix == ".npz":
            old.unlink(missing_ok=True)
    return index_path


def read_autosave(project_folder) -> tuple[dict, list[AutosavedLayer]] | None:
    """The snapshot of ``project_folder`` as ``(index, layers)``, or None when there is none. A
    layer whose file is missing or changed is left out with a warning (the others are returned)."""
    folder = Path(project_folder) / AUTOSAVE_FOLDER
    index_path = folder / INDEX
    if not index_path.is_file():
        return None
    try:
        index = json.loads(index_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        warnings.warn(f"the autosave index {index_path} cannot be read ({err}); ignoring the autosave",
                      stacklevel=2)
        return None
    if index.get("format") != FORMAT:
        warnings.warn(f"the autosave in {folder} has format {index.get('format')!r}, not {FORMAT}; "
                      "ignoring it", stacklevel=2)
        return None
    layers = []
    for entry in index.get("layers", []):
        path = folder / entry["file"]
        if not path.is_file() or file_sha256(path) != entry["sha256"]:
            warnings.warn(f"the autosaved layer {entry['name']!r} ({path.name}) is missing or changed; "
                          "left out", stacklevel=2)
            continue
        with np.load(path, allow_pickle=False) as data:
            layers.append(AutosavedLayer(entry["name"], entry["kind"], data["data"], tuple(data["scale"]),
                                         tuple(data["translate"]), dict(entry.get("metadata") or {})))
    return index, layers


def discard_autosave(project_folder) -> None:
    """Remove the project's autosave folder (after the user saved or discarded the changes)."""
    folder = Path(project_folder) / AUTOSAVE_FOLDER
    if folder.is_dir():
        for path in folder.iterdir():
            path.unlink(missing_ok=True)
        folder.rmdir()
