"""A PXE tree missing its BCDs, boot.sdi or boot.wim fails `pebuild smoke --pxe` (issue 20).

The boot manager stand-ins (bootmgr.exe on BIOS, bootmgfw.efi on UEFI) download the BCD and ask
the sizes of the ramdisk files it names over TFTP from the real dnsmasq; one QEMU boot per case.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest
from pxe_support import netboot_wim

from _helpers import PEBUILD_CMD

pytestmark = [pytest.mark.smoke, pytest.mark.slow]
MARKER = f"PEBUILD-PXE-{secrets.token_hex(4)}"
TAIL = r"bcd=\S+ sha256=[0-9a-f]{16} sdi=\S+ wim=\S+[\r\n]"
FULL = ("--dhcp", "full", "--dhcp-range", "192.168.50.100,192.168.50.199,12h")


@pytest.fixture(scope="module")
def boot_wim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return netboot_wim(tmp_path_factory, "gutted", MARKER)


@pytest.mark.parametrize("firmware", ["bios", "uefi"])
@pytest.mark.parametrize("gone", ["BCD", "boot.sdi", "boot.wim"])
def test_a_tree_without_its_boot_files_fails_the_smoke(
    boot_wim: Path, tmp_path: Path, world: Path, run_pebuild, firmware: str, gone: str
) -> None:  # type: ignore[no-untyped-def]
    tree = world / "pxe"  # dnsmasq drops root for nobody, as on a real server
    proc = subprocess.run(
        [*PEBUILD_CMD, "pxe", str(boot_wim), str(tree), *FULL], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    victims = [
        p
        for p in tree.rglob("*")
        if p.is_file() and (p.name.startswith("BCD") if gone == "BCD" else p.name == gone)
    ]
    assert victims, f"the tree has no {gone}"
    for path in victims:
        path.unlink()
    log = tmp_path / "serial.log"
    program = r"bootmgr\.exe" if firmware == "bios" else r"bootmgfw\.efi pxe file=\S+"
    proc = run_pebuild("smoke", str(tree), "--pxe", "--pxe-server", "dnsmasq", "--firmware", firmware,
                       "--expect", rf"{MARKER} {program} {TAIL}", "--json", "--serial-log", str(log),
                       timeout=400)  # fmt: skip
    result = json.loads(proc.stdout)
    assert proc.returncode == 1, result["reason"]
    reason = str(result["reason"])
    if gone == "BCD":  # the download fails: one pebuild-standin line, no facts line
        assert (
            "the stand-in boot program failed: pebuild-standin " in reason
            and "TFTP download failed" in reason
        )
    else:  # the facts line says the size request failed; the comparison names the file
        name = "sdi" if gone == "boot.sdi" else "wim"
        assert (
            f"wrong boot: {'bootmgr.exe' if firmware == 'bios' else 'bootmgfw.efi'} did not get the {name}"
            in reason
        )


def test_a_tree_without_its_dnsmasq_conf_is_refused(boot_wim: Path, world: Path, run_pebuild) -> None:  # type: ignore[no-untyped-def]
    """--pxe-server dnsmasq serves the tree's own conf/dnsmasq.conf: without it, a usage error, not a boot.

    (`auto` boots such a tree through QEMU's own TFTP with a warning: docs/smoke.md.)"""
    tree = world / "pxe"
    run_pebuild("pxe", str(boot_wim), str(tree), *FULL, check=True)
    (tree / "conf" / "dnsmasq.conf").unlink()
    proc = run_pebuild("smoke", str(tree), "--pxe", "--pxe-server", "dnsmasq", "--firmware", "bios",
                       "--expect", MARKER, "--json")  # fmt: skip
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert (
        proc.stderr.startswith("pebuild: ")
        and "has no conf/dnsmasq.conf: not a tree written by pebuild pxe" in proc.stderr
    )
