"""`pebuild smoke` (QEMU boot check) and `pebuild sample-source` (the synthetic kit)."""

from __future__ import annotations

from pathlib import Path

import click

from pebuild.cli._common import ARCH, emit_json
from pebuild.cli.outputs import output_flags

SMOKE_EXAMPLES = """\
Examples:

\b
  pebuild smoke winpe.iso                        arch + firmware read from the media
  pebuild smoke winpe-arm64.iso                  qemu-system-aarch64 -machine virt + AAVMF
  pebuild smoke winpe.iso --firmware uefi
  pebuild smoke winpe.iso --firmware bios --expect 'PEBUILD-SAMPLE bootmgr bcd=' --screenshot bios.png
  pebuild smoke build/pxe --pxe --firmware uefi --json        dnsmasq from build/pxe/conf, in a netns
  pebuild smoke build/pxe --pxe --dhcp proxy --firmware bios   beside a second dnsmasq leasing addresses
  pebuild smoke usb.img --firmware uefi --timeout 300 --serial-log usb-serial.log
  pebuild smoke winpe.iso --firmware uefi --secure-boot --vars /usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd

Without --arch/--firmware, smoke reads the media (El Torito entries, EFI/BOOT/BOOT<x>.EFI
names, the PXE tree's Boot/<arch>/ folders) and boots what it finds, BIOS first where
the media has both. Without --expect the boot passes on a sample program's marker, on the token
'PEBUILD-SMOKE <word>' (recipes/smoke.toml echoes it to COM1 from startnet.cmd)
or on the EMS/SAC prompt 'SAC>' (see docs/smoke.md). Exit 0 booted, 1 did not boot, 6 QEMU/OVMF missing.
"""


@click.command("smoke", epilog=SMOKE_EXAMPLES)
@click.argument("media", type=click.Path(path_type=Path))
@click.option(
    "--firmware",
    type=click.Choice(["bios", "uefi"]),
    help="Override [default: what the media boots, BIOS first].",
)
@click.option("--pxe", is_flag=True, help="MEDIA is a PXE tree (TFTP root); network-boot it (--pxe-server).")
@click.option("--arch", type=ARCH, help="Override [default: the arch of the media's boot files].")
@click.option(
    "--expect", "expect", multiple=True, metavar="REGEX", help="Serial pattern that must appear (repeatable)."
)
@click.option("--timeout", type=float, help="Seconds before giving up [default: 60-180 by boot kind].")
@click.option("--serial-log", type=click.Path(path_type=Path), help="Keep the serial console here.")
@click.option("--screenshot", type=click.Path(path_type=Path), help="Save the final screen as PNG.")
@click.option("--memory", default="512M", show_default=True, help="Guest RAM.")
@click.option("--kvm", type=click.Choice(["off", "on", "auto"]), default="off", show_default=True)
@click.option(
    "--bootfile", help="PXE: boot file under the TFTP root (default Boot/x64/pxeboot.n12 or bootmgfw.efi)."
)
@click.option(
    "--pxe-server",
    type=click.Choice(["auto", "dnsmasq", "slirp"]),
    default="auto",
    show_default=True,
    help="PXE: the tree's dnsmasq.conf in a private network namespace (needs root), or QEMU's TFTP.",
)
@click.option(
    "--dhcp",
    "dhcp_mode",
    type=click.Choice(["full", "proxy"]),
    default="full",
    show_default=True,
    help="PXE through dnsmasq: it leases addresses (full) or answers beside another DHCP server (proxy).",
)
@click.option(
    "--uefi-ipxe", is_flag=True, help="PXE, UEFI: boot through the iPXE EFI ROM, not OVMF's own PXE."
)
@click.option("--http-boot", is_flag=True, help="PXE, UEFI: OVMF's HTTP Boot (its PXE off), no TFTP or iPXE.")
@click.option(
    "--secure-boot", is_flag=True, help="UEFI with Secure Boot enforced (OVMF_CODE_4M.secboot.fd, SMM)."
)
@click.option(
    "--vars",
    "vars_file",
    type=click.Path(path_type=Path),
    help="--secure-boot: enrolled OVMF VARS file [default: OVMF_VARS_4M.ms.fd, Microsoft's 2011 keys].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def smoke(
    media: Path,
    firmware: str | None,
    pxe: bool,
    arch: str | None,
    expect: tuple[str, ...],
    timeout: float | None,
    serial_log: Path | None,
    screenshot: Path | None,
    memory: str,
    kvm: str,
    bootfile: str | None,
    pxe_server: str,
    dhcp_mode: str,
    uefi_ipxe: bool,
    http_boot: bool,
    secure_boot: bool,
    vars_file: Path | None,
    as_json: bool,
) -> None:
    """Boot MEDIA (ISO, raw disk image or PXE tree) under QEMU and check the serial console."""
    from pebuild.qemu import SmokeRequest
    from pebuild.qemu import smoke as run_smoke

    req = SmokeRequest(
        media=media,
        firmware=firmware,
        pxe=pxe,
        arch=arch,
        expect=list(expect),
        timeout=timeout,
        serial_log=serial_log,
        screenshot=screenshot,
        memory=memory,
        kvm=kvm,
        bootfile=bootfile,
        pxe_server=pxe_server,
        dhcp_mode=dhcp_mode,
        uefi_ipxe=uefi_ipxe,
        http_boot=http_boot,
        secure_boot=secure_boot,
        vars=vars_file,
    )
    result = run_smoke(req)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json(result.to_json())
    elif result.ok:
        click.echo(f"PASS {result.arch} {result.firmware}{' pxe' if pxe else ''}: {result.reason}")
    result.check()


SAMPLE_EXAMPLES = """\
Examples:

\b
  pebuild sample-source build/kit --arch amd64
  pebuild make amd64 --source build/kit --recipe capture -o winpe.iso
  pebuild make amd64 --source sample ...      (the same kit, built once into ~/.cache/pebuild)
"""


@click.command("sample-source", epilog=SAMPLE_EXAMPLES)
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--arch", type=ARCH, default="amd64", show_default=True)
@click.option("--timestamp", type=int, help="Unix time for every file [default: 2024-01-01, fixed].")
@output_flags
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def sample_source(
    directory: Path, arch: str, timestamp: int | None, force: bool, no_wait: bool, as_json: bool
) -> None:
    """Write the built-in synthetic WinPE source kit (ADK layout) to DIRECTORY.

    DIRECTORY may be new, empty or a sample kit pebuild wrote (--force: anything).
    A stand-in for Microsoft's ADK: every boot program is a tiny real program
    printing 'PEBUILD-SAMPLE <name>' on COM1. See docs/sample.md.
    """
    from pebuild.cli.outputs import output_options
    from pebuild.sample import build_sample_source

    path = build_sample_source(directory, arch, timestamp, options=output_options(force, no_wait))
    if as_json:
        emit_json({"path": str(path), "arch": arch})
    else:
        click.echo(f"wrote sample {arch} kit to {path}")
