"""The E-field on the cortex in open formats, with its units and provenance.

:func:`write_surface_field` writes the field at a surface's vertices by the file's suffix:

* ``.vtk`` (legacy ASCII POLYDATA, ParaView, 3D Slicer, PyVista): points in mm, triangles,
  POINT_DATA ``E_V_per_m`` (VECTORS) and the scalars ``E_magnitude_V_per_m``,
  ``E_normal_V_per_m`` (outward positive) and ``E_tangential_V_per_m``; the provenance as compact
  JSON in the title line (cut at 255 characters, the format's limit) and in full in
  ``<file>.vtk.json`` beside it;
* ``.ply`` (binary, MeshLab, Open3D, trimesh): vertex properties x y z (mm), magnitude, ex ey ez,
  normal, tangential (V/m), one ``comment`` line per provenance entry;
* ``.csv``: one row per vertex ``x_mm, y_mm, z_mm, magnitude_V_per_m, ex_V_per_m, ...`` after ``#``
  comment lines
  with the provenance, the last one naming the columns (``numpy.loadtxt(path, delimiter=",")``
  reads the numbers).

:func:`write_volume_field` writes a field on the scan's voxel grid (E at the voxels of a region,
NaN elsewhere: not computed), as NIfTI (4D, x y z and the 3 components, float32, V/m, intent
"vector", with the scan's affine so that it overlays the scan in any viewer) or as ``.npy`` (the
plugin's array order: slice, row, column, component) with a ``.json`` beside it (voxel size, the
scan's affine, provenance).

Coordinates are the cortex's vertices in millimetres in the scan's volume frame (the napari
layers' data coordinates; see :mod:`..conventions`). The provenance is what a reader needs to
trust the numbers: package version, date, model, coil, placement, dI/dt, units. An existing file
is never replaced unless ``overwrite=True``; files are written atomically.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..files import atomic_write
from ..meshes.surface import TriangleSurface

__all__ = ["FIELD_EXPORT_FORMATS", "VOLUME_EXPORT_FORMATS", "write_surface_field", "write_volume_field",
           "field_provenance"]

FIELD_EXPORT_FORMATS = (".vtk", ".ply", ".csv")
VOLUME_EXPORT_FORMATS = (".nii.gz", ".nii", ".npy")


def field_provenance(**entries) -> dict:
    """A provenance record: ``entries`` (model, coil, placement, dI/dt ...) plus the package version,
    the date (UTC) and the units."""
    from ... import __version__

    record = {"software": f"napari-rat-tms {__version__}",
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "units": "positions mm (scan volume frame), E-field V/m"}
    record.update({k: v for k, v in entries.items() if v is not None})
    return record


def _columns(surface: TriangleSurface, efield: np.ndarray) -> tuple[np.ndarray, list[str]]:
    normal = surface.vertex_normals
    magnitude = np.linalg.norm(efield, axis=1)
    e_normal = np.einsum("ij,ij->i", efield, normal)
    tangential = np.linalg.norm(efield - e_normal[:, None] * normal, axis=1)
    data = np.column_stack([surface.vertices_m * 1e3, magnitude, efield, e_normal, tangential])
    names = ["x_mm", "y_mm", "z_mm", "magnitude_V_per_m", "ex_V_per_m", "ey_V_per_m", "ez_V_per_m",
             "normal_V_per_m", "tangential_V_per_m"]
    return data, names


def _refuse_existing(targets, overwrite: bool) -> None:
    """FileExistsError before anything is written when one of ``targets`` exists (unless ``overwrite``)."""
    if overwrite:
        return
    for target in targets:
        if target.exists():
            raise FileExistsError(f"{target} exists: choose another name or allow overwriting "
                                  "(nothing was written)")


def _json(value) -> str:
    return json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


def write_surface_field(path, surface: TriangleSurface, efield_v_per_m, *, provenance: dict | None = None,
                        overwrite: bool = False) -> list[Path]:
    """Write the field (``(V, 3)`` V/m at ``surface``'s vertices) to ``path`` (.vtk, .ply or .csv).

    Returns the files written (for .vtk also ``<path>.json`` with the full provenance). Raises
    FileExistsError (nothing written) when a file exists and ``overwrite`` is False, ValueError for
    an unknown suffix or a field that does not match the surface.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FIELD_EXPORT_FORMATS:
        raise ValueError(f"cannot export the field as {path.name!r}: use one of "
                         f"{', '.join(FIELD_EXPORT_FORMATS)}")
    efield = np.asarray(efield_v_per_m, dtype=float)
    if efield.shape != (surface.n_vertices, 3):
        raise ValueError(f"the field has shape {efield.shape}, expected ({surface.n_vertices}, 3): one "
                         "vector per vertex of the surface")
    if not np.all(np.isfinite(efield)):
        raise ValueError("the field has NaN or infinite values; nothing was written")
    provenance = dict(provenance or field_provenance())
    data, names = _columns(surface, efield)
    sidecar = path.with_name(path.name + ".json")
    targets = [path] + ([sidecar] if suffix == ".vtk" else [])
    _refuse_existing(targets, overwrite)
    if suffix == ".csv":
        def write(tmp):
            lines = [f"# {key}: {_json(value)}" for key, value in provenance.items()]
            header = "\n".join(lines) + "\n# columns: " + ",".join(names) + "\n"
            with open(tmp, "w", encoding="utf-8", newline="\n") as out:
                out.write(header)
                np.savetxt(out, data, delimiter=",", fmt="%.9g")
    elif suffix == ".ply":
        def write(tmp):
            comments = [f"comment {key}: {_json(value)}".encode("ascii", "replace").decode("ascii")
                        for key, value in provenance.items()]
            props = ["x", "y", "z", "magnitude", "ex", "ey", "ez", "normal", "tangential"]
            header = (["ply", "format binary_little_endian 1.0", *comments,
                       f"element vertex {surface.n_vertices}"] + [f"property double {p}" for p in props]
                      + [f"element face {surface.n_faces}", "property list uchar int vertex_indices",
                         "end_header"])
            faces = np.empty(surface.n_faces, dtype=[("n", "u1"), ("i", "<i4", (3,))])
            faces["n"], faces["i"] = 3, surface.faces
            with open(tmp, "wb") as out:
                out.write(("\n".join(header) + "\n").encode("ascii"))
                out.write(np.ascontiguousarray(data, dtype="<f8").tobytes())
                out.write(faces.tobytes())
    else:
        def write(tmp):
            title = _json(provenance).replace("\n", " ")[:255]
            with open(tmp, "w", encoding="ascii", errors="replace", newline="\n") as out:
                out.write(f"# vtk DataFile Version 3.0\n{title}\nASCII\nDATASET POLYDATA\n")
                out.write(f"POINTS {surface.n_vertices} double\n")
                np.savetxt(out, data[:, :3], fmt="%.17g")
                out.write(f"POLYGONS {surface.n_faces} {4 * surface.n_faces}\n")
                np.savetxt(out, np.column_stack([np.full(surface.n_faces, 3), surface.faces]), fmt="%d")
                out.write(f"POINT_DATA {surface.n_vertices}\nVECTORS E_V_per_m double\n")
                np.savetxt(out, data[:, 4:7], fmt="%.9g")
                for column, name in ((3, "E_magnitude_V_per_m"), (7, "E_normal_V_per_m"),
                                     (8, "E_tangential_V_per_m")):
                    out.write(f"SCALARS {name} double 1\nLOOKUP_TABLE default\n")
                    np.savetxt(out, data[:, column], fmt="%.9g")
    atomic_write(path, overwrite, write)
    if suffix == ".vtk":
        atomic_write(sidecar, overwrite, lambda tmp: Path(tmp).write_text(json.dumps(
            json.loads(_json(provenance)), indent=2)))
    return targets


def _volume_suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in VOLUME_EXPORT_FORMATS:
        if name.endswith(suffix):
            return suffix
    raise ValueError(f"cannot export a volume field as {path.name!r}: use one of "
                     f"{', '.join(VOLUME_EXPORT_FORMATS)}")


def write_volume_field(path, efield_grid, like, *, provenance: dict | None = None, overwrite: bool = False
                       ) -> list[Path]:
    """Write ``efield_grid`` ((K, J, I, 3) V/m on the grid of ``like``, a :class:`..volume.Volume` whose
    array order and affine it shares; NaN where not computed) to ``path`` (.nii.gz, .nii or .npy,
    the latter with a ``.json`` beside it). Returns the files written; never overwrites unless
    ``overwrite`` (FileExistsError, nothing written)."""
    path = Path(path)
    suffix = _volume_suffix(path)
    grid = np.asarray(efield_grid, dtype=np.float32)
    if grid.shape != (*like.shape, 3):
        raise ValueError(f"the field grid has shape {grid.shape}, expected {(*like.shape, 3)} (the scan's "
                         "grid and 3 components)")
    provenance = dict(provenance or field_provenance())
    sidecar = path.with_name(path.name + ".json")
    targets = [path] + ([sidecar] if suffix == ".npy" else [])
    _refuse_existing(targets, overwrite)
    if suffix == ".npy":
        def save(tmp):
            with open(tmp, "wb") as out:
                np.save(out, grid)

        atomic_write(path, overwrite, save)
        info = {"array_order": "slice, row, column, component (the plugin's volume order)",
                "voxel_size_mm": list(like.voxel_size_mm), "scanner_affine_mm": like.scanner_affine_mm,
                "not_computed": "NaN", **provenance}
        atomic_write(sidecar, overwrite, lambda tmp: Path(tmp).write_text(json.dumps(
            json.loads(_json(info)), indent=2)))
        return targets
    import nibabel as nib

    from ..io.nifti import IJK_REVERSAL

    affine = like.scanner_affine_mm @ IJK_REVERSAL
    spacing = np.asarray(like.voxel_size_mm, float)[::-1]
    if not np.allclose(np.linalg.norm(affine[:3, :3], axis=0), spacing):
        affine = np.diag([*spacing, 1.0])
    image = nib.Nifti1Image(np.transpose(grid, (2, 1, 0, 3)), affine)
    image.header.set_xyzt_units("mm")
    image.header.set_intent("vector", (), name="E V/m")
    image.header["descrip"] = f"E-field V/m; {provenance.get('model', '')} napari-rat-tms".encode()[:79]
    extension = nib.nifti1.Nifti1Extension(6, _json(provenance).encode())     # code 6: a comment
    image.header.extensions.append(extension)

    def write(tmp):
        nib.save(image, str(tmp) + suffix)
        Path(str(tmp) + suffix).replace(tmp)

    atomic_write(path, overwrite, write)
    return targets
