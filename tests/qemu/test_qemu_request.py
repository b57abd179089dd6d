"""Smoke requests without booting: validation, media detection, PXE boot file, QEMU command line, accel."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pebuild.errors import ToolError, UsageError
from pebuild.qemu import DEFAULT_EXPECT, kvm
from pebuild.qemu.runner import SmokeRequest, _opt, _Run, build_command, media_kind, pxe_bootfile, validate


@pytest.mark.parametrize(
    "changes",
    [
        {"firmware": "coreboot"},
        {"arch": "ia64"},  # no IA-64 system emulator
        {"arch": "sparc"},
        {"arch": "arm64", "firmware": "bios"},  # arm64 boots UEFI only
        {"kvm": "maybe"},
        {"timeout": 0},
        {"memory": "lots"},
        {"expect": ["("]},
        {"screenshot": Path("shot.jpg")},
    ],
)
def test_bad_requests_are_usage_errors(iso: Path, changes: dict) -> None:
    with pytest.raises(UsageError):
        validate(SmokeRequest(iso, **changes))


def test_media_kinds(iso: Path, tmp_path: Path) -> None:
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(4096))
    assert media_kind(SmokeRequest(iso)) == "iso"
    assert media_kind(SmokeRequest(disk)) == "disk"
    assert media_kind(SmokeRequest(tmp_path, pxe=True)) == "pxe"
    with pytest.raises(UsageError):
        media_kind(SmokeRequest(tmp_path))  # a directory without --pxe
    with pytest.raises(UsageError):
        media_kind(SmokeRequest(disk, pxe=True))
    with pytest.raises(UsageError):
        media_kind(SmokeRequest(tmp_path / "missing.iso"))


def test_pxe_boot_file_follows_the_design_layout(tmp_path: Path) -> None:
    (tmp_path / "Boot" / "x64").mkdir(parents=True)
    (tmp_path / "Boot" / "x86").mkdir(parents=True)
    (tmp_path / "Boot" / "x64" / "pxeboot.com").write_bytes(b"x")
    (tmp_path / "Boot" / "x64" / "bootmgfw.efi").write_bytes(b"x")
    (tmp_path / "Boot" / "x86" / "pxeboot.n12").write_bytes(b"x")
    assert pxe_bootfile(SmokeRequest(tmp_path, "bios", pxe=True)) == "Boot/x64/pxeboot.com"  # .n12 absent
    assert pxe_bootfile(SmokeRequest(tmp_path, "uefi", pxe=True)) == "Boot/x64/bootmgfw.efi"
    assert pxe_bootfile(SmokeRequest(tmp_path, "bios", pxe=True, arch="x86")) == "Boot/x86/pxeboot.n12"
    assert pxe_bootfile(SmokeRequest(tmp_path, "bios", pxe=True, bootfile="\\Boot\\x86\\pxeboot.n12")) == (
        "Boot/x86/pxeboot.n12"
    )
    with pytest.raises(UsageError, match=r"bootmgfw\.efi"):
        pxe_bootfile(SmokeRequest(tmp_path, "uefi", pxe=True, arch="x86"))
    with pytest.raises(UsageError):
        pxe_bootfile(SmokeRequest(tmp_path, "bios", pxe=True, bootfile="nope.0"))


def test_command_lines(iso: Path, tmp_path: Path) -> None:
    run = _Run(tmp_path, tmp_path / "serial.log", False)
    uefi = build_command(SmokeRequest(iso, "uefi"), run, "tcg")  # a ToolError here fails: OVMF is installed
    line = " ".join(uefi)
    assert (
        "-accel tcg" in line and "-nodefaults" in line and "-no-shutdown" in line and "-machine q35" in line
    )
    assert re.search(r"if=pflash,format=raw,unit=0,readonly=on,file=\S+", line)
    assert (
        f"unit=1,file={tmp_path / 'vars.fd'}" in line and (tmp_path / "vars.fd").is_file()
    )  # a writable copy
    assert "media=cdrom" in line and "readonly=on,if=ide" in line and "order=d,reboot-timeout=0" in line
    disk = tmp_path / "d.img"
    disk.write_bytes(bytes(4096))
    assert "snapshot=on" in " ".join(build_command(SmokeRequest(disk, "bios"), run, "tcg"))
    (tmp_path / "Boot" / "x64").mkdir(parents=True)
    (tmp_path / "Boot" / "x64" / "bootmgfw.efi").write_bytes(b"x")
    (tmp_path / "Boot" / "x64" / "pxeboot.n12").write_bytes(b"x")
    pxe_uefi = " ".join(build_command(SmokeRequest(tmp_path, "uefi", pxe=True), run, "tcg"))
    assert "restrict=on" in pxe_uefi and "bootfile=Boot/x64/bootmgfw.efi" in pxe_uefi
    assert "virtio-net-pci,netdev=n0,romfile=" in pxe_uefi
    pxe_bios = " ".join(build_command(SmokeRequest(tmp_path, "bios", pxe=True), run, "tcg"))
    assert "e1000,netdev=n0" in pxe_bios and "bootfile=Boot/x64/pxeboot.n12" in pxe_bios


def test_commas_in_paths_are_escaped_for_qemu() -> None:
    assert _opt("/tmp/a,b/c.iso") == "/tmp/a,,b/c.iso"


def test_default_expectation_accepts_sample_smoke_token_and_sac() -> None:
    rx = re.compile(DEFAULT_EXPECT)
    assert rx.search("PEBUILD-SAMPLE etfsboot.com dl=E0")
    assert rx.search("PEBUILD-SMOKE ok amd64\r\n")  # recipes/smoke.toml's startnet.cmd line
    assert rx.search("\x1b[0mSAC>")
    assert not rx.search("BdsDxe: starting Boot0001")


def test_accel_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert kvm.choose_accel("off", "uefi", "amd64") == "tcg"
    monkeypatch.setattr(kvm, "kvm_usable", lambda: False)
    with pytest.raises(ToolError, match="/dev/kvm"):
        kvm.choose_accel("on", "bios", "amd64")
    assert kvm.choose_accel("auto", "bios", "amd64") == "tcg"
    monkeypatch.setattr(kvm, "kvm_usable", lambda: True)
    monkeypatch.setattr(kvm, "_probe_cache", {})
    calls = []
    monkeypatch.setattr(kvm, "probe_kvm", lambda fw, arch: calls.append(fw) or fw == "bios")
    assert kvm.choose_accel("auto", "bios", "amd64") == "kvm"
    assert kvm.choose_accel("auto", "uefi", "amd64") == "tcg"
    assert kvm.choose_accel("auto", "bios", "amd64") == "kvm"
    assert calls == ["bios", "uefi"]  # probed once per firmware
