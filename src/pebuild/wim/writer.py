"""Atomic, reproducible WIM writes (`Wim.write`, `capture`): temp file, pinned GUID and times, rename.

Below `image.py`: it gets the open `Wim` as an argument (typed by `PinnableWim`)
and reopens the temporary file through that object's class, never by import.

Why two steps: libwim writes `now` into LASTMODIFICATIONTIME of every image
it re-scanned (xml_update_image_info() from write_wim_part()), after any
property set before the write. Reopening the written temporary file (stats
current, nothing restamped), setting the times and overwriting it changes
only the XML, in place, in our private file. See docs/wim.md.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pebuild.errors import OutputError, PebuildError, UsageError
from pebuild.fsutil import fsync_dir
from pebuild.progress import Progress
from pebuild.wim import _libwim as L
from pebuild.wim.levels import check_compress_level
from pebuild.wim.model import WimInfo

if TYPE_CHECKING:
    import uuid


class PinnableWim(Protocol):
    """What `_write_pinned` needs of an open `pebuild.wim.Wim`."""

    @property
    def handle(self) -> Any: ...

    @property
    def info(self) -> WimInfo: ...

    def set_guid(self, guid: bytes) -> None: ...

    def set_times(self, index: int, timestamp: int, *, creation: bool = True) -> None: ...

    def _call(
        self,
        what: str,
        fn: Callable[..., int],
        *args: Any,
        progress: Progress | None = None,
        path: str | None = None,
        default: type[PebuildError] = ...,
    ) -> None: ...


@contextlib.contextmanager
def compression_level(level: int | None) -> Iterator[None]:
    """libwim's default compression level (every type) for the writes inside; None leaves it alone.

    wimlib_set_default_compression_level() is process-global and read when a
    write creates its compressors (setting it around wimlib_open_wim has no
    effect), so it is set just before the write and restored to libwim's own
    default (0 = 50) in `finally`. Not thread-safe with another libwim write in
    the same process; pebuild never runs two at once.
    """
    if level is None:
        yield
        return
    lib = L.lib()
    L.check(
        lib.wimlib_set_default_compression_level(-1, check_compress_level(level)),
        "cannot set the compression level",
        default=UsageError,
    )
    try:
        yield
    finally:
        lib.wimlib_set_default_compression_level(-1, 0)


def _guid_bytes(guid: bytes | uuid.UUID) -> bytes:
    raw = guid.bytes if hasattr(guid, "bytes") else bytes(guid)
    if len(raw) != L.WIMLIB_GUID_LEN:
        raise UsageError(f"a WIM GUID is 16 bytes, got {len(raw)}")
    return raw


def _pins(
    guid: bytes | uuid.UUID | None, timestamp: int | None, target: Path
) -> tuple[bytes | None, int | None]:
    from pebuild import clock

    sde = clock.source_date_epoch()
    if timestamp is None and sde is not None:
        timestamp = sde
    if guid is None and sde is not None:
        guid = clock.stable_guid("wim", target.name, sde)
    return (None if guid is None else _guid_bytes(guid)), timestamp


def _write_pinned(
    wim: PinnableWim,
    target: Path,
    image: int,
    check: bool,
    guid: bytes | None,
    timestamp: int | None,
    progress: Progress | None,
    threads: int,
) -> None:
    """wimlib_write() to a temporary file beside `target`, pin GUID and times, fsync, rename."""
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError("cannot write output: directory does not exist", path=parent)
    if target.is_dir():
        raise OutputError("output is a directory", path=target)
    import tempfile

    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write output: {exc.strerror or exc}", path=target) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        flags = L.WIMLIB_WRITE_FLAG_CHECK_INTEGRITY if check else 0
        if guid is not None:
            wim.set_guid(guid)
            flags |= L.WIMLIB_WRITE_FLAG_RETAIN_GUID
        wim._call(
            "cannot write WIM",
            L.lib().wimlib_write,
            wim.handle,
            L.encode(tmp),
            image,
            flags,
            threads,
            progress=progress,
            path=os.fspath(target),
            default=OutputError,
        )
        if timestamp is not None:
            with type(wim).open(tmp, write=True) as again:  # type: ignore[attr-defined]
                for index in range(1, again.info.image_count + 1):
                    again.set_times(index, timestamp)
                again._call(
                    "cannot write WIM",
                    L.lib().wimlib_overwrite,
                    again.handle,
                    flags & L.WIMLIB_WRITE_FLAG_CHECK_INTEGRITY,
                    threads,
                    path=os.fspath(target),
                    default=OutputError,
                )
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write output: {exc.strerror or exc}", path=target) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(parent)
