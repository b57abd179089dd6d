"""`pebuild recipes` and `pebuild recipes show NAME`: the recipes and overlays in the package."""

from __future__ import annotations

import click

from pebuild.cli._common import emit_json

EPILOG = """\b
Examples:
  pebuild recipes                                    one line per shipped recipe and overlay
  pebuild make amd64 --recipe capture --source sample -o capture.iso
  pebuild recipes show capture > my-capture.toml     a copy to edit; `include = ["capture"]` extends it
  cp -r "$(pebuild recipes show wimscript --path)" my-overlay   an overlay folder to edit
"""


@click.group(invoke_without_command=True, epilog=EPILOG)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_context
def recipes(ctx: click.Context, as_json: bool) -> None:
    """List the recipes and overlays shipped with pebuild, one line each.

    A shipped recipe is used by its name: `--recipe capture` means the shipped
    capture recipe unless a file of that name exists in the working directory.
    """
    if ctx.invoked_subcommand is not None:
        return
    from pebuild.recipe import catalog

    items = catalog()
    if as_json:
        emit_json([item.to_json() for item in items])
        return
    width = max(len(item.name) for item in items)
    for kind, heading in (
        ("recipe", "recipes (pebuild make ARCH --recipe NAME):"),
        ("overlay", 'overlays (overlays = ["NAME"] in a recipe):'),
    ):
        click.echo(heading)
        for item in items:
            if item.kind == kind:
                click.echo(f"  {item.name:<{width}}  {item.summary}")


def _complete_name(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from pebuild.recipe import catalog

    return [item.name for item in catalog() if item.name.startswith(incomplete)]


@recipes.command(epilog=EPILOG)
@click.argument("name", shell_complete=_complete_name)
@click.option("--path", "path_only", is_flag=True, help="Print only where it is installed.")
def show(name: str, path_only: bool) -> None:
    """Print the shipped recipe (or overlay.toml of the overlay) NAME, to copy and edit."""
    from pebuild.recipe import find_shipped

    item = find_shipped(name)
    if path_only:
        click.echo(str(item.path))
        return
    click.echo(item.file.read_text(encoding="utf-8"), nl=False)
