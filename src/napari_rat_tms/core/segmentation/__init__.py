"""Segmentation of a rodent head µCT into air, body, skull, spine, eyes and brain (seed 003's
Methods), on arrays with a voxel size in mm. No Qt or napari here; the widgets are in
:mod:`napari_rat_tms.widgets.segmentation`.

Modules follow the steps: :mod:`.histogram` (thresholds), :mod:`.body`, :mod:`.skull`,
:mod:`.eyes`, :mod:`.brain` (suggestion and evaluation region), :mod:`.pipeline` (all steps,
the label volume and its parameters); :mod:`.morphology` holds the O(N) ball morphology in mm.
"""

from .body import segment_body
from .brain import BrainSuggestion, evaluation_region, suggest_brain
from .eyes import EyeResult, segment_eye
from .histogram import Histogram, SegmentationError, Thresholds, intensity_histogram, suggest_thresholds
from .morphology import Topology, close_mm, dilate_mm, distance_to, erode_mm, topology
from .pipeline import (LABEL_COLORS, LABEL_NAMES, Segmentation, SegmentationParameters,
                       SegmentationWarning, TissueLabel, assemble_labels, iter_segment, segment)
from .skull import SkullResult, segment_skull

__all__ = [
    "segment_body", "BrainSuggestion", "evaluation_region", "suggest_brain", "EyeResult",
    "segment_eye", "Histogram", "SegmentationError", "Thresholds", "intensity_histogram",
    "suggest_thresholds", "Topology", "close_mm", "dilate_mm", "distance_to", "erode_mm",
    "topology", "LABEL_COLORS", "LABEL_NAMES", "Segmentation", "SegmentationParameters",
    "SegmentationWarning", "TissueLabel", "assemble_labels", "iter_segment", "segment",
    "SkullResult", "segment_skull",
]
