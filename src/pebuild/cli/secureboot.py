"""`pebuild check` (Secure Boot verdicts of media) and `pebuild update-media` (Make2023BootableMedia.ps1)."""

from __future__ import annotations

from pathlib import Path

import click

from pebuild.cli._common import emit_json

PROFILE_NAMES = ["2011-only", "2011+2023", "2023-enforced", "all"]

CHECK_EXAMPLES = """\
Examples:

\b
  pebuild check winpe.iso                                  table of every EFI boot program
  pebuild check winpe.iso --require 2023-enforced          exit 0 only if it boots after the PCA 2011 revocation
  pebuild check usb.img --require all --json
  pebuild check build/pxe --dbx DBXUpdateSVN.bin           with newer dbx content added
  pebuild check boot.wim                                   which boot manager sets a WIM carries

Profiles: 2011-only (db has only the 2011 CAs), 2011+2023 (db has the 2023 CAs too),
2023-enforced (dbx revokes PCA 2011 and sets SVN minimums, KB5025885). Certificate
expiry is ignored, as firmware ignores it. Exit 0 when the media boot on every
--require'd profile, 1 when not (see docs/secureboot.md).
"""


def _mark(ok: bool) -> str:
    return "yes" if ok else "NO"


def render_table(result: object) -> str:
    """The verdict table `pebuild check` prints (one row per EFI program)."""
    from pebuild.secureboot import PROFILES

    res = result  # pebuild.secureboot.check.CheckResult
    rows = [("", "program", "signer", "SVN", *PROFILES)]
    for v in res.programs:  # type: ignore[attr-defined]
        rows.append(
            (
                "*" if v.on_boot_path else "",
                v.location,
                v.ca.label + ("" if v.digest_ok or not v.signers else " (digest BAD)"),
                v.svn_text or "-",
                *(_mark(v.boots[p]) for p in PROFILES),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    summary = "  ".join(f"{p}: {_mark(res.boots[p])}" for p in PROFILES)  # type: ignore[attr-defined]
    lines.append(f"media ({res.kind}) boots on: {summary}")  # type: ignore[attr-defined]
    for v in res.programs:  # type: ignore[attr-defined]
        if v.on_boot_path:
            for p in PROFILES:
                if not v.boots[p]:
                    lines.append(f"  {v.location} on {p}: {v.reasons[p]}")
    for w in res.warnings:  # type: ignore[attr-defined]
        lines.append(f"warning: {w}")
    lines.append("(* = on the UEFI boot path)")
    return "\n".join(lines)


@click.command("check", epilog=CHECK_EXAMPLES)
@click.argument("media", type=click.Path(path_type=Path))
@click.option(
    "--require",
    "require",
    multiple=True,
    type=click.Choice(PROFILE_NAMES),
    help="Profile the media must boot on (repeatable; 'all' = every profile).",
)
@click.option(
    "--dbx",
    type=click.Path(path_type=Path),
    help="Newer dbx data: a dbx_info JSON, DBXUpdate*.bin or dbx dump.",
)
@click.option(
    "--test-keys/--no-test-keys",
    default=None,
    help="Treat pebuild's sample TEST CAs as Microsoft's [default: when the media carry them].",
)
@click.option("--no-wims", is_flag=True, help="Do not look inside boot.wim/winre.wim (faster).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
def check(
    media: Path,
    require: tuple[str, ...],
    dbx: Path | None,
    test_keys: bool | None,
    no_wims: bool,
    as_json: bool,
) -> None:
    """Show who signed every EFI boot program of MEDIA and on which Secure Boot profile it boots.

    MEDIA: an ISO, a USB disk image, a media tree, a PXE tree, a WIM or a kit.
    """
    from pebuild.errors import BootError
    from pebuild.secureboot.check import CheckRequest, check_media

    result = check_media(
        CheckRequest(media=media, require=list(require), dbx=dbx, test_keys=test_keys, scan_wims=not no_wims)
    )
    if as_json:
        emit_json(result.to_json())
    else:
        click.echo(render_table(result))
    if not result.ok:
        failed = ", ".join(p for p in result.required if not result.boots[p])
        raise BootError(f"does not boot on {failed}", path=media)


UPDATE_EXAMPLES = """\
Examples:

\b
  pebuild update-media winpe.iso -o winpe-2023.iso
  pebuild update-media Win11_24H2.iso -o win11-2023.iso --usb win11-2023.img
  pebuild update-media media/ -o new.iso --boot-wim /mnt/adk/winpe.wim --no-prompt
  SOURCE_DATE_EPOCH=1700000000 pebuild update-media in.iso -o out.iso   # byte-identical reruns

The Linux equivalent of Microsoft's Make2023BootableMedia.ps1: the 2023-signed
boot files come from the media's own sources/boot.wim (or --boot-wim); every other
file and the BIOS boot stay as they are; boot.wim itself is not changed.
"""


@click.command("update-media", epilog=UPDATE_EXAMPLES)
@click.argument("media", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="The new ISO.")
@click.option(
    "--usb", "usb_output", type=click.Path(path_type=Path), help="Also (or only) a raw USB disk image."
)
@click.option("--boot-manager", type=click.Choice(["2023"]), default="2023", show_default=True)
@click.option(
    "--boot-wim", type=click.Path(path_type=Path), help="Take the _EX files from this WIM (image 1)."
)
@click.option(
    "--prompt/--no-prompt", default=True, show_default=True, help="efisys_EX.bin or efisys_noprompt_EX.bin."
)
@click.option("--label", help="Volume label [default: the input ISO's].")
@click.option("--force", is_flag=True, help="Replace existing output files.")
@click.option(
    "--test-keys/--no-test-keys", default=None, help="Verdicts: trust the sample TEST CAs (as `check`)."
)
@click.option("--json", "as_json", is_flag=True, help="Print before/after verdicts as JSON.")
def update_media(
    media: Path,
    output: Path | None,
    usb_output: Path | None,
    boot_manager: str,
    boot_wim: Path | None,
    prompt: bool,
    label: str | None,
    force: bool,
    test_keys: bool | None,
    as_json: bool,
) -> None:
    """Write MEDIA (an ISO or media tree) anew with the Windows UEFI CA 2023-signed boot manager."""
    from pebuild.cli._common import is_quiet, progress_display
    from pebuild.secureboot.update import UpdateRequest
    from pebuild.secureboot.update import update_media as run

    req = UpdateRequest(
        media=media,
        output=output,
        usb_output=usb_output,
        boot_wim=boot_wim,
        boot_manager=boot_manager,
        prompt=prompt,
        label=label,
        force=force,
        test_keys=test_keys,
    )
    with progress_display("update-media", quiet=is_quiet() or as_json) as progress:
        result = run(req, progress)
    for warning in result.warnings:
        click.echo(f"pebuild: warning: {warning}", err=True)
    if as_json:
        emit_json(result.to_json())
        return
    from pebuild.secureboot import PROFILES

    def line(res: object) -> str:
        return "  ".join(f"{p}: {_mark(res.boots[p])}" for p in PROFILES)  # type: ignore[attr-defined]

    click.echo(f"before  {media}: {line(result.before)}")
    for after in result.after:
        click.echo(f"after   {after.media}: {line(after)}")
    click.echo(f"replaced: {', '.join(result.replaced)}")
