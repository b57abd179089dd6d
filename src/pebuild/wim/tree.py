"""Listing an image's directory tree with the Windows metadata libwim keeps.

`wimlib_iterate_dir_tree` calls back once per dentry; the callback copies what
callers need (sizes, SHA-1, attributes, security descriptors, short names)
into `ImageEntry` dataclasses before libwim frees the dentry.
"""

from __future__ import annotations

import ctypes
from typing import Any

from pebuild.errors import FormatError
from pebuild.wim import _libwim as L
from pebuild.wim.model import ImageEntry
from pebuild.wim.update import wim_path


def _entry(d: Any) -> ImageEntry:
    stream = d.stream(0)
    sha1 = bytes(stream.resource.sha1_hash)
    sd = (
        ctypes.string_at(d.security_descriptor, d.security_descriptor_size) if d.security_descriptor else None
    )
    full = (L.decode(d.full_path) or "").replace("\\", "/").strip("/")
    return ImageEntry(
        path=full,
        is_dir=bool(d.attributes & 0x10),
        size=stream.resource.uncompressed_size,
        sha1=None if not any(sha1) else sha1,
        attributes=d.attributes,
        reparse_tag=d.reparse_tag,
        num_links=d.num_links,
        num_named_streams=d.num_named_streams,
        dos_name=L.decode(d.dos_name) or None,
        security_descriptor=sd,
        hard_link_group_id=d.hard_link_group_id,
        last_write_time=d.last_write_time.tv_sec,
    )


def list_entries(
    handle: ctypes.c_void_p, wim_file: str | None, index: int, path: str = "", *, recursive: bool = True
) -> list[ImageEntry]:
    """Files and directories at and below `path` in image `index` (SourceError if absent)."""
    found: list[ImageEntry] = []
    failure: list[BaseException] = []

    def visit(dentry_p: Any, _ctx: Any) -> int:
        try:
            found.append(_entry(dentry_p.contents))
        except BaseException as exc:  # pragma: no cover - defensive
            failure.append(exc)
            return 1
        return 0

    cb = L.wimlib_iterate_dir_tree_callback_t(visit)
    flags = L.WIMLIB_ITERATE_DIR_TREE_FLAG_RECURSIVE if recursive else 0
    code = L.lib().wimlib_iterate_dir_tree(handle, index, wim_path(path), flags, cb, None)
    if failure:
        raise failure[0]
    L.check(code, f"cannot list {path or '/'!r} in image {index}", wim_file, default=FormatError)
    return found
