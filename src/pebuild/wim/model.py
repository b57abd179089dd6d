"""Plain data for the WIM API: what `Wim` reports and the update commands it takes."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path

from pebuild.wim import _libwim as L


class Compression(enum.StrEnum):
    """WIM compression types (wimlib.h enum wimlib_compression_type)."""

    NONE = "none"
    XPRESS = "xpress"
    LZX = "lzx"
    LZMS = "lzms"

    @property
    def wimlib_type(self) -> int:
        return _CTYPE[self]

    @classmethod
    def from_wimlib(cls, ctype: int) -> Compression:
        for member, value in _CTYPE.items():
            if value == ctype:
                return member
        return cls.NONE

    @classmethod
    def parse(cls, text: str | Compression) -> Compression:
        from pebuild.errors import UsageError

        if isinstance(text, Compression):
            return text
        key = text.strip().lower()
        key = {"maximum": "lzx", "fast": "xpress", "recovery": "lzms", "max": "lzx"}.get(key, key)
        try:
            return cls(key)
        except ValueError:
            raise UsageError(f"unknown compression {text!r} (choose lzx, xpress, lzms or none)") from None


_CTYPE = {
    Compression.NONE: L.WIMLIB_COMPRESSION_TYPE_NONE,
    Compression.XPRESS: L.WIMLIB_COMPRESSION_TYPE_XPRESS,
    Compression.LZX: L.WIMLIB_COMPRESSION_TYPE_LZX,
    Compression.LZMS: L.WIMLIB_COMPRESSION_TYPE_LZMS,
}


@dataclass(frozen=True)
class WimInfo:
    """The WIM file as a whole (wimlib_get_wim_info + file size)."""

    path: str
    guid: bytes
    image_count: int
    boot_index: int  # 0 = none
    compression: Compression
    chunk_size: int
    part_number: int
    total_parts: int
    wim_version: int
    total_bytes: int
    has_integrity_table: bool
    is_readonly: bool
    pipable: bool
    write_in_progress: bool

    @property
    def guid_hex(self) -> str:
        return self.guid.hex()

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "guid": self.guid_hex,
            "image_count": self.image_count,
            "boot_index": self.boot_index,
            "compression": str(self.compression),
            "chunk_size": self.chunk_size,
            "part_number": self.part_number,
            "total_parts": self.total_parts,
            "wim_version": self.wim_version,
            "total_bytes": self.total_bytes,
            "has_integrity_table": self.has_integrity_table,
            "is_readonly": self.is_readonly,
            "pipable": self.pipable,
            "write_in_progress": self.write_in_progress,
        }


@dataclass(frozen=True)
class ImageInfo:
    """One image's XML record (wimlib_get_image_property)."""

    index: int
    name: str
    description: str | None
    flags: str | None
    display_name: str | None
    display_description: str | None
    dir_count: int
    file_count: int
    total_bytes: int
    hard_link_bytes: int
    creation_time: int | None  # Unix seconds
    last_modification_time: int | None
    arch: str | None  # WINDOWS/ARCH as the ADK names it: x86, amd64, ia64, arm64
    is_boot: bool = False

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ImageEntry:
    """One file or directory inside an image (wimlib_iterate_dir_tree)."""

    path: str  # 'Windows/System32/x.dll'; '' is the root
    is_dir: bool
    size: int  # unnamed data stream
    sha1: bytes | None  # unnamed data stream's SHA-1, None when empty
    attributes: int
    reparse_tag: int
    num_links: int
    num_named_streams: int
    dos_name: str | None
    security_descriptor: bytes | None
    hard_link_group_id: int
    last_write_time: int  # Unix seconds

    @property
    def is_symlink(self) -> bool:
        return bool(self.attributes & 0x400) and self.reparse_tag in (0xA000000C, 0xA0000003)


@dataclass(frozen=True)
class AddCommand:
    """Add a local file or tree at `target` (replaces a file; merges into a directory).

    `source` may be bytes: the content is written to a temporary file that
    lives as long as the open `Wim`.
    """

    source: str | os.PathLike[str] | bytes
    target: str
    config: object | None = None  # CaptureConfig for trees
    no_replace: bool = False


@dataclass(frozen=True)
class DeleteCommand:
    path: str
    recursive: bool = False
    force: bool = False  # no error when the path is missing


@dataclass(frozen=True)
class RenameCommand:
    source: str
    target: str


UpdateCommand = AddCommand | DeleteCommand | RenameCommand


@dataclass
class _TempFiles:
    """Temporary files handed to libwim, which reads them only at write time."""

    root: Path | None = None
    paths: list[Path] = field(default_factory=list)
