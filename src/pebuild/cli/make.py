"""`pebuild make` and `pebuild copype`: thin click verbs over pebuild.make."""

from __future__ import annotations

from pathlib import Path

import click

from pebuild.cli._common import (
    ARCH,
    TABLE,
    complete_recipe,
    emit_json,
    is_quiet,
    parse_size_option,
    progress_display,
)
from pebuild.cli.outputs import output_flags, output_options

MAKE_EPILOG = """\b
Examples:
  pebuild make amd64 --recipe capture --source sample -o capture.iso      a shipped recipe (pebuild recipes)
  pebuild make x86 --recipe rescue.toml --source /mnt/adk -o rescue.iso --manifest rescue.json
  pebuild make amd64 --recipe capture --source win11.iso --profile lab -o lab.iso --pxe tftp/winpe
  pebuild make amd64 --recipe capture -o c.iso --usb c.img --usb-data-size 32G --usb-data-fs ntfs
  SOURCE_DATE_EPOCH=1700000000 pebuild make amd64 --recipe r.toml -o a.iso   # byte-identical rebuilds
"""


def _size(text: str) -> int | str:
    from pebuild.sizes import parse_size_or_auto

    return parse_size_or_auto(text, what="--usb-size")


@click.command(epilog=MAKE_EPILOG)
@click.argument("arch", type=ARCH)
@click.option(
    "--recipe",
    "-r",
    required=True,
    type=click.Path(path_type=Path),
    help="Recipe TOML file, or the name of a shipped recipe (see `pebuild recipes`).",
    shell_complete=complete_recipe,
)
@click.option(
    "--source", "-s", help="sample, an ADK/WAIK kit, an install .iso or tree, a copype tree or a WIM."
)
@click.option("--profile", "-p", help="Apply [profiles.NAME] of the recipe.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="The ISO to write.")
@click.option("--media-dir", type=click.Path(path_type=Path), help="Also write the media tree here.")
@click.option("--manifest", type=click.Path(path_type=Path), help="Write the JSON manifest here.")
@click.option(
    "--pxe",
    "pxe_dir",
    type=click.Path(path_type=Path),
    help="Also write a PXE tree (WDS layout, dnsmasq.conf).",
)
@click.option("--usb", "usb_output", type=click.Path(path_type=Path), help="Also write a raw USB disk image.")
@click.option("--usb-size", default="auto", show_default=True, help="USB image size: auto or e.g. 1G.")
@click.option(
    "--usb-table", type=TABLE, default="mbr", show_default=True, help="mbr: BIOS + UEFI; gpt: UEFI only."
)
@click.option(
    "--usb-split-size",
    default="4000M",
    show_default=True,
    help="A .wim >= 4 GiB goes on the stick as .swm parts of this size.",
)
@click.option(
    "--usb-data-size", default=None, help="Add an NTFS/exFAT data partition of this size (e.g. 16G)."
)
@click.option("--usb-data-fs", type=click.Choice(["exfat", "ntfs"]), default="exfat", show_default=True)
@click.option("--keep", is_flag=True, help="Keep the build directory (also on failure) for inspection.")
@click.option(
    "--boot-manager",
    type=click.Choice(["auto", "2023", "2011"]),
    help="EFI boot manager set [default: the recipe's [media] boot_manager, auto].",
)
@click.option("--strict", is_flag=True, help="Treat build-check warnings as errors (docs/recipes.md).")
@output_flags
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def make(
    arch: str,
    recipe: Path,
    source: str | None,
    profile: str | None,
    output: Path | None,
    media_dir: Path | None,
    manifest: Path | None,
    pxe_dir: Path | None,
    usb_output: Path | None,
    usb_size: str,
    usb_table: str,
    usb_split_size: str,
    usb_data_size: str | None,
    usb_data_fs: str,
    keep: bool,
    boot_manager: str | None,
    strict: bool,
    force: bool,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Build WinPE media for ARCH from a recipe: edit boot.wim once, write BCDs, media tree and ISO.

    All outputs are published together when the build is complete: on an error
    or Ctrl-C every one is left as it was. An existing --media-dir or --pxe
    directory is replaced only if pebuild wrote it and nothing was added to it
    (--force overrides). See docs/builder.md.
    """
    from pebuild.make import BuildRequest, build

    req = BuildRequest(
        arch=arch,
        recipe=recipe,
        output=output,
        source=source,
        profile=profile,
        media_dir=media_dir,
        manifest=manifest,
        keep=keep,
        pxe_dir=pxe_dir,
        usb_output=usb_output,
        usb_size=_size(usb_size),
        usb_table=usb_table,
        usb_split_size=parse_size_option(usb_split_size, "--usb-split-size") or 0,
        usb_data_size=parse_size_option(usb_data_size, "--usb-data-size"),
        usb_data_fs=usb_data_fs,
        boot_manager=boot_manager,
        strict=strict,
        outputs=output_options(force, no_wait),
    )
    with progress_display("make", quiet=is_quiet() or as_json) as progress:
        result = build(req, progress)
    for warning in [*result.warnings, *result.secure_boot.get("warnings", [])]:
        click.echo(f"pebuild: warning: {warning}", err=True)
    if as_json:
        emit_json(result.to_json())
        return
    parts = (
        [f"{arch}: {result.iso} ({result.iso_size} bytes, sha256 {result.iso_sha256})"]
        if result.iso
        else [arch]
    )
    for label, value in (
        ("media", result.media_dir),
        ("manifest", result.manifest_path),
        ("pxe", result.pxe_dir),
        ("usb", result.usb_image),
        ("build dir kept", result.build_dir),
    ):
        if value is not None:
            parts.append(f"{label}: {value}")
    if result.secure_boot.get("summary"):
        parts.append(result.secure_boot["summary"])
    click.echo("\n".join(parts))


@click.command(
    epilog="""\b
Examples:
  pebuild copype amd64 C_WinPE_amd64 --source /mnt/adk
  pebuild copype x86 pe32 --source sample && pebuild make x86 --recipe r.toml --source pe32 -o pe32.iso
"""
)
@click.argument("arch", type=ARCH)
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--source", "-s", default="sample", show_default=True, help="Any source pebuild make takes.")
@output_flags
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def copype(arch: str, dest: Path, source: str, force: bool, no_wait: bool, as_json: bool) -> None:
    """Create the ADK's copype working tree (media/, mount/, fwfiles/) from any source.

    An existing DEST is replaced only if it is empty or an untouched copype tree
    pebuild wrote (--force overrides).
    """
    from pebuild.make import CopypeRequest
    from pebuild.make import copype as run_copype

    result = run_copype(
        CopypeRequest(arch=arch, dest=dest, source=source, outputs=output_options(force, no_wait))
    )
    if as_json:
        emit_json(
            {
                "dest": str(result.dest),
                "source_kind": result.source_kind,
                "media": result.media_files,
                "fwfiles": result.fwfiles,
                "tools": result.tools,
            }
        )
        return
    click.echo(
        f"{dest}: media/ ({len(result.media_files)} files), mount/, fwfiles/ ({', '.join(result.fwfiles)})"
    )
