"""PXE through the real server: dnsmasq started from the tree's own dnsmasq.conf in a network
namespace the test creates, real firmware as the client (SeaBIOS + iPXE ROM, OVMF's own PXE,
OVMF + iPXE EFI ROM, OVMF HTTP Boot), pebuild's own stand-ins as the boot programs (issue 13).

Each boot checks that the boot manager stand-in printed the hash of a BCD of the tree whose
loader matches its firmware (winload.exe / winload.efi) and got the sizes of the boot.sdi and
boot.wim that BCD names; the marker is new per run, so a stale log cannot pass.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from pathlib import Path

import pytest
from pxe_support import netboot_wim

from _helpers import PEBUILD_CMD, SHARED_DIR
from pebuild.qemu.netboot import SERVER_ADDRESS

pytestmark = [pytest.mark.smoke, pytest.mark.slow]
MARKER = f"PEBUILD-PXE-{secrets.token_hex(4)}"
WIMBOOT = SHARED_DIR / "fixtures" / "wimboot" / "wimboot"
TAIL = r"bcd=\S+ sha256=[0-9a-f]{16} sdi=\S+ wim=\S+[\r\n]"


@pytest.fixture(scope="module")
def boot_wim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return netboot_wim(tmp_path_factory, "netboot", MARKER)


def write_tree(boot_wim: Path, dest: Path, *args: str) -> Path:
    proc = subprocess.run(
        [*PEBUILD_CMD, "pxe", str(boot_wim), str(dest), *args], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return dest


def smoke(run_pebuild, tree: Path, *args: str) -> tuple[int, dict[str, object]]:  # type: ignore[no-untyped-def]
    # logs beside the serial log in the test's directory (a failed boot would keep them in /tmp otherwise)
    log = tree.parent / "serial.log"
    proc = run_pebuild("smoke", str(tree), "--pxe", "--pxe-server", "dnsmasq", "--json", "--serial-log", str(log),
                       *args, timeout=400)  # fmt: skip
    assert proc.returncode != 6, f"a missing tool, firmware or NIC ROM is a failure: {proc.stderr.strip()}"
    return proc.returncode, json.loads(proc.stdout)


def transfers(result: dict[str, object]) -> dict[str, str]:
    netboot = result["netboot"]
    assert isinstance(netboot, dict)
    return {t["file"]: t["outcome"] for t in netboot["transfers"]}


FULL = ("--dhcp", "full", "--dhcp-range", "192.168.50.100,192.168.50.199,12h")
PROXY = ("--dhcp", "proxy", "--dhcp-range", "192.168.50.0")


@pytest.mark.parametrize(
    "firmware, mode, bcd",
    [
        ("bios", "full", "\\Boot\\x64\\BCD"),  # option 252, forced: iPXE never asks for it
        ("uefi", "full", "\\Boot\\x64\\BCD.efi"),  # OVMF's own PXE; boot file in the BOOTP file field
        ("bios", "proxy", "\\Boot\\x64\\BCD"),  # 252 from "the existing DHCP server" (dhcp-server-252.conf)
        ("uefi", "proxy", "\\Boot\\x64\\BCD.efi"),
    ],
)
def test_each_firmware_gets_its_own_bcd_and_ramdisk(
    boot_wim: Path, world: Path, run_pebuild, firmware: str, mode: str, bcd: str
) -> None:  # type: ignore[no-untyped-def]
    tree = write_tree(boot_wim, world / "pxe", *(FULL if mode == "full" else PROXY))
    program = "bootmgr.exe" if firmware == "bios" else "bootmgfw.efi pxe file=\\S+"
    rc, result = smoke(run_pebuild, tree, "--firmware", firmware, "--dhcp", mode,
                       "--expect", rf"{MARKER} {program} {TAIL}")  # fmt: skip
    assert rc == 0, result["reason"]
    reason = str(result["reason"])
    loader = "winload.exe" if firmware == "bios" else "winload.efi"
    assert f"loaded {bcd} ({loader}, sha256 " in reason
    assert "ramdisk \\Boot\\x64\\boot.sdi 4096 bytes, \\Boot\\x64\\Images\\boot.wim " in reason
    served = transfers(result)
    nbp = "Boot/x64/pxeboot.n12" if firmware == "bios" else "Boot/x64/bootmgfw.efi"
    assert served[nbp] == "sent" and served[bcd.replace("\\", "/").lstrip("/")] == "sent"
    if firmware == "bios":
        assert served["Boot/x64/bootmgr.exe"] == "sent"  # pxeboot.n12 found it beside itself
    netboot = result["netboot"]
    assert (
        isinstance(netboot, dict) and netboot["mode"] == mode and netboot["server_address"] == SERVER_ADDRESS
    )
    # only the interface and the range were changed in the tree's own configuration
    substituted = netboot["substituted"]
    assert isinstance(substituted, dict) and set(substituted) == {"interface", "dhcp-range"}


def test_a_forward_slash_boot_file_name_fails_like_pxeboot_n12(
    boot_wim: Path, world: Path, run_pebuild
) -> None:  # type: ignore[no-untyped-def]
    """The seed's configuration: `Boot/x64/pxeboot.n12`. pxeboot.n12 finds no backslash in its name,
    asks for bootmgr.exe at the TFTP root and stops with "TFTP download failed"."""
    tree = write_tree(boot_wim, world / "pxe", *FULL)
    conf = tree / "conf/dnsmasq.conf"
    conf.write_text(conf.read_text().replace("Boot\\x64\\pxeboot.n12", "Boot/x64/pxeboot.n12"))
    rc, result = smoke(run_pebuild, tree, "--firmware", "bios", "--expect", rf"{MARKER} bootmgr\.exe {TAIL}")
    assert rc == 1
    assert "TFTP download failed: bootmgr.exe" in str(result["reason"])
    assert "dnsmasq" in result["netboot"]["logs"]  # type: ignore[index,operator]  # kept for the human
    served = transfers(result)
    assert served["Boot/x64/pxeboot.n12"] == "sent" and served["bootmgr.exe"] == "not found"


def test_a_252_line_that_is_not_forced_sends_uefi_to_the_bios_store(
    boot_wim: Path, world: Path, run_pebuild
) -> None:  # type: ignore[no-untyped-def]
    """With a plain dhcp-option OVMF (which never requests 252) gets none, bootmgfw falls back to
    \\Boot\\BCD, the BIOS store, and the verdict says so."""
    tree = write_tree(boot_wim, world / "pxe", *FULL)
    conf = tree / "conf/dnsmasq.conf"
    conf.write_text(conf.read_text().replace("dhcp-option-force=", "dhcp-option="))
    rc, result = smoke(run_pebuild, tree, "--firmware", "uefi",
                       "--expect", rf"{MARKER} bootmgfw\.efi pxe file=\S+ {TAIL}")  # fmt: skip
    assert rc == 1
    assert "loaded \\Boot\\BCD, a store without winload.efi: the wrong BCD for uefi" in str(result["reason"])


@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_ipxe_and_wimboot_over_http(boot_wim: Path, world: Path, run_pebuild, firmware: str) -> None:  # type: ignore[no-untyped-def]
    """iPXE chains to boot.ipxe over HTTP (nginx with the tree's server block, as nobody), and
    wimboot starts the sample's boot manager from its ramdisk files."""
    tree = write_tree(boot_wim, world / "pxe", *FULL, "--wimboot", str(WIMBOOT),
                      "--http-url", f"http://{SERVER_ADDRESS}/")  # fmt: skip
    if firmware == "bios":
        args = ("--firmware", "bios", "--expect", rf"{MARKER} bootmgr\.exe bootapp=BOOT APP")
    else:
        args = ("--firmware", "uefi", "--uefi-ipxe", "--expect", rf"{MARKER} bootmgfw\.efi fw=EDK II")
    rc, result = smoke(run_pebuild, tree, *args)
    assert rc == 0, result["reason"]
    assert result["netboot"]["http_server"] == "nginx"  # type: ignore[index]  # never a stand-in server
    served = transfers(result)
    files = (
        "/boot.ipxe",
        "/wimboot",
        "/Boot/x64/BCD.wimboot",
        "/Boot/x64/boot.sdi",
        "/Boot/x64/Images/boot.wim",
    )
    for path in files:
        assert served[path] == "200", path
    assert not any(outcome == "sent" for outcome in served.values())  # nothing over TFTP
    # nginx's own access log (combined format): QEMU's iPXE (its User-Agent) fetched boot.ipxe first,
    # then every file only the script names, each whole (bytes sent = the tree's file): the script ran
    log = Path(result["netboot"]["logs"]["http"]).read_text()  # type: ignore[index]
    requests = re.findall(r'"GET (\S+) HTTP/[\d.]+" (\d{3}) (\d+) "[^"]*" "([^"]*)"', log)
    assert requests and requests[0][:2] == ("/boot.ipxe", "200"), requests
    assert all(agent.startswith("iPXE/") for *_, agent in requests), requests
    whole = {path: int(sent) for path, status, sent, _ in requests if status == "200"}
    for path in files:
        assert whole[path] == (tree / path.lstrip("/")).stat().st_size, (path, whole)


def test_uefi_http_boot(boot_wim: Path, world: Path, run_pebuild) -> None:  # type: ignore[no-untyped-def]
    """Debian's OVMF has HttpBootDxe: with its PXE off it asks DHCP as HTTPClient, gets the URL of
    bootmgfw.efi in the tree and starts it; no TFTP and no iPXE involved."""
    tree = write_tree(boot_wim, world / "pxe", *FULL, "--http-url", f"http://{SERVER_ADDRESS}/",
                      "--http-boot", "Boot/x64/bootmgfw.efi")  # fmt: skip
    rc, result = smoke(run_pebuild, tree, "--firmware", "uefi", "--http-boot",
                       "--expect", rf"{MARKER} bootmgfw\.efi fw=EDK II")  # fmt: skip
    assert rc == 0, result["reason"]
    assert transfers(result) == {"/Boot/x64/bootmgfw.efi": "200"}
