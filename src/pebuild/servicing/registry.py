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

Hives are parsed once, edited in memory through pebuild.hive and serialized in
"preserve" mode so every cell we did not touch keeps its meaning.
"""

from __future__ import annotations

from collections.abc import Callable
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


def split_key(key: str) -> list[str]:
    parts = key.replace("/", "\\").strip("\\").split("\\")
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


def resolve_in_single_hive(key: str) -> list[str]:
    """For a hive file: 'HKLM\\SYSTEM\\X' and 'X' both mean X under the hive's root."""
    parts = split_key(key)
    root = _ROOTS.get(parts[0].upper())
    if root is None:
        return parts
    if root == "HKLM" and len(parts) >= 2:
        return parts[2:]
    if root == "HKU" and len(parts) >= 2:
        return parts[2:]
    return parts[1:]


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

    def __init__(self, loader: Callable[[str], bytes | None], *, single_hive: bool = False) -> None:
        self._loader = loader
        self._single = single_hive
        self._hives: dict[str, Any] = {}
        self._dirty: set[str] = set()

    # -- locating ----------------------------------------------------------------------
    def hive(self, image_path: str) -> Any:
        if image_path not in self._hives:
            from pebuild.hive import Hive

            data = self._loader(image_path)
            if data is None:
                raise SourceError(f"the image has no registry hive {image_path}")
            self._hives[image_path] = Hive.parse(data)
        return self._hives[image_path]

    def locate(self, key: str) -> tuple[str, Any, str]:
        """-> (hive image path, Hive, path inside the hive with CurrentControlSet resolved)."""
        if self._single:
            image_path, parts = SINGLE_HIVE, resolve_in_single_hive(key)
        else:
            image_path, parts = resolve_key(key)
        hive = self.hive(image_path)
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

    def serialized(self, timestamp: int | None = None) -> dict[str, bytes]:
        """Changed hives -> bytes (preserve mode: untouched cells stay as they were)."""
        from pebuild.hive import serialize_hive

        return {p: serialize_hive(self._hives[p], mode="preserve", timestamp=timestamp) for p in self.changed}


def _long_root(path: str) -> str:
    head, sep, tail = path.partition("\\")
    long_names = {"HKLM": "HKEY_LOCAL_MACHINE", "HKCU": "HKEY_CURRENT_USER", "HKU": "HKEY_USERS"}
    long_names["HKCR"] = "HKEY_CLASSES_ROOT"
    return long_names.get(head.upper(), head) + sep + tail
