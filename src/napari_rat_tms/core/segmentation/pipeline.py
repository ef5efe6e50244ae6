"""The whole segmentation: parameters, one labelled volume, and a generator with progress.

:func:`iter_segment` runs the steps of seed 003's Methods in order (histogram thresholds, body,
skull and spine, eyes from clicked centres, brain suggestion or the user's painted brain) and
returns a :class:`Segmentation`: one label volume (:class:`TissueLabel`) plus everything needed
to reproduce it (:class:`SegmentationParameters`, the thresholds and isolevels actually used, the
eye points) and reports (skull topology, volumes). ``Segmentation.metadata()`` is what the napari
Labels layer stores; :meth:`SegmentationParameters.from_dict` reads it back, so a segmentation can
be re-run on another scan with the same settings.
"""

from __future__ import annotations

import enum
import json
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone

import numpy as np

from .body import BODY_CLOSING_RADIUS_MM, segment_body
from ..progress import forward
from ..volume import refuse_unit_mistakes
from .brain import CORNER_RECOVERY, EVALUATION_GAP_MM, evaluation_region, iter_suggest_brain
from .eyes import EYE_CUBE_MM, EYE_MEDIAN_MM, EYE_OPENING_RADIUS_MM, segment_eye
from .histogram import SegmentationError, Thresholds, suggest_thresholds
from .morphology import Topology, topology
from .skull import SKULL_CLOSING_RADIUS_MM, SPINE_SEPARATIONS, segment_skull

__all__ = ["TissueLabel", "SegmentationParameters", "Segmentation", "iter_segment", "segment",
           "assemble_labels", "SegmentationWarning", "LABEL_NAMES", "LABEL_COLORS"]


class TissueLabel(enum.IntEnum):
    """Values of the segmentation's label volume."""

    AIR = 0
    BODY = 1
    SKULL = 2
    EYE = 3
    BRAIN = 4
    SPINE = 5  # bone outside the cranium (cervical spine, separate bones)


LABEL_NAMES = {int(v): v.name.lower() for v in TissueLabel}
LABEL_COLORS = {  # RGBA for napari (label value -> colour); air transparent
    0: (0.0, 0.0, 0.0, 0.0),
    1: (0.93, 0.74, 0.62, 1.0),
    2: (0.97, 0.97, 0.90, 1.0),
    3: (0.30, 0.55, 0.95, 1.0),
    4: (0.90, 0.45, 0.55, 1.0),
    5: (0.75, 0.75, 0.55, 1.0),
}


class SegmentationWarning(UserWarning):
    """Something in the input was corrected or ignored (e.g. brain painted over the bone)."""


@dataclass(frozen=True)
class SegmentationParameters:
    """Every setting of the segmentation (the single source of the defaults; seed 003's where
    it gives them). Thresholds are in the scan's units; ``None`` means "from the histogram".

    air_soft_threshold, bone_threshold : intensity thresholds (None: suggested).
    body_closing_radius_mm : closing of the body (seed: 2 mm).
    skull_closing_radius_mm : closing of the bone (seed: 1 mm).
    spine_separation : "connectivity" or "cut" (see :mod:`.skull`).
    spine_cut_point_mm, spine_cut_normal : the cut plane (volume frame; normal towards the spine).
    min_bone_component_mm3 : smaller pieces of bone are dropped as noise.
    eye_cube_mm, eye_median_mm, eye_opening_radius_mm : see :mod:`.eyes`.
    eye_isolevels : one isolevel per eye point, None for Otsu's automatic one.
    eye_diameter_mm : (smallest, largest) plausible eye diameter of the species, mm (its
        equivalent sphere); when given, an eye whose automatic extraction falls outside it is
        modelled as a ball (:meth:`Segmentation.with_plausible_eyes`, said in the notes); None: the
        extraction is kept as it is (the species defaults set it: :mod:`...species`).
    brain_seal_radius_mm : closing that seals the skull's openings (None: searched).
    brain_corner_recovery : the cavity's corners filled by that closing are taken back within this
        fraction of its radius (:mod:`.brain`, 0.5; measurements in :mod:`...species`).
    brain_recover_enclosed : also take back the narrow parts of the cavity (olfactory chamber,
        posterior fossa) that bone encloses on every axis (:mod:`.brain`; default on).
    brain_margin_mm : suggestion kept this far from the bone.
    evaluation_gap_mm : the cortical evaluation region stays this far from the bone (seed: 1 mm).
    """

    air_soft_threshold: float | None = None
    bone_threshold: float | None = None
    body_closing_radius_mm: float = BODY_CLOSING_RADIUS_MM
    skull_closing_radius_mm: float = SKULL_CLOSING_RADIUS_MM
    spine_separation: str = "connectivity"
    spine_cut_point_mm: tuple[float, float, float] | None = None
    spine_cut_normal: tuple[float, float, float] | None = None
    min_bone_component_mm3: float = 1.0
    eye_cube_mm: float = EYE_CUBE_MM
    eye_median_mm: float = EYE_MEDIAN_MM
    eye_opening_radius_mm: float = EYE_OPENING_RADIUS_MM
    eye_isolevels: tuple[float | None, ...] = ()
    eye_diameter_mm: tuple[float, float] | None = None
    brain_seal_radius_mm: float | None = None
    brain_corner_recovery: float = CORNER_RECOVERY
    brain_recover_enclosed: bool = True
    brain_margin_mm: float = 0.0
    evaluation_gap_mm: float = EVALUATION_GAP_MM

    def __post_init__(self):
        if self.spine_separation not in SPINE_SEPARATIONS:
            raise ValueError(
                f"spine_separation must be one of {SPINE_SEPARATIONS}, got {self.spine_separation!r}"
            )
        if self.spine_separation == "cut" and (self.spine_cut_point_mm is None
                                               or self.spine_cut_normal is None):
            raise ValueError("spine_separation='cut' needs spine_cut_point_mm and spine_cut_normal")
        vectors = ("spine_cut_point_mm", "spine_cut_normal")
        if self.eye_diameter_mm is not None:
            from .eye_suggestion import eye_diameter_range

            object.__setattr__(self, "eye_diameter_mm", eye_diameter_range(self.eye_diameter_mm))
        for f in fields(self):
            if f.name in vectors or f.name == "eye_diameter_mm" or not (f.name.endswith("_mm") or f.name.endswith("_mm3")):
                continue
            v = getattr(self, f.name)
            if v is not None and not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{f.name} must be a number >= 0, got {v!r}")
        for name in vectors:
            v = getattr(self, name)
            if v is not None:
                v = tuple(float(x) for x in v)
                if len(v) != 3 or not np.all(np.isfinite(v)):
                    raise ValueError(f"{name} must be 3 finite numbers, got {getattr(self, name)!r}")
                object.__setattr__(self, name, v)
        if not (np.isfinite(self.brain_corner_recovery) and 0.0 <= self.brain_corner_recovery <= 1.0):
            raise ValueError(f"brain_corner_recovery must be a fraction 0-1, got {self.brain_corner_recovery!r}")
        if not isinstance(self.brain_recover_enclosed, (bool, np.bool_)):
            raise ValueError(f"brain_recover_enclosed must be true or false, got {self.brain_recover_enclosed!r}")
        object.__setattr__(self, "brain_recover_enclosed", bool(self.brain_recover_enclosed))
        if self.spine_cut_normal is not None and not np.any(self.spine_cut_normal):
            raise ValueError("spine_cut_normal must not be the zero vector")
        object.__setattr__(self, "eye_isolevels",
                           tuple(None if v is None else float(v) for v in self.eye_isolevels))
        if self.air_soft_threshold is not None and self.bone_threshold is not None:
            Thresholds(self.air_soft_threshold, self.bone_threshold)  # ordered?

    def to_dict(self) -> dict:
        """JSON-compatible dict (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, values: dict) -> SegmentationParameters:
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError`` naming them."""
        names = {f.name for f in fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise TypeError(f"unknown segmentation parameter(s): {sorted(unknown)}")
        values = dict(values)
        for name in ("spine_cut_point_mm", "spine_cut_normal", "eye_isolevels", "eye_diameter_mm"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> SegmentationParameters:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True, eq=False)
class Segmentation:
    """The result: ``labels`` (uint8, :class:`TissueLabel`) on the scan's grid and its record.

    parameters : the settings asked for; thresholds, eye_isolevels, brain_seal_radius_mm: the
    values actually used (automatic ones resolved), so ``parameters_used`` reproduces it.
    eye_points_mm : the eye centres (volume frame, mm).
    brain_source : "suggestion" or "painted".
    notes : what was decided automatically and how sure it is (thresholds' histogram rule, a bone
        threshold lowered to seal a faint cranial vault), in words for the report.
    """

    labels: np.ndarray
    voxel_size_mm: tuple[float, float, float]
    parameters: SegmentationParameters
    thresholds: Thresholds
    eye_points_mm: np.ndarray
    eye_isolevels: tuple[float, ...]
    eye_auto_isolevels: tuple[float, ...]
    brain_seal_radius_mm: float | None
    brain_source: str
    skull_topology: Topology
    skull_and_spine_topology: Topology
    notes: tuple[str, ...] = ()
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    # --- masks
    def mask(self, *labels: TissueLabel) -> np.ndarray:
        return np.isin(self.labels, [int(v) for v in labels])

    @property
    def body(self) -> np.ndarray:
        """Everything inside the body surface (all labels but air)."""
        return self.labels != TissueLabel.AIR

    @property
    def skull(self) -> np.ndarray:
        return self.labels == TissueLabel.SKULL

    @property
    def skull_and_spine(self) -> np.ndarray:
        return self.mask(TissueLabel.SKULL, TissueLabel.SPINE)

    @property
    def eyes(self) -> np.ndarray:
        return self.labels == TissueLabel.EYE

    @property
    def brain(self) -> np.ndarray:
        return self.labels == TissueLabel.BRAIN

    def evaluation_region(self, gap_mm: float | None = None) -> np.ndarray:
        """Brain minus the bone (skull and spine) dilated by ``gap_mm`` (default: parameters)."""
        gap = self.parameters.evaluation_gap_mm if gap_mm is None else gap_mm
        return evaluation_region(self.brain, self.skull_and_spine, self.voxel_size_mm, gap_mm=gap)

    @property
    def parameters_used(self) -> SegmentationParameters:
        """The parameters with every automatic value replaced by the one used."""
        return replace(self.parameters, air_soft_threshold=self.thresholds.air_soft,
                       bone_threshold=self.thresholds.bone, eye_isolevels=self.eye_isolevels,
                       brain_seal_radius_mm=self.brain_seal_radius_mm)

    def volumes_mm3(self) -> dict[str, float]:
        counts = np.bincount(self.labels.ravel(), minlength=len(TissueLabel))
        v = float(np.prod(self.voxel_size_mm))
        return {LABEL_NAMES[k]: float(counts[k] * v) for k in range(len(TissueLabel))}

    def summary(self) -> str:
        vol = self.volumes_mm3()
        body = sum(v for k, v in vol.items() if k != "air")
        t = self.skull_topology
        return (f"thresholds air/soft {self.thresholds.air_soft:g}, bone {self.thresholds.bone:g}; "
                f"body {body:.0f} mm^3, skull {vol['skull']:.0f} mm^3 ({t.tunnels} tunnels, "
                f"{t.cavities} cavities), spine {vol['spine']:.0f} mm^3, "
                f"{len(self.eye_points_mm)} eye(s) {vol['eye']:.0f} mm^3, brain ({self.brain_source}) "
                f"{vol['brain']:.0f} mm^3")

    # --- partial re-runs (the widget's "update eyes" and "apply painted brain")
    def with_eyes(self, data, eye_points_mm, isolevels=None) -> Segmentation:
        """The same segmentation with the eyes redone from ``eye_points_mm`` (n, 3) and
        per-eye ``isolevels`` (None entries: automatic); body, bone and brain are kept."""
        points = np.asarray(eye_points_mm, dtype=float).reshape(-1, 3)
        levels = list(isolevels) if isolevels is not None else [None] * len(points)
        if len(levels) != len(points):
            raise ValueError(f"{len(levels)} isolevel(s) for {len(points)} eye point(s)")
        p = self.parameters
        body, bone = self.body, self.skull_and_spine
        eyes = np.zeros(self.labels.shape, bool)
        used, autos = [], []
        for k, (point, level) in enumerate(zip(points, levels)):
            eye = segment_eye(
                data, point, self.voxel_size_mm, body=body, bone=bone,
                tissue_range=(self.thresholds.air_soft, self.thresholds.bone), isolevel=level,
                cube_mm=p.eye_cube_mm, median_size_mm=p.eye_median_mm,
                opening_radius_mm=p.eye_opening_radius_mm, name=f"eye {k + 1}",
            )
            eyes[eye.box] |= eye.mask
            used.append(eye.isolevel)
            autos.append(eye.auto_isolevel)
        labels = assemble_labels(body, self.skull, self.labels == TissueLabel.SPINE, eyes,
                                 self.brain)
        params = replace(p, eye_isolevels=tuple(levels))
        return replace(self, labels=labels, parameters=params, eye_points_mm=points,
                       eye_isolevels=tuple(used), eye_auto_isolevels=tuple(autos))

    def with_plausible_eyes(self, data, eye_points_mm, eye_diameter_mm, *, isolevels=None,
                            ball_radii_mm=None, species: str = ""
                            ) -> tuple[Segmentation, list[str], dict[int, float]]:
        """The eyes redone at ``eye_points_mm`` and checked against the species' eye diameters
        ``eye_diameter_mm`` = (smallest, largest), mm; returns ``(segmentation, notes)``.

        Each eye is extracted by seed 003's method (:meth:`with_eyes`); where the extraction with an
        automatic isolevel is implausible for the species (:func:`.eye_suggestion.check_eye_size`: a
        mouse eye has no contrast to the tissue around it at 0.14 mm, Otsu's isolevel then splits the
        lens from the vitreous), the eye is modelled as a ball of the largest soft-tissue ball's
        diameter there (``ball_radii_mm``, e.g. the eye suggestion's; otherwise measured at the point,
        :func:`.eye_suggestion.soft_tissue_ball`), clipped to the species' range, inside the body and
        off the bone. A typed isolevel is never replaced: its eye is kept and the note says what is
        wrong with it. Returns ``(segmentation, notes, balls)``: one note per eye that was not
        plausible, ``balls`` = {eye index: the ball's diameter in mm} for the eyes modelled as balls."""
        from .eye_suggestion import check_eye_size, soft_tissue_ball
        from .morphology import ball_mask

        points = np.asarray(eye_points_mm, dtype=float).reshape(-1, 3)
        levels = list(isolevels) if isolevels is not None else [None] * len(points)
        if len(levels) != len(points):
            raise ValueError(f"{len(levels)} isolevel(s) for {len(points)} eye point(s)")
        d_lo, d_hi = (float(d) for d in eye_diameter_mm)
        h = np.asarray(self.voxel_size_mm, float)
        eyes = np.zeros(self.labels.shape, bool)
        used, autos, notes, balls = [], [], [], {}
        for k, (point, level) in enumerate(zip(points, levels)):
            name = f"eye {k + 1}"
            try:
                one = self.with_eyes(data, point[None], [level])
                piece, used_level, auto_level = one.eyes, one.eye_isolevels[0], one.eye_auto_isolevels[0]
            except SegmentationError as err:
                if level is not None:
                    raise
                piece, used_level, auto_level, problems = np.zeros(self.labels.shape, bool), None, None, [str(err)]
            else:
                problems = check_eye_size(piece, h, (d_lo, d_hi), name=name)
            if not problems or level is not None:
                eyes |= piece
                used.append(used_level)
                autos.append(auto_level)
                notes += [f"Eyes: {p} (typed isolevel {level:g} kept)" for p in problems]
                continue
            radius = None if ball_radii_mm is None else ball_radii_mm[k]
            if radius is None:
                _, radius = soft_tissue_ball(data, self.body, self.skull_and_spine, self.thresholds.air_soft,
                                             point, h, (d_lo, d_hi))
            diameter = float(np.clip(2.0 * float(radius), d_lo, d_hi))
            eyes |= ball_mask(self.labels.shape, point, h, 0.5 * diameter) & self.body & ~self.skull_and_spine
            used.append(auto_level)           # the level that gave the implausible piece (None: none found)
            autos.append(auto_level)
            balls[k] = diameter
            found = (f" ({2 * (3 * piece.sum() * h.prod() / (4 * np.pi)) ** (1 / 3):.2f} mm)" if piece.any()
                     else "")
            notes.append(f"Eyes: {name}'s extraction was implausible for {'a ' + species if species else 'the species'}"
                         f"{found}: the globe has no "
                         f"contrast to the tissue around it in this scan. It is modelled as a ball of "
                         f"{diameter:.2f} mm (the largest soft-tissue ball there, within {d_lo:g}-{d_hi:g} mm) at "
                         "the eye's centre, inside the body and off the bone.")
        labels = assemble_labels(self.body, self.skull, self.labels == TissueLabel.SPINE, eyes, self.brain)
        params = replace(self.parameters, eye_isolevels=tuple(levels))
        seg = replace(self, labels=labels, parameters=params, eye_points_mm=points,
                      eye_isolevels=tuple(used), eye_auto_isolevels=tuple(autos))
        return seg, notes, balls

    def with_brain(self, brain_mask, *, source: str = "painted") -> Segmentation:
        """The same segmentation with ``brain_mask`` (e.g. the user's painting) as the brain.
        Brain voxels on bone or eyes are left out with a :class:`SegmentationWarning`."""
        brain = np.asarray(brain_mask)
        if brain.shape != self.labels.shape:
            raise ValueError(f"brain mask has shape {brain.shape}, the segmentation {self.labels.shape}")
        brain = brain.astype(bool)
        if not brain.any():
            raise SegmentationError("The painted brain is empty: paint the brain first.")
        labels = assemble_labels(self.body, self.skull, self.labels == TissueLabel.SPINE,
                                 self.eyes, brain)
        return replace(self, labels=labels, brain_source=source)

    def metadata(self) -> dict:
        """JSON-compatible record stored with the napari Labels layer."""
        from ... import __version__

        return {
            "napari_rat_tms_segmentation": {
                "version": __version__,
                "created": self.created,
                "label_names": LABEL_NAMES,
                "voxel_size_mm": list(self.voxel_size_mm),
                "parameters": self.parameters.to_dict(),
                "parameters_used": self.parameters_used.to_dict(),
                "eye_points_mm": np.asarray(self.eye_points_mm).tolist(),
                "eye_auto_isolevels": list(self.eye_auto_isolevels),
                "brain_source": self.brain_source,
                "notes": list(self.notes),
                "skull_topology": dict(zip(("components", "tunnels", "cavities"), self.skull_topology)),
                "skull_and_spine_topology": dict(zip(("components", "tunnels", "cavities"),
                                                     self.skull_and_spine_topology)),
                "volumes_mm3": self.volumes_mm3(),
            }
        }


def assemble_labels(body, skull, spine, eyes, brain) -> np.ndarray:
    """One label volume from the masks; priority bone > eye > brain > body, everything inside
    the body. Brain voxels on bone (e.g. painted over the skull) or on an eye are dropped with a
    :class:`SegmentationWarning` that says how many and where; the masks are not modified."""
    body = np.asarray(body, dtype=bool)
    bone = np.asarray(skull, dtype=bool) | np.asarray(spine, dtype=bool)
    labels = np.zeros(body.shape, np.uint8)
    labels[body] = TissueLabel.BODY
    if brain is not None:
        brain = np.asarray(brain, dtype=bool)
        conflict = brain & (bone | np.asarray(eyes, dtype=bool) | ~body)
        n = int(conflict.sum())
        if n:
            where = np.argwhere(conflict).mean(axis=0)
            warnings.warn(
                f"{n} brain voxel(s) lie on bone, an eye or outside the body (centred near voxel "
                f"{tuple(int(v) for v in where)}); they stay {('bone', 'eye', 'body/air')} in the "
                "segmentation. Erase them from the brain layer, or ignore this if the skull is "
                "right.",
                SegmentationWarning,
                stacklevel=2,
            )
        labels[brain & body] = TissueLabel.BRAIN
    labels[np.asarray(eyes, dtype=bool) & body] = TissueLabel.EYE
    labels[np.asarray(spine, dtype=bool)] = TissueLabel.SPINE
    labels[np.asarray(skull, dtype=bool)] = TissueLabel.SKULL
    return labels


def iter_segment(data, voxel_size_mm, parameters: SegmentationParameters | None = None, *,
                 eye_points_mm=(), brain_mask=None):
    """Generator: yields ``(fraction, message)`` between steps and returns the
    :class:`Segmentation` (``StopIteration.value``); closing it cancels between steps.

    data : 3D intensities (any units); voxel_size_mm : spacing per array axis (mm).
    eye_points_mm : (n, 3) eye centres in the volume frame (mm); none -> no eyes (2C models).
    brain_mask : the user's painted brain (boolean, same shape); None -> automatic suggestion.
    """
    params = parameters or SegmentationParameters()
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"data must be a 3D volume, got shape {data.shape}")
    h = tuple(float(v) for v in np.broadcast_to(np.asarray(voxel_size_mm, dtype=float), (3,)))
    refuse_unit_mistakes(data, h)       # before any heavy work (issue 24)
    points = np.asarray(eye_points_mm, dtype=float).reshape(-1, 3)
    if params.eye_isolevels and len(params.eye_isolevels) != len(points):
        raise ValueError(f"{len(params.eye_isolevels)} eye isolevel(s) for {len(points)} eye point(s)")
    if brain_mask is not None:
        brain_mask = np.asarray(brain_mask)
        if brain_mask.shape != data.shape:
            raise ValueError(f"brain_mask has shape {brain_mask.shape}, the scan {data.shape}")
        brain_mask = brain_mask.astype(bool)

    yield 0.0, "histogram thresholds"
    notes: list[str] = []
    hist = None
    if params.air_soft_threshold is None or params.bone_threshold is None:
        suggested, hist = suggest_thresholds(data)
        thresholds = Thresholds(
            suggested.air_soft if params.air_soft_threshold is None else params.air_soft_threshold,
            suggested.bone if params.bone_threshold is None else params.bone_threshold,
        )
        typed = [n for n, v in (("air/soft tissue", params.air_soft_threshold),
                                ("bone", params.bone_threshold)) if v is not None]
        notes.append(f"Thresholds from the histogram ({hist.confidence}): {hist.note}"
                     + (f"; typed: {', '.join(typed)}" if typed else "")
                     + f". Used: air/soft tissue {thresholds.air_soft:.4g}, bone {thresholds.bone:.4g}.")
    else:
        thresholds = Thresholds(params.air_soft_threshold, params.bone_threshold)
        notes.append(f"Thresholds typed: air/soft tissue {thresholds.air_soft:g}, bone {thresholds.bone:g}.")

    yield 0.05, f"body (threshold {thresholds.air_soft:g}, closing {params.body_closing_radius_mm:g} mm)"
    body = segment_body(data, thresholds.air_soft, h, closing_radius_mm=params.body_closing_radius_mm)

    def bones_at(threshold, values=data):
        return segment_skull(
            values, threshold, h, closing_radius_mm=params.skull_closing_radius_mm,
            spine_separation=params.spine_separation, spine_cut_point_mm=params.spine_cut_point_mm,
            spine_cut_normal=params.spine_cut_normal,
            min_component_mm3=params.min_bone_component_mm3, within=body,
        )

    yield 0.35, f"skull (threshold {thresholds.bone:g}, closing {params.skull_closing_radius_mm:g} mm)"
    bones = bones_at(thresholds.bone)
    seal = params.brain_seal_radius_mm
    suggestion = None
    if brain_mask is None:
        # The brain suggestion comes before the eyes: sealing a faint vault may lower the bone
        # threshold, and the eyes are kept off the bone.
        yield 0.5, "brain suggestion (cranial cavity)"
        suggestion, bones, thresholds = yield from forward(
            _suggest_brain_adapting(data, h, params, thresholds, hist, body, bones, bones_at, notes),
            0.5, 0.0, "brain suggestion (cranial cavity): ")
    bone = bones.skull | bones.spine

    eyes = np.zeros(data.shape, bool)
    isolevels, autos = [], []
    checked = params.eye_diameter_mm is not None and len(points) > 0
    for k, point in enumerate(points if not checked else ()):
        yield 0.6 + 0.1 * k / max(len(points), 1), f"eye {k + 1} of {len(points)}"
        level = params.eye_isolevels[k] if params.eye_isolevels else None
        eye = segment_eye(
            data, point, h, body=body, bone=bone, tissue_range=(thresholds.air_soft, thresholds.bone),
            isolevel=level, cube_mm=params.eye_cube_mm, median_size_mm=params.eye_median_mm,
            opening_radius_mm=params.eye_opening_radius_mm, name=f"eye {k + 1}",
        )
        eyes[eye.box] |= eye.mask
        isolevels.append(eye.isolevel)
        autos.append(eye.auto_isolevel)

    if brain_mask is None:
        brain, source, seal = suggestion.mask, "suggestion", suggestion.seal_radius_mm
    else:
        brain, source = brain_mask, "painted"
        if not brain.any():
            raise SegmentationError("The painted brain is empty: paint the brain (or erase the "
                                    "layer to get the automatic suggestion).")

    yield 0.9 if checked else 0.95, "labels"
    labels = assemble_labels(body, bones.skull, bones.spine, eyes, brain)
    seg = Segmentation(
        labels=labels, voxel_size_mm=h, parameters=params, thresholds=thresholds,
        eye_points_mm=points, eye_isolevels=tuple(isolevels), eye_auto_isolevels=tuple(autos),
        brain_seal_radius_mm=seal, brain_source=source, skull_topology=bones.skull_topology,
        skull_and_spine_topology=bones.skull_and_spine_topology, notes=tuple(notes),
    )
    if checked:
        # each eye extracted once, by seed 003's method, and checked against the species' sizes
        yield 0.92, f"{len(points)} eye(s), checked against {params.eye_diameter_mm[0]:g}-" \
                    f"{params.eye_diameter_mm[1]:g} mm"
        seg, eye_notes, _ = seg.with_plausible_eyes(data, points, params.eye_diameter_mm,
                                                    isolevels=list(params.eye_isolevels) or None)
        # the parameters as given (eye_isolevels () = automatic, not one None per eye)
        seg = replace(seg, parameters=params, notes=seg.notes + tuple(eye_notes))
    yield 1.0, "done"
    return seg


#: Faint vault: the low threshold of the hysteresis bone, in soft-tissue sigmas above the soft-tissue
#: peak (the histogram's bone threshold is at 5). Below 3 sigma soft-tissue noise (1 voxel in 700)
#: turns into bone; on the shared mouse scans 3.5 closes most vault holes (rays from the brain that
#: leave through the vault: A/J 4.4 -> 2.2 %, NZW/LacJ 5.7 -> 1.5 %, CAF1/J 3.6 -> 3.2 %) and
#: changes a scan with a solid vault (C57BL/6J) by less than 1 % of its brain volume.
FAINT_VAULT_LOW_SIGMAS = 3.5
#: Lower (plain) bone thresholds tried last, in the same sigmas.
FAINT_VAULT_SIGMAS = (4.5, 4.0, 3.5, 3.0)


def _border_bone_faces(skull) -> list[str]:
    """Faces of the volume that the skull touches with more than 1 % of its voxels on them."""
    faces = []
    n = max(int(skull.sum()), 1)
    for axis in range(3):
        for index, side in ((0, "first"), (-1, "last")):
            if np.count_nonzero(np.take(skull, index, axis=axis)) > 0.01 * n:
                faces.append(f"the {side} slice of axis {axis}")
    return faces


def hysteresis_bone_data(data, low: float, high: float):
    """The scan with faint bone raised to ``high``: the hysteresis bone (voxels ``>= high``, and voxels
    ``>= low`` connected to them; Canny 1986, ``skimage.filters.apply_hysteresis_threshold``) is set to at
    least ``high``; every other voxel is kept below ``high`` (voxels between ``low`` and ``high`` not
    connected to bone stay what they were). A bone threshold of ``high`` on the result is the
    hysteresis bone."""
    from skimage.filters import apply_hysteresis_threshold

    strong = apply_hysteresis_threshold(np.asarray(data, dtype=np.float32), low, high)
    return np.where(strong, np.maximum(data, high), np.minimum(data, np.nextafter(np.float32(high), -np.inf)))


def _suggest_brain_adapting(data, h, params, thresholds, hist, body, bones, bones_at, notes):
    """:func:`suggest_brain`; when the cranial cavity does not seal at full resolution, diagnose a
    faint vault and adapt, in this order, each said in the notes:

    1. the bone by hysteresis (faint bone connected to the bone joins it, low threshold
       :data:`FAINT_VAULT_LOW_SIGMAS`), sealed at full resolution or on the search grid;
    2. the histogram's bone, sealed on the search grid;
    3. lower plain bone thresholds (:data:`FAINT_VAULT_SIGMAS`).

    Steps 1 and 3 change the bone, so they are taken only when the bone threshold was automatic;
    a typed one gets an error that names what would work. A generator: yields the closings' and
    phases' ``(0, message)`` (:func:`iter_suggest_brain`), returns ``(suggestion, bones,
    thresholds)``."""
    def attempt(skull, grid=False):
        return (yield from iter_suggest_brain(
            skull, h, body=body, air=data < thresholds.air_soft, seal_radius_mm=params.brain_seal_radius_mm,
            margin_mm=params.brain_margin_mm, search_grid_sealing=grid,
            corner_recovery=params.brain_corner_recovery, recover_enclosed=params.brain_recover_enclosed))

    try:
        suggestion = yield from attempt(bones.skull)
    except SegmentationError as first:
        tried = [f"bone threshold {thresholds.bone:.4g}: {first}"]
    else:
        return suggestion, bones, thresholds
    typed = params.bone_threshold is not None
    if hist is None or hist.soft_sigma is None:
        try:  # typed thresholds: the soft-tissue peak from the histogram only to name what to try
            _, hist = suggest_thresholds(data)
        except SegmentationError:
            hist = None
    if hist is not None:
        low = hist.peaks[1] + FAINT_VAULT_LOW_SIGMAS * hist.soft_sigma
        if low < thresholds.bone:
            try:
                raised = bones_at(thresholds.bone, hysteresis_bone_data(data, low, thresholds.bone))
                suggestion = yield from attempt(raised.skull, grid=True)
            except SegmentationError as err:
                tried.append(f"hysteresis bone {low:.4g}-{thresholds.bone:.4g}: {err}")
            else:
                if typed:
                    raise SegmentationError(
                        f"The cranial cavity does not seal with the bone threshold you typed ({thresholds.bone:g}): "
                        f"the vault is faint. Hysteresis bone (voxels >= {low:.4g} connected to bone) seals it; "
                        "leave the bone threshold automatic, or paint the brain by hand.")
                notes.append(
                    f"Faint cranial vault: the cavity did not seal at full resolution with the histogram's bone "
                    f"({thresholds.bone:.4g}); faint bone connected to the bone (>= {low:.4g}, soft-tissue peak + "
                    f"{FAINT_VAULT_LOW_SIGMAS:g} sigma, hysteresis) was added to the skull; the cavity sealed "
                    + ("at full resolution." if suggestion.sealed_on == "full resolution" else
                       "on the 0.35 mm search grid."))
                return suggestion, raised, thresholds
    try:
        suggestion = yield from attempt(bones.skull, grid=True)
    except SegmentationError as err:
        tried.append(f"bone threshold {thresholds.bone:.4g} sealed on the search grid: {err}")
    else:
        notes.append("Faint cranial vault: the cavity sealed only on the 0.35 mm search grid (pinholes in "
                     "the bone at full resolution).")
        return suggestion, bones, thresholds
    candidates = [] if hist is None else [
        hist.peaks[1] + k * hist.soft_sigma for k in FAINT_VAULT_SIGMAS
        if hist.peaks[1] + k * hist.soft_sigma < thresholds.bone - 1e-9]
    for threshold in candidates:
        try:
            lowered = bones_at(threshold)
            suggestion = yield from attempt(lowered.skull, grid=True)
        except SegmentationError as err:
            tried.append(f"bone threshold {threshold:.4g}: {err}")
            continue
        if typed:
            raise SegmentationError(
                f"The cranial cavity does not seal with the bone threshold you typed "
                f"({thresholds.bone:g}): the vault is faint (thin bone near the threshold). With "
                f"{threshold:.4g} it seals ({suggestion.volume_mm3:.0f} mm^3): type that, or paint the "
                "brain by hand.")
        notes.append(
            f"Faint cranial vault: the cavity did not seal at the histogram's bone threshold "
            f"({thresholds.bone:.4g}); it sealed at {threshold:.4g} (soft-tissue peak "
            f"+ {(threshold - hist.peaks[1]) / hist.soft_sigma:.1f} sigma), used for the whole skull.")
        return suggestion, lowered, Thresholds(thresholds.air_soft, threshold)
    faces = _border_bone_faces(bones.skull)
    diagnosis = []
    if faces:
        diagnosis.append(f"the skull touches {', '.join(faces)}: the field of view may cut the cranium")
    if not candidates:
        diagnosis.append("no lower bone threshold was tried (it would reach the soft-tissue noise)")
    raise SegmentationError(
        "No cranial cavity could be sealed for the brain suggestion. Tried: " + "; ".join(tried)
        + (". Diagnosis: " + "; ".join(diagnosis) if diagnosis else "")
        + ". Paint the brain by hand, give a larger brain_seal_radius_mm, or check the bone threshold.")


def segment(data, voxel_size_mm, parameters: SegmentationParameters | None = None, *,
            eye_points_mm=(), brain_mask=None, progress=None) -> Segmentation:
    """Blocking form of :func:`iter_segment`; ``progress(fraction, message)`` is called between
    steps."""
    from ..progress import run_to_completion

    steps = iter_segment(data, voxel_size_mm, parameters, eye_points_mm=eye_points_mm,
                         brain_mask=brain_mask)
    return run_to_completion(steps, progress)
