"""`pebuild pxe`: write a WDS-style PXE tree, the iPXE/wimboot files and a dnsmasq configuration."""

from __future__ import annotations

from pathlib import Path

import click

from pebuild.cli._common import emit_json, progress_display

EPILOG = """\
Examples:

\b
  pebuild pxe sample pxe/ --arch amd64 --arch x86           sample kit, two arches in one tree
  pebuild pxe /opt/adk pxe/ --dhcp full --dhcp-range 10.0.0.100,10.0.0.199,12h
  pebuild pxe boot.wim pxe/ --wimboot ~/wimboot --http-url http://10.0.0.1/pxe/
  dnsmasq --test --conf-file=pxe/conf/dnsmasq.conf          check, then run dnsmasq with it

DIR is the TFTP root (and HTTP root for iPXE); it is replaced only when the
new tree is complete. See docs/pxe.md.
"""


@click.command(epilog=EPILOG)
@click.argument("source_or_wim")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--arch",
    "arches",
    multiple=True,
    default=("amd64",),
    show_default=True,
    help="Architecture (x86, amd64, arm64, ia64); repeat for several in one tree.",
)
@click.option("--prompt", is_flag=True, help="Use pxeboot.com (press F12) instead of pxeboot.n12.")
@click.option(
    "--block-size",
    type=int,
    default=1456,
    show_default=True,
    help="BCD ramdisktftpblocksize (TFTP blksize bootmgr asks for).",
)
@click.option(
    "--window-size",
    type=int,
    default=4,
    show_default=True,
    help="BCD ramdisktftpwindowsize (TFTP windowsize, RFC 7440).",
)
@click.option("--var-window", is_flag=True, help="Set ramdisktftpvarwindow (WDS servers only).")
@click.option(
    "--wimboot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="wimboot binary to copy into the tree (https://ipxe.org/wimboot).",
)
@click.option("--http-url", help="URL where DIR is served over HTTP (iPXE fetches boot.ipxe from it).")
@click.option(
    "--dhcp",
    "dhcp_mode",
    type=click.Choice(["proxy", "full"]),
    default="proxy",
    show_default=True,
    help="proxy: beside an existing DHCP server; full: dnsmasq leases addresses.",
)
@click.option("--dhcp-range", help="dnsmasq dhcp-range (proxy: the subnet address, e.g. 192.168.1.0).")
@click.option("--interface", help="Network interface dnsmasq listens on.")
@click.option("--server-address", help="TFTP server address, when it is not the dnsmasq host.")
@click.option(
    "--default-bcd",
    type=click.Choice(["bios", "uefi"]),
    default="bios",
    show_default=True,
    help="Which store of the first --arch goes to \\Boot\\BCD (clients without DHCP option 252).",
)
@click.option("--index", type=int, help="Image whose boot files are used (default: the WIM's boot index).")
@click.option("--description", default="Windows PE", show_default=True, help="Boot menu description.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def pxe(
    source_or_wim: str,
    dest: Path,
    arches: tuple[str, ...],
    prompt: bool,
    block_size: int,
    window_size: int,
    var_window: bool,
    wimboot: Path | None,
    http_url: str | None,
    dhcp_mode: str,
    dhcp_range: str | None,
    interface: str | None,
    server_address: str | None,
    default_bcd: str,
    index: int | None,
    description: str,
    as_json: bool,
) -> None:
    """Write a WDS-style TFTP tree, iPXE/wimboot files and dnsmasq.conf from a source or boot.wim.

    SOURCE_OR_WIM is anything `pebuild make --source` accepts (ADK, WAIK, install
    ISO or tree, `sample`) or a bare boot.wim, whose boot files are read from
    Windows/Boot inside the image.
    """
    from pebuild.pxe import PxeRequest, write_pxe_tree_from

    req = PxeRequest(
        dest=dest,
        arches=list(arches),
        index=index,
        prompt=prompt,
        block_size=block_size,
        window_size=window_size,
        var_window=var_window,
        wimboot=wimboot,
        http_url=http_url,
        dhcp_mode=dhcp_mode,
        dhcp_range=dhcp_range,
        interface=interface,
        server_address=server_address,
        description=description,
        default_bcd=default_bcd,
    )
    with progress_display("pxe") as progress:
        result = write_pxe_tree_from(source_or_wim, req, progress)
    if as_json:
        emit_json(result.to_json())
        return
    click.echo(f"PXE tree: {result.dest}")
    for arch in result.arches:
        firmware = ", ".join(
            f"{name} {nbp}" for name, nbp in (("BIOS", arch.bios_nbp), ("UEFI", arch.uefi_nbp)) if nbp
        )
        click.echo(f"  {arch.arch}: {firmware}; image {arch.boot_wim}")
    click.echo(f"  dnsmasq: {result.dest / result.dnsmasq_conf}")
    click.echo(f"  iPXE:    {result.dest / result.boot_ipxe}" + ("" if result.wimboot else " (add wimboot)"))
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
