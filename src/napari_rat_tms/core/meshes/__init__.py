"""Triangle surfaces of the conductivity boundaries, their checks and test shapes."""

from .checks import (
    check_closed,
    connected_components,
    distance_to_surface,
    euler_characteristic,
    find_self_intersections,
    find_surface_intersections,
    genus,
    orient_outward,
    points_inside,
    winding_numbers,
)
from .primitives import holed_spherical_shell, icosphere
from .surface import TriangleSurface

__all__ = [
    "TriangleSurface",
    "icosphere",
    "holed_spherical_shell",
    "check_closed",
    "euler_characteristic",
    "connected_components",
    "genus",
    "orient_outward",
    "find_self_intersections",
    "find_surface_intersections",
    "winding_numbers",
    "points_inside",
    "distance_to_surface",
]
