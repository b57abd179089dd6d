"""Media tree scan, volume label rules and the name each view gets.

Windows media hold long mixed-case names; ISO 9660 level 3 allows 30
d-characters (A-Z 0-9 _) per file name and 8 directory levels (ECMA-119
7.5, 6.8.2.1), Joliet 64 UCS-2 characters, UDF 255 bytes (formats.md 4.5).
Windows cannot hold two names that differ only in case in one directory, so
such a tree is refused before anything is written.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from pebuild.errors import FormatError, UsageError

LABEL_MAX = 32  # ISO 9660 volume identifier, oscdimg -l
_LABEL_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
ISO_MAX_NAME = 30  # name + extension, ECMA-119 7.5.2
ISO_MAX_DIR = 31
ISO_MAX_DEPTH = 7  # path components below the root pycdlib accepts without Rock Ridge
JOLIET_MAX = 64
_JOLIET_BAD = re.compile(r"[*/:;?\\\x00-\x1f]")
_ISO_BAD = re.compile(r"[^A-Z0-9_]")


def validate_label(label: str) -> str:
    """A volume label oscdimg would take: 1-32 of A-Z a-z 0-9 _ - . (no spaces)."""
    if not label:
        raise UsageError("volume label must not be empty")
    if len(label) > LABEL_MAX:
        raise UsageError(f"volume label {label!r} is {len(label)} characters; the maximum is {LABEL_MAX}")
    if not _LABEL_RE.match(label):
        raise UsageError(
            f"volume label {label!r} has characters a disc label cannot hold; use A-Z a-z 0-9 _ - ."
        )
    return label


@dataclass
class MediaFile:
    rel: str  # 'sources/boot.wim'
    path: Path
    size: int


@dataclass
class MediaTree:
    """Every directory and file under media_dir, sorted, with nothing followed outside it."""

    root: Path
    dirs: list[str] = field(default_factory=list)  # parents before children
    files: list[MediaFile] = field(default_factory=list)


def scan_media(root: Path) -> MediaTree:
    root = Path(root)
    if not root.is_dir():
        raise UsageError("media directory does not exist or is not a directory", path=root)
    tree = MediaTree(root=root)
    pending = [""]
    while pending:
        rel_dir = pending.pop(0)
        abs_dir = root / rel_dir if rel_dir else root
        try:
            names = sorted(os.listdir(abs_dir))
        except OSError as exc:
            raise FormatError(f"cannot read directory: {exc.strerror}", path=abs_dir) from None
        for name in names:
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                raise FormatError(
                    f"file name {name!r} is not valid UTF-8, so it has no Joliet/UDF form", path=abs_dir
                ) from None
        _check_case_conflicts(rel_dir, names, root)
        subdirs = []
        for name in names:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            full = abs_dir / name
            try:
                st = os.stat(full)
            except OSError as exc:
                raise FormatError(f"cannot read: {exc.strerror}", path=full) from None
            if stat.S_ISDIR(st.st_mode):
                if full.is_symlink():
                    raise FormatError("symbolic link to a directory is not supported on media", path=full)
                tree.dirs.append(rel)
                subdirs.append(rel)
            elif stat.S_ISREG(st.st_mode):
                tree.files.append(MediaFile(rel, full, st.st_size))
            else:
                raise FormatError("not a regular file or directory", path=full)
        pending[0:0] = subdirs  # depth-first, sorted: parents precede children
    return tree


def _check_case_conflicts(rel_dir: str, names: list[str], root: Path) -> None:
    seen: dict[str, str] = {}
    for name in names:
        key = name.casefold()
        if key in seen:
            where = rel_dir or "."
            raise FormatError(
                f"{seen[key]!r} and {name!r} differ only in case in {where!r}; Windows media cannot hold both",
                path=root,
            )
        seen[key] = name


class NameMap:
    """Assigns each tree path its ISO 9660 and Joliet name, unique per directory."""

    def __init__(self) -> None:
        self._iso: dict[str, str] = {"": ""}
        self._joliet: dict[str, str] = {"": ""}
        self._iso_used: dict[str, set[str]] = {}
        self._joliet_used: dict[str, set[str]] = {}

    def iso_path(self, rel: str, is_dir: bool) -> str | None:
        """'/SOURCES/BOOT.WIM;1', or None when deeper than ISO 9660 allows (then Joliet/UDF only)."""
        parts = rel.split("/")
        if len(parts) > ISO_MAX_DEPTH:
            return None
        parent = "/".join(parts[:-1])
        parent_iso = self._iso.get(parent)
        if parent_iso is None:
            return None
        used = self._iso_used.setdefault(parent, set())
        name = _unique(_iso_dir_name(parts[-1]) if is_dir else _iso_file_name(parts[-1]), used, is_dir)
        full = f"{parent_iso}/{name}"
        if is_dir:
            self._iso[rel] = full
            return full
        return f"{full};1"

    def joliet_path(self, rel: str) -> str:
        parts = rel.split("/")
        parent = "/".join(parts[:-1])
        used = self._joliet_used.setdefault(parent, set())
        name = _joliet_name(parts[-1], used)
        full = f"{self._joliet[parent]}/{name}"
        self._joliet[rel] = full
        return full


def udf_path(rel: str) -> str:
    return "/" + rel


def _split_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return name, ""
    return stem, ext


def _iso_file_name(name: str) -> tuple[str, str]:
    stem, ext = _split_ext(name)
    stem = _ISO_BAD.sub("_", stem.upper())
    ext = _ISO_BAD.sub("_", ext.upper())[:8]
    stem = stem[: ISO_MAX_NAME - len(ext)] or "_"
    return stem, ext


def _iso_dir_name(name: str) -> tuple[str, str]:
    return (_ISO_BAD.sub("_", name.upper())[:ISO_MAX_DIR] or "_"), ""


def _unique(parts: tuple[str, str], used: set[str], is_dir: bool) -> str:
    stem, ext = parts
    limit = ISO_MAX_DIR if is_dir else ISO_MAX_NAME - len(ext)
    n = 0
    candidate = stem
    while True:
        full = candidate if is_dir else f"{candidate}.{ext}"
        if full not in used:
            used.add(full)
            return full
        n += 1
        suffix = f"_{n:03d}"
        candidate = stem[: limit - len(suffix)] + suffix


def _joliet_name(name: str, used: set[str]) -> str:
    clean = _JOLIET_BAD.sub("_", name)
    stem, ext = _split_ext(clean)
    if len(clean) > JOLIET_MAX:
        keep = JOLIET_MAX - (len(ext) + 1 if ext else 0)
        clean = stem[:keep] + (f".{ext}" if ext else "")
        stem = stem[:keep]
    candidate, n = clean, 0
    while candidate.casefold() in used:
        n += 1
        suffix = f"_{n:03d}"
        base = stem[: JOLIET_MAX - len(suffix) - (len(ext) + 1 if ext else 0)]
        candidate = base + suffix + (f".{ext}" if ext else "")
    used.add(candidate.casefold())
    return candidate
