"""Static figures of volumes (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .volume import INTENSITY_UNITS_HU, Volume

__all__ = ["save_orthogonal_slices"]


def _window(volume: Volume) -> tuple[float, float]:
    if volume.intensity_units == INTENSITY_UNITS_HU:
        return -1000.0, 2000.0
    lo, hi = np.percentile(volume.data[:: 4, :: 4, :: 4], [0.5, 99.8])
    return float(lo), float(hi) if hi > lo else float(lo) + 1.0


def save_orthogonal_slices(
    volume: Volume,
    path,
    *,
    centre_mm=None,
    labels: np.ndarray | None = None,
    points_mm: dict[str, np.ndarray] | None = None,
    title: str = "",
) -> Path:
    """Save three orthogonal slices through ``centre_mm`` (volume frame, mm) as a PNG.

    Axes are labelled in millimetres of the volume frame, with the true aspect ratio of the
    voxels. ``labels`` (same shape) are drawn as contours; ``points_mm`` as named markers,
    projected onto each slice.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    spacing = np.asarray(volume.voxel_size_mm)
    extent = volume.extent_mm
    if centre_mm is None:
        centre_mm = (np.asarray(volume.shape) - 1) / 2 * spacing
    centre_idx = np.clip(np.rint(np.asarray(centre_mm) / spacing).astype(int), 0, np.asarray(volume.shape) - 1)
    vmin, vmax = _window(volume)
    fig, axs = plt.subplots(1, 3, figsize=(15, 5.4), constrained_layout=True)
    image = None
    for ax_i, axis in enumerate(range(3)):
        other = [a for a in range(3) if a != axis]
        index = [slice(None)] * 3
        index[axis] = centre_idx[axis]
        sl = volume.data[tuple(index)]
        ext = (-0.5 * spacing[other[1]], extent[other[1]] - 0.5 * spacing[other[1]],
               extent[other[0]] - 0.5 * spacing[other[0]], -0.5 * spacing[other[0]])
        ax = axs[ax_i]
        image = ax.imshow(sl, cmap="gray", vmin=vmin, vmax=vmax, extent=ext, interpolation="nearest")
        if labels is not None:
            lab = labels[tuple(index)]
            yy = (np.arange(lab.shape[0])) * spacing[other[0]]
            xx = (np.arange(lab.shape[1])) * spacing[other[1]]
            ax.contour(xx, yy, lab, levels=np.arange(lab.max() + 1) + 0.5, linewidths=0.6, cmap="tab10")
        for name, p in (points_mm or {}).items():
            p = np.asarray(p)
            ax.plot(p[other[1]], p[other[0]], "+", color="red", ms=8)
            ax.annotate(name, (p[other[1]], p[other[0]]), color="red", fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(f"axis {other[1]} (mm)")
        ax.set_ylabel(f"axis {other[0]} (mm)")
        ax.set_title(f"axis {axis} = {centre_idx[axis] * spacing[axis]:.1f} mm")
    fig.colorbar(image, ax=axs, shrink=0.8, label=f"intensity ({volume.intensity_units})")
    if title:
        fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
