"""dnsmasq.conf generation: dnsmasq itself (`--test`) is the independent reader."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from _helpers import require_tool
from pebuild.errors import UsageError
from pebuild.pxe.arches import ARCHES
from pebuild.pxe.dnsmasq import BootEntry, DnsmasqOptions, render_dnsmasq_conf

AMD64, X86, ARM64 = ARCHES["amd64"], ARCHES["x86"], ARCHES["arm64"]


def entries() -> list[BootEntry]:
    return [
        BootEntry("bios", AMD64, "Boot/x64/pxeboot.n12", "\\Boot\\x64\\BCD", "bios"),
        BootEntry("uefi", AMD64, "Boot/x64/bootmgfw.efi", "\\Boot\\x64\\BCD.efi", AMD64.tag),
        BootEntry("uefi", X86, "Boot/x86/bootmgfw.efi", "\\Boot\\x86\\BCD.efi", X86.tag),
        BootEntry("uefi", ARM64, "Boot/arm64/bootmgfw.efi", "\\Boot\\arm64\\BCD.efi", ARM64.tag),
    ]


def conf(tmp_path: Path, **kw: object) -> Path:
    opts = DnsmasqOptions(
        tftp_root=str(tmp_path), conf_path=str(tmp_path / "dnsmasq.conf"), entries=entries()
    )
    for key, value in kw.items():
        setattr(opts, key, value)
    path = tmp_path / "dnsmasq.conf"
    path.write_text(render_dnsmasq_conf(opts))
    return path


def dnsmasq_test(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("dnsmasq"), "--test", f"--conf-file={path}"], capture_output=True, text=True, timeout=30
    )


def lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("mode", ["proxy", "full"])
@pytest.mark.parametrize("ipxe", [None, "http://10.0.0.1/pxe/boot.ipxe"])
def test_dnsmasq_accepts_generated_config(tmp_path: Path, mode: str, ipxe: str | None) -> None:
    path = conf(tmp_path, mode=mode, ipxe_script=ipxe, dhcp_range="10.0.0.0" if mode == "proxy" else None)
    proc = dnsmasq_test(path)
    assert proc.returncode == 0, proc.stderr
    assert "syntax check OK" in proc.stderr
    body = lines(path)
    assert f"tftp-root={tmp_path}" in body
    assert "port=0" in body and "enable-tftp" in body
    # option 93 -> tag for every firmware class, x64 under both 7 and 9 (erratum 4624)
    for code, tag in ((0, "bios"), (7, "efi-x64"), (9, "efi-x64"), (6, "efi-x86"), (11, "efi-arm64")):
        assert f"dhcp-match=set:{tag},option:client-arch,{code}" in body
    not_ipxe = ",tag:!ipxe" if ipxe else ""
    if mode == "full":
        # option 252 per client class, forced (firmware never asks for it), backslashes doubled
        # because dnsmasq unescapes inside quotes
        assert not any(line.startswith("dhcp-option=") for line in body)
        assert "dhcp-no-override" in body  # boot file in the BOOTP file field (bootmgfw.efi reads it)
        assert f'dhcp-option-force=tag:bios{not_ipxe},252,"\\\\Boot\\\\x64\\\\BCD"' in body
        assert f'dhcp-option-force=tag:efi-x64{not_ipxe},252,"\\\\Boot\\\\x64\\\\BCD.efi"' in body
        assert any(line.startswith("dhcp-range=") and "proxy" not in line for line in body)
        assert f"dhcp-boot=tag:bios{not_ipxe},Boot\\x64\\pxeboot.n12" in body
        assert f"dhcp-boot=tag:efi-arm64{not_ipxe},Boot\\arm64\\bootmgfw.efi" in body
        assert (f"dhcp-boot=tag:ipxe,{ipxe}" in body) == bool(ipxe)
        assert not any(line.startswith("pxe-service=") for line in body)
    else:
        assert "dhcp-range=10.0.0.0,proxy" in body
        prefix = "tag:!ipxe," if ipxe else ""
        assert f'pxe-service={prefix}x86PC,"Windows PE amd64 (BIOS)",Boot\\x64\\pxeboot.n12' in body
        assert f'pxe-service={prefix}x86-64_EFI,"Windows PE amd64 (UEFI)",Boot\\x64\\bootmgfw.efi' in body
        assert f'pxe-service={prefix}BC_EFI,"Windows PE amd64 (UEFI)",Boot\\x64\\bootmgfw.efi' in body
        assert f'pxe-service={prefix}ARM64_EFI,"Windows PE arm64 (UEFI)",Boot\\arm64\\bootmgfw.efi' in body
        assert not any(line.startswith("dhcp-boot=") for line in body)
        # dnsmasq sends no option 252 in proxy answers (test_pxe_dhcp): the values are comments for
        # the DHCP server that leases the addresses
        assert not any(",252," in line for line in body)
        assert '#   client-arch 7 and 9: 252 = "\\Boot\\x64\\BCD.efi"' in path.read_text()
    assert ("dhcp-userclass=set:ipxe,iPXE" in body) == bool(ipxe)


@pytest.mark.parametrize(
    "mode, dhcp_range",
    [("full", "10.0.0.100,10.0.0.199,255.255.255.0,12h"), ("full", "10.0.0.100,10.0.0.199,infinite"),
     ("proxy", "10.0.0.0,255.255.255.0")],
)  # fmt: skip
def test_valid_ranges_are_accepted_by_dnsmasq(tmp_path: Path, mode: str, dhcp_range: str) -> None:
    """What check_dhcp_range lets through, dnsmasq itself accepts."""
    path = conf(tmp_path, mode=mode, dhcp_range=dhcp_range, menu_text="Boot WinPE (lab 3)")
    proc = dnsmasq_test(path)
    assert proc.returncode == 0, proc.stderr
    if mode == "proxy":
        assert "dhcp-range=10.0.0.0,proxy,255.255.255.0" in lines(path)
        assert 'pxe-prompt="Boot WinPE (lab 3)",0' in lines(path)


def test_http_boot_answers_the_httpclient_vendor_class(tmp_path: Path) -> None:
    url = "http://10.0.0.1/pxe/Boot/x64/bootmgfw.efi"
    path = conf(tmp_path, mode="full", http_boot_url=url)
    assert dnsmasq_test(path).returncode == 0
    body = lines(path)
    assert "dhcp-vendorclass=set:httpclient,HTTPClient" in body
    assert "dhcp-option-force=tag:httpclient,60,HTTPClient" in body
    assert f"dhcp-boot=tag:httpclient,{url}" in body


def test_dnsmasq_rejects_a_broken_config_so_the_check_means_something(tmp_path: Path) -> None:
    path = conf(tmp_path, mode="full")
    path.write_text(path.read_text() + "dhcp-match=set:broken,option:no-such-option,1\n")
    assert dnsmasq_test(path).returncode != 0


def test_interface_and_server_address(tmp_path: Path) -> None:
    path = conf(
        tmp_path,
        mode="full",
        interface="eth1",
        server_address="10.0.0.5",
        dhcp_range="10.0.0.50,10.0.0.99,1h",
    )
    assert dnsmasq_test(path).returncode == 0
    body = lines(path)
    assert "interface=eth1" in body and "bind-interfaces" in body
    assert "dhcp-range=10.0.0.50,10.0.0.99,1h" in body
    assert "dhcp-boot=tag:bios,Boot\\x64\\pxeboot.n12,,10.0.0.5" in body


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"mode": "relay"}, "unknown DHCP mode"),
        ({"dhcp_range": "10.0.0.0\nport=53"}, "bad dhcp range"),
        ({"interface": 'eth0"'}, "bad interface"),
        ({"server_address": "tftp.example"}, "IPv4"),
        ({"mode": "proxy", "dhcp_range": "lan"}, "subnet"),
        ({"mode": "proxy", "dhcp_range": "10.0.0.0,255.0.255.0"}, "not a netmask"),
        ({"mode": "full", "dhcp_range": "10.0.0.100"}, "START,END"),
        ({"mode": "full", "dhcp_range": "10.0.0.200,10.0.0.100,12h"}, "starts after it ends"),
        ({"mode": "full", "dhcp_range": "10.0.0.100,10.0.1.300,12h"}, "IPv4"),
        ({"mode": "full", "dhcp_range": "10.0.0.100,10.0.0.199,12x"}, "lease time"),
        ({"mode": "full", "dhcp_range": "10.0.0.100,10.0.0.199,1m"}, "2 minutes"),
        ({"mode": "full", "dhcp_range": "10.0.0.100,10.0.1.10,255.255.255.0,1h"}, "one subnet"),
        ({"mode": "full", "dhcp_range": "10.0.0.100,10.0.0.199,1h,extra"}, "unexpected"),
        ({"interface": "a-very-long-interface-name"}, "bad interface"),
        ({"interface": "eth 0"}, "bad interface"),
        ({"menu_text": 'say "hi"'}, "menu text"),
    ],
)
def test_bad_dhcp_options(tmp_path: Path, kw: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        conf(tmp_path, **kw)
