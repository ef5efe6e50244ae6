"""Surface export/import: every format round-trips an icosphere in millimetres; values in PLY and
VTK; no overwrite without asking; atomic writes; clear errors on bad names and bad files."""

from __future__ import annotations

import re

import numpy as np
import pytest

from napari_rat_tms.core.errors import MeshError
from napari_rat_tms.core.meshes import TriangleSurface, icosphere
from napari_rat_tms.core.meshes import io as mesh_io
from napari_rat_tms.core.meshes.io import (
    SURFACE_SUFFIXES,
    read_surface,
    read_surface_file,
    surface_format,
    write_surface,
)

# formats that keep the vertex order and the faces as they are
ORDERED = ["skull.obj", "skull.ply", "skull.off", "skull.vtk", "skull.surf", "lh.pial", "brain.white",
           "rh.inflated"]
FLOAT32 = {"skull.stl", "skull.surf", "lh.pial", "brain.white", "rh.inflated"}


@pytest.fixture(scope="module")
def sphere():
    # a 12 mm sphere centred at (20, 18, 15) mm: coordinates like those of a rat head scan
    return icosphere(0.012, 3, center_m=(0.020, 0.018, 0.015), name="skull")


@pytest.fixture(scope="module")
def values(sphere):
    return np.cos(3 * sphere.vertices_m[:, 0] / 0.012) * 123.456 + 1e-3


def _tolerance_mm(sphere, name):
    """Float32 files: half an ulp of float32 at the largest coordinate; float64 files: tiny."""
    largest = np.abs(sphere.vertices_m * 1e3).max()
    eps = np.finfo(np.float32).eps if name in FLOAT32 else 1e-13
    return eps * largest


def test_suffixes_constant():
    assert set(SURFACE_SUFFIXES) == {".stl", ".obj", ".ply", ".off", ".vtk", ".surf"}


@pytest.mark.parametrize(
    "name, fmt",
    [("a.stl", "stl"), ("A.STL", "stl"), ("a.obj", "obj"), ("a.ply", "ply"), ("a.off", "off"),
     ("a.vtk", "vtk"), ("a.surf", "freesurfer"), ("lh.pial", "freesurfer"), ("rh.white", "freesurfer"),
     ("lh.sphere.reg", "freesurfer"), ("brain.inflated", "freesurfer"), ("lh.pial.vtk", "vtk"),
     ("lh.thickness", None), ("lh.aparc.annot", None), ("rh.mask.nii.gz", None), ("scan.nii", None),
     ("mesh", None), ("mesh.txt", None)],
)
def test_surface_format_from_name(name, fmt):
    assert surface_format(name) == fmt


@pytest.mark.parametrize("name", ORDERED)
def test_round_trip_keeps_vertices_and_faces(tmp_path, sphere, name):
    path = write_surface(sphere, tmp_path / name)
    assert path == tmp_path / name and path.is_file()
    back = read_surface(path)
    assert isinstance(back, TriangleSurface)
    np.testing.assert_array_equal(back.faces, sphere.faces)
    np.testing.assert_allclose(back.vertices_m * 1e3, sphere.vertices_m * 1e3, rtol=0,
                               atol=_tolerance_mm(sphere, name))
    assert back.enclosed_volume_m3 > 0  # winding kept: normals still point outwards


def test_round_trip_stl_merges_shared_vertices(tmp_path, sphere):
    """STL repeats each vertex per triangle; the reader merges them: same geometry, same triangles
    in the same order and winding, vertices possibly renumbered."""
    back = read_surface(write_surface(sphere, tmp_path / "skull.stl"))
    assert back.n_vertices == sphere.n_vertices and back.n_faces == sphere.n_faces
    tol = _tolerance_mm(sphere, "skull.stl")
    d = np.linalg.norm(back.vertices_m[:, None, :] - sphere.vertices_m[None, :, :], axis=2) * 1e3
    nearest = d.argmin(axis=1)
    assert d.min(axis=1).max() <= 2 * tol
    assert len(np.unique(nearest)) == sphere.n_vertices  # a one-to-one correspondence
    np.testing.assert_array_equal(nearest[back.faces], sphere.faces)
    assert back.enclosed_volume_m3 == pytest.approx(sphere.enclosed_volume_m3, rel=1e-6)


def test_files_hold_millimetres_and_say_so(tmp_path, sphere):
    first_mm = sphere.vertices_m[0] * 1e3
    # OBJ: first "v" line in mm, a comment saying so
    text = write_surface(sphere, tmp_path / "s.obj").read_text()
    assert text.startswith("#") and "millimetres" in text.splitlines()[0]
    v_line = next(line for line in text.splitlines() if line.startswith("v "))
    np.testing.assert_allclose([float(t) for t in v_line.split()[1:]], first_mm, rtol=1e-15)
    # OFF comment, VTK title line, PLY header comment, STL header
    assert "millimetres" in write_surface(sphere, tmp_path / "s.off").read_text().splitlines()[1]
    assert "millimetres" in write_surface(sphere, tmp_path / "s.vtk").read_text().splitlines()[1]
    ply = write_surface(sphere, tmp_path / "s.ply").read_bytes()
    ply_header = ply.split(b"end_header")[0]
    assert b"comment napari-rat-tms surface 'skull'; coordinates in millimetres" in ply_header
    stl = write_surface(sphere, tmp_path / "s.stl").read_bytes()[:80]
    assert not stl.startswith(b"solid") and b"mm" in stl
    # FreeSurfer: the create stamp, read with nibabel directly
    from nibabel.freesurfer.io import read_geometry

    coords, faces, stamp = read_geometry(str(write_surface(sphere, tmp_path / "lh.pial")), read_stamp=True)
    assert "millimetres" in stamp
    np.testing.assert_allclose(coords[0], first_mm, rtol=1e-6)
    np.testing.assert_array_equal(faces, sphere.faces)
    # and the reader gives the header back
    assert "millimetres" in read_surface_file(tmp_path / "s.vtk").header


@pytest.mark.parametrize("name", ["field.ply", "field.vtk"])
def test_values_round_trip(tmp_path, sphere, values, name):
    path = write_surface(sphere, tmp_path / name, values=values, values_name="E magnitude (V/m)")
    found = read_surface_file(path)
    np.testing.assert_array_equal(found.values, values)  # float64 / %.17g: exact
    assert found.values_name == "E_magnitude__V_m_"
    np.testing.assert_array_equal(found.surface.faces, sphere.faces)


def test_ply_values_are_a_vertex_property(tmp_path, sphere, values):
    """Read back with trimesh's own PLY parser: the property is there, under its name."""
    import trimesh

    path = write_surface(sphere, tmp_path / "field.ply", values=values, values_name="emag")
    header = path.read_bytes().split(b"end_header")[0].decode()
    assert "format binary_little_endian 1.0" in header
    assert "property double emag" in header
    mesh = trimesh.load(str(path), process=False)
    raw = mesh.metadata["_ply_raw"]["vertex"]["data"]
    np.testing.assert_array_equal(np.asarray(raw["emag"]).reshape(-1), values)


def test_values_refused_where_the_format_cannot_store_them(tmp_path, sphere, values):
    for name in ("s.stl", "s.obj", "s.off", "s.surf"):
        with pytest.raises(ValueError, match="cannot store per-vertex values"):
            write_surface(sphere, tmp_path / name, values=values)
        assert not (tmp_path / name).exists()
    with pytest.raises(ValueError, match="one number per vertex"):
        write_surface(sphere, tmp_path / "s.vtk", values=values[:-1])
    with pytest.raises(ValueError, match="NaN"):
        write_surface(sphere, tmp_path / "s.vtk", values=np.full(sphere.n_vertices, np.nan))
    with pytest.raises(ValueError, match="reserved"):
        write_surface(sphere, tmp_path / "s.ply", values=values, values_name="x")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------  legacy VTK by hand
def test_vtk_file_structure_checked_by_hand(tmp_path, sphere, values):
    """The legacy VTK layout that ParaView reads, checked line by line without our parser."""
    path = write_surface(sphere, tmp_path / "s.vtk", values=values, values_name="emag")
    lines = path.read_text(encoding="ascii").splitlines()
    n, m = sphere.n_vertices, sphere.n_faces
    assert lines[0] == "# vtk DataFile Version 3.0"
    assert 0 < len(lines[1]) <= 256
    assert lines[2] == "ASCII"
    assert lines[3] == "DATASET POLYDATA"
    assert lines[4] == f"POINTS {n} double"
    points = np.array([[float(t) for t in line.split()] for line in lines[5:5 + n]])
    np.testing.assert_allclose(points, sphere.vertices_m * 1e3, rtol=1e-15)
    k = 5 + n
    assert lines[k] == f"POLYGONS {m} {4 * m}"
    polys = np.array([[int(t) for t in line.split()] for line in lines[k + 1:k + 1 + m]])
    assert polys.shape == (m, 4) and np.all(polys[:, 0] == 3)
    np.testing.assert_array_equal(polys[:, 1:], sphere.faces)
    k += 1 + m
    assert lines[k:k + 3] == [f"POINT_DATA {n}", "SCALARS emag double 1", "LOOKUP_TABLE default"]
    np.testing.assert_array_equal([float(t) for t in lines[k + 3:k + 3 + n]], values)
    assert len(lines) == k + 3 + n


def test_vtk_read_by_vtk_if_installed(tmp_path, sphere, values):
    vtk = pytest.importorskip("vtk")
    path = write_surface(sphere, tmp_path / "s.vtk", values=values, values_name="emag")
    reader = vtk.vtkPolyDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    poly = reader.GetOutput()
    assert poly.GetNumberOfPoints() == sphere.n_vertices
    assert poly.GetNumberOfPolys() == sphere.n_faces
    assert poly.GetPointData().GetArray("emag").GetNumberOfTuples() == sphere.n_vertices


# Written by VTK 9.7's vtkPolyDataWriter (ASCII, its default version 5.1) for a regular octahedron,
# with dataset field data, cell data, point scalars and normals. meshio (5.3) cannot be used as a
# second reader: it does not read legacy POLYDATA at all.
VTK9_OCTAHEDRON = """# vtk DataFile Version 5.1
vtk output
ASCII
DATASET POLYDATA
FIELD FieldData 1
foo 1 1 double
1 
POINTS 6 double
25 18 15 15 18 15 20 23 15 
20 13 15 20 18 20 20 18 10 

POLYGONS 9 24
OFFSETS vtktypeint64
0 3 6 9 12 15 18 21 24 

CONNECTIVITY vtktypeint64
0 2 4 2 1 4 1 3 4 
3 0 4 2 0 5 1 2 5 
3 1 5 0 3 5 
CELL_DATA 8
FIELD FieldData 1
cellval 1 8 float
0 1 2 3 4 5 6 7 
POINT_DATA 6
SCALARS emag double 
LOOKUP_TABLE default
0.25 0.75 1.25 1.75 2.25 2.75 
NORMALS Normals float
1 0 0 -1 0 0 0 1 0 
0 -1 0 0 0 1 0 0 -1 

"""


def test_vtk_reads_a_file_written_by_vtk(tmp_path):
    path = tmp_path / "octa.vtk"
    path.write_text(VTK9_OCTAHEDRON)
    found = read_surface_file(path)
    expected = np.array([[5, 0, 0], [-5, 0, 0], [0, 5, 0], [0, -5, 0], [0, 0, 5], [0, 0, -5]]) + [20, 18, 15]
    np.testing.assert_array_equal(found.surface.vertices_m * 1e3, expected)
    np.testing.assert_array_equal(found.surface.faces, [[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4],
                                                        [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    assert found.values_name == "emag"
    np.testing.assert_array_equal(found.values, np.arange(6) * 0.5 + 0.25)
    assert found.header == "vtk output"
    assert found.surface.enclosed_volume_m3 == pytest.approx(4 / 3 * 0.005**3)  # outward


VTK_51 = """# vtk DataFile Version 5.1
written by a newer VTK
ASCII
DATASET POLYDATA
POINTS 4 float
0 0 0 10 0 0 0 10 0
0 0 10
METADATA
INFORMATION 0

POLYGONS 5 12
OFFSETS vtktypeint64
0 3 6 9 12
CONNECTIVITY vtktypeint64
0 2 1 0 1 3 0 3 2 1 2 3
POINT_DATA 4
FIELD FieldData 2
normals 3 4 float
0 0 -1 1 0 0 0 1 0 0 0 1
emag 1 4 double
1.5 2.5 3.5 4.5
"""


def test_vtk_reads_version_51_layout_and_field_data(tmp_path):
    path = tmp_path / "tet.vtk"
    path.write_text(VTK_51)
    found = read_surface_file(path)
    np.testing.assert_allclose(found.surface.vertices_m * 1e3,
                               [[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]])
    np.testing.assert_array_equal(found.surface.faces, [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    assert found.values_name == "emag"
    np.testing.assert_array_equal(found.values, [1.5, 2.5, 3.5, 4.5])
    assert found.surface.enclosed_volume_m3 == pytest.approx(1e-6 / 6)  # (10 mm)^3 / 6


# --------------------------------------------------------------------------------  files from elsewhere
@pytest.mark.parametrize("fmt", ["stl", "stl_ascii", "obj", "ply", "off"])
def test_reads_files_written_by_trimesh(tmp_path, sphere, fmt):
    """Files written by another program (trimesh's exporters) read to the same geometry, mm -> m."""
    import trimesh

    mesh_mm = trimesh.Trimesh(sphere.vertices_m * 1e3, sphere.faces, process=False)
    suffix = "stl" if fmt.startswith("stl") else fmt
    path = tmp_path / f"other.{suffix}"
    exported = mesh_mm.export(file_type=fmt)
    path.write_bytes(exported if isinstance(exported, bytes) else exported.encode())
    back = read_surface(path)
    assert back.n_faces == sphere.n_faces and back.n_vertices == sphere.n_vertices
    assert back.enclosed_volume_m3 == pytest.approx(sphere.enclosed_volume_m3, rel=1e-5)
    np.testing.assert_allclose(np.sort(back.vertices_m, axis=0), np.sort(sphere.vertices_m, axis=0),
                               atol=1e-8)  # 1e-5 mm: trimesh's ASCII precision


def test_name(tmp_path, sphere):
    write_surface(sphere, tmp_path / "brain.vtk")
    assert read_surface(tmp_path / "brain.vtk").name == "brain"
    assert read_surface(tmp_path / "brain.vtk", name="cortex").name == "cortex"
    write_surface(sphere, tmp_path / "lh.pial")
    assert read_surface(tmp_path / "lh.pial").name == "lh.pial"


# --------------------------------------------------------------------------------  overwrite, atomicity
def test_no_overwrite_without_asking(tmp_path, sphere):
    path = write_surface(sphere, tmp_path / "s.vtk")
    before = path.read_bytes()
    other = icosphere(0.005, 2, name="small")
    with pytest.raises(FileExistsError, match=r"exists; pass overwrite=True"):
        write_surface(other, path)
    assert path.read_bytes() == before
    write_surface(other, path, overwrite=True)
    assert read_surface(path).n_vertices == other.n_vertices
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.vtk"]  # no temporary files left


def test_failed_write_leaves_no_file(tmp_path, sphere, monkeypatch):
    def half_then_fail(tmp, *args):
        tmp.write_text("# vtk DataFile Version 3.0\nhalf a file")
        raise OSError("No space left on device")

    monkeypatch.setattr(mesh_io, "_write_vtk", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        write_surface(sphere, tmp_path / "s.vtk")
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary file


def test_failed_overwrite_keeps_the_old_file(tmp_path, sphere, monkeypatch):
    path = write_surface(sphere, tmp_path / "s.vtk")
    before = path.read_bytes()

    def fail(tmp, *args):
        tmp.write_text("garbage")
        raise RuntimeError("boom")

    monkeypatch.setattr(mesh_io, "_write_vtk", fail)
    with pytest.raises(RuntimeError, match="boom"):
        write_surface(sphere, path, overwrite=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.vtk"]


def test_written_file_has_normal_permissions(tmp_path, sphere):
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    path = write_surface(sphere, tmp_path / "s.ply")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_write_errors(tmp_path, sphere):
    with pytest.raises(ValueError, match=r"unknown surface format '\.xyz'.*\.stl.*\.vtk"):
        write_surface(sphere, tmp_path / "s.xyz")
    with pytest.raises(ValueError, match="unknown surface format"):
        write_surface(sphere, tmp_path / "mesh")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_surface(sphere, tmp_path / "missing" / "s.vtk")
    with pytest.raises(TypeError, match="TriangleSurface"):
        write_surface((sphere.vertices_m, sphere.faces), tmp_path / "s.vtk")
    empty = TriangleSurface(np.zeros((3, 3)), np.zeros((0, 3), dtype=int), "empty")
    with pytest.raises(ValueError, match="no triangles"):
        write_surface(empty, tmp_path / "s.vtk")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------  bad files
def test_read_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"unknown surface format.*supported"):
        read_surface(tmp_path / "s.xyz")
    with pytest.raises(FileNotFoundError):
        read_surface(tmp_path / "s.vtk")


CORRUPT = {
    "bad.stl": b"\x00\x01 not an stl",
    "bad.obj": b"this is\nnot a mesh\n",
    "bad.ply": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    "bad.off": b"OFF\n3 1 0\n0 0\n",
    "bad.vtk": b"<VTKFile type='PolyData'>",
    "truncated.vtk": b"# vtk DataFile Version 3.0\nt\nASCII\nDATASET POLYDATA\nPOINTS 4 double\n"
                     b"0 0 0 1 0 0\n",
    "binary.vtk": b"# vtk DataFile Version 3.0\nt\nBINARY\nDATASET POLYDATA\nPOINTS 4 float\n\x00\x00",
    "grid.vtk": b"# vtk DataFile Version 3.0\nt\nASCII\nDATASET UNSTRUCTURED_GRID\nPOINTS 0 double\n",
    "bad.surf": b"\xff\xff\xfe garbage",
    "empty.surf": b"",
    "lh.white": b"not a freesurfer surface at all",
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_file_raises_mesh_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(CORRUPT[name])
    with pytest.raises(MeshError, match=re.escape(str(path))):
        read_surface(path)


def test_points_without_faces_is_not_a_triangle_mesh(tmp_path):
    ply = tmp_path / "cloud.ply"
    ply.write_bytes(b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                    b"property float z\nend_header\n0 0 0\n1 0 0\n0 1 0\n")
    with pytest.raises(MeshError, match="not a triangle mesh"):
        read_surface(ply)
    vtk = tmp_path / "cloud.vtk"
    vtk.write_text("# vtk DataFile Version 3.0\nt\nASCII\nDATASET POLYDATA\nPOINTS 3 double\n"
                   "0 0 0 1 0 0 0 1 0\n")
    with pytest.raises(MeshError, match="no triangles"):
        read_surface(vtk)


def test_vtk_quads_are_not_triangles(tmp_path):
    path = tmp_path / "quad.vtk"
    path.write_text("# vtk DataFile Version 3.0\nt\nASCII\nDATASET POLYDATA\nPOINTS 4 double\n"
                    "0 0 0 1 0 0 1 1 0 0 1 0\nPOLYGONS 1 5\n4 0 1 2 3\n")
    with pytest.raises(MeshError, match="not a triangle mesh.*Triangulate"):
        read_surface(path)


def test_vtk_bad_indices(tmp_path):
    path = tmp_path / "bad.vtk"
    path.write_text("# vtk DataFile Version 3.0\nt\nASCII\nDATASET POLYDATA\nPOINTS 3 double\n"
                    "0 0 0 1 0 0 0 1 0\nPOLYGONS 1 4\n3 0 1 7\n")
    with pytest.raises(MeshError, match="vertices that do not exist"):
        read_surface(path)
