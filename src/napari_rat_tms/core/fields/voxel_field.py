"""The E-field of one coil placement on the scan's voxel grid (for export and users' own analysis).

The voxels of a region (e.g. the segmentation's brain label) are the evaluation points, in the
volume frame (voxel centres at ``index * voxel_size``, :mod:`..conventions`; metres inside); the
BEM is solved once for the placement (:func:`..bem.points_field.iter_efield_at_points`) and the
field goes back onto the grid, NaN outside the region (not computed). Only the BEM models (3C, 2C,
2C*, 1C) are supported: the sphere model is defined on the fitted sphere, not on the voxel grid.

Voxels closer to a boundary surface than :data:`NEAR_SURFACE_FRACTION` of its mean edge length are
left out (NaN) and counted: there the piecewise-linear boundary potential does not resolve the
field (measured on the demo's 2C model: within 0.05 mm of the skull the 99th percentile of |E| was
3e6 V/m, from 0.5 mm on 34 V/m like the interior). It is the distance below which
:func:`..bem.solver.check_evaluation_points` warns; finer surfaces bring the computed region closer.
"""

from __future__ import annotations

import numpy as np

from ..bem.points_field import iter_efield_at_points
from .head_models import FieldModelError

__all__ = ["iter_efield_on_voxels", "MAX_VOXELS", "NEAR_SURFACE_FRACTION"]

#: Voxels nearer a boundary than this fraction of its mean edge length are not computed (NaN).
NEAR_SURFACE_FRACTION = 0.5

#: Refuse more voxels than this (about 10 minutes on 2 cores at the demo's resolution); use a
#: smaller region or a coarser grid.
MAX_VOXELS = 400_000


def iter_efield_on_voxels(conductor, placement, coil, region_mask, voxel_size_mm, *, chunk: int = 512):
    """Yield ``(fraction, message)``; return E (V/m) as a ``region_mask.shape + (3,)`` float32 grid.

    ``conductor``: the model's :class:`..bem.conductor.VolumeConductor` (``head_model(surfaces,
    kind)``, or ``FieldModel.solver.conductor`` of a built BEM model); ``placement``: a
    :class:`..placement.CoilPlacement` in the volume frame (mm); ``coil``: the coil in its own
    frame; ``region_mask``: 3D bool array on the scan's grid. Returns ``(grid, info)``; ``info``
    counts the voxels of the region, those computed and those left out near a surface.
    """
    from ..meshes.checks import distance_to_surface

    if conductor is None:
        raise FieldModelError("no surfaces to solve on the voxel grid: export the field of a BEM model "
                              "(3C, 2C, 2C*, 1C), not of the sphere")
    mask = np.asarray(region_mask, dtype=bool)
    if mask.ndim != 3:
        raise FieldModelError(f"the region must be a 3D mask on the scan's grid, got shape {mask.shape}")
    count = int(mask.sum())
    if count == 0:
        raise FieldModelError("the region has no voxel: check the label (e.g. the brain label 4 of the "
                              "segmentation)")
    if count > MAX_VOXELS:
        raise FieldModelError(f"the region has {count} voxels, more than {MAX_VOXELS}: choose a smaller "
                              "region or resample the labels to coarser voxels")
    index = np.argwhere(mask)
    points_m = index * np.asarray(voxel_size_mm, float) * 1e-3
    yield 0.0, "distances to the surfaces"
    far = np.ones(len(points_m), bool)
    for boundary in conductor.boundaries:
        surface = boundary.surface
        far &= distance_to_surface(surface, points_m) >= NEAR_SURFACE_FRACTION * surface.mean_edge_length_m
    if not far.any():
        raise FieldModelError("every voxel of the region lies within half an edge length of a surface: "
                              "refine the surfaces (smaller edges) to compute the field there")
    efield = yield from iter_efield_at_points(conductor, placement.place(coil), placement.didt_a_per_s,
                                              points_m[far], chunk=chunk)
    grid = np.full((*mask.shape, 3), np.nan, dtype=np.float32)
    grid[tuple(index[far].T)] = efield
    info = {"region_voxels": count, "computed_voxels": int(far.sum()),
            "left_out_near_surfaces": int(count - far.sum()),
            "near_surface_rule": f"closer than {NEAR_SURFACE_FRACTION} x a surface's mean edge length"}
    return grid, info
