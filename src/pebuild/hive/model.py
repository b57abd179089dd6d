"""The hive model: `Hive` and `Key` (S1, S2; formats.md §1); values live in `value.py`.

Keys read from a file are decoded lazily: a key's values and subkeys are read
from the image the first time they are asked for, so opening a 30 MB SOFTWARE
hive to change one value touches only the keys on that path. Edits mark the
key dirty; `writer.serialize(hive, mode="preserve")` patches only dirty keys into a copy of
the original bins (everything else keeps its bytes), `mode="compact"` lays the
whole tree out fresh and deterministically.

Names compare as Windows compares them: upper-cased one UTF-16 unit at a time
(`upcase.py`). A dirty hive is recovered from its transaction logs (`log.py`)
when they are given (`Hive.open` finds them beside the file).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

from pebuild.errors import FormatError, UsageError
from pebuild.hive._structs import (
    KEY_COMP_NAME,
    KEY_HIVE_ENTRY,
    KEY_NO_DELETE,
    LAYER_SEMANTICS_MASK,
    LAYER_TOMBSTONE,
)
from pebuild.hive.log import LogFile, Replay, find_logs, recover
from pebuild.hive.reader import HiveImage, NodeRecord, RawNode, RawValue
from pebuild.hive.upcase import upcase
from pebuild.hive.value import RegType, Value, decode_data, encode_data

__all__ = ["Hive", "Key", "RegType", "SaveMode", "Value", "decode_data", "encode_data", "upper_name"]

SaveMode = Literal["compact", "preserve"]
MAX_DEPTH = 512  # Windows refuses deeper key paths (S5); also bounds recursion on hostile input

D_VALUES = 1
D_SUBKEYS = 2
D_META = 4
_UNREAD = object()
_EMPTY: tuple[()] = ()
_new_tuple = tuple.__new__  # a loaded key without subkeys or values shares this (no list per key)


def upper_name(name: str) -> str:
    """Windows' upper-cased name, one UTF-16 unit per character (see upcase.py)."""
    return upcase(name)


class Key:
    """One registry key. Children and values load on first access."""

    # `_rec` is the key node as read, a plain tuple in NodeRecord's field order (`record`
    # makes the NamedTuple): the garbage collector stops tracking a tuple of atoms, so a
    # walk of ~45k keys leaves it half the objects to traverse (docs/perf/hive.md).
    __slots__ = (
        "_class_name",
        "_depth",
        "_detached",
        "_dirty",
        "_hive",
        "_index",
        "_offset",
        "_parent",
        "_rec",
        "_subkeys",
        "_timestamp",
        "_upper",
        "_values",
        "access_bits",
        "flags",
        "name",
    )

    def __init__(
        self, hive: Hive, name: str, parent: Key | None, record: RawNode | None = None, depth: int = -1
    ) -> None:
        self._hive = hive
        self.name = name
        self._upper: str | None = None
        self._parent = parent
        self._depth = depth if depth >= 0 else (0 if parent is None else parent._depth + 1)
        self._index: dict[str, Key] | None = None
        self._dirty = 0
        self._detached = False
        self._rec = record
        if record is None:
            self._offset: int | None = None
            self._subkeys: list[Key] | tuple[()] | None = []
            self._values: Sequence[RawValue] | list[Value] | None = []
            self.flags = KEY_COMP_NAME
            self.access_bits = 0
            self._timestamp: int | None = None
            self._class_name: object = None
        else:
            self._offset, self.flags, self._timestamp, self.access_bits = record[:4]
            self._subkeys = None if record[5] else _EMPTY
            self._values = None if record[7] else _EMPTY
            self._class_name = _UNREAD if record[11] else None

    @property
    def record(self) -> NodeRecord | None:
        """The key node this key was read from (None for a key created since)."""
        return None if self._rec is None else NodeRecord._make(self._rec)

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
    def upper(self) -> str:
        """The name as Windows compares it (upper-cased UTF-16 units)."""
        if self._upper is None:
            self._upper = upcase(self.name)
        return self._upper

    @property
    def is_tombstone(self) -> bool:
        """A regf 1.6 tombstone key: it marks a deletion in a differencing hive (S1 "Layered keys")."""
        return self._hive.minor >= 6 and self.access_bits & LAYER_SEMANTICS_MASK == LAYER_TOMBSTONE

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
        if self._class_name is _UNREAD:
            off, length = self._rec[10], self._rec[11]
            self._class_name = _read(self._hive, lambda img: img.class_name(off, length))
        return self._class_name  # type: ignore[return-value]

    @class_name.setter
    def class_name(self, value: str | None) -> None:
        self._class_name = value or None
        self._touch(D_META)

    @property
    def subkeys(self) -> list[Key]:
        """Subkeys in stored order (a differencing hive's tombstones are not listed)."""
        children = self._children()
        if self._hive.minor >= 6:
            return [c for c in children if not c.is_tombstone]
        return list(children)

    @property
    def deleted_subkeys(self) -> list[str]:
        """Names this key's layer deletes (regf 1.6 tombstone keys)."""
        return [c.name for c in self._children() if c.is_tombstone] if self._hive.minor >= 6 else []

    @property
    def values(self) -> list[Value]:
        """Values in stored order (a differencing hive's tombstones are not listed)."""
        new = _new_tuple
        if self._hive.minor < 6:
            return [new(Value, v) for v in self._value_list()]
        return [new(Value, v) for v in self._value_list() if not v[4]]

    @property
    def deleted_values(self) -> list[str]:
        """Value names this key's layer deletes (regf 1.6 tombstone values)."""
        return [v[0] for v in self._value_list() if v[4]]

    def subkey(self, name: str) -> Key | None:
        return self._lookup().get(upcase(name))

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

    def _lookup(self) -> dict[str, Key]:
        if self._index is None:
            index: dict[str, Key] = {}
            for child in self._children():
                if not child.is_tombstone:
                    index.setdefault(child.upper, child)
            self._index = index
        return self._index

    def _add_child(self, name: str) -> Key:
        if len(name) > 255 or not name or "\\" in name:
            raise UsageError(f"invalid key name {name!r} (1 to 255 characters, no backslash)")
        children = self._mutable_children()
        wanted = upcase(name)
        for old in [c for c in children if c.is_tombstone and c.upper == wanted]:
            children.remove(old)  # creating a key over its tombstone replaces the tombstone
            old._detach()
        child = Key(self._hive, name, self)
        children.append(child)
        self._lookup()[child.upper] = child
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
        self._mutable_children().remove(child)
        del self._lookup()[child.upper]
        child._detach()
        self._touch(D_SUBKEYS)

    def _detach(self) -> None:
        stack = [self]
        while stack:
            key = stack.pop()
            key._detached = True
            self._hive._dirty.pop(key, None)
            if key._offset is not None and key is self:
                self._hive._deleted.append(key._offset)
            if key._subkeys:
                stack.extend(key._subkeys)

    # ---------------------------------------------------------------- values
    def get_value(self, name: str) -> Value | None:
        wanted = upcase(name)
        for value in self._value_list():
            if not value[4] and upcase(value[0]) == wanted:
                return _new_tuple(Value, value)
        return None

    def set_value(self, name: str, type: int, data: bytes | str | int | list[str]) -> Value:
        """Create or replace a value; `data` is raw bytes, or a Python value encoded for `type`.
        Setting a name a differencing hive's layer deletes replaces that tombstone."""
        if not 0 <= int(type) <= 0xFFFFFFFF:
            raise UsageError(f"registry type {type} out of range")
        if len(name) > 16383:
            raise UsageError("value name longer than 16383 characters")
        new = Value(name, int(type), encode_data(int(type), data))
        values = self._mutable_values()
        wanted = upcase(name)
        for i, old in enumerate(values):
            if upcase(old.name) == wanted:
                if old == new and old.name == name:
                    return old
                values[i] = new
                break
        else:
            values.append(new)
        self._touch(D_VALUES)
        return new

    def delete_value(self, name: str, *, missing_ok: bool = False) -> None:
        values = self._mutable_values()
        wanted = upcase(name)
        for i, old in enumerate(values):
            if not old.tombstone and upcase(old.name) == wanted:
                del values[i]
                self._touch(D_VALUES)
                return
        if not missing_ok:
            raise UsageError(f"key {self._display()} has no value {name!r}")

    # ------------------------------------------------------------- internals
    def walk(self) -> Iterator[Key]:
        """This key and all keys below it, depth first, children in stored order (no tombstones)."""
        stack: list[Key] = [self]
        layered = self._hive.minor >= 6
        while stack:
            key = stack.pop()
            yield key
            children = key._children()
            if layered:
                children = [c for c in children if not c.is_tombstone]
            stack.extend(reversed(children))

    def security_descriptor(self) -> bytes | None:
        """The self-relative descriptor of this key's sk cell (None for a key not yet saved)."""
        if self._rec is None:
            return None
        sk = self._rec[9]
        cache = self._hive._security_cache
        descriptor = cache.get(sk)
        if descriptor is None:
            descriptor = _read(self._hive, lambda img: img.security(sk)[0])
            cache[sk] = descriptor
        return descriptor

    def _touch(self, what: int, *, restamp: bool = True) -> None:
        if self._detached:
            raise UsageError(f"key {self._display()} was deleted")
        self._dirty |= what
        if restamp:
            self._timestamp = None
        if self._offset is not None:
            self._hive._dirty[self] = None

    def _display(self) -> str:
        return "\\" + self.path

    def _children(self) -> list[Key] | tuple[()]:
        """All child keys, tombstones included (what the writer lays out)."""
        subkeys = self._subkeys
        if subkeys is None:
            hive = self._hive
            assert hive._image is not None
            try:
                subkeys = self._subkeys = self._load_children(hive._image)
            except _LOW_LEVEL as exc:
                raise _as_format_error(hive, exc) from None
        return subkeys

    def _mutable_children(self) -> list[Key]:
        children = self._children()
        if not isinstance(children, list):
            children = self._subkeys = []
        return children

    def _load_children(self, image: HiveImage) -> list[Key]:
        depth = self._depth + 1
        if depth > MAX_DEPTH:
            raise FormatError(f"key {self._display()[:200]} is nested deeper than {MAX_DEPTH} levels")
        hive = self._hive
        seen = hive._loaded_nodes
        node = image.node
        children: list[Key] = []
        rec = self._rec
        for offset in image.subkey_offsets(rec[6], rec[5]):
            if offset in seen:  # each nk has exactly one parent: a repeat is a cycle or a DAG
                raise FormatError(self._repeat_message(offset))
            seen.add(offset)
            child_record = node(offset)
            children.append(Key(hive, child_record[-1], self, child_record, depth))
        return children

    def _repeat_message(self, offset: int) -> str:
        key: Key | None = self
        while key is not None:
            if key._offset == offset:
                return f"key node at 0x{offset:x} is its own ancestor (cycle in the key tree)"
            key = key._parent
        return f"key node at 0x{offset:x} is listed under more than one parent"

    def _value_list(self) -> Sequence[RawValue] | list[Value]:
        """All values, tombstones included: plain tuples as read, or `Value`s once edited."""
        values = self._values
        if values is None:
            hive = self._hive
            assert hive._image is not None
            try:
                values = self._values = hive._image.values(self._rec[8], self._rec[7])
            except _LOW_LEVEL as exc:
                raise _as_format_error(hive, exc) from None
        return values

    def _mutable_values(self) -> list[Value]:
        values = self._value_list()
        if not isinstance(values, list):
            new = _new_tuple
            values = self._values = [new(Value, v) for v in values]
        return values

    def _value_objects(self) -> list[Value]:
        """All values (tombstones too) as `Value` objects, for the writer."""
        new = _new_tuple
        return [v if type(v) is Value else new(Value, v) for v in self._value_list()]

    def __repr__(self) -> str:
        return f"Key({self._display()!r})"


def _split(path: str) -> list[str]:
    return [p for p in path.split("\\") if p]


_LOW_LEVEL = (
    FormatError,
    struct.error,
    ValueError,
    IndexError,
    UnicodeDecodeError,
    OverflowError,
    RecursionError,
)


def _as_format_error(hive: Hive, exc: Exception) -> FormatError:
    """A reader failure as FormatError naming the hive file (docs/exit-codes.md: `path: message`)."""
    if isinstance(exc, FormatError):
        return (
            exc if exc.path is not None or hive.source is None else FormatError(exc.message, path=hive.source)
        )
    return FormatError(f"malformed hive: {exc}", path=hive.source)


def _read(hive: Hive, fn):  # type: ignore[no-untyped-def]
    """Run a reader call on the hive's image; any failure becomes FormatError naming the hive file."""
    image = hive._image
    if image is None:
        raise FormatError("key has no backing image", path=hive.source)
    try:
        return fn(image)
    except _LOW_LEVEL as exc:
        raise _as_format_error(hive, exc) from None


LogsArg = Iterable[LogFile] | Mapping[str, bytes] | None


class Hive:
    """A registry hive: a tree of keys plus the header facts a writer must keep.

    `source` names the file (or image path) in error messages. `replay` says what
    transaction-log recovery did (None: the hive was clean); `log_names` are the
    logs found beside it, which a save onto the same file empties. `read_only` is
    the reason a hive may not be written (a dirty hive opened with allow_dirty)."""

    def __init__(self, image: HiveImage | None, minor: int, root: Key | None = None) -> None:
        self._image = image
        self.minor = minor
        self._dirty: dict[Key, None] = {}
        self._deleted: list[int] = []
        self._security_cache: dict[int, bytes] = {}
        self._loaded_nodes: set[int] = set()
        self.source: str | None = None
        self.replay: Replay | None = None
        self.log_names: list[str] = []
        self.read_only: str | None = None
        self.checked = False  # check.check_image passed on this image
        self.root: Key = root if root is not None else Key(self, "ROOT", None)

    @classmethod
    def parse(
        cls,
        data: bytes | bytearray | memoryview,
        *,
        allow_dirty: bool = False,
        logs: LogsArg = None,
        source: str | os.PathLike[str] | None = None,
    ) -> Hive:
        """Read a hive from bytes. A dirty hive (unequal sequence numbers, or a bad header
        checksum) is recovered from `logs` (LogFile items, or {file name: bytes}) as Windows
        would; one that cannot be recovered is refused unless `allow_dirty` (read-only
        inspection of the primary file as it is: such a hive cannot be saved)."""
        where = None if source is None else str(source)
        data = bytes(data)
        log_files = _log_files(logs)
        recovered, replay = recover(data, log_files)
        read_only = None
        if replay is not None and not replay.recovered:
            message = _dirty_message(data, log_files, replay)
            if not allow_dirty:
                raise FormatError(message, path=where)
            read_only = message
        try:
            image = HiveImage(recovered, allow_dirty=read_only is not None)
        except FormatError as exc:
            raise FormatError(exc.message, path=where) from None
        except (struct.error, ValueError, IndexError) as exc:
            raise FormatError(f"malformed hive: {exc}", path=where) from None
        hive = cls(image, image.minor)
        hive.source = where
        hive.replay = replay if replay is not None and replay.recovered else None
        hive.log_names = [lg.name for lg in log_files if lg.data]
        hive.read_only = read_only
        record = _read(hive, lambda img: img.node(img.root_offset))
        hive.root = Key(hive, record[12], None, record)
        hive._loaded_nodes.add(record[0])
        return hive

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, allow_dirty: bool = False, logs: bool = True) -> Hive:
        """Read a hive file; its .LOG1/.LOG2/.LOG beside it (any case) are replayed when it is dirty."""
        try:
            data = Path(path).read_bytes()
            found = [LogFile(p.name, p.read_bytes()) for p in find_logs(path)] if logs else []
        except OSError as exc:
            raise FormatError(f"cannot read hive: {exc.strerror or exc}", path=path) from None
        return cls.parse(data, allow_dirty=allow_dirty, logs=found, source=path)

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
        """True when the tree was edited (a replayed log alone is no edit: the file stays as it is)."""
        return bool(self._dirty or self._deleted) or self._image is None


def _log_files(logs: LogsArg) -> list[LogFile]:
    if logs is None:
        return []
    if isinstance(logs, Mapping):
        return [LogFile(name, bytes(data)) for name, data in logs.items()]
    return list(logs)


def _dirty_message(data: bytes, logs: list[LogFile], replay: Replay) -> str:
    seq1, seq2 = struct.unpack_from("<II", data, 4) if len(data) >= 12 else (0, 0)
    state = f"sequence numbers {seq1} != {seq2}" if seq1 != seq2 else "its header checksum is wrong"
    if not any(lg.data for lg in logs):
        why = "no transaction log (.LOG1/.LOG2/.LOG) with data was found beside it"
    else:
        why = f"its transaction logs hold nothing to replay ({replay.explain()})"
    return (
        f"hive is dirty ({state}): Windows had not finished writing it and {why}; pebuild will not "
        "write such a hive. Read it as it is with --allow-dirty (allow_dirty=True), or load and "
        "unload it once on Windows"
    )
