"""Activation thresholds (threshold.py) on the straight myelinated axon and the ball-and-stick cell.

Oracles: linearity of the coupling (the threshold |E| does not depend on the field scale), the
symmetry of the straight axon (reversing the field swaps its ends), determinism of NEURON's fixed
step, and the cable-theory fact that a uniform field depolarises the terminal the field points to.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_rat_tms.core.neurons.simple_cells import ball_and_stick_cell, straight_myelinated_axon
from napari_rat_tms.core.neurons.threshold import (FieldOutsideDomainError, Stimulation, ThresholdNotFound,
                                                   activation_threshold)
from napari_rat_tms.core.neurons.waveforms import biphasic_pulse, monophasic_pulse

REL_TOL = 0.01


@pytest.fixture(scope="module")
def axon():
    return straight_myelinated_axon(2000.0, 2.0)


@pytest.fixture(scope="module")
def pulse():
    return monophasic_pulse()


def test_threshold_scales_as_one_over_field_strength(axon, pulse):
    # different starting points, so that the two searches take different paths
    e0 = activation_threshold(axon, [0.0, 0.0, 100.0], pulse, initial_v_per_m=150.0, rel_tol=REL_TOL)
    e2 = activation_threshold(axon, [0.0, 0.0, 200.0], pulse, initial_v_per_m=320.0, rel_tol=REL_TOL)
    assert e2.threshold_amplitude == pytest.approx(e0.threshold_amplitude / 2, rel=REL_TOL)
    assert e2.threshold_v_per_m == pytest.approx(e0.threshold_v_per_m, rel=REL_TOL)
    assert e0.threshold_v_per_m == pytest.approx(100.0 * e0.threshold_amplitude)
    low, high = e0.bracket_amplitude
    assert high == e0.threshold_amplitude and (high - low) <= REL_TOL * low
    assert 20.0 < e0.threshold_v_per_m < 2000.0  # a physiological range for a 2 um axon terminal


def test_reversing_the_field_fires_the_other_end(axon, pulse):
    up = activation_threshold(axon, [0.0, 0.0, 150.0], pulse)
    down = activation_threshold(axon, [0.0, 0.0, -150.0], pulse)
    z_end = axon.segment_positions_um()[:, 2].max()
    # the field points to the terminal it depolarises
    assert up.first_site_position_um[2] == pytest.approx(z_end)
    assert down.first_site_position_um[2] == pytest.approx(-z_end)
    assert "node[10]" in up.first_site_section and "node[0]" in down.first_site_section
    # the axon is symmetric: same threshold either way (the same search, mirrored)
    assert up.threshold_v_per_m == pytest.approx(down.threshold_v_per_m, rel=1e-9)
    assert 0 < up.first_site_time_s < 1e-3


def test_thresholds_are_reproducible(axon, pulse):
    first = activation_threshold(axon, [30.0, 0.0, 120.0], pulse)
    second = activation_threshold(axon, [30.0, 0.0, 120.0], pulse)
    assert first.threshold_amplitude == second.threshold_amplitude
    assert first.first_site_index == second.first_site_index
    assert first.n_simulations == second.n_simulations


def test_non_uniform_field_and_peak_field(axon, pulse):
    n = axon.n_segments
    efield = np.zeros((n, 3))
    efield[:, 2] = np.linspace(50.0, 150.0, n)  # grows towards +z
    result = activation_threshold(axon, efield, pulse)
    assert result.threshold_v_per_m is None
    assert result.threshold_peak_v_per_m == pytest.approx(150.0 * result.threshold_amplitude)
    assert result.first_site_position_um[2] > 0


def test_not_bracketed_raises_with_the_range(axon, pulse):
    with pytest.raises(ThresholdNotFound, match=r"1-20 V/m"):
        activation_threshold(axon, [0.0, 0.0, 1.0], pulse, search_range_v_per_m=(1.0, 20.0))
    with pytest.raises(ThresholdNotFound, match=r"low end of the searched range \(1000 V/m"):
        activation_threshold(axon, [0.0, 0.0, 1.0], pulse, search_range_v_per_m=(1000.0, 5000.0))
    # a transverse uniform field does not polarise a straight axon: never activates
    with pytest.raises(ThresholdNotFound, match="no activation"):
        activation_threshold(axon, [1.0, 0.0, 0.0], pulse, search_range_v_per_m=(10.0, 1e4))


def test_nan_field_is_a_clear_error(axon, pulse):
    efield = np.tile([0.0, 0.0, 100.0], (axon.n_segments, 1))
    efield[5] = np.nan
    with pytest.raises(FieldOutsideDomainError, match="partly outside the field's domain"):
        activation_threshold(axon, efield, pulse)
    with pytest.raises(ValueError, match=r"must be \(3,\) or \(101, 3\)"):
        activation_threshold(axon, np.zeros((3, 3)), pulse)


def test_ball_and_stick_activates_at_the_axon_terminal_for_both_pulses():
    cell = ball_and_stick_cell()
    mono = activation_threshold(cell, [0.0, 0.0, -1.0], monophasic_pulse())
    bi = activation_threshold(cell, [0.0, 0.0, -1.0], biphasic_pulse())
    terminal = cell.segment_positions_um()[:, 2].argmin()
    for result in (mono, bi):
        assert result.first_site_index == terminal
        assert 20.0 < result.threshold_v_per_m < 2000.0
    # towards the dendrite the axon terminal is hyperpolarised by the main phase: higher threshold
    up = activation_threshold(cell, [0.0, 0.0, 1.0], monophasic_pulse())
    assert up.threshold_v_per_m > 1.5 * mono.threshold_v_per_m


def test_stimulation_stops_playing_after_close(axon, pulse):
    from neuron import h

    with Stimulation(axon, [0.0, 0.0, 1.0], pulse) as stim:
        assert stim.run(1e4).activated
    h.finitialize(-70.0)
    h.continuerun(1.0)
    assert all(seg.e_extracellular == 0.0 for seg in axon.segments)
    with pytest.raises(RuntimeError, match="closed"):
        stim.run(1.0)


def test_the_extracellular_potential_is_amplitude_psi_shape():
    # e_extracellular(t) = amplitude * psi * shape(t - onset), psi = -E . r (mV), sampled by NEURON
    from neuron import h

    from napari_rat_tms.core.neurons.threshold import PULSE_ONSET_S

    cell = ball_and_stick_cell()
    pulse = biphasic_pulse()
    with Stimulation(cell, [0.0, 0.0, -1.0], pulse) as stim:
        index = cell.segment_positions_um()[:, 2].argmin()
        z_m = cell.segment_positions_um()[index, 2] * 1e-6
        assert stim.psi_mv[index] == pytest.approx(1e3 * z_m * 1.0)  # -E.r with E = -z
        t_ms = h.Vector().record(h._ref_t)
        e_mv = h.Vector().record(cell.segments[index]._ref_e_extracellular)
        stim.run(10.0)
        t = np.array(t_ms) * 1e-3
        expected = 10.0 * stim.psi_mv[index] * np.interp(t - PULSE_ONSET_S, pulse.times_s, pulse.shape,
                                                           left=0.0, right=0.0)
        # away from the two jumps (onset, end) NEURON's samples follow the waveform within half a step
        away = (np.abs(t - PULSE_ONSET_S) > 6e-6) & (np.abs(t - PULSE_ONSET_S - pulse.duration_s) > 6e-6)
        error = np.abs(np.array(e_mv) - expected)[away]
        assert error.max() < 0.03 * np.abs(expected).max()
        assert np.abs(expected).max() == pytest.approx(10.0 * abs(stim.psi_mv[index]))
