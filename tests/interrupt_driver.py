"""Run the real `pebuild` CLI with its progress events on stdout, pausing at one of them for a signal.

    python tests/interrupt_driver.py [--pause-at N | STAGE:N] [--kill-after-renames K] -- make amd64 ...

Every ProgressEvent the library reports goes to stdout as one line,
`@event <n> <stage> <done>/<total> <message>`, so a test can pick the moments to
interrupt from what the command is doing instead of from guessed time offsets.
With `--pause-at N` the N-th event (`STAGE:N`: the N-th event of that stage)
prints `@paused <n>` and waits (at most 20 s)
for a signal: the test sends SIGINT/SIGTERM/SIGKILL exactly there. A signal that
Python delivers at once raises KeyboardInterrupt out of the wait, as it would at
that point of the real command; one held back by `pebuild.interrupts.deferred()`
(a libwim call, a publish) ends the wait and the command goes on to its next safe
point. A line on stdin ends the wait too (the test lets the command go on).
`--kill-after-renames K` SIGKILLs the process after K renames of its publish,
the one moment no progress event marks. Nothing else is changed: the command
line, the library and the exit status are the real ones.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
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
    kill_after = -1
    if argv[:1] == ["--kill-after-renames"]:
        kill_after, argv = int(argv[1]), argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if kill_after >= 0:
        _kill_in_publish(kill_after)

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
        watch = [sys.stdin]
        while not interrupts.pending() and time.monotonic() < deadline:
            if select.select(watch, [], [], 0.005)[0]:
                if sys.stdin.readline():
                    break
                watch = []  # end of file: only a signal ends the wait

    @contextlib.contextmanager
    def display(_description: str, **_kw: Any) -> Iterator[Any]:
        yield report

    # before any verb module imports them by name; "quiet" (no TTY) would drop the events
    common.progress_display = display
    common.is_quiet = lambda _ctx=None: False
    from pebuild.cli import main as pebuild_main

    pebuild_main(argv)


def _kill_in_publish(after: int) -> None:
    from pebuild.outputs import stage

    done = 0
    real = stage.do_step

    def step(s: Any) -> None:
        nonlocal done
        if done == after:
            os.kill(os.getpid(), signal.SIGKILL)
        real(s)
        done += 1

    stage.do_step = step  # type: ignore[assignment]


if __name__ == "__main__":
    main(sys.argv[1:])
