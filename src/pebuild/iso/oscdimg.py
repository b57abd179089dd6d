"""oscdimg's command line, parsed into an IsoRequest so existing scripts run unchanged.

Syntax as documented for oscdimg (formats.md E2, anchors.md 2.1): options are
glued to their values (`-lWINPE`, `-bfwfiles\\etfsboot.com`,
`-t12/31/2024,23:59:59`), option letters are case-insensitive, paths use
backslashes, and `-bootdata:N#e1#e2` takes `#`-separated entries of
comma-separated fields p<platform>, e, t<load segment>, b<file> (a b value may
carry literal double quotes, as it does when a .cmd script is pasted into a
POSIX shell). Any option not listed in `SUPPORTED` is refused by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PureWindowsPath

from pebuild.errors import UsageError
from pebuild.iso.model import IsoRequest

SUPPORTED = ("-b", "-bootdata", "-p", "-e", "-t", "-n", "-d", "-m", "-o", "-u1", "-u2", "-udfver102")
SUPPORTED += ("-l", "-j1", "-j2", "-h", "-g", "-yo")
DEFAULT_LABEL = "CDROM"
_NOTES = {
    "-udfver102": "-udfver102: the UDF descriptors carry revision 1.02 (udfinfo: udfrev=1.02); no other revision is written",
    "-n": "-n: long names are carried by Joliet/UDF; ISO 9660 names stay level-3 (30 characters)",
    "-d": "-d: ISO 9660 names stay upper case (d-characters); Joliet/UDF keep the original case",
    "-h": "-h: Linux has no hidden attribute; every file in the source tree is included",
    "-j2": "-j2: ISO 9660 names are written too (readers that want Joliet use it)",
}


@dataclass
class OscdimgCommand:
    request: IsoRequest
    options: list[str] = field(default_factory=list)  # normalized names of the options seen
    notes: list[str] = field(default_factory=list)  # where pebuild differs from oscdimg


@dataclass
class _BootEntry:
    platform: int = 0
    file: str | None = None
    load_segment: int | None = None


def parse_oscdimg_args(args: list[str], cwd: Path | None = None) -> OscdimgCommand:
    """Parse `oscdimg [options] source target` as oscdimg would; UsageError names what is wrong."""
    cwd = Path(cwd) if cwd else Path.cwd()
    seen: list[str] = []
    positional: list[str] = []
    label = DEFAULT_LABEL
    entries: list[_BootEntry] = []
    single = _BootEntry()
    single_used = False
    timestamp: int | None = None
    file_order: list[str] | None = None
    for arg in args:
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        low = arg.lower()
        if low.startswith("-bootdata:"):
            entries = _parse_bootdata(arg[len("-bootdata:") :])
            name = "-bootdata"
        elif low in ("-u1", "-u2", "-udfver102", "-j1", "-j2", "-n", "-d", "-m", "-o", "-h", "-g", "-e"):
            name = low
        elif low.startswith("-yo"):
            name = "-yo"
            file_order = _read_order_file(_host_path(_unquote(arg[3:]), cwd, "-yo"))
        elif low.startswith("-l") and len(arg) > 2:
            name, label = "-l", _unquote(arg[2:])
        elif low.startswith("-t") and len(arg) > 2:
            name, timestamp = "-t", _parse_t(arg[2:])
        elif low.startswith("-p") and len(arg) > 2:
            name, single.platform, single_used = "-p", _hex(arg[2:], "-p"), True
        elif low.startswith("-b") and len(arg) > 2:
            name, single.file, single_used = "-b", _unquote(arg[2:]), True
        else:
            opt = re.match(r"-[A-Za-z]+\d*:?", arg)
            shown = opt.group(0).rstrip(":") if opt else arg
            raise UsageError(f"oscdimg option {shown} is not supported by pebuild (see docs/iso.md)")
        seen.append(name)
    if entries and single_used:
        raise UsageError("oscdimg: -bootdata cannot be combined with -b/-p (oscdimg refuses this too)")
    if single_used:
        if single.file is None:
            raise UsageError("oscdimg: -p given without -b<boot file>")
        entries = [single]
    if len(positional) != 2:
        raise UsageError(
            f"oscdimg: expected a source directory and a target file, got {len(positional)} argument(s)"
        )
    if "-u2" in seen and "-j2" in seen:
        raise UsageError("oscdimg: -j2 cannot be combined with UDF (-u2)")
    bios, uefi, segment = _split_entries(entries, cwd)
    request = IsoRequest(
        media_dir=_host_path(positional[0], cwd, "source"),
        output=_host_path(positional[1], cwd, "target"),
        bios_boot=bios,
        uefi_boot=uefi,
        label=label,
        udf="-u1" in seen or "-u2" in seen,
        joliet=("-j1" in seen or "-j2" in seen) and "-u2" not in seen,
        hide_boot_images=None,
        timestamp=timestamp,
        bios_load_segment=segment,
        file_order=file_order,
        udf_only="-u2" in seen,
        dedupe="-o" in seen,
    )
    notes = [_NOTES[o] for o in dict.fromkeys(seen) if o in _NOTES]
    return OscdimgCommand(request=request, options=seen, notes=notes)


def _parse_bootdata(text: str) -> list[_BootEntry]:
    parts = _split_outside_quotes(text, "#")
    if not parts or not parts[0].strip().isdigit():
        raise UsageError(
            f"oscdimg: -bootdata must start with the entry count, e.g. -bootdata:2#...: {text!r}"
        )
    count = int(parts[0])
    raw_entries = [p for p in parts[1:] if p]
    if count != len(raw_entries):
        raise UsageError(
            f"oscdimg: -bootdata:{count} announces {count} entries but {len(raw_entries)} follow"
        )
    entries = []
    for raw in raw_entries:
        entry = _BootEntry()
        for fld in _split_outside_quotes(raw, ","):
            if not fld:
                continue
            key, value = fld[0].lower(), fld[1:]
            if key == "p":
                entry.platform = _hex(value, "-bootdata p")
            elif key == "e" and not value:
                pass  # no emulation: the only mode pebuild writes
            elif key == "b":
                entry.file = _unquote(value)
            elif key == "t":
                entry.load_segment = _hex(value, "-bootdata t")
            else:
                raise UsageError(f"oscdimg: -bootdata field {fld!r} is not supported (p, e, t, b are)")
        if not entry.file:
            raise UsageError(f"oscdimg: -bootdata entry {raw!r} has no b<boot file>")
        entries.append(entry)
    return entries


def _split_entries(entries: list[_BootEntry], cwd: Path) -> tuple[Path | None, Path | None, int]:
    bios = uefi = None
    segment = 0x07C0
    for entry in entries:
        path = _host_path(entry.file or "", cwd, "boot file")
        if entry.platform == 0:
            if bios is not None:
                raise UsageError("oscdimg: more than one BIOS (p0) boot entry is not supported")
            bios = path
            if entry.load_segment:
                segment = entry.load_segment
        elif entry.platform == 0xEF:
            if uefi is not None:
                raise UsageError("oscdimg: more than one UEFI (pEF) boot entry is not supported")
            uefi = path
        else:
            raise UsageError(f"oscdimg: boot platform {entry.platform:#x} is not supported (0 and EF are)")
    return bios, uefi, segment


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, cur, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            cur.append(ch)
        elif ch == sep and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _unquote(value: str) -> str:
    return value.replace('"', "")


def _hex(value: str, what: str) -> int:
    text = _unquote(value).strip().lower().removeprefix("0x")
    try:
        return int(text, 16)
    except ValueError:
        raise UsageError(f"oscdimg: {what} takes a hexadecimal number, got {value!r}") from None


def _parse_t(value: str) -> int:
    text = _unquote(value)
    for fmt in ("%m/%d/%Y,%H:%M:%S", "%m/%d/%Y"):
        try:
            return int(datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp())
        except ValueError:
            continue
    raise UsageError(f"oscdimg: -t takes mm/dd/yyyy,hh:mm:ss, got {value!r}")


def _host_path(text: str, cwd: Path, what: str) -> Path:
    """A Windows-style path from a script (backslashes, maybe quoted) as a path here."""
    text = _unquote(text)
    if not text:
        raise UsageError(f"oscdimg: empty {what} path")
    win = PureWindowsPath(text)
    if win.drive:
        raise UsageError(
            f"oscdimg: drive-letter path {text!r} ({what}) has no meaning here; use a relative path"
        )
    posix = text.replace("\\", "/") if "\\" in text else text
    path = Path(posix)
    return path if path.is_absolute() else cwd / path


def _read_order_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise UsageError(f"oscdimg: cannot read -yo file order list: {exc.strerror}", path=path) from None
    return [_unquote(line.strip()) for line in text.splitlines() if line.strip()]
