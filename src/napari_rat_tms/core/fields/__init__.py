"""E-fields on the cortex: the head models of seed 003 built from the meshes, and their fields for
any coil placement."""

from .head_models import (
    BEM_MODEL_KINDS,
    MODEL_KINDS,
    ModelKind,
    FieldModel,
    FieldModelError,
    build_field_model,
    head_model,
    iter_field_model,
    surfaces_needed,
)

__all__ = ["MODEL_KINDS", "ModelKind", "BEM_MODEL_KINDS", "FieldModel", "FieldModelError", "build_field_model", "head_model",
           "iter_field_model", "surfaces_needed"]
