"""The docks' work adapter without Qt (viewer/work.py)."""

from __future__ import annotations

import warnings

import pytest

from napari_rat_tms.core.errors import RatTmsError
from napari_rat_tms.viewer.work import Outcome, call, drive


class _Note(UserWarning):
    pass


def _steps(fail=None, closed=None):
    try:
        yield 0.5, "half"
        warnings.warn("a note", _Note)
        warnings.warn("a note", _Note)          # said once
        warnings.warn("something else", DeprecationWarning)
        if fail is not None:
            raise fail
        yield 1.0, "done"
        return 42
    finally:
        if closed is not None:
            closed.append(True)


def _run(steps):
    items = []
    while True:
        try:
            items.append(next(steps))
        except StopIteration as done:
            return items, done.value


def test_drive_reyields_and_returns_the_value_with_notes_once():
    with pytest.warns(DeprecationWarning, match="something else"):   # not a note: issued again
        items, outcome = _run(drive(_steps(), notes_of=(_Note,)))
    assert items == [(0.5, "half"), (1.0, "done")]
    assert outcome.ok and outcome.value == 42 and outcome.notes == ["a note"]


def test_a_user_error_is_returned_a_bug_is_raised():
    with pytest.warns(DeprecationWarning):
        _, outcome = _run(drive(_steps(fail=RatTmsError("wrong threshold")), notes_of=(_Note,)))
    assert not outcome.ok and str(outcome.error) == "wrong threshold" and outcome.notes == ["a note"]
    with pytest.warns(DeprecationWarning), pytest.raises(ZeroDivisionError):
        _run(drive(_steps(fail=ZeroDivisionError()), notes_of=(_Note,)))


def test_closing_the_driver_closes_the_work():
    closed = []
    steps = drive(_steps(closed=closed))
    assert next(steps) == (0.5, "half")
    steps.close()                              # napari's quit() between two reports
    assert closed == [True]


def test_finish_runs_after_the_value_and_its_user_error_is_returned():
    outcome = call(lambda: 3, finish=lambda v: {"double": 2 * v})
    assert outcome.ok and outcome.extras == {"double": 6}

    def bad(_):
        raise ValueError("no region")

    outcome = call(lambda: 3, finish=bad)
    assert outcome.value == 3 and str(outcome.error) == "no region"
    assert isinstance(call(int, "x"), Outcome) and isinstance(call(int, "x").error, ValueError)
