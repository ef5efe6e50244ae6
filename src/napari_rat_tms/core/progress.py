"""Long computations as generators, and their blocking form.

Every long step of the core (synthetic scan, segmentation, meshing, BEM precomputation) is a
generator that yields ``(fraction, message)`` between sub-steps and returns its result
(``StopIteration.value``): napari's ``thread_worker`` turns the yields into a progress bar and
stops the generator on Cancel, the CLI draws a tqdm bar from the same reports.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TypeVar

__all__ = ["ProgressCallback", "run_to_completion", "forward"]

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


def forward(steps: Generator[tuple[float, str], None, T], start: float = 0.0, span: float = 1.0,
            prefix: str = "", tag: str | None = None) -> Generator[tuple, None, T]:
    """Re-yield a sub-step's reports inside a larger one and return its value (use ``yield from``).

    Each ``(fraction, message)`` becomes ``(start + span * fraction, prefix + message)``, or
    ``(tag, start + span * fraction, prefix + message)`` with a ``tag`` (the widgets' workers tag
    their progress items). Closing the outer generator (a Cancel) closes ``steps`` too.
    """
    try:
        while True:
            try:
                fraction, message = next(steps)
            except StopIteration as done:
                return done.value
            value = start + span * float(fraction)
            yield (value, prefix + message) if tag is None else (tag, value, prefix + message)
    finally:
        steps.close()
