"""Read coil models in the SimNIBS ``.ccd`` format (magnetic dipoles, SI units).

Format (SimNIBS ``simnibs/resources/coil_models``; Drakaki et al. 2022, Brain Stimulation
15:1196): line 1 is a comment with ``key=value;`` pairs (``dIdtmax`` in A/us, ``coilname``,
``stimulator``...); line 2 the number of dipoles N; line 3 a comment; then N rows
``x y z mx my mz`` in metres and A m^2 per ampere. Coil frame: z points into the head, the coil's
bottom near z = 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import RatTmsError
from .dipoles import CoilDipoles

__all__ = ["CoilModelError", "read_ccd"]


class CoilModelError(RatTmsError, ValueError):
    """A coil model file is unreadable or inconsistent."""


def _metadata(line: str) -> dict[str, str]:
    out = {}
    for item in line.lstrip("#").split(";"):
        if "=" in item:
            key, value = item.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def read_ccd(path) -> tuple[CoilDipoles, dict[str, str]]:
    """The dipoles of a ``.ccd`` file (coil frame, metres) and its header's ``key=value`` pairs."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
        metadata = _metadata(lines[0]) if lines and lines[0].startswith("#") else {}
        count = int(lines[1].split()[0])
        rows = np.loadtxt(lines[3:3 + count], ndmin=2)
    except (OSError, IndexError, ValueError) as err:
        raise CoilModelError(f"{path} is not a readable .ccd coil file ({err}).") from err
    if rows.shape != (count, 6):
        raise CoilModelError(
            f"{path} announces {count} dipoles but holds {rows.shape[0]} rows of {rows.shape[1]} numbers "
            "(x y z mx my mz expected)."
        )
    name = metadata.get("coilname", path.stem)
    return CoilDipoles(rows[:, :3], rows[:, 3:], name), metadata
