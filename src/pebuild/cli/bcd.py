"""`pebuild bcd ...` (a bcdedit replacement) and `pebuild sdi ...` (boot.sdi)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pebuild.cli._common import emit_json


@click.group(
    epilog="""\b
Examples:
  pebuild bcd create media/boot/bcd --preset iso-bios --ems 1,115200
  pebuild bcd create tftp/Boot/BCD --preset pxe-uefi --tftp-block-size 1456 --tftp-window-size 4
  pebuild bcd show media/boot/bcd
  pebuild bcd set media/boot/bcd {default} loadoptions "/debug"
  pebuild bcd set media/boot/bcd {bootmgr} timeout 5
  pebuild bcd delete media/boot/bcd {bootmgr} toolsdisplayorder
  pebuild bcd export media/boot/bcd -o bcd.json && pebuild bcd import bcd.json -o BCD
"""
)
def bcd() -> None:
    """Create, show, edit, export and import BCD stores (bcdedit).

    Object IDs are {guid}s or aliases ({bootmgr}, {default}, {ramdiskoptions}, ...);
    elements are bcdedit names (timeout, osdevice, ...) or 8 hex digits.
    """


@bcd.command("create")
@click.argument("store", type=click.Path(dir_okay=False))
@click.option("--preset", required=True, type=click.Choice(["iso-bios", "iso-uefi", "pxe-bios", "pxe-uefi"]))
@click.option(
    "--wim-path",
    default=None,
    help="WIM on the boot device [default: \\sources\\boot.wim, PXE \\Boot\\boot.wim]",
)
@click.option(
    "--sdi-path",
    default=None,
    help="boot.sdi on the boot device [default: \\boot\\boot.sdi, PXE \\Boot\\boot.sdi]",
)
@click.option("--description", default="Windows PE", show_default=True)
@click.option("--locale", default="en-US", show_default=True)
@click.option("--timeout", type=click.IntRange(0), default=30, show_default=True)
@click.option(
    "--bootmenupolicy", type=click.Choice(["legacy", "standard"]), default="legacy", show_default=True
)
@click.option("--ems", metavar="PORT,BAUD", default=None, help="EMS console on a serial port, e.g. 1,115200")
@click.option("--loadoptions", default=None)
@click.option("--tftp-block-size", type=int, default=None, help="ramdisktftpblocksize (WDS uses 1456)")
@click.option("--tftp-window-size", type=int, default=None, help="ramdisktftpwindowsize (WDS uses 4)")
@click.option("--tftp-var-window/--no-tftp-var-window", default=None, help="ramdisktftpvarwindow")
@click.option("--force", is_flag=True, help="Replace STORE if it exists.")
def create(store: str, preset: str, force: bool, ems: str | None, **opts: object) -> None:
    """Write a complete store for WinPE media from scratch."""
    from pebuild.bcd import presets
    from pebuild.errors import OutputError, UsageError

    if Path(store).exists() and not force:
        raise OutputError("store already exists (use --force to replace it)", path=store)
    ems_pair = None
    if ems is not None:
        try:
            port, baud = (int(part) for part in ems.split(","))
        except ValueError:
            raise UsageError(f"--ems takes PORT,BAUD such as 1,115200, not {ems!r}") from None
        ems_pair = (port, baud)
    fields = {k: v for k, v in opts.items() if v is not None}
    options = presets.PresetOptions(ems=ems_pair, **fields)  # type: ignore[arg-type]
    presets.create(preset, options).write(store)
    click.echo(f"{store}: {preset} store written")


@bcd.command("show")
@click.argument("store", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="The lossless JSON document (as `export`).")
def show(store: str, as_json: bool) -> None:
    """List every object and element like `bcdedit /enum all`, devices decoded."""
    from pebuild.bcd import BcdStore, store_to_json
    from pebuild.bcd.listing import format_listing

    opened = BcdStore.open(store)
    if as_json:
        emit_json(store_to_json(opened))
    else:
        click.echo(format_listing(opened), nl=False)


def _edit(store: str, action) -> None:  # type: ignore[no-untyped-def]
    """Open, apply, write back atomically keeping untouched cells (preserve mode)."""
    from pebuild.bcd import BcdStore

    opened = BcdStore.open(store)
    action(opened)
    opened.write(store, mode="preserve")


@bcd.command("set")
@click.argument("store", type=click.Path(dir_okay=False))
@click.argument("ident", metavar="ID")
@click.argument("element")
@click.argument("value")
@click.option(
    "--create-type", default=None, metavar="0xTYPE", help="Create the object with this type first if missing."
)
def set_(store: str, ident: str, element: str, value: str, create_type: str | None) -> None:
    """Set ELEMENT of object ID to VALUE (text as bcdedit takes it)."""
    from pebuild.errors import UsageError

    def action(opened) -> None:  # type: ignore[no-untyped-def]
        guid = opened.resolve(ident)
        if create_type is not None and opened.object_key(guid) is None:
            try:
                opened.create_object(guid, int(create_type, 0))
            except ValueError:
                raise UsageError(
                    f"--create-type takes a number such as 0x10200003, not {create_type!r}"
                ) from None
        opened.set(guid, element, value)

    _edit(store, action)


@bcd.command("delete")
@click.argument("store", type=click.Path(dir_okay=False))
@click.argument("ident", metavar="ID")
@click.argument("element", required=False)
def delete(store: str, ident: str, element: str | None) -> None:
    """Delete ELEMENT of object ID, or the whole object when ELEMENT is omitted."""
    _edit(store, lambda opened: opened.delete(ident, element))


@bcd.command("export")
@click.argument("store", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="JSON file to write.")
def export(store: str, output: str) -> None:
    """Write the store as lossless, reviewable JSON."""
    from pebuild.bcd import BcdStore, store_to_json
    from pebuild.fsutil import write_bytes_atomic

    document = store_to_json(BcdStore.open(store))
    write_bytes_atomic(output, (json.dumps(document, indent=2, sort_keys=False) + "\n").encode())


@bcd.command("import")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="BCD store to write.")
def import_(source: str, output: str) -> None:
    """Build a store from a JSON document written by `export`."""
    from pebuild.bcd import store_from_json
    from pebuild.errors import FormatError

    try:
        document = json.loads(Path(source).read_text(encoding="utf-8"))
    except OSError as exc:
        raise FormatError(f"cannot read: {exc.strerror}", path=source) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"not JSON: {exc}", path=source) from None
    try:
        store = store_from_json(document)
    except FormatError as exc:
        raise FormatError(exc.message, path=source) from None
    store.write(output)


@click.group(
    epilog="""\b
Examples:
  pebuild sdi create media/boot/boot.sdi
  pebuild sdi create big.sdi --size 64M
  pebuild sdi info media/boot/boot.sdi --json
"""
)
def sdi() -> None:
    """Create and inspect boot.sdi files (the RAM disk image WinPE boots from)."""


@sdi.command("create")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option(
    "--size",
    default="3170304",
    show_default=True,
    help="Total size: bytes or with K/M/G (rounded up to 8 KiB).",
)
def sdi_create(output: str, size: str) -> None:
    """Write a boot.sdi with an empty NTFS volume (needs mkntfs from ntfs-3g)."""
    from pebuild.sdi import parse_size, write_sdi

    write_sdi(output, parse_size(size))
    click.echo(f"{output}: SDI written")


@sdi.command("info")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def sdi_info(path: str, as_json: bool) -> None:
    """Decode an SDI header, its blob table and the NTFS boot sector."""
    import dataclasses

    from pebuild.errors import FormatError
    from pebuild.sdi import parse_sdi

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read: {exc.strerror}", path=path) from None
    try:
        info = parse_sdi(data)
    except FormatError as exc:
        raise FormatError(exc.message, path=path) from None
    if as_json:
        emit_json(dataclasses.asdict(info))
        return
    click.echo(f"size            {info.size}")
    click.echo(f"page alignment  {info.page_alignment} ({info.page_alignment * 4} KiB)")
    click.echo(f"checksum        0x{info.checksum:02x} ({'ok' if info.checksum_ok else 'BAD'})")
    for blob in info.blobs:
        click.echo(
            f"blob {blob.type:<10} offset 0x{blob.offset:x} size {blob.size} base 0x{blob.base_address:x}"
        )
    if info.ntfs:
        n = info.ntfs
        click.echo(
            f"ntfs            {n.total_sectors} sectors of {n.bytes_per_sector}, "
            f"cluster {n.bytes_per_sector * n.sectors_per_cluster}, hidden {n.hidden_sectors}, "
            f"MFT at {n.mft_lcn}, serial {n.serial:016x}"
        )
