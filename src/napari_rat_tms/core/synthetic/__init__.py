"""Synthetic rat head µCT with ground truth (for demos, tests and scoring)."""

from .rat import RatLabel, SyntheticRat, SyntheticRatParameters, iter_synthetic_rat, make_synthetic_rat

__all__ = ["RatLabel", "SyntheticRat", "SyntheticRatParameters", "make_synthetic_rat", "iter_synthetic_rat"]
