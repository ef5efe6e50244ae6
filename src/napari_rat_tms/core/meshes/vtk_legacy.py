"""A reader of legacy VTK PolyData surfaces (ASCII), written here: trimesh (our mesh library) does
not read them, VTK itself is a large dependency for one reader, and meshio (which reads them) is
not a dependency of the package. Issue 24 weighs replacing it.

The file format: "VTK File Formats" (Kitware, VTK User's Guide, legacy formats, versions 2.0 to 5.1).
Used by :func:`.io.read_surface`; bad files raise :class:`~napari_rat_tms.core.errors.MeshError`
saying what is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import MeshError

__all__ = ["read_legacy_vtk"]


class _Tokens:
    """The whitespace-separated tokens of the body of a legacy VTK file, read front to back."""

    def __init__(self, path: Path, body: str):
        self.path = path
        self.tokens = body.split()
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.tokens)

    def peek(self) -> str | None:
        return None if self.at_end() else self.tokens[self.pos]

    def next(self, what: str) -> str:
        if self.at_end():
            raise MeshError(f"{self.path}: the file ends where {what} was expected (truncated?)")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def integer(self, what: str) -> int:
        token = self.next(what)
        try:
            value = int(token)
        except ValueError:
            raise MeshError(f"{self.path}: expected {what} (an integer), found {token!r}") from None
        if value < 0:
            raise MeshError(f"{self.path}: negative {what} ({value})")
        return value

    def numbers(self, count: int, what: str) -> np.ndarray:
        """The next ``count`` numbers, as float64."""
        chunk = self.tokens[self.pos:self.pos + count]
        if len(chunk) < count:
            raise MeshError(
                f"{self.path}: the file ends after {len(chunk)} of the {count} numbers of {what} (truncated?)"
            )
        self.pos += count
        try:
            return np.array(chunk, dtype=np.float64)
        except ValueError:
            bad = next((t for t in chunk if not _is_number(t)), "?")
            raise MeshError(f"{self.path}: {what} contains {bad!r}, which is not a number") from None


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


_METADATA_BLOCK = re.compile(r"^[ \t]*METADATA[ \t]*\n(?:[ \t]*\S[^\n]*\n)*", re.MULTILINE)


def read_legacy_vtk(path: Path, fmt: str = "vtk"):
    """Legacy VTK, ASCII, DATASET POLYDATA: POINTS and POLYGONS (triangles only), plus the first
    one-component POINT_DATA scalars (or field array) as per-vertex values. Both cell layouts are
    read: the classic one (``3 a b c`` per triangle) and that of version 5.1 (OFFSETS and
    CONNECTIVITY). VERTICES and LINES are skipped; TRIANGLE_STRIPS, polygons other than
    triangles, binary files and other datasets raise MeshError. Normals, vectors, colours, cell
    data and METADATA blocks are skipped.

    Returns ``(points, faces, values, values_name, title)``: (N, 3) coordinates as in the file,
    (F, 3) int64 triangles, (N,) values or None, their name or None, the file's title line.
    ``fmt`` is unused (the readers of :mod:`.io` share one signature)."""
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.lstrip().startswith(b"# vtk DataFile"):
        raise MeshError(f"{path} is not a legacy VTK file (it does not start with '# vtk DataFile Version')")
    text = raw.decode("latin-1")
    lines = text.splitlines()
    if len(lines) < 4:
        raise MeshError(f"{path}: legacy VTK header incomplete (fewer than 4 lines)")
    title = lines[1].strip()
    encoding = lines[2].strip().upper()
    if encoding == "BINARY":
        raise MeshError(
            f"{path} is a BINARY legacy VTK file; only ASCII legacy VTK is read here. Save it as ASCII "
            "(ParaView: File > Save Data, 'File Type: ASCII') or as .ply/.stl."
        )
    if encoding != "ASCII":
        raise MeshError(f"{path}: line 3 must say ASCII or BINARY, found {lines[2].strip()[:40]!r}")
    # METADATA blocks (VTK >= 8 writes them after some arrays) run to the next blank line
    body = _METADATA_BLOCK.sub("", "\n".join(lines[3:]) + "\n")
    tokens = _Tokens(path, body)
    if tokens.next("DATASET").upper() != "DATASET":
        raise MeshError(f"{path}: line 4 must be 'DATASET POLYDATA'")
    kind = tokens.next("the dataset type").upper()
    if kind != "POLYDATA":
        raise MeshError(
            f"{path} holds a {kind} dataset; only POLYDATA (a surface) is read. In ParaView apply "
            "'Extract Surface' and 'Triangulate', then save as legacy VTK."
        )
    points = None
    faces = None
    values = values_name = None
    n_points = None
    section = None  # "point" / "cell" data
    while not tokens.at_end():
        key = tokens.next("a keyword").upper()
        if key == "POINTS":
            n_points = tokens.integer("the number of points")
            tokens.next("the data type of the points")
            points = tokens.numbers(3 * n_points, "POINTS").reshape(n_points, 3)
        elif key in ("POLYGONS", "VERTICES", "LINES", "TRIANGLE_STRIPS"):
            cells = _vtk_cells(tokens, key)
            if key == "POLYGONS":
                faces = _triangles(path, cells)
            elif key == "TRIANGLE_STRIPS" and cells:
                raise MeshError(
                    f"{path} stores triangle strips; apply ParaView's 'Triangulate' filter and save again"
                )
            # VERTICES and LINES (e.g. a few stray edges) are not part of the surface: skipped
        elif key in ("POINT_DATA", "CELL_DATA"):
            tokens.integer(f"the size of {key}")
            section = "point" if key == "POINT_DATA" else "cell"
        elif key == "SCALARS":
            name = tokens.next("the name of the scalars")
            tokens.next("the data type of the scalars")
            ncomp = 1
            if tokens.peek() is not None and tokens.peek().isdigit():
                ncomp = tokens.integer("the number of components")
            if tokens.peek() is not None and tokens.peek().upper() == "LOOKUP_TABLE":
                tokens.next("LOOKUP_TABLE")
                tokens.next("the lookup table name")
            n = _section_size(path, section, n_points, faces)
            data = tokens.numbers(n * ncomp, f"SCALARS {name}")
            if section == "point" and values is None and ncomp == 1:
                values, values_name = data, name
        elif key == "LOOKUP_TABLE":  # a table's definition: name, size, then RGBA rows
            tokens.next("the lookup table name")
            size = tokens.integer("the lookup table size")
            tokens.numbers(4 * size, "LOOKUP_TABLE")
        elif key == "COLOR_SCALARS":
            tokens.next("the name of the colour scalars")
            ncomp = tokens.integer("the number of colour components")
            tokens.numbers(_section_size(path, section, n_points, faces) * ncomp, "COLOR_SCALARS")
        elif key in ("VECTORS", "NORMALS"):
            tokens.next(f"the name of the {key.lower()}")
            tokens.next("the data type")
            tokens.numbers(_section_size(path, section, n_points, faces) * 3, key)
        elif key == "TEXTURE_COORDINATES":
            tokens.next("the name of the texture coordinates")
            dim = tokens.integer("the dimension")
            tokens.next("the data type")
            tokens.numbers(_section_size(path, section, n_points, faces) * dim, key)
        elif key == "TENSORS":
            tokens.next("the name of the tensors")
            tokens.next("the data type")
            tokens.numbers(_section_size(path, section, n_points, faces) * 9, key)
        elif key == "FIELD":
            tokens.next("the field name")
            n_arrays = tokens.integer("the number of field arrays")
            for _ in range(n_arrays):
                name = tokens.next("a field array name")
                ncomp = tokens.integer("the number of components")
                ntuples = tokens.integer("the number of tuples")
                dtype = tokens.next("the data type")
                if dtype.lower() == "string":
                    raise MeshError(f"{path}: string field arrays are not supported")
                data = tokens.numbers(ncomp * ntuples, f"FIELD array {name}")
                if (section == "point" and values is None and ncomp == 1
                        and n_points is not None and ntuples == n_points):
                    values, values_name = data, name
        else:
            raise MeshError(
                f"{path}: unexpected {key!r} in a legacy VTK POLYDATA file"
            )
    if points is None:
        raise MeshError(f"{path}: no POINTS section; not a surface")
    if faces is None:
        faces = np.zeros((0, 3), dtype=np.int64)
    return points, faces, values, values_name, title


def _section_size(path, section, n_points, faces) -> int:
    if section == "point":
        if n_points is None:
            raise MeshError(f"{path}: POINT_DATA before POINTS")
        return n_points
    if section == "cell":
        return 0 if faces is None else len(faces)
    raise MeshError(f"{path}: attribute data without POINT_DATA or CELL_DATA before it")


def _vtk_cells(tokens: _Tokens, key: str) -> list[np.ndarray]:
    """The cells of a VERTICES/LINES/POLYGONS/TRIANGLE_STRIPS section as (sizes, connectivity)."""
    a = tokens.integer(f"the number of {key}")
    b = tokens.integer(f"the size of {key}")
    if tokens.peek() is not None and tokens.peek().upper() == "OFFSETS":  # version 5.x layout
        tokens.next("OFFSETS")
        tokens.next("the offsets' type")
        offsets = tokens.numbers(a, f"{key} OFFSETS").astype(np.int64)
        if tokens.next("CONNECTIVITY").upper() != "CONNECTIVITY":
            raise MeshError(f"{tokens.path}: {key} OFFSETS must be followed by CONNECTIVITY")
        tokens.next("the connectivity's type")
        conn = tokens.numbers(b, f"{key} CONNECTIVITY").astype(np.int64)
        if a == 0:
            return []
        sizes = np.diff(offsets)
        if offsets[0] != 0 or np.any(sizes < 0) or offsets[-1] != b:
            raise MeshError(f"{tokens.path}: {key} OFFSETS are inconsistent with the CONNECTIVITY")
        return [sizes, conn]
    # classic layout: n cells, then per cell: its size followed by its point ids
    flat = tokens.numbers(b, key).astype(np.int64)
    if a == 0:
        return []
    if np.all(flat[::4] == 3) and b == 4 * a:  # all triangles: the common case, vectorised
        return [np.full(a, 3, dtype=np.int64), flat.reshape(a, 4)[:, 1:].reshape(-1)]
    sizes = np.empty(a, dtype=np.int64)
    conn = []
    pos = 0
    for i in range(a):
        if pos >= b:
            raise MeshError(f"{tokens.path}: {key} says {a} cells in {b} numbers, but they run out")
        n = int(flat[pos])
        sizes[i] = n
        conn.append(flat[pos + 1: pos + 1 + n])
        pos += 1 + n
    if pos != b:
        raise MeshError(f"{tokens.path}: {key} says {b} numbers for {a} cells, but the cells use {pos}")
    return [sizes, np.concatenate(conn) if conn else np.zeros(0, dtype=np.int64)]


def _triangles(path: Path, cells) -> np.ndarray:
    if not cells:
        return np.zeros((0, 3), dtype=np.int64)
    sizes, conn = cells
    if np.any(sizes != 3):
        counts = np.unique(sizes[sizes != 3])
        raise MeshError(
            f"{path}: not a triangle mesh: {int((sizes != 3).sum())} of {len(sizes)} polygons have "
            f"{', '.join(str(c) for c in counts[:5])} corners. Triangulate it (ParaView: Filters > "
            "Triangulate) and save again."
        )
    return conn.reshape(-1, 3)
