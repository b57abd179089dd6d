"""BCD element catalogue, well-known object aliases and object type codes (formats.md §2.2–2.5).

Sources: B1 (ReactOS bcd.h), B2 (phnt ntbcd.h), B3 (ntloader), B4 (Microsoft Learn
BcdLibrary/BcdOSLoader/BcdDevice/BcdBootMgr element types); ramdisk TFTP block
and window size are 0x35000007/0x35000008 as the real WDS store O3 has them, not
the 0x36… printed by B4 (formats.md §2.5).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import IntEnum


class ElementFormat(IntEnum):
    """Bits 24–27 of an element type: how its `Element` value is encoded."""

    DEVICE = 1
    STRING = 2
    OBJECT = 3
    OBJECT_LIST = 4
    INTEGER = 5
    BOOLEAN = 6
    INTEGER_LIST = 7


def element_format(element_id: int) -> int:
    return (element_id >> 24) & 0xF


def element_class(element_id: int) -> int:
    """1 library, 2 application, 3 device, 4 setup template, 5 OEM."""
    return (element_id >> 28) & 0xF


@dataclass(frozen=True, slots=True)
class ElementDef:
    id: int
    name: str
    #: names of integer values as bcdedit prints/accepts them (bootmenupolicy legacy/standard, ...)
    choices: tuple[tuple[str, int], ...] = ()

    @property
    def format(self) -> int:
        return element_format(self.id)


# --- well-known objects (formats.md §2.4) --------------------------------------------
ALIASES: dict[str, uuid.UUID] = {
    "{bootmgr}": uuid.UUID("9dea862c-5cdd-4e70-acc1-f32b344d4795"),
    "{fwbootmgr}": uuid.UUID("a5a30fa2-3d06-4e9f-b5f4-a01df9d1fcba"),
    "{memdiag}": uuid.UUID("b2721d73-1db4-4c62-bf78-c548a880142d"),
    "{ntldr}": uuid.UUID("466f5a88-0af2-4f76-9038-095b170dc21c"),
    "{legacy}": uuid.UUID("466f5a88-0af2-4f76-9038-095b170dc21c"),
    "{ramdiskoptions}": uuid.UUID("ae5534e0-a924-466c-b836-758539a3ee3a"),
    "{globalsettings}": uuid.UUID("7ea2e1ac-2e61-4728-aaa3-896d9d0a9f0e"),
    "{bootloadersettings}": uuid.UUID("6efb52bf-1766-41db-a6b3-0ee5eff72bd7"),
    "{resumeloadersettings}": uuid.UUID("1afa9c49-16ab-4a5c-901b-212802da9460"),
    "{dbgsettings}": uuid.UUID("4636856e-540f-4170-a130-a84776f4c654"),
    "{eventsettings}": uuid.UUID("4636856e-540f-4170-a130-a84776f4c654"),
    "{emssettings}": uuid.UUID("0ce4991b-e6b3-4b16-b23c-5e0d9250e5d9"),
    "{hypervisorsettings}": uuid.UUID("7ff607e0-4395-11db-b0de-0800200c9a66"),
    "{kerneldbgsettings}": uuid.UUID("313e8eed-7098-4586-a9bf-309c61f8d449"),
    "{badmemory}": uuid.UUID("5189b25c-5558-4bf2-bca4-289b11bd29e2"),
}
#: virtual aliases resolved through {bootmgr} (23000003 default); B2 also lists fixed GUIDs for them
VIRTUAL_ALIASES = ("{default}", "{current}")

#: GUID -> the alias `show` prints (first alias listed wins: {dbgsettings}, {ntldr})
ALIAS_OF: dict[uuid.UUID, str] = {}
for _alias, _guid in ALIASES.items():
    ALIAS_OF.setdefault(_guid, _alias)

# Microsoft media GUIDs (formats.md §2.4; observed O1/O2/O3) — named for display only
KNOWN_GUIDS: dict[uuid.UUID, str] = {
    uuid.UUID("7619dcc9-fafe-11d9-b411-000476eba25f"): "Windows Setup loader (Microsoft media)",
    uuid.UUID("7619dcc8-fafe-11d9-b411-000476eba25f"): "Windows Setup ramdisk options (Microsoft media)",
    uuid.UUID("68d9e51c-a129-4ee1-9725-2ab00a957daf"): "WDS ramdisk options",
}

# --- object types (formats.md §2.2) -----------------------------------------------
OBJECT_TYPES: dict[int, str] = {
    0x10100001: "firmware boot manager",
    0x10100002: "Windows Boot Manager",
    0x10200002: "Windows Boot Manager",
    0x10200003: "Windows Boot Loader",
    0x10200004: "Resume from Hibernate",
    0x10200005: "Windows Memory Tester",
    0x10300006: "Legacy OS Loader",
    0x10400008: "Boot Sector",
    0x20100000: "Library settings",
    0x20200003: "OS loader settings",
    0x20200004: "Resume loader settings",
    0x30000000: "Device options",
}
APP_FWBOOTMGR, APP_BOOTMGR, APP_OSLOADER, APP_RESUME, APP_MEMDIAG = 1, 2, 3, 4, 5


def object_type_name(code: int) -> str:
    if code in OBJECT_TYPES:
        return OBJECT_TYPES[code]
    kind = (code >> 28) & 0xF
    return {1: "application", 2: "inheritable settings", 3: "device options"}.get(kind, "unknown") + (
        f" 0x{code:08x}"
    )


def application_type(object_type: int) -> int | None:
    """Bits 0–19 for application objects (1 fwbootmgr, 2 bootmgr, 3 loader, 4 resume, ...)."""
    if (object_type >> 28) & 0xF == 1:
        return object_type & 0xFFFFF
    if (object_type >> 28) & 0xF == 2:  # inheritable settings for an application type
        return object_type & 0xFFFFF or None
    return None


_DEBUG_TYPES = (("serial", 0), ("1394", 1), ("usb", 2), ("net", 3), ("local", 4))
_E = ElementDef
_CATALOGUE: tuple[ElementDef, ...] = (
    # library (any application)
    _E(0x11000001, "device"),
    _E(0x12000002, "path"),
    _E(0x12000004, "description"),
    _E(0x12000005, "locale"),
    _E(0x14000006, "inherit"),
    _E(0x15000007, "truncatememory"),
    _E(0x14000008, "recoverysequence"),
    _E(0x16000009, "recoveryenabled"),
    _E(0x1700000A, "badmemorylist"),
    _E(0x1600000B, "badmemoryaccess"),
    _E(0x1500000C, "firstmegabytepolicy", (("usenone", 0), ("useall", 1), ("useprivate", 2))),
    _E(0x1500000D, "relocatephysical"),
    _E(0x1500000E, "avoidlowmemory"),
    _E(0x16000010, "bootdebug"),
    _E(0x15000011, "debugtype", _DEBUG_TYPES),
    _E(0x15000012, "debugaddress"),
    _E(0x15000013, "debugport"),
    _E(0x15000014, "baudrate"),
    _E(0x15000015, "channel"),
    _E(0x12000016, "targetname"),
    _E(0x16000017, "noumex"),
    _E(0x15000018, "debugstart", (("active", 0), ("autoenable", 1), ("disable", 2))),
    _E(0x12000019, "busparams"),
    _E(0x1500001A, "hostip"),
    _E(0x1500001B, "port"),
    _E(0x1600001C, "dhcp"),
    _E(0x1200001D, "key"),
    _E(0x1600001E, "vm"),
    _E(0x16000020, "bootems"),
    _E(0x15000022, "emsport"),
    _E(0x15000023, "emsbaudrate"),
    _E(0x12000030, "loadoptions"),
    _E(0x16000040, "advancedoptions"),
    _E(0x16000041, "optionsedit"),
    _E(0x15000042, "keyringaddress"),
    _E(0x11000043, "bootstatdevice"),
    _E(0x12000044, "bootstatfilepath"),
    _E(0x16000045, "preservebootstat"),
    _E(0x16000046, "graphicsmodedisabled"),
    _E(0x15000047, "configaccesspolicy", (("default", 0), ("disallowmmconfig", 1))),
    _E(0x16000048, "nointegritychecks"),
    _E(0x16000049, "testsigning"),
    _E(0x1200004A, "fontpath"),
    _E(0x1500004B, "integrityservices", (("default", 0), ("enable", 1), ("disable", 2))),
    _E(0x16000050, "extendedinput"),
    _E(0x15000051, "initialconsoleinput"),
    _E(0x15000052, "graphicsresolution"),
    _E(0x16000053, "restartonfailure"),
    _E(0x16000054, "highestmode"),
    _E(0x16000060, "isolatedcontext"),
    _E(0x15000065, "displaymessage"),
    _E(0x15000066, "displaymessageoverride"),
    _E(0x17000077, "allowedinmemorysettings"),
    # boot manager
    _E(0x24000001, "displayorder"),
    _E(0x24000002, "bootsequence"),
    _E(0x23000003, "default"),
    _E(0x25000004, "timeout"),
    _E(0x26000005, "resume"),
    _E(0x23000006, "resumeobject"),
    _E(0x24000010, "toolsdisplayorder"),
    _E(0x26000020, "displaybootmenu"),
    _E(0x26000021, "noerrordisplay"),
    _E(0x21000022, "bcddevice"),
    _E(0x22000023, "bcdfilepath"),
    _E(0x27000030, "customactions"),
    _E(0x26000031, "persistbootsequence"),
    # OS loader
    _E(0x21000001, "osdevice"),
    _E(0x22000002, "systemroot"),
    _E(0x26000010, "detecthal"),
    _E(0x22000011, "kernel"),
    _E(0x22000012, "hal"),
    _E(0x22000013, "dbgtransport"),
    _E(0x25000020, "nx", (("optin", 0), ("optout", 1), ("alwaysoff", 2), ("alwayson", 3))),
    _E(0x25000021, "pae", (("default", 0), ("forceenable", 1), ("forcedisable", 2))),
    _E(0x26000022, "winpe"),
    _E(0x26000024, "nocrashautoreboot"),
    _E(0x26000025, "lastknowngood"),
    _E(0x26000027, "nolowmem"),
    _E(0x25000031, "removememory"),
    _E(0x25000032, "increaseuserva"),
    _E(0x26000040, "vga"),
    _E(0x26000041, "quietboot"),
    _E(0x26000042, "novesa"),
    _E(0x26000043, "novga"),
    _E(0x25000050, "clustermodeaddressing"),
    _E(0x26000051, "usephysicaldestination"),
    _E(0x25000052, "restrictapiccluster"),
    _E(0x26000060, "onecpu"),
    _E(0x25000061, "numproc"),
    _E(0x26000062, "maxproc"),
    _E(0x25000063, "configflags"),
    _E(0x25000070, "usefirmwarepcisettings"),
    _E(0x25000071, "msi", (("default", 0), ("forcedisable", 1))),
    _E(0x25000072, "pciexpress", (("default", 0), ("forcedisable", 1))),
    _E(0x25000080, "safeboot", (("minimal", 0), ("network", 1), ("dsrepair", 2))),
    _E(0x26000081, "safebootalternateshell"),
    _E(0x26000090, "bootlog"),
    _E(0x26000091, "sos"),
    _E(0x260000A0, "debug"),
    _E(0x260000A1, "halbreakpoint"),
    _E(0x260000A2, "useplatformclock"),
    _E(0x260000A3, "forcelegacyplatform"),
    _E(0x260000A4, "useplatformtick"),
    _E(0x260000A5, "disabledynamictick"),
    _E(0x250000A6, "tscsyncpolicy", (("default", 0), ("legacy", 1), ("enhanced", 2))),
    _E(0x260000B0, "ems"),
    _E(0x250000C1, "driverloadfailurepolicy", (("fatal", 0), ("usegood", 1))),
    _E(0x250000C2, "bootmenupolicy", (("legacy", 0), ("standard", 1))),
    _E(0x260000C3, "onetimeadvancedoptions"),
    _E(0x260000C4, "onetimeoptionsedit"),
    _E(
        0x250000E0,
        "bootstatuspolicy",
        (
            ("displayallfailures", 0),
            ("ignoreallfailures", 1),
            ("ignoreshutdownfailures", 2),
            ("ignorebootfailures", 3),
        ),
    ),
    _E(0x260000E1, "disableelamdrivers"),
    _E(0x250000F0, "hypervisorlaunchtype", (("off", 0), ("auto", 1))),
    _E(0x250000F3, "hypervisordebugtype", _DEBUG_TYPES),
    _E(0x250000F4, "hypervisordebugport"),
    _E(0x250000F5, "hypervisorbaudrate"),
    # device options (ramdisk)
    _E(0x35000001, "ramdiskimageoffset"),
    _E(0x35000002, "ramdisktftpclientport"),
    _E(0x31000003, "ramdisksdidevice"),
    _E(0x32000004, "ramdisksdipath"),
    _E(0x35000005, "ramdiskimagelength"),
    _E(0x36000006, "exportascd"),
    _E(0x35000007, "ramdisktftpblocksize"),
    _E(0x35000008, "ramdisktftpwindowsize"),
    _E(0x36000009, "ramdiskmcenabled"),
    _E(0x3600000A, "ramdiskmctftpfallback"),
    _E(0x3600000B, "ramdisktftpvarwindow"),
)

#: element type -> definition (the name bcdedit uses for it on most objects)
ELEMENTS: dict[int, ElementDef] = {e.id: e for e in _CATALOGUE}

#: names that depend on the object's application type (formats.md §2.5: 23000003 default vs resumeobject)
CONTEXT_NAMES: dict[tuple[int, int], str] = {
    (APP_OSLOADER, 0x23000003): "resumeobject",
    (APP_RESUME, 0x21000001): "filedevice",
    (APP_RESUME, 0x22000002): "filepath",
    (APP_MEMDIAG, 0x25000001): "passcount",
}
_BY_NAME: dict[str, int] = {e.name: e.id for e in _CATALOGUE}


def element_name(element_id: int, object_type: int | None = None) -> str | None:
    app = application_type(object_type) if object_type is not None else None
    if app is not None and (app, element_id) in CONTEXT_NAMES:
        return CONTEXT_NAMES[(app, element_id)]
    definition = ELEMENTS.get(element_id)
    return definition.name if definition else None


def element_id(name: str, object_type: int | None = None) -> int | None:
    """Element type for a bcdedit name (context-aware) or a hex id ('25000004', '0x25000004')."""
    text = name.strip().lower()
    app = application_type(object_type) if object_type is not None else None
    if app is not None:
        for (ctx_app, ctx_id), ctx_name in CONTEXT_NAMES.items():
            if ctx_app == app and ctx_name == text:
                return ctx_id
    if text in _BY_NAME:
        return _BY_NAME[text]
    for (_app, ctx_id), ctx_name in CONTEXT_NAMES.items():
        if ctx_name == text:
            return ctx_id
    hex_text = text[2:] if text.startswith("0x") else text
    if 1 <= len(hex_text) <= 8 and all(c in "0123456789abcdef" for c in hex_text):
        return int(hex_text, 16)
    return None
