"""How long a user waits in napari for the first |E| on the cortex (issue 25), on this machine.

The README's napari workflow on the synthetic rat, driven through the docks as
``tests/widgets/test_walkthrough.py`` does, each long step in its worker with the GUI's event loop
running, and the docks' defaults (the seed's meshing; all five models ticked): File > Open Sample,
Segmentation (suggested thresholds, the eye centres, Segment), Meshing, Coil placement (landmarks,
frame, the coil at the seed grid's centre), then E-field's Build models. Printed: each step's wall
time, and from the press of Build, when the first |E| showed and when each model's field replaced
the one shown (the dock builds the cheapest first: sphere, 1C, 2C*, 2C, 3C). Needs a display (or
``xvfb-run``); time on a quiet machine.

    xvfb-run -a python benchmarks/bench_napari_first_field.py [--models sphere 1C 2C* 2C 3C] [--timeout-s 3600]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import psutil


def _spin(until, timeout_s: float, what: str) -> float:
    """Run the Qt event loop until ``until()``; returns the seconds waited."""
    from qtpy.QtWidgets import QApplication

    start = time.perf_counter()
    while not until():
        QApplication.processEvents()
        time.sleep(0.005)
        if time.perf_counter() - start > timeout_s:
            raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=None, help="models to tick (default: the dock's, all five)")
    parser.add_argument("--timeout-s", type=float, default=3600.0)
    args = parser.parse_args(argv)

    import napari

    from napari_rat_tms.core.synthetic import make_synthetic_rat
    from napari_rat_tms.viewer.layers import ROLE_KEY
    from napari_rat_tms.viewer.shared_state import shared_state
    from napari_rat_tms.widgets.coil import CoilPlacementWidget
    from napari_rat_tms.widgets.field import FieldWidget
    from napari_rat_tms.widgets.meshing import MeshingWidget
    from napari_rat_tms.widgets.segmentation import SegmentationWidget

    print(f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M')}; napari {napari.__version__}")
    rat = make_synthetic_rat(0.34)              # its landmarks: where a user clicks
    viewer = napari.Viewer(show=True)
    steps = []

    def step(name, seconds):
        steps.append((name, seconds))
        print(f"  {name}: {seconds:.1f} s", flush=True)

    start = time.perf_counter()
    viewer.open_sample("napari-rat-tms", "synthetic_rat")
    step("open the sample (0.34 mm, 256^3)", time.perf_counter() - start)

    segmentation = SegmentationWidget(viewer)
    viewer.window.add_dock_widget(segmentation, name="Segmentation")
    start = time.perf_counter()
    segmentation.suggest()
    segmentation.eye_points_layer().data = np.array([rat.landmarks_mm["left_eye"], rat.landmarks_mm["right_eye"]])
    segmentation.start()
    _spin(lambda: segmentation._worker is None, args.timeout_s, "the segmentation")
    step("segmentation (suggest + Segment)", time.perf_counter() - start)

    meshing = MeshingWidget(viewer)
    viewer.window.add_dock_widget(meshing, name="Meshing")
    start = time.perf_counter()
    meshing.start()
    _spin(lambda: meshing._worker is None, args.timeout_s, "the meshing")
    step("meshing (the seed's edge lengths)", time.perf_counter() - start)

    coil = CoilPlacementWidget(viewer)
    viewer.window.add_dock_widget(coil, name="Coil placement")
    lm = rat.landmarks_mm
    coil.add_landmarks_layer().data = np.array([lm["bregma"], lm["lambda"],
                                                rat.stereotaxic_to_volume([0.0, 15.0, -3.0])])
    start = time.perf_counter()
    coil.set_frame()
    grid = coil.show_grid()
    if coil.place_at(grid.scalp_points_mm[len(grid.scalp_points_mm) // 2]) is None:
        raise SystemExit(coil.status.value)
    step("coil: frame, grid and first placement", time.perf_counter() - start)

    field = FieldWidget(viewer)
    viewer.window.add_dock_widget(field, name="E-field")
    if args.models:
        for kind, box in field.kind_boxes.items():
            box.value = kind in args.models
    ticked = [kind for kind, box in field.kind_boxes.items() if box.value]
    viewer.dims.ndisplay = 3
    start = time.perf_counter()
    if field.build_models() is None:
        raise SystemExit(field.status.value)
    shown: dict[str, float] = {}

    def record():
        layer = next((lyr for lyr in viewer.layers if lyr.metadata.get(ROLE_KEY) == "efield_on_cortex"), None)
        if layer is not None and layer.visible and field.model_shown and field.model_shown not in shown:
            shown[field.model_shown] = time.perf_counter() - start
            print(f"  |E| of {field.model_shown} shown {shown[field.model_shown]:.1f} s after Build", flush=True)
        return field._worker is None

    _spin(record, args.timeout_s, "the models")
    built = time.perf_counter() - start
    best = next(iter(shared_state(viewer).ordered()), None)     # the most accurate model built
    _spin(lambda: record() and field.model_shown == best and not field.preview_shown, 120.0, "the last field")
    first = min(shown.values()) if shown else float("nan")
    print(f"\nmodels ticked: {', '.join(ticked)}; build order: {', '.join(shown)}")
    print(f"first |E| on the cortex: {first:.1f} s after Build ({next(iter(shown), '-')}); "
          f"all built in {built:.1f} s; from opening the sample: "
          f"{sum(s for _, s in steps) + first:.1f} s to the first |E|")
    print(field.status.value.splitlines()[0])
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
