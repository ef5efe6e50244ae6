"""Regions of interest on the cortex: statistics of the E-field there, and where the maximum lies.

The field is known at the cortex surface's vertices (V/m, :class:`..fields.FieldModel`); each
vertex stands for one third of the area of its triangles (``TriangleSurface.vertex_areas_m2``),
so every mean and percentile here is area-weighted: a finely meshed patch does not count more than
a coarse one of the same size. The components are split along the surface's outward vertex normal
``n``: normal ``E . n`` (signed: positive pointing out of the cortex) and tangential
``|E - (E . n) n|``. A region is a boolean mask over the vertices, e.g. the vertices that fall in
the voxels of a napari Labels layer (:func:`vertices_in_labels`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..meshes.surface import TriangleSurface

__all__ = ["RoiStatistics", "roi_statistics", "weighted_percentile", "vertices_in_labels", "maximum_location",
           "name_region"]

#: Percentiles of |E| reported for a region.
PERCENTILES = (50.0, 90.0, 99.0)


def weighted_percentile(values, weights, q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` with non-negative ``weights``: the smallest value
    whose cumulative weight reaches ``q`` % of the total (the inverted-CDF definition)."""
    values = np.asarray(values, dtype=float).ravel()
    weights = np.asarray(weights, dtype=float).ravel()
    if len(values) == 0 or weights.sum() <= 0:
        raise ValueError("a percentile needs at least one value with a positive weight")
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    k = int(np.searchsorted(cumulative, q / 100.0 * cumulative[-1] * (1 - 1e-12), side="left"))
    return float(values[order][min(k, len(values) - 1)])


@dataclass(frozen=True)
class RoiStatistics:
    """The E-field in a region of the cortex (fields in V/m, areas in mm^2)."""

    name: str
    n_vertices: int
    area_mm2: float
    mean_v_per_m: float                  # area-weighted mean of |E|
    max_v_per_m: float
    percentiles_v_per_m: dict            # {50: ..., 90: ..., 99: ...} of |E|, area-weighted
    mean_normal_v_per_m: float           # area-weighted mean of E . n (outward positive)
    mean_abs_normal_v_per_m: float
    mean_tangential_v_per_m: float
    area_above_mm2: dict = field(default_factory=dict)   # {level V/m: area with |E| >= level}

    def to_dict(self) -> dict:
        out = dict(self.__dict__)
        out["percentiles_v_per_m"] = {f"p{q:g}": v for q, v in self.percentiles_v_per_m.items()}
        out["area_above_mm2"] = {f"{level:g} V/m": a for level, a in self.area_above_mm2.items()}
        return out

    def describe(self) -> str:
        p = self.percentiles_v_per_m
        text = (f"{self.name}: {self.n_vertices} vertices, {self.area_mm2:.1f} mm^2; |E| mean "
                f"{self.mean_v_per_m:.1f}, max {self.max_v_per_m:.1f}, median {p[50.0]:.1f}, "
                f"90th {p[90.0]:.1f}, 99th {p[99.0]:.1f} V/m; normal (outward) mean "
                f"{self.mean_normal_v_per_m:+.1f}, |normal| {self.mean_abs_normal_v_per_m:.1f}, tangential "
                f"{self.mean_tangential_v_per_m:.1f} V/m")
        for level, area in self.area_above_mm2.items():
            text += f"; {area:.2f} mm^2 at >= {level:g} V/m"
        return text


def roi_statistics(surface: TriangleSurface, efield_v_per_m, in_roi=None, *, levels=(),
                   name: str = "cortex") -> RoiStatistics:
    """Statistics of the field ``efield_v_per_m`` ((V, 3) at ``surface``'s vertices) over the vertices
    where ``in_roi`` ((V,) bool; None: all) is true; ``levels`` (V/m): report the area at or above each."""
    e = np.asarray(efield_v_per_m, dtype=float)
    if e.shape != (surface.n_vertices, 3):
        raise ValueError(f"the field has shape {e.shape}, expected ({surface.n_vertices}, 3): one vector per "
                         "vertex of the surface it was computed on")
    mask = np.ones(surface.n_vertices, bool) if in_roi is None else np.asarray(in_roi, dtype=bool)
    if mask.shape != (surface.n_vertices,):
        raise ValueError(f"the region mask has shape {mask.shape}, expected ({surface.n_vertices},)")
    if not mask.any():
        raise ValueError(f"the region {name!r} contains no vertex of the surface: check that the labels "
                         "overlap the cortex (same scan, same frame)")
    e = e[mask]
    if not np.all(np.isfinite(e)):
        raise ValueError(f"the field in region {name!r} has NaN or infinite values")
    area = surface.vertex_areas_m2[mask] * 1e6          # mm^2
    normal = surface.vertex_normals[mask]
    magnitude = np.linalg.norm(e, axis=1)
    e_normal = np.einsum("ij,ij->i", e, normal)
    tangential = np.linalg.norm(e - e_normal[:, None] * normal, axis=1)
    total = float(area.sum())

    def mean(x):
        return float(np.dot(x, area) / total)

    return RoiStatistics(
        name, int(mask.sum()), total, mean(magnitude), float(magnitude.max()),
        {q: weighted_percentile(magnitude, area, q) for q in PERCENTILES},
        mean(e_normal), mean(np.abs(e_normal)), mean(tangential),
        {float(level): float(area[magnitude >= level].sum()) for level in levels})


def vertices_in_labels(vertices_mm, labels, scale_mm, translate_mm=(0.0, 0.0, 0.0), label=None) -> np.ndarray:
    """Which vertices (mm, world coordinates) fall in labelled voxels of ``labels`` (3D integer array
    whose voxel ``(i, j, k)`` has its centre at ``translate_mm + (i, j, k) * scale_mm``, napari's
    convention); ``label``: one label value (None: any non-zero). Vertices outside the array: False."""
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"the labels must be a 3D volume, got shape {labels.shape}")
    index = np.rint((np.asarray(vertices_mm, float) - np.asarray(translate_mm, float))
                    / np.asarray(scale_mm, float)).astype(np.int64)
    inside = np.all((index >= 0) & (index < labels.shape), axis=1)
    out = np.zeros(len(index), bool)
    values = labels[tuple(index[inside].T)]
    out[inside] = values != 0 if label is None else values == label
    return out


def name_region(point_mm, outward_normal, *, skull: TriangleSurface | None = None, frame=None) -> dict:
    """Name where a cortical point lies: ``"cortex"``; with ``frame`` (a
    :class:`..placement.StereotaxicFrame` with lambda) ``"caudal cortex, brainstem side (behind
    lambda)"`` for points behind lambda; with ``skull``, ``", at a skull opening (...)"`` when the ray
    from the point along the cortex's outward normal crosses no bone (seed 003's hot spots at
    openings). Returns ``{"region", "at_skull_opening" (with skull), "ml_ap_dv_mm" (with frame)}``."""
    from ..meshes.rays import first_ray_hit

    point_mm = np.asarray(point_mm, dtype=float)
    out = {"region": "cortex"}
    caudal = False
    if frame is not None:
        ml_ap_dv = frame.to_stereotaxic(point_mm)
        out["ml_ap_dv_mm"] = ml_ap_dv
        lam = frame.landmarks_mm.get("lambda")
        if lam is not None:
            caudal = bool(ml_ap_dv[1] < frame.to_stereotaxic(np.asarray(lam))[1])
            if caudal:
                out["region"] = "caudal cortex, brainstem side (behind lambda)"
    if skull is not None:
        opening = first_ray_hit(skull, point_mm * 1e-3, np.asarray(outward_normal, float)) is None
        out["at_skull_opening"] = opening
        if opening:
            side = ("behind lambda: foramen magnum side" if caudal else
                    "in front of lambda: orbits, optic canals" if frame is not None else "")
            out["region"] += f", at a skull opening{' (' + side + ')' if side else ''}"
    return out


def maximum_location(surface: TriangleSurface, efield_v_per_m, *, skull: TriangleSurface | None = None,
                     frame=None) -> dict:
    """Where the largest |E| lies: the vertex, its position (mm), |E| and :func:`name_region`'s
    region name (and stereotaxic position, skull-opening flag when ``frame``/``skull`` are given)."""
    e = np.asarray(efield_v_per_m, dtype=float)
    magnitude = np.linalg.norm(e, axis=1)
    peak = int(np.argmax(magnitude))
    point_mm = surface.vertices_m[peak] * 1e3
    out = {"vertex": peak, "point_mm": point_mm, "e_v_per_m": float(magnitude[peak])}
    out.update(name_region(point_mm, surface.vertex_normals[peak], skull=skull, frame=frame))
    return out
