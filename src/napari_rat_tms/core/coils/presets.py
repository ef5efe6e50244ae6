"""Coil presets: the MagVenture MC-B35 of seed 003, built from what is known and calibrated.

MC-B35 (MagVenture butterfly coil of the rat study)
    No winding table is public (seed 003's Table 1 came from the manufacturer; see
    ``shared/data/coils/README.md``). What we take as known:

    * a flat figure-of-eight with two round wings side by side, winding inner diameter 23 mm
      and outer diameter 46 mm (the footprint of the measured Cool-B35 model, its liquid-cooled
      sibling: x +-46 mm, y +-23 mm; "B35" = 35 mm mean winding diameter = (23 + 46) / 2);
    * 9-mm-tall windings (seed 003, "Coil model": "the 9-mm-tall windings");
    * the seed's two quadratures (three layers / one layer; :data:`.windings.RESOLUTIONS`).

    What we calibrate, against the measured Cool-B35 model (Drakaki et al. 2022; SimNIBS
    ``MagVenture_Cool-B35.ccd``) at equal dI/dt, with the analytic spherical-conductor field
    (:func:`..bem.sphere_model.sphere_efield`) in a rat-sized sphere (every point within 13 mm of
    a centre 15.4 mm under the casing: seed 003's fitted sphere, whose centre was 15.4 mm from
    the scalp at the coil positions) and the primary field in a 60 x 40 x 23 mm slab 2-25 mm under
    the coil: the number of turns (whole) and the distance from the casing's bottom to the
    lowermost wire. Over 6.0-7.3 mm and 14-16 turns, 15 turns at 6.6 mm match best
    (``benchmarks/calibrate_mc_b35.py`` prints the table):

    ====================================  ========
    peak |E| in the sphere, MC-B35/Cool    1.000
    pattern correlation (1 - CCE)           0.9975
    relative error in the sphere            7.0 %
    relative error of E_p in the slab       5.9 %
    ====================================  ========

    The pattern correlation hardly depends on the two calibrated numbers (0.996-0.998 over
    0-8 mm); the peak and the fall-off with depth fix them. The 6.6 mm is that of the Cool-B35's
    measured field (its equivalent dipoles lie 6-17 mm behind its casing), so the preset is
    "an MC-B35 with the Cool-B35's field", which is what the data can support; an MC-B35 with a
    thinner casing would give a stronger field near the coil.
"""

from __future__ import annotations

from pathlib import Path

from .dipoles import CoilDipoles
from .windings import CoilWindings, figure_eight_coil

__all__ = ["MC_B35", "mc_b35", "COIL_PRESETS", "load_coil", "write_windings_json"]

#: The MagVenture MC-B35 figure-of-eight (see the module docstring for what is known and what is
#: calibrated).
MC_B35 = figure_eight_coil(
    inner_diameter_mm=23.0,
    outer_diameter_mm=46.0,
    turns_per_wing=15,
    winding_height_mm=9.0,
    casing_to_winding_mm=6.6,
    name="MC-B35",
)

#: MagVenture stimulators' maximum dI/dt with the B35 coils (A/us): the Cool-B35 file's
#: ``dIdtmax`` (MagPro X100). Seed 003's 50 A/us is "about 33 % of the maximum stimulator output".
MC_B35_MAX_DIDT_A_PER_US = 141.28


def mc_b35(resolution: str = "high") -> CoilDipoles:
    """Dipoles of the MC-B35 preset: ``"high"`` (three layers, 2,580 dipoles, the seed's
    reference resolution) or ``"low"`` (one layer, 136 dipoles)."""
    dipoles = MC_B35.dipoles(resolution)
    return CoilDipoles(dipoles.positions_m, dipoles.moments_m2, f"MC-B35 ({resolution})")


#: Presets by name, as offered in the widget and the CLI.
COIL_PRESETS: dict[str, tuple[CoilWindings, str]] = {
    "MC-B35": (MC_B35, "high"),
    "MC-B35 (low resolution)": (MC_B35, "low"),
}


def write_windings_json(path, windings: CoilWindings, resolution: str = "high", overwrite: bool = False):
    """Save a parametric coil as JSON (``{"windings": {...}, "resolution": ...}``, millimetres)."""
    import json

    from ..files import atomic_write

    path = Path(path)
    text = json.dumps({"windings": windings.to_dict(), "resolution": resolution}, indent=2)
    atomic_write(path, overwrite, lambda tmp: Path(tmp).write_text(text))
    return path


def _load_windings_json(path: Path):
    import json

    from .ccd import CoilModelError

    try:
        data = json.loads(path.read_text())
        windings = CoilWindings.from_dict(data["windings"])
        resolution = data.get("resolution", "high")
        dipoles = windings.dipoles(resolution)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CoilModelError(
            f"{path} is not a usable coil winding file ({err}). Expected JSON with a 'windings' object "
            "(the CoilWindings fields, mm) and optionally 'resolution' (low, high, reference).") from err
    return dipoles, {"source": str(path), "windings": windings, "resolution": resolution, "metadata": {}}


def load_coil(name_or_path) -> tuple[CoilDipoles, dict]:
    """A coil by preset name (:data:`COIL_PRESETS`), from a SimNIBS ``.ccd`` file, or from a
    parametric winding ``.json`` file (:func:`write_windings_json`).

    Returns the dipoles (coil frame) and a description: ``source``, ``windings`` (a
    :class:`CoilWindings` for parametric coils, else None), ``metadata`` (the ``.ccd`` header).
    """
    from .ccd import CoilModelError, read_ccd

    if isinstance(name_or_path, str) and name_or_path in COIL_PRESETS:
        windings, resolution = COIL_PRESETS[name_or_path]
        dipoles = windings.dipoles(resolution)
        return (CoilDipoles(dipoles.positions_m, dipoles.moments_m2, name_or_path),
                {"source": "preset", "windings": windings, "resolution": resolution, "metadata": {}})
    path = Path(name_or_path)
    if path.suffix.lower() == ".json":
        return _load_windings_json(path)
    if path.suffix.lower() != ".ccd":
        raise CoilModelError(
            f"{name_or_path!s} is neither a coil preset ({', '.join(COIL_PRESETS)}), a SimNIBS .ccd "
            "file nor a coil winding .json file. Give a preset name or the path of such a file.")
    dipoles, metadata = read_ccd(path)
    return dipoles, {"source": str(path), "windings": None, "resolution": None, "metadata": metadata}

