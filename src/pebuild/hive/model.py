"""The hive model: `Hive`, `Key`, `Value`, `RegType` (S1, S2; formats.md §1).

Keys read from a file are decoded lazily: a key's values and subkeys are read
from the image the first time they are asked for, so opening a 30 MB SOFTWARE
hive to change one value touches only the keys on that path. Edits mark the
key dirty; `writer.serialize(hive, mode="preserve")` patches only dirty keys into a copy of
the original bins (everything else keeps its bytes), `mode="compact"` lays the
whole tree out fresh and deterministically.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Literal

from pebuild.errors import FormatError, UsageError
from pebuild.hive._structs import KEY_COMP_NAME, KEY_HIVE_ENTRY, KEY_NO_DELETE
from pebuild.hive.reader import HiveImage, NodeRecord

SaveMode = Literal["compact", "preserve"]
MAX_DEPTH = 512  # Windows refuses deeper key paths (S5); also bounds recursion on hostile input

D_VALUES = 1
D_SUBKEYS = 2
D_META = 4


class RegType(IntEnum):
    NONE = 0
    SZ = 1
    EXPAND_SZ = 2
    BINARY = 3
    DWORD = 4
    DWORD_BE = 5
    LINK = 6
    MULTI_SZ = 7
    RESOURCE_LIST = 8
    FULL_RESOURCE_DESCRIPTOR = 9
    RESOURCE_REQUIREMENTS_LIST = 10
    QWORD = 11


def upper_name(name: str) -> str:
    """Uppercase one UTF-16 unit at a time, like RtlUpcaseUnicodeChar (never changes length)."""
    if name.isascii():
        return name.upper()
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in name)


@dataclass(frozen=True, slots=True)
class Value:
    """A registry value: name ("" = default value), registry type code, raw data bytes."""

    name: str
    type: int
    data: bytes
    vk_offset: int | None = field(default=None, compare=False, repr=False)

    def as_python(self) -> str | int | list[str] | bytes:
        """str for SZ/EXPAND_SZ/LINK, int for DWORD/DWORD_BE/QWORD, list for MULTI_SZ, else bytes."""
        return decode_data(self.type, self.data)


def decode_data(vtype: int, data: bytes) -> str | int | list[str] | bytes:
    if vtype in (RegType.SZ, RegType.EXPAND_SZ, RegType.LINK) and len(data) % 2 == 0:
        text = data.decode("utf-16-le", "surrogatepass")
        return text.split("\x00", 1)[0] if vtype != RegType.LINK else text
    if vtype == RegType.DWORD and len(data) == 4:
        return int.from_bytes(data, "little")
    if vtype == RegType.DWORD_BE and len(data) == 4:
        return int.from_bytes(data, "big")
    if vtype == RegType.QWORD and len(data) == 8:
        return int.from_bytes(data, "little")
    if vtype == RegType.MULTI_SZ and len(data) % 2 == 0:
        text = data.decode("utf-16-le", "surrogatepass")
        items = text.split("\x00")
        while items and items[-1] == "":
            items.pop()
        return items
    return bytes(data)


def encode_data(vtype: int, value: str | int | list[str] | bytes | bytearray) -> bytes:
    """Registry bytes for a Python value (strings NUL-terminated, MULTI_SZ double-NUL)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if vtype in (RegType.SZ, RegType.EXPAND_SZ) and isinstance(value, str):
        return (value + "\x00").encode("utf-16-le", "surrogatepass")
    if vtype == RegType.LINK and isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass")
    if vtype == RegType.MULTI_SZ and isinstance(value, list | tuple):
        return "".join(f"{s}\x00" for s in value).encode("utf-16-le", "surrogatepass") + b"\x00\x00"
    try:
        if vtype == RegType.DWORD and isinstance(value, int):
            return value.to_bytes(4, "little")
        if vtype == RegType.DWORD_BE and isinstance(value, int):
            return value.to_bytes(4, "big")
        if vtype == RegType.QWORD and isinstance(value, int):
            return value.to_bytes(8, "little")
    except OverflowError:
        raise UsageError(f"{value} does not fit registry type {vtype}") from None
    raise UsageError(f"cannot store {type(value).__name__} as registry type {vtype}; pass bytes")


class Key:
    """One registry key. Children and values load on first access."""

    __slots__ = (
        "_class_name",
        "_detached",
        "_dirty",
        "_hive",
        "_index",
        "_parent",
        "_subkeys",
        "_timestamp",
        "_upper",
        "_values",
        "access_bits",
        "flags",
        "name",
        "record",
    )

    def __init__(self, hive: Hive, name: str, parent: Key | None, record: NodeRecord | None = None) -> None:
        self._hive = hive
        self.name = name
        self._upper = upper_name(name)
        self._parent = parent
        self.record = record
        self._subkeys: list[Key] | None = None if record else []
        self._index: dict[str, Key] | None = None if record else {}
        self._values: list[Value] | None = None if record else []
        self._dirty = 0
        self._detached = False
        if record is None:
            self.flags = KEY_COMP_NAME
            self.access_bits = 0
            self._timestamp: int | None = None
            self._class_name: str | None = None
        else:
            self.flags = record.flags
            self.access_bits = record.access_bits
            self._timestamp = record.timestamp
            self._class_name = (
                _read(hive, lambda img: img.class_name(record.class_offset, record.class_length))
                if record.class_length
                else None
            )

    # ------------------------------------------------------------ navigation
    @property
    def path(self) -> str:
        """Backslash-joined names below the root ("" for the root itself)."""
        names: list[str] = []
        key: Key | None = self
        while key is not None and key._parent is not None:
            names.append(key.name)
            key = key._parent
        return "\\".join(reversed(names))

    @property
    def parent(self) -> Key | None:
        return self._parent

    @property
    def timestamp(self) -> int | None:
        """Last-written FILETIME; None for a key changed since it was read (stamped at save)."""
        return self._timestamp

    @timestamp.setter
    def timestamp(self, filetime: int | None) -> None:
        self._timestamp = filetime
        self._touch(D_META, restamp=False)

    @property
    def class_name(self) -> str | None:
        return self._class_name

    @class_name.setter
    def class_name(self, value: str | None) -> None:
        self._class_name = value or None
        self._touch(D_META)

    @property
    def subkeys(self) -> list[Key]:
        return list(self._children())

    @property
    def values(self) -> list[Value]:
        return list(self._value_list())

    def subkey(self, name: str) -> Key | None:
        self._children()
        assert self._index is not None
        return self._index.get(upper_name(name))

    def open(self, path: str) -> Key | None:
        key: Key | None = self
        for part in _split(path):
            key = key.subkey(part) if key else None
        return key

    def create(self, path: str) -> Key:
        """Open or create `path` (backslash-separated), creating intermediate keys."""
        key = self
        for part in _split(path):
            child = key.subkey(part)
            if child is None:
                child = key._add_child(part)
            key = child
        return key

    def _add_child(self, name: str) -> Key:
        if len(name) > 255 or not name or "\\" in name:
            raise UsageError(f"invalid key name {name!r} (1 to 255 characters, no backslash)")
        children = self._children()
        child = Key(self._hive, name, self)
        children.append(child)
        assert self._index is not None
        self._index[child._upper] = child
        self._touch(D_SUBKEYS)
        return child

    def delete_subkey(self, name: str, recursive: bool = True, *, missing_ok: bool = False) -> None:
        child = self.subkey(name)
        if child is None:
            if missing_ok:
                return
            raise UsageError(f"key {self._display()} has no subkey {name!r}")
        if not recursive and child._children():
            raise UsageError(f"key {child._display()} has subkeys; delete them first or use recursive")
        assert self._subkeys is not None and self._index is not None
        self._subkeys.remove(child)
        del self._index[child._upper]
        child._detach()
        self._touch(D_SUBKEYS)

    def _detach(self) -> None:
        stack = [self]
        while stack:
            key = stack.pop()
            key._detached = True
            self._hive._dirty.pop(key, None)
            if key.record is not None and key is self:
                self._hive._deleted.append(key.record.offset)
            if key._subkeys:
                stack.extend(key._subkeys)

    # ---------------------------------------------------------------- values
    def get_value(self, name: str) -> Value | None:
        wanted = upper_name(name)
        for value in self._value_list():
            if upper_name(value.name) == wanted:
                return value
        return None

    def set_value(self, name: str, type: int, data: bytes | str | int | list[str]) -> Value:
        """Create or replace a value; `data` is raw bytes, or a Python value encoded for `type`."""
        if not 0 <= int(type) <= 0xFFFFFFFF:
            raise UsageError(f"registry type {type} out of range")
        if len(name) > 16383:
            raise UsageError("value name longer than 16383 characters")
        new = Value(name, int(type), encode_data(int(type), data))
        values = self._value_list()
        wanted = upper_name(name)
        for i, old in enumerate(values):
            if upper_name(old.name) == wanted:
                if old == new and old.name == name:
                    return old
                values[i] = new
                break
        else:
            values.append(new)
        self._touch(D_VALUES)
        return new

    def delete_value(self, name: str, *, missing_ok: bool = False) -> None:
        values = self._value_list()
        wanted = upper_name(name)
        for i, old in enumerate(values):
            if upper_name(old.name) == wanted:
                del values[i]
                self._touch(D_VALUES)
                return
        if not missing_ok:
            raise UsageError(f"key {self._display()} has no value {name!r}")

    # ------------------------------------------------------------- internals
    def walk(self) -> Iterator[Key]:
        """This key and all keys below it, depth first, children in stored order."""
        stack: list[Key] = [self]
        while stack:
            key = stack.pop()
            yield key
            stack.extend(reversed(key._children()))

    def security_descriptor(self) -> bytes | None:
        """The self-relative descriptor of this key's sk cell (None for a key not yet saved)."""
        record = self.record
        if record is None:
            return None
        cache = self._hive._security_cache
        descriptor = cache.get(record.security)
        if descriptor is None:
            descriptor = _read(self._hive, lambda img: img.security(record.security)[0])
            cache[record.security] = descriptor
        return descriptor

    def _touch(self, what: int, *, restamp: bool = True) -> None:
        if self._detached:
            raise UsageError(f"key {self._display()} was deleted")
        self._dirty |= what
        if restamp:
            self._timestamp = None
        if self.record is not None:
            self._hive._dirty[self] = None

    def _display(self) -> str:
        return "\\" + self.path

    def _children(self) -> list[Key]:
        if self._subkeys is None:
            record = self.record
            assert record is not None
            self._subkeys, self._index = _read(self._hive, lambda img: self._load_children(img, record))
        return self._subkeys

    def _load_children(self, image: HiveImage, record: NodeRecord) -> tuple[list[Key], dict[str, Key]]:
        ancestors: set[int] = set()
        depth = 0
        key: Key | None = self
        while key is not None:
            if key.record is not None:
                ancestors.add(key.record.offset)
            key = key._parent
            depth += 1
        if depth > MAX_DEPTH:
            raise FormatError(f"key {self._display()[:200]} is nested deeper than {MAX_DEPTH} levels")
        children: list[Key] = []
        index: dict[str, Key] = {}
        seen = self._hive._loaded_nodes
        for offset in image.subkey_offsets(record.subkeys_list, record.subkey_count):
            if offset in ancestors:
                raise FormatError(f"key node at 0x{offset:x} is its own ancestor (cycle in the key tree)")
            if offset in seen:  # a DAG would make a walk exponential: each nk has exactly one parent
                raise FormatError(f"key node at 0x{offset:x} is listed under more than one parent")
            seen.add(offset)
            child_record = image.node(offset)
            child = Key(self._hive, child_record.name, self, child_record)
            children.append(child)
            index.setdefault(child._upper, child)
        return children, index

    def _value_list(self) -> list[Value]:
        if self._values is None:
            record = self.record
            assert record is not None
            raw = _read(self._hive, lambda img: img.values(record.values_list, record.value_count))
            self._values = [Value(v.name, v.type, v.data, v.offset) for v in raw]
        return self._values

    def __repr__(self) -> str:
        return f"Key({self._display()!r})"


def _split(path: str) -> list[str]:
    return [p for p in path.split("\\") if p]


def _read(hive: Hive, fn):  # type: ignore[no-untyped-def]
    """Run a reader call on the hive's image; any low-level failure becomes FormatError."""
    image = hive._image
    if image is None:
        raise FormatError("key has no backing image")
    try:
        return fn(image)
    except FormatError:
        raise
    except (struct.error, ValueError, IndexError, UnicodeDecodeError, OverflowError, RecursionError) as exc:
        raise FormatError(f"malformed hive: {exc}") from None


class Hive:
    """A registry hive: a tree of keys plus the header facts a writer must keep."""

    def __init__(self, image: HiveImage | None, minor: int, root: Key | None = None) -> None:
        self._image = image
        self.minor = minor
        self._dirty: dict[Key, None] = {}
        self._deleted: list[int] = []
        self._security_cache: dict[int, bytes] = {}
        self._loaded_nodes: set[int] = set()
        self.root: Key = root if root is not None else Key(self, "ROOT", None)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, *, allow_dirty: bool = False) -> Hive:
        """Read a hive from bytes. A dirty hive (unequal sequence numbers) is refused unless
        `allow_dirty` (read-only inspection of the primary file without its logs)."""
        data = bytes(data)
        try:
            image = HiveImage(data, allow_dirty=allow_dirty)
        except (struct.error, ValueError, IndexError) as exc:
            raise FormatError(f"malformed hive: {exc}") from None
        hive = cls(image, image.minor)
        record = _read(hive, lambda img: img.node(img.root_offset))
        hive.root = Key(hive, record.name, None, record)
        hive._loaded_nodes.add(record.offset)
        return hive

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, allow_dirty: bool = False) -> Hive:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise FormatError(f"cannot read hive: {exc.strerror or exc}", path=path) from None
        try:
            return cls.parse(data, allow_dirty=allow_dirty)
        except FormatError as exc:
            raise FormatError(exc.message, path=path) from None

    @classmethod
    def new(cls, root_name: str = "ROOT", minor: int = 3) -> Hive:
        if minor not in (3, 4, 5, 6):
            raise UsageError(f"hive minor version must be 3 to 6, got {minor}")
        hive = cls(None, minor)
        hive.root = Key(hive, root_name, None)
        hive.root.flags = KEY_COMP_NAME | KEY_HIVE_ENTRY | KEY_NO_DELETE
        return hive

    @property
    def is_modified(self) -> bool:
        return bool(self._dirty or self._deleted) or self._image is None
