"""Landmark files of 3D Slicer (markups JSON ``.mrk.json`` and fiducial CSV ``.fcsv``).

Formats
    * Markups JSON, the format of 3D Slicer >= 4.11: one JSON object with ``"@schema"`` (e.g.
      ``.../Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#``) and
      ``"markups"``: a list of markups nodes, each with ``"coordinateSystem"`` (``"LPS"`` or
      ``"RAS"``; the schema's default is LPS), ``"coordinateUnits"`` (``"mm"``, the default, or
      ``"um"``) and ``"controlPoints"``: objects with ``"label"``, ``"position"`` ([x, y, z]) and
      ``"positionStatus"`` (``"defined"``, ``"preview"``, ``"undefined"``, ``"missing"``). Schema:
      https://github.com/Slicer/Slicer/tree/main/Modules/Loadable/Markups/Resources/Schema
    * Fiducial CSV (``.fcsv``), the format of Slicer 4.x: comment lines
      ``# Markups fiducial file version = 4.11``, ``# CoordinateSystem = LPS`` (``RAS``, or the
      numbers ``0`` = RAS, ``1`` = LPS of older files; files without the line are RAS, as Slicer
      wrote them before 4.11) and ``# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,
      associatedNodeID``, then one comma-separated line per point. Positions are millimetres.
      https://slicer.readthedocs.io/en/latest/user_guide/modules/markups.html

Frames and units
    Positions are millimetres in the *scanner* (patient) frame that the file names: LPS (x to the
    patient's left, y posterior, z superior; DICOM, ITK and Slicer's files) or RAS (x right, y
    anterior, z superior; NIfTI, Slicer's own display). The two differ by the sign of x and y.
    :func:`to_volume_frame` takes them to the plugin's volume frame (array index times voxel size,
    mm; see :mod:`napari_rat_tms.core.conventions`) through the scan's
    :attr:`~napari_rat_tms.core.volume.Volume.scanner_affine_mm`, and
    :func:`from_volume_frame` back, for saving with :func:`write_markups_json`.

Landmark names
    :func:`landmarks_from_markups` picks bregma, lambda and a midline point (what
    :func:`~napari_rat_tms.core.placement.stereotaxic.frame_from_landmarks` needs) by label;
    files with numbered landmarks need a map from these names to the numbers, e.g.
    :data:`MAGA_2017_LANDMARKS` for the 45 cranial landmarks of Maga et al. (2017).

No Qt or napari here.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import RatTmsError
from ..volume import Volume

__all__ = [
    "MarkupsError",
    "Markups",
    "read_markups",
    "write_markups_json",
    "to_volume_frame",
    "from_volume_frame",
    "landmarks_from_markups",
    "LANDMARK_NAMES",
    "MAGA_2017_LANDMARKS",
    "MARKUPS_FRAMES",
    "MARKUPS_SCHEMA",
    "MARKUPS_FILE_PATTERNS",
]

#: The coordinate systems a Slicer landmark file can be in.
MARKUPS_FRAMES = ("LPS", "RAS")
#: The schema that :func:`write_markups_json` writes (Slicer 4.11-5.x read it).
MARKUPS_SCHEMA = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
    "Resources/Schema/markups-schema-v1.0.3.json#"
)
#: File dialog patterns of the formats :func:`read_markups` reads.
MARKUPS_FILE_PATTERNS = ("*.mrk.json", "*.json", "*.fcsv")
#: The landmarks :func:`landmarks_from_markups` returns.
LANDMARK_NAMES = ("bregma", "lambda", "midline")

#: Which of the 45 numbered cranial landmarks of Maga et al. (2017) (repository
#: ``muratmaga/mouse_CT_atlas``: ``data/templates/45_LM-skull.mrk.json``, transferred to each scan
#: in ``data/target_LMs/*.mrk.json``; labels "1" to "51" with gaps) are bregma, lambda and a
#: midline point. The repository does not name them; they were identified on its scans:
#:
#: * ``"13"`` is **bregma**: on all 7 scans whose file matches its scan (C57BL/6J, BALB/cJ,
#:   DBA/2J, A/J, NZW/LacJ, CAF1/J, C3H/HeJ), a map of the dorsal skull surface (intensity just
#:   under the surface, viewed from above, aligned with the landmarks) shows it exactly where the
#:   dark line of the coronal suture meets that of the sagittal suture; it lies on the bone
#:   (<= 0.1 mm from intensity > 22) and <= 0.2 mm from the mid-sagittal plane fitted to the
#:   17 bilateral landmark pairs.
#: * ``"16"`` is **lambda**: on the same maps it sits where the lambdoid suture meets the
#:   sagittal suture, 3.4-4.6 mm posterior of "13" (3.87 mm in C57BL/6J; A/J 3.38, NZW 4.58,
#:   C3H 4.64), on the bone and <= 0.3 mm from the mid-sagittal plane.
#: * ``"1"`` is the **midline** point: nasale, the anterior tip of the nasal bones on the midline
#:   (<= 0.2 mm from the mid-sagittal plane, on the bone), 12-15 mm anterior of bregma and
#:   4.7-7.6 mm from the bregma-lambda line, so a lateral error of 0.2 mm tilts the frame's
#:   dorsal axis by 2-3 degrees at most. ``"51"`` (midline of the frontal bones just behind the
#:   frontonasal suture, about 6-7 mm anterior of bregma; flanked by the pair "6"/"7") would do
#:   too but is only 1.6-3.1 mm from the bregma-lambda line.
#:
#: Confidence: high for "13" and "16" (both sutures are clearly visible at 0.14 mm voxels and
#: the points sit on their junctions on every scan checked; the lambdoid suture of a mouse is
#: curved, so lambda as "where it meets the midline" is itself defined to about 0.2 mm); these
#: are registration-transferred positions, accurate to about 0.1-0.3 mm. The template of that
#: repository lies supine in its LPS frame (+S is ventral), which is why "dorsal" landmarks have
#: the smallest S there. The MOLG/DnJ landmark file of the repository does not match its scan:
#: its points fall outside the volume (they fit the skull after an oblique rigid motion, i.e.
#: they were made on a differently oriented copy of the scan), so it cannot be used as it is.
MAGA_2017_LANDMARKS = {"bregma": "13", "lambda": "16", "midline": "1"}

# Points this far (mm) outside the scan are refused by landmarks_from_markups.
_OUTSIDE_MARGIN_MM = 1.0
_UNITS_TO_MM = {"mm": 1.0, "um": 1e-3}
_SKIPPED_STATUS = ("undefined", "missing", "preview")
_FCSV_COLUMNS = ("id", "x", "y", "z", "ow", "ox", "oy", "oz", "vis", "sel", "lock", "label",
                 "desc", "associatedNodeID")


class MarkupsError(RatTmsError, ValueError):
    """A landmark file that cannot be read or used (broken, unknown frame or units, labels missing)."""


@dataclass(frozen=True, eq=False)
class Markups:
    """Landmarks read from a file, in the file's frame.

    Attributes
    ----------
    labels : tuple of str
        One label per point (the file's label; its id or number when the label is empty).
    points_mm : ndarray, shape (N, 3)
        Positions in millimetres in ``frame`` (the scanner frame the file names).
    frame : str
        ``"LPS"`` or ``"RAS"``.
    source : str
        Path the markups were read from ("" when made in memory).
    notes : tuple of str
        What the reader changed or skipped (undefined points, unit conversion).
    """

    labels: tuple[str, ...]
    points_mm: np.ndarray
    frame: str
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        points = np.array(self.points_mm, dtype=float).reshape(-1, 3)
        labels = tuple(str(label) for label in self.labels)
        if len(labels) != len(points):
            raise ValueError(f"{len(labels)} labels for {len(points)} points")
        if self.frame not in MARKUPS_FRAMES:
            raise ValueError(f"frame must be one of {MARKUPS_FRAMES}, got {self.frame!r}")
        if not np.all(np.isfinite(points)):
            raise ValueError("points_mm must be finite")
        points.setflags(write=False)
        object.__setattr__(self, "points_mm", points)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "notes", tuple(self.notes))

    def __len__(self) -> int:
        return len(self.labels)

    def in_frame(self, frame: str) -> np.ndarray:
        """The points (mm) in ``frame`` ("LPS" or "RAS"): x and y change sign between the two."""
        return _convert_frame(self.points_mm, self.frame, frame)

    def centroid_size_mm(self) -> float:
        """Centroid size (mm): the root mean square distance of the points from their centroid, the
        usual size of a landmark configuration (unchanged by rigid motion)."""
        p = self.points_mm
        return float(np.sqrt(np.mean(np.sum((p - p.mean(axis=0)) ** 2, axis=1))))

    def find(self, label: str) -> list[int]:
        """Indices of the points whose label is ``label`` (case and surrounding blanks ignored)."""
        key = str(label).strip().casefold()
        return [i for i, lab in enumerate(self.labels) if lab.strip().casefold() == key]


def _convert_frame(points, from_frame: str, to_frame: str) -> np.ndarray:
    for name, value in (("from_frame", from_frame), ("to_frame", to_frame)):
        if value not in MARKUPS_FRAMES:
            raise ValueError(f"{name} must be one of {MARKUPS_FRAMES}, got {value!r}")
    points = np.array(points, dtype=float).reshape(-1, 3)
    if from_frame != to_frame:
        points[:, :2] *= -1.0
    return points


# ----------------------------------------------------------------------------------- reading
def read_markups(path) -> Markups:
    """Read a 3D Slicer landmark file: markups JSON (``.mrk.json``/``.json``) or fiducial CSV
    (``.fcsv``); see the module's docstring for the formats.

    Returns the defined points in the file's frame (LPS or RAS), in millimetres (micrometre files
    are converted). Points whose ``positionStatus`` is ``undefined``, ``missing`` or ``preview``
    (placed in Slicer but never set) are skipped and listed in :attr:`Markups.notes`; a JSON file
    with several markups nodes gives all their points, in the first node's frame.

    Raises :class:`MarkupsError`, naming the file and what is wrong, for a missing, empty or
    broken file, an unknown coordinate system or unit, a position that is not 3 numbers, or a
    file without any defined point.
    """
    path = Path(path)
    if not path.is_file():
        raise MarkupsError(f"{path}: no such landmark file.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise MarkupsError(f"{path} is not a text file ({err}); expected a 3D Slicer markups "
                           "file (.mrk.json or .fcsv).") from err
    except OSError as err:
        raise MarkupsError(f"{path} cannot be read ({err}).") from err
    if not text.strip():
        raise MarkupsError(f"{path} is empty; expected a 3D Slicer markups file (.mrk.json or .fcsv).")
    name = path.name.lower()
    if name.endswith(".fcsv"):
        markups = _parse_fcsv(text, str(path))
    elif name.endswith(".json") or text.lstrip().startswith("{"):
        markups = _parse_json(text, str(path))
    else:
        raise MarkupsError(
            f"{path}: unknown landmark format (suffix {path.suffix!r}). Read: 3D Slicer markups "
            "JSON (.mrk.json) and fiducial CSV (.fcsv); in Slicer, save the landmarks as one of "
            "these.")
    return markups


def _parse_json(text: str, source: str) -> Markups:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise MarkupsError(f"{source} is not valid JSON (line {err.lineno}, column {err.colno}: "
                           f"{err.msg}); the file is probably truncated or was edited by hand.") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("markups"), list):
        schema = doc.get("@schema", "") if isinstance(doc, dict) else ""
        raise MarkupsError(
            f"{source} is JSON but not a 3D Slicer markups file: it has no \"markups\" list"
            + (f" (schema {schema!r})" if schema else "")
            + ". Save the landmarks from Slicer's Markups module as .mrk.json.")
    labels, points, notes = [], [], []
    frame = None
    for k, node in enumerate(doc["markups"]):
        where = f"{source}, markups[{k}]"
        if not isinstance(node, dict):
            raise MarkupsError(f"{where} is not a JSON object.")
        node_frame = str(node.get("coordinateSystem", "LPS")).strip().upper()
        if node_frame not in MARKUPS_FRAMES:
            raise MarkupsError(f"{where}: coordinateSystem {node.get('coordinateSystem')!r} is "
                               f"not one of {MARKUPS_FRAMES}.")
        units = node.get("coordinateUnits", "mm")
        if isinstance(units, list):  # the schema also allows [unit, unit, unit]
            units = units[0] if units and all(u == units[0] for u in units) else units
        scale = _UNITS_TO_MM.get(str(units).strip().lower()) if isinstance(units, str) else None
        if scale is None:
            raise MarkupsError(f"{where}: coordinateUnits {units!r} is not supported; the "
                               "positions must be in mm (or um). Convert the file in Slicer.")
        if scale != 1.0:
            notes.append(f"markups[{k}]: positions converted from {units} to mm")
        frame = frame or node_frame
        control_points = node.get("controlPoints", [])
        if not isinstance(control_points, list):
            raise MarkupsError(f"{where}: \"controlPoints\" is not a list.")
        skipped = []
        for j, cp in enumerate(control_points):
            if not isinstance(cp, dict):
                raise MarkupsError(f"{where}, controlPoints[{j}] is not a JSON object.")
            label = str(cp.get("label") or cp.get("id") or f"{j + 1}")
            status = str(cp.get("positionStatus", "defined")).strip().lower()
            if status in _SKIPPED_STATUS:
                skipped.append(f"{label} ({status})")
                continue
            position = cp.get("position")
            p = _position(position, f"{where}, control point {label!r} (controlPoints[{j}])")
            labels.append(label)
            points.append(_convert_frame(p * scale, node_frame, frame)[0])
        if skipped:
            notes.append(f"markups[{k}]: skipped {len(skipped)} point(s) without a position: "
                         + ", ".join(skipped))
    if not points:
        raise MarkupsError(f"{source} holds no defined landmark"
                           + (f" ({'; '.join(notes)})" if notes else "") + ".")
    return Markups(tuple(labels), np.array(points), frame, source, tuple(notes))


def _position(value, where: str) -> np.ndarray:
    try:
        p = np.array(value, dtype=float)
    except (TypeError, ValueError):
        p = None
    if p is None or p.shape != (3,) or not np.all(np.isfinite(p)):
        raise MarkupsError(f"{where}: position must be 3 finite numbers (mm), got {value!r}.")
    return p


def _parse_fcsv(text: str, source: str) -> Markups:
    frame, columns, version = "RAS", list(_FCSV_COLUMNS), None
    frame_given = False
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            key, _, value = stripped.lstrip("#").partition("=")
            key, value = key.strip().lower(), value.strip()
            if key == "coordinatesystem":
                code = {"0": "RAS", "1": "LPS", "RAS": "RAS", "LPS": "LPS"}.get(value.upper())
                if code is None:
                    raise MarkupsError(f"{source}, line {n}: CoordinateSystem {value!r} is not "
                                       "LPS or RAS (0 = RAS, 1 = LPS in older files).")
                frame, frame_given = code, True
            elif key == "columns":
                columns = [c.strip() for c in value.split(",")]
            elif key.startswith("markups fiducial file version"):
                version = value
            continue
        rows.append((n, line))
    missing = [c for c in ("x", "y", "z") if c not in columns]
    if missing:
        raise MarkupsError(f"{source}: the '# columns =' line has no {', '.join(missing)} column "
                           f"(columns: {', '.join(columns)}).")
    if not rows:
        raise MarkupsError(f"{source} holds no landmark (only comment lines).")
    ix, iy, iz = (columns.index(c) for c in ("x", "y", "z"))
    il = columns.index("label") if "label" in columns else None
    iid = columns.index("id") if "id" in columns else None
    labels, points, skipped, notes = [], [], [], []
    for n, line in rows:
        values = next(csv.reader(io.StringIO(line), skipinitialspace=True))
        if len(values) <= max(ix, iy, iz):
            raise MarkupsError(f"{source}, line {n}: {len(values)} field(s), expected "
                               f"{len(columns)} ({', '.join(columns)}).")
        label = values[il].strip() if il is not None and il < len(values) else ""
        if not label and iid is not None:
            label = values[iid].strip()
        label = label or str(len(labels) + len(skipped) + 1)
        try:
            p = np.array([float(values[i]) for i in (ix, iy, iz)])
        except ValueError as err:
            raise MarkupsError(f"{source}, line {n}: x, y, z must be numbers (mm), got "
                               f"{[values[i] for i in (ix, iy, iz)]}.") from err
        if not np.all(np.isfinite(p)):  # how undefined points come out in CSV
            skipped.append(label)
            continue
        labels.append(label)
        points.append(p)
    if skipped:
        notes.append(f"skipped {len(skipped)} point(s) without a position: {', '.join(skipped)}")
    if not frame_given:
        notes.append("no '# CoordinateSystem' line: RAS assumed (Slicer's files before 4.11)"
                     + (f"; file version {version}" if version else ""))
    if not points:
        raise MarkupsError(f"{source} holds no defined landmark.")
    return Markups(tuple(labels), np.array(points), frame, source, tuple(notes))


# ----------------------------------------------------------------------------------- writing
def write_markups_json(path, labels, points_mm, frame: str = "LPS", *, descriptions=None) -> Path:
    """Write landmarks as a 3D Slicer markups JSON file (schema v1.0.3, one "Fiducial" node).

    Parameters
    ----------
    path : str or Path
        Destination, by convention ``<name>.mrk.json`` (overwritten if it exists).
    labels : sequence of str
        One label per point (e.g. "bregma").
    points_mm : (N, 3) array
        Positions in millimetres in ``frame`` (scanner coordinates; convert volume-frame points
        with :func:`from_volume_frame` first).
    frame : "LPS" or "RAS"
        The coordinate system of ``points_mm``, written as ``coordinateSystem`` (Slicer's own
        files are LPS).
    descriptions : sequence of str, optional
        One description per point.
    """
    path = Path(path)
    labels = [str(label) for label in labels]
    points = np.asarray(points_mm, dtype=float).reshape(-1, 3)
    if len(labels) != len(points):
        raise ValueError(f"{len(labels)} labels for {len(points)} points")
    if frame not in MARKUPS_FRAMES:
        raise ValueError(f"frame must be one of {MARKUPS_FRAMES}, got {frame!r}")
    if not np.all(np.isfinite(points)):
        raise ValueError("points_mm must be finite")
    descriptions = [""] * len(labels) if descriptions is None else [str(d) for d in descriptions]
    if len(descriptions) != len(labels):
        raise ValueError(f"{len(descriptions)} descriptions for {len(labels)} points")
    # Slicer writes the identity orientation (RAS) in the file's frame
    orientation = [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0] if frame == "LPS" else \
        [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    control_points = [
        {
            "id": str(k + 1),
            "label": label,
            "description": desc,
            "associatedNodeID": "",
            "position": [float(x) for x in p],
            "orientation": orientation,
            "selected": True,
            "locked": False,
            "visibility": True,
            "positionStatus": "defined",
        }
        for k, (label, desc, p) in enumerate(zip(labels, descriptions, points))
    ]
    doc = {
        "@schema": MARKUPS_SCHEMA,
        "markups": [{
            "type": "Fiducial",
            "coordinateSystem": frame,
            "coordinateUnits": "mm",
            "locked": False,
            "fixedNumberOfControlPoints": False,
            "labelFormat": "%N-%d",
            "lastUsedControlPointNumber": len(labels),
            "controlPoints": control_points,
        }],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=4) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------- volume frame
def _scanner_frame(volume: Volume, what: str) -> str:
    frame = volume.scanner_frame
    if frame not in MARKUPS_FRAMES:
        source = f" ({volume.source})" if volume.source else ""
        raise MarkupsError(
            f"The scan{source} has no known scanner coordinate system (scanner_frame "
            f"{frame!r}, e.g. a TIFF stack), so {what}. Load the scan from a format that keeps "
            "its position (NIfTI, NRRD, DICOM, MetaImage), or place the landmarks by hand.")
    return frame


def to_volume_frame(markups: Markups, volume: Volume) -> np.ndarray:
    """The points of ``markups`` in ``volume``'s volume frame: array index times voxel size, mm.

    The file's LPS/RAS positions (mm) are put in the volume's scanner frame (x and y change
    sign between LPS and RAS), mapped to a (fractional) array index by the inverse of
    :attr:`Volume.scanner_affine_mm`, and multiplied by the voxel size. Raises
    :class:`MarkupsError` when the volume's scanner frame is unknown.
    """
    frame = _scanner_frame(volume, "positions from a landmark file cannot be placed on it")
    scanner = markups.in_frame(frame)
    homogeneous = np.c_[scanner, np.ones(len(scanner))]
    index = np.linalg.solve(volume.scanner_affine_mm, homogeneous.T).T[:, :3]
    return index * np.asarray(volume.voxel_size_mm)


def from_volume_frame(points_mm, volume: Volume, frame: str = "LPS") -> np.ndarray:
    """Inverse of :func:`to_volume_frame`: volume-frame points (mm, (N, 3)) -> scanner
    coordinates in ``frame`` ("LPS", Slicer's file convention, or "RAS"), mm."""
    scanner_frame = _scanner_frame(volume, "landmarks cannot be saved in scanner coordinates")
    index = np.asarray(points_mm, dtype=float).reshape(-1, 3) / np.asarray(volume.voxel_size_mm)
    scanner = (volume.scanner_affine_mm @ np.c_[index, np.ones(len(index))].T).T[:, :3]
    return _convert_frame(scanner, scanner_frame, frame)


def landmarks_from_markups(markups: Markups, volume: Volume,
                           labels: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Bregma, lambda and a midline point from a landmark file, in ``volume``'s volume frame (mm).

    Parameters
    ----------
    markups : Markups
        From :func:`read_markups`.
    volume : Volume
        The scan the landmarks were placed on (its scanner affine places them).
    labels : dict, optional
        Maps "bregma", "lambda" and "midline" to the file's labels, for files whose landmarks
        are numbered, e.g. :data:`MAGA_2017_LANDMARKS` (``{"bregma": "13", ...}``). Names not in
        the map are looked up as themselves. Labels are compared ignoring case.

    Returns
    -------
    dict
        ``{"bregma": (3,), "lambda": (3,), "midline": (3,)}``, volume frame, mm.

    Raises :class:`MarkupsError` when a landmark is missing or its label is ambiguous (the
    message lists the file's labels), when the volume's scanner frame is unknown, or when a
    landmark lies more than 1 mm outside the scan (a file made on another scan, or on another
    copy of it with a different position in the scanner).
    """
    mapping = {name: name for name in LANDMARK_NAMES}
    if labels:
        unknown = sorted(set(labels) - set(LANDMARK_NAMES))
        if unknown:
            raise ValueError(f"labels: unknown landmark name(s) {unknown}; use {LANDMARK_NAMES}")
        mapping.update({k: str(v) for k, v in labels.items()})
    source = markups.source or "the landmarks"
    chosen = {}
    for name, label in mapping.items():
        found = markups.find(label)
        if len(found) == 1:
            chosen[name] = found[0]
            continue
        if found:
            raise MarkupsError(f"{source}: {len(found)} points are labelled {label!r}; keep one, "
                               f"or choose another label for {name}.")
        shown = ", ".join(repr(lab) for lab in markups.labels[:12])
        more = f" and {len(markups) - 12} more" if len(markups) > 12 else ""
        numbered = all(lab.strip().isdigit() for lab in markups.labels)
        hint = (" The landmarks are numbered: say which number is which, e.g. labels="
                f"{MAGA_2017_LANDMARKS} for the 45 mouse skull landmarks of Maga et al. (2017)."
                if numbered else
                f" Label the points {', '.join(LANDMARK_NAMES)} in Slicer, or pass labels=... "
                "mapping these names to the file's labels.")
        raise MarkupsError(f"{source} has no point labelled {label!r} (for {name}); its labels "
                           f"are {shown}{more}.{hint}")
    points = to_volume_frame(markups, volume)
    extent = (np.asarray(volume.shape) - 1) * np.asarray(volume.voxel_size_mm)
    result = {}
    for name, k in chosen.items():
        p = points[k]
        outside = float(np.max(np.maximum(-p, p - extent)))
        if outside > _OUTSIDE_MARGIN_MM:
            raise MarkupsError(
                f"{source}: {name} (label {markups.labels[k]!r}) lies {outside:.1f} mm outside "
                f"the scan{' ' + volume.source if volume.source else ''}. The landmarks were "
                "placed on another scan, or on a copy of this one stored with another position "
                "or orientation; place them on this scan.")
        result[name] = p
    return result


def read_landmarks(path, volume: Volume, labels: dict[str, str] | None = None):
    """Bregma, lambda and a midline point (volume frame, mm) from a landmark file, and notes.

    Points labelled bregma/lambda/midline are used, or those that ``labels`` names. A file of
    45 numbered points with none of these names is read as the scheme of Maga et al. (2017)
    (:data:`MAGA_2017_LANDMARKS`), which the notes say. Returns ``(landmarks, notes)``; raises
    :class:`MarkupsError` (broken file, missing or ambiguous labels, points outside the scan)."""
    markups = read_markups(path)
    notes = list(markups.notes)
    names = {str(label).strip().lower() for label in markups.labels}
    if not labels and not {"bregma", "lambda"} <= names:
        if len(markups.labels) == 45 and all(str(label).strip().isdigit() for label in markups.labels):
            labels = dict(MAGA_2017_LANDMARKS)
            notes.append(f"{Path(str(path)).name} holds 45 numbered points, read as the scheme of Maga et al. "
                         f"(2017): bregma = point {labels['bregma']}, lambda = point {labels['lambda']}, "
                         f"midline = point {labels['midline']} (nasale).")
        else:
            shown = ", ".join(list(markups.labels)[:10])
            raise MarkupsError(f"{path}: no point is labelled bregma and lambda (labels: {shown}...); say "
                               "which are which, e.g. landmark_labels = {bregma = \"..\", lambda = \"..\", "
                               "midline = \"..\"} in the job file.")
    return landmarks_from_markups(markups, volume, labels), notes
