"""The data partition (`--data-size`, `--data-fs ntfs|exfat`): blkid, ntfsinfo and fsck.exfat read it.

The boot partition stays FAT32 (fsck.fat, mtools); the data partition follows it
on a MiB boundary as MBR type 0x07 or GPT Basic Data; images are reproducible.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from usb_support import make_media, tree_bytes

from _helpers import assert_one_line_error, require_tool
from pebuild.errors import UsageError
from pebuild.usb import UsbRequest, write_usb_image

MIB = 1 << 20
STAMP = 1_700_000_000


def _volume(image: Path, offset: int, size: int, dest: Path) -> Path:
    subprocess.run(
        [
            "dd",
            f"if={image}",
            f"of={dest}",
            "bs=1M",
            f"skip={offset // MIB}",
            f"count={size // MIB}",
            "conv=sparse",
            "status=none",
        ],
        check=True,
    )
    return dest


def _blkid(image: Path, offset: int) -> dict[str, str]:
    blkid = require_tool("blkid")
    out = subprocess.run(
        [blkid, "-p", "-o", "export", "-O", str(offset), str(image)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.mark.parametrize(
    ("table", "fs"), [("mbr", "ntfs"), ("mbr", "exfat"), ("gpt", "ntfs"), ("gpt", "exfat")]
)
def test_data_partition_is_recognised(tmp_path: Path, table: str, fs: str) -> None:
    media = make_media(tmp_path)
    image = tmp_path / "stick.img"
    result = write_usb_image(
        UsbRequest(
            media, image, table=table, data_size=40 * MIB, data_fs=fs, data_label="CAPTURE", timestamp=STAMP
        )
    )
    data = result.data_partition
    assert data is not None and data["fs"] == fs and data["size"] == 40 * MIB
    offset = int(data["offset"])  # type: ignore[call-overload]
    assert offset % MIB == 0 and offset >= result.partition_offset + result.partition_size
    sfdisk = json.loads(
        subprocess.run(
            [require_tool("sfdisk"), "--json", str(image)], capture_output=True, text=True, check=True
        ).stdout
    )["partitiontable"]
    parts = sfdisk["partitions"]
    assert [p["start"] * 512 for p in parts] == [result.partition_offset, offset]
    assert parts[1]["size"] * 512 == 40 * MIB
    assert parts[1]["type"] == ("7" if table == "mbr" else "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7")
    if table == "gpt":
        assert parts[1]["name"] == "CAPTURE"
    info = _blkid(image, offset)
    assert info["TYPE"] == fs and info["LABEL"] == "CAPTURE", info
    volume = _volume(image, offset, 40 * MIB, tmp_path / "data.vol")
    if fs == "ntfs":
        ntfsinfo = subprocess.run(
            [require_tool("ntfsinfo"), "-m", str(volume)], capture_output=True, text=True, check=True
        ).stdout
        assert "Volume Name: CAPTURE" in ntfsinfo and "Sector Size: 512" in ntfsinfo, ntfsinfo
        with open(volume, "rb") as fh:
            boot = fh.read(512)
        assert int.from_bytes(boot[0x1C:0x20], "little") == offset // 512  # hidden sectors = partition start
    else:
        fsck = subprocess.run([require_tool("fsck.exfat"), "-n", str(volume)], capture_output=True, text=True)
        assert fsck.returncode == 0 and "clean" in fsck.stdout, fsck.stdout + fsck.stderr
    fat = _volume(image, result.partition_offset, result.partition_size, tmp_path / "boot.vol")
    fsck_fat = subprocess.run([require_tool("fsck.vfat"), "-n", str(fat)], capture_output=True, text=True)
    assert fsck_fat.returncode == 0, fsck_fat.stdout + fsck_fat.stderr
    require_tool("mdir")
    dest = tmp_path / "out"
    dest.mkdir()
    subprocess.run(
        ["mcopy", "-s", "-n", "-i", f"{image}@@{result.partition_offset}", "::/*", str(dest)], check=True
    )
    got = {p.relative_to(dest).as_posix().casefold(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    assert got == tree_bytes(media)


@pytest.mark.parametrize("fs", ["ntfs", "exfat"])
def test_data_partition_is_reproducible(tmp_path: Path, run_pebuild, fs: str) -> None:
    media = make_media(tmp_path)
    images = []
    for name, stamp in (("a.img", STAMP), ("b.img", STAMP), ("c.img", STAMP + 1)):
        run_pebuild(
            "usb", str(media), str(tmp_path / name), "--data-size", "16M", "--data-fs", fs,
            env={"SOURCE_DATE_EPOCH": str(stamp)}, check=True,
        )  # fmt: skip
        images.append((tmp_path / name).read_bytes())
    assert images[0] == images[1]
    assert images[0] != images[2]  # another build: another serial, so two sticks never share one
    assert _blkid(tmp_path / "a.img", 0)  # still a partitioned disk


def test_data_partition_errors(tmp_path: Path, run_pebuild) -> None:
    media = make_media(tmp_path)
    with pytest.raises(UsageError, match="whole MiB"):
        write_usb_image(UsbRequest(media, tmp_path / "x.img", data_size=MIB + 1))
    with pytest.raises(UsageError, match="one of ntfs, exfat"):
        write_usb_image(UsbRequest(media, tmp_path / "x.img", data_size=8 * MIB, data_fs="ext4"))
    out = tmp_path / "y.img"
    proc = run_pebuild("usb", str(media), str(out), "--size", "40M", "--data-size", "16M")
    assert_one_line_error(proc, 2)  # 40 MiB cannot hold a 36 MiB FAT32 volume and 16 MiB of data
    assert "too small" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".*"))
