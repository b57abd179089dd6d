"""Helpers shared by the CLI verbs: JSON output and the rich progress bar."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import click

from pebuild.progress import Progress, ProgressEvent


def emit_json(data: Any) -> None:
    """Print `data` as stable, sorted, indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def is_quiet(ctx: click.Context | None = None) -> bool:
    ctx = ctx or click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    quiet = bool(root and root.obj and root.obj.get("quiet"))
    return quiet or not sys.stderr.isatty()


@contextlib.contextmanager
def progress_display(
    description: str, *, quiet: bool | None = None, console: Any = None
) -> Iterator[Progress]:
    """A Progress callback that draws a rich bar on stderr, or does nothing when quiet/not a TTY."""
    if quiet is None:
        quiet = is_quiet()
    if quiet:
        yield lambda _e: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress
    from rich.text import Text

    class AmountColumn(ProgressColumn):
        """Bytes as sizes (1.4/417.9 MB); counted things as 'n/m steps'."""

        def __init__(self) -> None:
            super().__init__()
            self._bytes = DownloadColumn()

        def render(self, task: Any) -> Text:
            unit = task.fields.get("unit", "bytes")
            if unit == "bytes":
                return self._bytes.render(task)
            total = "?" if task.total is None else str(int(task.total))
            return Text(f"{int(task.completed)}/{total} {unit}", style="progress.download")

    console = console or Console(stderr=True)
    with RichProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        AmountColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(event: ProgressEvent) -> None:
            task = tasks.get(event.stage)
            if task is None:
                task = tasks[event.stage] = bar.add_task(
                    f"{description}: {event.stage}", total=event.total, unit=event.unit, note=""
                )
            note = event.message if event.unit != "bytes" else ""
            bar.update(task, completed=event.done, total=event.total, note=note)

        yield update
