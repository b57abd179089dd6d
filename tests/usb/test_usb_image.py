"""USB disk images checked with sfdisk/fdisk, fsck.fat and mtools at the partition offset."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from usb_support import make_media, tree_bytes

from _helpers import assert_one_line_error, require_tool
from pebuild.errors import FormatError, SourceError, UsageError
from pebuild.usb import UsbRequest, parse_size, write_usb_image

STAMP = 1_700_000_000
MIB = 1 << 20


def _sfdisk_json(image: Path) -> dict:
    sfdisk = require_tool("sfdisk")
    out = subprocess.run([sfdisk, "--json", str(image)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)["partitiontable"]


def _partition_file(image: Path, start: int, sectors: int, dest: Path) -> Path:
    """Copy the partition out (sparse-aware copy_file_range) so fsck.fat can check it."""
    with open(image, "rb") as src, open(dest, "wb") as out:
        remaining, offset, pos = sectors * 512, start * 512, 0
        while remaining:
            n = os.copy_file_range(src.fileno(), out.fileno(), remaining, offset + pos, pos)
            assert n > 0
            remaining -= n
            pos += n
    return dest


def _fsck(part: Path) -> None:
    fsck = require_tool("fsck.vfat")
    proc = subprocess.run([fsck, "-n", str(part)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _mcopy_all(image: Path, offset: int, dest: Path) -> dict[str, bytes]:
    require_tool("mdir")  # mtools
    dest.mkdir()
    subprocess.run(
        ["mcopy", "-s", "-n", "-i", f"{image}@@{offset}", "::/*", str(dest)], check=True, capture_output=True
    )
    return {p.relative_to(dest).as_posix().casefold(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}


@pytest.mark.parametrize("table", ["mbr", "gpt"])
def test_usb_tables_and_file_system(tmp_path: Path, table: str) -> None:
    media = make_media(tmp_path)
    image = tmp_path / f"{table}.img"
    result = write_usb_image(UsbRequest(media, image, size=40 * MIB, table=table, timestamp=STAMP))
    assert image.stat().st_size == result.size == 40 * MIB
    pt = _sfdisk_json(image)
    parts = pt["partitions"]
    assert len(parts) == 1
    part = parts[0]
    assert part["start"] == 2048 and part["start"] * 512 == result.partition_offset
    assert part["size"] * 512 == result.partition_size
    if table == "mbr":
        assert pt["label"] == "dos"
        assert part["type"] == "c" and part.get("bootable") is True
    else:
        assert pt["label"] == "gpt"
        assert part["type"] == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"  # EFI System Partition
        assert part["name"] == "WINPE"
        verify = subprocess.run(["sfdisk", "--verify", str(image)], capture_output=True, text=True)
        assert verify.returncode == 0 and "No errors detected" in verify.stdout, verify.stdout + verify.stderr
    fdisk_l = subprocess.run(["fdisk", "-l", str(image)], capture_output=True, text=True, check=True).stdout
    assert "EFI System" in fdisk_l or "W95 FAT32 (LBA)" in fdisk_l
    _fsck(_partition_file(image, part["start"], part["size"], tmp_path / "part.img"))
    assert _mcopy_all(image, result.partition_offset, tmp_path / "out") == tree_bytes(media)
    listing = subprocess.run(
        ["mdir", "-/", "-i", f"{image}@@{result.partition_offset}", "::"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "BOOTX64  EFI" in listing  # the firmware's path in its proper spelling
    assert "wgl4_boot.ttf" in listing and "efisys_noprompt.bin" in listing
    info = subprocess.run(
        ["minfo", "-i", f"{image}@@{result.partition_offset}", "::"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "hidden sectors: 2048" in info and "physical drive id: 0x80" in info


def test_usb_deterministic(tmp_path: Path, run_pebuild) -> None:
    media = make_media(tmp_path)
    env = {"SOURCE_DATE_EPOCH": str(STAMP)}
    for name in ("a.img", "b.img"):
        run_pebuild(
            "usb", str(media), str(tmp_path / name), "--size", "40M", "--table", "gpt", env=env, check=True
        )
    assert (tmp_path / "a.img").read_bytes() == (tmp_path / "b.img").read_bytes()
    run_pebuild(
        "usb",
        str(media),
        str(tmp_path / "c.img"),
        "--size",
        "40M",
        "--table",
        "gpt",
        env={"SOURCE_DATE_EPOCH": str(STAMP + 1)},
        check=True,
    )
    assert (tmp_path / "c.img").read_bytes() != (tmp_path / "a.img").read_bytes()


def test_usb_auto_size_and_json(tmp_path: Path, run_pebuild) -> None:
    media = make_media(tmp_path, wim_size=3 * MIB)
    image = tmp_path / "auto.img"
    proc = run_pebuild(
        "usb", str(media), str(image), "--json", env={"SOURCE_DATE_EPOCH": str(STAMP)}, check=True
    )
    data = json.loads(proc.stdout)
    assert data["size"] == image.stat().st_size and data["size"] % MIB == 0
    assert data["table"] == "mbr" and data["fat_type"] == 32
    assert data["uefi_boot_file"] == "EFI/BOOT/BOOTX64.EFI" and data["bios_boot"] is True
    assert data["files"] == len(tree_bytes(media))
    free = subprocess.run(
        ["mdir", "-i", f"{image}@@{data['partition_offset']}", "::"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "bytes free" in free
    assert image.stat().st_blocks * 512 < image.stat().st_size  # free space stays sparse


def test_usb_kit_boot_sector_is_used(tmp_path: Path) -> None:
    """A FAT32 boot sector from elsewhere (here: mkfs.fat's) keeps its code; our BPB replaces its own."""
    mkfs = str(Path(require_tool("fsck.vfat")).with_name("mkfs.vfat"))  # both from dosfstools
    vol = tmp_path / "kit.img"
    subprocess.run([mkfs, "-F", "32", "-C", str(vol), str(40 * 1024)], check=True, capture_output=True)
    kit = tmp_path / "fat32.bs"
    kit.write_bytes(vol.read_bytes()[:512])
    media = make_media(tmp_path)
    image = tmp_path / "k.img"
    result = write_usb_image(UsbRequest(media, image, size=40 * MIB, timestamp=STAMP, boot_sector=kit))
    assert result.boot_sector == str(kit)
    with open(image, "rb") as fh:
        fh.seek(result.partition_offset)
        vbr = fh.read(512)
    kit_bytes = kit.read_bytes()
    assert vbr[0:3] == kit_bytes[0:3] and vbr[90:510] == kit_bytes[90:510]
    _fsck(_partition_file(image, 2048, result.partition_size // 512, tmp_path / "p.img"))
    kit.write_bytes(b"\0" * 512)
    with pytest.raises(FormatError):
        write_usb_image(UsbRequest(media, tmp_path / "x.img", size=40 * MIB, boot_sector=kit))
    assert not (tmp_path / "x.img").exists()


def test_usb_library_errors(tmp_path: Path) -> None:
    media = make_media(tmp_path)
    with pytest.raises(SourceError, match=r"bootia32\.efi"):
        write_usb_image(UsbRequest(media, tmp_path / "x.img", arch="x86"))
    with pytest.raises(UsageError, match="partition table"):
        write_usb_image(UsbRequest(media, tmp_path / "x.img", table="apm"))
    with pytest.raises(UsageError, match="--table hybrid is not supported: Windows"):
        write_usb_image(UsbRequest(media, tmp_path / "x.img", table="hybrid"))
    huge = media / "sources" / "big.vhd"
    with open(huge, "wb") as fh:
        fh.truncate(5 << 30)  # sparse
    with pytest.raises(UsageError, match=r"sources/big\.vhd is 5\.00 GiB but FAT32 holds files below 4 GiB"):
        write_usb_image(UsbRequest(media, tmp_path / "x.img"))
    huge.rename(media / "sources" / "install.wim")  # a .wim is split: this one is no WIM at all
    with pytest.raises(FormatError, match="not a WIM file"):
        write_usb_image(UsbRequest(media, tmp_path / "x.img"))
    assert not (tmp_path / "x.img").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch parts left
    assert parse_size("8G") == 8 << 30 and parse_size("512MiB") == 512 << 20 and parse_size("auto") == "auto"
    assert parse_size("1000000") == 1_000_000


@pytest.mark.parametrize(
    ("case", "expected_code"),
    [
        ("missing-media", 4),
        ("no-efi", 4),
        ("too-small", 2),
        ("unfit", 2),
        ("bad-size", 2),
        ("no-dir", 8),
        ("big-file", 2),
        ("big-boot-wim", 2),
        ("hybrid", 2),
        ("bad-data-size", 2),
        ("inside-media", 2),
    ],
)
def test_usb_cli_bad_input(tmp_path: Path, run_pebuild, case: str, expected_code: int) -> None:
    media = make_media(tmp_path, wim_size=50 * MIB if case == "unfit" else 1000)
    out = tmp_path / "out.img"
    args = [str(media), str(out)]
    if case == "missing-media":
        args[0] = str(tmp_path / "nope")
    elif case == "no-efi":
        (media / "efi/boot/bootx64.efi").unlink()
    elif case == "too-small":
        args += ["--size", "20M"]
    elif case == "unfit":
        args += ["--size", "40M"]
    elif case == "bad-size":
        args += ["--size", "lots"]
    elif case == "no-dir":
        args[1] = str(tmp_path / "missing-dir" / "out.img")
    elif case == "big-file":
        with open(media / "sources" / "data.vhdx", "wb") as fh:
            fh.truncate(4 << 30)
    elif case == "big-boot-wim":  # a split boot.wim would not boot: refused, not split
        with open(media / "sources" / "boot.wim", "r+b") as fh:
            fh.truncate((4 << 30) + 1)
    elif case == "hybrid":
        args += ["--table", "hybrid"]
    elif case == "bad-data-size":
        args += ["--data-size", "100K"]
    elif case == "inside-media":
        out = media / "out.img"
        args[1] = str(out)
    proc = run_pebuild("usb", *args)
    assert_one_line_error(proc, expected_code)
    reason = {
        "big-file": "sources/data.vhdx is 4.00 GiB but FAT32 holds files below 4 GiB",
        "big-boot-wim": "split boot.wim",
        "hybrid": "Windows' boot manager refuses under UEFI",
    }.get(case)
    assert reason is None or reason in proc.stderr, proc.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.img")]  # no temp file left


def test_usb_unwritable_output(tmp_path: Path, run_pebuild) -> None:
    media = make_media(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        # root may write into a mode-555 directory; /proc refuses new files to everyone
        target = ro / "out.img" if not os.access(ro, os.W_OK) else Path("/proc/pebuild-usb-test.img")
        proc = run_pebuild("usb", str(media), str(target), "--size", "40M")
        assert_one_line_error(proc, 8)
        assert not target.exists()
    finally:
        ro.chmod(0o755)


def test_usb_output_over_a_directory_is_refused(tmp_path: Path, run_pebuild) -> None:
    media = make_media(tmp_path)
    target = tmp_path / "dir.img"
    target.mkdir()
    proc = run_pebuild("usb", str(media), str(target), "--size", "40M")
    assert_one_line_error(proc, 8)
    assert target.is_dir()


def test_usb_boot_code_matches_asm(tmp_path: Path) -> None:
    """The checked-in bytes are what nasm makes of the .asm sources beside them."""
    nasm = require_tool("nasm")
    import pebuild.usb as usb_pkg
    from pebuild.usb._bootcode import MBR_CODE, VBR_FAT32

    src = Path(usb_pkg.__file__).parent
    for name, expected in (("mbr.asm", MBR_CODE), ("vbr_fat32.asm", VBR_FAT32)):
        out = tmp_path / (name + ".bin")
        subprocess.run([nasm, "-f", "bin", "-o", str(out), str(src / name)], check=True)
        assert out.read_bytes() == expected, name


@pytest.mark.slow
def test_usb_streams_big_files(tmp_path: Path) -> None:
    """A 300 MB boot.wim goes into the image without being held in memory (peak RSS of the CLI process)."""
    import sys

    from _helpers import PEBUILD_CMD

    media = make_media(tmp_path)
    with open(media / "sources" / "boot.wim", "wb") as fh:
        fh.seek(300 * MIB - 5)
        fh.write(b"TAIL!")
    image = tmp_path / "big.img"
    probe = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *PEBUILD_CMD, "usb", str(media), str(image), "--size", "400M"],
        capture_output=True,
        text=True,
        check=True,
    )
    peak_mib = int(out.stdout.strip()) / 1024
    assert peak_mib < 150, f"pebuild usb peaked at {peak_mib:.0f} MiB for a 300 MiB file"
    copied = tmp_path / "boot.wim"
    subprocess.run(["mcopy", "-n", "-i", f"{image}@@{MIB}", "::/sources/boot.wim", str(copied)], check=True)
    assert copied.stat().st_size == 300 * MIB
    with open(copied, "rb") as fh:
        fh.seek(-5, 2)
        assert fh.read() == b"TAIL!"


def test_usb_kit_boot_sector_with_reserved_sectors(tmp_path: Path) -> None:
    """A 13-sector bootsect-style dump: sectors 2..12 land in the same reserved sectors (2 also at 8)."""
    vbr = bytearray(512)
    vbr[0:3] = b"\xeb\x58\x90"
    vbr[82:90] = b"FAT32   "
    vbr[90:100] = b"KIT-CODE-0"
    vbr[510:512] = b"\x55\xaa"
    dump = bytearray(vbr + bytes(12 * 512))
    dump[2 * 512 : 2 * 512 + 10] = b"KIT-SECT-2"
    dump[12 * 512 : 12 * 512 + 11] = b"KIT-SECT-12"
    dump[1 * 512 : 1 * 512 + 4] = b"JUNK"  # FSInfo in the dump: must not be copied
    kit = tmp_path / "fat32nt60.bs"
    kit.write_bytes(bytes(dump))
    media = make_media(tmp_path)
    image = tmp_path / "k13.img"
    result = write_usb_image(UsbRequest(media, image, size=40 * MIB, timestamp=STAMP, boot_sector=kit))
    with open(image, "rb") as fh:
        fh.seek(result.partition_offset)
        reserved = fh.read(13 * 512)
    assert reserved[90:100] == b"KIT-CODE-0"
    assert reserved[2 * 512 : 2 * 512 + 10] == b"KIT-SECT-2" == reserved[8 * 512 : 8 * 512 + 10]
    assert reserved[12 * 512 : 12 * 512 + 11] == b"KIT-SECT-12"
    assert reserved[512:516] == b"RRaA"  # our FSInfo signature, not the dump's
    assert reserved[6 * 512 : 7 * 512] == reserved[:512]
    _fsck(_partition_file(image, 2048, result.partition_size // 512, tmp_path / "p.img"))
    info = subprocess.run(
        ["minfo", "-i", f"{image}@@{result.partition_offset}", "::"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "hidden sectors: 2048" in info  # the BPB is the volume's, not the dump's zeros
