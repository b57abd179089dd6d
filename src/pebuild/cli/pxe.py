"""`pebuild pxe`: write a WDS-style PXE tree, the iPXE/wimboot files and a dnsmasq configuration."""

from __future__ import annotations

from pathlib import Path

import click

from pebuild.cli._common import ARCH, emit_json, progress_display
from pebuild.cli.outputs import output_flags, output_options

EPILOG = """\
Examples:

\b
  pebuild pxe sample pxe/ --arch amd64 --arch x86           sample kit, two arches in one tree
  pebuild pxe /opt/adk pxe/ --dhcp full --dhcp-range 10.0.0.100,10.0.0.199,12h
  pebuild pxe boot.wim pxe/ --wimboot ~/wimboot --http-url http://10.0.0.1/pxe/
  pebuild pxe sample pxe/ --recipe recipes/rescue.toml     [bcd] and [pxe] tables of a recipe
  pebuild pxe sample pxe/ --dhcp full --dhcp-range 10.0.0.100,10.0.0.199,12h \\
      --http-url http://10.0.0.1/ --http-boot Boot/x64/bootmgfw.efi    UEFI HTTP Boot too
  pebuild smoke pxe/ --pxe --firmware uefi                  boot it through dnsmasq under QEMU
  dnsmasq --test --conf-file=pxe/conf/dnsmasq.conf          check, then run dnsmasq with it

DIR is the TFTP root (and HTTP root for iPXE); it is replaced only when the
new tree is complete, and only if it is empty or a PXE tree pebuild wrote that
nobody added to (--force overrides). See docs/pxe.md.
"""


@click.command(epilog=EPILOG)
@click.argument("source_or_wim")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option(
    "--arch",
    "arches",
    type=ARCH,
    multiple=True,
    default=("amd64",),
    show_default=True,
    help="Architecture (x86, amd64, arm64, ia64; or x64, i386, aarch64, ...); repeat for several in one tree.",
)
@click.option("--prompt", is_flag=True, help="Use pxeboot.com (press F12) instead of pxeboot.n12.")
@click.option(
    "--recipe",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Take the [bcd] table (all PXE stores) and the [pxe] table from this recipe; options override.",
)
@click.option(
    "--block-size", type=int, help="BCD ramdisktftpblocksize (TFTP blksize bootmgr asks for) [default: 1456]."
)
@click.option(
    "--window-size", type=int, help="BCD ramdisktftpwindowsize (TFTP windowsize, RFC 7440) [default: 4]."
)
@click.option("--var-window", is_flag=True, help="Set ramdisktftpvarwindow (WDS servers only).")
@click.option(
    "--wimboot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="wimboot binary to copy into the tree (https://ipxe.org/wimboot).",
)
@click.option("--http-url", help="URL where DIR is served over HTTP (iPXE fetches boot.ipxe from it).")
@click.option(
    "--http-boot",
    metavar="PATH",
    help="UEFI HTTP Boot: answer HTTPClient firmware with --http-url + PATH (a file under DIR, e.g. "
    "Boot/x64/bootmgfw.efi or an ISO you put there); needs --dhcp full.",
)
@click.option(
    "--dhcp",
    "dhcp_mode",
    type=click.Choice(["proxy", "full"]),
    help="proxy: beside an existing DHCP server; full: dnsmasq leases addresses [default: proxy].",
)
@click.option(
    "--dhcp-range",
    help="dnsmasq dhcp-range: START,END[,NETMASK][,LEASE] with --dhcp full, the subnet address "
    "(e.g. 192.168.1.0[,255.255.255.0]) with proxy.",
)
@click.option("--menu-text", help="Proxy-DHCP boot menu prompt (dnsmasq pxe-prompt).")
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
@click.option("--description", help="Boot menu description [default: the recipe's, else Windows PE].")
@output_flags
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def pxe(
    source_or_wim: str,
    dest: Path,
    arches: tuple[str, ...],
    prompt: bool,
    recipe: Path | None,
    block_size: int | None,
    window_size: int | None,
    var_window: bool,
    wimboot: Path | None,
    http_url: str | None,
    http_boot: str | None,
    dhcp_mode: str | None,
    dhcp_range: str | None,
    menu_text: str | None,
    interface: str | None,
    server_address: str | None,
    default_bcd: str,
    index: int | None,
    description: str | None,
    force: bool,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Write a WDS-style TFTP tree, iPXE/wimboot files and dnsmasq.conf from a source or boot.wim.

    SOURCE_OR_WIM is anything `pebuild make --source` accepts (ADK, WAIK, install
    ISO or tree, `sample`) or a bare boot.wim, whose boot files are read from
    Windows/Boot inside the image.
    """
    from pebuild.pxe import PxeRequest, write_pxe_tree_from
    from pebuild.pxe.recipe import load_recipe_fields

    fields = load_recipe_fields(recipe) if recipe is not None else {}
    given = {
        "block_size": block_size,
        "window_size": window_size,
        "dhcp_mode": dhcp_mode,
        "dhcp_range": dhcp_range,
        "interface": interface,
        "server_address": server_address,
        "menu_text": menu_text,
        "description": description,
    }
    fields.update({k: v for k, v in given.items() if v is not None})
    if prompt:
        fields["prompt"] = True
    req = PxeRequest(
        dest=dest,
        arches=list(arches),
        index=index,
        var_window=var_window,
        wimboot=wimboot,
        http_url=http_url,
        http_boot=http_boot,
        default_bcd=default_bcd,
        outputs=output_options(force, no_wait),
        **fields,
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
