"""The smoke verdict's vocabulary: request, result, run paths and the serial patterns.

The lowest layer of `pebuild.qemu`: the runner, the watch loop and the KVM
probe all read these; this module imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pebuild.errors import BootError

#: what counts as "booted" when no --expect is given: a sample program's marker, the token
#: recipes/smoke.toml's startnet.cmd line writes to COM1 (`PEBUILD-SMOKE ok amd64`), or EMS/SAC's prompt
SMOKE_TOKEN = "PEBUILD-SMOKE"
DEFAULT_EXPECT = rf"PEBUILD-SAMPLE \S+|{SMOKE_TOKEN} \S+|SAC>"

#: serial lines after which the firmware will not boot this media (qemu.md pitfall 5)
FAILURE_PATTERNS = {
    # first: OVMF's Secure Boot refusal ends a "BdsDxe: failed to load" line (issue 14)
    r"BdsDxe: failed to (?:load|start) Boot\d+[^\r\n]*(?:Access Denied|Security Violation)": "Secure Boot refused the boot program",
    r"BdsDxe: failed to (?:load|start) Boot\d+[^\r\n]*": "firmware could not boot the media",
    r"PXE-E\d\d[^\r\n]*": "PXE error",
    r"UEFI Interactive Shell": "firmware gave up and started the UEFI Shell",
    r"Access Denied": "Secure Boot refused the boot program",
    # the sample's PXE stand-ins (pebuild.sample.stubs.pxe) and Microsoft's pxeboot.n12
    r"pebuild-standin \S+: [^\r\n]*": "the stand-in boot program failed",
    r"TFTP download failed[^\r\n]*": "TFTP download failed",
}
#: seconds per boot kind under TCG: ~10x the times measured on a loaded 2-core VM (qemu.md §4)
DEFAULT_TIMEOUTS = {("bios", False): 60, ("uefi", False): 180, ("bios", True): 120, ("uefi", True): 180}


@dataclass
class SmokeRequest:
    media: Path
    firmware: str | None = None  # bios | uefi; None: what the media boots (qemu/detect.py)
    pxe: bool = False
    arch: str | None = None  # amd64 | x86 | arm64; None: what the media boots
    expect: list[str] = field(default_factory=list)
    timeout: float | None = None
    serial_log: Path | None = None
    screenshot: Path | None = None
    memory: str = "512M"
    kvm: str = "off"  # off | on | auto
    bootfile: str | None = None  # PXE: path under the TFTP root
    #: PXE server: "auto" (dnsmasq in a network namespace when allowed, else slirp with a warning),
    #: "dnsmasq" (error when not allowed) or "slirp" (QEMU's built-in TFTP); see pebuild.qemu.netboot
    pxe_server: str = "auto"
    dhcp_mode: str = "full"  # dnsmasq server: "full" or "proxy" (a second dnsmasq leases addresses)
    uefi_ipxe: bool = False  # UEFI through the iPXE EFI ROM of an e1000 instead of OVMF's own PXE
    http_boot: bool = False  # UEFI HTTP Boot: OVMF's PXE off, its HttpBootDxe asks DHCP for a URL
    secure_boot: bool = False  # UEFI: OVMF's Secure Boot build (SMM) with an enrolled variable store
    vars: Path | None = None  # secure_boot: the enrolled VARS file (default OVMF_VARS_4M.ms.fd)


@dataclass
class SmokeResult:
    ok: bool
    reason: str
    seconds: float
    markers: dict[str, float]  # expected regex -> seconds from QEMU start to its first match
    serial_log: Path | None
    screenshot: Path | None
    command: list[str]
    accel: str = "tcg"
    netboot: dict[str, object] | None = None  # the server side of a dnsmasq PXE boot (netboot.py)
    warnings: list[str] = field(default_factory=list)
    #: expected regex -> the serial line that matched it (what the verdict names)
    lines: dict[str, str] = field(default_factory=dict)
    arch: str | None = None
    firmware: str | None = None
    media: Any = None  # the MediaProfile that chose arch and firmware

    def check(self) -> SmokeResult:
        """Raise BootError carrying the one-line verdict unless the boot passed."""
        if not self.ok:
            raise BootError(self.reason)
        return self

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "markers": {k: round(v, 3) for k, v in self.markers.items()},
            "serial_log": None if self.serial_log is None else str(self.serial_log),
            "screenshot": None if self.screenshot is None else str(self.screenshot),
            "accel": self.accel,
            "netboot": self.netboot,
            "warnings": self.warnings,
            "command": self.command,
            "matched": dict(self.lines),
            "arch": self.arch,
            "firmware": self.firmware,
            "media": None if self.media is None else self.media.to_json(),
        }


@dataclass
class _Run:
    """Everything one QEMU run needs on disk; `workdir` is short (AF_UNIX limit, pitfall 8)."""

    workdir: Path
    serial_log: Path
    keep_log: bool
    netdev: str | None = None  # PXE: a QEMU -netdev (tap in the netboot namespace) instead of slirp

    @property
    def qmp_socket(self) -> Path:
        return self.workdir / "qmp"
