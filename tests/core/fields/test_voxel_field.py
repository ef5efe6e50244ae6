"""The field of one placement on a voxel grid (core.fields.voxel_field, core.bem.points_field) and
its NIfTI / NPY export, against the analytic sphere and the transfer-matrix solver."""

import json

import nibabel as nib
import numpy as np
import pytest

from napari_rat_tms.core.bem.conductor import nested_spheres
from napari_rat_tms.core.bem.points_field import efield_at_points
from napari_rat_tms.core.bem.solver import build_solver
from napari_rat_tms.core.bem.sphere_model import sphere_efield
from napari_rat_tms.core.coils import mc_b35
from napari_rat_tms.core.fields.export import write_volume_field
from napari_rat_tms.core.fields.head_models import FieldModelError
from napari_rat_tms.core.fields.voxel_field import iter_efield_on_voxels
from napari_rat_tms.core.placement import CoilPlacement
from napari_rat_tms.core.progress import run_to_completion
from napari_rat_tms.core.volume import Volume

CENTRE_MM = np.array([12.0, 12.0, 12.0])
VOXEL_MM = (1.0, 1.0, 1.0)


def _conductor():
    # brain-skull-scalp shells around CENTRE_MM (analytic: the field ignores the radial profile)
    return nested_spheres([0.0095, 0.0105, 0.012], [0.33, 0.0066, 0.33], subdivisions=3,
                          center_m=CENTRE_MM * 1e-3)


def _placement():
    return CoilPlacement(CENTRE_MM + [0.0, 0.0, 12.5], np.array([0.0, 0.0, -1.0]), np.array([0.0, 1.0, 0.0]),
                         0.0, None, 0.0, 50.0)


def test_points_field_equals_the_transfer_matrix_and_the_analytic_sphere():
    conductor, coil = _conductor(), _placement().place(mc_b35("low"))
    rng = np.random.default_rng(0)
    d = rng.normal(size=(150, 3))
    points = CENTRE_MM * 1e-3 + d / np.linalg.norm(d, axis=1)[:, None] * rng.uniform(0, 0.008, (150, 1))
    e = efield_at_points(conductor, coil, 5e7, points)
    # the same discretisation as the precomputed matrix (float64 there): agreement to rounding
    t = build_solver(conductor, points, dtype=np.float64).efield(coil, 5e7)
    assert np.linalg.norm(e - t) / np.linalg.norm(t) < 1e-5
    analytic = sphere_efield(points, coil, 5e7, CENTRE_MM * 1e-3)
    assert np.linalg.norm(e - analytic) / np.linalg.norm(analytic) < 0.01      # measured 0.35 %


def test_voxel_grid_field_leaves_out_voxels_at_the_surfaces_and_exports_to_nifti(tmp_path):
    shape = (25, 25, 25)
    index = np.indices(shape).reshape(3, -1).T
    radius = np.linalg.norm(index * VOXEL_MM - CENTRE_MM, axis=1)
    mask = ((radius <= 7.0) | ((radius > 9.3) & (radius < 9.6))).reshape(shape)   # a shell at the skull
    placement, coil = _placement(), mc_b35("low")
    grid, info = run_to_completion(iter_efield_on_voxels(_conductor(), placement, coil, mask, VOXEL_MM))
    inner = (radius <= 7.0).reshape(shape)
    assert info["region_voxels"] == int(mask.sum())
    assert info["left_out_near_surfaces"] == int((mask & ~inner).sum()) > 0
    assert np.all(np.isnan(grid[mask & ~inner])) and np.all(np.isnan(grid[~mask]))
    points = np.argwhere(inner) * 1e-3
    analytic = sphere_efield(points, placement.place(coil), placement.didt_a_per_s, CENTRE_MM * 1e-3)
    computed = grid[inner]
    assert np.linalg.norm(computed - analytic) / np.linalg.norm(analytic) < 0.01

    like = Volume(np.zeros(shape, np.int16), VOXEL_MM)
    path, = write_volume_field(tmp_path / "e.nii.gz", grid, like, provenance={"model": "spheres"})
    image = nib.load(str(path))
    data = image.get_fdata()
    assert data.shape == (25, 25, 25, 3) and image.header.get_intent()[0] == "vector"
    for k, j, i in np.argwhere(inner)[::97]:     # a voxel of the plugin's grid is at (i, j, k) in the file
        np.testing.assert_allclose(image.affine @ [i, j, k, 1.0], like.scanner_affine_mm @ [k, j, i, 1.0])
        np.testing.assert_allclose(data[i, j, k], grid[k, j, i], rtol=1e-6)
    assert np.isnan(data[0, 0, 0]).all()
    assert b'"model": "spheres"' in image.header.extensions[0].get_content()
    npy, sidecar = write_volume_field(tmp_path / "e.npy", grid, like)
    np.testing.assert_array_equal(np.load(npy), grid)
    assert json.loads(sidecar.read_text())["voxel_size_mm"] == [1.0, 1.0, 1.0]
    with pytest.raises(FileExistsError, match="nothing was written"):
        write_volume_field(tmp_path / "e.npy", grid * 2, like)
    np.testing.assert_array_equal(np.load(npy), grid)
    with pytest.raises(ValueError, match="expected"):
        write_volume_field(tmp_path / "f.nii.gz", grid[1:], like)
    with pytest.raises(FieldModelError, match="no voxel"):
        run_to_completion(iter_efield_on_voxels(_conductor(), placement, coil, np.zeros(shape, bool),
                                                VOXEL_MM))
