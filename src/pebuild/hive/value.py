"""Registry values: `RegType`, `Value` and the conversions between Python values and registry bytes (S1)."""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from pebuild.errors import UsageError


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


class Value(NamedTuple):
    """A registry value: name ("" = default value), registry type code, raw data bytes.

    `vk_offset` is the cell it was read from (not part of equality). `tombstone` marks a
    deletion in a regf 1.6 differencing (layered) hive: the value hides the same name in
    the layer below (S1 "Key value" flags 0x0002); `Key.values` does not list tombstones,
    they are kept and written back as such. A NamedTuple rather than a frozen dataclass:
    a full walk of a SYSTEM hive creates ~90k of them and this is 4x cheaper to build."""

    name: str
    type: int
    data: bytes
    vk_offset: int | None = None
    tombstone: bool = False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Value):
            return NotImplemented
        return (
            self.name == other.name
            and self.type == other.type
            and self.data == other.data
            and self.tombstone == other.tombstone
        )

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash((self.name, self.type, self.data, self.tombstone))

    def __repr__(self) -> str:
        mark = ", tombstone=True" if self.tombstone else ""
        return f"Value(name={self.name!r}, type={self.type!r}, data={self.data!r}{mark})"

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
