"""Element value codecs: registry bytes <-> Python values <-> bcdedit text (formats.md §2.3).

Integers are read from 1 to 8 stored bytes (Microsoft media stores hold 1- and
3-byte integers, O1/O2) and written as 8 bytes like bcdedit; booleans are one
byte; objects are "{guid}" REG_SZ strings, object lists REG_MULTI_SZ.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from pebuild.bcd import devices
from pebuild.bcd.elements import ELEMENTS, ElementFormat, element_format
from pebuild.errors import FormatError, UsageError
from pebuild.hive import RegType

REGISTRY_TYPE: dict[int, int] = {
    ElementFormat.DEVICE: RegType.BINARY,
    ElementFormat.STRING: RegType.SZ,
    ElementFormat.OBJECT: RegType.SZ,
    ElementFormat.OBJECT_LIST: RegType.MULTI_SZ,
    ElementFormat.INTEGER: RegType.BINARY,
    ElementFormat.BOOLEAN: RegType.BINARY,
    ElementFormat.INTEGER_LIST: RegType.BINARY,
}
FORMAT_NAMES = {f.value: f.name.lower().replace("_", " ") for f in ElementFormat}
Resolver = Callable[[str], uuid.UUID]


def _reg_name(vtype: int) -> str:
    try:
        return "REG_" + RegType(vtype).name
    except ValueError:
        return f"type {vtype}"


def decode_value(element_id: int, vtype: int, data: bytes) -> Any:
    """The Python value of an element; FormatError if the stored bytes do not fit its format."""
    fmt = element_format(element_id)
    expected = REGISTRY_TYPE.get(fmt)
    if expected is None:
        raise FormatError(f"element {element_id:08x} has unknown format {fmt}")
    if vtype != expected:
        raise FormatError(
            f"element {element_id:08x} ({FORMAT_NAMES[fmt]}) is stored as {_reg_name(vtype)}, "
            f"expected {_reg_name(expected)}"
        )
    if fmt == ElementFormat.DEVICE:
        return devices.decode(data)
    if fmt in (ElementFormat.STRING, ElementFormat.OBJECT, ElementFormat.OBJECT_LIST):
        if len(data) % 2:
            raise FormatError(f"element {element_id:08x}: odd-length UTF-16 string")
        text = data.decode("utf-16-le", "replace")
        if fmt == ElementFormat.OBJECT_LIST:
            return [_guid(element_id, s) for s in text.split("\x00") if s]
        text = text.split("\x00", 1)[0]
        return _guid(element_id, text) if fmt == ElementFormat.OBJECT else text
    if fmt == ElementFormat.INTEGER:
        if not 1 <= len(data) <= 8:
            raise FormatError(f"element {element_id:08x}: integer of {len(data)} bytes (1 to 8)")
        return int.from_bytes(data, "little")
    if fmt == ElementFormat.BOOLEAN:
        if not 1 <= len(data) <= 8:
            raise FormatError(f"element {element_id:08x}: boolean of {len(data)} bytes")
        return any(data)
    if len(data) % 8:
        raise FormatError(f"element {element_id:08x}: integer list of {len(data)} bytes (multiple of 8)")
    return [int.from_bytes(data[i : i + 8], "little") for i in range(0, len(data), 8)]


def _guid(element_id: int, text: str) -> uuid.UUID:
    try:
        if not (text.startswith("{") and text.endswith("}")):
            raise ValueError
        return uuid.UUID(text)
    except ValueError:
        raise FormatError(f"element {element_id:08x}: {text[:60]!r} is not an object GUID") from None


def encode_value(element_id: int, value: Any) -> tuple[int, bytes]:
    """(registry type, bytes) for a Python value of the element's format."""
    fmt = element_format(element_id)
    vtype = REGISTRY_TYPE.get(fmt)
    if vtype is None:
        raise UsageError(f"element {element_id:08x} has unknown format {fmt}; set it with hex")
    try:
        if fmt == ElementFormat.DEVICE:
            return vtype, devices.encode(value)
        if fmt == ElementFormat.STRING:
            return vtype, (str(value) + "\x00").encode("utf-16-le")
        if fmt == ElementFormat.OBJECT:
            return vtype, ("{" + str(uuid.UUID(str(value))) + "}\x00").encode("utf-16-le")
        if fmt == ElementFormat.OBJECT_LIST:
            text = "".join("{" + str(uuid.UUID(str(v))) + "}\x00" for v in value)
            return vtype, (text + "\x00").encode("utf-16-le")
        if fmt == ElementFormat.INTEGER:
            return vtype, int(value).to_bytes(8, "little")
        if fmt == ElementFormat.BOOLEAN:
            return vtype, b"\x01" if value else b"\x00"
        return vtype, b"".join(int(v).to_bytes(8, "little") for v in value)
    except (ValueError, OverflowError, TypeError, AttributeError) as exc:
        raise UsageError(f"bad value {value!r} for element {element_id:08x}: {exc}") from None


_TRUE = {"yes", "on", "true", "1"}
_FALSE = {"no", "off", "false", "0"}


def parse_text(element_id: int, text: str, resolve: Resolver) -> Any:
    """A bcdedit-style text value -> Python value of the element's format (UsageError if bad)."""
    fmt = element_format(element_id)
    definition = ELEMENTS.get(element_id)
    what = f"{definition.name if definition else f'{element_id:08x}'} ({FORMAT_NAMES.get(fmt, fmt)})"
    if fmt == ElementFormat.STRING:
        return text
    if fmt == ElementFormat.DEVICE:
        return devices.parse_text(text, resolve)
    text = text.strip()
    if fmt == ElementFormat.OBJECT:
        return resolve(text)
    if fmt == ElementFormat.OBJECT_LIST:
        return [resolve(part) for part in text.replace(",", " ").split()]
    if fmt == ElementFormat.BOOLEAN:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise UsageError(f"{what} takes yes/no/on/off/true/false, not {text!r}")
    if fmt == ElementFormat.INTEGER:
        choices = dict(definition.choices) if definition else {}
        if text.lower() in choices:
            return choices[text.lower()]
        return _int(text, what, choices)
    if fmt == ElementFormat.INTEGER_LIST:
        return [_int(part, what, {}) for part in text.replace(",", " ").split()]
    raise UsageError(f"element {element_id:08x} has unknown format {fmt}; set it with hex:...")


def _int(text: str, what: str, choices: dict[str, int]) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        hint = f" or one of {', '.join(choices)}" if choices else ""
        raise UsageError(f"{what} takes an integer{hint}, not {text!r}") from None
    if not 0 <= value < 1 << 64:
        raise UsageError(f"{what}: {value} does not fit 64 bits")
    return value


def to_display(element_id: int, value: Any, alias_of: Callable[[uuid.UUID], str]) -> str:
    """How `bcd show` prints a decoded value."""
    fmt = element_format(element_id)
    if fmt == ElementFormat.DEVICE:
        if isinstance(value, devices.LocateDevice) and len(value.tail.rstrip(b"\0")) > 32:
            return (
                f"locate=custom:{value.element:08x} (+{len(value.tail)} bytes of nested device; see --json)"
            )
        text = devices.to_text(value)
        options = getattr(value, "options", None)
        return text.replace("{" + str(options) + "}", alias_of(options)) if options else text
    if fmt == ElementFormat.OBJECT:
        return alias_of(value)
    if fmt == ElementFormat.OBJECT_LIST:
        return " ".join(alias_of(v) for v in value) if value else "(empty)"
    if fmt == ElementFormat.BOOLEAN:
        return "Yes" if value else "No"
    if fmt == ElementFormat.INTEGER:
        definition = ELEMENTS.get(element_id)
        for name, number in definition.choices if definition else ():
            if number == value:
                return name.capitalize()
        return str(value)
    if fmt == ElementFormat.INTEGER_LIST:
        return " ".join(str(v) for v in value)
    return str(value)
