"""pebuild.qemu.standin: the facts line is parsed and compared with a PXE tree, an ISO written by
pebuild's writer (read back through pycdlib) and a FAT image (pebuild.fat.reader).
The QEMU boots that print these lines are tests/qemu/test_qemu_standin_uefi.py,
tests/sample/test_sample_boot.py and tests/pxe/."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from pebuild.fat import efisys_image
from pebuild.iso import IsoRequest, write_iso
from pebuild.qemu.standin import UEFI_EXPECT, check, open_media, parse

BCD = b"regf" + "\\windows\\system32\\boot\\winload.efi".encode("utf-16-le") + bytes(100)
FILES = {
    "efi/microsoft/boot/bcd": BCD,  # lower case, as pebuild make writes it; the stand-in asks \EFI\...
    "Boot/boot.sdi": bytes(3000),
    "sources/boot.wim": b"MSWIM\0\0\0" + bytes(5000),
    "efi/Boot/bootx64.efi": b"MZ" + bytes(700),
}


def _line(marker: str = "PEBUILD-SAMPLE bootx64.efi 2023", **change: str) -> str:
    digest = hashlib.sha256(BCD).hexdigest()[:16]
    facts = {
        "next": "\\EFI\\Boot\\bootx64.efi:702",
        "bcd": "\\EFI\\Microsoft\\Boot\\BCD",
        "sha256": digest,
        "sdi": "\\boot\\boot.sdi:3000",
        "wim": "\\sources\\boot.wim:5008",
    } | change
    return marker + "".join(f" {k}={v}" for k, v in facts.items() if v) + "\r\n"


def _tree(root: Path) -> Path:
    for rel, data in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.fixture(params=["iso", "usb"])
def media(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    if request.param == "iso":
        iso = tmp_path / "m.iso"
        write_iso(IsoRequest(_tree(tmp_path / "media"), iso, timestamp=1))
        return iso, "iso"
    image = tmp_path / "m.img"
    image.write_bytes(efisys_image(FILES, timestamp=1))
    return image, "usb"


def test_parse_reads_every_field_and_names_the_program() -> None:
    line = parse("junk\r\n" + _line("PEBUILD-SAMPLE bootx64.efi noprompt 2023"))
    assert line is not None
    assert (line.program, line.noprompt, line.pxe_file) == ("bootx64.efi", True, None)
    assert (line.next, line.bcd, line.sdi) == (
        "\\EFI\\Boot\\bootx64.efi:702",
        "\\EFI\\Microsoft\\Boot\\BCD",
        "\\boot\\boot.sdi:3000",
    )
    pxe = parse(
        "M bootmgfw.efi pxe file=Boot\\x64\\bootmgfw.efi bcd=\\B sha256=" + "0" * 16 + " sdi=a:1 wim=b:2\n"
    )
    assert pxe is not None and (pxe.program, pxe.pxe_file, pxe.next, pxe.wim) == (
        "bootmgfw.efi",
        "Boot\\x64\\bootmgfw.efi",
        None,
        "b:2",
    )
    assert parse("PEBUILD-SAMPLE bootx64.efi fw=EDK II\r\n") is None
    assert parse(_line().rstrip()) is None  # a line cut off before its end is not read


def test_the_prompt_and_noprompt_patterns_tell_the_images_apart() -> None:
    prompt, noprompt = _line(), _line("PEBUILD-SAMPLE bootx64.efi noprompt")
    assert re.search(UEFI_EXPECT[True], prompt) and not re.search(UEFI_EXPECT[True], noprompt)
    assert re.search(UEFI_EXPECT[False], noprompt) and not re.search(UEFI_EXPECT[False], prompt)


def test_facts_that_are_the_medias_pass(media: tuple[Path, str]) -> None:
    with open_media(*media) as files:
        ok, why = check(_line(), files, "uefi")  # type: ignore[misc]
    assert ok, why
    assert why == (
        f"bootx64.efi loaded \\EFI\\Microsoft\\Boot\\BCD (winload.efi, sha256 {hashlib.sha256(BCD).hexdigest()[:16]}); "
        "ramdisk \\boot\\boot.sdi 3000 bytes, \\sources\\boot.wim 5008 bytes; next \\EFI\\Boot\\bootx64.efi 702 bytes"
    )


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"sha256": "0" * 16}, "bootx64.efi loaded \\EFI\\Microsoft\\Boot\\BCD with sha256 0000000000000000, not the media's file"),
        ({"bcd": "\\Boot\\BCD"}, "bootx64.efi loaded \\Boot\\BCD, which is not on the media"),
        ({"sdi": "\\boot\\boot.sdi:2999"}, "bootx64.efi did not get the sdi its BCD names (\\boot\\boot.sdi:2999): not the media's file"),
        ({"wim": "\\sources\\boot.wim:failed"}, "bootx64.efi did not get the wim its BCD names (\\sources\\boot.wim:failed): not the media's file"),
        ({"next": "\\EFI\\Boot\\bootx64.efi:9"}, "bootx64.efi did not get the boot manager it hands over to (\\EFI\\Boot\\bootx64.efi:9): not the media's file"),
    ],
)  # fmt: skip
def test_facts_that_are_not_the_medias_fail(
    media: tuple[Path, str], change: dict[str, str], why: str
) -> None:
    with open_media(*media) as files:
        assert check(_line(**change), files, "uefi") == (False, why)


def test_the_loader_must_match_the_firmware(tmp_path: Path) -> None:
    with open_media(_tree(tmp_path), "pxe") as files:
        assert check(_line(), files, "bios") == (
            False,
            "bootx64.efi loaded \\EFI\\Microsoft\\Boot\\BCD, a store without winload.exe: the wrong BCD for bios",
        )
        assert check("PEBUILD-SAMPLE etfsboot.com dl=E0\r\n", files, "bios") is None
