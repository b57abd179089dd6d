"""`pebuild driver add|list|remove`: DISM's /Add-Driver, /Get-Drivers, /Remove-Driver, offline."""

from __future__ import annotations

from pathlib import Path

import click

from pebuild.cli._common import ARCH, emit_json

EPILOG = """\
Examples:

\b
  pebuild mount media/sources/boot.wim mnt                      then, like DISM on a mount:
  pebuild driver add mnt drivers/realtek --recurse              Dism /Add-Driver /Driver:... /Recurse
  pebuild driver add mnt nic/rtl8139.inf --offline              install it into the image itself
  pebuild driver list mnt --json                                Dism /Get-Drivers
  pebuild driver remove mnt rtl8139                             Dism /Remove-Driver
  pebuild commit mnt                                            Dism /Unmount-Image /Commit
  pebuild driver add boot.wim --index 2 nic/                    or edit a WIM (or a media/copype tree)

TARGET is a mount directory (or any applied image), a WIM (--index, default its only or
boot image), a media tree (sources/boot.wim) or a copype tree (media/sources/boot.wim).
Staged drivers load at boot from startnet.cmd (drvload); --offline installs simple INFs
the way DISM does. See docs/servicing.md.
"""

_TARGET = click.argument("target", type=click.Path(path_type=Path))
_INDEX = click.option("--index", type=int, help="Image of a WIM target (default: its only or boot image).")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.group(epilog=EPILOG)
def driver() -> None:
    """Add, list and remove drivers of an offline WinPE image (DISM /Add-Driver and friends)."""


@driver.command("add", epilog=EPILOG)
@_TARGET
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_INDEX
@click.option("--recurse", is_flag=True, help="Search folders for INF files at every level (DISM /Recurse).")
@click.option(
    "--force-unsigned", is_flag=True, help="Accept a package without its catalog (DISM /ForceUnsigned)."
)
@click.option(
    "--offline", is_flag=True, help="Install into the image (service, driver store) instead of staging."
)
@click.option("--arch", type=ARCH, help="The image's arch [default: read from its system programs].")
@_JSON
def add(
    target: Path,
    paths: tuple[Path, ...],
    index: int | None,
    recurse: bool,
    force_unsigned: bool,
    offline: bool,
    arch: str | None,
    as_json: bool,
) -> None:
    """Check driver packages (INF files or folders) and add them to TARGET."""
    from pebuild.servicing.drivertool import DriverRequest, add_drivers

    req = DriverRequest(target, list(paths), index, arch, recurse, force_unsigned, offline)
    result = add_drivers(req)
    if as_json:
        emit_json(result.to_json())
        return
    for d in result.drivers:
        where = f"X:\\Drivers\\{d.name}, drvload at boot" if d.mode == "staged" else f"installed as {d.name}"
        click.echo(f"{d.inf} ({d.class_name}, {result.arch}): {where}")
        for note in d.notes:
            click.echo(f"  {note}")
    for name in result.unchanged:
        click.echo(f"{name}: already in the image, unchanged")


@driver.command("list", epilog=EPILOG)
@_TARGET
@_INDEX
@_JSON
def list_(target: Path, index: int | None, as_json: bool) -> None:
    """List the staged (Drivers\\) and offline-installed (oem*.inf) drivers of TARGET."""
    from pebuild.servicing.drivertool import list_drivers

    result = list_drivers(target, index=index)
    if as_json:
        emit_json(result.to_json())
        return
    if not result.drivers:
        click.echo(f"{result.target}: no drivers added")
    for d in result.drivers:
        state = "" if d.loaded else " (no drvload line)"
        click.echo(f"{d.name:<16} {d.mode:<8} {d.inf:<16} {d.class_name:<12} {d.provider} {d.version}{state}")


@driver.command("remove", epilog=EPILOG)
@_TARGET
@click.argument("name")
@_INDEX
@_JSON
def remove(target: Path, name: str, index: int | None, as_json: bool) -> None:
    """Remove driver NAME (as `driver list` shows it, or its INF name) from TARGET."""
    from pebuild.servicing.drivertool import remove_driver

    result = remove_driver(target, name, index=index)
    if as_json:
        emit_json(result.to_json())
        return
    for d in result.drivers:
        click.echo(f"removed {d.name} ({d.inf}, {d.mode})")
