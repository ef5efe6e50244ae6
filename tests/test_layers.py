"""The package's import map has no upward arrow.

The core follows the data's path through the pipeline, one layer on the next; a module imports from
its own unit and from lower layers only (never from a unit of the same layer or above). Above the
core: ``viewer`` (napari layers and readers), then ``widgets`` (the docks) and ``cli``. Imports
inside functions count too: a lazy import is still an arrow. The test reads the sources (``ast``),
so it sees every module, imported or not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import napari_rat_tms

PACKAGE = Path(napari_rat_tms.__file__).parent

#: Lowest first. Each unit is a module or sub-package of ``napari_rat_tms`` ("core.x" or a top-level one).
LAYERS: tuple[frozenset[str], ...] = tuple(frozenset(layer) for layer in (
    {"core.errors", "core.files", "core.parallel", "core.progress", "core.conventions", "core.volume", "core.values",
     "core.metrics", "core.species"},                              # shared utilities, no core imports
    {"core.io", "core.synthetic", "core.figures"},                 # volumes in and out
    {"core.segmentation"},                                         # volume -> masks
    {"core.meshes"},                                               # masks -> surfaces
    {"core.coils"},                                                # coil models, primary field
    {"core.bem"},                                                  # surfaces + coil -> total field
    {"core.placement", "core.fields"},                             # where the coil sits; head models
    {"core.neurons"},                                              # field -> thresholds
    {"core.study", "core.planning"},                              # many placements, many models; planning one
    {"core.project"},                                              # the project folder
    {"core.job", "core.autosave"},                                 # the whole pipeline
    {"viewer"},                                                    # napari layers, readers, writers
    {"widgets", "cli"},                                            # docks and the command line
))
#: The package's own top level (``__version__``) may be imported from anywhere.
ANYWHERE = {"", "__init__", "__version__"}


def _unit(module: str) -> str | None:
    """``napari_rat_tms.core.bem.solver`` -> ``core.bem``; None outside the package."""
    parts = module.split(".")
    if parts[0] != "napari_rat_tms":
        return None
    parts = parts[1:]
    if not parts:
        return ""
    if parts[0] == "core" and len(parts) > 1:
        return f"core.{parts[1]}"
    return parts[0]


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _imports(text: str, module: str):
    """(line, imported module) for every import of the source ``text`` of ``module``, relative
    ones resolved."""
    package = module[: -len(".__init__")] if module.endswith(".__init__") else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                if node.module:
                    yield node.lineno, ".".join(base + [node.module])
                else:
                    for alias in node.names:
                        yield node.lineno, ".".join(base + [alias.name])
            else:
                yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def _layer_of(unit: str) -> int:
    for k, layer in enumerate(LAYERS):
        if unit in layer:
            return k
    raise AssertionError(f"{unit!r} is in no layer of tests/test_layers.py: place it there")


def _arrows(sources) -> list[str]:
    """Imports against the layers in ``sources`` = [(module name, text)]."""
    arrows = []
    for module, text in sources:
        source = _unit(module)
        if source in ANYWHERE or source == "core":
            continue
        for line, target in _imports(text, module):
            unit = _unit(target or "")
            if unit is None or unit == source or unit in ANYWHERE or unit == "core":
                continue
            if _layer_of(unit) >= _layer_of(source):
                arrows.append(f"{module}:{line} ({source}) imports {target} ({unit})")
    return arrows


def test_every_unit_has_a_layer():
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    for unit in sorted(units - ANYWHERE - {"core", "core.__init__"}):
        _layer_of(unit)


def test_no_upward_or_sideways_import():
    sources = [(_module_name(p), p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))]
    assert len(sources) > 100
    arrows = _arrows(sources)
    assert not arrows, "imports against the layers:\n" + "\n".join(arrows)


def test_the_check_sees_lazy_relative_and_sideways_arrows():
    """What the check must catch (it has teeth): a lazy relative import upward (coils -> bem, the
    arrow v0.10.0 had), a sideways one (placement -> fields), and none for a downward one."""
    upward = "def f():\n    from ..bem.sphere_model import sphere_efield\n"
    sideways = "from ..fields import head_model\n"
    downward = "from ..meshes import TriangleSurface\nfrom .. import errors\n"
    assert len(_arrows([("napari_rat_tms.core.coils.probe", upward)])) == 1
    assert len(_arrows([("napari_rat_tms.core.placement.probe", sideways)])) == 1
    assert _arrows([("napari_rat_tms.core.bem.probe", downward)]) == []


def test_no_private_name_is_imported_from_another_module():
    """A name another module needs is public (``resolve_pulse``, not ``_resolve_pulse``): private
    names stay in their module, so a reader can change them without searching the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if names:
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} imports {names} "
                                 f"from {'.' * node.level}{node.module or ''}")
    assert not found, "\n".join(found)


def test_no_blanket_warning_suppression():
    """Warnings are silenced by category where a caller knows what they say and says it elsewhere
    (``simplefilter("ignore", RuntimeWarning)``), or by an explicit policy argument
    (``on_near_surface="ignore"``, ``on_outside="ignore"``): never all warnings at once, which
    would also hide those nobody expected."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("simplefilter", "filterwarnings") and node.args
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value == "ignore"
                    and len(node.args) < 2 and not any(k.arg == "category" for k in node.keywords)):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not found, "blanket warning suppression at " + ", ".join(found)


def test_layer_roles_have_one_schema():
    """Every ``ROLE_*`` constant is defined once, in viewer/layers.py, and registered in LAYER_ROLES
    (layer type, who writes it, the metadata the docks read); no module writes a role as a bare
    string under ROLE_KEY."""
    from napari_rat_tms.viewer import layers

    defined = {}
    bare = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id.startswith("ROLE_") and node.targets[0].id != "ROLE_KEY"
                    and isinstance(node.value, ast.Constant)):
                defined.setdefault(node.targets[0].id, []).append(str(path.relative_to(PACKAGE)))
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values):
                    if (isinstance(key, ast.Name) and key.id == "ROLE_KEY" and isinstance(value, ast.Constant)):
                        bare.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert all(places == ["viewer/layers.py"] for places in defined.values()), defined
    assert not bare, bare
    values = {getattr(layers, name) for name in defined}
    assert values == set(layers.LAYER_ROLES), values ^ set(layers.LAYER_ROLES)
    assert all(r.layer_type in ("image", "labels", "points", "surface", "vectors", "shapes")
               for r in layers.LAYER_ROLES.values())


def test_one_worker_adapter():
    """Every dock starts its long work through ``widgets/_running.start_work`` (progress, cancel,
    notes and user errors the same way, see ``viewer/work.py``): no other module creates a napari
    worker, and no widget records warnings by itself."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = (node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name)
                    else None)
            if name in ("create_worker", "thread_worker") and rel != "widgets/_running.py":
                found.append(f"{rel}:{node.lineno} uses {name}")
            if (rel.startswith("widgets/") and isinstance(node, ast.Call)
                    and getattr(node.func, "attr", None) == "catch_warnings"
                    and any(k.arg == "record" for k in node.keywords)):
                found.append(f"{rel}:{node.lineno} records warnings itself")
    assert not found, "\n".join(found)


#: GUI toolkits: the core imports none of them (nor napari), the viewer adapters no Qt or magicgui.
GUI_MODULES = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "superqt", "vispy")


def test_core_imports_no_gui_and_viewer_no_qt():
    """Every module of ``core`` (read from the sources, lazy imports included) imports no napari, Qt,
    magicgui, superqt or vispy: the core runs in scripts, the CLI and tests without a display. The
    ``viewer`` adapters may use napari's layer API, never Qt widgets or magicgui."""
    found, scanned = [], 0
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        unit = _unit(module) or ""
        if not (unit.startswith("core") or unit == "viewer"):
            continue
        scanned += 1
        banned = GUI_MODULES if unit.startswith("core") else tuple(m for m in GUI_MODULES if m != "napari")
        for line, imported in _imports(path.read_text(encoding="utf-8"), module):
            if imported and imported.split(".")[0] in banned:
                found.append(f"{module}:{line} imports {imported}")
    assert scanned > 100 and not found, "\n".join(found)
    probe = list(_imports("def f():\n    from qtpy.QtWidgets import QLabel\n", "napari_rat_tms.core.x"))
    assert probe == [(2, "qtpy.QtWidgets")]          # a lazy import is seen
