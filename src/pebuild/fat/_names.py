"""FAT directory names: 8.3 short names, VFAT long-name (LFN) entries, checksums.

Sources: Microsoft "FAT32 File System Specification" (fatgen103), sections 6-7:
short-name character set, basis-name generation with numeric tails, LFN entry
layout (ordinal, three UCS-2 runs, checksum of the short name).
"""

from __future__ import annotations

import struct

from pebuild.errors import UsageError

#: characters allowed in a short name besides A-Z and 0-9 (fatgen103 §6.1)
_SHORT_EXTRA = set("$%'-_@~`!(){}^#&")
#: characters a long name may hold beyond short-name ones (fatgen103 §7)
_LONG_ONLY = set("+,;=[] .")
_FORBIDDEN = set('"*/:<>?\\|')
LFN_ATTR = 0x0F
MAX_LONG_NAME = 255


def _short_char_ok(ch: str) -> bool:
    return ("A" <= ch <= "Z") or ("0" <= ch <= "9") or ch in _SHORT_EXTRA


def check_long_name(name: str) -> None:
    """Refuse names FAT cannot hold (Windows rules): empty, dots, forbidden or control characters."""
    if not name or name in (".", ".."):
        raise UsageError(f"invalid FAT file name: {name!r}")
    if len(name) > MAX_LONG_NAME:
        raise UsageError(f"FAT file name longer than 255 characters: {name[:40]!r}...")
    for ch in name:
        if ch in _FORBIDDEN or ord(ch) < 0x20 or ord(ch) > 0xFFFF:
            raise UsageError(f"character {ch!r} not allowed in a FAT file name: {name!r}")
    if name.endswith((" ", ".")):
        raise UsageError(f"a FAT file name may not end with a space or a dot: {name!r}")


def as_short_name(name: str) -> bytes | None:
    """The 11-byte short name when `name` already is a valid upper-case 8.3 name, else None."""
    if name.startswith("."):
        return None
    base, dot, ext = name.partition(".")
    if "." in ext or not base or len(base) > 8 or len(ext) > 3 or (dot and not ext):
        return None
    if not all(_short_char_ok(c) for c in base + ext):
        return None
    return (base.ljust(8) + ext.ljust(3)).encode("ascii")


def _basis(name: str) -> tuple[str, str, bool]:
    """fatgen103 basis-name: upper-case, drop spaces and leading dots, replace bad characters by '_'."""
    lossy = False
    text = name.upper().lstrip(".")
    text = text.replace(" ", "")
    if "." in text:
        base, ext = text.rsplit(".", 1)
        base = base.replace(".", "")
    else:
        base, ext = text, ""

    def clean(part: str) -> str:
        nonlocal lossy
        out = []
        for ch in part:
            if _short_char_ok(ch):
                out.append(ch)
            else:
                out.append("_")
                lossy = True
        return "".join(out)

    base, ext = clean(base), clean(ext)
    if len(base) > 8 or len(ext) > 3 or not base:
        lossy = True
    return base[:8], ext[:3], lossy


def make_short_name(name: str, taken: set[bytes], tails: dict[str, int] | None = None) -> bytes:
    """A unique 11-byte short name for a long name (Windows' ~N numeric-tail scheme).

    `tails` remembers the last tail used per basis name, so a directory of many similar
    names costs linear, not quadratic, time.
    """
    base, ext, lossy = _basis(name)
    if not lossy and base:
        candidate = (base.ljust(8) + ext.ljust(3)).encode("ascii")
        if candidate not in taken:
            return candidate
    base = base or "_"
    key = base + "." + ext
    first = tails.get(key, 0) + 1 if tails is not None else 1
    for n in range(first, 10_000_000):
        tail = f"~{n}"
        candidate = (base[: 8 - len(tail)] + tail).ljust(8) + ext.ljust(3)
        raw = candidate.encode("ascii")
        if raw not in taken:
            if tails is not None:
                tails[key] = n
            return raw
    raise UsageError(f"cannot make a unique short name for {name!r}")  # pragma: no cover


def short_name_checksum(short_name: bytes) -> int:
    """fatgen103 §7: rotate-right-and-add over the 11 name bytes."""
    total = 0
    for byte in short_name:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def lfn_count(name: str) -> int:
    """How many 32-byte LFN entries `name` takes (13 UCS-2 units each)."""
    return (len(name.encode("utf-16-le")) // 2 + 12) // 13


def lfn_entries(name: str, short_name: bytes) -> list[bytes]:
    """The LFN directory entries for `name`, in on-disk order (highest ordinal first)."""
    units = name.encode("utf-16-le")
    chars = [units[i : i + 2] for i in range(0, len(units), 2)]
    if len(chars) % 13:
        chars.append(b"\x00\x00")
    while len(chars) % 13:
        chars.append(b"\xff\xff")
    checksum = short_name_checksum(short_name)
    count = len(chars) // 13
    entries = []
    for seq in range(1, count + 1):
        part = chars[(seq - 1) * 13 : seq * 13]
        order = seq | (0x40 if seq == count else 0)
        entry = (
            struct.pack("<B", order)
            + b"".join(part[0:5])
            + struct.pack("<BBB", LFN_ATTR, 0, checksum)
            + b"".join(part[5:11])
            + b"\x00\x00"
            + b"".join(part[11:13])
        )
        entries.append(entry)
    entries.reverse()
    return entries
