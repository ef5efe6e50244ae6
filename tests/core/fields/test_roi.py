"""Region-of-interest statistics (core.fields.roi) against hand-computed values."""

import numpy as np
import pytest

from napari_rat_tms.core.fields.roi import (
    maximum_location,
    roi_statistics,
    vertices_in_labels,
    weighted_percentile,
)
from napari_rat_tms.core.meshes.primitives import icosphere
from napari_rat_tms.core.meshes.surface import TriangleSurface
from napari_rat_tms.core.placement import frame_from_landmarks

# a 1 x 1 mm square in the z = 0 plane, normal +z; vertex areas 1/3, 1/6, 1/3, 1/6 mm^2
SQUARE = TriangleSurface.from_mm([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]],
                                 "square")
# |E| 5, 2, 10, 1; normal components 4, -2, 0, 0; tangential 3, 0, 10, 1
FIELD = np.array([[3.0, 0.0, 4.0], [0.0, 0.0, -2.0], [6.0, 8.0, 0.0], [0.0, 1.0, 0.0]])


def test_statistics_of_a_hand_computed_square():
    np.testing.assert_allclose(SQUARE.vertex_areas_m2 * 1e6, [1 / 3, 1 / 6, 1 / 3, 1 / 6])
    s = roi_statistics(SQUARE, FIELD, levels=(2.0, 5.0, 11.0), name="all")
    assert s.n_vertices == 4 and s.area_mm2 == pytest.approx(1.0)
    assert s.mean_v_per_m == pytest.approx(5 / 3 + 2 / 6 + 10 / 3 + 1 / 6)        # 5.5
    assert s.max_v_per_m == 10.0
    # area-weighted percentiles: sorted |E| 1, 2, 5, 10 with cumulative area 1/6, 2/6, 4/6, 1
    assert s.percentiles_v_per_m == {50.0: 5.0, 90.0: 10.0, 99.0: 10.0}
    assert s.mean_normal_v_per_m == pytest.approx(4 / 3 - 2 / 6)                 # 1.0
    assert s.mean_abs_normal_v_per_m == pytest.approx(4 / 3 + 2 / 6)
    assert s.mean_tangential_v_per_m == pytest.approx(3 / 3 + 10 / 3 + 1 / 6)     # 4.5
    assert s.area_above_mm2 == pytest.approx({2.0: 5 / 6, 5.0: 2 / 3, 11.0: 0.0})
    # a region of two vertices
    part = roi_statistics(SQUARE, FIELD, [True, True, False, False], name="part")
    assert part.area_mm2 == pytest.approx(0.5) and part.mean_v_per_m == pytest.approx((5 / 3 + 2 / 6) / 0.5)
    assert "part: 2 vertices" in part.describe() and "p50" in part.to_dict()["percentiles_v_per_m"]


def test_bad_regions_and_fields_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="contains no vertex"):
        roi_statistics(SQUARE, FIELD, np.zeros(4, bool), name="empty")
    with pytest.raises(ValueError, match=r"expected \(4, 3\)"):
        roi_statistics(SQUARE, FIELD[:3])
    with pytest.raises(ValueError, match="NaN"):
        roi_statistics(SQUARE, np.where(np.eye(4, 3) > 0, np.nan, FIELD))
    with pytest.raises(ValueError, match="positive weight"):
        weighted_percentile([], [], 50)


def test_vertices_in_labels_uses_napaaris_voxel_centres():
    labels = np.zeros((4, 5, 6), np.uint8)
    labels[1, 2, 3] = 7
    labels[0, 0, 0] = 1
    scale, translate = (0.5, 0.5, 0.5), (10.0, 20.0, 30.0)
    vertices = np.array([[10.5, 21.0, 31.5],      # voxel (1, 2, 3): label 7
                         [10.6, 21.1, 31.6],      # still nearest to (1, 2, 3)
                         [10.0, 20.0, 30.0],      # voxel (0, 0, 0): label 1
                         [9.0, 20.0, 30.0],       # outside the array
                         [11.0, 21.0, 31.0]])     # voxel (2, 2, 2): unlabelled
    assert vertices_in_labels(vertices, labels, scale, translate).tolist() == [True, True, True, False, False]
    assert vertices_in_labels(vertices, labels, scale, translate, label=7).tolist() == [True, True, False,
                                                                                       False, False]
    with pytest.raises(ValueError, match="3D"):
        vertices_in_labels(vertices, labels[0], scale, translate)


def test_the_maximum_is_named_at_a_skull_opening_and_behind_lambda():
    cortex = icosphere(7e-3, 2, name="cortex")
    top = int(np.argmax(cortex.vertices_m[:, 2]))
    field = np.zeros((cortex.n_vertices, 3))
    field[:, 0] = 1.0
    field[top, 0] = 50.0
    closed = icosphere(9e-3, 2, name="skull")
    located = maximum_location(cortex, field, skull=closed)
    assert located["vertex"] == top and located["e_v_per_m"] == 50.0
    assert located["region"] == "cortex" and not located["at_skull_opening"]
    away = closed.translated([0.0, 0.05, 0.0])     # no bone above the cortex: an opening
    assert maximum_location(cortex, field, skull=away)["at_skull_opening"]
    # a frame whose lambda lies anterior to the top point: the maximum is behind lambda
    frame = frame_from_landmarks([0.0, 8.0, 9.0], [0.0, 2.0, 9.0], [0.0, 12.0, 8.0], [0.0, 0.0, 0.0])
    named = maximum_location(cortex, field, skull=away, frame=frame)
    assert named["region"].startswith("caudal cortex") and "foramen magnum" in named["region"]
    assert named["ml_ap_dv_mm"][1] < frame.to_stereotaxic(frame.landmarks_mm["lambda"])[1]
