"""The npe2 manifest is valid and napari lists the plugin with its contributions."""

import npe2


def test_manifest_is_valid():
    manifest = npe2.PluginManifest.from_distribution("napari-rat-tms")
    manifest.validate_imports()
    assert manifest.name == "napari-rat-tms"
    assert {c.key for c in manifest.contributions.sample_data} == {"synthetic_rat"}
    patterns = set(manifest.contributions.readers[0].filename_patterns)
    assert {"*.nii", "*.nii.gz", "*.nrrd", "*.mhd", "*.mha", "*.tif", "*.dcm"} <= patterns
    assert manifest.contributions.readers[0].accepts_directories


def test_napari_lists_the_plugin():
    pm = npe2.PluginManager.instance()
    pm.discover()
    assert any(m.name == "napari-rat-tms" for m in pm.iter_manifests())


def test_core_imports_no_qt_or_napari():
    """The core must stay usable without a display: importing every module of ``core`` (and the
    CLI) loads neither Qt nor napari nor magicgui."""
    import subprocess
    import sys

    code = (
        "import importlib, pkgutil, sys\n"
        "import napari_rat_tms.core as core, napari_rat_tms.cli\n"
        "names = [m.name for m in pkgutil.walk_packages(core.__path__, 'napari_rat_tms.core.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'magicgui', 'superqt'))\n"
        "print(len(names), 'core modules;', bad)\n"
        "sys.exit(1 if bad or len(names) < 50 else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_menus_are_named_as_the_readme_says():
    """Issue 25: napari names the sample's and the docks' submenus after the plugin's display name;
    the README sends users to "File > Open Sample > Rat TMS" and "Plugins > Rat TMS > ..."."""
    from pathlib import Path

    manifest = npe2.PluginManifest.from_distribution("napari-rat-tms")
    assert manifest.display_name == "Rat TMS"
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "File > Open Sample > Rat TMS**" in readme and "Plugins > Rat TMS > Segmentation" in readme
