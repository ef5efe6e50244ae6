"""TMS coil models (magnetic dipoles) and the primary E-field they induce."""

from .dipoles import MU0, CoilDipoles, primary_efield, primary_efield_normal

__all__ = ["MU0", "CoilDipoles", "primary_efield", "primary_efield_normal"]
