"""Activation thresholds of a neuron model in a TMS E-field (NEURON).

Coupling (seed 000; Aberra et al. 2018 J Neural Eng 15:066023; physics notes section 8): the
E-field at the segments (cell frame, V/m, for amplitude 1) gives the quasipotentials ``psi``
(:mod:`.quasipotentials`); during the pulse each segment's extracellular potential is::

    e_extracellular_i(t) = amplitude * psi_i * shape(t - t_onset)        (mV; psi in V x 1e3)

played into NEURON's ``extracellular`` mechanism from one ``Vector`` per segment
(``Vector.play(..., continuous=True)``, linear interpolation between the pulse samples; zero
before the onset and after the pulse's end). Backward Euler, fixed step ``dt_s`` (5 us, as Aberra
et al. 2018), ``celsius = temperature_c``; the cell starts at rest (see ``cells.py``).

**Activation criterion**: an action potential is counted when the membrane potential crosses
``v_threshold_mv`` (0 mV) upwards in at least ``min_active_compartments`` (3) of the cell's
detection segments (axon initial segment, unmyelinated axon, nodes of Ranvier and terminals)
within the simulated window (the pulse and ``post_pulse_s`` after it, 1 ms). Requiring several
compartments rejects a single compartment pushed over 0 mV by the field itself without a
regenerative, propagating response. The **site of activation** is the detection segment that
crossed first at the lowest activating amplitude found (the threshold).

The first site says where the action potential starts, which is meaningful for cells whose axon
is long compared with its electrotonic length. For an electrotonically compact axon it can
mislead: a 600-1,500 um straight myelinated axon (2 um; ``straight_myelinated_axon``) in a +z
field at threshold depolarises almost uniformly for ~1 ms after the pulse (the Na+ charge that
entered at the depolarised +z end spreads along the whole axon), then every node crosses 0 mV
within tens of microseconds, and node[0] at -z happens to be first (0.8-1.1 ms after the onset).
The pulse's first phase alone gives the +z end for 1,000 and 1,500 um; from 2,000 um on, the +z
end, which the field points to, fires first with the full pulse too (measured, the module's tests
use 2,000 um). Read the first site of short axons with the crossing time.

**Search**: from ``initial_v_per_m`` (peak |E| over the segments), the amplitude is multiplied
(or divided) by ``bracket_factor`` until the response changes, which brackets the threshold
between a non-activating ``low`` and an activating ``high``; bisection then halves ``[low, high]``
until ``high - low <= rel_tol * low``. The reported threshold is ``high`` (so the true threshold
lies within ``[high / (1 + rel_tol), high]``). When no change is found within
``search_range_v_per_m`` (peak |E|, V/m) :class:`ThresholdNotFound` says so with the range.

The simulation uses NEURON's global state: every cell alive in the process is simulated (keep
only the cells you need), one threshold search runs at a time per process, and NEURON's
``cvode.cache_efficient(1)`` is switched on (and left on: it only changes memory layout).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import RatTmsError
from .cells import NeuronCell
from .quasipotentials import quasipotentials
from .waveforms import TmsPulse

__all__ = [
    "ThresholdNotFound",
    "FieldOutsideDomainError",
    "SimulationSettings",
    "ActivationOutcome",
    "ThresholdResult",
    "Stimulation",
    "activation_threshold",
    "segment_field",
]

PULSE_ONSET_S = 20e-6


class ThresholdNotFound(RatTmsError):
    """No activation threshold within the searched range (the cell never or always activates)."""


class FieldOutsideDomainError(RatTmsError, ValueError):
    """The E-field is missing (NaN/inf) at some segments: the neuron is partly outside the field's domain."""


@dataclass(frozen=True)
class SimulationSettings:
    """Numerical settings of one simulation (see the module docstring)."""

    temperature_c: float = 37.0
    dt_s: float = 5e-6
    post_pulse_s: float = 1e-3
    v_threshold_mv: float = 0.0
    min_active_compartments: int = 3
    check_interval_s: float = 0.1e-3

    def __post_init__(self):
        if not (self.dt_s > 0 and self.post_pulse_s >= 0 and self.check_interval_s > 0):
            raise ValueError("dt_s and check_interval_s must be > 0, post_pulse_s >= 0")
        if self.min_active_compartments < 1:
            raise ValueError("min_active_compartments must be >= 1")


@dataclass(frozen=True)
class ActivationOutcome:
    """Result of one simulation at one amplitude."""

    amplitude: float
    activated: bool
    n_crossed: int
    first_index: int | None
    first_time_s: float | None


@dataclass(frozen=True)
class ThresholdResult:
    """An activation threshold (module docstring for the criterion and the search).

    ``threshold_amplitude``: multiplier of the given field (and pulse) at threshold.
    ``threshold_v_per_m``: for a uniform field, ``threshold_amplitude * |E|`` (V/m), else None.
    ``threshold_peak_v_per_m``: the largest segment |E| at threshold (V/m).
    ``first_site_index``: the segment where the membrane crossed 0 mV first at threshold;
    ``first_site_position_um`` its cell-frame position, ``first_site_section`` its section,
    ``first_site_time_s`` the crossing time after the pulse onset.
    ``bracket_amplitude``: the final ``(low, high)``; ``n_simulations``, ``seconds``: cost.
    """

    threshold_amplitude: float
    threshold_v_per_m: float | None
    threshold_peak_v_per_m: float
    first_site_index: int
    first_site_position_um: tuple
    first_site_section: str
    first_site_time_s: float
    bracket_amplitude: tuple
    n_simulations: int
    seconds: float
    pulse_name: str
    settings: SimulationSettings = field(default_factory=SimulationSettings)

    def as_dict(self) -> dict:
        out = dict(self.__dict__)
        out["settings"] = dict(self.settings.__dict__)
        return out


def segment_field(cell: NeuronCell, efield_v_per_m) -> tuple[np.ndarray, bool]:
    """The field at every segment, (N, 3) V/m, and whether it was given as one uniform vector.

    ``efield_v_per_m``: (3,) uniform field or (N, 3) per segment, cell frame. Raises
    :class:`FieldOutsideDomainError` when some segments have no finite field.
    """
    efield = np.asarray(efield_v_per_m, dtype=float)
    n = cell.n_segments
    uniform = efield.shape == (3,)
    if uniform:
        efield = np.broadcast_to(efield, (n, 3))
    if efield.shape != (n, 3):
        raise ValueError(f"efield_v_per_m must be (3,) or ({n}, 3) for {cell.name}, got {efield.shape}")
    bad = ~np.all(np.isfinite(efield), axis=1)
    if np.any(bad):
        first = int(np.flatnonzero(bad)[0])
        raise FieldOutsideDomainError(
            f"{cell.name}: the E-field is not finite at {int(bad.sum())} of {n} segments (first: "
            f"{cell.segment_label(first)}); the neuron is partly outside the field's domain. Move it "
            "inside the brain or sample the field on a larger domain.")
    if not np.any(efield):
        raise ValueError(f"{cell.name}: the E-field is zero at every segment")
    return np.array(efield), uniform


class Stimulation:
    """One cell, one field distribution and one pulse, ready to simulate at any amplitude.

    Prepares the quasipotentials (for amplitude 1), one play ``Vector`` per segment and the 0 mV
    crossing detectors. Use as a context manager (or call :meth:`close`) so that NEURON stops
    playing into the cell afterwards.
    """

    def __init__(self, cell: NeuronCell, efield_v_per_m, pulse: TmsPulse,
                 settings: SimulationSettings = SimulationSettings()):
        from neuron import h

        self.h = h
        self.cell = cell
        self.pulse = pulse
        self.settings = settings
        self.efield, self.uniform = segment_field(cell, efield_v_per_m)
        positions_m = cell.segment_positions_um() * 1e-6
        self.psi_mv = quasipotentials(positions_m, cell.segment_parents(), self.efield) * 1e3
        # play times (ms): 0 before the onset, the pulse, 0 after its end
        onset_ms = PULSE_ONSET_S * 1e3
        pulse_ms = onset_ms + pulse.times_s * 1e3
        end_ms = pulse_ms[-1]
        self._play_t = np.concatenate([[0.0, onset_ms], pulse_ms, [end_ms, end_ms + settings.dt_s * 1e3]])
        # repeated times make exact jumps (onset: 0 -> shape[0]; end: shape[-1] -> 0)
        self._shape = np.concatenate([[0.0, 0.0], pulse.shape, [0.0, 0.0]])
        self.t_stop_ms = end_ms + settings.post_pulse_s * 1e3
        h.cvode.cache_efficient(1)  # ~20 % faster fixed-step runs; NEURON updates the pointers below
        self._tvec = h.Vector(self._play_t)
        self._vecs = []
        self._closed = False
        try:
            for seg in cell.segments:
                vec = h.Vector(self._shape.size)
                vec.play(seg._ref_e_extracellular, self._tvec, True)
                self._vecs.append(vec)
        except BaseException:
            self.close()
            raise
        self._spike_t = h.Vector()
        self._spike_id = h.Vector()
        self._netcons = []
        for k, index in enumerate(cell.detection_indices):
            seg = cell.segments[int(index)]
            nc = h.NetCon(seg._ref_v, None, sec=seg.sec)
            nc.threshold = settings.v_threshold_mv
            nc.record(self._spike_t, self._spike_id, k)
            self._netcons.append(nc)
        self._detection = cell.detection_indices
        self.n_simulations = 0

    def close(self):
        """Stop playing into the cell and drop the detectors."""
        if self._closed:
            return
        for vec in self._vecs:
            vec.play_remove()
        for seg in self.cell.segments:  # a run stopped early leaves the last played value behind
            seg.e_extracellular = 0.0
        self._vecs = []
        self._netcons = []
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run(self, amplitude: float) -> ActivationOutcome:
        """Simulate at ``amplitude`` (multiplier of the field); stops early once activation is certain."""
        if self._closed:
            raise RuntimeError("this Stimulation is closed")
        h = self.h
        s = self.settings
        for vec, psi in zip(self._vecs, self.psi_mv):
            vec.from_python(self._shape * (amplitude * psi))
        h.cvode.active(0)
        h.secondorder = 0
        h.dt = s.dt_s * 1e3
        h.steps_per_ms = 1.0 / h.dt
        h.celsius = s.temperature_c
        self._spike_t.resize(0)
        self._spike_id.resize(0)
        h.finitialize(self.cell.biophysics.v_rest_mv)
        check_ms = s.check_interval_s * 1e3
        n_checks = max(1, int(np.ceil((self.t_stop_ms - PULSE_ONSET_S * 1e3) / check_ms)))
        checkpoints = np.minimum(PULSE_ONSET_S * 1e3 + check_ms * np.arange(1, n_checks + 1), self.t_stop_ms)
        for t_check in checkpoints:
            h.continuerun(float(t_check))
            if np.unique(np.asarray(self._spike_id, dtype=int)).size >= s.min_active_compartments:
                break
        self.n_simulations += 1
        ids = np.asarray(self._spike_id, dtype=int)
        times = np.asarray(self._spike_t)
        n_crossed = int(np.unique(ids).size)
        if ids.size:
            k = int(np.argmin(times))
            first_index = int(self._detection[ids[k]])
            first_time = float(times[k]) * 1e-3 - PULSE_ONSET_S
        else:
            first_index, first_time = None, None
        return ActivationOutcome(float(amplitude), n_crossed >= s.min_active_compartments, n_crossed,
                                 first_index, first_time)


def activation_threshold(cell: NeuronCell, efield_v_per_m, pulse: TmsPulse, *,
                         temperature_c: float = 37.0, dt_s: float = 5e-6, post_pulse_s: float = 1e-3,
                         search_range_v_per_m: tuple[float, float] = (1.0, 1.0e5),
                         initial_v_per_m: float = 200.0, bracket_factor: float = 2.0,
                         rel_tol: float = 0.01, min_active_compartments: int = 3,
                         v_threshold_mv: float = 0.0) -> ThresholdResult:
    """Activation threshold of ``cell`` in the field ``efield_v_per_m`` driven by ``pulse``.

    ``efield_v_per_m``: (3,) uniform field or (N, 3) field at each segment, in the cell frame (V/m;
    for amplitude 1 at the pulse's peak). ``search_range_v_per_m``: range of the peak segment |E|
    searched (V/m; for a uniform field, |E|); ``initial_v_per_m`` the first one tried. Other
    arguments: module docstring. Returns a :class:`ThresholdResult`; raises
    :class:`ThresholdNotFound` (range in the message) or :class:`FieldOutsideDomainError`.
    """
    if not (0 < rel_tol < 1):
        raise ValueError(f"rel_tol must be in (0, 1), got {rel_tol!r}")
    if not bracket_factor > 1:
        raise ValueError(f"bracket_factor must be > 1, got {bracket_factor!r}")
    low_v, high_v = (float(v) for v in search_range_v_per_m)
    if not (0 < low_v < high_v):
        raise ValueError("search_range_v_per_m must be (low, high) with 0 < low < high, "
                         f"got {search_range_v_per_m}")
    settings = SimulationSettings(temperature_c=temperature_c, dt_s=dt_s, post_pulse_s=post_pulse_s,
                                  v_threshold_mv=v_threshold_mv,
                                  min_active_compartments=min_active_compartments)
    start = time.perf_counter()
    with Stimulation(cell, efield_v_per_m, pulse, settings) as stim:
        peak = float(np.max(np.linalg.norm(stim.efield, axis=1)))
        amp_min, amp_max = low_v / peak, high_v / peak
        amplitude = min(max(initial_v_per_m / peak, amp_min), amp_max)
        outcome = stim.run(amplitude)
        low = high = None
        best = None
        if outcome.activated:
            high, best = amplitude, outcome
            while True:
                if amplitude <= amp_min * (1 + 1e-12):
                    raise ThresholdNotFound(
                        f"{cell.name}: activates already at the low end of the searched range "
                        f"({low_v:g} V/m peak |E|; range {low_v:g}-{high_v:g} V/m, amplitude "
                        f"{amp_min:.4g}-{amp_max:.4g} x the field). Lower search_range_v_per_m.")
                amplitude = max(amplitude / bracket_factor, amp_min)
                outcome = stim.run(amplitude)
                if outcome.activated:
                    high, best = amplitude, outcome
                else:
                    low = amplitude
                    break
        else:
            low = amplitude
            while True:
                if amplitude >= amp_max * (1 - 1e-12):
                    raise ThresholdNotFound(
                        f"{cell.name}: no activation within the searched range (peak |E| "
                        f"{low_v:g}-{high_v:g} V/m, amplitude {amp_min:.4g}-{amp_max:.4g} x the field, "
                        f"{stim.n_simulations} simulations; at {high_v:g} V/m {outcome.n_crossed} "
                        f"detection compartments crossed {v_threshold_mv:g} mV, "
                        f"{min_active_compartments} needed).")
                amplitude = min(amplitude * bracket_factor, amp_max)
                outcome = stim.run(amplitude)
                if outcome.activated:
                    high, best = amplitude, outcome
                    break
                low = amplitude
        while high - low > rel_tol * low:
            amplitude = 0.5 * (low + high)
            outcome = stim.run(amplitude)
            if outcome.activated:
                high, best = amplitude, outcome
            else:
                low = amplitude
        n_simulations = stim.n_simulations
        uniform = stim.uniform
        field_norm = float(np.linalg.norm(stim.efield[0]))
    positions = cell.segment_positions_um()
    index = int(best.first_index)
    return ThresholdResult(
        threshold_amplitude=float(high),
        threshold_v_per_m=float(high * field_norm) if uniform else None,
        threshold_peak_v_per_m=float(high * peak),
        first_site_index=index,
        first_site_position_um=tuple(float(v) for v in positions[index]),
        first_site_section=cell.segment_label(index),
        first_site_time_s=float(best.first_time_s),
        bracket_amplitude=(float(low), float(high)),
        n_simulations=int(n_simulations),
        seconds=time.perf_counter() - start,
        pulse_name=pulse.name,
        settings=settings,
    )
