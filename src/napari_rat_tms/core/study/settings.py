"""The settings of one placement study, as one frozen, validated object.

Seed 003 compares its head models over a grid of coil placements: 7 x 5 positions on the scalp
(15 mm along AP by 10 mm along ML around a point on the midline) times 18 orientations (0 to 170
deg in 10 deg steps), the coil (MC-B35) on the scalp at dI/dt 50 A/µs, the first model (3C) the
reference. :class:`StudySettings` holds these choices; the main job
(:meth:`~napari_rat_tms.core.job.JobParameters.study_settings`), the Study dock and the study's
``summary.json`` build from it and store it (:meth:`StudySettings.to_dict`;
:meth:`StudySettings.from_dict` restores it exactly). Distances in mm in the stereotaxic frame,
angles in degrees, dI/dt in A/µs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..conventions import SEED_DIDT_A_PER_US
from ..errors import RatTmsError
from ..species import species_defaults
from ..values import fields_as_json, known_fields, number, numbers
from ..fields import MODEL_KINDS
from ..placement.grid import (
    SEED_GRID_EXTENT_MM,
    SEED_GRID_SHAPE,
    SEED_ORIENTATIONS_DEG,
    PlacementGrid,
    placement_grid,
)

__all__ = ["StudySettings", "StudySettingsError"]


class StudySettingsError(RatTmsError, ValueError):
    """A study setting that cannot be used (the message names it and says what is allowed)."""


@dataclass(frozen=True)
class StudySettings:
    """What a placement study runs (see the module docstring); checked when made.

    Attributes
    ----------
    models : tuple of str
        Head-model kinds (:data:`~napari_rat_tms.core.fields.MODEL_KINDS`), the reference first.
    coil : str
        A coil preset name or a coil file.
    didt_a_per_us : float
        Rate of change of the coil current (A/µs), > 0.
    grid_centre_ap_ml_mm : (2,) or None
        The grid's centre (AP, ML from bregma, mm); None: the default centre
        (:func:`~napari_rat_tms.core.placement.grid.default_grid_centre_ap_ml_mm`).
    grid_extent_mm : (2,)
        The grid's extent along AP and ML (mm, >= 0).
    grid_shape : (2,) of int
        Positions along AP and ML (>= 1 each).
    orientations_deg : tuple of float
        The coil orientations tried at each position (deg), at least one.
    """

    models: tuple = tuple(MODEL_KINDS)
    coil: str = species_defaults("rat").coil
    didt_a_per_us: float = SEED_DIDT_A_PER_US
    grid_centre_ap_ml_mm: tuple | None = None
    grid_extent_mm: tuple = SEED_GRID_EXTENT_MM
    grid_shape: tuple = SEED_GRID_SHAPE
    orientations_deg: tuple = SEED_ORIENTATIONS_DEG

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        # models: a list of known kinds (a bare "3C" would otherwise be read as "3" and "C")
        if isinstance(self.models, str) or not hasattr(self.models, "__iter__"):
            raise StudySettingsError(f"models must be a list of model names (e.g. [\"3C\", \"2C\"]), got "
                                     f"{self.models!r}")
        models = tuple(self.models)
        unknown = [m for m in models if m not in MODEL_KINDS]
        if unknown or not models or len(set(models)) != len(models):
            raise StudySettingsError(f"models must be distinct names among {list(MODEL_KINDS)} (the first is "
                                     f"the reference), got {list(models)!r}")
        put("models", models)
        if not isinstance(self.coil, str) or not self.coil.strip():
            raise StudySettingsError(f"coil must be a preset name or a coil file, got {self.coil!r}")
        err = StudySettingsError
        put("didt_a_per_us", number(self.didt_a_per_us, "didt_a_per_us", positive=True, error=err))
        if self.grid_centre_ap_ml_mm is not None:
            put("grid_centre_ap_ml_mm", numbers(self.grid_centre_ap_ml_mm, "grid_centre_ap_ml_mm", 2, error=err))
        put("grid_extent_mm", numbers(self.grid_extent_mm, "grid_extent_mm", 2, error=err))
        if any(v < 0 for v in self.grid_extent_mm):
            raise err(f"grid_extent_mm must be two lengths >= 0 (mm), got {list(self.grid_extent_mm)}")
        put("grid_shape", numbers(self.grid_shape, "grid_shape", 2, positive=True, integer=True, error=err))
        if isinstance(self.orientations_deg, np.ndarray):
            put("orientations_deg", tuple(self.orientations_deg.tolist()))
        put("orientations_deg", numbers(self.orientations_deg, "orientations_deg", error=err))
        if not self.orientations_deg:
            raise err("orientations_deg must hold at least one angle (deg)")

    @property
    def reference(self) -> str:
        """The model the others are compared with (the first)."""
        return self.models[0]

    @property
    def n_placements(self) -> int:
        return self.grid_shape[0] * self.grid_shape[1] * len(self.orientations_deg)

    def grid(self, scalp, frame) -> PlacementGrid:
        """The placement grid on ``scalp`` (:class:`~napari_rat_tms.core.meshes.surface.TriangleSurface`)
        in the stereotaxic ``frame``."""
        return placement_grid(scalp, frame, self.grid_centre_ap_ml_mm, self.grid_extent_mm,
                              self.grid_shape, self.orientations_deg)

    def to_dict(self) -> dict:
        """JSON-compatible (tuples as lists)."""
        return fields_as_json(self)

    @classmethod
    def from_dict(cls, values: dict) -> StudySettings:
        """From :meth:`to_dict` (or a table of some of the fields): unknown names refused."""
        return cls(**known_fields(cls, values, "study settings", error=StudySettingsError))
