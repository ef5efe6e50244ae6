"""TMS pulses from the RLC discharge: analytic properties (waveforms.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_rat_tms.core.neurons.waveforms import (TmsPulse, biphasic_pulse, monophasic_pulse,
                                                   rlc_current_peak_time_s)


def _integral(pulse):
    return np.trapezoid(pulse.shape, pulse.times_s)


def test_peaks_are_normalised_to_one():
    pulses = (monophasic_pulse(), biphasic_pulse(), monophasic_pulse(dt_s=5e-7), biphasic_pulse(dt_s=2e-6))
    for pulse in pulses:
        assert np.max(np.abs(pulse.shape)) == pytest.approx(1.0, abs=1e-12)
        assert pulse.shape[0] == pytest.approx(1.0)  # dI/dt(0) = V0 / L is the peak
        assert pulse.times_s[0] == 0.0 and np.all(np.diff(pulse.times_s) > 0)


def test_biphasic_current_returns_to_zero():
    # oracle: I(T) - I(0) = integral of dI/dt over one full cycle = 0 (sin(2 pi) = 0)
    pulse = biphasic_pulse(dt_s=0.2e-6)
    assert abs(_integral(pulse)) < 1e-4 * np.trapezoid(np.abs(pulse.shape), pulse.times_s)
    period = pulse.parameters["period_s"]
    c, l_, r = (pulse.parameters[k] for k in ("capacitance_f", "inductance_h", "resistance_ohm"))
    assert period == pytest.approx(2 * math.pi / math.sqrt(1 / (l_ * c) - (r / (2 * l_)) ** 2))
    assert pulse.duration_s == pytest.approx(period)
    # three phases: +, -, + (one damped cosine cycle)
    signs = np.sign(pulse.shape[np.abs(pulse.shape) > 0.05])
    assert list(signs[np.r_[True, np.diff(signs) != 0]]) == [1, -1, 1]


def test_default_biphasic_cycle_is_about_290_us():
    assert biphasic_pulse().parameters["period_s"] == pytest.approx(290e-6, rel=0.01)


def test_monophasic_rise_time_is_the_quarter_period_without_resistance():
    c, l_ = 160e-6, 16e-6
    quarter = math.pi / 2 * math.sqrt(l_ * c)
    lossless = monophasic_pulse(dt_s=0.1e-6, capacitance_f=c, inductance_h=l_, resistance_ohm=0.0,
                                damping_resistance_ohm=0.05)
    assert lossless.parameters["rise_time_s"] == pytest.approx(quarter, rel=1e-12)
    # the E-field's positive phase (current rising) ends at the rise time
    positive_end = lossless.times_s[np.flatnonzero(lossless.shape > 0)[-1]]
    assert positive_end == pytest.approx(quarter, abs=0.2e-6)
    # with the default resistance the rise time is the damped formula, within 10 % of the quarter period
    default = monophasic_pulse()
    assert default.parameters["rise_time_s"] == pytest.approx(
        rlc_current_peak_time_s(160e-6, 16e-6, 0.05), rel=1e-12)
    assert default.parameters["rise_time_s"] == pytest.approx(quarter, rel=0.10)


def test_monophasic_tail_is_the_exponential_decay_and_current_integral_matches():
    pulse = monophasic_pulse(dt_s=0.1e-6)
    p = pulse.parameters
    tail = pulse.times_s > p["rise_time_s"] + 1e-6
    tau = p["decay_time_constant_s"]
    t = pulse.times_s[tail]
    ratio = pulse.shape[tail][1:] / pulse.shape[tail][:-1]
    assert np.allclose(ratio, np.exp(-np.diff(t) / tau), rtol=1e-9)
    assert np.all(pulse.shape[tail] < 0)
    # integral of dI/dt over the pulse = I(end) = I_peak exp(-(T - t_peak)/tau) (in units of V0/L)
    alpha = p["resistance_ohm"] / (2 * p["inductance_h"])
    omega_d = math.sqrt(1 / (p["inductance_h"] * p["capacitance_f"]) - alpha**2)
    i_peak = math.exp(-alpha * p["rise_time_s"]) * math.sin(omega_d * p["rise_time_s"]) / omega_d
    expected = i_peak * math.exp(-(pulse.duration_s - p["rise_time_s"]) / tau)
    assert _integral(pulse) == pytest.approx(expected, rel=2e-3)


def test_bad_circuit_values_are_refused():
    with pytest.raises(ValueError, match="critically damped"):
        biphasic_pulse(resistance_ohm=10.0)
    with pytest.raises(ValueError, match="capacitance_f"):
        monophasic_pulse(capacitance_f=0.0)
    with pytest.raises(ValueError, match="increasing"):
        TmsPulse(np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.5, 0.0]), "bad")
    with pytest.raises(ValueError, match="duration_s"):
        monophasic_pulse(duration_s=10e-6)


def test_pulse_arrays_are_read_only_and_metadata_serialisable():
    import json

    pulse = monophasic_pulse()
    with pytest.raises(ValueError):
        pulse.shape[0] = 2.0
    assert json.loads(json.dumps(pulse.metadata()))["name"] == "monophasic"
