"""The optional GPU path (PyTorch + CUDA) gives the CPU's fields. Skipped where there is no GPU (CI)."""

import numpy as np
import pytest

from napari_rat_tms.core.bem.conductor import SIGMA_BODY, SIGMA_SKULL, nested_spheres
from napari_rat_tms.core.bem.solver import build_solver
from napari_rat_tms.core.coils import CoilDipoles
from napari_rat_tms.core.metrics import relative_error

torch = pytest.importorskip("torch", reason="the GPU path needs PyTorch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device: the GPU path is checked on machines that have one", allow_module_level=True)

RNG = np.random.default_rng(3)
POINTS = RNG.normal(size=(100, 3))
POINTS *= (RNG.uniform(0.001, 0.0085, 100) / np.linalg.norm(POINTS, axis=1))[:, None]
COILS = [CoilDipoles([[0, 0, 0.016 + 0.001 * k]], [[1e-4, 2e-5 * k, 0]]) for k in range(4)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gpu_matches_cpu(dtype):
    model = nested_spheres([0.0095, 0.0105, 0.012], [SIGMA_BODY, SIGMA_SKULL, SIGMA_BODY], subdivisions=3)
    cpu = build_solver(model, POINTS, dtype=dtype, solve_precision="float64")
    gpu = build_solver(model, POINTS, dtype=dtype, device="cuda")
    assert gpu.device == "cuda"
    # float64: only summation order differs; float32: its rounding (~1e-6 relative)
    tol = 1e-9 if dtype == np.float64 else 1e-5
    assert np.linalg.norm(gpu.transfer - cpu.transfer) <= tol * np.linalg.norm(cpu.transfer)
    for coil in COILS:
        assert relative_error(gpu.efield(coil), cpu.efield(coil)) <= tol
    np.testing.assert_allclose(gpu.efield_batch(COILS), cpu.efield_batch(COILS), rtol=10 * tol, atol=1e-12)
