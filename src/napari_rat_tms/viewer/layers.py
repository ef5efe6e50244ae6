"""Core objects -> napari layer data tuples ``(data, kwargs, layer_type)``.

World coordinates are millimetres in the volume frame: an image of voxel size ``h`` gets
``scale = h`` and no translation, points are given in mm directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.segmentation import LABEL_COLORS, LABEL_NAMES, Segmentation
from ..core.synthetic import RatLabel, SyntheticRat
from ..core.volume import INTENSITY_UNITS_HU, Volume

__all__ = ["hide_volumes", "put_above", "SURFACE_DRAW_ORDER", "surface_draw_rank", "volume_layer_data", "synthetic_rat_layer_data", "segmentation_layer_data",
           "labels_kwargs", "HU_CONTRAST_LIMITS", "ROLE_KEY", "ROLE_SEGMENTATION",
           "ROLE_EVALUATION_REGION", "ROLE_BRAIN_PAINT", "ROLE_EYE_POINTS", "ROLE_SPINE_CUT",
           "ROLE_SURFACE", "ROLE_LANDMARKS", "ROLE_COIL", "ROLE_COIL_CURRENT", "ROLE_LINE_NAVIGATION",
           "ROLE_PLACEMENT_GRID", "ROLE_EFIELD", "ROLE_EFIELD_DIRECTION", "ROLE_EFIELD_MAXIMUM", "ROLE_OPTIMISATION_TARGET",
           "ROLE_EXAMPLE_FIELD", "ROLE_THRESHOLD_MAP", "ROLE_NEURON_SOMAS", "LayerRole", "LAYER_ROLES",
           "layer_with_role", "surface_in_frame_of"]

HU_CONTRAST_LIMITS = (-1000.0, 2000.0)


def _contrast_limits(volume: Volume) -> tuple[float, float]:
    if volume.intensity_units == INTENSITY_UNITS_HU:
        return HU_CONTRAST_LIMITS
    sample = volume.data[::4, ::4, ::4]
    lo, hi = (float(v) for v in np.percentile(sample, [0.5, 99.9]))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def volume_layer_data(volume: Volume, name: str | None = None) -> tuple:
    """Image layer data for a :class:`Volume`: scale = voxel size (mm), metadata kept."""
    from pathlib import Path

    name = name or (Path(volume.source).name.split(".")[0] if volume.source else "µCT")
    metadata = {
        "voxel_size_mm": tuple(volume.voxel_size_mm),
        "intensity_units": volume.intensity_units,
        "scanner_affine_mm": np.asarray(volume.scanner_affine_mm).tolist(),
        "scanner_frame": volume.scanner_frame,
        "source_path": volume.source,
        **volume.metadata,
    }
    kwargs = {
        "name": name,
        "scale": tuple(volume.voxel_size_mm),
        "colormap": "gray",
        "contrast_limits": _contrast_limits(volume),
        "metadata": metadata,
        "units": "mm",
    }
    return (volume.data, kwargs, "image")


def synthetic_rat_layer_data(rat: SyntheticRat) -> list[tuple]:
    """Image, ground-truth labels and landmark points of a synthetic rat."""
    image = volume_layer_data(rat.volume, name="synthetic rat µCT")
    image[1]["metadata"]["ground_truth"] = {
        "landmarks_mm": {k: v.tolist() for k, v in rat.landmarks_mm.items()},
        "axes": {k: v.tolist() for k, v in rat.axes.items()},
        "stereotaxic_to_volume_mm": rat.stereotaxic_to_volume_mm.tolist(),
    }
    labels = (
        rat.labels,
        {
            "name": "synthetic rat ground truth",
            "scale": tuple(rat.volume.voxel_size_mm),
            "opacity": 0.35,
            "visible": False,
            "metadata": {"label_names": {int(v): v.name.lower() for v in RatLabel}},
            "units": "mm",
        },
        "labels",
    )
    names = list(rat.landmarks_mm)
    points = (
        np.array([rat.landmarks_mm[n] for n in names]),
        {
            "name": "synthetic rat landmarks",
            "features": {"landmark": names},
            "text": {"string": "{landmark}", "size": 10, "color": "yellow", "anchor": "upper_left"},
            "face_color": "yellow",
            "size": 1.0,
            "units": "mm",
        },
        "points",
    )
    return [image, labels, points]


# The plugin finds its own layers by this metadata key (users may rename layers): one schema of the
# roles, here, for every dock and reader (LAYER_ROLES says what each layer is and who writes it).
ROLE_KEY = "napari_rat_tms_role"
ROLE_SEGMENTATION = "segmentation"
ROLE_EVALUATION_REGION = "evaluation_region"
ROLE_BRAIN_PAINT = "brain_paint"
ROLE_EYE_POINTS = "eye_points"
ROLE_SPINE_CUT = "spine_cut"
ROLE_SURFACE = "surface"
#: How each head surface is drawn, wherever it comes from (Meshing dock, project folder): name ->
#: (colormap, opacity, visible). The body is translucent so the skull and cortex show through it.
SURFACE_STYLE = {
    "body": ("bop orange", 0.25, True),
    "skull": ("gray", 0.7, True),
    "skull without spine": ("gray", 0.7, False),
    "eyes": ("blue", 0.9, True),
    "cortex": ("red", 1.0, True),
}
DEFAULT_SURFACE_STYLE = ("gray", 0.7, True)
#: The order head surfaces are added in, inner first: napari draws the layer list in order, and a
#: translucent body drawn before the cortex hides it (and the field on it) by the depth test.
SURFACE_DRAW_ORDER = ("cortex", "eyes", "skull without spine", "skull", "body")


def surface_draw_rank(name: str) -> int:
    """Position of a head surface in :data:`SURFACE_DRAW_ORDER` (others between the skull and body)."""
    return SURFACE_DRAW_ORDER.index(name) if name in SURFACE_DRAW_ORDER else len(SURFACE_DRAW_ORDER) - 1
ROLE_LANDMARKS = "landmarks"
ROLE_COIL = "coil"
ROLE_COIL_CURRENT = "coil_current"
ROLE_LINE_NAVIGATION = "line_navigation"
ROLE_PLACEMENT_GRID = "placement_grid"
ROLE_EFIELD = "efield_on_cortex"
ROLE_EFIELD_DIRECTION = "efield_direction"
ROLE_EFIELD_MAXIMUM = "efield_maximum"
ROLE_OPTIMISATION_TARGET = "optimisation_target"
ROLE_EXAMPLE_FIELD = "efield"
ROLE_THRESHOLD_MAP = "neuron_threshold_map"
ROLE_NEURON_SOMAS = "neuron_somas"


@dataclass(frozen=True)
class LayerRole:
    """One kind of layer the plugin makes: its napari layer type, who writes it, and the metadata
    keys (besides :data:`ROLE_KEY`) the docks read from it."""

    role: str
    layer_type: str
    written_by: str
    metadata: tuple[str, ...] = ()


#: Every role of the plugin's layers (the docks find layers by role, never by name).
LAYER_ROLES: dict[str, LayerRole] = {r.role: r for r in (
    LayerRole(ROLE_SEGMENTATION, "labels", "Segmentation dock, project reader",
              ("napari_rat_tms_segmentation", "source")),
    LayerRole(ROLE_EVALUATION_REGION, "labels", "Segmentation dock"),
    LayerRole(ROLE_BRAIN_PAINT, "labels", "Segmentation dock (the user paints it)"),
    LayerRole(ROLE_EYE_POINTS, "points", "Segmentation dock (the user clicks; Suggest eye centres)"),
    LayerRole(ROLE_SPINE_CUT, "points", "Segmentation dock (the user clicks)"),
    LayerRole(ROLE_SURFACE, "surface", "Meshing dock, project reader", ("surface", "units")),
    LayerRole(ROLE_LANDMARKS, "points", "Coil placement dock (the user clicks), project reader"),
    LayerRole(ROLE_COIL, "surface", "Coil placement dock", ("placement", "coil_source", "frame")),
    LayerRole(ROLE_COIL_CURRENT, "vectors", "Coil placement dock"),
    LayerRole(ROLE_LINE_NAVIGATION, "points", "Coil placement dock (the line-navigation target)"),
    LayerRole(ROLE_PLACEMENT_GRID, "points", "Coil placement dock"),
    LayerRole(ROLE_EFIELD, "surface", "E-field dock", ("model", "units", "didt_a_per_us")),
    LayerRole(ROLE_EFIELD_DIRECTION, "vectors", "E-field dock", ("model",)),
    LayerRole(ROLE_EFIELD_MAXIMUM, "points", "E-field dock", ("model",)),
    LayerRole(ROLE_OPTIMISATION_TARGET, "points", "E-field dock (best placement)"),
    LayerRole(ROLE_EXAMPLE_FIELD, "surface", "project reader (the job's example placement)", ("model", "units")),
    LayerRole(ROLE_THRESHOLD_MAP, "surface", "Neuron thresholds dock", ("cell", "units", "model")),
    LayerRole(ROLE_NEURON_SOMAS, "points", "Neuron thresholds dock", ("cell", "model")),
)}
EVALUATION_REGION_COLOR = (0.2, 0.8, 0.3, 1.0)


def labels_kwargs(name, scale, role, metadata=None, colors=None, **extra) -> dict:
    """Keyword arguments of one of the plugin's Labels layers: mm scale, ``role`` under
    :data:`ROLE_KEY` in the metadata (with ``metadata``), and fixed colours (``{value: RGBA}``,
    other values transparent) when ``colors`` is given."""
    from napari.utils.colormaps import DirectLabelColormap

    kwargs = {"name": name, "scale": tuple(scale), "metadata": {ROLE_KEY: role, **(metadata or {})},
              "units": "mm", **extra}
    if colors is not None:
        kwargs["colormap"] = DirectLabelColormap(color_dict={**colors, None: (0, 0, 0, 0)})
    return kwargs


def segmentation_layer_data(seg: Segmentation, scale, region=None) -> list[tuple]:
    """Labels layer data for a :class:`Segmentation`: "segmentation" (tissue labels with their
    colours; the ``tissue`` feature names them when hovering; metadata = ``seg.metadata()``) and
    "cortical evaluation region" (1 inside, hidden at first; ``region`` if already computed)."""
    values = sorted(LABEL_NAMES)
    result = (seg.labels, labels_kwargs(
        "segmentation", scale, ROLE_SEGMENTATION, seg.metadata(), LABEL_COLORS, opacity=0.5,
        features={"index": values, "tissue": [LABEL_NAMES[k] for k in values]}), "labels")
    region = seg.evaluation_region() if region is None else region
    region = (np.asarray(region).astype(np.uint8), labels_kwargs(
        "cortical evaluation region", scale, ROLE_EVALUATION_REGION,
        {"gap_mm": seg.parameters.evaluation_gap_mm}, {1: EVALUATION_REGION_COLOR}, opacity=0.6,
        visible=False), "labels")
    return [result, region]


def layer_with_role(viewer, role):
    """The first layer of ``viewer`` whose metadata has this plugin role, or None."""
    for layer in viewer.layers:
        if layer.metadata.get(ROLE_KEY) == role:
            return layer
    return None


def surface_in_frame_of(layer, ref, name: str):
    """A Surface layer's mesh as a :class:`TriangleSurface` (metres) in ``ref``'s data coordinates:
    data -> world (scale, translate) -> ``ref``'s data frame, the frame the core computes in."""
    from ..core.meshes.surface import TriangleSurface

    v = np.asarray(layer.data[0], dtype=float)
    if layer is not ref:
        world = v * np.asarray(layer.scale, float)[-3:] + np.asarray(layer.translate, float)[-3:]
        v = (world - np.asarray(ref.translate, float)[-3:]) / np.asarray(ref.scale, float)[-3:]
    return TriangleSurface.from_mm(v, np.asarray(layer.data[1], dtype=np.int64), name)


#: The automatic colour ranges of field and threshold maps end at this percentile of the values shown,
#: not at the single most extreme vertex (a hot spot at the edge of an orbit would otherwise squeeze
#: the rest of the cortex into the bottom of the colormap).
COLOUR_RANGE_PERCENTILE = 99.0


def robust_upper_limit(values, percentile: float = COLOUR_RANGE_PERCENTILE) -> float:
    """The upper end of an automatic colour range: ``percentile`` of the finite ``values``; a tiny
    positive number when there are none or all are zero (a colour range must not be empty)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    top = float(np.percentile(finite, percentile)) if finite.size else 0.0
    return top if top > 0 else max(float(finite.max()) if finite.size else 0.0, 1e-12)


def hide_volumes(viewer) -> list[str]:
    """Hide the visible 3D Image and Labels layers (the µCT, the segmentation): in 3D their volume
    rendering covers the surfaces, the coil and the field drawn inside them (issue 25's walkthrough).
    Returns the names hidden, for the dock's status; nothing else changes (tick them to show them)."""
    from napari.layers import Image, Labels   # lazily: the layer data functions need no napari

    hidden = []
    for layer in viewer.layers:
        if isinstance(layer, (Image, Labels)) and layer.ndim == 3 and layer.visible:
            layer.visible = False
            hidden.append(layer.name)
    return hidden


def put_above(viewer, layer, below) -> None:
    """Move ``layer`` just above ``below`` in the layer list (drawn right after it). A field or map
    drawn on the cortex must come before the translucent scalp: drawn after it, the scalp's depth
    hides it in 3D, as it hides the cortex when it is below the cortex in the list."""
    layers = viewer.layers
    if below is None or below not in layers or layer not in layers:
        return
    target = layers.index(below) + 1
    if layers.index(layer) != target:
        layers.move(layers.index(layer), target)


def show_colorbar(layer) -> None:
    """Show the layer's colour bar (napari >= 0.5 layers with a colormap have one)."""
    colorbar = getattr(layer, "colorbar", None)
    if colorbar is not None:
        colorbar.visible = True
