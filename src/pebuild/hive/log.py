"""Transaction-log replay: recover a dirty hive from its .LOG1/.LOG2 (.LOG) the way Windows does.

Windows writes changes to a log first and to the primary file later (up to an hour
later since Windows 8.1), so a hive copied from a running or crashed system, or
serviced and not unloaded cleanly, is *dirty*: primary != secondary sequence
number, or a wrong header checksum. Its logs hold the missing pages.

Rules, from Suhanov's specification (S1, "Format of transaction log files",
"Dirty state of a hive", "Multiple transaction log files") with yarp's
RegistryFile.py (`apply_new_log_files`, `apply_old_log_file`) as the reference
implementation for what S1 leaves open:

* A clean hive ignores its logs. A log is usable only when its 512-byte base
  block has `regf`, a valid checksum, the log file type (1/2 old, 6 new) and
  equal sequence numbers; anything else (empty files too) is ignored.
* New format (`HvLE` entries, Windows 8.1+): entries start at 512, each at a
  512-byte boundary. An entry is applied only when its signature, size,
  hive-bins size (a positive multiple of 4096), page references, Marvin32
  Hash-1 and Hash-2 are right and its sequence number is the expected one; the
  first bad entry ends that log (later ones are never applied). A log's first
  entry must carry the log's base-block sequence number, which must not be
  below the primary's secondary sequence number (an older, already applied log
  is "stale" and skipped). With a valid primary base block both logs are used,
  the one with earlier entries first (by sequence number, wrap-around aware);
  the second continues only if its first entry is N+1 after the last applied N.
  With an invalid primary base block only the log with the latest entries is
  used and the base block comes from it. The file grows to each entry's
  hive-bins size; afterwards both sequence numbers are N and the base block's
  flag bit 0 is the last entry's.
* Old format (`DIRT` bitmap of 512-byte pages): a log applies when its
  last-written timestamp equals the primary's (the first bin's timestamp when
  the primary's base block is invalid). .LOG1 first; .LOG2 when .LOG1 is
  unusable or not applicable and .LOG2 is valid and newer (the Windows 8 and
  KB3140410 rule); a single .LOG as in Windows XP. A log whose dirty pages run
  past its end (torn), or would leave an invalid hive bin, is not applied.

What we do not do: Windows "heals" a bad bin in a recovered image with a dummy
bin and self-heals bad log base blocks; pebuild instead refuses such a result
(FormatError from the reader) or ignores the log. Transactional registry (KTM/
CLFS `.blf`/`.regtrans-ms` files) is out of scope, as it is for S1.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from pebuild.hive._structs import (
    BASE_BLOCK_SIZE,
    CHECKSUM_OFFSET,
    FILE_TYPE_LOG_NEW,
    FILE_TYPE_LOG_OLD,
    FILE_TYPE_LOG_VERYOLD,
    HBIN_SIZE_UNIT,
    HVLE,
    PAGE_REF,
    header_checksum,
    plain_xor,
)

LOG_BASE_BLOCK_SIZE = 512  # clustering factor 1: the log holds the first sector of the base block
LOG_SUFFIXES = (".LOG1", ".LOG2", ".LOG")
MARVIN32_SEED = 0x82EF4D887A4E55C5  # S1 note 3: "82 EF 4D 88 7A 4E 55C5" as one 64-bit number (yarp)
_M32 = 0xFFFFFFFF
_U32 = struct.Struct("<I")


@dataclass(frozen=True)
class LogFile:
    """One transaction log as found beside the hive: its file name and bytes."""

    name: str
    data: bytes


@dataclass
class Replay:
    """What recovery did: which logs were applied, how many entries and pages, the final sequence."""

    format: str = ""  # "new" (HvLE) or "old" (DIRT)
    applied: list[str] = field(default_factory=list)
    entries: int = 0
    pages: int = 0
    sequence: int = 0
    notes: list[str] = field(default_factory=list)  # why a log or an entry was not used

    @property
    def recovered(self) -> bool:
        return self.entries > 0

    def explain(self) -> str:
        return "; ".join(self.notes) if self.notes else "no log entry applies"


def marvin32(data: bytes | bytearray | memoryview, seed: int = MARVIN32_SEED) -> int:
    """Microsoft's Marvin32 hash (64-bit result), as used for HvLE Hash-1/Hash-2 (S1 note 1-3)."""
    lo, hi = seed & _M32, seed >> 32
    view = memoryview(data).cast("B")
    whole = len(view) & ~3
    words = array("I")
    words.frombytes(view[:whole])
    if sys.byteorder != "little":
        words.byteswap()
    tail = bytes(view[whole:])
    final = 0x80 << (8 * len(tail))  # the last bytes, then 0x80, as one word; then a zero word
    for i, b in enumerate(tail):
        final |= b << (8 * i)
    for w in chain(words, (final & _M32, 0)):
        lo = (lo + w) & _M32
        hi ^= lo
        lo = ((lo << 20) | (lo >> 12)) & _M32
        lo = (lo + hi) & _M32
        hi = (((hi << 9) | (hi >> 23)) & _M32) ^ lo
        lo = ((lo << 27) | (lo >> 5)) & _M32
        lo = (lo + hi) & _M32
        hi = ((hi << 19) | (hi >> 13)) & _M32
    return (hi << 32) | lo


def find_logs(hive_path: str | os.PathLike[str]) -> list[Path]:
    """The hive's .LOG1, .LOG2 and .LOG files beside it, names compared without case (as Windows)."""
    path = Path(hive_path)
    wanted = {(path.name + suffix).casefold(): i for i, suffix in enumerate(LOG_SUFFIXES)}
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    found = [(wanted[n.casefold()], n) for n in names if n.casefold() in wanted]
    return [path.parent / n for _, n in sorted(found) if (path.parent / n).is_file()]


def empty_logs(hive_path: str | os.PathLike[str], names: list[str]) -> list[Path]:
    """Truncate the named logs beside `hive_path` to 0 bytes (an empty log is no log to Windows,
    S1 "Multiple transaction log files"); returns the files emptied."""
    emptied = []
    for name in names:
        log = Path(hive_path).parent / name
        if log.is_file() and log.stat().st_size:
            with log.open("r+b") as fh:
                fh.truncate(0)
                os.fsync(fh.fileno())
            emptied.append(log)
    return emptied


def log_rank(name: str) -> int:
    """0 for *.LOG1, 1 for *.LOG2, 2 for *.LOG (and anything else)."""
    upper = name.upper()
    for i, suffix in enumerate(LOG_SUFFIXES):
        if upper.endswith(suffix):
            return i
    return len(LOG_SUFFIXES)


# ---------------------------------------------------------------- base blocks
@dataclass(frozen=True)
class _Base:
    seq1: int
    seq2: int
    timestamp: int
    file_type: int
    root: int
    bins_size: int
    flags: int

    @classmethod
    def parse(cls, block: bytes) -> _Base:
        seq1, seq2, ts = struct.unpack_from("<IIQ", block, 4)
        ftype, _fmt, root, bins = struct.unpack_from("<IIII", block, 28)
        return cls(seq1, seq2, ts, ftype, root, bins, _U32.unpack_from(block, 144)[0])


def checksum_ok(block: bytes) -> bool:
    stored = _U32.unpack_from(block, CHECKSUM_OFFSET)[0]
    return stored in (plain_xor(block), header_checksum(block))


def _log_base(log: LogFile) -> tuple[_Base | None, str]:
    data = log.data
    if not data:
        return None, f"{log.name} is empty"
    if len(data) < LOG_BASE_BLOCK_SIZE or data[:4] != b"regf":
        return None, f"{log.name} is not a transaction log (no 'regf' base block)"
    block = data[:LOG_BASE_BLOCK_SIZE]
    if not checksum_ok(block):
        return None, f"{log.name}: base block checksum is wrong (torn log)"
    base = _Base.parse(block)
    if base.file_type not in (FILE_TYPE_LOG_OLD, FILE_TYPE_LOG_VERYOLD, FILE_TYPE_LOG_NEW):
        return None, f"{log.name}: file type {base.file_type} is not a transaction log"
    if base.seq1 != base.seq2:
        return (
            None,
            f"{log.name}: its own sequence numbers differ ({base.seq1} != {base.seq2}), it was not written completely",
        )
    return base, ""


def _seq_before(a: int, b: int) -> bool:
    """a < b for 32-bit sequence numbers that may have wrapped (yarp's is_starting_log)."""
    return a != b and ((b - a) & _M32) <= 0x7FFFFFFF


def _seq_not_below(a: int, b: int) -> bool:
    return a == b or _seq_before(b, a)


# ------------------------------------------------------------------- recovery
def recover(primary: bytes, logs: list[LogFile]) -> tuple[bytes, Replay | None]:
    """(image to read, what was replayed). A clean hive comes back as it is with None;
    a dirty one with the applicable log data applied (Replay.recovered False: nothing applied)."""
    if len(primary) < BASE_BLOCK_SIZE or primary[:4] != b"regf":
        return primary, None
    block = primary[:BASE_BLOCK_SIZE]
    valid = checksum_ok(block)
    base = _Base.parse(block)
    if valid and base.seq1 == base.seq2:
        return primary, None
    replay = Replay()
    usable: list[tuple[LogFile, _Base]] = []
    for log in sorted(logs, key=lambda lg: log_rank(lg.name)):
        log_base, why = _log_base(log)
        if log_base is None:
            replay.notes.append(why)
        else:
            usable.append((log, log_base))
    if not usable:
        return primary, replay
    new = [(lg, b) for lg, b in usable if b.file_type == FILE_TYPE_LOG_NEW]
    if new:
        replay.format = "new"
        data = _recover_new(primary, valid, base, new, replay)
    else:
        replay.format = "old"
        data = _recover_old(primary, valid, base, usable, replay)
    return (data if replay.recovered else primary), replay


def _recover_new(
    primary: bytes, valid: bool, base: _Base, logs: list[tuple[LogFile, _Base]], replay: Replay
) -> bytes:
    ordered = sorted(logs, key=lambda item: item[1].seq1)
    if len(ordered) == 2 and _seq_before(ordered[1][1].seq1, ordered[0][1].seq1):  # wrapped around
        ordered.reverse()
    buf = bytearray(primary)
    if not valid:
        # only the log with the latest entries; the base block comes from it (S1 note 6, yarp)
        log, log_base = ordered[-1]
        buf[:LOG_BASE_BLOCK_SIZE] = log.data[:LOG_BASE_BLOCK_SIZE]
        for other, _b in ordered[:-1]:
            replay.notes.append(
                f"{other.name} not used: the primary base block is invalid, only the newest log is"
            )
        _apply_entries(buf, log, log_base.seq1, replay)
    else:
        expected: int | None = None
        for log, log_base in ordered:
            if expected is None:
                if not _seq_not_below(log_base.seq1, base.seq2):
                    replay.notes.append(
                        f"{log.name} is stale (its entries start at {log_base.seq1}, "
                        f"the hive is at {base.seq2})"
                    )
                    continue
                start = log_base.seq1
            else:
                if log_base.seq1 != expected:
                    replay.notes.append(
                        f"{log.name} not used: its entries start at {log_base.seq1}, recovery expected {expected}"
                    )
                    break
                start = expected
            _apply_entries(buf, log, start, replay)
            if not replay.recovered:
                break
            expected = (replay.sequence + 1) & _M32
    if not replay.recovered:
        return primary
    _finish(buf, replay.sequence)
    return bytes(buf)


def _apply_entries(buf: bytearray, log: LogFile, expected: int, replay: Replay) -> None:
    data, pos, name = log.data, LOG_BASE_BLOCK_SIZE, log.name
    while pos + HVLE.size <= len(data):
        sig, size, flags, seq, bins_size, count, hash1, hash2 = HVLE.unpack_from(data, pos)
        where = f"{name}: log entry at 0x{pos:x}"
        if sig != b"HvLE":
            break  # the end of the entries (remnants or zeros follow)
        problem = ""
        if size < 512 or size % 512 or pos + size > len(data):
            problem = f"bad size {size}"
        elif bins_size == 0 or bins_size % HBIN_SIZE_UNIT:
            problem = f"hive bins size 0x{bins_size:x} is not a positive multiple of 4096"
        elif count == 0 or HVLE.size + PAGE_REF.size * count > size:
            problem = f"{count} dirty pages do not fit the entry"
        elif marvin32(data[pos : pos + 32]) != hash2 or marvin32(data[pos + 40 : pos + size]) != hash1:
            problem = "hash check failed (torn or damaged entry)"
        elif seq != expected:
            problem = f"sequence number {seq}, expected {expected}"
        pages: list[tuple[int, int, int]] = []
        if not problem:
            cursor = pos + HVLE.size + PAGE_REF.size * count
            for i in range(count):
                offset, length = PAGE_REF.unpack_from(data, pos + HVLE.size + PAGE_REF.size * i)
                if length == 0 or length % 512 or offset % 512 or offset + length > bins_size:
                    problem = f"page {i} (0x{offset:x}+{length}) lies outside the hive bins"
                    break
                if cursor + length > pos + size:
                    problem = f"page {i} runs past the entry"
                    break
                pages.append((offset, cursor, length))
                cursor += length
        if problem:
            replay.notes.append(f"{where}: {problem}; recovery stops there")
            return
        need = BASE_BLOCK_SIZE + bins_size
        if len(buf) < need:
            buf.extend(bytes(need - len(buf)))  # S1 note 9: the file grows with the entry
        for offset, src, length in pages:
            buf[BASE_BLOCK_SIZE + offset : BASE_BLOCK_SIZE + offset + length] = data[src : src + length]
        struct.pack_into("<I", buf, 40, bins_size)
        flag_field = _U32.unpack_from(buf, 144)[0]
        _U32.pack_into(buf, 144, (flag_field & ~1) | (flags & 1))  # S1 note 11
        if name not in replay.applied:
            replay.applied.append(name)
        replay.entries += 1
        replay.pages += count
        replay.sequence = seq
        expected = (seq + 1) & _M32
        pos += size


def _recover_old(
    primary: bytes, valid: bool, base: _Base, logs: list[tuple[LogFile, _Base]], replay: Replay
) -> bytes:
    stamp = base.timestamp if valid else struct.unpack_from("<Q", primary, BASE_BLOCK_SIZE + 20)[0]
    by_rank = {log_rank(lg.name): (lg, b) for lg, b in logs}
    log1, log2, single = by_rank.get(0), by_rank.get(1), by_rank.get(2)
    chosen = None
    if log1 is not None and log1[1].timestamp == stamp:
        chosen = log1
    elif log2 is not None and (log1 is None or log2[1].timestamp > log1[1].timestamp):
        chosen = log2  # Windows 8 / KB3140410: the second log when the first cannot be used
    elif log1 is None and log2 is None and single is not None and single[1].timestamp == stamp:
        chosen = single
    if chosen is None:
        replay.notes.append("no old-format log has the hive's last-written timestamp")
        return primary
    log, log_base = chosen
    pages = _dirty_pages(log, log_base, replay)
    if not pages:
        return primary
    buf = bytearray(primary)
    if len(buf) < BASE_BLOCK_SIZE + log_base.bins_size:
        buf.extend(bytes(BASE_BLOCK_SIZE + log_base.bins_size - len(buf)))
    for offset, page in pages:
        buf[BASE_BLOCK_SIZE + offset : BASE_BLOCK_SIZE + offset + 512] = page
    bad = _first_bad_bin(buf, log_base.bins_size)
    if bad is not None:
        # S1: recovery stops at an invalid dirty bin. Keeping the bins before it would drop the
        # rest of the hive, so the log is not used at all and the hive stays dirty (refused).
        replay.notes.append(f"{log.name}: its pages leave an invalid hive bin at 0x{bad:x}; log not applied")
        return primary
    if not valid:
        buf[:LOG_BASE_BLOCK_SIZE] = log.data[:LOG_BASE_BLOCK_SIZE]
    struct.pack_into("<II", buf, 36, log_base.root, log_base.bins_size)
    replay.applied.append(log.name)
    replay.entries = 1
    replay.pages = len(pages)
    replay.sequence = max(log_base.seq1, base.seq1) if valid else log_base.seq1
    _finish(buf, replay.sequence)
    return bytes(buf)


def _dirty_pages(log: LogFile, log_base: _Base, replay: Replay) -> list[tuple[int, bytes]]:
    data = log.data
    bins_size = log_base.bins_size
    if bins_size == 0 or bins_size % HBIN_SIZE_UNIT:
        replay.notes.append(f"{log.name}: hive bins size 0x{bins_size:x} is not a multiple of 4096")
        return []
    vector = LOG_BASE_BLOCK_SIZE
    nbytes = bins_size // HBIN_SIZE_UNIT  # one bit per 512-byte page
    if data[vector : vector + 4] != b"DIRT" or vector + 4 + nbytes > len(data):
        replay.notes.append(f"{log.name}: no dirty vector ('DIRT') after the base block")
        return []
    bitmap = data[vector + 4 : vector + 4 + nbytes]
    cursor = -(-(vector + 4 + nbytes) // 512) * 512
    pages: list[tuple[int, bytes]] = []
    for index in range(nbytes * 8):
        if bitmap[index >> 3] >> (index & 7) & 1:
            if cursor + 512 > len(data):  # yarp: a truncated dirty page fails the whole log
                replay.notes.append(f"{log.name}: the log ends before dirty page {len(pages)} (torn log)")
                return []
            pages.append((index * 512, data[cursor : cursor + 512]))
            cursor += 512
    if not pages:
        replay.notes.append(f"{log.name}: its dirty vector marks no page")
    return pages


def _first_bad_bin(image: bytearray, bins_size: int) -> int | None:
    pos = 0
    while pos < bins_size:
        start = BASE_BLOCK_SIZE + pos
        if start + 32 > len(image):
            return pos
        sig, off, size = struct.unpack_from("<4sII", image, start)
        if (
            sig != b"hbin"
            or off != pos
            or size < HBIN_SIZE_UNIT
            or size % HBIN_SIZE_UNIT
            or pos + size > bins_size
        ):
            return pos
        pos += size
    return None


def _finish(buf: bytearray, sequence: int) -> None:
    """Make the recovered base block a clean primary one: seq1 = seq2 = the last sequence applied."""
    struct.pack_into("<II", buf, 4, sequence, sequence)
    struct.pack_into("<I", buf, 28, 0)  # file type: primary (the block may come from a log)
    struct.pack_into("<I", buf, CHECKSUM_OFFSET, header_checksum(bytes(buf[:BASE_BLOCK_SIZE])))
