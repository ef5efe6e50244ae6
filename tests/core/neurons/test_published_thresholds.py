"""Absolute uniform-field thresholds of the shared Blue Brain clones (issue 21).

Against a published reference: Aberra, Wang, Grill & Peterchev (2020, Brain Stimul 13:175-189)
give, for the **adult-human** scaling of the same clones, the minimum threshold over 398 field
directions (MagPro X100 monophasic pulse, 37 C, > 2 compartments at 0 mV). The reference numbers
below were typed by hand from the data the authors released with the paper (github
Aman-A/TMSsim_Aberra2019, ``utms_maxH_w1_1-25.mat``; main axon intact: ``utms_maxH_w1_rax0_16-25.mat``);
no script extracts them (the files are not in this repository), see BENCHMARKS.md.

Ours are tested at the direction of our minimum found by ``bench_validation_aberra2020.py --refine``
(a 32-direction grid, then a pattern search down to 3.75 degrees, finer than the spacing of 398
directions): there BENCHMARKS.md measured ours / published = 1.01 (L1), 1.02 (L2/3), 1.01 (L5) and
0.98 (L6), i.e. minima that agree, not a bound. Tolerance +-3 % (the README says 0.98-1.02x): the
bisection is 1 %, the directions here are the search's rounded to a degree, and the remaining model
differences (their per-cell e-type densities, myelin g-ratio, recorded pulse against our circuit
model) are what is measured. The L4 basket cell is the exception (1.14: it is a cAC interneuron with
its own Blue Brain densities, ours are the L5 pyramidal cell's for every cell): its threshold is
pinned as a regression of BENCHMARKS.md's figure (+-3 %), not as an agreement.

The cut main axon (issue 21): Aberra et al.'s Fig. 1 disables the L5 cell's cut main-axon terminal,
which raises its published minimum from 125.8 to 188.4 V/m (x1.50). With
``cell_from_morphology(..., disable_cut_axon=True)`` ours at -z (the intact minimum's direction) must
rise by the same factor within +-0.10 (two 1 % bisections: +-2 %; the published factor compares two
minima that may lie at different directions), and at our disabled minimum's direction lie within
+-5 % of 188.4 (measured 1.04).

The adult-rat thresholds of the five clones at -z (BENCHMARKS.md "Neuron thresholds", the figures
the README quotes) are pinned too, as a regression of those published numbers: +-3 % (bisection to
1 % on both sides).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("neuron", reason="the thresholds come from NEURON (pip install neuron)")

from napari_rat_tms.core.neurons.cells import ADULT_HUMAN_SCALING
from napari_rat_tms.core.neurons.reconstructed_cells import cell_from_morphology  # noqa: E402
from napari_rat_tms.core.neurons.direction_map import directions_from_angles  # noqa: E402
from napari_rat_tms.core.neurons.mechanisms import load_mechanisms  # noqa: E402
from napari_rat_tms.core.neurons.threshold import activation_threshold  # noqa: E402
from napari_rat_tms.core.neurons.waveforms import monophasic_pulse  # noqa: E402

from ...conftest import shared_data_or_skip  # noqa: E402

#: clone -> (published minimum over 398 directions, V/m; our refined minimum's direction theta, phi in
#: degrees, BENCHMARKS.md "Against Aberra et al. 2020")
HUMAN = {"L1_NGC-DA_bNAC219_1": (352.9, 82.5, 319.0), "L23_PC_cADpyr229_1": (176.3, 142.5, 195.0),
         "L5_TTPC2_cADpyr232_1": (125.8, 168.8, 180.0), "L6_TPC_L4_cADpyr231_1": (214.6, 90.0, 345.0)}
#: the L4 basket cell: our refined minimum (V/m) and its direction; published 220.2 (ours 1.14 of it)
HUMAN_L4 = ("L4_LBC_cACint209_1", 251.7, 45.0, 81.0)
#: clone -> BENCHMARKS.md's adult-rat threshold at -z (V/m), monophasic pulse, reduced channel set
RAT_MINUS_Z = {"L1_NGC-DA_bNAC219_1": 1206.0, "L23_PC_cADpyr229_1": 384.0, "L4_LBC_cACint209_1": 372.0,
               "L5_TTPC2_cADpyr232_1": 167.0, "L6_TPC_L4_cADpyr231_1": 416.0}


def _direction(theta_deg, phi_deg):
    return directions_from_angles(np.radians([theta_deg]), np.radians([phi_deg])).reshape(3)


@pytest.mark.parametrize("name", sorted(HUMAN))
def test_human_scaled_threshold_against_aberra_2020(name):
    path = shared_data_or_skip("neurons", f"{name}.asc")
    load_mechanisms()
    published, theta, phi = HUMAN[name]
    cell = cell_from_morphology(path, adult_rat_scaling=ADULT_HUMAN_SCALING)
    ours = activation_threshold(cell, _direction(theta, phi), monophasic_pulse(), rel_tol=0.01).threshold_v_per_m
    assert ours == pytest.approx(published, rel=0.03), (ours, published)


def test_human_scaled_l4_basket_cell_as_in_benchmarks():
    name, benchmark, theta, phi = HUMAN_L4
    path = shared_data_or_skip("neurons", f"{name}.asc")
    load_mechanisms()
    cell = cell_from_morphology(path, adult_rat_scaling=ADULT_HUMAN_SCALING)
    ours = activation_threshold(cell, _direction(theta, phi), monophasic_pulse(), rel_tol=0.01).threshold_v_per_m
    assert ours == pytest.approx(benchmark, rel=0.03), ours


def test_disabling_the_cut_main_axon_raises_l5_as_published():
    path = shared_data_or_skip("neurons", "L5_TTPC2_cADpyr232_1.asc")
    load_mechanisms()
    thresholds = []
    for disable in (False, True):
        cell = cell_from_morphology(path, adult_rat_scaling=ADULT_HUMAN_SCALING, disable_cut_axon=disable)
        thresholds.append(activation_threshold(cell, np.array([0.0, 0.0, -1.0]), monophasic_pulse(),
                                               rel_tol=0.01).threshold_v_per_m)
        del cell
    intact, disabled = thresholds
    assert disabled / intact == pytest.approx(188.4 / 125.8, abs=0.10), (intact, disabled)
    cell = cell_from_morphology(path, adult_rat_scaling=ADULT_HUMAN_SCALING, disable_cut_axon=True)
    at_minimum = activation_threshold(cell, _direction(172.5, 90.0), monophasic_pulse(),
                                      rel_tol=0.01).threshold_v_per_m
    assert at_minimum == pytest.approx(188.4, rel=0.05), at_minimum


@pytest.mark.parametrize("name", sorted(RAT_MINUS_Z))
def test_rat_scaled_threshold_at_minus_z_as_published_in_benchmarks(name):
    path = shared_data_or_skip("neurons", f"{name}.asc")
    load_mechanisms()
    cell = cell_from_morphology(path)
    ours = activation_threshold(cell, np.array([0.0, 0.0, -1.0]), monophasic_pulse(),
                                rel_tol=0.01).threshold_v_per_m
    assert ours == pytest.approx(RAT_MINUS_Z[name], rel=0.03)
