"""3D CNNs predicting a neuron's activation threshold from its local E-field (seed 000; PyTorch).

The seed's family (Aberra et al. 2023 NeuroImage 275:120184): a few blocks of ``Conv3d`` (3 x 3 x 3,
padding 1) + ``BatchNorm3d`` + ``ReLU``, max-pooling (2) after every block but the first while the
grid is at least 2 points wide, then a small dense head ``Linear -> ReLU -> Linear(1)``.

* **Input**: (B, 4, n, n, n), n = 9 by default: the three cell-frame field channels normalised by
  ``|E_soma|`` and the mask channel (1 inside the tissue, 0 outside where the field channels are 0):
  :meth:`.local_field.LocalFieldSamples.network_input`.
* **Output**: ``log(T_soma / (1 V/m))``, the natural logarithm of the *normalised threshold*
  ``T_soma = A |E_soma|`` (:mod:`.local_field`), a scalar per neuron. The network's last layer
  predicts a standardised value ``z``; the module returns ``target_mean + target_std * z``, the two
  buffers set from the training targets (:meth:`ThresholdCNN.set_target_scale`), so that the
  weights file alone gives thresholds. The threshold amplitude (the multiplier of the sampled field,
  A/us for a field at 1 A/us) is ``exp(output) / |E_soma|``.

One network per cell type, or (the same class) for the population median threshold
(:data:`.dataset.POPULATION_MEDIAN`; none shipped, it did not beat its baselines: issue 21). :func:`save_model` writes the ``state_dict`` (``<name>.pt``)
next to a JSON model card (``<name>.json``, see :mod:`.training`); :func:`load_model` reads both.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - torch is optional
    raise ImportError("the threshold CNNs need PyTorch: pip install 'napari-rat-tms[cnn]' (torch==2.13.0; "
                      "CPU wheels: --index-url https://download.pytorch.org/whl/cpu)") from exc

__all__ = ["NetworkConfig", "ThresholdCNN", "save_model", "load_model", "MODEL_CARD_FORMAT"]

MODEL_CARD_FORMAT = "napari-rat-tms threshold cnn"


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture: ``channels`` per conv block, ``hidden`` units of the dense head, ``grid_n``,
    ``in_channels`` (4: three field channels and the mask), ``dropout`` before the last layer."""

    channels: tuple = (16, 32, 64)
    hidden: int = 64
    grid_n: int = 9
    in_channels: int = 4
    dropout: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if not self.channels or min(self.channels) < 1 or self.hidden < 1 or self.grid_n < 1:
            raise ValueError("channels, hidden and grid_n must be positive")

    def as_dict(self) -> dict:
        out = asdict(self)
        out["channels"] = list(self.channels)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> NetworkConfig:
        return cls(**{k: (tuple(v) if k == "channels" else v) for k, v in data.items()})


class ThresholdCNN(nn.Module):
    """Conv3d + BatchNorm3d + ReLU blocks and a dense head; forward returns ``log(T_soma / 1 V/m)``
    (module docstring)."""

    def __init__(self, config: NetworkConfig = NetworkConfig()):
        super().__init__()
        self.config = config
        layers = []
        size, previous = config.grid_n, config.in_channels
        for k, c in enumerate(config.channels):
            layers += [nn.Conv3d(previous, c, 3, padding=1), nn.BatchNorm3d(c), nn.ReLU(inplace=True)]
            if k > 0 and size >= 2:
                layers.append(nn.MaxPool3d(2))
                size //= 2
            previous = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(previous * size ** 3, config.hidden),
                                  nn.ReLU(inplace=True), nn.Dropout(config.dropout),
                                  nn.Linear(config.hidden, 1))
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    def set_target_scale(self, log_targets) -> None:
        """Set the output's mean and scale from training targets ``log(T_soma)``."""
        values = torch.as_tensor(np.asarray(log_targets, dtype=np.float32))
        self.target_mean.fill_(float(values.mean()))
        self.target_std.fill_(float(values.std()) if len(values) > 1 and float(values.std()) > 0 else 1.0)

    def standardised(self, x):
        """The last layer's output ``z`` (B,), before the scale: what the loss compares."""
        return self.head(self.features(x)).squeeze(-1)

    def forward(self, x):
        return self.target_mean + self.target_std * self.standardised(x)

    def predict_log_threshold(self, inputs, batch_size: int = 4096) -> np.ndarray:
        """``log(T_soma)`` (M,) for numpy inputs (M, 4, n, n, n), in eval mode without gradients."""
        inputs = np.asarray(inputs, dtype=np.float32)
        n = self.config.grid_n
        if inputs.ndim != 5 or inputs.shape[1:] != (self.config.in_channels, n, n, n):
            raise ValueError(f"inputs must be (M, {self.config.in_channels}, {n}, {n}, {n}), got "
                             f"{inputs.shape}")
        was_training = self.training
        self.eval()
        out = []
        try:
            with torch.inference_mode():
                for start in range(0, len(inputs), batch_size):
                    out.append(self(torch.from_numpy(inputs[start:start + batch_size])).numpy())
        finally:
            self.train(was_training)
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def save_model(model: ThresholdCNN, card: dict, path) -> tuple[Path, Path]:
    """Write ``<path>.pt`` (the state_dict) and ``<path>.json`` (the model card, with the architecture and
    the format added); ``path`` without suffix. Returns both paths."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".pt", ".json") else path
    base.parent.mkdir(parents=True, exist_ok=True)
    weights, card_path = base.with_name(base.name + ".pt"), base.with_name(base.name + ".json")
    card = dict(card)
    card.update(format=MODEL_CARD_FORMAT, architecture=model.config.as_dict(), weights=weights.name)
    torch.save(model.state_dict(), weights)
    card_path.write_text(json.dumps(card, indent=1, allow_nan=True))
    return weights, card_path


def load_model(path) -> tuple[ThresholdCNN, dict]:
    """Read a model written by :func:`save_model` (``path``: the card, the weights or their common stem).
    Returns the network (eval mode) and its card. ``ValueError`` when it is not one."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix in (".pt", ".json") else path
    card_path = base.with_name(base.name + ".json")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{card_path} is not a readable model card ({exc})") from exc
    if card.get("format") != MODEL_CARD_FORMAT:
        raise ValueError(f"{card_path} is not a {MODEL_CARD_FORMAT} model card")
    model = ThresholdCNN(NetworkConfig.from_dict(card["architecture"]))
    weights = card_path.with_name(card.get("weights", base.name + ".pt"))
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except (OSError, RuntimeError, KeyError) as exc:
        raise ValueError(f"{weights}: cannot load the network's weights ({exc})") from exc
    model.eval()
    return model, card
