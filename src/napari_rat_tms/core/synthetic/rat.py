"""Synthetic rat head µCT with its ground truth.

:func:`make_synthetic_rat` rasterises the shapes of :mod:`.anatomy` into a Hounsfield-unit volume
like the scan of seed 003 (front half of an adult Wistar rat, isotropic voxels, 87 mm field of
view; 0.17 mm voxels there, 0.34 mm by default here so that it builds in seconds):

* partial volume: each voxel takes the fraction of each tissue inside it, from the signed
  distance ``d`` to the tissue's surface as ``clip(0.5 - d / h, 0, 1)`` (``h`` the voxel size),
  then a Gaussian point spread function (FWHM ``psf_fwhm_mm``);
* intensities: air -1000 HU, soft tissue 40 HU, brain 37 HU, vitreous 5 HU and lens 100 HU,
  cortical bone 700-1500 HU varying smoothly over the skull, vertebrae about 950 HU, teeth 2200 HU;
  the cranial sutures (sagittal, coronal, lambdoid) are faint lines of thinner bone so that bregma
  and lambda can be found in the image;
* acquisition: a smooth left-right intensity drift (``bias_hu_per_mm``, the "slight field
  inhomogeneity" of the seed that makes each eye need its own isolevel) and Gaussian noise
  (``noise_hu``). With the defaults the eyes differ from the tissue around them by about 35 HU
  against 60 HU of noise: a signal-to-noise ratio below 1, as in the seed.

The ground truth (:class:`SyntheticRat`) gives the label volume (air, body, bone, eye, brain),
landmarks (bregma, lambda, eye centres) in the volume frame, the anatomical axes, the transform
from stereotaxic to volume coordinates, the skull's openings and the plane that separates the
skull from the spine.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from ..volume import INTENSITY_UNITS_HU, Volume
from .anatomy import Opening, RatAnatomy, build_rat_anatomy
from .sdf import Shape

__all__ = [
    "RatLabel",
    "SyntheticRatParameters",
    "SyntheticRat",
    "make_synthetic_rat",
    "iter_synthetic_rat",
    "AIR_HU",
    "SOFT_TISSUE_HU",
    "BRAIN_HU",
    "VITREOUS_HU",
    "LENS_HU",
]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]

AIR_HU = -1000.0
SOFT_TISSUE_HU = 40.0
BRAIN_HU = 37.0
VITREOUS_HU = 5.0
LENS_HU = 100.0
BONE_HU_MEAN, BONE_HU_SD, BONE_HU_RANGE = 1150.0, 150.0, (700.0, 1500.0)
VERTEBRA_HU_MEAN = 950.0
TEETH_HU = 2200.0
SUTURE_BONE_FRACTION = 0.35
SUTURE_HALF_WIDTH_MM = 0.1

# Construction-frame point placed at the centre of the field of view (see anatomy.py).
_FOV_CENTRE_CONSTRUCTION_MM = np.array([0.0, -4.5, -15.5])
# Anatomical (RAS) axes -> volume axes: anterior along axis 0, ventral along axis 1 (image rows
# top to bottom = dorsal to ventral), the animal's left along axis 2 (radiological display).
_RAS_TO_VOLUME = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]])
_COARSE_FACTOR = 4


class RatLabel(enum.IntEnum):
    """Values of the ground-truth label volume."""

    AIR = 0
    BODY = 1
    BONE = 2
    EYE = 3
    BRAIN = 4


@dataclass(frozen=True)
class SyntheticRatParameters:
    """Parameters of :func:`make_synthetic_rat` (the single source of their defaults).

    voxel_size_mm : isotropic voxel size; 0.34 mm builds in seconds, 0.17 mm is the seed's
        512^3 scan.
    field_of_view_mm : side of the cubic field of view (the seed's 512 x 0.17 mm).
    noise_hu : standard deviation of the Gaussian noise, HU.
    psf_fwhm_mm : full width at half maximum of the scanner's point spread function, mm.
    bias_hu_per_mm : slope of a left-right intensity drift across the field of view, HU/mm.
    head_rotation_deg : (pitch, roll, yaw) of the head in the scanner, degrees, about the
        animal's right, anterior and dorsal axes; (0, 0, 0) aligns anterior with array axis 0.
    seed : seed of the random generator (noise, bone texture).
    orbit_opening_scale : factor on the radii of the holes between the cranial cavity and the
        orbits (orbital opening 1.5 mm, optic canal 0.5 mm); the seed's hot spots behind the eyes
        depend on them (see BENCHMARKS.md, "Seed findings and the synthetic orbits").
    """

    voxel_size_mm: float = 0.34
    field_of_view_mm: float = 87.04
    noise_hu: float = 60.0
    psf_fwhm_mm: float = 0.25
    bias_hu_per_mm: float = 0.8
    head_rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    seed: int = 0
    orbit_opening_scale: float = 1.0

    def __post_init__(self):
        if not (np.isfinite(self.orbit_opening_scale) and 0.0 < self.orbit_opening_scale <= 2.0):
            raise ValueError(f"orbit_opening_scale must be in (0, 2], got {self.orbit_opening_scale!r}")
        if not (np.isfinite(self.voxel_size_mm) and 0.02 <= self.voxel_size_mm <= 2.0):
            raise ValueError(
                f"voxel_size_mm must be between 0.02 and 2 mm, got {self.voxel_size_mm!r}"
            )
        if not (np.isfinite(self.field_of_view_mm) and 40.0 <= self.field_of_view_mm <= 200.0):
            raise ValueError(
                "field_of_view_mm must be between 40 and 200 mm (the head and neck need about "
                f"85 mm), got {self.field_of_view_mm!r}"
            )
        for name in ("noise_hu", "psf_fwhm_mm"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if len(self.head_rotation_deg) != 3:
            raise ValueError(f"head_rotation_deg must have 3 angles, got {self.head_rotation_deg!r}")
        n = round(self.field_of_view_mm / self.voxel_size_mm)
        if n > 1024:
            raise ValueError(
                f"{n}^3 voxels ({n**3 * 2 / 2**30:.1f} GiB of int16) is more than this generator "
                "supports; use voxel_size_mm >= field_of_view_mm / 1024"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        n = int(round(self.field_of_view_mm / self.voxel_size_mm))
        return (n, n, n)


@dataclass(frozen=True, eq=False)
class SyntheticRat:
    """A synthetic rat µCT and its ground truth; all positions in the volume frame, mm.

    Attributes
    ----------
    volume : Volume
        int16 Hounsfield units.
    labels : ndarray of uint8, same shape
        :class:`RatLabel` values; the tissue covering most of each voxel.
    landmarks_mm : dict
        ``bregma``, ``lambda`` (on the dorsal skull surface), ``left_eye``, ``right_eye`` (centres).
    axes : dict
        Unit vectors ``anterior``, ``dorsal``, ``right`` of the animal in the volume frame.
    stereotaxic_to_volume_mm : ndarray (4, 4)
        Maps stereotaxic coordinates (x right, y anterior, z dorsal, origin bregma; mm) to the
        volume frame.
    openings : tuple of Opening
        Holes through the skull, in the volume frame.
    spine_cut_point_mm, spine_cut_normal : ndarray (3,)
        A plane between the occiput and the atlas; points on the normal's side are spine.
    eye_radius_mm : float
    parameters : SyntheticRatParameters
    """

    volume: Volume
    labels: np.ndarray
    landmarks_mm: dict[str, np.ndarray]
    axes: dict[str, np.ndarray]
    stereotaxic_to_volume_mm: np.ndarray
    openings: tuple[Opening, ...]
    spine_cut_point_mm: np.ndarray
    spine_cut_normal: np.ndarray
    eye_radius_mm: float
    parameters: SyntheticRatParameters

    def stereotaxic_to_volume(self, points_mm) -> np.ndarray:
        """Stereotaxic (x right, y anterior, z dorsal from bregma) -> volume frame, mm."""
        p = np.asarray(points_mm, dtype=float)
        m = self.stereotaxic_to_volume_mm
        return p @ m[:3, :3].T + m[:3, 3]

    def volume_to_stereotaxic(self, points_mm) -> np.ndarray:
        """Volume frame -> stereotaxic coordinates, mm."""
        p = np.asarray(points_mm, dtype=float)
        m = self.stereotaxic_to_volume_mm
        return (p - m[:3, 3]) @ m[:3, :3]

    def is_spine(self, points_mm) -> np.ndarray:
        """True for volume-frame points on the spine's side of the skull/spine cut."""
        p = np.asarray(points_mm, dtype=float)
        return (p - self.spine_cut_point_mm) @ self.spine_cut_normal > 0


class _Frame:
    """Construction frame <-> voxel grid."""

    def __init__(self, params: SyntheticRatParameters):
        self.shape = params.shape
        self.h = float(params.voxel_size_mm)
        user = Rotation.from_euler("xyz", params.head_rotation_deg, degrees=True).as_matrix()
        self.rotation = _RAS_TO_VOLUME @ user  # construction axes -> volume axes
        self.centre_mm = (np.asarray(self.shape) - 1) / 2.0 * self.h

    def construction_to_volume(self, p):
        return (np.asarray(p) - _FOV_CENTRE_CONSTRUCTION_MM) @ self.rotation.T + self.centre_mm

    def indices_to_construction(self, i0, i1, i2) -> np.ndarray:
        w = np.stack([i0, i1, i2], axis=1).astype(np.float64) * self.h - self.centre_mm
        return (w @ self.rotation + _FOV_CENTRE_CONSTRUCTION_MM).astype(np.float32)


def _coarse_distance(shape: Shape, frame: _Frame, factor: int) -> np.ndarray:
    """Signed distance at every ``factor``-th voxel along each axis (covering the grid)."""
    axes = [np.arange(0, n + factor, factor) for n in frame.shape]
    g = np.meshgrid(*axes, indexing="ij")
    pts = frame.indices_to_construction(g[0].ravel(), g[1].ravel(), g[2].ravel())
    return shape.distance_culled(pts).reshape(g[0].shape)


def _occupancy(shape: Shape, frame: _Frame, chunk: int = 1 << 20) -> np.ndarray:
    """Fraction of each voxel inside ``shape`` (float32, the grid's shape).

    The distance is computed on a grid ``_COARSE_FACTOR`` times coarser, and exactly only in the
    band of voxels whose nearest coarse sample is close enough to the surface for the voxel to be
    partly inside (the distance functions are 1-Lipschitz up to the ellipsoid bound, hence the
    safety factor of 1.5).
    """
    f, h = _COARSE_FACTOR, frame.h
    coarse = _coarse_distance(shape, frame, f)
    nearest = [np.minimum((np.arange(n) + f // 2) // f, coarse.shape[k] - 1) for k, n in enumerate(frame.shape)]
    d_up = coarse[np.ix_(*nearest)]
    band = 1.5 * (0.5 * h + 0.5 * np.sqrt(3.0) * f * h) + 1e-3
    occ = (d_up < 0).astype(np.float32)
    i0, i1, i2 = np.nonzero(np.abs(d_up) < band)
    del d_up
    for s in range(0, i0.size, chunk):
        sl = slice(s, s + chunk)
        d = shape.distance(frame.indices_to_construction(i0[sl], i1[sl], i2[sl]))
        occ[i0[sl], i1[sl], i2[sl]] = np.clip(0.5 - d / h, 0.0, 1.0)
    return occ


def _smooth_random_field(frame: _Frame, rng: np.random.Generator, correlation_mm: float) -> Callable:
    """A zero-mean, unit-variance random field smooth on ``correlation_mm``; returns a sampler
    ``f(i0, i1, i2)`` at voxel indices (evaluated only where needed)."""
    step = correlation_mm / 2.0
    n = [int(np.ceil(s * frame.h / step)) + 2 for s in frame.shape]
    field = ndimage.gaussian_filter(rng.standard_normal(n), sigma=2.0, mode="wrap")
    field = (field - field.mean()) / field.std()

    def sample(i0, i1, i2):
        coords = np.stack([i0, i1, i2]).astype(np.float64) * frame.h / step
        return ndimage.map_coordinates(field, coords, order=1, mode="nearest").astype(np.float32)

    return sample


def _suture_weight(stereo: np.ndarray, lambda_y: float) -> np.ndarray:
    """1 in bone, ``SUTURE_BONE_FRACTION`` on the sagittal, coronal and lambdoid sutures."""
    x, y, z = stereo[:, 0], stereo[:, 1], stereo[:, 2]
    w = SUTURE_HALF_WIDTH_MM
    dorsal = z > -3.5
    sagittal = (np.abs(x) < w) & (y < 9.0) & (y > lambda_y) & dorsal
    coronal = (np.abs(y + 0.12 * x**2) < w) & (np.abs(x) < 6.5) & dorsal
    lambdoid = (np.abs(y - (lambda_y + 0.1 * x**2)) < w) & (np.abs(x) < 7.0) & (z > -6.0)
    return np.where(sagittal | coronal | lambdoid, SUTURE_BONE_FRACTION, 1.0).astype(np.float32)


def _dorsal_surface_z(shape: Shape, x: float, y: float) -> float:
    """z of the first point inside ``shape`` going down from above along (x, y), mm (0.005 mm)."""
    z = np.arange(10.0, -10.0, -0.005)
    pts = np.column_stack([np.full_like(z, x), np.full_like(z, y), z])
    inside = np.nonzero(shape.distance_culled(pts) <= 0)[0]
    if inside.size == 0:
        raise RuntimeError(f"no skull found below ({x}, {y})")
    k = inside[0]
    return float(z[k])


def _parameters(voxel_size_mm, parameters, overrides) -> SyntheticRatParameters:
    params = parameters or SyntheticRatParameters()
    changes = dict(overrides)
    if voxel_size_mm is not None:
        changes["voxel_size_mm"] = voxel_size_mm
    if changes:
        unknown = set(changes) - set(asdict(params))
        if unknown:
            raise TypeError(f"unknown parameter(s) {sorted(unknown)} for make_synthetic_rat")
        params = SyntheticRatParameters(**{**asdict(params), **changes})
    return params


def make_synthetic_rat(
    voxel_size_mm: float | None = None,
    *,
    parameters: SyntheticRatParameters | None = None,
    progress: ProgressCallback | None = None,
    **overrides,
) -> SyntheticRat:
    """Build the synthetic rat head µCT and its ground truth.

    Parameters
    ----------
    voxel_size_mm : float, optional
        Shortcut for ``SyntheticRatParameters(voxel_size_mm=...)``.
    parameters : SyntheticRatParameters, optional
        All parameters (defaults: :class:`SyntheticRatParameters`).
    progress : callable(fraction, message), optional
        Called as the work advances (fraction in [0, 1]).
    **overrides
        Any other field of :class:`SyntheticRatParameters` (``seed=``, ``noise_hu=``, ...).

    Returns
    -------
    SyntheticRat
    """
    steps = iter_synthetic_rat(_parameters(voxel_size_mm, parameters, overrides))
    while True:
        try:
            fraction, message = next(steps)
        except StopIteration as done:
            return done.value
        log.debug("synthetic rat: %3.0f%% %s", 100 * fraction, message)
        if progress is not None:
            progress(float(fraction), message)


def iter_synthetic_rat(parameters: SyntheticRatParameters | None = None):
    """Generator form of :func:`make_synthetic_rat`: yields ``(fraction, message)`` between
    steps and returns the :class:`SyntheticRat` (``StopIteration.value``). Stopping the
    iteration (e.g. napari's ``worker.quit()``) cancels the build between two steps."""
    params = parameters or SyntheticRatParameters()
    rng = np.random.default_rng(params.seed)
    frame = _Frame(params)
    anatomy: RatAnatomy = build_rat_anatomy(orbit_opening_scale=params.orbit_opening_scale)
    bregma_c = np.array([*anatomy.bregma_xy, _dorsal_surface_z(anatomy.skull, *anatomy.bregma_xy)])
    lambda_c = np.array([*anatomy.lambda_xy, _dorsal_surface_z(anatomy.skull, *anatomy.lambda_xy)])

    image = np.full(frame.shape, AIR_HU, dtype=np.float32)
    labels = np.zeros(frame.shape, dtype=np.uint8)

    def paint(shape: Shape, value, label: RatLabel | None):
        occ = _occupancy(shape, frame)
        mask = occ > 0
        i0, i1, i2 = np.nonzero(mask)
        v = value(i0, i1, i2) if callable(value) else np.float32(value)
        image[mask] += occ[mask] * (v - image[mask])
        if label is not None:
            labels[occ >= 0.5] = label

    bone_texture = _smooth_random_field(frame, rng, correlation_mm=3.0)

    def bone_hu(mean):
        def value(i0, i1, i2):
            hu = mean + BONE_HU_SD * bone_texture(i0, i1, i2)
            return np.clip(hu, *BONE_HU_RANGE)
        return value

    def skull_hu(i0, i1, i2):
        stereo = frame.indices_to_construction(i0, i1, i2) - bregma_c.astype(np.float32)
        return bone_hu(BONE_HU_MEAN)(i0, i1, i2) * _suture_weight(stereo, lambda_c[1] - bregma_c[1])

    steps = [
        (anatomy.body, SOFT_TISSUE_HU, RatLabel.BODY, "body"),
        (anatomy.internal_air, AIR_HU, RatLabel.AIR, "nasal cavity, ear canals, airway"),
        (anatomy.eyes, VITREOUS_HU, RatLabel.EYE, "eyes"),
        (anatomy.lenses, LENS_HU, None, "lenses"),
        (anatomy.brain, BRAIN_HU, RatLabel.BRAIN, "brain"),
        (anatomy.skull, skull_hu, RatLabel.BONE, "skull"),
        (anatomy.spine, bone_hu(VERTEBRA_HU_MEAN), RatLabel.BONE, "cervical spine"),
        (anatomy.other_bone, bone_hu(BONE_HU_MEAN), RatLabel.BONE, "jaw and forelimbs"),
        (anatomy.teeth, TEETH_HU, RatLabel.BONE, "teeth"),
    ]
    for k, (shape, value, label, message) in enumerate(steps):
        yield 0.8 * k / len(steps), message
        paint(shape, value, label)

    yield 0.8, "point spread function"
    sigma_vox = params.psf_fwhm_mm / (2.0 * np.sqrt(2.0 * np.log(2.0))) / frame.h
    if sigma_vox > 0:
        ndimage.gaussian_filter(image, sigma=sigma_vox, output=image, mode="nearest")

    yield 0.9, "intensity drift and noise"
    lateral_mm = np.arange(frame.shape[2], dtype=np.float32) * frame.h - frame.centre_mm[2]
    drift = (params.bias_hu_per_mm * lateral_mm).astype(np.float32)
    for s in range(frame.shape[0]):  # slice by slice: no full-size float64 temporaries
        slab = image[s]
        slab += drift[None, :]
        if params.noise_hu > 0:
            slab += params.noise_hu * rng.standard_normal(slab.shape, dtype=np.float32)
    hu = np.clip(np.rint(image), -1024, 3071).astype(np.int16)
    del image

    # --- ground truth in the volume frame
    to_volume = frame.construction_to_volume
    st2vol = np.eye(4)
    st2vol[:3, :3] = frame.rotation
    st2vol[:3, 3] = to_volume(bregma_c)
    c2vol = np.eye(4)
    c2vol[:3, :3] = frame.rotation
    c2vol[:3, 3] = to_volume(np.zeros(3))
    landmarks = {
        "bregma": to_volume(bregma_c),
        "lambda": to_volume(lambda_c),
        **{name: to_volume(c) for name, c in anatomy.eye_centres.items()},
    }
    axes = {
        "anterior": frame.rotation @ np.array([0.0, 1.0, 0.0]),
        "dorsal": frame.rotation @ np.array([0.0, 0.0, 1.0]),
        "right": frame.rotation @ np.array([1.0, 0.0, 0.0]),
    }
    volume = Volume(
        data=hu,
        voxel_size_mm=(frame.h,) * 3,
        intensity_units=INTENSITY_UNITS_HU,
        scanner_affine_mm=np.diag([frame.h, frame.h, frame.h, 1.0]),
        scanner_frame="unknown",
        source="",
        metadata={"synthetic_rat": asdict(params)},
    )
    yield 1.0, "done"
    return SyntheticRat(
        volume=volume,
        labels=labels,
        landmarks_mm=landmarks,
        axes=axes,
        stereotaxic_to_volume_mm=st2vol,
        openings=tuple(o.transformed(c2vol) for o in anatomy.openings),
        spine_cut_point_mm=to_volume(anatomy.spine_cut_point),
        spine_cut_normal=frame.rotation @ anatomy.spine_cut_normal,
        eye_radius_mm=anatomy.eye_radius_mm,
        parameters=params,
    )
