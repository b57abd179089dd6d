"""OVMF discovery from QEMU firmware descriptors, and clear errors when pieces are missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pebuild.errors import ToolError
from pebuild.qemu import firmware


def _descriptor(
    directory: Path, name: str, code: Path, vars_: Path, features: list[str], arch="x86_64"
) -> None:
    code.write_bytes(b"code")
    vars_.write_bytes(b"vars")
    desc = {
        "interface-types": ["uefi"],
        "mapping": {
            "device": "flash",
            "executable": {"filename": str(code), "format": "raw"},
            "nvram-template": {"filename": str(vars_), "format": "raw"},
        },
        "targets": [{"architecture": arch, "machines": ["pc-q35-*"]}],
        "features": features,
    }
    (directory / name).write_text(json.dumps(desc))


@pytest.fixture
def fake_firmware(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "fw").mkdir()
    monkeypatch.setattr(firmware, "FIRMWARE_DESCRIPTOR_DIRS", (tmp_path / "fw",))
    monkeypatch.setattr(firmware, "FALLBACK_OVMF", {"x86_64": [], "i386": []})
    monkeypatch.delenv("PEBUILD_OVMF_CODE", raising=False)
    monkeypatch.delenv("PEBUILD_OVMF_VARS", raising=False)
    return tmp_path


def test_descriptor_without_secure_boot_is_chosen(fake_firmware: Path) -> None:
    fw = fake_firmware / "fw"
    _descriptor(
        fw,
        "40-secure.json",
        fake_firmware / "s.fd",
        fake_firmware / "sv.fd",
        ["secure-boot", "enrolled-keys"],
    )
    _descriptor(fw, "50-smm.json", fake_firmware / "m.fd", fake_firmware / "mv.fd", ["requires-smm"])
    _descriptor(fw, "60-plain.json", fake_firmware / "p.fd", fake_firmware / "pv.fd", ["acpi-s3", "amd-sev"])
    _descriptor(fw, "70-ia32.json", fake_firmware / "i.fd", fake_firmware / "iv.fd", [], arch="i386")
    found = firmware.find_ovmf("amd64")
    assert (found.code, found.vars_template) == (fake_firmware / "p.fd", fake_firmware / "pv.fd")
    assert firmware.find_ovmf("x86").code == fake_firmware / "i.fd"


def test_secure_boot_smm_build_is_the_last_resort_and_enrolled_keys_never(fake_firmware: Path) -> None:
    fw = fake_firmware / "fw"
    _descriptor(
        fw,
        "40-enrolled.json",
        fake_firmware / "e.fd",
        fake_firmware / "ev.fd",
        ["secure-boot", "enrolled-keys"],
    )
    _descriptor(
        fw, "50-secure.json", fake_firmware / "s.fd", fake_firmware / "sv.fd", ["requires-smm", "secure-boot"]
    )
    found = firmware.find_ovmf("amd64")
    assert found.code == fake_firmware / "s.fd" and found.requires_smm
    (fw / "50-secure.json").unlink()
    with pytest.raises(ToolError):
        firmware.find_ovmf("amd64")


def test_missing_ovmf_names_the_debian_package(fake_firmware: Path) -> None:
    with pytest.raises(ToolError, match=r"install the Debian package ovmf$"):
        firmware.find_ovmf("amd64")
    with pytest.raises(ToolError, match="ovmf-ia32"):
        firmware.find_ovmf("x86")


def test_environment_override(fake_firmware: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (fake_firmware / "c.fd").write_bytes(b"c")
    (fake_firmware / "v.fd").write_bytes(b"v")
    monkeypatch.setenv("PEBUILD_OVMF_CODE", str(fake_firmware / "c.fd"))
    monkeypatch.setenv("PEBUILD_OVMF_VARS", str(fake_firmware / "v.fd"))
    assert firmware.find_ovmf().code == fake_firmware / "c.fd"


def test_missing_qemu_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolError, match="qemu-system-x86"):
        firmware.find_qemu()


def test_missing_nic_rom_names_ipxe_qemu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(firmware, "IPXE_ROM_DIRS", (tmp_path,))
    with pytest.raises(ToolError, match="ipxe-qemu"):
        firmware.find_nic_rom("efi-e1000.rom")


def test_real_descriptors_here_give_a_non_secure_build() -> None:
    if not firmware._descriptor_files():
        pytest.skip("no QEMU firmware descriptors installed (Debian package ovmf)")
    found = firmware.find_ovmf("amd64")
    assert found.code.is_file() and found.vars_template.is_file()
    assert "secboot" not in found.code.name and ".ms." not in found.code.name


def test_cli_without_qemu_exits_6_naming_the_package(tmp_path: Path, run_pebuild) -> None:
    iso = tmp_path / "x.iso"
    iso.write_bytes(bytes(4096))
    proc = run_pebuild("smoke", str(iso), env={"PATH": "/nonexistent"})
    assert proc.returncode == 6 and "qemu-system-x86" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
