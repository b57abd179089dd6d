"""Independent checks of written hives for the hive and bcd tests.

Nothing here imports pebuild: the structural checker walks bins and cells with
plain `struct` from the rules in formats.md §1, `hivex_view` runs hivex's
`hivexregedit --export` and parses its .reg text, `hivex_tree` walks the hive with
hivex's own library (Win::Hivex: exact names, types, data bytes and key timestamps)
and `regipy_keys` reads class names and timestamps with regipy. Names are upper-cased with
Windows' own table: the NTFS $UpCase file mkntfs (ntfs-3g) writes, which is the
table RtlUpcaseUnicodeChar uses, read back with ntfscat.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

HIVEX_PREFIX = "HKEY_LOCAL_MACHINE\\BCD00000000"


def hivex_export(path: Path, prefix: str | None = HIVEX_PREFIX, key: str = "\\") -> str:
    """`hivexregedit --export` of `key` and its subtree (`prefix` None: hivex's default)."""
    args = ["hivexregedit", "--export", *(["--prefix", prefix] if prefix else []), str(path), key]
    proc = subprocess.run(args, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return _perl_text(proc.stdout)


def _perl_text(raw: bytes) -> str:
    """hivexregedit prints a line whose characters are all below U+0100 as Latin-1 bytes and
    any other line as UTF-8 ("Wide character in print"): decode line by line accordingly."""
    lines = []
    for line in raw.split(b"\n"):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(line.decode("latin-1"))
    return "\n".join(lines)


def hivex_view(path: Path) -> dict[str, dict[str, str]]:
    """{key path: {value name: 'type:hexdata'}} from hivexregedit's export."""
    view: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    text = hivex_export(path, "ROOT")
    text = re.sub(r"\\\n\s*", "", text)
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = view.setdefault(line[len("[ROOT") + 1 : -1].strip("\\"), {})
        elif current is not None and line.startswith("@="):
            current[""] = line[2:]
        elif current is not None and line.startswith('"'):
            name, i = [], 1
            while line[i] != '"':
                if line[i] == "\\":
                    i += 1
                name.append(line[i])
                i += 1
            assert line[i + 1] == "="
            current["".join(name)] = line[i + 2 :]
    return view


#: Walks a hive with hivex's library (the one hivexregedit/hivexget use) and prints one line per
#: key (K, hex UTF-8 path, FILETIME) and per value (V, hex UTF-8 name, type, hex data).
_HIVEX_WALK = r"""
use strict; use warnings; use Win::Hivex;
my $h = Win::Hivex->open($ARGV[0]);
binmode STDOUT;
sub hx { my ($s) = @_; utf8::encode($s); return unpack("H*", $s); }
my @stack = ([$h->root(), ""]);
while (my $item = pop @stack) {
  my ($node, $path) = @$item;
  my $ts = eval { $h->node_timestamp($node) };  # hivex refuses a FILETIME above 2**63 - 1
  print "K\t", hx($path), "\t", defined $ts ? $ts : -1, "\n";
  for my $v ($h->node_values($node)) {
    my ($type, $data) = $h->value_value($v);
    print "V\t", hx($h->value_key($v)), "\t", $type, "\t", unpack("H*", $data), "\n";
  }
  for my $c (reverse $h->node_children($node)) {
    my $n = $h->node_name($c);
    push @stack, [$c, $path eq "" ? $n : "$path\\$n"];
  }
}
"""


@dataclass(frozen=True)
class HivexKey:
    """One key as hivex reads it: its last-written FILETIME (-1: one hivex refuses, above
    2**63 - 1) and {value name: (type, data)}."""

    mtime: int
    values: dict[str, tuple[int, bytes]]


def hivex_tree(path: Path) -> dict[str, HivexKey]:
    """{key path below the root ("" = root): HivexKey}, in hivex's order, through hivex's
    library. Unlike the .reg export this keeps every name exactly (UTF-8 from hivex, so
    Latin-1 compressed and UTF-16 names alike), the raw data bytes and the full timestamps."""
    proc = subprocess.run(
        ["perl", "-e", _HIVEX_WALK, str(path)],
        capture_output=True,
        timeout=300,
        env={**os.environ, "LC_ALL": "C"},
    )
    assert proc.returncode == 0, proc.stderr
    tree: dict[str, HivexKey] = {}
    current: HivexKey | None = None
    for line in proc.stdout.decode("ascii").splitlines():
        fields = line.split("\t")
        if fields[0] == "K":
            key = bytes.fromhex(fields[1]).decode("utf-8")
            assert key not in tree, f"hivex lists {key!r} twice"
            current = tree[key] = HivexKey(int(fields[2]), {})
        else:
            assert fields[0] == "V" and current is not None, line
            name = bytes.fromhex(fields[1]).decode("utf-8")
            assert name not in current.values, f"hivex lists value {name!r} twice"
            current.values[name] = (int(fields[2]), bytes.fromhex(fields[3]))
    return tree


def hivex_values(path: Path) -> dict[str, dict[str, tuple[int, bytes]]]:
    """`hivex_tree` without the timestamps: {key path: {value name: (type, data)}}."""
    return {key: item.values for key, item in hivex_tree(path).items()}


def hivex_upper(tree: dict[str, HivexKey]) -> dict[str, dict[str, tuple[int, bytes]]]:
    """Key paths and value names upper-cased (Windows' table): for models that track names that way."""
    return {
        upper_text(key): {upper_text(name): value for name, value in item.values.items()}
        for key, item in tree.items()
    }


def bcd_elements(path: Path) -> dict[str, dict[str, tuple[int, bytes]]]:
    """A BCD store as hivex reads it: {object key (lower-case GUID): {element id (8 lower-case hex
    digits): (type, data) of its Element value}}; objects without elements map to {}."""
    objects: dict[str, dict[str, tuple[int, bytes]]] = {}
    for where, item in hivex_tree(path).items():
        parts = where.lower().split("\\")
        if len(parts) >= 2 and parts[0] == "objects":
            elements = objects.setdefault(parts[1], {})
            if len(parts) == 4 and parts[2] == "elements" and "element" in {n.lower() for n in item.values}:
                elements[parts[3]] = next(v for n, v in item.values.items() if n.lower() == "element")
    return objects


def reg_sz(text: str) -> bytes:
    """REG_SZ data as Windows stores it: UTF-16LE with the terminating NUL."""
    return (text + "\0").encode("utf-16-le")


def upper_text(name: str) -> str:
    """The name upper-cased as Windows compares it (one UTF-16 unit at a time)."""
    return struct.pack(f"<{len(utf16_units(name))}H", *upper_units(name)).decode("utf-16-le", "surrogatepass")


@dataclass(frozen=True)
class RegipyKey:
    """One key node as regipy parses it: class name, last-written FILETIME, and whether the
    name is stored compressed (one Latin-1 byte per character, the nk's 0x20 flag)."""

    class_name: str | None
    mtime: int
    compressed: bool


def regipy_keys(path: Path) -> dict[str, RegipyKey]:
    """{key path below the root: RegipyKey}. regipy decodes compressed names as ASCII (lossy),
    so the path is decoded here from the name bytes regipy read, by the compressed-name flag."""
    from regipy.registry import RegistryHive

    reg = RegistryHive(str(path))
    out: dict[str, RegipyKey] = {}
    stack = [(reg.root, "")]
    while stack:
        nk, where = stack.pop()
        header = nk.header
        has_class = header.class_name_size and header.class_name_offset != 0xFFFFFFFF
        out[where] = RegipyKey(
            nk.get_class_name() if has_class else None, header.last_modified, bool(header.flags.KEY_COMP_NAME)
        )
        for child in nk.iter_subkeys() or ():
            raw = child.header.key_name_string
            name = raw.decode("latin-1") if child.header.flags.KEY_COMP_NAME else raw.decode("utf-16-le")
            stack.append((child, f"{where}\\{name}" if where else name))
    return out


def regipy_classes(path: Path) -> dict[str, tuple[str | None, int]]:
    """`regipy_keys` as {key path: (class name, FILETIME)}."""
    return {where: (key.class_name, key.mtime) for where, key in regipy_keys(path).items()}


def regipy_replay(hive: Path, logs: list[Path], out: Path) -> Path:
    """The dirty `hive` recovered by regipy from its logs (in the order Windows reads them: LOG1
    then LOG2), written to `out` with the header checksum regipy leaves stale recomputed here
    (hivex refuses a bad checksum): an independent replay to compare pebuild's result with."""
    import logging

    from regipy.recovery import apply_transaction_logs

    logging.disable(logging.CRITICAL)
    try:
        if len(logs) == 2:
            apply_transaction_logs(
                str(hive), str(logs[1]), secondary_log_path=str(logs[0]), restored_hive_path=str(out)
            )
        else:
            apply_transaction_logs(str(hive), str(logs[0]), restored_hive_path=str(out))
    finally:
        logging.disable(logging.NOTSET)
    data = bytearray(out.read_bytes())
    xor = 0
    for (dword,) in struct.iter_unpack("<I", bytes(data[:508])):
        xor ^= dword
    struct.pack_into("<I", data, 508, {0: 1, 0xFFFFFFFF: 0xFFFFFFFE}.get(xor, xor))
    out.write_bytes(bytes(data))
    return out


def reg_data(vtype: int, data: bytes) -> str:
    """The way hivexregedit writes a value: hex(T):aa,bb / dword:xxxxxxxx."""
    if vtype == 4 and len(data) == 4:
        return f"dword:{struct.unpack('<I', data)[0]:08x}"
    return f"hex({vtype:x}):" + ",".join(f"{b:02x}" for b in data)


@functools.lru_cache(maxsize=1)
def windows_upcase_table() -> tuple[int, ...] | None:
    """The 65536-entry $UpCase table of a fresh NTFS volume (mkntfs), or None without ntfs-3g."""
    mkntfs = shutil.which("mkntfs") or shutil.which("mkntfs", path="/usr/sbin:/sbin")
    ntfscat = shutil.which("ntfscat") or shutil.which("ntfscat", path="/usr/bin:/bin")
    if not mkntfs or not ntfscat:
        return None
    with tempfile.TemporaryDirectory(prefix="upcase-") as tmp:
        image = Path(tmp) / "ntfs.img"
        with image.open("wb") as fh:
            fh.truncate(8 << 20)
        subprocess.run([mkntfs, "-q", "-F", "-f", str(image)], check=True, capture_output=True, timeout=60)
        raw = subprocess.run(
            [ntfscat, "-f", str(image), "$UpCase"], check=True, capture_output=True, timeout=60
        )
    assert len(raw.stdout) == 131072, len(raw.stdout)
    return struct.unpack("<65536H", raw.stdout)


def utf16_units(name: str) -> list[int]:
    data = name.encode("utf-16-le", "surrogatepass")
    return list(struct.unpack(f"<{len(data) // 2}H", data))


def upper_units(name: str) -> list[int]:
    """Windows' upper-case of each UTF-16 unit (surrogates unchanged). Without mkntfs: Python's
    simple upper-casing where it round-trips, which is what Windows' table mostly is."""
    table = windows_upcase_table()
    if table is not None:
        return [table[u] for u in utf16_units(name)]
    out = []
    for u in utf16_units(name):
        ch = chr(u)
        up = ch.upper() if not 0xD800 <= u < 0xE000 else ch
        out.append(ord(up) if len(up) == 1 and up.lower() == ch else u)
    return out


def lh_hash(name: str) -> int:
    h = 0
    for unit in upper_units(name):
        h = (37 * h + unit) & 0xFFFFFFFF
    return h


def _upper(name: str) -> list[int]:
    return upper_units(name)


def check_structure(data: bytes) -> dict[str, int]:
    """Assert what Windows/hivex check; return counts (keys, sk cells)."""
    assert data[:4] == b"regf"
    seq1, seq2 = struct.unpack_from("<II", data, 4)
    assert seq1 == seq2, "sequence numbers differ"
    xor = 0
    for (dword,) in struct.iter_unpack("<I", data[:508]):
        xor ^= dword
    expected = {0: 1, 0xFFFFFFFF: 0xFFFFFFFE}.get(xor, xor)
    assert struct.unpack_from("<I", data, 508)[0] == expected, "checksum"
    minor = struct.unpack_from("<I", data, 24)[0]
    root, bins_size = struct.unpack_from("<II", data, 36)
    assert bins_size % 4096 == 0 and 4096 + bins_size <= len(data)
    bins = data[4096 : 4096 + bins_size]
    cells: dict[int, int] = {}
    pos = 0
    while pos < bins_size:
        assert bins[pos : pos + 4] == b"hbin"
        off, size = struct.unpack_from("<II", bins, pos + 4)
        assert off == pos and size % 4096 == 0 and size > 0
        cell = pos + 32
        while cell < pos + size:
            csize = struct.unpack_from("<i", bins, cell)[0]
            assert abs(csize) % 8 == 0 and abs(csize) >= 8, f"cell size at {cell:x}"
            assert cell + abs(csize) <= pos + size, "cell crosses its bin"
            cells[cell] = csize
            cell += abs(csize)
        pos += size

    def payload(off: int) -> bytes:
        assert off in cells and cells[off] < 0, f"offset 0x{off:x} is not an allocated cell"
        return bins[off + 4 : off + (-cells[off])]

    sk_users: dict[int, int] = {}
    keys = 0
    stack = [root]
    seen = set()
    while stack:
        nk_off = stack.pop()
        assert nk_off not in seen
        seen.add(nk_off)
        nk = payload(nk_off)
        assert nk[:2] == b"nk"
        keys += 1
        nsub, sublist = struct.unpack_from("<I4xI", nk, 20)
        sk = struct.unpack_from("<I", nk, 44)[0]
        sk_users[sk] = sk_users.get(sk, 0) + 1
        children = _list_entries(payload, sublist, minor) if nsub else []
        assert len(children) == nsub, "subkey count differs from list count"
        names = []
        for child in children:
            cnk = payload(child)
            flags = struct.unpack_from("<H", cnk, 2)[0]
            nlen = struct.unpack_from("<H", cnk, 72)[0]
            raw = cnk[76 : 76 + nlen]
            names.append(raw.decode("latin-1") if flags & 0x20 else raw.decode("utf-16-le"))
            assert struct.unpack_from("<I", cnk, 16)[0] == nk_off, "parent pointer"
        uppers = [_upper(n) for n in names]
        assert uppers == sorted(uppers), "subkeys not sorted by uppercased name"
        stack.extend(children)
    for sk, users in sk_users.items():
        cell = payload(sk)
        assert cell[:2] == b"sk"
        assert struct.unpack_from("<I", cell, 12)[0] == users, "sk reference count"
    return {"keys": keys, "sk": len(sk_users)}


def _list_entries(payload, offset: int, minor: int) -> list[int]:  # type: ignore[no-untyped-def]
    cell = payload(offset)
    sig, count = struct.unpack_from("<2sH", cell, 0)
    if sig == b"ri":
        out: list[int] = []
        for leaf in struct.unpack_from(f"<{count}I", cell, 4):
            out.extend(_list_entries(payload, leaf, minor))
        return out
    if sig == b"li":
        return list(struct.unpack_from(f"<{count}I", cell, 4))
    assert sig == (b"lh" if minor >= 5 else b"lf"), sig
    entries = []
    for i in range(count):
        off, extra = struct.unpack_from("<I4s", cell, 4 + 8 * i)
        child = payload(off)
        flags = struct.unpack_from("<H", child, 2)[0]
        nlen = struct.unpack_from("<H", child, 72)[0]
        raw = child[76 : 76 + nlen]
        name = raw.decode("latin-1") if flags & 0x20 else raw.decode("utf-16-le")
        if sig == b"lh":
            assert struct.unpack("<I", extra)[0] == lh_hash(name), f"lh hash of {name}"
        elif name[:4].isascii():
            assert extra == name[:4].encode("latin-1").ljust(4, b"\0"), f"lf hint of {name}"
        entries.append(off)
    return entries
