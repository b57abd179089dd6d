"""dnsmasq started from the generated conf answers PXE clients by DHCP option 93 (full DHCP and
proxy-DHCP), on a veth pair inside network namespaces the test creates: nothing leaves them. dnsmasq
runs as docs/pxe.md starts it (no --user: it drops root for nobody, so the tree must be readable)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _dhcp_client import FIRMWARE_REQUEST_LIST
from pxe_support import SERVER_IP, netns_dhcp

from pebuild.pxe import PxeRequest, write_pxe_tree


def text(hex_value: object) -> str:
    return bytes.fromhex(str(hex_value)).rstrip(b"\0").decode()


@pytest.fixture(scope="module")
def wims(boot_wims: dict[str, Path]) -> dict[str, Path]:
    return {arch: boot_wims[arch] for arch in ("amd64", "x86", "arm64")}


def test_full_dhcp_maps_client_arch_to_boot_file_and_bcd(
    tmp_path: Path, world: Path, wims: dict[str, Path]
) -> None:
    dest = world / "pxe"
    req = PxeRequest(dest=dest, boot_wim=wims, arches=["amd64", "x86", "arm64"], dhcp_mode="full", interface="veth0",
                     dhcp_range="10.77.0.100,10.77.0.150,12h", http_url=f"http://{SERVER_IP}/pxe/", timestamp=1)  # fmt: skip
    write_pxe_tree(req)
    with netns_dhcp(tmp_path, dest / "conf/dnsmasq.conf") as dhcp:
        answers = {code: dhcp.discover(code) for code in (0, 7, 9, 6, 11)}
        ipxe = dhcp.discover(7, ipxe=True)
    expected = {
        0: ("Boot\\x64\\pxeboot.n12", "\\Boot\\x64\\BCD"),  # BIOS: the first arch with BIOS
        7: ("Boot\\x64\\bootmgfw.efi", "\\Boot\\x64\\BCD.efi"),
        9: ("Boot\\x64\\bootmgfw.efi", "\\Boot\\x64\\BCD.efi"),  # erratum 4624 code for x64
        6: ("Boot\\x86\\bootmgfw.efi", "\\Boot\\x86\\BCD.efi"),
        11: ("Boot\\arm64\\bootmgfw.efi", "\\Boot\\arm64\\BCD.efi"),
    }
    for code, (boot_file, bcd) in expected.items():
        options = answers[code]["options"]
        assert isinstance(options, dict)
        assert text(options["53"]) == "\x02"  # DHCPOFFER
        assert str(answers[code]["yiaddr"]).startswith("10.77.0.1")  # an address from the range
        # dhcp-no-override: the name is in the BOOTP file field although the client asked for option 67
        # (bootmgfw.efi reads the field), with the backslashes pxeboot.n12 derives bootmgr.exe's path from
        assert answers[code]["file"] == boot_file, code
        # dhcp-option-force: 252 arrives although the client (like all PXE firmware) did not ask for it
        assert text(options["252"]) == bcd, code  # backslashes arrive intact (dnsmasq unescaping)
        tree_file = boot_file.replace("\\", "/")
        assert (dest / tree_file).is_file() and (dest / bcd.replace("\\", "/").lstrip("/")).is_file()
    options = ipxe["options"]
    assert isinstance(options, dict)
    assert ipxe["file"] == f"http://{SERVER_IP}/pxe/boot.ipxe"
    assert "252" not in options


def test_a_252_line_that_is_not_forced_never_reaches_firmware(
    tmp_path: Path, world: Path, wims: dict[str, Path]
) -> None:
    """The regression of issue 13: a plain dhcp-option 252 is sent only on request, and firmware never
    requests it (the test client asks what EDK2's PXE asks), so the offer carries no BCD path."""
    # the client is firmware-like: its option 55 is EDK2's list, which never names 252 (else this
    # test could not see a plain dhcp-option 252 go missing)
    assert 252 not in FIRMWARE_REQUEST_LIST and 67 in FIRMWARE_REQUEST_LIST
    dest = world / "pxe"
    req = PxeRequest(dest=dest, boot_wim=wims["amd64"], arches=["amd64"], dhcp_mode="full", interface="veth0",
                     dhcp_range="10.77.0.100,10.77.0.150,12h", timestamp=1)  # fmt: skip
    write_pxe_tree(req)
    conf = dest / "conf/dnsmasq.conf"
    body = conf.read_text()
    assert body.count("dhcp-option-force=") == 2 and "\ndhcp-option=" not in body
    with netns_dhcp(tmp_path, conf) as dhcp:
        forced = {code: dhcp.discover(code) for code in (0, 7)}
    assert all("252" in answer["options"] for answer in forced.values())  # type: ignore[operator]
    (tmp_path / "plain").mkdir()
    conf.write_text(body.replace("dhcp-option-force=", "dhcp-option="))
    with netns_dhcp(tmp_path / "plain", conf) as dhcp:
        plain = {code: dhcp.discover(code) for code in (0, 7)}
    for answer in plain.values():
        assert "252" not in answer["options"]  # type: ignore[operator]


def test_proxy_dhcp_answers_pxe_clients(tmp_path: Path, world: Path, wims: dict[str, Path]) -> None:
    dest = world / "pxe"
    req = PxeRequest(
        dest=dest,
        boot_wim=wims,
        arches=["amd64", "arm64"],
        dhcp_range="10.77.0.0",
        interface="veth0",
        timestamp=1,
    )
    write_pxe_tree(req)
    with netns_dhcp(tmp_path, dest / "conf/dnsmasq.conf") as dhcp:
        bios = dhcp.discover(0)
        uefi = {code: dhcp.discover(code, boot_server=True) for code in (7, 11)}
    options = bios["options"]
    assert isinstance(options, dict)
    assert bios["yiaddr"] == "0.0.0.0" and text(options["60"]) == "PXEClient"  # proxy: no address
    # BIOS: a PXE boot menu (option 43) naming the x86PC service, booting at once
    assert b"Windows PE amd64 (BIOS)" in bytes.fromhex(str(options["43"]))
    # UEFI: the boot-server answer (port 4011) names the boot file of the client's architecture
    assert uefi[7]["file"] == "Boot\\x64\\bootmgfw.efi"
    assert uefi[11]["file"] == "Boot\\arm64\\bootmgfw.efi"
    # documented limitation: dnsmasq sends no option 252 in proxy answers; \Boot\BCD is used unless
    # the DHCP server that leases addresses sends it (conf/dhcp-server-252.conf, test_pxe_netboot)
    for answer in (bios, *uefi.values()):
        assert "252" not in answer["options"]  # type: ignore[operator]
    assert "leaves it out\n# of proxy-DHCP answers" in (dest / "conf/dnsmasq.conf").read_text()
    assert (
        'dhcp-option-force=tag:pebuild-efi-x64,252,"\\\\Boot\\\\x64\\\\BCD.efi"'
        in (dest / "conf/dhcp-server-252.conf").read_text()
    )
