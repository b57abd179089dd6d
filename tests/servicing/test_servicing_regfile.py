"""The .reg parser/writer against a committed corpus (tests/servicing/data/reg, see README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pebuild.errors import FormatError
from pebuild.servicing.regfile import (
    REG_BINARY,
    REG_DWORD,
    REG_EXPAND_SZ,
    REG_MULTI_SZ,
    REG_QWORD,
    REG_SZ,
    RegFile,
    parse_reg,
    read_reg,
    serialize_reg,
)

DATA = Path(__file__).parent / "data" / "reg"


def u16z(text: str) -> bytes:
    return (text + "\0").encode("utf-16-le")


def values_of(reg: RegFile, key_suffix: str) -> dict[str, tuple[int | None, bytes]]:
    key = next(k for k in reg.keys if k.path.endswith(key_suffix))
    return {v.name: (v.type, v.data) for v in key.values}


def test_v5_utf16_export_as_regedit_writes_it() -> None:
    raw = (DATA / "valid" / "v5_regedit_export.reg").read_bytes()
    assert raw[:2] == b"\xff\xfe"  # the fixture really is UTF-16LE with BOM
    reg = read_reg(DATA / "valid" / "v5_regedit_export.reg")
    assert reg.version == 5
    vals = values_of(reg, "Pebuild\\Export")
    assert vals[""] == (REG_SZ, u16z("default value"))
    assert vals["Path"] == (REG_SZ, u16z('C:\\Program Files\\Tool "quoted"'))
    assert vals["Count"] == (REG_DWORD, (42).to_bytes(4, "little"))
    assert vals["Big"] == (REG_QWORD, (0x0123456789ABCDEF).to_bytes(8, "little"))
    assert vals["Expand"] == (REG_EXPAND_SZ, u16z("%SystemRoot%\\tool"))
    assert vals["Multi"] == (REG_MULTI_SZ, "one\0two\0\0".encode("utf-16-le"))
    assert vals["Blob"] == (REG_BINARY, bytes.fromhex("deadbeef"))
    assert vals["Empty"] == (REG_BINARY, b"")
    assert values_of(reg, "Sub Key")["Unicode"] == (REG_SZ, u16z("Grüße €"))


def test_regedit4_ansi_payloads_become_utf16() -> None:
    reg = read_reg(DATA / "valid" / "regedit4_ansi.reg")
    assert reg.version == 4
    vals = values_of(reg, "Legacy")
    assert vals["Expand"] == (REG_EXPAND_SZ, u16z("%SystemRoot%"))
    assert vals["Multi"] == (REG_MULTI_SZ, "a\0b\0\0".encode("utf-16-le"))
    assert vals["Caf"] == (REG_SZ, u16z("café"))
    assert values_of(reg, "FBWF")["WinPECacheThreshold"] == (REG_DWORD, (512).to_bytes(4, "little"))


def test_deletions_and_arbitrary_types() -> None:
    reg = read_reg(DATA / "valid" / "deletions_and_types.reg")
    assert reg.keys[0].delete and reg.keys[0].path == "HKEY_LOCAL_MACHINE\\SOFTWARE\\Pebuild\\Doomed"
    vals = values_of(reg, "Types")
    assert vals["Removed"] == (None, b"") and vals[""] == (None, b"")
    assert vals["None"] == (0, b"")
    assert vals["BigEndian"] == (5, b"\0\0\0\1")
    assert vals["Custom"] == (0x100000, b"\1\2")
    assert vals["DwordMax"] == (REG_DWORD, b"\xff\xff\xff\xff")
    assert vals["Short"] == (REG_DWORD, b"\1\0\0\0")
    assert reg.keys[2].path == "HKEY_CURRENT_USER\\Console"


def test_continuations_comments_and_spacing() -> None:
    reg = read_reg(DATA / "valid" / "utf8_continuations.reg")
    vals = values_of(reg, "Wrapped")
    assert vals["Long"] == (REG_BINARY, bytes(range(0x21)))
    assert vals["Indented"] == (REG_SZ, u16z("spaces around ="))
    assert vals["Semicolon"] == (REG_SZ, u16z("a;b"))


@pytest.mark.parametrize("name", sorted(p.name for p in (DATA / "valid").glob("*.reg")))
def test_round_trip_through_writer(name: str) -> None:
    reg = read_reg(DATA / "valid" / name)
    again = parse_reg(serialize_reg(reg))
    assert again.version == reg.version
    assert again.keys == reg.keys


def test_writer_wraps_long_hex_like_regedit() -> None:
    reg = read_reg(DATA / "valid" / "utf8_continuations.reg")
    text = serialize_reg(RegFile(version=5, keys=reg.keys)).decode("utf-16-le")
    assert text.startswith("\ufeffWindows Registry Editor Version 5.00\r\n")
    assert all(len(line) <= 80 for line in text.split("\r\n"))
    assert '"Long"=hex:00,01,' in text and text.count("\\\r\n  ") >= 1


MALFORMED = {
    "bad_header.reg": (1, "first line must be"),
    "dword_too_long.reg": (4, "bad dword"),
    "bad_hex_byte.reg": (4, "bad hex byte '2g'"),
    "unclosed_key.reg": (3, "must end with ']'"),
    "unterminated_string.reg": (4, "unterminated string"),
    "value_before_key.reg": (3, "before any [KEY]"),
    "bad_escape.reg": (4, "unknown escape '\\W'"),
    "bad_hex_type.reg": (4, "bad hex type"),
    "unknown_data.reg": (4, "unknown value data"),
    "continuation_at_eof.reg": (4, "at end of file"),
    "unquoted_name.reg": (4, "must start with"),
    "value_under_delete.reg": (4, "under a key deletion"),
    "empty_key_component.reg": (3, "invalid key path"),
    "empty.reg": (1, "empty file"),
    "missing_equals.reg": (4, "expected '='"),
}


def test_corpus_lists_every_malformed_file() -> None:
    assert sorted(p.name for p in (DATA / "malformed").glob("*.reg")) == sorted(MALFORMED)


@pytest.mark.parametrize(("name", "expected"), sorted(MALFORMED.items()))
def test_malformed_gives_one_line_error_with_line(name: str, expected: tuple[int, str]) -> None:
    line, fragment = expected
    path = DATA / "malformed" / name
    with pytest.raises(FormatError) as info:
        read_reg(path)
    message = str(info.value)
    assert "\n" not in message
    assert f"{path}:{line}: " in message, message
    assert fragment in message, message
