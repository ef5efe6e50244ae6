"""Geometry of the synthetic rat head, as signed distance functions in an anatomical frame.

The frame is right-handed, in millimetres: x to the animal's right, y anterior, z dorsal. It is a
*construction* frame: :func:`build_rat_anatomy` also returns bregma in it, and the rasteriser in
:mod:`.rat` shifts the origin to bregma, so the ground truth comes in stereotaxic coordinates.

Sizes are those of an adult (about 600 g) male Wistar rat as in seed 003: brain about
23 x 15 x 11 mm (with olfactory bulbs and brainstem up to the foramen magnum; cerebrum and
cerebellum about 20 mm long), skull 0.65 mm thick dorsally and 1 mm at the base, eyes 6 mm across,
skull from the occiput to the nasal aperture about 52 mm, bregma-lambda 8.5 mm. The skull has the
openings that shape the TMS field (seed 003, Discussion): the foramen magnum, an orbital opening
and an optic canal behind each eye, and four foramina in the skull base. Cervical vertebrae follow
the skull with a gap of about 1 mm, so skull and spine can be separated by connectivity or a cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .sdf import (
    Capsule,
    Cylinder,
    Difference,
    Ellipsoid,
    Offset,
    RoundCone,
    Shape,
    Sphere,
    Union,
    VariableOffset,
)

__all__ = ["Opening", "RatAnatomy", "build_rat_anatomy"]


@dataclass(frozen=True)
class Opening:
    """A hole through the skull: a cylinder from ``start`` (inside the cranial cavity or the orbit)
    to ``end`` (outside), radius in mm. Coordinates in the frame of the object that holds it."""

    name: str
    start: np.ndarray
    end: np.ndarray
    radius_mm: float

    def transformed(self, matrix: np.ndarray) -> "Opening":
        """The same opening under a 4x4 affine ``matrix``."""
        def apply(p):
            return matrix[:3, :3] @ p + matrix[:3, 3]
        return Opening(self.name, apply(self.start), apply(self.end), self.radius_mm)


@dataclass(frozen=True)
class RatAnatomy:
    """Tissue shapes of the synthetic rat (construction frame, mm)."""

    body: Shape
    internal_air: Shape
    eyes: Shape
    lenses: Shape
    brain: Shape
    skull: Shape
    spine: Shape
    teeth: Shape
    other_bone: Shape
    openings: tuple[Opening, ...]
    eye_centres: dict[str, np.ndarray]
    eye_radius_mm: float
    bregma_xy: tuple[float, float]
    lambda_xy: tuple[float, float]
    spine_cut_point: np.ndarray
    spine_cut_normal: np.ndarray


def _mirror(shape_fn, **kw):
    """Left and right copies of a lateral structure built by ``shape_fn(side)``, side = +1/-1."""
    return [shape_fn(+1, **kw), shape_fn(-1, **kw)]


def _chain(points, radius) -> list[Shape]:
    return [Capsule(a, b, radius) for a, b in zip(points[:-1], points[1:])]


def _skull_thickness_mm(p: np.ndarray) -> np.ndarray:
    """0.65 mm over the dorsal skull, growing to 1.0 mm at the base (z below -9 mm)."""
    return 0.65 + 0.35 * np.clip((-p[:, 2] - 4.0) / 5.0, 0.0, 1.0)


def _rotation_x(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rotation_y(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def build_rat_anatomy(orbit_opening_scale: float = 1.0) -> RatAnatomy:
    """Build the shapes of the synthetic rat head (see the module docstring for the sizes);
    ``orbit_opening_scale`` scales the radii of the orbital openings and optic canals."""
    # --- brain: cerebrum, cerebellum, brainstem up to the foramen magnum, olfactory bulbs
    brain = Union(
        [
            Ellipsoid((0, -2.0, -5.9), (7.4, 7.0, 4.9)),
            Ellipsoid((0, -11.0, -6.3), (5.2, 3.0, 3.9)),
            RoundCone((0, -4.0, -9.2), (0, -15.0, -8.7), 2.9, 2.4),
            *_mirror(lambda s: Ellipsoid((1.45 * s, 5.6, -4.6), (1.5, 2.4, 1.9))),
        ],
        blend_mm=1.5,
    )
    cavity = Offset(brain, 0.35)  # meninges and CSF between brain and bone
    braincase_outer = VariableOffset(cavity, _skull_thickness_mm, max_delta_mm=1.0)

    # --- rostrum (nasal and facial bones), a shell around the nasal cavity
    rostrum_outer = Union(
        [
            Ellipsoid((0, 8.5, -4.8), (3.6, 6.5, 3.9)),
            RoundCone((0, 12.0, -5.5), (0, 31.0, -7.0), 3.6, 2.3),
        ],
        blend_mm=2.0,
    )
    nasal_cavity = Difference(Offset(rostrum_outer, -0.6), [braincase_outer])
    nasal_aperture = Cylinder((0, 29.0, -7.0), (0, 36.0, -7.2), 1.8)

    eye_radius = 3.0
    eye_centres = {"right_eye": np.array([8.0, 6.5, -5.2]), "left_eye": np.array([-8.0, 6.5, -5.2])}

    openings = [Opening("foramen_magnum", np.array([0, -13.0, -8.7]), np.array([0, -22.0, -8.7]), 2.9)]
    for side, name in ((+1, "right"), (-1, "left")):
        eye = eye_centres[f"{name}_eye"]
        openings.append(Opening(f"{name}_orbital_opening", np.array([2.0 * side, 3.0, -6.0]), eye,
                                1.5 * orbit_opening_scale))
        openings.append(Opening(f"{name}_optic_canal", np.array([2.0 * side, 2.5, -9.0]), eye,
                                0.5 * orbit_opening_scale))
        openings.append(
            Opening(f"{name}_foramen_ovale", np.array([3.0 * side, -1.0, -8.0]), np.array([3.0 * side, -1.0, -16.0]), 0.8)
        )
        openings.append(
            Opening(f"{name}_jugular_foramen", np.array([4.2 * side, -12.0, -6.5]), np.array([4.2 * side, -12.0, -16.0]), 1.0)
        )
    hole_shapes = [Cylinder(o.start, o.end, o.radius_mm) for o in openings]

    braincase = Difference(braincase_outer, [cavity, *hole_shapes])
    rostrum = Difference(rostrum_outer, [nasal_cavity, cavity, nasal_aperture])
    zygomatic = [
        Union(_chain(np.array([[3.2 * s, 13.0, -7.5], [10.0 * s, 8.0, -9.0], [10.5 * s, 1.0, -8.5], [8.0 * s, -4.0, -7.5]]), 0.7))
        for s in (+1, -1)
    ]
    skull = Union([braincase, rostrum, *zygomatic])

    # --- lower jaw and teeth
    mandibles = [
        Union(_chain(np.array([[1.5 * s, 21.0, -14.5], [5.5 * s, 5.0, -15.5], [7.0 * s, -2.0, -13.0], [7.0 * s, -3.0, -9.0]]), 1.1))
        for s in (+1, -1)
    ]
    teeth = Union(
        [
            *_mirror(lambda s: Capsule((0.9 * s, 27.0, -8.0), (0.9 * s, 31.0, -10.0), 0.75)),
            *_mirror(lambda s: Capsule((0.9 * s, 20.0, -14.5), (0.9 * s, 30.5, -11.0), 0.75)),
            *_mirror(lambda s: Ellipsoid((3.6 * s, 9.0, -11.2), (1.1, 3.5, 1.2))),
            *_mirror(lambda s: Ellipsoid((3.9 * s, 9.0, -13.4), (1.1, 3.5, 1.1))),
        ]
    )

    # --- cervical and first thoracic vertebrae along the neck
    spine_start = np.array([0.0, -19.4, -9.0])
    spine_dir = np.array([0.0, -1.0, -0.12])
    spine_dir /= np.linalg.norm(spine_dir)
    up = np.array([0.0, 0.12, 1.0])
    up -= (up @ spine_dir) * spine_dir
    up /= np.linalg.norm(up)
    right = np.cross(spine_dir, up)
    vertebrae: list[Shape] = []
    s = 0.0
    lengths = [2.6, 6.0, 3.2, 3.2, 3.2, 3.2, 3.2, 3.4, 3.4, 3.4, 3.4]
    for k, length in enumerate(lengths):
        a = spine_start + s * spine_dir
        b = spine_start + (s + length) * spine_dir
        mid = 0.5 * (a + b)
        wing = 6.5 if k == 0 else 4.8
        parts = [
            Cylinder(a, b, 3.1),
            Cylinder(a - 1.4 * up, b - 1.4 * up, 2.3),
            Capsule(mid + 2.8 * up, mid + (4.5 if k == 1 else 3.4) * up, 0.7),
            Capsule(mid - 2.5 * right, mid - wing * right, 0.9),
            Capsule(mid + 2.5 * right, mid + wing * right, 0.9),
        ]
        canal = Cylinder(a - spine_dir, b + spine_dir, 1.9)
        vertebrae.append(Difference(Union(parts, blend_mm=0.5), [canal]))
        s += length + 0.7
    spine = Union(vertebrae)

    # --- forelimb bones (the scan shows the front half of the animal)
    limb_bones = []
    for sgn in (+1, -1):
        limb_bones += _chain(np.array([[12.0 * sgn, -50.0, -22.0], [13.0 * sgn, -42.0, -32.0], [9.5 * sgn, -31.0, -34.0]]), 1.0)
    other_bone = Union([*mandibles, *limb_bones])

    # --- eyes and lenses
    eyes = Union([Sphere(c, eye_radius) for c in eye_centres.values()])
    lenses = Union(
        [
            Ellipsoid(c + np.array([np.sign(c[0]) * 1.9, 0.8, 0.3]), (0.7, 1.6, 1.6))
            for c in eye_centres.values()
        ]
    )

    # --- body outline: scalp over the skull, muscles, snout, ears, neck, shoulders, forelimbs
    pinna_rot = {s: _rotation_y(-25.0 * s) @ _rotation_x(10.0) for s in (+1, -1)}
    body = Union(
        [
            Offset(Union([braincase_outer, rostrum_outer]), 1.3),
            *_mirror(lambda s: Ellipsoid((6.0 * s, -4.0, -4.5), (3.2, 7.0, 4.5))),
            *_mirror(lambda s: Ellipsoid((7.5 * s, 6.0, -11.0), (5.0, 10.0, 5.5))),
            Ellipsoid((0, 4.0, -14.0), (8.0, 15.0, 5.5)),
            Ellipsoid((0, 22.0, -12.5), (4.0, 10.0, 3.5)),
            RoundCone((0, 14.0, -7.0), (0, 34.0, -8.0), 7.0, 2.6),
            Offset(eyes, 0.6),
            *_mirror(lambda s: Ellipsoid((10.5 * s, -9.0, 2.0), (0.7, 4.5, 6.0), rotation=pinna_rot[s])),
            RoundCone((0, -12.0, -8.0), (0, -42.0, -12.0), 12.0, 15.0),
            Ellipsoid((0, -56.0, -17.0), (21.0, 20.0, 15.0)),
            *[c for sgn in (+1, -1) for c in _chain(np.array([[12.0 * sgn, -50.0, -22.0], [13.0 * sgn, -42.0, -32.0], [9.5 * sgn, -31.0, -34.0]]), 3.2)],
        ],
        blend_mm=2.0,
    )

    internal_air = Union(
        [
            nasal_cavity,
            *_mirror(lambda s: Capsule((1.0 * s, 29.0, -7.0), (1.3 * s, 38.5, -8.2), 0.45)),
            *_mirror(lambda s: Capsule((14.0 * s, -9.0, -8.0), (8.6 * s, -9.0, -8.5), 0.9)),
            Capsule((0, 1.0, -16.5), (0, -70.0, -19.5), 1.3),
            Capsule((0, 12.0, -9.5), (0, 1.0, -16.5), 1.0),
        ]
    )

    # Plane between the occiput and the atlas: everything posterior of it is spine.
    return RatAnatomy(
        body=body,
        internal_air=internal_air,
        eyes=eyes,
        lenses=lenses,
        brain=brain,
        skull=skull,
        spine=spine,
        teeth=teeth,
        other_bone=other_bone,
        openings=tuple(openings),
        eye_centres=eye_centres,
        eye_radius_mm=eye_radius,
        bregma_xy=(0.0, 0.0),
        lambda_xy=(0.0, -8.5),
        spine_cut_point=spine_start - 0.5 * spine_dir,
        spine_cut_normal=spine_dir.copy(),
    )
