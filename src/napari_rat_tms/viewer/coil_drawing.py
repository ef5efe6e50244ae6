"""The coil as the viewer draws it: a triangle mesh in the coil's own frame (mm; casing bottom at
z = 0, z into the head), with a value per vertex for the colour map. No Qt: the Coil placement dock
puts it in a Surface layer (:meth:`..core.placement.CoilPlacement.coil_to_model_mm` places it)."""

from __future__ import annotations

import numpy as np

from ..core.placement import coil_footprint_mm

__all__ = ["coil_drawing_mesh_mm", "CCD_SLAB_MM"]

#: Height (mm) of the slab drawn for a ``.ccd`` coil (its windings are not known).
CCD_SLAB_MM = 5.0


def coil_drawing_mesh_mm(coil, windings=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vertices (V, 3) mm, faces (F, 3), values (V,))`` of ``coil`` (:class:`..core.coils.CoilDipoles`,
    its own frame). With its ``windings`` (:class:`..core.coils.CoilWindings`, parametric coils): the
    windings as flat rings at mid-height (value 1) and the casing's bottom (the footprint at z = 0,
    value 0), so that the casing is seen touching the scalp while the windings lie behind it;
    without (``.ccd`` coils): a slab over the footprint (value 0.5)."""
    if windings is None:
        vertices, faces = _prism(coil_footprint_mm(coil), CCD_SLAB_MM)
        return vertices, faces, np.full(len(vertices), 0.5)
    rings, ring_faces = _annuli(windings.outline_mm())
    outline = coil_footprint_mm(coil)
    plate = np.vstack([np.column_stack([outline, np.zeros(len(outline))]),
                       [[*outline.mean(axis=0), 0.0]]])
    k = np.arange(len(outline))
    plate_faces = np.column_stack([np.full(len(k), len(outline)), k, (k + 1) % len(outline)])
    vertices = np.vstack([rings, plate])
    faces = np.vstack([ring_faces, plate_faces + len(rings)])
    values = np.concatenate([np.ones(len(rings)), np.zeros(len(plate))])
    return vertices, faces, values


def _annuli(loops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Flat rings between consecutive (outer, inner) closed loops of the same point count."""
    vertices, faces = [], []
    offset = 0
    for outer, inner in zip(loops[0::2], loops[1::2]):
        outer, inner = np.asarray(outer, float), np.asarray(inner, float)
        if np.allclose(outer[0], outer[-1]):
            outer, inner = outer[:-1], inner[:-1]
        n = len(outer)
        i = np.arange(n)
        j = (i + 1) % n
        o, q = offset + i, offset + n + i
        oj, qj = offset + j, offset + n + j
        faces.append(np.column_stack([o, oj, qj]))
        faces.append(np.column_stack([o, qj, q]))
        vertices.extend([outer, inner])
        offset += 2 * n
    return np.concatenate(vertices), np.concatenate(faces).astype(int)


def _prism(outline_xy: np.ndarray, height_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed slab over a convex outline (K, 2): bottom at z = 0, top at z = -height (coil frame)."""
    xy = np.asarray(outline_xy, float)
    n = len(xy)
    bottom = np.column_stack([xy, np.zeros(n)])
    top = np.column_stack([xy, np.full(n, -float(height_mm))])
    centre = xy.mean(axis=0)
    vertices = np.vstack([bottom, top, [[*centre, 0.0]], [[*centre, -float(height_mm)]]])
    i = np.arange(n)
    j = (i + 1) % n
    cb, ct = 2 * n, 2 * n + 1
    faces = np.vstack([
        np.column_stack([i, j, n + j]), np.column_stack([i, n + j, n + i]),      # sides
        np.column_stack([np.full(n, cb), j, i]),                                  # bottom cap
        np.column_stack([np.full(n, ct), n + i, n + j]),                          # top cap
    ])
    return vertices, faces.astype(int)
