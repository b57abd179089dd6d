"""Overlays: overlays/NAME/overlay.toml lists files from the kit or bundled files, with destinations.

Checked like recipes (file:line errors). Each entry yields `Placed` items —
(destination, content, origin) — on the image or the media; the builder checks
every PE among them against the build arch.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pebuild.errors import RecipeError, UsageError
from pebuild.fsutil import normalize_image_path
from pebuild.recipe._lines import LineIndex
from pebuild.recipe.render import render_file_template

ENTRY_KEYS = {"kit", "bundled", "dest", "on", "template", "optional"}


@dataclass(frozen=True)
class Placed:
    dest: str  # normalized 'a/b/c'
    content: Path | bytes
    origin: str  # where it came from, for messages and the manifest
    on: str = "image"


@dataclass(frozen=True)
class OverlayEntry:
    kit: str | None
    bundled: str | None
    dest: str
    on: str
    template: bool
    optional: bool
    line: int | None


@dataclass(frozen=True)
class Overlay:
    name: str
    path: Path
    description: str
    entries: tuple[OverlayEntry, ...]


def load_overlay(directory: Path) -> Overlay:
    toml = directory / "overlay.toml"
    text = toml.read_text(encoding="utf-8-sig")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"TOML syntax error: {exc}", path=toml) from None
    index = LineIndex.build(text)

    def err(msg: str, *key: str | int) -> RecipeError:
        return RecipeError(msg, path=toml, line=index.line_of(key) or 1)

    for key in data:
        if key not in ("description", "file"):
            raise err(f"unknown key '{key}' (known: description, file)", key)
    entries = []
    raw = data.get("file", [])
    if not isinstance(raw, list):
        raise err("file: expected [[file]] tables", "file")
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise err("file: expected a table", "file", i)
        for key in item:
            if key not in ENTRY_KEYS:
                raise err(
                    f"unknown key '{key}' in [[file]] (known: {', '.join(sorted(ENTRY_KEYS))})",
                    "file",
                    i,
                    key,
                )
        if ("kit" in item) == ("bundled" in item):
            raise err("[[file]] needs exactly one of 'kit' or 'bundled'", "file", i)
        if not isinstance(item.get("dest"), str):
            raise err("[[file]] needs a string 'dest'", "file", i)
        on = item.get("on", "image")
        if on not in ("image", "media"):
            raise err(f"on: {on!r} is not one of image, media", "file", i, "on")
        bundled = item.get("bundled")
        if bundled is not None and not (directory / bundled).is_file():
            raise err(f"bundled file not found: {directory / bundled}", "file", i, "bundled")
        entries.append(
            OverlayEntry(
                kit=item.get("kit"),
                bundled=bundled,
                dest=item["dest"],
                on=on,
                template=bool(item.get("template", False)),
                optional=bool(item.get("optional", False)),
                line=index.line_of(("file", i)),
            )
        )
    return Overlay(directory.name, directory, str(data.get("description", "")), tuple(entries))


def expand_overlay(overlay: Overlay, source: Any, variables: dict[str, Any]) -> list[Placed]:
    """Resolve an overlay's entries against the source kit and render its templates."""
    toml = overlay.path / "overlay.toml"
    out: list[Placed] = []
    for entry in overlay.entries:
        dest = render_file_template(str(toml), entry.dest, variables).strip()
        try:
            dest = normalize_image_path(dest)
        except UsageError as exc:
            raise RecipeError(f"dest: {exc.message}", path=toml, line=entry.line) from None
        if entry.bundled is not None:
            path = overlay.path / entry.bundled
            if entry.template:
                text = render_file_template(str(path), path.read_text(encoding="utf-8"), variables)
                data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
                out.append(Placed(dest, data, f"overlay {overlay.name}: {entry.bundled}", entry.on))
            else:
                out.append(Placed(dest, path, f"overlay {overlay.name}: {entry.bundled}", entry.on))
            continue
        assert entry.kit is not None
        hits = source.tool_files(entry.kit)
        if not hits:
            if entry.optional:
                continue
            source.tool_file(entry.kit)  # raises SourceError listing the tools folders
        is_multi = any(ch in entry.kit for ch in "*?[")
        for hit in hits:
            if hit.is_dir():
                for f in sorted(p for p in hit.rglob("*") if p.is_file()):
                    rel = f.relative_to(hit).as_posix()
                    out.append(
                        Placed(f"{dest}/{rel}", f, f"overlay {overlay.name}: kit {entry.kit}/{rel}", entry.on)
                    )
            else:
                target = f"{dest}/{hit.name}" if is_multi else dest
                out.append(Placed(target, hit, f"overlay {overlay.name}: kit {hit.name}", entry.on))
    return out
