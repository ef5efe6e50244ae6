"""The docks' one worker adapter: long work in a napari worker (or in the calling thread for scripts
and tests), with the same callbacks either way.

The work itself is wrapped by :mod:`napari_rat_tms.viewer.work` (no Qt): reports go to
``on_progress``, the result, a user error, the notes of its warnings and a cancel all arrive as one
:class:`~napari_rat_tms.viewer.work.Outcome` in ``on_outcome``, and ``on_finished`` comes last,
whatever happened. A bug (any other exception) goes to ``on_error`` when given, and is shown by
napari's notifications (non-blocking) or raised (blocking) otherwise. The worker is also listed in
napari's activity panel, as every ``create_worker`` worker is. A user error of long work (one with
an ``activity`` name) is also shown in napari's notifications, the napari way, besides the dock's
status, where it stays.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from ..viewer.work import USER_ERRORS, Outcome, call, drive

__all__ = ["start_work", "Outcome"]


def _nothing(*_):
    return None


def _activity_text(activity: str, item) -> str:
    """``activity: <the report's message>`` for napari's activity panel (reports are ``(fraction,
    message)`` or ``(tag, fraction, message)``; others show the activity alone)."""
    message = item[-1] if isinstance(item, tuple) and item and isinstance(item[-1], str) else ""
    text = f"{activity}: {message}" if message else activity
    return text if len(text) <= 100 else text[:99] + "…"


def _notifying(on_outcome: Callable[[Outcome], None], activity: str):
    """``on_outcome`` that first notifies a user error (the dock still says it in its status)."""
    def handle(outcome: Outcome):
        if outcome.error is not None:
            _notify_user_error(activity, outcome.error)
        on_outcome(outcome)
    return handle


def _notify_user_error(activity: str, error: BaseException) -> None:
    """Show a user error of long work in napari's notifications (bottom right, non-blocking)."""
    from napari.utils.notifications import show_error

    show_error(f"{activity}: {error}")


def start_work(work: Generator | Callable, *, on_outcome: Callable[[Outcome], None],
               on_progress: Callable | None = None, on_finished: Callable | None = None,
               on_error: Callable | None = None, blocking: bool = False,
               cancel_requested: Callable[[], bool] | None = None, notes_of: tuple = (UserWarning,),
               user_errors: tuple = USER_ERRORS, finish: Callable | None = None,
               notify_bugs: bool | None = None, activity: str | None = None):
    """Run ``work``: a generator (its reports to ``on_progress``; cancellable between two of them)
    or a callable without arguments (one result; not cancellable).

    ``blocking=False``: in a started napari worker, which is returned (``worker.quit()`` cancels a
    generator). ``blocking=True``: in this thread (returns the :class:`Outcome`), stopping between
    two reports when ``cancel_requested()`` becomes true. ``notes_of``, ``user_errors``, ``finish``:
    see :func:`~napari_rat_tms.viewer.work.drive`. ``notify_bugs``: show a bug in napari's
    notifications too (default: only when there is no ``on_error``). ``activity``: the name of the
    work in napari's activity panel (bottom right of the window), where each report's message then
    shows too (long work only: not the field's updates), and where a user error is notified.
    """
    if activity:
        on_outcome = _notifying(on_outcome, activity)
    ignore_errors = on_error is not None if notify_bugs is None else not notify_bugs
    on_progress = on_progress or _nothing
    on_finished = on_finished or _nothing
    options = {"notes_of": notes_of, "user_errors": user_errors, "finish": finish}
    is_generator = isinstance(work, Generator)
    if not blocking:
        from napari.qt.threading import create_worker

        extra = {"_progress": {"total": 0, "desc": activity}} if activity else {}
        worker = (create_worker(drive, work, **options, _ignore_errors=ignore_errors, **extra)
                  if is_generator else
                  create_worker(call, work, **options, _ignore_errors=ignore_errors, **extra))
        if is_generator:
            worker.yielded.connect(on_progress)
            pbar = getattr(worker, "pbar", None)
            if pbar is not None:
                worker.yielded.connect(lambda item: pbar.set_description(_activity_text(activity, item)))
            worker.aborted.connect(lambda: on_outcome(Outcome(cancelled=True)))
        worker.returned.connect(on_outcome)
        if on_error is not None:
            worker.errored.connect(on_error)
        worker.finished.connect(on_finished)
        worker.start()
        return worker
    try:
        if not is_generator:
            outcome = call(work, **options)
        else:
            steps = drive(work, **options)
            try:
                while True:
                    try:
                        item = next(steps)
                    except StopIteration as done:
                        outcome = done.value
                        break
                    on_progress(item)
                    if cancel_requested is not None and cancel_requested():
                        outcome = Outcome(cancelled=True)
                        break
            finally:
                steps.close()
    except Exception as err:   # a bug, as the worker's errored signal
        if on_error is None:
            on_finished()
            raise
        on_error(err)
        on_finished()
        return None
    on_outcome(outcome)
    on_finished()
    return outcome
