"""TMS coil models (magnetic dipoles) and the primary E-field they induce.

- :mod:`.dipoles`: a coil as magnetic dipoles, and its primary field (physics notes section 2);
- :mod:`.windings`: parametric round and figure-of-eight coils, their flux-quadrature dipoles
  and wire paths;
- :mod:`.wires`: the exact field of the wire path, the reference for the dipole models;
- :mod:`.presets`: the MagVenture MC-B35 of seed 003, calibrated against the measured Cool-B35;
- :mod:`.ccd`: SimNIBS ``.ccd`` files, read and write;
- several coils driven together are one coil (:func:`.dipoles.superposed_coils`); a coil's sanity
  numbers in a rat-sized sphere are :mod:`napari_rat_tms.core.fields.coil_summary` (it uses the
  sphere's closed form, so it sits above the solver).

Where a coil sits on the head is :mod:`napari_rat_tms.core.placement`.
"""

from .ccd import KNOWN_CCD_KEYS, CoilModelError, CoilModelWarning, read_ccd, write_ccd
from .dipoles import MU0, CoilDipoles, merged_dipoles, primary_efield, primary_efield_normal, superposed_coils
from .presets import COIL_PRESETS, MC_B35, MC_B35_MAX_DIDT_A_PER_US, load_coil, mc_b35, write_windings_json
from .windings import (
    RESOLUTIONS,
    CoilWindings,
    QuadratureResolution,
    coil_current_direction,
    figure_eight_coil,
    round_coil,
)
from .wires import WirePath, wire_primary_efield

__all__ = [
    "MU0", "CoilDipoles", "merged_dipoles", "primary_efield", "primary_efield_normal",
    "CoilModelError", "CoilModelWarning", "KNOWN_CCD_KEYS", "read_ccd", "write_ccd",
    "CoilWindings", "QuadratureResolution", "RESOLUTIONS", "figure_eight_coil", "round_coil",
    "coil_current_direction", "WirePath", "wire_primary_efield",
    "MC_B35", "MC_B35_MAX_DIDT_A_PER_US", "mc_b35", "COIL_PRESETS", "load_coil", "write_windings_json",
    "superposed_coils",
]
