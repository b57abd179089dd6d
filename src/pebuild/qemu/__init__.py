"""Smoke-boot media under QEMU (SeaBIOS, OVMF, iPXE) and check serial markers.

from pebuild.qemu import SmokeRequest, smoke
result = smoke(SmokeRequest(Path("winpe.iso"), firmware="uefi", expect=["PEBUILD-SAMPLE bootx64.efi"]))
result.check()          # BootError with the one-line verdict unless it booted
"""

from __future__ import annotations

from pebuild.qemu.firmware import Ovmf, find_ovmf, find_qemu
from pebuild.qemu.model import DEFAULT_EXPECT, SMOKE_TOKEN, SmokeRequest, SmokeResult
from pebuild.qemu.runner import smoke

__all__ = [
    "DEFAULT_EXPECT",
    "SMOKE_TOKEN",
    "Ovmf",
    "SmokeRequest",
    "SmokeResult",
    "find_ovmf",
    "find_qemu",
    "smoke",
]
