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
