"""Smoke test of the built wheel installed in a clean venv (issue 24), run by ``.ci/run`` after the
test suite: what a user who installs from PyPI or the napari hub gets, not the editable checkout.

Checks: the package is the installed one (not the source tree); ``rat-tms --version`` and
``rat-tms demo --scan-only`` (the CLI and the synthetic rat); npe2 finds the manifest with its
readers, widgets and sample; napari (under Xvfb) opens the sample, docks every widget, and reads a
scan and a surface the demo wrote through the plugin's readers.

    python .ci/smoke_wheel.py WORK_FOLDER
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    work = Path(sys.argv[1])
    work.mkdir(parents=True, exist_ok=True)
    import napari_rat_tms

    location = Path(napari_rat_tms.__file__).resolve()
    assert "site-packages" in location.parts, f"not the installed wheel: {location}"
    rat_tms = str(Path(sys.executable).parent / "rat-tms")       # the venv's console script
    version = subprocess.run([rat_tms, "--version"], check=True, capture_output=True, text=True).stdout
    assert napari_rat_tms.__version__ in version, version
    demo = work / "demo"
    subprocess.run([rat_tms, "demo", "--output", str(demo), "--scan-only", "--voxel-size-mm", "0.5", "--overwrite"], check=True)
    scan = demo / "synthetic_rat.nii.gz"
    assert scan.is_file()

    import npe2

    manifest = npe2.PluginManifest.from_distribution("napari-rat-tms")
    manifest.validate_imports()
    widgets = [w.display_name for w in manifest.contributions.widgets]
    assert len(widgets) >= 7 and manifest.contributions.sample_data, widgets

    import napari

    viewer = napari.Viewer(show=False)
    try:
        viewer.open_sample("napari-rat-tms", "synthetic_rat")
        assert "synthetic rat µCT" in [layer.name for layer in viewer.layers]
        for name in widgets:
            viewer.window.add_plugin_dock_widget("napari-rat-tms", name)
        layers = viewer.open(str(scan), plugin="napari-rat-tms")
        assert layers and layers[0].data.ndim == 3
        from napari_rat_tms.core.meshes.io import write_surface
        from napari_rat_tms.core.meshes.primitives import icosphere

        surface = work / "sphere.stl"
        write_surface(icosphere(0.005, 2, name="sphere"), surface, overwrite=True)
        assert viewer.open(str(surface), plugin="napari-rat-tms")
    finally:
        viewer.close()
    print(f"wheel smoke test passed: napari-rat-tms {napari_rat_tms.__version__} from {location.parent}; "
          f"{len(widgets)} widgets docked, the sample and the readers work")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
