"""`pebuild recipes` and `pebuild recipes show NAME`, run as a user would from an empty directory."""

from __future__ import annotations

import json
from pathlib import Path

from _helpers import assert_one_line_error
from pebuild.recipe import load_recipe, overlays_dir, recipes_dir
from pebuild.recipe.model import to_jsonable


def test_recipes_lists_one_line_each(tmp_path: Path, run_pebuild) -> None:
    proc = run_pebuild("recipes", cwd=tmp_path, check=True)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("recipes (") and "overlays (" in lines[5]
    names = [line.split()[0] for line in lines if line.startswith("  ")]
    assert names == ["capture", "deploy", "rescue", "smoke", "imagex", "msxml", "servicing", "wimscript"]
    capture = next(line for line in lines if line.split()[0] == "capture")
    assert "The seed's capture disk" in capture


def test_recipes_json(tmp_path: Path, run_pebuild) -> None:
    data = json.loads(run_pebuild("recipes", "--json", cwd=tmp_path, check=True).stdout)
    assert [(d["kind"], d["name"]) for d in data][:2] == [("recipe", "capture"), ("recipe", "deploy")]
    assert all(Path(d["path"]).exists() and d["summary"] for d in data)


def test_show_prints_a_copy_that_builds_the_same(tmp_path: Path, run_pebuild) -> None:
    proc = run_pebuild("recipes", "show", "capture", cwd=tmp_path, check=True)
    assert proc.stdout == (recipes_dir() / "capture.toml").read_text()
    copy = tmp_path / "my-capture.toml"
    copy.write_text(proc.stdout)
    mine, shipped = load_recipe(copy), load_recipe("capture")
    assert to_jsonable(mine.settings) == to_jsonable(shipped.settings)
    assert mine.sha256 == shipped.sha256


def test_show_an_overlay_and_its_path(tmp_path: Path, run_pebuild) -> None:
    proc = run_pebuild("recipes", "show", "wimscript", cwd=tmp_path, check=True)
    assert proc.stdout == (overlays_dir() / "wimscript" / "overlay.toml").read_text()
    proc = run_pebuild("recipes", "show", "wimscript", "--path", cwd=tmp_path, check=True)
    assert Path(proc.stdout.strip()) == overlays_dir() / "wimscript"
    assert (Path(proc.stdout.strip()) / "files" / "wimscript.ini.j2").is_file()


def test_show_unknown_is_one_line(tmp_path: Path, run_pebuild) -> None:
    proc = run_pebuild("recipes", "show", "rescu", cwd=tmp_path)
    assert_one_line_error(proc, expected_code=2)
    assert "did you mean 'rescue'?" in proc.stderr


def test_make_with_an_unknown_bare_recipe_names_the_shipped_ones(tmp_path: Path, run_pebuild) -> None:
    proc = run_pebuild(
        "make", "amd64", "--recipe", "captur", "--source", "sample", "-o", "x.iso", cwd=tmp_path
    )
    assert_one_line_error(proc, expected_code=3)
    assert "shipped: capture, deploy, rescue, smoke" in proc.stderr
    assert not (tmp_path / "x.iso").exists()
