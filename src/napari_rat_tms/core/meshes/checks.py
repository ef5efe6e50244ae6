"""Checks and geometric queries on triangle surfaces (SI: metres): what a boundary-element model
needs from each surface. One import for the three modules that hold them:

* :mod:`.topology` - :func:`check_closed`, :func:`euler_characteristic`, :func:`face_components`,
  :func:`connected_components`, :func:`genus`, :func:`orient_outward`;
* :mod:`.intersections` - :func:`find_self_intersections`, :func:`find_surface_intersections`;
* :mod:`.spatial` - :func:`winding_numbers`, :func:`points_inside`, :func:`distance_to_surface`
  (and the bounding-volume hierarchy they use).

Points, vertices and distances are in metres; messages give positions in millimetres.
"""

from __future__ import annotations

from .intersections import find_self_intersections, find_surface_intersections
from .spatial import distance_to_surface, points_inside, winding_numbers
from .topology import (
    check_closed,
    connected_components,
    euler_characteristic,
    face_components,
    genus,
    orient_outward,
)

__all__ = [
    "check_closed",
    "euler_characteristic",
    "connected_components",
    "face_components",
    "genus",
    "orient_outward",
    "find_self_intersections",
    "find_surface_intersections",
    "winding_numbers",
    "points_inside",
    "distance_to_surface",
]
