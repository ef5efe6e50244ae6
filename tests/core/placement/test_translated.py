"""CoilPlacement.translated and StereotaxicFrame.translated: moving between layers' data coordinates."""

import numpy as np

from napari_rat_tms.core.coils import mc_b35
from napari_rat_tms.core.placement import CoilPlacement, StereotaxicFrame


def test_a_translated_placement_moves_the_coil_and_nothing_else():
    p = CoilPlacement([10.0, 20.0, 30.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0], 30.0, [10.0, 20.0, 28.0], 0.5, 80.0)
    shift = np.array([1.5, -2.0, 0.25])
    q = p.translated(shift)
    np.testing.assert_allclose(q.centre_mm, p.centre_mm + shift)
    np.testing.assert_allclose(q.scalp_point_mm, p.scalp_point_mm + shift)
    np.testing.assert_array_equal(q.axis, p.axis)
    np.testing.assert_array_equal(q.current_direction, p.current_direction)
    assert (q.orientation_deg, q.gap_mm, q.didt_a_per_us) == (30.0, 0.5, 80.0)
    coil = mc_b35("low")
    np.testing.assert_allclose(q.place(coil).positions_m, p.place(coil).positions_m + shift * 1e-3, atol=1e-15)
    assert p.translated(np.zeros(3)) is p
    no_scalp = CoilPlacement([0.0, 0.0, 5.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0])
    assert no_scalp.translated(shift).scalp_point_mm is None


def test_a_translated_frame_moves_origin_and_landmarks_not_axes():
    f = StereotaxicFrame([1.0, 2.0, 3.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0],
                         {"bregma": [1.0, 2.0, 3.0], "lambda": [1.0, -6.0, 3.0]})
    shift = np.array([0.5, 0.0, -1.0])
    g = f.translated(shift)
    point = np.array([4.0, 5.0, 6.0])
    # the same point, moved with the frame, has the same stereotaxic coordinates
    np.testing.assert_allclose(g.to_stereotaxic(point + shift), f.to_stereotaxic(point))
    np.testing.assert_allclose(g.landmarks_mm["lambda"], np.array([1.0, -6.0, 3.0]) + shift)
    assert f.translated([0.0, 0.0, 0.0]) is f
