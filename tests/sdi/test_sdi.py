"""boot.sdi: Microsoft's header layout field by field (formats.md §3), NTFS checked by ntfs-3g's tools."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from _helpers import assert_one_line_error, require_tool
from pebuild.errors import FormatError, ToolError
from pebuild.sdi import create_sdi, parse_sdi, parse_size

# Observed in Microsoft's boot.sdi (formats.md §3.1-3.3, D0): these numbers come from that file.
MS_SIZE = 3_170_304
MS_CHECKSUM = 0x39
MS_PART = (b"PART", 0x2000, 0x303C00, 7)
MS_WIM = (b"WIM", 0x306000, 0)


@pytest.fixture(scope="module")
def sdi() -> bytes:
    require_tool("mkntfs")
    return create_sdi(timestamp=1_700_000_000)


def test_header_fields_match_microsoft(sdi: bytes) -> None:
    assert len(sdi) == MS_SIZE
    assert sdi[0:8] == b"$SDI0001"
    assert struct.unpack_from("<Q", sdi, 0x70)[0] == 2  # page alignment: 8 KiB
    assert sdi[0x1F8] == MS_CHECKSUM
    assert sum(sdi[:512]) % 256 == 0
    nonzero = [i for i in range(512) if sdi[i]]
    assert nonzero == [*range(8), 0x70, 0x1F8]  # everything else in the header is zero, as in D0
    kind, attrs, offset, size, base = struct.unpack_from("<8sQQQQ", sdi, 0x400)
    assert (kind.rstrip(b"\0"), offset, size, base) == MS_PART and attrs == 0
    kind, attrs, offset, size, base = struct.unpack_from("<8sQQQQ", sdi, 0x440)
    assert (kind.rstrip(b"\0"), offset, size) == MS_WIM and attrs == 0 and base == 0
    assert not any(sdi[0x480:0x2000])  # terminator entry and padding
    assert not any(sdi[0x305C00:0x306000])  # 1 KiB tail padding before the WIM placeholder


def test_ntfs_volume_seen_by_ntfs_3g(sdi: bytes, tmp_path: Path) -> None:
    require_tool("mkntfs")
    part = tmp_path / "part.ntfs"
    part.write_bytes(sdi[0x2000 : 0x2000 + 0x303C00])
    label = subprocess.run(
        ["ntfslabel", str(part)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert label == "Boot"
    info = subprocess.run(["ntfsinfo", "-m", str(part)], capture_output=True, text=True, check=True).stdout
    assert "Cluster Size: 512" in info and "Volume Size in Clusters: 6173" in info
    boot = sdi[0x2000 : 0x2000 + 512]
    assert struct.unpack_from("<HBH", boot, 0x0B)[:2] == (512, 1)
    assert struct.unpack_from("<HHI", boot, 0x18) == (2, 16, 2)  # sectors/track, heads, hidden (D0)


def test_output_is_reproducible_and_serial_follows_the_clock(sdi: bytes) -> None:
    assert create_sdi(timestamp=1_700_000_000) == sdi
    other = create_sdi(timestamp=1_700_000_001)
    differing = [i for i in range(len(sdi)) if sdi[i] != other[i]]
    backup = 0x2000 + 6173 * 512
    assert differing and all(0x2048 <= i < 0x2050 or backup + 0x48 <= i < backup + 0x50 for i in differing)


def test_parse_sdi_reads_what_we_write(sdi: bytes) -> None:
    info = parse_sdi(sdi)
    assert info.checksum_ok and info.page_alignment == 2
    assert [(b.type, b.offset, b.size, b.base_address) for b in info.blobs] == [
        ("PART", 0x2000, 0x303C00, 7),
        ("WIM", 0x306000, 0, 0),
    ]
    assert info.ntfs is not None and info.ntfs.total_sectors == 6173 and info.ntfs.hidden_sectors == 2


def test_other_sizes_round_to_8k(tmp_path: Path) -> None:
    require_tool("mkntfs")
    data = create_sdi(size=parse_size("4M") + 1, timestamp=0)
    assert len(data) == 4 * 1024 * 1024 + 8192
    assert parse_sdi(data).blobs[0].size == len(data) - 0x2000 - 0x400


def test_parse_errors() -> None:
    with pytest.raises(FormatError):
        parse_sdi(b"MZ" + bytes(4000))
    header = bytearray(create_header_only())
    struct.pack_into("<Q", header, 0x418, 1 << 40)  # PART size past the end
    with pytest.raises(FormatError, match="past the end"):
        parse_sdi(bytes(header))


def create_header_only() -> bytes:
    from pebuild.sdi import build_header

    return build_header(MS_SIZE, 0x303C00)


def test_missing_mkntfs_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import pebuild.sdi

    monkeypatch.setattr(pebuild.sdi.shutil, "which", lambda *a, **k: None)
    with pytest.raises(ToolError, match="ntfs-3g"):
        create_sdi()


def test_cli_create_and_info(run_pebuild, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require_tool("mkntfs")
    out = tmp_path / "boot.sdi"
    run_pebuild("sdi", "create", str(out), env={"SOURCE_DATE_EPOCH": "1700000000"}, check=True)
    assert out.read_bytes() == create_sdi(timestamp=1_700_000_000)
    text = run_pebuild("sdi", "info", str(out), check=True).stdout
    assert "blob PART" in text and "checksum        0x39 (ok)" in text
    assert '"type": "WIM"' in run_pebuild("sdi", "info", str(out), "--json", check=True).stdout
    bad = tmp_path / "bad.sdi"
    bad.write_bytes(b"not an sdi")
    assert_one_line_error(run_pebuild("sdi", "info", str(bad)), 5)
    assert_one_line_error(run_pebuild("sdi", "create", str(tmp_path / "x.sdi"), "--size", "lots"), 2)
