"""pebuild.fat checked by independent readers: fsck.fat -n, mtools (minfo, mdir, mcopy), mkfs.fat."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

from _helpers import require_tool
from pebuild.errors import UsageError
from pebuild.fat import EFISYS_SIZE, FatFile, efisys_image, is_fat_image, make_fat_image, write_fat_image

STAMP = 1_700_000_000


def _tree(tmp: Path) -> dict[str, bytes | Path | FatFile]:
    """Names like a WinPE media tree: lower and mixed case, long names, nested and empty dirs."""
    rng = random.Random(7)
    big = tmp / "boot.wim"
    big.write_bytes(rng.randbytes(300_000))
    files: dict[str, bytes | Path | FatFile] = {
        "bootmgr": rng.randbytes(4000),
        "bootmgr.efi": rng.randbytes(70_001),
        "BOOT/BCD": rng.randbytes(16_384),
        "Boot/Fonts/wgl4_boot.ttf": rng.randbytes(1234),
        "Boot/en-us/bootmgr.exe.mui": rng.randbytes(10),
        "EFI/Microsoft/Boot/efisys_noprompt.bin": rng.randbytes(3000),
        "efi/boot/bootx64.efi": rng.randbytes(9000),
        "sources/boot.wim": big,
        "A Very Long File Name, With Spaces+Commas.txt": b"hello",
        "x/y/z/deep-empty.txt": b"",
        "empty dir/": b"",
        "README.TXT": b"upper case 8.3",
        "ro.txt": FatFile(b"read only", read_only=True),
    }
    for i in range(60):  # many names with one basis name: ~1 .. ~9 and beyond
        files[f"many/file number {i:03d}.dat"] = bytes([i]) * (i * 37)
    return files


def _expected(files: dict[str, bytes | Path | FatFile]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for path, value in files.items():
        if path.endswith("/"):
            continue
        data = value.source if isinstance(value, FatFile) else value
        out[path.casefold()] = data.read_bytes() if isinstance(data, Path) else bytes(data)  # type: ignore[arg-type]
    return out


def _extract(image: Path, dest: Path) -> dict[str, bytes]:
    require_tool("mdir")  # mtools
    dest.mkdir()
    subprocess.run(
        ["mcopy", "-s", "-n", "-i", str(image), "::/*", str(dest)], check=True, capture_output=True
    )
    return {
        p.relative_to(dest).as_posix().casefold(): p.read_bytes()
        for p in sorted(dest.rglob("*"))
        if p.is_file()
    }


def _fsck(image: Path) -> str:
    fsck = require_tool("fsck.vfat")
    proc = subprocess.run([fsck, "-n", str(image)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize(("fat_type", "size"), [(12, 4 << 20), (16, 24 << 20), (32, 40 << 20)])
def test_fat_round_trip_mtools_and_fsck(tmp_path: Path, fat_type: int, size: int) -> None:
    files = _tree(tmp_path)
    image = tmp_path / f"f{fat_type}.img"
    plan = write_fat_image(image, files, size=size, fat_type=fat_type, label="WinPE", timestamp=STAMP)
    assert image.stat().st_size == size
    assert plan.geometry.fat_type == fat_type
    report = _fsck(image)
    assert "files" in report
    got = _extract(image, tmp_path / "out")
    assert got == _expected(files)
    # long names are stored as such (mdir shows the VFAT name beside the short one)
    listing = subprocess.run(
        ["mdir", "-/", "-i", str(image), "::"], capture_output=True, text=True, check=True
    )
    assert "A Very Long File Name, With Spaces+Commas.txt" in listing.stdout
    assert "wgl4_boot.ttf" in listing.stdout and "bootmgr.efi" in listing.stdout
    assert "empty dir" in listing.stdout
    info = subprocess.run(
        ["minfo", "-i", str(image), "::"], capture_output=True, text=True, check=True
    ).stdout
    assert 'banner:"MSDOS5.0"' in info
    label = subprocess.run(
        ["mlabel", "-s", "-i", str(image), "::"], capture_output=True, text=True, check=True
    )
    assert "WINPE" in label.stdout


def test_fat_read_only_attribute(tmp_path: Path) -> None:
    image = tmp_path / "ro.img"
    write_fat_image(image, {"ro.txt": FatFile(b"x", read_only=True), "rw.txt": b"y"}, size=2 << 20)
    require_tool("mdir")  # mtools
    out = subprocess.run(
        ["mattrib", "-i", str(image), "::/ro.txt", "::/rw.txt"], capture_output=True, text=True
    )
    lines = {line.split("::/")[-1].strip(): line for line in out.stdout.splitlines()}
    assert "R" in lines["ro.txt"].split("::/")[0]
    assert "R" not in lines["rw.txt"].split("::/")[0]


def test_efisys_image_is_microsofts_shape(tmp_path: Path) -> None:
    payload = os.urandom(50_000)
    data = efisys_image({"EFI/BOOT/BOOTX64.EFI": payload}, timestamp=STAMP)
    assert len(data) == EFISYS_SIZE == 1_474_560
    image = tmp_path / "efisys.bin"
    image.write_bytes(data)
    _fsck(image)
    require_tool("mdir")  # mtools
    info = subprocess.run(
        ["minfo", "-i", str(image), "::"], capture_output=True, text=True, check=True
    ).stdout
    for needle in (
        'banner:"MSDOS5.0"',
        "sector size: 512 bytes",
        "small size: 2880 sectors",
        "media descriptor byte: 0xf0",
        "fats: 2",
        "max available root directory slots: 224",
        "cluster size: 1 sectors",
    ):
        assert needle in info, (needle, info)
    label = subprocess.run(
        ["mlabel", "-s", "-i", str(image), "::"], capture_output=True, text=True, check=True
    )
    assert "EFISECTOR" in label.stdout
    assert _extract(image, tmp_path / "out") == {"efi/boot/bootx64.efi": payload}
    listing = subprocess.run(
        ["mdir", "-/", "-i", str(image), "::"], capture_output=True, text=True, check=True
    )
    assert "BOOTX64  EFI" in listing.stdout


def test_fat_deterministic(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    one = make_fat_image(files, size=4 << 20, label="WINPE", timestamp=STAMP)
    two = make_fat_image(dict(reversed(list(files.items()))), size=4 << 20, label="WINPE", timestamp=STAMP)
    assert one == two
    later = make_fat_image(files, size=4 << 20, label="WINPE", timestamp=STAMP + 86_400)
    assert later != one
    a = tmp_path / "a.img"
    write_fat_image(a, files, size=4 << 20, label="WINPE", timestamp=STAMP)
    assert a.read_bytes() == one


def test_fat_timestamp_from_source_date_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1262347200")  # 2010-01-01 12:00 UTC
    image = tmp_path / "t.img"
    write_fat_image(image, {"a.txt": b"1"}, size=2 << 20)
    require_tool("mdir")
    listing = subprocess.run(
        ["mdir", "-i", str(image), "::"], capture_output=True, text=True, check=True
    ).stdout
    assert "2010-01-01  12:00" in listing


def test_is_fat_image(tmp_path: Path) -> None:
    assert is_fat_image(efisys_image({"EFI/BOOT/BOOTX64.EFI": b"x"}))
    assert not is_fat_image(b"")
    assert not is_fat_image(bytes(4096))
    assert not is_fat_image(os.urandom(512))
    assert not is_fat_image(tmp_path / "missing")
    mkfs = str(Path(require_tool("fsck.vfat")).with_name("mkfs.vfat"))  # both from dosfstools
    other = tmp_path / "mkfs.img"
    subprocess.run([mkfs, "-C", str(other), "8192"], check=True, capture_output=True)
    assert is_fat_image(other)


def test_fat_boot_code_raw_and_template(tmp_path: Path) -> None:
    code = b"\xfa\xf4" + b"PEBUILD-CODE"
    data = make_fat_image({"a": b"1"}, size=40 << 20, fat_type=32, boot_code=code, timestamp=STAMP)
    assert data[0:3] == b"\xeb\x58\x90"  # jmp to offset 90, after the FAT32 BPB
    assert data[90 : 90 + len(code)] == code
    assert data[6 * 512 : 7 * 512] == data[:512]  # backup boot sector
    template = bytearray(3 * 512)
    template[0:3] = b"\xeb\x58\x90"
    template[90:100] = b"TEMPLATE!!"
    template[2 * 512 : 2 * 512 + 6] = b"STAGE2"
    out = make_fat_image({"a": b"1"}, size=40 << 20, fat_type=32, boot_code=bytes(template), timestamp=STAMP)
    assert out[90:100] == b"TEMPLATE!!" and out[1024:1030] == b"STAGE2"
    image = tmp_path / "t.img"
    image.write_bytes(out)
    _fsck(image)


@pytest.mark.parametrize(
    ("files", "kwargs", "message"),
    [
        ({"a.txt": b"1", "A.TXT": b"2"}, {}, "differ only in case"),
        ({"bad:name": b"1"}, {}, "not allowed"),
        ({"a": b"1", "a/b": b"2"}, {}, "file and a directory"),
        ({"big": b"x" * 3_000_000}, {}, "do not fit"),
        ({"a": b"1"}, {"fat_type": 32}, "FAT32"),
        ({"a": b"1"}, {"label": "MUCH TOO LONG A LABEL"}, "label"),
        ({f"f{i}.txt": b"" for i in range(300)}, {"fat_type": 12}, "root directory"),
    ],
)
def test_fat_bad_input(files: dict[str, bytes], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        make_fat_image(files, size=2 << 20, **kwargs)  # type: ignore[arg-type]


def test_fat_refuses_file_of_4_gib(tmp_path: Path) -> None:
    huge = tmp_path / "huge.wim"
    with open(huge, "wb") as fh:
        fh.truncate(1 << 32)  # sparse: costs no disk space
    with pytest.raises(UsageError, match="4 GiB"):
        write_fat_image(tmp_path / "x.img", {"sources/boot.wim": huge}, size=64 << 20, fat_type=32)
    assert not (tmp_path / "x.img").exists()
