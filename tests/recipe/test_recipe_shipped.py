"""Shipped recipes and overlays: one source of truth, found by name from any working directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from _helpers import REPO_ROOT
from pebuild import shipped
from pebuild.errors import RecipeError, UsageError
from pebuild.make.overlay import load_overlay
from pebuild.recipe import catalog, find_shipped, load_recipe, overlays_dir, recipes_dir

RECIPES = {"capture", "deploy", "rescue", "smoke"}
OVERLAYS = {"imagex", "msxml", "servicing", "wimscript"}


def test_top_level_folders_are_links_to_the_package_folders() -> None:
    """The design card's recipes/ and overlays/ cannot drift: they are the package folders."""
    package = REPO_ROOT / "src" / "pebuild" / "shipped"
    for name in ("recipes", "overlays"):
        top = REPO_ROOT / name
        assert top.is_symlink(), f"{name}/ must be a link into src/pebuild/shipped/, not a copy"
        assert os.readlink(top) == f"src/pebuild/shipped/{name}"  # relative: works in any clone
        assert top.resolve() == (package / name).resolve()
    listed = package / shipped.DEBIAN_PACKAGES
    assert listed.is_symlink() and os.readlink(listed) == "../../../.ci/debian-packages.txt"
    assert listed.read_bytes() == (REPO_ROOT / ".ci" / "debian-packages.txt").read_bytes()


def test_package_paths_come_from_the_package() -> None:
    assert recipes_dir() == shipped.path("recipes")
    assert overlays_dir() == shipped.path("overlays")
    assert recipes_dir().parent == Path(shipped.__file__).parent


def test_catalog_lists_every_recipe_and_overlay_with_a_summary() -> None:
    items = catalog()
    assert {i.name for i in items if i.kind == "recipe"} == RECIPES
    assert {i.name for i in items if i.kind == "overlay"} == OVERLAYS
    for item in items:
        assert item.summary and "\n" not in item.summary, item
        assert item.file.is_file()
    assert find_shipped("capture").summary.startswith("The seed's capture disk")
    assert find_shipped("deploy").summary == "The seed's WDS-client deploy CD."  # 'deploy.toml — ' dropped


def test_every_shipped_recipe_and_overlay_loads() -> None:
    for name in sorted(RECIPES):
        recipe = load_recipe(name)
        assert recipe.path == recipes_dir() / f"{name}.toml"
    for name in sorted(OVERLAYS):
        overlay = load_overlay(overlays_dir() / name)
        assert overlay.entries and overlay.description == find_shipped(name).summary
        for entry in overlay.entries:
            assert entry.bundled is None or (overlay.path / entry.bundled).is_file(), entry


def test_bare_name_is_the_shipped_recipe_unless_a_file_is_there(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_recipe("capture").path == recipes_dir() / "capture.toml"
    assert load_recipe("capture.toml").path == recipes_dir() / "capture.toml"
    Path("capture.toml").write_text('[media]\nlabel = "MINE"\n')
    mine = load_recipe("capture.toml")
    assert mine.path == Path("capture.toml") and mine.settings.media.label == "MINE"
    assert load_recipe("capture").path == recipes_dir() / "capture.toml"  # no file named 'capture'
    Path("rescue").mkdir()  # a folder of that name is no recipe file: the shipped one still wins
    assert load_recipe("rescue").path == recipes_dir() / "rescue.toml"
    Path("capture").write_text('[media]\nlabel = "BARE"\n')
    assert load_recipe("capture").settings.media.label == "BARE"


def test_unknown_bare_name_names_the_shipped_recipes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RecipeError) as err:
        load_recipe("captur")
    assert "shipped: capture, deploy, rescue, smoke" in str(err.value)
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe("sub/capture.toml")  # a path is a path, never a shipped name


def test_include_falls_back_to_a_shipped_recipe(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text('include = ["rescue"]\n[media]\nlabel = "MINE"\n')
    recipe = load_recipe(tmp_path / "mine.toml")
    assert recipe.files == (recipes_dir() / "rescue.toml", tmp_path / "mine.toml")
    assert recipe.settings.bcd.description == "WinPE rescue" and recipe.settings.media.label == "MINE"
    # a copy of smoke.toml printed by `pebuild recipes show` still finds its include
    (tmp_path / "smoke.toml").write_text((recipes_dir() / "smoke.toml").read_text())
    assert load_recipe(tmp_path / "smoke.toml").files[0] == recipes_dir() / "rescue.toml"


def test_unknown_shipped_name_suggests_one() -> None:
    with pytest.raises(UsageError, match="did you mean 'wimscript'"):
        find_shipped("wimscrpt")
