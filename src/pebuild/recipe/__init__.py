"""TOML recipes: settings declared once (model.py), loaded and checked with file:line (loader.py)."""

from pebuild.recipe.loader import Location, Recipe, load_recipe, servicing_sections
from pebuild.recipe.model import (
    ARCHES,
    BcdSettings,
    FileAdd,
    FileRename,
    FileSettings,
    ImageSettings,
    LaunchApp,
    MediaSettings,
    PxeSettings,
    RecipeSettings,
    StartupSettings,
    WimscriptSettings,
    walk_settings,
)
from pebuild.recipe.shipped import ShippedItem, catalog, find_shipped, overlays_dir, recipes_dir

__all__ = [
    "ARCHES",
    "BcdSettings",
    "FileAdd",
    "FileRename",
    "FileSettings",
    "ImageSettings",
    "LaunchApp",
    "Location",
    "MediaSettings",
    "PxeSettings",
    "Recipe",
    "RecipeSettings",
    "ShippedItem",
    "StartupSettings",
    "WimscriptSettings",
    "catalog",
    "find_shipped",
    "load_recipe",
    "overlays_dir",
    "recipes_dir",
    "servicing_sections",
    "walk_settings",
]
