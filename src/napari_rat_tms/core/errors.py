"""Exceptions raised by napari-rat-tms.

Bad arguments raise the built-in ``ValueError``/``TypeError`` with the parameter's name in the
message. Problems with a user's data raise a subclass of :class:`RatTmsError`, whose message says
what is wrong and how to fix it; the GUI shows that message as it is.
"""

from __future__ import annotations

__all__ = [
    "RatTmsError",
    "VolumeReadError",
    "UnsupportedVolumeError",
    "VolumeTooLargeError",
    "MeshError",
    "ConductorModelError",
    "CacheError",
]


class RatTmsError(RuntimeError):
    """Base class of the errors that concern a user's data or a failed computation."""


class VolumeReadError(RatTmsError):
    """A file or folder could not be read as a µCT volume (corrupt, truncated, inconsistent)."""


class UnsupportedVolumeError(VolumeReadError):
    """The file was read but is not a 3D scalar volume (2D image, RGB, 4D series)."""


class VolumeTooLargeError(VolumeReadError, MemoryError):
    """Loading the volume would need more memory than the machine has available."""


class MeshError(RatTmsError, ValueError):
    """A triangle surface cannot be used: open, non-manifold, self-intersecting, degenerate."""


class ConductorModelError(RatTmsError, ValueError):
    """A volume conductor model is inconsistent: intersecting surfaces, wrong conductivities."""


class CacheError(RatTmsError):
    """A cached precomputation is unreadable or does not match the model it was asked for."""
