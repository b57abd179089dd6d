"""Progress events from the library, rendered by the CLI.

The library never prints: long operations accept an optional `Progress`
callback and report `ProgressEvent`s. The CLI turns them into a rich progress
bar (or nothing, when stderr is not a TTY or --quiet is given).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    stage: str  # short stage name, e.g. "extract", "write", "commit"
    done: int  # units done so far (bytes or items)
    total: int | None  # total units, None when unknown
    message: str = ""
    unit: str = "bytes"  # what done/total count: "bytes", or a plural noun ("steps", "files", ...)


Progress = Callable[[ProgressEvent], None]


def null_progress(_event: ProgressEvent) -> None:
    return None
