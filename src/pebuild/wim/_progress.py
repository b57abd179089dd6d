"""libwim progress messages -> pebuild ProgressEvents, without letting exceptions cross C frames.

The callback is also how Ctrl-C stops libwim: inside `pebuild.interrupts.deferred()`
(every `Wim._call`) SIGINT/SIGTERM only mark themselves pending, and the next
callback answers WIMLIB_PROGRESS_STATUS_ABORT. libwim then unwinds on its own
(an append-mode overwrite truncates what it appended and restores the header
flags, wimlib src/write.c overwrite_wim_inplace) and returns
WIMLIB_ERR_ABORTED_BY_PROGRESS; `reraise()` turns that into KeyboardInterrupt,
the CLI's exit 130. No Python exception ever unwinds through a C frame.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pebuild import interrupts
from pebuild.progress import Progress, ProgressEvent
from pebuild.wim import _libwim as L

#: sent after the operation took effect (the temporary WIM is already renamed over the
#: old one): aborting here would report a failure for a write that landed
_TOO_LATE_TO_ABORT = frozenset({L.WIMLIB_PROGRESS_MSG_RENAME})


class _ProgressBridge:
    """Turns libwim progress messages into ProgressEvents; keeps exceptions out of C frames."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.error: BaseException | None = None
        self.cfunc = L.wimlib_progress_func_t(self._callback)

    @contextlib.contextmanager
    def active(self, progress: Progress | None) -> Iterator[None]:
        self.progress, self.error = progress, None
        try:
            yield
        finally:
            self.progress = None

    def reraise(self) -> None:
        if self.error is not None:
            err, self.error = self.error, None
            raise err

    def _callback(self, msg: int, info: int | None, _ctx: int | None) -> int:
        try:
            if interrupts.pending() and msg not in _TOO_LATE_TO_ABORT:
                self.error = KeyboardInterrupt()
                return L.WIMLIB_PROGRESS_STATUS_ABORT
            if self.progress is None:
                return L.WIMLIB_PROGRESS_STATUS_CONTINUE
            event = _event(msg, info)
            if event is not None:
                self.progress(event)
        except BaseException as exc:  # re-raised by the caller after libwim unwinds
            self.error = exc
            return L.WIMLIB_PROGRESS_STATUS_ABORT
        return L.WIMLIB_PROGRESS_STATUS_CONTINUE


def _event(msg: int, info: int | None) -> ProgressEvent | None:
    if msg in (L.WIMLIB_PROGRESS_MSG_WRITE_METADATA_BEGIN, L.WIMLIB_PROGRESS_MSG_WRITE_METADATA_END):
        done = int(msg == L.WIMLIB_PROGRESS_MSG_WRITE_METADATA_END)  # `info` is not valid for these
        return ProgressEvent("metadata", done, 1, unit="steps")
    if msg == L.WIMLIB_PROGRESS_MSG_RENAME:
        return ProgressEvent("rename", 1, 1, unit="steps")
    if not info:
        return None
    if msg == L.WIMLIB_PROGRESS_MSG_WRITE_STREAMS:
        w = L.wimlib_progress_info_write_streams.from_address(info)
        return ProgressEvent("write", w.completed_bytes, w.total_bytes)
    if msg == L.WIMLIB_PROGRESS_MSG_EXTRACT_STREAMS:
        x = L.wimlib_progress_info_extract.from_address(info)
        return ProgressEvent("extract", x.completed_bytes, x.total_bytes)
    if msg in (L.WIMLIB_PROGRESS_MSG_EXTRACT_FILE_STRUCTURE, L.WIMLIB_PROGRESS_MSG_EXTRACT_METADATA):
        x = L.wimlib_progress_info_extract.from_address(info)
        stage = "files" if msg == L.WIMLIB_PROGRESS_MSG_EXTRACT_FILE_STRUCTURE else "file metadata"
        return ProgressEvent(stage, x.current_file_count, x.end_file_count, unit="files")
    if msg == L.WIMLIB_PROGRESS_MSG_SCAN_DENTRY:
        s = L.wimlib_progress_info_scan.from_address(info)
        return ProgressEvent("scan", s.num_dirs_scanned + s.num_nondirs_scanned, None, unit="files")
    if msg == L.WIMLIB_PROGRESS_MSG_UPDATE_END_COMMAND:
        u = L.wimlib_progress_info_update.from_address(info)
        return ProgressEvent("update", u.completed_commands, u.total_commands, unit="commands")
    if msg == L.WIMLIB_PROGRESS_MSG_VERIFY_STREAMS:
        v = L.wimlib_progress_info_verify_streams.from_address(info)
        return ProgressEvent("verify", v.completed_bytes, v.total_bytes)
    if msg in (L.WIMLIB_PROGRESS_MSG_CALC_INTEGRITY, L.WIMLIB_PROGRESS_MSG_VERIFY_INTEGRITY):
        i = L.wimlib_progress_info_integrity.from_address(info)
        return ProgressEvent("integrity", i.completed_bytes, i.total_bytes)
    return None
