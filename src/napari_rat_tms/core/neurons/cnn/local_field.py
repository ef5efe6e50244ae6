"""The local E-field around a neuron, sampled on a small grid in the neuron's frame: the CNN's input.

Seed 000 (Aberra et al. 2023 NeuroImage 275:120184, "Rapid estimation of cortical neuron
activation thresholds by transcranial magnetic stimulation using convolutional neural networks")
feeds 3D CNNs with a sparse sample of the E-field around each neuron. Here:

**Grid** (:class:`LocalFieldGrid`): ``n x n x n`` points (default 9 x 9 x 9) evenly spaced over a
cube of side ``side_mm`` (default 1.5 mm; the issue asks for 1.5-2 mm) **centred at the soma** with
its axes along the **cell frame** (:mod:`..cortex`: +z the somatodendritic axis, towards the pia;
+x the placement's rotated reference tangent; +y = z x x). Point ``[i, j, k]`` lies at the cell-frame
offset ``(x_i, y_j, z_k)`` with ``x_i = -side/2 + i side/(n-1)`` (likewise ``y_j``, ``z_k``); in the
head frame at ``soma_m + R @ offset`` (``R`` the placement's rotation, cell -> head). With ``n`` odd
the centre point ``[n//2, n//2, n//2]`` is the soma.

**Channels**: the three Cartesian components of the field **in the cell frame**
(``E_cell = R^T E_head``), divided by ``|E_soma|``, the field's magnitude at the soma (for the
field function's amplitude, e.g. dI/dt = 1 A/us). The normalised grid does not depend on the
field's scale (nor, therefore, on the stimulator output), only on its shape around the neuron.

**Target and units** (what the networks of :mod:`.networks` predict): the *normalised threshold*
``T_soma = A * |E_soma|`` (V/m), the magnitude of the field at the soma at threshold, where ``A``
is the engine's threshold amplitude (:attr:`..population.NeuronThreshold.threshold_amplitude`, the
multiplier of the field function's field at threshold). So::

    threshold amplitude  A = T_soma / |E_soma|

and with a field function at dI/dt = 1 A/us (the neurons dock's convention) ``A`` is the threshold
dI/dt in A/us. This is the quantity of the uniform-field estimator too
(:func:`..direction_map.estimate`: ``T(direction of E_soma) / |E_soma|``).

**Points outside the brain** (the policy; ``inside``): a grid point the ``inside`` predicate says is
outside the tissue (above the pia, in CSF or skull for a brain-only predicate), or where the field
function gives no finite value and no ``inside`` predicate was given, gets **zero** in the three
field channels and **0** in a fourth **mask channel** (1 inside). The network therefore sees both
"no field here" and where the tissue ends; zero is the neutral value of a normalised field. A
grid with more than ``max_outside_fraction`` (default 0.5) of its points outside, or whose soma
is outside, is refused (:class:`MissingFieldError`): the neuron is not in the tissue.

**Missing values** (an error, never filled): with an ``inside`` predicate, a point inside the
tissue where the field function returns NaN/inf is a missing value, not an outside point:
:class:`MissingFieldError` names the neuron and how many points. Without a predicate the field
function's convention decides (``field_fn`` returns NaN outside its domain, as the analytic and
BEM field functions of the package do), so a NaN inside cannot be told from the outside: pass
``inside`` to have such values refused.

Field function interface: ``field_fn(points_m (P, 3), head frame, metres) -> (P, 3) V/m`` (NaN
outside its domain); a :class:`~napari_rat_tms.core.errors.ConductorModelError` (the BEM refuses
points in air) is turned into NaN by sampling only the ``inside`` points, so give ``inside`` with a
BEM field (e.g. ``lambda p: conductor.conductivity_at(p) > 0``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import ConductorModelError, RatTmsError
from ..cortex import CorticalNeuronPlacement, inside_predicate

__all__ = [
    "DEFAULT_GRID_N",
    "DEFAULT_SIDE_MM",
    "MissingFieldError",
    "LocalFieldGrid",
    "LocalFieldSamples",
    "sample_local_fields",
    "sample_local_field_arrays",
    "samples_from_arrays",
    "check_finite_inside",
]

DEFAULT_GRID_N = 9
DEFAULT_SIDE_MM = 1.5


class MissingFieldError(RatTmsError, ValueError):
    """The E-field is missing (NaN) where the neuron's grid needs it: inside the tissue, or at the soma."""


@dataclass(frozen=True)
class LocalFieldGrid:
    """``n`` points per axis over a cube of side ``side_mm`` (mm) centred at the soma, cell frame."""

    n: int = DEFAULT_GRID_N
    side_mm: float = DEFAULT_SIDE_MM

    def __post_init__(self):
        if int(self.n) != self.n or self.n < 3 or self.n % 2 == 0:
            raise ValueError(f"n must be an odd integer >= 3 (the centre is the soma), got {self.n!r}")
        if not (np.isfinite(self.side_mm) and self.side_mm > 0):
            raise ValueError(f"side_mm must be positive, got {self.side_mm!r}")
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "side_mm", float(self.side_mm))

    @property
    def spacing_mm(self) -> float:
        return self.side_mm / (self.n - 1)

    def axis_mm(self) -> np.ndarray:
        """(n,) coordinates along each cell axis (mm), from ``-side/2`` to ``side/2``."""
        return np.linspace(-self.side_mm / 2, self.side_mm / 2, self.n)

    def offsets_m(self) -> np.ndarray:
        """(n**3, 3) cell-frame offsets from the soma (m), C order over ``[i, j, k]`` = (x, y, z)."""
        a = self.axis_mm() * 1e-3
        x, y, z = np.meshgrid(a, a, a, indexing="ij")
        return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)

    def points_m(self, placement: CorticalNeuronPlacement) -> np.ndarray:
        """(n**3, 3) head-frame grid points (m) of one neuron: ``soma + R @ offset``."""
        return self.offsets_m() @ placement.rotation_matrix.T + placement.soma

    def as_dict(self) -> dict:
        return {"n": self.n, "side_mm": self.side_mm}

    @classmethod
    def from_dict(cls, data: dict) -> LocalFieldGrid:
        return cls(int(data["n"]), float(data["side_mm"]))


@dataclass(frozen=True, eq=False)
class LocalFieldSamples:
    """The local fields of ``M`` neurons (module docstring for the conventions).

    ``channels``: (M, 3, n, n, n) float32, the cell-frame field divided by ``|E_soma|`` (0 outside);
    ``mask``: (M, n, n, n) bool, True inside the tissue; ``e_soma_v_per_m``: (M, 3) float64, the
    field at the soma in the **cell frame** (V/m, the field function's amplitude, not normalised).
    """

    grid: LocalFieldGrid
    channels: np.ndarray
    mask: np.ndarray
    e_soma_v_per_m: np.ndarray

    def __post_init__(self):
        n = self.grid.n
        channels = np.asarray(self.channels, dtype=np.float32)
        mask = np.asarray(self.mask, dtype=bool)
        e_soma = np.asarray(self.e_soma_v_per_m, dtype=np.float64).reshape(-1, 3)
        m = len(e_soma)
        if channels.shape != (m, 3, n, n, n) or mask.shape != (m, n, n, n):
            raise ValueError(f"channels must be ({m}, 3, {n}, {n}, {n}) and mask ({m}, {n}, {n}, {n}), got "
                             f"{channels.shape} and {mask.shape}")
        check_finite_inside(channels, mask)
        if np.any(~np.isfinite(e_soma)) or np.any(np.linalg.norm(e_soma, axis=1) == 0):
            raise MissingFieldError("the field at the soma must be finite and non-zero for every neuron")
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "e_soma_v_per_m", e_soma)

    def __len__(self) -> int:
        return len(self.e_soma_v_per_m)

    @property
    def e_soma_norm_v_per_m(self) -> np.ndarray:
        """(M,) ``|E_soma|`` (V/m): divide a normalised threshold by it to get the amplitude."""
        return np.linalg.norm(self.e_soma_v_per_m, axis=1)

    def network_input(self) -> np.ndarray:
        """(M, 4, n, n, n) float32: the three normalised field channels and the mask (1 inside)."""
        return np.concatenate([self.channels, self.mask[:, None].astype(np.float32)], axis=1)

    def subset(self, index) -> LocalFieldSamples:
        index = np.asarray(index)
        return LocalFieldSamples(self.grid, self.channels[index], self.mask[index],
                                 self.e_soma_v_per_m[index])


def check_finite_inside(channels, mask) -> None:
    """Raise :class:`MissingFieldError` when a field channel is not finite at a point the mask marks inside
    (``channels`` (M, 3, n, n, n), ``mask`` (M, n, n, n) or None: every point inside)."""
    channels = np.asarray(channels)
    finite = np.all(np.isfinite(channels), axis=1)
    inside = np.ones(finite.shape, bool) if mask is None else np.asarray(mask, bool)
    bad = inside & ~finite
    if np.any(bad):
        neurons = np.flatnonzero(bad.reshape(len(bad), -1).any(axis=1))
        raise MissingFieldError(
            f"the local field grid has missing values (NaN/inf) at {int(bad.sum())} points inside the tissue "
            f"(neurons {neurons[:8].tolist()}{' ...' if neurons.size > 8 else ''}). Outside points must "
            "be marked by the mask (0) and set to 0; a missing value inside is an error in the field, not "
            "filled.")


def samples_from_arrays(grid: LocalFieldGrid, field_cell_v_per_m, mask=None) -> LocalFieldSamples:
    """Samples from raw cell-frame fields on the grid: ``field_cell_v_per_m`` (M, 3, n, n, n) V/m (any
    amplitude), ``mask`` (M, n, n, n) bool (None: all inside). Normalises by the soma's |E| and zeroes
    the outside points; NaN inside raises :class:`MissingFieldError`."""
    field = np.asarray(field_cell_v_per_m, dtype=np.float64)
    n = grid.n
    if field.ndim == 4:
        field = field[None]
    if field.shape[1:] != (3, n, n, n):
        raise ValueError(f"field_cell_v_per_m must be (M, 3, {n}, {n}, {n}), got {field.shape}")
    mask = np.ones((len(field), n, n, n), bool) if mask is None else np.asarray(mask, bool).reshape(
        len(field), n, n, n)
    check_finite_inside(field, mask)
    c = n // 2
    if not mask[:, c, c, c].all():
        raise MissingFieldError("the soma (grid centre) is outside the tissue for some neurons")
    e_soma = field[:, :, c, c, c]
    norm = np.linalg.norm(e_soma, axis=1)
    if np.any(norm == 0):
        raise MissingFieldError("the field is zero at the soma of some neurons: it cannot be normalised")
    channels = np.where(mask[:, None], field, 0.0) / norm[:, None, None, None, None]
    return LocalFieldSamples(grid, channels.astype(np.float32), mask, e_soma)


def sample_local_fields(placements: Sequence[CorticalNeuronPlacement], field_fn: Callable,
                        grid: LocalFieldGrid = LocalFieldGrid(), *, inside=None,
                        max_outside_fraction: float = 0.5, names: Sequence[str] | None = None
                        ) -> LocalFieldSamples:
    """The local field grids of ``placements`` (module docstring): one call of ``field_fn`` for all.

    ``field_fn(points_m (P, 3)) -> (P, 3)`` V/m, head frame, NaN outside its domain. ``inside``:
    optional ``TriangleSurface`` or ``points_m -> bool`` (the tissue: points outside get 0 and mask
    0; NaN inside raises). ``names``: one label per neuron for messages. Raises
    :class:`MissingFieldError` for a soma outside or without a field, a zero field at the soma, more
    than ``max_outside_fraction`` of a grid outside, or (with ``inside``) NaN inside the tissue.
    """
    channels, mask, e_soma, errors = sample_local_field_arrays(
        placements, field_fn, grid, inside=inside, max_outside_fraction=max_outside_fraction, names=names)
    bad = [e for e in errors if e is not None]
    if bad:
        more = f" ({len(bad) - 1} other neurons too)" if len(bad) > 1 else ""
        raise MissingFieldError(bad[0] + more)
    return LocalFieldSamples(grid, channels, mask, e_soma)


def sample_local_field_arrays(placements: Sequence[CorticalNeuronPlacement], field_fn: Callable,
                              grid: LocalFieldGrid = LocalFieldGrid(), *, inside=None,
                              max_outside_fraction: float = 0.5, names: Sequence[str] | None = None):
    """:func:`sample_local_fields` that does not stop at a bad neuron: returns ``(channels (M, 3, n, n,
    n) float32, mask (M, n, n, n) bool, e_soma_v_per_m (M, 3), errors)``, ``errors[k]`` None or the
    message of neuron ``k`` (its rows are then zero, its ``e_soma`` NaN). A field function refusing
    points (``ConductorModelError``) still raises :class:`MissingFieldError`."""
    placements = list(placements)
    if not 0 <= max_outside_fraction < 1:
        raise ValueError(f"max_outside_fraction must be in [0, 1), got {max_outside_fraction!r}")
    n = grid.n
    m = len(placements)
    if not m:
        return np.zeros((0, 3, n, n, n), np.float32), np.zeros((0, n, n, n), bool), np.zeros((0, 3)), []
    labels = list(names) if names is not None else [p.label() for p in placements]
    per = n ** 3
    points = np.concatenate([grid.points_m(p) for p in placements])
    check = inside_predicate(inside)
    tissue = np.ones(len(points), bool) if check is None else np.asarray(check(points), bool).reshape(-1)
    if tissue.shape != (len(points),):
        raise ValueError(f"inside(points) must return one bool per point, got shape {tissue.shape}")
    efield = np.full(points.shape, np.nan)
    if tissue.any():
        try:
            values = np.asarray(field_fn(points[tissue]), dtype=float)
        except ConductorModelError as exc:
            raise MissingFieldError(f"the field function refused some grid points ({exc}); pass inside= "
                                    "(e.g. lambda p: conductor.conductivity_at(p) > 0) so that only "
                                    "points in the head are sampled") from exc
        if values.shape != (int(tissue.sum()), 3):
            raise ValueError(f"field_fn must return ({int(tissue.sum())}, 3) V/m, got shape {values.shape}")
        efield[tissue] = values
    finite = np.all(np.isfinite(efield), axis=1)
    missing = (tissue & ~finite).reshape(m, per) if check is not None else np.zeros((m, per), bool)
    valid = (tissue & finite).reshape(m, per)
    rotations = np.stack([p.rotation_matrix for p in placements])                  # (M, 3, 3)
    e_head = np.where(valid.reshape(-1)[:, None], efield, 0.0).reshape(m, per, 3)
    e_cell = np.einsum("mpi,mij->mpj", e_head, rotations)                          # R^T E per point
    c = per // 2    # the soma: the centre point of the C-ordered grid
    e_soma = e_cell[:, c, :].copy()
    norm = np.linalg.norm(e_soma, axis=1)
    errors: list = [None] * m
    for k, label in enumerate(labels):
        outside = 1.0 - valid[k].mean()
        if missing[k].any():
            errors[k] = (f"{label}: the field function returned no finite E-field at "
                         f"{int(missing[k].sum())} grid points inside the tissue (missing values, not "
                         "outside points). Check the field function: its domain must cover the tissue.")
        elif not valid[k, c]:
            errors[k] = (f"{label}: its soma lies outside the tissue or the field's domain; the local field "
                         "cannot be normalised. Place it deeper or choose another vertex.")
        elif outside > max_outside_fraction:
            errors[k] = (f"{label}: {100 * outside:.0f} % of its {n}^3 grid lies outside the tissue (at most "
                         f"{100 * max_outside_fraction:.0f} % allowed).")
        elif norm[k] == 0:
            errors[k] = f"{label}: the field is zero at its soma; the local field cannot be normalised."
    bad = np.array([e is not None for e in errors])
    scale = np.where(bad, 1.0, np.where(norm > 0, norm, 1.0))
    channels = (e_cell / scale[:, None, None]).transpose(0, 2, 1).reshape(m, 3, n, n, n)
    channels[bad] = 0.0
    mask = valid.reshape(m, n, n, n) & ~bad[:, None, None, None]
    e_soma[bad] = np.nan
    return channels.astype(np.float32), mask, e_soma, errors
