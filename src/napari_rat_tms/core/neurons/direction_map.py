"""The uniform-field estimator: a cell model's threshold as a function of the field direction.

Seed 000 (Aberra et al. 2023 NeuroImage 275:120184) compares its CNN with this estimator: the
threshold of each cell model in a **uniform** field is computed once over a grid of field directions
(cell frame: polar angle ``theta`` from the somatodendritic axis +z, azimuth ``phi`` from +x towards
+y) and stored; in a non-uniform field the threshold is then estimated from the field at the soma
alone::

    threshold amplitude ~= T(direction of E_soma) / |E_soma|

where ``T`` (V/m) is the map's threshold |E| for that direction and the result is the multiplier of
the field distribution (the same quantity as :attr:`.ThresholdResult.threshold_amplitude`).

Grid: ``n_polar`` polar angles from 0 to pi inclusive (the poles computed once each) times
``n_azimuth`` azimuths evenly spaced over [0, 2 pi). Interpolation: bilinear in ``(theta, phi)``,
periodic in ``phi``, of the **reciprocal** threshold ``1 / T`` (the activation "sensitivity"), which
varies smoothly and is 0 where the cell cannot be activated (``T = inf``, e.g. a straight axon in a
transverse field); the estimate is ``1 / interpolated`` (``inf`` where it is 0). Directions where
no threshold was found within the search range are stored as ``inf`` and listed in the metadata.

Maps are saved as ``.npz`` (arrays plus a JSON metadata string: cell, pulse, grid, settings, cost).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..progress import ProgressCallback, run_to_completion
from .waveforms import TmsPulse

__all__ = [
    "DirectionMap",
    "direction_map_steps",
    "compute_direction_map",
    "load_direction_map",
    "estimate",
    "directions_from_angles",
]

FORMAT = "napari-rat-tms direction map"
FORMAT_VERSION = 1


def directions_from_angles(polar_rad, azimuth_rad) -> np.ndarray:
    """Unit vectors (..., 3) for polar angles from +z and azimuths from +x towards +y (radians)."""
    polar = np.asarray(polar_rad, dtype=float)
    azimuth = np.asarray(azimuth_rad, dtype=float)
    return np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)],
                    axis=-1)


@dataclass(frozen=True)
class DirectionMap:
    """Threshold |E| (V/m) of one cell model in uniform fields, per direction (module docstring).

    ``threshold_v_per_m[i, j]``: direction ``(polar_rad[i], azimuth_rad[j])``; ``inf`` where no
    threshold was found. ``metadata``: cell name, pulse, settings, cost, directions not found.
    """

    polar_rad: np.ndarray
    azimuth_rad: np.ndarray
    threshold_v_per_m: np.ndarray
    cell_name: str
    pulse: dict
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        polar = np.asarray(self.polar_rad, dtype=float)
        azimuth = np.asarray(self.azimuth_rad, dtype=float)
        thresholds = np.asarray(self.threshold_v_per_m, dtype=float)
        if polar.ndim != 1 or polar.size < 2 or abs(polar[0]) > 1e-12 or abs(polar[-1] - math.pi) > 1e-9 \
                or np.any(np.diff(polar) <= 0):
            raise ValueError("polar_rad must increase from 0 to pi (inclusive), at least 2 values")
        expected = 2 * math.pi * np.arange(azimuth.size) / max(azimuth.size, 1)
        if azimuth.ndim != 1 or azimuth.size < 1 or not np.allclose(azimuth, expected, atol=1e-9):
            raise ValueError("azimuth_rad must be n values evenly spaced over [0, 2 pi) starting at 0")
        if thresholds.shape != (polar.size, azimuth.size):
            raise ValueError(f"threshold_v_per_m must have shape {(polar.size, azimuth.size)}, "
                             f"got {thresholds.shape}")
        if np.any(np.isnan(thresholds)) or np.any(thresholds <= 0):
            raise ValueError("threshold_v_per_m must be positive (inf where no threshold was found)")
        arrays = (("polar_rad", polar), ("azimuth_rad", azimuth), ("threshold_v_per_m", thresholds))
        for name, value in arrays:
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    def threshold_at(self, directions) -> np.ndarray:
        """Interpolated threshold |E| (V/m) for direction vectors (..., 3) (need not be unit length)."""
        d = np.asarray(directions, dtype=float)
        norm = np.linalg.norm(d, axis=-1)
        if np.any(norm == 0) or not np.all(np.isfinite(d)):
            raise ValueError("directions must be finite and non-zero")
        unit = d / norm[..., None]
        polar = np.arccos(np.clip(unit[..., 2], -1.0, 1.0))
        azimuth = np.mod(np.arctan2(unit[..., 1], unit[..., 0]), 2 * math.pi)
        sensitivity = np.where(np.isinf(self.threshold_v_per_m), 0.0, 1.0 / self.threshold_v_per_m)
        i = np.clip(np.searchsorted(self.polar_rad, polar, side="right") - 1, 0, self.polar_rad.size - 2)
        u = (polar - self.polar_rad[i]) / (self.polar_rad[i + 1] - self.polar_rad[i])
        n_az = self.azimuth_rad.size
        step = 2 * math.pi / n_az
        position = azimuth / step
        j = np.floor(position).astype(int) % n_az
        v = position - np.floor(position)
        j1 = (j + 1) % n_az
        value = ((1 - u) * (1 - v) * sensitivity[i, j] + (1 - u) * v * sensitivity[i, j1]
                 + u * (1 - v) * sensitivity[i + 1, j] + u * v * sensitivity[i + 1, j1])
        with np.errstate(divide="ignore"):
            return np.where(value > 0, 1.0 / np.maximum(value, 1e-300), np.inf)

    def save(self, path) -> Path:
        """Write the map as ``.npz`` (arrays and a JSON metadata string)."""
        path = Path(path)
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "cell_name": self.cell_name,
                "pulse": self.pulse, "metadata": self.metadata}
        np.savez(path, polar_rad=self.polar_rad, azimuth_rad=self.azimuth_rad,
                 threshold_v_per_m=self.threshold_v_per_m, metadata_json=np.array(json.dumps(meta)))
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def load_direction_map(path) -> DirectionMap:
    """Read a map written by :meth:`DirectionMap.save`; ``ValueError`` if it is not one."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["metadata_json"]))
            arrays = {k: np.array(data[k]) for k in ("polar_rad", "azimuth_rad", "threshold_v_per_m")}
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable direction map ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path} has format version {meta['format_version']}; this version reads "
                         f"up to {FORMAT_VERSION}")
    return DirectionMap(cell_name=meta["cell_name"], pulse=meta["pulse"], metadata=meta.get("metadata", {}),
                        **arrays)


def estimate(direction_map: DirectionMap, e_at_soma_v_per_m) -> np.ndarray | float:
    """Uniform-field estimate of the threshold amplitude: ``T(direction of E) / |E|`` (module docstring).

    ``e_at_soma_v_per_m``: (3,) or (M, 3) field at the soma in the cell frame (V/m, amplitude 1).
    Returns the multiplier of that field at threshold (``inf`` where the map has no threshold).
    """
    e = np.asarray(e_at_soma_v_per_m, dtype=float)
    if e.shape[-1] != 3:
        raise ValueError(f"e_at_soma_v_per_m must have shape (3,) or (M, 3), got {e.shape}")
    out = direction_map.threshold_at(e) / np.linalg.norm(e, axis=-1)
    return float(out) if out.ndim == 0 else out


def direction_map_steps(cell, pulse: TmsPulse, *, n_polar: int = 7, n_azimuth: int = 8,
                        initial_v_per_m: float = 200.0, **threshold_kwargs
                        ) -> Generator[tuple[float, str], None, DirectionMap]:
    """Compute a :class:`DirectionMap` as a ``(fraction, message)`` generator (``core.progress``).

    ``threshold_kwargs`` go to :func:`.activation_threshold` (``rel_tol``, ``search_range_v_per_m``,
    ``temperature_c``, ...). Each direction starts its search from the last threshold found (or
    ``initial_v_per_m``). A direction with no threshold in the search range is stored as ``inf``
    and the computation continues.
    """
    from .threshold import ThresholdNotFound, activation_threshold

    if n_polar < 2 or n_azimuth < 1:
        raise ValueError("n_polar must be >= 2 and n_azimuth >= 1")
    polar = np.linspace(0.0, math.pi, n_polar)
    azimuth = 2 * math.pi * np.arange(n_azimuth) / n_azimuth
    thresholds = np.full((n_polar, n_azimuth), np.inf)
    jobs = [(0, 0)] + [(i, j) for i in range(1, n_polar - 1) for j in range(n_azimuth)] + [(n_polar - 1, 0)]
    not_found = []
    settings = None
    n_simulations = 0
    start = time.perf_counter()
    guess = initial_v_per_m
    for k, (i, j) in enumerate(jobs):
        direction = directions_from_angles(polar[i], azimuth[j])
        yield k / len(jobs), (f"{cell.name}: direction {k + 1}/{len(jobs)} (theta "
                              f"{math.degrees(polar[i]):.0f} deg, phi {math.degrees(azimuth[j]):.0f} deg)")
        try:
            result = activation_threshold(cell, direction, pulse, initial_v_per_m=guess, **threshold_kwargs)
        except ThresholdNotFound as exc:
            not_found.append({"polar_rad": float(polar[i]), "azimuth_rad": float(azimuth[j]),
                              "reason": str(exc)})
            continue
        thresholds[i, j] = result.threshold_v_per_m
        guess = result.threshold_v_per_m
        settings = result.settings
        n_simulations += result.n_simulations
    thresholds[0, :] = thresholds[0, 0]
    thresholds[-1, :] = thresholds[-1, 0]
    metadata = {"cell": getattr(cell, "source", {}), "cell_summary": cell.summary(),
                "threshold_arguments": {k: (list(v) if isinstance(v, tuple) else v)
                                        for k, v in threshold_kwargs.items()},
                "settings": dict(settings.__dict__) if settings is not None else None,
                "n_thresholds": len(jobs), "n_simulations": n_simulations,
                "seconds": time.perf_counter() - start, "not_found": not_found}
    yield 1.0, f"{cell.name}: direction map done"
    return DirectionMap(polar, azimuth, thresholds, cell.name, pulse.metadata(), metadata)


def compute_direction_map(cell, pulse: TmsPulse, *, progress: ProgressCallback | None = None,
                          **kwargs) -> DirectionMap:
    """Blocking form of :func:`direction_map_steps` (same arguments, optional progress callback)."""
    return run_to_completion(direction_map_steps(cell, pulse, **kwargs), progress)
