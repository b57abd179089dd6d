"""`bcdedit /enum all`-style text for a store (used by `pebuild bcd show`)."""

from __future__ import annotations

import uuid

from pebuild.bcd import codec
from pebuild.bcd.elements import ALIAS_OF, KNOWN_GUIDS, object_type_name
from pebuild.bcd.store import BcdObject, BcdStore
from pebuild.errors import FormatError

_ORDER = {alias: i for i, alias in enumerate(("{fwbootmgr}", "{bootmgr}"))}


def _sort_key(obj: BcdObject) -> tuple[int, int, str]:
    alias = ALIAS_OF.get(obj.id, "")
    kind = (obj.type or 0) >> 28
    return (_ORDER.get(alias, 2), kind if kind else 9, str(obj.id))


def format_listing(store: BcdStore) -> str:
    """One block per object: title, identifier, then `name  value` lines, devices decoded."""
    blocks: list[str] = []
    for obj in sorted(store.objects.values(), key=_sort_key):
        blocks.append(_format_object(store, obj))
    odd = [k.name for k in store._objects_key.subkeys if len(k.name) != 38 or k.name[0] != "{"]
    odd += [k.name for k in store._objects_key.subkeys if len(k.name) == 38 and _guid(k.name) is None]
    for name in odd:
        blocks.append(f"(object key {name!r} is not a GUID; kept unchanged)")
    return "\n\n".join(blocks) + "\n"


def _guid(name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(name)
    except ValueError:
        return None


def _format_object(store: BcdStore, obj: BcdObject) -> str:
    title = object_type_name(obj.type) if obj.type is not None else "object without a type"
    lines = [title, "-" * len(title), f"{'identifier':<24}{store.alias_of(obj.id)}"]
    if obj.id in KNOWN_GUIDS:
        lines.append(f"{'':<24}({KNOWN_GUIDS[obj.id]})")
    for eid in sorted(obj.elements):
        value = obj.elements[eid]
        label = store.element_label(obj, eid)
        try:
            decoded = codec.decode_value(eid, value.type, value.data)
            text = codec.to_display(eid, decoded, store.alias_of)
        except FormatError as exc:
            text = f"hex:{value.data.hex()} (undecodable: {exc})"
        lines.append(f"{label:<24}{text}")
    return "\n".join(lines)
