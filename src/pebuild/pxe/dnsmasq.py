"""dnsmasq.conf for a PXE tree: TFTP root, full or proxy DHCP, option 93 -> boot file, option 252 -> BCD.

dnsmasq is the proven server pebuild configures instead of shipping its own
(issue 7). Full DHCP hands out the boot file with `dhcp-boot`; proxy-DHCP
(beside an existing DHCP server) can only answer through `pxe-service` boot
services, which dnsmasq picks by PXE client system type (= option 93).
Option 252 is WDS's `WDSBP_OPT_BCD_FILE_PATH` (formats.md §5.3): it points each
boot manager at its own BCD, because BIOS (winload.exe) and UEFI (winload.efi)
need different stores and several architectures share one TFTP root.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pebuild import __version__
from pebuild.pxe.arches import ArchSpec
from pebuild.pxe.dhcpcheck import DHCP_MODES, check_dhcp_options
from pebuild.pxe.templates import render

__all__ = ["DHCP_MODES", "BootEntry", "DnsmasqOptions", "check_dhcp_options", "render_dnsmasq_conf"]
DEFAULT_MENU_TEXT = "Network boot: Windows PE"
#: dnsmasq's largest TFTP blksize with its default edns-packet-max (1232 + MAXDNAME 1025 + 10 - 4), measured
DNSMASQ_DEFAULT_MAX_BLOCK = 2263
PLACEHOLDER_PROXY_RANGE = "192.168.1.0"
PLACEHOLDER_FULL_RANGE = "192.168.1.100,192.168.1.199,255.255.255.0,12h"


@dataclass(frozen=True)
class BootEntry:
    """One client class's boot answer: its NBP (TFTP path) and BCD (option 252)."""

    firmware: str  # "bios" | "uefi"
    spec: ArchSpec
    nbp: str  # relative TFTP path with "/", e.g. Boot/x64/pxeboot.n12
    bcd: str  # option 252 value with "\", e.g. \Boot\x64\BCD
    tag: str  # dnsmasq tag of the client class

    @property
    def dhcp_file(self) -> str:
        """The boot file name as DHCP hands it out: with backslashes, because pxeboot.n12 takes the
        directory of the next file (bootmgr.exe) from the text before its last backslash
        (issue 13: `Boot/x64/pxeboot.n12` makes it ask for `bootmgr.exe` at the TFTP root)."""
        return self.nbp.replace("/", "\\")

    @property
    def client_arch(self) -> tuple[int, ...]:
        """DHCP option 93 values of this client class."""
        return (0,) if self.firmware == "bios" else self.spec.efi_client_arch

    @property
    def csa(self) -> tuple[str, ...]:
        return ("x86PC",) if self.firmware == "bios" else self.spec.pxe_csa

    @property
    def menu(self) -> str:
        return f"Windows PE {self.spec.arch} ({'BIOS' if self.firmware == 'bios' else 'UEFI'})"


@dataclass
class DnsmasqOptions:
    tftp_root: str
    conf_path: str
    mode: str = "proxy"
    dhcp_range: str | None = None
    interface: str | None = None
    server_address: str | None = None
    block_size: int = 1456
    window_size: int = 4
    ipxe_script: str | None = None  # URL or TFTP path of boot.ipxe for iPXE clients; None: no iPXE chain
    entries: list[BootEntry] = field(default_factory=list)
    default_bcd_note: str = ""
    menu_text: str | None = None  # pxe-prompt text (proxy-DHCP boot menu)
    http_boot_url: str | None = None  # UEFI HTTP Boot: URL answered to the HTTPClient vendor class


def render_dnsmasq_conf(opts: DnsmasqOptions) -> str:
    check_dhcp_options(opts.mode, opts.dhcp_range, opts.interface, opts.server_address, opts.menu_text)
    placeholder = opts.dhcp_range is None
    dhcp_range = opts.dhcp_range or (
        PLACEHOLDER_FULL_RANGE if opts.mode == "full" else PLACEHOLDER_PROXY_RANGE
    )
    if opts.mode == "proxy":
        subnet, _, netmask = dhcp_range.partition(",")
        dhcp_range = f"{subnet},proxy" + (f",{netmask}" if netmask else "")
    ipxe_chain = opts.ipxe_script is not None
    entries = _entry_context(opts.entries, ipxe_chain)
    efi_specs = []
    for entry in opts.entries:
        if entry.firmware == "uefi" and entry.spec not in efi_specs:
            efi_specs.append(entry.spec)
    script = opts.ipxe_script or ""
    return render(
        "dnsmasq.conf.j2",
        version=__version__,
        tftp_root=opts.tftp_root,
        conf_path=opts.conf_path,
        mode=opts.mode,
        dhcp_range=dhcp_range,
        placeholder_range=placeholder,
        interface=opts.interface,
        server_address=opts.server_address,
        block_size=opts.block_size,
        dnsmasq_max_block=DNSMASQ_DEFAULT_MAX_BLOCK,
        window_size=opts.window_size,
        efi_specs=efi_specs,
        ipxe_chain=ipxe_chain,
        ipxe_script=script,
        ipxe_script_tftp="boot.ipxe",
        boot_entries=entries,
        default_bcd_note=opts.default_bcd_note,
        prompt_text=opts.menu_text or DEFAULT_MENU_TEXT,
        http_boot_url=opts.http_boot_url,
    )


def _entry_context(boot_entries: list[BootEntry], ipxe_chain: bool) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    for entry in boot_entries:
        tags = f"tag:{entry.tag}" + (",tag:!ipxe" if ipxe_chain else "")
        entries.append(
            {
                "tags": tags,
                "pxe_tags": "tag:!ipxe," if ipxe_chain else "",
                "nbp": entry.dhcp_file,
                # dnsmasq unescapes \\ \b \t ... inside quotes (option.c): double every "\".
                "bcd": entry.bcd.replace("\\", "\\\\"),
                "bcd_plain": entry.bcd,
                "codes": " and ".join(map(str, entry.client_arch)),
                "code_list": entry.client_arch,
                "tag": entry.tag,
                "csa": entry.csa,
                "menu": entry.menu,
            }
        )
    return entries


def render_dhcp_server_252(opts: DnsmasqOptions) -> str:
    """conf/dhcp-server-252.conf: what the DHCP server beside a proxy-DHCP dnsmasq must send."""
    return render(
        "dhcp-server-252.conf.j2",
        version=__version__,
        entries=_entry_context(opts.entries, False),
        default_bcd_note=opts.default_bcd_note,
    )
