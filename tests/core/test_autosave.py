"""Autosave snapshots (core.autosave): exact round trip, and a writer killed half-way leaves the
previous snapshot readable."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from napari_rat_tms.core.autosave import AutosavedLayer, discard_autosave, read_autosave, write_autosave


def _layers(value):
    labels = np.zeros((20, 30, 40), np.uint8)
    labels[5:10, 5:20, 10:30] = value
    landmarks = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]]) * value
    return [AutosavedLayer("segmentation", "labels", labels, (0.34, 0.34, 0.34), (1.0, 0.0, -2.0),
                           {"role": "segmentation"}),
            AutosavedLayer("landmarks", "points", landmarks, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), {})]


def test_round_trip_is_exact_and_old_generations_are_removed(tmp_path):
    assert read_autosave(tmp_path) is None
    write_autosave(tmp_path, _layers(1), placement={"coil": "MC-B35"})
    write_autosave(tmp_path, _layers(2))
    index, layers = read_autosave(tmp_path)
    assert [layer.name for layer in layers] == ["segmentation", "landmarks"] and index["placement"] is None
    for got, want in zip(layers, _layers(2)):
        np.testing.assert_array_equal(got.data, want.data)
        assert got.data.dtype == want.data.dtype
        assert got.scale == want.scale and got.translate == want.translate
    assert layers[0].metadata == {"role": "segmentation"}
    assert len(list((tmp_path / "autosave").glob("*.npz"))) == 2        # one generation kept
    # a damaged file is left out with a warning, the rest is read
    next((tmp_path / "autosave").glob("landmarks*.npz")).write_bytes(b"broken")
    with pytest.warns(UserWarning, match="missing or changed"):
        _, layers = read_autosave(tmp_path)
    assert [layer.name for layer in layers] == ["segmentation"]
    discard_autosave(tmp_path)
    assert not (tmp_path / "autosave").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL of a child process")
def test_a_writer_killed_half_way_leaves_the_previous_snapshot(tmp_path):
    # the child writes snapshot 1, then starts snapshot 2 and is killed (SIGKILL, no cleanup) after
    # its first layer file: the index must still describe snapshot 1, complete
    script = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        import napari_rat_tms.core.autosave as autosave
        from tests.core.test_autosave import _layers
        autosave.write_autosave({str(tmp_path)!r}, _layers(1))
        real = autosave.atomic_write
        def dying(path, overwrite, write):
            real(path, overwrite, write)
            os.kill(os.getpid(), signal.SIGKILL)
        autosave.atomic_write = dying
        autosave.write_autosave({str(tmp_path)!r}, _layers(2))
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, timeout=120)
    assert result.returncode == -9, result.stderr.decode()[-2000:]
    assert len(list((tmp_path / "autosave").glob("*.npz"))) == 3      # snapshot 1 + the orphan of 2
    index, layers = read_autosave(tmp_path)
    for got, want in zip(layers, _layers(1)):
        np.testing.assert_array_equal(got.data, want.data)
    assert len(layers) == 2
