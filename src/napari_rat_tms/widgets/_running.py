"""Running a dock's worker generator: in a napari worker, or in the calling thread for scripts and
tests, with the same callbacks either way."""

from __future__ import annotations

__all__ = ["run_steps"]


def run_steps(function, args, *, blocking: bool, on_yield, on_done, on_error, on_finished, cancel_requested):
    """Run the generator ``function(*args)``.

    ``blocking=False``: in a napari ``create_worker`` (started; returned) whose ``yielded``,
    ``returned`` / ``aborted`` (``on_done(cancelled)``), ``errored`` and ``finished`` signals call the
    callbacks. ``blocking=True``: in this thread (returns None), calling ``on_yield(item)`` for each
    item, stopping when ``cancel_requested()`` becomes true, then ``on_done(cancelled)`` or
    ``on_error(err)``, and ``on_finished()`` last, as the worker would.
    """
    if not blocking:
        from napari.qt.threading import create_worker

        worker = create_worker(function, *args)
        worker.yielded.connect(on_yield)
        worker.returned.connect(lambda *_: on_done(False))
        worker.aborted.connect(lambda: on_done(True))
        worker.errored.connect(on_error)
        worker.finished.connect(on_finished)
        worker.start()
        return worker
    steps = function(*args)
    cancelled = False
    try:
        for item in steps:
            on_yield(item)
            if cancel_requested():
                cancelled = True
                break
    except Exception as err:   # as the worker's errored signal
        on_error(err)
    else:
        on_done(cancelled)
    finally:
        steps.close()
        on_finished()
    return None
