"""Species-aware checks of the head surfaces (core.meshes.head_checks) on spheres of known sizes."""

import numpy as np
import pytest

from napari_rat_tms.core.meshes.head_checks import check_head_geometry, skull_thickness_mm
from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.meshes.surface import TriangleSurface


def _shell(inner_mm, outer_mm, subdivisions=4):
    """A skull-like closed surface: an outer sphere and an inner one turned inside out (bone between)."""
    outer = icosphere(outer_mm * 1e-3, subdivisions)
    inner = icosphere(inner_mm * 1e-3, subdivisions).flipped()
    return TriangleSurface(np.vstack([outer.vertices_m, inner.vertices_m]),
                           np.vstack([outer.faces, inner.faces + outer.n_vertices]), "skull")


def _head(scale=1.0, cortex_mm=7.0):
    return {"body": icosphere(12e-3 * scale, 3, name="body"), "skull": _shell(8.5 * scale, 9.0 * scale),
            "cortex": icosphere(cortex_mm * 1e-3 * scale, 3, name="cortex")}


def test_sizes_gaps_and_skull_thickness_match_the_spheres():
    report = check_head_geometry(_head(), "rat")
    assert report.extents_mm["cortex"] == pytest.approx(14.0, abs=0.1)
    assert report.extents_mm["body"] == pytest.approx(24.0, abs=0.1)
    # the inscribed polyhedra sit up to ~0.02 mm inside their spheres
    assert report.gaps_mm["cortex-skull"] == pytest.approx(1.5, abs=0.05)
    assert report.gaps_mm["skull-body"] == pytest.approx(3.0, abs=0.05)
    assert "cortex-body" not in report.gaps_mm                     # the skull lies between them
    thickness = skull_thickness_mm(_shell(8.5, 9.0), samples=200)
    np.testing.assert_allclose(thickness, 0.5, atol=0.03)
    assert report.skull_thickness_mm["min"] == pytest.approx(0.5, abs=0.03)
    assert report.warnings == []
    assert any(line.startswith("skull thickness: min 0.5") for line in report.lines())


def test_wrong_units_other_species_and_missing_surfaces_are_named_with_the_numbers():
    in_metres = check_head_geometry(_head(scale=1e-3), "rat")       # positions given in m as if mm
    assert any("measures 0.014 mm across; a rat's measures 10-35 mm" in w and "metres" in w
               for w in in_metres.warnings)
    rat_as_mouse = check_head_geometry(_head(scale=2.0), "mouse")    # a 28 mm cortex
    assert any("cortex surface measures 28 mm across; a mouse's measures 5-18 mm (a rat's: 10-35 mm)" in w
               for w in rat_as_mouse.warnings)
    assert check_head_geometry(_head(scale=2.0), None).warnings == []   # either species
    no_skull = check_head_geometry({"body": icosphere(0.012, 3), "cortex": icosphere(0.007, 3)}, "rat")
    assert any("no skull surface" in w for w in no_skull.warnings) and "cortex-body" in no_skull.gaps_mm
    with pytest.raises(ValueError, match="species"):
        check_head_geometry(_head(), "human")


def test_a_cortex_touching_the_skull_and_a_thin_bone_are_warned_about():
    close = _head(cortex_mm=8.45)            # 0.05 mm from the inner skull, edges ~1.2 mm
    close["skull"] = _shell(8.5, 8.7)        # 0.2 mm of bone
    report = check_head_geometry(close, "rat")
    assert any("cortex surface comes within 0.0" in w and "under-resolved" in w for w in report.warnings)
    assert any("5 % of the skull is thinner than 0.2" in w for w in report.warnings)
