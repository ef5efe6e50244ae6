"""Uniform-field activation thresholds of the five shared rat cortical cells, and what they cost.

For each morphology of ``../shared/data/neurons`` (adult-rat scaling, myelinated axon, the reduced
NaTa_t + SKv3_1 channel set; ``core/neurons/cells.py``), the monophasic pulse (``waveforms.py``
defaults) and a uniform field along +z (the somatodendritic axis, pointing from the soma towards
the pia), along -z and across (+x), prints:

* the cell: sections, segments, nodes of Ranvier, axon length, build time;
* per field direction: the threshold |E| (V/m, rel_tol 1 %), the section where the membrane
  first crossed 0 mV at threshold (and its cell-frame position, um), the number of simulations, the
  time per threshold and per simulation (s);
* with ``--biphasic``, the same with the biphasic pulse along -z.

Peer in the same run: the straight myelinated axon (2 mm, 2 um) with the field along it, whose
threshold follows from the cable equation's terminal activating function and is the usual
reference for the order of magnitude (tens to hundreds of V/m for micrometre axons).

Run: python benchmarks/bench_neurons.py [--cells L5_TTPC2_cADpyr232_1 ...] [--rel-tol 0.01] [--biphasic]
Skips with a message when ``../shared/data/neurons`` is absent.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time
from pathlib import Path

import numpy as np

from napari_rat_tms.core.neurons.simple_cells import straight_myelinated_axon
from napari_rat_tms.core.neurons.reconstructed_cells import cell_from_morphology
from napari_rat_tms.core.neurons.mechanisms import load_mechanisms
from napari_rat_tms.core.neurons.threshold import ThresholdNotFound, activation_threshold
from napari_rat_tms.core.neurons.waveforms import biphasic_pulse, monophasic_pulse

NEURONS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "neurons"
CELLS = ["L1_NGC-DA_bNAC219_1", "L23_PC_cADpyr229_1", "L4_LBC_cACint209_1", "L5_TTPC2_cADpyr232_1",
         "L6_TPC_L4_cADpyr231_1"]
DIRECTIONS = {"+z (soma->pia)": (0.0, 0.0, 1.0), "-z": (0.0, 0.0, -1.0), "+x (across)": (1.0, 0.0, 0.0)}


def _threshold_line(label, cell, efield, pulse, rel_tol):
    try:
        r = activation_threshold(cell, efield, pulse, rel_tol=rel_tol)
    except ThresholdNotFound as exc:
        print(f"  {label:<16} not found: {exc}")
        return None
    section = r.first_site_section.split(".", 1)[-1]
    x, y, z = r.first_site_position_um
    print(f"  {label:<16} {r.threshold_v_per_m:8.1f} V/m  first: {section:<18} "
          f"at ({x:7.0f}, {y:7.0f}, {z:7.0f}) um  {r.n_simulations:2d} sims  "
          f"{r.seconds:6.2f} s/threshold  {r.seconds / r.n_simulations:6.3f} s/sim")
    return r


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", nargs="*", default=CELLS)
    parser.add_argument("--rel-tol", type=float, default=0.01)
    parser.add_argument("--biphasic", action="store_true")
    args = parser.parse_args()
    import neuron

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, NEURON {neuron.__version__}")
    t = time.perf_counter()
    load_mechanisms()
    print(f"mechanisms loaded (compiled on first use) in {time.perf_counter() - t:.2f} s")
    mono = monophasic_pulse()
    p = mono.parameters
    print(f"pulse: monophasic, rise {p['rise_time_s'] * 1e6:.1f} us, decay tau "
          f"{p['decay_time_constant_s'] * 1e6:.0f} us, {mono.duration_s * 1e3:.2f} ms; dt 5 us, "
          f"1 ms after the pulse, 37 C; criterion: 0 mV in >= 3 axonal compartments; "
          f"rel_tol {args.rel_tol:g}")
    print("\npeer: straight myelinated axon, 2 mm, 2 um, field along its axis")
    axon = straight_myelinated_axon(2000.0, 2.0)
    _threshold_line("along axis", axon, (0.0, 0.0, 1.0), mono, args.rel_tol)
    del axon
    gc.collect()
    if not NEURONS.is_dir():
        print(f"\n{NEURONS} not found: the five shared morphologies are skipped")
        return
    rows = []
    for name in args.cells:
        t = time.perf_counter()
        cell = cell_from_morphology(NEURONS / f"{name}.asc")
        build = time.perf_counter() - t
        s = cell.summary()
        axon_mm = sum(s[f"length_{k}_um"] for k in ("ais", "axon", "node", "myelin")) / 1e3
        print(f"\n{name}: {s['n_sections']} sections, {s['n_segments']} segments, {s['n_node']} nodes, "
              f"{s['n_axon']} unmyelinated axon sections, axon {axon_mm:.1f} mm, "
              f"axis: {cell.source['axis']}; built in {build:.2f} s")
        for label, direction in DIRECTIONS.items():
            r = _threshold_line(label, cell, direction, mono, args.rel_tol)
            rows.append((name, label, r))
        if args.biphasic:
            _threshold_line("-z biphasic", cell, DIRECTIONS["-z"], biphasic_pulse(), args.rel_tol)
        del cell
        gc.collect()
    found = [r for _, _, r in rows if r is not None]
    if found:
        thresholds = np.array([r.threshold_v_per_m for r in found])
        per_threshold = np.array([r.seconds for r in found])
        per_sim = np.array([r.seconds / r.n_simulations for r in found])
        print(f"\nsummary: {len(found)}/{len(rows)} thresholds found; |E| {thresholds.min():.0f}-"
              f"{thresholds.max():.0f} V/m (median {np.median(thresholds):.0f}); time per threshold median "
              f"{np.median(per_threshold):.1f} s (max {per_threshold.max():.1f}); per simulation median "
              f"{np.median(per_sim):.2f} s")


if __name__ == "__main__":
    main()
