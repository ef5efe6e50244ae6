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


def test_a_user_error_of_long_work_is_also_a_napari_notification():
    from napari.utils.notifications import NotificationSeverity, notification_manager

    def wrong_input():
        raise ValueError("the bone threshold must be above the soft-tissue threshold")

    before = len(notification_manager.records)
    outcomes = []
    start_work(wrong_input, blocking=True, on_outcome=outcomes.append, activity="Segmentation")
    new = notification_manager.records[before:]
    assert isinstance(outcomes[0].error, ValueError)          # the dock still gets it for its status
    assert [n.severity for n in new] == [NotificationSeverity.ERROR]
    assert new[0].message == "Segmentation: the bone threshold must be above the soft-tissue threshold"

    start_work(wrong_input, blocking=True, on_outcome=outcomes.append)   # quick work (a field update)
    assert len(notification_manager.records) == before + 1               # stays in the dock only
