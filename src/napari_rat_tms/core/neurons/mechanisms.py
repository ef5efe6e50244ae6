"""The package's NMODL ion-channel mechanisms: compiled on first use, cached, loaded once.

The ``mechanisms/`` folder holds mammalian channel models written for this package from the
published equations (each file's header gives them, their source, reference temperature and q10),
all in the formulation of Hay et al. (2011) PLoS Comput Biol 7:e1002107:

* ``rtms_NaTa_t``: transient Na+ current (axon), Colbert & Pan (2002);
* ``rtms_SKv3_1``: fast Kv3.1 K+ current, Rettig et al. (1992);

the reduced set of ``cells.py``; with them, the full set (``Biophysics(channels="hay2011")``):

* ``rtms_NaTs2_t``: transient Na+ current of soma and dendrites (NaTa_t shifted +6 mV);
* ``rtms_Nap_Et2``: persistent Na+ current, Magistretti & Alonso (1999);
* ``rtms_K_Pst``, ``rtms_K_Tst``: slow and fast inactivating K+ currents, Korngreen & Sakmann (2000);
* ``rtms_SK_E2``: Ca2+-activated SK K+ current, Kohler et al. (1996);
* ``rtms_Ca_HVA``: high-voltage-activated Ca2+ current, Reuveni et al. (1993);
* ``rtms_Ca_LVAst``: low-voltage-activated Ca2+ current, Avery & Johnston (1996);
* ``rtms_CaDynamics_E2``: submembrane [Ca2+]_i with first-order removal (Hay et al. 2011);
* ``rtms_Ih``: hyperpolarisation-activated cation current, Kole et al. (2006) (non-specific,
  own reversal potential -45 mV);
* ``rtms_Im``: M-type K+ current, Adams et al. (1982).

The passive leak is NEURON's built-in ``pas`` and the field coupling NEURON's ``extracellular``.

:func:`load_mechanisms` compiles the .mod files with NEURON's ``nrnivmodl`` (which needs a C++
compiler and make: on Debian/Ubuntu ``apt install g++ make``) into a per-user cache folder keyed by
a hash of the .mod files and the NEURON version::

    $RAT_TMS_NRNMECH_DIR/<hash>/           (when the environment variable is set)
    $XDG_CACHE_HOME/napari-rat-tms/nrnmech/<hash>/   (default ~/.cache/napari-rat-tms/nrnmech/<hash>/)

It never writes into the installed package. The build happens in a temporary folder next to the
cache entry, moved into place when complete, so that two processes compiling at once do not see
half-built libraries. The compiled library is loaded into NEURON once per process.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import RatTmsError

__all__ = [
    "MechanismBuildError",
    "MECHANISM_NAMES",
    "mod_files",
    "mechanism_cache_root",
    "mechanism_cache_dir",
    "compile_mechanisms",
    "load_mechanisms",
    "nrnivmodl_path",
]

#: Names (NEURON SUFFIX) of the package's density mechanisms.
MECHANISM_NAMES = ("rtms_CaDynamics_E2", "rtms_Ca_HVA", "rtms_Ca_LVAst", "rtms_Ih", "rtms_Im", "rtms_K_Pst",
                   "rtms_K_Tst", "rtms_NaTa_t", "rtms_NaTs2_t", "rtms_Nap_Et2", "rtms_SK_E2", "rtms_SKv3_1")

MOD_DIR = Path(__file__).with_name("mechanisms")

_INSTALL_HINT = ("NEURON compiles its ion-channel files (NMODL) with a C++ compiler and make: install "
                 "them (Debian/Ubuntu: sudo apt install g++ make; macOS: xcode-select --install; "
                 "conda: conda install -c conda-forge cxx-compiler make) and try again.")

_loaded_library: Path | None = None


class MechanismBuildError(RatTmsError):
    """The NMODL mechanisms could not be compiled or loaded (no compiler, nrnivmodl missing...)."""


def mod_files() -> list[Path]:
    """The package's .mod files, sorted by name."""
    files = sorted(MOD_DIR.glob("*.mod"))
    if not files:
        raise MechanismBuildError(f"no .mod files in {MOD_DIR}: the package installation is incomplete")
    return files


def _neuron_version() -> str:
    try:
        import neuron
        return str(neuron.__version__)
    except ImportError as exc:
        raise MechanismBuildError(
            "NEURON is not installed: pip install 'napari-rat-tms[neurons]' (or 'neuron>=9.0'; wheels for "
            "Linux and macOS, on Windows install NEURON from https://nrn.readthedocs.io)") from exc


def _content_hash() -> str:
    digest = hashlib.sha256()
    for path in mod_files():
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    digest.update(f"neuron {_neuron_version()} {platform.machine()} {sys.platform}".encode())
    return digest.hexdigest()[:16]


def mechanism_cache_root() -> Path:
    """The cache root: ``$RAT_TMS_NRNMECH_DIR``, else ``$XDG_CACHE_HOME/napari-rat-tms/nrnmech``
    (default ``~/.cache/napari-rat-tms/nrnmech``)."""
    override = os.environ.get("RAT_TMS_NRNMECH_DIR")
    if override:
        return Path(override).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home).expanduser() / "napari-rat-tms" / "nrnmech"


def mechanism_cache_dir() -> Path:
    """Folder of the compiled mechanisms for the current .mod files and NEURON version."""
    return mechanism_cache_root() / _content_hash()


def nrnivmodl_path() -> Path:
    """``nrnivmodl`` beside the running Python (a venv's bin/), else on PATH."""
    candidate = Path(sys.executable).with_name("nrnivmodl")
    if candidate.exists():
        return candidate
    found = shutil.which("nrnivmodl")
    if found:
        return Path(found)
    raise MechanismBuildError("nrnivmodl (NEURON's NMODL compiler) was not found beside "
                              f"{sys.executable} nor on PATH: install NEURON with pip install 'neuron>=9.0'")


def _library_in(folder: Path) -> Path | None:
    for arch in (platform.machine(), "x86_64", "arm64", "aarch64", "i686", "powerpc", "umac"):
        for name in ("libnrnmech.so", "libnrnmech.dylib", ".libs/libnrnmech.so"):
            path = folder / arch / name
            if path.exists():
                return path
    dll = folder / "nrnmech.dll"
    return dll if dll.exists() else None


def compile_mechanisms(force: bool = False) -> Path:
    """Compile the .mod files into the cache (if not there yet, or ``force``); return the library.

    Raises :class:`MechanismBuildError` with nrnivmodl's output and what to install when the
    compilation fails.
    """
    target = mechanism_cache_dir()
    library = _library_in(target)
    if library is not None and not force:
        return library
    target.parent.mkdir(parents=True, exist_ok=True)
    nrnivmodl = nrnivmodl_path()
    build = Path(tempfile.mkdtemp(prefix=f".build-{target.name}-", dir=target.parent))
    try:
        for path in mod_files():
            shutil.copy2(path, build / path.name)
        try:
            result = subprocess.run([str(nrnivmodl)], cwd=build, capture_output=True, text=True,
                                    timeout=600, env={**os.environ})
        except OSError as exc:
            raise MechanismBuildError(f"could not run {nrnivmodl}: {exc}. {_INSTALL_HINT}") from exc
        built = _library_in(build)
        if result.returncode != 0 or built is None:
            tail = (result.stdout + result.stderr)[-3000:]
            raise MechanismBuildError(f"compiling the NMODL mechanisms with {nrnivmodl} failed "
                                      f"(exit status {result.returncode}). {_INSTALL_HINT}\n"
                                      f"nrnivmodl output (end):\n{tail}")
        if force and target.exists():
            shutil.rmtree(target, ignore_errors=True)
        try:
            build.rename(target)
        except OSError:
            # another process finished first: use its build
            if _library_in(target) is None:
                raise
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)
    library = _library_in(target)
    if library is None:  # pragma: no cover - defensive
        raise MechanismBuildError(f"the compiled mechanisms are missing from {target}")
    return library


def _loaded_mechanism_names() -> set[str]:
    from neuron import h

    mechanism_type = h.MechanismType(0)
    name = h.ref("")
    names = set()
    for i in range(int(mechanism_type.count())):
        mechanism_type.select(i)
        mechanism_type.selected(name)
        names.add(name[0])
    return names


def load_mechanisms() -> Path:
    """Make the package's mechanisms available in this process's NEURON; return the library path.

    Compiles them on first use (:func:`compile_mechanisms`); loads the library once per process (a
    second call returns at once). If mechanisms of the same names were already loaded from elsewhere
    (e.g. another copy of the library) they are used as they are.
    """
    global _loaded_library
    if _loaded_library is not None:
        return _loaded_library
    _neuron_version()      # a clear error when NEURON is not installed
    from neuron import h

    if set(MECHANISM_NAMES) <= _loaded_mechanism_names():
        _loaded_library = Path("<already loaded>")
        return _loaded_library
    library = compile_mechanisms()
    try:
        ok = h.nrn_load_dll(str(library))
    except RuntimeError as exc:
        raise MechanismBuildError(f"NEURON could not load {library}: {exc}. Delete that folder to force "
                                  "a rebuild.") from exc
    if not ok or not set(MECHANISM_NAMES) <= _loaded_mechanism_names():
        raise MechanismBuildError(f"NEURON could not load the mechanisms {MECHANISM_NAMES} from {library}; "
                                  "delete that folder to force a rebuild.")
    _loaded_library = library
    return library
