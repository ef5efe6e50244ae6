"""npe2 reader: µCT volumes as Image layers whose scale is the voxel size in mm.

``get_reader`` returns None for anything that is not a volume we read (it never raises); the
returned reader raises :class:`~napari_rat_tms.core.errors.VolumeReadError` with a message that
says what is wrong and how to fix it, which napari shows to the user.
"""

from __future__ import annotations

from ..core.io import detect_format, read_volume
from .layers import volume_layer_data

__all__ = ["get_reader", "read_volume_layers"]


def read_volume_layers(path) -> list[tuple]:
    """Read one volume (file or folder) as a list with one Image layer data tuple."""
    if isinstance(path, (list, tuple)):
        path = path[0]
    return [volume_layer_data(read_volume(path))]


def get_reader(path):
    """Return :func:`read_volume_layers` if ``path`` is a volume we can read, else None."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    if detect_format(path) is None:
        return None
    return read_volume_layers
