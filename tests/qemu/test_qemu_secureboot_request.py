"""`pebuild smoke --secure-boot`: the QEMU command line and the request checks (no boot here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from _helpers import require_tool
from pebuild.errors import ToolError, UsageError
from pebuild.qemu.firmware import find_secure_boot_ovmf
from pebuild.qemu.model import FAILURE_PATTERNS
from pebuild.qemu.runner import SmokeRequest, _Run, build_command, validate


def test_secure_boot_needs_uefi_amd64(tmp_path: Path, iso: Path) -> None:
    for changes in ({"firmware": "bios"}, {"arch": "x86", "firmware": "uefi"}):
        with pytest.raises(UsageError, match="--secure-boot"):
            validate(SmokeRequest(iso, secure_boot=True, **changes))
    with pytest.raises(ToolError, match="--vars"):
        find_secure_boot_ovmf(tmp_path / "missing.fd")


def test_command_uses_the_secboot_code_smm_and_a_copy_of_the_vars(tmp_path: Path, iso: Path) -> None:
    require_tool("qemu-system-x86_64")
    ovmf = find_secure_boot_ovmf()  # a ToolError fails the test: ovmf ships the secboot build
    vars_file = tmp_path / "mine.fd"
    vars_file.write_bytes(ovmf.vars_template.read_bytes())
    run = _Run(tmp_path, tmp_path / "serial.log", False)
    cmd = " ".join(build_command(SmokeRequest(iso, "uefi", secure_boot=True, vars=vars_file), run, "tcg"))
    assert f"file={ovmf.code}" in cmd and "secboot" in ovmf.code.name
    assert "q35,smm=on" in cmd and "cfi.pflash01,property=secure,value=on" in cmd
    assert f"file={tmp_path / 'vars.fd'}" in cmd  # OVMF writes to a copy; the user's store is untouched
    default = " ".join(build_command(SmokeRequest(iso, "uefi", secure_boot=True), run, "tcg"))
    assert "OVMF_CODE_4M.secboot.fd" in default


def test_access_denied_is_named_before_the_generic_boot_failure() -> None:
    import re

    line = 'BdsDxe: failed to load Boot0001 "UEFI QEMU DVD-ROM QM00001 " from PciRoot(0x0): Access Denied'
    first = next((why for pattern, why in FAILURE_PATTERNS.items() if re.search(pattern, line)), None)
    assert first == "Secure Boot refused the boot program"
    plain = 'BdsDxe: failed to load Boot0001 "UEFI QEMU DVD-ROM QM00001 " from PciRoot(0x0): Not Found'
    assert next(why for pattern, why in FAILURE_PATTERNS.items() if re.search(pattern, plain)) == (
        "firmware could not boot the media"
    )
