"""One clock for reproducible builds.

Every timestamp pebuild writes (WIM XML times, hive FILETIMEs, ISO dates, FAT
dates, manifest) comes from `build_time()`, which honours SOURCE_DATE_EPOCH
(reproducible-builds.org), and every GUID from `stable_guid()`, so the same
inputs give byte-identical outputs. Nothing else calls now() or uuid4().
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime

from pebuild.errors import UsageError

#: Namespace for pebuild's name-based (UUIDv5) GUIDs.
PEBUILD_NAMESPACE = uuid.UUID("5d3c3f5e-8b7a-5c1e-9a52-70656275696c")

FILETIME_EPOCH_OFFSET = 116444736000000000  # 100 ns ticks between 1601-01-01 and 1970-01-01


def source_date_epoch() -> int | None:
    """SOURCE_DATE_EPOCH as an int, None when unset; a bad value is a usage error."""
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"SOURCE_DATE_EPOCH must be an integer number of seconds, got {raw!r}") from None
    if value < 0:
        raise UsageError(f"SOURCE_DATE_EPOCH must not be negative, got {value}")
    return value


def build_time(explicit: int | None = None) -> int:
    """Seconds since the Unix epoch for this build: explicit > SOURCE_DATE_EPOCH > now."""
    if explicit is not None:
        return explicit
    sde = source_date_epoch()
    return sde if sde is not None else int(time.time())


def is_reproducible() -> bool:
    return source_date_epoch() is not None


def parse_date(text: str) -> int:
    """Parse an ISO 8601 date/time (naive = UTC) or plain epoch seconds into epoch seconds."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"not an ISO 8601 date: {text!r} (example: 2024-05-01T12:00:00Z)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def to_filetime(epoch_seconds: int) -> int:
    """Windows FILETIME (100 ns ticks since 1601) for a Unix time."""
    return epoch_seconds * 10_000_000 + FILETIME_EPOCH_OFFSET


def from_filetime(filetime: int) -> float:
    return (filetime - FILETIME_EPOCH_OFFSET) / 10_000_000


def stable_guid(*parts: object) -> uuid.UUID:
    """A GUID derived from its inputs (UUIDv5), for reproducible WIM GUIDs, disk IDs, BCD objects."""
    return uuid.uuid5(PEBUILD_NAMESPACE, "\x1f".join(str(p) for p in parts))
