"""Compiling and loading the package's NMODL mechanisms (mechanisms.py)."""

from __future__ import annotations

import stat

import pytest

from napari_rat_tms.core.neurons import mechanisms


def test_cache_dir_is_keyed_by_content_and_follows_the_override(tmp_path, monkeypatch):
    monkeypatch.setenv("RAT_TMS_NRNMECH_DIR", str(tmp_path / "cache"))
    folder = mechanisms.mechanism_cache_dir()
    assert folder.parent == tmp_path / "cache"
    assert len(folder.name) == 16 and int(folder.name, 16) >= 0
    monkeypatch.delenv("RAT_TMS_NRNMECH_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mechanisms.mechanism_cache_dir() == tmp_path / "xdg" / "napari-rat-tms" / "nrnmech" / folder.name


def test_mod_files_are_the_documented_mechanisms():
    names = [path.stem for path in mechanisms.mod_files()]
    assert names == sorted(mechanisms.MECHANISM_NAMES)
    for path in mechanisms.mod_files():
        text = path.read_text()
        assert "Hay et al. (2011)" in text and f"SUFFIX {path.stem}" in text


def test_compiles_into_a_fresh_cache_outside_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("RAT_TMS_NRNMECH_DIR", str(tmp_path))
    library = mechanisms.compile_mechanisms()
    assert library.is_file() and tmp_path in library.parents
    assert not list(mechanisms.MOD_DIR.glob("*/libnrnmech*"))  # nothing written into the package
    assert mechanisms.compile_mechanisms() == library  # cached: no second build
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".build-")]


def test_a_failed_compilation_says_what_to_install(tmp_path, monkeypatch):
    fake = tmp_path / "nrnivmodl"
    fake.write_text("#!/bin/sh\necho 'g++: command not found' >&2\nexit 127\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("RAT_TMS_NRNMECH_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(mechanisms, "nrnivmodl_path", lambda: fake)
    with pytest.raises(mechanisms.MechanismBuildError, match=r"apt install g\+\+ make") as info:
        mechanisms.compile_mechanisms()
    assert "command not found" in str(info.value)


def test_load_is_idempotent():
    first = mechanisms.load_mechanisms()
    assert mechanisms.load_mechanisms() == first
    assert set(mechanisms.MECHANISM_NAMES) <= mechanisms._loaded_mechanism_names()
