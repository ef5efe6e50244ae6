"""Surfaces from masks: the synthetic rat's at the seed's resolutions, balls, shells, thin parts and
their repairs."""

import numpy as np
import pytest

from napari_rat_tms.core.errors import MeshError
from napari_rat_tms.core.meshes.checks import find_self_intersections
from napari_rat_tms.core.meshes.from_mask import MeshWarning, mesh_from_mask
from napari_rat_tms.core.segmentation import segment
from napari_rat_tms.core.synthetic import make_synthetic_rat


@pytest.fixture(scope="module")
def seg():
    rat = make_synthetic_rat(0.34)
    return segment(rat.volume.data, 0.34)


@pytest.mark.parametrize("part, edge, seed_vertices", [("body", 1.4, 5924), ("skull_and_spine", 0.67, 15238)])
def test_seed_resolutions_and_guarantees(seg, part, edge, seed_vertices):
    with pytest.warns(MeshWarning, match="touches the volume border"):
        surface, stats = mesh_from_mask(getattr(seg, part), 0.34, edge, name=part)
    assert seed_vertices / 1.5 <= stats.n_vertices <= seed_vertices * 1.5
    assert abs(stats.mean_edge_mm - edge) < 0.1 * edge
    mesh = surface.to_trimesh()
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    assert len(find_self_intersections(surface)) == 0
    assert abs(stats.volume_mm3 - stats.mask_volume_mm3) < 0.03 * stats.mask_volume_mm3


def test_empty_mask():
    with pytest.raises(MeshError, match="empty"):
        mesh_from_mask(np.zeros((5, 5, 5), bool), 0.3, 1.0)


def _shell(thickness_voxels, n=60, h=0.2):
    x = (np.indices((n, n, n)) - n / 2 + 0.5) * h
    r = np.sqrt((x**2).sum(0))
    return (r > 4.0) & (r <= 4.0 + thickness_voxels * h)


def test_mesh_accuracy_and_volume_on_a_ball():
    """A 4 mm ball at 0.2 mm voxels: vertices within half a voxel of the true sphere on average,
    volume within 3 % of the exact 4/3 pi r^3."""
    n, h, radius = 60, 0.2, 4.0
    x = (np.indices((n, n, n)) - n / 2 + 0.5) * h
    ball = np.sqrt((x**2).sum(0)) <= radius
    surface, stats = mesh_from_mask(ball, h, 0.5, name="ball")
    centre = np.full(3, (n / 2 - 0.5) * h)
    distance = np.abs(np.linalg.norm(surface.vertices_m * 1e3 - centre, axis=1) - radius)
    assert distance.mean() < 0.5 * h
    assert abs(stats.volume_mm3 - 4 / 3 * np.pi * radius**3) < 0.03 * 4 / 3 * np.pi * radius**3
    assert stats.genus == 0 and stats.components == 1


def test_one_voxel_thin_skull_is_thickened_with_a_warning():
    """A one-voxel shell smoothed by 0.84 voxels barely reaches the isosurface: marching cubes gives
    specks (closed pieces of a few triangles), which are refused and the mask thickened."""
    with pytest.warns(MeshWarning, match="too thin.*voxel\\(s\\) were added"):
        surface, stats = mesh_from_mask(_shell(1), 0.2, 0.67, name="thin skull")
    assert surface.to_trimesh().is_watertight and len(find_self_intersections(surface)) == 0


def test_two_voxel_shell_needs_no_repair():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", MeshWarning)
        _, stats = mesh_from_mask(_shell(2), 0.2, 0.67, name="shell")
    assert stats.components == 2  # inner and outer sides of the hollow sphere


def test_mask_touching_the_border_is_closed_with_a_warning():
    mask = np.zeros((20, 20, 20), bool)
    mask[:10, 5:15, 5:15] = True
    with pytest.warns(MeshWarning, match="touches the volume border"):
        surface, stats = mesh_from_mask(mask, 0.5, 1.0, name="cut body")
    assert surface.to_trimesh().is_watertight
    # a 5 x 5 x 5 mm box meshed with 1 mm edges: smoothing rounds its 12 edges and 8 corners,
    # which costs it about 8 % of its volume (not a defect of the border closing)
    assert abs(stats.volume_mm3 - mask.sum() * 0.125) < 0.10 * mask.sum() * 0.125


def test_thin_patch_is_repaired_locally_and_reported():
    """A shell 3 voxels thick except a cap 1 voxel thick (a mouse's thin parietal bone under 0.5 mm
    edges): the surface crosses itself at the cap; the repair thickens only there (every added
    voxel within two edges of the cap), says so, and the result is clean."""
    n, h = 60, 0.2
    x = (np.indices((n, n, n)) - n / 2 + 0.5) * h
    r = np.sqrt((x**2).sum(0))
    cap = x[0] > 2.5
    mask = (r > 4.0) & (r <= 4.0 + np.where(cap, 1, 3) * h)
    repairs = []
    with pytest.warns(MeshWarning, match="too thin.*local"):
        surface, stats = mesh_from_mask(mask, h, 0.5, name="skull", repairs=repairs)
    assert repairs and repairs[0]["kind"] == "local" and repairs[0]["voxels"] > 0
    assert surface.to_trimesh().is_watertight and len(find_self_intersections(surface)) == 0
    # the added voxels (result volume minus mask volume) sit by the cap: compare with a mesh of the
    # uniformly thick shell, which needed nothing
    mm = surface.vertices_m * 1e3 - (n / 2 - 0.5) * h
    far = (mm[:, 0] < 2.5 - 2 * 0.5)
    radii = np.linalg.norm(mm[far], axis=1)
    assert radii.min() > 4.0 - 0.5 * h and radii.max() < 4.0 + 3 * h + 0.5 * h


def test_the_generator_reports_each_phase_and_gives_the_same_surface():
    """Issue 25: a mask's meshing reports its phases (the 0.17 mm rat's body ran 24 s without a
    report, so a Cancel waited for it), and the remesher its rounds; the surface is the blocking
    form's."""
    from napari_rat_tms.core.meshes.from_mask import iter_mesh_from_mask, mesh_from_mask

    z, y, x = np.indices((40, 40, 40))
    ball = (z - 20) ** 2 + (y - 20) ** 2 + (x - 20) ** 2 < 12 ** 2
    steps = iter_mesh_from_mask(ball, 0.25, 0.6, name="ball")
    phases = []
    while True:
        try:
            phases.append(next(steps)[1])
        except StopIteration as done:
            surface, _ = done.value
            break
    assert phases[0] == "smoothing the mask" and phases[1] == "marching cubes"
    # the remesher reports each of its 10 rounds (and each collapse pass), so a Cancel waits for one
    assert phases[2].startswith("remeshing (") and phases[-1].startswith("checking the surface")
    rounds = [p for p in phases[3:-1] if p.startswith(phases[2] + ": round")]
    assert len(rounds) == len(phases) - 4 and rounds[-1].startswith(phases[2] + ": round 10 of 10")
    blocking, _ = mesh_from_mask(ball, 0.25, 0.6, name="ball")
    np.testing.assert_array_equal(surface.faces, blocking.faces)
    np.testing.assert_allclose(surface.vertices_m, blocking.vertices_m)
