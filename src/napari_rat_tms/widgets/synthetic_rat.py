"""Widget: build the synthetic rat at any resolution in a worker, with progress and cancel.

File > Open Sample gives the 0.34 mm rat in a few seconds; this widget builds the seed's 0.17 mm
scan (about 30 s) or other variants without freezing the viewer.
"""


from dataclasses import fields

import napari
from magicgui.widgets import FloatSpinBox, Label, ProgressBar, PushButton, SpinBox

from ..core.synthetic import SyntheticRatParameters, iter_synthetic_rat
from ..viewer.layers import synthetic_rat_layer_data
from ._dock import ScrollingDock
from ._running import start_work

__all__ = ["SyntheticRatWidget"]

_DEFAULTS = {f.name: f.default for f in fields(SyntheticRatParameters)}


class SyntheticRatWidget(ScrollingDock):
    """Parameters of :class:`SyntheticRatParameters`, a Build and a Cancel button."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        self._worker = None
        self.voxel_size_mm = FloatSpinBox(value=_DEFAULTS["voxel_size_mm"], min=0.09, max=2.0,
                                          step=0.01, label="voxel size (mm)")
        self.noise_hu = FloatSpinBox(value=_DEFAULTS["noise_hu"], min=0.0, max=1000.0, step=5.0,
                                     label="noise SD (HU)")
        self.seed = SpinBox(value=_DEFAULTS["seed"], min=0, max=2**31 - 1, label="random seed")
        self.build_button = PushButton(text="Build synthetic rat")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(min=0, max=100, value=0, label="progress")
        self.status = Label(value="")
        self.extend([self.voxel_size_mm, self.noise_hu, self.seed, self.build_button,
                     self.cancel_button, self.progress, self.status])
        self.build_button.changed.connect(self.start)
        self.cancel_button.changed.connect(self.cancel)

    def parameters(self) -> SyntheticRatParameters:
        return SyntheticRatParameters(voxel_size_mm=float(self.voxel_size_mm.value),
                                      noise_hu=float(self.noise_hu.value), seed=int(self.seed.value))

    def start(self):
        """Validate the parameters, then build in a worker thread."""
        try:
            params = self.parameters()
        except ValueError as err:
            self.status.value = f"Cannot build: {err}"
            return None
        self.build_button.enabled, self.cancel_button.enabled = False, True
        self.status.value = f"Building {params.shape[0]}^3 voxels..."
        self._worker = start_work(iter_synthetic_rat(params), on_progress=self._on_progress,
                                  activity="Synthetic rat",
                                  on_outcome=self._on_done, on_error=self._on_error, notify_bugs=True,
                                  on_finished=self._on_finished)
        return self._worker

    def cancel(self):
        if self._worker is not None:
            self.status.value = "Cancelling after the current step..."
            self._worker.quit()

    def _on_progress(self, item):
        fraction, message = item
        self.progress.value = round(100 * fraction)
        self.status.value = message

    def _on_done(self, outcome):
        if outcome.cancelled:
            self.progress.value = 0
            self.status.value = "Cancelled; no layer was added."
            return
        if outcome.error is not None:
            self.status.value = f"Failed: {outcome.error}"
            return
        rat = outcome.value
        for data, kwargs, layer_type in synthetic_rat_layer_data(rat):
            kwargs = dict(kwargs)
            kwargs["name"] = f"{kwargs['name']} ({rat.parameters.voxel_size_mm:g} mm)"
            getattr(self._viewer, f"add_{layer_type}")(data, **kwargs)
        self.status.value = f"Done: {rat.volume.describe()}" + "".join(f"\nNote: {n}" for n in outcome.notes)

    def _on_error(self, err):
        self.status.value = f"Failed: {err}"

    def _on_finished(self):
        self.build_button.enabled, self.cancel_button.enabled = True, False
        self._worker = None
