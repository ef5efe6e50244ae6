"""Long computations as generators, and their blocking form.

Every long step of the core (synthetic scan, segmentation, meshing, BEM precomputation) is a
generator that yields ``(fraction, message)`` between sub-steps and returns its result
(``StopIteration.value``): napari's ``thread_worker`` turns the yields into a progress bar and
stops the generator on Cancel, the CLI draws a tqdm bar from the same reports.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TypeVar

__all__ = ["ProgressCallback", "run_to_completion"]

T = TypeVar("T")
ProgressCallback = Callable[[float, str], None]


def run_to_completion(steps: Generator[tuple[float, str], None, T],
                      progress: ProgressCallback | None = None) -> T:
    """Run a ``(fraction, message)`` generator to its end and return its value, calling
    ``progress(fraction, message)`` at each report."""
    try:
        while True:
            try:
                fraction, message = next(steps)
            except StopIteration as done:
                return done.value
            if progress is not None:
                progress(float(fraction), message)
    except BaseException:
        steps.close()   # an interrupt (Ctrl-C) in the callback: the generator cleans up now, not at GC
        raise
