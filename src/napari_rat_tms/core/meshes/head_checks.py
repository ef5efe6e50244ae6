"""Species-aware checks of a head model's surfaces: sizes, gaps, the thinnest skull, in millimetres.

Tools made for human heads reject rodents ("too small: is the unit metres?") or accept anything.
Here every size is compared with what a rat or a mouse has, and every message names the measured
value, the expected range and the likely cause:

* the largest extent of each surface (body, skull, cortex, eyes) against :data:`SPECIES_EXTENT_MM`
  (a size 1000 times too small or too large is almost always metres or micrometres given as mm);
* the smallest gap between surfaces that must not touch (cortex-skull, skull-body, eyes-body,
  cortex-body without a skull), against the surfaces' mean edge lengths: the BEM's piecewise-linear
  potential resolves a neighbouring surface's influence only when they are farther apart than a
  fraction of an edge; a warning when the gap is below half the smaller mean edge (seed 003 kept
  its cortical points at least 1 mm from the skull for this reason; MNE-Python reports these
  distances too, without a species-dependent threshold);
* the skull's thickness: from vertices of the skull surface, the distance along the inward normal
  to where the ray leaves the bone (:mod:`.rays`), its minimum and 5th percentile; a warning when
  the 5th percentile is below half the skull's mean edge (thin bone poorly resolved);
* missing surfaces: no body, or no skull (a 1C model only).

:func:`check_head_geometry` returns a :class:`HeadGeometryReport` (numbers and warning texts);
nothing is raised, the caller decides (the main job writes it into the report, the widgets show
the warnings).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .checks import distance_to_surface
from .surface import TriangleSurface

__all__ = ["SPECIES_EXTENT_MM", "HeadGeometryReport", "check_head_geometry", "skull_thickness_mm"]

#: Largest extent (mm) of each surface that a scan of the species gives (the body surface includes
#: whatever part of the neck and trunk the scan holds).
SPECIES_EXTENT_MM = {
    "rat": {"body": (20.0, 200.0), "skull": (15.0, 120.0), "cortex": (10.0, 35.0), "eyes": (3.0, 40.0)},
    "mouse": {"body": (10.0, 100.0), "skull": (8.0, 60.0), "cortex": (5.0, 18.0), "eyes": (1.5, 20.0)},
}
#: Pairs of surfaces that must keep a gap: (inner, outer).
GAP_PAIRS = (("cortex", "skull"), ("skull", "body"), ("eyes", "body"), ("cortex", "body"))
#: Skull vertices sampled for the thickness (rays cost ~1 ms each).
THICKNESS_SAMPLES = 1500


@dataclass
class HeadGeometryReport:
    """Measured sizes (mm) and the warnings; ``lines()`` for a report."""

    species: str
    extents_mm: dict = field(default_factory=dict)        # surface -> largest extent
    edge_mm: dict = field(default_factory=dict)           # surface -> mean edge length
    gaps_mm: dict = field(default_factory=dict)           # "inner-outer" -> smallest gap
    skull_thickness_mm: dict = field(default_factory=dict)  # min, p5, median
    warnings: list = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{name}: {extent:.1f} mm across, mean edge {self.edge_mm[name]:.2f} mm"
               for name, extent in self.extents_mm.items()]
        out += [f"smallest gap {pair}: {gap:.2f} mm" for pair, gap in self.gaps_mm.items()]
        if self.skull_thickness_mm:
            t = self.skull_thickness_mm
            out.append(f"skull thickness: min {t['min']:.2f}, 5th percentile {t['p5']:.2f}, median "
                       f"{t['median']:.2f} mm")
        return out + [f"warning: {w}" for w in self.warnings]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def skull_thickness_mm(skull: TriangleSurface, samples: int = THICKNESS_SAMPLES) -> np.ndarray:
    """Local thickness (mm) at up to ``samples`` skull vertices (evenly chosen): along the inward
    vertex normal, the distance to where the ray leaves the bone. Vertices whose ray never leaves
    (open mesh) are left out."""
    from .rays import ray_hits

    n = skull.n_vertices
    chosen = np.linspace(0, n - 1, min(samples, n)).astype(np.int64)
    step = 1e-3 * skull.mean_edge_length_m       # start just inside the bone
    out = []
    for i in chosen:
        inward = -skull.vertex_normals[i]
        hits = ray_hits(skull, skull.vertices_m[i] + step * inward, inward)
        leaving = next((h for h in hits if not h.entering), None)
        if leaving is not None:
            out.append((leaving.distance + step) * 1e3)
    return np.asarray(out)


def _extent_hint(name: str, extent: float, low: float, high: float, species: str, other: dict | None) -> str:
    also = "" if other is None else f" (a {other['name']}'s: {other['low']:g}-{other['high']:g} mm)"
    text = (f"the {name} surface measures {extent:.3g} mm across; a {species}'s measures {low:g}-{high:g} mm"
            f"{also}.")
    if extent < low / 100.0:
        text += " Are the positions in metres rather than millimetres? (Check the scan's voxel size.)"
    elif extent > high * 100.0:
        text += " Are the positions in micrometres rather than millimetres? (Check the scan's voxel size.)"
    elif extent > high:
        text += " Is this a larger animal, or does the surface include more than the head?"
    else:
        text += " Is the segmentation of this surface complete?"
    return text


def check_head_geometry(surfaces: dict, species: str | None = "rat", *, samples: int = THICKNESS_SAMPLES
                        ) -> HeadGeometryReport:
    """Measure and check the head model's surfaces (see the module docstring).

    ``surfaces``: name -> :class:`TriangleSurface` (metres) for any of body, skull, cortex, eyes.
    ``species``: "rat", "mouse", or None (accept either's range).
    """
    if species is not None and species not in SPECIES_EXTENT_MM:
        raise ValueError(f"species must be one of {sorted(SPECIES_EXTENT_MM)} or None, got {species!r}")
    report = HeadGeometryReport(species or "rat or mouse")
    for name in ("body", "skull", "cortex", "eyes"):
        surface = surfaces.get(name)
        if surface is None:
            continue
        extent = float(np.ptp(surface.vertices_m, axis=0).max() * 1e3)
        report.extents_mm[name] = extent
        report.edge_mm[name] = float(surface.mean_edge_length_m * 1e3)
        if species is None:
            low = min(r[name][0] for r in SPECIES_EXTENT_MM.values())
            high = max(r[name][1] for r in SPECIES_EXTENT_MM.values())
            ok, shown, other = low <= extent <= high, "rat or mouse", None
        else:
            low, high = SPECIES_EXTENT_MM[species][name]
            ok, shown = low <= extent <= high, species
            alt = "mouse" if species == "rat" else "rat"
            alt_low, alt_high = SPECIES_EXTENT_MM[alt][name]
            other = {"name": alt, "low": alt_low, "high": alt_high}
        if not ok:
            report.warnings.append(_extent_hint(name, extent, low, high, shown, other))
    if "body" not in surfaces:
        report.warnings.append("there is no body (scalp) surface: every model needs it (the outer "
                               "boundary of the head); mesh the body segmentation.")
    if "skull" not in surfaces:
        report.warnings.append("there is no skull surface: only the 1C model (and no sphere fit) can be "
                               "built, and seed 003 found it off by tens of percent.")
    for inner, outer in GAP_PAIRS:
        if inner not in surfaces or outer not in surfaces:
            continue
        if (inner, outer) == ("cortex", "body") and "skull" in surfaces:
            continue
        gap = float(distance_to_surface(surfaces[outer], surfaces[inner].vertices_m).min() * 1e3)
        pair = f"{inner}-{outer}"
        report.gaps_mm[pair] = gap
        edge = min(report.edge_mm[inner], report.edge_mm[outer])
        if gap < 0.5 * edge:
            report.warnings.append(
                f"the {inner} surface comes within {gap:.2f} mm of the {outer} surface, less than half "
                f"the smaller mean edge length ({edge:.2f} mm): the potential there is under-resolved and "
                "the field nearby less accurate. Refine both surfaces (smaller edges) or check the "
                "segmentation where they nearly touch.")
    if "skull" in surfaces:
        thickness = skull_thickness_mm(surfaces["skull"], samples)
        if len(thickness):
            report.skull_thickness_mm = {"min": float(thickness.min()),
                                         "p5": float(np.percentile(thickness, 5)),
                                         "median": float(np.median(thickness))}
            edge = report.edge_mm["skull"]
            if report.skull_thickness_mm["p5"] < 0.5 * edge:
                report.warnings.append(
                    f"5 % of the skull is thinner than {report.skull_thickness_mm['p5']:.2f} mm (thinnest "
                    f"{report.skull_thickness_mm['min']:.2f} mm), less than half the skull's mean edge "
                    f"length ({edge:.2f} mm): the thin bone is poorly resolved; mesh the skull with smaller "
                    "edges.")
    return report
