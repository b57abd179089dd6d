"""The `pebuild` command: a thin click layer over the library.

Verbs are loaded lazily from `COMMANDS` (name -> module:attribute), so
`pebuild --help` and `pebuild info` import only what they use. Each verb
parses options, builds a request dataclass, calls one library function, and
prints text or --json. Errors: one line on stderr, exit code from errors.py.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

#: verb -> "module:attribute"; each module owns its verbs.
COMMANDS: dict[str, str] = {
    # WIM engine (pebuild.cli.wim)
    "info": "pebuild.cli.wim:info",
    "capture": "pebuild.cli.wim:capture",
    "extract": "pebuild.cli.wim:extract",
    "export": "pebuild.cli.wim:export",
    "mount": "pebuild.cli.wim:mount",
    "commit": "pebuild.cli.wim:commit",
    "discard": "pebuild.cli.wim:discard",
    "unmount": "pebuild.cli.wim:unmount",
    "mounts": "pebuild.cli.wim:mounts",
    # Split WIMs for FAT32 media (pebuild.cli.swm)
    "split": "pebuild.cli.swm:split",
    "join": "pebuild.cli.swm:join",
    # BCD, hive, SDI (pebuild.cli.bcd)
    "bcd": "pebuild.cli.bcd:bcd",
    "sdi": "pebuild.cli.bcd:sdi",
    # ISO (pebuild.cli.iso)
    "iso": "pebuild.cli.iso:iso",
    "oscdimg": "pebuild.cli.iso:oscdimg",
    # Sample source and QEMU (pebuild.cli.smoke)
    "sample-source": "pebuild.cli.smoke:sample_source",
    "smoke": "pebuild.cli.smoke:smoke",
    # Builder (pebuild.cli.make)
    "make": "pebuild.cli.make:make",
    "copype": "pebuild.cli.make:copype",
    # PXE (pebuild.cli.pxe)
    "pxe": "pebuild.cli.pxe:pxe",
    # Servicing (pebuild.cli.reg)
    "reg": "pebuild.cli.reg:reg",
    "pe-settings": "pebuild.cli.reg:pe_settings",
    # USB (pebuild.cli.usb)
    "usb": "pebuild.cli.usb:usb",
    # Secure Boot (pebuild.cli.secureboot)
    "check": "pebuild.cli.secureboot:check",
    "update-media": "pebuild.cli.secureboot:update_media",
    # Drivers of an offline image (pebuild.cli.driver)
    "driver": "pebuild.cli.driver:driver",
    # Installation: shipped recipes, system dependencies (pebuild.cli.recipes, pebuild.cli.doctor)
    "recipes": "pebuild.cli.recipes:recipes",
    "doctor": "pebuild.cli.doctor:doctor",
    # Outputs (pebuild.cli.outputs)
    "clean": "pebuild.cli.outputs:clean",
}

EXAMPLES = """\
Examples:

\b
  pebuild make amd64 --recipe capture -o winpe.iso                a shipped recipe: a capture CD
  pebuild make amd64 --recipe my.toml --source sample -o rescue.iso
  pebuild recipes show rescue > my.toml                           copy a shipped recipe to edit
  pebuild smoke winpe.iso --firmware uefi                         QEMU smoke boot in CI
  pebuild info boot.wim --json                                    list the images of a WIM
  pebuild mount boot.wim mnt --index 2 && pebuild commit mnt      edit an image without root
  pebuild bcd show media/boot/bcd                                 bcdedit /enum all
  pebuild oscdimg -m -o -u2 -udfver102 -bootdata:2#p0,e,bfw/etfsboot.com#pEF,e,bfw/efisys.bin media out.iso
  pebuild doctor                                                  which system tools work, which are missing

Exit codes: 0 ok, 1 boot failed, 2 usage, 3 recipe, 4 source, 5 bad input file,
6 missing tool, 7 mount or output busy, 8 output, 70 internal error, 130 interrupted
(see docs/exit-codes.md).
"""


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return _unavailable(cmd_name)
            raise
        command = getattr(module, attr, None)
        if not isinstance(command, click.Command):
            return _unavailable(cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every verb: show names with their module's one-line help.
        rows = [(name, _SHORT_HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        from pebuild.errors import EXIT_INTERRUPTED, InternalError, PebuildError

        debug = bool(ctx.params.get("debug")) or os.environ.get("PEBUILD_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except PebuildError as exc:
            if debug:
                import traceback

                traceback.print_exc()
            click.echo(f"pebuild: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            from pebuild.interrupts import landed

            if landed():  # the outputs (or the commit) were already published: that is a success
                click.echo("pebuild: interrupted after the work was published; it is complete", err=True)
                ctx.exit(0)
            click.echo("pebuild: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # the one place that maps bugs to an exit code
            if debug:
                import traceback

                traceback.print_exc()
            click.echo(
                f"pebuild: internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)",
                err=True,
            )
            ctx.exit(InternalError.exit_code)


_SHORT_HELP: dict[str, str] = {
    "info": "Show the images, boot index and compression of a WIM.",
    "capture": "Capture a directory into a WIM (new file or --append).",
    "extract": "Extract paths or a whole image from a WIM.",
    "export": "Export one image to a new WIM with a chosen compression.",
    "mount": "Extract an image into a directory for editing (no root, no FUSE).",
    "commit": "Write a mounted directory's changes back into its WIM.",
    "discard": "Forget a mount without writing anything.",
    "unmount": "imagex-style unmount: --commit or --discard.",
    "mounts": "List mounts and mark stale ones.",
    "bcd": "Create, show, edit, export and import BCD stores (bcdedit).",
    "sdi": "Create and inspect boot.sdi files.",
    "iso": "Write a bootable El Torito ISO (BIOS + UEFI, Joliet, UDF).",
    "oscdimg": "Run an oscdimg command line unchanged.",
    "sample-source": "Write the built-in synthetic WinPE source kit.",
    "smoke": "Boot media under QEMU and check serial markers.",
    "make": "Build WinPE media from a recipe (the main job).",
    "copype": "Create an ADK copype working tree (media/, mount/, fwfiles/).",
    "pxe": "Write a WDS-style TFTP tree, iPXE/wimboot tree and dnsmasq config.",
    "reg": "Edit registry hives in a WIM, mounted directory or hive file.",
    "pe-settings": "Show or set WinPE scratch space and target path.",
    "usb": "Write a raw FAT32 disk image (BIOS + UEFI) from a media tree.",
    "check": "Secure Boot verdicts: who signed each EFI boot program, which firmware boots it.",
    "update-media": "Put the 2023-signed boot manager on existing media (Make2023BootableMedia).",
    "driver": "Add, list and remove drivers of a mounted image, a WIM or a media tree (DISM).",
    "recipes": "List the shipped recipes and overlays; print one to copy and edit.",
    "doctor": "Check the system tools pebuild uses; name the Debian packages.",
    "clean": "Remove what killed pebuild runs left beside their outputs.",
}


def _unavailable(name: str) -> click.Command:
    @click.command(name=name, help=f"{name}: not available in this build of pebuild.")
    def cmd() -> None:
        from pebuild.errors import UsageError

        raise UsageError(f"'{name}' is not available in this build of pebuild")

    return cmd


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from pebuild import installed_version

    click.echo(f"pebuild, version {installed_version()}")
    ctx.exit()


@click.group(cls=LazyGroup, epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the installed version (package metadata) and exit.",
)
@click.option("--debug", is_flag=True, help="Show a traceback on errors.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """Build Windows PE boot media on any machine: WIM, BCD, El Torito ISO, PXE and USB."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["quiet"] = quiet


def main(argv: list[str] | None = None) -> None:
    import signal

    from pebuild.interrupts import raise_interrupt

    # SIGTERM (systemd, CI timeouts, `kill`) ends a command like Ctrl-C: cleanup, exit 130
    signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        cli.main(args=argv, prog_name="pebuild")
    finally:
        if argv is None:  # the program itself (console script, python -m pebuild), not a caller
            _exit_without_final_collection()


def _exit_without_final_collection() -> None:
    """Skip the garbage collector's last pass over every object before the process exits.

    At exit CPython runs one more full collection over everything the imports
    and the verb created (~12 ms of CPU for `pebuild commit`, measured with
    bench/bench_wim.py); the OS reclaims that memory anyway. gc.freeze() moves
    those objects out of the collector's sight. Files are closed by their
    `with` blocks and atexit handlers still run, so nothing is lost.
    """
    import gc

    gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
