"""Helpers shared by the CLI verbs: JSON output and the rich progress bar."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import click

from pebuild.progress import Progress, ProgressEvent


class ArchType(click.ParamType):
    """An architecture in any accepted spelling (x64, x86_64, i386, aarch64, ...) -> its ADK name."""

    name = "arch"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """A UsageError, not click's usage block: the one-line `pebuild: ...` every bad input gets."""
        from pebuild.arches import normalize_arch

        return normalize_arch(value)

    def get_metavar(self, param: click.Parameter, *args: Any, **kwargs: Any) -> str:
        return "[x86|amd64|arm64|ia64]"


#: the one click type every verb's arch argument or --arch option uses (pebuild.arches)
ARCH = ArchType()


class TableType(click.ParamType):
    """--table / --usb-table: mbr or gpt; `hybrid` gets the one-line reason it was removed."""

    name = "table"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from pebuild.errors import UsageError
        from pebuild.usb import REMOVED_TABLES, TABLES

        text = str(value).strip().lower()
        if text in REMOVED_TABLES:
            raise UsageError(REMOVED_TABLES[text])
        if text not in TABLES:
            raise UsageError(f"partition table must be one of {', '.join(TABLES)}, got {value!r}")
        return text

    def get_metavar(self, param: click.Parameter, *args: Any, **kwargs: Any) -> str:
        return "[mbr|gpt]"


TABLE = TableType()


def parse_size_option(text: str | None, what: str) -> int | None:
    """A K/M/G/T size option (binary units, pebuild.sizes) as bytes; None stays None."""
    if text is None:
        return None
    from pebuild.sizes import parse_size

    return parse_size(text, what=what)


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


def complete_recipe(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion for --recipe: files (the shell completes those) and shipped recipe names.

    The file item comes first: click's bash script clears earlier candidates when it meets one.
    """
    from click.shell_completion import CompletionItem

    from pebuild.recipe.shipped import shipped_recipe_names

    names = [CompletionItem(n) for n in shipped_recipe_names() if n.startswith(incomplete)]
    return [CompletionItem(incomplete, type="file"), *names]
