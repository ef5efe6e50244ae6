"""Surfaces from the synthetic rat's segmentation (first checks of the meshing issue; WIP)."""

import numpy as np
import pytest

pytest.importorskip("gpytoolbox")

from napari_rat_tms.core.errors import MeshError  # noqa: E402
from napari_rat_tms.core.meshes.checks import find_self_intersections  # noqa: E402
from napari_rat_tms.core.meshes.from_mask import MeshWarning, mesh_from_mask  # noqa: E402
from napari_rat_tms.core.segmentation import segment  # noqa: E402
from napari_rat_tms.core.synthetic import make_synthetic_rat  # noqa: E402


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
