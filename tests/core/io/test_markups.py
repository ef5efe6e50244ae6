"""3D Slicer landmark files (markups JSON and fiducial CSV): reading, writing, the volume frame,
and the 45 numbered landmarks of the real mouse scans (skipped without ../shared)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_rat_tms.core.errors import RatTmsError
from napari_rat_tms.core.io import read_volume, write_nifti
from napari_rat_tms.core.io.markups import (
    MAGA_2017_LANDMARKS, Markups, MarkupsError, from_volume_frame, landmarks_from_markups,
    read_markups, to_volume_frame, write_markups_json)
from napari_rat_tms.core.volume import Volume

from ...conftest import shared_data_or_skip

POINTS = np.array([[1.5, -2.25, 3.0], [10.0, 20.0, -30.5], [-0.125, 0.0, 7.75]])
LABELS = ("Bregma", "lambda", "MIDLINE")


def _json_doc(points=POINTS, labels=LABELS, frame="LPS", units="mm", statuses=None):
    statuses = statuses or ["defined"] * len(labels)
    return {
        "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/"
                   "Markups/Resources/Schema/markups-schema-v1.0.3.json#",
        "markups": [{
            "type": "Fiducial", "coordinateSystem": frame, "coordinateUnits": units,
            "controlPoints": [
                {"id": str(k + 1), "label": lab, "position": list(map(float, p)),
                 "positionStatus": st}
                for k, (lab, p, st) in enumerate(zip(labels, points, statuses))],
        }],
    }


def _write(path, content):
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


FCSV_411 = """# Markups fiducial file version = 4.11
# CoordinateSystem = LPS
# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID
vtkMRMLMarkupsFiducialNode_0,1.5,-2.25,3,0,0,0,1,1,1,0,Bregma,,vtkMRMLScalarVolumeNode1
vtkMRMLMarkupsFiducialNode_1,10,20,-30.5,0,0,0,1,1,1,0,lambda,"a note, with a comma",
vtkMRMLMarkupsFiducialNode_2,-0.125,0,7.75,0,0,0,1,1,1,0,MIDLINE,NA,vtkMRMLScalarVolumeNode1
"""


# ------------------------------------------------------------------------------ reading
@pytest.mark.parametrize("frame", ["LPS", "RAS"])
def test_read_json(tmp_path, frame):
    m = read_markups(_write(tmp_path / "a.mrk.json", _json_doc(frame=frame)))
    assert isinstance(m, Markups)
    assert m.labels == LABELS and m.frame == frame and m.source.endswith("a.mrk.json")
    np.testing.assert_array_equal(m.points_mm, POINTS)
    assert m.notes == ()
    flip = np.array([-1.0, -1.0, 1.0])
    np.testing.assert_array_equal(m.in_frame("RAS" if frame == "LPS" else "LPS"), POINTS * flip)
    with pytest.raises(ValueError):  # frozen, read-only points
        m.points_mm[0, 0] = 0.0


def test_json_in_micrometres_is_converted(tmp_path):
    m = read_markups(_write(tmp_path / "um.mrk.json", _json_doc(points=POINTS * 1000, units="um")))
    np.testing.assert_allclose(m.points_mm, POINTS)
    assert any("um" in note for note in m.notes)


def test_undefined_points_are_skipped_with_a_note(tmp_path):
    doc = _json_doc(statuses=["defined", "undefined", "missing"])
    del doc["markups"][0]["controlPoints"][1]["position"]  # Slicer may leave it out
    m = read_markups(_write(tmp_path / "u.mrk.json", doc))
    assert m.labels == ("Bregma",)
    np.testing.assert_array_equal(m.points_mm, POINTS[:1])
    assert "lambda (undefined)" in m.notes[0] and "MIDLINE (missing)" in m.notes[0]


def test_read_fcsv_411(tmp_path):
    m = read_markups(_write(tmp_path / "a.fcsv", FCSV_411))
    assert m.labels == LABELS and m.frame == "LPS" and m.notes == ()
    np.testing.assert_array_equal(m.points_mm, POINTS)


@pytest.mark.parametrize("line, frame", [("# CoordinateSystem = RAS", "RAS"),
                                         ("# CoordinateSystem = 0", "RAS"),
                                         ("# CoordinateSystem = 1", "LPS"),
                                         (None, "RAS")])
def test_fcsv_coordinate_systems(tmp_path, line, frame):
    text = FCSV_411.replace("# CoordinateSystem = LPS", line) if line else \
        FCSV_411.replace("# CoordinateSystem = LPS\n", "")
    m = read_markups(_write(tmp_path / "b.fcsv", text))
    assert m.frame == frame
    np.testing.assert_array_equal(m.points_mm, POINTS)
    assert (line is None) == any("RAS assumed" in note for note in m.notes)


def test_fcsv_other_column_order_and_numbered_labels(tmp_path):
    text = "# columns = label,z,y,x\n13,3,2,1\n16,6,5,4\n"
    m = read_markups(_write(tmp_path / "c.fcsv", text))
    assert m.labels == ("13", "16") and m.frame == "RAS"
    np.testing.assert_array_equal(m.points_mm, [[1, 2, 3], [4, 5, 6]])
    assert m.find(" 13 ") == [0] and m.find("x") == []


# ------------------------------------------------------------------------------ round trip
@pytest.mark.parametrize("frame", ["LPS", "RAS"])
def test_round_trip(tmp_path, frame):
    path = write_markups_json(tmp_path / "sub" / "landmarks.mrk.json", LABELS, POINTS, frame,
                              descriptions=["", "x", "y"])
    doc = json.loads(path.read_text())
    assert "markups-schema-v1.0" in doc["@schema"]
    assert doc["markups"][0]["coordinateUnits"] == "mm"
    m = read_markups(path)
    assert m.labels == LABELS and m.frame == frame
    np.testing.assert_array_equal(m.points_mm, POINTS)  # repr of floats: exact


def test_write_refuses_inconsistent_input(tmp_path):
    with pytest.raises(ValueError, match="2 labels for 3 points"):
        write_markups_json(tmp_path / "x.mrk.json", LABELS[:2], POINTS)
    with pytest.raises(ValueError, match="frame"):
        write_markups_json(tmp_path / "x.mrk.json", LABELS, POINTS, "IJK")
    with pytest.raises(ValueError, match="finite"):
        write_markups_json(tmp_path / "x.mrk.json", LABELS, POINTS * np.nan)


# ------------------------------------------------------------------------------ broken files
def _broken_json(change):
    doc = _json_doc()
    change(doc)
    return json.dumps(doc)


BROKEN = {
    "truncated JSON": ("t.mrk.json", json.dumps(_json_doc())[:-40], "not valid JSON"),
    "no markups list": ("n.mrk.json", '{"@schema": "x", "nodes": []}', "no \"markups\" list"),
    "unknown frame": ("f.mrk.json", _broken_json(
        lambda d: d["markups"][0].update(coordinateSystem="IJK")), "coordinateSystem 'IJK'"),
    "unknown units": ("u.mrk.json", _broken_json(
        lambda d: d["markups"][0].update(coordinateUnits="cm")), "coordinateUnits 'cm'"),
    "2D position": ("p.mrk.json", _broken_json(
        lambda d: d["markups"][0]["controlPoints"][1].update(position=[1.0, 2.0])),
        "control point 'lambda'"),
    "no defined point": ("e.mrk.json", _broken_json(
        lambda d: d["markups"][0].update(controlPoints=[])), "no defined landmark"),
    "empty file": ("z.mrk.json", "  \n", "is empty"),
    "fcsv without x": ("x.fcsv", "# columns = id,a,y,z,label\n1,2,3,4,b\n", "no x column"),
    "fcsv text as number": ("y.fcsv", FCSV_411.replace("-30.5", "abc"), "line 5"),
    "fcsv bad frame": ("w.fcsv", FCSV_411.replace("= LPS", "= XYZ"), "CoordinateSystem 'XYZ'"),
    "fcsv comments only": ("c.fcsv", "# CoordinateSystem = LPS\n", "no landmark"),
    "unknown suffix": ("l.txt", "1,2,3", "unknown landmark format"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_files_give_a_clear_error(tmp_path, case):
    name, content, words = BROKEN[case]
    path = _write(tmp_path / name, content)
    with pytest.raises(MarkupsError) as info:
        read_markups(path)
    message = str(info.value)
    assert str(path) in message and words in message, message
    assert isinstance(info.value, ValueError) and isinstance(info.value, RatTmsError)


def test_missing_file(tmp_path):
    with pytest.raises(MarkupsError, match="no such landmark file"):
        read_markups(tmp_path / "absent.mrk.json")


# ------------------------------------------------------------------------------ volume frame
def _oblique_volume(frame="RAS"):
    """A volume whose scanner affine permutes, flips, scales and shifts the axes."""
    spacing = (0.5, 0.25, 0.4)
    affine = np.array([[0.0, 0.0, -0.4, 12.0],
                       [0.0, 0.25, 0.0, -3.0],
                       [-0.5, 0.0, 0.0, 7.5],
                       [0.0, 0.0, 0.0, 1.0]])
    return Volume(np.zeros((20, 30, 40), np.int16), spacing, scanner_affine_mm=affine,
                  scanner_frame=frame)


@pytest.mark.parametrize("volume_frame", ["RAS", "LPS"])
@pytest.mark.parametrize("file_frame", ["RAS", "LPS"])
def test_to_volume_frame_of_a_known_voxel(volume_frame, file_frame):
    volume = _oblique_volume(volume_frame)
    index = np.array([[3.0, 17.0, 25.0], [0.0, 0.0, 0.0], [19.0, 29.0, 39.0]])
    scanner = (volume.scanner_affine_mm @ np.c_[index, np.ones(3)].T).T[:, :3]
    if file_frame != volume_frame:
        scanner = scanner * [-1.0, -1.0, 1.0]
    markups = Markups(("a", "b", "c"), scanner, file_frame)
    np.testing.assert_allclose(to_volume_frame(markups, volume), index * volume.voxel_size_mm,
                               atol=1e-12)
    back = from_volume_frame(index * volume.voxel_size_mm, volume, frame=file_frame)
    np.testing.assert_allclose(back, scanner, atol=1e-12)


def test_landmark_on_a_bright_voxel_of_a_nifti_file(tmp_path):
    """Independent of our affine handling: nibabel gives the voxel's RAS position, the file says
    LPS, and the point must come back on the bright voxel of the array we read."""
    import nibabel as nib

    data = np.zeros((15, 12, 10), np.int16)
    data[11, 4, 7] = 1000
    affine = np.array([[0.0, 0.0, -0.3, 4.0], [0.0, -0.2, 0.0, 9.0], [0.25, 0.0, 0.0, -2.0],
                       [0, 0, 0, 1.0]])
    source = Volume(data, (0.25, 0.2, 0.3), scanner_affine_mm=affine, scanner_frame="RAS")
    path = write_nifti(source, tmp_path / "bright.nii.gz")
    img = nib.load(str(path))
    ijk = np.argwhere(np.asarray(img.dataobj) == 1000)[0]  # file order (i, j, k)
    ras = img.affine @ np.r_[ijk, 1.0]
    lps = ras[:3] * [-1.0, -1.0, 1.0]
    landmarks = write_markups_json(tmp_path / "bright.mrk.json", ["bright"], [lps], "LPS")
    volume = read_volume(path)
    p = to_volume_frame(read_markups(landmarks), volume)[0]
    index = np.round(volume.mm_to_index(p)).astype(int)
    np.testing.assert_allclose(volume.mm_to_index(p), index, atol=1e-4)
    assert volume.data[tuple(index)] == 1000


def test_unknown_scanner_frame_is_refused():
    volume = Volume(np.zeros((4, 4, 4)), 1.0)  # scanner_frame "unknown"
    markups = Markups(("a",), [[1.0, 2.0, 3.0]], "LPS")
    with pytest.raises(MarkupsError, match="no known scanner coordinate system"):
        to_volume_frame(markups, volume)
    with pytest.raises(MarkupsError, match="cannot be saved"):
        from_volume_frame([[1.0, 2.0, 3.0]], volume)


# ------------------------------------------------------------------------------ landmarks
def _inside_volume():
    volume = _oblique_volume("RAS")
    index = np.array([[5.0, 10.0, 30.0], [5.0, 10.0, 10.0], [5.0, 25.0, 35.0], [2.0, 2.0, 2.0]])
    ras = (volume.scanner_affine_mm @ np.c_[index, np.ones(len(index))].T).T[:, :3]
    return volume, index * volume.voxel_size_mm, ras * [-1.0, -1.0, 1.0]


def test_landmarks_by_name_ignoring_case():
    volume, expected, lps = _inside_volume()
    markups = Markups((" BREGMA", "Lambda", "midline", "other"), lps, "LPS")
    got = landmarks_from_markups(markups, volume)
    assert set(got) == {"bregma", "lambda", "midline"}
    for k, name in enumerate(("bregma", "lambda", "midline")):
        np.testing.assert_allclose(got[name], expected[k], atol=1e-12)


def test_landmarks_of_a_numbered_file():
    volume, expected, lps = _inside_volume()
    markups = Markups(("13", "16", "1", "2"), lps, "LPS")
    with pytest.raises(MarkupsError, match=r"numbered.*\{'bregma': '13'"):
        landmarks_from_markups(markups, volume)
    got = landmarks_from_markups(markups, volume, MAGA_2017_LANDMARKS)
    np.testing.assert_allclose(got["lambda"], expected[1], atol=1e-12)
    got = landmarks_from_markups(markups, volume, {"bregma": "2", "lambda": "16", "midline": "1"})
    np.testing.assert_allclose(got["bregma"], expected[3], atol=1e-12)


def test_landmark_errors():
    volume, _, lps = _inside_volume()
    with pytest.raises(MarkupsError, match="no point labelled 'lambda'.*'bregma', 'x'"):
        landmarks_from_markups(Markups(("bregma", "x", "midline", "y"), lps, "LPS"), volume)
    with pytest.raises(MarkupsError, match="2 points are labelled 'bregma'"):
        landmarks_from_markups(Markups(("bregma", "lambda", "midline", "Bregma"), lps, "LPS"),
                               volume)
    with pytest.raises(ValueError, match="unknown landmark name"):
        landmarks_from_markups(Markups(LABELS + ("x",), lps, "LPS"), volume, {"nasion": "x"})
    far = lps.copy()
    far[1] += [0.0, 0.0, 50.0]
    with pytest.raises(MarkupsError, match="lambda.*outside the scan"):
        landmarks_from_markups(Markups(LABELS + ("x",), far, "LPS"), volume)


# ------------------------------------------------------------------------------ real files
MAGA_LABELS = {str(n) for n in range(1, 52)} - {"23", "26", "34", "35", "45", "48"}
MATCHING_SCANS = ("C57BL6_J_", "BALB_CJ_", "DBA_2J_", "A_J_", "NZW_LACJ_", "CAF1_J_", "C3H_HEJ_")


@pytest.mark.parametrize("scan", MATCHING_SCANS)
def test_maga_landmarks_on_the_real_skulls(scan):
    """Bregma ("13"), lambda ("16") and nasale ("1") of the repository's files land on the
    surface of the bone of their scans (bone and non-bone within 0.3 mm), bregma and lambda
    3.2-4.8 mm apart (measured 3.38-4.64), bregma in front (nasale closer to it). A wrong frame
    (LPS read as RAS) or a wrong index order puts them off the skull."""
    markups = read_markups(shared_data_or_skip("mouse-ct", "landmarks", f"{scan}.mrk.json"))
    volume = read_volume(shared_data_or_skip("mouse-ct", f"{scan}.nii.gz"))
    assert len(markups) == 45 and set(markups.labels) == MAGA_LABELS and markups.frame == "LPS"
    lm = landmarks_from_markups(markups, volume, MAGA_2017_LANDMARKS)
    bregma, lam, nasale = lm["bregma"], lm["lambda"], lm["midline"]
    assert 3.2 < np.linalg.norm(bregma - lam) < 4.8
    assert np.linalg.norm(nasale - bregma) + 3.0 < np.linalg.norm(nasale - lam)
    data = volume.data
    for p in (bregma, lam, nasale):
        i = np.round(volume.mm_to_index(p)).astype(int)
        near = data[tuple(slice(max(k - 2, 0), k + 3) for k in i)]  # within 0.3 mm
        assert near.max() > 22, (scan, p)  # bone
        assert near.min() < 15, (scan, p)  # and something that is not: the surface


def test_molg_landmark_file_does_not_match_its_scan():
    """The repository's MOLG/DnJ landmarks lie outside its scan (made on a differently oriented
    copy): refused, saying so."""
    markups = read_markups(shared_data_or_skip("mouse-ct", "landmarks", "MOLG.DnJ_.mrk.json"))
    volume = read_volume(shared_data_or_skip("mouse-ct", "MOLG.DnJ_.nii.gz"))
    assert len(markups) == 45
    with pytest.raises(MarkupsError, match="outside the scan"):
        landmarks_from_markups(markups, volume, MAGA_2017_LANDMARKS)
