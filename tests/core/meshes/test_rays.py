"""Ray casting against a sphere: distances from the analytic intersection."""

import numpy as np
import pytest

from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.meshes.rays import first_ray_hit, ray_hits


def test_ray_through_a_sphere_enters_then_leaves():
    radius = 0.01
    sphere = icosphere(radius, 4)
    hits = ray_hits(sphere, [0.0, 0.0, 0.03], [0.0, 0.0, -1.0])
    assert len(hits) == 2 and hits[0].entering and not hits[1].entering
    # the polyhedron lies inside the sphere, within the sagitta of its edges (~0.1 mm here)
    assert 0.02 <= hits[0].distance <= 0.0201
    assert 0.0399 <= hits[1].distance <= 0.04
    oblique = first_ray_hit(sphere, [0.03, 0.002, 0.001], [-1.0, 0.0, 0.0])
    expected = 0.03 - np.sqrt(radius**2 - 0.002**2 - 0.001**2)
    assert oblique.distance == pytest.approx(expected, abs=1e-4)
    assert np.linalg.norm(oblique.point) == pytest.approx(radius, abs=1e-4)


def test_misses_and_bad_rays():
    sphere = icosphere(0.01, 2)
    assert first_ray_hit(sphere, [0.0, 0.05, 0.03], [0.0, 0.0, -1.0]) is None
    assert first_ray_hit(sphere, [0.0, 0.0, 0.03], [0.0, 0.0, 1.0]) is None          # pointing away
    assert first_ray_hit(sphere, [0.0, 0.0, 0.03], [0.0, 0.0, -1.0], max_distance=0.01) is None
    with pytest.raises(ValueError, match="non-zero direction"):
        first_ray_hit(sphere, [0.0, 0.0, 0.03], [0.0, 0.0, 0.0])


def test_first_hit_along_line_from_the_viewers_side():
    """A click in napari's 3D view gives a point on the line of sight at an arbitrary depth: inside
    the head, beyond it, or in front. The hit is always the crossing nearest to the viewer."""
    from napari_rat_tms.core.meshes.primitives import icosphere
    from napari_rat_tms.core.meshes.rays import first_hit_along_line

    sphere = icosphere(0.01, subdivisions=3)
    down = np.array([0.0, 0.0, -1.0])
    for depth in (0.05, 0.0, -0.005, -0.05):       # in front, centre, inside below the centre, beyond
        hit = first_hit_along_line(sphere, [0.0, 0.0, depth], down * 3.0)
        assert hit is not None and hit.point[2] == pytest.approx(0.01, abs=2e-4)
    assert first_hit_along_line(sphere, [0.05, 0.0, 0.0], down) is None
    with pytest.raises(ValueError, match="non-zero"):
        first_hit_along_line(sphere, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
