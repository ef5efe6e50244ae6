"""Figures of the study like seed 003's Figures 2-4, drawn with matplotlib (no pyplot state, so
they can be drawn in a worker thread and shown in a napari dock or saved as PNG and SVG).

* :func:`figure_orientation` (Fig. 2): per model, against the coil orientation, the direction
  error at the field maximum (left) and the peak |E| (right), median over the grid positions with
  the 16-84 % and 2.3-97.7 % percentile bands;
* :func:`figure_maxima_distances` (Fig. 3): mean distance between the maxima of every pair of
  models and line navigation;
* :func:`figure_fields` (Fig. 4): for one placement, |E| on the cortex seen from above
  (stereotaxic AP/ML, dorsal half) for each model, and |E - E_ref|, with the line-navigation
  target and each maximum marked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .run import LINE_NAVIGATION, StudyResult

__all__ = ["figure_orientation", "figure_maxima_distances", "figure_fields", "save_figure"]


def _bands(ax, x, values, colour, label):
    """Median line and percentile bands of ``values`` (positions, orientations) over positions."""
    with np.errstate(all="ignore"):
        q = np.nanpercentile(values, [2.3, 16, 50, 84, 97.7], axis=0)
    ax.fill_between(x, q[0], q[4], color=colour, alpha=0.15, linewidth=0)
    ax.fill_between(x, q[1], q[3], color=colour, alpha=0.3, linewidth=0)
    ax.plot(x, q[2], color=colour, label=label)


def _label_partial(fig: Figure, result: StudyResult) -> Figure:
    """A red banner on figures of a cancelled (partial) study."""
    if not result.is_complete:   # a suptitle: the constrained layout makes room for it
        fig.suptitle(result.status, color="red", fontsize=10, fontweight="bold")
    return fig


def figure_orientation(result: StudyResult) -> Figure:
    """Seed 003 Fig. 2: direction error and peak |E| against the coil orientation, per model."""
    n = len(result.models)
    fig = Figure(figsize=(9.0, 2.3 * n), layout="constrained")
    axes = fig.subplots(n, 2, squeeze=False, sharex=True)
    x = result.grid.orientations_deg
    colours = [f"C{k}" for k in range(n)]
    for m, name in enumerate(result.models):
        left, right = axes[m]
        _bands(left, x, result.direction_error_deg[m], colours[m], name)
        left.axhline(0.0, color="0.5", linewidth=0.5)
        left.set_ylabel(f"{name}\nfield - coil (deg)")
        _bands(right, x, result.peak_v_per_m[m], colours[m], name)
        right.set_ylabel(f"peak |E| (V/m)\nat {result.didt_a_per_us:g} A/µs")
    for ax in axes[-1]:
        ax.set_xlabel("coil orientation from PA (deg)")
    axes[0, 0].set_title("direction of the field at its maximum\n(projected on the coil's plane)")
    axes[0, 1].set_title("peak |E| over the grid positions\n(median, 16-84 %, 2.3-97.7 %)")
    return _label_partial(fig, result)


def figure_maxima_distances(result: StudyResult) -> Figure:
    """Seed 003 Fig. 3: mean distance (mm) between the maxima of every pair of predictions."""
    names, d = result.distance_between_maxima_mm()
    fig = Figure(figsize=(1.1 * len(names) + 2.0, 1.0 * len(names) + 1.2), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(d, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            if np.isfinite(d[i, j]):
                ax.text(j, i, f"{d[i, j]:.1f}", ha="center", va="center",
                        color="white" if d[i, j] < np.nanmax(d) / 2 else "black", fontsize=8)
    fig.colorbar(image, ax=ax, label="mean distance between maxima (mm)")
    ax.set_title(f"{result.n_completed} placements")
    return _label_partial(fig, result)


def figure_fields(result: StudyResult, cortex_faces: np.ndarray | None = None) -> Figure:
    """Seed 003 Fig. 4: the example placement's |E| per model and its difference from the
    reference, on the dorsal half of the cortex seen from above (stereotaxic AP/ML, mm)."""
    ex = result.example
    if not ex:
        raise ValueError("the study kept no example placement")
    frame = result.frame
    st = frame.to_stereotaxic(result.points_mm) if frame is not None else result.points_mm[:, [0, 1, 2]]
    ml, ap, dv = st[:, 0], st[:, 1], st[:, 2]
    dorsal = dv >= np.median(dv)
    names = result.models
    ref = ex["fields"][names[0]]
    vmax = max(np.linalg.norm(ex["fields"][n], axis=1)[dorsal].max() for n in names)
    fig = Figure(figsize=(2.6 * len(names), 5.4), layout="constrained")
    axes = fig.subplots(2, len(names), squeeze=False, sharex=True, sharey=True)
    p, o = ex["position"], ex["orientation_index"]
    ln = result.line_navigation_mm[p, o]
    for m, name in enumerate(names):
        e = ex["fields"][name]
        for row, values, cmap, top in ((0, np.linalg.norm(e, axis=1), "turbo", vmax),
                                       (1, np.linalg.norm(e - ref, axis=1), "magma", None)):
            ax = axes[row, m]
            sc = ax.scatter(ml[dorsal], ap[dorsal], c=values[dorsal], s=6, cmap=cmap, vmin=0, vmax=top)
            peak = result.peak_point_mm[m, p, o]
            if frame is not None:
                pml, pap, _ = frame.to_stereotaxic(peak)
                ax.plot([pml], [pap], "w*", markersize=10, markeredgecolor="k")
                if np.all(np.isfinite(ln)):
                    lml, lap, _ = frame.to_stereotaxic(ln)
                    ax.plot([lml], [lap], "r+", markersize=10)
            ax.set_aspect("equal")
            if row == 0:
                ax.set_title(name)
            fig.colorbar(sc, ax=ax, shrink=0.7, label="|E| (V/m)" if row == 0 else "|E - E_ref| (V/m)")
        axes[1, m].set_xlabel("ML (mm)")
    axes[0, 0].set_ylabel("AP (mm)")
    axes[1, 0].set_ylabel("AP (mm)")
    angle = result.grid.orientations_deg[o]
    ap0, ml0 = result.grid.grid_ap_ml_mm[p]
    fig.suptitle(f"coil over AP {ap0:+.1f}, ML {ml0:+.1f} mm, {angle:g} deg from PA\n"
                 f"* maximum, + {LINE_NAVIGATION} target (dorsal half, seen from above)"
                 + ("" if result.is_complete else f"\n{result.status}"))
    return fig


def save_figure(fig: Figure, path_without_suffix, overwrite: bool = False) -> list[Path]:
    """Write ``fig`` as PNG (150 dpi) and SVG; returns the paths."""
    from ..files import atomic_write

    base = Path(path_without_suffix)
    out = []
    for suffix in (".png", ".svg"):
        path = base.with_suffix(suffix)
        atomic_write(path, overwrite, lambda tmp, s=suffix: fig.savefig(tmp, format=s[1:], dpi=150))
        out.append(path)
    return out
