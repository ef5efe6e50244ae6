"""A tiny CNN threshold dataset for the tests: ball-and-stick cells under a flat pia (z = 0, the brain below),
in linear fields (no BEM solve), two heads and three coil placements each."""

from __future__ import annotations

import numpy as np

from napari_rat_tms.core.neurons.cortex import CorticalNeuronPlacement, placement_rotation

PLACEMENTS = ("P0", "P1", "P2")
HEADS = ("ratA", "ratB")
CELL = "ball"
# NEURON settings that keep a threshold search short (rel_tol 5 %)
THRESHOLD_KWARGS = {"rel_tol": 0.05}


def neurons_of(head: str) -> list[CorticalNeuronPlacement]:
    """Three neurons at 0.7 mm depth (their grid reaches 0.05 mm above the pia), tilted normals."""
    shift = 0.0 if head == HEADS[0] else 0.4e-3
    out = []
    tilts = (((0.0, 0.0, 1.0), 0.3), ((0.2, 0.1, 1.0), 1.9), ((-0.25, 0.1, 1.0), 4.0))
    for k, (normal, azimuth) in enumerate(tilts):
        r = placement_rotation(normal, azimuth)
        vertex = np.array([1e-3 * k + shift, 0.0, 0.0])
        soma = vertex - 0.7e-3 * r[:, 2]
        out.append(CorticalNeuronPlacement(k, tuple(soma), tuple(r[:, 2]), azimuth, tuple(map(tuple, r)),
                                           "L5", 0.7))
    return out


def field_fn_for(head: str, placement: str):
    """A linear field pointing down into the cortex (V/m at amplitude 1), different per placement and head."""
    i, j = PLACEMENTS.index(placement), HEADS.index(head)
    e0 = np.array([20.0 * i - 15.0, 10.0 * j, -(60.0 + 25.0 * i + 10.0 * j)])
    gradient = np.array([[5.0, 0, 0], [0, -3.0, 0], [0, 0, 8.0 * (i - 1)]]) * 1e3 * (1 + 0.5 * j)

    def fn(points):
        return e0 + np.asarray(points) @ gradient.T
    return fn


def brain(points):
    return np.asarray(points)[:, 2] < 0.0


def coil_fields(counter=None):
    from napari_rat_tms.core.neurons.cnn.dataset import CoilField

    out = []
    for head in HEADS:
        for placement in PLACEMENTS:
            fn = field_fn_for(head, placement)
            if counter is not None:
                def fn(points, _fn=fn):
                    counter.append(len(points))
                    return _fn(points)
            out.append(CoilField(placement, head, fn, inside=brain))
    return out


def generate(directory, counter=None, **kwargs):
    from napari_rat_tms.core.neurons.cnn.dataset import generate_dataset
    from napari_rat_tms.core.neurons.population import CellSpec

    return generate_dataset(directory, {CELL: CellSpec("ball_and_stick")},
                            {head: {CELL: neurons_of(head)} for head in HEADS}, coil_fields(counter),
                            threshold_kwargs=THRESHOLD_KWARGS, processes=False, **kwargs)
