"""SIGINT and SIGTERM as one "interrupted" (exit 130), held back where stopping is unsafe.

Python raises KeyboardInterrupt at whichever bytecode runs when SIGINT lands:
inside a ctypes callback ("Exception ignored on calling ctypes callback
function", and libwim then fails with an unknown progress status, wimlib error
77), or between two renames of a publish. Inside `deferred()` the signal only
records itself. Code polls `pending()` where stopping is safe — the libwim
progress callback answers WIMLIB_PROGRESS_STATUS_ABORT so libwim unwinds and
truncates what it appended (wimlib src/write.c, overwrite_wim_inplace) — and
when the outermost block ends the signal is delivered again to the handler that
was there before (KeyboardInterrupt for SIGINT, the CLI's for SIGTERM). Work
that landed anyway (a commit whose header is written, a publish that finished)
calls `consume()`: it succeeded, and reporting "interrupted" would be a lie.

Only the main thread can install handlers; elsewhere `deferred()` does nothing
and `pending()` still sees signals the main thread recorded.

`mark_landed()` records that the command's work is published (outputs renamed
into place, a commit's header written); an interrupt after that, while the
command tidies up or prints its summary, is reported by the CLI as the success
it is, not as exit 130.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_pending: list[int] = []
_depth = 0
_landed = False


def _record(signum: int, _frame: FrameType | None) -> None:
    _pending.append(signum)


def pending() -> bool:
    """True when SIGINT or SIGTERM arrived inside a `deferred()` block and was not consumed."""
    return bool(_pending)


def consume() -> bool:
    """Forget pending signals (the work they would have stopped has landed); True if there were any."""
    had = bool(_pending)
    _pending.clear()
    return had


def check() -> None:
    """At a safe point inside `deferred()`: stop now (KeyboardInterrupt) if a signal is pending."""
    if _pending:
        _pending.clear()
        raise KeyboardInterrupt


def mark_landed() -> None:
    """The command's work is published: from now on an interrupt cannot undo it."""
    global _landed
    _landed = True


def landed() -> bool:
    return _landed


def raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    """A SIGTERM handler for the CLI: terminate like Ctrl-C (cleanup runs, exit 130)."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back for the block; nested blocks share the outermost one."""
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig in SIGNALS:
        signal.signal(sig, _record)
    _depth = 1
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        _depth = 0
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        got = list(dict.fromkeys(_pending))
        _pending.clear()
        if got and not failed:
            # the handler that was there before decides (KeyboardInterrupt, the CLI's SIGTERM, exit)
            signal.raise_signal(got[0])
