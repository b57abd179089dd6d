"""pebuild.fat.reader checked against mtools (mdir, mcopy, mshortname) on images pebuild and mkfs.fat write.

Hostile images (cut short, chains that loop, run into free clusters or past the last
cluster, directories reached twice, random damage) must give FormatError, never a
traceback or a hang.
"""

from __future__ import annotations

import io
import itertools
import os
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import format_error_line, require_tool
from pebuild.errors import FormatError, UsageError
from pebuild.fat import make_fat_image
from pebuild.fat.reader import FatVolume

UTF8 = {**os.environ, "LC_ALL": "C.UTF-8"}
#: (FAT type, mkfs.fat size in KiB): FAT12 floppy-ish, FAT16, FAT32 (>= 65525 clusters at 512-byte clusters)
MKFS_SIZES = [(12, 2000), (16, 20_000), (32, 40_000)]
NAMES = [
    "A long file name.txt",
    "Ünïcödé ファイル.txt",
    "bootx64.efi",  # lower-case 8.3: mtools writes NT case bits, no long name
    "Readme.TXT",  # mixed case: a long name
    "exactly13.chr",  # 13 UTF-16 units: the long name fills its entry with no NUL after it
    "x" * 200 + ".bin",
]


def _mtools(*args: str) -> str:
    require_tool("mdir")  # mtools
    proc = subprocess.run(list(args), capture_output=True, text=True, env=UTF8, check=True)
    return proc.stdout


def _mshortname(image: Path, path: str) -> str:
    """mtools' short path for `path`, its bytes read as code page 437 (the reader's choice; mtools uses 850)."""
    require_tool("mdir")  # mtools
    proc = subprocess.run(
        ["mshortname", "-i", str(image), f"::/{path}"], capture_output=True, env=UTF8, check=True
    )
    return proc.stdout.strip().decode("cp437").removeprefix("::/")


def _mdir_files(image: Path) -> set[str]:
    """File paths (no directories) as `mdir -/ -b` lists them."""
    out = _mtools("mdir", "-/", "-b", "-i", str(image), "::")
    return {line[3:] for line in out.splitlines() if line.startswith("::/") and not line.endswith("/")}


def _mcopy_all(image: Path, dest: Path) -> dict[str, bytes]:
    dest.mkdir()
    _mtools("mcopy", "-s", "-n", "-i", str(image), "::/*", str(dest))
    return {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}


def _walk(fat: FatVolume) -> dict[str, bytes]:
    return {path: fat.read(*extent) for path, extent in fat.files().items()}


def _mkfs(tmp: Path, kind: int, kib: int) -> Path:
    mkfs = str(Path(require_tool("fsck.vfat")).with_name("mkfs.fat"))  # dosfstools
    image = tmp / f"mkfs{kind}.img"
    subprocess.run(
        [mkfs, "-C", "-F", str(kind), "-n", "OTHERTOOL", str(image), str(kib)],
        check=True,
        capture_output=True,
    )
    return image


def _fill_with_mtools(image: Path, tmp: Path) -> dict[str, bytes]:
    """Long, Unicode and NT-case names, nested directories, an empty file, a fragmented and a deleted file."""
    src = tmp / "src"
    src.mkdir()
    content = {name: os.urandom(1000 + 37 * i) for i, name in enumerate(NAMES)}
    content["empty"] = b""
    for name, data in content.items():
        (src / name).write_bytes(data)
    img = ["-i", str(image)]
    _mtools("mmd", *img, "::/EFI", "::/EFI/BOOT", "::/Deep dir", "::/Deep dir/level two", "::/empty dir")
    _mtools("mcopy", *img, *[str(src / n) for n in content], "::/Deep dir/level two/")
    (src / "gap").write_bytes(os.urandom(9000))
    (src / "fragmented.bin").write_bytes(os.urandom(300_000))
    _mtools("mcopy", *img, str(src / "gap"), str(src / "bootx64.efi"), "::/EFI/BOOT/")
    _mtools("mdel", *img, "::/EFI/BOOT/gap")  # a deleted entry, and free clusters the next file fills first
    with open(image, "r+b") as fh:  # FAT32: forget FSInfo's next-free hint, so mtools fills the gap too
        if fh.read(512)[82:87] == b"FAT32":
            fh.seek(512 + 488)
            fh.write(struct.pack("<II", 0xFFFFFFFF, 0xFFFFFFFF))
    _mtools("mcopy", *img, str(src / "fragmented.bin"), "::/")
    expected = {f"Deep dir/level two/{n}": d for n, d in content.items()}
    expected["EFI/BOOT/bootx64.efi"] = content["bootx64.efi"]
    expected["fragmented.bin"] = (src / "fragmented.bin").read_bytes()
    return expected


@pytest.mark.parametrize(("kind", "size"), [(12, 1_474_560), (16, 24 << 20), (32, 40 << 20)])
def test_reader_reads_what_pebuild_writes_as_mtools_does(tmp_path: Path, kind: int, size: int) -> None:
    files = {
        "EFI/BOOT/BOOTX64.EFI": os.urandom(5000),
        "EFI/Microsoft/Boot/Fonts/wgl4_boot.ttf": os.urandom(70_000),
        "sources/A Long Mixed-Case Name v2.exe": b"MZ tool",
        "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/deep.txt": b"deeper than sixteen levels",
        "empty.txt": b"",
        "empty dir/": b"",
    }
    image = tmp_path / "pebuild.img"
    image.write_bytes(make_fat_image(files, size=size, fat_type=kind))
    with open(image, "rb") as fh:
        fat = FatVolume(fh)
        assert fat.fat_type == kind
        ours = _walk(fat)
        assert fat.listdir("empty dir") == []
        assert fat.read_file("/efi/boot/bootx64.efi") == files["EFI/BOOT/BOOTX64.EFI"]
    assert set(ours) == _mdir_files(image)
    assert ours == _mcopy_all(image, tmp_path / "mcopy")
    assert ours == {k: v for k, v in files.items() if not k.endswith("/")}


@pytest.mark.parametrize(("kind", "kib"), MKFS_SIZES)
def test_reader_reads_mkfs_fat_and_mcopy_images(tmp_path: Path, kind: int, kib: int) -> None:
    image = _mkfs(tmp_path, kind, kib)
    expected = _fill_with_mtools(image, tmp_path)
    with open(image, "rb") as fh:
        fat = FatVolume(fh)
        assert fat.fat_type == kind
        ours = _walk(fat)
        root = {e.name for e in fat.listdir("")}
        assert "OTHERTOOL" not in root and "gap" not in {e.name for e in fat.listdir("EFI/BOOT")}
        for path in expected:  # every short alias is mtools' own
            entry = fat.find(path)
            assert entry is not None
            parent = path.rpartition("/")[0]
            short = _mshortname(image, path)
            assert short.rsplit("/", 1)[-1] == entry.short_name, path
            assert fat.read_file(short) == expected[path]  # found by its short path too
            assert (
                fat.find(parent.upper() + "/" + path.rpartition("/")[2].upper()) == entry
            )  # case-insensitive
    assert ours == expected
    assert set(ours) == _mdir_files(image)
    assert ours == _mcopy_all(image, tmp_path / "mcopy")
    # the fragmented file's chain really is in pieces
    with open(image, "rb") as fh:
        fat = FatVolume(fh)
        chain, _ = fat.chain(fat.files()["fragmented.bin"].first_cluster)
    assert any(b != a + 1 for a, b in itertools.pairwise(chain))


def test_missing_paths_are_usage_errors(tmp_path: Path) -> None:
    fat = FatVolume(io.BytesIO(make_fat_image({"a/b.txt": b"x"}, size=1_474_560)), name="vol.img")
    assert fat.find("a/nope") is None and fat.find("a/b.txt/c") is None
    with pytest.raises(UsageError, match=r"^vol.img: no file 'a/nope'"):
        fat.read_file("a/nope")
    with pytest.raises(UsageError, match=r"no directory 'a/b\.txt'"):
        fat.listdir("a/b.txt")


# ----------------------------------------------------------------------------- hostile images


class _Layout:
    """Where things are in a FAT image, from its BPB (computed here, not by the reader)."""

    def __init__(self, data: bytes | bytearray) -> None:
        bps, spc, reserved, fats, root_entries, _total16, _media, fat16 = struct.unpack_from(
            "<HBHBHHBH", data, 11
        )
        fat32 = struct.unpack_from("<I", data, 36)[0]
        self.bps, self.spc = bps, spc
        self.fat_size = (fat16 or fat32) * bps
        self.fat = reserved * bps
        self.fats = fats
        self.root = (reserved + fats * (fat16 or fat32)) * bps
        root_bytes = (root_entries * 32 + bps - 1) // bps * bps
        self.data = self.root + root_bytes
        self.kind = 32 if fat16 == 0 else (12 if data[54:59] == b"FAT12" else 16)

    def set_next(self, image: bytearray, cluster: int, value: int) -> None:
        for copy in range(self.fats):
            base = self.fat + copy * self.fat_size
            if self.kind == 32:
                struct.pack_into("<I", image, base + cluster * 4, value)
            elif self.kind == 16:
                struct.pack_into("<H", image, base + cluster * 2, value)
            else:
                pos = base + cluster * 3 // 2
                (pair,) = struct.unpack_from("<H", image, pos)
                pair = (pair & 0x000F) | (value << 4) if cluster & 1 else (pair & 0xF000) | value
                struct.pack_into("<H", image, pos, pair)

    def cluster_offset(self, cluster: int) -> int:
        return self.data + (cluster - 2) * self.spc * self.bps


def _entry_offset(image: bytes | bytearray, short11: bytes) -> int:
    pos = bytes(image).find(short11)
    assert pos > 0 and pos % 32 == 0
    return pos


def _first_cluster(image: bytes | bytearray, entry: int) -> int:
    return (
        struct.unpack_from("<H", image, entry + 26)[0] | struct.unpack_from("<H", image, entry + 20)[0] << 16
    )


def _damaged(image: bytes | bytearray) -> str:
    return format_error_line(lambda: _walk(FatVolume(io.BytesIO(bytes(image)), name="bad.img")), "bad.img")


@pytest.fixture(params=[12, 32], ids=["fat12", "fat32"])
def sample(request: pytest.FixtureRequest) -> bytearray:
    kind = request.param
    files = {"DIR/BIG.BIN": os.urandom(20_000), "DIR/SUB/SMALL.TXT": b"small", "TOP.TXT": b"top"}
    return bytearray(make_fat_image(files, size=1_474_560 if kind == 12 else 40 << 20, fat_type=kind))


def test_a_cyclic_file_chain_is_a_format_error(sample: bytearray) -> None:
    lay = _Layout(sample)
    entry = _entry_offset(sample, b"BIG     BIN")
    first = _first_cluster(sample, entry)
    chain, _ = FatVolume(io.BytesIO(bytes(sample))).chain(first)
    lay.set_next(sample, chain[-1], first)
    assert "loops back to cluster" in (_damaged(sample))


def test_a_cyclic_directory_chain_is_a_format_error(sample: bytearray) -> None:
    lay = _Layout(sample)
    first = _first_cluster(sample, _entry_offset(sample, b"SUB        "))
    lay.set_next(sample, first, first)  # the directory's one cluster points to itself
    assert "loops back" in (_damaged(sample))


@pytest.mark.parametrize("target", ["root", "parent", "itself"])
def test_a_directory_reached_twice_is_a_format_error_not_a_hang(sample: bytearray, target: str) -> None:
    """SUB made to point at the root (FAT12: cluster 0, which only '..' may), at its parent, or twinned."""
    lay = _Layout(sample)
    sub = _entry_offset(sample, b"SUB        ")
    if target == "itself":  # a second directory entry naming SUB's cluster, in BIG.BIN's place
        big = _entry_offset(sample, b"BIG     BIN")
        sample[big : big + 32] = b"TWIN       " + sample[sub + 11 : sub + 32]
    else:
        dir_cluster = _first_cluster(sample, _entry_offset(sample, b"DIR        "))
        root = struct.unpack_from("<I", sample, 44)[0] if lay.kind == 32 else 0
        point = root if target == "root" else dir_cluster
        struct.pack_into("<H", sample, sub + 20, point >> 16)
        struct.pack_into("<H", sample, sub + 26, point & 0xFFFF)
    expected = "free cluster" if target == "root" and lay.kind != 32 else "already read"
    assert expected in (_damaged(sample))


@pytest.mark.parametrize(
    ("value", "message"), [("free", "free cluster"), ("bad", "marked bad"), ("past the end", "outside 2..")]
)
def test_a_chain_into_free_bad_or_missing_clusters_is_a_format_error(
    sample: bytearray, value: str, message: str
) -> None:
    lay = _Layout(sample)
    first = _first_cluster(sample, _entry_offset(sample, b"BIG     BIN"))
    values = {
        "free": 0,
        "bad": {12: 0xFF7, 16: 0xFFF7, 32: 0x0FFFFFF7}[lay.kind],
        "past the end": {12: 0xF00, 16: 0xFF00, 32: 0x0FFFFF00}[lay.kind],
    }
    lay.set_next(sample, first, values[value])
    assert message in (_damaged(sample))


def test_an_entry_pointing_past_the_last_cluster_is_a_format_error(sample: bytearray) -> None:
    entry = _entry_offset(sample, b"TOP     TXT")
    struct.pack_into("<H", sample, entry + 20, 0x0FFF)  # FAT32's high half (FAT12 ignores it)
    struct.pack_into("<H", sample, entry + 26, 0xFFF0)
    assert "outside 2.." in (_damaged(sample))


def test_a_file_longer_than_its_chain_is_a_format_error(sample: bytearray) -> None:
    entry = _entry_offset(sample, b"BIG     BIN")
    struct.pack_into("<I", sample, entry + 28, 0xFFFF_0000)  # ~4 GiB claimed, 20 kB of clusters
    assert "needed" in (_damaged(sample))


def test_a_fat_too_small_for_its_clusters_is_a_format_error(sample: bytearray) -> None:
    lay = _Layout(sample)
    if lay.kind == 32:
        struct.pack_into("<I", sample, 36, 1)
    else:
        struct.pack_into("<H", sample, 22, 1)
    with pytest.raises(FormatError, match="cannot map"):
        FatVolume(io.BytesIO(bytes(sample)))


def test_not_a_fat_volume_and_cut_short_images() -> None:
    for junk in (b"", bytes(4096), os.urandom(512)):
        with pytest.raises(FormatError, match=r"not a FAT file system|truncated"):
            FatVolume(io.BytesIO(junk), name="junk")
    whole = make_fat_image({"F.BIN": os.urandom(100_000)}, size=40 << 20, fat_type=32)
    lay = _Layout(whole)
    f_cluster = _first_cluster(whole, _entry_offset(whole, b"F       BIN"))
    for cut in (lay.fat + 100, lay.cluster_offset(2) + 10, lay.cluster_offset(f_cluster) + 50_000):
        assert "truncated" in (_damaged(whole[:cut]))


_FUZZ_BASE = make_fat_image(
    {
        "EFI/BOOT/BOOTX64.EFI": os.urandom(3000),
        "EFI/Microsoft/Boot/A long name.bin": b"x" * 700,
        "T.TXT": b"t",
    },
    size=1_474_560,
    fat_type=12,
)
_FUZZ_LAYOUT = _Layout(_FUZZ_BASE)
#: boot sector, the first FAT's first sector, the root directory's first sector, EFI/'s cluster
_FUZZ_REGIONS = (
    0,
    _FUZZ_LAYOUT.fat,
    _FUZZ_LAYOUT.root,
    _FUZZ_LAYOUT.cluster_offset(_first_cluster(_FUZZ_BASE, _entry_offset(_FUZZ_BASE, b"EFI        "))),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(_FUZZ_REGIONS), st.integers(0, 511), st.integers(0, 255)), max_size=12)
)
def test_random_damage_gives_format_errors_only(damage: list[tuple[int, int, int]]) -> None:
    """Bytes of the boot sector, the FAT, the root directory and a subdirectory overwritten at random."""
    image = bytearray(_FUZZ_BASE)
    for region, pos, value in damage:
        image[region + pos] = value
    try:
        fat = FatVolume(io.BytesIO(bytes(image)))
        _walk(fat)
        for entry in fat.listdir(""):
            fat.find(entry.name)
    except (FormatError, UsageError) as exc:
        assert "\n" not in str(exc)
