"""Units and coordinate conventions of napari-rat-tms, written down once.

Volume frame
    Every volume is a 3D array ``data[i0, i1, i2]``. Readers return arrays in the order
    (slice, row, column), i.e. the reverse of the file's (x, y, z) index order for NIfTI/NRRD and
    the order of ITK/SimpleITK and of a DICOM series (axis 0 = slice). The *volume frame* has its
    axes along the array axes and its origin at the centre of voxel ``[0, 0, 0]``; the point of
    voxel index ``p`` is ``p * voxel_size_mm``. The viewer uses this frame in millimetres
    (``layer.scale = voxel_size_mm``, no translation), so every layer of one scan lines up.
    The scanner's own position and orientation (the file's affine) are kept in
    :attr:`Volume.scanner_affine_mm` for export, never applied to the data.

Units
    Inside the physics core (BEM, coils, fields) everything is SI: metres, S/m, A/s, V/m. The
    viewer, the files and the user-facing parameters use millimetres and dI/dt in A/us; names of
    non-SI quantities carry a suffix (``voxel_size_mm``, ``didt_a_per_us``). Convert with the
    helpers below, at the boundary, never inside kernels.

Anatomical (stereotaxic) frame
    Right-handed, millimetres: x to the animal's right, y anterior, z dorsal (RAS), origin at
    bregma on the dorsal skull surface. The synthetic rat's ground truth gives the transform from
    this frame to the volume frame.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MM_PER_M", "mm_to_m", "m_to_mm", "SEED_DIDT_A_PER_US", "A_PER_US_TO_A_PER_S", "HEAD_SURFACES",
           "surface_file_stem", "surface_from_file_stem", "DIDT_UNIT", "format_didt", "format_mso"]

MM_PER_M = 1000.0
#: dI/dt of the coil current: A/us (user-facing) -> A/s (core).
A_PER_US_TO_A_PER_S = 1e6
#: Seed 003's coil current rate of change, the default everywhere a dI/dt is asked for (A/us; about
#: 33 % of the MagVenture MC-B35's maximum output, :data:`.coils.presets.MC_B35_MAX_DIDT_A_PER_US`).
SEED_DIDT_A_PER_US = 50.0

#: The head surfaces of the meshing step, by name: the keys of ``HeadMeshes.surfaces`` and of the
#: head models' surfaces (``core.fields.MODEL_KINDS``), the ``surface`` of a Surface layer's metadata,
#: and (:func:`surface_file_stem`) the files in a project's ``meshes/`` folder.
HEAD_SURFACES = ("body", "skull", "skull without spine", "eyes", "cortex")


def surface_file_stem(name: str) -> str:
    """The file name (without suffix) of the surface ``name`` in a project's ``meshes/`` folder."""
    return name.replace(" ", "_")


def surface_from_file_stem(stem: str) -> str:
    """The surface name of a file stem written by :func:`surface_file_stem`."""
    return stem.replace("_", " ")


def mm_to_m(values_mm):
    """Millimetres -> metres (array or scalar)."""
    return np.asarray(values_mm, dtype=float) / MM_PER_M


def m_to_mm(values_m):
    """Metres -> millimetres (array or scalar)."""
    return np.asarray(values_m, dtype=float) * MM_PER_M


#: The one spelling of the dI/dt unit shown to users (docks, CLI, reports).
DIDT_UNIT = "A/µs"


def format_didt(a_per_us: float) -> str:
    """A dI/dt for people: three significant digits and the unit, e.g. ``"72.4 A/µs"``."""
    value = float(a_per_us)
    return "-" if not math.isfinite(value) else f"{value:.3g} {DIDT_UNIT}"


def format_mso(percent: float) -> str:
    """A stimulator output in % of its maximum (% MSO) for people: one decimal below 100 %, whole
    per cents with thousands separators above (``"5,130 % MSO"``, not ``"5.13e+03 % MSO"``)."""
    value = float(percent)
    if not math.isfinite(value):
        return "-"
    return f"{value:.1f} % MSO" if abs(value) < 100 else f"{value:,.0f} % MSO"
