"""A recipe's [bcd] and [pxe] tables as PxeRequest fields, for `pebuild make --pxe` and `pebuild pxe --recipe`.

One reading of the recipe for both verbs, so a tree written by `pebuild pxe
--recipe R` matches the one `pebuild make --recipe R --pxe DIR` writes: every
store gets the whole [bcd] table (issue 13: only `description` used to reach
the PXE stores) and dnsmasq.conf the [pxe] table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def recipe_fields(recipe: Any) -> dict[str, Any]:
    """PxeRequest keyword arguments from a loaded pebuild.recipe.Recipe (unset sizes left out)."""
    bcd, pxe = recipe.settings.bcd, recipe.settings.pxe
    fields: dict[str, Any] = {
        "prompt": pxe.prompt,
        "description": bcd.description,
        "bcd": bcd.preset_options(),
        "dhcp_mode": pxe.dhcp_mode,
        "dhcp_range": pxe.dhcp_range,
        "interface": pxe.interface,
        "server_address": pxe.server_address,
        "menu_text": pxe.menu_text,
    }
    for name in ("block_size", "window_size"):
        if getattr(pxe, name) is not None:
            fields[name] = getattr(pxe, name)
    return fields


def load_recipe_fields(path: str | Path, profile: str | None = None) -> dict[str, Any]:
    """Load the recipe file (RecipeError with file:line when it is bad) and return its PXE fields."""
    from pebuild.recipe import load_recipe

    return recipe_fields(load_recipe(path, profile=profile))
