"""Skull (and spine): bone threshold, closing that keeps the real openings open, spine on or off.

Seed 003 smoothed the bone "similarly with a 1-mm-radius spherical kernel" and built two 2C
models from it: skull with the cervical spine, and without. A closing by a ball of radius ``r``
only fills gaps the ball cannot enter, i.e. holes narrower than about ``2 r``: the foramen
magnum (about 5 mm across in a rat, 2.5 mm in a mouse) and the orbital openings stay open with
``r = 1 mm`` and are reported as tunnels of the skull (:func:`~.morphology.topology`).

Separating the spine
    ``"connectivity"``: the skull is the largest connected piece of bone (after the closing);
    every other piece larger than ``min_component_mm3`` (cervical vertebrae, and also a mandible
    or limb bones when they do not touch the skull) is "spine", i.e. bone outside the cranium.
    ``"cut"``: bone on the positive side of a plane (a point and a normal in the volume frame,
    mm) is spine; use it when the atlas touches the occiput in the scan. With ``"cut"`` the
    skull and spine are closed separately so that the closing cannot bridge the cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .histogram import SegmentationError
from .morphology import Topology, close_mm, components, topology

__all__ = ["SkullResult", "segment_skull", "SKULL_CLOSING_RADIUS_MM", "SPINE_SEPARATIONS"]

SKULL_CLOSING_RADIUS_MM = 1.0
SPINE_SEPARATIONS = ("connectivity", "cut")


@dataclass(frozen=True, eq=False)
class SkullResult:
    """Bone masks and topology.

    skull : the cranium (with the bones connected to it), boolean.
    spine : bone outside the cranium (cervical spine, separate bones), boolean, disjoint from
        ``skull``.
    skull_topology, skull_and_spine_topology : :class:`~.morphology.Topology` (components,
        tunnels, cavities) of ``skull`` and of ``skull | spine``.
    removed_voxels : bone voxels dropped as small pieces (noise, calcifications).
    """

    skull: np.ndarray
    spine: np.ndarray
    skull_topology: Topology
    skull_and_spine_topology: Topology
    removed_voxels: int


def _side_of_plane(shape, voxel_size_mm, point_mm, normal) -> np.ndarray:
    normal = np.asarray(normal, dtype=float)
    norm = np.linalg.norm(normal)
    if normal.shape != (3,) or not np.isfinite(norm) or norm == 0:
        raise ValueError(f"spine_cut_normal must be a non-zero 3-vector, got {normal!r}")
    normal = normal / norm
    point = np.asarray(point_mm, dtype=float)
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise ValueError(f"spine_cut_point_mm must be 3 finite numbers (mm), got {point_mm!r}")
    h = np.asarray(voxel_size_mm, dtype=float)
    grids = [((np.arange(n) * h[k] - point[k]) * normal[k]).astype(np.float32)
             for k, n in enumerate(shape)]
    return (grids[0][:, None, None] + grids[1][None, :, None] + grids[2][None, None, :]) > 0


def segment_skull(data, bone_threshold: float, voxel_size_mm, *,
                  closing_radius_mm: float = SKULL_CLOSING_RADIUS_MM,
                  spine_separation: str = "connectivity",
                  spine_cut_point_mm=None, spine_cut_normal=None,
                  min_component_mm3: float = 1.0, within=None) -> SkullResult:
    """Skull and spine masks from ``data >= bone_threshold`` (see the module docstring).

    ``within``: optional mask (the body) outside which bone is ignored (e.g. the scanner bed).
    Raises :class:`SegmentationError` when no bone is found, or the threshold selects most of
    the head (the bone threshold must lie above soft tissue).
    """
    if spine_separation not in SPINE_SEPARATIONS:
        raise ValueError(f"spine_separation must be one of {SPINE_SEPARATIONS}, got {spine_separation!r}")
    data = np.asarray(data)
    h = np.broadcast_to(np.asarray(voxel_size_mm, dtype=float), (3,))
    bone = data >= bone_threshold
    if within is not None:
        bone &= np.asarray(within, dtype=bool)
    n_bone = int(bone.sum())
    if n_bone == 0:
        raise SegmentationError(
            f"No bone: no voxel{' of the body' if within is not None else ''} reaches the bone "
            f"threshold ({bone_threshold:g}; maximum intensity {float(data.max()):g}). A TMS model "
            "needs the skull: check that the scan shows bone, or lower the bone threshold."
        )
    if within is not None:
        n_body = int(np.count_nonzero(within))
        if n_bone > 0.6 * n_body:
            raise SegmentationError(
                f"The bone threshold ({bone_threshold:g}) selects {100 * n_bone / n_body:.0f} % of "
                "the body: it lies inside the soft-tissue range. Raise it above the end of the "
                "soft-tissue peak of the histogram."
            )
    min_voxels = max(1, int(np.ceil(min_component_mm3 / float(np.prod(h)))))

    def keep_large(mask):
        labels, sizes = components(mask)
        big = np.flatnonzero(sizes >= min_voxels) + 1
        return np.isin(labels, big), labels, sizes, big

    if spine_separation == "cut":
        if spine_cut_point_mm is None or spine_cut_normal is None:
            raise ValueError("spine_separation='cut' needs spine_cut_point_mm and spine_cut_normal")
        spine_side = _side_of_plane(bone.shape, h, spine_cut_point_mm, spine_cut_normal)
        raw_skull, raw_spine = bone & ~spine_side, bone & spine_side
        del spine_side
        skull, *_ = keep_large(close_mm(raw_skull, closing_radius_mm, h))
        spine, *_ = keep_large(close_mm(raw_spine, closing_radius_mm, h))
        spine &= ~skull
        if not skull.any():
            raise SegmentationError(
                "The spine cut leaves no bone on the skull's side: move the cut plane or flip its "
                "normal (it must point from the skull towards the spine)."
            )
    else:
        closed = close_mm(bone, closing_radius_mm, h)
        kept, labels, sizes, big = keep_large(closed)
        if big.size == 0:
            raise SegmentationError(
                f"Bone was found only in pieces smaller than {min_component_mm3:g} mm^3 (noise). "
                "Lower the bone threshold, or check the scan."
            )
        largest = int(big[np.argmax(sizes[big - 1])])
        skull = labels == largest
        spine = kept & ~skull
    removed = int(np.count_nonzero(bone & ~(skull | spine)))
    return SkullResult(skull=skull, spine=spine, skull_topology=topology(skull),
                       skull_and_spine_topology=topology(skull | spine), removed_voxels=removed)
