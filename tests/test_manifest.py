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


def test_readers_claim_only_what_they_read(tmp_path):
    """Issue 24: the project reader was registered for "*", so napari asked "Choose reader" for
    every file (a photo, a table). Now: scans by extension, surfaces by extension, a project by
    its folder or its ``project.json``."""
    from napari_rat_tms.viewer.job_folder import get_job_reader

    pm = npe2.PluginManager.instance()
    pm.discover()

    def ours(path):
        return sorted(r.command for r in pm.iter_compatible_readers([str(path)])
                      if r.command.startswith("napari-rat-tms."))

    for name in ("photo.png", "table.csv", "notes.txt", "movie.mp4"):
        (tmp_path / name).write_text("x")
        assert ours(tmp_path / name) == [], name
    assert ours(tmp_path / "scan.nii.gz") == ["napari-rat-tms.get_reader"]
    assert ours(tmp_path / "skull.stl") == ["napari-rat-tms.get_surface_reader"]
    project = tmp_path / "study"
    project.mkdir()
    (project / "project.json").write_text("{}")
    assert ours(project / "project.json") == ["napari-rat-tms.get_job_reader"]
    assert "napari-rat-tms.get_job_reader" in ours(project)          # a folder
    # the reader itself takes the folder or its project.json, and nothing else
    assert callable(get_job_reader(str(project))) and callable(get_job_reader(str(project / "project.json")))
    assert get_job_reader(str(tmp_path)) is None and get_job_reader(str(tmp_path / "photo.png")) is None


def test_the_source_distribution_is_complete(tmp_path):
    """Issue 24: the sdist lacked the tests' conftest (and their subfolders), the README's images and
    the benchmarks."""
    import subprocess
    import sys
    import tarfile
    from pathlib import Path

    import pytest

    pytest.importorskip("build", reason="the 'build' package (pip install build) builds the sdist")
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "build", "--sdist", "-o", str(tmp_path),
                             str(repo)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (sdist,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for required in ("tests/conftest.py", "tests/widgets/test_walkthrough.py", "tests/core/bem/test_solver.py",
                     "docs/walkthrough/4_efield.png", "docs/napari_field.png", "BENCHMARKS.md",
                     "benchmarks/bench_napari_first_field.py", "src/napari_rat_tms/napari.yaml", "LICENSE",
                     "docs/DESCRIPTION.md"):
        assert required in names, required
    # the page PyPI and the napari hub show is the package description, not the developers' README
    with tarfile.open(sdist) as tar:
        pkg_info = next(m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO"))
        metadata = tar.extractfile(pkg_info).read().decode("utf-8")
    assert "Description-Content-Type: text/markdown" in metadata
    assert "## In napari" in metadata and "## From the command line" in metadata
    assert "magicgui" not in metadata.split("\n\n", 1)[0]     # napari brings it (and Qt)


def test_the_package_description_reads_on_its_own():
    """Issue 24: the page of PyPI and the napari hub (``docs/DESCRIPTION.md``, the ``readme`` of
    pyproject.toml) must work away from this repository: no relative link or image (they do not
    resolve there), no ``../shared`` (developers' data), no path of a build machine; the menus and
    commands it names exist."""
    import re
    import shlex
    from pathlib import Path

    from napari_rat_tms.cli import build_parser

    repo = Path(__file__).resolve().parents[1]
    pyproject = (repo / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^readme = "docs/DESCRIPTION.md"', pyproject, re.M)
    text = (repo / "docs" / "DESCRIPTION.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)]*)\)", text)
    assert targets and all(t.startswith("https://") for t in targets), targets
    assert "<img" not in text and "../shared" not in text
    assert not re.search(r"(/work/|/home/|/tmp/|[A-Z]:\\)", text)
    manifest = npe2.PluginManifest.from_distribution("napari-rat-tms")
    docks = {w.display_name for w in manifest.contributions.widgets}
    for name in re.findall(r"Plugins > Rat TMS > ([^*]+)\*\*", text):
        assert name in docks, name
    for name in re.findall(r"\*\*([A-Z][\w -]+)\*\* \(the 630", text):
        assert name in docks, name
    parser = build_parser()
    commands = [line.split("#")[0].strip() for line in text.splitlines() if line.startswith("rat-tms ")]
    assert len(commands) >= 4
    for command in commands:
        args = shlex.split(command)[1:]
        parsed = parser.parse_args(args)           # exits (SystemExit) on an unknown command or option
        assert parsed.command == args[0]
