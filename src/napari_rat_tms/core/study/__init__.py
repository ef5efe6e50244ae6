"""Seed 003's model-comparison study over the placement grid: numbers, table and figures."""

from .run import (
    LINE_NAVIGATION,
    METRIC_NAMES,
    StudyError,
    StudyResult,
    StudyRun,
    iter_run_study,
    signed_angle_in_plane_deg,
)

__all__ = ["LINE_NAVIGATION", "METRIC_NAMES", "StudyError", "StudyResult", "StudyRun", "iter_run_study",
           "signed_angle_in_plane_deg"]
