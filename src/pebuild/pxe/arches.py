"""Architectures in a PXE tree: WDS directory names, DHCP option 93 codes, iPXE names.

WDS keeps one `RemoteInstall\\Boot\\<dir>` per architecture with its own names
(`x64`, not `amd64`; anchors.md §2.5). DHCP option 93 (client architecture,
formats.md §5.1, RFC 4578 with erratum 4624) is how a DHCP server tells
firmware apart: 0 = BIOS (x86 and x64 alike), 6 = UEFI IA32, 7 = UEFI x64
(9 is the erratum-swapped code many firmwares still send, so it is mapped to
x64 too), 11 = UEFI ARM64, 2 = Itanium EFI.
"""

from __future__ import annotations

from dataclasses import dataclass

from pebuild.arches import normalize_arch


@dataclass(frozen=True)
class ArchSpec:
    arch: str  # the ADK's name: x86, amd64, arm64, ia64
    wds_dir: str  # RemoteInstall\Boot\<wds_dir>
    bios: bool  # has a BIOS (pxeboot.n12 -> bootmgr.exe) chain
    efi_client_arch: tuple[int, ...]  # DHCP option 93 codes of its UEFI firmware
    pxe_csa: tuple[str, ...]  # dnsmasq --pxe-service client system types (proxy-DHCP)
    ipxe_buildarch: str | None  # iPXE ${buildarch} of its UEFI build; None: iPXE has no port

    @property
    def tag(self) -> str:
        """dnsmasq tag of this arch's UEFI clients."""
        return f"efi-{self.wds_dir}"


ARCHES: dict[str, ArchSpec] = {
    "x86": ArchSpec("x86", "x86", True, (6,), ("IA32_EFI",), "i386"),
    "amd64": ArchSpec("amd64", "x64", True, (7, 9), ("x86-64_EFI", "BC_EFI"), "x86_64"),
    "arm64": ArchSpec("arm64", "arm64", False, (11,), ("ARM64_EFI",), "arm64"),
    "ia64": ArchSpec("ia64", "ia64", False, (2,), ("IA64_EFI",), None),
}


def arch_spec(name: str) -> ArchSpec:
    """The spec of an arch in any spelling pebuild.arches accepts (WDS's x64 is one of them)."""
    return ARCHES[normalize_arch(name)]
