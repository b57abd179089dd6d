"""Smoke knows its media: arch and firmware read from El Torito entries, EFI boot names, PXE trees.

Media are built by pebuild from the sample source (make, usb, pxe); two boots prove the choice
under QEMU: x86 UEFI media without --arch, and arm64 media under qemu-system-aarch64 + AAVMF.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from _helpers import REPO_ROOT, require_tool
from pebuild.errors import UsageError
from pebuild.qemu import SmokeRequest
from pebuild.qemu.detect import detect_media, resolve_media

RESCUE = REPO_ROOT / "recipes" / "rescue.toml"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Sample-built ISOs for three arches, USB images in both tables, a two-arch PXE tree."""
    from pebuild.make import BuildRequest, build
    from pebuild.pxe import PxeRequest, write_pxe_tree
    from pebuild.source import open_source
    from pebuild.usb import UsbRequest, write_usb_image

    root = tmp_path_factory.mktemp("detect")
    out: dict[str, Path] = {}
    for arch in ("amd64", "x86", "arm64"):
        out[f"{arch}.iso"] = root / f"{arch}.iso"
        build(BuildRequest(arch, RESCUE, out[f"{arch}.iso"], source="sample", media_dir=root / f"m-{arch}"))
    for table in ("mbr", "gpt"):
        out[f"x86-{table}.img"] = root / f"x86-{table}.img"
        write_usb_image(UsbRequest(root / "m-x86", out[f"x86-{table}.img"], table=table, arch="x86"))
    out["arm64.img"] = root / "arm64.img"
    write_usb_image(UsbRequest(root / "m-arm64", out["arm64.img"], table="gpt", arch="arm64"))
    with open_source("sample", "amd64") as amd64, open_source("sample", "arm64") as arm64:
        write_pxe_tree(
            PxeRequest(
                root / "pxe",
                boot_wim={
                    "amd64": root / "m-amd64/sources/boot.wim",
                    "arm64": root / "m-arm64/sources/boot.wim",
                },
                arches=["amd64", "arm64"],
                source={"amd64": amd64, "arm64": arm64},
            )
        )
    out["pxe"] = root / "pxe"
    return out


@pytest.mark.parametrize(
    ("name", "kind", "bios", "uefi"),
    [
        ("amd64.iso", "iso", True, ["amd64"]),
        ("x86.iso", "iso", True, ["x86"]),
        ("arm64.iso", "iso", False, ["arm64"]),
        ("x86-mbr.img", "disk", True, ["x86"]),
        ("x86-gpt.img", "disk", False, ["x86"]),
        ("arm64.img", "disk", False, ["arm64"]),
        ("pxe", "pxe", True, ["amd64", "arm64"]),
    ],
)
def test_what_the_media_boots(
    media: dict[str, Path], name: str, kind: str, bios: bool, uefi: list[str]
) -> None:
    profile = detect_media(media[name], kind)
    assert profile.bios is bios, profile.evidence
    assert sorted(profile.uefi_arches) == uefi, profile.evidence
    suffix = {"amd64": "X64", "x86": "IA32", "arm64": "AA64"}
    if kind != "pxe":
        assert any(f"EFI/BOOT/BOOT{suffix[uefi[0]]}.EFI" in e for e in profile.evidence)
    else:
        assert profile.bios_arches == ["amd64"]  # arm64 has no BIOS chain


@pytest.mark.parametrize(
    ("name", "kind", "given", "chosen"),
    [
        ("amd64.iso", "iso", {}, ("amd64", "bios")),  # both: BIOS first, as before
        ("x86.iso", "iso", {"firmware": "uefi"}, ("x86", "uefi")),  # no --arch x86 needed
        ("arm64.iso", "iso", {}, ("arm64", "uefi")),
        ("x86-gpt.img", "disk", {}, ("x86", "uefi")),  # a GPT-only image boots UEFI only
        ("pxe", "pxe", {"firmware": "uefi"}, ("amd64", "uefi")),
        ("pxe", "pxe", {"arch": "arm64"}, ("arm64", "uefi")),
        ("amd64.iso", "iso", {"arch": "amd64", "firmware": "uefi"}, ("amd64", "uefi")),
    ],
)
def test_arch_and_firmware_are_chosen_from_the_media(
    media: dict[str, Path], name: str, kind: str, given: dict[str, str], chosen: tuple[str, str]
) -> None:
    req, _ = resolve_media(SmokeRequest(media[name], pxe=kind == "pxe", **given), kind)
    assert (req.arch, req.firmware) == chosen


def test_asking_for_what_the_media_lacks_says_what_it_has(media: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match=r"UEFI boot files are for x86, not amd64 .*BOOTIA32\.EFI"):
        resolve_media(SmokeRequest(media["x86.iso"], "uefi", arch="amd64"), "iso")


def test_odd_media_detect_nothing_and_keep_the_old_defaults(tmp_path: Path) -> None:
    iso = tmp_path / "plain.iso"
    data = bytearray(0x9000)
    data[0x8001:0x8006] = b"CD001"
    iso.write_bytes(bytes(data))
    disk = tmp_path / "blank.img"
    disk.write_bytes(bytes(1 << 16))
    for path, kind in ((iso, "iso"), (disk, "disk")):
        profile = detect_media(path, kind)
        assert not profile.bios and not profile.uefi_arches and profile.evidence
        req, _ = resolve_media(SmokeRequest(path), kind)
        assert (req.arch, req.firmware) == ("amd64", "bios")


def test_a_broken_boot_catalog_is_not_a_crash(media: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(media["amd64.iso"].read_bytes())
    (catalog,) = struct.unpack_from("<I", data, 17 * 2048 + 0x47)
    data[catalog * 2048 + 30 : catalog * 2048 + 32] = b"\0\0"  # validation entry key 55 AA gone
    bad = tmp_path / "bad.iso"
    bad.write_bytes(bytes(data))
    profile = detect_media(bad, "iso")
    assert not profile.bios and not profile.uefi_arches


@pytest.mark.smoke
def test_x86_uefi_media_boot_without_arch_and_the_verdict_names_the_line(
    media: dict[str, Path], run_pebuild
) -> None:
    require_tool("qemu-system-x86_64")
    proc = run_pebuild(
        "smoke", str(media["x86.iso"]), "--firmware", "uefi", "--expect", r"bootia32\.efi 2023 fw=\S+"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("PASS x86 uefi: booted: 'PEBUILD-SAMPLE bootia32.efi 2023 fw=EDK II' at ")
    assert r"\S+" not in proc.stdout  # the matched line, not the regex


@pytest.mark.smoke
def test_arm64_media_boot_under_qemu_system_aarch64_with_aavmf(media: dict[str, Path], run_pebuild) -> None:
    require_tool("qemu-system-aarch64")
    proc = run_pebuild("smoke", str(media["arm64.iso"]), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["ok"] and (data["arch"], data["firmware"]) == ("arm64", "uefi")
    assert Path(data["command"][0]).name == "qemu-system-aarch64"
    assert "virt" in data["command"] and "AAVMF" in " ".join(data["command"])
    assert list(data["matched"].values()) == ["PEBUILD-SAMPLE bootaa64.efi 2023 fw=EDK II"]
    assert data["media"]["uefi_arches"] == ["arm64"]
