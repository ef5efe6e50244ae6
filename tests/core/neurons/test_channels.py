"""The full Hay et al. (2011) channel set: each NMODL mechanism against an independent numpy
implementation of its published equations, a single-compartment soma, the L5 cell, a threshold."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_rat_tms.core.neurons.cells import Biophysics, NeuronCell, new_section, SectionOwner
from napari_rat_tms.core.neurons.simple_cells import ball_and_stick_cell
from napari_rat_tms.core.neurons.reconstructed_cells import cell_from_morphology
from napari_rat_tms.core.neurons.mechanisms import load_mechanisms
from napari_rat_tms.core.neurons.population import CellSpec, ThresholdTask
from napari_rat_tms.core.neurons.threshold import activation_threshold
from napari_rat_tms.core.neurons.waveforms import monophasic_pulse

from ...conftest import shared_data_or_skip

HAY = Biophysics(channels="hay2011")
VOLTAGES = np.array([-100.0, -80.0, -66.0, -64.4, -60.0, -52.6, -38.0, -32.0, -27.0, -17.0, -5.0, 0.0,
                     12.5, 30.0])


# ---------------------------------------------------------------------- published equations (numpy)
def _q(celsius):
    return 2.3 ** ((celsius - 21.0) / 10.0)


def _ratio(num_coeff, x, denom_sign, k):
    """``num_coeff x / (1 - exp(denom_sign x / k))`` with its limit at x = 0 (the published form)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num_coeff * x / (1.0 - np.exp(denom_sign * x / k))
    return np.where(np.abs(x) < 1e-9, -num_coeff * k / denom_sign, out)


def _nats2(v, celsius):
    am = _ratio(0.182, v + 32, -1, 6)
    bm = _ratio(0.124, -v - 32, -1, 6)
    ah = _ratio(-0.015, v + 60, +1, 6)
    bh = _ratio(-0.015, -v - 60, +1, 6)
    q = _q(celsius)
    return {"minf": am / (am + bm), "mtau": 1 / (am + bm) / q,
            "hinf": ah / (ah + bh), "htau": 1 / (ah + bh) / q}


def _nap_et2(v, celsius):
    am = _ratio(0.182, v + 38, -1, 6)
    bm = _ratio(0.124, -v - 38, -1, 6)
    ah = _ratio(-2.88e-6, v + 17, +1, 4.63)
    bh = _ratio(6.94e-6, v + 64.4, -1, 2.63)
    q = _q(celsius)
    return {"minf": 1 / (1 + np.exp((v + 52.6) / -4.6)), "mtau": 6 / (am + bm) / q,
            "hinf": 1 / (1 + np.exp((v + 48.8) / 10)), "htau": 1 / (ah + bh) / q}


def _k_pst(v, celsius):
    u = v + 10
    q = _q(celsius)
    mtau = np.where(u < -50, 1.25 + 175.03 * np.exp(-u * -0.026), 1.25 + 13 * np.exp(-u * 0.026)) / q
    return {"minf": 1 / (1 + np.exp(-(u + 1) / 12)), "mtau": mtau,
            "hinf": 1 / (1 + np.exp(-(u + 54) / -11)),
            "htau": (360 + (1010 + 24 * (u + 55)) * np.exp(-(((u + 75) / 48) ** 2))) / q}


def _k_tst(v, celsius):
    u = v + 10
    q = _q(celsius)
    return {"minf": 1 / (1 + np.exp(-u / 19)), "mtau": (0.34 + 0.92 * np.exp(-(((u + 71) / 59) ** 2))) / q,
            "hinf": 1 / (1 + np.exp(-(u + 66) / -10)), "htau": (8 + 49 * np.exp(-(((u + 73) / 23) ** 2))) / q}


def _ca_hva(v, celsius):
    am = _ratio(0.055, -27 - v, +1, 3.8) * -1  # 0.055 (-27 - v) / (exp((-27 - v)/3.8) - 1)
    bm = 0.94 * np.exp((-75 - v) / 17)
    ah = 0.000457 * np.exp((-13 - v) / 50)
    bh = 0.0065 / (np.exp((-v - 15) / 28) + 1)
    return {"minf": am / (am + bm), "mtau": 1 / (am + bm), "hinf": ah / (ah + bh), "htau": 1 / (ah + bh)}


def _ca_lvast(v, celsius):
    u = v + 10
    q = _q(celsius)
    return {"minf": 1 / (1 + np.exp((u + 30) / -6)), "mtau": (5 + 20 / (1 + np.exp((u + 25) / 5))) / q,
            "hinf": 1 / (1 + np.exp((u + 80) / 6.4)), "htau": (20 + 50 / (1 + np.exp((u + 40) / 7))) / q}


def _ih(v, celsius):
    am = _ratio(0.001 * 6.43, v + 154.9, +1, 11.9) * -1  # 0.00643 (v + 154.9) / (exp(...) - 1)
    bm = 0.001 * 193 * np.exp(v / 33.1)
    return {"minf": am / (am + bm), "mtau": 1 / (am + bm)}


def _im(v, celsius):
    am = 3.3e-3 * np.exp(2.5 * 0.04 * (v + 35))
    bm = 3.3e-3 * np.exp(-2.5 * 0.04 * (v + 35))
    return {"minf": am / (am + bm), "mtau": 1 / (am + bm) / _q(celsius)}


GATED = {"rtms_NaTs2_t": _nats2, "rtms_Nap_Et2": _nap_et2, "rtms_K_Pst": _k_pst, "rtms_K_Tst": _k_tst,
         "rtms_Ca_HVA": _ca_hva, "rtms_Ca_LVAst": _ca_lvast, "rtms_Ih": _ih, "rtms_Im": _im}


def _single_section(*mechanisms):
    from neuron import h

    load_mechanisms()
    h.load_file("stdrun.hoc")
    sec = h.Section(name="channel_test")
    sec.L = sec.diam = 10.0
    for mech in mechanisms:
        sec.insert(mech)
    return h, sec


# ---------------------------------------------------------------------- kinetics vs equations
@pytest.mark.parametrize("celsius", [37.0, 21.0])
@pytest.mark.parametrize("mechanism", sorted(GATED))
def test_gating_equals_the_published_equations(mechanism, celsius):
    h, sec = _single_section(mechanism)
    h.celsius = celsius
    expected = GATED[mechanism](VOLTAGES, celsius)
    got = {name: [] for name in expected}
    for v in VOLTAGES:
        h.finitialize(float(v))
        mech = getattr(sec(0.5), mechanism)
        for name in expected:
            got[name].append(getattr(mech, name))
    for name, values in expected.items():
        np.testing.assert_allclose(got[name], values, rtol=1e-6, err_msg=f"{mechanism}.{name} at {celsius} C")


def test_k_pst_activation_time_constant_switches_branch_at_minus_60_mv():
    h, sec = _single_section("rtms_K_Pst")
    h.celsius = 34.0
    for v in (-60.5, -59.5):
        h.finitialize(v)
        assert sec(0.5).rtms_K_Pst.mtau == pytest.approx(_k_pst(np.array(v), 34.0)["mtau"], rel=1e-6)


def test_sk_e2_calcium_dependence():
    h, sec = _single_section("rtms_SK_E2")
    seg = sec(0.5)
    for cai in (5e-8, 1e-4, 4.3e-4, 1e-3, 1e-2):
        seg.cai = cai
        h.finitialize(-70.0)
        c = cai + 1e-7 if cai < 1e-7 else cai
        assert seg.rtms_SK_E2.zinf == pytest.approx(1 / (1 + (0.00043 / c) ** 4.8), rel=1e-6)
        assert seg.rtms_SK_E2.ztau == 1.0


def test_calcium_shell_decays_to_its_floor():
    h, sec = _single_section("rtms_CaDynamics_E2")
    seg = sec(0.5)
    mech = seg.rtms_CaDynamics_E2
    mech.decay, mech.minCai, mech.cai_start = 50.0, 1e-4, 6e-4
    h.celsius = 37.0
    h.dt = 0.025
    h.finitialize(-70.0)
    assert seg.cai == pytest.approx(6e-4)
    h.continuerun(40.0)
    # no Ca2+ current: exact exponential relaxation (cnexp integrates the linear equation exactly)
    assert seg.cai == pytest.approx(1e-4 + 5e-4 * np.exp(-40.0 / 50.0), rel=1e-6)
    mech.cai_start = 0.0
    h.finitialize(-70.0)
    assert seg.cai == pytest.approx(1e-4)  # cai_start <= 0: starts at minCai


def test_calcium_influx_steady_state_and_reversal_potential():
    h, sec = _single_section("rtms_Ca_LVAst", "rtms_CaDynamics_E2")
    seg = sec(0.5)
    seg.rtms_Ca_LVAst.gbar = 0.01
    mech = seg.rtms_CaDynamics_E2
    mech.gamma, mech.decay, mech.depth, mech.minCai = 0.05, 20.0, 0.1, 1e-4
    clamp = h.SEClamp(seg)
    clamp.dur1, clamp.amp1, clamp.rs = 1e9, -55.0, 1e-3
    h.celsius = 34.0
    h.dt = 0.025
    h.finitialize(-55.0)
    h.continuerun(600.0)
    # d[Ca]/dt = -1e4 i_Ca gamma / (2 F depth) - ([Ca] - minCai) / decay = 0 at steady state
    expected = 1e-4 - 1e4 * seg.ica * 0.05 * 20.0 / (2 * h.FARADAY * 0.1)
    assert seg.ica < 0 and seg.cai > 1.1e-4
    assert seg.cai == pytest.approx(expected, rel=1e-5)
    rt_over_2f = h.R * (273.15 + 34.0) / (2 * h.FARADAY) * 1e3
    assert seg.eca == pytest.approx(rt_over_2f * np.log(seg.cao / seg.cai), rel=1e-4)


# ---------------------------------------------------------------------- cells with the full set
def _soma_only(biophysics, diameter_um=20.0):
    from neuron import h

    owner = SectionOwner("soma_only")
    kinds = {}
    r = diameter_um / 2
    soma = new_section(h, owner, "soma[0]", kinds, "soma", [(0, 0, -r), (0, 0, r)],
                        [diameter_um, diameter_um])
    owner.soma.append(soma)
    return NeuronCell("soma_only", owner, kinds, biophysics=biophysics)


def _spike_peaks(trace, t, threshold=0.0):
    above = trace > threshold
    starts = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    return [trace[s:s + int(2.0 / (t[1] - t[0]))].max() for s in starts]


def test_single_compartment_soma_rests_and_fires_repeatedly():
    from neuron import h

    cell = _soma_only(HAY)
    seg = cell.soma(0.5)
    for mech in ("rtms_NaTs2_t", "rtms_SKv3_1", "rtms_SK_E2", "rtms_Ca_HVA", "rtms_Ca_LVAst", "rtms_Ih",
                 "rtms_CaDynamics_E2"):
        assert hasattr(seg, mech), mech
    h.celsius = 37.0
    h.dt = 0.025
    v = h.Vector().record(seg._ref_v)
    t = h.Vector().record(h._ref_t)
    stim = h.IClamp(seg)
    stim.delay, stim.dur, stim.amp = 50.0, 200.0, 0.8
    h.finitialize(HAY.v_rest_mv)
    h.continuerun(300.0)
    v, t = np.asarray(v), np.asarray(t)
    rest = v[t <= 50.0]
    assert np.max(np.abs(rest - HAY.v_rest_mv)) < 0.5
    peaks = _spike_peaks(v[(t > 50) & (t < 250)], t)
    assert len(peaks) >= 3 and min(peaks) > 0.0


def test_full_set_ball_and_stick_threshold_is_finite_and_bracketed():
    cell = ball_and_stick_cell(biophysics=HAY)
    r = activation_threshold(cell, (0.0, 0.0, -1.0), monophasic_pulse())
    low, high = r.bracket_amplitude
    assert np.isfinite(r.threshold_v_per_m) and 1.0 < r.threshold_v_per_m < 1e5
    assert low < high <= low * 1.01 + 1e-12
    assert r.threshold_v_per_m == pytest.approx(high)


def test_full_set_biophysics_serialises_and_changes_the_cache_key():
    data = HAY.as_dict()
    assert Biophysics(**json.loads(json.dumps(data))) == HAY
    with pytest.raises(ValueError, match="channels"):
        Biophysics(channels="hay")
    full = CellSpec("ball_and_stick", kwargs={"biophysics": data})
    reduced = CellSpec("ball_and_stick", kwargs={"biophysics": Biophysics().as_dict()})
    assert full != reduced
    assert ThresholdTask(full, [0.0, 0.0, -1.0]).key() != ThresholdTask(reduced, [0.0, 0.0, -1.0]).key()
    cell = full.build()
    assert cell.biophysics.channels == "hay2011" and hasattr(cell.soma(0.5), "rtms_NaTs2_t")


def test_full_set_l5_cell_rests_and_fires_from_the_soma():
    from neuron import h

    path = shared_data_or_skip("neurons", "L5_TTPC2_cADpyr232_1.asc")
    cell = cell_from_morphology(path, biophysics=HAY)
    kinds = cell.segment_kinds()
    segs = cell.segments
    apic = [seg for seg, k in zip(segs, kinds) if k == "apic"]
    g_ih = np.array([seg.rtms_Ih.gbar for seg in apic])
    assert g_ih.max() > 5 * g_ih.min() > 0  # exponential increase with distance
    node = next(seg for seg, k in zip(segs, kinds) if k == "node")
    assert node.rtms_NaTa_t.gbar == pytest.approx(2 * HAY.full_axon_g_nata_s_per_cm2)
    assert not hasattr(node, "rtms_CaDynamics_E2")
    h.celsius = 37.0
    h.dt = 0.025
    vsoma = h.Vector().record(cell.soma(0.5)._ref_v)
    t = h.Vector().record(h._ref_t)
    stim = h.IClamp(cell.soma(0.5))
    stim.delay, stim.dur, stim.amp = 30.0, 100.0, 2.0
    h.finitialize(HAY.v_rest_mv)
    h.continuerun(30.0)
    v = np.array([seg.v for seg in segs])
    assert np.max(np.abs(v - HAY.v_rest_mv)) < 0.5
    h.continuerun(130.0)
    vsoma, t = np.asarray(vsoma), np.asarray(t)
    assert len(_spike_peaks(vsoma[t > 30.0], t)) >= 2
    del stim
