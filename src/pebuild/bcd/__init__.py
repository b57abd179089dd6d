"""BCD stores: bcdedit's model on top of `pebuild.hive` (formats.md §2; B1–B4, O1–O4).

store = presets.create("iso-bios", presets.PresetOptions(timeout=5))
store.set("{default}", "loadoptions", "/debug")
store.write("media/Boot/BCD")
"""

from pebuild.bcd import devices, presets
from pebuild.bcd.devices import (
    BootDevice,
    Device,
    FileDevice,
    LocateDevice,
    PartitionDevice,
    RamdiskDevice,
    RawDevice,
    VhdDevice,
)
from pebuild.bcd.elements import ALIASES, ELEMENTS, OBJECT_TYPES, ElementDef, ElementFormat
from pebuild.bcd.jsonio import store_from_json, store_to_json
from pebuild.bcd.presets import PresetOptions
from pebuild.bcd.store import BcdObject, BcdStore

__all__ = [
    "ALIASES",
    "ELEMENTS",
    "OBJECT_TYPES",
    "BcdObject",
    "BcdStore",
    "BootDevice",
    "Device",
    "ElementDef",
    "ElementFormat",
    "FileDevice",
    "LocateDevice",
    "PartitionDevice",
    "PresetOptions",
    "RamdiskDevice",
    "RawDevice",
    "VhdDevice",
    "devices",
    "presets",
    "store_from_json",
    "store_to_json",
]
