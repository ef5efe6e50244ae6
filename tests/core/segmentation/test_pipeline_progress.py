"""The segmentation reports inside the brain suggestion (issue 25: at the seed's 0.17 mm it ran ~30 s
without a report, so a Cancel waited for it), and closing the generator there stops it."""

from __future__ import annotations

from napari_rat_tms.core.segmentation.pipeline import iter_segment
from napari_rat_tms.core.synthetic import make_synthetic_rat


def test_reports_within_the_brain_suggestion_and_a_cancel_there_stops_it():
    rat = make_synthetic_rat(0.5)
    eyes = [rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]]
    steps = iter_segment(rat.volume.data, 0.5, eye_points_mm=eyes)
    seen = []
    for fraction, message in steps:
        seen.append((fraction, message))
        if message.startswith("brain suggestion (cranial cavity): closing the skull"):
            break
    inner = [m for _, m in seen if m.startswith("brain suggestion (cranial cavity): ")]
    assert any("searching the sealing radius" in m for m in inner), seen
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)
    steps.close()                      # the user cancels inside the brain suggestion
    assert steps.gi_frame is None      # the generator (and the suggestion inside it) has stopped
