"""Reopen a main-job folder (``rat-tms demo`` / ``rat-tms run``) in napari without recomputing.

The folder holds ``report.md``, ``summary.json``, ``parameters.json``, ``labels.nii.gz`` and
``meshes/*.vtk`` (mm, volume frame; see :mod:`napari_rat_tms.core.job`). Opening the folder in
napari (File > Open Folder, or ``napari FOLDER`` with this plugin's reader) gives: the scan when
its file is still where the job read it (or, for the demo, beside the folder), the segmentation
labels, the surfaces as Surface layers with the roles the Coil placement and E-field widgets look
for, the landmarks of the stereotaxic frame (press "Set stereotaxic frame" in the Coil placement
dock, then "Load placement…" with the folder's ``placement.json``), and |E| of the report's example
placement on the cortex for each model (the reference visible, the others hidden). The surfaces
carry ``project_folder`` in their metadata: the E-field dock then reads the models from the
folder's ``solver_cache`` instead of recomputing them. The folder is checked first
(:func:`..core.project.open_project`: missing files, other versions); ``rat-tms ... --gui`` opens
the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.conventions import surface_from_file_stem
from .layers import (DEFAULT_SURFACE_STYLE, ROLE_EXAMPLE_FIELD, ROLE_KEY, ROLE_LANDMARKS, ROLE_SEGMENTATION,
                     ROLE_SURFACE, SURFACE_STYLE, surface_draw_rank)

__all__ = ["is_job_folder", "job_folder_layers", "get_job_reader", "open_job_in_napari"]



def is_job_folder(path) -> bool:
    p = Path(path)
    from ..core.project import MANIFEST

    legacy = (p / "summary.json").is_file() and (p / "meshes").is_dir()    # 0.5.0: no manifest
    return p.is_dir() and ((p / MANIFEST).is_file() or legacy)


def _scan_path(folder: Path) -> Path | None:
    try:
        params = json.loads((folder / "parameters.json").read_text())["parameters"]
    except (OSError, ValueError, KeyError):
        return None
    scan = params.get("scan")
    if scan == "synthetic-rat":
        candidate = folder.parent / "synthetic_rat.nii.gz"
        return candidate if candidate.exists() else None
    return Path(scan) if scan and Path(scan).exists() else None


def job_folder_layers(path) -> list[tuple]:
    """Layer data tuples of a main-job folder (see the module docstring)."""
    from ..core.io import read_volume
    from ..core.meshes.io import read_surface_file
    from .layers import volume_layer_data

    from ..core.autosave import read_autosave
    from ..core.project import open_project

    folder = Path(path[0] if isinstance(path, (list, tuple)) else path)
    project = open_project(folder)   # ProjectError: napari shows the message; nothing is written
    layers: list[tuple] = []
    scan = _scan_path(folder)
    if scan is not None:
        layers.append(volume_layer_data(read_volume(scan)))
    labels_file = folder / "labels.nii.gz"
    if labels_file.exists():
        labels = read_volume(labels_file)
        layers.append((np.asarray(labels.data, dtype=np.uint8),
                       {"name": "segmentation", "scale": tuple(labels.voxel_size_mm), "units": "mm",
                        "metadata": {ROLE_KEY: ROLE_SEGMENTATION, "source": str(labels_file)}}, "labels"))
    summary = project.summary
    reference = next(iter(summary.get("summary", {})), None)
    def draw_rank(vtk: Path):      # inner surfaces first, the translucent body last
        stem = vtk.stem
        return (surface_draw_rank("cortex" if stem.startswith("cortex_efield_") else surface_from_file_stem(stem)),
                stem)

    for vtk in sorted((folder / "meshes").glob("*.vtk"), key=draw_rank):
        found = read_surface_file(vtk)
        vertices_mm = found.surface.vertices_m * 1e3
        stem = vtk.stem
        if stem.startswith("cortex_efield_"):
            model = stem[len("cortex_efield_"):].replace("_nospine", "*")
            values = found.values if found.values is not None else np.zeros(len(vertices_mm))
            layers.append(((vertices_mm, found.surface.faces, values),
                           {"name": f"|E| {model} (V/m)", "colormap": "turbo", "visible": model == reference,
                            "contrast_limits": (0.0, float(max(values.max(), 1e-9))), "units": "mm",
                            "metadata": {ROLE_KEY: ROLE_EXAMPLE_FIELD, "model": model, "units": "V/m",
                                         "source": str(vtk), "project_folder": str(folder)}}, "surface"))
            continue
        name = surface_from_file_stem(stem)
        colour, opacity, visible = SURFACE_STYLE.get(name, DEFAULT_SURFACE_STYLE)
        layers.append(((vertices_mm, found.surface.faces),
                       {"name": f"{name} surface", "colormap": colour, "opacity": opacity, "units": "mm",
                        "visible": visible,
                        "metadata": {ROLE_KEY: ROLE_SURFACE, "surface": name, "units": "mm",
                                     "source": str(vtk), "project_folder": str(folder)}},
                       "surface"))
    snapshot = read_autosave(folder)
    if snapshot is not None:     # the edits autosaved after the project was written (see widgets/autosave)
        index, saved = snapshot
        for layer in saved:
            kwargs = {"name": f"{layer.name} (autosaved {index.get('saved', '')})", "scale": layer.scale,
                      "translate": layer.translate, "units": "mm",
                      "metadata": {**layer.metadata, "autosave": True, "project_folder": str(folder)}}
            layers.append((layer.data, kwargs, layer.kind))
    frame = project.frame()
    if frame is not None:
        names = [k for k in ("bregma", "lambda", "midline") if k in frame.landmarks_mm]
        if names:
            points = np.array([frame.landmarks_mm[k] for k in names], float)
            layers.append((points, {"name": "landmarks", "face_color": "yellow", "size": 1.0, "units": "mm",
                                    "features": {"landmark": np.array(names, dtype=object)},
                                    "text": {"string": "{landmark}", "color": "yellow", "size": 10,
                                             "anchor": "upper_left"},
                                    "metadata": {ROLE_KEY: ROLE_LANDMARKS,
                                                 "source": str(folder / "frame.json")}},
                           "points"))
    return layers


def get_job_reader(path):
    """npe2 reader: :func:`job_folder_layers` for a main-job folder (or its ``project.json``), else
    None. The manifest registers it for folders and ``*project.json`` only (issue 24: a ``"*"``
    pattern made napari ask "Choose reader" for every file)."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    from ..core.project import MANIFEST

    p = Path(path)
    folder = p.parent if p.name == MANIFEST and p.is_file() else p
    if not is_job_folder(folder):
        return None
    return lambda _path: job_folder_layers(folder)


def open_job_in_napari(path, block: bool = False):
    """A napari viewer with every layer of the job folder (``block``: run napari's event loop)."""
    import napari

    viewer = napari.Viewer(title=f"napari-rat-tms: {Path(path).name}")
    for data, kwargs, kind in job_folder_layers(path):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    viewer.dims.ndisplay = 3
    if block:
        napari.run()
    return viewer
