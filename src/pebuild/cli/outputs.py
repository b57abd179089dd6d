"""`pebuild clean DIR` and the --force / --no-wait options every output-writing verb shares."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pebuild.cli._common import emit_json

F = TypeVar("F", bound=Callable[..., Any])


def output_flags(func: F) -> F:
    """Add --force and --no-wait (pebuild.outputs.OutputOptions) to a verb."""
    func = click.option(
        "--no-wait",
        is_flag=True,
        help="If another pebuild is writing the same outputs, fail (exit 7) instead of waiting.",
    )(func)
    func = click.option(
        "--force",
        is_flag=True,
        help="Replace an existing directory even if pebuild did not write it or it holds other files.",
    )(func)
    return func


def output_options(force: bool, no_wait: bool) -> Any:
    """The OutputOptions for the flags; waiting is announced on stderr."""
    from pebuild.outputs import OutputOptions

    def announce(message: str) -> None:
        click.echo(f"pebuild: {message}", err=True)

    return OutputOptions(force=force, wait=not no_wait, on_wait=announce)


@click.command(
    "clean",
    epilog="""\b
Examples:
  pebuild clean out/            remove what killed builds left beside out/'s outputs
  pebuild clean . --json
""",
)
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def clean(directory: Path, as_json: bool) -> None:
    """Remove pebuild's debris in DIRECTORY: staging areas and build directories of dead runs.

    An interrupted publish found there is finished first (or undone), so the
    outputs are one complete set again. Also removes build directories kept with
    --keep. Nothing of a running pebuild and nothing pebuild did not name is touched.
    """
    from pebuild.errors import UsageError
    from pebuild.outputs import clean_directory

    if not directory.is_dir():
        raise UsageError("not a directory", path=directory)
    report = clean_directory(directory, kept=True)
    if as_json:
        emit_json(report.to_json())
        return
    for path in report.finished:
        click.echo(f"finished publishing: {path}")
    for path in report.undone:
        click.echo(f"restored: {path}")
    for path in report.removed:
        click.echo(f"removed: {path}")
    for path in report.busy:
        click.echo(f"in use by a running pebuild, left: {path}")
    if not (report.finished or report.undone or report.removed or report.busy):
        click.echo(f"{directory}: nothing to clean")
