"""TMS coil models (magnetic dipoles) and the primary E-field they induce."""

from .dipoles import MU0, CoilDipoles, primary_efield, primary_efield_normal

__all__ = ["MU0", "CoilDipoles", "primary_efield", "primary_efield_normal"]

from .ccd import CoilModelError, read_ccd  # noqa: E402

__all__ += ["CoilModelError", "read_ccd"]
