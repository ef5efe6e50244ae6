"""npe2 writer and reader for napari Surface layers: triangle meshes in millimetres.

Files hold millimetres in the volume frame of the scan, the world frame of the viewer (see
:mod:`napari_rat_tms.core.conventions` and :mod:`napari_rat_tms.core.meshes.io` for the formats).

Writer (:func:`write_surface_layer`)
    A Surface layer's data are in its DATA coordinates; the writer maps them to the world with the
    layer's ``scale`` and ``translate`` (world = data x scale + translate), converted to millimetres
    with the layer's ``units`` when those are lengths (``pixel``/none count as millimetres, the
    plugin's world unit). A layer with a rotation, shear or affine is refused with a message
    rather than exported in a frame that does not match the viewer. Per-vertex values are kept in
    ``.ply`` and ``.vtk``; napari's default values (all ones) are not written.

    The writer REPLACES an existing file: napari calls npe2 writers after its own save dialog,
    which already asked whether to overwrite (and ``viewer.layers.save(path)`` is an explicit
    request to write ``path``).

Reader (:func:`get_surface_reader`)
    Returns None for a name that is not a surface format (and for FreeSurfer-style names such as
    ``lh.thickness`` whose file is not a triangle surface), else a function that gives one Surface
    layer in world millimetres: ``(vertices_mm, faces)`` or ``(vertices_mm, faces, values)``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..core.conventions import m_to_mm
from ..core.meshes.io import VALUE_FORMATS, read_surface_file, surface_format, write_surface
from ..core.meshes.surface import TriangleSurface

__all__ = ["write_surface_layer", "get_surface_reader", "read_surface_layers"]

_PIXEL_UNITS = {"", "pixel", "px", "dimensionless", "none"}


# ===================================================================================  writer
def write_surface_layer(path: str, data, attributes: dict) -> list[str]:
    """npe2 single-layer writer: write a napari Surface layer to ``path`` in world millimetres.

    Parameters
    ----------
    path : str
        Target file; its suffix picks the format (``.vtk``, ``.stl``, ``.obj``, ``.ply``, ``.off``,
        ``.surf``). An existing file is replaced (napari's save dialog has asked).
    data : tuple
        ``(vertices, faces)`` or ``(vertices, faces, values)`` in the layer's DATA coordinates:
        vertices (N, 3), faces (M, 3), values (N,).
    attributes : dict
        The layer's state (``layer.as_layer_data_tuple()[1]``): ``scale``, ``translate``,
        ``units``, ``rotate``, ``shear``, ``affine``, ``name``, ``metadata``.

    Returns
    -------
    list of str
        ``[path]``.
    """
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        raise ValueError("Surface layer data must be (vertices, faces) or (vertices, faces, values)")
    vertices = np.asarray(data[0], dtype=np.float64)
    faces = np.asarray(data[1])
    values = None if len(data) == 2 or data[2] is None else np.asarray(data[2], dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(
            f"only 3D surfaces can be exported: the vertices have shape {vertices.shape}, not (N, 3)"
        )
    _require_identity(attributes)
    scale = _per_axis(attributes.get("scale"), 1.0, "scale")
    translate = _per_axis(attributes.get("translate"), 0.0, "translate")
    to_mm = _units_to_mm(attributes.get("units"))
    vertices_mm = (vertices * scale + translate) * to_mm

    name = str(attributes.get("name") or Path(path).stem)
    fmt = surface_format(path)
    metadata = attributes.get("metadata") or {}
    values_name = metadata.get("values_name") or "value"
    if values is not None:
        default = values.shape == (len(vertices),) and np.all(values == 1.0)  # napari's default
        if default:
            values = None
        elif fmt not in VALUE_FORMATS:
            warnings.warn(
                f"{Path(path).name}: this format cannot store the surface's per-vertex values; only the "
                "mesh was saved (use .ply or .vtk to keep them)",
                stacklevel=2,
            )
            values = None
        elif values.shape != (len(vertices),):
            raise ValueError(
                f"the surface's values have shape {values.shape}; only one value per vertex "
                f"({len(vertices)},) can be saved (for several sets, e.g. time points, save each alone)"
            )
    surface = TriangleSurface.from_mm(vertices_mm, faces, name=name)
    # overwrite=True: napari's save dialog already asked before calling the writer
    write_surface(surface, path, overwrite=True, values=values, values_name=values_name)
    return [str(path)]


def _per_axis(value, default: float, what: str) -> np.ndarray:
    if value is None:
        return np.full(3, default)
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size != 3:
        raise ValueError(f"the layer's {what} has {arr.size} values; a 3D surface needs 3")
    return arr


def _require_identity(attributes: dict) -> None:
    """Refuse layers whose world transform is more than scale + translate."""
    checks = (
        ("rotate", np.eye(3)),
        ("shear", None),
        ("affine", np.eye(4)),
    )
    for key, identity in checks:
        value = attributes.get(key)
        if value is None:
            continue
        if hasattr(value, "affine_matrix"):  # napari Affine object
            value = value.affine_matrix
        arr = np.asarray(value, dtype=np.float64)
        if key == "shear":
            ok = np.allclose(arr, 0.0, atol=1e-12) or (arr.ndim == 2 and np.allclose(arr, np.eye(len(arr))))
        else:
            ok = arr.shape == identity.shape and np.allclose(arr, identity, atol=1e-12)
        if not ok:
            raise ValueError(
                f"this Surface layer has a {key} ({arr.tolist()}); the mesh export writes the volume "
                "frame (world = data x scale + translate) and cannot apply rotations, shears or "
                f"affines. Reset the layer's {key} (or apply it to the vertices) and save again."
            )


def _units_to_mm(units) -> np.ndarray:
    """Factor per axis from the layer's world units to millimetres (pixel/none -> 1: world is mm)."""
    if units is None:
        return np.ones(3)
    if isinstance(units, str) or not np.iterable(units):
        units = (units,) * 3
    units = tuple(units)
    if len(units) != 3:
        raise ValueError(f"the layer has {len(units)} units; a 3D surface needs 3")
    factors = []
    for unit in units:
        text = "" if unit is None else str(unit).strip().lower()
        if text in _PIXEL_UNITS:
            factors.append(1.0)
            continue
        try:
            import pint

            registry = getattr(unit, "_REGISTRY", None) or pint.get_application_registry()
            factors.append(float(registry.Quantity(1.0, unit).to("millimeter").magnitude))
        except Exception as err:
            raise ValueError(
                f"the layer's unit {unit!s} is not a length; cannot write the surface in millimetres"
            ) from err
    return np.asarray(factors)


# ===================================================================================  reader
def get_surface_reader(path):
    """npe2 reader hook: :func:`read_surface_layers` if ``path`` names a surface file, else None."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    try:
        path = Path(path)
    except TypeError:
        return None
    fmt = surface_format(path)
    if fmt is None or path.is_dir():
        return None
    if fmt == "freesurfer" and path.suffix.lower() != ".surf":
        # lh.*/rh.* names also hold overlays (thickness, curv) and labels: only triangle surfaces
        try:
            with open(path, "rb") as f:
                if f.read(3) != b"\xff\xff\xfe":
                    return None
        except OSError:
            return None
    return read_surface_layers


def read_surface_layers(path) -> list[tuple]:
    """Read one surface file as a list with one Surface layer data tuple, vertices in mm.

    Returns ``[((vertices_mm, faces[, values]), {"name", "metadata", "units"}, "surface")]``; the
    metadata give the source file, its format, the coordinate units and frame, the file's header
    and the name of the values (when it stores any).
    """
    if isinstance(path, (list, tuple)):
        path = path[0]
    found = read_surface_file(path)
    surface = found.surface
    vertices_mm = m_to_mm(surface.vertices_m)
    faces = np.array(surface.faces)
    data = (vertices_mm, faces) if found.values is None else (vertices_mm, faces, found.values)
    metadata = {
        "source_path": str(path),
        "format": found.format,
        "coordinate_units": "mm",
        "frame": "volume frame of the scan (columns = array axes 0, 1, 2)",
        "file_header": found.header,
    }
    if found.values is not None:
        metadata["values_name"] = found.values_name
    kwargs = {"name": surface.name, "metadata": metadata, "units": "mm"}
    return [(data, kwargs, "surface")]
