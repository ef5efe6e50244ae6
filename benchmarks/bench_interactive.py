"""Latency of one E-field update when the coil moves, as the E-field dock computes it.

Reads a main-job project folder (the README's first command writes ``rat-tms-demo/study``): the
cortex and the other surfaces from ``meshes/*.vtk``, the 3C model's transfer matrix from
``solver_cache`` (no BEM is solved here), the coil placement from ``placement.json``. Then, for 21
placements turned 1 degree apart about the coil's axis (a user dragging the orientation slider):

* the latency of one update (``FieldModel.efield_for``: the coil's primary field at every boundary
  triangle and cortical vertex, one product with T), median of the 21, for the full coil
  (MC-B35 high resolution, 2,580 dipoles; the dock's baseline before previews) and for the
  previews the dock shows while the coil moves (the coil merged to 256 / 128 / 64 dipoles,
  :func:`~napari_rat_tms.core.coils.merged_dipoles`), split into primary field and product;
* how far each preview is from the full coil's field on the cortex (RE, the maximum's distance);
* how long the main thread is held while one update runs in a worker thread (the dock's way),
  against running the update on the main thread (the dock's way before): the longest gap between
  ticks of a 1 ms loop on the main thread.

With ``--gui`` (needs a display, e.g. ``xvfb-run -a``), the same in napari: the project opened
with the plugin's reader, the E-field dock's 3C model read from the cache, the coil loaded from
``placement.json`` in the Coil placement dock, then the orientation turned 1 degree every 16 ms
(a 60 Hz slider drag) 60 times. Printed: the longest stall of Qt's event loop (a 5 ms timer's
longest gap), how old the placement of each field shown was when it was drawn, and how long after
the last turn the full coil's field was shown; against the baseline of the dock before (the
update computed in the viewer's thread on each turn).

    python benchmarks/bench_interactive.py [--project rat-tms-demo/study] [--model 3C] [--device cpu] [--gui]
"""

from __future__ import annotations

import argparse
import json
import platform
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import psutil

from napari_rat_tms.core.coils import mc_b35, merged_dipoles
from napari_rat_tms.core.fields.head_models import iter_field_model
from napari_rat_tms.core.meshes.io import read_surface_file
from napari_rat_tms.core.metrics import relative_error
from napari_rat_tms.core.placement import CoilPlacement
from napari_rat_tms.core.progress import run_to_completion

SURFACES = {"body": "body", "skull": "skull", "skull without spine": "skull_without_spine", "eyes": "eyes",
            "cortex": "cortex"}


def _load(project: Path, kind: str, device: str):
    if not (project / "project.json").is_file():
        raise SystemExit(f"{project} is not a project folder: run the README's main command first "
                         "(rat-tms demo --output rat-tms-demo) or pass --project.")
    surfaces = {name: read_surface_file(project / "meshes" / f"{stem}.vtk").surface
                for name, stem in SURFACES.items() if (project / "meshes" / f"{stem}.vtk").is_file()}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = run_to_completion(iter_field_model(surfaces, kind, cache_dir=project / "solver_cache",
                                                   device=device))
    print(f"{kind} model: {len(model.points_m)} cortical points, {model.solver.transfer.shape[1]} boundary "
          f"triangles, T {model.solver.transfer.nbytes / 2**20:.0f} MiB ({model.solver.transfer.dtype}), "
          f"{'read from the cache' if model.solver.from_cache else 'built'} in "
          f"{time.perf_counter() - start:.1f} s, device {model.solver.device}")
    placement = CoilPlacement.from_dict(json.loads((project / "placement.json").read_text())["placement"])
    return model, placement


def _turned(placement: CoilPlacement, n: int) -> list[CoilPlacement]:
    return [CoilPlacement(placement.centre_mm, placement.axis, placement.current_direction,
                          placement.orientation_deg + k, placement.scalp_point_mm, placement.gap_mm,
                          placement.didt_a_per_us) for k in range(n)]


def _median_ms(fn, items):
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def _main_thread_stall(work) -> float:
    """Longest gap (ms) between ticks of a 1 ms loop on this thread while ``work`` runs in another."""
    done = threading.Event()

    def run():
        work()
        done.set()

    thread = threading.Thread(target=run)
    last, gap = time.perf_counter(), 0.0
    thread.start()
    while not done.is_set():
        time.sleep(0.001)
        now = time.perf_counter()
        gap, last = max(gap, now - last), now
    thread.join()
    return 1e3 * gap


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="rat-tms-demo/study", type=Path)
    parser.add_argument("--model", default="3C")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--moves", type=int, default=21)
    parser.add_argument("--gui", action="store_true", help="also measure in napari (needs a display)")
    args = parser.parse_args(argv)
    print(f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} logical CPUs, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; {time.strftime('%Y-%m-%d')}")
    model, placement = _load(args.project, args.model, args.device)
    solver = model.solver
    full = mc_b35("high")
    coils = {"full coil (2580 dipoles)": full}
    for k in (256, 128, 64):
        merged = merged_dipoles(full, k)
        coils[f"preview ({merged.n_dipoles} dipoles)"] = merged
    coils["low-resolution preset (136)"] = mc_b35("low")
    moves = _turned(placement, args.moves)
    for coil in coils.values():   # compile and warm up
        model.efield_for(moves[0], coil)
    reference = [model.efield_for(p, full) for p in moves]
    points_mm = model.points_m * 1e3
    print(f"\nupdate latency, median of {len(moves)} placements 1 deg apart (ms); "
          "error against the full coil")
    print(f"{'coil':32s} {'update':>8s} {'primary':>8s} {'T g':>7s} {'x full':>7s} {'RE %':>6s} "
          f"{'max RE %':>8s} {'peak moved mm':>13s}")
    baseline = None
    for name, coil in coils.items():
        total = _median_ms(lambda p: model.efield_for(p, coil), moves)
        primary = _median_ms(lambda p: solver._primary(p.place(coil), p.didt_a_per_s), moves) \
            if args.device == "cpu" else float("nan")
        product = _median_ms(lambda g: solver._apply(g[:, None]),
                             [solver.surface_source(p.place(coil), p.didt_a_per_s) for p in moves[:5]]) \
            if args.device == "cpu" else float("nan")
        errors, worst, moved = [], 0.0, []
        for p, ref in zip(moves, reference):
            e = model.efield_for(p, coil)
            errors.append(relative_error(e, ref))
            worst = max(worst, float(np.linalg.norm(e - ref, axis=1).max()
                                     / np.linalg.norm(ref, axis=1).max()))
            moved.append(np.linalg.norm(points_mm[np.argmax(np.linalg.norm(e, axis=1))]
                                        - points_mm[np.argmax(np.linalg.norm(ref, axis=1))]))
        baseline = baseline or total
        print(f"{name:32s} {total:8.1f} {primary:8.1f} {product:7.1f} {total / baseline:7.2f} "
              f"{100 * np.median(errors):6.2f} {100 * worst:8.2f} {max(moved):13.2f}")
    preview = coils["preview (128 dipoles)"] if "preview (128 dipoles)" in coils else list(coils.values())[2]
    print("\nmain thread held while one update runs (longest gap of a 1 ms loop, ms; median of 5)")
    for name, coil in (("full coil", full), ("preview", preview)):
        in_worker = np.median([_main_thread_stall(lambda: model.efield_for(moves[1], coil))
                               for _ in range(5)])
        start = time.perf_counter()
        model.efield_for(moves[1], coil)
        on_main = 1e3 * (time.perf_counter() - start)
        print(f"  {name:10s}: in a worker thread {in_worker:6.1f} ms; "
              f"on the main thread (before) {on_main:6.1f} ms")
    if args.gui:
        _gui(args.project, args.model)


def _gui(project: Path, kind: str, turns: int = 60, interval_ms: int = 16):
    """The E-field dock in napari while the orientation slider is dragged (see the docstring)."""
    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from napari_rat_tms.widgets.coil import CoilPlacementWidget
    from napari_rat_tms.widgets.field import SETTLE_MS, FieldWidget

    viewer = napari.Viewer(show=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        viewer.open(str(project), plugin="napari-rat-tms")
    coil_dock = CoilPlacementWidget(viewer)
    field_dock = FieldWidget(viewer)
    if coil_dock.load_placement(project / "placement.json") is None:
        raise SystemExit(f"cannot place the coil: {coil_dock.status.value}")
    coil_dock.coil_choice.value = "MC-B35"          # the full coil (2,580 dipoles)
    built = field_dock.build_models([kind], blocking=True)
    if kind not in built:
        raise SystemExit(f"cannot build {kind}: {field_dock.status.value}")
    app = QApplication.instance()

    def settle():
        for _ in range(400):
            app.processEvents()
            if not field_dock.updating:
                return
            time.sleep(0.005)

    settle()
    print(f"\nnapari, {kind} model, coil {coil_dock.coil.n_dipoles} dipoles: {turns} turns of 1 deg every "
          f"{interval_ms} ms")
    for mode in ("in a worker, previews (now)", "in the viewer's thread (before)"):
        shown = []   # (time drawn, time its placement was asked for, preview)
        asked: dict[int, float] = {}
        show = field_dock._show

        def recording_show(request, result):
            show(request, result)
            shown.append((time.perf_counter(), asked.get(request.generation, np.nan), request.preview))

        field_dock._show = recording_show
        ticks = [time.perf_counter()]
        tick = QTimer()
        tick.timeout.connect(lambda: ticks.append(time.perf_counter()))
        tick.start(5)
        start_angle = coil_dock.orientation_deg.value
        for k in range(turns):
            coil_dock.orientation_deg.value = start_angle + k + 1
            asked[field_dock._generation] = time.perf_counter()
            if mode.endswith("(before)"):   # the old dock: a full update in this thread per change
                field_dock.update_field()    # (it also stops the dock's own timers)
            end = time.perf_counter() + interval_ms / 1e3
            while time.perf_counter() < end:
                app.processEvents()
                time.sleep(0.001)
        last_turn = time.perf_counter()
        settle()
        tick.stop()
        field_dock._show = show
        gaps = np.diff(ticks) * 1e3
        ages = np.array([1e3 * (t - a) for t, a, _ in shown if np.isfinite(a)])
        full = [t for t, _, preview in shown if not preview]
        print(f"  {mode:32s}: event loop's longest stall {gaps.max():6.1f} ms "
              f"(median tick {np.median(gaps):4.1f}); "
              f"{len(shown)} fields drawn for {turns} turns, placement age when drawn median "
              f"{np.median(ages):5.1f} ms, max {ages.max():5.1f}; full coil shown "
              f"{1e3 * (full[-1] - last_turn) if full else float('nan'):6.1f} ms after the last turn")
        del field_dock.__dict__["_show"]
    # one turn at a time, the viewer idle in between: when is the new field on screen?
    drawn = []
    show = field_dock._show

    def timed_show(request, result):
        show(request, result)
        drawn.append((time.perf_counter(), request.preview))

    field_dock._show = timed_show
    first, full, handler = [], [], []
    for k in range(10):
        drawn.clear()
        start = time.perf_counter()
        coil_dock.orientation_deg.value = coil_dock.orientation_deg.value + 5.0
        handler.append(time.perf_counter() - start)
        settle()
        first.append(drawn[0][0] - start)
        full.append(next(t for t, preview in drawn if not preview) - start)
    del field_dock.__dict__["_show"]
    print(f"  one turn, viewer idle (median of 10): the coil dock's own redraw "
          f"{1e3 * np.median(handler):.0f} ms; "
          f"field on screen after {1e3 * np.median(first):.0f} ms (preview), full coil after "
          f"{1e3 * np.median(full):.0f} ms (its {SETTLE_MS} ms wait included)")
    viewer.close()


if __name__ == "__main__":
    main()
