"""Lossless JSON for BCD stores, so a store can live as reviewable text in git.

Each object lists its elements under their key names with the bcdedit name
and the decoded value. When encoding the decoded value again would not give
the stored bytes (1-byte integers on Microsoft media, odd registry types,
undecodable data) the element also carries `reg_type` + `hex`, which win on
import. Anything outside the BCD schema (Description values such as GuidCache,
keys under an object other than Description\\Type and Elements\\x\\Element,
non-GUID object keys) is kept verbatim in `extra` as a generic key dump. What
is not kept: key timestamps, security descriptors and class names (hivex's
view of the store, which is what tests compare, has none of them).
"""

from __future__ import annotations

from typing import Any

from pebuild.bcd import codec, devices
from pebuild.bcd.elements import ALIAS_OF, ElementFormat, element_format, object_type_name
from pebuild.bcd.store import BcdStore, parse_guid_name
from pebuild.errors import FormatError, PebuildError
from pebuild.hive import Hive, Key, RegType

JSON_FORMAT = "pebuild-bcd"
JSON_VERSION = 1


# ------------------------------------------------------------------ generic keys
def key_to_json(key: Key) -> dict[str, Any]:
    values = []
    for value in key.values:
        entry: dict[str, Any] = {"name": value.name, "type": value.type, "hex": value.data.hex()}
        if value.type in (RegType.SZ, RegType.EXPAND_SZ):
            text = value.as_python()
            if isinstance(text, str) and (text + "\x00").encode("utf-16-le") == value.data:
                entry = {"name": value.name, "type": value.type, "text": text}
        values.append(entry)
    result: dict[str, Any] = {}
    if values:
        result["values"] = values
    if key.subkeys:
        result["keys"] = {child.name: key_to_json(child) for child in key.subkeys}
    return result


def key_from_json(key: Key, dump: dict[str, Any]) -> None:
    for value in dump.get("values", []):
        vtype = int(value["type"])
        data = (
            (value["text"] + "\x00").encode("utf-16-le") if "text" in value else bytes.fromhex(value["hex"])
        )
        key.set_value(value["name"], vtype, data)
    for name, child in dump.get("keys", {}).items():
        key_from_json(key.create(name), child)


# ------------------------------------------------------------------ export
def _json_value(eid: int, value: Any) -> Any:
    fmt = element_format(eid)
    if fmt == ElementFormat.DEVICE:
        text = devices.to_text(value)
        options = getattr(value, "options", None)
        if options in ALIAS_OF and not isinstance(value, devices.RawDevice):
            text = text.replace("{" + str(options) + "}", ALIAS_OF[options])
        return text
    if fmt == ElementFormat.OBJECT:
        return ALIAS_OF.get(value, "{" + str(value) + "}")
    if fmt == ElementFormat.OBJECT_LIST:
        return [ALIAS_OF.get(v, "{" + str(v) + "}") for v in value]
    return value


def _from_json_value(store: BcdStore, eid: int, value: Any) -> Any:
    fmt = element_format(eid)
    if fmt == ElementFormat.DEVICE:
        return devices.parse_text(value, store.resolve)
    if fmt == ElementFormat.OBJECT:
        return store.resolve(value)
    if fmt == ElementFormat.OBJECT_LIST:
        return [store.resolve(v) for v in value]
    return value


def store_to_json(store: BcdStore) -> dict[str, Any]:
    root = store.hive.root
    extra = {"values": key_to_json(root).get("values", [])} if root.values else {}
    other = {k.name: key_to_json(k) for k in root.subkeys if k.name.lower() != "objects"}
    if other:
        extra["keys"] = other
    objects: dict[str, Any] = {}
    for key in sorted(store._objects_key.subkeys, key=lambda k: k.name.lower()):
        objects[key.name] = _object_to_json(store, key)
    document: dict[str, Any] = {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "root": root.name,
        "minor": store.hive.minor,
        "objects": objects,
    }
    if store._objects_key.values:
        document["objects_values"] = key_to_json(store._objects_key).get("values", [])
    if extra:
        document["extra"] = extra
    return document


def _object_to_json(store: BcdStore, key: Key) -> dict[str, Any]:
    guid = parse_guid_name(key.name)
    entry: dict[str, Any] = {}
    if guid is not None and guid in ALIAS_OF:
        entry["alias"] = ALIAS_OF[guid]
    extra_keys: dict[str, Any] = {}
    description = key.subkey("Description")
    obj_type = None
    if description is not None:
        values = description.values
        if (
            len(values) == 1
            and values[0].name == "Type"
            and values[0].type == RegType.DWORD
            and len(values[0].data) == 4
            and not description.subkeys
        ):
            obj_type = int.from_bytes(values[0].data, "little")
            entry["type"] = f"0x{obj_type:08x}"
            entry["type_name"] = object_type_name(obj_type)
        else:
            extra_keys["Description"] = key_to_json(description)
    elements: dict[str, Any] = {}
    container = key.subkey("Elements")
    if container is not None:
        raw_container: dict[str, Any] = {}
        for element_key in sorted(container.subkeys, key=lambda k: k.name.lower()):
            item = _element_to_json(store, obj_type, element_key)
            if item is None:
                raw_container[element_key.name] = key_to_json(element_key)
            else:
                elements[element_key.name] = item
        if raw_container or container.values:
            dump: dict[str, Any] = {"keys": raw_container} if raw_container else {}
            if container.values:
                dump["values"] = key_to_json(container)["values"]
            extra_keys["Elements"] = dump
        entry["elements"] = elements
    for child in key.subkeys:
        if child.name not in ("Description", "Elements"):
            extra_keys[child.name] = key_to_json(child)
    if key.values:
        entry["values"] = key_to_json(key)["values"]
    if extra_keys:
        entry["extra"] = extra_keys
    return entry


def _element_to_json(store: BcdStore, obj_type: int | None, element_key: Key) -> dict[str, Any] | None:
    name = element_key.name
    try:
        eid = int(name, 16)
    except ValueError:
        return None
    values = element_key.values
    if len(name) != 8 or element_key.subkeys or len(values) != 1 or values[0].name != "Element":
        return None
    value = values[0]
    from pebuild.bcd.elements import element_name

    item: dict[str, Any] = {}
    label = element_name(eid, obj_type)
    if label:
        item["name"] = label
    lossless = False
    try:
        decoded = codec.decode_value(eid, value.type, value.data)
        item["value"] = _json_value(eid, decoded)
        lossless = codec.encode_value(eid, _from_json_value(store, eid, item["value"])) == (
            value.type,
            value.data,
        )
    except PebuildError:
        item.pop("value", None)
    if not lossless:
        item["reg_type"] = value.type
        item["hex"] = value.data.hex()
    return item


# ------------------------------------------------------------------ import
def store_from_json(document: dict[str, Any]) -> BcdStore:
    try:
        return _store_from_json(document)
    except PebuildError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FormatError(f"not a valid pebuild BCD JSON document: {type(exc).__name__}: {exc}") from None


def _store_from_json(document: dict[str, Any]) -> BcdStore:
    if not isinstance(document, dict) or document.get("format") != JSON_FORMAT:
        raise FormatError(f"not a pebuild BCD JSON document (format must be {JSON_FORMAT!r})")
    if document.get("version") != JSON_VERSION:
        raise FormatError(f"unsupported pebuild BCD JSON version {document.get('version')!r}")
    hive = Hive.new(str(document.get("root", "NewStoreRoot")), minor=int(document.get("minor", 3)))
    extra = document.get("extra", {})
    key_from_json(hive.root, {"values": extra.get("values", []), "keys": extra.get("keys", {})})
    objects_key = hive.root.create("Objects")
    key_from_json(objects_key, {"values": document.get("objects_values", [])})
    store = BcdStore(hive)
    for name, entry in document["objects"].items():
        _object_from_json(store, objects_key.create(name), entry)
    return store


def _object_from_json(store: BcdStore, key: Key, entry: dict[str, Any]) -> None:
    extra = entry.get("extra", {})
    if "type" in entry:
        key.create("Description").set_value("Type", RegType.DWORD, int(entry["type"], 16))
    elif "Description" in extra:
        key_from_json(key.create("Description"), extra["Description"])
    if "elements" in entry or "Elements" in extra:
        container = key.create("Elements")
        for name, item in entry.get("elements", {}).items():
            eid = int(name, 16)
            if "hex" in item:
                vtype, data = int(item["reg_type"]), bytes.fromhex(item["hex"])
            else:
                vtype, data = codec.encode_value(eid, _from_json_value(store, eid, item["value"]))
            container.create(name).set_value("Element", vtype, data)
        if "Elements" in extra:
            key_from_json(container, extra["Elements"])
    for child, dump in extra.items():
        if child not in ("Description", "Elements"):
            key_from_json(key.create(child), dump)
    key_from_json(key, {"values": entry.get("values", [])})
