"""Run the real `pebuild` CLI with its progress events on stdout, pausing at one of them for a signal.

    python tests/interrupt_driver.py [--pause-at N | --pause-at STAGE:N] -- make amd64 ...

Every ProgressEvent the library reports goes to stdout as one line,
`@event <n> <stage> <done>/<total> <message>`, so a test can pick the moments to
interrupt from what the command is doing instead of from guessed time offsets.
With `--pause-at N` the N-th event (`STAGE:N`: the N-th event of that stage)
prints `@paused <n>` and waits (at most 20 s)
for a signal: the test sends SIGINT/SIGTERM/SIGKILL exactly there. A signal that
Python delivers at once raises KeyboardInterrupt out of the wait, as it would at
that point of the real command; one held back by `pebuild.interrupts.deferred()`
(a libwim call, a publish) ends the wait and the command goes on to its next safe
point. Nothing else is changed: the command line, the library and the exit
status are the real ones.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any


def main(argv: list[str]) -> None:
    pause_stage, pause_at = "", -1
    if argv[:1] == ["--pause-at"]:
        spec, argv = argv[1], argv[2:]
        pause_stage, _, number = spec.rpartition(":")
        pause_at = int(number)
    if argv[:1] == ["--"]:
        argv = argv[1:]

    import pebuild.cli._common as common
    from pebuild import interrupts
    from pebuild.progress import ProgressEvent

    count = 0
    per_stage: dict[str, int] = {}

    def report(event: ProgressEvent) -> None:
        nonlocal count
        count += 1
        per_stage[event.stage] = per_stage.get(event.stage, 0) + 1
        total = "?" if event.total is None else event.total
        print(f"@event {count} {event.stage} {event.done}/{total} {event.message}", flush=True)
        if (per_stage[event.stage] if pause_stage else count) != pause_at or (
            pause_stage and event.stage != pause_stage
        ):
            return
        print(f"@paused {count}", flush=True)
        deadline = time.monotonic() + 20
        while not interrupts.pending() and time.monotonic() < deadline:
            time.sleep(0.005)

    @contextlib.contextmanager
    def display(_description: str, **_kw: Any) -> Iterator[Any]:
        yield report

    # before any verb module imports them by name; "quiet" (no TTY) would drop the events
    common.progress_display = display
    common.is_quiet = lambda _ctx=None: False
    from pebuild.cli import main as pebuild_main

    pebuild_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
