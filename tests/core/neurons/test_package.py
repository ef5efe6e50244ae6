"""The neurons package's public names (lazy NEURON imports)."""

from __future__ import annotations

import subprocess
import sys


def test_public_names_resolve():
    from napari_rat_tms.core import neurons
    from napari_rat_tms.core.errors import RatTmsError

    for name in neurons.__all__:
        assert getattr(neurons, name) is not None
    for error in ("ThresholdNotFound", "MorphologyError", "FieldOutsideDomainError", "MechanismBuildError"):
        assert issubclass(getattr(neurons, error), RatTmsError)


def test_waveforms_and_quasipotentials_do_not_start_neuron():
    code = ("import sys; from napari_rat_tms.core.neurons import monophasic_pulse, quasipotentials; "
            "monophasic_pulse(); print('neuron' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
