"""Checks of values given by a user (a TOML file, the CLI, a dock, a saved JSON): one home.

Each function returns the value normalised (a finite ``float``, an ``int``, a tuple) or raises
``error`` (a subclass of ``ValueError`` chosen by the caller, e.g. the job's ``JobError``) with a
message that names the setting and says what is allowed. A bool is not a number here (``true`` in
a TOML file is a typo for a number, not 1).
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["number", "numbers", "table", "known_fields", "fields_as_json"]


def number(value, what: str, *, positive: bool = False, integer: bool = False,
           error: type[Exception] = ValueError) -> float | int:
    """``value`` as a finite number (``positive``: > 0; ``integer``: a whole number, as ``int``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise error(f"{what} must be a number, got {value!r}")
    if not np.isfinite(value) or (positive and value <= 0):
        raise error(f"{what} must be a finite{' positive' if positive else ''} number, got {value!r}")
    if integer:
        if int(value) != value:
            raise error(f"{what} must be a whole number, got {value!r}")
        return int(value)
    return float(value)


def numbers(value, what: str, n: int | None = None, *, error: type[Exception] = ValueError,
            **kwargs) -> tuple:
    """A list of numbers (exactly ``n`` when given) as a tuple; ``kwargs`` as for :func:`number`."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise error(f"{what} must be a list of numbers, got {value!r}")
    out = tuple(number(v, what, error=error, **kwargs) for v in value)
    if n is not None and len(out) != n:
        raise error(f"{what} must have {n} numbers, got {len(out)}: {list(value)!r}")
    return out


def table(value, what: str, *, error: type[Exception] = ValueError) -> dict:
    """A table (``what = {...}`` in TOML)."""
    if not isinstance(value, dict):
        raise error(f"{what} must be a table ({what} = {{...}} in TOML), got {value!r}")
    return value


def known_fields(cls, values, what: str, *, error: type[Exception] = ValueError) -> dict:
    """``values`` checked as keyword arguments of the dataclass ``cls``: a table (dict) whose names
    are all fields of ``cls`` (an unknown one, a typo, is refused with the known names)."""
    if not isinstance(values, dict):
        raise error(f"the {what} must be a table, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise error(f"unknown {what} {unknown}; known: {sorted(known)}")
    return values


def fields_as_json(instance) -> dict:
    """A dataclass's fields for JSON, tuples as lists (its ``from_dict`` gives an equal object)."""
    return {f.name: (list(v) if isinstance(v := getattr(instance, f.name), tuple) else v)
            for f in dataclasses.fields(instance)}
