"""Offline registry edits on an image's hives, the way `reg load` + regedit would make them.

A registry path such as ``HKLM\\SYSTEM\\CurrentControlSet\\Services\\FBWF`` is
mapped to a hive file in the image and a path inside it:

* ``HKLM\\SYSTEM|SOFTWARE|SAM|SECURITY\\...`` -> ``Windows/System32/config/<NAME>``
* ``HKCU\\...`` and ``HKU\\.DEFAULT|S-1-5-18\\...`` -> ``config/DEFAULT``: WinPE runs
  as LocalSystem, whose profile hive is .DEFAULT (S-1-5-18 is linked to it).
* ``HKU\\DefaultUser\\...`` -> ``Users/Default/NTUSER.DAT`` (new users' template,
  for install images).
* ``HKCR\\...`` -> ``SOFTWARE\\Classes\\...``.
* ``CurrentControlSet`` does not exist offline: it is the link the kernel makes
  at boot to ``ControlSet00N`` where N is ``Select\\Current``; we follow it.

A single hive *file* has no name in the registry, so there a path is relative to
its root (``resolve_in_single_hive``): ``HKLM\\X``, ``HKEY_LOCAL_MACHINE\\X``,
``HKU\\X``, ``\\X`` and ``X`` all mean ``<root>\\X``, and ``\\``, ``HKLM`` or ``HKU``
alone mean the root. ``HKCR`` and ``HKCU`` are refused there, naming the hive they
live in. ``loaded_at`` says where the file is mounted, as ``reg load KEY FILE`` would
(``HKLM\\SOFTWARE``: then ``HKLM\\SOFTWARE\\X`` is ``<root>\\X``).

Hives are parsed once, edited in memory through pebuild.hive and serialized in
"preserve" mode so every cell we did not touch keeps its meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pebuild.errors import FormatError, SourceError, UsageError
from pebuild.servicing.regfile import REG_DWORD, RegFile, RegKeyEdit, RegValueEdit

CONFIG_DIR = "Windows/System32/config"
HKLM_HIVES = ("SYSTEM", "SOFTWARE", "SAM", "SECURITY", "COMPONENTS", "DRIVERS")
DEFAULT_USER_HIVE = "Users/Default/NTUSER.DAT"
_ROOTS = {
    "HKEY_LOCAL_MACHINE": "HKLM",
    "HKLM": "HKLM",
    "HKEY_CURRENT_USER": "HKCU",
    "HKCU": "HKCU",
    "HKEY_USERS": "HKU",
    "HKU": "HKU",
    "HKEY_CLASSES_ROOT": "HKCR",
    "HKCR": "HKCR",
}
#: the single hive of a hive-file target
SINGLE_HIVE = ""


@dataclass(frozen=True)
class HiveFiles:
    """What a loader found for one hive: its bytes and the transaction logs beside it."""

    data: bytes
    logs: dict[str, bytes] = field(default_factory=dict)  # file name -> bytes


def split_key(key: str, *, allow_root: bool = False) -> list[str]:
    """Path components of `key`; `allow_root`: "\\" (or "/") alone is the empty path (the root)."""
    text = key.replace("/", "\\")
    if allow_root and text.strip() and not text.strip("\\"):
        return []
    parts = text.strip("\\").split("\\")
    if not key.strip() or any(not p for p in parts):
        raise UsageError(f"invalid registry key {key!r}: empty path component")
    return parts


def resolve_key(key: str) -> tuple[str, list[str]]:
    """Registry path -> (hive file's image path, components inside the hive)."""
    parts = split_key(key)
    root = _ROOTS.get(parts[0].upper())
    if root is None:
        raise UsageError(
            f"registry key {key!r} must start with HKLM, HKCU, HKU or HKCR (or their long names)"
        )
    rest = parts[1:]
    if root == "HKLM":
        if not rest or rest[0].upper() not in HKLM_HIVES:
            raise UsageError(f"{key!r}: offline images hold HKLM\\{{{','.join(HKLM_HIVES)}}} only")
        return f"{CONFIG_DIR}/{rest[0].upper()}", rest[1:]
    if root == "HKCU":
        return f"{CONFIG_DIR}/DEFAULT", rest
    if root == "HKCR":
        return f"{CONFIG_DIR}/SOFTWARE", ["Classes", *rest]
    if not rest:
        raise UsageError(f"{key!r}: name a user hive (HKU\\.DEFAULT or HKU\\DefaultUser)")
    user = rest[0].upper()
    if user in (".DEFAULT", "S-1-5-18"):
        return f"{CONFIG_DIR}/DEFAULT", rest[1:]
    if user in ("DEFAULTUSER", "DEFAULT"):
        return DEFAULT_USER_HIVE, rest[1:]
    raise UsageError(f"{key!r}: offline user hives are HKU\\.DEFAULT (WinPE's) and HKU\\DefaultUser")


def resolve_in_single_hive(key: str, loaded_at: str | None = None) -> tuple[list[str], bool]:
    """For a hive file: (components below its root, whether `key` named an HKLM/HKU root).

    `HKLM\\X`, `HKEY_LOCAL_MACHINE\\X`, `HKU\\X`, `\\X` and `X` are `<root>\\X`; `\\`, `HKLM`
    and `HKU` the root itself. With `loaded_at` (e.g. `HKLM\\SOFTWARE`) keys under it are
    relative to it and rooted keys elsewhere are refused."""
    parts = split_key(key, allow_root=True)
    if loaded_at is not None:
        mount = split_key(loaded_at)
        mount = [_ROOTS.get(mount[0].upper(), mount[0]), *mount[1:]]
        given = [_ROOTS.get(parts[0].upper(), parts[0]), *parts[1:]] if parts else []
        if parts and parts[0].upper() in _ROOTS:
            if [p.upper() for p in given[: len(mount)]] != [p.upper() for p in mount]:
                raise UsageError(
                    f"registry key '{key}' is not under '{loaded_at}', where --loaded-at places the hive file"
                )
            return parts[len(mount) :], False
        return parts, False
    if not parts:
        return [], False
    root = _ROOTS.get(parts[0].upper())
    if root is None:
        return parts, False
    if root in ("HKCR", "HKCU"):
        raise UsageError(f"'{key}': {_NOT_IN_A_HIVE_FILE[root]}")
    return parts[1:], True


_NOT_IN_A_HIVE_FILE = {
    "HKCR": (
        "HKEY_CLASSES_ROOT is not a hive file: it is the Classes key of the SOFTWARE hive "
        "(HKLM\\SOFTWARE\\Classes) merged with the user's UsrClass.dat; on the SOFTWARE hive file "
        "write 'Classes\\...', or give the image (WIM or directory) to use HKCR"
    ),
    "HKCU": (
        "HKEY_CURRENT_USER is the user's NTUSER.DAT (for WinPE, Windows/System32/config/DEFAULT); "
        "on that hive file write the path without HKCU, or give the image (WIM or directory) to use HKCU"
    ),
}


def current_control_set(hive: Any, where: str) -> str:
    """ControlSet00N named by Select\\Current (what CurrentControlSet links to at boot)."""
    select = hive.root.open("Select")
    value = select.get_value("Current") if select is not None else None
    if value is None or value.type != REG_DWORD or len(value.data) < 4:
        raise FormatError(f"{where}: SYSTEM hive has no Select\\Current DWORD, cannot map CurrentControlSet")
    name = f"ControlSet{int.from_bytes(value.data[:4], 'little'):03d}"
    if hive.root.open(name) is None:
        raise FormatError(f"{where}: Select\\Current names {name}, which is not in the hive")
    return name


class RegistryEditor:
    """Edits across the hives of one image (or one hive file), loaded lazily by `loader`.

    `loader(image_path)` returns the hive bytes or None when the image has no such hive.
    """

    def __init__(
        self,
        loader: Callable[[str], HiveFiles | bytes | None],
        *,
        single_hive: bool = False,
        allow_dirty: bool = False,
        loaded_at: str | None = None,
        describe: Callable[[str], str] | None = None,
    ) -> None:
        self._loader = loader
        self._single = single_hive
        self._allow_dirty = allow_dirty
        self._loaded_at = loaded_at
        self._describe = describe or (lambda p: p or "hive")
        self._hives: dict[str, Any] = {}
        self._dirty: set[str] = set()

    # -- locating ----------------------------------------------------------------------
    def hive(self, image_path: str) -> Any:
        """The hive at `image_path`, parsed once; a dirty one is recovered from the logs the
        loader found beside it (a `HiveFiles`), else refused (read-only with allow_dirty)."""
        if image_path not in self._hives:
            from pebuild.hive import Hive

            found = self._loader(image_path)
            if found is None:
                raise SourceError(f"the image has no registry hive {image_path}")
            files = found if isinstance(found, HiveFiles) else HiveFiles(found)
            self._hives[image_path] = Hive.parse(
                files.data, allow_dirty=self._allow_dirty, logs=files.logs, source=self._describe(image_path)
            )
        return self._hives[image_path]

    def locate(self, key: str) -> tuple[str, Any, str]:
        """-> (hive image path, Hive, path inside the hive with CurrentControlSet resolved)."""
        rooted = False
        if self._single:
            image_path = SINGLE_HIVE
            parts, rooted = resolve_in_single_hive(key, self._loaded_at)
        else:
            image_path, parts = resolve_key(key)
        hive = self.hive(image_path)
        if rooted and parts and parts[0].upper() in HKLM_HIVES and hive.root.subkey(parts[0]) is None:
            inner = "\\".join(parts[1:])
            raise UsageError(
                f"'{key}': on a hive file HKLM\\X is X under the hive's root, and this hive has no key "
                f"'{parts[0]}'; write 'HKLM\\{inner}' or '\\{inner}' for a key of this hive, or add "
                f"--loaded-at 'HKLM\\{parts[0].upper()}' to read paths as `reg load` would place the file"
            )
        if parts and parts[0].lower() == "currentcontrolset":
            parts = [current_control_set(hive, image_path or "hive"), *parts[1:]]
        return image_path, hive, "\\".join(parts)

    def open_key(self, key: str) -> Any | None:
        _, hive, sub = self.locate(key)
        return hive.root if not sub else hive.root.open(sub)

    # -- edits -------------------------------------------------------------------------
    def set_value(self, key: str, name: str, reg_type: int, data: bytes) -> None:
        image_path, hive, sub = self.locate(key)
        node = hive.root if not sub else hive.root.create(sub)
        node.set_value(name, reg_type, data)
        self._dirty.add(image_path)

    def create_key(self, key: str) -> None:
        image_path, hive, sub = self.locate(key)
        if sub and hive.root.open(sub) is None:
            hive.root.create(sub)
            self._dirty.add(image_path)

    def delete_value(self, key: str, name: str) -> bool:
        image_path, hive, sub = self.locate(key)
        node = hive.root if not sub else hive.root.open(sub)
        if node is None or node.get_value(name) is None:
            return False
        node.delete_value(name)
        self._dirty.add(image_path)
        return True

    def delete_key(self, key: str) -> bool:
        """Recursive, like [-KEY]; deleting an absent key is not an error (regedit agrees)."""
        image_path, hive, sub = self.locate(key)
        if not sub:
            raise UsageError(f"refusing to delete the root of hive {image_path or 'file'}: {key!r}")
        parent_path, _, leaf = sub.rpartition("\\")
        parent = hive.root if not parent_path else hive.root.open(parent_path)
        if parent is None or parent.subkey(leaf) is None:
            return False
        parent.delete_subkey(leaf, recursive=True)
        self._dirty.add(image_path)
        return True

    def get_value(self, key: str, name: str) -> Any | None:
        node = self.open_key(key)
        return None if node is None else node.get_value(name)

    def apply_reg(self, reg: RegFile) -> int:
        """Merge a .reg file in order, as regedit /s would; returns the number of operations."""
        count = 0
        for block in reg.keys:
            if block.delete:
                self.delete_key(block.path)
                count += 1
                continue
            self.create_key(block.path)
            for value in block.values:
                if value.is_delete:
                    self.delete_value(block.path, value.name)
                else:
                    assert value.type is not None
                    self.set_value(block.path, value.name, value.type, value.data)
                count += 1
        return count

    def export(self, key: str) -> RegFile:
        """The key and its subtree as a v5 .reg (names keep the caller's spelling of `key`)."""
        node = self.open_key(key)
        if node is None:
            raise UsageError(f"registry key not found: {key}")
        reg = RegFile(version=5)
        self._export_into(reg, node, key.replace("/", "\\").strip("\\"))
        return reg

    def _export_into(self, reg: RegFile, node: Any, path: str) -> None:
        block = RegKeyEdit(path=_long_root(path))
        block.values = [RegValueEdit(name=v.name, type=v.type, data=bytes(v.data)) for v in node.values]
        reg.keys.append(block)
        for child in node.subkeys:
            self._export_into(reg, child, f"{path}\\{child.name}")

    # -- results -----------------------------------------------------------------------
    @property
    def changed(self) -> list[str]:
        """Hives with a real change (setting a value to what it already holds is none)."""
        return sorted(p for p in self._dirty if self._hives[p].is_modified)

    def logs_to_clear(self, image_path: str) -> list[str]:
        """Names of the transaction logs found beside a changed hive: the written hive holds
        their data and is clean, so they are emptied in the target (Windows must not replay
        stale pages over the new file)."""
        hive = self._hives.get(image_path)
        return list(hive.log_names) if hive is not None else []

    def serialized(self, timestamp: int | None = None) -> dict[str, bytes]:
        """Changed hives -> bytes (preserve mode: untouched cells stay as they were)."""
        from pebuild.hive import serialize_hive

        return {p: serialize_hive(self._hives[p], mode="preserve", timestamp=timestamp) for p in self.changed}


def _long_root(path: str) -> str:
    head, sep, tail = path.partition("\\")
    long_names = {"HKLM": "HKEY_LOCAL_MACHINE", "HKCU": "HKEY_CURRENT_USER", "HKU": "HKEY_USERS"}
    long_names["HKCR"] = "HKEY_CLASSES_ROOT"
    return long_names.get(head.upper(), head) + sep + tail
