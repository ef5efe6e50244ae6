"""Export and import of triangle surfaces: STL, OBJ, PLY, OFF, legacy VTK and FreeSurfer.

Units and frame
    A :class:`~.surface.TriangleSurface` holds metres (SI, the physics core's unit). The FILES hold
    MILLIMETRES, in the volume frame of the scan (see :mod:`napari_rat_tms.core.conventions`): the
    three coordinate columns are the volume's array axes 0, 1, 2 (not the scanner's x, y, z), the
    origin is the centre of voxel ``[0, 0, 0]``. That is the frame of the viewer, so a surface
    exported here lines up with the µCT in napari, and in ParaView/3D Slicer with a volume exported
    in the same frame (voxel size as spacing, no rotation). Every format that can hold a comment
    says so in the file: the VTK title line, OBJ/OFF/PLY comments, the STL header, the FreeSurfer
    "created by" stamp. The conversion mm <-> m is done here, at the file boundary.

Formats (chosen from the name of the file, case-insensitive)
    ========================  =====================================  ====================
    name                      format                                 per-vertex values
    ========================  =====================================  ====================
    ``*.stl``                 binary STL (float32, shared vertices   no
                              repeated per triangle)
    ``*.obj``                 Wavefront OBJ (ASCII, full precision)  no
    ``*.ply``                 binary little-endian PLY (float64)     yes, a vertex property
    ``*.off``                 OFF (ASCII, full precision)            no
    ``*.vtk``                 legacy VTK PolyData, ASCII, version    yes, POINT_DATA SCALARS
                              3.0 (ParaView, VTK, 3D Slicer)
    ``*.surf``, ``lh.*``,     FreeSurfer triangle surface (float32,  no
    ``rh.*``, ``*.pial``,     via :mod:`nibabel.freesurfer`)
    ``*.white``,
    ``*.inflated``
    ========================  =====================================  ====================

    Reading: STL, OBJ, PLY and OFF through :mod:`trimesh` (without any processing; the vertices of
    an STL, repeated per triangle in the file, are merged where they are bit-for-bit equal, which
    is how STL stores shared vertices; trimesh splits OBJ/OFF/PLY polygons into triangles), legacy
    VTK with our parser (:mod:`.vtk_legacy`: ASCII POLYDATA, triangles only; the cell layouts of versions 2.0 to 5.1),
    FreeSurfer through nibabel. Bad files raise :class:`~napari_rat_tms.core.errors.MeshError`
    saying what is wrong.

Writing
    :func:`write_surface` refuses to replace an existing file unless ``overwrite=True`` and writes
    atomically: into a temporary file in the same folder, renamed over the target only once it is
    complete, so that a failure (full disk, an exception) never leaves a half-written file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..conventions import m_to_mm
from ..errors import MeshError
from ..files import atomic_write
from .surface import TriangleSurface
from .vtk_legacy import read_legacy_vtk

__all__ = [
    "SURFACE_SUFFIXES",
    "FREESURFER_SUFFIXES",
    "FREESURFER_PREFIXES",
    "VALUE_FORMATS",
    "SurfaceFile",
    "surface_format",
    "write_surface",
    "read_surface",
    "read_surface_file",
]

#: Suffixes of the surface files written and read here (besides the FreeSurfer names below).
SURFACE_SUFFIXES = (".stl", ".obj", ".ply", ".off", ".vtk", ".surf")
#: FreeSurfer surfaces are usually named without a format suffix: ``lh.pial``, ``rh.white``,
#: ``lh.inflated``, or ``<anything>.pial``/``.white``/``.inflated``.
FREESURFER_SUFFIXES = (".pial", ".white", ".inflated")
FREESURFER_PREFIXES = ("lh.", "rh.")
#: Formats that can store one value per vertex (``values`` of :func:`write_surface`).
VALUE_FORMATS = ("ply", "vtk")

_SUFFIX_FORMAT = {".stl": "stl", ".obj": "obj", ".ply": "ply", ".off": "off", ".vtk": "vtk",
                  ".surf": "freesurfer", **{s: "freesurfer" for s in FREESURFER_SUFFIXES}}
# lh.*/rh.* files that are NOT surfaces (FreeSurfer overlays, volumes, labels, other formats)
_NOT_SURFACE_SUFFIXES = frozenset({
    ".nii", ".gz", ".mgz", ".mgh", ".annot", ".label", ".gii", ".json", ".txt", ".csv", ".npy",
    ".npz", ".dat", ".log", ".png", ".jpg", ".tif", ".tiff", ".nrrd", ".mha", ".mhd", ".dcm",
    ".thickness", ".curv", ".sulc", ".area", ".volume", ".jacobian_white", ".avg_curv",
})
_SUPPORTED = (
    ".stl (binary), .obj, .ply (binary), .off, .vtk (legacy VTK PolyData), and FreeSurfer surfaces "
    "(.surf, or named lh.*, rh.*, *.pial, *.white, *.inflated)"
)

_UNITS_NOTE = "coordinates in millimetres (mm), volume frame of the scan: columns = array axes 0, 1, 2"
_CREATOR = "napari-rat-tms"


# ===================================================================================  formats
def surface_format(path) -> str | None:
    """The format of the surface file ``path`` from its name: ``"stl"``, ``"obj"``, ``"ply"``,
    ``"off"``, ``"vtk"``, ``"freesurfer"``, or None when the name is not one of ours. Never raises;
    does not look at the file."""
    try:
        name = Path(path).name.lower()
    except TypeError:
        return None
    suffix = Path(name).suffix
    fmt = _SUFFIX_FORMAT.get(suffix)
    if fmt is not None:
        return fmt
    if name.startswith(FREESURFER_PREFIXES) and len(name) > 3 and suffix not in _NOT_SURFACE_SUFFIXES:
        return "freesurfer"
    return None


def _format_or_raise(path: Path) -> str:
    fmt = surface_format(path)
    if fmt is None:
        raise ValueError(
            f"path {path}: unknown surface format {Path(path).suffix or '(no suffix)'!r}; supported: "
            f"{_SUPPORTED}. Suffixes: {', '.join(SURFACE_SUFFIXES + FREESURFER_SUFFIXES)}."
        )
    return fmt


# ===================================================================================  writing
def write_surface(surface: TriangleSurface, path, *, overwrite: bool = False, values=None,
                  values_name: str = "value") -> Path:
    """Write ``surface`` (metres) to ``path`` in MILLIMETRES, in the format given by its name.

    Parameters
    ----------
    surface : TriangleSurface
        Vertices in metres; written multiplied by 1000 (mm, volume frame of the scan).
    path : str or Path
        ``.stl``, ``.obj``, ``.ply``, ``.off``, ``.vtk`` or a FreeSurfer surface (``.surf``,
        ``lh.*``, ``rh.*``, ``*.pial``, ``*.white``, ``*.inflated``); see the module docstring.
    overwrite : bool
        Replace an existing file. Without it an existing ``path`` raises :class:`FileExistsError`.
    values : (N,) array of float, optional
        One finite value per vertex (e.g. the E-field magnitude in V/m), stored with the mesh:
        PLY (a float64 vertex property named ``values_name``) and VTK (POINT_DATA SCALARS) only;
        other formats raise ValueError.
    values_name : str
        Name of the values in the file (letters, digits, ``_``; other characters become ``_``).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        Unknown suffix (the message lists the supported ones), a surface without triangles, bad
        ``values``.
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    fmt = _format_or_raise(path)
    if not isinstance(surface, TriangleSurface):
        raise TypeError(f"surface must be a TriangleSurface, got {type(surface).__name__}")
    if surface.n_faces == 0:
        raise ValueError(f"surface {surface.name!r} has no triangles: nothing to write to {path}")
    vals, vname = None, None
    if values is not None:
        if fmt not in VALUE_FORMATS:
            raise ValueError(
                f"path {path}: the {fmt.upper() if fmt != 'freesurfer' else 'FreeSurfer'} format cannot "
                "store per-vertex values; write .ply or .vtk to keep them (or pass values=None)"
            )
        vals = np.asarray(values, dtype=np.float64)
        if vals.shape != (surface.n_vertices,):
            raise ValueError(
                f"values must hold one number per vertex: shape ({surface.n_vertices},), got {vals.shape}"
            )
        if not np.all(np.isfinite(vals)):
            raise ValueError("values contain NaN or infinite numbers; legacy VTK readers cannot read them")
        vname = _clean_values_name(values_name, fmt)

    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name ending in a surface suffix")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")

    vertices_mm = m_to_mm(surface.vertices_m)
    faces = surface.faces
    writer = {
        "stl": _write_stl,
        "obj": _write_obj,
        "ply": _write_ply,
        "off": _write_off,
        "vtk": _write_vtk,
        "freesurfer": _write_freesurfer,
    }[fmt]
    atomic_write(path, overwrite, lambda tmp: writer(tmp, vertices_mm, faces, surface.name, vals, vname))
    return path


def _clean_values_name(values_name, fmt: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(values_name).strip()) or "value"
    if fmt == "ply" and name.lower() in {"x", "y", "z", "nx", "ny", "nz", "red", "green", "blue", "alpha"}:
        raise ValueError(f"values_name {values_name!r} is a reserved PLY vertex property; choose another")
    return name


def _header_comment(name: str) -> str:
    clean = str(name).replace("\n", " ").replace("\r", " ")
    return f"{_CREATOR} surface {clean!r}; {_UNITS_NOTE}"


def _fmt_rows(array: np.ndarray, fmt: str, prefix: str = "") -> str:
    """Rows of ``array`` as text lines ``prefix + fmt % row`` (newline-terminated)."""
    if len(array) == 0:
        return ""
    line = prefix + " ".join([fmt] * array.shape[1]) + "\n"
    return (line * len(array)) % tuple(array.reshape(-1).tolist())


def _write_stl(tmp: Path, v, f, name, values, values_name) -> None:
    tri = v[f]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(cross, axis=1, keepdims=True)
    normals = cross / np.where(norm > 0, norm, 1.0)
    record = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
    data = np.zeros(len(f), dtype=record)
    data["normal"] = normals
    data["corners"] = tri
    # an 80-byte header that must not start with "solid" (readers would take it for ASCII STL)
    header = f"binary STL by {_CREATOR}, mm (volume frame): {name}".encode("ascii", "replace")[:80]
    with open(tmp, "wb") as out:
        out.write(header.ljust(80, b" "))
        out.write(np.uint32(len(f)).tobytes())
        out.write(data.tobytes())


def _write_obj(tmp: Path, v, f, name, values, values_name) -> None:
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write(f"# {_header_comment(name)}\n# {len(v)} vertices, {len(f)} triangles\n")
        out.write(_fmt_rows(v, "%.17g", "v "))
        out.write(_fmt_rows(f + 1, "%d", "f "))  # OBJ counts from 1


def _write_off(tmp: Path, v, f, name, values, values_name) -> None:
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        out.write(f"OFF\n# {_header_comment(name)}\n{len(v)} {len(f)} 0\n")
        out.write(_fmt_rows(v, "%.17g"))
        out.write(_fmt_rows(f, "%d", "3 "))


def _write_ply(tmp: Path, v, f, name, values, values_name) -> None:
    comment = _header_comment(name).encode("ascii", "replace").decode("ascii")
    header = ["ply", "format binary_little_endian 1.0", f"comment {comment}",
              f"element vertex {len(v)}", "property double x", "property double y", "property double z"]
    vdtype = [("x", "<f8"), ("y", "<f8"), ("z", "<f8")]
    if values is not None:
        header.append(f"property double {values_name}")
        vdtype.append(("value", "<f8"))
    header += [f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    vdata = np.empty(len(v), dtype=vdtype)
    vdata["x"], vdata["y"], vdata["z"] = v[:, 0], v[:, 1], v[:, 2]
    if values is not None:
        vdata["value"] = values
    fdata = np.empty(len(f), dtype=[("n", "u1"), ("i", "<i4", (3,))])
    fdata["n"] = 3
    fdata["i"] = f
    with open(tmp, "wb") as out:
        out.write(("\n".join(header) + "\n").encode("ascii"))
        out.write(vdata.tobytes())
        out.write(fdata.tobytes())


def _write_vtk(tmp: Path, v, f, name, values, values_name) -> None:
    title = _header_comment(name).replace("\n", " ")[:255]
    with open(tmp, "w", encoding="ascii", errors="replace", newline="\n") as out:
        out.write(f"# vtk DataFile Version 3.0\n{title}\nASCII\nDATASET POLYDATA\n")
        out.write(f"POINTS {len(v)} double\n")
        out.write(_fmt_rows(v, "%.17g"))
        out.write(f"POLYGONS {len(f)} {4 * len(f)}\n")
        out.write(_fmt_rows(f, "%d", "3 "))
        if values is not None:
            out.write(f"POINT_DATA {len(v)}\nSCALARS {values_name} double 1\nLOOKUP_TABLE default\n")
            out.write(_fmt_rows(values.reshape(-1, 1), "%.17g"))


def _write_freesurfer(tmp: Path, v, f, name, values, values_name) -> None:
    from nibabel.freesurfer.io import write_geometry

    # the stamp is one line (nibabel ends it with two newlines); keep it ASCII
    stamp = _header_comment(name).encode("ascii", "replace").decode("ascii")
    write_geometry(str(tmp), v.astype(np.float32), f.astype(np.int32), create_stamp=f"created by {stamp}")


# ===================================================================================  reading
@dataclass(frozen=True, eq=False)
class SurfaceFile:
    """What :func:`read_surface_file` found in a surface file.

    Attributes
    ----------
    surface : TriangleSurface
        The mesh, vertices in METRES (the file's millimetres / 1000). Its name is the ``name``
        given to the reader, else the file name without the format suffix (FreeSurfer: the whole
        name, ``lh.pial``).
    format : str
        ``"stl"``, ``"obj"``, ``"ply"``, ``"off"``, ``"vtk"`` or ``"freesurfer"``.
    values : (N,) float array or None
        Per-vertex values stored with the mesh (PLY vertex property, VTK POINT_DATA scalars).
    values_name : str or None
        Their name in the file.
    header : str
        The file's comment / title / stamp (where it has one), e.g. the units note written here.
    """

    surface: TriangleSurface
    format: str
    values: np.ndarray | None = None
    values_name: str | None = None
    header: str = ""


def read_surface(path, *, name: str | None = None) -> TriangleSurface:
    """Read a triangle surface whose file holds MILLIMETRES; returns vertices in METRES.

    Formats as for :func:`write_surface` (see the module docstring), chosen from the name of the
    file. ``name`` names the surface (default: the file name without its format suffix).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The name is not one of a supported format.
    MeshError
        The file is unreadable or corrupt, holds no triangles, or holds polygons other than
        triangles, or indices of vertices that do not exist.
    """
    return read_surface_file(path, name=name).surface


def read_surface_file(path, *, name: str | None = None) -> SurfaceFile:
    """Like :func:`read_surface`, but also returns the per-vertex values and the file's header."""
    path = Path(path)
    fmt = _format_or_raise(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir():
        raise MeshError(f"{path} is a folder, not a surface file")
    if name is None:
        # FreeSurfer names carry the surface in the "suffix": lh.pial -> "lh.pial"
        name = path.name if fmt == "freesurfer" and path.suffix.lower() != ".surf" else path.stem
    reader = {"vtk": read_legacy_vtk, "freesurfer": _read_freesurfer}.get(fmt, _read_trimesh)
    try:
        vertices_mm, faces, values, values_name, header = reader(path, fmt)
    except MeshError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure of a parser means the same to the user
        raise MeshError(
            f"{path} is not a readable {_FORMAT_TITLE[fmt]} file ({type(err).__name__}: {err}). The file "
            "is probably truncated, corrupt or of another format; export it again."
        ) from err
    vertices_mm = np.asarray(vertices_mm, dtype=np.float64)
    faces = np.asarray(faces)
    if vertices_mm.ndim != 2 or vertices_mm.shape[1] != 3:
        raise MeshError(f"{path}: vertices are not 3D points (shape {vertices_mm.shape}); not a 3D surface")
    if faces.size == 0:
        raise MeshError(
            f"{path} holds {len(vertices_mm)} points but no triangles: not a triangle mesh (a point "
            "cloud or lines?). Export the surface with its faces."
        )
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise MeshError(f"{path}: faces are not triangles (shape {faces.shape}); triangulate the mesh first")
    faces = faces.astype(np.int64)
    if faces.min() < 0 or faces.max() >= len(vertices_mm):
        raise MeshError(
            f"{path}: faces refer to vertices that do not exist (indices {faces.min()}..{faces.max()}, "
            f"{len(vertices_mm)} vertices); the file is corrupt"
        )
    if not np.all(np.isfinite(vertices_mm)):
        raise MeshError(f"{path}: vertex coordinates contain NaN or infinite values")
    if values is not None:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(vertices_mm),):
            raise MeshError(
                f"{path}: {values_name!r} holds {values.size} values for {len(vertices_mm)} vertices; "
                "the file is inconsistent"
            )
    surface = TriangleSurface.from_mm(vertices_mm, faces, name=name)
    return SurfaceFile(surface, fmt, values, values_name, header)


_FORMAT_TITLE = {"stl": "STL", "obj": "OBJ", "ply": "PLY", "off": "OFF", "vtk": "legacy VTK",
                 "freesurfer": "FreeSurfer surface"}


def _read_trimesh(path: Path, fmt: str):
    import trimesh

    kwargs = {"process": False}
    if fmt == "obj":
        kwargs.update(maintain_order=True, skip_materials=True)
    loaded = trimesh.load(str(path), file_type=fmt, **kwargs)
    if isinstance(loaded, trimesh.Scene):
        meshes = [g for g in loaded.geometry.values() if isinstance(g, trimesh.Trimesh)]
        if not meshes:
            others = ", ".join(sorted({type(g).__name__ for g in loaded.geometry.values()}))
            raise MeshError(
                f"{path}: no triangles could be read: the file is empty, corrupt, or not readable as "
                f"{_FORMAT_TITLE[fmt]}" + (f" (it holds {others}, not a triangle mesh)" if others else "")
            )
        loaded = meshes[0] if len(meshes) == 1 else trimesh.util.concatenate(meshes)
    if not isinstance(loaded, trimesh.Trimesh):
        n = len(getattr(loaded, "vertices", []))
        raise MeshError(
            f"{path} holds {type(loaded).__name__} data ({n} points) but no triangles: not a triangle "
            "mesh. Export the surface with its faces."
        )
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    faces = np.asarray(loaded.faces, dtype=np.int64).reshape(-1, 3)
    values = values_name = None
    header = ""
    if fmt == "stl":
        vertices, faces = _merge_identical(vertices, faces)
        header = _stl_header(path)
    elif fmt == "ply":
        values, values_name, header = _ply_extras(path, loaded)
    elif fmt in ("obj", "off"):
        header = _leading_comments(path)
    return vertices, faces, values, values_name, header


def _merge_identical(vertices: np.ndarray, faces: np.ndarray):
    """Merge vertices with bit-for-bit identical coordinates (STL repeats shared vertices per
    triangle); the merged vertices come in the order of their first use."""
    if len(vertices) == 0:
        return vertices, faces
    unique, first, inverse = np.unique(vertices, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return unique[order], rank[inverse.reshape(-1)][faces]


def _stl_header(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(80)
    if head[:5].lower() == b"solid":  # ASCII STL: first line
        return head.split(b"\n")[0].decode("ascii", "replace").strip()
    return head.rstrip(b"\x00 ").decode("ascii", "replace")


def _leading_comments(path: Path) -> str:
    lines = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f):
            s = line.strip()
            if s.startswith("#"):
                lines.append(s.lstrip("#").strip())
            elif i > 2 or (s and s.upper() not in ("OFF", "COFF")):
                break
    return "\n".join(lines)


def _ply_extras(path: Path, mesh):
    """The first scalar vertex property other than the coordinates, colours and normals, and the
    header's comments."""
    comments = []
    properties = []
    with open(path, "rb") as f:
        in_vertex = False
        for _ in range(10000):
            line = f.readline()
            if not line:
                break
            text = line.decode("ascii", "replace").strip()
            if text == "end_header":
                break
            parts = text.split()
            if not parts:
                continue
            if parts[0] == "comment":
                comments.append(text[len("comment"):].strip())
            elif parts[0] == "element":
                in_vertex = len(parts) > 1 and parts[1] == "vertex"
            elif parts[0] == "property" and in_vertex and len(parts) == 3:
                properties.append(parts[2])
    skip = {"x", "y", "z", "nx", "ny", "nz", "red", "green", "blue", "alpha", "s", "t", "u", "v"}
    candidates = [p for p in properties if p.lower() not in skip]
    values = name = None
    if candidates:
        name = candidates[0]
        attrs = getattr(mesh, "vertex_attributes", {}) or {}
        if name in attrs:
            values = np.asarray(attrs[name], dtype=np.float64).reshape(-1)
        else:
            raw = (mesh.metadata.get("_ply_raw") or {}).get("vertex", {}).get("data")
            if raw is not None and name in getattr(raw, "dtype", np.dtype([])).names:
                values = np.asarray(raw[name], dtype=np.float64).reshape(-1)
        if values is None:
            name = None
    return values, name, "\n".join(comments)


# ----------------------------------------------------------------------------------  FreeSurfer
def _read_freesurfer(path: Path, fmt: str):
    from nibabel.freesurfer.io import read_geometry

    with open(path, "rb") as f:
        magic = f.read(3)
    if len(magic) < 3:
        raise MeshError(f"{path} is empty or truncated: not a FreeSurfer surface")
    if magic not in (b"\xff\xff\xfe", b"\xff\xff\xff", b"\xff\xff\xfd"):
        raise MeshError(
            f"{path} is not a FreeSurfer surface (its first bytes are not a FreeSurfer surface's magic "
            "number); FreeSurfer overlays (thickness, curv) and volumes are not surfaces"
        )
    coords, faces, stamp = read_geometry(str(path), read_stamp=True)
    if isinstance(stamp, bytes):
        stamp = stamp.decode("utf-8", "replace")
    return coords, faces, None, None, str(stamp or "").strip()
