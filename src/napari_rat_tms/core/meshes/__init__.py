"""Triangle surfaces of the conductivity boundaries, their checks and test shapes."""

from .surface import TriangleSurface

__all__ = ["TriangleSurface"]
