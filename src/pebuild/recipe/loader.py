"""Load a recipe: TOML -> validated `Recipe`, with includes and a profile.

Each file is checked on its own against the declared settings (model.py), so
every error names the file and line where the bad value was written; the
checked partial settings are then merged: included files first, the including
file over them, the chosen `[profiles.NAME]` last. Lists marked `append`
(overlays, files, startnet lines) accumulate; everything else is replaced.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib.util
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pebuild.errors import PebuildError, RecipeError, UsageError
from pebuild.fsutil import normalize_image_path
from pebuild.recipe._lines import LineIndex, PathKey
from pebuild.recipe.model import RecipeSettings, fields_of, is_section, toml_key
from pebuild.recipe.shipped import is_bare_name, overlays_dir, resolve_recipe_path, shipped_recipe_names

SPECIAL_KEYS = ("include", "profiles")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_LABEL = re.compile(r"^[A-Za-z0-9_ .\-]+$")


def servicing_sections() -> tuple[str, ...]:
    """Recipe tables owned by pebuild.servicing, when that module is present."""
    if importlib.util.find_spec("pebuild.servicing") is None:
        return ()
    from pebuild import servicing

    return tuple(getattr(servicing, "SECTIONS", ()))


@dataclass(frozen=True)
class Location:
    path: Path
    line: int | None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else str(self.path)


@dataclass(frozen=True)
class Recipe:
    path: Path
    settings: RecipeSettings
    profile: str | None = None
    files: tuple[Path, ...] = ()
    sha256: str = ""
    locations: dict[PathKey, Location] = field(default_factory=dict)
    servicing_tables: dict[str, Any] = field(default_factory=dict)
    servicing_plan: Any = None

    def location(self, *key: str | int) -> Location:
        probe: PathKey = tuple(key)
        while probe:
            if probe in self.locations:
                return self.locations[probe]
            probe = probe[:-1]
        return Location(self.path, None)

    def error(self, message: str, *key: str | int) -> RecipeError:
        loc = self.location(*key)
        return RecipeError(message, path=loc.path, line=loc.line)

    def to_json(self) -> dict[str, Any]:
        from pebuild.recipe.model import to_jsonable

        data = to_jsonable(self.settings)
        data["servicing"] = self.servicing_tables
        return {"path": str(self.path), "profile": self.profile, "sha256": self.sha256, "settings": data}


# --------------------------------------------------------------------------- reading one file


@dataclass
class _File:
    path: Path
    text: str
    data: dict[str, Any]
    index: LineIndex

    def err(self, message: str, key: PathKey) -> RecipeError:
        return RecipeError(message, path=self.path, line=self.index.line_of(key) or 1)


def _read(path: Path) -> _File:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RecipeError("recipe file not found", path=path) from None
    except OSError as exc:
        raise RecipeError(f"cannot read recipe: {exc.strerror}", path=path) from None
    try:
        text = raw.decode("utf-8-sig")  # Notepad writes a BOM; TOML itself has none
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RecipeError("recipe is not valid UTF-8", path=path, line=line) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        line = int(m.group(1)) if m else None
        if m is None and "end of document" in msg:
            line = text.count("\n") + 1
        msg = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", msg)
        raise RecipeError(f"TOML syntax error: {msg}", path=path, line=line or 1) from None
    return _File(path, text, data, LineIndex.build(text))


# --------------------------------------------------------------------------- checking values


def _unknown(f: _File, key: PathKey, name: str, known: list[str], where: str) -> RecipeError:
    hint = difflib.get_close_matches(name, known, n=1)
    suggestion = f"; did you mean '{hint[0]}'?" if hint else f" (known: {', '.join(known)})"
    return f.err(f"unknown key '{name}' {where}{suggestion}", key)


def _typename(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _check_scalar(f: _File, key: PathKey, meta: dict[str, Any], value: Any, what: str) -> Any:
    kind = meta["kind"]
    name = ".".join(str(k) for k in key if isinstance(k, str))
    if kind in ("str", "str_list", "table_list") or kind == "str_map":
        if not isinstance(value, str):
            raise f.err(f"{name}: expected {what}, got {_typename(value)}", key)
        if meta["max_length"] and len(value) > meta["max_length"] and "{{" not in value:
            raise f.err(f"{name}: longer than {meta['max_length']} characters ({len(value)})", key)
        if meta["template"]:
            _check_template(f, key, name, value)
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise f.err(f"{name}: expected an integer, got {_typename(value)}", key)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise f.err(f"{name}: expected true or false, got {_typename(value)}", key)
    elif kind == "int_or_str":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise f.err(f"{name}: expected an index or an image name, got {_typename(value)}", key)
        if isinstance(value, str) and not value.strip():
            raise f.err(f"{name}: image name must not be empty", key)
    if meta["aliases"] and isinstance(value, str):
        value = meta["aliases"].get(value.strip().lower(), value)  # arch = "x64" means amd64
    if meta["choices"] is not None and value not in meta["choices"]:
        allowed = ", ".join(str(c) for c in meta["choices"])
        raise f.err(f"{name}: {value!r} is not one of {allowed}", key)
    if isinstance(value, int) and not isinstance(value, bool):
        if meta["minimum"] is not None and value < meta["minimum"]:
            raise f.err(f"{name}: {value} is below the minimum {meta['minimum']}", key)
        if meta["maximum"] is not None and value > meta["maximum"]:
            raise f.err(f"{name}: {value} is above the maximum {meta['maximum']}", key)
    return value


def _check_template(f: _File, key: PathKey, name: str, text: str) -> None:
    import jinja2

    try:
        jinja2.Environment().parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise f.err(f"{name}: bad template: {exc.message}", key) from None


def _convert_value(f: _File, key: PathKey, fld: dataclasses.Field[Any], value: Any) -> Any:
    meta = dict(fld.metadata)
    kind = meta["kind"]
    name = ".".join(str(k) for k in key)
    if kind == "str_list":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise f.err(f"{name}: expected an array of strings, got {_typename(value)}", key)
        return tuple(_check_scalar(f, (*key, i), meta, v, "a string") for i, v in enumerate(items))
    if kind == "str_map":
        if not isinstance(value, dict):
            raise f.err(f"{name}: expected a table of strings, got {_typename(value)}", key)
        out = {}
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, str | int | float):
                raise f.err(f"{name}.{k}: expected a string, got {_typename(v)}", (*key, k))
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
                raise f.err(f"{name}.{k}: variable names are letters, digits and _", (*key, k))
            out[k] = str(v)
        return out
    if kind == "table_list":
        if not isinstance(value, list):
            raise f.err(f"{name}: expected an array of tables, got {_typename(value)}", key)
        return tuple(_convert_item(f, (*key, i), meta, v) for i, v in enumerate(value))
    return _check_scalar(f, key, meta, value, "a string")


def _convert_item(f: _File, key: PathKey, meta: dict[str, Any], value: Any) -> Any:
    cls = meta["item"]
    if isinstance(value, str) and meta["item_from_str"]:
        value = {meta["item_from_str"]: value}
    name = ".".join(str(k) for k in key if isinstance(k, str))
    if not isinstance(value, dict):
        raise f.err(f"{name}: expected a table, got {_typename(value)}", key)
    by_key = {toml_key(x): x for x in fields_of(cls)}
    kwargs = {}
    for k, v in value.items():
        fld = by_key.get(k)
        if fld is None:
            raise _unknown(f, (*key, k), k, list(by_key), f"in [[{name}]]")
        kwargs[fld.name] = _convert_value(f, (*key, k), fld, v)
    for k, fld in by_key.items():
        if fld.default is None and fld.name not in kwargs:
            raise f.err(f"{name}: missing required key '{k}'", key)
    return cls(**kwargs)


def _convert_table(
    f: _File, key: PathKey, cls: type, table: Any, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Check one table of `cls` settings; returns {field name: value} for the keys present."""
    where = f"in [{'.'.join(str(k) for k in key)}]" if key else "at the top level"
    if not isinstance(table, dict):
        raise f.err(f"{'.'.join(map(str, key))}: expected a table, got {_typename(table)}", key)
    by_key = {toml_key(x): x for x in fields_of(cls)}
    out: dict[str, Any] = {}
    for k, v in table.items():
        if k in extra:
            continue
        fld = by_key.get(k)
        if fld is None:
            raise _unknown(f, (*key, k), k, [*by_key, *extra], where)
        if is_section(fld):
            out[fld.name] = _convert_table(f, (*key, k), fld.default_factory, v)  # type: ignore[arg-type]
        else:
            out[fld.name] = _convert_value(f, (*key, k), fld, v)
            _semantic_checks(f, (*key, k), out[fld.name])
    return out


def _semantic_checks(f: _File, key: PathKey, value: Any) -> None:
    """Checks that need more than a type: paths, locale, label, overlay names."""
    name = ".".join(str(k) for k in key)
    tail = tuple(k for k in key if k != "profiles")
    if len(key) >= 2 and key[0] == "profiles":
        tail = tuple(key[2:])
    if tail == ("bcd", "locale") and not _LOCALE.match(value):
        raise f.err(f"{name}: {value!r} is not a language tag like en-US", key)
    if tail == ("media", "label") and not _LABEL.match(value):
        raise f.err(f"{name}: {value!r} may hold only letters, digits, space, '_', '-' and '.'", key)
    try:
        if tail == ("files", "remove"):
            for i, p in enumerate(value):
                _image_path(f, (*key, i), p)
        if tail == ("files", "add"):
            for i, item in enumerate(value):
                _image_path(f, (*key, i, "dest"), item.dest)
        if tail == ("files", "rename"):
            for i, item in enumerate(value):
                _image_path(f, (*key, i, "from"), item.from_)
                _image_path(f, (*key, i, "to"), item.to)
    except UsageError as exc:
        raise f.err(f"{name}: {exc.message}", key) from None


def _image_path(f: _File, key: PathKey, text: str) -> None:
    try:
        if not normalize_image_path(text):
            raise f.err(f"{'.'.join(map(str, key))}: empty image path", key)
    except UsageError as exc:
        raise f.err(f"{'.'.join(map(str, key))}: {exc.message}", key) from None


# --------------------------------------------------------------------------- merging


@dataclass
class _Merged:
    values: dict[str, Any] = field(default_factory=dict)
    locations: dict[PathKey, Location] = field(default_factory=dict)
    servicing: dict[str, Any] = field(default_factory=dict)


def _record(merged: _Merged, f: _File, src: PathKey, dst: PathKey) -> None:
    """Copy the line of every key under `src` (in f) to `dst` in the merged locations."""
    n = len(src)
    for k, line in f.index.lines.items():
        if k[:n] == src:
            merged.locations[(*dst, *k[n:])] = Location(f.path, line)


def _merge(
    merged: _Merged,
    cls: type,
    target: dict[str, Any],
    part: dict[str, Any],
    f: _File,
    src: PathKey,
    dst: PathKey,
) -> None:
    by_name = {x.name: x for x in fields_of(cls)}
    for name, value in part.items():
        fld = by_name[name]
        key = toml_key(fld)
        if is_section(fld):
            _merge(
                merged, fld.default_factory, target.setdefault(name, {}), value, f, (*src, key), (*dst, key)
            )  # type: ignore[arg-type]
            continue
        if fld.metadata["merge"] == "append" and name in target:
            offset = len(target[name])
            target[name] = (*target[name], *value)
            for i in range(len(value)):
                _record(merged, f, (*src, key, i), (*dst, key, offset + i))
            continue
        if fld.metadata["kind"] == "str_map" and name in target:
            target[name] = {**target[name], **value}
        else:
            target[name] = value
        _record(merged, f, (*src, key), (*dst, key))


def _build(cls: type, values: dict[str, Any]) -> Any:
    kwargs = {}
    for fld in fields_of(cls):
        if fld.name in values:
            kwargs[fld.name] = (
                _build(fld.default_factory, values[fld.name]) if is_section(fld) else values[fld.name]
            )  # type: ignore[arg-type]
    return cls(**kwargs)


# --------------------------------------------------------------------------- public


def load_recipe(path: str | Path, *, profile: str | None = None) -> Recipe:
    """Read, check and merge a recipe with its includes; apply `profile` when given.

    A bare name (`capture`) that is no file in the working directory is the shipped recipe.
    """
    main = resolve_recipe_path(path)
    if not main.exists() and is_bare_name(path):
        names = ", ".join(shipped_recipe_names())
        raise RecipeError(
            f"recipe file not found, and no shipped recipe of that name (shipped: {names})", path=main
        )
    files: list[_File] = []
    _collect(main, files, stack=[], via=None)
    extra = (*SPECIAL_KEYS, *servicing_sections())
    merged = _Merged()
    profiles: dict[str, list[tuple[_File, dict[str, Any], dict[str, Any]]]] = {}
    for f in files:
        part = _convert_table(f, (), RecipeSettings, f.data, extra)
        _resolve_paths(f, part)
        _merge(merged, RecipeSettings, merged.values, part, f, (), ())
        _merge_servicing(merged, f, f.data, ())
        raw_profiles = f.data.get("profiles", {})
        if not isinstance(raw_profiles, dict):
            raise f.err(
                f"profiles: expected a table of [profiles.NAME] tables, got {_typename(raw_profiles)}",
                ("profiles",),
            )
        for pname, ptable in raw_profiles.items():
            key: PathKey = ("profiles", pname)
            ppart = _convert_table(f, key, RecipeSettings, ptable, tuple(servicing_sections()))
            _resolve_paths(f, ppart, key)
            profiles.setdefault(pname, []).append((f, ppart, ptable))
    if profile is not None:
        if profile not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise UsageError(f"{main}: no profile '{profile}' (profiles defined: {known})")
        for f, ppart, ptable in profiles[profile]:
            key = ("profiles", profile)
            _merge(merged, RecipeSettings, merged.values, ppart, f, key, ())
            _merge_servicing(merged, f, ptable, key)
    settings = _build(RecipeSettings, merged.values)
    digest = hashlib.sha256()
    for f in files:
        digest.update(hashlib.sha256(f.text.encode()).digest())
    digest.update(f"profile={profile}".encode())
    recipe = Recipe(
        path=main,
        settings=settings,
        profile=profile,
        files=tuple(f.path for f in files),
        sha256=digest.hexdigest(),
        locations=merged.locations,
        servicing_tables=merged.servicing,
    )
    if merged.servicing:
        recipe = dataclasses.replace(recipe, servicing_plan=_servicing_plan(recipe))
    return recipe


def _collect(path: Path, out: list[_File], stack: list[Path], via: tuple[_File, int] | None) -> None:
    resolved = path.resolve()
    if resolved in stack:
        assert via is not None
        f, i = via
        raise f.err(f"include: {path} includes itself (cycle)", ("include", i))
    if any(f.path.resolve() == resolved for f in out):
        return
    if not path.is_file() and via is not None:
        f, i = via
        raise f.err(f"include: no such recipe {path}", ("include", i))
    f = _read(path)
    includes = f.data.get("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(x, str) for x in includes):
        raise f.err("include: expected an array of recipe paths", ("include",))
    for i, inc in enumerate(includes):
        _collect(resolve_recipe_path(inc, path.parent), out, [*stack, resolved], (f, i))
    out.append(f)


def _resolve_paths(f: _File, part: dict[str, Any], prefix: PathKey = ()) -> None:
    """Make file paths absolute, relative to the file that names them; check they exist."""
    base = f.path.parent
    files = part.get("files", {})
    if "add" in files:
        items = []
        for i, item in enumerate(files["add"]):
            src = (base / item.source).resolve()
            if not src.exists():
                raise f.err(f"files.add: source not found: {src}", (*prefix, "files", "add", i, "source"))
            items.append(dataclasses.replace(item, source=str(src)))
        files["add"] = tuple(items)
    if "overlays" in part:
        resolved = []
        for i, name in enumerate(part["overlays"]):
            resolved.append(_resolve_overlay(f, (*prefix, "overlays", i), name))
        part["overlays"] = tuple(resolved)
    src = part.get("source")
    if src and src != "sample":
        part["source"] = str((base / src).resolve())


def _resolve_overlay(f: _File, key: PathKey, name: str) -> str:
    if "/" in name or name.startswith("."):
        path = (f.path.parent / name).resolve()
        if not (path / "overlay.toml").is_file():
            raise f.err(f"overlays: {path} has no overlay.toml", key)
        return str(path)
    shipped = overlays_dir()
    if not (shipped / name / "overlay.toml").is_file():
        known = sorted(p.parent.name for p in shipped.glob("*/overlay.toml"))
        hint = difflib.get_close_matches(name, known, n=1)
        extra = f"; did you mean '{hint[0]}'?" if hint else f" (shipped: {', '.join(known) or 'none'})"
        raise f.err(f"overlays: no overlay named '{name}'{extra}", key)
    return str(shipped / name)


def _merge_servicing(merged: _Merged, f: _File, table: dict[str, Any], prefix: PathKey) -> None:
    for name in servicing_sections():
        if name not in table:
            continue
        value = table[name]
        old = merged.servicing.get(name)
        if isinstance(old, dict) and isinstance(value, dict):
            merged.servicing[name] = {**old, **value}
        else:
            merged.servicing[name] = value
        _record(merged, f, (*prefix, name), (name,))


def _servicing_plan(recipe: Recipe) -> Any:
    from pebuild import servicing

    origins = {loc.path for k, loc in recipe.locations.items() if k and k[0] in recipe.servicing_tables}
    path = origins.pop() if len(origins) == 1 else recipe.path

    def line_of(key: tuple[str, ...]) -> int | None:
        loc = recipe.location(*key)
        return loc.line if loc.path == path else None

    try:
        return servicing.parse_recipe_sections(dict(recipe.servicing_tables), path, line_of)
    except RecipeError:
        raise
    except PebuildError as exc:
        raise RecipeError(exc.message, path=path) from None
