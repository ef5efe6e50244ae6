"""One way for a dock to run long work: progress, cancel, notes from warnings, user errors.

Every dock runs a core generator (``(fraction, message)`` reports, then a returned value; see
:mod:`napari_rat_tms.core.progress`) or a plain function in a napari worker thread. What comes back
is always an :class:`Outcome`:

* ``value``: what the work returned;
* ``error``: a *user* error (:data:`USER_ERRORS`: a wrong input, a failed computation on the
  user's data, a file that cannot be read), returned rather than raised, so that the dock says it
  in its status and napari does not pop up a traceback for, say, a wrong threshold. Any other
  exception is a bug: it propagates (napari shows it with its traceback, the blocking form raises it);
* ``notes``: the messages of the warnings of the chosen categories (``notes_of``) raised by the
  work, each once, in order: the dock shows them in its result. Other warnings are issued again
  unchanged, so napari's worker forwards them to its notifications as for any plugin;
* ``cancelled``: the work was stopped between two steps (Cancel); ``value`` is then None.

The GUI side (starting the worker, or running in the calling thread for scripts and tests) is
:func:`napari_rat_tms.widgets._running.start_work`; this module has no Qt.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from ..core.errors import RatTmsError

__all__ = ["USER_ERRORS", "Outcome", "drive", "call"]

#: Exceptions that concern the user's input or data (their message says what to fix): reported in
#: :attr:`Outcome.error`. ``RatTmsError`` covers the core's own errors, ``ValueError`` the checks of
#: arguments, ``OSError`` files that cannot be read or written.
USER_ERRORS: tuple[type[BaseException], ...] = (RatTmsError, ValueError, OSError)


@dataclass
class Outcome:
    """What a dock's work gave (see the module docstring)."""

    value: object = None
    error: BaseException | None = None
    notes: list[str] = field(default_factory=list)
    cancelled: bool = False
    #: What a ``finish`` step computed in the worker beside the value (name -> object).
    extras: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The work finished with a value (not cancelled, no user error)."""
        return self.error is None and not self.cancelled


def _noting(notes: list[str], notes_of: tuple, fn, *args):
    """``fn(*args)``, the messages of its warnings of the categories ``notes_of`` appended to
    ``notes`` (once each); its other warnings issued again as they were."""
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            return fn(*args)
    finally:
        for w in caught:
            if notes_of and issubclass(w.category, notes_of):
                message = str(w.message)
                if message not in notes:
                    notes.append(message)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _finished(outcome: Outcome, finish: Callable | None, notes_of: tuple,
              user_errors: tuple) -> Outcome:
    """Run ``finish(value) -> dict`` (work that belongs in the worker after the value, e.g. a
    dilation of seconds that must not freeze the viewer) into :attr:`Outcome.extras`."""
    if finish is not None and outcome.ok:
        try:
            outcome.extras.update(_noting(outcome.notes, notes_of, finish, outcome.value) or {})
        except user_errors as err:
            outcome.error = err
    return outcome


def drive(steps: Generator, *, notes_of: tuple = (UserWarning,), user_errors: tuple = USER_ERRORS,
          finish: Callable | None = None) -> Generator[object, None, Outcome]:
    """Run the generator ``steps`` in the worker: re-yield its reports and return an :class:`Outcome`.

    Closing this generator (napari's ``quit()`` between two yields) closes ``steps`` too, so a
    cancelled core step cleans up at once.
    """
    notes: list[str] = []
    try:
        while True:
            try:
                item = _noting(notes, notes_of, next, steps)
            except StopIteration as done:
                return _finished(Outcome(done.value, notes=notes), finish, notes_of, user_errors)
            yield item
    except user_errors as err:
        return Outcome(error=err, notes=notes)
    finally:
        steps.close()


def call(fn: Callable, *args, notes_of: tuple = (UserWarning,), user_errors: tuple = USER_ERRORS,
         finish: Callable | None = None) -> Outcome:
    """:func:`drive` for a plain function: ``fn(*args)`` as an :class:`Outcome`."""
    notes: list[str] = []
    try:
        value = _noting(notes, notes_of, fn, *args)
    except user_errors as err:
        return Outcome(error=err, notes=notes)
    return _finished(Outcome(value, notes=notes), finish, notes_of, user_errors)
