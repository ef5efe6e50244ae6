"""napari-rat-tms: subject-specific TMS E-field models of the rodent head from µCT, in napari.

The package has a pure core (:mod:`napari_rat_tms.core`, no Qt or napari imports) and a thin
napari layer (:mod:`napari_rat_tms.viewer`) wired through the npe2 manifest ``napari.yaml``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("napari-rat-tms")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]
