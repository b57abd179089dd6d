"""Driver packages: parse and validate INF files, stage them in the image, load them with drvload.

This is WinPE's *runtime* loading (``drvload X:\\Drivers\\<pkg>\\<inf>`` from
startnet.cmd), not DISM ``/Add-Driver`` driver-store injection: the package is
checked here, copied into the image, and installed by drvload when WinPE boots.
That suffices for NIC and storage drivers WinPE needs after it is running (the
seed's nForce4/Realtek case); a boot-critical storage driver for the disk WinPE
itself boots from still needs DISM on Windows.

INF syntax follows Microsoft's "General Syntax Rules for INF Files": sections
are case-insensitive, ``;`` starts a comment outside quotes, a trailing ``\\``
continues a line, ``%strkey%`` tokens resolve from [Strings].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pebuild.errors import RecipeError
from pebuild.fsutil import find_case_insensitive
from pebuild.servicing.regfile import decode_text

#: recipe arch -> INF platform decoration (ADK names -> INF TargetOSVersion names)
INF_ARCH = {"x86": "ntx86", "amd64": "ntamd64", "arm64": "ntarm64", "ia64": "ntia64"}
_ALL_DECORATIONS = {v: k for k, v in INF_ARCH.items()}
_GUID_RE = re.compile(r"\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}")


class InfError(RecipeError):
    """A driver package fails validation; the message names the INF."""


class WrongArchError(InfError):
    """The INF installs nothing for the build arch (it is for other arches)."""


@dataclass
class InfLine:
    key: str | None
    fields: list[str]
    line: int


@dataclass
class Inf:
    path: Path
    sections: dict[str, list[InfLine]] = field(default_factory=dict)  # lower-case name -> lines
    section_lines: dict[str, int] = field(default_factory=dict)

    def section(self, name: str) -> list[InfLine] | None:
        return self.sections.get(name.lower())

    def joined(self, section: str, key: str) -> str:
        """All fields of a key, comma-joined (DriverVer = date,version)."""
        for entry in self.section(section) or []:
            if entry.key is not None and entry.key.lower() == key.lower():
                return ",".join(entry.fields)
        return ""

    def value(self, section: str, key: str) -> str | None:
        for entry in self.section(section) or []:
            if entry.key is not None and entry.key.lower() == key.lower():
                return entry.fields[0] if entry.fields else ""
        return None


@dataclass
class DriverPackage:
    """A validated package: the INF, what it installs for the arch, and every file to stage."""

    name: str
    inf_path: Path
    arch: str
    class_name: str
    class_guid: str
    catalog: Path | None  # None only with force_unsigned (DISM /ForceUnsigned)
    #: files relative to the package directory (INF and catalog included), sorted
    files: list[str]
    provider: str = ""
    driver_ver: str = ""  # [Version] DriverVer: "mm/dd/yyyy,w.x.y.z"


def _split_fields(text: str) -> list[str]:
    """Split on commas outside double quotes, dropping quotes (INF rule: "" is a literal quote)."""
    out, cur, quoted, i = [], [], False, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            if quoted and text[i + 1 : i + 2] == '"':
                cur.append('"')
                i += 2
                continue
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur).strip())
    return out


def _find_unquoted(text: str, wanted: str) -> int:
    """Index of the first `wanted` outside "quotes" (INF strings may hold ';' and '='), else -1."""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == wanted and not quoted:
            return i
    return -1


def _strip_comment(text: str) -> str:
    semi = _find_unquoted(text, ";")
    return text if semi < 0 else text[:semi]


def parse_inf(data: bytes, path: Path) -> Inf:
    """Parse INF text (UTF-16 with BOM, UTF-8 or ANSI) into sections of key/fields lines."""
    inf = Inf(path=path)
    current: list[InfLine] | None = None
    pending = ""
    pending_line = 0
    for lineno, raw in enumerate(decode_text(data).splitlines(), start=1):
        text = _strip_comment(raw).rstrip()
        if pending:
            text = pending + text.lstrip()
            lineno = pending_line
            pending = ""
        if text.endswith("\\"):
            pending, pending_line = text[:-1], lineno
            continue
        text = text.strip()
        if not text:
            continue
        if text.startswith("["):
            if not text.endswith("]"):
                raise InfError(f"{path}:{lineno}: section header must end with ']'")
            name = text[1:-1].strip().lower()
            current = inf.sections.setdefault(name, [])
            inf.section_lines.setdefault(name, lineno)
            continue
        if current is None:
            raise InfError(f"{path}:{lineno}: line outside any [section]")
        key: str | None = None
        eq = _find_unquoted(text, "=")
        if eq >= 0:
            key, text = text[:eq].strip().strip('"'), text[eq + 1 :]
        current.append(InfLine(key=key, fields=_split_fields(text), line=lineno))
    _expand_strings(inf)
    return inf


def _expand_strings(inf: Inf) -> None:
    strings = {
        e.key.lower(): (e.fields[0] if e.fields else "") for e in inf.sections.get("strings", []) if e.key
    }

    def sub(text: str) -> str:
        return re.sub(r"%([^%]+)%", lambda m: strings.get(m.group(1).lower(), m.group(0)), text)

    for name, lines in inf.sections.items():
        if name == "strings":
            continue
        for entry in lines:
            entry.fields = [sub(f) for f in entry.fields]
            if entry.key:
                entry.key = sub(entry.key)


def _decorated(inf: Inf, base: str, decoration: str) -> list[InfLine] | None:
    """Section `base.<decoration>` (exact or with an OS version suffix), `base.NT`, then `base`."""
    for name, lines in sorted(inf.sections.items()):
        if name == f"{base}.{decoration}".lower() or name.startswith(f"{base}.{decoration}.".lower()):
            return lines
    return inf.section(f"{base}.nt") or inf.section(base)


def _arch_decorations(fields: list[str]) -> dict[str, str]:
    """Manufacturer decorations -> {arch: decoration}. 'NTamd64.10.0...1' counts as amd64."""
    found: dict[str, str] = {}
    for deco in fields[1:]:
        platform = deco.lower().split(".")[0]
        if platform in _ALL_DECORATIONS:
            found[_ALL_DECORATIONS[platform]] = deco
    return found


#: payloads that must be PE files of the build arch (drvload and the kernel load nothing else)
PE_SUFFIXES = (".sys", ".dll", ".exe")


def validate_driver(inf_path: Path, arch: str, *, force_unsigned: bool = False) -> DriverPackage:
    """Check one INF package for `arch`: platform sections, class, catalog, every copied file present,
    every .sys/.dll/.exe a PE file of the arch. `force_unsigned`: a missing catalog is allowed
    (DISM /ForceUnsigned; 64-bit WinPE then needs test signing or a signature-check override)."""
    try:
        data = inf_path.read_bytes()
    except OSError as exc:
        raise InfError(f"{inf_path}: cannot read driver INF: {exc.strerror}") from None
    inf = parse_inf(data, inf_path)
    pkg_dir = inf_path.parent

    def fail(message: str, kind: type[InfError] = InfError) -> InfError:
        return kind(f"{inf_path}: {message}")

    if inf.section("version") is None:
        raise fail("no [Version] section: not a driver INF")
    signature = (inf.value("version", "Signature") or "").lower()
    if signature not in ("$windows nt$", "$chicago$"):
        raise fail("[Version] Signature must be $Windows NT$ (or $Chicago$)")
    class_name = inf.value("version", "Class") or ""
    class_guid = inf.value("version", "ClassGuid") or ""
    if not class_name or not class_guid:
        raise fail("[Version] needs both Class and ClassGuid (drvload cannot place a class-less driver)")
    if not _GUID_RE.fullmatch(class_guid):
        raise fail(f"[Version] ClassGuid {class_guid!r} is not a {{GUID}}")

    decoration = INF_ARCH[arch]
    manufacturers = inf.section("manufacturer")
    if not manufacturers:
        raise fail("no [Manufacturer] entries: the package installs no device")
    install_sections: list[str] = []
    for entry in manufacturers:
        models_base = entry.fields[0]
        arches = _arch_decorations(entry.fields)
        if arches and arch not in arches:
            supported = ", ".join(sorted(arches))
            raise fail(
                f"driver is for {supported}, not {arch} (no NT{decoration[2:]} decoration in [Manufacturer])",
                WrongArchError,
            )
        if not arches and arch != "x86":
            raise fail(
                f"driver has no NT{decoration[2:]} decoration in [Manufacturer]: 64-bit Windows needs one",
                WrongArchError,
            )
        deco = arches.get(arch, "")
        models = inf.section(f"{models_base}.{deco}") if deco else inf.section(models_base)
        if models is None:
            wanted = f"{models_base}.{deco}" if deco else models_base
            raise fail(f"[Manufacturer] names models section [{wanted}], which is missing")
        for model in models:
            if model.fields and model.fields[0]:
                install_sections.append(model.fields[0])
    if not install_sections:
        raise fail(f"no device models for {arch}")

    files = _copied_files(inf, install_sections, decoration, fail)
    staged = {inf_path.name}
    for name in sorted(files):
        disk_rel = _source_location(inf, name, decoration, fail)
        found = find_case_insensitive(pkg_dir, disk_rel)
        if found is None or not found.is_file():
            raise fail(f"file {name!r} (CopyFiles) is missing from the package: looked for {disk_rel}")
        staged.add(found.relative_to(pkg_dir).as_posix())

    catalog_name = None
    for key in (f"CatalogFile.{decoration}", "CatalogFile.NT", "CatalogFile"):
        catalog_name = inf.value("version", key)
        if catalog_name:
            break
    catalog = find_case_insensitive(pkg_dir, catalog_name) if catalog_name else None
    if not catalog_name and not force_unsigned:
        raise fail(
            "no CatalogFile in [Version]: the package is unsigned and 64-bit WinPE will not load it "
            "(--force-unsigned stages it anyway)"
        )
    if catalog_name and (catalog is None or not catalog.is_file()):
        if not force_unsigned:
            raise fail(f"catalog {catalog_name!r} named by CatalogFile is missing")
        catalog = None
    if catalog is not None:
        staged.add(catalog.relative_to(pkg_dir).as_posix())
    _check_binaries(pkg_dir, staged, arch, fail)
    return DriverPackage(
        name=_package_name(inf_path),
        inf_path=inf_path,
        arch=arch,
        class_name=class_name,
        class_guid=class_guid,
        catalog=catalog,
        files=sorted(staged),
        provider=inf.value("version", "Provider") or "",
        driver_ver=inf.joined("version", "DriverVer"),
    )


def _check_binaries(pkg_dir: Path, staged: set[str], arch: str, fail) -> None:  # type: ignore[no-untyped-def]
    """Every .sys/.dll/.exe the package copies must be a PE file for `arch` (pebuild.pe.check_arch)."""
    from pebuild.pe import check_arch, is_pe

    for rel in sorted(staged):
        if not rel.lower().endswith(PE_SUFFIXES):
            continue
        data = (pkg_dir / rel).read_bytes()
        if not is_pe(data):
            raise fail(f"{rel} is not a PE file (no MZ/PE header): a driver binary for {arch} is needed")
        try:
            check_arch(data, arch, name=rel, error=InfError)
        except InfError as exc:
            raise fail(exc.message) from None


def _copied_files(inf: Inf, install_sections: list[str], decoration: str, fail) -> set[str]:  # type: ignore[no-untyped-def]
    files: set[str] = set()
    for base in sorted(set(install_sections)):
        lines = _decorated(inf, base, decoration)
        if lines is None:
            raise fail(f"install section [{base}] (from the models section) is missing")
        for entry in lines:
            if entry.key is None or entry.key.lower() != "copyfiles":
                continue
            for item in entry.fields:
                if not item:
                    continue
                if item.startswith("@"):
                    files.add(item[1:])
                    continue
                file_list = inf.section(item)
                if file_list is None:
                    raise fail(f"CopyFiles names section [{item}], which is missing")
                for file_line in file_list:
                    dest = file_line.key if file_line.key else file_line.fields[0]
                    source = (
                        file_line.fields[1] if len(file_line.fields) > 1 and file_line.fields[1] else dest
                    )
                    if source:
                        files.add(source)
    return files


def _source_location(inf: Inf, name: str, decoration: str, fail) -> str:  # type: ignore[no-untyped-def]
    """Where `name` sits in the package: SourceDisksFiles(.arch) disk id + SourceDisksNames path + subdir."""
    entry = None
    disk_names: list[InfLine] = []
    for suffix in (f".{decoration[2:]}", ""):
        for line in inf.section(f"sourcedisksfiles{suffix}") or []:
            key = line.key if line.key is not None else (line.fields[0] if line.fields else "")
            if key.lower() == name.lower():
                entry = line
                disk_names = inf.section(f"sourcedisksnames{suffix}") or inf.section("sourcedisksnames") or []
                break
        if entry is not None:
            break
    if entry is None:
        raise fail(f"file {name!r} (CopyFiles) is not listed in [SourceDisksFiles] for {decoration[2:]}")
    disk_id = entry.fields[0] if entry.key is not None and entry.fields else ""
    subdir = entry.fields[1] if entry.key is not None and len(entry.fields) > 1 else ""
    disk_path = ""
    for disk in disk_names:
        if disk.key == disk_id and len(disk.fields) > 3:
            disk_path = disk.fields[3]
    parts = [p.strip("\\/") for p in (disk_path, subdir) if p and p.strip("\\/")]
    return "/".join([*parts, name]).replace("\\", "/")


def _package_name(inf_path: Path) -> str:
    """A stable folder name for X:\\Drivers\\<name>: the INF's base name, safe characters only."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", inf_path.stem) or "driver"


def find_infs(path: Path) -> list[Path]:
    """A recipe path is an INF file or a directory searched recursively for *.inf (sorted)."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".inf")


def drvload_line(package: DriverPackage, root: str = "X:\\Drivers") -> str:
    return f"drvload {root}\\{package.name}\\{package.inf_path.name}"
