"""`pebuild usb`: write a raw disk image (FAT32 boot partition, BIOS + UEFI) from a media tree."""

from __future__ import annotations

from pathlib import Path

import click

from pebuild.cli._common import ARCH, TABLE, emit_json, parse_size_option, progress_display
from pebuild.cli.outputs import output_flags, output_options

EXAMPLES = """\
Examples:

\b
  pebuild usb work/media winpe.img                       size = tree + 64 MiB, MBR, BIOS + UEFI
  pebuild usb work/media winpe.img --size 8G --table gpt  UEFI only, ESP
  pebuild usb work/media winpe.img --data-size 16G --data-fs ntfs   + a capture partition
  pebuild usb work/media winpe.img --split-size 2G       sources/install.wim > 4 GiB -> install.swm, install2.swm
  pebuild usb work/media winpe-arm64.img --arch arm64 --table gpt --json
  sudo dd if=winpe.img of=/dev/sdX bs=4M conv=fsync status=progress   (see docs/usb.md)
"""

TABLE_HELP = (
    "mbr: active FAT32 partition, boots BIOS and UEFI (like MakeWinPEMedia /UFD); "
    "gpt: ESP behind a protective MBR, UEFI only. (hybrid was removed: Windows refuses it under UEFI.)"
)


@click.command("usb", epilog=EXAMPLES)
@click.argument("media_dir", type=click.Path(path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option(
    "--size",
    default="auto",
    show_default=True,
    help="Image size: 'auto' (tree + headroom + data partition) or bytes with K/M/G/T (binary), "
    "rounded down to MiB.",
)
@click.option("--table", type=TABLE, default="mbr", show_default=True, help=TABLE_HELP)
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
@click.option(
    "--split-size",
    default="4000M",
    show_default=True,
    help="A .wim of 4 GiB or more is written as .swm parts of at most this size (install.swm, install2.swm, ...).",
)
@click.option(
    "--recompress", is_flag=True, help="Export a solid (LZMS/ESD) .wim to LZX first so it can be split."
)
@click.option(
    "--data-size", default=None, help="Add a data partition of this size after the boot one (e.g. 16G)."
)
@click.option(
    "--data-fs",
    type=click.Choice(["exfat", "ntfs"]),
    default="exfat",
    show_default=True,
    help="File system of the data partition (mkfs.exfat / mkntfs).",
)
@click.option("--data-label", default="DATA", show_default=True, help="Volume label of the data partition.")
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
    split_size: str,
    recompress: bool,
    data_size: str | None,
    data_fs: str,
    data_label: str,
    force: bool,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Write a raw disk image with a FAT32 partition holding MEDIA_DIR, bootable by BIOS and UEFI.

    Built without root or loop devices; write it to a stick with dd, bmaptool, Rufus (DD mode)
    or Win32DiskImager. A .wim of 4 GiB or more becomes .swm parts; any other file of 4 GiB or
    more does not fit FAT32 and is refused. See docs/usb.md.
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
        split_size=parse_size_option(split_size, "--split-size") or 0,
        recompress=recompress,
        data_size=parse_size_option(data_size, "--data-size"),
        data_fs=data_fs,
        data_label=data_label,
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
    if result.data_partition:
        d = result.data_partition
        click.echo(f"  data: {d['fs']} partition '{d['label']}' at {d['offset']} ({d['size']} bytes)")
    for note in result.notes:
        click.echo(f"  note: {note}")
