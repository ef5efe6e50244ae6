"""Long computations as generators, and their blocking form.

Every long step of the core (synthetic scan, segmentation, meshing, BEM precomputation) is a
generator that yields ``(fraction, message)`` between sub-steps and returns its result
(``StopIteration.value``): napari's ``thread_worker`` turns the yields into a progress bar and
stops the generator on Cancel, the CLI draws a tqdm bar from the same reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from typing import TypeVar

__all__ = ["ProgressCallback", "run_to_completion", "forward", "format_duration", "with_time_left"]

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


def format_duration(seconds: float) -> str:
    """A duration for people: ``"45 s"``, ``"3 min 20 s"``, ``"1 h 05 min"``."""
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        minutes, rest = divmod(int(round(seconds)), 60)
        return f"{minutes} min {rest:02d} s"
    hours, rest = divmod(int(round(seconds)) // 60, 60)
    return f"{hours} h {rest:02d} min"


def with_time_left(steps: Generator[tuple[float, str], None, T], phases: Sequence[tuple[float, float, float]],
                   clock: Callable[[], float] = time.perf_counter) -> Generator[tuple[float, str], None, T]:
    """Re-yield ``(fraction, message)`` reports with the time left appended, and return the value.

    ``phases``: ``(start fraction, end fraction, estimated seconds)`` of the step's phases in
    order (e.g. a BEM precomputation's assembly, factorisation, ...: their estimates differ by
    orders of magnitude, so a fraction is not a time). The time done by the estimate at a report
    is the estimated seconds of the phases before it plus the done part of the current one; the
    measured speed (elapsed over that) then scales what the estimate says is left. Before 2 % of
    the estimate is done, the estimate alone is given ("estimated")."""
    phases = [(float(a), float(b), max(float(t), 0.0)) for a, b, t in phases]
    total = sum(t for _, _, t in phases)
    start = clock()

    def estimated_done(fraction: float) -> float:
        done = 0.0
        for a, b, t in phases:
            if fraction >= b:
                done += t
            elif fraction > a:
                done += t * (fraction - a) / max(b - a, 1e-12)
        return done

    try:
        while True:
            try:
                fraction, message = next(steps)
            except StopIteration as stop:
                return stop.value
            done = estimated_done(float(fraction))
            if total <= 0 or fraction >= 1.0:
                yield fraction, message
                continue
            if done < 0.02 * total:
                left = f"about {format_duration(total - done)} left, estimated"
            else:
                left = f"{format_duration((clock() - start) / done * (total - done))} left"
            yield fraction, f"{message} ({left})"
    finally:
        steps.close()
