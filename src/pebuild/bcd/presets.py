"""Complete BCD stores written from scratch for WinPE media (formats.md §2.6, §2.7).

`iso-bios`/`iso-uefi` follow the Microsoft "Windows Setup" media stores (O1/O2,
fixtures win10-setup-pcat/efi); `pxe-bios`/`pxe-uefi` add the TFTP ramdisk
options of the WDS store (O3, fixture wds-default-x64-pxe). Differences from the
fixtures are listed and justified in docs/bcd.md and asserted in tests/bcd.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from pebuild.bcd.devices import BootDevice, RamdiskDevice
from pebuild.bcd.elements import ALIASES
from pebuild.bcd.store import BcdStore
from pebuild.clock import stable_guid
from pebuild.errors import UsageError

PresetName = Literal["iso-bios", "iso-uefi", "pxe-bios", "pxe-uefi"]
PRESETS: tuple[str, ...] = ("iso-bios", "iso-uefi", "pxe-bios", "pxe-uefi")
DEFAULT_WIM_PATH = "\\sources\\boot.wim"
DEFAULT_SDI_PATH = "\\boot\\boot.sdi"
PXE_WIM_PATH = "\\Boot\\boot.wim"
PXE_SDI_PATH = "\\Boot\\boot.sdi"


@dataclass(frozen=True)
class PresetOptions:
    """What a WinPE store varies in. For the pxe presets the ISO default paths are replaced by
    `\\Boot\\boot.wim` / `\\Boot\\boot.sdi` (TFTP root layout); pass paths to choose others."""

    wim_path: str = DEFAULT_WIM_PATH
    sdi_path: str = DEFAULT_SDI_PATH
    description: str = "Windows PE"
    locale: str = "en-US"
    timeout: int = 30
    bootmenupolicy: Literal["legacy", "standard"] = "legacy"
    ems: tuple[int, int] | None = None  # (serial port number, baud rate)
    loadoptions: str | None = None
    tftp_block_size: int | None = None
    tftp_window_size: int | None = None
    tftp_var_window: bool | None = None


A = ALIASES


def _check(options: PresetOptions) -> None:
    for name in ("wim_path", "sdi_path"):
        path = getattr(options, name)
        if not path.startswith("\\") or "/" in path:
            raise UsageError(f"{name} must be a path with backslashes from the media root, got {path!r}")
    if options.bootmenupolicy not in ("legacy", "standard"):
        raise UsageError(f"bootmenupolicy must be legacy or standard, got {options.bootmenupolicy!r}")
    if not 0 <= options.timeout < 1 << 32:
        raise UsageError(f"timeout must be a non-negative number of seconds, got {options.timeout}")
    if options.ems is not None:
        port, baud = options.ems
        if not 1 <= port <= 4 or baud not in (9600, 19200, 38400, 57600, 115200):
            raise UsageError(f"ems must be (port 1-4, baud 9600/19200/38400/57600/115200), got {options.ems}")
    for name in ("tftp_block_size", "tftp_window_size"):
        value = getattr(options, name)
        limit = 65464 if name == "tftp_block_size" else 65535
        if value is not None and not (8 if name == "tftp_block_size" else 1) <= value <= limit:
            raise UsageError(f"{name} out of range (RFC 2348/7440): {value}")


def create(preset: str, options: PresetOptions | None = None, timestamp: int | None = None) -> BcdStore:
    """A complete store for `preset`; `timestamp` (Unix seconds) is what `serialize()`/`write()`
    stamp the hive with unless given one (default: clock.build_time())."""
    if preset not in PRESETS:
        raise UsageError(f"unknown BCD preset {preset!r} (one of {', '.join(PRESETS)})")
    options = options or PresetOptions()
    pxe = preset.startswith("pxe")
    if pxe:
        options = _pxe_paths(options)
    _check(options)
    uefi = preset.endswith("uefi")
    store = BcdStore.new()
    store.timestamp = timestamp
    loader = stable_guid("pebuild-bcd", preset, "osloader")
    ramdisk_options = A["{ramdiskoptions}"]
    ext = "efi" if uefi else "exe"

    bootmgr_type = 0x10200002 if preset == "pxe-bios" else 0x10100002
    bootmgr = store.create_object(A["{bootmgr}"], bootmgr_type)
    store.set(bootmgr, "description", "Windows Boot Manager")
    store.set(bootmgr, "locale", options.locale)
    store.set(bootmgr, "inherit", [A["{globalsettings}"]])
    store.set(bootmgr, "default", loader)
    store.set(bootmgr, "displayorder", [loader])
    store.set(bootmgr, "timeout", options.timeout)
    if options.ems is not None:
        store.set(bootmgr, "bootems", True)

    store.create_object(loader, 0x10200003)
    device = RamdiskDevice(options.wim_path, BootDevice(), ramdisk_options)
    store.set(loader, "device", device)
    store.set(loader, "path", f"\\windows\\system32\\boot\\winload.{ext}")
    store.set(loader, "description", options.description)
    store.set(loader, "locale", options.locale)
    store.set(loader, "inherit", [A["{bootloadersettings}"]])
    if uefi:
        store.set(loader, "isolatedcontext", True)
    store.set(loader, "osdevice", device)
    store.set(loader, "systemroot", "\\windows")
    store.set(loader, "bootmenupolicy", 0 if options.bootmenupolicy == "legacy" else 1)
    store.set(loader, "detecthal", True)
    store.set(loader, "winpe", True)
    store.set(loader, "ems", options.ems is not None)
    if options.loadoptions:
        store.set(loader, "loadoptions", options.loadoptions)

    store.create_object(ramdisk_options, 0x30000000)
    store.set(ramdisk_options, "ramdisksdidevice", BootDevice())
    store.set(ramdisk_options, "ramdisksdipath", options.sdi_path)
    if options.tftp_block_size is not None:
        store.set(ramdisk_options, "ramdisktftpblocksize", options.tftp_block_size)
    if options.tftp_window_size is not None:
        store.set(ramdisk_options, "ramdisktftpwindowsize", options.tftp_window_size)
    if options.tftp_var_window is not None:
        store.set(ramdisk_options, "ramdisktftpvarwindow", options.tftp_var_window)

    _settings_objects(store, options)
    return store


def _settings_objects(store: BcdStore, options: PresetOptions) -> None:
    """{globalsettings} -> {dbgsettings}, {emssettings}; {bootloadersettings} -> hypervisor (O1 §2.6)."""
    store.create_object(A["{globalsettings}"], 0x20100000)
    store.set(A["{globalsettings}"], "inherit", [A["{dbgsettings}"], A["{emssettings}"]])
    store.create_object(A["{bootloadersettings}"], 0x20200003)
    store.set(A["{bootloadersettings}"], "inherit", [A["{globalsettings}"], A["{hypervisorsettings}"]])
    store.create_object(A["{hypervisorsettings}"], 0x20200003)
    store.set(A["{hypervisorsettings}"], "description", "Hypervisor Settings")
    store.set(A["{hypervisorsettings}"], "hypervisordebugtype", 0)
    store.set(A["{hypervisorsettings}"], "hypervisordebugport", 1)
    store.set(A["{hypervisorsettings}"], "hypervisorbaudrate", 115200)
    store.create_object(A["{dbgsettings}"], 0x20100000)
    store.set(A["{dbgsettings}"], "debugtype", 0)
    store.set(A["{dbgsettings}"], "debugport", 1)
    store.set(A["{dbgsettings}"], "baudrate", 115200)
    store.create_object(A["{emssettings}"], 0x20100000)
    store.set(A["{emssettings}"], "bootems", options.ems is not None)
    if options.ems is not None:
        store.set(A["{emssettings}"], "emsport", options.ems[0])
        store.set(A["{emssettings}"], "emsbaudrate", options.ems[1])


def _pxe_paths(options: PresetOptions) -> PresetOptions:
    from dataclasses import replace

    changes: dict[str, str] = {}
    if options.wim_path == DEFAULT_WIM_PATH:
        changes["wim_path"] = PXE_WIM_PATH
    if options.sdi_path == DEFAULT_SDI_PATH:
        changes["sdi_path"] = PXE_SDI_PATH
    return replace(options, **changes) if changes else options


def loader_guid(preset: str) -> uuid.UUID:
    """The stable GUID of the preset's WinPE loader object."""
    return stable_guid("pebuild-bcd", preset, "osloader")
