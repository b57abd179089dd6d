"""The loader rules of log replay (S1 "Format of transaction log files", yarp), on made logs.

Each case starts from a clean hive A and a later state B of it; the primary file is A
marked dirty the way Windows leaves it (primary sequence number one ahead), and the
logs carry B's pages. Replay must give exactly B, a defined prefix of it, or refuse.
Old-format (DIRT) replays are also run through regipy's implementation.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest
from hive_check import hivex_values

from _helpers import require_tool
from pebuild.errors import FormatError
from pebuild.hive import Hive, LogFile, RegType, header_checksum, save_hive, serialize_hive
from pebuild.hive.log import marvin32, recover

SEQ = 41  # the clean hive A is at SEQ/SEQ; Windows then writes SEQ+1/SEQ into the primary


def _with_header(data: bytes, **fields: int) -> bytes:
    buf = bytearray(data)
    offsets = {"seq1": 4, "seq2": 8, "ftype": 28, "root": 36, "bins": 40}
    for name, value in fields.items():
        struct.pack_into("<I", buf, offsets[name], value & 0xFFFFFFFF)
    struct.pack_into("<I", buf, 508, header_checksum(bytes(buf[:512])))
    return bytes(buf)


def _state_a() -> bytes:
    hive = Hive.new("ROOT", minor=5)
    for i in range(40):
        key = hive.root.create(f"Group{i:02d}\\Key")
        key.set_value("Index", RegType.DWORD, i)
        key.set_value("Text", RegType.SZ, f"value {i} " * 20)
    return _with_header(serialize_hive(hive, "compact", timestamp=1_600_000_000), seq1=SEQ, seq2=SEQ)


def _patched_b(a: bytes) -> bytes:
    """B = A with inline DWORDs changed in place (no growth): a few dirty pages."""
    hive = Hive.parse(a)
    buf = bytearray(a)
    for i in (3, 17, 38):
        value = hive.root.open(f"Group{i:02d}\\Key").get_value("Index")
        assert value is not None and value.vk_offset is not None
        struct.pack_into("<I", buf, 4096 + value.vk_offset + 4 + 8, 1000 + i)
    return bytes(buf)


def _grown_b(a: bytes) -> bytes:
    hive = Hive.parse(a)
    for i in range(30):
        hive.root.create(f"Grown\\K{i:03d}").set_value("Blob", RegType.BINARY, bytes([i]) * 3000)
    return serialize_hive(hive, "preserve", timestamp=1_600_000_100)


def _dirty(a: bytes) -> bytes:
    return _with_header(a, seq1=SEQ + 1)


def _pages(a: bytes, b: bytes, size: int = 4096) -> list[tuple[int, bytes]]:
    """(offset in the bins, page of B) for every page where B differs from A (or A ends)."""
    bins_b = struct.unpack_from("<I", b, 40)[0]
    out = []
    for off in range(0, bins_b, size):
        page = b[4096 + off : 4096 + off + size]
        if a[4096 + off : 4096 + off + size] != page:
            out.append((off, page))
    return out


def _log_base(b: bytes, seq: int, ftype: int, timestamp: int | None = None) -> bytearray:
    block = bytearray(b[:512])
    struct.pack_into("<III", block, 4, seq, seq, 0)
    struct.pack_into("<I", block, 12, struct.unpack_from("<I", block, 12)[0])
    if timestamp is not None:
        struct.pack_into("<Q", block, 12, timestamp)
    struct.pack_into("<I", block, 28, ftype)
    struct.pack_into("<I", block, 508, header_checksum(bytes(block)))
    return block


def _entry(seq: int, bins_size: int, pages: list[tuple[int, bytes]], flags: int = 0) -> bytearray:
    refs = b"".join(struct.pack("<II", off, len(page)) for off, page in pages)
    body = refs + b"".join(page for _off, page in pages)
    size = -(-(40 + len(body)) // 512) * 512
    entry = bytearray(size)
    struct.pack_into("<4sIIIII", entry, 0, b"HvLE", size, flags, seq & 0xFFFFFFFF, bins_size, len(pages))
    entry[40 : 40 + len(body)] = body
    struct.pack_into("<Q", entry, 24, marvin32(bytes(entry[40:])))
    struct.pack_into("<Q", entry, 32, marvin32(bytes(entry[:32])))
    return entry


def _new_log(b: bytes, seq: int, entries: list[bytearray]) -> bytes:
    return bytes(_log_base(b, seq, 6)) + b"".join(bytes(e) for e in entries)


def _split(b_pages: list[tuple[int, bytes]]) -> tuple[list, list]:
    half = max(1, len(b_pages) // 2)
    return b_pages[:half], b_pages[half:]


def _bins(data: bytes) -> bytes:
    return data[4096 : 4096 + struct.unpack_from("<I", data, 40)[0]]


@pytest.fixture(scope="module")
def states() -> dict[str, bytes]:
    a = _state_a()
    return {"a": a, "b": _patched_b(a), "grown": _grown_b(a)}


# ------------------------------------------------------------------ new format (HvLE)
def test_entries_of_one_log_give_b(states: dict[str, bytes]) -> None:
    a, b = states["a"], states["b"]
    first, second = _split(_pages(a, b))
    bins = struct.unpack_from("<I", b, 40)[0]
    log = _new_log(b, SEQ, [_entry(SEQ, bins, first), _entry(SEQ + 1, bins, second)])
    data, replay = recover(_dirty(a), [LogFile("X.LOG1", log)])
    assert replay is not None and (replay.entries, replay.sequence) == (2, SEQ + 1)
    assert _bins(data) == _bins(b)
    assert struct.unpack_from("<II", data, 4) == (SEQ + 1, SEQ + 1)
    hive = Hive.parse(_dirty(a), logs={"X.LOG1": log})
    assert hive.root.open("Group17\\Key").get_value("Index").as_python() == 1017


@pytest.mark.parametrize("damage", ["page byte", "header flags", "sequence gap", "bins size", "page outside"])
def test_a_bad_entry_ends_recovery_after_the_good_ones(states: dict[str, bytes], damage: str) -> None:
    a, b = states["a"], states["b"]
    first, second = _split(_pages(a, b))
    bins = struct.unpack_from("<I", b, 40)[0]
    bad = _entry(SEQ + 1, bins, second)
    if damage == "page byte":
        bad[-1] ^= 0xFF  # torn write: Hash-1 no longer matches
    elif damage == "header flags":
        bad[8] ^= 1  # Hash-2 covers the header
    elif damage == "sequence gap":
        bad = _entry(SEQ + 2, bins, second)
    elif damage == "bins size":
        bad = _entry(SEQ + 1, bins + 512, second)
    else:
        bad = _entry(SEQ + 1, bins, [(bins, b"\0" * 4096)])
    log = _new_log(b, SEQ, [_entry(SEQ, bins, first), bad])
    data, replay = recover(_dirty(a), [LogFile("X.LOG1", log)])
    assert replay is not None and replay.entries == 1 and replay.sequence == SEQ
    assert any("recovery stops" in n for n in replay.notes)
    expected = bytearray(a)
    for off, page in first:
        expected[4096 + off : 4096 + off + len(page)] = page
    assert _bins(data) == _bins(bytes(expected))


@pytest.mark.parametrize("damage", ["checksum", "own seq", "first entry", "stale"])
def test_unusable_logs_leave_the_hive_dirty(states: dict[str, bytes], damage: str) -> None:
    a, b = states["a"], states["b"]
    bins = struct.unpack_from("<I", b, 40)[0]
    pages = _pages(a, b)
    log = bytearray(_new_log(b, SEQ, [_entry(SEQ, bins, pages)]))
    if damage == "checksum":
        log[100] ^= 1  # base block no longer matches its checksum
    elif damage == "own seq":
        struct.pack_into("<I", log, 8, SEQ - 1)
        struct.pack_into("<I", log, 508, header_checksum(bytes(log[:512])))
    elif damage == "first entry":
        log = bytearray(_new_log(b, SEQ, [_entry(SEQ + 1, bins, pages)]))
    else:
        log = bytearray(_new_log(b, SEQ - 3, [_entry(SEQ - 3, bins, pages)]))
    with pytest.raises(FormatError, match=r"hive is dirty .*nothing to replay"):
        Hive.parse(_dirty(a), logs={"X.LOG1": bytes(log)})
    assert Hive.parse(_dirty(a), logs={"X.LOG1": bytes(log)}, allow_dirty=True).read_only


@pytest.mark.parametrize("names", [("X.LOG1", "X.LOG2"), ("X.LOG2", "X.LOG1")])
def test_two_logs_in_sequence_order_whatever_their_names(states: dict[str, bytes], names: tuple) -> None:
    a, b = states["a"], states["b"]
    first, second = _split(_pages(a, b))
    bins = struct.unpack_from("<I", b, 40)[0]
    early = _new_log(b, SEQ, [_entry(SEQ, bins, first)])
    late = _new_log(b, SEQ + 1, [_entry(SEQ + 1, bins, second)])
    data, replay = recover(_dirty(a), [LogFile(names[1], late), LogFile(names[0], early)])
    assert replay is not None and replay.applied == list(names) and replay.entries == 2
    assert _bins(data) == _bins(b)


def test_second_log_must_continue_the_sequence(states: dict[str, bytes]) -> None:
    a, b = states["a"], states["b"]
    first, second = _split(_pages(a, b))
    bins = struct.unpack_from("<I", b, 40)[0]
    early = _new_log(b, SEQ, [_entry(SEQ, bins, first)])
    later = _new_log(b, SEQ + 5, [_entry(SEQ + 5, bins, second)])
    _data, replay = recover(_dirty(a), [LogFile("X.LOG1", early), LogFile("X.LOG2", later)])
    assert replay is not None and replay.applied == ["X.LOG1"] and replay.sequence == SEQ


def test_stale_first_log_then_the_second(states: dict[str, bytes]) -> None:
    a, b = states["a"], states["b"]
    bins = struct.unpack_from("<I", b, 40)[0]
    stale = _new_log(b, SEQ - 10, [_entry(SEQ - 10, bins, [(0, b"\xee" * 4096)])])
    good = _new_log(b, SEQ, [_entry(SEQ, bins, _pages(a, b))])
    data, replay = recover(_dirty(a), [LogFile("X.LOG1", stale), LogFile("X.LOG2", good)])
    assert replay is not None and replay.applied == ["X.LOG2"]
    assert _bins(data) == _bins(b)


def test_invalid_primary_base_block_uses_only_the_newest_log(states: dict[str, bytes]) -> None:
    a, b = states["a"], states["b"]
    first, second = _split(_pages(a, b))
    bins = struct.unpack_from("<I", b, 40)[0]
    primary = bytearray(_dirty(a))
    primary[508] ^= 0xFF  # wrong checksum: the base block cannot be trusted
    early = _new_log(b, SEQ, [_entry(SEQ, bins, first)])
    late = _new_log(b, SEQ + 1, [_entry(SEQ + 1, bins, second)])
    data, replay = recover(bytes(primary), [LogFile("X.LOG1", early), LogFile("X.LOG2", late)])
    assert replay is not None and replay.applied == ["X.LOG2"] and replay.sequence == SEQ + 1
    expected = bytearray(a)
    for off, page in second:
        expected[4096 + off : 4096 + off + len(page)] = page
    assert _bins(data) == _bins(bytes(expected))
    Hive.parse(data)  # the base block came from the log and is valid now


def test_the_file_grows_with_the_entry(states: dict[str, bytes]) -> None:
    a, grown = states["a"], states["grown"]
    bins = struct.unpack_from("<I", grown, 40)[0]
    assert bins > struct.unpack_from("<I", a, 40)[0]
    log = _new_log(grown, SEQ, [_entry(SEQ, bins, _pages(a, grown))])
    hive = Hive.parse(_dirty(a), logs={"a.LOG1": log})
    assert hive._image is not None and _bins(hive._image.data) == _bins(grown)
    assert len(hive.root.open("Grown").subkeys) == 30


def test_sequence_numbers_wrap_around(states: dict[str, bytes]) -> None:
    a, b = states["a"], states["b"]
    first, second = _split(_pages(a, b))
    bins = struct.unpack_from("<I", b, 40)[0]
    top = 0xFFFFFFFF
    primary = _with_header(a, seq1=0, seq2=top)
    early = _new_log(b, top, [_entry(top, bins, first)])
    late = _new_log(b, 0, [_entry(0, bins, second)])
    data, replay = recover(primary, [LogFile("X.LOG2", late), LogFile("X.LOG1", early)])
    assert replay is not None and replay.applied == ["X.LOG1", "X.LOG2"] and replay.sequence == 0
    assert _bins(data) == _bins(b)


def test_clean_hive_ignores_its_logs(states: dict[str, bytes]) -> None:
    a, b = states["a"], states["b"]
    bins = struct.unpack_from("<I", b, 40)[0]
    log = _new_log(b, SEQ, [_entry(SEQ, bins, _pages(a, b))])
    data, replay = recover(a, [LogFile("X.LOG1", log)])
    assert replay is None and data == a


# ------------------------------------------------------------------ old format (DIRT)
def _old_log(a: bytes, b: bytes, *, timestamp: int | None = None, ftype: int = 1) -> bytes:
    bins = struct.unpack_from("<I", b, 40)[0]
    stamp = struct.unpack_from("<Q", a, 12)[0] if timestamp is None else timestamp
    base = _log_base(b, SEQ + 1, ftype, stamp)
    bitmap = bytearray(bins // 4096)
    pages = _pages(a, b, 512)
    for off, _page in pages:
        bitmap[off // 512 // 8] |= 1 << (off // 512 % 8)
    vector = b"DIRT" + bytes(bitmap)
    vector += bytes(-len(vector) % 512)
    return bytes(base) + vector + b"".join(page for _off, page in pages)


def test_old_format_log_gives_b_as_regipy_does(states: dict[str, bytes], tmp_path: Path) -> None:
    from regipy.recovery import apply_transaction_logs

    a, b = states["a"], states["b"]
    log = _old_log(a, b)
    data, replay = recover(_dirty(a), [LogFile("X.LOG", log)])
    assert replay is not None and replay.format == "old" and replay.pages == len(_pages(a, b, 512))
    assert _bins(data) == _bins(b)
    (tmp_path / "X").write_bytes(_dirty(a))
    (tmp_path / "X.LOG").write_bytes(log)
    logging.disable(logging.CRITICAL)
    try:
        restored, pages = apply_transaction_logs(
            str(tmp_path / "X"), str(tmp_path / "X.LOG"), restored_hive_path=str(tmp_path / "r")
        )
    finally:
        logging.disable(logging.NOTSET)
    assert pages == replay.pages
    assert _bins(Path(restored).read_bytes()) == _bins(data)


def test_old_format_log_with_another_timestamp_is_not_applied(states: dict[str, bytes]) -> None:
    a, b = states["a"], states["b"]
    log = _old_log(a, b, timestamp=123)
    with pytest.raises(FormatError, match="timestamp"):
        Hive.parse(_dirty(a), logs={"X.LOG1": log})


def test_torn_old_format_log_is_not_applied(states: dict[str, bytes]) -> None:
    a, b = states["a"], states["b"]
    log = _old_log(a, b)[:-100]
    with pytest.raises(FormatError, match="torn"):
        Hive.parse(_dirty(a), logs={"X.LOG1": log})


def test_old_format_second_log_when_the_first_is_unusable(states: dict[str, bytes]) -> None:
    a, b = states["a"], states["b"]
    broken = bytearray(_old_log(a, b))
    broken[200] ^= 1  # bad base block checksum
    newer = _old_log(a, b, timestamp=struct.unpack_from("<Q", a, 12)[0] + 10)
    data, replay = recover(_dirty(a), [LogFile("X.LOG1", bytes(broken)), LogFile("X.LOG2", newer)])
    assert replay is not None and replay.applied == ["X.LOG2"]
    assert _bins(data) == _bins(b)


def test_old_format_page_that_breaks_a_bin_is_not_applied(states: dict[str, bytes]) -> None:
    a = states["a"]
    b = bytearray(a)
    b[4096 + 4096 : 4096 + 4096 + 4] = b"XXXX"  # the second bin's signature
    b[4096 + 4096 + 100] ^= 1
    with pytest.raises(FormatError, match="invalid hive bin"):
        Hive.parse(_dirty(a), logs={"X.LOG1": _old_log(a, bytes(b))})


def test_replayed_hive_saves_clean(states: dict[str, bytes], tmp_path: Path) -> None:
    require_tool("hivexregedit")
    a, b = states["a"], states["b"]
    (tmp_path / "H").write_bytes(_dirty(a))
    (tmp_path / "h.log1").write_bytes(_old_log(a, b))
    hive = Hive.open(tmp_path / "H")
    assert hive.replay is not None and hive.replay.applied == ["h.log1"]
    save_hive(hive, tmp_path / "H", mode="preserve", timestamp=0)
    assert (tmp_path / "h.log1").stat().st_size == 0
    again = Hive.open(tmp_path / "H")
    assert again.replay is None and struct.unpack_from("<II", (tmp_path / "H").read_bytes(), 4) == (
        SEQ + 2,
        SEQ + 2,
    )
    assert again.root.open("Group38\\Key").get_value("Index").as_python() == 1038
    seen = hivex_values(tmp_path / "H")  # hivex: the replayed state b, written clean, without its log
    assert seen["Group38\\Key"]["Index"] == (RegType.DWORD, (1038).to_bytes(4, "little"))
    assert seen == hivex_values(_write(tmp_path / "b", b))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
