"""A BCD store on top of a hive (formats.md §2.1): objects by GUID, elements by type.

Layout: `<root>\\Description\\KeyName`, `<root>\\Objects\\{guid}\\Description\\Type`,
`<root>\\Objects\\{guid}\\Elements\\xxxxxxxx\\Element`. The store edits the hive in
place, so keys and values it does not understand (GuidCache, unknown objects
and element types, odd registry types) stay exactly as they were.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pebuild.bcd import codec
from pebuild.bcd.elements import (
    ALIAS_OF,
    ALIASES,
    VIRTUAL_ALIASES,
    element_id,
    element_name,
)
from pebuild.errors import FormatError, UsageError
from pebuild.hive import Hive, Key, RegType, SaveMode, Value, serialize_hive

BOOTMGR = ALIASES["{bootmgr}"]
DEFAULT_ELEMENT = 0x23000003


@dataclass
class BcdObject:
    """One object: its GUID, type code (None if Description\\Type is missing) and raw elements."""

    id: uuid.UUID
    type: int | None
    elements: dict[int, Value] = field(default_factory=dict)
    key_name: str = ""


def guid_key_name(guid: uuid.UUID) -> str:
    return "{" + str(guid) + "}"


def parse_guid_name(name: str) -> uuid.UUID | None:
    if len(name) == 38 and name.startswith("{") and name.endswith("}"):
        try:
            return uuid.UUID(name)
        except ValueError:
            return None
    return None


class BcdStore:
    """bcdedit's model of a store: resolve, get, set, delete, JSON, serialize."""

    def __init__(self, hive: Hive, timestamp: int | None = None) -> None:
        self.hive = hive
        #: used by serialize()/write() when they get no timestamp (presets.create(..., timestamp=T))
        self.timestamp = timestamp
        objects = hive.root.subkey("Objects")
        if objects is None:
            raise FormatError("not a BCD store: the hive has no Objects key")
        self._objects_key = objects

    # ------------------------------------------------------------ open/new
    @classmethod
    def parse(cls, data: bytes) -> BcdStore:
        return cls(Hive.parse(data))

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> BcdStore:
        hive = Hive.open(path)
        try:
            return cls(hive)
        except FormatError as exc:
            raise FormatError(exc.message, path=path) from None

    @classmethod
    def new(cls, root_name: str = "NewStoreRoot", key_name: str = "BCD00000001") -> BcdStore:
        """An empty store like `bcdedit /createstore` (regf 1.3, Description\\KeyName, Objects)."""
        hive = Hive.new(root_name, minor=3)
        hive.root.create("Description").set_value("KeyName", RegType.SZ, key_name)
        hive.root.create("Objects")
        return cls(hive)

    # ------------------------------------------------------------ objects
    @property
    def objects(self) -> dict[uuid.UUID, BcdObject]:
        result: dict[uuid.UUID, BcdObject] = {}
        for key in self._objects_key.subkeys:
            guid = parse_guid_name(key.name)
            if guid is None:
                continue
            result[guid] = self._object(key, guid)
        return result

    def _object(self, key: Key, guid: uuid.UUID) -> BcdObject:
        type_value = key.open("Description")
        type_value = type_value.get_value("Type") if type_value else None
        obj_type = None
        if type_value is not None and type_value.type == RegType.DWORD and len(type_value.data) == 4:
            obj_type = int.from_bytes(type_value.data, "little")
        elements: dict[int, Value] = {}
        container = key.subkey("Elements")
        for element_key in container.subkeys if container else []:
            try:
                eid = int(element_key.name, 16)
            except ValueError:
                continue
            value = element_key.get_value("Element")
            if value is not None and len(element_key.name) == 8:
                elements[eid] = value
        return BcdObject(guid, obj_type, elements, key.name)

    def object_key(self, obj_id: uuid.UUID) -> Key | None:
        return self._objects_key.subkey(guid_key_name(obj_id))

    def object_type(self, obj_id: uuid.UUID) -> int | None:
        key = self.object_key(obj_id)
        if key is None:
            return None
        return self._object(key, obj_id).type

    def resolve(self, ident: str | uuid.UUID) -> uuid.UUID:
        """A GUID for '{bootmgr}'-style aliases, '{default}'/'{current}' or '{guid}' text."""
        if isinstance(ident, uuid.UUID):
            return ident
        text = ident.strip().lower()
        if not text.startswith("{"):
            text = "{" + text + "}"
        if text in ALIASES:
            return ALIASES[text]
        if text in VIRTUAL_ALIASES:
            target = self._default_target()
            if target is None:
                raise UsageError(f"{text} is not set: {{bootmgr}} has no default element")
            return target
        guid = parse_guid_name(text)
        if guid is None:
            known = ", ".join(sorted(set(ALIASES) | set(VIRTUAL_ALIASES)))
            raise UsageError(f"unknown object identifier {ident!r} (a {{guid}} or one of {known})")
        return guid

    def _default_target(self) -> uuid.UUID | None:
        key = self.object_key(BOOTMGR)
        if key is None:
            return None
        value = self._element_key(key, DEFAULT_ELEMENT)
        value = value.get_value("Element") if value else None
        if value is None:
            return None
        try:
            result = codec.decode_value(DEFAULT_ELEMENT, value.type, value.data)
        except FormatError:
            return None
        return result if isinstance(result, uuid.UUID) else None

    def alias_of(self, guid: uuid.UUID | None) -> str:
        if guid is None:
            return ""
        return ALIAS_OF.get(guid, guid_key_name(guid))

    def element_id(self, obj_id: uuid.UUID, name: str | int) -> int:
        if isinstance(name, int):
            return name
        eid = element_id(name, self.object_type(obj_id))
        if eid is None:
            raise UsageError(f"unknown element name {name!r} (a bcdedit name like timeout, or 8 hex digits)")
        return eid

    # ------------------------------------------------------------ elements
    def _require(self, obj_id: uuid.UUID) -> Key:
        key = self.object_key(obj_id)
        if key is None:
            raise UsageError(f"the store has no object {self.alias_of(obj_id)}")
        return key

    @staticmethod
    def _element_key(key: Key, eid: int) -> Key | None:
        return key.open(f"Elements\\{eid:08x}")

    def get(self, obj_id: uuid.UUID | str, element: str | int) -> Any:
        """The decoded value (devices as dataclasses, objects as UUIDs); None if absent."""
        guid = self.resolve(obj_id)
        eid = self.element_id(guid, element)
        element_key = self._element_key(self._require(guid), eid)
        value = element_key.get_value("Element") if element_key else None
        if value is None:
            return None
        return codec.decode_value(eid, value.type, value.data)

    def set(self, obj_id: uuid.UUID | str, element: str | int, value: Any) -> None:
        """Set an element from bcdedit-style text ("30", "yes", "ramdisk=[boot]\\x,{guid}") or a
        Python value of its format."""
        guid = self.resolve(obj_id)
        eid = self.element_id(guid, element)
        key = self._require(guid)
        if isinstance(value, str):
            value = codec.parse_text(eid, value, self.resolve)
        vtype, data = codec.encode_value(eid, value)
        key.create(f"Elements\\{eid:08x}").set_value("Element", vtype, data)

    def set_raw(self, obj_id: uuid.UUID, eid: int, vtype: int, data: bytes) -> None:
        self._require(obj_id).create(f"Elements\\{eid:08x}").set_value("Element", vtype, data)

    def delete(self, obj_id: uuid.UUID | str, element: str | int | None = None) -> None:
        """Delete an element, or the whole object when `element` is None."""
        guid = self.resolve(obj_id)
        key = self._require(guid)
        if element is None:
            self._objects_key.delete_subkey(key.name)
            return
        eid = self.element_id(guid, element)
        elements = key.subkey("Elements")
        if elements is None or elements.subkey(f"{eid:08x}") is None:
            raise UsageError(f"object {self.alias_of(guid)} has no element {element}")
        elements.delete_subkey(f"{eid:08x}")

    def create_object(self, obj_id: uuid.UUID | str, obj_type: int) -> uuid.UUID:
        guid = self.resolve(obj_id)
        if self.object_key(guid) is not None:
            raise UsageError(f"object {self.alias_of(guid)} already exists")
        key = self._objects_key.create(guid_key_name(guid))
        key.create("Description").set_value("Type", RegType.DWORD, obj_type)
        key.create("Elements")
        return guid

    def element_label(self, obj: BcdObject, eid: int) -> str:
        return element_name(eid, obj.type) or f"{eid:08x}"

    # ------------------------------------------------------------ output
    def serialize(self, timestamp: int | None = None, mode: SaveMode = "compact") -> bytes:
        return serialize_hive(self.hive, mode, timestamp if timestamp is not None else self.timestamp)

    def write(
        self, path: str | os.PathLike[str], timestamp: int | None = None, mode: SaveMode = "compact"
    ) -> None:
        from pebuild.fsutil import write_bytes_atomic

        write_bytes_atomic(Path(path), self.serialize(timestamp, mode))
