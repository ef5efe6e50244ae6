"""Where the coil goes: the stereotaxic frame, the coil on the scalp, the seed's placement grid,
and line navigation.

Positions here are in millimetres in the head model's frame (the volume frame, as in the viewer);
:meth:`CoilPlacement.place` hands the physics a coil in metres.
"""

from .coil_on_scalp import (
    PLACEMENT_FILE_FORMAT,
    CoilPlacement,
    CoilPlacementError,
    check_coil_clearance,
    coil_clearance_mm,
    coil_footprint_mm,
    lift_onto_scalp,
    place_coil_on_scalp,
    placement_record,
    scalp_normal,
)
from .grid import SEED_GRID_EXTENT_MM, SEED_GRID_SHAPE, SEED_ORIENTATIONS_DEG, PlacementGrid, placement_grid
from .line_navigation import LineNavigationTarget, line_navigation_target
from .stereotaxic import LandmarkError, StereotaxicFrame, frame_from_landmarks

__all__ = [
    "PLACEMENT_FILE_FORMAT", "placement_record", "CoilPlacement", "CoilPlacementError", "check_coil_clearance", "coil_clearance_mm",
    "coil_footprint_mm", "lift_onto_scalp", "place_coil_on_scalp", "scalp_normal",
    "PlacementGrid", "placement_grid", "SEED_GRID_EXTENT_MM", "SEED_GRID_SHAPE", "SEED_ORIENTATIONS_DEG",
    "LineNavigationTarget", "line_navigation_target",
    "LandmarkError", "StereotaxicFrame", "frame_from_landmarks",
]
