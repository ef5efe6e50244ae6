"""The networks shipped in the package (``core/neurons/cnn/weights``): each loads and reproduces the
predictions and metrics its model card recorded on its bundled check subset (held-out records)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'napari-rat-tms[cnn]')")

from napari_rat_tms.core.neurons.cnn.estimator import WEIGHTS_DIR, shipped_estimator  # noqa: E402
from napari_rat_tms.core.neurons.cnn.training import verify_saved_model  # noqa: E402

CARDS = sorted(WEIGHTS_DIR.glob("*.json")) if WEIGHTS_DIR.is_dir() else []


@pytest.mark.skipif(not CARDS, reason="no network is shipped in core/neurons/cnn/weights yet")
@pytest.mark.parametrize("card", CARDS, ids=[c.stem for c in CARDS])
def test_shipped_network_reproduces_its_recorded_metrics(card):
    recorded = json.loads(card.read_text())
    metrics = verify_saved_model(card)
    assert metrics["n"] == len(recorded["check_subset"]["record_ids"]) > 0
    assert recorded["metrics"]["test"]["n"] > 0          # the card reports held-out metrics


@pytest.mark.skipif(not CARDS, reason="no network is shipped in core/neurons/cnn/weights yet")
def test_the_shipped_estimator_has_every_shipped_network():
    estimator = shipped_estimator()
    names = {json.loads(c.read_text())["cell_type"] for c in CARDS}
    assert {name for name in names if estimator.has_network(name)} == names


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@pytest.mark.skipif(not CARDS, reason="no network is shipped in core/neurons/cnn/weights yet")
@pytest.mark.parametrize("card", CARDS, ids=[c.stem for c in CARDS])
def test_a_shipped_card_names_no_path_of_the_build_machine(card):
    """Issue 21: cards ship in the package; a path such as /home/... or C:\\... says nothing to a user."""
    absolute = [s for s in _strings(json.loads(card.read_text()))
                if s.startswith(("/", "~")) or (len(s) > 2 and s[1] == ":" and s[2] in "\\/")]
    assert not absolute, f"{card.name}: {absolute[:3]}"


@pytest.mark.skipif(not CARDS, reason="no network is shipped in core/neurons/cnn/weights yet")
@pytest.mark.parametrize("card", CARDS, ids=[c.stem for c in CARDS])
def test_a_shipped_network_beats_its_baselines_on_held_out_neurons(card):
    """Issue 21: no shipped network loses to a constant (the training mean of log T_soma), to the
    simplest alternative (log T_soma from the field's direction at the soma) or to the uniform-field
    estimate (what the estimator falls back to), on the held-out test
    neurons its card reports, and its split was checked neuron by neuron (no neuron in two sets)."""
    recorded = json.loads(card.read_text())
    metrics, split = recorded["metrics"], recorded["split"]
    assert split.get("neurons_checked") is True, "the split was not checked neuron by neuron"
    for baseline in ("test_constant", "test_soma_direction"):
        assert metrics[baseline]["n"] == metrics["test"]["n"]             # the same neurons
        assert metrics["test"]["mape_percent"] < metrics[baseline]["mape_percent"], baseline
    if "test_uniform_field" in metrics:    # what users get without the network
        assert metrics["test"]["mape_percent"] < metrics["test_uniform_field"]["mape_percent"]
    assert metrics["test"]["pearson_r_log"] > 0.5


def test_the_weights_carry_the_licence_of_the_morphologies():
    """Issue 21: the weights derive from CC BY-NC-SA 4.0 morphologies; the package says so."""
    import tomllib
    from pathlib import Path

    notice = WEIGHTS_DIR / "LICENSE"
    assert notice.is_file() and "CC-BY-NC-SA-4.0" in notice.read_text()
    for card in CARDS:
        assert json.loads(card.read_text()).get("licence", {}).get("spdx") == "CC-BY-NC-SA-4.0", card.name
    pyproject = Path(__file__).resolve().parents[4] / "pyproject.toml"
    if pyproject.is_file():        # a source checkout
        project = tomllib.loads(pyproject.read_text())["project"]
        assert "CC-BY-NC-SA-4.0" in project["license"]
        assert any(f.endswith("cnn/weights/LICENSE") for f in project["license-files"])
