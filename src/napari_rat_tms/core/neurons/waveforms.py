"""TMS pulse waveforms from the stimulator's discharge circuit.

A TMS stimulator discharges a capacitor ``C`` (charged to ``V0``) through the coil: a series
circuit of the coil and cable inductance ``L`` and the circuit's resistance ``R``. In the
quasi-static regime the induced E-field is proportional to the coil current's rate of change,
``E(r, t) = E_hat(r) dI/dt(t)`` (physics notes; seed 000 scales the field by "the normalised pulse
waveform"), so a pulse is fully described here by the normalised ``dI/dt`` waveform.

Series RLC discharge (switch closed at t = 0, ``I(0) = 0``, ``L dI/dt(0) = V0``), underdamped
(``R < 2 sqrt(L/C)``), with ``alpha = R / 2L``, ``omega_0 = 1/sqrt(LC)``,
``omega_d = sqrt(omega_0^2 - alpha^2)``::

    I(t)     = V0 / (omega_d L) exp(-alpha t) sin(omega_d t)
    dI/dt(t) = V0 / (omega_d L) exp(-alpha t) (omega_d cos(omega_d t) - alpha sin(omega_d t))

* **Biphasic** (thyristor that conducts in both directions, switched off at the first current
  zero after one full cycle): one full cycle ``0 <= t <= 2 pi / omega_d``. The current starts and
  ends at zero, so the time integral of E over the pulse is zero. The E-field (``dI/dt``) is one
  damped cosine cycle: positive, negative, positive.
* **Monophasic** (a diode and damping resistor ``R_d`` across the capacitor): the RLC discharge
  until the current's first peak, ``t_peak = atan(omega_d / alpha) / omega_d`` (= the quarter
  period ``pi/2 sqrt(LC)`` when ``R -> 0``), then the diode conducts and the current decays through
  ``L``, ``R`` and ``R_d``: ``I = I_peak exp(-(t - t_peak)/tau)``, ``tau = L / (R + R_d)``. The E-field
  is a strong positive phase of duration ``t_peak`` (the rise time) followed by a weak negative
  exponential tail of relative amplitude ``~ sqrt(LC) / tau``.

Topology after Peterchev, Jalinous & Lisanby (2008) IEEE Trans Biomed Eng 55:257-266 (conventional
monophasic and biphasic stimulator circuits, their Fig. 1) and Goetz et al. (2013) PLoS ONE
8:e55771 (pulse dynamics of RLC magnetic stimulators).

**Default component values.** No manufacturer publishes its circuit values. The defaults are
representative values of the order analysed in those papers (C ~ 100-200 uF, L ~ 15-20 uH for coil
plus cable, R tens of milliohms), chosen so that the timing matches the MagVenture MagPro X100
waveforms used by Aberra et al. (2018, 2020) for their cortical neuron thresholds: a biphasic cycle
of about 290 us and a monophasic E-field main phase (current rise time) of about 75 us. They are
not a calibrated model of a particular device; pass other values to model another stimulator:

======================  ==========  ==========  ========  ===========  ============================
pulse                   C (uF)      L (uH)      R (mOhm)  R_d (mOhm)   timing
======================  ==========  ==========  ========  ===========  ============================
monophasic (default)    160         16          50        44           rise 75.7 us, tau 170 us
biphasic (default)      133         16          60        -            cycle 290.9 us
======================  ==========  ==========  ========  ===========  ============================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "TmsPulse",
    "monophasic_pulse",
    "biphasic_pulse",
    "rlc_current_peak_time_s",
    "MONOPHASIC_DEFAULTS",
    "BIPHASIC_DEFAULTS",
]

#: Default circuit of :func:`monophasic_pulse` (SI: F, H, ohm).
MONOPHASIC_DEFAULTS = {"capacitance_f": 160e-6, "inductance_h": 16e-6, "resistance_ohm": 0.050,
                       "damping_resistance_ohm": 0.044}
#: Default circuit of :func:`biphasic_pulse` (SI: F, H, ohm).
BIPHASIC_DEFAULTS = {"capacitance_f": 133e-6, "inductance_h": 16e-6, "resistance_ohm": 0.060}


@dataclass(frozen=True)
class TmsPulse:
    """A TMS pulse: the normalised E-field waveform ``E(t) / max |E|`` (``E`` proportional to dI/dt).

    ``times_s`` (s, from 0, increasing) and ``shape`` (dimensionless, peak ``|shape|`` = 1, positive
    = the field points along the spatial field it scales) have the same length. ``parameters``:
    the circuit values and derived timing (SI), kept with results and saved maps.
    """

    times_s: np.ndarray
    shape: np.ndarray
    name: str
    parameters: dict = field(default_factory=dict)

    def __post_init__(self):
        times = np.asarray(self.times_s, dtype=float)
        shape = np.asarray(self.shape, dtype=float)
        if times.ndim != 1 or times.shape != shape.shape or times.size < 2:
            raise ValueError("times_s and shape must be 1D arrays of the same length (>= 2)")
        if not np.all(np.isfinite(times)) or not np.all(np.isfinite(shape)):
            raise ValueError("times_s and shape must be finite")
        if np.any(np.diff(times) <= 0):
            raise ValueError("times_s must be strictly increasing")
        times.setflags(write=False)
        shape.setflags(write=False)
        object.__setattr__(self, "times_s", times)
        object.__setattr__(self, "shape", shape)

    @property
    def duration_s(self) -> float:
        """Time of the last sample (s); the field is zero afterwards."""
        return float(self.times_s[-1])

    def metadata(self) -> dict:
        """JSON-serialisable description (name, duration, parameters) for saved results."""
        return {"name": self.name, "duration_s": self.duration_s,
                "n_samples": int(self.times_s.size), "parameters": dict(self.parameters)}


def _check_circuit(capacitance_f, inductance_h, resistance_ohm):
    for name, value in (("capacitance_f", capacitance_f), ("inductance_h", inductance_h)):
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be positive, got {value!r}")
    if not (resistance_ohm >= 0 and math.isfinite(resistance_ohm)):
        raise ValueError(f"resistance_ohm must be >= 0, got {resistance_ohm!r}")
    critical = 2.0 * math.sqrt(inductance_h / capacitance_f)
    if resistance_ohm >= critical:
        raise ValueError(f"resistance_ohm={resistance_ohm!r} makes the circuit (over)critically damped "
                         f"(R >= 2 sqrt(L/C) = {critical:.4g} ohm): a TMS discharge oscillates")
    alpha = resistance_ohm / (2.0 * inductance_h)
    omega_d = math.sqrt(1.0 / (inductance_h * capacitance_f) - alpha**2)
    return alpha, omega_d


def _rlc_didt(t, alpha, omega_d):
    """dI/dt of the series RLC discharge, in units of V0 / L (so that dI/dt(0) = 1)."""
    return np.exp(-alpha * t) * (np.cos(omega_d * t) - alpha / omega_d * np.sin(omega_d * t))


def rlc_current_peak_time_s(capacitance_f, inductance_h, resistance_ohm) -> float:
    """Time (s) of the first current peak of the series RLC discharge, ``atan(omega_d/alpha)/omega_d``
    (``pi/2 sqrt(LC)`` without resistance): the monophasic pulse's rise time."""
    alpha, omega_d = _check_circuit(capacitance_f, inductance_h, resistance_ohm)
    return math.atan2(omega_d, alpha) / omega_d


def _sample_times(duration_s, dt_s):
    if not (dt_s > 0 and duration_s > dt_s):
        raise ValueError(f"need 0 < dt_s < duration_s, got dt_s={dt_s!r}, duration_s={duration_s!r}")
    n = int(math.floor(duration_s / dt_s + 1e-9))
    times = np.arange(n + 1) * dt_s
    if times[-1] < duration_s - 1e-12:
        times = np.append(times, duration_s)
    return times


def monophasic_pulse(dt_s: float = 1e-6, duration_s: float | None = None, *,
                     capacitance_f: float = MONOPHASIC_DEFAULTS["capacitance_f"],
                     inductance_h: float = MONOPHASIC_DEFAULTS["inductance_h"],
                     resistance_ohm: float = MONOPHASIC_DEFAULTS["resistance_ohm"],
                     damping_resistance_ohm: float = MONOPHASIC_DEFAULTS["damping_resistance_ohm"]
                     ) -> TmsPulse:
    """Monophasic pulse: RLC discharge up to the current peak, then exponential decay (module docstring).

    ``dt_s``: sampling step (s). ``duration_s``: end of the waveform (s); default ``t_peak + 5 tau``
    (the tail is then below 1 % of itself). The E-field jumps at ``t_peak`` from 0 to the tail's
    ``-I_peak / tau`` (the diode takes over); a sample is placed on each side of the jump.
    Peak ``|shape|`` = 1 (the first sample, ``dI/dt(0) = V0/L``).
    """
    alpha, omega_d = _check_circuit(capacitance_f, inductance_h, resistance_ohm)
    if not (damping_resistance_ohm >= 0 and math.isfinite(damping_resistance_ohm)):
        raise ValueError(f"damping_resistance_ohm must be >= 0, got {damping_resistance_ohm!r}")
    if resistance_ohm + damping_resistance_ohm <= 0:
        raise ValueError("resistance_ohm + damping_resistance_ohm must be > 0 for the current to decay")
    t_peak = math.atan2(omega_d, alpha) / omega_d
    tau = inductance_h / (resistance_ohm + damping_resistance_ohm)
    if duration_s is None:
        duration_s = t_peak + 5.0 * tau
    if duration_s <= t_peak:
        raise ValueError(f"duration_s={duration_s!r} must exceed the rise time {t_peak:.4g} s")
    times = _sample_times(duration_s, dt_s)
    # current in units of V0 / L (so that dI/dt has the same unit as _rlc_didt)
    i_peak = math.exp(-alpha * t_peak) * math.sin(omega_d * t_peak) / omega_d
    rising = times < t_peak
    didt = np.empty_like(times)
    didt[rising] = _rlc_didt(times[rising], alpha, omega_d)
    didt[~rising] = -i_peak / tau * np.exp(-(times[~rising] - t_peak) / tau)
    # the jump at t_peak: 0 on the rising side, the tail's start on the decaying side
    if not np.any(np.isclose(times, t_peak, rtol=0, atol=1e-15)):
        k = int(np.searchsorted(times, t_peak))
        step = min(1e-3 * dt_s, 0.5 * (times[k] - t_peak)) if k < times.size else 1e-3 * dt_s
        times = np.insert(times, k, [t_peak, t_peak + step])
        didt = np.insert(didt, k, [0.0, -i_peak / tau])
    shape = didt / np.max(np.abs(didt))
    params = {"circuit": "series RLC, diode + damping resistor after the current peak",
              "capacitance_f": capacitance_f, "inductance_h": inductance_h,
              "resistance_ohm": resistance_ohm, "damping_resistance_ohm": damping_resistance_ohm,
              "rise_time_s": t_peak, "decay_time_constant_s": tau, "dt_s": dt_s, "duration_s": duration_s}
    return TmsPulse(times, shape, "monophasic", params)


def biphasic_pulse(dt_s: float = 1e-6, *,
                   capacitance_f: float = BIPHASIC_DEFAULTS["capacitance_f"],
                   inductance_h: float = BIPHASIC_DEFAULTS["inductance_h"],
                   resistance_ohm: float = BIPHASIC_DEFAULTS["resistance_ohm"]) -> TmsPulse:
    """Biphasic pulse: one full damped cycle of the series RLC discharge (module docstring).

    ``dt_s``: sampling step (s); the waveform ends at the cycle's end ``2 pi / omega_d``, where the
    current is back to zero (its integral, the time integral of E, vanishes). Peak ``|shape|`` = 1.
    """
    alpha, omega_d = _check_circuit(capacitance_f, inductance_h, resistance_ohm)
    period = 2.0 * math.pi / omega_d
    times = _sample_times(period, dt_s)
    didt = _rlc_didt(times, alpha, omega_d)
    shape = didt / np.max(np.abs(didt))
    params = {"circuit": "series RLC, one full cycle", "capacitance_f": capacitance_f,
              "inductance_h": inductance_h, "resistance_ohm": resistance_ohm, "period_s": period,
              "dt_s": dt_s, "duration_s": period}
    return TmsPulse(times, shape, "biphasic", params)
