"""The recipes and overlays pebuild ships (pebuild/shipped/), by name.

`--recipe capture` and `include = ["rescue"]` name a shipped recipe when no
such file exists where the user pointed (the working directory, or beside the
including recipe): a pip or pipx install has no checkout whose `recipes/` a
user could give a path into (issue 16). `pebuild recipes` lists what is here.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pebuild import shipped
from pebuild.errors import UsageError

RECIPE_SUFFIX = ".toml"
OVERLAY_FILE = "overlay.toml"


def recipes_dir() -> Path:
    """The shipped example recipes (capture, deploy, rescue, smoke)."""
    return shipped.path(shipped.RECIPES)


def overlays_dir() -> Path:
    """The shipped overlays, one folder with an overlay.toml each."""
    return shipped.path(shipped.OVERLAYS)


@dataclass(frozen=True)
class ShippedItem:
    """One shipped recipe or overlay: what `pebuild recipes` prints on one line."""

    kind: str  # "recipe" | "overlay"
    name: str
    path: Path  # the recipe file, or the overlay's folder
    summary: str

    @property
    def file(self) -> Path:
        """The TOML file to print or copy."""
        return self.path / OVERLAY_FILE if self.kind == "overlay" else self.path

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "path": str(self.path), "summary": self.summary}


def shipped_recipes() -> list[ShippedItem]:
    return [
        ShippedItem(
            "recipe", p.name[: -len(RECIPE_SUFFIX)], p, _comment_summary(p.read_text("utf-8"), p.name)
        )
        for p in sorted(recipes_dir().glob(f"*{RECIPE_SUFFIX}"))
    ]


def shipped_overlays() -> list[ShippedItem]:
    items = []
    for toml in sorted(overlays_dir().glob(f"*/{OVERLAY_FILE}")):
        text = toml.read_text("utf-8")
        try:
            summary = str(tomllib.loads(text).get("description", ""))
        except tomllib.TOMLDecodeError:
            summary = ""
        items.append(
            ShippedItem("overlay", toml.parent.name, toml.parent, summary or _comment_summary(text, ""))
        )
    return items


def catalog() -> list[ShippedItem]:
    """Every shipped recipe, then every shipped overlay, each sorted by name."""
    return [*shipped_recipes(), *shipped_overlays()]


def find_shipped(name: str) -> ShippedItem:
    """A shipped recipe (first) or overlay by name; `capture` and `capture.toml` alike."""
    bare = name.removesuffix(RECIPE_SUFFIX)
    items = catalog()
    for item in items:
        if item.name == bare:
            return item
    names = [i.name for i in items]
    hint = difflib.get_close_matches(bare, names, n=1)
    extra = f"; did you mean '{hint[0]}'?" if hint else f" (shipped: {', '.join(names)})"
    raise UsageError(f"no shipped recipe or overlay named '{name}'{extra}")


def is_bare_name(value: str | Path) -> bool:
    """`capture` or `capture.toml`: one path component, not '.', '..' or hidden."""
    text = str(value)
    return bool(text) and "/" not in text and "\\" not in text and not text.startswith(".")


def shipped_recipe(value: str | Path) -> Path | None:
    """The shipped recipe a bare name means, or None."""
    if not is_bare_name(value):
        return None
    candidate = recipes_dir() / (str(value).removesuffix(RECIPE_SUFFIX) + RECIPE_SUFFIX)
    return candidate if candidate.is_file() else None


def resolve_recipe_path(value: str | Path, base: Path | None = None) -> Path:
    """`value` itself when that file exists (relative to `base` or the working directory),
    else the shipped recipe a bare name means, else `value` unchanged (the loader reports it)."""
    given = Path(value) if base is None else base / value
    if given.is_file():
        return given
    return shipped_recipe(value) or given


def shipped_recipe_names() -> list[str]:
    return [i.name for i in shipped_recipes()]


def _comment_summary(text: str, file_name: str) -> str:
    """The first sentence of a file's leading comment block ('# NAME.toml — ' prefix dropped)."""
    words: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        body = stripped.lstrip("#")
        if not body.strip() or body.startswith("   "):  # blank comment line or an example command
            if words:
                break
            continue
        words.append(body.strip())
    summary = " ".join(words)
    for sep in (" — ", " - ", ": "):
        if file_name and summary.startswith(file_name + sep):
            summary = summary[len(file_name) + len(sep) :]
    end = summary.find(". ")
    summary = summary[: end + 1] if end >= 0 else summary
    return summary[:1].upper() + summary[1:]
