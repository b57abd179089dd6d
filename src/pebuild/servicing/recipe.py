"""The recipe tables pebuild.servicing owns: [registry], [drivers], [pe_settings], [unattend],
[optional_components]. Validated once, into a `ServicingPlan`, with `file:line` errors.
docs/servicing.md documents every key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pebuild.errors import PebuildError, RecipeError
from pebuild.servicing import regfile
from pebuild.servicing.pesettings import check_scratch_space, check_target_path
from pebuild.servicing.registry import resolve_key
from pebuild.servicing.unattend import KINDS, UnattendSpec

SECTIONS = ("registry", "drivers", "pe_settings", "unattend", "optional_components")

LineOf = Callable[[tuple[Any, ...]], "int | None"]

#: recipe type name -> REG_* number ("string" is an alias of "sz" in recipes)
VALUE_TYPES = {**regfile.TYPE_NAMES, "string": regfile.REG_SZ}


@dataclass(frozen=True)
class RegistrySet:
    key: str
    name: str
    type: int
    data: bytes
    #: string values are jinja2 templates over the recipe variables, rendered at build time
    template: str | tuple[str, ...] | None = None

    def rendered(self, variables: dict[str, Any]) -> bytes:
        from pebuild.servicing.unattend import render_value

        if isinstance(self.template, str):
            return regfile.sz_bytes(render_value(self.template, variables))
        if isinstance(self.template, tuple):
            return regfile.multi_sz_bytes([render_value(t, variables) for t in self.template])
        return self.data


@dataclass(frozen=True)
class RegistryDelete:
    key: str
    name: str | None  # None deletes the key and its subtree


@dataclass
class ServicingPlan:
    """Everything the servicing tables ask for, validated; applied by plan_image_edits."""

    recipe_path: Path
    #: .reg files in order, parsed (their own errors name file:line)
    reg_imports: list[tuple[Path, regfile.RegFile]] = field(default_factory=list)
    reg_sets: list[RegistrySet] = field(default_factory=list)
    reg_deletes: list[RegistryDelete] = field(default_factory=list)
    driver_paths: list[Path] = field(default_factory=list)
    drivers_dir: str = "Drivers"
    drivers_load: bool = True
    scratch_space: int | None = None
    target_path: str | None = None
    unattend: list[UnattendSpec] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (
            self.reg_imports
            or self.reg_sets
            or self.reg_deletes
            or self.driver_paths
            or self.scratch_space is not None
            or self.target_path is not None
            or self.unattend
        )


class _Ctx:
    def __init__(self, recipe_path: Path, line_of: LineOf) -> None:
        self.path = recipe_path
        self.line_of = line_of

    def err(self, message: str, key: tuple[Any, ...]) -> RecipeError:
        dotted = ".".join(str(k) if not isinstance(k, int) else f"[{k}]" for k in key).replace(".[", "[")
        return RecipeError(f"{dotted}: {message}", path=self.path, line=self.line_of(key))

    def table(self, value: Any, key: tuple[Any, ...], allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.err(f"must be a table, not {type(value).__name__}", key)
        for name in value:
            if name not in allowed:
                raise self.err(f"unknown key (known: {', '.join(sorted(allowed))})", (*key, name))
        return value

    def string(self, value: Any, key: tuple[Any, ...]) -> str:
        if not isinstance(value, str) or not value:
            raise self.err("must be a non-empty string", key)
        return value

    def strings(self, value: Any, key: tuple[Any, ...]) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.err("must be an array of non-empty strings", key)
        return list(value)

    def local_path(self, text: str, key: tuple[Any, ...]) -> Path:
        """A file on the build machine, relative to the recipe's folder."""
        path = Path(text)
        return path if path.is_absolute() else (self.path.parent / path)

    def image_path(self, text: str, key: tuple[Any, ...]) -> str:
        from pebuild.fsutil import normalize_image_path

        try:
            clean = normalize_image_path(text)
        except PebuildError as exc:
            raise self.err(exc.message, key) from None
        if not clean:
            raise self.err("must name a path inside the image", key)
        return clean


def parse_recipe_sections(tables: dict[str, Any], recipe_path: Path, line_of: LineOf) -> ServicingPlan:
    ctx = _Ctx(Path(recipe_path), line_of)
    plan = ServicingPlan(recipe_path=Path(recipe_path))
    for name in tables:
        if name not in SECTIONS:
            raise ctx.err(f"not a servicing section (known: {', '.join(SECTIONS)})", (name,))
    if "optional_components" in tables:
        _refuse_optional_components(ctx, tables["optional_components"])
    if "registry" in tables:
        _parse_registry(ctx, tables["registry"], plan)
    if "drivers" in tables:
        _parse_drivers(ctx, tables["drivers"], plan)
    if "pe_settings" in tables:
        _parse_pe_settings(ctx, tables["pe_settings"], plan)
    if "unattend" in tables:
        _parse_unattend(ctx, tables["unattend"], plan)
    return plan


def _refuse_optional_components(ctx: _Ctx, value: Any) -> None:
    names = (
        value
        if isinstance(value, list)
        else value.get("packages", [])
        if isinstance(value, dict)
        else [value]
    )
    if not names:
        return
    first = str(names[0])
    raise ctx.err(
        f"cannot add {first}: optional components are CBS packages (component store servicing, "
        "manifests and payload staging) that only DISM on Windows applies; pebuild does not fake that. "
        f"On Windows: Dism /Mount-Image, then Dism /Add-Package /Image:<mount> "
        f"/PackagePath:<ADK>\\WinPE_OCs\\{first}.cab and /PackagePath:<ADK>\\WinPE_OCs\\<lang>\\{first}_<lang>.cab "
        "(both the neutral and the language CAB), Dism /Unmount-Image /Commit; then use that WIM as the source",
        ("optional_components",),
    )


def _parse_registry(ctx: _Ctx, value: Any, plan: ServicingPlan) -> None:
    table = ctx.table(value, ("registry",), {"import", "set", "delete"})
    for i, text in enumerate(ctx.strings(table.get("import", []), ("registry", "import"))):
        path = ctx.local_path(text, ("registry", "import", i))
        if not path.is_file():
            raise ctx.err(f".reg file not found: {path}", ("registry", "import", i))
        reg = regfile.read_reg(path)
        for block in reg.keys:
            _check_key(ctx, block.path, ("registry", "import", i), where=f"{path}:{block.line}: ")
        plan.reg_imports.append((path, reg))
    sets = table.get("set", [])
    if not isinstance(sets, list):
        raise ctx.err("must be an array of tables ([[registry.set]])", ("registry", "set"))
    for i, entry in enumerate(sets):
        key = ("registry", "set", i)
        item = ctx.table(entry, key, {"key", "name", "type", "value"})
        for required in ("key", "type", "value"):
            if required not in item:
                raise ctx.err(f"missing '{required}'", key)
        reg_key = ctx.string(item["key"], (*key, "key"))
        _check_key(ctx, reg_key, (*key, "key"))
        name = item.get("name", "")
        if not isinstance(name, str):
            raise ctx.err("must be a string ('' or absent = the default value)", (*key, "name"))
        type_name = item["type"]
        if type_name not in VALUE_TYPES:
            raise ctx.err(f"unknown type {type_name!r} (known: {', '.join(VALUE_TYPES)})", (*key, "type"))
        data = _value_bytes(ctx, type_name, item["value"], (*key, "value"))
        value = item["value"]
        template = value if isinstance(value, str) else tuple(value) if isinstance(value, list) else None
        if type_name in ("binary", "none"):
            template = None
        plan.reg_sets.append(RegistrySet(reg_key, name, VALUE_TYPES[type_name], data, template))
    deletes = table.get("delete", [])
    if not isinstance(deletes, list):
        raise ctx.err("must be an array of tables ([[registry.delete]])", ("registry", "delete"))
    for i, entry in enumerate(deletes):
        key = ("registry", "delete", i)
        item = ctx.table(entry, key, {"key", "name"})
        if "key" not in item:
            raise ctx.err("missing 'key'", key)
        reg_key = ctx.string(item["key"], (*key, "key"))
        _check_key(ctx, reg_key, (*key, "key"))
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise ctx.err("must be a string", (*key, "name"))
        plan.reg_deletes.append(RegistryDelete(reg_key, name))


def _check_key(ctx: _Ctx, reg_key: str, key: tuple[Any, ...], where: str = "") -> None:
    try:
        resolve_key(reg_key)
    except PebuildError as exc:
        raise ctx.err(where + exc.message, key) from None


def _value_bytes(ctx: _Ctx, type_name: str, value: Any, key: tuple[Any, ...]) -> bytes:
    if type_name in ("sz", "string", "expand_sz"):
        if not isinstance(value, str):
            raise ctx.err(f"{type_name} value must be a string", key)
        return regfile.sz_bytes(value)
    if type_name == "multi_sz":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ctx.err("multi_sz value must be an array of non-empty strings", key)
        return regfile.multi_sz_bytes(value)
    if type_name in ("dword", "qword"):
        bits = 32 if type_name == "dword" else 64
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
            raise ctx.err(f"{type_name} value must be an integer 0..{(1 << bits) - 1}", key)
        return regfile.dword_bytes(value) if bits == 32 else regfile.qword_bytes(value)
    if isinstance(value, str) and re.fullmatch(r"([0-9a-fA-F]{2}([ ,]?))*", value.strip()):
        return bytes.fromhex(value.replace(",", " "))
    raise ctx.err(f'{type_name} value must be hex bytes like "de ad be ef"', key)


def _parse_drivers(ctx: _Ctx, value: Any, plan: ServicingPlan) -> None:
    table = ctx.table(value, ("drivers",), {"paths", "destination", "load"})
    for i, text in enumerate(ctx.strings(table.get("paths", []), ("drivers", "paths"))):
        path = ctx.local_path(text, ("drivers", "paths", i))
        if not path.exists():
            raise ctx.err(f"driver package not found: {path}", ("drivers", "paths", i))
        plan.driver_paths.append(path)
    if "destination" in table:
        plan.drivers_dir = ctx.image_path(
            ctx.string(table["destination"], ("drivers", "destination")), ("drivers", "destination")
        )
    if "load" in table:
        if not isinstance(table["load"], bool):
            raise ctx.err("must be true or false", ("drivers", "load"))
        plan.drivers_load = table["load"]


def _parse_pe_settings(ctx: _Ctx, value: Any, plan: ServicingPlan) -> None:
    table = ctx.table(value, ("pe_settings",), {"scratch_space", "target_path"})
    try:
        if "scratch_space" in table:
            plan.scratch_space = check_scratch_space(table["scratch_space"])
    except PebuildError as exc:
        raise ctx.err(exc.message, ("pe_settings", "scratch_space")) from None
    try:
        if "target_path" in table:
            plan.target_path = check_target_path(table["target_path"])
    except PebuildError as exc:
        raise ctx.err(exc.message, ("pe_settings", "target_path")) from None


_PARTITION_KEYS = {"type", "size", "format", "label", "letter", "active"}
_UNATTEND_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "wds_client": {
        "language": str,
        "input_locale": str,
        "wipe_disk": bool,
        "disk_id": int,
        "partitions": list,
        "install_partition": int,
        "image_name": str,
        "image_group": str,
        "image_file": str,
        "credentials": dict,
    },
    "image": {
        "computer_name": str,
        "join_domain": str,
        "domain_credentials": dict,
        "registered_owner": str,
        "registered_organization": str,
        "product_key": str,
        "timezone": str,
        "admin_password": str,
    },
    "sysprep": {
        "computer_name": str,
        "join_domain": str,
        "domain_credentials": dict,
        "registered_owner": str,
        "registered_organization": str,
        "product_key": str,
        "timezone_index": int,
        "admin_password": str,
    },
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "wds_client": {
        "language": "en-US",
        "wipe_disk": False,
        "disk_id": 0,
        "partitions": [],
        "install_partition": 1,
        "image_group": "",
        "image_file": "",
        "credentials": None,
    },
    "image": {
        "computer_name": "%MACHINENAME%",
        "join_domain": "%MACHINEDOMAIN%",
        "domain_credentials": None,
        "registered_owner": "",
        "registered_organization": "",
        "product_key": "",
        "timezone": "",
        "admin_password": "",
    },
    "sysprep": {
        "computer_name": "%MACHINENAME%",
        "join_domain": "%MACHINEDOMAIN%",
        "domain_credentials": None,
        "registered_owner": "Administrator",
        "registered_organization": "",
        "product_key": "",
        "timezone_index": 4,
        "admin_password": "",
    },
}


def _parse_unattend(ctx: _Ctx, value: Any, plan: ServicingPlan) -> None:
    table = ctx.table(value, ("unattend",), set(KINDS))
    seen_paths: set[str] = set()
    for kind in sorted(table):
        key = ("unattend", kind)
        fields = _UNATTEND_KEYS[kind]
        item = ctx.table(table[kind], key, {*fields, "path", "template"})
        settings = dict(_DEFAULTS[kind])
        for name, expected in fields.items():
            if name not in item:
                continue
            v = item[name]
            if not isinstance(v, expected) or (expected is int and isinstance(v, bool)):
                raise ctx.err(f"must be {_type_word(expected)}", (*key, name))
            settings[name] = v
        if kind == "wds_client":
            _check_wds_client(ctx, key, item, settings)
        else:
            _check_identity(ctx, key, kind, item)
        for cred_key in ("credentials", "domain_credentials"):
            if isinstance(settings.get(cred_key), dict):
                cred = ctx.table(settings[cred_key], (*key, cred_key), {"domain", "username", "password"})
                for part in ("domain", "username", "password"):
                    if not isinstance(cred.get(part), str):
                        raise ctx.err(f"missing or non-string '{part}'", (*key, cred_key))
        path = ctx.image_path(item.get("path", KINDS[kind][1]), (*key, "path"))
        if path.lower() in seen_paths:
            raise ctx.err(f"two answer files would be written to {path}", (*key, "path"))
        seen_paths.add(path.lower())
        template = None
        if "template" in item:
            template = ctx.local_path(ctx.string(item["template"], (*key, "template")), (*key, "template"))
            if not template.is_file():
                raise ctx.err(f"template not found: {template}", (*key, "template"))
        line = ctx.line_of(key)
        location = f"{ctx.path}:{line}" if line else str(ctx.path)
        plan.unattend.append(
            UnattendSpec(kind=kind, path=path, template=template, settings=settings, location=location)
        )


#: NetBIOS computer names: 15 characters (Windows refuses longer ones in ComputerName), none of these
COMPUTER_NAME_MAX = 15
_BAD_NAME_CHARS = set("\\/:*?\"<>|,~!@#$^&'(){} .")


def _check_identity(ctx: _Ctx, key: tuple[Any, ...], kind: str, item: dict[str, Any]) -> None:
    """ComputerName length and characters; sysprep.inf values without quotes or newlines (file:line)."""
    name = item.get("computer_name")
    if isinstance(name, str) and "%" not in name and "{{" not in name:
        if len(name) > COMPUTER_NAME_MAX:
            raise ctx.err(
                f"{name!r} is {len(name)} characters; Windows allows at most {COMPUTER_NAME_MAX} "
                "in a computer name (NetBIOS)",
                (*key, "computer_name"),
            )
        bad = sorted(set(name) & _BAD_NAME_CHARS)
        if bad or not name or name.isdigit():
            raise ctx.err(
                f"{name!r} is not a valid computer name (no spaces or {''.join(bad) or 'only digits'})",
                (*key, "computer_name"),
            )
    if kind != "sysprep":
        return
    for field_name, value in _string_items(item):
        if any(c in value for c in '\r\n"'):
            raise ctx.err("sysprep.inf values cannot hold quotes or newlines", (*key, *field_name))


def _string_items(item: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    out: list[tuple[tuple[str, ...], str]] = []
    for k, v in item.items():
        if isinstance(v, str):
            out.append(((*prefix, k), v))
        elif isinstance(v, dict):
            out += _string_items(v, (*prefix, k))
    return out


def _check_wds_client(
    ctx: _Ctx, key: tuple[Any, ...], item: dict[str, Any], settings: dict[str, Any]
) -> None:
    if "image_name" not in item:
        raise ctx.err("missing 'image_name' (the install image to select, as WDS lists it)", key)
    settings.setdefault("input_locale", settings["language"])
    if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*", settings["language"]):
        raise ctx.err(f"not a language tag like en-US: {settings['language']!r}", (*key, "language"))
    parts = []
    for i, p in enumerate(settings["partitions"]):
        pkey = (*key, "partitions", i)
        p = ctx.table(p, pkey, _PARTITION_KEYS)
        size = p.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
            raise ctx.err(
                "size must be a positive integer (MB); omit it to extend over the rest", (*pkey, "size")
            )
        if size is None and i != len(settings["partitions"]) - 1:
            raise ctx.err("only the last partition may omit size (it extends)", pkey)
        letter = p.get("letter", "")
        if letter and not re.fullmatch(r"[C-Zc-z]", letter):
            raise ctx.err("letter must be one drive letter C-Z", (*pkey, "letter"))
        ptype = p.get("type", "Primary")
        if ptype not in ("Primary", "EFI", "MSR", "Extended", "Logical"):
            raise ctx.err("type must be Primary, EFI, MSR, Extended or Logical", (*pkey, "type"))
        parts.append(
            {
                "type": ptype,
                "size": size,
                "format": p.get("format", "NTFS"),
                "label": p.get("label", ""),
                "letter": letter.upper(),
                "active": bool(p.get("active", False)),
            }
        )
    settings["partitions"] = parts
    if parts and not 1 <= settings["install_partition"] <= len(parts):
        raise ctx.err(f"must name one of the {len(parts)} partitions (1-based)", (*key, "install_partition"))


def _type_word(expected: type | tuple[type, ...]) -> str:
    words = {str: "a string", int: "an integer", bool: "true or false", list: "an array", dict: "a table"}
    return words.get(expected, "valid") if isinstance(expected, type) else "valid"
