"""The brain suggestion (core/segmentation/brain.py) on a phantom whose answer is known: a spherical
braincase with an opening below (a foramen magnum) and a narrow closed chamber to one side (an
olfactory bulbs' chamber, narrower than the sealing ball)."""

import numpy as np
import pytest

from napari_rat_tms.core.segmentation.brain import enclosed_on_every_axis, suggest_brain

H = 0.1                                   # mm per voxel
CENTRE = np.array([5.0, 6.0, 6.0])        # mm
R_IN, R_OUT = 3.4, 4.0                    # braincase shell (0.6 mm: the opening seals at full resolution)
HOLE_R = 1.0                              # opening below (-z)
TUBE_R, TUBE_WALL, TUBE_END = 0.5, 0.8, 6.0   # chamber along +x: lumen radius, wall radius, length


@pytest.fixture(scope="module")
def phantom():
    n = (120, 120, 120)
    x, y, z = (np.indices(n).astype(float) + 0.5) * H - CENTRE[:, None, None, None]
    r = np.sqrt(x**2 + y**2 + z**2)
    radial = np.sqrt(y**2 + z**2)                                        # distance from the tube's axis
    shell = (r >= R_IN) & (r <= R_OUT)
    hole = (np.sqrt(x**2 + y**2) < HOLE_R) & (z < 0)
    tube_lumen = (radial < TUBE_R) & (x > 0) & (x < TUBE_END) & (r > R_IN)
    tube_wall = ((radial < TUBE_WALL) & (x > 0) & (x < TUBE_END + 0.3) & (r > R_IN - 0.05)
                 & ~((radial < TUBE_R) & (x < TUBE_END)))                # open into the braincase
    bone = (shell & ~hole & ~tube_lumen) | tube_wall
    cavity = (r < R_IN) | tube_lumen
    plug = hole & (r >= R_IN) & (r <= R_OUT)
    return bone, cavity, tube_lumen, plug, r


def test_enclosed_on_every_axis_is_inside_the_shell_only(phantom):
    bone, _, tube_lumen, plug, r = phantom
    inside = enclosed_on_every_axis(bone)
    assert not inside[(r > R_OUT + 0.5) & ~tube_lumen & ~bone].any()  # nothing outside the braincase...
    assert inside[tube_lumen].mean() > 0.99                 # ...but the chamber is enclosed
    assert not inside[plug].any()                            # the opening is not: rays leave through it


def test_enclosed_recovery_takes_back_the_narrow_chamber_and_not_the_opening(phantom):
    bone, cavity, tube_lumen, plug, r = phantom
    without = suggest_brain(bone, H, recover_enclosed=False)
    with_ = suggest_brain(bone, H)
    # the sealing ball is wider than the chamber's lumen: the closing fills it, the half-radius
    # recovery takes back only its first part
    assert with_.seal_radius_mm > TUBE_R
    assert without.mask[tube_lumen].mean() < 0.6
    assert with_.mask[tube_lumen].mean() > 0.95
    for suggestion in (without, with_):
        assert not (suggestion.mask & bone).any()
        assert not suggestion.mask[(r > R_OUT) & ~tube_lumen].any()   # nothing beyond the bone
        assert suggestion.mask[r < R_IN - 0.5].mean() > 0.99
    # the opening: the corner recovery reaches into it (the sealing ball's plug is curved), the
    # enclosed recovery adds nothing there (rays leave through it)
    assert with_.mask[plug].sum() == without.mask[plug].sum()
    # what the enclosed recovery adds is the chamber and nothing else; it takes nothing away
    added = with_.mask & ~without.mask
    assert added.sum() > 0.4 * tube_lumen.sum() and tube_lumen[added].all()
    assert not (without.mask & ~with_.mask).any()
    assert not with_.mask[~cavity & ~plug].any()
