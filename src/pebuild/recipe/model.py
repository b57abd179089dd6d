# ruff: noqa: RUF009  (setting()/section() return dataclasses.field objects)
"""Recipe settings, each declared once.

Every setting is a dataclass field made by `setting()`: its TOML key, kind,
default, allowed values and help text live in one place. That declaration
drives TOML parsing and validation (`loader.py`), the reference in
docs/recipes.md (`docs.py`) and `Recipe.to_json()` (mkosi's ConfigSetting
model, style.md §1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pebuild.arches import ALIASES as ARCH_ALIASES
from pebuild.arches import ARCHES

#: kinds a setting may have; the loader checks values against them
KINDS = ("str", "int", "bool", "str_list", "str_map", "int_or_str", "table_list")


def setting(
    default: Any,
    *,
    kind: str,
    help: str,
    key: str | None = None,
    choices: tuple[Any, ...] | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
    max_length: int | None = None,
    item: type | None = None,
    item_from_str: str | None = None,
    merge: str = "replace",
    template: bool = False,
    example: str | None = None,
    aliases: dict[str, Any] | None = None,
) -> Any:
    """Declare one recipe setting (see module docstring)."""
    assert kind in KINDS, kind
    meta = {
        "kind": kind,
        "help": help,
        "key": key,
        "choices": choices,
        "minimum": minimum,
        "maximum": maximum,
        "max_length": max_length,
        "item": item,
        "item_from_str": item_from_str,
        "merge": merge,
        "template": template,
        "example": example,
        "aliases": aliases,  # other spellings of a choice, folded to it before the choices check
    }
    if isinstance(default, list | dict | tuple):
        value = default
        return field(default_factory=lambda: type(value)(value), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls: type, help: str) -> Any:
    return field(default_factory=cls, metadata={"section": True, "help": help})


def toml_key(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("key") or f.name)


# --------------------------------------------------------------------------- items


@dataclass(frozen=True)
class FileAdd:
    source: str = setting(
        None,
        kind="str",
        help="Local file or directory, relative to the recipe file.",
        example='"tools/diskpart.txt"',
    )
    dest: str = setting(
        None,
        kind="str",
        help="Destination path inside the image (or on the media).",
        example='"Windows/System32/diskpart.txt"',
    )
    on: str = setting(
        "image",
        kind="str",
        choices=("image", "media"),
        help="Where the file goes: inside boot.wim or on the media.",
    )
    template: bool = setting(
        False, kind="bool", help="Render the file as a jinja2 template over the recipe variables."
    )


@dataclass(frozen=True)
class FileRename:
    from_: str = setting(None, kind="str", key="from", help="Existing path inside the image.")
    to: str = setting(None, kind="str", help="New path inside the image.")


@dataclass(frozen=True)
class LaunchApp:
    app: str = setting(
        None, kind="str", template=True, help="Program to start (winpeshl.ini [LaunchApps] entry)."
    )
    args: str = setting("", kind="str", template=True, help="Its arguments, written after a comma.")


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class ImageSettings:
    index: int | str | None = setting(
        None,
        kind="int_or_str",
        minimum=1,
        help="Image of the source WIM to edit: a 1-based index or an image name. Default: the source's "
        "default (1 for ADK/WAIK winpe.wim, 2 for an install medium's boot.wim).",
        example="2",
    )
    boot_index: int | None = setting(
        None, kind="int", minimum=1, help="Image marked bootable in boot.wim. Default: the edited image."
    )
    name: str | None = setting(None, kind="str", template=True, help="New image name (XML NAME).")
    description: str | None = setting(
        None, kind="str", template=True, help="New image description (XML DESCRIPTION)."
    )
    flags: str | None = setting(
        None, kind="str", help='New image flags (XML FLAGS), e.g. "9" as WinPE images carry.'
    )


@dataclass(frozen=True)
class FileSettings:
    add: tuple[FileAdd, ...] = setting(
        (), kind="table_list", item=FileAdd, merge="append", help="Files to add ([[files.add]] tables)."
    )
    remove: tuple[str, ...] = setting(
        (),
        kind="str_list",
        merge="append",
        help="Paths to delete from the image (files or whole directories).",
    )
    rename: tuple[FileRename, ...] = setting(
        (),
        kind="table_list",
        item=FileRename,
        merge="append",
        help="Renames inside the image ([[files.rename]]).",
    )


@dataclass(frozen=True)
class StartupSettings:
    launch_app: str | None = setting(
        None,
        kind="str",
        template=True,
        max_length=250,
        help="winpeshl.ini [LaunchApp] AppPath: one program, no arguments, at most 250 characters. "
        "Replaces the shell (startnet.cmd is then not run).",
        example='"%SYSTEMDRIVE%\\\\tools\\\\menu.exe"',
    )
    launch_apps: tuple[LaunchApp, ...] = setting(
        (),
        kind="table_list",
        item=LaunchApp,
        item_from_str="app",
        merge="append",
        help="winpeshl.ini [LaunchApps]: programs run in order, each with arguments. "
        'Strings or tables {app = "...", args = "..."}.',
    )
    startnet: tuple[str, ...] = setting(
        (),
        kind="str_list",
        template=True,
        merge="append",
        help="Lines appended to Windows/System32/startnet.cmd after wpeinit (jinja2 templates).",
        example='["net use Z: \\\\\\\\{{ server }}\\\\images"]',
    )


@dataclass(frozen=True)
class WimscriptSettings:
    exclusion_list: tuple[str, ...] = setting(
        (
            "\\$ntfs.log",
            "\\hiberfil.sys",
            "\\pagefile.sys",
            "\\swapfile.sys",
            "\\System Volume Information",
            "\\RECYCLER",
            "\\Windows\\CSC",
        ),
        kind="str_list",
        help="[ExclusionList]: paths imagex /capture skips (wildcards only in the last component).",
    )
    exclusion_exception: tuple[str, ...] = setting(
        (), kind="str_list", help="[ExclusionException]: paths captured even though an exclusion matches."
    )
    compression_exclusion_list: tuple[str, ...] = setting(
        ("*.mp3", "*.zip", "*.cab", "\\WINDOWS\\inf\\*.pnf"),
        kind="str_list",
        help="[CompressionExclusionList]: files stored uncompressed.",
    )


@dataclass(frozen=True)
class BcdSettings:
    description: str = setting("Windows PE", kind="str", max_length=200, help="Boot entry description.")
    timeout: int = setting(30, kind="int", minimum=0, maximum=999, help="Boot menu timeout in seconds.")
    locale: str = setting("en-US", kind="str", help="Boot manager and loader locale (language tag).")
    bootmenupolicy: str = setting(
        "legacy",
        kind="str",
        choices=("legacy", "standard"),
        help="Text (legacy) or graphical (standard) boot menu.",
    )
    ems: bool = setting(
        False, kind="bool", help="Emergency Management Services on the serial port (bootems + ems)."
    )
    ems_port: int = setting(1, kind="int", minimum=1, maximum=4, help="EMS serial port (COMn).")
    ems_baud: int = setting(
        115200, kind="int", choices=(9600, 19200, 38400, 57600, 115200), help="EMS baud rate."
    )
    loadoptions: str | None = setting(None, kind="str", help="Extra loader options (BCD loadoptions).")

    def preset_options(self) -> Any:
        """This table as pebuild.bcd.presets.PresetOptions: one reading for the ISO and PXE stores."""
        from pebuild.bcd.presets import PresetOptions

        return PresetOptions(
            description=self.description,
            locale=self.locale,
            timeout=self.timeout,
            bootmenupolicy=self.bootmenupolicy,  # type: ignore[arg-type]
            ems=(self.ems_port, self.ems_baud) if self.ems else None,
            loadoptions=self.loadoptions,
        )


@dataclass(frozen=True)
class MediaSettings:
    label: str = setting("WINPE", kind="str", max_length=32, help="Volume label of the ISO (oscdimg -l).")
    prompt: bool = setting(
        True,
        kind="bool",
        help='"Press any key to boot from CD": false uses efisys_noprompt.bin and leaves out boot/bootfix.bin.',
    )
    udf: bool = setting(True, kind="bool", help="Write a UDF file system beside ISO 9660 (oscdimg -u2).")
    joliet: bool = setting(True, kind="bool", help="Write Joliet names (oscdimg -j1).")
    boot_manager: str = setting(
        "auto",
        kind="str",
        choices=("auto", "2023", "2011"),
        help="EFI boot manager set: 2023 = the Windows UEFI CA 2023-signed _EX files (MakeWinPEMedia /bootex), "
        "2011 = the PCA 2011-signed set, auto = 2023 when the source has it (docs/secureboot.md).",
    )


@dataclass(frozen=True)
class PxeSettings:
    block_size: int | None = setting(
        None, kind="int", minimum=512, maximum=65464, help="BCD ramdisktftpblocksize for --pxe trees."
    )
    window_size: int | None = setting(
        None, kind="int", minimum=1, maximum=64, help="BCD ramdisktftpwindowsize for --pxe trees."
    )
    prompt: bool = setting(
        False, kind="bool", help="PXE boot needs F12 (pxeboot.com) instead of pxeboot.n12."
    )
    dhcp_mode: str = setting(
        "proxy",
        kind="str",
        choices=("proxy", "full"),
        help="proxy: beside an existing DHCP server; full: dnsmasq leases the addresses.",
    )
    dhcp_range: str | None = setting(
        None,
        kind="str",
        help="dnsmasq dhcp-range: START,END[,NETMASK][,LEASE] (full) or the subnet address (proxy).",
        example='"10.0.0.100,10.0.0.199,12h"',
    )
    interface: str | None = setting(None, kind="str", max_length=15, help="Interface dnsmasq listens on.")
    server_address: str | None = setting(
        None, kind="str", help="TFTP server address, when it is not the dnsmasq host."
    )
    menu_text: str | None = setting(
        None, kind="str", max_length=100, help="Proxy-DHCP boot menu prompt (dnsmasq pxe-prompt)."
    )


@dataclass(frozen=True)
class RecipeSettings:
    """Everything a recipe (with its includes and chosen profile) says."""

    arch: tuple[str, ...] = setting(
        (),
        kind="str_list",
        choices=ARCHES,
        aliases=ARCH_ALIASES,
        help="Arches the recipe is for (a string or a list); the ARCH argument must be one of them. "
        "Empty: any.",
        example='"amd64"',
    )
    source: str | None = setting(
        None,
        kind="str",
        help='Default WinPE source when --source is not given: "sample", a kit directory, an install '
        ".iso, a copype tree or a WIM (relative to the recipe).",
    )
    overlays: tuple[str, ...] = setting(
        (),
        kind="str_list",
        merge="append",
        help="Overlays by name (overlays/NAME) or by path to a directory.",
    )
    variables: dict[str, str] = setting(
        {},
        kind="str_map",
        help="Variables for the jinja2 templates (startnet lines, winpeshl, bundled files).",
    )
    image: ImageSettings = section(ImageSettings, "Which image of the source to edit and its new metadata.")
    files: FileSettings = section(FileSettings, "Files added to, removed from or renamed inside the image.")
    startup: StartupSettings = section(StartupSettings, "winpeshl.ini and startnet.cmd.")
    wimscript: WimscriptSettings = section(
        WimscriptSettings, "wimscript.ini written next to imagex by the wimscript overlay."
    )
    bcd: BcdSettings = section(BcdSettings, "Settings of the BIOS and UEFI BCD stores.")
    media: MediaSettings = section(MediaSettings, "ISO options.")
    pxe: PxeSettings = section(PxeSettings, "PXE tree options (pebuild make --pxe).")


def fields_of(cls: type) -> list[dataclasses.Field[Any]]:
    return list(dataclasses.fields(cls))


def is_section(f: dataclasses.Field[Any]) -> bool:
    return bool(f.metadata.get("section"))


def walk_settings(
    cls: type = RecipeSettings, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], Any]]:
    """Every (TOML key path, field) pair, sections expanded, in declaration order."""
    out: list[tuple[tuple[str, ...], Any]] = []
    for f in fields_of(cls):
        path = (*prefix, toml_key(f))
        if is_section(f):
            out.extend(walk_settings(f.default_factory, path))  # type: ignore[misc, arg-type]
        else:
            out.append((path, f))
    return out


def to_jsonable(value: Any) -> Any:
    """Settings as plain JSON types, with TOML key names."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {toml_key(f): to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in sorted(value.items())}
    return value


Validator = Callable[[Any], str | None]
