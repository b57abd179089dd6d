"""`pebuild iso` and `pebuild oscdimg`: thin verbs over pebuild.iso.write_iso."""

from __future__ import annotations

from pathlib import Path

import click

from pebuild.cli._common import emit_json, progress_display
from pebuild.cli.outputs import output_flags, output_options


def _result_json(result: object, extra: dict[str, object] | None = None) -> dict[str, object]:
    data: dict[str, object] = {
        "path": str(result.path),  # type: ignore[attr-defined]
        "size": result.size,  # type: ignore[attr-defined]
        "sha256": result.sha256,  # type: ignore[attr-defined]
    }
    data.update(extra or {})
    return data


@click.command(
    epilog="""\b
Examples:
  pebuild iso media winpe.iso --bios fwfiles/etfsboot.com --uefi fwfiles/efisys.bin
  pebuild iso media arm64.iso --uefi fwfiles/efisys.bin --label WINPE_ARM64
  SOURCE_DATE_EPOCH=1700000000 pebuild iso media winpe.iso --bios etfsboot.com --json
"""
)
@click.argument("media_dir", type=click.Path(path_type=Path))
@click.argument("output", type=click.Path(path_type=Path))
@click.option(
    "--bios", "bios", type=click.Path(path_type=Path), help="BIOS no-emulation boot image (etfsboot.com)."
)
@click.option("--uefi", "uefi", type=click.Path(path_type=Path), help="UEFI FAT boot image (efisys.bin).")
@click.option("--label", default="WINPE", show_default=True, help="Volume label (1-32 of A-Z a-z 0-9 _ - .).")
@click.option("--no-udf", is_flag=True, help="Leave out the UDF file system.")
@click.option("--no-joliet", is_flag=True, help="Leave out the Joliet long-name tree.")
@click.option(
    "--hide-boot-images/--show-boot-images",
    default=None,
    help="Hide boot images from the file trees (default: like oscdimg, images from outside MEDIA_DIR are hidden).",
)
@click.option(
    "--date",
    "date",
    help="Timestamp for every date on the disc (ISO 8601); default SOURCE_DATE_EPOCH or now.",
)
@click.option(
    "--file-order",
    "file_order",
    type=click.Path(path_type=Path),
    help="File with paths to place first (oscdimg -yo).",
)
@output_flags
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def iso(
    media_dir: Path,
    output: Path,
    bios: Path | None,
    uefi: Path | None,
    label: str,
    no_udf: bool,
    no_joliet: bool,
    hide_boot_images: bool | None,
    date: str | None,
    file_order: Path | None,
    force: bool,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Write a bootable El Torito ISO (BIOS + UEFI, ISO 9660 level 3, Joliet, UDF) from MEDIA_DIR."""
    from pebuild.clock import parse_date
    from pebuild.errors import UsageError
    from pebuild.iso import IsoRequest, write_iso

    order = None
    if file_order is not None:
        try:
            order = [ln.strip() for ln in file_order.read_text().splitlines() if ln.strip()]
        except OSError as exc:
            raise UsageError(f"cannot read file order list: {exc.strerror}", path=file_order) from None
    req = IsoRequest(
        media_dir=media_dir,
        output=output,
        bios_boot=bios,
        uefi_boot=uefi,
        label=label,
        udf=not no_udf,
        joliet=not no_joliet,
        hide_boot_images=hide_boot_images,
        timestamp=parse_date(date) if date else None,
        file_order=order,
        outputs=output_options(force, no_wait),
    )
    with progress_display("iso") as progress:
        result = write_iso(req, progress)
    if as_json:
        emit_json(_result_json(result))
    else:
        click.echo(f"{result.path}: {result.size} bytes, sha256 {result.sha256}")


@click.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_interspersed_args": False,
        "help_option_names": ["--help"],
    },
    epilog="""\b
Examples (the command lines of MakeWinPEMedia and KB947024, unchanged):
  pebuild oscdimg -bootdata:2#p0,e,b"fwfiles\\etfsboot.com"#pEF,e,b"fwfiles\\efisys.bin" -u1 -udfver102 media out.iso
  pebuild oscdimg -m -o -u2 -udfver102 -bootdata:2#p0,e,bfw\\etfsboot.com#pEF,e,bfw\\efisys.bin src out.iso
  pebuild oscdimg -bfwfiles\\efisys.bin -pEF -u1 -udfver102 -lWINPE media uefi.iso
Supported: -b -bootdata -p -e -t -n -d -m -o -u1 -u2 -udfver102 -l -j1 -j2 -h -g -yo (see docs/iso.md).
""",
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (must come first).")
def oscdimg(args: tuple[str, ...], as_json: bool) -> None:
    """Run an oscdimg command line unchanged (oscdimg's own option syntax)."""
    from pebuild.iso import parse_oscdimg_args, write_iso

    command = parse_oscdimg_args(list(args))
    with progress_display("oscdimg") as progress:
        result = write_iso(command.request, progress)
    for note in command.notes:
        click.echo(f"pebuild oscdimg: note: {note}", err=True)
    if as_json:
        emit_json(_result_json(result, {"options": command.options, "notes": command.notes}))
    else:
        click.echo(f"{result.path}: {result.size} bytes, sha256 {result.sha256}")
