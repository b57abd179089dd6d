"""boot.ipxe: iPXE + wimboot over HTTP, the fast path for hundreds of clients (anchors.md §2.4).

iPXE fetches wimboot and the boot files over HTTP (TCP: windowed, congestion
controlled, served by any web server) instead of lock-step TFTP. The script
picks the architecture itself: `${platform}`/`${buildarch}` for UEFI, and
`cpuid --ext 29` (long mode) for BIOS, where DHCP option 93 says 0 for x86 and
x64 alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from pebuild import __version__
from pebuild.errors import UsageError
from pebuild.pxe.templates import render


@dataclass(frozen=True)
class IpxeArch:
    arch: str
    label: str  # script label, e.g. bios_x64 / uefi_x64
    bcd: str  # relative URL paths with "/"
    sdi: str
    wim: str
    bootmgr: str | None = None  # BIOS only: bootmgr.exe (wimboot can also take it from the WIM)
    wimboot_args: str = ""


def check_http_url(url: str | None) -> str | None:
    """The base URL with one trailing slash; http(s) only (iPXE's https needs a crypto build)."""
    if url is None:
        return None
    if not url.startswith(("http://", "https://")) or any(c in url for c in " \n\r\"'"):
        raise UsageError(
            f"HTTP URL must start with http:// or https:// and hold no spaces or quotes: {url!r}"
        )
    return url.rstrip("/") + "/"


def render_boot_ipxe(
    bios: list[IpxeArch], uefi: list[tuple[IpxeArch, str]], base_url: str | None, has_wimboot: bool
) -> str:
    """`bios`: BIOS arches, x64 first; `uefi`: (arch, iPXE buildarch) pairs."""
    arches = [*bios, *(a for a, _ in uefi)]
    return render(
        "boot.ipxe.j2",
        version=__version__,
        base=base_url,
        has_wimboot=has_wimboot,
        bios_labels=[a.label for a in bios],
        uefi_labels=[(a.label, buildarch) for a, buildarch in uefi],
        arches=arches,
    )
