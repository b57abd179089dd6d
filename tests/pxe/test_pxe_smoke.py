"""QEMU network-boots the tree through its own DHCP/TFTP (slirp, isolated): the BIOS NBP
(pxeboot.n12 stand-in) under SeaBIOS + iPXE ROM, and bootmgfw.efi under OVMF's PXE."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest
from pxe_support import make_boot_wim

from _helpers import PEBUILD_CMD, require_tool

pytestmark = [pytest.mark.smoke, pytest.mark.slow]


@pytest.fixture(scope="module")
def marked_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A tree written by `pebuild pxe` from a boot.wim whose programs print a per-run marker."""
    marker = f"PEBUILD-PXE-{secrets.token_hex(4)}"
    base = tmp_path_factory.mktemp("smoke")
    wim = make_boot_wim(base / "boot.wim", "amd64", marker=marker)
    proc = subprocess.run(
        [*PEBUILD_CMD, "pxe", str(wim), str(base / "pxe"), "--arch", "amd64"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return base / "pxe", marker


@pytest.mark.parametrize("firmware, program", [("bios", "pxeboot.n12"), ("uefi", "bootmgfw.efi")])
def test_qemu_pxe_boots_the_tree(
    marked_tree: tuple[Path, str], run_pebuild, firmware: str, program: str
) -> None:  # type: ignore[no-untyped-def]
    require_tool("qemu-system-x86_64")
    tree, marker = marked_tree
    proc = run_pebuild(
        "smoke", str(tree), "--pxe", "--firmware", firmware, "--expect", f"{marker} {program}", "--json",
        timeout=400,
    )  # fmt: skip
    if proc.returncode == 6:
        pytest.skip(f"QEMU environment missing: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{marker} {program}" in proc.stdout
