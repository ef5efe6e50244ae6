"""Shared file utilities (core/files.py): hashes of files and folders."""

from __future__ import annotations

import hashlib

from napari_rat_tms.core.files import file_sha256, path_sha256


def test_file_and_folder_digests(tmp_path):
    (tmp_path / "series").mkdir()
    (tmp_path / "series" / "b.dcm").write_bytes(b"second")
    (tmp_path / "series" / "a.dcm").write_bytes(b"first")
    (tmp_path / "one.nii").write_bytes(b"volume")
    assert file_sha256(tmp_path / "one.nii") == hashlib.sha256(b"volume").hexdigest()
    assert path_sha256(tmp_path / "one.nii") == file_sha256(tmp_path / "one.nii")
    # a folder: its files' bytes in the sorted order of their paths (a DICOM series read as one scan)
    assert path_sha256(tmp_path / "series") == hashlib.sha256(b"firstsecond").hexdigest()
