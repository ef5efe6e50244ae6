"""Cell models (cells.py): structure, cell frame, biophysics, bad morphologies, a shared morphology."""

from __future__ import annotations

import numpy as np
import pytest

from napari_rat_tms.core.neurons.cells import ADULT_RAT_SCALING, MorphologyError
from napari_rat_tms.core.neurons.simple_cells import ball_and_stick_cell, straight_myelinated_axon
from napari_rat_tms.core.neurons.reconstructed_cells import cell_from_morphology, main_axon_terminal

from ...conftest import shared_data_or_skip


def test_straight_axon_structure_and_frame():
    axon = straight_myelinated_axon(2000.0, 2.0)
    assert axon.count("node") == 11 and axon.count("myelin") == 10
    positions = axon.segment_positions_um()
    assert np.allclose(positions[:, :2], 0.0)
    assert positions[:, 2].min() == pytest.approx(-999.5) and positions[:, 2].max() == pytest.approx(999.5)
    assert axon.total_length_um() == pytest.approx(2000.0)
    parents = axon.segment_parents()
    assert parents[0] == -1 and np.all(parents[1:] < np.arange(1, axon.n_segments))
    # along a chain the parent is the previous segment
    assert np.array_equal(parents[1:], np.arange(axon.n_segments - 1))
    kinds = axon.segment_kinds()
    assert set(kinds[axon.detection_indices]) == {"node"}
    internode = axon.source["internode_um"]
    assert internode == pytest.approx(200.0, rel=0.01)  # 100 x diameter, adjusted to fit


def test_cells_rest_at_v_rest():
    from neuron import h

    cell = ball_and_stick_cell()
    h.finitialize(cell.biophysics.v_rest_mv)
    h.fcurrent()
    h.dt = 0.025
    h.continuerun(20.0)
    v = np.array([seg.v for seg in cell.segments])
    assert np.allclose(v, cell.biophysics.v_rest_mv, atol=1e-3)


def test_ball_and_stick_axis_and_kinds():
    cell = ball_and_stick_cell()
    positions = cell.segment_positions_um()
    kinds = cell.segment_kinds()
    assert np.allclose(positions[kinds == "soma"], 0.0)
    assert np.all(positions[kinds == "apic", 2] > 0)
    assert np.all(positions[np.isin(kinds, ["ais", "node", "myelin"]), 2] < 0)
    assert cell.count("node") == 10 and cell.count("ais") == 1
    seg = cell.segments[int(np.flatnonzero(kinds == "node")[0])]
    assert seg.rtms_NaTa_t.gbar == pytest.approx(2 * cell.biophysics.axon_g_na_s_per_cm2)
    assert cell.soma.cm == pytest.approx(1.0)


def test_missing_and_garbage_morphologies_raise_clear_errors(tmp_path):
    with pytest.raises(MorphologyError, match="does not exist"):
        cell_from_morphology(tmp_path / "nope.asc")
    garbage = tmp_path / "garbage.asc"
    garbage.write_bytes(b"\x00\x01 this is not ( a morphology ))) \n" * 20)
    with pytest.raises(MorphologyError, match="garbage.asc"):
        cell_from_morphology(garbage)
    other = tmp_path / "cell.xyz"
    other.write_text("1 2 3\n")
    with pytest.raises(MorphologyError, match="unsupported"):
        cell_from_morphology(other)


def test_swc_morphology_without_axon_is_refused(tmp_path):
    swc = tmp_path / "tiny.swc"
    swc.write_text("1 1 0 0 0 5 -1\n2 3 0 5 0 1 1\n3 3 0 50 0 1 2\n")
    with pytest.raises(MorphologyError, match="no axon"):
        cell_from_morphology(swc)


def test_swc_morphology_with_axon_builds_and_myelinates(tmp_path):
    lines = ["1 1 0 0 0 5 -1", "2 3 0 5 0 1 1", "3 3 0 80 0 1 2", "4 2 0 -5 0 0.8 1"]
    for k in range(5, 30):  # axon straight down, 1 mm
        lines.append(f"{k} 2 0 {-5 - 40 * (k - 4)} 0 0.8 {k - 1}")
    swc = tmp_path / "small.swc"
    swc.write_text("\n".join(lines) + "\n")
    cell = cell_from_morphology(swc, adult_rat_scaling=False)
    assert cell.count("node") >= 5 and cell.count("ais") == 1
    positions = cell.segment_positions_um()
    kinds = cell.segment_kinds()
    # no apical dendrite: the file's +y (the basal dendrite here) becomes +z
    assert np.all(positions[kinds == "dend", 2] > 0) and np.all(positions[kinds == "node", 2] < 0)


def test_main_axon_terminal_follows_the_thickest_branch_and_is_disabled_on_request(tmp_path):
    # an axon that branches 200 um below the soma: a thick branch going on down (the main axon, 1 mm)
    # and a thin collateral going sideways (0.6 mm); the main axon's end is the thick branch's end
    lines = ["1 1 0 0 0 5 -1", "2 3 0 5 0 1 1", "3 3 0 80 0 1 2", "4 2 0 -5 0 1.0 1"]
    for k in range(5, 10):
        lines.append(f"{k} 2 0 {-5 - 40 * (k - 4)} 0 1.0 {k - 1}")        # trunk down to y = -205
    for k in range(10, 35):
        parent = 9 if k == 10 else k - 1
        lines.append(f"{k} 2 0 {-205 - 40 * (k - 9)} 0 1.2 {parent}")     # thick: down to y = -1205
    for k in range(35, 50):
        parent = 9 if k == 35 else k - 1
        lines.append(f"{k} 2 {40 * (k - 34)} -205 0 0.4 {parent}")        # thin collateral along +x
    swc = tmp_path / "branched.swc"
    swc.write_text("\n".join(lines) + "\n")
    intact = cell_from_morphology(swc, adult_rat_scaling=False, name="intact")
    terminal = main_axon_terminal(intact)
    names = intact.segment_section_names()
    end = intact.segment_positions_um()[max(i for i, n in enumerate(names) if n == terminal.name())]
    assert end[2] < -1100 and abs(end[0]) < 50            # the thick branch's end (cell frame: -z)
    assert terminal(1).diam < 5 and "main_axon_terminal_disabled" not in intact.source
    del intact
    disabled = cell_from_morphology(swc, adult_rat_scaling=False, name="disabled", disable_cut_axon=True)
    terminal = main_axon_terminal(disabled)
    assert terminal(1).diam == pytest.approx(1000.0)
    assert disabled.source["main_axon_terminal_disabled"] == terminal.name()
    # only that terminal: every other axonal section keeps its diameter
    others = [sec(0.5).diam for sec, k in zip(disabled.sections, disabled.section_kinds)
              if k in ("node", "axon", "ais", "myelin") and sec != terminal]
    assert max(others) < 5


def _axon_diameters(cell):
    return np.array([sec.diam3d(i) for sec, k in zip(cell.sections, cell.section_kinds)
                     if k in ("ais", "axon") for i in range(int(sec.n3d()))])


def test_shared_l23_pyramidal_cell():
    path = shared_data_or_skip("neurons", "L23_PC_cADpyr229_1.asc")
    juvenile = cell_from_morphology(path, adult_rat_scaling=False, myelinate=False, name="juvenile")
    adult = cell_from_morphology(path, myelinate=False, name="adult")
    # adult-rat scaling: axon diameters x1.322, soma area x1.322, basal length x1.17
    assert np.allclose(_axon_diameters(adult), ADULT_RAT_SCALING.axon_diameter * _axon_diameters(juvenile))
    soma_area = [sum(seg.area() for seg in c.soma) for c in (juvenile, adult)]
    assert soma_area[1] / soma_area[0] == pytest.approx(ADULT_RAT_SCALING.soma_area, rel=1e-6)
    assert adult.total_length_um("dend") / juvenile.total_length_um("dend") == pytest.approx(1.17, rel=1e-6)
    assert adult.total_length_um("apic") == pytest.approx(juvenile.total_length_um("apic"), rel=1e-9)
    del juvenile, adult
    cell = cell_from_morphology(path)
    assert cell.count("node") > 20 and cell.count("myelin") == cell.count("node")
    assert cell.soma is cell.sections[0] and cell.segment_parents()[0] == -1
    positions = cell.segment_positions_um()
    kinds = cell.segment_kinds()
    # soma at the origin, somatodendritic axis (soma -> apical centroid) along +z
    assert np.allclose(positions[kinds == "soma"].mean(axis=0), 0.0, atol=1.0)
    # the axis is the soma -> length-weighted apical centroid; segment centres weighted by segment
    # length approximate that centroid (segments cut corners at bends)
    apic = kinds == "apic"
    weights = np.array([seg.sec.L / seg.sec.nseg for seg in cell.segments])[apic]
    apical = (positions[apic] * weights[:, None]).sum(axis=0) / weights.sum()
    assert apical[2] > 100
    assert np.degrees(np.arctan2(np.hypot(apical[0], apical[1]), apical[2])) < 1.0
    assert cell.source["axis"] == "soma -> apical centroid"
    # myelination rules: nodes 1 um, detection on AIS/nodes/unmyelinated axon only
    node_lengths = [sec.L for sec, k in zip(cell.sections, cell.section_kinds) if k == "node"]
    assert np.allclose(node_lengths, 1.0, atol=1e-4)  # NEURON stores 3D points in float32
    assert set(kinds[cell.detection_indices]) <= {"ais", "axon", "node"}
    assert np.all(cell.segment_parents()[1:] < np.arange(1, cell.n_segments))
