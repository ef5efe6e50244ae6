"""The docks' one worker adapter, its blocking form (no display needed); the non-blocking form is
exercised by every dock's tests."""

from __future__ import annotations

import pytest

from napari_rat_tms.widgets._running import start_work


def _steps(closed):
    try:
        yield 0.5, "half"
        yield 1.0, "done"
        return 42
    finally:
        closed.append(True)


def test_blocking_start_work_cancels_between_steps_and_reports_once():
    seen, outcomes, finished, closed = [], [], [], []
    outcome = start_work(_steps(closed=closed), blocking=True, on_progress=seen.append,
                         on_outcome=outcomes.append, on_finished=lambda: finished.append(True),
                         cancel_requested=lambda: bool(seen))
    assert seen == [(0.5, "half")] and outcome.cancelled and outcomes == [outcome]
    assert finished == [True] and closed == [True]

    errors = []
    start_work(lambda: 1 / 0, blocking=True, on_outcome=outcomes.append, on_error=errors.append,
               on_finished=lambda: finished.append(True))
    assert isinstance(errors[0], ZeroDivisionError) and len(outcomes) == 1 and len(finished) == 2
    with pytest.raises(ZeroDivisionError):    # no on_error: a bug is raised, after on_finished
        start_work(lambda: 1 / 0, blocking=True, on_outcome=outcomes.append,
                   on_finished=lambda: finished.append(True))
    assert len(finished) == 3
