"""Read and write coil models in the SimNIBS ``.ccd`` format (magnetic dipoles, SI units).

Format (SimNIBS ``simnibs/resources/coil_models``; Drakaki et al. 2022, Brain Stimulation
15:1196): line 1 is a comment with ``key=value;`` pairs (``dIdtmax`` in A/us, ``coilname``,
``stimulator``...); line 2 the number of dipoles N; line 3 a comment; then N rows
``x y z mx my mz`` in metres and A m^2 per ampere. Coil frame: z points into the head, the coil's
bottom near z = 0.

Header keys we do not know are kept (and written back) with a :class:`CoilModelWarning`: they
may matter to the program that wrote the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import RatTmsError
from .dipoles import CoilDipoles

__all__ = ["CoilModelError", "CoilModelWarning", "KNOWN_CCD_KEYS", "read_ccd", "write_ccd"]

#: Header keys seen in SimNIBS's coil files (their meaning: SimNIBS documentation, "Coil files").
KNOWN_CCD_KEYS = frozenset({
    "dIdtmax", "dIdtstim", "coilname", "stimulator", "brand", "x", "y", "z", "resolution",
    "version", "number of elements",
})


class CoilModelError(RatTmsError, ValueError):
    """A coil model file is unreadable or inconsistent."""


class CoilModelWarning(UserWarning):
    """Something in a coil model file was kept as it is but not understood."""


def _metadata(line: str) -> dict[str, str]:
    out = {}
    for item in line.lstrip("#").split(";"):
        if "=" in item:
            key, value = item.split("=", 1)
            # the first item is "<file name> version 1.0 number of elements; ..." without "="
            out[key.strip()] = value.strip()
    return out


def read_ccd(path) -> tuple[CoilDipoles, dict[str, str]]:
    """The dipoles of a ``.ccd`` file (coil frame, metres) and its header's ``key=value`` pairs."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
        metadata = _metadata(lines[0]) if lines and lines[0].startswith("#") else {}
        count = int(lines[1].split()[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # numpy's "empty input" warning
            rows = np.loadtxt(lines[3:3 + count], ndmin=2)
    except (OSError, IndexError, ValueError, UnicodeDecodeError) as err:
        raise CoilModelError(f"{path} is not a readable .ccd coil file ({err}).") from err
    if rows.shape != (count, 6):
        raise CoilModelError(
            f"{path} announces {count} dipoles but holds {rows.shape[0]} rows of "
            f"{rows.shape[1] if rows.ndim == 2 else 0} numbers (x y z mx my mz expected)."
        )
    if count == 0:
        raise CoilModelError(f"{path} holds no dipoles.")
    if not np.all(np.isfinite(rows)):
        raise CoilModelError(f"{path} has dipoles with NaN or infinite values.")
    extent = np.abs(rows[:, :3]).max()
    if extent > 1.0:
        raise CoilModelError(
            f"{path}: dipole positions reach {extent:g}; .ccd files are in metres, so this looks "
            "like millimetres. Convert the positions to metres.")
    unknown = sorted(set(metadata) - KNOWN_CCD_KEYS)
    if unknown:
        warnings.warn(f"{path.name}: header keys {unknown} are not known to napari-rat-tms; they are "
                      "kept (and written back) but not used.", CoilModelWarning, stacklevel=2)
    name = metadata.get("coilname", path.stem)
    return CoilDipoles(rows[:, :3], rows[:, 3:], name), metadata


def write_ccd(path, coil: CoilDipoles, metadata: dict | None = None, overwrite: bool = False) -> Path:
    """Write ``coil`` (coil frame, metres) as a SimNIBS ``.ccd`` file; returns the path.

    ``metadata`` (e.g. from :func:`read_ccd`) goes into the header as ``key=value;`` pairs, every
    key kept; ``coilname`` defaults to the coil's name. Atomic; an existing file is replaced
    only with ``overwrite=True``.
    """
    from ..files import atomic_write

    path = Path(path)
    if path.suffix.lower() != ".ccd":
        raise ValueError(f"a coil file must end in .ccd, got {path.name!r}")
    meta = {"coilname": coil.name, **{str(k): str(v) for k, v in (metadata or {}).items()}}
    for key, value in meta.items():
        if any(c in key + value for c in ";=\n"):
            raise ValueError(f"header entry {key!r}={value!r} may not contain ';', '=' or a newline")
    header = f"# {path.stem}.ccd version 1.0 number of elements;" + "".join(
        f"{k}={v};" for k, v in meta.items())
    rows = np.column_stack([coil.positions_m, coil.moments_m2])
    body = "\n".join(" ".join(f"{v:.10e}" for v in row) for row in rows)
    comment = "# centers and weighted directions of the elements (magnetic dipoles)"
    text = f"{header}\n{coil.n_dipoles}\n{comment}\n{body}\n"
    atomic_write(path, overwrite, lambda tmp: Path(tmp).write_text(text))
    return path
