"""`pebuild usb`: write a raw FAT32 disk image (BIOS + UEFI) from a media tree."""

from __future__ import annotations

from pathlib import Path

import click

from pebuild.cli._common import ARCH, emit_json, progress_display
from pebuild.cli.outputs import output_flags, output_options

EXAMPLES = """\
Examples:

\b
  pebuild usb work/media winpe.img                       size = tree + 64 MiB, MBR, BIOS + UEFI
  pebuild usb work/media winpe.img --size 8G --table hybrid
  pebuild usb work/media winpe-arm64.img --arch arm64 --table gpt --json
  sudo dd if=winpe.img of=/dev/sdX bs=4M conv=fsync status=progress   (see docs/usb.md)
"""


@click.command("usb", epilog=EXAMPLES)
@click.argument("media_dir", type=click.Path(path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option(
    "--size",
    default="auto",
    show_default=True,
    help="Image size: 'auto' (tree + headroom) or bytes with K/M/G/T (binary), rounded down to MiB.",
)
@click.option(
    "--table",
    type=click.Choice(["mbr", "gpt", "hybrid"]),
    default="mbr",
    show_default=True,
    help="mbr: active FAT32 partition (like MakeWinPEMedia /UFD); gpt: ESP, UEFI only; "
    "hybrid: GPT ESP + MBR entry, both firmwares.",
)
@click.option(
    "--arch",
    type=ARCH,
    default="amd64",
    show_default=True,
    help="Which EFI/BOOT/BOOT<arch>.EFI must be present.",
)
@click.option("--label", default="WINPE", show_default=True, help="FAT volume label (up to 11 characters).")
@click.option(
    "--boot-sector",
    type=click.Path(path_type=Path),
    default=None,
    help="A FAT32 boot sector written by `bootsect /nt60` to use instead of pebuild's own.",
)
@output_flags
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def usb(
    media_dir: Path,
    output: Path,
    size: str,
    table: str,
    arch: str,
    label: str,
    boot_sector: Path | None,
    force: bool,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Write a raw disk image with one FAT32 partition holding MEDIA_DIR, bootable by BIOS and UEFI.

    Built without root or loop devices; write it to a stick with dd, bmaptool, Rufus (DD mode)
    or Win32DiskImager. Files of 4 GiB or more do not fit FAT32 and are refused.
    """
    from pebuild.usb import UsbRequest, parse_size, write_usb_image

    req = UsbRequest(
        media_dir=media_dir,
        output=output,
        size=parse_size(size),
        table=table,
        arch=arch,
        label=label,
        boot_sector=boot_sector,
        outputs=output_options(force, no_wait),
    )
    with progress_display("usb") as progress:
        result = write_usb_image(req, progress)
    if as_json:
        emit_json(result.to_json())
        return
    click.echo(
        f"{result.path}: {result.size} bytes, {result.table}, FAT32 partition at {result.partition_offset} "
        f"({result.partition_size} bytes, {result.files} files)"
    )
    click.echo(
        f"  UEFI: {result.uefi_boot_file}   BIOS: {'yes' if result.bios_boot else 'no'}"
        f" (boot sector: {result.boot_sector})"
    )
    for note in result.notes:
        click.echo(f"  note: {note}")
