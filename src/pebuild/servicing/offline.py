"""Offline driver install for simple INFs: what `Dism /Image:<mnt> /Add-Driver` leaves in an image.

For a package whose install sections hold only `CopyFiles` to `%12%` (System32\\drivers),
`AddReg`, `AddService` and the plain service keys, pebuild writes what DISM writes offline:

* the copied files in `Windows/System32/drivers`;
* the service key `HKLM\\SYSTEM\\<current control set>\\Services\\<name>` (Type, Start,
  ErrorControl, ImagePath `\\SystemRoot\\System32\\drivers\\<file>`, Group, DisplayName,
  DependOnService) with the service section's AddReg (HKR = that key);
* AddReg entries of the install section rooted at HKLM;
* the package in the driver store: `Windows/System32/DriverStore/FileRepository/
  <inf>_<arch>_<16 hex>/` (INF, catalog, files) and its published copy `Windows/INF/oem<N>.inf`;
  with a DRIVERS hive (Windows 8+ images), `DriverDatabase\\DriverInfFiles\\oem<N>.inf`,
  `DriverPackages\\<package id>` and `DeviceIds\\<hardware id>`.

HKR entries of the *install* section belong to the device's driver key, which exists only once
Plug and Play has found the device: PnP writes them at boot from the stored INF, as it does after
DISM. Anything else is refused with the reason (`OfflineError`): class installers
(`[ClassInstall32]`), co-installers (`.CoInstallers`), `Include`/`Needs` (sections of inbox INFs),
other directives (RegisterDlls, UpdateInis, DelFiles, …), copies to other directories,
event-log sections, and roots other than HKLM/HKR. Sources: Microsoft's INF reference
("INF AddService Directive", "INF AddReg Directive", "INF DestinationDirs Section",
"INF DDInstall.CoInstallers Section", "INF ClassInstall32 Section").
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from pebuild.errors import RecipeError
from pebuild.servicing import regfile
from pebuild.servicing.drivers import INF_ARCH, DriverPackage, Inf, InfLine, parse_inf

#: install-section directives pebuild can carry out offline (others are refused)
INSTALL_DIRECTIVES = {"copyfiles", "addreg", "characteristics", "bustype", "driverver", "featurescore"}
SERVICE_KEYS = {
    "servicetype",
    "starttype",
    "errorcontrol",
    "servicebinary",
    "loadordergroup",
    "displayname",
    "description",
    "dependencies",
    "addreg",
}
#: AddReg flags -> REG_* type (FLG_ADDREG_TYPE_MASK); 0x2 NOCLOBBER and 0x10 KEYONLY are honoured
ADDREG_TYPES = {
    0x00000000: regfile.REG_SZ,
    0x00010000: regfile.REG_MULTI_SZ,
    0x00020000: regfile.REG_EXPAND_SZ,
    0x00000001: regfile.REG_BINARY,
    0x00010001: regfile.REG_DWORD,
    0x00020001: regfile.REG_NONE,
}
FLG_NOCLOBBER, FLG_KEYONLY = 0x2, 0x10
DRIVERS_DIR = "Windows/System32/drivers"
REPOSITORY = "Windows/System32/DriverStore/FileRepository"
SERVICES = "HKLM\\SYSTEM\\CurrentControlSet\\Services"


class OfflineError(RecipeError):
    """The INF needs more than pebuild installs offline; the message says what and where."""


@dataclass
class RegEntry:
    key: str  # full registry path
    name: str
    type: int | None  # None with KEYONLY
    data: bytes
    noclobber: bool = False


@dataclass
class Service:
    name: str
    values: list[RegEntry]
    binary: str  # file name in System32\drivers


@dataclass
class OfflinePlan:
    """What installing one package offline writes (see the module docstring)."""

    package: DriverPackage
    copies: dict[str, str] = field(default_factory=dict)  # System32\drivers name -> package rel path
    services: list[Service] = field(default_factory=list)
    registry: list[RegEntry] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # what PnP applies at boot
    hardware_ids: list[str] = field(default_factory=list)

    @property
    def store_name(self) -> str:
        digest = hashlib.sha256()
        for rel in self.package.files:
            digest.update(rel.lower().encode() + b"\0" + (self.package.inf_path.parent / rel).read_bytes())
        return f"{self.package.inf_path.name.lower()}_{self.package.arch}_{digest.hexdigest()[:16]}"


def plan_offline(pkg: DriverPackage) -> OfflinePlan:
    """Read the package's INF for its arch; OfflineError naming the first thing pebuild cannot do."""
    inf = parse_inf(pkg.inf_path.read_bytes(), pkg.inf_path)
    deco = INF_ARCH[pkg.arch]
    plan = OfflinePlan(pkg)

    def refuse(why: str) -> OfflineError:
        return OfflineError(
            f"{pkg.inf_path}: cannot be installed offline: {why}; stage it instead (no --offline)"
        )

    for name in inf.sections:
        if name.split(".")[0] == "classinstall32":
            raise refuse(f"[{name}] installs a class installer, which only runs in Windows' device setup")
    for section, models in _install_sections(inf, deco):
        plan.hardware_ids += [hw for m in models for hw in m.fields[1:] if hw]
        lines = inf.section(section) or []
        for entry in lines:
            directive = (entry.key or "").lower()
            if directive not in INSTALL_DIRECTIVES:
                raise refuse(
                    f"[{section}] line {entry.line}: {entry.key or entry.fields[0]} is not done offline"
                )
            if directive == "copyfiles":
                _copies(inf, entry, plan, refuse)
            elif directive == "addreg":
                for reg_section in entry.fields:
                    for reg in _addreg(inf, reg_section, None, refuse):
                        if reg.key.upper().startswith("HKR"):
                            plan.deferred.append(
                                f"[{reg_section}] HKR entries: written by PnP when it installs the device"
                            )
                        else:
                            plan.registry.append(reg)
        for suffix in (".coinstallers", ".interfaces", ".wmi", ".filters"):
            if inf.section(section + suffix) is not None:
                raise refuse(f"[{section}{suffix}] ({suffix[1:]}) needs Windows' device setup")
        if inf.section(section + ".hw") is not None:
            plan.deferred.append(f"[{section}.HW]: device settings PnP applies when it finds the device")
        services = inf.section(section + ".services")
        if not services:
            raise refuse(f"no [{section}.Services] with an AddService line: nothing for Windows to start")
        for entry in services:
            if (entry.key or "").lower() != "addservice":
                raise refuse(f"[{section}.Services] line {entry.line}: {entry.key} is not done offline")
            plan.services.append(_service(inf, entry, plan, refuse))
    plan.deferred = sorted(set(plan.deferred))
    return plan


def _install_sections(inf: Inf, deco: str) -> list[tuple[str, list[InfLine]]]:
    """(decorated install section name, its model lines) for the arch, as validate_driver found them."""
    out: dict[str, list[InfLine]] = {}
    for entry in inf.section("manufacturer") or []:
        base = entry.fields[0]
        decorations = [d for d in entry.fields[1:] if d.lower().split(".")[0] == deco]
        models = inf.section(f"{base}.{decorations[0]}") if decorations else inf.section(base)
        for model in models or []:
            if model.fields and model.fields[0]:
                name = _decorated_name(inf, model.fields[0], deco)
                out.setdefault(name, []).append(model)
    return sorted(out.items())


def _decorated_name(inf: Inf, base: str, deco: str) -> str:
    for name in sorted(inf.sections):
        if name == f"{base}.{deco}".lower() or name.startswith(f"{base}.{deco}.".lower()):
            return name
    return f"{base}.nt".lower() if inf.section(f"{base}.nt") is not None else base.lower()


def _dest_ok(inf: Inf, list_name: str) -> bool:
    """DestinationDirs for a file list (or DefaultDestDir) is dirid 12, or 10,System32\\drivers."""
    value = None
    for entry in inf.section("destinationdirs") or []:
        if entry.key and entry.key.lower() == list_name.lower():
            value = entry.fields
    if value is None:
        value = next(
            (
                e.fields
                for e in inf.section("destinationdirs") or []
                if (e.key or "").lower() == "defaultdestdir"
            ),
            ["11"],  # the INF default: System32
        )
    dirid = value[0].strip() if value else ""
    subdir = (value[1] if len(value) > 1 else "").strip("\\/").lower()
    return (dirid == "12" and not subdir) or (dirid == "10" and subdir == "system32\\drivers")


def _copies(inf: Inf, entry: InfLine, plan: OfflinePlan, refuse: Any) -> None:
    from pebuild.fsutil import find_case_insensitive

    pkg_dir = plan.package.inf_path.parent
    staged = {rel.lower(): rel for rel in plan.package.files}
    for item in entry.fields:
        if not item:
            continue
        names = [(item[1:], item[1:])] if item.startswith("@") else []
        if not item.startswith("@"):
            if not _dest_ok(inf, item):
                raise refuse(f"CopyFiles section [{item}] copies outside %12% (System32\\drivers)")
            for line in inf.section(item) or []:
                dest = line.key if line.key else line.fields[0]
                source = line.fields[1] if len(line.fields) > 1 and line.fields[1] else dest
                names.append((dest, source))
        elif not _dest_ok(inf, "defaultdestdir"):
            raise refuse(f"CopyFiles {item} copies outside %12% (DefaultDestDir is not 12)")
        for dest, source in names:
            rel = next((r for low, r in staged.items() if low.rsplit("/", 1)[-1] == source.lower()), None)
            if rel is None or find_case_insensitive(pkg_dir, rel) is None:
                raise refuse(f"CopyFiles names {source}, which the package does not hold")
            plan.copies[dest] = rel


def _service(inf: Inf, entry: InfLine, plan: OfflinePlan, refuse: Any) -> Service:
    fields = [*entry.fields, "", "", "", ""]
    name, flags, section, eventlog = fields[0], fields[1], fields[2], fields[3]
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name or ""):
        raise refuse(f"AddService line {entry.line}: bad service name {name!r}")
    if eventlog:
        raise refuse(f"AddService {name}: event log section [{eventlog}] is not written offline")
    lines = inf.section(section) if section else None
    if lines is None:
        raise refuse(f"AddService {name}: service install section [{section}] is missing")
    key = f"{SERVICES}\\{name}"
    got = {(e.key or "").lower(): e for e in lines}
    for e in lines:
        if (e.key or "").lower() not in SERVICE_KEYS:
            raise refuse(f"[{section}] line {e.line}: {e.key} is not written offline")
    binary = (got["servicebinary"].fields[0] if "servicebinary" in got else "").replace("/", "\\")
    match = re.fullmatch(r"%(?:12%|10%\\system32\\drivers)\\([^\\]+)", binary, re.IGNORECASE)
    if match is None:
        raise refuse(f"[{section}] ServiceBinary {binary!r} is not in %12% (System32\\drivers)")
    file_name = match.group(1)
    if file_name.lower() not in {d.lower() for d in plan.copies}:
        raise refuse(f"[{section}] ServiceBinary {file_name} is not copied by CopyFiles")
    values = [
        RegEntry(
            key,
            "ImagePath",
            regfile.REG_EXPAND_SZ,
            regfile.sz_bytes(f"\\SystemRoot\\System32\\drivers\\{file_name}"),
        )
    ]
    for inf_key, value_name in (
        ("servicetype", "Type"),
        ("starttype", "Start"),
        ("errorcontrol", "ErrorControl"),
    ):
        if inf_key not in got:
            raise refuse(
                f"[{section}] has no {inf_key} (AddService needs ServiceType, StartType, ErrorControl)"
            )
        values.append(
            RegEntry(key, value_name, regfile.REG_DWORD, regfile.dword_bytes(_int(got[inf_key], refuse)))
        )
    for inf_key, value_name in (
        ("loadordergroup", "Group"),
        ("displayname", "DisplayName"),
        ("description", "Description"),
    ):
        if inf_key in got and got[inf_key].fields[0]:
            values.append(RegEntry(key, value_name, regfile.REG_SZ, regfile.sz_bytes(got[inf_key].fields[0])))
    if "dependencies" in got:
        deps = [d for d in got["dependencies"].fields if d]
        values.append(RegEntry(key, "DependOnService", regfile.REG_MULTI_SZ, regfile.multi_sz_bytes(deps)))
    if "addreg" in got:
        for reg_section in got["addreg"].fields:
            values += _addreg(inf, reg_section, key, refuse)
    del flags  # SPSVCINST_* flags only matter to a live install
    return Service(name, values, file_name)


def _num(text: str) -> int:
    """INF numbers: 0x... is hex, anything else decimal (leading zeros allowed)."""
    text = text.strip()
    return int(text[2:], 16) if text.lower().startswith("0x") else int(text, 10)


def _int(entry: InfLine, refuse: Any) -> int:
    try:
        return _num(entry.fields[0])
    except (ValueError, IndexError):
        raise refuse(f"line {entry.line}: {entry.key} is not a number") from None


def _addreg(inf: Inf, section: str, hkr: str | None, refuse: Any) -> list[RegEntry]:
    """An AddReg section; HKR is `hkr` (the service key) or kept as 'HKR\\…' for the caller."""
    lines = inf.section(section)
    if lines is None:
        raise refuse(f"AddReg names section [{section}], which is missing")
    out = []
    for line in lines:
        parts = [line.key, *line.fields] if line.key else list(line.fields)
        parts = [p or "" for p in parts] + ["", "", "", ""]
        root, subkey, name, flags_text = parts[0].upper(), parts[1], parts[2], parts[3]
        try:
            flags = _num(flags_text) if flags_text.strip() else 0
        except ValueError:
            raise refuse(
                f"[{section}] line {line.line}: AddReg flags {flags_text!r} are not a number"
            ) from None
        if root == "HKR":
            base = hkr or "HKR"
        elif root in ("HKLM", "HKEY_LOCAL_MACHINE"):
            base = "HKLM"
        else:
            raise refuse(
                f"[{section}] line {line.line}: {root} entries are not written offline (HKLM and HKR only)"
            )
        key = "\\".join(p for p in (base, subkey.strip("\\")) if p)
        if "coinstallers32" in name.lower():
            raise refuse(f"[{section}] line {line.line}: registers co-installers (CoInstallers32)")
        type_flags = flags & 0xFFFF0001
        if flags & ~(0xFFFF0001 | FLG_NOCLOBBER | FLG_KEYONLY) or type_flags not in ADDREG_TYPES:
            raise refuse(f"[{section}] line {line.line}: AddReg flags 0x{flags:08x} are not written offline")
        noclobber = bool(flags & FLG_NOCLOBBER)
        if flags & FLG_KEYONLY:
            out.append(RegEntry(key, "", None, b"", noclobber))
            continue
        reg_type = ADDREG_TYPES[type_flags]
        values = [p for p in (line.fields[3:] if line.key else line.fields[4:])]
        out.append(RegEntry(key, name, reg_type, _reg_data(reg_type, values, line, refuse), noclobber))
    return out


def _reg_data(reg_type: int, values: list[str], line: InfLine, refuse: Any) -> bytes:
    try:
        if reg_type == regfile.REG_DWORD:
            return regfile.dword_bytes(_num(values[0]) & 0xFFFFFFFF if values and values[0] else 0)
        if reg_type == regfile.REG_MULTI_SZ:
            return regfile.multi_sz_bytes([v for v in values if v])
        if reg_type in (regfile.REG_BINARY, regfile.REG_NONE):
            return bytes(int(v, 16) for v in values if v.strip())
        return regfile.sz_bytes(values[0] if values else "")
    except ValueError:
        raise refuse(f"line {line.line}: AddReg value {values!r} does not fit its type") from None
