"""pebuild.qemu.netboot without a network: config substitution, log parsing, the stand-in check."""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from pebuild.errors import ToolError, UsageError
from pebuild.qemu.netboot import (
    FULL_RANGE,
    Transfer,
    _merge_aborts,
    _tftp_event,
    _unreadable,
    netboot,
    substitute,
)
from pebuild.qemu.runner import SmokeRequest, _Run, build_command, validate
from pebuild.qemu.standin import check_tree

CONF = (
    "port=0\nlog-dhcp\ninterface=eth1\nbind-interfaces\ndhcp-range=10.0.0.100,10.0.0.199,12h\ndhcp-boot=x\n"
)


def test_only_interface_and_range_are_substituted() -> None:
    text, was = substitute(CONF, "full", "br0", FULL_RANGE)
    lines = text.splitlines()
    assert lines[0] == "interface=br0" and lines.count("bind-interfaces") == 1
    assert f"dhcp-range={FULL_RANGE}" in lines and "dhcp-boot=x" in lines and "interface=eth1" not in lines
    assert was == {"interface": "eth1", "dhcp-range": "10.0.0.100,10.0.0.199,12h"}
    proxy, _ = substitute("dhcp-range=192.168.1.0,proxy\n", "proxy", "br0", "10.213.0.0")
    assert "dhcp-range=10.213.0.0,proxy" in proxy.splitlines()
    with pytest.raises(UsageError, match="no dhcp-range"):
        substitute("port=0\n", "full", "br0", FULL_RANGE)


def test_dnsmasq_tftp_log_lines() -> None:
    events = [e for line in ("sent /t/Boot/x64/BCD to 10.213.0.150", "file /t/bootmgr.exe not found",
                             "error 0 TFTP Aborted received from 10.213.0.150", "failed sending /t/boot.sdi to 10.213.0.150")
              for e in _tftp_event(line)]  # fmt: skip
    merged = _merge_aborts(events, Path("/t"))
    assert merged == [
        Transfer("tftp", "Boot/x64/BCD", "sent"),
        Transfer("tftp", "bootmgr.exe", "not found"),
        Transfer("tftp", "boot.sdi", "size only (tsize, then the client aborted)"),
    ]


def test_standin_check(tmp_path: Path) -> None:
    (tmp_path / "Boot/x64/Images").mkdir(parents=True)
    bcd = tmp_path / "Boot/x64/BCD.efi"
    bcd.write_bytes(b"regf" + "\\windows\\system32\\boot\\winload.efi".encode("utf-16-le"))
    (tmp_path / "Boot/x64/boot.sdi").write_bytes(bytes(10))
    (tmp_path / "Boot/x64/Images/boot.wim").write_bytes(bytes(20))
    digest = hashlib.sha256(bcd.read_bytes()).hexdigest()[:16]
    line = (f"M bootmgfw.efi pxe file=Boot\\x64\\bootmgfw.efi bcd=\\Boot\\x64\\BCD.efi sha256={digest} "
            "sdi=\\Boot\\x64\\boot.sdi:10 wim=\\Boot\\x64\\Images\\boot.wim:20\r\n")  # fmt: skip
    ok, why = check_tree(line, tmp_path, "uefi")  # type: ignore[misc]
    assert ok and "winload.efi" in why
    assert check_tree(line, tmp_path, "bios") == (
        False,
        "bootmgfw.efi loaded \\Boot\\x64\\BCD.efi, a store without winload.exe: the wrong BCD for bios",
    )
    assert check_tree(line.replace(digest, "0" * 16), tmp_path, "uefi")[0] is False  # type: ignore[index]
    assert check_tree(line.replace(":20", ":21"), tmp_path, "uefi")[0] is False  # type: ignore[index]
    assert check_tree("PEBUILD-SAMPLE bootmgfw.efi fw=EDK II", tmp_path, "uefi") is None


def test_netboot_command_and_options(tmp_path: Path) -> None:
    (tmp_path / "Boot/x64").mkdir(parents=True)
    run = _Run(tmp_path, tmp_path / "s", False, netdev="tap,id=n0,ifname=tap0,script=no,downscript=no")
    cmd = " ".join(build_command(SmokeRequest(tmp_path, "uefi", pxe=True, http_boot=True), run, "tcg"))
    assert "-netdev tap,id=n0,ifname=tap0" in cmd and "restrict=on" not in cmd
    assert "opt/org.tianocore/IPv4PXESupport,string=n" in cmd and "romfile=" in cmd
    cmd = " ".join(build_command(SmokeRequest(tmp_path, "uefi", pxe=True, uefi_ipxe=True), run, "tcg"))
    assert "e1000,netdev=n0" in cmd
    for bad in ({"pxe_server": "tftpd"}, {"dhcp_mode": "relay"}, {"http_boot": True, "firmware": "bios"}):
        with pytest.raises(UsageError):
            validate(SmokeRequest(tmp_path, pxe=True, **bad))  # type: ignore[arg-type]


def test_a_tree_nobody_can_read_is_a_usage_error_not_a_root_server(tmp_path: Path) -> None:
    """dnsmasq and nginx drop root for nobody; the harness never escalates them to hide a 0700
    directory (pytest's tmp_path, a private home): it stops before any namespace is made."""
    base = Path(tempfile.mkdtemp(prefix="pebuild-netboot-", dir="/tmp"))  # tmp_path's parents are 0700
    try:
        base.chmod(0o755)
        private = base / "home"
        tree = private / "pxe"
        (tree / "conf").mkdir(parents=True)
        (tree / "conf/dnsmasq.conf").write_text(CONF)
        for path in (tree, tree / "conf"):
            path.chmod(0o755)
        private.chmod(0o700)
        assert _unreadable(tree) == private.resolve()
        with (
            pytest.raises(
                UsageError, match=rf"{re.escape(str(private))} is not readable by nobody \(mode 700\)"
            ),
            netboot(tree, "full", tmp_path),
        ):
            pytest.fail("the server side started")
        private.chmod(0o755)
        (tree / "conf/dnsmasq.conf").chmod(0o640)
        assert _unreadable(tree) == tree.resolve() / "conf/dnsmasq.conf"
        (tree / "conf/dnsmasq.conf").chmod(0o644)
        assert _unreadable(tree) is None
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_no_nginx_is_a_tool_error_not_a_stand_in_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pebuild.qemu.netboot as nb

    monkeypatch.setattr(nb, "_which", lambda tool: None if tool == "nginx" else f"/usr/sbin/{tool}")
    procs = nb._Procs()
    with pytest.raises(ToolError, match="nginx not installed"):
        nb._start_http(tmp_path, "no-such-namespace", tmp_path, procs)
    assert procs.procs == []  # nothing was started in its place
