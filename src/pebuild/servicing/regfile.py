""".reg files: the text format regedit.exe imports and exports.

Both dialects are read and written:

* ``REGEDIT4`` (Windows 95/NT4): ANSI text; ``hex(2)``/``hex(7)`` payloads are
  single-byte strings.
* ``Windows Registry Editor Version 5.00`` (Windows 2000 and later): regedit
  writes it as UTF-16LE with a BOM; ``hex(2)``/``hex(7)`` payloads are UTF-16LE.

Data is kept as the bytes a hive stores (strings UTF-16LE with their NUL), so a
parsed file can be applied to a hive as-is and a hive exported without loss.
Every error is a one-line `FormatError` naming the file and line.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path

from pebuild.errors import FormatError

HEADER_V5 = "Windows Registry Editor Version 5.00"
HEADER_V4 = "REGEDIT4"

# Registry value types (winnt.h REG_*), same numbers as pebuild.hive.RegType.
REG_NONE, REG_SZ, REG_EXPAND_SZ, REG_BINARY, REG_DWORD = 0, 1, 2, 3, 4
REG_MULTI_SZ, REG_QWORD = 7, 11

#: value type words (`pebuild reg set --type`, recipe [[registry.set]] type) -> REG_* number
TYPE_NAMES = {
    "sz": REG_SZ,
    "expand_sz": REG_EXPAND_SZ,
    "multi_sz": REG_MULTI_SZ,
    "dword": REG_DWORD,
    "qword": REG_QWORD,
    "binary": REG_BINARY,
    "none": REG_NONE,
}

_STRING_TYPES = (REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ)
_HEX_RE = re.compile(r"hex(?:\(([0-9a-fA-F]{1,8})\))?:(.*)", re.S)
_DWORD_RE = re.compile(r"dword:([0-9a-fA-F]{1,8})")


@dataclass(frozen=True)
class RegValueEdit:
    """One value line: `name` is '' for the default value (@); `type` None deletes it."""

    name: str
    type: int | None
    data: bytes = b""
    line: int = field(default=0, compare=False)

    @property
    def is_delete(self) -> bool:
        return self.type is None


@dataclass
class RegKeyEdit:
    """One [KEY] block (or [-KEY], a recursive delete) with its value lines."""

    path: str
    delete: bool = False
    values: list[RegValueEdit] = field(default_factory=list)
    line: int = field(default=0, compare=False)


@dataclass
class RegFile:
    version: int = 5  # 4 = REGEDIT4, 5 = "Windows Registry Editor Version 5.00"
    keys: list[RegKeyEdit] = field(default_factory=list)


# --- encoding helpers ---------------------------------------------------------------------


def sz_bytes(text: str) -> bytes:
    """A REG_SZ / REG_EXPAND_SZ payload as a hive stores it: UTF-16LE plus NUL."""
    return (text + "\x00").encode("utf-16-le")


def multi_sz_bytes(items: list[str]) -> bytes:
    return "".join(s + "\x00" for s in items).encode("utf-16-le") + b"\x00\x00"


def dword_bytes(value: int) -> bytes:
    return (value & 0xFFFFFFFF).to_bytes(4, "little")


def qword_bytes(value: int) -> bytes:
    return (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")


def decode_text(data: bytes) -> str:
    """Decode a .reg (or INF) file as regedit does: UTF-16 by BOM, else UTF-8, else ANSI."""
    if data.startswith(codecs.BOM_UTF16_LE):
        return data[2:].decode("utf-16-le", errors="replace")
    if data.startswith(codecs.BOM_UTF16_BE):
        return data[2:].decode("utf-16-be", errors="replace")
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


# --- parser -------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, source: str | None) -> None:
        self.source = source
        self.lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()

    def fail(self, line: int, message: str) -> FormatError:
        where = f"{self.source}:{line}" if self.source else f"line {line}"
        return FormatError(f"{where}: {message}")

    def logical_lines(self) -> list[tuple[int, str]]:
        """Join backslash continuations (regedit wraps hex data at 80 columns)."""
        out: list[tuple[int, str]] = []
        i = 0
        while i < len(self.lines):
            start = i + 1
            text = self.lines[i].rstrip()
            i += 1
            while text.endswith("\\") and not text.lstrip().startswith(("[", ";")) and _in_data(text):
                if i >= len(self.lines):
                    raise self.fail(start, "line continuation '\\' at end of file")
                text = text[:-1] + self.lines[i].strip()
                i += 1
            out.append((start, text))
        return out

    def parse(self) -> RegFile:
        lines = self.logical_lines()
        idx = 0
        while idx < len(lines) and not lines[idx][1].strip():
            idx += 1
        if idx == len(lines):
            raise self.fail(1, f"empty file: expected '{HEADER_V5}' or '{HEADER_V4}'")
        lineno, header = lines[idx]
        header = header.strip()
        if header == HEADER_V5:
            version = 5
        elif header == HEADER_V4:
            version = 4
        else:
            raise self.fail(lineno, f"not a .reg file: first line must be '{HEADER_V5}' or '{HEADER_V4}'")
        reg = RegFile(version=version)
        current: RegKeyEdit | None = None
        for lineno, raw in lines[idx + 1 :]:
            text = raw.strip()
            if not text or text.startswith(";"):
                continue
            if text.startswith("["):
                current = self.parse_key(lineno, text)
                reg.keys.append(current)
                continue
            if current is None:
                raise self.fail(lineno, "value line before any [KEY] line")
            if current.delete:
                raise self.fail(lineno, f"value line under a key deletion [-{current.path}]")
            current.values.append(self.parse_value(lineno, text, version))
        return reg

    def parse_key(self, lineno: int, text: str) -> RegKeyEdit:
        if not text.endswith("]"):
            raise self.fail(lineno, "key line must end with ']'")
        inner = text[1:-1]
        delete = inner.startswith("-")
        path = inner[1:] if delete else inner
        path = path.strip()
        if path.endswith("\\") and not path.endswith("\\\\"):
            path = path[:-1]  # hivexregedit writes a hive's root as [PREFIX\]
        if not path or "\\\\" in path or path.startswith("\\") or path.endswith("\\"):
            raise self.fail(lineno, f"invalid key path {path!r}")
        return RegKeyEdit(path=path, delete=delete, line=lineno)

    def parse_value(self, lineno: int, text: str, version: int) -> RegValueEdit:
        if text.startswith("@"):
            name, rest = "", text[1:].lstrip()
        elif text.startswith('"'):
            name, end = self.parse_string(lineno, text, 0)
            rest = text[end:].lstrip()
        else:
            raise self.fail(lineno, "value line must start with '\"name\"' or '@'")
        if not rest.startswith("="):
            raise self.fail(lineno, "expected '=' after the value name")
        rest = rest[1:].strip()
        if rest == "-":
            return RegValueEdit(name=name, type=None, line=lineno)
        if rest.startswith('"'):
            value, end = self.parse_string(lineno, rest, 0)
            if rest[end:].strip() and not rest[end:].strip().startswith(";"):
                raise self.fail(lineno, "unexpected text after the closing quote")
            return RegValueEdit(name=name, type=REG_SZ, data=sz_bytes(value), line=lineno)
        data = rest.split(";", 1)[0].strip()
        if m := _DWORD_RE.fullmatch(data):
            return RegValueEdit(name, REG_DWORD, dword_bytes(int(m.group(1), 16)), lineno)
        if data.startswith("dword:"):
            raise self.fail(lineno, f"bad dword {data[6:]!r}: expected 1 to 8 hex digits")
        if m := _HEX_RE.fullmatch(data):
            vtype = REG_BINARY if m.group(1) is None else int(m.group(1), 16)
            raw = self.parse_hex(lineno, m.group(2))
            if version == 4 and vtype in (REG_EXPAND_SZ, REG_MULTI_SZ):
                raw = raw.decode("cp1252", errors="replace").encode("utf-16-le")  # ANSI -> hive UTF-16
            return RegValueEdit(name=name, type=vtype, data=raw, line=lineno)
        if data.startswith("hex"):
            raise self.fail(lineno, f"bad hex type in {data.split(':', 1)[0]!r}: expected hex: or hex(N):")
        raise self.fail(
            lineno, f'unknown value data {data[:40]!r}: expected "string", dword:, hex:, hex(N): or -'
        )

    def parse_hex(self, lineno: int, text: str) -> bytes:
        text = text.replace(" ", "").replace("\t", "")
        if not text:
            return b""
        out = bytearray()
        for part in text.split(","):
            if not re.fullmatch(r"[0-9a-fA-F]{1,2}", part):
                raise self.fail(
                    lineno, f"bad hex byte {part!r}: expected two hex digits per comma-separated byte"
                )
            out.append(int(part, 16))
        return bytes(out)

    def parse_string(self, lineno: int, text: str, start: int) -> tuple[str, int]:
        """A quoted string with regedit's escapes: \\\\ and \\" (plus \\n, \\r, \\0 as Wine takes them)."""
        assert text[start] == '"'
        out: list[str] = []
        i = start + 1
        while i < len(text):
            ch = text[i]
            if ch == "\\":
                if i + 1 >= len(text):
                    break
                nxt = text[i + 1]
                mapped = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "0": "\x00"}.get(nxt)
                if mapped is None:
                    raise self.fail(lineno, f"unknown escape '\\{nxt}' in string (write a backslash as \\\\)")
                out.append(mapped)
                i += 2
                continue
            if ch == '"':
                return "".join(out), i + 1
            out.append(ch)
            i += 1
        raise self.fail(lineno, "unterminated string: missing closing '\"'")


def _in_data(text: str) -> bool:
    """True when a trailing backslash continues hex data (not inside a quoted string)."""
    eq = text.find("=")
    if eq < 0:
        return text.lstrip()[:1] not in ('"', "@")  # a bare continuation line of hex data
    return text[eq + 1 :].lstrip().lower().startswith("hex")


def parse_reg(data: bytes | str, *, source: str | Path | None = None) -> RegFile:
    """Parse .reg text or bytes (BOM-detected) into a `RegFile`; FormatError on bad input."""
    text = decode_text(data) if isinstance(data, bytes) else data.lstrip("\ufeff")
    return _Parser(text, None if source is None else str(source)).parse()


def read_reg(path: str | Path) -> RegFile:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read .reg file: {exc.strerror}", path=path) from None
    return parse_reg(data, source=path)


# --- writer -------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _as_plain_sz(data: bytes) -> str | None:
    """The text of a REG_SZ that regedit would write as "...", or None when hex(1) is needed."""
    if len(data) % 2 or not data.endswith(b"\x00\x00"):
        return None
    try:
        text = data[:-2].decode("utf-16-le")
    except UnicodeDecodeError:
        return None
    if "\x00" in text or "\n" in text or "\r" in text:
        return None
    return text


def _hex_lines(prefix: str, data: bytes) -> str:
    """regedit's layout: comma-separated bytes wrapped before column 80 with '\\' + two spaces."""
    out = prefix
    line_len = len(prefix)
    parts = [f"{b:02x}" for b in data]
    for i, part in enumerate(parts):
        piece = part + ("," if i < len(parts) - 1 else "")
        if line_len + len(piece) > 77 and i > 0:
            out += "\\\r\n  "
            line_len = 2
        out += piece
        line_len += len(piece)
    return out


def format_value(value: RegValueEdit, version: int = 5) -> str:
    name = "@" if value.name == "" else _quote(value.name)
    if value.type is None:
        return f"{name}=-"
    if value.type == REG_SZ and (text := _as_plain_sz(value.data)) is not None:
        return f"{name}={_quote(text)}"
    if value.type == REG_DWORD and len(value.data) == 4:
        return f"{name}=dword:{int.from_bytes(value.data, 'little'):08x}"
    data = value.data
    if version == 4 and value.type in (REG_EXPAND_SZ, REG_MULTI_SZ) and len(data) % 2 == 0:
        data = data.decode("utf-16-le", errors="replace").encode("cp1252", errors="replace")
    kind = "hex" if value.type == REG_BINARY else f"hex({value.type:x})"
    return _hex_lines(f"{name}={kind}:", data)


def format_reg(reg: RegFile) -> str:
    """The .reg text (CRLF line ends) regedit would write for `reg`."""
    lines = [HEADER_V5 if reg.version == 5 else HEADER_V4, ""]
    for key in reg.keys:
        lines.append(f"[-{key.path}]" if key.delete else f"[{key.path}]")
        lines.extend(format_value(v, reg.version) for v in key.values)
        lines.append("")
    lines.append("")
    return "\r\n".join(lines)


def serialize_reg(reg: RegFile) -> bytes:
    """Bytes as regedit writes them: v5 UTF-16LE with BOM, REGEDIT4 in ANSI."""
    text = format_reg(reg)
    if reg.version == 5:
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    return text.encode("cp1252", errors="replace")
